/* The load generator's engine (apps/bench/engine.h) in one process
 * against a real P-CSCF and S-CSCF (with an in-memory HSS) on loopback:
 * registrations on new, resumed and open connections with IMS AKA and
 * SIP Digest, MESSAGEs, calls, a mix by weights, the open loop, a hold
 * (every UE registered, then de-registered), DTLS and configured PSKs
 * (M3), an operation timeout against a server that never answers, and a
 * TLS failure (the UEs trust another root) counted as TLS_ALERT. A sink
 * counts what the engine reports. Every run is bounded (a few seconds). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "engine_int.h"
#include "fixtures.h"
#include "imsec/crypto_ossl.h"
#include "imsec/host_net.h"
#include "imsec/hss.h"
#include "imsec/pcscf.h"
#include "imsec/pki.h"
#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/svc.h"
#include "imsec/ue.h"
#include "net_util.h"
#include "test_util.h"

#define HOME IMSEC_FX_HOME
#define N_SUBS 16
#define BIG 100000000u

/* ------------------------------------------------------------ the stack */

static imsec_fx g_fx;
static char g_root[1024], g_chain[1024], g_key[1024];
static const char
    *g_other_dir; /* another PKI: a root the P-CSCF is not under */
static imsec_crypto *g_cr_hss, *g_cr_s, *g_cr_p;
static imsec_hss_store *g_hstore;
static imsec_hss *g_hss;
static imsec_reg_store *g_regs;
static imsec_svc *g_svc;
static imsec_hostnet *g_rs, *g_rp, *g_rp2;
static imsec_scscf *g_scscf;
static imsec_pcscf *g_pcscf, *g_pcscf2;
static imsec_crypto *g_cr_p2;
static imsec_x509_anchors *g_ue_anchors;
static uint16_t g_tls_port, g_dtls_port, g_psk_port, g_m2a_port;
static char g_ue_cert[N_SUBS][1100];
static int g_silent = -1; /* a listening socket that never answers */
static uint16_t g_silent_port;

/* The subscribers: N_SUBS with IMS AKA (each also with a PSK for M3),
 * N_SUBS with SIP Digest. */
static uint8_t g_k[N_SUBS][16], g_opc[N_SUBS][16], g_psk[N_SUBS][32];
static char g_pw[N_SUBS][25];
static bench_creds g_aka, g_dig;

static void hexs(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", p[i]);
}

static void make_creds(void) {
  size_t cap = 256 + N_SUBS * 256;
  char *a = malloc(cap), *d = malloc(cap);
  assert_non_null(a);
  assert_non_null(d);
  int na = snprintf(a, cap, "imsec-bench-creds 1 scheme=aka domain=%s\n", HOME);
  int nd =
      snprintf(d, cap, "imsec-bench-creds 1 scheme=digest domain=%s\n", HOME);
  for (int i = 0; i < N_SUBS; i++) {
    char k[33], o[33];
    hexs(g_k[i], 16, k);
    hexs(g_opc[i], 16, o);
    na += snprintf(a + na, cap - (size_t)na,
                   "b%d@%s sip:b%d@%s %s %s 000000000000\n", i, HOME, i, HOME,
                   k, o);
    nd += snprintf(d + nd, cap - (size_t)nd, "d%d@%s sip:d%d@%s %s\n", i, HOME,
                   i, HOME, g_pw[i]);
  }
  char err[256];
  assert_int_equal(bench_creds_parse(a, (size_t)na, &g_aka, err, sizeof err),
                   0);
  assert_int_equal(bench_creds_parse(d, (size_t)nd, &g_dig, err, sizeof err),
                   0);
  /* M3: the configured PSKs, as a psk= field would give them. */
  for (int i = 0; i < N_SUBS; i++) {
    memcpy(g_aka.v[i].psk, g_psk[i], 32);
    g_aka.v[i].psk_len = 32;
  }
  imsec_wipe(a, cap);
  imsec_wipe(d, cap);
  free(a);
  free(d);
}

static void add_subs(void) {
  for (int i = 0; i < N_SUBS; i++) {
    imsec_hss_sub s;
    memset(&s, 0, sizeof s);
    snprintf(s.impi, sizeof s.impi, "b%d@%s", i, HOME);
    snprintf(s.impus[0], sizeof s.impus[0], "sip:b%d@%s", i, HOME);
    s.n_impus = 1;
    memcpy(s.k, g_k[i], 16);
    memcpy(s.op, g_opc[i], 16);
    s.op_is_opc = 1;
    s.amf[0] = 0x80;
    s.aka = IMSEC_HSS_AKAV1;
    assert_int_equal(g_hstore->vt->add(g_hstore, &s), 0);
    imsec_hss_sub_wipe(&s);
    memset(&s, 0, sizeof s);
    snprintf(s.impi, sizeof s.impi, "d%d@%s", i, HOME);
    snprintf(s.impus[0], sizeof s.impus[0], "sip:d%d@%s", i, HOME);
    s.n_impus = 1;
    assert_int_equal(
        imsec_hss_digest_set(
            &s, g_cr_hss, IMSEC_STR_NULL,
            (imsec_bytes){(const uint8_t *)g_pw[i], strlen(g_pw[i])}),
        0);
    assert_int_equal(g_hstore->vt->add(g_hstore, &s), 0);
    imsec_hss_sub_wipe(&s);
  }
}

