/* lib/scscf: the S-CSCF's INVITE response contexts (RFC 3261 §16.6-16.10)
 * driven with crafted SIP through its event functions and a virtual clock:
 * 100 Trying, provisional responses relayed, every 2xx relayed and the
 * other branches CANCELled, a CANCEL from upstream, the ACK of a non-2xx
 * final response sent down and the upstream one absorbed, Timer C and
 * Timer B. The callee is registered with two contacts behind one P-CSCF
 * (loaded from the registration store), so every INVITE forks in two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "elem_pump.h"
#include "test_util.h"

#define DOM "ims.mnc001.mcc001.3gppnetwork.org"
#define IMPI_A "001010000000001@" DOM
#define IMPU_A "sip:001010000000001@" DOM
#define IMPI_B "001010000000002@" DOM
#define IMPU_B "sip:bob@" DOM
#define PATH_V "<sip:tok1@127.0.0.1:5070;transport=tcp;lr;ob>"
#define UE1 "sip:ue@10.0.0.1:5061;transport=tls;ob"
#define UE2 "sip:ue@10.0.0.2:5061;transport=tls;ob"
#define UP_FLOW 8     /* the caller's P-CSCF */
#define DOWN_FLOW 100 /* our connection to the callee's P-CSCF */
#define TIMER_B 32000 /* the default txn_timeout_ms (64*T1) */
#define TIMER_C 5000  /* configured (the default is 180 s) */

typedef struct fx {
  imsec_crypto *c;
  imsec_scscf *s;
  imsec_out out;
  imsec_time_ms now;
  imsec_reg_store *rs;
  imsec_svc *svc;
  elem_pump pump;
  imsec_flow_info ti;
  int down_up; /* DOWN_FLOW is up */
} fx;

/* What went out on one flow in the last event. */
typedef struct msgs {
  char text[4][8192];
  size_t n;
} msgs;

static int64_t fx_wall(void *arg) {
  return ((fx *)arg)->now;
}

static void pump_from(fx *f, size_t from) {
  f->pump.self = f->s;
  elem_pump_run(&f->pump, &f->out, from, f->now);
}

static void save_bob(fx *f) {
  imsec_reg_binding b[2];
  memset(b, 0, sizeof(b));
  char *impus[] = {IMPU_B};
  const char *contacts[] = {UE1, UE2};
  const char *inst[] = {"<urn:uuid:00000000-0000-0000-0000-000000000001>",
                        "<urn:uuid:00000000-0000-0000-0000-000000000002>"};
  for (int i = 0; i < 2; i++) {
    b[i].contact = (char *)contacts[i];
    b[i].path = PATH_V;
    b[i].instance = (char *)inst[i];
    b[i].reg_id = 1;
    b[i].ttl_ms = 600000;
    b[i].order = (uint64_t)i + 1;
  }
  imsec_reg_record r = {
      .impi = IMPI_B, .impus = impus, .n_impus = 1, .b = b, .n = 2};
  assert_int_equal(f->rs->vt->save(f->rs, &r, f->now), 0);
}

static void make(fx *f, imsec_time_ms timer_c) {
  static const char *const addrs[] = {"127.0.0.1"};
  imsec_scscf_config cfg = {.domain = DOM,
                            .insecure_core = 1,
                            .peer_addrs = addrs,
                            .n_peer_addrs = 1,
                            .timer_c_ms = timer_c};
  assert_int_equal(
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &cfg.self), 0);
  assert_int_equal(imsec_scscf_new(&f->s, &cfg, f->c), 0);
  elem_pump_init(&f->pump, &imsec_scscf_ops, f->s, f->svc);
  imsec_out_clear(&f->out);
  imsec_scscf_start(f->s, f->now, &f->out);
  pump_from(f, 0);
  assert_int_equal(imsec_scscf_contacts(f->s, imsec_str_c(IMPU_B)), 2);
  /* The caller's P-CSCF: plain TCP from a listed address. */
  assert_int_equal(
      imsec_scscf_on_flow_up(f->s, UP_FLOW, 0, &f->ti, f->now, &f->out), 0);
  f->down_up = 0;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_reg_mem_new(&f->rs))
    return -1;
  f->now = 1000000;
  imsec_svc_local_config lc = {.reg = f->rs, .wall_ms = fx_wall, .wall_arg = f};
  if (imsec_svc_local_new(&f->svc, &lc))
    return -1;
  f->ti.tp = IMSEC_TP_TCP;
  f->ti.inbound = 1;
  if (imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:5070"), &f->ti.peer) ||
      imsec_addr_parse(imsec_str_c("tcp:127.0.0.1:6060"), &f->ti.local))
    return -1;
  imsec_out_init(&f->out, IMSEC_LOG_DEBUG);
  save_bob(f);
  make(f, TIMER_C);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_scscf_del(f->s);
  elem_pump_free(&f->pump);
  imsec_out_free(&f->out);
  imsec_svc_del(f->svc);
  imsec_reg_store_del(f->rs);
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

