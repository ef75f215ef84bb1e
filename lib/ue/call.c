/*
 * Calls over the registered flow (RFC 3261 §12-15, §9; RFC 3264 through
 * sdp.c; TS 24.229 §5.1.3 and §5.1.4 as far as a UE without media goes).
 *
 * The UAC: INVITE with an SDP offer routed by the Service-Route (RFC
 * 3608), provisional responses (early dialogs), the ACK of every 2xx
 * (§13.2.2.4: route set the reversed Record-Route, target the Contact),
 * an extra 2xx from another fork ACKed and BYEd, the ACK of a non-2xx
 * final response (§17.1.1.3: hop by hop, the INVITE's branch), CANCEL
 * (§9.1: only after a provisional), BYE, re-INVITE.
 * The UAS: 180 with a To tag at once, then 200 with the SDP answer after
 * the answer delay, or 486, or ringing until the caller gives up; the 2xx
 * sent again from T1 doubling to T2 until the ACK (§13.3.1.4), BYE when
 * none came in 64*T1; CANCEL (§9.2), BYE (§15.1.2), re-INVITE (§14.2),
 * INFO/UPDATE/OPTIONS in a dialog; 481 for an unknown dialog.
 *
 * Every request and response goes out on the flow the call lives on (the
 * registered flow, RFC 5626 §5; in mode M2b an incoming call's the P-CSCF's
 * inbound flow); the flow going ends the call.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

#define CALL_SLOTS (2 * IMSEC_UE_MAX_CALLS)
#define CALL_ROUTES 12 /* Record-Route entries kept (a roaming call has 6) */
#define RR_CAP 512
#define VIA_CAP 400
#define SDP_CAP 1024

typedef struct ue_call {
  int handle; /* 0: a free slot */
  uint64_t seq;
  int incoming;
  imsec_ue_call_state state;
  imsec_ue_call_end end;
  unsigned final_status, bye_status, reinvites;
  char peer[IMSEC_UE_URI_CAP];
  char call_id[128];
  uint64_t flow;
  /* the dialog (§12): local and remote URI and tag, target, route set */
  char local_uri[IMSEC_UE_URI_CAP], remote_uri[IMSEC_UE_URI_CAP];
  char local_tag[40], remote_tag[80];
  char target[IMSEC_UE_URI_CAP];
  char route[CALL_ROUTES][RR_CAP];
  size_t n_route;
  uint32_t local_cseq, remote_cseq;
  /* our INVITE (initial or re-INVITE) */
  char inv_via[VIA_CAP];
  char inv_ruri[IMSEC_UE_URI_CAP];
  uint32_t inv_cseq;
  uint32_t init_cseq; /* the initial INVITE's: 1, 2 once sent again with
                         Proxy-Authorization after a 407 */
  int authed;         /* the initial INVITE went with credentials */
  int inv_open;       /* no final response yet */
  int provisional;    /* a provisional came for the initial INVITE */
  int cancel_wanted;  /* hung up before a provisional: CANCEL on the first */
  int cancel_sent;
  /* our BYE */
  uint32_t bye_cseq;
  imsec_ue_call_end bye_end; /* what the call ends as once it completes */
  int bye_wanted;            /* hung up while our 2xx waits for its ACK */
  /* the UAS: the INVITE being answered (a copy) and its CSeq */
  char *req;
  size_t req_len;
  uint32_t req_cseq;
  /* the last final response to an INVITE of the peer, sent again */
  char *resp;
  size_t resp_len;
  int awaiting_ack;
  /* the last ACK we sent, sent again for a retransmitted final */
  char *ack;
  size_t ack_len;
  imsec_time_ms answer_at, retx_at, retx_ival, ack_by, deadline;
  uint64_t sdp_sess;
  unsigned sdp_ver;
  imsec_time_ms started_at, answered_at, ended_at;
} ue_call;

struct ue_calls {
  ue_call c[CALL_SLOTS];
  int next_handle;
  uint64_t seq;
  imsec_time_ms armed;
};

static void hdr(imsec_sip_builder *b, const char *name, const char *value) {
  imsec_sip_build_header(b, S(name), S(value));
}

static void take(char **dst, size_t *dlen, const char *p, size_t n) {
  free(*dst);
  *dst = NULL;
  *dlen = 0;
  if (!n || !(*dst = malloc(n)))
    return;
  memcpy(*dst, p, n);
  *dlen = n;
}

static void call_clear(ue_call *c) {
  free(c->req);
  free(c->resp);
  free(c->ack);
  memset(c, 0, sizeof *c);
}

void ue_calls_free(imsec_ue *ue) {
  if (!ue->calls)
    return;
  for (size_t i = 0; i < CALL_SLOTS; i++)
    call_clear(&ue->calls->c[i]);
  free(ue->calls);
  ue->calls = NULL;
}

static int live(const ue_call *c) {
  return c->handle && c->state != IMSEC_UE_CALL_ENDED;
}

const char *imsec_ue_call_end_name(imsec_ue_call_end e) {
  switch (e) {
  case IMSEC_UE_END_LOCAL_BYE:
    return "local-bye";
  case IMSEC_UE_END_REMOTE_BYE:
    return "remote-bye";
  case IMSEC_UE_END_CANCELLED:
    return "cancelled";
  case IMSEC_UE_END_REJECTED:
    return "rejected";
  case IMSEC_UE_END_TIMEOUT:
    return "timeout";
  case IMSEC_UE_END_FLOW_LOST:
    return "flow-lost";
  default:
    return "none";
  }
}

static void ended(ue_call *c, imsec_ue_call_end why, imsec_time_ms now,
                  imsec_out *out) {
  if (c->state == IMSEC_UE_CALL_ENDED)
    return;
  c->state = IMSEC_UE_CALL_ENDED;
  c->end = why;
  c->ended_at = now ? now : 1;
  c->answer_at = c->retx_at = c->ack_by = c->deadline = 0;
  c->awaiting_ack = 0;
  c->inv_open = 0;
  free(c->req);
  c->req = NULL;
  c->req_len = 0;
  LOG(out, IMSEC_LOG_INFO, S("call "), S(c->incoming ? "from " : "to "),
      S(c->peer), S(" ended ("), S(imsec_ue_call_end_name(why)), S(")"));
}

/* ---------------------------------------------------------------- timer */

static void set_min(imsec_time_ms *m, imsec_time_ms v) {
  if (v && (!*m || v < *m))
    *m = v;
}

static void call_arm(imsec_ue *ue, imsec_out *out) {
  if (!ue->calls)
    return;
  imsec_time_ms next = 0;
  for (size_t i = 0; i < CALL_SLOTS; i++) {
    const ue_call *c = &ue->calls->c[i];
    if (!live(c))
      continue;
    set_min(&next, c->answer_at);
    if (c->awaiting_ack) {
      set_min(&next, c->retx_at);
      set_min(&next, c->ack_by);
    }
    set_min(&next, c->deadline);
  }
  if (next != ue->calls->armed) {
    ue->calls->armed = next;
    ue_arm(out, IMSEC_UE_TIMER_CALL, next);
  }
}

