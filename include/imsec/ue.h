/*
 * imsec ue: the UE element (mode M1): registration over TLS with security
 * agreement (RFC 3329, TS 24.229 §5.1.1), the trust decision on the P-CSCF
 * (DESIGN.md §3), IMS AKA over Digest (RFC 3310, RFC 4169, TS 33.203 §6.1)
 * with its failure cases, re-registration, de-registration, requests in and
 * out over the registered flow (RFC 5626 outbound).
 *
 * A sans-I/O state machine with the element shape of elem.h: the driver
 * calls imsec_ue_start once, then hands it events (flow up/down, message on
 * flow, timer fired, each with `now`) and carries out the actions it appends
 * to an imsec_out. The UE keeps one flow: its TLS connection to the P-CSCF;
 * in mode M2b (cfg.has_listen) also the P-CSCF's connection to its
 * listener, once it passes the UE's trust decision.
 *
 * Timers: the UE arms its own ids IMSEC_UE_TIMER_* (a fired timer may be
 * stale; the UE checks its own deadline). Connect tags are the UE's own,
 * never 0, a new one per connection attempt.
 *
 * Threading: one imsec_ue is used by one thread at a time, like the
 * imsec_crypto it borrows.
 */
#ifndef IMSEC_UE_H
#define IMSEC_UE_H

#include "imsec/aka.h"
#include "imsec/base.h"
#include "imsec/crypto.h"
#include "imsec/elem.h"
#include "imsec/trust.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_UE_MAX_IMPUS 16
#define IMSEC_UE_PASSWORD_MAX 128  /* octets of a SIP Digest password */
#define IMSEC_UE_MAX_ROUTES 8      /* Service-Route entries kept */
#define IMSEC_UE_MAX_ASSOCIATED 16 /* P-Associated-URI entries kept */
#define IMSEC_UE_URI_CAP 256
#define IMSEC_UE_INBOX_MAX 64   /* received MESSAGEs kept until popped */
#define IMSEC_UE_MAX_PENDING 16 /* outgoing MESSAGEs awaiting an answer */

/* The UE's timer ids (imsec_out_timer). */
enum {
  IMSEC_UE_TIMER_REREG = 1,     /* re-register before expiry */
  IMSEC_UE_TIMER_TXN = 2,       /* connect / REGISTER transaction deadline */
  IMSEC_UE_TIMER_RECONNECT = 3, /* back-off before the next connection */
  IMSEC_UE_TIMER_MESSAGE = 4,   /* outgoing MESSAGE transaction deadlines */
  IMSEC_UE_TIMER_DGRAM = 5,     /* DTLS: RFC 3261 §17 retransmissions and
                                   the STUN keep-alive */
  IMSEC_UE_TIMER_CALL = 6,      /* calls: INVITE/BYE/CANCEL deadlines, the
                                   answer delay, 2xx retransmissions */
};

/*
 * What a UE is made from: the ISIM profile (identities, keys, SQN state,
 * trust domain and policy), where its P-CSCF is, and a few timings.
 * Everything is copied by imsec_ue_new (secrets are wiped with the UE);
 * the caller may wipe and free its copies afterwards.
 */
