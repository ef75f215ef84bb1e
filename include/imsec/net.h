/*
 * imsec net: the transport layer. libuv event loops (one per worker thread),
 * listeners and outgoing connections over UDP, TCP, TLS and DTLS on IPv4 and
 * IPv6, all behind one flow API. net/ is the only code that touches sockets
 * (DESIGN.md §4); the sans-I/O element logic above it sees flows and
 * messages: "message on flow F", "flow up/down", and answers "send on F",
 * "close F", "connect to X".
 *
 * Threads. An imsec_net owns N loops, each run by its own thread after
 * imsec_net_start(). A flow lives on one loop for its whole life and every
 * callback about it runs on that loop's thread. Functions taking an
 * `imsec_net_flow *` may only be called on the flow's own thread (from its
 * callbacks). Functions taking an imsec_net and a flow id are thread-safe:
 * called from another thread they queue a command to the flow's loop
 * (uv_async), never lock the element logic.
 *
 * Memory. Every object is owned by the imsec_net or the imsec_net_tls that
 * made it. A flow pointer stays valid until its on_down callback returns;
 * data borrowed from a flow (addresses, certificates, names) lives as long.
 */
#ifndef IMSEC_NET_H
#define IMSEC_NET_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

typedef struct imsec_net imsec_net;
typedef struct imsec_net_flow imsec_net_flow;
typedef struct imsec_net_tls imsec_net_tls;

typedef enum imsec_net_transport {
  IMSEC_NET_UDP = 0,
  IMSEC_NET_TCP = 1,
  IMSEC_NET_TLS = 2,
  IMSEC_NET_DTLS = 3,
} imsec_net_transport;

/* "UDP", "TCP", "TLS", "DTLS" (static). */
IMSEC_API const char *imsec_net_transport_name(imsec_net_transport t);

/* ------------------------------------------------------------- logging */

typedef enum imsec_net_log_level {
  IMSEC_NET_LOG_ERROR = 0,
  IMSEC_NET_LOG_WARN = 1,
  IMSEC_NET_LOG_INFO = 2,
  IMSEC_NET_LOG_DEBUG = 3,
} imsec_net_log_level;

/* One event, one line (no newline). `line` is borrowed for the call.
 * Called on loop threads; the callee serialises if it needs to. */
typedef void (*imsec_net_log_fn)(void *user, imsec_net_log_level level,
                                 const char *line);

/* A ready-made log callback: "net LEVEL: line" on stderr, one line per
 * event (the daemons' format). */
IMSEC_API void imsec_net_log_stderr(void *user, imsec_net_log_level level,
                                    const char *line);

/* ------------------------------------------------------------- framing */

typedef enum imsec_net_frame_kind {
  IMSEC_NET_FRAME_MORE = 0, /* the next message is incomplete */
  IMSEC_NET_FRAME_MSG = 1,  /* a whole message of *len octets */
  IMSEC_NET_FRAME_PING = 2, /* RFC 5626 §3.5.1 CRLFCRLF ping (*len = 4) */
  IMSEC_NET_FRAME_PONG = 3, /* RFC 5626 §3.5.1 CRLF pong (*len = 2) */
} imsec_net_frame_kind;

/*
 * A stream framer: given the bytes received so far on a stream flow, say
 * how long the next message is, or that it is a keepalive. Returns an
 * imsec_net_frame_kind (>= 0) with *len set for MSG/PING/PONG, or
 * IMSEC_ERR_LIMIT (the message would exceed `max_msg`) or IMSEC_ERR_PARSE
 * (the bytes cannot start a message): the flow is then closed. Must not keep
 * `p`. The default, imsec_net_frame_cl, is lib/sip's stateless framing
 * (imsec_sip_frame_peek).
 */
typedef struct imsec_net_framer {
  int (*frame)(void *arg, const uint8_t *p, size_t n, size_t max_msg,
               size_t *len);
  void *arg;
} imsec_net_framer;

