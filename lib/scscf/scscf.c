/* The S-CSCF element: registrar, authenticator, router
 * (include/imsec/scscf.h). */
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/ident.h"
#include "imsec/map.h"
#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/trust.h"
#include "limit.h"

#define OBUF_CAP (64 * 1024)
#define NONCE_CAP 128
#define OPAQUE_CAP 33
#define PER_IMPI_CHALLENGES 4
#define MAX_PEERS 1024
#define MAX_QUEUE 64
#define MAX_FLOWS 65536
#define BRANCH_PREFIX "z9hG4bK.isc."
/* A store call made the request wait: asked (AGAIN) or busy (BUSY). */
static inline int waits(int rv) {
  return rv == IMSEC_ERR_AGAIN || rv == IMSEC_ERR_BUSY;
}

typedef struct challenge {
  char nonce[NONCE_CAP];
  char opaque[OPAQUE_CAP];
  char impi[IMSEC_HSS_ID_MAX];
  imsec_aka_vector v; /* secret: wiped when dropped */
  imsec_digest_alg alg;
  imsec_time_ms expires;
  uint64_t timer;
  uint32_t nc; /* highest nc accepted (RFC 7616 §3.4) */
} challenge;

typedef struct contact {
  char *uri;
  char *path; /* the Path values of the REGISTER, comma-joined; NULL none */
  char *instance;
  int64_t reg_id;
  imsec_time_ms expires_at;
  uint64_t timer;
  uint64_t order; /* registration order: the oldest gives way when full */
  char *reg_peer; /* the TLS peer name that registered it; NULL: none */
} contact;

typedef struct reg {
  char *impi;
  char **impus;
  size_t n_impus;
  contact *c;
  size_t n;
} reg;

typedef struct qmsg {
  struct qmsg *next;
  size_t len;
  char data[];
} qmsg;

/* One client branch of a forked request (RFC 3261 §16.6 step 8). */
typedef struct branch {
  uint64_t peer_tag; /* the connection it went out on; 0 none */
  uint64_t timer;    /* Timer F */
  imsec_time_ms deadline;
  unsigned code; /* 0 pending, else its final status */
} branch;

/* The response context of a forked request (RFC 3261 §16.7). */
typedef struct txn {
  uint64_t id;
  uint64_t up_flow; /* where the request came from; 0: that flow is gone */
  char *stub;       /* start line, Via, From, To, Call-ID, CSeq: for the
                       responses we make ourselves */
  size_t stub_len;
  char *best; /* the best final response received (our Via popped) */
  size_t best_len;
  unsigned best_code;      /* 0 none yet */
  const char *best_reason; /* static; set when the best is our own */
  int answered;            /* a final response went upstream (a 2xx) */
  size_t n, pending;
  branch b[];
} txn;

/* An outbound connection towards a Path hop (RFC 5923 reuse). */
typedef struct peer {
  imsec_addr addr;
  uint64_t tag;
  uint64_t flow; /* 0 until up */
  qmsg *head, *tail;
  size_t nq;
  char expect[IMSEC_TRUST_NAME_CAP]; /* TLS: the name it must carry */
} peer;

/* A request that waits for the HSS (a REQUEST not answered yet, or an
 * answer "busy"), or for the registrations to load, kept to be run again
 * from the start: nothing was sent and nothing kept before the store call
 * that made it wait. The answers it already has are kept with it, so the
 * run again finds them (a vector is taken once, then wiped). */
typedef struct parked {
  uint64_t flow;
  imsec_time_ms deadline; /* arrival + store_timeout_ms: then 500 */
  imsec_time_ms next;     /* the next try; 0: behind an earlier request of
                             its flow, tried once that one is done */
  imsec_time_ms pause;    /* the last pause between tries */
  uint64_t wait_id;       /* the REQUEST it waits for; 0 none */
  int busy;               /* the store's last answer was "busy" */
  int resynced;           /* its AUTS resynchronised the HSS (§6.1.3) */
  /* The answers it has (TS 33.203 §6.1: subscriber, vector, resync). */
  int sub_kind; /* IMSEC_SVC_HSS_SUB or _SUB_IMPU; 0 none */
  int sub_status;
  imsec_hss_sub sub;
  int vec_have, vec_status;
  imsec_aka_vector vec; /* secret: wiped when taken or freed */
  imsec_hss_aka aka;
  int rs_have, rs_status;
  size_t len;
  char data[];
} parked;

/* A registration change the 200 waits for (a PERSIST): undone, and the
 * REGISTER answered 500 instead, when the store could not make it
 * durable. */
typedef struct pend {
  uint64_t id;
  uint64_t flow; /* the REGISTER's flow; 0: an expiry */
  char *impi;
  int had;                 /* there was a record before the change */
  imsec_reg_record before; /* the record before the change, ttl from at */
  imsec_time_ms at;
  char *req; /* the REGISTER, to answer 500 from; NULL: an expiry */
  size_t req_len;
} pend;

/* What on_flow_up decided about a flow's peer. */
typedef struct flow_trust {
  uint64_t flow;
  int trusted;
  int tls;                         /* the name is a certificate's */
  char name[IMSEC_TRUST_NAME_CAP]; /* certificate name or address */
  char addr[80];                   /* tp:host:port of the peer (an IP) */
  const char *reason;              /* static code when refused */
  struct flow_facts *facts;        /* what it was judged on, or NULL */
} flow_trust;

/* The facts on_flow_up judged a peer on, kept so that a reload can judge
 * it again against the new lists. The certificate facts were made against
 * the anchors of that time: a reload that removes a CA cannot re-verify a
 * chain from them (the peer keeps its flow until it reconnects); names,
 * addresses and partner membership are judged again. */
typedef struct flow_facts {
  int secure, inbound;
  char ip[sizeof(((imsec_addr *)0)->host)];
  char expect[IMSEC_TRUST_NAME_CAP];
  imsec_trust_cert *cert; /* a copy, or NULL: the peer sent none */
} flow_facts;

static void facts_free(flow_facts *fa) {
  if (fa)
    free(fa->cert);
  free(fa);
}

struct imsec_scscf {
  imsec_scscf_config cfg;
  char *domain;
  imsec_crypto *crypto;
  char to_tag[17];
  char self_host[256];
  challenge **ch;
  size_t nch, capch;
  reg **regs;
  size_t nregs, capregs;
  peer **peers;
  size_t npeers, cappeers;
  uint64_t *flows; /* live inbound flows */
  size_t nflows, capflows;
  txn **tx; /* pending forked requests */
  size_t ntx, captx;
  imsec_sip_msg m2; /* a stub parsed to answer for a branch */
  uint64_t next_id; /* timers and tags */
  uint64_t order;
  char *obuf;
  char *ibuf;
  size_t ibuf_cap;
  imsec_sip_msg m;
  /* Where inbound flows come from (received/rport, RFC 3581), and the
   * Via value written from it; lines about refused input. */
  struct fpeer {
    uint64_t id;
    char host[48];
    uint16_t port;
  } * fpeers;
  size_t nfpeers, capfpeers;
  char *viabuf;
  imsec_lograte bad_rate;
  imsec_lograte refuse_rate; /* REGISTERs refused for their claims */
  /* Core-side trust (copies of the config's lists). */
  char *trust_domain;
  char *names_text[IMSEC_SCSCF_MAX_PEERS];
  imsec_str names[IMSEC_SCSCF_MAX_PEERS];
  size_t n_names;
  char *addrs_text[IMSEC_SCSCF_MAX_PEERS];
  imsec_str addrs[IMSEC_SCSCF_MAX_PEERS];
  size_t n_addrs;
  flow_trust *ft;
  size_t nft, capft;
  limit_table lim_impi, lim_src; /* flood limits (limit.h) */
  limit_table lim_pair;          /* per (IMPI, source): challenges, locks */
  imsec_time_ms lim_full_logged; /* when "tables full" was last said */
  /* Requests waiting for a busy HSS store, in arrival order. */
  parked **pk;
  size_t npk, cappk, pk_bytes;
  uint64_t pk_timer;
  imsec_time_ms pk_at;      /* when pk_timer is armed for; 0: not armed */
  parked *retry;            /* the parked request being run again, or NULL */
  int retry_busy;           /* it found the store busy again (1), or was
                               answered 500 at its deadline (2) */
  imsec_lograte store_rate; /* "HSS store unavailable" lines */
  uint64_t want_id; /* a REQUEST the running request just made, 0 none */
  imsec_map waits;  /* REQUEST id -> the parked request waiting for it */
  imsec_map pends;  /* PERSIST id -> pend */
  int loading;      /* REG_LOAD sent, its last reply not in yet */
  uint64_t load_id;
};

static void store_unavailable(imsec_scscf *s, const char *impi, int rv,
                              imsec_time_ms now, imsec_out *out);
static int park_waiting(const imsec_scscf *s, uint64_t flow);
static void park_busy(imsec_scscf *s, uint64_t flow, const char *impi,
                      imsec_time_ms now, imsec_out *out);
static void park_drop_flow(imsec_scscf *s, uint64_t flow, imsec_out *out);
static int park_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                         imsec_out *out);
static void park_free(imsec_scscf *s);
static void pends_free(imsec_scscf *s);
static int hss_sub(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                   imsec_hss_sub *sub, imsec_time_ms now, imsec_out *out);
static int hss_vector(imsec_scscf *s, const char *impi, imsec_aka_vector *v,
                      imsec_hss_aka *aka, imsec_time_ms now, imsec_out *out);
static int hss_resync(imsec_scscf *s, const char *impi, const uint8_t *rand,
                      const uint8_t *auts, imsec_time_ms now, imsec_out *out);
static int wait_load(imsec_scscf *s, imsec_time_ms now);

static void fpeer_set(imsec_scscf *s, uint64_t flow,
                      const imsec_flow_info *info);
static void fpeer_del(imsec_scscf *s, uint64_t flow);
static int mark_via(imsec_scscf *s, uint64_t flow, imsec_out *out);

/* ------------------------------------------------------------ helpers */

static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? 2 * *cap : 8;
  void *a = realloc(*arr, nc * elem);
  if (!a)
    return IMSEC_ERR_NOMEM;
  *arr = a;
  *cap = nc;
  return 0;
}

static char *dup_str(imsec_str s) {
  char *p = malloc(s.len + 1);
  if (!p)
    return NULL;
  if (s.len)
    memcpy(p, s.p, s.len);
  p[s.len] = 0;
  return p;
}

static void hex_u64(uint64_t v, char *out) {
  static const char hx[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = hx[v & 15];
    v >>= 4;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = 0;
}

static void dec_u64(uint64_t v, char *out) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = 0;
}

/* Two URIs name the same public identity: scheme, user and host (RFC 3261
 * §19.1.4 for the parts an IMPU is made of; parameters and port are not
 * part of an IMPU). tel: the number. `ua` is parsed once by the caller. */
static int impu_match_parsed(const imsec_sip_uri *ua, imsec_str b) {
  imsec_sip_uri ub;
  if (imsec_sip_uri_parse(b, 16, &ub) < 0 || ua->scheme != ub.scheme)
    return 0;
  if (ua->scheme == IMSEC_SIP_SCHEME_TEL)
    return imsec_str_eq(ua->user, ub.user);
  if (ua->scheme == IMSEC_SIP_SCHEME_OTHER)
    return imsec_str_ieq(ua->opaque, ub.opaque);
  return imsec_str_eq(ua->user, ub.user) && imsec_str_ieq(ua->host, ub.host);
}

/* The host of a parsed URI without IPv6 brackets. */
static imsec_str bare_host(imsec_str h) {
  if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
    return imsec_str_make(h.p + 1, h.len - 2);
  return h;
}

static int is_self_hostport(const imsec_scscf *s, const imsec_sip_uri *u) {
  if (!imsec_str_ieq_c(bare_host(u->host), s->self_host))
    return 0;
  uint16_t port = u->has_port ? u->port : 5060;
  return port == s->cfg.self.port;
}

/* A URI for the S-CSCF itself: its address, or the bare home domain. */
static int is_self_uri(const imsec_scscf *s, const imsec_sip_uri *u,
                       int allow_user) {
  if (u->scheme != IMSEC_SIP_SCHEME_SIP && u->scheme != IMSEC_SIP_SCHEME_SIPS)
    return 0;
  if (is_self_hostport(s, u))
    return 1;
  return imsec_str_ieq_c(u->host, s->domain) && !u->has_port &&
         (allow_user || u->user.len == 0);
}

/* ------------------------------------------------------------ output */

static void log_err(imsec_out *out, imsec_log_level lvl, const char *what,
                    int rv) {
  (void)imsec_out_log(out, lvl, what, ": ", imsec_strerror(rv), NULL);
}

static void send_buf(imsec_out *out, uint64_t flow, const char *p, int len) {
  if (len > 0)
    (void)imsec_out_send(out, flow, p, (size_t)len);
}

static void start_response(imsec_scscf *s, imsec_sip_builder *b, unsigned code,
                           const char *reason) {
  imsec_sip_build_init(b, s->obuf, OBUF_CAP);
  imsec_sip_build_response(b, &s->m, code, imsec_str_c(reason),
                           imsec_str_c(s->to_tag));
  imsec_sip_build_header(b, IMSEC_STR_LIT("Server"),
                         IMSEC_STR_LIT("imsec-scscf"));
}

static void finish_send(imsec_scscf *s, imsec_sip_builder *b, uint64_t flow,
                        imsec_out *out) {
  int n = imsec_sip_build_finish(b, IMSEC_STR_NULL);
  if (n < 0) {
    log_err(out, IMSEC_LOG_WARN, "cannot build a response", n);
    return;
  }
  send_buf(out, flow, s->obuf, n);
}

static void respond(imsec_scscf *s, uint64_t flow, unsigned code,
                    const char *reason, imsec_out *out) {
  imsec_sip_builder b;
  start_response(s, &b, code, reason);
  finish_send(s, &b, flow, out);
}

/* ------------------------------------------------------------ lifecycle */

/* The IMS trust domain when none is configured: the home domain's last two
 * labels (ims.mnc001.mcc001.3gppnetwork.org -> 3gppnetwork.org, TS 23.003
 * §13). */
static imsec_str default_trust_domain(imsec_str dom) {
  size_t dots = 0, i = dom.len;
  while (i > 0) {
    if (dom.p[i - 1] == '.' && ++dots == 2)
      break;
    i--;
  }
  return imsec_str_make(dom.p + i, dom.len - i);
}

static int copy_list(const char *const *in, size_t n, char **text,
                     imsec_str *out, size_t *count) {
  if (n > IMSEC_SCSCF_MAX_PEERS || (n && !in))
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < n; i++) {
    imsec_str v = imsec_str_c(in[i]);
    if (!v.len || v.len >= IMSEC_TRUST_NAME_CAP)
      return IMSEC_ERR_CONFIG;
    text[i] = dup_str(v);
    if (!text[i])
      return IMSEC_ERR_NOMEM;
    out[i] = imsec_str_make(text[i], v.len);
    *count = i + 1;
  }
  return 0;
}

/* Copy the core-side trust settings (TS 33.210 §5.2, RFC 3325 §2.3). */
static int trust_config(imsec_scscf *s, const imsec_scscf_config *cfg) {
  imsec_str td = cfg->trust_domain
                     ? imsec_str_c(cfg->trust_domain)
                     : default_trust_domain(imsec_str_c(s->domain));
  if (!imsec_dns_name_valid(td))
    return IMSEC_ERR_CONFIG;
  s->trust_domain = dup_str(td);
  if (!s->trust_domain)
    return IMSEC_ERR_NOMEM;
  s->cfg.trust_domain = s->trust_domain;
  IMSEC_GUARD(copy_list(cfg->peer_names, cfg->n_peer_names, s->names_text,
                        s->names, &s->n_names));
  IMSEC_GUARD(copy_list(cfg->peer_addrs, cfg->n_peer_addrs, s->addrs_text,
                        s->addrs, &s->n_addrs));
  s->cfg.peer_names = NULL;
  s->cfg.peer_addrs = NULL;
  return 0;
}

/* Flood-limit defaults: generous enough for a NAT with thousands of UEs
 * re-registering behind one address (each needs one new challenge per
 * registration, two with a resync). */
static void limits_defaults(imsec_scscf_config *c) {
  if (!c->limit_window_ms)
    c->limit_window_ms = 60000;
  if (!c->impi_challenge_limit)
    c->impi_challenge_limit = 10;
  if (!c->source_challenge_limit)
    c->source_challenge_limit = 6000;
  if (!c->impi_failure_limit)
    c->impi_failure_limit = 10;
  if (!c->source_failure_limit)
    c->source_failure_limit = 300;
  if (!c->lockout_ms)
    c->lockout_ms = 300000;
  if (!c->max_limit_entries)
    c->max_limit_entries = 65536;
}

static int limits_setup(imsec_scscf *s) {
  if (s->cfg.limit_window_ms < 0 || s->cfg.lockout_ms < 0)
    return IMSEC_ERR_CONFIG;
  uint8_t seed[48];
  int rv = imsec_random(s->crypto, seed, sizeof(seed));
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_impi, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed);
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_src, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed + 16);
  if (rv == 0)
    rv = imsec_limit_init(&s->lim_pair, s->cfg.max_limit_entries,
                          s->cfg.limit_window_ms, seed + 32);
  imsec_wipe(seed, sizeof(seed));
  return rv;
}

