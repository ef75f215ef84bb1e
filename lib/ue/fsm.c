/*
 * The UE as a state machine made of data (STYLE.md): every entry point
 * turns its call into an event, and the (state, event) table says what
 * the event does in the UE's state: a handler, or nothing (ignored), or a
 * refusal (IMSEC_ERR_STATE). tests/unit/ue_fsm_test.c walks every cell.
 */
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "lib/ue/ue_int.h"

/* ------------------------------------------------------------- the table */

#define B UE_BIT
#define A(k) UE_BIT(IMSEC_ACT_##k)
#define RUN(fn, next, acts)                                                    \
  { UE_RUN, fn, (next), (acts) }
#define IGN                                                                    \
  { UE_IGNORE, NULL, 0, 0 }
#define REF                                                                    \
  { UE_REFUSE, NULL, 0, 0 }

/* Where a lost flow or a failed attempt leads (ue_flow_lost). */
#define LOST                                                                   \
  (B(UE_ST_CONNECTING) | B(UE_ST_BACKOFF) | B(UE_ST_IDLE) | B(UE_ST_FAILED))
#define LOST_ACTS (A(CONNECT) | A(CLOSE))
/* Where an answer to a REGISTER may lead. */
#define ANSWERED                                                               \
  (B(UE_ST_REGISTERED) | B(UE_ST_IDLE) | B(UE_ST_REFUSED) | B(UE_ST_FAILED) |  \
   B(UE_ST_DEREGISTERING) | B(UE_ST_PARKED))
#define CHALLENGED                                                             \
  (B(UE_ST_PERSISTING_SQN) | B(UE_ST_AUTHENTICATING) | B(UE_ST_MAC_REFUSING) | \
   B(UE_ST_REFUSED) | B(UE_ST_FAILED))
#define OTHER_FINAL (LOST | B(UE_ST_REGISTERING) | B(UE_ST_REREGISTERING))
#define STOPPED (B(UE_ST_IDLE) | B(UE_ST_REFUSED) | B(UE_ST_FAILED))

/* The cells shared by the states with a REGISTER in flight. */
#define ON_REGISTER_ANSWER                                                     \
  [UE_EV_RSP_401] =                                                            \
      RUN(ue_h_rsp_401, CHALLENGED, A(SEND) | A(PERSIST) | A(CLOSE)),          \
  [UE_EV_RSP_2XX] = RUN(ue_h_rsp_2xx, ANSWERED, A(SEND) | A(CLOSE) | A(KEEP)), \
  [UE_EV_RSP_OTHER] = RUN(ue_h_rsp_other, OTHER_FINAL, A(SEND) | LOST_ACTS)

/* The cells shared by the states with a flow up. */
#define ON_FLOW                                                                \
  [UE_EV_START] = REF, [UE_EV_FLOW_UP] = REF,                                  \
  [UE_EV_FLOW_DOWN] = RUN(ue_h_flow_lost, LOST, LOST_ACTS),                    \
  [UE_EV_RSP_MESSAGE] = RUN(ue_h_rsp_message, 0, A(SEND)),                     \
  [UE_EV_REQUEST] = RUN(ue_h_request, 0, A(SEND)),                             \
  [UE_EV_TIMER_RECONNECT] = IGN,                                               \
  [UE_EV_TIMER_MESSAGE] = RUN(ue_h_msg_timer, 0, 0),                           \
  [UE_EV_SEND] = RUN(ue_h_send, 0, A(SEND)),                                   \
  ON_CALLS, [UE_EV_RSP_CALL] = RUN(ue_h_rsp_call, 0, A(SEND)),                 \
  [UE_EV_CALL] = RUN(ue_h_call, 0, A(SEND))

/* Calls: their timers and hang-ups run in every state (in mode M2b an
 * incoming call lives on the P-CSCF's inbound flow, outside the table's
 * idea of a flow; calls on a flow that went are over and refuse). */
