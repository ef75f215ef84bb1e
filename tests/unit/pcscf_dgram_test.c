/* lib/pcscf on a DTLS access flow (lib/pcscf/dgram.c): a REGISTER the UE
 * sends again is absorbed while the core works and answered again once the
 * answer is known (RFC 3261 §17.2.2); a request to the UE is sent again on
 * Timer E until the UE answers, its retransmitted answer absorbed, and
 * Timer F answers 408 to the core (§17.1.2.2, §16.8); a request too large
 * for one DTLS record gets 513 (§21.5.14); Via towards the UE says
 * DTLS-UDP (draft-jennings-sip-dtls); a STUN Binding request is answered
 * with XOR-MAPPED-ADDRESS (RFC 5389 §15.2, RFC 5626 §4.4.2); an
 * association quiet past the limit is closed with its binding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/pcscf.h"
#include "lib/pcscf/pcscf_int.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define UE_FLOW 10
#define CORE_FLOW 100

typedef struct fx {
  crypto_fake *cf;
  imsec_pcscf *p;
  imsec_out out;
  imsec_time_ms now;
  char token[64];
  int seq;
} fx;

static fx *fx_new(void) {
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:5062"), &c.core), 0);
  assert_int_equal(imsec_pcscf_route_parse(
                       IMSEC_STR_LIT(HOME "=tcp:127.0.0.1:5070"), &c.routes[0]),
                   0);
  c.n_routes = 1;
  snprintf(c.peer_addrs[0], sizeof(c.peer_addrs[0]), "127.0.0.1");
  c.n_peer_addrs = 1;
  fx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  assert_int_equal(crypto_fake_new(&x->cf), 0);
  assert_int_equal(imsec_pcscf_new(&x->p, &c, &x->cf->base), 0);
  imsec_out_init(&x->out, IMSEC_LOG_DEBUG);
  x->now = 1000;
  return x;
}

static void fx_del(fx *x) {
  imsec_pcscf_del(x->p);
  imsec_out_free(&x->out);
  imsec_crypto_del(&x->cf->base);
  free(x);
}

static int up(fx *x, uint64_t flow, uint64_t tag, imsec_tp tp) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = tp;
  info.inbound = tag == 0;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("dtls:127.0.0.1:40000"), &info.peer), 0);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("dtls:127.0.0.1:5064"), &info.local), 0);
  imsec_out_clear(&x->out);
  return imsec_pcscf_on_flow_up(x->p, flow, tag, &info, x->now, &x->out);
}

static void feed(fx *x, uint64_t flow, const char *msg) {
  imsec_out_clear(&x->out);
  imsec_pcscf_on_message(x->p, flow, (const uint8_t *)msg, strlen(msg), x->now,
                         &x->out);
}

static void tick(fx *x, imsec_time_ms at) {
  x->now = at;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_DGRAM, at, &x->out);
}

static const char *sent(fx *x, uint64_t flow) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow)
      return (const char *)x->out.acts[i].data;
  return NULL;
}

static size_t sends(fx *x, uint64_t flow) {
  size_t n = 0;
  for (size_t i = 0; i < x->out.n; i++)
    n += x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow;
  return n;
}

static size_t count(fx *x, imsec_act_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < x->out.n; i++)
    n += x->out.acts[i].kind == kind;
  return n;
}

static int logged(fx *x, const char *text) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)x->out.acts[i].data, text))
      return 1;
  return 0;
}

static imsec_time_ms timer_at(fx *x, uint64_t id) {
  imsec_time_ms at = -1;
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_TIMER && x->out.acts[i].timer == id)
      at = x->out.acts[i].at;
  return at;
}

static void status_is(const char *msg, int code) {
  assert_non_null(msg);
  char want[16];
  snprintf(want, sizeof(want), "SIP/2.0 %d ", code);
  if (strncmp(msg, want, strlen(want)) != 0)
    fail_msg("expected %d, got: %.60s", code, msg);
}

static char *response_to(const char *req, int code, const char *reason,
                         const char *extra) {
  static char buf[8192];
  size_t n =
      (size_t)snprintf(buf, sizeof(buf), "SIP/2.0 %d %s\r\n", code, reason);
  const char *p = strstr(req, "\r\n") + 2;
  while (*p && strncmp(p, "\r\n", 2) != 0) {
    const char *e = strstr(p, "\r\n");
    size_t len = (size_t)(e - p);
    static const char *keep[] = {"Via:", "From:", "To:", "Call-ID:", "CSeq:"};
    for (size_t k = 0; k < 5; k++) {
      if (!strncmp(p, keep[k], strlen(keep[k]))) {
        memcpy(buf + n, p, len);
        n += len;
        if (k == 2 && !strstr(p, ";tag=") && e - p > 0) {
          memcpy(buf + n, ";tag=s1", 7);
          n += 7;
        }
        memcpy(buf + n, "\r\n", 2);
        n += 2;
      }
    }
    p = e + 2;
  }
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sContent-Length: 0\r\n\r\n",
                        extra ? extra : "");
  return buf;
}

#define SEC_CLIENT                                                             \
  "Security-Client: tls\r\nRequire: sec-agree\r\nProxy-Require: sec-agree\r\n"
#define SEC_VERIFY SEC_CLIENT "Security-Verify: tls;q=0.1\r\n"

/* A REGISTER from the UE over DTLS; `seq` names its branch and CSeq. */
static const char *reg(int seq, const char *resp, const char *sec) {
  static char buf[4096];
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/DTLS-UDP 127.0.0.1:40000;branch=z9hG4bKue%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=u1\r\nTo: <" IMPU ">\r\n"
           "Call-ID: reg1@ue\r\nCSeq: %d REGISTER\r\n"
           "Contact: <sip:ue@127.0.0.1:40000;transport=dtls-udp;ob>;"
           "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";"
           "reg-id=1;expires=600\r\n"
           "Authorization: Digest username=\"" IMPI "\",realm=\"" HOME
           "\",nonce=\"\",uri=\"sip:" HOME "\",response=\"%s\"\r\n"
           "%sSupported: path, outbound\r\nExpires: 600\r\n"
           "Content-Length: 0\r\n\r\n",
           seq, seq, resp, sec);
  return buf;
}

