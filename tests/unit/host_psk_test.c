/* The net port's PSK table (host/net_psk.c): element keys with expiry,
 * removal and a bound; configured keys replaced wholesale; the element's
 * key found before the configured one; several threads reading while one
 * writes. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "host/net_psk.h"
#include "test_util.h"

static const uint8_t K1[32] = {1, 1, 1, 1};
static const uint8_t K2[16] = {2, 2, 2, 2};
static const uint8_t K3[64] = {3, 3, 3, 3};

static int look(hn_psk_table *t, const char *id, uint8_t *key, int64_t now) {
  return hn_psk_lookup_at(t, (const uint8_t *)id, strlen(id), key, 64, now);
}

static void element_keys(void **state) {
  (void)state;
  hn_psk_table *t = hn_psk_new(3);
  assert_non_null(t);
  uint8_t k[64];
  assert_int_equal(hn_psk_put(t, "a@x", K1, sizeof K1, 0, 100), 0);
  assert_int_equal(hn_psk_put(t, "b@x", K2, sizeof K2, 500, 100), 0);
  assert_int_equal(look(t, "a@x", k, 100), 32);
  assert_memory_equal(k, K1, 32);
  assert_int_equal(look(t, "b@x", k, 499), 16);
  assert_memory_equal(k, K2, 16);
  /* Expired: never found, whether purged yet or not. */
  assert_int_equal(look(t, "b@x", k, 500), IMSEC_ERR_NOTFOUND);
  assert_int_equal(look(t, "nobody", k, 100), IMSEC_ERR_NOTFOUND);
  /* Replaced, then removed. */
  assert_int_equal(hn_psk_put(t, "a@x", K3, sizeof K3, 0, 100), 0);
  assert_int_equal(look(t, "a@x", k, 100), 64);
  assert_memory_equal(k, K3, 64);
  assert_int_equal(hn_psk_put(t, "a@x", NULL, 0, 0, 100), 0);
  assert_int_equal(look(t, "a@x", k, 100), IMSEC_ERR_NOTFOUND);
  /* A key that has already expired is no key. */
  assert_int_equal(hn_psk_put(t, "c@x", K1, sizeof K1, 50, 100), 0);
  assert_int_equal(look(t, "c@x", k, 100), IMSEC_ERR_NOTFOUND);
  /* Too small a buffer, bad identities and sizes. */
  assert_int_equal(hn_psk_put(t, "a@x", K1, sizeof K1, 0, 100), 0);
  assert_int_equal(hn_psk_lookup_at(t, (const uint8_t *)"a@x", 3, k, 16, 100),
                   IMSEC_ERR_NOBUF);
  assert_int_equal(hn_psk_put(t, "", K1, 1, 0, 0), IMSEC_ERR_INVAL);
  assert_int_equal(hn_psk_put(t, "a b", K1, 1, 0, 0), IMSEC_ERR_INVAL);
  assert_int_equal(hn_psk_put(t, "a", K3, 65, 0, 0), IMSEC_ERR_INVAL);
  assert_int_equal(hn_psk_put(t, "a", NULL, 4, 0, 0), IMSEC_ERR_INVAL);
  hn_psk_del(t);
}

/* The bound: a full table refuses a new identity (not a replacement), but
 * first purges what has expired. */
static void bounded(void **state) {
  (void)state;
  hn_psk_table *t = hn_psk_new(3);
  uint8_t k[64];
  assert_int_equal(hn_psk_put(t, "a", K1, 32, 0, 0), 0);
  assert_int_equal(hn_psk_put(t, "b", K1, 32, 1000, 0), 0);
  assert_int_equal(hn_psk_put(t, "c", K1, 32, 0, 0), 0);
  assert_int_equal(hn_psk_put(t, "d", K1, 32, 0, 10), IMSEC_ERR_LIMIT);
  assert_int_equal(look(t, "d", k, 10), IMSEC_ERR_NOTFOUND);
  assert_int_equal(hn_psk_put(t, "a", K2, 16, 0, 10), 0);
  /* "b" expires: its place is taken. */
  assert_int_equal(hn_psk_put(t, "d", K1, 32, 0, 1000), 0);
  assert_int_equal(look(t, "d", k, 1000), 32);
  assert_int_equal(hn_psk_count(t), 3);
  hn_psk_del(t);
}

