/*
 * Requests over the registered flow (RFC 5626 outbound): MESSAGE out
 * (RFC 3428, routed by the Service-Route of RFC 3608) with its answer or
 * timeout, MESSAGE in (kept in the inbox), OPTIONS, calls handed to
 * call.c, and 405 for the rest.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

static void hdr(imsec_sip_builder *b, const char *name, const char *value) {
  imsec_sip_build_header(b, S(name), S(value));
}

/* What a 407 would need, dropped once the MESSAGE has its answer. */
static void pending_forget_copy(ue_pending *p) {
  free(p->to);
  free(p->ctype);
  if (p->body)
    imsec_wipe(p->body, p->len);
  free(p->body);
  p->to = p->ctype = NULL;
  p->body = NULL;
  p->len = 0;
}

static void pending_clear(ue_pending *p) {
  pending_forget_copy(p);
  memset(p, 0, sizeof(*p));
}

void ue_fail_pending_messages(imsec_ue *ue, int status) {
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0) {
      p->status = status;
      p->deadline = 0;
      pending_forget_copy(p);
    }
  }
}

void ue_pending_free_all(imsec_ue *ue) {
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++)
    pending_clear(&ue->pending[i]);
}

static int send_message(imsec_ue *ue, const char *to, const char *ct,
                        const uint8_t *body, size_t len, const char *cid,
                        const char *tag, uint32_t cseq, const char *proxy_authz,
                        imsec_out *out);
static void arm_message_timer(imsec_ue *ue, imsec_out *out);

/* A 407 from the S-CSCF (RFC 3261 §22.3, TS 33.203 Annex N with
 * Proxy-Authorization for requests other than REGISTER): the same
 * MESSAGE once more, CSeq + 1, with credentials. 1 when it went. */
static int retry_with_credentials(imsec_ue *ue, ue_pending *p, imsec_sip_msg *m,
                                  imsec_time_ms now, imsec_out *out) {
  if (m->status != 407 || p->authed || !p->to || !ue->flow)
    return 0;
  char authz[UE_AUTH_CAP];
  int rv = ue_digest_answer_proxy(ue, m, "MESSAGE", p->to, authz, sizeof(authz),
                                  out);
  if (rv == 0)
    rv = send_message(ue, p->to, p->ctype, p->body, p->len, p->call_id,
                      p->from_tag, p->cseq + 1, authz, out);
  imsec_wipe(authz, sizeof(authz));
  if (rv < 0)
    return 0;
  p->authed = 1;
  p->cseq++;
  p->deadline = now + ue->txn_timeout;
  arm_message_timer(ue, out);
  return 1;
}

/* RSP_MESSAGE: the final answer to a MESSAGE the UE sent. */
int ue_h_rsp_message(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  imsec_str cid = e->call_id;
  imsec_out *out = e->out;
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_cseq(m, &cs) < 0)
    return 0;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0 && imsec_str_eq(cid, S(p->call_id)) &&
        cs->seq == p->cseq) {
      if (retry_with_credentials(ue, p, m, e->now, out))
        return 0;
      p->status = (int)m->status;
      p->deadline = 0;
      pending_forget_copy(p);
      char code[8];
      ue_num_text(m->status, code, sizeof(code));
      LOG(out, m->status < 300 ? IMSEC_LOG_INFO : IMSEC_LOG_WARN, S("<- "),
          S(code), S(" "), m->reason, S(" (MESSAGE)"));
      return 0;
    }
  }
  return 0;
}

/* ------------------------------------------------------------- requests */

static void respond(imsec_ue *ue, imsec_sip_msg *req, unsigned code,
                    const char *reason, int allow, imsec_out *out) {
  char tag[17];
  if (ue_rand_hex(ue, tag, sizeof(tag), 8) < 0)
    return;
  char *buf = malloc(UE_MSG_CAP);
  if (!buf)
    return;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, UE_MSG_CAP);
  imsec_sip_build_response(&b, req, code, S(reason), S(tag));
  if (allow) {
    hdr(&b, "Allow", UE_ALLOW);
    hdr(&b, "Accept", "text/plain, */*");
    hdr(&b, "Supported", "path, outbound");
  }
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n > 0) /* M2b: on the P-CSCF's inbound flow when it came there */
    (void)imsec_out_send(out, ue->reply_flow ? ue->reply_flow : ue->flow, buf,
                         (size_t)n);
  free(buf);
}

