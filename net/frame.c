/*
 * The built-in stream framer: enough SIP to find where a message ends on a
 * TCP/TLS stream (RFC 3261 §18.3), plus the RFC 5626 §3.5.1 keepalives. The
 * full SIP framer of lib/sip replaces it through imsec_net_framer.
 */
#include "imsec/net.h"

static int lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Does the header line [p, end) name `name` (case-insensitively), followed
 * by optional whitespace and a colon? Sets *value after the colon. */
static int header_is(const uint8_t *p, const uint8_t *end, const char *name,
                     const uint8_t **value) {
  while (*name) {
    if (p >= end || lower(*p) != *name)
      return 0;
    p++;
    name++;
  }
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p >= end || *p != ':')
    return 0;
  *value = p + 1;
  return 1;
}

int imsec_net_frame_cl(void *arg, const uint8_t *p, size_t n, size_t max_msg,
                       size_t *len) {
  (void)arg;
  /* RFC 5626 §3.5.1: a CRLFCRLF ping, a CRLF pong. */
  if (n >= 1 && p[0] == '\r') {
    if (n < 2)
      return IMSEC_NET_FRAME_MORE;
    if (p[1] != '\n')
      return IMSEC_ERR_PARSE;
    if (n >= 4 && p[2] == '\r' && p[3] == '\n') {
      *len = 4;
      return IMSEC_NET_FRAME_PING;
    }
    if (n == 3 && p[2] == '\r')
      return IMSEC_NET_FRAME_MORE;
    *len = 2;
    return IMSEC_NET_FRAME_PONG;
  }
  /* Find the end of the headers, never looking past max_msg. */
  size_t lim = n < max_msg ? n : max_msg;
  size_t hdr_end = 0;
  for (size_t i = 0; i + 3 < lim; i++) {
    if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
        p[i + 3] == '\n') {
      hdr_end = i + 4;
      break;
    }
  }
  if (hdr_end == 0)
    return n >= max_msg ? IMSEC_ERR_LIMIT : IMSEC_NET_FRAME_MORE;
  /* Content-Length (compact form "l"), mandatory on streams. */
  const uint8_t *line = p;
  const uint8_t *end = p + hdr_end - 2;
  int have = 0;
  uint64_t cl = 0;
  while (line < end) {
    const uint8_t *eol = line;
    while (eol < end && *eol != '\r')
      eol++;
    const uint8_t *v = NULL;
    if (header_is(line, eol, "content-length", &v) ||
        header_is(line, eol, "l", &v)) {
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      if (v == eol || have)
        return IMSEC_ERR_PARSE;
      cl = 0;
      while (v < eol && *v >= '0' && *v <= '9') {
        cl = cl * 10 + (uint64_t)(*v - '0');
        if (cl > max_msg)
          return IMSEC_ERR_LIMIT;
        v++;
      }
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      if (v != eol)
        return IMSEC_ERR_PARSE;
      have = 1;
    }
    line = eol + 2;
  }
  if (!have)
    return IMSEC_ERR_PARSE;
  if (hdr_end + cl > max_msg)
    return IMSEC_ERR_LIMIT;
  if (n < hdr_end + cl)
    return IMSEC_NET_FRAME_MORE;
  *len = hdr_end + (size_t)cl;
  return IMSEC_NET_FRAME_MSG;
}
