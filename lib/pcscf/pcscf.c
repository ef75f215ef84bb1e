/* The P-CSCF element (include/imsec/pcscf.h). */
#include <stdlib.h>
#include <string.h>

#include "imsec/pcscf.h"
#include "imsec/digest.h"
#include "imsec/secagree.h"
#include "imsec/sip.h"

#define TIMER_SWEEP 1
#define KEY_LEN 32
#define TOKEN_MAC 12 /* octets of HMAC-SHA256 kept in a flow token */
#define TOKEN_HEX 40 /* 16 hex of the flow id + 24 hex of the MAC */
#define BRANCH_PFX "z9hG4bKpc"
#define BRANCH_PFX_LEN 9
#define BRANCH_MAC 12 /* octets of HMAC-SHA256 kept in a branch */
#define ARENA 32768
#define SEC_SERVER IMSEC_SECAGREE_SERVER
#define DEFAULT_EXPIRES 3600

/* ---------------------------------------------------------------- types */

/* NUL-separated strings in one allocation. */
typedef struct strlist {
  char *buf;
  size_t len, n;
} strlist;

typedef struct flowrec flowrec;

typedef struct binding {
  struct binding *next; /* on the flow */
  flowrec *flow;
  char *impi;
  strlist impus;  /* URIs */
  strlist routes; /* Service-Route values, as written */
  char *contact;  /* the UE's Contact URI */
  size_t dest;    /* the S-CSCF it registered through */
  imsec_time_ms expires_at;
} binding;

struct flowrec {
  flowrec *next; /* hash chain */
  uint64_t id;
  int core;
  imsec_addr peer;
  uint8_t nonce[16]; /* in the token MAC: a token names this connection */
  int ss_sent;       /* a 401 with Security-Server went out on this flow and
                        no REGISTER has answered it with the echo yet */
  int verified;      /* a Security-Verify echo checked */
  binding *bindings;
  /* Access flows: our end, the TLS listener the UE reached; our Via on
   * requests towards the UE names it (RFC 3261 §16.6 step 8). */
  char local_host[48];
  uint16_t local_port;
  imsec_tp local_tp;
};

typedef struct qmsg {
  struct qmsg *next;
  size_t slot; /* its transaction, or SIZE_MAX */
  uint32_t gen;
  size_t len;
  uint8_t data[];
} qmsg;

typedef struct dest {
  imsec_addr addr;
  char name[256]; /* tls: the certificate name to check, sent as SNI */
  uint64_t flow;  /* 0: not connected */
  int connecting;
  qmsg *qhead, *qtail;
  size_t qn;
} dest;

typedef struct txn {
  int used;
  uint32_t gen;
  int from_ue;       /* UE -> S-CSCF (1) or S-CSCF -> UE (0) */
  uint64_t in_flow;  /* responses go back here */
  uint64_t ue_flow;  /* S-CSCF -> UE: the flow it went out on */
  uint64_t out_flow; /* UE -> S-CSCF: the flow it went out on, 0 queued */
  imsec_time_ms deadline;
  /* REGISTER only */
  int is_register;
  int sa_offered;
  size_t dest;
  uint32_t expires; /* requested */
  char *impi;
  char *contact;
  char *to_uri;
  /* The response this P-CSCF sends itself when the request cannot be
   * answered by the next hop (RFC 3261 §16.7-16.8: timeout 408, no
   * connection 503, RFC 5626 §5.3: flow gone 430): built from the request
   * as it arrived; the status line is replaced when used. */
  char *answer;
  size_t answer_len, answer_hdrs;
} txn;

struct imsec_pcscf {
  imsec_pcscf_config cfg;
  imsec_crypto *crypto;
  uint8_t key[KEY_LEN];
  char host_uri[262]; /* core host, bracketed if IPv6 */
  /* access and core flows */
  flowrec **buckets;
  size_t nbuckets;
  size_t n_access, n_bindings;
  /* S-CSCFs: dests[i] has CONNECT tag i + 1 */
  dest dests[IMSEC_PCSCF_MAX_ROUTES];
  size_t ndests;
  size_t route_dest[IMSEC_PCSCF_MAX_ROUTES];
  /* transactions */
  txn *txns;
  uint32_t *free_slots;
  size_t nfree, n_txn;
  size_t hiwat; /* slots [hiwat, max) were never used */
  size_t queued;
  imsec_time_ms timer_at;
  uint32_t tag_seq;
  imsec_lograte bad_rate; /* lines about refused input */
  /* per-event scratch */
  char *in;
  char *outbuf;
  size_t outcap;
  char arena[ARENA];
  size_t arena_used;
  imsec_sip_msg m;
};

typedef struct ev {
  imsec_pcscf *p;
  imsec_out *out;
  imsec_time_ms now;
  flowrec *f;
} ev;

static void refuse_unparsable(ev *e, int rv, const uint8_t *msg, size_t len);
static int push_via_at(ev *e, imsec_sip_msg *m, size_t slot, int stateless,
                       imsec_tp tp, const char *host, uint16_t port);
static int mark_via(ev *e, imsec_sip_msg *m);

/* ---------------------------------------------------------------- text */

#define S(lit) IMSEC_STR_LIT(lit)
#define LOG(e, lvl, ...)                                                       \
  do {                                                                         \
    imsec_str parts_[] = {__VA_ARGS__};                                        \
    (void)imsec_out_logv((e)->out, (lvl), parts_,                              \
                         sizeof(parts_) / sizeof(parts_[0]));                  \
  } while (0)

typedef struct sb {
  char *p;
  size_t len, cap;
  int err;
} sb;

static void sb_put(sb *b, imsec_str s) {
  if (b->err || s.len > b->cap - b->len) {
    b->err = 1;
    return;
  }
  if (s.len)
    memcpy(b->p + b->len, s.p, s.len);
  b->len += s.len;
}

static void sb_putc(sb *b, const char *s) {
  sb_put(b, imsec_str_c(s));
}

static void sb_u64(sb *b, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  char out[24];
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  sb_put(b, (imsec_str){out, n});
}

static void sb_hex(sb *b, const uint8_t *v, size_t n) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char two[2] = {hx[v[i] >> 4], hx[v[i] & 15]};
    sb_put(b, (imsec_str){two, 2});
  }
}

/* A builder over the free part of the arena; sb_done commits it. */
static sb arena_sb(imsec_pcscf *p) {
  sb b = {p->arena + p->arena_used, 0, ARENA - p->arena_used, 0};
  return b;
}

static int sb_done(imsec_pcscf *p, sb *b, imsec_str *out) {
  if (b->err)
    return IMSEC_ERR_NOBUF;
  *out = (imsec_str){b->p, b->len};
  p->arena_used += b->len;
  return 0;
}

/* A decimal number as a slice in the arena (for log lines). */
static imsec_str num(imsec_pcscf *p, uint64_t v) {
  sb b = arena_sb(p);
  sb_u64(&b, v);
  imsec_str s = S("?");
  (void)sb_done(p, &b, &s);
  return s;
}

static char *dup_str(imsec_str s) {
  char *c = malloc(s.len + 1);
  if (!c)
    return NULL;
  if (s.len)
    memcpy(c, s.p, s.len);
  c[s.len] = 0;
  return c;
}

static int strlist_add(strlist *l, imsec_str s) {
  char *nb = realloc(l->buf, l->len + s.len + 1);
  if (!nb)
    return IMSEC_ERR_NOMEM;
  l->buf = nb;
  if (s.len)
    memcpy(nb + l->len, s.p, s.len);
  nb[l->len + s.len] = 0;
  l->len += s.len + 1;
  l->n++;
  return 0;
}

/* Iterate: pass *pos = 0 first; returns 1 and the next string, 0 at end. */
static int strlist_next(const strlist *l, size_t *pos, imsec_str *out) {
  if (*pos >= l->len)
    return 0;
  *out = imsec_str_c(l->buf + *pos);
  *pos += out->len + 1;
  return 1;
}

static void strlist_free(strlist *l) {
  free(l->buf);
  l->buf = NULL;
  l->len = l->n = 0;
}

/* ------------------------------------------------------------ config */

void imsec_pcscf_config_init(imsec_pcscf_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->core.tp = IMSEC_TP_TCP;
}

/* A route's domain or name: letters, digits, '.', '-' and '_' only, copied
 * into dst. 0, or IMSEC_ERR_PARSE. */
static int route_token_copy(imsec_str s, char *dst, size_t cap) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (!(imsec_is_alnum(ch) || ch == '.' || ch == '-' || ch == '_'))
      return IMSEC_ERR_PARSE;
  }
  return imsec_str_copy(s, dst, cap) < 0 ? IMSEC_ERR_PARSE : 0;
}

/* "tp:host:port[;name=NAME]": a route may dial an address and verify a
 * name (RFC 5922 §7.2 checks the name, not the address dialled). */
static int route_name_parse(imsec_str addr, imsec_pcscf_route *out) {
  out->name[0] = 0;
  long semi = imsec_str_find(addr, ';');
  if (semi < 0)
    return imsec_addr_parse(addr, &out->addr);
  imsec_str param =
      imsec_str_sub(addr, (size_t)semi + 1, addr.len - (size_t)semi - 1);
  imsec_str key = S("name=");
  if (param.len <= key.len ||
      !imsec_str_ieq(imsec_str_sub(param, 0, key.len), key))
    return IMSEC_ERR_PARSE;
  imsec_str name = imsec_str_sub(param, key.len, param.len - key.len);
  if (route_token_copy(name, out->name, sizeof(out->name)) < 0)
    return IMSEC_ERR_PARSE;
  return imsec_addr_parse(imsec_str_sub(addr, 0, (size_t)semi), &out->addr);
}

int imsec_pcscf_route_parse(imsec_str spec, imsec_pcscf_route *out) {
  long eq = imsec_str_find(spec, '=');
  if (eq <= 0)
    return IMSEC_ERR_PARSE;
  imsec_str dom = imsec_str_trim(imsec_str_sub(spec, 0, (size_t)eq));
  imsec_str addr = imsec_str_trim(
      imsec_str_sub(spec, (size_t)eq + 1, spec.len - (size_t)eq - 1));
  if (!dom.len)
    return IMSEC_ERR_PARSE;
  if (route_token_copy(dom, out->domain, sizeof(out->domain)) < 0)
    return IMSEC_ERR_PARSE;
  return route_name_parse(addr, out);
}

/* ------------------------------------------------------------ flows */

static size_t bucket_of(const imsec_pcscf *p, uint64_t id) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdULL;
  id ^= id >> 33;
  return (size_t)(id & (p->nbuckets - 1));
}

static flowrec *flow_find(const imsec_pcscf *p, uint64_t id) {
  for (flowrec *f = p->buckets[bucket_of(p, id)]; f; f = f->next)
    if (f->id == id)
      return f;
  return NULL;
}

static flowrec *flow_add(imsec_pcscf *p, uint64_t id) {
  flowrec *f = calloc(1, sizeof(*f));
  if (!f)
    return NULL;
  f->id = id;
  size_t b = bucket_of(p, id);
  f->next = p->buckets[b];
  p->buckets[b] = f;
  return f;
}

static void binding_free(imsec_pcscf *p, binding *b) {
  free(b->impi);
  free(b->contact);
  strlist_free(&b->impus);
  strlist_free(&b->routes);
  free(b);
  p->n_bindings--;
}

