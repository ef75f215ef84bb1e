/* Internals of the UE element (include/imsec/ue.h), shared by the files of
 * lib/ue:
 *   ue.c        construction, status, SQN load/save, small text helpers
 *   fsm.c       the (state, event) table, the dispatcher, the entry points
 *   flow.c      the flow to the P-CSCF: connect, lose, back off, stop
 *   trust.c     the trust decision on the P-CSCF (DESIGN.md §3)
 *   register.c  REGISTER building, 200 and other finals, re-registration,
 *               de-registration
 *   auth.c      the 401: Digest AKA (AUTN via lib/aka, RES, AUTS), the
 *               answer, the SQN made durable before the RES leaves
 *   digest.c    SIP Digest with a password (no ISIM): challenges,
 *               credentials, nonce reuse, rspauth, 407 answers
 *   message.c   MESSAGE out and in, OPTIONS, other requests
 *   dgram.c     DTLS: RFC 3261 §17 transactions around the table
 *   call.c      calls: INVITE both ways, CANCEL, ACK, BYE, re-INVITE
 *   sdp.c       the minimal SDP offer/answer of calls
 */
#ifndef IMSEC_LIB_UE_INT_H
#define IMSEC_LIB_UE_INT_H

#include "imsec/digest.h"
#include "imsec/sip.h"
#include "imsec/sip_txn.h"
#include "imsec/ue.h"
#include "lib/elem/tally.h"
#include "lib/ident/sbuf.h"

#define UE_TEXT 256
#define UE_SECSRV_CAP 512
#define UE_MSG_CAP 8192
#define UE_AUTH_CAP 2048
#define UE_MAX_ROUNDS 4 /* 401s answered in one registration attempt */
#define UE_BODY_MAX 16384

/*
 * What the UE is doing, one value (the public imsec_ue_state is a coarser
 * view, ue_public_state). Whether a registration lives at the registrar
 * (`registered`, until expires_at) is a separate fact: it outlives a lost
 * flow and runs across re-registration, so the states that wait for a
 * flow or an answer hold in both cases.
 *
 * The flow is up (ue->flow != 0) exactly in REGISTERING .. MAC_REFUSING.
 */
typedef enum ue_st {
  UE_ST_IDLE = 0,       /* not started, stopped, or de-registered */
  UE_ST_CONNECTING,     /* CONNECT out, waiting for the flow */
  UE_ST_BACKOFF,        /* waiting to reconnect (RFC 5626 §4.5) */
  UE_ST_REGISTERING,    /* a REGISTER without credentials out, no
                           registration lives */
  UE_ST_REREGISTERING,  /* the same while a registration lives */
  UE_ST_DEREGISTERING,  /* REGISTER with Expires 0 out (TS 24.229 §5.1.1.6) */
  UE_ST_PERSISTING_SQN, /* a challenge accepted: the SQN is being made
                           durable; the host holds the REGISTER with the RES
                           until it is (TS 33.102 Annex C) */
  UE_ST_AUTHENTICATING, /* the REGISTER with the RES (or AUTS) is out */
  UE_ST_REGISTERED,     /* registered, nothing in flight */
  UE_ST_MAC_REFUSING,   /* MAC-A failed: the empty response is out, the UE
                           waits for the network's answer, then closes */
  UE_ST_REFUSED,        /* the UE refused the network (trust, MAC): final */
  UE_ST_FAILED,         /* the network refused us, or an error; start again */
  UE_ST_PARKED,         /* M2b: registered, its flow closed after the 200
                           (close_after_register); the P-CSCF dials in on
                           the listener (lib/ue/listen.c) */
  UE_ST_COUNT
} ue_st;

/* What happens to the UE. Responses are classified before the table: a
 * response to the REGISTER in flight (matching Call-ID and CSeq) by class,
 * a final response to a MESSAGE; provisional and stray responses are
 * dropped. */