/* --------------------------------------------------------------- lookup */

static ue_call *by_handle(imsec_ue *ue, int handle) {
  if (!ue->calls || handle <= 0)
    return NULL;
  for (size_t i = 0; i < CALL_SLOTS; i++)
    if (ue->calls->c[i].handle == handle)
      return &ue->calls->c[i];
  return NULL;
}

/* The call of a message: its Call-ID, our tag (`ours`) and, when given,
 * the peer's tag. */
static ue_call *by_dialog(imsec_ue *ue, imsec_str cid, imsec_str ours,
                          const imsec_str *theirs) {
  if (!ue->calls)
    return NULL;
  ue_call *best = NULL;
  for (size_t i = 0; i < CALL_SLOTS; i++) {
    ue_call *c = &ue->calls->c[i];
    if (!c->handle || !imsec_str_eq(cid, S(c->call_id)) ||
        !imsec_str_eq(ours, S(c->local_tag)))
      continue;
    if (theirs && !imsec_str_eq(*theirs, S(c->remote_tag)))
      continue;
    if (!best || c->seq > best->seq)
      best = c;
  }
  return best;
}

static ue_call *new_slot(imsec_ue *ue) {
  if (!ue->calls) {
    if (!(ue->calls = calloc(1, sizeof *ue->calls)))
      return NULL;
    ue->calls->next_handle = 1;
  }
  size_t n_live = 0;
  ue_call *free_slot = NULL, *oldest = NULL;
  for (size_t i = 0; i < CALL_SLOTS; i++) {
    ue_call *c = &ue->calls->c[i];
    if (live(c))
      n_live++;
    else if (!c->handle) {
      if (!free_slot)
        free_slot = c;
    } else if (!oldest || c->seq < oldest->seq) {
      oldest = c;
    }
  }
  if (n_live >= IMSEC_UE_MAX_CALLS)
    return NULL;
  ue_call *c = free_slot ? free_slot : oldest;
  if (!c)
    return NULL;
  call_clear(c);
  c->handle = ue->calls->next_handle++;
  if (ue->calls->next_handle <= 0)
    ue->calls->next_handle = 1;
  c->seq = ++ue->calls->seq;
  return c;
}

static size_t n_live(const imsec_ue *ue) {
  size_t n = 0;
  if (ue->calls)
    for (size_t i = 0; i < CALL_SLOTS; i++)
      n += live(&ue->calls->c[i]) != 0;
  return n;
}

/* ------------------------------------------------------------- building */

static void send_bytes(imsec_ue *ue, ue_call *c, const char *p, size_t n,
                       imsec_out *out) {
  (void)ue;
  if (c->flow)
    (void)imsec_out_send(out, c->flow, p, n);
}

/* What a request of the dialog looks like (§12.2.1.1). */
typedef struct req_spec {
  const char *method;
  const char *ruri;        /* NULL: the remote target */
  const char *via;         /* NULL: a fresh branch */
  char *via_out;           /* where the Via used is kept (VIA_CAP), or NULL */
  uint32_t cseq;           /* the CSeq number */
  const char *to_tag;      /* NULL: the dialog's remote tag ("" none) */
  int service_route;       /* route by the Service-Route (out of a dialog) */
  int contact;             /* Contact, Allow, Supported (INVITE) */
  const char *proxy_authz; /* Proxy-Authorization value, or NULL */
  const char *sdp;         /* a body, application/sdp */
  char **keep;             /* a copy of the bytes sent (ACK), or NULL */
  size_t *keep_len;
} req_spec;

static int send_request(imsec_ue *ue, ue_call *c, const req_spec *r,
                        imsec_out *out) {
  char via[VIA_CAP], from[IMSEC_UE_URI_CAP + 64], to[IMSEC_UE_URI_CAP + 96],
      cseq[48], rt[RR_CAP + 8], ct[IMSEC_UE_URI_CAP + 8];
  IMSEC_GUARD(ue_angle(ct, sizeof ct, ue->contact, NULL));
  if (r->via) {
    imsec_str v = S(r->via);
    if (imsec_str_copy(v, via, sizeof via) < 0)
      return IMSEC_ERR_NOBUF;
  } else {
    IMSEC_GUARD(ue_build_via(ue, via, sizeof via));
  }
  if (r->via_out)
    memcpy(r->via_out, via, strlen(via) + 1);
  IMSEC_GUARD(ue_angle(from, sizeof from, c->local_uri, c->local_tag));
  const char *tt = r->to_tag ? r->to_tag : c->remote_tag;
  IMSEC_GUARD(ue_angle(to, sizeof to, c->remote_uri, tt[0] ? tt : NULL));
  imsec_sbuf sb;
  imsec_sbuf_init(&sb, cseq, sizeof cseq);
  imsec_sbuf_num(&sb, r->cseq);
  imsec_sbuf_add(&sb, " ");
  imsec_sbuf_add(&sb, r->method);
  char *msg = malloc(UE_MSG_CAP);
  if (!msg)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, msg, UE_MSG_CAP);
  imsec_sip_build_request(&b, S(r->method), S(r->ruri ? r->ruri : c->target));
  hdr(&b, "Via", via);
  hdr(&b, "Max-Forwards", "70");
  if (r->service_route) {
    /* TS 24.229 §5.1.2A.1.1, RFC 3608: the Service-Route is the route
     * set of requests out of a dialog; the P-CSCF is the flow itself. */
    for (size_t i = 0; i < ue->n_routes; i++)
      if (ue_angle(rt, sizeof rt, ue->routes[i], NULL) == 0)
        hdr(&b, "Route", rt);
  } else {
    for (size_t i = 0; i < c->n_route; i++)
      hdr(&b, "Route", c->route[i]);
  }
  hdr(&b, "From", from);
  hdr(&b, "To", to);
  hdr(&b, "Call-ID", c->call_id);
  hdr(&b, "CSeq", cseq);
  if (r->contact) {
    hdr(&b, "Contact", ct);
    hdr(&b, "Allow", UE_ALLOW);
    hdr(&b, "Supported", "outbound");
    hdr(&b, "Accept", "application/sdp");
  }
  if (r->proxy_authz)
    hdr(&b, "Proxy-Authorization", r->proxy_authz);
  if (r->sdp)
    hdr(&b, "Content-Type", "application/sdp");
  int n = imsec_sip_build_finish(&b, r->sdp ? S(r->sdp) : IMSEC_STR_NULL);
  if (n > 0) {
    send_bytes(ue, c, msg, (size_t)n, out);
    if (r->keep)
      take(r->keep, r->keep_len, msg, (size_t)n);
  }
  free(msg);
  return n < 0 ? n : 0;
}

/* A response to `req` on the call's flow (`c` may be NULL: then on
 * `flow`). `dialog`: Contact and the Record-Route copied (§12.1.1). */
