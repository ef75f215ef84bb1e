/*
 * The host core (include/imsec/host.h): runs one sans-I/O element for a
 * port. Everything here happens on the element's thread except the
 * service's `done` callback (svc_done below), which may come from any
 * thread and only touches the mutex-protected inbox.
 *
 * The walk. Every event call appends actions to h->out; the host then
 * moves them, in order, into one stream (dispatch): when no PERSIST is
 * outstanding and nothing is held, an action is carried out at once;
 * otherwise it joins the held queue behind the PERSIST (include/imsec/
 * elem.h, DESIGN.md §2 durability: a SEND queued after a PERSIST never
 * leaves before the write is durable). Each PERSIST leaves a marker in
 * the held queue where it stands; held actions go out in order up to the
 * first marker whose write is not yet answered. A PERSIST or REQUEST of
 * a later event goes to the store at once (its marker joins the queue's
 * tail), so the store has every durable write of the moment in hand and
 * can commit them together, while nothing that follows any of them
 * leaves before all the writes ahead of it are durable. A PERSIST or
 * REQUEST queued after a PERSIST of its own event still waits for it (a
 * failed write drops the rest of its event).
 *
 * Replies. The service answers through svc_done, inside submit or later
 * on a worker thread; the answer is copied into the inbox (a mutex and a
 * FIFO), the port is woken, and drain() hands replies to on_reply one at
 * a time on the element's thread. drain() runs at the end of every event
 * call too, so an answer given inside submit reaches the element right
 * after the walk that asked, without the element being re-entered from
 * inside one of its own calls. The inbox outlives the host while
 * requests are still at the service (a reference per request), so a late
 * answer after imsec_host_del lands in nothing.
 *
 * Timers. One binary heap of (at, id, generation). The table `timers`
 * maps a live id to its generation; a newer TIMER of that id or a cancel
 * (at 0) changes or removes it, which makes every older heap entry stale:
 * stale entries are skipped when they reach the top, and the heap is
 * rebuilt from the table when stale entries outnumber live ones, so an
 * element re-arming one timer per message keeps it bounded. After every
 * call the earliest live deadline is combined with ops->get_expiry and
 * the port is re-armed when that changed.
 *
 * Log lines handed to port->log are "NAME: text" when the config names
 * the host, else the element's text as it is (a port that attributes
 * lines itself, like the sim, passes no name). A port with log_event
 * gets events instead: the text alone, the name apart, and the flow and
 * Call-ID of the event the line was written in (the host sets them in
 * the action queue around each event from a flow: the Call-ID found by
 * a cheap look at the message's header lines, host/host_obs.c).
 *
 * Operators' counters (imsec_host_metrics): SIP messages in and out by
 * method and status class, store requests by kind with the time to
 * their answer (the port's clock), requests in flight.
 *
 * Bounds: at most HELD_MAX actions or HELD_BYTES octets wait behind a
 * PERSIST; beyond that the host logs an error, drops the action and
 * closes the flows concerned (a store that stopped answering must not
 * turn into unbounded memory).
 */
#include "imsec/host.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/host_obs.h"
#include "imsec/map.h"

#define HELD_MAX 4096u
#define HELD_BYTES (16u * 1024u * 1024u)
#define MAX_CHAIN 8
#define LOG_LINE_MAX 2048

/* ------------------------------------------------------------- the inbox */

typedef struct reply_ent {
  struct reply_ent *next;
  uint64_t token;   /* the submission (sub.token) */
  int persist;      /* the answer to a PERSIST */
  uint64_t ptok;    /* its marker in the held queue */
  int final;        /* no more replies for this submission */
  imsec_time_ms t0; /* when the request went to the store */
  imsec_svc_reply rep;
  imsec_reg_record reg; /* REG_LOAD: owned copy; rep.reg points here */
  int has_reg;
} reply_ent;

typedef struct inbox {
  pthread_mutex_t mu;
  reply_ent *head, *tail;
  size_t refs;   /* the host, plus one per submission still at the service */
  int dead;      /* the host is gone: answers land in nothing */
  int in_submit; /* the element thread is inside submit: no wake needed */
  imsec_host_port port; /* for wake (copied) */
} inbox;

typedef struct sub {
  inbox *ib;
  uint64_t token;
  int persist;
  uint64_t ptok;
  imsec_svc_kind kind;
  imsec_time_ms t0;
} sub;

static void reply_ent_free(reply_ent *e) {
  if (e->has_reg)
    imsec_reg_record_free(&e->reg);
  /* An HSS vector is secret (TS 33.102 §6.3.2): wiped with its entry. */
  imsec_wipe(e, sizeof(*e));
  free(e);
}

static void inbox_unref(inbox *ib) {
  pthread_mutex_lock(&ib->mu);
  size_t left = --ib->refs;
  pthread_mutex_unlock(&ib->mu);
  if (left)
    return;
  reply_ent *e = ib->head;
  while (e) {
    reply_ent *next = e->next;
    reply_ent_free(e);
    e = next;
  }
  pthread_mutex_destroy(&ib->mu);
  free(ib);
}

static void inbox_push(inbox *ib, reply_ent *e) {
  int wake = 0;
  pthread_mutex_lock(&ib->mu);
  if (ib->dead) {
    pthread_mutex_unlock(&ib->mu);
    reply_ent_free(e);
    return;
  }
  if (ib->tail)
    ib->tail->next = e;
  else
    ib->head = e;
  ib->tail = e;
  wake = !ib->in_submit && ib->port.wake;
  /* Under the lock: imsec_host_del marks the inbox dead under it too, so
   * the port is never woken after the host (and maybe the port) is gone. */
  if (wake)
    ib->port.wake(ib->port.ctx);
  pthread_mutex_unlock(&ib->mu);
}