static const char *ok_extra =
    "Contact: <sip:ue@127.0.0.1:40000;transport=dtls-udp;ob>;expires=600\r\n"
    "Service-Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">\r\n";

static void grab_token(fx *x, const char *fwd) {
  const char *p = strstr(fwd, "Path: <sip:");
  assert_non_null(p);
  p += strlen("Path: <sip:");
  const char *at = strchr(p, '@');
  memcpy(x->token, p, (size_t)(at - p));
  x->token[at - p] = 0;
}

/* The UE registers over DTLS, losing datagrams on the way. */
static fx *registered(void) {
  fx *x = fx_new();
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_DTLS), 0);
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  char fwd[8192];
  snprintf(fwd, sizeof fwd, "%s", sent(x, CORE_FLOW));
  /* The UE did not hear from us in T1: the same REGISTER again, absorbed
   * while the S-CSCF works on it (nothing to the core, nothing back). */
  x->now += 500;
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(sends(x, CORE_FLOW), 0);
  assert_int_equal(sends(x, UE_FLOW), 0);
  assert_true(logged(x, "absorbed (no answer yet)"));
  feed(
      x, CORE_FLOW,
      response_to(fwd, 401, "Unauthorized",
                  "WWW-Authenticate: Digest realm=\"" HOME
                  "\", nonce=\"AAAA\", algorithm=AKAv1-MD5, qop=\"auth\"\r\n"));
  char r401[8192];
  snprintf(r401, sizeof r401, "%s", sent(x, UE_FLOW));
  status_is(r401, 401);
  /* The 401 was lost: the UE's next retransmission gets it again, the
   * core sees nothing. */
  x->now += 1000;
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(sends(x, CORE_FLOW), 0);
  assert_string_equal(sent(x, UE_FLOW), r401);
  assert_true(logged(x, "answer sent again"));
  feed(x, UE_FLOW, reg(2, "0123456789abcdef0123456789abcdef", SEC_VERIFY));
  snprintf(fwd, sizeof fwd, "%s", sent(x, CORE_FLOW));
  grab_token(x, fwd);
  /* Path names the core side; the UE's Via (DTLS-UDP) stays below ours. */
  assert_non_null(strstr(fwd, ";transport=tcp;lr;ob>"));
  assert_non_null(strstr(fwd, "Via: SIP/2.0/DTLS-UDP 127.0.0.1:40000"));
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok_extra));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(count(x, IMSEC_ACT_KEEP), 1);
  uint64_t bound = 0;
  assert_int_equal(imsec_pcscf_binding_flow(x->p, IMSEC_STR_LIT(IMPU), &bound),
                   0);
  assert_int_equal(bound, UE_FLOW); /* the registration is the association */
  return x;
}

