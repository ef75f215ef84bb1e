/* host/: the host's metrics (imsec_host_metrics) and the log context of
 * its events. A fake port on a clock the test moves and a fake element
 * that answers, forwards, asks a store and logs; a fake store answered by
 * the test. Checked: SIP requests and responses in and out by method and
 * status class (the CSeq method of a response, compact headers, messages
 * that are not SIP left out), store requests by store, operation and
 * result with their latency histogram and the requests in flight, and
 * the flow and Call-ID ("Call-ID" and compact "i") that the element's
 * LOG actions and the host's own lines carry to port->log_event; without
 * log_event the old "NAME: text" lines reach port->log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/host.h"
#include "imsec/obs.h"
#include "test_util.h"

/* ------------------------------------------------------------ the port */

#define MAXLOG 64

typedef struct logrec {
  char elem[32], text[256], call_id[160];
  int has_call_id;
  uint64_t flow;
  imsec_log_level level;
} logrec;

typedef struct port {
  imsec_time_ms now;
  logrec ev[MAXLOG];
  size_t nev;
  char lines[MAXLOG][300];
  size_t nlines;
  int send_fail;
} port;

static int p_send(void *ctx, uint64_t flow, const uint8_t *d, size_t len) {
  (void)flow;
  (void)d;
  (void)len;
  return ((port *)ctx)->send_fail;
}
static void p_close(void *ctx, uint64_t flow) {
  (void)ctx;
  (void)flow;
}
static void p_arm(void *ctx, imsec_time_ms at) {
  (void)ctx;
  (void)at;
}
static imsec_time_ms p_now(void *ctx) {
  return ((port *)ctx)->now;
}
static void p_log(void *ctx, imsec_log_level lv, const char *line) {
  port *p = ctx;
  (void)lv;
  assert_true(p->nlines < MAXLOG);
  snprintf(p->lines[p->nlines++], sizeof p->lines[0], "%s", line);
}
static void p_log_event(void *ctx, const imsec_log_event *ev) {
  port *p = ctx;
  assert_true(p->nev < MAXLOG);
  logrec *r = &p->ev[p->nev++];
  snprintf(r->elem, sizeof r->elem, "%s", ev->elem);
  snprintf(r->text, sizeof r->text, "%s", ev->text);
  r->has_call_id = ev->call_id != NULL;
  snprintf(r->call_id, sizeof r->call_id, "%s", ev->call_id ? ev->call_id : "");
  r->flow = ev->flow;
  r->level = ev->level;
}

/* ------------------------------------------------------------ the store */

#define MAXQ 16

typedef struct store {
  imsec_svc base;
  struct {
    imsec_svc_req req;
    imsec_svc_done_fn done;
    void *arg;
  } q[MAXQ];
  size_t nq;
} store;

static int st_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                     void *arg) {
  store *st = (store *)s;
  assert_true(st->nq < MAXQ);
  st->q[st->nq].req = *req;
  memset(&req->reg, 0, sizeof req->reg);
  st->q[st->nq].done = done;
  st->q[st->nq].arg = arg;
  st->nq++;
  return 0;
}

static void st_destroy(imsec_svc *s) {
  (void)s;
}

static const imsec_svc_vtable st_vt = {.submit = st_submit,
                                       .destroy = st_destroy};

/* Answer the oldest request with `status`. */
static void st_answer(store *st, int status) {
  assert_true(st->nq > 0);
  imsec_svc_reply r;
  memset(&r, 0, sizeof r);
  r.kind = st->q[0].req.kind;
  r.id = st->q[0].req.id;
  r.status = status;
  r.last = 1;
  st->q[0].done(st->q[0].arg, &st->q[0].req, &r);
  imsec_reg_record_free(&st->q[0].req.reg);
  memmove(&st->q[0], &st->q[1], (st->nq - 1) * sizeof st->q[0]);
  st->nq--;
}

/* ------------------------------------------------------------ the element
 * A REGISTER is answered 401 and its IMPI's vector asked of the store; an
 * INVITE is forwarded on flow 9; "ASK KIND" asks the store for that kind;
 * every message is logged; every reply too. */