int imsec_scscf_new(imsec_scscf **out, const imsec_scscf_config *cfg,
                    imsec_crypto *crypto) {
  if (!out || !cfg || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_str dom = imsec_str_c(cfg->domain);
  if (!dom.len || dom.len >= 256 || !cfg->self.host[0] || !cfg->self.port)
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < dom.len; i++) {
    if (!(imsec_is_alnum((unsigned char)dom.p[i]) || dom.p[i] == '.' ||
          dom.p[i] == '-'))
      return IMSEC_ERR_CONFIG;
  }
  imsec_scscf_config c = *cfg;
  if (!c.nonce_lifetime_ms)
    c.nonce_lifetime_ms = 30000;
  if (!c.expires_min)
    c.expires_min = 60;
  if (!c.expires_max)
    c.expires_max = 3600;
  if (!c.expires_default)
    c.expires_default = 600;
  if (!c.max_contacts)
    c.max_contacts = 8;
  if (!c.max_challenges)
    c.max_challenges = 10000;
  if (!c.max_regs)
    c.max_regs = 100000;
  if (!c.txn_timeout_ms)
    c.txn_timeout_ms = 32000; /* RFC 3261 §17.1.2.2: Timer F = 64*T1 */
  if (!c.max_txns)
    c.max_txns = 1024;
  if (!c.store_timeout_ms)
    c.store_timeout_ms = 250;
  if (!c.max_parked)
    c.max_parked = 256;
  if (c.expires_min > c.expires_max || c.nonce_lifetime_ms < 0 ||
      c.txn_timeout_ms < 0 || c.store_timeout_ms < 0)
    return IMSEC_ERR_CONFIG;
  limits_defaults(&c);
  if (c.expires_default < c.expires_min)
    c.expires_default = c.expires_min;
  if (c.expires_default > c.expires_max)
    c.expires_default = c.expires_max;

  imsec_scscf *s = calloc(1, sizeof(*s));
  if (!s)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_NOMEM;
  s->cfg = c;
  s->crypto = crypto;
  imsec_map_init_u64(&s->waits);
  imsec_map_init_u64(&s->pends);
  s->domain = dup_str(dom);
  if (!s->domain)
    goto fail_domain;
  s->obuf = malloc(OBUF_CAP);
  if (!s->obuf)
    goto fail_obuf;
  imsec_str h = imsec_str_c(c.self.host);
  if (imsec_str_copy(h, s->self_host, sizeof(s->self_host)) < 0) {
    rv = IMSEC_ERR_CONFIG;
    goto fail_host;
  }
  uint8_t rnd[8];
  IMSEC_GUARD_GOTO(rv, imsec_random(crypto, rnd, sizeof(rnd)), fail_host);
  IMSEC_GUARD_GOTO(
      rv, imsec_hex_encode(rnd, sizeof(rnd), s->to_tag, sizeof(s->to_tag)),
      fail_host);
  IMSEC_GUARD_GOTO(rv, limits_setup(s), fail_host);
  imsec_sip_msg_init(&s->m, NULL);
  imsec_sip_msg_init(&s->m2, NULL);
  s->cfg.domain = s->domain;
  rv = trust_config(s, cfg);
  if (rv < 0) {
    imsec_scscf_del(s);
    return rv;
  }
  *out = s;
  return 0;
fail_host:
  imsec_limit_free(&s->lim_impi);
  imsec_limit_free(&s->lim_src);
  imsec_limit_free(&s->lim_pair);
  free(s->obuf);
fail_obuf:
  free(s->domain);
fail_domain:
  free(s);
  return rv;
}

static void challenge_free(challenge *c) {
  imsec_aka_vector_wipe(&c->v);
  imsec_wipe(c, sizeof(*c));
  free(c);
}

static void contact_free(contact *c) {
  free(c->uri);
  free(c->path);
  free(c->instance);
  free(c->reg_peer);
}

static void reg_free(reg *r) {
  for (size_t i = 0; i < r->n; i++)
    contact_free(&r->c[i]);
  free(r->c);
  for (size_t i = 0; i < r->n_impus; i++)
    free(r->impus[i]);
  free(r->impus);
  free(r->impi);
  free(r);
}

static void txn_free(txn *t) {
  free(t->stub);
  if (t->best) {
    imsec_wipe(t->best, t->best_len);
    free(t->best);
  }
  free(t);
}

static void peer_free(peer *p) {
  for (qmsg *q = p->head, *n; q; q = n) {
    n = q->next;
    imsec_wipe(q->data, q->len);
    free(q);
  }
  free(p);
}

void imsec_scscf_del(imsec_scscf *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nch; i++)
    challenge_free(s->ch[i]);
  free(s->ch);
  for (size_t i = 0; i < s->nregs; i++)
    reg_free(s->regs[i]);
  free(s->regs);
  for (size_t i = 0; i < s->npeers; i++)
    peer_free(s->peers[i]);
  free(s->peers);
  free(s->flows);
  free(s->fpeers);
  free(s->viabuf);
  for (size_t i = 0; i < s->ntx; i++)
    txn_free(s->tx[i]);
  free(s->tx);
  park_free(s);
  pends_free(s);
  imsec_sip_msg_free(&s->m);
  imsec_sip_msg_free(&s->m2);
  free(s->obuf);
  if (s->ibuf) {
    imsec_wipe(s->ibuf, s->ibuf_cap);
    free(s->ibuf);
  }
  imsec_limit_free(&s->lim_impi);
  imsec_limit_free(&s->lim_src);
  imsec_limit_free(&s->lim_pair);
  free(s->domain);
  free(s->trust_domain);
  for (size_t i = 0; i < s->n_names; i++)
    free(s->names_text[i]);
  for (size_t i = 0; i < s->n_addrs; i++)
    free(s->addrs_text[i]);
  for (size_t i = 0; i < s->nft; i++)
    facts_free(s->ft[i].facts);
  free(s->ft);
  free(s);
}

/* ------------------------------------------------------------ state */

static void drop_challenge(imsec_scscf *s, size_t i, imsec_out *out) {
  (void)imsec_out_timer(out, s->ch[i]->timer, 0);
  challenge_free(s->ch[i]);
  s->ch[i] = s->ch[--s->nch];
}

static long find_challenge(const imsec_scscf *s, imsec_str nonce) {
  for (size_t i = 0; i < s->nch; i++) {
    if (imsec_str_eq(imsec_str_c(s->ch[i]->nonce), nonce))
      return (long)i;
  }
  return -1;
}

static reg *find_reg_impi(const imsec_scscf *s, imsec_str impi, size_t *idx) {
  for (size_t i = 0; i < s->nregs; i++) {
    if (imsec_str_eq(imsec_str_c(s->regs[i]->impi), impi)) {
      if (idx)
        *idx = i;
      return s->regs[i];
    }
  }
  return NULL;
}

static reg *find_reg_impu(const imsec_scscf *s, imsec_str impu) {
  imsec_sip_uri u;
  if (imsec_sip_uri_parse(impu, 16, &u) < 0)
    return NULL;
  for (size_t i = 0; i < s->nregs; i++) {
    for (size_t j = 0; j < s->regs[i]->n_impus; j++) {
      if (impu_match_parsed(&u, imsec_str_c(s->regs[i]->impus[j])))
        return s->regs[i];
    }
  }
  return NULL;
}

static void remove_reg(imsec_scscf *s, size_t idx, imsec_out *out) {
  reg *r = s->regs[idx];
  for (size_t i = 0; i < r->n; i++)
    (void)imsec_out_timer(out, r->c[i].timer, 0);
  reg_free(r);
  s->regs[idx] = s->regs[--s->nregs];
}

static void remove_contact(reg *r, size_t i, imsec_out *out) {
  (void)imsec_out_timer(out, r->c[i].timer, 0);
  contact_free(&r->c[i]);
  r->c[i] = r->c[--r->n];
}

int imsec_scscf_set_expiry(imsec_scscf *s, const imsec_scscf_config *cfg) {
  if (!s || !cfg)
    return IMSEC_ERR_INVAL;
  /* The defaults and rules of imsec_scscf_new. */
  imsec_time_ms nonce = cfg->nonce_lifetime_ms ? cfg->nonce_lifetime_ms : 30000;
  uint32_t lo = cfg->expires_min ? cfg->expires_min : 60;
  uint32_t hi = cfg->expires_max ? cfg->expires_max : 3600;
  uint32_t def = cfg->expires_default ? cfg->expires_default : 600;
  if (lo > hi || nonce < 0)
    return IMSEC_ERR_CONFIG;
  if (def < lo)
    def = lo;
  if (def > hi)
    def = hi;
  /* Challenges and bindings already made keep the deadlines they got. */
  s->cfg.nonce_lifetime_ms = nonce;
  s->cfg.expires_min = lo;
  s->cfg.expires_max = hi;
  s->cfg.expires_default = def;
  return 0;
}

static void free_list(char **text, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(text[i]);
}

int imsec_scscf_set_peers(imsec_scscf *s, const char *const *names,
                          size_t n_names, const char *const *addrs,
                          size_t n_addrs) {
  if (!s || (n_names && !names) || (n_addrs && !addrs))
    return IMSEC_ERR_INVAL;
  char *nt[IMSEC_SCSCF_MAX_PEERS] = {0}, *at[IMSEC_SCSCF_MAX_PEERS] = {0};
  imsec_str nv[IMSEC_SCSCF_MAX_PEERS], av[IMSEC_SCSCF_MAX_PEERS];
  size_t nn = 0, na = 0;
  /* Copies first: a failure leaves the running lists as they were. */
  int rc = copy_list(names, n_names, nt, nv, &nn);
  if (rc == 0)
    rc = copy_list(addrs, n_addrs, at, av, &na);
  if (rc != 0) {
    free_list(nt, nn);
    free_list(at, na);
    return rc;
  }
  /* New flows meet the new lists; flows already up are judged again by
   * imsec_scscf_recheck_peers (TS 33.210 §5.2). */
  free_list(s->names_text, s->n_names);
  free_list(s->addrs_text, s->n_addrs);
  memcpy(s->names_text, nt, sizeof(nt));
  memcpy(s->names, nv, nn * sizeof(nv[0]));
  s->n_names = nn;
  memcpy(s->addrs_text, at, sizeof(at));
  memcpy(s->addrs, av, na * sizeof(av[0]));
  s->n_addrs = na;
  return 0;
}

size_t imsec_scscf_contacts(const imsec_scscf *s, imsec_str impu) {
  const reg *r = s ? find_reg_impu(s, impu) : NULL;
  return r ? r->n : 0;
}

size_t imsec_scscf_challenges(const imsec_scscf *s) {
  return s ? s->nch : 0;
}

size_t imsec_scscf_registrations(const imsec_scscf *s) {
  return s ? s->nregs : 0;
}

size_t imsec_scscf_txns(const imsec_scscf *s) {
  return s ? s->ntx : 0;
}

size_t imsec_scscf_parked(const imsec_scscf *s) {
  return s ? s->npk : 0;
}

/* ------------------------------------------------------------ peers */

static flow_trust *trust_find(imsec_scscf *s, uint64_t flow) {
  for (size_t i = 0; flow && i < s->nft; i++)
    if (s->ft[i].flow == flow)
      return &s->ft[i];
  return NULL;
}

static void trust_forget(imsec_scscf *s, uint64_t flow) {
  for (size_t i = 0; flow && i < s->nft; i++) {
    if (s->ft[i].flow == flow) {
      facts_free(s->ft[i].facts);
      s->ft[i] = s->ft[--s->nft];
      return;
    }
  }
}

/* The certificate name of the trusted TLS peer on `flow`, or NULL. */
static const char *tls_peer_name(imsec_scscf *s, uint64_t flow) {
  const flow_trust *t = trust_find(s, flow);
  return t && t->trusted && t->tls && t->name[0] ? t->name : NULL;
}

static void printable(char *p, size_t cap) {
  for (size_t i = 0; i < cap && p[i]; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
      p[i] = '?';
}

/* The verdict on stored facts against the current lists: 1 trusted, 0
 * refused, IMSEC_ERR_NOMEM; `r` gets the name, reason and words. */
static int decide_facts(imsec_scscf *s, const flow_facts *fa,
                        imsec_trust_peer_result *r) {
  imsec_trust_peer_input in;
  memset(&in, 0, sizeof(in));
  in.secure = fa->secure;
  in.cert = fa->cert;
  in.inbound = fa->inbound;
  in.peer_ip = imsec_str_c(fa->ip);
  in.trust_domain = imsec_str_c(s->trust_domain);
  in.names = s->names;
  in.n_names = s->n_names;
  in.insecure_core = s->cfg.insecure_core;
  in.addrs = s->addrs;
  in.n_addrs = s->n_addrs;
  in.expect_name = imsec_str_c(fa->expect);
  if (imsec_trust_peer_decide(&in, r) < 0)
    return IMSEC_ERR_INTERNAL;
  /* Certificate text goes into one log line: no control characters. */
  printable(r->name, sizeof(r->name));
  printable(r->why, sizeof(r->why));
  return r->verdict != IMSEC_TRUST_PEER_REFUSED;
}

/* Judge the peer of `flow` (TS 33.210 §5.2, RFC 3325 §2.3) and remember
 * the outcome and its facts; a refusal is logged with the peer's address,
 * name and reason. `expect`: the name an outgoing TLS peer must carry, or
 * NULL. Returns 1 trusted, 0 refused. */
static int judge_peer(imsec_scscf *s, uint64_t flow,
                      const imsec_flow_info *info, const char *expect,
                      imsec_out *out) {
  flow_trust *t = trust_find(s, flow);
  if (!t) {
    if (s->nft >= MAX_FLOWS ||
        grow((void **)&s->ft, &s->capft, s->nft, sizeof(*s->ft)) < 0) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN,
                          "no room to judge a core peer: refused", NULL);
      return 0;
    }
    t = &s->ft[s->nft++];
    t->facts = NULL;
  }
  flow_facts *fa = t->facts;
  memset(t, 0, sizeof(*t));
  t->flow = flow;
  if (!info) {
    facts_free(fa);
    t->reason = "no-flow-info";
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "refused core peer: the host gave no flow facts", NULL);
    return 0;
  }
  if (imsec_addr_format(&info->peer, t->addr, sizeof(t->addr)) < 0)
    memcpy(t->addr, "?", 2);
  facts_free(fa);
  fa = calloc(1, sizeof(*fa));
  imsec_trust_peer_result *r = malloc(sizeof(*r));
  int v = IMSEC_ERR_NOMEM;
  if (fa && r) {
    fa->secure = info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS;
    fa->inbound = info->inbound;
    memcpy(fa->ip, info->peer.host, sizeof(fa->ip));
    fa->ip[sizeof(fa->ip) - 1] = 0;
    size_t el = expect ? strlen(expect) : 0;
    if (el >= sizeof(fa->expect))
      el = sizeof(fa->expect) - 1;
    memcpy(fa->expect, expect ? expect : "", el);
    if (info->peer_cert && (fa->cert = malloc(sizeof(*fa->cert))) != NULL)
      *fa->cert = *info->peer_cert;
    if (!info->peer_cert || fa->cert)
      v = decide_facts(s, fa, r);
  }
  if (v < 0) {
    free(r);
    facts_free(fa);
    t->reason = "internal";
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "refused core peer ", t->addr,
                        ": cannot decide", NULL);
    return 0;
  }
  t->tls = fa->secure;
  memcpy(t->name, r->name, sizeof(t->name));
  t->trusted = v;
  /* Only a trusted flow is judged again; a refused one is being closed. */
  if (t->trusted)
    t->facts = fa;
  else
    facts_free(fa);
  if (!t->trusted) {
    t->reason = imsec_trust_peer_reason_code(r->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "refused core peer ", t->addr,
                        " name '", r->name, "': ", t->reason, ": ", r->why,
                        NULL);
  } else {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "core peer ", t->addr, " '",
                        r->name, "' trusted (",
                        imsec_trust_peer_verdict_name(r->verdict), ")", NULL);
  }
  free(r);
  return t->trusted;
}

int imsec_scscf_recheck_peers(imsec_scscf *s, imsec_time_ms now,
                              imsec_out *out) {
  (void)now;
  if (!s || !out)
    return IMSEC_ERR_INVAL;
  imsec_trust_peer_result *r = malloc(sizeof(*r));
  if (!r)
    return IMSEC_ERR_NOMEM;
  int closed = 0;
  for (size_t i = 0; i < s->nft; i++) {
    flow_trust *t = &s->ft[i];
    if (!t->trusted || !t->facts)
      continue;
    int v = decide_facts(s, t->facts, r);
    if (v == 1)
      continue;
    /* TS 33.210 §5.2: a peer no longer in the trust domain is not served
     * on the flow it opened before the change. */
    t->trusted = 0;
    t->reason = v < 0 ? "internal" : imsec_trust_peer_reason_code(r->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "core peer ", t->addr, " '",
                        t->name,
                        "' no longer trusted after reload: ", t->reason,
                        v < 0 ? "" : ": ", v < 0 ? "" : r->why, NULL);
    (void)imsec_out_close(out, t->flow);
    closed++;
  }
  free(r);
  return closed;
}

/* ------------------------------------------------------------ flows */

static void fail_peer_branches(imsec_scscf *s, uint64_t tag, imsec_out *out);

