/*
 * imsec scscf: the S-CSCF daemon: lib/scscf with the SQLite HSS, run over
 * net/ by the shared element driver (apps/elemrun.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "elemrun.h"
#include "reload.h"
#include "imsec/hss.h"
#include "imsec/scscf.h"

static const char help[] =
    "usage: imsec scscf --listen tcp:HOST:PORT [--listen tls:HOST:PORT]\n"
    "                   --domain DOMAIN --db FILE [-c FILE]\n"
    "                   [--advertise tcp:HOST:PORT] [--cert CHAIN.pem\n"
    "                   --key KEY.pem] [--nonce-lifetime S]\n"
    "                   [--expires-min S] [--expires-max S]\n"
    "                   [--expires-default S] [--log-level LEVEL] [--ladder]\n"
    "\n"
    "Run an S-CSCF: the registrar and Digest AKA authenticator of the home\n"
    "network DOMAIN (also the realm), with its HSS in the SQLite FILE\n"
    "(manage it with `imsec hss`), routing MESSAGE and OPTIONS to registered\n"
    "users via their Path. Logs go to stderr, one line per event; SIGTERM\n"
    "and SIGINT stop it. SIGHUP reloads: the -c file is read again under\n"
    "the same flags, the certificate and key files too; everything is\n"
    "checked first, then the log level, the nonce lifetime, the expiry\n"
    "bounds and the certificate are applied (new TLS handshakes use it;\n"
    "connections already up keep theirs). A reload that fails logs \"reload\n"
    "failed: WHY\" and keeps the running configuration; listen, domain, db,\n"
    "advertise, txn_timeout and max_txns are logged as \"needs a restart\".\n"
    "\n"
    "  --listen ADDR         listen address (repeatable; port 0: any free)\n"
    "  --domain DOMAIN       home network domain name\n"
    "  --db FILE             HSS database (imsec hss add creates it)\n"
    "  -c FILE               YAML config with the same keys (domain, db,\n"
    "                        listen, advertise, cert, key, nonce_lifetime,\n"
    "                        expires_min, expires_max, expires_default,\n"
    "                        txn_timeout, max_txns, log_level); flags\n"
    "                        override it\n"
    "  --advertise ADDR      the address in Service-Route and Via (default:\n"
    "                        the first listen address)\n"
    "  --cert, --key         certificate chain and key for tls: listeners\n"
    "  --nonce-lifetime S    seconds a challenge stays valid (default 30)\n"
    "  --expires-min S       shortest registration accepted (default 60)\n"
    "  --expires-max S       longest registration granted (default 3600)\n"
    "  --expires-default S   when the REGISTER gives none (default 600)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --ladder              print one line per message sent or received\n"
    "\n"
    "Exit status: 0 stopped cleanly, 2 usage, configuration or start-up\n"
    "error.\n";

#define SUB "scscf"

/* The runner's handle: the element is made after the listeners are bound
 * (their real ports go into Service-Route). */
typedef struct host {
  imsec_scscf *s;
} host;

static int h_up(void *self, uint64_t f, uint64_t t, const imsec_flow_info *i,
                imsec_time_ms n, imsec_out *o) {
  return imsec_scscf_on_flow_up(((host *)self)->s, f, t, i, n, o);
}
static void h_msg(void *self, uint64_t f, const uint8_t *m, size_t l,
                  imsec_time_ms n, imsec_out *o) {
  imsec_scscf_on_message(((host *)self)->s, f, m, l, n, o);
}
static void h_down(void *self, uint64_t f, uint64_t t, int r, imsec_time_ms n,
                   imsec_out *o) {
  imsec_scscf_on_flow_down(((host *)self)->s, f, t, r, n, o);
}
static void h_timer(void *self, uint64_t id, imsec_time_ms n, imsec_out *o) {
  imsec_scscf_on_timer(((host *)self)->s, id, n, o);
}

static const elemrun_ops host_ops = {
    .on_flow_up = h_up,
    .on_message = h_msg,
    .on_flow_down = h_down,
    .on_timer = h_timer,
};

typedef struct opts {
  const char *domain, *db, *conf, *advertise, *cert, *key, *log_level;
  const char *listen[IMSEC_SCSCF_MAX_LISTEN];
  size_t n_listen;
  int64_t nonce_lifetime, expires_min, expires_max, expires_default;
  int ladder;
} opts;

static int num_opt(const char *opt, const char *v, int64_t max, int64_t *out) {
  uint64_t x;
  if (imsec_str_to_u64(imsec_str_c(v), (uint64_t)max, &x) < 0)
    return cli_usage(SUB, "%s: expected seconds (0..%lld), got '%s'", opt,
                     (long long)max, v);
  *out = (int64_t)x;
  return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof(*o));
  o->nonce_lifetime = o->expires_min = o->expires_max = o->expires_default = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--ladder") == 0) {
      o->ladder = 1;
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
                                             "--expires-default"};
    size_t k = 0, nk = sizeof(with_value) / sizeof(with_value[0]);
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    while (k < nk && !(strlen(with_value[k]) == nlen &&
                       strncmp(a, with_value[k], nlen) == 0))
      k++;
    if (k == nk) {
      if (a[0] == '-')
        return cli_usage(SUB, "unknown option '%.*s'", (int)nlen, a);
      return cli_usage(SUB, "unexpected argument '%s'", a);
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", with_value[k]);
      v = argv[++i];
    }
    const char **slot = NULL;
    int rv = 0;
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
    default:
      rv = num_opt(with_value[k], v, 86400 * 365, &o->expires_default);
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

static const char *pick(const char *flag, const char *file) {
  return flag ? flag : file;
}
static int64_t pick_n(int64_t flag, int64_t file) {
  return flag >= 0 ? flag : file;
}

