/* Lexical helpers shared by the SIP parsers (RFC 3261 §25.1). */
#include "sip_int.h"

/* RFC 3261 §25.1 character classes, one bit per class (see sip_int.h).
 * Generated from the grammar's character sets. */
const uint16_t imsec_sip_ctab[256] = {
    0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100,
    0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100,
    0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0100,
    0x0100, 0x0100, 0x0100, 0x0100, 0x0100, 0x0000, 0x0407, 0x1002, 0x0800,
    0x00f8, 0x0403, 0x00b8, 0x0407, 0x0806, 0x0806, 0x0c07, 0x0cfb, 0x1098,
    0x2e07, 0x0e07, 0x00ea, 0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2e07,
    0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x04e2, 0x0088, 0x1002, 0x0098, 0x1002,
    0x00ca, 0x0080, 0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2607,
    0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607,
    0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607,
    0x2607, 0x0462, 0x1002, 0x0462, 0x0000, 0x0407, 0x0403, 0x2e07, 0x2e07,
    0x2e07, 0x2e07, 0x2e07, 0x2e07, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607,
    0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607,
    0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x2607, 0x0002, 0x0000, 0x0002,
    0x0407, 0x0100, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0000,
};

int lx_token(imsec_cursor *c, imsec_str *out) {
  *out = lx_span(c, LX_TOKEN);
  return out->len ? 0 : IMSEC_ERR_PARSE;
}

/* RFC 3261 §25.1: quoted-string = SWS DQUOTE *(qdtext / quoted-pair )
 * DQUOTE; qdtext excludes CTLs (LWS aside), quoted-pair excludes CR, LF. */
int lx_quoted(imsec_cursor *c, imsec_str *out) {
  if (lx_peek(c) != '"')
    return IMSEC_ERR_PARSE;
  const char *s = c->p + 1, *p = s, *end = c->end;
  while (p < end) {
    unsigned char ch = (unsigned char)*p;
    if (!lx_is(ch, LX_CTL) && ch != '"' && ch != '\\') {
      p++;
      continue;
    }
    if (ch == '"') {
      out->p = s;
      out->len = (size_t)(p - s);
      c->p = p + 1;
      return 0;
    }
    if (ch == '\\') {
      if (end - p < 2)
        return IMSEC_ERR_PARSE;
      unsigned char q = (unsigned char)p[1];
      if (q == '\r' || q == '\n' || q > 0x7f)
        return IMSEC_ERR_PARSE;
      p += 2;
      continue;
    }
    if (ch == '\t') {
      p++;
      continue;
    }
    /* a fold inside the string is LWS; other CTLs are not qdtext */
    if (ch == '\r' && end - p >= 3 && p[1] == '\n' &&
        (p[2] == ' ' || p[2] == '\t')) {
      p += 3;
      continue;
    }
    return IMSEC_ERR_PARSE;
  }
  return IMSEC_ERR_PARSE;
}

int lx_param(imsec_cursor *c, imsec_sip_param *out) {
  imsec_cursor save = *c;
  lx_sws(c);
  if (lx_peek(c) != ';') {
    *c = save;
    return 0;
  }
  c->p++;
  lx_sws(c);
  out->has_value = 0;
  out->quoted = 0;
  out->value = IMSEC_STR_NULL;
  IMSEC_GUARD(lx_token(c, &out->name));
  imsec_cursor mark = *c;
  lx_sws(c);
  if (lx_peek(c) != '=') {
    *c = mark;
    return 1;
  }
  c->p++;
  lx_sws(c);
  out->has_value = 1;
  if (lx_peek(c) == '"') {
    out->quoted = 1;
    IMSEC_GUARD(lx_quoted(c, &out->value));
    return 1;
  }
  /* gen-value = token / host / quoted-string */
  out->value = lx_span(c, LX_GENVAL);
  return out->value.len ? 1 : IMSEC_ERR_PARSE;
}

int lx_params(imsec_cursor *c, size_t max, imsec_str *raw, lx_param_fn fn,
              void *ctx) {
  const char *start = NULL;
  size_t n = 0;
  imsec_sip_param p;
  for (;;) {
    imsec_cursor before = *c;
    int rv = lx_param(c, &p);
    if (rv < 0)
      return rv;
    if (rv == 0)
      break;
    if (!start) {
      lx_sws(&before);
      start = before.p;
    }
    if (max && ++n > max)
      return IMSEC_ERR_LIMIT;
    if (!max)
      n++;
    if (fn)
      IMSEC_GUARD(fn(ctx, &p));
  }
  if (raw) {
    raw->p = start ? start : c->p;
    raw->len = start ? (size_t)(c->p - start) : 0;
  }
  return (int)n;
}

