/*
 * The OpenSSL 3 backend of the crypto vtable.
 *
 * Fetching an algorithm (EVP_CIPHER_fetch, EVP_MD_fetch, EVP_MAC_fetch) walks
 * the provider tables and takes locks; doing it per call costs about 2.4x in
 * Milenage. So every algorithm is fetched once here and every context is
 * reused; a backend serves one thread at a time.
 */
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "imsec/crypto.h"
#include "imsec/crypto_ossl.h"

#define N_HASH 2

typedef struct ossl_crypto {
  imsec_crypto base; /* first: the vtable header */
  EVP_CIPHER *aes128_ecb;
  EVP_MD *md[N_HASH];
  EVP_MD_CTX *md_ctx;
  EVP_MAC *hmac;
  EVP_MAC_CTX *hmac_ctx[N_HASH]; /* digest parameter set once per alg */
} ossl_crypto;

struct imsec_aes128 {
  EVP_CIPHER_CTX *ctx;
  int keyed;
};

static ossl_crypto *ossl_of(imsec_crypto *c) {
  return (ossl_crypto *)c;
}

static int ossl_aes128_new(imsec_crypto *c, imsec_aes128 **out) {
  (void)c;
  imsec_aes128 *ks = calloc(1, sizeof(*ks));
  if (!ks)
    return IMSEC_ERR_NOMEM;
  ks->ctx = EVP_CIPHER_CTX_new();
  if (!ks->ctx) {
    free(ks);
    return IMSEC_ERR_NOMEM;
  }
  *out = ks;
  return 0;
}

static int ossl_aes128_setkey(imsec_crypto *c, imsec_aes128 *ks,
                              const uint8_t key[16]) {
  ossl_crypto *o = ossl_of(c);
  if (ks->keyed) {
    /* Re-keying: with a NULL cipher the context keeps its cipher and
     * settings (no padding) and only expands the new key; an HSS re-keys
     * for every subscriber, so this path is hot. */
    if (EVP_EncryptInit_ex2(ks->ctx, NULL, key, NULL, NULL) != 1)
      return IMSEC_ERR_CRYPTO;
    return 0;
  }
  if (EVP_EncryptInit_ex2(ks->ctx, o->aes128_ecb, key, NULL, NULL) != 1)
    return IMSEC_ERR_CRYPTO;
  /* Whole blocks only: no padding, so Update writes exactly what it reads. */
  EVP_CIPHER_CTX_set_padding(ks->ctx, 0);
  ks->keyed = 1;
  return 0;
}

static int ossl_aes128_encrypt(imsec_crypto *c, imsec_aes128 *ks,
                               const uint8_t *in, uint8_t *out,
                               size_t nblocks) {
  (void)c;
  if (!ks->keyed)
    return IMSEC_ERR_STATE;
  if (nblocks == 0)
    return 0;
  if (nblocks > (size_t)INT32_MAX / IMSEC_AES_BLOCK)
    return IMSEC_ERR_INVAL;
  int outl = 0;
  if (EVP_EncryptUpdate(ks->ctx, out, &outl, in,
                        (int)(nblocks * IMSEC_AES_BLOCK)) != 1 ||
      (size_t)outl != nblocks * IMSEC_AES_BLOCK)
    return IMSEC_ERR_CRYPTO;
  return 0;
}

static void ossl_aes128_del(imsec_crypto *c, imsec_aes128 *ks) {
  (void)c;
  EVP_CIPHER_CTX_free(ks->ctx); /* cleanses the key schedule */
  free(ks);
}

static int ossl_hash(imsec_crypto *c, imsec_hash_alg alg, const imsec_iov *iov,
                     size_t n, uint8_t *out) {
  ossl_crypto *o = ossl_of(c);
  if (EVP_DigestInit_ex2(o->md_ctx, o->md[alg], NULL) != 1)
    return IMSEC_ERR_CRYPTO;
  for (size_t i = 0; i < n; i++) {
    if (iov[i].len && EVP_DigestUpdate(o->md_ctx, iov[i].p, iov[i].len) != 1)
      return IMSEC_ERR_CRYPTO;
  }
  unsigned int outl = 0;
  if (EVP_DigestFinal_ex(o->md_ctx, out, &outl) != 1)
    return IMSEC_ERR_CRYPTO;
  return 0;
}

static int ossl_hmac(imsec_crypto *c, imsec_hash_alg alg, const uint8_t *key,
                     size_t keylen, const imsec_iov *iov, size_t n,
                     uint8_t *out) {
  ossl_crypto *o = ossl_of(c);
  EVP_MAC_CTX *ctx = o->hmac_ctx[alg];
  /* An empty key is legal HMAC (RFC 2104 pads it with zeros); OpenSSL
   * wants a non-NULL pointer for it. */
  static const uint8_t empty_key[1] = {0};
  if (EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, NULL) != 1)
    return IMSEC_ERR_CRYPTO;
  for (size_t i = 0; i < n; i++) {
    if (iov[i].len && EVP_MAC_update(ctx, iov[i].p, iov[i].len) != 1)
      return IMSEC_ERR_CRYPTO;
  }
  size_t outl = 0;
  if (EVP_MAC_final(ctx, out, &outl, imsec_hash_len(alg)) != 1)
    return IMSEC_ERR_CRYPTO;
  return 0;
}

static int ossl_random(imsec_crypto *c, uint8_t *out, size_t len) {
  (void)c;
  while (len > 0) {
    int chunk = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
    if (RAND_bytes(out, chunk) != 1)
      return IMSEC_ERR_CRYPTO;
    out += chunk;
    len -= (size_t)chunk;
  }
  return 0;
}

static void ossl_del(imsec_crypto *c) {
  ossl_crypto *o = ossl_of(c);
  for (int i = 0; i < N_HASH; i++) {
    EVP_MAC_CTX_free(o->hmac_ctx[i]);
    EVP_MD_free(o->md[i]);
  }
  EVP_MAC_free(o->hmac);
  EVP_MD_CTX_free(o->md_ctx);
  EVP_CIPHER_free(o->aes128_ecb);
  free(o);
}

static const imsec_crypto_vtable ossl_vtable = {
    .aes128_new = ossl_aes128_new,
    .aes128_setkey = ossl_aes128_setkey,
    .aes128_encrypt = ossl_aes128_encrypt,
    .aes128_del = ossl_aes128_del,
    .hash = ossl_hash,
    .hmac = ossl_hmac,
    .random = ossl_random,
    .del = ossl_del,
};

int imsec_crypto_ossl_new(imsec_crypto **out) {
  static const char *const md_names[N_HASH] = {"MD5", "SHA2-256"};
  if (!out)
    return IMSEC_ERR_INVAL;
  ossl_crypto *o = calloc(1, sizeof(*o));
  if (!o)
    return IMSEC_ERR_NOMEM;
  o->base.vt = &ossl_vtable;
  int rv = IMSEC_ERR_CRYPTO;

  o->aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
  if (!o->aes128_ecb)
    goto fail;
  o->md_ctx = EVP_MD_CTX_new();
  if (!o->md_ctx)
    goto fail;
  o->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!o->hmac)
    goto fail;
  for (int i = 0; i < N_HASH; i++) {
    o->md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
    if (!o->md[i])
      goto fail;
    o->hmac_ctx[i] = EVP_MAC_CTX_new(o->hmac);
    if (!o->hmac_ctx[i])
      goto fail;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         (char *)md_names[i], 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(o->hmac_ctx[i], params) != 1)
      goto fail;
  }
  *out = &o->base;
  return 0;

fail:
  ossl_del(&o->base);
  return rv;
}
