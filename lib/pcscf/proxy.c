/* The proxy core (RFC 3261 §16): transactions named by our Via branch,
 * requests forwarded both ways, responses matched and relayed, queues
 * towards S-CSCFs that are still connecting, and the answers the P-CSCF
 * gives itself. */
#include "lib/pcscf/pcscf_int.h"

/* ------------------------------------------------------------ transactions */

/* Transactions by id (include/imsec/map.h): ids count up from 0 and are
 * never reused, so a late response cannot land on a newer transaction. */
void pc_txn_free(txn *t) {
  free(t->impi);
  free(t->contact);
  free(t->to_uri);
  free(t->answer);
  free(t->fwd);
  pc_invite_free(t->inv);
  free(t);
}

void pc_txn_clear(imsec_pcscf *p, txn *t) {
  (void)imsec_map_del(&p->txns, t->id);
  pc_txn_free(t);
}

txn *pc_txn_new(ev *e) {
  imsec_pcscf *p = e->p;
  if (imsec_map_len(&p->txns) >= p->cfg.max_transactions) {
    /* An INVITE answered already only lingers (late 2xx, the ACK): it
     * makes room before a new request is refused. */
    txn *old = pc_invite_evictable(p);
    if (!old)
      return NULL;
    pc_txn_clear(p, old);
  }
  txn *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->id = p->txn_seq++;
  if (imsec_map_put(&p->txns, t->id, t, NULL) < 0) {
    free(t);
    return NULL;
  }
  t->deadline = e->now + p->cfg.transaction_timeout_ms;
  pc_arm(e, t->deadline);
  return t;
}

/* A transaction for request `m` arriving on e->f, with the answer this
 * P-CSCF may have to give itself and, for an INVITE, its own transaction
 * state (invite.c). NULL with *r filled: 503 when the table is full. */
txn *pc_txn_open(ev *e, imsec_sip_msg *m, int from_ue, refusal *r) {
  txn *t = pc_txn_new(e);
  if (!t) {
    *r = (refusal){.code = 503,
                   .reason = "Service Unavailable",
                   .why = "transaction table full",
                   .retry_after = IMSEC_PCSCF_RETRY_BUSY};
    return NULL;
  }
  t->from_ue = from_ue;
  t->in_flow = e->f->id;
  pc_txn_keep_answer(e, t, m);
  if (pc_invite_begin(e, t, m, r) < 0) {
    pc_txn_clear(e->p, t);
    return NULL;
  }
  return t;
}

/* Branch of our Via: the magic cookie (RFC 3261 §8.1.1.7), "pc", the
 * transaction id, then an HMAC-SHA256 over both under the element's
 * random key (the id alone is guessable): a response is matched to its
 * transaction by this branch alone, so a guessable one would let any peer
 * answer requests it never received (RFC 3261 §17.2.3 leaves the uniqueness to
 * us; we make it unforgeable, like the flow tokens). */
static int branch_mac(imsec_pcscf *p, const uint8_t v[8], uint8_t mac[32]) {
  imsec_iov iov[2] = {{"branch", 6}, {v, 8}};
  return imsec_hmac(p->crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, iov, 2, mac);
}

int pc_branch_make(imsec_pcscf *p, const txn *t, sb *b) {
  uint8_t v[8], mac[32];
  for (int i = 0; i < 8; i++)
    v[i] = (uint8_t)(t->id >> (56 - 8 * i));
  IMSEC_GUARD(branch_mac(p, v, mac));
  sb_putc(b, BRANCH_PFX);
  sb_hex(b, v, 8);
  sb_hex(b, mac, BRANCH_MAC);
  return 0;
}

txn *pc_branch_find(imsec_pcscf *p, imsec_str br) {
  uint8_t v[8 + BRANCH_MAC], mac[32];
  if (br.len != BRANCH_PFX_LEN + 16 + 2 * BRANCH_MAC ||
      !imsec_str_eq(imsec_str_sub(br, 0, BRANCH_PFX_LEN), S(BRANCH_PFX)) ||
      imsec_hex_decode(br.p + BRANCH_PFX_LEN, 16 + 2 * BRANCH_MAC, v,
                       sizeof(v)) != (int)sizeof(v))
    return NULL;
  if (branch_mac(p, v, mac) < 0 || !imsec_ct_eq(mac, v + 8, BRANCH_MAC))
    return NULL;
  uint64_t id = 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | v[i];
  return imsec_map_get(&p->txns, id);
}

/* ------------------------------------------------------------ output */

