/* The UE's (state, event) table (lib/ue/fsm.c) walked cell by cell: a
 * fresh UE is brought into each state through the public entry points,
 * then one stimulus of each event is delivered, and the outcome is checked
 * against what the cell promises: a refusal returns IMSEC_ERR_STATE and an
 * ignored event does nothing at all (both leave the state), a handler
 * leaves the UE in one of the states its cell lists and appends only the
 * action kinds it lists. Under ASan this also shows that no pair crashes
 * or leaks. The network side (AKA vectors, TS 35.208 set 1 keys) is
 * played as in ue_test.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"
#include "lib/ue/ue_int.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define PCSCF "pcscf." HOME
#define K_HEX "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC_HEX "cd63cb71954a9f4e48a5994e37a02baf"
#define FLOW 7
#define LATER 10000000 /* past every deadline the UE arms */

typedef struct fx {
  imsec_crypto *c;
  imsec_ue *ue;
  imsec_out out;
  imsec_milenage *hss;
  imsec_sqn_he he;
  imsec_sqn_cfg sc;
  imsec_trust_cert cert;
  imsec_time_ms now;
} fx;

static const char *const impus[] = {IMPU};

static void fx_new(fx *f) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(imsec_crypto_ossl_new(&f->c), 0);
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  f->sc = imsec_sqn_cfg_default();
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.impi = IMPI;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = HOME;
  cfg.trust_domain = TD;
  t_hex(K_HEX, cfg.k, 16);
  t_hex(OPC_HEX, cfg.opc, 16);
  cfg.has_opc = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5061"), &cfg.pcscf), 0);
  cfg.pcscf_name = PCSCF;
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  cfg.max_connect_attempts = 3;
  assert_int_equal(imsec_ue_new(&f->ue, &cfg, f->c), 0);
  imsec_wipe(&cfg, sizeof(cfg));
  uint8_t k[16], opc[16];
  t_hex(K_HEX, k, 16);
  t_hex(OPC_HEX, opc, 16);
  assert_int_equal(imsec_milenage_new(&f->hss, f->c), 0);
  assert_int_equal(imsec_milenage_set_opc(f->hss, k, opc), 0);
  f->cert.chain = IMSEC_CHAIN_OK;
  f->cert.has_san = 1;
  f->cert.n_dns = 1;
  strcpy(f->cert.dns[0], PCSCF);
  f->cert.issuer = IMSEC_ISSUER_HOME;
  f->now = 1000000;
}

static void fx_del(fx *f) {
  imsec_ue_del(f->ue);
  imsec_milenage_del(f->hss);
  imsec_out_free(&f->out);
  imsec_crypto_del(f->c);
}

/* ------------------------------------------------------------ stimuli */

static void feed(fx *f, const char *msg) {
  imsec_ue_on_message(f->ue, f->ue->flow ? f->ue->flow : FLOW,
                      (const uint8_t *)msg, strlen(msg), f->now, &f->out);
}

/* A final response to the REGISTER the UE has in flight (its Call-ID and
 * CSeq), with `extra` header lines. */
static void reg_answer(fx *f, const char *status, const char *extra) {
  char *m = malloc(8192);
  assert_non_null(m);
  snprintf(m, 8192,
           "SIP/2.0 %s\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKfsm;rport\r\n"
           "From: <" IMPU ">;tag=%s\r\n"
           "To: <" IMPU ">;tag=srv\r\n"
           "Call-ID: %s\r\n"
           "CSeq: %u REGISTER\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           status, f->ue->from_tag[0] ? f->ue->from_tag : "x",
           f->ue->call_id[0] ? f->ue->call_id : "none", (unsigned)f->ue->cseq,
           extra ? extra : "");
  feed(f, m);
  free(m);
}

