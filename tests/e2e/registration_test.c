/*
 * Registration end to end, in memory (tests/support/sim): real UE, P-CSCF,
 * S-CSCF and HSS elements (include/imsec/{ue,pcscf,scscf,hss}.h) on a
 * virtual clock, with certificates made by crypto/pki and checked by
 * crypto/x509. Every step of the registration and every failure case of
 * TS 33.203 §6.1.2-6.1.3: many UEs at once, the SIP contract on each hop,
 * roaming through a visited P-CSCF, re-registration and de-registration, wrong
 * RES, bad MAC, sync failure on the same TLS connection, incomplete
 * authentication (nonce expiry), replay, downgrade (Security-Verify missing
 * or changed), identity spoofing (a flow that is not the binding, a
 * P-Preferred-Identity outside the set), MESSAGE delivery over the bound
 * flow, flow loss and re-registration with a resumed session, and rogue
 * P-CSCFs.
 *
 * Built only when the element headers exist (the merged tree); a branch
 * without them runs one skipped test.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#if defined(__has_include)
#if __has_include("imsec/ue.h") &&                                             \
                  __has_include("imsec/pcscf.h") &&                            \
                                __has_include("imsec/scscf.h") &&              \
                                              __has_include("imsec/hss.h")
#define HAVE_ELEMENTS 1
#endif
#endif

#ifdef HAVE_ELEMENTS
#include <time.h>

#include "imsec/crypto.h"
#include "imsec/hss.h"
#include "imsec/pcscf.h"
#include "imsec/pki.h"
#include "imsec/scscf.h"
#include "imsec/svc.h"
#include "imsec/ue.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"
#include "sim.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define VISITED "ims.mnc002.mcc001.3gppnetwork.org"
#define OTHER "ims.mnc003.mcc001.3gppnetwork.org"
#define PCSCF_HOME "pcscf." HOME
#define PCSCF_VISITED "pcscf." VISITED
#define PCSCF_OTHER "pcscf." OTHER
#define MAX_UES 64
#define RUN_MS 60000

/* ------------------------------------------------------------ PKI */

static imsec_pki_cred *g_root, *g_op1, *g_op2, *g_op3, *g_home, *g_visited,
    *g_other, *g_selfsigned;

static int issue(const char *cn, const char *domain, int ca,
                 const imsec_pki_cred *issuer, imsec_pki_cred **out) {
  return t_pki_issue(cn, domain, ca, issuer, out);
}

static int pki_setup(void) {
  return issue("IMS root", NULL, 1, NULL, &g_root) ||
         issue(HOME, HOME, 1, g_root, &g_op1) ||
         issue(VISITED, VISITED, 1, g_root, &g_op2) ||
         issue(OTHER, OTHER, 1, g_root, &g_op3) ||
         issue(PCSCF_HOME, NULL, 0, g_op1, &g_home) ||
         issue(PCSCF_VISITED, NULL, 0, g_op2, &g_visited) ||
         issue(PCSCF_OTHER, NULL, 0, g_op3, &g_other) ||
         issue(PCSCF_HOME, NULL, 0, NULL, &g_selfsigned);
}

static void pki_free(void) {
  imsec_pki_cred *all[] = {g_root, g_op1,     g_op2,   g_op3,
                           g_home, g_visited, g_other, g_selfsigned};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    imsec_pki_cred_del(all[i]);
}

/* ------------------------------------------------------------ world */

typedef struct ue_t {
  char name[16];
  char impi[128], impu[160], tel[64];
  uint8_t k[16], opc[16];
  imsec_ue *ue;
  sim_node *n;
} ue_t;

typedef struct world {
  sim *s;
  imsec_crypto *cr;
  imsec_hss_store *store;
  imsec_hss *hss;
  imsec_reg_store *regs; /* the S-CSCF's registrations (in memory) */
  imsec_svc *svc;        /* the S-CSCF's stores */
  imsec_svc *ue_svc;     /* the UEs' SQN writes (counted) */
  unsigned long sqn_writes;
  imsec_scscf *scscf;
  imsec_pcscf *home, *visited, *rogue;
  sim_node *n_scscf, *n_home, *n_visited, *n_rogue;
  imsec_x509_anchors *anchors;
  ue_t ues[MAX_UES];
  size_t nue;
} world;

static imsec_addr A(const char *text) {
  imsec_addr a;
  assert_int_equal(imsec_addr_parse(imsec_str_c(text), &a), 0);
  return a;
}

static void listen_chain(sim_node *n, const char *addr,
                         const imsec_pki_cred *leaf, const imsec_pki_cred *ca,
                         int tickets) {
  imsec_bytes chain[2] = {imsec_pki_cred_der(leaf),
                          ca ? imsec_pki_cred_der(ca) : (imsec_bytes){0}};
  imsec_addr a = A(addr);
  assert_int_equal(sim_listen_tls(n, &a, chain, ca ? 2 : 1, tickets), 0);
}

static imsec_pcscf *pcscf_new(world *w, const char *core, const char *visited,
                              const char *route) {
  imsec_pcscf_config c;
  imsec_pcscf_config_init(&c);
  c.core = A(core);
  /* a plain core is open to the S-CSCF's address only */
  snprintf(c.peer_addrs[0], sizeof c.peer_addrs[0], "10.0.0.10");
  c.n_peer_addrs = 1;
  c.n_routes = 1;
  assert_int_equal(imsec_pcscf_route_parse(imsec_str_c(route), &c.routes[0]),
                   0);
  if (visited)
    snprintf(c.visited_network, sizeof c.visited_network, "%s", visited);
  imsec_pcscf *p = NULL;
  assert_int_equal(imsec_pcscf_new(&p, &c, w->cr), 0);
  return p;
}

/* Registration expiry is wall-clock in the store: the sim's clock. */
static int64_t sim_wall(void *arg) {
  return sim_now(((world *)arg)->s);
}