typedef enum ue_ev {
  UE_EV_START = 0,       /* imsec_ue_start */
  UE_EV_FLOW_UP,         /* the CONNECT's flow is up */
  UE_EV_FLOW_DOWN,       /* our flow went down or the CONNECT failed */
  UE_EV_RSP_401,         /* 401 to the REGISTER */
  UE_EV_RSP_2XX,         /* 2xx to the REGISTER */
  UE_EV_RSP_OTHER,       /* any other final response to the REGISTER */
  UE_EV_RSP_MESSAGE,     /* a final response to a MESSAGE */
  UE_EV_REQUEST,         /* a request on the flow */
  UE_EV_TIMER_TXN,       /* IMSEC_UE_TIMER_TXN */
  UE_EV_TIMER_REREG,     /* IMSEC_UE_TIMER_REREG */
  UE_EV_TIMER_RECONNECT, /* IMSEC_UE_TIMER_RECONNECT */
  UE_EV_TIMER_MESSAGE,   /* IMSEC_UE_TIMER_MESSAGE */
  UE_EV_REPLY,           /* the answer to a PERSIST (on_reply) */
  UE_EV_DEREGISTER,      /* imsec_ue_deregister */
  UE_EV_SEND,            /* imsec_ue_send_message */
  UE_EV_RSP_CALL,        /* a response in a call (INVITE, BYE, CANCEL) */
  UE_EV_TIMER_CALL,      /* IMSEC_UE_TIMER_CALL */
  UE_EV_CALL,            /* imsec_ue_call */
  UE_EV_CALL_OP,         /* imsec_ue_call_hangup, imsec_ue_call_reinvite */
  UE_EV_COUNT
} ue_ev;

/* One event with its arguments (which are set depends on `ev`). */
typedef struct ue_event {
  ue_ev ev;
  imsec_time_ms now;
  imsec_out *out;
  uint64_t flow, tag;          /* FLOW_UP, FLOW_DOWN */
  int reason;                  /* FLOW_DOWN */
  const imsec_flow_info *info; /* FLOW_UP */
  imsec_sip_msg *msg;          /* RSP_*, REQUEST */
  imsec_str call_id;           /* RSP_MESSAGE */
  const imsec_svc_reply *reply;
  const char *to, *content_type; /* SEND */
  const uint8_t *body;
  size_t len;
  int handle, op; /* CALL_OP: the call, UE_CALL_OP_* */
} ue_event;

enum { UE_CALL_OP_HANGUP = 0, UE_CALL_OP_REINVITE = 1 };

/* A handler: returns what the entry point returns (0, a handle for SEND,
 * or a negative imsec_err). */
typedef int (*ue_handler)(imsec_ue *ue, const ue_event *e);

enum {
  UE_UNSET = 0,  /* a hole in the table (the unit test forbids them) */
  UE_RUN = 1,    /* call fn */
  UE_IGNORE = 2, /* nothing happens, returns 0 */
  UE_REFUSE = 3, /* nothing happens, returns IMSEC_ERR_STATE */
};

#define UE_BIT(x) (1u << (x))

/* One cell of the table: what the event does in the state. For UE_RUN,
 * `next` is the set of states the UE may be in afterwards and `acts` the
 * action kinds (UE_BIT(IMSEC_ACT_*); TIMER and LOG are always allowed)
 * the handler may append; IGNORE and REFUSE leave the state and append
 * nothing. */
typedef struct ue_rule {
  uint8_t disp;
  ue_handler fn;
  uint32_t next;
  uint32_t acts;
} ue_rule;

extern const ue_rule ue_fsm[UE_ST_COUNT][UE_EV_COUNT];
int ue_dispatch(imsec_ue *ue, const ue_event *e);
const char *ue_st_name(ue_st s);
const char *ue_ev_name(ue_ev e);
imsec_ue_state ue_public_state(const imsec_ue *ue);

/* Mode M3 (psk.c): the configured PSK, the derived one, and the keys of
 * the AKA run waiting for its 200. Secret: wiped with the UE. */