/* The default framer (RFC 3261 §18.3, via lib/sip): headers up to CRLFCRLF,
 * then Content-Length (or "l") octets of body; a missing Content-Length is a
 * parse error on a stream. Leading CRLFCRLF / CRLF are ping / pong. */
IMSEC_API int imsec_net_frame_cl(void *arg, const uint8_t *p, size_t n,
                                 size_t max_msg, size_t *len);

/* ------------------------------------------------------------- TLS */

typedef enum imsec_net_client_auth {
  IMSEC_NET_CLIENT_CERT_NONE = 0,
  IMSEC_NET_CLIENT_CERT_REQUEST = 1, /* ask; verify if sent */
  IMSEC_NET_CLIENT_CERT_REQUIRE = 2, /* ask; fail without a valid one */
} imsec_net_client_auth;

/*
 * PSK look-up (server side): copy the key for `identity` into `key`
 * (capacity `cap`) and return its length, or a negative code when the
 * identity is unknown. Called on loop threads, during handshakes, for
 * identities of 1 to 127 octets without NUL (others are unknown unasked).
 *
 * What a server with psk_lookup does (OpenSSL 3, checked by
 * tests/e2e/net_psk_test.c):
 * - a client that offers no PSK gets the certificate handshake when the
 *   context has a certificate, and fails without one;
 * - a known identity with the right key: a PSK handshake (TLS 1.3 external
 *   PSK with (EC)DHE, RFC 8446 §4.2.9 psk_dhe_ke; TLS 1.2 / DTLS 1.2
 *   ECDHE-PSK, RFC 5489): no certificate is sent either way;
 * - a known identity with a wrong key fails the handshake (TLS 1.3: the
 *   binder does not verify, decrypt_error; TLS 1.2: the Finished does not);
 * - an unknown identity: TLS 1.2 fails (the PSK suite is chosen by then).
 *   TLS 1.3 sets the PSK aside: with a certificate the server answers with
 *   it, and our PSK clients refuse any certificate (below), so the
 *   handshake fails on the client side (the client sends an alert);
 *   without one it fails on the server side;
 * - DTLS drops records that do not decrypt (RFC 6347 §4.1.2.7): a wrong
 *   key there ends by the handshake timeout, not an alert;
 * - a context that asks for (or requires) client certificates asks none
 *   of a PSK client (RFC 8446 §4.3.2, RFC 4279 §2): the key is its proof;
 *   certificate clients are asked as before;
 * - a PSK flow's session is never kept by our clients, so it never
 *   resumes: imsec_net_flow_resumed() is 0 and imsec_net_flow_psk() 1.
 * A PSK client (context psk_identity or connect psk_key) offers TLS 1.2
 * ECDHE-PSK suites only and refuses every server certificate: the key is
 * what authenticates the server to it.
 */
typedef int (*imsec_net_psk_lookup_fn)(void *arg, const uint8_t *identity,
                                       size_t identity_len, uint8_t *key,
                                       size_t cap);

/*
 * A TLS or DTLS context (server or client). TLS 1.3 and 1.2 only, ECDHE key
 * exchange and AEAD suites only, no renegotiation, no early data,
 * SSL_MODE_RELEASE_BUFFERS. SSLKEYLOGFILE is honoured when set in the
 * environment at creation (appended to, mode 0600).
 */
