/*
 * The UE's datagram leg: SIP over DTLS on UDP (draft-jennings-sip-dtls),
 * where a record that is lost is lost for good, so the RFC 3261 §17
 * transactions (lib/sip/txn.c) do what TCP does for TLS:
 *  - every request the UE sends on the flow (REGISTER, MESSAGE, ...) gets a
 *    client transaction that sends it again on Timer E (T1 doubling to T2,
 *    §17.1.2.2) until a response comes; responses retransmitted by the
 *    P-CSCF are absorbed in Completed (Timer K). The transaction's own
 *    timeout (Timer F, 64*T1) coincides with the UE's transaction deadline
 *    (txn_timeout_ms, 32 s by default), which keeps answering it as over
 *    TLS;
 *  - every request arriving on the flow (MESSAGE, OPTIONS) gets a server
 *    transaction: a retransmission of it is never handed to the UE again;
 *    the last response goes out again instead (§17.2.2), until Timer J.
 * The layer sits around the UE's state table: it looks at the SENDs a
 * handler appended (after ue_dispatch) and at messages before they are
 * classified, so the table itself does not know about datagrams.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/sip_txn.h"
#include "lib/ue/ue_int.h"

#define DG_MAX 24
#define DG_KEY 200

typedef struct dg_txn {
  int used;
  char key[DG_KEY];
  imsec_sip_txn t;
  uint8_t *bytes; /* client: the request; server: the last response */
  size_t len;
  char method[16]; /* for the log */
  /* server: forgotten by then even if the table never answered it */
  imsec_time_ms expire_at;
} dg_txn;

struct ue_dgram {
  dg_txn tx[DG_MAX];
  imsec_time_ms armed; /* the deadline last armed, 0 none */
  /* STUN keep-alive (RFC 5626 §4.4.2) on a registered flow */
  imsec_time_ms ka_next;     /* when the next Binding request goes; 0 off */
  imsec_time_ms ka_deadline; /* an answer is due by then; 0: none out */
  imsec_time_ms ka_resend;   /* the outstanding request goes again */
  uint8_t ka_req[20];        /* the outstanding request */
};

static void txn_free(dg_txn *x) {
  if (x->bytes) {
    /* a REGISTER holds a Digest response: wiped like the builder's copy */
    imsec_wipe(x->bytes, x->len);
    free(x->bytes);
  }
  memset(x, 0, sizeof *x);
}

void ue_dgram_reset(imsec_ue *ue) {
  if (!ue->dg)
    return;
  for (size_t i = 0; i < DG_MAX; i++)
    txn_free(&ue->dg->tx[i]);
  ue->dg->armed = 0;
  ue->dg->ka_next = ue->dg->ka_deadline = ue->dg->ka_resend = 0;
}

void ue_dgram_free(imsec_ue *ue) {
  ue_dgram_reset(ue);
  free(ue->dg);
  ue->dg = NULL;
}

static int dgram_on(const imsec_ue *ue) {
  return ue->pcscf.tp == IMSEC_TP_DTLS;
}

static dg_txn *find(imsec_ue *ue, const char *key, int server) {
  if (!ue->dg)
    return NULL;
  for (size_t i = 0; i < DG_MAX; i++) {
    dg_txn *x = &ue->dg->tx[i];
    int is_server = x->t.kind == IMSEC_TXN_SERVER_INVITE ||
                    x->t.kind == IMSEC_TXN_SERVER_NON_INVITE;
    if (x->used && is_server == server &&
        strcmp(x->key, key) == 0) /* no secret: a Via branch and method */
      return x;
  }
  return NULL;
}

static dg_txn *slot(imsec_ue *ue) {
  if (!ue->dg && !(ue->dg = calloc(1, sizeof *ue->dg)))
    return NULL;
  for (size_t i = 0; i < DG_MAX; i++)
    if (!ue->dg->tx[i].used)
      return &ue->dg->tx[i];
  return NULL;
}

static void set_min(imsec_time_ms *m, imsec_time_ms v) {
  if (v && (!*m || v < *m))
    *m = v;
}

