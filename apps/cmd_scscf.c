/*
 * imsec scscf: the S-CSCF daemon: lib/scscf with the SQLite HSS, run on the
 * host's net port (include/imsec/host_net.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "daemon_ops.h"
#include "hss_open.h"
#include "reload.h"
#include "imsec/host_net.h"
#include "imsec/hss.h"
#include "imsec/regdb.h"
#include "imsec/svc.h"
#include "imsec/ident.h"
#include "imsec/scscf.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss_db.h"
#include "scscf_cluster.h"

static const char help[] =
    "usage: imsec scscf --listen tls:HOST:PORT [--listen tcp:HOST:PORT]\n"
    "                   --domain DOMAIN --db FILE [-c FILE]\n"
    "                   [--registrations FILE]\n"
    "                   [--advertise tcp:HOST:PORT] [--cert CHAIN.pem\n"
    "                   --key KEY.pem] [--nonce-lifetime S]\n"
    "                   [--expires-min S] [--expires-max S]\n"
    "                   [--expires-default S] [--log-level LEVEL] [--ladder]\n"
    "                   [--max-flows-per-ip N]\n"
    "                   [--ca FILE]... [--home-ca FILE] [--partner-ca "
    "FILE]...\n"
    "                   [--trust-domain NAME] [--peer NAME]...\n"
    "                   [--insecure-core --peer-addr IP...]\n"
    "                   [--store-timeout MS] [--limit-window S]\n"
    "                   [--impi-challenges N] [--source-challenges N]\n"
    "                   [--impi-failures N] [--source-failures N]\n"
    "                   [--lockout S]\n"
    "                   [--route DOMAIN=tls:HOST:PORT[;name=NAME]]...\n"
    "                   [--timer-c-ms MS]\n"
    "                   [--digest-nonce-ms N] [--digest-username "
    "any|impi|user]\n"
    "                   [--digest-proxy-auth] [--max-digest-nonces N]\n"
    "                   [--digest-algorithms SHA-256,MD5|MD5|SHA-256]\n"
    "                   [--hss diameter:HOST:PORT --diameter-identity FQDN\n"
    "                   --diameter-realm REALM [--hss-identity FQDN]\n"
    "                   [--diameter-cert F --diameter-key F --diameter-ca F]\n"
    "                   [--hss-timeout MS]] [--alias HOST:PORT]...\n"
    "                   [--ctl-socket PATH|none] [--metrics tcp:HOST:PORT]\n"
    "                   [--log-format text|json] [--log-identities]\n"
    "                   [--drain-timeout-ms MS] [--check-config]\n"
    "\n"
    "Run an S-CSCF: the registrar and authenticator (IMS AKA, or SIP\n"
    "Digest for the subscribers the HSS says so) of the home network\n"
    "DOMAIN (also the AKA realm), with its HSS in the SQLite FILE\n"
    "(manage it with `imsec hss`), and the proxy of its users' calls and\n"
    "every other method (docs/CALLS.md): requests for a home user go to\n"
    "its registered contacts via their Path, those of a registered user for\n"
    "another domain to that domain's --route. Logs go to stderr, one line\n"
    "per event; SIGTERM and SIGINT stop it. SIGHUP reloads: the -c file\n"
    "is read again under the same flags, the certificate, key and CA files\n"
    "too; everything is checked first, then the log level, the nonce\n"
    "lifetime, the expiry bounds, the peer names and addresses, the trust\n"
    "anchors (--ca, --home-ca, --partner-ca) and the certificate are\n"
    "applied (new TLS handshakes and new peers use them; connections\n"
    "already up keep theirs). A reload that fails logs\n"
    "\"reload failed: WHY\" and keeps the running configuration; listen,\n"
    "domain, db, registrations, advertise, txn_timeout, max_txns,\n"
    "trust_domain, insecure_core, routes, timer_c_ms, hss with its\n"
    "Diameter settings, and aliases are logged as \"needs a restart\".\n"
    "\n"
    "  --listen ADDR         listen address (repeatable; port 0: any free;\n"
    "                        tcp: only with --insecure-core)\n"
    "  --domain DOMAIN       home network domain name\n"
    "  --db FILE             HSS database (imsec hss add creates it), or\n"
    "                        postgresql://USER@HOST:PORT/DB (then name\n"
    "                        --registrations)\n"
    "  --registrations FILE  registration store, SQLite, made when missing\n"
    "                        (default: DB's name with .reg.db), or\n"
    "                        redis://HOST:PORT/DB (below); registered\n"
    "                        users stay reachable across a restart\n"
    "  -c FILE               YAML config with the same keys (domain, db,\n"
    "                        listen, advertise, cert, key, nonce_lifetime,\n"
    "                        expires_min, expires_max, expires_default,\n"
    "                        txn_timeout, max_txns, max_flows_per_ip,\n"
    "                        log_level, store_timeout, limit_window,\n"
    "                        impi_challenge_limit, source_challenge_limit,\n"
    "                        impi_failure_limit, source_failure_limit,\n"
    "                        lockout, routes (a list of DOMAIN=ADDR, or a\n"
    "                        map DOMAIN: ADDR), timer_c_ms, the core-side\n"
    "                        keys and the operations keys below); flags\n"
    "                        override it, --route\n"
    "                        adds to its routes\n"
    "  --advertise ADDR      the address in Service-Route and Via (default:\n"
    "                        the first listen address)\n"
    "  --cert, --key         certificate chain and key for tls: listeners\n"
    "  --nonce-lifetime S    seconds a challenge stays valid (default 30)\n"
    "  --expires-min S       shortest registration accepted (default 60)\n"
    "  --expires-max S       longest registration granted (default 3600)\n"
    "  --expires-default S   when the REGISTER gives none (default 600)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --store-timeout MS    how long a request may wait for the HSS\n"
    "                        database while another process holds its\n"
    "                        lock, then 500 (default 250); meanwhile it is\n"
    "                        parked and the rest of the traffic goes on\n"
    "  --limit-window S      window of the flood counters (default 60)\n"
    "  --impi-challenges N   new challenges per IMPI, source and window,\n"
    "                        then 503 with Retry-After (default 10; 10 N\n"
    "                        for the IMPI over all sources)\n"
    "  --source-challenges N the same per source address (default 6000)\n"
    "  --impi-failures N     failed responses per IMPI, source and window,\n"
    "                        then the IMPI is locked for that source: 403\n"
    "                        (default 10; 10 N over all sources lock it\n"
    "                        everywhere; docs/LIMITS.md)\n"
    "  --source-failures N   failed responses per source, then 503\n"
    "                        (default 300)\n"
    "  --lockout S           how long a locked IMPI stays locked\n"
    "                        (default 300); these seven take 1..N\n"
    "  --ladder              print one line per message sent or received\n"
    "  --max-flows-per-ip N  connections accepted from one address (default\n"
    "                        64); more are refused and logged\n"
    "\n"
    "Calls (docs/CALLS.md):\n"
    "  --route DOMAIN=ADDR   the next hop (the I-CSCF or S-CSCF) of another\n"
    "                        network DOMAIN, for requests of registered\n"
    "                        users to it; repeat for more. ADDR\n"
    "                        tls:HOST:PORT[;name=NAME]: the peer's\n"
    "                        certificate must carry NAME (default HOST; an\n"
    "                        IP address needs ;name=); tcp: only with\n"
    "                        --insecure-core. Other domains: 404\n"
    "  --timer-c-ms MS       how long an INVITE branch may wait for its\n"
    "                        final response after a provisional (RFC 3261\n"
    "                        Timer C; default 180000)\n"
    "\n"
    "SIP Digest (TS 33.203 Annexes N, O; docs/DIGEST.md): a subscriber\n"
    "whose HSS record says digest (imsec hss add --scheme digest) is\n"
    "challenged with SHA-256 and MD5 (qop=auth) instead of AKA; only over\n"
    "TLS to its P-CSCF. A reload (SIGHUP) applies them, all but\n"
    "--max-digest-nonces (a restart):\n"
    "  --digest-nonce-ms N   a nonce's lifetime, then stale=true (default\n"
    "                        300000)\n"
    "  --digest-username M   the digest username a phone may send: any\n"
    "                        (default), impi (user@domain only) or user\n"
    "                        (the user part only; the IMPI is user@DOMAIN)\n"
    "  --digest-proxy-auth   challenge the other requests of SIP Digest\n"
    "                        users too (407, Proxy-Authorization), beyond\n"
    "                        the P-CSCF's TLS binding\n"
    "  --max-digest-nonces N nonces whose nc is tracked against replay\n"
    "                        (default 65536)\n"
    "  --digest-algorithms L the challenges offered, SHA-256 first (default\n"
    "                        SHA-256,MD5); MD5 alone for phones that give up\n"
    "                        on an algorithm they lack (Debian 12's baresip)\n"
    "  YAML keys: digest_nonce_ms, digest_username, digest_proxy_auth\n"
    "  (true/false), max_digest_nonces, digest_algorithms\n"
    "\n"
    "Core-side peers (TS 33.210 mutual TLS; docs/TRUST.md): a tls: listener\n"
    "requires a client certificate, and every peer, inbound or one the\n"
    "S-CSCF connects to (a Path with transport=tls), must have a chain that\n"
    "validates against --ca, EKU serverAuth and (inbound) clientAuth, and\n"
    "either a name on --peer or every name inside the trust domain with a\n"
    "path through the home CA or a --partner-ca. Others are closed with one\n"
    "log line (address, certificate name, reason); their requests get 403.\n"
    "  --ca FILE             trust anchors (PEM) for peers (repeatable);\n"
    "                        required with a tls: listener\n"
    "  --home-ca FILE        the home operator's CA (default: the issuer in\n"
    "                        the --cert chain file)\n"
    "  --partner-ca FILE     a roaming partner operator's CA (repeatable)\n"
    "  --trust-domain NAME   IMS trust domain (default: the last two labels\n"
    "                        of --domain, e.g. 3gppnetwork.org)\n"
    "  --peer NAME           a peer certificate name trusted whatever CA\n"
    "                        issued it (repeatable; its chain must validate)\n"
    "  --insecure-core       allow plain TCP on the core side (warned at\n"
    "                        start): a tcp: listener needs it, and TCP peers\n"
    "                        are accepted only from the --peer-addr list\n"
    "  --peer-addr IP        an address allowed to use plain TCP (repeatable)\n"
    "  YAML keys: ca, home_ca, partner_ca, trust_domain, peers,\n"
    "  insecure_core (true/false), peer_addrs (lists or single values)\n"
    "\n"
    "Exit status: 0 stopped cleanly, 2 usage, configuration or start-up\n"
    "error.\n";

#define SUB "scscf"
/* The most one store call may hold the loop waiting for a lock. */
#define STORE_CALL_WAIT_MS 2
/* SEQ steps reserved per durable write of an IMPI's SQN mark. */
#define SQN_RANGE 32
/* Requests queued for the store worker before it answers busy. */
#define STORE_QUEUE_MAX 8192

