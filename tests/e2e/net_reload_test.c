/* net/: replacing a running TLS context's certificate, key and anchors
 * (imsec_net_tls_reload, a daemon's SIGHUP). Flows up before a reload stay
 * up and keep working; handshakes after it see the new certificate; a
 * reload that fails changes nothing; tickets issued before it still resume
 * unless the client-certificate anchors changed. Real loopback sockets,
 * every wait bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000
#define PCSCF "pcscf.ims.mnc001.mcc001.3gppnetwork.org"
#define RSA_NAME "rsa.pcscf.ims.mnc001.mcc001.3gppnetwork.org"

static const char *g_dir;

static const char SIP_MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n"
                              "Content-Length: 5\r\n\r\nhello";

typedef struct pair {
  imsec_net *s, *c;
  t_rec *rs, *rc;
  imsec_net_tls *stls, *ctls;
  imsec_net_transport tr;
  uint16_t port;
} pair;

static imsec_net *mk_net(t_rec *r) {
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = 1;
  cfg.handler = t_rec_handler(r);
  cfg.log = t_rec_log;
  cfg.log_user = r;
  cfg.log_level = IMSEC_NET_LOG_DEBUG;
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, &cfg), 0);
  return n;
}

static imsec_net_tls *mk_tls(const imsec_net_tls_config *cfg) {
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, cfg), 0);
  return t;
}

/* A server context (server.pem, tickets on; client certificates required
 * under ca.pem when `mutual`) and a client trusting ca.pem (presenting
 * client.pem when `mutual`). */
static void pair_start(pair *p, imsec_net_transport tr, int mutual) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.dtls = tr == IMSEC_NET_DTLS;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  c.tickets = 1;
  if (mutual) {
    c.ca_file = t_path(g_dir, "ca.pem");
    c.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  }
  p->stls = mk_tls(&c);
  memset(&c, 0, sizeof c);
  c.dtls = tr == IMSEC_NET_DTLS;
  c.ca_file = t_path(g_dir, "ca.pem");
  if (mutual) {
    c.cert_file = t_path(g_dir, "client.pem");
    c.key_file = t_path(g_dir, "client.key");
  }
  p->ctls = mk_tls(&c);
  p->tr = tr;
  p->rs = t_rec_new(1);
  p->rc = t_rec_new(0);
  p->s = mk_net(p->rs);
  p->c = mk_net(p->rc);
  struct sockaddr_in a = t_lo4(0);
  assert_int_equal(
      imsec_net_listen(p->s, tr, (struct sockaddr *)&a, p->stls, &p->port), 0);
  assert_int_equal(imsec_net_start(p->s), 0);
  assert_int_equal(imsec_net_start(p->c), 0);
}

static void pair_stop(pair *p) {
  imsec_net_del(p->c);
  imsec_net_del(p->s);
  imsec_net_tls_del(p->stls);
  imsec_net_tls_del(p->ctls);
  t_rec_del(p->rs);
  t_rec_del(p->rc);
  memset(p, 0, sizeof *p);
}

/* Connect and wait until the client side is up: its UP event in *up.
 * Flows of one `sni` may resume each other's sessions. */
