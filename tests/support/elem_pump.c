/* The test host's service pump (elem_pump.h). */
#include "elem_pump.h"

#include <stdlib.h>
#include <string.h>

typedef struct pump_call {
  elem_pump *p;
  imsec_out *out;
  imsec_time_ms now;
  int status; /* the last reply's */
  int hold;
} pump_call;

static void held_free(elem_pump_held *h) {
  imsec_aka_vector_wipe(&h->rep.vec);
  imsec_hss_sub_wipe(&h->rep.sub);
  imsec_reg_record_free(&h->reg);
}

static void deliver(elem_pump *p, const imsec_svc_reply *rep, imsec_out *out,
                    imsec_time_ms now) {
  if (p->ops->on_reply)
    p->ops->on_reply(p->self, rep, now, out);
}

static void on_done(void *arg, const imsec_svc_req *req,
                    const imsec_svc_reply *rep) {
  (void)req;
  pump_call *c = arg;
  c->status = rep->status;
  if (!c->hold) {
    deliver(c->p, rep, c->out, c->now);
    return;
  }
  elem_pump *p = c->p;
  if (p->nheld == p->capheld) {
    size_t cap = p->capheld ? p->capheld * 2 : 8;
    elem_pump_held *n = realloc(p->held, cap * sizeof(*n));
    if (!n)
      abort();
    p->held = n;
    p->capheld = cap;
  }
  elem_pump_held *h = &p->held[p->nheld++];
  memset(h, 0, sizeof(*h));
  h->rep = *rep;
  h->rep.reg = NULL;
  if (rep->reg) {
    if (imsec_reg_record_copy(&h->reg, rep->reg) != 0)
      abort();
    h->rep.reg = &h->reg;
  }
}

void elem_pump_init(elem_pump *p, const imsec_elem_ops *ops, void *self,
                    imsec_svc *svc) {
  memset(p, 0, sizeof(*p));
  p->ops = ops;
  p->self = self;
  p->svc = svc;
}

void elem_pump_forget(elem_pump *p) {
  for (size_t i = 0; i < p->nheld; i++)
    held_free(&p->held[i]);
  p->nheld = 0;
}

void elem_pump_free(elem_pump *p) {
  elem_pump_forget(p);
  free(p->held);
  p->held = NULL;
  p->capheld = 0;
}

static void req_free(imsec_svc_req *r) {
  imsec_reg_record_free(&r->reg);
  imsec_wipe(r, sizeof(*r));
  free(r);
}

void elem_pump_run(elem_pump *p, imsec_out *out, size_t from,
                   imsec_time_ms now) {
  /* Where the call that appended each action ended: a failed PERSIST
   * drops what its own call appended after it. */
  size_t *ends = NULL, nends = 0, capends = 0;
#define PUSH_END(v)                                                            \
  do {                                                                         \
    if (nends == capends) {                                                    \
      capends = capends ? capends * 2 : 16;                                    \
      ends = realloc(ends, capends * sizeof(*ends));                           \
      if (!ends)                                                               \
        abort();                                                               \
    }                                                                          \
    ends[nends++] = (v);                                                       \
  } while (0)
  PUSH_END(out->n);
  size_t seg = 0;
  for (size_t i = from; i < out->n; i++) {
    while (seg < nends && i >= ends[seg])
      seg++;
    imsec_act *a = &out->acts[i];
    if ((a->kind != IMSEC_ACT_REQUEST && a->kind != IMSEC_ACT_PERSIST) ||
        !a->svc)
      continue;
    int persist = a->kind == IMSEC_ACT_PERSIST;
    imsec_svc_req *req = a->svc;
    a->svc = NULL;
    if ((size_t)req->kind < 16)
      p->n_req[req->kind]++;
    pump_call c = {p, out, now, 0, 0};
    if (!persist && p->mode == ELEM_PUMP_DROP) {
      req_free(req);
      continue;
    }
    c.hold = !persist && p->mode == ELEM_PUMP_HOLD;
    if (persist && p->persist_fail > 0) {
      p->persist_fail--;
      imsec_svc_reply rep;
      memset(&rep, 0, sizeof(rep));
      rep.kind = req->kind;
      rep.id = req->id;
      rep.status = IMSEC_ERR_IO;
      rep.last = 1;
      req_free(req);
      c.status = rep.status;
      deliver(p, &rep, out, now);
    } else {
      if (imsec_svc_submit(p->svc, req, on_done, &c) != 0)
        abort();
      free(req); /* the service freed what it owned */
    }
    size_t end = seg < nends ? ends[seg] : out->n;
    if (persist && c.status != 0) {
      /* The held actions of the same call never leave. */
      for (size_t j = i + 1; j < end; j++)
        out->acts[j].kind = 0;
    }
    PUSH_END(out->n);
  }
  free(ends);
#undef PUSH_END
}

int elem_pump_release(elem_pump *p, size_t i, imsec_out *out,
                      imsec_time_ms now) {
  if (i >= p->nheld)
    return -1;
  elem_pump_held h = p->held[i];
  memmove(&p->held[i], &p->held[i + 1], (p->nheld - i - 1) * sizeof(*p->held));
  p->nheld--;
  if (h.rep.reg)
    h.rep.reg = &h.reg;
  size_t from = out->n;
  deliver(p, &h.rep, out, now);
  held_free(&h);
  elem_pump_run(p, out, from, now);
  return 0;
}
