/*
 * imsec elem: what the element state machines (UE, P-CSCF, S-CSCF) share.
 *
 * Elements are sans-I/O (DESIGN.md §4, STYLE.md): a driver hands them
 * events — "flow up with these peer facts", "message on flow F", "flow
 * down", "timer fired" — each with the current time, and they answer by
 * appending actions to an imsec_out: "send these bytes on F", "connect to X
 * and tell me with this tag", "close F", "arm timer T for time t", "keep F",
 * "log this line". The driver carries the actions out after the call
 * returns. The same elements run under apps/ (real sockets, net/) and under
 * tests/e2e (many elements in one process, a virtual clock).
 *
 * Times are milliseconds on a monotonic clock chosen by the driver.
 * Flow ids are the driver's (net/'s flow ids under apps/); 0 is never a
 * flow.
 */
#ifndef IMSEC_ELEM_H
#define IMSEC_ELEM_H

#include "imsec/base.h"
#include "imsec/trust.h"

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
/* Parse "udp|tcp|tls|dtls" (any case). 0 or IMSEC_ERR_PARSE. */
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
} imsec_flow_info;

/* ---------------------------------------------------------------- actions */

typedef enum imsec_act_kind {
  IMSEC_ACT_SEND = 1, /* flow, data */
  IMSEC_ACT_CONNECT,  /* tag, addr, server_name */
  IMSEC_ACT_CLOSE,    /* flow */
  IMSEC_ACT_KEEP,     /* flow: registered; stop the idle timeout */
  IMSEC_ACT_TIMER,    /* timer, at (0: cancel) */
  IMSEC_ACT_LOG,      /* level, data (text, no newline) */
} imsec_act_kind;

typedef enum imsec_log_level {
  IMSEC_LOG_ERROR = 0,
  IMSEC_LOG_WARN = 1,
  IMSEC_LOG_INFO = 2,
  IMSEC_LOG_DEBUG = 3,
} imsec_log_level;

typedef struct imsec_act {
  imsec_act_kind kind;
  uint64_t flow;  /* SEND, CLOSE, KEEP */
  uint64_t tag;   /* CONNECT: echoed in the flow's up/down events */
  uint64_t timer; /* TIMER: the element's own timer id */
  imsec_time_ms at;
  imsec_log_level level;
  imsec_addr addr;       /* CONNECT */
  char server_name[256]; /* CONNECT: SNI and the name to verify ("" none) */
  uint8_t *data;         /* SEND bytes, LOG text (NUL-terminated); owned */
  size_t len;
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
/* printf-free logging (lib/ has no stdio): the pieces are concatenated.
 * Pass NULL-terminated lists of C strings. */
IMSEC_API int imsec_out_log(imsec_out *o, imsec_log_level level,
                            const char *first, ...);
/* Append a log line made of slices (for text taken from messages). */
IMSEC_API int imsec_out_logv(imsec_out *o, imsec_log_level level,
                             const imsec_str *parts, size_t n);

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