static reply_ent *inbox_pop(inbox *ib) {
  pthread_mutex_lock(&ib->mu);
  reply_ent *e = ib->head;
  if (e) {
    ib->head = e->next;
    if (!ib->head)
      ib->tail = NULL;
    e->next = NULL;
  }
  pthread_mutex_unlock(&ib->mu);
  return e;
}

/* The service's done: any thread. */
static void svc_done(void *arg, const imsec_svc_req *req,
                     const imsec_svc_reply *rep) {
  sub *s = arg;
  /* REG_LOAD answers once per record and ends with last 1 (also after an
   * error); every other kind answers once. */
  int final = s->kind != IMSEC_SVC_REG_LOAD || rep->last;
  reply_ent *e = calloc(1, sizeof(*e));
  if (e) {
    e->token = s->token;
    e->persist = s->persist;
    e->ptok = s->ptok;
    e->final = final;
    e->t0 = s->t0;
    e->rep = *rep;
    e->rep.kind = req ? req->kind : s->kind;
    if (req)
      e->rep.id = req->id;
    e->rep.reg = NULL;
    if (rep->reg) {
      if (imsec_reg_record_copy(&e->reg, rep->reg) == 0) {
        e->has_reg = 1;
        e->rep.reg = &e->reg;
      } else if (e->rep.status == 0) {
        e->rep.status = IMSEC_ERR_NOMEM;
      }
    }
    inbox_push(s->ib, e);
  }
  /* Without memory for the entry the answer is lost; the element's
   * request stays pending (visible in imsec_host_pending). */
  if (final) {
    inbox_unref(s->ib);
    free(s);
  }
}

/* ------------------------------------------------------------- the host */

typedef struct flow_rec {
  uint64_t tag;
  int closed; /* the element closed it: no more events for it */
} flow_rec;

typedef struct held_act {
  imsec_act act;
  uint64_t ev;   /* the event that appended it */
  uint64_t flow; /* the flow that event concerned (0: none) */
  uint64_t ptok; /* non-zero: the marker of a PERSIST at the store (act
                    empty) */
  int done;      /* the marker's write is durable */
} held_act;

typedef struct tnode {
  imsec_time_ms at;
  uint64_t id, gen;
} tnode;

struct imsec_host {
  imsec_host_config cfg;
  char *name;
  imsec_host_port port;
  imsec_out out;
  inbox *ib;

  imsec_map flows; /* flow id -> flow_rec */
  imsec_map tags;  /* CONNECT tag -> connects still under way (count) */

  /* Timers: the heap and id -> generation (as a pointer-sized value). */
  tnode *heap;
  size_t nheap, capheap;
  imsec_map timers;
  uint64_t tgen;
  imsec_time_ms armed, deadline;

  /* Service requests. */
  uint64_t next_token;
  size_t pending;
  size_t persist_out; /* PERSISTs at the store (markers not answered) */
  uint64_t next_ptok;
  uint64_t drop_ev; /* a PERSIST of this event could not be marked */
  int pumping;      /* inside pump(): a marker goes to the queue's head */

  /* Actions held behind the PERSIST: a ring-less FIFO (head index). */
  held_act *held;
  size_t hhead, hn, hcap, hbytes;

  host_obs obs; /* for operators (host/host_obs.h) */

  uint64_t ev;  /* the current event's sequence number */
  int draining; /* inside drain(): no nested drain */
  int started;

  /* The last chain checked and its facts (make_facts): a client meets
   * the same server chain on every connection (a load generator's
   * thousands of UEs, one P-CSCF), and parsing and verifying it again
   * was most of a new connection's CPU on that side. Valid for the same
   * anchors and for one second (the facts depend on the time). */
  uint8_t *memo_der; /* the chain: each certificate's length, then it */
  size_t memo_len;
  imsec_trust_cert *memo;
  const imsec_x509_anchors *memo_anchors;
  int64_t memo_t, memo_at;
};

static void memo_clear(imsec_host *h);

/* ------------------------------------------------------------- logging */

/* A line with the flow and Call-ID it concerns (0 / NULL: none), as an
 * event to a port that takes them, else as text. */
static void hlog_ev(imsec_host *h, imsec_log_level lv, const char *text,
                    uint64_t flow, const char *call_id) {
  if (lv > h->cfg.log_level)
    return;
  if (h->port.log_event) {
    imsec_log_event ev = {.elem = h->name ? h->name : "",
                          .level = lv,
                          .text = text,
                          .flow = flow,
                          .call_id = call_id};
    h->port.log_event(h->port.ctx, &ev);
    return;
  }
  if (!h->port.log)
    return;
  if (!h->name || !h->name[0]) {
    h->port.log(h->port.ctx, lv, text);
    return;
  }
  char line[LOG_LINE_MAX];
  size_t nl = strlen(h->name), tl = strlen(text);
  if (nl + 2 + tl + 1 > sizeof(line)) {
    if (nl + 3 > sizeof(line))
      nl = sizeof(line) - 3;
    tl = sizeof(line) - 3 - nl;
  }
  memcpy(line, h->name, nl);
  line[nl] = ':';
  line[nl + 1] = ' ';
  memcpy(line + nl + 2, text, tl);
  line[nl + 2 + tl] = 0;
  h->port.log(h->port.ctx, lv, line);
}

static void hlog(imsec_host *h, imsec_log_level lv, const char *text) {
  hlog_ev(h, lv, text, 0, NULL);
}