/* The UEs' ISIM profiles: an SQN write succeeds and is counted. */
static int ue_sqn_write(void *arg, const uint8_t sqn[6]) {
  (void)sqn;
  ((world *)arg)->sqn_writes++;
  return 0;
}

static world *world_new(imsec_time_ms nonce_lifetime) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  assert_int_equal(sim_new(&w->s, 1000000), 0);
  assert_int_equal(imsec_crypto_ossl_new(&w->cr), 0);
  assert_int_equal(imsec_hss_mem_new(&w->store), 0);
  assert_int_equal(imsec_hss_new(&w->hss, w->store, w->cr, NULL), 0);
  imsec_scscf_config sc = {.domain = HOME, .nonce_lifetime_ms = nonce_lifetime};
  sc.self = A("tcp:10.0.0.10:5060");
  /* The core side is plain TCP here, from listed addresses only: the home
   * and visited P-CSCFs, and the rogue element too, so that what refuses
   * a rogue P-CSCF in these tests is the UE's own decision (the S-CSCF's
   * refusal of an unlisted peer is test_replay's). */
  static const char *const core_peers[] = {"10.0.0.2", "10.1.0.2", "10.9.0.2"};
  sc.insecure_core = 1;
  sc.peer_addrs = core_peers;
  sc.n_peer_addrs = 3;
  assert_int_equal(imsec_scscf_new(&w->scscf, &sc, w->cr), 0);
  assert_int_equal(imsec_reg_mem_new(&w->regs), 0);
  imsec_svc_local_config lc = {
      .hss = w->hss, .reg = w->regs, .wall_ms = sim_wall, .wall_arg = w};
  assert_int_equal(imsec_svc_local_new(&w->svc, &lc), 0);
  imsec_svc_local_config uc = {.ue_sqn = ue_sqn_write, .ue_sqn_arg = w};
  assert_int_equal(imsec_svc_local_new(&w->ue_svc, &uc), 0);
  w->n_scscf = sim_add(w->s, "scscf", &imsec_scscf_ops, w->scscf, "10.0.0.10");
  sim_node_svc(w->n_scscf, w->svc);
  sim_node_start(w->n_scscf);
  assert_int_equal(sim_listen(w->n_scscf, &sc.self), 0);
  /* Home P-CSCF: TLS towards UEs (tickets: resumption), TCP core side. */
  w->home = pcscf_new(w, "tcp:10.0.0.2:5060", NULL, HOME "=tcp:10.0.0.10:5060");
  w->n_home = sim_add(w->s, "pcscf", &imsec_pcscf_ops, w->home, "10.0.0.2");
  listen_chain(w->n_home, "tls:10.0.0.2:5061", g_home, g_op1, 1);
  imsec_addr core = A("tcp:10.0.0.2:5060");
  assert_int_equal(sim_listen(w->n_home, &core), 0);
  /* Visited P-CSCF (a roaming partner, MNC 002). */
  w->visited = pcscf_new(w, "tcp:10.1.0.2:5060", "Visited 001-02",
                         HOME "=tcp:10.0.0.10:5060");
  w->n_visited =
      sim_add(w->s, "vpcscf", &imsec_pcscf_ops, w->visited, "10.1.0.2");
  listen_chain(w->n_visited, "tls:10.1.0.2:5061", g_visited, g_op2, 0);
  core = A("tcp:10.1.0.2:5060");
  assert_int_equal(sim_listen(w->n_visited, &core), 0);
  /* One element serving two rogue listeners: a non-partner operator's
   * certificate and a self-signed one with the home P-CSCF's name. */
  w->rogue =
      pcscf_new(w, "tcp:10.9.0.2:5060", NULL, HOME "=tcp:10.0.0.10:5060");
  w->n_rogue = sim_add(w->s, "rogue", &imsec_pcscf_ops, w->rogue, "10.9.0.2");
  listen_chain(w->n_rogue, "tls:10.9.0.2:5061", g_other, g_op3, 0);
  listen_chain(w->n_rogue, "tls:10.9.0.3:5061", g_selfsigned, NULL, 0);
  core = A("tcp:10.9.0.2:5060");
  assert_int_equal(sim_listen(w->n_rogue, &core), 0);
  /* The UEs' trust configuration. */
  assert_int_equal(imsec_x509_anchors_new(&w->anchors), 0);
  imsec_bytes r = imsec_pki_cred_der(g_root);
  imsec_bytes h = imsec_pki_cred_der(g_op1);
  imsec_bytes v = imsec_pki_cred_der(g_op2);
  assert_int_equal(imsec_x509_anchors_add_root(w->anchors, r.p, r.len), 0);
  assert_int_equal(imsec_x509_anchors_set_home_ca(w->anchors, h.p, h.len), 0);
  assert_int_equal(
      imsec_x509_anchors_add_partner(w->anchors, v.p, v.len, VISITED), 0);
  return w;
}

static void world_del(world *w) {
  for (size_t i = 0; i < w->nue; i++)
    imsec_ue_del(w->ues[i].ue);
  sim_del(w->s);
  imsec_pcscf_del(w->home);
  imsec_pcscf_del(w->visited);
  imsec_pcscf_del(w->rogue);
  imsec_scscf_del(w->scscf);
  imsec_svc_del(w->svc);
  imsec_svc_del(w->ue_svc);
  imsec_reg_store_del(w->regs);
  imsec_hss_del(w->hss);
  imsec_hss_store_del(w->store);
  imsec_x509_anchors_del(w->anchors);
  imsec_crypto_del(w->cr);
  free(w);
}

typedef struct ue_opts {
  const char *pcscf;      /* tls address; NULL: the home P-CSCF */
  const char *pcscf_name; /* NULL: the home P-CSCF's name */
  int sqn_ahead;          /* the ISIM's SQN is ahead of the HSS */
  int wrong_k;            /* the UE's K is not the HSS's: MAC failure */
  imsec_hss_aka aka;
  const char *instance; /* RFC 5626 +sip.instance; NULL: from the IMPI */
} ue_opts;

