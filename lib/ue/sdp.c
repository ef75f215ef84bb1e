/*
 * The UE's minimal SDP (RFC 4566) offer/answer (RFC 3264) for calls
 * without media: the offer names one audio stream on a port nothing
 * listens on; the answer accepts the first audio stream whose codecs it
 * knows (PCMU, PCMA) and rejects the others with port 0, keeping the
 * number and order of the m= lines (RFC 3264 §6). Nothing is played.
 */
#include <string.h>

#include "lib/ue/ue_int.h"

#define SDP_PORT_OFFER 49170 /* named in the offer; no socket behind it */
#define SDP_PORT_ANSWER 49172

/* "c=IN IP4 1.2.3.4" or "IP6 ::1" from the UE's host as it is in URIs. */
static void conn_addr(imsec_sbuf *b, const char *host) {
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    imsec_sbuf_add(b, "IN IP6 ");
    imsec_sbuf_put(b, imsec_str_make(host + 1, n - 2));
  } else {
    imsec_sbuf_add(b, "IN IP4 ");
    imsec_sbuf_add(b, host[0] ? host : "0.0.0.0");
  }
}

static void origin(imsec_sbuf *b, const char *host, uint64_t sess,
                   unsigned version) {
  /* RFC 4566 §5.2: the version grows with each new offer or answer. */
  imsec_sbuf_add(b, "v=0\r\no=- ");
  imsec_sbuf_num(b, (size_t)sess);
  imsec_sbuf_add(b, " ");
  imsec_sbuf_num(b, version);
  imsec_sbuf_add(b, " ");
  conn_addr(b, host);
  imsec_sbuf_add(b, "\r\ns=-\r\nc=");
  conn_addr(b, host);
  imsec_sbuf_add(b, "\r\nt=0 0\r\n");
}

int ue_sdp_offer(char *buf, size_t cap, const char *host, uint64_t sess,
                 unsigned version) {
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  origin(&b, host, sess, version);
  imsec_sbuf_add(&b, "m=audio ");
  imsec_sbuf_num(&b, SDP_PORT_OFFER);
  imsec_sbuf_add(&b, " RTP/AVP 0 8\r\n"
                     "a=rtpmap:0 PCMU/8000\r\n"
                     "a=rtpmap:8 PCMA/8000\r\n"
                     "a=sendrecv\r\n");
  return b.len < cap ? (int)b.len : IMSEC_ERR_NOBUF;
}

/* The next line of `s` (CRLF or LF ended), 0 at the end. */
static int next_line(imsec_str *s, imsec_str *line) {
  if (!s->len)
    return 0;
  size_t i = 0;
  while (i < s->len && s->p[i] != '\n')
    i++;
  size_t n = i;
  if (n && s->p[n - 1] == '\r')
    n--;
  *line = imsec_str_make(s->p, n);
  size_t adv = i < s->len ? i + 1 : i;
  s->p += adv;
  s->len -= adv;
  return 1;
}

/* The next space-separated word of `s`. */
static imsec_str word(imsec_str *s) {
  while (s->len && s->p[0] == ' ') {
    s->p++;
    s->len--;
  }
  size_t i = 0;
  while (i < s->len && s->p[i] != ' ')
    i++;
  imsec_str w = imsec_str_make(s->p, i);
  s->p += i;
  s->len -= i;
  return w;
}

int ue_sdp_valid(imsec_str sdp) {
  imsec_str rest = sdp, line;
  int first = 1, has_o = 0, has_m = 0;
  while (next_line(&rest, &line)) {
    if (!line.len)
      continue;
    if (line.len < 2 || line.p[1] != '=' || !ue_text_ok(line))
      return 0;
    if (first && !imsec_str_eq(line, S("v=0")))
      return 0;
    first = 0;
    has_o |= line.p[0] == 'o';
    has_m |= line.p[0] == 'm';
  }
  return !first && has_o && has_m;
}

int ue_sdp_answer(char *buf, size_t cap, imsec_str offer, const char *host,
                  uint64_t sess, unsigned version) {
  if (!ue_sdp_valid(offer))
    return IMSEC_ERR_PARSE;
  imsec_sbuf b;
  imsec_sbuf_init(&b, buf, cap);
  origin(&b, host, sess, version);
  /* The direction the offer gives its first accepted stream (or the
   * session): hold (RFC 3264 §8.4) is answered recvonly. */
  const char *dir = "a=sendrecv\r\n";
  imsec_str rest = offer, line;
  while (next_line(&rest, &line)) {
    if (imsec_str_eq(line, S("a=sendonly")))
      dir = "a=recvonly\r\n";
    else if (imsec_str_eq(line, S("a=inactive")))
      dir = "a=inactive\r\n";
    else if (imsec_str_eq(line, S("a=recvonly")))
      dir = "a=sendonly\r\n";
  }
  int accepted = 0;
  rest = offer;
  while (next_line(&rest, &line)) {
    if (line.len < 2 || line.p[0] != 'm' || line.p[1] != '=')
      continue;
    imsec_str ws = imsec_str_make(line.p + 2, line.len - 2);
    imsec_str media = word(&ws), port = word(&ws), proto = word(&ws);
    imsec_str fmts = imsec_str_trim(ws);
    if (!media.len || !port.len || !proto.len || !fmts.len)
      return IMSEC_ERR_PARSE;
    const char *codec = NULL;
    if (!accepted && imsec_str_eq(media, S("audio")) &&
        !imsec_str_eq(port, S("0")) &&
        imsec_str_istarts_with(proto, S("RTP/AVP"))) {
      imsec_str f = fmts;
      for (imsec_str w = word(&f); w.len && !codec; w = word(&f)) {
        if (imsec_str_eq(w, S("0")))
          codec = "0";
        else if (imsec_str_eq(w, S("8")))
          codec = "8";
      }
    }
    imsec_sbuf_add(&b, "m=");
    imsec_sbuf_put(&b, media);
    if (codec) {
      accepted = 1;
      imsec_sbuf_add(&b, " ");
      imsec_sbuf_num(&b, SDP_PORT_ANSWER);
      imsec_sbuf_add(&b, " ");
      imsec_sbuf_put(&b, proto);
      imsec_sbuf_add(&b, " ");
      imsec_sbuf_add(&b, codec);
      imsec_sbuf_add(&b, codec[0] == '0' ? "\r\na=rtpmap:0 PCMU/8000\r\n"
                                         : "\r\na=rtpmap:8 PCMA/8000\r\n");
      imsec_sbuf_add(&b, dir);
    } else {
      /* RFC 3264 §6: a rejected stream keeps its line with port 0. */
      imsec_sbuf_add(&b, " 0 ");
      imsec_sbuf_put(&b, proto);
      imsec_sbuf_add(&b, " ");
      imsec_sbuf_put(&b, fmts);
      imsec_sbuf_add(&b, "\r\n");
    }
  }
  return b.len < cap ? (int)b.len : IMSEC_ERR_NOBUF;
}