/* Expired keys go away through later puts, without a full table. */
static void lazy_purge(void **state) {
  (void)state;
  hn_psk_table *t = hn_psk_new(100000);
  char id[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "ue%d", i);
    assert_int_equal(hn_psk_put(t, id, K1, 32, 100, 0), 0);
  }
  assert_int_equal(hn_psk_count(t), 1000);
  for (int i = 0; i < 200; i++) {
    snprintf(id, sizeof id, "later%d", i);
    assert_int_equal(hn_psk_put(t, id, K1, 32, 0, 200), 0);
  }
  assert_int_equal(hn_psk_count(t), 200);
  hn_psk_del(t);
}

static void static_keys(void **state) {
  (void)state;
  hn_psk_table *t = hn_psk_new(10);
  uint8_t k[64];
  imsec_hostnet_psk s1[] = {{"a", K1, 32}, {"b", K2, 16}};
  assert_int_equal(hn_psk_set_static(t, s1, 2), 0);
  assert_int_equal(look(t, "a", k, 0), 32);
  assert_int_equal(look(t, "b", k, 0), 16);
  /* The element's key wins over the configured one; when it goes, the
   * configured one is found again. */
  assert_int_equal(hn_psk_put(t, "a", K3, 64, 50, 0), 0);
  assert_int_equal(look(t, "a", k, 10), 64);
  assert_memory_equal(k, K3, 64);
  assert_int_equal(look(t, "a", k, 60), 32);
  assert_memory_equal(k, K1, 32);
  /* Replaced wholesale: "b" is gone. A bad entry changes nothing. */
  imsec_hostnet_psk s2[] = {{"c", K3, 64}};
  assert_int_equal(hn_psk_set_static(t, s2, 1), 0);
  assert_int_equal(look(t, "b", k, 0), IMSEC_ERR_NOTFOUND);
  assert_int_equal(look(t, "c", k, 0), 64);
  imsec_hostnet_psk bad[] = {{"d", K1, 32}, {"e", K1, 0}};
  assert_int_equal(hn_psk_set_static(t, bad, 2), IMSEC_ERR_INVAL);
  assert_int_equal(look(t, "c", k, 0), 64);
  assert_int_equal(look(t, "d", k, 0), IMSEC_ERR_NOTFOUND);
  assert_int_equal(hn_psk_set_static(t, NULL, 0), 0);
  assert_int_equal(look(t, "c", k, 0), IMSEC_ERR_NOTFOUND);
  hn_psk_del(t);
}

/* Readers on several threads (the loops' handshakes) while one thread
 * installs and removes keys: every read sees a whole key or none. */
typedef struct rd {
  hn_psk_table *t;
  int bad;
} rd;

static void *reader(void *arg) {
  rd *r = arg;
  uint8_t k[64];
  for (int i = 0; i < 20000; i++) {
    int n = look(r->t, "x", k, 0);
    if (n == 32   ? memcmp(k, K1, 32) != 0 /* no secret: test keys */
        : n == 16 ? memcmp(k, K2, 16) != 0 /* no secret: test keys */
                  : n != IMSEC_ERR_NOTFOUND)
      r->bad++;
  }
  return NULL;
}

static void concurrent(void **state) {
  (void)state;
  hn_psk_table *t = hn_psk_new(10);
  rd r[3] = {{t, 0}, {t, 0}, {t, 0}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reader, &r[i]), 0);
  for (int i = 0; i < 20000; i++) {
    int rc = i % 3 == 0   ? hn_psk_put(t, "x", K1, 32, 0, 0)
             : i % 3 == 1 ? hn_psk_put(t, "x", K2, 16, 0, 0)
                          : hn_psk_put(t, "x", NULL, 0, 0, 0);
    assert_int_equal(rc, 0);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(r[i].bad, 0);
  }
  hn_psk_del(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(element_keys), cmocka_unit_test(bounded),
      cmocka_unit_test(lazy_purge),   cmocka_unit_test(static_keys),
      cmocka_unit_test(concurrent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