/* A 401 with a fresh vector; `bad_key`: MAC-A fails at the UE. */
static void challenge(fx *f, int bad_key) {
  uint8_t sqn[6], amf[2] = {0x80, 0x00};
  assert_int_equal(imsec_sqn_he_next(&f->he, &f->sc, sqn), 0);
  imsec_milenage *m = f->hss, *other = NULL;
  if (bad_key) {
    uint8_t k[16], opc[16];
    t_hex("000102030405060708090a0b0c0d0e0f", k, 16);
    t_hex(OPC_HEX, opc, 16);
    assert_int_equal(imsec_milenage_new(&other, f->c), 0);
    assert_int_equal(imsec_milenage_set_opc(other, k, opc), 0);
    m = other;
  }
  imsec_aka_vector v;
  assert_int_equal(imsec_aka_vector_make(m, sqn, amf, &v), 0);
  imsec_milenage_del(other);
  char chal[1024], extra[1400];
  assert_true(imsec_digest_aka_challenge_build(
                  &v, IMSEC_DIGEST_AKAV1_MD5, IMSEC_STR_LIT(HOME),
                  IMSEC_STR_LIT("auth"), IMSEC_STR_LIT("op4que"), 0, chal,
                  sizeof(chal)) > 0);
  imsec_aka_vector_wipe(&v);
  snprintf(extra, sizeof(extra),
           "WWW-Authenticate: %s\r\nSecurity-Server: tls;q=0.1\r\n", chal);
  reg_answer(f, "401 Unauthorized", extra);
}

static const char ok_extra[] =
    "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n"
    "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">\r\n";

static imsec_flow_info flow_info(const imsec_trust_cert *cert) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.local), 0);
  info.peer_cert = cert;
  info.tls_version = "TLSv1.3";
  return info;
}

