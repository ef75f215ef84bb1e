/* net/: our client against our server over real loopback sockets, in every
 * mode (TCP, TLS 1.3/1.2 with EC and RSA certificates, mutual TLS, PSK,
 * resumption, DTLS, UDP, IPv6, several loops), and the limits that must
 * hold under abuse (handshake timeout, message size, half-open flood,
 * per-address cap, idle timeout, keepalive). Each wait is bounded. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <uv.h>

#include "net/net_int.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000

static const char *g_dir;

static const char SIP_MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n"
                              "Content-Length: 5\r\n\r\nhello";

typedef struct pair {
  imsec_net *s, *c;
  t_rec *rs, *rc;
  imsec_net_tls *stls, *ctls;
  uint16_t port;
  int v6;
} pair;

static imsec_net *mk_net(t_rec *r, const imsec_net_limits *lim,
                         unsigned threads) {
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = threads;
  if (lim)
    cfg.limits = *lim;
  cfg.handler = t_rec_handler(r);
  cfg.log = t_rec_log;
  cfg.log_user = r;
  cfg.log_level = IMSEC_NET_LOG_DEBUG;
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, &cfg), 0);
  return n;
}

static void pair_start(pair *p, imsec_net_transport tr,
                       const imsec_net_limits *lim, unsigned threads) {
  p->rs = t_rec_new(1);
  p->rc = t_rec_new(0);
  p->s = mk_net(p->rs, lim, threads);
  p->c = mk_net(p->rc, NULL, 1);
  if (p->v6) {
    struct sockaddr_in6 a = t_lo6(0);
    assert_int_equal(
        imsec_net_listen(p->s, tr, (struct sockaddr *)&a, p->stls, &p->port),
        0);
  } else {
    struct sockaddr_in a = t_lo4(0);
    assert_int_equal(
        imsec_net_listen(p->s, tr, (struct sockaddr *)&a, p->stls, &p->port),
        0);
  }
  assert_true(p->port > 0);
  assert_int_equal(imsec_net_start(p->s), 0);
  assert_int_equal(imsec_net_start(p->c), 0);
}

static uint64_t pair_connect(pair *p, imsec_net_transport tr, const char *sni) {
  struct sockaddr_in a4 = t_lo4(p->port);
  struct sockaddr_in6 a6 = t_lo6(p->port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = tr;
  o.peer = p->v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
  o.tls = p->ctls;
  o.server_name = sni;
  uint64_t id = 0;
  assert_int_equal(imsec_net_connect(p->c, &o, &id), 0);
  return id;
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

static imsec_net_tls *mk_tls(const imsec_net_tls_config *cfg) {
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, cfg), 0);
  return t;
}

static imsec_net_tls *server_tls(const char *cert, const char *key, int dtls) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.dtls = dtls;
  c.cert_file = t_path(g_dir, cert);
  c.key_file = t_path(g_dir, key);
  return mk_tls(&c);
}

static imsec_net_tls *client_tls(int dtls) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.dtls = dtls;
  c.ca_file = t_path(g_dir, "ca.pem");
  return mk_tls(&c);
}

/* Up on both sides, one echoed message, close, down on both sides. */
static void roundtrip(pair *p, uint64_t id, t_ev *cup) {
  t_ev e;
  assert_int_equal(t_rec_wait(p->rc, T_EV_UP, id, 0, WAIT, cup ? cup : &e), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(
      imsec_net_send(p->c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_MSG, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.len, sizeof SIP_MSG - 1);
  assert_int_equal(t_rec_wait(p->rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_memory_equal(e.msg, SIP_MSG, sizeof SIP_MSG - 1);
  assert_int_equal(imsec_net_close(p->c, id), 0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.reason, 0);
}

/* ------------------------------------------------------------ modes */

static void tcp_echo(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TCP, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TCP, NULL);
  t_ev up;
  roundtrip(&p, id, &up);
  /* The client's peer is the server's listening address. */
  char want[32];
  snprintf(want, sizeof want, "127.0.0.1:%u", p.port);
  assert_string_equal(up.peer, want);
  assert_true(up.local_port != 0 && up.local_port != p.port);
  assert_string_equal(up.version, "");
  pair_stop(&p);
}

/* A tiny read budget: the flow is paused and resumed between wakeups, and
 * every message still arrives, in order. */
static void read_budget(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.read_budget = 512;
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, &lim, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  enum { N = 300 };
  char m[128];
  for (int i = 0; i < N; i++) {
    int n =
        snprintf(m, sizeof m, "MESSAGE sip:x SIP/2.0\r\nl: 4\r\n\r\n%04d", i);
    assert_int_equal(imsec_net_send(p.c, id, (const uint8_t *)m, (size_t)n), 0);
  }
  t_ev e;
  for (int i = 0; i < N; i++) {
    assert_int_equal(t_rec_wait(p.rs, T_EV_MSG, 0, 1, WAIT, &e), 0);
    char want[8];
    snprintf(want, sizeof want, "%04d", i);
    assert_memory_equal(e.msg + e.len - 4, want, 4);
  }
  pair_stop(&p);
}

static void udp_echo(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_UDP, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_UDP, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(
      imsec_net_send(p.c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1), 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_int_equal(e.len, sizeof SIP_MSG - 1);
  pair_stop(&p);
}

static void tls13_server_cert(void **state) {
  (void)state;
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS,
                             "pcscf.ims.mnc001.mcc001.3gppnetwork.org");
  t_ev up;
  roundtrip(&p, id, &up);
  assert_string_equal(up.version, "TLSv1.3");
  assert_int_equal(up.verify, 0);
  assert_int_equal(up.nchain, 2); /* leaf, root */
  assert_int_equal(up.nnames, 2); /* SAN dNSName and URI */
  assert_string_equal(up.name0, "pcscf.ims.mnc001.mcc001.3gppnetwork.org");
  assert_int_equal(up.resumed, 0);
  assert_int_equal(up.psk, 0);
  pair_stop(&p);
}

/* The three-level PKI's leaf, its file alone, root and operator CA as the
 * anchors. */
static imsec_net_tls *leaf3_tls(int server) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = server;
  c.cert_file = t_path(g_dir, "leaf3.pem");
  c.key_file = t_path(g_dir, "leaf3.key");
  c.ca_file = t_path(g_dir, "ca-chain.pem");
  return mk_tls(&c);
}

/* A leaf-only certificate file with its operator CA among the anchors: the
 * chain is completed once, when the context is made (the operator CA, not
 * the root), and OpenSSL's per-handshake chain building is off. Both sides
 * build it the same way: a UE's client certificate here too. */
static void chain_built_once(void **state) {
  (void)state;
  for (int side = 0; side <= 1; side++) {
    imsec_net_tls *t = leaf3_tls(side == 0);
    assert_true(SSL_CTX_get_mode(t->ctx) & SSL_MODE_NO_AUTO_CHAIN);
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(SSL_CTX_get0_chain_certs(t->ctx, &chain), 1);
    assert_int_equal(sk_X509_num(chain), 1);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)),
                              NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, "imsec test operator CA");
    imsec_net_tls_del(t);
  }
  /* A client that trusts the root alone verifies the server: the operator
   * CA travelled in the server's Certificate message. */
  pair p = {0};
  p.stls = leaf3_tls(1);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS,
                             "pcscf2.ims.mnc001.mcc001.3gppnetwork.org");
  t_ev up;
  roundtrip(&p, id, &up);
  assert_int_equal(up.verify, 0);
  assert_int_equal(up.nchain, 3); /* leaf, operator CA, root */
  pair_stop(&p);
}

