/* store/svc_worker.c: requests are queued and carried out in order on
 * the worker's own thread; submit never waits for the inner service and
 * never calls done itself; a full queue is answered IMSEC_ERR_BUSY by the
 * worker; deleting the worker carries out the queued writes and answers
 * the queued reads IMSEC_ERR_CLOSED. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsec/crypto.h"
#include "imsec/obs.h"
#include "imsec/regdb.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss_db.h"
#include "test_util.h"

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -------------------------------------------- a slow inner service */

typedef struct slow {
  imsec_svc base;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int gate_open; /* 0: every request waits until it opens */
  int delay_ms;
  uint64_t refuse_id; /* this id is refused with IMSEC_ERR_NOMEM */
  int ran;
  pthread_t ran_on;
  int started; /* a request is in hand */
} slow;

static int slow_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                       void *arg) {
  slow *sl = (slow *)s;
  pthread_mutex_lock(&sl->mu);
  sl->started++;
  pthread_cond_broadcast(&sl->cv);
  while (!sl->gate_open)
    pthread_cond_wait(&sl->cv, &sl->mu);
  sl->ran++;
  sl->ran_on = pthread_self();
  int delay = sl->delay_ms;
  uint64_t refuse = sl->refuse_id;
  pthread_mutex_unlock(&sl->mu);
  if (delay) {
    struct timespec ts = {0, (long)delay * 1000000L};
    nanosleep(&ts, NULL);
  }
  imsec_reg_record_free(&req->reg);
  if (req->id == refuse)
    return IMSEC_ERR_NOMEM;
  imsec_svc_reply rep = {.kind = req->kind, .id = req->id, .last = 1};
  done(arg, req, &rep);
  return 0;
}

static void slow_destroy(imsec_svc *s) {
  (void)s;
}

/* What the slow service says of itself, for the wrappers to pass on. */
static void slow_metrics(imsec_svc *s, imsec_metrics *m) {
  (void)s;
  (void)imsec_metrics_declare(m, "test_inner", IMSEC_METRIC_GAUGE, "inner");
  (void)imsec_metrics_add(m, "test_inner", 7, (const char *)NULL);
}

static int slow_list(imsec_svc *s, const char *what, imsec_table *t) {
  (void)s;
  if (strcmp(what, "peers") != 0)
    return IMSEC_ERR_UNSUPPORTED;
  static const char *const cols[] = {"peer", "kind", "state", "detail"};
  IMSEC_GUARD(imsec_table_init(t, cols, 4));
  static const char *const row[] = {"hss.test", "diameter", "open", ""};
  return imsec_table_add(t, row);
}

static const imsec_svc_vtable slow_vt = {.submit = slow_submit,
                                         .destroy = slow_destroy,
                                         .metrics = slow_metrics,
                                         .list = slow_list};

static void slow_init(slow *sl, int gate_open, int delay_ms) {
  memset(sl, 0, sizeof(*sl));
  sl->base.vt = &slow_vt;
  pthread_mutex_init(&sl->mu, NULL);
  pthread_cond_init(&sl->cv, NULL);
  sl->gate_open = gate_open;
  sl->delay_ms = delay_ms;
}

static void slow_open(slow *sl) {
  pthread_mutex_lock(&sl->mu);
  sl->gate_open = 1;
  pthread_cond_broadcast(&sl->cv);
  pthread_mutex_unlock(&sl->mu);
}

/* Wait until the worker holds `n` requests in the inner service. */
static void slow_wait_started(slow *sl, int n) {
  pthread_mutex_lock(&sl->mu);
  while (sl->started < n)
    pthread_cond_wait(&sl->cv, &sl->mu);
  pthread_mutex_unlock(&sl->mu);
}

static void slow_fini(slow *sl) {
  pthread_cond_destroy(&sl->cv);
  pthread_mutex_destroy(&sl->mu);
}

/* ------------------------------------------------- what done saw */

#define MAXR 64
#define PROBE_ID 99

typedef struct replies {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n;
  uint64_t id[MAXR];
  int status[MAXR];
  int last[MAXR];
  int has_reg[MAXR];
  int on_main[MAXR];
  int bad; /* a reply that did not match its request */
  pthread_t main_th;
} replies;

static void replies_init(replies *r) {
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->main_th = pthread_self();
}

