/* lib/pcscf/invite.c: the P-CSCF as a transaction-stateful proxy for
 * INVITE both ways (RFC 3261 §16): 100 Trying, provisional and 2xx relay
 * (every 2xx, the context outliving the first), CANCEL (§9, §16.10), the
 * ACK of a non-2xx final (§17.1.1.3), Timer B and Timer C (§16.8), 430 on
 * a lost UE flow (RFC 5626 §5.3) and loop detection (§16.3 step 4). */
#include "lib/pcscf/pcscf_int.h"
#include "pcscf_fx.h"

#define CALLEE "sip:b@" HOME

/* An INVITE from the UE (n: its branch and Call-ID). */
#define FMT_INV_FROM_UE                                                        \
  "INVITE " CALLEE " SIP/2.0\r\n"                                              \
  "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKinv%d\r\n"                   \
  "Max-Forwards: 70\r\n"                                                       \
  "From: <" IMPU ">;tag=a%d\r\nTo: <" CALLEE ">\r\n"                           \
  "Call-ID: call%d@ue\r\nCSeq: 1 INVITE\r\n"                                   \
  "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>\r\n"                     \
  "Content-Length: 0\r\n\r\n"

/* Its CANCEL or non-2xx ACK (`method`, the To to carry). */
#define FMT_FOLLOW_FROM_UE                                                     \
  "%s " CALLEE " SIP/2.0\r\n"                                                  \
  "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKinv%d\r\n"                   \
  "Max-Forwards: 70\r\n"                                                       \
  "From: <" IMPU ">;tag=a%d\r\nTo: <" CALLEE ">%s\r\n"                         \
  "Call-ID: call%d@ue\r\nCSeq: 1 %s\r\n"                                       \
  "Content-Length: 0\r\n\r\n"

/* An INVITE from the S-CSCF for the UE (token in Route). */
#define FMT_INV_TO_UE                                                          \
  "%s sip:ue@127.0.0.1:40000;transport=tls SIP/2.0\r\n"                        \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%d\r\n"                      \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: 69\r\n"                                                       \
  "From: <" CALLEE ">;tag=b%d\r\nTo: <" IMPU ">\r\n"                           \
  "Call-ID: in%d@b\r\nCSeq: 7 %s\r\n"                                          \
  "Content-Length: 0\r\n\r\n"

static void invite_from_ue(fx *x, uint64_t flow, int n) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_INV_FROM_UE, n, n, n);
  feed(x, flow, msg);
}

static void follow_from_ue(fx *x, uint64_t flow, const char *method, int n,
                           const char *to_tag) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_FOLLOW_FROM_UE, method, n, n, to_tag, n,
           method);
  feed(x, flow, msg);
}

static void core_to_ue(fx *x, const char *method, int n) {
  char msg[2048];
  snprintf(msg, sizeof(msg), FMT_INV_TO_UE, method, n, x->token, n, n, method);
  feed(x, CORE_FLOW, msg);
}

/* The SEND on `flow` whose data starts with `start`, or NULL. */
static const char *sent_start(fx *x, uint64_t flow, const char *start) {
  for (size_t i = 0; i < x->out.n; i++) {
    const imsec_act *a = &x->out.acts[i];
    if (a->kind == IMSEC_ACT_SEND && a->flow == flow &&
        !strncmp((const char *)a->data, start, strlen(start)))
      return (const char *)a->data;
  }
  return NULL;
}

static size_t sends_to(fx *x, uint64_t flow) {
  size_t n = 0;
  for (size_t i = 0; i < x->out.n; i++)
    n += x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow;
  return n;
}

/* The value of the first `name` line of `msg` into buf. */
static const char *line_of(const char *msg, const char *name, char *buf,
                           size_t cap) {
  const char *p = strstr(msg, name);
  assert_non_null(p);
  p += strlen(name);
  const char *e = strstr(p, "\r\n");
  assert_non_null(e);
  size_t n = (size_t)(e - p);
  assert_true(n < cap);
  memcpy(buf, p, n);
  buf[n] = 0;
  return buf;
}

static char *dup_c(const char *s) {
  char *c = strdup(s);
  assert_non_null(c);
  return c;
}

static void tick(fx *x, imsec_time_ms dt) {
  x->now += dt;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
}

