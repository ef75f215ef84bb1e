/*
 * imsec elem: what the element state machines (UE, P-CSCF, S-CSCF) share.
 *
 * Elements are sans-I/O (DESIGN.md §4, STYLE.md): a driver hands them
 * events — "flow up with these peer facts", "message on flow F", "flow
 * down", "timer fired" — each with the current time, and they answer by
 * appending actions to an imsec_out: "send these bytes on F", "connect to X
 * and tell me with this tag", "close F", "arm timer T for time t", "keep F",
 * "log this line", "ask a store", "make this durable first". The host
 * (host/) carries the actions out after the call returns, over real
 * sockets (its net port) or in memory with a virtual clock (its sim port).
 *
 * Times are milliseconds on a monotonic clock chosen by the driver.
 * Flow ids are the driver's (net/'s flow ids under apps/); 0 is never a
 * flow.
 */
#ifndef IMSEC_ELEM_H
#define IMSEC_ELEM_H

#include "imsec/aka.h"
#include "imsec/base.h"
#include "imsec/hss.h"
#include "imsec/trust.h"

struct imsec_metrics;
struct imsec_table;

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t imsec_time_ms;

typedef enum imsec_tp {
  IMSEC_TP_UDP = 0,
  IMSEC_TP_TCP = 1,
  IMSEC_TP_TLS = 2,
  IMSEC_TP_DTLS = 3,
} imsec_tp;

/* "UDP", "TCP", "TLS", "DTLS" (static); "udp".. lowercase for URIs. */
IMSEC_API const char *imsec_tp_name(imsec_tp tp);
IMSEC_API const char *imsec_tp_lower(imsec_tp tp);
/* Parse "udp|tcp|tls|dtls" (any case), and "dtls-udp" as DTLS (the Via
 * and URI name of draft-jennings-sip-dtls). 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_tp_parse(imsec_str s, imsec_tp *out);

/* A transport address: where to connect, or where a flow goes. `host` is a
 * name or an IP literal (IPv6 without brackets). */
typedef struct imsec_addr {
  imsec_tp tp;
  char host[256];
  uint16_t port;
} imsec_addr;

/* Parse "tp:host:port" ("tls:127.0.0.1:5061", "tcp:[::1]:5060").
 * Returns 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_addr_parse(imsec_str s, imsec_addr *out);
/* The same for a listening address, where port 0 asks for any free port. */
IMSEC_API IMSEC_MUST_USE int imsec_addr_parse_listen(imsec_str s,
                                                     imsec_addr *out);
/* Write "tp:host:port" (brackets around IPv6). Returns the length or
 * IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_addr_format(const imsec_addr *a, char *buf,
                                               size_t cap);

/* What the driver knows about a flow when it comes up. Borrowed for the
 * call: an element copies what it keeps. */
typedef struct imsec_flow_info {
  imsec_tp tp;
  int inbound;      /* 1: accepted by us; 0: we connected */
  imsec_addr local; /* our end */
  imsec_addr peer;  /* the other end */
  /* TLS: facts about the peer's certificate chain (crypto/x509.c against
   * the element's anchors), or NULL when the peer sent none. */
  const imsec_trust_cert *peer_cert;
  const char *tls_version; /* "TLSv1.3", or NULL */
  int resumed;             /* TLS session resumed from a ticket */
  int psk;                 /* TLS handshake used a PSK */
  /* psk set: the PSK identity the handshake used (the client's, on an
   * inbound flow; ours on an outbound one), NUL-terminated; else NULL. */
  const char *psk_identity;
} imsec_flow_info;

/* ---------------------------------------------------------------- actions */

typedef enum imsec_act_kind {
  IMSEC_ACT_SEND = 1, /* flow, data */
  IMSEC_ACT_CONNECT,  /* tag, addr, server_name, tls (NULL: the default) */
  IMSEC_ACT_CLOSE,    /* flow */
  IMSEC_ACT_KEEP,     /* flow: registered; stop the idle timeout */
  IMSEC_ACT_TIMER,    /* timer, at (0: cancel) */
  IMSEC_ACT_LOG,      /* level, data (text, no newline), flow and the
                         Call-ID where known (see imsec_out_log_context) */
  IMSEC_ACT_REQUEST,  /* svc: ask a store; answered by on_reply */
  IMSEC_ACT_PERSIST,  /* svc: make durable; later actions wait for it */
  IMSEC_ACT_PSK,      /* tls (psk, psk_len, psk_identity), at: a server PSK */
} imsec_act_kind;

