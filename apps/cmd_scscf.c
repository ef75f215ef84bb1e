#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec scscf ...\n"
    "\n"
    "Run an S-CSCF registrar with its embedded HSS (Digest AKA challenges).\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_scscf = {
    .name = "scscf",
    .summary = "run an S-CSCF registrar with its embedded HSS",
    .run = run,
    .planned = 1,
};
