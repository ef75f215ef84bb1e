/*
 * elemrun: one element over net/ (see elemrun.h). Every element call runs
 * on the net's single loop thread. Some net calls answer synchronously
 * (closing an up flow calls on_down at once; a connect that fails at once
 * calls on_down inside imsec_net_connect; imsec_net_post with no delay runs
 * at once), so events are queued while the runner is carrying out actions
 * and handed to the element one after the other: an element is never
 * re-entered.
 */
#define _GNU_SOURCE
#include "elemrun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOW_BUCKETS 4096u
#define TIMER_BUCKETS 256u
#define MAX_CHAIN 8

/* A flow the element knows about. */
typedef struct flowrec {
  uint64_t id;
  uint64_t *tags; /* CONNECT tags (0 for an inbound flow) */
  size_t ntags, cap;
  int up;
  imsec_tp tp;
  int inbound;
  imsec_addr local, peer;
  imsec_trust_cert *cert; /* the peer facts, or NULL */
  imsec_net_flow *nf;     /* set once up; valid while in the table */
  char tls_version[16];
  int has_tls_version, resumed, psk;
  struct flowrec *next;
} flowrec;

typedef struct timerrec {
  uint64_t id;
  uint64_t gen;
  struct timerrec *next;
} timerrec;

/* One imsec_net_post in flight: freed when it fires or at elemrun_del. */
typedef struct posted {
  elemrun *r;
  int kind; /* P_TIMER, P_CALL */
  uint64_t timer, gen;
  elemrun_call_fn fn;
  void *arg;
  struct posted *prev, *next;
} posted;

enum { P_TIMER = 1, P_CALL = 2 };

typedef enum ev_kind {
  EV_UP = 1,
  EV_MSG,
  EV_DOWN,
  EV_TIMER,
  EV_CALL,
  EV_REFUSED,
} ev_kind;

/* A queued event (only while the runner is busy carrying out actions). */
typedef struct event {
  ev_kind kind;
  uint64_t flow;
  flowrec *rec; /* EV_UP: the flow (in the table); EV_DOWN: owned */
  uint64_t tag; /* EV_UP for one tag only (connection reuse), else ~0 */
  uint8_t *msg; /* EV_MSG: owned copy */
  size_t len;
  int reason;
  uint64_t timer;
  elemrun_call_fn fn;
  void *arg;
  struct event *next;
} event;

struct elemrun {
  elemrun_config cfg;
  char name[64];
  elemrun_listener *listeners;
  uint16_t *ports;
  imsec_net_tls **own_tls; /* contexts we made (listeners + client) */
  size_t n_own_tls;
  imsec_net_tls *client_tls;
  imsec_net *net;
  int started;
  int closing; /* elemrun_del: element actions other than LOG dropped */

  flowrec *flows[FLOW_BUCKETS];
  timerrec *timers[TIMER_BUCKETS];
  posted *posted;
  pthread_mutex_t posted_lock;

  /* The event queue (loop thread only). */
  event *q_head, *q_tail;
  int busy;
  imsec_out out;

  atomic_int stop;
  atomic_int got_signal;
  atomic_int log_level; /* cfg.log_level, changed by a reload */
  int stop_pipe[2];
  int sig_fd;
};

/* ---------------------------------------------------------------- clock */

imsec_time_ms elemrun_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (imsec_time_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- logging */

static const char *level_name(imsec_log_level l) {
  switch (l) {
  case IMSEC_LOG_ERROR:
    return "error";
  case IMSEC_LOG_WARN:
    return "warn";
  case IMSEC_LOG_INFO:
    return "info";
  default:
    return "debug";
  }
}

int elemrun_log_level_parse(const char *s, imsec_log_level *out) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (!s)
    return IMSEC_ERR_PARSE;
  for (int i = 0; i < 4; i++) {
    if (imsec_str_ieq_c(imsec_str_c(s), names[i])) {
      *out = (imsec_log_level)i;
      return 0;
    }
  }
  return IMSEC_ERR_PARSE;
}

/* One line, one write(2), so lines of several threads or processes sharing
 * stderr do not interleave. */
static void write_line(const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, buf, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    buf += w;
    n -= (size_t)w;
  }
}

static void elog(elemrun *r, imsec_log_level level, const char *text) {
  if ((int)level > atomic_load(&r->log_level))
    return;
  char line[2048];
  int n = snprintf(line, sizeof line, "%s %s: %s\n", r->name, level_name(level),
                   text);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  write_line(line, (size_t)n);
}

