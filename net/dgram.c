/*
 * The datagram transport: UDP, and DTLS over UDP. Outgoing flows own a
 * connected socket; incoming ones share their listener's socket and are
 * found by peer address. A DTLS listener keeps no per-peer state until a
 * ClientHello carries a valid cookie: one listening SSL answers the others
 * with a HelloVerifyRequest (RFC 6347 §4.2.1) through DTLSv1_listen; the
 * cookie is an HMAC over the peer address under a per-context key (made
 * and checked by the context's callbacks in tls.c).
 *
 * It is a file of its own because everything here hangs on a uv_udp_t and
 * on one message per datagram (no framing, no keepalives, no lingering);
 * the core (net.c) reaches it only through the two transport tables at the
 * end of this file, and the DTLS records go through tls_bio.c, which TLS
 * shares.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "net/net_int.h"

static void udp_send_done(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

static uv_udp_t *flow_udp(imsec_net_flow *f) {
  return f->kind == K_DGRAM_SHARED ? &f->ls->h.udp : &f->h.udp;
}

static int dgram_write(imsec_net_flow *f, const uint8_t *p, size_t len) {
  uv_udp_t *u = flow_udp(f);
  const struct sockaddr *to = f->kind == K_DGRAM_SHARED ? &f->peer.sa : NULL;
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
  int r = uv_udp_try_send(u, &b, 1, to);
  if (r >= 0)
    return 0;
  if (r != UV_EAGAIN)
    return IMSEC_ERR_IO;
  uv_udp_send_t *req = malloc(sizeof *req + len);
  if (!req)
    return IMSEC_ERR_NOMEM;
  memcpy(req + 1, p, len);
  b = uv_buf_init((char *)(req + 1), (unsigned)len);
  if (uv_udp_send(req, u, &b, 1, to, udp_send_done) != 0) {
    free(req);
    return IMSEC_ERR_IO;
  }
  return 0;
}

/* Close a datagram flow's own socket (a flow on a listener's socket has
 * none). Always 0: the caller closes the timer. */
static int dgram_close(imsec_net_flow *f, int reason, int was_up,
                       int was_throttled) {
  (void)reason;
  (void)was_throttled;
  if (f->ssl && was_up && !f->peer_gone)
    net_tls_close_notify(f);
  if (f->kind == K_DGRAM_OWN)
    uv_close((uv_handle_t *)&f->h.udp, net_on_handle_closed);
  return 0;
}

static void on_dgram_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  struct net_loop *lp =
      (struct net_loop *)((char *)h->loop - offsetof(struct net_loop, loop));
  *buf = uv_buf_init((char *)lp->rbuf, RBUF_SIZE);
}

static void dgram_in(imsec_net_flow *f, const uint8_t *p, size_t n) {
  if (f->tr == IMSEC_NET_UDP) {
    if (n > f->lp->net->cfg.limits.max_msg) {
      FLOG(f, IMSEC_NET_LOG_WARN, "datagram over the size limit, dropped");
      return;
    }
    f->ping_out = 0;
    net_deliver_msg(f, p, n);
    net_flow_arm(f);
    return;
  }
  f->io.in = p;
  f->io.in_len = n;
  (void)net_tls_pump(f);
  f->io.in_len = 0;
  if (f->state != F_CLOSING)
    net_flow_arm(f);
}

static void on_own_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  imsec_net_flow *f =
      (imsec_net_flow *)((char *)u - offsetof(imsec_net_flow, h));
  (void)addr;
  if (nread <= 0 || (flags & UV_UDP_PARTIAL) || f->state == F_CLOSING)
    return;
  dgram_in(f, (const uint8_t *)buf->base, (size_t)nread);
}

