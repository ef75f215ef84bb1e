/*
 * TLS and DTLS contexts on OpenSSL 3: the protocol policy of imsec in one
 * place. TLS 1.3 and 1.2 only, ECDHE and AEAD only, no renegotiation, no
 * early data (TS 33.310 §6.1.3a profile; seed §3), session tickets under
 * rotating keys, external PSK for mode M3, DTLS 1.2 with stateless cookies.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "net/net_int.h"

/* TLS 1.2: ECDHE key exchange with an AEAD only (RFC 7525 §4.2), plus the
 * ECDHE-PSK AEAD suite of RFC 7905 for mode M3. */
#define TLS12_CIPHERS                                                          \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                 \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                 \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                 \
  "ECDHE-PSK-CHACHA20-POLY1305"
/* Every TLS 1.3 suite is AEAD; CCM_8 (short tag) left out. */
#define TLS13_SUITES                                                           \
  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS "X25519:P-256:P-384"

static const unsigned char tls13_aes128gcmsha256_id[] = {0x13, 0x01};

static uint64_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec;
}

static imsec_net_tls *tls_of(SSL *ssl) {
  return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* ---------------------------------------------------------- tickets */

static int ticket_key_fill(imsec_net_tls *t, struct ticket_key *k) {
  if (RAND_bytes(k->name, sizeof k->name) != 1 ||
      RAND_bytes(k->aes, sizeof k->aes) != 1 ||
      RAND_bytes(k->hmac, sizeof k->hmac) != 1)
    return -1;
  k->born = now_s();
  k->set = 1;
  (void)t;
  return 0;
}

/* Rotate when the current key is older than its lifetime: tickets made
 * under the previous key are still accepted (and renewed), older ones are
 * not. Called with the lock held. */
static void ticket_rotate(imsec_net_tls *t) {
  if (t->keys[0].set && now_s() - t->keys[0].born < t->ticket_life_s)
    return;
  struct ticket_key fresh;
  if (ticket_key_fill(t, &fresh) != 0)
    return;
  imsec_wipe(&t->keys[1], sizeof t->keys[1]);
  t->keys[1] = t->keys[0];
  t->keys[0] = fresh;
  imsec_wipe(&fresh, sizeof fresh);
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16],
                     unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc) {
  imsec_net_tls *t = tls_of(ssl);
  struct ticket_key k;
  int rv = 1;
  uv_mutex_lock(&t->lock);
  ticket_rotate(t);
  if (enc) {
    k = t->keys[0];
  } else if (t->keys[0].set && memcmp(key_name, t->keys[0].name, 16) == 0) {
    k = t->keys[0];
    /* TLS 1.3: 1 would tell OpenSSL not to renew, and a resumed handshake
     * would then issue no ticket at all; the client would present the same
     * ticket again and again (RFC 8446 §C.4: SHOULD NOT reuse). One fresh
     * ticket per handshake, resumed or not. */
    if (SSL_version(ssl) >= TLS1_3_VERSION && !SSL_is_dtls(ssl))
      rv = 2;
  } else if (t->keys[1].set && memcmp(key_name, t->keys[1].name, 16) == 0) {
    k = t->keys[1];
    rv = 2; /* valid, but issue a fresh ticket under the current key */
  } else {
    uv_mutex_unlock(&t->lock);
    return 0; /* unknown key: full handshake */
  }
  uv_mutex_unlock(&t->lock);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac,
                                        sizeof k.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
      OSSL_PARAM_construct_end()};
  if (enc) {
    memcpy(key_name, k.name, 16);
    if (RAND_bytes(iv, 16) != 1 ||
        EVP_EncryptInit_ex(cctx, t->aes256cbc, NULL, k.aes, iv) != 1)
      rv = -1;
  } else if (EVP_DecryptInit_ex(cctx, t->aes256cbc, NULL, k.aes, iv) != 1) {
    rv = -1;
  }
  if (rv > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
    rv = -1;
  imsec_wipe(&k, sizeof k);
  return rv;
}

/* ---------------------------------------------------------- client sessions */