/* What the entry point returned (0 for the void ones). */
static int deliver(fx *f, ue_ev ev, int variant) {
  imsec_ue *ue = f->ue;
  imsec_time_ms later = f->now + LATER;
  switch (ev) {
  case UE_EV_START:
    return imsec_ue_start(ue, f->now, &f->out);
  case UE_EV_FLOW_UP: {
    imsec_flow_info info = flow_info(&f->cert);
    return imsec_ue_on_flow_up(ue, FLOW, ue->connect_tag ? ue->connect_tag : 99,
                               &info, f->now, &f->out);
  }
  case UE_EV_FLOW_DOWN:
    if (ue->flow)
      imsec_ue_on_flow_down(ue, ue->flow, 0, IMSEC_ERR_CLOSED, f->now, &f->out);
    else
      imsec_ue_on_flow_down(ue, 0, ue->connect_tag ? ue->connect_tag : 99,
                            IMSEC_ERR_IO, f->now, &f->out);
    return 0;
  case UE_EV_RSP_401:
    challenge(f, variant);
    return 0;
  case UE_EV_RSP_2XX:
    reg_answer(f, "200 OK", ok_extra);
    return 0;
  case UE_EV_RSP_OTHER:
    reg_answer(f, variant ? "503 Service Unavailable" : "403 Forbidden",
               variant ? "Retry-After: 5\r\n" : NULL);
    return 0;
  case UE_EV_RSP_MESSAGE:
    feed(f, "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKm\r\n"
            "From: <" IMPU ">;tag=a\r\nTo: <sip:bob@" HOME ">;tag=b\r\n"
            "Call-ID: msg1\r\nCSeq: 1 MESSAGE\r\n"
            "Content-Length: 0\r\n\r\n");
    return 0;
  case UE_EV_REQUEST:
    feed(f, variant ? "MESSAGE sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"
                      "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKq\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@" HOME ">;tag=q\r\nTo: <" IMPU ">\r\n"
                      "Call-ID: in1\r\nCSeq: 1 MESSAGE\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: 2\r\n\r\nhi"
                    : "OPTIONS sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"
                      "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKo\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bob@" HOME ">;tag=o\r\nTo: <" IMPU ">\r\n"
                      "Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\n"
                      "Content-Length: 0\r\n\r\n");
    return 0;
  case UE_EV_TIMER_TXN:
    imsec_ue_on_timer(ue, IMSEC_UE_TIMER_TXN, later, &f->out);
    return 0;
  case UE_EV_TIMER_REREG:
    imsec_ue_on_timer(ue, IMSEC_UE_TIMER_REREG, later, &f->out);
    return 0;
  case UE_EV_TIMER_RECONNECT:
    imsec_ue_on_timer(ue, IMSEC_UE_TIMER_RECONNECT, later, &f->out);
    return 0;
  case UE_EV_TIMER_MESSAGE:
    imsec_ue_on_timer(ue, IMSEC_UE_TIMER_MESSAGE, later, &f->out);
    return 0;
  case UE_EV_REPLY: {
    imsec_svc_reply r;
    memset(&r, 0, sizeof(r));
    r.kind = IMSEC_SVC_UE_SQN;
    r.id = ue->persist_id ? ue->persist_id : 1;
    r.status = variant ? IMSEC_ERR_IO : 0;
    imsec_ue_on_reply(ue, &r, f->now, &f->out);
    return 0;
  }
  case UE_EV_DEREGISTER:
    return imsec_ue_deregister(ue, f->now, &f->out);
  case UE_EV_SEND:
    return imsec_ue_send_message(ue, "sip:bob@" HOME, NULL,
                                 (const uint8_t *)"hi", 2, f->now, &f->out);
  case UE_EV_RSP_CALL:
    feed(f, "SIP/2.0 180 Ringing\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKc\r\n"
            "From: <" IMPU ">;tag=a\r\nTo: <sip:bob@" HOME ">;tag=b\r\n"
            "Call-ID: call1\r\nCSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n\r\n");
    return 0;
  case UE_EV_TIMER_CALL:
    imsec_ue_on_timer(ue, IMSEC_UE_TIMER_CALL, later, &f->out);
    return 0;
  case UE_EV_CALL:
    return imsec_ue_call(ue, "sip:bob@" HOME, f->now, &f->out);
  case UE_EV_CALL_OP:
    return imsec_ue_call_hangup(ue, 1, f->now, &f->out);
  case UE_EV_COUNT:
    break;
  }
  fail();
  return 0;
}

/* The event's stimuli: two where the handler has two outcomes worth
 * driving (a 401 with a good or a bad MAC, 403 or 503, OPTIONS or MESSAGE,
 * a store that succeeds or fails). */
static int variants(ue_ev ev) {
  switch (ev) {
  case UE_EV_RSP_401:
  case UE_EV_RSP_OTHER:
  case UE_EV_REQUEST:
  case UE_EV_REPLY:
    return 2;
  default:
    return 1;
  }
}

/* ------------------------------------------------------ reaching states */

static void drain(fx *f) {
  assert_int_equal(imsec_out_err(&f->out), 0);
  imsec_out_clear(&f->out);
}

static void step(fx *f, ue_ev ev, int variant) {
  (void)deliver(f, ev, variant);
  drain(f);
}

