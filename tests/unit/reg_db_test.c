/* store/reg_db: the SQLite registration store. Records are saved whole
 * and replaced whole, expiry is absolute so it holds across a reopen,
 * expired bindings are purged from the file, the file is 0600 and one
 * readable by others is refused, another connection's lock gives
 * IMSEC_ERR_BUSY after a bounded wait, and the tables can share the HSS's
 * file. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imsec/regdb.h"
#include "imsec/hss_db.h"
#include "test_util.h"

#define T0 INT64_C(1780000000000) /* wall-clock ms */

typedef struct fx {
  char dir[64];
  char path[128];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/imsec_regdb_XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof(f->path), "%s/reg.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A record of `impi` with `n` bindings, binding i expiring in ttl[i]. */
static void mk(imsec_reg_record *r, const char *impi, size_t n,
               const int64_t *ttl) {
  static char *impus[2] = {(char *)"sip:alice@ims.example.org",
                           (char *)"tel:+15551234"};
  imsec_reg_binding b[4];
  char contact[4][64];
  for (size_t i = 0; i < n; i++) {
    snprintf(contact[i], sizeof(contact[i]), "sip:%s@10.0.0.%zu:5061", impi,
             i + 1);
    b[i] = (imsec_reg_binding){
        .contact = contact[i],
        .path = i == 0 ? (char *)"<sip:tok@pcscf.example.org;lr>" : NULL,
        .instance = i == 1 ? (char *)"\"<urn:uuid:00000000-0000-0000-0000-"
                                     "000000000001>\""
                           : NULL,
        .reg_id = i == 1 ? 1 : -1,
        .ttl_ms = ttl[i],
        .peer = i == 0 ? (char *)"pcscf1.ims.example.org" : NULL,
        .order = 100 + i};
  }
  imsec_reg_record tmp = {.impi = (char *)impi,
                          .impus = impus,
                          .n_impus = 2,
                          .service_route = (char *)"<sip:orig@scscf;lr>",
                          .b = b,
                          .n = n};
  assert_int_equal(imsec_reg_record_copy(r, &tmp), 0);
}

typedef struct seen {
  int n;
  imsec_reg_record r[8];
} seen;

static int collect(void *arg, const imsec_reg_record *r) {
  seen *s = arg;
  if (s->n >= 8)
    return 1;
  assert_int_equal(imsec_reg_record_copy(&s->r[s->n++], r), 0);
  return 0;
}

static void seen_free(seen *s) {
  for (int i = 0; i < s->n; i++)
    imsec_reg_record_free(&s->r[i]);
  s->n = 0;
}

static imsec_reg_store *open_ok(fx *f, int wal) {
  imsec_reg_store *st;
  char err[256] = "";
  imsec_hss_db_opts o = {.create = 1, .writable = 1, .wal = wal};
  int rv = imsec_reg_db_open(&st, f->path, &o, err, sizeof(err));
  if (rv != 0)
    fprintf(stderr, "open: %s\n", err);
  assert_int_equal(rv, 0);
  return st;
}

static long long count(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void save_load_del(fx *f, int wal) {
  imsec_reg_store *st = open_ok(f, wal);
  imsec_reg_record a, b;
  int64_t ttl_a[2] = {60000, 3600000}, ttl_b[1] = {30000};
  mk(&a, "alice@ims.example.org", 2, ttl_a);
  mk(&b, "bob@ims.example.org", 1, ttl_b);
  b.digest = 1; /* registered with SIP Digest */
  assert_int_equal(st->vt->save(st, &b, T0), 0);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0 + 1000, collect, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.r[0].digest, 0);
  assert_int_equal(s.r[1].digest, 1);
  /* IMPI order; every field back; ttl relative to the load's now. */
  const imsec_reg_record *r = &s.r[0];
  assert_string_equal(r->impi, "alice@ims.example.org");
  assert_int_equal(r->n_impus, 2);
  assert_string_equal(r->impus[0], "sip:alice@ims.example.org");
  assert_string_equal(r->impus[1], "tel:+15551234");
  assert_string_equal(r->service_route, "<sip:orig@scscf;lr>");
  assert_int_equal(r->n, 2);
  assert_string_equal(r->b[0].contact,
                      "sip:alice@ims.example.org@10.0.0.1:5061");
  assert_string_equal(r->b[0].path, "<sip:tok@pcscf.example.org;lr>");
  assert_null(r->b[0].instance);
  assert_int_equal(r->b[0].reg_id, -1);
  assert_int_equal(r->b[0].ttl_ms, 59000);
  assert_string_equal(r->b[0].peer, "pcscf1.ims.example.org");
  assert_int_equal(r->b[0].order, 100);
  assert_null(r->b[1].path);
  assert_non_null(strstr(r->b[1].instance, "urn:uuid:"));
  assert_int_equal(r->b[1].reg_id, 1);
  assert_int_equal(r->b[1].ttl_ms, 3599000);
  assert_null(r->b[1].peer);
  assert_int_equal(r->b[1].order, 101);
  assert_string_equal(s.r[1].impi, "bob@ims.example.org");
  seen_free(&s);
  /* A non-zero return of the callback stops the walk and is returned. */
  assert_int_equal(st->vt->load(st, T0 + 1000, collect, &(seen){.n = 8}), 1);

  /* Delete, then it is gone; again: not found. */
  assert_int_equal(st->vt->del(st, "bob@ims.example.org"), 0);
  assert_int_equal(st->vt->del(st, "bob@ims.example.org"), IMSEC_ERR_NOTFOUND);
  assert_int_equal(st->vt->load(st, T0 + 1000, collect, &s), 0);
  assert_int_equal(s.n, 1);
  seen_free(&s);
  assert_int_equal(count(f->path, "SELECT count(*) FROM binding"), 2);
  imsec_reg_record_free(&a);
  imsec_reg_record_free(&b);
  imsec_reg_store_del(st);
}

static void save_load_del_rollback(void **state) {
  save_load_del(*state, 0);
}

static void save_load_del_wal(void **state) {
  fx *f = *state;
  save_load_del(f, 1);
  assert_int_equal(count(f->path, "SELECT count(*) FROM pragma_journal_mode"
                                  " WHERE journal_mode = 'wal'"),
                   1);
  /* The log beside the file is as private as the file. */
  char wal[160];
  snprintf(wal, sizeof(wal), "%s-wal", f->path);
  struct stat sb;
  if (stat(wal, &sb) == 0)
    assert_int_equal(sb.st_mode & 077, 0);
}

/* Absolute expiry: a reopen later in wall-clock time sees what is left;
 * the expired rows are deleted from the file, not just skipped. */
static void expiry_across_reopen(void **state) {
  fx *f = *state;
  imsec_reg_store *st = open_ok(f, 0);
  imsec_reg_record a, b;
  int64_t ttl_a[2] = {5000, 60000}, ttl_b[1] = {5000};
  mk(&a, "alice@ims.example.org", 2, ttl_a);
  mk(&b, "bob@ims.example.org", 1, ttl_b);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  assert_int_equal(st->vt->save(st, &b, T0), 0);
  imsec_reg_store_del(st);

  st = open_ok(f, 0);
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0 + 10000, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.r[0].impi, "alice@ims.example.org");
  assert_int_equal(s.r[0].n, 1);
  assert_int_equal(s.r[0].b[0].ttl_ms, 50000);
  assert_int_equal(s.r[0].b[0].order, 101);
  seen_free(&s);
  assert_int_equal(count(f->path, "SELECT count(*) FROM binding"), 1);
  assert_int_equal(count(f->path, "SELECT count(*) FROM registration"), 1);
  assert_int_equal(count(f->path, "SELECT count(*) FROM reg_impu"), 2);
  /* At the exact expiry instant the binding is gone (expiry - now = 0). */
  assert_int_equal(st->vt->load(st, T0 + 60000, collect, &s), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(count(f->path, "SELECT count(*) FROM registration"), 0);
  assert_int_equal(count(f->path, "SELECT count(*) FROM reg_impu"), 0);
  imsec_reg_record_free(&a);
  imsec_reg_record_free(&b);
  imsec_reg_store_del(st);
}

/* save replaces the IMPI's whole record. */
static void replace(void **state) {
  fx *f = *state;
  imsec_reg_store *st = open_ok(f, 0);
  imsec_reg_record a;
  int64_t ttl3[3] = {60000, 60000, 60000}, ttl1[1] = {120000};
  mk(&a, "alice@ims.example.org", 3, ttl3);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  imsec_reg_record_free(&a);
  mk(&a, "alice@ims.example.org", 1, ttl1);
  free(a.service_route);
  a.service_route = NULL;
  a.n_impus = 1;
  free(a.impus[1]);
  assert_int_equal(st->vt->save(st, &a, T0 + 5000), 0);
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0 + 5000, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.r[0].n, 1);
  assert_int_equal(s.r[0].n_impus, 1);
  assert_null(s.r[0].service_route);
  assert_int_equal(s.r[0].b[0].ttl_ms, 120000);
  seen_free(&s);
  assert_int_equal(count(f->path, "SELECT count(*) FROM binding"), 1);
  imsec_reg_record_free(&a);
  imsec_reg_store_del(st);
}

