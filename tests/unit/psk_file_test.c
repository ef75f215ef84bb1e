/* conf/psk_file.c: the P-CSCF's configured PSKs as text (imsec_psk_file_parse):
 * entries, comments and blanks; each refusal with its line; keys of 16 to
 * 64 octets only (128 bits at least, include/imsec/psk_file.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/psk_file.h"
#include "test_util.h"

#define K16 "00112233445566778899aabbccddeeff"

static int parse(const char *text, imsec_psk_file *f, char *err, size_t cap) {
  size_t n = strlen(text);
  char *buf = malloc(n + 1);
  assert_non_null(buf);
  memcpy(buf, text, n + 1);
  memset(f, 0, sizeof(*f));
  int rv = imsec_psk_file_parse(buf, n, "t.psk", f, err, cap);
  free(buf);
  return rv;
}

static void entries(void **state) {
  (void)state;
  imsec_psk_file f;
  char err[256];
  assert_int_equal(parse("# PSKs\n\nalice@h " K16 "  # a\n"
                         "\tbob@h " K16 K16 "\r\n",
                         &f, err, sizeof(err)),
                   0);
  assert_int_equal(f.n, 2);
  assert_string_equal(f.e[0].identity, "alice@h");
  assert_int_equal(f.e[0].key_len, 16);
  assert_int_equal(f.e[1].key_len, 32);
  assert_int_equal(f.e[1].key[31], 0xff);
  imsec_psk_file_free(&f);
  assert_null(f.e);
}

static void refusals(void **state) {
  (void)state;
  static const struct {
    const char *text, *why;
  } bad[] = {
      {"a@h zz11\n", "t.psk:1: key is not hex of 16 to 64 octets"},
      /* 15 octets: too short to stand an offline search */
      {"# ok\na@h 00112233445566778899aabbccddee\n",
       "t.psk:2: key is not hex of 16 to 64 octets"},
      {"a@h 00\n", "t.psk:1: key is not hex of 16 to 64 octets"},
      {"a@h " K16 K16 K16 K16 "00\n",
       "t.psk:1: key is not hex of 16 to 64 octets"},
      {"a@h\n", "t.psk:1: no key after the identity"},
      {"a@h " K16 " x\n", "t.psk:1: expected IDENTITY HEXKEY and nothing more"},
      {"a@h " K16 "\na@h " K16 "\n", "t.psk:2: identity given twice"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    imsec_psk_file f;
    char err[256] = "";
    assert_int_equal(parse(bad[i].text, &f, err, sizeof(err)), IMSEC_ERR_PARSE);
    assert_string_equal(err, bad[i].why);
    assert_null(f.e);
    assert_int_equal(f.n, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(entries),
      cmocka_unit_test(refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