static void respond(imsec_ue *ue, ue_call *c, uint64_t flow, imsec_sip_msg *req,
                    unsigned code, const char *reason, int dialog,
                    const char *sdp, imsec_out *out) {
  char rtag[17];
  const char *tag = c ? c->local_tag : NULL;
  if (!tag) {
    if (ue_rand_hex(ue, rtag, sizeof rtag, 8) < 0)
      return;
    tag = rtag;
  }
  char *buf = malloc(UE_MSG_CAP);
  if (!buf)
    return;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, UE_MSG_CAP);
  /* A 100 carries no To tag (§8.2.6.2). */
  imsec_sip_build_response(&b, req, code, S(reason),
                           code == 100 ? IMSEC_STR_NULL : S(tag));
  if (dialog) {
    for (const imsec_sip_hdr *h =
             imsec_sip_hdr_first(req, IMSEC_SIP_H_RECORD_ROUTE);
         h; h = imsec_sip_hdr_next(req, h))
      imsec_sip_build_header(&b, S("Record-Route"), h->value);
    char ct[IMSEC_UE_URI_CAP + 8];
    if (ue_angle(ct, sizeof ct, ue->contact, NULL) == 0)
      hdr(&b, "Contact", ct);
  }
  if (dialog || code == 405 || code == 200) {
    hdr(&b, "Allow", UE_ALLOW);
    hdr(&b, "Supported", "outbound");
  }
  if (sdp)
    hdr(&b, "Content-Type", "application/sdp");
  int n = imsec_sip_build_finish(&b, sdp ? S(sdp) : IMSEC_STR_NULL);
  if (n > 0) {
    uint64_t f = c && c->flow ? c->flow : flow;
    if (f)
      (void)imsec_out_send(out, f, buf, (size_t)n);
    const imsec_sip_cseq *cs;
    /* The final answer to the INVITE being answered is sent again for
     * a retransmission of it (a 491 or 500 to another one is not). */
    if (c && code >= 200 && imsec_sip_get_cseq(req, &cs) == 0 &&
        cs->method_id == IMSEC_SIP_M_INVITE && cs->seq == c->req_cseq)
      take(&c->resp, &c->resp_len, buf, (size_t)n);
  }
  free(buf);
}

/* ------------------------------------------------------- the dialog state */

static void copy_uri(char *dst, size_t cap, imsec_str uri) {
  ue_copy_wire(dst, cap, uri);
}

/* The route set from the Record-Route of `m` (§12.1.1 in order for the
 * UAS; §12.1.2 reversed for the UAC). Beyond CALL_ROUTES entries, or an
 * entry too long to keep, the hops nearest to the UE are the ones kept
 * (its own P-CSCF first): a request of the dialog then fails further on,
 * never at a hop the UE skipped; one log line says so. */
static void take_routes(ue_call *c, imsec_sip_msg *m, int reverse,
                        imsec_out *out) {
  char tmp[CALL_ROUTES][RR_CAP];
  size_t n = 0, total = 0, bad = 0;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  while (imsec_sip_value_next(m, IMSEC_SIP_H_RECORD_ROUTE, &it, &v, NULL) > 0) {
    if (v.len >= RR_CAP) {
      bad++;
      continue;
    }
    total++;
    /* The UAC's nearest hops are the last entries: keep a window. */
    if (n < CALL_ROUTES)
      ue_copy_wire(tmp[n++], RR_CAP, v);
    else if (reverse)
      ue_copy_wire(tmp[(total - 1) % CALL_ROUTES], RR_CAP, v);
  }
  for (size_t i = 0; i < n; i++) {
    /* In received order: tmp[(first + i) % n], the oldest kept first. */
    size_t first = reverse && total > CALL_ROUTES ? total % CALL_ROUTES : 0;
    size_t k = reverse ? n - 1 - i : i;
    memcpy(c->route[i], tmp[(first + k) % CALL_ROUTES], RR_CAP);
  }
  c->n_route = n;
  if (total > n || bad)
    LOG(out, IMSEC_LOG_WARN, S("call "), S(c->call_id),
        S(": Record-Route longer than the UE keeps; far hops dropped"));
}

/* The remote target from the Contact of `m` (§12.1); kept when none. */
static void take_target(ue_call *c, imsec_sip_msg *m) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr a;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &a) > 0 && !a.star)
    copy_uri(c->target, sizeof c->target, a.uri);
}

static imsec_str to_tag(imsec_sip_msg *m) {
  const imsec_sip_addr *to;
  return imsec_sip_get_to(m, &to) == 0 ? to->tag : IMSEC_STR_NULL;
}

/* ---------------------------------------------------------------- UAC */

static uint64_t sess_id(imsec_ue *ue) {
  uint8_t r[4] = {0};
  if (imsec_random(ue->crypto, r, sizeof r) < 0)
    r[0] = 1; /* the session id only tells sessions apart */
  return ((uint64_t)r[0] << 24 | (uint64_t)r[1] << 16 | (uint64_t)r[2] << 8 |
          r[3]) +
         1;
}

static int send_bye(imsec_ue *ue, ue_call *c, imsec_ue_call_end why,
                    imsec_time_ms now, imsec_out *out) {
  c->bye_cseq = ++c->local_cseq;
  c->bye_end = why;
  c->bye_wanted = 0;
  c->state = IMSEC_UE_CALL_ENDING;
  c->deadline = now + ue->txn_timeout;
  req_spec r = {.method = "BYE", .cseq = c->bye_cseq};
  LOG(out, IMSEC_LOG_INFO, S("-> BYE "), S(c->target));
  return send_request(ue, c, &r, out);
}

static int send_cancel(imsec_ue *ue, ue_call *c, imsec_time_ms now,
                       imsec_out *out) {
  /* §9.1: the INVITE's Request-URI, Call-ID, To, From, CSeq number and
   * its one Via (the same branch), the INVITE's route. */
  c->cancel_sent = 1;
  c->deadline = now + 64 * ue->sip_timers.t1;
  req_spec r = {.method = "CANCEL",
                .ruri = c->inv_ruri,
                .via = c->inv_via,
                .cseq = c->inv_cseq,
                .to_tag = "",
                .service_route = 1};
  LOG(out, IMSEC_LOG_INFO, S("-> CANCEL "), S(c->inv_ruri));
  return send_request(ue, c, &r, out);
}

