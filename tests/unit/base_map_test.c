/* lib/base/map.c: the hash map and its SipHash-2-4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/map.h"
#include "test_util.h"

static const uint8_t seq_key[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                    8, 9, 10, 11, 12, 13, 14, 15};

/* The reference vectors of the SipHash paper (key 00..0f, message
 * 00..len-1). */
static void siphash_vectors(void **state) {
  (void)state;
  uint8_t msg[64];
  for (unsigned i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)i;
  assert_true(imsec_siphash24(seq_key, msg, 0) == 0x726fdb47dd0e0e31ULL);
  assert_true(imsec_siphash24(seq_key, msg, 15) == 0xa129ca6149be45e5ULL);
}

static void int_keys(void **state) {
  (void)state;
  imsec_map m;
  imsec_map_init_u64(&m);
  assert_null(imsec_map_get(&m, 7));
  assert_null(imsec_map_del(&m, 7));
  static int vals[5000];
  for (uint64_t i = 1; i <= 5000; i++)
    assert_int_equal(imsec_map_put(&m, i * 4096, &vals[i - 1], NULL), 0);
  assert_int_equal(imsec_map_len(&m), 5000);
  for (uint64_t i = 1; i <= 5000; i++)
    assert_ptr_equal(imsec_map_get(&m, i * 4096), &vals[i - 1]);
  /* Replacing returns the old value and keeps the count. */
  void *old = NULL;
  int x = 0;
  assert_int_equal(imsec_map_put(&m, 4096, &x, &old), 0);
  assert_ptr_equal(old, &vals[0]);
  assert_int_equal(imsec_map_len(&m), 5000);
  /* Delete every other one; the rest stay reachable (backward shift). */
  for (uint64_t i = 2; i <= 5000; i += 2)
    assert_ptr_equal(imsec_map_del(&m, i * 4096), &vals[i - 1]);
  assert_int_equal(imsec_map_len(&m), 2500);
  for (uint64_t i = 3; i <= 5000; i += 2)
    assert_ptr_equal(imsec_map_get(&m, i * 4096), &vals[i - 1]);
  for (uint64_t i = 2; i <= 5000; i += 2)
    assert_null(imsec_map_get(&m, i * 4096));
  imsec_map_free(&m);
}

static void str_keys(void **state) {
  (void)state;
  imsec_map m;
  imsec_map_init_str(&m, seq_key);
  char k[64];
  static int vals[3000];
  for (int i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "user%d@ims.mnc001.mcc001.3gppnetwork.org", i);
    assert_int_equal(imsec_map_sput(&m, imsec_str_c(k), &vals[i], NULL), 0);
  }
  assert_int_equal(imsec_map_len(&m), 3000);
  for (int i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "user%d@ims.mnc001.mcc001.3gppnetwork.org", i);
    assert_ptr_equal(imsec_map_sget(&m, imsec_str_c(k)), &vals[i]);
  }
  /* Keys are exact: a prefix or another case is another key. */
  assert_null(imsec_map_sget(&m, imsec_str_c("user1")));
  assert_null(imsec_map_sget(
      &m, imsec_str_c("USER1@ims.mnc001.mcc001.3gppnetwork.org")));
  /* The empty key is a key. */
  assert_int_equal(imsec_map_sput(&m, IMSEC_STR_NULL, &vals[0], NULL), 0);
  assert_ptr_equal(imsec_map_sget(&m, IMSEC_STR_LIT("")), &vals[0]);
  assert_ptr_equal(imsec_map_sdel(&m, IMSEC_STR_LIT("")), &vals[0]);
  /* An integer call on a string map is refused. */
  assert_int_equal(imsec_map_put(&m, 1, NULL, NULL), IMSEC_ERR_INVAL);
  imsec_map_free(&m);
}

/* Deleting while walking (how tables expire entries) visits every entry
 * at least once and leaves exactly the survivors. */
static void walk_and_delete(void **state) {
  (void)state;
  imsec_map m;
  imsec_map_init_u64(&m);
  static int vals[1000];
  for (uint64_t i = 0; i < 1000; i++)
    assert_int_equal(imsec_map_put(&m, i + 1, &vals[i], NULL), 0);
  int seen[1000] = {0};
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&m, &it)) != NULL) {
    uint64_t key = s->ikey;
    seen[key - 1] = 1;
    if (key % 3 == 0)
      assert_ptr_equal(imsec_map_del_at(&m, &it), &vals[key - 1]);
  }
  for (int i = 0; i < 1000; i++)
    assert_true(seen[i]);
  assert_int_equal(imsec_map_len(&m), 1000 - 333);
  for (uint64_t i = 1; i <= 1000; i++) {
    if (i % 3 == 0)
      assert_null(imsec_map_get(&m, i));
    else
      assert_ptr_equal(imsec_map_get(&m, i), &vals[i - 1]);
  }
  imsec_map_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(siphash_vectors),
      cmocka_unit_test(int_keys),
      cmocka_unit_test(str_keys),
      cmocka_unit_test(walk_and_delete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
