/* apps/bench/opts.c: the options of `imsec bench run` and `hold`
 * (opts.h, docs/BENCH.md). Every error is one line naming the option. */
#include "opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sc_names[BENCH_SC_N] = {"register", "message", "call"};
static const char *const mode_names[BENCH_MODE_N] = {"m1", "m2a", "m3", "dtls",
                                                     "tcp"};
static const char *const conn_names[] = {"new", "resumed", "open"};

const char *bench_scenario_name(bench_scenario s) {
  return (unsigned)s < BENCH_SC_N ? sc_names[s] : "?";
}

const char *bench_mode_name(bench_mode m) {
  return (unsigned)m < BENCH_MODE_N ? mode_names[m] : "?";
}

const char *bench_conn_name(bench_conn c) {
  return (unsigned)c <= BENCH_CONN_OPEN ? conn_names[c] : "?";
}

/* A weight larger than this is a typing error, and sums stay in range. */
#define WEIGHT_MAX 1000000u
#define CONC_MAX 1000000u
#define RATE_MAX 10000000.0
/* Seconds: a week bounds -t and --ramp. */
#define SECONDS_MAX 604800.0
/* Without -t, a run bounded by -n still ends within the hour. */
#define COUNT_ONLY_DURATION 3600.0

typedef struct perr {
  char *buf;
  size_t cap;
} perr;

static int fail(perr *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(perr *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf, e->cap, fmt, ap);
  va_end(ap);
  return -1;
}

static int copy_str(perr *e, const char *opt, const char *v, char *dst,
                    size_t cap) {
  size_t n = strlen(v);
  if (n == 0)
    return fail(e, "%s: want a value, not ''", opt);
  if (n >= cap)
    return fail(e, "%s: longer than %zu octets", opt, cap - 1);
  memcpy(dst, v, n + 1);
  return 0;
}

/* An unsigned decimal in [lo, hi]: digits only, no sign, no spaces. */
static int parse_u64(perr *e, const char *opt, const char *v, uint64_t lo,
                     uint64_t hi, uint64_t *out) {
  if (*v < '0' || *v > '9')
    goto bad;
  errno = 0;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    goto bad;
  *out = x;
  return 0;
bad:
  return fail(e, "%s: want %llu..%llu, not '%s'", opt, (unsigned long long)lo,
              (unsigned long long)hi, v);
}

static int parse_u32(perr *e, const char *opt, const char *v, uint32_t lo,
                     uint32_t hi, uint32_t *out) {
  uint64_t x;
  if (parse_u64(e, opt, v, lo, hi, &x) != 0)
    return -1;
  *out = (uint32_t)x;
  return 0;
}

/* A positive decimal number of at most `hi` ("0.5", "100"). */
static int parse_pos(perr *e, const char *opt, const char *v, double hi,
                     double *out) {
  if ((*v < '0' || *v > '9') && *v != '.')
    goto bad;
  errno = 0;
  char *end;
  double x = strtod(v, &end);
  if (errno || *end || !isfinite(x) || x <= 0 || x > hi)
    goto bad;
  *out = x;
  return 0;
bad:
  return fail(e, "%s: want a number above 0 and at most %g, not '%s'", opt, hi,
              v);
}

static int lookup(const char *const *names, size_t n, const char *v) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], v) == 0)
      return (int)i;
  return -1;
}

