/* The scenario driver (scenario.h): one world, two backends. */
#define _GNU_SOURCE
#include "scenario.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsec/crypto.h"
#include "imsec/host_net.h"
#include "imsec/hss.h"
#include "imsec/pcscf.h"
#include "imsec/pki.h"
#include "imsec/scscf.h"
#include "imsec/svc.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"
#include "net_util.h"
#include "sim.h"
#include "test_util.h"
#include "udp_relay.h"

#define TD "3gppnetwork.org"
#define PCSCF_HOME "pcscf." SC_HOME
#define PCSCF_VISITED "pcscf." SC_VISITED
#define PCSCF_OTHER "pcscf." SC_OTHER
#define SCSCF_NAME "scscf." SC_HOME
#define MAX_UES 16
/* The home P-CSCF's client context for dialling UEs (mode M2b). */
#define SC_DIAL_PROFILE IMSEC_PCSCF_UE_PROFILE
/* The UE's client context for DTLS. */
#define SC_UE_DTLS_PROFILE IMSEC_UE_DTLS_PROFILE
/* How long a look or an act may wait for an element's loop thread: far
 * beyond what a loaded machine needs, only a bound on a hung loop. */
#define CALL_WAIT_MS 30000

/* The P-CSCF elements: home, visited, rogue (two listeners). */
enum { P_HOME = 0, P_VISITED = 1, P_ROGUE = 2, P_N = 3 };

/* One element: a sim node or a net port. */
typedef struct elem {
  char name[16];
  sim_node *n;
  imsec_hostnet *r;
  int started;
} elem;

struct sc_ue {
  elem e;
  char impi[128], impu[160], tel[64];
  char instance[64]; /* a second device's +sip.instance ("" derived) */
  uint8_t k[16], opc[16];
  imsec_crypto *cr;
  imsec_ue *ue;
  imsec_svc *svc; /* its SQN writes */
  imsec_x509_anchors *anchors;
  atomic_ulong sqn_writes;
  imsec_pki_cred *cred;     /* M2a, M2b: its certificate (sip:IMPI) */
  uint8_t psk[32];          /* M3: its configured key */
  imsec_addr listen;        /* M2b: where it listens */
  t_udp_relay *relay;       /* SC_NET, DTLS loss: between it and the P-CSCF */
  int lose_down, seen_down; /* SC_SIM, DTLS loss */
};

/* A message an element sent (out) or received, from the net ladder. */
typedef struct rec {
  char elem[16];
  int out;
  uint64_t flow;
  char *text;
  size_t len;
} rec;

/* The configured PSKs of the home P-CSCF (M3), for the net port's table
 * (imsec_hostnet_psk_set_static replaces them all at once). */
typedef struct psk_row {
  char identity[128];
  uint8_t key[32];
} psk_row;

struct sc_world {
  sc_backend b;
  sc_mode mode;
  sim *s;
  char dir[64]; /* SC_NET: the PEM files */
  imsec_pki_cred *root, *op1, *op2, *op3, *home, *visited, *other, *self;
  /* A TLS core (tls_core): the S-CSCF's network element certificate,
   * serverAuth and clientAuth (TS 33.310 §6.1.3c). */
  imsec_pki_cred *scscf_cred;
  imsec_crypto *cr;   /* the test thread's (subscriber keys) */
  imsec_crypto *cr_s; /* the S-CSCF's and its HSS's (one thread) */
  imsec_crypto *cr_p[P_N];
  imsec_hss_store *store;
  imsec_hss *hss;
  imsec_reg_store *regs;
  imsec_svc *svc;
  imsec_scscf *scscf;
  elem scscf_e;
  imsec_pcscf *pcscf[P_N];
  elem pcscf_e[P_N];
  imsec_addr ue_side[SC_PCSCF_N]; /* where UEs dial each P-CSCF */
  imsec_addr home_tls; /* the home P-CSCF's TLS listener (DTLS world) */
  sc_ue *ues[MAX_UES];
  size_t nue;
  imsec_x509_anchors *pc_anchors; /* the home P-CSCF's, for UE certs */
  psk_row psks[MAX_UES];
  size_t npsk;
  pthread_mutex_t mu; /* recs (written by the loop threads) */
  rec *recs;
  size_t nrec, caprec;
};

static const char *const g_pcscf_names[SC_PCSCF_N] = {PCSCF_HOME, PCSCF_VISITED,
                                                      PCSCF_OTHER, PCSCF_HOME};

static int pcscf_elem(sc_pcscf p) {
  return p == SC_PCSCF_HOME      ? P_HOME
         : p == SC_PCSCF_VISITED ? P_VISITED
                                 : P_ROGUE;
}

static imsec_addr A(const char *text) {
  imsec_addr a;
  assert_int_equal(imsec_addr_parse(imsec_str_c(text), &a), 0);
  return a;
}

static imsec_addr lo(imsec_tp tp, uint16_t port) {
  imsec_addr a;
  memset(&a, 0, sizeof a);
  a.tp = tp;
  snprintf(a.host, sizeof a.host, "127.0.0.1");
  a.port = port;
  return a;
}

sc_backend sc_world_backend(const sc_world *w) {
  return w->b;
}

/* ------------------------------------------------------------ PKI */

static void issue(const char *cn, const char *domain, int ca,
                  const imsec_pki_cred *issuer, imsec_pki_cred **out) {
  assert_int_equal(t_pki_issue(cn, domain, ca, issuer, out), 0);
}

static void pki_make(sc_world *w) {
  issue("IMS root", NULL, 1, NULL, &w->root);
  issue(SC_HOME, SC_HOME, 1, w->root, &w->op1);
  issue(SC_VISITED, SC_VISITED, 1, w->root, &w->op2);
  issue(SC_OTHER, SC_OTHER, 1, w->root, &w->op3);
  issue(PCSCF_HOME, NULL, 0, w->op1, &w->home);
  issue(PCSCF_VISITED, NULL, 0, w->op2, &w->visited);
  issue(PCSCF_OTHER, NULL, 0, w->op3, &w->other);
  issue(PCSCF_HOME, NULL, 0, NULL, &w->self);
}

/* A network element's certificate: its name as dNSName and sip: URI,
 * serverAuth and clientAuth, under the home operator's CA. */
static imsec_pki_cred *ne_cred(sc_world *w, const char *name) {
  char uri[300];
  snprintf(uri, sizeof uri, "sip:%s", name);
  const char *dns[] = {name};
  const char *uris[] = {uri};
  int64_t now = (int64_t)time(NULL);
  imsec_pki_spec sp = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = name,
      .path_len = -1,
      .dns = dns,
      .n_dns = 1,
      .uris = uris,
      .n_uris = 1,
      .server_auth = 1,
      .client_auth = 1,
      .not_before = now - 3600,
      .not_after = now + 86400,
  };
  imsec_pki_cred *c = NULL;
  assert_int_equal(imsec_pki_issue(&sp, w->op1, &c), 0);
  return c;
}

static const char *wpath(const sc_world *w, const char *name, char *buf,
                         size_t cap) {
  snprintf(buf, cap, "%s/%s", w->dir, name);
  return buf;
}

/* SC_NET: chain (leaf, CA) and key of a listener, as PEM files. */
static void pki_write(sc_world *w, const char *base, const imsec_pki_cred *leaf,
                      const imsec_pki_cred *ca) {
  char name[64], p[128];
  const imsec_pki_cred *chain[2] = {leaf, ca};
  snprintf(name, sizeof name, "%s.pem", base);
  assert_int_equal(
      imsec_pki_write_certs(wpath(w, name, p, sizeof p), chain, ca ? 2 : 1, 1),
      0);
  snprintf(name, sizeof name, "%s.key", base);
  assert_int_equal(imsec_pki_write_key(leaf, wpath(w, name, p, sizeof p), 1),
                   0);
}

/* The UEs' trust configuration (one per UE: each UE's loop reads its own). */
static imsec_x509_anchors *anchors_new(sc_world *w) {
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  imsec_bytes r = imsec_pki_cred_der(w->root);
  imsec_bytes h = imsec_pki_cred_der(w->op1);
  imsec_bytes v = imsec_pki_cred_der(w->op2);
  assert_int_equal(imsec_x509_anchors_add_root(a, r.p, r.len), 0);
  assert_int_equal(imsec_x509_anchors_set_home_ca(a, h.p, h.len), 0);
  assert_int_equal(imsec_x509_anchors_add_partner(a, v.p, v.len, SC_VISITED),
                   0);
  return a;
}

/* ------------------------------------------------------------ records */