static void ue_element(world *w, ue_t *u, size_t i, const ue_opts *o);

/* A subscriber in the HSS and its UE element, not started. */
static ue_t *ue_add(world *w, const ue_opts *o) {
  assert_true(w->nue < MAX_UES);
  size_t i = w->nue++;
  ue_t *u = &w->ues[i];
  snprintf(u->name, sizeof u->name, "ue%zu", i);
  snprintf(u->impi, sizeof u->impi, "0010100000%05zu@%s", i, HOME);
  snprintf(u->impu, sizeof u->impu, "sip:0010100000%05zu@%s", i, HOME);
  snprintf(u->tel, sizeof u->tel, "tel:+10010100000%05zu", i);
  assert_int_equal(imsec_random(w->cr, u->k, 16), 0);
  assert_int_equal(imsec_random(w->cr, u->opc, 16), 0);
  imsec_hss_sub s;
  memset(&s, 0, sizeof s);
  snprintf(s.impi, sizeof s.impi, "%s", u->impi);
  snprintf(s.impus[0], sizeof s.impus[0], "%s", u->impu);
  snprintf(s.impus[1], sizeof s.impus[1], "%s", u->tel);
  s.n_impus = 2;
  memcpy(s.k, u->k, 16);
  memcpy(s.op, u->opc, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = o && o->aka ? o->aka : IMSEC_HSS_AKAV1;
  assert_int_equal(w->store->vt->add(w->store, &s), 0);
  imsec_hss_sub_wipe(&s);
  ue_element(w, u, i, o);
  return u;
}

/* Another device of the subscriber `of` (the same ISIM keys and IMPUs, its
 * own instance id): one IMPU registered from two UEs. */
static ue_t *ue_twin(world *w, const ue_t *of, const ue_opts *o) {
  assert_true(w->nue < MAX_UES);
  size_t i = w->nue++;
  ue_t *u = &w->ues[i];
  *u = *of;
  snprintf(u->name, sizeof u->name, "ue%zu", i);
  ue_element(w, u, i, o);
  return u;
}

/* The UE element of `u` (its identities and keys already set). */
static void ue_element(world *w, ue_t *u, size_t i, const ue_opts *o) {
  const char *impus[] = {u->impu, u->tel};
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = u->impi;
  c.impus = impus;
  c.n_impus = 2;
  c.home_domain = HOME;
  c.trust_domain = TD;
  memcpy(c.k, u->k, 16);
  if (o && o->wrong_k)
    c.k[0] ^= 0x01;
  memcpy(c.opc, u->opc, 16);
  c.has_opc = 1;
  c.amf[0] = 0x80;
  uint8_t sqn[6] = {0};
  if (o && o->sqn_ahead)
    sqn[3] = 0x20;
  assert_int_equal(imsec_ue_sqn_load(sqn, NULL, &c.sqn), 0);
  c.pcscf = A(o && o->pcscf ? o->pcscf : "tls:10.0.0.2:5061");
  c.pcscf_name = o && o->pcscf_name ? o->pcscf_name : PCSCF_HOME;
  c.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  c.expires = 600;
  c.max_connect_attempts = 3;
  if (o && o->instance)
    c.instance = o->instance;
  assert_int_equal(imsec_ue_new(&u->ue, &c, w->cr), 0);
  char host[32];
  snprintf(host, sizeof host, "10.2.%zu.%zu", i / 250, i % 250 + 1);
  u->n = sim_add(w->s, u->name, &imsec_ue_ops, u->ue, host);
  sim_node_svc(u->n, w->ue_svc);
  sim_node_anchors(u->n, w->anchors);
}

static void start_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)arg;
  assert_int_equal(imsec_ue_start(self, now, out), 0);
}

static void ue_start(ue_t *u) {
  sim_call(u->n, start_fn, NULL);
}

static imsec_ue_status st(const ue_t *u) {
  imsec_ue_status s;
  imsec_ue_get_status(u->ue, &s);
  return s;
}

static int settled(void *arg) {
  imsec_ue_status s = st(arg);
  return s.state == IMSEC_UE_REGISTERED || s.state == IMSEC_UE_REFUSED ||
         s.state == IMSEC_UE_FAILED;
}

/* Start one UE and run until its attempt settles. */
static imsec_ue_state run_register(world *w, ue_t *u) {
  ue_start(u);
  assert_true(sim_run_until(w->s, settled, u, RUN_MS));
  sim_run_idle(w->s);
  return st(u).state;
}

static void dump(world *w) {
  if (getenv("SIM_LADDER"))
    sim_trace_print(w->s, stderr, getenv("SIM_LADDER")[0] == '2', 1);
}

/* The value of header `name` in the i-th message from->to starting with
 * `start`; "" when absent. */
static const char *hdr(world *w, const char *from, const char *to,
                       const char *start, size_t i, const char *name) {
  static char buf[1024];
  const sim_tr *t = sim_trace_msg(w->s, from, to, start, i);
  assert_non_null(t);
  if (sim_msg_header(t, name, buf, sizeof buf) < 0)
    buf[0] = 0;
  return buf;
}

/* ------------------------------------------------------------ tamper */

typedef struct tamper {
  const char *from, *to; /* only messages between these nodes */
  const char *start;     /* whose start line begins so */
  int nth;               /* the nth such message (0 first), -1 every */
  int seen;
  enum {
    T_NONE,
    T_WRONG_RES,
    T_BAD_MAC,
    T_DROP_VERIFY,
    T_CHANGE_VERIFY,
    T_DELAY,
    T_ADD_PPI,
  } what;
  long delay;
  const char *ppi;
  int done;
} tamper;

