#include "imsec/crypto.h"

/* Thin wrappers over the vtable, so callers read imsec_hash(c, ...) rather
 * than c->vt->hash(c, ...), and so argument checks live in one place. */

size_t imsec_hash_len(imsec_hash_alg alg) {
  switch (alg) {
  case IMSEC_HASH_MD5:
    return IMSEC_MD5_LEN;
  case IMSEC_HASH_SHA256:
    return IMSEC_SHA256_LEN;
  }
  return 0;
}

int imsec_aes128_new(imsec_crypto *c, imsec_aes128 **out) {
  if (!c || !out)
    return IMSEC_ERR_INVAL;
  return c->vt->aes128_new(c, out);
}

int imsec_aes128_setkey(imsec_crypto *c, imsec_aes128 *ks,
                        const uint8_t key[16]) {
  if (!c || !ks || !key)
    return IMSEC_ERR_INVAL;
  return c->vt->aes128_setkey(c, ks, key);
}

int imsec_aes128_encrypt(imsec_crypto *c, imsec_aes128 *ks, const uint8_t *in,
                         uint8_t *out, size_t nblocks) {
  if (!c || !ks || (nblocks && (!in || !out)))
    return IMSEC_ERR_INVAL;
  return c->vt->aes128_encrypt(c, ks, in, out, nblocks);
}

void imsec_aes128_del(imsec_crypto *c, imsec_aes128 *ks) {
  if (c && ks)
    c->vt->aes128_del(c, ks);
}

int imsec_hash(imsec_crypto *c, imsec_hash_alg alg, const imsec_iov *iov,
               size_t n, uint8_t *out) {
  if (!c || !out || (n && !iov) || imsec_hash_len(alg) == 0)
    return IMSEC_ERR_INVAL;
  return c->vt->hash(c, alg, iov, n, out);
}

int imsec_hmac(imsec_crypto *c, imsec_hash_alg alg, const uint8_t *key,
               size_t keylen, const imsec_iov *iov, size_t n, uint8_t *out) {
  if (!c || !out || (keylen && !key) || (n && !iov) || imsec_hash_len(alg) == 0)
    return IMSEC_ERR_INVAL;
  return c->vt->hmac(c, alg, key, keylen, iov, n, out);
}

int imsec_random(imsec_crypto *c, uint8_t *out, size_t len) {
  if (!c || (len && !out))
    return IMSEC_ERR_INVAL;
  return c->vt->random(c, out, len);
}

void imsec_crypto_del(imsec_crypto *c) {
  if (c)
    c->vt->del(c);
}