static uint64_t open_sni(pair *p, const char *sni, t_ev *up) {
  struct sockaddr_in a = t_lo4(p->port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = p->tr;
  o.peer = (struct sockaddr *)&a;
  o.tls = p->ctls;
  o.server_name = sni;
  uint64_t id = 0;
  assert_int_equal(imsec_net_connect(p->c, &o, &id), 0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_UP, id, 0, WAIT, up), 0);
  t_ev e;
  assert_int_equal(t_rec_wait(p->rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  return id;
}

/* A flow with a session of its own (a full handshake). */
static uint64_t open_flow(pair *p, t_ev *up) {
  static unsigned seq;
  char sni[32];
  snprintf(sni, sizeof sni, "f%u.test", ++seq);
  return open_sni(p, sni, up);
}

/* One message out on flow `id` and its echo back. */
static void echo(pair *p, uint64_t id) {
  t_ev e;
  assert_int_equal(
      imsec_net_send(p->c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_int_equal(e.len, sizeof SIP_MSG - 1);
  assert_memory_equal(e.msg, SIP_MSG, sizeof SIP_MSG - 1);
}

static void close_flow(pair *p, uint64_t id) {
  t_ev e;
  assert_int_equal(imsec_net_close(p->c, id), 0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
}

static int reload(imsec_net_tls *t, const char *cert, const char *key,
                  const char *ca, char *err, size_t cap) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.cert_file = cert ? t_path(g_dir, cert) : NULL;
  c.key_file = key ? t_path(g_dir, key) : NULL;
  c.ca_file = ca ? t_path(g_dir, ca) : NULL;
  return imsec_net_tls_reload(t, &c, err, cap);
}

/* The flow up before the reload keeps working, before and after a new
 * handshake that sees the new certificate. */
static void new_cert_for_new_flows(void **state) {
  (void)state;
  for (int dtls = 0; dtls <= 1; dtls++) {
    pair p = {0};
    pair_start(&p, dtls ? IMSEC_NET_DTLS : IMSEC_NET_TLS, 0);
    t_ev up;
    uint64_t old = open_flow(&p, &up);
    assert_string_equal(up.name0, PCSCF);
    echo(&p, old);
    char err[256] = "x";
    assert_int_equal(
        reload(p.stls, "rsa.pem", "rsa.key", NULL, err, sizeof err), 0);
    assert_string_equal(err, "");
    echo(&p, old);
    uint64_t fresh = open_flow(&p, &up);
    assert_string_equal(up.name0, RSA_NAME);
    assert_int_equal(up.verify, 0);
    echo(&p, fresh);
    echo(&p, old);
    assert_int_equal(t_rec_count(p.rc, T_EV_DOWN), 0);
    close_flow(&p, fresh);
    close_flow(&p, old);
    pair_stop(&p);
  }
}

/* A missing file, a key that does not match, a certificate without its
 * key: an error that names the file, and nothing changes. */
static void failed_reload_changes_nothing(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 0);
  t_ev up;
  uint64_t old = open_flow(&p, &up);
  SSL_CTX *before = p.stls->ctx;
  char err[512];

  assert_int_equal(
      reload(p.stls, "server.pem", "rsa.key", NULL, err, sizeof err),
      IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "does not match"));
  assert_non_null(strstr(err, "rsa.key"));
  assert_ptr_equal(p.stls->ctx, before);

  assert_int_equal(
      reload(p.stls, "nosuch.pem", "server.key", NULL, err, sizeof err),
      IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "nosuch.pem"));
  assert_ptr_equal(p.stls->ctx, before);

  assert_int_equal(
      reload(p.stls, "server.pem", "nosuch.key", NULL, err, sizeof err),
      IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "nosuch.key"));

  /* A key file that is not a key at all. */
  assert_int_equal(
      reload(p.stls, "server.pem", "ca.pem", NULL, err, sizeof err),
      IMSEC_ERR_CONFIG);
  assert_int_equal(reload(p.stls, "server.pem", NULL, NULL, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_int_equal(reload(p.stls, NULL, NULL, NULL, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_int_equal(reload(p.stls, "server.pem", "server.key", "nosuch-ca.pem",
                          err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "nosuch-ca.pem"));
  assert_ptr_equal(p.stls->ctx, before);
  assert_int_equal(imsec_net_tls_reload(NULL, NULL, err, sizeof err),
                   IMSEC_ERR_INVAL);

  echo(&p, old);
  uint64_t fresh = open_flow(&p, &up);
  assert_string_equal(up.name0, PCSCF);
  echo(&p, fresh);

  /* Checked but not applied: nothing changes either. */
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.cert_file = t_path(g_dir, "rsa.pem");
  c.key_file = t_path(g_dir, "rsa.key");
  imsec_net_tls_next *next = NULL;
  assert_int_equal(imsec_net_tls_next_new(&next, p.stls, &c, err, sizeof err),
                   0);
  imsec_net_tls_next_del(next);
  assert_ptr_equal(p.stls->ctx, before);
  uint64_t third = open_flow(&p, &up);
  assert_string_equal(up.name0, PCSCF);
  close_flow(&p, third);
  close_flow(&p, fresh);
  close_flow(&p, old);
  pair_stop(&p);
}

/* Tickets issued before a reload resume after it: the ticket keys belong
 * to the context, not to the files. */
static void tickets_survive(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 0);
  t_ev up;
  uint64_t id = open_sni(&p, "pcscf.test", &up);
  echo(&p, id); /* the ticket arrives with the echo */
  close_flow(&p, id);
  char err[256];
  assert_int_equal(reload(p.stls, "rsa.pem", "rsa.key", NULL, err, sizeof err),
                   0);
  id = open_sni(&p, "pcscf.test", &up);
  assert_int_equal(up.resumed, 1);
  echo(&p, id);
  close_flow(&p, id);
  pair_stop(&p);
}

/* Mutual TLS: a reload of the server's certificate keeps resumption; a
 * reload that changes the client-certificate anchors sends the next client
 * through a full handshake (verified under the new anchors), which the
 * anchors it still holds let through. */
static void mutual_anchors(void **state) {
  (void)state;
  const char *both = t_path(g_dir, "both-ca.pem");
  FILE *o = fopen(both, "w");
  assert_non_null(o);
  const char *parts[] = {"other-ca.pem", "ca.pem"};
  for (int i = 0; i < 2; i++) {
    FILE *in = fopen(t_path(g_dir, parts[i]), "r");
    assert_non_null(in);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
      assert_int_equal(fwrite(buf, 1, n, o), n);
    fclose(in);
  }
  fclose(o);

  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 1);
  t_ev up;
  uint64_t id = open_sni(&p, "pcscf.test", &up);
  echo(&p, id);
  close_flow(&p, id);
  char err[256];
  assert_int_equal(
      reload(p.stls, "rsa.pem", "rsa.key", "ca.pem", err, sizeof err), 0);
  id = open_sni(&p, "pcscf.test", &up);
  assert_int_equal(up.resumed, 1);
  echo(&p, id);
  close_flow(&p, id);

  /* Client certificates without anchors: refused, nothing changes. */
  assert_int_equal(reload(p.stls, "rsa.pem", "rsa.key", NULL, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "CA file"));

  assert_int_equal(
      reload(p.stls, "rsa.pem", "rsa.key", "both-ca.pem", err, sizeof err), 0);
  id = open_sni(&p, "pcscf.test", &up);
  assert_int_equal(up.resumed, 0);
  assert_int_equal(up.verify, 0);
  echo(&p, id);
  close_flow(&p, id);

  /* Anchors that no longer hold the client's CA: the handshake fails. */
  uint64_t kept = open_sni(&p, "pcscf.test", &up);
  assert_int_equal(
      reload(p.stls, "rsa.pem", "rsa.key", "other-ca.pem", err, sizeof err), 0);
  struct sockaddr_in a = t_lo4(p.port);
  imsec_net_connect_opts co;
  memset(&co, 0, sizeof co);
  co.transport = IMSEC_NET_TLS;
  co.peer = (struct sockaddr *)&a;
  co.tls = p.ctls;
  co.server_name = "other.test";
  uint64_t bad = 0;
  assert_int_equal(imsec_net_connect(p.c, &co, &bad), 0);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, bad, 0, WAIT, &e), 0);
  /* The flow verified before the change stays. */
  echo(&p, kept);
  close_flow(&p, kept);
  pair_stop(&p);
}

