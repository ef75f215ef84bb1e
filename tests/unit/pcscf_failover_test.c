/* lib/pcscf failover: a domain's S-CSCFs as one group (routes sharing a
 * domain), a dead member skipped, the REGISTER sent again to the next one
 * on a refused connection, a lost flow, a timeout or a 503, originating
 * requests of a dead member's registrations taken by its sibling, OPTIONS
 * pings that notice recovery, weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/pcscf.h"
#include "test_util.h"

#define HOME "ims.example.org"
#define UE_FLOW 10
#define CORE1 100
#define CORE2 101
#define TIMER_SWEEP 1
#define TIMER_PING 3

typedef struct fx {
  crypto_fake *cf;
  imsec_pcscf *p;
  imsec_out out;
  imsec_time_ms now;
  int seq;
  char last[8192]; /* the last message sent to an S-CSCF */
  uint64_t last_flow;
} fx;

static fx *fx_new_spec(const char *spec, imsec_time_ms interval) {
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:5062"), &c.core), 0);
  snprintf(c.peer_addrs[0], sizeof(c.peer_addrs[0]), "127.0.0.1");
  c.n_peer_addrs = 1;
  assert_int_equal(imsec_pcscf_route_parse_list(imsec_str_c(spec), c.routes,
                                                IMSEC_PCSCF_MAX_ROUTES,
                                                &c.n_routes),
                   0);
  c.options_interval_ms = interval;
  fx *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  assert_int_equal(crypto_fake_new(&x->cf), 0);
  assert_int_equal(imsec_pcscf_new(&x->p, &c, &x->cf->base), 0);
  imsec_out_init(&x->out, IMSEC_LOG_DEBUG);
  x->now = 1000;
  return x;
}

static fx *fx_new(void) {
  return fx_new_spec(HOME "=tcp:127.0.0.1:5070,tcp:127.0.0.1:5071", -1);
}

static void fx_del(fx *x) {
  imsec_pcscf_del(x->p);
  imsec_out_free(&x->out);
  imsec_crypto_del(&x->cf->base);
  free(x);
}

static void ue_up(fx *x, uint64_t flow, int port) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TLS;
  info.inbound = 1;
  char a[64];
  snprintf(a, sizeof(a), "tls:127.0.0.1:%d", port);
  assert_int_equal(imsec_addr_parse(imsec_str_c(a), &info.peer), 0);
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5061"), &info.local), 0);
  imsec_out_clear(&x->out);
  assert_int_equal(
      imsec_pcscf_on_flow_up(x->p, flow, 0, &info, x->now, &x->out), 0);
}

/* Scan the actions of the last event: the CONNECT tag (0 none), the status
 * of a response to `ue` (0 none), the last SEND to a core flow kept in
 * x->last. */
static void scan(fx *x, uint64_t ue, uint64_t *connect_tag, int *status) {
  if (connect_tag)
    *connect_tag = 0;
  if (status)
    *status = 0;
  for (size_t i = 0; i < x->out.n; i++) {
    const imsec_act *a = &x->out.acts[i];
    if (a->kind == IMSEC_ACT_CONNECT && connect_tag)
      *connect_tag = a->tag;
    if (a->kind != IMSEC_ACT_SEND)
      continue;
    if (a->flow == ue && status && a->len > 12 &&
        !memcmp(a->data, "SIP/2.0 ", 8)) /* no secret: test text */
      *status = atoi((const char *)a->data + 8);
    if (a->flow >= CORE1 && a->len < sizeof(x->last)) {
      memcpy(x->last, a->data, a->len);
      x->last[a->len] = 0;
      x->last_flow = a->flow;
    }
  }
}