static void binding_unlink(imsec_pcscf *p, binding *b) {
  for (binding **pp = &b->flow->bindings; *pp; pp = &(*pp)->next) {
    if (*pp == b) {
      *pp = b->next;
      break;
    }
  }
  binding_free(p, b);
}

static void flow_remove(imsec_pcscf *p, flowrec *f) {
  while (f->bindings) {
    binding *b = f->bindings;
    f->bindings = b->next;
    binding_free(p, b);
  }
  for (flowrec **pp = &p->buckets[bucket_of(p, f->id)]; *pp;
       pp = &(*pp)->next) {
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  }
  if (!f->core)
    p->n_access--;
  free(f);
}

/* ------------------------------------------------------------ tokens */

/* RFC 5626 §5.2: the flow token. HMAC-SHA256 under a random key over the
 * flow id and the connection's nonce: the driver's ids are plain numbers
 * (and may be reused), so the MAC is what makes a token unforgeable and
 * tied to one connection. */
static int token_mac(imsec_pcscf *p, const flowrec *f, uint8_t mac[32]) {
  uint8_t id[8];
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(f->id >> (56 - 8 * i));
  imsec_iov iov[3] = {{"flow", 4}, {id, 8}, {f->nonce, sizeof(f->nonce)}};
  return imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 3, mac);
}

static int token_make(imsec_pcscf *p, const flowrec *f, sb *b) {
  uint8_t mac[32], id[8];
  IMSEC_GUARD(token_mac(p, f, mac));
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(f->id >> (56 - 8 * i));
  sb_hex(b, id, 8);
  sb_hex(b, mac, TOKEN_MAC);
  return 0;
}

/* The access flow a token names, or NULL (malformed, forged, flow gone). */
static flowrec *token_check(imsec_pcscf *p, imsec_str tok) {
  uint8_t raw[8 + TOKEN_MAC];
  if (tok.len != TOKEN_HEX ||
      imsec_hex_decode(tok.p, tok.len, raw, sizeof(raw)) != (int)sizeof(raw))
    return NULL;
  uint64_t id = 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | raw[i];
  flowrec *f = flow_find(p, id);
  if (!f || f->core)
    return NULL;
  uint8_t mac[32];
  if (token_mac(p, f, mac) < 0 || !imsec_ct_eq(mac, raw + 8, TOKEN_MAC))
    return NULL;
  return f;
}

/* ------------------------------------------------------------ timers */

static void arm(ev *e, imsec_time_ms at) {
  imsec_pcscf *p = e->p;
  if (p->timer_at == 0 || at < p->timer_at) {
    p->timer_at = at;
    (void)imsec_out_timer(e->out, TIMER_SWEEP, at);
  }
}

/* ------------------------------------------------------------ transactions */

static void txn_clear(imsec_pcscf *p, size_t slot) {
  txn *t = &p->txns[slot];
  free(t->impi);
  free(t->contact);
  free(t->to_uri);
  free(t->answer);
  uint32_t gen = t->gen + 1;
  memset(t, 0, sizeof(*t));
  t->gen = gen;
  p->free_slots[p->nfree++] = (uint32_t)slot;
  p->n_txn--;
}

static txn *txn_new(ev *e, size_t *slot) {
  imsec_pcscf *p = e->p;
  if (!p->nfree)
    return NULL;
  *slot = p->free_slots[--p->nfree];
  if (*slot >= p->hiwat)
    p->hiwat = *slot + 1;
  txn *t = &p->txns[*slot];
  t->used = 1;
  t->deadline = e->now + p->cfg.transaction_timeout_ms;
  p->n_txn++;
  arm(e, t->deadline);
  return t;
}

/* Branch of our Via: the magic cookie (RFC 3261 §8.1.1.7), "pc", the slot
 * and its generation, then an HMAC-SHA256 over both under the element's
 * random key: a response is matched to its transaction by this branch
 * alone, so a guessable one would let any peer answer requests it never
 * received (RFC 3261 §17.2.3 leaves the uniqueness to us; we make it
 * unforgeable, like the flow tokens). */
static int branch_mac(imsec_pcscf *p, const uint8_t v[8], uint8_t mac[32]) {
  imsec_iov iov[2] = {{"branch", 6}, {v, 8}};
  return imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 2, mac);
}

static int branch_make(imsec_pcscf *p, size_t slot, sb *b) {
  uint8_t v[8], mac[32];
  uint32_t s = (uint32_t)slot, g = p->txns[slot].gen;
  for (int i = 0; i < 4; i++) {
    v[i] = (uint8_t)(s >> (24 - 8 * i));
    v[4 + i] = (uint8_t)(g >> (24 - 8 * i));
  }
  IMSEC_GUARD(branch_mac(p, v, mac));
  sb_putc(b, BRANCH_PFX);
  sb_hex(b, v, 8);
  sb_hex(b, mac, BRANCH_MAC);
  return 0;
}

static txn *branch_find(imsec_pcscf *p, imsec_str br, size_t *slot) {
  uint8_t v[8 + BRANCH_MAC], mac[32];
  if (br.len != BRANCH_PFX_LEN + 16 + 2 * BRANCH_MAC ||
      !imsec_str_eq(imsec_str_sub(br, 0, BRANCH_PFX_LEN), S(BRANCH_PFX)) ||
      imsec_hex_decode(br.p + BRANCH_PFX_LEN, 16 + 2 * BRANCH_MAC, v,
                       sizeof(v)) != (int)sizeof(v))
    return NULL;
  if (branch_mac(p, v, mac) < 0 || !imsec_ct_eq(mac, v + 8, BRANCH_MAC))
    return NULL;
  uint32_t s = 0, g = 0;
  for (int i = 0; i < 4; i++) {
    s = s << 8 | v[i];
    g = g << 8 | v[4 + i];
  }
  if (s >= p->cfg.max_transactions || !p->txns[s].used || p->txns[s].gen != g)
    return NULL;
  *slot = s;
  return &p->txns[s];
}

/* ------------------------------------------------------------ output */

static void send_flow(ev *e, uint64_t flow, imsec_sip_msg *m) {
  int n = imsec_sip_msg_serialize(m, e->p->outbuf, e->p->outcap);
  if (n < 0) {
    LOG(e, IMSEC_LOG_WARN, S("message too large to forward; dropped"));
    return;
  }
  (void)imsec_out_send(e->out, flow, e->p->outbuf, (size_t)n);
}

/* A locally generated response to request `req` on flow `flow`, with
 * optional extra header fields (name, value pairs). */
static int reply(ev *e, uint64_t flow, imsec_sip_msg *req, unsigned code,
                 const char *reason, const imsec_str *extra, size_t nextra) {
  imsec_pcscf *p = e->p;
  if (req->method_id == IMSEC_SIP_M_ACK)
    return 0; /* RFC 3261 §17: never answer an ACK */
  char tag[16];
  sb t = {tag, 0, sizeof(tag) - 1, 0};
  sb_putc(&t, "pc");
  sb_u64(&t, ++p->tag_seq);
  imsec_sip_builder b;
  imsec_sip_build_init(&b, p->outbuf, p->outcap);
  imsec_sip_build_response(&b, req, code, imsec_str_c(reason),
                           code > 100 ? (imsec_str){tag, t.len} : S(""));
  for (size_t i = 0; i + 1 < nextra; i += 2)
    imsec_sip_build_header(&b, extra[i], extra[i + 1]);
  imsec_sip_build_header(&b, S("Server"), S("imsec-pcscf"));
  int n = imsec_sip_build_finish(&b, S(""));
  if (n < 0)
    return 0; /* a request without the fields a response copies */
  (void)imsec_out_send(e->out, flow, p->outbuf, (size_t)n);
  return 0;
}

/* Keep the answer to `req` for later (see txn.answer). Call before the
 * request is edited. Without memory the transaction simply stays silent. */
static void txn_keep_answer(ev *e, txn *t, imsec_sip_msg *req) {
  imsec_pcscf *p = e->p;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, p->outbuf, p->outcap);
  imsec_sip_build_response(&b, req, 408, S("Request Timeout"), S("pcto"));
  imsec_sip_build_header(&b, S("Server"), S("imsec-pcscf"));
  int n = imsec_sip_build_finish(&b, S(""));
  if (n < 0)
    return;
  const char *crlf = memchr(p->outbuf, '\n', (size_t)n);
  if (!crlf || !(t->answer = malloc((size_t)n)))
    return;
  memcpy(t->answer, p->outbuf, (size_t)n);
  t->answer_len = (size_t)n;
  t->answer_hdrs = (size_t)(crlf - p->outbuf) + 1;
}

/* Send the kept answer with this status, if the flow it goes to is up. */
static void txn_answer(ev *e, txn *t, unsigned code, const char *reason,
                       unsigned retry_after);

/* Refuse with a WARN line naming the reason. */
static int refuse(ev *e, imsec_sip_msg *req, unsigned code, const char *reason,
                  const char *why) {
  char c[4] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
               (char)('0' + code % 10), 0};
  LOG(e, IMSEC_LOG_WARN, S("refused "), req->method, S(" on flow "),
      num(e->p, e->f->id), S(": "), imsec_str_c(c), S(" "), imsec_str_c(reason),
      S(" ("), imsec_str_c(why), S(")"));
  return reply(e, e->f->id, req, code, reason, NULL, 0);
}

/* Our own 503 (RFC 3261 §21.5.4) with Retry-After (§20.33): the UE waits
 * that long instead of retrying at once (see IMSEC_PCSCF_RETRY_*). Never
 * added to a 503 relayed from an S-CSCF, which speaks for itself. */
static int refuse_503(ev *e, imsec_sip_msg *req, unsigned secs,
                      const char *why) {
  char v[12];
  sb vb = {v, 0, sizeof(v), 0};
  sb_u64(&vb, secs);
  LOG(e, IMSEC_LOG_WARN, S("refused "), req->method, S(" on flow "),
      num(e->p, e->f->id), S(": 503 Service Unavailable ("), imsec_str_c(why),
      S(")"));
  imsec_str extra[2] = {S("Retry-After"), {v, vb.len}};
  return reply(e, e->f->id, req, 503, "Service Unavailable", extra, 2);
}

/* Note the flow a UE's request went out on (see txn_flow_lost). */
static void txn_sent_on(imsec_pcscf *p, size_t slot, uint32_t gen,
                        uint64_t flow) {
  if (slot < p->cfg.max_transactions && p->txns[slot].used &&
      p->txns[slot].gen == gen && p->txns[slot].from_ue)
    p->txns[slot].out_flow = flow;
}

static void dest_flush(imsec_pcscf *p, dest *d, imsec_out *out) {
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    txn_sent_on(p, q->slot, q->gen, d->flow);
    (void)imsec_out_send(out, d->flow, q->data, q->len);
    free(q);
    p->queued--;
  }
  d->qtail = NULL;
  d->qn = 0;
}

/* Drop what waits for an S-CSCF; with `e`, answer each request 503
 * (RFC 3261 §16.7: the proxy's own answer when no hop could be reached). */
