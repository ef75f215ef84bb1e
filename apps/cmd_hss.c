#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec hss ...\n"
                           "\n"
                           "Manage the HSS subscriber store (add, list, del).\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_hss = {
    .name = "hss",
    .summary = "manage the HSS subscriber store",
    .run = run,
    .planned = 1,
};
