/* Stream framing for SIP over TCP/TLS (RFC 3261 §18.3: Content-Length
 * delimits messages on streams) with RFC 5626 §3.5.1 CRLF keepalives. */
#include <stdlib.h>
#include <string.h>

#include "sip_int.h"

int imsec_sip_framer_init(imsec_sip_framer *f, size_t max_msg, int client) {
  memset(f, 0, sizeof(*f));
  if (max_msg < 16)
    return IMSEC_ERR_INVAL;
  f->buf = malloc(max_msg);
  if (!f->buf)
    return IMSEC_ERR_NOMEM;
  f->max_msg = max_msg;
  f->client = client;
  return 0;
}

void imsec_sip_framer_free(imsec_sip_framer *f) {
  free(f->buf);
  f->buf = NULL;
  f->have = 0;
}

static int name_is(const char *p, size_t n, const char *lit) {
  size_t i = 0;
  for (; i < n && lit[i]; i++) {
    if (lx_lower((unsigned char)p[i]) != lit[i])
      return 0;
  }
  return i == n && !lit[i];
}

/* Find the one Content-Length in the header section buf[0..hdr_len) (which
 * ends with CRLFCRLF). Returns its value, or a negative error. */
static int64_t content_length(const char *buf, size_t hdr_len, size_t max) {
  const char *p = buf, *end = buf + hdr_len - 2;
  int64_t found = -1;
  /* skip the start line */
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  if (!eol)
    return IMSEC_ERR_PARSE;
  p = eol + 1;
  while (p < end) {
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    if (*p != ' ' && *p != '\t') {
      const char *n = p;
      while (n < eol && lx_is(*n, LX_TOKEN))
        n++;
      size_t nlen = (size_t)(n - p);
      if (name_is(p, nlen, "content-length") || name_is(p, nlen, "l")) {
        while (n < eol && (*n == ' ' || *n == '\t'))
          n++;
        if (n == eol || *n != ':')
          return IMSEC_ERR_PARSE;
        n++;
        while (n < eol && (*n == ' ' || *n == '\t'))
          n++;
        const char *d = n;
        while (n < eol && lx_digit((unsigned char)*n))
          n++;
        uint64_t v;
        int rv = lx_uint((imsec_str){d, (size_t)(n - d)}, max, &v);
        while (n < eol && (*n == ' ' || *n == '\t' || *n == '\r'))
          n++;
        if (rv == IMSEC_ERR_PARSE || n != eol)
          return IMSEC_ERR_PARSE;
        if (rv < 0)
          return rv;
        if (found >= 0)
          return IMSEC_ERR_PARSE; /* RFC 4475 §3.3.9 */
        found = (int64_t)v;
      }
    }
    p = eol + 1;
  }
  return found < 0 ? IMSEC_ERR_PARSE : found;
}

static int fail(imsec_sip_framer *f, int err) {
  f->err = err;
  return err;
}

