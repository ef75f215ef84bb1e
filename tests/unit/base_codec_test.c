/* lib/base/hex.c and lib/base/base64.c */
#include <string.h>

#include "test_util.h"

static void hex_roundtrip(void **state) {
  (void)state;
  const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
  char out[9];
  assert_int_equal(imsec_hex_encode(in, sizeof(in), out, sizeof(out)), 8);
  assert_string_equal(out, "0001abff");
  uint8_t back[4];
  assert_int_equal(imsec_hex_decode("0001ABff", 8, back, sizeof(back)), 4);
  assert_memory_equal(back, in, 4);
}

static void hex_negative(void **state) {
  (void)state;
  uint8_t out[8];
  assert_int_equal(imsec_hex_decode("abc", 3, out, sizeof(out)),
                   IMSEC_ERR_PARSE); /* odd */
  assert_int_equal(imsec_hex_decode("zz", 2, out, sizeof(out)),
                   IMSEC_ERR_PARSE); /* alphabet */
  assert_int_equal(imsec_hex_decode("0g", 2, out, sizeof(out)),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_hex_decode(" 00", 3, out, sizeof(out)),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_hex_decode("000000000000000000", 18, out, 8),
                   IMSEC_ERR_NOBUF);                              /* overlong */
  assert_int_equal(imsec_hex_decode("", 0, out, sizeof(out)), 0); /* empty */
  char small[4];
  const uint8_t two[2] = {1, 2};
  assert_int_equal(imsec_hex_encode(two, 2, small, sizeof(small)),
                   IMSEC_ERR_NOBUF);
  char one[1];
  assert_int_equal(imsec_hex_encode(two, 0, one, 1), 0);
  assert_string_equal(one, "");
}

/* RFC 4648 §10 test vectors. */
static const char *const b64_vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void base64_rfc4648(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
    const char *plain = b64_vectors[i][0], *enc = b64_vectors[i][1];
    char out[32];
    int n = imsec_base64_encode((const uint8_t *)plain, strlen(plain), out,
                                sizeof(out));
    assert_int_equal(n, (int)strlen(enc));
    assert_string_equal(out, enc);
    uint8_t back[32];
    n = imsec_base64_decode(enc, strlen(enc), back, sizeof(back));
    assert_int_equal(n, (int)strlen(plain));
    assert_memory_equal(back, plain, strlen(plain));
  }
}

static void base64_binary(void **state) {
  (void)state;
  uint8_t all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  char enc[400];
  int n = imsec_base64_encode(all, sizeof(all), enc, sizeof(enc));
  assert_int_equal(n, (int)imsec_base64_encoded_len(256));
  uint8_t back[256];
  assert_int_equal(imsec_base64_decode(enc, (size_t)n, back, sizeof(back)),
                   256);
  assert_memory_equal(back, all, 256);
}

static void base64_negative(void **state) {
  (void)state;
  uint8_t out[16];
  struct {
    const char *in;
    int rv;
    size_t len; /* 0: strlen(in) */
  } cases[] = {
      {"Zg=", IMSEC_ERR_PARSE, 0},      /* length not a multiple of 4 */
      {"Zg", IMSEC_ERR_PARSE, 0},       /* padding missing */
      {"Z===", IMSEC_ERR_PARSE, 0},     /* too much padding */
      {"====", IMSEC_ERR_PARSE, 0},     /* padding only */
      {"Zg==Zg==", IMSEC_ERR_PARSE, 0}, /* padding in the middle */
      {"Zm=v", IMSEC_ERR_PARSE, 0},     /* '=' before data */
      {"Zh==", IMSEC_ERR_PARSE, 0},     /* non-zero pad bits (RFC 4648 §3.5) */
      {"Zm9=", IMSEC_ERR_PARSE, 0},     /* non-zero pad bits */
      {"Zm9v!A==", IMSEC_ERR_PARSE, 0}, /* outside the alphabet */
      {"Zm9-", IMSEC_ERR_PARSE, 0},     /* base64url is not base64 */
      {"Zm 9", IMSEC_ERR_PARSE, 0},     /* whitespace */
      {"Zm9\0", IMSEC_ERR_PARSE, 4},    /* NUL */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
    assert_int_equal(imsec_base64_decode(cases[i].in, len, out, sizeof(out)),
                     cases[i].rv);
  }
  /* Overlong for the output buffer. */
  assert_int_equal(imsec_base64_decode("Zm9vYmFy", 8, out, 5), IMSEC_ERR_NOBUF);
  /* Zero length. */
  assert_int_equal(imsec_base64_decode("", 0, out, 0), 0);
  char small[4];
  assert_int_equal(imsec_base64_encode((const uint8_t *)"f", 1, small, 4),
                   IMSEC_ERR_NOBUF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hex_roundtrip),   cmocka_unit_test(hex_negative),
      cmocka_unit_test(base64_rfc4648),  cmocka_unit_test(base64_binary),
      cmocka_unit_test(base64_negative),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
