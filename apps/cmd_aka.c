#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec aka ...\n"
    "\n"
    "Milenage and Digest AKA calculator (vectors, AUTS, resync, responses).\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_aka = {
    .name = "aka",
    .summary = "Milenage and Digest AKA calculator",
    .run = run,
    .planned = 1,
};