typedef struct imsec_net_tls_config {
  int server; /* 1: accept side; 0: connect side */
  int dtls;   /* 1: DTLS 1.2 over UDP */
  /* PEM files: certificate chain (leaf first) and private key (EC P-256 or
   * RSA). Required on servers unless psk_lookup is set; optional client
   * certificate on clients. A file with the leaf alone has its chain
   * completed once, at creation, from ca_file (the root left out). */
  const char *cert_file;
  const char *key_file;
  /* PEM trust anchors for verifying the peer (client certs on servers,
   * server certs on clients). */
  const char *ca_file;
  /* More PEM anchor files, loaded like ca_file (NULL-terminated list, or
   * NULL): a trust list that spans several CAs' files. */
  const char *const *more_ca_files;
  imsec_net_client_auth client_auth; /* servers */
  /* Clients: 0 fails the handshake when the server chain does not verify;
   * 1 completes it and leaves the decision to the owner's on_up (the trust
   * decision, DESIGN.md §3), which reads imsec_net_flow_verify_result().
   * Servers asking for client certificates: the same for the client's
   * chain (a client that sends none still fails under REQUIRE). */
  int defer_verify;
  /* Servers: issue one session ticket per handshake under rotating keys
   * (ticket_key_lifetime_s, default 3600; a ticket stays valid for two
   * lifetimes). 0 issues none. With client certificates a resumed flow
   * knows the client's leaf certificate only (no chain is kept). */
  int tickets;
  uint32_t ticket_key_lifetime_s;
  /* Clients: never resume (the P-CSCF, seed §3.1). Otherwise the context
   * keeps the newest session per server name and resumes with it. */
  int no_resume;
  /* PSK (mode M3): TLS 1.3 external PSK and TLS 1.2 ECDHE-PSK. Servers set
   * psk_lookup; clients set psk_identity and psk_key. The key is copied and
   * wiped on imsec_net_tls_del. */
  imsec_net_psk_lookup_fn psk_lookup;
  void *psk_arg;
  const char *psk_identity;
  const uint8_t *psk_key;
  size_t psk_key_len;
  /* Clients: refuse TLS 1.2 (tests and strict deployments). */
  int tls13_only;
  /* Servers: refuse TLS 1.3 (tests of the TLS 1.2 path). */
  int tls12_only;
} imsec_net_tls_config;

/* Make a context from `cfg` (borrowed for the call). Returns 0 and *out, or
 * IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG (a file does not load, a key does not
 * match its certificate, settings contradict), IMSEC_ERR_NOMEM,
 * IMSEC_ERR_CRYPTO. A context may serve many listeners and loops. */
IMSEC_API IMSEC_MUST_USE int imsec_net_tls_new(imsec_net_tls **out,
                                               const imsec_net_tls_config *cfg);
/* Free a context no flow uses any more (after imsec_net_del). NULL is ok. */
IMSEC_API void imsec_net_tls_del(imsec_net_tls *tls);

/*
 * Reload (a daemon's SIGHUP): replace the certificate, key and trust
 * anchors of a running context. In two steps, so that several contexts
 * change together or not at all:
 *
 *   imsec_net_tls_next_new    reads and checks the files of `cfg` into
 *                             a new context beside the running one; any
 *                             failure leaves `tls` as it was.
 *   imsec_net_tls_next_apply  swaps it in (thread-safe: loop threads may
 *                             be making flows meanwhile). Handshakes that
 *                             start afterwards use the new files (DTLS
 *                             listeners too); flows already up or
 *                             handshaking keep the context they started
 *                             with until they close.
 *   imsec_net_tls_next_del    frees it (applied or not), before `tls` is
 *                             deleted.
 *
 * Only cert_file, key_file, ca_file and more_ca_files are read from `cfg`,
 * every one of those files again (the same rules as imsec_net_tls_new: a
 * server needs a certificate and key unless it has a PSK look-up; client
 * certificates need a CA file); every other setting stays as it was made:
 * client_auth, defer_verify, tickets, PSK, versions, resumption.
 * Session-ticket keys are kept, so tickets issued before a reload still
 * resume. A server that verifies client certificates names its trust
 * anchors (all its CA files) in its session ID context: when their
 * certificates change, sessions from before resume no more (their
 * clients were verified under the old anchors) and get a full handshake
 * instead. A client context forgets its kept sessions when a reload is
 * applied.
 *
 * imsec_net_tls_next_new returns 0 and *out, or IMSEC_ERR_INVAL (NULL
 * argument), IMSEC_ERR_CONFIG (a file does not load, the key does not
 * match the certificate, a file is missing for the policy),
 * IMSEC_ERR_CRYPTO, IMSEC_ERR_NOMEM; on failure `err` (capacity errcap,
 * may be NULL) holds one line saying which file and why.
 */
