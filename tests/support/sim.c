/*
 * The sim port (sim.h): many elements in one process, each run by its own
 * host core (include/imsec/host.h), on one virtual clock. The port below
 * turns the host's calls into events of the sim's heap: a SEND becomes a
 * message event at the peer end, a CONNECT a pair of ends and their flow-up
 * events, an arm a wake-up event for the node's host. The host keeps the
 * element's timers, the PERSIST ordering and the service replies; the sim
 * only moves bytes and time.
 *
 * Services: a node's imsec_svc (sim_node_svc) is wrapped so that replies
 * can be delayed by virtual time (sim_set_svc_delay), for tests of a slow
 * store. The wrapped service must answer inside submit (an in-memory
 * store): the sim is single-threaded and its port's wake only schedules
 * an event.
 */
#include "sim.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/host.h"

#define MAX_EVENTS_PER_RUN 1000000L
#define MAX_CHAIN 8
/* One DTLS record carries one whole message (net/: DTLS_MAX_MSG). */
#define SIM_DTLS_MAX_MSG 16384

/* The service a node's host talks to: the test's service, its replies
 * delayed by the sim's svc delay. */
typedef struct sim_svc {
  imsec_svc base;
  sim_node *node;
} sim_svc;

/* A client TLS context of a node (net: imsec_hostnet_tls_profile). */
typedef struct cprofile {
  char name[32];
  imsec_bytes *chain; /* owned copies; NULL: no client certificate */
  size_t n_chain;
  imsec_trust_cert *facts; /* owned; or fixed facts */
  unsigned flags;          /* SIM_TLS_* */
} cprofile;

/* A PSK the node's PSK-taking listeners accept. */
typedef struct pskent {
  char identity[IMSEC_PSK_ID_MAX];
  uint8_t key[IMSEC_PSK_MAX];
  size_t len;
  imsec_time_ms expires_at; /* 0: no end */
} pskent;

struct sim_node {
  sim *s;
  char *name;
  const imsec_elem_ops *ops;
  imsec_host *host;
  char addr_host[64];
  uint16_t next_port;
  uint64_t arm_gen; /* the generation of the latest arming */
  int poll_pending; /* an EV_POLL is in the heap */
  imsec_svc *svc;   /* the test's (borrowed), or NULL */
  sim_svc wrap;
  const imsec_x509_anchors *anchors; /* borrowed (sim_node_anchors) */
  cprofile **profiles;               /* each owned */
  size_t nprofiles;
  pskent *psk_elem, *psk_static; /* installed by the element; configured */
  size_t npsk_elem, npsk_static;
};

typedef struct listener {
  sim_node *node;
  imsec_addr addr;
  imsec_bytes *chain; /* owned copies */
  size_t n_chain;
  imsec_trust_cert *facts; /* owned */
  int tickets;
  sim_client_cert client_cert;
  int verify_client;
  int psk;
} listener;

typedef struct end {
  sim_node *node; /* NULL: an attacker end */
  uint64_t peer;
  int closed; /* no more sends from this end */
  int down;   /* on_flow_down ran (or the end never was an element's) */
  int up;     /* on_flow_up ran */
  int kept;
  int inbound;
  int own_close; /* 1: its element closed it (the host ignores the
                    flow-down); 2: refused at flow-up (nothing more is said) */
  imsec_tp tp;
  imsec_addr local, peer_addr;
  int resumed;
  uint64_t *tags;
  size_t ntags, cap;
  listener *lst; /* connector ends: where they went */
  /* The client context the connector used (its chain is what an inbound
   * end's host makes the peer facts from); NULL: none. */
  const cprofile *cp;
  int send_chain; /* inbound: the listener asked and the client had one */
  char profile[32];
  int psk; /* the handshake used a PSK: no certificate either way */
  char psk_identity[IMSEC_PSK_ID_MAX];
} end;

typedef enum ev_kind {
  EV_UP = 1,
  EV_DOWN,
  EV_MSG,
  EV_TIMER, /* the node's host asked to be woken (arm) */
  EV_CONNFAIL,
  EV_IDLE,
  EV_POLL,  /* the node's host has service replies queued (wake) */
  EV_REPLY, /* a delayed service reply reaches the node's host */
  EV_ALERT, /* TLS 1.3: the server's refusal of a client certificate
               reaches a client whose handshake had completed */
} ev_kind;

/* A delayed reply: what the host's done needs. */
typedef struct dreply {
  imsec_svc_done_fn done;
  void *arg;
  imsec_svc_req req; /* kind and id only */
  imsec_svc_reply rep;
  imsec_reg_record reg; /* REG_LOAD: owned copy */
  int has_reg;
} dreply;

typedef struct event {
  imsec_time_ms at;
  uint64_t seq;
  ev_kind kind;
  sim_node *node;
  uint64_t end;
  uint64_t tag;
  int reason;
  uint64_t gen;
  uint8_t *data;
  size_t len;
  const char *from; /* EV_MSG: the sender's name for the trace */
  dreply *rep;      /* EV_REPLY */
} event;

struct sim {
  imsec_time_ms now;
  uint64_t seq;
  event **heap;
  size_t nheap, capheap;
  sim_node **nodes;
  size_t nnodes;
  listener *lst;
  size_t nlst;
  end *ends; /* ends[id - 1] */
  size_t nends, capends;
  size_t opened, opened_tls;
  sim_tr *tr;
  size_t ntr, captr;
  int trace_off;
  imsec_time_ms delay, idle, svc_delay;
  sim_tamper_fn tamper;
  void *tamper_user;
  int64_t cert_time;
  /* Datagram loss (DTLS flows): a count of the next ones to lose, on one
   * flow or any, and a predicate. */
  uint64_t drop_flow;
  size_t drop_count;
  sim_loss_fn loss;
  void *loss_user;
  size_t dgrams_lost, handshakes_failed;
};
/* ---------------------------------------------------------------- heap */

static int ev_less(const event *a, const event *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(sim *s, event *e) {
  if (s->nheap == s->capheap) {
    size_t cap = s->capheap ? 2 * s->capheap : 256;
    event **h = realloc(s->heap, cap * sizeof *h);
    if (!h)
      abort();
    s->heap = h;
    s->capheap = cap;
  }
  size_t i = s->nheap++;
  s->heap[i] = e;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ev_less(s->heap[i], s->heap[p]))
      break;
    event *t = s->heap[i];
    s->heap[i] = s->heap[p];
    s->heap[p] = t;
    i = p;
  }
}

static event *heap_pop(sim *s) {
  if (s->nheap == 0)
    return NULL;
  event *top = s->heap[0];
  s->heap[0] = s->heap[--s->nheap];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->nheap && ev_less(s->heap[l], s->heap[m]))
      m = l;
    if (r < s->nheap && ev_less(s->heap[r], s->heap[m]))
      m = r;
    if (m == i)
      break;
    event *t = s->heap[i];
    s->heap[i] = s->heap[m];
    s->heap[m] = t;
    i = m;
  }
  return top;
}

