/* SIP message scanning (RFC 3261 §7, §25): start line, header fields with
 * folding, the empty line, the body. Typed forms are parsed later, on
 * access (typed.c), so the scan touches each octet about once. */
#include <stdlib.h>
#include <string.h>

#include "sip_int.h"

#define HDR_REMOVED 1u
#define HDR_EDITED 2u

void imsec_sip_limits_default(imsec_sip_limits *l) {
  l->max_msg = 65536;
  l->max_headers = 256;
  l->max_line = 8192;
  l->max_params = 64;
}

void imsec_sip_msg_init(imsec_sip_msg *m, const imsec_sip_limits *lim) {
  memset(m, 0, sizeof(*m) - sizeof(m->inline_hdrs));
  if (lim)
    m->lim = *lim;
  else
    imsec_sip_limits_default(&m->lim);
  m->hdrs = m->inline_hdrs;
  m->cap = IMSEC_SIP_INLINE_HDRS;
}

void imsec_sip_msg_free(imsec_sip_msg *m) {
  if (m->hdrs && m->hdrs != m->inline_hdrs)
    free(m->hdrs);
  m->hdrs = m->inline_hdrs;
  m->cap = IMSEC_SIP_INLINE_HDRS;
  m->nhdrs = 0;
}

static int fail(imsec_sip_msg *m, int err, unsigned status, const char *reason,
                uint32_t line) {
  m->diag.status = status;
  m->diag.reason = reason;
  m->diag.line = line ? line : (m->end_line ? m->end_line : 1);
  return err;
}

imsec_sip_method imsec_sip_method_lookup(imsec_str s) {
  /* RFC 3261 §7.1: methods are case-sensitive. */
  static const struct {
    const char *name;
    imsec_sip_method id;
  } tab[] = {
      {"INVITE", IMSEC_SIP_M_INVITE},   {"ACK", IMSEC_SIP_M_ACK},
      {"BYE", IMSEC_SIP_M_BYE},         {"CANCEL", IMSEC_SIP_M_CANCEL},
      {"OPTIONS", IMSEC_SIP_M_OPTIONS}, {"REGISTER", IMSEC_SIP_M_REGISTER},
      {"PRACK", IMSEC_SIP_M_PRACK},     {"SUBSCRIBE", IMSEC_SIP_M_SUBSCRIBE},
      {"NOTIFY", IMSEC_SIP_M_NOTIFY},   {"PUBLISH", IMSEC_SIP_M_PUBLISH},
      {"INFO", IMSEC_SIP_M_INFO},       {"REFER", IMSEC_SIP_M_REFER},
      {"MESSAGE", IMSEC_SIP_M_MESSAGE}, {"UPDATE", IMSEC_SIP_M_UPDATE},
  };
  for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
    if (s.len && s.p[0] == tab[i].name[0] &&
        imsec_str_eq(s, imsec_str_c(tab[i].name)))
      return tab[i].id;
  }
  return IMSEC_SIP_M_OTHER;
}

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT. Returns 0 for 2.0, 1 for
 * another well-formed version, -1 when malformed. */
static int version_kind(imsec_str v) {
  if (v.len < 7 || !imsec_str_istarts_with(v, IMSEC_STR_LIT("SIP/")))
    return -1;
  size_t i = 4, d1 = 0, d2 = 0;
  while (i < v.len && lx_digit((unsigned char)v.p[i]))
    i++, d1++;
  if (!d1 || i >= v.len || v.p[i] != '.')
    return -1;
  i++;
  while (i < v.len && lx_digit((unsigned char)v.p[i]))
    i++, d2++;
  if (!d2 || i != v.len)
    return -1;
  return v.len == 7 && v.p[4] == '2' && v.p[6] == '0' ? 0 : 1;
}

static int no_ctl(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    if (lx_is(s.p[i], LX_CTL) && s.p[i] != '\t')
      return 0;
  }
  return 1;
}

