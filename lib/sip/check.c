/* What a proxy must be able to rely on before it touches a message
 * (RFC 3261 §8.2, §16.3; RFC 4475 §3.1.2 and §3.3). */
#include "sip_int.h"

static int bad(imsec_sip_msg *m, int err, unsigned status, const char *reason,
               uint32_t line) {
  m->diag.status = status;
  m->diag.reason = reason;
  m->diag.line = line ? line : m->end_line;
  return err;
}

static uint32_t line_of(const imsec_sip_msg *m, imsec_sip_hid id) {
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, id);
  return h ? h->line : 0;
}

/* The line of the second field with `id` (for "more than one"). */
static uint32_t second_line(const imsec_sip_msg *m, imsec_sip_hid id) {
  const imsec_sip_hdr *h = imsec_sip_hdr_next(m, imsec_sip_hdr_first(m, id));
  return h ? h->line : line_of(m, id);
}

/* TEXT-UTF8 and friends: no CTL outside quoted strings (there a quoted-pair
 * may escape any octet but CR and LF, RFC 3261 §25.1). */
static int octets_ok(imsec_str v) {
  int inq = 0;
  for (size_t i = 0; i < v.len; i++) {
    unsigned char ch = (unsigned char)v.p[i];
    if (inq && ch == '\\' && i + 1 < v.len) {
      unsigned char q = (unsigned char)v.p[i + 1];
      if (q == '\r' || q == '\n')
        return 0;
      i++;
      continue;
    }
    if (ch == '"')
      inq = !inq;
    else if (lx_is(ch, LX_CTL) && ch != '\t')
      return 0;
  }
  return 1;
}

/* RFC 3329 §2.3 and TS 24.229: the one extension a P-CSCF supports in
 * Proxy-Require. */
static int proxy_supports(imsec_str tag) {
  return LX_IEQ(tag, "sec-agree");
}

static int addr_list(imsec_sip_msg *m, imsec_sip_hid id, const char *reason) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  uint32_t line = 0;
  int rv, n = 0, star = 0;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, &line)) > 0) {
    imsec_sip_addr a;
    int prv = imsec_sip_addr_parse(v, m->lim.max_params, &a);
    if (prv < 0)
      return bad(m, prv, 400, reason, line);
    if (a.star && id != IMSEC_SIP_H_CONTACT)
      return bad(m, IMSEC_ERR_PARSE, 400, reason, line);
    star |= a.star;
    n++;
  }
  if (rv < 0)
    return bad(m, rv, 400, reason, line ? line : line_of(m, id));
  /* RFC 3261 §10.2.2: "*" stands alone */
  if (star && n > 1)
    return bad(m, IMSEC_ERR_PARSE, 400, reason, line_of(m, id));
  return 0;
}

static int token_list(imsec_sip_msg *m, imsec_sip_hid id, const char *reason,
                      int proxy_require) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  uint32_t line = 0;
  int rv;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, &line)) > 0) {
    imsec_sip_token t;
    int prv = imsec_sip_token_parse(v, m->lim.max_params, &t);
    if (prv < 0)
      return bad(m, prv, 400, reason, line);
    if (proxy_require && !proxy_supports(t.token))
      return bad(m, IMSEC_ERR_UNSUPPORTED, 420, "Bad Extension", line);
  }
  if (rv < 0)
    return bad(m, rv, 400, reason, line ? line : line_of(m, id));
  return 0;
}

static int sec_list(imsec_sip_msg *m, imsec_sip_hid id, const char *reason) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  uint32_t line = 0;
  int rv;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, &line)) > 0) {
    imsec_sip_secmech s;
    int prv = imsec_sip_secmech_parse(v, m->lim.max_params, &s);
    if (prv < 0)
      return bad(m, prv, 400, reason, line);
  }
  if (rv < 0)
    return bad(m, rv, 400, reason, line ? line : line_of(m, id));
  return 0;
}