static void net_log(void *user, imsec_net_log_level level, const char *line) {
  elemrun *r = user;
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%s net %s: %s\n", r->name,
                   level_name((imsec_log_level)level), line);
  if (n > 0)
    write_line(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---------------------------------------------------------------- ladder */

static void ladder(elemrun *r, int out, uint64_t flow, const flowrec *fr,
                   const uint8_t *msg, size_t len, imsec_time_ms now) {
  if (!r->cfg.ladder && !r->cfg.ladder_fn)
    return;
  if (r->cfg.ladder_fn) {
    elemrun_ladder_ev ev = {
        .elem = r->name,
        .out = out,
        .flow = flow,
        .local = fr ? &fr->local : NULL,
        .peer = fr ? &fr->peer : NULL,
        .msg = msg,
        .len = len,
        .now = now,
    };
    r->cfg.ladder_fn(r->cfg.ladder_user, &ev);
    return;
  }
  char peer[300] = "?";
  if (fr && imsec_addr_format(&fr->peer, peer, sizeof peer) < 0)
    snprintf(peer, sizeof peer, "?");
  size_t first = 0;
  while (first < len && msg[first] != '\r' && msg[first] != '\n')
    first++;
  if (r->cfg.ladder == ELEMRUN_LADDER_MACHINE) {
    char local[300] = "?";
    if (fr && imsec_addr_format(&fr->local, local, sizeof local) < 0)
      snprintf(local, sizeof local, "?");
    char line[1024];
    int n = snprintf(line, sizeof line, "imsec-ladder %lld %s %s %llu %s %s ",
                     (long long)now, r->name, out ? "out" : "in",
                     (unsigned long long)flow, local, peer);
    if (n < 0 || (size_t)n >= sizeof line - 2)
      return;
    size_t off = (size_t)n;
    for (size_t i = 0; i < first && off < sizeof line - 2; i++)
      line[off++] = (msg[i] >= 0x20 && msg[i] != 0x7f) ? (char)msg[i] : '?';
    line[off++] = '\n';
    write_line(line, off);
    return;
  }
  size_t show = r->cfg.ladder >= 2 ? len : first;
  if (show > 8192)
    show = 8192;
  char *buf = malloc(show + 400);
  if (!buf)
    return;
  int n = snprintf(buf, 400, "%s %s %s: ", r->name, out ? "->" : "<-", peer);
  if (n < 0 || n >= 400) {
    free(buf);
    return;
  }
  size_t off = (size_t)n;
  for (size_t i = 0; i < show; i++) {
    unsigned char ch = msg[i];
    if (ch == '\r')
      continue;
    buf[off++] = (ch == '\n' || (ch >= 0x20 && ch != 0x7f)) ? (char)ch : '?';
  }
  buf[off++] = '\n';
  write_line(buf, off);
  free(buf);
}

/* ---------------------------------------------------------------- tables */

static size_t flow_bucket(uint64_t id) {
  return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 52) % FLOW_BUCKETS;
}

static flowrec *flow_find(elemrun *r, uint64_t id) {
  for (flowrec *f = r->flows[flow_bucket(id)]; f; f = f->next)
    if (f->id == id)
      return f;
  return NULL;
}

static void flow_insert(elemrun *r, flowrec *f) {
  size_t b = flow_bucket(f->id);
  f->next = r->flows[b];
  r->flows[b] = f;
}

static void flow_remove(elemrun *r, flowrec *f) {
  for (flowrec **pp = &r->flows[flow_bucket(f->id)]; *pp; pp = &(*pp)->next) {
    if (*pp == f) {
      *pp = f->next;
      f->next = NULL;
      return;
    }
  }
}

static void flow_free(flowrec *f) {
  if (!f)
    return;
  free(f->tags);
  free(f->cert);
  free(f);
}

static int flow_add_tag(flowrec *f, uint64_t tag) {
  if (f->ntags == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 2;
    uint64_t *t = realloc(f->tags, cap * sizeof *t);
    if (!t)
      return IMSEC_ERR_NOMEM;
    f->tags = t;
    f->cap = cap;
  }
  f->tags[f->ntags++] = tag;
  return 0;
}

static timerrec *timer_get(elemrun *r, uint64_t id, int create) {
  size_t b = (size_t)(id * 0x9E3779B97F4A7C15ull >> 56) % TIMER_BUCKETS;
  for (timerrec *t = r->timers[b]; t; t = t->next)
    if (t->id == id)
      return t;
  if (!create)
    return NULL;
  timerrec *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->id = id;
  t->next = r->timers[b];
  r->timers[b] = t;
  return t;
}

/* ---------------------------------------------------------------- addrs */

static void sockaddr_to_addr(const struct sockaddr *sa, imsec_tp tp,
                             imsec_addr *out) {
  memset(out, 0, sizeof *out);
  out->tp = tp;
  if (!sa)
    return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, out->host, sizeof out->host);
    out->port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, out->host, sizeof out->host);
    out->port = ntohs(in6->sin6_port);
  }
}

/* An IP literal, or a name resolved once (blocking; daemons resolve their
 * configured peers, tests use literals). */
static int addr_to_sockaddr(const imsec_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(a->port);
    return 0;
  }
  if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    return 0;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(a->host, NULL, &hints, &res) != 0 || !res)
    return IMSEC_ERR_INVAL;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (ss->ss_family == AF_INET)
    in->sin_port = htons(a->port);
  else
    in6->sin6_port = htons(a->port);
  return 0;
}

static imsec_net_transport tp_to_net(imsec_tp tp) {
  switch (tp) {
  case IMSEC_TP_UDP:
    return IMSEC_NET_UDP;
  case IMSEC_TP_TLS:
    return IMSEC_NET_TLS;
  case IMSEC_TP_DTLS:
    return IMSEC_NET_DTLS;
  default:
    return IMSEC_NET_TCP;
  }
}

static imsec_tp net_to_tp(imsec_net_transport t) {
  switch (t) {
  case IMSEC_NET_UDP:
    return IMSEC_TP_UDP;
  case IMSEC_NET_TLS:
    return IMSEC_TP_TLS;
  case IMSEC_NET_DTLS:
    return IMSEC_TP_DTLS;
  default:
    return IMSEC_TP_TCP;
  }
}

