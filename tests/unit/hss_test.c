/* lib/hss: vectors with strictly increasing, durable SQNs; resync from
 * AUTS; AKAv2 records; SIP Digest subscribers (H(A1) per algorithm and
 * username form, no AKA for them, password change); the memory store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/hss.h"
#include "imsec/ident.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

/* TS 35.208 test set 1. */
#define K1 "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OP1 "cdc202d5123e20f62b6d676ac72cb318"
#define OPC1 "cd63cb71954a9f4e48a5994e37a02baf"

typedef struct fx {
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
} fx;

static void mk_sub(imsec_hss_sub *s, const char *impi, const char *impu,
                   imsec_hss_aka aka, int opc) {
  memset(s, 0, sizeof(*s));
  strcpy(s->impi, impi);
  strcpy(s->impus[0], impu);
  s->n_impus = 1;
  t_hex(K1, s->k, 16);
  t_hex(opc ? OPC1 : OP1, s->op, 16);
  s->op_is_opc = opc;
  s->amf[0] = 0x80;
  s->aka = aka;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  if (!f || imsec_crypto_ossl_new(&f->c) || imsec_hss_mem_new(&f->st) ||
      imsec_hss_new(&f->h, f->st, f->c, NULL))
    return -1;
  imsec_hss_sub s;
  mk_sub(&s, "alice@ims.example.org", "sip:alice@ims.example.org",
         IMSEC_HSS_AKAV1, 0);
  strcpy(s.impus[1], "tel:+15551234");
  s.n_impus = 2;
  if (f->st->vt->add(f->st, &s))
    return -1;
  mk_sub(&s, "bob@ims.example.org", "sip:bob@ims.example.org", IMSEC_HSS_AKAV2,
         1);
  if (f->st->vt->add(f->st, &s))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_hss_del(f->h);
  imsec_hss_store_del(f->st);
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

/* The SQN inside AUTN (no AK... so run the UE side to get it). */
static uint64_t ue_sqn(imsec_crypto *c, const imsec_aka_vector *v, int opc) {
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  uint8_t k[16], op[16];
  t_hex(K1, k, 16);
  t_hex(opc ? OPC1 : OP1, op, 16);
  assert_int_equal(opc ? imsec_milenage_set_opc(m, k, op)
                       : imsec_milenage_set_op(m, k, op),
                   0);
  uint8_t ak[6];
  assert_int_equal(imsec_milenage_f2345(m, v->rand, NULL, NULL, NULL, ak), 0);
  uint8_t sqn[6];
  for (int i = 0; i < 6; i++)
    sqn[i] = v->autn[i] ^ ak[i];
  imsec_milenage_del(m);
  return imsec_sqn_to_u64(sqn);
}

/* The SEQ the store holds for `impi` (the durable mark). */
static uint64_t stored_seq(fx *f, const char *impi) {
  imsec_hss_sub sub;
  assert_int_equal(f->st->vt->load(f->st, S(impi), &sub), 0);
  uint64_t seq = sub.sqn.seq;
  imsec_hss_sub_wipe(&sub);
  return seq;
}

static uint64_t vec_sqn(fx *f, imsec_hss *h, const char *impi, int opc) {
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(impi), &v, NULL), 0);
  uint64_t sqn = ue_sqn(f->c, &v, opc);
  imsec_aka_vector_wipe(&v);
  return sqn;
}

/* With a range of 32 SEQ steps: the first vector, and every 32nd after
 * it, moves the durable mark; the mark always covers what came out. */
static void sqn_strictly_increasing(void **state) {
  fx *f = *state;
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 32, 0), 0);
  uint64_t last = 0;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  for (int i = 0; i < 80; i++) {
    imsec_aka_vector v;
    imsec_hss_aka aka = 0;
    assert_int_equal(
        imsec_hss_vector(f->h, S("alice@ims.example.org"), &v, &aka), 0);
    assert_int_equal(aka, IMSEC_HSS_AKAV1);
    uint64_t sqn = ue_sqn(f->c, &v, 0);
    /* SEQ strictly increases; IND cycles (Annex C). */
    assert_true((sqn >> 5) > (last >> 5));
    assert_int_equal(sqn & 31, (uint64_t)i % 32);
    last = sqn;
    /* A mark at or above it was saved before the vector came out. */
    assert_int_equal(imsec_hss_mem_saves(f->st),
                     saves + (unsigned long)i / 32 + 1);
    assert_true(stored_seq(f, "alice@ims.example.org") >= sqn >> 5);
    assert_true(stored_seq(f, "alice@ims.example.org") < (sqn >> 5) + 32);
    imsec_aka_vector_wipe(&v);
  }
  assert_int_equal(imsec_hss_sqn_cursors(f->h), 1);
}

/* Range 1 (the default): every vector is its own durable write, the
 * stored SEQ the last one handed out. */
