/* host/host.c: the host core with a fake port that records every call and
 * a fake service that answers inside submit or later on demand (also from
 * another thread): the action walk and its order, timers (re-arm, cancel,
 * many ids, get_expiry), PERSIST holding, release and failure, REQUEST
 * replies, REG_LOAD's many replies, closed flows, refusals, the bound on
 * held actions, done(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/host.h"
#include "test_util.h"

/* ------------------------------------------------------------ the port */

#define LOGN 16384

typedef struct port_rec {
  char *ev[LOGN]; /* "send 1 x", "close 1", "arm 100", "log text"... */
  size_t n;
  imsec_time_ms now;
  atomic_int wakes;
} port_rec;

static void rec(port_rec *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rec(port_rec *p, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  assert_true(p->n < LOGN);
  p->ev[p->n++] = strdup(buf);
}

static int p_send(void *ctx, uint64_t flow, const uint8_t *d, size_t len) {
  rec(ctx, "send %llu %.*s", (unsigned long long)flow, (int)len,
      (const char *)d);
  return 0;
}
static void p_connect(void *ctx, uint64_t tag, const imsec_addr *a,
                      const char *sn, const imsec_tls_profile *tls) {
  (void)tls;
  rec(ctx, "connect %llu %s %s", (unsigned long long)tag, a->host,
      sn ? sn : "-");
}
static void p_close(void *ctx, uint64_t flow) {
  rec(ctx, "close %llu", (unsigned long long)flow);
}
static void p_keep(void *ctx, uint64_t flow) {
  rec(ctx, "keep %llu", (unsigned long long)flow);
}
static void p_arm(void *ctx, imsec_time_ms at) {
  rec(ctx, "arm %lld", (long long)at);
}
static void p_log(void *ctx, imsec_log_level lv, const char *line) {
  rec(ctx, "log%d %s", (int)lv, line);
}
static imsec_time_ms p_now(void *ctx) {
  return ((port_rec *)ctx)->now;
}
static void p_wake(void *ctx) {
  atomic_fetch_add(&((port_rec *)ctx)->wakes, 1);
}
/* The PSK op: identity, length, the first two key octets, expiry. */
static void p_psk(void *ctx, const char *id, const uint8_t *key, size_t len,
                  imsec_time_ms at) {
  if (len)
    rec(ctx, "psk %s %zu %02x%02x %lld", id, len, key[0], key[1],
        (long long)at);
  else
    rec(ctx, "psk %s 0 - %lld", id, (long long)at);
}
/* fx_new gives the port the PSK op when set. */
static int g_port_psk;

static void port_clear(port_rec *p) {
  for (size_t i = 0; i < p->n; i++)
    free(p->ev[i]);
  p->n = 0;
}

/* The recorded calls joined by '|', without arm lines unless `arms`. */
static const char *calls(port_rec *p, int arms) {
  static char buf[8192];
  size_t k = 0;
  buf[0] = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (!arms && strncmp(p->ev[i], "arm ", 4) == 0)
      continue;
    int w = snprintf(buf + k, sizeof buf - k, "%s%s", k ? "|" : "", p->ev[i]);
    assert_true(w > 0 && (size_t)w < sizeof buf - k);
    k += (size_t)w;
  }
  return buf;
}

static const char *last_arm(port_rec *p) {
  for (size_t i = p->n; i-- > 0;)
    if (strncmp(p->ev[i], "arm ", 4) == 0)
      return p->ev[i];
  return "none";
}

/* ------------------------------------------------------------ a service */

#define MAXQ 64

typedef struct fsvc {
  imsec_svc base;
  int inline_answer; /* answer inside submit */
  int status;        /* the status answers carry */
  int refuse;        /* submit returns this (< 0) */
  int records;       /* REG_LOAD: records before the last reply */
  struct {
    imsec_svc_req req;
    imsec_svc_done_fn done;
    void *arg;
  } q[MAXQ];
  size_t nq;
  size_t submitted;
} fsvc;

