#include <stdio.h>
#include <string.h>

#include "bench/provision.h"
#include "cli.h"
#include "cmds.h"

static const char help[] =
    "usage: imsec bench provision --db HSS.db --out CREDS -n N [...]\n"
    "       imsec bench ...\n"
    "\n"
    "The load generator.\n"
    "\n"
    "provision: write N subscribers into an HSS database and their UE\n"
    "credentials into one file (imsec bench provision --help).\n"
    "\n"
    "Planned: the generator itself (run, hold) does not exist yet.\n";

/* Only `provision` exists so far; everything else is still the planned
 * stub, so the subcommand stays marked planned. */
static int run(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "provision") == 0)
    return bench_provision(argc - 1, argv + 1);
  return cli_planned(argc, argv, help);
}

const cli_cmd imsec_cmd_bench = {
    .name = "bench",
    .summary = "load generator",
    .run = run,
    .planned = 1,
};
