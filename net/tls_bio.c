/*
 * TLS and DTLS over a flow's own BIO: the glue between OpenSSL and the
 * sockets. It is one file, apart from both transports, because the stream
 * transport (TLS) and the datagram one (DTLS) drive the same handshake and
 * record loop through it, and apart from the core, which hands bytes in
 * and out and never looks inside an SSL.
 *
 * OpenSSL reads from and writes to a small custom BIO (neither a socket BIO
 * nor a BIO pair): reads borrow the loop's shared receive buffer; stream
 * writes of one SSL call collect in the flow's output buffer and leave in
 * one write; datagram writes leave at once, one datagram each. Also here:
 * what a flow's TLS session tells its owner (version, resumption, PSK, the
 * peer's chain and names).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "net/net_int.h"

static BIO_METHOD *g_bio_method;
static uv_once_t g_once = UV_ONCE_INIT;

static int bio_write(BIO *b, const char *p, int n) {
  struct bio_io *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (n <= 0)
    return 0;
  if (io->dgram) {
    /* One BIO write is one datagram. */
    uv_buf_t buf = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
    int r = uv_udp_try_send(io->udp, &buf, 1, io->peer ? &io->peer->sa : NULL);
    (void)r; /* a lost datagram is DTLS's to retransmit */
    return n;
  }
  size_t need = io->out_len + (size_t)n;
  if (need > io->out_cap) {
    size_t cap = io->out_cap ? io->out_cap : 4096;
    while (cap < need)
      cap *= 2;
    uint8_t *o = realloc(io->out, cap);
    if (!o)
      return -1;
    io->out = o;
    io->out_cap = cap;
  }
  memcpy(io->out + io->out_len, p, (size_t)n);
  io->out_len = need;
  return n;
}