static void answer(fsvc *f, const imsec_svc_req *req, imsec_svc_done_fn done,
                   void *arg, int status) {
  imsec_svc_reply r;
  memset(&r, 0, sizeof r);
  r.kind = req->kind;
  r.id = req->id;
  r.status = status;
  if (req->kind == IMSEC_SVC_REG_LOAD) {
    for (int i = 0; i < f->records; i++) {
      char impi[32];
      snprintf(impi, sizeof impi, "u%d@x", i);
      imsec_reg_record rr;
      memset(&rr, 0, sizeof rr);
      rr.impi = impi;
      r.reg = &rr;
      done(arg, req, &r);
    }
    r.reg = NULL;
    r.last = 1;
  }
  if (req->kind == IMSEC_SVC_HSS_VECTOR)
    memset(r.vec.ck, 0x5a, sizeof r.vec.ck);
  done(arg, req, &r);
}

static int fs_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                     void *arg) {
  fsvc *f = (fsvc *)s;
  f->submitted++;
  if (f->refuse) {
    imsec_reg_record_free(&req->reg);
    return f->refuse;
  }
  if (f->inline_answer) {
    answer(f, req, done, arg, f->status);
    imsec_reg_record_free(&req->reg);
    return 0;
  }
  assert_true(f->nq < MAXQ);
  f->q[f->nq].req = *req;
  memset(&req->reg, 0, sizeof req->reg);
  f->q[f->nq].done = done;
  f->q[f->nq].arg = arg;
  f->nq++;
  return 0;
}

static void fs_destroy(imsec_svc *s) {
  (void)s;
}

static const imsec_svc_vtable fs_vt = {.submit = fs_submit,
                                       .destroy = fs_destroy};

/* Answer the oldest queued request. */
static void fs_answer_one(fsvc *f, int status) {
  assert_true(f->nq > 0);
  answer(f, &f->q[0].req, f->q[0].done, f->q[0].arg, status);
  imsec_reg_record_free(&f->q[0].req.reg);
  memmove(&f->q[0], &f->q[1], (f->nq - 1) * sizeof f->q[0]);
  f->nq--;
}

/* Answer the newest queued request. */
static void fs_answer_last(fsvc *f, int status) {
  assert_true(f->nq > 0);
  size_t k = f->nq - 1;
  answer(f, &f->q[k].req, f->q[k].done, f->q[k].arg, status);
  imsec_reg_record_free(&f->q[k].req.reg);
  f->nq--;
}

/* ------------------------------------------------------------ an element */

typedef struct el el;
typedef void (*script_fn)(el *e, const char *what, uint64_t a, imsec_out *o);

struct el {
  script_fn fn;
  port_rec *port; /* replies are recorded into the port's trace */
  int in_call;
  int done;
  int refuse_up;
  imsec_time_ms expiry;
  int expiries;
  size_t replies;
  int last_status;
  uint64_t last_id;
  int last_last;
  char last_impi[32];
  uint8_t ck0; /* the vector's first octet during on_reply */
};

static void enter(el *e) {
  assert_false(e->in_call); /* never re-entered from inside a call */
  e->in_call = 1;
}

static int e_up(void *s, uint64_t flow, uint64_t tag,
                const imsec_flow_info *info, imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)info;
  (void)now;
  enter(e);
  rec(e->port, "UP %llu %llu", (unsigned long long)flow,
      (unsigned long long)tag);
  if (e->fn)
    e->fn(e, "up", flow, o);
  e->in_call = 0;
  return e->refuse_up ? IMSEC_ERR_TRUST : 0;
}

static void e_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                  imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)now;
  enter(e);
  rec(e->port, "MSG %llu %.*s", (unsigned long long)flow, (int)len,
      (const char *)m);
  if (e->fn)
    e->fn(e, (const char *)m, flow, o);
  e->in_call = 0;
}

static void e_down(void *s, uint64_t flow, uint64_t tag, int reason,
                   imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)now;
  (void)o;
  enter(e);
  rec(e->port, "DOWN %llu %llu %d", (unsigned long long)flow,
      (unsigned long long)tag, reason);
  e->in_call = 0;
}

static void e_timer(void *s, uint64_t id, imsec_time_ms now, imsec_out *o) {
  el *e = s;
  enter(e);
  rec(e->port, "TIMER %llu @%lld", (unsigned long long)id, (long long)now);
  if (e->fn)
    e->fn(e, "timer", id, o);
  e->in_call = 0;
}

