/* INVITE response contexts of the S-CSCF (RFC 3261 §16.7-16.10): the
 * CANCEL from upstream and the ones we send down, the ACK of a non-2xx
 * final response on a branch and the absorbed one from upstream, timers B
 * and C around provisional responses. The context itself (branches, best
 * response, every 2xx going up) is fork.c's. */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

size_t scscf_inv_key(imsec_scscf *s, uint64_t flow, char *key, size_t cap) {
  const imsec_sip_via *v;
  if (imsec_sip_get_via(&s->m, &v) < 0 || !v->branch.len ||
      v->branch.len + sizeof(flow) > cap)
    return 0;
  memcpy(key, &flow, sizeof(flow));
  memcpy(key + sizeof(flow), v->branch.p, v->branch.len);
  return sizeof(flow) + v->branch.len;
}

/* The INVITE context the request in s->m (a CANCEL or an ACK) belongs to
 * (RFC 3261 §9.2, §17.2.3): same flow and top Via branch, and the same
 * sent-by, Call-ID and CSeq number as the INVITE it came with. */
static txn *match_up(imsec_scscf *s, uint64_t flow) {
  char key[8 + 512];
  size_t kn = scscf_inv_key(s, flow, key, sizeof(key));
  txn *t = kn ? imsec_map_sget(&s->tx_key, imsec_str_make(key, kn)) : NULL;
  if (!t)
    return NULL;
  const imsec_sip_via *v;
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_via(&s->m, &v) < 0 ||
      imsec_sip_get_call_id(&s->m, &cid) < 0)
    return NULL;
  imsec_str host = v->host;
  uint16_t port = v->has_port ? v->port : 0;
  if (imsec_sip_get_cseq(&s->m, &cs) < 0)
    return NULL;
  uint32_t seq = cs->seq;
  /* The INVITE's own fields, from its stub. */
  const imsec_sip_via *iv;
  const imsec_sip_cseq *ics;
  imsec_str icid;
  if (imsec_sip_parse(&s->m2, t->stub, t->stub_len, 1) < 0 ||
      imsec_sip_get_via(&s->m2, &iv) < 0 ||
      imsec_sip_get_call_id(&s->m2, &icid) < 0 ||
      imsec_sip_get_cseq(&s->m2, &ics) < 0)
    return NULL;
  if (!imsec_str_ieq(host, iv->host) || port != (iv->has_port ? iv->port : 0) ||
      seq != ics->seq || !imsec_str_eq(cid, icid))
    return NULL;
  return t;
}

/* Send a CANCEL (`ack` 0) or an ACK down branch `bi`, built from what the
 * INVITE went with (RFC 3261 §9.1, §17.1.1.3): its Request-URI, our Via
 * with its branch, its Route fields, From, Call-ID, the CSeq number; To
 * as sent for the CANCEL, the response's (with its tag, s->m) for the
 * ACK. Over the connection the INVITE took. */
static void send_down(imsec_scscf *s, txn *t, size_t bi, int ack,
                      imsec_out *out) {
  branch *b = &t->b[bi];
  const char *what = ack ? "ACK" : "CANCEL";
  peer *p = scscf_peer_by_tag(s, b->peer_tag);
  if (!b->ruri || !b->via || !p) {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, what,
                        " for a branch whose connection is gone: not sent",
                        NULL);
    return;
  }
  imsec_str to = IMSEC_STR_NULL;
  if (ack) {
    const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_TO);
    if (!h)
      return;
    to = h->value;
  }
  const imsec_sip_cseq *cs;
  const imsec_sip_hdr *fh, *th, *ch;
  if (imsec_sip_parse(&s->m2, t->stub, t->stub_len, 1) < 0 ||
      imsec_sip_get_cseq(&s->m2, &cs) < 0 ||
      !(fh = imsec_sip_hdr_first(&s->m2, IMSEC_SIP_H_FROM)) ||
      !(th = imsec_sip_hdr_first(&s->m2, IMSEC_SIP_H_TO)) ||
      !(ch = imsec_sip_hdr_first(&s->m2, IMSEC_SIP_H_CALL_ID)))
    return;
  if (!ack)
    to = th->value;
  char num[24];
  scscf_dec_u64(cs->seq, num);
  size_t cap = strlen(b->ruri) + strlen(b->via) +
               (b->route ? strlen(b->route) : 0) +
               (t->routes ? strlen(t->routes) : 0) + fh->value.len + to.len +
               ch->value.len + 256;
  char *buf = malloc(cap);
  if (!buf)
    return;
  imsec_sip_builder bl;
  imsec_sip_build_init(&bl, buf, cap);
  imsec_sip_build_request(&bl, imsec_str_c(what), imsec_str_c(b->ruri));
  imsec_sip_build_header(&bl, IMSEC_STR_LIT("Via"), imsec_str_c(b->via));
  imsec_sip_build_header(&bl, IMSEC_STR_LIT("Max-Forwards"),
                         IMSEC_STR_LIT("70"));
  if (b->route)
    imsec_sip_build_header(&bl, IMSEC_STR_LIT("Route"), imsec_str_c(b->route));
  if (t->routes)
    imsec_sip_build_raw(&bl, imsec_str_c(t->routes));
  imsec_sip_build_header(&bl, IMSEC_STR_LIT("From"), fh->value);
  imsec_sip_build_header(&bl, IMSEC_STR_LIT("To"), to);
  imsec_sip_build_header(&bl, IMSEC_STR_LIT("Call-ID"), ch->value);
  imsec_sip_build_raw(&bl, IMSEC_STR_LIT("CSeq: "));
  imsec_sip_build_raw(&bl, imsec_str_c(num));
  imsec_sip_build_raw(&bl, IMSEC_STR_LIT(" "));
  imsec_sip_build_raw(&bl, imsec_str_c(what));
  imsec_sip_build_raw(&bl, IMSEC_STR_LIT("\r\n"));
  int n = imsec_sip_build_finish(&bl, IMSEC_STR_NULL);
  if (n < 0) {
    scscf_log_err(out, IMSEC_LOG_WARN,
                  ack ? "cannot build an ACK" : "cannot build a CANCEL", n);
  } else {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, what, " to branch ", b->ruri,
                        NULL);
    (void)scscf_send_to(s, &p->addr, p->expect, buf, (size_t)n, out);
  }
  free(buf);
}