static void permissions(void **state) {
  fx *f = *state;
  imsec_reg_store *st;
  char err[256];
  /* No file, no create: not found. */
  imsec_hss_db_opts o = {0};
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_NOTFOUND);
  st = open_ok(f, 0);
  imsec_reg_store_del(st);
  struct stat sb;
  assert_int_equal(stat(f->path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  /* Readable by the group: refused, and the message says why. */
  assert_int_equal(chmod(f->path, 0640), 0);
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "chmod 600"));
  assert_int_equal(chmod(f->path, 0604), 0);
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_PERM);
  assert_int_equal(chmod(f->path, 0600), 0);
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)), 0);
  imsec_reg_store_del(st);
  /* A schema version from a later build: refused. */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1024", 0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_UNSUPPORTED);
  /* An SQLite file without the tables, create 0: not found. */
  char other[160];
  snprintf(other, sizeof(other), "%s/other.db", f->dir);
  assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", 0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(chmod(other, 0600), 0);
  assert_int_equal(imsec_reg_db_open(&st, other, &o, err, sizeof(err)),
                   IMSEC_ERR_NOTFOUND);
}

/* Another connection holds the lock: each call waits at most its bound,
 * then IMSEC_ERR_BUSY with nothing done; the open says TIMEOUT. */
