/* `imsec scscf` in a core past one machine (apps/scscf_cluster.h). */
#include "scscf_cluster.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "daemon_ops.h"
#include "imsec/redis.h"

#define SUB "scscf"

const char scscf_cluster_help[] =
    "A core past one machine (docs/DEPLOY.md):\n"
    "  --hss diameter:HOST:PORT  the HSS over Diameter Cx (TS 29.228/229)\n"
    "                        instead of the embedded one (no --db then);\n"
    "                        diameter+tls:HOST:PORT over mutual TLS\n"
    "  --diameter-identity FQDN  this S-CSCF's Origin-Host (required with\n"
    "                        --hss)\n"
    "  --diameter-realm REALM    its Origin-Realm (required with --hss)\n"
    "  --hss-identity FQDN   the HSS's Origin-Host (default: its HOST)\n"
    "  --diameter-cert, --diameter-key, --diameter-ca FILE  for\n"
    "                        diameter+tls: this S-CSCF's chain and key, the\n"
    "                        CA the HSS's certificate must chain to\n"
    "  --hss-timeout MS      how long a Cx request waits for its answer,\n"
    "                        then the REGISTER gets 504 (default 2000)\n"
    "  --registrations redis://HOST:PORT/DB  the registrations in Redis,\n"
    "                        shared by several S-CSCFs: a request for a\n"
    "                        user registered through another is served\n"
    "                        here, an expiry de-registers once\n"
    "  --alias HOST:PORT     another S-CSCF of the cluster (repeatable):\n"
    "                        a Route naming it is served here\n"
    "  YAML keys: hss, diameter_identity, diameter_realm, hss_identity,\n"
    "  hss_timeout, diameter_cert, diameter_key, diameter_ca, aliases\n";

void scscf_cluster_opts_init(scscf_cluster_opts *o) {
  memset(o, 0, sizeof(*o));
  o->hss_timeout = -1;
}