static void tls12_rsa(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.tls12_only = 1;
  c.cert_file = t_path(g_dir, "rsa.pem");
  c.key_file = t_path(g_dir, "rsa.key");
  p.stls = mk_tls(&c);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev up;
  roundtrip(&p, id, &up);
  assert_string_equal(up.version, "TLSv1.2");
  assert_int_equal(up.verify, 0);
  /* No SAN: the CN is the name (RFC 5922 §7.1). */
  assert_int_equal(up.nnames, 1);
  assert_string_equal(up.name0, "rsa.pcscf.ims.mnc001.mcc001.3gppnetwork.org");
  pair_stop(&p);
}

static void tls_ipv6(void **state) {
  (void)state;
  /* TLS, then DTLS (its cookie is bound to the IPv6 source address). */
  for (int dtls = 0; dtls <= 1; dtls++) {
    pair p = {0};
    p.v6 = 1;
    p.stls = server_tls("server.pem", "server.key", dtls);
    p.ctls = client_tls(dtls);
    imsec_net_transport tr = dtls ? IMSEC_NET_DTLS : IMSEC_NET_TLS;
    pair_start(&p, tr, NULL, 1);
    uint64_t id = pair_connect(&p, tr, NULL);
    roundtrip(&p, id, NULL);
    pair_stop(&p);
  }
}

static void untrusted_server(void **state) {
  (void)state;
  /* Strict client: the handshake fails. */
  pair p = {0};
  p.stls = server_tls("rogue.pem", "rogue.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_AUTH);
  assert_int_equal(t_rec_count(p.rc, T_EV_UP), 0);
  pair_stop(&p);

  /* Deferred: up with the verify result; the owner refuses the flow. */
  memset(&p, 0, sizeof p);
  p.stls = server_tls("rogue.pem", "rogue.key", 0);
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.ca_file = t_path(g_dir, "ca.pem");
  c.defer_verify = 1;
  p.ctls = mk_tls(&c);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  t_rec_set_refuse(p.rc, IMSEC_ERR_TRUST);
  id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_true(e.verify > 0);
  assert_int_equal(e.nchain, 1); /* the chain as sent: the leaf */
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_TRUST);
  pair_stop(&p);
}

