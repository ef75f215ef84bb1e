/*
 * imsec sip_txn: the RFC 3261 §17 transaction layer, sans-I/O.
 *
 * A transaction here is only its state and its timers: it holds no bytes
 * and no clock. The caller (an element on a datagram flow: SIP over DTLS,
 * where records are lost like UDP datagrams) keeps the request or the last
 * response it sent, tells the transaction what happened — the request was
 * sent, a response arrived, the TU answers, a retransmission arrived, time
 * passed — with the current time, and reads back what to do as a set of
 * IMSEC_TXN_* flags: retransmit the request, resend the last response,
 * send an ACK, pass the message up to the TU, absorb it, the transaction
 * timed out, the transaction is over.
 *
 * The four machines of the RFC, with every timer of its Table 4:
 *   client INVITE      (§17.1.1, figure 5):  A (retransmit), B (timeout),
 *                                            D (wait for response
 *                                               retransmissions)
 *   client non-INVITE  (§17.1.2, figure 6):  E (retransmit), F (timeout),
 *                                            K (wait)
 *   server INVITE      (§17.2.1, figure 7):  G (response retransmit),
 *                                            H (ACK timeout), I (wait
 *                                               for ACK retransmissions)
 *   server non-INVITE  (§17.2.2, figure 8):  J (wait for request
 *                                               retransmissions)
 * T1 (RTT estimate, 500 ms), T2 (cap of the non-INVITE request and INVITE
 * response retransmit interval, 4 s) and T4 (how long a message lives in
 * the network, 5 s) are configurable (§17.1.1.1 allows other values, e.g.
 * on a known network). Over a reliable transport (`reliable` 1) the
 * retransmit timers never run and D, K, I, J are zero (§17.1.1.2,
 * §17.1.2.2, §17.2.1, §17.2.2), as the RFC says.
 *
 * The server INVITE transaction follows RFC 3261's figure 7 (a 2xx from
 * the TU ends it: the TU retransmits the 2xx itself, §13.3.1.4), not RFC
 * 6026's Accepted state.
 *
 * Matching messages to transactions (§17.1.3, §17.2.3) is the caller's:
 * imsec_sip_txn_key gives the RFC 3261 key of a message (branch, sent-by,
 * method with ACK as INVITE) to look a transaction up by.
 */
#ifndef IMSEC_SIP_TXN_H
#define IMSEC_SIP_TXN_H

#include "imsec/base.h"
#include "imsec/elem.h"
#include "imsec/sip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 3261 §17.1.1.1 and Table 4 defaults. */
#define IMSEC_SIP_T1_MS 500
#define IMSEC_SIP_T2_MS 4000
#define IMSEC_SIP_T4_MS 5000
/* Timer D over an unreliable transport: "at least 32 seconds" (§17.1.1.2). */
#define IMSEC_SIP_TIMER_D_MS 32000

typedef struct imsec_sip_timers {
  imsec_time_ms t1, t2, t4; /* 0 in any: its default */
} imsec_sip_timers;

/* T1 500, T2 4000, T4 5000. */
IMSEC_API void imsec_sip_timers_default(imsec_sip_timers *t);

typedef enum imsec_sip_txn_kind {
  IMSEC_TXN_CLIENT_INVITE = 0,
  IMSEC_TXN_CLIENT_NON_INVITE,
  IMSEC_TXN_SERVER_INVITE,
  IMSEC_TXN_SERVER_NON_INVITE,
} imsec_sip_txn_kind;

typedef enum imsec_sip_txn_state {
  IMSEC_TXN_CALLING = 0, /* client INVITE: request out, nothing back */
  IMSEC_TXN_TRYING,      /* client non-INVITE: request out; server
                            non-INVITE: request in, nothing answered */
  IMSEC_TXN_PROCEEDING,  /* a provisional response seen / sent */
  IMSEC_TXN_COMPLETED,   /* a final response seen / sent (INVITE: 300-699) */
  IMSEC_TXN_CONFIRMED,   /* server INVITE: the ACK came */
  IMSEC_TXN_TERMINATED,  /* over: free it */
} imsec_sip_txn_state;

/* What the caller does after an event: a set of these bits, in this order
 * when several are set (0: nothing). */
