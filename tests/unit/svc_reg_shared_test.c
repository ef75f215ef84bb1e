/* The shared-store requests (REG_GET, REG_EXPIRE) through the embedded
 * service over the SQLite registration store, behind a worker thread as
 * an S-CSCF runs it: a record found by IMPU with ttl by the service's
 * clock, the expired bindings dropped by that clock, gone = 1 for the
 * one request that removed the last binding; a store without get/expire
 * answers IMSEC_ERR_UNSUPPORTED. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsec/hss_db.h"
#include "imsec/regdb.h"
#include "imsec/svc.h"
#include "test_util.h"

typedef struct got {
  pthread_mutex_t mu;
  int done, status, gone;
  size_t n; /* bindings of the record answered */
  int64_t ttl0;
  char impi[64];
} got;

static void on_done(void *arg, const imsec_svc_req *req,
                    const imsec_svc_reply *rep) {
  (void)req;
  got *g = arg;
  pthread_mutex_lock(&g->mu);
  if (rep->reg) {
    g->n = rep->reg->n;
    g->ttl0 = rep->reg->n ? rep->reg->b[0].ttl_ms : 0;
    snprintf(g->impi, sizeof(g->impi), "%s", rep->reg->impi);
  }
  if (rep->last) {
    g->status = rep->status;
    g->gone = rep->gone;
    g->done = 1;
  }
  pthread_mutex_unlock(&g->mu);
}

static int64_t clock_ms = INT64_C(1780000000000);

static int64_t wall(void *arg) {
  (void)arg;
  return __atomic_load_n(&clock_ms, __ATOMIC_SEQ_CST);
}

static void call(imsec_svc *s, imsec_svc_req *req, got *g) {
  memset(g, 0, sizeof(*g));
  pthread_mutex_init(&g->mu, NULL);
  assert_int_equal(imsec_svc_submit(s, req, on_done, g), 0);
  for (int i = 0; i < 5000; i++) {
    pthread_mutex_lock(&g->mu);
    int d = g->done;
    pthread_mutex_unlock(&g->mu);
    if (d)
      break;
    usleep(1000);
  }
  assert_true(g->done);
  pthread_mutex_destroy(&g->mu);
}

static void save(imsec_svc *s, const char *impi, const char *impu, int64_t ttl0,
                 int64_t ttl1) {
  char *impus[1] = {(char *)impu};
  imsec_reg_binding b[2] = {
      {.contact = (char *)"sip:ue@10.0.0.1:5061", .reg_id = -1, .ttl_ms = ttl0},
      {.contact = (char *)"sip:ue@10.0.0.2:5061", .reg_id = -1, .ttl_ms = ttl1},
  };
  imsec_reg_record r = {
      .impi = (char *)impi, .impus = impus, .n_impus = 1, .b = b, .n = 2};
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_SAVE};
  assert_int_equal(imsec_reg_record_copy(&req.reg, &r), 0);
  got g;
  call(s, &req, &g);
  assert_int_equal(g.status, 0);
}

static void keyed(imsec_svc *s, imsec_svc_kind k, const char *key, got *g) {
  imsec_svc_req req = {.kind = k};
  snprintf(req.key, sizeof(req.key), "%s", key);
  call(s, &req, g);
}

static void sqlite_worker(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_svcshared_XXXXXX", path[96], err[200];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/reg.db", dir);
  imsec_hss_db_opts o = {.create = 1, .wal = 1, .writable = 1};
  imsec_reg_store *reg;
  assert_int_equal(imsec_reg_db_open(&reg, path, &o, err, sizeof(err)), 0);
  imsec_svc_local_config cfg = {.reg = reg, .wall_ms = wall};
  imsec_svc *local, *w;
  assert_int_equal(imsec_svc_local_new(&local, &cfg), 0);
  assert_int_equal(imsec_svc_worker_new(&w, local, 16), 0);

  save(w, "alice@ims.test", "sip:alice@ims.test", 10000, 60000);
  got g;
  keyed(w, IMSEC_SVC_REG_GET, "sip:alice@ims.test", &g);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.impi, "alice@ims.test");
  assert_int_equal(g.n, 2);
  assert_true(g.ttl0 == 10000);
  keyed(w, IMSEC_SVC_REG_GET, "sip:bob@ims.test", &g);
  assert_int_equal(g.status, IMSEC_ERR_NOTFOUND);

  __atomic_store_n(&clock_ms, clock_ms + 20000, __ATOMIC_SEQ_CST);
  keyed(w, IMSEC_SVC_REG_EXPIRE, "alice@ims.test", &g);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.gone, 0);
  assert_int_equal(g.n, 1);
  assert_true(g.ttl0 == 40000);
  __atomic_store_n(&clock_ms, clock_ms + 40000, __ATOMIC_SEQ_CST);
  keyed(w, IMSEC_SVC_REG_EXPIRE, "alice@ims.test", &g);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.gone, 1);
  assert_int_equal(g.n, 0);
  keyed(w, IMSEC_SVC_REG_EXPIRE, "alice@ims.test", &g);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.gone, 0);
  keyed(w, IMSEC_SVC_REG_GET, "alice@ims.test", &g);
  assert_int_equal(g.status, IMSEC_ERR_NOTFOUND);

  imsec_svc_del(w);
  imsec_svc_del(local);
  imsec_reg_store_del(reg);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A store without the optional calls. */
static int none_save(imsec_reg_store *s, const imsec_reg_record *r,
                     int64_t now) {
  (void)s, (void)r, (void)now;
  return 0;
}
static int none_del(imsec_reg_store *s, const char *impi) {
  (void)s, (void)impi;
  return IMSEC_ERR_NOTFOUND;
}
static int none_load(imsec_reg_store *s, int64_t now, imsec_reg_load_fn fn,
                     void *arg) {
  (void)s, (void)now, (void)fn, (void)arg;
  return 0;
}
static void none_destroy(imsec_reg_store *s) {
  (void)s;
}

static void unsupported(void **state) {
  (void)state;
  static const imsec_reg_store_vtable vt = {
      none_save, none_del, none_load, none_destroy, NULL, NULL, NULL};
  imsec_reg_store st = {&vt};
  imsec_svc_local_config cfg = {.reg = &st, .wall_ms = wall};
  imsec_svc *local;
  assert_int_equal(imsec_svc_local_new(&local, &cfg), 0);
  got g;
  keyed(local, IMSEC_SVC_REG_GET, "sip:a@ims.test", &g);
  assert_int_equal(g.status, IMSEC_ERR_UNSUPPORTED);
  keyed(local, IMSEC_SVC_REG_EXPIRE, "a@ims.test", &g);
  assert_int_equal(g.status, IMSEC_ERR_UNSUPPORTED);
  imsec_svc_del(local);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sqlite_worker),
      cmocka_unit_test(unsupported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