static void on_ladder(void *user, const imsec_hostnet_ladder_ev *ev) {
  sc_world *w = user;
  pthread_mutex_lock(&w->mu);
  if (w->nrec == w->caprec) {
    size_t cap = w->caprec ? 2 * w->caprec : 64;
    rec *n = realloc(w->recs, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&w->mu);
      return;
    }
    w->recs = n;
    w->caprec = cap;
  }
  rec *r = &w->recs[w->nrec];
  memset(r, 0, sizeof *r);
  snprintf(r->elem, sizeof r->elem, "%s", ev->elem);
  r->out = ev->out;
  r->flow = ev->flow;
  r->text = malloc(ev->len + 1);
  if (r->text) {
    memcpy(r->text, ev->msg, ev->len);
    r->text[ev->len] = 0;
    r->len = ev->len;
    w->nrec++;
  }
  pthread_mutex_unlock(&w->mu);
}

static int starts(const char *text, size_t len, const char *start) {
  size_t n = start ? strlen(start) : 0;
  return !start || (len >= n && memcmp(text, start, n) == 0); /* no secret */
}

/* The i-th record sent by `from` starting with `start`, copied (the
 * caller frees text), or 0. */
static int rec_find(sc_world *w, const char *from, const char *start, size_t i,
                    rec *out) {
  int found = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t k = 0; k < w->nrec; k++) {
    const rec *r = &w->recs[k];
    if (!r->out || strcmp(r->elem, from) != 0 ||
        !starts(r->text, r->len, start))
      continue;
    if (i-- == 0) {
      *out = *r;
      out->text = strdup(r->text);
      found = out->text != NULL;
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return found;
}

/* SC_SIM: the i-th message `from` sent starting with `start`, also one
 * lost on the way (the net port's ladder records what an element sends,
 * whatever becomes of it); NULL when fewer. */
static const sim_tr *sim_sent(const sc_world *w, const char *from,
                              const char *start, size_t i) {
  for (size_t k = 0; k < sim_trace_count(w->s); k++) {
    const sim_tr *t = sim_trace_at(w->s, k);
    if (t->kind == SIM_TR_MSG && strcmp(t->from, from) == 0 &&
        starts(t->text, t->len, start) && i-- == 0)
      return t;
  }
  return NULL;
}

size_t sc_msgs(sc_world *w, const char *from, const char *start) {
  if (w->b == SC_SIM) {
    size_t n = 0;
    while (sim_sent(w, from, start, n))
      n++;
    return n;
  }
  size_t n = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t k = 0; k < w->nrec; k++)
    if (w->recs[k].out && strcmp(w->recs[k].elem, from) == 0 &&
        starts(w->recs[k].text, w->recs[k].len, start))
      n++;
  pthread_mutex_unlock(&w->mu);
  return n;
}

size_t sc_msgs_in(sc_world *w, const char *name) {
  if (w->b == SC_SIM)
    return sim_trace_msgs(w->s, NULL, name, NULL);
  size_t n = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t k = 0; k < w->nrec; k++)
    if (!w->recs[k].out && strcmp(w->recs[k].elem, name) == 0)
      n++;
  pthread_mutex_unlock(&w->mu);
  return n;
}

uint64_t sc_msg_flow(sc_world *w, const char *from, const char *start,
                     size_t i) {
  if (w->b == SC_SIM) {
    const sim_tr *t = sim_sent(w, from, start, i);
    return t ? t->flow : 0;
  }
  rec r;
  if (!rec_find(w, from, start, i, &r))
    return 0;
  free(r.text);
  return r.flow;
}

const char *sc_msg_header(sc_world *w, const char *from, const char *start,
                          size_t i, const char *name, char *buf, size_t cap) {
  buf[0] = 0;
  if (w->b == SC_SIM) {
    const sim_tr *t = sim_sent(w, from, start, i);
    if (!t || sim_msg_header(t, name, buf, cap) < 0)
      buf[0] = 0;
    return buf;
  }
  rec r;
  if (!rec_find(w, from, start, i, &r))
    return buf;
  /* The sim's header reader, over the recorded message. */
  sim_tr t;
  memset(&t, 0, sizeof t);
  t.kind = SIM_TR_MSG;
  t.text = r.text;
  t.len = r.len;
  if (sim_msg_header(&t, name, buf, cap) < 0)
    buf[0] = 0;
  free(r.text);
  return buf;
}

/* The i-th message `name` received starting with `start` on `flow` (0:
 * any): 1 and its flow, or 0. */