/* The SENDs of the last event on `flow`, in order. */
static void sent_on(fx *f, uint64_t flow, msgs *m) {
  m->n = 0;
  for (size_t i = 0; i < f->out.n; i++) {
    const imsec_act *a = &f->out.acts[i];
    if (a->kind != IMSEC_ACT_SEND || a->flow != flow)
      continue;
    assert_true(m->n < 4);
    assert_true(a->len < sizeof(m->text[0]));
    memcpy(m->text[m->n], a->data, a->len);
    m->text[m->n][a->len] = 0;
    m->n++;
  }
}

static size_t count_sends(fx *f) {
  size_t n = 0;
  for (size_t i = 0; i < f->out.n; i++)
    n += f->out.acts[i].kind == IMSEC_ACT_SEND;
  return n;
}

static int log_has(fx *f, const char *needle) {
  for (size_t i = 0; i < f->out.n; i++)
    if (f->out.acts[i].kind == IMSEC_ACT_LOG &&
        strstr((const char *)f->out.acts[i].data, needle))
      return 1;
  return 0;
}

static void deliver(fx *f, uint64_t flow, const char *msg) {
  imsec_out_clear(&f->out);
  imsec_scscf_on_message(f->s, flow, (const uint8_t *)msg, strlen(msg), f->now,
                         &f->out);
  pump_from(f, 0);
  assert_int_equal(imsec_out_err(&f->out), 0);
}

/* Every timer the S-CSCF may have armed fires at f->now (stale ones do
 * nothing). */
static void fire_timers(fx *f) {
  imsec_out_clear(&f->out);
  for (uint64_t id = 1; id < 400; id++)
    imsec_scscf_on_timer(f->s, id, f->now, &f->out);
  pump_from(f, 0);
}

static unsigned status_of(const char *msg) {
  unsigned st = 0;
  return sscanf(msg, "SIP/2.0 %u", &st) == 1 ? st : 0;
}

/* The value of the first `name` field ("CSeq", "To", ...) of `msg`. */
static const char *field(const char *msg, const char *name) {
  static char v[1024];
  char pat[64];
  snprintf(pat, sizeof(pat), "\r\n%s: ", name);
  const char *p = strstr(msg, pat);
  if (!p)
    return "";
  p += strlen(pat);
  size_t n = strcspn(p, "\r");
  assert_true(n < sizeof(v));
  memcpy(v, p, n);
  v[n] = 0;
  return v;
}

/* The branch parameter of the top Via. */
static const char *top_branch(const char *msg) {
  static char b[256];
  const char *v = strstr(msg, "\r\nVia: ");
  assert_non_null(v);
  const char *p = strstr(v, "branch=");
  assert_non_null(p);
  p += 7;
  size_t n = strcspn(p, ";\r\n");
  assert_true(n < sizeof(b));
  memcpy(b, p, n);
  b[n] = 0;
  return b;
}

/* An INVITE from A to B as A's P-CSCF forwards it; `br` is its branch. */
static const char *invite(const char *br, unsigned cseq) {
  static char b[4096];
  snprintf(b, sizeof(b),
           "INVITE " IMPU_B " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=%s\r\n"
           "Via: SIP/2.0/TLS 10.0.0.9:5061;branch=z9hG4bKua%u;rport\r\n"
           "Max-Forwards: 69\r\n"
           "From: <" IMPU_A ">;tag=a1\r\nTo: <" IMPU_B ">\r\n"
           "Call-ID: call-%s\r\nCSeq: %u INVITE\r\n"
           "Contact: <sip:a@10.0.0.9:5061;transport=tls;ob>\r\n"
           "P-Asserted-Identity: <" IMPU_A ">\r\n"
           "Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0",
           br, cseq, br, cseq);
  return b;
}