typedef struct ue_psk {
  char cfg_id[IMSEC_PSK_ID_MAX];
  uint8_t cfg_key[IMSEC_PSK_MAX];
  size_t cfg_len;
  int aka;     /* cfg.aka_psk */
  int has_run; /* run_* hold an accepted AKA run's keys */
  uint8_t run_ck[16], run_ik[16], run_rand[16];
  int has_derived; /* derived_* hold the registration's PSK */
  char derived_id[IMSEC_PSK_ID_MAX];
  uint8_t derived_key[32];
  imsec_ue_tls_mode offered; /* what the pending CONNECT offers */
  imsec_ue_tls_mode mode;    /* how the current flow is secured */
} ue_psk;

/* SIP Digest (digest.c). One challenge being answered: what the
 * credentials repeat (unescaped), and the uri, nc and cnonce last sent
 * under it (rspauth is checked against them). */
#define UE_NONCE_CAP 512
typedef struct ue_dg_chal {
  int valid;
  int stale; /* the challenge said stale=true */
  imsec_digest_alg alg;
  char realm[UE_TEXT];
  char nonce[UE_NONCE_CAP];
  char opaque[UE_NONCE_CAP];
  int has_opaque;
  uint32_t nc;     /* the last nc sent under this nonce; 0: none yet */
  char cnonce[33]; /* the last cnonce sent */
  char uri[IMSEC_UE_URI_CAP];
} ue_dg_chal;

/* What a response offered besides the challenge picked (for the error). */
typedef struct ue_dg_offer {
  unsigned aka, no_qop, bad;
} ue_dg_offer;

typedef struct ue_digest {
  uint8_t password[IMSEC_UE_PASSWORD_MAX]; /* secret */
  size_t password_len;                     /* 0: an ISIM UE (IMS AKA) */
  char username[UE_TEXT];
  ue_dg_chal reg;   /* the registrar's (WWW-Authenticate) */
  ue_dg_chal proxy; /* the last Proxy-Authenticate answered */
  int reg_sent;     /* the REGISTER in flight carries credentials (reg) */
} ue_digest;

typedef struct ue_pending {
  int handle; /* 0: free slot */
  char call_id[80];
  imsec_time_ms deadline; /* 0 once answered */
  int status;             /* final status; 0 while pending */
  uint64_t seq;           /* age, for reusing finished slots */
  /* SIP Digest: what a 407 needs to send the MESSAGE again (digest UEs
   * only; freed with the slot). */
  char *to, *ctype;
  uint8_t *body;
  size_t len;
  char from_tag[17];
  uint32_t cseq;
  int authed; /* sent again with Proxy-Authorization once */
} ue_pending;

/* obs.c: counters for the operations layer (docs/OPERATIONS.md). */
enum {
  UE_REG_REGISTERED = 0,
  UE_REG_REFRESHED,
  UE_REG_DEREGISTERED,
  UE_REG_CHALLENGED,
  UE_REG_REJECTED,
  UE_REG_FAILED,
  UE_REG_N
};
typedef struct ue_obs {
  uint64_t reg[UE_REG_N]; /* answers to our REGISTERs, by outcome */
  elem_tally trust;       /* decisions on the P-CSCF: (result, reason) */
} ue_obs;

struct imsec_ue {
  imsec_crypto *crypto;
  imsec_milenage *mil;

  /* configuration (copied) */
  char impi[UE_TEXT];
  char impus[IMSEC_UE_MAX_IMPUS][UE_TEXT];
  size_t n_impus;
  char home_domain[UE_TEXT];
  char trust_domain[UE_TEXT];
  imsec_sqn_ue sqn;
  imsec_sqn_cfg sqn_cfg;
  imsec_addr pcscf;
  char pcscf_name[UE_TEXT];
  imsec_trust_policy policy;
  int allow_wildcards;
  uint32_t expires_req;
  char instance[80]; /* urn:uuid:... */
  imsec_time_ms txn_timeout, backoff_min, backoff_max;
  unsigned max_connect_attempts;

