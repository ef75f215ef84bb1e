/*
 * The P-CSCF's datagram leg towards UEs: SIP over DTLS on UDP
 * (draft-jennings-sip-dtls). DTLS records are lost like UDP datagrams, so
 * on an access flow whose transport is DTLS the RFC 3261 §17 transactions
 * (lib/sip/txn.c) stand where TCP's retransmissions stand under TLS:
 *  - server transactions for requests from the UE (§17.2.2, figure 8): a
 *    retransmitted REGISTER or MESSAGE is absorbed; when its answer is
 *    known already the answer goes out again, else it is dropped while the
 *    core works on the first copy; Timer J keeps the answer 64*T1;
 *  - client transactions for requests the P-CSCF sends to the UE (§17.1.2,
 *    figure 6; §17.1.1, figure 5 for an INVITE): sent again on Timer E (A)
 *    until the UE answers; Timer F (B) answers 408 towards the core
 *    (§8.1.3.1, §16.7 step 2); the UE's retransmitted answers are absorbed
 *    (Timer K, D);
 *  - a message larger than one DTLS record (16 KiB, RFC 6347 §4.1.1; net/
 *    would refuse the send with IMSEC_ERR_LIMIT) never goes out: a request
 *    from the core gets 513 Message Too Large (RFC 3261 §21.5.14) back
 *    (pc_send_flow, pc_core_request), a response is dropped with a line;
 *  - keep-alive (RFC 5626 §4.4.2, §3.5.2): a STUN Binding request (RFC
 *    5389) inside the association is answered with a Binding success
 *    response carrying XOR-MAPPED-ADDRESS (the UE's address as seen here).
 *    DTLS has no FIN: an association quiet for dtls_idle_timeout_ms (no
 *    SIP, no STUN) is closed here, with its registration binding (net/
 *    stops timing a flow out once the element KEEPs it).
 * Everything here is keyed by flow: a transaction on one association never
 * matches a message from another.
 */
#include "imsec/sip_txn.h"
#include "lib/pcscf/pcscf_int.h"

#define DG_KEY 200
#define STUN_COOKIE 0x2112A442u
#define STUN_HDR 20
/* Datagram transactions one association may hold at once: a UE has a
 * handful in flight; answered requests stay 64*T1 (Timer J), so without a
 * share one UE's flood of distinct requests would take the table every
 * UE's retransmission handling shares. */
#define DG_PER_FLOW 64

typedef struct dgx {
  uint64_t flow;
  int server;
  char key[DG_KEY];
  imsec_sip_txn t;
  uint8_t *bytes; /* client: the request; server: the last response */
  size_t len;
  uint64_t txn_id; /* client: the proxy transaction it carries (has_txn) */
  int has_txn;
  /* server: forgotten by then even if no answer ever went out (the proxy
   * answers within its transaction timeout, or drops the request) */
  imsec_time_ms expire_at;
} dgx;

typedef struct seen {
  imsec_time_ms last; /* last datagram from the UE */
} seen;

struct pc_dgram {
  dgx **v;
  size_t n, cap;
  imsec_map seen; /* flow id -> seen, DTLS access flows */
  imsec_time_ms armed;
};

static struct pc_dgram *dg_get(imsec_pcscf *p) {
  if (!p->dg && (p->dg = calloc(1, sizeof *p->dg)))
    imsec_map_init_u64(&p->dg->seen);
  return p->dg;
}

static void dgx_free(dgx *x) {
  if (!x)
    return;
  free(x->bytes);
  free(x);
}

static void dg_remove(struct pc_dgram *d, size_t i) {
  dgx_free(d->v[i]);
  d->v[i] = d->v[--d->n];
}

void pc_dgram_free(imsec_pcscf *p) {
  struct pc_dgram *d = p->dg;
  if (!d)
    return;
  for (size_t i = 0; i < d->n; i++)
    dgx_free(d->v[i]);
  free(d->v);
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&d->seen, &it))) {
    seen *w = s->val;
    (void)imsec_map_del_at(&d->seen, &it);
    free(w);
  }
  imsec_map_free(&d->seen);
  free(d);
  p->dg = NULL;
}

size_t pc_dgram_count(const imsec_pcscf *p) {
  return p->dg ? p->dg->n : 0;
}

static dgx *dg_find(imsec_pcscf *p, uint64_t flow, const char *key,
                    int server) {
  struct pc_dgram *d = p->dg;
  if (!d)
    return NULL;
  for (size_t i = 0; i < d->n; i++) {
    dgx *x = d->v[i];
    if (x->flow == flow && x->server == server &&
        strcmp(x->key, key) == 0) /* no secret: a Via branch and method */
      return x;
  }
  return NULL;
}

