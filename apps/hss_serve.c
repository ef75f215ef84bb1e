/*
 * imsec hss serve: the subscriber store behind Diameter Cx (TS 29.228,
 * TS 29.229), for S-CSCFs run with --hss diameter:H:P. The store is the
 * one `imsec hss add` fills (SQLite, or PostgreSQL by URI); vectors come
 * from the same HSS logic the S-CSCF embeds, on a worker thread, so the
 * Diameter threads never wait on the disk.
 *
 * For the operator (apps/daemon_ops.h, docs/OPERATIONS.md): a -c YAML
 * file, --check-config, the control socket (stats, peers, reload,
 * log-level, drain) and /metrics with the Cx figures, and the service
 * manager's READY/RELOADING/STOPPING and watchdog.
 */
#include "hss_serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "daemon_ops.h"
#include "hss_open.h"
#include "imsec/conf_kv.h"
#include "imsec/crypto_ossl.h"
#include "imsec/cx.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/net.h"
#include "imsec/svc.h"

#define SUB "hss serve"
#define NAME "hss"

/* TS 33.102 C.3: the durable SQN mark moves a range at a time (as the
 * S-CSCF's embedded HSS does). */
#define SQN_RANGE 32
/* Requests queued at the store's worker before it answers busy. */
#define QUEUE_MAX 8192
/* The watchdog's check: the worker answered the previous probe within
 * this (a store stuck on its disk stops the pings). */
#define ALIVE_MS 10000

static const char hss_serve_help[] =
    "usage: imsec hss serve [-c FILE] --db DB\n"
    "                       --diameter tcp:HOST:PORT|tls:HOST:PORT\n"
    "                       --diameter-identity FQDN --diameter-realm REALM\n"
    "                       [--diameter-cert FILE --diameter-key FILE\n"
    "                        --diameter-ca FILE] [--log-level LEVEL]\n"
    "                       [--ctl-socket PATH|none] [--metrics "
    "tcp:HOST:PORT]\n"
    "                       [--log-format text|json] [--log-identities]\n"
    "                       [--drain-timeout-ms MS] [--check-config]\n";

static const char serve_text[] =
    "\n"
    "  serve   answer Diameter Cx (TS 29.229) for S-CSCFs run with\n"
    "          --hss diameter:HOST:PORT: UAR, MAR (IMS AKA vectors,\n"
    "          resynchronisation, SIP Digest H(A1)), SAR (the implicit\n"
    "          registration set as User-Data) and LIR. --db is the SQLite\n"
    "          file `imsec hss add` writes, or a postgresql:// URI.\n"
    "          --diameter tls:... needs --diameter-cert, --diameter-key\n"
    "          and --diameter-ca (peers must present a certificate from\n"
    "          that CA). Which S-CSCF serves which user is kept in memory.\n"
    "          Logs \"hss info: listening on diameter ADDR\" on stderr when\n"
    "          ready; SIGTERM or SIGINT stops it. --log-level debug adds\n"
    "          freeDiameter's own notices and debug lines (never an\n"
    "          AVP value).\n"
    "\n"
    "  -c FILE   YAML settings: db, diameter, diameter_identity,\n"
    "            diameter_realm, diameter_cert, diameter_key, diameter_ca,\n"
    "            log_level, and the operations keys below (file names\n"
    "            relative to the file's folder); options given on the\n"
    "            command line win over the file.\n"
    "  SIGHUP (or `imsec ctl reload`) reads the -c file again: log_level\n"
    "  is applied; any other change, and certificate files changed on\n"
    "  disk, are reported as needing a restart (freeDiameter takes them at\n"
    "  start). `imsec ctl drain` refuses new peers and answers new\n"
    "  requests DIAMETER_TOO_BUSY, lets the answers in flight leave, then\n"
    "  exits 0. `imsec ctl peers` lists the Diameter peers; `imsec ctl\n"
    "  stats` and /metrics give the Cx requests by command and result,\n"
    "  their latency, the peers up and the store's queue.\n"
    "\n";