static event *ev_new(sim *s, ev_kind kind, imsec_time_ms at) {
  event *e = calloc(1, sizeof *e);
  if (!e)
    abort();
  e->kind = kind;
  e->at = at < s->now ? s->now : at;
  e->seq = s->seq++;
  return e;
}

static void dreply_free(dreply *d) {
  if (!d)
    return;
  if (d->has_reg)
    imsec_reg_record_free(&d->reg);
  imsec_wipe(d, sizeof(*d)); /* an HSS vector is secret */
  free(d);
}

static void ev_free(event *e) {
  free(e->data);
  dreply_free(e->rep);
  free(e);
}

/* ---------------------------------------------------------------- trace */

static char *dup_n(const void *p, size_t n) {
  char *d = malloc(n + 1);
  if (!d)
    abort();
  if (n)
    memcpy(d, p, n);
  d[n] = 0;
  return d;
}

static sim_tr *tr_add(sim *s, sim_tr_kind kind) {
  if (s->trace_off)
    return NULL;
  if (s->ntr == s->captr) {
    size_t cap = s->captr ? 2 * s->captr : 256;
    sim_tr *t = realloc(s->tr, cap * sizeof *t);
    if (!t)
      abort();
    s->tr = t;
    s->captr = cap;
  }
  sim_tr *t = &s->tr[s->ntr++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->at = s->now;
  t->from = t->to = "?";
  return t;
}

/* ---------------------------------------------------------------- life */

static void chain_free(imsec_bytes *c, size_t n) {
  for (size_t k = 0; k < n; k++)
    free((void *)c[k].p);
  free(c);
}

static void profile_free(cprofile *p) {
  if (!p)
    return;
  chain_free(p->chain, p->n_chain);
  free(p->facts);
  free(p);
}

int sim_new(sim **out, imsec_time_ms start) {
  sim *s = calloc(1, sizeof *s);
  if (!s)
    return -1;
  s->now = start;
  s->cert_time = -1;
  *out = s;
  return 0;
}

void sim_trace_clear(sim *s) {
  for (size_t i = 0; i < s->ntr; i++)
    free(s->tr[i].text);
  s->ntr = 0;
}

void sim_del(sim *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nheap; i++)
    ev_free(s->heap[i]);
  free(s->heap);
  for (size_t i = 0; i < s->nnodes; i++) {
    sim_node *n = s->nodes[i];
    imsec_host_del(n->host);
    for (size_t k = 0; k < n->nprofiles; k++)
      profile_free(n->profiles[k]);
    free(n->profiles);
    if (n->psk_elem)
      imsec_wipe(n->psk_elem, n->npsk_elem * sizeof *n->psk_elem);
    if (n->psk_static)
      imsec_wipe(n->psk_static, n->npsk_static * sizeof *n->psk_static);
    free(n->psk_elem);
    free(n->psk_static);
    free(n->name);
    free(n);
  }
  free(s->nodes);
  for (size_t i = 0; i < s->nlst; i++) {
    for (size_t k = 0; k < s->lst[i].n_chain; k++)
      free((void *)s->lst[i].chain[k].p);
    free(s->lst[i].chain);
    free(s->lst[i].facts);
  }
  free(s->lst);
  for (size_t i = 0; i < s->nends; i++)
    free(s->ends[i].tags);
  free(s->ends);
  sim_trace_clear(s);
  free(s->tr);
  free(s);
}

imsec_time_ms sim_now(const sim *s) {
  return s->now;
}

static const imsec_host_port sim_port; /* below */
static const imsec_svc_vtable sim_svc_vt;

sim_node *sim_add(sim *s, const char *name, const imsec_elem_ops *ops,
                  void *self, const char *host) {
  sim_node *n = calloc(1, sizeof *n);
  if (!n)
    return NULL;
  sim_node **nn = realloc(s->nodes, (s->nnodes + 1) * sizeof *nn);
  if (!nn) {
    free(n);
    return NULL;
  }
  s->nodes = nn;
  n->s = s;
  n->name = dup_n(name, strlen(name));
  n->ops = ops;
  n->wrap.base.vt = &sim_svc_vt;
  n->wrap.node = n;
  snprintf(n->addr_host, sizeof n->addr_host, "%s", host ? host : "127.0.0.1");
  n->next_port = 40000;
  /* The node's name is the trace's, not a prefix of each line. */
  imsec_host_config cfg = {
      .name = NULL,
      .ops = ops,
      .self = self,
      .svc = &n->wrap.base,
      .log_level = IMSEC_LOG_DEBUG,
      .cert_time = s->cert_time,
  };
  imsec_host_port port = sim_port;
  port.ctx = n;
  if (imsec_host_new(&n->host, &cfg, &port) != 0) {
    free(n->name);
    free(n);
    return NULL;
  }
  s->nodes[s->nnodes++] = n;
  return n;
}

const char *sim_node_name(const sim_node *n) {
  return n ? n->name : "?";
}

void *sim_node_self(const sim_node *n) {
  return imsec_host_self(n->host);
}

imsec_host *sim_node_host(const sim_node *n) {
  return n->host;
}

void sim_node_anchors(sim_node *n, const imsec_x509_anchors *a) {
  n->anchors = a;
  (void)imsec_host_set_anchors(n->host, a);
}

void sim_node_log_level(sim_node *n, imsec_log_level lv) {
  imsec_host_set_log_level(n->host, lv);
}

void sim_node_svc(sim_node *n, imsec_svc *svc) {
  n->svc = svc;
}

void sim_node_start(sim_node *n) {
  imsec_host_start(n->host);
}

int sim_node_done(const sim_node *n) {
  return imsec_host_done(n->host);
}

void sim_cert_time(sim *s, int64_t unix_s) {
  s->cert_time = unix_s;
}

void sim_set_delay(sim *s, imsec_time_ms ms) {
  s->delay = ms;
}

void sim_set_svc_delay(sim *s, imsec_time_ms ms) {
  s->svc_delay = ms;
}

void sim_set_tamper(sim *s, sim_tamper_fn fn, void *user) {
  s->tamper = fn;
  s->tamper_user = user;
}

void sim_set_idle_timeout(sim *s, imsec_time_ms ms) {
  s->idle = ms;
}

void sim_trace_enable(sim *s, int on) {
  s->trace_off = !on;
}

/* ---------------------------------------------------------------- listen */

static int addr_eq(const imsec_addr *a, const imsec_addr *b) {
  return a->tp == b->tp && a->port == b->port &&
         imsec_str_ieq(imsec_str_c(a->host), imsec_str_c(b->host));
}

static listener *find_listener(sim *s, const imsec_addr *a) {
  for (size_t i = 0; i < s->nlst; i++)
    if (addr_eq(&s->lst[i].addr, a))
      return &s->lst[i];
  return NULL;
}

static listener *add_listener(sim_node *n, const imsec_addr *addr) {
  sim *s = n->s;
  if (find_listener(s, addr))
    return NULL;
  listener *l = realloc(s->lst, (s->nlst + 1) * sizeof *l);
  if (!l)
    return NULL;
  s->lst = l;
  l = &s->lst[s->nlst++];
  memset(l, 0, sizeof *l);
  l->node = n;
  l->addr = *addr;
  return l;
}