static void dest_drop(imsec_pcscf *p, dest *d, ev *e) {
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    if (e && q->slot < p->cfg.max_transactions && p->txns[q->slot].used &&
        p->txns[q->slot].gen == q->gen) {
      txn_answer(e, &p->txns[q->slot], 503, "Service Unavailable",
                 IMSEC_PCSCF_RETRY_CORE);
      txn_clear(p, q->slot);
    }
    free(q);
    p->queued--;
  }
  d->qtail = NULL;
  d->qn = 0;
}

/* Send a message to an S-CSCF: on its flow, or queued until it connects
 * (one connection per S-CSCF, RFC 5923 reuse). Returns 0 or
 * IMSEC_ERR_LIMIT / IMSEC_ERR_NOMEM / IMSEC_ERR_NOBUF. */
static int send_dest(ev *e, size_t di, imsec_sip_msg *m, size_t slot) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  int n = imsec_sip_msg_serialize(m, p->outbuf, p->outcap);
  if (n < 0)
    return n;
  if (d->flow) {
    if (slot < p->cfg.max_transactions)
      txn_sent_on(p, slot, p->txns[slot].gen, d->flow);
    return imsec_out_send(e->out, d->flow, p->outbuf, (size_t)n);
  }
  if (d->qn >= p->cfg.max_queue)
    return IMSEC_ERR_LIMIT;
  qmsg *q = malloc(sizeof(*q) + (size_t)n);
  if (!q)
    return IMSEC_ERR_NOMEM;
  q->next = NULL;
  q->slot = slot;
  q->gen = slot < p->cfg.max_transactions ? p->txns[slot].gen : 0;
  q->len = (size_t)n;
  memcpy(q->data, p->outbuf, (size_t)n);
  if (d->qtail)
    d->qtail->next = q;
  else
    d->qhead = q;
  d->qtail = q;
  d->qn++;
  p->queued++;
  if (!d->connecting) {
    d->connecting = 1;
    char a[300];
    if (imsec_addr_format(&d->addr, a, sizeof(a)) < 0)
      a[0] = 0;
    LOG(e, IMSEC_LOG_INFO, S("connecting to S-CSCF "), imsec_str_c(a));
    (void)imsec_out_connect(e->out, di + 1, &d->addr,
                            d->addr.tp == IMSEC_TP_TLS ? d->name : "");
  }
  return 0;
}

static void txn_answer(ev *e, txn *t, unsigned code, const char *reason,
                       unsigned retry_after) {
  imsec_pcscf *p = e->p;
  if (!t->answer || !flow_find(p, t->in_flow))
    return;
  sb b = {p->outbuf, 0, p->outcap, 0};
  sb_putc(&b, "SIP/2.0 ");
  sb_u64(&b, code);
  sb_putc(&b, " ");
  sb_putc(&b, reason);
  sb_putc(&b, "\r\n");
  if (retry_after) {
    /* RFC 3261 §20.33: when to try again (see refuse_503). */
    sb_putc(&b, "Retry-After: ");
    sb_u64(&b, retry_after);
    sb_putc(&b, "\r\n");
  }
  sb_put(&b, (imsec_str){t->answer + t->answer_hdrs,
                         t->answer_len - t->answer_hdrs});
  if (!b.err)
    (void)imsec_out_send(e->out, t->in_flow, p->outbuf, b.len);
}

/* ------------------------------------------------------------ editing */

/* Our end of an access flow, for our Via towards the UE. */
static void flow_set_local(flowrec *f, const imsec_flow_info *info) {
  size_t n = strlen(info->local.host);
  if (!n || n + 3 > sizeof(f->local_host))
    return;
  int v6 = memchr(info->local.host, ':', n) != NULL;
  size_t o = 0;
  if (v6)
    f->local_host[o++] = '[';
  memcpy(f->local_host + o, info->local.host, n);
  o += n;
  if (v6)
    f->local_host[o++] = ']';
  f->local_host[o] = 0;
  f->local_port = info->local.port;
  f->local_tp = info->tp;
}

/* Our Via (RFC 3261 §16.6 step 8) naming the core side. */
static int push_via(ev *e, imsec_sip_msg *m, size_t slot, int stateless,
                    imsec_tp tp) {
  return push_via_at(e, m, slot, stateless, tp, e->p->host_uri,
                     e->p->cfg.core.port);
}

/* Our Via naming host:port over tp: where the next hop sends responses
 * (RFC 3261 §18.2.2) and sees us as. */
static int push_via_at(ev *e, imsec_sip_msg *m, size_t slot, int stateless,
                       imsec_tp tp, const char *host, uint16_t port) {
  imsec_pcscf *p = e->p;
  sb b = arena_sb(p);
  sb_putc(&b, "SIP/2.0/");
  sb_putc(&b, imsec_tp_name(tp));
  sb_putc(&b, " ");
  sb_putc(&b, host);
  sb_putc(&b, ":");
  sb_u64(&b, port);
  sb_putc(&b, ";branch=");
  if (stateless) {
    /* RFC 3261 §16.11: a stateless branch derived from the incoming one. */
    const imsec_sip_via *v;
    uint8_t mac[32];
    imsec_str in = S("");
    if (imsec_sip_get_via(m, &v) == 0)
      in = v->branch;
    imsec_iov iov[2] = {{"br", 2}, {in.p, in.len}};
    IMSEC_GUARD(
        imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 2, mac));
    sb_putc(&b, "z9hG4bKpcs");
    sb_hex(&b, mac, 8);
  } else {
    IMSEC_GUARD(branch_make(p, slot, &b));
  }
  imsec_str v;
  IMSEC_GUARD(sb_done(p, &b, &v));
  return imsec_sip_msg_push_top(m, S("Via"), v);
}

/* RFC 3261 §16.6 step 3: Max-Forwards decremented (added when absent). */
static int dec_max_forwards(ev *e, imsec_sip_msg *m) {
  uint32_t mf = 70;
  int rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv < 0 && rv != IMSEC_ERR_NOTFOUND)
    return rv;
  if (rv == 0 && mf == 0)
    return IMSEC_ERR_LIMIT;
  imsec_str v = num(e->p, mf - 1);
  long idx = imsec_sip_msg_index(m, IMSEC_SIP_H_MAX_FORWARDS);
  if (idx >= 0)
    return imsec_sip_msg_replace(m, (size_t)idx, v);
  return imsec_sip_msg_insert(m, m->nhdrs, S("Max-Forwards"), v);
}

/* Remove the first value of the first field of `id` (a top Via or Route;
 * the field may hold several comma-separated values). */
static int pop_top(imsec_sip_msg *m, imsec_sip_hid id) {
  long idx = imsec_sip_msg_index(m, id);
  if (idx < 0)
    return IMSEC_ERR_NOTFOUND;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str first;
  int rv = imsec_sip_value_next(m, id, &it, &first, NULL);
  if (rv < 0)
    return rv;
  if (rv == 1 && it.rest.p && it.hdr == idx && imsec_str_trim(it.rest).len)
    return imsec_sip_msg_replace(m, (size_t)idx, imsec_str_trim(it.rest));
  return imsec_sip_msg_remove(m, (size_t)idx);
}

/* Rewrite a Require / Proxy-Require without the sec-agree option tag
 * (TS 24.229 §5.2.2.1: it is between UE and P-CSCF only). */
static int strip_option(ev *e, imsec_sip_msg *m, imsec_sip_hid id,
                        const char *name) {
  if (imsec_sip_msg_index(m, id) < 0)
    return 0;
  sb b = arena_sb(e->p);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  int rv, n = 0, found = 0;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, NULL)) == 1) {
    if (imsec_str_ieq(v, S("sec-agree"))) {
      found = 1;
      continue;
    }
    if (n++)
      sb_putc(&b, ", ");
    sb_put(&b, v);
  }
  if (rv < 0)
    return rv;
  if (!found)
    return 0;
  imsec_str nv;
  IMSEC_GUARD(sb_done(e->p, &b, &nv));
  (void)imsec_sip_msg_remove_all(m, id);
  if (n)
    IMSEC_GUARD(imsec_sip_msg_insert(m, m->nhdrs, imsec_str_c(name), nv));
  return 0;
}

static int has_option(imsec_sip_msg *m, imsec_sip_hid id, const char *opt) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(m, id, &it, &v, NULL) == 1)
    if (imsec_str_ieq_c(v, opt))
      return 1;
  return 0;
}

/* Rebuild a Digest header value parameter by parameter (unknown ones
 * kept), leaving out the names in `drop` and adding `add` at the end.
 * `username` (may be NULL) receives the username parameter (raw). */
static int digest_rewrite(ev *e, imsec_str in, const char *const *drop,
                          size_t ndrop, imsec_str add, imsec_str *out,
                          imsec_str *username) {
  imsec_cursor c;
  imsec_cursor_init(&c, in.p, in.len);
  imsec_str scheme;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0 || !scheme.len)
    return IMSEC_ERR_PARSE;
  sb b = arena_sb(e->p);
  sb_put(&b, scheme);
  sb_putc(&b, " ");
  int n = 0, rv;
  imsec_str name, val;
  int quoted;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1) {
    int skip = 0;
    for (size_t i = 0; i < ndrop; i++)
      skip |= imsec_str_ieq_c(name, drop[i]);
    if (username && imsec_str_ieq_c(name, "username"))
      *username = val;
    if (skip)
      continue;
    if (n++)
      sb_putc(&b, ", ");
    sb_put(&b, name);
    sb_putc(&b, quoted ? "=\"" : "=");
    sb_put(&b, val);
    if (quoted)
      sb_putc(&b, "\"");
  }
  if (rv < 0)
    return rv;
  if (add.len) {
    if (n)
      sb_putc(&b, ", ");
    sb_put(&b, add);
  }
  return sb_done(e->p, &b, out);
}

static imsec_str addr_str(imsec_pcscf *p, const imsec_addr *a) {
  char *at = p->arena + p->arena_used;
  int n = imsec_addr_format(a, at, ARENA - p->arena_used);
  if (n < 0)
    return S("?");
  p->arena_used += (size_t)n;
  return (imsec_str){at, (size_t)n};
}

/* The host of a parsed URI without IPv6 brackets. */
static imsec_str bare_host(imsec_str h) {
  if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
    return imsec_str_sub(h, 1, h.len - 2);
  return h;
}

/* Is this URI this P-CSCF (core host and port)? */
static int uri_is_me(const imsec_pcscf *p, const imsec_sip_uri *u) {
  if (u->scheme != IMSEC_SIP_SCHEME_SIP && u->scheme != IMSEC_SIP_SCHEME_SIPS)
    return 0;
  uint16_t port = u->has_port ? u->port : 5060;
  return imsec_str_ieq(bare_host(u->host), imsec_str_c(p->cfg.core.host)) &&
         port == p->cfg.core.port;
}

/* The S-CSCF a URI names (Service-Route), or -1. */
static long dest_of_uri(const imsec_pcscf *p, imsec_str text) {
  imsec_sip_addr a;
  imsec_sip_uri u;
  if (imsec_sip_addr_parse(text, 64, &a) < 0 ||
      imsec_sip_uri_parse(a.uri, 64, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS))
    return -1;
  uint16_t port = u.has_port ? u.port : 5060;
  for (size_t i = 0; i < p->ndests; i++) {
    if (imsec_str_ieq(bare_host(u.host), imsec_str_c(p->dests[i].addr.host)) &&
        port == p->dests[i].addr.port)
      return (long)i;
  }
  return -1;
}

