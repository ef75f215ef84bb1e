/* store/svc.c, store/reg_mem.c, lib/elem/svc.c: the embedded service
 * answers inside submit; the in-memory registration store keeps absolute
 * expiry and drops what has expired. */
#include <stdlib.h>
#include <string.h>

#include "imsec/crypto.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

typedef struct got {
  int calls;
  int status[8];
  int last[8];
  imsec_svc_kind kind[8];
  uint64_t id[8];
  char impi[8][64];
  int64_t ttl[8];
  size_t n_b[8];
  uint8_t rand[16];
  uint8_t sqn[6];
} got;

static void done(void *arg, const imsec_svc_req *req,
                 const imsec_svc_reply *rep) {
  got *g = arg;
  (void)req;
  int i = g->calls++;
  if (i >= 8)
    return;
  g->status[i] = rep->status;
  g->last[i] = rep->last;
  g->kind[i] = rep->kind;
  g->id[i] = rep->id;
  if (rep->kind == IMSEC_SVC_HSS_VECTOR)
    memcpy(g->rand, rep->vec.rand, 16);
  if (rep->reg) {
    strncpy(g->impi[i], rep->reg->impi, 63);
    g->n_b[i] = rep->reg->n;
    g->ttl[i] = rep->reg->n ? rep->reg->b[0].ttl_ms : -1;
  }
}

static int64_t wall;
static int64_t fake_wall(void *arg) {
  (void)arg;
  return wall;
}

static int sqn_writes;
static int save_sqn(void *arg, const uint8_t sqn[6]) {
  got *g = arg;
  memcpy(g->sqn, sqn, 6);
  sqn_writes++;
  return sqn_writes > 1 ? IMSEC_ERR_IO : 0;
}

static void record(imsec_reg_record *r, const char *impi, int64_t ttl) {
  memset(r, 0, sizeof(*r));
  imsec_reg_record tmp = {0};
  char *impus[1] = {(char *)"sip:alice@ims.example.org"};
  imsec_reg_binding b = {.contact = (char *)"sip:alice@10.0.0.1:5061",
                         .path = (char *)"<sip:tok@pcscf.example.org;lr>",
                         .reg_id = -1,
                         .ttl_ms = ttl};
  tmp.impi = (char *)impi;
  tmp.impus = impus;
  tmp.n_impus = 1;
  tmp.b = &b;
  tmp.n = 1;
  assert_int_equal(imsec_reg_record_copy(r, &tmp), 0);
}