static void arm(imsec_ue *ue, imsec_out *out) {
  imsec_time_ms next = 0;
  if (ue->dg) {
    for (size_t i = 0; i < DG_MAX; i++)
      if (ue->dg->tx[i].used) {
        set_min(&next, imsec_sip_txn_next(&ue->dg->tx[i].t));
        set_min(&next, ue->dg->tx[i].expire_at);
      }
    set_min(&next, ue->dg->ka_deadline ? ue->dg->ka_resend : ue->dg->ka_next);
    set_min(&next, ue->dg->ka_deadline);
  }
  if (ue->dg && ue->dg->armed == next)
    return;
  if (ue->dg)
    ue->dg->armed = next;
  ue_arm(out, IMSEC_UE_TIMER_DGRAM, next);
}

static void method_of(imsec_sip_msg *m, char *buf, size_t cap) {
  const imsec_sip_cseq *cs;
  imsec_str s = m->is_request ? m->method : S("?");
  if (!m->is_request && imsec_sip_get_cseq(m, &cs) == 0)
    s = cs->method;
  ue_copy_wire(buf, cap, s);
}

int ue_dgram_in(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                imsec_out *out) {
  if (!dgram_on(ue))
    return 0;
  char key[DG_KEY];
  int ack = m->is_request && m->method_id == IMSEC_SIP_M_ACK;
  if (imsec_sip_txn_key(m, m->is_request, key, sizeof key) < 0)
    return 0; /* no RFC 3261 branch: no transaction, handled as it comes */
  dg_txn *x = find(ue, key, m->is_request);
  int f = 0;
  if (!m->is_request) {
    if (!x)
      return 0; /* stray: the state table drops it */
    f = imsec_sip_txn_on_response(&x->t, m->status, now);
    /* A 300-699 to an INVITE sent again (SEND_ACK without PASS_UP): call.c
     * sends its ACK again (§17.1.1.2); a 2xx after the transaction ended
     * is not found here and goes up as well (§13.2.2.4). */
    if (f & IMSEC_TXN_SEND_ACK)
      f |= IMSEC_TXN_PASS_UP;
  } else if (x) {
    f = imsec_sip_txn_on_request(&x->t, ack, now);
    if ((f & IMSEC_TXN_RESEND_RESPONSE) && x->bytes) {
      LOG(out, IMSEC_LOG_INFO, S("retransmitted "), S(x->method),
          S(" absorbed; last response sent again"));
      (void)imsec_out_send(out, ue->flow, x->bytes, x->len);
    } else if (f & IMSEC_TXN_ABSORB) {
      LOG(out, IMSEC_LOG_INFO, S("retransmitted "), S(x->method),
          S(" absorbed"));
    }
  } else if (!ack) {
    /* A new request: its server transaction (RFC 3261 §17.2). */
    if (!(x = slot(ue))) {
      LOG(out, IMSEC_LOG_WARN,
          S("datagram transaction table full: request handled without one"));
      return 0;
    }
    memset(x, 0, sizeof *x);
    x->used = 1;
    memcpy(x->key, key, strlen(key) + 1);
    method_of(m, x->method, sizeof x->method);
    f = imsec_sip_txn_server(&x->t,
                             m->method_id == IMSEC_SIP_M_INVITE
                                 ? IMSEC_TXN_SERVER_INVITE
                                 : IMSEC_TXN_SERVER_NON_INVITE,
                             0, &ue->sip_timers, now);
    x->expire_at = now + 64 * ue->sip_timers.t1;
  } else {
    return 0;
  }
  if (f & IMSEC_TXN_DONE)
    txn_free(x);
  arm(ue, out);
  return (f & IMSEC_TXN_PASS_UP) ? 0 : 1;
}

/* One SEND the UE appended on its flow: a request opens a client
 * transaction with a copy of it; a response is the last response of its
 * server transaction. */