int sim_listen(sim_node *n, const imsec_addr *addr) {
  return add_listener(n, addr) ? 0 : -1;
}

static imsec_bytes *chain_copy(const imsec_bytes *chain, size_t n) {
  imsec_bytes *c = calloc(n ? n : 1, sizeof *c);
  if (!c)
    abort();
  for (size_t i = 0; i < n; i++) {
    c[i].p = (const uint8_t *)dup_n(chain[i].p, chain[i].len);
    c[i].len = chain[i].len;
  }
  return c;
}

int sim_listen_opts(sim_node *n, const imsec_addr *addr,
                    const sim_tls_opts *o) {
  if (!o)
    return sim_listen(n, addr);
  listener *l = add_listener(n, addr);
  if (!l)
    return -1;
  l->tickets = o->tickets;
  l->client_cert = o->client_cert;
  l->verify_client = o->verify_client;
  l->psk = o->psk;
  if (o->facts) {
    l->facts = malloc(sizeof *l->facts);
    if (!l->facts)
      abort();
    *l->facts = *o->facts;
  } else if (o->chain && o->n_chain) {
    l->chain = chain_copy(o->chain, o->n_chain);
    l->n_chain = o->n_chain;
  }
  return 0;
}

int sim_listen_tls(sim_node *n, const imsec_addr *addr,
                   const imsec_bytes *chain, size_t n_chain, int tickets) {
  sim_tls_opts o = {.chain = chain, .n_chain = n_chain, .tickets = tickets};
  return sim_listen_opts(n, addr, &o);
}

int sim_listen_facts(sim_node *n, const imsec_addr *addr,
                     const imsec_trust_cert *facts, int tickets) {
  sim_tls_opts o = {.facts = facts, .tickets = tickets};
  return sim_listen_opts(n, addr, &o);
}

/* ---------------------------------------------------------------- client
 * contexts and PSKs */

static cprofile *find_profile(const sim_node *n, const char *name) {
  for (size_t i = 0; i < n->nprofiles; i++)
    if (strcmp(n->profiles[i]->name, name) == 0)
      return n->profiles[i];
  return NULL;
}

int sim_node_tls_profile(sim_node *n, const char *name,
                         const imsec_bytes *chain, size_t n_chain,
                         const imsec_trust_cert *facts, unsigned flags) {
  if (!name || strlen(name) >= sizeof(((cprofile *)0)->name))
    return -1;
  cprofile *p = find_profile(n, name);
  if (!p) {
    cprofile **np =
        realloc(n->profiles, (n->nprofiles + 1) * sizeof *n->profiles);
    if (!np)
      return -1;
    n->profiles = np;
    p = calloc(1, sizeof *p);
    if (!p)
      return -1;
    n->profiles[n->nprofiles++] = p;
    snprintf(p->name, sizeof p->name, "%s", name);
  }
  /* Replaced in place: ends refer to the profile, and flows that come up
   * from now on carry the new credentials (a reloaded context). */
  chain_free(p->chain, p->n_chain);
  free(p->facts);
  p->chain = NULL;
  p->n_chain = 0;
  p->facts = NULL;
  if (facts) {
    p->facts = malloc(sizeof *p->facts);
    if (!p->facts)
      abort();
    *p->facts = *facts;
  } else if (chain && n_chain) {
    p->chain = chain_copy(chain, n_chain);
    p->n_chain = n_chain;
  }
  p->flags = flags;
  return 0;
}

int sim_node_client_chain(sim_node *n, const imsec_bytes *chain,
                          size_t n_chain) {
  const cprofile *old = find_profile(n, "");
  return sim_node_tls_profile(n, "", chain, n_chain, NULL,
                              old ? old->flags : 0);
}

static void port_log(void *ctx, imsec_log_level level, const char *line);

static int psk_valid(size_t id_len, size_t len) {
  return id_len >= 1 && id_len < IMSEC_PSK_ID_MAX && len <= IMSEC_PSK_MAX;
}

/* Put (len > 0) or remove (len 0) one identity of a table. */
static int psk_put(pskent **tab, size_t *n, const char *identity,
                   const uint8_t *key, size_t len, imsec_time_ms expires_at) {
  if (!identity || !psk_valid(strlen(identity), len))
    return -1;
  size_t i = 0;
  while (i < *n && strcmp((*tab)[i].identity, identity) != 0)
    i++;
  if (len == 0) {
    if (i < *n) {
      imsec_wipe(&(*tab)[i], sizeof **tab);
      (*tab)[i] = (*tab)[*n - 1];
      imsec_wipe(&(*tab)[*n - 1], sizeof **tab);
      (*n)--;
    }
    return 0;
  }
  if (i == *n) {
    /* Grow by copying, so no old key stays behind in freed memory. */
    pskent *t = calloc(*n + 1, sizeof *t);
    if (!t)
      return -1;
    if (*n) {
      memcpy(t, *tab, *n * sizeof *t);
      imsec_wipe(*tab, *n * sizeof *t);
    }
    free(*tab);
    *tab = t;
    (*n)++;
  }
  pskent *e = &(*tab)[i];
  memset(e, 0, sizeof *e);
  snprintf(e->identity, sizeof e->identity, "%s", identity);
  memcpy(e->key, key, len);
  e->len = len;
  e->expires_at = expires_at;
  return 0;
}

int sim_node_psk_static(sim_node *n, const char *identity, const uint8_t *key,
                        size_t len) {
  return psk_put(&n->psk_static, &n->npsk_static, identity, key, len, 0);
}

/* The key a PSK-taking listener of node n holds for `identity` now: the
 * element's first, then the configured ones (as the net port). */
static const pskent *psk_lookup(const sim_node *n, const char *identity) {
  for (size_t i = 0; i < n->npsk_elem; i++) {
    const pskent *e = &n->psk_elem[i];
    if (strcmp(e->identity, identity) == 0 &&
        (e->expires_at == 0 || n->s->now < e->expires_at))
      return e;
  }
  for (size_t i = 0; i < n->npsk_static; i++)
    if (strcmp(n->psk_static[i].identity, identity) == 0)
      return &n->psk_static[i];
  return NULL;
}

int sim_node_psk_has(const sim_node *n, const char *identity) {
  return psk_lookup(n, identity) != NULL;
}

/* The host's PSK action (elem.h imsec_out_psk). */
static void port_psk(void *ctx, const char *identity, const uint8_t *key,
                     size_t len, imsec_time_ms expires_at) {
  sim_node *n = ctx;
  if (psk_put(&n->psk_elem, &n->npsk_elem, identity, key, len, expires_at) !=
      0) {
    port_log(ctx, IMSEC_LOG_WARN, "sim: a PSK action with bad sizes dropped");
  }
}

/* ---------------------------------------------------------------- ends */

static end *get_end(const sim *s, uint64_t id) {
  return id >= 1 && id <= s->nends ? &s->ends[id - 1] : NULL;
}

