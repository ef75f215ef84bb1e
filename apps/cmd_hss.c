#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec hss ...\n"
                           "\n"
                           "Manage the HSS subscriber store (add, list, del).\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_hss(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