typedef struct imsec_net_tls_next imsec_net_tls_next;
IMSEC_API IMSEC_MUST_USE int
imsec_net_tls_next_new(imsec_net_tls_next **out, imsec_net_tls *tls,
                       const imsec_net_tls_config *cfg, char *err,
                       size_t errcap);
/* Swap the checked context in (see above). Applying twice, or NULL, is a
 * no-op. Cannot fail. */
IMSEC_API void imsec_net_tls_next_apply(imsec_net_tls_next *rl);
/* Free it; one never applied has changed nothing. NULL is ok. */
IMSEC_API void imsec_net_tls_next_del(imsec_net_tls_next *rl);
/* _new, _apply and _del in one call, for a single context. Returns as
 * imsec_net_tls_next_new. */
IMSEC_API IMSEC_MUST_USE int
imsec_net_tls_reload(imsec_net_tls *tls, const imsec_net_tls_config *cfg,
                     char *err, size_t errcap);

/* ------------------------------------------------------------- the net */

typedef struct imsec_net_limits {
  uint32_t handshake_timeout_ms; /* TCP connect + TLS handshake: 10000 */
  uint32_t idle_timeout_ms;      /* pre-registration idle (until keep): 30000 */
  uint32_t max_flows;            /* all flows of the net: 200000 */
  uint32_t max_flows_per_ip;     /* accepted flows per source address: 64;
                                    connections past it are closed at once
                                    and logged (WARN, at most one line a
                                    second with a count of those held back) */
  uint32_t max_msg;              /* message size: 65536 */
  uint32_t max_pending_out;      /* queued output per flow: 1 MiB */
  uint32_t read_budget;          /* octets read per flow per wakeup: 256 KiB */
} imsec_net_limits;

/* Events up to the owner; all on the flow's loop thread. */
typedef struct imsec_net_handler {
  /* The flow is established (TCP connected, TLS/DTLS handshake done, first
   * UDP datagram). Return 0 to keep it or a negative code to close it (the
   * trust decision on client TLS flows). */
  int (*on_up)(void *user, imsec_net_flow *f);
  /* One whole message (framed on streams, a datagram on UDP/DTLS). `msg`
   * is borrowed for the call. */
  void (*on_message)(void *user, imsec_net_flow *f, const uint8_t *msg,
                     size_t len);
  /* The flow is gone: `reason` is 0 (closed by us or cleanly by the peer)
   * or a negative code (IMSEC_ERR_TIMEOUT, IMSEC_ERR_LIMIT, IMSEC_ERR_IO,
   * IMSEC_ERR_AUTH for a failed handshake, ...). Called for every flow that
   * was up and for every outgoing flow (also when the connect failed). */
  void (*on_down)(void *user, imsec_net_flow *f, int reason);
  void *user;
  /* Optional: a stream flow sent what the framer refuses: a message over
   * max_msg (`reason` IMSEC_ERR_LIMIT) or octets that cannot start one
   * (IMSEC_ERR_PARSE). `head` is what had arrived of it (at most max_msg
   * octets, a partial header section perhaps; borrowed for the call), so
   * the owner can answer on the flow (a SIP 513 or 400). net/ builds no
   * SIP itself. After the call the flow closes: its output (the answer
   * included) leaves first, then a TLS close_notify and a TCP FIN; what the
   * peer still sends is read and dropped for a short while, so that the
   * answer is not lost to a TCP reset; on_down follows at once with
   * `reason`. Without on_refused the flow just closes. */
  void (*on_refused)(void *user, imsec_net_flow *f, int reason,
                     const uint8_t *head, size_t len);
} imsec_net_handler;

typedef struct imsec_net_config {
  unsigned threads;        /* loops; 0 = number of cores */
  imsec_net_limits limits; /* zero fields take the defaults */
  imsec_net_handler handler;
  /* The stream framer; NULL frame = imsec_net_frame_cl. */
  imsec_net_framer framer;
  imsec_net_log_fn log;
  void *log_user;
  imsec_net_log_level log_level;
} imsec_net_config;