/* A fresh UE in state `st`, through the public entry points only. */
static void reach(fx *f, ue_st st) {
  switch (st) {
  case UE_ST_IDLE:
    break;
  case UE_ST_CONNECTING:
    step(f, UE_EV_START, 0);
    break;
  case UE_ST_BACKOFF:
    reach(f, UE_ST_CONNECTING);
    step(f, UE_EV_FLOW_DOWN, 0);
    break;
  case UE_ST_REGISTERING:
    reach(f, UE_ST_CONNECTING);
    step(f, UE_EV_FLOW_UP, 0);
    break;
  case UE_ST_PERSISTING_SQN:
    reach(f, UE_ST_REGISTERING);
    step(f, UE_EV_RSP_401, 0);
    break;
  case UE_ST_AUTHENTICATING:
    reach(f, UE_ST_PERSISTING_SQN);
    step(f, UE_EV_REPLY, 0);
    break;
  case UE_ST_REGISTERED:
    reach(f, UE_ST_AUTHENTICATING);
    step(f, UE_EV_RSP_2XX, 0);
    break;
  case UE_ST_REREGISTERING:
    reach(f, UE_ST_REGISTERED);
    imsec_ue_on_timer(f->ue, IMSEC_UE_TIMER_REREG, f->ue->rereg_at, &f->out);
    drain(f);
    break;
  case UE_ST_DEREGISTERING:
    reach(f, UE_ST_REGISTERED);
    step(f, UE_EV_DEREGISTER, 0);
    break;
  case UE_ST_MAC_REFUSING:
    reach(f, UE_ST_REGISTERING);
    step(f, UE_EV_RSP_401, 1);
    break;
  case UE_ST_REFUSED: {
    reach(f, UE_ST_CONNECTING);
    imsec_flow_info info = flow_info(NULL); /* no certificate */
    assert_int_equal(imsec_ue_on_flow_up(f->ue, FLOW, f->ue->connect_tag, &info,
                                         f->now, &f->out),
                     IMSEC_ERR_TRUST);
    drain(f);
    break;
  }
  case UE_ST_FAILED:
    reach(f, UE_ST_REGISTERING);
    step(f, UE_EV_RSP_OTHER, 0);
    break;
  case UE_ST_PARKED: /* M2b: the flow closes after the 200 */
    reach(f, UE_ST_AUTHENTICATING);
    f->ue->close_after_register = 1;
    step(f, UE_EV_RSP_2XX, 0);
    break;
  case UE_ST_COUNT:
    fail();
  }
  if (f->ue->st != st)
    fail_msg("wanted %s, reached %s", ue_st_name(st), ue_st_name(f->ue->st));
}

/* The flow is up exactly in these states (ue_int.h). */
static int has_flow(ue_st st) {
  return st >= UE_ST_REGISTERING && st <= UE_ST_MAC_REFUSING;
}

/* ----------------------------------------------------------------- tests */

/* No hole in the table; handlers exactly where the cell says RUN; a
 * refusal only where the entry point can return it. */
static void test_table_complete(void **st) {
  (void)st;
  for (int s = 0; s < UE_ST_COUNT; s++) {
    for (int e = 0; e < UE_EV_COUNT; e++) {
      const ue_rule *r = &ue_fsm[s][e];
      if (r->disp == UE_UNSET)
        fail_msg("no cell for (%s, %s)", ue_st_name((ue_st)s),
                 ue_ev_name((ue_ev)e));
      assert_true((r->disp == UE_RUN) == (r->fn != NULL));
      if (r->disp == UE_REFUSE)
        assert_true(e == UE_EV_START || e == UE_EV_FLOW_UP || e == UE_EV_SEND ||
                    e == UE_EV_DEREGISTER || e == UE_EV_CALL);
      assert_true(r->next < UE_BIT(UE_ST_COUNT));
      assert_string_not_equal(ue_ev_name((ue_ev)e), "?");
    }
    assert_string_not_equal(ue_st_name((ue_st)s), "?");
  }
}