/* The effective settings for a reload: the flags over the file, as run()
 * picks them. */
static void view_of(const opts *o, const imsec_scscf_file *f, reload_scscf *v) {
  memset(v, 0, sizeof(*v));
  v->domain = pick(o->domain, f->domain);
  v->db = pick(o->db, f->db);
  v->advertise = pick(o->advertise, f->advertise);
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
}

/* SIGHUP: the -c file again under the same flags, applied by
 * apps/reload.c. */
typedef struct reloader {
  const opts *o;
  const reload_scscf *running;
  host *h;
} reloader;

static int on_reload(void *arg, elemrun *r, char *msg, size_t cap) {
  reloader *rl = arg;
  imsec_scscf_file file;
  memset(&file, 0, sizeof(file));
  file.nonce_lifetime = file.expires_min = file.expires_max =
      file.expires_default = -1;
  file.txn_timeout = file.max_txns = -1;
  if (rl->o->conf && imsec_scscf_file_load(rl->o->conf, &file, msg, cap) < 0) {
    imsec_scscf_file_free(&file);
    return IMSEC_ERR_CONFIG;
  }
  reload_scscf next;
  view_of(rl->o, &file, &next);
  int rv = reload_scscf_apply(r, rl->h->s, rl->running, &next, msg, cap);
  imsec_scscf_file_free(&file);
  return rv;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  opts o;
  int rv = parse_args(argc, argv, &o);
  if (rv)
    return rv;
  imsec_scscf_file file;
  memset(&file, 0, sizeof(file));
  file.nonce_lifetime = file.expires_min = file.expires_max =
      file.expires_default = -1;
  file.txn_timeout = file.max_txns = -1;
  if (o.conf) {
    char err[512];
    if (imsec_scscf_file_load(o.conf, &file, err, sizeof(err)) < 0)
      return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
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
  imsec_hss_store *st = NULL;
  imsec_hss *hss = NULL;
  elemrun *r = NULL;
  host h = {NULL};
  elemrun_listener ls[IMSEC_SCSCF_MAX_LISTEN];
  imsec_net_tls_config tls_cfg;
  memset(ls, 0, sizeof(ls));
  memset(&tls_cfg, 0, sizeof(tls_cfg));
  imsec_log_level level = IMSEC_LOG_INFO;

  if (!domain) {
    rv = cli_usage(SUB, "missing --domain%s", where);
    goto done;
  }
  if (!db) {
    rv = cli_usage(SUB, "missing --db%s", where);
    goto done;
  }
  if (!n_listen) {
    rv = cli_usage(SUB, "missing --listen%s", where);
    goto done;
  }
  if (lvl && elemrun_log_level_parse(lvl, &level) < 0) {
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
  imsec_addr self;
  if (adv && imsec_addr_parse(imsec_str_c(adv), &self) < 0) {
    rv = cli_usage(SUB, "--advertise: expected tp:HOST:PORT, got '%s'", adv);
    goto done;
  }

  char err[512];
  int e = imsec_hss_db_open(&st, db, 0, err, sizeof(err));
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--db %s%s", err,
                  e == IMSEC_ERR_NOTFOUND ? " (create it with imsec hss add)"
                                          : "");
    goto done;
  }
  if (imsec_crypto_ossl_new(&crypto) < 0 ||
      imsec_hss_new(&hss, st, crypto, NULL) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the crypto backend");
    goto done;
  }
  elemrun_config rc;
  memset(&rc, 0, sizeof(rc));
  rc.name = "scscf";
  rc.ops = &host_ops;
  rc.self = &h;
  rc.listeners = ls;
  rc.n_listeners = n_listen;
  rc.log_level = level;
  rc.net_log_level = IMSEC_NET_LOG_ERROR;
  rc.ladder = o.ladder;
  rc.signals = 1;
  reload_scscf started;
  view_of(&o, &file, &started);
  reloader rl = {.o = &o, .running = &started, .h = &h};
  rc.reload = on_reload;
  rc.reload_arg = &rl;
  if (elemrun_new(&r, &rc, err, sizeof(err)) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
    goto done;
  }
  if (!adv) {
    /* The first listener, with the port it really got. */
    self = ls[0].addr;
    self.port = elemrun_port(r, 0);
    if (strcmp(self.host, "0.0.0.0") == 0 || strcmp(self.host, "::") == 0)
      fprintf(stderr,
              "scscf warn: listening on a wildcard address; "
              "Service-Route names %s (set --advertise)\n",
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
  e = imsec_scscf_new(&h.s, &sc, crypto, hss);
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--domain %s: %s", domain,
                  e == IMSEC_ERR_CONFIG ? "invalid domain or expiry settings"
                                        : imsec_strerror(e));
    goto done;
  }
  for (size_t i = 0; i < n_listen; i++) {
    imsec_addr a = ls[i].addr;
    a.port = elemrun_port(r, i);
    char buf[300];
    if (imsec_addr_format(&a, buf, sizeof(buf)) > 0)
      fprintf(stderr, "scscf info: listening on %s, domain %s\n", buf, domain);
  }
  fflush(stderr);
  if (elemrun_run(r) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot start the event loop");
    goto done;
  }
  fprintf(stderr, "scscf info: stopped\n");
  rv = CLI_EXIT_OK;
done:
  elemrun_del(r);
  imsec_scscf_del(h.s);
  imsec_hss_del(hss);
  imsec_hss_store_del(st);
  imsec_crypto_del(crypto);
  imsec_scscf_file_free(&file);
  return rv;
}

const cli_cmd imsec_cmd_scscf = {
    .name = "scscf",
    .summary = "run an S-CSCF registrar with its embedded HSS",
    .run = run,
    .planned = 0,
};