#define ON_CALLS                                                               \
  [UE_EV_TIMER_CALL] = RUN(ue_h_call_timer, 0, A(SEND)), [UE_EV_CALL_OP] =     \
                                                             RUN(ue_h_call_op, \
                                                                 0, A(SEND))

/* The cells shared by the states without a flow. */
#define NO_FLOW                                                                \
  [UE_EV_RSP_401] = IGN, [UE_EV_RSP_2XX] = IGN, [UE_EV_RSP_OTHER] = IGN,       \
  [UE_EV_RSP_MESSAGE] = IGN, [UE_EV_REQUEST] = IGN,                            \
  [UE_EV_TIMER_MESSAGE] = RUN(ue_h_msg_timer, 0, 0), [UE_EV_SEND] = REF,       \
  ON_CALLS, [UE_EV_RSP_CALL] = IGN, [UE_EV_CALL] = REF

/* A handler whose `next` is 0 always leaves the state as it was. A timer
 * handler's set holds its own state too: a fired timer may be stale (the
 * UE checks its own deadline). */
#define DEREG(next) RUN(ue_h_deregister, (next), A(SEND) | A(CLOSE))
#define LATE RUN(ue_h_reply_late, 0, 0)

const ue_rule ue_fsm[UE_ST_COUNT][UE_EV_COUNT] = {
    [UE_ST_IDLE] =
        {
            NO_FLOW,
            [UE_EV_START] = RUN(ue_h_start, B(UE_ST_CONNECTING), A(CONNECT)),
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] = IGN,
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_IDLE)),
        },
    [UE_ST_CONNECTING] =
        {
            NO_FLOW,
            [UE_EV_START] = REF,
            [UE_EV_FLOW_UP] =
                RUN(ue_h_flow_up,
                    B(UE_ST_CONNECTING) | B(UE_ST_REGISTERING) |
                        B(UE_ST_REREGISTERING) | B(UE_ST_DEREGISTERING) |
                        B(UE_ST_REGISTERED) | STOPPED,
                    A(SEND) | A(CLOSE) | A(KEEP)),
            [UE_EV_FLOW_DOWN] = RUN(ue_h_flow_lost, LOST, LOST_ACTS),
            [UE_EV_TIMER_TXN] = RUN(ue_h_txn_connect, LOST, LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_IDLE)),
        },
    [UE_ST_BACKOFF] =
        {
            NO_FLOW,
            [UE_EV_START] = REF,
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_TIMER_RECONNECT] =
                RUN(ue_h_reconnect, B(UE_ST_BACKOFF) | B(UE_ST_CONNECTING),
                    A(CONNECT)),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_IDLE)),
        },
    [UE_ST_REGISTERING] =
        {
            ON_FLOW,
            ON_REGISTER_ANSWER,
            [UE_EV_TIMER_TXN] =
                RUN(ue_h_txn_register, LOST | B(UE_ST_REGISTERING), LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_IDLE)),
        },
    [UE_ST_REREGISTERING] =
        {
            ON_FLOW,
            ON_REGISTER_ANSWER,
            [UE_EV_TIMER_TXN] = RUN(ue_h_txn_register,
                                    LOST | B(UE_ST_REREGISTERING), LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_REREGISTERING) | B(UE_ST_IDLE)),
        },
    [UE_ST_DEREGISTERING] =
        {
            ON_FLOW,
            ON_REGISTER_ANSWER,
            [UE_EV_TIMER_TXN] = RUN(ue_h_txn_register,
                                    LOST | B(UE_ST_DEREGISTERING), LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_DEREGISTERING) | B(UE_ST_IDLE)),
        },
    [UE_ST_PERSISTING_SQN] =
        {
            ON_FLOW,
            /* An answer proves the REGISTER left, which the host allows
             * only once the SQN is durable (or a host that does not hold
             * sends): go on as AUTHENTICATING would. */
            ON_REGISTER_ANSWER,
            [UE_EV_TIMER_TXN] = RUN(ue_h_txn_persist,
                                    LOST | B(UE_ST_PERSISTING_SQN), LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_REPLY] =
                RUN(ue_h_reply_sqn,
                    B(UE_ST_PERSISTING_SQN) | B(UE_ST_AUTHENTICATING) |
                        B(UE_ST_FAILED),
                    A(CLOSE)),
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_PERSISTING_SQN) | B(UE_ST_IDLE)),
        },
    [UE_ST_AUTHENTICATING] =
        {
            ON_FLOW,
            ON_REGISTER_ANSWER,
            [UE_EV_TIMER_TXN] = RUN(ue_h_txn_register,
                                    LOST | B(UE_ST_AUTHENTICATING), LOST_ACTS),
            [UE_EV_TIMER_REREG] = RUN(ue_h_lapse, 0, 0),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_AUTHENTICATING) | B(UE_ST_IDLE)),
        },
    [UE_ST_REGISTERED] =
        {
            ON_FLOW,
            [UE_EV_RSP_401] = IGN,
            [UE_EV_RSP_2XX] = IGN,
            [UE_EV_RSP_OTHER] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] =
                RUN(ue_h_rereg,
                    B(UE_ST_REGISTERED) | B(UE_ST_REREGISTERING) |
                        B(UE_ST_REGISTERING) | LOST,
                    A(SEND) | LOST_ACTS),
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_DEREGISTERING) | B(UE_ST_IDLE)),
        },
    [UE_ST_MAC_REFUSING] =
        {
            [UE_EV_START] = REF,
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] =
                RUN(ue_h_flow_gone_refusing, B(UE_ST_REFUSED), A(CLOSE)),
            [UE_EV_RSP_MESSAGE] = RUN(ue_h_rsp_message, 0, A(SEND)),
            [UE_EV_REQUEST] = RUN(ue_h_request, 0, A(SEND)),
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_TIMER_MESSAGE] = RUN(ue_h_msg_timer, 0, 0),
            [UE_EV_SEND] = RUN(ue_h_send, 0, A(SEND)),
            ON_CALLS,
            [UE_EV_RSP_CALL] = RUN(ue_h_rsp_call, 0, A(SEND)),
            [UE_EV_CALL] = RUN(ue_h_call, 0, A(SEND)),
            [UE_EV_RSP_401] =
                RUN(ue_h_rsp_refusing, B(UE_ST_REFUSED), A(CLOSE)),
            [UE_EV_RSP_2XX] =
                RUN(ue_h_rsp_refusing, B(UE_ST_REFUSED), A(CLOSE)),
            [UE_EV_RSP_OTHER] =
                RUN(ue_h_rsp_refusing, B(UE_ST_REFUSED), A(CLOSE)),
            [UE_EV_TIMER_TXN] =
                RUN(ue_h_txn_refusing, B(UE_ST_MAC_REFUSING) | B(UE_ST_REFUSED),
                    A(CLOSE)),
            [UE_EV_TIMER_REREG] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_REFUSED)),
        },
    [UE_ST_REFUSED] =
        {
            NO_FLOW,
            [UE_EV_START] = REF,
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] = IGN,
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_REFUSED)),
        },
    [UE_ST_FAILED] =
        {
            NO_FLOW,
            [UE_EV_START] = RUN(ue_h_start, B(UE_ST_CONNECTING), A(CONNECT)),
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] = IGN,
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] = DEREG(B(UE_ST_FAILED)),
        },
    [UE_ST_PARKED] =
        {
            /* M2b: registered without a flow of its own; inbound flows
             * from the P-CSCF are lib/ue/listen.c's, outside the table. */
            NO_FLOW,
            [UE_EV_START] = REF,
            [UE_EV_FLOW_UP] = REF,
            [UE_EV_FLOW_DOWN] = IGN,
            [UE_EV_TIMER_TXN] = IGN,
            [UE_EV_TIMER_REREG] =
                RUN(ue_h_park_rereg, B(UE_ST_PARKED) | B(UE_ST_CONNECTING),
                    A(CONNECT)),
            [UE_EV_TIMER_RECONNECT] = IGN,
            [UE_EV_REPLY] = LATE,
            [UE_EV_DEREGISTER] =
                RUN(ue_h_park_dereg, B(UE_ST_CONNECTING),
                    A(CONNECT) | A(CLOSE)),
        },
};

