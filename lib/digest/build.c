/*
 * Building Digest challenge and credentials values into a caller buffer
 * (RFC 3261 §25.1, RFC 7616 §3.3-3.4).
 */
#include <string.h>

#include "imsec/digest.h"

typedef struct writer {
  char *buf;
  size_t cap;
  size_t len;
  int err;
} writer;

static void put(writer *w, const char *p, size_t n) {
  if (w->err)
    return;
  if (n > w->cap || w->len > w->cap - n) {
    w->err = IMSEC_ERR_NOBUF;
    return;
  }
  if (n)
    memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void put_c(writer *w, const char *s) {
  imsec_str v = imsec_str_c(s);
  put(w, v.p, v.len);
}

static int is_token_char(int ch) {
  if (imsec_is_alnum(ch))
    return 1;
  return ch == '-' || ch == '.' || ch == '!' || ch == '%' || ch == '*' ||
         ch == '_' || ch == '+' || ch == '`' || ch == '\'' || ch == '~';
}

/* Control characters would let a value end the header line (CRLF
 * injection) or are not allowed in qdtext at all. */
static int is_ctl(int ch) {
  return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

static void put_token(writer *w, imsec_str v) {
  if (v.len == 0) {
    w->err = w->err ? w->err : IMSEC_ERR_INVAL;
    return;
  }
  for (size_t i = 0; i < v.len; i++) {
    if (!is_token_char((unsigned char)v.p[i])) {
      w->err = w->err ? w->err : IMSEC_ERR_INVAL;
      return;
    }
  }
  put(w, v.p, v.len);
}

static void put_quoted(writer *w, imsec_str v, int already) {
  put(w, "\"", 1);
  for (size_t i = 0; i < v.len; i++) {
    int ch = (unsigned char)v.p[i];
    if (is_ctl(ch)) {
      w->err = w->err ? w->err : IMSEC_ERR_INVAL;
      return;
    }
    if (already) {
      /* In wire form: a quote only after a backslash, a backslash always
       * followed by its escaped character. */
      if (ch == '"') {
        w->err = w->err ? w->err : IMSEC_ERR_INVAL;
        return;
      }
      if (ch == '\\') {
        if (i + 1 == v.len || is_ctl((unsigned char)v.p[i + 1])) {
          w->err = w->err ? w->err : IMSEC_ERR_INVAL;
          return;
        }
        put(w, v.p + i, 2);
        i++;
        continue;
      }
    } else if (ch == '"' || ch == '\\') {
      put(w, "\\", 1); /* RFC 3261 §25.1 quoted-pair */
    }
    put(w, v.p + i, 1);
  }
  put(w, "\"", 1);
}

typedef struct field {
  const char *name;
  uint32_t bit;
  size_t off;
  int token; /* sent as a token, not a quoted-string */
} field;

#define F(n, b, m, t)                                                          \
  { n, IMSEC_DIGEST_P_##b, offsetof(imsec_digest_params, m), t }

/* RFC 7616 §3.3: stale and algorithm are tokens in a challenge. */
static const field challenge_fields[] = {
    F("realm", REALM, realm, 0), F("domain", DOMAIN, domain, 0),
    F("nonce", NONCE, nonce, 0), F("opaque", OPAQUE, opaque, 0),
    F("stale", STALE, stale, 1), F("algorithm", ALGORITHM, algorithm, 1),
    F("qop", QOP, qop, 0),       F("userhash", USERHASH, userhash, 1),
    F("ck", CK, ck, 0),          F("ik", IK, ik, 0),
};

/* RFC 7616 §3.4 / RFC 3261 §25.1: algorithm, qop (message-qop) and nc are
 * tokens in credentials. */
static const field credentials_fields[] = {
    F("username", USERNAME, username, 0),
    F("realm", REALM, realm, 0),
    F("nonce", NONCE, nonce, 0),
    F("uri", URI, uri, 0),
    F("response", RESPONSE, response, 0),
    F("algorithm", ALGORITHM, algorithm, 1),
    F("cnonce", CNONCE, cnonce, 0),
    F("opaque", OPAQUE, opaque, 0),
    F("qop", QOP, qop, 1),
    F("nc", NC, nc, 1),
    F("auts", AUTS, auts, 0),
    F("userhash", USERHASH, userhash, 1),
    F("integrity-protected", INTEGRITY_PROTECTED, integrity_protected, 0),
};

int imsec_digest_build(imsec_digest_kind kind, const imsec_digest_params *p,
                       char *buf, size_t cap) {
  if (!p || !buf || cap == 0)
    return IMSEC_ERR_INVAL;
  const field *fields;
  size_t n;
  if (kind == IMSEC_DIGEST_CHALLENGE) {
    fields = challenge_fields;
    n = sizeof(challenge_fields) / sizeof(challenge_fields[0]);
  } else if (kind == IMSEC_DIGEST_CREDENTIALS) {
    fields = credentials_fields;
    n = sizeof(credentials_fields) / sizeof(credentials_fields[0]);
  } else {
    return IMSEC_ERR_INVAL;
  }
  writer w = {buf, cap - 1, 0, 0}; /* keep room for the NUL */
  put_c(&w, "Digest");
  int first = 1;
  for (size_t i = 0; i < n; i++) {
    imsec_str v =
        *(const imsec_str *)(const void *)((const char *)p + fields[i].off);
    if (!v.p && !(p->present & fields[i].bit))
      continue;
    if (!v.p && v.len)
      return IMSEC_ERR_INVAL;
    put_c(&w, first ? " " : ", ");
    first = 0;
    put_c(&w, fields[i].name);
    put(&w, "=", 1);
    if (fields[i].token)
      put_token(&w, v);
    else
      put_quoted(&w, v, (p->quoted & fields[i].bit) != 0);
  }
  if (w.err)
    return w.err;
  if (w.len > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  buf[w.len] = '\0';
  return (int)w.len;
}