static void check_cell(fx *f, ue_st from, ue_ev ev, int variant) {
  const ue_rule *r = &ue_fsm[from][ev];
  int rv = deliver(f, ev, variant);
  ue_st to = f->ue->st;
  const char *sn = ue_st_name(from), *en = ue_ev_name(ev);
  if (imsec_out_err(&f->out) != 0)
    fail_msg("(%s, %s): out of memory", sn, en);
  uint32_t kinds = 0;
  for (size_t i = 0; i < f->out.n; i++)
    kinds |= UE_BIT(f->out.acts[i].kind);
  uint32_t loud = kinds & ~(UE_BIT(IMSEC_ACT_TIMER) | UE_BIT(IMSEC_ACT_LOG));
  switch (r->disp) {
  case UE_IGNORE:
    if (rv != 0 || to != from || f->out.n != 0)
      fail_msg("(%s, %s) is ignored, yet rv %d, state %s, %zu actions", sn, en,
               rv, ue_st_name(to), f->out.n);
    break;
  case UE_REFUSE:
    if (rv != IMSEC_ERR_STATE || to != from || f->out.n != 0)
      fail_msg("(%s, %s) is refused, yet rv %d, state %s, %zu actions", sn, en,
               rv, ue_st_name(to), f->out.n);
    break;
  case UE_RUN: {
    uint32_t next = r->next ? r->next : UE_BIT(from);
    if (!(next & UE_BIT(to)))
      fail_msg("(%s, %s) led to %s, not in its cell", sn, en, ue_st_name(to));
    if (loud & ~r->acts)
      fail_msg("(%s, %s) appended action kinds 0x%x beyond 0x%x", sn, en,
               (unsigned)loud, (unsigned)r->acts);
    break;
  }
  default:
    fail_msg("(%s, %s): no cell", sn, en);
  }
  /* The invariant the files of lib/ue rely on. */
  if ((f->ue->flow != 0) != has_flow(to))
    fail_msg("(%s, %s): in %s with flow %llu", sn, en, ue_st_name(to),
             (unsigned long long)f->ue->flow);
  /* The public view is defined in every state. */
  imsec_ue_status s;
  imsec_ue_get_status(f->ue, &s);
  assert_string_not_equal(imsec_ue_state_name(s.state), "?");
  drain(f);
}

/* Every (state, event) pair, every stimulus of the event, on a fresh UE. */
static void test_every_pair(void **st) {
  (void)st;
  unsigned runs = 0;
  for (int s = 0; s < UE_ST_COUNT; s++) {
    for (int e = 0; e < UE_EV_COUNT; e++) {
      for (int v = 0; v < variants((ue_ev)e); v++) {
        fx f;
        fx_new(&f);
        reach(&f, (ue_st)s);
        check_cell(&f, (ue_st)s, (ue_ev)e, v);
        /* And the UE still takes the rest of a life afterwards. */
        int rv = imsec_ue_deregister(f.ue, f.now + 1, &f.out);
        assert_true(rv == 0 || rv == IMSEC_ERR_STATE);
        drain(&f);
        fx_del(&f);
        runs++;
      }
    }
  }
  assert_true(runs >= UE_ST_COUNT * UE_EV_COUNT);
}

/* A few cells whose outcome is one state exactly, spelled out, with the
 * action kinds (beyond TIMER and LOG) they append, exactly. */