  /* the flow to the P-CSCF */
  ue_st st;
  int started;          /* imsec_ue_start ran once (imsec_ue_done) */
  uint64_t flow;        /* 0: none */
  uint64_t connect_tag; /* the CONNECT we wait for; 0: none */
  uint64_t next_tag;
  char local_host[IMSEC_UE_URI_CAP]; /* as it goes into a URI */
  uint16_t local_port;
  char contact[IMSEC_UE_URI_CAP];
  imsec_trust_cert peer_cert;
  int has_peer_cert;
  int trusted;                    /* a positive decision on this flow */
  char sec_server[UE_SECSRV_CAP]; /* Security-Server echo for this flow */
  int flow_registered;            /* a 200 to REGISTER came on this flow */

  /* reconnection */
  unsigned connect_failures;
  imsec_time_ms backoff;
  imsec_time_ms reconnect_at;
  imsec_time_ms retry_not_before; /* a 503's Retry-After; 0: none */

  /* the REGISTER transaction */
  char call_id[80];
  char from_tag[40];
  uint32_t cseq;
  uint32_t reg_expires; /* Expires of the REGISTER in flight */
  unsigned rounds;      /* 401s in this registration attempt */
  int dereg_wanted;     /* de-register once the REGISTER in flight ends */
  imsec_time_ms txn_deadline;

  /* the SQN made durable (PERSIST, answered by on_reply) */
  uint64_t next_svc_id;
  uint64_t persist_id; /* the PERSIST the UE waits for; 0: none */

  /* the registration */
  int registered;
  imsec_time_ms expires_at, rereg_at;
  uint32_t expires_granted;
  /* As many entries as the last 200 gave (malloc'd; at most
   * IMSEC_UE_MAX_ROUTES and IMSEC_UE_MAX_ASSOCIATED): room for the most
   * would be 6 KiB of every idle UE. */
  char (*routes)[IMSEC_UE_URI_CAP];
  size_t n_routes;
  char (*assoc)[IMSEC_UE_URI_CAP];
  size_t n_assoc;

  /* status */
  int trust_decided;
  imsec_trust_result trust;
  unsigned last_status;
  char error[256];
  unsigned registrations, challenges, sync_failures, reconnects, resumed;
  uint64_t sqn_updates;

  /* MESSAGEs */
  /* IMSEC_UE_INBOX_MAX entries, allocated with the first MESSAGE kept
   * and freed when emptied: most of an idle UE's size otherwise (a load
   * generator holds 100,000 of them). */
  imsec_ue_message *inbox;
  size_t inbox_head, inbox_n;
  ue_pending pending[IMSEC_UE_MAX_PENDING];
  int next_handle;
  uint64_t pending_seq;
  imsec_time_ms msg_timer_at;
  imsec_lograte bad_rate; /* lines about refused input */

  /* Mode M2b (lib/ue/listen.c) */
  imsec_addr listen;
  int has_listen, close_after_register;
  uint64_t in_flow;    /* the P-CSCF's connection to the listener; 0 none */
  uint64_t reply_flow; /* where ue_h_request answers (0: ue->flow) */
  ue_psk psk;          /* mode M3 */
  /* DTLS (dgram.c): transactions on the datagram flow */
  struct ue_dgram *dg;
  imsec_sip_timers sip_timers;
  imsec_time_ms keepalive_ms; /* STUN keep-alive interval; 0 off */
  /* calls (call.c) */
  struct ue_calls *calls; /* allocated with the first call */
  int answer;             /* imsec_ue_answer */
  imsec_time_ms answer_delay;
  imsec_time_ms now; /* the time of the event being handled */
  ue_digest dig;     /* SIP Digest (digest.c); password_len 0: AKA */
  ue_obs obs;        /* obs.c */
};