static void register_duplicates(void **st) {
  (void)st;
  fx *x = registered();
  /* The 200 lost too: the second REGISTER again gets the 200 again. */
  x->now += 300;
  feed(x, UE_FLOW, reg(2, "0123456789abcdef0123456789abcdef", SEC_VERIFY));
  status_is(sent(x, UE_FLOW), 200);
  assert_int_equal(sends(x, CORE_FLOW), 0);
  /* Timer J (64*T1 after the answer) forgets them. */
  assert_true(pc_dgram_count(x->p) >= 1);
  tick(x, x->now + 64 * 500);
  assert_int_equal(pc_dgram_count(x->p), 0);
  fx_del(x);
}

#define MSG_TO_UE                                                              \
  "MESSAGE sip:ue@127.0.0.1:40000;transport=dtls-udp SIP/2.0\r\n"              \
  "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs%d\r\n"                      \
  "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"                     \
  "Max-Forwards: 69\r\n"                                                       \
  "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"                         \
  "Call-ID: m%d@b\r\nCSeq: 1 MESSAGE\r\n"                                      \
  "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s"

static void message_to_ue(fx *x, int n, const char *body) {
  static char msg[40000];
  snprintf(msg, sizeof msg, MSG_TO_UE, n, x->token, n, strlen(body), body);
  feed(x, CORE_FLOW, msg);
}

static void requests_to_ue_retransmitted(void **st) {
  (void)st;
  fx *x = registered();
  imsec_time_ms t0 = x->now;
  message_to_ue(x, 1, "hi");
  char m[8192];
  snprintf(m, sizeof m, "%s", sent(x, UE_FLOW));
  /* Our Via towards the UE names the DTLS listener it reached. */
  assert_non_null(strstr(m, "\r\nVia: SIP/2.0/DTLS-UDP 127.0.0.1:5064;branch="
                            "z9hG4bKpc"));
  assert_int_equal(timer_at(x, TIMER_DGRAM), t0 + 500);
  /* Lost: Timer E sends it again at T1, then 2T1 later. */
  tick(x, t0 + 499);
  assert_int_equal(sends(x, UE_FLOW), 0);
  tick(x, t0 + 500);
  assert_string_equal(sent(x, UE_FLOW), m);
  assert_true(logged(x, "Timer E"));
  tick(x, t0 + 1500);
  assert_string_equal(sent(x, UE_FLOW), m);
  /* The UE answers: 200 to the core; its retransmitted 200 is absorbed. */
  feed(x, UE_FLOW, response_to(m, 200, "OK", NULL));
  status_is(sent(x, CORE_FLOW), 200);
  feed(x, UE_FLOW, response_to(m, 200, "OK", NULL));
  assert_int_equal(sends(x, CORE_FLOW), 0);
  tick(x, t0 + 3500);
  assert_int_equal(sends(x, UE_FLOW), 0);

  /* A UE that never answers: Timer F (64*T1) answers 408 to the core. */
  imsec_time_ms t1 = x->now;
  message_to_ue(x, 2, "hi");
  imsec_time_ms at = t1;
  int resent = 0;
  while (at < t1 + 64 * 500) {
    at += 500;
    tick(x, at);
    resent += (int)sends(x, UE_FLOW);
    if (sent(x, CORE_FLOW))
      break;
  }
  /* E at 500, 1500, 3500, 7500, then every T2 up to 31500 */
  assert_int_equal(resent, 10);
  const char *r = sent(x, CORE_FLOW);
  status_is(r, 408);
  assert_non_null(strstr(r, "branch=z9hG4bKs2"));
  assert_int_equal(at, t1 + 64 * 500);
  assert_true(logged(x, "Timer F"));
  imsec_pcscf_stats s;
  imsec_pcscf_stats_get(x->p, &s);
  assert_int_equal(s.transactions, 0);
  fx_del(x);
}