static int in_find(sc_world *w, const char *name, const char *start,
                   uint64_t flow, size_t i, uint64_t *got) {
  if (w->b == SC_SIM) {
    for (size_t k = 0; k < sim_trace_count(w->s); k++) {
      const sim_tr *t = sim_trace_at(w->s, k);
      if (t->kind != SIM_TR_MSG || t->dropped || strcmp(t->to, name) != 0 ||
          !starts(t->text, t->len, start) || (flow && t->flow != flow))
        continue;
      if (i-- == 0) {
        *got = t->flow;
        return 1;
      }
    }
    return 0;
  }
  int found = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t k = 0; k < w->nrec; k++) {
    const rec *r = &w->recs[k];
    if (r->out || strcmp(r->elem, name) != 0 ||
        !starts(r->text, r->len, start) || (flow && r->flow != flow))
      continue;
    if (i-- == 0) {
      *got = r->flow;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return found;
}

size_t sc_msgs_in_on(sc_world *w, const char *name, const char *start,
                     uint64_t flow) {
  size_t n = 0;
  uint64_t f;
  while (in_find(w, name, start, flow, n, &f))
    n++;
  return n;
}

uint64_t sc_msg_in_flow(sc_world *w, const char *name, const char *start,
                        size_t i) {
  uint64_t f = 0;
  return in_find(w, name, start, 0, i, &f) ? f : 0;
}

char *sc_msg_text(sc_world *w, const char *from, const char *start, size_t i) {
  if (w->b == SC_SIM) {
    const sim_tr *t = sim_sent(w, from, start, i);
    return t ? strndup(t->text, t->len) : NULL;
  }
  rec r;
  return rec_find(w, from, start, i, &r) ? r.text : NULL;
}

size_t sc_msgs_on(sc_world *w, const char *from, const char *start,
                  uint64_t flow) {
  size_t n = 0, all = sc_msgs(w, from, start);
  for (size_t i = 0; i < all; i++)
    n += sc_msg_flow(w, from, start, i) == flow;
  return n;
}

uint64_t sc_ue_reg_flow(sc_world *w, const char *pcscf, sc_ue *u) {
  /* The UE keeps one Call-ID for its REGISTERs (RFC 3261 §10.2.4): the
   * last 200 with it is the answer to its last REGISTER. */
  char cid[256], v[256];
  size_t nreg = sc_msgs(w, u->e.name, "REGISTER");
  if (!nreg || !sc_msg_header(w, u->e.name, "REGISTER", nreg - 1, "Call-ID",
                              cid, sizeof cid)[0])
    return 0;
  uint64_t flow = 0;
  size_t n = sc_msgs(w, pcscf, "SIP/2.0 200");
  for (size_t i = 0; i < n; i++) {
    if (strcmp(
            sc_msg_header(w, pcscf, "SIP/2.0 200", i, "Call-ID", v, sizeof v),
            cid) != 0) /* no secret: a Call-ID */
      continue;
    if (strstr(sc_msg_header(w, pcscf, "SIP/2.0 200", i, "CSeq", v, sizeof v),
               "REGISTER"))
      flow = sc_msg_flow(w, pcscf, "SIP/2.0 200", i);
  }
  return flow;
}

size_t sc_dgrams_lost(sc_world *w) {
  if (w->b == SC_SIM)
    return sim_dgrams_lost(w->s);
  size_t n = 0;
  for (size_t i = 0; i < w->nue; i++)
    if (w->ues[i]->relay)
      n += t_udp_relay_lost(w->ues[i]->relay);
  return n;
}

void sc_dump(sc_world *w) {
  if (!getenv("SCENARIO_LADDER"))
    return;
  if (w->b == SC_SIM) {
    sim_trace_print(w->s, stderr, 0, 1);
    return;
  }
  pthread_mutex_lock(&w->mu);
  for (size_t k = 0; k < w->nrec; k++) {
    const rec *r = &w->recs[k];
    const char *eol = strpbrk(r->text, "\r\n");
    int n = eol ? (int)(eol - r->text) : (int)r->len;
    fprintf(stderr, "%-7s %s flow %llu: %.*s\n", r->elem, r->out ? "->" : "<-",
            (unsigned long long)r->flow, n, r->text);
  }
  pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------ elements */

static void *elem_self(const elem *e) {
  return e->n ? sim_node_self(e->n) : imsec_hostnet_self(e->r, 0);
}

/* An act: fn on the element's thread with its actions carried out. */
static void elem_call(sc_world *w, elem *e, imsec_host_call_fn fn, void *arg) {
  if (w->b == SC_SIM) {
    sim_call(e->n, fn, arg);
    return;
  }
  assert_true(e->started);
  assert_int_equal(imsec_hostnet_call_wait(e->r, fn, arg, CALL_WAIT_MS), 0);
}

/* A look: fn(self, arg) on the element's thread, no actions. In the sim
 * (one thread) it runs at once, also from inside a predicate. */
typedef void (*look_fn)(void *self, void *arg);
typedef struct look_ctx {
  look_fn fn;
  void *arg;
} look_ctx;

static void look_tramp(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  (void)now;
  (void)out;
  look_ctx *c = arg;
  c->fn(self, c->arg);
}

static void elem_look(sc_world *w, elem *e, look_fn fn, void *arg) {
  if (w->b == SC_SIM || !e->started) {
    fn(elem_self(e), arg); /* no thread runs it yet */
    return;
  }
  look_ctx c = {fn, arg};
  assert_int_equal(imsec_hostnet_call_wait(e->r, look_tramp, &c, CALL_WAIT_MS),
                   0);
}

/* SC_NET: a port for an element, bound but not started; `self` may be set
 * later (imsec_hostnet_set_self) when the element needs the ports. */
static void net_port_p(sc_world *w, elem *e, const imsec_elem_ops *ops,
                       void *self, imsec_svc *svc,
                       const imsec_hostnet_listener *ls, size_t nl,
                       const imsec_net_tls_config *client,
                       const imsec_x509_anchors *anchors,
                       const imsec_hostnet_tls_profile *profiles,
                       size_t nprofiles) {
  imsec_hostnet_config c;
  memset(&c, 0, sizeof c);
  c.tls_profiles = profiles;
  c.n_tls_profiles = nprofiles;
  c.name = e->name;
  c.ops = ops;
  c.self = self;
  c.svc = svc;
  c.listeners = ls;
  c.n_listeners = nl;
  c.client_tls_cfg = client;
  c.anchors = anchors;
  c.log_level = getenv("SCENARIO_DEBUG") ? IMSEC_LOG_DEBUG : IMSEC_LOG_ERROR;
  c.ladder_fn = on_ladder;
  c.ladder_user = w;
  char err[256] = "";
  if (imsec_hostnet_new(&e->r, &c, err, sizeof err) != 0)
    fail_msg("%s: %s", e->name, err);
}

static void net_port(sc_world *w, elem *e, const imsec_elem_ops *ops,
                     void *self, imsec_svc *svc,
                     const imsec_hostnet_listener *ls, size_t nl,
                     const imsec_net_tls_config *client,
                     const imsec_x509_anchors *anchors) {
  net_port_p(w, e, ops, self, svc, ls, nl, client, anchors, NULL, 0);
}

static void elem_start(sc_world *w, elem *e) {
  if (w->b == SC_SIM)
    sim_node_start(e->n);
  else
    assert_int_equal(imsec_hostnet_start(e->r), 0);
  e->started = 1;
}

/* ------------------------------------------------------------ world */

/* Registration expiry is wall-clock in the store: the sim's clock there. */
static int64_t sim_wall(void *arg) {
  return sim_now(((sc_world *)arg)->s);
}

/* The home P-CSCF element's settings for the world's mode. */
static void pcscf_mode_config(const sc_world *w, imsec_pcscf_config *c) {
  /* M2a: every UE flow shows a certificate naming the REGISTER's IMPI.
   * M2b: a UE whose flow closed is dialled at its registered Contact. */
  if (w->mode == SC_M2A)
    c->client_cert = IMSEC_PCSCF_CLIENT_CERT_REQUIRE;
  c->dial_ue = w->mode == SC_M2B;
  /* M3 AKA-derived: keep CK/IK from the 401, derive and install the PSK
   * on the 200, move the binding on a PSK reconnect (docs/M3.md). */
  c->aka_psk = w->mode == SC_M3_AKA;
}

/* A TLS core between the home P-CSCF and the S-CSCF (TS 33.210 Za/Zb,
 * mutual TLS with network element certificates): in mode M3 AKA-derived,
 * where the S-CSCF hands CK and IK only to a P-CSCF its certificate
 * authenticated. The other worlds keep the plain core of their tests. */
static int tls_core(const sc_world *w) {
  return w->mode == SC_M3_AKA;
}

/* `route_name`: the S-CSCF's certificate name on a tls: route (NULL: a
 * plain route). */
static imsec_pcscf *pcscf_make(sc_world *w, int i, imsec_addr core,
                               const char *peer, imsec_addr scscf,
                               const char *visited, const char *route_name) {
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  c.core = core;
  /* a plain core is open to the S-CSCF's address only */
  snprintf(c.peer_addrs[0], sizeof c.peer_addrs[0], "%s", peer);
  c.n_peer_addrs = 1;
  c.n_routes = 1;
  char route[400];
  char a[300];
  assert_true(imsec_addr_format(&scscf, a, sizeof a) > 0);
  snprintf(route, sizeof route, "%s=%s%s%s", SC_HOME, a,
           route_name ? ";name=" : "", route_name ? route_name : "");
  assert_int_equal(imsec_pcscf_route_parse(imsec_str_c(route), &c.routes[0]),
                   0);
  if (visited)
    snprintf(c.visited_network, sizeof c.visited_network, "%s", visited);
  if (i == P_HOME)
    pcscf_mode_config(w, &c);
  imsec_pcscf *p = NULL;
  assert_int_equal(imsec_pcscf_new(&p, &c, w->cr_p[i]), 0);
  return p;
}

static imsec_scscf *scscf_make(sc_world *w, imsec_addr self,
                               const char *const *peers, size_t n) {
  imsec_scscf_config sc = {.domain = SC_HOME, .self = self};
  /* The core side is plain TCP from listed addresses only; the rogue
   * element is listed too, so that what refuses a rogue P-CSCF here is
   * the UE's own trust decision. */
  sc.insecure_core = 1;
  sc.peer_addrs = peers;
  sc.n_peer_addrs = n;
  imsec_scscf *s = NULL;
  assert_int_equal(imsec_scscf_new(&s, &sc, w->cr_s), 0);
  return s;
}

static void listen_chain(sim_node *n, const char *addr,
                         const imsec_pki_cred *leaf, const imsec_pki_cred *ca,
                         int tickets) {
  imsec_bytes chain[2] = {imsec_pki_cred_der(leaf),
                          ca ? imsec_pki_cred_der(ca) : (imsec_bytes){0}};
  imsec_addr a = A(addr);
  assert_int_equal(sim_listen_tls(n, &a, chain, ca ? 2 : 1, tickets), 0);
}

/* The home P-CSCF's access side in the world's mode: its TLS listener
 * (asking for client certificates in M2a, taking PSKs in M3), a DTLS
 * listener beside it, its client context for dialling UEs (M2b). */
static void sim_home_listeners(sc_world *w, const char *tls) {
  sim_node *n = w->pcscf_e[P_HOME].n;
  imsec_bytes chain[2] = {imsec_pki_cred_der(w->home),
                          imsec_pki_cred_der(w->op1)};
  sim_tls_opts o = {.chain = chain, .n_chain = 2, .tickets = 1};
  if (w->mode == SC_M2A)
    o.client_cert = SIM_CLIENT_CERT_REQUIRE; /* the element decides */
  if (w->mode == SC_M3 || w->mode == SC_M3_AKA)
    o.psk = 1;
  imsec_addr a = A(tls);
  assert_int_equal(sim_listen_opts(n, &a, &o), 0);
  w->ue_side[SC_PCSCF_HOME] = a;
  w->home_tls = a;
  if (w->mode == SC_DTLS) {
    a.tp = IMSEC_TP_DTLS;
    o.tickets = 0;
    assert_int_equal(sim_listen_opts(n, &a, &o), 0);
    w->ue_side[SC_PCSCF_HOME] = a;
  }
  if (w->mode == SC_M2A || w->mode == SC_M2B)
    sim_node_anchors(n, w->pc_anchors);
  if (w->mode == SC_M2B)
    assert_int_equal(
        sim_node_tls_profile(n, SC_DIAL_PROFILE, chain, 2, NULL, 0), 0);
}

/* SC_SIM, tls_core: a TLS listener asking for the peer's certificate,
 * the node's client certificate and anchors, all from `cred`. */
static void sim_core_tls(sc_world *w, sim_node *n, const imsec_pki_cred *cred,
                         const imsec_addr *at) {
  imsec_bytes chain[2] = {imsec_pki_cred_der(cred), imsec_pki_cred_der(w->op1)};
  sim_tls_opts o = {
      .chain = chain, .n_chain = 2, .client_cert = SIM_CLIENT_CERT_REQUIRE};
  assert_int_equal(sim_listen_opts(n, at, &o), 0);
  assert_int_equal(sim_node_client_chain(n, chain, 2), 0);
  sim_node_anchors(n, w->pc_anchors);
}

static void sim_world(sc_world *w) {
  assert_int_equal(sim_new(&w->s, 1000000), 0);
  static const char *const peers[] = {"10.0.0.2", "10.1.0.2", "10.9.0.2"};
  imsec_addr sa = A("tcp:10.0.0.10:5060");
  imsec_addr sa_tls = A("tls:10.0.0.10:5061");
  w->scscf = scscf_make(w, tls_core(w) ? sa_tls : sa, peers, 3);
  w->scscf_e.n =
      sim_add(w->s, w->scscf_e.name, &imsec_scscf_ops, w->scscf, "10.0.0.10");
  sim_node_svc(w->scscf_e.n, w->svc);
  elem_start(w, &w->scscf_e);
  assert_int_equal(sim_listen(w->scscf_e.n, &sa), 0);
  if (tls_core(w))
    sim_core_tls(w, w->scscf_e.n, w->scscf_cred, &sa_tls);
  static const struct {
    const char *host, *tls, *tls2, *core;
  } at[P_N] = {
      {"10.0.0.2", "tls:10.0.0.2:5061", NULL, "tcp:10.0.0.2:5060"},
      {"10.1.0.2", "tls:10.1.0.2:5061", NULL, "tcp:10.1.0.2:5060"},
      {"10.9.0.2", "tls:10.9.0.2:5061", "tls:10.9.0.3:5061",
       "tcp:10.9.0.2:5060"},
  };
  for (int i = 0; i < P_N; i++) {
    imsec_addr core = A(at[i].core);
    int tc = i == P_HOME && tls_core(w);
    if (tc)
      core = A("tls:10.0.0.2:5062");
    w->pcscf[i] = pcscf_make(w, i, core, "10.0.0.10", tc ? sa_tls : sa,
                             i == P_VISITED ? SC_VISITED_ID : NULL,
                             tc ? SCSCF_NAME : NULL);
    elem *e = &w->pcscf_e[i];
    e->n = sim_add(w->s, e->name, &imsec_pcscf_ops, w->pcscf[i], at[i].host);
    if (tc)
      sim_core_tls(w, e->n, w->home, &core);
    else
      assert_int_equal(sim_listen(e->n, &core), 0);
    elem_start(w, e); /* as the net port does: on_start, if any */
  }
  sim_home_listeners(w, at[P_HOME].tls);
  listen_chain(w->pcscf_e[P_VISITED].n, at[P_VISITED].tls, w->visited, w->op2,
               0);
  listen_chain(w->pcscf_e[P_ROGUE].n, at[P_ROGUE].tls, w->other, w->op3, 0);
  listen_chain(w->pcscf_e[P_ROGUE].n, at[P_ROGUE].tls2, w->self, NULL, 0);
  w->ue_side[SC_PCSCF_VISITED] = A(at[P_VISITED].tls);
  w->ue_side[SC_PCSCF_ROGUE] = A(at[P_ROGUE].tls);
  w->ue_side[SC_PCSCF_SELF_SIGNED] = A(at[P_ROGUE].tls2);
}

static void net_world(sc_world *w) {
  snprintf(w->dir, sizeof w->dir, "%s", t_mkdtemp());
  assert_true(w->dir[0] != 0);
  pki_write(w, "home", w->home, w->op1);
  pki_write(w, "visited", w->visited, w->op2);
  pki_write(w, "other", w->other, w->op3);
  pki_write(w, "self", w->self, NULL);
  char p[128];
  const imsec_pki_cred *root[1] = {w->root};
  assert_int_equal(
      imsec_pki_write_certs(wpath(w, "root.pem", p, sizeof p), root, 1, 1), 0);
  char rootf[128];
  wpath(w, "root.pem", rootf, sizeof rootf);
  /* A TLS core (tls_core): each end's certificate serves its listener
   * (asking for the peer's) and its client context; the elements judge
   * the peer from the facts (as in the sim). */
  char scf[128], sck[128], hcf[128], hck[128];
  imsec_net_tls_config s_srv, s_cli, h_srv, h_cli;
  memset(&s_srv, 0, sizeof s_srv);
  if (tls_core(w)) {
    pki_write(w, "scscf", w->scscf_cred, w->op1);
    s_srv.cert_file = wpath(w, "scscf.pem", scf, sizeof scf);
    s_srv.key_file = wpath(w, "scscf.key", sck, sizeof sck);
    s_srv.ca_file = rootf;
    s_srv.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    s_srv.defer_verify = 1;
    s_cli = s_srv;
    s_cli.client_auth = IMSEC_NET_CLIENT_CERT_NONE;
    s_cli.no_resume = 1;
    h_srv = s_srv;
    h_srv.cert_file = wpath(w, "home.pem", hcf, sizeof hcf);
    h_srv.key_file = wpath(w, "home.key", hck, sizeof hck);
    h_cli = h_srv;
    h_cli.client_auth = IMSEC_NET_CLIENT_CERT_NONE;
    h_cli.no_resume = 1;
  }
  /* The S-CSCF names its own address: bind, then make it. */
  imsec_hostnet_listener sl[2];
  memset(sl, 0, sizeof sl);
  sl[0].addr = lo(IMSEC_TP_TCP, 0);
  sl[1].addr = lo(IMSEC_TP_TLS, 0);
  sl[1].tls_cfg = &s_srv;
  net_port(w, &w->scscf_e, &imsec_scscf_ops, NULL, w->svc, sl,
           tls_core(w) ? 2 : 1, tls_core(w) ? &s_cli : NULL,
           tls_core(w) ? w->pc_anchors : NULL);
  imsec_addr sa = lo(IMSEC_TP_TCP, imsec_hostnet_port(w->scscf_e.r, 0));
  imsec_addr sa_tls =
      tls_core(w) ? lo(IMSEC_TP_TLS, imsec_hostnet_port(w->scscf_e.r, 1)) : sa;
  static const char *const peers[] = {"127.0.0.1"};
  w->scscf = scscf_make(w, sa_tls, peers, 1);
  imsec_hostnet_set_self(w->scscf_e.r, w->scscf);
  elem_start(w, &w->scscf_e);
  /* The P-CSCFs: TLS listener(s) towards UEs, a TCP core listener last. */
  static const struct {
    const char *cert[2];
    int tickets;
  } at[P_N] = {
      {{"home", NULL}, 1}, {{"visited", NULL}, 0}, {{"other", "self"}, 0}};
  for (int i = 0; i < P_N; i++) {
    imsec_net_tls_config tc[3];
    char cf[2][128], kf[2][128];
    imsec_hostnet_listener l[4];
    memset(l, 0, sizeof l);
    memset(tc, 0, sizeof tc);
    size_t nl = 0;
    for (int j = 0; j < 2 && at[i].cert[j]; j++) {
      char name[64];
      snprintf(name, sizeof name, "%s.pem", at[i].cert[j]);
      tc[j].cert_file = wpath(w, name, cf[j], sizeof cf[j]);
      snprintf(name, sizeof name, "%s.key", at[i].cert[j]);
      tc[j].key_file = wpath(w, name, kf[j], sizeof kf[j]);
      tc[j].tickets = at[i].tickets;
      l[nl].addr = lo(IMSEC_TP_TLS, 0);
      l[nl].tls_cfg = &tc[j];
      nl++;
    }
    /* The home P-CSCF's access side in the world's mode (as
     * sim_home_listeners). */
    const imsec_x509_anchors *an = NULL;
    imsec_hostnet_tls_profile dial;
    memset(&dial, 0, sizeof dial);
    imsec_net_tls_config dial_cfg;
    memset(&dial_cfg, 0, sizeof dial_cfg);
    if (i == P_HOME) {
      if (w->mode == SC_M2A) {
        tc[0].client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
        tc[0].ca_file = rootf;
        tc[0].defer_verify = 1; /* the element decides */
      }
      if (w->mode == SC_M3 || w->mode == SC_M3_AKA)
        l[0].psk = 1;
      if (w->mode == SC_DTLS) {
        tc[2] = tc[0];
        tc[2].dtls = 1;
        tc[2].tickets = 0;
        l[nl].addr = lo(IMSEC_TP_DTLS, 0);
        l[nl].tls_cfg = &tc[2];
        nl++;
      }
      if (w->mode == SC_M2A || w->mode == SC_M2B)
        an = w->pc_anchors;
      if (w->mode == SC_M2B) {
        dial_cfg.cert_file = tc[0].cert_file;
        dial_cfg.key_file = tc[0].key_file;
        dial_cfg.ca_file = rootf;
        dial_cfg.defer_verify = 1;
        dial_cfg.no_resume = 1;
        dial.name = SC_DIAL_PROFILE;
        dial.tls_cfg = &dial_cfg;
        dial.defer_verify = 1;
        dial.no_resume = 1;
      }
    }
    int tcore = i == P_HOME && tls_core(w);
    l[nl].addr = lo(tcore ? IMSEC_TP_TLS : IMSEC_TP_TCP, 0);
    if (tcore) {
      l[nl].tls_cfg = &h_srv;
      an = w->pc_anchors;
    }
    nl++;
    elem *e = &w->pcscf_e[i];
    net_port_p(w, e, &imsec_pcscf_ops, NULL, NULL, l, nl, tcore ? &h_cli : NULL,
               an, dial.name ? &dial : NULL, dial.name ? 1 : 0);
    imsec_addr core = lo(tcore ? IMSEC_TP_TLS : IMSEC_TP_TCP,
                         imsec_hostnet_port(e->r, nl - 1));
    w->pcscf[i] = pcscf_make(w, i, core, "127.0.0.1", tcore ? sa_tls : sa,
                             i == P_VISITED ? SC_VISITED_ID : NULL,
                             tcore ? SCSCF_NAME : NULL);
    imsec_hostnet_set_self(e->r, w->pcscf[i]);
    elem_start(w, e);
  }
  w->home_tls = lo(IMSEC_TP_TLS, imsec_hostnet_port(w->pcscf_e[P_HOME].r, 0));
  w->ue_side[SC_PCSCF_HOME] =
      w->mode == SC_DTLS
          ? lo(IMSEC_TP_DTLS, imsec_hostnet_port(w->pcscf_e[P_HOME].r, 1))
          : lo(IMSEC_TP_TLS, imsec_hostnet_port(w->pcscf_e[P_HOME].r, 0));
  w->ue_side[SC_PCSCF_VISITED] =
      lo(IMSEC_TP_TLS, imsec_hostnet_port(w->pcscf_e[P_VISITED].r, 0));
  w->ue_side[SC_PCSCF_ROGUE] =
      lo(IMSEC_TP_TLS, imsec_hostnet_port(w->pcscf_e[P_ROGUE].r, 0));
  w->ue_side[SC_PCSCF_SELF_SIGNED] =
      lo(IMSEC_TP_TLS, imsec_hostnet_port(w->pcscf_e[P_ROGUE].r, 1));
}

sc_world *sc_world_new(sc_backend b) {
  return sc_world_new_mode(b, SC_M1);
}

sc_world *sc_world_new_mode(sc_backend b, sc_mode m) {
  sc_world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->b = b;
  w->mode = m;
  pthread_mutex_init(&w->mu, NULL);
  snprintf(w->scscf_e.name, sizeof w->scscf_e.name, "scscf");
  snprintf(w->pcscf_e[P_HOME].name, sizeof w->pcscf_e[0].name, "pcscf");
  snprintf(w->pcscf_e[P_VISITED].name, sizeof w->pcscf_e[0].name, "vpcscf");
  snprintf(w->pcscf_e[P_ROGUE].name, sizeof w->pcscf_e[0].name, "rogue");
  pki_make(w);
  w->pc_anchors = anchors_new(w);
  if (tls_core(w) || w->mode == SC_M2B) {
    /* The home P-CSCF's certificate serves as a client's too (the core,
     * dialling UEs): serverAuth and clientAuth, as `imsec pki pcscf`
     * makes it. */
    imsec_pki_cred_del(w->home);
    w->home = ne_cred(w, PCSCF_HOME);
  }
  if (tls_core(w))
    w->scscf_cred = ne_cred(w, SCSCF_NAME);
  assert_int_equal(imsec_crypto_ossl_new(&w->cr), 0);
  assert_int_equal(imsec_crypto_ossl_new(&w->cr_s), 0);
  for (int i = 0; i < P_N; i++)
    assert_int_equal(imsec_crypto_ossl_new(&w->cr_p[i]), 0);
  assert_int_equal(imsec_hss_mem_new(&w->store), 0);
  assert_int_equal(imsec_hss_new(&w->hss, w->store, w->cr_s, NULL), 0);
  assert_int_equal(imsec_reg_mem_new(&w->regs), 0);
  imsec_svc_local_config lc = {.hss = w->hss, .reg = w->regs};
  if (b == SC_SIM) {
    lc.wall_ms = sim_wall;
    lc.wall_arg = w;
  }
  assert_int_equal(imsec_svc_local_new(&w->svc, &lc), 0);
  if (b == SC_SIM)
    sim_world(w);
  else
    net_world(w);
  return w;
}

void sc_world_del(sc_world *w) {
  if (!w)
    return;
  /* Ports first (their flows go down while the elements still exist). */
  if (w->b == SC_NET) {
    for (size_t i = 0; i < w->nue; i++)
      imsec_hostnet_del(w->ues[i]->e.r);
    for (int i = 0; i < P_N; i++)
      imsec_hostnet_del(w->pcscf_e[i].r);
    imsec_hostnet_del(w->scscf_e.r);
  } else {
    sim_del(w->s);
  }
  for (size_t i = 0; i < w->nue; i++) {
    sc_ue *u = w->ues[i];
    t_udp_relay_del(u->relay);
    imsec_pki_cred_del(u->cred);
    imsec_wipe(u->psk, sizeof u->psk);
    imsec_ue_del(u->ue);
    imsec_svc_del(u->svc);
    imsec_x509_anchors_del(u->anchors);
    imsec_crypto_del(u->cr);
    imsec_wipe(u->k, sizeof u->k);
    imsec_wipe(u->opc, sizeof u->opc);
    free(u);
  }
  for (int i = 0; i < P_N; i++) {
    imsec_pcscf_del(w->pcscf[i]);
    imsec_crypto_del(w->cr_p[i]);
  }
  imsec_scscf_del(w->scscf);
  imsec_x509_anchors_del(w->pc_anchors);
  imsec_wipe(w->psks, sizeof w->psks);
  imsec_svc_del(w->svc);
  imsec_reg_store_del(w->regs);
  imsec_hss_del(w->hss);
  imsec_hss_store_del(w->store);
  imsec_crypto_del(w->cr_s);
  imsec_crypto_del(w->cr);
  imsec_pki_cred *all[] = {w->root,    w->op1,   w->op2,  w->op3,       w->home,
                           w->visited, w->other, w->self, w->scscf_cred};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    imsec_pki_cred_del(all[i]);
  if (w->dir[0])
    t_rmdir(w->dir);
  for (size_t k = 0; k < w->nrec; k++)
    free(w->recs[k].text);
  free(w->recs);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* ------------------------------------------------------------ UEs */

/* The UE's ISIM profile store: an SQN write succeeds and is counted. */
static int ue_sqn_write(void *arg, const uint8_t sqn[6]) {
  (void)sqn;
  atomic_fetch_add(&((sc_ue *)arg)->sqn_writes, 1);
  return 0;
}

typedef struct add_sub {
  sc_world *w;
  imsec_hss_sub *s;
  int rc;
} add_sub;

static void add_sub_fn(void *self, void *arg) {
  (void)self;
  add_sub *a = arg;
  a->rc = a->w->store->vt->add(a->w->store, a->s);
}

/* A UE's certificate as `imsec pki ue` makes it: CN and SAN URI
 * sip:IMPI, under the home operator's CA, clientAuth (M2a), serverAuth
 * too (M2b: it serves the P-CSCF's connection). */
static imsec_pki_cred *ue_cred(sc_world *w, const char *impi, int server) {
  char uri[160];
  snprintf(uri, sizeof uri, "sip:%s", impi);
  const char *uris[] = {uri};
  int64_t now = (int64_t)time(NULL);
  imsec_pki_spec sp = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = impi,
      .org = SC_HOME,
      .path_len = -1,
      .uris = uris,
      .n_uris = 1,
      .client_auth = 1,
      .server_auth = server,
      .not_before = now - 3600,
      .not_after = now + 86400,
  };
  imsec_pki_cred *c = NULL;
  assert_int_equal(imsec_pki_issue(&sp, w->op1, &c), 0);
  return c;
}

/* SC_SIM, DTLS: the datagrams the UEs asked to lose (sc_ue_opts). */
static int sim_lose(void *user, const sim_msg *m, const uint8_t *data,
                    size_t len) {
  sc_world *w = user;
  (void)data;
  (void)len;
  if (m->from != w->pcscf_e[P_HOME].n)
    return 0;
  for (size_t i = 0; i < w->nue; i++) {
    sc_ue *u = w->ues[i];
    if (u->e.n == m->to && u->lose_down)
      return ++u->seen_down == u->lose_down;
  }
  return 0;
}

/* M3: the home P-CSCF's configured PSKs, now with UE u's (its own key;
 * `psk_wrong` gives the UE another). */
static void psk_add(sc_world *w, sc_ue *u, int wrong) {
  assert_true(w->npsk < MAX_UES);
  psk_row *r = &w->psks[w->npsk++];
  snprintf(r->identity, sizeof r->identity, "%s", u->impi);
  assert_int_equal(imsec_random(w->cr, r->key, sizeof r->key), 0);
  memcpy(u->psk, r->key, sizeof u->psk);
  if (wrong)
    u->psk[0] ^= 0x5a;
  if (w->b == SC_SIM) {
    assert_int_equal(sim_node_psk_static(w->pcscf_e[P_HOME].n, r->identity,
                                         r->key, sizeof r->key),
                     0);
    return;
  }
  imsec_hostnet_psk rows[MAX_UES];
  for (size_t i = 0; i < w->npsk; i++) {
    rows[i].identity = w->psks[i].identity;
    rows[i].key = w->psks[i].key;
    rows[i].key_len = sizeof w->psks[i].key;
  }
  assert_int_equal(
      imsec_hostnet_psk_set_static(w->pcscf_e[P_HOME].r, rows, w->npsk), 0);
}

sc_ue *sc_ue_add(sc_world *w, const sc_ue_opts *o) {
  sc_ue_opts none;
  memset(&none, 0, sizeof none);
  if (!o)
    o = &none;
  assert_true(w->nue < MAX_UES);
  size_t i = w->nue;
  sc_ue *u = calloc(1, sizeof *u);
  assert_non_null(u);
  w->ues[w->nue++] = u;
  snprintf(u->e.name, sizeof u->e.name, "ue%zu", i);
  const sc_ue *dev = o->device_of;
  if (dev) {
    /* Another device of that subscriber: its identities and keys, an
     * instance of its own (the first keeps the one derived from the
     * IMPI). */
    snprintf(u->impi, sizeof u->impi, "%s", dev->impi);
    snprintf(u->impu, sizeof u->impu, "%s", dev->impu);
    snprintf(u->tel, sizeof u->tel, "%s", dev->tel);
    memcpy(u->k, dev->k, sizeof u->k);
    memcpy(u->opc, dev->opc, sizeof u->opc);
    snprintf(u->instance, sizeof u->instance,
             "urn:uuid:5c0e7a11-0000-4000-8000-%012zu", i);
  } else {
    snprintf(u->impi, sizeof u->impi, "0010100000%05zu@%s", i, SC_HOME);
    snprintf(u->impu, sizeof u->impu, "sip:0010100000%05zu@%s", i, SC_HOME);
    snprintf(u->tel, sizeof u->tel, "tel:+10010100000%05zu", i);
    /* The subscriber, added on the S-CSCF's thread (its HSS store). */
    imsec_hss_sub s;
    memset(&s, 0, sizeof s);
    snprintf(s.impi, sizeof s.impi, "%s", u->impi);
    snprintf(s.impus[0], sizeof s.impus[0], "%s", u->impu);
    snprintf(s.impus[1], sizeof s.impus[1], "%s", u->tel);
    s.n_impus = 2;
    if (o->password) {
      /* SIP Digest: H(A1)s in the realm of the IMPI, never the password
       * (TS 33.203 Annex N, TS 29.228 Digest-HA1). */
      assert_int_equal(
          imsec_hss_digest_set(
              &s, w->cr, IMSEC_STR_LIT(""),
              (imsec_bytes){(const uint8_t *)o->password, strlen(o->password)}),
          0);
    } else {
      assert_int_equal(imsec_random(w->cr, u->k, 16), 0);
      assert_int_equal(imsec_random(w->cr, u->opc, 16), 0);
      memcpy(s.k, u->k, 16);
      memcpy(s.op, u->opc, 16);
      s.op_is_opc = 1;
      s.amf[0] = 0x80;
      s.aka = IMSEC_HSS_AKAV1;
    }
    add_sub as = {w, &s, -1};
    elem_look(w, &w->scscf_e, add_sub_fn, &as);
    imsec_hss_sub_wipe(&s);
    assert_int_equal(as.rc, 0);
  }
  /* The UE element. */
  assert_int_equal(imsec_crypto_ossl_new(&u->cr), 0);
  const char *impus[] = {u->impu, u->tel};
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = u->impi;
  c.impus = impus;
  c.n_impus = 2;
  c.home_domain = SC_HOME;
  c.trust_domain = TD;
  if (o->password) {
    /* A softphone: the password instead of K and OPc. */
    size_t pl = strlen(o->password);
    assert_true(pl > 0 && pl <= sizeof c.password);
    memcpy(c.password, o->password, pl);
    c.password_len = pl;
    if (o->password_wrong)
      c.password[0] ^= 0x01;
    c.digest_username = o->digest_username;
  } else {
    memcpy(c.k, u->k, 16);
    memcpy(c.opc, u->opc, 16);
    c.has_opc = 1;
    c.amf[0] = 0x80;
  }
  uint8_t sqn[6] = {0};
  if (o->sqn_ahead)
    sqn[3] = 0x20;
  assert_int_equal(imsec_ue_sqn_load(sqn, NULL, &c.sqn), 0);
  /* The mode's credentials (their element settings with them). */
  int m2b_listen = w->mode == SC_M2B && !o->m1;
  if ((w->mode == SC_M2A || w->mode == SC_M2B) && !o->m1) {
    char other[128];
    snprintf(other, sizeof other, "0010100000%05zu@%s", i + 100, SC_HOME);
    u->cred =
        ue_cred(w, o->cert_other_impi ? other : u->impi, w->mode == SC_M2B);
  }
  if (w->mode == SC_M3 && dev)
    memcpy(u->psk, dev->psk, sizeof u->psk); /* the IMPI's row */
  else if (w->mode == SC_M3)
    psk_add(w, u, o->psk_wrong);
  u->lose_down = o->lose_down;
  if (w->mode == SC_M3) {
    c.psk_identity = u->impi;
    memcpy(c.psk, u->psk, sizeof u->psk);
    c.psk_len = sizeof u->psk;
  }
  c.aka_psk = w->mode == SC_M3_AKA;
  c.pcscf = w->ue_side[o->via];
  if (w->mode == SC_DTLS && o->m1 && o->via == SC_PCSCF_HOME)
    c.pcscf = w->home_tls;
  int dgram = c.pcscf.tp == IMSEC_TP_DTLS;
  if (dgram && o->lose_down && w->b == SC_NET) {
    /* The UE dials the relay, which loses what it was asked to. */
    assert_int_equal(t_udp_relay_new(&u->relay, c.pcscf.port), 0);
    t_udp_relay_lose(u->relay, 1, o->lose_down);
    c.pcscf.port = t_udp_relay_port(u->relay);
  }
  c.pcscf_name = o->pcscf_name ? o->pcscf_name : g_pcscf_names[o->via];
  c.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  c.expires = 600;
  c.max_connect_attempts = 3;
  if (u->instance[0])
    c.instance = u->instance;
  c.answer = o->answer;
  c.answer_delay_ms = o->answer_delay_ms;
  /* Its node or port first (the element's Contact names the listener
   * they bind, M2b), then the element. */
  imsec_svc_local_config uc = {.ue_sqn = ue_sqn_write, .ue_sqn_arg = u};
  assert_int_equal(imsec_svc_local_new(&u->svc, &uc), 0);
  u->anchors = anchors_new(w);
  if (w->b == SC_SIM) {
    char host[32];
    snprintf(host, sizeof host, "10.2.0.%zu", i + 1);
    u->e.n = sim_add(w->s, u->e.name, &imsec_ue_ops, NULL, host);
    assert_non_null(u->e.n);
    sim_node_svc(u->e.n, u->svc);
    sim_node_anchors(u->e.n, u->anchors);
    imsec_bytes chain[2] = {u->cred ? imsec_pki_cred_der(u->cred)
                                    : (imsec_bytes){0},
                            imsec_pki_cred_der(w->op1)};
    if (w->mode == SC_M2A && u->cred)
      assert_int_equal(sim_node_client_chain(u->e.n, chain, 2), 0);
    if (m2b_listen) {
      /* It serves the P-CSCF's connection with its certificate and asks
       * for the P-CSCF's (the UE's trust decision judges it). */
      char a[64];
      snprintf(a, sizeof a, "tls:%s:5061", host);
      u->listen = A(a);
      sim_tls_opts lo_ = {
          .chain = chain, .n_chain = 2, .client_cert = SIM_CLIENT_CERT_REQUIRE};
      assert_int_equal(sim_listen_opts(u->e.n, &u->listen, &lo_), 0);
    }
    if (dgram) {
      assert_int_equal(
          sim_node_tls_profile(u->e.n, SC_UE_DTLS_PROFILE, NULL, 0, NULL, 0),
          0);
      if (o->lose_down)
        sim_set_loss(w->s, sim_lose, w);
    }
  } else {
    /* The UE's client context leaves the decision to the element (the
     * trust decision, DESIGN.md §3). */
    imsec_net_tls_config tc, dc, lc;
    char ca[128], cf[128], kf[128];
    memset(&tc, 0, sizeof tc);
    tc.defer_verify = 1;
    tc.ca_file = wpath(w, "root.pem", ca, sizeof ca);
    if (u->cred) {
      char base[32];
      snprintf(base, sizeof base, "%s", u->e.name);
      pki_write(w, base, u->cred, w->op1);
      char name[64];
      snprintf(name, sizeof name, "%s.pem", base);
      wpath(w, name, cf, sizeof cf);
      snprintf(name, sizeof name, "%s.key", base);
      wpath(w, name, kf, sizeof kf);
    }
    if (w->mode == SC_M2A && u->cred) {
      tc.cert_file = cf;
      tc.key_file = kf;
    }
    imsec_hostnet_listener l;
    memset(&l, 0, sizeof l);
    if (m2b_listen) {
      memset(&lc, 0, sizeof lc);
      lc.cert_file = cf;
      lc.key_file = kf;
      lc.ca_file = ca;
      lc.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
      lc.defer_verify = 1;
      l.addr = lo(IMSEC_TP_TLS, 0);
      l.tls_cfg = &lc;
    }
    imsec_hostnet_tls_profile dp;
    memset(&dp, 0, sizeof dp);
    if (dgram) {
      dc = tc;
      dc.dtls = 1;
      dp.name = SC_UE_DTLS_PROFILE;
      dp.tls_cfg = &dc;
      dp.defer_verify = 1;
      dp.dtls = 1;
    }
    net_port_p(w, &u->e, &imsec_ue_ops, NULL, u->svc, &l, m2b_listen ? 1 : 0,
               &tc, u->anchors, dp.name ? &dp : NULL, dp.name ? 1 : 0);
    if (m2b_listen)
      u->listen = lo(IMSEC_TP_TLS, imsec_hostnet_port(u->e.r, 0));
  }
  if (u->listen.port) {
    c.listen = u->listen;
    c.has_listen = 1;
    c.close_after_register = 1;
  }
  int rc = imsec_ue_new(&u->ue, &c, u->cr);
  imsec_wipe(c.k, sizeof c.k);
  imsec_wipe(c.opc, sizeof c.opc);
  imsec_wipe(c.psk, sizeof c.psk);
  imsec_wipe(c.password, sizeof c.password);
  assert_int_equal(rc, 0);
  if (w->b == SC_SIM)
    imsec_host_set_self(sim_node_host(u->e.n), u->ue);
  else
    imsec_hostnet_set_self(u->e.r, u->ue);
  return u;
}

void sc_ue_start(sc_world *w, sc_ue *u) {
  elem_start(w, &u->e);
}

const char *sc_ue_name(const sc_ue *u) {
  return u->e.name;
}

const char *sc_ue_impu(const sc_ue *u) {
  return u->impu;
}

const char *sc_ue_tel(const sc_ue *u) {
  return u->tel;
}

const char *sc_ue_impi(const sc_ue *u) {
  return u->impi;
}

void sc_ue_call(sc_world *w, sc_ue *u, imsec_host_call_fn fn, void *arg) {
  elem_call(w, &u->e, fn, arg);
}

void sc_scscf_call(sc_world *w, imsec_host_call_fn fn, void *arg) {
  elem_call(w, &w->scscf_e, fn, arg);
}

void sc_pcscf_call(sc_world *w, sc_pcscf p, imsec_host_call_fn fn, void *arg) {
  elem_call(w, &w->pcscf_e[pcscf_elem(p)], fn, arg);
}

/* ------------------------------------------------------------ running */

typedef struct pred_ctx {
  sc_world *w;
  sc_pred_fn fn;
  void *arg;
} pred_ctx;

static int pred_tramp(void *arg) {
  pred_ctx *c = arg;
  return c->fn(c->w, c->arg);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sc_run_until(sc_world *w, sc_pred_fn pred, void *arg, imsec_time_ms ms) {
  if (w->b == SC_SIM) {
    pred_ctx c = {w, pred, arg};
    if (pred(w, arg))
      return 1;
    int ok = sim_run_until(w->s, pred_tramp, &c, ms);
    sim_run_idle(w->s);
    return ok;
  }
  /* Real time: poll the predicate (each look is a call on the element's
   * loop) until it holds or the deadline passes. */
  int64_t end = mono_ms() + ms;
  for (;;) {
    if (pred(w, arg))
      return 1;
    if (mono_ms() >= end)
      return pred(w, arg);
    usleep(5000);
  }
}

void sc_run_for(sc_world *w, imsec_time_ms ms) {
  if (w->b == SC_SIM)
    sim_advance(w->s, ms);
  else
    usleep((useconds_t)ms * 1000);
}

/* ------------------------------------------------------------ looks */

static void status_fn(void *self, void *arg) {
  imsec_ue_get_status(self, arg);
}

imsec_ue_status sc_ue_status(sc_world *w, sc_ue *u) {
  imsec_ue_status s;
  memset(&s, 0, sizeof s);
  elem_look(w, &u->e, status_fn, &s);
  return s;
}

static int settled(sc_world *w, void *arg) {
  imsec_ue_status s = sc_ue_status(w, arg);
  return s.state == IMSEC_UE_REGISTERED || s.state == IMSEC_UE_REFUSED ||
         s.state == IMSEC_UE_FAILED;
}

imsec_ue_state sc_ue_register(sc_world *w, sc_ue *u, imsec_time_ms ms) {
  sc_ue_start(w, u);
  assert_true(sc_run_until(w, settled, u, ms));
  return sc_ue_status(w, u).state;
}

typedef struct send_arg {
  const char *to, *text;
  int handle;
} send_arg;

static void send_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  send_arg *m = arg;
  m->handle = imsec_ue_send_message(self, m->to, NULL, (const uint8_t *)m->text,
                                    strlen(m->text), now, out);
}

int sc_ue_send(sc_world *w, sc_ue *u, const char *to, const char *text) {
  send_arg m = {to, text, 0};
  sc_ue_call(w, u, send_fn, &m);
  assert_true(m.handle > 0);
  return m.handle;
}

typedef struct result_arg {
  int handle, result;
} result_arg;

static void result_fn(void *self, void *arg) {
  result_arg *r = arg;
  r->result = imsec_ue_message_result(self, r->handle);
}

int sc_ue_send_result(sc_world *w, sc_ue *u, int handle) {
  result_arg r = {handle, 0};
  elem_look(w, &u->e, result_fn, &r);
  return r.result;
}

typedef struct pop_arg {
  imsec_ue_message *m;
  int got;
} pop_arg;

static void pop_fn(void *self, void *arg) {
  pop_arg *p = arg;
  p->got = imsec_ue_inbox_pop(self, p->m);
}

int sc_ue_inbox_pop(sc_world *w, sc_ue *u, imsec_ue_message *out) {
  pop_arg p = {out, 0};
  elem_look(w, &u->e, pop_fn, &p);
  return p.got;
}

static void reconnect_fn(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  *(int *)arg = imsec_ue_reconnect(self, now, out);
}

void sc_ue_reconnect(sc_world *w, sc_ue *u) {
  int rc = -1;
  sc_ue_call(w, u, reconnect_fn, &rc);
  assert_int_equal(rc, 0);
}

static void dereg_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  *(int *)arg = imsec_ue_deregister(self, now, out);
}

void sc_ue_deregister(sc_world *w, sc_ue *u) {
  int rc = -1;
  sc_ue_call(w, u, dereg_fn, &rc);
  assert_int_equal(rc, 0);
}

unsigned long sc_ue_sqn_writes(sc_world *w, sc_ue *u) {
  (void)w;
  return atomic_load(&u->sqn_writes);
}

typedef struct count_arg {
  const char *impu;
  size_t n;
} count_arg;

static void contacts_fn(void *self, void *arg) {
  count_arg *c = arg;
  c->n = imsec_scscf_contacts(self, imsec_str_c(c->impu));
}

size_t sc_scscf_contacts(sc_world *w, const char *impu) {
  count_arg c = {impu, 0};
  elem_look(w, &w->scscf_e, contacts_fn, &c);
  return c.n;
}

static void regs_fn(void *self, void *arg) {
  ((count_arg *)arg)->n = imsec_scscf_registrations(self);
}

size_t sc_scscf_registrations(sc_world *w) {
  count_arg c = {NULL, 0};
  elem_look(w, &w->scscf_e, regs_fn, &c);
  return c.n;
}

static void bindings_fn(void *self, void *arg) {
  imsec_pcscf_stats ps;
  imsec_pcscf_stats_get(self, &ps);
  ((count_arg *)arg)->n = ps.bindings;
}

size_t sc_pcscf_bindings(sc_world *w, sc_pcscf p) {
  count_arg c = {NULL, 0};
  elem_look(w, &w->pcscf_e[pcscf_elem(p)], bindings_fn, &c);
  return c.n;
}

typedef struct bflow_arg {
  const char *impu;
  uint64_t flow;
} bflow_arg;

static void bflow_fn(void *self, void *arg) {
  bflow_arg *b = arg;
  if (imsec_pcscf_binding_flow(self, imsec_str_c(b->impu), &b->flow) != 0)
    b->flow = 0;
}

uint64_t sc_pcscf_binding_flow(sc_world *w, sc_pcscf p, const char *impu) {
  bflow_arg b = {impu, 0};
  elem_look(w, &w->pcscf_e[pcscf_elem(p)], bflow_fn, &b);
  return b.flow;
}

/* ------------------------------------------------------------ calls */

typedef struct call_arg {
  const char *to;
  int handle, rc;
} call_arg;

static void dial_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  call_arg *c = arg;
  c->rc = imsec_ue_call(self, c->to, now, out);
}

