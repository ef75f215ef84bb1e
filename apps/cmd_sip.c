#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec sip ...\n"
                           "\n"
                           "Check and dump SIP messages.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_sip = {
    .name = "sip",
    .summary = "check and dump SIP messages",
    .run = run,
    .planned = 1,
};