static void mutual_tls(void **state) {
  (void)state;
  imsec_net_tls_config c;
  for (int with_cert = 0; with_cert <= 1; with_cert++) {
    pair p = {0};
    memset(&c, 0, sizeof c);
    c.server = 1;
    c.cert_file = t_path(g_dir, "server.pem");
    c.key_file = t_path(g_dir, "server.key");
    c.ca_file = t_path(g_dir, "ca.pem");
    c.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    p.stls = mk_tls(&c);
    memset(&c, 0, sizeof c);
    c.ca_file = t_path(g_dir, "ca.pem");
    if (with_cert) {
      c.cert_file = t_path(g_dir, "client.pem");
      c.key_file = t_path(g_dir, "client.key");
    }
    p.ctls = mk_tls(&c);
    pair_start(&p, IMSEC_NET_TLS, NULL, 1);
    uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
    t_ev e;
    if (with_cert) {
      assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
      assert_int_equal(e.verify, 0);
      assert_int_equal(e.nchain, 2);
      assert_string_equal(e.name0, "ue.ims.mnc001.mcc001.3gppnetwork.org");
      assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id, 0, WAIT, &e), 0);
    } else {
      /* TLS 1.3: the client is up first, then reads the server's alert. */
      assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
      assert_int_not_equal(e.reason, 0);
      assert_int_equal(t_rec_count(p.rs, T_EV_UP), 0);
      assert_true(t_rec_log_has(p.rs, "handshake failed"));
    }
    pair_stop(&p);
  }
}

static const uint8_t PSK[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static int psk_lookup(void *arg, const uint8_t *id, size_t idlen, uint8_t *key,
                      size_t cap) {
  (void)arg;
  if (idlen != 14 || memcmp(id, "ue1@ims.test.x", 14) != 0 || cap < 32)
    return IMSEC_ERR_NOTFOUND;
  memcpy(key, PSK, 32);
  return 32;
}

static void psk_modes(void **state) {
  (void)state;
  for (int v12 = 0; v12 <= 1; v12++) {
    pair p = {0};
    imsec_net_tls_config c;
    memset(&c, 0, sizeof c);
    c.server = 1;
    c.psk_lookup = psk_lookup;
    c.tls12_only = v12;
    p.stls = mk_tls(&c);
    memset(&c, 0, sizeof c);
    c.psk_identity = "ue1@ims.test.x";
    c.psk_key = PSK;
    c.psk_key_len = sizeof PSK;
    p.ctls = mk_tls(&c);
    pair_start(&p, IMSEC_NET_TLS, NULL, 1);
    uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
    t_ev up;
    roundtrip(&p, id, &up);
    assert_string_equal(up.version, v12 ? "TLSv1.2" : "TLSv1.3");
    assert_int_equal(up.psk, 1);
    assert_int_equal(up.resumed, 0);
    assert_int_equal(up.nchain, 0);
    pair_stop(&p);
  }
  /* A wrong key fails the handshake. */
  pair p = {0};
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.psk_lookup = psk_lookup;
  p.stls = mk_tls(&c);
  uint8_t bad[32];
  memcpy(bad, PSK, 32);
  bad[0] ^= 1;
  memset(&c, 0, sizeof c);
  c.psk_identity = "ue1@ims.test.x";
  c.psk_key = bad;
  c.psk_key_len = 32;
  p.ctls = mk_tls(&c);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_not_equal(e.reason, 0);
  assert_int_equal(t_rec_count(p.rs, T_EV_UP), 0);
  pair_stop(&p);
}

static void resumption(void **state) {
  (void)state;
  for (int no_resume = 0; no_resume <= 1; no_resume++) {
    for (int v12 = 0; v12 <= 1; v12++) {
      pair p = {0};
      imsec_net_tls_config c;
      memset(&c, 0, sizeof c);
      c.server = 1;
      c.cert_file = t_path(g_dir, "server.pem");
      c.key_file = t_path(g_dir, "server.key");
      c.tickets = 1;
      c.tls12_only = v12;
      p.stls = mk_tls(&c);
      memset(&c, 0, sizeof c);
      c.ca_file = t_path(g_dir, "ca.pem");
      c.no_resume = no_resume;
      p.ctls = mk_tls(&c);
      pair_start(&p, IMSEC_NET_TLS, NULL, 1);
      t_ev up;
      uint64_t id = pair_connect(&p, IMSEC_NET_TLS, "pcscf.test");
      roundtrip(&p, id, &up); /* the ticket arrives with the echo */
      assert_int_equal(up.resumed, 0);
      id = pair_connect(&p, IMSEC_NET_TLS, "pcscf.test");
      roundtrip(&p, id, &up);
      assert_int_equal(up.resumed, !no_resume);
      pair_stop(&p);
    }
  }
}

/* Mode M2 pair: a server requiring a client certificate, issuing tickets,
 * and a client presenting one (TLS 1.2 only when v12; DTLS when dtls). */
static void mutual_pair(pair *p, int dtls, int v12) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.dtls = dtls;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  c.ca_file = t_path(g_dir, "ca.pem");
  c.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  c.tickets = 1;
  c.tls12_only = v12;
  p->stls = mk_tls(&c);
  memset(&c, 0, sizeof c);
  c.dtls = dtls;
  c.ca_file = t_path(g_dir, "ca.pem");
  c.cert_file = t_path(g_dir, "client.pem");
  c.key_file = t_path(g_dir, "client.key");
  p->ctls = mk_tls(&c);
  pair_start(p, dtls ? IMSEC_NET_DTLS : IMSEC_NET_TLS, NULL, 1);
}

