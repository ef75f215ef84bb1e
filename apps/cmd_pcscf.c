/* imsec pcscf: the P-CSCF daemon (lib/pcscf over net/ through elemrun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "elemrun.h"
#include "reload.h"
#include "imsec/crypto.h"
#include "imsec/pcscf.h"

#define SUB "pcscf"

static const char help[] =
    "usage: imsec pcscf --listen tls:HOST:PORT --cert CHAIN.pem --key KEY.pem\n"
    "                   --route DOMAIN=tcp:HOST:PORT [--route ...]\n"
    "                   [--core tcp:HOST:PORT] [--visited-network NAME]\n"
    "                   [--require-sec-agree] [--log-level LEVEL]\n"
    "                   [--ladder] [-c FILE]\n"
    "\n"
    "Run a P-CSCF (TS 24.229 §5.2, TS 33.203 Annex O): UEs register over\n"
    "TLS; each REGISTER goes to the S-CSCF of the UE's home domain; the\n"
    "registration is bound to the UE's TLS connection, which then carries\n"
    "the requests both ways.\n"
    "\n"
    "  --listen tls:HOST:PORT   where UEs connect (TLS)\n"
    "  --cert CHAIN.pem         server certificate chain, leaf first\n"
    "  --key KEY.pem            its private key\n"
    "  --route DOMAIN=ADDR      the S-CSCF of a home network domain\n"
    "                           (ADDR tcp:HOST:PORT); repeat for more\n"
    "  --core tcp:HOST:PORT     where S-CSCFs send requests for UEs; its\n"
    "                           host:port go into Via and Path, so use an\n"
    "                           address they can reach (default: the\n"
    "                           --listen host, a free port)\n"
    "  --visited-network NAME   act as a visited network's P-CSCF\n"
    "                           (adds P-Visited-Network-ID: \"NAME\")\n"
    "  --require-sec-agree      refuse REGISTERs without sec-agree (421)\n"
    "  --log-level LEVEL        debug, info (default), warn, error\n"
    "  --ladder                 print one line per SIP message\n"
    "  -c FILE                  YAML settings with the same keys: listen,\n"
    "                           core, cert, key, routes (a list of\n"
    "                           DOMAIN=ADDR), visited_network,\n"
    "                           require_sec_agree, log_level, max_flows,\n"
    "                           max_bindings, max_transactions, max_queue,\n"
    "                           transaction_timeout_ms. Flags override it;\n"
    "                           --route adds to its routes.\n"
    "\n"
    "Logs one line per event on stderr; SIGTERM or SIGINT stops it.\n"
    "SIGHUP reloads: the -c file is read again under the same flags, the\n"
    "certificate and key files too; everything is checked first, then the\n"
    "log level, the routes and the certificate are applied (new TLS\n"
    "handshakes use it; connections already up keep theirs). A reload that\n"
    "fails logs \"reload failed: WHY\" and keeps the running configuration;\n"
    "listen, core and the other settings taken at start are logged as\n"
    "\"needs a restart\". Exit 0 after a clean stop, 2 on a usage or\n"
    "configuration error.\n";

/* The element is made after the listeners are bound (the core port goes
 * into its Path), so the runner holds this and not the element. */
typedef struct holder {
  imsec_pcscf *p;
} holder;

static int h_up(void *s, uint64_t f, uint64_t t, const imsec_flow_info *i,
                imsec_time_ms n, imsec_out *o) {
  return imsec_pcscf_on_flow_up(((holder *)s)->p, f, t, i, n, o);
}
static void h_msg(void *s, uint64_t f, const uint8_t *m, size_t l,
                  imsec_time_ms n, imsec_out *o) {
  imsec_pcscf_on_message(((holder *)s)->p, f, m, l, n, o);
}
static void h_down(void *s, uint64_t f, uint64_t t, int r, imsec_time_ms n,
                   imsec_out *o) {
  imsec_pcscf_on_flow_down(((holder *)s)->p, f, t, r, n, o);
}
static void h_timer(void *s, uint64_t id, imsec_time_ms n, imsec_out *o) {
  imsec_pcscf_on_timer(((holder *)s)->p, id, n, o);
}
static const elemrun_ops ops = {
    .on_flow_up = h_up,
    .on_message = h_msg,
    .on_flow_down = h_down,
    .on_timer = h_timer,
};

/* The settings: the -c file, then the flags over it, checked. At start
 * and again on SIGHUP (the same code reads them both times). Returns 0 or
 * CLI_EXIT_USAGE after one line (cli_usage, cli_fail). */
