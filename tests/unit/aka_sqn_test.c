/* lib/aka/sqn.c: TS 33.102 Annex C at the UE (array, delta, L) and at the
 * HE (generation, resynchronisation), and the UE run over HE vectors. */
#include <string.h>

#include "imsec/aka.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

#define SQN(seq, ind) (((uint64_t)(seq) << 5) | (ind))

static void cfg_defaults(void **state) {
  (void)state;
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  assert_int_equal(cfg.ind_bits, 5);
  assert_true(cfg.delta == (UINT64_C(1) << 28));
  assert_true(cfg.limit_l == 32);
  assert_int_equal(imsec_sqn_cfg_check(&cfg), 0);
  cfg.ind_bits = 6;
  assert_int_equal(imsec_sqn_cfg_check(&cfg), IMSEC_ERR_CONFIG);
  cfg = imsec_sqn_cfg_default();
  cfg.delta = 0;
  assert_int_equal(imsec_sqn_cfg_check(&cfg), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_sqn_cfg_check(NULL), IMSEC_ERR_INVAL);

  uint8_t b[6];
  imsec_sqn_from_u64(0xff9bb4d0b607ull, b);
  t_assert_hex(b, 6, "ff9bb4d0b607");
  assert_true(imsec_sqn_to_u64(b) == 0xff9bb4d0b607ull);
}

static void ue_array(void **state) {
  (void)state;
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_ue st = {0};
  assert_true(imsec_sqn_ue_highest(&st, &cfg) == 0);
  /* C.2.2: SEQ > SEQ_MS(IND) is fresh, then recorded. */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(1, 0)), 0);
  assert_int_equal(imsec_sqn_ue_accept(&st, &cfg, SQN(1, 0)), 0);
  /* Replay. */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(1, 0)), IMSEC_ERR_SYNC);
  /* Same SEQ, another slot: fresh (vectors used by another VLR/S-CSCF). */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(1, 1)), 0);
  assert_int_equal(imsec_sqn_ue_accept(&st, &cfg, SQN(1, 1)), 0);
  /* Out of order across slots. */
  assert_int_equal(imsec_sqn_ue_accept(&st, &cfg, SQN(3, 2)), 0);
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(2, 4)), 0);
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(2, 2)), IMSEC_ERR_SYNC);
  assert_true(imsec_sqn_ue_highest(&st, &cfg) == SQN(3, 2));
  /* Bad arguments. */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, IMSEC_SQN_MAX + 1),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_sqn_ue_check(NULL, &cfg, 0), IMSEC_ERR_INVAL);
}

static void ue_limits(void **state) {
  (void)state;
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_ue st = {0};
  assert_int_equal(imsec_sqn_ue_accept(&st, &cfg, SQN(100, 0)), 0);
  /* C.2.2 L: SEQ_MS - SEQ < L. */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(68, 5)), IMSEC_ERR_SYNC);
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(69, 5)), 0);
  cfg.limit_l = 0; /* not applied */
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(1, 5)), 0);
  cfg = imsec_sqn_cfg_default();
  /* C.2.1 delta: SEQ - SEQ_MS <= delta. */
  uint64_t d = cfg.delta;
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(100 + d, 0)), 0);
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(100 + d + 1, 0)),
                   IMSEC_ERR_SYNC);
  cfg.delta = 10;
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(110, 3)), 0);
  assert_int_equal(imsec_sqn_ue_check(&st, &cfg, SQN(111, 3)), IMSEC_ERR_SYNC);
  /* A smaller IND: the array shrinks to 2^ind_bits slots. */
  imsec_sqn_cfg c2 = {.ind_bits = 0, .delta = 1000, .limit_l = 0};
  imsec_sqn_ue s2 = {0};
  assert_int_equal(imsec_sqn_ue_accept(&s2, &c2, 7), 0);
  assert_int_equal(imsec_sqn_ue_check(&s2, &c2, 7), IMSEC_ERR_SYNC);
  assert_int_equal(imsec_sqn_ue_check(&s2, &c2, 8), 0);
  assert_true(imsec_sqn_ue_highest(&s2, &c2) == 7);
}

static void he_generation(void **state) {
  (void)state;
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_he he = {0};
  uint8_t sqn[6];
  for (unsigned i = 0; i < 70; i++) {
    assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), 0);
    /* SEQ increments per vector; IND cycles. */
    assert_true(imsec_sqn_to_u64(sqn) == SQN(i + 1, i % 32));
  }
  assert_true(he.seq == 70);
  assert_int_equal(he.ind_next, 70 % 32);
  he.seq = IMSEC_SQN_MAX >> 5;
  assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), IMSEC_ERR_LIMIT);
  he.seq = 1;
  he.ind_next = 32;
  assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), IMSEC_ERR_INVAL);
}