const char *ue_st_name(ue_st s) {
  static const char *const names[UE_ST_COUNT] = {
      [UE_ST_IDLE] = "IDLE",
      [UE_ST_CONNECTING] = "CONNECTING",
      [UE_ST_BACKOFF] = "BACKOFF",
      [UE_ST_REGISTERING] = "REGISTERING",
      [UE_ST_REREGISTERING] = "REREGISTERING",
      [UE_ST_DEREGISTERING] = "DEREGISTERING",
      [UE_ST_PERSISTING_SQN] = "PERSISTING_SQN",
      [UE_ST_AUTHENTICATING] = "AUTHENTICATING",
      [UE_ST_REGISTERED] = "REGISTERED",
      [UE_ST_MAC_REFUSING] = "MAC_REFUSING",
      [UE_ST_REFUSED] = "REFUSED",
      [UE_ST_FAILED] = "FAILED",
      [UE_ST_PARKED] = "PARKED",
  };
  return (unsigned)s < UE_ST_COUNT ? names[s] : "?";
}

const char *ue_ev_name(ue_ev e) {
  static const char *const names[UE_EV_COUNT] = {
      [UE_EV_START] = "start",
      [UE_EV_FLOW_UP] = "flow-up",
      [UE_EV_FLOW_DOWN] = "flow-down",
      [UE_EV_RSP_401] = "401",
      [UE_EV_RSP_2XX] = "2xx",
      [UE_EV_RSP_OTHER] = "other-final",
      [UE_EV_RSP_MESSAGE] = "message-final",
      [UE_EV_REQUEST] = "request",
      [UE_EV_TIMER_TXN] = "timer-txn",
      [UE_EV_TIMER_REREG] = "timer-rereg",
      [UE_EV_TIMER_RECONNECT] = "timer-reconnect",
      [UE_EV_TIMER_MESSAGE] = "timer-message",
      [UE_EV_REPLY] = "reply",
      [UE_EV_DEREGISTER] = "deregister",
      [UE_EV_SEND] = "send",
      [UE_EV_RSP_CALL] = "call-response",
      [UE_EV_TIMER_CALL] = "timer-call",
      [UE_EV_CALL] = "call",
      [UE_EV_CALL_OP] = "call-op",
  };
  return (unsigned)e < UE_EV_COUNT ? names[e] : "?";
}

