/* store/hss_pg.c against a private PostgreSQL (tests/support/with_pg.py
 * starts one on loopback and runs this program again with IMSEC_PG_URL):
 * the store vtable's contract as the SQLite store keeps it, the SQN
 * compare and set, a lock held by another session (a bounded wait, then
 * IMSEC_ERR_BUSY), a connection the server drops (re-opened), no password
 * in an error, and two HSS front-ends on two connections handing out
 * vectors for one IMPI at once: no SQN twice (TS 33.102 C.3). */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsec/crypto_ossl.h"
#include "imsec/hss.h"
#include "imsec/hss_pg.h"
#include "test_util.h"

/* TS 35.208 test set 1. */
#define K1 "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OP1 "cdc202d5123e20f62b6d676ac72cb318"
#define IMPI "alice@ims.example.org"

static const char *url;

typedef struct fx {
  PGconn *admin; /* the test's own session, to hold locks and kill ours */
  imsec_hss_store *st;
} fx;

static void admin_exec(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType s = PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
}

static void mk_sub(imsec_hss_sub *s, const char *impi, const char *impu) {
  memset(s, 0, sizeof(*s));
  strcpy(s->impi, impi);
  strcpy(s->impus[0], impu);
  s->n_impus = 1;
  t_hex(K1, s->k, 16);
  t_hex(OP1, s->op, 16);
  s->amf[0] = 0x80;
  s->aka = IMSEC_HSS_AKAV1;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  imsec_hss_db_opts o = {.create = 1, .writable = 1, .call_wait_ms = 200};
  char err[512];
  if (!f || imsec_hss_pg_open(&f->st, url, &o, err, sizeof(err)) != 0) {
    fprintf(stderr, "open: %s\n", err);
    return -1;
  }
  f->admin = PQconnectdb(url);
  if (PQstatus(f->admin) != CONNECTION_OK)
    return -1;
  admin_exec(f->admin, "SET client_min_messages = warning");
  admin_exec(f->admin, "TRUNCATE subscriber CASCADE");
  imsec_hss_sub s;
  mk_sub(&s, IMPI, "sip:alice@ims.example.org");
  strcpy(s.impus[1], "tel:+15551234");
  s.n_impus = 2;
  if (f->st->vt->add(f->st, &s) != 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  imsec_hss_store_del(f->st);
  PQfinish(f->admin);
  free(f);
  return 0;
}

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

/* What the SQLite store does, this one does. */
static void contract(void **state) {
  fx *f = *state;
  imsec_hss_store *st = f->st;
  imsec_hss_sub s, got;
  /* The same IMPI, or an IMPU of another: EXISTS, and nothing of the
   * refused record stays. */
  mk_sub(&s, IMPI, "sip:other@ims.example.org");
  assert_int_equal(st->vt->add(st, &s), IMSEC_ERR_EXISTS);
  mk_sub(&s, "carol@ims.example.org", "tel:+15551234");
  assert_int_equal(st->vt->add(st, &s), IMSEC_ERR_EXISTS);
  assert_int_equal(st->vt->load(st, S("carol@ims.example.org"), &got),
                   IMSEC_ERR_NOTFOUND);
  /* A record with its secrets and its IMPUs in order, by IMPI or IMPU. */
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_string_equal(got.impi, IMPI);
  assert_int_equal(got.n_impus, 2);
  assert_string_equal(got.impus[0], "sip:alice@ims.example.org");
  assert_string_equal(got.impus[1], "tel:+15551234");
  t_assert_hex(got.k, 16, K1);
  t_assert_hex(got.op, 16, OP1);
  assert_int_equal(got.amf[0], 0x80);
  assert_int_equal(got.aka, IMSEC_HSS_AKAV1);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_AKA);
  memset(&got, 0, sizeof(got));
  assert_int_equal(st->vt->find_impu(st, S("tel:+15551234"), &got), 0);
  assert_string_equal(got.impi, IMPI);
  assert_int_equal(st->vt->find_impu(st, S("tel:+1"), &got),
                   IMSEC_ERR_NOTFOUND);
  /* Octets that are no UTF-8 text cannot name anyone. */
  assert_int_equal(st->vt->load(st, S("\xff\xfe@x"), &got), IMSEC_ERR_NOTFOUND);
  /* The SQN state: a plain save, then compare and set. */
  imsec_sqn_he a = {.seq = 7, .ind_next = 3}, b = {.seq = 40, .ind_next = 4};
  assert_int_equal(st->vt->save_sqn(st, S(IMPI), &a), 0);
  assert_int_equal(st->vt->reserve_sqn(st, S(IMPI), &b, &b), IMSEC_ERR_STALE);
  imsec_sqn_he wrong_ind = {.seq = 7, .ind_next = 4};
  assert_int_equal(st->vt->reserve_sqn(st, S(IMPI), &wrong_ind, &b),
                   IMSEC_ERR_STALE);
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_true(got.sqn.seq == 7 && got.sqn.ind_next == 3);
  assert_int_equal(st->vt->reserve_sqn(st, S(IMPI), &a, &b), 0);
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_true(got.sqn.seq == 40 && got.sqn.ind_next == 4);
  assert_int_equal(st->vt->reserve_sqn(st, S("nobody@x"), &a, &b),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(st->vt->save_sqn(st, S("nobody@x"), &a), IMSEC_ERR_NOTFOUND);
  /* A SIP Digest subscriber: realm and H(A1)s kept, a password change. */
  imsec_crypto *c;
  assert_int_equal(imsec_crypto_ossl_new(&c), 0);
  mk_sub(&s, "bob@ims.example.org", "sip:bob@ims.example.org");
  const char *pw = "pw1";
  assert_int_equal(
      imsec_hss_digest_set(&s, c, S(""), (imsec_bytes){(const uint8_t *)pw, 3}),
      0);
  assert_int_equal(st->vt->add(st, &s), 0);
  assert_int_equal(st->vt->load(st, S("bob@ims.example.org"), &got), 0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(got.digest.realm, "ims.example.org");
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  imsec_hss_digest d = s.digest;
  strcpy(d.realm, "other.realm");
  d.ha1[IMSEC_HSS_HA1_SHA256][IMSEC_HSS_USER_PART][0] ^= 1;
  assert_int_equal(st->vt->set_digest(st, S("bob@ims.example.org"), &d), 0);
  assert_int_equal(st->vt->load(st, S("bob@ims.example.org"), &got), 0);
  assert_string_equal(got.digest.realm, "other.realm");
  assert_memory_equal(got.digest.ha1, d.ha1, sizeof(d.ha1));
  assert_int_equal(st->vt->set_digest(st, S(IMPI), &d), IMSEC_ERR_INVAL);
  assert_int_equal(st->vt->set_digest(st, S("nobody@x"), &d),
                   IMSEC_ERR_NOTFOUND);
  imsec_crypto_del(c);
  /* Delete: its IMPUs go with it. */
  assert_int_equal(st->vt->del(st, S("bob@ims.example.org")), 0);
  assert_int_equal(st->vt->del(st, S("bob@ims.example.org")),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(st->vt->find_impu(st, S("sip:bob@ims.example.org"), &got),
                   IMSEC_ERR_NOTFOUND);
  imsec_hss_sub_wipe(&got);
  imsec_hss_sub_wipe(&s);
}

typedef struct walk {
  char impi[4][IMSEC_HSS_ID_MAX];
  int n, secrets;
} walk;

static int walk_one(void *arg, const imsec_hss_sub *sub) {
  walk *w = arg;
  static const uint8_t zero[16];
  if (memcmp(sub->k, zero, 16) || memcmp(sub->op, zero, 16))
    w->secrets++;
  if (w->n < 4)
    strcpy(w->impi[w->n], sub->impi);
  w->n++;
  return 0;
}

/* list walks in IMPI order (octets) and reads no secret. */
static void list_order(void **state) {
  fx *f = *state;
  imsec_hss_sub s;
  mk_sub(&s, "Zed@ims.example.org", "sip:zed@ims.example.org");
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
  mk_sub(&s, "bob@ims.example.org", "sip:bob@ims.example.org");
  assert_int_equal(f->st->vt->add(f->st, &s), 0);
  walk w = {0};
  assert_int_equal(f->st->vt->list(f->st, walk_one, &w), 0);
  assert_int_equal(w.n, 3);
  assert_int_equal(w.secrets, 0);
  assert_string_equal(w.impi[0], "Zed@ims.example.org");
  assert_string_equal(w.impi[1], IMPI);
  assert_string_equal(w.impi[2], "bob@ims.example.org");
}

/* Without create, a database without the tables is NOTFOUND; a server
 * that is not there is IO, and the error never shows the password. */
static void open_errors(void **state) {
  (void)state;
  char other[512], err[512];
  snprintf(other, sizeof(other), "%s", url);
  char *slash = strrchr(other, '/');
  assert_non_null(slash);
  strcpy(slash + 1, "postgres");
  imsec_hss_store *st = NULL;
  assert_int_equal(imsec_hss_pg_open(&st, other, NULL, err, sizeof(err)),
                   IMSEC_ERR_NOTFOUND);
  assert_non_null(strstr(err, "no imsec HSS tables"));
  assert_int_equal(
      imsec_hss_pg_open(&st, "postgresql://u:s3kr1t@127.0.0.1:1/x?password=p2",
                        NULL, err, sizeof(err)),
      IMSEC_ERR_IO);
  assert_null(strstr(err, "s3kr1t"));
  assert_null(strstr(err, "p2"));
  assert_non_null(strstr(err, "cannot connect"));
  assert_true(imsec_hss_pg_is_url("postgres://h/d"));
  assert_false(imsec_hss_pg_is_url("/tmp/hss.db"));
  assert_int_equal(imsec_hss_pg_open(&st, "/tmp/hss.db", NULL, err, 8),
                   IMSEC_ERR_INVAL);
}

/* The URL of the same database as another role. */
static void url_as(const char *role, char *out, size_t cap) {
  const char *at = strchr(url, '@');
  assert_non_null(at);
  snprintf(out, cap, "postgresql://%s%s", role, at);
}

/* A role that may only read the subscribers, or whose transactions are
 * read-only (as on a standby): a daemon's open (writable) refuses it at
 * start-up; the management commands' reads still work. */
static void read_only(void **state) {
  fx *f = *state;
  admin_exec(f->admin, "DROP ROLE IF EXISTS imsec_ro");
  admin_exec(f->admin, "DROP ROLE IF EXISTS imsec_standby");
  admin_exec(f->admin, "CREATE ROLE imsec_ro LOGIN");
  admin_exec(f->admin, "GRANT SELECT ON subscriber, impu, imsec_schema"
                       " TO imsec_ro");
  admin_exec(f->admin, "CREATE ROLE imsec_standby LOGIN");
  admin_exec(f->admin, "GRANT ALL ON subscriber, impu, imsec_schema"
                       " TO imsec_standby");
  admin_exec(f->admin, "ALTER ROLE imsec_standby SET"
                       " default_transaction_read_only = on");
  static const char *const roles[] = {"imsec_ro", "imsec_standby"};
  for (size_t i = 0; i < 2; i++) {
    char u[512], err[512];
    url_as(roles[i], u, sizeof(u));
    imsec_hss_db_opts o = {.writable = 1};
    imsec_hss_store *st = NULL;
    assert_int_equal(imsec_hss_pg_open(&st, u, &o, err, sizeof(err)),
                     IMSEC_ERR_IO);
    assert_non_null(strstr(err, "cannot be written"));
    assert_int_equal(imsec_hss_pg_open(&st, u, NULL, err, sizeof(err)), 0);
    imsec_hss_sub got;
    assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
    imsec_sqn_he a = {.seq = 1};
    assert_int_equal(st->vt->save_sqn(st, S(IMPI), &a), IMSEC_ERR_IO);
    imsec_hss_sub_wipe(&got);
    imsec_hss_store_del(st);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Another session holds the row: the call waits its bounded time, then
 * IMSEC_ERR_BUSY with nothing written; once the lock is gone it works. */
static void lock_bounded(void **state) {
  fx *f = *state;
  admin_exec(f->admin, "BEGIN");
  admin_exec(f->admin,
             "SELECT 1 FROM subscriber WHERE impi = '" IMPI "' FOR UPDATE");
  imsec_sqn_he a = {0}, b = {.seq = 5};
  double t0 = now_s();
  assert_int_equal(f->st->vt->reserve_sqn(f->st, S(IMPI), &a, &b),
                   IMSEC_ERR_BUSY);
  assert_int_equal(f->st->vt->save_sqn(f->st, S(IMPI), &b), IMSEC_ERR_BUSY);
  double took = now_s() - t0;
  assert_true(took >= 0.3 && took < 3.0); /* two waits of 200 ms */
  /* Reads are not blocked by a row lock. */
  imsec_hss_sub got;
  assert_int_equal(f->st->vt->load(f->st, S(IMPI), &got), 0);
  assert_int_equal(got.sqn.seq, 0);
  admin_exec(f->admin, "ROLLBACK");
  assert_int_equal(f->st->vt->reserve_sqn(f->st, S(IMPI), &a, &b), 0);
  imsec_hss_sub_wipe(&got);
}

/* The server drops the store's session (a restart, a failover): the next
 * call opens a new one and goes on. */
static void reconnect(void **state) {
  fx *f = *state;
  admin_exec(f->admin, "SELECT pg_terminate_backend(pid) FROM"
                       " pg_stat_activity WHERE application_name ="
                       " 'imsec-hss' AND pid <> pg_backend_pid()");
  usleep(100 * 1000);
  imsec_hss_sub got;
  assert_int_equal(f->st->vt->load(f->st, S(IMPI), &got), 0);
  assert_string_equal(got.impi, IMPI);
  imsec_sqn_he a = {.seq = 9};
  admin_exec(f->admin, "SELECT pg_terminate_backend(pid) FROM"
                       " pg_stat_activity WHERE application_name ="
                       " 'imsec-hss' AND pid <> pg_backend_pid()");
  usleep(100 * 1000);
  assert_int_equal(f->st->vt->save_sqn(f->st, S(IMPI), &a), 0);
  assert_int_equal(f->st->vt->load(f->st, S(IMPI), &got), 0);
  assert_int_equal(got.sqn.seq, 9);
  imsec_hss_sub_wipe(&got);
}

/* ------------------------------------------- two front-ends, one IMPI */

#define PER_FRONT 150

typedef struct front {
  imsec_hss_store *st;
  imsec_hss_store_vtable vt; /* the store's, reserve_sqn counted */
  const imsec_hss_store_vtable *inner;
  imsec_crypto *c;
  imsec_hss *h;
  uint32_t range;
  uint64_t seq[PER_FRONT];
  int n, busy, stale, err;
} front;

static front *fronts[2];

static int counted_reserve(imsec_hss_store *s, imsec_str impi,
                           const imsec_sqn_he *old, const imsec_sqn_he *next) {
  front *fr = fronts[0]->st == s ? fronts[0] : fronts[1];
  int rv = fr->inner->reserve_sqn(s, impi, old, next);
  if (rv == IMSEC_ERR_STALE)
    fr->stale++;
  return rv;
}

/* The SEQ inside a vector's AUTN, as the UE sees it. */
static uint64_t ue_seq(imsec_crypto *c, const imsec_aka_vector *v) {
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  uint8_t k[16], op[16], ak[6], sqn[6];
  t_hex(K1, k, 16);
  t_hex(OP1, op, 16);
  assert_int_equal(imsec_milenage_set_op(m, k, op), 0);
  assert_int_equal(imsec_milenage_f2345(m, v->rand, NULL, NULL, NULL, ak), 0);
  for (int i = 0; i < 6; i++)
    sqn[i] = v->autn[i] ^ ak[i];
  imsec_milenage_del(m);
  return imsec_sqn_to_u64(sqn) >> 5;
}

static void *front_run(void *arg) {
  front *fr = arg;
  while (fr->n < PER_FRONT) {
    imsec_aka_vector v;
    int rv = imsec_hss_vector(fr->h, S(IMPI), &v, NULL);
    if (rv == IMSEC_ERR_BUSY) { /* lost the race too often: again */
      fr->busy++;
      continue;
    }
    if (rv != 0) {
      fr->err = rv;
      break;
    }
    fr->seq[fr->n++] = ue_seq(fr->c, &v);
    imsec_aka_vector_wipe(&v);
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void front_round(uint32_t r0, uint32_t r1) {
  front fr[2];
  memset(fr, 0, sizeof(fr));
  char err[512];
  for (int i = 0; i < 2; i++) {
    imsec_hss_db_opts o = {.call_wait_ms = 2000};
    assert_int_equal(imsec_hss_pg_open(&fr[i].st, url, &o, err, sizeof(err)),
                     0);
    fr[i].inner = fr[i].st->vt;
    fr[i].vt = *fr[i].inner;
    fr[i].vt.reserve_sqn = counted_reserve;
    fr[i].st->vt = &fr[i].vt;
    fronts[i] = &fr[i];
    assert_int_equal(imsec_crypto_ossl_new(&fr[i].c), 0);
    assert_int_equal(imsec_hss_new(&fr[i].h, fr[i].st, fr[i].c, NULL), 0);
    fr[i].range = i ? r1 : r0;
    assert_int_equal(imsec_hss_set_sqn_range(fr[i].h, fr[i].range, 0), 0);
  }
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, front_run, &fr[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  uint64_t all[2 * PER_FRONT];
  size_t n = 0;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(fr[i].err, 0);
    assert_int_equal(fr[i].n, PER_FRONT);
    /* Each front-end's own SQNs only go up. */
    for (int j = 1; j < fr[i].n; j++)
      assert_true(fr[i].seq[j] > fr[i].seq[j - 1]);
    memcpy(all + n, fr[i].seq, sizeof(fr[i].seq));
    n += PER_FRONT;
  }
  qsort(all, n, sizeof(all[0]), cmp_u64);
  for (size_t j = 1; j < n; j++)
    if (all[j] == all[j - 1])
      fail_msg("SEQ %llu handed out twice (ranges %u, %u)",
               (unsigned long long)all[j], r0, r1);
  /* The durable mark covers everything handed out. */
  imsec_hss_sub got;
  assert_int_equal(fr[0].st->vt->load(fr[0].st, S(IMPI), &got), 0);
  assert_true(got.sqn.seq >= all[n - 1]);
  printf("ranges %u/%u: %zu vectors, SEQ %llu..%llu, lost races %d+%d, "
         "busy %d+%d\n",
         r0, r1, n, (unsigned long long)all[0], (unsigned long long)all[n - 1],
         fr[0].stale, fr[1].stale, fr[0].busy, fr[1].busy);
  imsec_hss_sub_wipe(&got);
  for (int i = 0; i < 2; i++) {
    imsec_hss_del(fr[i].h);
    imsec_crypto_del(fr[i].c);
    fr[i].st->vt = fr[i].inner;
    imsec_hss_store_del(fr[i].st);
  }
}

static void two_frontends(void **state) {
  (void)state;
  front_round(1, 1);  /* a write per vector: the hardest race */
  front_round(4, 7);  /* ranges of different sizes */
  front_round(32, 1); /* a cursor-holding front-end beside a writer */
}

int main(int argc, char **argv) {
  (void)argc;
  url = getenv("IMSEC_PG_URL");
  if (!url) {
    /* Again, with a private server for the duration of the run. */
    const char *src = getenv("IMSEC_SRC");
    char helper[4096];
    snprintf(helper, sizeof(helper), "%s/tests/support/with_pg.py",
             src ? src : ".");
    execlp("python3", "python3", helper, argv[0], (char *)NULL);
    perror("python3");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(contract, setup, teardown),
      cmocka_unit_test_setup_teardown(list_order, setup, teardown),
      cmocka_unit_test(open_errors),
      cmocka_unit_test_setup_teardown(read_only, setup, teardown),
      cmocka_unit_test_setup_teardown(lock_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(reconnect, setup, teardown),
      cmocka_unit_test_setup_teardown(two_frontends, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
