/*
 * One flow as its owner sees it: the accessors, send (queued while an
 * outgoing stream connects, capped per transport), close, keep and
 * keepalives; and the RFC 5626 flow tokens that name a flow in a Path or
 * Route header. What the flow's TLS session says is in tls_bio.c.
 *
 * Apart from net.c so that the core file holds the loops and the flow's
 * life, not the public surface over it; everything here runs on the
 * flow's loop and goes through the core's helpers and the transport table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net/net_int.h"

/* ---------------------------------------------------------------- flow API */

uint64_t imsec_net_flow_id(const imsec_net_flow *f) {
  return f->id;
}
imsec_net_transport imsec_net_flow_transport(const imsec_net_flow *f) {
  return f->tr;
}
int imsec_net_flow_is_server(const imsec_net_flow *f) {
  return f->is_server;
}
const struct sockaddr *imsec_net_flow_local(const imsec_net_flow *f) {
  imsec_net_flow *m = (imsec_net_flow *)(uintptr_t)f;
  if (m->local.sa.sa_family == 0 && m->xp->local && m->state != F_CLOSING)
    m->xp->local(m);
  return &m->local.sa;
}
const struct sockaddr *imsec_net_flow_peer(const imsec_net_flow *f) {
  return &f->peer.sa;
}
int imsec_net_flow_peer_text(const imsec_net_flow *f, char *buf, size_t cap) {
  char t[64];
  net_addr_text(&f->peer, t, sizeof t);
  return imsec_str_copy(imsec_str_c(t), buf, cap);
}
void *imsec_net_flow_user(const imsec_net_flow *f) {
  return f->user;
}
void imsec_net_flow_set_user(imsec_net_flow *f, void *user) {
  f->user = user;
}

int imsec_net_flow_send(imsec_net_flow *f, const uint8_t *p, size_t len) {
  if (f->state == F_CLOSING)
    return IMSEC_ERR_CLOSED;
  if (f->state != F_UP) {
    if (f->is_server || !f->xp->stream)
      return IMSEC_ERR_STATE;
    /* An outgoing stream still connecting: queue, bounded. */
    if (len > f->lp->net->cfg.limits.max_msg ||
        f->early_len + len > f->lp->net->cfg.limits.max_pending_out)
      return IMSEC_ERR_LIMIT;
    uint8_t *e = realloc(f->early, f->early_len + len);
    if (!e)
      return IMSEC_ERR_NOMEM;
    memcpy(e + f->early_len, p, len);
    f->early = e;
    f->early_len += len;
    return 0;
  }
  size_t max = f->lp->net->cfg.limits.max_msg;
  if (f->xp->max_msg && max > f->xp->max_msg)
    max = f->xp->max_msg;
  if (len > max) {
    FLOG(f, IMSEC_NET_LOG_WARN,
         "message of %zu octets over the limit %zu, "
         "refused",
         len, max);
    return IMSEC_ERR_LIMIT;
  }
  int r = net_flow_write(f, p, len);
  if (r == IMSEC_ERR_LIMIT || r == IMSEC_ERR_IO || r == IMSEC_ERR_NOMEM)
    net_flow_close(f, r);
  return r;
}

void imsec_net_flow_close(imsec_net_flow *f) {
  net_flow_close(f, 0);
}

void imsec_net_flow_keep(imsec_net_flow *f) {
  f->keep = 1;
  f->idle_deadline = 0;
  net_flow_arm(f);
}

int imsec_net_flow_keepalive(imsec_net_flow *f, uint32_t interval_ms,
                             uint32_t timeout_ms) {
  if (!f->xp->stream)
    return IMSEC_ERR_UNSUPPORTED;
  f->ka_interval = interval_ms;
  f->ka_timeout = timeout_ms ? timeout_ms : 10000;
  f->ka_next = interval_ms ? net_now_ms(f) + interval_ms : 0;
  f->ka_deadline = 0;
  f->ping_out = 0;
  net_flow_arm(f);
  return 0;
}

/* ---------------------------------------------------------------- flow tokens
 */

/* RFC 5626 §5.2: the flow token only needs to be unforgeable by others;
 * an HMAC over the id under a per-process key does that. */
#define TOKEN_MAC_LEN 12

static void token_mac(imsec_net *net, const uint8_t id8[8],
                      uint8_t out[TOKEN_MAC_LEN]) {
  uint8_t full[32];
  unsigned int len = sizeof full;
  HMAC(EVP_sha256(), net->token_key, sizeof net->token_key, id8, 8, full, &len);
  memcpy(out, full, TOKEN_MAC_LEN);
}

int imsec_net_token(imsec_net *net, uint64_t id, char *buf, size_t cap) {
  uint8_t raw[8 + TOKEN_MAC_LEN];
  for (int i = 0; i < 8; i++)
    raw[i] = (uint8_t)(id >> (56 - 8 * i));
  token_mac(net, raw, raw + 8);
  return imsec_hex_encode(raw, sizeof raw, buf, cap);
}

int imsec_net_token_check(imsec_net *net, imsec_str token, uint64_t *id) {
  uint8_t raw[8 + TOKEN_MAC_LEN], want[TOKEN_MAC_LEN];
  if (token.len != 2 * sizeof raw ||
      imsec_hex_decode(token.p, token.len, raw, sizeof raw) != (int)sizeof raw)
    return IMSEC_ERR_PARSE;
  token_mac(net, raw, want);
  if (!imsec_ct_eq(want, raw + 8, TOKEN_MAC_LEN))
    return IMSEC_ERR_MAC;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | raw[i];
  *id = v;
  return 0;
}