/* A CANCEL or ACK for invite(br, cseq) from A's P-CSCF (same branch). */
static const char *up_req(const char *method, const char *br, unsigned cseq,
                          const char *to_tag) {
  static char b[4096];
  snprintf(b, sizeof(b),
           "%s " IMPU_B " SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=%s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <" IMPU_A ">;tag=a1\r\nTo: <" IMPU_B ">%s%s\r\n"
           "Call-ID: call-%s\r\nCSeq: %u %s\r\nContent-Length: 0\r\n\r\n",
           method, br, to_tag ? ";tag=" : "", to_tag ? to_tag : "", br, cseq,
           method);
  return b;
}

/* What a UE (through its P-CSCF) answers to the request `req` that went
 * down: its Via fields, From, To with the tag `tag`, Call-ID, CSeq. */
static const char *reply(const char *req, unsigned code, const char *reason,
                         const char *tag) {
  static char b[8192];
  int n = snprintf(b, sizeof(b), "SIP/2.0 %u %s\r\n", code, reason);
  const char *p = req;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncmp(p, "\r\n", 2) == 0)
      break;
    const char *eol = strstr(p, "\r\n");
    if (!strncmp(p, "Via:", 4) || !strncmp(p, "From:", 5) ||
        !strncmp(p, "Call-ID:", 8) || !strncmp(p, "CSeq:", 5))
      n +=
          snprintf(b + n, sizeof(b) - (size_t)n, "%.*s\r\n", (int)(eol - p), p);
    else if (!strncmp(p, "To:", 3))
      n += snprintf(b + n, sizeof(b) - (size_t)n, "%.*s%s%s\r\n",
                    (int)(eol - p), p, tag && code > 100 ? ";tag=" : "",
                    tag && code > 100 ? tag : "");
  }
  snprintf(b + n, sizeof(b) - (size_t)n, "Content-Length: 0\r\n\r\n");
  return b;
}

/* Send invite(br, cseq) and take its two branches (w[0] to UE1, w[1] to
 * UE2). Checks the 100 Trying and what each branch looks like. */
static void start_call(fx *f, const char *br, unsigned cseq, char w[2][8192]) {
  deliver(f, UP_FLOW, invite(br, cseq));
  msgs up;
  sent_on(f, UP_FLOW, &up);
  /* RFC 3261 §16.2: our own 100 Trying at once, without a To tag. */
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 100);
  assert_string_equal(field(up.text[0], "To"), "<" IMPU_B ">");
  assert_string_equal(top_branch(up.text[0]), br);
  assert_null(strstr(up.text[0], "6060"));
  if (!f->down_up) {
    uint64_t tag = 0;
    for (size_t i = 0; i < f->out.n; i++)
      if (f->out.acts[i].kind == IMSEC_ACT_CONNECT)
        tag = f->out.acts[i].tag;
    assert_true(tag != 0);
    imsec_out_clear(&f->out);
    assert_int_equal(
        imsec_scscf_on_flow_up(f->s, DOWN_FLOW, tag, &f->ti, f->now, &f->out),
        0);
    f->down_up = 1;
  }
  msgs d;
  sent_on(f, DOWN_FLOW, &d);
  assert_int_equal(d.n, 2);
  for (int i = 0; i < 2; i++) {
    int k = strncmp(d.text[i], "INVITE " UE1 " ", 8 + strlen(UE1)) != 0;
    memcpy(w[k], d.text[i], strlen(d.text[i]) + 1);
    assert_non_null(strstr(w[k], "Route: " PATH_V "\r\n"));
    assert_non_null(strstr(w[k], "Via: SIP/2.0/TCP 127.0.0.1:6060;branch="));
  }
  assert_true(strncmp(w[0], "INVITE " UE1 " ", 8 + strlen(UE1)) == 0);
  assert_true(strncmp(w[1], "INVITE " UE2 " ", 8 + strlen(UE2)) == 0);
  char b0[256];
  snprintf(b0, sizeof(b0), "%s", top_branch(w[0]));
  assert_string_not_equal(b0, top_branch(w[1]));
  assert_int_equal(imsec_scscf_txns(f->s), 1);
}