/* ------------------------------------------------ shared by lib/ue files */

void ue_logv(imsec_out *out, imsec_log_level lv, const imsec_str *p, size_t n);

#define S(x) imsec_str_c(x)
#define LOG(out, lv, ...)                                                      \
  do {                                                                         \
    imsec_str parts_[] = {__VA_ARGS__};                                        \
    ue_logv((out), (lv), parts_, sizeof(parts_) / sizeof(parts_[0]));          \
  } while (0)

/* ue.c */
int ue_text_ok(imsec_str s);
int ue_target_ok(imsec_str to);
void ue_copy_wire(char *dst, size_t cap, imsec_str s);
void ue_num_text(uint64_t v, char *buf, size_t cap);
int ue_rand_hex(imsec_ue *ue, char *out, size_t cap, size_t nbytes);
void ue_set_error(imsec_ue *ue, const char *a, imsec_str b, const char *c);
void ue_arm(imsec_out *out, uint64_t timer, imsec_time_ms at);

/* flow.c */
void ue_drop_flow(imsec_ue *ue, imsec_out *out, int close);
void ue_stop(imsec_ue *ue, ue_st st, imsec_out *out);
void ue_connect_now(imsec_ue *ue, imsec_time_ms now, imsec_out *out);
void ue_flow_lost(imsec_ue *ue, const char *why, imsec_time_ms now,
                  imsec_out *out);
int ue_h_start(imsec_ue *ue, const ue_event *e);
int ue_h_flow_up(imsec_ue *ue, const ue_event *e);
int ue_h_flow_lost(imsec_ue *ue, const ue_event *e);
int ue_h_flow_gone_refusing(imsec_ue *ue, const ue_event *e);
int ue_h_txn_connect(imsec_ue *ue, const ue_event *e);
int ue_h_reconnect(imsec_ue *ue, const ue_event *e);

/* trust.c */
int ue_decide_trust(imsec_ue *ue, const char *realm, imsec_out *out);

/* register.c */
void ue_host_port(imsec_sbuf *b, const imsec_ue *ue);
int ue_build_via(imsec_ue *ue, char *buf, size_t cap);
int ue_angle(char *buf, size_t cap, const char *uri, const char *tag);
int ue_send_register(imsec_ue *ue, const char *authz, uint32_t expires,
                     imsec_svc_req *persist_first, imsec_time_ms now,
                     imsec_out *out);
int ue_register_initial(imsec_ue *ue, uint32_t expires, imsec_time_ms now,
                        imsec_out *out);
void ue_reg_answered(imsec_ue *ue, const imsec_sip_msg *m, imsec_out *out);
int ue_h_rsp_2xx(imsec_ue *ue, const ue_event *e);
int ue_h_rsp_other(imsec_ue *ue, const ue_event *e);
int ue_h_rsp_refusing(imsec_ue *ue, const ue_event *e);
int ue_h_txn_register(imsec_ue *ue, const ue_event *e);
int ue_h_txn_refusing(imsec_ue *ue, const ue_event *e);
int ue_h_rereg(imsec_ue *ue, const ue_event *e);
int ue_h_lapse(imsec_ue *ue, const ue_event *e);
int ue_h_deregister(imsec_ue *ue, const ue_event *e);

/* auth.c */
int ue_h_rsp_401(imsec_ue *ue, const ue_event *e);
int ue_h_reply_sqn(imsec_ue *ue, const ue_event *e);
int ue_h_reply_late(imsec_ue *ue, const ue_event *e);
int ue_h_txn_persist(imsec_ue *ue, const ue_event *e);

/* digest.c (SIP Digest, a UE without an ISIM) */
#define UE_DIGEST(ue) ((ue)->dig.password_len > 0)
/* SIP Digest over plain TCP (imsec_ue_config.allow_plain): a load
 * generator's flow, never a terminal's; imsec_ue_new lets TCP through only
 * with allow_plain and a password. */