typedef enum imsec_log_level {
  IMSEC_LOG_ERROR = 0,
  IMSEC_LOG_WARN = 1,
  IMSEC_LOG_INFO = 2,
  IMSEC_LOG_DEBUG = 3,
} imsec_log_level;

/* "error", "warn", "info", "debug": the level as logs write it. */
IMSEC_API const char *imsec_log_level_name(imsec_log_level level);

/* ------------------------------------------------------------ TLS profile */

/*
 * What a CONNECT asks of the TLS (or DTLS) layer, for the modes of DESIGN.md
 * §3 (seed §3.2, §3.3). Elements are sans-I/O and hold no certificate files:
 * credentials that live in files (anchors, a client certificate and key) are
 * named by `profile`, a name the host was configured with ("core", "ue",
 * "m2a"...; "" the host's default client context). Values an element derives
 * itself (a PSK from an AKA run) travel in the action. Owned by the action,
 * wiped with it.
 */
#define IMSEC_PSK_MAX 64
#define IMSEC_PSK_ID_MAX 128

typedef enum imsec_tls_verify {
  IMSEC_TLS_VERIFY_DEFAULT = 0, /* what the profile says */
  IMSEC_TLS_VERIFY_DEFER,       /* chain facts reach on_flow_up; the element
                                   decides (the UE's trust decision) */
  IMSEC_TLS_VERIFY_REQUIRE,     /* the handshake fails unless the chain
                                   verifies and names server_name */
} imsec_tls_verify;

typedef struct imsec_tls_profile {
  char profile[32]; /* the host's named context ("" default) */
  imsec_tls_verify verify;
  int dtls;      /* 1: DTLS over a datagram flow */
  int no_resume; /* 1: never offer a session ticket (seed §3.1) */
  /* Shared-key TLS (mode M3): TLS 1.3 external PSK with (EC)DHE, or TLS 1.2
   * ECDHE-PSK. psk_len 0: none. Secret: wiped with the action. */
  uint8_t psk[IMSEC_PSK_MAX];
  size_t psk_len;
  char psk_identity[IMSEC_PSK_ID_MAX];
} imsec_tls_profile;

/* ------------------------------------------------------- service requests */

/*
 * The stores an element reaches only through the host (DESIGN.md §4): the
 * HSS (subscriber records, authentication vectors, resynchronisation) and
 * the registration store, and the UE's own SQN state. A REQUEST or PERSIST
 * action carries an imsec_svc_req; the host hands it to the store it was
 * given and calls the element's on_reply with the answer: at once for an
 * embedded in-memory store, later for SQLite on a worker thread or a remote
 * store. Replies come on the element's thread, in no promised order across
 * requests (match them by id). No element ever waits on a disk or network.
 */
typedef enum imsec_svc_kind {
  IMSEC_SVC_HSS_SUB = 1,  /* key IMPI -> sub (secrets zero) */
  IMSEC_SVC_HSS_SUB_IMPU, /* key IMPU -> sub (secrets zero) */
  IMSEC_SVC_HSS_VECTOR,   /* key IMPI -> vec, aka (TS 33.102 §6.3.2) */
  IMSEC_SVC_HSS_RESYNC,   /* key IMPI, rand, auts -> status (§6.3.5) */
  IMSEC_SVC_REG_LOAD,     /* -> every live registration: one reply per
                             record, then one with reg NULL and last 1 */
  IMSEC_SVC_REG_SAVE,     /* reg (replaces the IMPI's record) */
  IMSEC_SVC_REG_DELETE,   /* key IMPI */
  IMSEC_SVC_UE_SQN,       /* sqn_ms: the UE's highest accepted SQN
                             (TS 33.102 C.2) into its ISIM profile */
  IMSEC_SVC_HSS_DIGEST,   /* key IMPI -> sub with its SIP Digest H(A1)s
                             (secret; k, op zero): Cx MAR for SIP Digest,
                             TS 29.228 §6.3.3 */
  /* The S-CSCF tells the HSS it serves (or no longer serves) a user: Cx
   * SAR, TS 29.228 §6.1.2. key IMPI, impu the public identity, assign
   * the type -> sub (secrets zero): the implicit registration set of the
   * User-Data. Only asked of a remote HSS (imsec_scscf_config.hss_assign);
   * the embedded service answers it with the subscriber record. */
  IMSEC_SVC_HSS_ASSIGN,
  /* A store shared by several S-CSCFs (imsec_scscf_config.reg_shared):
   * REG_GET: key IMPI or IMPU (a "sip:"/"tel:" URI) -> reg, the live
   * record that holds it (bindings' ttl_ms relative to the store's
   * clock), or IMSEC_ERR_NOTFOUND. REG_EXPIRE: key IMPI: the store drops
   * the bindings of that record whose expiry has passed, by its own
   * clock, atomically against the other S-CSCFs -> reg, what is left
   * (NULL: nothing), and gone = 1 only for the one caller whose request
   * removed the record's last binding (that S-CSCF alone de-registers
   * the user at the HSS, TS 29.228 TIMEOUT_DEREGISTRATION). */
  IMSEC_SVC_REG_GET,
  IMSEC_SVC_REG_EXPIRE,
} imsec_svc_kind;