int imsec_scscf_on_flow_up(imsec_scscf *s, uint64_t flow, uint64_t tag,
                           const imsec_flow_info *info, imsec_time_ms now,
                           imsec_out *out) {
  (void)now;
  if (!s || !flow)
    return 0;
  /* Before any byte goes out or comes in: is this a peer of the trust
   * domain? Towards a binding's P-CSCF over TLS, the one that registered
   * it. */
  const peer *want = NULL;
  for (size_t i = 0; tag && i < s->npeers && !want; i++)
    if (s->peers[i]->tag == tag)
      want = s->peers[i];
  const char *expect = want && want->addr.tp == IMSEC_TP_TLS && want->expect[0]
                           ? want->expect
                           : NULL;
  if (!judge_peer(s, flow, info, expect, out))
    return IMSEC_ERR_AUTH;
  if (tag) {
    for (size_t i = 0; i < s->npeers; i++) {
      peer *p = s->peers[i];
      if (p->tag != tag)
        continue;
      p->flow = flow;
      for (qmsg *q = p->head, *n; q; q = n) {
        n = q->next;
        (void)imsec_out_send(out, flow, q->data, q->len);
        imsec_wipe(q->data, q->len);
        free(q);
      }
      p->head = p->tail = NULL;
      p->nq = 0;
      return 0;
    }
    return 0;
  }
  if (s->nflows >= MAX_FLOWS ||
      grow((void **)&s->flows, &s->capflows, s->nflows, sizeof(*s->flows)) < 0)
    return 0;
  s->flows[s->nflows++] = flow;
  fpeer_set(s, flow, info);
  return 0;
}

void imsec_scscf_on_flow_down(imsec_scscf *s, uint64_t flow, uint64_t tag,
                              int reason, imsec_time_ms now, imsec_out *out) {
  (void)now;
  (void)reason;
  if (!s)
    return;
  trust_forget(s, flow);
  park_drop_flow(s, flow, out);
  for (size_t i = 0; i < s->nflows; i++) {
    if (flow && s->flows[i] == flow) {
      s->flows[i] = s->flows[--s->nflows];
      break;
    }
  }
  fpeer_del(s, flow);
  /* Responses to requests that came in on it have nowhere to go. */
  for (size_t i = 0; flow && i < s->ntx; i++)
    if (s->tx[i]->up_flow == flow)
      s->tx[i]->up_flow = 0;
  for (size_t i = 0; i < s->npeers; i++) {
    peer *p = s->peers[i];
    if ((tag && p->tag == tag) || (flow && p->flow == flow)) {
      if (p->nq) {
        char n[24];
        dec_u64(p->nq, n);
        (void)imsec_out_log(out, IMSEC_LOG_WARN, "connection to ", p->addr.host,
                            " lost: ", n, " queued request(s) dropped", NULL);
      }
      uint64_t ptag = p->tag;
      peer_free(p);
      s->peers[i] = s->peers[--s->npeers];
      fail_peer_branches(s, ptag, out);
      break;
    }
  }
}

static int same_addr(const imsec_addr *a, const imsec_addr *b) {
  return a->tp == b->tp && a->port == b->port &&
         imsec_str_ieq(imsec_str_c(a->host), imsec_str_c(b->host));
}

/* Send to a node by address, reusing our connection to it (RFC 5923).
 * Returns the connection's tag, or 0 when the message could not go. */
static uint64_t send_to(imsec_scscf *s, const imsec_addr *addr,
                        const char *expect, const char *data, size_t len,
                        imsec_out *out) {
  peer *p = NULL;
  if (!expect || addr->tp != IMSEC_TP_TLS)
    expect = "";
  for (size_t i = 0; i < s->npeers && !p; i++)
    if (same_addr(&s->peers[i]->addr, addr) &&
        /* no secret: a certificate name from the Path's binding */
        strcmp(s->peers[i]->expect, expect) == 0)
      p = s->peers[i];
  if (!p) {
    if (s->npeers >= MAX_PEERS || grow((void **)&s->peers, &s->cappeers,
                                       s->npeers, sizeof(*s->peers)) < 0) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN, "too many peers: dropped", NULL);
      return 0;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
      return 0;
    p->addr = *addr;
    p->tag = ++s->next_id;
    if (imsec_str_copy(imsec_str_c(expect), p->expect, sizeof(p->expect)) < 0)
      p->expect[0] = 0;
    s->peers[s->npeers++] = p;
    /* TLS: the expected name goes out as SNI; on_flow_up checks it. */
    (void)imsec_out_connect(out, p->tag, addr, p->expect);
  }
  if (p->flow)
    return imsec_out_send(out, p->flow, data, len) == 0 ? p->tag : 0;
  if (p->nq >= MAX_QUEUE) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "queue to ", addr->host,
                        " full: dropped", NULL);
    return 0;
  }
  qmsg *q = malloc(sizeof(*q) + len);
  if (!q)
    return 0;
  q->next = NULL;
  q->len = len;
  memcpy(q->data, data, len);
  if (p->tail)
    p->tail->next = q;
  else
    p->head = q;
  p->tail = q;
  p->nq++;
  return p->tag;
}

/* ------------------------------------------------------------ forking */

static void txn_remove(imsec_scscf *s, txn *t) {
  for (size_t i = 0; i < s->ntx; i++) {
    if (s->tx[i] == t) {
      s->tx[i] = s->tx[--s->ntx];
      break;
    }
  }
  txn_free(t);
}

static void send_up(txn *t, const char *p, size_t len, imsec_out *out) {
  if (!t->up_flow) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO,
                        "response for a flow that is gone: dropped", NULL);
    return;
  }
  (void)imsec_out_send(out, t->up_flow, p, len);
}

/* A response of our own to the forked request, built from its stub. */
static void txn_respond(imsec_scscf *s, txn *t, unsigned code,
                        const char *reason, imsec_out *out) {
  int rv = imsec_sip_parse(&s->m2, t->stub, t->stub_len, 1);
  if (rv < 0) {
    log_err(out, IMSEC_LOG_WARN, "cannot answer a forked request", rv);
    return;
  }
  imsec_sip_builder b;
  imsec_sip_build_init(&b, s->obuf, OBUF_CAP);
  imsec_sip_build_response(&b, &s->m2, code, imsec_str_c(reason),
                           imsec_str_c(s->to_tag));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Server"),
                         IMSEC_STR_LIT("imsec-scscf"));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n < 0) {
    log_err(out, IMSEC_LOG_WARN, "cannot build a response", n);
    return;
  }
  send_up(t, s->obuf, (size_t)n, out);
}

/* RFC 3261 §16.7 step 6: a 6xx first, else the lowest class. */
static unsigned rank_of(unsigned code) {
  return code >= 600 ? 0 : code / 100;
}

/* Responses that tell the client how to try again (§16.7 step 6). */
static int resubmit_info(unsigned code) {
  return code == 401 || code == 407 || code == 415 || code == 420 ||
         code == 484;
}

static int better(const txn *t, unsigned code, int ours) {
  if (!t->best_code)
    return 1;
  unsigned a = rank_of(code), b = rank_of(t->best_code);
  if (a != b)
    return a < b;
  if (a == 4 && resubmit_info(code) != resubmit_info(t->best_code))
    return resubmit_info(code);
  /* Within a class, what a UE said beats what we made up. */
  return !ours && t->best_reason != NULL;
}

/* Keep a final error response if it is the best so far. `resp` NULL: one
 * of our own (`reason` static). */
static void consider(txn *t, unsigned code, const char *reason,
                     const char *resp, size_t len) {
  if (!better(t, code, resp == NULL))
    return;
  char *copy = NULL;
  if (resp) {
    copy = malloc(len);
    if (!copy)
      return; /* keep the previous best */
    memcpy(copy, resp, len);
  }
  if (t->best) {
    imsec_wipe(t->best, t->best_len);
    free(t->best);
  }
  t->best = copy;
  t->best_len = resp ? len : 0;
  t->best_code = code;
  t->best_reason = resp ? NULL : reason;
}

/* Every branch is final: answer upstream unless a 2xx already went, then
 * forget the request. */
static void txn_done(imsec_scscf *s, txn *t, imsec_out *out) {
  if (!t->answered) {
    unsigned c = t->best_code;
    if (!c)
      txn_respond(s, t, 408, "Request Timeout", out);
    else if (c == 503) /* §16.7 step 6: a 503 goes up as 500 */
      txn_respond(s, t, 500, "Server Internal Error", out);
    else if (c == 430) /* RFC 5626 §5.3: 430 is for us, not the UAC */
      txn_respond(s, t, 480, "Temporarily Unavailable", out);
    else if (t->best)
      send_up(t, t->best, t->best_len, out);
    else
      txn_respond(s, t, c, t->best_reason, out);
  }
  txn_remove(s, t);
}

/* Branch `bi` of `t` is final. Returns 1 when that ended (freed) `t`. */
static int branch_final(imsec_scscf *s, txn *t, size_t bi, unsigned code,
                        const char *reason, const char *resp, size_t len,
                        imsec_out *out) {
  branch *b = &t->b[bi];
  if (b->code)
    return 0; /* a repeated final response: absorbed */
  b->code = code;
  (void)imsec_out_timer(out, b->timer, 0);
  t->pending--;
  if (code < 300 && resp) {
    /* §16.7 step 5: a 2xx goes up at once, and only the first. The other
     * branches are not cancelled (§9.1: no CANCEL for non-INVITE); their
     * responses are absorbed. */
    if (!t->answered) {
      t->answered = 1;
      send_up(t, resp, len, out);
    }
  } else if (!t->answered) {
    consider(t, code, reason, resp, len);
  }
  if (t->pending)
    return 0;
  txn_done(s, t, out);
  return 1;
}

/* The connection `tag` failed: its pending branches got no answer
 * (§16.9: a transport error counts as 503). */
static void fail_peer_branches(imsec_scscf *s, uint64_t tag, imsec_out *out) {
  size_t i = 0;
  while (i < s->ntx) {
    txn *t = s->tx[i];
    int freed = 0;
    for (size_t j = 0; !freed && j < t->n; j++) {
      if (t->b[j].code || t->b[j].peer_tag != tag)
        continue;
      freed = branch_final(s, t, j, 503, "Service Unavailable", NULL, 0, out);
    }
    if (!freed)
      i++;
  }
}

/* The fields a response is built from (RFC 3261 §8.2.6.2), copied out of
 * the request so the S-CSCF can answer for a branch later. */
static int make_stub(const imsec_sip_msg *m, txn *t) {
  size_t cap = m->method.len + m->ruri.len + 64;
  for (size_t i = 0; i < m->nhdrs; i++)
    cap += m->hdrs[i].name.len + m->hdrs[i].value.len + 4;
  t->stub = malloc(cap);
  if (!t->stub)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, t->stub, cap);
  imsec_sip_build_request(&b, m->method, m->ruri);
  static const imsec_sip_hid ids[] = {IMSEC_SIP_H_VIA, IMSEC_SIP_H_FROM,
                                      IMSEC_SIP_H_TO, IMSEC_SIP_H_CALL_ID,
                                      IMSEC_SIP_H_CSEQ};
  for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++)
    for (const imsec_sip_hdr *h = imsec_sip_hdr_first(m, ids[k]); h;
         h = imsec_sip_hdr_next(m, h))
      imsec_sip_build_header(&b, h->name, h->value);
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n < 0)
    return n;
  t->stub_len = (size_t)n;
  return 0;
}

/* ------------------------------------------------------------ register */

typedef struct creds {
  int present; /* an Authorization for our realm */
  imsec_digest_params p;
  char username[IMSEC_HSS_ID_MAX];
  char nonce[NONCE_CAP];
} creds;

/* Pick the Authorization for our realm (TS 24.229 §5.4.1.2.1). Returns 0,
 * or IMSEC_ERR_PARSE for a malformed one. */
static int get_creds(imsec_scscf *s, creds *c) {
  memset(c, 0, sizeof(*c));
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  int rv;
  while ((rv = imsec_sip_auth_next(&s->m, IMSEC_SIP_H_AUTHORIZATION, &it,
                                   &raw)) == 1) {
    imsec_digest_params p;
    IMSEC_GUARD(imsec_digest_parse_credentials(raw, &p));
    char realm[256];
    if (imsec_digest_unquote(p.realm, realm, sizeof(realm)) < 0)
      continue;
    if (!imsec_str_ieq_c(imsec_str_c(realm), s->domain))
      continue;
    if (imsec_digest_unquote(p.username, c->username, sizeof(c->username)) <=
            0 ||
        imsec_digest_unquote(p.nonce, c->nonce, sizeof(c->nonce)) < 0)
      return IMSEC_ERR_PARSE;
    c->p = p;
    c->present = 1;
    return 0;
  }
  return rv < 0 ? rv : 0;
}

static imsec_digest_alg alg_of(imsec_hss_aka aka) {
  return aka == IMSEC_HSS_AKAV2 ? IMSEC_DIGEST_AKAV2_MD5
                                : IMSEC_DIGEST_AKAV1_MD5;
}

/* The 401 for challenge `c` (TS 24.229 §5.4.1.2.1, RFC 3310 §3.1): built
 * from what the challenge keeps, so a repeated one is the same text.
 * Returns 0 or a negative code (nothing sent). */
static int send_challenge(imsec_scscf *s, uint64_t flow, const challenge *c,
                          int stale, imsec_out *out) {
  char www[1024];
  int n = imsec_digest_aka_challenge_build(
      &c->v, c->alg, imsec_str_c(s->domain), IMSEC_STR_LIT("auth"),
      imsec_str_c(c->opaque), 0, www, sizeof(www) - 16);
  if (n < 0)
    return n;
  if (stale)
    memcpy(www + n, ", stale=true", 13);
  imsec_sip_builder b;
  start_response(s, &b, 401, "Unauthorized");
  imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                         imsec_str_c(www));
  finish_send(s, &b, flow, out);
  return 0;
}

static void respond_retry(imsec_scscf *s, uint64_t flow, uint32_t secs,
                          imsec_out *out);
static void budget_logv(imsec_scscf *s, imsec_time_ms now, imsec_out *out,
                        imsec_str *parts, size_t n);

/* 401 with a fresh vector (TS 24.229 §5.4.1.2.1, RFC 3310 §3.1).
 * Returns IMSEC_ERR_BUSY when the HSS store is busy: then nothing was sent
 * and nothing changed (no vector, no SQN step kept, no challenge dropped),
 * so the request can run again; else 0 (answered). */