/* RFC 3261 §25.1 Request-Line / Status-Line, without its CRLF. */
static int start_line(imsec_sip_msg *m, imsec_str l, uint32_t ln) {
  const char *p = l.p, *end = l.p + l.len;
  if (l.len >= 4 && imsec_str_istarts_with(l, IMSEC_STR_LIT("SIP/"))) {
    const char *sp = memchr(p, ' ', l.len);
    if (!sp)
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Status-Line", ln);
    m->version = (imsec_str){p, (size_t)(sp - p)};
    int vk = version_kind(m->version);
    if (vk < 0)
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed SIP version", ln);
    if (vk > 0)
      return fail(m, IMSEC_ERR_UNSUPPORTED, 505, "Version Not Supported", ln);
    const char *c = sp + 1;
    if (end - c < 4 || !lx_digit((unsigned char)c[0]) ||
        !lx_digit((unsigned char)c[1]) || !lx_digit((unsigned char)c[2]) ||
        c[3] != ' ')
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Status-Code", ln);
    m->status =
        (unsigned)((c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0'));
    if (m->status < 100)
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Status-Code", ln);
    m->reason = (imsec_str){c + 4, (size_t)(end - (c + 4))};
    if (!no_ctl(m->reason))
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Reason-Phrase", ln);
    m->is_request = 0;
    return 0;
  }
  /* Request-Line = Method SP Request-URI SP SIP-Version CRLF */
  imsec_cursor c;
  lx_init(&c, p, l.len);
  if (lx_token(&c, &m->method) < 0 || lx_peek(&c) != ' ')
    return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Request-Line", ln);
  c.p++;
  const char *u = c.p;
  while (c.p < c.end && *c.p != ' ')
    c.p++;
  m->ruri = (imsec_str){u, (size_t)(c.p - u)};
  if (!m->ruri.len || c.p == c.end || !no_ctl(m->ruri))
    return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Request-Line", ln);
  c.p++;
  m->version = lx_rest(&c);
  int vk = version_kind(m->version);
  if (vk < 0)
    return fail(m, IMSEC_ERR_PARSE, 400, "Malformed Request-Line", ln);
  if (vk > 0)
    return fail(m, IMSEC_ERR_UNSUPPORTED, 505, "Version Not Supported", ln);
  m->method_id = imsec_sip_method_lookup(m->method);
  m->is_request = 1;
  return 0;
}

/* The first ':' in [p, end), or NULL. It is a few octets away (after a
 * header name), where a word at a time beats a library call. */
static char *find_colon(char *p, char *end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&    \
    (defined(__GNUC__) || defined(__clang__))
  while (end - p >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t x = v ^ 0x3a3a3a3a3a3a3a3aULL;
    uint64_t t = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
    if (t)
      return p + (__builtin_ctzll(t) >> 3);
    p += 8;
  }
#endif
  return p < end ? memchr(p, ':', (size_t)(end - p)) : NULL;
}

static int grow(imsec_sip_msg *m) {
  size_t ncap = m->cap * 2;
  if (ncap > m->lim.max_headers)
    ncap = m->lim.max_headers;
  if (ncap <= m->cap)
    return IMSEC_ERR_LIMIT;
  imsec_sip_hdr *n;
  if (m->hdrs == m->inline_hdrs) {
    n = malloc(ncap * sizeof(*n));
    if (!n)
      return IMSEC_ERR_NOMEM;
    memcpy(n, m->hdrs, m->nhdrs * sizeof(*n));
  } else {
    n = realloc(m->hdrs, ncap * sizeof(*n));
    if (!n)
      return IMSEC_ERR_NOMEM;
  }
  m->hdrs = n;
  m->cap = ncap;
  return 0;
}

/* Rebuild the per-id chains (after an insert or at the end of a parse). */
static void reindex(imsec_sip_msg *m) {
  int32_t last[IMSEC_SIP_H_COUNT];
  for (int i = 0; i < IMSEC_SIP_H_COUNT; i++) {
    m->first[i] = -1;
    m->count[i] = 0;
  }
  for (size_t i = 0; i < m->nhdrs; i++) {
    imsec_sip_hdr *h = &m->hdrs[i];
    h->next = -1;
    if (h->flags & HDR_REMOVED)
      continue;
    if (m->first[h->id] < 0)
      m->first[h->id] = (int32_t)i;
    else
      m->hdrs[last[h->id]].next = (int32_t)i;
    last[h->id] = (int32_t)i;
    m->count[h->id]++;
  }
}

int imsec_sip_parse(imsec_sip_msg *m, char *buf, size_t len, int stream) {
  m->nhdrs = 0;
  m->buf = buf;
  m->len = 0;
  m->body = IMSEC_STR_NULL;
  m->has_body_length = 0;
  m->new_ruri = IMSEC_STR_NULL;
  m->method = m->ruri = m->reason = m->version = IMSEC_STR_NULL;
  m->status = 0;
  m->method_id = IMSEC_SIP_M_OTHER;
  memset(&m->diag, 0, sizeof(m->diag));
  memset(m->cstate, 0, sizeof(m->cstate));
  m->end_line = 0;
  m->start_line = 1;
  if (!buf && len)
    return fail(m, IMSEC_ERR_INVAL, 400, "No message", 0);

  char *p = buf, *end = buf + len;
  /* RFC 3261 §7.5: CRLFs before the start line are ignored. */
  uint32_t line = 1; /* lines are counted from the start of the buffer */
  while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
    p += 2;
    line++;
  }
  size_t avail = (size_t)(end - p);
  size_t look = avail < m->lim.max_line + 2 ? avail : m->lim.max_line + 2;
  char *eol = look ? memchr(p, '\n', look) : NULL;
  if (!eol) {
    if (avail > m->lim.max_line + 1)
      return fail(m, IMSEC_ERR_LIMIT, 400, "Start line too long", line);
    return fail(m, IMSEC_ERR_AGAIN, 400, "Incomplete start line", line);
  }
  if (eol == p || eol[-1] != '\r')
    return fail(m, IMSEC_ERR_PARSE, 400, "Bare LF in start line", line);
  if ((size_t)(eol - 1 - p) > m->lim.max_line)
    return fail(m, IMSEC_ERR_LIMIT, 400, "Start line too long", line);
  if (memchr(p, '\r', (size_t)(eol - 1 - p)))
    return fail(m, IMSEC_ERR_PARSE, 400, "Bare CR in start line", line);
  m->start_line = line;
  IMSEC_GUARD(start_line(m, (imsec_str){p, (size_t)(eol - 1 - p)}, line));

  p = eol + 1;
  memset(m->first, 0xff, sizeof(m->first)); /* all -1 */
  memset(m->count, 0, sizeof(m->count));
  int32_t last[IMSEC_SIP_H_COUNT];
  for (;;) {
    line++;
    if (end - p < 2) {
      if (len > m->lim.max_msg)
        return fail(m, IMSEC_ERR_LIMIT, 513, "Message Too Large", 0);
      return fail(m, IMSEC_ERR_AGAIN, 400, "Header section does not end", line);
    }
    if (p[0] == '\r' && p[1] == '\n') {
      p += 2;
      m->end_line = line;
      break;
    }
    if ((size_t)(p - buf) > m->lim.max_msg)
      return fail(m, IMSEC_ERR_LIMIT, 513, "Message Too Large", line);
    uint32_t hline = line;
    char *s = p;
    size_t room = (size_t)(end - s);
    if (room > m->lim.max_line + 2)
      room = m->lim.max_line + 2;
    eol = memchr(s, '\n', room);
    for (;;) {
      if (!eol) {
        if ((size_t)(end - s) > m->lim.max_line + 1)
          return fail(m, IMSEC_ERR_LIMIT, 400, "Header field too long", hline);
        return fail(m, IMSEC_ERR_AGAIN, 400, "Header section does not end",
                    line);
      }
      if (eol[-1] != '\r')
        return fail(m, IMSEC_ERR_PARSE, 400, "Bare LF in header field", line);
      /* RFC 3261 §7.3.1: a line starting with SP or HTAB continues the
       * field; unfold it in place. */
      if (end - eol >= 2 && (eol[1] == ' ' || eol[1] == '\t')) {
        eol[-1] = ' ';
        eol[0] = ' ';
        line++;
        size_t used = (size_t)(eol + 1 - s);
        if (used > m->lim.max_line)
          return fail(m, IMSEC_ERR_LIMIT, 400, "Header field too long", hline);
        size_t r = (size_t)(end - (eol + 1));
        if (r > m->lim.max_line + 2 - used)
          r = m->lim.max_line + 2 - used;
        eol = memchr(eol + 1, '\n', r);
        continue;
      }
      if (end - eol < 2) {
        /* cannot tell yet whether the next line folds */
        return fail(m, IMSEC_ERR_AGAIN, 400, "Header section does not end",
                    line);
      }
      break;
    }
    char *fe = eol - 1; /* the CR */
    if ((size_t)(fe - s) > m->lim.max_line)
      return fail(m, IMSEC_ERR_LIMIT, 400, "Header field too long", hline);
    /* field-name = token, then HCOLON = *( SP / HTAB ) ":" SWS */
    char *colon = find_colon(s, fe);
    if (!colon)
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed header field", hline);
    char *n = colon;
    while (n > s && (n[-1] == ' ' || n[-1] == '\t'))
      n--;
    imsec_str name = {s, (size_t)(n - s)};
    if (!name.len)
      return fail(m, IMSEC_ERR_PARSE, 400, "Malformed header field", hline);
    imsec_sip_hid hid = imsec_sip_hid_lookup(name);
    if (hid == IMSEC_SIP_H_OTHER) {
      /* a known name is a token; check the others octet by octet, with no
       * early exit (no mispredicted branch per octet) */
      unsigned tok = LX_TOKEN;
      for (const char *q = s; q < n; q++)
        tok &= imsec_sip_ctab[(unsigned char)*q];
      if (!tok)
        return fail(m, IMSEC_ERR_PARSE, 400, "Malformed header field", hline);
    }
    n = colon + 1;
    while (n < fe && (*n == ' ' || *n == '\t'))
      n++;
    char *ve = fe;
    while (ve > n && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (m->nhdrs >= m->lim.max_headers)
      return fail(m, IMSEC_ERR_LIMIT, 513, "Too many header fields", hline);
    if (m->nhdrs == m->cap) {
      int rv = grow(m);
      if (rv < 0)
        return fail(m, rv, rv == IMSEC_ERR_LIMIT ? 513 : 500,
                    rv == IMSEC_ERR_LIMIT ? "Too many header fields"
                                          : "Out of memory",
                    hline);
    }
    imsec_sip_hdr *h = &m->hdrs[m->nhdrs];
    h->name = name;
    h->value = (imsec_str){n, (size_t)(ve - n)};
    h->line = hline;
    h->id = (uint16_t)hid;
    h->flags = 0;
    h->next = -1;
    if (m->first[h->id] < 0)
      m->first[h->id] = (int32_t)m->nhdrs;
    else
      m->hdrs[last[h->id]].next = (int32_t)m->nhdrs;
    last[h->id] = (int32_t)m->nhdrs;
    if (m->count[h->id] < UINT16_MAX)
      m->count[h->id]++;
    m->nhdrs++;
    p = eol + 1;
  }

  size_t hdr_len = (size_t)(p - buf);
  if (hdr_len > m->lim.max_msg)
    return fail(m, IMSEC_ERR_LIMIT, 513, "Message Too Large", 0);
  size_t rest = (size_t)(end - p);
  int32_t cl = m->first[IMSEC_SIP_H_CONTENT_LENGTH];
  if (cl >= 0) {
    const imsec_sip_hdr *h = &m->hdrs[cl];
    if (m->count[IMSEC_SIP_H_CONTENT_LENGTH] > 1)
      return fail(m, IMSEC_ERR_PARSE, 400, "Multiple Content-Length",
                  m->hdrs[h->next].line);
    uint64_t v;
    int rv = lx_uint(h->value, UINT64_MAX, &v);
    if (rv == IMSEC_ERR_PARSE)
      return fail(m, rv, 400, "Malformed Content-Length", h->line);
    if (rv < 0 || v > m->lim.max_msg - hdr_len)
      return fail(m, IMSEC_ERR_LIMIT, 513, "Message Too Large", h->line);
    m->c_content_length = v;
    m->cstate[IMSEC_SIP_CACHE_CONTENT_LENGTH] = 1;
    if (v > rest) {
      if (stream)
        return fail(m, IMSEC_ERR_AGAIN, 400, "Body incomplete", h->line);
      return fail(m, IMSEC_ERR_PARSE, 400, "Body shorter than Content-Length",
                  h->line);
    }
    m->body = (imsec_str){p, (size_t)v};
    m->has_body_length = 1;
  } else {
    if (stream)
      return fail(m, IMSEC_ERR_PARSE, 400, "Missing Content-Length", 0);
    if (rest > m->lim.max_msg - hdr_len)
      return fail(m, IMSEC_ERR_LIMIT, 513, "Message Too Large", 0);
    m->body = (imsec_str){p, rest};
  }
  m->len = (size_t)(m->body.p + m->body.len - buf);
  return 0;
}

size_t imsec_sip_msg_len(const imsec_sip_msg *m) {
  return m->len;
}

const imsec_sip_hdr *imsec_sip_hdr_first(const imsec_sip_msg *m,
                                         imsec_sip_hid id) {
  if ((unsigned)id >= IMSEC_SIP_H_COUNT || m->first[id] < 0)
    return NULL;
  return &m->hdrs[m->first[id]];
}

const imsec_sip_hdr *imsec_sip_hdr_next(const imsec_sip_msg *m,
                                        const imsec_sip_hdr *h) {
  return h && h->next >= 0 ? &m->hdrs[h->next] : NULL;
}

const imsec_sip_hdr *imsec_sip_hdr_find(const imsec_sip_msg *m,
                                        imsec_str name) {
  imsec_sip_hid id = imsec_sip_hid_lookup(name);
  if (id != IMSEC_SIP_H_OTHER)
    return imsec_sip_hdr_first(m, id);
  for (int32_t i = m->first[IMSEC_SIP_H_OTHER]; i >= 0; i = m->hdrs[i].next) {
    if (imsec_str_ieq(m->hdrs[i].name, name))
      return &m->hdrs[i];
  }
  return NULL;
}

/* ---------------------------------------------------------------- editor */

static void drop_cache(imsec_sip_msg *m) {
  memset(m->cstate, 0, sizeof(m->cstate));
}

int imsec_sip_msg_insert(imsec_sip_msg *m, size_t before, imsec_str name,
                         imsec_str value) {
  if (before > m->nhdrs || !name.len)
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < name.len; i++) {
    if (!lx_is(name.p[i], LX_TOKEN))
      return IMSEC_ERR_INVAL;
  }
  for (size_t i = 0; i < value.len; i++) {
    if (value.p[i] == '\r' || value.p[i] == '\n')
      return IMSEC_ERR_INVAL;
  }
  if (m->nhdrs >= m->lim.max_headers)
    return IMSEC_ERR_LIMIT;
  if (m->nhdrs == m->cap)
    IMSEC_GUARD(grow(m));
  memmove(&m->hdrs[before + 1], &m->hdrs[before],
          (m->nhdrs - before) * sizeof(m->hdrs[0]));
  imsec_sip_hdr *h = &m->hdrs[before];
  h->name = name;
  h->value = value;
  h->line = 0;
  h->id = (uint16_t)imsec_sip_hid_lookup(name);
  h->flags = HDR_EDITED;
  m->nhdrs++;
  reindex(m);
  drop_cache(m);
  return 0;
}

long imsec_sip_msg_index(const imsec_sip_msg *m, imsec_sip_hid id) {
  if ((unsigned)id >= IMSEC_SIP_H_COUNT)
    return -1;
  return m->first[id];
}

int imsec_sip_msg_push_top(imsec_sip_msg *m, imsec_str name, imsec_str value) {
  imsec_sip_hid id = imsec_sip_hid_lookup(name);
  long at = id != IMSEC_SIP_H_OTHER ? m->first[id] : -1;
  return imsec_sip_msg_insert(m, at < 0 ? m->nhdrs : (size_t)at, name, value);
}

int imsec_sip_msg_remove(imsec_sip_msg *m, size_t idx) {
  if (idx >= m->nhdrs || (m->hdrs[idx].flags & HDR_REMOVED))
    return IMSEC_ERR_INVAL;
  m->hdrs[idx].flags |= HDR_REMOVED;
  reindex(m);
  drop_cache(m);
  return 0;
}

size_t imsec_sip_msg_remove_all(imsec_sip_msg *m, imsec_sip_hid id) {
  size_t n = 0;
  for (size_t i = 0; i < m->nhdrs; i++) {
    if (m->hdrs[i].id == id && !(m->hdrs[i].flags & HDR_REMOVED)) {
      m->hdrs[i].flags |= HDR_REMOVED;
      n++;
    }
  }
  reindex(m);
  drop_cache(m);
  return n;
}

int imsec_sip_msg_replace(imsec_sip_msg *m, size_t idx, imsec_str value) {
  if (idx >= m->nhdrs || (m->hdrs[idx].flags & HDR_REMOVED))
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < value.len; i++) {
    if (value.p[i] == '\r' || value.p[i] == '\n')
      return IMSEC_ERR_INVAL;
  }
  m->hdrs[idx].value = value;
  m->hdrs[idx].flags |= HDR_EDITED;
  drop_cache(m);
  return 0;
}