int imsec_sip_check(imsec_sip_msg *m) {
  int rv;
  /* every field: no stray control octets */
  for (size_t i = 0; i < m->nhdrs; i++) {
    if (!octets_ok(m->hdrs[i].value))
      return bad(m, IMSEC_ERR_PARSE, 400, "Control character in header field",
                 m->hdrs[i].line);
  }

  if (m->is_request) {
    imsec_sip_uri u;
    rv = imsec_sip_uri_parse(m->ruri, m->lim.max_params, &u);
    if (rv == IMSEC_ERR_LIMIT)
      return bad(m, rv, 414, "Request-URI Too Long", m->start_line);
    if (rv < 0)
      return bad(m, rv, 400, "Malformed Request-URI", m->start_line);
    if (u.scheme == IMSEC_SIP_SCHEME_OTHER)
      return bad(m, IMSEC_ERR_UNSUPPORTED, 416, "Unsupported URI Scheme",
                 m->start_line);
    /* RFC 3261 §19.1.5: headers are not allowed in a Request-URI */
    if (u.has_headers)
      return bad(m, IMSEC_ERR_PARSE, 400, "Headers in Request-URI",
                 m->start_line);
  } else if (m->status > 699) {
    return bad(m, IMSEC_ERR_PARSE, 400, "Malformed Status-Code", m->start_line);
  }

  /* Via: at least one, each well-formed */
  if (m->first[IMSEC_SIP_H_VIA] < 0)
    return bad(m, IMSEC_ERR_PARSE, 400, "Missing Via", 0);
  {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_str v;
    uint32_t line = 0;
    while ((rv = imsec_sip_value_next(m, IMSEC_SIP_H_VIA, &it, &v, &line)) >
           0) {
      imsec_sip_via via;
      int prv = imsec_sip_via_parse(v, m->lim.max_params, &via);
      if (prv < 0)
        return bad(m, prv, 400, "Malformed Via", line);
    }
    if (rv < 0)
      return bad(m, rv, 400, "Malformed Via", line);
  }

  /* the fields every message has exactly once (RFC 3261 §8.1.1) */
  static const struct {
    imsec_sip_hid id;
    const char *missing, *multiple, *malformed;
  } req[] = {
      {IMSEC_SIP_H_FROM, "Missing From", "Multiple From", "Malformed From"},
      {IMSEC_SIP_H_TO, "Missing To", "Multiple To", "Malformed To"},
      {IMSEC_SIP_H_CALL_ID, "Missing Call-ID", "Multiple Call-ID",
       "Malformed Call-ID"},
      {IMSEC_SIP_H_CSEQ, "Missing CSeq", "Multiple CSeq", "Malformed CSeq"},
  };
  for (size_t k = 0; k < sizeof(req) / sizeof(req[0]); k++) {
    imsec_sip_hid id = req[k].id;
    if (m->count[id] == 0)
      return bad(m, IMSEC_ERR_PARSE, 400, req[k].missing, 0);
    if (m->count[id] > 1)
      return bad(m, IMSEC_ERR_PARSE, 400, req[k].multiple, second_line(m, id));
  }
  const imsec_sip_addr *a;
  rv = imsec_sip_get_from(m, &a);
  if (rv < 0)
    return bad(m, rv, 400, "Malformed From", line_of(m, IMSEC_SIP_H_FROM));
  rv = imsec_sip_get_to(m, &a);
  if (rv < 0)
    return bad(m, rv, 400, "Malformed To", line_of(m, IMSEC_SIP_H_TO));
  imsec_str cid;
  rv = imsec_sip_get_call_id(m, &cid);
  if (rv < 0)
    return bad(m, rv, 400, "Malformed Call-ID",
               line_of(m, IMSEC_SIP_H_CALL_ID));
  const imsec_sip_cseq *cs;
  rv = imsec_sip_get_cseq(m, &cs);
  if (rv < 0)
    return bad(m, rv, 400, "Malformed CSeq", line_of(m, IMSEC_SIP_H_CSEQ));
  /* RFC 3261 §8.1.1.5: the CSeq method matches the request method */
  if (m->is_request && !imsec_str_eq(cs->method, m->method))
    return bad(m, IMSEC_ERR_PARSE, 400, "CSeq method does not match",
               line_of(m, IMSEC_SIP_H_CSEQ));

  if (m->count[IMSEC_SIP_H_MAX_FORWARDS] > 1)
    return bad(m, IMSEC_ERR_PARSE, 400, "Multiple Max-Forwards",
               second_line(m, IMSEC_SIP_H_MAX_FORWARDS));
  if (m->count[IMSEC_SIP_H_MAX_FORWARDS]) {
    uint32_t mf;
    rv = imsec_sip_get_max_forwards(m, &mf);
    if (rv < 0)
      return bad(m, rv, 400, "Malformed Max-Forwards",
                 line_of(m, IMSEC_SIP_H_MAX_FORWARDS));
  }
  if (m->count[IMSEC_SIP_H_EXPIRES]) {
    uint32_t e;
    rv = imsec_sip_get_expires(m, &e);
    if (rv < 0)
      return bad(m, rv, 400, "Malformed Expires",
                 line_of(m, IMSEC_SIP_H_EXPIRES));
  }
  if (m->count[IMSEC_SIP_H_MIN_EXPIRES]) {
    uint64_t e;
    const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_MIN_EXPIRES);
    if (m->count[IMSEC_SIP_H_MIN_EXPIRES] > 1 ||
        imsec_sip_uint_parse(h->value, UINT32_MAX, &e) < 0)
      return bad(m, IMSEC_ERR_PARSE, 400, "Malformed Min-Expires", h->line);
  }
  if (m->count[IMSEC_SIP_H_CONTENT_TYPE]) {
    const imsec_sip_token *ct;
    rv = imsec_sip_get_content_type(m, &ct);
    if (rv < 0)
      return bad(m, rv, 400, "Malformed Content-Type",
                 line_of(m, IMSEC_SIP_H_CONTENT_TYPE));
  }
  for (const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_DATE); h;
       h = imsec_sip_hdr_next(m, h)) {
    if (imsec_sip_date_parse(h->value) < 0)
      return bad(m, IMSEC_ERR_PARSE, 400, "Malformed Date", h->line);
  }

  static const struct {
    imsec_sip_hid id;
    const char *reason;
  } addrs[] = {
      {IMSEC_SIP_H_CONTACT, "Malformed Contact"},
      {IMSEC_SIP_H_ROUTE, "Malformed Route"},
      {IMSEC_SIP_H_RECORD_ROUTE, "Malformed Record-Route"},
      {IMSEC_SIP_H_PATH, "Malformed Path"},
      {IMSEC_SIP_H_SERVICE_ROUTE, "Malformed Service-Route"},
      {IMSEC_SIP_H_P_ASSERTED_IDENTITY, "Malformed P-Asserted-Identity"},
      {IMSEC_SIP_H_P_PREFERRED_IDENTITY, "Malformed P-Preferred-Identity"},
      {IMSEC_SIP_H_P_ASSOCIATED_URI, "Malformed P-Associated-URI"},
  };
  for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++)
    IMSEC_GUARD(addr_list(m, addrs[k].id, addrs[k].reason));

  static const struct {
    imsec_sip_hid id;
    const char *reason;
  } toks[] = {
      {IMSEC_SIP_H_REQUIRE, "Malformed Require"},
      {IMSEC_SIP_H_SUPPORTED, "Malformed Supported"},
      {IMSEC_SIP_H_UNSUPPORTED, "Malformed Unsupported"},
      {IMSEC_SIP_H_ALLOW, "Malformed Allow"},
      {IMSEC_SIP_H_P_VISITED_NETWORK_ID, "Malformed P-Visited-Network-ID"},
      {IMSEC_SIP_H_P_ACCESS_NETWORK_INFO, "Malformed P-Access-Network-Info"},
  };
  for (size_t k = 0; k < sizeof(toks) / sizeof(toks[0]); k++)
    IMSEC_GUARD(token_list(m, toks[k].id, toks[k].reason, 0));
  IMSEC_GUARD(
      sec_list(m, IMSEC_SIP_H_SECURITY_CLIENT, "Malformed Security-Client"));
  IMSEC_GUARD(
      sec_list(m, IMSEC_SIP_H_SECURITY_SERVER, "Malformed Security-Server"));
  IMSEC_GUARD(
      sec_list(m, IMSEC_SIP_H_SECURITY_VERIFY, "Malformed Security-Verify"));
  /* last: a well-formed request a proxy cannot serve (RFC 3261 §16.3.4) */
  if (m->is_request)
    IMSEC_GUARD(
        token_list(m, IMSEC_SIP_H_PROXY_REQUIRE, "Malformed Proxy-Require", 1));
  return 0;
}
