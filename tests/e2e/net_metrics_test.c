/* net/: what imsec_net_metrics counts and imsec_net_list_flows lists, over
 * real loopback sockets. A good TLS handshake (counted ok, timed, the flow
 * open as server_cert on both sides and listed with its version, cipher
 * and peer name); one failed because the client does not trust the
 * server's CA (counted failed with unknown_ca on both sides: the client
 * sends the alert, the server receives it); mutual TLS (mutual_tls on both
 * sides) and a client without a certificate refused (certificate_required);
 * a peer that leaves mid-handshake (closed); a refusal by the per-address
 * cap; DTLS under its own label. Each wait is bounded. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imsec/net.h"
#include "imsec/obs.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000

static const char *g_dir;

static imsec_net *mk_net(t_rec *r, const imsec_net_limits *lim) {
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = 1;
  if (lim)
    cfg.limits = *lim;
  cfg.handler = t_rec_handler(r);
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, &cfg), 0);
  return n;
}

static imsec_net_tls *mk_tls(int server, const char *ca, const char *cert,
                             const char *key, imsec_net_client_auth auth) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = server;
  c.ca_file = ca ? t_path(g_dir, ca) : NULL;
  c.cert_file = cert ? t_path(g_dir, cert) : NULL;
  c.key_file = key ? t_path(g_dir, key) : NULL;
  c.client_auth = auth;
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, &c), 0);
  return t;
}

typedef struct side {
  imsec_net *net;
  t_rec *rec;
} side;

static uint16_t listen_on(imsec_net *n, imsec_net_transport tr,
                          imsec_net_tls *tls) {
  struct sockaddr_in a = t_lo4(0);
  uint16_t port = 0;
  assert_int_equal(imsec_net_listen(n, tr, (struct sockaddr *)&a, tls, &port),
                   0);
  return port;
}

static uint64_t connect_to(imsec_net *n, imsec_net_transport tr, uint16_t port,
                           imsec_net_tls *tls) {
  struct sockaddr_in a = t_lo4(port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = tr;
  o.peer = (struct sockaddr *)&a;
  o.tls = tls;
  uint64_t id = 0;
  assert_int_equal(imsec_net_connect(n, &o, &id), 0);
  return id;
}

/* ---------------------------------------------------------------- reading */

static double value(const imsec_metrics *m, const char *name,
                    const char *labels) {
  const imsec_metric_family *f = imsec_metrics_find(m, name);
  assert_non_null(f);
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->s[i].labels, labels) == 0)
      return f->s[i].value;
  return 0;
}

/* The metric's value on net n now. */
static double now_value(imsec_net *n, const char *name, const char *labels) {
  imsec_metrics m = {0};
  imsec_net_metrics(n, &m);
  assert_int_equal(m.err, 0);
  double v = value(&m, name, labels);
  imsec_metrics_free(&m);
  return v;
}

/* Wait until the metric reaches `want` (counters move on the loop's
 * thread, a little after the events the test waits for). */
static void wait_value(imsec_net *n, const char *name, const char *labels,
                       double want) {
  uint64_t end = t_now_ms() + WAIT;
  double v;
  while ((v = now_value(n, name, labels)) != want && t_now_ms() < end)
    usleep(2000);
  if (v != want)
    fprintf(stderr, "%s{%s} = %g, want %g\n", name, labels, v, want);
  assert_true(v == want);
}

#define HS "imsec_tls_handshakes_total"
#define OPEN "imsec_flows_open"

/* ---------------------------------------------------------------- listing */

typedef struct listing {
  imsec_net *net;
  imsec_table t;
  int rc;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
} listing;