static void e_refused(void *s, uint64_t flow, int reason, const uint8_t *head,
                      size_t len, imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)reason;
  (void)head;
  (void)len;
  (void)now;
  enter(e);
  (void)imsec_out_send(o, flow, "513", 3);
  e->in_call = 0;
}

static void e_start(void *s, imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)now;
  enter(e);
  rec(e->port, "START");
  if (e->fn)
    e->fn(e, "start", 0, o);
  e->in_call = 0;
}

static void e_reply(void *s, const imsec_svc_reply *r, imsec_time_ms now,
                    imsec_out *o) {
  el *e = s;
  (void)now;
  enter(e);
  e->replies++;
  e->last_status = r->status;
  e->last_id = r->id;
  e->last_last = r->last;
  e->ck0 = r->vec.ck[0];
  if (r->reg && r->reg->impi)
    snprintf(e->last_impi, sizeof e->last_impi, "%s", r->reg->impi);
  rec(e->port, "REPLY %llu %d", (unsigned long long)r->id, r->status);
  if (e->fn)
    e->fn(e, "reply", r->id, o);
  e->in_call = 0;
}

static imsec_time_ms e_get_expiry(const void *s) {
  return ((const el *)s)->expiry;
}

static void e_handle_expiry(void *s, imsec_time_ms now, imsec_out *o) {
  el *e = s;
  (void)o;
  enter(e);
  e->expiries++;
  rec(e->port, "EXPIRY @%lld", (long long)now);
  e->expiry = 0;
  e->in_call = 0;
}

static int e_done(const void *s) {
  return ((const el *)s)->done;
}

static const imsec_elem_ops el_ops = {
    .kind = "test",
    .on_flow_up = e_up,
    .on_message = e_msg,
    .on_flow_down = e_down,
    .on_timer = e_timer,
    .on_refused = e_refused,
    .on_start = e_start,
    .on_reply = e_reply,
    .get_expiry = e_get_expiry,
    .handle_expiry = e_handle_expiry,
    .done = e_done,
};

/* ------------------------------------------------------------ fixture */

typedef struct fx {
  port_rec port;
  fsvc svc;
  el e;
  imsec_host *h;
} fx;

static fx *fx_new(int with_svc, const char *name) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->svc.base.vt = &fs_vt;
  f->e.port = &f->port;
  f->port.now = 1000;
  imsec_host_config cfg = {
      .name = name,
      .ops = &el_ops,
      .self = &f->e,
      .svc = with_svc ? &f->svc.base : NULL,
      .log_level = IMSEC_LOG_DEBUG,
  };
  imsec_host_port port = {
      .ctx = &f->port,
      .send = p_send,
      .connect = p_connect,
      .close = p_close,
      .keep = p_keep,
      .arm = p_arm,
      .log = p_log,
      .now = p_now,
      .wake = p_wake,
      .psk = g_port_psk ? p_psk : NULL,
  };
  assert_int_equal(imsec_host_new(&f->h, &cfg, &port), 0);
  return f;
}

static void fx_del(fx *f) {
  imsec_host_del(f->h);
  for (size_t i = 0; i < f->svc.nq; i++)
    imsec_reg_record_free(&f->svc.q[i].req.reg);
  port_clear(&f->port);
  free(f);
}

static void msg(fx *f, uint64_t flow, const char *text) {
  imsec_host_message(f->h, flow, (const uint8_t *)text, strlen(text));
}

static void up(fx *f, uint64_t flow, uint64_t tag) {
  imsec_flow_info info;
  memset(&info, 0, sizeof info);
  info.tp = IMSEC_TP_TCP;
  assert_int_equal(imsec_host_flow_up(f->h, flow, tag, &info, NULL, 0), 0);
}

static void persist(imsec_out *o, uint64_t id) {
  imsec_svc_req r;
  memset(&r, 0, sizeof r);
  r.kind = IMSEC_SVC_REG_SAVE;
  r.id = id;
  assert_int_equal(imsec_out_persist(o, &r), 0);
}