enum { S_DB, S_DIAMETER, S_IDENTITY, S_REALM, S_CERT, S_KEY, S_CA, S_LOG, S_N };

static const char *const snames[S_N] = {"--db",
                                        "--diameter",
                                        "--diameter-identity",
                                        "--diameter-realm",
                                        "--diameter-cert",
                                        "--diameter-key",
                                        "--diameter-ca",
                                        "--log-level"};
/* The same settings as -c keys. */
static const char *const skeys[S_N] = {"db",
                                       "diameter",
                                       "diameter_identity",
                                       "diameter_realm",
                                       "diameter_cert",
                                       "diameter_key",
                                       "diameter_ca",
                                       "log_level"};
/* Keys whose values are file names (relative to the -c file's folder). */
static const char *const path_keys[] = {"db", "diameter_cert", "diameter_key",
                                        "diameter_ca", NULL};

/* Settings from the command line and the -c file. */
typedef struct settings {
  const char *arg[S_N]; /* from argv (borrowed) */
  char *file[S_N];      /* from the -c file (owned) */
  const char *v[S_N];   /* in force: arg, else file */
  const char *conf;     /* -c FILE */
  daemon_ops_opts ops;
} settings;

static void settings_free(settings *s) {
  for (int k = 0; k < S_N; k++)
    free(s->file[k]);
}

typedef struct kv_ctx {
  settings *s;
  daemon_ops_opts *ops; /* where the operations keys go */
} kv_ctx;

static int on_key(void *arg, const char *key, const char *value, char *err,
                  size_t errcap) {
  kv_ctx *c = arg;
  for (int k = 0; k < S_N; k++)
    if (strcmp(key, skeys[k]) == 0) { /* no secret: a key name */
      if (!value[0]) {
        snprintf(err, errcap, "key '%s': empty value", key);
        return IMSEC_ERR_PARSE;
      }
      free(c->s->file[k]);
      c->s->file[k] = strdup(value);
      return c->s->file[k] ? 1 : IMSEC_ERR_NOMEM;
    }
  int rv = daemon_ops_yaml_key(c->ops, key, value, err, errcap);
  if (rv < 0 && err[0] && !strstr(err, key)) {
    /* Name the key in the one line. */
    char why[512];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errcap, "key '%s': %s", key, why);
  }
  return rv;
}

/* Read the -c file into s->file and ops. 0, or CLI_EXIT_USAGE after one
 * line (or, capturing, the line in cli_capture's buffer). */
static int load_file(settings *s, daemon_ops_opts *ops) {
  char err[768];
  kv_ctx c = {s, ops};
  int rv = imsec_conf_kv_load(s->conf, path_keys, on_key, &c, err, sizeof err);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  return 0;
}

/* The command line: 0, or the usage exit code. */
static int parse_args(int argc, char **argv, settings *s) {
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-c") == 0) {
      if (s->conf)
        return cli_usage(SUB, "-c given twice");
      if (i + 1 >= argc)
        return cli_usage(SUB, "-c needs a value");
      s->conf = argv[++i];
      continue;
    }
    int orv = daemon_ops_arg(&s->ops, SUB, argc, argv, &i);
    if (orv == 1)
      continue;
    if (orv != 0)
      return orv;
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    int id = -1;
    for (int k = 0; k < S_N; k++)
      if (strlen(snames[k]) == nlen && strncmp(arg, snames[k], nlen) == 0)
        id = k;
    if (id < 0) {
      if (arg[0] == '-')
        return cli_usage(SUB, "unknown option '%.*s'", (int)nlen, arg);
      return cli_usage(SUB, "unexpected argument '%s'", arg);
    }
    if (s->arg[id])
      return cli_usage(SUB, "%s given twice", snames[id]);
    if (eq) {
      s->arg[id] = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", snames[id]);
      s->arg[id] = argv[++i];
    }
  }
  return 0;
}