static void core_up(fx *x, uint64_t flow, uint64_t tag) {
  imsec_flow_info info;
  memset(&info, 0, sizeof(info));
  info.tp = IMSEC_TP_TCP;
  assert_int_equal(
      imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:5070"), &info.peer), 0);
  imsec_out_clear(&x->out);
  assert_int_equal(
      imsec_pcscf_on_flow_up(x->p, flow, tag, &info, x->now, &x->out), 0);
  scan(x, 0, NULL, NULL);
}

static void reg_from(fx *x, uint64_t ue, const char *user) {
  char m[1024];
  x->seq++;
  snprintf(m, sizeof(m),
           "REGISTER sip:" HOME " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKq%d\r\n"
           "From: <sip:%s@" HOME ">;tag=p\r\nTo: <sip:%s@" HOME ">\r\n"
           "Call-ID: q%d@ua\r\nCSeq: %d REGISTER\r\n"
           "Authorization: Digest username=\"%s@" HOME "\", realm=\"" HOME
           "\", nonce=\"\", uri=\"sip:" HOME "\", response=\"\"\r\n"
           "Contact: <sip:%s@127.0.0.1:40000;transport=tls>\r\n"
           "Content-Length: 0\r\n\r\n",
           x->seq, user, user, x->seq, x->seq, user, user);
  imsec_out_clear(&x->out);
  x->last[0] = 0;
  x->last_flow = 0;
  imsec_pcscf_on_message(x->p, ue, (const uint8_t *)m, strlen(m), x->now,
                         &x->out);
  scan(x, 0, NULL, NULL);
}

/* A response to the request in x->last, on core flow `flow`. */
static void answer(fx *x, uint64_t flow, int code, const char *extra) {
  char m[8192];
  size_t n = (size_t)snprintf(m, sizeof(m), "SIP/2.0 %d X\r\n", code);
  const char *l = x->last;
  while (*l && strncmp(l, "\r\n", 2)) { /* no secret: test text */
    const char *e = strstr(l, "\r\n");
    assert_non_null(e);
    if (!strncmp(l, "Via:", 4) || !strncmp(l, "From:", 5) || /* no secret */
        !strncmp(l, "To:", 3) || !strncmp(l, "Call-ID:", 8) ||
        !strncmp(l, "CSeq:", 5))
      n += (size_t)snprintf(m + n, sizeof(m) - n, "%.*s\r\n", (int)(e - l), l);
    l = e + 2;
  }
  n += (size_t)snprintf(m + n, sizeof(m) - n, "%sContent-Length: 0\r\n\r\n",
                        extra ? extra : "");
  imsec_out_clear(&x->out);
  imsec_pcscf_on_message(x->p, flow, (const uint8_t *)m, n, x->now, &x->out);
}

static int is_register(const fx *x) {
  return !strncmp(x->last, "REGISTER ", 9); /* no secret: test text */
}

/* ------------------------------------------------------------ parsing */

static void parse_list(void **state) {
  (void)state;
  imsec_pcscf_route r[4];
  size_t n = 0;
  assert_int_equal(
      imsec_pcscf_route_parse_list(
          IMSEC_STR_LIT("ims.a=tls:10.0.0.1:5061;name=s1.a;weight=3, "
                        "tls:10.0.0.2:5061;weight=1;name=s2.a,tcp:h:5060"),
          r, 4, &n),
      0);
  assert_int_equal(n, 3);
  assert_string_equal(r[0].domain, "ims.a");
  assert_string_equal(r[2].domain, "ims.a");
  assert_string_equal(r[0].name, "s1.a");
  assert_string_equal(r[1].name, "s2.a");
  assert_string_equal(r[2].name, "");
  assert_int_equal(r[0].weight, 3);
  assert_int_equal(r[1].weight, 1);
  assert_int_equal(r[2].weight, 0);
  assert_int_equal(r[1].addr.port, 5061);
  assert_string_equal(r[2].addr.host, "h");
  /* A single route keeps parsing as before, with a weight now. */
  assert_int_equal(
      imsec_pcscf_route_parse(IMSEC_STR_LIT("d=tls:h:1;weight=7"), &r[0]), 0);
  assert_int_equal(r[0].weight, 7);
  static const char *const bad[] = {
      "d=tls:h:1,",         "d=,tls:h:1",
      "d=tls:h:1;weight=x", "d=tls:h:1;weight=",
      "d=tls:h:1;colour=1", "d=tls:h:1;",
      "=tls:h:1",           "d=tls:h:1;weight=1234567",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(
        imsec_pcscf_route_parse_list(imsec_str_c(bad[i]), r, 4, &n),
        IMSEC_ERR_PARSE);
  assert_int_equal(imsec_pcscf_route_parse_list(
                       IMSEC_STR_LIT("d=tcp:a:1,tcp:b:1,tcp:c:1"), r, 2, &n),
                   IMSEC_ERR_LIMIT);
}

/* ------------------------------------------------------------ failover */

/* The first member refuses the connection: the REGISTER goes to the
 * second, the UE sees its answer, the first is dead. */
static void connect_refused(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  reg_from(x, UE_FLOW, "alice");
  uint64_t tag;
  int st;
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(tag, 1);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 1, IMSEC_ERR_IO, x->now, &x->out);
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(tag, 2);
  assert_int_equal(st, 0); /* no 503 */
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 0);
  assert_int_equal(imsec_pcscf_route_live(x->p, 1), 1);
  core_up(x, CORE2, 2);
  assert_int_equal(x->last_flow, CORE2);
  assert_true(is_register(x));
  answer(x, CORE2, 401,
         "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"n\"\r\n");
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 401);
  /* The next REGISTER goes to the live member at once. */
  reg_from(x, UE_FLOW, "alice");
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(tag, 0);
  assert_int_equal(x->last_flow, CORE2);
  fx_del(x);
}