static int replace(uint8_t **data, size_t *len, const char *old,
                   const char *new) {
  char *p = memmem(*data, *len, old, strlen(old));
  if (!p)
    return -1;
  size_t off = (size_t)(p - (char *)*data), ol = strlen(old), nl = strlen(new);
  uint8_t *d = malloc(*len - ol + nl + 1);
  assert_non_null(d);
  memcpy(d, *data, off);
  memcpy(d + off, new, nl);
  memcpy(d + off + nl, *data + off + ol, *len - off - ol);
  free(*data);
  *data = d;
  *len = *len - ol + nl;
  return 0;
}

/* Flip one bit in the MAC of the AUTN inside the challenge's nonce
 * (nonce = base64(RAND || AUTN), AUTN = SQN^AK || AMF || MAC). */
static int spoil_mac(uint8_t **data, size_t *len) {
  char *p = memmem(*data, *len, "nonce=\"", 7);
  if (!p)
    return -1;
  p += 7;
  char *q = memchr(p, '"', *len - (size_t)(p - (char *)*data));
  if (!q)
    return -1;
  uint8_t raw[64];
  int n = imsec_base64_decode(p, (size_t)(q - p), raw, sizeof raw);
  if (n < 32)
    return -1;
  raw[31] ^= 0x01;
  char b64[100];
  assert_true(imsec_base64_encode(raw, (size_t)n, b64, sizeof b64) == q - p);
  memcpy(p, b64, (size_t)(q - p));
  return 0;
}

static long tamper_fn(void *user, const sim_msg *m, uint8_t **data,
                      size_t *len) {
  tamper *t = user;
  if (t->what == T_NONE ||
      (t->from && strcmp(sim_node_name(m->from), t->from)) ||
      (t->to && strcmp(sim_node_name(m->to), t->to)) ||
      (t->start && (*len < strlen(t->start) ||
                    memcmp(*data, t->start, strlen(t->start)) != 0)))
    return 0;
  if (t->nth >= 0 && t->seen++ != t->nth)
    return 0;
  switch (t->what) {
  case T_WRONG_RES: {
    char *p = memmem(*data, *len, "response=\"", 10);
    if (p && p[10] != '"') {
      p[10] = p[10] == '0' ? '1' : '0';
      t->done++;
    }
    return 0;
  }
  case T_BAD_MAC:
    if (spoil_mac(data, len) == 0)
      t->done++;
    return 0;
  case T_DROP_VERIFY:
    if (replace(data, len, "Security-Verify:", "X-Removed-Verify:") == 0)
      t->done++;
    return 0;
  case T_CHANGE_VERIFY:
    if (replace(data, len, "q=0.1", "q=0.5") == 0)
      t->done++;
    return 0;
  case T_DELAY:
    t->done++;
    return t->delay;
  case T_ADD_PPI: {
    char h[300];
    snprintf(h, sizeof h, "\r\nP-Preferred-Identity: <%s>\r\n", t->ppi);
    if (replace(data, len, "\r\n", h) == 0)
      t->done++;
    return 0;
  }
  default:
    return 0;
  }
}

/* ------------------------------------------------------------ tests */

/* 40 UEs register at once through the home P-CSCF; the SIP contract holds
 * on every hop. */
static void test_many_home_registrations(void **state) {
  (void)state;
  world *w = world_new(0);
  enum { N = 40 };
  for (int i = 0; i < N; i++)
    ue_start(ue_add(w, NULL));
  sim_run(w->s, RUN_MS / 6);
  dump(w);
  for (int i = 0; i < N; i++) {
    imsec_ue_status s = st(&w->ues[i]);
    assert_int_equal(s.state, IMSEC_UE_REGISTERED);
    assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
    assert_int_equal(s.challenges, 1);
    assert_int_equal(s.registrations, 1);
    /* The P-CSCF kept the UE's flow and bound it (TS 33.203 O.4). */
    assert_true(sim_flow_kept(w->s, sim_flow_peer(w->s, s.flow)));
    uint64_t bound = 0;
    assert_int_equal(
        imsec_pcscf_binding_flow(w->home, imsec_str_c(w->ues[i].impu), &bound),
        0);
    assert_int_equal(bound, sim_flow_peer(w->s, s.flow));
    assert_int_equal(
        imsec_scscf_contacts(w->scscf, imsec_str_c(w->ues[i].impu)), 1);
    /* The implicit set (P-Associated-URI) reached the UE. */
    assert_non_null(imsec_ue_associated_uri(w->ues[i].ue, 1));
    assert_non_null(imsec_ue_service_route(w->ues[i].ue, 0));
  }
  assert_int_equal(imsec_scscf_registrations(w->scscf), N);
  assert_int_equal(imsec_scscf_challenges(w->scscf), 0);
  imsec_pcscf_stats ps;
  imsec_pcscf_stats_get(w->home, &ps);
  assert_int_equal(ps.bindings, N);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "scscf", "REGISTER"), 2 * N);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 401"), N);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 200"), N);
  /* One TCP connection P-CSCF -> S-CSCF for all (RFC 5923 reuse). */
  assert_int_equal(sim_flows_between(w->s, w->n_home, w->n_scscf, NULL), 1);
  /* Hop UE -> P-CSCF: sec-agree, outbound Contact. */
  assert_non_null(
      strstr(hdr(w, "ue0", "pcscf", "REGISTER", 0, "Security-Client"), "tls"));
  assert_non_null(
      strstr(hdr(w, "ue0", "pcscf", "REGISTER", 0, "Require"), "sec-agree"));
  assert_non_null(strstr(hdr(w, "ue0", "pcscf", "REGISTER", 0, "Contact"),
                         "+sip.instance"));
  /* Hop P-CSCF -> S-CSCF: Path with ob, tls-pending then tls-yes, no
   * Security-* left. */
  const sim_tr *t1 = sim_trace_msg(w->s, "pcscf", "scscf", "REGISTER", 0);
  char v[1024];
  assert_true(sim_msg_header(t1, "Path", v, sizeof v) > 0);
  assert_non_null(strstr(v, ";ob"));
  assert_true(sim_msg_header(t1, "Authorization", v, sizeof v) > 0);
  assert_non_null(strstr(v, "integrity-protected=\"tls-pending\""));
  assert_int_equal(sim_msg_header(t1, "Security-Client", v, sizeof v), -1);
  /* The UE's second REGISTER, as forwarded: tls-yes. */
  size_t k = 0;
  const sim_tr *t2 = NULL;
  for (;; k++) {
    t2 = sim_trace_msg(w->s, "pcscf", "scscf", "REGISTER", k);
    assert_non_null(t2);
    if (sim_msg_header(t2, "Authorization", v, sizeof v) > 0 &&
        strstr(v, "tls-yes"))
      break;
  }
  assert_int_equal(sim_msg_header(t2, "Security-Verify", v, sizeof v), -1);
  /* Hop S-CSCF -> UE: the 401 carries Security-Server, the 200 the
   * registrar's headers. */
  assert_non_null(strstr(
      hdr(w, "pcscf", "ue0", "SIP/2.0 401", 0, "Security-Server"), "tls"));
  assert_non_null(
      strstr(hdr(w, "pcscf", "ue0", "SIP/2.0 401", 0, "WWW-Authenticate"),
             "AKAv1-MD5"));
  assert_non_null(
      strstr(hdr(w, "ue0", "pcscf", "REGISTER", 1, "Security-Verify"), "tls"));
  assert_true(
      strlen(hdr(w, "pcscf", "ue0", "SIP/2.0 200", 0, "Service-Route")) > 0);
  assert_non_null(strstr(
      hdr(w, "pcscf", "ue0", "SIP/2.0 200", 0, "P-Associated-URI"), "tel:"));
  world_del(w);
}