typedef struct imsec_ue_config {
  const char *impi;               /* user@home-domain (TS 23.003 §13.3) */
  const char *const *impus;       /* impus[0] is registered (From/To) */
  size_t n_impus;                 /* 1..IMSEC_UE_MAX_IMPUS */
  const char *home_domain;        /* the R-URI host and expected realm */
  const char *trust_domain;       /* the IMS Trust Domain Name */
  uint8_t k[IMSEC_AKA_K_LEN];     /* secret */
  uint8_t op[IMSEC_AKA_OP_LEN];   /* secret; used when has_op */
  uint8_t opc[IMSEC_AKA_OP_LEN];  /* secret; used when has_opc */
  int has_op, has_opc;            /* exactly one */
  uint8_t amf[IMSEC_AKA_AMF_LEN]; /* the profile's AMF (informational: the
                                     UE verifies the AMF that AUTN carries) */
  imsec_sqn_ue sqn;               /* Annex C state (imsec_ue_sqn_load) */
  imsec_sqn_cfg sqn_cfg;          /* ind_bits 0 => imsec_sqn_cfg_default() */
  imsec_addr pcscf;               /* "tls:HOST:PORT", or "dtls:HOST:PORT":
                                     SIP over DTLS (draft-jennings-sip-dtls)
                                     with RFC 3261 §17 retransmissions, the
                                     CONNECT naming the host's client
                                     context IMSEC_UE_DTLS_PROFILE */
  const char *pcscf_name;         /* SNI and the name the trust decision
                                     checks; NULL: pcscf.host */
  imsec_trust_policy policy;
  int allow_wildcards;            /* passed to imsec_trust_decide */
  uint32_t expires;               /* requested; 0 => 600 s */
  const char *instance;           /* "urn:uuid:..."; NULL: derived from the
                                     IMPI (stable across runs) */
  imsec_time_ms txn_timeout_ms;   /* connect and transaction deadline;
                                     0 => 32000 (RFC 3261 Timer F) */
  imsec_time_ms reconnect_min_ms; /* first back-off; 0 => 500 */
  imsec_time_ms reconnect_max_ms; /* back-off cap; 0 => 30000 */
  unsigned max_connect_attempts;  /* failed connects in a row before the UE
                                     gives up (FAILED); 0 => never */
  /* Mode M2b (DESIGN.md §2): the UE's own TLS listener (the driver binds
   * it with the UE's server certificate, which asks for a client
   * certificate and defers the verification to the UE). has_listen: the
   * Contact names listen (sip:ue@HOST:PORT;transport=tls, an IP literal
   * host) instead of the flow, and inbound flows are taken: one at a
   * time, while registered, only from the P-CSCF the UE registered
   * through (lib/ue/listen.c: its client certificate passes the same
   * trust decision as its server certificate did, with the registered
   * realm, and carries EKU clientAuth); requests on it are handled as on
   * the registration's flow. close_after_register: after each 200 to a
   * REGISTER the UE closes its flow and waits (registered) for the
   * P-CSCF to dial in; it connects again to re-register. */
  imsec_addr listen;
  int has_listen;
  int close_after_register;
  /* Mode M3 (docs/M3.md). psk_len > 0: connect with this configured PSK
   * under psk_identity (TLS 1.3 external PSK with ECDHE, TLS 1.2
   * ECDHE-PSK); a flow that comes up on it is accepted by key possession
   * (no certificate), the realm of the challenge must still be the home
   * domain. Secret: copied, wiped with the UE. */
  const char *psk_identity;
  uint8_t psk[IMSEC_PSK_MAX];
  size_t psk_len;
  /* 1: after each AKA registration derive the PSK (include/imsec/kdf.h)
   * and connect with it while the registration lives; a flow that comes
   * up on it needs no new REGISTER (the P-CSCF moved the binding). */
  int aka_psk;
  /* DTLS: RFC 3261 §17.1.1.1 T1, T2, T4 of the datagram transactions;
   * 0 => 500, 4000, 5000 ms. */
  imsec_time_ms t1_ms, t2_ms, t4_ms;
  /* DTLS: STUN keep-alive (RFC 5626 §4.4.2) inside the association once
   * registered, every 80-100% of this; 0 => 25000 ms, < 0 => none. */
  imsec_time_ms keepalive_ms;
  /* Calls (docs/CALLS.md): how the UE answers an incoming INVITE (see
   * imsec_ue_answer), after answer_delay_ms of ringing (180 at once);
   * 0 => answer at once. */
  int answer; /* imsec_ue_answer */
  imsec_time_ms answer_delay_ms;
  /* SIP Digest (TS 33.203 Annexes N and O, docs/DIGEST.md): password_len
   * > 0 makes this a terminal without an ISIM. It answers MD5 and
   * SHA-256 challenges of its home realm (SHA-256 when offered, RFC 8760
   * §3; qop=auth with its own cnonce and nc, RFC 7616 §3.4), checks
   * rspauth in the 200's Authentication-Info when there is one, refuses
   * Digest AKA challenges, and leaves k, op, opc, sqn unused. The trust
   * decision on the P-CSCF is the same as for an ISIM UE. digest_username:
   * the username it sends (NULL: the IMPI). The password is a secret:
   * copied, wiped with the UE. */
  uint8_t password[IMSEC_UE_PASSWORD_MAX];
  size_t password_len;
  const char *digest_username;
  /* 1 allows pcscf.tp TCP: SIP Digest over plain TCP with no trust
   * decision at all (nothing to decide on), the realm still checked.
   * Never for a terminal: only for load generators compared with tools
   * that speak plain TCP (`imsec bench --mode tcp`). Needs password_len
   * > 0; an ISIM UE stays TLS only. */
  int allow_plain;
} imsec_ue_config;

