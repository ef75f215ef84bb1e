/* Answers to input a proxy refuses before it could parse it (RFC 3261
 * §21.4.1 400, §21.5.14 513), and the received/rport marks a server puts on
 * the Via of a request it receives (RFC 3261 §18.2.1, RFC 3581 §4). */
#include <stdlib.h>
#include <string.h>

#include "sip_int.h"

#define REFUSAL_MAX_LINE 8192

/* The fields a response copies (RFC 3261 §8.2.6.2). */
static int wanted(imsec_str name) {
  switch (imsec_sip_hid_lookup(name)) {
  case IMSEC_SIP_H_VIA:
  case IMSEC_SIP_H_FROM:
  case IMSEC_SIP_H_TO:
  case IMSEC_SIP_H_CALL_ID:
  case IMSEC_SIP_H_CSEQ:
    return 1;
  default:
    return 0;
  }
}

/* No control octet but HTAB: nothing an attacker sent that could split a
 * header line goes back out. */
static int clean(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lx_is(p[i], LX_CTL) && p[i] != '\t')
      return 0;
  return 1;
}

/* Copy into `mini` the request line and the wanted header fields of the
 * partial message p[0..n), unfolded, then an empty body. Returns the length
 * of the mini message, or IMSEC_ERR_PARSE (no request line). */
static int extract(const char *p, size_t n, char *mini, imsec_str *method) {
  const char *end = p + n;
  while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
    p += 2;
  size_t look = (size_t)(end - p);
  if (look > REFUSAL_MAX_LINE + 2)
    look = REFUSAL_MAX_LINE + 2;
  const char *lf = look ? memchr(p, '\n', look) : NULL;
  if (!lf || lf == p || lf[-1] != '\r')
    return IMSEC_ERR_PARSE;
  size_t rl = (size_t)(lf - 1 - p);
  if (rl < 4 || !clean(p, rl) ||
      imsec_str_istarts_with((imsec_str){p, rl}, IMSEC_STR_LIT("SIP/")))
    return IMSEC_ERR_PARSE;
  const char *sp = memchr(p, ' ', rl);
  if (!sp || sp == p)
    return IMSEC_ERR_PARSE;
  if (method)
    *method = (imsec_str){p, (size_t)(sp - p)};
  size_t len = 0;
  memcpy(mini, p, rl + 2);
  len = rl + 2;
  const char *s = lf + 1;
  size_t fstart = 0; /* where the field being copied starts in mini */
  int keeping = 0;
  while (s < end) {
    lf = memchr(s, '\n', (size_t)(end - s));
    if (!lf)
      break; /* an incomplete last line */
    size_t ll = (size_t)(lf - s);
    if (ll && s[ll - 1] == '\r')
      ll--;
    if (ll == 0)
      break; /* the end of the header section */
    if (s[0] == ' ' || s[0] == '\t') {
      /* RFC 3261 §7.3.1: a continuation of the field above. */
      if (keeping) {
        if (!clean(s, ll) || len - fstart + ll > REFUSAL_MAX_LINE) {
          len = fstart;
          keeping = 0;
        } else {
          len -= 2; /* the CRLF of the line above */
          memcpy(mini + len, s, ll);
          len += ll;
          mini[len++] = '\r';
          mini[len++] = '\n';
        }
      }
      s = lf + 1;
      continue;
    }
    keeping = 0;
    const char *colon = memchr(s, ':', ll);
    if (colon) {
      const char *ne = colon;
      while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
      if (wanted((imsec_str){s, (size_t)(ne - s)}) && ll <= REFUSAL_MAX_LINE &&
          clean(s, ll)) {
        fstart = len;
        memcpy(mini + len, s, ll);
        len += ll;
        mini[len++] = '\r';
        mini[len++] = '\n';
        keeping = 1;
      }
    }
    s = lf + 1;
  }
  static const char tail[] = "Content-Length: 0\r\n\r\n";
  memcpy(mini + len, tail, sizeof(tail) - 1);
  len += sizeof(tail) - 1;
  return (int)len;
}

int imsec_sip_build_refusal(imsec_sip_builder *b, const char *p, size_t n,
                            unsigned code, imsec_str reason, imsec_str to_tag,
                            imsec_str *method) {
  if (method)
    *method = IMSEC_STR_NULL;
  if (b->err)
    return b->err;
  if (!p || n == 0 || n > INT32_MAX - 64) {
    b->err = IMSEC_ERR_PARSE;
    return b->err;
  }
  /* The mini message holds at most what arrived plus its empty body. */
  char *mini = malloc(n + 32);
  if (!mini) {
    b->err = IMSEC_ERR_NOMEM;
    return b->err;
  }
  int rv = extract(p, n, mini, method);
  if (rv >= 0) {
    imsec_sip_msg m;
    imsec_sip_msg_init(&m, NULL);
    if (imsec_sip_parse(&m, mini, (size_t)rv, 1) < 0 || !m.is_request) {
      rv = IMSEC_ERR_PARSE;
    } else if (m.method_id == IMSEC_SIP_M_ACK) {
      rv = IMSEC_ERR_UNSUPPORTED;
    } else {
      imsec_sip_build_response(b, &m, code, reason, to_tag);
      rv = b->err;
    }
    imsec_sip_msg_free(&m);
  }
  free(mini);
  if (rv < 0 && !b->err)
    b->err = rv;
  return rv < 0 ? rv : 0;
}

