#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/crypto_ossl.h"

static crypto_fake *fake_of(imsec_crypto *c) {
  return (crypto_fake *)c;
}

static int fake_tick(crypto_fake *f) {
  f->calls++;
  if (f->fail_at && f->calls == f->fail_at)
    return f->fail_rv ? f->fail_rv : IMSEC_ERR_CRYPTO;
  return 0;
}

static int fake_aes128_new(imsec_crypto *c, imsec_aes128 **out) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  return f->real->vt->aes128_new(f->real, out);
}

static int fake_aes128_setkey(imsec_crypto *c, imsec_aes128 *ks,
                              const uint8_t key[16]) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  return f->real->vt->aes128_setkey(f->real, ks, key);
}

static int fake_aes128_encrypt(imsec_crypto *c, imsec_aes128 *ks,
                               const uint8_t *in, uint8_t *out,
                               size_t nblocks) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  f->n_aes_blocks += nblocks;
  return f->real->vt->aes128_encrypt(f->real, ks, in, out, nblocks);
}

static void fake_aes128_del(imsec_crypto *c, imsec_aes128 *ks) {
  crypto_fake *f = fake_of(c);
  f->real->vt->aes128_del(f->real, ks);
}

static int fake_hash(imsec_crypto *c, imsec_hash_alg alg, const imsec_iov *iov,
                     size_t n, uint8_t *out) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  f->n_hash++;
  return f->real->vt->hash(f->real, alg, iov, n, out);
}

static int fake_hmac(imsec_crypto *c, imsec_hash_alg alg, const uint8_t *key,
                     size_t keylen, const imsec_iov *iov, size_t n,
                     uint8_t *out) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  f->n_hmac++;
  return f->real->vt->hmac(f->real, alg, key, keylen, iov, n, out);
}

static int fake_random(imsec_crypto *c, uint8_t *out, size_t len) {
  crypto_fake *f = fake_of(c);
  IMSEC_GUARD(fake_tick(f));
  f->n_random++;
  for (size_t i = 0; i < len; i++) {
    if (f->script_pos < f->script_len)
      out[i] = f->script[f->script_pos++];
    else
      out[i] = f->counter++;
  }
  return 0;
}

static void fake_del(imsec_crypto *c) {
  crypto_fake *f = fake_of(c);
  imsec_crypto_del(f->real);
  free(f);
}

static const imsec_crypto_vtable fake_vtable = {
    .aes128_new = fake_aes128_new,
    .aes128_setkey = fake_aes128_setkey,
    .aes128_encrypt = fake_aes128_encrypt,
    .aes128_del = fake_aes128_del,
    .hash = fake_hash,
    .hmac = fake_hmac,
    .random = fake_random,
    .del = fake_del,
};

int crypto_fake_new(crypto_fake **out) {
  crypto_fake *f = calloc(1, sizeof(*f));
  if (!f)
    return IMSEC_ERR_NOMEM;
  int rv = imsec_crypto_ossl_new(&f->real);
  if (rv < 0) {
    free(f);
    return rv;
  }
  f->base.vt = &fake_vtable;
  *out = f;
  return 0;
}

void crypto_fake_script(crypto_fake *f, const uint8_t *bytes, size_t len) {
  f->script = bytes;
  f->script_len = len;
  f->script_pos = 0;
}