/* A datagram flow on a listener socket, made once the peer is admitted. */
static imsec_net_flow *shared_flow_new(lsock *ls, const net_addr *peer) {
  struct net_loop *lp = ls->lp;
  int counted;
  if (!net_admit(lp, peer, &counted)) {
    atomic_fetch_add(&lp->net->refused, 1);
    return NULL;
  }
  imsec_net_flow *f = net_flow_new(lp, ls->tr, 0);
  if (!f) {
    net_ip_release(lp->net, peer);
    return NULL;
  }
  f->kind = K_DGRAM_SHARED;
  f->is_server = 1;
  f->ls = ls;
  f->peer = *peer;
  f->counted_ip = 1;
  int nl = (int)sizeof f->local;
  uv_udp_getsockname(&ls->h.udp, &f->local.sa, &nl);
  f->io.dgram = 1;
  f->io.udp = &ls->h.udp;
  f->io.peer = &f->peer;
  atomic_fetch_add(&lp->net->nflows, 1);
  atomic_fetch_add(&lp->net->accepted, 1);
  obs_add(&lp->obs.accepted[ls->tr], 1);
  if (net_table_add(lp, f) != 0) {
    f->state = F_HANDSHAKE;
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return NULL;
  }
  return f;
}

static SSL *dtls_listen_ssl(lsock *ls) {
  SSL *ssl = net_tls_ssl_new(ls->tls, NULL, NULL);
  if (!ssl)
    return NULL;
  if (net_ssl_attach(ssl, &ls->io) != 0) {
    SSL_free(ssl);
    return NULL;
  }
  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU | SSL_OP_COOKIE_EXCHANGE);
  SSL_set_mtu(ssl, DTLS_MTU);
  SSL_set_accept_state(ssl);
  return ssl;
}

static void on_listen_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                           const struct sockaddr *addr, unsigned flags) {
  lsock *ls = (lsock *)((char *)u - offsetof(lsock, h));
  struct net_loop *lp = ls->lp;
  if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || lp->stopping)
    return;
  net_addr from;
  if (net_addr_copy(&from, addr) != 0)
    return;
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t n = (size_t)nread;
  imsec_net_flow *f = net_find_addr(lp, ls->tr, &from, ls);
  if (f) {
    dgram_in(f, p, n);
    return;
  }
  /* Draining: the peers already here go on, a new one is not taken. */
  if (atomic_load(&lp->net->paused))
    return;
  if (ls->tr == IMSEC_NET_UDP) {
    f = shared_flow_new(ls, &from);
    if (!f)
      return;
    net_flow_up(f);
    if (f->state == F_UP)
      dgram_in(f, p, n);
    return;
  }
  /* DTLS: no per-peer state until the ClientHello carries our cookie. The
   * listening SSL waits for the next one made from the current context: a
   * reload since it was made must reach the next handshake too. */
  if (ls->dtls_ssl && !net_tls_ssl_current(ls->tls, ls->dtls_ssl)) {
    SSL_free(ls->dtls_ssl);
    ls->dtls_ssl = NULL;
  }
  if (!ls->dtls_ssl && !(ls->dtls_ssl = dtls_listen_ssl(ls)))
    return;
  ls->from = from;
  ls->io.cookie_peer = &ls->from;
  ls->io.peer = &ls->from;
  ls->io.in = p;
  ls->io.in_len = n;
  ERR_clear_error();
  int r = DTLSv1_listen(ls->dtls_ssl, ls->dtls_addr);
  ls->io.in_len = 0;
  if (r <= 0) {
    ERR_clear_error();
    if (r < 0) {
      SSL_free(ls->dtls_ssl);
      ls->dtls_ssl = NULL;
    }
    return;
  }
  SSL *ssl = ls->dtls_ssl;
  ls->dtls_ssl = NULL;
  f = shared_flow_new(ls, &from);
  if (!f) {
    SSL_free(ssl);
    return;
  }
  f->ssl = ssl;
  BIO_set_data(SSL_get_rbio(ssl), &f->io);
  SSL_set_app_data(ssl, &f->io);
  f->io.cookie_peer = &f->peer;
  f->state = F_HANDSHAKE;
  f->hs_t0 = uv_hrtime();
  f->hs_deadline = net_now_ms(f) + lp->net->cfg.limits.handshake_timeout_ms;
  (void)net_tls_pump(f); /* continue from the buffered ClientHello */
  if (f->state != F_CLOSING)
    net_flow_arm(f);
}

