/* INVITE transactions through the P-CSCF, both ways (UE -> core and core
 * -> UE), RFC 3261 §16 as a transaction-stateful proxy:
 *  - 100 Trying upstream at once (§16.2, §17.2.1): the UE or the S-CSCF
 *    stops retransmitting and knows the request is being worked on;
 *  - provisional responses 101-199 relayed, 100 hop by hop (§16.7 step 5);
 *    every 2xx relayed, and the context outlives the first one (64*T1, as
 *    RFC 6026's Accepted state) so a 2xx from another fork still goes up;
 *  - CANCEL (§9.2, §16.10) matched to the INVITE by the top Via branch as
 *    received, the flow it came on, Call-ID and CSeq number: 200 to it,
 *    then a CANCEL downstream built from the INVITE as forwarded (§9.1),
 *    held until a provisional shows the INVITE arrived; one still queued
 *    (S-CSCF connecting, M2b dial) is taken back and answered 487 here;
 *  - a non-2xx final response: the P-CSCF ACKs it downstream itself
 *    (§17.1.1.3) and absorbs the upstream ACK with the INVITE's branch;
 *  - Timer B (the transaction timeout) before any provisional: 408
 *    (§16.8); Timer C (cfg.timer_c_ms, reset by each 101-199, §16.6 step
 *    11, §16.7 step 2): CANCEL downstream and 408 upstream, the 487 that
 *    follows absorbed;
 *  - a UE flow that fails under an INVITE for the UE: 430 Flow Failed
 *    (RFC 5626 §5.3); the UE's own INVITE when its flow fails: CANCEL;
 *  - loop detection (§16.3 step 4) for requests outside a dialog.
 * The state hangs off the proxy transaction (txn.inv). */
#include "lib/pcscf/pcscf_int.h"

enum {
  INV_CALLING = 0, /* forwarded (or queued), nothing back yet */
  INV_PROCEEDING,  /* a provisional came back */
  INV_ACCEPTED,    /* a 2xx went upstream: later 2xx still relayed */
  INV_COMPLETED,   /* a non-2xx final went upstream (relayed or ours) */
};

struct pc_inv {
  int invite; /* an INVITE: the rest below applies */
  int state;
  int cancel_pending; /* CANCEL once a provisional arrives (§9.1) */
  int cancelled;      /* a CANCEL went downstream */
  imsec_time_ms timer_b, timer_c;
  uint32_t cseq;
  imsec_sip_method method;
  /* As received: "FLOW BRANCH", the flow and top Via branch of the
   * INVITE, its key in p->inv_keys (CANCEL and ACK match it; NULL: not
   * indexed), and the identity the loop check compares (the P-CSCF never
   * retargets). */
  char *key;
  imsec_map *keys; /* the index holding `key` */
  txn *owner;
  char *call_id;
  char *ruri;
  /* INVITE as forwarded: "Via: ours\r\n" "Route: ..\r\n"* "From: ..\r\n"
   * "Call-ID: ..\r\n" and its To, what a CANCEL (§9.1) and the ACK of a
   * non-2xx (§17.1.1.3) copy. */
  char *hdrs;
  char *to;
  /* On p->lingering once answered (state >= INV_ACCEPTED). */
  pc_inv_list *list;
  struct pc_inv *lprev, *lnext;
};

static void ling_unlink(pc_inv *inv) {
  pc_inv_list *l = inv->list;
  if (!l)
    return;
  if (inv->lprev)
    inv->lprev->lnext = inv->lnext;
  else
    l->head = inv->lnext;
  if (inv->lnext)
    inv->lnext->lprev = inv->lprev;
  else
    l->tail = inv->lprev;
  inv->list = NULL;
  inv->lprev = inv->lnext = NULL;
}

/* Last on the list: every linger sets the same 64*T1 from now, so the
 * list stays in deadline order. */
static void ling_append(pc_inv_list *l, pc_inv *inv) {
  ling_unlink(inv);
  inv->list = l;
  inv->lprev = l->tail;
  if (l->tail)
    l->tail->lnext = inv;
  else
    l->head = inv;
  l->tail = inv;
}