/* Cx Server-Assignment-Type (TS 29.229 §6.3.15), the values on the wire. */
typedef enum imsec_svc_assign {
  IMSEC_SVC_ASSIGN_NONE = 0, /* NO_ASSIGNMENT: the profile only */
  IMSEC_SVC_ASSIGN_REGISTRATION = 1,
  IMSEC_SVC_ASSIGN_RE_REGISTRATION = 2,
  IMSEC_SVC_ASSIGN_UNREGISTERED_USER = 3,
  IMSEC_SVC_ASSIGN_TIMEOUT_DEREGISTRATION = 4,
  IMSEC_SVC_ASSIGN_USER_DEREGISTRATION = 5,
  IMSEC_SVC_ASSIGN_ADMINISTRATIVE_DEREGISTRATION = 8,
} imsec_svc_assign;

IMSEC_API const char *imsec_svc_kind_name(imsec_svc_kind k);

/* One contact binding of a registration (RFC 3261 §10.3, RFC 5626). */
typedef struct imsec_reg_binding {
  char *contact;  /* the Contact URI */
  char *path;     /* the REGISTER's Path values, comma-joined; NULL none */
  char *instance; /* +sip.instance value; NULL none */
  int64_t reg_id; /* RFC 5626 reg-id; -1 none */
  int64_t ttl_ms; /* time left, relative to the request or reply */
  char *peer;     /* the core peer (certificate name) that registered it;
                     NULL: none */
  uint64_t order; /* registration order within the record */
} imsec_reg_binding;

/* The registration of one IMPI (TS 24.229 §5.4.1.2): its implicit set and
 * its bindings. Owned strings; imsec_reg_record_free. */
typedef struct imsec_reg_record {
  char *impi;
  char **impus; /* the implicit registration set, bare URIs */
  size_t n_impus;
  char *service_route; /* the Service-Route the 200 gave; NULL none */
  imsec_reg_binding *b;
  size_t n;
  int digest; /* 1: authenticated with SIP Digest (TS 33.203 Annex N), 0:
                 IMS AKA */
} imsec_reg_record;

/* Deep copy (NULL-safe fields). Returns 0 or IMSEC_ERR_NOMEM (then *out is
 * zeroed and owns nothing). */
IMSEC_API IMSEC_MUST_USE int imsec_reg_record_copy(imsec_reg_record *out,
                                                   const imsec_reg_record *in);
/* Free what one binding owns and zero it (a store dropping an expired
 * binding from a record it keeps). */
IMSEC_API void imsec_reg_binding_free(imsec_reg_binding *b);
/* Free what the record owns and zero it; the struct itself stays. */
IMSEC_API void imsec_reg_record_free(imsec_reg_record *r);

typedef struct imsec_svc_req {
  imsec_svc_kind kind;
  uint64_t id;                      /* the element's; echoed in the reply */
  char key[IMSEC_HSS_ID_MAX];       /* IMPI or IMPU */
  uint8_t rand[IMSEC_AKA_RAND_LEN]; /* HSS_RESYNC */
  uint8_t auts[IMSEC_AKA_AUTS_LEN]; /* HSS_RESYNC */
  uint8_t sqn_ms[6];                /* UE_SQN */
  imsec_reg_record reg;             /* REG_SAVE (owned by the request) */
  /* The public identity the request is about, when the element knows it
   * ("" otherwise): Cx MAR and SAR carry one (TS 29.228 §6.3, §6.1.2). */
  char impu[IMSEC_HSS_ID_MAX];
  imsec_svc_assign assign; /* HSS_ASSIGN */
} imsec_svc_req;

