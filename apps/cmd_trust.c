/* imsec trust check: the P-CSCF trust decision of DESIGN.md §3. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/ident.h"
#include "imsec/isim.h"
#include "imsec/trust.h"
#include "imsec/x509.h"

#define SUB "trust"

static const char help[] =
    "usage: imsec trust check --chain PEM --profile FILE --pcscf HOST\n"
    "                         --realm REALM "
    "[--policy trust-domain|strict-home]\n"
    "                         [--allow-wildcards]\n"
    "\n"
    "Decide whether a P-CSCF may act for the UE's home network. The chain\n"
    "(PEM, leaf first) is validated against the profile's trust anchors\n"
    "(RFC 5280, EKU serverAuth); its names (SAN URI sip:, SAN dNSName, the\n"
    "CN only without SAN; RFC 5922 §7) must name HOST, the P-CSCF the UE\n"
    "dialled. Then, per policy:\n"
    "  trust-domain  (TS 33.203 Annex F) HOST lies in the trust domain, the\n"
    "                chain passes through the home CA or a roaming partner's\n"
    "                CA, REALM is the home domain and lies in the trust "
    "domain\n"
    "  strict-home   (RFC 3261 §26.3.2.1) HOST lies in the home domain, the\n"
    "                chain passes through the home CA, REALM is the home "
    "domain\n"
    "The policy defaults to the profile's (else trust-domain).\n"
    "--allow-wildcards lets a certificate name \"*.REST\" match one label\n"
    "of HOST; without it no wildcard matches (RFC 5922 §7.2).\n"
    "\n"
    "Prints decision=trusted|rejected, reason=CODE, why=SENTENCE, and\n"
    "partner=NAME for a roaming partner. Exit 0 trusted, 1 rejected, 2 usage\n"
    "or input error.\n";

static int cmd_check(int argc, char **argv) {
  const char *chain_path = NULL, *profile = NULL, *host = NULL, *realm = NULL,
             *policy = NULL;
  int wild = 0;
  for (int i = 2; i < argc; i++) {
    const char **slot = NULL;
    const char *a = argv[i];
    if (strcmp(a, "--allow-wildcards") == 0) {
      wild = 1;
      continue;
    }
    if (strcmp(a, "--chain") == 0)
      slot = &chain_path;
    else if (strcmp(a, "--profile") == 0)
      slot = &profile;
    else if (strcmp(a, "--pcscf") == 0)
      slot = &host;
    else if (strcmp(a, "--realm") == 0)
      slot = &realm;
    else if (strcmp(a, "--policy") == 0)
      slot = &policy;
    else
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *slot = argv[++i];
  }
  if (!chain_path)
    return cli_usage(SUB, "--chain is required");
  if (!profile)
    return cli_usage(SUB, "--profile is required");
  if (!host)
    return cli_usage(SUB, "--pcscf is required");
  if (!realm)
    return cli_usage(SUB, "--realm is required");
  if (!imsec_dns_name_valid(imsec_str_c(host)))
    return cli_usage(SUB, "--pcscf '%s' is not a host name", host);
  imsec_trust_policy pol = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  if (policy && imsec_trust_policy_parse(imsec_str_c(policy), &pol) != 0)
    return cli_usage(SUB, "--policy must be trust-domain or strict-home");

  imsec_isim_profile p;
  char err[512];
  if (imsec_isim_load(profile, &p, err, sizeof(err)) != 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--profile %s", err);
  int rv = CLI_EXIT_USAGE;
  imsec_x509_anchors *anchors = NULL;
  imsec_x509_chain chain = {NULL, 0};
  if (!p.trust_domain || !p.home_domain || !p.home_ca || p.n_anchors == 0) {
    cli_fail(CLI_EXIT_USAGE, SUB,
             "--profile %s lacks %s (see 'imsec isim check')", profile,
             !p.trust_domain  ? "trust_domain"
             : !p.home_domain ? "home_domain"
             : !p.home_ca     ? "home_ca"
                              : "anchors");
    goto done;
  }
  if (!policy && p.has_policy)
    pol = p.policy;
  if (imsec_isim_anchors(&p, &anchors, err, sizeof(err)) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--profile %s", err);
    goto done;
  }
  int e = imsec_x509_chain_load_pem(chain_path, &chain);
  if (e < 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--chain %s: %s", chain_path,
             e == IMSEC_ERR_PARSE ? "no PEM certificate in it"
                                  : imsec_strerror(e));
    goto done;
  }
  static imsec_trust_cert cert;
  if (imsec_x509_check(anchors, chain.certs, chain.n, -1, &cert) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "certificate validation failed to run");
    goto done;
  }
  imsec_trust_input in = {.cert = &cert,
                          .pcscf_host = imsec_str_c(host),
                          .realm = imsec_str_c(realm),
                          .trust_domain = imsec_str_c(p.trust_domain),
                          .home_domain = imsec_str_c(p.home_domain),
                          .policy = pol,
                          .allow_wildcards = wild};
  imsec_trust_result r;
  if (imsec_trust_decide(&in, &r) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "the decision failed to run");
    goto done;
  }
  printf("decision=%s\n",
         r.verdict == IMSEC_TRUST_REJECTED ? "rejected" : "trusted");
  printf("reason=%s\n", imsec_trust_reason_code(r.reason));
  if (r.verdict == IMSEC_TRUST_PARTNER)
    printf("partner=%s\n", r.partner);
  printf("policy=%s\n", imsec_trust_policy_name(pol));
  printf("why=%s\n", r.why);
  rv = r.verdict == IMSEC_TRUST_REJECTED ? CLI_EXIT_NO : CLI_EXIT_OK;
done:
  imsec_x509_chain_free(&chain);
  imsec_x509_anchors_del(anchors);
  imsec_isim_free(&p);
  return rv;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2)
    return cli_usage(SUB, "missing command (check)");
  if (strcmp(argv[1], "check") == 0)
    return cmd_check(argc, argv);
  return cli_usage(SUB, "unknown command '%s'", argv[1]);
}

const cli_cmd imsec_cmd_trust = {
    .name = "trust",
    .summary = "decide whether a P-CSCF may act for the home network",
    .run = run,
    .planned = 0,
};