static size_t txns(fx *x) {
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  return st.transactions;
}

static fx *registered(imsec_pcscf_config *c) {
  fx *x = setup_connected(c);
  connect_core(x);
  register_ue(x, UE_FLOW);
  return x;
}

static fx *registered_default(void) {
  imsec_pcscf_config c;
  cfg_base(&c);
  return registered(&c);
}

/* UE -> core: 100 Trying at once, the S-CSCF's 100 stays here, 180
 * relayed, every 2xx relayed (two forks answering), the context kept
 * after the first 2xx until 64*T1. */
static void trying_and_relay_from_ue(void **state) {
  (void)state;
  fx *x = registered_default();
  invite_from_ue(x, UE_FLOW, 1);
  const char *t100 = sent(x, UE_FLOW);
  status_is(t100, 100);
  assert_true(has_line(t100, "To: <" CALLEE ">")); /* no tag on a 100 */
  assert_true(has_line(t100, "CSeq: 1 INVITE"));
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  assert_int_equal(txns(x), 1);
  feed(x, CORE_FLOW, response_to(fwd, 100, "Trying", NULL));
  assert_int_equal(sends_to(x, UE_FLOW), 0);
  feed(x, CORE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  status_is(sent(x, UE_FLOW), 180);
  assert_null(strstr(sent(x, UE_FLOW), "z9hG4bKpc")); /* our Via is off */
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(txns(x), 1);
  /* a second fork answers too: relayed as well */
  char *r2 = dup_c(response_to(fwd, 200, "OK", NULL));
  char *tag = strstr(r2, ";tag=s1");
  assert_non_null(tag);
  tag[6] = '2';
  feed(x, CORE_FLOW, r2);
  status_is(sent(x, UE_FLOW), 200);
  assert_true(has_line(sent(x, UE_FLOW), "To: <" CALLEE ">;tag=s2"));
  /* gone 64*T1 after the first 2xx */
  tick(x, 64 * 500 - 1);
  assert_int_equal(txns(x), 1);
  tick(x, 1);
  assert_int_equal(txns(x), 0);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  free(r2);
  free(fwd);
  fx_del(x);
}

/* core -> UE: the same from the other side. */
static void trying_and_relay_to_ue(void **state) {
  (void)state;
  fx *x = registered_default();
  core_to_ue(x, "INVITE", 1);
  status_is(sent(x, CORE_FLOW), 100);
  char *fwd = dup_c(sent_start(x, UE_FLOW, "INVITE "));
  feed(x, UE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  status_is(sent(x, CORE_FLOW), 180);
  assert_true(has_line(sent(x, CORE_FLOW), "CSeq: 7 INVITE"));
  feed(x, UE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  assert_int_equal(txns(x), 1);
  free(fwd);
  fx_del(x);
}

/* A CANCEL from the UE: 200 to it, and a CANCEL downstream built from the
 * INVITE as forwarded (same Request-URI, our Via with the same branch,
 * Route, From, To, Call-ID, CSeq number). Then the 487: ACKed here and
 * relayed; the UE's ACK absorbed. */
static void cancel_matched(void **state) {
  (void)state;
  fx *x = registered_default();
  invite_from_ue(x, UE_FLOW, 2);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  status_is(sent(x, UE_FLOW), 180);
  follow_from_ue(x, UE_FLOW, "CANCEL", 2, "");
  const char *ok = sent(x, UE_FLOW);
  status_is(ok, 200);
  assert_true(has_line(ok, "CSeq: 1 CANCEL"));
  const char *can = sent_start(x, CORE_FLOW, "CANCEL " CALLEE " SIP/2.0\r\n");
  assert_non_null(can);
  char a[512], b[512];
  assert_string_equal(line_of(can, "Via: ", a, sizeof a),
                      line_of(fwd, "Via: ", b, sizeof b));
  assert_string_equal(line_of(can, "Route: ", a, sizeof a),
                      line_of(fwd, "Route: ", b, sizeof b));
  assert_string_equal(line_of(can, "From: ", a, sizeof a),
                      line_of(fwd, "From: ", b, sizeof b));
  assert_true(has_line(can, "To: <" CALLEE ">"));
  assert_true(has_line(can, "Call-ID: call2@ue"));
  assert_true(has_line(can, "CSeq: 1 CANCEL"));
  assert_int_equal(sends_to(x, CORE_FLOW), 1);
  /* the S-CSCF's 200 to our CANCEL stays here */
  feed(x, CORE_FLOW, response_to(can, 200, "OK", NULL));
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  /* its 487 to the INVITE: ACK downstream, 487 up */
  feed(x, CORE_FLOW, response_to(fwd, 487, "Request Terminated", NULL));
  status_is(sent(x, UE_FLOW), 487);
  const char *ack = sent_start(x, CORE_FLOW, "ACK " CALLEE " SIP/2.0\r\n");
  assert_non_null(ack);
  assert_string_equal(line_of(ack, "Via: ", a, sizeof a),
                      line_of(fwd, "Via: ", b, sizeof b));
  assert_true(has_line(ack, "To: <" CALLEE ">;tag=s1"));
  assert_true(has_line(ack, "CSeq: 1 ACK"));
  /* a second CANCEL after the final response: 200 only */
  follow_from_ue(x, UE_FLOW, "CANCEL", 2, "");
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(sends_to(x, CORE_FLOW), 0);
  /* the UE's ACK ends it (TLS: no copies to absorb later) */
  follow_from_ue(x, UE_FLOW, "ACK", 2, ";tag=s1");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_int_equal(txns(x), 0);
  free(fwd);
  fx_del(x);
}

/* RFC 3261 §9.1: a CANCEL before any provisional waits for one. */
static void cancel_held_until_provisional(void **state) {
  (void)state;
  fx *x = registered_default();
  invite_from_ue(x, UE_FLOW, 3);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  follow_from_ue(x, UE_FLOW, "CANCEL", 3, "");
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(sends_to(x, CORE_FLOW), 0);
  feed(x, CORE_FLOW, response_to(fwd, 100, "Trying", NULL));
  assert_non_null(sent_start(x, CORE_FLOW, "CANCEL " CALLEE));
  assert_int_equal(sends_to(x, UE_FLOW), 0);
  free(fwd);
  fx_del(x);
}

/* A CANCEL from the core for an INVITE to the UE goes to the UE. */
static void cancel_from_core(void **state) {
  (void)state;
  fx *x = registered_default();
  core_to_ue(x, "INVITE", 4);
  char *fwd = dup_c(sent_start(x, UE_FLOW, "INVITE "));
  feed(x, UE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  core_to_ue(x, "CANCEL", 4);
  status_is(sent(x, CORE_FLOW), 200);
  const char *can = sent_start(x, UE_FLOW, "CANCEL sip:ue@127.0.0.1:40000");
  assert_non_null(can);
  char a[512], b[512];
  assert_string_equal(line_of(can, "Via: ", a, sizeof a),
                      line_of(fwd, "Via: ", b, sizeof b));
  assert_true(has_line(can, "CSeq: 7 CANCEL"));
  free(fwd);
  fx_del(x);
}

/* A CANCEL that meets no INVITE: dropped, one line. */
static void stray_cancel_dropped(void **state) {
  (void)state;
  fx *x = registered_default();
  follow_from_ue(x, UE_FLOW, "CANCEL", 9, "");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "CANCEL without a transaction"));
  /* the same branch on another flow does not match either */
  invite_from_ue(x, UE_FLOW, 5);
  assert_int_equal(up(x, 12, 0, IMSEC_TP_TLS), 0);
  follow_from_ue(x, 12, "CANCEL", 5, "");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  /* nor another CSeq or Call-ID */
  char msg[2048];
  snprintf(msg, sizeof msg, FMT_FOLLOW_FROM_UE, "CANCEL", 5, 5, "", 6,
           "CANCEL");
  feed(x, UE_FLOW, msg);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  fx_del(x);
}

/* A non-2xx final: the P-CSCF ACKs downstream, relays it, absorbs the
 * UE's ACK; a retransmitted final is ACKed again, not relayed. */
static void non2xx_acked_here(void **state) {
  (void)state;
  fx *x = registered_default();
  invite_from_ue(x, UE_FLOW, 6);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 486, "Busy Here", NULL));
  status_is(sent(x, UE_FLOW), 486);
  const char *ack = sent_start(x, CORE_FLOW, "ACK " CALLEE " SIP/2.0\r\n");
  assert_non_null(ack);
  char a[512], b[512];
  assert_string_equal(line_of(ack, "Via: ", a, sizeof a),
                      line_of(fwd, "Via: ", b, sizeof b));
  assert_string_equal(line_of(ack, "Route: ", a, sizeof a),
                      line_of(fwd, "Route: ", b, sizeof b));
  assert_true(has_line(ack, "To: <" CALLEE ">;tag=s1"));
  assert_true(has_line(ack, "Call-ID: call6@ue"));
  assert_true(has_line(ack, "CSeq: 1 ACK"));
  feed(x, CORE_FLOW, response_to(fwd, 486, "Busy Here", NULL));
  assert_int_equal(sends_to(x, UE_FLOW), 0);
  assert_non_null(sent_start(x, CORE_FLOW, "ACK "));
  follow_from_ue(x, UE_FLOW, "ACK", 6, ";tag=s1");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  assert_true(logged(x, "absorbed"));
  assert_int_equal(txns(x), 0);
  /* without the ACK it goes after 64*T1 */
  invite_from_ue(x, UE_FLOW, 16);
  free(fwd);
  fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 603, "Decline", NULL));
  status_is(sent(x, UE_FLOW), 603);
  tick(x, 64 * 500 - 1);
  assert_int_equal(txns(x), 1);
  tick(x, 1);
  assert_int_equal(txns(x), 0);
  free(fwd);
  fx_del(x);
}

