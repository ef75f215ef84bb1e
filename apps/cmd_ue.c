#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec ue ...\n"
    "\n"
    "Act as a UE: register over TLS with an ISIM profile, send MESSAGEs.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_ue(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
