/* Building SIP messages into the caller's buffer (RFC 3261 §7, §8.2.6). */
#include <string.h>

#include "sip_int.h"

void imsec_sip_build_init(imsec_sip_builder *b, char *buf, size_t cap) {
  b->buf = buf;
  b->cap = buf ? cap : 0;
  b->len = 0;
  b->err = 0;
}

static void put(imsec_sip_builder *b, const char *p, size_t n) {
  if (b->err)
    return;
  if (n > b->cap - b->len) {
    b->err = IMSEC_ERR_NOBUF;
    return;
  }
  if (n)
    memcpy(b->buf + b->len, p, n);
  b->len += n;
}

static void puts_(imsec_sip_builder *b, imsec_str s) {
  put(b, s.p, s.len);
}

static void put_uint(imsec_sip_builder *b, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(b, tmp + sizeof(tmp) - n, n);
}

/* Refuse text that would break the framing: CR, LF (header injection). */
static int line_safe(imsec_str s) {
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] == '\r' || s.p[i] == '\n')
      return 0;
  }
  return 1;
}

static int is_token(imsec_str s) {
  if (!s.len)
    return 0;
  for (size_t i = 0; i < s.len; i++) {
    if (!lx_is(s.p[i], LX_TOKEN))
      return 0;
  }
  return 1;
}

void imsec_sip_build_request(imsec_sip_builder *b, imsec_str method,
                             imsec_str ruri) {
  if (!b->err && (!is_token(method) || !ruri.len || !line_safe(ruri) ||
                  lx_find(ruri, ' ') >= 0))
    b->err = IMSEC_ERR_INVAL;
  puts_(b, method);
  put(b, " ", 1);
  puts_(b, ruri);
  put(b, " SIP/2.0\r\n", 10);
}

void imsec_sip_build_status(imsec_sip_builder *b, unsigned code,
                            imsec_str reason) {
  if (!b->err && (code < 100 || code > 699 || !line_safe(reason)))
    b->err = IMSEC_ERR_INVAL;
  put(b, "SIP/2.0 ", 8);
  put_uint(b, code);
  put(b, " ", 1);
  puts_(b, reason);
  put(b, "\r\n", 2);
}

void imsec_sip_build_header(imsec_sip_builder *b, imsec_str name,
                            imsec_str value) {
  if (!b->err && (!is_token(name) || !line_safe(value)))
    b->err = IMSEC_ERR_INVAL;
  puts_(b, name);
  put(b, ": ", 2);
  puts_(b, value);
  put(b, "\r\n", 2);
}

void imsec_sip_build_header_uint(imsec_sip_builder *b, imsec_str name,
                                 uint64_t value) {
  if (!b->err && !is_token(name))
    b->err = IMSEC_ERR_INVAL;
  puts_(b, name);
  put(b, ": ", 2);
  put_uint(b, value);
  put(b, "\r\n", 2);
}

void imsec_sip_build_raw(imsec_sip_builder *b, imsec_str text) {
  puts_(b, text);
}

static void copy_fields(imsec_sip_builder *b, imsec_sip_msg *req,
                        imsec_sip_hid id) {
  for (const imsec_sip_hdr *h = imsec_sip_hdr_first(req, id); h;
       h = imsec_sip_hdr_next(req, h))
    imsec_sip_build_header(b, imsec_str_c(imsec_sip_hid_name(id)), h->value);
}

/* RFC 3261 §8.2.6.2: a response copies Via (all, in order), From, Call-ID,
 * CSeq and To, adding a To tag unless the request had one. */
void imsec_sip_build_response(imsec_sip_builder *b, imsec_sip_msg *req,
                              unsigned code, imsec_str reason,
                              imsec_str to_tag) {
  const imsec_sip_addr *to;
  if (!b->err &&
      (!req->is_request || !imsec_sip_hdr_first(req, IMSEC_SIP_H_VIA) ||
       imsec_sip_get_to(req, &to) < 0 ||
       !imsec_sip_hdr_first(req, IMSEC_SIP_H_FROM) ||
       !imsec_sip_hdr_first(req, IMSEC_SIP_H_CALL_ID) ||
       !imsec_sip_hdr_first(req, IMSEC_SIP_H_CSEQ) ||
       (to_tag.len && !is_token(to_tag))))
    b->err = IMSEC_ERR_INVAL;
  if (b->err)
    return;
  imsec_sip_build_status(b, code, reason);
  copy_fields(b, req, IMSEC_SIP_H_VIA);
  copy_fields(b, req, IMSEC_SIP_H_FROM);
  const imsec_sip_hdr *th = imsec_sip_hdr_first(req, IMSEC_SIP_H_TO);
  put(b, "To: ", 4);
  puts_(b, th->value);
  if (!to->tag.len && to_tag.len) {
    put(b, ";tag=", 5);
    puts_(b, to_tag);
  }
  put(b, "\r\n", 2);
  copy_fields(b, req, IMSEC_SIP_H_CALL_ID);
  copy_fields(b, req, IMSEC_SIP_H_CSEQ);
}

int imsec_sip_build_finish(imsec_sip_builder *b, imsec_str body) {
  put(b, "Content-Length: ", 16);
  put_uint(b, body.len);
  put(b, "\r\n\r\n", 4);
  puts_(b, body);
  if (b->err)
    return b->err;
  if (b->len > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  return (int)b->len;
}