/* A CANCEL or ACK the S-CSCF sent down for branch `w` (RFC 3261 §9.1,
 * §17.1.1.3): the branch's Request-URI, our Via with its branch, its
 * Route, From, Call-ID, the CSeq number with the method. */
static void check_down(const char *m, const char *method, const char *w,
                       const char *to) {
  char rl[256];
  const char *ruri = strncmp(w, "INVITE " UE1, 7 + strlen(UE1)) ? UE2 : UE1;
  snprintf(rl, sizeof(rl), "%s %s SIP/2.0\r\n", method, ruri);
  assert_true(strncmp(m, rl, strlen(rl)) == 0);
  char wb[256];
  snprintf(wb, sizeof(wb), "%s", top_branch(w));
  assert_string_equal(top_branch(m), wb);
  /* One Via only: ours. */
  const char *v = strstr(m, "\r\nVia: SIP/2.0/TCP 127.0.0.1:6060;branch=");
  assert_non_null(v);
  assert_null(strstr(v + 5, "\r\nVia:"));
  assert_string_equal(field(m, "Route"), PATH_V);
  char from[256], cid[256], cseq[64], cs_want[64];
  snprintf(from, sizeof(from), "%s", field(w, "From"));
  snprintf(cid, sizeof(cid), "%s", field(w, "Call-ID"));
  snprintf(cseq, sizeof(cseq), "%s", field(w, "CSeq"));
  assert_string_equal(field(m, "From"), from);
  assert_string_equal(field(m, "Call-ID"), cid);
  unsigned num = 0;
  assert_int_equal(sscanf(cseq, "%u", &num), 1);
  snprintf(cs_want, sizeof(cs_want), "%u %s", num, method);
  assert_string_equal(field(m, "CSeq"), cs_want);
  assert_string_equal(field(m, "To"), to);
  assert_string_equal(field(m, "Max-Forwards"), "70");
}

/* ------------------------------------------------------------ tests */

/* 100 Trying, 180 relayed from both forks, both 2xx relayed, the other
 * branch CANCELled after the first 2xx; 2xx retransmissions still go up
 * while the context lingers. */
static void ringing_and_two_answers(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up, down;
  start_call(f, "z9hG4bKpi1", 1, w);
  /* A 100 from a branch is hop by hop. */
  deliver(f, DOWN_FLOW, reply(w[0], 100, "Trying", NULL));
  assert_int_equal(count_sends(f), 0);
  /* 180 goes up at once (RFC 3261 §16.7 step 5), our Via gone. */
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(count_sends(f), 1);
  assert_int_equal(status_of(up.text[0]), 180);
  assert_null(strstr(up.text[0], "6060"));
  assert_string_equal(top_branch(up.text[0]), "z9hG4bKpi1");
  assert_string_equal(field(up.text[0], "To"), "<" IMPU_B ">;tag=ue1");
  deliver(f, DOWN_FLOW, reply(w[1], 183, "Session Progress", "ue2"));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 183);
  /* Branch 0 answers: the 200 goes up, branch 1 is CANCELled (§16.7
   * step 10) on the connection its INVITE took, with its branch. */
  deliver(f, DOWN_FLOW, reply(w[0], 200, "OK", "ue1"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 200);
  assert_string_equal(top_branch(up.text[0]), "z9hG4bKpi1");
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[1], "<" IMPU_B ">");
  assert_null(strstr(down.text[0], "ACK"));
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  /* The caller CANCELs now: 200, and nothing more goes down (the other
   * branch was CANCELled already, the answered one is final). */
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKpi1", 1, NULL));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 200);
  assert_int_equal(count_sends(f), 1);
  /* The 200 to our CANCEL is absorbed. */
  deliver(f, DOWN_FLOW, reply(down.text[0], 200, "OK", "ue2"));
  assert_int_equal(count_sends(f), 0);
  /* Branch 1 answered too before the CANCEL got there: that 200 goes up
   * as well (every 2xx to an INVITE), and no ACK from us. */
  deliver(f, DOWN_FLOW, reply(w[1], 200, "OK", "ue2"));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(count_sends(f), 1);
  assert_int_equal(status_of(up.text[0]), 200);
  assert_string_equal(field(up.text[0], "To"), "<" IMPU_B ">;tag=ue2");
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* The UAS repeats its 200 until the ACK: still relayed (RFC 6026). */
  deliver(f, DOWN_FLOW, reply(w[0], 200, "OK", "ue1"));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 200);
  /* Late provisional: nothing. */
  deliver(f, DOWN_FLOW, reply(w[1], 180, "Ringing", "ue2"));
  assert_int_equal(count_sends(f), 0);
  /* After 64*T1 the context is gone: a late 200 is absorbed. */
  f->now += TIMER_B;
  fire_timers(f);
  assert_int_equal(count_sends(f), 0);
  deliver(f, DOWN_FLOW, reply(w[0], 200, "OK", "ue1"));
  assert_int_equal(count_sends(f), 0);
}