/* One connection of a mode M2 pair: up on both sides (the events in up
 * and sup), a message echoed (the ticket comes with it), closed. */
static void mutual_round(pair *p, imsec_net_transport tr, t_ev *up, t_ev *sup) {
  t_ev m;
  uint64_t id = pair_connect(p, tr, "pcscf.test");
  assert_int_equal(t_rec_wait(p->rc, T_EV_UP, id, 0, WAIT, up), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_UP, 0, 1, WAIT, sup), 0);
  assert_int_equal(
      imsec_net_send(p->c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_MSG, id, 0, WAIT, &m), 0);
  assert_int_equal(imsec_net_close(p->c, id), 0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_DOWN, id, 0, WAIT, &m), 0);
}

/* Mutual TLS and resumption (mode M2, a UE reconnecting): the session
 * resumes (OpenSSL would fail it outright without a session context) and
 * the server still sees the UE's certificate on the resumed flow. */
static void resumption_mutual(void **state) {
  (void)state;
  for (int v12 = 0; v12 <= 1; v12++) {
    pair p = {0};
    mutual_pair(&p, 0, v12);
    for (int round = 0; round <= 1; round++) {
      t_ev up, sup, m;
      mutual_round(&p, IMSEC_NET_TLS, &up, &sup);
      assert_int_equal(up.resumed, round);
      assert_int_equal(sup.verify, 0);
      assert_true(sup.nchain >= 1);
      assert_string_equal(sup.name0, "ue.ims.mnc001.mcc001.3gppnetwork.org");
      assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, WAIT, &m), 0);
    }
    pair_stop(&p);
  }
}

/* DTLS with a client certificate required (mode M2 over UDP), and a UE
 * coming back resumes its session there too. */
static void dtls_mutual(void **state) {
  (void)state;
  pair p = {0};
  mutual_pair(&p, 1, 0);
  for (int round = 0; round <= 1; round++) {
    t_ev up, sup;
    mutual_round(&p, IMSEC_NET_DTLS, &up, &sup);
    assert_string_equal(up.version, "DTLSv1.2");
    assert_int_equal(up.resumed, round);
    assert_int_equal(sup.verify, 0);
    assert_int_equal(sup.nchain, round ? 1 : 2); /* resumed: the leaf */
    assert_string_equal(sup.name0, "ue.ims.mnc001.mcc001.3gppnetwork.org");
  }
  pair_stop(&p);
}

/* Ticket keys rotate: a ticket under the previous key still resumes, one
 * two keys old does not. */
static void ticket_key_rotation(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  c.tickets = 1;
  c.ticket_key_lifetime_s = 2;
  p.stls = mk_tls(&c);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  t_ev up;
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "a"), &up); /* key 1 */
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "d"), &up); /* key 1 */
  usleep(2200000);
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "b"), &up); /* key 2 */
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "a"), &up);
  assert_int_equal(up.resumed, 1); /* previous key: accepted, renewed */
  usleep(2200000);
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "c"), &up); /* key 3 */
  roundtrip(&p, pair_connect(&p, IMSEC_NET_TLS, "d"), &up);
  assert_int_equal(up.resumed, 0); /* key 1 is gone */
  pair_stop(&p);
}

