/* imsec pki: a trust-domain PKI on disk (DESIGN.md §6 names). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/ident.h"
#include "imsec/pki.h"

#define SUB "pki"
#define HOUR 3600
#define DAY (24 * HOUR)
#define YEAR (365 * DAY)

static const char help[] =
    "usage: imsec pki init --dir D [--trust-domain 3gppnetwork.org]\n"
    "       imsec pki operator --dir D --mcc MCC --mnc MNC\n"
    "       imsec pki pcscf --dir D --mcc MCC --mnc MNC [--host HOST]\n"
    "       imsec pki ue --dir D --mcc MCC --mnc MNC --impi IMPI [--server]\n"
    "       imsec pki node --dir D --mcc MCC --mnc MNC --host HOST "
    "[--expired]\n"
    "       imsec pki rogue --dir D --kind "
    "outside|expired|selfsigned|serveronly\n"
    "                       --host HOST [--mcc MCC --mnc MNC] [--node]\n"
    "  common options: [--rsa] [--force]\n"
    "\n"
    "Make a trust-domain PKI with the OpenSSL API: the IMS root CA (init),\n"
    "operator CAs under it, name-constrained to ims.mncMNC.mccMCC.<trust\n"
    "domain> (the roaming-agreement hierarchy of TS 33.203 Annex F), P-CSCF\n"
    "certificates (SAN dNSName and SAN URI sip:, EKU serverAuth, and\n"
    "clientAuth for dialling UEs in mode M2b) with a\n"
    "chain file leaf first, UE certificates (EKU clientAuth; --server adds\n"
    "serverAuth for mode M2b), network-element certificates for the core\n"
    "side (node: an S-CSCF or P-CSCF on Mw, TS 33.210; EKU serverAuth and\n"
    "clientAuth, SAN dNSName and URI sip:HOST, written as node-HOST.*;\n"
    "--expired: its validity ended yesterday, node-HOST-expired.*), and\n"
    "rogue certificates for tests (--node adds clientAuth, files\n"
    "rogue-node-KIND.*): 'outside' chains to the root but names a host\n"
    "outside the trust domain, 'expired' is operator-issued with its\n"
    "validity ended, 'selfsigned' chains to nothing, 'serveronly' is\n"
    "operator-issued with EKU serverAuth alone (no TLS client).\n"
    "\n"
    "Keys are EC P-256 (--rsa: RSA-2048), written with mode 0600. Nothing is\n"
    "overwritten without --force. Each command prints the files it wrote as\n"
    "cert=, key= and chain= lines. Files in D: root.crt, root.key,\n"
    "trust-domain, op-mccMCC-mncMNC.crt/.key, HOST.crt/.key/.chain.pem,\n"
    "ue-IMPI.crt/.key/.chain.pem, node-HOST.crt/.key/.chain.pem,\n"
    "rogue-KIND.crt/.key/.chain.pem.\n";

typedef struct pki_opts {
  const char *dir, *trust_domain, *mcc, *mnc, *host, *impi, *kind;
  int server, rsa, force;
  int node, expired; /* rogue --node; node --expired */
} pki_opts;

static int parse_opts(int argc, char **argv, pki_opts *o) {
  const struct {
    const char *name;
    int *on;
  } flags[] = {{"--server", &o->server},
               {"--rsa", &o->rsa},
               {"--force", &o->force},
               {"--node", &o->node},
               {"--expired", &o->expired}};
  const struct {
    const char *name;
    const char **slot;
  } values[] = {{"--dir", &o->dir},   {"--trust-domain", &o->trust_domain},
                {"--mcc", &o->mcc},   {"--mnc", &o->mnc},
                {"--host", &o->host}, {"--impi", &o->impi},
                {"--kind", &o->kind}};
  const size_t n_flags = sizeof(flags) / sizeof(flags[0]);
  const size_t n_values = sizeof(values) / sizeof(values[0]);
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    size_t k = 0;
    while (k < n_flags && strcmp(a, flags[k].name) != 0)
      k++;
    if (k < n_flags) {
      *flags[k].on = 1;
      continue;
    }
    k = 0;
    while (k < n_values && strcmp(a, values[k].name) != 0)
      k++;
    if (k == n_values)
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *values[k].slot = argv[++i];
  }
  if (!o->dir)
    return cli_usage(SUB, "%s: --dir is required", argv[1]);
  return 0;
}

static void join(char *buf, size_t cap, const char *dir, const char *name,
                 const char *ext) {
  snprintf(buf, cap, "%s/%s%s", dir, name, ext);
}