static void request(imsec_out *o, imsec_svc_kind kind, uint64_t id) {
  imsec_svc_req r;
  memset(&r, 0, sizeof r);
  r.kind = kind;
  r.id = id;
  assert_int_equal(imsec_out_request(o, &r), 0);
}

/* ------------------------------------------------------------ order */

static void s_order(el *e, const char *what, uint64_t flow, imsec_out *o) {
  (void)e;
  if (strcmp(what, "go") != 0)
    return;
  imsec_addr a = {.tp = IMSEC_TP_TLS, .port = 5061};
  snprintf(a.host, sizeof a.host, "10.0.0.9");
  assert_int_equal(imsec_out_send(o, flow, "a", 1), 0);
  assert_int_equal(imsec_out_keep(o, flow), 0);
  assert_int_equal(imsec_out_log(o, IMSEC_LOG_INFO, "hello ", "there", NULL),
                   0);
  assert_int_equal(imsec_out_log(o, IMSEC_LOG_DEBUG, "quiet", NULL), 0);
  assert_int_equal(imsec_out_connect(o, 7, &a, "pcscf.example"), 0);
  assert_int_equal(imsec_out_send(o, flow, "b", 1), 0);
  assert_int_equal(imsec_out_close(o, flow), 0);
}

static void test_action_order_and_closed_flows(void **state) {
  (void)state;
  fx *f = fx_new(0, "pcscf");
  f->e.fn = s_order;
  imsec_host_set_log_level(f->h, IMSEC_LOG_INFO);
  imsec_host_start(f->h);
  imsec_host_start(f->h); /* once */
  up(f, 1, 0);
  msg(f, 1, "go");
  assert_string_equal(calls(&f->port, 0),
                      "START|UP 1 0|MSG 1 go|send 1 a|keep 1|"
                      "log2 pcscf: hello there|connect 7 10.0.0.9 "
                      "pcscf.example|send 1 b|close 1");
  port_clear(&f->port);
  /* The element closed flow 1: nothing more of it reaches the element. */
  msg(f, 1, "late");
  imsec_host_refused(f->h, 1, IMSEC_ERR_PARSE, (const uint8_t *)"x", 1);
  imsec_host_flow_down(f->h, 1, 0, 0);
  assert_string_equal(calls(&f->port, 0), "");
  /* Another flow's down is delivered; a failed connect too (flow 0). */
  up(f, 2, 7);
  imsec_host_flow_down(f->h, 2, 7, IMSEC_ERR_IO);
  imsec_host_flow_down(f->h, 0, 9, IMSEC_ERR_IO);
  assert_string_equal(calls(&f->port, 0), "UP 2 7|DOWN 2 7 -12|DOWN 0 9 -12");
  port_clear(&f->port);
  /* A refusal: the answer, then the host closes the flow. */
  up(f, 3, 0);
  imsec_host_refused(f->h, 3, IMSEC_ERR_LIMIT, (const uint8_t *)"x", 1);
  assert_string_equal(calls(&f->port, 0), "UP 3 0|send 3 513|close 3");
  port_clear(&f->port);
  /* A flow refused at flow-up: the verdict goes to the port. */
  f->e.refuse_up = 1;
  imsec_flow_info info;
  memset(&info, 0, sizeof info);
  assert_int_equal(imsec_host_flow_up(f->h, 4, 0, &info, NULL, 0),
                   IMSEC_ERR_TRUST);
  f->e.refuse_up = 0;
  /* done() is the element's. */
  assert_int_equal(imsec_host_done(f->h), 0);
  f->e.done = 1;
  assert_int_equal(imsec_host_done(f->h), 1);
  assert_ptr_equal(imsec_host_self(f->h), &f->e);
  fx_del(f);
}

/* ------------------------------------------------------------ timers */

typedef struct tcmd {
  uint64_t id;
  imsec_time_ms at;
} tcmd;

static void c_timer(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  const tcmd *t = arg;
  assert_int_equal(imsec_out_timer(out, t->id, t->at), 0);
}

static void set_timer(fx *f, uint64_t id, imsec_time_ms at) {
  tcmd t = {id, at};
  imsec_host_call(f->h, c_timer, &t);
}

