/* imsec isim: derive identities, write and check ISIM profiles. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/crypto.h"
#include "imsec/ident.h"
#include "imsec/isim.h"
#include "imsec/crypto_ossl.h"

#define SUB "isim"

static const char help[] =
    "usage: imsec isim derive --imsi IMSI --mnc-len 2|3\n"
    "       imsec isim new --imsi IMSI --mnc-len 2|3 --trust-domain D\n"
    "                      --anchors ROOT.pem --home-ca CA.pem\n"
    "                      [--partner CA.pem ...] [--policy P] --out FILE\n"
    "                      [--force]\n"
    "       imsec isim check FILE\n"
    "\n"
    "derive: the home network domain name, IMPI and temporary IMPU of an\n"
    "  IMSI (TS 23.003 clause 13), printed as home_domain=, impi=, impu=.\n"
    "new: write an ISIM profile (YAML, mode 0600) with a fresh random K and\n"
    "  OPc, AMF 8000 and SQN 0, the derived identities, and the trust\n"
    "  configuration: trust anchors, the home operator's CA, roaming\n"
    "  partners' CAs, the policy (trust-domain or strict-home).\n"
    "check: print every violation of the clause 8.1 naming rule (the\n"
    "  domains of the IMPI, every IMPU and the home network domain name lie\n"
    "  within the IMS trust domain) and every inconsistency; exit 0 when\n"
    "  clean, 1 otherwise, 2 when the file cannot be read.\n";

static int parse_mnc_len(const char *v, unsigned *out) {
  if (!v)
    return cli_usage(SUB, "--mnc-len is required (2 or 3)");
  if (strcmp(v, "2") == 0)
    *out = 2;
  else if (strcmp(v, "3") == 0)
    *out = 3;
  else
    return cli_usage(SUB, "--mnc-len must be 2 or 3, not '%s'", v);
  return 0;
}

static int derive(const char *imsi, const char *mnc_len_s,
                  imsec_ident_derived *d) {
  unsigned mnc_len = 0;
  if (!imsi)
    return cli_usage(SUB, "--imsi is required");
  int rv = parse_mnc_len(mnc_len_s, &mnc_len);
  if (rv)
    return rv;
  if (imsec_ident_from_imsi(imsec_str_c(imsi), mnc_len, d) != 0)
    return cli_usage(SUB,
                     "--imsi '%s' is not an IMSI (6 to 15 digits: MCC, MNC, "
                     "MSIN)",
                     imsi);
  return 0;
}

static int cmd_derive(int argc, char **argv) {
  const char *imsi = NULL, *mnc_len = NULL;
  for (int i = 2; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--imsi") == 0)
      slot = &imsi;
    else if (strcmp(argv[i], "--mnc-len") == 0)
      slot = &mnc_len;
    else
      return cli_usage(SUB, "unknown option '%s'", argv[i]);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", argv[i]);
    *slot = argv[++i];
  }
  imsec_ident_derived d;
  int rv = derive(imsi, mnc_len, &d);
  if (rv)
    return rv;
  printf("home_domain=%s\nimpi=%s\nimpu=%s\n", d.home_domain, d.impi, d.impu);
  return CLI_EXIT_OK;
}

static char *abs_path(const char *opt, const char *path) {
  char *r = realpath(path, NULL);
  if (!r)
    cli_fail(CLI_EXIT_USAGE, SUB, "%s %s: no such file", opt, path);
  return r;
}

static void print_finding(void *ctx, const char *kind, const char *line) {
  FILE *f = ctx;
  fprintf(f, "%s: %s\n", kind, line);
}

static int cmd_new(int argc, char **argv) {
  const char *imsi = NULL, *mnc_len = NULL, *td = NULL, *anchors = NULL,
             *home_ca = NULL, *out = NULL, *policy = NULL;
  const char *partners[IMSEC_ISIM_MAX_LIST];
  size_t n_partners = 0;
  int force = 0;
  for (int i = 2; i < argc; i++) {
    const char **slot = NULL;
    const char *a = argv[i];
    if (strcmp(a, "--force") == 0) {
      force = 1;
      continue;
    }
    if (strcmp(a, "--imsi") == 0)
      slot = &imsi;
    else if (strcmp(a, "--mnc-len") == 0)
      slot = &mnc_len;
    else if (strcmp(a, "--trust-domain") == 0)
      slot = &td;
    else if (strcmp(a, "--anchors") == 0)
      slot = &anchors;
    else if (strcmp(a, "--home-ca") == 0)
      slot = &home_ca;
    else if (strcmp(a, "--out") == 0)
      slot = &out;
    else if (strcmp(a, "--policy") == 0)
      slot = &policy;
    else if (strcmp(a, "--partner") == 0) {
      if (n_partners == IMSEC_ISIM_MAX_LIST)
        return cli_usage(SUB, "--partner: at most %d", IMSEC_ISIM_MAX_LIST);
      slot = &partners[n_partners++];
    } else
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *slot = argv[++i];
  }
  imsec_ident_derived d;
  int rv = derive(imsi, mnc_len, &d);
  if (rv)
    return rv;
  if (!td)
    return cli_usage(SUB, "--trust-domain is required");
  if (!imsec_dns_name_valid(imsec_str_c(td)))
    return cli_usage(SUB, "--trust-domain '%s' is not a domain name", td);
  if (!anchors)
    return cli_usage(SUB, "--anchors is required");
  if (!home_ca)
    return cli_usage(SUB, "--home-ca is required");
  if (!out)
    return cli_usage(SUB, "--out is required");
  imsec_isim_profile p;
  memset(&p, 0, sizeof(p));
  if (policy && imsec_trust_policy_parse(imsec_str_c(policy), &p.policy) != 0)
    return cli_usage(SUB, "--policy must be trust-domain or strict-home");

  rv = CLI_EXIT_USAGE;
  char *impus[1] = {d.impu};
  char *anchor_list[1] = {NULL};
  char *partner_list[IMSEC_ISIM_MAX_LIST] = {NULL};
  imsec_crypto *crypto = NULL;
  p.impi = d.impi;
  p.impus = impus;
  p.n_impus = 1;
  p.home_domain = d.home_domain;
  p.trust_domain = (char *)td;
  /* Stored absolute, so the profile works from wherever it is read. */
  if (!(anchor_list[0] = abs_path("--anchors", anchors)))
    goto done;
  p.anchors = anchor_list;
  p.n_anchors = 1;
  if (!(p.home_ca = abs_path("--home-ca", home_ca)))
    goto done;
  for (size_t i = 0; i < n_partners; i++) {
    if (!(partner_list[i] = abs_path("--partner", partners[i])))
      goto done;
  }
  p.partners = partner_list;
  p.n_partners = n_partners;
  /* Fresh K and OPc from the CSPRNG behind the crypto vtable. */
  if (imsec_crypto_ossl_new(&crypto) != 0 ||
      imsec_random(crypto, p.k, sizeof(p.k)) != 0 ||
      imsec_random(crypto, p.opc, sizeof(p.opc)) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "the random number generator failed");
    goto done;
  }
  p.has_k = p.has_opc = 1;
  /* AMF 8000, as test cards commonly carry; SQN starts at zero (TS
   * 33.102 Annex C). */
  p.amf[0] = 0x80;
  p.amf[1] = 0x00;
  p.has_amf = 1;
  p.has_sqn = 1;
  int err = imsec_isim_save(&p, out, force);
  if (err == IMSEC_ERR_EXISTS) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s exists (use --force to overwrite)",
             out);
    goto done;
  }
  if (err < 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s: cannot write: %s", out,
             imsec_strerror(err));
    goto done;
  }
  /* Tell at once if the chosen trust domain breaks the naming rule. */
  imsec_isim_profile back;
  char msg[512];
  if (imsec_isim_load(out, &back, msg, sizeof(msg)) == 0) {
    size_t n = imsec_isim_check(&back, print_finding, stderr);
    if (n)
      fprintf(stderr, "imsec isim: warning: %zu finding(s) in %s\n", n, out);
    imsec_isim_free(&back);
  }
  printf("profile=%s\nimpi=%s\nimpu=%s\nhome_domain=%s\n", out, d.impi, d.impu,
         d.home_domain);
  rv = CLI_EXIT_OK;