/* Mode M2a: a certificate per AKA UE as `imsec pki ue` issues them (SAN
 * URI sip:IMPI, EKU clientAuth, under the home operator CA), its chain
 * and its key in one PEM file, named by the UE's cert= field. */
static void make_ue_certs(void) {
  int64_t now = (int64_t)time(NULL);
  for (int i = 0; i < N_SUBS; i++) {
    char uri[300], crt[1100], key[1100];
    snprintf(uri, sizeof uri, "sip:%s", g_aka.v[i].impi);
    const char *uris[] = {uri};
    imsec_pki_spec sp = {.cn = g_aka.v[i].impi,
                         .uris = uris,
                         .n_uris = 1,
                         .client_auth = 1,
                         .path_len = -1,
                         .not_before = now - 3600,
                         .not_after = now + 86400};
    imsec_pki_cred *u = NULL;
    assert_int_equal(imsec_pki_issue(&sp, g_fx.op1, &u), 0);
    const imsec_pki_cred *chain[] = {u, g_fx.op1};
    snprintf(crt, sizeof crt, "%s/ue%d.crt", g_fx.dir, i);
    snprintf(key, sizeof key, "%s/ue%d.key", g_fx.dir, i);
    snprintf(g_ue_cert[i], sizeof g_ue_cert[i], "%s/ue%d.pem", g_fx.dir, i);
    assert_int_equal(imsec_pki_write_certs(crt, chain, 2, 1), 0);
    assert_int_equal(imsec_pki_write_key(u, key, 1), 0);
    imsec_pki_cred_del(u);
    size_t n1, n2;
    char *a = t_read_file(crt, &n1), *b = t_read_file(key, &n2);
    FILE *f = fopen(g_ue_cert[i], "w");
    assert_non_null(f);
    assert_int_equal(fwrite(a, 1, n1, f), n1);
    assert_int_equal(fwrite(b, 1, n2, f), n2);
    fclose(f);
    imsec_wipe(b, n2);
    free(a);
    free(b);
    g_aka.v[i].cert = g_ue_cert[i];
  }
}

/* A second P-CSCF in mode M2a (as apps/pcscf_m2.c sets it up with
 * --client-cert require --ue-ca ROOT --ue-ca OPERATOR-CA). */
static void pcscf_m2a_up(const imsec_addr *scscf) {
  static char op_pem[1024];
  static const char *more_ca[2] = {op_pem, NULL};
  imsec_fx_path(&g_fx, IMSEC_FX_HOME_CA_CRT, op_pem, sizeof op_pem);
  assert_int_equal(imsec_x509_anchors_new(&g_ue_anchors), 0);
  assert_int_equal(imsec_x509_anchors_add_root_file(g_ue_anchors, g_root), 0);
  assert_int_equal(imsec_x509_anchors_add_root_file(g_ue_anchors, op_pem), 0);
  imsec_pcscf_config pcfg;
  imsec_pcscf_config_init(&pcfg);
  pcfg.client_cert = IMSEC_PCSCF_CLIENT_CERT_REQUIRE;
  pcfg.core.tp = IMSEC_TP_TCP;
  snprintf(pcfg.core.host, sizeof pcfg.core.host, "127.0.0.1");
  snprintf(pcfg.peer_addrs[0], sizeof pcfg.peer_addrs[0], "127.0.0.1");
  pcfg.n_peer_addrs = 1;
  pcfg.n_routes = 1;
  snprintf(pcfg.routes[0].domain, sizeof pcfg.routes[0].domain, "%s", HOME);
  pcfg.routes[0].addr = *scscf;
  static imsec_net_tls_config ptls;
  memset(&ptls, 0, sizeof ptls);
  ptls.cert_file = g_chain;
  ptls.key_file = g_key;
  ptls.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  ptls.ca_file = g_root;
  ptls.more_ca_files = more_ca;
  ptls.defer_verify = 1;
  imsec_hostnet_listener pl[2];
  memset(pl, 0, sizeof pl);
  pl[0].addr.tp = IMSEC_TP_TLS;
  pl[0].tls_cfg = &ptls;
  pl[1].addr.tp = IMSEC_TP_TCP;
  for (int i = 0; i < 2; i++)
    snprintf(pl[i].addr.host, sizeof pl[i].addr.host, "127.0.0.1");
  imsec_hostnet_config pc;
  memset(&pc, 0, sizeof pc);
  pc.name = "pcscf-m2a";
  pc.ops = &imsec_pcscf_ops;
  pc.listeners = pl;
  pc.n_listeners = 2;
  pc.log_level = IMSEC_LOG_ERROR;
  pc.anchors = g_ue_anchors;
  pc.limits.max_flows_per_ip = 4096;
  char err[512] = "";
  assert_int_equal(imsec_hostnet_new(&g_rp2, &pc, err, sizeof err), 0);
  g_m2a_port = imsec_hostnet_port(g_rp2, 0);
  pcfg.core.port = imsec_hostnet_port(g_rp2, 1);
  assert_int_equal(imsec_crypto_ossl_new(&g_cr_p2), 0);
  assert_int_equal(imsec_pcscf_new(&g_pcscf2, &pcfg, g_cr_p2), 0);
  imsec_hostnet_set_self(g_rp2, g_pcscf2);
  assert_int_equal(imsec_hostnet_start(g_rp2), 0);
}