#define UE_PLAIN(ue) ((ue)->pcscf.tp == IMSEC_TP_TCP)
int ue_digest_config(imsec_ue *ue, const imsec_ue_config *cfg);
/* The challenge of `id` (WWW- or Proxy-Authenticate) to answer: the first
 * SHA-256 one with qop=auth, else the first MD5 one (RFC 8760 §3).
 * Returns 0 with *out filled in, IMSEC_ERR_UNSUPPORTED (none; *seen says
 * what there was). */
int ue_digest_pick(imsec_sip_msg *m, imsec_sip_hid id, ue_dg_chal *out,
                   ue_dg_offer *seen);
/* The credentials under `ch` for `method` and `uri` (nc + 1, a fresh
 * cnonce) into out, the whole header value. */
int ue_digest_credentials(imsec_ue *ue, ue_dg_chal *ch, const char *method,
                          const char *uri, char *out, size_t cap);
/* A REGISTER about to go: 1 with credentials under the last nonce (nc +
 * 1) in out when there is one to use on this flow, else 0. */
int ue_digest_reuse(imsec_ue *ue, const char *uri, char *out, size_t cap);
int ue_digest_answer_401(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                         imsec_out *out);
/* The 200 to a REGISTER with credentials: rspauth checked when present.
 * 0, or IMSEC_ERR_AUTH with ue->error set. */
int ue_digest_check_2xx(imsec_ue *ue, imsec_sip_msg *m, imsec_out *out);
/* A MESSAGE or INVITE about to go: 1 with Proxy-Authorization under the
 * S-CSCF's last proxy nonce (nc + 1) in out when there is one, else 0
 * (RFC 7616 §3.4: nc counts the requests under one nonce). */
int ue_digest_proxy_reuse(imsec_ue *ue, const char *method, const char *uri,
                          char *out, size_t cap);
/* A 407 to `method` sent to `uri`: the Proxy-Authorization value into
 * out. 0, or <0 (logged) when it is not to be answered. */
int ue_digest_answer_proxy(imsec_ue *ue, imsec_sip_msg *m, const char *method,
                           const char *uri, char *out, size_t cap,
                           imsec_out *lo);

/* listen.c (mode M2b) */
int ue_listen_flow_up(imsec_ue *ue, uint64_t flow, const imsec_flow_info *info,
                      imsec_time_ms now, imsec_out *out);
int ue_listen_message(imsec_ue *ue, uint64_t flow, imsec_sip_msg *m,
                      imsec_time_ms now, imsec_out *out);
int ue_listen_flow_down(imsec_ue *ue, uint64_t flow, imsec_out *out);
int ue_contact_listen(imsec_ue *ue);
void ue_park(imsec_ue *ue, imsec_out *out);
int ue_h_park_rereg(imsec_ue *ue, const ue_event *e);
int ue_h_park_dereg(imsec_ue *ue, const ue_event *e);
/* psk.c (mode M3) */
int ue_psk_config(imsec_ue *ue, const imsec_ue_config *cfg);
void ue_psk_connect(imsec_ue *ue, imsec_time_ms now, imsec_out *out);
/* A flow came up: 1 on a PSK (no certificate decision), else 0. */
int ue_psk_flow_up(imsec_ue *ue, const imsec_flow_info *info, imsec_out *out);
/* trust.c: a flow with no certificate to decide on (a PSK flow, mode M3: the
 * key names the network it is shared with; plain TCP for a load generator):
 * only the challenge's realm, which must be the home domain. `flow_kind`
 * ends the reason ("PSK flow"). Returns 1 trusted, 0 refused (the error
 * set and logged); realm NULL (before a challenge): 1. */
int ue_realm_trust(imsec_ue *ue, const char *realm, const char *flow_kind,
                   imsec_out *out);
void ue_psk_aka_run(imsec_ue *ue, const imsec_aka_ue_result *r,
                    const uint8_t rand[16]);