static int challenge_ue(imsec_scscf *s, uint64_t flow, const char *impi,
                        int stale, imsec_time_ms now, imsec_out *out) {
  /* Bound the vectors held: at most a few per IMPI, and overall. */
  size_t mine = 0, oldest = 0;
  int have_oldest = 0;
  for (size_t i = 0; i < s->nch; i++) {
    if (imsec_str_eq(imsec_str_c(s->ch[i]->impi), imsec_str_c(impi))) {
      mine++;
      if (!have_oldest || s->ch[i]->expires < s->ch[oldest]->expires) {
        oldest = i;
        have_oldest = 1;
      }
    }
  }
  /* The oldest of this IMPI gives way, once the new vector exists. */
  int drop_oldest = mine >= PER_IMPI_CHALLENGES;
  if (s->nch - (size_t)drop_oldest >= s->cfg.max_challenges) {
    /* Come back when the first pending challenge has expired (RFC 3261
     * §21.5.4); a flood of these is one of log lines too. */
    imsec_time_ms first = 0;
    for (size_t i = 0; i < s->nch; i++)
      if (!first || s->ch[i]->expires < first)
        first = s->ch[i]->expires;
    uint32_t secs = first > now ? (uint32_t)((first - now + 999) / 1000) : 1;
    budget_logv(
        s, now, out,
        (imsec_str[]){IMSEC_STR_LIT("too many pending challenges: 503")}, 1);
    respond_retry(s, flow, secs, out);
    return 0;
  }
  if (grow((void **)&s->ch, &s->capch, s->nch, sizeof(*s->ch)) < 0) {
    respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  challenge *c = calloc(1, sizeof(*c));
  if (!c) {
    respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  imsec_hss_aka aka = IMSEC_HSS_AKAV1;
  /* One vector per challenge; its SQN is durable before we see it. A busy
   * store made none (and wiped what it had drawn). */
  int rv = hss_vector(s, impi, &c->v, &aka, now, out);
  if (waits(rv)) {
    challenge_free(c);
    return rv;
  }
  if (rv == IMSEC_ERR_TIMEOUT || rv == IMSEC_ERR_IO) {
    store_unavailable(s, impi, rv, now, out);
    challenge_free(c);
    respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  uint8_t rnd[16];
  if (rv == 0)
    rv = imsec_random(s->crypto, rnd, sizeof(rnd));
  if (rv == 0)
    rv = imsec_hex_encode(rnd, sizeof(rnd), c->opaque, sizeof(c->opaque));
  if (rv >= 0)
    rv = imsec_digest_aka_nonce_encode(c->v.rand, c->v.autn,
                                       (imsec_bytes){NULL, 0}, c->nonce,
                                       sizeof(c->nonce));
  if (rv < 0) {
    log_err(out, IMSEC_LOG_ERROR, "HSS: no authentication vector", rv);
    challenge_free(c);
    if (rv == IMSEC_ERR_NOTFOUND)
      respond(s, flow, 403, "Forbidden", out);
    else
      respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  if (imsec_str_copy(imsec_str_c(impi), c->impi, sizeof(c->impi)) < 0)
    c->impi[0] = 0;
  c->alg = alg_of(aka);
  c->expires = now + s->cfg.nonce_lifetime_ms;
  c->timer = ++s->next_id;
  if (send_challenge(s, flow, c, stale, out) < 0) {
    challenge_free(c);
    respond(s, flow, 500, "Server Internal Error", out);
    return 0;
  }
  if (drop_oldest)
    drop_challenge(s, oldest, out);
  s->ch[s->nch++] = c;
  (void)imsec_out_timer(out, c->timer, c->expires);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", impi, ": 401 ",
                      imsec_digest_alg_name(c->alg),
                      stale ? " challenge (stale nonce)" : " challenge", NULL);
  return 0;
}

/* ------------------------------------------------------------ floods */

/* The UE's address as the P-CSCF saw it. The top Via is the P-CSCF's own
 * (marked here with the P-CSCF's address); the one directly below it is
 * the UE's, whose received the P-CSCF always rewrites (RFC 3581 §4) from
 * the address the request came from. That holds because the P-CSCF is
 * this S-CSCF's direct peer: the core-peer decision (peer_trusted) admits
 * only configured P-CSCFs, never a hop in between. Any Via further down is
 * the UE's own text and is never read: the bottom Via's received, once
 * used here, let a UE name any source it liked. With a single Via (a
 * request a peer made itself) it is that peer's address, as marked here.
 * The sent-by host stands in only where no received was written. */
static imsec_str request_source(const imsec_scscf *s) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via v;
  int n = 0;
  imsec_str src = IMSEC_STR_LIT("");
  while (n < 2 && imsec_sip_via_next(&s->m, &it, &v) == 1) {
    src = bare_host(v.received.len ? v.received : v.host);
    n++;
  }
  return src;
}

/* 503 with Retry-After (RFC 3261 §21.5.4, §20.33): come back later. */
static void respond_retry(imsec_scscf *s, uint64_t flow, uint32_t secs,
                          imsec_out *out) {
  imsec_sip_builder b;
  start_response(s, &b, 503, "Service Unavailable");
  imsec_sip_build_header_uint(&b, IMSEC_STR_LIT("Retry-After"), secs);
  finish_send(s, &b, flow, out);
}

/* One warning per key, reason and window: a flood must not become a log
 * flood. */
static void limit_warn(imsec_out *out, limit_entry *e, unsigned bit,
                       const char *what, imsec_str key, const char *why) {
  if (e->logged & bit)
    return;
  e->logged |= bit;
  (void)imsec_out_logv(out, IMSEC_LOG_WARN,
                       (imsec_str[]){imsec_str_c(what), key, imsec_str_c(why)},
                       3);
}

/* A table full of locked entries (or no memory): the S-CSCF fails closed
 * for new keys, and says so at most once per window. */
static void limit_full(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                       imsec_out *out) {
  if (!s->lim_full_logged ||
      now - s->lim_full_logged >= s->cfg.limit_window_ms) {
    s->lim_full_logged = now ? now : 1;
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "flood limit tables full: REGISTER refused with 503",
                        NULL);
  }
  respond_retry(s, flow, (uint32_t)((s->cfg.limit_window_ms + 999) / 1000),
                out);
}

/* The counters of one IMPI from one source: "SRC IMPI" (a source is an
 * IP literal or a host name, neither holds a space). */
static limit_entry *pair_get(imsec_scscf *s, imsec_str impi, imsec_str src,
                             imsec_time_ms now, int create) {
  char key[IMSEC_HSS_ID_MAX + 300];
  if (src.len + 1 + impi.len > sizeof(key))
    return NULL;
  memcpy(key, src.p, src.len);
  key[src.len] = ' ';
  memcpy(key + src.len + 1, impi.p, impi.len);
  return imsec_limit_get(
      &s->lim_pair, imsec_str_make(key, src.len + 1 + impi.len), now, create);
}

/* Beyond the per-(IMPI, source) limits, the IMPI's total over every source
 * may reach this many times them before the IMPI is refused everywhere:
 * only a spread-out attack gets there, and it still ends. */
#define IMPI_ALL_SOURCES 10u

static uint32_t all_sources(uint32_t limit) {
  return limit > UINT32_MAX / IMPI_ALL_SOURCES ? UINT32_MAX
                                               : limit * IMPI_ALL_SOURCES;
}

/* What comes before anything else for a known IMPI: an IMPI locked for
 * this source (or, after failures from many sources, everywhere) gets 403
 * even for a right response; a source over its failure limit gets 503.
 * Returns 1 when the request was answered. */
static int limits_refuse(imsec_scscf *s, uint64_t flow, imsec_str impi,
                         imsec_str src, imsec_time_ms now, imsec_out *out) {
  limit_entry *e = pair_get(s, impi, src, now, 0);
  if (e && e->locked_until > now) {
    if (!(e->logged & LIMIT_LOGGED_LOCKED)) {
      e->logged |= LIMIT_LOGGED_LOCKED;
      (void)imsec_out_logv(
          out, IMSEC_LOG_WARN,
          (imsec_str[]){IMSEC_STR_LIT("REGISTER "), impi,
                        IMSEC_STR_LIT(" from "), src,
                        IMSEC_STR_LIT(": IMPI locked for this source after "
                                      "failed responses: 403")},
          5);
    }
    respond(s, flow, 403, "Forbidden", out);
    return 1;
  }
  e = imsec_limit_get(&s->lim_impi, impi, now, 0);
  if (e && e->locked_until > now) {
    limit_warn(out, e, LIMIT_LOGGED_LOCKED, "REGISTER ", impi,
               ": IMPI locked after failed responses from many sources: 403");
    respond(s, flow, 403, "Forbidden", out);
    return 1;
  }
  e = imsec_limit_get(&s->lim_src, src, now, 0);
  if (e && e->failures >= s->cfg.source_failure_limit) {
    limit_warn(out, e, LIMIT_LOGGED_FAILURES, "REGISTER from ", src,
               ": too many failed responses from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, e, now), out);
    return 1;
  }
  return 0;
}

/* One warning line within the element's log budget (imsec_lograte: 10
 * lines a second, the next one saying how many were held back): what an
 * attacker can send at will must not become a flood of log lines. */
static void budget_logv(imsec_scscf *s, imsec_time_ms now, imsec_out *out,
                        imsec_str *parts, size_t n) {
  uint64_t held = 0;
  if (!imsec_lograte_take(&s->refuse_rate, now, &held))
    return;
  imsec_str all[8];
  char num[24] = "";
  size_t k = 0;
  for (size_t i = 0; i < n && k < 6; i++)
    all[k++] = parts[i];
  if (held) {
    dec_u64(held, num);
    all[k++] = IMSEC_STR_LIT("; ");
    all[k++] = imsec_str_c(num);
    all[k++] = IMSEC_STR_LIT(" similar lines held back");
  }
  (void)imsec_out_logv(out, IMSEC_LOG_WARN, all, k);
}

/* A REGISTER refused for what it claims (an unknown subscriber, an IMPU
 * outside its IMPI's set, a Digest uri that is not the Request-URI): a
 * failure of its source, so a source probing names meets
 * source_failure_limit (then 503 with Retry-After) as one guessing
 * responses does; else 403 (TS 24.229 §5.4.1.2.1), the line within the
 * log budget. `status`/`reason`: the answer under the limit. */
static void refuse_claim(imsec_scscf *s, uint64_t flow, imsec_str src,
                         unsigned status, const char *reason, imsec_str *parts,
                         size_t n, imsec_time_ms now, imsec_out *out) {
  limit_entry *e = imsec_limit_get(&s->lim_src, src, now, 1);
  if (e && e->failures >= s->cfg.source_failure_limit) {
    limit_warn(out, e, LIMIT_LOGGED_FAILURES, "REGISTER from ", src,
               ": too many failed requests from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, e, now), out);
    return;
  }
  if (e && e->failures < UINT32_MAX)
    e->failures++;
  budget_logv(s, now, out, parts, n);
  respond(s, flow, status, reason, out);
}

/* A new challenge costs a vector: an SQN step and a disk write (TS 33.102
 * Annex C). Count it for the IMPI from this source, the IMPI over every
 * source and the source; over any limit the REGISTER gets 503 with
 * Retry-After. The IMPI's own limit holds per source, so a stranger who
 * uses it up does not shut the subscriber out; the IMPI's total is
 * IMPI_ALL_SOURCES times it. Returns 1 when refused. */
static int limits_challenge(imsec_scscf *s, uint64_t flow, imsec_str impi,
                            imsec_str src, imsec_time_ms now, imsec_out *out) {
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 1);
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 1);
  limit_entry *ep = pair_get(s, impi, src, now, 1);
  if (!ei || !es || !ep) {
    limit_full(s, flow, now, out);
    return 1;
  }
  if (ep->challenges >= s->cfg.impi_challenge_limit) {
    limit_warn(out, ep, LIMIT_LOGGED_CHALLENGES, "REGISTER ", impi,
               ": too many new challenges for this IMPI from this source: "
               "503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_pair, ep, now), out);
    return 1;
  }
  if (ei->challenges >= all_sources(s->cfg.impi_challenge_limit)) {
    limit_warn(out, ei, LIMIT_LOGGED_CHALLENGES, "REGISTER ", impi,
               ": too many new challenges for this IMPI: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_impi, ei, now), out);
    return 1;
  }
  if (es->challenges >= s->cfg.source_challenge_limit) {
    limit_warn(out, es, LIMIT_LOGGED_CHALLENGES, "REGISTER from ", src,
               ": too many new challenges from this source: 503");
    respond_retry(s, flow, imsec_limit_left_s(&s->lim_src, es, now), out);
    return 1;
  }
  ei->challenges++;
  es->challenges++;
  ep->challenges++;
  return 0;
}

static void drop_challenges_of(imsec_scscf *s, imsec_str impi, imsec_out *out) {
  size_t i = 0;
  while (i < s->nch) {
    if (imsec_str_eq(imsec_str_c(s->ch[i]->impi), impi))
      drop_challenge(s, i, out);
    else
      i++;
  }
}

static void log_lock(imsec_scscf *s, imsec_str impi, imsec_str src,
                     uint32_t failures, imsec_out *out) {
  char n[24], secs[24];
  dec_u64(failures, n);
  dec_u64((uint64_t)(s->cfg.lockout_ms + 999) / 1000, secs);
  (void)imsec_out_logv(
      out, IMSEC_LOG_WARN,
      (imsec_str[]){IMSEC_STR_LIT("REGISTER "), impi, IMSEC_STR_LIT(": "),
                    imsec_str_c(n),
                    IMSEC_STR_LIT(" failed responses: IMPI locked for "),
                    imsec_str_c(secs),
                    src.p ? IMSEC_STR_LIT(" s for requests from ")
                          : IMSEC_STR_LIT(" s from every source"),
                    src.p ? src : IMSEC_STR_LIT("")},
      8);
}

/* A failed response (wrong RES, a refused network, a forged AUTS, a
 * replay, a nonce of another IMPI): counted for the IMPI from this source,
 * the IMPI over every source, and the source. TS 33.203 §6.1.2.1 leaves
 * the policy to the network. The failure that reaches the IMPI's limit
 * from one source locks the IMPI for lockout_ms for requests from that
 * source only: anyone can send wrong responses for any IMPI, so a lock for
 * everyone would be a tool to shut a subscriber out, and an AKA response
 * cannot be guessed anyway (the lock spares the HSS more than it guards
 * the secret). Failures from every source together lock the IMPI
 * everywhere only at IMPI_ALL_SOURCES times the limit. */
static void limits_failure(imsec_scscf *s, imsec_str impi, imsec_str src,
                           imsec_time_ms now, imsec_out *out) {
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 1);
  if (es && es->failures < UINT32_MAX)
    es->failures++;
  limit_entry *ep = pair_get(s, impi, src, now, 1);
  if (ep && ep->failures < UINT32_MAX)
    ep->failures++;
  if (ep && ep->failures >= s->cfg.impi_failure_limit && !ep->locked_until) {
    /* The lock is the penalty; once it ends the pair starts afresh. The
     * IMPI's pending challenge stays: its owner may hold it. */
    ep->locked_until = now + s->cfg.lockout_ms;
    ep->failures = 0;
    ep->logged |= LIMIT_LOGGED_LOCKED;
    log_lock(s, impi, src, s->cfg.impi_failure_limit, out);
  }
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 1);
  if (!ei)
    return;
  if (ei->failures < UINT32_MAX)
    ei->failures++;
  uint32_t all = all_sources(s->cfg.impi_failure_limit);
  if (ei->failures < all || ei->locked_until)
    return;
  ei->locked_until = now + s->cfg.lockout_ms;
  ei->failures = 0;
  ei->logged |= LIMIT_LOGGED_LOCKED;
  log_lock(s, impi, IMSEC_STR_NULL, all, out);
  /* A locked IMPI holds no vectors: nothing could use them. */
  drop_challenges_of(s, impi, out);
}

/* TS 33.203 §6.1, TS 33.102 Annex C: a REGISTER without a valid response
 * while a challenge of its IMPI is pending within its lifetime gets that
 * same challenge again: no new vector, no SQN step, no disk write. The
 * lifetime is not extended. Returns 1 when answered so. */
static int reuse_challenge(imsec_scscf *s, uint64_t flow, const char *impi,
                           int stale, imsec_time_ms now, imsec_out *out) {
  const challenge *best = NULL;
  for (size_t i = 0; i < s->nch; i++) {
    const challenge *c = s->ch[i];
    if (c->expires > now &&
        imsec_str_eq(imsec_str_c(c->impi), imsec_str_c(impi)) &&
        (!best || c->expires > best->expires))
      best = c;
  }
  if (!best || send_challenge(s, flow, best, stale, out) < 0)
    return 0;
  (void)imsec_out_log(out, IMSEC_LOG_DEBUG, "REGISTER ", impi,
                      ": 401, the pending challenge again", NULL);
  return 1;
}

/* A new challenge was counted but the HSS store was busy: none was made,
 * and the request runs again, so it is not counted twice. */
static void limits_unchallenge(imsec_scscf *s, imsec_str impi, imsec_str src,
                               imsec_time_ms now) {
  limit_entry *ei = imsec_limit_get(&s->lim_impi, impi, now, 0);
  limit_entry *es = imsec_limit_get(&s->lim_src, src, now, 0);
  limit_entry *ep = pair_get(s, impi, src, now, 0);
  if (ep && ep->challenges)
    ep->challenges--;
  if (ei && ei->challenges)
    ei->challenges--;
  if (es && es->challenges)
    es->challenges--;
}

/* A new challenge within the limits. Returns as challenge_ue. */
static int challenge_new(imsec_scscf *s, uint64_t flow, const char *impi,
                         imsec_str src, int stale, imsec_time_ms now,
                         imsec_out *out) {
  if (limits_challenge(s, flow, imsec_str_c(impi), src, now, out))
    return 0;
  int rv = challenge_ue(s, flow, impi, stale, now, out);
  if (waits(rv))
    limits_unchallenge(s, imsec_str_c(impi), src, now);
  return rv;
}

/* The pending challenge again, else a new one within the limits. Returns
 * as challenge_ue. */
static int challenge_again(imsec_scscf *s, uint64_t flow, const char *impi,
                           imsec_str src, int stale, imsec_time_ms now,
                           imsec_out *out) {
  if (reuse_challenge(s, flow, impi, stale, now, out))
    return 0;
  return challenge_new(s, flow, impi, src, stale, now, out);
}

/* RFC 7616 §3.4.6, RFC 3261 §22.4: the Digest uri names the resource the
 * request is for. Compared with the Request-URI as SIP URIs (RFC 3261
 * §19.1.4: host and parameters case-insensitively, escapes decoded), not
 * byte by byte, so a proxy that re-writes case or escaping between the UE
 * and here does not break authentication. Returns 1 when they match. */
static int digest_uri_matches(const imsec_scscf *s, const creds *c) {
  char text[1024];
  imsec_sip_uri du, ru;
  if (!(c->p.present & IMSEC_DIGEST_P_URI) ||
      imsec_digest_unquote(c->p.uri, text, sizeof(text)) <= 0 ||
      imsec_sip_uri_parse(imsec_str_c(text), 16, &du) < 0 ||
      imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0)
    return 0;
  return imsec_sip_uri_eq(&du, &ru);
}

/* A Contact's expiry: its parameter, else Expires, else the default
 * (RFC 3261 §10.3 step 6). */
static uint32_t contact_expires(const imsec_scscf *s, const imsec_sip_addr *a,
                                int has_hdr, uint32_t hdr) {
  if (a->expires >= 0)
    return a->expires > UINT32_MAX ? UINT32_MAX : (uint32_t)a->expires;
  return has_hdr ? hdr : s->cfg.expires_default;
}

static int build_ok(imsec_scscf *s, uint64_t flow, reg *r, const char *impi,
                    imsec_time_ms now, imsec_out *out);
static void persist_reg(imsec_scscf *s, uint64_t flow, const char *impi,
                        const reg *r, imsec_reg_record *before, int had,
                        imsec_time_ms now, imsec_out *out);
static int reg_to_record(const imsec_scscf *s, const reg *r, imsec_time_ms now,
                         imsec_reg_record *out);

#define SR_CAP 400

/* The Service-Route value (RFC 3608): our address with user "orig", NUL
 * terminated in sr[SR_CAP]. Returns its length or a negative code. */
static int service_route(const imsec_scscf *s, char *sr) {
  int v6 = imsec_str_find(imsec_str_c(s->self_host), ':') >= 0;
  char port[8];
  dec_u64(s->cfg.self.port, port);
  imsec_sip_builder sb;
  imsec_sip_build_init(&sb, sr, SR_CAP - 1);
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT("<sip:orig@"));
  if (v6)
    imsec_sip_build_raw(&sb, IMSEC_STR_LIT("["));
  imsec_sip_build_raw(&sb, imsec_str_c(s->self_host));
  if (v6)
    imsec_sip_build_raw(&sb, IMSEC_STR_LIT("]"));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(":"));
  imsec_sip_build_raw(&sb, imsec_str_c(port));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(";transport="));
  imsec_sip_build_raw(&sb, imsec_str_c(imsec_tp_lower(s->cfg.self.tp)));
  imsec_sip_build_raw(&sb, IMSEC_STR_LIT(";lr>"));
  if (sb.err)
    return IMSEC_ERR_NOBUF;
  sr[sb.len] = 0;
  return (int)sb.len;
}