static int new_session_cb(SSL *ssl, SSL_SESSION *s) {
  imsec_net_tls *t = tls_of(ssl);
  const char *key = net_ssl_session_key(ssl);
  if (!key || t->no_resume || !SSL_SESSION_is_resumable(s))
    return 0;
  int kept = 0;
  uv_mutex_lock(&t->lock);
  for (size_t i = 0; i < t->nsess; i++) {
    if (strcmp(t->sess[i].name, key) == 0) {
      SSL_SESSION_free(t->sess[i].s);
      t->sess[i].s = s;
      kept = 1;
      break;
    }
  }
  if (!kept && t->nsess < 65536) {
    if (t->nsess == t->sess_cap) {
      size_t cap = t->sess_cap ? 2 * t->sess_cap : 16;
      struct sess_ent *n = realloc(t->sess, cap * sizeof *n);
      if (n) {
        t->sess = n;
        t->sess_cap = cap;
      }
    }
    char *name = strdup(key);
    if (t->nsess < t->sess_cap && name) {
      t->sess[t->nsess].name = name;
      t->sess[t->nsess].s = s;
      t->nsess++;
      kept = 1;
    } else {
      free(name);
    }
  }
  uv_mutex_unlock(&t->lock);
  return kept; /* 1: we keep the reference */
}

/* ---------------------------------------------------------- PSK */

/* TLS 1.3 external PSK (RFC 8446 §4.2.11), server side. */
static int psk_find_cb(SSL *ssl, const unsigned char *id, size_t id_len,
                       SSL_SESSION **sess) {
  imsec_net_tls *t = tls_of(ssl);
  uint8_t key[64];
  *sess = NULL;
  int n = t->psk_lookup(t->psk_arg, id, id_len, key, sizeof key);
  if (n <= 0)
    return 1; /* unknown identity: no PSK (and no cert: the handshake fails) */
  const SSL_CIPHER *c = SSL_CIPHER_find(ssl, tls13_aes128gcmsha256_id);
  SSL_SESSION *s = SSL_SESSION_new();
  int ok = c && s && SSL_SESSION_set1_master_key(s, key, (size_t)n) &&
           SSL_SESSION_set_cipher(s, c) &&
           SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
  imsec_wipe(key, sizeof key);
  if (!ok) {
    SSL_SESSION_free(s);
    return 0;
  }
  *sess = s;
  net_ssl_mark_psk(ssl);
  return 1;
}

static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                      size_t *id_len, SSL_SESSION **sess) {
  imsec_net_tls *t = tls_of(ssl);
  *sess = NULL;
  const SSL_CIPHER *c = SSL_CIPHER_find(ssl, tls13_aes128gcmsha256_id);
  if (!c)
    return 0;
  if (md && md != SSL_CIPHER_get_handshake_digest(c))
    return 1; /* a HelloRetryRequest chose another hash: no PSK */
  SSL_SESSION *s = SSL_SESSION_new();
  if (!s || !SSL_SESSION_set1_master_key(s, t->psk_key, t->psk_key_len) ||
      !SSL_SESSION_set_cipher(s, c) ||
      !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return 0;
  }
  *id = (const unsigned char *)t->psk_identity;
  *id_len = strlen(t->psk_identity);
  *sess = s;
  net_ssl_mark_psk(ssl);
  return 1;
}

/* TLS 1.2 PSK (RFC 4279 / RFC 5489 ECDHE-PSK). */
static unsigned int psk12_server_cb(SSL *ssl, const char *identity,
                                    unsigned char *psk, unsigned int max) {
  imsec_net_tls *t = tls_of(ssl);
  int n = t->psk_lookup(t->psk_arg, (const uint8_t *)identity, strlen(identity),
                        psk, max);
  if (n <= 0)
    return 0;
  net_ssl_mark_psk(ssl);
  return (unsigned int)n;
}

static unsigned int psk12_client_cb(SSL *ssl, const char *hint, char *identity,
                                    unsigned int max_id, unsigned char *psk,
                                    unsigned int max) {
  imsec_net_tls *t = tls_of(ssl);
  (void)hint;
  size_t il = strlen(t->psk_identity);
  if (il + 1 > max_id || t->psk_key_len > max)
    return 0;
  memcpy(identity, t->psk_identity, il + 1);
  memcpy(psk, t->psk_key, t->psk_key_len);
  net_ssl_mark_psk(ssl);
  return (unsigned int)t->psk_key_len;
}

/* ---------------------------------------------------------- DTLS cookies */

static void cookie_make(SSL *ssl, uint8_t out[32]) {
  imsec_net_tls *t = tls_of(ssl);
  const uint8_t *addr = NULL;
  size_t len = 0;
  unsigned int olen = 32;
  if (net_ssl_peer(ssl, &addr, &len) != 0)
    len = 0;
  HMAC(EVP_sha256(), t->cookie_key, sizeof t->cookie_key, addr, len, out,
       &olen);
}

static int cookie_gen_cb(SSL *ssl, unsigned char *cookie, unsigned int *len) {
  cookie_make(ssl, cookie);
  *len = 32;
  return 1;
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie,
                            unsigned int len) {
  uint8_t want[32];
  cookie_make(ssl, want);
  return len == 32 && imsec_ct_eq(cookie, want, 32);
}