static void locked(void **state) {
  fx *f = *state;
  imsec_reg_store *st = open_ok(f, 0);
  imsec_reg_store_del(st);
  char err[256];
  imsec_hss_db_opts o = {.timeout_ms = 100, .call_wait_ms = 20};
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)), 0);
  imsec_reg_record a;
  int64_t ttl[1] = {60000};
  mk(&a, "alice@ims.example.org", 1, ttl);

  sqlite3 *lk;
  assert_int_equal(sqlite3_open(f->path, &lk), SQLITE_OK);
  assert_int_equal(sqlite3_exec(lk, "BEGIN EXCLUSIVE", 0, 0, 0), SQLITE_OK);
  int64_t t0 = ms_now();
  assert_int_equal(st->vt->save(st, &a, T0), IMSEC_ERR_BUSY);
  int64_t first = ms_now() - t0;
  /* The first call waited its bound (20 ms), not the open's 100 ms... */
  assert_true(first >= 15 && first < 90);
  /* ... and later calls, while it lasts, do not wait at all. */
  t0 = ms_now();
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0, collect, &s), IMSEC_ERR_BUSY);
  assert_int_equal(st->vt->del(st, "alice@ims.example.org"), IMSEC_ERR_BUSY);
  assert_int_equal(st->vt->save(st, &a, T0), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 < 15);
  /* Opening now: the open's own bound, then TIMEOUT. */
  imsec_reg_store *st2;
  t0 = ms_now();
  assert_int_equal(imsec_reg_db_open(&st2, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_TIMEOUT);
  assert_true(ms_now() - t0 < 1000);
  assert_non_null(strstr(err, "locked"));
  assert_int_equal(sqlite3_exec(lk, "ROLLBACK", 0, 0, 0), SQLITE_OK);
  sqlite3_close(lk);
  /* Nothing was saved while locked; now it works at once. */
  assert_int_equal(count(f->path, "SELECT count(*) FROM registration"), 0);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  assert_int_equal(st->vt->load(st, T0, collect, &s), 0);
  assert_int_equal(s.n, 1);
  seen_free(&s);
  imsec_reg_record_free(&a);
  imsec_reg_store_del(st);
}

/* The HSS's file holds the registration tables too; each store keeps its
 * own schema version and neither disturbs the other. */