#define K(k) UE_BIT(IMSEC_ACT_##k)
static void test_key_transitions(void **st) {
  (void)st;
  static const struct {
    ue_st from;
    ue_ev ev;
    int variant;
    ue_st to;
    uint32_t acts;
  } want[] = {
      {UE_ST_IDLE, UE_EV_START, 0, UE_ST_CONNECTING, K(CONNECT)},
      {UE_ST_CONNECTING, UE_EV_FLOW_UP, 0, UE_ST_REGISTERING, K(SEND)},
      {UE_ST_CONNECTING, UE_EV_FLOW_DOWN, 0, UE_ST_BACKOFF, 0},
      {UE_ST_BACKOFF, UE_EV_TIMER_RECONNECT, 0, UE_ST_CONNECTING, K(CONNECT)},
      {UE_ST_REGISTERING, UE_EV_RSP_401, 0, UE_ST_PERSISTING_SQN,
       K(PERSIST) | K(SEND)},
      {UE_ST_REGISTERING, UE_EV_RSP_401, 1, UE_ST_MAC_REFUSING, K(SEND)},
      {UE_ST_REGISTERING, UE_EV_RSP_OTHER, 0, UE_ST_FAILED, K(CLOSE)},
      {UE_ST_REGISTERING, UE_EV_RSP_OTHER, 1, UE_ST_BACKOFF, K(CLOSE)},
      {UE_ST_PERSISTING_SQN, UE_EV_REPLY, 0, UE_ST_AUTHENTICATING, 0},
      {UE_ST_PERSISTING_SQN, UE_EV_REPLY, 1, UE_ST_FAILED, K(CLOSE)},
      {UE_ST_PERSISTING_SQN, UE_EV_TIMER_TXN, 0, UE_ST_BACKOFF, K(CLOSE)},
      {UE_ST_PERSISTING_SQN, UE_EV_RSP_2XX, 0, UE_ST_REGISTERED, K(KEEP)},
      {UE_ST_AUTHENTICATING, UE_EV_RSP_2XX, 0, UE_ST_REGISTERED, K(KEEP)},
      {UE_ST_REGISTERED, UE_EV_TIMER_REREG, 0, UE_ST_REGISTERING, K(SEND)},
      {UE_ST_REGISTERED, UE_EV_DEREGISTER, 0, UE_ST_DEREGISTERING, K(SEND)},
      {UE_ST_REGISTERED, UE_EV_FLOW_DOWN, 0, UE_ST_CONNECTING, K(CONNECT)},
      {UE_ST_REGISTERED, UE_EV_SEND, 0, UE_ST_REGISTERED, K(SEND)},
      {UE_ST_REGISTERED, UE_EV_REQUEST, 1, UE_ST_REGISTERED, K(SEND)},
      {UE_ST_REREGISTERING, UE_EV_RSP_401, 0, UE_ST_PERSISTING_SQN,
       K(PERSIST) | K(SEND)},
      {UE_ST_DEREGISTERING, UE_EV_RSP_2XX, 0, UE_ST_IDLE, K(CLOSE)},
      {UE_ST_MAC_REFUSING, UE_EV_RSP_OTHER, 0, UE_ST_REFUSED, K(CLOSE)},
      {UE_ST_MAC_REFUSING, UE_EV_FLOW_DOWN, 0, UE_ST_REFUSED, 0},
      {UE_ST_FAILED, UE_EV_START, 0, UE_ST_CONNECTING, K(CONNECT)},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    fx f;
    fx_new(&f);
    reach(&f, want[i].from);
    (void)deliver(&f, want[i].ev, want[i].variant);
    uint32_t kinds = 0;
    int persist_at = -1, send_at = -1;
    for (size_t k = 0; k < f.out.n; k++) {
      imsec_act_kind kind = f.out.acts[k].kind;
      if (kind != IMSEC_ACT_TIMER && kind != IMSEC_ACT_LOG)
        kinds |= UE_BIT(kind);
      if (kind == IMSEC_ACT_PERSIST)
        persist_at = (int)k;
      if (kind == IMSEC_ACT_SEND)
        send_at = (int)k;
    }
    drain(&f);
    const char *fn = ue_st_name(want[i].from), *en = ue_ev_name(want[i].ev);
    if (f.ue->st != want[i].to)
      fail_msg("(%s, %s/%d) led to %s, want %s", fn, en, want[i].variant,
               ue_st_name(f.ue->st), ue_st_name(want[i].to));
    if (kinds != want[i].acts)
      fail_msg("(%s, %s/%d) appended kinds 0x%x, want 0x%x", fn, en,
               want[i].variant, (unsigned)kinds, (unsigned)want[i].acts);
    /* TS 33.102 Annex C: the SQN is durable before the RES leaves. */
    if (persist_at >= 0 && !(send_at > persist_at))
      fail_msg("(%s, %s): SEND before PERSIST", fn, en);
    fx_del(&f);
  }
}

/* imsec_ue_done follows the state: not before a start, not while a
 * registration is under way; registered, refused, failed or stopped. */