static int settings_read(int argc, char **argv, imsec_pcscf_settings *out,
                         int *ladder_out) {
  static imsec_pcscf_settings s;
  memset(&s, 0, sizeof(s));
  imsec_pcscf_config_init(&s.elem);
  snprintf(s.log_level, sizeof(s.log_level), "info");
  /* The file first, then the flags over it. */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", argv[i]);
      char err[512];
      if (imsec_pcscf_settings_load(argv[i + 1], &s, err, sizeof(err)) < 0)
        return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
      break;
    }
  }
  int ladder = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--require-sec-agree") == 0) {
      s.elem.require_sec_agree = 1;
      continue;
    }
    if (strcmp(a, "--ladder") == 0) {
      ladder = 1;
      continue;
    }
    static const char *const valued[] = {
        "--listen",          "--cert",      "--key", "--route", "--core",
        "--visited-network", "--log-level", "-c",    "--config"};
    size_t k = 0;
    while (k < sizeof(valued) / sizeof(valued[0]) && strcmp(a, valued[k]))
      k++;
    if (k == sizeof(valued) / sizeof(valued[0]))
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    const char *v = argv[++i];
    switch (k) {
    case 0:
      if (imsec_addr_parse_listen(imsec_str_c(v), &s.listen) < 0 ||
          s.listen.tp != IMSEC_TP_TLS)
        return cli_usage(SUB, "--listen '%s' is not tls:HOST:PORT", v);
      s.has_listen = 1;
      break;
    case 1:
    case 2: {
      char *dst = k == 1 ? s.cert : s.key;
      if (!v[0] || strlen(v) >= sizeof(s.cert))
        return cli_usage(SUB, "%s needs a file name", a);
      snprintf(dst, sizeof(s.cert), "%s", v);
      break;
    }
    case 3:
      if (s.elem.n_routes >= IMSEC_PCSCF_MAX_ROUTES)
        return cli_usage(SUB, "--route: at most %d routes",
                         IMSEC_PCSCF_MAX_ROUTES);
      if (imsec_pcscf_route_parse(imsec_str_c(v),
                                  &s.elem.routes[s.elem.n_routes]) < 0)
        return cli_usage(SUB, "--route '%s' is not DOMAIN=tcp:HOST:PORT", v);
      s.elem.n_routes++;
      break;
    case 4:
      if (imsec_addr_parse_listen(imsec_str_c(v), &s.core_listen) < 0 ||
          s.core_listen.tp != IMSEC_TP_TCP)
        return cli_usage(SUB, "--core '%s' is not tcp:HOST:PORT", v);
      s.has_core_listen = 1;
      break;
    case 5:
      if (!v[0] || strlen(v) >= sizeof(s.elem.visited_network) ||
          strpbrk(v, "\"\\\r\n"))
        return cli_usage(SUB, "--visited-network needs a network name");
      snprintf(s.elem.visited_network, sizeof(s.elem.visited_network), "%s", v);
      break;
    case 6:
      snprintf(s.log_level, sizeof(s.log_level), "%s", v);
      break;
    default:
      break; /* -c: read above */
    }
  }
  if (!s.has_listen)
    return cli_usage(SUB, "--listen is required");
  if (!s.cert[0])
    return cli_usage(SUB, "--cert is required");
  if (!s.key[0])
    return cli_usage(SUB, "--key is required");
  if (!s.elem.n_routes)
    return cli_usage(SUB, "--route is required (at least one)");
  for (size_t i = 0; i < s.elem.n_routes; i++)
    if (s.elem.routes[i].addr.tp != IMSEC_TP_TCP &&
        s.elem.routes[i].addr.tp != IMSEC_TP_TLS)
      return cli_usage(SUB, "--route %s: the S-CSCF is reached over tcp or tls",
                       s.elem.routes[i].domain);
  imsec_log_level level;
  if (elemrun_log_level_parse(s.log_level, &level) < 0)
    return cli_usage(SUB, "--log-level must be debug, info, warn or error");
  /* The core address goes into Via and Path: a wildcard is no address. */
  const char *wild_host =
      s.has_core_listen ? s.core_listen.host : s.listen.host;
  if (!strcmp(wild_host, "0.0.0.0") || !strcmp(wild_host, "::"))
    return cli_usage(SUB,
                     "--core needs an address the S-CSCFs can reach, "
                     "not '%s'",
                     wild_host);
  if (!s.has_core_listen) {
    s.core_listen = s.listen;
    s.core_listen.tp = IMSEC_TP_TCP;
    s.core_listen.port = 0; /* a free port, read back below */
  }
  *out = s;
  *ladder_out = ladder;
  return 0;
}

