/* lib/scscf: changing the challenge lifetime and expiry bounds, and the
 * core-side peer lists, of a running S-CSCF (imsec_scscf_set_expiry,
 * imsec_scscf_set_peers: a daemon's reload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/scscf.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "elem_pump.h"
#include "test_util.h"

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"

typedef struct fx {
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
  imsec_scscf *s;
  imsec_out out;
  imsec_time_ms now;
  imsec_reg_store *rs; /* the stores behind the element's requests */
  imsec_svc *svc;
  elem_pump pump;
} fx;

static int64_t fx_wall(void *arg) {
  return ((fx *)arg)->now;
}

static void add_sub(fx *f, int i) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  snprintf(s.impi, sizeof(s.impi), "00101000000000%d@" DOM, i);
  snprintf(s.impus[0], sizeof(s.impus[0]), "sip:u%d@" DOM, i);
  s.n_impus = 1;
  t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", s.k, 16);
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", s.op, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
}

static imsec_flow_info tcp_from(const char *host) {
  imsec_flow_info i;
  memset(&i, 0, sizeof(i));
  i.tp = IMSEC_TP_TCP;
  i.inbound = 1;
  snprintf(i.peer.host, sizeof(i.peer.host), "%s", host);
  i.peer.tp = IMSEC_TP_TCP;
  i.peer.port = 40000;
  return i;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_hss_mem_new(&f->st) ||
      imsec_hss_new(&f->h, f->st, f->c, NULL))
    return -1;
  for (int i = 1; i <= 3; i++)
    add_sub(f, i);
  /* The P-CSCF: plain TCP from a listed address (insecure_core). */
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1};
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self) ||
      imsec_scscf_new(&f->s, &cfg, f->c) || imsec_reg_mem_new(&f->rs))
    return -1;
  imsec_svc_local_config lc = {
      .hss = f->h, .reg = f->rs, .wall_ms = fx_wall, .wall_arg = f};
  if (imsec_svc_local_new(&f->svc, &lc))
    return -1;
  elem_pump_init(&f->pump, &imsec_scscf_ops, f->s, f->svc);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->now = 1000000;
  imsec_flow_info ti = tcp_from("127.0.0.1");
  if (imsec_scscf_on_flow_up(f->s, 7, 0, &ti, f->now, &f->out) != 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  imsec_out_free(&f->out);
  elem_pump_free(&f->pump);
  imsec_svc_del(f->svc);
  imsec_reg_store_del(f->rs);
  imsec_hss_del(f->h);
  imsec_hss_store_del(f->st);
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

/* An unauthenticated REGISTER for subscriber i: its 401 and the deadline
 * of the timer it armed (0: none; its id in *timer). */
static imsec_time_ms challenge_t(fx *f, int i, uint64_t *timer) {
  char m[2048];
  snprintf(m, sizeof(m),
           "REGISTER sip:" DOM " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKx%d\r\n"
           "Max-Forwards: 69\r\n"
           "From: <sip:u%d@" DOM ">;tag=f1\r\nTo: <sip:u%d@" DOM ">\r\n"
           "Call-ID: reg-%d\r\nCSeq: 1 REGISTER\r\n"
           "Contact: <sip:ue@10.0.0.1:5061;transport=tls>\r\n"
           "Authorization: Digest username=\"00101000000000%d@" DOM
           "\",realm=\"" DOM "\",nonce=\"\",uri=\"sip:" DOM "\",response=\"\","
           "integrity-protected=\"tls-pending\"\r\n"
           "Path: <sip:tok1@127.0.0.1:5070;transport=tcp;lr;ob>\r\n"
           "Supported: path\r\nContent-Length: 0\r\n\r\n",
           i, i, i, i, i);
  imsec_out_clear(&f->out);
  size_t from = f->out.n;
  imsec_scscf_on_message(f->s, 7, (const uint8_t *)m, strlen(m), f->now,
                         &f->out);
  elem_pump_run(&f->pump, &f->out, from, f->now);
  imsec_time_ms at = 0;
  int got401 = 0;
  for (size_t k = 0; k < f->out.n; k++) {
    const imsec_act *a = &f->out.acts[k];
    if (a->kind == IMSEC_ACT_SEND)
      got401 = !strncmp((const char *)a->data, "SIP/2.0 401 ", 12);
    if (a->kind == IMSEC_ACT_TIMER) {
      at = a->at;
      *timer = a->timer;
    }
  }
  assert_true(got401);
  return at;
}

static imsec_time_ms challenge(fx *f, int i) {
  uint64_t t;
  return challenge_t(f, i, &t);
}

static void nonce_lifetime_changes(void **state) {
  fx *f = *state;
  imsec_time_ms at = challenge(f, 1);
  assert_int_equal(at, f->now + 30000);
  imsec_scscf_config c;
  memset(&c, 0, sizeof(c));
  c.nonce_lifetime_ms = 1000;
  assert_int_equal(imsec_scscf_set_expiry(f->s, &c), 0);
  f->now += 10;
  uint64_t timer = 0;
  at = challenge_t(f, 2, &timer);
  assert_int_equal(at, f->now + 1000);
  assert_int_equal(imsec_scscf_challenges(f->s), 2);
  /* The short one expires, the one made before the change does not. */
  f->now += 1000;
  imsec_out_clear(&f->out);
  imsec_scscf_on_timer(f->s, timer, f->now, &f->out);
  assert_int_equal(imsec_scscf_challenges(f->s), 1);
}

static void bad_settings_change_nothing(void **state) {
  fx *f = *state;
  imsec_scscf_config c;
  memset(&c, 0, sizeof(c));
  assert_int_equal(imsec_scscf_set_expiry(NULL, &c), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_scscf_set_expiry(f->s, NULL), IMSEC_ERR_INVAL);
  c.nonce_lifetime_ms = 5000;
  c.expires_min = 700;
  c.expires_max = 600;
  assert_int_equal(imsec_scscf_set_expiry(f->s, &c), IMSEC_ERR_CONFIG);
  c.expires_min = 0;
  c.expires_max = 0;
  c.nonce_lifetime_ms = -1;
  assert_int_equal(imsec_scscf_set_expiry(f->s, &c), IMSEC_ERR_CONFIG);
  /* Still the lifetime of before (1 s, set by the test above). */
  f->now += 100000;
  assert_int_equal(challenge(f, 3), f->now + 1000);
  /* Zeroes: the defaults again. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(imsec_scscf_set_expiry(f->s, &c), 0);
}

static int up_from(fx *f, uint64_t flow, const char *host) {
  imsec_flow_info i = tcp_from(host);
  imsec_out_clear(&f->out);
  return imsec_scscf_on_flow_up(f->s, flow, 0, &i, f->now, &f->out);
}

/* TS 33.210 §5.2: the peers allowed change; flows judged before keep
 * their verdict, new flows meet the new lists. */
static void peers_change(void **state) {
  fx *f = *state;
  assert_int_equal(up_from(f, 60, "10.9.9.9"), IMSEC_ERR_AUTH);
  static const char *const names[] = {"pcscf.example.org"};
  static const char *const addrs[] = {"10.9.9.9"};
  assert_int_equal(imsec_scscf_set_peers(f->s, names, 1, addrs, 1), 0);
  assert_int_equal(up_from(f, 61, "10.9.9.9"), 0);
  assert_int_equal(up_from(f, 62, "127.0.0.1"), IMSEC_ERR_AUTH);
  /* Flow 7 was judged under the old list: still served. */
  f->now += 1000;
  assert_true(challenge(f, 2) > 0);
}

static void bad_peers_change_nothing(void **state) {
  fx *f = *state;
  static const char *const addrs[] = {"10.9.9.9"};
  static const char *const empty[] = {""};
  const char *many[IMSEC_SCSCF_MAX_PEERS + 1];
  for (size_t i = 0; i <= IMSEC_SCSCF_MAX_PEERS; i++)
    many[i] = "10.1.1.1";
  assert_int_equal(imsec_scscf_set_peers(NULL, NULL, 0, addrs, 1),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 1, addrs, 1),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, NULL, 1),
                   IMSEC_ERR_INVAL);
  assert_int_equal(
      imsec_scscf_set_peers(f->s, NULL, 0, many, IMSEC_SCSCF_MAX_PEERS + 1),
      IMSEC_ERR_CONFIG);
  /* A bad entry after a good list: the good one is not half-applied. */
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, empty, 1),
                   IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_scscf_set_peers(f->s, empty, 1, many, 2),
                   IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, many, 1), 0);
  assert_int_equal(imsec_scscf_set_peers(f->s, empty, 1, addrs, 1),
                   IMSEC_ERR_CONFIG);
  /* Still 10.1.1.1 alone. */
  assert_int_equal(up_from(f, 70, "10.1.1.1"), 0);
  assert_int_equal(up_from(f, 71, "10.9.9.9"), IMSEC_ERR_AUTH);
  /* Empty lists: no plain TCP peer at all. */
  assert_int_equal(imsec_scscf_set_peers(f->s, NULL, 0, NULL, 0), 0);
  assert_int_equal(up_from(f, 72, "10.1.1.1"), IMSEC_ERR_AUTH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nonce_lifetime_changes),
      cmocka_unit_test(bad_settings_change_nothing),
      cmocka_unit_test(peers_change),
      cmocka_unit_test(bad_peers_change_nothing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