static int uri_text_eq(imsec_str a, imsec_str b) {
  imsec_sip_uri ua, ub;
  if (imsec_sip_uri_parse(a, 64, &ua) == 0 &&
      imsec_sip_uri_parse(b, 64, &ub) == 0)
    return imsec_sip_uri_eq(&ua, &ub);
  return imsec_str_ieq(a, b);
}

/* The binding on flow `f` whose registered set holds `uri`, or NULL. */
static binding *impu_bound(const flowrec *f, imsec_str uri) {
  for (binding *b = f->bindings; b; b = b->next) {
    size_t pos = 0;
    imsec_str s;
    while (strlist_next(&b->impus, &pos, &s))
      if (uri_text_eq(s, uri))
        return b;
  }
  return NULL;
}

/* The username parameter of a Digest credentials value (raw), or an
 * error. */
static int digest_username(imsec_str in, imsec_str *out) {
  imsec_cursor c;
  imsec_cursor_init(&c, in.p, in.len);
  imsec_str scheme, name, val;
  int quoted, rv;
  if (imsec_cursor_until(&c, ' ', &scheme) < 0)
    return IMSEC_ERR_PARSE;
  while ((rv = imsec_digest_next_param(&c, &name, &val, &quoted)) == 1) {
    if (imsec_str_ieq_c(name, "username")) {
      *out = val;
      return 0;
    }
  }
  return rv < 0 ? rv : IMSEC_ERR_NOTFOUND;
}

static binding *binding_find(flowrec *f, const char *impi) {
  for (binding *b = f->bindings; b; b = b->next)
    if (imsec_str_eq(imsec_str_c(b->impi), imsec_str_c(impi)))
      return b;
  return NULL;
}

/* ------------------------------------------------------------ REGISTER */

static long route_for(const imsec_pcscf *p, imsec_str domain) {
  for (size_t i = 0; i < p->cfg.n_routes; i++)
    if (domain.len &&
        imsec_str_ieq(domain, imsec_str_c(p->cfg.routes[i].domain)))
      return (long)p->route_dest[i];
  return -1;
}

static int ue_register(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  static const imsec_str ss_hdr[] = {S("Security-Server"), S(SEC_SERVER)};

  /* RFC 3329 §2.3.1, TS 24.229 §5.2.2: security agreement. */
  imsec_secagree_list offer;
  imsec_str answer;
  int rv = imsec_secagree_parse_msg(m, IMSEC_SIP_H_SECURITY_CLIENT, &offer);
  if (rv < 0)
    return refuse(e, m, 400, "Bad Security-Client",
                  "malformed Security-Client");
  int sc = offer.n > 0;
  int sc_tls = sc && imsec_secagree_answer(&offer, &answer) == 0;
  int sv = imsec_sip_msg_index(m, IMSEC_SIP_H_SECURITY_VERIFY) >= 0;
  int tagged = has_option(m, IMSEC_SIP_H_REQUIRE, "sec-agree") ||
               has_option(m, IMSEC_SIP_H_PROXY_REQUIRE, "sec-agree");
  if (p->cfg.require_sec_agree && !sc && !sv && !tagged) {
    static const imsec_str h[] = {S("Require"), S("sec-agree"),
                                  S("Security-Server"), S(SEC_SERVER)};
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), num(p, f->id),
        S(": 421 Extension Required (sec-agree required by configuration)"));
    return reply(e, f->id, m, 421, "Extension Required", h, 4);
  }
  if (sc && !sc_tls) {
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), num(p, f->id),
        S(": 494 Security Agreement Required (no common mechanism)"));
    return reply(e, f->id, m, 494, "Security Agreement Required", ss_hdr, 2);
  }
  if (f->ss_sent || sv) {
    const char *why = NULL;
    if (!sv)
      why = "Security-Verify missing";
    else if (imsec_secagree_verify_msg(m, S(SEC_SERVER)) < 0)
      why = "Security-Verify does not match Security-Server";
    if (why) {
      /* RFC 3329 §2.4: the echo protects the choice of mechanism. */
      LOG(e, IMSEC_LOG_WARN, S("downgrade attempt on flow "), num(p, f->id),
          S(" from "), addr_str(p, &f->peer), S(": "), imsec_str_c(why),
          S("; 494"));
      return reply(e, f->id, m, 494, "Security Agreement Required", ss_hdr, 2);
    }
    /* The echo answered the challenge that carried Security-Server; a
     * later REGISTER without Security-Verify starts a new agreement and
     * gets Security-Server again in its 401. */
    if (f->ss_sent)
      f->verified = 1;
    f->ss_sent = 0;
  }

  /* TS 24.229 §5.2.2.1: the home network of the UE. */
  imsec_sip_uri ru;
  long di = -1;
  imsec_str dom = S("");
  if (imsec_sip_uri_parse(m->ruri, 64, &ru) == 0 &&
      (ru.scheme == IMSEC_SIP_SCHEME_SIP || ru.scheme == IMSEC_SIP_SCHEME_SIPS))
    dom = bare_host(ru.host);
  di = route_for(p, dom);
  const imsec_sip_addr *to;
  imsec_sip_uri tu;
  if (imsec_sip_get_to(m, &to) < 0)
    return refuse(e, m, 400, "Bad Request", "no To");
  if (di < 0 && imsec_sip_uri_parse(to->uri, 64, &tu) == 0 &&
      tu.scheme != IMSEC_SIP_SCHEME_TEL) {
    dom = bare_host(tu.host);
    di = route_for(p, dom);
  }
  if (di < 0) {
    LOG(e, IMSEC_LOG_WARN, S("refused REGISTER on flow "), num(p, f->id),
        S(": 403 Domain not served ("), dom, S(")"));
    return reply(e, f->id, m, 403, "Domain not served", NULL, 0);
  }
  if (!f->bindings && p->n_bindings >= p->cfg.max_bindings)
    return refuse_503(e, m, IMSEC_PCSCF_RETRY_BUSY, "binding table full");

  /* The Contact being registered and the expiry asked for. */
  imsec_str contact = S("");
  int64_t expires = -1;
  imsec_sip_iter ci = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr ca;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &ci, &ca) == 1) {
    if (ca.star)
      expires = 0;
    else {
      contact = ca.uri;
      expires = ca.expires;
    }
  }
  uint32_t hexp;
  if (expires < 0 && imsec_sip_get_expires(m, &hexp) == 0)
    expires = hexp;
  if (expires < 0)
    expires = DEFAULT_EXPIRES;

  size_t slot;
  txn *t = txn_new(e, &slot);
  if (!t)
    return refuse_503(e, m, IMSEC_PCSCF_RETRY_BUSY, "transaction table full");
  t->from_ue = 1;
  t->in_flow = f->id;
  t->is_register = 1;
  t->sa_offered = sc_tls;
  t->dest = (size_t)di;
  t->expires = (uint32_t)(expires > UINT32_MAX ? UINT32_MAX : expires);
  t->contact = dup_str(contact);
  t->to_uri = dup_str(to->uri);
  txn_keep_answer(e, t, m);

  /* Authorization: integrity-protected (TS 24.229 §5.2.2.1, TS 33.203
   * Annex O): "tls-yes" once the connection is vouched for: this IMPI is
   * bound to it, or (nothing bound yet) the Security-Verify echo checked.
   * A connection bound to another IMPI vouches for nothing here, so a UE
   * cannot lend its connection to another identity. A value sent by the
   * UE is replaced, never trusted. */
  imsec_str user = S("");
  char ubuf[256];
  int ul = -1;
  const imsec_sip_hdr *ah = imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHORIZATION);
  if (ah && digest_username(ah->value, &user) == 0)
    ul = imsec_digest_unquote(user, ubuf, sizeof(ubuf));
  t->impi = dup_str(ul > 0 ? (imsec_str){ubuf, (size_t)ul} : S(""));
  if (!t->impi) {
    txn_clear(p, slot);
    return refuse(e, m, 500, "Server Internal Error", "out of memory");
  }
  int vouched = t->impi[0] && binding_find(f, t->impi);
  if (!f->bindings && f->verified)
    vouched = 1;
  const char *ip = vouched ? "integrity-protected=\"tls-yes\""
                           : "integrity-protected=\"tls-pending\"";
  static const char *const drop_ip[] = {"integrity-protected"};
  for (const imsec_sip_hdr *h =
           imsec_sip_hdr_first(m, IMSEC_SIP_H_AUTHORIZATION);
       h; h = imsec_sip_hdr_next(m, h)) {
    imsec_str nv;
    if (digest_rewrite(e, h->value, drop_ip, 1, imsec_str_c(ip), &nv, NULL) <
            0 ||
        imsec_sip_msg_replace(m, (size_t)(h - m->hdrs), nv) < 0) {
      txn_clear(p, slot);
      return refuse(e, m, 400, "Bad Request", "malformed Authorization");
    }
  }
  if (!t->contact || !t->to_uri) {
    txn_clear(p, slot);
    return refuse(e, m, 500, "Server Internal Error", "out of memory");
  }

  /* TS 24.229 §5.2.2.1: Security-* and sec-agree stay between UE and
   * P-CSCF; Path with the flow token (RFC 3327, RFC 5626 §5.2);
   * P-Visited-Network-ID; nothing the UE asserts about itself. */
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_SECURITY_CLIENT);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_SECURITY_VERIFY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_VISITED_NETWORK_ID);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_PATH); /* a UE is no proxy */
  sb pb = arena_sb(p);
  sb_putc(&pb, "<sip:");
  rv = token_make(p, f, &pb);
  sb_putc(&pb, "@");
  sb_putc(&pb, p->host_uri);
  sb_putc(&pb, ":");
  sb_u64(&pb, p->cfg.core.port);
  /* The S-CSCF reaches this P-CSCF the way the core listener runs: TLS
   * on Mw (TS 33.210 §5.2), TCP only when the daemon allows it. */
  sb_putc(&pb, ";transport=");
  sb_putc(&pb, imsec_tp_lower(p->cfg.core.tp));
  sb_putc(&pb, ";lr;ob>");
  imsec_str path;
  if (rv < 0 || sb_done(p, &pb, &path) < 0 ||
      strip_option(e, m, IMSEC_SIP_H_REQUIRE, "Require") < 0 ||
      strip_option(e, m, IMSEC_SIP_H_PROXY_REQUIRE, "Proxy-Require") < 0 ||
      (!has_option(m, IMSEC_SIP_H_SUPPORTED, "path") &&
       imsec_sip_msg_insert(m, m->nhdrs, S("Supported"), S("path")) < 0) ||
      imsec_sip_msg_push_top(m, S("Path"), path) < 0) {
    txn_clear(p, slot);
    return refuse(e, m, 500, "Server Internal Error", "cannot edit REGISTER");
  }
  if (p->cfg.visited_network[0]) {
    sb vb = arena_sb(p);
    sb_putc(&vb, "\"");
    sb_putc(&vb, p->cfg.visited_network);
    sb_putc(&vb, "\"");
    imsec_str vn;
    if (sb_done(p, &vb, &vn) < 0 ||
        imsec_sip_msg_insert(m, m->nhdrs, S("P-Visited-Network-ID"), vn) < 0) {
      txn_clear(p, slot);
      return refuse(e, m, 500, "Server Internal Error", "cannot edit REGISTER");
    }
  }
  if (push_via(e, m, slot, 0, p->dests[di].addr.tp) < 0) {
    txn_clear(p, slot);
    return refuse(e, m, 500, "Server Internal Error", "cannot edit REGISTER");
  }
  if (dec_max_forwards(e, m) < 0) {
    txn_clear(p, slot);
    (void)pop_top(m, IMSEC_SIP_H_VIA);
    return refuse(e, m, 500, "Server Internal Error", "cannot edit REGISTER");
  }
  /* The request is edited: m's typed views are gone, the slices we logged
   * stay valid (they point into the input buffer or the arena). */
  rv = send_dest(e, (size_t)di, m, slot);
  if (rv < 0) {
    txn_clear(p, slot);
    (void)pop_top(m, IMSEC_SIP_H_VIA); /* answer with the UE's Vias only */
    return refuse_503(e, m, IMSEC_PCSCF_RETRY_CORE,
                      "S-CSCF queue full or unreachable");
  }
  LOG(e, IMSEC_LOG_INFO, S("REGISTER from flow "), num(p, f->id), S(" IMPI "),
      imsec_str_c(t->impi), S(" -> "), dom, S(" at "),
      addr_str(p, &p->dests[di].addr), S(" ("), imsec_str_c(ip),
      sc_tls ? S(", sec-agree") : S(""), S(")"));
  return 0;
}