void pc_invite_free(pc_inv *inv) {
  if (!inv)
    return;
  ling_unlink(inv);
  if (inv->keys && inv->key) {
    imsec_str k = imsec_str_c(inv->key);
    if (imsec_map_sget(inv->keys, k) == inv->owner)
      (void)imsec_map_sdel(inv->keys, k);
  }
  free(inv->key);
  free(inv->call_id);
  free(inv->ruri);
  free(inv->hdrs);
  free(inv->to);
  free(inv);
}

static int str_is(const char *c, imsec_str s) {
  return c && strlen(c) == s.len &&
         (!s.len || !memcmp(c, s.p, s.len)); /* no secret: SIP identifiers */
}

/* "FLOW BRANCH" in the arena (an empty slice when it does not fit). */
static imsec_str key_of(imsec_pcscf *p, uint64_t flow, imsec_str branch) {
  sb b = arena_sb(p);
  sb_u64(&b, flow);
  sb_putc(&b, " ");
  sb_put(&b, branch);
  imsec_str k = S("");
  if (sb_done(p, &b, &k) < 0)
    return S("");
  return k;
}

/* The INVITE transaction a CANCEL or ACK from flow `flow` belongs to:
 * RFC 3261 §9.2, §17.2.3 (the branch of the top Via as the INVITE
 * carried it, the same flow), with Call-ID and CSeq number (§9.1: the
 * CANCEL copies them). */
static txn *inv_match(imsec_pcscf *p, uint64_t flow, imsec_sip_msg *m) {
  const imsec_sip_via *v;
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_via(m, &v) < 0 || !v->branch.len ||
      imsec_sip_get_call_id(m, &cid) < 0 || imsec_sip_get_cseq(m, &cs) < 0)
    return NULL;
  imsec_str k = key_of(p, flow, v->branch);
  txn *t = k.len ? imsec_map_sget(&p->inv_keys, k) : NULL;
  if (!t || !t->inv || t->in_flow != flow || t->inv->cseq != cs->seq ||
      !str_is(t->inv->call_id, cid))
    return NULL;
  return t;
}

/* The flow the INVITE went out on (0: still queued). */
static uint64_t down_flow(const txn *t) {
  return t->from_ue ? t->out_flow : t->ue_flow;
}

static void linger(ev *e, txn *t) {
  /* 64*T1: the upstream ACK of a non-2xx (Timer H), a 2xx from another
   * fork, retransmitted finals to ACK again (Timer D) */
  t->deadline = e->now + 64 * e->p->sip_timers.t1;
  pc_arm(e, t->deadline);
  if (t->inv && t->inv->invite && t->inv->state >= INV_ACCEPTED)
    ling_append(&e->p->lingering, t->inv);
}

/* A CANCEL (`ack` 0) or the ACK of a non-2xx final response (`ack` 1,
 * `to` the response's To with its tag) for the INVITE of `t` as it was
 * forwarded, sent on the flow the INVITE went out on. */