static void shared_with_hss(void **state) {
  fx *f = *state;
  char err[256];
  imsec_hss_store *hs;
  assert_int_equal(imsec_hss_db_open(&hs, f->path, 1, err, sizeof(err)), 0);
  imsec_hss_sub sub;
  memset(&sub, 0, sizeof(sub));
  strcpy(sub.impi, "alice@ims.example.org");
  strcpy(sub.impus[0], "sip:alice@ims.example.org");
  sub.n_impus = 1;
  sub.amf[0] = 0x80;
  sub.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(hs->vt->add(hs, &sub), 0);
  /* Registration tables beside the subscriber tables, both open. */
  imsec_reg_store *st = open_ok(f, 0);
  imsec_reg_record a;
  int64_t ttl[1] = {60000};
  mk(&a, "alice@ims.example.org", 1, ttl);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  imsec_sqn_he q = {.seq = 7};
  assert_int_equal(hs->vt->save_sqn(hs, imsec_str_c(sub.impi), &q), 0);
  imsec_hss_store_del(hs);
  imsec_reg_store_del(st);
  /* The HSS's octet (version 2) and the registrations' (version 3). */
  assert_int_equal(count(f->path, "PRAGMA user_version") & 0xff, 2);
  assert_int_equal(count(f->path, "PRAGMA user_version") >> 8 & 0xff, 3);
  /* Both reopen without create. */
  assert_int_equal(imsec_hss_db_open(&hs, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(hs->vt->load(hs, imsec_str_c(sub.impi), &sub), 0);
  assert_int_equal(sub.sqn.seq, 7);
  imsec_hss_sub_wipe(&sub);
  imsec_hss_store_del(hs);
  imsec_hss_db_opts o = {0};
  assert_int_equal(imsec_reg_db_open(&st, f->path, &o, err, sizeof(err)), 0);
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0, collect, &s), 0);
  assert_int_equal(s.n, 1);
  seen_free(&s);
  imsec_reg_store_del(st);
  /* A registration-only file is no HSS database. */
  char other[160];
  snprintf(other, sizeof(other), "%s/reg-only.db", f->dir);
  imsec_hss_db_opts oc = {.create = 1};
  assert_int_equal(imsec_reg_db_open(&st, other, &oc, err, sizeof(err)), 0);
  imsec_reg_store_del(st);
  assert_int_equal(imsec_hss_db_open(&hs, other, 0, err, sizeof(err)),
                   IMSEC_ERR_IO);
  imsec_reg_record_free(&a);
}

/* get and expire, for S-CSCFs sharing the file: a record found by its
 * IMPI or by an IMPU of its implicit set, live bindings only; expire
 * drops what has expired in one transaction, and of two connections
 * expiring one record only the first is told gone. */
static void get_expire(void **state) {
  fx *f = *state;
  imsec_reg_store *st = open_ok(f, 1), *st2 = open_ok(f, 1);
  imsec_reg_record a, r;
  int64_t ttl_a[2] = {60000, 3600000};
  mk(&a, "alice@ims.example.org", 2, ttl_a);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  imsec_reg_record_free(&a);
  assert_int_equal(st->vt->get(st, "alice@ims.example.org", T0 + 1000, &r), 0);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.n_impus, 2);
  assert_true(r.b[0].ttl_ms == 59000);
  imsec_reg_record_free(&r);
  assert_int_equal(st2->vt->get(st2, "tel:+15551234", T0 + 61000, &r), 0);
  assert_string_equal(r.impi, "alice@ims.example.org");
  assert_int_equal(r.n, 1); /* the expired binding left out */
  assert_int_equal(r.b[0].order, 101);
  imsec_reg_record_free(&r);
  assert_int_equal(st->vt->get(st, "bob@ims.example.org", T0, &r),
                   IMSEC_ERR_NOTFOUND);
  assert_null(r.impi);
  assert_int_equal(st->vt->get(st, "sip:bob@ims.example.org", T0, &r),
                   IMSEC_ERR_NOTFOUND);
  /* Reads remove nothing. */
  assert_int_equal(count(f->path, "SELECT COUNT(*) FROM binding"), 2);

  int gone = -1;
  assert_int_equal(
      st->vt->expire(st, "alice@ims.example.org", T0 + 61000, &r, &gone), 0);
  assert_int_equal(gone, 0);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.impus[1], "tel:+15551234");
  imsec_reg_record_free(&r);
  assert_int_equal(count(f->path, "SELECT COUNT(*) FROM binding"), 1);
  assert_int_equal(
      st2->vt->expire(st2, "alice@ims.example.org", T0 + 3600000, &r, &gone),
      0);
  assert_int_equal(gone, 1);
  assert_int_equal(r.n, 0);
  assert_null(r.impi);
  assert_int_equal(
      st->vt->expire(st, "alice@ims.example.org", T0 + 3600000, &r, &gone), 0);
  assert_int_equal(gone, 0);
  assert_int_equal(r.n, 0);
  assert_int_equal(count(f->path, "SELECT COUNT(*) FROM registration"), 0);
  assert_int_equal(count(f->path, "SELECT COUNT(*) FROM reg_impu"), 0);
  assert_int_equal(st->vt->get(st, "tel:+15551234", T0, &r),
                   IMSEC_ERR_NOTFOUND);

  /* An IMPU in two implicit sets: the record with a live binding. */
  imsec_reg_record b;
  int64_t ttl_old[1] = {1000}, ttl_new[1] = {60000};
  mk(&a, "a0@ims.example.org", 1, ttl_old);
  mk(&b, "b0@ims.example.org", 1, ttl_new);
  assert_int_equal(st->vt->save(st, &a, T0), 0);
  assert_int_equal(st->vt->save(st, &b, T0), 0);
  assert_int_equal(st->vt->get(st, "tel:+15551234", T0 + 2000, &r), 0);
  assert_string_equal(r.impi, "b0@ims.example.org");
  imsec_reg_record_free(&r);
  imsec_reg_record_free(&a);
  imsec_reg_record_free(&b);
  imsec_reg_store_del(st);
  imsec_reg_store_del(st2);
}

