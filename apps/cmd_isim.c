#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec isim ...\n"
    "\n"
    "Derive IMS identities and write or check ISIM profiles.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

int imsec_cmd_isim(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}