/* Timer C (reset by each provisional): CANCEL downstream, 408 upstream,
 * the 487 ACKed and absorbed. Timer B before any provisional: 408. */
static void timer_c_and_b(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.timer_c_ms = 40000;
  fx *x = registered(&c);
  invite_from_ue(x, UE_FLOW, 7);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  tick(x, 30000);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  feed(x, CORE_FLOW, response_to(fwd, 183, "Session Progress", NULL));
  tick(x, 39999); /* reset by the 183 */
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  tick(x, 1);
  assert_true(logged(x, "Timer C"));
  status_is(sent(x, UE_FLOW), 408);
  assert_non_null(sent_start(x, CORE_FLOW, "CANCEL " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 487, "Request Terminated", NULL));
  assert_int_equal(sends_to(x, UE_FLOW), 0);
  assert_non_null(sent_start(x, CORE_FLOW, "ACK "));
  follow_from_ue(x, UE_FLOW, "ACK", 7, ";tag=pcto");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  free(fwd);
  /* Timer B: nothing back within the transaction timeout */
  invite_from_ue(x, UE_FLOW, 8);
  assert_non_null(sent_start(x, CORE_FLOW, "INVITE "));
  tick(x, 31999);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  tick(x, 1);
  status_is(sent(x, UE_FLOW), 408);
  assert_null(sent_start(x, CORE_FLOW, "CANCEL")); /* §9.1 */
  fx_del(x);
}

