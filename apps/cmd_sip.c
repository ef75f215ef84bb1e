#include "cli.h"
#include "cmds.h"

static const char help[] = "usage: imsec sip ...\n"
                           "\n"
                           "Check and dump SIP messages.\n"
                           "\n"
                           "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_sip(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