/* Connected to both; the first's flow is lost under a REGISTER: sent
 * again on the second's flow. */
static void flow_lost(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  reg_from(x, UE_FLOW, "alice");
  core_up(x, CORE1, 1);
  assert_int_equal(x->last_flow, CORE1);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE1, 1, IMSEC_ERR_IO, x->now, &x->out);
  uint64_t tag;
  int st;
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(st, 0);
  assert_int_equal(tag, 2);
  core_up(x, CORE2, 2);
  assert_true(is_register(x));
  /* A late answer on the lost member's flow would be refused; the live
   * member's 200 reaches the UE. */
  answer(x, CORE2, 200,
         "Contact: <sip:alice@127.0.0.1:40000;transport=tls>"
         ";expires=600\r\n");
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 200);
  imsec_pcscf_stats s;
  imsec_pcscf_stats_get(x->p, &s);
  assert_int_equal(s.bindings, 1);
  fx_del(x);
}

/* No answer within failover_timeout_ms (5 s by default): the next member. */
static void timeout_then_next(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  core_up(x, CORE1, 1);
  reg_from(x, UE_FLOW, "alice");
  core_up(x, CORE2, 2); /* nothing queued for it yet */
  reg_from(x, UE_FLOW, "bob");
  assert_int_equal(x->last_flow, CORE1);
  x->now += 4000;
  x->last_flow = 0;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  scan(x, UE_FLOW, NULL, NULL);
  assert_int_equal(x->last_flow, 0); /* not yet */
  x->now += 1001;
  imsec_out_clear(&x->out);
  x->last_flow = 0;
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  int st;
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 0);
  assert_int_equal(x->last_flow, CORE2);
  assert_true(is_register(x));
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 0);
  /* No member left after the second: 408 once its wait is over too. */
  x->now += 5001;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_SWEEP, x->now, &x->out);
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 408);
  fx_del(x);
}

/* RFC 3263 §4.3: a 503 sends the REGISTER on to the next member. */
static void on_503(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  core_up(x, CORE1, 1);
  core_up(x, CORE2, 2);
  reg_from(x, UE_FLOW, "alice");
  assert_int_equal(x->last_flow, CORE1);
  answer(x, CORE1, 503, "Retry-After: 30\r\n");
  int st;
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 0);
  assert_int_equal(x->last_flow, CORE2);
  /* The second's 503 reaches the UE: nobody left. */
  answer(x, CORE2, 503, NULL);
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 503);
  fx_del(x);
}

/* A UE registered through the first member; the first dies: its MESSAGE
 * (Service-Route naming the first) goes to the second. */
static void originating_to_sibling(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  core_up(x, CORE1, 1);
  core_up(x, CORE2, 2);
  reg_from(x, UE_FLOW, "alice");
  assert_int_equal(x->last_flow, CORE1);
  answer(x, CORE1, 200,
         "Contact: <sip:alice@127.0.0.1:40000;transport=tls>;expires=600\r\n"
         "Service-Route: <sip:orig@127.0.0.1:5070;lr>\r\n"
         "P-Associated-URI: <sip:alice@" HOME ">\r\n");
  int st;
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 200);
  const char *msg = "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
                    "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKm1\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:alice@" HOME ">;tag=m\r\n"
                    "To: <sip:bob@" HOME ">\r\n"
                    "Call-ID: m1@ua\r\nCSeq: 1 MESSAGE\r\n"
                    "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
  imsec_out_clear(&x->out);
  x->last_flow = 0;
  imsec_pcscf_on_message(x->p, UE_FLOW, (const uint8_t *)msg, strlen(msg),
                         x->now, &x->out);
  scan(x, UE_FLOW, NULL, NULL);
  assert_int_equal(x->last_flow, CORE1);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE1, 1, IMSEC_ERR_IO, x->now, &x->out);
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 0);
  imsec_out_clear(&x->out);
  x->last_flow = 0;
  const char *msg2 = "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKm2\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:alice@" HOME ">;tag=m\r\n"
                     "To: <sip:bob@" HOME ">\r\n"
                     "Call-ID: m2@ua\r\nCSeq: 1 MESSAGE\r\n"
                     "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
  imsec_pcscf_on_message(x->p, UE_FLOW, (const uint8_t *)msg2, strlen(msg2),
                         x->now, &x->out);
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 0);
  assert_int_equal(x->last_flow, CORE2);
  /* The Route still names the first: its sibling takes it as its own. */
  assert_non_null(strstr(x->last, "Route: <sip:orig@127.0.0.1:5070;lr>"));
  fx_del(x);
}

