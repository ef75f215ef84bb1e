/* Typed header grammars (RFC 3261 §20, §25.1; RFC 3329 §2.2; RFC 5626
 * §4.2; RFC 3455) over zero-copy slices, the value iterators and the
 * cached getters. */
#include <string.h>

#include "sip_int.h"

/* RFC 3261 §7.3.1: fields whose grammar is not a comma list, or whose
 * values hold commas of their own (Digest parameters, dates, free text),
 * are one value per line. */
static int no_split(imsec_sip_hid id) {
  switch (id) {
  case IMSEC_SIP_H_WWW_AUTHENTICATE:
  case IMSEC_SIP_H_AUTHORIZATION:
  case IMSEC_SIP_H_PROXY_AUTHENTICATE:
  case IMSEC_SIP_H_PROXY_AUTHORIZATION:
  case IMSEC_SIP_H_AUTHENTICATION_INFO:
  case IMSEC_SIP_H_DATE:
  case IMSEC_SIP_H_SUBJECT:
  case IMSEC_SIP_H_USER_AGENT:
  case IMSEC_SIP_H_SERVER:
  case IMSEC_SIP_H_RETRY_AFTER:
  case IMSEC_SIP_H_CALL_ID:
  case IMSEC_SIP_H_CSEQ:
  case IMSEC_SIP_H_FROM:
  case IMSEC_SIP_H_TO:
  case IMSEC_SIP_H_MAX_FORWARDS:
  case IMSEC_SIP_H_CONTENT_LENGTH:
  case IMSEC_SIP_H_EXPIRES:
  case IMSEC_SIP_H_MIN_EXPIRES:
  case IMSEC_SIP_H_CONTENT_TYPE:
  case IMSEC_SIP_H_IDENTITY:
  case IMSEC_SIP_H_IDENTITY_INFO:
  case IMSEC_SIP_H_OTHER:
    return 1;
  default:
    return 0;
  }
}

static imsec_str trim_lws(imsec_str s) {
  while (s.len &&
         (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r' || s.p[0] == '\n'))
    s.p++, s.len--;
  while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
                   s.p[s.len - 1] == '\r' || s.p[s.len - 1] == '\n'))
    s.len--;
  return s;
}

/* The split of imsec_sip_value_next on raw text (see sip.h). */
int imsec_sip_list_next(imsec_str *rest, imsec_str *out) {
  if (!rest->p)
    return 0;
  /* Most fields hold one value: without a comma there is nothing to
   * split (quotes and brackets are then the typed parser's business). */
  if (!memchr(rest->p, ',', rest->len)) {
    imsec_str elem = trim_lws(*rest);
    if (!elem.len)
      return IMSEC_ERR_PARSE;
    rest->p = NULL;
    *out = elem;
    return 1;
  }
  /* split at the next comma outside quotes and angle brackets */
  const char *p = rest->p, *end = rest->p + rest->len;
  int inq = 0, angle = 0;
  while (p < end) {
    /* skip the octets that cannot change the state */
    while (p < end && !lx_is(*p, LX_SPLIT))
      p++;
    if (p == end)
      break;
    char ch = *p;
    if (inq) {
      if (ch == '\\' && end - p >= 2)
        p++;
      else if (ch == '"')
        inq = 0;
    } else if (ch == '"') {
      inq = 1;
    } else if (ch == '<') {
      angle = 1;
    } else if (ch == '>') {
      angle = 0;
    } else if (ch == ',' && !angle) {
      break;
    }
    p++;
  }
  if (inq || angle)
    return IMSEC_ERR_PARSE;
  imsec_str elem = trim_lws((imsec_str){rest->p, (size_t)(p - rest->p)});
  if (!elem.len)
    return IMSEC_ERR_PARSE;
  if (p < end) {
    rest->p = p + 1;
    rest->len = (size_t)(end - (p + 1));
    if (!trim_lws(*rest).len)
      return IMSEC_ERR_PARSE; /* a trailing comma */
  } else {
    rest->p = NULL;
  }
  *out = elem;
  return 1;
}