static void sqn_range_one(void **state) {
  fx *f = *state;
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 0, 0), IMSEC_ERR_INVAL);
  unsigned long saves = imsec_hss_mem_saves(f->st);
  for (int i = 0; i < 40; i++) {
    uint64_t sqn = vec_sqn(f, f->h, "alice@ims.example.org", 0);
    assert_int_equal(imsec_hss_mem_saves(f->st), saves + (unsigned long)i + 1);
    assert_int_equal(stored_seq(f, "alice@ims.example.org"), sqn >> 5);
  }
  assert_int_equal(imsec_hss_sqn_cursors(f->h), 0);
}

/* N vectors cost about N / range writes. */
static void sqn_range_saves(void **state) {
  fx *f = *state;
  static const uint32_t ranges[] = {2, 8, 32, 100};
  for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
    assert_int_equal(imsec_hss_set_sqn_range(f->h, ranges[r], 0), 0);
    unsigned long saves = imsec_hss_mem_saves(f->st);
    for (int i = 0; i < 1000; i++)
      (void)vec_sqn(f, f->h, "bob@ims.example.org", 1);
    assert_int_equal(imsec_hss_mem_saves(f->st) - saves,
                     (1000 + ranges[r] - 1) / ranges[r]);
  }
}

/* TS 33.102 C.3: a crash never reuses an SQN. The HSS is dropped without
 * any flush after k vectors (inside a range, at its end, past it), a new
 * one is made on the same store: each of its SQNs is above every SQN
 * handed out before. */
static void sqn_no_reuse_after_crash(void **state) {
  fx *f = *state;
  static const int runs[] = {1, 5, 31, 32, 33, 64, 70, 2, 0, 3};
  uint64_t highest = 0;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  int total = 0;
  for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
    imsec_hss *h;
    assert_int_equal(imsec_hss_new(&h, f->st, f->c, NULL), 0);
    assert_int_equal(imsec_hss_set_sqn_range(h, 32, 0), 0);
    for (int i = 0; i < runs[r]; i++) {
      uint64_t sqn = vec_sqn(f, h, "alice@ims.example.org", 0);
      assert_true(sqn > highest);
      assert_true((sqn >> 5) > (highest >> 5));
      highest = sqn;
      total++;
    }
    imsec_hss_del(h); /* the "crash": the cursor is gone, nothing saved */
  }
  /* Each run paid at most its own ranges, never one per vector. */
  assert_true(imsec_hss_mem_saves(f->st) - saves <=
              1 + 9 + (unsigned)total / 32);
}

/* Two HSSs on one store (a second process): each drops its cursor when
 * the other moved the mark, so their SQNs never collide. */
static void sqn_two_writers(void **state) {
  fx *f = *state;
  imsec_hss *h2;
  assert_int_equal(imsec_hss_new(&h2, f->st, f->c, NULL), 0);
  assert_int_equal(imsec_hss_set_sqn_range(h2, 32, 0), 0);
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 32, 0), 0);
  uint64_t seen[60];
  for (int i = 0; i < 60; i++) {
    imsec_hss *h = (i % 3 == 0) ? h2 : f->h;
    seen[i] = vec_sqn(f, h, "alice@ims.example.org", 0);
    for (int j = 0; j < i; j++)
      assert_true(seen[j] >> 5 != seen[i] >> 5);
    assert_true(stored_seq(f, "alice@ims.example.org") >= seen[i] >> 5);
  }
  imsec_hss_del(h2);
}

/* At most max_cursors IMPIs in memory; a forgotten one reserves anew
 * above its mark, so SQNs still only go up. */
static void sqn_cursor_eviction(void **state) {
  fx *f = *state;
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 16, 1), 0);
  uint64_t last_a = 0, last_b = 0;
  unsigned long saves = imsec_hss_mem_saves(f->st);
  for (int i = 0; i < 20; i++) {
    uint64_t a = vec_sqn(f, f->h, "alice@ims.example.org", 0);
    assert_true(imsec_hss_sqn_cursors(f->h) <= 1);
    uint64_t b = vec_sqn(f, f->h, "bob@ims.example.org", 1);
    assert_true(imsec_hss_sqn_cursors(f->h) <= 1);
    assert_true(a >> 5 > last_a >> 5);
    assert_true(b >> 5 > last_b >> 5);
    last_a = a;
    last_b = b;
  }
  /* Each alternation evicted the other: one write per vector. */
  assert_int_equal(imsec_hss_mem_saves(f->st) - saves, 40);
  /* Two cursors fit: back to one write per range. */
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 16, 2), 0);
  saves = imsec_hss_mem_saves(f->st);
  for (int i = 0; i < 16; i++) {
    (void)vec_sqn(f, f->h, "alice@ims.example.org", 0);
    (void)vec_sqn(f, f->h, "bob@ims.example.org", 1);
  }
  assert_int_equal(imsec_hss_sqn_cursors(f->h), 2);
  assert_int_equal(imsec_hss_mem_saves(f->st) - saves, 2);
}

