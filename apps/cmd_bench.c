#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec bench ...\n"
                           "\n"
                           "Run the load generator.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_bench = {
    .name = "bench",
    .summary = "load generator",
    .run = run,
    .planned = 1,
};