static void dtls_echo(void **state) {
  (void)state;
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 1);
  p.ctls = client_tls(1);
  pair_start(&p, IMSEC_NET_DTLS, NULL, 1);
  /* Stateless cookies: datagrams from unproven sources make no flow. A
   * DTLS 1.2 ClientHello record header, then junk, from 50 source ports. */
  for (int i = 0; i < 50; i++) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = t_lo4(p.port);
    uint8_t junk[200] = {0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 1};
    for (size_t k = 14; k < sizeof junk; k++)
      junk[k] = (uint8_t)(k * 7 + (size_t)i);
    assert_int_equal(
        sendto(u, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to),
        (ssize_t)sizeof junk);
    close(u);
  }
  usleep(100000);
  imsec_net_stats st;
  imsec_net_get_stats(p.s, &st);
  assert_int_equal(st.accepted, 0);
  assert_int_equal(st.flows, 0);
  uint64_t id = pair_connect(&p, IMSEC_NET_DTLS, NULL);
  t_ev up, e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id, 0, WAIT, &up), 0);
  assert_string_equal(up.version, "DTLSv1.2");
  assert_int_equal(up.verify, 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(
      imsec_net_send(p.c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_int_equal(e.len, sizeof SIP_MSG - 1);
  /* A large message (one record, beyond the MTU) still goes through ... */
  static uint8_t big[20000];
  memset(big, 'x', sizeof big);
  assert_int_equal(imsec_net_send(p.c, id, big, 12000), 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_MSG, 0, 1, WAIT, &e), 0); /* first */
  assert_int_equal(t_rec_wait(p.rs, T_EV_MSG, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.len, 12000);
  /* ... and one beyond a DTLS record is refused cleanly (the flow stays). */
  int r = imsec_net_send(p.c, id, big, sizeof big);
  assert_true(r == 0 || r == IMSEC_ERR_LIMIT); /* queued from this thread */
  assert_int_equal(
      imsec_net_send(p.c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_int_equal(e.len, sizeof SIP_MSG - 1);
  assert_true(t_rec_log_has(p.rc, "over the limit"));
  pair_stop(&p);
}

/* RFC 5923 reuse: a second connect to the same peer returns the flow
 * already opening; messages sent before it is up leave after on_up. */
static void reuse_and_early_send(void **state) {
  (void)state;
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  struct sockaddr_in a = t_lo4(p.port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TLS;
  o.peer = (struct sockaddr *)&a;
  o.tls = p.ctls;
  o.reuse = 1;
  uint64_t id1 = 0, id2 = 0;
  assert_int_equal(imsec_net_connect(p.c, &o, &id1), 0);
  assert_int_equal(
      imsec_net_send(p.c, id1, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  assert_int_equal(imsec_net_connect(p.c, &o, &id2), 0);
  assert_true(id1 == id2);
  assert_int_equal(
      imsec_net_send(p.c, id2, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id1, 0, WAIT, &e), 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(t_rec_wait(p.rs, T_EV_MSG, 0, 1, WAIT, &e), 0);
    assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, id1, 0, WAIT, &e), 0);
  }
  assert_int_equal(t_rec_count(p.rs, T_EV_UP), 1);
  assert_int_equal(imsec_net_close(p.c, id1), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id1, 0, WAIT, &e), 0);
  /* Once it is down, reuse opens a new one. */
  assert_int_equal(imsec_net_connect(p.c, &o, &id2), 0);
  assert_true(id1 != id2);
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id2, 0, WAIT, &e), 0);
  pair_stop(&p);
}

static void multi_loop(void **state) {
  (void)state;
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 2);
  uint64_t ids[6];
  for (int i = 0; i < 6; i++)
    ids[i] = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev e;
  uint64_t sids[6];
  for (int i = 0; i < 6; i++) {
    assert_int_equal(t_rec_wait(p.rc, T_EV_UP, ids[i], 0, WAIT, &e), 0);
    assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
    sids[i] = e.id;
  }
  /* The server side sends towards each client flow from this thread: the
   * message crosses to the flow's loop through its queue. */
  for (int i = 0; i < 6; i++)
    assert_int_equal(imsec_net_send(p.s, sids[i], (const uint8_t *)SIP_MSG,
                                    sizeof SIP_MSG - 1),
                     0);
  for (int i = 0; i < 6; i++)
    assert_int_equal(t_rec_wait(p.rc, T_EV_MSG, ids[i], 0, WAIT, &e), 0);
  /* Flow tokens map back to the flow; a forged one does not. */
  char tok[41];
  assert_int_equal(imsec_net_token(p.s, sids[3], tok, sizeof tok), 40);
  uint64_t back = 0;
  assert_int_equal(imsec_net_token_check(p.s, imsec_str_c(tok), &back), 0);
  assert_true(back == sids[3]);
  tok[39] = tok[39] == '0' ? '1' : '0';
  assert_int_equal(imsec_net_token_check(p.s, imsec_str_c(tok), &back),
                   IMSEC_ERR_MAC);
  assert_int_equal(imsec_net_token_check(p.c, imsec_str_c("zz"), &back),
                   IMSEC_ERR_PARSE);
  imsec_net_stats st;
  imsec_net_get_stats(p.s, &st);
  assert_int_equal(st.handshakes, 6);
  pair_stop(&p);
}

/* ------------------------------------------------------------ limits */

static int raw_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = t_lo4(port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Block until the server closes `fd` (read returns 0 or an error). */
static int raw_wait_closed(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b[4096];
  for (;;) {
    ssize_t n = read(fd, b, sizeof b);
    if (n > 0)
      continue;
    return n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : -1;
  }
}

static void slow_handshake_closed(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.handshake_timeout_ms = 300;
  p.stls = server_tls("server.pem", "server.key", 0);
  pair_start(&p, IMSEC_NET_TLS, &lim, 1);
  int fd = raw_connect(p.port);
  assert_true(fd >= 0);
  uint64_t t0 = t_now_ms();
  assert_int_equal(write(fd, "\x16\x03\x01", 3), 3); /* a record begins */
  assert_int_equal(raw_wait_closed(fd, 3000), 0);
  uint64_t dt = t_now_ms() - t0;
  assert_true(dt >= 250 && dt < 2500);
  close(fd);
  assert_true(t_rec_log_has(p.rs, "handshake not done in 300 ms"));
  pair_stop(&p);
}

static void oversized_message_closed(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_msg = 1024;
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, &lim, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  /* A header block that never ends ... */
  static uint8_t big[4096];
  memset(big, 'a', sizeof big);
  assert_int_equal(imsec_net_send(p.c, id, big, sizeof big), 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_LIMIT);
  /* ... and the client sees a clean TLS close (close_notify). */
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, 0);
  /* A Content-Length beyond the limit is refused before the body. */
  id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  static const char cl[] = "MESSAGE sip:x SIP/2.0\r\nl: 999999\r\n\r\n";
  assert_int_equal(imsec_net_send(p.c, id, (const uint8_t *)cl, sizeof cl - 1),
                   0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_LIMIT);
  assert_true(t_rec_log_has(p.rs, "over the size limit"));
  pair_stop(&p);
}

/* net's on_refused: the owner sees what arrived and answers; the answer
 * reaches the peer before the connection closes, even when the peer is
 * still sending (the flow lingers, reading and dropping, instead of a TCP
 * reset), and on_down says why. */
typedef struct refused_rec {
  _Atomic int calls, reason, downs, down_reason;
  _Atomic size_t len;
  char head[16];
} refused_rec;

static void rr_refused(void *user, imsec_net_flow *f, int reason,
                       const uint8_t *head, size_t len) {
  refused_rec *r = user;
  memcpy(r->head, head, len < sizeof r->head ? len : sizeof r->head);
  r->len = len;
  r->reason = reason;
  static const char ans[] = "SIP/2.0 513 Message Too Large\r\n\r\n";
  assert_int_equal(imsec_net_flow_send(f, (const uint8_t *)ans, sizeof ans - 1),
                   0);
  r->calls++;
}

static void rr_down(void *user, imsec_net_flow *f, int reason) {
  (void)f;
  refused_rec *r = user;
  r->down_reason = reason;
  r->downs++;
}

static void refused_input_answered(void **state) {
  (void)state;
  refused_rec rr;
  memset(&rr, 0, sizeof rr);
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = 1;
  cfg.limits.max_msg = 1024;
  cfg.handler.on_down = rr_down;
  cfg.handler.on_refused = rr_refused;
  cfg.handler.user = &rr;
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, &cfg), 0);
  struct sockaddr_in a = t_lo4(0);
  uint16_t port = 0;
  assert_int_equal(
      imsec_net_listen(n, IMSEC_NET_TCP, (struct sockaddr *)&a, NULL, &port),
      0);
  assert_int_equal(imsec_net_start(n), 0);
  for (int round = 0; round < 2; round++) {
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    /* round 0: a header block that never ends, and more behind it;
     * round 1: octets that cannot start a message */
    /* more than the socket buffers hold: octets are still arriving when
     * the answer goes out */
    static char big[1 << 20];
    memset(big, 'a', sizeof big);
    memcpy(big, "MESSAGE sip:x SIP/2.0\r\n", 23);
    if (round == 1)
      memcpy(big, "\r\x01", 2);
    size_t sent = 0;
    while (sent < sizeof big) {
      ssize_t w = send(fd, big + sent, sizeof big - sent, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      sent += (size_t)w;
    }
    char got[256];
    size_t have = 0;
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
      ssize_t r = read(fd, got + have, sizeof got - 1 - have);
      if (r <= 0) {
        assert_int_equal(r, 0); /* EOF, not a reset nor a timeout */
        break;
      }
      have += (size_t)r;
    }
    got[have] = 0;
    assert_string_equal(got, "SIP/2.0 513 Message Too Large\r\n\r\n");
    close(fd);
    uint64_t t0 = t_now_ms();
    while (rr.downs < round + 1 && t_now_ms() - t0 < WAIT)
      usleep(1000);
    assert_int_equal(rr.calls, round + 1);
    assert_int_equal(rr.downs, round + 1);
    if (round == 0) {
      assert_int_equal(rr.reason, IMSEC_ERR_LIMIT);
      assert_int_equal(rr.down_reason, IMSEC_ERR_LIMIT);
      assert_int_equal(rr.len, 1024);
      assert_memory_equal(rr.head, "MESSAGE sip:x SI", 16);
    } else {
      assert_int_equal(rr.reason, IMSEC_ERR_PARSE);
      assert_int_equal(rr.down_reason, IMSEC_ERR_PARSE);
    }
  }
  imsec_net_del(n);
}

