/* lib/base/str.c, cursor.c, secret.c, error.c */
#include <string.h>

#include "test_util.h"

static void errors_have_text(void **state) {
  (void)state;
  for (int e = 0; e >= IMSEC_ERR_MIN; e--) {
    assert_non_null(imsec_strerror(e));
    assert_string_not_equal(imsec_strerror(e), "unknown error");
    assert_true(strncmp(imsec_errname(e), "IMSEC_", 6) == 0);
  }
  assert_string_equal(imsec_strerror(IMSEC_ERR_MIN - 1), "unknown error");
  assert_string_equal(imsec_strerror(5), "unknown error");
  assert_string_equal(imsec_errname(IMSEC_ERR_PARSE), "IMSEC_ERR_PARSE");
}

static void slices(void **state) {
  (void)state;
  imsec_str a = imsec_str_c("Hello");
  assert_true(imsec_str_eq(a, IMSEC_STR_LIT("Hello")));
  assert_false(imsec_str_eq(a, IMSEC_STR_LIT("hello")));
  assert_true(imsec_str_ieq(a, IMSEC_STR_LIT("hELLO")));
  assert_false(imsec_str_ieq(a, IMSEC_STR_LIT("hell")));
  assert_true(imsec_str_istarts_with(a, IMSEC_STR_LIT("he")));
  assert_true(imsec_str_iends_with(a, IMSEC_STR_LIT("LLO")));
  assert_false(imsec_str_iends_with(IMSEC_STR_LIT("lo"), a));
  imsec_str t = imsec_str_trim(IMSEC_STR_LIT(" \t x y \t"));
  assert_true(imsec_str_eq(t, IMSEC_STR_LIT("x y")));
  assert_int_equal(imsec_str_trim(IMSEC_STR_LIT("   ")).len, 0);
  assert_int_equal(imsec_str_find(a, 'l'), 2);
  assert_int_equal(imsec_str_find(a, 'z'), -1);
  assert_int_equal(imsec_str_find(IMSEC_STR_NULL, 'z'), -1);
  assert_true(imsec_str_eq(imsec_str_sub(a, 1, 100), IMSEC_STR_LIT("ello")));
  assert_int_equal(imsec_str_sub(a, 9, 1).len, 0);
  assert_int_equal(imsec_str_c(NULL).len, 0);

  char buf[6];
  assert_int_equal(imsec_str_copy(a, buf, sizeof(buf)), 5);
  assert_string_equal(buf, "Hello");
  assert_int_equal(imsec_str_copy(a, buf, 5), IMSEC_ERR_NOBUF);
  assert_int_equal(imsec_str_copy(a, buf, 0), IMSEC_ERR_NOBUF);
}