/* Refuse to overwrite any of the files (all checked before any is
 * written, so a refusal leaves nothing half done). */
static int check_free(const pki_opts *o, const char *const *paths, size_t n) {
  if (o->force)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (access(paths[i], F_OK) == 0)
      return cli_fail(CLI_EXIT_USAGE, SUB,
                      "%s exists (use --force to overwrite)", paths[i]);
  }
  return 0;
}

static int ensure_dir(const char *dir) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST)
    return 0;
  return cli_fail(CLI_EXIT_USAGE, SUB, "--dir %s: cannot create: %s", dir,
                  strerror(errno));
}

static int io_fail(const char *what, const char *path, int err) {
  return cli_fail(CLI_EXIT_USAGE, SUB, "%s %s: %s", what, path,
                  imsec_strerror(err));
}

static int read_trust_domain(const pki_opts *o, char *buf, size_t cap) {
  char path[1024];
  join(path, sizeof(path), o->dir, "trust-domain", "");
  FILE *f = fopen(path, "r");
  if (!f)
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "--dir %s: no IMS root CA here (run 'imsec pki init')",
                    o->dir);
  char *got = fgets(buf, (int)cap, f);
  fclose(f);
  if (!got)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s is empty", path);
  buf[strcspn(buf, "\r\n")] = '\0';
  if (!imsec_dns_name_valid(imsec_str_c(buf)))
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s: '%s' is not a domain name", path,
                    buf);
  return 0;
}

static int load_cred(const char *dir, const char *name, imsec_pki_cred **out) {
  char crt[1024], key[1024];
  join(crt, sizeof(crt), dir, name, ".crt");
  join(key, sizeof(key), dir, name, ".key");
  int rv = imsec_pki_cred_load(crt, key, out);
  if (rv == IMSEC_ERR_PERM)
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "%s is readable by group or others; chmod 600 it", key);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot load %s with %s: %s", crt, key,
                    imsec_strerror(rv));
  return 0;
}

/* MCC/MNC to the operator domain and the CA's file stem. */
static int operator_names(const pki_opts *o, const char *td, char *domain,
                          size_t dcap, char *stem, size_t scap) {
  if (!o->mcc || !o->mnc)
    return cli_usage(SUB, "--mcc and --mnc are required");
  int n = imsec_ident_operator_domain(imsec_str_c(o->mcc), imsec_str_c(o->mnc),
                                      imsec_str_c(td), domain, dcap);
  if (n < 0)
    return cli_usage(SUB, "--mcc must be 3 digits and --mnc 2 or 3 digits");
  snprintf(stem, scap, "op-mcc%s-mnc%s%s", o->mcc,
           strlen(o->mnc) == 2 ? "0" : "", o->mnc);
  return 0;
}

/* Write a credential: cert, key and (when chain is given) the chain. */
static int write_out(const pki_opts *o, const char *stem,
                     const imsec_pki_cred *leaf,
                     const imsec_pki_cred *const *chain, size_t n_chain) {
  char crt[1024], key[1024], chn[1024];
  join(crt, sizeof(crt), o->dir, stem, ".crt");
  join(key, sizeof(key), o->dir, stem, ".key");
  join(chn, sizeof(chn), o->dir, stem, ".chain.pem");
  const char *paths[] = {crt, key, chn};
  if (ensure_dir(o->dir))
    return CLI_EXIT_USAGE;
  if (check_free(o, paths, n_chain ? 3 : 2))
    return CLI_EXIT_USAGE;
  int rv = imsec_pki_write_key(leaf, key, o->force);
  if (rv < 0)
    return io_fail("cannot write", key, rv);
  const imsec_pki_cred *one[] = {leaf};
  rv = imsec_pki_write_certs(crt, one, 1, o->force);
  if (rv < 0)
    return io_fail("cannot write", crt, rv);
  if (n_chain) {
    rv = imsec_pki_write_certs(chn, chain, n_chain, o->force);
    if (rv < 0)
      return io_fail("cannot write", chn, rv);
  }
  printf("cert=%s\nkey=%s\n", crt, key);
  if (n_chain)
    printf("chain=%s\n", chn);
  return 0;
}

static int issue(const imsec_pki_spec *spec, const imsec_pki_cred *issuer,
                 imsec_pki_cred **out) {
  int rv = imsec_pki_issue(spec, issuer, out);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot issue the certificate: %s",
                    imsec_strerror(rv));
  return 0;
}