static void half_open_flood(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_flows_per_ip = 1000;
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, &lim, 1);
  enum { N = 200 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = raw_connect(p.port);
    assert_true(fds[i] >= 0);
    if (i % 2)
      assert_int_equal(write(fds[i], "\x16\x03\x01\x02", 4), 4);
  }
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  roundtrip(&p, id, NULL);
  for (int i = 0; i < N; i++)
    close(fds[i]);
  pair_stop(&p);
}

static void per_address_limit(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_flows_per_ip = 3;
  pair_start(&p, IMSEC_NET_TCP, &lim, 1);
  int fds[4];
  for (int i = 0; i < 3; i++)
    fds[i] = raw_connect(p.port);
  t_ev e;
  for (int i = 0; i < 3; i++)
    assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  fds[3] = raw_connect(p.port);
  assert_int_equal(raw_wait_closed(fds[3], 3000), 0);
  assert_true(t_rec_log_has(p.rs, "flows from this address"));
  imsec_net_stats st;
  imsec_net_get_stats(p.s, &st);
  assert_int_equal(st.refused, 1);
  for (int i = 0; i < 4; i++)
    close(fds[i]);
  pair_stop(&p);

  /* The overall cap, likewise. */
  memset(&lim, 0, sizeof lim);
  lim.max_flows = 2;
  pair_start(&p, IMSEC_NET_TCP, &lim, 1);
  for (int i = 0; i < 2; i++)
    fds[i] = raw_connect(p.port);
  for (int i = 0; i < 2; i++)
    assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  fds[2] = raw_connect(p.port);
  assert_int_equal(raw_wait_closed(fds[2], 3000), 0);
  assert_true(t_rec_log_has(p.rs, "flows open (limit)"));
  for (int i = 0; i < 3; i++)
    close(fds[i]);
  pair_stop(&p);
}