/* A client context: its anchors are replaced too, and its kept sessions
 * forgotten (they were verified under the old anchors). */
static void client_anchors(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 0);
  t_ev up;
  uint64_t id = open_sni(&p, "pcscf.test", &up);
  echo(&p, id);
  close_flow(&p, id);
  assert_int_equal(p.ctls->nsess, 1);
  char err[256];
  assert_int_equal(reload(p.ctls, NULL, NULL, "other-ca.pem", err, sizeof err),
                   0);
  assert_int_equal(p.ctls->nsess, 0);
  struct sockaddr_in a = t_lo4(p.port);
  imsec_net_connect_opts co;
  memset(&co, 0, sizeof co);
  co.transport = IMSEC_NET_TLS;
  co.peer = (struct sockaddr *)&a;
  co.tls = p.ctls;
  co.server_name = "pcscf.test";
  uint64_t bad = 0;
  assert_int_equal(imsec_net_connect(p.c, &co, &bad), 0);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, bad, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_AUTH);
  assert_int_equal(reload(p.ctls, NULL, NULL, "ca.pem", err, sizeof err), 0);
  id = open_sni(&p, "pcscf.test", &up);
  assert_int_equal(up.resumed, 0);
  echo(&p, id);
  close_flow(&p, id);
  pair_stop(&p);
}

/* Reloads racing handshakes on the loop thread: every flow comes up with
 * one certificate or the other, none fails. */
static void reload_under_load(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 0);
  struct sockaddr_in a = t_lo4(p.port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TLS;
  o.peer = (struct sockaddr *)&a;
  o.tls = p.ctls;
  enum { N = 40 };
  uint64_t ids[N];
  char err[256];
  for (int i = 0; i < N; i++) {
    char sni[32];
    snprintf(sni, sizeof sni, "s%d.test", i); /* no resumption */
    o.server_name = sni;
    assert_int_equal(imsec_net_connect(p.c, &o, &ids[i]), 0);
    int odd = i % 2;
    assert_int_equal(reload(p.stls, odd ? "rsa.pem" : "server.pem",
                            odd ? "rsa.key" : "server.key", NULL, err,
                            sizeof err),
                     0);
  }
  int rsa = 0;
  for (int i = 0; i < N; i++) {
    t_ev up;
    assert_int_equal(t_rec_wait(p.rc, T_EV_UP, ids[i], 0, WAIT, &up), 0);
    assert_true(strcmp(up.name0, PCSCF) == 0 ||
                strcmp(up.name0, RSA_NAME) == 0);
    rsa += strcmp(up.name0, RSA_NAME) == 0;
  }
  assert_int_equal(t_rec_count(p.rc, T_EV_DOWN), 0);
  (void)rsa;
  pair_stop(&p);
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
      cmocka_unit_test(new_cert_for_new_flows),
      cmocka_unit_test(failed_reload_changes_nothing),
      cmocka_unit_test(tickets_survive),
      cmocka_unit_test(mutual_anchors),
      cmocka_unit_test(client_anchors),
      cmocka_unit_test(reload_under_load),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