int ue_h_call(imsec_ue *ue, const ue_event *e) {
  imsec_out *out = e->out;
  imsec_time_ms now = e->now;
  if (!ue->registered || !ue->flow)
    return IMSEC_ERR_STATE;
  imsec_str ts = S(e->to);
  if (!ue_target_ok(ts))
    return IMSEC_ERR_INVAL;
  if (n_live(ue) >= IMSEC_UE_MAX_CALLS)
    return IMSEC_ERR_LIMIT;
  ue_call *c = new_slot(ue);
  if (!c)
    return ue->calls ? IMSEC_ERR_LIMIT : IMSEC_ERR_NOMEM;
  char idhex[33];
  if (ue_rand_hex(ue, idhex, sizeof idhex, 16) < 0 ||
      ue_rand_hex(ue, c->local_tag, sizeof c->local_tag, 8) < 0) {
    call_clear(c);
    return IMSEC_ERR_CRYPTO;
  }
  memcpy(c->call_id, idhex, sizeof idhex);
  c->flow = ue->flow;
  memcpy(c->peer, e->to, ts.len + 1);
  memcpy(c->remote_uri, e->to, ts.len + 1);
  memcpy(c->target, e->to, ts.len + 1);
  memcpy(c->inv_ruri, e->to, ts.len + 1);
  memcpy(c->local_uri, ue->impus[0], strlen(ue->impus[0]) + 1);
  c->state = IMSEC_UE_CALL_CALLING;
  c->started_at = now;
  c->sdp_sess = sess_id(ue);
  c->sdp_ver = 1;
  c->inv_cseq = c->local_cseq = c->init_cseq = 1;
  c->inv_open = 1;
  c->deadline = now + ue->txn_timeout; /* Timer B (§17.1.1.2) */
  char sdp[SDP_CAP];
  int rv = ue_sdp_offer(sdp, sizeof sdp, ue->local_host, c->sdp_sess, 1);
  if (rv >= 0) {
    /* SIP Digest: the S-CSCF's last proxy nonce, nc + 1, when it asked
     * for Proxy-Authorization before (a 407 still gets its answer). */
    char authz[UE_AUTH_CAP];
    int pre = UE_DIGEST(ue) && ue_digest_proxy_reuse(ue, "INVITE", c->inv_ruri,
                                                     authz, sizeof authz);
    req_spec r = {.method = "INVITE",
                  .ruri = c->inv_ruri,
                  .via_out = c->inv_via,
                  .cseq = 1,
                  .to_tag = "",
                  .service_route = 1,
                  .contact = 1,
                  .proxy_authz = pre ? authz : NULL,
                  .sdp = sdp};
    rv = send_request(ue, c, &r, out);
    imsec_wipe(authz, sizeof authz);
  }
  if (rv < 0) {
    call_clear(c);
    return rv;
  }
  LOG(out, IMSEC_LOG_INFO, S("-> INVITE "), ts, S(" (call "), S(c->call_id),
      S(")"));
  call_arm(ue, out);
  return c->handle;
}

/* The ACK of a 2xx (§13.2.2.4): a new transaction along the route set to
 * the remote target, the INVITE's CSeq number. */
static void ack_2xx(imsec_ue *ue, ue_call *c, uint32_t cseq, imsec_out *out) {
  req_spec r = {
      .method = "ACK", .cseq = cseq, .keep = &c->ack, .keep_len = &c->ack_len};
  (void)send_request(ue, c, &r, out);
}

/* The ACK of a 300-699 (§17.1.1.3): the INVITE's Via (its branch), its
 * Request-URI and route, the response's To. */
static void ack_non_2xx(imsec_ue *ue, ue_call *c, imsec_sip_msg *m, int initial,
                        imsec_out *out) {
  char tt[80];
  ue_copy_wire(tt, sizeof tt, to_tag(m));
  req_spec r = {.method = "ACK",
                .ruri = c->inv_ruri,
                .via = c->inv_via,
                .cseq = c->inv_cseq,
                .to_tag = tt,
                .service_route = initial,
                .keep = &c->ack,
                .keep_len = &c->ack_len};
  (void)send_request(ue, c, &r, out);
}

/* Another fork answered too (§13.2.2.4): its dialog is ACKed and ended
 * with a BYE at once. */
static void fork_bye(imsec_ue *ue, ue_call *c, imsec_sip_msg *m,
                     imsec_out *out) {
  ue_call *t = malloc(sizeof *t);
  if (!t)
    return;
  memcpy(t, c, sizeof *t);
  t->req = t->resp = t->ack = NULL;
  ue_copy_wire(t->remote_tag, sizeof t->remote_tag, to_tag(m));
  take_target(t, m);
  take_routes(t, m, 1, out);
  LOG(out, IMSEC_LOG_INFO, S("another fork answered ("), S(t->remote_tag),
      S("): ACK and BYE it"));
  req_spec ack = {.method = "ACK", .cseq = c->inv_cseq};
  (void)send_request(ue, t, &ack, out);
  /* A CSeq the call's own later requests stay above. */
  req_spec bye = {.method = "BYE", .cseq = ++c->local_cseq};
  (void)send_request(ue, t, &bye, out);
  free(t);
}

/* A 407 to our initial INVITE from the S-CSCF (RFC 3261 §22.3, TS 33.203
 * Annex N for requests other than REGISTER): the 407 is ACKed (by the
 * caller), the INVITE goes once more, CSeq + 1, a new branch, the same
 * offer, with Proxy-Authorization (§8.1.3.5). 1 when it went. */
static int retry_with_credentials(imsec_ue *ue, ue_call *c, imsec_sip_msg *m,
                                  imsec_time_ms now, imsec_out *out) {
  if (c->authed || c->cancel_wanted || c->cancel_sent || !c->flow)
    return 0;
  char authz[UE_AUTH_CAP], sdp[SDP_CAP];
  int rv = ue_digest_answer_proxy(ue, m, "INVITE", c->inv_ruri, authz,
                                  sizeof authz, out);
  if (rv == 0)
    rv = ue_sdp_offer(sdp, sizeof sdp, ue->local_host, c->sdp_sess, c->sdp_ver);
  if (rv >= 0) {
    c->inv_cseq = c->init_cseq = ++c->local_cseq;
    req_spec r = {.method = "INVITE",
                  .ruri = c->inv_ruri,
                  .via_out = c->inv_via,
                  .cseq = c->inv_cseq,
                  .to_tag = "",
                  .service_route = 1,
                  .contact = 1,
                  .proxy_authz = authz,
                  .sdp = sdp};
    rv = send_request(ue, c, &r, out);
  }
  imsec_wipe(authz, sizeof authz);
  if (rv < 0)
    return 0;
  c->authed = 1;
  c->provisional = 0;
  c->remote_tag[0] = '\0';             /* the 407's tag is no dialog's */
  c->deadline = now + ue->txn_timeout; /* Timer B again */
  return 1;
}