int pc_send_flow(ev *e, uint64_t flow, imsec_sip_msg *m) {
  int n = imsec_sip_msg_serialize(m, e->p->outbuf, e->p->outcap);
  if (n < 0) {
    LOG(e, IMSEC_LOG_WARN, S("message too large to forward; dropped"));
    return 0;
  }
  if (pc_dgram_too_big(e, flow, (size_t)n))
    return IMSEC_ERR_LIMIT; /* DTLS: one record at most */
  (void)imsec_out_send(e->out, flow, e->p->outbuf, (size_t)n);
  return 0;
}

/* A locally generated response to request `req` on flow `flow`, with
 * optional extra header fields (name, value pairs). */
int pc_reply(ev *e, uint64_t flow, imsec_sip_msg *req, unsigned code,
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
  const flowrec *f = pc_flow_find(p, flow);
  if (req->method_id == IMSEC_SIP_M_REGISTER && f && !f->core)
    pc_obs_register_code(p, code); /* refused here, before any S-CSCF */
  return 0;
}

/* Keep the answer to `req` for later (see txn.answer). Call before the
 * request is edited. Without memory the transaction simply stays silent. */
void pc_txn_keep_answer(ev *e, txn *t, imsec_sip_msg *req) {
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

int pc_refuse(ev *e, imsec_sip_msg *req, unsigned code, const char *reason,
              const char *why) {
  refusal r = {.code = code, .reason = reason, .why = why};
  return pc_refuse_with(e, req, &r);
}

int pc_refuse_with(ev *e, imsec_sip_msg *req, const refusal *r) {
  if (!r->code)
    return 0;
  if (r->retry_after)
    return pc_refuse_503(e, req, r->retry_after, r->why);
  if (!r->logged) {
    unsigned code = r->code;
    char c[4] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
                 (char)('0' + code % 10), 0};
    LOG(e, IMSEC_LOG_WARN, S("refused "), req->method, S(" on flow "),
        pc_num(e->p, e->f->id), S(": "), imsec_str_c(c), S(" "),
        imsec_str_c(r->reason), S(" ("), imsec_str_c(r->why), S(")"));
  }
  return pc_reply(e, e->f->id, req, r->code, r->reason, r->extra, r->nextra);
}

/* Our own 503 (RFC 3261 §21.5.4) with Retry-After (§20.33): the UE waits
 * that long instead of retrying at once (see IMSEC_PCSCF_RETRY_*). Never
 * added to a 503 relayed from an S-CSCF, which speaks for itself. */
int pc_refuse_503(ev *e, imsec_sip_msg *req, unsigned secs, const char *why) {
  char v[12];
  sb vb = {v, 0, sizeof(v), 0};
  sb_u64(&vb, secs);
  LOG(e, IMSEC_LOG_WARN, S("refused "), req->method, S(" on flow "),
      pc_num(e->p, e->f->id), S(": 503 Service Unavailable ("),
      imsec_str_c(why), S(")"));
  imsec_str extra[2] = {S("Retry-After"), {v, vb.len}};
  return pc_reply(e, e->f->id, req, 503, "Service Unavailable", extra, 2);
}

/* Note the flow a UE's request went out on (see txn_flow_lost). */
static void txn_sent_on(imsec_pcscf *p, uint64_t id, uint64_t flow) {
  txn *t = imsec_map_get(&p->txns, id);
  if (t && t->from_ue)
    t->out_flow = flow;
}

void pc_dest_flush(imsec_pcscf *p, dest *d, imsec_out *out) {
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    if (q->has_txn)
      txn_sent_on(p, q->txn, d->flow);
    (void)imsec_out_send(out, d->flow, q->data, q->len);
    free(q);
    p->queued--;
  }
  d->qtail = NULL;
  d->qn = 0;
}

/* Drop what waits for an S-CSCF; with `e`, answer each request 503
 * (RFC 3261 §16.7: the proxy's own answer when no hop could be reached). */