static uint64_t new_end(sim *s) {
  if (s->nends == s->capends) {
    size_t cap = s->capends ? 2 * s->capends : 64;
    end *e = realloc(s->ends, cap * sizeof *e);
    if (!e)
      abort();
    s->ends = e;
    s->capends = cap;
  }
  memset(&s->ends[s->nends], 0, sizeof(end));
  return ++s->nends;
}

static void end_add_tag(end *e, uint64_t tag) {
  if (e->ntags == e->cap) {
    size_t cap = e->cap ? 2 * e->cap : 2;
    uint64_t *t = realloc(e->tags, cap * sizeof *t);
    if (!t)
      abort();
    e->tags = t;
    e->cap = cap;
  }
  e->tags[e->ntags++] = tag;
}

int sim_flow_open(const sim *s, uint64_t flow) {
  const end *e = get_end(s, flow);
  return e && !e->closed && !e->down;
}

uint64_t sim_flow_peer(const sim *s, uint64_t flow) {
  const end *e = get_end(s, flow);
  return e ? e->peer : 0;
}

sim_node *sim_flow_node(const sim *s, uint64_t flow) {
  const end *e = get_end(s, flow);
  return e ? e->node : NULL;
}

int sim_flow_kept(const sim *s, uint64_t flow) {
  const end *e = get_end(s, flow);
  return e ? e->kept : 0;
}

size_t sim_flows_between(const sim *s, const sim_node *a, const sim_node *b,
                         uint64_t *a_end) {
  size_t n = 0;
  for (size_t i = 0; i < s->nends; i++) {
    const end *e = &s->ends[i];
    if (e->node != a || e->closed || e->down)
      continue;
    const end *p = get_end(s, e->peer);
    if (!p || p->node != b || p->closed || p->down)
      continue;
    if (n == 0 && a_end)
      *a_end = i + 1;
    n++;
  }
  return n;
}

size_t sim_flows_opened(const sim *s, int tls_only) {
  return tls_only ? s->opened_tls : s->opened;
}

/* ---------------------------------------------------------------- actions */

static void schedule_down(sim *s, uint64_t id, int reason, imsec_time_ms at) {
  end *e = get_end(s, id);
  if (!e || e->down)
    return;
  e->closed = 1;
  event *ev = ev_new(s, EV_DOWN, at);
  ev->end = id;
  ev->reason = reason;
  ev->node = e->node;
  heap_push(s, ev);
}

/* Close a flow from end `id`: that end goes down now, the other after the
 * messages already on their way (a FIN follows the data). */
static void close_flow(sim *s, uint64_t id, int reason, int peer_reason) {
  end *e = get_end(s, id);
  if (!e)
    return;
  uint64_t peer = e->peer;
  schedule_down(s, id, reason, s->now);
  schedule_down(s, peer, peer_reason, s->now + s->delay);
}

static void deliver_later(sim *s, const char *from_name, uint64_t to,
                          uint8_t *data, size_t len, imsec_time_ms at) {
  event *ev = ev_new(s, EV_MSG, at);
  ev->end = to;
  ev->data = data;
  ev->len = len;
  ev->from = from_name;
  ev->node = get_end(s, to) ? get_end(s, to)->node : NULL;
  heap_push(s, ev);
}

static void trace_drop(sim *s, const char *from, const char *to, uint64_t flow,
                       const uint8_t *data, size_t len) {
  sim_tr *t = tr_add(s, SIM_TR_MSG);
  if (!t)
    return;
  t->from = from;
  t->to = to;
  t->flow = flow;
  t->dropped = 1;
  t->text = dup_n(data, len);
  t->len = len;
}

static int dgram_lost(sim *s, const sim_msg *m, const uint8_t *p, size_t len) {
  if (s->drop_count && (!s->drop_flow || s->drop_flow == m->from_flow ||
                        s->drop_flow == m->to_flow)) {
    s->drop_count--;
    return 1;
  }
  return s->loss && s->loss(s->loss_user, m, p, len);
}

void sim_drop_next(sim *s, uint64_t flow, size_t count) {
  s->drop_flow = flow;
  s->drop_count = count;
}

void sim_set_loss(sim *s, sim_loss_fn fn, void *user) {
  s->loss = fn;
  s->loss_user = user;
}

size_t sim_dgrams_lost(const sim *s) {
  return s->dgrams_lost;
}

size_t sim_handshakes_failed(const sim *s) {
  return s->handshakes_failed;
}

static void send_from(sim *s, uint64_t from_id, const uint8_t *p, size_t len) {
  end *e = get_end(s, from_id);
  const char *from_name = e && e->node ? e->node->name : "?";
  if (!e || e->closed || e->down) {
    trace_drop(s, from_name, "?", from_id, p, len);
    return;
  }
  end *pe = get_end(s, e->peer);
  const char *to_name = pe && pe->node ? pe->node->name : "?";
  sim_msg m = {
      .from = e->node,
      .to = pe ? pe->node : NULL,
      .from_flow = from_id,
      .to_flow = e->peer,
      .now = s->now,
  };
  /* A datagram may be lost on the way (RFC 6347 §4.2.4: DTLS does not
   * retransmit records; the SIP transaction timers of RFC 3261 §17 do). */
  if (e->tp == IMSEC_TP_DTLS && dgram_lost(s, &m, p, len)) {
    s->dgrams_lost++;
    trace_drop(s, from_name, to_name, e->peer, p, len);
    return;
  }
  uint8_t *copy = (uint8_t *)dup_n(p, len);
  imsec_time_ms extra = 0;
  if (s->tamper) {
    long r = s->tamper(s->tamper_user, &m, &copy, &len);
    if (r < 0) {
      trace_drop(s, from_name, to_name, e->peer, copy, len);
      free(copy);
      return;
    }
    extra = r;
  }
  deliver_later(s, from_name, e->peer, copy, len, s->now + s->delay + extra);
}

static void connect_fail(sim_node *n, uint64_t tag, int reason,
                         imsec_time_ms at) {
  event *ev = ev_new(n->s, EV_CONNFAIL, at);
  ev->node = n;
  ev->tag = tag;
  ev->reason = reason;
  heap_push(n->s, ev);
}

static int tp_secure(imsec_tp tp) {
  return tp == IMSEC_TP_TLS || tp == IMSEC_TP_DTLS;
}

/* Does the certificate name `name` (RFC 5922 §7.1: SAN URI sip:, then
 * dNSName; the CN only without SANs)? */
static int facts_name(const imsec_trust_cert *c, const char *name) {
  imsec_str want = imsec_str_c(name);
  for (size_t i = 0; i < c->n_sip && i < IMSEC_TRUST_MAX_NAMES; i++)
    if (imsec_str_ieq(imsec_str_c(c->sip[i]), want))
      return 1;
  for (size_t i = 0; i < c->n_dns && i < IMSEC_TRUST_MAX_NAMES; i++)
    if (imsec_str_ieq(imsec_str_c(c->dns[i]), want))
      return 1;
  return !c->has_san && imsec_str_ieq(imsec_str_c(c->cn), want);
}

/* A verifying client context (net: defer_verify 0): the listener's
 * chain must validate against the connector's anchors and name the
 * server. */