/* A resync where SQN_HE is kept (the UE is a little behind, §6.3.5): the
 * mark comes down to the cursor's SEQ, durably, before the next vector;
 * that one reserves a new range and is above everything handed out. */
static void sqn_resync_keeps_cursor_state(void **state) {
  fx *f = *state;
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 32, 0), 0);
  uint64_t s[3];
  for (int i = 0; i < 3; i++)
    s[i] = vec_sqn(f, f->h, "alice@ims.example.org", 0);
  assert_int_equal(stored_seq(f, "alice@ims.example.org"), (s[0] >> 5) + 31);
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, f->c), 0);
  uint8_t k[16], op[16], rand[16] = {1, 2, 3}, sqn_ms[6], auts[14];
  t_hex(K1, k, 16);
  t_hex(OP1, op, 16);
  assert_int_equal(imsec_milenage_set_op(m, k, op), 0);
  imsec_sqn_from_u64(s[1], sqn_ms);
  assert_int_equal(imsec_aka_auts_make(m, rand, sqn_ms, auts), 0);
  unsigned long saves = imsec_hss_mem_saves(f->st);
  assert_int_equal(
      imsec_hss_resync(f->h, S("alice@ims.example.org"), rand, auts), 0);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  assert_int_equal(stored_seq(f, "alice@ims.example.org"), s[2] >> 5);
  uint64_t next = vec_sqn(f, f->h, "alice@ims.example.org", 0);
  assert_int_equal(next >> 5, (s[2] >> 5) + 1);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 2);
  assert_int_equal(stored_seq(f, "alice@ims.example.org"), (s[2] >> 5) + 32);
  /* A crash now: the next HSS is above `next`. */
  imsec_hss *h2;
  assert_int_equal(imsec_hss_new(&h2, f->st, f->c, NULL), 0);
  assert_int_equal(imsec_hss_set_sqn_range(h2, 32, 0), 0);
  assert_true(vec_sqn(f, h2, "alice@ims.example.org", 0) > next);
  imsec_hss_del(h2);
  imsec_milenage_del(m);
}

static void lookup_no_secrets(void **state) {
  fx *f = *state;
  imsec_hss_sub sub;
  assert_int_equal(imsec_hss_lookup(f->h, S("alice@ims.example.org"), &sub), 0);
  uint8_t zero[16] = {0};
  assert_memory_equal(sub.k, zero, 16);
  assert_memory_equal(sub.op, zero, 16);
  assert_int_equal(sub.n_impus, 2);
  assert_int_equal(imsec_hss_lookup_impu(f->h, S("tel:+15551234"), &sub), 0);
  assert_string_equal(sub.impi, "alice@ims.example.org");
  assert_int_equal(imsec_hss_lookup(f->h, S("nobody"), &sub),
                   IMSEC_ERR_NOTFOUND);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(f->h, S("nobody"), &v, NULL),
                   IMSEC_ERR_NOTFOUND);
}

static void akav2_record(void **state) {
  fx *f = *state;
  imsec_aka_vector v;
  imsec_hss_aka aka = 0;
  assert_int_equal(imsec_hss_vector(f->h, S("bob@ims.example.org"), &v, &aka),
                   0);
  assert_int_equal(aka, IMSEC_HSS_AKAV2);
  /* The UE accepts it with OPc keying (the record stores OPc). */
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, f->c), 0);
  uint8_t k[16], opc[16];
  t_hex(K1, k, 16);
  t_hex(OPC1, opc, 16);
  assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
  imsec_sqn_ue st = {0};
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  imsec_aka_ue_result r;
  assert_int_equal(imsec_aka_ue_run(m, &st, &cfg, v.rand, v.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_OK);
  assert_memory_equal(r.res, v.xres, 8);
  imsec_milenage_del(m);
  imsec_aka_vector_wipe(&v);
}

