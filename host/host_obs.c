/*
 * The host's counters for operators (host/host_obs.h): SIP requests and
 * responses in and out by method and status class, and the element's
 * service requests by store and operation with their latency.
 *
 * The SIP look is deliberately shallow, as it runs on every message in
 * and out: the start line (RFC 3261 §7.1 Request-Line, §7.2 Status-Line),
 * then header lines from their first octets only, stopping as soon as
 * what is wanted was found: "CSeq" (§20.16, no compact form) for a
 * response's method and "Call-ID" or its compact "i" (§20.8, §7.3.3) for
 * the log context. Folded lines (§7.3.1) are skipped, not joined.
 */
#include "host/host_obs.h"

#include <string.h>

static const char *const method_name[HOBS_METHODS] = {
    "REGISTER", "INVITE",  "ACK",       "BYE",     "CANCEL",
    "OPTIONS",  "MESSAGE", "SUBSCRIBE", "NOTIFY",  "REFER",
    "PRACK",    "UPDATE",  "INFO",      "PUBLISH", "other"};

/* The method token of [p, p+n), exact and case-sensitive (§7.1: method
 * names are case-sensitive). */
static int method_index(const uint8_t *p, size_t n) {
  for (int i = 0; i < HOBS_M_OTHER; i++) {
    const char *m = method_name[i];
    if (strlen(m) == n && memcmp(p, m, n) == 0) /* no secret: SIP method */
      return i;
  }
  return HOBS_M_OTHER;
}

static int is_tchar(uint8_t c) {
  /* RFC 3261 §25.1 token characters. */
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '!' ||
         c == '%' || c == '*' || c == '_' || c == '+' || c == '`' ||
         c == '\'' || c == '~';
}

static uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

/* When line [p, e) is header `name` (case-insensitive, HCOLON = *WSP
 * ":" SWS), the offset of its value; else 0. */
static size_t header_value(const uint8_t *p, const uint8_t *e,
                           const char *name) {
  size_t n = strlen(name);
  if ((size_t)(e - p) < n + 1)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(p[i]) != (uint8_t)name[i])
      return 0;
  size_t k = n;
  while (p + k < e && (p[k] == ' ' || p[k] == '\t'))
    k++;
  if (p + k >= e || p[k] != ':')
    return 0;
  k++;
  while (p + k < e && (p[k] == ' ' || p[k] == '\t'))
    k++;
  return k;
}

void hobs_peek_msg(const uint8_t *msg, size_t len, int want_call_id,
                   hobs_peek *out) {
  out->method = -1;
  out->cls = -1;
  out->call_id = imsec_str_make(NULL, 0);
  const uint8_t *end = msg + len;
  const uint8_t *eol = len ? memchr(msg, '\n', len) : NULL;
  if (!eol)
    return;
  if (len >= 12 && memcmp(msg, "SIP/2.0 ", 8) == 0) { /* no secret: syntax */
    if (msg[8] < '1' || msg[8] > '6' || msg[9] < '0' || msg[9] > '9' ||
        msg[10] < '0' || msg[10] > '9')
      return;
    out->cls = msg[8] - '0';
  } else {
    size_t k = 0;
    while (msg + k < eol && is_tchar(msg[k]))
      k++;
    if (k == 0 || msg + k >= eol || msg[k] != ' ')
      return;
    out->cls = 0;
    out->method = method_index(msg, k);
  }
  int want_cseq = out->cls > 0;
  if (!want_cseq && !want_call_id)
    return;
  for (const uint8_t *p = eol + 1; p < end;) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *e = nl ? nl : end;
    const uint8_t *le = e > p && e[-1] == '\r' ? e - 1 : e;
    if (le == p)
      break; /* the empty line: the body follows */
    uint8_t c = lower(p[0]);
    size_t v;
    if (want_cseq && c == 'c' && (v = header_value(p, le, "cseq")) != 0) {
      /* CSeq: 1*DIGIT LWS Method */
      const uint8_t *q = p + v;
      while (q < le && *q >= '0' && *q <= '9')
        q++;
      while (q < le && (*q == ' ' || *q == '\t'))
        q++;
      const uint8_t *m = q;
      while (q < le && is_tchar(*q))
        q++;
      out->method = q > m ? method_index(m, (size_t)(q - m)) : HOBS_M_OTHER;
      want_cseq = 0;
    } else if (want_call_id && (c == 'c' || c == 'i') &&
               ((v = header_value(p, le, "call-id")) != 0 ||
                (v = header_value(p, le, "i")) != 0)) {
      const uint8_t *q = p + v, *qe = le;
      while (qe > q && (qe[-1] == ' ' || qe[-1] == '\t'))
        qe--;
      out->call_id = imsec_str_make((const char *)q, (size_t)(qe - q));
      want_call_id = 0;
    }
    if (!want_cseq && !want_call_id)
      break;
    if (!nl)
      break;
    p = nl + 1;
  }
  if (out->cls > 0 && out->method < 0)
    out->method = HOBS_M_OTHER; /* a response without a CSeq */
}

