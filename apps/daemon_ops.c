/*
 * The daemons' operator side (apps/daemon_ops.h): the options and YAML
 * keys of the control socket, /metrics, logs and the configuration check;
 * the control socket's commands; the hooks that run them on a hostnet
 * port; start and stop with the service manager's notifications.
 *
 * The logger itself (daemon_ops_log, daemon_ops_logger) is in
 * apps/daemon_log.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon_ops.h"

/* How long a control command waits for the element's loop: an answer that
 * takes longer says the loop is stuck, which is worth saying. */
#define LOOP_WAIT_MS 5000
/* The watchdog's check: the loop answers a no-op within this. */
#define ALIVE_WAIT_MS 2000
#define DRAIN_MAX_MS 86400000 /* a day */

const char daemon_ops_help[] =
    "  --ctl-socket PATH|none   the control socket `imsec ctl` talks to\n"
    "                           (a Unix socket, mode 0600; default\n"
    "                           $RUNTIME_DIRECTORY/NAME.ctl when systemd\n"
    "                           sets RUNTIME_DIRECTORY, else none)\n"
    "  --metrics tcp:HOST:PORT  serve Prometheus metrics at\n"
    "                           http://HOST:PORT/metrics (HOST an IP\n"
    "                           address; port 0 picks one, printed on\n"
    "                           stdout)\n"
    "  --log-format text|json   log lines as text (default) or one JSON\n"
    "                           object a line\n"
    "  --log-identities         write IMPIs and IMPUs in log lines as they\n"
    "                           are (default: a pseudonym per identity,\n"
    "                           stable within a run)\n"
    "  --drain-timeout-ms MS    how long `imsec ctl drain` lets work in\n"
    "                           flight finish before the daemon exits\n"
    "                           (default 30000)\n"
    "  --check-config           load and check the configuration (files,\n"
    "                           certificates, keys, CA files, routes,\n"
    "                           databases) without binding or starting;\n"
    "                           prints \"configuration ok\" and exits 0, or\n"
    "                           one line on stderr and exits 2\n"
    "  The -c file takes the same as ctl_socket, metrics, log_format,\n"
    "  log_identities (true/false) and drain_timeout_ms; flags override\n"
    "  it. They are taken at start: a reload that finds them changed in\n"
    "  the file says \"needs a restart\".\n";

void daemon_ops_opts_init(daemon_ops_opts *o) {
  memset(o, 0, sizeof(*o));
  o->log_format = IMSEC_LOG_FORMAT_TEXT;
  o->drain_timeout_ms = 30000;
}

/* ------------------------------------------------------------ the values
 * One checker per option, shared by the flags and the YAML keys: 0 or -1
 * with why in err. */

static int set_ctl(daemon_ops_opts *o, const char *v, char *err, size_t cap) {
  /* A Unix socket path fits sockaddr_un.sun_path (108 with its NUL). */
  if (!v[0] || strlen(v) > 107) {
    snprintf(err, cap, "expected a socket path of 1 to 107 octets or none");
    return -1;
  }
  o->ctl_socket = v;
  return 0;
}

static int set_metrics(daemon_ops_opts *o, const char *v, char *err,
                       size_t cap) {
  imsec_addr a;
  if (imsec_addr_parse_listen(imsec_str_c(v), &a) < 0 || a.tp != IMSEC_TP_TCP) {
    snprintf(err, cap, "expected tcp:HOST:PORT (HOST an IP address), not '%s'",
             v);
    return -1;
  }
  o->metrics = v;
  return 0;
}

static int set_format(daemon_ops_opts *o, const char *v, char *err,
                      size_t cap) {
  if (strcmp(v, "text") == 0)
    o->log_format = IMSEC_LOG_FORMAT_TEXT;
  else if (strcmp(v, "json") == 0)
    o->log_format = IMSEC_LOG_FORMAT_JSON;
  else {
    snprintf(err, cap, "expected text or json, not '%s'", v);
    return -1;
  }
  return 0;
}

static int set_drain(daemon_ops_opts *o, const char *v, char *err, size_t cap) {
  uint64_t ms;
  if (imsec_str_to_u64(imsec_str_c(v), DRAIN_MAX_MS, &ms) < 0) {
    snprintf(err, cap, "expected milliseconds from 0 to %d, not '%s'",
             DRAIN_MAX_MS, v);
    return -1;
  }
  o->drain_timeout_ms = (int64_t)ms;
  return 0;
}