/* Make a net and its loops (not yet running). `cfg` is copied. Returns 0,
 * IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM, IMSEC_ERR_IO. */
IMSEC_API IMSEC_MUST_USE int imsec_net_new(imsec_net **out,
                                           const imsec_net_config *cfg);
/* Stop (if running), close every flow (on_down with IMSEC_ERR_CLOSED),
 * join the threads and free. NULL is ok. Not from a loop thread. */
IMSEC_API void imsec_net_del(imsec_net *net);

/* Start one thread per loop. Returns 0, IMSEC_ERR_STATE, IMSEC_ERR_IO. */
IMSEC_API IMSEC_MUST_USE int imsec_net_start(imsec_net *net);

/* Listen on `addr` (IPv4 or IPv6; port 0 picks one) for `transport`, with
 * one SO_REUSEPORT socket per loop. `tls` is required for TLS and DTLS (a
 * server context) and must outlive the net. Call before imsec_net_start.
 * The bound port is written to *port (may be NULL). Returns 0,
 * IMSEC_ERR_INVAL, IMSEC_ERR_STATE, IMSEC_ERR_IO (bind failed). */
IMSEC_API IMSEC_MUST_USE int imsec_net_listen(imsec_net *net,
                                              imsec_net_transport transport,
                                              const struct sockaddr *addr,
                                              imsec_net_tls *tls,
                                              uint16_t *port);

typedef struct imsec_net_connect_opts {
  imsec_net_transport transport;
  const struct sockaddr *peer;  /* IPv4 or IPv6 */
  const struct sockaddr *local; /* source address, or NULL */
  imsec_net_tls *tls;           /* a client context for TLS/DTLS */
  const char *server_name;      /* SNI and the resumption key, or NULL */
  /* RFC 5923 connection reuse: return the outgoing flow already open or
   * opening to the same peer over the same transport (opened with reuse
   * set too) instead of opening another one. */
  int reuse;
  void *user; /* initial imsec_net_flow_user() value */
  /* TLS/DTLS clients: a PSK for this connection only (mode M3: a UE's
   * configured key, or the one derived from its AKA run), used instead of
   * the context's. psk_key_len 0: none; else 1..64 octets and an identity
   * of 1..127 octets (IMSEC_ERR_INVAL otherwise, or on TCP/UDP). Copied
   * (and wiped when the flow goes); a flow with a PSK never reuses nor is
   * reused (`reuse` is ignored), never resumes a kept session nor keeps
   * one, and refuses a server certificate (see imsec_net_psk_lookup_fn). */
  const char *psk_identity;
  const uint8_t *psk_key;
  size_t psk_key_len;
} imsec_net_connect_opts;

/* Open a flow (thread-safe). The flow id is written to *id at once; on_up
 * or on_down follows on the flow's loop. Messages sent on an outgoing
 * TCP/TLS flow before it is up are queued (up to max_pending_out) and
 * leave after on_up accepted the peer; they are dropped if it refuses.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM, IMSEC_ERR_LIMIT
 * (max_flows). */
IMSEC_API IMSEC_MUST_USE int
imsec_net_connect(imsec_net *net, const imsec_net_connect_opts *opts,
                  uint64_t *id);

/* Send one message on flow `id` (thread-safe; `p` is copied when queued).
 * Returns 0, IMSEC_ERR_CLOSED (no such flow: known at once on its own
 * thread; from another thread the message is dropped with a log line),
 * IMSEC_ERR_STATE (an accepted or datagram flow that is not up yet),
 * IMSEC_ERR_LIMIT (larger than max_msg, or than one DTLS record (16 KiB)
 * or UDP datagram: refused, the flow stays; or the flow's output queue
 * passed max_pending_out: the flow is closed), IMSEC_ERR_IO (the flow is
 * closed), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_net_send(imsec_net *net, uint64_t id,
                                            const uint8_t *p, size_t len);
/* Close flow `id` (thread-safe). Returns 0 or IMSEC_ERR_CLOSED. */
IMSEC_API int imsec_net_close(imsec_net *net, uint64_t id);