/* ------------------------------------------------------------ UE requests */

/* TS 24.229 §5.2.6.3, TS 33.203 O.4 and Annex J: a request from a UE is
 * accepted only on the connection its registration is bound to; the
 * asserted identity comes from the registered set; the request follows the
 * Service-Route recorded at registration. */
static int ue_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = e->f;
  if (!f->bindings) {
    if (m->method_id == IMSEC_SIP_M_ACK)
      return 0;
    return refuse(e, m, 403, "Forbidden",
                  "no registration bound to this connection");
  }
  imsec_str asserted = S("");
  binding *b = NULL;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  int rv = imsec_sip_addr_next(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY, &it, &a);
  if (rv < 0)
    return refuse(e, m, 400, "Bad Request", "malformed P-Preferred-Identity");
  if (rv == 1) {
    /* RFC 3325 §9.2: a preferred identity must be one of the user's. */
    b = impu_bound(f, a.uri);
    if (!b) {
      LOG(e, IMSEC_LOG_WARN, S("refused "), m->method, S(" on flow "),
          num(p, f->id), S(": 403 P-Preferred-Identity "), a.uri,
          S(" outside the registered set"));
      return reply(e, f->id, m, 403, "Forbidden", NULL, 0);
    }
    asserted = a.uri;
  } else {
    const imsec_sip_addr *from;
    if (imsec_sip_get_from(m, &from) == 0 && (b = impu_bound(f, from->uri)))
      asserted = from->uri;
  }
  if (!b) {
    /* TS 24.229 §5.2.6.3.1: the default public identity. */
    b = f->bindings;
    size_t pos = 0;
    if (!strlist_next(&b->impus, &pos, &asserted))
      return refuse(e, m, 403, "Forbidden", "no public identity registered");
  }
  uint32_t mf;
  rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv == 0 && mf == 0)
    return refuse(e, m, 483, "Too Many Hops", "Max-Forwards 0");
  sb ab = arena_sb(p);
  sb_putc(&ab, "<");
  sb_put(&ab, asserted);
  sb_putc(&ab, ">");
  imsec_str pai;
  if (sb_done(p, &ab, &pai) < 0)
    return refuse(e, m, 500, "Server Internal Error", "identity too long");
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_PREFERRED_IDENTITY);
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY);
  /* RFC 3608 §6: the Service-Route becomes the route set. */
  (void)imsec_sip_msg_remove_all(m, IMSEC_SIP_H_ROUTE);
  size_t di = b->dest, pos = 0;
  imsec_str r;
  int first = 1;
  while (strlist_next(&b->routes, &pos, &r)) {
    if (first) {
      long d = dest_of_uri(p, r);
      if (d >= 0)
        di = (size_t)d;
      first = 0;
    }
    if (imsec_sip_msg_insert(m, m->nhdrs, S("Route"), r) < 0)
      return refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  }
  if (imsec_sip_msg_insert(m, m->nhdrs, S("P-Asserted-Identity"), pai) < 0)
    return refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  size_t slot = 0;
  txn *t = NULL;
  if (!ack) {
    t = txn_new(e, &slot);
    if (!t)
      return refuse_503(e, m, IMSEC_PCSCF_RETRY_BUSY, "transaction table full");
    t->from_ue = 1;
    t->in_flow = f->id;
    txn_keep_answer(e, t, m);
  }
  if (push_via(e, m, slot, ack, p->dests[di].addr.tp) < 0) {
    if (t)
      txn_clear(p, slot);
    return refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  }
  if (dec_max_forwards(e, m) < 0 ||
      send_dest(e, di, m, t ? slot : SIZE_MAX) < 0) {
    if (t)
      txn_clear(p, slot);
    (void)pop_top(m, IMSEC_SIP_H_VIA);
    return refuse_503(e, m, IMSEC_PCSCF_RETRY_CORE,
                      "S-CSCF queue full or unreachable");
  }
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" from flow "), num(p, f->id), S(" as "),
      asserted, S(" -> "), addr_str(p, &p->dests[di].addr));
  return 0;
}

/* ------------------------------------------------------------ S-CSCF requests
 */

/* RFC 5626 §5.3, RFC 3327: a request whose top Route is this P-CSCF with a
 * flow token goes out on that flow, if the token verifies and the flow is
 * up with a registration bound to it; else 430 Flow Failed. */
static int core_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr ra;
  imsec_sip_uri u;
  int rv = imsec_sip_addr_next(m, IMSEC_SIP_H_ROUTE, &it, &ra);
  if (rv != 1 || imsec_sip_uri_parse(ra.uri, 64, &u) < 0 || !uri_is_me(p, &u))
    return refuse(e, m, 404, "Not Found", "no Route to this P-CSCF");
  /* Why a token fails, for the log: gone or not ours. */
  const char *why = NULL;
  flowrec *target = token_check(p, u.user);
  if (!target) {
    uint8_t raw[8 + TOKEN_MAC];
    uint64_t id = 0;
    if (u.user.len == TOKEN_HEX &&
        imsec_hex_decode(u.user.p, u.user.len, raw, sizeof(raw)) ==
            (int)sizeof(raw)) {
      for (int i = 0; i < 8; i++)
        id = id << 8 | raw[i];
    }
    flowrec *g = id ? flow_find(p, id) : NULL;
    why = g && !g->core ? "flow token does not verify"
                        : (id ? "flow gone" : "malformed flow token");
  } else if (!target->bindings) {
    why = "no registration bound to the flow";
  }
  if (why) {
    LOG(e, IMSEC_LOG_WARN, S("refused "), m->method, S(" from flow "),
        num(p, e->f->id), S(": 430 Flow Failed ("), imsec_str_c(why), S(")"));
    return reply(e, e->f->id, m, 430, "Flow Failed", NULL, 0);
  }
  uint32_t mf;
  rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv == 0 && mf == 0)
    return refuse(e, m, 483, "Too Many Hops", "Max-Forwards 0");
  if (pop_top(m, IMSEC_SIP_H_ROUTE) < 0)
    return refuse(e, m, 500, "Server Internal Error", "cannot edit request");
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  size_t slot = 0;
  txn *t = NULL;
  if (!ack) {
    t = txn_new(e, &slot);
    if (!t)
      return refuse_503(e, m, IMSEC_PCSCF_RETRY_BUSY, "transaction table full");
    t->from_ue = 0;
    t->in_flow = e->f->id;
    t->ue_flow = target->id;
    txn_keep_answer(e, t, m);
  }
  /* Towards the UE our Via names the TLS listener the UE reached, not the
   * core port (RFC 3261 §16.6 step 8: the address for this hop). */
  int via_rv = target->local_host[0]
                   ? push_via_at(e, m, slot, ack, target->local_tp,
                                 target->local_host, target->local_port)
                   : push_via(e, m, slot, ack, IMSEC_TP_TLS);
  if (via_rv < 0 || dec_max_forwards(e, m) < 0) {
    if (t)
      txn_clear(p, slot);
    return 0; /* nothing sensible to answer with an edited message */
  }
  send_flow(e, target->id, m);
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" for flow "), num(p, target->id),
      S(" ("), addr_str(p, &target->peer), S(")"));
  return 0;
}

/* ------------------------------------------------------------ responses */

/* Remove a registration of `impi` from every flow but `keep`. */
static void unbind_elsewhere(imsec_pcscf *p, const char *impi, flowrec *keep) {
  for (size_t i = 0; i < p->nbuckets; i++) {
    for (flowrec *f = p->buckets[i]; f; f = f->next) {
      if (f == keep)
        continue;
      binding *b = binding_find(f, impi);
      if (b)
        binding_unlink(p, b);
    }
  }
}

/* TS 33.203 O.4, TS 24.229 §5.2.2.1: on the 200 to a REGISTER, bind the
 * registration to the UE's TLS connection (or drop it on de-registration). */
static void register_ok(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  flowrec *f = flow_find(p, t->in_flow);
  if (!f || f->core)
    return;
  /* Only the S-CSCF the REGISTER went to may bind identities to a UE's
   * flow (TS 24.229 §5.2.2.1; on_response already holds to this). */
  if (!e->f || !t->out_flow || e->f->id != t->out_flow)
    return;
  int64_t exp = -1;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  while (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &a) == 1) {
    if (!a.star && t->contact[0] &&
        uri_text_eq(a.uri, imsec_str_c(t->contact))) {
      exp = a.expires;
      break;
    }
  }
  uint32_t hexp;
  if (exp < 0 && imsec_sip_get_expires(m, &hexp) == 0)
    exp = hexp;
  if (exp < 0)
    exp = t->expires;
  if (t->expires == 0)
    exp = 0;
  binding *b = binding_find(f, t->impi);
  if (exp == 0) {
    if (b) {
      binding_unlink(p, b);
      LOG(e, IMSEC_LOG_INFO, S("de-registered IMPI "), imsec_str_c(t->impi),
          S(" on flow "), num(p, f->id), S("; binding removed"));
    }
    return;
  }
  strlist impus = {0}, routes = {0};
  imsec_sip_iter pi = IMSEC_SIP_ITER_INIT;
  int rv;
  while ((rv = imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSOCIATED_URI, &pi, &a)) ==
         1) {
    if (strlist_add(&impus, a.uri) < 0)
      goto fail;
  }
  if (!impus.n && strlist_add(&impus, imsec_str_c(t->to_uri)) < 0)
    goto fail;
  imsec_sip_iter si = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(m, IMSEC_SIP_H_SERVICE_ROUTE, &si, &v, NULL) ==
         1) {
    if (strlist_add(&routes, v) < 0)
      goto fail;
  }
  if (!b) {
    if (p->n_bindings >= p->cfg.max_bindings) {
      LOG(e, IMSEC_LOG_WARN, S("binding table full: IMPI "),
          imsec_str_c(t->impi), S(" on flow "), num(p, f->id), S(" not bound"));
      goto fail;
    }
    unbind_elsewhere(p, t->impi, f);
    b = calloc(1, sizeof(*b));
    if (!b || !(b->impi = dup_str(imsec_str_c(t->impi)))) {
      free(b);
      goto fail;
    }
    b->flow = f;
    b->next = f->bindings;
    f->bindings = b;
    p->n_bindings++;
  }
  char *contact = dup_str(imsec_str_c(t->contact));
  if (!contact) {
    binding_unlink(p, b);
    goto fail;
  }
  free(b->contact);
  b->contact = contact;
  strlist_free(&b->impus);
  strlist_free(&b->routes);
  b->impus = impus;
  b->routes = routes;
  b->dest = t->dest;
  b->expires_at = e->now + exp * 1000;
  arm(e, b->expires_at);
  (void)imsec_out_keep(e->out, f->id);
  LOG(e, IMSEC_LOG_INFO, S("registered IMPI "), imsec_str_c(b->impi),
      S(" IMPUs "), imsec_str_c(impus.buf), impus.n > 1 ? S(" ...") : S(""),
      S(" bound to flow "), num(p, f->id), S(" ("), addr_str(p, &f->peer),
      S("), expires in "), num(p, (uint64_t)exp), S(" s"));
  return;