int imsec_sip_value_next(const imsec_sip_msg *m, imsec_sip_hid id,
                         imsec_sip_iter *it, imsec_str *out, uint32_t *line) {
  if ((unsigned)id >= IMSEC_SIP_H_COUNT)
    return IMSEC_ERR_INVAL;
  for (;;) {
    if (!it->started) {
      it->started = 1;
      it->hdr = m->first[id];
      if (it->hdr < 0)
        return 0;
      it->rest = m->hdrs[it->hdr].value;
      if (!it->rest.p)
        it->rest.p = "";
    } else if (!it->rest.p) {
      if (it->hdr < 0)
        return 0;
      it->hdr = m->hdrs[it->hdr].next;
      if (it->hdr < 0)
        return 0;
      it->rest = m->hdrs[it->hdr].value;
      if (!it->rest.p)
        it->rest.p = "";
    }
    const imsec_sip_hdr *h = &m->hdrs[it->hdr];
    if (line)
      *line = h->line;
    if (no_split(id)) {
      *out = it->rest;
      it->rest.p = NULL;
      return 1;
    }
    if (it->rest.p == h->value.p && trim_lws(it->rest).len == 0) {
      it->rest.p = NULL; /* an empty list field */
      continue;
    }
    return imsec_sip_list_next(&it->rest, out);
  }
}

/* ---------------------------------------------------------------- Via */

static int port_at(imsec_cursor *c, uint16_t *port) {
  const char *s = c->p;
  while (c->p < c->end && lx_digit((unsigned char)*c->p))
    c->p++;
  imsec_str d = {s, (size_t)(c->p - s)};
  uint64_t v;
  if (d.len > 5 || lx_uint(d, 65535, &v) < 0)
    return IMSEC_ERR_PARSE;
  *port = (uint16_t)v;
  return 0;
}

static int host_value(imsec_str v) {
  imsec_cursor c;
  imsec_str h;
  imsec_sip_host_type t;
  lx_init(&c, v.p, v.len);
  if (lx_host(&c, &h, &t) == 0 && c.p == c.end)
    return 0;
  /* RFC 3261 via-received allows a bare IPv6address */
  char tmp[64];
  if (v.len + 2 > sizeof(tmp))
    return IMSEC_ERR_PARSE;
  tmp[0] = '[';
  memcpy(tmp + 1, v.p, v.len);
  tmp[v.len + 1] = ']';
  lx_init(&c, tmp, v.len + 2);
  if (lx_host(&c, &h, &t) == 0 && c.p == c.end)
    return 0;
  return IMSEC_ERR_PARSE;
}

static int via_param(void *ctx, const imsec_sip_param *p) {
  imsec_sip_via *v = ctx;
  uint64_t n;
  if (LX_IEQ(p->name, "branch")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    for (size_t i = 0; i < p->value.len; i++) {
      if (!lx_is(p->value.p[i], LX_TOKEN))
        return IMSEC_ERR_PARSE;
    }
    v->branch = p->value;
  } else if (LX_IEQ(p->name, "received")) {
    if (!p->has_value || p->quoted || host_value(p->value) < 0)
      return IMSEC_ERR_PARSE;
    v->received = p->value;
  } else if (LX_IEQ(p->name, "maddr")) {
    if (!p->has_value || p->quoted || host_value(p->value) < 0)
      return IMSEC_ERR_PARSE;
    v->maddr = p->value;
  } else if (LX_IEQ(p->name, "ttl")) {
    if (!p->has_value || p->value.len > 3 || lx_uint(p->value, 255, &n) < 0)
      return IMSEC_ERR_PARSE;
    v->ttl = p->value;
  } else if (LX_IEQ(p->name, "rport")) {
    /* RFC 3581 §4: response-port = "rport" [EQUAL 1*DIGIT] */
    if (p->has_value &&
        (p->quoted || p->value.len > 5 || lx_uint(p->value, 65535, &n) < 0))
      return IMSEC_ERR_PARSE;
    v->has_rport = 1;
    v->rport = p->value;
  } else if (LX_IEQ(p->name, "alias")) {
    v->has_alias = 1; /* RFC 5923 §9 */
  }
  return 0;
}

/* RFC 3261 §25.1: via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 */
int imsec_sip_via_parse(imsec_str s, size_t max_params, imsec_sip_via *v) {
  imsec_cursor c;
  memset(v, 0, sizeof(*v));
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  IMSEC_GUARD(lx_token(&c, &v->protocol));
  lx_sws(&c);
  if (!lx_accept(&c, '/'))
    return IMSEC_ERR_PARSE;
  lx_sws(&c);
  IMSEC_GUARD(lx_token(&c, &v->version));
  lx_sws(&c);
  if (!lx_accept(&c, '/'))
    return IMSEC_ERR_PARSE;
  lx_sws(&c);
  IMSEC_GUARD(lx_token(&c, &v->transport));
  if (!lx_lws(&c))
    return IMSEC_ERR_PARSE;
  IMSEC_GUARD(lx_host(&c, &v->host, &v->host_type));
  imsec_cursor mark = c;
  lx_sws(&c);
  if (lx_accept(&c, ':')) {
    lx_sws(&c);
    IMSEC_GUARD(port_at(&c, &v->port));
    v->has_port = 1;
  } else {
    c = mark;
  }
  int n = lx_params(&c, max_params, &v->params, via_param, v);
  if (n < 0)
    return n;
  return lx_end(&c);
}