done:
  imsec_wipe(p.k, sizeof(p.k));
  imsec_wipe(p.opc, sizeof(p.opc));
  free(anchor_list[0]);
  free(p.home_ca);
  for (size_t i = 0; i < n_partners; i++)
    free(partner_list[i]);
  imsec_crypto_del(crypto);
  return rv;
}

static int cmd_check(int argc, char **argv) {
  if (argc != 3)
    return cli_usage(SUB, "check takes one profile FILE");
  imsec_isim_profile p;
  char err[512];
  if (imsec_isim_load(argv[2], &p, err, sizeof(err)) != 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  size_t n = imsec_isim_check(&p, print_finding, stdout);
  if (n == 0)
    printf("ok: %s obeys the naming rule of TS 33.203 clause 8.1 (trust "
           "domain '%s') and is consistent\n",
           argv[2], p.trust_domain);
  imsec_isim_free(&p);
  return n ? CLI_EXIT_NO : CLI_EXIT_OK;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2)
    return cli_usage(SUB, "missing command (derive, new, check)");
  if (strcmp(argv[1], "derive") == 0)
    return cmd_derive(argc, argv);
  if (strcmp(argv[1], "new") == 0)
    return cmd_new(argc, argv);
  if (strcmp(argv[1], "check") == 0)
    return cmd_check(argc, argv);
  return cli_usage(SUB, "unknown command '%s'", argv[1]);
}

const cli_cmd imsec_cmd_isim = {
    .name = "isim",
    .summary = "derive IMS identities, write and check ISIM profiles",
    .run = run,
    .planned = 0,
};