static void take_send(imsec_ue *ue, const imsec_act *a, imsec_time_ms now,
                      imsec_out *out) {
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
    dg_txn *x = find(ue, key, 1);
    if (!x)
      goto done;
    int f = imsec_sip_txn_send_response(&x->t, m.status, now);
    if (f < 0)
      goto done;
    uint8_t *copy = malloc(a->len);
    if (copy) {
      memcpy(copy, a->data, a->len);
      if (x->bytes) {
        imsec_wipe(x->bytes, x->len);
        free(x->bytes);
      }
      x->bytes = copy;
      x->len = a->len;
    }
    if (f & IMSEC_TXN_DONE)
      txn_free(x);
    goto done;
  }
  if (m.method_id == IMSEC_SIP_M_ACK)
    goto done; /* an ACK has no transaction (§17.1.1.3) */
  dg_txn *x = find(ue, key, 0);
  if (x)
    txn_free(x); /* the same branch sent anew: start over */
  if (!(x = slot(ue))) {
    LOG(out, IMSEC_LOG_WARN,
        S("datagram transaction table full: request sent without "
          "retransmission"));
    goto done;
  }
  if (!(x->bytes = malloc(a->len)))
    goto done;
  memcpy(x->bytes, a->data, a->len);
  x->len = a->len;
  x->used = 1;
  memcpy(x->key, key, strlen(key) + 1);
  method_of(&m, x->method, sizeof x->method);
  imsec_sip_txn_client(&x->t,
                       m.method_id == IMSEC_SIP_M_INVITE
                           ? IMSEC_TXN_CLIENT_INVITE
                           : IMSEC_TXN_CLIENT_NON_INVITE,
                       0, &ue->sip_timers, now);
done:
  imsec_sip_msg_free(&m);
  imsec_wipe(buf, a->len);
  free(buf);
}

/* The next keep-alive: 80-100% of the interval (RFC 5626 §4.4.1 asks
 * for the randomisation, so that UEs do not beat in step). */
static void ka_schedule(imsec_ue *ue, imsec_time_ms now) {
  uint8_t r = 0;
  if (imsec_random(ue->crypto, &r, 1) < 0)
    r = 0; /* the full interval */
  imsec_time_ms iv = ue->keepalive_ms;
  ue->dg->ka_next = now + iv - (iv / 5) * r / 255;
}

void ue_dgram_after(imsec_ue *ue, imsec_out *out, size_t from,
                    imsec_time_ms now) {
  if (!dgram_on(ue) || !ue->flow)
    return;
  size_t n = out->n; /* what take_send logs is not looked at */
  for (size_t i = from; i < n; i++) {
    const imsec_act *a = &out->acts[i];
    if (a->kind == IMSEC_ACT_SEND && a->flow == ue->flow && a->len)
      take_send(ue, a, now, out);
  }
  /* Keep-alive from the first 200 on the flow (RFC 5626 §4.4.2: the flow
   * is what the registration is bound to). */
  if (ue->flow_registered && ue->keepalive_ms > 0 &&
      (ue->dg || (ue->dg = calloc(1, sizeof *ue->dg))) && !ue->dg->ka_next &&
      !ue->dg->ka_deadline)
    ka_schedule(ue, now);
  arm(ue, out);
}

static int stun_is(const uint8_t *m, size_t len) {
  /* RFC 5389 §6: top bits 0, magic cookie 0x2112A442, length = the rest. */
  return len >= 20 && (m[0] & 0xC0) == 0 && m[4] == 0x21 && m[5] == 0x12 &&
         m[6] == 0xA4 && m[7] == 0x42 && (size_t)(m[2] << 8 | m[3]) == len - 20;
}

int ue_dgram_raw(imsec_ue *ue, const uint8_t *msg, size_t len,
                 imsec_time_ms now, imsec_out *out) {
  (void)now;
  if (!dgram_on(ue) || !stun_is(msg, len))
    return 0;
  if (ue->dg && ue->dg->ka_deadline && msg[0] == 0x01 && msg[1] == 0x01 &&
      memcmp(msg + 8, ue->dg->ka_req + 8, 12) == 0) { /* no secret: STUN id */
    LOG(out, IMSEC_LOG_DEBUG, S("STUN keep-alive answered"));
    ue->dg->ka_deadline = 0;
    ue->dg->ka_resend = 0;
    ka_schedule(ue, now);
    arm(ue, out);
  }
  return 1; /* STUN never reaches the SIP table */
}