/* SIGHUP: the settings again, from the same command line and -c file,
 * applied by apps/reload.c. */
typedef struct reloader {
  int argc;
  char **argv;
  const imsec_pcscf_settings *running;
  holder *h;
} reloader;

static int on_reload(void *arg, elemrun *r, char *msg, size_t cap) {
  reloader *rl = arg;
  static imsec_pcscf_settings next;
  int ladder = 0;
  cli_capture(msg, cap);
  int bad = settings_read(rl->argc, rl->argv, &next, &ladder);
  cli_capture(NULL, 0);
  if (bad)
    return IMSEC_ERR_CONFIG;
  return reload_pcscf(r, rl->h->p, rl->running, &next, msg, cap);
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  static imsec_pcscf_settings s;
  int ladder = 0;
  int bad = settings_read(argc, argv, &s, &ladder);
  if (bad)
    return bad;
  imsec_log_level level = IMSEC_LOG_INFO;
  if (elemrun_log_level_parse(s.log_level, &level) < 0)
    return CLI_EXIT_USAGE; /* settings_read checked it */

  imsec_crypto *crypto = NULL;
  if (imsec_crypto_ossl_new(&crypto) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "the crypto backend did not load");
  /* TLS towards UEs; towards S-CSCFs (a tls: route) the P-CSCF never
   * resumes a session (seed §3.1: only the UE resumes). */
  imsec_net_tls_config server_tls = {
      .server = 1, .cert_file = s.cert, .key_file = s.key, .tickets = 1};
  imsec_net_tls_config client_tls = {.server = 0, .no_resume = 1};
  elemrun_listener ls[2] = {
      {.addr = s.listen, .tls_cfg = &server_tls},
      {.addr = s.core_listen},
  };
  holder h = {0};
  reloader rl = {.argc = argc, .argv = argv, .running = &s, .h = &h};
  elemrun_config rc = {
      .name = "pcscf",
      .ops = &ops,
      .self = &h,
      .listeners = ls,
      .n_listeners = 2,
      .client_tls_cfg = &client_tls,
      .log_level = level,
      .ladder = ladder,
      .signals = 1,
      .reload = on_reload,
      .reload_arg = &rl,
  };
  char err[512] = "";
  elemrun *r = NULL;
  int rv = elemrun_new(&r, &rc, err, sizeof(err));
  if (rv < 0) {
    imsec_crypto_del(crypto);
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s",
                    err[0] ? err : imsec_strerror(rv));
  }
  s.elem.core = s.core_listen;
  s.elem.core.port = elemrun_port(r, 1);
  rv = imsec_pcscf_new(&h.p, &s.elem, crypto);
  if (rv < 0) {
    elemrun_del(r);
    imsec_crypto_del(crypto);
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot start: %s",
                    imsec_strerror(rv));
  }
  char la[300], ca[300];
  imsec_addr l = s.listen;
  l.port = elemrun_port(r, 0);
  if (imsec_addr_format(&l, la, sizeof(la)) < 0)
    la[0] = 0;
  if (imsec_addr_format(&s.elem.core, ca, sizeof(ca)) < 0)
    ca[0] = 0;
  fprintf(stderr, "pcscf info: listening on %s (UEs) and %s (S-CSCFs)%s%s\n",
          la, ca, s.elem.visited_network[0] ? "; visited network " : "",
          s.elem.visited_network);
  for (size_t i = 0; i < s.elem.n_routes; i++) {
    char ra[300];
    if (imsec_addr_format(&s.elem.routes[i].addr, ra, sizeof(ra)) < 0)
      ra[0] = 0;
    fprintf(stderr, "pcscf info: route %s -> %s\n", s.elem.routes[i].domain,
            ra);
  }
  rv = elemrun_run(r);
  int sig = elemrun_signal(r);
  elemrun_del(r);
  imsec_pcscf_del(h.p);
  imsec_crypto_del(crypto);
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot run: %s", imsec_strerror(rv));
  fprintf(stderr, "pcscf info: stopped%s\n", sig ? " by signal" : "");
  return CLI_EXIT_OK;
}

const cli_cmd imsec_cmd_pcscf = {
    .name = "pcscf",
    .summary = "run a P-CSCF (TLS towards UEs, routes to home S-CSCFs)",
    .run = run,
    .planned = 0,
};