static void keep_message(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out) {
  if (!ue->inbox &&
      !(ue->inbox = calloc(IMSEC_UE_INBOX_MAX, sizeof(*ue->inbox)))) {
    LOG(out, IMSEC_LOG_WARN, S("out of memory: MESSAGE not kept"));
    return;
  }
  if (ue->inbox_n == IMSEC_UE_INBOX_MAX) {
    imsec_ue_message_free(&ue->inbox[ue->inbox_head]);
    ue->inbox_head = (ue->inbox_head + 1) % IMSEC_UE_INBOX_MAX;
    ue->inbox_n--;
    LOG(out, IMSEC_LOG_WARN, S("inbox full: oldest MESSAGE dropped"));
  }
  imsec_ue_message *k =
      &ue->inbox[(ue->inbox_head + ue->inbox_n) % IMSEC_UE_INBOX_MAX];
  memset(k, 0, sizeof(*k));
  const imsec_sip_addr *from;
  if (imsec_sip_get_from(m, &from) == 0)
    ue_copy_wire(k->from, sizeof(k->from), from->uri);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_sip_addr pai;
  if (imsec_sip_addr_next(m, IMSEC_SIP_H_P_ASSERTED_IDENTITY, &it, &pai) > 0)
    ue_copy_wire(k->asserted, sizeof(k->asserted), pai.uri);
  const imsec_sip_hdr *ct = imsec_sip_hdr_first(m, IMSEC_SIP_H_CONTENT_TYPE);
  if (ct)
    ue_copy_wire(k->content_type, sizeof(k->content_type), ct->value);
  k->body = malloc(m->body.len + 1);
  if (!k->body)
    return;
  if (m->body.len)
    memcpy(k->body, m->body.p, m->body.len);
  k->body[m->body.len] = 0;
  k->len = m->body.len;
  k->at = now;
  ue->inbox_n++;
}

/* REQUEST on the flow: MESSAGE (RFC 3428) is kept when registered,
 * OPTIONS answered, the rest 405. */
int ue_h_request(imsec_ue *ue, const ue_event *e) {
  imsec_sip_msg *m = e->msg;
  imsec_time_ms now = e->now;
  imsec_out *out = e->out;
  if (imsec_sip_check(m) < 0) {
    if (m->method_id != IMSEC_SIP_M_ACK)
      respond(ue, m, m->diag.status ? m->diag.status : 400,
              m->diag.reason ? m->diag.reason : "Bad Request", 0, out);
    return 0;
  }
  /* Calls: INVITE, ACK, CANCEL, BYE and every request in a dialog. */
  if (ue_call_request(ue, m, ue->reply_flow ? ue->reply_flow : ue->flow, now,
                      out) ||
      m->method_id == IMSEC_SIP_M_ACK)
    return 0;
  const imsec_sip_addr *from;
  imsec_str fromuri = IMSEC_STR_NULL;
  if (imsec_sip_get_from(m, &from) == 0)
    fromuri = from->uri;
  switch (m->method_id) {
  case IMSEC_SIP_M_MESSAGE: {
    if (!ue->registered) {
      respond(ue, m, 480, "Temporarily Unavailable", 0, out);
      return 0;
    }
    char len[24];
    ue_num_text(m->body.len, len, sizeof(len));
    LOG(out, IMSEC_LOG_INFO, S("<- MESSAGE from "), fromuri, S(" ("), S(len),
        S(" octets)"));
    keep_message(ue, m, now, out);
    respond(ue, m, 200, "OK", 0, out);
    LOG(out, IMSEC_LOG_INFO, S("-> 200 OK (MESSAGE)"));
    return 0;
  }
  case IMSEC_SIP_M_OPTIONS:
    LOG(out, IMSEC_LOG_INFO, S("<- OPTIONS from "), fromuri, S("; -> 200 OK"));
    respond(ue, m, 200, "OK", 1, out);
    return 0;
  default:
    LOG(out, IMSEC_LOG_INFO, S("<- "), m->method, S(": not supported; -> 405"));
    respond(ue, m, 405, "Method Not Allowed", 1, out);
    return 0;
  }
}

