/* Internal to net/: what net.c and tls.c share. */
#ifndef IMSEC_NET_INT_H
#define IMSEC_NET_INT_H

#include <stdio.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "imsec/net.h"

struct imsec_net_tls {
  /* The context new flows are made from; swapped by a reload under `lock`
   * (each SSL holds its own reference to the one it was made from). */
  SSL_CTX *ctx;
  /* The settings of imsec_net_tls_new without the file names and the PSK:
   * what a reload keeps. */
  imsec_net_tls_config pol;
  int server;
  int dtls;
  int no_resume;
  int defer_verify;
  int has_psk;
  /* RFC 5077 ticket keys: the current one and the one before it. */
  uv_mutex_t lock;
  struct ticket_key {
    uint8_t name[16];
    uint8_t aes[32];
    uint8_t hmac[32];
    uint64_t born;
    int set;
  } keys[2];
  uint32_t ticket_life_s;
  EVP_CIPHER *aes256cbc;
  /* PSK */
  imsec_net_psk_lookup_fn psk_lookup;
  void *psk_arg;
  char *psk_identity;
  uint8_t psk_key[64];
  size_t psk_key_len;
  /* Client sessions by server name (newest only). */
  struct sess_ent {
    char *name;
    SSL_SESSION *s;
  } * sess;
  size_t nsess, sess_cap;
  /* SSLKEYLOGFILE */
  FILE *keylog;
  /* DTLS stateless cookies (RFC 6347 §4.2.1) */
  uint8_t cookie_key[32];
};

/* A new SSL for one flow; `session_key` names the resumption slot on
 * clients (NULL: no resumption). NULL on failure. */
SSL *net_tls_ssl_new(imsec_net_tls *tls, const char *server_name,
                     const char *session_key);
/* 1 when `ssl` was made from the current context (not from one a reload
 * replaced since). */
int net_tls_ssl_current(imsec_net_tls *tls, SSL *ssl);
/* The peer address bytes of the flow or listener behind `ssl` (net.c). */
int net_ssl_peer(SSL *ssl, const uint8_t **addr, size_t *len);
/* A PSK was offered/found on the flow behind `ssl` (net.c). */
void net_ssl_mark_psk(SSL *ssl);
/* The resumption key of the flow behind a client `ssl` (net.c). */
const char *net_ssl_session_key(SSL *ssl);

#endif