static int set_bool(int *dst, const char *v, char *err, size_t cap) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (imsec_str_ieq_c(imsec_str_c(v), yes[i])) {
      *dst = 1;
      return 0;
    }
    if (imsec_str_ieq_c(imsec_str_c(v), no[i])) {
      *dst = 0;
      return 0;
    }
  }
  snprintf(err, cap, "expected true or false, not '%s'", v);
  return -1;
}

int daemon_ops_arg(daemon_ops_opts *o, const char *sub, int argc, char **argv,
                   int *i) {
  const char *a = argv[*i];
  if (strcmp(a, "--log-identities") == 0) {
    o->log_identities = 1;
    return 1;
  }
  if (strcmp(a, "--check-config") == 0) {
    o->check_config = 1;
    return 1;
  }
  int (*set)(daemon_ops_opts *, const char *, char *, size_t) = NULL;
  if (strcmp(a, "--ctl-socket") == 0)
    set = set_ctl;
  else if (strcmp(a, "--metrics") == 0)
    set = set_metrics;
  else if (strcmp(a, "--log-format") == 0)
    set = set_format;
  else if (strcmp(a, "--drain-timeout-ms") == 0)
    set = set_drain;
  else
    return 0;
  if (*i + 1 >= argc)
    return cli_usage(sub, "%s needs a value", a);
  char err[256];
  if (set(o, argv[++*i], err, sizeof(err)) < 0)
    return cli_usage(sub, "%s: %s", a, err);
  return 1;
}

/* Values from -c files outlive the parse: the options point at them, and a
 * reload compares the running options with the new ones. Each distinct
 * value is kept once until exit (a reload with the same file adds
 * nothing), in a list a global reaches. */
typedef struct kept_value {
  struct kept_value *next;
  char s[];
} kept_value;
static kept_value *kept_values;
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *keep_value(const char *v) {
  pthread_mutex_lock(&kept_mu);
  kept_value *k = kept_values;
  while (k && strcmp(k->s, v) != 0)
    k = k->next;
  if (!k) {
    size_t n = strlen(v);
    k = malloc(sizeof(*k) + n + 1);
    if (k) {
      memcpy(k->s, v, n + 1);
      k->next = kept_values;
      kept_values = k;
    }
  }
  pthread_mutex_unlock(&kept_mu);
  return k ? k->s : NULL;
}

int daemon_ops_yaml_key(daemon_ops_opts *o, const char *key, const char *value,
                        char *err, size_t errcap) {
  int (*set)(daemon_ops_opts *, const char *, char *, size_t) = NULL;
  if (strcmp(key, "ctl_socket") == 0)
    set = set_ctl;
  else if (strcmp(key, "metrics") == 0)
    set = set_metrics;
  else if (strcmp(key, "log_format") == 0)
    set = set_format;
  else if (strcmp(key, "drain_timeout_ms") == 0)
    set = set_drain;
  else if (strcmp(key, "log_identities") != 0)
    return 0;
  if (!set)
    return set_bool(&o->log_identities, value, err, errcap) < 0
               ? IMSEC_ERR_CONFIG
               : 1;
  const char *copy = keep_value(value);
  if (!copy) {
    snprintf(err, errcap, "out of memory");
    return IMSEC_ERR_NOMEM;
  }
  return set(o, copy, err, errcap) < 0 ? IMSEC_ERR_CONFIG : 1;
}

int daemon_ops_conf(daemon_ops_opts *o, const char *sub, const char *file,
                    const imsec_conf_ops *c) {
  for (int i = 0; i < IMSEC_CONF_OPS_N; i++) {
    if (!c->value[i][0])
      continue;
    char err[256];
    if (daemon_ops_yaml_key(o, imsec_conf_ops_keys[i], c->value[i], err,
                            sizeof(err)) < 0)
      return cli_fail(CLI_EXIT_USAGE, sub, "%s:%zu: key '%s': %s", file,
                      c->line[i], imsec_conf_ops_keys[i], err);
  }
  return 0;
}