static void hss_and_regs(void **state) {
  (void)state;
  imsec_crypto *c;
  imsec_hss_store *st;
  imsec_hss *h;
  imsec_reg_store *reg;
  assert_int_equal(imsec_crypto_ossl_new(&c), 0);
  assert_int_equal(imsec_hss_mem_new(&st), 0);
  assert_int_equal(imsec_hss_new(&h, st, c, NULL), 0);
  assert_int_equal(imsec_reg_mem_new(&reg), 0);
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, "alice@ims.example.org");
  strcpy(s.impus[0], "sip:alice@ims.example.org");
  s.n_impus = 1;
  s.amf[0] = 0x80;
  s.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(st->vt->add(st, &s), 0);

  got g = {0};
  imsec_svc *svc;
  imsec_svc_local_config cfg = {.hss = h,
                                .reg = reg,
                                .ue_sqn = save_sqn,
                                .ue_sqn_arg = &g,
                                .wall_ms = fake_wall};
  assert_int_equal(imsec_svc_local_new(&svc, &cfg), 0);
  wall = 1000000;

  /* A vector, answered before submit returns. */
  imsec_svc_req rq = {.kind = IMSEC_SVC_HSS_VECTOR, .id = 7};
  strcpy(rq.key, "alice@ims.example.org");
  assert_int_equal(imsec_svc_submit(svc, &rq, done, &g), 0);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.status[0], 0);
  assert_int_equal(g.id[0], 7);
  assert_int_equal(g.last[0], 1);
  static const uint8_t zero[16];
  assert_memory_not_equal(g.rand, zero, 16);

  /* Unknown subscriber. */
  imsec_svc_req rq2 = {.kind = IMSEC_SVC_HSS_SUB_IMPU, .id = 8};
  strcpy(rq2.key, "sip:nobody@ims.example.org");
  assert_int_equal(imsec_svc_submit(svc, &rq2, done, &g), 0);
  assert_int_equal(g.status[1], IMSEC_ERR_NOTFOUND);

  /* Two registrations saved; one expires before the load. */
  imsec_svc_req sv = {.kind = IMSEC_SVC_REG_SAVE, .id = 9};
  record(&sv.reg, "alice@ims.example.org", 60000);
  assert_int_equal(imsec_svc_submit(svc, &sv, done, &g), 0);
  imsec_svc_req sv2 = {.kind = IMSEC_SVC_REG_SAVE, .id = 10};
  record(&sv2.reg, "bob@ims.example.org", 5000);
  assert_int_equal(imsec_svc_submit(svc, &sv2, done, &g), 0);
  assert_int_equal(g.status[2], 0);
  assert_int_equal(g.status[3], 0);
  wall += 10000;
  g.calls = 0;
  imsec_svc_req ld = {.kind = IMSEC_SVC_REG_LOAD, .id = 11};
  assert_int_equal(imsec_svc_submit(svc, &ld, done, &g), 0);
  /* One record (bob expired), then the last reply without one. */
  assert_int_equal(g.calls, 2);
  assert_string_equal(g.impi[0], "alice@ims.example.org");
  assert_int_equal(g.ttl[0], 50000);
  assert_int_equal(g.last[0], 0);
  assert_int_equal(g.last[1], 1);
  assert_int_equal(g.status[1], 0);

  /* Delete, then it is gone. */
  g.calls = 0;
  imsec_svc_req dl = {.kind = IMSEC_SVC_REG_DELETE, .id = 12};
  strcpy(dl.key, "alice@ims.example.org");
  assert_int_equal(imsec_svc_submit(svc, &dl, done, &g), 0);
  assert_int_equal(g.status[0], 0);
  assert_int_equal(imsec_svc_submit(svc, &dl, done, &g), 0);
  assert_int_equal(g.status[1], IMSEC_ERR_NOTFOUND);

  /* The UE's SQN writer, and its failure reaching the reply. */
  g.calls = 0;
  imsec_svc_req sq = {.kind = IMSEC_SVC_UE_SQN, .id = 13};
  memcpy(sq.sqn_ms, "\x00\x00\x00\x00\x01\x20", 6);
  assert_int_equal(imsec_svc_submit(svc, &sq, done, &g), 0);
  assert_int_equal(g.status[0], 0);
  assert_memory_equal(g.sqn, "\x00\x00\x00\x00\x01\x20", 6);
  memcpy(sq.sqn_ms, "\x00\x00\x00\x00\x01\x40", 6);
  assert_int_equal(imsec_svc_submit(svc, &sq, done, &g), 0);
  assert_int_equal(g.status[1], IMSEC_ERR_IO);

  imsec_svc_del(svc);
  imsec_reg_store_del(reg);
  imsec_hss_del(h);
  imsec_hss_store_del(st);
  imsec_crypto_del(c);
}

/* A service without stores says so for each kind. */
static void unsupported(void **state) {
  (void)state;
  imsec_svc *svc;
  imsec_svc_local_config cfg = {0};
  assert_int_equal(imsec_svc_local_new(&svc, &cfg), 0);
  got g = {0};
  for (int k = IMSEC_SVC_HSS_SUB; k <= IMSEC_SVC_UE_SQN; k++) {
    imsec_svc_req rq = {.kind = (imsec_svc_kind)k, .id = (uint64_t)k};
    assert_int_equal(imsec_svc_submit(svc, &rq, done, &g), 0);
  }
  for (int i = 0; i < 8; i++)
    assert_int_equal(g.status[i], IMSEC_ERR_UNSUPPORTED);
  assert_string_equal(imsec_svc_kind_name(IMSEC_SVC_REG_SAVE), "reg-save");
  imsec_svc_del(svc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hss_and_regs),
      cmocka_unit_test(unsupported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
