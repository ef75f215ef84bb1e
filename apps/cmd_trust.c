#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec trust ...\n"
                           "\n"
                           "Decide whether a P-CSCF certificate and realm may "
                           "act for the home network.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_trust = {
    .name = "trust",
    .summary = "decide whether a P-CSCF may act for the home network",
    .run = run,
    .planned = 1,
};