/* A file the context would read: 0, or -1 after one line naming it. */
static int check_readable(const char *sub, const char *what, const char *f) {
  FILE *fp = f ? fopen(f, "r") : NULL;
  if (!f || fp) {
    if (fp)
      fclose(fp);
    return 0;
  }
  cli_fail(CLI_EXIT_USAGE, sub, "%s: %s: %s", what, f, strerror(errno));
  return -1;
}

int daemon_ops_check_tls(const char *sub, const char *what,
                         const imsec_net_tls_config *cfg, int server) {
  imsec_net_tls_config c = *cfg;
  c.server = server;
  /* Which file, first: the context's own error says only that one of
   * them did not do. */
  if (check_readable(sub, what, c.cert_file) ||
      check_readable(sub, what, c.key_file) ||
      check_readable(sub, what, c.ca_file))
    return CLI_EXIT_USAGE;
  for (size_t i = 0; c.more_ca_files && c.more_ca_files[i]; i++)
    if (check_readable(sub, what, c.more_ca_files[i]))
      return CLI_EXIT_USAGE;
  imsec_net_tls *t = NULL;
  int rc = imsec_net_tls_new(&t, &c);
  imsec_net_tls_del(t);
  if (rc == 0)
    return 0;
  return cli_fail(CLI_EXIT_USAGE, sub,
                  "%s: %s (not PEM, or the key does not match the "
                  "certificate; cert %s, key %s, CA %s)",
                  what, imsec_strerror(rc), c.cert_file ? c.cert_file : "-",
                  c.key_file ? c.key_file : "-", c.ca_file ? c.ca_file : "-");
}