static int server_verifies(const sim_node *n, const listener *l,
                           const char *server_name) {
  imsec_trust_cert c;
  if (l->facts) {
    c = *l->facts;
  } else {
    if (!l->n_chain || !n->anchors)
      return 0;
    size_t nc = l->n_chain < MAX_CHAIN ? l->n_chain : MAX_CHAIN;
    if (imsec_x509_check(n->anchors, l->chain, nc, n->s->cert_time, &c) != 0)
      return 0;
  }
  if (c.chain != IMSEC_CHAIN_OK)
    return 0;
  return !server_name || !server_name[0] || facts_name(&c, server_name);
}

/* A listener that verifies client certificates (net: client_auth with
 * defer_verify 0): the client's path must validate against the
 * listener's anchors. Only the path: serverAuth is the x509 check's
 * question for servers, not for clients. */
static int client_verifies(const listener *l, const cprofile *cp) {
  if (cp->facts)
    return cp->facts->chain == IMSEC_CHAIN_OK ||
           cp->facts->chain == IMSEC_CHAIN_NOT_SERVER_AUTH;
  const sim_node *n = l->node;
  if (!n->anchors)
    return 0;
  imsec_trust_cert c;
  size_t nc = cp->n_chain < MAX_CHAIN ? cp->n_chain : MAX_CHAIN;
  if (imsec_x509_check(n->anchors, cp->chain, nc, n->s->cert_time, &c) != 0)
    return 0;
  return c.chain == IMSEC_CHAIN_OK || c.chain == IMSEC_CHAIN_NOT_SERVER_AUTH;
}

static void do_connect(sim_node *n, uint64_t tag, const imsec_addr *addr,
                       const char *server_name, const imsec_tls_profile *tls) {
  sim *s = n->s;
  int secure = tp_secure(addr->tp);
  const char *pname = tls ? tls->profile : "";
  int want_psk = secure && tls && tls->psk_len > 0;
  /* The client context: "" may be left unconfigured (no client
   * certificate, the element decides on the server's); any other name
   * must have been given (net: IMSEC_ERR_CONFIG). */
  const cprofile *cp = secure ? find_profile(n, pname) : NULL;
  if (secure && !cp && pname[0]) {
    connect_fail(n, tag, IMSEC_ERR_CONFIG, s->now);
    return;
  }
  if (!secure && tls && (tls->profile[0] || tls->psk_len || tls->dtls)) {
    connect_fail(n, tag, IMSEC_ERR_UNSUPPORTED, s->now);
    return;
  }
  /* RFC 5923 reuse: an open outgoing flow of this node to that address,
   * made with the same client context. A CONNECT offering a PSK always
   * opens a flow of its own (its key is what is being tried). */
  for (size_t i = 0; i < s->nends && !want_psk; i++) {
    end *e = &s->ends[i];
    if (e->node == n && !e->inbound && !e->closed && !e->down &&
        addr_eq(&e->peer_addr, addr) && strcmp(e->profile, pname) == 0 &&
        !e->psk) {
      end_add_tag(e, tag);
      event *ev = ev_new(s, EV_UP, s->now);
      ev->end = i + 1;
      ev->tag = tag;
      ev->node = n;
      heap_push(s, ev);
      return;
    }
  }
  listener *l = find_listener(s, addr);
  if (!l) {
    connect_fail(n, tag, IMSEC_ERR_IO, s->now + s->delay);
    return;
  }
  /* The handshake's outcome, decided now; a failure reaches the
   * connector after the round trip, the listener's element hears nothing
   * (net/ reports only flows that came up). */
  int fail = 0, refused_cert = 0;
  int send_chain = 0;
  if (secure) {
    if (want_psk) {
      /* TLS 1.3 external PSK / TLS 1.2 PSK: the listener must hold that
       * identity with that very key (constant-time compare). */
      const pskent *k = l->psk ? psk_lookup(l->node, tls->psk_identity) : NULL;
      if (!k || k->len != tls->psk_len ||
          !imsec_ct_eq(k->key, tls->psk, tls->psk_len))
        fail = 1;
    } else {
      if (!l->n_chain && !l->facts)
        fail = 1; /* a PSK-only listener and no PSK offered */
      int verify = tls && tls->verify == IMSEC_TLS_VERIFY_REQUIRE;
      if (!tls || tls->verify == IMSEC_TLS_VERIFY_DEFAULT)
        verify = cp && (cp->flags & SIM_TLS_VERIFY);
      if (!fail && verify && !server_verifies(n, l, server_name))
        fail = 1;
      int has_cert = cp && (cp->n_chain || cp->facts);
      if (!fail && l->client_cert != SIM_CLIENT_CERT_NONE) {
        if ((!has_cert && l->client_cert == SIM_CLIENT_CERT_REQUIRE) ||
            (has_cert && l->verify_client && !client_verifies(l, cp)))
          refused_cert = 1;
        send_chain = has_cert;
      }
    }
  }
  /* The listener refuses the client's certificate (or its absence). In
   * TLS 1.3 the client's handshake is complete before the server looks at
   * its certificate (RFC 8446 §4.4.2, §4.6.1 order): its flow comes up,
   * what it sends is lost, and the server's alert brings it down with
   * IMSEC_ERR_IO, as net/ reports it. DTLS 1.2 fails inside the
   * handshake. */
  if (refused_cert && addr->tp == IMSEC_TP_DTLS)
    fail = 1;
  if (fail) {
    s->handshakes_failed++;
    connect_fail(n, tag, IMSEC_ERR_AUTH, s->now + 2 * s->delay);
    return;
  }
  int no_resume = want_psk || (tls && tls->no_resume) ||
                  (cp && (cp->flags & SIM_TLS_NO_RESUME));
  int resumed = 0;
  if (secure && l->tickets && !no_resume) {
    for (size_t i = 0; i < s->nends; i++)
      if (s->ends[i].node == n && s->ends[i].lst == l && !s->ends[i].psk)
        resumed = 1;
  }
  uint64_t ia = new_end(s), ib = new_end(s);
  end *ea = get_end(s, ia), *eb = get_end(s, ib);
  if (refused_cert) {
    s->handshakes_failed++;
  } else {
    s->opened++;
    if (secure)
      s->opened_tls++;
  }
  ea->node = n;
  ea->peer = ib;
  ea->tp = addr->tp;
  ea->lst = l;
  ea->cp = cp;
  ea->resumed = resumed;
  snprintf(ea->profile, sizeof ea->profile, "%s", pname);
  ea->local.tp = addr->tp;
  snprintf(ea->local.host, sizeof ea->local.host, "%s", n->addr_host);
  ea->local.port = n->next_port++;
  if (n->next_port == 0)
    n->next_port = 40000;
  ea->peer_addr = *addr;
  end_add_tag(ea, tag);
  eb->node = l->node;
  eb->peer = ia;
  eb->inbound = 1;
  eb->tp = addr->tp;
  eb->resumed = resumed;
  eb->local = l->addr;
  eb->peer_addr = ea->local;
  eb->cp = cp;
  eb->send_chain = send_chain;
  if (want_psk) {
    ea->psk = eb->psk = 1;
    snprintf(ea->psk_identity, sizeof ea->psk_identity, "%s",
             tls->psk_identity);
    snprintf(eb->psk_identity, sizeof eb->psk_identity, "%s",
             tls->psk_identity);
  }
  end_add_tag(eb, 0);
  if (refused_cert) {
    /* The listener's side never comes up (nothing reaches its element);
     * the connector's does, until the alert. */
    eb->down = eb->closed = 1;
    event *ev = ev_new(s, EV_UP, s->now + 2 * s->delay);
    ev->end = ia;
    ev->tag = tag;
    ev->node = n;
    heap_push(s, ev);
    ev = ev_new(s, EV_ALERT, s->now + 3 * s->delay);
    ev->end = ia;
    ev->node = n;
    heap_push(s, ev);
    return;
  }
  /* The handshake: the listener's side comes up, then the connector's. */
  event *ev = ev_new(s, EV_UP, s->now + s->delay);
  ev->end = ib;
  ev->node = l->node;
  heap_push(s, ev);
  ev = ev_new(s, EV_UP, s->now + 2 * s->delay);
  ev->end = ia;
  ev->tag = tag;
  ev->node = n;
  heap_push(s, ev);
  if (s->idle) {
    ev = ev_new(s, EV_IDLE, s->now + s->idle);
    ev->end = ib;
    heap_push(s, ev);
  }
}