static void resync(void **state) {
  fx *f = *state;
  /* With a range: the cursor the first vector leaves must not outlive
   * the resync. */
  assert_int_equal(imsec_hss_set_sqn_range(f->h, 32, 0), 0);
  /* The UE is far ahead (e.g. used with another network). */
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, f->c), 0);
  uint8_t k[16], op[16];
  t_hex(K1, k, 16);
  t_hex(OP1, op, 16);
  assert_int_equal(imsec_milenage_set_op(m, k, op), 0);
  imsec_sqn_ue st = {0};
  imsec_sqn_cfg cfg = imsec_sqn_cfg_default();
  uint64_t ahead = (UINT64_C(5000) << 5) | 3;
  assert_int_equal(imsec_sqn_ue_accept(&st, &cfg, ahead), 0);

  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(f->h, S("alice@ims.example.org"), &v, NULL),
                   0);
  imsec_aka_ue_result r;
  assert_int_equal(imsec_aka_ue_run(m, &st, &cfg, v.rand, v.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_SYNC_FAIL);

  /* A wrong MAC-S changes nothing. */
  uint8_t bad[14];
  memcpy(bad, r.auts, 14);
  bad[13] ^= 1;
  imsec_hss_sub before;
  assert_int_equal(imsec_hss_lookup(f->h, S("alice@ims.example.org"), &before),
                   0);
  assert_int_equal(
      imsec_hss_resync(f->h, S("alice@ims.example.org"), v.rand, bad),
      IMSEC_ERR_MAC);
  imsec_hss_sub after;
  assert_int_equal(imsec_hss_lookup(f->h, S("alice@ims.example.org"), &after),
                   0);
  assert_int_equal(after.sqn.seq, before.sqn.seq);

  unsigned long saves = imsec_hss_mem_saves(f->st);
  assert_int_equal(
      imsec_hss_resync(f->h, S("alice@ims.example.org"), v.rand, r.auts), 0);
  /* The new state is durable before the next vector. */
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 1);
  assert_int_equal(imsec_hss_lookup(f->h, S("alice@ims.example.org"), &after),
                   0);
  assert_int_equal(after.sqn.seq, 5000);
  imsec_aka_vector_wipe(&v);

  /* The next vector is fresh for the UE: SEQ 5001, from the resynced
   * state, not from the cursor the first vector left. */
  assert_int_equal(imsec_hss_vector(f->h, S("alice@ims.example.org"), &v, NULL),
                   0);
  assert_int_equal(ue_sqn(f->c, &v, 0) >> 5, 5001);
  assert_int_equal(imsec_hss_mem_saves(f->st), saves + 2);
  assert_int_equal(imsec_aka_ue_run(m, &st, &cfg, v.rand, v.autn, &r), 0);
  assert_int_equal(r.status, IMSEC_AKA_UE_OK);
  imsec_aka_ue_result_wipe(&r);
  imsec_aka_vector_wipe(&v);
  imsec_milenage_del(m);
}

static void store_rules(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  /* Same IMPI, or an IMPU already taken. */
  mk_sub(&s, "alice@ims.example.org", "sip:x@ims.example.org", IMSEC_HSS_AKAV1,
         0);
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_EXISTS);
  mk_sub(&s, "carol@ims.example.org", "tel:+15551234", IMSEC_HSS_AKAV1, 0);
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_EXISTS);
  /* Invalid records. */
  mk_sub(&s, "", "sip:c@x", IMSEC_HSS_AKAV1, 0);
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  mk_sub(&s, "c", "sip:c@x", (imsec_hss_aka)7, 0);
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  mk_sub(&s, "c", "sip:c@x", IMSEC_HSS_AKAV1, 0);
  s.n_impus = 0;
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  mk_sub(&s, "c", "sip:c@x", IMSEC_HSS_AKAV1, 0);
  s.sqn.ind_next = 32;
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  /* RFC 7542 §2.2, RFC 3261 §25.1: no control characters, whitespace or
   * quotes in an IMPI or an IMPU. */
  static const char *const bad[] = {"c d@x",
                                    "c\td@x",
                                    "c\"d@x",
                                    "c'd@x",
                                    "c\x01"
                                    "d@x",
                                    "c\r\nd@x",
                                    "c\x7f"
                                    "d@x",
                                    "c<d@x",
                                    "c\\d@x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mk_sub(&s, bad[i], "sip:c@x", IMSEC_HSS_AKAV1, 0);
    assert_int_equal(imsec_hss_sub_check(&s, NULL), IMSEC_ERR_INVAL);
    assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
    char impu[64];
    snprintf(impu, sizeof(impu), "sip:%s", bad[i]);
    mk_sub(&s, "c@x", impu, IMSEC_HSS_AKAV1, 0);
    assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  }
  assert_int_equal(imsec_ident_bad_char(S("001010000000001@ims.mnc001."
                                          "mcc001.3gppnetwork.org")),
                   -1);
  assert_int_equal(imsec_ident_bad_char(S("tel:+1-555;phone-context=x")), -1);
  assert_int_equal(imsec_ident_bad_char(S("ab\"")), 2);
  assert_int_equal(imsec_ident_bad_char(imsec_str_make("a\0b", 3)), 1);
  mk_sub(&s, "c@x", "sip:c@x", IMSEC_HSS_AKAV1, 0);
  assert_int_equal(imsec_hss_sub_check(&s, NULL), 0);
  /* Delete. */
  assert_int_equal(f->st->vt->del(f->st, S("bob@ims.example.org")), 0);
  assert_int_equal(f->st->vt->del(f->st, S("bob@ims.example.org")),
                   IMSEC_ERR_NOTFOUND);
  imsec_hss_aka a;
  assert_int_equal(imsec_hss_aka_parse(S("v2"), &a), 0);
  assert_int_equal(a, IMSEC_HSS_AKAV2);
  assert_int_equal(imsec_hss_aka_parse(S("v3"), &a), IMSEC_ERR_PARSE);
  assert_string_equal(imsec_hss_aka_name(IMSEC_HSS_AKAV1), "v1");
}