static void fire(fx *f, imsec_time_ms now) {
  f->port.now = now;
  imsec_host_expire(f->h);
}

static size_t count(port_rec *p, const char *prefix) {
  size_t n = 0;
  for (size_t i = 0; i < p->n; i++)
    n += strncmp(p->ev[i], prefix, strlen(prefix)) == 0;
  return n;
}

static void test_timers(void **state) {
  (void)state;
  fx *f = fx_new(0, NULL);
  set_timer(f, 1, 1100);
  assert_string_equal(last_arm(&f->port), "arm 1100");
  set_timer(f, 2, 1050);
  assert_string_equal(last_arm(&f->port), "arm 1050");
  assert_int_equal(imsec_host_next_deadline(f->h), 1050);
  /* Cancel 2: the earliest is 1 again. */
  set_timer(f, 2, 0);
  assert_string_equal(last_arm(&f->port), "arm 1100");
  /* Re-arm 1 later: the old deadline is stale. */
  set_timer(f, 1, 1200);
  assert_string_equal(last_arm(&f->port), "arm 1200");
  size_t arms = count(&f->port, "arm ");
  set_timer(f, 1, 1200); /* same deadline: no new arming */
  assert_int_equal(count(&f->port, "arm "), arms);
  fire(f, 1100); /* early: nothing fires */
  assert_int_equal(count(&f->port, "TIMER"), 0);
  fire(f, 1200);
  assert_int_equal(count(&f->port, "TIMER"), 1);
  assert_int_equal(count(&f->port, "TIMER 1 @1200"), 1);
  /* The port's arming is spent: nothing to disarm. */
  assert_string_equal(last_arm(&f->port), "arm 1200");
  assert_int_equal(imsec_host_next_deadline(f->h), 0);
  fire(f, 5000);
  assert_int_equal(count(&f->port, "TIMER"), 1);
  /* The element's own deadline: get_expiry then handle_expiry. */
  f->e.expiry = 6000;
  set_timer(f, 3, 7000);
  assert_string_equal(last_arm(&f->port), "arm 6000");
  fire(f, 6000);
  assert_int_equal(f->e.expiries, 1);
  assert_string_equal(last_arm(&f->port), "arm 7000");
  fire(f, 7000);
  assert_int_equal(count(&f->port, "TIMER 3 @7000"), 1);
  port_clear(&f->port);
  /* Many ids, re-armed many times: each fires once, at its latest time,
   * in time order; the heap's stale entries do not pile up. */
  for (int round = 0; round < 20; round++)
    for (uint64_t id = 100; id < 600; id++)
      set_timer(f, id,
                10000 +
                    (imsec_time_ms)((id * 7919 + (uint64_t)round * 31) % 5000));
  for (uint64_t id = 100; id < 600; id += 5)
    set_timer(f, id, 0); /* cancel a fifth */
  port_clear(&f->port);
  fire(f, 20000);
  assert_int_equal(count(&f->port, "TIMER"), 400);
  imsec_time_ms prev = 0;
  for (size_t i = 0; i < f->port.n; i++) {
    unsigned long long id;
    if (sscanf(f->port.ev[i], "TIMER %llu", &id) != 1)
      continue;
    assert_true(id % 5 != 0);
    imsec_time_ms want = 10000 + (imsec_time_ms)((id * 7919 + 19 * 31) % 5000);
    assert_true(want >= prev);
    prev = want;
  }
  assert_int_equal(imsec_host_next_deadline(f->h), 0);
  fx_del(f);
}

/* A timer handler re-arming itself: fires again at the new time only. */
static void s_rearm(el *e, const char *what, uint64_t id, imsec_out *o) {
  (void)e;
  if (strcmp(what, "timer") == 0 && id == 1)
    assert_int_equal(imsec_out_timer(o, 1, 3000), 0);
}

static void test_timer_rearm_in_handler(void **state) {
  (void)state;
  fx *f = fx_new(0, NULL);
  f->e.fn = s_rearm;
  set_timer(f, 1, 2000);
  fire(f, 2000);
  assert_string_equal(last_arm(&f->port), "arm 3000");
  fire(f, 2500);
  assert_int_equal(count(&f->port, "TIMER"), 1);
  fx_del(f);
}