static void list_on_loop(void *arg) {
  listing *l = arg;
  l->rc = imsec_net_list_flows(l->net, 0, &l->t);
  pthread_mutex_lock(&l->mu);
  l->done = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

/* The flows of n's loop, listed on its thread. */
static void list_flows(imsec_net *n, listing *l) {
  memset(l, 0, sizeof *l);
  l->net = n;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  assert_int_equal(imsec_net_post(n, 0, 0, list_on_loop, l), 0);
  pthread_mutex_lock(&l->mu);
  while (!l->done)
    pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  assert_int_equal(l->rc, 0);
}

static const char *cell(const imsec_table *t, size_t row, const char *col) {
  for (size_t c = 0; c < t->ncols; c++)
    if (strcmp(t->cols[c], col) == 0)
      return t->cells[row * t->ncols + c];
  fail_msg("no column %s", col);
  return NULL;
}

/* ---------------------------------------------------------------- tests */

static void good_and_unknown_ca(void **state) {
  (void)state;
  side s = {.rec = t_rec_new(1)}, c = {.rec = t_rec_new(0)};
  s.net = mk_net(s.rec, NULL);
  c.net = mk_net(c.rec, NULL);
  imsec_net_tls *stls = mk_tls(1, NULL, "server.pem", "server.key", 0);
  imsec_net_tls *good = mk_tls(0, "ca.pem", NULL, NULL, 0);
  /* Trusts another root only: the server's chain does not verify. */
  imsec_net_tls *bad = mk_tls(0, "other-ca.pem", NULL, NULL, 0);
  uint16_t port = listen_on(s.net, IMSEC_NET_TLS, stls);
  assert_int_equal(imsec_net_start(s.net), 0);
  assert_int_equal(imsec_net_start(c.net), 0);

  uint64_t id = connect_to(c.net, IMSEC_NET_TLS, port, good);
  t_ev e;
  assert_int_equal(t_rec_wait(c.rec, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(s.rec, T_EV_UP, 0, 1, WAIT, &e), 0);
  const char *ok = "transport=\"tls\",result=\"ok\",alert=\"none\"";
  wait_value(s.net, HS, ok, 1);
  wait_value(c.net, HS, ok, 1);
  wait_value(s.net, OPEN, "transport=\"tls\",mode=\"server_cert\"", 1);
  wait_value(c.net, OPEN, "transport=\"tls\",mode=\"server_cert\"", 1);
  assert_true(
      now_value(s.net, "imsec_flows_accepted_total", "transport=\"tls\"") == 1);
  assert_true(
      now_value(s.net, "imsec_flows_accepted_total", "transport=\"tcp\"") == 0);

  /* The handshake's duration: one observation, above nothing and below
   * the handshake timeout. */
  imsec_metrics m = {0};
  imsec_net_metrics(s.net, &m);
  const imsec_metric_family *f =
      imsec_metrics_find(&m, "imsec_tls_handshake_duration_seconds");
  assert_non_null(f);
  assert_int_equal(f->type, IMSEC_METRIC_HISTOGRAM);
  int seen = 0;
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->s[i].labels, "transport=\"tls\"") != 0)
      continue;
    seen = 1;
    assert_int_equal(f->s[i].hist.count, 1);
    assert_true(f->s[i].hist.sum > 0 && f->s[i].hist.sum < 10);
  }
  assert_true(seen);
  imsec_metrics_free(&m);

  /* Listed on both sides: the client names the server by its
   * certificate. */
  listing l;
  list_flows(c.net, &l);
  assert_int_equal(l.t.nrows, 1);
  char idtext[24];
  snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)id);
  assert_string_equal(cell(&l.t, 0, "id"), idtext);
  assert_string_equal(cell(&l.t, 0, "transport"), "tls");
  assert_string_equal(cell(&l.t, 0, "mode"), "server_cert");
  assert_string_equal(cell(&l.t, 0, "tls"), "TLSv1.3");
  assert_true(cell(&l.t, 0, "cipher")[0] != '\0');
  assert_string_equal(cell(&l.t, 0, "peer_name"),
                      "pcscf.ims.mnc001.mcc001.3gppnetwork.org");
  char peer[32];
  snprintf(peer, sizeof peer, "127.0.0.1:%u", port);
  assert_string_equal(cell(&l.t, 0, "peer"), peer);
  assert_string_equal(cell(&l.t, 0, "kept"), "no");
  imsec_table_free(&l.t);
  list_flows(s.net, &l);
  assert_int_equal(l.t.nrows, 1);
  snprintf(peer, sizeof peer, "127.0.0.1:%u", port);
  assert_string_equal(cell(&l.t, 0, "local"), peer);
  assert_string_equal(cell(&l.t, 0, "peer_name"), ""); /* no client cert */
  imsec_table_free(&l.t);

  /* Failed: the client sends unknown_ca (RFC 8446 §6.2), the server
   * receives it; both count it. */
  uint64_t id2 = connect_to(c.net, IMSEC_NET_TLS, port, bad);
  assert_int_equal(t_rec_wait(c.rec, T_EV_DOWN, id2, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_AUTH);
  const char *uca = "transport=\"tls\",result=\"failed\",alert=\"unknown_ca\"";
  wait_value(c.net, HS, uca, 1);
  wait_value(s.net, HS, uca, 1);
  assert_true(now_value(s.net, HS, ok) == 1);
  assert_true(
      now_value(s.net, "imsec_flows_accepted_total", "transport=\"tls\"") == 2);
  /* The good flow is still the only one open. */
  assert_true(
      now_value(s.net, OPEN, "transport=\"tls\",mode=\"server_cert\"") == 1);

  /* Closed: the gauge goes back to 0 on both sides. */
  assert_int_equal(imsec_net_close(c.net, id), 0);
  wait_value(c.net, OPEN, "transport=\"tls\",mode=\"server_cert\"", 0);
  wait_value(s.net, OPEN, "transport=\"tls\",mode=\"server_cert\"", 0);

  /* A peer that leaves in the middle of its ClientHello: closed. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = t_lo4(port);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(write(fd, "\x16\x03\x01", 3), 3);
  wait_value(s.net, "imsec_flows_accepted_total", "transport=\"tls\"", 3);
  close(fd);
  wait_value(s.net, HS, "transport=\"tls\",result=\"failed\",alert=\"closed\"",
             1);

  imsec_net_del(c.net);
  imsec_net_del(s.net);
  imsec_net_tls_del(stls);
  imsec_net_tls_del(good);
  imsec_net_tls_del(bad);
  t_rec_del(s.rec);
  t_rec_del(c.rec);
}

static void mutual(void **state) {
  (void)state;
  side s = {.rec = t_rec_new(1)}, c = {.rec = t_rec_new(0)};
  s.net = mk_net(s.rec, NULL);
  c.net = mk_net(c.rec, NULL);
  imsec_net_tls *stls = mk_tls(1, "ca.pem", "server.pem", "server.key",
                               IMSEC_NET_CLIENT_CERT_REQUIRE);
  imsec_net_tls *with = mk_tls(0, "ca.pem", "client.pem", "client.key", 0);
  imsec_net_tls *without = mk_tls(0, "ca.pem", NULL, NULL, 0);
  uint16_t port = listen_on(s.net, IMSEC_NET_TLS, stls);
  assert_int_equal(imsec_net_start(s.net), 0);
  assert_int_equal(imsec_net_start(c.net), 0);

  uint64_t id = connect_to(c.net, IMSEC_NET_TLS, port, with);
  t_ev e;
  assert_int_equal(t_rec_wait(c.rec, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(s.rec, T_EV_UP, 0, 1, WAIT, &e), 0);
  wait_value(s.net, OPEN, "transport=\"tls\",mode=\"mutual_tls\"", 1);
  wait_value(c.net, OPEN, "transport=\"tls\",mode=\"mutual_tls\"", 1);
  listing l;
  list_flows(s.net, &l);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "mode"), "mutual_tls");
  assert_true(cell(&l.t, 0, "peer_name")[0] != '\0');
  imsec_table_free(&l.t);

  /* No certificate: TLS 1.3 servers answer certificate_required
   * (RFC 8446 §4.4.2.4). */
  uint64_t id2 = connect_to(c.net, IMSEC_NET_TLS, port, without);
  (void)id2;
  wait_value(s.net, HS,
             "transport=\"tls\",result=\"failed\",alert=\"certificate_"
             "required\"",
             1);

  imsec_net_del(c.net);
  imsec_net_del(s.net);
  imsec_net_tls_del(stls);
  imsec_net_tls_del(with);
  imsec_net_tls_del(without);
  t_rec_del(s.rec);
  t_rec_del(c.rec);
}

