/*
 * imsec hss serve: the subscriber store behind Diameter Cx (TS 29.228,
 * TS 29.229), for S-CSCFs run with --hss diameter:H:P. The store is the
 * one `imsec hss add` fills (SQLite, or PostgreSQL by URI); vectors come
 * from the same HSS logic the S-CSCF embeds, on a worker thread, so the
 * Diameter threads never wait on the disk.
 */
#include "hss_serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "imsec/crypto_ossl.h"
#include "imsec/cx.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/hss_pg.h"
#include "imsec/svc.h"

#define SUB "hss serve"

/* TS 33.102 C.3: the durable SQN mark moves a range at a time (as the
 * S-CSCF's embedded HSS does). */
#define SQN_RANGE 32
/* Requests queued at the store's worker before it answers busy. */
#define QUEUE_MAX 8192

static const char hss_serve_help[] =
    "usage: imsec hss serve --db DB --diameter tcp:HOST:PORT|tls:HOST:PORT\n"
    "                       --diameter-identity FQDN --diameter-realm REALM\n"
    "                       [--diameter-cert FILE --diameter-key FILE\n"
    "                        --diameter-ca FILE] [--log-level LEVEL]\n";

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
    "          Prints \"hss: listening on diameter ADDR\" on stderr when\n"
    "          ready; SIGTERM or SIGINT stops it. --log-level debug adds\n"
    "          freeDiameter's own notices and debug lines (never an\n"
    "          AVP value).\n";

enum { S_DB, S_DIAMETER, S_IDENTITY, S_REALM, S_CERT, S_KEY, S_CA, S_LOG, S_N };

static const char *const snames[S_N] = {"--db",
                                        "--diameter",
                                        "--diameter-identity",
                                        "--diameter-realm",
                                        "--diameter-cert",
                                        "--diameter-key",
                                        "--diameter-ca",
                                        "--log-level"};

static int parse(int argc, char **argv, const char *v[S_N]) {
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
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
    if (v[id])
      return cli_usage(SUB, "%s given twice", snames[id]);
    if (eq) {
      v[id] = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", snames[id]);
      v[id] = argv[++i];
    }
  }
  static const int required[] = {S_DB, S_DIAMETER, S_IDENTITY, S_REALM};
  for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
    if (!v[required[k]])
      return cli_usage(SUB, "missing %s", snames[required[k]]);
  int tls = strncmp(v[S_DIAMETER], "tls:", 4) == 0;
  if (!tls && strncmp(v[S_DIAMETER], "tcp:", 4) != 0)
    return cli_usage(SUB, "--diameter: expected tcp:HOST:PORT or "
                          "tls:HOST:PORT");
  if (tls && (!v[S_CERT] || !v[S_KEY] || !v[S_CA]))
    return cli_usage(SUB, "--diameter tls: needs --diameter-cert, "
                          "--diameter-key and --diameter-ca");
  if (!tls && (v[S_CERT] || v[S_KEY] || v[S_CA]))
    return cli_usage(SUB, "--diameter-cert/-key/-ca go with tls: only");
  return 0;
}

static int log_level(const char *s, int *out) {
  if (!s || strcmp(s, "info") == 0 || strcmp(s, "warn") == 0 ||
      strcmp(s, "error") == 0)
    *out = 0;
  else if (strcmp(s, "debug") == 0)
    *out = 2;
  else
    return cli_usage(SUB, "--log-level: expected error, warn, info or debug");
  return 0;
}

static int open_store(const char *db, imsec_hss_store **st) {
  char err[512];
  /* As the S-CSCF opens it: WAL, proven writable (SQN marks are
   * written), a bounded wait per call on a lock another process holds. */
  imsec_hss_db_opts o = {
      .create = 0, .writable = 1, .timeout_ms = 2000, .call_wait_ms = 20};
  o.wal = 1;
  int e = imsec_hss_pg_is_url(db)
              ? imsec_hss_pg_open(st, db, &o, err, sizeof(err))
              : imsec_hss_db_open_opts(st, db, &o, err, sizeof(err));
  if (e == IMSEC_ERR_UNSUPPORTED)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: PostgreSQL is not built",
                    db);
  if (e < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s%s", err,
                    e == IMSEC_ERR_NOTFOUND ? " (create it with imsec hss add)"
                                            : "");
  return 0;
}

int hss_serve(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(hss_serve_help, stdout);
    fputs(serve_text, stdout);
    return CLI_EXIT_OK;
  }
  const char *v[S_N] = {0};
  int lvl = 0;
  int rv = parse(argc, argv, v);
  if (rv)
    return rv;
  if ((rv = log_level(v[S_LOG], &lvl)) != 0)
    return rv;

  /* SIGTERM and SIGINT wait for sigwait below: blocked before any
   * thread starts (the store's worker, freeDiameter's), which inherit
   * the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  imsec_hss_store *st = NULL;
  imsec_crypto *crypto = NULL;
  imsec_hss *hss = NULL;
  imsec_svc *local = NULL, *worker = NULL;
  imsec_cx_server *srv = NULL;
  if ((rv = open_store(v[S_DB], &st)) != 0)
    return rv;
  /* The worker alone uses this crypto backend (svc.h). */
  if (imsec_crypto_ossl_new(&crypto) < 0 ||
      imsec_hss_new(&hss, st, crypto, NULL) < 0 ||
      imsec_hss_set_sqn_range(hss, SQN_RANGE, 0) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot set up the crypto backend");
    goto done;
  }
  imsec_svc_local_config lc = {.hss = hss};
  if (imsec_svc_local_new(&local, &lc) < 0 ||
      imsec_svc_worker_new(&worker, local, QUEUE_MAX) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    goto done;
  }

  imsec_cx_config c;
  memset(&c, 0, sizeof c);
  c.identity = v[S_IDENTITY];
  c.realm = v[S_REALM];
  c.addr = v[S_DIAMETER];
  c.cert = v[S_CERT];
  c.key = v[S_KEY];
  c.ca = v[S_CA];
  char err[512] = "";
  imsec_cx_log_level(lvl);
  int e = imsec_cx_server_new(&srv, &c, worker, err, sizeof err);
  if (e < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--diameter %s: %s", v[S_DIAMETER],
                  err[0] ? err : imsec_strerror(e));
    goto done;
  }
  fprintf(stderr, "hss: listening on diameter %s\n", v[S_DIAMETER]);
  fflush(stderr);
  int sig = 0;
  while (sigwait(&set, &sig) != 0)
    ;
  fprintf(stderr, "hss info: %s: stopping\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  rv = CLI_EXIT_OK;
done:
  /* The server first (it waits for the answers the worker still owes),
   * then the worker (it finishes the SQN writes queued). */
  imsec_cx_server_del(srv);
  imsec_svc_del(worker);
  imsec_svc_del(local);
  imsec_hss_del(hss);
  imsec_crypto_del(crypto);
  imsec_hss_store_del(st);
  return rv;
}
