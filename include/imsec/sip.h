/*
 * imsec SIP core (RFC 3261 §25): a zero-copy message parser with lazy,
 * cached typed header access, configurable hard limits, a proxy-grade
 * validity check, a builder and an in-place editor, and a stream framer for
 * TCP/TLS (RFC 3261 §18.3, RFC 5626 §3.5.1 keepalives).
 *
 * Sans-I/O and libc only. Ownership, in one place:
 *  - imsec_sip_parse borrows the caller's buffer: every imsec_str the
 *    message hands out points into it (or into strings the caller passed to
 *    the editor) and lives as long as that buffer and the message. The
 *    buffer is writable because folded header lines (CRLF followed by SP or
 *    HTAB) are unfolded in place: the CR and LF of each fold become SP,
 *    which RFC 3261 §7.3.1 says is equivalent. Nothing else is written.
 *  - An imsec_sip_msg is embedded by the caller (imsec_sip_msg_init /
 *    imsec_sip_msg_free). It stores up to IMSEC_SIP_INLINE_HDRS header
 *    entries inline; only messages with more headers allocate (once per
 *    doubling), so the common path allocates nothing. A message may be
 *    parsed into again and again (each parse resets it). Do not copy an
 *    imsec_sip_msg by value: its header array may point into itself.
 *  - Typed forms: the single-valued core headers (top Via, From, To,
 *    Call-ID, CSeq, Max-Forwards, Content-Length, Expires, Content-Type)
 *    are parsed on first access and cached in the message; list headers
 *    are parsed value by value as an iterator walks them (nothing to
 *    allocate, nothing to cache).
 */
#ifndef IMSEC_SIP_H
#define IMSEC_SIP_H

#include "imsec/base.h"
#include "imsec/sip_uri.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- limits */

/* Hard limits; input past any of them is refused with IMSEC_ERR_LIMIT. */
typedef struct imsec_sip_limits {
  size_t max_msg;     /* whole message with body; default 65536 */
  size_t max_headers; /* header fields (lines); default 256 */
  size_t max_line;    /* a start line or one header field with its folds;
                         default 8192 */
  size_t max_params;  /* parameters of one header value or URI; default 64 */
} imsec_sip_limits;

/* Fill `l` with the defaults above. */
IMSEC_API void imsec_sip_limits_default(imsec_sip_limits *l);

/* ---------------------------------------------------------------- headers */

/* Header fields the parser recognises by name (long or compact form,
 * case-insensitively). Everything else is IMSEC_SIP_H_OTHER. */
