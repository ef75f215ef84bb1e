#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec scscf ...\n"
    "\n"
    "Run an S-CSCF registrar with its embedded HSS (Digest AKA challenges).\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_scscf(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