/* ---------------------------------------------------------------- addr */

static int addr_param(void *ctx, const imsec_sip_param *p) {
  imsec_sip_addr *a = ctx;
  uint64_t n;
  if (LX_IEQ(p->name, "tag")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    for (size_t i = 0; i < p->value.len; i++) {
      if (!lx_is(p->value.p[i], LX_TOKEN))
        return IMSEC_ERR_PARSE;
    }
    a->tag = p->value;
  } else if (LX_IEQ(p->name, "expires")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    IMSEC_GUARD(lx_uint(p->value, UINT32_MAX, &n));
    a->expires = (int64_t)n;
  } else if (LX_IEQ(p->name, "q")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    IMSEC_GUARD(lx_qvalue(p->value, &a->q));
  } else if (LX_IEQ(p->name, "+sip.instance")) {
    /* RFC 5626 §4.2: a quoted "<urn:...>" */
    if (!p->has_value)
      return IMSEC_ERR_PARSE;
    a->instance = p->value;
  } else if (LX_IEQ(p->name, "reg-id")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    IMSEC_GUARD(lx_uint(p->value, UINT32_MAX, &n));
    a->reg_id = (int64_t)n;
  } else if (LX_IEQ(p->name, "ob")) {
    a->ob = 1;
  }
  return 0;
}

/* RFC 3261 §25.1: ( name-addr / addr-spec ) *( SEMI params ), and the
 * Contact "*". In addr-spec form the URI ends at ';' and may hold no '?'
 * or ',' (§20: such URIs must be in < >). */
int imsec_sip_addr_parse(imsec_str s, size_t max_params, imsec_sip_addr *a) {
  imsec_cursor c;
  memset(a, 0, sizeof(*a));
  a->expires = -1;
  a->q = -1;
  a->reg_id = -1;
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  if (lx_peek(&c) == '*') {
    c.p++;
    a->star = 1;
    return lx_end(&c);
  }
  int angle = 0;
  if (lx_peek(&c) == '"') {
    IMSEC_GUARD(lx_quoted(&c, &a->display));
    a->display_quoted = 1;
    lx_sws(&c);
    if (lx_peek(&c) != '<')
      return IMSEC_ERR_PARSE;
    angle = 1;
  } else if (lx_peek(&c) == '<') {
    angle = 1;
  } else {
    /* display-name = *(token LWS): look for '<' after the tokens */
    imsec_cursor t = c;
    const char *dstart = t.p, *dend = t.p;
    while (lx_is(lx_peek(&t), LX_TOKEN)) {
      imsec_str tok = lx_span(&t, LX_TOKEN);
      dend = tok.p + tok.len;
      lx_sws(&t);
    }
    if (lx_peek(&t) == '<' && dend != dstart) {
      a->display = (imsec_str){dstart, (size_t)(dend - dstart)};
      c = t;
      angle = 1;
    }
  }
  if (angle) {
    c.p++; /* '<' */
    const char *u = c.p;
    const char *gt = memchr(u, '>', (size_t)(c.end - u));
    if (!gt)
      return IMSEC_ERR_PARSE;
    /* No LWS inside < > (RFC 4475 §3.1.2.14): the URI grammar admits no
     * SP or CTL, and the URI parse below covers every octet. */
    a->uri = (imsec_str){u, (size_t)(gt - u)};
    c.p = gt + 1;
    a->bracketed = 1;
  } else {
    const char *u = c.p;
    while (c.p < c.end && *c.p != ';' && *c.p != ' ' && *c.p != '\t' &&
           *c.p != '\r') {
      if (*c.p == '?' || *c.p == ',' || *c.p == '<' || *c.p == '>' ||
          *c.p == '"' || lx_is(*c.p, LX_CTL))
        return IMSEC_ERR_PARSE;
      c.p++;
    }
    a->uri = (imsec_str){u, (size_t)(c.p - u)};
  }
  imsec_sip_uri uri; /* validation only: no need to clear it */
  IMSEC_GUARD(lx_uri(a->uri, max_params, &uri));
  int n = lx_params(&c, max_params, &a->params, addr_param, a);
  if (n < 0)
    return n;
  return lx_end(&c);
}