static void too_large_513(void **st) {
  (void)st;
  fx *x = registered();
  char *body = malloc(IMSEC_PCSCF_DTLS_MAX + 1);
  assert_non_null(body);
  memset(body, 'a', IMSEC_PCSCF_DTLS_MAX);
  body[IMSEC_PCSCF_DTLS_MAX] = 0;
  message_to_ue(x, 3, body);
  assert_int_equal(sends(x, UE_FLOW), 0);
  const char *r = sent(x, CORE_FLOW);
  status_is(r, 513);
  assert_non_null(strstr(r, "branch=z9hG4bKs3"));
  assert_true(logged(x, "does not fit one DTLS record"));
  imsec_pcscf_stats s;
  imsec_pcscf_stats_get(x->p, &s);
  assert_int_equal(s.transactions, 0);
  /* One that fits goes. */
  body[IMSEC_PCSCF_DTLS_MAX - 1000] = 0;
  message_to_ue(x, 4, body);
  assert_int_equal(sends(x, UE_FLOW), 1);
  free(body);
  fx_del(x);
}

static void stun_keepalive_and_idle(void **st) {
  (void)st;
  fx *x = registered();
  uint8_t req[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1,  2,
                     3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
  for (int k = 0; k < 5; k++) {
    x->now += 25000;
    imsec_out_clear(&x->out);
    imsec_pcscf_on_message(x->p, UE_FLOW, req, sizeof req, x->now, &x->out);
    const uint8_t *a = (const uint8_t *)sent(x, UE_FLOW);
    assert_non_null(a);
    /* Binding success, same transaction, XOR-MAPPED-ADDRESS of
     * 127.0.0.1:40000 (RFC 5389 §15.2). */
    static const uint8_t want[32] = {0x01,
                                     0x01,
                                     0x00,
                                     0x0c,
                                     0x21,
                                     0x12,
                                     0xA4,
                                     0x42,
                                     1,
                                     2,
                                     3,
                                     4,
                                     5,
                                     6,
                                     7,
                                     8,
                                     9,
                                     10,
                                     11,
                                     12,
                                     0x00,
                                     0x20,
                                     0x00,
                                     0x08,
                                     0x00,
                                     0x01,
                                     (40000 ^ 0x2112) >> 8,
                                     (40000 ^ 0x2112) & 0xff,
                                     127 ^ 0x21,
                                     0 ^ 0x12,
                                     0 ^ 0xA4,
                                     1 ^ 0x42};
    assert_memory_equal(a, want, sizeof want);
    tick(x, x->now + 1);
    assert_int_equal(count(x, IMSEC_ACT_CLOSE), 0);
  }
  /* Nothing for 90 s: the association is closed with its binding. */
  tick(x, x->now + 90000);
  assert_int_equal(count(x, IMSEC_ACT_CLOSE), 1);
  assert_true(logged(x, "quiet for"));
  imsec_pcscf_stats s;
  imsec_pcscf_stats_get(x->p, &s);
  assert_int_equal(s.bindings, 0);
  assert_int_equal(s.flows, 0); /* access flows */
  fx_del(x);
}

static void stun_answer_v6(void **st) {
  (void)st;
  uint8_t req[20] = {0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42};
  for (int i = 8; i < 20; i++)
    req[i] = (uint8_t)i;
  imsec_addr a;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("dtls:[2001:db8::1]:5060"), &a), 0);
  uint8_t out[64];
  size_t n = pc_stun_answer(req, &a, out, sizeof out);
  assert_int_equal(n, 44);
  assert_int_equal(out[25], 0x02);
  uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8};
  ip[15] = 1;
  for (int i = 0; i < 16; i++)
    assert_int_equal(out[28 + i] ^ req[4 + i], ip[i]);
  assert_true(pc_stun_is(req, 20));
  assert_false(pc_stun_is((const uint8_t *)"REGISTER sip:x SIP/2.0\r\n", 24));
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("dtls:ue.example:5060"), &a),
                   0);
  assert_int_equal(pc_stun_answer(req, &a, out, sizeof out), 0);
}

/* A request the proxy never answers (dropped) does not pin its server
 * transaction: it goes after the transaction timeout and 64*T1. */
static void unanswered_request_forgotten(void **st) {
  (void)st;
  fx *x = fx_new();
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_DTLS), 0);
  imsec_time_ms t0 = x->now;
  /* queued while the core connects, and never answered: only the
   * datagram timer runs here, not the proxy's 408 sweep */
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(pc_dgram_count(x->p), 1);
  tick(x, t0 + 32000 + 64 * 500 - 1);
  assert_int_equal(pc_dgram_count(x->p), 1);
  tick(x, t0 + 32000 + 64 * 500);
  assert_int_equal(pc_dgram_count(x->p), 0);
  fx_del(x);
}