typedef enum imsec_sip_hid {
  IMSEC_SIP_H_OTHER = 0,
  IMSEC_SIP_H_VIA,
  IMSEC_SIP_H_FROM,
  IMSEC_SIP_H_TO,
  IMSEC_SIP_H_CALL_ID,
  IMSEC_SIP_H_CSEQ,
  IMSEC_SIP_H_MAX_FORWARDS,
  IMSEC_SIP_H_CONTACT,
  IMSEC_SIP_H_EXPIRES,
  IMSEC_SIP_H_ROUTE,
  IMSEC_SIP_H_RECORD_ROUTE,
  IMSEC_SIP_H_PATH,
  IMSEC_SIP_H_SERVICE_ROUTE,
  IMSEC_SIP_H_CONTENT_LENGTH,
  IMSEC_SIP_H_CONTENT_TYPE,
  IMSEC_SIP_H_REQUIRE,
  IMSEC_SIP_H_PROXY_REQUIRE,
  IMSEC_SIP_H_SUPPORTED,
  IMSEC_SIP_H_UNSUPPORTED,
  IMSEC_SIP_H_SECURITY_CLIENT,
  IMSEC_SIP_H_SECURITY_SERVER,
  IMSEC_SIP_H_SECURITY_VERIFY,
  IMSEC_SIP_H_WWW_AUTHENTICATE,
  IMSEC_SIP_H_AUTHORIZATION,
  IMSEC_SIP_H_PROXY_AUTHENTICATE,
  IMSEC_SIP_H_PROXY_AUTHORIZATION,
  IMSEC_SIP_H_AUTHENTICATION_INFO,
  IMSEC_SIP_H_P_ASSERTED_IDENTITY,
  IMSEC_SIP_H_P_PREFERRED_IDENTITY,
  IMSEC_SIP_H_P_ASSOCIATED_URI,
  IMSEC_SIP_H_P_VISITED_NETWORK_ID,
  IMSEC_SIP_H_P_ACCESS_NETWORK_INFO,
  IMSEC_SIP_H_ALLOW,
  IMSEC_SIP_H_ACCEPT,
  IMSEC_SIP_H_DATE,
  IMSEC_SIP_H_MIN_EXPIRES,
  IMSEC_SIP_H_CONTENT_ENCODING,
  IMSEC_SIP_H_SUBJECT,
  IMSEC_SIP_H_EVENT,
  IMSEC_SIP_H_ALLOW_EVENTS,
  IMSEC_SIP_H_REFER_TO,
  IMSEC_SIP_H_REFERRED_BY,
  IMSEC_SIP_H_SESSION_EXPIRES,
  IMSEC_SIP_H_IDENTITY,
  IMSEC_SIP_H_ACCEPT_CONTACT,
  IMSEC_SIP_H_REJECT_CONTACT,
  IMSEC_SIP_H_REQUEST_DISPOSITION,
  IMSEC_SIP_H_IDENTITY_INFO,
  IMSEC_SIP_H_USER_AGENT,
  IMSEC_SIP_H_SERVER,
  IMSEC_SIP_H_WARNING,
  IMSEC_SIP_H_RETRY_AFTER,
  IMSEC_SIP_H_COUNT
} imsec_sip_hid;

/* Canonical (long) name of a header id ("Via"); "" for OTHER. Static. */
IMSEC_API const char *imsec_sip_hid_name(imsec_sip_hid id);
/* The id of a header name, long or compact, any case; OTHER if unknown. */
IMSEC_API imsec_sip_hid imsec_sip_hid_lookup(imsec_str name);

/* One header field (one line, folds included). */
typedef struct imsec_sip_hdr {
  imsec_str name;  /* as written (may be compact: "v") */
  imsec_str value; /* leading and trailing whitespace removed */
  uint32_t line;   /* 1-based line number of the field in the message */
  uint16_t id;     /* imsec_sip_hid */
  uint16_t flags;  /* internal */
  int32_t next;    /* internal: index of the next field with this id */
} imsec_sip_hdr;

/* ---------------------------------------------------------------- message */

#define IMSEC_SIP_INLINE_HDRS 48

/* Methods known by id; others are IMSEC_SIP_M_OTHER (see `method`). */
typedef enum imsec_sip_method {
  IMSEC_SIP_M_OTHER = 0,
  IMSEC_SIP_M_INVITE,
  IMSEC_SIP_M_ACK,
  IMSEC_SIP_M_BYE,
  IMSEC_SIP_M_CANCEL,
  IMSEC_SIP_M_OPTIONS,
  IMSEC_SIP_M_REGISTER,
  IMSEC_SIP_M_PRACK,
  IMSEC_SIP_M_SUBSCRIBE,
  IMSEC_SIP_M_NOTIFY,
  IMSEC_SIP_M_PUBLISH,
  IMSEC_SIP_M_INFO,
  IMSEC_SIP_M_REFER,
  IMSEC_SIP_M_MESSAGE,
  IMSEC_SIP_M_UPDATE,
} imsec_sip_method;

IMSEC_API imsec_sip_method imsec_sip_method_lookup(imsec_str name);

/* Why a message was refused: the status a server would answer, a static
 * reason phrase, and the 1-based line it concerns (for a missing field: the
 * empty line that ends the header section). */
typedef struct imsec_sip_diag {
  unsigned status;
  const char *reason;
  uint32_t line;
} imsec_sip_diag;

/* Typed forms (all slices borrow from the message buffer). */

