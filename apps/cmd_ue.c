#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec ue ...\n"
    "\n"
    "Act as a UE: register over TLS with an ISIM profile, send MESSAGEs.\n"
    "\n"
    "Planned: this subcommand does not exist yet.\n";

static int run(int argc, char **argv) {
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_ue = {
    .name = "ue",
    .summary = "register a UE over TLS from an ISIM profile",
    .run = run,
    .planned = 1,
};