/* ---------------------------------------------------------------- the port */

static int port_send(void *ctx, uint64_t flow, const uint8_t *data,
                     size_t len) {
  sim_node *n = ctx;
  sim *s = n->s;
  end *e = get_end(s, flow);
  if (!e || e->node != n || e->closed || e->down) {
    trace_drop(s, n->name, "?", flow, data, len);
    return IMSEC_ERR_CLOSED;
  }
  /* DTLS: one message per record, refused above a record's worth (as
   * net/: the flow stays). */
  if (e->tp == IMSEC_TP_DTLS && len > SIM_DTLS_MAX_MSG)
    return IMSEC_ERR_LIMIT;
  send_from(s, flow, data, len);
  return 0;
}

static void port_connect(void *ctx, uint64_t tag, const imsec_addr *addr,
                         const char *server_name,
                         const imsec_tls_profile *tls) {
  do_connect(ctx, tag, addr, server_name, tls);
}

static void port_close(void *ctx, uint64_t flow) {
  sim_node *n = ctx;
  end *e = get_end(n->s, flow);
  if (!e || e->node != n)
    return;
  e->own_close = 1;
  if (!e->closed && !e->down)
    close_flow(n->s, flow, 0, 0);
}

static void port_keep(void *ctx, uint64_t flow) {
  sim_node *n = ctx;
  end *e = get_end(n->s, flow);
  if (e && e->node == n)
    e->kept = 1;
}

/* One wake-up per node: a newer arming makes the older event stale. */
static void port_arm(void *ctx, imsec_time_ms at) {
  sim_node *n = ctx;
  n->arm_gen++;
  if (at == 0)
    return;
  event *ev = ev_new(n->s, EV_TIMER, at);
  ev->node = n;
  ev->gen = n->arm_gen;
  heap_push(n->s, ev);
}

static void port_log(void *ctx, imsec_log_level level, const char *line) {
  sim_node *n = ctx;
  sim *s = n->s;
  size_t len = strlen(line);
  sim_tr *t = tr_add(s, SIM_TR_LOG);
  if (t) {
    t->from = n->name;
    t->level = level;
    t->text = dup_n(line, len);
    t->len = len;
  }
  if (getenv("SIM_VERBOSE"))
    fprintf(stderr, "%8lld %s: %s\n", (long long)s->now, n->name, line);
}

static imsec_time_ms port_now(void *ctx) {
  const sim_node *n = ctx;
  return n->s->now;
}

static void port_wake(void *ctx) {
  sim_node *n = ctx;
  if (n->poll_pending)
    return;
  n->poll_pending = 1;
  event *ev = ev_new(n->s, EV_POLL, n->s->now);
  ev->node = n;
  heap_push(n->s, ev);
}

static const imsec_host_port sim_port = {
    .send = port_send,
    .connect = port_connect,
    .close = port_close,
    .keep = port_keep,
    .arm = port_arm,
    .log = port_log,
    .now = port_now,
    .wake = port_wake,
    .psk = port_psk,
};

/* ---------------------------------------------------------------- services */

typedef struct dctx {
  sim_node *node;
  imsec_svc_done_fn done;
  void *arg;
  imsec_svc_kind kind;
} dctx;

/* The test's service answered (inside its submit): the answer reaches the
 * host svc_delay later, as from a slow store. */
static void delayed_done(void *arg, const imsec_svc_req *req,
                         const imsec_svc_reply *rep) {
  dctx *c = arg;
  sim *s = c->node->s;
  dreply *d = calloc(1, sizeof(*d));
  if (!d)
    abort();
  d->done = c->done;
  d->arg = c->arg;
  d->req.kind = req ? req->kind : c->kind;
  d->req.id = req ? req->id : rep->id;
  d->rep = *rep;
  d->rep.reg = NULL;
  if (rep->reg) {
    if (imsec_reg_record_copy(&d->reg, rep->reg) != 0)
      abort();
    d->has_reg = 1;
  }
  event *ev = ev_new(s, EV_REPLY, s->now + s->svc_delay);
  ev->node = c->node;
  ev->rep = d;
  heap_push(s, ev);
  if (c->kind != IMSEC_SVC_REG_LOAD || rep->last)
    free(c);
}

static int sim_svc_submit(imsec_svc *svc, imsec_svc_req *req,
                          imsec_svc_done_fn done, void *arg) {
  sim_node *n = ((sim_svc *)svc)->node;
  if (!n->svc) {
    imsec_reg_record_free(&req->reg);
    return IMSEC_ERR_UNSUPPORTED;
  }
  if (n->s->svc_delay <= 0)
    return n->svc->vt->submit(n->svc, req, done, arg);
  dctx *c = calloc(1, sizeof(*c));
  if (!c) {
    imsec_reg_record_free(&req->reg);
    return IMSEC_ERR_NOMEM;
  }
  c->node = n;
  c->done = done;
  c->arg = arg;
  c->kind = req->kind;
  int r = n->svc->vt->submit(n->svc, req, delayed_done, c);
  if (r < 0)
    free(c);
  return r;
}

static void sim_svc_destroy(imsec_svc *svc) {
  (void)svc; /* part of its node */
}

static const imsec_svc_vtable sim_svc_vt = {
    .submit = sim_svc_submit,
    .destroy = sim_svc_destroy,
};

void sim_call(sim_node *n, imsec_host_call_fn fn, void *arg) {
  imsec_host_call(n->host, fn, arg);
}

/* ---------------------------------------------------------------- events */

