/* imsec: one command, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/version.h"

/* Keep in step with the README's table. */
const cli_cmd cli_commands[] = {
    {"pcscf", "run a P-CSCF (TLS towards UEs, routes to home S-CSCFs)",
     imsec_cmd_pcscf, 1},
    {"scscf", "run an S-CSCF registrar with its embedded HSS", imsec_cmd_scscf,
     1},
    {"hss", "manage the HSS subscriber store", imsec_cmd_hss, 1},
    {"ue", "register a UE over TLS from an ISIM profile", imsec_cmd_ue, 1},
    {"pki", "make a trust-domain PKI (root, operator CAs, certificates)",
     imsec_cmd_pki, 1},
    {"isim", "derive IMS identities, write and check ISIM profiles",
     imsec_cmd_isim, 1},
    {"trust", "decide whether a P-CSCF may act for the home network",
     imsec_cmd_trust, 1},
    {"aka", "Milenage and Digest AKA calculator", imsec_cmd_aka, 1},
    {"sip", "check and dump SIP messages", imsec_cmd_sip, 1},
    {"demo", "run home and roaming registration on loopback", imsec_cmd_demo,
     1},
    {"bench", "load generator", imsec_cmd_bench, 1},
    {NULL, NULL, NULL, 0},
};

static void print_help(FILE *out) {
  fprintf(out, "usage: imsec <subcommand> [options]\n"
               "       imsec <subcommand> --help\n"
               "       imsec version\n"
               "\n"
               "TLS-based access security for the IMS.\n"
               "\n"
               "subcommands:\n");
  for (const cli_cmd *c = cli_commands; c->name; c++)
    fprintf(out, "  %-8s %s%s\n", c->name, c->summary,
            c->planned ? " (planned)" : "");
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
  for (const cli_cmd *c = cli_commands; c->name; c++) {
    if (strcmp(sub, c->name) == 0)
      return c->run(argc - 1, argv + 1);
  }
  if (sub[0] == '-')
    fprintf(stderr, "imsec: unknown option '%s'\n\n", sub);
  else
    fprintf(stderr, "imsec: unknown subcommand '%s'\n\n", sub);
  print_help(stderr);
  return CLI_EXIT_USAGE;
}