int ue_dispatch(imsec_ue *ue, const ue_event *e) {
  if ((unsigned)ue->st >= UE_ST_COUNT || (unsigned)e->ev >= UE_EV_COUNT)
    return IMSEC_ERR_INTERNAL;
  const ue_rule *r = &ue_fsm[ue->st][e->ev];
  ue->now = e->now;
  switch (r->disp) {
  case UE_RUN: {
    size_t from = e->out->n;
    int rv = r->fn(ue, e);
    ue_dgram_after(ue, e->out, from, e->now); /* DTLS: retransmissions */
    return rv;
  }
  case UE_REFUSE:
    return IMSEC_ERR_STATE;
  default:
    return 0;
  }
}

/* ------------------------------------------------------ the entry points */

int imsec_ue_start(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return IMSEC_ERR_INVAL;
  ue_event e = {.ev = UE_EV_START, .now = now, .out = out};
  return ue_dispatch(ue, &e);
}

int imsec_ue_on_flow_up(imsec_ue *ue, uint64_t flow, uint64_t tag,
                        const imsec_flow_info *info, imsec_time_ms now,
                        imsec_out *out) {
  if (!ue || !out || flow == 0)
    return IMSEC_ERR_INVAL;
  if (tag == 0 && ue->has_listen) /* M2b: the P-CSCF dials in */
    return ue_listen_flow_up(ue, flow, info, now, out);
  ue_event e = {.ev = UE_EV_FLOW_UP,
                .now = now,
                .out = out,
                .flow = flow,
                .tag = tag,
                .info = info};
  return ue_dispatch(ue, &e);
}