/* --scenario NAME, or a mix NAME=W[,NAME=W..] of weights. */
static int parse_scenario(perr *e, const char *v, unsigned *w) {
  unsigned got[BENCH_SC_N] = {0};
  int seen[BENCH_SC_N] = {0};
  int idx = lookup(sc_names, BENCH_SC_N, v);
  if (idx >= 0) {
    memset(w, 0, sizeof got);
    w[idx] = 1;
    return 0;
  }
  const char *p = v;
  uint64_t sum = 0;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[64];
    if (len == 0 || len >= sizeof item)
      return fail(e,
                  "--scenario: want register|message|call or "
                  "NAME=WEIGHT[,..], not '%s'",
                  v);
    memcpy(item, p, len);
    item[len] = 0;
    char *eq = strchr(item, '=');
    if (!eq)
      return fail(e, "--scenario: '%s' is not NAME=WEIGHT", item);
    *eq = 0;
    int s = lookup(sc_names, BENCH_SC_N, item);
    if (s < 0)
      return fail(e, "--scenario: no scenario '%s' (register, message, call)",
                  item);
    if (seen[s])
      return fail(e, "--scenario: '%s' given twice", item);
    seen[s] = 1;
    uint64_t x;
    if (parse_u64(e, "--scenario", eq + 1, 0, WEIGHT_MAX, &x) != 0)
      return -1;
    got[s] = (unsigned)x;
    sum += x;
    if (!comma)
      break;
    p = comma + 1;
  }
  if (sum == 0)
    return fail(e, "--scenario: every weight is 0");
  memcpy(w, got, sizeof got);
  return 0;
}

/* One IPv4 address to a host-order integer. */
static int ip4(const char *s, uint32_t *out) {
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1)
    return -1;
  *out = ntohl(a.s_addr);
  return 0;
}