int lx_end(imsec_cursor *c) {
  lx_sws(c);
  return c->p == c->end ? 0 : IMSEC_ERR_PARSE;
}

static int ipv4_at(imsec_cursor *c, imsec_str *out) {
  const char *s = c->p;
  for (int i = 0; i < 4; i++) {
    if (i > 0) {
      if (lx_peek(c) != '.')
        return 0;
      c->p++;
    }
    unsigned v = 0;
    int digits = 0;
    while (lx_digit(lx_peek(c)) && digits < 3) {
      v = v * 10 + (unsigned)(*c->p - '0');
      c->p++;
      digits++;
    }
    if (!digits || v > 255)
      return 0;
  }
  /* an IPv4 address is not followed by more host characters */
  if (lx_is(lx_peek(c), LX_HOST))
    return 0;
  out->p = s;
  out->len = (size_t)(c->p - s);
  return 1;
}

/* RFC 3261 §25.1 IPv6address (RFC 2373 text form): hex groups, one "::",
 * an optional IPv4 tail. `s` is without brackets. */
static int ipv6_ok(imsec_str s) {
  size_t i = 0, groups = 0;
  int dcolon = 0;
  if (s.len >= 2 && s.p[0] == ':' && s.p[1] == ':') {
    dcolon = 1;
    i = 2;
    if (i == s.len)
      return 1;
  } else if (s.len && s.p[0] == ':') {
    return 0;
  }
  while (i < s.len) {
    size_t j = i;
    while (j < s.len && lx_hex((unsigned char)s.p[j]) && j - i < 5)
      j++;
    if (j < s.len && s.p[j] == '.') {
      /* IPv4 tail */
      imsec_cursor c;
      imsec_str v4;
      lx_init(&c, s.p + i, s.len - i);
      if (!ipv4_at(&c, &v4) || c.p != c.end)
        return 0;
      groups += 2;
      i = s.len;
      break;
    }
    if (j == i || j - i > 4)
      return 0;
    groups++;
    i = j;
    if (i == s.len)
      break;
    if (s.p[i] != ':')
      return 0;
    i++;
    if (i < s.len && s.p[i] == ':') {
      if (dcolon)
        return 0;
      dcolon = 1;
      i++;
      if (i == s.len)
        break;
    } else if (i == s.len) {
      return 0;
    }
  }
  return dcolon ? groups < 8 : groups == 8;
}

/* Value of 1-4 hex digits (validated by ipv6_ok). */
static unsigned hex_group(const char *p, size_t n) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    int ch = lx_lower((unsigned char)p[i]);
    v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
  }
  return v;
}

/* Decimal octet of a validated IPv4 tail. */
static unsigned dec_octet(const char **p, const char *end) {
  unsigned v = 0;
  while (*p < end && **p >= '0' && **p <= '9')
    v = v * 10 + (unsigned)(*(*p)++ - '0');
  return v;
}

int lx_ipv6_bytes(imsec_str host, uint8_t out[16]) {
  /* The text form with brackets, as lx_host keeps it. */
  if (host.len < 2 || host.p[0] != '[' || host.p[host.len - 1] != ']')
    return IMSEC_ERR_PARSE;
  imsec_str s = {host.p + 1, host.len - 2};
  if (!ipv6_ok(s))
    return IMSEC_ERR_PARSE;
  /* Groups before "::" fill from the front, those after it from the back
   * (RFC 4291 §2.2). */
  uint16_t head[8], tail[8];
  size_t nh = 0, nt = 0;
  int after = 0;
  const char *p = s.p, *end = s.p + s.len;
  while (p < end) {
    if (p + 1 < end && p[0] == ':' && p[1] == ':') {
      after = 1;
      p += 2;
      continue;
    }
    if (*p == ':') {
      p++;
      continue;
    }
    const char *q = p;
    while (q < end && *q != ':' && *q != '.')
      q++;
    uint16_t *dst = after ? tail : head;
    size_t *n = after ? &nt : &nh;
    if (q < end && *q == '.') {
      unsigned o[4];
      for (int k = 0; k < 4; k++) {
        o[k] = dec_octet(&p, end);
        if (p < end && *p == '.')
          p++;
      }
      dst[(*n)++] = (uint16_t)(o[0] << 8 | o[1]);
      dst[(*n)++] = (uint16_t)(o[2] << 8 | o[3]);
      break;
    }
    dst[(*n)++] = (uint16_t)hex_group(p, (size_t)(q - p));
    p = q;
  }
  uint16_t g[8] = {0};
  for (size_t i = 0; i < nh; i++)
    g[i] = head[i];
  for (size_t i = 0; i < nt; i++)
    g[8 - nt + i] = tail[i];
  for (size_t i = 0; i < 8; i++) {
    out[2 * i] = (uint8_t)(g[i] >> 8);
    out[2 * i + 1] = (uint8_t)g[i];
  }
  return 0;
}

