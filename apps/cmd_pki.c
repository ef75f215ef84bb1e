#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec pki ...\n"
                           "\n"
                           "Make a trust-domain PKI: root CA, operator CAs, "
                           "P-CSCF and UE certificates.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_pki = {
    .name = "pki",
    .summary = "make a trust-domain PKI (root, operator CAs, certificates)",
    .run = run,
    .planned = 1,
};