fail:
  strlist_free(&impus);
  strlist_free(&routes);
  LOG(e, IMSEC_LOG_WARN, S("could not bind IMPI "), imsec_str_c(t->impi));
}

static void register_response(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  if (m->status == 401) {
    /* TS 24.229 §5.2.2.1: CK and IK are for the P-CSCF only (unused over
     * TLS); they never reach the UE. */
    static const char *const drop_keys[] = {"ck", "ik"};
    for (const imsec_sip_hdr *h =
             imsec_sip_hdr_first(m, IMSEC_SIP_H_WWW_AUTHENTICATE);
         h; h = imsec_sip_hdr_next(m, h)) {
      imsec_str nv;
      if (digest_rewrite(e, h->value, drop_keys, 2, S(""), &nv, NULL) == 0 &&
          imsec_sip_msg_replace(m, (size_t)(h - m->hdrs), nv) < 0)
        break;
    }
    if (t->sa_offered) {
      /* RFC 3329 §2.3.1: the server's list, echoed back by the UE. */
      flowrec *f = flow_find(p, t->in_flow);
      if (f && imsec_sip_msg_insert(m, m->nhdrs, S("Security-Server"),
                                    S(SEC_SERVER)) == 0)
        f->ss_sent = 1;
    }
  } else if (m->status >= 200 && m->status < 300) {
    register_ok(e, t, m);
  }
}

static int on_response(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  const imsec_sip_via *v;
  size_t slot;
  txn *t;
  if (imsec_sip_get_via(m, &v) < 0 || !(t = branch_find(p, v->branch, &slot))) {
    LOG(e, IMSEC_LOG_DEBUG, S("stray response on flow "), num(p, e->f->id),
        S(" dropped"));
    return 0;
  }
  /* Responses come from where the request went (RFC 3261 §18.1.2: the
   * response arrives on the connection the request was sent on): for a
   * UE's request, the one flow to its S-CSCF, not any core flow. */
  if (e->f->id != (t->from_ue ? t->out_flow : t->ue_flow)) {
    LOG(e, IMSEC_LOG_WARN, S("response on flow "), num(p, e->f->id),
        S(" for a transaction sent elsewhere; dropped"));
    return 0;
  }
  if (pop_top(m, IMSEC_SIP_H_VIA) < 0)
    return 0;
  if (m->status < 200) {
    if (m->status == 100)
      return 0; /* RFC 3261 §16.7 step 5: 100 is hop by hop */
  } else if (t->is_register) {
    register_response(e, t, m);
  }
  flowrec *back = flow_find(p, t->in_flow);
  if (back)
    send_flow(e, back->id, m);
  else
    LOG(e, IMSEC_LOG_DEBUG, S("response for a flow that is gone; dropped"));
  if (m->status >= 200)
    txn_clear(p, slot);
  return 0;
}

/* ------------------------------------------------------------ events */

static void ev_init(ev *e, imsec_pcscf *p, imsec_out *out, imsec_time_ms now) {
  e->p = p;
  e->out = out;
  e->now = now;
  e->f = NULL;
  p->arena_used = 0;
}

/* ------------------------------------------------------------ core peers */

static imsec_str no_dot(imsec_str s) {
  return s.len && s.p[s.len - 1] == '.' ? imsec_str_sub(s, 0, s.len - 1) : s;
}

/* TS 33.210 §5.2 (Za/Zb between network elements) with the name rule of
 * RFC 5922 §7.2: a tls: route's S-CSCF must present a chain that verified
 * against the core anchors and carry the route's name. On refusal: one log
 * line with the reason, the queued requests answered 503 (RFC 3261 §16.7)
 * and 1 returned. */
static int core_cert_refused(ev *e, dest *d, uint64_t flow,
                             const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  const imsec_trust_cert *c = info ? info->peer_cert : NULL;
  const char *name = d->name;
  const char *why = NULL;
  imsec_str detail = S("");
  imsec_str names[IMSEC_TRUST_MAX_NAMES];
  size_t n = 0;
  if (!c) {
    why = "no certificate";
  } else if (c->chain != IMSEC_CHAIN_OK) {
    why = c->chain == IMSEC_CHAIN_EXPIRED         ? "certificate expired"
          : c->chain == IMSEC_CHAIN_NOT_YET_VALID ? "certificate not yet valid"
          : c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH
              ? "not a server certificate (EKU)"
              : "chain invalid";
    detail = imsec_str_c(c->chain_detail);
  } else {
    n = imsec_trust_cert_names(c, names, IMSEC_TRUST_MAX_NAMES);
    if (n > IMSEC_TRUST_MAX_NAMES)
      n = IMSEC_TRUST_MAX_NAMES;
    size_t i = 0;
    while (i < n && !imsec_str_ieq(no_dot(names[i]), no_dot(imsec_str_c(name))))
      i++;
    if (i == n) {
      why = "name mismatch";
      detail = n ? names[0] : S("(no name)");
    }
  }
  if (!why) {
    LOG(e, IMSEC_LOG_INFO, S("S-CSCF "), addr_str(p, &d->addr),
        S(" presented "), imsec_str_c(name), S(" ("),
        imsec_str_c(info->tls_version ? info->tls_version : "TLS"), S(")"));
    return 0;
  }
  /* S() takes literals only: the optional pieces go through imsec_str_c. */
  LOG(e, IMSEC_LOG_WARN, S("refused S-CSCF "), addr_str(p, &d->addr),
      S(" on flow "), num(p, flow), S(": "), imsec_str_c(why),
      imsec_str_c(detail.len ? " (" : ""), detail,
      imsec_str_c(detail.len && n ? ", expected " : ""),
      imsec_str_c(n ? name : ""), imsec_str_c(detail.len ? ")" : ""), S("; "),
      num(p, d->qn), S(" queued request(s) answered 503"));
  d->connecting = 0;
  dest_drop(p, d, e);
  return 1;
}

/* An IP literal (IPv4 dotted or IPv6), not a host name. */
static int ip_literal(const char *h) {
  if (!*h)
    return 0;
  if (strchr(h, ':'))
    return 1;
  for (; *h; h++)
    if (*h != '.' && (*h < '0' || *h > '9'))
      return 0;
  return 1;
}

/* An inbound TLS flow on the core listener is an S-CSCF, not a UE. The
 * port alone does not say which listener took it (a UE listener may share
 * the core's port on another address): the host counts too when the core
 * address is an IP literal. */
static int is_core_listener(const imsec_pcscf *p, const imsec_flow_info *info) {
  if (!info || !info->inbound || p->cfg.core.tp != IMSEC_TP_TLS ||
      info->tp != IMSEC_TP_TLS || info->local.port != p->cfg.core.port)
    return 0;
  return !ip_literal(p->cfg.core.host) ||
         imsec_str_ieq(imsec_str_c(info->local.host),
                       imsec_str_c(p->cfg.core.host));
}

static const char *route_name(const imsec_pcscf_route *r);

/* 1 when `name` is an S-CSCF this P-CSCF knows: the name of a tls: route
 * (RFC 5922 §7.2: exact, case-insensitive, a trailing dot aside) or a
 * configured core peer. */
static int core_name_known(const imsec_pcscf *p, imsec_str name) {
  name = no_dot(name);
  for (size_t i = 0; i < p->cfg.n_routes; i++)
    if (p->cfg.routes[i].addr.tp == IMSEC_TP_TLS &&
        imsec_str_ieq(no_dot(imsec_str_c(route_name(&p->cfg.routes[i]))), name))
      return 1;
  for (size_t i = 0; i < p->cfg.n_core_peers; i++)
    if (imsec_str_ieq(no_dot(imsec_str_c(p->cfg.core_peers[i])), name))
      return 1;
  return 0;
}

/* TS 33.210 §5.2 (Za/Zb mutual TLS), TS 33.310 §6.1.3c, RFC 5922 §7: who
 * came in on the TLS core listener. The driver's TLS context verified the
 * chain against the core anchors, which a UE's certificate from the same
 * PKI also passes: a peer that may send responses and requests for UEs is
 * a network element (EKU serverAuth, checked with the chain, and
 * clientAuth) whose certificate names an S-CSCF this P-CSCF knows. One log
 * line either way; returns 1 when refused. */
static int core_peer_refused(ev *e, uint64_t flow,
                             const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  const imsec_trust_cert *c = info->peer_cert;
  imsec_str names[IMSEC_TRUST_MAX_NAMES];
  size_t n = c ? imsec_trust_cert_names(c, names, IMSEC_TRUST_MAX_NAMES) : 0;
  if (n > IMSEC_TRUST_MAX_NAMES)
    n = IMSEC_TRUST_MAX_NAMES;
  /* RFC 5922 §7.2: a wildcard is no identity. */
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (names[i].len && imsec_str_find(names[i], '*') < 0)
      names[k++] = names[i];
  n = k;
  imsec_str name = n ? names[0] : S("");
  const char *why = NULL;
  if (!c) {
    why = "presents no certificate";
  } else if (c->chain != IMSEC_CHAIN_OK) {
    why = c->chain == IMSEC_CHAIN_EXPIRED         ? "certificate expired"
          : c->chain == IMSEC_CHAIN_NOT_YET_VALID ? "certificate not yet valid"
          : c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH
              ? "not a network element certificate (EKU serverAuth)"
              : "chain invalid";
  } else if (!c->client_auth) {
    why = "not a client certificate (EKU clientAuth)";
  } else if (!n) {
    why = "presents a certificate without a name";
  } else {
    size_t i = 0;
    while (i < n && !core_name_known(p, names[i]))
      i++;
    if (i == n)
      why = "not a known S-CSCF (no tls: route or core peer of that name)";
    else
      name = names[i];
  }
  if (!why) {
    LOG(e, IMSEC_LOG_INFO, S("core flow "), num(p, flow), S(" from "),
        addr_str(p, &info->peer), S(" presents "), name, S(" ("),
        imsec_str_c(info->tls_version ? info->tls_version : "TLS"), S(")"));
    return 0;
  }
  LOG(e, IMSEC_LOG_WARN, S("refused core flow "), num(p, flow), S(" from "),
      addr_str(p, &info->peer), S(" ("), name.len ? name : S("no name"),
      S("): "), imsec_str_c(why));
  return 1;
}