int daemon_ops_config_ok(const char *sub) {
  printf("imsec %s: configuration ok\n", sub);
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

/* ------------------------------------------------------ hostnet hooks */

static int hn_collect(void *arg, imsec_metrics *m) {
  return imsec_hostnet_metrics(arg, m, LOOP_WAIT_MS);
}

static int hn_list(void *arg, const char *what, imsec_table *t) {
  return imsec_hostnet_list(arg, what, t, LOOP_WAIT_MS);
}

static int hn_reload(void *arg, char *msg, size_t cap) {
  return imsec_hostnet_reload(arg, msg, cap);
}

static int hn_drain(void *arg, int64_t timeout_ms) {
  return imsec_hostnet_drain(arg, timeout_ms);
}

typedef struct level_call {
  imsec_hostnet *r;
  imsec_log_level level;
} level_call;

static void on_level(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  (void)out;
  level_call *lc = arg;
  imsec_hostnet_set_log_level(lc->r, lc->level);
}

static int hn_set_log_level(void *arg, imsec_log_level lv) {
  level_call lc = {.r = arg, .level = lv};
  return imsec_hostnet_call_wait(arg, on_level, &lc, LOOP_WAIT_MS);
}

static void on_nothing(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  (void)self;
  (void)now;
  (void)out;
  (void)arg;
}

static int hn_alive(void *arg) {
  return imsec_hostnet_call_wait(arg, on_nothing, NULL, ALIVE_WAIT_MS);
}

void daemon_ops_hostnet_hooks(daemon_ops_hooks *h, imsec_hostnet *r) {
  memset(h, 0, sizeof(*h));
  h->arg = r;
  h->collect = hn_collect;
  h->list = hn_list;
  h->reload = hn_reload;
  h->drain = hn_drain;
  h->set_log_level = hn_set_log_level;
  h->alive = hn_alive;
}

void daemon_ops_hostnet_config(const daemon_ops_opts *o,
                               imsec_hostnet_config *cfg) {
  (void)o; /* the logger was made from them (daemon_ops_logger) */
  imsec_logger *lg = daemon_ops_log();
  if (lg) {
    cfg->log_fn = imsec_logger_event;
    cfg->log_user = lg;
  }
  cfg->notify = imsec_notify_fn;
  cfg->notify_user = NULL;
}

/* ------------------------------------------------------ the commands */

struct daemon_ops {
  daemon_ops_opts o;
  char name[32];
  daemon_ops_hooks h;
  imsec_ctl *ctl;
  imsec_metrics_http *http;
  imsec_watchdog *wd;
  char ctl_path[128];
  atomic_int draining;
  pthread_t drain_thread; /* set on the control thread, joined at stop */
  int drain_started;
};

static const char *const listings[] = {"flows", "registrations", "bindings",
                                       "peers"};

/* A sample's value as text: whole numbers without a fraction. */
static void fmt_value(char *buf, size_t cap, double v) {
  if (v == (double)(int64_t)v && v < 9.0e15 && v > -9.0e15)
    snprintf(buf, cap, "%lld", (long long)v);
  else
    snprintf(buf, cap, "%.15g", v);
}

static int stats_row(imsec_table *t, const char *name, const char *suffix,
                     const char *labels, const char *value) {
  char key[512];
  snprintf(key, sizeof(key), "%s%s%s%s%s", name, suffix, labels[0] ? "{" : "",
           labels, labels[0] ? "}" : "");
  const char *cells[2] = {key, value};
  return imsec_table_add(t, cells);
}

/* `imsec ctl stats` as text: one row per sample, name{labels} and its
 * value; a histogram as its _count and _sum (the buckets are in --json
 * and /metrics). */
static int stats_table(const imsec_metrics *m, imsec_buf *out) {
  static const char *const cols[] = {"metric", "value"};
  imsec_table t;
  memset(&t, 0, sizeof(t));
  int rc = imsec_table_init(&t, cols, 2);
  for (size_t i = 0; rc == 0 && i < m->n; i++) {
    const imsec_metric_family *f = &m->f[i];
    for (size_t j = 0; rc == 0 && j < f->n; j++) {
      const imsec_metric_sample *s = &f->s[j];
      const char *labels = s->labels ? s->labels : "";
      char v[64];
      if (f->type == IMSEC_METRIC_HISTOGRAM) {
        fmt_value(v, sizeof(v), (double)s->hist.count);
        rc = stats_row(&t, f->name, "_count", labels, v);
        fmt_value(v, sizeof(v), s->hist.sum);
        if (rc == 0)
          rc = stats_row(&t, f->name, "_sum", labels, v);
      } else {
        fmt_value(v, sizeof(v), s->value);
        rc = stats_row(&t, f->name, "", labels, v);
      }
    }
  }
  if (rc == 0)
    rc = t.err ? t.err : imsec_table_render_text(&t, out);
  imsec_table_free(&t);
  return rc;
}

static int cmd_stats(daemon_ops *d, const imsec_ctl_request *rq,
                     imsec_buf *out) {
  imsec_metrics m = {0};
  int rc = d->h.collect ? d->h.collect(d->h.arg, &m) : 0;
  if (rc == IMSEC_ERR_TIMEOUT) {
    imsec_metrics_free(&m);
    imsec_buf_adds(out, "the daemon's loop did not answer in time");
    return rc;
  }
  imsec_process_metrics(&m);
  if (m.err) {
    rc = m.err;
    imsec_metrics_free(&m);
    return rc;
  }
  rc = rq->json ? imsec_metrics_render_json(&m, out) : stats_table(&m, out);
  imsec_metrics_free(&m);
  return rc;
}

static int cmd_list(daemon_ops *d, const imsec_ctl_request *rq,
                    imsec_buf *out) {
  imsec_table t;
  memset(&t, 0, sizeof(t));
  int rc = d->h.list ? d->h.list(d->h.arg, rq->cmd, &t) : IMSEC_ERR_UNSUPPORTED;
  if (rc == IMSEC_ERR_UNSUPPORTED) {
    imsec_table_free(&t);
    char line[160];
    snprintf(line, sizeof(line), "%s has no %s listing", d->name, rq->cmd);
    imsec_buf_adds(out, line);
    return rc;
  }
  if (rc == IMSEC_ERR_TIMEOUT) {
    imsec_table_free(&t);
    imsec_buf_adds(out, "the daemon's loop did not answer in time");
    return rc;
  }
  if (rc == 0 && !t.ncols) {
    /* Nobody filled it: an empty listing has no columns to show. */
    static const char *const none[] = {"none"};
    rc = imsec_table_init(&t, none, 1);
  }
  if (rc == 0)
    rc = t.err      ? t.err
         : rq->json ? imsec_table_render_json(&t, out)
                    : imsec_table_render_text(&t, out);
  imsec_table_free(&t);
  return rc;
}

static int cmd_reload(daemon_ops *d, const imsec_ctl_request *rq,
                      imsec_buf *out) {
  char msg[1024] = "";
  int rc = d->h.reload ? d->h.reload(d->h.arg, msg, sizeof(msg))
                       : IMSEC_ERR_UNSUPPORTED;
  if (rc == IMSEC_ERR_UNSUPPORTED && !msg[0])
    snprintf(msg, sizeof(msg), "%s cannot reload", d->name);
  if (rc < 0) {
    /* The same words as the log line of a failed SIGHUP. */
    imsec_buf_adds(out, "reload failed: ");
    imsec_buf_adds(out, msg[0] ? msg : imsec_strerror(rc));
    imsec_buf_adds(out, "; keeping the running configuration");
    return rc;
  }
  if (rq->json) {
    imsec_buf_adds(out, "{\"result\":\"reloaded\",\"note\":");
    imsec_buf_add_json_str(out, msg, strlen(msg));
    imsec_buf_adds(out, "}\n");
  } else {
    imsec_buf_adds(out, "reloaded");
    if (msg[0]) {
      imsec_buf_adds(out, "; ");
      imsec_buf_adds(out, msg);
    }
    imsec_buf_adds(out, "\n");
  }
  return out->err;
}

static void *drain_main(void *arg) {
  daemon_ops *d = arg;
  (void)d->h.drain(d->h.arg, d->o.drain_timeout_ms);
  return NULL;
}

/* The drain on a thread of its own: the control socket keeps answering
 * meanwhile (`imsec ctl stats` shows the work in flight going down). */
static void drain_after(void *arg) {
  daemon_ops *d = arg;
  if (atomic_exchange(&d->draining, 1))
    return; /* one drain at a time: the first one ends the daemon */
  if (pthread_create(&d->drain_thread, NULL, drain_main, d) == 0)
    d->drain_started = 1;
  else
    (void)drain_main(d); /* no thread: on this one, the socket waits */
}

static int cmd_drain(daemon_ops *d, const imsec_ctl_request *rq, imsec_buf *out,
                     void (**after)(void *)) {
  if (!d->h.drain) {
    char line[128];
    snprintf(line, sizeof(line), "%s cannot drain", d->name);
    imsec_buf_adds(out, line);
    return IMSEC_ERR_UNSUPPORTED;
  }
  char ms[24];
  snprintf(ms, sizeof(ms), "%lld", (long long)d->o.drain_timeout_ms);
  if (rq->json) {
    imsec_buf_adds(out, "{\"result\":\"draining\",\"timeout_ms\":");
    imsec_buf_adds(out, ms);
    imsec_buf_adds(out, "}\n");
  } else {
    imsec_buf_adds(out, "draining: no new flows; exiting once work in "
                        "flight is done, within ");
    imsec_buf_adds(out, ms);
    imsec_buf_adds(out, " ms\n");
  }
  /* Answered first: the drain ends the run, and with it this socket. */
  *after = drain_after;
  return out->err;
}

static int cmd_log_level(daemon_ops *d, const imsec_ctl_request *rq,
                         imsec_buf *out) {
  imsec_log_level lv;
  if (!rq->arg || imsec_hostnet_log_level_parse(rq->arg, &lv) < 0) {
    imsec_buf_adds(out, "log-level needs debug, info, warn or error");
    return IMSEC_ERR_PARSE;
  }
  int rc = d->h.set_log_level ? d->h.set_log_level(d->h.arg, lv)
                              : IMSEC_ERR_UNSUPPORTED;
  if (rc < 0) {
    imsec_buf_adds(out, rc == IMSEC_ERR_TIMEOUT
                            ? "the daemon's loop did not answer in time"
                            : imsec_strerror(rc));
    return rc;
  }
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (rq->json) {
    imsec_buf_adds(out, "{\"log_level\":\"");
    imsec_buf_adds(out, names[lv]);
    imsec_buf_adds(out, "\"}\n");
  } else {
    imsec_buf_adds(out, "log level ");
    imsec_buf_adds(out, names[lv]);
    imsec_buf_adds(out, "\n");
  }
  return out->err;
}

static int ctl_handle(void *arg, const imsec_ctl_request *rq, imsec_buf *out,
                      void (**after)(void *arg)) {
  daemon_ops *d = arg;
  const char *c = rq->cmd;
  if (strcmp(c, "log-level") != 0 && rq->arg) {
    imsec_buf_adds(out, "this command takes no argument");
    return IMSEC_ERR_PARSE;
  }
  if (strcmp(c, "stats") == 0)
    return cmd_stats(d, rq, out);
  for (size_t i = 0; i < sizeof(listings) / sizeof(listings[0]); i++)
    if (strcmp(c, listings[i]) == 0)
      return cmd_list(d, rq, out);
  if (strcmp(c, "reload") == 0)
    return cmd_reload(d, rq, out);
  if (strcmp(c, "drain") == 0)
    return cmd_drain(d, rq, out, after);
  if (strcmp(c, "log-level") == 0)
    return cmd_log_level(d, rq, out);
  imsec_buf_adds(out, "unknown command (stats, flows, registrations, "
                      "bindings, peers, reload, drain, log-level LEVEL)");
  return IMSEC_ERR_PARSE;
}

/* ----------------------------------------------------- start and stop */

static int collect_all(void *arg, imsec_metrics *m) {
  daemon_ops *d = arg;
  return d->h.collect ? d->h.collect(d->h.arg, m) : 0;
}

/* "control socket PATH": through the logger when there is one. */
static void say_socket(const daemon_ops *d) {
  imsec_logger *lg = daemon_ops_log();
  if (lg)
    imsec_logger_printf(lg, d->name, IMSEC_LOG_INFO, "control socket %s",
                        d->ctl_path);
  else
    fprintf(stderr, "%s info: control socket %s\n", d->name, d->ctl_path);
}

int daemon_ops_start(daemon_ops **out, const daemon_ops_opts *o,
                     const char *name, const daemon_ops_hooks *h, char *err,
                     size_t errcap) {
  if (err && errcap)
    err[0] = 0;
  *out = NULL;
  daemon_ops *d = calloc(1, sizeof(*d));
  if (!d) {
    snprintf(err, errcap, "out of memory");
    return IMSEC_ERR_NOMEM;
  }
  d->o = *o;
  d->h = *h;
  snprintf(d->name, sizeof(d->name), "%s", name);
  int rc = 0;
  if (!o->ctl_socket)
    (void)imsec_ctl_default_path(name, d->ctl_path, sizeof(d->ctl_path));
  else if (strcmp(o->ctl_socket, "none") != 0)
    snprintf(d->ctl_path, sizeof(d->ctl_path), "%s", o->ctl_socket);
  if (d->ctl_path[0]) {
    rc = imsec_ctl_start(&d->ctl, d->ctl_path, ctl_handle, d, err, errcap);
    if (rc < 0)
      goto fail;
    say_socket(d);
  }
  if (o->metrics) {
    rc = imsec_metrics_http_start(&d->http, o->metrics, collect_all, d, err,
                                  errcap);
    if (rc < 0)
      goto fail;
    imsec_addr a;
    if (imsec_addr_parse_listen(imsec_str_c(o->metrics), &a) < 0)
      a.host[0] = 0; /* checked when the option was read */
    int v6 = strchr(a.host, ':') != NULL;
    printf("%s: metrics on http://%s%s%s:%u/metrics\n", name, v6 ? "[" : "",
           a.host, v6 ? "]" : "", (unsigned)imsec_metrics_http_port(d->http));
    fflush(stdout);
  }
  if (h->alive) {
    rc = imsec_watchdog_start(&d->wd, h->alive, h->arg);
    if (rc < 0) {
      snprintf(err, errcap, "cannot start the watchdog: %s",
               imsec_strerror(rc));
      goto fail;
    }
  }
  (void)imsec_notify("READY=1");
  *out = d;
  return 0;

fail:
  if (d->http)
    imsec_metrics_http_stop(d->http);
  imsec_ctl_stop(d->ctl);
  free(d);
  return rc;
}

void daemon_ops_stop(daemon_ops *d) {
  if (!d)
    return;
  (void)imsec_notify("STOPPING=1");
  if (d->wd)
    imsec_watchdog_stop(d->wd);
  imsec_ctl_stop(d->ctl);
  /* After the control thread (which started it) has ended: a drain ends
   * the run just before it returns, or sees the run ending and returns. */
  if (d->drain_started)
    pthread_join(d->drain_thread, NULL);
  if (d->http)
    imsec_metrics_http_stop(d->http);
  free(d);
}