/* A store whose save fails: no vector may come out. */
static int failing_save(imsec_hss_store *s, imsec_str impi,
                        const imsec_sqn_he *st) {
  (void)s;
  (void)impi;
  (void)st;
  return IMSEC_ERR_IO;
}

static int failing_reserve(imsec_hss_store *s, imsec_str impi,
                           const imsec_sqn_he *old, const imsec_sqn_he *next) {
  (void)s;
  (void)impi;
  (void)old;
  (void)next;
  return IMSEC_ERR_IO;
}

/* Neither way of writing the mark (a plain save, a compare and set) lets a
 * vector out when the write fails. */
static void no_vector_without_durable_sqn(void **state) {
  fx *f = *state;
  const imsec_hss_store_vtable *orig = f->st->vt;
  for (int cas = 0; cas < 2; cas++) {
    imsec_hss_store_vtable vt = *orig;
    vt.save_sqn = failing_save;
    vt.reserve_sqn = cas ? failing_reserve : NULL;
    f->st->vt = &vt;
    imsec_aka_vector v;
    memset(&v, 0xaa, sizeof(v));
    assert_int_equal(
        imsec_hss_vector(f->h, S("alice@ims.example.org"), &v, NULL),
        IMSEC_ERR_IO);
    uint8_t zero[16] = {0};
    assert_memory_equal(v.rand, zero, 16);
    f->st->vt = orig;
  }
}

/* Two front-ends over one store, and the worst interleaving: the other
 * one reserves a range between this one's read of the mark and its write
 * (a store shared by processes, PostgreSQL say). A store wrapped so that
 * its load lets the rival run first, `race` times. */
typedef struct race_store {
  imsec_hss_store base;
  imsec_hss_store *inner;
  fx *f;
  imsec_hss *rival; /* works on `inner` directly */
  int race;         /* loads left that let the rival in */
  uint64_t rival_seen[64];
  size_t n_rival;
} race_store;

static int race_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  race_store *r = (race_store *)s;
  int rv = r->inner->vt->load(r->inner, impi, out);
  if (rv == 0 && r->race > 0) {
    r->race--;
    assert_true(r->n_rival < 64);
    r->rival_seen[r->n_rival++] =
        vec_sqn(r->f, r->rival, "alice@ims.example.org", 0);
  }
  return rv;
}

static int race_find_impu(imsec_hss_store *s, imsec_str u, imsec_hss_sub *o) {
  race_store *r = (race_store *)s;
  return r->inner->vt->find_impu(r->inner, u, o);
}

static int race_save(imsec_hss_store *s, imsec_str impi,
                     const imsec_sqn_he *st) {
  race_store *r = (race_store *)s;
  return r->inner->vt->save_sqn(r->inner, impi, st);
}

static int race_reserve(imsec_hss_store *s, imsec_str impi,
                        const imsec_sqn_he *old, const imsec_sqn_he *next) {
  race_store *r = (race_store *)s;
  return r->inner->vt->reserve_sqn(r->inner, impi, old, next);
}

static void race_destroy(imsec_hss_store *s) {
  (void)s;
}

static void sqn_reserve_race(void **state) {
  fx *f = *state;
  for (int cas = 0; cas < 2; cas++) {
    imsec_hss_store_vtable vt = {.load = race_load,
                                 .find_impu = race_find_impu,
                                 .save_sqn = race_save,
                                 .destroy = race_destroy,
                                 .reserve_sqn = cas ? race_reserve : NULL};
    race_store r = {.base = {&vt}, .inner = f->st, .f = f};
    imsec_hss *h;
    assert_int_equal(imsec_hss_new(&h, &r.base, f->c, NULL), 0);
    assert_int_equal(imsec_hss_new(&r.rival, f->st, f->c, NULL), 0);
    assert_int_equal(imsec_hss_set_sqn_range(h, 32, 0), 0);
    assert_int_equal(imsec_hss_set_sqn_range(r.rival, 32, 0), 0);
    uint64_t mine[40];
    int clash = 0;
    for (int i = 0; i < 40; i++) {
      r.race = i % 4 == 0 ? 1 : 0; /* now and then, at the worst moment */
      mine[i] = vec_sqn(f, h, "alice@ims.example.org", 0);
      /* The rival keeps handing out from its range too. */
      r.rival_seen[r.n_rival++] =
          vec_sqn(f, r.rival, "alice@ims.example.org", 0);
      for (size_t j = 0; j < r.n_rival; j++)
        for (int k = 0; k <= i; k++)
          clash |= r.rival_seen[j] >> 5 == mine[k] >> 5;
    }
    /* Without the compare and set both reserve the range above the mark
     * they read, and hand out the same SQNs: what reserve_sqn is for. */
    assert_int_equal(clash, cas ? 0 : 1);
    for (int i = 1; i < 40; i++)
      assert_true(mine[i] >> 5 > mine[i - 1] >> 5);
    imsec_hss_del(r.rival);
    imsec_hss_del(h);
  }
}

