#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec bench ...\n"
                           "\n"
                           "Run the load generator.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_bench(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