/* ---------------------------------------------------------- keylog */

static void keylog_cb(const SSL *ssl, const char *line) {
  imsec_net_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  uv_mutex_lock(&t->lock);
  fprintf(t->keylog, "%s\n", line);
  fflush(t->keylog);
  uv_mutex_unlock(&t->lock);
}

static int defer_verify_cb(int ok, X509_STORE_CTX *x) {
  (void)ok;
  (void)x;
  return 1; /* the owner decides from the verify result (DESIGN.md §3) */
}

/* ---------------------------------------------------------- context */

int imsec_net_tls_new(imsec_net_tls **out, const imsec_net_tls_config *cfg) {
  if (!out || !cfg)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (cfg->server && !cfg->psk_lookup && (!cfg->cert_file || !cfg->key_file))
    return IMSEC_ERR_CONFIG;
  if (!cfg->server && cfg->psk_identity &&
      (!cfg->psk_key || cfg->psk_key_len == 0 || cfg->psk_key_len > 64))
    return IMSEC_ERR_CONFIG;
  if ((cfg->cert_file == NULL) != (cfg->key_file == NULL))
    return IMSEC_ERR_CONFIG;
  if (cfg->tls12_only && cfg->tls13_only)
    return IMSEC_ERR_CONFIG;
  imsec_net_tls *t = calloc(1, sizeof *t);
  if (!t)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_CONFIG;
  if (uv_mutex_init(&t->lock) != 0) {
    free(t);
    return IMSEC_ERR_NOMEM;
  }
  t->server = cfg->server;
  t->dtls = cfg->dtls;
  t->no_resume = cfg->no_resume;
  t->defer_verify = cfg->defer_verify;
  t->ticket_life_s =
      cfg->ticket_key_lifetime_s ? cfg->ticket_key_lifetime_s : 3600;
  t->ctx = SSL_CTX_new(cfg->dtls ? DTLS_method() : TLS_method());
  t->aes256cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
  if (!t->ctx || !t->aes256cbc) {
    rv = IMSEC_ERR_CRYPTO;
    goto fail;
  }
  SSL_CTX *c = t->ctx;
  SSL_CTX_set_app_data(c, t);
  if (cfg->dtls) {
    if (!SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION))
      goto fail;
  } else {
    if (!SSL_CTX_set_min_proto_version(c, cfg->tls13_only ? TLS1_3_VERSION
                                                          : TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, cfg->tls12_only ? TLS1_2_VERSION
                                                          : TLS1_3_VERSION))
      goto fail;
    if (!SSL_CTX_set_ciphersuites(c, TLS13_SUITES))
      goto fail;
  }
  if (!SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) ||
      !SSL_CTX_set1_groups_list(c, GROUPS))
    goto fail;
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  /* RFC 8446 §2.3: no 0-RTT data, it has no replay protection. */
  SSL_CTX_set_max_early_data(c, 0);
  SSL_CTX_set_recv_max_early_data(c, 0);

  if (cfg->cert_file) {
    if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1)
      goto fail;
  }
  if (cfg->ca_file && SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1)
    goto fail;
  if (cfg->cert_file) {
    /* Our own chain, completed here once from the anchors when the file
     * holds the leaf alone. Left to itself, OpenSSL 3.0 rebuilds it on
     * every handshake (X509_verify_cert, signatures included: +40% server
     * CPU per handshake with a CA in the store, docs/BENCHMARKS.md). The
     * root is left out: the peer must hold it anyway (RFC 8446 §4.4.2). */
    STACK_OF(X509) *given = NULL;
    SSL_CTX_get0_chain_certs(c, &given);
    if (sk_X509_num(given) <= 0 &&
        SSL_CTX_build_cert_chain(c, SSL_BUILD_CHAIN_FLAG_UNTRUSTED |
                                        SSL_BUILD_CHAIN_FLAG_NO_ROOT |
                                        SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
                                        SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0)
      goto fail;
    SSL_CTX_set_mode(c, SSL_MODE_NO_AUTO_CHAIN);
  }

  if (cfg->server) {
    if (cfg->client_auth != IMSEC_NET_CLIENT_CERT_NONE) {
      if (!cfg->ca_file)
        goto fail;
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
      if (names)
        SSL_CTX_set_client_CA_list(c, names);
      int mode = SSL_VERIFY_PEER;
      if (cfg->client_auth == IMSEC_NET_CLIENT_CERT_REQUIRE)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      /* defer_verify: a client that sent a certificate completes the
       * handshake whatever its chain, and the owner's on_up decides (and
       * can say who was refused and why); one without still fails. */
      SSL_CTX_set_verify(c, mode, cfg->defer_verify ? defer_verify_cb : NULL);
    }
    /* A server that verifies clients must name its session context, or
     * OpenSSL fails every resumption outright (SSL_R_SESSION_ID_CONTEXT_
     * UNINITIALIZED) instead of falling back to a full handshake. Tickets
     * are sealed with this context's own keys, so one constant per client
     * policy is enough to keep sessions from crossing policies. */
    unsigned char sid_ctx[] = "imsec/client-auth-?";
    sid_ctx[sizeof sid_ctx - 2] = (unsigned char)('0' + cfg->client_auth);
    if (!SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1))
      goto fail;
    /* Stateless tickets only: no per-session state on the server. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (cfg->tickets) {
      SSL_CTX_set_num_tickets(c, 1);
      SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
    } else {
      SSL_CTX_set_num_tickets(c, 0);
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    }
    if (cfg->psk_lookup) {
      t->psk_lookup = cfg->psk_lookup;
      t->psk_arg = cfg->psk_arg;
      t->has_psk = 1;
      SSL_CTX_set_psk_find_session_callback(c, psk_find_cb);
      SSL_CTX_set_psk_server_callback(c, psk12_server_cb);
    }
    if (cfg->dtls) {
      if (RAND_bytes(t->cookie_key, sizeof t->cookie_key) != 1) {
        rv = IMSEC_ERR_CRYPTO;
        goto fail;
      }
      SSL_CTX_set_cookie_generate_cb(c, cookie_gen_cb);
      SSL_CTX_set_cookie_verify_cb(c, cookie_verify_cb);
    }
  } else {
    if (cfg->psk_identity) {
      t->psk_identity = strdup(cfg->psk_identity);
      if (!t->psk_identity) {
        rv = IMSEC_ERR_NOMEM;
        goto fail;
      }
      memcpy(t->psk_key, cfg->psk_key, cfg->psk_key_len);
      t->psk_key_len = cfg->psk_key_len;
      t->has_psk = 1;
      SSL_CTX_set_psk_use_session_callback(c, psk_use_cb);
      SSL_CTX_set_psk_client_callback(c, psk12_client_cb);
    } else {
      if (!cfg->ca_file && !cfg->defer_verify)
        SSL_CTX_set_default_verify_paths(c);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER,
                         cfg->defer_verify ? defer_verify_cb : NULL);
    }
    if (cfg->no_resume) {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    } else {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(c, new_session_cb);
    }
  }

  /* Off unless set, so Wireshark can decrypt test captures. */
  const char *kl = getenv("SSLKEYLOGFILE");
  if (kl && *kl) {
    int fd = open(kl, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || !(t->keylog = fdopen(fd, "a"))) {
      if (fd >= 0)
        close(fd);
      goto fail;
    }
    SSL_CTX_set_keylog_callback(c, keylog_cb);
  }
  *out = t;
  return 0;
fail:
  ERR_clear_error();
  imsec_net_tls_del(t);
  return rv;
}