/* ------------------------------------------------------------ PERSIST */

static void s_persist(el *e, const char *what, uint64_t flow, imsec_out *o) {
  (void)e;
  if (strcmp(what, "save") == 0) {
    assert_int_equal(imsec_out_send(o, flow, "before", 6), 0);
    persist(o, 11);
    assert_int_equal(imsec_out_send(o, flow, "200", 3), 0);
    assert_int_equal(imsec_out_log(o, IMSEC_LOG_INFO, "saved", NULL), 0);
    assert_int_equal(imsec_out_timer(o, 5, 9000), 0);
  } else if (strcmp(what, "next") == 0) {
    assert_int_equal(imsec_out_send(o, flow, "next", 4), 0);
  } else if (strcmp(what, "reply") == 0) {
    assert_int_equal(imsec_out_send(o, 1, e->last_status ? "500" : "ack", 3),
                     0);
  }
}

static void test_persist_release(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_persist;
  up(f, 1, 0);
  port_clear(&f->port);
  msg(f, 1, "save");
  msg(f, 1, "next");
  /* Nothing after the PERSIST left; the timer is held too. */
  assert_string_equal(calls(&f->port, 0), "MSG 1 save|send 1 before|"
                                          "MSG 1 next");
  assert_int_equal(imsec_host_held(f->h), 4);
  assert_int_equal(imsec_host_pending(f->h), 1);
  assert_int_equal(imsec_host_next_deadline(f->h), 0);
  port_clear(&f->port);
  fs_answer_one(&f->svc, 0);
  assert_true(atomic_load(&f->port.wakes) >= 1);
  assert_int_equal(f->e.replies, 0); /* not before poll */
  imsec_host_poll(f->h);
  assert_string_equal(calls(&f->port, 0),
                      "send 1 200|log2 saved|send 1 next|REPLY 11 0|"
                      "send 1 ack");
  assert_int_equal(imsec_host_held(f->h), 0);
  assert_int_equal(imsec_host_pending(f->h), 0);
  assert_int_equal(imsec_host_next_deadline(f->h), 9000);
  fx_del(f);
}

static void test_persist_failure(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_persist;
  up(f, 1, 0);
  msg(f, 1, "save");
  msg(f, 1, "next");
  port_clear(&f->port);
  fs_answer_one(&f->svc, IMSEC_ERR_IO);
  imsec_host_poll(f->h);
  /* The 200 and the timer of the failed event are dropped, its log line
   * stays; on_reply hears first, then the later event's actions go. */
  assert_string_equal(calls(&f->port, 0),
                      "log2 saved|REPLY 11 -12|send 1 500|send 1 next");
  assert_int_equal(imsec_host_held(f->h), 0);
  assert_int_equal(imsec_host_next_deadline(f->h), 0);
  fx_del(f);
}

/* Two PERSISTs from two events: both go to the store at once (the store
 * may commit them together), and what follows each leaves only once it
 * and every write ahead of it are durable. */
static void test_persist_chain(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_persist;
  up(f, 1, 0);
  msg(f, 1, "save");
  msg(f, 1, "save");
  assert_int_equal(f->svc.submitted, 2);
  /* The second event's "before" waits behind the first write. */
  assert_int_equal(imsec_host_held(f->h), 7);
  port_clear(&f->port);
  fs_answer_one(&f->svc, 0);
  imsec_host_poll(f->h);
  /* The first event's 200, log and timer, the second's "before", then
   * the first reply's ack, held behind the second write. */
  assert_string_equal(calls(&f->port, 0),
                      "send 1 200|log2 saved|send 1 before|REPLY 11 0");
  assert_int_equal(imsec_host_held(f->h), 4);
  port_clear(&f->port);
  fs_answer_one(&f->svc, 0);
  imsec_host_poll(f->h);
  assert_string_equal(calls(&f->port, 0), "send 1 200|log2 saved|send 1 ack|"
                                          "REPLY 11 0|send 1 ack");
  fx_del(f);
}