/* Echoes to peers that already left: EPIPE, never a SIGPIPE that would
 * kill the process (the test process does not ignore SIGPIPE). */
static void peer_gone_no_sigpipe(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TCP, NULL, 1);
  for (int i = 0; i < 20; i++) {
    int fd = raw_connect(p.port);
    assert_true(fd >= 0);
    for (int k = 0; k < 5; k++)
      assert_int_equal(write(fd, SIP_MSG, sizeof SIP_MSG - 1),
                       (ssize_t)(sizeof SIP_MSG - 1));
    close(fd);
  }
  t_ev e;
  for (int i = 0; i < 20; i++)
    assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
  uint64_t id = pair_connect(&p, IMSEC_NET_TCP, NULL);
  roundtrip(&p, id, NULL);
  pair_stop(&p);
}

static void idle_before_registration(void **state) {
  (void)state;
  pair p = {0};
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.idle_timeout_ms = 300;
  pair_start(&p, IMSEC_NET_TCP, &lim, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TCP, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_TIMEOUT);
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  /* A kept (registered) flow stays. */
  t_rec_set_keep(p.rs, 1);
  id = pair_connect(&p, IMSEC_NET_TCP, NULL);
  assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p.rs, T_EV_DOWN, 0, 1, 800, &e), -1);
  pair_stop(&p);
}

static void keepalive(void **state) {
  (void)state;
  /* Against our server: pings get pongs, the flow stays up. */
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  t_rec_set_keepalive(p.rc, 100, 500);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  t_ev e;
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, id, 0, 1500, &e), -1);
  assert_int_equal(t_rec_count(p.rs, T_EV_MSG), 0); /* pings are no messages */
  pair_stop(&p);

  /* Against a peer that never answers: the flow is declared dead. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = t_lo4(0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t sl = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &sl);
  assert_int_equal(listen(lfd, 4), 0);
  t_rec *rc = t_rec_new(0);
  imsec_net *c = mk_net(rc, NULL, 1);
  t_rec_set_keepalive(rc, 100, 300);
  assert_int_equal(imsec_net_start(c), 0);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TCP;
  o.peer = (struct sockaddr *)&a;
  assert_int_equal(imsec_net_connect(c, &o, &id), 0);
  assert_int_equal(t_rec_wait(rc, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(rc, T_EV_DOWN, id, 0, 3000, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_TIMEOUT);
  assert_true(t_rec_log_has(rc, "no keepalive pong"));
  imsec_net_del(c);
  t_rec_del(rc);
  close(lfd);
}

/* A peer that never reads: our queued output hits max_pending_out and the
 * flow is closed, memory stays bounded. */