/* --sources A[-B][,..]: IP addresses, IPv4 ranges inclusive, appended. */
static int parse_sources(perr *e, const char *v, bench_opts *o) {
  const char *p = v;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[2 * INET6_ADDRSTRLEN + 2];
    if (len == 0 || len >= sizeof item)
      return fail(e, "--sources: want IP[-IP][,..], not '%s'", v);
    memcpy(item, p, len);
    item[len] = 0;
    char *dash = strchr(item, '-');
    if (dash) {
      *dash = 0;
      uint32_t a, b;
      if (ip4(item, &a) != 0 || ip4(dash + 1, &b) != 0)
        return fail(e, "--sources: '%s-%s' is not an IPv4 range", item,
                    dash + 1);
      if (b < a)
        return fail(e, "--sources: the range %s-%s runs backwards", item,
                    dash + 1);
      if ((uint64_t)b - a + 1 > BENCH_MAX_SOURCES - o->n_sources)
        return fail(e, "--sources: more than %d addresses", BENCH_MAX_SOURCES);
      for (uint64_t x = a; x <= b; x++) {
        imsec_addr *s = &o->sources[o->n_sources++];
        memset(s, 0, sizeof *s);
        s->tp = o->target.tp;
        struct in_addr in = {.s_addr = htonl((uint32_t)x)};
        inet_ntop(AF_INET, &in, s->host, sizeof s->host);
      }
    } else {
      unsigned char buf[16];
      if (inet_pton(AF_INET, item, buf) != 1 &&
          inet_pton(AF_INET6, item, buf) != 1)
        return fail(e, "--sources: '%s' is not an IP address", item);
      if (o->n_sources == BENCH_MAX_SOURCES)
        return fail(e, "--sources: more than %d addresses", BENCH_MAX_SOURCES);
      imsec_addr *s = &o->sources[o->n_sources++];
      memset(s, 0, sizeof *s);
      s->tp = o->target.tp;
      memcpy(s->host, item, len + 1);
    }
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

/* --server-pid PID[,PID..], appended. */
static int parse_pids(perr *e, const char *v, bench_opts *o) {
  const char *p = v;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[24];
    if (len == 0 || len >= sizeof item)
      return fail(e, "--server-pid: want PID[,PID..], not '%s'", v);
    memcpy(item, p, len);
    item[len] = 0;
    uint64_t x;
    if (parse_u64(e, "--server-pid", item, 1, 0x7fffffff, &x) != 0)
      return -1;
    if (o->n_server_pids == BENCH_MAX_SERVER_PIDS)
      return fail(e, "--server-pid: more than %d processes",
                  BENCH_MAX_SERVER_PIDS);
    o->server_pids[o->n_server_pids++] = (pid_t)x;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

/* The transport a mode's target uses. */
static imsec_tp mode_tp(bench_mode m) {
  return m == BENCH_MODE_TCP    ? IMSEC_TP_TCP
         : m == BENCH_MODE_DTLS ? IMSEC_TP_DTLS
                                : IMSEC_TP_TLS;
}

/* --target [tls:|dtls:|tcp:]HOST:PORT; the prefix is kept in `prefix`
 * (-1: none) and checked against the mode once every option is read. */
static int parse_target(perr *e, const char *v, bench_opts *o, int *prefix) {
  static const char *const pre[] = {"tls:", "dtls:", "tcp:"};
  static const imsec_tp tps[] = {IMSEC_TP_TLS, IMSEC_TP_DTLS, IMSEC_TP_TCP};
  char buf[300];
  *prefix = -1;
  for (int i = 0; i < 3; i++)
    if (strncmp(v, pre[i], strlen(pre[i])) == 0)
      *prefix = (int)tps[i];
  if (snprintf(buf, sizeof buf, "%s%s", *prefix >= 0 ? "" : "tls:", v) >=
          (int)sizeof buf ||
      imsec_addr_parse(imsec_str_c(buf), &o->target) < 0 || o->target.port == 0)
    return fail(e, "--target: want [tls:|dtls:|tcp:]HOST:PORT, not '%s'", v);
  return 0;
}

enum {
  O_TARGET,
  O_CREDS,
  O_CA,
  O_SERVER_NAME,
  O_TRUST_DOMAIN,
  O_MODE,
  O_REGISTER,
  O_SCENARIO,
  O_C,
  O_R,
  O_RAMP,
  O_N,
  O_T,
  O_TIMEOUT,
  O_UES,
  O_PROCS,
  O_SOURCES,
  O_EXPIRES,
  O_SERVER_PID,
  O_JSON,
  O_CSV,
  O_PLOT,
  O_STATUS,
  O_NO_STATUS,
  O_QUIET,
  O_COUNT
};

typedef struct optdef {
  const char *name;
  const char *alt; /* a second spelling, or NULL */
  int takes_value;
} optdef;

static const optdef defs[O_COUNT] = {
    [O_TARGET] = {"--target", NULL, 1},
    [O_CREDS] = {"--creds", NULL, 1},
    [O_CA] = {"--ca", NULL, 1},
    [O_SERVER_NAME] = {"--server-name", NULL, 1},
    [O_TRUST_DOMAIN] = {"--trust-domain", NULL, 1},
    [O_MODE] = {"--mode", NULL, 1},
    [O_REGISTER] = {"--register", NULL, 1},
    [O_SCENARIO] = {"--scenario", NULL, 1},
    [O_C] = {"-c", "--concurrency", 1},
    [O_R] = {"-r", "--rate", 1},
    [O_RAMP] = {"--ramp", NULL, 1},
    [O_N] = {"-n", "--count", 1},
    [O_T] = {"-t", "--duration", 1},
    [O_TIMEOUT] = {"--timeout", NULL, 1},
    [O_UES] = {"--ues", NULL, 1},
    [O_PROCS] = {"--procs", NULL, 1},
    [O_SOURCES] = {"--sources", NULL, 1},
    [O_EXPIRES] = {"--expires", NULL, 1},
    [O_SERVER_PID] = {"--server-pid", NULL, 1},
    [O_JSON] = {"--json", NULL, 1},
    [O_CSV] = {"--csv", NULL, 1},
    [O_PLOT] = {"--plot", NULL, 1},
    [O_STATUS] = {"--status", NULL, 0},
    [O_NO_STATUS] = {"--no-status", NULL, 0},
    [O_QUIET] = {"-q", "--quiet", 0},
};

/* Which option `arg` is; `*inline_v` set for "--name=value". */
static int find_opt(const char *arg, const char **inline_v) {
  *inline_v = NULL;
  for (int i = 0; i < O_COUNT; i++) {
    const char *names[2] = {defs[i].name, defs[i].alt};
    for (int k = 0; k < 2; k++) {
      const char *n = names[k];
      if (!n)
        continue;
      size_t len = strlen(n);
      if (strncmp(arg, n, len) != 0)
        continue;
      if (arg[len] == 0)
        return i;
      if (arg[len] == '=' && n[1] == '-' && defs[i].takes_value) {
        *inline_v = arg + len + 1;
        return i;
      }
    }
  }
  return -1;
}

int bench_opts_parse(int argc, char **argv, int hold, bench_opts *o, char *err,
                     size_t errcap) {
  perr e = {err, errcap};
  int given[O_COUNT] = {0};
  int prefix = -1;
  uint64_t n = 0;
  memset(o, 0, sizeof *o);
  o->hold = hold ? 1 : 0;
  o->mode = BENCH_MODE_M1;
  o->conn = BENCH_CONN_NEW;
  o->weight[BENCH_SC_REGISTER] = 1;
  o->expires = 600;
  o->duration_s = 10;
  o->timeout_ms = 10000;
  o->procs = 1;
  o->status = -1;
  if (errcap)
    err[0] = 0;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *v = NULL;
    int id = find_opt(arg, &v);
    if (id < 0) {
      if (arg[0] == '-')
        return fail(&e, "unknown option '%s'", arg);
      return fail(&e, "unexpected argument '%s'", arg);
    }
    const char *name = defs[id].name;
    if (defs[id].takes_value && !v) {
      if (i + 1 >= argc)
        return fail(&e, "%s: missing its value", name);
      v = argv[++i];
    }
    /* Lists accumulate; everything else is given once, so a typo in a
     * long command line does not silently override an earlier value. */
    if (given[id] && id != O_SOURCES && id != O_SERVER_PID)
      return fail(&e, "%s given twice", name);
    given[id] = 1;
    int rc = 0;
    switch (id) {
    case O_TARGET:
      rc = parse_target(&e, v, o, &prefix);
      break;
    case O_CREDS:
      rc = copy_str(&e, name, v, o->creds, sizeof o->creds);
      break;
    case O_CA:
      rc = copy_str(&e, name, v, o->ca, sizeof o->ca);
      break;
    case O_SERVER_NAME:
      rc = copy_str(&e, name, v, o->server_name, sizeof o->server_name);
      break;
    case O_TRUST_DOMAIN:
      rc = copy_str(&e, name, v, o->trust_domain, sizeof o->trust_domain);
      break;
    case O_MODE: {
      int m = lookup(mode_names, BENCH_MODE_N, v);
      if (m < 0)
        return fail(&e, "--mode: want m1, m2a, m3, dtls or tcp, not '%s'", v);
      o->mode = (bench_mode)m;
      break;
    }
    case O_REGISTER: {
      int c = lookup(conn_names, 3, v);
      if (c < 0)
        return fail(&e, "--register: want new, resumed or open, not '%s'", v);
      o->conn = (bench_conn)c;
      break;
    }
    case O_SCENARIO:
      rc = parse_scenario(&e, v, o->weight);
      break;
    case O_C:
      rc = parse_u32(&e, name, v, 1, CONC_MAX, &o->concurrency);
      break;
    case O_R:
      rc = parse_pos(&e, name, v, RATE_MAX, &o->rate);
      break;
    case O_RAMP:
      rc = parse_pos(&e, name, v, SECONDS_MAX, &o->ramp_s);
      break;
    case O_N:
      rc = parse_u64(&e, name, v, 1, hold ? 10000000 : UINT64_MAX / 2, &n);
      break;
    case O_T:
      rc = parse_pos(&e, name, v, SECONDS_MAX, &o->duration_s);
      break;
    case O_TIMEOUT:
      rc = parse_u32(&e, name, v, 1, 3600000, &o->timeout_ms);
      break;
    case O_UES:
      rc = parse_u32(&e, name, v, 1, 10000000, &o->ues);
      break;
    case O_PROCS: {
      uint32_t p = 1;
      rc = parse_u32(&e, name, v, 1, BENCH_MAX_PROCS, &p);
      o->procs = p;
      break;
    }
    case O_SOURCES:
      rc = parse_sources(&e, v, o);
      break;
    case O_EXPIRES:
      rc = parse_u32(&e, name, v, 1, 0x7fffffff, &o->expires);
      break;
    case O_SERVER_PID:
      rc = parse_pids(&e, v, o);
      break;
    case O_JSON:
      rc = copy_str(&e, name, v, o->json, sizeof o->json);
      break;
    case O_CSV:
      rc = copy_str(&e, name, v, o->csv, sizeof o->csv);
      break;
    case O_PLOT:
      rc = copy_str(&e, name, v, o->plot, sizeof o->plot);
      break;
    case O_STATUS:
    case O_NO_STATUS:
      if (given[O_STATUS] && given[O_NO_STATUS])
        return fail(&e, "--status and --no-status together");
      o->status = id == O_STATUS;
      break;
    case O_QUIET:
      o->quiet = 1;
      break;
    }
    if (rc != 0)
      return -1;
  }

  if (!given[O_TARGET])
    return fail(&e, "--target HOST:PORT is required");
  if (!given[O_CREDS])
    return fail(&e, "--creds FILE is required (imsec bench provision)");
  /* The target's prefix names the transport; without --mode it picks the
   * mode that uses it (dtls: DTLS, tcp: plain TCP). */
  if (!given[O_MODE] && prefix == IMSEC_TP_DTLS)
    o->mode = BENCH_MODE_DTLS;
  if (!given[O_MODE] && prefix == IMSEC_TP_TCP)
    o->mode = BENCH_MODE_TCP;
  if (prefix >= 0 && (imsec_tp)prefix != mode_tp(o->mode))
    return fail(&e, "--target: mode %s wants %s:HOST:PORT", mode_names[o->mode],
                imsec_tp_lower(mode_tp(o->mode)));
  o->target.tp = mode_tp(o->mode);
  for (size_t i = 0; i < o->n_sources; i++)
    o->sources[i].tp = o->target.tp;
  if (o->mode == BENCH_MODE_TCP) {
    if (given[O_CA])
      return fail(&e, "--ca: mode tcp has no TLS");
    if (o->conn == BENCH_CONN_RESUMED)
      return fail(&e, "--register resumed: mode tcp has no TLS session");
  } else if (!given[O_CA]) {
    return fail(&e, "--ca ROOT.pem is required (mode %s)", mode_names[o->mode]);
  }
  if (o->mode == BENCH_MODE_DTLS && o->conn == BENCH_CONN_RESUMED)
    return fail(&e, "--register resumed: not over DTLS");
  if (given[O_C] && given[O_R])
    return fail(&e, "-c and -r: closed loop or open loop, not both");
  if (given[O_RAMP] && !given[O_R])
    return fail(&e, "--ramp: only with -r");
  if (!given[O_R] && !given[O_C])
    o->concurrency = 10;
  if (hold) {
    /* `hold`: -n is how many UEs are held, not a count of operations. */
    if (!given[O_N])
      return fail(&e, "-n N (the UEs to hold) is required");
    if (given[O_UES])
      return fail(&e, "--ues: hold takes the UEs from -n");
    if (o->weight[BENCH_SC_MESSAGE] || o->weight[BENCH_SC_CALL])
      return fail(&e, "--scenario: hold only registers");
    o->ues = (uint32_t)n;
    o->count = 0;
  } else {
    o->count = n;
    if (given[O_N] && !given[O_T])
      o->duration_s = COUNT_ONLY_DURATION;
  }
  unsigned need = 0;
  for (int s = 0; s < BENCH_SC_N; s++)
    need += o->weight[s] && s != BENCH_SC_REGISTER;
  /* MESSAGE and calls go from one UE to another. */
  if (need && o->ues == 1)
    return fail(&e, "--ues: message and call need at least 2 UEs");
  if (o->procs > 1 && o->ues && o->ues < o->procs)
    return fail(&e, "--procs: %u processes for %u UEs", o->procs, o->ues);
  return 0;
}