/* The registrar proper, after authentication (RFC 3261 §10.3, RFC 3327,
 * RFC 3608, RFC 5626 §6). */
static void registrar(imsec_scscf *s, uint64_t flow, const imsec_hss_sub *sub,
                      imsec_time_ms now, imsec_out *out) {
  uint32_t hdr_exp = 0;
  int has_hdr = imsec_sip_get_expires(&s->m, &hdr_exp) == 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int rv, star = 0;
  size_t nct = 0;
  /* Pass 1: validate. */
  while ((rv = imsec_sip_addr_next(&s->m, IMSEC_SIP_H_CONTACT, &it, &a)) == 1) {
    nct++;
    if (a.star) {
      star = 1;
      continue;
    }
    uint32_t e = contact_expires(s, &a, has_hdr, hdr_exp);
    if (e && e < s->cfg.expires_min) {
      imsec_sip_builder b;
      start_response(s, &b, 423, "Interval Too Brief");
      imsec_sip_build_header_uint(&b, IMSEC_STR_LIT("Min-Expires"),
                                  s->cfg.expires_min);
      finish_send(s, &b, flow, out);
      return;
    }
  }
  if (rv < 0) {
    respond(s, flow, 400, "Bad Contact", out);
    return;
  }
  size_t ridx = 0;
  reg *r = find_reg_impi(s, imsec_str_c(sub->impi), &ridx);
  if (star) {
    /* RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0. */
    if (nct != 1 || !has_hdr || hdr_exp != 0) {
      respond(s, flow, 400, "Invalid Contact *", out);
      return;
    }
    if (r) {
      imsec_reg_record before;
      int had = reg_to_record(s, r, now, &before) == 0;
      remove_reg(s, ridx, out);
      persist_reg(s, flow, sub->impi, NULL, had ? &before : NULL, had, now,
                  out);
    }
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": de-registered (Contact: *)", NULL);
    (void)build_ok(s, flow, NULL, sub->impi, now, out);
    return;
  }
  /* The Path of this REGISTER (RFC 3327 §5.3), stored with each contact. */
  char *path = NULL;
  {
    imsec_sip_builder pb;
    char pbuf[4096];
    imsec_sip_build_init(&pb, pbuf, sizeof(pbuf));
    imsec_sip_iter pit = IMSEC_SIP_ITER_INIT;
    imsec_str v;
    int first = 1;
    while ((rv = imsec_sip_value_next(&s->m, IMSEC_SIP_H_PATH, &pit, &v,
                                      NULL)) == 1) {
      if (!first)
        imsec_sip_build_raw(&pb, IMSEC_STR_LIT(", "));
      imsec_sip_build_raw(&pb, v);
      first = 0;
    }
    if (rv < 0 || pb.err) {
      respond(s, flow, 400, "Bad Path", out);
      return;
    }
    if (!first) {
      path = dup_str(imsec_str_make(pbuf, pb.len));
      if (!path) {
        respond(s, flow, 500, "Server Internal Error", out);
        return;
      }
    }
  }
  /* What to restore when the change cannot be made durable. */
  imsec_reg_record before;
  int had = r && nct && reg_to_record(s, r, now, &before) == 0;
  if (!r && nct) {
    if (s->nregs >= s->cfg.max_regs ||
        grow((void **)&s->regs, &s->capregs, s->nregs, sizeof(*s->regs)) < 0 ||
        !(r = calloc(1, sizeof(*r)))) {
      free(path);
      respond(s, flow, 503, "Service Unavailable", out);
      return;
    }
    r->impi = dup_str(imsec_str_c(sub->impi));
    r->impus = calloc(sub->n_impus, sizeof(char *));
    int ok = r->impi && r->impus;
    for (size_t i = 0; ok && i < sub->n_impus; i++) {
      r->impus[i] = dup_str(imsec_str_c(sub->impus[i]));
      ok = r->impus[i] != NULL;
      r->n_impus = i + 1;
    }
    if (!ok) {
      reg_free(r);
      free(path);
      respond(s, flow, 500, "Server Internal Error", out);
      return;
    }
    ridx = s->nregs;
    s->regs[s->nregs++] = r;
  }
  /* Pass 2: apply. */
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  while (r && imsec_sip_addr_next(&s->m, IMSEC_SIP_H_CONTACT, &it, &a) == 1) {
    uint32_t e = contact_expires(s, &a, has_hdr, hdr_exp);
    if (e > s->cfg.expires_max)
      e = s->cfg.expires_max;
    long found = -1;
    for (size_t i = 0; i < r->n && found < 0; i++) {
      contact *c = &r->c[i];
      /* RFC 5626 §6: the same instance and reg-id replace a binding;
       * otherwise the same URI does (RFC 3261 §10.3 step 7). */
      if (a.instance.len && c->instance)
        found = (imsec_str_eq(a.instance, imsec_str_c(c->instance)) &&
                 a.reg_id == c->reg_id)
                    ? (long)i
                    : -1;
      else if (imsec_str_eq(a.uri, imsec_str_c(c->uri)))
        found = (long)i;
    }
    if (e == 0) {
      if (found >= 0)
        remove_contact(r, (size_t)found, out);
      continue;
    }
    contact nc = {0};
    nc.uri = dup_str(a.uri);
    nc.path = path ? dup_str(imsec_str_c(path)) : NULL;
    nc.instance = a.instance.len ? dup_str(a.instance) : NULL;
    /* Who registered it: terminating requests must reach that peer. */
    const char *rp = tls_peer_name(s, flow);
    nc.reg_peer = rp ? dup_str(imsec_str_c(rp)) : NULL;
    if (!nc.uri || (path && !nc.path) || (a.instance.len && !nc.instance) ||
        (rp && !nc.reg_peer)) {
      contact_free(&nc);
      continue;
    }
    nc.reg_id = a.reg_id;
    nc.expires_at = now + (imsec_time_ms)e * 1000;
    nc.order = ++s->order;
    if (found >= 0) {
      nc.timer = r->c[found].timer;
      contact_free(&r->c[found]);
      r->c[found] = nc;
    } else {
      if (r->n >= s->cfg.max_contacts) {
        /* Full: the oldest binding gives way to the newest. */
        size_t old = 0;
        for (size_t i = 1; i < r->n; i++)
          if (r->c[i].order < r->c[old].order)
            old = i;
        remove_contact(r, old, out);
      }
      contact *arr = realloc(r->c, (r->n + 1) * sizeof(*arr));
      if (!arr) {
        contact_free(&nc);
        continue;
      }
      r->c = arr;
      nc.timer = ++s->next_id;
      r->c[r->n++] = nc;
    }
    (void)imsec_out_timer(out, nc.timer, nc.expires_at);
  }
  free(path);
  int gone = r && r->n == 0;
  if (gone) {
    remove_reg(s, ridx, out);
    r = NULL;
  }
  /* DESIGN.md §2: the 200 leaves only once the change is durable. */
  if (nct && (r || had))
    persist_reg(s, flow, sub->impi, r, had ? &before : NULL, had, now, out);
  if (gone) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": de-registered", NULL);
  } else if (r) {
    char n[24];
    dec_u64(r->n, n);
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                        ": 200 registered, ", n, " contact(s)", NULL);
  }
  (void)build_ok(s, flow, r, sub->impi, now, out);
}

/* 200 OK to a REGISTER (TS 24.229 §5.4.1.2.2): the current contacts, the
 * Path echoed, Service-Route and P-Associated-URI. */
static int build_ok(imsec_scscf *s, uint64_t flow, reg *r, const char *impi,
                    imsec_time_ms now, imsec_out *out) {
  (void)impi;
  imsec_sip_builder b;
  start_response(s, &b, 200, "OK");
  for (size_t i = 0; r && i < r->n; i++) {
    contact *c = &r->c[i];
    imsec_time_ms left = (c->expires_at - now + 999) / 1000;
    char num[24];
    dec_u64(left > 0 ? (uint64_t)left : 0, num);
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("Contact: <"));
    imsec_sip_build_raw(&b, imsec_str_c(c->uri));
    imsec_sip_build_raw(&b, IMSEC_STR_LIT(">;expires="));
    imsec_sip_build_raw(&b, imsec_str_c(num));
    if (c->instance) {
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(";+sip.instance=\""));
      imsec_sip_build_raw(&b, imsec_str_c(c->instance));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT("\""));
    }
    if (c->reg_id >= 0) {
      dec_u64((uint64_t)c->reg_id, num);
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(";reg-id="));
      imsec_sip_build_raw(&b, imsec_str_c(num));
    }
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\r\n"));
  }
  /* RFC 3327 §5.3: the registrar echoes the Path it stored. */
  for (const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_PATH);
       h && r; h = imsec_sip_hdr_next(&s->m, h))
    imsec_sip_build_header(&b, IMSEC_STR_LIT("Path"), h->value);
  if (r) {
    /* RFC 3608: requests of the UE come back through us. */
    char sr[SR_CAP];
    int srn = service_route(s, sr);
    if (srn > 0)
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Service-Route"),
                             imsec_str_make(sr, (size_t)srn));
    /* RFC 3455 §4.1: the implicitly registered set. */
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("P-Associated-URI: "));
    for (size_t i = 0; i < r->n_impus; i++) {
      if (i)
        imsec_sip_build_raw(&b, IMSEC_STR_LIT(", "));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT("<"));
      imsec_sip_build_raw(&b, imsec_str_c(r->impus[i]));
      imsec_sip_build_raw(&b, IMSEC_STR_LIT(">"));
    }
    imsec_sip_build_raw(&b, IMSEC_STR_LIT("\r\n"));
  }
  finish_send(s, &b, flow, out);
  return 0;
}

static int impu_in_set(const imsec_hss_sub *sub, imsec_str impu) {
  imsec_sip_uri u;
  if (imsec_sip_uri_parse(impu, 16, &u) < 0)
    return 0;
  for (size_t i = 0; i < sub->n_impus; i++)
    if (impu_match_parsed(&u, imsec_str_c(sub->impus[i])))
      return 1;
  return 0;
}

/* TS 24.229 §5.4.1.2.1 with TS 33.203 Annex X: a REGISTER that answers a
 * challenge arrived over a UE's TLS flow only if its P-CSCF marked the
 * Authorization integrity-protected "tls-pending" or "tls-yes" (the P-CSCF
 * replaces whatever a UE wrote there). */
static int integrity_protected_tls(const imsec_digest_params *p) {
  if (!(p->present & IMSEC_DIGEST_P_INTEGRITY_PROTECTED))
    return 0;
  char v[16];
  if (imsec_digest_unquote(p->integrity_protected, v, sizeof(v)) < 0)
    return 0;
  /* no secret: a public mark the P-CSCF writes in clear */
  return strcmp(v, "tls-pending") == 0 || strcmp(v, "tls-yes") == 0;
}

static void do_register(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                        imsec_out *out) {
  if (!s->retry && park_waiting(s, flow)) {
    /* A UE's REGISTERs keep their order: this one waits behind the
     * requests of its flow that wait for the HSS store. */
    park_busy(s, flow, NULL, now, out);
    return;
  }
  int lw = wait_load(s, now);
  if (lw == IMSEC_ERR_AGAIN) {
    park_busy(s, flow, NULL, now, out);
    return;
  }
  if (lw < 0) {
    store_unavailable(s, NULL, lw, now, out);
    respond(s, flow, 500, "Server Internal Error", out);
    return;
  }
  imsec_sip_uri ru;
  if (imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0 ||
      !imsec_str_ieq_c(ru.host, s->domain)) {
    (void)imsec_out_logv(out, IMSEC_LOG_WARN,
                         (imsec_str[]){IMSEC_STR_LIT("REGISTER for "),
                                       s->m.ruri,
                                       IMSEC_STR_LIT(": domain not served")},
                         3);
    respond(s, flow, 403, "Domain not served", out);
    return;
  }
  const imsec_sip_addr *to;
  if (imsec_sip_get_to(&s->m, &to) < 0) {
    respond(s, flow, 400, "Bad To", out);
    return;
  }
  creds *c = malloc(sizeof(*c));
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!c || !sub) {
    respond(s, flow, 500, "Server Internal Error", out);
    goto done;
  }
  if (get_creds(s, c) < 0) {
    respond(s, flow, 400, "Bad Authorization", out);
    goto done;
  }
  imsec_str src = request_source(s);
  if (c->present && !digest_uri_matches(s, c)) {
    refuse_claim(s, flow, src, 400, "Digest uri does not match the Request-URI",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(c->username),
                               IMSEC_STR_LIT(": Digest uri is not "
                                             "the Request-URI: 400")},
                 3, now, out);
    goto done;
  }
  /* The IMPI: the Authorization username, or (a UA without one) the
   * subscriber that owns the IMPU (TS 24.229 §5.4.1.2.1). */
  int rv = c->present
               ? hss_sub(s, IMSEC_SVC_HSS_SUB, imsec_str_c(c->username), sub,
                         now, out)
               : hss_sub(s, IMSEC_SVC_HSS_SUB_IMPU, to->uri, sub, now, out);
  if (waits(rv)) {
    park_busy(s, flow, c->present ? c->username : "(by IMPU)", now, out);
    goto done;
  }
  if (rv < 0 && rv != IMSEC_ERR_NOTFOUND) {
    store_unavailable(s, c->present ? c->username : "(by IMPU)", rv, now, out);
    respond(s, flow, 500, "Server Internal Error", out);
    goto done;
  }
  if (rv < 0) {
    refuse_claim(s, flow, src, 403, "Forbidden",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(c->username), IMSEC_STR_LIT(" / "),
                               to->uri,
                               IMSEC_STR_LIT(": unknown subscriber: 403")},
                 5, now, out);
    goto done;
  }
  if (!impu_in_set(sub, to->uri)) {
    refuse_claim(s, flow, src, 403, "Forbidden",
                 (imsec_str[]){IMSEC_STR_LIT("REGISTER "),
                               imsec_str_c(sub->impi), IMSEC_STR_LIT(": IMPU "),
                               to->uri, IMSEC_STR_LIT(" not in its set: 403")},
                 5, now, out);
    goto done;
  }
  imsec_str impi = imsec_str_c(sub->impi);
  if (limits_refuse(s, flow, impi, src, now, out))
    goto done;
  if (!c->present || c->nonce[0] == 0) {
    if (waits(challenge_again(s, flow, sub->impi, src, 0, now, out)))
      park_busy(s, flow, sub->impi, now, out);
    goto done;
  }
  if (!integrity_protected_tls(&c->p)) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": no integrity-protected=\"tls-pending\" or "
                        "\"tls-yes\" from the P-CSCF: 403",
                        NULL);
    respond(s, flow, 403, "Forbidden", out);
    goto done;
  }
  long ci = find_challenge(s, imsec_str_c(c->nonce));
  if (ci >= 0 && s->ch[ci]->expires <= now) {
    /* TS 33.203 §6.1.2.3: the lifetime passed; the vector is gone. */
    drop_challenge(s, (size_t)ci, out);
    ci = -1;
  }
  if (ci < 0) {
    /* Unknown, used or expired nonce: the pending challenge or a fresh
     * one (RFC 7616 §3.3 stale) rather than a failure: the UE may simply
     * be late. */
    /* After a resynchronisation (below) the fresh challenge is not a
     * stale one. */
    int stale = !(s->retry && s->retry->resynced);
    if (waits(challenge_again(s, flow, sub->impi, src, stale, now, out)))
      park_busy(s, flow, sub->impi, now, out);
    goto done;
  }
  challenge *ch = s->ch[ci];
  if (!imsec_str_eq(imsec_str_c(ch->impi), imsec_str_c(sub->impi))) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": nonce of another subscriber: 403", NULL);
    limits_failure(s, impi, src, now, out);
    respond(s, flow, 403, "Forbidden", out);
    goto done;
  }
  uint32_t nc_before = ch->nc;
  if (c->p.present & IMSEC_DIGEST_P_QOP) {
    rv = imsec_digest_nc_check(c->p.nc, &ch->nc);
    if (rv < 0) {
      /* RFC 7616 §3.4: a repeated nc is a replay. */
      (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                          ": replayed nc: new challenge", NULL);
      drop_challenge(s, (size_t)ci, out);
      limits_failure(s, impi, src, now, out);
      if (limits_refuse(s, flow, impi, src, now, out))
        goto done;
      /* Busy: run again, this nonce is gone by then (a stale 401). */
      if (waits(challenge_again(s, flow, sub->impi, src, 0, now, out)))
        park_busy(s, flow, sub->impi, now, out);
      goto done;
    }
  }
  if (c->p.response.len == 0 && !(c->p.present & IMSEC_DIGEST_P_AUTS)) {
    /* TS 33.203 §6.1.2.2, TS 24.229 §5.4.1.2.3: the UE could not
     * authenticate the network (MAC failure). */
    drop_challenge(s, (size_t)ci, out);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": UE reports network authentication failure: 403",
                        NULL);
    limits_failure(s, impi, src, now, out);
    respond(s, flow, 403, "Forbidden", out);
    goto done;
  }
  uint8_t auts[IMSEC_AKA_AUTS_LEN];
  uint8_t rand[IMSEC_AKA_RAND_LEN];
  memcpy(rand, ch->v.rand, sizeof(rand));
  rv = imsec_digest_aka_verify(s->crypto, &c->p, ch->alg, &ch->v,
                               IMSEC_STR_LIT("REGISTER"),
                               (imsec_bytes){NULL, 0}, auts);
  if (rv == IMSEC_ERR_SYNC) {
    /* TS 33.203 §6.1.3: resync first. A busy store saved nothing: the
     * challenge stays as it was (its nc too) and the same request runs
     * again later. */
    int rs = hss_resync(s, sub->impi, rand, auts, now, out);
    if (waits(rs)) {
      ch->nc = nc_before;
      park_busy(s, flow, sub->impi, now, out);
      goto wipe;
    }
    drop_challenge(s, (size_t)ci, out);
    if (rs == 0) {
      (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", sub->impi,
                          ": sync failure, HSS resynchronised", NULL);
      /* A new vector is right here: the pending ones carry SQNs from
       * before the resync. Busy now: the request runs again and, its
       * nonce gone, gets a fresh (stale) challenge from the new SQN. */
      drop_challenges_of(s, impi, out);
      if (s->retry)
        s->retry->resynced = 1;
      if (waits(challenge_new(s, flow, sub->impi, src, 0, now, out)))
        park_busy(s, flow, sub->impi, now, out);
    } else if (rs == IMSEC_ERR_TIMEOUT || rs == IMSEC_ERR_IO) {
      store_unavailable(s, sub->impi, rs, now, out);
      respond(s, flow, 500, "Server Internal Error", out);
    } else {
      log_err(out, IMSEC_LOG_WARN, "REGISTER: resynchronisation failed", rs);
      limits_failure(s, impi, src, now, out);
      respond(s, flow, 403, "Forbidden", out);
    }
    goto wipe;
  }
  /* One answer per vector, whatever it was: the nonce is used up. */
  drop_challenge(s, (size_t)ci, out);
  if (rv == 0) {
    registrar(s, flow, sub, now, out);
  } else {
    /* TS 33.203 §6.1.2.1: user authentication failure. */
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "REGISTER ", sub->impi,
                        ": authentication failed (", imsec_strerror(rv),
                        "): 403", NULL);
    limits_failure(s, impi, src, now, out);
    respond(s, flow, 403, "Forbidden", out);
  }