/* The caller CANCELs: 200 to the CANCEL, CANCEL down the branch that
 * rang, and down the other one at its first provisional (§9.1); 487s
 * ACKed on each branch; the 487 goes up; the caller's ACK is absorbed. */
static void cancel_from_upstream(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up, down;
  start_call(f, "z9hG4bKpc1", 5, w);
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  assert_int_equal(count_sends(f), 1);
  /* A stray CANCEL (no such branch) and one with another CSeq number:
   * dropped with a log line. */
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKnone", 5, NULL));
  assert_int_equal(count_sends(f), 0);
  assert_true(log_has(f, "CANCEL without a transaction: dropped"));
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKpc1", 6, NULL));
  assert_int_equal(count_sends(f), 0);
  /* ... and the same on another flow. */
  assert_int_equal(imsec_scscf_on_flow_up(f->s, 9, 0, &f->ti, f->now, &f->out),
                   0);
  deliver(f, 9, up_req("CANCEL", "z9hG4bKpc1", 5, NULL));
  assert_int_equal(count_sends(f), 0);
  /* The real one. */
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKpc1", 5, NULL));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 200);
  assert_string_equal(field(up.text[0], "CSeq"), "5 CANCEL");
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[0], "<" IMPU_B ">");
  /* Branch 1 rings now: its 180 still goes up, and it is CANCELled. */
  deliver(f, DOWN_FLOW, reply(w[1], 180, "Ringing", "ue2"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 180);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[1], "<" IMPU_B ">");
  /* A repeated CANCEL: 200 again, nothing more down. */
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKpc1", 5, NULL));
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 0);
  assert_int_equal(count_sends(f), 1);
  /* 487 on branch 0: we ACK it there; nothing up yet. */
  deliver(f, DOWN_FLOW, reply(w[0], 487, "Request Terminated", "ue1"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(up.n, 0);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[0], "<" IMPU_B ">;tag=ue1");
  /* 487 on branch 1: ACKed, and the 487 goes up. */
  deliver(f, DOWN_FLOW, reply(w[1], 487, "Request Terminated", "ue2"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[1], "<" IMPU_B ">;tag=ue2");
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 487);
  assert_string_equal(top_branch(up.text[0]), "z9hG4bKpc1");
  assert_null(strstr(up.text[0], "6060"));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* The caller's ACK (the INVITE's branch) is absorbed. */
  deliver(f, UP_FLOW, up_req("ACK", "z9hG4bKpc1", 5, "ue1"));
  assert_int_equal(count_sends(f), 0);
  assert_true(log_has(f, "absorbed"));
  /* The context is gone now: a CANCEL is a stray one. */
  deliver(f, UP_FLOW, up_req("CANCEL", "z9hG4bKpc1", 5, NULL));
  assert_int_equal(count_sends(f), 0);
}

/* Both branches refuse: each non-2xx is ACKed on its branch by us, the
 * best goes up, the upstream ACK is absorbed; a retransmitted INVITE is
 * absorbed; 503 becomes 500 and 430 becomes 480. */
