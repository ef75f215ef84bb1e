/*
 * The stream transport: TCP, and TLS over TCP. Accepting and connecting,
 * reading with a budget per wakeup, framing the byte stream into messages
 * and keepalives, writing (one write per SSL call), and the close of a
 * stream: drain the queued output, or linger after refused input.
 *
 * It is a file of its own because everything here hangs on a uv_tcp_t and
 * on the stream's framing; the core (net.c) reaches it only through the
 * two transport tables at the end of this file, and the TLS records go
 * through tls_bio.c, which DTLS shares.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Hand the output collected by the BIO to the socket: one write. */
struct wreq {
  uv_write_t req;
  imsec_net_flow *f;
  size_t len;
  uint8_t data[];
};

static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  imsec_net_flow *f = w->f;
  f->pending -= w->len;
  free(w);
  if (status < 0 && status != UV_ECANCELED && f->state != F_CLOSING)
    net_flow_close(f, IMSEC_ERR_IO);
}

/* The end of a draining close: output sent, or the drain took too long. */
static void drain_done(imsec_net_flow *f) {
  if (!uv_is_closing((uv_handle_t *)&f->h.tcp))
    uv_close((uv_handle_t *)&f->h.tcp, net_on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&f->timer))
    uv_close((uv_handle_t *)&f->timer, net_on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  imsec_net_flow *f = req->data;
  free(req);
  /* A lingering flow waits for the peer's EOF (or the timer) instead. */
  if (!f->linger || status < 0)
    drain_done(f);
}

static void on_drain_timeout(uv_timer_t *t) {
  drain_done(t->data);
}

/* Half-close the stream (our FIN after the queued output) and close the
 * flow when that is done, or after `ms`. 1 when under way, 0 when the
 * shutdown could not start. */
static int shutdown_then_close(imsec_net_flow *f, uint64_t ms) {
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req)
    return 0;
  req->data = f;
  if (uv_shutdown(req, (uv_stream_t *)&f->h.tcp, on_shutdown) != 0) {
    free(req);
    return 0;
  }
  uv_timer_start(&f->timer, on_drain_timeout, ms, 0);
  return 1;
}

static int write_now(imsec_net_flow *f, const uint8_t *p, size_t len) {
  uv_stream_t *s = (uv_stream_t *)&f->h.tcp;
  size_t off = 0;
  if (f->pending == 0) {
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
    int r = uv_try_write(s, &b, 1);
    if (r > 0)
      off = (size_t)r;
    else if (r != UV_EAGAIN && r != UV_ENOSYS)
      return IMSEC_ERR_IO;
  }
  if (off == len)
    return 0;
  size_t rest = len - off;
  if (f->pending + rest > f->lp->net->cfg.limits.max_pending_out) {
    FLOG(f, IMSEC_NET_LOG_WARN, "pending output over %u octets, closing",
         f->lp->net->cfg.limits.max_pending_out);
    return IMSEC_ERR_LIMIT;
  }
  struct wreq *w = malloc(sizeof *w + rest);
  if (!w)
    return IMSEC_ERR_NOMEM;
  w->f = f;
  w->len = rest;
  memcpy(w->data, p + off, rest);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
  if (uv_write(&w->req, s, &b, 1, on_write) != 0) {
    free(w);
    return IMSEC_ERR_IO;
  }
  f->pending += rest;
  return 0;
}

/* At most this much output of one flow waits for the end of the loop
 * iteration (see stream_write). */
#define CORK_MAX (64u << 10)

/* The end of a loop iteration (libuv's check phase, after the I/O
 * callbacks): every corked flow's output leaves in one write. */
static void on_check(uv_check_t *c) {
  uv_check_stop(c);
  net_stream_uncork_all(c->data);
}

static void cork_unlink(imsec_net_flow *f) {
  if (!f->corked)
    return;
  for (imsec_net_flow **pp = &f->lp->corked; *pp; pp = &(*pp)->cork_next) {
    if (*pp == f) {
      *pp = f->cork_next;
      break;
    }
  }
  f->corked = 0;
  f->cork_next = NULL;
}