/* A TLS access flow is left as it was: no retransmission, no idle close. */
static void tls_flow_untouched(void **st) {
  (void)st;
  fx *x = fx_new();
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  feed(x, UE_FLOW, reg(1, "", SEC_CLIENT));
  assert_int_equal(sends(x, CORE_FLOW), 1); /* TCP retransmits nothing */
  assert_int_equal(pc_dgram_count(x->p), 0);
  fx_del(x);
}

/* An INVITE to the UE that it answers with a provisional response only:
 * RFC 3261 figure 5 stops every timer in Proceeding, so the datagram
 * transaction must still go (after the proxy's transaction timeout and
 * 64*T1) while the UE keeps its association alive with keep-alives. */
static void invite_proceeding_forgotten(void **st) {
  (void)st;
  fx *x = registered();
  imsec_time_ms t0 = x->now;
  char inv[2048];
  snprintf(inv, sizeof inv,
           "INVITE sip:ue@127.0.0.1:40000;transport=dtls-udp SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKinv1\r\n"
           "Route: <sip:%s@127.0.0.1:5062;transport=tcp;lr;ob>\r\n"
           "Max-Forwards: 69\r\n"
           "From: <sip:b@" HOME ">;tag=b\r\nTo: <" IMPU ">\r\n"
           "Call-ID: inv1@b\r\nCSeq: 1 INVITE\r\n"
           "Contact: <sip:b@127.0.0.1:5070;transport=tcp>\r\n"
           "Content-Length: 0\r\n\r\n",
           x->token);
  feed(x, CORE_FLOW, inv);
  char m[8192];
  snprintf(m, sizeof m, "%s", sent(x, UE_FLOW));
  feed(x, UE_FLOW, response_to(m, 180, "Ringing", NULL));
  status_is(sent(x, CORE_FLOW), 180);
  uint8_t ka[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1,  2,
                    3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
  for (imsec_time_ms at = t0; at <= t0 + 32000 + 64 * 500 + 20000;
       at += 20000) {
    x->now = at;
    imsec_out_clear(&x->out);
    imsec_pcscf_on_message(x->p, UE_FLOW, ka, sizeof ka, x->now, &x->out);
    tick(x, at);
  }
  assert_int_equal(pc_dgram_count(x->p), 0);
  fx_del(x);
}

/* One association cannot take the whole datagram table: a flood of
 * distinct requests (each answered, each kept for Timer J) stops at the
 * per-flow share, and another UE's requests still get their slot. */
static void one_flow_bounded(void **st) {
  (void)st;
  fx *x = fx_new();
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_DTLS), 0);
  assert_int_equal(up(x, UE_FLOW + 1, 0, IMSEC_TP_DTLS), 0);
  char m[1024];
  int said = 0;
  for (int i = 0; i < 100; i++) {
    snprintf(m, sizeof m,
             "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
             "Via: SIP/2.0/DTLS-UDP 127.0.0.1:40000;branch=z9hG4bKf%d\r\n"
             "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=f\r\n"
             "To: <sip:bob@" HOME ">\r\nCall-ID: f%d@ue\r\n"
             "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
             i, i);
    feed(x, UE_FLOW, m);
    said |= logged(x, "datagram transactions of flow");
  }
  size_t n = pc_dgram_count(x->p);
  assert_true(n <= 64);
  assert_true(said);
  snprintf(m, sizeof m,
           "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/DTLS-UDP 127.0.0.1:40001;branch=z9hG4bKother\r\n"
           "Max-Forwards: 70\r\nFrom: <" IMPU ">;tag=g\r\n"
           "To: <sip:bob@" HOME ">\r\nCall-ID: g@ue\r\n"
           "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
  feed(x, UE_FLOW + 1, m);
  assert_int_equal(pc_dgram_count(x->p), n + 1);
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(register_duplicates),
      cmocka_unit_test(requests_to_ue_retransmitted),
      cmocka_unit_test(too_large_513),
      cmocka_unit_test(stun_keepalive_and_idle),
      cmocka_unit_test(stun_answer_v6),
      cmocka_unit_test(unanswered_request_forgotten),
      cmocka_unit_test(tls_flow_untouched),
      cmocka_unit_test(invite_proceeding_forgotten),
      cmocka_unit_test(one_flow_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
