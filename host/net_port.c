/*
 * The host's net port (include/imsec/host_net.h): one imsec_net of one
 * thread per loop, one imsec_host per loop. The host core does the
 * element's bookkeeping; this file maps net/ callbacks to imsec_host_*
 * events and the port callbacks to net/ calls.
 *
 * Some net calls answer synchronously (closing an up flow calls on_down at
 * once; a connect that fails at once calls on_down inside
 * imsec_net_connect; imsec_net_post with no delay on its own loop runs at
 * once), so events are queued while a host call is under way and handed to
 * the host one after the other: the host is never re-entered.
 */
#define _GNU_SOURCE
#include "imsec/host_net.h"

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

#include "host/net_psk.h"
#include "imsec/map.h"
#include "imsec/obs.h"

#define MAX_CHAIN 8
#define MAX_LOOPS 64

typedef struct inst inst;

/* What the port knows of a net flow: its net object (for keep and the
 * chain), its ends (for ladders), and the CONNECT tags waiting for it to
 * come up (RFC 5923 reuse can attach several before it does): the host is
 * told the flow is up once per tag; down once (with the first tag), or, for
 * a flow that never came up, once per tag with flow 0. */
typedef union pf_addr {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} pf_addr;

typedef struct pflow {
  uint64_t id;
  uint64_t *tags;
  size_t ntags, cap;
  int up;
  int inbound;
  int refused; /* the host said no in flow_up: no more flow_up for it */
  int in_table;
  imsec_net_flow *nf; /* set while up; valid while in the table */
  /* The ends as socket addresses, made into imsec_addr only when asked
   * (flow up, ladder): two imsec_addr are over 500 octets, a tenth of
   * what a registered idle UE costs the P-CSCF beside OpenSSL. */
  imsec_tp tp;
  pf_addr local, peer;
} pflow;

typedef enum ev_kind {
  EV_START = 1,
  EV_UP,       /* net's on_up arrived while busy: flow id */
  EV_REUSE_UP, /* a CONNECT reused a flow that is up: flow, tag */
  EV_MSG,
  EV_REFUSED,
  EV_DOWN,         /* rec owned */
  EV_CONNECT_FAIL, /* tag, reason */
  EV_EXPIRE,
  EV_POLL,
  EV_CALL,
} ev_kind;

typedef struct call_sync call_sync;

typedef struct event {
  ev_kind kind;
  uint64_t flow, tag;
  int reason;
  pflow *rec;
  uint8_t *msg; /* owned copy */
  size_t len;
  imsec_host_call_fn fn;
  void *arg;
  call_sync *cs;
  struct event *next;
} event;

/* One imsec_net_post in flight: freed when it fires or at del (the net
 * drops what is still pending when it stops). */
typedef struct posted {
  inst *in;
  int kind; /* P_TIMER, P_CALL, P_START */
  imsec_time_ms at;
  imsec_host_call_fn fn;
  void *arg;
  call_sync *cs;
  struct posted *prev, *next;
} posted;

enum { P_TIMER = 1, P_CALL, P_START };

struct inst {
  imsec_hostnet *r;
  unsigned idx;
  imsec_net *net;
  imsec_host *host;
  void *self;
  imsec_map flows; /* id -> pflow (loop thread) */

  event *q_head, *q_tail; /* loop thread */
  int busy;
  int host_started; /* imsec_host_start ran (loop thread) */

  imsec_time_ms deadline; /* what the host armed (0: none) */
  posted *posted;         /* under plock */
  pthread_mutex_t plock;
  atomic_int wake_pending;
  pthread_t thread;
  atomic_int thread_known;
  int done;
  uint64_t refusing; /* the flow inside net's on_refused, or 0 */
};

typedef struct profile {
  char name[32];
  imsec_net_tls *tls;
  int defer_verify, no_resume, dtls;
  int known; /* the three above are known */
} profile;

struct imsec_hostnet {
  imsec_hostnet_config cfg;
  char name[64];
  imsec_hostnet_listener *listeners;
  uint16_t *ports;
  imsec_net_tls **own_tls; /* contexts we made */
  size_t n_own_tls;
  profile *profiles; /* [0] the default client context */
  size_t n_profiles;
  inst *loops;
  unsigned nloops;
  int started;
  atomic_int closing; /* del: the element's actions other than LOG dropped */
  atomic_int n_done;
  atomic_int stop;
  atomic_int got_signal;
  atomic_int log_level;
  /* Mode M3: the keys PSK-taking listeners look up (host/net_psk.c). */
  hn_psk_table *psk;
  atomic_uint psk_refused; /* element keys refused by a full table */
  int stop_pipe[2];
  int sig_fd;
  /* cfg.sources as socket addresses (port 0), used in turn by CONNECTs of
   * every loop. */
  struct sockaddr_storage *sources;
  size_t n_sources;
  atomic_uint next_source;
  /* Operations: reloads from SIGHUP and from the control socket one at a
   * time; "STOPPING=1" told once. */
  pthread_mutex_t reload_lock;
  atomic_int stopping_told;
};

/* ---------------------------------------------------------------- clock */