static void arm_message_timer(imsec_ue *ue, imsec_out *out) {
  imsec_time_ms next = 0;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0 && p->deadline &&
        (!next || p->deadline < next))
      next = p->deadline;
  }
  if (next != ue->msg_timer_at) {
    ue->msg_timer_at = next;
    ue_arm(out, IMSEC_UE_TIMER_MESSAGE, next);
  }
}

/* TIMER_MESSAGE: MESSAGEs past their deadline fail with 408. */
int ue_h_msg_timer(imsec_ue *ue, const ue_event *e) {
  imsec_time_ms now = e->now;
  imsec_out *out = e->out;
  ue->msg_timer_at = 0;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (p->handle && p->status == 0 && p->deadline && now >= p->deadline) {
      p->status = 408; /* RFC 3261 §17.1.2.2 Timer F */
      p->deadline = 0;
      pending_forget_copy(p);
      LOG(out, IMSEC_LOG_WARN, S("MESSAGE timed out (408)"));
    }
  }
  arm_message_timer(ue, out);
  return 0;
}

static ue_pending *pending_slot(imsec_ue *ue) {
  ue_pending *best = NULL;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    ue_pending *p = &ue->pending[i];
    if (!p->handle)
      return p;
    if (p->status != 0 && (!best || p->seq < best->seq))
      best = p;
  }
  return best;
}

/* Build and send one MESSAGE (RFC 3428) on the flow. */
static int send_message(imsec_ue *ue, const char *to, const char *ct,
                        const uint8_t *body, size_t len, const char *cid,
                        const char *tag, uint32_t cseq, const char *proxy_authz,
                        imsec_out *out) {
  char via[400], from[UE_TEXT + 64], tob[IMSEC_UE_URI_CAP + 8],
      route[IMSEC_UE_URI_CAP + 8], cseqb[32];
  IMSEC_GUARD(ue_build_via(ue, via, sizeof(via)));
  IMSEC_GUARD(ue_angle(from, sizeof(from), ue->impus[0], tag));
  IMSEC_GUARD(ue_angle(tob, sizeof(tob), to, NULL));
  imsec_sbuf b;
  imsec_sbuf_init(&b, cseqb, sizeof(cseqb));
  imsec_sbuf_num(&b, cseq);
  imsec_sbuf_add(&b, " MESSAGE");

  char *msg = malloc(UE_MSG_CAP + UE_BODY_MAX);
  if (!msg)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder sb;
  imsec_sip_build_init(&sb, msg, UE_MSG_CAP + UE_BODY_MAX);
  imsec_sip_build_request(&sb, IMSEC_STR_LIT("MESSAGE"), S(to));
  hdr(&sb, "Via", via);
  hdr(&sb, "Max-Forwards", "70");
  /* TS 24.229 §5.1.2A.1.1, RFC 3608: the Service-Route learnt at
   * registration is the route set; the P-CSCF is the flow itself. */
  for (size_t i = 0; i < ue->n_routes; i++) {
    if (ue_angle(route, sizeof(route), ue->routes[i], NULL) == 0)
      hdr(&sb, "Route", route);
  }
  hdr(&sb, "From", from);
  hdr(&sb, "To", tob);
  hdr(&sb, "Call-ID", cid);
  hdr(&sb, "CSeq", cseqb);
  if (proxy_authz)
    hdr(&sb, "Proxy-Authorization", proxy_authz);
  hdr(&sb, "Content-Type", ct);
  int n = imsec_sip_build_finish(
      &sb, imsec_str_make((const char *)body, body ? len : 0));
  if (n > IMSEC_UE_DTLS_MAX && ue->pcscf.tp == IMSEC_TP_DTLS) {
    /* One SIP message per DTLS record (RFC 6347 §4.1.1: 2^14 octets):
     * what net/ would refuse, refused here (the caller's 513). */
    LOG(out, IMSEC_LOG_WARN,
        S("MESSAGE larger than one DTLS record: not sent"));
    n = IMSEC_ERR_LIMIT;
  }
  if (n >= 0)
    n = imsec_out_send(out, ue->flow, msg, (size_t)n);
  free(msg);
  return n < 0 ? n : 0;
}