/* Pings: every interval an OPTIONS to each member; a dead one answering
 * is live again, a live one that stays silent is dead. */
static void pings(void **state) {
  (void)state;
  fx *x = fx_new_spec(HOME "=tcp:127.0.0.1:5070,tcp:127.0.0.1:5071", 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_start(x->p, x->now, &x->out);
  int armed = 0;
  for (size_t i = 0; i < x->out.n; i++)
    if (x->out.acts[i].kind == IMSEC_ACT_TIMER &&
        x->out.acts[i].timer == TIMER_PING)
      armed = x->out.acts[i].at == x->now + 5000;
  assert_true(armed);
  core_up(x, CORE1, 1); /* nothing queued: just up */
  core_up(x, CORE2, 2);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE1, 1, IMSEC_ERR_IO, x->now, &x->out);
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 0);
  x->now += 5000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_PING, x->now, &x->out);
  uint64_t tag;
  scan(x, 0, &tag, NULL);
  assert_int_equal(tag, 1); /* the dead one is dialled to be pinged */
  assert_int_equal(x->last_flow, CORE2);
  assert_non_null(strstr(x->last, "OPTIONS sip:127.0.0.1:5071 SIP/2.0"));
  char ping2[8192];
  memcpy(ping2, x->last, sizeof(ping2));
  core_up(x, CORE1 + 10, 1);
  assert_int_equal(x->last_flow, CORE1 + 10);
  assert_non_null(strstr(x->last, "OPTIONS sip:127.0.0.1:5070 SIP/2.0"));
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 0);
  answer(x, CORE1 + 10, 200, NULL);
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 1);
  for (size_t i = 0; i < x->out.n; i++) /* a ping's answer goes nowhere */
    assert_int_not_equal(x->out.acts[i].kind, IMSEC_ACT_SEND);
  /* The second never answered its ping: dead at the next round. */
  x->now += 5000;
  imsec_out_clear(&x->out);
  imsec_pcscf_on_timer(x->p, TIMER_PING, x->now, &x->out);
  assert_int_equal(imsec_pcscf_route_live(x->p, 1), 0);
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 1);
  /* A late answer to the old ping is stray; the new one revives it. */
  scan(x, 0, NULL, NULL);
  answer(x, CORE2, 200, NULL);
  assert_int_equal(imsec_pcscf_route_live(x->p, 1), 1);
  (void)ping2;
  imsec_pcscf_stats s;
  imsec_pcscf_stats_get(x->p, &s);
  assert_int_equal(s.transactions, 1); /* the first's ping of this round */
  fx_del(x);
}

/* A lone S-CSCF is not pinged and never marked dead. */
static void lone_route_unchanged(void **state) {
  (void)state;
  fx *x = fx_new_spec(HOME "=tcp:127.0.0.1:5070", 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_start(x->p, x->now, &x->out);
  assert_int_equal(x->out.n, 0);
  ue_up(x, UE_FLOW, 40000);
  reg_from(x, UE_FLOW, "alice");
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 1, IMSEC_ERR_IO, x->now, &x->out);
  int st;
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 503);
  assert_int_equal(imsec_pcscf_route_live(x->p, 0), 1);
  fx_del(x);
}

/* Weights 2:1 spread new REGISTERs 2:1 among live members; a dead one
 * gets none. */
static void weights(void **state) {
  (void)state;
  fx *x = fx_new_spec(HOME "=tcp:127.0.0.1:5070;weight=2,"
                           "tcp:127.0.0.1:5071;weight=1",
                      -1);
  core_up(x, CORE1, 1);
  core_up(x, CORE2, 2);
  int n1 = 0, n2 = 0;
  for (int i = 0; i < 9; i++) {
    ue_up(x, UE_FLOW + (uint64_t)i, 40000 + i);
    char u[16];
    snprintf(u, sizeof(u), "u%d", i);
    reg_from(x, UE_FLOW + (uint64_t)i, u);
    scan(x, 0, NULL, NULL);
    n1 += x->last_flow == CORE1;
    n2 += x->last_flow == CORE2;
  }
  assert_int_equal(n1, 6);
  assert_int_equal(n2, 3);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE1, 1, IMSEC_ERR_IO, x->now, &x->out);
  for (int i = 0; i < 3; i++) {
    char u[16];
    snprintf(u, sizeof(u), "v%d", i);
    reg_from(x, UE_FLOW, u);
    scan(x, 0, NULL, NULL);
    assert_int_equal(x->last_flow, CORE2);
  }
  fx_del(x);
}

