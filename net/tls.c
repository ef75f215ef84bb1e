/*
 * TLS and DTLS contexts on OpenSSL 3: the protocol policy of imsec in one
 * place. TLS 1.3 and 1.2 only, ECDHE and AEAD only, no renegotiation, no
 * early data (TS 33.310 §6.1.3a profile; seed §3), session tickets under
 * rotating keys, external PSK for mode M3, DTLS 1.2 with stateless cookies.
 */
#include <stdarg.h>
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

/* Forget every kept client session (with the lock held, or at del). */
static void sess_flush(imsec_net_tls *t) {
  for (size_t i = 0; i < t->nsess; i++) {
    free(t->sess[i].name);
    SSL_SESSION_free(t->sess[i].s);
  }
  t->nsess = 0;
}

/* ---------------------------------------------------------- PSK */

/* An identity a server looks up: 1 to NET_PSK_ID_MAX octets, no NUL (it
 * becomes a C string in the flow's facts). Anything else is unknown. */
static int psk_id_ok(const unsigned char *id, size_t len) {
  return len > 0 && len <= NET_PSK_ID_MAX && !memchr(id, 0, len);
}

/* TLS 1.3 external PSK (RFC 8446 §4.2.11), server side. An unknown
 * identity leaves the PSK aside: with a certificate the handshake goes on
 * as a certificate one (a client that accepts only the PSK then refuses
 * the certificate); without one it fails. A known identity with a wrong
 * key fails the binder check (decrypt_error, RFC 8446 §4.2.11.2). */
static int psk_find_cb(SSL *ssl, const unsigned char *id, size_t id_len,
                       SSL_SESSION **sess) {
  imsec_net_tls *t = tls_of(ssl);
  uint8_t key[NET_PSK_KEY_MAX];
  *sess = NULL;
  if (!psk_id_ok(id, id_len))
    return 1;
  int n = t->psk_lookup(t->psk_arg, id, id_len, key, sizeof key);
  if (n <= 0 || (size_t)n > sizeof key) {
    imsec_wipe(key, sizeof key);
    return 1;
  }
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
  net_ssl_mark_psk(ssl, id, id_len);
  /* A PSK client keeps no session (it holds the key itself, and net/
   * never resumes a PSK flow): a ticket for it would be signed, sent and
   * thrown away, a fifth of the handshake's server CPU. */
  SSL_set_num_tickets(ssl, 0);
  return 1;
}

/* The client's PSK: the flow's own, else the context's. */
static int psk_client_key(SSL *ssl, const char **id, const uint8_t **key,
                          size_t *key_len) {
  const struct flow_psk *fp = net_ssl_flow_psk(ssl);
  if (fp) {
    *id = fp->id;
    *key = fp->key;
    *key_len = fp->key_len;
    return 0;
  }
  imsec_net_tls *t = tls_of(ssl);
  if (!t->psk_identity)
    return -1;
  *id = t->psk_identity;
  *key = t->psk_key;
  *key_len = t->psk_key_len;
  return 0;
}

static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                      size_t *id_len, SSL_SESSION **sess) {
  *sess = NULL;
  const char *pid;
  const uint8_t *key;
  size_t key_len;
  if (psk_client_key(ssl, &pid, &key, &key_len) != 0)
    return 1; /* no PSK on this connection */
  const SSL_CIPHER *c = SSL_CIPHER_find(ssl, tls13_aes128gcmsha256_id);
  if (!c)
    return 0;
  if (md && md != SSL_CIPHER_get_handshake_digest(c))
    return 1; /* a HelloRetryRequest chose another hash: no PSK */
  SSL_SESSION *s = SSL_SESSION_new();
  if (!s || !SSL_SESSION_set1_master_key(s, key, key_len) ||
      !SSL_SESSION_set_cipher(s, c) ||
      !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return 0;
  }
  *id = (const unsigned char *)pid;
  *id_len = strlen(pid);
  *sess = s;
  net_ssl_mark_psk(ssl, *id, *id_len);
  return 1;
}

/* TLS 1.2 PSK (RFC 4279 / RFC 5489 ECDHE-PSK). An unknown identity or a
 * wrong key fails the handshake: the suite is chosen by then. */