static int cmd_init(const pki_opts *o, int64_t now) {
  const char *td = o->trust_domain ? o->trust_domain : IMSEC_3GPP_DOMAIN;
  if (!imsec_dns_name_valid(imsec_str_c(td)))
    return cli_usage(SUB, "--trust-domain '%s' is not a domain name", td);
  char tdpath[1024], crt[1024], key[1024];
  join(tdpath, sizeof(tdpath), o->dir, "trust-domain", "");
  join(crt, sizeof(crt), o->dir, "root", ".crt");
  join(key, sizeof(key), o->dir, "root", ".key");
  const char *paths[] = {crt, key, tdpath};
  if (ensure_dir(o->dir) || check_free(o, paths, 3))
    return CLI_EXIT_USAGE;
  char cn[300];
  snprintf(cn, sizeof(cn), "IMS root CA %s", td);
  imsec_pki_spec s = {.key = o->rsa ? IMSEC_PKI_KEY_RSA2048
                                    : IMSEC_PKI_KEY_EC_P256,
                      .cn = cn,
                      .org = td,
                      .ca = 1,
                      .path_len = 1,
                      .not_before = now - HOUR,
                      .not_after = now + 10 * YEAR};
  imsec_pki_cred *root = NULL;
  if (issue(&s, NULL, &root))
    return CLI_EXIT_USAGE;
  int rv = write_out(o, "root", root, NULL, 0);
  imsec_pki_cred_del(root);
  if (rv)
    return rv;
  FILE *f = fopen(tdpath, "w");
  if (!f || fprintf(f, "%s\n", td) < 0 || fclose(f) != 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot write %s", tdpath);
  return 0;
}

static int cmd_operator(const pki_opts *o, int64_t now) {
  char td[300], domain[300], stem[64];
  if (read_trust_domain(o, td, sizeof(td)) ||
      operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
    return CLI_EXIT_USAGE;
  imsec_pki_cred *root = NULL;
  if (load_cred(o->dir, "root", &root))
    return CLI_EXIT_USAGE;
  char org[64];
  snprintf(org, sizeof(org), "IMS operator MCC %s MNC %s", o->mcc, o->mnc);
  /* RFC 5280 §4.2.1.10: the operator may certify names in its own domain
   * only, so a roaming partner cannot speak for the home network. */
  const char *perm[] = {domain};
  imsec_pki_spec s = {.key = o->rsa ? IMSEC_PKI_KEY_RSA2048
                                    : IMSEC_PKI_KEY_EC_P256,
                      .cn = domain,
                      .org = org,
                      .ca = 1,
                      .path_len = 0,
                      .permitted = perm,
                      .n_permitted = 1,
                      .not_before = now - HOUR,
                      .not_after = now + 5 * YEAR};
  imsec_pki_cred *ca = NULL;
  int rv = issue(&s, root, &ca);
  if (!rv)
    rv = write_out(o, stem, ca, NULL, 0);
  imsec_pki_cred_del(ca);
  imsec_pki_cred_del(root);
  return rv;
}

/* A leaf under operator CA `stem`, written with chain leaf, CA. */
static int leaf_under_operator(const pki_opts *o, const char *stem,
                               const char *out_stem, imsec_pki_spec *s) {
  imsec_pki_cred *ca = NULL;
  if (load_cred(o->dir, stem, &ca))
    return CLI_EXIT_USAGE;
  imsec_pki_cred *leaf = NULL;
  int rv = issue(s, ca, &leaf);
  if (!rv) {
    const imsec_pki_cred *chain[] = {leaf, ca};
    rv = write_out(o, out_stem, leaf, chain, 2);
  }
  imsec_pki_cred_del(leaf);
  imsec_pki_cred_del(ca);
  return rv;
}

/* The names of a SIP element's certificate, kept alive for its spec. */
typedef struct host_names {
  char uri[330];
  const char *dns[1], *uris[1];
} host_names;

/* The leaf of a SIP element `host`: RFC 5922 §7.1 / TS 33.310, the SIP
 * domain as SAN URI and dNSName; a TLS server, and a TLS client too when
 * `client_auth` (a core network element, TS 33.310 §6.1.3c). */
static imsec_pki_spec host_spec(const pki_opts *o, const char *host,
                                const char *org, int client_auth,
                                host_names *hn, int64_t now) {
  snprintf(hn->uri, sizeof(hn->uri), "sip:%s", host);
  hn->dns[0] = host;
  hn->uris[0] = hn->uri;
  imsec_pki_spec s = {.key = o->rsa ? IMSEC_PKI_KEY_RSA2048
                                    : IMSEC_PKI_KEY_EC_P256,
                      .cn = host,
                      .org = org,
                      .dns = hn->dns,
                      .n_dns = 1,
                      .uris = hn->uris,
                      .n_uris = 1,
                      .server_auth = 1,
                      .client_auth = client_auth,
                      .not_before = now - HOUR,
                      .not_after = now + YEAR};
  return s;
}

/* A host name (no wildcard: not a DNS label character) inside the
 * operator domain. The operator CA's name constraint would make any other
 * certificate worthless; say so now rather than at the peer's handshake. */
static int check_host(const char *host, const char *domain) {
  if (!imsec_dns_name_valid(imsec_str_c(host)))
    return cli_usage(SUB, "--host '%s' is not a host name", host);
  if (!imsec_dns_name_within(imsec_str_c(host), imsec_str_c(domain)))
    return cli_usage(SUB,
                     "--host '%s' lies outside the operator domain '%s' "
                     "(its CA is name-constrained to it)",
                     host, domain);
  return 0;
}

static int cmd_pcscf(const pki_opts *o, int64_t now) {
  char td[300], domain[300], stem[64], host[320];
  if (read_trust_domain(o, td, sizeof(td)) ||
      operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
    return CLI_EXIT_USAGE;
  snprintf(host, sizeof(host), "%s", o->host ? o->host : "");
  if (!o->host)
    snprintf(host, sizeof(host), "pcscf.%s", domain);
  int rv = check_host(host, domain);
  if (rv)
    return rv;
  host_names hn;
  /* EKU clientAuth too: in mode M2b the P-CSCF opens TLS towards the UE
   * with this certificate (TS 33.310 §6.1.3c). */
  imsec_pki_spec s = host_spec(o, host, domain, 1, &hn, now);
  return leaf_under_operator(o, stem, host, &s);
}

/* A network element of the core side (TS 33.210 Za/Zb, certificate profile
 * TS 33.310 §6.1.3c): it is a TLS server and a TLS client on Mw. */
static int cmd_node(const pki_opts *o, int64_t now) {
  char td[300], domain[300], stem[64], out_stem[320];
  if (read_trust_domain(o, td, sizeof(td)) ||
      operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
    return CLI_EXIT_USAGE;
  if (!o->host)
    return cli_usage(SUB, "node: --host is required");
  int rv = check_host(o->host, domain);
  if (rv)
    return rv;
  /* node-HOST: a P-CSCF has an access certificate (HOST.*, `pki pcscf`)
   * and a core one under the same host name. */
  snprintf(out_stem, sizeof(out_stem), "node-%s%s", o->host,
           o->expired ? "-expired" : "");
  host_names hn;
  imsec_pki_spec s = host_spec(o, o->host, domain, 1, &hn, now);
  if (o->expired) {
    s.not_before = now - 30 * DAY;
    s.not_after = now - DAY;
  }
  return leaf_under_operator(o, stem, out_stem, &s);
}

static int cmd_ue(const pki_opts *o, int64_t now) {
  char td[300], domain[300], stem[64], uri[310], out_stem[300];
  if (read_trust_domain(o, td, sizeof(td)) ||
      operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
    return CLI_EXIT_USAGE;
  imsec_impi impi;
  if (!o->impi)
    return cli_usage(SUB, "ue: --impi is required");
  if (imsec_impi_parse(imsec_str_c(o->impi), &impi) != 0 ||
      strchr(o->impi, '/'))
    return cli_usage(SUB, "--impi '%s' is not a NAI user@realm", o->impi);
  if (!imsec_dns_name_within(impi.realm, imsec_str_c(domain)))
    return cli_usage(SUB, "--impi realm lies outside the operator domain '%s'",
                     domain);
  snprintf(uri, sizeof(uri), "sip:%s", o->impi);
  snprintf(out_stem, sizeof(out_stem), "ue-%s", o->impi);
  const char *uris[] = {uri};
  imsec_pki_spec s = {.key = o->rsa ? IMSEC_PKI_KEY_RSA2048
                                    : IMSEC_PKI_KEY_EC_P256,
                      .cn = o->impi,
                      .org = domain,
                      .uris = uris,
                      .n_uris = 1,
                      .client_auth = 1,
                      .server_auth = o->server,
                      .not_before = now - HOUR,
                      .not_after = now + YEAR};
  return leaf_under_operator(o, stem, out_stem, &s);
}

static int cmd_rogue(const pki_opts *o, int64_t now) {
  char td[300], out_stem[64];
  if (!o->kind)
    return cli_usage(SUB, "rogue: --kind outside|expired|selfsigned|"
                          "serveronly is "
                          "required");
  if (!o->host)
    return cli_usage(SUB, "rogue: --host is required");
  if (!imsec_dns_name_valid(imsec_str_c(o->host)))
    return cli_usage(SUB, "--host '%s' is not a host name", o->host);
  if (read_trust_domain(o, td, sizeof(td)))
    return CLI_EXIT_USAGE;
  host_names hn;
  imsec_pki_spec s = host_spec(o, o->host, "rogue", o->node, &hn, now);
  snprintf(out_stem, sizeof(out_stem), "rogue-%s%s", o->node ? "node-" : "",
           o->kind);
  if (strcmp(o->kind, "outside") == 0) {
    /* Valid under the root, but outside the trust domain (Annex F). */
    if (imsec_dns_name_within(imsec_str_c(o->host), imsec_str_c(td)))
      return cli_usage(SUB,
                       "--kind outside: --host '%s' lies inside the trust "
                       "domain '%s'",
                       o->host, td);
    imsec_pki_cred *root = NULL, *leaf = NULL;
    if (load_cred(o->dir, "root", &root))
      return CLI_EXIT_USAGE;
    int rv = issue(&s, root, &leaf);
    if (!rv) {
      const imsec_pki_cred *chain[] = {leaf};
      rv = write_out(o, out_stem, leaf, chain, 1);
    }
    imsec_pki_cred_del(leaf);
    imsec_pki_cred_del(root);
    return rv;
  }
  if (strcmp(o->kind, "expired") == 0) {
    char domain[300], stem[64];
    if (operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
      return CLI_EXIT_USAGE;
    /* Inside the operator's name constraint, so the only fault is time. */
    if (!imsec_dns_name_within(imsec_str_c(o->host), imsec_str_c(domain)))
      return cli_usage(SUB,
                       "--kind expired: --host '%s' must lie in the operator "
                       "domain '%s'",
                       o->host, domain);
    s.not_before = now - 30 * DAY;
    s.not_after = now - DAY;
    return leaf_under_operator(o, stem, out_stem, &s);
  }
  if (strcmp(o->kind, "serveronly") == 0) {
    /* A good operator certificate that is a TLS server only (EKU
     * serverAuth, no clientAuth): what a core peer must not present as a
     * client (TS 33.310 §6.1.3c). */
    char domain[300], stem[64];
    if (o->node)
      return cli_usage(SUB, "--kind serveronly: --node adds clientAuth");
    if (operator_names(o, td, domain, sizeof(domain), stem, sizeof(stem)))
      return CLI_EXIT_USAGE;
    if (!imsec_dns_name_within(imsec_str_c(o->host), imsec_str_c(domain)))
      return cli_usage(SUB,
                       "--kind serveronly: --host '%s' must lie in the "
                       "operator domain '%s'",
                       o->host, domain);
    return leaf_under_operator(o, stem, out_stem, &s);
  }
  if (strcmp(o->kind, "selfsigned") == 0) {
    imsec_pki_cred *leaf = NULL;
    int rv = issue(&s, NULL, &leaf);
    if (!rv) {
      const imsec_pki_cred *chain[] = {leaf};
      rv = write_out(o, out_stem, leaf, chain, 1);
    }
    imsec_pki_cred_del(leaf);
    return rv;
  }
  return cli_usage(SUB,
                   "--kind must be outside, expired, selfsigned or "
                   "serveronly, not "
                   "'%s'",
                   o->kind);
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2)
    return cli_usage(SUB, "missing command (init, operator, pcscf, ue, "
                          "node, rogue)");
  const char *verb = argv[1];
  int (*fn)(const pki_opts *, int64_t) = NULL;
  if (strcmp(verb, "init") == 0)
    fn = cmd_init;
  else if (strcmp(verb, "operator") == 0)
    fn = cmd_operator;
  else if (strcmp(verb, "pcscf") == 0)
    fn = cmd_pcscf;
  else if (strcmp(verb, "ue") == 0)
    fn = cmd_ue;
  else if (strcmp(verb, "node") == 0)
    fn = cmd_node;
  else if (strcmp(verb, "rogue") == 0)
    fn = cmd_rogue;
  else
    return cli_usage(SUB, "unknown command '%s'", verb);
  pki_opts o = {0};
  int rv = parse_opts(argc, argv, &o);
  if (rv)
    return rv;
  return fn(&o, (int64_t)time(NULL));
}

const cli_cmd imsec_cmd_pki = {
    .name = "pki",
    .summary = "make a trust-domain PKI (root, operator CAs, certificates)",
    .run = run,
    .planned = 0,
};