wipe:
  imsec_wipe(auts, sizeof(auts));
done:
  if (c) {
    imsec_wipe(c, sizeof(*c));
    free(c);
  }
  free(sub);
}

/* ------------------------------------------------------------ routing */

/* Where the Path's first hop (or the contact itself) is. */
static int hop_addr(imsec_str uri_text, imsec_addr *a) {
  imsec_sip_uri u;
  if (imsec_sip_uri_parse(uri_text, 32, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS))
    return IMSEC_ERR_PARSE;
  memset(a, 0, sizeof(*a));
  a->tp = u.scheme == IMSEC_SIP_SCHEME_SIPS ? IMSEC_TP_TLS : IMSEC_TP_TCP;
  if (u.transport.len && imsec_tp_parse(u.transport, &a->tp) < 0)
    return IMSEC_ERR_PARSE;
  imsec_str h = bare_host(u.maddr.len ? u.maddr : u.host);
  if (!h.len || imsec_str_copy(h, a->host, sizeof(a->host)) < 0)
    return IMSEC_ERR_PARSE;
  a->port = u.has_port ? u.port : (a->tp == IMSEC_TP_TLS ? 5061 : 5060);
  return 0;
}

/* Where a request for contact `c` goes: its Path's first hop, else the
 * contact itself. Returns 0, or the status for that branch. */
static unsigned contact_hop(const contact *c, imsec_addr *to) {
  imsec_str first_hop = imsec_str_c(c->uri);
  if (c->path) {
    imsec_sip_addr pa;
    imsec_str pv = imsec_str_c(c->path);
    /* The first Path value's URI. */
    size_t depth = 0, end = 0;
    int inq = 0;
    for (end = 0; end < pv.len; end++) {
      char ch = pv.p[end];
      if (ch == '"')
        inq = !inq;
      else if (!inq && ch == '<')
        depth++;
      else if (!inq && ch == '>' && depth)
        depth--;
      else if (!inq && !depth && ch == ',')
        break;
    }
    if (imsec_sip_addr_parse(imsec_str_trim(imsec_str_make(pv.p, end)), 16,
                             &pa) < 0)
      return 500;
    first_hop = pa.uri;
  }
  return hop_addr(first_hop, to) < 0 ? 480 : 0;
}

static void do_request(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                       imsec_out *out) {
  imsec_sip_method meth = s->m.method_id;
  if (meth == IMSEC_SIP_M_ACK)
    return;
  /* Loose routing (RFC 3261 §16.4): pop the Route entries naming us. */
  int orig = 0;
  for (;;) {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_sip_addr ra;
    int rv = imsec_sip_addr_next(&s->m, IMSEC_SIP_H_ROUTE, &it, &ra);
    if (rv == 0)
      break;
    imsec_sip_uri u;
    if (rv < 0 || imsec_sip_uri_parse(ra.uri, 16, &u) < 0) {
      respond(s, flow, 400, "Bad Route", out);
      return;
    }
    if (!is_self_uri(s, &u, 1)) {
      respond(s, flow, 403, "Route not served", out);
      return;
    }
    if (imsec_str_eq(u.user, IMSEC_STR_LIT("orig")))
      orig = 1;
    long idx = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_ROUTE);
    if (it.rest.p && it.rest.len) {
      /* Several values on one line: keep the rest. */
      imsec_str rest = imsec_str_trim(it.rest);
      if (rest.len && rest.p[0] == ',')
        rest = imsec_str_trim(imsec_str_make(rest.p + 1, rest.len - 1));
      if (imsec_sip_msg_replace(&s->m, (size_t)idx, rest) < 0)
        return;
    } else if (imsec_sip_msg_remove(&s->m, (size_t)idx) < 0) {
      return;
    }
  }
  imsec_sip_uri ru;
  if (imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0) {
    respond(s, flow, 416, "Unsupported URI Scheme", out);
    return;
  }
  if (is_self_uri(s, &ru, 0)) {
    if (meth == IMSEC_SIP_M_OPTIONS) {
      imsec_sip_builder b;
      start_response(s, &b, 200, "OK");
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Allow"),
                             IMSEC_STR_LIT("REGISTER, MESSAGE, OPTIONS"));
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Supported"),
                             IMSEC_STR_LIT("path, outbound"));
      finish_send(s, &b, flow, out);
    } else {
      respond(s, flow, 404, "Not Found", out);
    }
    return;
  }
  if (meth != IMSEC_SIP_M_MESSAGE && meth != IMSEC_SIP_M_OPTIONS) {
    imsec_sip_builder b;
    start_response(s, &b, 405, "Method Not Allowed");
    imsec_sip_build_header(&b, IMSEC_STR_LIT("Allow"),
                           IMSEC_STR_LIT("REGISTER, MESSAGE, OPTIONS"));
    finish_send(s, &b, flow, out);
    return;
  }
  /* The registrations are still loading (on_start): wait for them. */
  int lw = wait_load(s, now);
  if (lw == IMSEC_ERR_AGAIN) {
    park_busy(s, flow, NULL, now, out);
    return;
  }
  if (lw < 0) {
    store_unavailable(s, NULL, lw, now, out);
    respond(s, flow, 500, "Server Internal Error", out);
    return;
  }
  if (orig) {
    /* TS 24.229 §5.4.3.2: the originating user (asserted by the P-CSCF)
     * must be registered here. */
    imsec_sip_iter pit = IMSEC_SIP_ITER_INIT;
    imsec_sip_addr pai;
    int known = 0;
    while (!known && imsec_sip_addr_next(&s->m, IMSEC_SIP_H_P_ASSERTED_IDENTITY,
                                         &pit, &pai) == 1)
      known = find_reg_impu(s, pai.uri) != NULL;
    if (!known) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN,
                          "originating request from an unregistered "
                          "identity: 403",
                          NULL);
      respond(s, flow, 403, "Originating user not registered", out);
      return;
    }
  }
  /* Terminating (TS 24.229 §5.4.3.3): every live contact is a target
   * (RFC 3261 §16.5); without q-values they are all tried in parallel. */
  reg *r = find_reg_impu(s, s->m.ruri);
  size_t live = 0;
  for (size_t i = 0; r && i < r->n; i++)
    if (r->c[i].expires_at > now)
      live++;
  if (!live) {
    imsec_hss_sub *sub = malloc(sizeof(*sub));
    int lrv = sub ? hss_sub(s, IMSEC_SVC_HSS_SUB_IMPU, s->m.ruri, sub, now, out)
                  : IMSEC_ERR_NOMEM;
    free(sub);
    if (waits(lrv)) {
      park_busy(s, flow, NULL, now, out);
      return;
    }
    if (lrv == IMSEC_ERR_TIMEOUT || lrv == IMSEC_ERR_IO) {
      store_unavailable(s, NULL, lrv, now, out);
      respond(s, flow, 500, "Server Internal Error", out);
      return;
    }
    int known = lrv == 0;
    respond(s, flow, known ? 480 : 404,
            known ? "Temporarily Unavailable" : "Not Found", out);
    return;
  }
  uint32_t mf = 70;
  int rv = imsec_sip_get_max_forwards(&s->m, &mf);
  if (rv == 0 && mf == 0) {
    respond(s, flow, 483, "Too Many Hops", out);
    return;
  }
  if (s->ntx >= s->cfg.max_txns) {
    /* Bounded memory: no more response contexts. */
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "too many pending forked requests: 503", NULL);
    respond(s, flow, 503, "Service Unavailable", out);
    return;
  }
  txn *t = NULL;
  if (grow((void **)&s->tx, &s->captx, s->ntx, sizeof(*s->tx)) < 0 ||
      !(t = calloc(1, sizeof(*t) + live * sizeof(branch))) ||
      make_stub(&s->m, t) < 0) {
    if (t)
      txn_free(t);
    respond(s, flow, 500, "Server Internal Error", out);
    return;
  }
  t->id = ++s->next_id;
  t->up_flow = flow;
  t->n = live;
  s->tx[s->ntx++] = t;
  /* Edit once for every branch (RFC 3261 §16.6 step 3). */
  char mfs[16];
  dec_u64(rv == 0 ? mf - 1 : 70, mfs);
  long mfi = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_MAX_FORWARDS);
  int ok = mfi >= 0 ? imsec_sip_msg_replace(&s->m, (size_t)mfi,
                                            imsec_str_c(mfs)) == 0
                    : imsec_sip_msg_insert(&s->m, s->m.nhdrs,
                                           IMSEC_STR_LIT("Max-Forwards"),
                                           imsec_str_c(mfs)) == 0;
  char tid[20], port[8];
  hex_u64(t->id, tid);
  dec_u64(s->cfg.self.port, port);
  int via_pushed = 0, route_pushed = 0;
  size_t k = 0;
  for (size_t i = 0; i < r->n && k < live; i++) {
    contact *c = &r->c[i];
    if (c->expires_at <= now)
      continue;
    branch *b = &t->b[k];
    unsigned fail = 0;
    const char *why = NULL;
    imsec_addr to;
    if (!ok) {
      fail = 500;
      why = "Server Internal Error";
    } else if ((fail = contact_hop(c, &to)) != 0) {
      why = fail == 500 ? "Server Internal Error" : "Temporarily Unavailable";
    }
    /* Per branch (§16.6 steps 6, 8): Request-URI, Route, its own Via. */
    char via[400], bix[20];
    imsec_sip_builder vb;
    imsec_sip_build_init(&vb, via, sizeof(via));
    if (!fail) {
      hex_u64(k, bix);
      imsec_sip_build_raw(&vb, IMSEC_STR_LIT("SIP/2.0/"));
      imsec_sip_build_raw(&vb, imsec_str_c(imsec_tp_name(to.tp)));
      imsec_sip_build_raw(&vb, IMSEC_STR_LIT(" "));
      int v6 = imsec_str_find(imsec_str_c(s->self_host), ':') >= 0;
      if (v6)
        imsec_sip_build_raw(&vb, IMSEC_STR_LIT("["));
      imsec_sip_build_raw(&vb, imsec_str_c(s->self_host));
      if (v6)
        imsec_sip_build_raw(&vb, IMSEC_STR_LIT("]"));
      imsec_sip_build_raw(&vb, IMSEC_STR_LIT(":"));
      imsec_sip_build_raw(&vb, imsec_str_c(port));
      imsec_sip_build_raw(&vb, IMSEC_STR_LIT(";branch=" BRANCH_PREFIX));
      imsec_sip_build_raw(&vb, imsec_str_c(tid));
      imsec_sip_build_raw(&vb, IMSEC_STR_LIT("."));
      imsec_sip_build_raw(&vb, imsec_str_c(bix));
      imsec_str vv = imsec_str_make(via, vb.len);
      long vi = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_VIA);
      int e =
          vb.err || imsec_sip_msg_set_ruri(&s->m, imsec_str_c(c->uri)) < 0 ||
          (via_pushed
               ? imsec_sip_msg_replace(&s->m, (size_t)vi, vv)
               : imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Via"), vv)) < 0;
      via_pushed = via_pushed || !e;
      long ri = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_ROUTE);
      if (!e && c->path)
        e = (route_pushed
                 ? imsec_sip_msg_replace(&s->m, (size_t)ri,
                                         imsec_str_c(c->path))
                 : imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Route"),
                                          imsec_str_c(c->path))) < 0;
      else if (!e && route_pushed)
        e = imsec_sip_msg_remove(&s->m, (size_t)ri) < 0;
      if (!e)
        route_pushed = c->path != NULL;
      if (e) {
        fail = 500;
        why = "Server Internal Error";
      }
    }
    int n = 0;
    if (!fail && (n = imsec_sip_msg_serialize(&s->m, s->obuf, OBUF_CAP)) < 0) {
      fail = 513;
      why = "Message Too Large";
    }
    if (!fail) {
      (void)imsec_out_logv(out, IMSEC_LOG_INFO,
                           (imsec_str[]){s->m.method, IMSEC_STR_LIT(" to "),
                                         imsec_str_c(r->impi),
                                         IMSEC_STR_LIT(" via "),
                                         imsec_str_c(to.host)},
                           5);
      b->peer_tag = send_to(s, &to, c->reg_peer, s->obuf, (size_t)n, out);
      if (!b->peer_tag) {
        fail = 503; /* §16.9: could not send */
        why = "Service Unavailable";
      }
    }
    k++;
    if (fail) {
      b->code = fail;
      consider(t, fail, why, NULL, 0);
      continue;
    }
    /* RFC 3261 §17.1.2.2: Timer F bounds each branch. */
    b->timer = ++s->next_id;
    b->deadline = now + s->cfg.txn_timeout_ms;
    (void)imsec_out_timer(out, b->timer, b->deadline);
    t->pending++;
  }
  if (!t->pending)
    txn_done(s, t, out);
}

/* A response to a branch of a forked request: match it to its response
 * context by our Via branch (RFC 3261 §16.7 steps 1-2), pop our Via, and
 * let the context decide what goes upstream. */
static void do_response(imsec_scscf *s, imsec_out *out) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via v;
  if (imsec_sip_via_next(&s->m, &it, &v) != 1)
    return;
  imsec_str pre = IMSEC_STR_LIT(BRANCH_PREFIX);
  if (v.branch.len <= pre.len ||
      !imsec_str_eq(imsec_str_make(v.branch.p, pre.len), pre)) {
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG, "response not for us: dropped",
                        NULL);
    return;
  }
  /* BRANCH_PREFIX <txn id hex> "." <branch index hex> */
  imsec_str rest = imsec_str_make(v.branch.p + pre.len, v.branch.len - pre.len);
  uint64_t id = 0, bi = 0;
  size_t i = 0, digits = 0;
  for (int part = 0; part < 2; part++) {
    uint64_t x = 0;
    digits = 0;
    for (; i < rest.len && rest.p[i] != '.'; i++, digits++) {
      int ch = imsec_to_lower((unsigned char)rest.p[i]);
      if (!imsec_is_hexdigit(ch) || digits >= 16)
        return;
      x = x << 4 | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    if (!digits)
      return;
    if (part == 0) {
      id = x;
      if (i >= rest.len)
        return;
      i++; /* the dot */
    } else {
      bi = x;
    }
  }
  if (i != rest.len)
    return;
  txn *t = NULL;
  for (size_t j = 0; j < s->ntx && !t; j++)
    if (s->tx[j]->id == id)
      t = s->tx[j];
  if (!t || bi >= t->n) {
    /* Its context is gone: every branch ended; a late answer. */
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG,
                        "response to a finished request: absorbed", NULL);
    return;
  }
  unsigned code = s->m.status;
  if (code < 200) {
    /* RFC 4320 §4.2: no provisional response but 100 to a non-INVITE,
     * and 100 is hop by hop (RFC 3261 §16.7 step 3). */
    return;
  }
  long idx = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_VIA);
  if (idx < 0)
    return;
  if (it.rest.p && it.rest.len) {
    imsec_str r = imsec_str_trim(it.rest);
    if (r.len && r.p[0] == ',')
      r = imsec_str_trim(imsec_str_make(r.p + 1, r.len - 1));
    if (imsec_sip_msg_replace(&s->m, (size_t)idx, r) < 0)
      return;
  } else if (imsec_sip_msg_remove(&s->m, (size_t)idx) < 0) {
    return;
  }
  if (!imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_VIA))
    return;
  int n = imsec_sip_msg_serialize(&s->m, s->obuf, OBUF_CAP);
  if (n <= 0)
    return;
  if (code >= 300) {
    char num[24];
    dec_u64(code, num);
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "branch answered ", num, NULL);
  }
  (void)branch_final(s, t, (size_t)bi, code, NULL, s->obuf, (size_t)n, out);
}

