#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec pki ...\n"
                           "\n"
                           "Make a trust-domain PKI: root CA, operator CAs, "
                           "P-CSCF and UE certificates.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_pki(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