static void send_down(ev *e, txn *t, int ack, imsec_str to) {
  imsec_pcscf *p = e->p;
  pc_inv *inv = t->inv;
  uint64_t flow = down_flow(t);
  if (!flow || !inv->hdrs || !inv->ruri)
    return;
  sb b = {p->outbuf, 0, p->outcap, 0};
  sb_putc(&b, ack ? "ACK " : "CANCEL ");
  sb_putc(&b, inv->ruri);
  sb_putc(&b, " SIP/2.0\r\n");
  sb_putc(&b, inv->hdrs);
  sb_putc(&b, "To: ");
  if (ack)
    sb_put(&b, to);
  else
    sb_putc(&b, inv->to);
  sb_putc(&b, "\r\nCSeq: ");
  sb_u64(&b, inv->cseq);
  sb_putc(&b, ack ? " ACK\r\n" : " CANCEL\r\n");
  sb_putc(&b, "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
  if (b.err)
    return;
  (void)imsec_out_send(e->out, flow, p->outbuf, b.len);
}

static void send_cancel(ev *e, txn *t) {
  t->inv->cancelled = 1;
  t->inv->cancel_pending = 0;
  send_down(e, t, 0, S(""));
}

/* Take a still queued INVITE back (S-CSCF connecting, M2b dial): 1 when
 * it was queued (and is no longer), 0 when it went out already. */
static int unqueue(ev *e, txn *t) {
  imsec_pcscf *p = e->p;
  if (down_flow(t))
    return 0;
  if (t->from_ue) {
    for (size_t i = 0; i < p->ndests; i++) {
      dest *d = &p->dests[i];
      if (pc_queue_remove(p, &d->qhead, &d->qtail, &d->qn, t->id))
        return 1;
    }
    return 0;
  }
  return pc_m2_unqueue(p, t->id);
}

/* ------------------------------------------------------------ requests */

/* RFC 3261 §16.3 step 4 (optional there): a request back with a Via this
 * P-CSCF put on it for a transaction still open, and the same
 * Request-URI, Call-ID and CSeq, is looping. A spiral through the
 * S-CSCF (a call between two UEs of this P-CSCF) changes the Request-URI
 * and is not one. Requests inside a dialog (a To tag) are left out: they
 * keep their Request-URI (the remote target) when they spiral between two
 * UEs of this P-CSCF, and Max-Forwards bounds them (483). */
static int looping(ev *e, txn *self, imsec_sip_msg *m, imsec_str cid,
                   const imsec_sip_cseq *cs) {
  imsec_pcscf *p = e->p;
  const imsec_sip_addr *to;
  if (imsec_sip_get_to(m, &to) < 0 || to->tag.len)
    return 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_via v;
  int n = 0;
  while (imsec_sip_via_next(m, &it, &v) == 1 && n++ < 64) {
    txn *t = pc_branch_find(p, v.branch);
    if (t && t != self && t->inv && t->inv->cseq == cs->seq &&
        t->inv->method == cs->method_id && str_is(t->inv->ruri, m->ruri) &&
        str_is(t->inv->call_id, cid))
      return 1;
  }
  return 0;
}

int pc_invite_begin(ev *e, txn *t, imsec_sip_msg *m, refusal *r) {
  imsec_pcscf *p = e->p;
  const imsec_sip_via *v;
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_via(m, &v) < 0 || imsec_sip_get_call_id(m, &cid) < 0 ||
      imsec_sip_get_cseq(m, &cs) < 0)
    return 0; /* imsec_sip_check let it through: nothing to match later */
  if (looping(e, t, m, cid, cs)) {
    *r = (refusal){.code = 482,
                   .reason = "Loop Detected",
                   .why = "it carries our Via of a transaction still open"};
    return -1;
  }
  pc_inv *inv = calloc(1, sizeof(*inv));
  if (!inv || !(inv->call_id = pc_dup_str(cid)) ||
      !(inv->ruri = pc_dup_str(m->ruri))) {
    pc_invite_free(inv);
    *r = (refusal){.code = 503,
                   .reason = "Service Unavailable",
                   .why = "out of memory",
                   .retry_after = IMSEC_PCSCF_RETRY_BUSY};
    return -1;
  }
  inv->cseq = cs->seq;
  inv->method = cs->method_id;
  inv->invite = m->method_id == IMSEC_SIP_M_INVITE;
  inv->owner = t;
  pc_invite_free(t->inv);
  t->inv = inv;
  if (inv->invite && v->branch.len) {
    /* Without memory for the index a CANCEL simply finds nothing. */
    imsec_str k = key_of(p, e->f->id, v->branch);
    if (k.len && (inv->key = pc_dup_str(k)) &&
        imsec_map_sput(&p->inv_keys, k, t, NULL) == 0)
      inv->keys = &p->inv_keys;
  }
  return 0;
}

/* RFC 3261 §16.2, §17.2.1: 100 Trying upstream, once the INVITE is on its
 * way (a request refused here gets that answer alone): the sender stops
 * retransmitting (DTLS) and a CANCEL now has a transaction to meet. Built
 * from `m` with our Via (its first field) left out; no To tag (§8.2.6.2
 * makes it optional on a 100). */