/* ---------------------------------------------------------------- dispatch */

static void run_actions(elemrun *r, uint64_t event_flow, imsec_time_ms now);

static void wake(elemrun *r) {
  char b = 1;
  ssize_t w = write(r->stop_pipe[1], &b, 1);
  (void)w;
}

static void flow_info(const flowrec *f, imsec_flow_info *info) {
  memset(info, 0, sizeof *info);
  info->tp = f->tp;
  info->inbound = f->inbound;
  info->local = f->local;
  info->peer = f->peer;
  info->peer_cert = f->cert;
  info->tls_version = f->has_tls_version ? f->tls_version : NULL;
  info->resumed = f->resumed;
  info->psk = f->psk;
}

/* Hand one event to the element, then carry out what it asked for. */
static int deliver(elemrun *r, event *e) {
  const elemrun_ops *ops = r->cfg.ops;
  void *self = r->cfg.self;
  imsec_time_ms now = elemrun_now();
  int verdict = 0;
  uint64_t flow = 0;
  switch (e->kind) {
  case EV_UP: {
    imsec_flow_info info;
    flow_info(e->rec, &info);
    flow = e->flow;
    if (e->tag != UINT64_MAX) {
      verdict = ops->on_flow_up(self, e->flow, e->tag, &info, now, &r->out);
    } else {
      for (size_t i = 0; i < e->rec->ntags && verdict >= 0; i++)
        verdict = ops->on_flow_up(self, e->flow, e->rec->tags[i], &info, now,
                                  &r->out);
    }
    break;
  }
  case EV_MSG:
    flow = e->flow;
    ladder(r, 0, e->flow, flow_find(r, e->flow), e->msg, e->len, now);
    ops->on_message(self, e->flow, e->msg, e->len, now, &r->out);
    break;
  case EV_DOWN:
    /* A flow that never came up (a failed connect) is reported as flow 0:
     * the element never learnt its id. */
    for (size_t i = 0; i < e->rec->ntags; i++)
      ops->on_flow_down(self, e->rec->up ? e->flow : 0, e->rec->tags[i],
                        e->reason, now, &r->out);
    break;
  case EV_TIMER:
    if (ops->on_timer)
      ops->on_timer(self, e->timer, now, &r->out);
    break;
  case EV_CALL:
    e->fn(self, now, &r->out, e->arg);
    break;
  case EV_REFUSED:
    flow = e->flow;
    ops->on_refused(self, e->flow, e->reason, e->msg, e->len, now, &r->out);
    break;
  }
  run_actions(r, flow, now);
  if (ops->done && ops->done(self) && !atomic_exchange(&r->stop, 1))
    wake(r);
  return verdict;
}

static void event_free(event *e) {
  if (e->kind == EV_DOWN)
    flow_free(e->rec);
  if (e->msg) {
    imsec_wipe(e->msg, e->len);
    free(e->msg);
  }
  free(e);
}

/* Deliver queued events until none is left. */
static void drain(elemrun *r) {
  r->busy = 1;
  while (r->q_head) {
    event *e = r->q_head;
    r->q_head = e->next;
    if (!r->q_head)
      r->q_tail = NULL;
    int v = deliver(r, e);
    if (e->kind == EV_UP && v < 0)
      (void)imsec_net_close(r->net, e->flow);
    event_free(e);
  }
  r->busy = 0;
}

static void enqueue(elemrun *r, event *e) {
  e->next = NULL;
  if (r->q_tail)
    r->q_tail->next = e;
  else
    r->q_head = e;
  r->q_tail = e;
}

/* Deliver now if idle (returns the element's verdict for EV_UP), else
 * queue. Takes ownership of `e`. */
static int submit(elemrun *r, event *e) {
  if (r->busy) {
    enqueue(r, e);
    return 0;
  }
  r->busy = 1;
  int v = deliver(r, e);
  event_free(e);
  drain(r);
  return v;
}

static event *event_new(ev_kind kind) {
  event *e = calloc(1, sizeof *e);
  if (e) {
    e->kind = kind;
    e->tag = UINT64_MAX;
  }
  return e;
}

/* ---------------------------------------------------------------- actions */

static void posted_link(elemrun *r, posted *p) {
  pthread_mutex_lock(&r->posted_lock);
  p->prev = NULL;
  p->next = r->posted;
  if (r->posted)
    r->posted->prev = p;
  r->posted = p;
  pthread_mutex_unlock(&r->posted_lock);
}

static void posted_unlink(elemrun *r, posted *p) {
  pthread_mutex_lock(&r->posted_lock);
  if (p->prev)
    p->prev->next = p->next;
  else if (r->posted == p)
    r->posted = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
  pthread_mutex_unlock(&r->posted_lock);
}

static void on_posted(void *arg) {
  posted *p = arg;
  elemrun *r = p->r;
  posted_unlink(r, p);
  event *e = NULL;
  if (p->kind == P_TIMER) {
    timerrec *t = timer_get(r, p->timer, 0);
    /* Re-armed or cancelled since: stale. */
    if (t && t->gen == p->gen && (e = event_new(EV_TIMER)))
      e->timer = p->timer;
  } else if ((e = event_new(EV_CALL))) {
    e->fn = p->fn;
    e->arg = p->arg;
  }
  free(p);
  if (e)
    (void)submit(r, e);
}