/* Write out (or, once the socket is closing, drop) a flow's corked
 * output. */
static int cork_out(imsec_net_flow *f) {
  uint8_t *b = f->cork;
  size_t n = f->cork_len;
  f->cork = NULL;
  f->cork_len = f->cork_cap = 0;
  int r = 0;
  if (n && !uv_is_closing((uv_handle_t *)&f->h.tcp))
    r = write_now(f, b, n);
  free(b);
  return r;
}

void net_stream_uncork(imsec_net_flow *f) {
  if (!f->corked)
    return;
  cork_unlink(f);
  (void)cork_out(f);
}

void net_stream_uncork_all(struct net_loop *lp) {
  while (lp->corked) {
    imsec_net_flow *f = lp->corked;
    lp->corked = f->cork_next;
    f->cork_next = NULL;
    f->corked = 0;
    int r = cork_out(f);
    if (r != 0 && f->state == F_UP)
      net_flow_close(f, r);
  }
}

/* An up stream's second and later messages of a loop iteration wait for
 * its end (see on_check) and leave together; a handshake's flights and a
 * closing flow's last words are written at once. */
static int stream_write(imsec_net_flow *f, const uint8_t *p, size_t len) {
  if (f->state != F_UP)
    return write_now(f, p, len);
  /* The first write of an iteration leaves at once (a UE's flow gets one
   * answer at a time: nothing to gain by waiting); later ones wait. */
  uint32_t iter = (uint32_t)f->lp->iter;
  if (!f->corked && f->wrote_iter != iter) {
    f->wrote_iter = iter;
    return write_now(f, p, len);
  }
  if (f->cork_len + len > CORK_MAX) {
    /* A burst: what is corked leaves now, and a large message with it. */
    cork_unlink(f);
    int r = cork_out(f);
    if (r != 0 || len > CORK_MAX)
      return r != 0 ? r : write_now(f, p, len);
  }
  if (f->pending + f->cork_len + len > f->lp->net->cfg.limits.max_pending_out) {
    FLOG(f, IMSEC_NET_LOG_WARN, "pending output over %u octets, closing",
         f->lp->net->cfg.limits.max_pending_out);
    return IMSEC_ERR_LIMIT;
  }
  if (f->cork_len + len > f->cork_cap) {
    size_t cap = f->cork_cap ? 2 * f->cork_cap : 4096;
    while (cap < f->cork_len + len)
      cap *= 2;
    uint8_t *nb = realloc(f->cork, cap);
    if (!nb)
      return IMSEC_ERR_NOMEM;
    f->cork = nb;
    f->cork_cap = cap;
  }
  memcpy(f->cork + f->cork_len, p, len);
  f->cork_len += len;
  if (!f->corked) {
    f->corked = 1;
    f->cork_next = f->lp->corked;
    f->lp->corked = f;
    if (!uv_is_active((uv_handle_t *)&f->lp->check)) {
      f->lp->check.data = f->lp;
      uv_check_start(&f->lp->check, on_check);
    }
  }
  return 0;
}

/* Flush what one SSL call produced. */
static int flow_flush(imsec_net_flow *f) {
  if (f->io.out_len == 0)
    return 0;
  int r = stream_write(f, f->io.out, f->io.out_len);
  free(f->io.out);
  f->io.out = NULL;
  f->io.out_len = f->io.out_cap = 0;
  return r;
}

/* Close a stream flow's socket, once its output is gone. 1 when the
 * flow's timer is closed later (a drain or a linger is under way), 0 when
 * the caller closes it now. */
static int stream_close(imsec_net_flow *f, int reason, int was_up,
                        int was_throttled) {
  /* What the flow sent before it closed leaves before close_notify and
   * the FIN. */
  net_stream_uncork(f);
  if (f->ssl && was_up && !f->peer_gone)
    net_tls_close_notify(f);
  if (f->linger) {
    /* The answer to refused input leaves, then our FIN; what the peer
     * still sends is read and dropped until its EOF or LINGER_MS, since
     * closing with unread input would reset the connection and could
     * destroy the answer before the peer reads it. */
    if (was_throttled)
      uv_read_start((uv_stream_t *)&f->h.tcp, on_alloc, on_read);
    if (shutdown_then_close(f, LINGER_MS))
      return 1;
    f->linger = 0;
    f->counts_held = 0;
    net_flow_uncount(f);
  }
  uv_read_stop((uv_stream_t *)&f->h.tcp);
  if (f->pending > 0 && reason == 0) {
    /* Let queued output drain first (at most DRAIN_MS), then close. */
    if (shutdown_then_close(f, DRAIN_MS))
      return 1;
  }
  uv_close((uv_handle_t *)&f->h.tcp, net_on_handle_closed);
  return 0;
}