static void on_invite_rsp(imsec_ue *ue, ue_call *c, imsec_sip_msg *m,
                          uint32_t seq, imsec_time_ms now, imsec_out *out) {
  unsigned st = m->status;
  int initial = seq == c->init_cseq && !c->incoming;
  if (seq != c->inv_cseq)
    return; /* an older INVITE's */
  imsec_str tt = to_tag(m);
  if (st < 200) {
    if (!initial || !c->inv_open)
      return;
    c->provisional = 1;
    if (st > 100 && tt.len && !c->remote_tag[0])
      ue_copy_wire(c->remote_tag, sizeof c->remote_tag, tt); /* early */
    if (st > 100 && c->state == IMSEC_UE_CALL_CALLING)
      c->state = IMSEC_UE_CALL_RINGING;
    if (!c->cancel_wanted)
      c->deadline = 0; /* the proxies' Timer C bounds it now */
    if (c->cancel_wanted && !c->cancel_sent)
      (void)send_cancel(ue, c, now, out); /* §9.1 */
    return;
  }
  if (st < 300) {
    if (!c->inv_open) {
      if (imsec_str_eq(tt, S(c->remote_tag)) && c->ack &&
          c->final_status >= 200 && c->final_status < 300) {
        send_bytes(ue, c, c->ack, c->ack_len, out); /* a retransmission */
      } else {
        fork_bye(ue, c, m, out);
      }
      return;
    }
    c->inv_open = 0;
    c->deadline = 0;
    if (!initial) { /* re-INVITE (§14.1) */
      c->reinvites++;
      take_target(c, m);
      ack_2xx(ue, c, seq, out);
      LOG(out, IMSEC_LOG_INFO, S("re-INVITE answered; -> ACK"));
      return;
    }
    ue_copy_wire(c->remote_tag, sizeof c->remote_tag, tt);
    take_target(c, m);
    take_routes(c, m, 1, out);
    c->final_status = st;
    c->answered_at = now;
    ack_2xx(ue, c, seq, out);
    LOG(out, IMSEC_LOG_INFO, S("call to "), S(c->peer), S(" answered; -> ACK"));
    if (c->cancel_wanted || c->cancel_sent) {
      /* §9.1: the CANCEL lost the race with the 2xx: end with BYE. */
      (void)send_bye(ue, c, IMSEC_UE_END_LOCAL_BYE, now, out);
    } else {
      c->state = IMSEC_UE_CALL_CONFIRMED;
    }
    return;
  }
  /* 300-699 */
  ack_non_2xx(ue, c, m, initial, out);
  if (!c->inv_open)
    return; /* a retransmission: ACKed again */
  if (st == 407 && initial && retry_with_credentials(ue, c, m, now, out))
    return;
  c->inv_open = 0;
  c->deadline = 0;
  if (!initial) {
    /* §14.1: 481 or 408 to a re-INVITE ends the dialog. */
    if (st == 481 || st == 408)
      (void)send_bye(ue, c, IMSEC_UE_END_LOCAL_BYE, now, out);
    return;
  }
  c->final_status = st;
  char code[8];
  ue_num_text(st, code, sizeof code);
  LOG(out, IMSEC_LOG_INFO, S("call to "), S(c->peer), S(": "), S(code), S(" "),
      m->reason);
  ended(c,
        c->cancel_sent && st == 487 ? IMSEC_UE_END_CANCELLED
        : st == 408                 ? IMSEC_UE_END_TIMEOUT
                                    : IMSEC_UE_END_REJECTED,
        now, out);
}

int ue_call_owns(const imsec_ue *ue, imsec_sip_msg *m, imsec_str cid) {
  const imsec_sip_addr *from;
  if (imsec_sip_get_from(m, &from) < 0)
    return 0;
  return by_dialog((imsec_ue *)ue, cid, from->tag, NULL) != NULL;
}

int ue_h_rsp_call(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  const imsec_sip_addr *from;
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_from(m, &from) < 0 || imsec_sip_get_cseq(m, &cs) < 0)
    return 0;
  ue_call *c = by_dialog(ue, e->call_id, from->tag, NULL);
  if (!c)
    return 0;
  char code[8];
  ue_num_text(m->status, code, sizeof code);
  LOG(e->out, IMSEC_LOG_DEBUG, S("<- "), S(code), S(" "), m->reason, S(" ("),
      cs->method, S(")"));
  switch (cs->method_id) {
  case IMSEC_SIP_M_INVITE:
    on_invite_rsp(ue, c, m, cs->seq, e->now, e->out);
    break;
  case IMSEC_SIP_M_BYE:
    if (m->status >= 200 && c->bye_cseq && cs->seq == c->bye_cseq &&
        imsec_str_eq(to_tag(m), S(c->remote_tag))) {
      c->bye_status = m->status;
      ended(c, c->bye_end, e->now, e->out);
    }
    break;
  default:
    break; /* CANCEL's 200: the 487 ends the INVITE */
  }
  call_arm(ue, e->out);
  return 0;
}

/* Answer the incoming INVITE kept in `c` (not answered yet) with a final
 * `code` without a body: 487 when it was cancelled (RFC 3261 §9.2,
 * §15.1.2), 603 when the user declines. */
static void answer_kept(imsec_ue *ue, ue_call *c, unsigned code,
                        const char *reason, imsec_out *out) {
  char *buf = c->req ? malloc(c->req_len) : NULL;
  if (!buf)
    return;
  memcpy(buf, c->req, c->req_len);
  imsec_sip_msg inv;
  imsec_sip_msg_init(&inv, NULL);
  if (imsec_sip_parse(&inv, buf, c->req_len, 0) >= 0)
    respond(ue, c, 0, &inv, code, reason, 0, NULL, out);
  imsec_sip_msg_free(&inv);
  free(buf);
}

/* ---------------------------------------------------------------- UAS */