typedef struct imsec_sip_via {
  imsec_str protocol;  /* "SIP" */
  imsec_str version;   /* "2.0" */
  imsec_str transport; /* "UDP", "TCP", "TLS", ... as written */
  imsec_str host;      /* sent-by host; IPv6 with brackets */
  imsec_sip_host_type host_type;
  uint16_t port;
  int has_port;
  imsec_str branch, received, maddr, ttl;
  int has_rport;
  imsec_str rport;  /* value, empty for a bare ";rport" */
  int has_alias;    /* RFC 5923 */
  imsec_str params; /* raw, from the first ';' */
} imsec_sip_via;

/* name-addr or addr-spec with header parameters: From, To, Contact, Route,
 * Record-Route, Path, Service-Route, P-Asserted-Identity, ... */
typedef struct imsec_sip_addr {
  int star;          /* Contact: "*" (nothing else set) */
  imsec_str display; /* display name, quotes removed, quoted-pairs kept */
  int display_quoted;
  int bracketed;    /* the URI was written in < > */
  imsec_str uri;    /* the URI text; parse with imsec_sip_uri_parse */
  imsec_str params; /* raw header parameters from the first ';' */
  imsec_str tag;    /* From/To ;tag */
  /* Contact (RFC 3261 §20.10, RFC 5626 §4.2): */
  int64_t expires;    /* -1 when absent */
  int q;              /* q in thousandths (0..1000), -1 when absent */
  imsec_str instance; /* +sip.instance value without its quotes */
  int64_t reg_id;     /* -1 when absent */
  int ob;
} imsec_sip_addr;

typedef struct imsec_sip_cseq {
  uint32_t seq; /* < 2**31 (RFC 3261 §8.1.1.5) */
  imsec_str method;
  imsec_sip_method method_id;
} imsec_sip_cseq;

/* A token (or type/subtype, or quoted string) with raw parameters: Require,
 * Supported, Allow, Content-Type, P-Visited-Network-ID,
 * P-Access-Network-Info. */
typedef struct imsec_sip_token {
  imsec_str token;
  imsec_str params; /* raw, from the first ';' */
} imsec_sip_token;

/* RFC 3329 §2.2 sec-mechanism: mechanism, preference and the other
 * parameters (for ipsec-3gpp: alg, spi-c, port-s, ...) kept as opaque
 * pairs in `params` (walk with imsec_sip_param_next). */
typedef struct imsec_sip_secmech {
  imsec_str mechanism;
  int q;            /* thousandths, -1 when absent */
  imsec_str params; /* raw, from the first ';', q included */
} imsec_sip_secmech;

/* One generic parameter. */
typedef struct imsec_sip_param {
  imsec_str name;
  imsec_str value; /* quotes removed; empty when there is no '=' */
  int has_value;
  int quoted;
} imsec_sip_param;

/* Walk raw parameter text (";a=b;c") as found in the typed forms above:
 * returns 1 and the next parameter, 0 at the end. `rest` advances. The text
 * must come from a typed form (it was validated there). */
IMSEC_API int imsec_sip_param_next(imsec_str *rest, imsec_sip_param *out);
/* Find a parameter by name (case-insensitive): 1 found, 0 not. */
IMSEC_API int imsec_sip_param_find(imsec_str params, const char *name,
                                   imsec_sip_param *out);

enum {
  IMSEC_SIP_CACHE_VIA = 0,
  IMSEC_SIP_CACHE_FROM,
  IMSEC_SIP_CACHE_TO,
  IMSEC_SIP_CACHE_CALL_ID,
  IMSEC_SIP_CACHE_CSEQ,
  IMSEC_SIP_CACHE_MAX_FORWARDS,
  IMSEC_SIP_CACHE_CONTENT_LENGTH,
  IMSEC_SIP_CACHE_EXPIRES,
  IMSEC_SIP_CACHE_CONTENT_TYPE,
  IMSEC_SIP_CACHE_N
};