/* The registration store beside the HSS database: "hss.db" ->
 * "hss.reg.db", "subs" -> "subs.reg.db". malloc'd; NULL without memory. */
static char *reg_path_for(const char *db) {
  size_t n = strlen(db);
  if (n > 3 && strcmp(db + n - 3, ".db") == 0)
    n -= 3;
  char *p = malloc(n + sizeof(".reg.db"));
  if (p) {
    memcpy(p, db, n);
    memcpy(p + n, ".reg.db", sizeof(".reg.db"));
  }
  return p;
}

typedef struct opts {
  const char *domain, *db, *conf, *advertise, *cert, *key, *log_level;
  const char *registrations;
  const char *listen[IMSEC_SCSCF_MAX_LISTEN];
  size_t n_listen;
  int64_t nonce_lifetime, expires_min, expires_max, expires_default;
  int64_t max_flows_per_ip;
  int ladder;
  /* Core-side peers. */
  const char *ca[IMSEC_SCSCF_MAX_CA], *partner_ca[IMSEC_SCSCF_MAX_CA];
  size_t n_ca, n_partner_ca;
  const char *home_ca, *trust_domain;
  const char *peers[IMSEC_SCSCF_MAX_PEERS], *peer_addrs[IMSEC_SCSCF_MAX_PEERS];
  size_t n_peers, n_peer_addrs;
  int insecure_core;
  int64_t lim[7]; /* limit_opts[] values, -1 when absent */
  /* Calls: next hops of other domains (added to the file's), Timer C
   * (-1 absent). */
  imsec_scscf_route routes[IMSEC_SCSCF_MAX_ROUTES];
  size_t n_routes;
  int64_t timer_c_ms;
  /* SIP Digest (0 / NULL: absent). */
  int64_t digest_nonce_ms, max_digest_nonces;
  const char *digest_username;
  int digest_proxy_auth;
  const char *digest_algorithms;
  /* A core past one machine (apps/scscf_cluster.h). */
  scscf_cluster_opts cl;
  /* The operations options (apps/daemon_ops.h): where they are in argv,
   * applied over the -c file's keys once it is read. */
  int ops_at[32];
  size_t n_ops_at;
} opts;

/* The options take "--flag value" and "--flag=value" alike. The index of
 * argv item `a` among names[0 .. n) (its part before any '='), or n. */
static size_t flag_find(const char *a, const char *const *names, size_t n) {
  const char *eq = strchr(a, '=');
  size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
  size_t k = 0;
  while (k < n &&
         !(strlen(names[k]) == nlen && strncmp(a, names[k], nlen) == 0))
    k++;
  return k;
}

/* The value of option `flag` at argv[*i]: after its '=', or the next
 * argument (*i moves past it). 0, or the usage exit code. */
static int flag_value(int argc, char **argv, int *i, const char *flag,
                      const char **v) {
  const char *eq = strchr(argv[*i], '=');
  if (eq) {
    *v = eq + 1;
    return 0;
  }
  if (*i + 1 >= argc)
    return cli_usage(SUB, "%s needs a value", flag);
  *v = argv[++*i];
  return 0;
}

/* The core-side peer options (--ca, --home-ca, --partner-ca,
 * --trust-domain, --peer, --insecure-core, --peer-addr). Returns 1 when
 * argv[*i] was one of them (*i moved past its value), 0 when not, or a
 * usage exit code through *rv. */
static int core_opt(opts *o, int argc, char **argv, int *i, int *rv) {
  static const char *const names[] = {
      "--ca",   "--home-ca",   "--partner-ca",   "--trust-domain",
      "--peer", "--peer-addr", "--insecure-core"};
  size_t k = flag_find(argv[*i], names, sizeof(names) / sizeof(names[0]));
  if (k == sizeof(names) / sizeof(names[0]))
    return 0;
  *rv = 0;
  if (k == 6) {
    if (strchr(argv[*i], '=')) {
      *rv = cli_usage(SUB, "--insecure-core takes no value");
      return 1;
    }
    o->insecure_core = 1;
    return 1;
  }
  const char *v;
  if ((*rv = flag_value(argc, argv, i, names[k], &v)) != 0)
    return 1;
  const char **list = NULL, **one = NULL;
  size_t *n = NULL, max = 0;
  switch (k) {
  case 0:
    list = o->ca, n = &o->n_ca, max = IMSEC_SCSCF_MAX_CA;
    break;
  case 1:
    one = &o->home_ca;
    break;
  case 2:
    list = o->partner_ca, n = &o->n_partner_ca, max = IMSEC_SCSCF_MAX_CA;
    break;
  case 3:
    one = &o->trust_domain;
    break;
  case 4:
    list = o->peers, n = &o->n_peers, max = IMSEC_SCSCF_MAX_PEERS;
    break;
  default:
    list = o->peer_addrs, n = &o->n_peer_addrs, max = IMSEC_SCSCF_MAX_PEERS;
    break;
  }
  if (one) {
    if (*one)
      *rv = cli_usage(SUB, "%s given twice", names[k]);
    *one = v;
    return 1;
  }
  if (*n >= max) {
    *rv = cli_usage(SUB, "%s: at most %zu", names[k], max);
    return 1;
  }
  list[(*n)++] = v;
  return 1;
}