static void refused_and_acked(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up, down;
  start_call(f, "z9hG4bKpr1", 1, w);
  /* The INVITE again (same branch): absorbed. */
  deliver(f, UP_FLOW, invite("z9hG4bKpr1", 1));
  assert_int_equal(count_sends(f), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  deliver(f, DOWN_FLOW, reply(w[1], 486, "Busy Here", "ue2"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(up.n, 0);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[1], "<" IMPU_B ">;tag=ue2");
  deliver(f, DOWN_FLOW, reply(w[0], 480, "Temporarily Unavailable", "ue1"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[0], "<" IMPU_B ">;tag=ue1");
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 486);
  assert_string_equal(field(up.text[0], "To"), "<" IMPU_B ">;tag=ue2");
  /* A repeated final response is absorbed (no second ACK). */
  deliver(f, DOWN_FLOW, reply(w[1], 486, "Busy Here", "ue2"));
  assert_int_equal(count_sends(f), 0);
  /* Our answer was non-2xx: the ACK with the INVITE's branch is ours. */
  deliver(f, UP_FLOW, up_req("ACK", "z9hG4bKpr1", 1, "ue2"));
  assert_int_equal(count_sends(f), 0);
  assert_true(log_has(f, "ACK of our non-2xx final response: absorbed"));

  /* 503 from both: 500 up (§16.7 step 6), each ACKed. */
  start_call(f, "z9hG4bKpr2", 2, w);
  deliver(f, DOWN_FLOW, reply(w[0], 503, "Service Unavailable", "ue1"));
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  deliver(f, DOWN_FLOW, reply(w[1], 503, "Service Unavailable", "ue2"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 500);
  assert_string_equal(field(up.text[0], "CSeq"), "2 INVITE");
  deliver(f, UP_FLOW, up_req("ACK", "z9hG4bKpr2", 2, "x"));
  assert_int_equal(count_sends(f), 0);

  /* 430 (the callee's flow failed at its P-CSCF) and no answer on the
   * other branch's connection: 480 up. */
  start_call(f, "z9hG4bKpr3", 3, w);
  deliver(f, DOWN_FLOW, reply(w[0], 430, "Flow Failed", "ue1"));
  deliver(f, DOWN_FLOW, reply(w[1], 430, "Flow Failed", "ue2"));
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 480);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* Timer C (RFC 3261 §16.8): reset by each provisional; fired with a
 * provisional the branch is CANCELled and its 487 counts as 408; fired
 * without one, the branch is 408 at once. */
static void timer_c(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up, down;
  imsec_time_ms t0 = f->now;
  start_call(f, "z9hG4bKpt1", 1, w);
  /* Branch 1 only says 100 (it proceeds: Timer B stops, Timer C runs). */
  deliver(f, DOWN_FLOW, reply(w[1], 100, "Trying", NULL));
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  assert_int_equal(count_sends(f), 1);
  /* Another 180 later resets branch 0's Timer C. */
  f->now = t0 + 3000;
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  /* At t0 + C: branch 1 (a 100 only, which does not reset Timer C) is
   * CANCELled; branch 0 still rings. */
  f->now = t0 + TIMER_C;
  fire_timers(f);
  sent_on(f, DOWN_FLOW, &down);
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 0);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[1], "<" IMPU_B ">");
  assert_true(log_has(f, "Timer C"));
  /* Branch 1's 487: ACKed. */
  deliver(f, DOWN_FLOW, reply(w[1], 487, "Request Terminated", "ue2"));
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[1], "<" IMPU_B ">;tag=ue2");
  assert_int_equal(count_sends(f), 1);
  /* At t0 + 3 s + C: branch 0 CANCELled, its 487 ACKed, 408 up. */
  f->now = t0 + 3000 + TIMER_C;
  fire_timers(f);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[0], "<" IMPU_B ">");
  deliver(f, DOWN_FLOW, reply(w[0], 487, "Request Terminated", "ue1"));
  sent_on(f, DOWN_FLOW, &down);
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(down.n, 1);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 408);
  assert_string_equal(top_branch(up.text[0]), "z9hG4bKpt1");
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  deliver(f, UP_FLOW, up_req("ACK", "z9hG4bKpt1", 1, "x"));
  assert_int_equal(count_sends(f), 0);

  /* A CANCELled branch that never answers ends after 64*T1 as 408. */
  t0 = f->now;
  start_call(f, "z9hG4bKpt2", 2, w);
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  deliver(f, DOWN_FLOW, reply(w[1], 486, "Busy Here", "ue2"));
  f->now = t0 + TIMER_C;
  fire_timers(f);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  assert_true(strncmp(down.text[0], "CANCEL ", 7) == 0);
  f->now += TIMER_B;
  fire_timers(f);
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 486);
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* Timer C shorter than Timer B and no provisional: 408 for the branch.
 * Timer B (before any provisional): 408. */