static void replies_fini(replies *r) {
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

static void done(void *arg, const imsec_svc_req *req,
                 const imsec_svc_reply *rep) {
  replies *r = arg;
  pthread_mutex_lock(&r->mu);
  /* No cmocka assertion off the main thread: counted, checked there. */
  if (rep->id != req->id || rep->kind != req->kind)
    r->bad++;
  if (rep->id == PROBE_ID) {
    pthread_mutex_unlock(&r->mu);
    return;
  }
  if (r->n < MAXR) {
    r->id[r->n] = rep->id;
    r->status[r->n] = rep->status;
    r->last[r->n] = rep->last;
    r->has_reg[r->n] = rep->reg != NULL;
    r->on_main[r->n] = pthread_equal(pthread_self(), r->main_th);
    r->n++;
  }
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Wait (bounded) for `n` replies. */
static void wait_replies(replies *r, int n) {
  int64_t end = ms_now() + 5000;
  pthread_mutex_lock(&r->mu);
  while (r->n < n && ms_now() < end) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
  }
  int got = r->n, bad = r->bad;
  pthread_mutex_unlock(&r->mu);
  assert_int_equal(got, n);
  assert_int_equal(bad, 0);
}

static int submit(imsec_svc *w, imsec_svc_kind kind, uint64_t id, replies *r) {
  imsec_svc_req *req = calloc(1, sizeof(*req));
  assert_non_null(req);
  req->kind = kind;
  req->id = id;
  strcpy(req->key, "alice@ims.example.org");
  int rv = imsec_svc_submit(w, req, done, r);
  free(req); /* the worker keeps its own copy */
  return rv;
}

/* ---------------------------------------------------------- tests */

/* submit returns at once; the inner service runs the requests in order
 * on one thread that is not the submitter's; done comes from there. */
static void in_order_off_thread(void **state) {
  (void)state;
  slow sl;
  slow_init(&sl, 1, 20);
  replies r;
  replies_init(&r);
  imsec_svc *w;
  assert_int_equal(imsec_svc_worker_new(&w, NULL, 4), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 0), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 16), 0);
  int64_t t0 = ms_now();
  for (uint64_t i = 1; i <= 8; i++)
    assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, i, &r), 0);
  /* Eight requests of 20 ms each were only queued. */
  assert_true(ms_now() - t0 < 60);
  wait_replies(&r, 8);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(r.id[i], (uint64_t)i + 1);
    assert_int_equal(r.status[i], 0);
    assert_int_equal(r.last[i], 1);
    assert_false(r.on_main[i]);
  }
  assert_int_equal(sl.ran, 8);
  assert_false(pthread_equal(sl.ran_on, pthread_self()));
  imsec_svc_del(w);
  replies_fini(&r);
  slow_fini(&sl);
}

/* Beyond queue_max: IMSEC_ERR_BUSY answered by the worker, ahead of the
 * queue and never inside submit; beyond twice that, submit refuses. An
 * inner refusal still reaches done. */
static void queue_full(void **state) {
  (void)state;
  slow sl;
  slow_init(&sl, 0, 0);
  sl.refuse_id = 3;
  replies r;
  replies_init(&r);
  imsec_svc *w;
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 3), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 1, &r), 0);
  slow_wait_started(&sl, 1);        /* 1 is in hand, the gate shut */
  for (uint64_t i = 2; i <= 4; i++) /* queued */
    assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, i, &r), 0);
  for (uint64_t i = 5; i <= 7; i++) /* answered BUSY */
    assert_int_equal(submit(w, IMSEC_SVC_REG_SAVE, i, &r), 0);
  /* Both full: not taken on. */
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 8, &r), IMSEC_ERR_BUSY);
  /* Nothing was answered on this thread (submit never calls done). */
  pthread_mutex_lock(&r.mu);
  assert_int_equal(r.n, 0);
  pthread_mutex_unlock(&r.mu);
  slow_open(&sl);
  wait_replies(&r, 7);
  static const uint64_t order[7] = {1, 5, 6, 7, 2, 3, 4};
  static const int status[7] = {
      0, IMSEC_ERR_BUSY, IMSEC_ERR_BUSY, IMSEC_ERR_BUSY, 0, IMSEC_ERR_NOMEM, 0};
  for (int i = 0; i < 7; i++) {
    assert_int_equal(r.id[i], order[i]);
    assert_int_equal(r.status[i], status[i]);
    assert_int_equal(r.last[i], 1);
    assert_false(r.on_main[i]);
  }
  assert_int_equal(sl.ran, 4); /* the BUSY ones never reached it */
  imsec_svc_del(w);
  replies_fini(&r);
  slow_fini(&sl);
}

typedef struct closer {
  slow *sl;
  imsec_svc *w;
  replies *r;
} closer;

/* Open the gate once the worker is closing (a read submitted then is
 * refused IMSEC_ERR_CLOSED; those submitted before are answered and
 * left out of the replies). */
