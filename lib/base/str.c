#include <string.h>

#include "imsec/base.h"

/* Slices carry text that is not secret: tokens, names, header values.
 * Secrets go through imsec_ct_eq (secret.c). */

imsec_str imsec_str_c(const char *s) {
  imsec_str r = {s, s ? strlen(s) : 0};
  return r;
}

imsec_str imsec_str_make(const char *p, size_t len) {
  imsec_str r = {p, len};
  return r;
}

int imsec_is_digit(int ch) {
  return ch >= '0' && ch <= '9';
}
int imsec_is_alpha(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
int imsec_is_alnum(int ch) {
  return imsec_is_alpha(ch) || imsec_is_digit(ch);
}
int imsec_is_hexdigit(int ch) {
  return imsec_is_digit(ch) || (ch >= 'a' && ch <= 'f') ||
         (ch >= 'A' && ch <= 'F');
}
int imsec_is_ws(int ch) {
  return ch == ' ' || ch == '\t';
}
int imsec_to_lower(int ch) {
  return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

int imsec_str_eq(imsec_str a, imsec_str b) {
  if (a.len != b.len)
    return 0;
  /* no secret: text equality for names and tokens (base.h: "not for
   * secrets"); secrets go through imsec_ct_eq / imsec_ct_eq_str */
  return a.len == 0 || memcmp(a.p, b.p, a.len) == 0;
}

static int ieq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (imsec_to_lower((unsigned char)a[i]) !=
        imsec_to_lower((unsigned char)b[i]))
      return 0;
  }
  return 1;
}

int imsec_str_ieq(imsec_str a, imsec_str b) {
  return a.len == b.len && ieq_n(a.p, b.p, a.len);
}

int imsec_str_ieq_c(imsec_str a, const char *b) {
  return imsec_str_ieq(a, imsec_str_c(b));
}

int imsec_str_istarts_with(imsec_str s, imsec_str prefix) {
  return s.len >= prefix.len && ieq_n(s.p, prefix.p, prefix.len);
}

int imsec_str_iends_with(imsec_str s, imsec_str suffix) {
  return s.len >= suffix.len &&
         ieq_n(s.p + (s.len - suffix.len), suffix.p, suffix.len);
}

imsec_str imsec_str_trim(imsec_str s) {
  while (s.len > 0 && imsec_is_ws((unsigned char)s.p[0])) {
    s.p++;
    s.len--;
  }
  while (s.len > 0 && imsec_is_ws((unsigned char)s.p[s.len - 1]))
    s.len--;
  return s;
}

imsec_str imsec_str_sub(imsec_str s, size_t off, size_t len) {
  if (off > s.len)
    off = s.len;
  if (len > s.len - off)
    len = s.len - off;
  imsec_str r = {s.p ? s.p + off : s.p, len};
  return r;
}

long imsec_str_find(imsec_str s, char c) {
  const char *hit = s.len ? memchr(s.p, c, s.len) : NULL;
  return hit ? (long)(hit - s.p) : -1;
}

int imsec_str_to_u64(imsec_str s, uint64_t max, uint64_t *out) {
  if (s.len == 0)
    return IMSEC_ERR_PARSE;
  uint64_t v = 0;
  for (size_t i = 0; i < s.len; i++) {
    int ch = (unsigned char)s.p[i];
    if (!imsec_is_digit(ch))
      return IMSEC_ERR_PARSE;
    unsigned d = (unsigned)(ch - '0');
    if (v > (max - d) / 10)
      return IMSEC_ERR_LIMIT;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int imsec_str_copy(imsec_str s, char *buf, size_t cap) {
  if (cap == 0 || s.len > cap - 1 || s.len > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  if (s.len)
    memcpy(buf, s.p, s.len);
  buf[s.len] = '\0';
  return (int)s.len;
}