static int is_ip(const char *h) {
  unsigned char b[16];
  return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

/* A next hop the S-CSCF can use (TS 33.210 §5.2: TLS between networks'
 * elements; RFC 5922 §7.2: the certificate carries a name, not an
 * address). `insecure` -1: not known yet (the flags are still being read).
 * 0 or the usage exit code after one line. */
static int route_check(const imsec_scscf_route *r, int insecure) {
  if (r->addr.tp != IMSEC_TP_TCP && r->addr.tp != IMSEC_TP_TLS)
    return cli_usage(SUB, "--route %s: the next hop is reached over tcp or tls",
                     r->domain);
  if (r->addr.tp == IMSEC_TP_TLS && !r->name[0] && is_ip(r->addr.host))
    return cli_usage(SUB,
                     "--route %s: a tls: route to an IP address needs "
                     ";name=NAME (the peer's certificate name)",
                     r->domain);
  if (r->addr.tp == IMSEC_TP_TCP && insecure == 0)
    return cli_usage(SUB,
                     "--route %s=tcp:... is plain TCP to the next hop: use "
                     "tls:HOST:PORT, or add --insecure-core",
                     r->domain);
  return 0;
}

/* The call options (--route, --timer-c-ms): 1 when argv[*i] was one of
 * them (*i moved past its value; *rv a usage exit code or 0), else 0. */
static int call_opt(opts *o, int argc, char **argv, int *i, int *rv) {
  static const char *const names[] = {"--route", "--timer-c-ms"};
  size_t k = flag_find(argv[*i], names, 2);
  if (k == 2)
    return 0;
  const char *v;
  if ((*rv = flag_value(argc, argv, i, names[k], &v)) != 0)
    return 1;
  if (k == 1) {
    uint64_t x;
    if (o->timer_c_ms >= 0)
      *rv = cli_usage(SUB, "--timer-c-ms given twice");
    else if (imsec_str_to_u64(imsec_str_c(v), 3600000, &x) < 0 || x == 0)
      *rv = cli_usage(SUB, "--timer-c-ms: expected 1..3600000, got '%s'", v);
    else
      o->timer_c_ms = (int64_t)x;
    return 1;
  }
  if (o->n_routes >= IMSEC_SCSCF_MAX_ROUTES)
    *rv = cli_usage(SUB, "--route: at most %d routes", IMSEC_SCSCF_MAX_ROUTES);
  else if (imsec_scscf_route_parse(imsec_str_c(v), &o->routes[o->n_routes]) < 0)
    *rv = cli_usage(SUB, "--route '%s' is not DOMAIN=tls:HOST:PORT[;name=NAME]",
                    v);
  else
    *rv = route_check(&o->routes[o->n_routes++], -1);
  return 1;
}

/* The SIP Digest options: 1 when argv[*i] was one of them (*i moved past
 * its value; *rv a usage exit code or 0), else 0. */
static int digest_opt(opts *o, int argc, char **argv, int *i, int *rv) {
  static const char *const names[] = {
      "--digest-nonce-ms", "--max-digest-nonces", "--digest-username",
      "--digest-proxy-auth", "--digest-algorithms"};
  size_t k = flag_find(argv[*i], names, 5);
  if (k == 5)
    return 0;
  *rv = 0;
  if (k == 3) {
    if (strchr(argv[*i], '='))
      *rv = cli_usage(SUB, "--digest-proxy-auth takes no value");
    o->digest_proxy_auth = 1;
    return 1;
  }
  const char *v;
  if ((*rv = flag_value(argc, argv, i, names[k], &v)) != 0)
    return 1;
  if (k == 4) {
    unsigned algs;
    if (o->digest_algorithms)
      *rv = cli_usage(SUB, "--digest-algorithms given twice");
    else if (imsec_scscf_digest_algs_parse(imsec_str_c(v), &algs) < 0)
      *rv = cli_usage(SUB,
                      "--digest-algorithms: expected SHA-256, MD5 or "
                      "SHA-256,MD5, got '%s'",
                      v);
    o->digest_algorithms = v;
    return 1;
  }
  if (k == 2) {
    int mode;
    if (o->digest_username)
      *rv = cli_usage(SUB, "--digest-username given twice");
    else if (imsec_scscf_digest_user_parse(imsec_str_c(v), &mode) < 0)
      *rv = cli_usage(SUB,
                      "--digest-username: expected any, impi or user, "
                      "got '%s'",
                      v);
    o->digest_username = v;
    return 1;
  }
  int64_t *dst = k == 0 ? &o->digest_nonce_ms : &o->max_digest_nonces;
  uint64_t max = k == 0 ? 86400000 : 100000000, x;
  if (*dst)
    *rv = cli_usage(SUB, "%s given twice", names[k]);
  else if (imsec_str_to_u64(imsec_str_c(v), max, &x) < 0 || x == 0)
    *rv = cli_usage(SUB, "%s: expected 1..%llu, got '%s'", names[k],
                    (unsigned long long)max, v);
  else
    *dst = (int64_t)x;
  return 1;
}

/* Flood limits and the store's lock wait: the flag and its largest value
 * (milliseconds for --store-timeout, seconds for the window and the
 * lockout, counts for the rest). */
static const struct {
  const char *flag;
  int64_t max;
} limit_opts[7] = {
    {"--store-timeout", 60000},     {"--limit-window", 86400},
    {"--impi-challenges", 1000000}, {"--source-challenges", 100000000},
    {"--impi-failures", 1000000},   {"--source-failures", 100000000},
    {"--lockout", 86400 * 30},
};
enum {
  L_STORE_TIMEOUT,
  L_WINDOW,
  L_IMPI_CH,
  L_SRC_CH,
  L_IMPI_FAIL,
  L_SRC_FAIL,
  L_LOCKOUT
};

/* One of limit_opts at argv[*i]: 1 (taken, *i moved past its value), 0
 * (not one of them), or the usage exit code. */
static int limit_arg(int argc, char **argv, int *i, opts *o) {
  const char *names[sizeof(limit_opts) / sizeof(limit_opts[0])];
  const size_t nk = sizeof(names) / sizeof(names[0]);
  for (size_t k = 0; k < nk; k++)
    names[k] = limit_opts[k].flag;
  size_t k = flag_find(argv[*i], names, nk);
  if (k == nk)
    return 0;
  const char *f = names[k], *v;
  int rv = flag_value(argc, argv, i, f, &v);
  if (rv)
    return -rv;
  if (o->lim[k] >= 0)
    return -cli_usage(SUB, "%s given twice", f);
  uint64_t x;
  /* 0 would silently mean the default: refused, not guessed. */
  if (imsec_str_to_u64(imsec_str_c(v), (uint64_t)limit_opts[k].max, &x) < 0 ||
      x == 0)
    return -cli_usage(SUB, "%s: expected a whole number (1..%lld), got '%s'", f,
                      (long long)limit_opts[k].max, v);
  o->lim[k] = (int64_t)x;
  return 1;
}

static int num_opt(const char *opt, const char *v, int64_t max, int64_t *out) {
  uint64_t x;
  if (imsec_str_to_u64(imsec_str_c(v), (uint64_t)max, &x) < 0)
    return cli_usage(SUB, "%s: expected seconds (0..%lld), got '%s'", opt,
                     (long long)max, v);
  *out = (int64_t)x;
  return 0;
}

/* The per-source connection cap (net's max_flows_per_ip). */
static int max_per_ip_opt(const char *v, int64_t *out) {
  uint64_t x;
  if (imsec_str_to_u64(imsec_str_c(v), 1000000, &x) < 0 || x == 0)
    return cli_usage(SUB, "--max-flows-per-ip: expected 1..1000000, got '%s'",
                     v);
  *out = (int64_t)x;
  return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof(*o));
  o->nonce_lifetime = o->expires_min = o->expires_max = o->expires_default = -1;
  for (size_t k = 0; k < sizeof(o->lim) / sizeof(o->lim[0]); k++)
    o->lim[k] = -1;
  o->max_flows_per_ip = -1;
  o->timer_c_ms = -1;
  scscf_cluster_opts_init(&o->cl);
  for (int i = 1; i < argc; i++) {
    int lr = limit_arg(argc, argv, &i, o);
    if (lr < 0)
      return -lr;
    if (lr)
      continue;
    const char *a = argv[i];
    if (strcmp(a, "--ladder") == 0) {
      o->ladder = 1;
      continue;
    }
    daemon_ops_opts scratch;
    daemon_ops_opts_init(&scratch);
    int at = i;
    int dop = daemon_ops_arg(&scratch, SUB, argc, argv, &i);
    if (dop > 1)
      return dop;
    if (dop) {
      if (o->n_ops_at == sizeof(o->ops_at) / sizeof(o->ops_at[0]))
        return cli_usage(SUB, "too many operations options");
      o->ops_at[o->n_ops_at++] = at;
      continue;
    }
    int crv = 0;
    if (core_opt(o, argc, argv, &i, &crv) ||
        call_opt(o, argc, argv, &i, &crv) ||
        digest_opt(o, argc, argv, &i, &crv) ||
        scscf_cluster_opt(&o->cl, argc, argv, &i, &crv)) {
      if (crv)
        return crv;
      continue;
    }
    static const char *const with_value[] = {"--listen",
                                             "--domain",
                                             "--db",
                                             "-c",
                                             "--advertise",
                                             "--cert",
                                             "--key",
                                             "--log-level",
                                             "--nonce-lifetime",
                                             "--expires-min",
                                             "--expires-max",
                                             "--expires-default",
                                             "--max-flows-per-ip",
                                             "--registrations"};
    size_t nk = sizeof(with_value) / sizeof(with_value[0]);
    size_t k = flag_find(a, with_value, nk);
    if (k == nk) {
      if (a[0] == '-')
        return cli_usage(SUB, "unknown option '%.*s'", (int)strcspn(a, "="), a);
      return cli_usage(SUB, "unexpected argument '%s'", a);
    }
    const char *v;
    int rv = flag_value(argc, argv, &i, with_value[k], &v);
    if (rv)
      return rv;
    const char **slot = NULL;
    switch (k) {
    case 0:
      if (o->n_listen >= IMSEC_SCSCF_MAX_LISTEN)
        return cli_usage(SUB, "--listen: at most %d", IMSEC_SCSCF_MAX_LISTEN);
      o->listen[o->n_listen++] = v;
      continue;
    case 1:
      slot = &o->domain;
      break;
    case 2:
      slot = &o->db;
      break;
    case 3:
      slot = &o->conf;
      break;
    case 4:
      slot = &o->advertise;
      break;
    case 5:
      slot = &o->cert;
      break;
    case 6:
      slot = &o->key;
      break;
    case 7:
      slot = &o->log_level;
      break;
    case 8:
      rv = num_opt(with_value[k], v, 86400, &o->nonce_lifetime);
      break;
    case 9:
      rv = num_opt(with_value[k], v, 86400 * 365, &o->expires_min);
      break;
    case 10:
      rv = num_opt(with_value[k], v, 86400 * 365, &o->expires_max);
      break;
    case 11:
      rv = num_opt(with_value[k], v, 86400 * 365, &o->expires_default);
      break;
    case 12:
      rv = max_per_ip_opt(v, &o->max_flows_per_ip);
      break;
    default:
      slot = &o->registrations;
      break;
    }
    if (rv)
      return rv;
    if (slot) {
      if (*slot)
        return cli_usage(SUB, "%s given twice", with_value[k]);
      *slot = v;
    }
  }
  return 0;
}