/* "what flow N: reason" without stdio in the hot path. */
static void hlog_flow(imsec_host *h, imsec_log_level lv, const char *what,
                      uint64_t flow, int err) {
  char buf[256];
  char num[24];
  uint64_t fl = flow;
  size_t k = sizeof(num);
  num[--k] = 0;
  do {
    num[--k] = (char)('0' + flow % 10);
    flow /= 10;
  } while (flow && k);
  const char *es = err ? imsec_strerror(err) : "";
  size_t n = 0;
  const char *parts[] = {what, " flow ", num + k, err ? ": " : "", es};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    size_t l = strlen(parts[i]);
    if (n + l >= sizeof(buf))
      l = sizeof(buf) - 1 - n;
    memcpy(buf + n, parts[i], l);
    n += l;
  }
  buf[n] = 0;
  hlog_ev(h, lv, buf, fl, NULL);
}

/* ------------------------------------------------------------- actions */

static void act_free(imsec_act *a) {
  /* Reuse the action queue's own release (wipes SEND data, PSKs). */
  imsec_out tmp;
  imsec_out_init(&tmp, IMSEC_LOG_DEBUG);
  tmp.acts = a;
  tmp.n = 1;
  tmp.cap = 1;
  imsec_out_clear(&tmp);
  memset(a, 0, sizeof(*a));
}

static size_t act_bytes(const imsec_act *a) {
  return sizeof(*a) + a->len + (a->tls ? sizeof(*a->tls) : 0) +
         (a->svc ? sizeof(*a->svc) : 0);
}

static flow_rec *flow_get(const imsec_host *h, uint64_t flow) {
  return flow ? imsec_map_get(&h->flows, flow) : NULL;
}

static void flow_forget(imsec_host *h, uint64_t flow) {
  free(imsec_map_del(&h->flows, flow));
}

static void close_flow(imsec_host *h, uint64_t flow) {
  if (!flow)
    return;
  flow_rec *f = flow_get(h, flow);
  if (f && f->closed)
    return;
  if (!f) {
    f = calloc(1, sizeof(*f));
    if (f && imsec_map_put(&h->flows, flow, f, NULL) != 0) {
      free(f);
      f = NULL;
    }
  }
  if (f)
    f->closed = 1;
  if (h->port.close)
    h->port.close(h->port.ctx, flow);
}

/* ---- timers */

static int tless(const tnode *a, const tnode *b) {
  return a->at < b->at || (a->at == b->at && a->gen < b->gen);
}

static void heap_up(tnode *hp, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!tless(&hp[i], &hp[p]))
      break;
    tnode t = hp[i];
    hp[i] = hp[p];
    hp[p] = t;
    i = p;
  }
}

static void heap_down(tnode *hp, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && tless(&hp[l], &hp[m]))
      m = l;
    if (r < n && tless(&hp[r], &hp[m]))
      m = r;
    if (m == i)
      return;
    tnode t = hp[i];
    hp[i] = hp[m];
    hp[m] = t;
    i = m;
  }
}

static void heap_pop(imsec_host *h) {
  h->heap[0] = h->heap[--h->nheap];
  heap_down(h->heap, h->nheap, 0);
}

static int tnode_live(const imsec_host *h, const tnode *t) {
  /* Generations start at 1, so a stored value is never NULL. */
  void *v = imsec_map_get(&h->timers, t->id);
  return v && (uint64_t)(uintptr_t)v == t->gen;
}

/* Drop stale entries: from the top always, and all of them when they are
 * the majority. */
static void heap_trim(imsec_host *h) {
  if (h->nheap > 64 && h->nheap > 2 * imsec_map_len(&h->timers)) {
    size_t k = 0;
    for (size_t i = 0; i < h->nheap; i++)
      if (tnode_live(h, &h->heap[i]))
        h->heap[k++] = h->heap[i];
    h->nheap = k;
    for (size_t i = k / 2; i-- > 0;)
      heap_down(h->heap, h->nheap, i);
  }
  while (h->nheap && !tnode_live(h, &h->heap[0]))
    heap_pop(h);
}

static void timer_set(imsec_host *h, uint64_t id, imsec_time_ms at) {
  if (at == 0) {
    (void)imsec_map_del(&h->timers, id);
    return;
  }
  if (h->nheap == h->capheap) {
    size_t cap = h->capheap ? 2 * h->capheap : 16;
    tnode *hp = realloc(h->heap, cap * sizeof(*hp));
    if (!hp) {
      hlog(h, IMSEC_LOG_ERROR, "host: no memory for a timer; it will not fire");
      (void)imsec_map_del(&h->timers, id);
      return;
    }
    h->heap = hp;
    h->capheap = cap;
  }
  uint64_t gen = ++h->tgen;
  if (imsec_map_put(&h->timers, id, (void *)(uintptr_t)gen, NULL) != 0) {
    hlog(h, IMSEC_LOG_ERROR, "host: no memory for a timer; it will not fire");
    (void)imsec_map_del(&h->timers, id);
    return;
  }
  h->heap[h->nheap] = (tnode){.at = at, .id = id, .gen = gen};
  heap_up(h->heap, h->nheap);
  h->nheap++;
}

/* After every call: the earliest deadline to the port, when it changed. */
static void rearm(imsec_host *h) {
  heap_trim(h);
  imsec_time_ms at = h->nheap ? h->heap[0].at : 0;
  if (h->cfg.ops->get_expiry) {
    imsec_time_ms e = h->cfg.ops->get_expiry(h->cfg.self);
    if (e > 0 && (at == 0 || e < at))
      at = e;
  }
  h->deadline = at;
  if (at != h->armed) {
    h->armed = at;
    if (h->port.arm)
      h->port.arm(h->port.ctx, at);
  }
}

/* ---- carrying out */

static void submit(imsec_host *h, imsec_act *a);