static imsec_milenage *keyed(imsec_crypto *c) {
  uint8_t k[16], opc[16];
  t_hex("fec86ba6eb707ed08905757b1bb44b8f", k, 16);
  t_hex("1006020f0a478bf6b699f15c062e42b3", opc, 16);
  imsec_milenage *m = NULL;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
  return m;
}

/* Vectors from the HE used out of order (as several S-CSCFs would), each
 * accepted once; replays give AUTS carrying the highest SQN. */
static void ue_over_he_vectors(void **state) {
  imsec_crypto *c = *state;
  imsec_milenage *m = keyed(c);
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_he he = {0};
  imsec_sqn_ue ue = {0};
  const uint8_t amf[2] = {0x80, 0x00};
  imsec_aka_vector v[8];
  for (int i = 0; i < 8; i++) {
    uint8_t sqn[6];
    assert_int_equal(imsec_sqn_he_next(&he, &cfg, sqn), 0);
    assert_int_equal(imsec_aka_vector_make(m, sqn, amf, &v[i]), 0);
  }
  static const int order[8] = {3, 0, 7, 1, 2, 6, 5, 4};
  imsec_aka_ue_result r;
  for (int i = 0; i < 8; i++) {
    const imsec_aka_vector *x = &v[order[i]];
    assert_int_equal(imsec_aka_ue_run(m, &ue, &cfg, x->rand, x->autn, &r), 0);
    assert_int_equal(r.status, IMSEC_AKA_UE_OK);
    assert_memory_equal(r.res, x->xres, 8);
  }
  assert_true(imsec_sqn_ue_highest(&ue, &cfg) == SQN(8, 7));
  for (int i = 0; i < 8; i++) {
    imsec_sqn_ue before = ue;
    assert_int_equal(imsec_aka_ue_run(m, &ue, &cfg, v[i].rand, v[i].autn, &r),
                     0);
    assert_int_equal(r.status, IMSEC_AKA_UE_SYNC_FAIL);
    assert_memory_equal(&before, &ue, sizeof(ue));
    uint8_t sqn_ms[6];
    assert_int_equal(imsec_aka_auts_verify(m, v[i].rand, r.auts, sqn_ms), 0);
    assert_true(imsec_sqn_to_u64(sqn_ms) == SQN(8, 7));
  }
  imsec_aka_ue_result_wipe(&r);
  for (size_t i = 0; i < sizeof(r); i++)
    assert_int_equal(((uint8_t *)&r)[i], 0);
  imsec_milenage_del(m);
}

static void he_resync(void **state) {
  imsec_crypto *c = *state;
  imsec_milenage *m = keyed(c);
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  uint8_t rand[16], sqn_ms[6], auts[14], got[6];
  memset(rand, 0x5a, 16);
  imsec_sqn_from_u64(SQN(500, 9), sqn_ms);
  assert_int_equal(imsec_aka_auts_make(m, rand, sqn_ms, auts), 0);

  /* SQN_HE behind SQN_MS: reset to SEQ_MS. */
  imsec_sqn_he he = {.seq = 3, .ind_next = 4};
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, m, rand, auts, got), 0);
  assert_memory_equal(got, sqn_ms, 6);
  assert_true(he.seq == 500);
  assert_int_equal(he.ind_next, 4);
  /* SQN_HE ahead but within delta: kept. */
  he.seq = 700;
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, m, rand, auts, NULL), 0);
  assert_true(he.seq == 700);
  /* SQN_HE ahead by more than delta: reset. */
  he.seq = 500 + cfg.delta;
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, m, rand, auts, NULL), 0);
  assert_true(he.seq == 500);
  /* MAC-S wrong: IMSEC_ERR_MAC and no change. */
  he.seq = 3;
  auts[13] ^= 1;
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, m, rand, auts, got),
                   IMSEC_ERR_MAC);
  assert_true(he.seq == 3);
  auts[13] ^= 1;
  rand[0] ^= 1; /* AUTS of another RAND */
  assert_int_equal(imsec_sqn_he_resync(&he, &cfg, m, rand, auts, got),
                   IMSEC_ERR_MAC);
  assert_int_equal(imsec_sqn_he_resync(NULL, &cfg, m, rand, auts, got),
                   IMSEC_ERR_INVAL);
  imsec_milenage_del(m);
}

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cfg_defaults),       cmocka_unit_test(ue_array),
      cmocka_unit_test(ue_limits),          cmocka_unit_test(he_generation),
      cmocka_unit_test(ue_over_he_vectors), cmocka_unit_test(he_resync),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