/* A plain core listener is open to the addresses configured only (the
 * daemon's --insecure-core --peer-addr). */
static int plain_peer_refused(ev *e, uint64_t flow,
                              const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  /* No addresses: nobody (imsec_pcscf_new refuses a tcp core without). */
  if (!info || info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS)
    return 0;
  for (size_t i = 0; i < p->cfg.n_peer_addrs; i++)
    if (imsec_str_ieq(imsec_str_c(p->cfg.peer_addrs[i]),
                      imsec_str_c(info->peer.host)))
      return 0;
  LOG(e, IMSEC_LOG_WARN, S("refused core flow "), num(p, flow), S(" from "),
      addr_str(p, &info->peer), S(": not a configured peer address"));
  return 1;
}

int imsec_pcscf_on_flow_up(imsec_pcscf *p, uint64_t flow, uint64_t tag,
                           const imsec_flow_info *info, imsec_time_ms now,
                           imsec_out *out) {
  ev e;
  ev_init(&e, p, out, now);
  flowrec *f = flow_find(p, flow);
  if (tag) {
    if (tag > p->ndests)
      return IMSEC_ERR_INVAL;
    dest *d = &p->dests[tag - 1];
    if (d->addr.tp == IMSEC_TP_TLS && core_cert_refused(&e, d, flow, info))
      return IMSEC_ERR_AUTH;
    if (!f) {
      if (!(f = flow_add(p, flow)))
        return IMSEC_ERR_NOMEM;
    } else if (!f->core) {
      if (f->bindings)
        return IMSEC_ERR_STATE; /* a UE's flow handed to us as an S-CSCF */
      p->n_access--;
    }
    f->core = 1;
    if (info)
      f->peer = info->peer;
    d->flow = flow;
    d->connecting = 0;
    LOG(&e, IMSEC_LOG_INFO, S("connected to S-CSCF "), addr_str(p, &d->addr),
        S(" on flow "), num(p, flow));
    dest_flush(p, d, out);
    return 0;
  }
  if (f)
    return 0; /* already known (a reused flow) */
  int core = !(info && (info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS));
  if (!core && is_core_listener(p, info))
    core = 1;
  if (core && plain_peer_refused(&e, flow, info))
    return IMSEC_ERR_AUTH;
  if (core && info && info->tp == IMSEC_TP_TLS &&
      core_peer_refused(&e, flow, info))
    return IMSEC_ERR_AUTH;
  if (!core && p->n_access >= p->cfg.max_flows) {
    LOG(&e, IMSEC_LOG_WARN, S("refused flow "), num(p, flow),
        S(": too many UE flows"));
    return IMSEC_ERR_LIMIT;
  }
  if (!(f = flow_add(p, flow)))
    return IMSEC_ERR_NOMEM;
  f->core = core;
  if (info)
    f->peer = info->peer;
  if (info && !core)
    flow_set_local(f, info);
  if (imsec_random(p->crypto, f->nonce, sizeof(f->nonce)) < 0) {
    f->core = 1; /* not counted yet */
    flow_remove(p, f);
    return IMSEC_ERR_CRYPTO;
  }
  if (!core)
    p->n_access++;
  LOG(&e, IMSEC_LOG_DEBUG, core ? S("core") : S("UE"), S(" flow "),
      num(p, flow), S(" up from "), addr_str(p, &f->peer));
  return 0;
}

void imsec_pcscf_on_flow_down(imsec_pcscf *p, uint64_t flow, uint64_t tag,
                              int reason, imsec_time_ms now, imsec_out *out) {
  (void)reason;
  ev e;
  ev_init(&e, p, out, now);
  for (size_t i = 0; i < p->ndests; i++) {
    dest *d = &p->dests[i];
    if (flow && d->flow == flow) {
      d->flow = 0;
      d->connecting = 0;
      LOG(&e, IMSEC_LOG_WARN, S("lost the connection to S-CSCF "),
          addr_str(p, &d->addr), S("; reconnecting on the next message"));
    } else if (tag == i + 1 && !d->flow && d->connecting) {
      d->connecting = 0;
      LOG(&e, IMSEC_LOG_WARN, S("cannot connect to S-CSCF "),
          addr_str(p, &d->addr), S(": "), imsec_str_c(imsec_strerror(reason)),
          S("; "), num(p, d->qn), S(" queued messages dropped"));
      dest_drop(p, d, &e);
    }
  }
  flowrec *f = flow_find(p, flow);
  if (!f)
    return;
  size_t lost = 0;
  /* RFC 5626 §5.3: requests that went out on a UE flow now gone get 430;
   * requests that came in on it have nobody to answer. */
  for (size_t i = 0; i < p->hiwat; i++) {
    txn *t = &p->txns[i];
    if (!t->used)
      continue;
    if (!t->from_ue && t->ue_flow == flow) {
      txn_answer(&e, t, 430, "Flow Failed", 0);
      txn_clear(p, i);
    } else if (t->in_flow == flow) {
      txn_clear(p, i);
    } else if (t->from_ue && t->out_flow == flow) {
      /* RFC 3261 §16.9: the S-CSCF's connection failed under a request
       * that got no final answer (TLS 1.3: an S-CSCF refusing our client
       * certificate says so only after the request went out): as a 503. */
      txn_answer(&e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
      txn_clear(p, i);
      lost++;
    }
  }
  if (lost)
    LOG(&e, IMSEC_LOG_WARN, S("flow "), num(p, flow), S(": "), num(p, lost),
        S(" request(s) sent to the S-CSCF on it answered 503"));
  if (!f->core && f->bindings) {
    size_t n = 0;
    for (binding *b = f->bindings; b; b = b->next)
      n++;
    LOG(&e, IMSEC_LOG_INFO, S("flow "), num(p, flow), S(" ("),
        addr_str(p, &f->peer), S(") lost: "), num(p, n),
        S(" binding(s) removed"));
  }
  flow_remove(p, f);
}

static void sweep(ev *e) {
  imsec_pcscf *p = e->p;
  imsec_time_ms next = 0;
  for (size_t i = 0; i < p->hiwat; i++) {
    txn *t = &p->txns[i];
    if (!t->used)
      continue;
    if (t->deadline <= e->now) {
      /* RFC 3261 §16.8: no answer in time counts as a 408. */
      LOG(e, IMSEC_LOG_WARN, S("no answer in time for a request from flow "),
          num(p, t->in_flow), S("; 408"));
      txn_answer(e, t, 408, "Request Timeout", 0);
      txn_clear(p, i);
    } else if (!next || t->deadline < next) {
      next = t->deadline;
    }
  }
  for (size_t i = 0; i < p->nbuckets; i++) {
    for (flowrec *f = p->buckets[i]; f; f = f->next) {
      binding **pp = &f->bindings;
      while (*pp) {
        binding *b = *pp;
        if (b->expires_at <= e->now) {
          LOG(e, IMSEC_LOG_INFO, S("registration of IMPI "),
              imsec_str_c(b->impi), S(" on flow "), num(p, f->id),
              S(" expired; binding removed"));
          *pp = b->next;
          binding_free(p, b);
          continue;
        }
        if (!next || b->expires_at < next)
          next = b->expires_at;
        pp = &b->next;
      }
    }
  }
  p->timer_at = 0;
  if (next)
    arm(e, next);
}

void imsec_pcscf_on_timer(imsec_pcscf *p, uint64_t timer, imsec_time_ms now,
                          imsec_out *out) {
  ev e;
  ev_init(&e, p, out, now);
  if (timer != TIMER_SWEEP)
    return;
  sweep(&e);
}

void imsec_pcscf_on_message(imsec_pcscf *p, uint64_t flow, const uint8_t *msg,
                            size_t len, imsec_time_ms now, imsec_out *out) {
  ev e;
  ev_init(&e, p, out, now);
  e.f = flow_find(p, flow);
  if (!e.f) {
    LOG(&e, IMSEC_LOG_WARN, S("message on unknown flow "), num(p, flow),
        S(" dropped"));
    return;
  }
  if (len > p->cfg.max_msg) {
    LOG(&e, IMSEC_LOG_WARN, S("oversized message on flow "), num(p, flow),
        S(" dropped"));
    return;
  }
  memcpy(p->in, msg, len);
  imsec_sip_msg *m = &p->m;
  int rv = imsec_sip_parse(m, p->in, len, 1);
  if (rv < 0) {
    refuse_unparsable(&e, rv, msg, len);
    return;
  }
  if (!m->is_request) {
    /* A response that fails the checks (a bare CR, a malformed field) is
     * never relayed. */
    if (imsec_sip_check(m) < 0) {
      refuse_unparsable(&e, IMSEC_ERR_PARSE, msg, len);
      return;
    }
    (void)on_response(&e, m);
    return;
  }
  if (imsec_sip_check(m) < 0) {
    (void)refuse(&e, m, m->diag.status ? m->diag.status : 400,
                 m->diag.reason ? m->diag.reason : "Bad Request",
                 "malformed request");
    return;
  }
  if (mark_via(&e, m) < 0)
    return;
  if (e.f->core) {
    (void)core_request(&e, m);
    return;
  }
  uint32_t mf;
  if (imsec_sip_get_max_forwards(m, &mf) == 0 && mf == 0) {
    (void)refuse(&e, m, 483, "Too Many Hops", "Max-Forwards 0");
    return;
  }
  if (m->method_id == IMSEC_SIP_M_REGISTER)
    (void)ue_register(&e, m);
  else
    (void)ue_request(&e, m);
}

/* ------------------------------------------------------------ bad input */

/* A message that did not parse, or a response that failed the checks
 * (m->diag says why): a request is answered (400, 513), the rest is
 * dropped; logged within the budget. */
static void refuse_unparsable(ev *e, int rv, const uint8_t *msg, size_t len) {
  imsec_pcscf *p = e->p;
  char tag[16];
  sb t = {tag, 0, sizeof(tag) - 1, 0};
  sb_putc(&t, "pc");
  sb_u64(&t, ++p->tag_seq);
  tag[t.len] = 0;
  (void)imsec_elem_refuse_input(e->out, &p->bad_rate, e->now, e->f->id, rv,
                                &p->m.diag, msg, len, "imsec-pcscf", tag);
}

void imsec_pcscf_on_refused(imsec_pcscf *p, uint64_t flow, int reason,
                            const uint8_t *head, size_t len, imsec_time_ms now,
                            imsec_out *out) {
  if (!p || !out)
    return;
  char tag[16];
  sb t = {tag, 0, sizeof(tag) - 1, 0};
  sb_putc(&t, "pc");
  sb_u64(&t, ++p->tag_seq);
  tag[t.len] = 0;
  (void)imsec_elem_refuse_input(out, &p->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-pcscf", tag);
}

/* RFC 3261 §18.2.1, RFC 3581 §4: received and rport on the top Via of a
 * request, from the address it came from. The S-CSCF counts its flood
 * limits by this mark, so a request that cannot be marked is answered
 * here, never forwarded with what the sender wrote. Returns 0, or -1 when
 * it was refused. */
static int mark_via(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  const imsec_addr *src = &e->f->peer;
  if (!src->host[0])
    return 0;
  size_t room = ARENA - p->arena_used;
  char *buf = p->arena + p->arena_used;
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
  int rv = IMSEC_ERR_NOBUF;
  if (h && h->value.len + 80 <= room)
    rv = imsec_sip_via_mark_received(m, imsec_str_c(src->host), src->port, buf,
                                     h->value.len + 80);
  if (rv == IMSEC_ERR_LIMIT) {
    (void)refuse(e, m, 400, "Via has too many parameters", "Via marks");
    return -1;
  }
  if (rv == IMSEC_ERR_PARSE || rv == IMSEC_ERR_NOTFOUND) {
    (void)refuse(e, m, 400, "Bad Request", "Via marks");
    return -1;
  }
  if (rv < 0) {
    (void)refuse(e, m, 500, "Server Internal Error", "no room for Via marks");
    return -1;
  }
  if (rv == 1) {
    const imsec_sip_hdr *nh = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
    p->arena_used += nh ? nh->value.len : 0;
  }
  return 0;
}

/* ------------------------------------------------------------ lifetime */

int imsec_pcscf_new(imsec_pcscf **out, const imsec_pcscf_config *cfg,
                    imsec_crypto *crypto) {
  if (!out || !cfg || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (!cfg->core.host[0] || !cfg->core.port ||
      (cfg->core.tp != IMSEC_TP_TCP && cfg->core.tp != IMSEC_TP_TLS) ||
      cfg->n_routes > IMSEC_PCSCF_MAX_ROUTES ||
      cfg->n_peer_addrs > IMSEC_PCSCF_MAX_PEERS ||
      cfg->n_core_peers > IMSEC_PCSCF_MAX_PEERS)
    return IMSEC_ERR_CONFIG;
  /* A plain core listener without addresses would take anyone's word
   * for a UE's identity (RFC 3325 §2.3). */
  if (cfg->core.tp == IMSEC_TP_TCP && !cfg->n_peer_addrs)
    return IMSEC_ERR_CONFIG;
  /* A wildcard is no address for Via and Path, and a flow's local address
   * would never match it (is_core_listener). */
  if (!strcmp(cfg->core.host, "0.0.0.0") || /* no secret: config text */
      !strcmp(cfg->core.host, "::"))
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < cfg->n_core_peers; i++)
    if (!cfg->core_peers[i][0] ||
        !memchr(cfg->core_peers[i], 0, sizeof(cfg->core_peers[i])) ||
        strchr(cfg->core_peers[i], '*'))
      return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < cfg->n_routes; i++)
    if (!cfg->routes[i].domain[0] || !cfg->routes[i].addr.host[0])
      return IMSEC_ERR_CONFIG;
  int rv = IMSEC_ERR_NOMEM;
  imsec_pcscf *p = calloc(1, sizeof(*p));
  if (!p)
    goto fail_alloc;
  p->cfg = *cfg;
  p->crypto = crypto;
  imsec_pcscf_config *c = &p->cfg;
  if (!c->max_flows)
    c->max_flows = 65536;
  if (!c->max_bindings)
    c->max_bindings = 65536;
  if (!c->max_transactions)
    c->max_transactions = 4096;
  if (c->max_transactions > UINT32_MAX)
    c->max_transactions = UINT32_MAX;
  if (!c->max_queue)
    c->max_queue = 256;
  if (c->transaction_timeout_ms <= 0)
    c->transaction_timeout_ms = 32000;
  if (!c->max_msg)
    c->max_msg = 65536;
  c->visited_network[sizeof(c->visited_network) - 1] = 0;
  c->core.host[sizeof(c->core.host) - 1] = 0;
  for (size_t i = 0; i < c->n_peer_addrs; i++)
    c->peer_addrs[i][sizeof(c->peer_addrs[i]) - 1] = 0;
  sb hb = {p->host_uri, 0, sizeof(p->host_uri) - 1, 0};
  int v6 = imsec_str_find(imsec_str_c(c->core.host), ':') >= 0;
  sb_putc(&hb, v6 ? "[" : "");
  sb_putc(&hb, c->core.host);
  sb_putc(&hb, v6 ? "]" : "");
  p->host_uri[hb.len] = 0;
  /* One destination per distinct S-CSCF address (one connection each). */
  for (size_t i = 0; i < c->n_routes; i++) {
    c->routes[i].domain[sizeof(c->routes[i].domain) - 1] = 0;
    const imsec_addr *a = &c->routes[i].addr;
    size_t d = 0;
    c->routes[i].name[sizeof(c->routes[i].name) - 1] = 0;
    /* RFC 5922 §7.2: without a name of its own a route checks its host. */
    const char *nm = c->routes[i].name[0] ? c->routes[i].name : a->host;
    while (d < p->ndests &&
           !(p->dests[d].addr.tp == a->tp && p->dests[d].addr.port == a->port &&
             imsec_str_ieq(imsec_str_c(p->dests[d].addr.host),
                           imsec_str_c(a->host)) &&
             imsec_str_ieq(imsec_str_c(p->dests[d].name), imsec_str_c(nm))))
      d++;
    if (d == p->ndests) {
      p->dests[p->ndests].addr = *a;
      memcpy(p->dests[p->ndests].name, nm, sizeof(p->dests[0].name));
      p->ndests++;
    }
    p->route_dest[i] = d;
  }
  p->nbuckets = 64;
  while (p->nbuckets < c->max_flows / 2 && p->nbuckets < (1u << 16))
    p->nbuckets <<= 1;
  p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
  if (!p->buckets)
    goto fail_buckets;
  p->txns = calloc(c->max_transactions, sizeof(*p->txns));
  p->free_slots = calloc(c->max_transactions, sizeof(*p->free_slots));
  if (!p->txns || !p->free_slots)
    goto fail_txns;
  for (size_t i = 0; i < c->max_transactions; i++)
    p->free_slots[i] = (uint32_t)(c->max_transactions - 1 - i);
  p->nfree = c->max_transactions;
  p->outcap = c->max_msg + 16384;
  p->in = malloc(c->max_msg + 1);
  p->outbuf = malloc(p->outcap);
  if (!p->in || !p->outbuf)
    goto fail_bufs;
  rv = imsec_random(crypto, p->key, sizeof(p->key));
  if (rv < 0)
    goto fail_key;
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  lim.max_msg = c->max_msg;
  imsec_sip_msg_init(&p->m, &lim);
  *out = p;
  return 0;
fail_key:
fail_bufs:
  free(p->in);
  free(p->outbuf);
fail_txns:
  free(p->txns);
  free(p->free_slots);
  free(p->buckets);
fail_buckets:
  free(p);
fail_alloc:
  return rv;
}

void imsec_pcscf_del(imsec_pcscf *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->nbuckets; i++) {
    while (p->buckets[i])
      flow_remove(p, p->buckets[i]);
  }
  for (size_t i = 0; i < p->hiwat; i++)
    if (p->txns[i].used)
      txn_clear(p, i);
  for (size_t i = 0; i < p->ndests; i++)
    dest_drop(p, &p->dests[i], NULL);
  imsec_sip_msg_free(&p->m);
  imsec_wipe(p->key, sizeof(p->key));
  free(p->buckets);
  free(p->txns);
  free(p->free_slots);
  free(p->in);
  free(p->outbuf);
  free(p);
}