/* Carry out one action now. Takes what the action owns. */
static void execute(imsec_host *h, imsec_act *a) {
  switch (a->kind) {
  case IMSEC_ACT_SEND: {
    hobs_peek pk;
    hobs_peek_msg(a->data, a->len, 0, &pk);
    hobs_count_sip(&h->obs, 1, &pk);
    if (h->port.trace)
      h->port.trace(h->port.ctx, 1, a->flow, a->data, a->len);
    int r = h->port.send ? h->port.send(h->port.ctx, a->flow, a->data, a->len)
                         : IMSEC_ERR_UNSUPPORTED;
    if (r < 0)
      hlog_flow(h, IMSEC_LOG_INFO, "host: send failed on", a->flow, r);
    break;
  }
  case IMSEC_ACT_CONNECT: {
    void *v = imsec_map_get(&h->tags, a->tag);
    uintptr_t n = (uintptr_t)v + 1;
    if (imsec_map_put(&h->tags, a->tag, (void *)n, NULL) != 0)
      hlog(h, IMSEC_LOG_WARN, "host: no memory for the tag table");
    if (h->port.connect)
      h->port.connect(h->port.ctx, a->tag, &a->addr,
                      a->server_name[0] ? a->server_name : NULL, a->tls);
    break;
  }
  case IMSEC_ACT_CLOSE:
    close_flow(h, a->flow);
    break;
  case IMSEC_ACT_KEEP:
    if (h->port.keep)
      h->port.keep(h->port.ctx, a->flow);
    break;
  case IMSEC_ACT_TIMER:
    timer_set(h, a->timer, a->at);
    break;
  case IMSEC_ACT_LOG:
    /* The Call-ID rides after the text (elem.h, ctx_len). */
    if (a->level <= h->cfg.log_level && a->data)
      hlog_ev(h, a->level, (const char *)a->data, a->flow,
              a->ctx_len ? (const char *)a->data + a->len + 1 : NULL);
    break;
  case IMSEC_ACT_REQUEST:
  case IMSEC_ACT_PERSIST:
    submit(h, a);
    break;
  case IMSEC_ACT_PSK:
    if (h->port.psk && a->tls)
      h->port.psk(h->port.ctx, a->tls->psk_identity, a->tls->psk,
                  a->tls->psk_len, a->at);
    else
      hlog(h, IMSEC_LOG_WARN, "host: this port takes no PSKs; dropped one");
    break;
  }
  act_free(a);
}

static void tag_done(imsec_host *h, uint64_t tag) {
  uintptr_t n = (uintptr_t)imsec_map_get(&h->tags, tag);
  if (n <= 1)
    (void)imsec_map_del(&h->tags, tag);
  else if (imsec_map_put(&h->tags, tag, (void *)(n - 1), NULL) != 0)
    (void)imsec_map_del(&h->tags, tag);
}

/* A reply made by the host itself (no service, or submit refused). */
static void self_reply(imsec_host *h, const imsec_svc_req *req, int persist,
                       uint64_t ptok, int status) {
  reply_ent *e = calloc(1, sizeof(*e));
  if (!e) {
    hlog(h, IMSEC_LOG_ERROR, "host: no memory to answer a service request");
    return;
  }
  h->pending++;
  e->token = 0;
  e->persist = persist;
  e->final = 1;
  e->rep.kind = req->kind;
  e->rep.id = req->id;
  e->rep.status = status;
  e->rep.last = 1;
  e->ptok = ptok;
  e->t0 = h->port.now(h->port.ctx);
  inbox_push(h->ib, e);
}

static int mark(imsec_host *h, uint64_t ptok);

static void submit(imsec_host *h, imsec_act *a) {
  int persist = a->kind == IMSEC_ACT_PERSIST;
  imsec_svc_req *req = a->svc;
  if (!req)
    return;
  uint64_t ptok = 0;
  if (persist) {
    /* What follows waits behind this marker until the write is durable. */
    ptok = ++h->next_ptok;
    if (mark(h, ptok) < 0) {
      hlog(h, IMSEC_LOG_ERROR,
           "host: too many actions wait for a durable write; a write and "
           "what its event queued after it dropped");
      h->drop_ev = h->ev;
      self_reply(h, req, persist, 0, IMSEC_ERR_LIMIT);
      return;
    }
    h->persist_out++;
  }
  if (!h->cfg.svc) {
    self_reply(h, req, persist, ptok, IMSEC_ERR_UNSUPPORTED);
    return;
  }
  sub *s = calloc(1, sizeof(*s));
  if (!s) {
    self_reply(h, req, persist, ptok, IMSEC_ERR_NOMEM);
    return;
  }
  s->ib = h->ib;
  s->token = ++h->next_token;
  s->persist = persist;
  s->ptok = ptok;
  s->kind = req->kind;
  s->t0 = h->port.now(h->port.ctx);
  imsec_svc_req keep = {.kind = req->kind, .id = req->id};
  pthread_mutex_lock(&h->ib->mu);
  h->ib->refs++;
  h->ib->in_submit = 1;
  pthread_mutex_unlock(&h->ib->mu);
  h->pending++;
  /* What the request owns (its record) is the service's from now on,
   * taken or not; the struct itself stays ours and goes after submit (a
   * service answering later copied what it needs). */
  a->svc = NULL;
  int r = h->cfg.svc->vt->submit(h->cfg.svc, req, svc_done, s);
  imsec_wipe(req, sizeof(*req));
  free(req);
  pthread_mutex_lock(&h->ib->mu);
  h->ib->in_submit = 0;
  pthread_mutex_unlock(&h->ib->mu);
  if (r < 0) {
    h->pending--;
    inbox_unref(h->ib);
    free(s);
    self_reply(h, &keep, persist, ptok, r);
  }
}