static unsigned int psk12_server_cb(SSL *ssl, const char *identity,
                                    unsigned char *psk, unsigned int max) {
  imsec_net_tls *t = tls_of(ssl);
  size_t il = strlen(identity);
  if (!psk_id_ok((const unsigned char *)identity, il))
    return 0;
  int n = t->psk_lookup(t->psk_arg, (const uint8_t *)identity, il, psk, max);
  if (n <= 0 || (unsigned int)n > max)
    return 0;
  net_ssl_mark_psk(ssl, (const uint8_t *)identity, il);
  return (unsigned int)n;
}

static unsigned int psk12_client_cb(SSL *ssl, const char *hint, char *identity,
                                    unsigned int max_id, unsigned char *psk,
                                    unsigned int max) {
  (void)hint;
  const char *pid;
  const uint8_t *key;
  size_t key_len;
  if (psk_client_key(ssl, &pid, &key, &key_len) != 0)
    return 0;
  size_t il = strlen(pid);
  if (il + 1 > max_id || key_len > max)
    return 0;
  memcpy(identity, pid, il + 1);
  memcpy(psk, key, key_len);
  net_ssl_mark_psk(ssl, (const uint8_t *)pid, il);
  return (unsigned int)key_len;
}

/* A client that holds a PSK authenticates the server by that key alone:
 * a server that answers with a certificate instead (it did not take the
 * PSK: an unknown identity) is refused, whatever the certificate. */
static int refuse_cert_cb(int ok, X509_STORE_CTX *x) {
  (void)ok;
  X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

/* TLS 1.2 suites of a PSK client: ECDHE-PSK only, so a server with a
 * certificate cannot pick a certificate suite instead. */
#define TLS12_PSK_CIPHERS "ECDHE-PSK-CHACHA20-POLY1305"

int net_tls_ssl_use_psk(SSL *ssl) {
  SSL_set_psk_use_session_callback(ssl, psk_use_cb);
  SSL_set_psk_client_callback(ssl, psk12_client_cb);
  SSL_set_verify(ssl, SSL_VERIFY_PEER, refuse_cert_cb);
  return SSL_set_cipher_list(ssl, TLS12_PSK_CIPHERS) == 1 ? 0 : -1;
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

/* One line into `err` (may be NULL): what failed, and OpenSSL's reason
 * when it has one. Clears OpenSSL's error queue. */
__attribute__((format(printf, 3, 4))) static void
ctx_err(char *err, size_t cap, const char *fmt, ...) {
  unsigned long e = ERR_peek_error(); /* the first: the root cause */
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    if (n >= 0 && (size_t)n < cap && why)
      snprintf(err + n, cap - (size_t)n, ": %s", why);
  }
  ERR_clear_error();
}

/* The session ID context of a server that verifies clients. OpenSSL fails
 * every resumption outright without one (SSL_R_SESSION_ID_CONTEXT_
 * UNINITIALIZED) instead of falling back to a full handshake. It names the
 * client policy and the trust anchors: a session whose client certificate
 * was verified under one policy or one set of anchors never resumes under
 * another (after a reload that changed a CA file the client is verified
 * again, in a full handshake), while reloading a certificate or key alone
 * keeps every ticket valid. The anchors are every certificate in the
 * store: ca_file and all of more_ca_files. Their fingerprint is the XOR of
 * their SHA-256 digests, so their order in the files does not matter. */
static int ctx_sid(SSL_CTX *c, imsec_net_client_auth auth) {
  unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
  static const char tag[] = "imsec/client-auth-?";
  size_t n = sizeof tag - 1;
  memcpy(sid, tag, n);
  sid[n - 1] = (unsigned char)('0' + auth);
  if (auth != IMSEC_NET_CLIENT_CERT_NONE) {
    unsigned char fp[32] = {0};
    STACK_OF(X509_OBJECT) *objs =
        X509_STORE_get0_objects(SSL_CTX_get_cert_store(c));
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
      X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
      unsigned char d[EVP_MAX_MD_SIZE];
      unsigned int dl = 0;
      if (!x)
        continue;
      if (!X509_digest(x, EVP_sha256(), d, &dl) || dl != sizeof fp)
        return -1;
      for (size_t k = 0; k < sizeof fp; k++)
        fp[k] ^= d[k];
    }
    memcpy(sid + n, fp, sizeof sid - n);
    n = sizeof sid;
  }
  return SSL_CTX_set_session_id_context(c, sid, (unsigned int)n) == 1 ? 0 : -1;
}

