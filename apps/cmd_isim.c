#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec isim ...\n"
    "\n"
    "Derive IMS identities and write or check ISIM profiles.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_isim = {
    .name = "isim",
    .summary = "derive IMS identities, write and check ISIM profiles",
    .run = run,
    .planned = 1,
};