/* Frame stream bytes into messages and keepalives. */
static void stream_deliver(imsec_net_flow *f, const uint8_t *p, size_t n) {
  imsec_net *net = f->lp->net;
  size_t max = net->cfg.limits.max_msg;
  const uint8_t *data = p;
  size_t len = n;
  if (f->in_len) {
    uint8_t *nb = realloc(f->in, f->in_len + n);
    if (!nb) {
      net_flow_close(f, IMSEC_ERR_NOMEM);
      return;
    }
    memcpy(nb + f->in_len, p, n);
    f->in = nb;
    f->in_len += n;
    data = f->in;
    len = f->in_len;
  }
  size_t off = 0;
  while (off < len && f->state == F_UP) {
    size_t mlen = 0;
    int k = net->cfg.framer.frame(net->cfg.framer.arg, data + off, len - off,
                                  max, &mlen);
    if (k == IMSEC_NET_FRAME_MORE) {
      if (len - off >= max) {
        k = IMSEC_ERR_LIMIT;
      } else {
        break;
      }
    }
    if (k < 0) {
      net_refuse_input(f, k, data + off, len - off < max ? len - off : max);
      return;
    }
    if (mlen == 0 || mlen > len - off) {
      net_flow_close(f, IMSEC_ERR_INTERNAL);
      return;
    }
    if (k == IMSEC_NET_FRAME_PING) {
      static const uint8_t pong[2] = {'\r', '\n'};
      if (net_flow_write(f, pong, 2) != 0) {
        net_flow_close(f, IMSEC_ERR_IO);
        return;
      }
    } else if (k == IMSEC_NET_FRAME_PONG) {
      f->ping_out = 0;
      f->ka_deadline = 0;
    } else {
      f->ping_out = 0;
      f->ka_deadline = 0; /* any traffic proves the flow alive */
      net_deliver_msg(f, data + off, mlen);
    }
    off += mlen;
  }
  if (f->state != F_UP)
    return;
  size_t rest = len - off;
  if (rest == 0) {
    free(f->in);
    f->in = NULL;
    f->in_len = 0;
  } else if (data == f->in) {
    memmove(f->in, f->in + off, rest);
    f->in_len = rest;
  } else {
    f->in = malloc(rest);
    if (!f->in) {
      net_flow_close(f, IMSEC_ERR_NOMEM);
      return;
    }
    memcpy(f->in, data + off, rest);
    f->in_len = rest;
  }
  net_flow_arm(f);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  imsec_net_flow *f = h->data;
  *buf = uv_buf_init((char *)f->lp->rbuf, RBUF_SIZE);
}

static void on_idle(uv_idle_t *h);

static void throttle(imsec_net_flow *f) {
  struct net_loop *lp = f->lp;
  uv_read_stop((uv_stream_t *)&f->h.tcp);
  f->throttled = 1;
  f->throttle_next = lp->throttled;
  lp->throttled = f;
  uv_idle_start(&lp->idle, on_idle);
}