static void flow_info(const end *e, imsec_flow_info *info) {
  memset(info, 0, sizeof *info);
  info->tp = e->tp;
  info->inbound = e->inbound;
  info->local = e->local;
  info->peer = e->peer_addr;
  /* Fixed facts of a listener (sim_listen_facts) go as they are; a DER
   * chain (sim_listen_tls) is checked by the host. */
  if (e->psk) {
    /* A PSK handshake: no certificate either way. */
    info->psk = 1;
    info->psk_identity = e->psk_identity;
  } else if (!e->inbound && e->lst && e->lst->facts && tp_secure(e->tp)) {
    info->peer_cert = e->lst->facts;
  } else if (e->inbound && e->send_chain && e->cp && e->cp->facts &&
             tp_secure(e->tp)) {
    info->peer_cert = e->cp->facts;
  }
  if (e->tp == IMSEC_TP_TLS)
    info->tls_version = "TLSv1.3";
  else if (e->tp == IMSEC_TP_DTLS)
    info->tls_version = "DTLSv1.2";
  info->resumed = e->resumed;
}

static void run_event(sim *s, event *ev) {
  switch (ev->kind) {
  case EV_UP: {
    end *e = get_end(s, ev->end);
    if (!e || e->down || e->closed || !e->node)
      break;
    e->up = 1;
    sim_node *n = e->node;
    imsec_flow_info info;
    flow_info(e, &info);
    sim_tr *t = tr_add(s, SIM_TR_UP);
    if (t) {
      t->from = n->name;
      end *pe = get_end(s, e->peer);
      t->to = pe && pe->node ? pe->node->name : "?";
      t->flow = ev->end;
    }
    const imsec_bytes *chain = NULL;
    size_t nc = 0;
    if (e->psk) {
      /* no certificates */
    } else if (!e->inbound && e->lst && e->lst->n_chain) {
      chain = e->lst->chain;
      nc = e->lst->n_chain < MAX_CHAIN ? e->lst->n_chain : MAX_CHAIN;
    } else if (e->inbound && e->send_chain && e->cp && e->cp->n_chain) {
      /* The client's certificate (modes M2a, M2b): the accepting host
       * makes the facts from it, as from a server's. */
      chain = e->cp->chain;
      nc = e->cp->n_chain < MAX_CHAIN ? e->cp->n_chain : MAX_CHAIN;
      /* A resumed session kept the client's leaf only (as net/). */
      if (e->resumed)
        nc = 1;
    }
    int v = imsec_host_flow_up(n->host, ev->end, ev->tag, &info, chain, nc);
    if (v < 0 && !e->closed && !e->down) {
      /* The port closes a refused flow; its going-down reaches the
       * element once (include/imsec/host.h). */
      e->own_close = 2;
      close_flow(s, ev->end, v, IMSEC_ERR_IO);
    }
    break;
  }
  case EV_DOWN: {
    end *e = get_end(s, ev->end);
    if (!e || e->down)
      break;
    e->down = 1;
    e->closed = 1;
    sim_node *n = e->node;
    /* net/ tells of flows that were up, and of outgoing ones (also when
     * they never came up: then the flow is 0, as for a failed connect). */
    if (!n || (!e->up && e->inbound))
      break;
    sim_tr *t = tr_add(s, SIM_TR_DOWN);
    if (t) {
      t->from = n->name;
      t->flow = ev->end;
      t->reason = ev->reason;
    }
    uint64_t id = e->up ? ev->end : 0;
    if (e->own_close) {
      /* Closed by its element: once, so the host forgets the flow (it
       * delivers nothing). Refused at flow-up: the host forgot it, and
       * passes the going-down on to the element, as with the net port
       * (include/imsec/host.h). */
      if (id)
        imsec_host_flow_down(n->host, id, e->ntags ? e->tags[0] : 0,
                             ev->reason);
      break;
    }
    size_t nt = e->ntags;
    for (size_t i = 0; i < nt; i++)
      imsec_host_flow_down(n->host, id, e->tags[i], ev->reason);
    break;
  }
  case EV_MSG: {
    end *e = get_end(s, ev->end);
    const char *to = e && e->node ? e->node->name : "?";
    if (e && !e->node && !e->down) {
      /* To an attacker end: traced, read by the test. */
      sim_tr *t = tr_add(s, SIM_TR_MSG);
      if (t) {
        t->from = ev->from;
        t->to = to;
        t->flow = ev->end;
        t->text = dup_n(ev->data, ev->len);
        t->len = ev->len;
      }
      break;
    }
    if (!e || e->down || !e->node || !e->up) {
      trace_drop(s, ev->from, to, ev->end, ev->data, ev->len);
      break;
    }
    sim_tr *t = tr_add(s, SIM_TR_MSG);
    if (t) {
      t->from = ev->from;
      t->to = to;
      t->flow = ev->end;
      t->text = dup_n(ev->data, ev->len);
      t->len = ev->len;
    }
    if (getenv("SIM_VERBOSE")) {
      size_t k = 0;
      while (k < ev->len && ev->data[k] != '\r')
        k++;
      fprintf(stderr, "%8lld %s -> %s: %.*s\n", (long long)s->now, ev->from, to,
              (int)k, (const char *)ev->data);
    }
    imsec_host_message(e->node->host, ev->end, ev->data, ev->len);
    break;
  }
  case EV_TIMER: {
    sim_node *n = ev->node;
    if (ev->gen != n->arm_gen)
      break; /* re-armed since */
    sim_tr *tr = tr_add(s, SIM_TR_TIMER);
    if (tr)
      tr->from = n->name;
    imsec_host_expire(n->host);
    break;
  }
  case EV_CONNFAIL: {
    sim_node *n = ev->node;
    sim_tr *t = tr_add(s, SIM_TR_DOWN);
    if (t) {
      t->from = n->name;
      t->reason = ev->reason;
    }
    imsec_host_flow_down(n->host, 0, ev->tag, ev->reason);
    break;
  }
  case EV_IDLE: {
    end *e = get_end(s, ev->end);
    if (e && !e->kept && !e->closed && !e->down)
      close_flow(s, ev->end, IMSEC_ERR_TIMEOUT, 0);
    break;
  }
  case EV_ALERT: {
    end *e = get_end(s, ev->end);
    if (e && !e->closed && !e->down)
      schedule_down(s, ev->end, IMSEC_ERR_IO, s->now);
    break;
  }
  case EV_POLL:
    ev->node->poll_pending = 0;
    imsec_host_poll(ev->node->host);
    break;
  case EV_REPLY: {
    dreply *d = ev->rep;
    if (d->has_reg)
      d->rep.reg = &d->reg;
    d->done(d->arg, &d->req, &d->rep);
    /* The host's done woke the node: its EV_POLL, now, delivers. */
    break;
  }
  }
}

static long run_to(sim *s, imsec_time_ms limit, int (*pred)(void *), void *arg,
                   int *held) {
  long count = 0;
  while (s->nheap > 0 && s->heap[0]->at <= limit) {
    event *ev = heap_pop(s);
    if (ev->at > s->now)
      s->now = ev->at;
    run_event(s, ev);
    ev_free(ev);
    if (++count > MAX_EVENTS_PER_RUN)
      return -1;
    if (pred && pred(arg)) {
      *held = 1;
      return count;
    }
  }
  return count;
}