/* The TLS profile name (imsec_tls_profile.profile) of the UE's DTLS
 * CONNECT: the host must have a client context of that name made with
 * dtls and defer_verify set (host_net.h). */
#define IMSEC_UE_DTLS_PROFILE "dtls"
/* The largest SIP message one DTLS record carries (RFC 6347 §4.1.1). */
#define IMSEC_UE_DTLS_MAX 16384

typedef struct imsec_ue imsec_ue;

/*
 * Make a UE. `crypto` is borrowed and must outlive it.
 * Returns 0, IMSEC_ERR_INVAL (NULL pointers), IMSEC_ERR_CONFIG (a missing
 * identity or domain, no or both of OP/OPc, pcscf not TLS, too many IMPUs,
 * a text value with control characters or too long, a bad SQN config),
 * IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_ue_new(imsec_ue **out, const imsec_ue_config *cfg, imsec_crypto *crypto);
/* Wipe the keys and free. NULL is fine. */
IMSEC_API void imsec_ue_del(imsec_ue *ue);

/* Begin: connect to the P-CSCF and register. Returns 0, IMSEC_ERR_STATE
 * (already started and not idle/failed), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_ue_start(imsec_ue *ue, imsec_time_ms now,
                                            imsec_out *out);

/* The element events (elem.h). on_flow_up returns <0 when the driver must
 * close the flow: IMSEC_ERR_STATE for a tag the UE no longer waits for,
 * IMSEC_ERR_TRUST when the P-CSCF's certificate fails the trust decision
 * (DESIGN.md §3, all but the realm check, which waits for the challenge):
 * then the UE has sent nothing on the flow, asked for it to be closed
 * (CLOSE) and is REFUSED, for good.
 *
 * Retries: a connection that fails or never comes up, a REGISTER without
 * an answer, and a 503 to a REGISTER (RFC 3261 §21.5.4) all lead to a new
 * connection after a back-off (reconnect_min_ms doubling up to
 * reconnect_max_ms; a 503's Retry-After, when later, wins), counted by
 * max_connect_attempts. A trust refusal or a MAC failure is never
 * retried. */
IMSEC_API int imsec_ue_on_flow_up(imsec_ue *ue, uint64_t flow, uint64_t tag,
                                  const imsec_flow_info *info,
                                  imsec_time_ms now, imsec_out *out);
IMSEC_API void imsec_ue_on_message(imsec_ue *ue, uint64_t flow,
                                   const uint8_t *msg, size_t len,
                                   imsec_time_ms now, imsec_out *out);
/* The flow sent what the driver cannot frame (a message over its size
 * limit, `reason` IMSEC_ERR_LIMIT, or octets that cannot start one,
 * IMSEC_ERR_PARSE); `head` is what arrived, borrowed for the call. A
 * request is answered 513 or 400 when its request line can be read; the
 * driver then closes the flow (which ends the registration's flow). */
IMSEC_API void imsec_ue_on_refused(imsec_ue *ue, uint64_t flow, int reason,
                                   const uint8_t *head, size_t len,
                                   imsec_time_ms now, imsec_out *out);
IMSEC_API void imsec_ue_on_flow_down(imsec_ue *ue, uint64_t flow, uint64_t tag,
                                     int reason, imsec_time_ms now,
                                     imsec_out *out);
IMSEC_API void imsec_ue_on_timer(imsec_ue *ue, uint64_t timer,
                                 imsec_time_ms now, imsec_out *out);
/* The answer to the UE's PERSIST (elem.h on_reply). When the UE accepts
 * a challenge (AUTN verified, SQN fresh) it appends a PERSIST of kind
 * IMSEC_SVC_UE_SQN carrying SQN_MS (imsec_ue_sqn_save of the new state)
 * before the SEND of the REGISTER with the RES: TS 33.102 Annex C wants
 * the accepted SQN durable before the RES leaves (DESIGN.md §2), so the
 * host holds that SEND until the store says so. A failed status means the
 * host dropped the REGISTER: the RES never left, the registration fails
 * (FAILED, error "cannot save SQN: ..."). A reply the UE no longer waits
 * for (the flow went meanwhile) is only logged when it failed. */
IMSEC_API void imsec_ue_on_reply(imsec_ue *ue, const imsec_svc_reply *r,
                                 imsec_time_ms now, imsec_out *out);

