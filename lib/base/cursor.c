#include <string.h>

#include "imsec/base.h"

void imsec_cursor_init(imsec_cursor *c, const char *p, size_t len) {
  c->p = p;
  c->end = p ? p + len : p; /* NULL + 0 is undefined in C */
}

size_t imsec_cursor_left(const imsec_cursor *c) {
  return (size_t)(c->end - c->p);
}

int imsec_cursor_eof(const imsec_cursor *c) {
  return c->p >= c->end;
}

int imsec_cursor_peek(const imsec_cursor *c) {
  return c->p < c->end ? (unsigned char)*c->p : -1;
}

int imsec_cursor_accept(imsec_cursor *c, char ch) {
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

int imsec_cursor_accept_i(imsec_cursor *c, char ch) {
  if (c->p < c->end && imsec_to_lower((unsigned char)*c->p) ==
                           imsec_to_lower((unsigned char)ch)) {
    c->p++;
    return 1;
  }
  return 0;
}

int imsec_cursor_accept_lit_i(imsec_cursor *c, const char *lit) {
  imsec_str l = imsec_str_c(lit);
  imsec_str rest = imsec_cursor_rest(c);
  if (!imsec_str_istarts_with(rest, l))
    return 0;
  c->p += l.len;
  return 1;
}

imsec_str imsec_cursor_span(imsec_cursor *c, int (*pred)(int ch), size_t max) {
  const char *start = c->p;
  while (c->p < c->end && (max == 0 || (size_t)(c->p - start) < max) &&
         pred((unsigned char)*c->p))
    c->p++;
  imsec_str r = {start, (size_t)(c->p - start)};
  return r;
}

int imsec_cursor_until(imsec_cursor *c, char ch, imsec_str *out) {
  size_t left = imsec_cursor_left(c);
  const char *hit = left ? memchr(c->p, ch, left) : NULL;
  if (!hit)
    return IMSEC_ERR_AGAIN;
  out->p = c->p;
  out->len = (size_t)(hit - c->p);
  c->p = hit;
  return 0;
}

size_t imsec_cursor_skip_ws(imsec_cursor *c) {
  const char *start = c->p;
  while (c->p < c->end && imsec_is_ws((unsigned char)*c->p))
    c->p++;
  return (size_t)(c->p - start);
}

imsec_str imsec_cursor_rest(const imsec_cursor *c) {
  imsec_str r = {c->p, imsec_cursor_left(c)};
  return r;
}