static void refused_per_ip(void **state) {
  (void)state;
  side s = {.rec = t_rec_new(1)}, c = {.rec = t_rec_new(0)};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_flows_per_ip = 1;
  s.net = mk_net(s.rec, &lim);
  c.net = mk_net(c.rec, NULL);
  uint16_t port = listen_on(s.net, IMSEC_NET_TCP, NULL);
  assert_int_equal(imsec_net_start(s.net), 0);
  assert_int_equal(imsec_net_start(c.net), 0);
  uint64_t id = connect_to(c.net, IMSEC_NET_TCP, port, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(s.rec, T_EV_UP, 0, 1, WAIT, &e), 0);
  (void)id;
  wait_value(s.net, OPEN, "transport=\"tcp\",mode=\"plain\"", 1);
  (void)connect_to(c.net, IMSEC_NET_TCP, port, NULL);
  wait_value(s.net, "imsec_flows_refused_total", "reason=\"max_flows_per_ip\"",
             1);
  assert_true(now_value(s.net, "imsec_flows_refused_total",
                        "reason=\"max_flows\"") == 0);
  assert_true(
      now_value(s.net, "imsec_flows_accepted_total", "transport=\"tcp\"") == 1);
  imsec_net_del(c.net);
  imsec_net_del(s.net);
  t_rec_del(s.rec);
  t_rec_del(c.rec);
}