static void *open_when_closing(void *arg) {
  closer *c = arg;
  for (;;) {
    imsec_svc_req req = {.kind = IMSEC_SVC_HSS_SUB, .id = PROBE_ID};
    if (imsec_svc_submit(c->w, &req, done, c->r) == IMSEC_ERR_CLOSED)
      break;
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
  }
  slow_open(c->sl);
  return NULL;
}

/* Delete with work queued: the request in hand finishes, the writes are
 * carried out, the reads answered IMSEC_ERR_CLOSED; then it joins. */
static void destroy_drains_writes(void **state) {
  (void)state;
  slow sl;
  slow_init(&sl, 0, 0);
  replies r;
  replies_init(&r);
  imsec_svc *w;
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 8), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 1, &r), 0);
  slow_wait_started(&sl, 1);
  assert_int_equal(submit(w, IMSEC_SVC_REG_SAVE, 2, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 3, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_UE_SQN, 4, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_REG_LOAD, 5, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_RESYNC, 6, &r), 0);
  pthread_t th;
  closer c = {&sl, w, &r};
  assert_int_equal(pthread_create(&th, NULL, open_when_closing, &c), 0);
  imsec_svc_del(w); /* waits for the request in hand */
  pthread_join(th, NULL);
  assert_int_equal(r.n, 6);
  assert_int_equal(r.bad, 0);
  static const int status[6] = {0, 0, IMSEC_ERR_CLOSED, 0, IMSEC_ERR_CLOSED, 0};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(r.id[i], (uint64_t)i + 1);
    assert_int_equal(r.status[i], status[i]);
    assert_false(r.on_main[i]);
  }
  assert_int_equal(sl.ran, 4);
  replies_fini(&r);
  slow_fini(&sl);
}

/* Stop, then delete later (a daemon stops its worker while its host
 * still runs): the queued write is carried out and answered at stop;
 * a submit after it is refused closed on the caller's thread, with no
 * reply; a second stop and the delete after it are fine. */
static void stop_then_del(void **state) {
  (void)state;
  slow sl;
  slow_init(&sl, 1, 0);
  replies r;
  replies_init(&r);
  imsec_svc *w;
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 8), 0);
  assert_int_equal(submit(w, IMSEC_SVC_REG_SAVE, 1, &r), 0);
  imsec_svc_worker_stop(w);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.status[0], 0);
  assert_int_equal(submit(w, IMSEC_SVC_UE_SQN, 2, &r), IMSEC_ERR_CLOSED);
  imsec_svc_worker_stop(w);
  assert_int_equal(r.n, 1);
  imsec_svc_del(w);
  replies_fini(&r);
  slow_fini(&sl);
}

/* The real thing: the embedded service over the SQLite registration
 * store behind the worker. A load gives one reply per record, then the
 * final one, all on the worker thread. */