/* ---- holding */

static int hold(imsec_host *h, imsec_act *a, uint64_t flow) {
  size_t bytes = act_bytes(a);
  if (h->hn >= HELD_MAX || h->hbytes + bytes > HELD_BYTES)
    return IMSEC_ERR_LIMIT;
  if (h->hhead + h->hn == h->hcap) {
    if (h->hhead > 0) {
      memmove(h->held, h->held + h->hhead, h->hn * sizeof(*h->held));
      h->hhead = 0;
    }
    if (h->hn == h->hcap) {
      size_t cap = h->hcap ? 2 * h->hcap : 16;
      held_act *n = realloc(h->held, cap * sizeof(*n));
      if (!n)
        return IMSEC_ERR_NOMEM;
      h->held = n;
      h->hcap = cap;
    }
  }
  held_act *e = &h->held[h->hhead + h->hn++];
  e->act = *a;
  e->ev = h->ev;
  e->flow = flow;
  e->ptok = 0;
  e->done = 0;
  h->hbytes += bytes;
  memset(a, 0, sizeof(*a));
  return 0;
}

/* The marker of a PERSIST of the current event: at the tail, or at the
 * head when pump() releases that PERSIST (everything behind it in the
 * queue came later). */
static int mark(imsec_host *h, uint64_t ptok) {
  imsec_act none;
  memset(&none, 0, sizeof(none));
  IMSEC_GUARD(hold(h, &none, 0));
  held_act *e = &h->held[h->hhead + h->hn - 1];
  e->ptok = ptok;
  if (h->pumping && h->hn > 1) {
    held_act m = *e;
    if (h->hhead > 0) {
      h->hhead--;
    } else {
      memmove(h->held + 1, h->held, (h->hn - 1) * sizeof(*h->held));
    }
    h->held[h->hhead] = m;
  }
  return 0;
}

/* A marker of `ev` still waiting for its write. */
static int ev_marked(const imsec_host *h, uint64_t ev) {
  for (size_t i = 0; i < h->hn; i++) {
    const held_act *x = &h->held[h->hhead + i];
    if (x->ptok && !x->done && x->ev == ev)
      return 1;
  }
  return 0;
}

static held_act *held_front(imsec_host *h) {
  return h->hn ? &h->held[h->hhead] : NULL;
}

static void held_pop(imsec_host *h) {
  h->hbytes -= act_bytes(&h->held[h->hhead].act);
  h->hhead++;
  if (--h->hn == 0)
    h->hhead = 0;
}

/* Carry out held actions up to the first marker whose write is still at
 * the store. */
static void pump(imsec_host *h) {
  while (h->hn) {
    held_act *f = held_front(h);
    if (f->ptok) {
      if (!f->done)
        break;
      held_pop(h);
      continue;
    }
    held_act e = *f;
    held_pop(h);
    uint64_t saved = h->ev;
    h->ev = e.ev; /* a PERSIST released now belongs to its own event */
    /* Its marker goes to the head: everything still queued came later. */
    h->pumping = e.act.kind == IMSEC_ACT_PERSIST;
    execute(h, &e.act);
    h->pumping = 0;
    h->ev = saved;
  }
}

/* One action of the current event into the stream. */
static void dispatch(imsec_host *h, imsec_act *a, uint64_t flow) {
  if (h->drop_ev && h->drop_ev == h->ev && a->kind != IMSEC_ACT_LOG) {
    act_free(a); /* behind a write that could not be made */
    return;
  }
  /* Markers stay queued while their writes are out: an empty queue means
   * nothing to wait for. A store request of an event with no write of
   * its own pending goes at once (see the top of the file). */
  if (h->hn == 0 ||
      ((a->kind == IMSEC_ACT_PERSIST || a->kind == IMSEC_ACT_REQUEST) &&
       !ev_marked(h, h->ev))) {
    execute(h, a);
    return;
  }
  int r = hold(h, a, flow);
  if (r == 0)
    return;
  hlog(h, IMSEC_LOG_ERROR,
       r == IMSEC_ERR_LIMIT
           ? "host: too many actions wait for a durable write; dropped"
           : "host: no memory to hold an action; dropped");
  if (a->kind == IMSEC_ACT_SEND || a->kind == IMSEC_ACT_KEEP ||
      a->kind == IMSEC_ACT_CLOSE)
    close_flow(h, a->flow);
  close_flow(h, flow);
  act_free(a);
}

/* Walk what the element just appended; `flow` is the one the event
 * concerned (closed when the queue ran out of memory). */
static void walk(imsec_host *h, uint64_t flow) {
  imsec_out *o = &h->out;
  /* A context the element set itself (a timer naming its transaction)
   * ends with its call too: its Call-ID was borrowed for the call. */
  imsec_out_log_context(o, 0, imsec_str_make(NULL, 0));
  if (imsec_out_err(o)) {
    hlog_flow(h, IMSEC_LOG_ERROR,
              "host: out of memory in the action queue; dropped the "
              "event's actions and closed",
              flow, IMSEC_ERR_NOMEM);
    imsec_out_clear(o);
    close_flow(h, flow);
    return;
  }
  for (size_t i = 0; i < o->n; i++) {
    dispatch(h, &o->acts[i], flow);
    memset(&o->acts[i], 0, sizeof(o->acts[i]));
  }
  o->n = 0;
  imsec_out_clear(o);
}

/* ---- replies */