static void test_done(void **st) {
  (void)st;
  static const struct {
    ue_st s;
    int done;
  } want[] = {
      {UE_ST_CONNECTING, 0},     {UE_ST_BACKOFF, 0},
      {UE_ST_REGISTERING, 0},    {UE_ST_PERSISTING_SQN, 0},
      {UE_ST_AUTHENTICATING, 0}, {UE_ST_REGISTERED, 1},
      {UE_ST_REREGISTERING, 0},  {UE_ST_DEREGISTERING, 0},
      {UE_ST_MAC_REFUSING, 0},   {UE_ST_REFUSED, 1},
      {UE_ST_FAILED, 1},
  };
  fx f;
  fx_new(&f);
  assert_int_equal(imsec_ue_done(f.ue), 0); /* never started */
  step(&f, UE_EV_DEREGISTER, 0);
  assert_int_equal(imsec_ue_done(f.ue), 0);
  fx_del(&f);
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    fx_new(&f);
    reach(&f, want[i].s);
    if (imsec_ue_done(f.ue) != want[i].done)
      fail_msg("done in %s: %d", ue_st_name(want[i].s), imsec_ue_done(f.ue));
    fx_del(&f);
  }
  /* Stopped after a start: done. */
  fx_new(&f);
  reach(&f, UE_ST_CONNECTING);
  step(&f, UE_EV_DEREGISTER, 0);
  assert_int_equal(f.ue->st, UE_ST_IDLE);
  assert_int_equal(imsec_ue_done(f.ue), 1);
  fx_del(&f);
}

/* Mode M2b (lib/ue/listen.c): with a listener the Contact names it;
 * after the 200 the UE parks (no flow); an inbound flow is taken only
 * while registered, one at a time, from the P-CSCF it registered through
 * (its client certificate passes the trust decision and carries EKU
 * clientAuth); a MESSAGE there is answered there; the re-registration
 * timer connects again. */
static int logged(fx *f, const char *text) {
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)f->out.acts[i].data, text))
      return 1;
  return 0;
}

static int inbound(fx *f, uint64_t flow, const imsec_trust_cert *c) {
  imsec_flow_info info = flow_info(c);
  info.inbound = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5999"), &info.peer), 0);
  imsec_out_clear(&f->out);
  return imsec_ue_on_flow_up(f->ue, flow, 0, &info, f->now, &f->out);
}