static void local_over_sqlite(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_svcw_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/reg.db", dir);
  imsec_reg_store *reg;
  char err[200];
  imsec_hss_db_opts o = {.create = 1, .wal = 1};
  assert_int_equal(imsec_reg_db_open(&reg, path, &o, err, sizeof(err)), 0);
  imsec_svc *local, *w;
  imsec_svc_local_config cfg = {.reg = reg};
  assert_int_equal(imsec_svc_local_new(&local, &cfg), 0);
  assert_int_equal(imsec_svc_worker_new(&w, local, 64), 0);
  replies r;
  replies_init(&r);
  char *impus[1] = {(char *)"sip:alice@ims.example.org"};
  imsec_reg_binding b = {.contact = (char *)"sip:alice@10.0.0.1:5061",
                         .reg_id = -1,
                         .ttl_ms = 600000};
  for (uint64_t i = 1; i <= 3; i++) {
    imsec_svc_req *req = calloc(1, sizeof(*req));
    req->kind = IMSEC_SVC_REG_SAVE;
    req->id = i;
    char impi[32];
    snprintf(impi, sizeof(impi), "u%llu@ims.example.org",
             (unsigned long long)i);
    imsec_reg_record tmp = {
        .impi = impi, .impus = impus, .n_impus = 1, .b = &b, .n = 1};
    assert_int_equal(imsec_reg_record_copy(&req->reg, &tmp), 0);
    assert_int_equal(imsec_svc_submit(w, req, done, &r), 0);
    /* Moved in: the caller's struct owns nothing now. */
    assert_null(req->reg.impi);
    free(req);
  }
  assert_int_equal(submit(w, IMSEC_SVC_REG_LOAD, 4, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 5, &r), 0);
  wait_replies(&r, 3 + 4 + 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal(r.status[i], 0);
  for (int i = 3; i < 6; i++) {
    assert_int_equal(r.id[i], 4);
    assert_true(r.has_reg[i]);
    assert_int_equal(r.last[i], 0);
  }
  assert_int_equal(r.id[6], 4);
  assert_int_equal(r.last[6], 1);
  assert_false(r.has_reg[6]);
  assert_int_equal(r.id[7], 5);
  assert_int_equal(r.status[7], IMSEC_ERR_UNSUPPORTED); /* no HSS given */
  for (int i = 0; i < 8; i++)
    assert_false(r.on_main[i]);
  imsec_svc_del(w);
  imsec_svc_del(local);
  imsec_reg_store_del(reg);
  replies_fini(&r);
  char cmd[96];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static int count_rec(void *arg, const imsec_reg_record *r) {
  (void)r;
  (*(int *)arg)++;
  return 0;
}

static void save_req(imsec_svc *w, uint64_t i, replies *r) {
  static char *impus[1] = {(char *)"sip:alice@ims.example.org"};
  imsec_reg_binding b = {.contact = (char *)"sip:alice@10.0.0.1:5061",
                         .reg_id = -1,
                         .ttl_ms = 600000};
  imsec_svc_req *req = calloc(1, sizeof(*req));
  assert_non_null(req);
  req->kind = IMSEC_SVC_REG_SAVE;
  req->id = i;
  char impi[32];
  snprintf(impi, sizeof(impi), "u%llu@ims.example.org", (unsigned long long)i);
  imsec_reg_record tmp = {
      .impi = impi, .impus = impus, .n_impus = 1, .b = &b, .n = 1};
  assert_int_equal(imsec_reg_record_copy(&req->reg, &tmp), 0);
  assert_int_equal(imsec_svc_submit(w, req, done, r), 0);
  free(req);
}

/* Group commit: a batch rolled back leaves nothing, a committed one
 * everything; and many saves queued at once through the worker over the
 * SQLite stores (the daemon's wiring) are all answered 0 and all on disk
 * when reopened, with the HSS's vectors among them. */
static void group_commit_sqlite(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_svcg_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char rpath[64], hpath[64], err[200];
  snprintf(rpath, sizeof(rpath), "%s/reg.db", dir);
  snprintf(hpath, sizeof(hpath), "%s/hss.db", dir);
  imsec_hss_db_opts o = {.create = 1, .wal = 1, .writable = 1};
  imsec_reg_store *reg;
  assert_int_equal(imsec_reg_db_open(&reg, rpath, &o, err, sizeof(err)), 0);
  /* The store's own batch: rollback, then commit. */
  imsec_reg_record one = {.impi = (char *)"x@ims.example.org"};
  assert_int_equal(reg->vt->batch(reg, IMSEC_STORE_BEGIN), 0);
  assert_int_equal(reg->vt->save(reg, &one, 0), 0);
  assert_int_equal(reg->vt->batch(reg, IMSEC_STORE_PENDING), 1);
  assert_int_equal(reg->vt->batch(reg, IMSEC_STORE_ROLLBACK), 0);
  int n = 0;
  assert_int_equal(reg->vt->load(reg, 0, count_rec, &n), 0);
  assert_int_equal(n, 0);
  imsec_hss_db_opts ho = {.create = 1, .writable = 1};
  imsec_hss_store *hs;
  assert_int_equal(imsec_hss_db_open_opts(&hs, hpath, &ho, err, sizeof(err)),
                   0);
  imsec_hss_sub sub;
  memset(&sub, 0, sizeof(sub));
  strcpy(sub.impi, "alice@ims.example.org");
  strcpy(sub.impus[0], "sip:alice@ims.example.org");
  sub.n_impus = 1;
  memset(sub.k, 0x11, 16);
  memset(sub.op, 0x22, 16);
  sub.op_is_opc = 1;
  sub.amf[0] = 0x80;
  sub.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(hs->vt->add(hs, &sub), 0);
  imsec_crypto *cr;
  imsec_hss *hss;
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  assert_int_equal(imsec_hss_new(&hss, hs, cr, NULL), 0);
  assert_int_equal(imsec_hss_set_sqn_range(hss, 4, 0), 0);
  imsec_svc *local, *w;
  imsec_svc_local_config cfg = {.hss = hss, .reg = reg};
  assert_int_equal(imsec_svc_local_new(&local, &cfg), 0);
  assert_int_equal(imsec_svc_worker_new(&w, local, 256), 0);
  replies r;
  replies_init(&r);
  for (uint64_t i = 1; i <= 30; i++) {
    save_req(w, i, &r);
    if (i % 3 == 0)
      assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 100 + i, &r), 0);
  }
  wait_replies(&r, 40);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(r.status[i], 0);
    assert_false(r.on_main[i]);
  }
  imsec_svc_del(w);
  imsec_svc_del(local);
  /* Ten vectors in ranges of four: the stored mark covers all of them. */
  imsec_hss_sub back;
  assert_int_equal(
      hs->vt->load(hs, imsec_str_c("alice@ims.example.org"), &back), 0);
  assert_true(back.sqn.seq >= 10);
  imsec_hss_sub_wipe(&back);
  imsec_hss_del(hss);
  imsec_hss_store_del(hs);
  imsec_crypto_del(cr);
  imsec_reg_store_del(reg);
  assert_int_equal(imsec_reg_db_open(&reg, rpath, &o, err, sizeof(err)), 0);
  n = 0;
  assert_int_equal(reg->vt->load(reg, 0, count_rec, &n), 0);
  assert_int_equal(n, 30);
  imsec_reg_store_del(reg);
  replies_fini(&r);
  char cmd[96];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static double sample(const imsec_metrics *m, const char *name,
                     const char *labels) {
  const imsec_metric_family *f = imsec_metrics_find(m, name);
  for (size_t i = 0; f && i < f->n; i++)
    if (strcmp(f->s[i].labels ? f->s[i].labels : "", labels) == 0)
      return f->s[i].value;
  return -1;
}