static int stack_up(void **state) {
  (void)state;
  /* SIGTERM and SIGINT blocked in every thread (the engine's port reads
   * them with a signalfd): t_hold_signal sends one to the process. */
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGTERM);
  sigaddset(&ss, SIGINT);
  pthread_sigmask(SIG_BLOCK, &ss, NULL);
  assert_int_equal(imsec_fx_init(&g_fx, "imsec-bench-engine"), 0);
  assert_int_equal(imsec_fx_make_pki(&g_fx, (int64_t)time(NULL)), 0);
  imsec_fx_path(&g_fx, IMSEC_FX_ROOT_CRT, g_root, sizeof g_root);
  imsec_fx_path(&g_fx, IMSEC_FX_PCSCF_HOME ".chain.pem", g_chain,
                sizeof g_chain);
  imsec_fx_path(&g_fx, IMSEC_FX_PCSCF_HOME ".key", g_key, sizeof g_key);
  g_other_dir = t_pki_setup();
  assert_non_null(g_other_dir);
  assert_int_equal(imsec_crypto_ossl_new(&g_cr_hss), 0);
  assert_int_equal(imsec_crypto_ossl_new(&g_cr_s), 0);
  assert_int_equal(imsec_crypto_ossl_new(&g_cr_p), 0);
  for (int i = 0; i < N_SUBS; i++) {
    assert_int_equal(imsec_random(g_cr_hss, g_k[i], 16), 0);
    assert_int_equal(imsec_random(g_cr_hss, g_opc[i], 16), 0);
    assert_int_equal(imsec_random(g_cr_hss, g_psk[i], 32), 0);
    snprintf(g_pw[i], sizeof g_pw[i], "pw-%02d-abcdefghijklmnopq", i);
  }
  make_creds();
  assert_int_equal(imsec_hss_mem_new(&g_hstore), 0);
  assert_int_equal(imsec_reg_mem_new(&g_regs), 0);
  add_subs();
  assert_int_equal(imsec_hss_new(&g_hss, g_hstore, g_cr_hss, NULL), 0);
  imsec_svc_local_config lc = {.hss = g_hss, .reg = g_regs};
  assert_int_equal(imsec_svc_local_new(&g_svc, &lc), 0);

  /* The S-CSCF on plain TCP from loopback; its flood limits far above
   * what the runs reach (every UE comes from 127.0.0.1). */
  imsec_hostnet_listener sl;
  memset(&sl, 0, sizeof sl);
  sl.addr.tp = IMSEC_TP_TCP;
  snprintf(sl.addr.host, sizeof sl.addr.host, "127.0.0.1");
  static const char *const core_peers[] = {"127.0.0.1"};
  imsec_scscf_config scfg = {.domain = HOME,
                             .insecure_core = 1,
                             .peer_addrs = core_peers,
                             .n_peer_addrs = 1,
                             .impi_challenge_limit = BIG,
                             .source_challenge_limit = BIG,
                             .impi_failure_limit = BIG,
                             .source_failure_limit = BIG};
  imsec_hostnet_config sc;
  memset(&sc, 0, sizeof sc);
  sc.name = "scscf";
  sc.ops = &imsec_scscf_ops;
  sc.svc = g_svc;
  sc.listeners = &sl;
  sc.n_listeners = 1;
  sc.log_level = IMSEC_LOG_ERROR;
  char err[512] = "";
  assert_int_equal(imsec_hostnet_new(&g_rs, &sc, err, sizeof err), 0);
  scfg.self = sl.addr;
  scfg.self.port = imsec_hostnet_port(g_rs, 0);
  assert_int_equal(imsec_scscf_new(&g_scscf, &scfg, g_cr_s), 0);
  imsec_hostnet_set_self(g_rs, g_scscf);

  /* The P-CSCF: TLS (with tickets), DTLS and a PSK-taking TLS listener
   * towards UEs, TCP towards the S-CSCF. */
  imsec_pcscf_config pcfg;
  imsec_pcscf_config_init(&pcfg);
  pcfg.core.tp = IMSEC_TP_TCP;
  snprintf(pcfg.core.host, sizeof pcfg.core.host, "127.0.0.1");
  snprintf(pcfg.peer_addrs[0], sizeof pcfg.peer_addrs[0], "127.0.0.1");
  pcfg.n_peer_addrs = 1;
  pcfg.n_routes = 1;
  snprintf(pcfg.routes[0].domain, sizeof pcfg.routes[0].domain, "%s", HOME);
  pcfg.routes[0].addr = scfg.self;
  static imsec_net_tls_config ptls;
  memset(&ptls, 0, sizeof ptls);
  ptls.cert_file = g_chain;
  ptls.key_file = g_key;
  ptls.tickets = 1;
  imsec_hostnet_listener pl[4];
  memset(pl, 0, sizeof pl);
  imsec_tp tps[4] = {IMSEC_TP_TLS, IMSEC_TP_DTLS, IMSEC_TP_TLS, IMSEC_TP_TCP};
  for (int i = 0; i < 4; i++) {
    pl[i].addr.tp = tps[i];
    snprintf(pl[i].addr.host, sizeof pl[i].addr.host, "127.0.0.1");
    if (i < 3)
      pl[i].tls_cfg = &ptls;
  }
  pl[2].psk = 1;
  imsec_hostnet_config pc;
  memset(&pc, 0, sizeof pc);
  pc.name = "pcscf";
  pc.ops = &imsec_pcscf_ops;
  pc.listeners = pl;
  pc.n_listeners = 4;
  pc.log_level = IMSEC_LOG_ERROR;
  pc.limits.max_flows_per_ip = 4096;
  assert_int_equal(imsec_hostnet_new(&g_rp, &pc, err, sizeof err), 0);
  imsec_hostnet_psk keys[N_SUBS];
  for (int i = 0; i < N_SUBS; i++)
    keys[i] = (imsec_hostnet_psk){g_aka.v[i].impi, g_psk[i], 32};
  assert_int_equal(imsec_hostnet_psk_set_static(g_rp, keys, N_SUBS), 0);
  g_tls_port = imsec_hostnet_port(g_rp, 0);
  g_dtls_port = imsec_hostnet_port(g_rp, 1);
  g_psk_port = imsec_hostnet_port(g_rp, 2);
  pcfg.core.port = imsec_hostnet_port(g_rp, 3);
  assert_int_equal(imsec_pcscf_new(&g_pcscf, &pcfg, g_cr_p), 0);
  imsec_hostnet_set_self(g_rp, g_pcscf);
  assert_int_equal(imsec_hostnet_start(g_rs), 0);
  assert_int_equal(imsec_hostnet_start(g_rp), 0);
  make_ue_certs();
  pcscf_m2a_up(&scfg.self);

  /* A server that takes connections and never says a word. */
  g_silent = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(g_silent >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(g_silent, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(g_silent, 64), 0);
  socklen_t sl_len = sizeof sa;
  assert_int_equal(getsockname(g_silent, (struct sockaddr *)&sa, &sl_len), 0);
  g_silent_port = ntohs(sa.sin_port);
  return 0;
}

