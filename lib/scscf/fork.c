/* Forking of terminating requests (RFC 3261 §16.6-16.7, RFC 4320): the
 * response contexts, their client branches, the best response and each
 * branch's Timer F (§17.1.2.2); for an INVITE also 100 Trying, the
 * provisional responses, every 2xx, the CANCEL of the other branches and
 * timers B and C (the INVITE parts are in invite.c). */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

static void drop_best(txn *t) {
  if (t->best) {
    imsec_wipe(t->best, t->best_len);
    free(t->best);
  }
  t->best = NULL;
  t->best_len = 0;
}

void scscf_txn_free(txn *t) {
  free(t->stub);
  drop_best(t);
  for (size_t i = 0; i < t->n; i++) {
    free(t->b[i].ruri);
    free(t->b[i].via);
    free(t->b[i].route);
  }
  free(t->key);
  free(t->routes);
  free(t);
}

/* Forget a context and free it. `out` NULL: its timers are left to fire
 * for nothing. */
void scscf_txn_remove(imsec_scscf *s, txn *t, imsec_out *out) {
  (void)imsec_map_del(&s->tx, t->id);
  if (t->key &&
      imsec_map_sget(&s->tx_key, imsec_str_make(t->key, t->key_len)) == t)
    (void)imsec_map_sdel(&s->tx_key, imsec_str_make(t->key, t->key_len));
  for (size_t i = 0; i < t->n; i++) {
    if (t->b[i].timer)
      (void)imsec_map_del(&s->tx_timer, t->b[i].timer);
    if (t->b[i].timer_c) {
      (void)imsec_map_del(&s->tx_timer, t->b[i].timer_c);
      if (out && t->b[i].c_deadline)
        (void)imsec_out_timer(out, t->b[i].timer_c, 0);
    }
  }
  if (t->linger_timer) {
    (void)imsec_map_del(&s->tx_timer, t->linger_timer);
    if (out)
      (void)imsec_out_timer(out, t->linger_timer, 0);
  }
  if (t->linger)
    s->n_linger--;
  scscf_txn_free(t);
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
    scscf_log_err(out, IMSEC_LOG_WARN, "cannot answer a forked request", rv);
    return;
  }
  imsec_sip_builder b;
  imsec_sip_build_init(&b, s->obuf, OBUF_CAP);
  /* RFC 3261 §8.2.6.2: our 100 Trying carries no To tag (the UAS's
   * responses bring theirs). */
  imsec_sip_build_response(&b, &s->m2, code, imsec_str_c(reason),
                           imsec_str_c(code > 100 ? s->to_tag : ""));
  imsec_sip_build_header(&b, IMSEC_STR_LIT("Server"),
                         IMSEC_STR_LIT("imsec-scscf"));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n < 0) {
    scscf_log_err(out, IMSEC_LOG_WARN, "cannot build a response", n);
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

/* An INVITE context whose branches are all final stays a while (64*T1,
 * RFC 6026 §7.2): for the ACK of a non-2xx final response (absorbed here,
 * RFC 3261 §16.7 step 10 is hop by hop for it) and for retransmissions of
 * a 2xx, which still go upstream. At most max_txns linger; beyond that a
 * context ends at once (its late ACK is then a stray one). Returns 1 when
 * it lingers. */
static int linger_start(imsec_scscf *s, txn *t, imsec_time_ms now,
                        imsec_out *out) {
  if (s->n_linger >= s->cfg.max_txns)
    return 0;
  uint64_t id = ++s->next_id;
  if (imsec_map_put(&s->tx_timer, id, t, NULL) < 0)
    return 0;
  drop_best(t);
  t->linger = 1;
  t->linger_timer = id;
  s->n_linger++;
  (void)imsec_out_timer(out, id, now + s->cfg.txn_timeout_ms);
  return 1;
}

/* Every branch is final: answer upstream unless a 2xx already went, then
 * forget the request (an INVITE's context lingers first). */
static void txn_done(imsec_scscf *s, txn *t, imsec_time_ms now,
                     imsec_out *out) {
  if (!t->answered) {
    unsigned c = t->best_code;
    t->up_code = !c ? 408 : c == 503 ? 500 : c == 430 ? 480 : c;
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
  if (t->invite && linger_start(s, t, now, out))
    return;
  scscf_txn_remove(s, t, out);
}

/* Branch `bi` of `t` is final. Returns 1 when that ended (freed) `t`. */
int scscf_branch_final(imsec_scscf *s, txn *t, size_t bi, unsigned code,
                       const char *reason, const char *resp, size_t len,
                       imsec_time_ms now, imsec_out *out) {
  branch *b = &t->b[bi];
  if (b->code) {
    /* A repeated final response: absorbed, but for a 2xx to an INVITE,
     * which the UAS repeats until its ACK (RFC 3261 §13.3.1.4) and a
     * proxy forwards (RFC 6026 §7.2). */
    if (t->invite && resp && code < 300 && b->code < 300)
      send_up(t, resp, len, out);
    return 0;
  }
  b->code = code;
  (void)imsec_out_timer(out, b->timer, 0);
  if (b->c_deadline) {
    b->c_deadline = 0;
    (void)imsec_out_timer(out, b->timer_c, 0);
  }
  t->pending--;
  if (t->invite && resp && code >= 300) {
    /* RFC 3261 §17.1.1.3: the client transaction ACKs a non-2xx final
     * response itself, on that branch. */
    scscf_inv_ack(s, t, bi, out);
    if (b->st == BR_TIMED_OUT) {
      /* §16.8: Timer C fired and we CANCELled: for the caller it is our
       * timeout, not a cancellation it asked for. */
      code = 408;
      reason = "Request Timeout";
      resp = NULL;
      len = 0;
    }
  }
  if (code < 300 && resp && t->invite) {
    /* §16.7 step 5: every 2xx to an INVITE goes up (each fork may answer:
     * the caller ACKs and ends the extra dialogs); after the first, the
     * other branches are CANCELled (step 10). */
    send_up(t, resp, len, out);
    if (!t->answered) {
      t->answered = 1;
      t->up_code = code;
      for (size_t j = 0; j < t->n; j++)
        if (j != bi)
          scscf_inv_cancel_branch(s, t, j, now, out);
    }
  } else if (code < 300 && resp) {
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
  txn_done(s, t, now, out);
  return 1;
}

/* The connection `tag` failed: its pending branches got no answer
 * (§16.9: a transport error counts as 503). */
void scscf_fail_peer_branches(imsec_scscf *s, uint64_t tag, imsec_time_ms now,
                              imsec_out *out) {
  /* The contexts with a branch on it, by id: ending a branch may end (and
   * free) its context, which changes the map. */
  size_t n = 0, it = 0;
  uint64_t *ids = malloc(imsec_map_len(&s->tx) * sizeof(*ids) + 1);
  imsec_map_slot *e;
  while (ids && (e = imsec_map_next(&s->tx, &it)) != NULL) {
    const txn *t = e->val;
    for (size_t j = 0; j < t->n; j++)
      if (!t->b[j].code && t->b[j].peer_tag == tag) {
        ids[n++] = t->id;
        break;
      }
  }
  for (size_t k = 0; k < n; k++) {
    txn *t = imsec_map_get(&s->tx, ids[k]);
    int freed = 0;
    for (size_t j = 0; t && !freed && j < t->n; j++) {
      if (t->b[j].code || t->b[j].peer_tag != tag)
        continue;
      freed = scscf_branch_final(s, t, j, 503, "Service Unavailable", NULL, 0,
                                 now, out);
    }
  }
  free(ids);
}

/* Timer F of a branch (RFC 3261 §17.1.2.2); for an INVITE Timer B
 * (§17.1.1.2), the wait for the final response after a CANCEL (§9.1),
 * Timer C (§16.8) and the end of the lingering. Returns 1 when `timer`
 * was one. */
int scscf_fork_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                        imsec_out *out) {
  txn *t = imsec_map_get(&s->tx_timer, timer);
  if (!t)
    return 0;
  if (t->linger_timer == timer) {
    if (t->linger)
      scscf_txn_remove(s, t, NULL);
    return 1;
  }
  for (size_t j = 0; j < t->n; j++) {
    branch *b = &t->b[j];
    if (b->timer == timer) {
      if (b->code || !b->deadline || b->deadline > now)
        return 1; /* stale */
      /* The branch counts as 408 (§16.7 step 6 with no response for it). */
      (void)imsec_out_log(out, IMSEC_LOG_INFO,
                          t->invite ? "INVITE: a branch timed out (408)"
                                    : "forked request: a branch timed out "
                                      "(408)",
                          NULL);
      (void)scscf_branch_final(s, t, j, 408, "Request Timeout", NULL, 0, now,
                               out);
      return 1;
    }
    if (b->timer_c == timer) {
      if (b->code || !b->c_deadline || b->c_deadline > now)
        return 1; /* stale */
      b->c_deadline = 0;
      if (b->st < BR_PROCEEDING) {
        /* §16.8: no provisional response: as if it answered 408. */
        (void)imsec_out_log(out, IMSEC_LOG_INFO,
                            "INVITE: Timer C fired, no answer (408)", NULL);
        (void)scscf_branch_final(s, t, j, 408, "Request Timeout", NULL, 0, now,
                                 out);
        return 1;
      }
      /* §16.8: it rang too long: CANCEL it; its final response (487)
       * counts as 408. */
      (void)imsec_out_log(out, IMSEC_LOG_INFO,
                          "INVITE: Timer C fired: branch CANCELled", NULL);
      scscf_inv_cancel_branch(s, t, j, now, out);
      b->st = BR_TIMED_OUT;
      return 1;
    }
  }
  return 1;
}

/* The flow a forked request came in on went down: its responses have
 * nowhere to go, and nobody is left to take an INVITE's call. */
void scscf_fork_flow_down(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                          imsec_out *out) {
  size_t it = 0;
  imsec_map_slot *e;
  while (flow && (e = imsec_map_next(&s->tx, &it)) != NULL) {
    txn *t = e->val;
    if (t->up_flow != flow)
      continue;
    t->up_flow = 0;
    /* Cancelling sends and arms timers only: the map stays as it is. */
    for (size_t j = 0; t->invite && !t->linger && j < t->n; j++)
      scscf_inv_cancel_branch(s, t, j, now, out);
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

/* Forward the request in s->m statefully to `n` targets in parallel
 * (RFC 3261 §16.6): one client branch each, with its own Via branch,
 * Request-URI and Route, and its own Timer F. */
void scscf_proxy(imsec_scscf *s, uint64_t flow, const target *tg, size_t live,
                 imsec_time_ms now, imsec_out *out) {
  uint32_t mf = 70;
  int rv = imsec_sip_get_max_forwards(&s->m, &mf);
  if (rv == 0 && mf == 0) {
    scscf_respond(s, flow, 483, "Too Many Hops", out);
    return;
  }
  int invite = s->m.method_id == IMSEC_SIP_M_INVITE;
  char key[8 + 512];
  size_t kn = invite ? scscf_inv_key(s, flow, key, sizeof(key)) : 0;
  if (kn && imsec_map_sget(&s->tx_key, imsec_str_make(key, kn))) {
    /* RFC 3261 §17.2.1: a retransmission of an INVITE we work on (or
     * just answered) is absorbed by its server transaction. */
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG, "INVITE retransmission: absorbed",
                        NULL);
    return;
  }
  if (imsec_map_len(&s->tx) - s->n_linger >= s->cfg.max_txns) {
    /* Bounded memory: no more response contexts. */
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "too many pending forked requests: 503", NULL);
    scscf_respond(s, flow, 503, "Service Unavailable", out);
    return;
  }
  txn *t = NULL;
  if ((t = calloc(1, sizeof(*t) + live * sizeof(branch))) != NULL)
    t->id = ++s->next_id;
  if (!t || make_stub(&s->m, t) < 0 ||
      imsec_map_put(&s->tx, t->id, t, NULL) < 0) {
    if (t)
      scscf_txn_free(t);
    scscf_respond(s, flow, 500, "Server Internal Error", out);
    return;
  }
  t->up_flow = flow;
  t->n = live;
  t->invite = invite;
  if (kn && (t->key = malloc(kn)) != NULL) {
    memcpy(t->key, key, kn);
    t->key_len = kn;
    if (imsec_map_sput(&s->tx_key, imsec_str_make(key, kn), t, NULL) < 0) {
      free(t->key);
      t->key = NULL; /* no CANCEL matching without memory */
    }
  }
  if (invite) {
    /* RFC 3261 §16.2, §17.2.1: 100 Trying at once, so the previous hop
     * stops retransmitting and knows we work on it. */
    txn_respond(s, t, 100, "Trying", out);
    /* The Route fields every branch keeps, for its CANCEL and ACK. */
    size_t rl = 0;
    for (const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_ROUTE);
         h; h = imsec_sip_hdr_next(&s->m, h))
      rl += h->value.len + 9;
    if (rl && (t->routes = malloc(rl + 1)) != NULL) {
      size_t at = 0;
      for (const imsec_sip_hdr *h =
               imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_ROUTE);
           h; h = imsec_sip_hdr_next(&s->m, h)) {
        memcpy(t->routes + at, "Route: ", 7);
        memcpy(t->routes + at + 7, h->value.p, h->value.len);
        memcpy(t->routes + at + 7 + h->value.len, "\r\n", 2);
        at += h->value.len + 9;
      }
      t->routes[at] = 0;
    }
  }
  /* The Request-URI as it stands (routing may have set it already). */
  imsec_str ruri0 = s->m.new_ruri.len ? s->m.new_ruri : s->m.ruri;
  int ruri_set = 0;
  /* Edit once for every branch (RFC 3261 §16.6 step 3). */
  char mfs[16];
  scscf_dec_u64(rv == 0 ? mf - 1 : 70, mfs);
  long mfi = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_MAX_FORWARDS);
  int ok = mfi >= 0 ? imsec_sip_msg_replace(&s->m, (size_t)mfi,
                                            imsec_str_c(mfs)) == 0
                    : imsec_sip_msg_insert(&s->m, s->m.nhdrs,
                                           IMSEC_STR_LIT("Max-Forwards"),
                                           imsec_str_c(mfs)) == 0;
  char tid[20];
  scscf_hex_u64(t->id, tid);
  int via_pushed = 0, route_pushed = 0;
  size_t k = 0;
  for (size_t i = 0; i < live; i++) {
    const target *c = &tg[i];
    branch *b = &t->b[k];
    unsigned fail = 0;
    const char *why = NULL;
    imsec_addr to;
    if (!ok) {
      fail = 500;
      why = "Server Internal Error";
    } else if ((fail = c->fail) != 0) {
      why = fail == 500 ? "Server Internal Error" : "Temporarily Unavailable";
    } else {
      to = c->hop;
    }
    /* Per branch (§16.6 steps 6, 8): Request-URI, Route, its own Via. */
    char via[400], br[48];
    int vlen = -1;
    if (!fail) {
      /* BRANCH_PREFIX <txn id hex> "." <branch index hex> */
      size_t tl = strlen(tid);
      memcpy(br, tid, tl);
      br[tl] = '.';
      scscf_hex_u64(k, br + tl + 1);
      vlen = scscf_own_via(s, to.tp, BRANCH_PREFIX, br, via, sizeof(via));
      imsec_str vv = imsec_str_make(via, vlen < 0 ? 0 : (size_t)vlen);
      long vi = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_VIA);
      /* A target without its own Request-URI keeps the request's, even
       * after a branch before it changed it. */
      imsec_str ru = c->ruri ? imsec_str_c(c->ruri) : ruri0;
      int e =
          vlen < 0 ||
          ((c->ruri || ruri_set) && imsec_sip_msg_set_ruri(&s->m, ru) < 0) ||
          (via_pushed
               ? imsec_sip_msg_replace(&s->m, (size_t)vi, vv)
               : imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Via"), vv)) < 0;
      via_pushed = via_pushed || !e;
      ruri_set = ruri_set || c->ruri;
      /* An INVITE branch keeps what its CANCEL and ACK are built from
       * (RFC 3261 §9.1, §17.1.1.3). */
      if (!e && invite &&
          (!(b->ruri = scscf_dup_str(ru)) || !(b->via = scscf_dup_str(vv)) ||
           (c->route && !(b->route = scscf_dup_str(imsec_str_c(c->route))))))
        e = 1;
      long ri = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_ROUTE);
      if (!e && c->route)
        e = (route_pushed
                 ? imsec_sip_msg_replace(&s->m, (size_t)ri,
                                         imsec_str_c(c->route))
                 : imsec_sip_msg_push_top(&s->m, IMSEC_STR_LIT("Route"),
                                          imsec_str_c(c->route))) < 0;
      else if (!e && route_pushed)
        e = imsec_sip_msg_remove(&s->m, (size_t)ri) < 0;
      if (!e)
        route_pushed = c->route != NULL;
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
      (void)imsec_out_logv(
          out, IMSEC_LOG_INFO,
          (imsec_str[]){s->m.method, IMSEC_STR_LIT(" to "), imsec_str_c(c->who),
                        IMSEC_STR_LIT(" via "), imsec_str_c(to.host)},
          5);
      b->peer_tag = scscf_send_to(s, &to, c->expect, s->obuf, (size_t)n, out);
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
    if (imsec_map_put(&s->tx_timer, b->timer, t, NULL) < 0) {
      b->timer = 0; /* no Timer F without memory: the branch ends now */
      b->code = 500;
      consider(t, 500, "Server Internal Error", NULL, 0);
      continue;
    }
    (void)imsec_out_timer(out, b->timer, b->deadline);
    t->pending++;
    if (!invite)
      continue;
    /* §16.6 step 11: Timer C, reset by each provisional response. Without
     * memory for it the branch still ends by Timer B or its answer. */
    b->timer_c = ++s->next_id;
    if (imsec_map_put(&s->tx_timer, b->timer_c, t, NULL) < 0) {
      b->timer_c = 0;
      continue;
    }
    b->c_deadline = now + s->cfg.timer_c_ms;
    (void)imsec_out_timer(out, b->timer_c, b->c_deadline);
  }
  if (!t->pending)
    txn_done(s, t, now, out);
}

