/*
 * Digest header values: challenge and credentials (RFC 3261 §25.1, RFC 7616
 * §3.3-3.4, RFC 7235 §2.1), parsed through a bounded cursor into slices.
 */
#include <stddef.h>

#include "imsec/digest.h"

/* RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_"
 * / "+" / "`" / "'" / "~"). */
static int is_token_char(int ch) {
  if (imsec_is_alnum(ch))
    return 1;
  switch (ch) {
  case '-':
  case '.':
  case '!':
  case '%':
  case '*':
  case '_':
  case '+':
  case '`':
  case '\'':
  case '~':
    return 1;
  default:
    return 0;
  }
}

/* LWS = [*WSP CRLF] 1*WSP (RFC 3261 §25.1). The SIP parser may hand over a
 * value with its folds still in it, so CR and LF count as white space. */
static int is_lws(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t skip_lws(imsec_cursor *c) {
  imsec_str s = imsec_cursor_span(c, is_lws, 0);
  return s.len;
}

/* The body of a quoted-string after its opening quote, up to (and
 * consuming) the closing quote. qdtext = LWS / %x21 / %x23-5B / %x5D-7E /
 * UTF8-NONASCII; quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F). */
static int quoted_body(imsec_cursor *c, imsec_str *out) {
  const char *start = c->p;
  for (;;) {
    int ch = imsec_cursor_peek(c);
    if (ch < 0)
      return IMSEC_ERR_PARSE; /* unterminated */
    if (ch == '"')
      break;
    if (ch == '\\') {
      c->p++;
      int e = imsec_cursor_peek(c);
      if (e < 0 || e == '\n' || e == '\r' || e > 0x7f)
        return IMSEC_ERR_PARSE;
    } else if (ch < 0x20 && !is_lws(ch)) {
      return IMSEC_ERR_PARSE;
    } else if (ch == 0x7f) {
      return IMSEC_ERR_PARSE;
    }
    c->p++;
    if ((size_t)(c->p - start) > IMSEC_DIGEST_MAX_VALUE)
      return IMSEC_ERR_LIMIT;
  }
  out->p = start;
  out->len = (size_t)(c->p - start);
  c->p++; /* closing quote */
  return 0;
}

int imsec_digest_next_param(imsec_cursor *c, imsec_str *name, imsec_str *value,
                            int *quoted) {
  if (!c || !name || !value || !quoted)
    return IMSEC_ERR_INVAL;
  /* RFC 7230 §7: empty list elements are allowed and skipped. */
  for (;;) {
    skip_lws(c);
    if (!imsec_cursor_accept(c, ','))
      break;
  }
  if (imsec_cursor_eof(c))
    return 0;
  *name = imsec_cursor_span(c, is_token_char, 0);
  if (name->len == 0)
    return IMSEC_ERR_PARSE;
  skip_lws(c);
  if (!imsec_cursor_accept(c, '='))
    return IMSEC_ERR_PARSE;
  skip_lws(c);
  if (imsec_cursor_accept(c, '"')) {
    IMSEC_GUARD(quoted_body(c, value));
    *quoted = 1;
  } else {
    *value = imsec_cursor_span(c, is_token_char, 0);
    if (value->len == 0)
      return IMSEC_ERR_PARSE;
    if (value->len > IMSEC_DIGEST_MAX_VALUE)
      return IMSEC_ERR_LIMIT;
    *quoted = 0;
  }
  /* Each element ends at a comma or at the end. */
  skip_lws(c);
  if (!imsec_cursor_eof(c) && !imsec_cursor_accept(c, ','))
    return IMSEC_ERR_PARSE;
  return 1;
}

/* Known parameters and where they land. */
static const struct {
  const char *name;
  uint32_t bit;
  size_t off;
} known[] = {
    {"realm", IMSEC_DIGEST_P_REALM, offsetof(imsec_digest_params, realm)},
    {"nonce", IMSEC_DIGEST_P_NONCE, offsetof(imsec_digest_params, nonce)},
    {"opaque", IMSEC_DIGEST_P_OPAQUE, offsetof(imsec_digest_params, opaque)},
    {"algorithm", IMSEC_DIGEST_P_ALGORITHM,
     offsetof(imsec_digest_params, algorithm)},
    {"qop", IMSEC_DIGEST_P_QOP, offsetof(imsec_digest_params, qop)},
    {"nc", IMSEC_DIGEST_P_NC, offsetof(imsec_digest_params, nc)},
    {"cnonce", IMSEC_DIGEST_P_CNONCE, offsetof(imsec_digest_params, cnonce)},
    {"uri", IMSEC_DIGEST_P_URI, offsetof(imsec_digest_params, uri)},
    {"username", IMSEC_DIGEST_P_USERNAME,
     offsetof(imsec_digest_params, username)},
    {"response", IMSEC_DIGEST_P_RESPONSE,
     offsetof(imsec_digest_params, response)},
    {"auts", IMSEC_DIGEST_P_AUTS, offsetof(imsec_digest_params, auts)},
    {"stale", IMSEC_DIGEST_P_STALE, offsetof(imsec_digest_params, stale)},
    {"domain", IMSEC_DIGEST_P_DOMAIN, offsetof(imsec_digest_params, domain)},
    {"userhash", IMSEC_DIGEST_P_USERHASH,
     offsetof(imsec_digest_params, userhash)},
    {"ck", IMSEC_DIGEST_P_CK, offsetof(imsec_digest_params, ck)},
    {"ik", IMSEC_DIGEST_P_IK, offsetof(imsec_digest_params, ik)},
    {"integrity-protected", IMSEC_DIGEST_P_INTEGRITY_PROTECTED,
     offsetof(imsec_digest_params, integrity_protected)},
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

static int parse_common(imsec_str value, imsec_digest_params *out) {
  if (!out || (!value.p && value.len))
    return IMSEC_ERR_INVAL;
  *out = (imsec_digest_params){0};
  imsec_cursor c;
  imsec_cursor_init(&c, value.p, value.len);
  skip_lws(&c);
  out->scheme = imsec_cursor_span(&c, is_token_char, 0);
  if (out->scheme.len == 0)
    return IMSEC_ERR_PARSE;
  /* RFC 7616 §3.3: the scheme name is case-insensitive. */
  if (!imsec_str_ieq_c(out->scheme, "Digest"))
    return IMSEC_ERR_UNSUPPORTED;
  /* challenge = auth-scheme LWS auth-param *(COMMA auth-param) */
  if (!imsec_cursor_eof(&c) && skip_lws(&c) == 0)
    return IMSEC_ERR_PARSE;

  unsigned count = 0;
  for (;;) {
    imsec_str name, val;
    int quoted = 0;
    int rv = imsec_digest_next_param(&c, &name, &val, &quoted);
    if (rv < 0)
      return rv;
    if (rv == 0)
      break;
    if (++count > IMSEC_DIGEST_MAX_PARAMS)
      return IMSEC_ERR_LIMIT;
    size_t k = 0;
    while (k < N_KNOWN && !imsec_str_ieq_c(name, known[k].name))
      k++;
    if (k == N_KNOWN) {
      /* RFC 7616 §3.3/3.4: unknown directives MUST be ignored. */
      out->n_unknown++;
      continue;
    }
    /* RFC 7616 §3.4: a directive appears at most once. */
    if (out->present & known[k].bit)
      return IMSEC_ERR_PARSE;
    out->present |= known[k].bit;
    if (quoted)
      out->quoted |= known[k].bit;
    *(imsec_str *)(void *)((char *)out + known[k].off) = val;
  }
  return 0;
}

int imsec_digest_parse_challenge(imsec_str value, imsec_digest_params *out) {
  IMSEC_GUARD(parse_common(value, out));
  /* RFC 7616 §3.3: realm and nonce are required. */
  uint32_t need = IMSEC_DIGEST_P_REALM | IMSEC_DIGEST_P_NONCE;
  if ((out->present & need) != need)
    return IMSEC_ERR_PARSE;
  return 0;
}

int imsec_digest_parse_credentials(imsec_str value, imsec_digest_params *out) {
  IMSEC_GUARD(parse_common(value, out));
  /* RFC 3261 §25.1 digest-response; RFC 7616 §3.4. */
  uint32_t need = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
                  IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI |
                  IMSEC_DIGEST_P_RESPONSE;
  if ((out->present & need) != need)
    return IMSEC_ERR_PARSE;
  if (out->present & IMSEC_DIGEST_P_QOP) {
    /* RFC 7616 §3.4: with qop, cnonce and nc MUST be sent. */
    uint32_t q = IMSEC_DIGEST_P_NC | IMSEC_DIGEST_P_CNONCE;
    uint32_t nc;
    if ((out->present & q) != q || imsec_digest_nc_parse(out->nc, &nc) < 0)
      return IMSEC_ERR_PARSE;
  }
  return 0;
}

int imsec_digest_unquote(imsec_str value, char *buf, size_t cap) {
  if (!buf || (!value.p && value.len))
    return IMSEC_ERR_INVAL;
  size_t o = 0;
  for (size_t i = 0; i < value.len; i++) {
    char ch = value.p[i];
    if (ch == '\\') {
      if (++i == value.len)
        return IMSEC_ERR_PARSE;
      ch = value.p[i];
    }
    if (o + 1 >= cap || o >= INT32_MAX)
      return IMSEC_ERR_NOBUF;
    buf[o++] = ch;
  }
  if (cap == 0)
    return IMSEC_ERR_NOBUF;
  buf[o] = '\0';
  return (int)o;
}

int imsec_digest_qop_has(imsec_str list, const char *qop) {
  imsec_str want = imsec_str_c(qop);
  imsec_cursor c;
  imsec_cursor_init(&c, list.p, list.len);
  /* qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT */
  for (;;) {
    skip_lws(&c);
    imsec_str tok = imsec_cursor_span(&c, is_token_char, 0);
    skip_lws(&c);
    if (tok.len && imsec_str_ieq(tok, want))
      return 1;
    if (imsec_cursor_eof(&c) || !imsec_cursor_accept(&c, ','))
      return 0;
  }
}

int imsec_digest_nc_parse(imsec_str nc, uint32_t *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  if (nc.len != 8)
    return IMSEC_ERR_PARSE;
  uint32_t v = 0;
  for (size_t i = 0; i < 8; i++) {
    int ch = (unsigned char)nc.p[i];
    uint32_t d;
    if (imsec_is_digit(ch))
      d = (uint32_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      d = (uint32_t)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      d = (uint32_t)(ch - 'A' + 10);
    else
      return IMSEC_ERR_PARSE;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

int imsec_digest_nc_check(imsec_str nc, uint32_t *highest) {
  if (!highest)
    return IMSEC_ERR_INVAL;
  uint32_t v;
  IMSEC_GUARD(imsec_digest_nc_parse(nc, &v));
  if (v <= *highest)
    return IMSEC_ERR_REPLAY;
  *highest = v;
  return 0;
}