static void send_trying(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  sb b = {p->outbuf, 0, p->outcap, 0};
  sb_putc(&b, "SIP/2.0 100 Trying\r\n");
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
  for (h = h ? imsec_sip_hdr_next(m, h) : NULL; h;
       h = imsec_sip_hdr_next(m, h)) {
    sb_putc(&b, "Via: ");
    sb_put(&b, h->value);
    sb_putc(&b, "\r\n");
  }
  static const struct {
    imsec_sip_hid id;
    const char *name;
  } copy[] = {{IMSEC_SIP_H_FROM, "From: "},
              {IMSEC_SIP_H_TO, "To: "},
              {IMSEC_SIP_H_CALL_ID, "Call-ID: "},
              {IMSEC_SIP_H_CSEQ, "CSeq: "}};
  for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
    if (!(h = imsec_sip_hdr_first(m, copy[i].id)))
      return;
    sb_putc(&b, copy[i].name);
    sb_put(&b, h->value);
    sb_putc(&b, "\r\n");
  }
  sb_putc(&b, "Server: imsec-pcscf\r\nContent-Length: 0\r\n\r\n");
  if (!b.err)
    (void)imsec_out_send(e->out, t->in_flow, p->outbuf, b.len);
}

int pc_invite_forwarded(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  pc_inv *inv = t ? t->inv : NULL;
  if (!inv || !inv->invite)
    return 0;
  const imsec_sip_hdr *via = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
  const imsec_sip_hdr *from = imsec_sip_hdr_first(m, IMSEC_SIP_H_FROM);
  const imsec_sip_hdr *to = imsec_sip_hdr_first(m, IMSEC_SIP_H_TO);
  const imsec_sip_hdr *cid = imsec_sip_hdr_first(m, IMSEC_SIP_H_CALL_ID);
  if (!via || !from || !to || !cid)
    return IMSEC_ERR_INVAL;
  sb b = {p->outbuf, 0, p->outcap, 0};
  sb_putc(&b, "Via: ");
  sb_put(&b, via->value);
  sb_putc(&b, "\r\n");
  for (const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_ROUTE); h;
       h = imsec_sip_hdr_next(m, h)) {
    sb_putc(&b, "Route: ");
    sb_put(&b, h->value);
    sb_putc(&b, "\r\n");
  }
  sb_putc(&b, "From: ");
  sb_put(&b, from->value);
  sb_putc(&b, "\r\nCall-ID: ");
  sb_put(&b, cid->value);
  sb_putc(&b, "\r\n");
  if (b.err)
    return IMSEC_ERR_NOBUF;
  free(inv->hdrs);
  free(inv->to);
  inv->hdrs = pc_dup_str((imsec_str){b.p, b.len});
  inv->to = pc_dup_str(to->value);
  if (!inv->hdrs || !inv->to)
    return IMSEC_ERR_NOMEM;
  free(inv->ruri);
  if (!(inv->ruri = pc_dup_str(m->new_ruri.len ? m->new_ruri : m->ruri)))
    return IMSEC_ERR_NOMEM;
  /* Timer B runs as the transaction timeout (t->deadline); Timer C from
   * now (§16.6 step 11). The earlier fires first. */
  inv->timer_b = t->deadline;
  inv->timer_c = e->now + p->cfg.timer_c_ms;
  if (inv->timer_c < t->deadline)
    t->deadline = inv->timer_c;
  pc_arm(e, t->deadline);
  send_trying(e, t, m);
  return 0;
}