/* Roaming: through the visited network's P-CSCF, a roaming partner. */
static void test_roaming(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_opts o = {.pcscf = "tls:10.1.0.2:5061", .pcscf_name = PCSCF_VISITED};
  ue_t *u = ue_add(w, &o);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  dump(w);
  imsec_ue_status s = st(u);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_PARTNER);
  assert_non_null(
      strstr(hdr(w, "vpcscf", "scscf", "REGISTER", 0, "P-Visited-Network-ID"),
             "Visited 001-02"));
  assert_non_null(
      strstr(hdr(w, "vpcscf", "scscf", "REGISTER", 0, "Path"), "10.1.0.2"));
  world_del(w);
}

/* Re-registration before expiry on the same flow, then de-registration
 * removes both the registrar's contact and the P-CSCF's binding. */
static void dereg_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)arg;
  assert_int_equal(imsec_ue_deregister(self, now, out), 0);
}

static void test_reregister_deregister(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *u = ue_add(w, NULL);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  imsec_ue_status s0 = st(u);
  assert_true(s0.rereg_at > sim_now(w->s));
  assert_true(s0.rereg_at < s0.expires_at);
  sim_advance(w->s, s0.rereg_at - sim_now(w->s) + 5000);
  imsec_ue_status s1 = st(u);
  assert_int_equal(s1.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s1.registrations, 2);
  assert_int_equal(s1.flow, s0.flow);
  assert_true(s1.expires_at > s0.expires_at);
  assert_int_equal(imsec_scscf_contacts(w->scscf, imsec_str_c(u->impu)), 1);
  sim_call(u->n, dereg_fn, NULL);
  sim_run(w->s, 5000);
  dump(w);
  assert_int_equal(st(u).state, IMSEC_UE_IDLE);
  assert_int_equal(imsec_scscf_contacts(w->scscf, imsec_str_c(u->impu)), 0);
  imsec_pcscf_stats ps;
  imsec_pcscf_stats_get(w->home, &ps);
  assert_int_equal(ps.bindings, 0);
  assert_non_null(
      strstr(hdr(w, u->name, "pcscf", "REGISTER", 3, "Expires"), "0"));
  world_del(w);
}

/* TS 33.203 §6.1.2.1: a wrong RES gets 403; the UE is not registered. */
static void test_wrong_res(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *u = ue_add(w, NULL);
  tamper t = {
      .from = u->name, .start = "REGISTER", .nth = 1, .what = T_WRONG_RES};
  sim_set_tamper(w->s, tamper_fn, &t);
  imsec_ue_state s = run_register(w, u);
  dump(w);
  assert_int_equal(t.done, 1);
  assert_int_equal(s, IMSEC_UE_FAILED);
  assert_int_equal(st(u).last_status, 403);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 403"), 1);
  assert_int_equal(imsec_scscf_registrations(w->scscf), 0);
  imsec_pcscf_stats ps;
  imsec_pcscf_stats_get(w->home, &ps);
  assert_int_equal(ps.bindings, 0);
  world_del(w);
}

/* TS 33.203 §6.1.2.2: a MAC that does not verify (the network does not
 * know the UE's K): the UE refuses the network, says so with an empty
 * response (no auts), and the S-CSCF answers 403. */
static void test_bad_mac(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_opts o = {.wrong_k = 1};
  ue_t *u = ue_add(w, &o);
  imsec_ue_state s = run_register(w, u);
  sim_run(w->s, 1000);
  dump(w);
  assert_int_equal(s, IMSEC_UE_REFUSED);
  assert_non_null(strstr(st(u).error, "network authentication failed"));
  assert_int_equal(sim_trace_msgs(w->s, u->name, "pcscf", "REGISTER"), 2);
  const char *auth = hdr(w, u->name, "pcscf", "REGISTER", 1, "Authorization");
  assert_non_null(strstr(auth, "response=\"\""));
  assert_null(strstr(auth, "auts="));
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 403"), 1);
  assert_int_equal(imsec_scscf_registrations(w->scscf), 0);
  world_del(w);
}

/* The same seen from the wire: a challenge whose AUTN was changed in
 * transit. The UE refuses the network and registers nowhere (the S-CSCF
 * does not know the changed nonce and may only challenge again). */