imsec_time_ms imsec_hostnet_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (imsec_time_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- logging */

int imsec_hostnet_log_level_parse(const char *s, imsec_log_level *out) {
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

/* A line to cfg.log_fn (the operations layer's logger), as an event. */
static void log_to_fn(imsec_hostnet *r, imsec_log_level level, const char *text,
                      uint64_t flow, const char *call_id) {
  imsec_log_event ev = {.elem = r->name,
                        .level = level,
                        .text = text,
                        .flow = flow,
                        .call_id = call_id};
  r->cfg.log_fn(r->cfg.log_user, &ev);
}

/* The port's own lines: "NAME LEVEL: text" on stderr, or an event to
 * cfg.log_fn when set. */
static void elog(imsec_hostnet *r, imsec_log_level level, const char *text) {
  if ((int)level > atomic_load(&r->log_level))
    return;
  if (r->cfg.log_fn) {
    log_to_fn(r, level, text, 0, NULL);
    return;
  }
  char line[2048];
  int n = snprintf(line, sizeof line, "%s %s: %s\n", r->name,
                   imsec_log_level_name(level), text);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  write_line(line, (size_t)n);
}

/* net/'s lines: "NAME net LEVEL: line" on stderr, or an event to
 * cfg.log_fn, "net: line", naming the flow of a line about one ("flow N
 * TRANSPORT PEER: ..."). */
static void net_log(void *user, imsec_net_log_level level, const char *line) {
  imsec_hostnet *r = user;
  if (r->cfg.log_fn) {
    uint64_t flow = 0;
    if (strncmp(line, "flow ", 5) == 0) {
      for (const char *p = line + 5; *p >= '0' && *p <= '9'; p++)
        flow = flow * 10 + (uint64_t)(*p - '0');
    }
    char text[1024];
    snprintf(text, sizeof text, "net: %s", line);
    log_to_fn(r, (imsec_log_level)level, text, flow, NULL);
    return;
  }
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%s net %s: %s\n", r->name,
                   imsec_log_level_name((imsec_log_level)level), line);
  if (n > 0)
    write_line(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---------------------------------------------------------------- ladder */

static void pf_to_addr(const pf_addr *a, imsec_tp tp, imsec_addr *out);

static void ladder(inst *in, int out, uint64_t flow, const uint8_t *msg,
                   size_t len) {
  imsec_hostnet *r = in->r;
  if (!r->cfg.ladder && !r->cfg.ladder_fn)
    return;
  const pflow *fr = imsec_map_get(&in->flows, flow);
  imsec_time_ms now = imsec_hostnet_now();
  imsec_addr fl, fp;
  if (fr) {
    pf_to_addr(&fr->local, fr->tp, &fl);
    pf_to_addr(&fr->peer, fr->tp, &fp);
  }
  if (r->cfg.ladder_fn) {
    imsec_hostnet_ladder_ev ev = {
        .elem = r->name,
        .out = out,
        .flow = flow,
        .local = fr ? &fl : NULL,
        .peer = fr ? &fp : NULL,
        .msg = msg,
        .len = len,
        .now = now,
    };
    r->cfg.ladder_fn(r->cfg.ladder_user, &ev);
    return;
  }
  char peer[300] = "?";
  if (fr && imsec_addr_format(&fp, peer, sizeof peer) < 0)
    snprintf(peer, sizeof peer, "?");
  size_t first = 0;
  while (first < len && msg[first] != '\r' && msg[first] != '\n')
    first++;
  if (r->cfg.ladder == IMSEC_HOSTNET_LADDER_MACHINE) {
    char local[300] = "?";
    if (fr && imsec_addr_format(&fl, local, sizeof local) < 0)
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

/* ---------------------------------------------------------------- flows */

static void flow_free(pflow *f) {
  if (!f)
    return;
  free(f->tags);
  free(f);
}

static int flow_add_tag(pflow *f, uint64_t tag) {
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

static void sockaddr_to_addr(const struct sockaddr *sa, imsec_tp tp,
                             imsec_addr *out) {
  memset(out, 0, sizeof *out);
  out->tp = tp;
  if (!sa)
    return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a4->sin_addr, out->host, sizeof out->host);
    out->port = ntohs(a4->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a6->sin6_addr, out->host, sizeof out->host);
    out->port = ntohs(a6->sin6_port);
  }
}

static void pf_set(pf_addr *a, const struct sockaddr *sa) {
  memset(a, 0, sizeof *a);
  if (sa && sa->sa_family == AF_INET)
    a->in4 = *(const struct sockaddr_in *)sa;
  else if (sa && sa->sa_family == AF_INET6)
    a->in6 = *(const struct sockaddr_in6 *)sa;
}

static void pf_to_addr(const pf_addr *a, imsec_tp tp, imsec_addr *out) {
  sockaddr_to_addr(a->sa.sa_family ? &a->sa : NULL, tp, out);
}

/* An IP literal, or a name resolved once (blocking; daemons resolve their
 * configured peers, tests use literals). */
static int addr_to_sockaddr(const imsec_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, a->host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(a->port);
    return 0;
  }
  if (inet_pton(AF_INET6, a->host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(a->port);
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
    a4->sin_port = htons(a->port);
  else
    a6->sin6_port = htons(a->port);
  return 0;
}

/* A source address: an IP literal only (no name look-up per CONNECT, nor
 * at start for something meant as an address), port 0 (the kernel picks
 * one per connection). */
static int source_addr(const imsec_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, a->host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, a->host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    return 0;
  }
  return IMSEC_ERR_INVAL;
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

/* The facts of an up flow and the chain its TLS peer sent (the host makes
 * the peer facts from it); borrowed from the net flow for the call. */
static size_t flow_facts(const pflow *f, imsec_flow_info *info,
                         imsec_bytes *chain) {
  imsec_net_flow *nf = f->nf;
  memset(info, 0, sizeof *info);
  info->tp = f->tp;
  info->inbound = f->inbound;
  pf_to_addr(&f->local, f->tp, &info->local);
  pf_to_addr(&f->peer, f->tp, &info->peer);
  info->tls_version = imsec_net_flow_tls_version(nf);
  info->resumed = imsec_net_flow_resumed(nf);
  info->psk = imsec_net_flow_psk(nf);
  info->psk_identity = info->psk ? imsec_net_flow_psk_identity(nf) : NULL;
  if (info->tp != IMSEC_TP_TLS && info->tp != IMSEC_TP_DTLS)
    return 0;
  int n = imsec_net_flow_peer_chain(nf, chain, MAX_CHAIN);
  if (n <= 0)
    return 0;
  return (size_t)(n < MAX_CHAIN ? n : MAX_CHAIN);
}

/* ---------------------------------------------------------------- events */

static void wake_waiter(imsec_hostnet *r) {
  char b = 1;
  ssize_t w = write(r->stop_pipe[1], &b, 1);
  (void)w;
}

struct call_sync {
  pthread_mutex_t m;
  pthread_cond_t c;
  int done, cancelled, refs;
  imsec_host_call_fn fn;
  void *arg;
};

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

/* Tell the host the flow is up, for each tag waiting on it (an inbound
 * flow: tag 0). Returns the first refusal, or 0. */
static int deliver_up(inst *in, pflow *f, uint64_t only_tag, int one) {
  imsec_flow_info info;
  imsec_bytes chain[MAX_CHAIN];
  size_t n = flow_facts(f, &info, chain);
  int verdict = 0;
  if (one) {
    verdict = imsec_host_flow_up(in->host, f->id, only_tag, &info,
                                 n ? chain : NULL, n);
  } else if (f->inbound || f->ntags == 0) {
    verdict =
        imsec_host_flow_up(in->host, f->id, 0, &info, n ? chain : NULL, n);
  } else {
    for (size_t i = 0; i < f->ntags && verdict >= 0; i++)
      verdict = imsec_host_flow_up(in->host, f->id, f->tags[i], &info,
                                   n ? chain : NULL, n);
  }
  if (verdict < 0)
    f->refused = 1;
  /* The host made its facts from the chain during the calls above: the
   * net flow's DER copy of it (two or three certificates) need not stay
   * for the flow's life. A later CONNECT reusing the flow makes it again. */
  imsec_net_flow_drop_chain(f->nf);
  return verdict;
}

/* Hand one event to the host (which carries out the element's actions). */
static int deliver(inst *in, event *e) {
  int verdict = 0;
  /* The listeners accept from the moment the loop runs, and the start is
   * a post behind them: an element hears of its start before anything a
   * peer sent (an S-CSCF must have asked for its registrations before it
   * answers a request for one), whichever arrived first. */
  if (!in->host_started &&
      (e->kind == EV_START ||
       (e->kind != EV_CALL && e->kind != EV_EXPIRE && e->kind != EV_POLL))) {
    in->host_started = 1;
    imsec_host_start(in->host);
  }
  switch (e->kind) {
  case EV_START:
    break;
  case EV_UP: {
    pflow *f = imsec_map_get(&in->flows, e->flow);
    if (f && f->up && f->nf && !f->refused)
      verdict = deliver_up(in, f, 0, 0);
    break;
  }
  case EV_REUSE_UP: {
    pflow *f = imsec_map_get(&in->flows, e->flow);
    if (!f || !f->up || !f->nf || f->refused) {
      /* Gone meanwhile: the element hears of its tag as a failed connect. */
      imsec_host_flow_down(in->host, 0, e->tag, IMSEC_ERR_CLOSED);
      break;
    }
    verdict = deliver_up(in, f, e->tag, 1);
    break;
  }
  case EV_MSG:
    imsec_host_message(in->host, e->flow, e->msg, e->len);
    break;
  case EV_REFUSED:
    imsec_host_refused(in->host, e->flow, e->reason, e->msg, e->len);
    break;
  case EV_DOWN: {
    pflow *f = e->rec;
    /* A flow the element refused in flow up is reported too, as net/
     * closes it: the host has forgotten it by then and passes it on, and
     * the elements count on it (the S-CSCF fails the requests it queued
     * for a peer it refused). */
    if (f->up) {
      /* Once per flow: the host forgets it at the first (inbound: tag 0;
       * else the tag it first came up for). */
      imsec_host_flow_down(in->host, e->flow, f->ntags ? f->tags[0] : 0,
                           e->reason);
    } else {
      /* A flow that never came up (a failed connect) is reported as flow
       * 0: the element never learnt its id. */
      for (size_t i = 0; i < f->ntags; i++)
        imsec_host_flow_down(in->host, 0, f->tags[i], e->reason);
    }
    break;
  }
  case EV_CONNECT_FAIL:
    imsec_host_flow_down(in->host, 0, e->tag, e->reason);
    break;
  case EV_EXPIRE:
    imsec_host_expire(in->host);
    break;
  case EV_POLL:
    imsec_host_poll(in->host);
    break;
  case EV_CALL:
    if (e->cs) {
      /* Held while the call runs and its actions are carried out: the
       * waiter cannot give up half-way, and the call's log lines come
       * before the waiter's. */
      pthread_mutex_lock(&e->cs->m);
      if (!e->cs->cancelled) {
        imsec_host_call(in->host, e->cs->fn, e->cs->arg);
        e->cs->done = 1;
        pthread_cond_signal(&e->cs->c);
      }
      pthread_mutex_unlock(&e->cs->m);
    } else {
      imsec_host_call(in->host, e->fn, e->arg);
    }
    break;
  }
  if (!in->done && in->r->cfg.ops->done && imsec_host_done(in->host)) {
    in->done = 1;
    imsec_hostnet *r = in->r;
    if ((unsigned)atomic_fetch_add(&r->n_done, 1) + 1 == r->nloops &&
        !atomic_exchange(&r->stop, 1))
      wake_waiter(r);
  }
  return verdict;
}

static void event_free(event *e) {
  if (e->kind == EV_DOWN)
    flow_free(e->rec);
  if (e->cs)
    call_sync_unref(e->cs);
  if (e->msg) {
    imsec_wipe(e->msg, e->len);
    free(e->msg);
  }
  free(e);
}

static void enqueue(inst *in, event *e) {
  e->next = NULL;
  if (in->q_tail)
    in->q_tail->next = e;
  else
    in->q_head = e;
  in->q_tail = e;
}

/* Deliver queued events until none is left. */
static void drain(inst *in) {
  in->busy = 1;
  while (in->q_head) {
    event *e = in->q_head;
    in->q_head = e->next;
    if (!in->q_head)
      in->q_tail = NULL;
    /* A refusal of a flow that came up while busy: net is told here. */
    if (deliver(in, e) < 0)
      (void)imsec_net_close(in->net, e->flow);
    event_free(e);
  }
  in->busy = 0;
}

/* Deliver now if idle, else queue. Takes ownership of `e`. */
static void submit(inst *in, event *e) {
  if (in->busy) {
    enqueue(in, e);
    return;
  }
  in->busy = 1;
  (void)deliver(in, e);
  event_free(e);
  drain(in);
}

static event *event_new(ev_kind kind) {
  event *e = calloc(1, sizeof *e);
  if (e)
    e->kind = kind;
  return e;
}

/* ---------------------------------------------------------------- posts */

static void posted_link(inst *in, posted *p) {
  pthread_mutex_lock(&in->plock);
  p->prev = NULL;
  p->next = in->posted;
  if (in->posted)
    in->posted->prev = p;
  in->posted = p;
  pthread_mutex_unlock(&in->plock);
}

static void posted_unlink(inst *in, posted *p) {
  pthread_mutex_lock(&in->plock);
  if (p->prev)
    p->prev->next = p->next;
  else if (in->posted == p)
    in->posted = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
  pthread_mutex_unlock(&in->plock);
}

static int on_loop(inst *in) {
  return atomic_load(&in->thread_known) &&
         pthread_equal(pthread_self(), in->thread);
}

static void post_timer(inst *in, imsec_time_ms at);

/* A timer wake-up is pending at or before `at`. */
static int timer_pending_by(inst *in, imsec_time_ms at) {
  int found = 0;
  pthread_mutex_lock(&in->plock);
  for (posted *p = in->posted; p && !found; p = p->next)
    found = p->kind == P_TIMER && p->at <= at;
  pthread_mutex_unlock(&in->plock);
  return found;
}

static void on_posted(void *arg) {
  posted *p = arg;
  inst *in = p->in;
  posted_unlink(in, p);
  event *e = NULL;
  switch (p->kind) {
  case P_START:
    in->thread = pthread_self();
    atomic_store(&in->thread_known, 1);
    e = event_new(EV_START);
    break;
  case P_CALL:
    if ((e = event_new(EV_CALL))) {
      e->fn = p->fn;
      e->arg = p->arg;
      e->cs = p->cs;
    } else if (p->cs) {
      call_sync_unref(p->cs);
    }
    break;
  case P_TIMER:
    if (in->deadline == 0)
      break;
    if (imsec_hostnet_now() >= in->deadline) {
      in->deadline = 0;
      e = event_new(EV_EXPIRE);
    } else if (!timer_pending_by(in, in->deadline)) {
      /* Fired early (the loop's clock) or for an older, later arming. */
      post_timer(in, in->deadline);
    }
    break;
  }
  free(p);
  if (e)
    submit(in, e);
}

static int post(inst *in, posted *p, uint32_t delay) {
  p->in = in;
  posted_link(in, p);
  int rc = imsec_net_post(in->net, 0, delay, on_posted, p);
  if (rc != 0) {
    posted_unlink(in, p);
    free(p);
  }
  return rc;
}

static void post_timer(inst *in, imsec_time_ms at) {
  posted *p = calloc(1, sizeof *p);
  if (!p) {
    elog(in->r, IMSEC_LOG_ERROR, "out of memory: a timer is lost");
    return;
  }
  p->kind = P_TIMER;
  p->at = at;
  int64_t delay = at - imsec_hostnet_now();
  /* At least 1 ms: a zero delay would run inside this host call. */
  if (delay < 1)
    delay = 1;
  if (delay > UINT32_MAX)
    delay = UINT32_MAX;
  if (post(in, p, (uint32_t)delay) != 0 && !atomic_load(&in->r->closing))
    elog(in->r, IMSEC_LOG_ERROR, "cannot arm a timer: it is lost");
}

/* ---------------------------------------------------------- port callbacks */

static int port_send(void *ctx, uint64_t flow, const uint8_t *data,
                     size_t len) {
  inst *in = ctx;
  if (atomic_load(&in->r->closing))
    return 0; /* shutting down: what the element says goes nowhere */
  return imsec_net_send(in->net, flow, data, len);
}

static void fail_connect(inst *in, uint64_t tag, int reason, const char *why) {
  char line[512];
  snprintf(line, sizeof line, "connect failed: %s", why);
  elog(in->r, IMSEC_LOG_WARN, line);
  /* The element learns it through on_flow_down with flow 0, after the
   * current call (the port contract: never inside connect). */
  event *e = event_new(EV_CONNECT_FAIL);
  if (!e)
    return;
  e->tag = tag;
  e->reason = reason;
  enqueue(in, e);
}

/* The client context a CONNECT's profile names, or NULL with *why set. */
static imsec_net_tls *pick_tls(inst *in, const imsec_tls_profile *tls,
                               int dtls_tp, int *code, char *why, size_t cap) {
  imsec_hostnet *r = in->r;
  const char *name = tls ? tls->profile : "";
  const profile *pr = NULL;
  for (size_t i = 0; i < r->n_profiles && !pr; i++)
    if (strcmp(r->profiles[i].name, name) == 0) /* no secret: a name */
      pr = &r->profiles[i];
  if (!pr || !pr->tls) {
    *code = IMSEC_ERR_CONFIG;
    if (name[0])
      snprintf(why, cap, "no TLS profile '%s'", name);
    else
      snprintf(why, cap, "no client TLS context");
    return NULL;
  }
  *code = IMSEC_ERR_UNSUPPORTED;
  if (tls && tls->dtls && !dtls_tp) {
    snprintf(why, cap, "profile '%s': DTLS asked on a stream address", name);
    return NULL;
  }
  if (!pr->known) /* a context given without saying how it was made */
    return pr->tls;
  if ((dtls_tp != 0) != (pr->dtls != 0)) {
    snprintf(why, cap, "profile '%s': DTLS does not match its context", name);
    return NULL;
  }
  /* A connection with its own PSK verifies no certificate (net/ refuses
   * any) and resumes nothing, whatever its context does. */
  if (tls && tls->psk_len)
    return pr->tls;
  if (tls && ((tls->verify == IMSEC_TLS_VERIFY_DEFER && !pr->defer_verify) ||
              (tls->verify == IMSEC_TLS_VERIFY_REQUIRE && pr->defer_verify))) {
    snprintf(why, cap,
             "profile '%s': verification mode differs from its context", name);
    return NULL;
  }
  if (tls && tls->no_resume && !pr->no_resume) {
    snprintf(why, cap, "profile '%s': its context resumes sessions", name);
    return NULL;
  }
  return pr->tls;
}

/* The next configured source address of the peer's family, or NULL (the
 * kernel picks). One counter for every loop: the flows of a generator
 * spread evenly however its loops share them, so each source's port range
 * carries its part of the connections to one server. */
static const struct sockaddr *pick_source(imsec_hostnet *r, int family) {
  if (!r->n_sources)
    return NULL;
  for (size_t tries = 0; tries < r->n_sources; tries++) {
    size_t i = atomic_fetch_add(&r->next_source, 1) % r->n_sources;
    if (r->sources[i].ss_family == family)
      return (const struct sockaddr *)&r->sources[i];
  }
  return NULL;
}

static void port_connect(void *ctx, uint64_t tag, const imsec_addr *addr,
                         const char *server_name,
                         const imsec_tls_profile *tls) {
  inst *in = ctx;
  imsec_hostnet *r = in->r;
  if (atomic_load(&r->closing))
    return;
  struct sockaddr_storage ss;
  if (addr_to_sockaddr(addr, &ss) != 0) {
    fail_connect(in, tag, IMSEC_ERR_INVAL, addr->host);
    return;
  }
  imsec_net_transport tr = tp_to_net(addr->tp);
  int secure = tr == IMSEC_NET_TLS || tr == IMSEC_NET_DTLS;
  imsec_net_tls *ctx_tls = NULL;
  if (secure) {
    char why[256];
    int code = 0;
    ctx_tls = pick_tls(in, tls, tr == IMSEC_NET_DTLS, &code, why, sizeof why);
    if (!ctx_tls) {
      fail_connect(in, tag, code, why);
      return;
    }
  } else if (tls && (tls->profile[0] || tls->psk_len || tls->dtls)) {
    fail_connect(in, tag, IMSEC_ERR_UNSUPPORTED,
                 "a TLS profile on a connection without TLS");
    return;
  }
  pflow *f = calloc(1, sizeof *f);
  if (!f || flow_add_tag(f, tag) != 0) {
    flow_free(f);
    fail_connect(in, tag, IMSEC_ERR_NOMEM, "out of memory");
    return;
  }
  f->tp = addr->tp;
  pf_set(&f->peer, (const struct sockaddr *)&ss);
  /* Mode M3: the profile's PSK is this connection's (net/ copies it and
   * wipes it with the flow). Such a flow is nobody else's: no RFC 5923
   * reuse either way. */
  int has_psk = secure && tls && tls->psk_len > 0;
  imsec_net_connect_opts o = {
      .transport = tr,
      .peer = (const struct sockaddr *)&ss,
      .local = pick_source(r, ss.ss_family),
      .tls = ctx_tls,
      .server_name = server_name && server_name[0] ? server_name : NULL,
      .reuse = !r->cfg.no_reuse && !has_psk,
      .user = f,
      .psk_identity = has_psk ? tls->psk_identity : NULL,
      .psk_key = has_psk ? tls->psk : NULL,
      .psk_key_len = has_psk ? tls->psk_len : 0,
  };
  uint64_t id = 0;
  int rc = imsec_net_connect(in->net, &o, &id);
  if (rc != 0) {
    flow_free(f);
    fail_connect(in, tag, rc, imsec_strerror(rc));
    return;
  }
  pflow *old = imsec_map_get(&in->flows, id);
  if (old) {
    /* RFC 5923 reuse of a flow the port already has. */
    flow_free(f);
    if (old->up) {
      event *e = event_new(EV_REUSE_UP);
      if (e) {
        e->flow = id;
        e->tag = tag;
        enqueue(in, e);
      }
    } else if (flow_add_tag(old, tag) != 0) {
      fail_connect(in, tag, IMSEC_ERR_NOMEM, "out of memory");
    }
    return;
  }
  if (f->id == UINT64_MAX) {
    /* Went down inside imsec_net_connect: the queued EV_DOWN owns it. */
    return;
  }
  f->id = id;
  if (imsec_map_put(&in->flows, id, f, NULL) != 0) {
    /* Cannot track it: close it; its on_down tells the element. */
    elog(r, IMSEC_LOG_ERROR, "out of memory: a new flow is closed");
    (void)imsec_net_close(in->net, id);
    return;
  }
  f->in_table = 1;
}

/* The element's PSK action (mode M3): into the port's table, which every
 * loop's PSK-taking listeners read. */
static void port_psk(void *ctx, const char *identity, const uint8_t *key,
                     size_t len, imsec_time_ms expires_at) {
  inst *in = ctx;
  imsec_hostnet *r = in->r;
  int rc =
      hn_psk_put(r->psk, identity, key, len, expires_at, imsec_hostnet_now());
  if (rc == IMSEC_ERR_LIMIT) {
    /* One line per 1000 refusals: a registration storm must not become a
     * log storm. */
    unsigned n = atomic_fetch_add(&r->psk_refused, 1);
    if (n % 1000 == 0) {
      char line[160];
      snprintf(line, sizeof line,
               "PSK table full (%u keys): a key was refused (%u so far)",
               (unsigned)HN_PSK_MAX_ENTRIES, n + 1);
      elog(r, IMSEC_LOG_WARN, line);
    }
  } else if (rc != 0) {
    char line[200];
    snprintf(line, sizeof line, "a PSK was not installed: %s",
             imsec_strerror(rc));
    elog(r, IMSEC_LOG_WARN, line);
  } else if (atomic_load(&r->log_level) >= (int)IMSEC_LOG_DEBUG) {
    /* The identity only: keys are never logged. */
    char line[256];
    if (!len)
      snprintf(line, sizeof line, "PSK removed: %s", identity);
    else if (expires_at)
      snprintf(line, sizeof line, "PSK installed: %s, for %lld ms", identity,
               (long long)(expires_at - imsec_hostnet_now()));
    else
      snprintf(line, sizeof line, "PSK installed: %s", identity);
    elog(r, IMSEC_LOG_DEBUG, line);
  }
}

static void port_close(void *ctx, uint64_t flow) {
  inst *in = ctx;
  /* The host closes a refused flow after the answer; net does that itself
   * when on_refused returns, lingering so the answer is not lost to a TCP
   * reset (include/imsec/net.h): closing it here would cut that short. */
  if (!atomic_load(&in->r->closing) && flow != in->refusing)
    (void)imsec_net_close(in->net, flow);
}

static void port_keep(void *ctx, uint64_t flow) {
  inst *in = ctx;
  /* A record in the table is a flow that is up or connecting; its net
   * object lives until on_down, which removes the record first. */
  pflow *f = imsec_map_get(&in->flows, flow);
  if (f && f->nf)
    imsec_net_flow_keep(f->nf);
}

/* One pending wake-up per host at the earliest deadline: re-arming later
 * leaves the pending one (it re-posts for the new deadline when it fires
 * early), re-arming earlier adds one. */
static void port_arm(void *ctx, imsec_time_ms at) {
  inst *in = ctx;
  in->deadline = at;
  if (at == 0 || atomic_load(&in->r->closing) || timer_pending_by(in, at))
    return;
  post_timer(in, at);
}

static void port_log(void *ctx, imsec_log_level level, const char *line) {
  inst *in = ctx;
  elog(in->r, level, line);
}

/* The host's and the element's lines as events (set only with
 * cfg.log_fn): with the flow and Call-ID of the event they were written
 * in. */
static void port_log_event(void *ctx, const imsec_log_event *ev) {
  inst *in = ctx;
  if ((int)ev->level > atomic_load(&in->r->log_level))
    return;
  log_to_fn(in->r, ev->level, ev->text, ev->flow, ev->call_id);
}

static imsec_time_ms port_now(void *ctx) {
  (void)ctx;
  return imsec_hostnet_now();
}

static void on_wake(void *arg) {
  inst *in = arg;
  atomic_store(&in->wake_pending, 0);
  event *e = event_new(EV_POLL);
  if (e)
    submit(in, e);
}

/* Any thread: a service reply is queued in the host. */
static void port_wake(void *ctx) {
  inst *in = ctx;
  if (atomic_exchange(&in->wake_pending, 1))
    return;
  /* On the loop itself (a store answering inside submit) a 0 delay would
   * run inside the current host call. */
  uint32_t delay = on_loop(in) ? 1 : 0;
  if (imsec_net_post(in->net, 0, delay, on_wake, in) != 0)
    atomic_store(&in->wake_pending, 0);
}

static void port_trace(void *ctx, int out, uint64_t flow, const uint8_t *msg,
                       size_t len) {
  ladder(ctx, out, flow, msg, len);
}

/* ---------------------------------------------------------------- net cbs */

static int cb_up(void *user, imsec_net_flow *nf) {
  inst *in = user;
  pflow *f = imsec_net_flow_user(nf);
  uint64_t id = imsec_net_flow_id(nf);
  if (!f) {
    f = calloc(1, sizeof *f);
    if (!f)
      return IMSEC_ERR_NOMEM;
    f->id = id;
    if (imsec_map_put(&in->flows, id, f, NULL) != 0) {
      free(f);
      return IMSEC_ERR_NOMEM;
    }
    f->in_table = 1;
    imsec_net_flow_set_user(nf, f);
  }
  f->inbound = imsec_net_flow_is_server(nf);
  imsec_tp tp = net_to_tp(imsec_net_flow_transport(nf));
  f->tp = tp;
  pf_set(&f->local, imsec_net_flow_local(nf));
  pf_set(&f->peer, imsec_net_flow_peer(nf));
  f->nf = nf;
  f->up = 1;
  event *e = event_new(EV_UP);
  if (!e)
    return IMSEC_ERR_NOMEM;
  e->flow = id;
  if (in->busy) {
    enqueue(in, e);
    return 0;
  }
  in->busy = 1;
  int v = deliver(in, e);
  event_free(e);
  drain(in);
  return v;
}

/* submit() for an event that carries net's octets: delivered in place
 * (net owns them until the callback returns), or, when busy (only when a
 * net call answered synchronously), queued with a copy. */
static void submit_octets(inst *in, event *e, const uint8_t *p, size_t len) {
  if (in->busy) {
    e->msg = malloc(len ? len : 1);
    if (!e->msg) {
      free(e);
      return;
    }
    if (len)
      memcpy(e->msg, p, len);
    e->len = len;
    enqueue(in, e);
    return;
  }
  e->msg = (uint8_t *)p;
  e->len = len;
  in->busy = 1;
  (void)deliver(in, e);
  e->msg = NULL; /* net's */
  event_free(e);
  drain(in);
}

static void cb_message(void *user, imsec_net_flow *nf, const uint8_t *msg,
                       size_t len) {
  inst *in = user;
  event *e = event_new(EV_MSG);
  if (!e)
    return;
  e->flow = imsec_net_flow_id(nf);
  submit_octets(in, e, msg, len);
}

/* net's on_refused: net closes the flow when this returns, after the
 * answer (sent from here unless busy) has left. */
static void cb_refused(void *user, imsec_net_flow *nf, int reason,
                       const uint8_t *head, size_t len) {
  inst *in = user;
  event *e = event_new(EV_REFUSED);
  if (!e)
    return;
  e->flow = imsec_net_flow_id(nf);
  e->reason = reason;
  in->refusing = e->flow;
  submit_octets(in, e, head, len);
  in->refusing = 0;
}

static void cb_down(void *user, imsec_net_flow *nf, int reason) {
  inst *in = user;
  pflow *f = imsec_net_flow_user(nf);
  if (!f)
    return;
  imsec_net_flow_set_user(nf, NULL);
  f->nf = NULL;
  if (f->in_table) {
    (void)imsec_map_del(&in->flows, f->id);
    f->in_table = 0;
  } else if (f->id == 0) {
    f->id = UINT64_MAX; /* inside imsec_net_connect: port_connect sees it */
  }
  event *e = event_new(EV_DOWN);
  if (!e) {
    if (f->id != UINT64_MAX)
      flow_free(f);
    return;
  }
  e->flow = imsec_net_flow_id(nf);
  e->rec = f;
  e->reason = reason;
  /* During del the element is told too; the port then drops its actions
   * other than LOG. */
  submit(in, e);
}

/* ---------------------------------------------------------------- life */

static int make_tls(imsec_hostnet *r, const imsec_net_tls_config *cfg,
                    int server, imsec_net_tls **out, char *err, size_t errcap,
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

/* A client profile: the given context, or one made from its config. */
static int make_profile(imsec_hostnet *r, profile *p, const char *name,
                        imsec_net_tls *tls, const imsec_net_tls_config *cfg,
                        int defer, int no_resume, int dtls, char *err,
                        size_t errcap) {
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  p->known = 1;
  if (tls) {
    p->tls = tls;
    p->defer_verify = defer;
    p->no_resume = no_resume;
    p->dtls = dtls;
    return 0;
  }
  if (!cfg)
    return 0;
  p->defer_verify = cfg->defer_verify;
  p->no_resume = cfg->no_resume;
  p->dtls = cfg->dtls;
  return make_tls(r, cfg, 0, &p->tls, err, errcap,
                  p->name[0] ? p->name : "client");
}

static const imsec_host_port port_template = {
    .send = port_send,
    .connect = port_connect,
    .close = port_close,
    .keep = port_keep,
    .arm = port_arm,
    .log = port_log,
    .now = port_now,
    .wake = port_wake,
    .trace = port_trace,
    .psk = port_psk,
};

static void inst_free(inst *in) {
  /* The net is gone: posted calls it dropped are ours. */
  while (in->posted) {
    posted *p = in->posted;
    in->posted = p->next;
    if (p->cs)
      call_sync_unref(p->cs);
    free(p);
  }
  while (in->q_head) {
    event *e = in->q_head;
    in->q_head = e->next;
    event_free(e);
  }
  size_t it = 0;
  for (imsec_map_slot *sl; (sl = imsec_map_next(&in->flows, &it));)
    flow_free(sl->val);
  imsec_map_free(&in->flows);
  imsec_host_del(in->host);
  pthread_mutex_destroy(&in->plock);
}

static int inst_init(imsec_hostnet *r, inst *in, unsigned idx, char *err,
                     size_t errcap) {
  in->r = r;
  in->idx = idx;
  imsec_map_init_u64(&in->flows);
  if (pthread_mutex_init(&in->plock, NULL) != 0)
    return IMSEC_ERR_NOMEM;
  int rc = 0;
  in->self = r->cfg.self;
  if (r->cfg.factory && (r->nloops > 1 || !in->self)) {
    rc = r->cfg.factory(r->cfg.factory_arg, idx, &in->self);
    if (rc != 0) {
      if (err)
        snprintf(err, errcap, "%s: element of loop %u: %s", r->name, idx,
                 imsec_strerror(rc));
      return rc;
    }
  }
  imsec_host_config hc = {
      /* No prefix from the host: the port writes "NAME LEVEL: " itself. */
      .name = "",
      .ops = r->cfg.ops,
      .self = in->self,
      .svc = r->cfg.svc,
      .log_level = r->cfg.log_level,
      .anchors = r->cfg.anchors,
      .cert_time = r->cfg.cert_time,
  };
  imsec_host_port hp = port_template;
  hp.ctx = in;
  if (r->cfg.log_fn)
    hp.log_event = port_log_event;
  rc = imsec_host_new(&in->host, &hc, &hp);
  if (rc != 0) {
    if (err)
      snprintf(err, errcap, "%s: host: %s", r->name, imsec_strerror(rc));
    return rc;
  }
  imsec_net_config nc;
  memset(&nc, 0, sizeof nc);
  nc.threads = 1;
  nc.limits = r->cfg.limits;
  nc.handler.on_up = cb_up;
  nc.handler.on_message = cb_message;
  nc.handler.on_down = cb_down;
  nc.handler.on_refused = cb_refused;
  nc.handler.user = in;
  nc.log = net_log;
  nc.log_user = r;
  nc.log_level = r->cfg.net_log_level;
  rc = imsec_net_new(&in->net, &nc);
  if (rc != 0 && err)
    snprintf(err, errcap, "%s: net: %s", r->name, imsec_strerror(rc));
  return rc;
}

/* Listener i on loop `in`: the first loop picks the port, the others
 * share it (net/ sets SO_REUSEPORT). */
static int listen_one(imsec_hostnet *r, inst *in, size_t i, char *err,
                      size_t errcap) {
  imsec_hostnet_listener *l = &r->listeners[i];
  imsec_addr a = l->addr;
  if (in->idx > 0)
    a.port = r->ports[i];
  struct sockaddr_storage ss;
  if (addr_to_sockaddr(&a, &ss) != 0) {
    if (err)
      snprintf(err, errcap, "%s: cannot listen on '%s': not an address",
               r->name, a.host);
    return IMSEC_ERR_INVAL;
  }
  uint16_t port = 0;
  int rc = imsec_net_listen(in->net, tp_to_net(a.tp),
                            (const struct sockaddr *)&ss, l->tls, &port);
  if (rc != 0) {
    char t[300];
    if (imsec_addr_format(&a, t, sizeof t) < 0)
      snprintf(t, sizeof t, "?");
    if (err)
      snprintf(err, errcap, "%s: cannot listen on %s: %s", r->name, t,
               imsec_strerror(rc));
    return rc;
  }
  if (in->idx == 0)
    r->ports[i] = port;
  return 0;
}

int imsec_hostnet_new(imsec_hostnet **out, const imsec_hostnet_config *cfg,
                      char *err, size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!out || !cfg || !cfg->ops || !cfg->ops->on_flow_up ||
      !cfg->ops->on_message || !cfg->ops->on_flow_down ||
      (cfg->n_listeners && !cfg->listeners) ||
      (cfg->n_tls_profiles && !cfg->tls_profiles) || cfg->loops > MAX_LOOPS ||
      (cfg->loops > 1 && !cfg->factory)) {
    if (err)
      snprintf(err, errcap, "host net port: incomplete configuration");
    return IMSEC_ERR_INVAL;
  }
  int rc = IMSEC_ERR_NOMEM;
  imsec_hostnet *r = calloc(1, sizeof *r);
  if (!r)
    return IMSEC_ERR_NOMEM;
  r->cfg = *cfg;
  pthread_mutex_init(&r->reload_lock, NULL);
  /* A program that shows a ladder of several processes (`imsec demo`)
   * asks its children for machine-readable ladder lines through the
   * environment, whatever their command line says. */
  const char *env = getenv("IMSEC_LADDER");
  if (!cfg->ladder && !cfg->ladder_fn && env && env[0] == '1')
    r->cfg.ladder = IMSEC_HOSTNET_LADDER_MACHINE;
  snprintf(r->name, sizeof r->name, "%s", cfg->name ? cfg->name : "elem");
  r->cfg.name = r->name;
  r->cfg.tls_profiles = NULL;
  r->cfg.sources = NULL;
  r->cfg.n_sources = 0;
  r->nloops = cfg->loops ? cfg->loops : 1;
  r->stop_pipe[0] = r->stop_pipe[1] = -1;
  r->sig_fd = -1;
  atomic_init(&r->next_source, 0);
  if (cfg->n_sources) {
    if (!cfg->sources) {
      pthread_mutex_destroy(&r->reload_lock);
      free(r);
      if (err)
        snprintf(err, errcap, "host net port: incomplete configuration");
      return IMSEC_ERR_INVAL;
    }
    r->sources = calloc(cfg->n_sources, sizeof *r->sources);
    if (!r->sources) {
      pthread_mutex_destroy(&r->reload_lock);
      free(r);
      return IMSEC_ERR_NOMEM;
    }
    r->n_sources = cfg->n_sources;
    for (size_t i = 0; i < cfg->n_sources; i++) {
      if (source_addr(&cfg->sources[i], &r->sources[i]) != 0) {
        if (err)
          snprintf(err, errcap, "%s: source address '%s' is not an IP address",
                   r->name, cfg->sources[i].host);
        free(r->sources);
        pthread_mutex_destroy(&r->reload_lock);
        free(r);
        return IMSEC_ERR_CONFIG;
      }
    }
  }
  atomic_init(&r->log_level, (int)cfg->log_level);
  size_t n_ctx = cfg->n_listeners + cfg->n_tls_profiles + 1;
  r->listeners = calloc(cfg->n_listeners + 1, sizeof *r->listeners);
  r->ports = calloc(cfg->n_listeners + 1, sizeof *r->ports);
  r->own_tls = calloc(n_ctx, sizeof *r->own_tls);
  r->profiles = calloc(cfg->n_tls_profiles + 1, sizeof *r->profiles);
  r->loops = calloc(r->nloops, sizeof *r->loops);
  unsigned made = 0;
  r->psk = hn_psk_new(HN_PSK_MAX_ENTRIES);
  if (!r->listeners || !r->ports || !r->own_tls || !r->profiles || !r->loops ||
      !r->psk)
    goto fail;
  if (cfg->n_listeners)
    memcpy(r->listeners, cfg->listeners,
           cfg->n_listeners * sizeof *r->listeners);
  r->cfg.listeners = r->listeners;
  if (pipe2(r->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    rc = IMSEC_ERR_IO;
    goto fail;
  }
  if (cfg->signals) {
    /* Blocked before the loop threads exist, so they inherit the mask and
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
      goto fail;
    }
  }
  /* TLS contexts: the default client one, the named ones, the servers. */
  rc = make_profile(r, &r->profiles[0], "", cfg->client_tls,
                    cfg->client_tls_cfg, 1, 0, 0, err, errcap);
  if (rc != 0)
    goto fail;
  /* A given default context: how it was made is not known. */
  r->profiles[0].known = !cfg->client_tls;
  r->n_profiles = 1;
  for (size_t i = 0; i < cfg->n_tls_profiles; i++) {
    const imsec_hostnet_tls_profile *tp = &cfg->tls_profiles[i];
    if (!tp->name || !tp->name[0] || (!tp->tls && !tp->tls_cfg)) {
      if (err)
        snprintf(err, errcap, "%s: a TLS profile needs a name and a context",
                 r->name);
      rc = IMSEC_ERR_INVAL;
      goto fail;
    }
    rc = make_profile(r, &r->profiles[r->n_profiles], tp->name, tp->tls,
                      tp->tls_cfg, tp->defer_verify, tp->no_resume, tp->dtls,
                      err, errcap);
    if (rc != 0)
      goto fail;
    r->n_profiles++;
  }
  for (size_t i = 0; i < cfg->n_listeners; i++) {
    imsec_hostnet_listener *l = &r->listeners[i];
    int secure = l->addr.tp == IMSEC_TP_TLS || l->addr.tp == IMSEC_TP_DTLS;
    if (l->psk && (!secure || l->tls || !l->tls_cfg)) {
      if (err)
        snprintf(err, errcap,
                 "%s: listener %s:%u: PSKs need a TLS or DTLS listener made "
                 "from tls_cfg",
                 r->name, l->addr.host, l->addr.port);
      rc = IMSEC_ERR_CONFIG;
      goto fail;
    }
    if (secure && !l->tls) {
      if (!l->tls_cfg) {
        if (err)
          snprintf(err, errcap, "%s: listener %s:%u needs a certificate",
                   r->name, l->addr.host, l->addr.port);
        rc = IMSEC_ERR_CONFIG;
        goto fail;
      }
      imsec_net_tls_config c = *l->tls_cfg;
      c.dtls = l->addr.tp == IMSEC_TP_DTLS;
      if (l->psk) {
        c.psk_lookup = hn_psk_lookup;
        c.psk_arg = r->psk;
      }
      rc = make_tls(r, &c, 1, &l->tls, err, errcap, "server");
      if (rc != 0)
        goto fail;
    }
    l->tls_cfg = NULL;
  }
  for (; made < r->nloops; made++) {
    rc = inst_init(r, &r->loops[made], made, err, errcap);
    if (rc != 0) {
      made++;
      goto fail;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++)
      if ((rc = listen_one(r, &r->loops[made], i, err, errcap)) != 0) {
        made++;
        goto fail;
      }
  }
  *out = r;
  return 0;

fail:
  atomic_store(&r->closing, 1);
  for (unsigned i = 0; i < made; i++)
    imsec_net_del(r->loops[i].net);
  for (unsigned i = 0; i < made; i++)
    inst_free(&r->loops[i]);
  for (size_t i = 0; i < r->n_own_tls; i++)
    imsec_net_tls_del(r->own_tls[i]);
  hn_psk_del(r->psk);
  if (r->sig_fd >= 0)
    close(r->sig_fd);
  if (r->stop_pipe[0] >= 0) {
    close(r->stop_pipe[0]);
    close(r->stop_pipe[1]);
  }
  free(r->listeners);
  free(r->ports);
  free(r->own_tls);
  free(r->profiles);
  free(r->loops);
  free(r->sources);
  pthread_mutex_destroy(&r->reload_lock);
  free(r);
  if (err && !err[0])
    snprintf(err, errcap, "host net port: %s", imsec_strerror(rc));
  return rc;
}

void imsec_hostnet_del(imsec_hostnet *r) {
  if (!r)
    return;
  atomic_store(&r->closing, 1);
  /* Each net closes its flows (the element sees on_flow_down on its
   * thread) and joins its thread. */
  for (unsigned i = 0; i < r->nloops; i++)
    imsec_net_del(r->loops[i].net);
  for (unsigned i = 0; i < r->nloops; i++)
    inst_free(&r->loops[i]);
  for (size_t i = 0; i < r->n_own_tls; i++)
    imsec_net_tls_del(r->own_tls[i]);
  hn_psk_del(r->psk);
  if (r->sig_fd >= 0)
    close(r->sig_fd);
  close(r->stop_pipe[0]);
  close(r->stop_pipe[1]);
  free(r->listeners);
  free(r->ports);
  free(r->own_tls);
  free(r->profiles);
  free(r->loops);
  free(r->sources);
  pthread_mutex_destroy(&r->reload_lock);
  free(r);
}

uint16_t imsec_hostnet_port(const imsec_hostnet *r, size_t i) {
  return r && i < r->cfg.n_listeners ? r->ports[i] : 0;
}

void imsec_hostnet_set_self(imsec_hostnet *r, void *self) {
  if (!r || r->started)
    return;
  r->cfg.self = self;
  r->loops[0].self = self;
  imsec_host_set_self(r->loops[0].host, self);
}

unsigned imsec_hostnet_loops(const imsec_hostnet *r) {
  return r ? r->nloops : 0;
}

void *imsec_hostnet_self(const imsec_hostnet *r, unsigned loop) {
  return r && loop < r->nloops ? r->loops[loop].self : NULL;
}

imsec_net *imsec_hostnet_net(imsec_hostnet *r, unsigned loop) {
  return r && loop < r->nloops ? r->loops[loop].net : NULL;
}

imsec_host *imsec_hostnet_host(imsec_hostnet *r, unsigned loop) {
  return r && loop < r->nloops ? r->loops[loop].host : NULL;
}

int imsec_hostnet_call_on(imsec_hostnet *r, unsigned loop,
                          imsec_host_call_fn fn, void *arg) {
  if (!r || !fn || loop >= r->nloops)
    return IMSEC_ERR_INVAL;
  posted *p = calloc(1, sizeof *p);
  if (!p)
    return IMSEC_ERR_NOMEM;
  p->kind = P_CALL;
  p->fn = fn;
  p->arg = arg;
  /* 1 ms rather than 0: from the loop thread a 0 would run it at once,
   * inside the caller. */
  return post(&r->loops[loop], p, 1);
}

int imsec_hostnet_call(imsec_hostnet *r, imsec_host_call_fn fn, void *arg) {
  return imsec_hostnet_call_on(r, 0, fn, arg);
}

/* imsec_hostnet_call_wait on loop `loop` (the operations ask every loop). */
static int call_wait_on(imsec_hostnet *r, unsigned loop, imsec_host_call_fn fn,
                        void *arg, int64_t timeout_ms) {
  if (!r || !fn || loop >= r->nloops)
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
  cs->fn = fn;
  cs->arg = arg;
  cs->refs = 2;
  posted *p = calloc(1, sizeof *p);
  if (!p) {
    cs->refs = 1;
    call_sync_unref(cs);
    return IMSEC_ERR_NOMEM;
  }
  p->kind = P_CALL;
  p->cs = cs;
  /* The same delay as imsec_hostnet_call: calls run in the order made. */
  int rc = post(&r->loops[loop], p, 1);
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

int imsec_hostnet_call_wait(imsec_hostnet *r, imsec_host_call_fn fn, void *arg,
                            int64_t timeout_ms) {
  return call_wait_on(r, 0, fn, arg, timeout_ms);
}

void imsec_hostnet_set_log_level(imsec_hostnet *r, imsec_log_level level) {
  r->cfg.log_level = level;
  atomic_store(&r->log_level, (int)level);
  imsec_host_set_log_level(r->loops[0].host, level);
}

const imsec_x509_anchors *
imsec_hostnet_set_anchors(imsec_hostnet *r, const imsec_x509_anchors *a) {
  r->cfg.anchors = a;
  return imsec_host_set_anchors(r->loops[0].host, a);
}

imsec_net_tls *imsec_hostnet_listener_tls(const imsec_hostnet *r, size_t i) {
  return r && i < r->cfg.n_listeners ? r->listeners[i].tls : NULL;
}

imsec_net_tls *imsec_hostnet_client_tls(const imsec_hostnet *r) {
  return r ? r->profiles[0].tls : NULL;
}

imsec_net_tls *imsec_hostnet_profile_tls(const imsec_hostnet *r,
                                         const char *name) {
  if (!r || !name)
    return NULL;
  for (size_t i = 0; i < r->n_profiles; i++)
    if (strcmp(r->profiles[i].name, name) == 0) /* no secret: a name */
      return r->profiles[i].tls;
  return NULL;
}

int imsec_hostnet_start(imsec_hostnet *r) {
  if (!r)
    return IMSEC_ERR_INVAL;
  if (r->started)
    return IMSEC_ERR_STATE;
  for (unsigned i = 0; i < r->nloops; i++) {
    int rc = imsec_net_start(r->loops[i].net);
    if (rc != 0)
      return rc;
  }
  r->started = 1;
  for (unsigned i = 0; i < r->nloops; i++) {
    posted *p = calloc(1, sizeof *p);
    if (!p)
      return IMSEC_ERR_NOMEM;
    p->kind = P_START;
    int rc = post(&r->loops[i], p, 0);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void notify(imsec_hostnet *r, const char *state) {
  if (r->cfg.notify)
    r->cfg.notify(r->cfg.notify_user, state);
}

/* sd_notify(3): "STOPPING=1" once the run begins to end, whatever ends it. */
static void notify_stopping(imsec_hostnet *r) {
  if (!atomic_exchange(&r->stopping_told, 1))
    notify(r, "STOPPING=1");
}

/* The program's reload (SIGHUP on the wait thread, or the control socket
 * on its own), one at a time; one line of outcome. The service manager
 * hears RELOADING=1 before and READY=1 after, whatever the outcome: the
 * running configuration serves either way (systemd.service(5),
 * Type=notify-reload). */
static int reload_now(imsec_hostnet *r, const char *why, char *msg,
                      size_t cap) {
  pthread_mutex_lock(&r->reload_lock);
  msg[0] = 0;
  notify(r, "RELOADING=1");
  char line[1200];
  snprintf(line, sizeof line, "%s: reloading", why);
  elog(r, IMSEC_LOG_INFO, line);
  int rc = r->cfg.reload(r->cfg.reload_arg, r, msg, cap);
  if (rc == 0) {
    snprintf(line, sizeof line, "reloaded%s%s", msg[0] ? "; " : "", msg);
    elog(r, IMSEC_LOG_INFO, line);
  } else {
    snprintf(line, sizeof line,
             "reload failed: %s; keeping the running configuration",
             msg[0] ? msg : imsec_strerror(rc));
    elog(r, IMSEC_LOG_ERROR, line);
  }
  notify(r, "READY=1");
  pthread_mutex_unlock(&r->reload_lock);
  return rc;
}

/* SIGHUP: the program's reload, on this thread. */
static void run_reload(imsec_hostnet *r) {
  char msg[1024];
  (void)reload_now(r, "SIGHUP", msg, sizeof msg);
}

int imsec_hostnet_wait(imsec_hostnet *r, int64_t timeout_ms) {
  imsec_time_ms end = timeout_ms < 0 ? 0 : imsec_hostnet_now() + timeout_ms;
  for (;;) {
    if (atomic_load(&r->stop)) {
      notify_stopping(r);
      return 0;
    }
    struct pollfd pf[2] = {{.fd = r->stop_pipe[0], .events = POLLIN},
                           {.fd = r->sig_fd, .events = POLLIN}};
    int wait = -1;
    if (timeout_ms >= 0) {
      imsec_time_ms left = end - imsec_hostnet_now();
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

int imsec_hostnet_run(imsec_hostnet *r) {
  int rc = imsec_hostnet_start(r);
  if (rc != 0)
    return rc;
  return imsec_hostnet_wait(r, -1);
}

void imsec_hostnet_stop(imsec_hostnet *r) {
  if (r && !atomic_exchange(&r->stop, 1))
    wake_waiter(r);
}

int imsec_hostnet_signal(const imsec_hostnet *r) {
  return r ? atomic_load(&((imsec_hostnet *)r)->got_signal) : 0;
}

int imsec_hostnet_psk_set_static(imsec_hostnet *r, const imsec_hostnet_psk *e,
                                 size_t n) {
  if (!r)
    return IMSEC_ERR_INVAL;
  return hn_psk_set_static(r->psk, e, n);
}

/* ------------------------------------------------------------ operations
 * The control socket and /metrics ask from their own threads; what a
 * loop's host or element knows is read on that loop (call_wait_on), one
 * loop after the other, so nothing here needs a lock of its own. */

typedef struct ops_call {
  inst *in;
  struct imsec_metrics *m;
  const char *what;
  imsec_table t; /* a listing of one loop */
  int rc;
  size_t busy;
} ops_call;

static void on_ops_metrics(void *self, imsec_time_ms now, imsec_out *out,
                           void *arg) {
  (void)self;
  (void)now;
  (void)out;
  ops_call *oc = arg;
  imsec_host_metrics(oc->in->host, oc->m);
}

int imsec_hostnet_metrics(imsec_hostnet *r, struct imsec_metrics *m,
                          int64_t timeout_ms) {
  if (!r || !m)
    return IMSEC_ERR_INVAL;
  int rc = 0;
  for (unsigned i = 0; i < r->nloops; i++) {
    ops_call oc = {.in = &r->loops[i], .m = m};
    int c = call_wait_on(r, i, on_ops_metrics, &oc, timeout_ms);
    if (c != 0 && rc == 0)
      rc = c == IMSEC_ERR_CLOSED ? c : IMSEC_ERR_TIMEOUT;
    imsec_net_metrics(r->loops[i].net, m);
  }
  imsec_svc_metrics(r->cfg.svc, m);
  return rc;
}

static void on_ops_list(void *self, imsec_time_ms now, imsec_out *out,
                        void *arg) {
  (void)self;
  (void)now;
  (void)out;
  ops_call *oc = arg;
  if (strcmp(oc->what, "flows") == 0) /* no secret: a listing's name */
    /* Each loop has a net of its own, with one loop: its loop 0. */
    oc->rc = imsec_net_list_flows(oc->in->net, 0, &oc->t);
  else
    oc->rc = imsec_host_list(oc->in->host, oc->what, &oc->t);
}

/* Same columns, same names: rows of one kind of listing. */
static int same_cols(const imsec_table *a, const imsec_table *b) {
  if (a->ncols != b->ncols)
    return 0;
  for (size_t i = 0; i < a->ncols; i++)
    if (strcmp(a->cols[i], b->cols[i]) != 0) /* no secret: column names */
      return 0;
  return 1;
}

/* Take the rows of `from` into t: all of it when t has none yet, else its
 * rows when the columns match. 1 taken, 0 not (other columns), < 0 an
 * error. `from` is left empty either way. */
static int take_rows(imsec_table *t, imsec_table *from) {
  if (!t->ncols) {
    imsec_table_free(t);
    *t = *from;
    memset(from, 0, sizeof(*from));
    return 1;
  }
  int rc = 0;
  if (same_cols(t, from)) {
    for (size_t i = 0; i < from->nrows && rc == 0; i++)
      rc = imsec_table_add(t,
                           (const char *const *)&from->cells[i * from->ncols]);
    rc = rc < 0 ? rc : 1;
  }
  imsec_table_free(from);
  memset(from, 0, sizeof(*from));
  return rc;
}

static ssize_t col_of(const imsec_table *t, const char *name) {
  for (size_t i = 0; i < t->ncols; i++)
    if (strcmp(t->cols[i], name) == 0) /* no secret: column names */
      return (ssize_t)i;
  return -1;
}

/* The stores' rows beside an element's listing of other columns (an
 * S-CSCF's SIP peers and its Diameter and Redis peers): one table with
 * the columns of both, matched by name, "-" where a row has none. 1, or
 * < 0 an error. `from` is left empty. */
static int union_rows(imsec_table *t, imsec_table *from) {
  size_t n = t->ncols;
  const char **cols = calloc(t->ncols + from->ncols, sizeof(*cols));
  const char **row = calloc(t->ncols + from->ncols, sizeof(*row));
  imsec_table u;
  memset(&u, 0, sizeof(u));
  int rc = cols && row ? 0 : IMSEC_ERR_NOMEM;
  if (rc == 0) {
    for (size_t i = 0; i < t->ncols; i++)
      cols[i] = t->cols[i];
    for (size_t i = 0; i < from->ncols; i++)
      if (col_of(t, from->cols[i]) < 0)
        cols[n++] = from->cols[i];
    rc = imsec_table_init(&u, cols, n);
  }
  for (size_t r = 0; rc == 0 && r < t->nrows; r++) {
    for (size_t c = 0; c < n; c++)
      row[c] = c < t->ncols ? t->cells[r * t->ncols + c] : "-";
    rc = imsec_table_add(&u, row);
  }
  for (size_t r = 0; rc == 0 && r < from->nrows; r++) {
    for (size_t c = 0; c < n; c++) {
      ssize_t k = col_of(from, cols[c]);
      row[c] = k < 0 ? "-" : from->cells[r * from->ncols + (size_t)k];
    }
    rc = imsec_table_add(&u, row);
  }
  free(cols);
  free(row);
  imsec_table_free(from);
  memset(from, 0, sizeof(*from));
  if (rc == 0)
    rc = u.err;
  if (rc < 0) {
    imsec_table_free(&u);
    return rc;
  }
  imsec_table_free(t);
  *t = u;
  return 1;
}

int imsec_hostnet_list(imsec_hostnet *r, const char *what,
                       struct imsec_table *t, int64_t timeout_ms) {
  if (!r || !what || !t)
    return IMSEC_ERR_INVAL;
  int found = 0, rc = 0;
  for (unsigned i = 0; i < r->nloops && rc == 0; i++) {
    ops_call oc = {
        .in = &r->loops[i], .what = what, .rc = IMSEC_ERR_UNSUPPORTED};
    int c = call_wait_on(r, i, on_ops_list, &oc, timeout_ms);
    if (c != 0)
      rc = c == IMSEC_ERR_CLOSED ? c : IMSEC_ERR_TIMEOUT;
    else if (oc.rc == 0 && !oc.t.err) {
      int k = take_rows(t, &oc.t);
      if (k < 0)
        rc = k;
      found = 1;
    } else if (oc.rc != IMSEC_ERR_UNSUPPORTED) {
      rc = oc.rc < 0 ? oc.rc : oc.t.err;
    }
    imsec_table_free(&oc.t);
  }
  /* The stores' peers (Diameter, Redis): after the element's own rows
   * (with the columns of both when they differ), else alone when the
   * element has none. */
  if (rc == 0 && r->cfg.svc && strcmp(what, "flows") != 0) {
    imsec_table st;
    memset(&st, 0, sizeof(st));
    int c = imsec_svc_list(r->cfg.svc, what, &st);
    if (c == 0 && !st.err) {
      int k = !t->ncols || same_cols(t, &st) ? take_rows(t, &st)
                                             : union_rows(t, &st);
      if (k < 0)
        rc = k;
      found = found || k > 0;
    } else if (c != IMSEC_ERR_UNSUPPORTED && c != 0) {
      rc = c;
    }
    imsec_table_free(&st);
  }
  if (rc == 0 && !found)
    rc = IMSEC_ERR_UNSUPPORTED;
  return rc;
}

int imsec_hostnet_reload(imsec_hostnet *r, char *msg, size_t cap) {
  if (!r || !msg || !cap)
    return IMSEC_ERR_INVAL;
  if (!r->cfg.reload) {
    snprintf(msg, cap, "%s has no reload", r->name);
    return IMSEC_ERR_UNSUPPORTED;
  }
  return reload_now(r, "control socket", msg, cap);
}

static void on_ops_busy(void *self, imsec_time_ms now, imsec_out *out,
                        void *arg) {
  (void)self;
  (void)now;
  (void)out;
  ops_call *oc = arg;
  oc->busy = imsec_host_busy(oc->in->host);
}

/* Work in flight on every loop; SIZE_MAX when a loop does not answer. */
static size_t busy_now(imsec_hostnet *r) {
  size_t n = 0;
  for (unsigned i = 0; i < r->nloops; i++) {
    ops_call oc = {.in = &r->loops[i]};
    if (call_wait_on(r, i, on_ops_busy, &oc, 1000) != 0)
      return SIZE_MAX;
    n += oc.busy;
  }
  return n;
}

int imsec_hostnet_drain(imsec_hostnet *r, int64_t timeout_ms) {
  if (!r)
    return IMSEC_ERR_INVAL;
  char line[200];
  snprintf(line, sizeof line,
           "draining: no new flows; waiting up to %lld ms for work in flight",
           (long long)timeout_ms);
  elog(r, IMSEC_LOG_INFO, line);
  for (unsigned i = 0; i < r->nloops; i++)
    imsec_net_pause_listeners(r->loops[i].net);
  imsec_time_ms start = imsec_hostnet_now();
  imsec_time_ms end = start + (timeout_ms > 0 ? timeout_ms : 0);
  size_t busy;
  int rc;
  for (;;) {
    busy = atomic_load(&r->stop) ? 0 : busy_now(r);
    if (busy == 0) {
      rc = 0;
      break;
    }
    if (imsec_hostnet_now() >= end) {
      rc = IMSEC_ERR_TIMEOUT;
      break;
    }
    /* Transactions end at the pace of their peers: a look every 50 ms
     * costs nothing and ends the drain soon after the last one. */
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (rc == 0)
    snprintf(line, sizeof line, "drained in %lld ms: stopping",
             (long long)(imsec_hostnet_now() - start));
  else if (busy == SIZE_MAX)
    snprintf(line, sizeof line,
             "drain: the loop did not answer within %lld ms: stopping anyway",
             (long long)timeout_ms);
  else
    snprintf(line, sizeof line,
             "drain: %zu still in flight after %lld ms: stopping anyway", busy,
             (long long)timeout_ms);
  elog(r, rc == 0 ? IMSEC_LOG_INFO : IMSEC_LOG_WARN, line);
  notify_stopping(r);
  imsec_hostnet_stop(r);
  return rc;
}