int imsec_sip_framer_feed(imsec_sip_framer *f, const char *in, size_t len,
                          imsec_sip_frame *out) {
  out->kind = IMSEC_SIP_FRAME_NONE;
  out->msg = NULL;
  out->msg_len = 0;
  if (f->err)
    return f->err;
  if (!f->buf)
    return IMSEC_ERR_STATE;
  if (f->delivered) {
    f->delivered = 0;
    f->have = f->scan = f->need = 0;
  }
  size_t used = 0;
  /* Between messages: CRLF keepalives (RFC 5626 §3.5.1; RFC 3261 §7.5
   * says stray CRLFs before a start line are ignored). */
  while (f->have == 0 && used < len) {
    char ch = in[used];
    if (ch == '\r' && (f->crlfs == 0 || f->crlfs == 2)) {
      f->crlfs++;
      used++;
      continue;
    }
    if (ch == '\n' && (f->crlfs == 1 || f->crlfs == 3)) {
      f->crlfs++;
      used++;
      if (f->client && f->crlfs == 2) {
        f->crlfs = 0;
        out->kind = IMSEC_SIP_FRAME_PONG;
        return (int)used;
      }
      if (f->crlfs == 4) {
        f->crlfs = 0;
        out->kind = IMSEC_SIP_FRAME_PING;
        return (int)used;
      }
      continue;
    }
    if (f->crlfs == 1 || f->crlfs == 3)
      return fail(f, IMSEC_ERR_PARSE); /* CR without LF */
    f->crlfs = 0;
    break;
  }
  if (used == len)
    return (int)used;

  size_t take = len - used;
  if (take > f->max_msg - f->have)
    take = f->max_msg - f->have;
  memcpy(f->buf + f->have, in + used, take);
  f->have += take;
  if (!f->need) {
    const char *hit = NULL;
    for (size_t i = f->scan; i + 4 <= f->have; i++) {
      const char *q = memchr(f->buf + i, '\r', f->have - i);
      if (!q || (size_t)(q - f->buf) + 4 > f->have)
        break;
      if (q[1] == '\n' && q[2] == '\r' && q[3] == '\n') {
        hit = q;
        break;
      }
      i = (size_t)(q - f->buf);
    }
    if (!hit) {
      if (f->have == f->max_msg)
        return fail(f, IMSEC_ERR_LIMIT);
      f->scan = f->have >= 3 ? f->have - 3 : 0;
      return (int)(used + take);
    }
    size_t hdr_len = (size_t)(hit - f->buf) + 4;
    int64_t cl = content_length(f->buf, hdr_len, f->max_msg);
    if (cl < 0)
      return fail(f, (int)cl);
    if ((uint64_t)cl > f->max_msg - hdr_len)
      return fail(f, IMSEC_ERR_LIMIT);
    f->need = hdr_len + (size_t)cl;
  }
  if (f->have < f->need)
    return (int)(used + take);
  size_t excess = f->have - f->need;
  f->have = f->need;
  out->kind = IMSEC_SIP_FRAME_MSG;
  out->msg = f->buf;
  out->msg_len = f->need;
  f->delivered = 1;
  return (int)(used + take - excess);
}

int imsec_sip_frame_peek(const char *p, size_t n, size_t max_msg, size_t *len) {
  /* RFC 5626 §3.5.1: CRLFCRLF is a ping, a lone CRLF its pong. With only
   * "\r\n" (or "\r\n\r") in hand, a pong is the answer that never
   * stalls a client waiting for one; a server ignores it (RFC 3261 §7.5). */
  if (n >= 1 && p[0] == '\r') {
    if (n < 2)
      return IMSEC_SIP_FRAME_NONE;
    if (p[1] != '\n')
      return IMSEC_ERR_PARSE;
    if (n >= 4 && p[2] == '\r' && p[3] == '\n') {
      *len = 4;
      return IMSEC_SIP_FRAME_PING;
    }
    if (n == 3 && p[2] == '\r')
      return IMSEC_SIP_FRAME_NONE;
    *len = 2;
    return IMSEC_SIP_FRAME_PONG;
  }
  /* The end of the header section, never looking past max_msg. */
  size_t lim = n < max_msg ? n : max_msg;
  size_t hdr_len = 0;
  for (size_t i = 0; i + 4 <= lim;) {
    const char *q = memchr(p + i, '\r', lim - i);
    if (!q || (size_t)(q - p) + 4 > lim)
      break;
    if (q[1] == '\n' && q[2] == '\r' && q[3] == '\n') {
      hdr_len = (size_t)(q - p) + 4;
      break;
    }
    i = (size_t)(q - p) + 1;
  }
  if (hdr_len == 0)
    return n >= max_msg ? IMSEC_ERR_LIMIT : IMSEC_SIP_FRAME_NONE;
  int64_t cl = content_length(p, hdr_len, max_msg);
  if (cl < 0)
    return (int)cl;
  if ((uint64_t)cl > max_msg - hdr_len)
    return IMSEC_ERR_LIMIT;
  if (n < hdr_len + (size_t)cl)
    return IMSEC_SIP_FRAME_NONE;
  *len = hdr_len + (size_t)cl;
  return IMSEC_SIP_FRAME_MSG;
}