static void e_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                  imsec_time_ms now, imsec_out *o) {
  (void)s;
  (void)now;
  (void)imsec_out_log(o, IMSEC_LOG_INFO, "got a message", NULL);
  if (len > 9 && memcmp(m, "REGISTER ", 9) == 0) {
    static const char r401[] = "SIP/2.0 401 Unauthorized\r\n"
                               "Via: SIP/2.0/TLS ue;branch=z9hG4bK1\r\n"
                               "cseq: 1 REGISTER\r\n"
                               "Content-Length: 0\r\n\r\n";
    (void)imsec_out_send(o, flow, r401, sizeof r401 - 1);
    imsec_svc_req rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = IMSEC_SVC_HSS_VECTOR;
    rq.id = 1;
    (void)imsec_out_request(o, &rq);
  } else if (len > 7 && memcmp(m, "INVITE ", 7) == 0) {
    (void)imsec_out_send(o, 9, m, len);
  } else if (len > 4 && memcmp(m, "ASK ", 4) == 0) {
    imsec_svc_req rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = (imsec_svc_kind)atoi((const char *)m + 4);
    rq.id = 2;
    (void)imsec_out_request(o, &rq);
  }
}

static int e_up(void *s, uint64_t flow, uint64_t tag,
                const imsec_flow_info *info, imsec_time_ms now, imsec_out *o) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)info;
  (void)now;
  (void)imsec_out_log(o, IMSEC_LOG_INFO, "flow up", NULL);
  return 0;
}

static void e_down(void *s, uint64_t flow, uint64_t tag, int reason,
                   imsec_time_ms now, imsec_out *o) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)o;
}

static void e_reply(void *s, const imsec_svc_reply *r, imsec_time_ms now,
                    imsec_out *o) {
  (void)s;
  (void)r;
  (void)now;
  (void)imsec_out_log(o, IMSEC_LOG_INFO, "store answered", NULL);
}

static int g_elem_metrics_called;
static void e_metrics(const void *s, imsec_time_ms now, imsec_metrics *m) {
  (void)s;
  (void)now;
  g_elem_metrics_called++;
  assert_int_equal(imsec_metrics_declare(m, "imsec_test_elem",
                                         IMSEC_METRIC_GAUGE,
                                         "The element's own."),
                   0);
  assert_int_equal(imsec_metrics_add(m, "imsec_test_elem", 7.0, NULL), 0);
}

static const imsec_elem_ops el_ops = {
    .kind = "test",
    .on_flow_up = e_up,
    .on_message = e_msg,
    .on_flow_down = e_down,
    .on_reply = e_reply,
    .metrics = e_metrics,
};

/* ------------------------------------------------------------ fixture */

typedef struct fx {
  port port;
  store st;
  imsec_host *h;
} fx;

static fx *fx_new(int events) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->st.base.vt = &st_vt;
  f->port.now = 1000;
  imsec_host_config cfg = {
      .name = "pcscf",
      .ops = &el_ops,
      .self = f,
      .svc = &f->st.base,
      .log_level = IMSEC_LOG_DEBUG,
  };
  imsec_host_port hp = {
      .ctx = &f->port,
      .send = p_send,
      .close = p_close,
      .arm = p_arm,
      .log = p_log,
      .now = p_now,
      .log_event = events ? p_log_event : NULL,
  };
  assert_int_equal(imsec_host_new(&f->h, &cfg, &hp), 0);
  imsec_host_start(f->h);
  return f;
}

static void fx_del(fx *f) {
  /* The host frees a request when it is answered: answer what the store
   * still holds before the host goes (host.h, imsec_host_del). */
  while (f->st.nq)
    st_answer(&f->st, IMSEC_ERR_CLOSED);
  imsec_host_poll(f->h);
  imsec_host_del(f->h);
  free(f);
}

static void msg(fx *f, uint64_t flow, const char *m) {
  imsec_host_message(f->h, flow, (const uint8_t *)m, strlen(m));
}

/* The value of the sample of `name` with exactly these rendered labels,
 * -1 when there is none. */
static double value(const imsec_metrics *m, const char *name,
                    const char *labels) {
  const imsec_metric_family *fam = imsec_metrics_find(m, name);
  assert_non_null(fam);
  for (size_t i = 0; i < fam->n; i++)
    if (strcmp(fam->s[i].labels, labels) == 0)
      return fam->s[i].value;
  return -1;
}

static const imsec_hist *hist(const imsec_metrics *m, const char *name,
                              const char *labels) {
  const imsec_metric_family *fam = imsec_metrics_find(m, name);
  assert_non_null(fam);
  for (size_t i = 0; i < fam->n; i++)
    if (strcmp(fam->s[i].labels, labels) == 0)
      return &fam->s[i].hist;
  return NULL;
}

/* ------------------------------------------------------------ tests */