int sc_call_dial(sc_world *w, sc_ue *u, const char *to) {
  call_arg c = {to, 0, IMSEC_ERR_STATE};
  sc_ue_call(w, u, dial_fn, &c);
  return c.rc;
}

int sc_call_start(sc_world *w, sc_ue *u, const char *to) {
  int h = sc_call_dial(w, u, to);
  if (h <= 0)
    fail_msg("%s: imsec_ue_call(%s): %d", u->e.name, to, h);
  return h;
}

static void dial_hangup_fn(void *self, imsec_time_ms now, imsec_out *out,
                           void *arg) {
  call_arg *c = arg;
  c->handle = imsec_ue_call(self, c->to, now, out);
  if (c->handle > 0)
    c->rc = imsec_ue_call_hangup(self, c->handle, now, out);
}

int sc_call_dial_hangup(sc_world *w, sc_ue *u, const char *to, int *hangup_rc) {
  call_arg c = {to, 0, IMSEC_ERR_STATE};
  sc_ue_call(w, u, dial_hangup_fn, &c);
  *hangup_rc = c.rc;
  return c.handle;
}

static void hangup_fn(void *self, imsec_time_ms now, imsec_out *out,
                      void *arg) {
  call_arg *c = arg;
  c->rc = imsec_ue_call_hangup(self, c->handle, now, out);
}