/* ---------------------------------------------------------------- others */

/* RFC 3261 §25.1: CSeq = 1*DIGIT LWS Method; §8.1.1.5: < 2**31. */
int imsec_sip_cseq_parse(imsec_str s, imsec_sip_cseq *out) {
  imsec_cursor c;
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  const char *d = c.p;
  while (c.p < c.end && lx_digit((unsigned char)*c.p))
    c.p++;
  uint64_t v;
  int rv = lx_uint((imsec_str){d, (size_t)(c.p - d)}, 0x7fffffffu, &v);
  if (rv < 0)
    return rv;
  if (!lx_lws(&c))
    return IMSEC_ERR_PARSE;
  IMSEC_GUARD(lx_token(&c, &out->method));
  out->seq = (uint32_t)v;
  out->method_id = imsec_sip_method_lookup(out->method);
  return lx_end(&c);
}

/* callid = word [ "@" word ] */
int imsec_sip_callid_parse(imsec_str s, imsec_str *out) {
  imsec_cursor c;
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  const char *start = c.p;
  if (!lx_span(&c, LX_WORD).len)
    return IMSEC_ERR_PARSE;
  if (lx_accept(&c, '@') && !lx_span(&c, LX_WORD).len)
    return IMSEC_ERR_PARSE;
  *out = (imsec_str){start, (size_t)(c.p - start)};
  return lx_end(&c);
}

int imsec_sip_token_parse(imsec_str s, size_t max_params,
                          imsec_sip_token *out) {
  imsec_cursor c;
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  if (lx_peek(&c) == '"') {
    const char *q = c.p;
    imsec_str inner;
    IMSEC_GUARD(lx_quoted(&c, &inner));
    out->token = (imsec_str){q, (size_t)(c.p - q)};
  } else {
    const char *t = c.p;
    imsec_str tok;
    IMSEC_GUARD(lx_token(&c, &tok));
    imsec_cursor mark = c;
    lx_sws(&c);
    if (lx_accept(&c, '/')) {
      /* media-type = m-type SLASH m-subtype */
      lx_sws(&c);
      IMSEC_GUARD(lx_token(&c, &tok));
    } else {
      c = mark;
    }
    out->token = (imsec_str){t, (size_t)(c.p - t)};
  }
  int n = lx_params(&c, max_params, &out->params, NULL, NULL);
  if (n < 0)
    return n;
  return lx_end(&c);
}

static int sec_param(void *ctx, const imsec_sip_param *p) {
  imsec_sip_secmech *s = ctx;
  if (LX_IEQ(p->name, "q")) {
    if (!p->has_value || p->quoted)
      return IMSEC_ERR_PARSE;
    IMSEC_GUARD(lx_qvalue(p->value, &s->q));
  }
  return 0;
}

/* RFC 3329 §2.2: sec-mechanism = mechanism-name *(SEMI mech-parameters) */
int imsec_sip_secmech_parse(imsec_str s, size_t max_params,
                            imsec_sip_secmech *out) {
  imsec_cursor c;
  memset(out, 0, sizeof(*out));
  out->q = -1;
  lx_init(&c, s.p, s.len);
  lx_sws(&c);
  IMSEC_GUARD(lx_token(&c, &out->mechanism));
  int n = lx_params(&c, max_params, &out->params, sec_param, out);
  if (n < 0)
    return n;
  return lx_end(&c);
}

static int digits(const char *p, int n) {
  for (int i = 0; i < n; i++) {
    if (!lx_digit((unsigned char)p[i]))
      return 0;
  }
  return 1;
}

static int in_list(const char *p, const char *list) {
  /* list of 3-letter names */
  for (; *list; list += 3) {
    if (p[0] == list[0] && p[1] == list[1] && p[2] == list[2])
      return 1;
  }
  return 0;
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §25.1) */
int imsec_sip_date_parse(imsec_str s) {
  s = imsec_str_trim(s);
  /* "Sat, 13 Nov 2010 23:29:00 GMT" */
  if (s.len != 29)
    return IMSEC_ERR_PARSE;
  const char *p = s.p;
  if (!in_list(p, "MonTueWedThuFriSatSun") || p[3] != ',' || p[4] != ' ' ||
      !digits(p + 5, 2) || p[7] != ' ' ||
      !in_list(p + 8, "JanFebMarAprMayJunJulAugSepOctNovDec") || p[11] != ' ' ||
      !digits(p + 12, 4) || p[16] != ' ' || !digits(p + 17, 2) ||
      p[19] != ':' || !digits(p + 20, 2) || p[22] != ':' ||
      !digits(p + 23, 2) || p[25] != ' ' || p[26] != 'G' || p[27] != 'M' ||
      p[28] != 'T')
    return IMSEC_ERR_PARSE;
  return 0;
}