static int stack_down(void **state) {
  (void)state;
  close(g_silent);
  imsec_hostnet_del(g_rp2);
  imsec_pcscf_del(g_pcscf2);
  imsec_crypto_del(g_cr_p2);
  imsec_x509_anchors_del(g_ue_anchors);
  imsec_hostnet_del(g_rp);
  imsec_hostnet_del(g_rs);
  imsec_svc_del(g_svc);
  imsec_pcscf_del(g_pcscf);
  imsec_scscf_del(g_scscf);
  imsec_reg_store_del(g_regs);
  imsec_hss_del(g_hss);
  imsec_hss_store_del(g_hstore);
  imsec_crypto_del(g_cr_hss);
  imsec_crypto_del(g_cr_s);
  imsec_crypto_del(g_cr_p);
  bench_creds_free(&g_aka);
  bench_creds_free(&g_dig);
  imsec_fx_free(&g_fx);
  imsec_fx_remove(&g_fx);
  t_rmdir(g_other_dir);
  return 0;
}

/* ------------------------------------------------------------ the sink */

static char g_last_note[512]; /* the last note of the last run */

typedef struct counts {
  uint64_t n[BENCH_SC_N][IMSEC_BENCH_OUTCOMES];
  uint64_t total;
  uint32_t last_sec;
  int out_of_order;
  uint32_t max_registered, final_registered;
  int finals, ticks, notes;
  uint64_t max_lat;
} counts;

static void c_done(void *arg, const bench_done *d) {
  counts *c = arg;
  assert_true(d->scenario < BENCH_SC_N);
  assert_true(d->outcome < IMSEC_BENCH_OUTCOMES);
  c->n[d->scenario][d->outcome]++;
  c->total++;
  if (d->sec < c->last_sec)
    c->out_of_order = 1;
  c->last_sec = d->sec;
  if (d->latency_us > c->max_lat)
    c->max_lat = d->latency_us;
}

