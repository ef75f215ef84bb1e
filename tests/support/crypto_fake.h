/*
 * A fake crypto backend for unit tests of code above the vtable.
 *
 * Algorithms are the real ones (delegated to the OpenSSL backend) so known
 * answers still hold, but randomness is scripted and any call can be made
 * to fail, so tests can reach the error paths of the core and replay a
 * protocol run byte for byte.
 */
#ifndef IMSEC_TEST_CRYPTO_FAKE_H
#define IMSEC_TEST_CRYPTO_FAKE_H

#include "imsec/crypto.h"

typedef struct crypto_fake {
  imsec_crypto base;
  imsec_crypto *real;
  /* Randomness: `script` is handed out in order, then a counter byte
   * pattern (0x00, 0x01, ...) continues deterministically. */
  const uint8_t *script;
  size_t script_len;
  size_t script_pos;
  uint8_t counter;
  /* Failure injection: when `fail_at` is non-zero, the fail_at-th call
   * (counting every vtable call, from 1) returns `fail_rv`. */
  unsigned long calls;
  unsigned long fail_at;
  int fail_rv;
  /* Counters by kind. */
  unsigned long n_aes_blocks, n_hash, n_hmac, n_random;
} crypto_fake;

/* Returns 0 or a negative imsec_err. Free with imsec_crypto_del. */
int crypto_fake_new(crypto_fake **out);
/* Script the next random bytes (borrowed; must outlive their use). */
void crypto_fake_script(crypto_fake *f, const uint8_t *bytes, size_t len);

#endif