void imsec_net_tls_del(imsec_net_tls *t) {
  if (!t)
    return;
  SSL_CTX_free(t->ctx);
  EVP_CIPHER_free(t->aes256cbc);
  for (size_t i = 0; i < t->nsess; i++) {
    free(t->sess[i].name);
    SSL_SESSION_free(t->sess[i].s);
  }
  free(t->sess);
  free(t->psk_identity);
  if (t->keylog)
    fclose(t->keylog);
  uv_mutex_destroy(&t->lock);
  imsec_wipe(t, sizeof *t);
  free(t);
}

SSL *net_tls_ssl_new(imsec_net_tls *t, const char *server_name,
                     const char *session_key) {
  SSL *ssl = SSL_new(t->ctx);
  if (!ssl)
    return NULL;
  /* TLS: buffers stay during the handshake; net.c releases them after it
   * (SSL_free_buffers; DTLS keeps the plain RELEASE_BUFFERS mode, as
   * SSL_free_buffers does not suit DTLS's write path). */
  if (!t->dtls)
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  if (!t->server) {
    if (server_name && !SSL_set_tlsext_host_name(ssl, server_name)) {
      SSL_free(ssl);
      return NULL;
    }
    if (session_key && !t->no_resume && !t->has_psk) {
      uv_mutex_lock(&t->lock);
      for (size_t i = 0; i < t->nsess; i++) {
        if (strcmp(t->sess[i].name, session_key) == 0) {
          SSL_set_session(ssl, t->sess[i].s);
          break;
        }
      }
      uv_mutex_unlock(&t->lock);
    }
  }
  return ssl;
}
