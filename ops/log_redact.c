/*
 * The logger's identity scanner (include/imsec/log_redact.h says what
 * counts as an identity): one pass over the text, no regular expressions,
 * no allocation. Text is copied lazily: `copied` marks how far the output
 * has caught up, so a bare user@domain found at its '@' can still take
 * the user characters before it.
 */
#include "imsec/log_redact.h"

#include <string.h>

typedef struct emit {
  char *out;
  size_t cap;
  size_t n; /* the length the whole output needs */
} emit;

static void put(emit *e, const char *s, size_t len) {
  if (e->cap > 0 && e->n + 1 < e->cap) {
    size_t room = e->cap - 1 - e->n;
    memcpy(e->out + e->n, s, len < room ? len : room);
  }
  e->n += len;
}

static int is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

/* The user characters of a bare name: RFC 3261 §25.1 unreserved and most
 * user-unreserved marks, but not those log text uses around a name
 * (quotes, parentheses, '=', ',', ';', ':'), so "IMPI='a@b'" gives up
 * only "a@b". */
static int is_user(unsigned char c) {
  return is_alnum(c) || (c != 0 && strchr("-_.+!~*%$&#/^`{|}", c) != NULL);
}

static int is_dom(unsigned char c) {
  return is_alnum(c) || c == '.' || c == '-';
}

static int is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

static int is_uri_end(unsigned char c) {
  return c <= 0x20 || c == 0x7f || strchr("<>\"'(),\\", c) != NULL;
}

static unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* A domain at text[d..len): a host name (starting with a letter or
 * digit, a trailing '.' or '-' left out) or an IPv6 literal, then an
 * optional ":port". Returns its end, or d when there is none. */
static size_t domain_end(const char *text, size_t len, size_t d) {
  const unsigned char *t = (const unsigned char *)text;
  size_t e = d;
  if (e < len && t[e] == '[') {
    e++;
    while (e < len && (is_hex(t[e]) || t[e] == ':' || t[e] == '.'))
      e++;
    if (e >= len || t[e] != ']' || e == d + 1)
      return d;
    e++;
  } else {
    if (e >= len || !is_alnum(t[e]))
      return d;
    while (e < len && is_dom(t[e]))
      e++;
    while (e > d && (t[e - 1] == '.' || t[e - 1] == '-'))
      e--;
  }
  if (e + 1 < len && t[e] == ':' && t[e + 1] >= '0' && t[e + 1] <= '9') {
    e++;
    while (e < len && t[e] >= '0' && t[e] <= '9')
      e++;
  }
  return e;
}

/* The pseudonym of text[s..e): the scheme (the first `scheme` octets)
 * and everything after the first '@' in lower case, so the same identity
 * written in another case gets the same pseudonym (RFC 3261 §19.1.4: the
 * scheme and host compare without case, the user part with it). */
static void pseudonym(emit *e, const char *text, size_t s, size_t end,
                      size_t scheme, imsec_pseudonym_fn fn, void *arg) {
  char norm[1024];
  char ps[IMSEC_PSEUDONYM_LEN + 1];
  size_t n = end - s;
  if (n <= sizeof norm) {
    int at = 0;
    for (size_t k = 0; k < n; k++) {
      unsigned char c = (unsigned char)text[s + k];
      if (k < scheme || at)
        c = lower(c);
      if (c == '@')
        at = 1;
      norm[k] = (char)c;
    }
    fn(arg, norm, n, ps);
  } else {
    /* Longer than any real identity: hashed as written. */
    fn(arg, text + s, n, ps);
  }
  ps[IMSEC_PSEUDONYM_LEN] = 0;
  put(e, ps, strlen(ps));
}

/* The scheme of an identity URI at text[i..len): its length with the
 * colon, or 0. */
static size_t scheme_at(const char *text, size_t len, size_t i, int *tel) {
  static const char *const schemes[] = {"sips:", "sip:", "tel:"};
  if (i > 0 && is_alnum((unsigned char)text[i - 1]))
    return 0;
  for (size_t k = 0; k < 3; k++) {
    size_t sl = strlen(schemes[k]);
    if (len - i < sl)
      continue;
    size_t m = 0;
    while (m < sl && lower((unsigned char)text[i + m]) == schemes[k][m])
      m++;
    if (m == sl) {
      *tel = k == 2;
      return sl;
    }
  }
  return 0;
}

/* `keep` as a whole word at text[i..len). */
static int keep_at(const char *text, size_t len, size_t i, const char *keep,
                   size_t keep_len) {
  const unsigned char *t = (const unsigned char *)text;
  if (!keep || keep_len == 0 || len - i < keep_len)
    return 0;
  if (i > 0 && (is_user(t[i - 1]) || t[i - 1] == '@'))
    return 0;
  if (memcmp(text + i, keep, keep_len) != 0) /* no secret: a Call-ID */
    return 0;
  size_t e = i + keep_len;
  return e == len || !(is_user(t[e]) || is_dom(t[e]) || t[e] == '@');
}

size_t imsec_log_redact(const char *text, size_t len, const char *keep,
                        size_t keep_len, imsec_pseudonym_fn fn, void *arg,
                        char *out, size_t cap) {
  emit e = {out, cap, 0};
  const unsigned char *t = (const unsigned char *)text;
  size_t copied = 0;
  size_t i = 0;
  while (i < len) {
    if (keep_at(text, len, i, keep, keep_len)) {
      i += keep_len;
      put(&e, text + copied, i - copied);
      copied = i;
      continue;
    }
    int tel = 0;
    size_t sl = scheme_at(text, len, i, &tel);
    if (sl > 0) {
      size_t end = i + sl;
      while (end < len && !is_uri_end(t[end]))
        end++;
      while (end > i + sl && strchr(".:;", t[end - 1]) != NULL)
        end--;
      size_t id_end = i + sl;
      while (id_end < end && t[id_end] != ';' && t[id_end] != '?')
        id_end++;
      int ident = id_end > i + sl &&
                  (tel || memchr(text + i + sl, '@', id_end - i - sl));
      if (ident) {
        put(&e, text + copied, i - copied);
        pseudonym(&e, text, i, id_end, sl, fn, arg);
        copied = i = id_end;
        continue;
      }
      /* A host URI: the scheme stays, what follows is scanned. */
      i += sl;
      continue;
    }
    if (t[i] == '@') {
      size_t s = i;
      while (s > copied && is_user(t[s - 1]))
        s--;
      size_t d = s < i ? domain_end(text, len, i + 1) : i + 1;
      if (s < i && d > i + 1) {
        /* "a@b@c": one name, so no "@c" is left to pair with the
         * pseudonym before it. */
        while (d < len && t[d] == '@') {
          size_t d2 = domain_end(text, len, d + 1);
          if (d2 == d + 1)
            break;
          d = d2;
        }
        put(&e, text + copied, s - copied);
        pseudonym(&e, text, s, d, 0, fn, arg);
        copied = i = d;
        continue;
      }
    }
    i++;
  }
  put(&e, text + copied, len - copied);
  if (cap > 0)
    out[e.n < cap ? e.n : cap - 1] = 0;
  return e.n;
}