static void deliver(imsec_host *h, reply_ent *e) {
  if (e->final && h->pending)
    h->pending--;
  if (e->final)
    hobs_count_store(&h->obs, e->rep.kind, e->rep.status,
                     h->port.now(h->port.ctx) - e->t0);
  held_act *later = NULL;
  size_t nlater = 0;
  if (e->persist) {
    size_t at = h->hn; /* the marker's place in the queue */
    for (size_t i = 0; i < h->hn; i++)
      if (h->held[h->hhead + i].ptok == e->ptok && e->ptok) {
        at = i;
        break;
      }
    if (h->persist_out && at < h->hn)
      h->persist_out--;
    if (at < h->hn && e->rep.status == 0) {
      h->held[h->hhead + at].done = 1;
      pump(h);
    } else if (at < h->hn) {
      /* The write failed: what its event queued after it never happens
       * (a 200 OK for a registration that is not stored), except the log
       * lines, which say what the element did. On failure the element
       * hears of it (on_reply) before the actions later events queued
       * behind the write go out: those are set aside and carried out
       * after on_reply's own. On success they were released above,
       * before on_reply, in the order they were queued. */
      held_act *q = h->held + h->hhead;
      uint64_t fev = q[at].ev;
      size_t n = h->hn - at - 1;
      later = n ? malloc(n * sizeof(*later)) : NULL;
      for (size_t i = at + 1; i < h->hn; i++) {
        held_act *d = &q[i];
        h->hbytes -= act_bytes(&d->act);
        if (!d->ptok && d->ev == fev) {
          if (d->act.kind == IMSEC_ACT_LOG)
            execute(h, &d->act);
          else
            act_free(&d->act);
        } else if (later) {
          later[nlater++] = *d;
        } else { /* no memory to set them aside: in order, now */
          uint64_t saved = h->ev;
          h->ev = d->ev;
          if (d->ptok)
            hlog(h, IMSEC_LOG_ERROR, "host: no memory; a write's marker lost");
          else
            execute(h, &d->act);
          h->ev = saved;
        }
      }
      h->hbytes -= act_bytes(&q[at].act);
      h->hn = at;
      if (h->hn == 0)
        h->hhead = 0;
    }
  }
  if (h->cfg.ops->on_reply) {
    h->ev++;
    imsec_time_ms now = h->port.now(h->port.ctx);
    h->cfg.ops->on_reply(h->cfg.self, &e->rep, now, &h->out);
    walk(h, 0);
  }
  if (later) {
    /* Append the detached queue after whatever on_reply held. */
    for (size_t i = 0; i < nlater; i++) {
      held_act *x = &later[i];
      if (!x->ptok && h->hn == 0) {
        uint64_t saved = h->ev;
        h->ev = x->ev;
        execute(h, &x->act);
        h->ev = saved;
      } else if (hold(h, &x->act, x->flow) != 0) {
        close_flow(h, x->flow);
        act_free(&x->act);
      } else {
        held_act *y = &h->held[h->hhead + h->hn - 1];
        y->ev = x->ev;
        y->ptok = x->ptok;
        y->done = x->done;
      }
    }
    free(later);
  }
  pump(h);
  /* TS 33.102 §6.3.2: the vector is secret; the element copied what it
   * keeps. */
  reply_ent_free(e);
}

static void drain(imsec_host *h) {
  if (h->draining)
    return;
  h->draining = 1;
  reply_ent *e;
  while ((e = inbox_pop(h->ib)) != NULL)
    deliver(h, e);
  h->draining = 0;
}

/* The tail of every event call. */
static void finish(imsec_host *h, uint64_t flow) {
  walk(h, flow);
  drain(h);
  rearm(h);
}

/* The event's call returned: its Call-ID (borrowed from the message) and
 * flow leave the context; the LOG actions made copies. */
static void log_context_end(imsec_host *h) {
  imsec_out_log_context(&h->out, 0, imsec_str_make(NULL, 0));
}

static imsec_time_ms now_of(imsec_host *h) {
  return h->port.now ? h->port.now(h->port.ctx) : 0;
}

/* ------------------------------------------------------------- public */

int imsec_host_new(imsec_host **out, const imsec_host_config *cfg,
                   const imsec_host_port *port) {
  if (!out || !cfg || !port || !cfg->ops || !port->now)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_host *h = calloc(1, sizeof(*h));
  if (!h)
    return IMSEC_ERR_NOMEM;
  h->cfg = *cfg;
  h->port = *port;
  if (cfg->name) {
    size_t n = strlen(cfg->name);
    h->name = malloc(n + 1);
    if (!h->name) {
      free(h);
      return IMSEC_ERR_NOMEM;
    }
    memcpy(h->name, cfg->name, n + 1);
  }
  h->cfg.name = h->name;
  h->ib = calloc(1, sizeof(*h->ib));
  if (!h->ib || pthread_mutex_init(&h->ib->mu, NULL) != 0) {
    free(h->ib);
    free(h->name);
    free(h);
    return IMSEC_ERR_NOMEM;
  }
  h->ib->refs = 1;
  h->ib->port = *port;
  imsec_out_init(&h->out, cfg->log_level);
  imsec_map_init_u64(&h->flows);
  imsec_map_init_u64(&h->tags);
  imsec_map_init_u64(&h->timers);
  *out = h;
  return 0;
}

void imsec_host_del(imsec_host *h) {
  if (!h)
    return;
  pthread_mutex_lock(&h->ib->mu);
  h->ib->dead = 1;
  pthread_mutex_unlock(&h->ib->mu);
  inbox_unref(h->ib);
  imsec_out_free(&h->out);
  for (size_t i = 0; i < h->hn; i++)
    act_free(&h->held[h->hhead + i].act);
  free(h->held);
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&h->flows, &it)) != NULL)
    free(sl->val);
  imsec_map_free(&h->flows);
  imsec_map_free(&h->tags);
  imsec_map_free(&h->timers);
  memo_clear(h);
  free(h->heap);
  free(h->name);
  free(h);
}