static void act_timer(elemrun *r, const imsec_act *a, imsec_time_ms now) {
  timerrec *t = timer_get(r, a->timer, 1);
  if (!t) {
    elog(r, IMSEC_LOG_ERROR, "out of memory: a timer is lost");
    return;
  }
  t->gen++;
  if (a->at == 0)
    return;
  posted *p = calloc(1, sizeof *p);
  if (!p) {
    elog(r, IMSEC_LOG_ERROR, "out of memory: a timer is lost");
    return;
  }
  p->r = r;
  p->kind = P_TIMER;
  p->timer = a->timer;
  p->gen = t->gen;
  int64_t delay = a->at - now;
  /* At least 1 ms: a zero delay would run inside this action walk. */
  if (delay < 1)
    delay = 1;
  if (delay > UINT32_MAX)
    delay = UINT32_MAX;
  posted_link(r, p);
  if (imsec_net_post(r->net, 0, (uint32_t)delay, on_posted, p) != 0) {
    posted_unlink(r, p);
    free(p);
  }
}

static void fail_connect(elemrun *r, uint64_t tag, int reason,
                         const char *why) {
  char line[512];
  snprintf(line, sizeof line, "connect failed: %s", why);
  elog(r, IMSEC_LOG_WARN, line);
  /* The element learns it through on_flow_down with flow 0. */
  event *e = event_new(EV_DOWN);
  flowrec *f = calloc(1, sizeof *f);
  if (!e || !f || flow_add_tag(f, tag) != 0) {
    free(e);
    flow_free(f);
    return;
  }
  e->rec = f;
  e->flow = 0;
  e->reason = reason;
  enqueue(r, e);
}

static void act_connect(elemrun *r, const imsec_act *a) {
  struct sockaddr_storage ss;
  if (addr_to_sockaddr(&a->addr, &ss) != 0) {
    fail_connect(r, a->tag, IMSEC_ERR_INVAL, a->addr.host);
    return;
  }
  imsec_net_transport tr = tp_to_net(a->addr.tp);
  int secure = tr == IMSEC_NET_TLS || tr == IMSEC_NET_DTLS;
  if (secure && !r->client_tls) {
    fail_connect(r, a->tag, IMSEC_ERR_CONFIG, "no client TLS context");
    return;
  }
  flowrec *f = calloc(1, sizeof *f);
  if (!f || flow_add_tag(f, a->tag) != 0) {
    flow_free(f);
    fail_connect(r, a->tag, IMSEC_ERR_NOMEM, "out of memory");
    return;
  }
  f->tp = a->addr.tp;
  f->peer = a->addr;
  f->id = 0; /* set below; a synchronous on_down sees 0 */
  imsec_net_connect_opts o = {
      .transport = tr,
      .peer = (const struct sockaddr *)&ss,
      .tls = secure ? r->client_tls : NULL,
      .server_name = a->server_name[0] ? a->server_name : NULL,
      .reuse = !r->cfg.no_reuse,
      .user = f,
  };
  uint64_t id = 0;
  int rc = imsec_net_connect(r->net, &o, &id);
  if (rc != 0) {
    flow_free(f);
    fail_connect(r, a->tag, rc, imsec_strerror(rc));
    return;
  }
  flowrec *old = flow_find(r, id);
  if (old) {
    /* RFC 5923 reuse of a flow the element already has. */
    flow_free(f);
    if (flow_add_tag(old, a->tag) != 0)
      return;
    if (old->up) {
      event *e = event_new(EV_UP);
      if (e) {
        e->flow = id;
        e->rec = old;
        e->tag = a->tag;
        enqueue(r, e);
      }
    }
    return;
  }
  if (f->id == UINT64_MAX) {
    /* Went down inside imsec_net_connect: the queued EV_DOWN owns it. */
    return;
  }
  f->id = id;
  flow_insert(r, f);
}

static void run_actions(elemrun *r, uint64_t event_flow, imsec_time_ms now) {
  imsec_out *o = &r->out;
  if (imsec_out_err(o)) {
    elog(r, IMSEC_LOG_ERROR, "out of memory: the event's actions are lost");
    imsec_out_clear(o);
    if (event_flow)
      (void)imsec_net_close(r->net, event_flow);
    return;
  }
  /* Walk a private copy: carrying out an action may queue events but never
   * calls the element, so r->out is not appended to meanwhile. */
  size_t n = o->n;
  for (size_t i = 0; i < n; i++) {
    imsec_act *a = &o->acts[i];
    if (r->closing && a->kind != IMSEC_ACT_LOG)
      continue;
    switch (a->kind) {
    case IMSEC_ACT_SEND: {
      ladder(r, 1, a->flow, flow_find(r, a->flow), a->data, a->len, now);
      int rc = imsec_net_send(r->net, a->flow, a->data, a->len);
      if (rc != 0) {
        char line[128];
        snprintf(line, sizeof line, "send on flow %llu failed: %s",
                 (unsigned long long)a->flow, imsec_strerror(rc));
        elog(r, IMSEC_LOG_INFO, line);
      }
      break;
    }
    case IMSEC_ACT_CONNECT:
      act_connect(r, a);
      break;
    case IMSEC_ACT_CLOSE:
      (void)imsec_net_close(r->net, a->flow);
      break;
    case IMSEC_ACT_KEEP: {
      /* A record in the table is a flow that is up or connecting; its net
       * object lives until on_down, which removes the record first. */
      flowrec *f = flow_find(r, a->flow);
      if (f && f->nf)
        imsec_net_flow_keep(f->nf);
      break;
    }
    case IMSEC_ACT_TIMER:
      act_timer(r, a, now);
      break;
    case IMSEC_ACT_LOG:
      elog(r, a->level, (const char *)a->data);
      break;
    case IMSEC_ACT_REQUEST:
    case IMSEC_ACT_PERSIST:
      /* No element issues service requests through this runner yet. */
      elog(r, IMSEC_LOG_ERROR, "service request without a store: dropped");
      break;
    }
  }
  imsec_out_clear(o);
}