static int answer(imsec_ue *ue, ue_call *c, imsec_time_ms now, imsec_out *out) {
  c->answer_at = 0;
  if (!c->req)
    return IMSEC_ERR_STATE;
  char *buf = malloc(c->req_len);
  if (!buf)
    return IMSEC_ERR_NOMEM;
  memcpy(buf, c->req, c->req_len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  int rv = imsec_sip_parse(&m, buf, c->req_len, 0);
  if (rv >= 0) {
    char sdp[SDP_CAP];
    c->sdp_ver++;
    int n = m.body.len ? ue_sdp_answer(sdp, sizeof sdp, m.body, ue->local_host,
                                       c->sdp_sess, c->sdp_ver)
                       : ue_sdp_offer(sdp, sizeof sdp, ue->local_host,
                                      c->sdp_sess, c->sdp_ver);
    if (n < 0) {
      respond(ue, c, 0, &m, 488, "Not Acceptable Here", 0, NULL, out);
      c->final_status = 488;
      ended(c, IMSEC_UE_END_REJECTED, now, out);
    } else {
      respond(ue, c, 0, &m, 200, "OK", 1, sdp, out);
      c->final_status = 200;
      c->answered_at = now;
      c->awaiting_ack = 1;
      c->retx_ival = ue->sip_timers.t1;
      c->retx_at = now + c->retx_ival;
      c->ack_by = now + 64 * ue->sip_timers.t1;
      LOG(out, IMSEC_LOG_INFO, S("call from "), S(c->peer), S(": answered"));
    }
  }
  imsec_sip_msg_free(&m);
  free(buf);
  return rv < 0 ? rv : 0;
}

/* An INVITE out of a dialog. */
static void incoming_invite(imsec_ue *ue, imsec_sip_msg *m, uint64_t flow,
                            imsec_time_ms now, imsec_out *out) {
  const imsec_sip_addr *from, *to;
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_from(m, &from) < 0 || imsec_sip_get_to(m, &to) < 0 ||
      imsec_sip_get_cseq(m, &cs) < 0 || imsec_sip_get_call_id(m, &cid) < 0)
    return;
  /* A retransmission of an INVITE we know (§17.2.3 by Call-ID, From tag
   * and CSeq: the transaction layer is ours only over DTLS). */
  if (ue->calls) {
    for (size_t i = 0; i < CALL_SLOTS; i++) {
      ue_call *c = &ue->calls->c[i];
      if (c->handle && c->incoming && imsec_str_eq(cid, S(c->call_id)) &&
          imsec_str_eq(from->tag, S(c->remote_tag)) && cs->seq == c->req_cseq) {
        if (c->resp)
          send_bytes(ue, c, c->resp, c->resp_len, out);
        return;
      }
    }
  }
  if (!ue->registered) {
    respond(ue, NULL, flow, m, 480, "Temporarily Unavailable", 0, NULL, out);
    return;
  }
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr contact;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_CONTACT, &it, &contact) <= 0 ||
      contact.star || !from->tag.len ||
      cid.len >= sizeof(((ue_call *)0)->call_id) ||
      from->tag.len >= sizeof(((ue_call *)0)->remote_tag)) {
    respond(ue, NULL, flow, m, 400, "Bad Request", 0, NULL, out);
    return;
  }
  /* RFC 3261 §8.2.2.3: an extension the INVITE requires and the UE does
   * not have (100rel, timer, ...) is refused with 420. */
  imsec_sip_iter rit = IMSEC_SIP_ITER_INIT;
  imsec_sip_token req;
  while (imsec_sip_token_next(m, IMSEC_SIP_H_REQUIRE, &rit, &req) > 0) {
    char unsup[128];
    ue_copy_wire(unsup, sizeof unsup, req.token);
    LOG(out, IMSEC_LOG_INFO, S("INVITE requires "), S(unsup), S(": -> 420"));
    char *buf = malloc(UE_MSG_CAP);
    if (!buf)
      return;
    char tag[17];
    imsec_sip_builder b;
    imsec_sip_build_init(&b, buf, UE_MSG_CAP);
    if (ue_rand_hex(ue, tag, sizeof tag, 8) >= 0) {
      imsec_sip_build_response(&b, m, 420, S("Bad Extension"), S(tag));
      hdr(&b, "Unsupported", unsup);
      int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
      if (n > 0)
        (void)imsec_out_send(out, flow, buf, (size_t)n);
    }
    free(buf);
    return;
  }
  if (m->body.len) {
    const imsec_sip_token *ct;
    if (imsec_sip_get_content_type(m, &ct) < 0 ||
        !imsec_str_ieq_c(ct->token, "application/sdp")) {
      respond(ue, NULL, flow, m, 415, "Unsupported Media Type", 0, NULL, out);
      return;
    }
    if (!ue_sdp_valid(m->body)) {
      respond(ue, NULL, flow, m, 488, "Not Acceptable Here", 0, NULL, out);
      return;
    }
  }
  ue_call *c = n_live(ue) < IMSEC_UE_MAX_CALLS ? new_slot(ue) : NULL;
  if (!c) {
    LOG(out, IMSEC_LOG_WARN, S("incoming call while "),
        S("at the call limit: -> 486"));
    respond(ue, NULL, flow, m, 486, "Busy Here", 0, NULL, out);
    return;
  }
  if (ue_rand_hex(ue, c->local_tag, sizeof c->local_tag, 8) < 0) {
    call_clear(c);
    return;
  }
  c->incoming = 1;
  c->flow = flow;
  ue_copy_wire(c->call_id, sizeof c->call_id, cid);
  copy_uri(c->local_uri, sizeof c->local_uri, to->uri);
  copy_uri(c->remote_uri, sizeof c->remote_uri, from->uri);
  ue_copy_wire(c->remote_tag, sizeof c->remote_tag, from->tag);
  copy_uri(c->target, sizeof c->target, contact.uri);
  take_routes(c, m, 0, out);
  c->remote_cseq = c->req_cseq = cs->seq;
  it = (imsec_sip_iter)IMSEC_SIP_ITER_INIT;
  imsec_sip_addr pai;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY, &it, &pai) > 0)
    copy_uri(c->peer, sizeof c->peer, pai.uri);
  else
    copy_uri(c->peer, sizeof c->peer, from->uri);
  take(&c->req, &c->req_len, m->buf, m->len);
  c->started_at = now;
  c->sdp_sess = sess_id(ue);
  if (ue->answer == IMSEC_UE_ANSWER_BUSY) {
    respond(ue, c, 0, m, 486, "Busy Here", 0, NULL, out);
    c->final_status = 486;
    LOG(out, IMSEC_LOG_INFO, S("call from "), S(c->peer), S(": busy (486)"));
    ended(c, IMSEC_UE_END_REJECTED, now, out);
    return;
  }
  /* 180 with our tag at once: an early dialog (§13.3.1.1). */
  respond(ue, c, 0, m, 180, "Ringing", 1, NULL, out);
  c->state = IMSEC_UE_CALL_RINGING;
  LOG(out, IMSEC_LOG_INFO, S("call from "), S(c->peer), S(": ringing"));
  if (ue->answer == IMSEC_UE_ANSWER_AUTO) {
    if (ue->answer_delay > 0)
      c->answer_at = now + ue->answer_delay;
    else
      (void)answer(ue, c, now, out);
  }
}

/* CANCEL (§9.2): matched to the INVITE by Call-ID, From tag and CSeq. */
static void incoming_cancel(imsec_ue *ue, imsec_sip_msg *m, uint64_t flow,
                            imsec_time_ms now, imsec_out *out) {
  const imsec_sip_addr *from;
  const imsec_sip_cseq *cs;
  imsec_str cid;
  if (imsec_sip_get_from(m, &from) < 0 || imsec_sip_get_cseq(m, &cs) < 0 ||
      imsec_sip_get_call_id(m, &cid) < 0)
    return;
  ue_call *c = NULL;
  if (ue->calls)
    for (size_t i = 0; i < CALL_SLOTS && !c; i++) {
      ue_call *x = &ue->calls->c[i];
      if (x->handle && x->incoming && imsec_str_eq(cid, S(x->call_id)) &&
          imsec_str_eq(from->tag, S(x->remote_tag)) && cs->seq == x->req_cseq)
        c = x;
    }
  if (!c) {
    respond(ue, NULL, flow, m, 481, "Call/Transaction Does Not Exist", 0, NULL,
            out);
    return;
  }
  respond(ue, NULL, flow, m, 200, "OK", 0, NULL, out);
  if (c->final_status || !c->req)
    return; /* answered already: the CANCEL changes nothing */
  answer_kept(ue, c, 487, "Request Terminated", out);
  c->final_status = 487;
  LOG(out, IMSEC_LOG_INFO, S("call from "), S(c->peer), S(": cancelled"));
  ended(c, IMSEC_UE_END_CANCELLED, now, out);
}

