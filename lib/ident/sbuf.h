/*
 * A bounded sentence builder for lib/ (which has no stdio): appends text
 * into a caller's buffer, truncating but always NUL-terminating, and counts
 * what it would have written. Private to lib/ident and lib/trust.
 */
#ifndef IMSEC_LIB_IDENT_SBUF_H
#define IMSEC_LIB_IDENT_SBUF_H

#include <stddef.h>

#include "imsec/base.h"

typedef struct imsec_sbuf {
  char *buf;
  size_t cap;
  size_t len; /* what was asked for; may exceed cap - 1 */
} imsec_sbuf;

static inline void imsec_sbuf_init(imsec_sbuf *b, char *buf, size_t cap) {
  b->buf = buf;
  b->cap = cap;
  b->len = 0;
  if (cap)
    buf[0] = '\0';
}

static inline void imsec_sbuf_put(imsec_sbuf *b, imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    if (b->cap && b->len < b->cap - 1) {
      b->buf[b->len] = s.p[i];
      b->buf[b->len + 1] = '\0';
    }
    b->len++;
  }
}

static inline void imsec_sbuf_add(imsec_sbuf *b, const char *s) {
  imsec_sbuf_put(b, imsec_str_c(s));
}

static inline void imsec_sbuf_num(imsec_sbuf *b, size_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < sizeof(tmp));
  char out[24];
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  imsec_sbuf_put(b, imsec_str_make(out, n));
}

#endif