/* Drop the flow to the P-CSCF and connect again at once, keeping the
 * registration (with aka_psk, the new connection uses the derived PSK and
 * needs no REGISTER). Returns 0, IMSEC_ERR_STATE (not registered with
 * nothing in flight), IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_ue_reconnect(imsec_ue *ue, imsec_time_ms now,
                                                imsec_out *out);

/* Non-zero once the registration finished one way or the other:
 * registered with nothing in flight, refused, failed, or stopped after a
 * start (what `imsec ue register` waits for; elem.h done). */
IMSEC_API int imsec_ue_done(const imsec_ue *ue);

/* De-register (REGISTER with Expires: 0, TS 24.229 §5.1.1.6) on the
 * current flow; when the 200 arrives the UE closes the flow and becomes
 * IDLE (a REGISTER in flight is answered first, then the de-REGISTER
 * goes). When not registered it just stops: closes any flow and becomes
 * IDLE (REFUSED and FAILED stay as they are).
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM (the de-REGISTER could not
 * be built; the UE stopped). */
IMSEC_API IMSEC_MUST_USE int
imsec_ue_deregister(imsec_ue *ue, imsec_time_ms now, imsec_out *out);

/*
 * Send a MESSAGE (RFC 3428) to `to` (a SIP URI or tel URI) over the
 * registered flow, Route set from the Service-Route (RFC 3608).
 * `content_type` NULL means "text/plain". Returns a positive handle for
 * imsec_ue_message_result, or IMSEC_ERR_STATE (not registered),
 * IMSEC_ERR_INVAL (a bad URI or type), IMSEC_ERR_LIMIT (too many pending
 * or body too large; over DTLS also a MESSAGE larger than one record,
 * IMSEC_UE_DTLS_MAX, which RFC 3261 §21.5.14 would answer 513),
 * IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_ue_send_message(imsec_ue *ue, const char *to, const char *content_type,
                      const uint8_t *body, size_t len, imsec_time_ms now,
                      imsec_out *out);

/* The outcome of a MESSAGE sent with imsec_ue_send_message: the final
 * status code (200..699; 408 for a timeout, 503 when the flow failed), 0
 * while pending, IMSEC_ERR_NOTFOUND for an unknown (or too old) handle. */
IMSEC_API int imsec_ue_message_result(const imsec_ue *ue, int handle);

/* ---------------------------------------------------------------- status */

typedef enum imsec_ue_state {
  IMSEC_UE_IDLE = 0,       /* not started, or de-registered */
  IMSEC_UE_CONNECTING = 1, /* connecting, or the first REGISTER is out */
  IMSEC_UE_CHALLENGED = 2, /* answered a 401, waiting for the result */
  IMSEC_UE_REGISTERED = 3,
  IMSEC_UE_REFUSED = 4, /* the UE refused the network (trust, MAC) */
  IMSEC_UE_FAILED = 5,  /* the network refused us, or an error/timeout */
} imsec_ue_state;

/* "idle", "connecting", "challenged", "registered", "refused", "failed". */
IMSEC_API const char *imsec_ue_state_name(imsec_ue_state s);

/* How a flow to the P-CSCF was secured (mode M1 or M3). */
typedef enum imsec_ue_tls_mode {
  IMSEC_UE_TLS_NONE = 0,    /* no flow yet */
  IMSEC_UE_TLS_CERT = 1,    /* the P-CSCF's certificate (trust decision) */
  IMSEC_UE_TLS_PSK = 2,     /* a configured PSK */
  IMSEC_UE_TLS_PSK_AKA = 3, /* the PSK derived from the last AKA run */
} imsec_ue_tls_mode;

/* "none", "certificate", "psk (configured)", "psk (derived)". */
IMSEC_API const char *imsec_ue_tls_mode_name(imsec_ue_tls_mode m);

typedef struct imsec_ue_status {
  imsec_ue_state state;
  int trust_decided;          /* a trust decision was made (see trust) */
  imsec_trust_result trust;   /* the last decision on a P-CSCF */
  unsigned last_status;       /* status code of the last REGISTER answer */
  char error[256];            /* the last error sentence ("" none) */
  uint32_t expires;           /* granted expiry of the registration, s */
  imsec_time_ms expires_at;   /* when it lapses (0 unless registered) */
  imsec_time_ms rereg_at;     /* when the UE re-registers */
  uint64_t flow;              /* the current flow (0 none) */
  unsigned registrations;     /* 200 OKs to REGISTER with expires > 0 */
  unsigned challenges;        /* 401s answered (AKA runs) */
  unsigned sync_failures;     /* AUTS sent */
  unsigned reconnects;        /* connections opened after the first */
  unsigned resumed;           /* flows that came up on a resumed session */
  imsec_time_ms retry_at;     /* when the next connection attempt is due
                                 (back-off, a 503's Retry-After); 0 none */
  uint64_t sqn_updates;       /* bumps each time the SQN state changes */
  imsec_ue_tls_mode tls_mode; /* how the current (or last) flow is secured */
} imsec_ue_status;

