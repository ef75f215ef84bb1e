/* crypto/ossl.c through the vtable, and the fake backend. */
#include <string.h>

#include "crypto_fake.h"
#include "imsec/crypto.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

static int setup(void **state) {
  imsec_crypto *c = NULL;
  if (imsec_crypto_ossl_new(&c) != 0)
    return -1;
  *state = c;
  return 0;
}

static int teardown(void **state) {
  imsec_crypto_del(*state);
  return 0;
}

/* FIPS-197 Appendix C.1 (AES-128). */
static void aes128_fips197(void **state) {
  imsec_crypto *c = *state;
  uint8_t key[16], pt[16], ct[16];
  t_hex("000102030405060708090a0b0c0d0e0f", key, 16);
  t_hex("00112233445566778899aabbccddeeff", pt, 16);
  imsec_aes128 *ks = NULL;
  assert_int_equal(imsec_aes128_new(c, &ks), 0);
  /* Unkeyed schedule refuses to encrypt. */
  assert_int_equal(imsec_aes128_encrypt(c, ks, pt, ct, 1), IMSEC_ERR_STATE);
  assert_int_equal(imsec_aes128_setkey(c, ks, key), 0);
  assert_int_equal(imsec_aes128_encrypt(c, ks, pt, ct, 1), 0);
  t_assert_hex(ct, 16, "69c4e0d86a7b0430d8cdb78070b4c55a");

  /* Several blocks at once equal one at a time; in place works. */
  uint8_t many[48];
  memcpy(many, pt, 16);
  memset(many + 16, 0, 16);
  memcpy(many + 32, pt, 16);
  assert_int_equal(imsec_aes128_encrypt(c, ks, many, many, 3), 0);
  t_assert_hex(many, 16, "69c4e0d86a7b0430d8cdb78070b4c55a");
  t_assert_hex(many + 32, 16, "69c4e0d86a7b0430d8cdb78070b4c55a");
  /* The key survives reuse. */
  assert_int_equal(imsec_aes128_encrypt(c, ks, pt, ct, 1), 0);
  t_assert_hex(ct, 16, "69c4e0d86a7b0430d8cdb78070b4c55a");
  /* Rekeying: FIPS-197 C.1 plaintext under an all-zero key. */
  memset(key, 0, 16);
  assert_int_equal(imsec_aes128_setkey(c, ks, key), 0);
  memset(pt, 0, 16);
  assert_int_equal(imsec_aes128_encrypt(c, ks, pt, ct, 1), 0);
  t_assert_hex(ct, 16, "66e94bd4ef8a2c3b884cfa59ca342b2e");
  assert_int_equal(imsec_aes128_encrypt(c, ks, pt, ct, 0), 0);
  imsec_aes128_del(c, ks);
  imsec_aes128_del(c, NULL);
}

static void hashes(void **state) {
  imsec_crypto *c = *state;
  uint8_t out[32];
  imsec_iov abc[] = {{"a", 1}, {"", 0}, {"bc", 2}};
  assert_int_equal(imsec_hash(c, IMSEC_HASH_MD5, abc, 3, out), 0);
  t_assert_hex(out, 16, "900150983cd24fb0d6963f7d28e17f72");
  assert_int_equal(imsec_hash(c, IMSEC_HASH_SHA256, abc, 3, out), 0);
  t_assert_hex(out, 32,
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015"
               "ad");
  assert_int_equal(imsec_hash(c, IMSEC_HASH_MD5, NULL, 0, out), 0);
  t_assert_hex(out, 16, "d41d8cd98f00b204e9800998ecf8427e");
  assert_int_equal(imsec_hash(c, (imsec_hash_alg)7, abc, 1, out),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_hash_len(IMSEC_HASH_MD5), 16);
  assert_int_equal(imsec_hash_len(IMSEC_HASH_SHA256), 32);
}

/* RFC 2202 §2 test 1 and 2; RFC 4231 §4.2 and §4.3. */
static void hmacs(void **state) {
  imsec_crypto *c = *state;
  uint8_t key[20], out[32];
  memset(key, 0x0b, sizeof(key));
  imsec_iov hi = {"Hi There", 8};
  assert_int_equal(imsec_hmac(c, IMSEC_HASH_MD5, key, 16, &hi, 1, out), 0);
  t_assert_hex(out, 16, "9294727a3638bb1c13f48ef8158bfc9d");
  assert_int_equal(imsec_hmac(c, IMSEC_HASH_SHA256, key, 20, &hi, 1, out), 0);
  t_assert_hex(out, 32,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cf"
               "f7");
  imsec_iov jefe[] = {{"what do ya want ", 16}, {"for nothing?", 12}};
  assert_int_equal(
      imsec_hmac(c, IMSEC_HASH_MD5, (const uint8_t *)"Jefe", 4, jefe, 2, out),
      0);
  t_assert_hex(out, 16, "750c783e6ab0b503eaa86e310a5db738");
  assert_int_equal(imsec_hmac(c, IMSEC_HASH_SHA256, (const uint8_t *)"Jefe", 4,
                              jefe, 2, out),
                   0);
  t_assert_hex(out, 32,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec38"
               "43");
  /* Alternating algorithms on the reused contexts. */
  assert_int_equal(imsec_hmac(c, IMSEC_HASH_MD5, key, 16, &hi, 1, out), 0);
  t_assert_hex(out, 16, "9294727a3638bb1c13f48ef8158bfc9d");
  /* Empty key is legal HMAC. */
  assert_int_equal(imsec_hmac(c, IMSEC_HASH_MD5, NULL, 0, &hi, 1, out), 0);
}

static void randomness(void **state) {
  imsec_crypto *c = *state;
  uint8_t a[32] = {0}, b[32] = {0};
  assert_int_equal(imsec_random(c, a, sizeof(a)), 0);
  assert_int_equal(imsec_random(c, b, sizeof(b)), 0);
  assert_memory_not_equal(a, b, sizeof(a));
  assert_int_equal(imsec_random(c, a, 0), 0);
  assert_int_equal(imsec_random(NULL, a, 1), IMSEC_ERR_INVAL);
}

static void fake_backend(void **state) {
  (void)state;
  crypto_fake *f = NULL;
  assert_int_equal(crypto_fake_new(&f), 0);
  imsec_crypto *c = &f->base;
  const uint8_t script[3] = {0xde, 0xad, 0xbe};
  crypto_fake_script(f, script, sizeof(script));
  uint8_t out[5];
  assert_int_equal(imsec_random(c, out, 5), 0);
  t_assert_hex(out, 5, "deadbe0001");
  /* Real algorithms underneath. */
  imsec_iov abc = {"abc", 3};
  uint8_t md[16];
  assert_int_equal(imsec_hash(c, IMSEC_HASH_MD5, &abc, 1, md), 0);
  t_assert_hex(md, 16, "900150983cd24fb0d6963f7d28e17f72");
  /* Failure injection on the next call. */
  f->fail_at = f->calls + 1;
  f->fail_rv = IMSEC_ERR_CRYPTO;
  assert_int_equal(imsec_hash(c, IMSEC_HASH_MD5, &abc, 1, md),
                   IMSEC_ERR_CRYPTO);
  assert_int_equal(imsec_hash(c, IMSEC_HASH_MD5, &abc, 1, md), 0);
  assert_int_equal(f->n_hash, 2);
  imsec_crypto_del(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(aes128_fips197), cmocka_unit_test(hashes),
      cmocka_unit_test(hmacs),          cmocka_unit_test(randomness),
      cmocka_unit_test(fake_backend),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