/* The name a route's S-CSCF certificate must carry: its own, else its
 * host (RFC 5922 §7.2). */
static const char *route_name(const imsec_pcscf_route *r) {
  return r->name[0] ? r->name : r->addr.host;
}

/* The destination for the S-CSCF of route `r` (its address and the name
 * its certificate must carry, as imsec_pcscf_new keys them): one already
 * known (its connection, queue and the bindings that name it stay), or a
 * new one when `add` is set; -1 when there is none (or no room). */
static long dest_index(imsec_pcscf *p, const imsec_pcscf_route *r, int add) {
  const imsec_addr *a = &r->addr;
  const char *nm = route_name(r);
  for (size_t d = 0; d < p->ndests; d++)
    if (p->dests[d].addr.tp == a->tp && p->dests[d].addr.port == a->port &&
        imsec_str_ieq(imsec_str_c(p->dests[d].addr.host),
                      imsec_str_c(a->host)) &&
        imsec_str_ieq(imsec_str_c(p->dests[d].name), imsec_str_c(nm)))
      return (long)d;
  if (!add || p->ndests >= IMSEC_PCSCF_MAX_ROUTES)
    return -1;
  memset(&p->dests[p->ndests], 0, sizeof(p->dests[0]));
  p->dests[p->ndests].addr = *a;
  size_t nl = strlen(nm);
  if (nl >= sizeof(p->dests[0].name))
    nl = sizeof(p->dests[0].name) - 1;
  memcpy(p->dests[p->ndests].name, nm, nl);
  return (long)p->ndests++;
}

int imsec_pcscf_set_routes(imsec_pcscf *p, const imsec_pcscf_route *routes,
                           size_t n) {
  if (!p || (n && !routes))
    return IMSEC_ERR_INVAL;
  if (n > IMSEC_PCSCF_MAX_ROUTES)
    return IMSEC_ERR_CONFIG;
  size_t fresh = 0;
  for (size_t i = 0; i < n; i++) {
    if (!routes[i].domain[0] ||
        !memchr(routes[i].domain, 0, sizeof(routes[i].domain)) ||
        !memchr(routes[i].name, 0, sizeof(routes[i].name)) ||
        !routes[i].addr.host[0])
      return IMSEC_ERR_CONFIG;
    /* Destinations are never removed (bindings and pending requests name
     * them by index): count the addresses not seen yet, once each. */
    int seen = dest_index(p, &routes[i], 0) >= 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = routes[j].addr.tp == routes[i].addr.tp &&
             routes[j].addr.port == routes[i].addr.port &&
             imsec_str_ieq(imsec_str_c(routes[j].addr.host),
                           imsec_str_c(routes[i].addr.host)) &&
             imsec_str_ieq(imsec_str_c(route_name(&routes[j])),
                           imsec_str_c(route_name(&routes[i])));
    fresh += !seen;
  }
  if (p->ndests + fresh > IMSEC_PCSCF_MAX_ROUTES)
    return IMSEC_ERR_LIMIT;
  for (size_t i = 0; i < n; i++) {
    p->cfg.routes[i] = routes[i];
    p->route_dest[i] = (size_t)dest_index(p, &routes[i], 1);
  }
  p->cfg.n_routes = n;
  return 0;
}

void imsec_pcscf_stats_get(const imsec_pcscf *p, imsec_pcscf_stats *out) {
  out->flows = p->n_access;
  out->bindings = p->n_bindings;
  out->transactions = p->n_txn;
  out->queued = p->queued;
}

int imsec_pcscf_binding_flow(const imsec_pcscf *p, imsec_str impu,
                             uint64_t *flow) {
  for (size_t i = 0; i < p->nbuckets; i++) {
    for (flowrec *f = p->buckets[i]; f; f = f->next) {
      if (impu_bound(f, impu)) {
        *flow = f->id;
        return 0;
      }
    }
  }
  return IMSEC_ERR_NOTFOUND;
}