/* A snapshot of the UE's status (copied out). */
IMSEC_API void imsec_ue_get_status(const imsec_ue *ue, imsec_ue_status *out);

/* The Service-Route (RFC 3608) and P-Associated-URI (RFC 3455) of the last
 * registration, as URIs without < >: entry `i` (NUL-terminated, borrowed
 * until the next event call), or NULL past the end. */
IMSEC_API const char *imsec_ue_service_route(const imsec_ue *ue, size_t i);
IMSEC_API const char *imsec_ue_associated_uri(const imsec_ue *ue, size_t i);
/* The Contact the UE registers (without < > and parameters), "" before the
 * first flow came up. Borrowed like the above. */
IMSEC_API const char *imsec_ue_contact(const imsec_ue *ue);

/* A MESSAGE received over the flow (answered 200). */
typedef struct imsec_ue_message {
  char from[IMSEC_UE_URI_CAP];     /* From URI */
  char asserted[IMSEC_UE_URI_CAP]; /* P-Asserted-Identity URI ("" none) */
  char content_type[128];
  uint8_t *body; /* owned: imsec_ue_message_free */
  size_t len;
  imsec_time_ms at;
} imsec_ue_message;

/* Take the oldest received MESSAGE: 1 (filled in; free with
 * imsec_ue_message_free), 0 when there is none. */
IMSEC_API int imsec_ue_inbox_pop(imsec_ue *ue, imsec_ue_message *out);
IMSEC_API void imsec_ue_message_free(imsec_ue_message *m);

/* ---------------------------------------------------------------- calls */

/* Calls over the registered flow (RFC 3261 §13-15, docs/CALLS.md): the
 * UE's INVITE carries an SDP offer (RFC 3264) with no media port it will
 * use (the offer names a port, nothing listens); the answer is kept, not
 * played. The dialog's route set comes from Record-Route (§12.1), the
 * remote target from the Contact; in-dialog requests go out on the
 * registered flow like every request. At most IMSEC_UE_MAX_CALLS calls
 * at a time, incoming and outgoing (486 beyond it). */
#define IMSEC_UE_MAX_CALLS 8

/* How the UE answers an incoming INVITE (imsec_ue_config.answer). */
typedef enum imsec_ue_answer {
  IMSEC_UE_ANSWER_AUTO = 0, /* 180 Ringing, then 200 with an SDP answer */
  IMSEC_UE_ANSWER_BUSY = 1, /* 486 Busy Here */
  IMSEC_UE_ANSWER_RING = 2, /* 180 Ringing and no more: until the caller
                               CANCELs (487) or the call is hung up */
} imsec_ue_answer;

typedef enum imsec_ue_call_state {
  IMSEC_UE_CALL_CALLING = 0,   /* INVITE out (or in), no provisional */
  IMSEC_UE_CALL_RINGING = 1,   /* 180/183 received (or sent) */
  IMSEC_UE_CALL_CONFIRMED = 2, /* 2xx and ACK: the call is up */
  IMSEC_UE_CALL_ENDING = 3,    /* our BYE or CANCEL is out */
  IMSEC_UE_CALL_ENDED = 4,     /* over; see imsec_ue_call_info.end */
} imsec_ue_call_state;

/* Why a call ended. */
typedef enum imsec_ue_call_end {
  IMSEC_UE_END_NONE = 0,
  IMSEC_UE_END_LOCAL_BYE,  /* we hung up (BYE), its 200 came (or not) */
  IMSEC_UE_END_REMOTE_BYE, /* the other side sent BYE */
  IMSEC_UE_END_CANCELLED,  /* CANCELled before answer (either side) */
  IMSEC_UE_END_REJECTED,   /* a 300-699 final response to the INVITE */
  IMSEC_UE_END_TIMEOUT,    /* no final response, or no ACK (408) */
  IMSEC_UE_END_FLOW_LOST,  /* the registered flow went down mid-call */
} imsec_ue_call_end;

