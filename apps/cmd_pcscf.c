#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec pcscf ...\n"
    "\n"
    "Run a P-CSCF: TLS towards UEs, routing REGISTER to the home S-CSCF.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_pcscf = {
    .name = "pcscf",
    .summary = "run a P-CSCF (TLS towards UEs, routes to home S-CSCFs)",
    .run = run,
    .planned = 1,
};