static const char REGISTER[] = "REGISTER sip:ims.test SIP/2.0\r\n"
                               "Via: SIP/2.0/TLS ue;branch=z9hG4bK1\r\n"
                               "Call-ID: reg-1@ue\r\n"
                               "CSeq: 1 REGISTER\r\n"
                               "Content-Length: 0\r\n\r\n";

static void test_sip_counts(void **state) {
  (void)state;
  fx *f = fx_new(1);
  msg(f, 5, REGISTER);
  msg(f, 5, REGISTER);
  msg(f, 5,
      "INVITE sip:b@ims.test SIP/2.0\r\ni: inv-1\r\nCSeq: 1 INVITE\r\n"
      "l: 0\r\n\r\n");
  msg(f, 5, "FROB sip:b@ims.test SIP/2.0\r\nCSeq: 1 FROB\r\n\r\n");
  /* Responses: counted by their CSeq method, the header's name in any
   * case and spaces around its colon. */
  msg(f, 9, "SIP/2.0 180 Ringing\r\nVia: x\r\nCSeq : 1 INVITE\r\n\r\n");
  msg(f, 9, "SIP/2.0 200 OK\r\nCSEQ:  2 BYE\r\n\r\n");
  msg(f, 9, "SIP/2.0 603 Decline\r\nCSeq: 1 INVITE\r\n\r\n");
  /* Not SIP: not counted. */
  msg(f, 5, "hello\r\n");
  msg(f, 5, "SIP/2.0 999 Odd\r\nCSeq: 1 INVITE\r\n\r\n");
  msg(f, 5, "");

  imsec_metrics m = {0};
  imsec_host_metrics(f->h, &m);
  assert_int_equal(m.err, 0);
  const char *R = "imsec_sip_requests_total", *S = "imsec_sip_responses_total";
  assert_true(value(&m, R, "direction=\"in\",method=\"REGISTER\"") == 2);
  assert_true(value(&m, R, "direction=\"in\",method=\"INVITE\"") == 1);
  assert_true(value(&m, R, "direction=\"in\",method=\"other\"") == 1);
  assert_true(value(&m, R, "direction=\"out\",method=\"INVITE\"") == 1);
  assert_true(value(&m, R, "direction=\"in\",method=\"BYE\"") == -1);
  assert_true(
      value(&m, S, "direction=\"in\",method=\"INVITE\",class=\"1xx\"") == 1);
  assert_true(value(&m, S, "direction=\"in\",method=\"BYE\",class=\"2xx\"") ==
              1);
  assert_true(
      value(&m, S, "direction=\"in\",method=\"INVITE\",class=\"6xx\"") == 1);
  assert_true(
      value(&m, S, "direction=\"out\",method=\"REGISTER\",class=\"4xx\"") == 2);
  /* The element's own families follow the host's. */
  assert_int_equal(g_elem_metrics_called, 1);
  assert_true(value(&m, "imsec_test_elem", "") == 7);
  imsec_metrics_free(&m);
  fx_del(f);
}

static void test_store_latency(void **state) {
  (void)state;
  fx *f = fx_new(1);
  msg(f, 5, REGISTER); /* asks HSS_VECTOR */
  char ask[32];
  snprintf(ask, sizeof ask, "ASK %d", (int)IMSEC_SVC_REG_SAVE);
  msg(f, 5, ask);
  msg(f, 5, ask);
  snprintf(ask, sizeof ask, "ASK %d", (int)IMSEC_SVC_HSS_SUB);
  msg(f, 5, ask);

  imsec_metrics m = {0};
  imsec_host_metrics(f->h, &m);
  assert_true(value(&m, "imsec_store_requests_in_flight", "") == 4);
  imsec_metrics_free(&m);

  f->port.now += 3; /* the vector after 3 ms */
  st_answer(&f->st, 0);
  imsec_host_poll(f->h);
  f->port.now += 40; /* a save after 43 ms, the other times out */
  st_answer(&f->st, 0);
  st_answer(&f->st, IMSEC_ERR_TIMEOUT);
  imsec_host_poll(f->h);
  st_answer(&f->st, IMSEC_ERR_IO);
  imsec_host_poll(f->h);

  memset(&m, 0, sizeof m);
  imsec_host_metrics(f->h, &m);
  assert_int_equal(m.err, 0);
  const char *T = "imsec_store_requests_total";
  assert_true(value(&m, T, "store=\"hss\",op=\"vector\",result=\"ok\"") == 1);
  assert_true(
      value(&m, T, "store=\"registrations\",op=\"save\",result=\"ok\"") == 1);
  assert_true(value(&m, T,
                    "store=\"registrations\",op=\"save\","
                    "result=\"timeout\"") == 1);
  assert_true(value(&m, T, "store=\"hss\",op=\"sub\",result=\"error\"") == 1);
  assert_true(value(&m, "imsec_store_requests_in_flight", "") == 0);

  const char *D = "imsec_store_request_duration_seconds";
  const imsec_hist *h = hist(&m, D, "store=\"hss\",op=\"vector\"");
  assert_non_null(h);
  assert_int_equal(h->count, 1);
  assert_true(h->sum > 0.0029 && h->sum < 0.0031);
  /* 3 ms: in the bucket of the first bound at or above it. */
  for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++) {
    int here = imsec_hist_bounds[i] >= 0.003 &&
               (i == 0 || imsec_hist_bounds[i - 1] < 0.003);
    assert_int_equal(h->bucket[i], here ? 1 : 0);
  }
  h = hist(&m, D, "store=\"registrations\",op=\"save\"");
  assert_non_null(h);
  assert_int_equal(h->count, 2);
  assert_true(h->sum > 0.0859 && h->sum < 0.0861);
  imsec_metrics_free(&m);
  fx_del(f);
}