typedef struct imsec_svc_reply {
  imsec_svc_kind kind;
  uint64_t id;
  /* 0, or a negative imsec_err: IMSEC_ERR_NOTFOUND (no such subscriber),
   * IMSEC_ERR_BUSY (locked by another process: nothing done, try later),
   * IMSEC_ERR_IO, IMSEC_ERR_MAC (resync: MAC-S wrong), IMSEC_ERR_LIMIT
   * (SQN exhausted), IMSEC_ERR_TIMEOUT (a remote store did not answer). */
  int status;
  imsec_hss_sub sub;           /* HSS_SUB, HSS_SUB_IMPU (k, op, H(A1)s
                                  zero); HSS_DIGEST (H(A1)s: secret, the
                                  host wipes them after on_reply) */
  imsec_aka_vector vec;        /* HSS_VECTOR: secret; the host wipes it after
                                  on_reply returns, copy what you keep */
  imsec_hss_aka aka;           /* HSS_VECTOR */
  const imsec_reg_record *reg; /* REG_LOAD: one record; REG_GET,
                                  REG_EXPIRE: the record (NULL none);
                                  borrowed for the call */
  int last;                    /* REG_LOAD: 1 on the final reply */
  int gone; /* REG_EXPIRE: this request removed the last binding */
} imsec_svc_reply;

/* ---------------------------------------------------------------- action */

typedef struct imsec_act {
  imsec_act_kind kind;
  uint64_t flow;  /* SEND, CLOSE, KEEP */
  uint64_t tag;   /* CONNECT: echoed in the flow's up/down events */
  uint64_t timer; /* TIMER: the element's own timer id */
  imsec_time_ms at;
  imsec_log_level level;
  imsec_addr addr;        /* CONNECT */
  char server_name[256];  /* CONNECT: SNI and the name to verify ("" none) */
  imsec_tls_profile *tls; /* CONNECT: owned, NULL: the host's default;
                             PSK: the identity and key (owned, wiped) */
  imsec_svc_req *svc;     /* REQUEST, PERSIST: owned */
  uint8_t *data;          /* SEND bytes, LOG text (NUL-terminated); owned */
  size_t len;
  /* LOG: the Call-ID of the event (0: none), kept in data after the text
   * and its NUL: (char *)data + len + 1, ctx_len octets, NUL-terminated. */
  size_t ctx_len;
} imsec_act;

/*
 * The action queue an element appends to. The driver owns it, passes it to
 * every event call, then walks out->acts[0..n) and calls imsec_out_clear.
 * Appending copies the data. An allocation failure is sticky: later appends
 * do nothing and imsec_out_err() reports IMSEC_ERR_NOMEM (the driver then
 * drops the event's actions and closes the flow concerned).
 */
typedef struct imsec_out {
  imsec_act *acts;
  size_t n, cap;
  int err;
  imsec_log_level log_level; /* LOG actions above this level are dropped */
  /* The context LOG actions carry (imsec_out_log_context): the flow and
   * Call-ID of the event being handled. Set by the host around each event
   * (the Call-ID borrowed from the message for the call); 0 / empty:
   * unknown. */
  uint64_t log_flow;
  imsec_str log_call_id;
} imsec_out;

IMSEC_API void imsec_out_init(imsec_out *o, imsec_log_level log_level);
/* Drop every queued action (frees their data); keeps the array. */
IMSEC_API void imsec_out_clear(imsec_out *o);
IMSEC_API void imsec_out_free(imsec_out *o);
IMSEC_API int imsec_out_err(const imsec_out *o);

/* Each returns 0 or IMSEC_ERR_NOMEM (also when an earlier append failed). */
IMSEC_API int imsec_out_send(imsec_out *o, uint64_t flow, const void *data,
                             size_t len);
IMSEC_API int imsec_out_connect(imsec_out *o, uint64_t tag,
                                const imsec_addr *addr,
                                const char *server_name);