static void c_tick(void *arg, uint32_t in_flight, uint32_t registered,
                   uint32_t sec_now, int final) {
  counts *c = arg;
  (void)in_flight;
  (void)sec_now;
  c->ticks++;
  if (registered > c->max_registered)
    c->max_registered = registered;
  if (final) {
    c->finals++;
    c->final_registered = registered;
  }
}

static void c_note(void *arg, const char *line) {
  counts *c = arg;
  c->notes++;
  snprintf(g_last_note, sizeof g_last_note, "%s", line);
  fprintf(stderr, "bench note: %s\n", line);
}

static void opts_init(bench_opts *o, uint16_t port) {
  memset(o, 0, sizeof *o);
  o->target.tp = IMSEC_TP_TLS;
  snprintf(o->target.host, sizeof o->target.host, "127.0.0.1");
  o->target.port = port;
  snprintf(o->ca, sizeof o->ca, "%s", g_root);
  o->mode = BENCH_MODE_M1;
  o->conn = BENCH_CONN_NEW;
  o->weight[BENCH_SC_REGISTER] = 1;
  o->expires = 600;
  o->concurrency = 4;
  o->count = 20;
  o->duration_s = 8;
  o->timeout_ms = 3000;
  o->procs = 1;
}

/* Run worker w of W; returns bench_engine_run's value. */
static int run_w(const bench_opts *o, const bench_creds *cr, unsigned w,
                 unsigned W, counts *c) {
  memset(c, 0, sizeof *c);
  bench_sink sink = {.arg = c, .done = c_done, .tick = c_tick, .note = c_note};
  char err[256] = "";
  int rv = bench_engine_run(o, cr, w, W, imsec_hostnet_now(), &sink, err,
                            sizeof err);
  if (rv != 0)
    fprintf(stderr, "bench_engine_run: %s\n", err);
  else {
    assert_int_equal(c->finals, 1);
    assert_false(c->out_of_order);
  }
  return rv;
}

static int run(const bench_opts *o, const bench_creds *cr, counts *c) {
  return run_w(o, cr, 0, 1, c);
}

static uint64_t ok_of(const counts *c, bench_scenario sc) {
  return c->n[sc][IMSEC_BENCH_OK];
}

/* ------------------------------------------------------------ tests */

static void reg_case(const bench_creds *cr, bench_conn conn) {
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.conn = conn;
  assert_int_equal(run(&o, cr, &c), 0);
  assert_int_equal(c.total, 20);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 20);
  assert_true(c.max_lat > 0);
}

static void t_register_new_aka(void **state) {
  (void)state;
  reg_case(&g_aka, BENCH_CONN_NEW);
}

static void t_register_resumed_aka(void **state) {
  (void)state;
  reg_case(&g_aka, BENCH_CONN_RESUMED);
  /* One at a time: the first connection is a full handshake, each later
   * one resumes the session the one before it got (the UEs share their
   * client context, which keeps the newest session: with more in flight,
   * some start before a session is there). */
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.conn = BENCH_CONN_RESUMED;
  o.concurrency = 1;
  o.count = 6;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 6);
  unsigned long long res = 0, all = 0;
  assert_int_equal(
      sscanf(g_last_note, "%llu of %llu TLS connections resumed", &res, &all),
      2);
  assert_int_equal(all, 6);
  assert_int_equal(res, 5);
}

static void t_register_open_aka(void **state) {
  (void)state;
  reg_case(&g_aka, BENCH_CONN_OPEN);
}

static void t_register_new_digest(void **state) {
  (void)state;
  reg_case(&g_dig, BENCH_CONN_NEW);
}

static void t_register_open_digest(void **state) {
  (void)state;
  reg_case(&g_dig, BENCH_CONN_OPEN);
}

static void t_message(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.weight[BENCH_SC_REGISTER] = 0;
  o.weight[BENCH_SC_MESSAGE] = 1;
  o.concurrency = 3;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(c.total, 20);
  assert_int_equal(ok_of(&c, BENCH_SC_MESSAGE), 20);
}

static void t_call(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.weight[BENCH_SC_REGISTER] = 0;
  o.weight[BENCH_SC_CALL] = 1;
  o.concurrency = 2;
  o.count = 10;
  o.conn = BENCH_CONN_OPEN;
  assert_int_equal(run(&o, &g_dig, &c), 0);
  assert_int_equal(c.total, 10);
  assert_int_equal(ok_of(&c, BENCH_SC_CALL), 10);
}

static void t_mix(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.weight[BENCH_SC_REGISTER] = 2;
  o.weight[BENCH_SC_MESSAGE] = 1;
  o.weight[BENCH_SC_CALL] = 1;
  o.count = 24;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(c.total, 24);
  /* Smooth weighted round robin: exactly the weights over 24. */
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 12);
  assert_int_equal(ok_of(&c, BENCH_SC_MESSAGE), 6);
  assert_int_equal(ok_of(&c, BENCH_SC_CALL), 6);
}

