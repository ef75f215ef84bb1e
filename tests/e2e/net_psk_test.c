/* net/: per-connection PSKs (mode M3, seed §3.3) over real loopback
 * sockets: TLS 1.3 external PSK with (EC)DHE, TLS 1.2 and DTLS 1.2
 * ECDHE-PSK, the identity on both ends, a wrong key refused, an unknown
 * identity refused, one listener with a certificate and a PSK look-up
 * serving both kinds of client, and PSK flows that never reuse nor
 * resume. Each wait is bounded. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imsec/net.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000

static const char *g_dir;
/* The handshake timeout of nets made from now on (0: net's default). */
static uint32_t g_hs_ms;
/* Client certificates server contexts made from now on ask for. */
static imsec_net_client_auth g_client_auth;

static const char SIP_MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n"
                              "Content-Length: 5\r\n\r\nhello";

static const uint8_t KEY1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t KEY2[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
                                 0xac, 0xad, 0xae, 0xaf};
#define ID1 "ue1@ims.test.x"
#define ID2 "ue2@ims.test.x"

/* Two identities, each with its own key. */
static int lookup(void *arg, const uint8_t *id, size_t idlen, uint8_t *key,
                  size_t cap) {
  (void)arg;
  const uint8_t *k = NULL;
  size_t kl = 0;
  if (idlen == strlen(ID1) && memcmp(id, ID1, idlen) == 0) {
    k = KEY1;
    kl = sizeof KEY1;
  } else if (idlen == strlen(ID2) && memcmp(id, ID2, idlen) == 0) {
    k = KEY2;
    kl = sizeof KEY2;
  }
  if (!k || cap < kl)
    return IMSEC_ERR_NOTFOUND;
  memcpy(key, k, kl);
  return (int)kl;
}

typedef struct pair {
  imsec_net *s, *c;
  t_rec *rs, *rc;
  imsec_net_tls *stls, *ctls;
  uint16_t port;
  imsec_net_transport tr;
} pair;

static imsec_net *mk_net(t_rec *r) {
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = 1;
  cfg.limits.handshake_timeout_ms = g_hs_ms;
  cfg.handler = t_rec_handler(r);
  cfg.log = t_rec_log;
  cfg.log_user = r;
  cfg.log_level = IMSEC_NET_LOG_DEBUG;
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, &cfg), 0);
  return n;
}

/* A server context: `cert` adds the test certificate, `v12` refuses TLS
 * 1.3, `tickets` issues tickets. Always with the PSK look-up. */
static imsec_net_tls *server_ctx(int dtls, int cert, int v12, int tickets) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.dtls = dtls;
  c.psk_lookup = lookup;
  c.tls12_only = v12;
  c.tickets = tickets;
  c.client_auth = g_client_auth;
  if (g_client_auth != IMSEC_NET_CLIENT_CERT_NONE)
    c.ca_file = t_path(g_dir, "ca.pem");
  if (cert) {
    c.cert_file = t_path(g_dir, "server.pem");
    c.key_file = t_path(g_dir, "server.key");
  }
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, &c), 0);
  return t;
}

/* A plain client context: verifies server certificates, holds no PSK. */
static imsec_net_tls *client_ctx(int dtls) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.dtls = dtls;
  c.ca_file = t_path(g_dir, "ca.pem");
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, &c), 0);
  return t;
}