static void incoming_ack(imsec_ue *ue, ue_call *c, uint32_t seq,
                         imsec_time_ms now, imsec_out *out) {
  if (!c->awaiting_ack || seq != c->req_cseq)
    return;
  c->awaiting_ack = 0;
  c->retx_at = c->ack_by = 0;
  if (c->state == IMSEC_UE_CALL_RINGING || c->state == IMSEC_UE_CALL_CALLING)
    c->state = IMSEC_UE_CALL_CONFIRMED;
  if (c->bye_wanted)
    (void)send_bye(ue, c, IMSEC_UE_END_LOCAL_BYE, now, out);
}

/* A request in a dialog of ours. */
static void in_dialog(imsec_ue *ue, ue_call *c, imsec_sip_msg *m, uint64_t flow,
                      imsec_time_ms now, imsec_out *out) {
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_cseq(m, &cs) < 0)
    return;
  if (m->method_id == IMSEC_SIP_M_ACK) {
    incoming_ack(ue, c, cs->seq, now, out);
    return;
  }
  if (!live(c)) {
    if (m->method_id == IMSEC_SIP_M_BYE && c->end == IMSEC_UE_END_REMOTE_BYE)
      respond(ue, NULL, flow, m, 200, "OK", 0, NULL, out); /* again */
    else
      respond(ue, NULL, flow, m, 481, "Call/Transaction Does Not Exist", 0,
              NULL, out);
    return;
  }
  /* §12.2.2: a CSeq lower than the last is out of order (500); an equal
   * one is an INVITE sent again. */
  if (m->method_id == IMSEC_SIP_M_INVITE && cs->seq == c->req_cseq && c->resp) {
    send_bytes(ue, c, c->resp, c->resp_len, out);
    return;
  }
  if (c->remote_cseq && cs->seq < c->remote_cseq) {
    respond(ue, c, flow, m, 500, "Server Internal Error", 0, NULL, out);
    return;
  }
  c->remote_cseq = cs->seq;
  switch (m->method_id) {
  case IMSEC_SIP_M_BYE: {
    respond(ue, c, flow, m, 200, "OK", 0, NULL, out);
    LOG(out, IMSEC_LOG_INFO, S("<- BYE from "), S(c->peer), S("; -> 200 OK"));
    /* §15.1.2: an INVITE of the peer still unanswered gets 487. */
    if (c->incoming && !c->final_status)
      answer_kept(ue, c, 487, "Request Terminated", out);
    ended(c, IMSEC_UE_END_REMOTE_BYE, now, out);
    return;
  }
  case IMSEC_SIP_M_INVITE: {
    /* §14.2: one INVITE transaction at a time each way. */
    if (c->inv_open) {
      respond(ue, c, flow, m, 491, "Request Pending", 0, NULL, out);
      return;
    }
    if (c->awaiting_ack || c->state != IMSEC_UE_CALL_CONFIRMED) {
      respond(ue, c, flow, m, 500, "Server Internal Error", 0, NULL, out);
      return;
    }
    char sdp[SDP_CAP];
    c->sdp_ver++;
    int n = m->body.len ? ue_sdp_answer(sdp, sizeof sdp, m->body,
                                        ue->local_host, c->sdp_sess, c->sdp_ver)
                        : ue_sdp_offer(sdp, sizeof sdp, ue->local_host,
                                       c->sdp_sess, c->sdp_ver);
    if (n < 0) {
      respond(ue, c, flow, m, 488, "Not Acceptable Here", 0, NULL, out);
      return;
    }
    take_target(c, m);
    c->req_cseq = cs->seq;
    respond(ue, c, flow, m, 200, "OK", 1, sdp, out);
    c->reinvites++;
    c->awaiting_ack = 1;
    c->retx_ival = ue->sip_timers.t1;
    c->retx_at = now + c->retx_ival;
    c->ack_by = now + 64 * ue->sip_timers.t1;
    LOG(out, IMSEC_LOG_INFO, S("<- re-INVITE from "), S(c->peer),
        S("; -> 200 OK"));
    return;
  }
  case IMSEC_SIP_M_UPDATE: {
    char sdp[SDP_CAP];
    int n = 0;
    if (m->body.len) {
      c->sdp_ver++;
      n = ue_sdp_answer(sdp, sizeof sdp, m->body, ue->local_host, c->sdp_sess,
                        c->sdp_ver);
    }
    if (n < 0)
      respond(ue, c, flow, m, 488, "Not Acceptable Here", 0, NULL, out);
    else
      respond(ue, c, flow, m, 200, "OK", 1, m->body.len ? sdp : NULL, out);
    return;
  }
  case IMSEC_SIP_M_INFO:
  case IMSEC_SIP_M_OPTIONS:
    respond(ue, c, flow, m, 200, "OK", 0, NULL, out);
    return;
  default:
    respond(ue, c, flow, m, 405, "Method Not Allowed", 0, NULL, out);
    return;
  }
}

int ue_call_request(imsec_ue *ue, imsec_sip_msg *m, uint64_t flow,
                    imsec_time_ms now, imsec_out *out) {
  imsec_sip_method mid = m->method_id;
  if (mid == IMSEC_SIP_M_MESSAGE || mid == IMSEC_SIP_M_REGISTER)
    return 0; /* message.c's, in a dialog or not */
  imsec_str tt = to_tag(m);
  int r = 1;
  if (mid == IMSEC_SIP_M_ACK || tt.len) {
    const imsec_sip_addr *from;
    imsec_str cid;
    if (imsec_sip_get_from(m, &from) < 0 || imsec_sip_get_call_id(m, &cid) < 0)
      return 1;
    ue_call *c = tt.len ? by_dialog(ue, cid, tt, &from->tag) : NULL;
    if (c)
      in_dialog(ue, c, m, flow, now, out);
    else if (mid != IMSEC_SIP_M_ACK) /* a stray ACK is dropped (§17.2.3) */
      respond(ue, NULL, flow, m, 481, "Call/Transaction Does Not Exist", 0,
              NULL, out);
  } else if (mid == IMSEC_SIP_M_INVITE) {
    incoming_invite(ue, m, flow, now, out);
  } else if (mid == IMSEC_SIP_M_CANCEL) {
    incoming_cancel(ue, m, flow, now, out);
  } else {
    r = 0; /* OPTIONS and the rest out of a dialog: message.c */
  }
  call_arm(ue, out);
  return r;
}

/* ------------------------------------------------------------- timers */