static void t_open_loop(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.concurrency = 0;
  o.rate = 40;
  o.ramp_s = 0.5;
  o.count = 20;
  assert_int_equal(run(&o, &g_dig, &c), 0);
  assert_int_equal(c.total, 20);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 20);
}

static void t_hold(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.hold = 1;
  o.ues = 6;
  o.count = 0;
  o.concurrency = 3;
  o.duration_s = 1.5;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 6);
  assert_int_equal(c.total, 6);
  assert_int_equal(c.max_registered, 6);
  /* De-registered at the end. */
  assert_int_equal(c.final_registered, 0);
  /* The same at the open loop's pace. */
  o.concurrency = 0;
  o.rate = 20;
  assert_int_equal(run(&o, &g_dig, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 6);
  assert_int_equal(c.max_registered, 6);
  assert_int_equal(c.final_registered, 0);
}

static void *term_later(void *arg) {
  (void)arg;
  struct timespec ts = {1, 0};
  nanosleep(&ts, NULL);
  kill(getpid(), SIGTERM);
  return NULL;
}

/* A hold ended by SIGTERM long before its time: the UEs are
 * de-registered, then the engine returns. */
static void t_hold_signal(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.hold = 1;
  o.ues = 6;
  o.count = 0;
  o.concurrency = 6;
  o.duration_s = 60;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, term_later, NULL), 0);
  imsec_time_ms t0 = imsec_hostnet_now();
  assert_int_equal(run(&o, &g_dig, &c), 0);
  pthread_join(th, NULL);
  assert_true(imsec_hostnet_now() - t0 < 10000);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 6);
  assert_int_equal(c.max_registered, 6);
  assert_int_equal(c.final_registered, 0);
}

static void t_dtls(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_dtls_port);
  o.mode = BENCH_MODE_DTLS;
  o.target.tp = IMSEC_TP_DTLS;
  o.count = 10;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 10);
}

static void t_m3(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_psk_port);
  o.mode = BENCH_MODE_M3;
  o.count = 10;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 10);
}

static void t_m2a(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_m2a_port);
  o.mode = BENCH_MODE_M2A;
  o.conn = BENCH_CONN_RESUMED;
  o.count = 10;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 10);
  /* The same UEs without their certificates: the P-CSCF requires one, so
   * every handshake fails. */
  o.mode = BENCH_MODE_M1;
  o.count = 4;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(c.total, 4);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 0);
}

/* Worker w of W takes its share of the count (the remainder to the
 * first workers) and of the concurrency; a worker whose share is nothing
 * ends at once. */
static void t_workers(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  o.count = 5;
  o.concurrency = 4;
  assert_int_equal(run_w(&o, &g_dig, 0, 3, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 2);
  assert_int_equal(run_w(&o, &g_dig, 2, 3, &c), 0);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 1);
  o.count = 1;
  assert_int_equal(run_w(&o, &g_dig, 1, 2, &c), 0);
  assert_int_equal(c.total, 0);
  assert_int_equal(c.finals, 1);
  /* -c 1 over two workers: the second has nothing in flight. */
  o.count = 0;
  o.concurrency = 1;
  o.duration_s = 30;
  assert_int_equal(run_w(&o, &g_dig, 1, 2, &c), 0);
  assert_int_equal(c.total, 0);
}

/* Mode tcp's far end: a registrar over plain TCP as a generator
 * comparison meets it (Kamailio's auth_db), reduced to what the UE
 * checks: a REGISTER without credentials gets a 401 with an MD5
 * challenge of the home realm, one with credentials a 200 (the password
 * is not checked here: the P-CSCF and S-CSCF above check theirs). */
typedef struct registrar {
  int n401, n200;
} registrar;

static void rg_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  registrar *r = self;
  (void)now;
  char *copy = malloc(len + 1), buf[4096];
  assert_non_null(copy);
  memcpy(copy, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, copy, len, 1) == 0 && m.is_request &&
      m.method_id == IMSEC_SIP_M_REGISTER) {
    /* TS 24.229 §5.1.1.2.1: the first REGISTER carries an Authorization
     * with an empty response. */
    const imsec_sip_hdr *h = imsec_sip_hdr_first(&m, IMSEC_SIP_H_AUTHORIZATION);
    int authed =
        h && memmem(h->value.p, h->value.len, "response=\"\"", 11) == NULL;
    imsec_sip_builder b;
    imsec_sip_build_init(&b, buf, sizeof buf);
    imsec_sip_build_response(&b, &m, authed ? 200 : 401,
                             authed ? IMSEC_STR_LIT("OK")
                                    : IMSEC_STR_LIT("Unauthorized"),
                             IMSEC_STR_LIT("rg1"));
    if (!authed)
      imsec_sip_build_raw(&b,
                          IMSEC_STR_LIT("WWW-Authenticate: Digest realm=\"" HOME
                                        "\", nonce=\"n0nce\", algorithm=MD5, "
                                        "qop=\"auth\"\r\n"));
    int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
    assert_true(n > 0);
    assert_int_equal(imsec_out_send(out, flow, buf, (size_t)n), 0);
    if (authed)
      r->n200++;
    else
      r->n401++;
  }
  imsec_sip_msg_free(&m);
  free(copy);
}