/* The core-side peer settings, from flags or else the file. */
typedef struct core {
  const char *const *ca, *const *partner_ca, *const *peers, *const *addrs;
  size_t n_ca, n_partner_ca, n_peers, n_addrs;
  const char *home_ca, *trust_domain;
  int insecure, tls;
  imsec_x509_anchors *anchors; /* NULL without --ca */
  imsec_net_tls_config client; /* towards P-CSCFs with transport=tls */
  /* The --ca files after the first, NULL-terminated (more_ca_files). */
  const char *more_ca[IMSEC_SCSCF_MAX_CA];
} core;

/* The home CA by default: the certificate that issued ours, the second of
 * the --cert chain file (`imsec pki node` writes NAME.chain.pem so). */
static int home_ca_from_chain(imsec_x509_anchors *a, const char *cert) {
  imsec_x509_chain ch;
  if (!cert || imsec_x509_chain_load_pem(cert, &ch) < 0)
    return IMSEC_ERR_NOTFOUND;
  int rv = ch.n >= 2 ? imsec_x509_anchors_set_home_ca(a, ch.certs[1].p,
                                                      ch.certs[1].len)
                     : IMSEC_ERR_NOTFOUND;
  imsec_x509_chain_free(&ch);
  return rv;
}

/* Why a PEM file of the core side did not load, for the one error line:
 * the system's word when it cannot be read at all. */
static const char *pem_problem(const char *path, int e) {
  if (access(path, R_OK) != 0)
    return strerror(errno);
  return e == IMSEC_ERR_PARSE ? "no certificate in it" : imsec_strerror(e);
}

/* Check and load the core-side settings (TS 33.210 §5.2: Mw is mutual
 * TLS unless the operator explicitly opts out). Returns 0 or an exit
 * code after one line on stderr. */
static int core_pick(const opts *o, const imsec_scscf_file *f, core *c) {
#define PICK(F, FF)                                                            \
  do {                                                                         \
    c->F = o->n_##F ? o->F : (const char *const *)f->FF;                       \
    c->n_##F = o->n_##F ? o->n_##F : f->n_##FF;                                \
  } while (0)
  PICK(ca, ca);
  PICK(partner_ca, partner_ca);
  PICK(peers, peers);
#undef PICK
  c->addrs =
      o->n_peer_addrs ? o->peer_addrs : (const char *const *)f->peer_addrs;
  c->n_addrs = o->n_peer_addrs ? o->n_peer_addrs : f->n_peer_addrs;
  c->home_ca = o->home_ca ? o->home_ca : f->home_ca;
  c->trust_domain = o->trust_domain ? o->trust_domain : f->trust_domain;
  c->insecure = o->insecure_core || f->insecure_core;
  if (c->insecure && !c->n_addrs)
    return cli_usage(SUB, "--insecure-core needs --peer-addr IP (the "
                          "addresses allowed to use plain TCP)");
  for (size_t i = 0; i < c->n_addrs; i++) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, c->addrs[i], buf) != 1 &&
        inet_pton(AF_INET6, c->addrs[i], buf) != 1)
      return cli_usage(SUB, "--peer-addr: expected an IP address, got '%s'",
                       c->addrs[i]);
  }
  for (size_t i = 0; i < c->n_peers; i++)
    if (!imsec_dns_name_valid(imsec_str_c(c->peers[i])))
      return cli_usage(SUB, "--peer: '%s' is not a host name", c->peers[i]);
  if (c->trust_domain && !imsec_dns_name_valid(imsec_str_c(c->trust_domain)))
    return cli_usage(SUB, "--trust-domain: '%s' is not a domain name",
                     c->trust_domain);
  return 0;
}

/* The anchors peers are judged against: every --ca file, the home CA
 * (--home-ca, else the issuer in the --cert chain) and every --partner-ca
 * (TS 33.210 §5.2). At start and on SIGHUP. Returns 0 or an exit code
 * after one line on stderr (c->anchors then NULL). */