static void pair_start(pair *p, imsec_net_transport tr, int cert, int v12,
                       int tickets) {
  int dtls = tr == IMSEC_NET_DTLS;
  p->tr = tr;
  p->stls = server_ctx(dtls, cert, v12, tickets);
  p->ctls = client_ctx(dtls);
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

/* Connect with this connection's own PSK (id NULL: none). */
static uint64_t connect_psk(pair *p, const char *id, const uint8_t *key,
                            size_t len, int reuse) {
  struct sockaddr_in a = t_lo4(p->port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = p->tr;
  o.peer = (struct sockaddr *)&a;
  o.tls = p->ctls;
  o.server_name = "pcscf.test";
  o.reuse = reuse;
  o.psk_identity = id;
  o.psk_key = key;
  o.psk_key_len = id ? len : 0;
  uint64_t fid = 0;
  assert_int_equal(imsec_net_connect(p->c, &o, &fid), 0);
  return fid;
}

/* Up on both ends, one echoed message, close. *cup, *sup: the up events. */
static void roundtrip(pair *p, uint64_t id, t_ev *cup, t_ev *sup) {
  t_ev e;
  assert_int_equal(t_rec_wait(p->rc, T_EV_UP, id, 0, WAIT, cup), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_UP, 0, 1, WAIT, sup), 0);
  assert_int_equal(
      imsec_net_send(p->c, id, (const uint8_t *)SIP_MSG, sizeof SIP_MSG - 1),
      0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_MSG, id, 0, WAIT, &e), 0);
  assert_memory_equal(e.msg, SIP_MSG, sizeof SIP_MSG - 1);
  assert_int_equal(imsec_net_close(p->c, id), 0);
  assert_int_equal(t_rec_wait(p->rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_equal(t_rec_wait(p->rs, T_EV_DOWN, 0, 1, WAIT, &e), 0);
}

/* The handshake of `id` fails: down on the client, never up anywhere. */
static void refused(pair *p, uint64_t id) {
  t_ev e;
  assert_int_equal(t_rec_wait(p->rc, T_EV_DOWN, id, 0, WAIT, &e), 0);
  assert_int_not_equal(e.reason, 0);
  assert_int_equal(t_rec_count(p->rc, T_EV_UP), 0);
  assert_int_equal(t_rec_count(p->rs, T_EV_UP), 0);
}

static void psk_up(const t_ev *cup, const t_ev *sup, const char *id,
                   const char *version) {
  assert_int_equal(cup->psk, 1);
  assert_int_equal(sup->psk, 1);
  assert_string_equal(cup->psk_identity, id);
  assert_string_equal(sup->psk_identity, id);
  assert_string_equal(cup->version, version);
  assert_int_equal(cup->resumed, 0);
  assert_int_equal(sup->resumed, 0);
  assert_int_equal(cup->nchain, 0); /* no certificate either way */
  assert_int_equal(sup->nchain, 0);
}

/* TLS 1.3 and TLS 1.2, PSK-only server: two identities with their own
 * keys, from one client context that holds no PSK. */
static void per_connection_tls(void **state) {
  (void)state;
  for (int v12 = 0; v12 <= 1; v12++) {
    pair p = {0};
    pair_start(&p, IMSEC_NET_TLS, 0, v12, 0);
    const char *ver = v12 ? "TLSv1.2" : "TLSv1.3";
    t_ev cup, sup;
    uint64_t id = connect_psk(&p, ID1, KEY1, sizeof KEY1, 0);
    roundtrip(&p, id, &cup, &sup);
    psk_up(&cup, &sup, ID1, ver);
    id = connect_psk(&p, ID2, KEY2, sizeof KEY2, 0);
    roundtrip(&p, id, &cup, &sup);
    psk_up(&cup, &sup, ID2, ver);
    pair_stop(&p);
  }
}

static void per_connection_dtls(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_DTLS, 0, 0, 0);
  t_ev cup, sup;
  uint64_t id = connect_psk(&p, ID2, KEY2, sizeof KEY2, 0);
  roundtrip(&p, id, &cup, &sup);
  psk_up(&cup, &sup, ID2, "DTLSv1.2");
  /* A wrong key fails here too. DTLS drops a record that does not
   * decrypt (RFC 6347 §4.1.2.7), so the client's Finished under the wrong
   * key is never answered: the handshake timeout ends it. */
  uint8_t bad[sizeof KEY2];
  memcpy(bad, KEY2, sizeof bad);
  bad[3] ^= 0x10;
  pair_stop(&p);
  g_hs_ms = 1500;
  pair_start(&p, IMSEC_NET_DTLS, 1, 0, 0);
  id = connect_psk(&p, ID2, bad, sizeof bad, 0);
  refused(&p, id);
  pair_stop(&p);
  g_hs_ms = 0;
}

/* A known identity with a wrong key, and an unknown identity, fail the
 * handshake: on a PSK-only server and on a certificate + PSK one, TLS 1.3
 * and 1.2. */
static void wrong_key_refused(void **state) {
  (void)state;
  uint8_t bad[sizeof KEY1];
  memcpy(bad, KEY1, sizeof bad);
  bad[31] ^= 0x80;
  for (int cert = 0; cert <= 1; cert++)
    for (int v12 = 0; v12 <= 1; v12++) {
      pair p = {0};
      pair_start(&p, IMSEC_NET_TLS, cert, v12, 0);
      refused(&p, connect_psk(&p, ID1, bad, sizeof bad, 0));
      pair_stop(&p);
      pair_start(&p, IMSEC_NET_TLS, cert, v12, 0);
      refused(&p, connect_psk(&p, "nobody@ims.test.x", KEY1, sizeof KEY1, 0));
      /* TLS 1.3 with a certificate: the server set the PSK aside and sent
       * its certificate, which a PSK client refuses. */
      if (cert && !v12)
        assert_true(t_rec_log_has(p.rc, "certificate verify failed"));
      pair_stop(&p);
    }
}

/* One listener with a certificate and a PSK look-up: a certificate client
 * gets the certificate handshake, a PSK client the PSK one. */
static void cert_and_psk_listener(void **state) {
  (void)state;
  for (int v12 = 0; v12 <= 1; v12++) {
    pair p = {0};
    pair_start(&p, IMSEC_NET_TLS, 1, v12, 0);
    t_ev cup, sup;
    uint64_t id = connect_psk(&p, NULL, NULL, 0, 0);
    roundtrip(&p, id, &cup, &sup);
    assert_int_equal(cup.psk, 0);
    assert_int_equal(sup.psk, 0);
    assert_string_equal(cup.psk_identity, "");
    assert_string_equal(sup.psk_identity, "");
    assert_int_equal(cup.verify, 0);
    assert_true(cup.nchain > 0);
    id = connect_psk(&p, ID1, KEY1, sizeof KEY1, 0);
    roundtrip(&p, id, &cup, &sup);
    psk_up(&cup, &sup, ID1, v12 ? "TLSv1.2" : "TLSv1.3");
    pair_stop(&p);
  }
}

/* A listener that asks for client certificates (mode M2a) serves PSK
 * clients too: a PSK handshake asks for no certificate (RFC 8446 §4.3.2:
 * not in a PSK handshake; RFC 4279 §2: none with PSK suites), even when
 * certificates are required of the others. */
static void client_cert_listener(void **state) {
  (void)state;
  for (int auth = IMSEC_NET_CLIENT_CERT_REQUEST;
       auth <= IMSEC_NET_CLIENT_CERT_REQUIRE; auth++)
    for (int v12 = 0; v12 <= 1; v12++) {
      g_client_auth = (imsec_net_client_auth)auth;
      pair p = {0};
      pair_start(&p, IMSEC_NET_TLS, 1, v12, 0);
      g_client_auth = IMSEC_NET_CLIENT_CERT_NONE;
      t_ev cup, sup;
      uint64_t id = connect_psk(&p, ID1, KEY1, sizeof KEY1, 0);
      roundtrip(&p, id, &cup, &sup);
      psk_up(&cup, &sup, ID1, v12 ? "TLSv1.2" : "TLSv1.3");
      pair_stop(&p);
    }
}

/* PSK flows never share (RFC 5923 reuse is off for them) and never
 * resume: each connection proves its key in a full PSK handshake, even
 * with tickets issued. */
static void no_reuse_no_resume(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 1, 0, 1);
  uint64_t a = connect_psk(&p, ID1, KEY1, sizeof KEY1, 1);
  uint64_t b = connect_psk(&p, ID1, KEY1, sizeof KEY1, 1);
  assert_int_not_equal(a, b);
  /* A certificate client asking for reuse does not get a PSK flow. */
  uint64_t c = connect_psk(&p, NULL, NULL, 0, 1);
  assert_int_not_equal(c, a);
  assert_int_not_equal(c, b);
  t_ev e;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(t_rec_wait(p.rc, T_EV_UP, 0, 0, WAIT, &e), 0);
    assert_int_equal(e.psk, e.id != c);
    assert_int_equal(e.resumed, 0);
  }
  for (int i = 0; i < 3; i++)
    assert_int_equal(t_rec_wait(p.rs, T_EV_UP, 0, 1, WAIT, &e), 0);
  assert_int_equal(imsec_net_close(p.c, a), 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_DOWN, a, 0, WAIT, &e), 0);
  /* A later PSK connection is a full PSK handshake again. */
  uint64_t d = connect_psk(&p, ID1, KEY1, sizeof KEY1, 0);
  assert_int_equal(t_rec_wait(p.rc, T_EV_UP, d, 0, WAIT, &e), 0);
  assert_int_equal(e.psk, 1);
  assert_int_equal(e.resumed, 0);
  pair_stop(&p);
}