/* A response to a branch of a forked request: match it to its response
 * context by our Via branch (RFC 3261 §16.7 steps 1-2), pop our Via, and
 * let the context decide what goes upstream. */
void scscf_do_response(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
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
  txn *t = imsec_map_get(&s->tx, id);
  if (!t || bi >= t->n) {
    /* Its context is gone: every branch ended; a late answer. */
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG,
                        "response to a finished request: absorbed", NULL);
    return;
  }
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_cseq(&s->m, &cs) < 0)
    return;
  if (cs->method_id == IMSEC_SIP_M_CANCEL) {
    /* The answer to a CANCEL we sent (RFC 3261 §9.1): hop by hop. */
    (void)imsec_out_log(out, IMSEC_LOG_DEBUG,
                        "response to our CANCEL: absorbed", NULL);
    return;
  }
  if ((cs->method_id == IMSEC_SIP_M_INVITE) != t->invite)
    return; /* not the method of the request it claims to answer */
  unsigned code = s->m.status;
  if (code < 200 &&
      (!t->invite || !scscf_inv_provisional(s, t, (size_t)bi, code, now, out)))
    /* RFC 4320 §4.2: no provisional response but 100 to a non-INVITE,
     * and 100 is hop by hop (RFC 3261 §16.7 step 3). */
    return;
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
  if (code < 200) {
    /* §16.7 step 5: a provisional response goes up at once. */
    send_up(t, s->obuf, (size_t)n, out);
    return;
  }
  if (code >= 300) {
    char num[24];
    scscf_dec_u64(code, num);
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "branch answered ", num, NULL);
  }
  (void)scscf_branch_final(s, t, (size_t)bi, code, NULL, s->obuf, (size_t)n,
                           now, out);
}
