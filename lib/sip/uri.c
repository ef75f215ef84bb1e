/* SIP, SIPS (RFC 3261 §19.1, §25.1) and tel (RFC 3966 §3) URIs, and URI
 * equality (RFC 3261 §19.1.4, RFC 3966 §4). Zero-copy. */
#include <string.h>

#include "sip_int.h"

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch = lx_lower(ch);
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/* Span of `cls`, unreserved and %XX escapes. Returns the slice length or
 * IMSEC_ERR_PARSE on a bad escape. */
static int span_esc(imsec_cursor *c, unsigned cls, imsec_str *out) {
  const char *s = c->p, *p = s, *end = c->end;
  cls |= LX_UNRES;
  while (p < end) {
    char ch = *p;
    if (lx_is(ch, cls)) {
      p++;
    } else if (ch == '%') {
      if (end - p < 3 || hexval((unsigned char)p[1]) < 0 ||
          hexval((unsigned char)p[2]) < 0)
        return IMSEC_ERR_PARSE;
      p += 3;
    } else {
      break;
    }
  }
  c->p = p;
  *out = (imsec_str){s, (size_t)(p - s)};
  return 0;
}

static int all_esc(imsec_str s, unsigned cls) {
  imsec_cursor c;
  imsec_str o;
  lx_init(&c, s.p, s.len);
  return span_esc(&c, cls, &o) == 0 && c.p == c.end;
}

int imsec_sip_unescape(imsec_str in, char *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < in.len; i++) {
    int ch = (unsigned char)in.p[i];
    if (ch == '%') {
      if (in.len - i < 3)
        return IMSEC_ERR_PARSE;
      int h = hexval((unsigned char)in.p[i + 1]);
      int l = hexval((unsigned char)in.p[i + 2]);
      if (h < 0 || l < 0)
        return IMSEC_ERR_PARSE;
      ch = h * 16 + l;
      i += 2;
    }
    if (n >= cap)
      return IMSEC_ERR_NOBUF;
    out[n++] = (char)ch;
  }
  if (n > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  return (int)n;
}

int imsec_sip_uri_param_next(imsec_str *rest, imsec_str *name, imsec_str *value,
                             int *has_value) {
  if (!rest->len || rest->p[0] != ';')
    return 0;
  const char *p = rest->p + 1, *end = rest->p + rest->len;
  const char *n = p;
  while (p < end && *p != ';' && *p != '=')
    p++;
  *name = (imsec_str){n, (size_t)(p - n)};
  *has_value = 0;
  *value = (imsec_str){p, 0};
  if (p < end && *p == '=') {
    p++;
    const char *v = p;
    while (p < end && *p != ';')
      p++;
    *value = (imsec_str){v, (size_t)(p - v)};
    *has_value = 1;
  }
  rest->p = p;
  rest->len = (size_t)(end - p);
  return 1;
}

/* uri-parameters = *( ";" uri-parameter ); pname/pvalue = 1*paramchar */
static int uri_params(imsec_cursor *c, size_t max, imsec_sip_uri *u) {
  const char *start = c->p;
  size_t n = 0;
  while (lx_peek(c) == ';') {
    c->p++;
    imsec_str name, value = IMSEC_STR_NULL;
    IMSEC_GUARD(span_esc(c, LX_PARAM, &name));
    if (!name.len)
      return IMSEC_ERR_PARSE;
    if (lx_peek(c) == '=') {
      c->p++;
      IMSEC_GUARD(span_esc(c, LX_PARAM, &value));
      if (!value.len)
        return IMSEC_ERR_PARSE;
    }
    if (max && ++n > max)
      return IMSEC_ERR_LIMIT;
    if (LX_IEQ(name, "transport"))
      u->transport = value;
    else if (LX_IEQ(name, "user"))
      u->user_param = value;
    else if (LX_IEQ(name, "method"))
      u->method = value;
    else if (LX_IEQ(name, "maddr"))
      u->maddr = value;
    else if (LX_IEQ(name, "ttl"))
      u->ttl = value;
    else if (LX_IEQ(name, "lr"))
      u->lr = 1;
  }
  u->params = (imsec_str){start, (size_t)(c->p - start)};
  return 0;
}