/* ---------------------------------------------------------------- net cbs */

static int cb_up(void *user, imsec_net_flow *nf) {
  elemrun *r = user;
  flowrec *f = imsec_net_flow_user(nf);
  uint64_t id = imsec_net_flow_id(nf);
  if (!f) {
    f = calloc(1, sizeof *f);
    if (!f || flow_add_tag(f, 0) != 0) {
      flow_free(f);
      return IMSEC_ERR_NOMEM;
    }
    f->id = id;
    f->inbound = 1;
    imsec_net_flow_set_user(nf, f);
    flow_insert(r, f);
  }
  f->tp = net_to_tp(imsec_net_flow_transport(nf));
  f->inbound = imsec_net_flow_is_server(nf);
  sockaddr_to_addr(imsec_net_flow_local(nf), f->tp, &f->local);
  sockaddr_to_addr(imsec_net_flow_peer(nf), f->tp, &f->peer);
  const char *v = imsec_net_flow_tls_version(nf);
  if (v) {
    snprintf(f->tls_version, sizeof f->tls_version, "%s", v);
    f->has_tls_version = 1;
  }
  f->resumed = imsec_net_flow_resumed(nf);
  f->psk = imsec_net_flow_psk(nf);
  if (r->cfg.anchors && (f->tp == IMSEC_TP_TLS || f->tp == IMSEC_TP_DTLS)) {
    imsec_bytes chain[MAX_CHAIN];
    int n = imsec_net_flow_peer_chain(nf, chain, MAX_CHAIN);
    if (n > 0) {
      f->cert = calloc(1, sizeof *f->cert);
      if (!f->cert)
        return IMSEC_ERR_NOMEM;
      int64_t t = r->cfg.cert_time > 0 ? r->cfg.cert_time : -1;
      if (imsec_x509_check(r->cfg.anchors, chain,
                           (size_t)(n < MAX_CHAIN ? n : MAX_CHAIN), t,
                           f->cert) != 0) {
        /* Facts that could not be made: the peer counts as unverified. */
        memset(f->cert, 0, sizeof *f->cert);
        f->cert->chain = IMSEC_CHAIN_INVALID;
        snprintf(f->cert->chain_detail, sizeof f->cert->chain_detail,
                 "the certificate chain could not be examined");
      }
    }
  }
  f->nf = nf;
  f->up = 1;
  event *e = event_new(EV_UP);
  if (!e)
    return IMSEC_ERR_NOMEM;
  e->flow = id;
  e->rec = f;
  return submit(r, e);
}

/* submit() for an event that carries net's octets: delivered in place
 * (net owns them until the callback returns), or, when the runner is busy
 * (only when a net call answered synchronously), queued with a copy. */
static void submit_octets(elemrun *r, event *e, const uint8_t *p, size_t len) {
  if (r->busy) {
    e->msg = malloc(len ? len : 1);
    if (!e->msg) {
      free(e);
      return;
    }
    if (len)
      memcpy(e->msg, p, len);
    e->len = len;
    enqueue(r, e);
    return;
  }
  e->msg = (uint8_t *)p;
  e->len = len;
  r->busy = 1;
  (void)deliver(r, e);
  free(e);
  drain(r);
}

static void cb_message(void *user, imsec_net_flow *nf, const uint8_t *msg,
                       size_t len) {
  elemrun *r = user;
  event *e = event_new(EV_MSG);
  if (!e)
    return;
  e->flow = imsec_net_flow_id(nf);
  submit_octets(r, e, msg, len);
}

/* net's on_refused: like a message, handed to the element's on_refused;
 * net closes the flow when this returns, after the answer (sent from here
 * unless the runner was busy) has left. */
static void cb_refused(void *user, imsec_net_flow *nf, int reason,
                       const uint8_t *head, size_t len) {
  elemrun *r = user;
  event *e = event_new(EV_REFUSED);
  if (!e)
    return;
  e->flow = imsec_net_flow_id(nf);
  e->reason = reason;
  submit_octets(r, e, head, len);
}

static void cb_down(void *user, imsec_net_flow *nf, int reason) {
  elemrun *r = user;
  flowrec *f = imsec_net_flow_user(nf);
  if (!f)
    return;
  imsec_net_flow_set_user(nf, NULL);
  f->nf = NULL;
  if (f->id != 0)
    flow_remove(r, f);
  else
    f->id = UINT64_MAX; /* inside imsec_net_connect: act_connect sees it */
  event *e = event_new(EV_DOWN);
  if (!e) {
    if (f->id != UINT64_MAX)
      flow_free(f);
    return;
  }
  e->flow = imsec_net_flow_id(nf);
  e->rec = f;
  e->reason = reason;
  /* During elemrun_del the element is told too; run_actions then drops its
   * actions other than LOG. */
  (void)submit(r, e);
}