/* Open an outgoing datagram flow (in the table, deadline armed). */
static void dgram_connect(imsec_net_flow *f, const net_addr *local,
                          imsec_net_tls *tls) {
  struct net_loop *lp = f->lp;
  /* UDP / DTLS: a connected socket of the flow's own. */
  f->kind = K_DGRAM_OWN;
  uv_udp_init(&lp->loop, &f->h.udp);
  f->h.udp.data = f;
  f->handles = 2;
  net_addr any;
  memset(&any, 0, sizeof any);
  any.sa.sa_family = f->peer.sa.sa_family;
  if (uv_udp_bind(&f->h.udp, local ? &local->sa : &any.sa, 0) != 0 ||
      uv_udp_connect(&f->h.udp, &f->peer.sa) != 0 ||
      uv_udp_recv_start(&f->h.udp, on_dgram_alloc, on_own_recv) != 0) {
    net_flow_close(f, IMSEC_ERR_IO);
    return;
  }
  int nl = (int)sizeof f->local;
  uv_udp_getsockname(&f->h.udp, &f->local.sa, &nl);
  f->io.dgram = 1;
  f->io.udp = &f->h.udp;
  f->io.peer = NULL;
  if (f->tr == IMSEC_NET_UDP) {
    net_flow_up(f);
    return;
  }
  f->ssl = net_tls_ssl_new(tls, f->has_sni ? f->skey : NULL,
                           f->psk ? NULL : f->skey);
  if (!f->ssl || net_ssl_attach(f->ssl, &f->io) != 0 ||
      (f->psk && net_tls_ssl_use_psk(f->ssl) != 0)) {
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return;
  }
  SSL_set_options(f->ssl, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(f->ssl, DTLS_MTU);
  SSL_set_connect_state(f->ssl);
  f->state = F_HANDSHAKE;
  f->hs_t0 = uv_hrtime();
  (void)net_tls_pump(f);
}

/* Receive on the bound datagram socket `fd`. 0 or a libuv error. */
static int dgram_listen(lsock *ls, int fd) {
  struct net_loop *lp = ls->lp;
  uv_udp_init(&lp->loop, &ls->h.udp);
  ls->h.udp.data = ls;
  int r = uv_udp_open(&ls->h.udp, fd);
  if (r == 0)
    r = uv_udp_recv_start(&ls->h.udp, on_dgram_alloc, on_listen_recv);
  ls->io.dgram = 1;
  ls->io.ls = ls;
  ls->io.udp = &ls->h.udp;
  if (ls->tr == IMSEC_NET_DTLS && !(ls->dtls_addr = BIO_ADDR_new()))
    r = UV_ENOMEM;
  return r;
}

/* What a datagram listener holds beyond its socket: the DTLS listening
 * SSL and its address. */
static void dgram_unlisten(lsock *ls) {
  SSL_free(ls->dtls_ssl);
  BIO_ADDR_free(ls->dtls_addr);
}

/* The DTLS retransmission timer fired: resend the flight, rearm. */
static int dtls_retransmit(imsec_net_flow *f) {
  if (DTLSv1_handle_timeout(f->ssl) < 0)
    return IMSEC_ERR_TIMEOUT;
  f->dtls_deadline = net_dtls_deadline(f);
  return 0;
}

/* A DTLS record carries one whole message: no framing. */
static void dtls_deliver(imsec_net_flow *f, const uint8_t *p, size_t n) {
  f->ping_out = 0;
  net_deliver_msg(f, p, n);
}

const net_xport net_xport_udp = {
    .tr = IMSEC_NET_UDP,
    /* The largest UDP payload over IPv4: 65535 less the IP and UDP
     * headers. */
    .max_msg = 65507,
    .listen = dgram_listen,
    .unlisten = dgram_unlisten,
    .connect = dgram_connect,
    .write = dgram_write,
    .close = dgram_close,
};

const net_xport net_xport_dtls = {
    .tr = IMSEC_NET_DTLS,
    .max_msg = DTLS_MAX_MSG,
    .listen = dgram_listen,
    .unlisten = dgram_unlisten,
    .connect = dgram_connect,
    .up = net_tls_up,
    .write = net_tls_write,
    .deliver = dtls_deliver,
    .retransmit = dtls_retransmit,
    .close = dgram_close,
};