int imsec_sip_msg_set_ruri(imsec_sip_msg *m, imsec_str ruri) {
  if (!m->is_request || !ruri.len)
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < ruri.len; i++) {
    if (ruri.p[i] == ' ' || lx_is(ruri.p[i], LX_CTL))
      return IMSEC_ERR_INVAL;
  }
  m->new_ruri = ruri;
  return 0;
}

static int put(char *out, size_t cap, size_t *len, imsec_str s) {
  if (s.len > cap - *len)
    return IMSEC_ERR_NOBUF;
  if (s.len)
    memcpy(out + *len, s.p, s.len);
  *len += s.len;
  return 0;
}

int imsec_sip_msg_serialize(const imsec_sip_msg *m, char *out, size_t cap) {
  size_t n = 0;
  static const imsec_str sp = {" ", 1}, crlf = {"\r\n", 2}, colon = {": ", 2};
  if (m->is_request) {
    IMSEC_GUARD(put(out, cap, &n, m->method));
    IMSEC_GUARD(put(out, cap, &n, sp));
    IMSEC_GUARD(put(out, cap, &n, m->new_ruri.len ? m->new_ruri : m->ruri));
    IMSEC_GUARD(put(out, cap, &n, sp));
    IMSEC_GUARD(put(out, cap, &n, m->version));
  } else {
    char code[4] = {(char)('0' + m->status / 100 % 10),
                    (char)('0' + m->status / 10 % 10),
                    (char)('0' + m->status % 10), ' '};
    IMSEC_GUARD(put(out, cap, &n, m->version));
    IMSEC_GUARD(put(out, cap, &n, sp));
    IMSEC_GUARD(put(out, cap, &n, (imsec_str){code, 4}));
    IMSEC_GUARD(put(out, cap, &n, m->reason));
  }
  IMSEC_GUARD(put(out, cap, &n, crlf));
  for (size_t i = 0; i < m->nhdrs; i++) {
    const imsec_sip_hdr *h = &m->hdrs[i];
    if (h->flags & HDR_REMOVED)
      continue;
    IMSEC_GUARD(put(out, cap, &n, h->name));
    IMSEC_GUARD(put(out, cap, &n, colon));
    IMSEC_GUARD(put(out, cap, &n, h->value));
    IMSEC_GUARD(put(out, cap, &n, crlf));
  }
  IMSEC_GUARD(put(out, cap, &n, crlf));
  IMSEC_GUARD(put(out, cap, &n, m->body));
  if (n > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  return (int)n;
}