/* headers = "?" header *( "&" header ); header = hname "=" hvalue */
static int uri_headers(imsec_cursor *c, imsec_sip_uri *u) {
  if (lx_peek(c) != '?')
    return 0;
  c->p++;
  const char *start = c->p;
  for (;;) {
    imsec_str name, value;
    IMSEC_GUARD(span_esc(c, LX_HNV, &name));
    if (!name.len || lx_peek(c) != '=')
      return IMSEC_ERR_PARSE;
    c->p++;
    IMSEC_GUARD(span_esc(c, LX_HNV, &value));
    if (lx_peek(c) != '&')
      break;
    c->p++;
  }
  u->headers = (imsec_str){start, (size_t)(c->p - start)};
  u->has_headers = 1;
  return 0;
}

static int sip_uri(imsec_cursor *c, size_t max, imsec_sip_uri *u) {
  imsec_str rest = lx_rest(c);
  const char *at = rest.len ? memchr(rest.p, '@', rest.len) : NULL;
  if (at) {
    /* userinfo = ( user / telephone-subscriber ) [ ":" password ] "@" */
    imsec_str ui = {rest.p, (size_t)(at - rest.p)};
    long colon = lx_find(ui, ':');
    u->user = colon < 0 ? ui : imsec_str_sub(ui, 0, (size_t)colon);
    if (colon >= 0) {
      u->has_password = 1;
      u->password = imsec_str_sub(ui, (size_t)colon + 1, ui.len);
      if (!all_esc(u->password, LX_PASS))
        return IMSEC_ERR_PARSE;
    }
    if (!u->user.len || !all_esc(u->user, LX_USER))
      return IMSEC_ERR_PARSE;
    c->p = at + 1;
  }
  IMSEC_GUARD(lx_host(c, &u->host, &u->host_type));
  if (lx_peek(c) == ':') {
    c->p++;
    const char *d = c->p;
    while (c->p < c->end && lx_digit((unsigned char)*c->p))
      c->p++;
    uint64_t port;
    imsec_str ds = {d, (size_t)(c->p - d)};
    if (ds.len > 5 || lx_uint(ds, 65535, &port) < 0)
      return IMSEC_ERR_PARSE;
    u->port = (uint16_t)port;
    u->has_port = 1;
  }
  IMSEC_GUARD(uri_params(c, max, u));
  IMSEC_GUARD(uri_headers(c, u));
  return c->p == c->end ? 0 : IMSEC_ERR_PARSE;
}

/* RFC 3966 §3: telephone-subscriber = global-number / local-number, then
 * parameters; a local number needs a phone-context. */
static int tel_uri(imsec_cursor *c, size_t max, imsec_sip_uri *u) {
  const char *s = c->p;
  int digit = 0;
  u->tel_global = 0;
  if (lx_peek(c) == '+') {
    u->tel_global = 1;
    c->p++;
  }
  while (c->p < c->end && lx_is(*c->p, LX_TEL)) {
    if (*c->p == '+')
      return IMSEC_ERR_PARSE;
    if (lx_hex((unsigned char)*c->p) || *c->p == '*' || *c->p == '#') {
      if (u->tel_global && !lx_digit((unsigned char)*c->p))
        return IMSEC_ERR_PARSE;
      digit = 1;
    }
    c->p++;
  }
  if (!digit)
    return IMSEC_ERR_PARSE;
  u->user = (imsec_str){s, (size_t)(c->p - s)};
  IMSEC_GUARD(uri_params(c, max, u));
  if (c->p != c->end)
    return IMSEC_ERR_PARSE;
  if (!u->tel_global) {
    imsec_str r = u->params, n, v;
    int hv, ctx = 0;
    while (imsec_sip_uri_param_next(&r, &n, &v, &hv)) {
      if (LX_IEQ(n, "phone-context") && hv)
        ctx = 1;
    }
    if (!ctx)
      return IMSEC_ERR_PARSE;
  }
  return 0;
}

int imsec_sip_uri_parse(imsec_str text, size_t max_params, imsec_sip_uri *u) {
  memset(u, 0, sizeof(*u));
  return lx_uri(text, max_params, u);
}

/* The parse proper: sets the fields it finds, leaves the others alone (a
 * caller that only validates need not clear the struct). */
