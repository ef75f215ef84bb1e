/* imsec: one command, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/version.h"

/* Keep in step with the README's table. */
static const cli_cmd *const commands[] = {
    &imsec_cmd_pcscf, &imsec_cmd_scscf, &imsec_cmd_hss,   &imsec_cmd_ue,
    &imsec_cmd_pki,   &imsec_cmd_isim,  &imsec_cmd_trust, &imsec_cmd_aka,
    &imsec_cmd_sip,   &imsec_cmd_demo,  &imsec_cmd_bench, &imsec_cmd_ctl,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(FILE *out) {
  fprintf(out, "usage: imsec <subcommand> [options]\n"
               "       imsec <subcommand> --help\n"
               "       imsec version\n"
               "\n"
               "TLS-based access security for the IMS.\n"
               "\n"
               "subcommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-8s %s%s\n", commands[i]->name, commands[i]->summary,
            commands[i]->planned ? " (planned)" : "");
  fprintf(out, "  %-8s %s\n", "version", "print the version");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
      strcmp(sub, "help") == 0) {
    print_help(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0) {
    if (argc > 2 && !cli_wants_help(argc - 1, argv + 1))
      return cli_usage("version", "unexpected argument '%s'", argv[2]);
    printf("imsec %s\n", IMSEC_VERSION_STRING);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < N_COMMANDS; i++) {
    if (strcmp(sub, commands[i]->name) == 0)
      return commands[i]->run(argc - 1, argv + 1);
  }
  if (sub[0] == '-')
    fprintf(stderr, "imsec: unknown option '%s'\n\n", sub);
  else
    fprintf(stderr, "imsec: unknown subcommand '%s'\n\n", sub);
  print_help(stderr);
  return CLI_EXIT_USAGE;
}
