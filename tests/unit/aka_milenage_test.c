/* lib/aka/milenage.c and aka.c: every output of every TS 35.208 test set,
 * vectors, AUTS both ways, and the error paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_fake.h"
#include "imsec/aka.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

enum {
  COL_SET,
  COL_K,
  COL_RAND,
  COL_SQN,
  COL_AMF,
  COL_OP,
  COL_OPC,
  COL_F1,
  COL_F1S,
  COL_F2,
  COL_F5,
  COL_F3,
  COL_F4,
  COL_F5S,
  N_COLS
};

typedef struct tset {
  char col[N_COLS][40];
} tset;

/* Read ts35208_sets.tsv (header line, then one set per line). */
static size_t load_sets(tset *sets, size_t max) {
  size_t len = 0;
  char *text = t_read_file(t_vector_path("milenage/ts35208_sets.tsv"), &len);
  size_t n = 0;
  char *save = NULL;
  int header = 1;
  for (char *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (header) {
      header = 0;
      continue;
    }
    assert_true(n < max);
    char *fsave = NULL;
    int c = 0;
    for (char *f = strtok_r(line, "\t\r", &fsave); f;
         f = strtok_r(NULL, "\t\r", &fsave)) {
      assert_true(c < N_COLS);
      assert_true(strlen(f) < sizeof(sets[n].col[c]));
      strcpy(sets[n].col[c++], f);
    }
    assert_int_equal(c, N_COLS);
    n++;
  }
  free(text);
  return n;
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

/* Every set, every output, keyed both with OP and with OPc, through the
 * all-at-once call and through the single-function calls. */
static void ts35208_all_sets(void **state) {
  imsec_crypto *c = *state;
  tset sets[16];
  size_t n = load_sets(sets, 16);
  assert_int_equal(n, 10);
  imsec_milenage *m = NULL;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  for (size_t s = 0; s < n; s++) {
    const tset *t = &sets[s];
    uint8_t k[16], rand[16], sqn[6], amf[2], op[16], opc[16], got_opc[16];
    t_hex(t->col[COL_K], k, 16);
    t_hex(t->col[COL_RAND], rand, 16);
    t_hex(t->col[COL_SQN], sqn, 6);
    t_hex(t->col[COL_AMF], amf, 2);
    t_hex(t->col[COL_OP], op, 16);
    t_hex(t->col[COL_OPC], opc, 16);

    assert_int_equal(imsec_milenage_opc(c, k, op, got_opc), 0);
    t_assert_hex(got_opc, 16, t->col[COL_OPC]);

    for (int keying = 0; keying < 2; keying++) {
      if (keying == 0)
        assert_int_equal(imsec_milenage_set_op(m, k, op), 0);
      else
        assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
      assert_int_equal(imsec_milenage_get_opc(m, got_opc), 0);
      t_assert_hex(got_opc, 16, t->col[COL_OPC]);

      imsec_milenage_out o;
      assert_int_equal(imsec_milenage_compute(m, rand, sqn, amf, &o), 0);
      t_assert_hex(o.mac_a, 8, t->col[COL_F1]);
      t_assert_hex(o.mac_s, 8, t->col[COL_F1S]);
      t_assert_hex(o.res, 8, t->col[COL_F2]);
      t_assert_hex(o.ak, 6, t->col[COL_F5]);
      t_assert_hex(o.ck, 16, t->col[COL_F3]);
      t_assert_hex(o.ik, 16, t->col[COL_F4]);
      t_assert_hex(o.ak_star, 6, t->col[COL_F5S]);

      uint8_t mac_a[8], mac_s[8], res[8], ck[16], ik[16], ak[6], aks[6];
      assert_int_equal(imsec_milenage_f1(m, rand, sqn, amf, mac_a, mac_s), 0);
      t_assert_hex(mac_a, 8, t->col[COL_F1]);
      t_assert_hex(mac_s, 8, t->col[COL_F1S]);
      assert_int_equal(imsec_milenage_f2345(m, rand, res, ck, ik, ak), 0);
      t_assert_hex(res, 8, t->col[COL_F2]);
      t_assert_hex(ck, 16, t->col[COL_F3]);
      t_assert_hex(ik, 16, t->col[COL_F4]);
      t_assert_hex(ak, 6, t->col[COL_F5]);
      assert_int_equal(imsec_milenage_f5star(m, rand, aks), 0);
      t_assert_hex(aks, 6, t->col[COL_F5S]);
      /* Subsets: NULL outputs are skipped. */
      memset(ik, 0, 16);
      assert_int_equal(imsec_milenage_f2345(m, rand, NULL, NULL, ik, NULL), 0);
      t_assert_hex(ik, 16, t->col[COL_F4]);
      assert_int_equal(imsec_milenage_f2345(m, rand, NULL, NULL, NULL, NULL),
                       0);

      /* The vector built from these outputs. */
      imsec_aka_vector v;
      assert_int_equal(imsec_aka_vector_make_rand(m, rand, sqn, amf, &v), 0);
      assert_memory_equal(v.rand, rand, 16);
      assert_int_equal(v.xres_len, 8);
      t_assert_hex(v.xres, 8, t->col[COL_F2]);
      t_assert_hex(v.ck, 16, t->col[COL_F3]);
      t_assert_hex(v.ik, 16, t->col[COL_F4]);
      for (int i = 0; i < 6; i++)
        assert_int_equal(v.autn[i], sqn[i] ^ o.ak[i]);
      assert_memory_equal(v.autn + 6, amf, 2);
      assert_memory_equal(v.autn + 8, o.mac_a, 8);
      imsec_aka_vector_wipe(&v);
      for (size_t i = 0; i < sizeof(v); i++)
        assert_int_equal(((uint8_t *)&v)[i], 0);
    }
  }
  imsec_milenage_del(m);
}

/* AUTS round trip with set 1 keys: make, verify, tamper. */
static void auts_round_trip(void **state) {
  imsec_crypto *c = *state;
  uint8_t k[16], opc[16], rand[16], sqn_ms[6], auts[14], back[6];
  t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);
  t_hex("23553cbe9637a89d218ae64dae47bf35", rand, 16);
  t_hex("ff9bb4d0b607", sqn_ms, 6);
  imsec_milenage *m = NULL;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
  assert_int_equal(imsec_aka_auts_make(m, rand, sqn_ms, auts), 0);
  /* SQN_MS xor AK* and MAC-S = f1*(SQN_MS, RAND, AMF 0000). */
  uint8_t aks[6], mac_s[8];
  static const uint8_t amf0[2] = {0, 0};
  assert_int_equal(imsec_milenage_f5star(m, rand, aks), 0);
  assert_int_equal(imsec_milenage_f1(m, rand, sqn_ms, amf0, NULL, mac_s), 0);
  for (int i = 0; i < 6; i++)
    assert_int_equal(auts[i], sqn_ms[i] ^ aks[i]);
  assert_memory_equal(auts + 6, mac_s, 8);
  /* Recomputed independently (AMF 0000, so not the table's f1*). */
  t_assert_hex(auts, 14, "ba853f3c123ccf44e93596e355c6");
  assert_int_equal(imsec_aka_auts_verify(m, rand, auts, back), 0);
  assert_memory_equal(back, sqn_ms, 6);
  for (int bit = 0; bit < 14 * 8; bit += 7) {
    uint8_t bad[14];
    memcpy(bad, auts, 14);
    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(imsec_aka_auts_verify(m, rand, bad, back), IMSEC_ERR_MAC);
  }
  imsec_milenage_del(m);
}