static void test_bad_mac_in_transit(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *u = ue_add(w, NULL);
  tamper t = {.from = "pcscf",
              .to = u->name,
              .start = "SIP/2.0 401",
              .nth = 0,
              .what = T_BAD_MAC};
  sim_set_tamper(w->s, tamper_fn, &t);
  imsec_ue_state s = run_register(w, u);
  sim_run(w->s, 1000);
  dump(w);
  assert_int_equal(t.done, 1);
  assert_int_equal(s, IMSEC_UE_REFUSED);
  const char *auth = hdr(w, u->name, "pcscf", "REGISTER", 1, "Authorization");
  assert_non_null(strstr(auth, "response=\"\""));
  assert_null(strstr(auth, "auts="));
  assert_int_equal(sim_trace_msgs(w->s, u->name, "pcscf", "REGISTER"), 2);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 200"), 0);
  assert_int_equal(imsec_scscf_registrations(w->scscf), 0);
  world_del(w);
}

/* TS 33.203 §6.1.3: the ISIM's SQN is ahead: AUTS, resync in the HSS, a
 * new challenge and the 200, all on the one TLS connection. */
static void test_sync_failure(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_opts o = {.sqn_ahead = 1};
  ue_t *u = ue_add(w, &o);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  dump(w);
  imsec_ue_status s = st(u);
  assert_int_equal(s.sync_failures, 1);
  assert_int_equal(s.challenges, 2);
  assert_int_equal(s.reconnects, 0);
  assert_int_equal(sim_flows_opened(w->s, 1), 1);
  assert_int_equal(sim_trace_msgs(w->s, u->name, "pcscf", "REGISTER"), 3);
  assert_non_null(strstr(
      hdr(w, u->name, "pcscf", "REGISTER", 1, "Authorization"), "auts=\""));
  /* The three REGISTERs arrived on one flow at the P-CSCF. */
  uint64_t f0 = sim_trace_msg(w->s, u->name, "pcscf", "REGISTER", 0)->flow;
  assert_int_equal(sim_trace_msg(w->s, u->name, "pcscf", "REGISTER", 1)->flow,
                   f0);
  assert_int_equal(sim_trace_msg(w->s, u->name, "pcscf", "REGISTER", 2)->flow,
                   f0);
  world_del(w);
}

/* TS 33.203 §6.1.2.3, incomplete authentication: the UE's answer comes
 * after the nonce's lifetime; the S-CSCF has dropped the vector and
 * challenges again (stale), and the UE then registers. */
static void test_incomplete_authentication(void **state) {
  (void)state;
  world *w = world_new(2000);
  ue_t *u = ue_add(w, NULL);
  tamper t = {.from = "pcscf",
              .to = "scscf",
              .start = "REGISTER",
              .nth = 1,
              .what = T_DELAY,
              .delay = 3000};
  sim_set_tamper(w->s, tamper_fn, &t);
  imsec_ue_state s = run_register(w, u);
  dump(w);
  assert_int_equal(t.done, 1);
  assert_int_equal(s, IMSEC_UE_REGISTERED);
  assert_int_equal(st(u).challenges, 2);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 401"), 2);
  const char *www =
      hdr(w, "scscf", "pcscf", "SIP/2.0 401", 1, "WWW-Authenticate");
  assert_true(strstr(www, "stale=TRUE") || strstr(www, "stale=true"));
  assert_int_equal(imsec_scscf_challenges(w->scscf), 0);
  world_del(w);
}

/* Replay: the successful REGISTER sent again (to the S-CSCF directly, and
 * through the P-CSCF on another connection) never registers anyone. */
static void test_replay(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *u = ue_add(w, NULL);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  const sim_tr *fwd = sim_trace_msg(w->s, "pcscf", "scscf", "REGISTER", 1);
  const sim_tr *orig = sim_trace_msg(w->s, u->name, "pcscf", "REGISTER", 1);
  assert_non_null(fwd);
  assert_non_null(orig);
  char *fwd_copy = strndup(fwd->text, fwd->len);
  char *orig_copy = strndup(orig->text, orig->len);
  size_t fwd_len = fwd->len, orig_len = orig->len;
  sim_trace_clear(w->s);
  imsec_addr sa = A("tcp:10.0.0.10:5060");
  uint64_t x = sim_attach(w->s, &sa, "10.0.0.66");
  assert_int_not_equal(x, 0);
  sim_run(w->s, 100);
  /* The S-CSCF does not even hear it: 10.0.0.66 is no listed core peer
   * (RFC 3325 §2.3), so its flow was closed when it came up. */
  assert_int_equal(sim_inject_from(w->s, x, fwd_copy, fwd_len), -1);
  imsec_addr pa = A("tls:10.0.0.2:5061");
  uint64_t y = sim_attach(w->s, &pa, "10.3.0.66");
  sim_run(w->s, 100);
  assert_int_equal(sim_inject_from(w->s, y, orig_copy, orig_len), 0);
  sim_run(w->s, 5000);
  dump(w);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "?", "SIP/2.0 200"), 0);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "?", "SIP/2.0 200"), 0);
  /* Nothing reached the S-CSCF from the direct connection. */
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "?", "SIP/2.0 401"), 0);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "?", "SIP/2.0"), 1);
  assert_int_equal(imsec_scscf_contacts(w->scscf, imsec_str_c(u->impu)), 1);
  free(fwd_copy);
  free(orig_copy);
  world_del(w);
}

/* Downgrade (RFC 3329 §2.4): Security-Verify removed or changed on the
 * way: 494 and a log line; nothing reaches the S-CSCF. */