static int bio_read(BIO *b, char *p, int n) {
  struct bio_io *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (io->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t k = io->in_len;
  if (io->dgram) {
    if (k > (size_t)n)
      k = (size_t)n; /* truncated datagram: DTLS drops the record */
    memcpy(p, io->in, k);
    io->in_len = 0;
    return (int)k;
  }
  if (k > (size_t)n)
    k = (size_t)n;
  memcpy(p, io->in, k);
  io->in += k;
  io->in_len -= k;
  return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
    return 48; /* IPv6 + UDP */
  case BIO_CTRL_DGRAM_QUERY_MTU:
  case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
    return DTLS_MTU;
  default:
    return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void bio_method_init(void) {
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "imsec flow");
  if (!m)
    return;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  g_bio_method = m;
}

/* Make the flow BIO's method, once per process. 0 or IMSEC_ERR_NOMEM. */
int net_bio_init(void) {
  uv_once(&g_once, bio_method_init);
  return g_bio_method ? 0 : IMSEC_ERR_NOMEM;
}

/* Attach a fresh BIO reading/writing through `io`. */
int net_ssl_attach(SSL *ssl, struct bio_io *io) {
  BIO *b = BIO_new(g_bio_method);
  if (!b)
    return IMSEC_ERR_NOMEM;
  BIO_set_data(b, io);
  SSL_set_bio(ssl, b, b);
  SSL_set_app_data(ssl, io);
  return 0;
}

int net_ssl_peer(SSL *ssl, const uint8_t **addr, size_t *len) {
  struct bio_io *io = SSL_get_app_data(ssl);
  const net_addr *a =
      io ? (io->cookie_peer ? io->cookie_peer : io->peer) : NULL;
  if (!a)
    return -1;
  *addr = (const uint8_t *)a;
  *len = net_addr_len(&a->sa);
  return 0;
}

void net_ssl_mark_psk(SSL *ssl, const uint8_t *identity, size_t len) {
  struct bio_io *io = SSL_get_app_data(ssl);
  if (!io || !io->flow)
    return;
  imsec_net_flow *f = io->flow;
  f->psk_mark = 1;
  /* A second ClientHello (after a HelloRetryRequest) may name another. */
  char *seen = malloc(len + 1);
  if (seen) {
    memcpy(seen, identity, len);
    seen[len] = '\0';
  }
  free(f->psk_seen);
  f->psk_seen = seen;
}

const struct flow_psk *net_ssl_flow_psk(SSL *ssl) {
  struct bio_io *io = SSL_get_app_data(ssl);
  return io && io->flow ? io->flow->psk : NULL;
}

/* A flow with its own PSK keeps no session: the next connection with
 * that key must prove it again, and a ticket from it must not serve a
 * connection made without it. */
const char *net_ssl_session_key(SSL *ssl) {
  struct bio_io *io = SSL_get_app_data(ssl);
  return io && io->flow && !io->flow->psk ? io->flow->skey : NULL;
}

void net_flow_psk_free(struct flow_psk *p) {
  if (!p)
    return;
  imsec_wipe(p, sizeof *p);
  free(p);
}

/* A clean TLS close says so (close_notify); the alert leaves with the
 * rest of the output. */
void net_tls_close_notify(imsec_net_flow *f) {
  ERR_clear_error();
  SSL_shutdown(f->ssl);
  ERR_clear_error();
  (void)net_flow_flush(f);
}

/* Encrypt application bytes on a TLS or DTLS flow; a stream's records
 * leave in one write. */
int net_tls_write(imsec_net_flow *f, const uint8_t *p, size_t len) {
  ERR_clear_error();
  if (SSL_write(f->ssl, p, (int)len) != (int)len) {
    ERR_clear_error();
    return IMSEC_ERR_IO;
  }
  return net_flow_flush(f);
}

/* A handshake done: count it, and say what it agreed. */
void net_tls_up(imsec_net_flow *f) {
  imsec_net *net = f->lp->net;
  atomic_fetch_add(&net->handshakes, 1);
  if (SSL_session_reused(f->ssl))
    atomic_fetch_add(&net->resumed, 1);
  net_obs_handshake_ok(f);
  FLOG(f, IMSEC_NET_LOG_INFO, "up %s %s%s", SSL_get_version(f->ssl),
       SSL_get_cipher_name(f->ssl),
       SSL_session_reused(f->ssl) ? " resumed" : "");
}

/* When DTLS next retransmits its last flight (RFC 6347 §4.2.4), 0 when no
 * timer runs. */
uint64_t net_dtls_deadline(imsec_net_flow *f) {
  struct timeval tv;
  return DTLSv1_get_timeout(f->ssl, &tv) == 1
             ? net_now_ms(f) + (uint64_t)tv.tv_sec * 1000 +
                   (uint64_t)tv.tv_usec / 1000 + 1
             : 0;
}

static void log_ssl_error(imsec_net_flow *f, const char *what) {
  char buf[256] = "";
  unsigned long e = ERR_peek_last_error();
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  FLOG(f, IMSEC_NET_LOG_WARN, "%s: %s", what, e ? buf : "peer closed");
  ERR_clear_error();
}

/* Drive the handshake and decrypt what arrived. Returns 0 while the flow
 * lives. */
int net_tls_pump(imsec_net_flow *f) {
  ERR_clear_error();
  if (f->state == F_HANDSHAKE) {
    int r = SSL_do_handshake(f->ssl);
    if (r != 1) {
      int e = SSL_get_error(f->ssl, r);
      (void)net_flow_flush(f);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (f->xp->retransmit) {
          f->dtls_deadline = net_dtls_deadline(f);
          net_flow_arm(f);
        }
        return 0;
      }
      log_ssl_error(f, "TLS handshake failed");
      net_flow_close(f, IMSEC_ERR_AUTH);
      return -1;
    }
    if (net_flow_flush(f) != 0) {
      net_flow_close(f, IMSEC_ERR_IO);
      return -1;
    }
    net_flow_up(f);
    if (f->state != F_UP)
      return -1;
  }
  while (f->state == F_UP) {
    int n = SSL_read(f->ssl, f->lp->pbuf, PBUF_SIZE);
    if (n > 0) {
      f->xp->deliver(f, f->lp->pbuf, (size_t)n);
      continue;
    }
    int e = SSL_get_error(f->ssl, n);
    if (f->state == F_UP)
      (void)net_flow_flush(f); /* e.g. a key update answer */
    if (e == SSL_ERROR_WANT_READ) {
      if (!f->lean && f->xp->stream) {
        /* The handshake is over: from now on OpenSSL's record buffers
         * exist only while a record is in flight, so an idle flow holds
         * none (SSL_MODE_RELEASE_BUFFERS). Not during the handshake,
         * where freeing and reallocating them per flight costs more
         * than it saves. */
        SSL_set_mode(f->ssl, SSL_MODE_RELEASE_BUFFERS);
        f->lean = (uint8_t)SSL_free_buffers(f->ssl);
      }
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      net_flow_close(f, 0); /* close_notify */
      return -1;
    }
    log_ssl_error(f, "TLS read failed");
    net_flow_close(f, IMSEC_ERR_IO);
    return -1;
  }
  return f->state == F_UP ? 0 : -1;
}

const char *imsec_net_flow_tls_version(const imsec_net_flow *f) {
  return f->ssl ? SSL_get_version(f->ssl) : NULL;
}

int imsec_net_flow_resumed(const imsec_net_flow *f) {
  return f->ssl && SSL_session_reused(f->ssl) && !imsec_net_flow_psk(f);
}