static const logrec *find_log(const port *p, const char *text, size_t from) {
  for (size_t i = from; i < p->nev; i++)
    if (strcmp(p->ev[i].text, text) == 0)
      return &p->ev[i];
  return NULL;
}

static void test_log_context(void **state) {
  (void)state;
  fx *f = fx_new(1);
  imsec_flow_info fi;
  memset(&fi, 0, sizeof fi);
  assert_int_equal(imsec_host_flow_up(f->h, 5, 0, &fi, NULL, 0), 0);
  const logrec *l = find_log(&f->port, "flow up", 0);
  assert_non_null(l);
  assert_int_equal(l->flow, 5);
  assert_false(l->has_call_id);
  assert_string_equal(l->elem, "pcscf");

  size_t mark = f->port.nev;
  msg(f, 5, REGISTER);
  l = find_log(&f->port, "got a message", mark);
  assert_non_null(l);
  assert_int_equal(l->flow, 5);
  assert_true(l->has_call_id);
  assert_string_equal(l->call_id, "reg-1@ue");
  assert_int_equal(l->level, IMSEC_LOG_INFO);

  /* The compact form, trailing blanks dropped. */
  mark = f->port.nev;
  msg(f, 7, "OPTIONS sip:x SIP/2.0\r\nVia: y\r\ni:  opt-7@ue  \r\n\r\n");
  l = find_log(&f->port, "got a message", mark);
  assert_non_null(l);
  assert_int_equal(l->flow, 7);
  assert_string_equal(l->call_id, "opt-7@ue");

  /* A header whose name only starts like Call-ID is not one. */
  mark = f->port.nev;
  msg(f, 7, "OPTIONS sip:x SIP/2.0\r\nCall-Info: <x>\r\nid: 3\r\n\r\n");
  l = find_log(&f->port, "got a message", mark);
  assert_non_null(l);
  assert_false(l->has_call_id);

  /* The store's answer is an event of no flow: no context. */
  mark = f->port.nev;
  st_answer(&f->st, 0);
  imsec_host_poll(f->h);
  l = find_log(&f->port, "store answered", mark);
  assert_non_null(l);
  assert_int_equal(l->flow, 0);
  assert_false(l->has_call_id);

  /* The host's own line about a flow names it. */
  mark = f->port.nev;
  f->port.send_fail = IMSEC_ERR_IO;
  msg(f, 5, "INVITE sip:b SIP/2.0\r\nCall-ID: c\r\n\r\n");
  int seen = 0;
  for (size_t i = mark; i < f->port.nev; i++)
    if (strstr(f->port.ev[i].text, "send failed") && f->port.ev[i].flow == 9)
      seen = 1;
  assert_true(seen);
  /* Nothing went to the text path. */
  assert_int_equal(f->port.nlines, 0);
  fx_del(f);
}

/* Without log_event: "NAME: text" lines as before. */
static void test_log_text(void **state) {
  (void)state;
  fx *f = fx_new(0);
  msg(f, 5, REGISTER);
  assert_int_equal(f->port.nev, 0);
  int seen = 0;
  for (size_t i = 0; i < f->port.nlines; i++)
    if (strcmp(f->port.lines[i], "pcscf: got a message") == 0)
      seen = 1;
  assert_true(seen);
  fx_del(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sip_counts),
      cmocka_unit_test(test_store_latency),
      cmocka_unit_test(test_log_context),
      cmocka_unit_test(test_log_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