void imsec_ue_on_flow_down(imsec_ue *ue, uint64_t flow, uint64_t tag,
                           int reason, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return;
  ue->now = now;
  if (ue_listen_flow_down(ue, flow, out))
    return;
  /* Only our flow, or the CONNECT the UE waits for, is news. */
  int ours = (flow && flow == ue->flow) ||
             (!ue->flow && tag && tag == ue->connect_tag);
  if (!ours)
    return;
  ue_event e = {.ev = UE_EV_FLOW_DOWN,
                .now = now,
                .out = out,
                .flow = flow,
                .tag = tag,
                .reason = reason};
  (void)ue_dispatch(ue, &e);
}

/* Which event a parsed message on the flow is, or UE_EV_COUNT for none
 * (a provisional or stray response, one without CSeq or Call-ID). */
static ue_ev classify(const imsec_ue *ue, imsec_sip_msg *m, imsec_str *cid) {
  if (m->is_request)
    return UE_EV_REQUEST;
  const imsec_sip_cseq *cs;
  if (imsec_sip_get_cseq(m, &cs) < 0 || imsec_sip_get_call_id(m, cid) < 0 ||
      m->status < 100)
    return UE_EV_COUNT;
  /* Calls: provisional responses too (RFC 3261 §13.2.2.1). */
  if (cs->method_id != IMSEC_SIP_M_REGISTER &&
      cs->method_id != IMSEC_SIP_M_MESSAGE && ue_call_owns(ue, m, *cid))
    return UE_EV_RSP_CALL;
  if (m->status < 200)
    return UE_EV_COUNT;
  if (cs->method_id == IMSEC_SIP_M_MESSAGE)
    return UE_EV_RSP_MESSAGE;
  /* RFC 3261 §17.1.3: the answer to the REGISTER in flight only. */
  if (cs->method_id != IMSEC_SIP_M_REGISTER || cs->seq != ue->cseq ||
      !imsec_str_eq(*cid, S(ue->call_id)))
    return UE_EV_COUNT;
  if (m->status == 401)
    return UE_EV_RSP_401;
  return m->status < 300 ? UE_EV_RSP_2XX : UE_EV_RSP_OTHER;
}

void imsec_ue_on_message(imsec_ue *ue, uint64_t flow, const uint8_t *msg,
                         size_t len, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out || !msg || flow == 0 ||
      (flow != ue->flow && flow != ue->in_flow))
    return;
  ue->now = now;
  if (ue_dgram_raw(ue, msg, len, now, out))
    return; /* DTLS: a STUN keep-alive answer */
  char *buf = malloc(len ? len : 1);
  if (!buf)
    return;
  if (len)
    memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, buf, len, ue->pcscf.tp != IMSEC_TP_DTLS) < 0) {
    LOG(out, IMSEC_LOG_WARN, S("unparseable message on the flow dropped"));
  } else if (flow == ue->flow && ue_dgram_in(ue, &m, now, out)) {
    /* DTLS: a retransmission the transaction layer took care of */
  } else if (!ue_listen_message(ue, flow, &m, now, out)) {
    ue_event e = {.now = now, .out = out, .flow = flow, .msg = &m};
    e.ev = classify(ue, &m, &e.call_id);
    if (e.ev != UE_EV_COUNT)
      (void)ue_dispatch(ue, &e);
  }
  imsec_sip_msg_free(&m);
  imsec_wipe(buf, len);
  free(buf);
}