/* Operations: the worker counts its queue by store (the request in hand
 * is not queued any more) and passes the inner service's metrics and
 * listings on; a split gives both parts' rows of a listing with the same
 * columns, and each part's metrics once. */
static void operations(void **state) {
  (void)state;
  slow sl;
  slow_init(&sl, 0, 0);
  replies r;
  replies_init(&r);
  imsec_svc *w;
  assert_int_equal(imsec_svc_worker_new(&w, &sl.base, 8), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_SUB, 1, &r), 0);
  slow_wait_started(&sl, 1);
  assert_int_equal(submit(w, IMSEC_SVC_REG_SAVE, 2, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_REG_DELETE, 3, &r), 0);
  assert_int_equal(submit(w, IMSEC_SVC_HSS_VECTOR, 4, &r), 0);
  imsec_metrics m = {0};
  imsec_svc_metrics(w, &m);
  assert_int_equal(m.err, 0);
  assert_true(
      sample(&m, "imsec_store_queue_depth", "store=\"registrations\"") == 2);
  assert_true(sample(&m, "imsec_store_queue_depth", "store=\"hss\"") == 1);
  /* No UE request was ever seen: no sample for it. */
  assert_true(sample(&m, "imsec_store_queue_depth", "store=\"ue\"") == -1);
  assert_true(sample(&m, "test_inner", "") == 7);
  imsec_metrics_free(&m);

  imsec_table t;
  memset(&t, 0, sizeof t);
  assert_int_equal(imsec_svc_list(w, "peers", &t), 0);
  assert_int_equal(t.nrows, 1);
  imsec_table_free(&t);
  memset(&t, 0, sizeof t);
  assert_int_equal(imsec_svc_list(w, "flows", &t), IMSEC_ERR_UNSUPPORTED);
  imsec_table_free(&t);

  /* A split over the worker and the slow service itself: two "peers"
   * rows; the inner metrics from both parts. */
  imsec_svc *sp;
  assert_int_equal(imsec_svc_split_new(&sp, w, &sl.base), 0);
  memset(&t, 0, sizeof t);
  assert_int_equal(imsec_svc_list(sp, "peers", &t), 0);
  assert_int_equal(t.nrows, 2);
  imsec_table_free(&t);
  memset(&m, 0, sizeof m);
  imsec_svc_metrics(sp, &m);
  assert_true(sample(&m, "test_inner", "") == 14); /* summed: two parts */
  assert_true(
      sample(&m, "imsec_store_queue_depth", "store=\"registrations\"") == 2);
  imsec_metrics_free(&m);
  imsec_svc_del(sp);

  slow_open(&sl);
  wait_replies(&r, 4);
  memset(&m, 0, sizeof m);
  imsec_svc_metrics(w, &m);
  assert_true(
      sample(&m, "imsec_store_queue_depth", "store=\"registrations\"") == 0);
  imsec_metrics_free(&m);
  imsec_svc_del(w);
  replies_fini(&r);
  slow_fini(&sl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(in_order_off_thread),
      cmocka_unit_test(queue_full),
      cmocka_unit_test(destroy_drains_writes),
      cmocka_unit_test(stop_then_del),
      cmocka_unit_test(operations),
      cmocka_unit_test(local_over_sqlite),
      cmocka_unit_test(group_commit_sqlite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
