/* A P-CSCF fixture for unit tests of lib/pcscf: the element driven with
 * crafted SIP messages through its event functions, a UE registered with
 * security agreement, the S-CSCF connected on a plain core flow. Static
 * helpers: include once per test program. */
#ifndef IMSEC_TEST_PCSCF_FX_H
#define IMSEC_TEST_PCSCF_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/pcscf.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI "001010000000001@" HOME
#define IMPU "sip:001010000000001@" HOME
#define IMPU2 "tel:+15551234"
#define UE_FLOW 10
#define UE2_FLOW 11
#define CORE_FLOW 100

typedef struct fx {
  crypto_fake *cf;
  imsec_pcscf *p;
  imsec_out out;
  imsec_time_ms now;
  char token[64];
  const char *contact; /* the REGISTER's Contact URI; NULL: an ob flow's */
  int seq;
} fx;

static inline void cfg_base(imsec_pcscf_config *c) {
  imsec_pcscf_config_init(c);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:5062"), &c->core), 0);
  assert_int_equal(
      imsec_pcscf_route_parse(IMSEC_STR_LIT(HOME "=tcp:127.0.0.1:5070"),
                              &c->routes[0]),
      0);
  assert_int_equal(
      imsec_pcscf_route_parse(IMSEC_STR_LIT("other.example=tcp:127.0.0.1:5070"),
                              &c->routes[1]),
      0);
  c->n_routes = 2;
  /* a plain core is open to listed addresses only */
  snprintf(c->peer_addrs[0], sizeof(c->peer_addrs[0]), "127.0.0.1");
  c->n_peer_addrs = 1;
}

static inline fx *fx_new(const imsec_pcscf_config *c) {
  fx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  assert_int_equal(crypto_fake_new(&x->cf), 0);
  assert_int_equal(imsec_pcscf_new(&x->p, c, &x->cf->base), 0);
  imsec_out_init(&x->out, IMSEC_LOG_DEBUG);
  x->now = 1000;
  return x;
}

static inline void fx_del(fx *x) {
  imsec_pcscf_del(x->p);
  imsec_out_free(&x->out);
  imsec_crypto_del(&x->cf->base);
  free(x);
}

/* imsec_pcscf_on_flow_up with a fresh action list. */
static inline int flow_up(fx *x, uint64_t flow, uint64_t tag,
                          const imsec_flow_info *info) {
  imsec_out_clear(&x->out);
  return imsec_pcscf_on_flow_up(x->p, flow, tag, info, x->now, &x->out);
}

static inline int up(fx *x, uint64_t flow, uint64_t tag, imsec_tp tp) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = tp;
  info.inbound = tag == 0;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:40000"), &info.peer), 0);
  return flow_up(x, flow, tag, &info);
}

static inline void feed(fx *x, uint64_t flow, const char *msg) {
  imsec_out_clear(&x->out);
  imsec_pcscf_on_message(x->p, flow, (const uint8_t *)msg, strlen(msg), x->now,
                         &x->out);
}

/* The last CONNECT among the actions, or NULL. */
static inline const imsec_act *last_connect(fx *x) {
  const imsec_act *conn = NULL;
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_CONNECT)
      conn = &x->out.acts[i];
  return conn;
}

/* The data of the first SEND on `flow`, or NULL. */
static inline const char *sent(fx *x, uint64_t flow) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_SEND && x->out.acts[i].flow == flow)
      return (const char *)x->out.acts[i].data;
  return NULL;
}

static inline size_t count(fx *x, imsec_act_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < x->out.n; i++)
    n += x->out.acts[i].kind == kind;
  return n;
}

static inline int logged(fx *x, const char *text) {
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)x->out.acts[i].data, text))
      return 1;
  return 0;
}

static inline int has_line(const char *msg, const char *line) {
  size_t n = strlen(line);
  for (const char *p = msg; (p = strstr(p, line)); p++)
    if ((p == msg || p[-1] == '\n') && (p[n] == '\r'))
      return 1;
  return 0;
}

static inline void status_is(const char *msg, int code) {
  assert_non_null(msg);
  char want[16];
  snprintf(want, sizeof(want), "SIP/2.0 %d ", code);
  if (strncmp(msg, want, strlen(want)) != 0)
    fail_msg("expected %d, got: %.60s", code, msg);
}

/* A response to `req` as the next hop would send it: its Vias, From, To
 * (with a tag), Call-ID and CSeq, then `extra` header lines. */