int lx_uri(imsec_str text, size_t max_params, imsec_sip_uri *u) {
  imsec_cursor c;
  lx_init(&c, text.p, text.len);
  /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
  const char *s = c.p;
  if (!lx_alpha(lx_peek(&c)))
    return IMSEC_ERR_PARSE;
  while (c.p < c.end && (lx_alnum((unsigned char)*c.p) || *c.p == '+' ||
                         *c.p == '-' || *c.p == '.'))
    c.p++;
  u->scheme_text = (imsec_str){s, (size_t)(c.p - s)};
  if (!lx_accept(&c, ':'))
    return IMSEC_ERR_PARSE;
  if (LX_IEQ(u->scheme_text, "sip")) {
    u->scheme = IMSEC_SIP_SCHEME_SIP;
    return sip_uri(&c, max_params, u);
  }
  if (LX_IEQ(u->scheme_text, "sips")) {
    u->scheme = IMSEC_SIP_SCHEME_SIPS;
    return sip_uri(&c, max_params, u);
  }
  if (LX_IEQ(u->scheme_text, "tel")) {
    u->scheme = IMSEC_SIP_SCHEME_TEL;
    return tel_uri(&c, max_params, u);
  }
  /* absoluteURI = scheme ":" ( hier-part / opaque-part ): 1*uric here */
  u->scheme = IMSEC_SIP_SCHEME_OTHER;
  u->opaque = lx_rest(&c);
  if (!u->opaque.len || !all_esc(u->opaque, LX_URIC))
    return IMSEC_ERR_PARSE;
  return 0;
}

/* ---------------------------------------------------------------- compare */

/* Next octet of an escaped string, decoding %XX; -1 at the end. */
static int esc_get(imsec_str s, size_t *i) {
  if (*i >= s.len)
    return -1;
  int ch = (unsigned char)s.p[*i];
  if (ch == '%' && s.len - *i >= 3) {
    int h = hexval((unsigned char)s.p[*i + 1]);
    int l = hexval((unsigned char)s.p[*i + 2]);
    if (h >= 0 && l >= 0) {
      *i += 3;
      int v = h * 16 + l;
      /* RFC 3261 §19.1.4: only characters outside "reserved" equal their
       * escaped form */
      return lx_is(v, LX_URIC) ? 256 + v : v;
    }
  }
  (*i)++;
  return ch;
}

static int esc_eq(imsec_str a, imsec_str b, int icase) {
  size_t i = 0, j = 0;
  for (;;) {
    int x = esc_get(a, &i), y = esc_get(b, &j);
    if (icase && x >= 0 && y >= 0 && x < 256 && y < 256) {
      x = lx_lower(x);
      y = lx_lower(y);
    }
    if (x != y)
      return 0;
    if (x < 0)
      return 1;
  }
}

static int find_param(imsec_str params, imsec_str name, imsec_str *value,
                      int *has_value) {
  imsec_str n;
  while (imsec_sip_uri_param_next(&params, &n, value, has_value)) {
    if (esc_eq(n, name, 1))
      return 1;
  }
  return 0;
}

static int param_sets_eq(imsec_str pa, imsec_str pb, int sip) {
  static const char *const strict[] = {"user", "ttl", "method", "maddr",
                                       "transport"};
  if (sip) {
    for (size_t k = 0; k < sizeof(strict) / sizeof(strict[0]); k++) {
      imsec_str nm = imsec_str_c(strict[k]), va, vb;
      int ha, hb;
      int ina = find_param(pa, nm, &va, &ha);
      int inb = find_param(pb, nm, &vb, &hb);
      if (ina != inb || (ina && !esc_eq(va, vb, 1)))
        return 0;
    }
  }
  /* other parameters: compared when both have them (sip), or always
   * (tel, RFC 3966 §4: the same parameters on both) */
  for (int pass = 0; pass < 2; pass++) {
    imsec_str r = pass ? pb : pa, other = pass ? pa : pb, n, v, ov;
    int hv, ohv;
    while (imsec_sip_uri_param_next(&r, &n, &v, &hv)) {
      if (find_param(other, n, &ov, &ohv)) {
        if (hv != ohv || !esc_eq(v, ov, 1))
          return 0;
      } else if (!sip) {
        return 0;
      }
    }
  }
  return 1;
}