/* Bad per-connection PSKs are refused at once. */
static void bad_options(void **state) {
  (void)state;
  pair p = {0};
  pair_start(&p, IMSEC_NET_TLS, 0, 0, 0);
  struct sockaddr_in a = t_lo4(p.port);
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TCP;
  o.peer = (struct sockaddr *)&a;
  o.psk_identity = ID1;
  o.psk_key = KEY1;
  o.psk_key_len = sizeof KEY1;
  uint64_t id;
  assert_int_equal(imsec_net_connect(p.c, &o, &id), IMSEC_ERR_INVAL);
  o.transport = IMSEC_NET_TLS;
  o.tls = p.ctls;
  o.psk_key_len = 65;
  assert_int_equal(imsec_net_connect(p.c, &o, &id), IMSEC_ERR_INVAL);
  o.psk_key_len = sizeof KEY1;
  o.psk_identity = "";
  assert_int_equal(imsec_net_connect(p.c, &o, &id), IMSEC_ERR_INVAL);
  char longid[200];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = 0;
  o.psk_identity = longid;
  assert_int_equal(imsec_net_connect(p.c, &o, &id), IMSEC_ERR_INVAL);
  o.psk_identity = NULL;
  assert_int_equal(imsec_net_connect(p.c, &o, &id), IMSEC_ERR_INVAL);
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
      cmocka_unit_test(per_connection_tls),
      cmocka_unit_test(per_connection_dtls),
      cmocka_unit_test(wrong_key_refused),
      cmocka_unit_test(cert_and_psk_listener),
      cmocka_unit_test(client_cert_listener),
      cmocka_unit_test(no_reuse_no_resume),
      cmocka_unit_test(bad_options),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
