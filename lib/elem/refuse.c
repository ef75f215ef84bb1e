/* Input an element refuses before it parses (include/imsec/elem.h): an
 * answer when one is due, one log line within a budget. */
#include <stdlib.h>
#include <string.h>

#include "imsec/elem.h"
#include "imsec/sip.h"

#define S(lit) IMSEC_STR_LIT(lit)

static imsec_str dec(char *buf, size_t cap, uint64_t v) {
  size_t i = cap;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v && i);
  return (imsec_str){buf + i, cap - i};
}

int imsec_elem_refuse_input(imsec_out *out, imsec_lograte *rate,
                            imsec_time_ms now, uint64_t flow, int reason,
                            const struct imsec_sip_diag *diag,
                            const uint8_t *head, size_t len, const char *server,
                            const char *to_tag) {
  unsigned code;
  const char *why;
  if (diag) {
    code = diag->status >= 400 && diag->status <= 699 ? diag->status : 400;
    why = diag->reason ? diag->reason : "malformed message";
  } else if (reason == IMSEC_ERR_LIMIT) {
    code = 513;
    why = "message over the size limit";
  } else {
    code = 400;
    why = "unframeable input";
  }
  /* RFC 3261 §21.5.14: 513 when the message as a whole is too large; the
   * other reason phrases name what is wrong. */
  const char *phrase = code == 513            ? "Message Too Large"
                       : code == 505          ? "Version Not Supported"
                       : diag && diag->reason ? diag->reason
                                              : "Bad Request";
  /* The answer copies fields of what arrived: no larger than it, plus the
   * status line and our own fields. */
  size_t cap = len + 512;
  char *buf = malloc(cap);
  if (!buf)
    return IMSEC_ERR_NOMEM;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, cap);
  imsec_str method;
  int rv = imsec_sip_build_refusal(
      &b, (const char *)head, len, code, imsec_str_c(phrase),
      to_tag ? imsec_str_c(to_tag) : S(""), &method);
  int n = -1;
  if (rv == 0) {
    if (server && server[0])
      imsec_sip_build_header(&b, S("Server"), imsec_str_c(server));
    n = imsec_sip_build_finish(&b, S(""));
    if (n > 0)
      (void)imsec_out_send(out, flow, buf, (size_t)n);
  }
  free(buf);
  /* Over a limit (a field, the header count, the size): the answer, then
   * the connection closes, as for input the driver could not frame (there
   * the driver closes, after lingering). */
  if (diag && reason == IMSEC_ERR_LIMIT)
    (void)imsec_out_close(out, flow);
  uint64_t held = 0;
  if (rate && !imsec_lograte_take(rate, now, &held))
    return n > 0 ? 1 : 0;
  char fb[24], cb[8], lb[16], hb[24];
  imsec_str fl = dec(fb, sizeof(fb), flow);
  imsec_str cs = dec(cb, sizeof(cb), code);
  imsec_str line = S("");
  if (diag && diag->line)
    line = dec(lb, sizeof(lb), diag->line);
  imsec_str held_s = held ? dec(hb, sizeof(hb), held) : S("");
  if (method.len > 32)
    method.len = 32;
  if (n > 0) {
    imsec_str parts[] = {S("refused "),
                         method,
                         S(" on flow "),
                         fl,
                         S(": "),
                         cs,
                         S(" "),
                         imsec_str_c(phrase),
                         S(" ("),
                         imsec_str_c(why),
                         line.len ? S(", line ") : S(""),
                         line,
                         S(")"),
                         held ? S("; ") : S(""),
                         held_s,
                         held ? S(" similar lines held back") : S("")};
    (void)imsec_out_logv(out, IMSEC_LOG_WARN, parts,
                         sizeof(parts) / sizeof(parts[0]));
  } else {
    const char *what =
        rv == IMSEC_ERR_UNSUPPORTED ? "an ACK, never answered"
        : rv == IMSEC_ERR_INVAL ? "a request without the fields an answer needs"
        : rv == IMSEC_ERR_NOMEM ? "no memory for an answer"
        : len >= 4 && memcmp(head, "SIP/", 4) == 0 /* no secret:
                                                      status line */
            ? "a response, not relayed"
            : "no request line to answer";
    imsec_str parts[] = {S("dropped input on flow "),
                         fl,
                         S(" ("),
                         imsec_str_c(why),
                         line.len ? S(", line ") : S(""),
                         line,
                         S("): "),
                         imsec_str_c(what),
                         held ? S("; ") : S(""),
                         held_s,
                         held ? S(" similar lines held back") : S("")};
    (void)imsec_out_logv(out, IMSEC_LOG_WARN, parts,
                         sizeof(parts) / sizeof(parts[0]));
  }
  return n > 0 ? 1 : 0;
}