int ue_h_call_timer(imsec_ue *ue, const ue_event *e) {
  imsec_time_ms now = e->now;
  imsec_out *out = e->out;
  if (!ue->calls)
    return 0;
  ue->calls->armed = 0;
  for (size_t i = 0; i < CALL_SLOTS; i++) {
    ue_call *c = &ue->calls->c[i];
    if (!live(c))
      continue;
    if (c->answer_at && now >= c->answer_at)
      (void)answer(ue, c, now, out);
    if (c->awaiting_ack && c->ack_by && now >= c->ack_by) {
      /* §13.3.1.4: no ACK in 64*T1: confirmed, but ended with BYE. */
      c->awaiting_ack = 0;
      c->retx_at = c->ack_by = 0;
      LOG(out, IMSEC_LOG_WARN, S("no ACK for our 2xx in 64*T1: -> BYE"));
      (void)send_bye(
          ue, c, c->bye_wanted ? IMSEC_UE_END_LOCAL_BYE : IMSEC_UE_END_TIMEOUT,
          now, out);
    } else if (c->awaiting_ack && c->retx_at && now >= c->retx_at && c->resp) {
      send_bytes(ue, c, c->resp, c->resp_len, out);
      c->retx_ival *= 2;
      if (c->retx_ival > ue->sip_timers.t2)
        c->retx_ival = ue->sip_timers.t2;
      c->retx_at = now + c->retx_ival;
    }
    if (!c->deadline || now < c->deadline)
      continue;
    c->deadline = 0;
    if (c->bye_cseq && !c->bye_status && c->state == IMSEC_UE_CALL_ENDING &&
        !c->inv_open) {
      c->bye_status = 408; /* §8.1.3.1: a timeout is a 408 */
      LOG(out, IMSEC_LOG_WARN, S("BYE unanswered: call ended anyway"));
      ended(c, c->bye_end, now, out);
    } else if (c->inv_open && !c->incoming && c->inv_cseq == c->init_cseq) {
      c->inv_open = 0;
      c->final_status = 408;
      LOG(out, IMSEC_LOG_WARN, S("call to "), S(c->peer),
          S(": no final response (408)"));
      ended(c,
            c->cancel_wanted || c->cancel_sent ? IMSEC_UE_END_CANCELLED
                                               : IMSEC_UE_END_TIMEOUT,
            now, out);
    } else if (c->inv_open) {
      c->inv_open = 0; /* §14.1: a re-INVITE timed out: end the dialog */
      (void)send_bye(ue, c, IMSEC_UE_END_TIMEOUT, now, out);
    }
  }
  call_arm(ue, out);
  return 0;
}

/* ------------------------------------------------------------ the API */

int ue_h_call_op(imsec_ue *ue, const ue_event *e) {
  imsec_time_ms now = e->now;
  imsec_out *out = e->out;
  ue_call *c = by_handle(ue, e->handle);
  if (!c)
    return IMSEC_ERR_NOTFOUND;
  if (c->state == IMSEC_UE_CALL_ENDING || c->state == IMSEC_UE_CALL_ENDED ||
      !c->flow)
    return IMSEC_ERR_STATE;
  int rv = 0;
  if (e->op == UE_CALL_OP_REINVITE) {
    if (c->state != IMSEC_UE_CALL_CONFIRMED || c->inv_open || c->awaiting_ack)
      return IMSEC_ERR_STATE;
    char sdp[SDP_CAP];
    c->sdp_ver++;
    IMSEC_GUARD(
        ue_sdp_offer(sdp, sizeof sdp, ue->local_host, c->sdp_sess, c->sdp_ver));
    c->inv_cseq = ++c->local_cseq;
    memcpy(c->inv_ruri, c->target, sizeof c->inv_ruri);
    c->inv_open = 1;
    c->deadline = now + ue->txn_timeout;
    req_spec r = {.method = "INVITE",
                  .via_out = c->inv_via,
                  .cseq = c->inv_cseq,
                  .contact = 1,
                  .sdp = sdp};
    LOG(out, IMSEC_LOG_INFO, S("-> re-INVITE "), S(c->target));
    rv = send_request(ue, c, &r, out);
  } else if (!c->incoming && !c->final_status) {
    c->state = IMSEC_UE_CALL_ENDING;
    if (c->provisional)
      rv = send_cancel(ue, c, now, out);
    else
      c->cancel_wanted = 1; /* §9.1: wait for a provisional */
  } else if (c->incoming && !c->final_status) {
    answer_kept(ue, c, 603, "Decline", out);
    c->final_status = 603;
    ended(c, IMSEC_UE_END_REJECTED, now, out);
  } else if (c->awaiting_ack && !c->inv_open) {
    /* §15: the callee waits for the ACK of its 2xx before the BYE. */
    c->bye_wanted = 1;
    c->state = IMSEC_UE_CALL_ENDING;
  } else {
    rv = send_bye(ue, c, IMSEC_UE_END_LOCAL_BYE, now, out);
  }
  call_arm(ue, out);
  return rv;
}

void ue_calls_flow_gone(imsec_ue *ue, uint64_t flow, imsec_out *out) {
  if (!ue->calls || !flow)
    return;
  for (size_t i = 0; i < CALL_SLOTS; i++) {
    ue_call *c = &ue->calls->c[i];
    if (live(c) && c->flow == flow) {
      c->flow = 0;
      ended(c, IMSEC_UE_END_FLOW_LOST, ue->now, out);
    }
  }
  call_arm(ue, out);
}

int imsec_ue_call_get(const imsec_ue *ue, int handle, imsec_ue_call_info *out) {
  if (!ue || !out)
    return IMSEC_ERR_NOTFOUND;
  const ue_call *c = by_handle((imsec_ue *)ue, handle);
  if (!c)
    return IMSEC_ERR_NOTFOUND;
  memset(out, 0, sizeof *out);
  out->handle = c->handle;
  out->incoming = c->incoming;
  out->state = c->state;
  out->end = c->end;
  out->final_status = c->final_status;
  out->bye_status = c->bye_status;
  out->reinvites = c->reinvites;
  memcpy(out->peer, c->peer, sizeof out->peer);
  memcpy(out->call_id, c->call_id, sizeof out->call_id);
  out->started_at = c->started_at;
  out->answered_at = c->answered_at;
  out->ended_at = c->ended_at;
  return 0;
}

size_t imsec_ue_calls(const imsec_ue *ue, int *handles, size_t cap) {
  if (!ue || !ue->calls || !handles)
    return 0;
  size_t n = 0;
  for (int pass = 0; pass < 2; pass++) {
    /* oldest first within each group */
    uint64_t after = 0;
    for (;;) {
      const ue_call *next = NULL;
      for (size_t i = 0; i < CALL_SLOTS; i++) {
        const ue_call *c = &ue->calls->c[i];
        if (!c->handle || (live(c) != 0) != (pass == 0) || c->seq <= after)
          continue;
        if (!next || c->seq < next->seq)
          next = c;
      }
      if (!next || n == cap)
        break;
      handles[n++] = next->handle;
      after = next->seq;
    }
  }
  return n;
}