/* A file of version 1 (before registration.digest) is brought up to
 * the current version (3) when opened, its records kept as IMS AKA ones; the
 * HSS's octet of the version is left alone. */
static void migrate_v1(void **state) {
  fx *f = *state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(
          db,
          "CREATE TABLE registration(impi TEXT PRIMARY KEY NOT NULL,"
          " service_route TEXT);"
          "CREATE TABLE reg_impu(impi TEXT NOT NULL REFERENCES"
          " registration(impi) ON DELETE CASCADE, pos INTEGER NOT NULL,"
          " impu TEXT NOT NULL, PRIMARY KEY(impi, pos));"
          "CREATE TABLE binding(impi TEXT NOT NULL REFERENCES"
          " registration(impi) ON DELETE CASCADE, pos INTEGER NOT NULL,"
          " contact TEXT, path TEXT, instance TEXT, reg_id INTEGER NOT NULL,"
          " expires_ms INTEGER NOT NULL, peer TEXT, ord INTEGER NOT NULL,"
          " PRIMARY KEY(impi, pos));"
          "CREATE INDEX binding_expiry ON binding(expires_ms);"
          "INSERT INTO registration VALUES('old@ims.example.org', NULL);"
          "INSERT INTO reg_impu VALUES('old@ims.example.org', 0,"
          " 'sip:old@ims.example.org');"
          "INSERT INTO binding VALUES('old@ims.example.org', 0,"
          " 'sip:old@10.0.0.9', NULL, NULL, -1, 1780000060000, NULL, 5);"
          "PRAGMA user_version = 257;",
          0, 0, 0),
      SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(chmod(f->path, 0600), 0);
  imsec_reg_store *st = open_ok(f, 0);
  assert_int_equal(count(f->path, "PRAGMA user_version"), 1 | 3 << 8);
  seen s = {0};
  assert_int_equal(st->vt->load(st, T0, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.r[0].impi, "old@ims.example.org");
  assert_int_equal(s.r[0].digest, 0);
  assert_int_equal(s.r[0].n, 1);
  assert_int_equal(s.r[0].b[0].ttl_ms, 60000);
  /* The new column is written and read back. */
  s.r[0].digest = 1;
  assert_int_equal(st->vt->save(st, &s.r[0], T0), 0);
  seen_free(&s);
  imsec_reg_store_del(st);
  st = open_ok(f, 0);
  assert_int_equal(st->vt->load(st, T0, collect, &s), 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.r[0].digest, 1);
  seen_free(&s);
  imsec_reg_store_del(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(save_load_del_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(save_load_del_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(expiry_across_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(replace, setup, teardown),
      cmocka_unit_test_setup_teardown(permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(locked, setup, teardown),
      cmocka_unit_test_setup_teardown(shared_with_hss, setup, teardown),
      cmocka_unit_test_setup_teardown(migrate_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(get_expire, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