static void on_idle(uv_idle_t *h) {
  struct net_loop *lp = h->data;
  imsec_net_flow *f = lp->throttled;
  lp->throttled = NULL;
  uv_idle_stop(h);
  while (f) {
    imsec_net_flow *next = f->throttle_next;
    f->throttled = 0;
    f->budget = 0;
    uv_read_start((uv_stream_t *)&f->h.tcp, on_alloc, on_read);
    f = next;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  imsec_net_flow *f = s->data;
  if (f->state == F_CLOSING) {
    /* Lingering after refused input: octets dropped, EOF ends it. */
    if (f->linger && nread < 0)
      drain_done(f);
    return;
  }
  if (nread == 0)
    return;
  if (nread < 0) {
    if (f->state == F_HANDSHAKE)
      FLOG(f, IMSEC_NET_LOG_INFO, "peer left during the handshake");
    f->peer_gone = 1; /* nobody left to read a close_notify */
    net_flow_close(f, nread == UV_EOF ? 0 : IMSEC_ERR_IO);
    return;
  }
  /* A read budget per wakeup so one flow cannot starve the others. */
  if (f->budget_iter != f->lp->iter) {
    f->budget_iter = f->lp->iter;
    f->budget = 0;
  }
  f->budget += (size_t)nread;
  if (f->tr == IMSEC_NET_TCP) {
    stream_deliver(f, (const uint8_t *)buf->base, (size_t)nread);
  } else {
    f->io.in = (const uint8_t *)buf->base;
    f->io.in_len = (size_t)nread;
    (void)net_tls_pump(f);
    f->io.in_len = 0;
  }
  if (f->state != F_CLOSING && f->budget >= f->lp->net->cfg.limits.read_budget)
    throttle(f);
}

static void stream_start(imsec_net_flow *f, imsec_net_tls *tls,
                         const char *sni) {
  /* TCP_NODELAY is inherited from the listener (Linux) or was set before
   * connect; the local address is read when asked: each syscall saved
   * here is one per handshake. */
  if (f->tr == IMSEC_NET_TCP) {
    uv_read_start((uv_stream_t *)&f->h.tcp, on_alloc, on_read);
    net_flow_up(f);
    return;
  }
  f->ssl = net_tls_ssl_new(tls, sni, f->psk ? NULL : f->skey);
  if (!f->ssl || net_ssl_attach(f->ssl, &f->io) != 0 ||
      (f->psk && net_tls_ssl_use_psk(f->ssl) != 0)) {
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return;
  }
  if (f->is_server)
    SSL_set_accept_state(f->ssl);
  else
    SSL_set_connect_state(f->ssl);
  f->state = F_HANDSHAKE;
  f->hs_t0 = uv_hrtime();
  uv_read_start((uv_stream_t *)&f->h.tcp, on_alloc, on_read);
  if (!f->is_server)
    (void)net_tls_pump(f); /* ClientHello */
}

static void on_connection(uv_stream_t *server, int status) {
  lsock *ls = server->data;
  struct net_loop *lp = ls->lp;
  imsec_net *net = lp->net;
  if (status < 0 || lp->stopping)
    return;
  imsec_net_flow *f = net_flow_new(lp, ls->tr, 0);
  if (!f)
    return;
  uv_tcp_init(&lp->loop, &f->h.tcp);
  f->h.tcp.data = f;
  f->handles = 2;
  f->kind = K_STREAM;
  f->is_server = 1;
  if (uv_accept(server, (uv_stream_t *)&f->h.tcp) != 0) {
    f->state = F_CLOSING;
    uv_close((uv_handle_t *)&f->h.tcp, net_on_handle_closed);
    uv_close((uv_handle_t *)&f->timer, net_on_handle_closed);
    return;
  }
  int nl = (int)sizeof f->peer;
  uv_tcp_getpeername(&f->h.tcp, &f->peer.sa, &nl);
  int counted;
  if (!net_admit(lp, &f->peer, &counted)) {
    atomic_fetch_add(&net->refused, 1);
    f->state = F_CLOSING;
    uv_close((uv_handle_t *)&f->h.tcp, net_on_handle_closed);
    uv_close((uv_handle_t *)&f->timer, net_on_handle_closed);
    return;
  }
  f->counted_ip = (uint8_t)counted;
  atomic_fetch_add(&net->nflows, 1);
  atomic_fetch_add(&net->accepted, 1);
  obs_add(&lp->obs.accepted[ls->tr], 1);
  if (net_table_add(lp, f) != 0) {
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return;
  }
  f->state = F_HANDSHAKE;
  if (ls->tr == IMSEC_NET_TLS) {
    f->hs_deadline = net_now_ms(f) + net->cfg.limits.handshake_timeout_ms;
    net_flow_arm(f);
  }
  stream_start(f, ls->tls, NULL);
}

static void on_connect(uv_connect_t *req, int status) {
  imsec_net_flow *f = req->data;
  free(req);
  if (f->state == F_CLOSING)
    return;
  if (status < 0) {
    FLOG(f, IMSEC_NET_LOG_INFO, "connect failed: %s", uv_strerror(status));
    net_flow_close(f, IMSEC_ERR_IO);
    return;
  }
  stream_start(f, f->tls, f->has_sni ? f->skey : NULL);
}

/* Listen on the bound stream socket `fd`. 0 or a libuv error. */
static int stream_listen(lsock *ls, int fd) {
  struct net_loop *lp = ls->lp;
#ifdef TCP_DEFER_ACCEPT
  if (ls->tr == IMSEC_NET_TLS) {
    /* A TLS client speaks first: the kernel hands us the connection with
     * its ClientHello (one wakeup, not two), and connections that never
     * send anything never cost us a flow. */
    int secs = (int)(lp->net->cfg.limits.handshake_timeout_ms / 1000) + 1;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
  }
#endif
  uv_tcp_init(&lp->loop, &ls->h.tcp);
  ls->h.tcp.data = ls;
  int r = uv_tcp_open(&ls->h.tcp, fd);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&ls->h.tcp, 4096, on_connection);
  return r;
}