/* A front-end that loses the race every time gives up, bounded: no
 * vector, IMSEC_ERR_BUSY (try again later), and nothing written. */
static void sqn_reserve_gives_up(void **state) {
  fx *f = *state;
  imsec_hss_store_vtable vt = {.load = race_load,
                               .find_impu = race_find_impu,
                               .save_sqn = race_save,
                               .destroy = race_destroy,
                               .reserve_sqn = race_reserve};
  race_store r = {.base = {&vt}, .inner = f->st, .f = f};
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, &r.base, f->c, NULL), 0);
  assert_int_equal(imsec_hss_new(&r.rival, f->st, f->c, NULL), 0);
  r.race = 64;
  imsec_aka_vector v;
  memset(&v, 0xaa, sizeof(v));
  assert_int_equal(imsec_hss_vector(h, S("alice@ims.example.org"), &v, NULL),
                   IMSEC_ERR_BUSY);
  uint8_t zero[16] = {0};
  assert_memory_equal(v.rand, zero, 16);
  /* Every load let the rival in, and only the rival's marks were
   * written: the store holds the last one it handed out. */
  assert_true(r.n_rival >= 2 && r.n_rival < 64);
  assert_int_equal(stored_seq(f, "alice@ims.example.org"),
                   r.rival_seen[r.n_rival - 1] >> 5);
  imsec_hss_del(r.rival);
  imsec_hss_del(h);
}

/* RFC 7616 §3.4.2: H(A1) = H(username ":" realm ":" passwd), for the IMPI
 * and its user part, MD5 and SHA-256 (references from Python's hashlib). */
#define DG_PW "s3cret pw"
#define DG_MD5_IMPI "7c33b575920bd29438c7fde736fd0046"
#define DG_MD5_PART "bbb2aaa4bdcdd3cbc0ea8de3a8e7cf3b"
#define DG_SHA_IMPI                                                            \
  "3a907cc9ed8d02bd48da6617b1f2031a0371bc1643af184bdc3b016899c3a9b7"
#define DG_SHA_PART                                                            \
  "a3e7d951abaa95fd466e223dcb6c6854449f344b9169d346c34babfa1e52ffc6"
/* alice@ims.example.org, realm other.realm, password n3w */
#define DG2_MD5_IMPI "8380c42cf68de5e48b29c819d0b75fcb"
#define DG2_SHA_IMPI                                                           \
  "73611ad79b1a9c828758c887227d2ac4a090fbf9e7c0421ac0bbe59f5c2d4bcb"

static imsec_bytes PW(const char *s) {
  return (imsec_bytes){(const uint8_t *)s, strlen(s)};
}

static void assert_ha1(const uint8_t *got, const char *hex) {
  uint8_t want[32];
  size_t n = strlen(hex) / 2;
  t_hex(hex, want, n);
  assert_memory_equal(got, want, n);
}

/* A digest subscriber carol@ims.example.org with DG_PW. */
static void mk_digest(fx *f, imsec_hss_sub *s) {
  memset(s, 0, sizeof(*s));
  strcpy(s->impi, "carol@ims.example.org");
  strcpy(s->impus[0], "sip:carol@ims.example.org");
  s->n_impus = 1;
  assert_int_equal(imsec_hss_digest_set(s, f->c, S(""), PW(DG_PW)), 0);
}