/* RFC 5626 §5.3: the UE's flow fails while an INVITE for it waits: 430;
 * the UE's own INVITE pending when its flow fails: CANCEL downstream. */
static void flow_lost(void **state) {
  (void)state;
  fx *x = registered_default();
  core_to_ue(x, "INVITE", 10);
  char *fwd = dup_c(sent_start(x, UE_FLOW, "INVITE "));
  feed(x, UE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  free(fwd);
  invite_from_ue(x, UE_FLOW, 11);
  fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 180, "Ringing", NULL));
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  const char *f430 = sent_start(x, CORE_FLOW, "SIP/2.0 430 Flow Failed");
  assert_non_null(f430);
  assert_true(has_line(f430, "CSeq: 7 INVITE"));
  const char *can = sent_start(x, CORE_FLOW, "CANCEL " CALLEE);
  assert_non_null(can);
  assert_true(has_line(can, "Call-ID: call11@ue"));
  /* the S-CSCF's ACK of the 430 is absorbed */
  core_to_ue(x, "ACK", 10);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  free(fwd);
  fx_del(x);
}

#define FMT_LOOP                                                               \
  "INVITE %s SIP/2.0\r\n"                                                      \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%s\r\n%s"                    \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: 60\r\n"                                                       \
  "From: <" IMPU ">;tag=a12\r\nTo: <" CALLEE ">\r\n"                           \
  "Call-ID: call12@ue\r\nCSeq: 1 INVITE\r\n"                                   \
  "Content-Length: 0\r\n\r\n"