/* Open an outgoing stream flow (in the table, deadline armed): a socket
 * of its own, bound to `local` when given, connecting to the peer. */
static void stream_connect(imsec_net_flow *f, const net_addr *local,
                           imsec_net_tls *tls) {
  struct net_loop *lp = f->lp;
  f->kind = K_STREAM;
  /* With a source address the socket exists before bind(2), so it can be
   * told to leave the port to connect(2): the kernel then picks a port
   * unique for the 4-tuple, not one unique for the source alone, and one
   * source carries a whole ephemeral range of flows to each server. */
  int bound =
      local && uv_tcp_init_ex(&lp->loop, &f->h.tcp, local->sa.sa_family) == 0;
  if (!bound)
    uv_tcp_init(&lp->loop, &f->h.tcp);
  f->h.tcp.data = f;
  f->handles = 2;
  uv_tcp_nodelay(&f->h.tcp, 1);
  if (local) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    uv_os_fd_t fd;
    int one = 1;
    if (bound && uv_fileno((uv_handle_t *)&f->h.tcp, &fd) == 0)
      (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                       sizeof one);
#endif
    if (!bound || uv_tcp_bind(&f->h.tcp, &local->sa, 0) != 0) {
      net_flow_close(f, IMSEC_ERR_IO);
      return;
    }
  }
  uv_connect_t *req = malloc(sizeof *req);
  if (!req) {
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return;
  }
  req->data = f;
  f->tls = tls;
  int r = uv_tcp_connect(req, &f->h.tcp, &f->peer.sa, on_connect);
  if (r != 0) {
    free(req);
    FLOG(f, IMSEC_NET_LOG_INFO, "connect failed: %s", uv_strerror(r));
    net_flow_close(f, IMSEC_ERR_IO);
  }
}

/* The local address of a stream is read only when asked: one syscall less
 * per handshake. */
static void stream_local(imsec_net_flow *f) {
  int nl = (int)sizeof f->local;
  uv_tcp_getsockname(&f->h.tcp, &f->local.sa, &nl);
}

const net_xport net_xport_tcp = {
    .tr = IMSEC_NET_TCP,
    .stream = 1,
    .listen = stream_listen,
    .connect = stream_connect,
    .write = stream_write,
    .flush = flow_flush,
    .close = stream_close,
    .local = stream_local,
};

const net_xport net_xport_tls = {
    .tr = IMSEC_NET_TLS,
    .stream = 1,
    .listen = stream_listen,
    .connect = stream_connect,
    .up = net_tls_up,
    .write = net_tls_write,
    .flush = flow_flush,
    .deliver = stream_deliver,
    .close = stream_close,
    .local = stream_local,
};