static void test_downgrade(void **state) {
  (void)state;
  for (int mode = 0; mode < 2; mode++) {
    world *w = world_new(0);
    ue_t *u = ue_add(w, NULL);
    tamper t = {.from = u->name,
                .start = "REGISTER",
                .nth = 1,
                .what = mode ? T_CHANGE_VERIFY : T_DROP_VERIFY};
    sim_set_tamper(w->s, tamper_fn, &t);
    imsec_ue_state s = run_register(w, u);
    dump(w);
    assert_int_equal(t.done, 1);
    assert_int_equal(s, IMSEC_UE_FAILED);
    assert_int_equal(sim_trace_msgs(w->s, "pcscf", u->name, "SIP/2.0 494"), 1);
    assert_int_equal(sim_trace_msgs(w->s, "pcscf", "scscf", "REGISTER"), 1);
    assert_true(sim_trace_log_has(w->s, "pcscf", "downgrade"));
    assert_int_equal(imsec_scscf_registrations(w->scscf), 0);
    world_del(w);
  }
}

/* MESSAGE A -> B over B's bound flow; identity spoofing refused. */
typedef struct msg_arg {
  const char *to, *text;
  int handle;
} msg_arg;

static void send_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  msg_arg *m = arg;
  m->handle = imsec_ue_send_message(self, m->to, NULL, (const uint8_t *)m->text,
                                    strlen(m->text), now, out);
  assert_true(m->handle > 0);
}

static void test_message_and_spoofing(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *a = ue_add(w, NULL);
  ue_t *b = ue_add(w, NULL);
  ue_t *c = ue_add(w, NULL); /* never registers */
  assert_int_equal(run_register(w, a), IMSEC_UE_REGISTERED);
  assert_int_equal(run_register(w, b), IMSEC_UE_REGISTERED);
  uint64_t b_flow = st(b).flow;
  sim_trace_clear(w->s);
  /* Delivered to B on its registered flow, asserted as A. */
  msg_arg m = {.to = b->impu, .text = "hello B"};
  sim_call(a->n, send_fn, &m);
  sim_run(w->s, 5000);
  dump(w);
  assert_int_equal(imsec_ue_message_result(a->ue, m.handle), 200);
  imsec_ue_message in;
  assert_int_equal(imsec_ue_inbox_pop(b->ue, &in), 1);
  assert_int_equal(in.len, strlen(m.text));
  assert_memory_equal(in.body, m.text, in.len);
  assert_string_equal(in.asserted, a->impu);
  imsec_ue_message_free(&in);
  const sim_tr *t = sim_trace_msg(w->s, "pcscf", b->name, "MESSAGE", 0);
  assert_non_null(t);
  assert_int_equal(t->flow, b_flow);
  assert_int_equal(st(b).reconnects, 0);
  assert_non_null(strstr(
      hdr(w, "pcscf", "scscf", "MESSAGE", 0, "P-Asserted-Identity"), a->impu));
  /* To an identity that is not registered: a final error. */
  msg_arg m2 = {.to = c->impu, .text = "anyone?"};
  sim_call(a->n, send_fn, &m2);
  sim_run(w->s, 5000);
  int r2 = imsec_ue_message_result(a->ue, m2.handle);
  assert_true(r2 == 404 || r2 == 480);
  /* A P-Preferred-Identity outside A's set (B's): 403. */
  tamper tp = {.from = a->name,
               .start = "MESSAGE",
               .nth = 0,
               .what = T_ADD_PPI,
               .ppi = b->impu};
  sim_set_tamper(w->s, tamper_fn, &tp);
  msg_arg m3 = {.to = b->impu, .text = "I am B"};
  sim_call(a->n, send_fn, &m3);
  sim_run(w->s, 5000);
  assert_int_equal(tp.done, 1);
  assert_int_equal(imsec_ue_message_result(a->ue, m3.handle), 403);
  assert_int_equal(imsec_ue_inbox_pop(b->ue, &in), 0);
  sim_set_tamper(w->s, NULL, NULL);
  /* A request claiming A's identity on a flow that is not A's binding. */
  imsec_addr pa = A("tls:10.0.0.2:5061");
  uint64_t x = sim_attach(w->s, &pa, "10.3.0.99");
  sim_run(w->s, 100);
  char spoof[1024];
  int n =
      snprintf(spoof, sizeof spoof,
               "MESSAGE %s SIP/2.0\r\n"
               "Via: SIP/2.0/TLS 10.3.0.99:5061;branch=z9hG4bKspoof1;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <%s>;tag=sp1\r\nTo: <%s>\r\n"
               "Call-ID: spoof-1\r\nCSeq: 1 MESSAGE\r\n"
               "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nfake!",
               b->impu, a->impu, b->impu);
  sim_trace_clear(w->s);
  assert_int_equal(sim_inject_from(w->s, x, spoof, (size_t)n), 0);
  sim_run(w->s, 5000);
  dump(w);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "?", "SIP/2.0 403"), 1);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "scscf", "MESSAGE"), 0);
  assert_int_equal(imsec_ue_inbox_pop(b->ue, &in), 0);
  world_del(w);
}

/* One IMPU registered from two UEs (two instances; one at home, one
 * through the visited P-CSCF, so two first hops): a MESSAGE to it is
 * forked to both flows (RFC 3261 §16.6); the sender gets one 200. */