IMSEC_API int imsec_out_close(imsec_out *o, uint64_t flow);
IMSEC_API int imsec_out_keep(imsec_out *o, uint64_t flow);
IMSEC_API int imsec_out_timer(imsec_out *o, uint64_t timer, imsec_time_ms at);
/* CONNECT with a TLS profile (copied; NULL as imsec_out_connect). */
IMSEC_API int imsec_out_connect_tls(imsec_out *o, uint64_t tag,
                                    const imsec_addr *addr,
                                    const char *server_name,
                                    const imsec_tls_profile *tls);
/* A service request (REQUEST) or a durable write (PERSIST). The request is
 * moved into the action: *req is zeroed (its reg record now belongs to the
 * action) whether or not the append succeeds (on failure it is freed).
 *
 * PERSIST (DESIGN.md §2 durability): the host carries it out and holds
 * every action appended after it, by this event and by later events of
 * the element, until the store says it is durable; then it carries them
 * out in order and calls on_reply. A REQUEST or PERSIST of a later event
 * is the exception: it goes to the store at once (the store takes them
 * in order and may commit several writes together), and the actions
 * after it wait for every write ahead of them. When the store fails, the
 * actions held from the same event are dropped (a SEND queued after a PERSIST
 * never leaves before it is durable, nor at all when it could not be made so),
 * on_reply reports the status, and actions of later events go on. */
IMSEC_API int imsec_out_request(imsec_out *o, imsec_svc_req *req);
IMSEC_API int imsec_out_persist(imsec_out *o, imsec_svc_req *req);
/*
 * PSK (mode M3, seed §3.3): from now until `expires_at` (0: no end) the
 * host's PSK-taking TLS/DTLS listeners accept `identity` with `key` (TLS
 * 1.3 external PSK with (EC)DHE, TLS 1.2 ECDHE-PSK), replacing any earlier
 * key of that identity; `len` 0 removes the identity. How a P-CSCF hands
 * the listener the key it derived from an AKA run (elements hold no
 * sockets, and the handshake happens before any event reaches them). The
 * key is copied into the action and wiped with it. identity: 1 to
 * IMSEC_PSK_ID_MAX - 1 printable octets; key: at most IMSEC_PSK_MAX.
 * Returns 0, IMSEC_ERR_INVAL (bad sizes), IMSEC_ERR_NOMEM.
 */
IMSEC_API int imsec_out_psk(imsec_out *o, const char *identity,
                            const uint8_t *key, size_t len,
                            imsec_time_ms expires_at);
/* printf-free logging (lib/ has no stdio): the pieces are concatenated.
 * Pass NULL-terminated lists of C strings. */
IMSEC_API int imsec_out_log(imsec_out *o, imsec_log_level level,
                            const char *first, ...);
/* Append a log line made of slices (for text taken from messages). */
IMSEC_API int imsec_out_logv(imsec_out *o, imsec_log_level level,
                             const imsec_str *parts, size_t n);
/* Set the flow and Call-ID later LOG actions carry (the host sets them
 * for each event; an element handling a timer for a known transaction
 * may name its flow and Call-ID itself). call_id is borrowed until the
 * event's call returns; it is cut at 128 octets and control characters
 * become '?'. */
#define IMSEC_LOG_CALL_ID_MAX 128
IMSEC_API void imsec_out_log_context(imsec_out *o, uint64_t flow,
                                     imsec_str call_id);

/* ------------------------------------------------------------ element ops */

/*
 * The contract between an element and the host that runs it (host/,
 * include/imsec/host.h). Every element exports one (imsec_ue_ops,
 * imsec_pcscf_ops, imsec_scscf_ops); `self` is its handle. All calls come
 * on one thread per element instance, one at a time, each with the current
 * time; the element answers by appending actions to `out`, which the host
 * carries out after the call returns.
 *
 * Timers are deadlines: a TIMER action (id, at) enters the host's priority
 * queue, replacing any earlier deadline of that id (at 0 cancels), and
 * on_timer fires for the latest one only. An element that keeps its own
 * deadlines instead reports the earliest with get_expiry and is called
 * back with handle_expiry once it has passed (ngtcp2's pattern); the host
 * asks get_expiry after every call.
 */