static void numbers(void **state) {
  (void)state;
  uint64_t v = 0;
  assert_int_equal(imsec_str_to_u64(IMSEC_STR_LIT("0"), 10, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(
      imsec_str_to_u64(IMSEC_STR_LIT("4294967295"), UINT32_MAX, &v), 0);
  assert_int_equal(v, UINT32_MAX);
  assert_int_equal(
      imsec_str_to_u64(IMSEC_STR_LIT("4294967296"), UINT32_MAX, &v),
      IMSEC_ERR_LIMIT);
  assert_int_equal(
      imsec_str_to_u64(IMSEC_STR_LIT("18446744073709551615"), UINT64_MAX, &v),
      0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(
      imsec_str_to_u64(IMSEC_STR_LIT("18446744073709551616"), UINT64_MAX, &v),
      IMSEC_ERR_LIMIT);
  assert_int_equal(imsec_str_to_u64(IMSEC_STR_LIT(""), 10, &v),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_str_to_u64(IMSEC_STR_LIT("-1"), 10, &v),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_str_to_u64(IMSEC_STR_LIT("1 "), 10, &v),
                   IMSEC_ERR_PARSE);
}

static void cursor(void **state) {
  (void)state;
  const char text[] = "Digest  realm=\"x\"";
  imsec_cursor c;
  /* Bounded: the cursor sees 16 bytes, up to the x, not its quote. */
  imsec_cursor_init(&c, text, 16);
  assert_int_equal(imsec_cursor_left(&c), 16);
  assert_true(imsec_cursor_accept_lit_i(&c, "DIGEST"));
  assert_false(imsec_cursor_accept_lit_i(&c, "x"));
  assert_int_equal(imsec_cursor_skip_ws(&c), 2);
  imsec_str tok = imsec_cursor_span(&c, imsec_is_alpha, 0);
  assert_true(imsec_str_eq(tok, IMSEC_STR_LIT("realm")));
  assert_true(imsec_cursor_accept(&c, '='));
  assert_false(imsec_cursor_accept(&c, 'x'));
  assert_int_equal(imsec_cursor_peek(&c), '"');
  imsec_str v;
  /* The closing quote is past the bound: not found. */
  assert_true(imsec_cursor_accept(&c, '"'));
  assert_int_equal(imsec_cursor_until(&c, '"', &v), IMSEC_ERR_AGAIN);
  assert_int_equal(imsec_cursor_peek(&c), 'x');
  assert_true(imsec_cursor_accept_i(&c, 'X'));
  assert_true(imsec_cursor_eof(&c));
  assert_int_equal(imsec_cursor_peek(&c), -1);
  assert_false(imsec_cursor_accept(&c, '"'));
  assert_int_equal(imsec_cursor_span(&c, imsec_is_alpha, 0).len, 0);
  assert_int_equal(imsec_cursor_rest(&c).len, 0);

  imsec_cursor_init(&c, "aaaa:b", 6);
  assert_int_equal(imsec_cursor_span(&c, imsec_is_alpha, 2).len, 2);
  assert_int_equal(imsec_cursor_until(&c, ':', &v), 0);
  assert_true(imsec_str_eq(v, IMSEC_STR_LIT("aa")));
  assert_int_equal(imsec_cursor_peek(&c), ':');

  imsec_cursor_init(&c, NULL, 0);
  assert_true(imsec_cursor_eof(&c));
  assert_int_equal(imsec_cursor_until(&c, ':', &v), IMSEC_ERR_AGAIN);
}

static void classes(void **state) {
  (void)state;
  assert_true(imsec_is_hexdigit('F'));
  assert_false(imsec_is_hexdigit('g'));
  assert_true(imsec_is_alnum('z'));
  assert_false(imsec_is_alnum('-'));
  assert_false(imsec_is_alpha(0xe9)); /* not locale-dependent */
  assert_int_equal(imsec_to_lower('Q'), 'q');
  assert_int_equal(imsec_to_lower('1'), '1');
}

static void constant_time(void **state) {
  (void)state;
  uint8_t a[16], b[16];
  memset(a, 0x5a, sizeof(a));
  memcpy(b, a, sizeof(b));
  assert_int_equal(imsec_ct_eq(a, b, 16), 1);
  for (size_t i = 0; i < 16; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      assert_int_equal(imsec_ct_eq(a, b, 16), 0);
      b[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_int_equal(imsec_ct_eq(a, b, 0), 1);
  assert_int_equal(imsec_ct_eq_str(IMSEC_STR_LIT("abc"), IMSEC_STR_LIT("abc")),
                   1);
  assert_int_equal(imsec_ct_eq_str(IMSEC_STR_LIT("abc"), IMSEC_STR_LIT("abcd")),
                   0);
  assert_int_equal(imsec_ct_eq_str(IMSEC_STR_LIT("abd"), IMSEC_STR_LIT("abc")),
                   0);
  assert_int_equal(imsec_ct_eq_str(IMSEC_STR_NULL, IMSEC_STR_NULL), 1);
}

static void wipe(void **state) {
  (void)state;
  uint8_t secret[32];
  memset(secret, 0xa5, sizeof(secret));
  imsec_wipe(secret, sizeof(secret));
  for (size_t i = 0; i < sizeof(secret); i++)
    assert_int_equal(secret[i], 0);
  imsec_wipe(NULL, 10); /* harmless */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(errors_have_text),
      cmocka_unit_test(slices),
      cmocka_unit_test(numbers),
      cmocka_unit_test(cursor),
      cmocka_unit_test(classes),
      cmocka_unit_test(constant_time),
      cmocka_unit_test(wipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
