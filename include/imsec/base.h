/*
 * imsec base: error codes, slices, a bounded parsing cursor, hex and base64
 * codecs, constant-time compare and secure wipe.
 *
 * Everything here is sans-I/O and uses libc only. No function allocates
 * unless its comment says so; every output buffer is the caller's, with its
 * capacity passed in.
 */
#ifndef IMSEC_BASE_H
#define IMSEC_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the public API are exported; everything else is hidden
 * (-fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define IMSEC_API __attribute__((visibility("default")))
#define IMSEC_MUST_USE __attribute__((warn_unused_result))
#else
#define IMSEC_API
#define IMSEC_MUST_USE
#endif

/*
 * Error codes. Every fallible function returns 0 (or a non-negative count)
 * on success and one of these negative codes on failure. There is no
 * errno-style global.
 */
typedef enum imsec_err {
  IMSEC_OK = 0,
  IMSEC_ERR_INVAL = -1,        /* an argument is out of its domain */
  IMSEC_ERR_NOMEM = -2,        /* allocation failed */
  IMSEC_ERR_NOBUF = -3,        /* the caller's output buffer is too small */
  IMSEC_ERR_AGAIN = -4,        /* input ended early; call again with more */
  IMSEC_ERR_PARSE = -5,        /* input does not follow its grammar */
  IMSEC_ERR_LIMIT = -6,        /* input exceeds a configured limit */
  IMSEC_ERR_CRYPTO = -7,       /* the crypto backend failed */
  IMSEC_ERR_MAC = -8,          /* a MAC or authentication tag did not verify */
  IMSEC_ERR_SYNC = -9,         /* sequence number out of range (AKA resync) */
  IMSEC_ERR_NOTFOUND = -10,    /* no such item */
  IMSEC_ERR_EXISTS = -11,      /* the item already exists */
  IMSEC_ERR_IO = -12,          /* a file, socket or database operation failed */
  IMSEC_ERR_STATE = -13,       /* not allowed in the current state */
  IMSEC_ERR_UNSUPPORTED = -14, /* recognised but not supported */
  IMSEC_ERR_AUTH = -15,        /* authentication failed */
  IMSEC_ERR_TRUST = -16,       /* a peer was not trusted */
  IMSEC_ERR_TIMEOUT = -17,     /* a deadline passed */
  IMSEC_ERR_CLOSED = -18,      /* the flow or object is closed */
  IMSEC_ERR_REPLAY = -19,      /* a replayed value was seen */
  IMSEC_ERR_STALE = -20,       /* a value is too old (e.g. nonce lifetime) */
  IMSEC_ERR_CONFIG = -21,      /* a configuration value is invalid */
  IMSEC_ERR_PERM = -22,        /* refused by policy or file permissions */
  IMSEC_ERR_INTERNAL = -23,    /* a bug: an invariant did not hold */
  IMSEC_ERR_BUSY = -24,        /* held by someone else now; try again later */
} imsec_err;

/* The smallest error code; codes run from -1 down to this one. */
#define IMSEC_ERR_MIN IMSEC_ERR_BUSY

/* A fixed English sentence for an error code (never NULL; unknown codes get
 * "unknown error"). The string is static. */
IMSEC_API const char *imsec_strerror(int err);

/* The short symbolic name of a code, e.g. "IMSEC_ERR_PARSE" (static). */
IMSEC_API const char *imsec_errname(int err);

/* Guard: return a negative result to the caller, keep the happy path
 * straight. */
#define IMSEC_GUARD(expr)                                                      \
  do {                                                                         \
    int imsec_guard_rv_ = (expr);                                              \
    if (imsec_guard_rv_ < 0)                                                   \
      return imsec_guard_rv_;                                                  \
  } while (0)

/* Guard that jumps to a cleanup label with `rv` set. */
#define IMSEC_GUARD_GOTO(rv, expr, label)                                      \
  do {                                                                         \
    (rv) = (expr);                                                             \
    if ((rv) < 0)                                                              \
      goto label;                                                              \
  } while (0)

/* ---------------------------------------------------------------- slices */

/* A borrowed, non-NUL-terminated run of text: `p` points into somebody
 * else's buffer, which must outlive the slice. */
typedef struct imsec_str {
  const char *p;
  size_t len;
} imsec_str;

/* A borrowed run of octets. */
typedef struct imsec_bytes {
  const uint8_t *p;
  size_t len;
} imsec_bytes;

#define IMSEC_STR_NULL ((imsec_str){NULL, 0})
/* A slice of a string literal: IMSEC_STR_LIT("abc"). */
#define IMSEC_STR_LIT(s) ((imsec_str){(s), sizeof(s) - 1})

/* A slice of a NUL-terminated C string (NULL gives the empty slice). Never
 * use on wire bytes: they are not NUL-terminated. */
IMSEC_API imsec_str imsec_str_c(const char *s);
IMSEC_API imsec_str imsec_str_make(const char *p, size_t len);

/* Exact, case-sensitive equality. Not for secrets. */
IMSEC_API int imsec_str_eq(imsec_str a, imsec_str b);
/* ASCII case-insensitive equality (tokens, host names). Not for secrets. */
IMSEC_API int imsec_str_ieq(imsec_str a, imsec_str b);
IMSEC_API int imsec_str_ieq_c(imsec_str a, const char *b);
IMSEC_API int imsec_str_istarts_with(imsec_str s, imsec_str prefix);
IMSEC_API int imsec_str_iends_with(imsec_str s, imsec_str suffix);
/* Trim SP and HTAB from both ends. */
IMSEC_API imsec_str imsec_str_trim(imsec_str s);
/* Sub-slice [off, off+len), clamped to the slice. */
IMSEC_API imsec_str imsec_str_sub(imsec_str s, size_t off, size_t len);
/* Index of the first `c`, or -1. */
IMSEC_API long imsec_str_find(imsec_str s, char c);

/* Parse a decimal unsigned integer occupying the whole slice. At most `max`.
 * Returns 0, IMSEC_ERR_PARSE (empty, non-digit) or IMSEC_ERR_LIMIT (> max). */
IMSEC_API IMSEC_MUST_USE int imsec_str_to_u64(imsec_str s, uint64_t max,
                                              uint64_t *out);

/* Copy a slice into a NUL-terminated buffer of `cap` bytes.
 * Returns the length, or IMSEC_ERR_NOBUF when len + 1 > cap. */
IMSEC_API IMSEC_MUST_USE int imsec_str_copy(imsec_str s, char *buf, size_t cap);

/* ---------------------------------------------------------------- cursor */

/*
 * A bounded read cursor over borrowed text. Every read checks the bound; no
 * read goes past `end`. The cursor never allocates and never needs a NUL.
 */
typedef struct imsec_cursor {
  const char *p;
  const char *end;
} imsec_cursor;

IMSEC_API void imsec_cursor_init(imsec_cursor *c, const char *p, size_t len);
IMSEC_API size_t imsec_cursor_left(const imsec_cursor *c);
IMSEC_API int imsec_cursor_eof(const imsec_cursor *c);
/* The next character, or -1 at the end. */
IMSEC_API int imsec_cursor_peek(const imsec_cursor *c);
/* Consume `ch` if it is next: 1 if consumed, 0 if not. */
IMSEC_API int imsec_cursor_accept(imsec_cursor *c, char ch);
/* Consume `ch`, case-insensitively for letters: 1 if consumed, 0 if not. */
IMSEC_API int imsec_cursor_accept_i(imsec_cursor *c, char ch);
/* Consume `lit` if it is next (ASCII case-insensitive): 1 or 0. */
IMSEC_API int imsec_cursor_accept_lit_i(imsec_cursor *c, const char *lit);
/* Consume the longest run of characters for which `pred` holds (at most
 * `max` of them; 0 means no bound). */
IMSEC_API imsec_str imsec_cursor_span(imsec_cursor *c, int (*pred)(int ch),
                                      size_t max);
/* Consume everything up to (not including) `ch`. Returns 0 and the slice, or
 * IMSEC_ERR_AGAIN (and consumes nothing) if `ch` does not occur. */
IMSEC_API IMSEC_MUST_USE int imsec_cursor_until(imsec_cursor *c, char ch,
                                                imsec_str *out);
/* Skip SP and HTAB. Returns how many were skipped. */
IMSEC_API size_t imsec_cursor_skip_ws(imsec_cursor *c);
/* The remaining text as a slice (consumes nothing). */
IMSEC_API imsec_str imsec_cursor_rest(const imsec_cursor *c);

/* Character classes (ASCII, locale-independent). */
IMSEC_API int imsec_is_digit(int ch);
IMSEC_API int imsec_is_alpha(int ch);
IMSEC_API int imsec_is_alnum(int ch);
IMSEC_API int imsec_is_hexdigit(int ch);
IMSEC_API int imsec_is_ws(int ch); /* SP or HTAB */
IMSEC_API int imsec_to_lower(int ch);

/* ----------------------------------------------------------- hex, base64 */

/* Lowercase hex of `len` octets into `out` (capacity `cap`), NUL-terminated.
 * Returns 2*len, or IMSEC_ERR_NOBUF when cap < 2*len + 1. */
IMSEC_API IMSEC_MUST_USE int imsec_hex_encode(const uint8_t *in, size_t len,
                                              char *out, size_t cap);

/* Decode hex text (either case) into `out`. Returns the number of octets, or
 * IMSEC_ERR_PARSE (odd length or a non-hex character), IMSEC_ERR_NOBUF
 * (more than `cap` octets). Empty input gives 0. */
IMSEC_API IMSEC_MUST_USE int imsec_hex_decode(const char *in, size_t len,
                                              uint8_t *out, size_t cap);

/* Length of the base64 text for `n` octets (without NUL). */
IMSEC_API size_t imsec_base64_encoded_len(size_t n);

/* RFC 4648 §4 base64 with padding, NUL-terminated. Returns the text length,
 * or IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_base64_encode(const uint8_t *in, size_t len,
                                                 char *out, size_t cap);

/* Strict RFC 4648 §4 decode: the standard alphabet, padding required (length
 * a multiple of 4), '=' only at the end, no whitespace, and the unused bits
 * of the last group zero (RFC 4648 §3.5, canonical encoding). Returns the
 * number of octets, or IMSEC_ERR_PARSE, IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_base64_decode(const char *in, size_t len,
                                                 uint8_t *out, size_t cap);

/* ---------------------------------------------------------------- log rate */

/*
 * A log-line budget: at most `per_window` lines per `window_ms`, so input
 * an attacker controls cannot flood the log; lines over the budget are
 * counted and the count is reported with the next line that may go out.
 * Embedded by the caller, zero-initialised, then `per_window` and
 * `window_ms` set (0 in either: 10 lines per 1000 ms). Not thread-safe: one
 * per thread or per element.
 */
typedef struct imsec_lograte {
  uint32_t per_window;
  int64_t window_ms;
  int64_t window_start;
  uint32_t used;       /* lines in the current window */
  uint64_t suppressed; /* lines held back since the last one written */
} imsec_lograte;

/* May a line go out at `now_ms` (a monotonic clock)? Returns 1 and sets
 * *suppressed (may be NULL) to how many lines were held back since the last
 * one that went out (the caller says so in this line), or 0 when the line
 * is to be dropped (it is counted). */
IMSEC_API int imsec_lograte_take(imsec_lograte *r, int64_t now_ms,
                                 uint64_t *suppressed);

/* ---------------------------------------------------------------- secrets */

/* Constant-time equality of two equal-length buffers: 1 when equal, else 0.
 * The time depends on `len` only. */
IMSEC_API int imsec_ct_eq(const void *a, const void *b, size_t len);

/* Constant-time equality of two slices of possibly different lengths: the
 * time depends on the lengths only, not on the contents. */
IMSEC_API int imsec_ct_eq_str(imsec_str a, imsec_str b);

/* Overwrite `len` bytes with zeros in a way the compiler may not elide. */
IMSEC_API void imsec_wipe(void *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_BASE_H */