void pc_cancel(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  txn *t = inv_match(p, e->f->id, m);
  if (!t) {
    /* RFC 3261 §16.10 would forward it statelessly; here a CANCEL that
     * meets no INVITE has nowhere it may go (a UE's requests follow its
     * Service-Route only after the checks of an initial request). */
    uint64_t held = 0;
    if (imsec_lograte_take(&p->bad_rate, e->now, &held))
      LOG(e, IMSEC_LOG_INFO, S("CANCEL without a transaction on flow "),
          pc_num(p, e->f->id), S(": dropped"), held ? S(" (") : S(""),
          held ? pc_num(p, held) : S(""),
          held ? S(" lines held back)") : S(""));
    return;
  }
  pc_inv *inv = t->inv;
  /* §16.10: the CANCEL is answered here, hop by hop. */
  (void)pc_reply(e, e->f->id, m, 200, "OK", NULL, 0);
  if (inv->state >= INV_ACCEPTED || inv->cancelled || inv->cancel_pending)
    return; /* a final response went up already, or cancelled already */
  if (unqueue(e, t)) {
    /* Never sent: nothing downstream to cancel; the INVITE ends here. */
    LOG(e, IMSEC_LOG_INFO, S("INVITE from flow "), pc_num(p, t->in_flow),
        S(" cancelled before it went out; 487"));
    pc_txn_answer(e, t, 487, "Request Terminated", 0);
    inv->state = INV_COMPLETED;
    linger(e, t);
    return;
  }
  LOG(e, IMSEC_LOG_DEBUG, S("CANCEL from flow "), pc_num(p, e->f->id),
      inv->state == INV_PROCEEDING ? S(" forwarded")
                                   : S(" held until a provisional response"));
  /* §9.1: not before a provisional response shows the INVITE arrived. */
  if (inv->state == INV_PROCEEDING)
    send_cancel(e, t);
  else
    inv->cancel_pending = 1;
}

int pc_ack_absorb(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  txn *t = inv_match(p, e->f->id, m);
  if (!t || t->inv->state != INV_COMPLETED)
    return 0; /* the ACK of a 2xx is a request of its own (§13.2.2.4) */
  /* §17.2.1: it ends our server side of the INVITE; the P-CSCF ACKed the
   * final response downstream itself. Over DTLS the datagram layer
   * absorbs the ACK's copies; only a DTLS UE downstream may still resend
   * its final response, to be ACKed again (Timer D): the context stays
   * for that alone. */
  LOG(e, IMSEC_LOG_DEBUG, S("ACK of a non-2xx on flow "), pc_num(p, e->f->id),
      S(" absorbed"));
  flowrec *down = pc_flow_find(p, down_flow(t));
  if (!down || !down->dgram)
    pc_txn_clear(p, t);
  return 1;
}

void pc_txn_done(ev *e, txn *t) {
  if (!t->inv || !t->inv->invite) {
    pc_txn_clear(e->p, t);
    return;
  }
  /* §17.2.1: an INVITE answered here with a non-2xx waits for its ACK. */
  t->inv->state = INV_COMPLETED;
  t->inv->cancel_pending = 0;
  linger(e, t);
}

txn *pc_invite_evictable(imsec_pcscf *p) {
  return p->lingering.head ? p->lingering.head->owner : NULL;
}

int pc_invite_lingering(const txn *t) {
  return t->inv && t->inv->list != NULL;
}

/* ------------------------------------------------------------ responses */

int pc_invite_response(ev *e, txn *t, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  pc_inv *inv = t->inv;
  if (!inv || !inv->invite)
    return PC_INV_NONE;
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_cseq(m, &cs) < 0 || cs->method_id != IMSEC_SIP_M_INVITE)
    return PC_INV_ABSORB; /* the answer to our own CANCEL */
  unsigned st = m->status;
  if (st < 200) {
    if (inv->state > INV_PROCEEDING)
      return PC_INV_ABSORB; /* after the final one */
    inv->state = INV_PROCEEDING;
    /* Timer B stops with any provisional (§17.1.1.2); 101-199 reset
     * Timer C (§16.7 step 2). */
    if (st > 100)
      inv->timer_c = e->now + p->cfg.timer_c_ms;
    t->deadline = inv->timer_c;
    pc_arm(e, t->deadline);
    if (inv->cancel_pending)
      send_cancel(e, t);
    return st == 100 ? PC_INV_ABSORB : PC_INV_RELAY;
  }
  if (st < 300) {
    /* §16.7 step 10: every 2xx goes up, whatever came before. */
    if (inv->state < INV_ACCEPTED) {
      inv->state = INV_ACCEPTED;
      linger(e, t);
    }
    return PC_INV_RELAY;
  }
  /* §17.1.1.3: a non-2xx final is ACKed here, hop by hop. */
  const imsec_sip_hdr *to = imsec_sip_hdr_first(m, IMSEC_SIP_H_TO);
  send_down(e, t, 1, to ? to->value : S(""));
  if (inv->state >= INV_ACCEPTED)
    return PC_INV_ABSORB; /* a retransmission, or after our own 408 */
  inv->state = INV_COMPLETED;
  linger(e, t);
  return PC_INV_RELAY;
}

