/* Internal helpers of lib/sip: character classes (RFC 3261 §25.1) and a
 * small lexer over imsec_cursor. Not part of the public API. */
#ifndef IMSEC_SIP_INT_H
#define IMSEC_SIP_INT_H

#include <string.h>

#include "imsec/sip.h"

/* Character class bits. */
enum {
  LX_TOKEN = 1 << 0,   /* token */
  LX_WORD = 1 << 1,    /* word (Call-ID) */
  LX_UNRES = 1 << 2,   /* unreserved = alphanum / mark */
  LX_USER = 1 << 3,    /* user-unreserved */
  LX_PASS = 1 << 4,    /* password chars besides unreserved */
  LX_PARAM = 1 << 5,   /* param-unreserved */
  LX_HNV = 1 << 6,     /* hnv-unreserved */
  LX_URIC = 1 << 7,    /* uric besides unreserved and escaped */
  LX_CTL = 1 << 8,     /* CTL: 0x00-0x1f, 0x7f */
  LX_HOST = 1 << 9,    /* alphanum "-" "." */
  LX_GENVAL = 1 << 10, /* token / host chars for gen-value (":" "[" "]") */
  LX_TEL = 1 << 11,    /* tel phonedigit-hex and visual separators */
  LX_SPLIT = 1 << 12,  /* octets that matter when splitting lists */
  LX_LABEL = 1 << 13,  /* domainlabel: alphanum / "-" */
};

extern const uint16_t imsec_sip_ctab[256];

static inline int lx_is(int ch, unsigned cls) {
  return (imsec_sip_ctab[(unsigned char)ch] & cls) != 0;
}

static inline int lx_digit(int ch) {
  return ch >= '0' && ch <= '9';
}
static inline int lx_alpha(int ch) {
  return (unsigned)((ch | 0x20) - 'a') < 26u;
}
static inline int lx_alnum(int ch) {
  return lx_digit(ch) || lx_alpha(ch);
}
static inline int lx_hex(int ch) {
  return lx_digit(ch) || (unsigned)((ch | 0x20) - 'a') < 6u;
}
static inline int lx_lower(int ch) {
  return (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch;
}

/* Case-insensitive equality of a slice and a lower-case literal, length
 * first (hot: parameter names). */
static inline int lx_ieq(imsec_str s, const char *lit, size_t n) {
  if (s.len != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (lx_lower((unsigned char)s.p[i]) != (unsigned char)lit[i])
      return 0;
  }
  return 1;
}
#define LX_IEQ(s, lit) lx_ieq((s), (lit), sizeof(lit) - 1)

/* Inline forms of the base cursor and slice helpers for the hot paths. */
static inline void lx_init(imsec_cursor *c, const char *p, size_t len) {
  c->p = p;
  c->end = p ? p + len : p;
}
static inline int lx_accept(imsec_cursor *c, char ch) {
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}
static inline imsec_str lx_rest(const imsec_cursor *c) {
  imsec_str r = {c->p, (size_t)(c->end - c->p)};
  return r;
}
static inline long lx_find(imsec_str s, char ch) {
  const char *hit = s.len ? memchr(s.p, ch, s.len) : NULL;
  return hit ? (long)(hit - s.p) : -1;
}

/* Skip SWS: SP, HTAB and folds (CRLF followed by SP/HTAB). */
static inline void lx_sws(imsec_cursor *c) {
  const char *p = c->p, *end = c->end;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if (end - p >= 3 && p[0] == '\r' && p[1] == '\n' &&
        (p[2] == ' ' || p[2] == '\t')) {
      p += 3;
      continue;
    }
    c->p = p;
    return;
  }
}

/* 1 if LWS (at least one whitespace) was skipped. */
static inline int lx_lws(imsec_cursor *c) {
  const char *s = c->p;
  lx_sws(c);
  return c->p != s;
}

static inline int lx_peek(const imsec_cursor *c) {
  return c->p < c->end ? (unsigned char)*c->p : -1;
}

/* Span characters of class `cls`; returns the slice (maybe empty). */
static inline imsec_str lx_span(imsec_cursor *c, unsigned cls) {
  /* locals, so the loop keeps the pointer in a register */
  const char *s = c->p, *p = s, *end = c->end;
  while (p < end && lx_is(*p, cls))
    p++;
  c->p = p;
  imsec_str r = {s, (size_t)(p - s)};
  return r;
}

/* A non-empty token, or IMSEC_ERR_PARSE. */
int lx_token(imsec_cursor *c, imsec_str *out);
/* A quoted-string at the cursor ('"' next): `out` gets the inside (quoted
 * pairs kept). IMSEC_ERR_PARSE when unterminated or holding a bare CTL. */
int lx_quoted(imsec_cursor *c, imsec_str *out);
/* One generic parameter at the cursor: SWS ";" SWS name [SWS "=" SWS
 * value]. Returns 1 (parsed), 0 (no ';' next; cursor unchanged) or
 * IMSEC_ERR_PARSE. */
int lx_param(imsec_cursor *c, imsec_sip_param *out);
/* All parameters: fills `raw`, counts them against max (0: no bound) and
 * calls `fn` on each (may be NULL). Stops before the first non-';'.
 * Returns the count or a negative error. */
typedef int (*lx_param_fn)(void *ctx, const imsec_sip_param *p);
int lx_params(imsec_cursor *c, size_t max, imsec_str *raw, lx_param_fn fn,
              void *ctx);
/* The end of the value: SWS then end of input, else IMSEC_ERR_PARSE. */
int lx_end(imsec_cursor *c);

/* Host (RFC 3261 §25.1 host = hostname / IPv4address / IPv6reference) at
 * the cursor; port is parsed by the caller. */
int lx_host(imsec_cursor *c, imsec_str *host, imsec_sip_host_type *type);
/* The 16 octets of a bracketed IPv6 reference ("[2001:db8::1]"), for
 * comparing addresses rather than their spellings. 0 or IMSEC_ERR_PARSE. */
int lx_ipv6_bytes(imsec_str host, uint8_t out[16]);
/* URI parse without clearing `u` first (see uri.c). */
int lx_uri(imsec_str text, size_t max_params, imsec_sip_uri *u);
/* 1*DIGIT up to max. */
int lx_uint(imsec_str s, uint64_t max, uint64_t *out);
/* q value "0" / "1" / "0.xxx" / "1.000" in thousandths. */
int lx_qvalue(imsec_str s, int *out);

#endif