void imsec_ue_on_timer(imsec_ue *ue, uint64_t timer, imsec_time_ms now,
                       imsec_out *out) {
  if (!ue || !out)
    return;
  ue_event e = {.now = now, .out = out};
  switch (timer) {
  case IMSEC_UE_TIMER_TXN:
    e.ev = UE_EV_TIMER_TXN;
    break;
  case IMSEC_UE_TIMER_REREG:
    e.ev = UE_EV_TIMER_REREG;
    break;
  case IMSEC_UE_TIMER_RECONNECT:
    e.ev = UE_EV_TIMER_RECONNECT;
    break;
  case IMSEC_UE_TIMER_MESSAGE:
    e.ev = UE_EV_TIMER_MESSAGE;
    break;
  case IMSEC_UE_TIMER_DGRAM:
    ue->now = now;
    ue_dgram_timer(ue, now, out);
    return;
  case IMSEC_UE_TIMER_CALL:
    e.ev = UE_EV_TIMER_CALL;
    break;
  default:
    return;
  }
  (void)ue_dispatch(ue, &e);
}

void imsec_ue_on_reply(imsec_ue *ue, const imsec_svc_reply *r,
                       imsec_time_ms now, imsec_out *out) {
  if (!ue || !r || !out)
    return;
  ue_event e = {.ev = UE_EV_REPLY, .now = now, .out = out, .reply = r};
  (void)ue_dispatch(ue, &e);
}

int imsec_ue_deregister(imsec_ue *ue, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out)
    return IMSEC_ERR_INVAL;
  ue_event e = {.ev = UE_EV_DEREGISTER, .now = now, .out = out};
  return ue_dispatch(ue, &e);
}

int imsec_ue_send_message(imsec_ue *ue, const char *to,
                          const char *content_type, const uint8_t *body,
                          size_t len, imsec_time_ms now, imsec_out *out) {
  if (!ue || !out || !to || (!body && len))
    return IMSEC_ERR_INVAL;
  ue_event e = {.ev = UE_EV_SEND,
                .now = now,
                .out = out,
                .to = to,
                .content_type = content_type,
                .body = body,
                .len = len};
  return ue_dispatch(ue, &e);
}

/* What the P-CSCF sent that cannot be framed: a request gets 513 or 400
 * (imsec_elem_refuse_input), the rest is dropped; the driver closes. The
 * same in every state, so outside the table. */
void imsec_ue_on_refused(imsec_ue *ue, uint64_t flow, int reason,
                         const uint8_t *head, size_t len, imsec_time_ms now,
                         imsec_out *out) {
  if (!ue || !out)
    return;
  (void)imsec_elem_refuse_input(out, &ue->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-ue", "uerefused");
}

int imsec_ue_call(imsec_ue *ue, const char *to, imsec_time_ms now,
                  imsec_out *out) {
  if (!ue || !out || !to)
    return IMSEC_ERR_INVAL;
  ue_event e = {.ev = UE_EV_CALL, .now = now, .out = out, .to = to};
  return ue_dispatch(ue, &e);
}

static int call_op(imsec_ue *ue, int handle, int op, imsec_time_ms now,
                   imsec_out *out) {
  if (!ue || !out)
    return IMSEC_ERR_NOTFOUND;
  ue_event e = {
      .ev = UE_EV_CALL_OP, .now = now, .out = out, .handle = handle, .op = op};
  return ue_dispatch(ue, &e);
}

int imsec_ue_call_hangup(imsec_ue *ue, int handle, imsec_time_ms now,
                         imsec_out *out) {
  return call_op(ue, handle, UE_CALL_OP_HANGUP, now, out);
}

int imsec_ue_call_reinvite(imsec_ue *ue, int handle, imsec_time_ms now,
                           imsec_out *out) {
  return call_op(ue, handle, UE_CALL_OP_REINVITE, now, out);
}