/* RFC 5626 flow token: 40 hex digits, id plus a truncated HMAC-SHA256 under
 * a per-net random key, so tokens cannot be forged or guessed. Safe in a
 * SIP URI user part or parameter (Path, Record-Route). `buf` needs 41
 * octets. Returns 40 or IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_net_token(imsec_net *net, uint64_t id,
                                             char *buf, size_t cap);
/* Check a token and recover the flow id. Returns 0, IMSEC_ERR_PARSE (not a
 * token), IMSEC_ERR_MAC (forged or from another net). */
IMSEC_API IMSEC_MUST_USE int
imsec_net_token_check(imsec_net *net, imsec_str token, uint64_t *id);

/* ------------------------------------------------------------- flows */

IMSEC_API uint64_t imsec_net_flow_id(const imsec_net_flow *f);
IMSEC_API imsec_net_transport imsec_net_flow_transport(const imsec_net_flow *f);
/* 1 for flows we accepted, 0 for flows we opened. */
IMSEC_API int imsec_net_flow_is_server(const imsec_net_flow *f);
/* Addresses (struct sockaddr_in or sockaddr_in6), borrowed. */
IMSEC_API const struct sockaddr *imsec_net_flow_local(const imsec_net_flow *f);
IMSEC_API const struct sockaddr *imsec_net_flow_peer(const imsec_net_flow *f);
/* "[addr]:port" text of the peer into `buf`. Returns the length or
 * IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_net_flow_peer_text(const imsec_net_flow *f,
                                                      char *buf, size_t cap);
IMSEC_API void *imsec_net_flow_user(const imsec_net_flow *f);
IMSEC_API void imsec_net_flow_set_user(imsec_net_flow *f, void *user);

/* Send on this flow (its own thread only). Returns as imsec_net_send. */
IMSEC_API IMSEC_MUST_USE int imsec_net_flow_send(imsec_net_flow *f,
                                                 const uint8_t *p, size_t len);
/* Close this flow: a TLS close_notify, then the socket. on_down follows
 * (synchronously) when the flow was up. */
IMSEC_API void imsec_net_flow_close(imsec_net_flow *f);

/* The flow is registered: stop its pre-registration idle timeout. */
IMSEC_API void imsec_net_flow_keep(imsec_net_flow *f);

/* Client keepalive (RFC 5626 §4.4.1): send a CRLFCRLF ping every
 * `interval_ms`; when no pong arrives within `timeout_ms` the flow is dead
 * and is closed with IMSEC_ERR_TIMEOUT. interval_ms 0 stops. Stream flows
 * only: returns 0 or IMSEC_ERR_UNSUPPORTED. */
IMSEC_API IMSEC_MUST_USE int imsec_net_flow_keepalive(imsec_net_flow *f,
                                                      uint32_t interval_ms,
                                                      uint32_t timeout_ms);

/* TLS/DTLS details (0/NULL on plain flows). */
/* The negotiated protocol, e.g. "TLSv1.3" (static), or NULL. */
IMSEC_API const char *imsec_net_flow_tls_version(const imsec_net_flow *f);
/* 1 when the session was resumed from a ticket. */
IMSEC_API int imsec_net_flow_resumed(const imsec_net_flow *f);
/* 1 when the handshake used a PSK (external PSK or TLS 1.2 PSK suite). */
IMSEC_API int imsec_net_flow_psk(const imsec_net_flow *f);
/* The PSK identity the handshake used (the client's on a server flow, as
 * the look-up saw it; ours on a client flow), NUL-terminated, borrowed
 * until on_down; NULL when imsec_net_flow_psk() is 0. */
IMSEC_API const char *imsec_net_flow_psk_identity(const imsec_net_flow *f);
/* OpenSSL's X509_V_* verify result of the peer chain (0 = X509_V_OK), or
 * -1 when the peer sent no certificate. */