static void test_message_forked(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *a = ue_add(w, NULL);
  ue_t *b1 = ue_add(w, NULL);
  ue_opts o = {.pcscf = "tls:10.1.0.2:5061",
               .pcscf_name = PCSCF_VISITED,
               .instance = "urn:uuid:00000000-0000-4000-8000-0000000000b2"};
  ue_t *b2 = ue_twin(w, b1, &o);
  assert_int_equal(run_register(w, a), IMSEC_UE_REGISTERED);
  assert_int_equal(run_register(w, b1), IMSEC_UE_REGISTERED);
  assert_int_equal(run_register(w, b2), IMSEC_UE_REGISTERED);
  assert_int_equal(imsec_scscf_contacts(w->scscf, imsec_str_c(b1->impu)), 2);
  uint64_t f1 = st(b1).flow, f2 = st(b2).flow;
  sim_trace_clear(w->s);
  msg_arg m = {.to = b1->impu, .text = "hello both"};
  sim_call(a->n, send_fn, &m);
  sim_run(w->s, 5000);
  dump(w);
  assert_int_equal(imsec_ue_message_result(a->ue, m.handle), 200);
  /* Both devices got it, each on its registered flow, asserted as A. */
  ue_t *bs[] = {b1, b2};
  for (int i = 0; i < 2; i++) {
    imsec_ue_message in;
    assert_int_equal(imsec_ue_inbox_pop(bs[i]->ue, &in), 1);
    assert_int_equal(in.len, strlen(m.text));
    assert_memory_equal(in.body, m.text, in.len);
    assert_string_equal(in.asserted, a->impu);
    imsec_ue_message_free(&in);
    assert_int_equal(imsec_ue_inbox_pop(bs[i]->ue, &in), 0);
    assert_int_equal(st(bs[i]).reconnects, 0);
  }
  const sim_tr *t = sim_trace_msg(w->s, "pcscf", b1->name, "MESSAGE", 0);
  assert_non_null(t);
  assert_int_equal(t->flow, f1);
  t = sim_trace_msg(w->s, "vpcscf", b2->name, "MESSAGE", 0);
  assert_non_null(t);
  assert_int_equal(t->flow, f2);
  /* One branch per contact, each to its own first hop. */
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "MESSAGE"), 1);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "vpcscf", "MESSAGE"), 1);
  /* Both answered 200; exactly one went up to A. */
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", "scscf", "SIP/2.0 200"), 1);
  assert_int_equal(sim_trace_msgs(w->s, "vpcscf", "scscf", "SIP/2.0 200"), 1);
  assert_int_equal(sim_trace_msgs(w->s, "scscf", "pcscf", "SIP/2.0 200"), 1);
  assert_int_equal(sim_trace_msgs(w->s, "pcscf", a->name, "SIP/2.0 200"), 1);
  assert_int_equal(imsec_scscf_txns(w->scscf), 0);
  world_del(w);
}

/* Flow loss: the P-CSCF drops the binding; the UE connects again, resumes
 * its TLS session and registers again. */
static void test_flow_loss(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_t *u = ue_add(w, NULL);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  uint64_t f0 = st(u).flow;
  uint64_t p0 = sim_flow_peer(w->s, f0), bound = 0;
  assert_int_equal(sim_flow_fail(w->s, f0, IMSEC_ERR_IO), 0);
  sim_advance(w->s, 40000);
  dump(w);
  imsec_ue_status s = st(u);
  assert_int_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_not_equal(s.flow, f0);
  assert_true(s.reconnects >= 1);
  assert_true(s.resumed >= 1);
  assert_int_equal(s.registrations, 2);
  /* The binding follows the new connection; the old one's is gone. */
  imsec_pcscf_stats ps;
  imsec_pcscf_stats_get(w->home, &ps);
  assert_int_equal(ps.bindings, 1);
  assert_int_equal(
      imsec_pcscf_binding_flow(w->home, imsec_str_c(u->impu), &bound), 0);
  assert_int_not_equal(bound, p0);
  assert_int_equal(bound, sim_flow_peer(w->s, s.flow));
  world_del(w);
}

/* Rogue P-CSCFs: refused with their reason when the TLS handshake
 * completes; nothing at all goes out on that connection. */
static void test_rogue_pcscfs(void **state) {
  (void)state;
  struct {
    const char *addr, *name, *reason;
  } cases[] = {
      {"tls:10.9.0.2:5061", PCSCF_OTHER, "not-a-roaming-partner"},
      {"tls:10.9.0.3:5061", PCSCF_HOME, "chain-invalid"},
      /* The home P-CSCF's certificate, dialled under another name. */
      {"tls:10.0.0.2:5061", "pcscf2." HOME, "name-mismatch"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    world *w = world_new(0);
    ue_opts o = {.pcscf = cases[i].addr, .pcscf_name = cases[i].name};
    ue_t *u = ue_add(w, &o);
    imsec_ue_state s = run_register(w, u);
    sim_run(w->s, 2000);
    dump(w);
    assert_int_equal(s, IMSEC_UE_REFUSED);
    imsec_ue_status ss = st(u);
    assert_true(ss.trust_decided);
    assert_string_equal(imsec_trust_reason_code(ss.trust.reason),
                        cases[i].reason);
    assert_int_equal(sim_trace_msgs(w->s, u->name, NULL, NULL), 0);
    assert_int_equal(imsec_scscf_registrations(w->scscf), 0);
    world_del(w);
  }
}

/* AKAv2-MD5 per subscriber (RFC 4169). */
static void test_akav2(void **state) {
  (void)state;
  world *w = world_new(0);
  ue_opts o = {.aka = IMSEC_HSS_AKAV2};
  ue_t *u = ue_add(w, &o);
  assert_int_equal(run_register(w, u), IMSEC_UE_REGISTERED);
  assert_non_null(
      strstr(hdr(w, "pcscf", u->name, "SIP/2.0 401", 0, "WWW-Authenticate"),
             "AKAv2-MD5"));
  world_del(w);
}

static int setup(void **state) {
  (void)state;
  return pki_setup();
}

static int teardown(void **state) {
  (void)state;
  pki_free();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_home_registrations),
      cmocka_unit_test(test_roaming),
      cmocka_unit_test(test_reregister_deregister),
      cmocka_unit_test(test_wrong_res),
      cmocka_unit_test(test_bad_mac),
      cmocka_unit_test(test_bad_mac_in_transit),
      cmocka_unit_test(test_sync_failure),
      cmocka_unit_test(test_incomplete_authentication),
      cmocka_unit_test(test_replay),
      cmocka_unit_test(test_downgrade),
      cmocka_unit_test(test_message_and_spoofing),
      cmocka_unit_test(test_message_forked),
      cmocka_unit_test(test_flow_loss),
      cmocka_unit_test(test_rogue_pcscfs),
      cmocka_unit_test(test_akav2),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* !HAVE_ELEMENTS */

static void test_elements_missing(void **state) {
  (void)state;
  skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_elements_missing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