/* RFC 3261 §16.3 step 4: the INVITE back with our Via, same Request-URI,
 * Call-ID and CSeq: 482. A spiral (the S-CSCF retargeted it to the
 * callee's contact) goes on. */
static void loop_detected(void **state) {
  (void)state;
  fx *x = registered_default();
  invite_from_ue(x, UE_FLOW, 12);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  char msg[4096], vias[1024] = "";
  /* the S-CSCF's Via on top of what it got, Route back to the UE */
  for (const char *p = fwd; (p = strstr(p, "\r\nVia: ")); p += 2) {
    const char *e = strstr(p + 2, "\r\n");
    strncat(vias, p + 2, (size_t)(e - p));
  }
  snprintf(msg, sizeof msg, FMT_LOOP, CALLEE, "loop", vias, x->token);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 482);
  assert_int_equal(sends_to(x, UE_FLOW), 0);
  /* the spiral: retargeted to the contact */
  snprintf(msg, sizeof msg, FMT_LOOP, "sip:ue@127.0.0.1:40000;transport=tls",
           "spiral", vias, x->token);
  feed(x, CORE_FLOW, msg);
  status_is(sent(x, CORE_FLOW), 100);
  assert_non_null(sent_start(x, UE_FLOW, "INVITE sip:ue@127.0.0.1:40000"));
  free(fwd);
  fx_del(x);
}

/* A CANCEL for an INVITE still queued for the S-CSCF: 487 here, and the
 * INVITE never goes out. */
static void cancel_queued(void **state) {
  (void)state;
  fx *x = registered_default();
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE_FLOW, 1, IMSEC_ERR_CLOSED, x->now,
                           &x->out);
  invite_from_ue(x, UE_FLOW, 13);
  status_is(sent(x, UE_FLOW), 100);
  assert_int_equal(count(x, IMSEC_ACT_CONNECT), 1);
  follow_from_ue(x, UE_FLOW, "CANCEL", 13, "");
  status_is(sent_start(x, UE_FLOW, "SIP/2.0 200"), 200);
  status_is(sent_start(x, UE_FLOW, "SIP/2.0 487"), 487);
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 0);
  assert_int_equal(up(x, CORE_FLOW + 1, 1, IMSEC_TP_TCP), 0);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  follow_from_ue(x, UE_FLOW, "ACK", 13, ";tag=pcto");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  fx_del(x);
}

/* DTLS access flows (dgram.c): the UE's retransmitted INVITE gets the
 * 100 again and never reaches the core twice; our non-2xx answer is
 * resent on Timer G and the UE's ACK absorbed; towards a DTLS UE, its
 * resent final response is ACKed again and not relayed twice. */
static void invite_over_dtls(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  fx *x = setup_connected(&c);
  connect_core(x);
  assert_int_equal(up(x, 12, 0, IMSEC_TP_DTLS), 0);
  register_ue(x, 12);
  invite_from_ue(x, 12, 14);
  status_is(sent(x, 12), 100);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  invite_from_ue(x, 12, 14);
  status_is(sent(x, 12), 100);
  assert_int_equal(sends_to(x, CORE_FLOW), 0);
  feed(x, CORE_FLOW, response_to(fwd, 486, "Busy Here", NULL));
  status_is(sent(x, 12), 486);
  assert_non_null(sent_start(x, CORE_FLOW, "ACK "));
  x->now += 500;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_DGRAM, x->now, &x->out);
  status_is(sent(x, 12), 486); /* Timer G */
  follow_from_ue(x, 12, "ACK", 14, ";tag=s1");
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  free(fwd);
  /* towards the DTLS UE */
  core_to_ue(x, "INVITE", 15);
  status_is(sent(x, CORE_FLOW), 100);
  fwd = dup_c(sent_start(x, 12, "INVITE "));
  feed(x, 12, response_to(fwd, 480, "Temporarily Unavailable", NULL));
  status_is(sent(x, CORE_FLOW), 480);
  assert_non_null(sent_start(x, 12, "ACK sip:ue@127.0.0.1:40000"));
  feed(x, 12, response_to(fwd, 480, "Temporarily Unavailable", NULL));
  assert_int_equal(sends_to(x, CORE_FLOW), 0);
  assert_non_null(sent_start(x, 12, "ACK "));
  free(fwd);
  fx_del(x);
}