/* Which name a setting goes by in a message: its option, or its key when
 * it came from the file. */
static const char *sname(const settings *s, int k) {
  return s->arg[k] || !s->file[k] ? snames[k] : skeys[k];
}

/* The settings in force, checked. 0 or the usage exit code. */
static int resolve(settings *s) {
  for (int k = 0; k < S_N; k++)
    s->v[k] = s->arg[k] ? s->arg[k] : s->file[k];
  static const int required[] = {S_DB, S_DIAMETER, S_IDENTITY, S_REALM};
  for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
    if (!s->v[required[k]])
      return cli_usage(SUB, "missing %s%s", snames[required[k]],
                       s->conf ? " (or its key in the -c file)" : "");
  int tls = strncmp(s->v[S_DIAMETER], "tls:", 4) == 0;
  if (!tls && strncmp(s->v[S_DIAMETER], "tcp:", 4) != 0)
    return cli_usage(SUB, "%s: expected tcp:HOST:PORT or tls:HOST:PORT",
                     sname(s, S_DIAMETER));
  if (tls && (!s->v[S_CERT] || !s->v[S_KEY] || !s->v[S_CA]))
    return cli_usage(SUB, "--diameter tls: needs --diameter-cert, "
                          "--diameter-key and --diameter-ca");
  if (!tls && (s->v[S_CERT] || s->v[S_KEY] || s->v[S_CA]))
    return cli_usage(SUB, "--diameter-cert/-key/-ca go with tls: only");
  return 0;
}

/* freeDiameter's log level for a --log-level (0 errors only, 2 debug). */
static int log_level(const settings *s, const char *v, int *out) {
  if (!v || strcmp(v, "info") == 0 || strcmp(v, "warn") == 0 ||
      strcmp(v, "error") == 0)
    *out = 0;
  else if (strcmp(v, "debug") == 0)
    *out = 2;
  else
    return cli_usage(SUB, "%s: expected error, warn, info or debug",
                     sname(s, S_LOG));
  return 0;
}

static int open_store(const char *db, imsec_hss_store **st) {
  char err[512];
  /* As the S-CSCF opens it: WAL, proven writable (SQN marks are
   * written), a bounded wait per call on a lock another process holds. */
  imsec_hss_db_opts o = {
      .create = 0, .writable = 1, .timeout_ms = 2000, .call_wait_ms = 20};
  o.wal = 1;
  int e = hss_open(st, db, &o, err, sizeof(err));
  if (e < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s%s", err,
                    e == IMSEC_ERR_NOTFOUND ? " (create it with imsec hss add)"
                                            : "");
  return 0;
}

static void cx_config(const settings *s, imsec_cx_config *c) {
  memset(c, 0, sizeof *c);
  c->identity = s->v[S_IDENTITY];
  c->realm = s->v[S_REALM];
  c->addr = s->v[S_DIAMETER];
  c->cert = s->v[S_CERT];
  c->key = s->v[S_KEY];
  c->ca = s->v[S_CA];
}

/* ---------------------------------------------------------- the daemon */

/* What a TLS file was at start, to tell a reload that it changed. */
typedef struct stamp {
  int ok;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} stamp;

static void stamp_take(const char *path, stamp *st) {
  struct stat sb;
  memset(st, 0, sizeof *st);
  if (path && stat(path, &sb) == 0) {
    st->ok = 1;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
  }
}

static int stamp_same(const stamp *a, const stamp *b) {
  return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
         a->mtime.tv_nsec == b->mtime.tv_nsec;
}