static void errors(void **state) {
  imsec_crypto *c = *state;
  uint8_t b[16] = {0};
  imsec_milenage_out o;
  imsec_milenage *m = NULL;
  assert_int_equal(imsec_milenage_new(NULL, c), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_milenage_new(&m, NULL), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  /* No key yet. */
  assert_int_equal(imsec_milenage_compute(m, b, b, b, &o), IMSEC_ERR_STATE);
  assert_int_equal(imsec_milenage_get_opc(m, b), IMSEC_ERR_STATE);
  assert_int_equal(imsec_milenage_f5star(m, b, b), IMSEC_ERR_STATE);
  assert_int_equal(imsec_milenage_compute(m, NULL, b, b, &o), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_milenage_set_opc(m, NULL, b), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_milenage_set_op(NULL, b, b), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_aka_vector_make(m, NULL, b, NULL), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_milenage_opc(NULL, b, b, b), IMSEC_ERR_INVAL);
  imsec_milenage_del(m);
  imsec_milenage_del(NULL);
}

/* Backend failures at every step surface as errors, never as output; RAND
 * comes from the RNG callback. */
static void fake_backend(void **state) {
  (void)state;
  crypto_fake *f = NULL;
  assert_int_equal(crypto_fake_new(&f), 0);
  uint8_t k[16], opc[16], sqn[6] = {0, 0, 0, 0, 0, 0x21}, amf[2] = {0x80, 0};
  t_hex("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
  t_hex("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);
  uint8_t script[16];
  for (int i = 0; i < 16; i++)
    script[i] = (uint8_t)(0xa0 + i);
  crypto_fake_script(f, script, 16);
  imsec_milenage *m = NULL;
  assert_int_equal(imsec_milenage_new(&m, &f->base), 0);
  assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
  imsec_aka_vector v;
  unsigned long before = f->n_aes_blocks;
  assert_int_equal(imsec_aka_vector_make(m, sqn, amf, &v), 0);
  assert_memory_equal(v.rand, script, 16);
  /* TEMP + five OUT blocks, in two calls. */
  assert_int_equal(f->n_aes_blocks - before, 6);
  imsec_aka_vector w;
  assert_int_equal(imsec_aka_vector_make_rand(m, script, sqn, amf, &w), 0);
  assert_memory_equal(&v, &w, sizeof(v));

  /* The UE pass: three AES calls (TEMP, OUT2-4, OUT1), five blocks. */
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_sqn_ue st = {0};
  imsec_aka_ue_result r;
  unsigned long calls = f->calls;
  before = f->n_aes_blocks;
  assert_int_equal(imsec_aka_ue_run(m, &st, &cfg, v.rand, v.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_OK);
  assert_int_equal(f->calls - calls, 3);
  assert_int_equal(f->n_aes_blocks - before, 5);
  assert_memory_equal(r.res, v.xres, 8);
  for (unsigned long at = 1; at <= 3; at++) {
    f->calls = 0;
    f->fail_at = at;
    assert_int_equal(imsec_aka_ue_run(m, &st, &cfg, v.rand, v.autn, &r),
                     IMSEC_ERR_CRYPTO);
  }
  f->fail_at = 0;

  for (unsigned long at = 1; at <= 2; at++) {
    f->calls = 0;
    f->fail_at = at;
    assert_int_equal(imsec_aka_vector_make(m, sqn, amf, &v), IMSEC_ERR_CRYPTO);
  }
  f->fail_at = 0;
  imsec_milenage_del(m);
  /* A failing key schedule allocation unwinds. */
  f->calls = 0;
  f->fail_at = 1;
  assert_int_equal(imsec_milenage_new(&m, &f->base), IMSEC_ERR_CRYPTO);
  f->fail_at = 0;
  imsec_crypto_del(&f->base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ts35208_all_sets),
      cmocka_unit_test(auts_round_trip),
      cmocka_unit_test(errors),
      cmocka_unit_test(fake_backend),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