/* ---------------------------------------------------------------- iterators */

int imsec_sip_via_next(const imsec_sip_msg *m, imsec_sip_iter *it,
                       imsec_sip_via *out) {
  imsec_str v;
  int rv = imsec_sip_value_next(m, IMSEC_SIP_H_VIA, it, &v, NULL);
  if (rv <= 0)
    return rv;
  IMSEC_GUARD(imsec_sip_via_parse(v, m->lim.max_params, out));
  return 1;
}

int imsec_sip_addr_next(const imsec_sip_msg *m, imsec_sip_hid id,
                        imsec_sip_iter *it, imsec_sip_addr *out) {
  imsec_str v;
  int rv = imsec_sip_value_next(m, id, it, &v, NULL);
  if (rv <= 0)
    return rv;
  IMSEC_GUARD(imsec_sip_addr_parse(v, m->lim.max_params, out));
  return 1;
}

int imsec_sip_token_next(const imsec_sip_msg *m, imsec_sip_hid id,
                         imsec_sip_iter *it, imsec_sip_token *out) {
  imsec_str v;
  int rv = imsec_sip_value_next(m, id, it, &v, NULL);
  if (rv <= 0)
    return rv;
  IMSEC_GUARD(imsec_sip_token_parse(v, m->lim.max_params, out));
  return 1;
}

int imsec_sip_secmech_next(const imsec_sip_msg *m, imsec_sip_hid id,
                           imsec_sip_iter *it, imsec_sip_secmech *out) {
  imsec_str v;
  int rv = imsec_sip_value_next(m, id, it, &v, NULL);
  if (rv <= 0)
    return rv;
  IMSEC_GUARD(imsec_sip_secmech_parse(v, m->lim.max_params, out));
  return 1;
}

int imsec_sip_auth_next(const imsec_sip_msg *m, imsec_sip_hid id,
                        imsec_sip_iter *it, imsec_str *raw) {
  if (id != IMSEC_SIP_H_WWW_AUTHENTICATE && id != IMSEC_SIP_H_AUTHORIZATION &&
      id != IMSEC_SIP_H_PROXY_AUTHENTICATE &&
      id != IMSEC_SIP_H_PROXY_AUTHORIZATION)
    return IMSEC_ERR_INVAL;
  return imsec_sip_value_next(m, id, it, raw, NULL);
}

/* ---------------------------------------------------------------- getters */

/* The value of a field that must occur at most once. */
static int single(const imsec_sip_msg *m, imsec_sip_hid id, imsec_str *v) {
  int32_t i = m->first[id];
  if (i < 0)
    return IMSEC_ERR_NOTFOUND;
  if (m->hdrs[i].next >= 0)
    return IMSEC_ERR_PARSE;
  *v = m->hdrs[i].value;
  return 0;
}

#define CACHED(slot)                                                           \
  do {                                                                         \
    if (m->cstate[slot] < 0)                                                   \
      return m->cstate[slot];                                                  \
  } while (0)

static int store(imsec_sip_msg *m, int slot, int rv) {
  m->cstate[slot] = (int8_t)(rv < 0 ? rv : 1);
  return rv < 0 ? rv : 0;
}

int imsec_sip_get_via(imsec_sip_msg *m, const imsec_sip_via **out) {
  const int slot = IMSEC_SIP_CACHE_VIA;
  CACHED(slot);
  if (!m->cstate[slot]) {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    int rv = imsec_sip_via_next(m, &it, &m->c_via);
    if (rv == 0)
      rv = IMSEC_ERR_NOTFOUND;
    if (store(m, slot, rv) < 0)
      return rv;
  }
  *out = &m->c_via;
  return 0;
}