static char *dup_text(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* SEND on the flow: a MESSAGE over the registered flow. */
int ue_h_send(imsec_ue *ue, const ue_event *e) {
  const char *to = e->to, *content_type = e->content_type;
  const uint8_t *body = e->body;
  size_t len = e->len;
  imsec_time_ms now = e->now;
  imsec_out *out = e->out;
  if (!ue->registered || !ue->flow)
    return IMSEC_ERR_STATE;
  if (len > UE_BODY_MAX)
    return IMSEC_ERR_LIMIT;
  imsec_str ts = imsec_str_c(to);
  if (!ue_target_ok(ts))
    return IMSEC_ERR_INVAL;
  const char *ct = content_type ? content_type : "text/plain";
  imsec_str cts = imsec_str_c(ct);
  if (!cts.len || cts.len > 120 || !ue_text_ok(cts))
    return IMSEC_ERR_INVAL;
  ue_pending *slot = pending_slot(ue);
  if (!slot)
    return IMSEC_ERR_LIMIT;

  char cid[80], tag[17];
  IMSEC_GUARD(ue_rand_hex(ue, tag, sizeof(tag), 8));
  char idhex[33];
  IMSEC_GUARD(ue_rand_hex(ue, idhex, sizeof(idhex), 16));
  imsec_sbuf b;
  imsec_sbuf_init(&b, cid, sizeof(cid));
  imsec_sbuf_add(&b, idhex);
  /* SIP Digest: once the S-CSCF asked for Proxy-Authorization, later
   * requests carry it at once under its nonce (a 407 still gets its one
   * answer when the nonce is stale). */
  char authz[UE_AUTH_CAP];
  int pre = UE_DIGEST(ue) &&
            ue_digest_proxy_reuse(ue, "MESSAGE", to, authz, sizeof(authz));
  int rv =
      send_message(ue, to, ct, body, len, cid, tag, 1, pre ? authz : NULL, out);
  imsec_wipe(authz, sizeof(authz));
  IMSEC_GUARD(rv);

  pending_clear(slot);
  slot->handle = ue->next_handle++;
  if (ue->next_handle <= 0)
    ue->next_handle = 1;
  memcpy(slot->call_id, cid, sizeof(slot->call_id));
  memcpy(slot->from_tag, tag, sizeof(slot->from_tag));
  slot->cseq = 1;
  slot->deadline = now + ue->txn_timeout;
  slot->seq = ++ue->pending_seq;
  /* SIP Digest: the S-CSCF may ask for Proxy-Authorization (407); keep
   * what it takes to send the MESSAGE again. Without memory the 407 is
   * the caller's answer. */
  if (UE_DIGEST(ue)) {
    slot->to = dup_text(to);
    slot->ctype = dup_text(ct);
    slot->body = len ? malloc(len) : NULL;
    if (slot->body)
      memcpy(slot->body, body, len);
    slot->len = slot->body ? len : 0;
    if (!slot->to || !slot->ctype || (len && !slot->body))
      pending_forget_copy(slot);
  }
  char ln[24];
  ue_num_text(len, ln, sizeof(ln));
  LOG(out, IMSEC_LOG_INFO, S("-> MESSAGE "), ts, S(" ("), S(ln), S(" octets"),
      S(ue->n_routes ? ", Route " : ""), S(ue->n_routes ? ue->routes[0] : ""),
      S(")"));
  arm_message_timer(ue, out);
  return slot->handle;
}

int imsec_ue_message_result(const imsec_ue *ue, int handle) {
  if (!ue || handle <= 0)
    return IMSEC_ERR_NOTFOUND;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++) {
    if (ue->pending[i].handle == handle)
      return ue->pending[i].status;
  }
  return IMSEC_ERR_NOTFOUND;
}

int imsec_ue_inbox_pop(imsec_ue *ue, imsec_ue_message *out) {
  if (!ue || !out || ue->inbox_n == 0)
    return 0;
  *out = ue->inbox[ue->inbox_head];
  memset(&ue->inbox[ue->inbox_head], 0, sizeof(ue->inbox[0]));
  ue->inbox_head = (ue->inbox_head + 1) % IMSEC_UE_INBOX_MAX;
  ue->inbox_n--;
  if (ue->inbox_n == 0) {
    free(ue->inbox);
    ue->inbox = NULL;
    ue->inbox_head = 0;
  }
  return 1;
}

void imsec_ue_message_free(imsec_ue_message *m) {
  if (!m)
    return;
  free(m->body);
  m->body = NULL;
  m->len = 0;
}