static int find_header(imsec_str hs, imsec_str name, imsec_str *value) {
  if (!hs.len)
    return 0;
  const char *p = hs.p, *end = hs.p + hs.len;
  while (p < end) {
    const char *e = memchr(p, '&', (size_t)(end - p));
    if (!e)
      e = end;
    imsec_str h = {p, (size_t)(e - p)};
    long eq = lx_find(h, '=');
    imsec_str hn = eq < 0 ? h : imsec_str_sub(h, 0, (size_t)eq);
    if (esc_eq(hn, name, 1)) {
      *value =
          eq < 0 ? IMSEC_STR_NULL : imsec_str_sub(h, (size_t)eq + 1, h.len);
      return 1;
    }
    p = e + 1;
  }
  return 0;
}

static int headers_subset(imsec_str a, imsec_str b) {
  if (!a.len)
    return 1;
  const char *p = a.p, *end = a.p + a.len;
  while (p < end) {
    const char *e = memchr(p, '&', (size_t)(end - p));
    if (!e)
      e = end;
    imsec_str h = {p, (size_t)(e - p)}, v;
    long eq = lx_find(h, '=');
    imsec_str hn = eq < 0 ? h : imsec_str_sub(h, 0, (size_t)eq);
    imsec_str hv =
        eq < 0 ? IMSEC_STR_NULL : imsec_str_sub(h, (size_t)eq + 1, h.len);
    if (!find_header(b, hn, &v) || !esc_eq(hv, v, 0))
      return 0;
    p = e + 1;
  }
  return 1;
}

static int tel_number_eq(imsec_str a, imsec_str b) {
  size_t i = 0, j = 0;
  for (;;) {
    while (i < a.len &&
           (a.p[i] == '-' || a.p[i] == '.' || a.p[i] == '(' || a.p[i] == ')'))
      i++;
    while (j < b.len &&
           (b.p[j] == '-' || b.p[j] == '.' || b.p[j] == '(' || b.p[j] == ')'))
      j++;
    if (i == a.len || j == b.len)
      return i == a.len && j == b.len;
    if (lx_lower((unsigned char)a.p[i]) != lx_lower((unsigned char)b.p[j]))
      return 0;
    i++, j++;
  }
}

/* RFC 3261 §19.1.4: hosts compare case-insensitively; an IPv6 reference
 * is an address, so "[::1]" equals "[0:0:0:0:0:0:0:1]" (RFC 5954 §4.1). */
static int host_eq(const imsec_sip_uri *a, const imsec_sip_uri *b) {
  if (a->host_type == IMSEC_SIP_HOST_IPV6 &&
      b->host_type == IMSEC_SIP_HOST_IPV6) {
    uint8_t x[16], y[16];
    if (lx_ipv6_bytes(a->host, x) == 0 && lx_ipv6_bytes(b->host, y) == 0)
      return memcmp(x, y, 16) == 0; /* no secret: IPv6 host addresses */
  }
  return imsec_str_ieq(a->host, b->host);
}

int imsec_sip_uri_eq(const imsec_sip_uri *a, const imsec_sip_uri *b) {
  if (a->scheme != b->scheme)
    return 0;
  switch (a->scheme) {
  case IMSEC_SIP_SCHEME_OTHER:
    return imsec_str_ieq(a->scheme_text, b->scheme_text) &&
           esc_eq(a->opaque, b->opaque, 1);
  case IMSEC_SIP_SCHEME_TEL:
    return a->tel_global == b->tel_global && tel_number_eq(a->user, b->user) &&
           param_sets_eq(a->params, b->params, 0);
  default:
    break;
  }
  /* RFC 3261 §19.1.4 */
  if (!esc_eq(a->user, b->user, 0) || a->has_password != b->has_password ||
      !esc_eq(a->password, b->password, 0))
    return 0;
  if (!host_eq(a, b))
    return 0;
  if (a->has_port != b->has_port || a->port != b->port)
    return 0;
  if (!param_sets_eq(a->params, b->params, 1))
    return 0;
  return headers_subset(a->headers, b->headers) &&
         headers_subset(b->headers, a->headers);
}