typedef struct imsec_sip_msg {
  imsec_sip_limits lim;
  char *buf;  /* the caller's buffer */
  size_t len; /* bytes of this message (start line to end of body) */
  int is_request;
  /* request line */
  imsec_str method;
  imsec_sip_method method_id;
  imsec_str ruri;
  /* status line */
  unsigned status;
  imsec_str reason;
  imsec_str version; /* "SIP/2.0" */
  imsec_str body;
  int has_body_length; /* a Content-Length header gave the body size */
  /* header fields in message order */
  imsec_sip_hdr *hdrs;
  size_t nhdrs;
  size_t cap;
  int32_t first[IMSEC_SIP_H_COUNT]; /* first field of each id, or -1 */
  uint16_t count[IMSEC_SIP_H_COUNT];
  imsec_sip_diag diag;
  uint32_t start_line; /* line of the start line (CRLFs may precede it) */
  uint32_t end_line;   /* line of the empty line ending the headers */
  /* lazily parsed typed values: state 0 unknown, 1 ok, <0 error code */
  int8_t cstate[IMSEC_SIP_CACHE_N];
  imsec_sip_via c_via;
  imsec_sip_addr c_from, c_to;
  imsec_str c_call_id;
  imsec_sip_cseq c_cseq;
  uint32_t c_max_forwards;
  uint64_t c_content_length;
  uint32_t c_expires;
  imsec_sip_token c_content_type;
  /* editor */
  imsec_str new_ruri;
  imsec_sip_hdr inline_hdrs[IMSEC_SIP_INLINE_HDRS];
} imsec_sip_msg;

/* Prepare an embedded message with the given limits (NULL: defaults). */
IMSEC_API void imsec_sip_msg_init(imsec_sip_msg *m,
                                  const imsec_sip_limits *lim);
/* Release what imsec_sip_msg_init/parse allocated (the header array, if it
 * grew). Idempotent. */
IMSEC_API void imsec_sip_msg_free(imsec_sip_msg *m);

/*
 * Parse one message from buf[0..len): start line, header fields (RFC 3261
 * §7, §25), the empty line, and the body. Header values are only located
 * and indexed here; typed forms are parsed on first access.
 *
 * The body is Content-Length octets when the header is there (octets past
 * them are ignored, RFC 3261 §18.3 for datagrams; imsec_sip_msg_len says
 * where the message ended), else the rest of the buffer. With `stream` set
 * (TCP/TLS) a missing Content-Length is an error.
 *
 * Returns 0, or IMSEC_ERR_PARSE (malformed start line or header field, bare
 * CR or LF, duplicate or bad Content-Length, body shorter than
 * Content-Length), IMSEC_ERR_UNSUPPORTED (a SIP version other than 2.0),
 * IMSEC_ERR_LIMIT (a limit passed), IMSEC_ERR_AGAIN (the header section does
 * not end), IMSEC_ERR_NOMEM. On error m->diag says why, with a status code
 * (400, 413, 505) and the line.
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_parse(imsec_sip_msg *m, char *buf,
                                             size_t len, int stream);

/*
 * Validate what a proxy must be able to rely on (RFC 3261 §16.3, §8.2,
 * RFC 4475): a request's Request-URI (sip, sips or tel; 416 otherwise; no
 * URI headers), one each of From, To, Call-ID, CSeq (method equal to the
 * request method), at least one Via, at most one Max-Forwards (0..255) and
 * Content-Length, and that every recognised header parses in its typed
 * form; header values hold no control octets outside quoted strings;
 * Proxy-Require names only extensions we support (sec-agree; 420 otherwise);
 * Date is an RFC 1123 GMT date. Call after a successful imsec_sip_parse.
 * Returns 0, or IMSEC_ERR_PARSE / IMSEC_ERR_UNSUPPORTED / IMSEC_ERR_LIMIT
 * with m->diag filled.
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_check(imsec_sip_msg *m);

/* Number of octets the parsed message took from the buffer. */
IMSEC_API size_t imsec_sip_msg_len(const imsec_sip_msg *m);

/* The first header field with `id`, or NULL. Follow with imsec_sip_hdr_next.
 */
IMSEC_API const imsec_sip_hdr *imsec_sip_hdr_first(const imsec_sip_msg *m,
                                                   imsec_sip_hid id);
IMSEC_API const imsec_sip_hdr *imsec_sip_hdr_next(const imsec_sip_msg *m,
                                                  const imsec_sip_hdr *h);