/* DTLS: counted under its own transport. */
static void dtls(void **state) {
  (void)state;
  side s = {.rec = t_rec_new(1)}, c = {.rec = t_rec_new(0)};
  s.net = mk_net(s.rec, NULL);
  c.net = mk_net(c.rec, NULL);
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.server = 1;
  tc.dtls = 1;
  tc.cert_file = t_path(g_dir, "server.pem");
  tc.key_file = t_path(g_dir, "server.key");
  imsec_net_tls *stls = NULL;
  assert_int_equal(imsec_net_tls_new(&stls, &tc), 0);
  memset(&tc, 0, sizeof tc);
  tc.dtls = 1;
  tc.ca_file = t_path(g_dir, "ca.pem");
  imsec_net_tls *ctls = NULL;
  assert_int_equal(imsec_net_tls_new(&ctls, &tc), 0);
  uint16_t port = listen_on(s.net, IMSEC_NET_DTLS, stls);
  assert_int_equal(imsec_net_start(s.net), 0);
  assert_int_equal(imsec_net_start(c.net), 0);
  uint64_t id = connect_to(c.net, IMSEC_NET_DTLS, port, ctls);
  t_ev e;
  assert_int_equal(t_rec_wait(c.rec, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(s.rec, T_EV_UP, 0, 1, WAIT, &e), 0);
  const char *ok = "transport=\"dtls\",result=\"ok\",alert=\"none\"";
  wait_value(s.net, HS, ok, 1);
  wait_value(c.net, HS, ok, 1);
  wait_value(s.net, OPEN, "transport=\"dtls\",mode=\"server_cert\"", 1);
  assert_true(now_value(s.net, "imsec_flows_accepted_total",
                        "transport=\"dtls\"") == 1);
  assert_true(now_value(s.net, HS,
                        "transport=\"tls\",result=\"ok\",alert=\"none\"") == 0);
  listing l;
  list_flows(s.net, &l);
  assert_int_equal(l.t.nrows, 1);
  assert_string_equal(cell(&l.t, 0, "transport"), "dtls");
  assert_string_equal(cell(&l.t, 0, "tls"), "DTLSv1.2");
  imsec_table_free(&l.t);
  imsec_net_del(c.net);
  imsec_net_del(s.net);
  imsec_net_tls_del(stls);
  imsec_net_tls_del(ctls);
  t_rec_del(s.rec);
  t_rec_del(c.rec);
}

static int setup(void **state) {
  (void)state;
  g_dir = t_pki_setup();
  return g_dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  t_rmdir(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(good_and_unknown_ca),
      cmocka_unit_test(mutual),
      cmocka_unit_test(refused_per_ip),
      cmocka_unit_test(dtls),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
