/* The action queue of the element state machines (include/imsec/elem.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/elem.h"

const char *imsec_log_level_name(imsec_log_level level) {
  switch (level) {
  case IMSEC_LOG_ERROR:
    return "error";
  case IMSEC_LOG_WARN:
    return "warn";
  case IMSEC_LOG_INFO:
    return "info";
  default:
    return "debug";
  }
}

void imsec_out_init(imsec_out *o, imsec_log_level log_level) {
  memset(o, 0, sizeof(*o));
  o->log_level = log_level;
}

static void svc_free(imsec_svc_req *r) {
  if (!r)
    return;
  imsec_reg_record_free(&r->reg);
  /* The resync input is not secret, but one wipe covers every field. */
  imsec_wipe(r, sizeof(*r));
  free(r);
}

void imsec_out_clear(imsec_out *o) {
  for (size_t i = 0; i < o->n; i++) {
    imsec_act *a = &o->acts[i];
    if (a->data) {
      /* Messages may carry Authorization responses or keys: wipe. */
      imsec_wipe(a->data, a->len);
      free(a->data);
    }
    if (a->tls) {
      imsec_wipe(a->tls, sizeof(*a->tls)); /* may hold a PSK */
      free(a->tls);
    }
    svc_free(a->svc);
  }
  o->n = 0;
  o->err = 0;
}

void imsec_out_free(imsec_out *o) {
  imsec_out_clear(o);
  free(o->acts);
  o->acts = NULL;
  o->cap = 0;
}

int imsec_out_err(const imsec_out *o) {
  return o->err;
}

static imsec_act *push(imsec_out *o, imsec_act_kind kind) {
  if (o->err)
    return NULL;
  if (o->n == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 8;
    imsec_act *a = realloc(o->acts, cap * sizeof(*a));
    if (!a) {
      o->err = IMSEC_ERR_NOMEM;
      return NULL;
    }
    o->acts = a;
    o->cap = cap;
  }
  imsec_act *a = &o->acts[o->n++];
  memset(a, 0, sizeof(*a));
  a->kind = kind;
  return a;
}

static int set_data(imsec_out *o, imsec_act *a, const void *data, size_t len) {
  /* One spare octet so text can be NUL-terminated. */
  a->data = malloc(len + 1);
  if (!a->data) {
    o->n--;
    o->err = IMSEC_ERR_NOMEM;
    return IMSEC_ERR_NOMEM;
  }
  if (len)
    memcpy(a->data, data, len);
  a->data[len] = 0;
  a->len = len;
  return 0;
}

int imsec_out_send(imsec_out *o, uint64_t flow, const void *data, size_t len) {
  imsec_act *a = push(o, IMSEC_ACT_SEND);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->flow = flow;
  return set_data(o, a, data, len);
}

int imsec_out_connect(imsec_out *o, uint64_t tag, const imsec_addr *addr,
                      const char *server_name) {
  imsec_act *a = push(o, IMSEC_ACT_CONNECT);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->tag = tag;
  a->addr = *addr;
  if (server_name && imsec_str_copy(imsec_str_c(server_name), a->server_name,
                                    sizeof(a->server_name)) < 0)
    a->server_name[0] = '\0';
  return 0;
}

int imsec_out_connect_tls(imsec_out *o, uint64_t tag, const imsec_addr *addr,
                          const char *server_name,
                          const imsec_tls_profile *tls) {
  IMSEC_GUARD(imsec_out_connect(o, tag, addr, server_name));
  if (!tls)
    return 0;
  imsec_act *a = &o->acts[o->n - 1];
  a->tls = malloc(sizeof(*a->tls));
  if (!a->tls) {
    o->n--;
    o->err = IMSEC_ERR_NOMEM;
    return IMSEC_ERR_NOMEM;
  }
  *a->tls = *tls;
  return 0;
}

static int push_svc(imsec_out *o, imsec_act_kind kind, imsec_svc_req *req) {
  imsec_svc_req *r = malloc(sizeof(*r));
  imsec_act *a = r ? push(o, kind) : NULL;
  if (!a) {
    free(r);
    imsec_reg_record_free(&req->reg);
    imsec_wipe(req, sizeof(*req));
    o->err = IMSEC_ERR_NOMEM;
    return IMSEC_ERR_NOMEM;
  }
  *r = *req; /* the record's strings move with it */
  memset(req, 0, sizeof(*req));
  a->svc = r;
  return 0;
}