/* The keep-alive timer: a Binding request (RFC 5389 §6, no attributes),
 * sent again every 2 s while unanswered; no answer in 10 s and the flow is
 * failed (RFC 5626 §4.4.1 gives a pong 10 s): the UE reconnects and
 * registers again. Returns 1 when the flow was failed. */
static int ka_timer(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  struct ue_dgram *d = ue->dg;
  if (!ue->flow)
    return 0;
  if (d->ka_deadline && now >= d->ka_deadline) {
    LOG(out, IMSEC_LOG_WARN,
        S("no answer to the STUN keep-alive in 10 s: the DTLS flow failed"));
    uint64_t flow = ue->flow;
    (void)imsec_out_close(out, flow);
    ue_event e = {.ev = UE_EV_FLOW_DOWN,
                  .now = now,
                  .out = out,
                  .flow = flow,
                  .reason = IMSEC_ERR_TIMEOUT};
    (void)ue_dispatch(ue, &e);
    return 1;
  }
  if (d->ka_deadline && d->ka_resend && now >= d->ka_resend) {
    (void)imsec_out_send(out, ue->flow, d->ka_req, sizeof d->ka_req);
    d->ka_resend = now + 2000 < d->ka_deadline ? now + 2000 : 0;
    return 0;
  }
  if (!d->ka_deadline && d->ka_next && now >= d->ka_next) {
    static const uint8_t hdr[8] = {0x00, 0x01, 0x00, 0x00,
                                   0x21, 0x12, 0xA4, 0x42};
    memcpy(d->ka_req, hdr, sizeof hdr);
    if (imsec_random(ue->crypto, d->ka_req + 8, 12) < 0)
      return 0;
    LOG(out, IMSEC_LOG_DEBUG, S("STUN keep-alive sent"));
    (void)imsec_out_send(out, ue->flow, d->ka_req, sizeof d->ka_req);
    d->ka_next = 0;
    d->ka_deadline = now + 10000;
    d->ka_resend = now + 2000;
  }
  return 0;
}

void ue_dgram_timer(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue->dg)
    return;
  ue->dg->armed = 0;
  if (ka_timer(ue, now, out))
    return; /* the flow failed: the table took over */
  for (size_t i = 0; i < DG_MAX; i++) {
    dg_txn *x = &ue->dg->tx[i];
    if (!x->used)
      continue;
    if (x->expire_at && now >= x->expire_at &&
        x->t.state != IMSEC_TXN_COMPLETED) {
      txn_free(x); /* a request the table never answered */
      continue;
    }
    imsec_time_ms at = imsec_sip_txn_next(&x->t);
    if (!at || now < at)
      continue;
    int f = imsec_sip_txn_on_timer(&x->t, now);
    if ((f & (IMSEC_TXN_RETRANSMIT | IMSEC_TXN_RESEND_RESPONSE)) && x->bytes &&
        ue->flow) {
      char nth[16];
      ue_num_text(x->t.retransmits, nth, sizeof nth);
      char tmr[2] = {x->t.fired, 0};
      LOG(out, IMSEC_LOG_INFO, S("no answer yet: "), S(x->method),
          S(" sent again (Timer "), S(tmr), S(", "), S(nth), S(")"));
      (void)imsec_out_send(out, ue->flow, x->bytes, x->len);
    }
    if (f & IMSEC_TXN_TIMEOUT) {
      char tmr[2] = {x->t.fired, 0};
      LOG(out, IMSEC_LOG_WARN, S(x->method), S(": Timer "), S(tmr),
          S(" fired, transaction timed out"));
    }
    if (f & IMSEC_TXN_DONE)
      txn_free(x);
  }
  arm(ue, out);
}

size_t ue_dgram_count(const imsec_ue *ue) {
  size_t n = 0;
  if (ue->dg)
    for (size_t i = 0; i < DG_MAX; i++)
      n += ue->dg->tx[i].used != 0;
  return n;
}
