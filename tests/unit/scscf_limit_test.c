/* lib/scscf/limit: the bounded per-key counters behind the S-CSCF's flood
 * limits: windows roll with the time passed in, the table never holds
 * more than its maximum, the least recently used entry gives way, a
 * locked one never does, and keys are compared whole. */
#include <stdio.h>
#include <string.h>

#include "lib/scscf/limit.h"
#include "test_util.h"

static const uint8_t seed[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                 9, 10, 11, 12, 13, 14, 15, 16};

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

static void windows(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 8, 1000, seed), 0);
  assert_null(imsec_limit_get(&t, S("a"), 0, 0));
  limit_entry *e = imsec_limit_get(&t, S("a"), 100, 1);
  assert_non_null(e);
  e->challenges = 3;
  e->failures = 2;
  e->logged = LIMIT_LOGGED_CHALLENGES;
  assert_int_equal(imsec_limit_left_s(&t, e, 100), 1);
  assert_ptr_equal(imsec_limit_get(&t, S("a"), 1099, 0), e);
  assert_int_equal(e->challenges, 3);
  /* The window passed: the idle entry is gone (expired); asked for again
   * its counts and logged marks start afresh. */
  assert_null(imsec_limit_get(&t, S("a"), 1100, 0));
  e = imsec_limit_get(&t, S("a"), 1100, 1);
  assert_int_equal(e->challenges, 0);
  assert_int_equal(e->failures, 0);
  assert_int_equal(e->logged, 0);
  assert_int_equal(e->win_start, 1100);
  /* A clock that goes back restarts the window too. */
  e->challenges = 1;
  e = imsec_limit_get(&t, S("a"), 50, 0);
  assert_int_equal(e->challenges, 0);
  /* A lock ends by itself. */
  e->locked_until = 500;
  assert_int_equal(imsec_limit_get(&t, S("a"), 499, 0)->locked_until, 500);
  assert_int_equal(imsec_limit_get(&t, S("a"), 500, 0)->locked_until, 0);
  imsec_limit_free(&t);
}

static void bounded(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 4, 60000, seed), 0);
  char k[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(k, sizeof(k), "key%d", i);
    assert_non_null(imsec_limit_get(&t, S(k), i, 1));
    assert_true(t.n <= 4);
  }
  /* The 4 most recent stay. */
  assert_non_null(imsec_limit_get(&t, S("key999"), 1000, 0));
  assert_non_null(imsec_limit_get(&t, S("key996"), 1000, 0));
  assert_null(imsec_limit_get(&t, S("key995"), 1000, 0));
  /* Keys are compared whole: a prefix is another key. */
  assert_null(imsec_limit_get(&t, S("key99"), 1000, 0));
  assert_null(imsec_limit_get(&t, S(""), 1000, 0));
  imsec_limit_free(&t);
}

static void locked_stay(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 2, 60000, seed), 0);
  limit_entry *a = imsec_limit_get(&t, S("a"), 0, 1);
  a->locked_until = 10000;
  assert_non_null(imsec_limit_get(&t, S("b"), 1, 1));
  /* c pushes b out, not the locked a (the least recently used). */
  assert_non_null(imsec_limit_get(&t, S("c"), 2, 1));
  assert_non_null(imsec_limit_get(&t, S("a"), 3, 0));
  assert_null(imsec_limit_get(&t, S("b"), 3, 0));
  /* Every entry locked: no room, NULL (the caller fails closed). */
  imsec_limit_get(&t, S("c"), 4, 0)->locked_until = 10000;
  assert_null(imsec_limit_get(&t, S("d"), 5, 1));
  assert_int_equal(t.n, 2);
  /* Once the locks end there is room again. */
  assert_non_null(imsec_limit_get(&t, S("d"), 10000, 1));
  imsec_limit_free(&t);
}

static void expiry(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 100, 1000, seed), 0);
  char k[32];
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof(k), "key%d", i);
    assert_non_null(imsec_limit_get(&t, S(k), i, 1));
  }
  imsec_limit_get(&t, S("key0"), 10, 0)->locked_until = 100000;
  assert_int_equal(t.n, 10);
  /* The window passed for all: each call frees a few idle ones, never
   * the locked one. */
  for (int i = 0; i < 10; i++)
    imsec_limit_get(&t, S("x"), 5000, 0);
  assert_int_equal(t.n, 1);
  assert_non_null(imsec_limit_get(&t, S("key0"), 5001, 0));
  assert_null(imsec_limit_get(&t, S("key5"), 5001, 0));
  imsec_limit_free(&t);
}