static int get_addr(imsec_sip_msg *m, int slot, imsec_sip_hid id,
                    imsec_sip_addr *dst, const imsec_sip_addr **out) {
  CACHED(slot);
  if (!m->cstate[slot]) {
    imsec_str v;
    int rv = single(m, id, &v);
    if (rv == 0)
      rv = imsec_sip_addr_parse(v, m->lim.max_params, dst);
    if (rv == 0 && dst->star)
      rv = IMSEC_ERR_PARSE;
    if (store(m, slot, rv) < 0)
      return rv;
  }
  *out = dst;
  return 0;
}

int imsec_sip_get_from(imsec_sip_msg *m, const imsec_sip_addr **out) {
  return get_addr(m, IMSEC_SIP_CACHE_FROM, IMSEC_SIP_H_FROM, &m->c_from, out);
}

int imsec_sip_get_to(imsec_sip_msg *m, const imsec_sip_addr **out) {
  return get_addr(m, IMSEC_SIP_CACHE_TO, IMSEC_SIP_H_TO, &m->c_to, out);
}

int imsec_sip_get_call_id(imsec_sip_msg *m, imsec_str *out) {
  const int slot = IMSEC_SIP_CACHE_CALL_ID;
  CACHED(slot);
  if (!m->cstate[slot]) {
    imsec_str v;
    int rv = single(m, IMSEC_SIP_H_CALL_ID, &v);
    if (rv == 0)
      rv = imsec_sip_callid_parse(v, &m->c_call_id);
    if (store(m, slot, rv) < 0)
      return rv;
  }
  *out = m->c_call_id;
  return 0;
}

int imsec_sip_get_cseq(imsec_sip_msg *m, const imsec_sip_cseq **out) {
  const int slot = IMSEC_SIP_CACHE_CSEQ;
  CACHED(slot);
  if (!m->cstate[slot]) {
    imsec_str v;
    int rv = single(m, IMSEC_SIP_H_CSEQ, &v);
    if (rv == 0)
      rv = imsec_sip_cseq_parse(v, &m->c_cseq);
    if (store(m, slot, rv) < 0)
      return rv;
  }
  *out = &m->c_cseq;
  return 0;
}

static int get_uint(imsec_sip_msg *m, int slot, imsec_sip_hid id, uint64_t max,
                    uint64_t *out) {
  imsec_str v;
  int rv = single(m, id, &v);
  if (rv == 0)
    rv = lx_uint(v, max, out);
  return store(m, slot, rv);
}

int imsec_sip_get_max_forwards(imsec_sip_msg *m, uint32_t *out) {
  const int slot = IMSEC_SIP_CACHE_MAX_FORWARDS;
  CACHED(slot);
  if (!m->cstate[slot]) {
    uint64_t v = 0;
    /* RFC 3261 §20.22: 0-255 in practice (RFC 4475 §3.1.2.4) */
    IMSEC_GUARD(get_uint(m, slot, IMSEC_SIP_H_MAX_FORWARDS, 255, &v));
    m->c_max_forwards = (uint32_t)v;
  }
  *out = m->c_max_forwards;
  return 0;
}

int imsec_sip_get_content_length(imsec_sip_msg *m, uint64_t *out) {
  const int slot = IMSEC_SIP_CACHE_CONTENT_LENGTH;
  CACHED(slot);
  if (!m->cstate[slot]) {
    uint64_t v = 0;
    IMSEC_GUARD(
        get_uint(m, slot, IMSEC_SIP_H_CONTENT_LENGTH, m->lim.max_msg, &v));
    m->c_content_length = v;
  }
  *out = m->c_content_length;
  return 0;
}

int imsec_sip_get_expires(imsec_sip_msg *m, uint32_t *out) {
  const int slot = IMSEC_SIP_CACHE_EXPIRES;
  CACHED(slot);
  if (!m->cstate[slot]) {
    uint64_t v = 0;
    IMSEC_GUARD(get_uint(m, slot, IMSEC_SIP_H_EXPIRES, UINT32_MAX, &v));
    m->c_expires = (uint32_t)v;
  }
  *out = m->c_expires;
  return 0;
}

int imsec_sip_get_content_type(imsec_sip_msg *m, const imsec_sip_token **out) {
  const int slot = IMSEC_SIP_CACHE_CONTENT_TYPE;
  CACHED(slot);
  if (!m->cstate[slot]) {
    imsec_str v;
    int rv = single(m, IMSEC_SIP_H_CONTENT_TYPE, &v);
    if (rv == 0)
      rv = imsec_sip_token_parse(v, m->lim.max_params, &m->c_content_type);
    if (store(m, slot, rv) < 0)
      return rv;
  }
  *out = &m->c_content_type;
  return 0;
}