/* ---------------------------------------------------------------- life */

static int make_tls(elemrun *r, const imsec_net_tls_config *cfg, int server,
                    imsec_net_tls **out, char *err, size_t errcap,
                    const char *what) {
  imsec_net_tls_config c = *cfg;
  c.server = server;
  int rc = imsec_net_tls_new(out, &c);
  if (rc != 0) {
    if (err)
      snprintf(err, errcap, "%s: %s TLS context: %s (cert %s, key %s)", r->name,
               what, imsec_strerror(rc), c.cert_file ? c.cert_file : "-",
               c.key_file ? c.key_file : "-");
    return rc;
  }
  r->own_tls[r->n_own_tls++] = *out;
  return 0;
}

int elemrun_new(elemrun **out, const elemrun_config *cfg, char *err,
                size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!out || !cfg || !cfg->ops || !cfg->ops->on_flow_up ||
      !cfg->ops->on_message || !cfg->ops->on_flow_down ||
      (cfg->n_listeners && !cfg->listeners)) {
    if (err)
      snprintf(err, errcap, "elemrun: incomplete configuration");
    return IMSEC_ERR_INVAL;
  }
  int rc = IMSEC_ERR_NOMEM;
  elemrun *r = calloc(1, sizeof *r);
  if (!r)
    return IMSEC_ERR_NOMEM;
  r->cfg = *cfg;
  /* A host that shows a ladder of several processes (`imsec demo`) asks
   * its children for machine-readable ladder lines through the
   * environment, whatever their command line says. */
  const char *env = getenv("IMSEC_LADDER");
  if (!cfg->ladder && !cfg->ladder_fn && env && env[0] == '1')
    r->cfg.ladder = ELEMRUN_LADDER_MACHINE;
  snprintf(r->name, sizeof r->name, "%s", cfg->name ? cfg->name : "elem");
  r->cfg.name = r->name;
  r->stop_pipe[0] = r->stop_pipe[1] = -1;
  r->sig_fd = -1;
  imsec_out_init(&r->out, cfg->log_level);
  atomic_init(&r->log_level, (int)cfg->log_level);
  if (pthread_mutex_init(&r->posted_lock, NULL) != 0)
    goto fail_mutex;
  r->listeners = calloc(cfg->n_listeners + 1, sizeof *r->listeners);
  r->ports = calloc(cfg->n_listeners + 1, sizeof *r->ports);
  r->own_tls = calloc(cfg->n_listeners + 1, sizeof *r->own_tls);
  if (!r->listeners || !r->ports || !r->own_tls)
    goto fail_alloc;
  if (cfg->n_listeners)
    memcpy(r->listeners, cfg->listeners,
           cfg->n_listeners * sizeof *r->listeners);
  r->cfg.listeners = r->listeners;
  if (pipe2(r->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    rc = IMSEC_ERR_IO;
    goto fail_alloc;
  }
  if (cfg->signals) {
    /* Blocked before the loop thread exists, so it inherits the mask and
     * the signals reach only the signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (cfg->reload)
      sigaddset(&set, SIGHUP); /* a reload, never the default (exit) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    r->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (r->sig_fd < 0) {
      rc = IMSEC_ERR_IO;
      goto fail_alloc;
    }
  }
  /* TLS contexts. */
  if (cfg->client_tls) {
    r->client_tls = cfg->client_tls;
  } else if (cfg->client_tls_cfg) {
    rc = make_tls(r, cfg->client_tls_cfg, 0, &r->client_tls, err, errcap,
                  "client");
    if (rc != 0)
      goto fail_tls;
  }
  for (size_t i = 0; i < cfg->n_listeners; i++) {
    elemrun_listener *l = &r->listeners[i];
    int secure = l->addr.tp == IMSEC_TP_TLS || l->addr.tp == IMSEC_TP_DTLS;
    if (secure && !l->tls) {
      if (!l->tls_cfg) {
        if (err)
          snprintf(err, errcap, "%s: listener %s:%u needs a certificate",
                   r->name, l->addr.host, l->addr.port);
        rc = IMSEC_ERR_CONFIG;
        goto fail_tls;
      }
      imsec_net_tls_config c = *l->tls_cfg;
      c.dtls = l->addr.tp == IMSEC_TP_DTLS;
      rc = make_tls(r, &c, 1, &l->tls, err, errcap, "server");
      if (rc != 0)
        goto fail_tls;
    }
    l->tls_cfg = NULL;
  }
  imsec_net_config nc;
  memset(&nc, 0, sizeof nc);
  nc.threads = 1;
  nc.limits = cfg->limits;
  nc.handler.on_up = cb_up;
  nc.handler.on_message = cb_message;
  nc.handler.on_down = cb_down;
  nc.handler.user = r;
  if (cfg->ops->on_refused)
    nc.handler.on_refused = cb_refused;
  nc.log = net_log;
  nc.log_user = r;
  nc.log_level = cfg->net_log_level;
  rc = imsec_net_new(&r->net, &nc);
  if (rc != 0) {
    if (err)
      snprintf(err, errcap, "%s: net: %s", r->name, imsec_strerror(rc));
    goto fail_tls;
  }
  for (size_t i = 0; i < cfg->n_listeners; i++) {
    elemrun_listener *l = &r->listeners[i];
    struct sockaddr_storage ss;
    if (addr_to_sockaddr(&l->addr, &ss) != 0) {
      if (err)
        snprintf(err, errcap, "%s: cannot listen on '%s': not an address",
                 r->name, l->addr.host);
      rc = IMSEC_ERR_INVAL;
      goto fail_listen;
    }
    rc = imsec_net_listen(r->net, tp_to_net(l->addr.tp),
                          (const struct sockaddr *)&ss, l->tls, &r->ports[i]);
    if (rc != 0) {
      char a[300];
      if (imsec_addr_format(&l->addr, a, sizeof a) < 0)
        snprintf(a, sizeof a, "?");
      if (err)
        snprintf(err, errcap, "%s: cannot listen on %s: %s", r->name, a,
                 imsec_strerror(rc));
      goto fail_listen;
    }
  }
  *out = r;
  return 0;

fail_listen:
  imsec_net_del(r->net);
  r->net = NULL;
fail_tls:
  for (size_t i = 0; i < r->n_own_tls; i++)
    imsec_net_tls_del(r->own_tls[i]);
  if (r->sig_fd >= 0)
    close(r->sig_fd);
fail_alloc:
  if (r->stop_pipe[0] >= 0) {
    close(r->stop_pipe[0]);
    close(r->stop_pipe[1]);
  }
  free(r->listeners);
  free(r->ports);
  free(r->own_tls);
  pthread_mutex_destroy(&r->posted_lock);
fail_mutex:
  imsec_out_free(&r->out);
  free(r);
  if (err && !err[0])
    snprintf(err, errcap, "elemrun: %s", imsec_strerror(rc));
  return rc;
}

void elemrun_del(elemrun *r) {
  if (!r)
    return;
  r->closing = 1;
  imsec_net_del(r->net);
  /* Posted calls still pending were dropped by the net; they are ours. */
  while (r->posted) {
    posted *p = r->posted;
    r->posted = p->next;
    free(p);
  }
  while (r->q_head) {
    event *e = r->q_head;
    r->q_head = e->next;
    event_free(e);
  }
  for (size_t b = 0; b < FLOW_BUCKETS; b++) {
    while (r->flows[b]) {
      flowrec *f = r->flows[b];
      r->flows[b] = f->next;
      flow_free(f);
    }
  }
  for (size_t b = 0; b < TIMER_BUCKETS; b++) {
    while (r->timers[b]) {
      timerrec *t = r->timers[b];
      r->timers[b] = t->next;
      free(t);
    }
  }
  for (size_t i = 0; i < r->n_own_tls; i++)
    imsec_net_tls_del(r->own_tls[i]);
  if (r->sig_fd >= 0)
    close(r->sig_fd);
  close(r->stop_pipe[0]);
  close(r->stop_pipe[1]);
  free(r->listeners);
  free(r->ports);
  free(r->own_tls);
  pthread_mutex_destroy(&r->posted_lock);
  imsec_out_free(&r->out);
  free(r);
}

uint16_t elemrun_port(const elemrun *r, size_t i) {
  return r && i < r->cfg.n_listeners ? r->ports[i] : 0;
}

void elemrun_set_self(elemrun *r, void *self) {
  if (r && !r->started)
    r->cfg.self = self;
}

imsec_net *elemrun_net(elemrun *r) {
  return r ? r->net : NULL;
}

static void start_call(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  elemrun *r = arg;
  r->cfg.ops->on_start(self, now, out);
}

int elemrun_call(elemrun *r, elemrun_call_fn fn, void *arg) {
  if (!r || !fn)
    return IMSEC_ERR_INVAL;
  posted *p = calloc(1, sizeof *p);
  if (!p)
    return IMSEC_ERR_NOMEM;
  p->r = r;
  p->kind = P_CALL;
  p->fn = fn;
  p->arg = arg;
  posted_link(r, p);
  /* 1 ms rather than 0: from the loop thread a 0 would run it at once,
   * inside the caller. */
  int rc = imsec_net_post(r->net, 0, 1, on_posted, p);
  if (rc != 0) {
    posted_unlink(r, p);
    free(p);
  }
  return rc;
}

/* One elemrun_call_wait: shared by the waiting thread and the loop, freed
 * by whichever lets go last. */
typedef struct call_sync {
  pthread_mutex_t m;
  pthread_cond_t c;
  int done, cancelled, refs;
  elemrun *r;
  elemrun_call_fn fn;
  void *arg;
} call_sync;

static void call_sync_unref(call_sync *cs) {
  pthread_mutex_lock(&cs->m);
  int last = --cs->refs == 0;
  pthread_mutex_unlock(&cs->m);
  if (last) {
    pthread_cond_destroy(&cs->c);
    pthread_mutex_destroy(&cs->m);
    free(cs);
  }
}

static void call_sync_run(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  call_sync *cs = arg;
  /* Runs with the lock held: the waiter cannot give up half-way. */
  pthread_mutex_lock(&cs->m);
  if (!cs->cancelled) {
    cs->fn(self, now, out, cs->arg);
    /* Its log lines before the waiter's (run_actions clears `out`). */
    run_actions(cs->r, 0, now);
    cs->done = 1;
    pthread_cond_signal(&cs->c);
  }
  pthread_mutex_unlock(&cs->m);
  call_sync_unref(cs);
}

int elemrun_call_wait(elemrun *r, elemrun_call_fn fn, void *arg,
                      int64_t timeout_ms) {
  if (!r || !fn)
    return IMSEC_ERR_INVAL;
  call_sync *cs = calloc(1, sizeof *cs);
  if (!cs)
    return IMSEC_ERR_NOMEM;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (pthread_mutex_init(&cs->m, NULL) != 0 ||
      pthread_cond_init(&cs->c, &ca) != 0) {
    pthread_condattr_destroy(&ca);
    free(cs);
    return IMSEC_ERR_NOMEM;
  }
  pthread_condattr_destroy(&ca);
  cs->r = r;
  cs->fn = fn;
  cs->arg = arg;
  cs->refs = 2;
  int rc = elemrun_call(r, call_sync_run, cs);
  if (rc != 0) {
    cs->refs = 1;
    call_sync_unref(cs);
    return rc;
  }
  struct timespec end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += (time_t)(timeout_ms / 1000);
  end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (end.tv_nsec >= 1000000000L) {
    end.tv_sec++;
    end.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&cs->m);
  while (!cs->done) {
    if (pthread_cond_timedwait(&cs->c, &cs->m, &end) == ETIMEDOUT &&
        !cs->done) {
      cs->cancelled = 1;
      rc = IMSEC_ERR_TIMEOUT;
      break;
    }
  }
  pthread_mutex_unlock(&cs->m);
  call_sync_unref(cs);
  return rc;
}

void elemrun_set_log_level(elemrun *r, imsec_log_level level) {
  r->out.log_level = level;
  r->cfg.log_level = level;
  atomic_store(&r->log_level, (int)level);
}

const imsec_x509_anchors *elemrun_set_anchors(elemrun *r,
                                              const imsec_x509_anchors *a) {
  const imsec_x509_anchors *old = r->cfg.anchors;
  r->cfg.anchors = a; /* read by cb_up, on this thread */
  return old;
}

imsec_net_tls *elemrun_listener_tls(const elemrun *r, size_t i) {
  return r && i < r->cfg.n_listeners ? r->listeners[i].tls : NULL;
}

imsec_net_tls *elemrun_client_tls(const elemrun *r) {
  return r ? r->client_tls : NULL;
}

int elemrun_start(elemrun *r) {
  if (!r)
    return IMSEC_ERR_INVAL;
  if (r->started)
    return IMSEC_ERR_STATE;
  int rc = imsec_net_start(r->net);
  if (rc != 0)
    return rc;
  r->started = 1;
  if (r->cfg.ops->on_start)
    return elemrun_call(r, start_call, r);
  return 0;
}

/* SIGHUP: the host's reload, on this thread; one line of outcome. */
static void run_reload(elemrun *r) {
  char msg[1024] = "";
  elog(r, IMSEC_LOG_INFO, "SIGHUP: reloading");
  int rc = r->cfg.reload(r->cfg.reload_arg, r, msg, sizeof msg);
  char line[1200];
  if (rc == 0) {
    snprintf(line, sizeof line, "reloaded%s%s", msg[0] ? "; " : "", msg);
    elog(r, IMSEC_LOG_INFO, line);
  } else {
    snprintf(line, sizeof line,
             "reload failed: %s; keeping the running configuration",
             msg[0] ? msg : imsec_strerror(rc));
    elog(r, IMSEC_LOG_ERROR, line);
  }
}

int elemrun_wait(elemrun *r, int64_t timeout_ms) {
  imsec_time_ms end = timeout_ms < 0 ? 0 : elemrun_now() + timeout_ms;
  for (;;) {
    if (atomic_load(&r->stop))
      return 0;
    struct pollfd pf[2] = {{.fd = r->stop_pipe[0], .events = POLLIN},
                           {.fd = r->sig_fd, .events = POLLIN}};
    int wait = -1;
    if (timeout_ms >= 0) {
      imsec_time_ms left = end - elemrun_now();
      if (left <= 0)
        return IMSEC_ERR_TIMEOUT;
      wait = left > INT32_MAX ? INT32_MAX : (int)left;
    }
    int n = poll(pf, r->sig_fd >= 0 ? 2 : 1, wait);
    if (n < 0 && errno != EINTR)
      return IMSEC_ERR_IO;
    if (n > 0 && (pf[0].revents & POLLIN)) {
      char buf[64];
      while (read(r->stop_pipe[0], buf, sizeof buf) > 0) {
      }
    }
    if (n > 0 && r->sig_fd >= 0 && (pf[1].revents & POLLIN)) {
      struct signalfd_siginfo si;
      if (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          run_reload(r);
          continue;
        }
        atomic_store(&r->got_signal, (int)si.ssi_signo);
        atomic_store(&r->stop, 1);
        char line[64];
        snprintf(line, sizeof line, "stopping on %s",
                 si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        elog(r, IMSEC_LOG_INFO, line);
      }
    }
  }
}

int elemrun_run(elemrun *r) {
  int rc = elemrun_start(r);
  if (rc != 0)
    return rc;
  return elemrun_wait(r, -1);
}

void elemrun_stop(elemrun *r) {
  if (r && !atomic_exchange(&r->stop, 1))
    wake(r);
}

int elemrun_signal(const elemrun *r) {
  return r ? atomic_load(&((elemrun *)r)->got_signal) : 0;
}