/* Locked entries at the old end of the LRU order never block room for a
 * new key while an unlocked entry exists (9 of them there used to make
 * the table refuse every new key, for everyone, until the locks ended). */
static void locked_at_old_end(void **state) {
  (void)state;
  limit_table t;
  const size_t max = 100;
  assert_int_equal(imsec_limit_init(&t, max, 60000, seed), 0);
  char k[32];
  for (int i = 0; i < 9; i++) {
    snprintf(k, sizeof(k), "locked%d", i);
    imsec_limit_get(&t, S(k), 1000, 1)->locked_until = 301000;
  }
  for (size_t i = 0; i < max - 9; i++) {
    snprintf(k, sizeof(k), "other%zu", i);
    assert_non_null(imsec_limit_get(&t, S(k), 1000, 1));
  }
  assert_int_equal(t.n, max);
  for (int i = 0; i < 50; i++) {
    snprintf(k, sizeof(k), "new%d", i);
    assert_non_null(imsec_limit_get(&t, S(k), 1001 + i, 1));
    assert_true(t.n <= max);
  }
  /* the locks stay */
  for (int i = 0; i < 9; i++) {
    snprintf(k, sizeof(k), "locked%d", i);
    limit_entry *e = imsec_limit_get(&t, S(k), 2000, 0);
    assert_non_null(e);
    assert_int_equal(e->locked_until, 301000);
  }
  /* all but one locked: the last unlocked one gives way each time */
  imsec_limit_free(&t);
  assert_int_equal(imsec_limit_init(&t, 4, 60000, seed), 0);
  for (int i = 0; i < 3; i++) {
    snprintf(k, sizeof(k), "l%d", i);
    imsec_limit_get(&t, S(k), 0, 1)->locked_until = 100000;
  }
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof(k), "u%d", i);
    assert_non_null(imsec_limit_get(&t, S(k), 1 + i, 1));
  }
  assert_int_equal(t.n, 4);
  /* every one locked: NULL; a lock ends: room again */
  imsec_limit_get(&t, S("u9"), 20, 0)->locked_until = 100000;
  assert_null(imsec_limit_get(&t, S("v"), 21, 1));
  assert_non_null(imsec_limit_get(&t, S("v"), 100000, 1));
  assert_true(t.n <= 4);
  imsec_limit_free(&t);
}

/* Expiry does not stop at a locked entry at the old end. */
static void expiry_past_locked(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 100, 1000, seed), 0);
  char k[32];
  imsec_limit_get(&t, S("locked"), 0, 1)->locked_until = 100000;
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof(k), "key%d", i);
    assert_non_null(imsec_limit_get(&t, S(k), i + 1, 1));
  }
  assert_int_equal(t.n, 11);
  for (int i = 0; i < 10; i++)
    imsec_limit_get(&t, S("x"), 5000, 0);
  assert_int_equal(t.n, 1);
  assert_non_null(imsec_limit_get(&t, S("locked"), 5001, 0));
  /* once its lock is over and its window too, it expires as well */
  for (int i = 0; i < 4; i++)
    imsec_limit_get(&t, S("x"), 200000 + i, 0);
  assert_int_equal(t.n, 0);
  imsec_limit_free(&t);
}

static void bad_args(void **state) {
  (void)state;
  limit_table t;
  assert_int_equal(imsec_limit_init(&t, 0, 1000, seed), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_limit_init(&t, 4, 0, seed), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_limit_init(NULL, 4, 1000, seed), IMSEC_ERR_INVAL);
  memset(&t, 0, sizeof(t));
  assert_null(imsec_limit_get(&t, S("a"), 0, 1));
  imsec_limit_free(&t);
  imsec_limit_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(windows),           cmocka_unit_test(bounded),
      cmocka_unit_test(locked_stay),       cmocka_unit_test(expiry),
      cmocka_unit_test(locked_at_old_end), cmocka_unit_test(expiry_past_locked),
      cmocka_unit_test(bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