void imsec_host_start(imsec_host *h) {
  if (h->started)
    return;
  h->started = 1;
  h->ev++;
  if (h->cfg.ops->on_start)
    h->cfg.ops->on_start(h->cfg.self, now_of(h), &h->out);
  finish(h, 0);
}

/* Peer facts of a TLS flow (TS 33.310 §6.1.3, RFC 5922 §7.1 inputs):
 * the chain the peer sent checked against our anchors. A chain that could
 * not be examined at all counts as unverified, never as trusted. */
/* The chain as one octet string (each certificate's length, then its
 * DER), malloc'd; NULL when out of memory. */
static uint8_t *chain_flat(const imsec_bytes *chain, size_t n, size_t *len) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += sizeof(size_t) + chain[i].len;
  uint8_t *p = malloc(total ? total : 1);
  if (!p)
    return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(p + w, &chain[i].len, sizeof(size_t));
    w += sizeof(size_t);
    if (chain[i].len)
      memcpy(p + w, chain[i].p, chain[i].len);
    w += chain[i].len;
  }
  *len = total;
  return p;
}

static void memo_clear(imsec_host *h) {
  free(h->memo_der);
  free(h->memo);
  h->memo_der = NULL;
  h->memo = NULL;
  h->memo_len = 0;
}

/* Does the kept flat chain hold exactly these certificates? Compared
 * piece by piece: a hit (every connection after the first) allocates
 * nothing. Certificates are public: a plain compare. */
static int memo_same(const imsec_host *h, const imsec_bytes *chain, size_t n) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len;
    if (h->memo_len - r < sizeof(size_t))
      return 0;
    memcpy(&len, h->memo_der + r, sizeof(size_t));
    r += sizeof(size_t);
    if (len != chain[i].len || h->memo_len - r < len ||
        (len && memcmp(h->memo_der + r, chain[i].p, len) != 0))
      return 0;
    r += len;
  }
  return r == h->memo_len;
}

static void make_facts(imsec_host *h, const imsec_bytes *chain, size_t n_chain,
                       imsec_trust_cert *out) {
  int64_t t = h->cfg.cert_time > 0 ? h->cfg.cert_time : -1;
  size_t n = n_chain < MAX_CHAIN ? n_chain : MAX_CHAIN;
  int64_t wall = (int64_t)time(NULL);
  if (h->memo && h->memo_anchors == h->cfg.anchors && h->memo_t == t &&
      wall - h->memo_at < 1 && memo_same(h, chain, n)) {
    *out = *h->memo;
    return;
  }
  if (imsec_x509_check(h->cfg.anchors, chain, n, t, out) != 0) {
    memset(out, 0, sizeof(*out));
    out->chain = IMSEC_CHAIN_INVALID;
    static const char why[] = "the certificate chain could not be examined";
    memcpy(out->chain_detail, why,
           sizeof(why) < sizeof(out->chain_detail) ? sizeof(why)
                                                   : sizeof(out->chain_detail));
    out->chain_detail[sizeof(out->chain_detail) - 1] = 0;
    return;
  }
  size_t flen = 0;
  uint8_t *flat = chain_flat(chain, n, &flen);
  if (!flat)
    return;
  if (!h->memo && !(h->memo = malloc(sizeof(*h->memo)))) {
    free(flat);
    return;
  }
  free(h->memo_der);
  h->memo_der = flat;
  h->memo_len = flen;
  *h->memo = *out;
  h->memo_anchors = h->cfg.anchors;
  h->memo_t = t;
  h->memo_at = wall;
}

int imsec_host_flow_up(imsec_host *h, uint64_t flow, uint64_t tag,
                       const imsec_flow_info *info, const imsec_bytes *chain,
                       size_t n_chain) {
  if (tag)
    tag_done(h, tag);
  flow_rec *f = flow_get(h, flow);
  if (f && f->closed)
    return IMSEC_ERR_CLOSED; /* a reused flow the element already closed */
  if (!f) {
    f = calloc(1, sizeof(*f));
    if (!f || imsec_map_put(&h->flows, flow, f, NULL) != 0) {
      free(f);
      hlog_flow(h, IMSEC_LOG_ERROR, "host: no memory for", flow,
                IMSEC_ERR_NOMEM);
      return IMSEC_ERR_NOMEM;
    }
  }
  f->tag = tag;
  imsec_flow_info fi;
  memset(&fi, 0, sizeof(fi));
  if (info)
    fi = *info;
  imsec_trust_cert *facts = NULL;
  if (!fi.peer_cert && h->cfg.anchors && chain && n_chain > 0 &&
      (fi.tp == IMSEC_TP_TLS || fi.tp == IMSEC_TP_DTLS)) {
    facts = calloc(1, sizeof(*facts));
    if (!facts) {
      flow_forget(h, flow);
      return IMSEC_ERR_NOMEM;
    }
    make_facts(h, chain, n_chain, facts);
    fi.peer_cert = facts;
  }
  h->ev++;
  imsec_out_log_context(&h->out, flow, imsec_str_make(NULL, 0));
  int v =
      h->cfg.ops->on_flow_up(h->cfg.self, flow, tag, &fi, now_of(h), &h->out);
  log_context_end(h);
  free(facts);
  if (v < 0) {
    /* The port closes it; its going-down, when the port reports it,
     * reaches the element (the flow is forgotten below). */
    f->closed = 1;
  }
  finish(h, flow);
  if (v < 0)
    flow_forget(h, flow);
  return v < 0 ? v : 0;
}

