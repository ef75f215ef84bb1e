/*
 * imsec crypto: the small vtable through which the sans-I/O core reaches
 * AES-128, MD5, SHA-256, HMAC and randomness.
 *
 * lib/ never includes OpenSSL; it calls these functions with an
 * `imsec_crypto` handed in by its caller. crypto/ossl.c implements them on
 * OpenSSL 3 EVP with every algorithm fetched once at construction and every
 * context reused, so a call costs no provider look-up. Tests can substitute
 * a fake (tests/support/crypto_fake.h).
 *
 * Threading: one imsec_crypto serves one thread at a time (its contexts are
 * reused between calls). Make one per worker thread.
 */
#ifndef IMSEC_CRYPTO_H
#define IMSEC_CRYPTO_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imsec_hash_alg {
  IMSEC_HASH_MD5 = 0,
  IMSEC_HASH_SHA256 = 1,
} imsec_hash_alg;

#define IMSEC_MD5_LEN 16
#define IMSEC_SHA256_LEN 32
#define IMSEC_HASH_MAX_LEN 32
#define IMSEC_AES_BLOCK 16

/* One piece of the input of a digest or MAC: the input is the concatenation
 * of all pieces, so callers never build a scratch buffer. */
typedef struct imsec_iov {
  const void *p;
  size_t len;
} imsec_iov;

/* An AES-128 key schedule owned by the backend. Set a key once and encrypt
 * many blocks with it. */
typedef struct imsec_aes128 imsec_aes128;

typedef struct imsec_crypto imsec_crypto;

/* The vtable. Every function returns 0 or a negative imsec_err
 * (IMSEC_ERR_CRYPTO when the backend fails, IMSEC_ERR_INVAL on bad
 * arguments). */
typedef struct imsec_crypto_vtable {
  /* Allocate a key schedule (no key yet). */
  int (*aes128_new)(imsec_crypto *c, imsec_aes128 **out);
  /* Set or replace the key. The backend keeps no copy beyond the schedule,
   * which it wipes in aes128_del. */
  int (*aes128_setkey)(imsec_crypto *c, imsec_aes128 *ks,
                       const uint8_t key[16]);
  /* Encrypt `nblocks` independent 16-octet blocks (ECB: the raw block
   * cipher). `in` and `out` may be the same buffer. */
  int (*aes128_encrypt)(imsec_crypto *c, imsec_aes128 *ks, const uint8_t *in,
                        uint8_t *out, size_t nblocks);
  void (*aes128_del)(imsec_crypto *c, imsec_aes128 *ks);
  /* Hash the concatenation of `iov[0..n)`; `out` receives the digest length
   * of `alg`. */
  int (*hash)(imsec_crypto *c, imsec_hash_alg alg, const imsec_iov *iov,
              size_t n, uint8_t *out);
  /* HMAC (RFC 2104) of the concatenation of `iov[0..n)` under `key`. */
  int (*hmac)(imsec_crypto *c, imsec_hash_alg alg, const uint8_t *key,
              size_t keylen, const imsec_iov *iov, size_t n, uint8_t *out);
  /* Fill `out` with `len` bytes from a CSPRNG. */
  int (*random)(imsec_crypto *c, uint8_t *out, size_t len);
  /* Free the backend. */
  void (*del)(imsec_crypto *c);
} imsec_crypto_vtable;

/* Every backend starts with this header; `vt` is never NULL. */
struct imsec_crypto {
  const imsec_crypto_vtable *vt;
};

/* Digest length of `alg` in octets (16 or 32), or 0 for an unknown alg. */
IMSEC_API size_t imsec_hash_len(imsec_hash_alg alg);

/* Convenience wrappers over the vtable. */
IMSEC_API IMSEC_MUST_USE int imsec_aes128_new(imsec_crypto *c,
                                              imsec_aes128 **out);
IMSEC_API IMSEC_MUST_USE int
imsec_aes128_setkey(imsec_crypto *c, imsec_aes128 *ks, const uint8_t key[16]);
IMSEC_API IMSEC_MUST_USE int imsec_aes128_encrypt(imsec_crypto *c,
                                                  imsec_aes128 *ks,
                                                  const uint8_t *in,
                                                  uint8_t *out, size_t nblocks);
IMSEC_API void imsec_aes128_del(imsec_crypto *c, imsec_aes128 *ks);
IMSEC_API IMSEC_MUST_USE int imsec_hash(imsec_crypto *c, imsec_hash_alg alg,
                                        const imsec_iov *iov, size_t n,
                                        uint8_t *out);
IMSEC_API IMSEC_MUST_USE int imsec_hmac(imsec_crypto *c, imsec_hash_alg alg,
                                        const uint8_t *key, size_t keylen,
                                        const imsec_iov *iov, size_t n,
                                        uint8_t *out);
IMSEC_API IMSEC_MUST_USE int imsec_random(imsec_crypto *c, uint8_t *out,
                                          size_t len);
/* Free a backend (NULL is fine). */
IMSEC_API void imsec_crypto_del(imsec_crypto *c);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_CRYPTO_H */