/* ------------------------------------------------------------ events */

/* RFC 3325 §2.3-5: P-Asserted-Identity and Path mean something only from
 * inside the trust domain, so nothing from a peer outside it is served: a
 * request gets 403, a response is dropped; one log line names the peer.
 * Returns 1 when the flow's peer is trusted. */
static int peer_trusted(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  const flow_trust *t = trust_find(s, flow);
  if (t && t->trusted)
    return 1;
  char fl[24];
  dec_u64(flow, fl);
  const char *who = t ? t->addr : "(a flow never announced)";
  const char *name = t ? t->name : "";
  const char *why = t && t->reason ? t->reason : "not judged";
  if (!s->m.is_request) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "response from untrusted peer ",
                        who, " name '", name, "' (", why, ", flow ", fl,
                        "): dropped", NULL);
    return 0;
  }
  (void)imsec_out_logv(
      out, IMSEC_LOG_WARN,
      (imsec_str[]){IMSEC_STR_LIT("request from untrusted peer "),
                    imsec_str_c(who), IMSEC_STR_LIT(" name '"),
                    imsec_str_c(name), IMSEC_STR_LIT("' ("), imsec_str_c(why),
                    IMSEC_STR_LIT(", flow "), imsec_str_c(fl),
                    IMSEC_STR_LIT("): "), s->m.method, IMSEC_STR_LIT(": 403")},
      11);
  if (s->m.method_id != IMSEC_SIP_M_ACK)
    respond(s, flow, 403, "Forbidden", out);
  return 0;
}

void imsec_scscf_on_message(imsec_scscf *s, uint64_t flow, const uint8_t *msg,
                            size_t len, imsec_time_ms now, imsec_out *out) {
  if (!s || !msg || !out)
    return;
  if (len > s->m.lim.max_msg) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "message too large: dropped",
                        NULL);
    return;
  }
  if (len + 1 > s->ibuf_cap) {
    char *nb = malloc(len + 1);
    if (!nb)
      return;
    if (s->ibuf) {
      imsec_wipe(s->ibuf, s->ibuf_cap);
      free(s->ibuf);
    }
    s->ibuf = nb;
    s->ibuf_cap = len + 1;
  }
  memcpy(s->ibuf, msg, len);
  int rv = imsec_sip_parse(&s->m, s->ibuf, len, 1);
  if (rv < 0) {
    /* A request is answered (400, 513), anything else dropped. */
    (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow, rv, &s->m.diag,
                                  msg, len, "imsec-scscf", s->to_tag);
    goto done;
  }
  if (!peer_trusted(s, flow, out))
    goto done;
  if (!s->m.is_request) {
    /* A branch's response that fails the checks (a bare CR, a malformed
     * field) is never relayed. */
    if (imsec_sip_check(&s->m) < 0) {
      (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow,
                                    IMSEC_ERR_PARSE, &s->m.diag, msg, len, NULL,
                                    NULL);
      goto done;
    }
    do_response(s, out);
    goto done;
  }
  rv = imsec_sip_check(&s->m);
  if (rv < 0) {
    unsigned st = s->m.diag.status ? s->m.diag.status : 400;
    respond(s, flow, st, s->m.diag.reason ? s->m.diag.reason : "Bad Request",
            out);
    goto done;
  }
  if (mark_via(s, flow, out))
    goto done;
  if (s->m.method_id == IMSEC_SIP_M_REGISTER)
    do_register(s, flow, now, out);
  else
    do_request(s, flow, now, out);
done:
  imsec_wipe(s->ibuf, len);
}

void imsec_scscf_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                          imsec_out *out) {
  if (!s || park_on_timer(s, timer, now, out))
    return;
  for (size_t i = 0; i < s->nch; i++) {
    if (s->ch[i]->timer != timer)
      continue;
    if (s->ch[i]->expires > now)
      return; /* stale: re-armed later */
    /* TS 33.203 §6.1.2.3: incomplete authentication. */
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "REGISTER ", s->ch[i]->impi,
                        ": challenge expired (incomplete authentication)",
                        NULL);
    challenge_free(s->ch[i]);
    s->ch[i] = s->ch[--s->nch];
    return;
  }
  for (size_t i = 0; i < s->nregs; i++) {
    reg *r = s->regs[i];
    for (size_t j = 0; j < r->n; j++) {
      if (r->c[j].timer != timer)
        continue;
      if (r->c[j].expires_at > now)
        return;
      (void)imsec_out_log(out, IMSEC_LOG_INFO, "binding of ", r->impi,
                          " expired", NULL);
      contact_free(&r->c[j]);
      r->c[j] = r->c[--r->n];
      if (r->n == 0) {
        /* The store forgets it too (it would drop the expired bindings
         * on load anyway; this keeps it small). */
        persist_reg(s, 0, r->impi, NULL, NULL, 0, now, out);
        reg_free(r);
        s->regs[i] = s->regs[--s->nregs];
      }
      return;
    }
  }
  for (size_t i = 0; i < s->ntx; i++) {
    txn *t = s->tx[i];
    for (size_t j = 0; j < t->n; j++) {
      if (t->b[j].timer != timer)
        continue;
      if (t->b[j].code || t->b[j].deadline > now)
        return; /* stale */
      /* RFC 3261 §17.1.2.2: Timer F fired; the branch counts as 408
       * (§16.7 step 6 with no response for it). */
      (void)imsec_out_log(out, IMSEC_LOG_INFO,
                          "forked request: a branch timed out (408)", NULL);
      (void)branch_final(s, t, j, 408, "Request Timeout", NULL, 0, out);
      return;
    }
  }
}

/* ------------------------------------------------------------ store waits */

/* The HSS answers through the host (include/imsec/elem.h REQUEST and
 * on_reply): at once for an embedded store, later for one on a worker
 * thread or across the network; and the store may be busy while another
 * process holds its lock. The element never waits on it. A request that
 * needs an answer it does not have asks for it and is parked: its bytes
 * are kept with the answers it already has, and when the answer comes it
 * runs again from the start and finds it. An answer "busy" makes it try
 * again on a timer, with a growing pause. Either way it waits at most
 * store_timeout_ms from its arrival (then 500). Up to the store call that
 * made it wait a request sends nothing and keeps nothing (no vector exists
 * before its SQN is on disk, TS 33.102 Annex C), so running it again is
 * safe. */
#define PARK_BYTES (4u * 1024 * 1024) /* all parked messages together */
#define PARK_FIRST_MS 5               /* the first pause; doubled up to */
#define PARK_PAUSE_MAX_MS 50          /* this one */

/* "HSS store unavailable: locked" (busy until the request's deadline), or
 * no answer in time, or the I/O error; never "unknown subscriber"; within
 * the element's log budget (imsec_lograte: 10 lines a second, the next one
 * saying how many were held back, as for refused input). `impi` NULL: not
 * a REGISTER, or none known yet. */
static void store_unavailable(imsec_scscf *s, const char *impi, int rv,
                              imsec_time_ms now, imsec_out *out) {
  uint64_t held = 0;
  if (!imsec_lograte_take(&s->store_rate, now, &held))
    return;
  char n[24] = "";
  if (held)
    dec_u64(held, n);
  const char *why = rv == IMSEC_ERR_BUSY      ? "locked"
                    : rv == IMSEC_ERR_TIMEOUT ? "no answer in time"
                                              : imsec_strerror(rv);
  (void)imsec_out_log(out, IMSEC_LOG_ERROR, impi ? "REGISTER " : "",
                      impi ? impi : "", impi ? ": " : "",
                      "HSS store unavailable: ", why, ": 500", held ? "; " : "",
                      n, held ? " similar lines held back" : "", NULL);
}

/* Ask the store; the running request waits for the answer. Past the
 * request's deadline nothing is asked: IMSEC_ERR_BUSY when the store's
 * last answer was busy, else IMSEC_ERR_TIMEOUT (it did not answer).
 * Returns IMSEC_ERR_AGAIN (asked: park_busy), or one of those. */
static int store_ask(imsec_scscf *s, imsec_svc_req *req, imsec_time_ms now,
                     imsec_out *out) {
  parked *p = s->retry;
  if (p && now >= p->deadline)
    return p->busy ? IMSEC_ERR_BUSY : IMSEC_ERR_TIMEOUT;
  uint64_t id = ++s->next_id;
  req->id = id;
  if (imsec_out_request(out, req) < 0)
    return IMSEC_ERR_NOMEM;
  s->want_id = id;
  return IMSEC_ERR_AGAIN;
}

/* The subscriber record by IMPI (IMSEC_SVC_HSS_SUB) or IMPU
 * (IMSEC_SVC_HSS_SUB_IMPU). Returns 0 (in *sub), IMSEC_ERR_NOTFOUND, the
 * store's error, or as store_ask. */
static int hss_sub(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                   imsec_hss_sub *sub, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->sub_kind == (int)kind) {
    if (p->sub_status == 0)
      *sub = p->sub;
    return p->sub_status;
  }
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = kind;
  if (imsec_str_copy(key, req.key, sizeof(req.key)) < 0)
    return IMSEC_ERR_NOTFOUND; /* longer than any identity stored */
  return store_ask(s, &req, now, out);
}

/* One authentication vector (TS 33.102 §6.3.2), taken once: the parked
 * copy is wiped as it is handed over. Returns as hss_sub. */
static int hss_vector(imsec_scscf *s, const char *impi, imsec_aka_vector *v,
                      imsec_hss_aka *aka, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->vec_have) {
    int st = p->vec_status;
    if (st == 0) {
      *v = p->vec;
      *aka = p->aka;
    }
    imsec_aka_vector_wipe(&p->vec);
    p->vec_have = 0;
    return st;
  }
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_HSS_VECTOR;
  if (imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0)
    return IMSEC_ERR_NOTFOUND;
  return store_ask(s, &req, now, out);
}

/* Resynchronisation (TS 33.102 §6.3.5). Returns as hss_sub. */
static int hss_resync(imsec_scscf *s, const char *impi, const uint8_t *rand,
                      const uint8_t *auts, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->rs_have)
    return p->rs_status;
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_HSS_RESYNC;
  memcpy(req.rand, rand, sizeof(req.rand));
  memcpy(req.auts, auts, sizeof(req.auts));
  int rv = imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0
               ? IMSEC_ERR_NOTFOUND
               : store_ask(s, &req, now, out);
  imsec_wipe(&req, sizeof(req));
  return rv;
}

/* The registrations are loading (on_start): a request that reads or
 * changes them waits for the last REG_LOAD reply. Returns 0 (loaded),
 * IMSEC_ERR_AGAIN (park_busy) or IMSEC_ERR_TIMEOUT (past its deadline). */
static int wait_load(imsec_scscf *s, imsec_time_ms now) {
  if (!s->loading)
    return 0;
  parked *p = s->retry;
  if (p && now >= p->deadline)
    return IMSEC_ERR_TIMEOUT;
  s->want_id = s->load_id;
  return IMSEC_ERR_AGAIN;
}

static void parked_free(parked *p) {
  imsec_aka_vector_wipe(&p->vec);
  imsec_hss_sub_wipe(&p->sub);
  imsec_wipe(p->data, p->len);
  free(p);
}

static void park_free(imsec_scscf *s) {
  for (size_t i = 0; i < s->npk; i++)
    parked_free(s->pk[i]);
  free(s->pk);
  s->pk = NULL;
  s->npk = s->cappk = s->pk_bytes = 0;
  imsec_map_free(&s->waits);
}

/* Does `flow` have requests parked? */
static int park_waiting(const imsec_scscf *s, uint64_t flow) {
  for (size_t i = 0; i < s->npk; i++)
    if (s->pk[i]->flow == flow)
      return 1;
  return 0;
}

/* Is an earlier request of the same flow parked before entry i? */
static int park_behind(const imsec_scscf *s, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (s->pk[j]->flow == s->pk[i]->flow)
      return 1;
  return 0;
}

/* Keep the one timer armed for the earliest try. A request waiting for
 * an answer is due at its deadline, reported by imsec_scscf_get_expiry
 * rather than a timer: an answer that comes at once (an embedded store)
 * then arms and cancels nothing. */
static void park_arm(imsec_scscf *s, imsec_out *out) {
  imsec_time_ms at = 0;
  for (size_t i = 0; i < s->npk; i++)
    if (!s->pk[i]->wait_id && s->pk[i]->next && (!at || s->pk[i]->next < at))
      at = s->pk[i]->next;
  if (at == s->pk_at)
    return;
  if (!s->pk_timer)
    s->pk_timer = ++s->next_id;
  s->pk_at = at;
  (void)imsec_out_timer(out, s->pk_timer, at);
}

/* Wait for the REQUEST `id` (0: none; the load's id: the load). */
static void park_wait(imsec_scscf *s, parked *p, uint64_t id) {
  if (p->wait_id && p->wait_id != s->load_id)
    (void)imsec_map_del(&s->waits, p->wait_id);
  p->wait_id = 0;
  if (!id)
    return;
  if (id != s->load_id && imsec_map_put(&s->waits, id, p, NULL) < 0)
    return; /* no answer will find it: its deadline ends the wait */
  p->wait_id = id;
  p->next = p->deadline;
}

static void park_remove(imsec_scscf *s, size_t i) {
  parked *p = s->pk[i];
  park_wait(s, p, 0);
  s->pk_bytes -= p->len;
  memmove(&s->pk[i], &s->pk[i + 1], (s->npk - i - 1) * sizeof(*s->pk));
  s->npk--;
  parked_free(p);
}

/* Keep the request in s->m for later, waiting for `want` (0: to be tried
 * again after a pause). Returns 0, IMSEC_ERR_LIMIT (as many parked as
 * allowed) or IMSEC_ERR_NOMEM. */
static int park_add(imsec_scscf *s, uint64_t flow, uint64_t want,
                    imsec_time_ms now, imsec_out *out) {
  size_t len = s->m.len;
  if (!len || !s->m.buf || s->npk >= s->cfg.max_parked ||
      len > PARK_BYTES - s->pk_bytes)
    return IMSEC_ERR_LIMIT;
  if (grow((void **)&s->pk, &s->cappk, s->npk, sizeof(*s->pk)) < 0)
    return IMSEC_ERR_NOMEM;
  parked *p = calloc(1, sizeof(*p) + len);
  if (!p)
    return IMSEC_ERR_NOMEM;
  p->flow = flow;
  p->deadline = now + s->cfg.store_timeout_ms;
  p->pause = PARK_FIRST_MS;
  p->next = now + PARK_FIRST_MS;
  if (p->next > p->deadline)
    p->next = p->deadline;
  if (park_waiting(s, flow))
    p->next = 0; /* tried when the ones before it are done */
  p->len = len;
  memcpy(p->data, s->m.buf, len);
  park_wait(s, p, want);
  s->pk[s->npk++] = p;
  s->pk_bytes += len;
  park_arm(s, out);
  return 0;
}

/* A store call of the request in s->m made it wait (IMSEC_ERR_AGAIN: it
 * asked, s->want_id; IMSEC_ERR_BUSY: behind its flow), before anything was
 * sent or kept. A new request is parked (500 at once when there is no
 * room); a parked one running again waits on, or gets 500 once its
 * deadline has passed. */
static void park_busy(imsec_scscf *s, uint64_t flow, const char *impi,
                      imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  uint64_t want = s->want_id;
  s->want_id = 0;
  if (p && now < p->deadline) {
    s->retry_busy = 1;
    park_wait(s, p, want);
    return;
  }
  if (p) {
    s->retry_busy = 2;
  } else if (park_add(s, flow, want, now, out) == 0) {
    (void)imsec_out_logv(
        out, IMSEC_LOG_DEBUG,
        (imsec_str[]){s->m.method, IMSEC_STR_LIT(": waits for the HSS store")},
        2);
    return;
  }
  store_unavailable(s, impi, p && !p->busy ? IMSEC_ERR_TIMEOUT : IMSEC_ERR_BUSY,
                    now, out);
  respond(s, flow, 500, "Server Internal Error", out);
}

/* Run the parked requests that are due, in arrival order; one still
 * waiting holds back the later ones of its flow. */