int sc_call_hangup(sc_world *w, sc_ue *u, int handle) {
  call_arg c = {NULL, handle, IMSEC_ERR_STATE};
  sc_ue_call(w, u, hangup_fn, &c);
  return c.rc;
}

static void reinvite_fn(void *self, imsec_time_ms now, imsec_out *out,
                        void *arg) {
  call_arg *c = arg;
  c->rc = imsec_ue_call_reinvite(self, c->handle, now, out);
}

int sc_call_reinvite(sc_world *w, sc_ue *u, int handle) {
  call_arg c = {NULL, handle, IMSEC_ERR_STATE};
  sc_ue_call(w, u, reinvite_fn, &c);
  return c.rc;
}

typedef struct get_arg {
  int handle, rc;
  imsec_ue_call_info *info;
} get_arg;

static void get_fn(void *self, void *arg) {
  get_arg *g = arg;
  g->rc = imsec_ue_call_get(self, g->handle, g->info);
}

int sc_call_get(sc_world *w, sc_ue *u, int handle, imsec_ue_call_info *out) {
  memset(out, 0, sizeof *out);
  get_arg g = {handle, IMSEC_ERR_NOTFOUND, out};
  elem_look(w, &u->e, get_fn, &g);
  return g.rc;
}

imsec_ue_call_info sc_call_info(sc_world *w, sc_ue *u, int handle) {
  imsec_ue_call_info i;
  if (sc_call_get(w, u, handle, &i) != 0)
    fail_msg("%s: no call %d", u->e.name, handle);
  return i;
}