int lx_host(imsec_cursor *c, imsec_str *host, imsec_sip_host_type *type) {
  if (lx_peek(c) == '[') {
    const char *s = c->p;
    c->p++;
    imsec_str in = lx_span(c, LX_HOST | LX_GENVAL);
    /* the span took ':' and ']'; cut at the first ']' */
    long close = lx_find(in, ']');
    if (close < 0)
      return IMSEC_ERR_PARSE;
    c->p = in.p + close + 1;
    imsec_str v6 = {in.p, (size_t)close};
    if (!ipv6_ok(v6))
      return IMSEC_ERR_PARSE;
    host->p = s;
    host->len = (size_t)(c->p - s);
    *type = IMSEC_SIP_HOST_IPV6;
    return 0;
  }
  /* hostname = *( domainlabel "." ) toplabel [ "." ], or IPv4address */
  const char *s = c->p, *p = s, *end = c->end;
  const char *top = NULL;
  for (;;) {
    const char *l = p;
    while (p < end && lx_is(*p, LX_LABEL))
      p++;
    if (p == l) {
      /* only a single trailing dot may end a name */
      if (p == s || p[-1] != '.' || (p < end && *p == '.'))
        return IMSEC_ERR_PARSE;
      break;
    }
    if (*l == '-' || p[-1] == '-')
      return IMSEC_ERR_PARSE;
    top = l;
    if (p < end && *p == '.') {
      p++;
      continue;
    }
    break;
  }
  if (lx_digit((unsigned char)*top)) {
    /* a name's toplabel starts with a letter: this must be IPv4 */
    imsec_cursor v4 = *c;
    if (ipv4_at(&v4, host) && v4.p == p) {
      *c = v4;
      *type = IMSEC_SIP_HOST_IPV4;
      return 0;
    }
    return IMSEC_ERR_PARSE;
  }
  host->p = s;
  host->len = (size_t)(p - s);
  c->p = p;
  *type = IMSEC_SIP_HOST_NAME;
  return 0;
}

int lx_uint(imsec_str s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (!s.len)
    return IMSEC_ERR_PARSE;
  for (size_t i = 0; i < s.len; i++) {
    if (!lx_digit((unsigned char)s.p[i]))
      return IMSEC_ERR_PARSE;
    unsigned d = (unsigned)(s.p[i] - '0');
    if (v > (max - d) / 10)
      return IMSEC_ERR_LIMIT;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* RFC 3261 §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 */
int lx_qvalue(imsec_str s, int *out) {
  if (!s.len || (s.p[0] != '0' && s.p[0] != '1'))
    return IMSEC_ERR_PARSE;
  int v = (s.p[0] - '0') * 1000;
  if (s.len == 1) {
    *out = v;
    return 0;
  }
  if (s.p[1] != '.' || s.len > 5)
    return IMSEC_ERR_PARSE;
  int scale = 100;
  for (size_t i = 2; i < s.len; i++) {
    if (!lx_digit((unsigned char)s.p[i]))
      return IMSEC_ERR_PARSE;
    v += (s.p[i] - '0') * scale;
    scale /= 10;
  }
  if (v > 1000)
    return IMSEC_ERR_PARSE;
  *out = v;
  return 0;
}

int imsec_sip_param_next(imsec_str *rest, imsec_sip_param *out) {
  imsec_cursor c;
  lx_init(&c, rest->p, rest->len);
  int rv = lx_param(&c, out);
  if (rv <= 0)
    return 0;
  rest->p = c.p;
  rest->len = (size_t)(c.end - c.p);
  return 1;
}

int imsec_sip_param_find(imsec_str params, const char *name,
                         imsec_sip_param *out) {
  imsec_str want = imsec_str_c(name);
  while (imsec_sip_param_next(&params, out)) {
    if (imsec_str_ieq(out->name, want))
      return 1;
  }
  return 0;
}

int imsec_sip_uint_parse(imsec_str v, uint64_t max, uint64_t *out) {
  return lx_uint(imsec_str_trim(v), max, out);
}