/* A full table: an INVITE that only lingers (answered, waiting for late
 * 2xx or the ACK) makes room for a new request; open ones never do. */
static void lingering_evicted_when_full(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.max_transactions = 2;
  fx *x = registered(&c);
  invite_from_ue(x, UE_FLOW, 17);
  char *fwd = dup_c(sent_start(x, CORE_FLOW, "INVITE " CALLEE));
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", NULL));
  status_is(sent(x, UE_FLOW), 200);
  invite_from_ue(x, UE_FLOW, 18);
  assert_non_null(sent_start(x, CORE_FLOW, "INVITE "));
  assert_int_equal(txns(x), 2);
  invite_from_ue(x, UE_FLOW, 19); /* takes the answered one's place */
  assert_non_null(sent_start(x, CORE_FLOW, "INVITE "));
  assert_int_equal(txns(x), 2);
  invite_from_ue(x, UE_FLOW, 20); /* two open: full */
  status_is(sent_start(x, UE_FLOW, "SIP/2.0 503"), 503);
  assert_int_equal(sends_to(x, CORE_FLOW), 0);
  free(fwd);
  fx_del(x);
}

/* M2b: a CANCEL while the P-CSCF still dials the UE's Contact: the
 * INVITE leaves the dial's queue and is answered 487 here; the dial that
 * comes up has nothing to send. */
static void cancel_during_m2b_dial(void **state) {
  (void)state;
  imsec_pcscf_config c;
  cfg_base(&c);
  c.dial_ue = 1;
  fx *x = fx_new(&c);
  x->contact = "sip:ue@127.0.0.1:40000;transport=tls";
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  connect_core(x);
  register_ue(x, UE_FLOW);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, UE_FLOW, 0, IMSEC_ERR_CLOSED, x->now, &x->out);
  core_to_ue(x, "INVITE", 21);
  status_is(sent(x, CORE_FLOW), 100);
  const imsec_act *conn = last_connect(x);
  assert_non_null(conn);
  uint64_t tag = conn->tag;
  core_to_ue(x, "CANCEL", 21);
  status_is(sent_start(x, CORE_FLOW, "SIP/2.0 200"), 200);
  status_is(sent_start(x, CORE_FLOW, "SIP/2.0 487"), 487);
  imsec_pcscf_stats st;
  imsec_pcscf_stats_get(x->p, &st);
  assert_int_equal(st.queued, 0);
  imsec_trust_cert srv;
  memset(&srv, 0, sizeof(srv));
  srv.chain = IMSEC_CHAIN_OK;
  srv.client_auth = 1;
  srv.client_chain_ok = 1;
  srv.has_san = 1;
  srv.n_uri_user = 1;
  snprintf(srv.uri_user[0], sizeof(srv.uri_user[0]), "%s", IMPI);
  snprintf(srv.issuer_domain, sizeof(srv.issuer_domain), "%s", HOME);
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.peer_cert = &srv;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  assert_int_equal(flow_up(x, 20, tag, &info), 0);
  assert_true(logged(x, "binding moved there; 0 queued"));
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  core_to_ue(x, "ACK", 21);
  assert_int_equal(count(x, IMSEC_ACT_SEND), 0);
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(trying_and_relay_from_ue),
      cmocka_unit_test(trying_and_relay_to_ue),
      cmocka_unit_test(cancel_matched),
      cmocka_unit_test(cancel_held_until_provisional),
      cmocka_unit_test(cancel_from_core),
      cmocka_unit_test(stray_cancel_dropped),
      cmocka_unit_test(non2xx_acked_here),
      cmocka_unit_test(timer_c_and_b),
      cmocka_unit_test(flow_lost),
      cmocka_unit_test(loop_detected),
      cmocka_unit_test(cancel_queued),
      cmocka_unit_test(invite_over_dtls),
      cmocka_unit_test(lingering_evicted_when_full),
      cmocka_unit_test(cancel_during_m2b_dial),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