typedef struct list_arg {
  int *handles;
  size_t cap, n;
} list_arg;

static void list_fn(void *self, void *arg) {
  list_arg *l = arg;
  l->n = imsec_ue_calls(self, l->handles, l->cap);
}

size_t sc_calls(sc_world *w, sc_ue *u, int *handles, size_t cap) {
  list_arg l = {handles, cap, 0};
  elem_look(w, &u->e, list_fn, &l);
  return l.n;
}

int sc_call_incoming(sc_world *w, sc_ue *u) {
  int hs[IMSEC_UE_MAX_CALLS * 2];
  size_t n = sc_calls(w, u, hs, sizeof hs / sizeof hs[0]);
  int best = 0;
  imsec_time_ms best_at = 0;
  for (size_t i = 0; i < n; i++) {
    imsec_ue_call_info ci;
    if (sc_call_get(w, u, hs[i], &ci) != 0 || !ci.incoming)
      continue;
    if (!best || ci.started_at > best_at ||
        (ci.started_at == best_at && hs[i] > best)) {
      best = hs[i];
      best_at = ci.started_at;
    }
  }
  return best;
}

static int has_incoming(sc_world *w, void *arg) {
  return sc_call_incoming(w, arg) != 0;
}

int sc_call_wait_incoming(sc_world *w, sc_ue *u, imsec_time_ms ms) {
  if (!sc_run_until(w, has_incoming, u, ms))
    return 0;
  return sc_call_incoming(w, u);
}

