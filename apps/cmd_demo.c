#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec demo ...\n"
    "\n"
    "Run the whole system on loopback: home and roaming registration.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_demo(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