int imsec_net_flow_psk(const imsec_net_flow *f) {
  if (!f->ssl || !f->psk_mark)
    return 0;
  if (SSL_version(f->ssl) == TLS1_3_VERSION)
    return SSL_session_reused(f->ssl); /* external PSK sets "hit" */
  const SSL_CIPHER *c = SSL_get_current_cipher(f->ssl);
  return c && SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe_psk;
}

const char *imsec_net_flow_psk_identity(const imsec_net_flow *f) {
  return imsec_net_flow_psk(f) ? f->psk_seen : NULL;
}

long imsec_net_flow_verify_result(const imsec_net_flow *f) {
  if (!f->ssl || !SSL_get0_peer_certificate(f->ssl))
    return -1;
  return SSL_get_verify_result(f->ssl);
}

int imsec_net_flow_peer_chain(imsec_net_flow *f, imsec_bytes *out, size_t cap) {
  if (!f->ssl)
    return 0;
  if (!f->chain) {
    STACK_OF(X509) *sk = NULL;
    if (SSL_get_verify_result(f->ssl) == X509_V_OK)
      sk = SSL_get0_verified_chain(f->ssl);
    if (!sk)
      sk = SSL_get_peer_cert_chain(f->ssl);
    int n = sk ? sk_X509_num(sk) : 0;
    /* On servers the sent chain omits the leaf (SSL_get_peer_cert_chain).
     * A resumed session keeps the leaf alone (verified when the session
     * was made, under this context's ticket keys): the leaf is the chain. */
    X509 *leaf = SSL_get0_peer_certificate(f->ssl);
    int add_leaf =
        leaf &&
        ((f->is_server && sk && sk == SSL_get_peer_cert_chain(f->ssl)) || !sk);
    int total = n + add_leaf;
    if (total == 0)
      return 0;
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
      bytes += (size_t)i2d_X509(sk_X509_value(sk, i), NULL);
    if (add_leaf)
      bytes += (size_t)i2d_X509(leaf, NULL);
    f->chain = calloc((size_t)total, sizeof *f->chain);
    f->chain_buf = malloc(bytes);
    if (!f->chain || !f->chain_buf) {
      free(f->chain);
      free(f->chain_buf);
      f->chain = NULL;
      f->chain_buf = NULL;
      return IMSEC_ERR_NOMEM;
    }
    uint8_t *w = f->chain_buf;
    int k = 0;
    if (add_leaf) {
      f->chain[k].p = w;
      f->chain[k++].len = (size_t)i2d_X509(leaf, &w);
    }
    for (int i = 0; i < n; i++) {
      f->chain[k].p = w;
      f->chain[k++].len = (size_t)i2d_X509(sk_X509_value(sk, i), &w);
    }
    f->nchain = total;
  }
  for (int i = 0; i < f->nchain && (size_t)i < cap; i++)
    out[i] = f->chain[i];
  return f->nchain;
}

void imsec_net_flow_drop_chain(imsec_net_flow *f) {
  if (!f)
    return;
  free(f->chain);
  free(f->chain_buf);
  f->chain = NULL;
  f->chain_buf = NULL;
  f->nchain = 0;
  if (f->sans)
    GENERAL_NAMES_free(f->sans);
  f->sans = NULL;
}

int imsec_net_flow_peer_names(imsec_net_flow *f, imsec_str *out, size_t cap) {
  X509 *leaf = f->ssl ? SSL_get0_peer_certificate(f->ssl) : NULL;
  if (!leaf)
    return 0;
  if (!f->sans)
    f->sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
  size_t n = 0;
  /* RFC 5922 §7.1: SAN URI and dNSName; the CN only without SAN. */
  if (f->sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(f->sans); i++) {
      const GENERAL_NAME *g = sk_GENERAL_NAME_value(f->sans, i);
      const ASN1_STRING *v = NULL;
      if (g->type == GEN_DNS)
        v = g->d.dNSName;
      else if (g->type == GEN_URI)
        v = g->d.uniformResourceIdentifier;
      if (!v)
        continue;
      if (n < cap)
        out[n] = imsec_str_make((const char *)ASN1_STRING_get0_data(v),
                                (size_t)ASN1_STRING_length(v));
      n++;
    }
    return (int)n;
  }
  X509_NAME *subj = X509_get_subject_name(leaf);
  int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
  if (idx < 0)
    return 0;
  const ASN1_STRING *cn =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
  if (cap > 0)
    out[0] = imsec_str_make((const char *)ASN1_STRING_get0_data(cn),
                            (size_t)ASN1_STRING_length(cn));
  return 1;
}