static int rg_up(void *self, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  (void)self, (void)flow, (void)tag, (void)info, (void)now, (void)out;
  return 0;
}

static void rg_down(void *self, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  (void)self, (void)flow, (void)tag, (void)reason, (void)now, (void)out;
}

static const imsec_elem_ops registrar_ops = {
    .kind = "registrar",
    .on_flow_up = rg_up,
    .on_message = rg_msg,
    .on_flow_down = rg_down,
};

/* Does this tree's UE speak SIP Digest over plain TCP (allow_plain)? */
static int plain_supported(void) {
  imsec_crypto *cr = NULL;
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  const char *impus[] = {g_dig.v[0].impu};
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.impi = g_dig.v[0].impi;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = IMSEC_FX_TD;
  cfg.password_len = strlen(g_dig.v[0].password);
  memcpy(cfg.password, g_dig.v[0].password, cfg.password_len);
  cfg.pcscf.tp = IMSEC_TP_TCP;
  snprintf(cfg.pcscf.host, sizeof cfg.pcscf.host, "127.0.0.1");
  cfg.pcscf.port = 5060;
  cfg.allow_plain = 1;
  imsec_ue *ue = NULL;
  int rc = imsec_ue_new(&ue, &cfg, cr);
  imsec_ue_del(ue);
  imsec_crypto_del(cr);
  return rc == 0;
}

static void t_tcp(void **state) {
  (void)state;
  if (!plain_supported()) {
    fprintf(stderr, "bench engine: this UE has no SIP Digest over plain TCP\n");
    skip();
  }
  registrar rg = {0};
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  imsec_hostnet_config hc;
  memset(&hc, 0, sizeof hc);
  hc.name = "registrar";
  hc.ops = &registrar_ops;
  hc.self = &rg;
  hc.listeners = &l;
  hc.n_listeners = 1;
  hc.log_level = IMSEC_LOG_ERROR;
  hc.limits.max_flows_per_ip = 4096;
  imsec_hostnet *r = NULL;
  char err[256] = "";
  assert_int_equal(imsec_hostnet_new(&r, &hc, err, sizeof err), 0);
  assert_int_equal(imsec_hostnet_start(r), 0);
  bench_opts o;
  counts c;
  opts_init(&o, imsec_hostnet_port(r, 0));
  o.mode = BENCH_MODE_TCP;
  o.target.tp = IMSEC_TP_TCP;
  o.ca[0] = 0; /* no TLS, no anchors */
  o.count = 10;
  assert_int_equal(run(&o, &g_dig, &c), 0);
  o.conn = BENCH_CONN_OPEN;
  counts c2;
  assert_int_equal(run(&o, &g_dig, &c2), 0);
  imsec_hostnet_del(r);
  assert_int_equal(ok_of(&c, BENCH_SC_REGISTER), 10);
  assert_int_equal(ok_of(&c2, BENCH_SC_REGISTER), 10);
  assert_true(rg.n401 >= 10);
  assert_true(rg.n200 >= 20);
}

static void t_timeout(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_silent_port);
  o.count = 3;
  o.concurrency = 3;
  o.timeout_ms = 300;
  assert_int_equal(run(&o, &g_dig, &c), 0);
  assert_int_equal(c.total, 3);
  assert_int_equal(c.n[BENCH_SC_REGISTER][IMSEC_BENCH_TIMEOUT], 3);
  assert_true(c.notes >= 1);
}

static void mute_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                     imsec_time_ms now, imsec_out *out) {
  (void)self, (void)flow, (void)msg, (void)len, (void)now, (void)out;
}

static const imsec_elem_ops mute_ops = {
    .kind = "mute",
    .on_flow_up = rg_up,
    .on_message = mute_msg,
    .on_flow_down = rg_down,
};

/* A P-CSCF whose TLS comes up and that never answers a REGISTER: the
 * operations end at --timeout as timeouts. */
static void t_timeout_sip(void **state) {
  (void)state;
  static imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.cert_file = g_chain;
  tc.key_file = g_key;
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TLS;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  l.tls_cfg = &tc;
  imsec_hostnet_config hc;
  memset(&hc, 0, sizeof hc);
  hc.name = "mute";
  hc.ops = &mute_ops;
  hc.self = &tc;
  hc.listeners = &l;
  hc.n_listeners = 1;
  hc.log_level = IMSEC_LOG_ERROR;
  imsec_hostnet *r = NULL;
  char err[256] = "";
  assert_int_equal(imsec_hostnet_new(&r, &hc, err, sizeof err), 0);
  assert_int_equal(imsec_hostnet_start(r), 0);
  bench_opts o;
  counts c;
  opts_init(&o, imsec_hostnet_port(r, 0));
  o.count = 3;
  o.concurrency = 3;
  o.timeout_ms = 400;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  imsec_hostnet_del(r);
  assert_int_equal(c.total, 3);
  assert_int_equal(c.n[BENCH_SC_REGISTER][IMSEC_BENCH_TIMEOUT], 3);
}