int imsec_out_request(imsec_out *o, imsec_svc_req *req) {
  return push_svc(o, IMSEC_ACT_REQUEST, req);
}

int imsec_out_persist(imsec_out *o, imsec_svc_req *req) {
  return push_svc(o, IMSEC_ACT_PERSIST, req);
}

int imsec_out_close(imsec_out *o, uint64_t flow) {
  imsec_act *a = push(o, IMSEC_ACT_CLOSE);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->flow = flow;
  return 0;
}

int imsec_out_keep(imsec_out *o, uint64_t flow) {
  imsec_act *a = push(o, IMSEC_ACT_KEEP);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->flow = flow;
  return 0;
}

int imsec_out_timer(imsec_out *o, uint64_t timer, imsec_time_ms at) {
  imsec_act *a = push(o, IMSEC_ACT_TIMER);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->timer = timer;
  a->at = at;
  return 0;
}

int imsec_out_psk(imsec_out *o, const char *identity, const uint8_t *key,
                  size_t len, imsec_time_ms expires_at) {
  if (o->err)
    return o->err;
  size_t il = identity ? strlen(identity) : 0;
  if (il == 0 || il >= IMSEC_PSK_ID_MAX || len > IMSEC_PSK_MAX || (len && !key))
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < il; i++)
    if ((unsigned char)identity[i] <= 0x20 ||
        (unsigned char)identity[i] >= 0x7f)
      return IMSEC_ERR_INVAL;
  imsec_tls_profile *t = calloc(1, sizeof(*t));
  imsec_act *a = t ? push(o, IMSEC_ACT_PSK) : NULL;
  if (!a) {
    free(t);
    o->err = IMSEC_ERR_NOMEM;
    return IMSEC_ERR_NOMEM;
  }
  memcpy(t->psk_identity, identity, il + 1);
  if (len)
    memcpy(t->psk, key, len);
  t->psk_len = len;
  a->tls = t;
  a->at = expires_at;
  return 0;
}

int imsec_out_logv(imsec_out *o, imsec_log_level level, const imsec_str *parts,
                   size_t n) {
  if (level > o->log_level)
    return o->err;
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += parts[i].len;
  imsec_act *a = push(o, IMSEC_ACT_LOG);
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->level = level;
  a->flow = o->log_flow;
  size_t cl = o->log_call_id.len > IMSEC_LOG_CALL_ID_MAX ? IMSEC_LOG_CALL_ID_MAX
                                                         : o->log_call_id.len;
  IMSEC_GUARD(set_data(o, a, NULL, 0));
  uint8_t *buf = realloc(a->data, len + 1 + (cl ? cl + 1 : 0));
  if (!buf) {
    free(a->data);
    o->n--;
    o->err = IMSEC_ERR_NOMEM;
    return IMSEC_ERR_NOMEM;
  }
  a->data = buf;
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < parts[i].len; k++) {
      /* One line per event: control characters from the wire are shown
       * as '?', never passed to a terminal or log file. */
      unsigned char ch = (unsigned char)parts[i].p[k];
      buf[off++] = (ch < 0x20 || ch == 0x7f) ? '?' : ch;
    }
  }
  buf[off] = 0;
  a->len = off;
  if (cl) {
    /* The Call-ID rides after the text (elem.h, ctx_len). */
    for (size_t k = 0; k < cl; k++) {
      unsigned char ch = (unsigned char)o->log_call_id.p[k];
      buf[off + 1 + k] = (ch < 0x20 || ch == 0x7f) ? '?' : ch;
    }
    buf[off + 1 + cl] = 0;
    a->ctx_len = cl;
  }
  return 0;
}

void imsec_out_log_context(imsec_out *o, uint64_t flow, imsec_str call_id) {
  o->log_flow = flow;
  o->log_call_id = call_id;
}

int imsec_out_log(imsec_out *o, imsec_log_level level, const char *first, ...) {
  if (level > o->log_level)
    return o->err;
  imsec_str parts[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, first);
  for (const char *s = first; s && n < 32; s = va_arg(ap, const char *))
    parts[n++] = imsec_str_c(s);
  va_end(ap);
  return imsec_out_logv(o, level, parts, n);
}