static int core_anchors(core *c, const char *cert) {
  c->anchors = NULL;
  if (!c->n_ca)
    return 0;
  imsec_x509_anchors *a = NULL;
  if (imsec_x509_anchors_new(&a) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
  int rv = 0;
  for (size_t i = 0; i < c->n_ca && !rv; i++) {
    int e = imsec_x509_anchors_add_root_file(a, c->ca[i]);
    if (e < 0)
      rv = cli_fail(CLI_EXIT_USAGE, SUB, "--ca %s: %s", c->ca[i],
                    pem_problem(c->ca[i], e));
  }
  if (!rv && !c->home_ca && c->tls && cert && access(cert, R_OK) != 0)
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--cert %s: %s", cert, strerror(errno));
  if (!rv) {
    int e = c->home_ca ? imsec_x509_anchors_set_home_ca_file(a, c->home_ca)
                       : home_ca_from_chain(a, cert);
    if (e < 0 && (c->home_ca || c->tls))
      rv = cli_fail(CLI_EXIT_USAGE, SUB, "--home-ca %s: %s",
                    c->home_ca ? c->home_ca : "(not given)",
                    c->home_ca ? pem_problem(c->home_ca, e)
                               : "required: the --cert file holds no "
                                 "issuer certificate");
  }
  for (size_t i = 0; i < c->n_partner_ca && !rv; i++) {
    int e = imsec_x509_anchors_add_partner_file(a, c->partner_ca[i], NULL);
    if (e < 0)
      rv = cli_fail(CLI_EXIT_USAGE, SUB, "--partner-ca %s: %s",
                    c->partner_ca[i], pem_problem(c->partner_ca[i], e));
  }
  if (rv) {
    imsec_x509_anchors_del(a);
    return rv;
  }
  c->anchors = a;
  return 0;
}

/* Check and load the core-side settings (TS 33.210 §5.2: Mw is mutual
 * TLS unless the operator explicitly opts out). Returns 0 or an exit
 * code after one line on stderr. */
static int core_setup(const opts *o, const imsec_scscf_file *f,
                      const char *cert, const char *key,
                      const imsec_hostnet_listener *ls, size_t n_listen,
                      imsec_net_tls_config *server, core *c, int warn) {
  int rv = core_pick(o, f, c);
  if (rv)
    return rv;
  for (size_t i = 0; i < n_listen; i++) {
    if (ls[i].addr.tp == IMSEC_TP_TLS)
      c->tls = 1;
    else if (!c->insecure)
      return cli_usage(SUB,
                       "--listen tcp:...: plain TCP on the core side needs "
                       "--insecure-core (peers use mutual TLS, TS 33.210)");
  }
  if (c->tls && !c->n_ca)
    return cli_usage(SUB, "a tls: listener needs --ca FILE (the trust "
                          "anchors of its peers)");
  if (c->n_ca) {
    rv = core_anchors(c, cert);
    if (rv)
      return rv;
    for (size_t i = 1; i < c->n_ca; i++)
      c->more_ca[i - 1] = c->ca[i];
    /* The listener asks every client for its certificate and fails the
     * handshake without one; the chain itself is judged by the element
     * (defer_verify), which can then log who was refused and why. */
    server->client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    server->ca_file = c->ca[0];
    server->more_ca_files = c->more_ca;
    server->defer_verify = 1;
    /* Towards P-CSCFs over TLS: our certificate, their chain judged by
     * the element too; no resumption (every connection shows its chain). */
    c->client.cert_file = cert && key ? cert : NULL;
    c->client.key_file = cert && key ? key : NULL;
    c->client.ca_file = c->ca[0];
    c->client.more_ca_files = c->more_ca;
    c->client.defer_verify = 1;
    c->client.no_resume = 1;
  }
  if (c->insecure && warn) { /* not under --check-config: one line */
    char from[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < c->n_addrs && n < sizeof(from); i++)
      n += (size_t)snprintf(from + n, sizeof(from) - n, " %s", c->addrs[i]);
    imsec_logger_printf(daemon_ops_log(), "scscf", IMSEC_LOG_WARN,
                        "--insecure-core: plain TCP accepted on the core side "
                        "from%s without authenticating the peer (TS 33.210 "
                        "protection off)",
                        from);
  }
  return 0;
}

static const char *pick(const char *flag, const char *file) {
  return flag ? flag : file;
}
static int64_t pick_n(int64_t flag, int64_t file) {
  return flag >= 0 ? flag : file;
}

/* The flood limits from the flags, else the file (0 or absent: the
 * element's defaults). */
static void set_limits(imsec_scscf_config *sc, const opts *o,
                       const imsec_scscf_file *f) {
  int64_t v;
  if ((v = pick_n(o->lim[L_WINDOW], f->limit_window)) > 0)
    sc->limit_window_ms = v * 1000;
  if ((v = pick_n(o->lim[L_IMPI_CH], f->impi_challenge_limit)) > 0)
    sc->impi_challenge_limit = (uint32_t)v;
  if ((v = pick_n(o->lim[L_SRC_CH], f->source_challenge_limit)) > 0)
    sc->source_challenge_limit = (uint32_t)v;
  if ((v = pick_n(o->lim[L_IMPI_FAIL], f->impi_failure_limit)) > 0)
    sc->impi_failure_limit = (uint32_t)v;
  if ((v = pick_n(o->lim[L_SRC_FAIL], f->source_failure_limit)) > 0)
    sc->source_failure_limit = (uint32_t)v;
  if ((v = pick_n(o->lim[L_LOCKOUT], f->lockout)) > 0)
    sc->lockout_ms = v * 1000;
}

/* The effective settings for a reload: the flags over the file, as run()
 * picks them. */
static void view_of(const opts *o, const imsec_scscf_file *f, reload_scscf *v) {
  memset(v, 0, sizeof(*v));
  v->domain = pick(o->domain, f->domain);
  v->db = pick(o->db, f->db);
  v->registrations = pick(o->registrations, f->registrations);
  v->advertise = pick(o->advertise, f->advertise);
  /* The core past one machine, picked as scscf_cluster_pick does. */
  v->hss = pick(o->cl.hss, f->hss);
  v->diameter_identity = pick(o->cl.diameter_identity, f->diameter_identity);
  v->diameter_realm = pick(o->cl.diameter_realm, f->diameter_realm);
  v->hss_identity = pick(o->cl.hss_identity, f->hss_identity);
  v->diameter_cert = pick(o->cl.diameter_cert, f->diameter_cert);
  v->diameter_key = pick(o->cl.diameter_key, f->diameter_key);
  v->diameter_ca = pick(o->cl.diameter_ca, f->diameter_ca);
  v->hss_timeout = o->cl.hss_timeout >= 0 ? o->cl.hss_timeout : f->hss_timeout;
  v->aliases =
      o->cl.n_aliases ? o->cl.aliases : (const char *const *)f->aliases;
  v->n_aliases = o->cl.n_aliases ? o->cl.n_aliases : f->n_aliases;
  v->log_level = pick(o->log_level, f->log_level);
  v->cert = pick(o->cert, f->cert);
  v->key = pick(o->key, f->key);
  v->n_listen = o->n_listen ? o->n_listen : f->n_listen;
  v->listen = o->n_listen ? o->listen : (const char *const *)f->listen;
  v->nonce_lifetime = pick_n(o->nonce_lifetime, f->nonce_lifetime);
  v->expires_min = pick_n(o->expires_min, f->expires_min);
  v->expires_max = pick_n(o->expires_max, f->expires_max);
  v->expires_default = pick_n(o->expires_default, f->expires_default);
  v->txn_timeout = f->txn_timeout;
  v->max_txns = f->max_txns;
  /* The core side, picked as core_pick does: every --ca file (the TLS
   * contexts verify against all of them), the peer lists. */
  v->ca = o->n_ca ? o->ca : (const char *const *)f->ca;
  v->n_ca = o->n_ca ? o->n_ca : f->n_ca;
  v->peers = o->n_peers ? o->peers : (const char *const *)f->peers;
  v->n_peers = o->n_peers ? o->n_peers : f->n_peers;
  v->peer_addrs =
      o->n_peer_addrs ? o->peer_addrs : (const char *const *)f->peer_addrs;
  v->n_peer_addrs = o->n_peer_addrs ? o->n_peer_addrs : f->n_peer_addrs;
  v->trust_domain = pick(o->trust_domain, f->trust_domain);
  v->insecure_core = o->insecure_core || f->insecure_core;
  v->max_flows_per_ip = pick_n(o->max_flows_per_ip, f->max_flows_per_ip);
  const int64_t fl[7] = {
      [L_STORE_TIMEOUT] = f->store_timeout,
      [L_WINDOW] = f->limit_window,
      [L_IMPI_CH] = f->impi_challenge_limit,
      [L_SRC_CH] = f->source_challenge_limit,
      [L_IMPI_FAIL] = f->impi_failure_limit,
      [L_SRC_FAIL] = f->source_failure_limit,
      [L_LOCKOUT] = f->lockout,
  };
  for (size_t k = 0; k < 7; k++)
    v->limits[k] = pick_n(o->lim[k], fl[k]);
  /* The flags' routes stay as they are: the file's may change. */
  v->routes = f->routes;
  v->n_routes = f->n_routes;
  v->timer_c_ms = pick_n(o->timer_c_ms, f->timer_c_ms);
  /* The digest numbers' flags are 0 when absent (not -1). */
  v->digest_nonce_ms =
      o->digest_nonce_ms ? o->digest_nonce_ms : f->digest_nonce_ms;
  v->max_digest_nonces =
      o->max_digest_nonces ? o->max_digest_nonces : f->max_digest_nonces;
  v->digest_username = pick(o->digest_username, f->digest_username);
  v->digest_algorithms = pick(o->digest_algorithms, f->digest_algorithms);
  v->digest_proxy_auth = o->digest_proxy_auth || f->digest_proxy_auth;
  v->ops = &f->ops;
}

/* SIGHUP: the -c file again under the same flags, applied by
 * apps/reload.c. */
typedef struct reloader {
  const opts *o;
  const reload_scscf *running;
  imsec_scscf **s; /* the element, made after the listeners are bound */
  int tls;         /* a tls: listener runs */
  imsec_x509_anchors *anchors; /* the runner's peer anchors (ours) */
} reloader;

/* A file as imsec_scscf_file_load leaves it when keys are absent. */
static void file_init(imsec_scscf_file *f) {
  memset(f, 0, sizeof(*f));
  f->nonce_lifetime = f->expires_min = f->expires_max = f->expires_default = -1;
  f->txn_timeout = f->max_txns = -1;
  f->limit_window = f->impi_challenge_limit = f->source_challenge_limit =
      f->impi_failure_limit = f->source_failure_limit = f->lockout =
          f->store_timeout = -1;
  f->max_flows_per_ip = -1;
  f->timer_c_ms = -1;
  f->hss_timeout = -1;
}

static int on_reload(void *arg, imsec_hostnet *r, char *msg, size_t cap) {
  reloader *rl = arg;
  imsec_scscf_file file;
  file_init(&file);
  if (rl->o->conf && imsec_scscf_file_load(rl->o->conf, &file, msg, cap) < 0) {
    imsec_scscf_file_free(&file);
    return IMSEC_ERR_CONFIG;
  }
  reload_scscf next;
  view_of(rl->o, &file, &next);
  /* The peer decision's inputs again (TS 33.210 §5.2): the lists
   * checked as at start, the anchors made anew from every --ca, the home
   * CA and the partner CAs. */
  core c;
  memset(&c, 0, sizeof(c));
  cli_capture(msg, cap);
  int bad = core_pick(rl->o, &file, &c);
  c.tls = rl->tls;
  if (!bad && rl->tls && !c.n_ca)
    bad = cli_usage(SUB, "a tls: listener needs --ca FILE (the trust "
                         "anchors of its peers)");
  if (!bad)
    bad = core_anchors(&c, next.cert);
  cli_capture(NULL, 0);
  if (bad) {
    imsec_scscf_file_free(&file);
    return IMSEC_ERR_CONFIG;
  }
  const imsec_x509_anchors *swap = c.anchors;
  int rv = reload_scscf_apply(r, *rl->s, rl->running, &next, &swap, msg, cap);
  if (rv == 0 && c.anchors) {
    imsec_x509_anchors_del(rl->anchors); /* swap: the previous ones */
    rl->anchors = c.anchors;
  } else {
    imsec_x509_anchors_del(c.anchors);
  }
  imsec_scscf_file_free(&file);
  return rv;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    fputs("\n", stdout);
    fputs(scscf_cluster_help, stdout);
    fputs("\nOperations:\n", stdout);
    fputs(daemon_ops_help, stdout);
    return CLI_EXIT_OK;
  }
  opts o;
  int rv = parse_args(argc, argv, &o);
  if (rv)
    return rv;
  imsec_scscf_file file;
  file_init(&file);
  if (o.conf) {
    char err[512];
    if (imsec_scscf_file_load(o.conf, &file, err, sizeof(err)) < 0)
      return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  }
  /* The operations options: the file's keys, then the flags over them. */
  daemon_ops_opts ops;
  daemon_ops_opts_init(&ops);
  if (o.conf && daemon_ops_conf(&ops, SUB, o.conf, &file.ops)) {
    imsec_scscf_file_free(&file);
    return CLI_EXIT_USAGE;
  }
  for (size_t k = 0; k < o.n_ops_at; k++) {
    int at = o.ops_at[k];
    (void)daemon_ops_arg(&ops, SUB, argc, argv, &at); /* checked above */
  }
  if (daemon_ops_logger(&ops) < 0) {
    imsec_scscf_file_free(&file);
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the logger");
  }
  const char *where = o.conf ? " (or in -c FILE)" : "";
  const char *domain = pick(o.domain, file.domain);
  const char *db = pick(o.db, file.db);
  const char *cert = pick(o.cert, file.cert);
  const char *key = pick(o.key, file.key);
  const char *adv = pick(o.advertise, file.advertise);
  const char *lvl = pick(o.log_level, file.log_level);
  size_t n_listen = o.n_listen ? o.n_listen : file.n_listen;
  const char *const *listen =
      o.n_listen ? o.listen : (const char *const *)file.listen;

  imsec_crypto *crypto = NULL;
  /* The HSS runs on the store worker's thread with a crypto backend of its
   * own (imsec_crypto is not thread-safe); the element keeps `crypto`. */
  imsec_crypto *hss_crypto = NULL;
  imsec_hss_store *st = NULL;
  imsec_hss *hss = NULL;
  imsec_reg_store *regs = NULL;
  imsec_svc *local = NULL, *worker = NULL;
  /* A core past one machine: the Cx client, the Redis store, the two
   * behind one service. */
  imsec_svc *cx = NULL, *rds = NULL, *split = NULL;
  scscf_cluster cl;
  memset(&cl, 0, sizeof(cl));
  char *reg_default = NULL;
  imsec_hostnet *r = NULL;
  daemon_ops *dops = NULL;
  /* Made after the listeners are bound (their real ports go into
   * Service-Route): imsec_hostnet_set_self below. */
  imsec_scscf *scscf = NULL;
  imsec_hostnet_listener ls[IMSEC_SCSCF_MAX_LISTEN];
  imsec_net_tls_config tls_cfg;
  core cs;
  memset(&cs, 0, sizeof(cs));
  memset(ls, 0, sizeof(ls));
  memset(&tls_cfg, 0, sizeof(tls_cfg));
  imsec_log_level level = IMSEC_LOG_INFO;
  imsec_scscf_route routes[IMSEC_SCSCF_MAX_ROUTES];
  size_t n_routes = 0;

  if (!domain) {
    rv = cli_usage(SUB, "missing --domain%s", where);
    goto done;
  }
  rv = scscf_cluster_pick(&o.cl, &file, &cl);
  if (rv)
    goto done;
  const char *reg_path = pick(o.registrations, file.registrations);
  int redis = scscf_cluster_is_redis(reg_path);
  if (cl.remote_hss && db) {
    rv = cli_usage(SUB, "--db and --hss diameter: one HSS or the other");
    goto done;
  }
  if (!db && !cl.remote_hss) {
    rv = cli_usage(SUB, "missing --db%s (or --hss diameter:HOST:PORT)", where);
    goto done;
  }
  if (cl.remote_hss && !reg_path) {
    rv = cli_usage(SUB, "--hss diameter: needs --registrations (a file or "
                        "redis://HOST:PORT/DB)");
    goto done;
  }
  if (!n_listen) {
    rv = cli_usage(SUB, "missing --listen%s", where);
    goto done;
  }
  if (lvl && imsec_hostnet_log_level_parse(lvl, &level) < 0) {
    rv = cli_usage(SUB, "--log-level: expected error, warn, info or debug");
    goto done;
  }
  int need_tls = 0;
  for (size_t i = 0; i < n_listen; i++) {
    if (imsec_addr_parse_listen(imsec_str_c(listen[i]), &ls[i].addr) < 0 ||
        (ls[i].addr.tp != IMSEC_TP_TCP && ls[i].addr.tp != IMSEC_TP_TLS)) {
      rv = cli_usage(SUB,
                     "--listen: expected tcp:HOST:PORT or tls:HOST:PORT,"
                     " got '%s'",
                     listen[i]);
      goto done;
    }
    if (ls[i].addr.tp == IMSEC_TP_TLS) {
      need_tls = 1;
      ls[i].tls_cfg = &tls_cfg;
    }
  }
  if (need_tls && (!cert || !key)) {
    rv = cli_usage(SUB, "a tls: listener needs --cert and --key");
    goto done;
  }
  tls_cfg.server = 1;
  tls_cfg.cert_file = cert;
  tls_cfg.key_file = key;
  rv = core_setup(&o, &file, cert, key, ls, n_listen, &tls_cfg, &cs,
                  !ops.check_config);
  if (rv)
    goto done;
  /* The next hops of other domains: the file's, then the flags'. */
  if (file.n_routes + o.n_routes > IMSEC_SCSCF_MAX_ROUTES) {
    rv = cli_usage(SUB, "--route: at most %d routes (with the file's)",
                   IMSEC_SCSCF_MAX_ROUTES);
    goto done;
  }
  memcpy(routes, file.routes, file.n_routes * sizeof(routes[0]));
  memcpy(routes + file.n_routes, o.routes, o.n_routes * sizeof(routes[0]));
  n_routes = file.n_routes + o.n_routes;
  for (size_t i = 0; i < n_routes && !rv; i++)
    rv = route_check(&routes[i], cs.insecure);
  if (rv)
    goto done;
  imsec_addr self;
  if (adv && imsec_addr_parse(imsec_str_c(adv), &self) < 0) {
    rv = cli_usage(SUB, "--advertise: expected tp:HOST:PORT, got '%s'", adv);
    goto done;
  }

  char err[512];
  int64_t store_timeout = pick_n(o.lim[L_STORE_TIMEOUT], file.store_timeout);
  /* A remote store answers, or its client times out (then 504), within
   * its own timeout: a request waits for that by default, not for the
   * local database's lock wait. */
  if (store_timeout <= 0 && (cl.remote_hss || redis))
    store_timeout =
        (cl.remote_hss ? (cl.hss_timeout ? cl.hss_timeout : 2000) : 1000) + 500;
  /* A database that cannot be written, or one another process keeps
   * locked, is a start-up error: said now, not as a 500 per REGISTER.
   * Running, a store call waits for a lock only a few milliseconds (the
   * loop must not stall); the S-CSCF parks a request that finds the store
   * busy and tries again until store_timeout has passed. */
  imsec_hss_db_opts dbo = {.create = 0,
                           .writable = 1,
                           .timeout_ms =
                               store_timeout > 0 ? (int)store_timeout : 0,
                           .call_wait_ms = STORE_CALL_WAIT_MS};
  /* WAL for the HSS file as for the registrations: an SQN mark (TS 33.102
   * C.3, on disk before the challenge leaves) is one synchronous append
   * instead of a rollback journal's two syncs and unlink; `imsec hss`
   * keeps a WAL file in WAL (store/db.c). */
  dbo.wal = 1;
  int e = db ? hss_open(&st, db, &dbo, err, sizeof(err)) : 0;
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--db %s%s", err,
                  e == IMSEC_ERR_NOTFOUND ? " (create it with imsec hss add)"
                                          : "");
    goto done;
  }
  if (imsec_crypto_ossl_new(&crypto) < 0 ||
      (st && (imsec_crypto_ossl_new(&hss_crypto) < 0 ||
              imsec_hss_new(&hss, st, hss_crypto, NULL) < 0 ||
              /* TS 33.102 C.3: the durable mark moves a range of SEQ at a
               * time, so a challenge costs a disk write once per range,
               * not per vector; after a crash the HSS goes on above the
               * mark. */
              imsec_hss_set_sqn_range(hss, SQN_RANGE, 0) < 0))) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the crypto backend");
    goto done;
  }
  if (!reg_path && db && hss_open_is_pg(db)) {
    rv = cli_usage(SUB, "a PostgreSQL --db needs --registrations (a file)");
    goto done;
  }
  if (!reg_path) {
    reg_default = reg_path_for(db);
    reg_path = reg_default;
  }
  if (!reg_path) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    goto done;
  }
  /* The registration store belongs to this daemon alone: WAL, so each
   * save is one synchronous append rather than a journal rewrite. */
  imsec_hss_db_opts rgo = dbo;
  rgo.create = 1;
  rgo.wal = 1;
  e = redis ? 0 : imsec_reg_db_open(&regs, reg_path, &rgo, err, sizeof(err));
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--registrations %s", err);
    goto done;
  }
  if (ops.check_config) {
    /* The stores opened above; the TLS contexts from their files; the
     * Cx settings as a start checks them; Cx and Redis are not contacted
     * (a check binds and dials nothing). */
    imsec_addr me = adv ? self : ls[0].addr;
    if ((need_tls && daemon_ops_check_tls(SUB, "--cert/--key", &tls_cfg, 1)) ||
        (cs.anchors &&
         daemon_ops_check_tls(SUB, "--ca (client)", &cs.client, 0)) ||
        (cl.remote_hss && scscf_cluster_cx_check(&cl, &me)))
      rv = CLI_EXIT_USAGE;
    else
      rv = daemon_ops_config_ok(SUB);
    goto done;
  }
  if (redis && (rv = scscf_cluster_redis_start(reg_path, &rds)) != 0)
    goto done;
  /* The embedded stores on the worker's thread (those there are). */
  imsec_svc_local_config lc = {.hss = hss, .reg = regs};
  if ((hss || regs) &&
      (imsec_svc_local_new(&local, &lc) < 0 ||
       imsec_svc_worker_new(&worker, local, STORE_QUEUE_MAX) < 0)) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    goto done;
  }
  imsec_hostnet_config rc;
  memset(&rc, 0, sizeof(rc));
  rc.name = "scscf";
  rc.ops = &imsec_scscf_ops;
  /* The HSS and the registrations each where they are: the embedded
   * ones behind the worker, Cx and Redis answering from their threads. */
  if (cl.remote_hss) {
    imsec_addr me = adv ? self : ls[0].addr;
    if ((rv = scscf_cluster_cx_start(&cl, &me, &cx)) != 0)
      goto done;
  }
  imsec_svc *hss_part = cx ? cx : worker;
  imsec_svc *reg_part = rds ? rds : worker;
  rc.svc = hss_part;
  if (hss_part != reg_part) {
    if (imsec_svc_split_new(&split, hss_part, reg_part) < 0) {
      rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
      goto done;
    }
    rc.svc = split;
  }
  rc.listeners = ls;
  rc.n_listeners = n_listen;
  rc.log_level = level;
  /* net's WARN lines: refused connections, refused input, failed
   * handshakes (rate-limited where an attacker sets the pace). */
  rc.net_log_level =
      level >= IMSEC_LOG_WARN ? IMSEC_NET_LOG_WARN : IMSEC_NET_LOG_ERROR;
  if (pick_n(o.max_flows_per_ip, file.max_flows_per_ip) > 0)
    rc.limits.max_flows_per_ip =
        (uint32_t)pick_n(o.max_flows_per_ip, file.max_flows_per_ip);
  rc.ladder = o.ladder;
  rc.signals = 1;
  rc.anchors = cs.anchors;
  if (cs.anchors)
    rc.client_tls_cfg = &cs.client;
  if (cs.tls) /* a client without a certificate fails in the handshake */
    rc.net_log_level = IMSEC_NET_LOG_WARN;
  reload_scscf started;
  view_of(&o, &file, &started);
  reloader rl = {.o = &o,
                 .running = &started,
                 .s = &scscf,
                 .tls = cs.tls,
                 .anchors = cs.anchors};
  rc.reload = on_reload;
  rc.reload_arg = &rl;
  daemon_ops_hostnet_config(&ops, &rc);
  if (imsec_hostnet_new(&r, &rc, err, sizeof(err)) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
    goto done;
  }
  if (!adv) {
    /* The first listener, with the port it really got. */
    self = ls[0].addr;
    self.port = imsec_hostnet_port(r, 0);
    if (strcmp(self.host, "0.0.0.0") == 0 || strcmp(self.host, "::") == 0)
      imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_WARN,
                          "listening on a wildcard address; "
                          "Service-Route names %s (set --advertise)",
                          self.host);
  }
  imsec_scscf_config sc;
  memset(&sc, 0, sizeof(sc));
  sc.domain = domain;
  sc.self = self;
  if (pick_n(o.nonce_lifetime, file.nonce_lifetime) >= 0)
    sc.nonce_lifetime_ms = pick_n(o.nonce_lifetime, file.nonce_lifetime) * 1000;
  if (pick_n(o.expires_min, file.expires_min) >= 0)
    sc.expires_min = (uint32_t)pick_n(o.expires_min, file.expires_min);
  if (pick_n(o.expires_max, file.expires_max) >= 0)
    sc.expires_max = (uint32_t)pick_n(o.expires_max, file.expires_max);
  if (pick_n(o.expires_default, file.expires_default) >= 0)
    sc.expires_default =
        (uint32_t)pick_n(o.expires_default, file.expires_default);
  if (file.txn_timeout >= 0)
    sc.txn_timeout_ms = file.txn_timeout * 1000;
  if (file.max_txns >= 0)
    sc.max_txns = (size_t)file.max_txns;
  sc.trust_domain = cs.trust_domain;
  sc.peer_names = cs.peers;
  sc.n_peer_names = cs.n_peers;
  sc.insecure_core = cs.insecure;
  sc.peer_addrs = cs.addrs;
  sc.n_peer_addrs = cs.n_addrs;
  set_limits(&sc, &o, &file);
  sc.store_timeout_ms = store_timeout > 0 ? store_timeout : 0;
  sc.routes = routes;
  sc.n_routes = n_routes;
  sc.aliases = cl.aliases;
  sc.n_aliases = cl.n_aliases;
  sc.hss_assign = cl.remote_hss; /* Cx SAR: the HSS keeps the serving S-CSCF */
  sc.reg_shared = redis;
  if (pick_n(o.timer_c_ms, file.timer_c_ms) > 0)
    sc.timer_c_ms = pick_n(o.timer_c_ms, file.timer_c_ms);
  /* SIP Digest: the flags over the file (both checked when read). */
  sc.digest_nonce_ms =
      o.digest_nonce_ms ? o.digest_nonce_ms : file.digest_nonce_ms;
  sc.max_digest_nonces = (size_t)(o.max_digest_nonces ? o.max_digest_nonces
                                                      : file.max_digest_nonces);
  const char *dgu = pick(o.digest_username, file.digest_username);
  if (dgu &&
      imsec_scscf_digest_user_parse(imsec_str_c(dgu), &sc.digest_username) < 0)
    sc.digest_username = IMSEC_SCSCF_DIGEST_USER_ANY; /* checked at load */
  sc.digest_proxy_auth = o.digest_proxy_auth || file.digest_proxy_auth;
  const char *dga = pick(o.digest_algorithms, file.digest_algorithms);
  if (dga &&
      imsec_scscf_digest_algs_parse(imsec_str_c(dga), &sc.digest_algs) < 0)
    sc.digest_algs = 0; /* checked at load */
  e = imsec_scscf_new(&scscf, &sc, crypto);
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--domain %s: %s", domain,
                  e == IMSEC_ERR_CONFIG ? "invalid domain or expiry settings"
                                        : imsec_strerror(e));
    goto done;
  }
  /* P-CSCFs and direct peers may hold many connections; once the
   * configuration passed, so that a bad one still gets its one line. */
  (void)cli_raise_nofile(SUB);