/* "local-bye", "remote-bye", "cancelled", "rejected", "timeout",
 * "flow-lost", "none". */
IMSEC_API const char *imsec_ue_call_end_name(imsec_ue_call_end e);

typedef struct imsec_ue_call_info {
  int handle;
  int incoming;
  imsec_ue_call_state state;
  imsec_ue_call_end end;
  unsigned final_status;       /* the INVITE's final status, 0 none yet */
  unsigned bye_status;         /* the final status of our BYE, 0 none */
  unsigned reinvites;          /* re-INVITEs answered 2xx, either way */
  char peer[IMSEC_UE_URI_CAP]; /* outgoing: the To URI; incoming: the
                                  P-Asserted-Identity, else From, URI */
  char call_id[128];
  imsec_time_ms started_at, answered_at, ended_at; /* 0: not yet */
} imsec_ue_call_info;

/* Call `to` (a sip: or tel: URI): an INVITE with an SDP offer, Route from
 * the Service-Route. Returns a positive handle, IMSEC_ERR_STATE (not
 * registered), IMSEC_ERR_INVAL (a bad URI), IMSEC_ERR_LIMIT (too many
 * calls), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_ue_call(imsec_ue *ue, const char *to,
                                           imsec_time_ms now, imsec_out *out);
/* End the call: an outgoing one without a final response is CANCELled
 * (RFC 3261 §9.1), an incoming one not answered yet gets 603 Decline, a
 * confirmed one gets BYE (§15.1.1). Returns 0, IMSEC_ERR_NOTFOUND,
 * IMSEC_ERR_STATE (already ending or ended). */
IMSEC_API IMSEC_MUST_USE int imsec_ue_call_hangup(imsec_ue *ue, int handle,
                                                  imsec_time_ms now,
                                                  imsec_out *out);
/* Send a re-INVITE (a new SDP offer, version bumped) on a confirmed
 * call. Returns 0, IMSEC_ERR_NOTFOUND, IMSEC_ERR_STATE (not confirmed,
 * or an INVITE transaction of the dialog still open: RFC 3261 §14.1). */
IMSEC_API IMSEC_MUST_USE int imsec_ue_call_reinvite(imsec_ue *ue, int handle,
                                                    imsec_time_ms now,
                                                    imsec_out *out);
/* A call's state, copied out: 0, or IMSEC_ERR_NOTFOUND. Ended calls stay
 * readable until IMSEC_UE_MAX_CALLS newer ones replaced them. */
IMSEC_API int imsec_ue_call_get(const imsec_ue *ue, int handle,
                                imsec_ue_call_info *out);
/* The handles of the calls the UE knows (live first, then ended), at
 * most `cap` of them; returns how many. Incoming calls appear here. */
IMSEC_API size_t imsec_ue_calls(const imsec_ue *ue, int *handles, size_t cap);

/* ------------------------------------------------------------------ SQN */

/* The UE's Annex C state as it is now (updated after each AKA run that
 * accepted an SQN). The UE asks for it to be made durable itself (a
 * PERSIST, see imsec_ue_on_reply); a driver without that service saves
 * it when imsec_ue_status.sqn_updates moves. */
IMSEC_API const imsec_sqn_ue *imsec_ue_sqn(const imsec_ue *ue);

/* The ISIM profile keeps one value, the highest SQN accepted (SQN_MS).
 * Load maps it onto the Annex C array conservatively: every IND slot gets
 * its SEQ, so nothing at or below it is ever accepted again (at worst a
 * resynchronisation, never a replay). Save gives SQN_MS of a state
 * (imsec_sqn_ue_highest). `cfg` NULL means the Annex C defaults.
 * Load returns 0, IMSEC_ERR_CONFIG. */
IMSEC_API IMSEC_MUST_USE int imsec_ue_sqn_load(const uint8_t sqn_ms[6],
                                               const imsec_sqn_cfg *cfg,
                                               imsec_sqn_ue *out);
IMSEC_API void imsec_ue_sqn_save(const imsec_sqn_ue *st,
                                 const imsec_sqn_cfg *cfg, uint8_t sqn_ms[6]);

/* The element contract (include/imsec/elem.h) with an imsec_ue as
 * `self`: what a host runs. */
IMSEC_API extern const imsec_elem_ops imsec_ue_ops;

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_UE_H */