/* The second write durable first: nothing of its event leaves before the
 * first is durable too; a failed first write drops only its own event. */
static void test_persist_out_of_order(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_persist;
  up(f, 1, 0);
  msg(f, 1, "save");
  msg(f, 1, "save");
  assert_int_equal(f->svc.submitted, 2);
  port_clear(&f->port);
  fs_answer_last(&f->svc, 0);
  imsec_host_poll(f->h);
  /* on_reply of the second; its ack waits with everything else. */
  assert_string_equal(calls(&f->port, 0), "REPLY 11 0");
  port_clear(&f->port);
  fs_answer_one(&f->svc, IMSEC_ERR_IO);
  imsec_host_poll(f->h);
  assert_string_equal(calls(&f->port, 0),
                      "log2 saved|REPLY 11 -12|send 1 500|send 1 before|"
                      "send 1 200|log2 saved|send 1 ack");
  assert_int_equal(imsec_host_held(f->h), 0);
  fx_del(f);
}

/* A store that answers inside submit: the reply comes right after the
 * walk, never from inside the element's call. */
static void test_persist_inline(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->svc.inline_answer = 1;
  f->e.fn = s_persist;
  up(f, 1, 0);
  port_clear(&f->port);
  msg(f, 1, "save");
  assert_string_equal(calls(&f->port, 0), "MSG 1 save|send 1 before|"
                                          "send 1 200|log2 saved|REPLY 11 0|"
                                          "send 1 ack");
  assert_int_equal(imsec_host_pending(f->h), 0);
  fx_del(f);
}

/* The bound on held actions: beyond it the host drops and closes. */
static void s_flood(el *e, const char *what, uint64_t flow, imsec_out *o) {
  (void)e;
  if (strcmp(what, "save") == 0) {
    persist(o, 1);
  } else if (strcmp(what, "flood") == 0) {
    for (int i = 0; i < 5000; i++)
      assert_int_equal(imsec_out_send(o, flow, "x", 1), 0);
  }
}

static void test_held_bound(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_flood;
  up(f, 1, 0);
  up(f, 2, 0);
  msg(f, 1, "save");
  msg(f, 2, "flood");
  assert_true(imsec_host_held(f->h) <= 4096);
  assert_true(count(&f->port, "close 2") >= 1);
  assert_true(count(&f->port, "log0 host: too many actions") >= 1);
  fs_answer_one(&f->svc, 0);
  imsec_host_poll(f->h);
  assert_int_equal(imsec_host_held(f->h), 0);
  fx_del(f);
}

/* ------------------------------------------------------------ REQUEST */

static void s_request(el *e, const char *what, uint64_t flow, imsec_out *o) {
  (void)e;
  if (strcmp(what, "ask") == 0) {
    request(o, IMSEC_SVC_HSS_VECTOR, 42);
    assert_int_equal(imsec_out_send(o, flow, "after", 5), 0);
  } else if (strcmp(what, "load") == 0) {
    request(o, IMSEC_SVC_REG_LOAD, 77);
  }
}

static void test_request_inline(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->svc.inline_answer = 1;
  f->e.fn = s_request;
  up(f, 1, 0);
  port_clear(&f->port);
  msg(f, 1, "ask");
  /* A REQUEST holds nothing: "after" leaves, then the reply. */
  assert_string_equal(calls(&f->port, 0), "MSG 1 ask|send 1 after|REPLY 42 0");
  assert_int_equal(f->e.ck0, 0x5a);
  assert_int_equal(imsec_host_pending(f->h), 0);
  /* Without a service: IMSEC_ERR_UNSUPPORTED. */
  fx *g = fx_new(0, NULL);
  g->e.fn = s_request;
  up(g, 1, 0);
  msg(g, 1, "ask");
  assert_int_equal(g->e.replies, 1);
  assert_int_equal(g->e.last_status, IMSEC_ERR_UNSUPPORTED);
  fx_del(g);
  /* A service that does not take the request: its status. */
  f->svc.refuse = IMSEC_ERR_CLOSED;
  msg(f, 1, "ask");
  assert_int_equal(f->e.last_status, IMSEC_ERR_CLOSED);
  assert_int_equal(imsec_host_pending(f->h), 0);
  fx_del(f);
}

