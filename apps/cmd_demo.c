#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec demo ...\n"
    "\n"
    "Run the whole system on loopback: home and roaming registration.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_demo = {
    .name = "demo",
    .summary = "run home and roaming registration on loopback",
    .run = run,
    .planned = 1,
};