#ifdef __GLIBC__
  /* The loop thread's arena gave its top back to the kernel after every
   * burst and faulted it in again on the next (sysmalloc and page faults
   * were ~5% of the daemon's CPU under registration load): keep up to
   * 32 MiB of free heap, and fix the mmap threshold so that larger
   * buffers are not mapped and unmapped per message either. */
  (void)mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
  (void)mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
  for (size_t i = 0; i < n_listen; i++) {
    imsec_addr a = ls[i].addr;
    a.port = imsec_hostnet_port(r, i);
    char buf[300];
    if (imsec_addr_format(&a, buf, sizeof(buf)) > 0)
      imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                          "listening on %s, domain %s", buf, domain);
  }
  for (size_t i = 0; i < n_routes; i++) {
    char buf[300];
    if (imsec_addr_format(&routes[i].addr, buf, sizeof(buf)) > 0)
      imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO,
                          "route %s -> %s%s%s", routes[i].domain, buf,
                          routes[i].name[0] ? " name " : "", routes[i].name);
  }
  fflush(stderr);
  imsec_hostnet_set_self(r, scscf);
  /* The loops first: the control socket and /metrics ask them. */
  int run_rc = imsec_hostnet_start(r);
  if (run_rc == 0) {
    daemon_ops_hooks hooks;
    daemon_ops_hostnet_hooks(&hooks, r);
    if (daemon_ops_start(&dops, &ops, SUB, &hooks, err, sizeof(err)) < 0) {
      rv = cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
      goto done;
    }
    run_rc = imsec_hostnet_wait(r, -1);
  }
  daemon_ops_stop(dops);
  dops = NULL;
  cs.anchors = rl.anchors; /* a reload may have swapped them */
  if (run_rc < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot start the event loop");
    goto done;
  }
  imsec_logger_printf(daemon_ops_log(), SUB, IMSEC_LOG_INFO, "stopped");
  rv = CLI_EXIT_OK;
done:
  daemon_ops_stop(dops); /* a start that failed half-way */
  /* Stop the worker while the host it answers still exists (its last
   * replies reach it: the registrations still queued are written), then
   * the host (the loop may submit until then: it is told closed), then
   * free the worker: no request ever reaches freed memory. */
  imsec_svc_worker_stop(worker);
  /* The remote ones stop their threads before the host they answer. */
  imsec_svc_del(split);
  imsec_svc_del(cx);
  imsec_svc_del(rds);
  imsec_hostnet_del(r);
  imsec_svc_del(worker);
  imsec_svc_del(local);
  imsec_scscf_del(scscf);
  imsec_reg_store_del(regs);
  imsec_hss_del(hss);
  imsec_hss_store_del(st);
  imsec_crypto_del(hss_crypto);
  imsec_crypto_del(crypto);
  free(reg_default);
  imsec_x509_anchors_del(cs.anchors);
  imsec_scscf_file_free(&file);
  return rv;
}

const cli_cmd imsec_cmd_scscf = {
    .name = "scscf",
    .summary = "run an S-CSCF registrar with its embedded HSS (or Cx)",
    .run = run,
    .planned = 0,
};