static void test_m2b_listener(void **st) {
  (void)st;
  fx f;
  fx_new(&f);
  f.ue->has_listen = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:45000"), &f.ue->listen), 0);
  f.cert.client_auth = 1;
  /* not registered yet: nobody dials in */
  assert_int_equal(inbound(&f, 30, &f.cert), IMSEC_ERR_STATE);
  assert_true(logged(&f, "not registered"));
  drain(&f);
  reach(&f, UE_ST_PARKED);
  assert_string_equal(imsec_ue_contact(f.ue),
                      "sip:ue@127.0.0.1:45000;transport=tls");
  assert_int_equal(f.ue->flow, 0);
  imsec_ue_status s;
  imsec_ue_get_status(f.ue, &s);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_true(imsec_ue_done(f.ue));
  /* refusals: no certificate, no clientAuth, another name */
  assert_int_equal(inbound(&f, 30, NULL), IMSEC_ERR_TRUST);
  assert_true(logged(&f, "[no-certificate]"));
  imsec_trust_cert c = f.cert;
  c.client_auth = 0;
  assert_int_equal(inbound(&f, 30, &c), IMSEC_ERR_TRUST);
  assert_true(logged(&f, "[not-client-auth]"));
  c = f.cert;
  strcpy(c.dns[0], "rogue." HOME);
  assert_int_equal(inbound(&f, 30, &c), IMSEC_ERR_TRUST);
  assert_true(logged(&f, "not the P-CSCF " PCSCF " [name-mismatch]"));
  c = f.cert;
  c.issuer = IMSEC_ISSUER_NONE;
  assert_int_equal(inbound(&f, 30, &c), IMSEC_ERR_TRUST);
  assert_true(logged(&f, "[not-a-roaming-partner]"));
  assert_int_equal(f.ue->in_flow, 0);
  /* the P-CSCF: taken and kept; a second one is not */
  assert_int_equal(inbound(&f, 31, &f.cert), 0);
  assert_true(logged(&f, "P-CSCF " PCSCF " trusted"));
  assert_int_equal(f.out.n >= 1, 1);
  int kept = 0;
  for (size_t i = 0; i < f.out.n; i++)
    kept |= f.out.acts[i].kind == IMSEC_ACT_KEEP && f.out.acts[i].flow == 31;
  assert_true(kept);
  assert_int_equal(inbound(&f, 32, &f.cert), IMSEC_ERR_STATE);
  /* a MESSAGE on it: answered there, kept in the inbox */
  static const char msg[] =
      "MESSAGE sip:ue@127.0.0.1:45000;transport=tls SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 127.0.0.1:5062;branch=z9hG4bKpc1\r\n"
      "Max-Forwards: 69\r\n"
      "From: <sip:bob@" HOME ">;tag=q\r\nTo: <" IMPU ">\r\n"
      "Call-ID: m2b1\r\nCSeq: 1 MESSAGE\r\n"
      "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
  imsec_out_clear(&f.out);
  imsec_ue_on_message(f.ue, 31, (const uint8_t *)msg, sizeof(msg) - 1, f.now,
                      &f.out);
  int answered = 0;
  for (size_t i = 0; i < f.out.n; i++)
    answered |= f.out.acts[i].kind == IMSEC_ACT_SEND &&
                f.out.acts[i].flow == 31 &&
                !strncmp((const char *)f.out.acts[i].data, "SIP/2.0 200", 11);
  assert_true(answered);
  imsec_ue_message m;
  assert_int_equal(imsec_ue_inbox_pop(f.ue, &m), 1);
  assert_string_equal((const char *)m.body, "hi");
  imsec_ue_message_free(&m);
  /* its end */
  imsec_out_clear(&f.out);
  imsec_ue_on_flow_down(f.ue, 31, 0, IMSEC_ERR_CLOSED, f.now, &f.out);
  assert_int_equal(f.ue->in_flow, 0);
  assert_int_equal(f.ue->st, UE_ST_PARKED);
  /* re-registration: a new connection */
  imsec_out_clear(&f.out);
  imsec_ue_on_timer(f.ue, IMSEC_UE_TIMER_REREG, f.ue->rereg_at, &f.out);
  assert_int_equal(f.ue->st, UE_ST_CONNECTING);
  drain(&f);
  fx_del(&f);
  /* de-registering while parked: a connection, then Expires 0 there */
  fx_new(&f);
  f.ue->has_listen = 1;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:45000"), &f.ue->listen), 0);
  reach(&f, UE_ST_PARKED);
  assert_int_equal(imsec_ue_deregister(f.ue, f.now, &f.out), 0);
  assert_int_equal(f.ue->st, UE_ST_CONNECTING);
  drain(&f);
  imsec_flow_info info = flow_info(&f.cert);
  assert_int_equal(
      imsec_ue_on_flow_up(f.ue, FLOW, f.ue->connect_tag, &info, f.now, &f.out),
      0);
  assert_int_equal(f.ue->st, UE_ST_DEREGISTERING);
  int expires0 = 0;
  for (size_t i = 0; i < f.out.n; i++)
    expires0 |= f.out.acts[i].kind == IMSEC_ACT_SEND &&
                strstr((const char *)f.out.acts[i].data, "Expires: 0\r\n");
  assert_true(expires0);
  drain(&f);
  fx_del(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_complete),  cmocka_unit_test(test_every_pair),
      cmocka_unit_test(test_key_transitions), cmocka_unit_test(test_done),
      cmocka_unit_test(test_m2b_listener),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