static void digest_set_ha1(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  mk_sub(&s, "alice@ims.example.org", "sip:alice@ims.example.org",
         IMSEC_HSS_AKAV2, 1);
  assert_int_equal(imsec_hss_digest_set(&s, f->c, S(""), PW(DG_PW)), 0);
  assert_int_equal(s.scheme, IMSEC_HSS_SCHEME_DIGEST);
  /* TS 23.003 §13.3: the realm is the IMPI's domain by default. */
  assert_string_equal(s.digest.realm, "ims.example.org");
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_MD5][IMSEC_HSS_USER_IMPI], DG_MD5_IMPI);
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_MD5][IMSEC_HSS_USER_PART], DG_MD5_PART);
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_IMPI],
             DG_SHA_IMPI);
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_PART],
             DG_SHA_PART);
  /* The AKA half is gone: no K, OP, AMF, SQN; AKA v1. */
  uint8_t zero[16] = {0};
  assert_memory_equal(s.k, zero, 16);
  assert_memory_equal(s.op, zero, 16);
  assert_memory_equal(s.amf, zero, 2);
  assert_int_equal(s.op_is_opc, 0);
  assert_int_equal(s.aka, IMSEC_HSS_AKAV1);
  assert_int_equal(imsec_hss_sub_check(&s, NULL), 0);

  /* A named realm. */
  assert_int_equal(imsec_hss_digest_set(&s, f->c, S("other.realm"), PW("n3w")),
                   0);
  assert_string_equal(s.digest.realm, "other.realm");
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_MD5][IMSEC_HSS_USER_IMPI],
             DG2_MD5_IMPI);
  assert_ha1(s.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_IMPI],
             DG2_SHA_IMPI);

  /* Refusals: no password, no realm to derive, a realm with a quote or
   * whitespace (it goes into a quoted header parameter). */
  assert_int_equal(imsec_hss_digest_set(&s, f->c, S(""), PW("")),
                   IMSEC_ERR_INVAL);
  imsec_hss_sub t;
  memset(&t, 0, sizeof(t));
  strcpy(t.impi, "no-domain");
  strcpy(t.impus[0], "sip:x@y");
  t.n_impus = 1;
  assert_int_equal(imsec_hss_digest_set(&t, f->c, S(""), PW(DG_PW)),
                   IMSEC_ERR_INVAL);
  /* ...but with a realm the user-part form is the IMPI form. */
  assert_int_equal(imsec_hss_digest_set(&t, f->c, S("r"), PW(DG_PW)), 0);
  assert_memory_equal(t.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_PART],
                      t.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_IMPI],
                      32);
  assert_int_equal(imsec_hss_digest_set(&t, f->c, S("a\"b"), PW(DG_PW)),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_hss_digest_set(&t, f->c, S("a b"), PW(DG_PW)),
                   IMSEC_ERR_INVAL);
  char longrealm[IMSEC_HSS_ID_MAX + 1];
  memset(longrealm, 'r', sizeof(longrealm) - 1);
  longrealm[sizeof(longrealm) - 1] = 0;
  assert_int_equal(imsec_hss_digest_set(&t, f->c, S(longrealm), PW(DG_PW)),
                   IMSEC_ERR_INVAL);
  imsec_hss_sub_wipe(&s);
  imsec_hss_sub_wipe(&t);
}

static void digest_scheme_names(void **state) {
  (void)state;
  imsec_hss_scheme sc = 9;
  assert_int_equal(imsec_hss_scheme_parse(S("digest"), &sc), 0);
  assert_int_equal(sc, IMSEC_HSS_SCHEME_DIGEST);
  assert_int_equal(imsec_hss_scheme_parse(S("AKA"), &sc), 0);
  assert_int_equal(sc, IMSEC_HSS_SCHEME_AKA);
  assert_int_equal(imsec_hss_scheme_parse(S("md5"), &sc), IMSEC_ERR_PARSE);
  assert_string_equal(imsec_hss_scheme_name(IMSEC_HSS_SCHEME_DIGEST), "digest");
  assert_string_equal(imsec_hss_scheme_name(IMSEC_HSS_SCHEME_AKA), "aka");
}

/* The record check refuses a digest subscriber without a usable realm,
 * and an unknown scheme. */
static void digest_check(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  mk_digest(f, &s);
  assert_int_equal(imsec_hss_sub_check(&s, NULL), 0);
  s.digest.realm[0] = 0;
  assert_int_equal(imsec_hss_sub_check(&s, NULL), IMSEC_ERR_INVAL);
  assert_int_equal(f->st->vt->add(f->st, &s), IMSEC_ERR_INVAL);
  strcpy(s.digest.realm, "a\tb");
  assert_int_equal(imsec_hss_sub_check(&s, NULL), IMSEC_ERR_INVAL);
  strcpy(s.digest.realm, "ims.example.org");
  s.scheme = (imsec_hss_scheme)7;
  assert_int_equal(imsec_hss_sub_check(&s, NULL), IMSEC_ERR_INVAL);
  imsec_hss_sub_wipe(&s);
}

/* What the S-CSCF asks (Cx MAR for SIP Digest): H(A1)s for a digest
 * subscriber, nothing for an AKA one; no AKA vector for a digest one;
 * lookups and list never carry the H(A1)s. */