static void park_run(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
  size_t i = 0;
  while (i < s->npk) {
    parked *p = s->pk[i];
    if (park_behind(s, i) || p->next > now) {
      i++;
      continue;
    }
    s->retry = p;
    s->retry_busy = 0;
    imsec_scscf_on_message(s, p->flow, (const uint8_t *)p->data, p->len, now,
                           out);
    s->retry = NULL;
    if (s->retry_busy != 1) {
      park_remove(s, i); /* answered, or dropped */
      continue;
    }
    if (!p->wait_id) {
      /* Behind nothing and waiting for nothing: try again later. */
      p->pause =
          p->pause * 2 > PARK_PAUSE_MAX_MS ? PARK_PAUSE_MAX_MS : p->pause * 2;
      p->next = now + p->pause < p->deadline ? now + p->pause : p->deadline;
    }
    i++;
  }
  park_arm(s, out);
}

imsec_time_ms imsec_scscf_get_expiry(const imsec_scscf *s) {
  imsec_time_ms at = 0;
  for (size_t i = 0; s && i < s->npk; i++)
    if (s->pk[i]->wait_id && (!at || s->pk[i]->deadline < at))
      at = s->pk[i]->deadline;
  return at;
}

void imsec_scscf_handle_expiry(imsec_scscf *s, imsec_time_ms now,
                               imsec_out *out) {
  if (s && out)
    park_run(s, now, out); /* the ones past their deadline get 500 */
}

/* Returns 1 when `timer` was the parked requests' timer. */
static int park_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                         imsec_out *out) {
  if (!s->pk_timer || timer != s->pk_timer)
    return 0;
  s->pk_at = 0; /* it fired */
  park_run(s, now, out);
  return 1;
}

/* The flow a parked request came in on is gone: nobody waits for its
 * answer. */
static void park_drop_flow(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  size_t i = 0, n = 0;
  while (flow && i < s->npk) {
    if (s->pk[i]->flow == flow) {
      park_remove(s, i);
      n++;
    } else {
      i++;
    }
  }
  if (!n)
    return;
  char num[24];
  dec_u64(n, num);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "flow down: ", num,
                      " request(s) waiting for the HSS store dropped", NULL);
  park_arm(s, out);
}

/* An HSS answer for the parked request that asked: kept with it, and it
 * runs again (with the others now due, in per-flow arrival order). A busy
 * store: the same request asks again after a growing pause. */
static void hss_reply(imsec_scscf *s, const imsec_svc_reply *r,
                      imsec_time_ms now, imsec_out *out) {
  parked *p = imsec_map_get(&s->waits, r->id);
  if (!p || p->wait_id != r->id)
    return; /* its request is gone (answered 500, or its flow down) */
  park_wait(s, p, 0);
  if (r->status == IMSEC_ERR_BUSY) {
    p->busy = 1;
    p->next = now + p->pause < p->deadline ? now + p->pause : p->deadline;
    p->pause =
        p->pause * 2 > PARK_PAUSE_MAX_MS ? PARK_PAUSE_MAX_MS : p->pause * 2;
    park_arm(s, out);
    return;
  }
  p->busy = 0;
  switch (r->kind) {
  case IMSEC_SVC_HSS_SUB:
  case IMSEC_SVC_HSS_SUB_IMPU:
    p->sub_kind = (int)r->kind;
    p->sub_status = r->status;
    if (r->status == 0)
      p->sub = r->sub;
    imsec_wipe(p->sub.k, sizeof(p->sub.k)); /* never needed here */
    imsec_wipe(p->sub.op, sizeof(p->sub.op));
    break;
  case IMSEC_SVC_HSS_VECTOR:
    imsec_aka_vector_wipe(&p->vec);
    p->vec_have = 1;
    p->vec_status = r->status;
    if (r->status == 0) {
      p->vec = r->vec;
      p->aka = r->aka;
    }
    break;
  case IMSEC_SVC_HSS_RESYNC:
    p->rs_have = 1;
    p->rs_status = r->status;
    break;
  default:
    break;
  }
  p->next = now;
  park_run(s, now, out);
}

/* ------------------------------------------------------------ durability */

/* The record of `r` as the store keeps it (TS 24.229 §5.4.1.2: the
 * implicit set, Service-Route, each binding with its Path, instance,
 * reg-id, the peer that registered it and its time left from `now`).
 * Returns 0 or IMSEC_ERR_NOMEM (*out then owns nothing). */
static int reg_to_record(const imsec_scscf *s, const reg *r, imsec_time_ms now,
                         imsec_reg_record *out) {
  memset(out, 0, sizeof(*out));
  char sr[SR_CAP];
  imsec_reg_record t = {
      .impi = r->impi,
      .impus = r->impus,
      .n_impus = r->n_impus,
      .service_route = service_route(s, sr) > 0 ? sr : NULL,
  };
  imsec_reg_binding *b = r->n ? calloc(r->n, sizeof(*b)) : NULL;
  if (r->n && !b)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < r->n; i++) {
    const contact *c = &r->c[i];
    b[i] = (imsec_reg_binding){.contact = c->uri,
                               .path = c->path,
                               .instance = c->instance,
                               .reg_id = c->reg_id,
                               .ttl_ms = c->expires_at - now,
                               .peer = c->reg_peer,
                               .order = c->order};
  }
  t.b = b;
  t.n = r->n;
  int rv = imsec_reg_record_copy(out, &t);
  free(b);
  return rv;
}

/* Put a stored record in place of whatever `rec->impi` has now: the
 * bindings still live at `now` (each expires at base + ttl_ms), their
 * expiry timers armed. An expired binding never comes back. Returns 0 or
 * IMSEC_ERR_NOMEM, IMSEC_ERR_LIMIT (max_regs). */
static int reg_install(imsec_scscf *s, const imsec_reg_record *rec,
                       imsec_time_ms base, imsec_time_ms now, imsec_out *out) {
  if (!rec->impi)
    return IMSEC_ERR_INVAL;
  size_t idx;
  if (find_reg_impi(s, imsec_str_c(rec->impi), &idx))
    remove_reg(s, idx, out);
  size_t live = 0;
  for (size_t i = 0; i < rec->n; i++)
    if (rec->b[i].contact && base + rec->b[i].ttl_ms > now)
      live++;
  if (!live)
    return 0;
  if (s->nregs >= s->cfg.max_regs)
    return IMSEC_ERR_LIMIT;
  if (grow((void **)&s->regs, &s->capregs, s->nregs, sizeof(*s->regs)) < 0)
    return IMSEC_ERR_NOMEM;
  reg *r = calloc(1, sizeof(*r));
  if (!r)
    return IMSEC_ERR_NOMEM;
  int ok = (r->impi = dup_str(imsec_str_c(rec->impi))) != NULL;
  if (ok && rec->n_impus)
    ok = (r->impus = calloc(rec->n_impus, sizeof(char *))) != NULL;
  for (size_t i = 0; ok && i < rec->n_impus; i++) {
    r->impus[i] = dup_str(imsec_str_c(rec->impus[i]));
    ok = r->impus[i] != NULL;
    r->n_impus = i + 1;
  }
  if (ok)
    ok = (r->c = calloc(live, sizeof(*r->c))) != NULL;
  for (size_t i = 0; ok && i < rec->n; i++) {
    const imsec_reg_binding *b = &rec->b[i];
    if (!b->contact || base + b->ttl_ms <= now)
      continue;
    contact *c = &r->c[r->n++];
    c->uri = dup_str(imsec_str_c(b->contact));
    c->path = b->path ? dup_str(imsec_str_c(b->path)) : NULL;
    c->instance = b->instance ? dup_str(imsec_str_c(b->instance)) : NULL;
    c->reg_peer = b->peer ? dup_str(imsec_str_c(b->peer)) : NULL;
    c->reg_id = b->reg_id;
    c->expires_at = base + b->ttl_ms;
    c->order = b->order;
    if (b->order > s->order)
      s->order = b->order;
    c->timer = ++s->next_id;
    ok = c->uri && (!b->path || c->path) && (!b->instance || c->instance) &&
         (!b->peer || c->reg_peer);
  }
  if (!ok) {
    reg_free(r);
    return IMSEC_ERR_NOMEM;
  }
  s->regs[s->nregs++] = r;
  for (size_t i = 0; i < r->n; i++)
    (void)imsec_out_timer(out, r->c[i].timer, r->c[i].expires_at);
  return 0;
}

static void pend_free(pend *p) {
  if (!p)
    return;
  free(p->impi);
  imsec_reg_record_free(&p->before);
  if (p->req) {
    imsec_wipe(p->req, p->req_len);
    free(p->req);
  }
  free(p);
}

static void pends_free(imsec_scscf *s) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->pends, &it)) != NULL)
    pend_free(e->val);
  imsec_map_free(&s->pends);
}

/* Make the IMPI's registration durable before anything that reports it
 * (DESIGN.md §2, include/imsec/elem.h PERSIST): REG_SAVE with its whole
 * record, or REG_DELETE when `r` is NULL. The host holds the actions that
 * follow (the 200) until the store says so. `before` (moved, may be NULL)
 * is what to restore if it cannot; `flow` 0: no request to answer (an
 * expiry). */
static void persist_reg(imsec_scscf *s, uint64_t flow, const char *impi,
                        const reg *r, imsec_reg_record *before, int had,
                        imsec_time_ms now, imsec_out *out) {
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  pend *p = calloc(1, sizeof(*p));
  int rv = p ? 0 : IMSEC_ERR_NOMEM;
  if (p) {
    p->id = ++s->next_id;
    p->flow = flow;
    p->at = now;
    p->had = had && before;
    if (p->had) {
      p->before = *before;
      before = NULL;
    }
    p->impi = dup_str(imsec_str_c(impi));
    if (flow && s->m.buf && s->m.len) {
      p->req = malloc(s->m.len);
      if (p->req) {
        memcpy(p->req, s->m.buf, s->m.len);
        p->req_len = s->m.len;
      }
    }
    if (!p->impi || (flow && !p->req))
      rv = IMSEC_ERR_NOMEM;
  }
  req.id = p ? p->id : ++s->next_id;
  if (rv == 0 && r) {
    req.kind = IMSEC_SVC_REG_SAVE;
    rv = reg_to_record(s, r, now, &req.reg);
  } else if (rv == 0) {
    req.kind = IMSEC_SVC_REG_DELETE;
    if (imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0)
      rv = IMSEC_ERR_INVAL;
  }
  if (rv == 0)
    rv = imsec_map_put(&s->pends, p->id, p, NULL);
  if (rv == 0)
    rv = imsec_out_persist(out, &req);
  if (rv < 0) {
    /* Not even asked: the 200 must not leave (the action queue's error is
     * sticky when it is the queue that failed). */
    if (p)
      (void)imsec_map_del(&s->pends, p->id);
    log_err(out, IMSEC_LOG_ERROR, "registration not saved", rv);
    imsec_reg_record_free(&req.reg);
    pend_free(p);
  }
  if (before)
    imsec_reg_record_free(before);
}

/* Is a change of `impi` newer than `p` still waiting to be durable? Then
 * undoing `p` would undo that one too. */
static int pend_newer(const imsec_scscf *s, const pend *p) {
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->pends, &it)) != NULL) {
    const pend *o = e->val;
    /* no secret: IMPIs of two registration changes */
    if (o->id > p->id && strcmp(o->impi, p->impi) == 0)
      return 1;
  }
  return 0;
}

/* The store's answer to a REG_SAVE or REG_DELETE. On failure the host
 * dropped the 200 it held: the change is undone and the REGISTER gets
 * 500 instead (RFC 3261 §21.5.1). */
static void persist_reply(imsec_scscf *s, const imsec_svc_reply *r,
                          imsec_time_ms now, imsec_out *out) {
  pend *p = imsec_map_del(&s->pends, r->id);
  if (!p)
    return;
  /* Deleting a record the store never had is done too. */
  if (r->status == 0 ||
      (r->kind == IMSEC_SVC_REG_DELETE && r->status == IMSEC_ERR_NOTFOUND)) {
    pend_free(p);
    return;
  }
  (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ", p->impi,
                      " not durable (", imsec_strerror(r->status), ")",
                      p->req ? ": 500, change undone" : "", NULL);
  if (p->req && !pend_newer(s, p)) {
    size_t idx;
    if (find_reg_impi(s, imsec_str_c(p->impi), &idx))
      remove_reg(s, idx, out);
    if (p->had && reg_install(s, &p->before, p->at, now, out) < 0)
      (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ", p->impi,
                          " could not be restored", NULL);
  }
  if (p->req && imsec_sip_parse(&s->m, p->req, p->req_len, 1) == 0)
    respond(s, p->flow, 500, "Server Internal Error", out);
  pend_free(p);
}

/* One REG_LOAD reply: a record to rebuild, or the last one. Requests that
 * waited for the load run then. */
static void load_reply(imsec_scscf *s, const imsec_svc_reply *r,
                       imsec_time_ms now, imsec_out *out) {
  if (!s->loading || r->id != s->load_id)
    return;
  if (r->reg) {
    int rv = reg_install(s, r->reg, now, now, out);
    if (rv < 0)
      (void)imsec_out_log(out, IMSEC_LOG_ERROR, "registration of ",
                          r->reg->impi ? r->reg->impi : "?",
                          " not loaded: ", imsec_strerror(rv), NULL);
  }
  if (!r->last)
    return;
  s->loading = 0;
  if (r->status < 0)
    log_err(out, IMSEC_LOG_ERROR, "registrations not loaded", r->status);
  char n[24];
  dec_u64(s->nregs, n);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, n, " registration(s) loaded", NULL);
  for (size_t i = 0; i < s->npk; i++) {
    parked *p = s->pk[i];
    if (p->wait_id == s->load_id) {
      p->wait_id = 0;
      p->next = now;
    }
  }
  park_run(s, now, out);
}

void imsec_scscf_start(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
  (void)now;
  if (!s || !out || s->loading)
    return;
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_REG_LOAD;
  uint64_t id = ++s->next_id;
  req.id = id; /* the append zeroes req */
  if (imsec_out_request(out, &req) < 0)
    return;
  s->load_id = id;
  s->loading = 1;
}

void imsec_scscf_on_reply(imsec_scscf *s, const imsec_svc_reply *r,
                          imsec_time_ms now, imsec_out *out) {
  if (!s || !r || !out)
    return;
  switch (r->kind) {
  case IMSEC_SVC_REG_LOAD:
    load_reply(s, r, now, out);
    break;
  case IMSEC_SVC_REG_SAVE:
  case IMSEC_SVC_REG_DELETE:
    persist_reply(s, r, now, out);
    break;
  case IMSEC_SVC_HSS_SUB:
  case IMSEC_SVC_HSS_SUB_IMPU:
  case IMSEC_SVC_HSS_VECTOR:
  case IMSEC_SVC_HSS_RESYNC:
    hss_reply(s, r, now, out);
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------------ bad input */

void imsec_scscf_on_refused(imsec_scscf *s, uint64_t flow, int reason,
                            const uint8_t *head, size_t len, imsec_time_ms now,
                            imsec_out *out) {
  if (!s || !out)
    return;
  (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-scscf", s->to_tag);
}

/* ------------------------------------------------------------ Via marks */

static struct fpeer *fpeer_find(imsec_scscf *s, uint64_t flow) {
  for (size_t i = 0; i < s->nfpeers; i++)
    if (s->fpeers[i].id == flow)
      return &s->fpeers[i];
  return NULL;
}

static void fpeer_set(imsec_scscf *s, uint64_t flow,
                      const imsec_flow_info *info) {
  if (!info || !info->peer.host[0] ||
      strlen(info->peer.host) >= sizeof(s->fpeers[0].host))
    return;
  struct fpeer *f = fpeer_find(s, flow);
  if (!f) {
    if (grow((void **)&s->fpeers, &s->capfpeers, s->nfpeers,
             sizeof(*s->fpeers)) < 0)
      return; /* without memory the Via stays unmarked */
    f = &s->fpeers[s->nfpeers++];
  }
  f->id = flow;
  memcpy(f->host, info->peer.host, strlen(info->peer.host) + 1);
  f->port = info->peer.port;
}

static void fpeer_del(imsec_scscf *s, uint64_t flow) {
  struct fpeer *f = flow ? fpeer_find(s, flow) : NULL;
  if (f)
    *f = s->fpeers[--s->nfpeers];
}

/* RFC 3261 §18.2.1, RFC 3581 §4: received and rport on the top Via (the
 * P-CSCF's) of a request, from the address the flow comes from. A request
 * that cannot be marked is answered here (400 when the mark would push
 * the Via past the parameter limit, 500 without room). Returns 1 when
 * answered. */
static int mark_via(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  struct fpeer *f = fpeer_find(s, flow);
  const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_VIA);
  if (!f || !h)
    return 0;
  size_t cap = h->value.len + 80;
  int rv = IMSEC_ERR_NOBUF;
  if (!s->viabuf)
    s->viabuf = malloc(s->m.lim.max_line + 80);
  if (s->viabuf && cap <= s->m.lim.max_line + 80)
    rv = imsec_sip_via_mark_received(&s->m, imsec_str_c(f->host), f->port,
                                     s->viabuf, cap);
  if (rv >= 0)
    return 0;
  (void)imsec_out_log(out, IMSEC_LOG_WARN,
                      "request refused: ", imsec_strerror(rv),
                      " marking its Via", NULL);
  if (s->m.method_id == IMSEC_SIP_M_ACK)
    return 1; /* RFC 3261 §17: never answer an ACK */
  if (rv == IMSEC_ERR_LIMIT)
    respond(s, flow, 400, "Via has too many parameters", out);
  else /* a malformed top Via failed imsec_sip_check already */
    respond(s, flow, 500, "Server Internal Error", out);
  return 1;
}
