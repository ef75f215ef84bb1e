/* lib/aka/kdf.c: the TS 33.220 Annex B KDF and the M3 PSK profile, checked
 * against values made independently (python hmac in
 * tests/vectors/kdf/m3_psk.txt, and OpenSSL's HMAC called directly). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/crypto.h"
#include "imsec/crypto_ossl.h"
#include "imsec/kdf.h"
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

/* The value of `name` in the vectors file (a line "name value"). */
static const char *vec(const char *text, const char *name, char *buf,
                       size_t cap) {
  size_t n = strlen(name);
  for (const char *l = text; l && *l;
       l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, name, n) == 0 && l[n] == ' ') {
      const char *v = l + n + 1, *e = strchr(v, '\n');
      size_t len = e ? (size_t)(e - v) : strlen(v);
      assert_true(len < cap);
      memcpy(buf, v, len);
      buf[len] = 0;
      return buf;
    }
  }
  fail_msg("no %s in the vectors", name);
  return NULL;
}

static void profile_vectors(void **state) {
  imsec_crypto *c = *state;
  size_t len;
  char *text = t_read_file(t_vector_path("kdf/m3_psk.txt"), &len);
  assert_non_null(text);
  char b[256], impi[128], want_id[64];
  uint8_t ck[16], ik[16], rand[16], key[32];
  t_hex(vec(text, "ck", b, sizeof(b)), ck, 16);
  t_hex(vec(text, "ik", b, sizeof(b)), ik, 16);
  t_hex(vec(text, "rand", b, sizeof(b)), rand, 16);
  vec(text, "impi", impi, sizeof(impi));
  vec(text, "identity", want_id, sizeof(want_id));
  char id[IMSEC_M3_ID_LEN + 1];
  assert_int_equal(imsec_m3_psk_derive(c, ck, ik, imsec_str_c(impi), rand, key,
                                       id, sizeof(id)),
                   0);
  t_assert_hex(key, 32, vec(text, "key", b, sizeof(b)));
  assert_string_equal(id, want_id);
  assert_true(imsec_m3_identity_is_derived(imsec_str_c(id)));
  /* The identity says nothing of the IMPI. */
  assert_null(strstr(id, "001010000000001"));

  /* The generic function on its own. */
  uint8_t k32[32], p0[3], out[32];
  t_hex(vec(text, "kdf_key", b, sizeof(b)), k32, 32);
  t_hex(vec(text, "kdf_p0", b, sizeof(b)), p0, 3);
  imsec_iov ps[2] = {{p0, 3}, {NULL, 0}};
  assert_int_equal(imsec_kdf(c, k32, 32, 0x01, ps, 2, out), 0);
  t_assert_hex(out, 32, vec(text, "kdf_out", b, sizeof(b)));
  free(text);
}

/* Against OpenSSL's HMAC over S built by hand, for inputs of several
 * lengths (a two-octet length above 255 included). */
static void against_openssl(void **state) {
  imsec_crypto *c = *state;
  uint8_t key[32], p0[300], p1[16], got[32], want[32];
  for (size_t i = 0; i < sizeof(key); i++)
    key[i] = (uint8_t)(7 * i + 1);
  for (size_t i = 0; i < sizeof(p0); i++)
    p0[i] = (uint8_t)(i ^ 0x5a);
  for (size_t i = 0; i < sizeof(p1); i++)
    p1[i] = (uint8_t)(0xa0 + i);
  size_t lens[] = {0, 1, 255, 256, 300};
  for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
    uint8_t s[1 + 300 + 2 + 16 + 2];
    size_t n = 0;
    s[n++] = 0xF0;
    memcpy(s + n, p0, lens[t]);
    n += lens[t];
    s[n++] = (uint8_t)(lens[t] >> 8);
    s[n++] = (uint8_t)lens[t];
    memcpy(s + n, p1, 16);
    n += 16;
    s[n++] = 0;
    s[n++] = 16;
    unsigned wl = 0;
    assert_non_null(HMAC(EVP_sha256(), key, 32, s, n, want, &wl));
    assert_int_equal(wl, 32);
    imsec_iov ps[2] = {{p0, lens[t]}, {p1, 16}};
    assert_int_equal(imsec_kdf(c, key, 32, 0xF0, ps, 2, got), 0);
    assert_memory_equal(got, want, 32);
  }
}

static void refusals(void **state) {
  imsec_crypto *c = *state;
  uint8_t key[32] = {0}, out[32], ck[16] = {0}, rand[16] = {0};
  imsec_iov many[IMSEC_KDF_MAX_PARAMS + 1];
  memset(many, 0, sizeof(many));
  assert_int_equal(
      imsec_kdf(c, key, 32, 1, many, IMSEC_KDF_MAX_PARAMS + 1, out),
      IMSEC_ERR_INVAL);
  imsec_iov big = {key, 70000};
  assert_int_equal(imsec_kdf(c, key, 32, 1, &big, 1, out), IMSEC_ERR_INVAL);
  char id[8];
  assert_int_equal(imsec_m3_psk_derive(c, ck, ck, imsec_str_c("a@b"), rand, key,
                                       id, sizeof(id)),
                   IMSEC_ERR_NOBUF);
  char id2[64];
  assert_int_equal(imsec_m3_psk_derive(c, ck, ck, imsec_str_c(""), rand, key,
                                       id2, sizeof(id2)),
                   IMSEC_ERR_INVAL);
  /* Configured identities (an IMPI) are not derived ones. */
  assert_false(imsec_m3_identity_is_derived(imsec_str_c("alice@example.org")));
  assert_false(imsec_m3_identity_is_derived(
      imsec_str_c("imsec-aka-EED8AA76BCC393643D9C309731C93D45")));
  assert_false(
      imsec_m3_identity_is_derived(imsec_str_c("imsec-aka-eed8aa76bcc39364")));
}

/* Another RAND or IMPI gives another key; another RAND another identity. */
static void inputs_matter(void **state) {
  imsec_crypto *c = *state;
  uint8_t ck[16], ik[16], r1[16], r2[16], k1[32], k2[32], k3[32];
  memset(ck, 1, 16);
  memset(ik, 2, 16);
  memset(r1, 3, 16);
  memset(r2, 4, 16);
  char i1[64], i2[64], i3[64];
  assert_int_equal(
      imsec_m3_psk_derive(c, ck, ik, imsec_str_c("a@x"), r1, k1, i1, 64), 0);
  assert_int_equal(
      imsec_m3_psk_derive(c, ck, ik, imsec_str_c("a@x"), r2, k2, i2, 64), 0);
  assert_int_equal(
      imsec_m3_psk_derive(c, ck, ik, imsec_str_c("b@x"), r1, k3, i3, 64), 0);
  assert_memory_not_equal(k1, k2, 32);
  assert_memory_not_equal(k1, k3, 32);
  assert_string_not_equal(i1, i2);
  assert_string_equal(i1, i3); /* the identity depends on RAND only */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(profile_vectors),
      cmocka_unit_test(against_openssl),
      cmocka_unit_test(refusals),
      cmocka_unit_test(inputs_matter),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