int sc_call_pred(sc_world *w, void *arg) {
  sc_call_is *c = arg;
  imsec_ue_call_info ci;
  return sc_call_get(w, c->u, c->handle, &ci) == 0 && ci.state == c->state &&
         ci.reinvites >= c->reinvites;
}

/* The call reached `state`, or ended: nothing more will change. */
static int reached(sc_world *w, void *arg) {
  sc_call_is *c = arg;
  imsec_ue_call_info ci;
  if (sc_call_get(w, c->u, c->handle, &ci) != 0)
    return 0;
  return ci.state == c->state || ci.state == IMSEC_UE_CALL_ENDED;
}

int sc_call_wait(sc_world *w, sc_ue *u, int handle, imsec_ue_call_state state,
                 imsec_time_ms ms) {
  sc_call_is c = {u, handle, state, 0};
  sc_run_until(w, reached, &c, ms);
  return sc_call_pred(w, &c);
}

static void flow_fail_fn(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  uint64_t *flow = arg;
  imsec_ue_status s;
  imsec_ue_get_status(self, &s);
  *flow = s.flow;
  if (!s.flow)
    return;
  /* What a dead socket does: the port closes it (the P-CSCF sees its end
   * go) and the element hears of it. */
  (void)imsec_out_close(out, s.flow);
  imsec_ue_on_flow_down(self, s.flow, 0, IMSEC_ERR_IO, now, out);
}