void pc_dest_drop(imsec_pcscf *p, dest *d, ev *e) {
  while (d->qhead) {
    qmsg *q = d->qhead;
    d->qhead = q->next;
    txn *t = e && q->has_txn ? imsec_map_get(&p->txns, q->txn) : NULL;
    if (t) {
      pc_txn_answer(e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
      pc_txn_done(e, t);
    }
    free(q);
    p->queued--;
  }
  d->qtail = NULL;
  d->qn = 0;
}

/* Queue the message serialized in p->outbuf (`len` octets) for a
 * connection still coming up: an S-CSCF's, or a dial to a UE (m2.c). */
int pc_queue_push(imsec_pcscf *p, qmsg **head, qmsg **tail, size_t *n,
                  const txn *t, size_t len) {
  if (*n >= p->cfg.max_queue)
    return IMSEC_ERR_LIMIT;
  qmsg *q = malloc(sizeof(*q) + len);
  if (!q)
    return IMSEC_ERR_NOMEM;
  q->next = NULL;
  q->txn = t ? t->id : 0;
  q->has_txn = t != NULL;
  q->len = len;
  memcpy(q->data, p->outbuf, len);
  if (*tail)
    (*tail)->next = q;
  else
    *head = q;
  *tail = q;
  (*n)++;
  p->queued++;
  return 0;
}

int pc_queue_remove(imsec_pcscf *p, qmsg **head, qmsg **tail, size_t *n,
                    uint64_t id) {
  qmsg *prev = NULL;
  for (qmsg *q = *head; q; prev = q, q = q->next) {
    if (!q->has_txn || q->txn != id)
      continue;
    if (prev)
      prev->next = q->next;
    else
      *head = q->next;
    if (*tail == q)
      *tail = prev;
    (*n)--;
    p->queued--;
    free(q);
    return 1;
  }
  return 0;
}

/* Send a message to an S-CSCF: on its flow, or queued until it connects
 * (one connection per S-CSCF, RFC 5923 reuse). Returns 0 or
 * IMSEC_ERR_LIMIT / IMSEC_ERR_NOMEM / IMSEC_ERR_NOBUF. */
int pc_send_dest(ev *e, size_t di, imsec_sip_msg *m, const txn *t) {
  int n = imsec_sip_msg_serialize(m, e->p->outbuf, e->p->outcap);
  if (n < 0)
    return n;
  return pc_send_raw(e, di, (size_t)n, t);
}

int pc_send_raw(ev *e, size_t di, size_t n, const txn *t) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  if (d->flow) {
    if (t)
      txn_sent_on(p, t->id, d->flow);
    return imsec_out_send(e->out, d->flow, p->outbuf, n);
  }
  IMSEC_GUARD(pc_queue_push(p, &d->qhead, &d->qtail, &d->qn, t, n));
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

void pc_txn_answer(ev *e, txn *t, unsigned code, const char *reason,
                   unsigned retry_after) {
  imsec_pcscf *p = e->p;
  if (!t->answer || !pc_flow_find(p, t->in_flow))
    return;
  if (t->is_register && !t->is_ping)
    pc_obs_register(p, t, code, 0);
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

/* Our Via (RFC 3261 §16.6 step 8) naming the core side. */
int pc_push_via(ev *e, imsec_sip_msg *m, const txn *t, imsec_tp tp) {
  return pc_push_via_at(e, m, t, tp, e->p->host_uri, e->p->cfg.core.port);
}

/* Our Via naming host:port over tp: where the next hop sends responses
 * (RFC 3261 §18.2.2) and sees us as. */
int pc_push_via_at(ev *e, imsec_sip_msg *m, const txn *t, imsec_tp tp,
                   const char *host, uint16_t port) {
  imsec_pcscf *p = e->p;
  sb b = arena_sb(p);
  sb_putc(&b, "SIP/2.0/");
  /* draft-jennings-sip-dtls: SIP over DTLS is "DTLS-UDP" in a Via. */
  sb_putc(&b, tp == IMSEC_TP_DTLS ? "DTLS-UDP" : imsec_tp_name(tp));
  sb_putc(&b, " ");
  sb_putc(&b, host);
  sb_putc(&b, ":");
  sb_u64(&b, port);
  sb_putc(&b, ";branch=");
  if (!t) {
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
    IMSEC_GUARD(pc_branch_make(p, t, &b));
  }
  imsec_str v;
  IMSEC_GUARD(sb_done(p, &b, &v));
  return imsec_sip_msg_push_top(m, S("Via"), v);
}

/* RFC 3261 §16.6 step 3: Max-Forwards decremented (added when absent). */
int pc_dec_max_forwards(ev *e, imsec_sip_msg *m) {
  uint32_t mf = 70;
  int rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv < 0 && rv != IMSEC_ERR_NOTFOUND)
    return rv;
  if (rv == 0 && mf == 0)
    return IMSEC_ERR_LIMIT;
  imsec_str v = pc_num(e->p, mf - 1);
  long idx = imsec_sip_msg_index(m, IMSEC_SIP_H_MAX_FORWARDS);
  if (idx >= 0)
    return imsec_sip_msg_replace(m, (size_t)idx, v);
  return imsec_sip_msg_insert(m, m->nhdrs, S("Max-Forwards"), v);
}

/* Remove the first value of the first field of `id` (a top Via or Route;
 * the field may hold several comma-separated values). */
int pc_pop_top(imsec_sip_msg *m, imsec_sip_hid id) {
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

/* The host of a parsed URI without IPv6 brackets. */
imsec_str pc_bare_host(imsec_str h) {
  if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
    return imsec_str_sub(h, 1, h.len - 2);
  return h;
}

/* Is this URI this P-CSCF (core host and port)? */
static int uri_is_me(const imsec_pcscf *p, const imsec_sip_uri *u) {
  if (u->scheme != IMSEC_SIP_SCHEME_SIP && u->scheme != IMSEC_SIP_SCHEME_SIPS)
    return 0;
  uint16_t port = u->has_port ? u->port : 5060;
  return imsec_str_ieq(pc_bare_host(u->host), imsec_str_c(p->cfg.core.host)) &&
         port == p->cfg.core.port;
}

/* The S-CSCF a URI names (Service-Route), or -1. */
long pc_dest_of_uri(const imsec_pcscf *p, imsec_str text) {
  imsec_sip_addr a;
  imsec_sip_uri u;
  if (imsec_sip_addr_parse(text, 64, &a) < 0 ||
      imsec_sip_uri_parse(a.uri, 64, &u) < 0 ||
      (u.scheme != IMSEC_SIP_SCHEME_SIP && u.scheme != IMSEC_SIP_SCHEME_SIPS))
    return -1;
  uint16_t port = u.has_port ? u.port : 5060;
  for (size_t i = 0; i < p->ndests; i++) {
    if (imsec_str_ieq(pc_bare_host(u.host),
                      imsec_str_c(p->dests[i].addr.host)) &&
        port == p->dests[i].addr.port)
      return (long)i;
  }
  return -1;
}

/* ------------------------------------------------------------ S-CSCF requests
 */

/* RFC 5626 §5.3, RFC 3327: a request whose top Route is this P-CSCF with a
 * flow token goes out on the flow of the registration binding the token
 * names, if the token verifies and the binding has a live flow; else 430
 * Flow Failed. */
int pc_core_request(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  refusal r = {0};
  txn *t = NULL;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr ra;
  imsec_sip_uri u;
  int rv = imsec_sip_addr_next(m, IMSEC_SIP_H_ROUTE, &it, &ra);
  if (rv != 1 || imsec_sip_uri_parse(ra.uri, 64, &u) < 0 || !uri_is_me(p, &u)) {
    r = (refusal){
        .code = 404, .reason = "Not Found", .why = "no Route to this P-CSCF"};
    goto out;
  }
  /* Why a token fails, for the log: gone or not ours. */
  const char *why = NULL;
  binding *tb = NULL;
  flowrec *target = NULL;
  switch (pc_token_check(p, u.user, &tb)) {
  case 0:
    target = tb->flow;
    /* M2b: no live flow, but a Contact the P-CSCF may dial. */
    if (!target && !pc_m2_can_dial(p, tb))
      why = "no live flow for the registration";
    break;
  case IMSEC_ERR_AUTH:
    why = "flow token does not verify";
    break;
  case IMSEC_ERR_NOTFOUND:
    why = "binding gone: its flow gone, de-registered or expired";
    break;
  default:
    why = "malformed flow token";
    break;
  }
  if (why) {
    LOG(e, IMSEC_LOG_WARN, S("refused "), m->method, S(" from flow "),
        pc_num(p, e->f->id), S(": 430 Flow Failed ("), imsec_str_c(why),
        S(")"));
    r = (refusal){
        .code = 430, .reason = "Flow Failed", .why = why, .logged = 1};
    goto out;
  }
  uint32_t mf;
  rv = imsec_sip_get_max_forwards(m, &mf);
  if (rv == 0 && mf == 0) {
    r = (refusal){
        .code = 483, .reason = "Too Many Hops", .why = "Max-Forwards 0"};
    goto out;
  }
  if (pc_dialog_core_check(e, m, tb, &r) < 0)
    goto out;
  if (pc_pop_top(m, IMSEC_SIP_H_ROUTE) < 0) {
    r = (refusal){.code = 500,
                  .reason = "Server Internal Error",
                  .why = "cannot edit request"};
    goto out;
  }
  if (m->method_id != IMSEC_SIP_M_ACK) {
    if (!(t = pc_txn_open(e, m, 0, &r)))
      goto out;
    t->ue_flow = target ? target->id : 0; /* M2b: set once dialled */
  }
  if (pc_dialog_record_route(e, m, tb, t, 1, &r) < 0)
    goto out;
  /* Towards the UE our Via names the TLS listener the UE reached, not the
   * core port (RFC 3261 §16.6 step 8: the address for this hop). An edit
   * that fails leaves nothing sensible to answer with (r.code stays 0). */
  int via_rv = target && target->local_host[0]
                   ? pc_push_via_at(e, m, t, target->local_tp,
                                    target->local_host, target->local_port)
                   : pc_push_via(e, m, t, IMSEC_TP_TLS);
  if (via_rv < 0 || pc_dec_max_forwards(e, m) < 0 ||
      (t && pc_invite_forwarded(e, t, m) < 0))
    goto out;
  if (!target) {
    if (pc_m2_dial_send(e, tb, m, t) < 0) {
      (void)pc_pop_top(m, IMSEC_SIP_H_VIA);
      r = (refusal){.code = 480,
                    .reason = "Temporarily Unavailable",
                    .why = "cannot dial the UE's Contact"};
      goto out;
    }
    t = NULL; /* it lives on in the table */
    goto out;
  }
  if (pc_send_flow(e, target->id, m) == IMSEC_ERR_LIMIT) {
    /* RFC 3261 §21.5.14 (and §18.1.1): too large for the UE's DTLS
     * association; the answer kept from the request as it arrived. */
    if (t) {
      pc_txn_answer(e, t, 513, "Message Too Large", 0);
      pc_txn_done(e, t);
    }
    return 0;
  }
  LOG(e, IMSEC_LOG_DEBUG, m->method, S(" for flow "), pc_num(p, target->id),
      S(" ("), pc_addr_str(p, &target->peer), S(")"));
  t = NULL; /* it lives on in the table */
out:
  if (t)
    pc_txn_clear(p, t);
  return pc_refuse_with(e, m, &r);
}

/* ------------------------------------------------------------ responses */

int pc_on_response(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  const imsec_sip_via *v;
  txn *t;
  if (imsec_sip_get_via(m, &v) < 0 || !(t = pc_branch_find(p, v->branch))) {
    LOG(e, IMSEC_LOG_DEBUG, S("stray response on flow "), pc_num(p, e->f->id),
        S(" dropped"));
    return 0;
  }
  /* Responses come from where the request went (RFC 3261 §18.1.2: the
   * response arrives on the connection the request was sent on): for a
   * UE's request, the one flow to its S-CSCF, not any core flow. */
  if (e->f->id != (t->from_ue ? t->out_flow : t->ue_flow)) {
    LOG(e, IMSEC_LOG_WARN, S("response on flow "), pc_num(p, e->f->id),
        S(" for a transaction sent elsewhere; dropped"));
    return 0;
  }
  /* RFC 3263 §4.3: a 503 sends a REGISTER on to the group's next member
   * (failover.c); any other answer says the S-CSCF is there. */
  if (t->is_register && m->status == 503 &&
      pc_failover_register(e, t, "503 Service Unavailable"))
    return 0;
  if (t->from_ue)
    for (size_t i = 0; i < p->ndests; i++)
      if (p->dests[i].flow == e->f->id)
        pc_dest_alive(e, i);
  if (t->is_ping) {
    pc_ping_answered(e, t);
    return 0;
  }
  if (pc_pop_top(m, IMSEC_SIP_H_VIA) < 0)
    return 0;
  /* RFC 3261 §16.7 for an INVITE: 100 stays here, every 2xx goes up and
   * the context outlives it, a non-2xx is ACKed here. */
  int inv = pc_invite_response(e, t, m);
  if (inv == PC_INV_ABSORB)
    return 0;
  if (m->status < 200) {
    if (m->status == 100)
      return 0; /* RFC 3261 §16.7 step 5: 100 is hop by hop */
  } else if (t->is_register) {
    /* Counted before the 200 binds (a binding there already: refresh). */
    int had = t->impi && t->impi[0] &&
              imsec_map_sget(&p->bindings, imsec_str_c(t->impi)) != NULL;
    if (pc_register_response(e, t, m) == 1) {
      pc_txn_answer(e, t, 403, "Forbidden", 0);
      pc_txn_clear(p, t);
      return 0;
    }
    if (t->from_ue)
      pc_obs_register(p, t, m->status, had);
  }
  pc_dialog_on_response(e, t, m);
  flowrec *back = pc_flow_find(p, t->in_flow);
  if (back && t->from_ue && pc_strip_aka_keys(e, m) < 0) {
    LOG(e, IMSEC_LOG_WARN, S("response with CK/IK not relayed to the UE"));
    back = NULL;
  }
  if (back)
    pc_send_flow(e, back->id, m);
  else
    LOG(e, IMSEC_LOG_DEBUG, S("response for a flow that is gone; dropped"));
  if (m->status >= 200 && inv != PC_INV_RELAY)
    pc_txn_clear(p, t);
  return 0;
}