static void digest_get(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  mk_digest(f, &s);
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
  imsec_hss_sub got;
  assert_int_equal(imsec_hss_digest_get(f->h, S("carol@ims.example.org"), &got),
                   0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(got.digest.realm, "ims.example.org");
  /* SHA-256("carol:ims.example.org:" DG_PW) */
  assert_ha1(
      got.digest.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_PART],
      "384b8d8d27846862765a6ee6b31e28d681e1cfe82490d2a24b477c6d3cdc52d3");
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  imsec_hss_sub_wipe(&got);
  /* Found by its IMPU too (a first REGISTER without Authorization,
   * TS 24.229 §5.4.1.2.1), without the H(A1)s. */
  assert_int_equal(
      imsec_hss_lookup_impu(f->h, S("sip:carol@ims.example.org"), &got), 0);
  assert_string_equal(got.impi, "carol@ims.example.org");
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(got.digest.realm, "ims.example.org");
  uint8_t zero[sizeof(got.digest.ha1)];
  memset(zero, 0, sizeof(zero));
  assert_memory_equal(got.digest.ha1, zero, sizeof(zero));
  assert_int_equal(imsec_hss_lookup(f->h, S("carol@ims.example.org"), &got), 0);
  assert_memory_equal(got.digest.ha1, zero, sizeof(zero));

  assert_int_equal(imsec_hss_digest_get(f->h, S("alice@ims.example.org"), &got),
                   IMSEC_ERR_UNSUPPORTED);
  assert_memory_equal(got.digest.ha1, zero, sizeof(zero));
  assert_int_equal(imsec_hss_digest_get(f->h, S("nobody"), &got),
                   IMSEC_ERR_NOTFOUND);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(f->h, S("carol@ims.example.org"), &v, NULL),
                   IMSEC_ERR_UNSUPPORTED);
  uint8_t rand[16] = {0}, auts[14] = {0};
  assert_int_equal(
      imsec_hss_resync(f->h, S("carol@ims.example.org"), rand, auts),
      IMSEC_ERR_UNSUPPORTED);
  /* AKA subscribers still get vectors beside it. */
  assert_int_equal(imsec_hss_vector(f->h, S("alice@ims.example.org"), &v, NULL),
                   0);
  imsec_aka_vector_wipe(&v);
  imsec_hss_sub_wipe(&s);
}

static int list_digest(void *arg, const imsec_hss_sub *sub) {
  int *seen = arg;
  if (sub->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    uint8_t zero[sizeof(sub->digest.ha1)];
    memset(zero, 0, sizeof(zero));
    assert_memory_equal(sub->digest.ha1, zero, sizeof(zero));
    assert_string_equal(sub->digest.realm, "ims.example.org");
    (*seen)++;
  }
  return 0;
}

/* A password change through the store: the new H(A1)s replace the old;
 * refused for an AKA subscriber and an unknown IMPI. */
static void digest_passwd(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  mk_digest(f, &s);
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
  int seen = 0;
  assert_int_equal(f->st->vt->list(f->st, list_digest, &seen), 0);
  assert_int_equal(seen, 1);
  imsec_hss_sub n = s;
  assert_int_equal(imsec_hss_digest_set(&n, f->c, S(""), PW("n3w")), 0);
  assert_int_equal(
      f->st->vt->set_digest(f->st, S("carol@ims.example.org"), &n.digest), 0);
  imsec_hss_sub got;
  assert_int_equal(imsec_hss_digest_get(f->h, S("carol@ims.example.org"), &got),
                   0);
  assert_memory_equal(got.digest.ha1, n.digest.ha1, sizeof(n.digest.ha1));
  assert_memory_not_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  imsec_hss_sub_wipe(&got);
  assert_int_equal(f->st->vt->set_digest(f->st, S("nobody"), &n.digest),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(
      f->st->vt->set_digest(f->st, S("alice@ims.example.org"), &n.digest),
      IMSEC_ERR_INVAL);
  /* The AKA subscriber is untouched and still an AKA one. */
  assert_int_equal(imsec_hss_lookup(f->h, S("alice@ims.example.org"), &got), 0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_AKA);
  n.digest.realm[0] = 0;
  assert_int_equal(
      f->st->vt->set_digest(f->st, S("carol@ims.example.org"), &n.digest),
      IMSEC_ERR_INVAL);
  imsec_hss_sub_wipe(&s);
  imsec_hss_sub_wipe(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(sqn_strictly_increasing, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_range_one, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_range_saves, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_no_reuse_after_crash, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(sqn_two_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_cursor_eviction, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_resync_keeps_cursor_state, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(lookup_no_secrets, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_set_ha1, setup, teardown),
      cmocka_unit_test(digest_scheme_names),
      cmocka_unit_test_setup_teardown(digest_check, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_get, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_passwd, setup, teardown),
      cmocka_unit_test_setup_teardown(akav2_record, setup, teardown),
      cmocka_unit_test_setup_teardown(resync, setup, teardown),
      cmocka_unit_test_setup_teardown(store_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(no_vector_without_durable_sqn, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(sqn_reserve_race, setup, teardown),
      cmocka_unit_test_setup_teardown(sqn_reserve_gives_up, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