void sc_ue_flow_fail(sc_world *w, sc_ue *u) {
  if (w->b == SC_SIM) {
    uint64_t f = sc_ue_status(w, u).flow;
    assert_int_not_equal(f, 0);
    assert_int_equal(sim_flow_fail(w->s, f, IMSEC_ERR_IO), 0);
    return;
  }
  uint64_t f = 0;
  sc_ue_call(w, u, flow_fail_fn, &f);
  assert_int_not_equal(f, 0);
}

typedef struct raw_arg {
  const char *text;
  uint64_t flow;
} raw_arg;

static void raw_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)now;
  raw_arg *r = arg;
  imsec_ue_status s;
  imsec_ue_get_status(self, &s);
  r->flow = s.flow;
  if (s.flow)
    (void)imsec_out_send(out, s.flow, r->text, strlen(r->text));
}

void sc_ue_send_raw(sc_world *w, sc_ue *u, const char *text) {
  if (w->b == SC_SIM) {
    uint64_t f = sc_ue_status(w, u).flow;
    assert_int_not_equal(f, 0);
    uint64_t peer = sim_flow_peer(w->s, f);
    assert_int_not_equal(peer, 0);
    assert_int_equal(sim_inject(w->s, peer, text, strlen(text)), 0);
    return;
  }
  raw_arg r = {text, 0};
  sc_ue_call(w, u, raw_fn, &r);
  assert_int_not_equal(r.flow, 0);
}