/* The first header field with this name (long or compact, any case; for
 * unknown headers the exact name, case-insensitively), or NULL. */
IMSEC_API const imsec_sip_hdr *imsec_sip_hdr_find(const imsec_sip_msg *m,
                                                  imsec_str name);

/* Iterate the comma-separated values of all fields with one id, in message
 * order (RFC 3261 §7.3.1: "a, b" on one line equals two lines). Commas
 * inside quoted strings and < > do not split. WWW-Authenticate,
 * Authorization, Proxy-Authenticate and Proxy-Authorization never split:
 * each field is one value. */
typedef struct imsec_sip_iter {
  int32_t hdr;    /* current field, -1 before the first */
  imsec_str rest; /* unread part of its value */
  int started;
} imsec_sip_iter;

#define IMSEC_SIP_ITER_INIT                                                    \
  { -1, {0, 0}, 0 }

/* Next value: 1 and `out` (trimmed; `line` if not NULL), 0 at the end,
 * IMSEC_ERR_PARSE for an empty element or an unbalanced quote / bracket. */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_value_next(const imsec_sip_msg *m, imsec_sip_hid id,
                     imsec_sip_iter *it, imsec_str *out, uint32_t *line);

/* The same split on raw list text (a field value outside a message):
 * `rest` starts as the whole text and advances; 1 and the next trimmed
 * element, 0 when `rest.p` is NULL (the end), IMSEC_ERR_PARSE for an
 * empty element, a trailing comma or an unbalanced quote / bracket. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_list_next(imsec_str *rest,
                                                 imsec_str *out);

/* Typed parsers of one value (also usable on any text). Each returns 0,
 * IMSEC_ERR_PARSE or IMSEC_ERR_LIMIT (more than max_params parameters, or a
 * number out of range). */
IMSEC_API IMSEC_MUST_USE int imsec_sip_via_parse(imsec_str v, size_t max_params,
                                                 imsec_sip_via *out);