/* ------------------------------------------------------------ time, flows */

int pc_invite_deadline(ev *e, txn *t) {
  imsec_pcscf *p = e->p;
  pc_inv *inv = t->inv;
  if (!inv || !inv->invite)
    return -1;
  switch (inv->state) {
  case INV_CALLING:
    /* Timer B (or C) with nothing back: §16.8, as a 408 (487 when the
     * upstream side cancelled meanwhile). One still queued never goes. */
    (void)unqueue(e, t);
    LOG(e, IMSEC_LOG_WARN, S("no answer in time for an INVITE from flow "),
        pc_num(p, t->in_flow), inv->cancel_pending ? S("; 487") : S("; 408"));
    if (inv->cancel_pending)
      pc_txn_answer(e, t, 487, "Request Terminated", 0);
    else
      pc_txn_answer(e, t, 408, "Request Timeout", 0);
    inv->cancel_pending = 0;
    inv->state = INV_COMPLETED;
    linger(e, t);
    return 1;
  case INV_PROCEEDING:
    /* Timer C: §16.8, CANCEL the branch and answer 408; the 487 that
     * follows is ACKed and absorbed. */
    LOG(e, IMSEC_LOG_WARN,
        S("Timer C: no final answer to an INVITE from flow "),
        pc_num(p, t->in_flow), S("; CANCEL and "),
        inv->cancelled ? S("487") : S("408"));
    if (inv->cancelled) /* the caller's CANCEL went unanswered */
      pc_txn_answer(e, t, 487, "Request Terminated", 0);
    else
      pc_txn_answer(e, t, 408, "Request Timeout", 0);
    if (!inv->cancelled)
      send_cancel(e, t);
    inv->state = INV_COMPLETED;
    linger(e, t);
    return 1;
  default:
    return 0; /* done lingering */
  }
}

int pc_invite_flow_down(ev *e, txn *t, uint64_t flow) {
  imsec_pcscf *p = e->p;
  pc_inv *inv = t->inv;
  if (!inv || !inv->invite)
    return -1;
  int open = inv->state <= INV_PROCEEDING;
  if (t->in_flow == flow) {
    /* The side that sent the INVITE is gone: nobody to answer; RFC 3261
     * §16.10 as if it had cancelled, so the callee stops ringing. */
    if (!open || inv->cancelled || inv->cancel_pending)
      return inv->cancelled ? 1 : 0; /* a CANCEL out: ACK its 487 */
    if (unqueue(e, t))
      return 0;
    if (inv->state == INV_PROCEEDING)
      send_cancel(e, t);
    else
      inv->cancel_pending = 1;
    return 1;
  }
  uint64_t down = down_flow(t);
  if (!down || down != flow)
    return 1;
  if (!open)
    return inv->state == INV_COMPLETED; /* keep absorbing the ACK */
  if (t->from_ue) {
    /* RFC 3261 §16.9: the S-CSCF's connection failed under it. */
    LOG(e, IMSEC_LOG_WARN, S("flow "), pc_num(p, flow),
        S(" to the S-CSCF lost under an INVITE; 503"));
    pc_txn_answer(e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
  } else {
    /* RFC 5626 §5.3: the UE's flow failed while it should answer. */
    LOG(e, IMSEC_LOG_INFO, S("UE flow "), pc_num(p, flow),
        S(" lost under an INVITE; 430"));
    pc_txn_answer(e, t, 430, "Flow Failed", 0);
  }
  inv->state = INV_COMPLETED;
  linger(e, t);
  return 1;
}