typedef struct hss_run {
  settings *s;
  imsec_svc *worker;
  imsec_cx_server *srv;
  pthread_t main_th;
  atomic_int drain_asked;
  pthread_mutex_t reload_mu; /* SIGHUP's reload and the control socket's */
  stamp tls[3];              /* cert, key, CA at start */
  /* The watchdog's probe through the worker (under probe_mu). */
  pthread_mutex_t probe_mu;
  int probe_out;
  int64_t probe_at; /* monotonic ms it was sent */
} hss_run;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line of the daemon's own: through the logger when there is one. */
static void say(imsec_log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(imsec_log_level lv, const char *fmt, ...) {
  /* Formatted whole, never cut: a name cut before its '@' would no longer
   * look like an identity to the logger's pseudonyms. */
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *line = n < 0 ? NULL : malloc((size_t)n + 1);
  if (line)
    vsnprintf(line, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  if (!line)
    return;
  imsec_logger *lg = daemon_ops_log();
  if (lg)
    imsec_logger_printf(lg, NAME, lv, "%s", line);
  else {
    fprintf(stderr, "%s %s: %s\n", NAME, imsec_log_level_name(lv), line);
    fflush(stderr);
  }
  free(line);
}

static void cx_log(void *arg, imsec_log_level lv, const char *text) {
  imsec_logger_printf(arg, "diameter", lv, "%s", text);
}

static int hook_collect(void *arg, imsec_metrics *m) {
  hss_run *r = arg;
  imsec_cx_server_metrics(r->srv, m);
  /* The store's worker: its queue depth. */
  imsec_svc_metrics(r->worker, m);
  return m->err;
}

static int hook_list(void *arg, const char *what, imsec_table *t) {
  hss_run *r = arg;
  return imsec_cx_server_list(r->srv, what, t);
}

static void add_note(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_note(char *msg, size_t cap, const char *fmt, ...) {
  size_t n = strlen(msg);
  if (n + 3 >= cap)
    return;
  if (n) {
    memcpy(msg + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, cap - n, fmt, ap);
  va_end(ap);
}

static int differ(const char *a, const char *b) {
  if (!a || !b)
    return a != b;
  return strcmp(a, b) != 0; /* no secret: settings */
}

/*
 * Reload: read the -c file again. What freeDiameter and the store took at
 * start (the address, identities, TLS files, the database) cannot change
 * under a running core: a change is named as needing a restart. The log
 * level applies at once. A file that no longer parses changes nothing.
 */
static int do_reload(hss_run *r, char *msg, size_t cap) {
  msg[0] = 0;
  settings *s = r->s;
  char restart[512] = "";
  pthread_mutex_lock(&r->reload_mu);
  int rv = 0;
  if (!s->conf) {
    snprintf(msg, cap,
             "no -c file: every setting was taken at start (a change needs "
             "a restart)");
  } else {
    settings n;
    memset(&n, 0, sizeof n);
    memcpy(n.arg, s->arg, sizeof n.arg);
    n.conf = s->conf;
    daemon_ops_opts_init(&n.ops);
    char why[768] = "";
    cli_capture(why, sizeof why);
    int bad = load_file(&n, &n.ops) || resolve(&n);
    int lvl = 0;
    if (!bad)
      bad = log_level(&n, n.v[S_LOG], &lvl);
    cli_capture(NULL, 0);
    if (bad) {
      snprintf(msg, cap, "%s", why[0] ? why : "the -c file is wrong");
      rv = IMSEC_ERR_CONFIG;
    } else {
      for (int k = 0; k < S_N; k++) {
        if (k == S_LOG || !differ(s->v[k], n.v[k]))
          continue;
        add_note(restart, sizeof restart, "%s", skeys[k]);
      }
      /* The file's level, also over one `imsec ctl log-level` set. */
      imsec_cx_log_level(lvl);
      if (differ(s->v[S_LOG], n.v[S_LOG])) {
        add_note(msg, cap, "log_level %s", n.v[S_LOG] ? n.v[S_LOG] : "info");
        free(s->file[S_LOG]);
        s->file[S_LOG] = n.file[S_LOG];
        n.file[S_LOG] = NULL;
        s->v[S_LOG] = s->arg[S_LOG] ? s->arg[S_LOG] : s->file[S_LOG];
      }
      /* The operations keys are taken at start (apps/daemon_ops.h). */
      const daemon_ops_opts *a = &s->ops, *b = &n.ops;
      if (differ(a->ctl_socket, b->ctl_socket))
        add_note(restart, sizeof restart, "ctl_socket");
      if (differ(a->metrics, b->metrics))
        add_note(restart, sizeof restart, "metrics");
      if (a->log_format != b->log_format)
        add_note(restart, sizeof restart, "log_format");
      if (a->log_identities != b->log_identities)
        add_note(restart, sizeof restart, "log_identities");
      if (a->drain_timeout_ms != b->drain_timeout_ms)
        add_note(restart, sizeof restart, "drain_timeout_ms");
    }
    settings_free(&n);
  }
  if (rv == 0) {
    /* freeDiameter loaded the certificate, key and CA into its TLS
     * context at start and cannot take new ones while running. */
    static const int files[3] = {S_CERT, S_KEY, S_CA};
    for (int i = 0; i < 3; i++) {
      stamp now;
      stamp_take(s->v[files[i]], &now);
      if (s->v[files[i]] && !stamp_same(&now, &r->tls[i]))
        add_note(restart, sizeof restart, "%s (changed on disk)",
                 skeys[files[i]]);
    }
    if (restart[0])
      add_note(msg, cap, "needs a restart: %s", restart);
    if (!msg[0])
      snprintf(msg, cap, "no change");
  }
  pthread_mutex_unlock(&r->reload_mu);
  return rv;
}

static int hook_reload(void *arg, char *msg, size_t cap) {
  hss_run *r = arg;
  (void)imsec_notify("RELOADING=1");
  int rv = do_reload(r, msg, cap);
  if (rv < 0)
    say(IMSEC_LOG_ERROR, "reload failed: %s; keeping the running configuration",
        msg);
  else
    say(IMSEC_LOG_INFO, "reloaded: %s", msg);
  (void)imsec_notify("READY=1");
  return rv;
}

/* The drain itself runs on the main thread (run_until_stop): this asks
 * for it and returns, so the control thread can be stopped. */
static int hook_drain(void *arg, int64_t timeout_ms) {
  hss_run *r = arg;
  (void)timeout_ms; /* the options' drain_timeout_ms, read by the main */
  atomic_store(&r->drain_asked, 1);
  pthread_kill(r->main_th, SIGUSR1);
  return 0;
}

static int hook_log_level(void *arg, imsec_log_level lv) {
  (void)arg;
  /* freeDiameter's own lines: notices and debug at debug only. */
  imsec_cx_log_level(lv >= IMSEC_LOG_DEBUG ? 2 : 0);
  return 0;
}

static void probe_done(void *arg, const imsec_svc_req *req,
                       const imsec_svc_reply *rep) {
  (void)req;
  hss_run *r = arg;
  if (!rep->last)
    return;
  pthread_mutex_lock(&r->probe_mu);
  r->probe_out = 0;
  pthread_mutex_unlock(&r->probe_mu);
}

/* The watchdog's check: the previous probe through the store's worker
 * came back (a worker stuck on its disk, or a queue that no longer
 * moves, stops the pings and the service manager restarts the HSS). A
 * lookup of the empty IMPI reads the store and changes nothing. */
static int hook_alive(void *arg) {
  hss_run *r = arg;
  int64_t now = mono_ms();
  pthread_mutex_lock(&r->probe_mu);
  int stuck = r->probe_out && now - r->probe_at > ALIVE_MS;
  int send = !r->probe_out;
  if (send) {
    r->probe_out = 1;
    r->probe_at = now;
  }
  pthread_mutex_unlock(&r->probe_mu);
  if (send) {
    imsec_svc_req req;
    memset(&req, 0, sizeof req);
    req.kind = IMSEC_SVC_HSS_SUB;
    int rv = imsec_svc_submit(r->worker, &req, probe_done, r);
    if (rv < 0) {
      pthread_mutex_lock(&r->probe_mu);
      r->probe_out = 0;
      pthread_mutex_unlock(&r->probe_mu);
      /* A full queue is a busy HSS, not a stuck one. */
      return rv == IMSEC_ERR_BUSY ? 0 : -1;
    }
  }
  return stuck ? -1 : 0;
}

/* Wait for SIGTERM or SIGINT (stop), SIGHUP (reload) and SIGUSR1 (a
 * drain asked on the control socket). Returns the exit code. */
static int run_until_stop(hss_run *r, const sigset_t *set) {
  for (;;) {
    int sig = 0;
    if (sigwait(set, &sig) != 0)
      continue;
    if (sig == SIGHUP) {
      char msg[1024];
      (void)hook_reload(r, msg, sizeof msg);
      continue;
    }
    if (sig == SIGUSR1 && !atomic_load(&r->drain_asked))
      continue;
    if (sig == SIGUSR1)
      break;
    say(IMSEC_LOG_INFO, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return CLI_EXIT_OK;
  }
  /* Drain: new peers and requests refused; the answers in flight leave
   * (bounded by --drain-timeout-ms), then the run ends as on SIGTERM. */
  int64_t limit = r->s->ops.drain_timeout_ms;
  say(IMSEC_LOG_INFO, "draining: %d Cx request(s) in flight, at most %lld ms",
      imsec_cx_server_busy(r->srv), (long long)limit);
  (void)imsec_notify("STATUS=draining");
  imsec_cx_server_drain(r->srv);
  int64_t until = mono_ms() + limit;
  while (imsec_cx_server_busy(r->srv) > 0 && mono_ms() < until) {
    struct timespec ts = {0, 10 * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT)
      break;
  }
  int left = imsec_cx_server_busy(r->srv);
  if (left)
    say(IMSEC_LOG_WARN, "drain: %d Cx request(s) still in flight at the limit",
        left);
  else
    say(IMSEC_LOG_INFO, "drained");
  return CLI_EXIT_OK;
}

/* --check-config: what a start would load, loaded and let go; nothing
 * bound, no peer contacted. */
static int check_only(const settings *s) {
  imsec_hss_store *st = NULL;
  int rv = open_store(s->v[S_DB], &st);
  imsec_hss_store_del(st);
  if (rv)
    return rv;
  imsec_cx_config c;
  cx_config(s, &c);
  char err[512];
  if (imsec_cx_config_check(&c, 1, err, sizeof err) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  if (c.cert) {
    /* The files parse, the key matches the certificate, the CA loads
     * (freeDiameter would only find out at start). */
    imsec_net_tls_config tc;
    memset(&tc, 0, sizeof tc);
    tc.server = 1;
    tc.cert_file = c.cert;
    tc.key_file = c.key;
    tc.ca_file = c.ca;
    imsec_net_tls *t = NULL;
    int e = imsec_net_tls_new(&t, &tc);
    imsec_net_tls_del(t);
    if (e < 0)
      return cli_fail(CLI_EXIT_USAGE, SUB,
                      "diameter TLS: %s (cert %s, key %s, CA %s)",
                      imsec_strerror(e), c.cert, c.key, c.ca);
  }
  printf("imsec %s: configuration ok\n", SUB);
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int hss_serve(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(hss_serve_help, stdout);
    fputs(serve_text, stdout);
    fputs(daemon_ops_help, stdout);
    return CLI_EXIT_OK;
  }
  settings s;
  memset(&s, 0, sizeof s);
  daemon_ops_opts_init(&s.ops);
  int lvl = 0;
  /* The file first, then the command line over it (the options'
   * setters overwrite what the file set). */
  int rv = parse_args(argc, argv, &s);
  if (rv == 0 && s.conf) {
    daemon_ops_opts file_ops;
    daemon_ops_opts_init(&file_ops);
    settings probe;
    memset(&probe, 0, sizeof probe);
    probe.conf = s.conf;
    rv = load_file(&probe, &file_ops);
    if (rv == 0) {
      memcpy(s.file, probe.file, sizeof s.file);
      /* The command line again, over the file's operations keys. */
      s.ops = file_ops;
      memset(s.arg, 0, sizeof s.arg);
      s.conf = NULL;
      rv = parse_args(argc, argv, &s);
    } else {
      settings_free(&probe);
    }
  }
  if (rv == 0)
    rv = resolve(&s);
  if (rv == 0)
    rv = log_level(&s, s.v[S_LOG], &lvl);
  if (rv) {
    settings_free(&s);
    return rv;
  }
  if (s.ops.check_config) {
    rv = check_only(&s);
    settings_free(&s);
    return rv;
  }
  if (daemon_ops_logger(&s.ops) < 0) {
    settings_free(&s);
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the logger");
  }
  /* freeDiameter's own lines through the same logger (JSON too). */
  if (daemon_ops_log())
    imsec_cx_log_sink(cx_log, daemon_ops_log());

  /* The signals the main thread waits for: blocked before any thread
   * starts (the store's worker, freeDiameter's, the control socket's),
   * which inherit the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  hss_run r;
  memset(&r, 0, sizeof r);
  r.s = &s;
  r.main_th = pthread_self();
  atomic_init(&r.drain_asked, 0);
  pthread_mutex_init(&r.reload_mu, NULL);
  pthread_mutex_init(&r.probe_mu, NULL);

  imsec_hss_store *st = NULL;
  imsec_crypto *crypto = NULL;
  imsec_hss *hss = NULL;
  imsec_svc *local = NULL;
  daemon_ops *ops = NULL;
  if ((rv = open_store(s.v[S_DB], &st)) != 0)
    goto done;
  /* The worker alone uses this crypto backend (svc.h). */
  if (imsec_crypto_ossl_new(&crypto) < 0 ||
      imsec_hss_new(&hss, st, crypto, NULL) < 0 ||
      imsec_hss_set_sqn_range(hss, SQN_RANGE, 0) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the crypto backend");
    goto done;
  }
  imsec_svc_local_config lc = {.hss = hss};
  if (imsec_svc_local_new(&local, &lc) < 0 ||
      imsec_svc_worker_new(&r.worker, local, QUEUE_MAX) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    goto done;
  }

  imsec_cx_config c;
  cx_config(&s, &c);
  stamp_take(c.cert, &r.tls[0]);
  stamp_take(c.key, &r.tls[1]);
  stamp_take(c.ca, &r.tls[2]);
  char err[512] = "";
  imsec_cx_log_level(lvl);
  int e = imsec_cx_server_new(&r.srv, &c, r.worker, err, sizeof err);
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "%s %s: %s", sname(&s, S_DIAMETER),
                  s.v[S_DIAMETER], err[0] ? err : imsec_strerror(e));
    goto done;
  }
  daemon_ops_hooks h;
  memset(&h, 0, sizeof h);
  h.arg = &r;
  h.collect = hook_collect;
  h.list = hook_list;
  h.reload = hook_reload;
  h.drain = hook_drain;
  h.set_log_level = hook_log_level;
  h.alive = hook_alive;
  if (daemon_ops_start(&ops, &s.ops, NAME, &h, err, sizeof err) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
    goto done;
  }
  say(IMSEC_LOG_INFO, "listening on diameter %s", s.v[S_DIAMETER]);
  rv = run_until_stop(&r, &set);
done:
  /* The operator's side first (STOPPING=1; no scrape reaches what goes
   * next), then the server (it waits for the answers the worker still
   * owes), then the worker (it finishes the SQN writes queued). */
  daemon_ops_stop(ops);
  imsec_cx_server_del(r.srv);
  imsec_svc_del(r.worker);
  imsec_svc_del(local);
  imsec_hss_del(hss);
  imsec_crypto_del(crypto);
  imsec_hss_store_del(st);
  pthread_mutex_destroy(&r.reload_mu);
  pthread_mutex_destroy(&r.probe_mu);
  settings_free(&s);
  return rv;
}