static const char *const names[] = {
    "--hss",          "--diameter-identity", "--diameter-realm",
    "--hss-identity", "--diameter-cert",     "--diameter-key",
    "--diameter-ca",  "--hss-timeout",       "--alias",
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

int scscf_cluster_opt(scscf_cluster_opts *o, int argc, char **argv, int *i,
                      int *rv) {
  const char *a = argv[*i];
  const char *eq = strchr(a, '=');
  size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
  size_t k = 0;
  while (k < N_NAMES &&
         !(strlen(names[k]) == nlen && strncmp(a, names[k], nlen) == 0))
    k++;
  if (k == N_NAMES)
    return 0;
  *rv = 0;
  const char *v;
  if (eq) {
    v = eq + 1;
  } else if (*i + 1 < argc) {
    v = argv[++*i];
  } else {
    *rv = cli_usage(SUB, "%s needs a value", names[k]);
    return 1;
  }
  if (k == 8) {
    if (o->n_aliases >= IMSEC_SCSCF_MAX_ALIASES)
      *rv = cli_usage(SUB, "--alias: at most %d", IMSEC_SCSCF_MAX_ALIASES);
    else
      o->aliases[o->n_aliases++] = v;
    return 1;
  }
  if (k == 7) {
    uint64_t x;
    if (o->hss_timeout >= 0)
      *rv = cli_usage(SUB, "--hss-timeout given twice");
    else if (imsec_str_to_u64(imsec_str_c(v), 600000, &x) < 0 || x == 0)
      *rv = cli_usage(SUB, "--hss-timeout: expected 1..600000 ms, got '%s'", v);
    else
      o->hss_timeout = (int64_t)x;
    return 1;
  }
  const char **slots[] = {
      &o->hss,          &o->diameter_identity, &o->diameter_realm,
      &o->hss_identity, &o->diameter_cert,     &o->diameter_key,
      &o->diameter_ca};
  if (*slots[k])
    *rv = cli_usage(SUB, "%s given twice", names[k]);
  else
    *slots[k] = v;
  return 1;
}

static const char *pick(const char *flag, const char *file) {
  return flag ? flag : file;
}

/* "HOST:PORT" (or "tp:HOST:PORT") of a sibling. */
static int alias_parse(const char *v, imsec_addr *a) {
  char buf[300];
  if (imsec_addr_parse(imsec_str_c(v), a) == 0)
    return 0;
  int n = snprintf(buf, sizeof(buf), "tcp:%s", v);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return IMSEC_ERR_PARSE;
  return imsec_addr_parse(imsec_str_c(buf), a);
}

int scscf_cluster_is_redis(const char *registrations) {
  return registrations &&
         strncmp(registrations, "redis://", 8) == 0; /* no secret: a scheme */
}

int scscf_cluster_pick(const scscf_cluster_opts *o, const imsec_scscf_file *f,
                       scscf_cluster *c) {
  memset(c, 0, sizeof(*c));
  const char *const *al =
      o->n_aliases ? o->aliases : (const char *const *)f->aliases;
  size_t nal = o->n_aliases ? o->n_aliases : f->n_aliases;
  for (size_t i = 0; i < nal; i++) {
    if (alias_parse(al[i], &c->aliases[i]) < 0)
      return cli_usage(SUB, "--alias: expected HOST:PORT, got '%s'", al[i]);
  }
  c->n_aliases = nal;
  const char *hss = pick(o->hss, f->hss);
  c->hss_timeout = o->hss_timeout >= 0   ? o->hss_timeout
                   : f->hss_timeout >= 0 ? f->hss_timeout
                                         : 0;
  if (!hss)
    return 0;
  const char *rest;
  int tls;
  if (strncmp(hss, "diameter:", 9) == 0) {
    rest = hss + 9;
    tls = 0;
  } else if (strncmp(hss, "diameter+tls:", 13) == 0) {
    rest = hss + 13;
    tls = 1;
  } else {
    return cli_usage(SUB,
                     "--hss: expected diameter:HOST:PORT or "
                     "diameter+tls:HOST:PORT, got '%s'",
                     hss);
  }
  int n = snprintf(c->cx_addr, sizeof(c->cx_addr), "%s:%s", tls ? "tls" : "tcp",
                   rest);
  imsec_addr a;
  if (n < 0 || (size_t)n >= sizeof(c->cx_addr) ||
      imsec_addr_parse(imsec_str_c(c->cx_addr), &a) < 0)
    return cli_usage(SUB, "--hss: expected diameter:HOST:PORT, got '%s'", hss);
  c->remote_hss = 1;
  c->cx.addr = c->cx_addr;
  c->cx.identity = pick(o->diameter_identity, f->diameter_identity);
  c->cx.realm = pick(o->diameter_realm, f->diameter_realm);
  c->cx.peer_identity = pick(o->hss_identity, f->hss_identity);
  c->cx.cert = pick(o->diameter_cert, f->diameter_cert);
  c->cx.key = pick(o->diameter_key, f->diameter_key);
  c->cx.ca = pick(o->diameter_ca, f->diameter_ca);
  c->cx.timeout_ms = (int)c->hss_timeout;
  if (!c->cx.identity || !c->cx.realm)
    return cli_usage(SUB, "--hss needs --diameter-identity FQDN and "
                          "--diameter-realm REALM");
  if (tls && (!c->cx.cert || !c->cx.key || !c->cx.ca))
    return cli_usage(SUB, "--hss diameter+tls: needs --diameter-cert, "
                          "--diameter-key and --diameter-ca");
  return 0;
}

int scscf_cluster_cx_start(scscf_cluster *c, const imsec_addr *self,
                           imsec_svc **out) {
  /* TS 29.228 §6.1.2: the Server-Name is the S-CSCF's SIP URI. */
  int v6 = strchr(self->host, ':') != NULL;
  snprintf(c->server_name, sizeof(c->server_name), "sip:%s%s%s:%u",
           v6 ? "[" : "", self->host, v6 ? "]" : "", (unsigned)self->port);
  c->cx.server_name = c->server_name;
  char err[512] = "";
  int e = imsec_cx_client_new(out, &c->cx, err, sizeof(err));
  if (e == IMSEC_ERR_UNSUPPORTED)
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "--hss: Diameter Cx not built into this imsec");
  if (e < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--hss %s: %s", c->cx_addr,
                    err[0] ? err : imsec_strerror(e));
  /* The capabilities exchange (RFC 6733 §5.3) before the first REGISTER
   * when the HSS is there; a late HSS is reconnected meanwhile. */
  /* freeDiameter loads its 3GPP dictionary first: seconds on a busy
   * machine. */
  int64_t wait_ms = c->hss_timeout > 10000 ? c->hss_timeout : 10000;
  for (int64_t t = 0; t < wait_ms && !imsec_cx_client_ready(*out); t += 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (imsec_cx_client_ready(*out))
    imsec_logger_printf(daemon_ops_log(), "scscf", IMSEC_LOG_INFO,
                        "HSS peer open at diameter %s", c->cx_addr);
  else
    imsec_logger_printf(daemon_ops_log(), "scscf", IMSEC_LOG_WARN,
                        "HSS peer at diameter %s not open yet: requests "
                        "needing it get 504 until it is",
                        c->cx_addr);
  return 0;
}

int scscf_cluster_cx_check(scscf_cluster *c, const imsec_addr *self) {
  int v6 = strchr(self->host, ':') != NULL;
  snprintf(c->server_name, sizeof(c->server_name), "sip:%s%s%s:%u",
           v6 ? "[" : "", self->host, v6 ? "]" : "", (unsigned)self->port);
  c->cx.server_name = c->server_name;
  char err[512] = "";
  int e = imsec_cx_config_check(&c->cx, 0, err, sizeof(err));
  if (e < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--hss %s: %s", c->cx_addr,
                    err[0] ? err : imsec_strerror(e));
  return 0;
}

int scscf_cluster_redis_start(const char *url, imsec_svc **out) {
  char err[512] = "";
  imsec_redis_opts ro;
  memset(&ro, 0, sizeof(ro));
  int e = imsec_redis_svc_new(out, url, &ro, err, sizeof(err));
  if (e == IMSEC_ERR_UNSUPPORTED)
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "--registrations: Redis not built into this imsec");
  if (e < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--registrations %s: %s", url,
                    err[0] ? err : imsec_strerror(e));
  return 0;
}