static void t_wrong_ca(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  opts_init(&o, g_tls_port);
  snprintf(o.ca, sizeof o.ca, "%s", t_path(g_other_dir, "ca.pem"));
  o.count = 4;
  assert_int_equal(run(&o, &g_aka, &c), 0);
  assert_int_equal(c.total, 4);
  assert_int_equal(c.n[BENCH_SC_REGISTER][IMSEC_BENCH_TLS_ALERT], 4);
}

static void t_refused_setups(void **state) {
  (void)state;
  bench_opts o;
  counts c;
  /* Mode tcp needs digest credentials. */
  opts_init(&o, g_tls_port);
  o.mode = BENCH_MODE_TCP;
  o.target.tp = IMSEC_TP_TCP;
  assert_int_equal(run(&o, &g_aka, &c), -1);
  /* M3 needs a PSK for every UE. */
  opts_init(&o, g_psk_port);
  o.mode = BENCH_MODE_M3;
  assert_int_equal(run(&o, &g_dig, &c), -1);
  /* Trust anchors that do not load. */
  opts_init(&o, g_tls_port);
  snprintf(o.ca, sizeof o.ca, "%s/none.pem", g_fx.dir);
  assert_int_equal(run(&o, &g_aka, &c), -1);
}

/* Memory per idle UE object on the generator: the heap an imsec_ue takes
 * (AKA and digest), printed for the record; the bound keeps it from
 * growing unnoticed. */
static void t_ue_memory(void **state) {
  (void)state;
  enum { N = 500 };
  imsec_ue **v = calloc(N, sizeof *v);
  assert_non_null(v);
  imsec_crypto *cr = NULL;
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  for (int dig = 0; dig < 2; dig++) {
    const bench_cred *bc = dig ? &g_dig.v[0] : &g_aka.v[0];
    const char *impus[] = {bc->impu};
    imsec_ue_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.impi = bc->impi;
    cfg.impus = impus;
    cfg.n_impus = 1;
    cfg.home_domain = HOME;
    cfg.trust_domain = IMSEC_FX_TD;
    if (dig) {
      cfg.password_len = strlen(bc->password);
      memcpy(cfg.password, bc->password, cfg.password_len);
    } else {
      memcpy(cfg.k, bc->k, 16);
      memcpy(cfg.opc, bc->opc, 16);
      cfg.has_opc = 1;
      assert_int_equal(imsec_ue_sqn_load(bc->sqn, NULL, &cfg.sqn), 0);
    }
    cfg.pcscf.tp = IMSEC_TP_TLS;
    snprintf(cfg.pcscf.host, sizeof cfg.pcscf.host, "127.0.0.1");
    cfg.pcscf.port = 5061;
    cfg.pcscf_name = IMSEC_FX_PCSCF_HOME;
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < N; i++)
      assert_int_equal(imsec_ue_new(&v[i], &cfg, cr), 0);
    struct mallinfo2 m1 = mallinfo2();
    fprintf(stderr,
            "bench engine: one idle %s UE object: %zu octets of heap "
            "(the engine's slot: %zu, its unit: %zu)\n",
            dig ? "SIP Digest" : "IMS AKA", (m1.uordblks - m0.uordblks) / N,
            sizeof(eng_slot), sizeof(eng_unit));
    for (int i = 0; i < N; i++)
      imsec_ue_del(v[i]);
  }
  imsec_crypto_del(cr);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_register_new_aka),
      cmocka_unit_test(t_register_resumed_aka),
      cmocka_unit_test(t_register_open_aka),
      cmocka_unit_test(t_register_new_digest),
      cmocka_unit_test(t_register_open_digest),
      cmocka_unit_test(t_message),
      cmocka_unit_test(t_call),
      cmocka_unit_test(t_mix),
      cmocka_unit_test(t_open_loop),
      cmocka_unit_test(t_hold),
      cmocka_unit_test(t_hold_signal),
      cmocka_unit_test(t_dtls),
      cmocka_unit_test(t_m3),
      cmocka_unit_test(t_m2a),
      cmocka_unit_test(t_tcp),
      cmocka_unit_test(t_workers),
      cmocka_unit_test(t_timeout),
      cmocka_unit_test(t_timeout_sip),
      cmocka_unit_test(t_wrong_ca),
      cmocka_unit_test(t_refused_setups),
      cmocka_unit_test(t_ue_memory),
  };
  return cmocka_run_group_tests(tests, stack_up, stack_down);
}