static dgx *dg_add(ev *e, uint64_t flow, const char *key, int server) {
  imsec_pcscf *p = e->p;
  struct pc_dgram *d = dg_get(p);
  if (!d)
    return NULL;
  /* Bounded like the proxy's own table: a flood of distinct branches
   * cannot grow it without end. */
  if (d->n >= p->cfg.max_transactions) {
    LOG(e, IMSEC_LOG_WARN,
        S("datagram transaction table full: no retransmission handling for "
          "a message on flow "),
        pc_num(p, flow));
    return NULL;
  }
  size_t mine = 0;
  for (size_t i = 0; i < d->n; i++)
    mine += d->v[i]->flow == flow;
  if (mine >= DG_PER_FLOW) {
    /* the sender sets the pace: lines within the refused-input budget */
    if (imsec_lograte_take(&p->bad_rate, e->now, NULL))
      LOG(e, IMSEC_LOG_WARN, S("datagram transactions of flow "),
          pc_num(p, flow), S(" at their share ("), pc_num(p, DG_PER_FLOW),
          S("): no retransmission handling for this message"));
    return NULL;
  }
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 16;
    dgx **v = realloc(d->v, cap * sizeof *v);
    if (!v)
      return NULL;
    d->v = v;
    d->cap = cap;
  }
  dgx *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->flow = flow;
  x->server = server;
  memcpy(x->key, key, strlen(key) + 1);
  d->v[d->n++] = x;
  return x;
}

static void dg_drop(imsec_pcscf *p, dgx *x) {
  struct pc_dgram *d = p->dg;
  for (size_t i = 0; d && i < d->n; i++)
    if (d->v[i] == x) {
      dg_remove(d, i);
      return;
    }
}

/* The next deadline: the earliest transaction timer, and an idle scan a
 * quarter of the idle limit after the quietest flow's last datagram. */
static void dg_arm(ev *e) {
  imsec_pcscf *p = e->p;
  struct pc_dgram *d = p->dg;
  if (!d)
    return;
  imsec_time_ms next = 0;
  for (size_t i = 0; i < d->n; i++) {
    imsec_time_ms at = imsec_sip_txn_next(&d->v[i]->t);
    if (!at || (d->v[i]->expire_at && d->v[i]->expire_at < at))
      at = d->v[i]->expire_at;
    if (at && (!next || at < next))
      next = at;
  }
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&d->seen, &it))) {
    const seen *w = s->val;
    imsec_time_ms at = w->last + p->cfg.dtls_idle_timeout_ms;
    if (!next || at < next)
      next = at;
  }
  if (next == d->armed)
    return;
  d->armed = next;
  (void)imsec_out_timer(e->out, TIMER_DGRAM, next);
}

static void touch(ev *e, uint64_t flow) {
  struct pc_dgram *d = dg_get(e->p);
  if (!d)
    return;
  seen *w = imsec_map_get(&d->seen, flow);
  if (!w) {
    if (!(w = calloc(1, sizeof *w)))
      return;
    if (imsec_map_put(&d->seen, flow, w, NULL) < 0) {
      free(w);
      return;
    }
  }
  w->last = e->now;
}

void pc_dgram_flow_up(ev *e, flowrec *f) {
  touch(e, f->id);
  dg_arm(e);
}

void pc_dgram_flow_down(imsec_pcscf *p, uint64_t flow) {
  struct pc_dgram *d = p->dg;
  if (!d)
    return;
  for (size_t i = 0; i < d->n;)
    if (d->v[i]->flow == flow)
      dg_remove(d, i);
    else
      i++;
  free(imsec_map_del(&d->seen, flow));
}

/* ------------------------------------------------------------------ STUN */