/* ---------------------------------------------------------------- Via */

/* The decimal port into the builder (RFC 3581 §4: rport=PORT). */
static void put_port(imsec_sip_builder *w, uint16_t v) {
  char d[8];
  size_t i = sizeof(d);
  do {
    d[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  imsec_sip_build_raw(w, (imsec_str){d + i, sizeof(d) - i});
}

int imsec_sip_via_mark_received(imsec_sip_msg *m, imsec_str src_host,
                                uint16_t src_port, char *buf, size_t cap) {
  if (!m || !src_host.len || !buf)
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < src_host.len; i++)
    if (!lx_hex((unsigned char)src_host.p[i]) && src_host.p[i] != '.' &&
        src_host.p[i] != ':')
      return IMSEC_ERR_INVAL; /* an IP literal only */
  long idx = imsec_sip_msg_index(m, IMSEC_SIP_H_VIA);
  if (idx < 0)
    return IMSEC_ERR_NOTFOUND;
  const imsec_sip_hdr *h = &m->hdrs[idx];
  /* The top Via is the first value of the first Via field. */
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  int rv = imsec_sip_value_next(m, IMSEC_SIP_H_VIA, &it, &v, NULL);
  if (rv != 1)
    return rv < 0 ? rv : IMSEC_ERR_NOTFOUND;
  imsec_sip_via via;
  rv = imsec_sip_via_parse(v, m->lim.max_params, &via);
  if (rv < 0)
    return IMSEC_ERR_PARSE;
  /* RFC 3581 §4 lets a server add received always (RFC 3261 §18.2.1 asks
   * for it when sent-by differs from the source): it goes in always here,
   * so a received the sender wrote itself never survives, even next to a
   * sent-by that is its real address; the S-CSCF counts its limits by this
   * mark. With received the top Via must still fit the parameter limit the
   * message was parsed with, or the next hop could not parse it. */
  size_t nparams = 0, seen_rport = 0;
  imsec_sip_builder w;
  imsec_sip_build_init(&w, buf, cap);
  /* The field text before the top Via value (nothing, normally). */
  imsec_sip_build_raw(&w, (imsec_str){h->value.p, (size_t)(v.p - h->value.p)});
  const char *pend = via.params.len ? via.params.p : v.p + v.len;
  imsec_sip_build_raw(&w, (imsec_str){v.p, (size_t)(pend - v.p)});
  /* Parameters: every one but received and rport, as written. */
  const char *q = via.params.p, *qe = via.params.p + via.params.len;
  while (q && q < qe) {
    /* q is at a ';' */
    const char *e = q + 1;
    int inq = 0;
    while (e < qe && (inq || *e != ';')) {
      if (*e == '"')
        inq = !inq;
      else if (inq && *e == '\\' && e + 1 < qe)
        e++;
      e++;
    }
    const char *nb = q + 1, *ne = nb;
    while (ne < e && *ne != '=' && *ne != ' ' && *ne != '\t')
      ne++;
    while (nb < ne && (*nb == ' ' || *nb == '\t'))
      nb++;
    imsec_str name = {nb, (size_t)(ne - nb)};
    if (LX_IEQ(name, "rport")) {
      /* RFC 3581 §4: the source port, where the client asked for it
       * (once: a repeat would only grow the field). */
      if (!seen_rport++) {
        imsec_sip_build_raw(&w, IMSEC_STR_LIT(";rport="));
        put_port(&w, src_port);
        nparams++;
      }
    } else if (!LX_IEQ(name, "received")) {
      imsec_sip_build_raw(&w, (imsec_str){q, (size_t)(e - q)});
      nparams++;
    }
    q = e;
  }
  if (m->lim.max_params && nparams + 1 > m->lim.max_params)
    return IMSEC_ERR_LIMIT;
  imsec_sip_build_raw(&w, IMSEC_STR_LIT(";received="));
  imsec_sip_build_raw(&w, src_host);
  /* The other Via values of this field, as written. */
  const char *vend = v.p + v.len;
  imsec_sip_build_raw(
      &w, (imsec_str){vend, (size_t)(h->value.p + h->value.len - vend)});
  if (w.err)
    return w.err;
  rv = imsec_sip_msg_replace(m, (size_t)idx, (imsec_str){buf, w.len});
  return rv < 0 ? rv : 1;
}
