/*
 * imsec SIP URIs: sip, sips (RFC 3261 §19.1, §25.1) and tel (RFC 3966),
 * zero-copy, and URI comparison per RFC 3261 §19.1.4.
 *
 * Every imsec_str in a parsed URI borrows from the text given to
 * imsec_sip_uri_parse and lives as long as that text. Escapes (%XX) are kept
 * as written; compare with imsec_sip_uri_eq, which decodes them.
 */
#ifndef IMSEC_SIP_URI_H
#define IMSEC_SIP_URI_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imsec_sip_scheme {
  IMSEC_SIP_SCHEME_OTHER = 0, /* an absoluteURI of another scheme */
  IMSEC_SIP_SCHEME_SIP = 1,
  IMSEC_SIP_SCHEME_SIPS = 2,
  IMSEC_SIP_SCHEME_TEL = 3,
} imsec_sip_scheme;

typedef enum imsec_sip_host_type {
  IMSEC_SIP_HOST_NONE = 0,
  IMSEC_SIP_HOST_NAME = 1,
  IMSEC_SIP_HOST_IPV4 = 2,
  IMSEC_SIP_HOST_IPV6 = 3, /* `host` keeps the brackets: "[::1]" */
} imsec_sip_host_type;

typedef struct imsec_sip_uri {
  imsec_sip_scheme scheme;
  imsec_str scheme_text; /* as written, e.g. "SIP" */
  /* sip/sips: userinfo; tel: user is the telephone-subscriber number
   * (without parameters). */
  imsec_str user;
  imsec_str password;
  int has_password;
  imsec_str host; /* sip/sips only */
  imsec_sip_host_type host_type;
  uint16_t port;
  int has_port;
  /* Raw parameter text including the leading ';' (empty when none); walk
   * it with imsec_sip_param_next (sip.h). */
  imsec_str params;
  /* Raw header text after '?' (without it; empty when none). */
  imsec_str headers;
  int has_headers;
  /* Well-known sip parameters found in `params` (empty when absent). */
  imsec_str transport, user_param, method, maddr, ttl;
  int lr;
  /* tel: 1 for a global number ("+..."). */
  int tel_global;
  /* OTHER: everything after the ':'. */
  imsec_str opaque;
} imsec_sip_uri;

/* Parse one URI occupying the whole slice. sip/sips follow RFC 3261 §25.1
 * (userinfo is found at the last '@' before the host, so user parts holding
 * ';', '?', '/' and ',' parse); tel follows RFC 3966 §3; any other scheme is
 * accepted as an RFC 3261 absoluteURI (scheme ":" 1*uric) with scheme OTHER.
 * `max_params` bounds the number of URI parameters (0: no bound).
 * Returns 0, IMSEC_ERR_PARSE (not a URI, bad escape, bad host or port, space
 * or control inside) or IMSEC_ERR_LIMIT (too many parameters). */
IMSEC_API IMSEC_MUST_USE int
imsec_sip_uri_parse(imsec_str text, size_t max_params, imsec_sip_uri *out);

/* RFC 3261 §19.1.4 equality of two parsed URIs: sip and sips never match;
 * userinfo and other parts compare with escapes decoded, userinfo case-
 * sensitively, the rest case-insensitively; an explicit port never equals an
 * absent one; user, ttl, method, maddr and transport parameters must match
 * when either side has them, other parameters only when both have them; URI
 * headers must match both ways. tel URIs (RFC 3966 §4): numbers equal after
 * removing visual separators, and the same parameters. Other schemes compare
 * their text case-insensitively. Returns 1 when equal, else 0. */
IMSEC_API int imsec_sip_uri_eq(const imsec_sip_uri *a, const imsec_sip_uri *b);

/* Walk raw URI parameter text (u->params, ";a=b;lr"): 1 and the next
 * name/value (escapes kept; value empty and has_value 0 without '='), 0 at
 * the end. `rest` advances. */
IMSEC_API int imsec_sip_uri_param_next(imsec_str *rest, imsec_str *name,
                                       imsec_str *value, int *has_value);

/* Decode %XX escapes of `in` into `out` (capacity `cap`). Returns the
 * decoded length, IMSEC_ERR_PARSE (a bad escape) or IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_sip_unescape(imsec_str in, char *out,
                                                size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SIP_URI_H */