static void pending_output_limit(void **state) {
  (void)state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = t_lo4(0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t sl = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &sl);
  assert_int_equal(listen(lfd, 4), 0);
  t_rec *rc = t_rec_new(0);
  imsec_net_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_pending_out = 256 * 1024;
  imsec_net *c = mk_net(rc, &lim, 1);
  assert_int_equal(imsec_net_start(c), 0);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TCP;
  o.peer = (struct sockaddr *)&a;
  uint64_t id;
  assert_int_equal(imsec_net_connect(c, &o, &id), 0);
  t_ev e;
  assert_int_equal(t_rec_wait(rc, T_EV_UP, id, 0, WAIT, &e), 0);
  static uint8_t chunk[60000];
  memset(chunk, 'z', sizeof chunk);
  int sent = 0;
  for (; sent < 2000; sent++) {
    if (imsec_net_send(c, id, chunk, sizeof chunk) != 0)
      break;
    if (t_rec_count(rc, T_EV_DOWN) > 0)
      break;
    if (sent % 50 == 49)
      usleep(10000);
  }
  assert_int_equal(t_rec_wait(rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(e.reason, IMSEC_ERR_LIMIT);
  assert_true(t_rec_log_has(rc, "pending output over"));
  imsec_net_del(c);
  t_rec_del(rc);
  close(lfd);
}

/* Delayed calls on a chosen loop: they run on that loop, in time; the
 * ones still pending when the net stops are dropped. */
typedef struct post_rec {
  uv_mutex_t mu;
  int fired[3];
  uint64_t at[3];
} post_rec;
static post_rec g_post;

static void posted_fn(void *arg) {
  int k = (int)(intptr_t)arg;
  uv_mutex_lock(&g_post.mu);
  g_post.fired[k]++;
  g_post.at[k] = t_now_ms();
  uv_mutex_unlock(&g_post.mu);
}

static void post_timers(void **state) {
  (void)state;
  memset(&g_post, 0, sizeof g_post);
  uv_mutex_init(&g_post.mu);
  t_rec *r = t_rec_new(0);
  imsec_net *n = mk_net(r, NULL, 2);
  assert_int_equal(imsec_net_loops(n), 2);
  assert_int_equal(imsec_net_start(n), 0);
  uint64_t t0 = t_now_ms();
  assert_int_equal(imsec_net_post(n, 0, 0, posted_fn, (void *)0), 0);
  assert_int_equal(imsec_net_post(n, 1, 150, posted_fn, (void *)1), 0);
  assert_int_equal(imsec_net_post(n, 1, 60000, posted_fn, (void *)2), 0);
  assert_int_equal(imsec_net_post(n, 2, 0, posted_fn, (void *)0),
                   IMSEC_ERR_INVAL);
  usleep(600000);
  imsec_net_del(n);
  uv_mutex_lock(&g_post.mu);
  assert_int_equal(g_post.fired[0], 1);
  assert_int_equal(g_post.fired[1], 1);
  assert_true(g_post.at[1] - t0 >= 140);
  assert_int_equal(g_post.fired[2], 0); /* dropped at stop */
  uv_mutex_unlock(&g_post.mu);
  uv_mutex_destroy(&g_post.mu);
  t_rec_del(r);
}

static void keylog_written(void **state) {
  (void)state;
  const char *kl = t_path(g_dir, "keylog.txt");
  setenv("SSLKEYLOGFILE", kl, 1);
  pair p = {0};
  p.stls = server_tls("server.pem", "server.key", 0);
  p.ctls = client_tls(0);
  unsetenv("SSLKEYLOGFILE");
  pair_start(&p, IMSEC_NET_TLS, NULL, 1);
  uint64_t id = pair_connect(&p, IMSEC_NET_TLS, NULL);
  roundtrip(&p, id, NULL);
  pair_stop(&p);
  size_t len = 0;
  char *txt = t_read_file(kl, &len);
  assert_non_null(strstr(txt, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"));
  assert_non_null(strstr(txt, "SERVER_TRAFFIC_SECRET_0"));
  free(txt);
  struct stat st;
  assert_int_equal(stat(kl, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
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
      cmocka_unit_test(tcp_echo),
      cmocka_unit_test(read_budget),
      cmocka_unit_test(udp_echo),
      cmocka_unit_test(tls13_server_cert),
      cmocka_unit_test(chain_built_once),
      cmocka_unit_test(tls12_rsa),
      cmocka_unit_test(tls_ipv6),
      cmocka_unit_test(untrusted_server),
      cmocka_unit_test(mutual_tls),
      cmocka_unit_test(psk_modes),
      cmocka_unit_test(resumption),
      cmocka_unit_test(resumption_mutual),
      cmocka_unit_test(ticket_key_rotation),
      cmocka_unit_test(dtls_echo),
      cmocka_unit_test(dtls_mutual),
      cmocka_unit_test(reuse_and_early_send),
      cmocka_unit_test(multi_loop),
      cmocka_unit_test(slow_handshake_closed),
      cmocka_unit_test(oversized_message_closed),
      cmocka_unit_test(refused_input_answered),
      cmocka_unit_test(half_open_flood),
      cmocka_unit_test(per_address_limit),
      cmocka_unit_test(peer_gone_no_sigpipe),
      cmocka_unit_test(idle_before_registration),
      cmocka_unit_test(keepalive),
      cmocka_unit_test(pending_output_limit),
      cmocka_unit_test(post_timers),
      cmocka_unit_test(keylog_written),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