static inline char *response_to(const char *req, int code, const char *reason,
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

/* A REGISTER from the UE (TS 24.229 §5.1.1.2 shape). */
static inline const char *reg(fx *x, const char *auth_resp, const char *sec,
                              const char *extra, const char *expires) {
  static char buf[4096];
  x->seq++;
  snprintf(buf, sizeof(buf),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKue%d;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU ">;tag=u1\r\n"
           "To: <" IMPU ">\r\n"
           "Call-ID: reg1@ue\r\n"
           "CSeq: %d REGISTER\r\n"
           "Contact: <%s>;"
           "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\";"
           "reg-id=1;expires=%s\r\n"
           "Authorization: Digest username=\"" IMPI "\",realm=\"" HOME
           "\",nonce=\"\",uri=\"sip:" HOME "\",response=\"%s\"\r\n"
           "%s"
           "Supported: path, outbound\r\n"
           "%s"
           "Expires: %s\r\n"
           "Content-Length: 0\r\n\r\n",
           x->seq, x->seq,
           x->contact ? x->contact : "sip:ue@127.0.0.1:40000;transport=tls;ob",
           expires, auth_resp, sec ? sec : "", extra ? extra : "", expires);
  return buf;
}

#define SEC_CLIENT                                                             \
  "Security-Client: tls\r\nRequire: sec-agree\r\nProxy-Require: sec-agree\r\n"
#define SEC_VERIFY SEC_CLIENT "Security-Verify: tls;q=0.1\r\n"

static const char *ok_extra __attribute__((unused)) =
    "Contact: <sip:ue@127.0.0.1:40000;transport=tls;ob>;expires=600\r\n"
    "Service-Route: <sip:orig@127.0.0.1:5070;transport=tcp;lr>\r\n"
    "P-Associated-URI: <" IMPU ">, <" IMPU2 ">\r\n";

/* Take the token out of the Path of a forwarded REGISTER. */
static inline void grab_token(fx *x, const char *fwd) {
  const char *p = strstr(fwd, "Path: <sip:");
  assert_non_null(p);
  p += strlen("Path: <sip:");
  const char *at = strchr(p, '@');
  assert_non_null(at);
  assert_true((size_t)(at - p) < sizeof(x->token));
  memcpy(x->token, p, (size_t)(at - p));
  x->token[at - p] = 0;
}

/* Full sec-agree registration of the UE on `flow`; returns with the
 * binding in place. */
static inline void register_ue(fx *x, uint64_t flow) {
  feed(x, flow, reg(x, "", SEC_CLIENT, NULL, "600"));
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  feed(x, CORE_FLOW,
       response_to(fwd, 401, "Unauthorized",
                   "WWW-Authenticate: Digest realm=\"" HOME
                   "\", nonce=\"AAAA\", algorithm=AKAv1-MD5, qop=\"auth\", "
                   "ck=\"00112233445566778899aabbccddeeff\", "
                   "ik=\"00112233445566778899aabbccddeeff\"\r\n"));
  const char *r401 = sent(x, flow);
  status_is(r401, 401);
  assert_true(has_line(r401, "Security-Server: tls;q=0.1"));
  assert_null(strstr(r401, ", ck="));
  assert_null(strstr(r401, ", ik="));
  assert_non_null(strstr(r401, "nonce=\"AAAA\""));
  feed(x, flow,
       reg(x, "0123456789abcdef0123456789abcdef", SEC_VERIFY, NULL, "600"));
  fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  assert_non_null(strstr(fwd, "integrity-protected=\"tls-yes\""));
  grab_token(x, fwd);
  feed(x, CORE_FLOW, response_to(fwd, 200, "OK", ok_extra));
  status_is(sent(x, flow), 200);
  assert_int_equal(count(x, IMSEC_ACT_KEEP), 1);
  assert_true(logged(x, "registered IMPI " IMPI));
}

static inline fx *setup_connected(const imsec_pcscf_config *c) {
  fx *x = fx_new(c);
  assert_int_equal(up(x, UE_FLOW, 0, IMSEC_TP_TLS), 0);
  assert_int_equal(up(x, UE2_FLOW, 0, IMSEC_TP_TLS), 0);
  /* First REGISTER makes the connection to the S-CSCF. */
  return x;
}

static inline void connect_core(fx *x) {
  feed(x, UE2_FLOW, reg(x, "", NULL, NULL, "600"));
  assert_int_equal(up(x, CORE_FLOW, 1, IMSEC_TP_TCP), 0);
  const char *fwd = sent(x, CORE_FLOW);
  assert_non_null(fwd);
  /* answer it so the transaction goes away */
  feed(x, CORE_FLOW, response_to(fwd, 403, "Forbidden", NULL));
  status_is(sent(x, UE2_FLOW), 403);
}

#endif /* IMSEC_TEST_PCSCF_FX_H */