IMSEC_API long imsec_net_flow_verify_result(const imsec_net_flow *f);
/* The peer's chain as DER certificates, leaf first: the verified chain when
 * verification succeeded, else the chain the peer sent. Fills up to `cap`
 * slices, borrowed until on_down, and returns how many there are (may
 * exceed cap), 0 without a certificate, or IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int
imsec_net_flow_peer_chain(imsec_net_flow *f, imsec_bytes *out, size_t cap);
/* Free the DER copies imsec_net_flow_peer_chain made (and the parsed SAN
 * list of imsec_net_flow_peer_names): the slices and names it gave out
 * are gone; a later call makes them again from the TLS session. For an
 * owner that judged the peer when the flow came up and keeps the flow
 * for long: a client holding many idle flows (the chain of each server
 * copied per flow), a server taking client certificates. */
IMSEC_API void imsec_net_flow_drop_chain(imsec_net_flow *f);
/* The leaf's names (RFC 5922 §7.1): SAN dNSName and URI entries, or the CN
 * when there is no SAN. Slices borrowed until on_down; returns the count
 * (may exceed cap). */
IMSEC_API int imsec_net_flow_peer_names(imsec_net_flow *f, imsec_str *out,
                                        size_t cap);

/* ------------------------------------------------------------- loops */

/* How many loops (threads) the net runs. */
IMSEC_API unsigned imsec_net_loops(const imsec_net *net);
/* The loop a flow id lives on (for imsec_net_post). */
IMSEC_API unsigned imsec_net_loop_of(uint64_t id);

/* Run fn(arg) on loop `loop` after `delay_ms` (0: as soon as the loop gets
 * to it; called at once when already on that loop). Thread-safe. This is
 * how the element logic's timers ("arm timer", DESIGN.md §4) and work for
 * a flow's loop are scheduled: one-shot, no cancel (the callee checks its
 * own state when it fires). Calls still pending when the net stops are
 * dropped, not run; `arg` then belongs to the caller. Returns 0,
 * IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM, IMSEC_ERR_CLOSED (loop stopping). */
IMSEC_API IMSEC_MUST_USE int imsec_net_post(imsec_net *net, unsigned loop,
                                            uint32_t delay_ms,
                                            void (*fn)(void *arg), void *arg);

/* Counters of the whole net (approximate while running). */
typedef struct imsec_net_stats {
  uint64_t flows;        /* open now */
  uint64_t accepted;     /* accepted since start */
  uint64_t refused;      /* refused by a limit at accept */
  uint64_t handshakes;   /* completed TLS/DTLS handshakes */
  uint64_t resumed;      /* of which resumed */
  uint64_t closed_limit; /* closed by a limit or timeout */
} imsec_net_stats;
IMSEC_API void imsec_net_get_stats(imsec_net *net, imsec_net_stats *out);

/* Operations (include/imsec/obs.h; families in docs/OPERATIONS.md). */
struct imsec_metrics;
struct imsec_table;
/* Thread-safe (counters kept atomically or per loop under a lock): flows
 * open by transport and mode, flows accepted and refused, TLS/DTLS
 * handshakes by result and alert with their duration histogram,
 * resumptions. */
IMSEC_API void imsec_net_metrics(imsec_net *net, struct imsec_metrics *m);
/* On loop `loop`'s thread only: one row per flow of that loop, appended
 * to t; columns id, transport, mode, local, peer, age_s, tls, cipher,
 * peer_name, kept (set by the first call, when t has no columns yet, so
 * the loops of one or several nets fill one table; docs/OPERATIONS.md).
 * Returns 0 or a negative imsec_err. */
IMSEC_API int imsec_net_list_flows(imsec_net *net, unsigned loop,
                                   struct imsec_table *t);
/* Thread-safe: stop accepting (close every listening socket of every
 * loop; a drain). Flows already up are not touched. Idempotent. */
IMSEC_API void imsec_net_pause_listeners(imsec_net *net);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_NET_H */