long sim_run(sim *s, imsec_time_ms max_ms) {
  return run_to(s, s->now + max_ms, NULL, NULL, NULL);
}

long sim_run_idle(sim *s) {
  return run_to(s, s->now, NULL, NULL, NULL);
}

long sim_advance(sim *s, imsec_time_ms ms) {
  imsec_time_ms limit = s->now + ms;
  long n = run_to(s, limit, NULL, NULL, NULL);
  if (n >= 0)
    s->now = limit;
  return n;
}

int sim_run_until(sim *s, int (*pred)(void *arg), void *arg,
                  imsec_time_ms max_ms) {
  if (pred(arg))
    return 1;
  int held = 0;
  (void)run_to(s, s->now + max_ms, pred, arg, &held);
  return held;
}

/* ---------------------------------------------------------------- faults */

int sim_flow_fail(sim *s, uint64_t flow, int reason) {
  end *e = get_end(s, flow);
  if (!e || e->down)
    return -1;
  uint64_t peer = e->peer;
  schedule_down(s, flow, reason, s->now);
  schedule_down(s, peer, reason, s->now);
  return 0;
}

int sim_inject(sim *s, uint64_t flow, const void *data, size_t len) {
  end *e = get_end(s, flow);
  if (!e || e->down)
    return -1;
  end *pe = get_end(s, e->peer);
  deliver_later(s, pe && pe->node ? pe->node->name : "?", flow,
                (uint8_t *)dup_n(data, len), len, s->now);
  return 0;
}

uint64_t sim_attach(sim *s, const imsec_addr *addr, const char *from_host) {
  listener *l = find_listener(s, addr);
  if (!l)
    return 0;
  uint64_t ia = new_end(s), ib = new_end(s);
  end *ea = get_end(s, ia), *eb = get_end(s, ib);
  s->opened++;
  ea->peer = ib;
  ea->tp = addr->tp;
  ea->up = 1;
  ea->local.tp = addr->tp;
  snprintf(ea->local.host, sizeof ea->local.host, "%s",
           from_host ? from_host : "192.0.2.66");
  ea->local.port = 50000 + (uint16_t)(ia % 10000);
  ea->peer_addr = *addr;
  eb->node = l->node;
  eb->peer = ia;
  eb->inbound = 1;
  eb->tp = addr->tp;
  eb->local = *addr;
  eb->peer_addr = ea->local;
  end_add_tag(eb, 0);
  event *ev = ev_new(s, EV_UP, s->now);
  ev->end = ib;
  ev->node = l->node;
  heap_push(s, ev);
  return ia;
}

int sim_inject_from(sim *s, uint64_t attacker_end, const void *data,
                    size_t len) {
  end *e = get_end(s, attacker_end);
  if (!e || e->node || e->closed)
    return -1;
  send_from(s, attacker_end, data, len);
  return 0;
}

/* ---------------------------------------------------------------- trace */

size_t sim_trace_count(const sim *s) {
  return s->ntr;
}

const sim_tr *sim_trace_at(const sim *s, size_t i) {
  return i < s->ntr ? &s->tr[i] : NULL;
}

static int starts_with(const char *text, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(text, prefix, n) == 0;
}

static int msg_match(const sim_tr *t, const char *from, const char *to,
                     const char *start) {
  return t->kind == SIM_TR_MSG && !t->dropped &&
         (!from || strcmp(t->from, from) == 0) &&
         (!to || strcmp(t->to, to) == 0) &&
         (!start || starts_with(t->text, t->len, start));
}

size_t sim_trace_msgs(const sim *s, const char *from, const char *to,
                      const char *start) {
  size_t n = 0;
  for (size_t i = 0; i < s->ntr; i++)
    n += msg_match(&s->tr[i], from, to, start) ? 1u : 0u;
  return n;
}

const sim_tr *sim_trace_msg(const sim *s, const char *from, const char *to,
                            const char *start, size_t k) {
  for (size_t i = 0; i < s->ntr; i++) {
    if (msg_match(&s->tr[i], from, to, start) && k-- == 0)
      return &s->tr[i];
  }
  return NULL;
}

int sim_trace_log_has(const sim *s, const char *from, const char *needle) {
  for (size_t i = 0; i < s->ntr; i++) {
    const sim_tr *t = &s->tr[i];
    if (t->kind == SIM_TR_LOG && (!from || strcmp(t->from, from) == 0) &&
        strstr(t->text, needle))
      return 1;
  }
  return 0;
}

void sim_trace_print(const sim *s, FILE *f, int full, int logs) {
  for (size_t i = 0; i < s->ntr; i++) {
    const sim_tr *t = &s->tr[i];
    switch (t->kind) {
    case SIM_TR_MSG: {
      size_t k = 0;
      while (k < t->len && t->text[k] != '\r' && t->text[k] != '\n')
        k++;
      fprintf(f, "%8lld  %-10s -> %-10s %s%.*s\n", (long long)t->at, t->from,
              t->to, t->dropped ? "(dropped) " : "", (int)(full ? t->len : k),
              t->text);
      break;
    }
    case SIM_TR_UP:
      fprintf(f, "%8lld  %-10s    flow %llu up (peer %s)\n", (long long)t->at,
              t->from, (unsigned long long)t->flow, t->to);
      break;
    case SIM_TR_DOWN:
      fprintf(f, "%8lld  %-10s    flow %llu down (%s)\n", (long long)t->at,
              t->from, (unsigned long long)t->flow,
              t->reason ? imsec_strerror(t->reason) : "closed");
      break;
    case SIM_TR_LOG:
      if (logs)
        fprintf(f, "%8lld  %-10s    log: %s\n", (long long)t->at, t->from,
                t->text);
      break;
    case SIM_TR_TIMER:
      break;
    }
  }
}

int sim_msg_header(const sim_tr *t, const char *name, char *buf, size_t cap) {
  if (!t || t->kind != SIM_TR_MSG || !t->text)
    return -1;
  size_t nl = strlen(name);
  const char *p = t->text, *stop = t->text + t->len;
  /* Skip the start line. */
  const char *line = memchr(p, '\n', t->len);
  while (line && line + 1 < stop) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(stop - line));
    if (!eol)
      eol = stop;
    size_t ll = (size_t)(eol - line);
    if (ll <= 2)
      break; /* the blank line: end of headers */
    if (ll > nl && strncasecmp(line, name, nl) == 0) {
      const char *q = line + nl;
      while (q < eol && (*q == ' ' || *q == '\t'))
        q++;
      if (q < eol && *q == ':') {
        q++;
        while (q < eol && (*q == ' ' || *q == '\t'))
          q++;
        const char *v_end = eol;
        while (v_end > q && (v_end[-1] == '\r' || v_end[-1] == ' '))
          v_end--;
        size_t vl = (size_t)(v_end - q);
        if (vl + 1 > cap)
          vl = cap ? cap - 1 : 0;
        if (cap) {
          memcpy(buf, q, vl);
          buf[vl] = 0;
        }
        return (int)vl;
      }
    }
    line = eol;
  }
  return -1;
}