typedef struct imsec_elem_ops {
  const char *kind; /* "ue", "pcscf", "scscf" */
  /* A flow is up: inbound (tag 0) or one the element asked for (its
   * CONNECT tag). < 0 closes it (a trust decision said no). */
  int (*on_flow_up)(void *self, uint64_t flow, uint64_t tag,
                    const imsec_flow_info *info, imsec_time_ms now,
                    imsec_out *out);
  /* One whole SIP message, borrowed for the call. */
  void (*on_message)(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                     imsec_time_ms now, imsec_out *out);
  /* A flow went down, or a CONNECT failed (flow 0, its tag). */
  void (*on_flow_down)(void *self, uint64_t flow, uint64_t tag, int reason,
                       imsec_time_ms now, imsec_out *out);
  void (*on_timer)(void *self, uint64_t timer, imsec_time_ms now,
                   imsec_out *out);
  /* Optional: octets the host could not frame (IMSEC_ERR_PARSE) or a
   * message over the size limit (IMSEC_ERR_LIMIT); the flow closes after
   * the actions (an answer leaves first). */
  void (*on_refused)(void *self, uint64_t flow, int reason, const uint8_t *head,
                     size_t len, imsec_time_ms now, imsec_out *out);
  /* Optional: once, when running begins. */
  void (*on_start)(void *self, imsec_time_ms now, imsec_out *out);
  /* Optional: the answer to a REQUEST or PERSIST. */
  void (*on_reply)(void *self, const imsec_svc_reply *r, imsec_time_ms now,
                   imsec_out *out);
  /* Optional: the element's earliest own deadline (0: none). */
  imsec_time_ms (*get_expiry)(const void *self);
  /* Optional: that deadline has passed. */
  void (*handle_expiry)(void *self, imsec_time_ms now, imsec_out *out);
  /* Optional: non-zero ends the run (a UE whose registration finished). */
  int (*done)(const void *self);

  /* Operations (the control socket and /metrics, include/imsec/ops.h).
   * Called on the element's thread like every other op; they change
   * nothing. */
  /* Optional: add the element's metrics (families declared, then samples
   * added; include/imsec/obs.h, names in docs/OPERATIONS.md). */
  void (*metrics)(const void *self, imsec_time_ms now, struct imsec_metrics *m);
  /* Optional: a listing for `imsec ctl`: `what` is "registrations",
   * "bindings", "peers" or another the element names in its docs. Fills
   * t (imsec_table_init first). Returns 0, or IMSEC_ERR_UNSUPPORTED for a
   * listing it does not have. */
  int (*list)(const void *self, const char *what, imsec_time_ms now,
              struct imsec_table *t);
  /* Optional: work in flight that a drain waits for (transactions not
   * yet answered, INVITE branches, pending store answers it tracks). */
  size_t (*busy)(const void *self);
} imsec_elem_ops;

/* ---------------------------------------------------------------- refusals */

/*
 * What the elements do with input they refuse before it parses: a stream
 * message over the size limit or octets that cannot be framed (the
 * driver's on_refused event, `reason` IMSEC_ERR_LIMIT or IMSEC_ERR_PARSE),
 * or a message that does not parse (`reason` the parser's code, `diag` its
 * diagnosis, may be NULL). A request whose request line can be read is
 * answered statelessly (imsec_sip_build_refusal): 513 Message Too Large for
 * a message too large as a whole (RFC 3261 §21.5.14), else the diagnosis'
 * status (400 for a header field too long or malformed, 505 for another
 * SIP version), with `server` as Server and `to_tag` added to To. A
 * response, an ACK or octets without a request line are dropped. Either way
 * one WARN line says what arrived on `flow`, why it was refused and what
 * was done, within the budget `rate` (lines over it are counted, and the
 * count goes into the next line). The driver closes the flow after the
 * answer for an on_refused event; for a message over a limit (`reason`
 * IMSEC_ERR_LIMIT with `diag`) a CLOSE follows the answer; after another
 * parse error the stream is still in step and the flow stays.
 * Returns 1 (answered), 0 (dropped), IMSEC_ERR_NOMEM.
 */
struct imsec_sip_diag;
IMSEC_API int imsec_elem_refuse_input(imsec_out *out, imsec_lograte *rate,
                                      imsec_time_ms now, uint64_t flow,
                                      int reason,
                                      const struct imsec_sip_diag *diag,
                                      const uint8_t *head, size_t len,
                                      const char *server, const char *to_tag);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_ELEM_H */