/* Both dead: the first is tried anyway (it may be back). */
static void all_dead(void **state) {
  (void)state;
  fx *x = fx_new();
  core_up(x, CORE1, 1);
  core_up(x, CORE2, 2);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, CORE1, 1, IMSEC_ERR_IO, x->now, &x->out);
  imsec_pcscf_on_flow_down(x->p, CORE2, 2, IMSEC_ERR_IO, x->now, &x->out);
  ue_up(x, UE_FLOW, 40000);
  reg_from(x, UE_FLOW, "alice");
  uint64_t tag;
  scan(x, UE_FLOW, &tag, NULL);
  assert_int_equal(tag, 1);
  /* refused again: the second is tried, then 503 */
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 1, IMSEC_ERR_IO, x->now, &x->out);
  int st;
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(tag, 2);
  assert_int_equal(st, 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 2, IMSEC_ERR_IO, x->now, &x->out);
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(st, 503);
  fx_del(x);
}

/* A request still queued for a member that cannot be reached never left:
 * it goes to the next live member instead of a 503. */
static void queued_request_moves(void **state) {
  (void)state;
  fx *x = fx_new();
  ue_up(x, UE_FLOW, 40000);
  core_up(x, CORE1, 1);
  reg_from(x, UE_FLOW, "alice");
  assert_int_equal(x->last_flow, CORE1);
  answer(x, CORE1, 200,
         "Contact: <sip:alice@127.0.0.1:40000;transport=tls>;expires=600\r\n"
         "Service-Route: <sip:orig@127.0.0.1:5071;lr>\r\n");
  const char *msg = "MESSAGE sip:bob@" HOME " SIP/2.0\r\n"
                    "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKq1\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:alice@" HOME ">;tag=m\r\n"
                    "To: <sip:bob@" HOME ">\r\n"
                    "Call-ID: q1@ua\r\nCSeq: 1 MESSAGE\r\n"
                    "Content-Length: 0\r\n\r\n";
  imsec_out_clear(&x->out);
  x->last_flow = 0;
  imsec_pcscf_on_message(x->p, UE_FLOW, (const uint8_t *)msg, strlen(msg),
                         x->now, &x->out);
  uint64_t tag;
  int st;
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(tag, 2); /* the Service-Route's member, connecting */
  assert_int_equal(x->last_flow, 0);
  imsec_out_clear(&x->out);
  imsec_pcscf_on_flow_down(x->p, 0, 2, IMSEC_ERR_IO, x->now, &x->out);
  scan(x, UE_FLOW, &tag, &st);
  assert_int_equal(st, 0);
  assert_int_equal(x->last_flow, CORE1);
  assert_non_null(strstr(x->last, "MESSAGE sip:bob@"));
  answer(x, CORE1, 200, NULL);
  scan(x, UE_FLOW, NULL, &st);
  assert_int_equal(st, 200);
  fx_del(x);
}

/* The answer to a challenge goes to the member that sent the 401 (it holds
 * the nonce), whatever the weights say. */
static void challenge_sticks(void **state) {
  (void)state;
  fx *x = fx_new_spec(HOME "=tcp:127.0.0.1:5070;weight=1,"
                           "tcp:127.0.0.1:5071;weight=1",
                      -1);
  core_up(x, CORE1, 1);
  core_up(x, CORE2, 2);
  ue_up(x, UE_FLOW, 40000);
  reg_from(x, UE_FLOW, "alice");
  uint64_t first = x->last_flow;
  answer(x, first, 401,
         "WWW-Authenticate: Digest realm=\"" HOME "\", nonce=\"n\"\r\n");
  for (int i = 0; i < 3; i++) {
    reg_from(x, UE_FLOW, "alice");
    assert_int_equal(x->last_flow, first);
  }
  /* Another UE's first REGISTER is spread to the other member. */
  ue_up(x, UE_FLOW + 1, 40001);
  reg_from(x, UE_FLOW + 1, "bob");
  assert_int_not_equal(x->last_flow, first);
  fx_del(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_list),
      cmocka_unit_test(connect_refused),
      cmocka_unit_test(flow_lost),
      cmocka_unit_test(timeout_then_next),
      cmocka_unit_test(on_503),
      cmocka_unit_test(originating_to_sibling),
      cmocka_unit_test(pings),
      cmocka_unit_test(lone_route_unchanged),
      cmocka_unit_test(weights),
      cmocka_unit_test(all_dead),
      cmocka_unit_test(queued_request_moves),
      cmocka_unit_test(challenge_sticks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