/* A new SSL_CTX with the policy of `t` (fixed at imsec_net_tls_new) and
 * the given files. Nothing of `t` changes. Returns 0 and *out, or
 * IMSEC_ERR_CONFIG / IMSEC_ERR_CRYPTO with one line in `err`. */
static int ctx_build(imsec_net_tls *t, const char *cert_file,
                     const char *key_file, const char *ca_file,
                     const char *const *more_ca, SSL_CTX **out, char *err,
                     size_t cap) {
  const imsec_net_tls_config *cfg = &t->pol;
  *out = NULL;
  if (err && cap)
    err[0] = '\0';
  ERR_clear_error();
  SSL_CTX *c = SSL_CTX_new(cfg->dtls ? DTLS_method() : TLS_method());
  if (!c) {
    ctx_err(err, cap, "cannot make a TLS context");
    return IMSEC_ERR_CRYPTO;
  }
  SSL_CTX_set_app_data(c, t);
  /* Alerts and the client's certificate, for the handshake metrics. */
  SSL_CTX_set_info_callback(c, net_tls_info_cb);
  if (cfg->dtls) {
    if (!SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION))
      goto fail_policy;
  } else {
    if (!SSL_CTX_set_min_proto_version(c, cfg->tls13_only ? TLS1_3_VERSION
                                                          : TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, cfg->tls12_only ? TLS1_2_VERSION
                                                          : TLS1_3_VERSION))
      goto fail_policy;
    if (!SSL_CTX_set_ciphersuites(c, TLS13_SUITES))
      goto fail_policy;
  }
  if (!SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) ||
      !SSL_CTX_set1_groups_list(c, GROUPS))
    goto fail_policy;
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  /* RFC 8446 §2.3: no 0-RTT data, it has no replay protection. */
  SSL_CTX_set_max_early_data(c, 0);
  SSL_CTX_set_recv_max_early_data(c, 0);

  if (cert_file) {
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
      ctx_err(err, cap, "certificate %s does not load", cert_file);
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
        ctx_err(err, cap, "key %s does not match certificate %s", key_file,
                cert_file);
      else
        ctx_err(err, cap, "key %s does not load", key_file);
      goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
      ctx_err(err, cap, "key %s does not match certificate %s", key_file,
              cert_file);
      goto fail;
    }
  }
  if (ca_file && SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
    ctx_err(err, cap, "CA file %s does not load", ca_file);
    goto fail;
  }
  for (const char *const *f = more_ca; f && *f; f++)
    if (SSL_CTX_load_verify_locations(c, *f, NULL) != 1) {
      ctx_err(err, cap, "CA file %s does not load", *f);
      goto fail;
    }
  if (cert_file) {
    /* Our own chain, completed here once from the anchors when the file
     * holds the leaf alone. Left to itself, OpenSSL 3.0 rebuilds it on
     * every handshake (X509_verify_cert, signatures included: +40% server
     * CPU per handshake with a CA in the store, docs/BENCHMARKS.md). The
     * root is left out: the peer must hold it anyway (RFC 8446 §4.4.2). */
    STACK_OF(X509) *given = NULL;
    SSL_CTX_get0_chain_certs(c, &given);
    if (sk_X509_num(given) <= 0 &&
        SSL_CTX_build_cert_chain(
            c, SSL_BUILD_CHAIN_FLAG_UNTRUSTED | SSL_BUILD_CHAIN_FLAG_NO_ROOT |
                   SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
                   SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0) {
      ctx_err(err, cap, "certificate %s: cannot complete its chain", cert_file);
      goto fail;
    }
    SSL_CTX_set_mode(c, SSL_MODE_NO_AUTO_CHAIN);
  }

  if (cfg->server) {
    if (cfg->client_auth != IMSEC_NET_CLIENT_CERT_NONE) {
      if (!ca_file) {
        ctx_err(err, cap, "client certificates need a CA file");
        goto fail;
      }
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
      for (const char *const *f = more_ca; names && f && *f; f++)
        (void)SSL_add_file_cert_subjects_to_stack(names, *f);
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
    if (ctx_sid(c, cfg->client_auth) != 0)
      goto fail_policy;
    /* Stateless tickets only: no per-session state on the server. The
     * ticket keys belong to `t`, not to this SSL_CTX, so they outlive a
     * reload and tickets issued before it still resume. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (cfg->tickets) {
      SSL_CTX_set_num_tickets(c, 1);
      SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
    } else {
      SSL_CTX_set_num_tickets(c, 0);
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    }
    if (t->psk_lookup) {
      SSL_CTX_set_psk_find_session_callback(c, psk_find_cb);
      SSL_CTX_set_psk_server_callback(c, psk12_server_cb);
    }
    if (cfg->dtls) {
      SSL_CTX_set_cookie_generate_cb(c, cookie_gen_cb);
      SSL_CTX_set_cookie_verify_cb(c, cookie_verify_cb);
    }
  } else {
    if (t->psk_identity) {
      SSL_CTX_set_psk_use_session_callback(c, psk_use_cb);
      SSL_CTX_set_psk_client_callback(c, psk12_client_cb);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, refuse_cert_cb);
      if (!SSL_CTX_set_cipher_list(c, TLS12_PSK_CIPHERS))
        goto fail_policy;
    } else {
      if (!ca_file && !cfg->defer_verify)
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
  if (t->keylog)
    SSL_CTX_set_keylog_callback(c, keylog_cb);
  *out = c;
  return 0;
fail_policy:
  ctx_err(err, cap, "cannot apply the TLS policy");
fail:
  SSL_CTX_free(c);
  return IMSEC_ERR_CONFIG;
}

int imsec_net_tls_new(imsec_net_tls **out, const imsec_net_tls_config *cfg) {
  if (!out || !cfg)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (cfg->server && !cfg->psk_lookup && (!cfg->cert_file || !cfg->key_file))
    return IMSEC_ERR_CONFIG;
  if (!cfg->server && cfg->psk_identity &&
      (!cfg->psk_key || cfg->psk_key_len == 0 ||
       cfg->psk_key_len > NET_PSK_KEY_MAX || !cfg->psk_identity[0] ||
       strlen(cfg->psk_identity) > NET_PSK_ID_MAX))
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
  /* The policy, kept for reloads; the file names and the PSK are not
   * (they are borrowed, and the PSK is copied below). */
  t->pol = *cfg;
  t->pol.cert_file = t->pol.key_file = t->pol.ca_file = NULL;
  t->pol.more_ca_files = NULL;
  t->pol.psk_identity = NULL;
  t->pol.psk_key = NULL;
  t->pol.psk_key_len = 0;
  t->server = cfg->server;
  t->dtls = cfg->dtls;
  t->no_resume = cfg->no_resume;
  t->defer_verify = cfg->defer_verify;
  t->ticket_life_s =
      cfg->ticket_key_lifetime_s ? cfg->ticket_key_lifetime_s : 3600;
  t->aes256cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
  if (!t->aes256cbc) {
    rv = IMSEC_ERR_CRYPTO;
    goto fail;
  }
  if (cfg->server) {
    if (cfg->psk_lookup) {
      t->psk_lookup = cfg->psk_lookup;
      t->psk_arg = cfg->psk_arg;
      t->has_psk = 1;
    }
    if (cfg->dtls && RAND_bytes(t->cookie_key, sizeof t->cookie_key) != 1) {
      rv = IMSEC_ERR_CRYPTO;
      goto fail;
    }
  } else if (cfg->psk_identity) {
    t->psk_identity = strdup(cfg->psk_identity);
    if (!t->psk_identity) {
      rv = IMSEC_ERR_NOMEM;
      goto fail;
    }
    memcpy(t->psk_key, cfg->psk_key, cfg->psk_key_len);
    t->psk_key_len = cfg->psk_key_len;
    t->has_psk = 1;
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
  }
  rv = ctx_build(t, cfg->cert_file, cfg->key_file, cfg->ca_file,
                 cfg->more_ca_files, &t->ctx, NULL, 0);
  if (rv != 0)
    goto fail;
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
  sess_flush(t);
  free(t->sess);
  free(t->psk_identity);
  if (t->keylog)
    fclose(t->keylog);
  uv_mutex_destroy(&t->lock);
  imsec_wipe(t, sizeof *t);
  free(t);
}

/* ---------------------------------------------------------- reload */

struct imsec_net_tls_next {
  imsec_net_tls *tls;
  SSL_CTX *ctx; /* the next context, until applied */
};

int imsec_net_tls_next_new(imsec_net_tls_next **out, imsec_net_tls *tls,
                           const imsec_net_tls_config *cfg, char *err,
                           size_t errcap) {
  if (err && errcap)
    err[0] = '\0';
  if (!out || !tls || !cfg) {
    if (err && errcap)
      snprintf(err, errcap, "no TLS context or settings to reload");
    return IMSEC_ERR_INVAL;
  }
  *out = NULL;
  const imsec_net_tls_config *pol = &tls->pol;
  const char *bad = NULL;
  if ((cfg->cert_file == NULL) != (cfg->key_file == NULL))
    bad = "a certificate needs its key, and a key its certificate";
  else if (pol->server && !pol->psk_lookup && !cfg->cert_file)
    bad = "a server needs a certificate and a key";
  else if (pol->server && pol->client_auth != IMSEC_NET_CLIENT_CERT_NONE &&
           !cfg->ca_file)
    bad = "client certificates need a CA file";
  if (bad) {
    if (err && errcap)
      snprintf(err, errcap, "%s", bad);
    return IMSEC_ERR_CONFIG;
  }
  imsec_net_tls_next *rl = calloc(1, sizeof *rl);
  if (!rl)
    return IMSEC_ERR_NOMEM;
  int rv = ctx_build(tls, cfg->cert_file, cfg->key_file, cfg->ca_file,
                     cfg->more_ca_files, &rl->ctx, err, errcap);
  if (rv != 0) {
    free(rl);
    return rv;
  }
  rl->tls = tls;
  *out = rl;
  return 0;
}

void imsec_net_tls_next_apply(imsec_net_tls_next *rl) {
  if (!rl || !rl->ctx)
    return;
  imsec_net_tls *t = rl->tls;
  uv_mutex_lock(&t->lock);
  SSL_CTX *old = t->ctx;
  t->ctx = rl->ctx;
  /* Client sessions were made under the old anchors: the next connection
   * verifies the server again under the new ones. */
  sess_flush(t);
  uv_mutex_unlock(&t->lock);
  rl->ctx = NULL;
  /* Our reference only: every SSL made from it holds its own, so the
   * flows already up keep their context until they close. */
  SSL_CTX_free(old);
}

void imsec_net_tls_next_del(imsec_net_tls_next *rl) {
  if (!rl)
    return;
  SSL_CTX_free(rl->ctx);
  free(rl);
}

int imsec_net_tls_reload(imsec_net_tls *tls, const imsec_net_tls_config *cfg,
                         char *err, size_t errcap) {
  imsec_net_tls_next *rl = NULL;
  int rv = imsec_net_tls_next_new(&rl, tls, cfg, err, errcap);
  if (rv != 0)
    return rv;
  imsec_net_tls_next_apply(rl);
  imsec_net_tls_next_del(rl);
  return 0;
}

int net_tls_ssl_current(imsec_net_tls *t, SSL *ssl) {
  uv_mutex_lock(&t->lock);
  int cur = SSL_get_SSL_CTX(ssl) == t->ctx;
  uv_mutex_unlock(&t->lock);
  return cur;
}

SSL *net_tls_ssl_new(imsec_net_tls *t, const char *server_name,
                     const char *session_key) {
  /* The context of the moment (a reload may swap it from another
   * thread): the SSL holds its own reference from here on. */
  uv_mutex_lock(&t->lock);
  SSL_CTX *ctx = t->ctx;
  SSL_CTX_up_ref(ctx);
  uv_mutex_unlock(&t->lock);
  SSL *ssl = SSL_new(ctx);
  SSL_CTX_free(ctx);
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