/* ---------------------------------------------------------------- addresses
 */

static const char *const tp_upper[] = {"UDP", "TCP", "TLS", "DTLS"};
static const char *const tp_low[] = {"udp", "tcp", "tls", "dtls"};

const char *imsec_tp_name(imsec_tp tp) {
  return (unsigned)tp < 4 ? tp_upper[tp] : "?";
}

const char *imsec_tp_lower(imsec_tp tp) {
  return (unsigned)tp < 4 ? tp_low[tp] : "?";
}

int imsec_tp_parse(imsec_str s, imsec_tp *out) {
  /* draft-jennings-sip-dtls names SIP over DTLS "DTLS-UDP" in Via and URI
   * transport parameters. */
  if (imsec_str_ieq_c(s, "dtls-udp")) {
    *out = IMSEC_TP_DTLS;
    return 0;
  }
  for (unsigned i = 0; i < 4; i++) {
    if (imsec_str_ieq_c(s, tp_low[i])) {
      *out = (imsec_tp)i;
      return 0;
    }
  }
  return IMSEC_ERR_PARSE;
}

static int addr_parse(imsec_str s, imsec_addr *out, int listener) {
  imsec_cursor c;
  imsec_cursor_init(&c, s.p, s.len);
  imsec_str tp;
  if (imsec_cursor_until(&c, ':', &tp) < 0 || imsec_tp_parse(tp, &out->tp) < 0)
    return IMSEC_ERR_PARSE;
  (void)imsec_cursor_accept(&c, ':');
  imsec_str host;
  if (imsec_cursor_accept(&c, '[')) {
    if (imsec_cursor_until(&c, ']', &host) < 0)
      return IMSEC_ERR_PARSE;
    (void)imsec_cursor_accept(&c, ']');
  } else {
    if (imsec_cursor_until(&c, ':', &host) < 0)
      return IMSEC_ERR_PARSE;
  }
  if (host.len == 0 || !imsec_cursor_accept(&c, ':'))
    return IMSEC_ERR_PARSE;
  for (size_t i = 0; i < host.len; i++) {
    unsigned char ch = (unsigned char)host.p[i];
    if (!(imsec_is_alnum(ch) || ch == '.' || ch == '-' || ch == ':' ||
          ch == '_'))
      return IMSEC_ERR_PARSE;
  }
  uint64_t port;
  if (imsec_str_to_u64(imsec_cursor_rest(&c), 65535, &port) < 0 ||
      (port == 0 && !listener))
    return IMSEC_ERR_PARSE;
  if (imsec_str_copy(host, out->host, sizeof(out->host)) < 0)
    return IMSEC_ERR_PARSE;
  out->port = (uint16_t)port;
  return 0;
}

int imsec_addr_parse(imsec_str s, imsec_addr *out) {
  return addr_parse(s, out, 0);
}

int imsec_addr_parse_listen(imsec_str s, imsec_addr *out) {
  return addr_parse(s, out, 1);
}

static size_t put(char *buf, size_t cap, size_t off, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++, off++) {
    if (off < cap)
      buf[off] = s[i];
  }
  return off;
}

int imsec_addr_format(const imsec_addr *a, char *buf, size_t cap) {
  const char *tp = imsec_tp_lower(a->tp);
  imsec_str host = imsec_str_c(a->host);
  int v6 = imsec_str_find(host, ':') >= 0;
  char port[6];
  size_t pn = 0;
  char rev[6];
  unsigned p = a->port;
  do {
    rev[pn++] = (char)('0' + p % 10);
    p /= 10;
  } while (p);
  for (size_t i = 0; i < pn; i++)
    port[i] = rev[pn - 1 - i];
  size_t off = 0;
  off = put(buf, cap, off, tp, imsec_str_c(tp).len);
  off = put(buf, cap, off, ":", 1);
  if (v6)
    off = put(buf, cap, off, "[", 1);
  off = put(buf, cap, off, host.p, host.len);
  if (v6)
    off = put(buf, cap, off, "]", 1);
  off = put(buf, cap, off, ":", 1);
  off = put(buf, cap, off, port, pn);
  if (off + 1 > cap || off > INT32_MAX)
    return IMSEC_ERR_NOBUF;
  buf[off] = '\0';
  return (int)off;
}