void scscf_inv_ack(imsec_scscf *s, txn *t, size_t bi, imsec_out *out) {
  send_down(s, t, bi, 1, out);
}

void scscf_inv_cancel_branch(imsec_scscf *s, txn *t, size_t bi,
                             imsec_time_ms now, imsec_out *out) {
  branch *b = &t->b[bi];
  if (b->code || b->st >= BR_CANCELLED)
    return;
  if (b->st < BR_PROCEEDING) {
    /* RFC 3261 §9.1: no CANCEL before a provisional response; it goes at
     * the first one (Timer B still ends a branch that stays silent). */
    b->st = BR_CALLING_CANCEL;
    return;
  }
  send_down(s, t, bi, 0, out);
  b->st = BR_CANCELLED;
  if (b->c_deadline) {
    b->c_deadline = 0;
    (void)imsec_out_timer(out, b->timer_c, 0);
  }
  /* §9.1: the INVITE's final response (487) should follow; without it
   * the branch ends after 64*T1 as 408 (§16.7 step 6). */
  if (b->timer) {
    b->deadline = now + s->cfg.txn_timeout_ms;
    (void)imsec_out_timer(out, b->timer, b->deadline);
  }
}

int scscf_inv_provisional(imsec_scscf *s, txn *t, size_t bi, unsigned code,
                          imsec_time_ms now, imsec_out *out) {
  branch *b = &t->b[bi];
  if (b->code)
    return 0; /* after its final response: nothing to say */
  if (b->st < BR_PROCEEDING) {
    /* §17.1.1.2: the client transaction proceeds: Timer B no longer
     * runs; a CANCEL that waited for this goes now (§9.1). */
    int cancel = b->st == BR_CALLING_CANCEL;
    b->st = BR_PROCEEDING;
    if (b->deadline) {
      b->deadline = 0;
      (void)imsec_out_timer(out, b->timer, 0);
    }
    if (cancel)
      scscf_inv_cancel_branch(s, t, bi, now, out);
  }
  if (code > 100 && b->st == BR_PROCEEDING && b->c_deadline) {
    /* §16.7 step 2: 101-199 reset Timer C. */
    b->c_deadline = now + s->cfg.timer_c_ms;
    (void)imsec_out_timer(out, b->timer_c, b->c_deadline);
  }
  /* §16.7 step 5: 101-199 go up, while no final response did (the
   * server transaction ends with its final response, §17.2.1). */
  return code > 100 && !t->up_code;
}

void scscf_cancel(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                  imsec_out *out) {
  txn *t = match_up(s, flow);
  if (!t || !t->invite) {
    /* §16.10 would forward it statelessly; the S-CSCF only serves the
     * requests it holds a context for. One line at most per burst. */
    uint64_t held = 0;
    if (imsec_lograte_take(&s->stray_rate, now, &held)) {
      char n[24];
      scscf_dec_u64(held, n);
      (void)imsec_out_log(out, IMSEC_LOG_INFO,
                          "CANCEL without a transaction: dropped",
                          held ? " (" : "", held ? n : "",
                          held ? " like it not logged)" : "", NULL);
    }
    return;
  }
  /* §16.10: 200 to the CANCEL at once, then CANCEL every pending branch;
   * the best final response (487 from the UAS) goes up as usual. */
  scscf_respond(s, flow, 200, "OK", out);
  if (t->linger)
    return;
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "INVITE CANCELled upstream", NULL);
  for (size_t j = 0; j < t->n; j++)
    scscf_inv_cancel_branch(s, t, j, now, out);
}

int scscf_ack_absorb(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                     imsec_out *out) {
  (void)now;
  txn *t = match_up(s, flow);
  /* §17.2.1: only the ACK of a non-2xx final response belongs to the
   * INVITE's transaction; an ACK for a 2xx is a request of its own. */
  if (!t || !t->invite || t->up_code < 300)
    return 0;
  (void)imsec_out_log(out, IMSEC_LOG_DEBUG,
                      "ACK of our non-2xx final response: absorbed", NULL);
  if (t->linger)
    scscf_txn_remove(s, t, out);
  return 1;
}