void ue_psk_registered(imsec_ue *ue, imsec_out *out);
void ue_psk_forget(imsec_ue *ue);
/* The derived PSK can be used now (registered, not expired). */
int ue_psk_derived_usable(const imsec_ue *ue, imsec_time_ms now);

/* message.c */
void ue_fail_pending_messages(imsec_ue *ue, int status);
void ue_pending_free_all(imsec_ue *ue);
int ue_h_request(imsec_ue *ue, const ue_event *e);
int ue_h_rsp_message(imsec_ue *ue, const ue_event *e);
int ue_h_msg_timer(imsec_ue *ue, const ue_event *e);
int ue_h_send(imsec_ue *ue, const ue_event *e);

/* call.c */
/* A request on a flow for the calls: 1 when handled (answered or, for an
 * ACK, taken), 0 when it is not a call's (MESSAGE, OPTIONS out of a
 * dialog, ...). */
int ue_call_request(imsec_ue *ue, imsec_sip_msg *m, uint64_t flow,
                    imsec_time_ms now, imsec_out *out);
/* A response belongs to a call (its Call-ID and our From tag). */
int ue_call_owns(const imsec_ue *ue, imsec_sip_msg *m, imsec_str cid);
int ue_h_rsp_call(imsec_ue *ue, const ue_event *e);
int ue_h_call_timer(imsec_ue *ue, const ue_event *e);
int ue_h_call(imsec_ue *ue, const ue_event *e);
int ue_h_call_op(imsec_ue *ue, const ue_event *e);
/* The flow under calls went: they end (FLOW_LOST). */
void ue_calls_flow_gone(imsec_ue *ue, uint64_t flow, imsec_out *out);
void ue_calls_free(imsec_ue *ue);
/* The methods the UE handles (Allow). */
#define UE_ALLOW "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, OPTIONS, MESSAGE"

/* sdp.c: lengths, or IMSEC_ERR_NOBUF; the answer also IMSEC_ERR_PARSE. */
int ue_sdp_offer(char *buf, size_t cap, const char *host, uint64_t sess,
                 unsigned version);
int ue_sdp_answer(char *buf, size_t cap, imsec_str offer, const char *host,
                  uint64_t sess, unsigned version);
int ue_sdp_valid(imsec_str sdp);

/* dgram.c: the datagram leg (pcscf.tp DTLS); no-ops over TLS. */
/* A message on the flow, before the table: 1 when the transaction layer
 * took it (a retransmission absorbed or answered), 0 to go on. */
int ue_dgram_in(imsec_ue *ue, imsec_sip_msg *m, imsec_time_ms now,
                imsec_out *out);
/* After a handler: transactions for the SENDs it appended from `from`. */
void ue_dgram_after(imsec_ue *ue, imsec_out *out, size_t from,
                    imsec_time_ms now);
void ue_dgram_timer(imsec_ue *ue, imsec_time_ms now, imsec_out *out);
void ue_dgram_reset(imsec_ue *ue);
void ue_dgram_free(imsec_ue *ue);
size_t ue_dgram_count(const imsec_ue *ue);
/* Octets on the flow before parsing: 1 when STUN (keep-alive answers). */
int ue_dgram_raw(imsec_ue *ue, const uint8_t *msg, size_t len,
                 imsec_time_ms now, imsec_out *out);

/* obs.c: metrics, listings and busy (include/imsec/elem.h operations,
 * exported by ops.c). */
struct imsec_metrics;
struct imsec_table;
/* A final answer to our REGISTER (status), or none in time (0). */
void ue_obs_register(imsec_ue *ue, unsigned status);
void ue_obs_metrics(const imsec_ue *ue, imsec_time_ms now,
                    struct imsec_metrics *m);
int ue_obs_list(const imsec_ue *ue, const char *what, imsec_time_ms now,
                struct imsec_table *t);
size_t ue_obs_busy(const imsec_ue *ue);

#endif