void imsec_host_message(imsec_host *h, uint64_t flow, const uint8_t *msg,
                        size_t len) {
  flow_rec *f = flow_get(h, flow);
  if (f && f->closed)
    return;
  if (h->port.trace)
    h->port.trace(h->port.ctx, 0, flow, msg, len);
  hobs_peek pk;
  hobs_peek_msg(msg, len, 1, &pk);
  hobs_count_sip(&h->obs, 0, &pk);
  h->ev++;
  /* The element's lines about this message name its flow and Call-ID. */
  imsec_out_log_context(&h->out, flow, pk.call_id);
  h->cfg.ops->on_message(h->cfg.self, flow, msg, len, now_of(h), &h->out);
  log_context_end(h);
  finish(h, flow);
}

void imsec_host_refused(imsec_host *h, uint64_t flow, int reason,
                        const uint8_t *head, size_t len) {
  flow_rec *f = flow_get(h, flow);
  if (f && f->closed)
    return;
  h->ev++;
  hobs_peek pk;
  hobs_peek_msg(head, len, 1, &pk);
  imsec_out_log_context(&h->out, flow, pk.call_id);
  if (h->cfg.ops->on_refused)
    h->cfg.ops->on_refused(h->cfg.self, flow, reason, head, len, now_of(h),
                           &h->out);
  log_context_end(h);
  /* The flow closes after the answer (include/imsec/elem.h): a CLOSE in
   * the stream, so it waits behind a PERSIST like the answer does. */
  if (!imsec_out_err(&h->out) && imsec_out_close(&h->out, flow) != 0)
    close_flow(h, flow);
  finish(h, flow);
}

void imsec_host_flow_down(imsec_host *h, uint64_t flow, uint64_t tag,
                          int reason) {
  if (flow == 0 && tag)
    tag_done(h, tag);
  flow_rec *f = flow_get(h, flow);
  if (f) {
    int closed = f->closed;
    flow_forget(h, flow);
    if (closed)
      return;
  }
  h->ev++;
  imsec_out_log_context(&h->out, flow, imsec_str_make(NULL, 0));
  h->cfg.ops->on_flow_down(h->cfg.self, flow, tag, reason, now_of(h), &h->out);
  log_context_end(h);
  finish(h, 0);
}

void imsec_host_expire(imsec_host *h) {
  imsec_time_ms now = now_of(h);
  /* Fire due timers one by one: each handler may re-arm or cancel others
   * (a cancelled one is stale and skipped). */
  for (;;) {
    heap_trim(h);
    if (!h->nheap || h->heap[0].at > now)
      break;
    tnode t = h->heap[0];
    heap_pop(h);
    (void)imsec_map_del(&h->timers, t.id);
    h->ev++;
    if (h->cfg.ops->on_timer)
      h->cfg.ops->on_timer(h->cfg.self, t.id, now, &h->out);
    walk(h, 0);
  }
  if (h->cfg.ops->get_expiry && h->cfg.ops->handle_expiry) {
    imsec_time_ms e = h->cfg.ops->get_expiry(h->cfg.self);
    if (e > 0 && e <= now) {
      h->ev++;
      h->cfg.ops->handle_expiry(h->cfg.self, now, &h->out);
      walk(h, 0);
    }
  }
  /* The port's arming is spent. */
  h->armed = 0;
  finish(h, 0);
}

void imsec_host_poll(imsec_host *h) {
  drain(h);
  rearm(h);
}

void imsec_host_call(imsec_host *h, imsec_host_call_fn fn, void *arg) {
  h->ev++;
  fn(h->cfg.self, now_of(h), &h->out, arg);
  finish(h, 0);
}

int imsec_host_done(const imsec_host *h) {
  return h->cfg.ops->done ? h->cfg.ops->done(h->cfg.self) : 0;
}

void *imsec_host_self(const imsec_host *h) {
  return h->cfg.self;
}

void imsec_host_set_self(imsec_host *h, void *self) {
  h->cfg.self = self;
}

void imsec_host_set_log_level(imsec_host *h, imsec_log_level lv) {
  h->cfg.log_level = lv;
  h->out.log_level = lv;
}

const imsec_x509_anchors *imsec_host_set_anchors(imsec_host *h,
                                                 const imsec_x509_anchors *a) {
  const imsec_x509_anchors *old = h->cfg.anchors;
  h->cfg.anchors = a;
  memo_clear(h); /* the old anchors may be freed and their address reused */
  return old;
}

size_t imsec_host_pending(const imsec_host *h) {
  return h->pending;
}

size_t imsec_host_held(const imsec_host *h) {
  size_t n = 0; /* actions, not the writes' markers */
  for (size_t i = 0; i < h->hn; i++)
    n += h->held[h->hhead + i].ptok == 0;
  return n;
}

imsec_time_ms imsec_host_next_deadline(const imsec_host *h) {
  return h->deadline;
}

/* ------------------------------------------------------------ operations */

void imsec_host_metrics(imsec_host *h, struct imsec_metrics *m) {
  hobs_metrics(&h->obs, h->pending, m);
  if (h->cfg.ops->metrics)
    h->cfg.ops->metrics(h->cfg.self, h->port.now(h->port.ctx), m);
}

int imsec_host_list(imsec_host *h, const char *what, struct imsec_table *t) {
  if (!h->cfg.ops->list)
    return IMSEC_ERR_UNSUPPORTED;
  return h->cfg.ops->list(h->cfg.self, what, h->port.now(h->port.ctx), t);
}

size_t imsec_host_busy(const imsec_host *h) {
  size_t n = h->cfg.ops->busy ? h->cfg.ops->busy(h->cfg.self) : 0;
  return n + imsec_host_pending(h) + imsec_host_held(h);
}
