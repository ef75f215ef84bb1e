#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec trust ...\n"
                           "\n"
                           "Decide whether a P-CSCF certificate and realm may "
                           "act for the home network.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_trust(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