void hobs_count_sip(host_obs *o, int out, const hobs_peek *p) {
  if (p->cls < 0 || p->method < 0)
    return;
  if (p->cls == 0)
    o->req[out][p->method]++;
  else
    o->resp[out][p->method][p->cls - 1]++;
}

/* ---------------------------------------------------------------- stores */

static const struct {
  const char *store, *op;
} kind_label[HOBS_KINDS] = {
    [IMSEC_SVC_HSS_SUB] = {"hss", "sub"},
    [IMSEC_SVC_HSS_SUB_IMPU] = {"hss", "sub_impu"},
    [IMSEC_SVC_HSS_VECTOR] = {"hss", "vector"},
    [IMSEC_SVC_HSS_RESYNC] = {"hss", "resync"},
    [IMSEC_SVC_HSS_DIGEST] = {"hss", "digest"},
    [IMSEC_SVC_HSS_ASSIGN] = {"hss", "assign"},
    [IMSEC_SVC_REG_LOAD] = {"registrations", "load"},
    [IMSEC_SVC_REG_SAVE] = {"registrations", "save"},
    [IMSEC_SVC_REG_DELETE] = {"registrations", "delete"},
    [IMSEC_SVC_REG_GET] = {"registrations", "get"},
    [IMSEC_SVC_REG_EXPIRE] = {"registrations", "expire"},
    [IMSEC_SVC_UE_SQN] = {"ue", "sqn"},
};

static const char *const result_name[3] = {"ok", "error", "timeout"};

void hobs_count_store(host_obs *o, imsec_svc_kind kind, int status,
                      int64_t ms) {
  unsigned k = (unsigned)kind;
  if (k >= HOBS_KINDS || !kind_label[k].store)
    return;
  /* The store answered: a record that is not there (NOTFOUND) or an AUTS
   * whose MAC-S fails (TS 33.102 §6.3.5) are answers about the data,
   * not failures of the store. */
  int r = status == 0 || status == IMSEC_ERR_NOTFOUND || status == IMSEC_ERR_MAC
              ? 0
          : status == IMSEC_ERR_TIMEOUT ? 2
                                        : 1;
  o->store[k][r]++;
  imsec_hist_observe_ms(&o->lat[k], ms < 0 ? 0 : ms);
}

/* ---------------------------------------------------------------- metrics */

void hobs_metrics(const host_obs *o, size_t in_flight,
                  struct imsec_metrics *m) {
  static const char *const dir[2] = {"in", "out"};
  static const char *const cls[6] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
  imsec_metrics_declare(m, "imsec_sip_requests_total", IMSEC_METRIC_COUNTER,
                        "SIP requests received (in) and sent (out), by "
                        "method.");
  imsec_metrics_declare(m, "imsec_sip_responses_total", IMSEC_METRIC_COUNTER,
                        "SIP responses received (in) and sent (out), by "
                        "the method of their CSeq and status class.");
  imsec_metrics_declare(m, "imsec_store_requests_total", IMSEC_METRIC_COUNTER,
                        "Requests to the HSS, registration and UE stores, "
                        "by store, operation and result.");
  imsec_metrics_declare(m, "imsec_store_request_duration_seconds",
                        IMSEC_METRIC_HISTOGRAM,
                        "Time from a store request to its answer, by store "
                        "and operation.");
  imsec_metrics_declare(m, "imsec_store_requests_in_flight", IMSEC_METRIC_GAUGE,
                        "Store requests sent and not yet answered.");
  for (int d = 0; d < 2; d++) {
    for (int i = 0; i < HOBS_METHODS; i++) {
      if (o->req[d][i])
        imsec_metrics_add(m, "imsec_sip_requests_total", (double)o->req[d][i],
                          "direction", dir[d], "method", method_name[i],
                          (const char *)NULL);
    }
  }
  for (int d = 0; d < 2; d++) {
    for (int i = 0; i < HOBS_METHODS; i++) {
      for (int c = 0; c < 6; c++) {
        if (o->resp[d][i][c])
          imsec_metrics_add(m, "imsec_sip_responses_total",
                            (double)o->resp[d][i][c], "direction", dir[d],
                            "method", method_name[i], "class", cls[c],
                            (const char *)NULL);
      }
    }
  }
  for (unsigned k = 0; k < HOBS_KINDS; k++) {
    if (!kind_label[k].store || !o->lat[k].count)
      continue;
    for (int r = 0; r < 3; r++) {
      if (o->store[k][r])
        imsec_metrics_add(m, "imsec_store_requests_total",
                          (double)o->store[k][r], "store", kind_label[k].store,
                          "op", kind_label[k].op, "result", result_name[r],
                          (const char *)NULL);
    }
    imsec_metrics_add_hist(m, "imsec_store_request_duration_seconds",
                           &o->lat[k], "store", kind_label[k].store, "op",
                           kind_label[k].op, (const char *)NULL);
  }
  imsec_metrics_add(m, "imsec_store_requests_in_flight", (double)in_flight,
                    (const char *)NULL);
}