static void timer_b(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up, down;
  /* Timer C as default (180 s): Timer B decides. */
  imsec_scscf_del(f->s);
  elem_pump_free(&f->pump);
  make(f, 0);
  imsec_time_ms t0 = f->now;
  start_call(f, "z9hG4bKpb1", 1, w);
  /* Branch 0 proceeds (100): Timer B no longer applies to it. */
  deliver(f, DOWN_FLOW, reply(w[0], 100, "Trying", NULL));
  f->now = t0 + TIMER_B - 1;
  fire_timers(f);
  assert_int_equal(count_sends(f), 0);
  f->now = t0 + TIMER_B;
  fire_timers(f);
  /* Branch 1 is 408; branch 0 still pending: nothing up, no CANCEL. */
  assert_int_equal(count_sends(f), 0);
  assert_int_equal(imsec_scscf_txns(f->s), 1);
  assert_true(log_has(f, "timed out"));
  deliver(f, DOWN_FLOW, reply(w[0], 486, "Busy Here", "ue1"));
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "ACK", w[0], "<" IMPU_B ">;tag=ue1");
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 486);

  /* Nobody answers at all: 408 of our own after Timer B. */
  t0 = f->now;
  start_call(f, "z9hG4bKpb2", 2, w);
  f->now = t0 + TIMER_B;
  fire_timers(f);
  sent_on(f, UP_FLOW, &up);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 0); /* no CANCEL without a provisional */
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 408);
  assert_string_equal(field(up.text[0], "CSeq"), "2 INVITE");
  assert_non_null(strstr(field(up.text[0], "To"), ";tag="));
  assert_int_equal(imsec_scscf_txns(f->s), 0);
  /* A late 180 and 200 after the context lingered out: absorbed. */
  f->now += TIMER_B;
  fire_timers(f);
  deliver(f, DOWN_FLOW, reply(w[0], 200, "OK", "ue1"));
  assert_int_equal(count_sends(f), 0);
}

/* Timer C with no provisional at all, when it is the shorter timer. */
static void timer_c_silent(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs up;
  imsec_time_ms t0 = f->now;
  start_call(f, "z9hG4bKps1", 1, w);
  f->now = t0 + TIMER_C;
  fire_timers(f);
  sent_on(f, UP_FLOW, &up);
  assert_int_equal(up.n, 1);
  assert_int_equal(status_of(up.text[0]), 408);
  assert_int_equal(count_sends(f), 1); /* no CANCEL: nothing rang */
  assert_int_equal(imsec_scscf_txns(f->s), 0);
}

/* The caller's connection goes down while the callee rings: the ringing
 * branch is CANCELled. */
static void caller_gone(void **state) {
  fx *f = *state;
  char w[2][8192];
  msgs down;
  start_call(f, "z9hG4bKpg1", 1, w);
  deliver(f, DOWN_FLOW, reply(w[0], 180, "Ringing", "ue1"));
  imsec_out_clear(&f->out);
  imsec_scscf_on_flow_down(f->s, UP_FLOW, 0, IMSEC_ERR_IO, f->now, &f->out);
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1);
  check_down(down.text[0], "CANCEL", w[0], "<" IMPU_B ">");
  deliver(f, DOWN_FLOW, reply(w[0], 487, "Request Terminated", "ue1"));
  sent_on(f, DOWN_FLOW, &down);
  assert_int_equal(down.n, 1); /* the ACK */
  assert_int_equal(count_sends(f), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(ringing_and_two_answers, setup, teardown),
      cmocka_unit_test_setup_teardown(cancel_from_upstream, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_and_acked, setup, teardown),
      cmocka_unit_test_setup_teardown(timer_c, setup, teardown),
      cmocka_unit_test_setup_teardown(timer_b, setup, teardown),
      cmocka_unit_test_setup_teardown(timer_c_silent, setup, teardown),
      cmocka_unit_test_setup_teardown(caller_gone, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