static int parse_v4(const char *h, uint8_t out[4]) {
  for (int i = 0; i < 4; i++) {
    unsigned v = 0, n = 0;
    while (*h >= '0' && *h <= '9' && n < 4) {
      v = v * 10 + (unsigned)(*h++ - '0');
      n++;
    }
    if (!n || v > 255 || (i < 3 && *h++ != '.'))
      return -1;
    out[i] = (uint8_t)v;
  }
  return *h ? -1 : 0;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* RFC 4291 §2.2 text form (no embedded IPv4). */
static int parse_v6(const char *h, uint8_t out[16]) {
  uint16_t w[8] = {0};
  int n = 0, gap = -1;
  if (h[0] == ':' && h[1] == ':') {
    gap = 0;
    h += 2;
  }
  while (*h && n < 8) {
    unsigned v = 0;
    int k = 0;
    while (hexv(*h) >= 0 && k < 4) {
      v = v * 16 + (unsigned)hexv(*h++);
      k++;
    }
    if (!k)
      return -1;
    w[n++] = (uint16_t)v;
    if (*h == ':') {
      h++;
      if (*h == ':') {
        if (gap >= 0)
          return -1;
        gap = n;
        h++;
      } else if (!*h) {
        return -1;
      }
    } else if (*h) {
      return -1;
    }
  }
  if (*h || (gap < 0 && n != 8) || (gap >= 0 && n > 7))
    return -1;
  uint16_t full[8] = {0};
  if (gap < 0) {
    memcpy(full, w, sizeof full);
  } else {
    for (int i = 0; i < gap; i++)
      full[i] = w[i];
    for (int i = gap; i < n; i++)
      full[8 - (n - i)] = w[i];
  }
  for (int i = 0; i < 8; i++) {
    out[2 * i] = (uint8_t)(full[i] >> 8);
    out[2 * i + 1] = (uint8_t)full[i];
  }
  return 0;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

int pc_stun_is(const uint8_t *msg, size_t len) {
  /* RFC 5389 §6: the top two bits zero, the magic cookie, a length that
   * is the rest of the message and a multiple of 4. A SIP message starts
   * with a letter, so the two never mix up (RFC 5626 §5.4 / RFC 7983). */
  return len >= STUN_HDR && (msg[0] & 0xC0) == 0 &&
         be32(msg + 4) == STUN_COOKIE &&
         (size_t)((msg[2] << 8) | msg[3]) == len - STUN_HDR &&
         (len - STUN_HDR) % 4 == 0;
}

/* A Binding success response to `req` for a peer at `a`: RFC 5389 §7.3.1,
 * §15.2 XOR-MAPPED-ADDRESS. Returns its length, 0 when the address cannot
 * be written. */
size_t pc_stun_answer(const uint8_t *req, const imsec_addr *a, uint8_t *out,
                      size_t cap) {
  uint8_t ip[16];
  int v6 = 0;
  if (parse_v4(a->host, ip) != 0) {
    if (parse_v6(a->host, ip) != 0)
      return 0;
    v6 = 1;
  }
  size_t alen = v6 ? 20 : 8;
  size_t n = STUN_HDR + 4 + alen;
  if (cap < n)
    return 0;
  out[0] = 0x01; /* Binding success response */
  out[1] = 0x01;
  out[2] = 0;
  out[3] = (uint8_t)(4 + alen);
  memcpy(out + 4, req + 4, 16); /* cookie and transaction ID */
  uint8_t *t = out + STUN_HDR;
  t[0] = 0x00; /* XOR-MAPPED-ADDRESS */
  t[1] = 0x20;
  t[2] = 0;
  t[3] = (uint8_t)alen;
  t[4] = 0;
  t[5] = v6 ? 0x02 : 0x01;
  uint16_t xport = (uint16_t)(a->port ^ (STUN_COOKIE >> 16));
  t[6] = (uint8_t)(xport >> 8);
  t[7] = (uint8_t)xport;
  for (size_t i = 0; i < (v6 ? 16u : 4u); i++)
    t[8 + i] = ip[i] ^ req[4 + i]; /* cookie, then the transaction ID */
  return n;
}

/* ------------------------------------------------------------------ input */

int pc_dgram_raw(ev *e, const uint8_t *msg, size_t len) {
  touch(e, e->f->id);
  dg_arm(e);
  if (!pc_stun_is(msg, len))
    return 0;
  /* RFC 5626 §4.4.2: the keep-alive of a datagram flow; only a Binding
   * request is answered, anything else of STUN's is dropped. */
  if (msg[0] == 0x00 && msg[1] == 0x01) {
    uint8_t ans[64];
    size_t n = pc_stun_answer(msg, &e->f->peer, ans, sizeof ans);
    if (n)
      (void)imsec_out_send(e->out, e->f->id, ans, n);
    LOG(e, IMSEC_LOG_DEBUG, S("STUN keep-alive on flow "),
        pc_num(e->p, e->f->id), n ? S(" answered") : S(" (no address)"));
  }
  return 1;
}

int pc_dgram_request(ev *e, imsec_sip_msg *m) {
  char key[DG_KEY];
  if (imsec_sip_txn_key(m, 1, key, sizeof key) < 0)
    return 0; /* no RFC 3261 branch: handled as it comes */
  int ack = m->method_id == IMSEC_SIP_M_ACK;
  dgx *x = dg_find(e->p, e->f->id, key, 1);
  if (!x) {
    if (ack)
      return 0;
    if ((x = dg_add(e, e->f->id, key, 1))) {
      (void)imsec_sip_txn_server(&x->t,
                                 m->method_id == IMSEC_SIP_M_INVITE
                                     ? IMSEC_TXN_SERVER_INVITE
                                     : IMSEC_TXN_SERVER_NON_INVITE,
                                 0, &e->p->sip_timers, e->now);
      x->expire_at =
          e->now + e->p->cfg.transaction_timeout_ms + 64 * e->p->sip_timers.t1;
    }
    return 0; /* the first copy: to the proxy */
  }
  int f = imsec_sip_txn_on_request(&x->t, ack, e->now);
  if ((f & IMSEC_TXN_RESEND_RESPONSE) && x->bytes) {
    LOG(e, IMSEC_LOG_INFO, S("retransmitted "), m->method, S(" on flow "),
        pc_num(e->p, e->f->id), S(" absorbed; answer sent again"));
    (void)imsec_out_send(e->out, e->f->id, x->bytes, x->len);
  } else {
    LOG(e, IMSEC_LOG_INFO, S("retransmitted "), m->method, S(" on flow "),
        pc_num(e->p, e->f->id), S(" absorbed (no answer yet)"));
  }
  if (f & IMSEC_TXN_DONE)
    dg_drop(e->p, x);
  dg_arm(e);
  return 1;
}

int pc_dgram_response(ev *e, imsec_sip_msg *m) {
  char key[DG_KEY];
  if (imsec_sip_txn_key(m, 0, key, sizeof key) < 0)
    return 0;
  dgx *x = dg_find(e->p, e->f->id, key, 0);
  if (!x)
    return 0; /* the proxy drops what it does not know */
  int f = imsec_sip_txn_on_response(&x->t, m->status, e->now);
  if (f & IMSEC_TXN_DONE)
    dg_drop(e->p, x);
  dg_arm(e);
  if (f & IMSEC_TXN_ABSORB) {
    LOG(e, IMSEC_LOG_DEBUG, S("retransmitted response on flow "),
        pc_num(e->p, e->f->id), S(" absorbed"));
    return 1;
  }
  return 0;
}

/* One SEND of this event to a DTLS access flow: a request opens a client
 * transaction with a copy; a response becomes the last answer of its
 * server transaction. */
static void take_send(ev *e, const imsec_act *a) {
  imsec_pcscf *p = e->p;
  if (a->len > p->cfg.max_msg || pc_stun_is(a->data, a->len))
    return;
  char *buf = malloc(a->len ? a->len : 1);
  if (!buf)
    return;
  memcpy(buf, a->data, a->len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  char key[DG_KEY];
  if (imsec_sip_parse(&m, buf, a->len, 0) < 0 ||
      imsec_sip_txn_key(&m, 0, key, sizeof key) < 0)
    goto done;
  if (!m.is_request) {
    dgx *x = dg_find(p, a->flow, key, 1);
    if (!x)
      goto done;
    int f = imsec_sip_txn_send_response(&x->t, m.status, e->now);
    if (f < 0)
      goto done;
    uint8_t *copy = malloc(a->len);
    if (copy) {
      memcpy(copy, a->data, a->len);
      free(x->bytes);
      x->bytes = copy;
      x->len = a->len;
    }
    if (f & IMSEC_TXN_DONE)
      dg_drop(p, x);
    goto done;
  }
  if (m.method_id == IMSEC_SIP_M_ACK)
    goto done;
  dgx *x = dg_find(p, a->flow, key, 0);
  if (x)
    goto done; /* our own retransmission (Timer E/A) */
  if (!(x = dg_add(e, a->flow, key, 0)) || !(x->bytes = malloc(a->len))) {
    if (x)
      dg_drop(p, x);
    goto done;
  }
  memcpy(x->bytes, a->data, a->len);
  x->len = a->len;
  const imsec_sip_via *v;
  txn *t;
  if (imsec_sip_get_via(&m, &v) == 0 && (t = pc_branch_find(p, v->branch))) {
    x->txn_id = t->id;
    x->has_txn = 1;
  }
  imsec_sip_txn_client(&x->t,
                       m.method_id == IMSEC_SIP_M_INVITE
                           ? IMSEC_TXN_CLIENT_INVITE
                           : IMSEC_TXN_CLIENT_NON_INVITE,
                       0, &p->sip_timers, e->now);
  /* An INVITE answered provisionally has no timer left (RFC 3261 figure
   * 5: Proceeding waits for the TU): a UE that never answers finally
   * must not pin the slot, so it goes with the proxy's own transaction. */
  x->expire_at = e->now + p->cfg.transaction_timeout_ms + 64 * p->sip_timers.t1;
done:
  imsec_sip_msg_free(&m);
  free(buf);
}

void pc_dgram_after(imsec_pcscf *p, imsec_out *out, size_t from,
                    imsec_time_ms now) {
  if (!p->dg || !imsec_map_len(&p->dg->seen))
    return; /* no DTLS access flow */
  ev e = {.p = p, .out = out, .now = now};
  size_t n = out->n;
  for (size_t i = from; i < n; i++) {
    const imsec_act *a = &out->acts[i];
    if (a->kind != IMSEC_ACT_SEND || !a->len)
      continue;
    flowrec *f = pc_flow_find(p, a->flow);
    if (f && f->dgram && !f->core)
      take_send(&e, a);
  }
  dg_arm(&e);
}

int pc_dgram_too_big(ev *e, uint64_t flow, size_t len) {
  flowrec *f = pc_flow_find(e->p, flow);
  if (!f || !f->dgram || len <= IMSEC_PCSCF_DTLS_MAX)
    return 0;
  LOG(e, IMSEC_LOG_WARN, S("message of "), pc_num(e->p, len),
      S(" octets does not fit one DTLS record to flow "), pc_num(e->p, flow),
      S(" (at most "), pc_num(e->p, IMSEC_PCSCF_DTLS_MAX), S("); not sent"));
  return 1;
}

void pc_dgram_timer(ev *e) {
  imsec_pcscf *p = e->p;
  struct pc_dgram *d = p->dg;
  if (!d)
    return;
  d->armed = 0;
  for (size_t i = 0; i < d->n;) {
    dgx *x = d->v[i];
    imsec_time_ms at = imsec_sip_txn_next(&x->t);
    int f = at && e->now >= at ? imsec_sip_txn_on_timer(&x->t, e->now) : 0;
    if ((f & (IMSEC_TXN_RETRANSMIT | IMSEC_TXN_RESEND_RESPONSE)) && x->bytes) {
      char tmr[2] = {x->t.fired, 0};
      LOG(e, IMSEC_LOG_INFO, S("no answer yet from flow "), pc_num(p, x->flow),
          S(": sent again (Timer "), imsec_str_c(tmr), S(")"));
      (void)imsec_out_send(e->out, x->flow, x->bytes, x->len);
    }
    if ((f & IMSEC_TXN_TIMEOUT) && !x->server) {
      /* Timer F (B): the UE never answered; RFC 3261 §16.8: as a 408
       * towards the core. */
      txn *t = x->has_txn ? imsec_map_get(&p->txns, x->txn_id) : NULL;
      char tmr[2] = {x->t.fired, 0};
      LOG(e, IMSEC_LOG_WARN, S("Timer "), imsec_str_c(tmr),
          S(": no answer from the UE on flow "), pc_num(p, x->flow),
          t ? S("; 408 to the core") : S(""));
      if (t) {
        pc_txn_answer(e, t, 408, "Request Timeout", 0);
        pc_txn_done(e, t);
      }
    }
    if ((f & IMSEC_TXN_DONE) || (x->expire_at && e->now >= x->expire_at))
      dg_remove(d, i);
    else
      i++;
  }
  /* DTLS has no FIN: an association quiet past the limit is gone (the
   * UE's keep-alive runs every 20-30 s). */
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&d->seen, &it))) {
    seen *w = s->val;
    uint64_t flow = s->ikey;
    if (e->now - w->last < p->cfg.dtls_idle_timeout_ms)
      continue;
    flowrec *f = pc_flow_find(p, flow);
    LOG(e, IMSEC_LOG_INFO, S("DTLS flow "), pc_num(p, flow), S(" quiet for "),
        pc_num(p, (uint64_t)(e->now - w->last)), S(" ms: closed"));
    (void)imsec_out_close(e->out, flow);
    (void)imsec_map_del_at(&d->seen, &it);
    free(w);
    if (f) {
      /* The host reports nothing for a flow the element closed: the same
       * clean-up as its going down. */
      imsec_pcscf_on_flow_down(p, flow, 0, IMSEC_ERR_TIMEOUT, e->now, e->out);
    }
  }
  dg_arm(e);
}