static void *answer_thread(void *arg) {
  fx *f = arg;
  fs_answer_one(&f->svc, 0);
  return NULL;
}

static void test_request_later_and_thread(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_request;
  up(f, 1, 0);
  msg(f, 1, "ask");
  msg(f, 1, "ask");
  assert_int_equal(imsec_host_pending(f->h), 2);
  assert_int_equal(f->e.replies, 0);
  fs_answer_one(&f->svc, 0); /* on this thread, later */
  int w = atomic_load(&f->port.wakes);
  assert_true(w >= 1);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, answer_thread, f), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_true(atomic_load(&f->port.wakes) > w);
  imsec_host_poll(f->h);
  assert_int_equal(f->e.replies, 2);
  assert_int_equal(imsec_host_pending(f->h), 0);
  fx_del(f);
}

static void test_reg_load_replies(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_request;
  f->svc.records = 3;
  up(f, 1, 0);
  msg(f, 1, "load");
  assert_int_equal(imsec_host_pending(f->h), 1);
  fs_answer_one(&f->svc, 0);
  imsec_host_poll(f->h);
  assert_int_equal(f->e.replies, 4);
  assert_int_equal(count(&f->port, "REPLY 77 0"), 4);
  assert_int_equal(f->e.last_last, 1);
  assert_string_equal(f->e.last_impi, "u2@x");
  assert_int_equal(imsec_host_pending(f->h), 0);
  fx_del(f);
}

/* Requests still at the service when the host goes: their answers land in
 * nothing. */
static void test_del_with_pending(void **state) {
  (void)state;
  fx *f = fx_new(1, NULL);
  f->e.fn = s_request;
  up(f, 1, 0);
  msg(f, 1, "ask");
  imsec_host_del(f->h);
  f->h = NULL;
  int w = atomic_load(&f->port.wakes);
  fs_answer_one(&f->svc, 0);
  assert_int_equal(atomic_load(&f->port.wakes), w);
  assert_int_equal(f->e.replies, 0);
  fx_del(f);
}

/* ------------------------------------------------------------ PSK */

static void c_psk(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)arg;
  const uint8_t key[32] = {0xab, 0xcd, 3};
  assert_int_equal(imsec_out_psk(out, "ue1@ims.test", key, 32, now + 4000), 0);
  assert_int_equal(imsec_out_psk(out, "ue2@ims.test", NULL, 0, 0), 0);
}

/* The PSK action reaches the port with its identity, key and expiry, in
 * order; a port without the op gets a WARN line instead, per action. */
static void test_psk_action(void **state) {
  (void)state;
  g_port_psk = 1;
  fx *f = fx_new(0, "pcscf");
  g_port_psk = 0;
  imsec_host_call(f->h, c_psk, NULL);
  assert_string_equal(calls(&f->port, 0),
                      "psk ue1@ims.test 32 abcd 5000|psk ue2@ims.test 0 - 0");
  fx_del(f);
  f = fx_new(0, "pcscf");
  imsec_host_call(f->h, c_psk, NULL);
  assert_int_equal(count(&f->port, "psk "), 0);
  assert_int_equal(count(&f->port, "log1 "), 2);
  assert_non_null(strstr(calls(&f->port, 0), "takes no PSKs"));
  assert_null(strstr(calls(&f->port, 0), "ue1@ims.test"));
  fx_del(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_action_order_and_closed_flows),
      cmocka_unit_test(test_timers),
      cmocka_unit_test(test_timer_rearm_in_handler),
      cmocka_unit_test(test_persist_release),
      cmocka_unit_test(test_persist_failure),
      cmocka_unit_test(test_persist_chain),
      cmocka_unit_test(test_persist_out_of_order),
      cmocka_unit_test(test_persist_inline),
      cmocka_unit_test(test_held_bound),
      cmocka_unit_test(test_request_inline),
      cmocka_unit_test(test_request_later_and_thread),
      cmocka_unit_test(test_reg_load_replies),
      cmocka_unit_test(test_del_with_pending),
      cmocka_unit_test(test_psk_action),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