enum {
  /* Client: send the request again (Timer A, Timer E). */
  IMSEC_TXN_RETRANSMIT = 1 << 0,
  /* Server: send the last response again (a retransmitted request in
   * Proceeding or Completed, Timer G). */
  IMSEC_TXN_RESEND_RESPONSE = 1 << 1,
  /* Client INVITE: send an ACK for the 300-699 response just received
   * (§17.1.1.3, the transaction builds it, the caller writes it). */
  IMSEC_TXN_SEND_ACK = 1 << 2,
  /* Hand the message to the TU (the first of a request; a response the TU
   * must see). */
  IMSEC_TXN_PASS_UP = 1 << 3,
  /* A retransmission the TU must not see: drop it. */
  IMSEC_TXN_ABSORB = 1 << 4,
  /* Timeout: B, F (no final response: the TU answers 408, §8.1.3.1) or H
   * (no ACK). */
  IMSEC_TXN_TIMEOUT = 1 << 5,
  /* Server INVITE just created: send 100 Trying unless the TU answers
   * within 200 ms (§17.2.1). */
  IMSEC_TXN_SEND_TRYING = 1 << 6,
  /* The transaction is now TERMINATED: forget it. */
  IMSEC_TXN_DONE = 1 << 7,
};

typedef struct imsec_sip_txn {
  imsec_sip_txn_kind kind;
  imsec_sip_txn_state state;
  int reliable;
  imsec_sip_timers tm;
  /* Deadlines, 0 when not running (read-only for the caller). */
  imsec_time_ms retx_at;   /* A, E or G */
  imsec_time_ms retx_ival; /* its current interval */
  imsec_time_ms fail_at;   /* B, F or H */
  imsec_time_ms wait_at;   /* D, K, I or J */
  unsigned last_status;    /* the last response seen (client) or sent
                              (server); 0 none */
  unsigned retransmits;    /* requests (client) or responses (server)
                              sent again */
  char fired;              /* the last timer that fired: 'A'..'K', 0 none */
} imsec_sip_txn;

/* A client transaction: the request has just been sent (first time).
 * `tm` NULL: the defaults. Starts A+B (INVITE) or E+F (non-INVITE); over a
 * reliable transport only B or F. */
IMSEC_API void imsec_sip_txn_client(imsec_sip_txn *t, imsec_sip_txn_kind kind,
                                    int reliable, const imsec_sip_timers *tm,
                                    imsec_time_ms now);
/* A server transaction: its request has just arrived. Returns PASS_UP
 * (and SEND_TRYING for an INVITE). */
IMSEC_API int imsec_sip_txn_server(imsec_sip_txn *t, imsec_sip_txn_kind kind,
                                   int reliable, const imsec_sip_timers *tm,
                                   imsec_time_ms now);

/* Client: a response with `status` (100..699) matched the transaction. */
IMSEC_API int imsec_sip_txn_on_response(imsec_sip_txn *t, unsigned status,
                                        imsec_time_ms now);
/* Server: the request arrived again (`ack` 0), or an ACK matched an INVITE
 * transaction (`ack` 1; for a non-INVITE one it is absorbed). */
IMSEC_API int imsec_sip_txn_on_request(imsec_sip_txn *t, int ack,
                                       imsec_time_ms now);
/* Server: the TU sends a response with `status`; the caller sends it and
 * keeps it as the last response (for RESEND_RESPONSE). Returns DONE when
 * this ends the transaction, 0 otherwise; IMSEC_ERR_STATE (a negative
 * value) when the transaction may not send it (a response after the
 * final one): then the caller sends nothing. */
IMSEC_API int imsec_sip_txn_send_response(imsec_sip_txn *t, unsigned status,
                                          imsec_time_ms now);
/* Time passed: handle every deadline at or before `now`. */
IMSEC_API int imsec_sip_txn_on_timer(imsec_sip_txn *t, imsec_time_ms now);
/* The transport failed to send (§17.1.4, §17.2.4): TIMEOUT for a client
 * waiting for a final response, and DONE. */
IMSEC_API int imsec_sip_txn_on_transport_error(imsec_sip_txn *t);

/* The earliest running deadline, 0 none. */
IMSEC_API imsec_time_ms imsec_sip_txn_next(const imsec_sip_txn *t);

IMSEC_API const char *imsec_sip_txn_state_name(imsec_sip_txn_state s);

/* The matching key of a message (§17.1.3 for responses, §17.2.3 for
 * requests): "BRANCH SENT-BY METHOD" from the top Via's branch and sent-by
 * (host and port as written, no port when absent) and the CSeq method; with
 * `ack_as_invite` an ACK's method reads INVITE (a server matching an ACK to
 * its INVITE transaction). Only RFC 3261 branches (z9hG4bK...) match.
 * Returns the length, IMSEC_ERR_PARSE (no usable Via or CSeq, an RFC 2543
 * branch), IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_txn_key(imsec_sip_msg *m, int ack_as_invite, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SIP_TXN_H */