IMSEC_API IMSEC_MUST_USE int
imsec_sip_addr_parse(imsec_str v, size_t max_params, imsec_sip_addr *out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_cseq_parse(imsec_str v,
                                                  imsec_sip_cseq *out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_callid_parse(imsec_str v,
                                                    imsec_str *out);
/* token or type/subtype or quoted-string, then parameters. */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_token_parse(imsec_str v, size_t max_params, imsec_sip_token *out);
IMSEC_API IMSEC_MUST_USE int
imsec_sip_secmech_parse(imsec_str v, size_t max_params, imsec_sip_secmech *out);
/* 1*DIGIT up to `max`. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_uint_parse(imsec_str v, uint64_t max,
                                                  uint64_t *out);
/* RFC 3261 §25.1 rfc1123-date ("Sat, 13 Nov 2010 23:29:00 GMT"). */
IMSEC_API IMSEC_MUST_USE int imsec_sip_date_parse(imsec_str v);

/* Iterators of typed list values across all fields of `id`: 1 and the
 * value, 0 at the end, or a negative error code. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_via_next(const imsec_sip_msg *m,
                                                imsec_sip_iter *it,
                                                imsec_sip_via *out);
/* For Contact, Route, Record-Route, Path, Service-Route,
 * P-Asserted-Identity, P-Preferred-Identity, P-Associated-URI. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_addr_next(const imsec_sip_msg *m,
                                                 imsec_sip_hid id,
                                                 imsec_sip_iter *it,
                                                 imsec_sip_addr *out);
/* For Require, Proxy-Require, Supported, Unsupported, Allow,
 * P-Visited-Network-ID, P-Access-Network-Info, Accept, Content-Type. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_token_next(const imsec_sip_msg *m,
                                                  imsec_sip_hid id,
                                                  imsec_sip_iter *it,
                                                  imsec_sip_token *out);
/* For Security-Client, Security-Server, Security-Verify. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_secmech_next(const imsec_sip_msg *m,
                                                    imsec_sip_hid id,
                                                    imsec_sip_iter *it,
                                                    imsec_sip_secmech *out);
/* Raw values of WWW-Authenticate, Authorization, Proxy-Authenticate,
 * Proxy-Authorization (one per field) for lib/digest. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_auth_next(const imsec_sip_msg *m,
                                                 imsec_sip_hid id,
                                                 imsec_sip_iter *it,
                                                 imsec_str *raw);

/* The Digest challenge or credentials of each WWW-Authenticate,
 * Proxy-Authenticate (challenges) or Authorization, Proxy-Authorization
 * (credentials) field, parsed by lib/digest (include/imsec/digest.h; pass
 * a struct imsec_digest_params). Returns 1 and the next one (its line in
 * *line if not NULL), 0 at the end, or the parser's error for a malformed
 * field (IMSEC_ERR_PARSE, IMSEC_ERR_UNSUPPORTED for another scheme,
 * IMSEC_ERR_LIMIT); the iterator has moved past it either way. */
struct imsec_digest_params;
IMSEC_API IMSEC_MUST_USE int
imsec_sip_digest_next(const imsec_sip_msg *m, imsec_sip_hid id,
                      imsec_sip_iter *it, struct imsec_digest_params *out,
                      uint32_t *line);

/*
 * Cached typed access to the single-valued core headers. Each parses its
 * field on first call and returns the cached result afterwards. The pointer
 * lives until the next parse or edit of the message.
 * Returns 0, IMSEC_ERR_NOTFOUND (no such field), IMSEC_ERR_PARSE,
 * IMSEC_ERR_LIMIT; for From/To/Call-ID/CSeq/Max-Forwards/Content-Length
 * also IMSEC_ERR_PARSE when the field occurs more than once.
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_via(imsec_sip_msg *m,
                                               const imsec_sip_via **out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_from(imsec_sip_msg *m,
                                                const imsec_sip_addr **out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_to(imsec_sip_msg *m,
                                              const imsec_sip_addr **out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_call_id(imsec_sip_msg *m,
                                                   imsec_str *out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_cseq(imsec_sip_msg *m,
                                                const imsec_sip_cseq **out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_max_forwards(imsec_sip_msg *m,
                                                        uint32_t *out);
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_content_length(imsec_sip_msg *m,
                                                          uint64_t *out);
/* Expires header (delta-seconds, at most 2**32-1). */
IMSEC_API IMSEC_MUST_USE int imsec_sip_get_expires(imsec_sip_msg *m,
                                                   uint32_t *out);
IMSEC_API IMSEC_MUST_USE int
imsec_sip_get_content_type(imsec_sip_msg *m, const imsec_sip_token **out);

/* ---------------------------------------------------------------- editor */

/*
 * Edit a parsed message without reparsing it; imsec_sip_msg_serialize
 * writes the result. Strings passed in are borrowed: they must live until
 * the message is serialised or parsed again. Every edit drops the typed
 * cache. Indexes are positions in m->hdrs (they shift after an insert).
 * The body is written as parsed; Content-Length is whatever the fields
 * say (replace it if you change the body length by other means).
 */
/* Insert a field before index `before` (m->nhdrs appends after the last
 * field). Returns 0, IMSEC_ERR_INVAL (bad index or a name that is not a
 * token), IMSEC_ERR_LIMIT (max_headers), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_msg_insert(imsec_sip_msg *m,
                                                  size_t before, imsec_str name,
                                                  imsec_str value);
/* Insert before the first field with the same id (or append when there is
 * none): the way a proxy adds Via, Record-Route or Path. */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_msg_push_top(imsec_sip_msg *m, imsec_str name, imsec_str value);
/* Remove field `idx`: 0 or IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_msg_remove(imsec_sip_msg *m, size_t idx);
/* Remove every field with `id`: the number removed. */
IMSEC_API size_t imsec_sip_msg_remove_all(imsec_sip_msg *m, imsec_sip_hid id);
/* Replace the value of field `idx`: 0 or IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_msg_replace(imsec_sip_msg *m, size_t idx,
                                                   imsec_str value);
/* Replace the Request-URI of a request: 0 or IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_msg_set_ruri(imsec_sip_msg *m,
                                                    imsec_str ruri);
/* Index of the first field with `id`, or -1. */
IMSEC_API long imsec_sip_msg_index(const imsec_sip_msg *m, imsec_sip_hid id);
/* Write the (edited) message into out[0..cap). Returns its length, or
 * IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_msg_serialize(const imsec_sip_msg *m,
                                                     char *out, size_t cap);

/*
 * RFC 3261 §18.2.1 and RFC 3581 §4, on a request just received: the top
 * Via gets `received=SRC_HOST` always (RFC 3581 §4 allows it even when the
 * sent-by host is the source address), and, when it carries `rport`,
 * `rport=SRC_PORT`. Any received or rport value the sender wrote is
 * removed first, so what the next hop reads is the real source. `src_host`
 * is an IP literal (IPv6 without brackets). The new field value is written
 * into buf[0..cap), which the message borrows until it is serialised or
 * parsed again. Returns 1 whenever it edited (so on every success),
 * IMSEC_ERR_NOTFOUND (no Via), IMSEC_ERR_PARSE (a malformed top Via),
 * IMSEC_ERR_LIMIT (with received the top Via would hold more parameters
 * than the message's max_params: answer 400 "Via has too many
 * parameters"), IMSEC_ERR_NOBUF, IMSEC_ERR_INVAL (no source host).
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_via_mark_received(imsec_sip_msg *m,
                                                         imsec_str src_host,
                                                         uint16_t src_port,
                                                         char *buf, size_t cap);

/* ---------------------------------------------------------------- builder */

/* Builds a message into the caller's buffer. Errors are sticky: after the
 * first one every call does nothing and imsec_sip_build_finish reports it.
 */
typedef struct imsec_sip_builder {
  char *buf;
  size_t cap;
  size_t len;
  int err;
} imsec_sip_builder;

IMSEC_API void imsec_sip_build_init(imsec_sip_builder *b, char *buf,
                                    size_t cap);
/* "METHOD SP Request-URI SP SIP/2.0 CRLF" */
IMSEC_API void imsec_sip_build_request(imsec_sip_builder *b, imsec_str method,
                                       imsec_str ruri);
/* "SIP/2.0 SP code SP reason CRLF"; code must be 100..699. */
IMSEC_API void imsec_sip_build_status(imsec_sip_builder *b, unsigned code,
                                      imsec_str reason);
/* "Name: value CRLF" */
IMSEC_API void imsec_sip_build_header(imsec_sip_builder *b, imsec_str name,
                                      imsec_str value);
/* "Name: number CRLF" */
IMSEC_API void imsec_sip_build_header_uint(imsec_sip_builder *b, imsec_str name,
                                           uint64_t value);
/* Append raw text (no CRLF added). */
IMSEC_API void imsec_sip_build_raw(imsec_sip_builder *b, imsec_str text);
/*
 * Start a response to a parsed request (RFC 3261 §8.2.6.2): status line,
 * then every Via, From, To, Call-ID and CSeq copied; `to_tag` (if not
 * empty) is added to To when it has no tag yet. Continue with
 * imsec_sip_build_header and end with imsec_sip_build_finish. Sets
 * IMSEC_ERR_INVAL when `req` is not a request or lacks a needed field.
 */
IMSEC_API void imsec_sip_build_response(imsec_sip_builder *b,
                                        imsec_sip_msg *req, unsigned code,
                                        imsec_str reason, imsec_str to_tag);
/*
 * Start a stateless error response to a request that could not be framed
 * or parsed (over max_msg, a header field over its limit, malformed): the
 * answer RFC 3261 §21.5.14 (513) or §21.4.1 (400) asks for, when enough of
 * it can be read. `p[0..n)` is what arrived, a partial header section
 * included (it may end mid-line). The request line must be complete; from
 * the header lines that follow (up to the empty line or the last complete
 * line), every Via, From, To, Call-ID and CSeq field of at most 8192
 * octets without control characters is taken; the rest is ignored. Then as
 * imsec_sip_build_response: continue with imsec_sip_build_header and end
 * with imsec_sip_build_finish. `method` (may be NULL) gets the request's
 * method, a slice of `p`, when the request line was read.
 * Returns 0, or IMSEC_ERR_PARSE (no readable request line: a response, or
 * not SIP; nothing is answered), IMSEC_ERR_UNSUPPORTED (an ACK: never
 * answered, RFC 3261 §17), IMSEC_ERR_INVAL (a field a response copies is
 * missing, unreadable or repeated), IMSEC_ERR_NOMEM; the builder's sticky
 * error is set as well on failure.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_build_refusal(imsec_sip_builder *b, const char *p, size_t n,
                        unsigned code, imsec_str reason, imsec_str to_tag,
                        imsec_str *method);

/* "Content-Length: N CRLF CRLF body". Returns the message length, or the
 * first error (IMSEC_ERR_NOBUF, IMSEC_ERR_INVAL). */
IMSEC_API IMSEC_MUST_USE int imsec_sip_build_finish(imsec_sip_builder *b,
                                                    imsec_str body);

/* ---------------------------------------------------------------- framer */

typedef enum imsec_sip_frame_kind {
  IMSEC_SIP_FRAME_NONE = 0, /* all input consumed; feed more */
  IMSEC_SIP_FRAME_MSG = 1,  /* one complete message in msg/msg_len */
  IMSEC_SIP_FRAME_PING = 2, /* a CRLFCRLF keepalive: send "\r\n" back */
  IMSEC_SIP_FRAME_PONG = 3, /* a CRLF keepalive answer (client role) */
} imsec_sip_frame_kind;

typedef struct imsec_sip_frame {
  imsec_sip_frame_kind kind;
  char *msg; /* into the framer's buffer; valid until the next feed */
  size_t msg_len;
} imsec_sip_frame;

/* Splits a TCP/TLS byte stream into messages by Content-Length (RFC 3261
 * §18.3), resumable at any byte boundary. */
typedef struct imsec_sip_framer {
  size_t max_msg;
  int client; /* 1: a lone CRLF between messages is a pong */
  char *buf;
  size_t have;   /* octets buffered */
  size_t scan;   /* where the search for the header end resumes */
  size_t need;   /* total octets of the current message once known */
  int crlfs;     /* CRLFs seen between messages */
  int delivered; /* a message was handed out; drop it on the next feed */
  int err;       /* sticky error */
} imsec_sip_framer;

/* Allocates one buffer of max_msg octets. `client` selects the keepalive
 * role (RFC 5626 §3.5.1: the server answers pings, the client sees pongs).
 * Returns 0 or IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_framer_init(imsec_sip_framer *f,
                                                   size_t max_msg, int client);
IMSEC_API void imsec_sip_framer_free(imsec_sip_framer *f);
/*
 * Feed stream octets. Consumes a prefix of `in` and reports one event.
 * Returns the number of octets consumed (call again with the rest until it
 * is all consumed and the event is NONE), or IMSEC_ERR_PARSE (no
 * Content-Length, a malformed or repeated one, garbage between messages),
 * IMSEC_ERR_LIMIT (the message would exceed max_msg). Errors are sticky:
 * the connection should be closed.
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_framer_feed(imsec_sip_framer *f,
                                                   const char *in, size_t len,
                                                   imsec_sip_frame *out);

/*
 * Stateless framing for a transport that keeps its own receive buffer
 * (net/): look at the octets received so far, p[0..n), and say what comes
 * first. Returns IMSEC_SIP_FRAME_NONE (the next message is incomplete),
 * IMSEC_SIP_FRAME_MSG (a whole message of *len octets, Content-Length
 * included), IMSEC_SIP_FRAME_PING (CRLFCRLF, *len = 4),
 * IMSEC_SIP_FRAME_PONG (CRLF, *len = 2), or IMSEC_ERR_PARSE (no, repeated
 * or malformed Content-Length; a CR without LF), IMSEC_ERR_LIMIT (the
 * message would exceed max_msg). Shares the Content-Length rules of the
 * framer above.
 */
IMSEC_API IMSEC_MUST_USE int imsec_sip_frame_peek(const char *p, size_t n,
                                                  size_t max_msg, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SIP_H */
