/* store/hss_db: the SQLite subscriber store. The SQN of every vector is
 * committed before the vector leaves the HSS (checked from a second
 * connection between vector calls and across a crash: a child process that
 * exits without closing); the SQN survives close and reopen; no two
 * vectors share an SQN; the file is 0600. SIP Digest subscribers keep
 * their realm and H(A1)s (never the password) and change them durably; a
 * version-1 file is upgraded in place, keeping its subscribers, or left
 * as it was when the upgrade cannot be written. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imsec/hss.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss_db.h"
#include "imsec/svc.h"
#include "test_util.h"

#define K1 "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC1 "cd63cb71954a9f4e48a5994e37a02baf"
#define IMPI "alice@ims.example.org"

typedef struct fx {
  char dir[64];
  char path[128];
  imsec_crypto *c;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  strcpy(f->dir, "/tmp/imsec_hssdb_XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof(f->path), "%s/hss.db", f->dir);
  if (imsec_crypto_ossl_new(&f->c))
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  if (system(cmd) != 0)
    return -1;
  imsec_crypto_del(f->c);
  free(f);
  return 0;
}

static imsec_str S(const char *s) {
  return imsec_str_c(s);
}

static void add_alice(imsec_hss_store *st) {
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, IMPI);
  strcpy(s.impus[0], "sip:alice@ims.example.org");
  strcpy(s.impus[1], "tel:+15551234");
  s.n_impus = 2;
  t_hex(K1, s.k, 16);
  t_hex(OPC1, s.op, 16);
  s.op_is_opc = 1;
  s.amf[0] = 0x80;
  s.aka = IMSEC_HSS_AKAV2;
  s.sqn.seq = 10;
  assert_int_equal(st->vt->add(st, &s), 0);
  assert_int_equal(st->vt->add(st, &s), IMSEC_ERR_EXISTS);
}

/* SEQ_HE as a second connection sees it (what is on disk). */
static long long disk_seq(const char *path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT seq FROM subscriber WHERE impi = ?", -1,
                         &st, NULL),
      SQLITE_OK);
  sqlite3_bind_text(st, 1, IMPI, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static uint64_t sqn_of(imsec_crypto *c, const imsec_aka_vector *v) {
  imsec_milenage *m;
  assert_int_equal(imsec_milenage_new(&m, c), 0);
  uint8_t k[16], opc[16], ak[6], sqn[6];
  t_hex(K1, k, 16);
  t_hex(OPC1, opc, 16);
  assert_int_equal(imsec_milenage_set_opc(m, k, opc), 0);
  assert_int_equal(imsec_milenage_f2345(m, v->rand, NULL, NULL, NULL, ak), 0);
  for (int i = 0; i < 6; i++)
    sqn[i] = v->autn[i] ^ ak[i];
  imsec_milenage_del(m);
  return imsec_sqn_to_u64(sqn);
}

static void durable_sqn(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  char err[256];
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, err, sizeof(err)), 0);
  struct stat sb;
  assert_int_equal(stat(f->path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  add_alice(st);
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  uint64_t seen[20];
  for (int i = 0; i < 20; i++) {
    imsec_aka_vector v;
    imsec_hss_aka aka;
    assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, &aka), 0);
    assert_int_equal(aka, IMSEC_HSS_AKAV2);
    seen[i] = sqn_of(f->c, &v);
    /* Committed before the vector came out: on disk already. */
    assert_int_equal(disk_seq(f->path), (long long)(seen[i] >> 5));
    for (int j = 0; j < i; j++)
      assert_true(seen[j] != seen[i]);
    imsec_aka_vector_wipe(&v);
  }
  imsec_hss_del(h);
  imsec_hss_store_del(st);

  /* Reopen: the state goes on from where it was. */
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_true(sqn_of(f->c, &v) > seen[19]);
  imsec_hss_sub sub;
  assert_int_equal(imsec_hss_lookup_impu(h, S("tel:+15551234"), &sub), 0);
  assert_string_equal(sub.impi, IMPI);
  assert_int_equal(sub.n_impus, 2);
  assert_string_equal(sub.impus[0], "sip:alice@ims.example.org");
  imsec_hss_del(h);
  imsec_hss_store_del(st);

  /* A crash (exit without closing) right after a vector: its SQN is on
   * disk, so the next vector never repeats it. */
  uint64_t last = sqn_of(f->c, &v);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    imsec_hss_store *cs;
    imsec_crypto *cc;
    imsec_hss *ch;
    imsec_aka_vector cv;
    if (imsec_crypto_ossl_new(&cc) ||
        imsec_hss_db_open(&cs, f->path, 0, NULL, 0) ||
        imsec_hss_new(&ch, cs, cc, NULL) ||
        imsec_hss_vector(ch, S(IMPI), &cv, NULL))
      _exit(3);
    uint64_t s = sqn_of(cc, &cv);
    if (write(pfd[1], &s, sizeof(s)) != sizeof(s))
      _exit(4);
    _exit(0);
  }
  close(pfd[1]);
  int wst;
  assert_int_equal(waitpid(pid, &wst, 0), pid);
  assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  uint64_t child = 0;
  assert_int_equal(read(pfd[0], &child, sizeof(child)), sizeof(child));
  close(pfd[0]);
  assert_true(child > last);
  assert_int_equal(disk_seq(f->path), (long long)(child >> 5));
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  imsec_aka_vector_wipe(&v);
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_true(sqn_of(f->c, &v) > child);
  imsec_aka_vector_wipe(&v);
  imsec_hss_del(h);
  imsec_hss_store_del(st);
}

static int count(void *arg, const imsec_hss_sub *sub) {
  uint8_t zero[16] = {0};
  assert_memory_equal(sub->k, zero, 16);
  assert_memory_equal(sub->op, zero, 16);
  (*(int *)arg)++;
  return 0;
}

static void add_list_del(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, NULL, 0), 0);
  add_alice(st);
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  strcpy(s.impi, "bob@x");
  strcpy(s.impus[0], "tel:+15551234"); /* taken by alice */
  s.n_impus = 1;
  s.aka = IMSEC_HSS_AKAV1;
  assert_int_equal(st->vt->add(st, &s), IMSEC_ERR_EXISTS);
  strcpy(s.impus[0], "sip:bob@x");
  assert_int_equal(st->vt->add(st, &s), 0);
  int n = 0;
  assert_int_equal(st->vt->list(st, count, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(st->vt->del(st, S("bob@x")), 0);
  assert_int_equal(st->vt->del(st, S("bob@x")), IMSEC_ERR_NOTFOUND);
  assert_int_equal(st->vt->find_impu(st, S("sip:bob@x"), &s),
                   IMSEC_ERR_NOTFOUND);
  imsec_sqn_he sq = {5, 1};
  assert_int_equal(st->vt->save_sqn(st, S("bob@x"), &sq), IMSEC_ERR_NOTFOUND);
  n = 0;
  assert_int_equal(st->vt->list(st, count, &n), 0);
  assert_int_equal(n, 1);
  imsec_hss_store_del(st);

  /* Refusals: world-readable file, not a database, unknown schema. */
  assert_int_equal(chmod(f->path, 0644), 0);
  char err[256];
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)),
                   IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "chmod 600"));
  assert_int_equal(chmod(f->path, 0600), 0);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9", 0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)),
                   IMSEC_ERR_UNSUPPORTED);
  char junk[160];
  snprintf(junk, sizeof(junk), "%s/junk", f->dir);
  FILE *fp = fopen(junk, "w");
  fputs("this is not sqlite, not at all, no header here................."
        "..............................................................\n",
        fp);
  fclose(fp);
  assert_int_equal(chmod(junk, 0600), 0);
  assert_int_equal(imsec_hss_db_open(&st, junk, 0, err, sizeof(err)),
                   IMSEC_ERR_IO);
}

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another process's lock: a second connection in BEGIN EXCLUSIVE. */
static sqlite3 *lock_db(const char *path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", 0, 0, 0), SQLITE_OK);
  return db;
}

/* The fixture's database file, made to hold alice and closed again. */
static void db_with_alice(fx *f) {
  imsec_hss_store *st;
  char err[256];
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, err, sizeof(err)), 0);
  add_alice(st);
  imsec_hss_store_del(st);
}

/* Compare and set of the SQN state across two connections to one file
 * (two S-CSCFs sharing an HSS database): a write naming a state that is
 * no longer on disk changes nothing. */
static void reserve_sqn_cas(void **state) {
  fx *f = *state;
  db_with_alice(f);
  imsec_hss_store *a, *b;
  char err[256];
  assert_int_equal(imsec_hss_db_open(&a, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(imsec_hss_db_open(&b, f->path, 0, err, sizeof(err)), 0);
  imsec_sqn_he s10 = {.seq = 10}, s42 = {.seq = 42, .ind_next = 1},
               s74 = {.seq = 74, .ind_next = 2};
  assert_int_equal(a->vt->reserve_sqn(a, S(IMPI), &s10, &s42), 0);
  assert_int_equal(b->vt->reserve_sqn(b, S(IMPI), &s10, &s74), IMSEC_ERR_STALE);
  assert_int_equal(disk_seq(f->path), 42);
  /* The IND is part of the state compared. */
  imsec_sqn_he s42_0 = {.seq = 42};
  assert_int_equal(b->vt->reserve_sqn(b, S(IMPI), &s42_0, &s74),
                   IMSEC_ERR_STALE);
  assert_int_equal(b->vt->reserve_sqn(b, S(IMPI), &s42, &s74), 0);
  assert_int_equal(disk_seq(f->path), 74);
  assert_int_equal(a->vt->reserve_sqn(a, S("nobody@x"), &s10, &s42),
                   IMSEC_ERR_NOTFOUND);
  imsec_hss_store_del(a);
  imsec_hss_store_del(b);
}

/* Two processes on one file hand out vectors for one IMPI at once, each
 * with its own HSS (ranges 1 and 3): every SQN is a different one. */
#define PER_CHILD 60
static void two_processes_no_sqn_twice(void **state) {
  fx *f = *state;
  db_with_alice(f);
  int fds[2][2];
  pid_t pid[2];
  for (int k = 0; k < 2; k++) {
    assert_int_equal(pipe(fds[k]), 0);
    pid[k] = fork();
    assert_true(pid[k] >= 0);
    if (pid[k] == 0) {
      close(fds[k][0]);
      imsec_crypto *c;
      imsec_hss_store *st;
      imsec_hss *h;
      char err[256];
      if (imsec_crypto_ossl_new(&c) ||
          imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)) ||
          imsec_hss_new(&h, st, c, NULL) ||
          imsec_hss_set_sqn_range(h, k ? 3 : 1, 0))
        _exit(2);
      for (int i = 0; i < PER_CHILD;) {
        imsec_aka_vector v;
        int rv = imsec_hss_vector(h, S(IMPI), &v, NULL);
        if (rv == IMSEC_ERR_BUSY)
          continue;
        if (rv != 0)
          _exit(3);
        uint64_t sqn = sqn_of(c, &v) >> 5;
        if (write(fds[k][1], &sqn, sizeof(sqn)) != sizeof(sqn))
          _exit(4);
        i++;
      }
      _exit(0);
    }
    close(fds[k][1]);
  }
  uint64_t all[2 * PER_CHILD];
  size_t n = 0;
  for (int k = 0; k < 2; k++) {
    uint64_t x;
    while (read(fds[k][0], &x, sizeof(x)) == sizeof(x) && n < 2 * PER_CHILD)
      all[n++] = x;
    close(fds[k][0]);
    int st;
    assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  assert_int_equal(n, 2 * PER_CHILD);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      assert_true(all[i] != all[j]);
}

/* SQN ranges on disk (TS 33.102 C.3): a child process takes k vectors
 * with a range of 32 and dies without closing (no flush of anything);
 * the mark on disk covers all of them, and the next HSS starts above
 * every SQN the child handed out. Rounds end inside a range, at its end
 * and past it. */
static void range_crash_no_reuse(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  char err[256];
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, err, sizeof(err)), 0);
  add_alice(st);
  imsec_hss_store_del(st);
  static const int rounds[] = {1, 7, 32, 33, 64, 3};
  uint64_t highest = 0;
  for (size_t r = 0; r < sizeof(rounds) / sizeof(rounds[0]); r++) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      imsec_hss_store *cs;
      imsec_crypto *cc;
      imsec_hss *ch;
      if (imsec_crypto_ossl_new(&cc) ||
          imsec_hss_db_open(&cs, f->path, 0, NULL, 0) ||
          imsec_hss_new(&ch, cs, cc, NULL) ||
          imsec_hss_set_sqn_range(ch, 32, 0))
        _exit(3);
      uint64_t top = 0;
      for (int i = 0; i < rounds[r]; i++) {
        imsec_aka_vector cv;
        if (imsec_hss_vector(ch, S(IMPI), &cv, NULL))
          _exit(4);
        uint64_t s = sqn_of(cc, &cv);
        if (s <= top)
          _exit(5);
        top = s;
      }
      if (write(pfd[1], &top, sizeof(top)) != sizeof(top))
        _exit(6);
      _exit(0); /* the crash: nothing closed, the cursor is lost */
    }
    close(pfd[1]);
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    uint64_t top = 0;
    assert_int_equal(read(pfd[0], &top, sizeof(top)), sizeof(top));
    close(pfd[0]);
    assert_true(top > highest);
    /* The mark on disk covers what the child handed out. */
    assert_true(disk_seq(f->path) >= (long long)(top >> 5));
    assert_true(disk_seq(f->path) < (long long)(top >> 5) + 32);
    highest = top;
  }
  /* The next HSS: above all of it, and a first vector is one write. */
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  assert_int_equal(imsec_hss_set_sqn_range(h, 32, 0), 0);
  long long mark = disk_seq(f->path);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_true(sqn_of(f->c, &v) > highest);
  assert_int_equal(sqn_of(f->c, &v) >> 5, (uint64_t)mark + 1);
  assert_int_equal(disk_seq(f->path), mark + 32);
  imsec_aka_vector_wipe(&v);
  /* Inside the range: the disk does not change. */
  for (int i = 0; i < 31; i++) {
    assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
    imsec_aka_vector_wipe(&v);
  }
  assert_int_equal(disk_seq(f->path), mark + 32);
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_int_equal(sqn_of(f->c, &v) >> 5, (uint64_t)mark + 33);
  assert_int_equal(disk_seq(f->path), mark + 64);
  imsec_aka_vector_wipe(&v);
  imsec_hss_del(h);
  imsec_hss_store_del(st);
}

/* WAL (imsec_hss_db_opts.wal): the file is switched to it, vectors
 * commit their mark as before, and a reopen in the default mode works. */
static void wal_mode(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  char err[256];
  imsec_hss_db_opts o = {.create = 1, .writable = 1, .wal = 1};
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  add_alice(st);
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_int_equal(disk_seq(f->path), (long long)(sqn_of(f->c, &v) >> 5));
  imsec_aka_vector_wipe(&v);
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
  sqlite3_finalize(q);
  sqlite3_close(db);
  imsec_hss_del(h);
  imsec_hss_store_del(st);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  imsec_hss_store_del(st);
}

static void unlock_db(sqlite3 *db) {
  assert_int_equal(sqlite3_exec(db, "ROLLBACK", 0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
}

static void locked_store(void **state) {
  fx *f = *state;
  db_with_alice(f);
  imsec_hss_store *st;
  char err[256];
  /* As the S-CSCF opens it: a tiny wait per call. */
  imsec_hss_db_opts o = {.writable = 1, .timeout_ms = 100, .call_wait_ms = 2};
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  long long seq = disk_seq(f->path);

  sqlite3 *lk = lock_db(f->path);
  /* No long wait: "busy" (IMSEC_ERR_BUSY) at once, not NOTFOUND, a
   * generic I/O error or a timeout after the caller's whole budget. */
  imsec_hss_sub sub;
  int64_t t0 = ms_now();
  assert_int_equal(imsec_hss_lookup(h, S(IMPI), &sub), IMSEC_ERR_BUSY);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), IMSEC_ERR_BUSY);
  assert_int_equal(st->vt->find_impu(st, S("tel:+15551234"), &sub),
                   IMSEC_ERR_BUSY);
  imsec_sqn_he q = {.seq = 99};
  assert_int_equal(st->vt->save_sqn(st, S(IMPI), &q), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 < 50);
  unlock_db(lk);
  /* No vector left while locked, so no SQN moved. */
  assert_int_equal(disk_seq(f->path), seq);
  /* The lock is gone: it works at once. */
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_int_equal(disk_seq(f->path), seq + 1);
  imsec_aka_vector_wipe(&v);

  /* The SQN write itself blocked (a reader holds the file): no vector,
   * the SQN on disk is unchanged, and a later try steps it once. */
  sqlite3 *rd;
  assert_int_equal(sqlite3_open(f->path, &rd), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM subscriber", 0, 0, 0),
      SQLITE_OK);
  t0 = ms_now();
  memset(&v, 0x5a, sizeof(v));
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 < 50);
  /* What was drawn is wiped, not handed out. */
  static const uint8_t zero[sizeof(v)];
  assert_memory_equal(&v, zero, sizeof(v));
  assert_int_equal(sqlite3_exec(rd, "COMMIT", 0, 0, 0), SQLITE_OK);
  sqlite3_close(rd);
  assert_int_equal(disk_seq(f->path), seq + 1);
  /* The failed write left no transaction open: others can write. */
  assert_int_equal(sqlite3_open(f->path, &rd), SQLITE_OK);
  assert_int_equal(sqlite3_exec(rd, "BEGIN IMMEDIATE; COMMIT", 0, 0, 0),
                   SQLITE_OK);
  sqlite3_close(rd);
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_int_equal(disk_seq(f->path), seq + 2);
  imsec_aka_vector_wipe(&v);
  imsec_hss_del(h);
  imsec_hss_store_del(st);

  /* A longer wait per call: the first call that finds the lock waits it
   * out; the calls after it try once, until one succeeds. */
  o.call_wait_ms = 100;
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  lk = lock_db(f->path);
  t0 = ms_now();
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), IMSEC_ERR_BUSY);
  int64_t took = ms_now() - t0;
  assert_true(took >= 90 && took < 600);
  t0 = ms_now();
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 < 50);
  unlock_db(lk);
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), 0);
  imsec_hss_sub_wipe(&sub);
  lk = lock_db(f->path);
  t0 = ms_now();
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 >= 90); /* waiting again after a success */
  imsec_hss_store_del(st);
  /* Never wait: one try. */
  o.call_wait_ms = -1;
  unlock_db(lk);
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  lk = lock_db(f->path);
  t0 = ms_now();
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), IMSEC_ERR_BUSY);
  assert_true(ms_now() - t0 < 50);
  imsec_hss_store_del(st);

  /* A lock held at open: reported after the open's wait, not waited on in
   * silence. */
  o.call_wait_ms = 2;
  t0 = ms_now();
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_TIMEOUT);
  took = ms_now() - t0;
  assert_true(took >= 90 && took < 1000);
  assert_non_null(strstr(err, "database locked by another process"));
  unlock_db(lk);
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  imsec_hss_store_del(st);
  o.timeout_ms = -1;
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_INVAL);
}

static void unwritable(void **state) {
  fx *f = *state;
  db_with_alice(f);
  imsec_hss_store *st;
  char err[256];
  /* The rollback journal cannot be made (a dangling link into a missing
   * folder; a read-only file would not do for root): readable, not
   * writable. */
  char j[200];
  snprintf(j, sizeof(j), "%s-journal", f->path);
  assert_int_equal(symlink("/nonexistent-imsec-test/journal", j), 0);
  imsec_hss_db_opts o = {.writable = 0};
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  imsec_hss_sub sub;
  assert_int_equal(st->vt->load(st, S(IMPI), &sub), 0);
  imsec_sqn_he q = sub.sqn;
  q.seq++;
  assert_int_equal(st->vt->save_sqn(st, S(IMPI), &q), IMSEC_ERR_IO);
  imsec_hss_sub_wipe(&sub);
  imsec_hss_store_del(st);
  o.writable = 1;
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   IMSEC_ERR_IO);
  assert_non_null(strstr(err, "cannot be written"));
  assert_int_equal(unlink(j), 0);
  assert_int_equal(imsec_hss_db_open_opts(&st, f->path, &o, err, sizeof(err)),
                   0);
  imsec_hss_store_del(st);
}

/* ------------------------------------------------------------ SIP Digest */

#define DG_IMPI "carol@ims.example.org"
#define DG_PW "c0rrect-h0rse"

static imsec_bytes PW(const char *p) {
  return (imsec_bytes){(const uint8_t *)p, strlen(p)};
}

static void mk_digest(fx *f, imsec_hss_sub *s, const char *pw) {
  memset(s, 0, sizeof(*s));
  strcpy(s->impi, DG_IMPI);
  strcpy(s->impus[0], "sip:carol@ims.example.org");
  strcpy(s->impus[1], "tel:+15550003");
  s->n_impus = 2;
  assert_int_equal(imsec_hss_digest_set(s, f->c, S(""), PW(pw)), 0);
}

/* 1 when `needle` occurs anywhere in the file (the database and its
 * free pages). */
static int file_has(const char *path, const char *needle) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof(buf), fp);
  fclose(fp);
  size_t l = strlen(needle);
  for (size_t i = 0; i + l <= n; i++)
    if (memcmp(buf + i, needle, l) == 0)
      return 1;
  return 0;
}

static int check_digest_list(void *arg, const imsec_hss_sub *sub) {
  int *seen = arg;
  uint8_t zero[sizeof(sub->digest.ha1)];
  memset(zero, 0, sizeof(zero));
  /* list never reads a secret */
  assert_memory_equal(sub->digest.ha1, zero, sizeof(zero));
  if (sub->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    assert_string_equal(sub->impi, DG_IMPI);
    assert_string_equal(sub->digest.realm, "ims.example.org");
    assert_int_equal(sub->n_impus, 2);
    seen[0]++;
  } else {
    assert_int_equal(sub->scheme, IMSEC_HSS_SCHEME_AKA);
    assert_int_equal(sub->digest.realm[0], 0);
    seen[1]++;
  }
  return 0;
}

static void digest_store(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, NULL, 0), 0);
  add_alice(st);
  imsec_hss_sub s, got;
  mk_digest(f, &s, DG_PW);
  assert_int_equal(st->vt->add(st, &s), 0);
  assert_int_equal(st->vt->add(st, &s), IMSEC_ERR_EXISTS);
  assert_int_equal(st->vt->load(st, S(DG_IMPI), &got), 0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(got.digest.realm, "ims.example.org");
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  assert_int_equal(got.n_impus, 2);
  imsec_hss_sub_wipe(&got);
  assert_int_equal(st->vt->find_impu(st, S("tel:+15550003"), &got), 0);
  assert_string_equal(got.impi, DG_IMPI);
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  /* The AKA subscriber beside it reads back as before. */
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_AKA);
  assert_int_equal(got.aka, IMSEC_HSS_AKAV2);
  assert_int_equal(got.sqn.seq, 10);
  int seen[2] = {0, 0};
  assert_int_equal(st->vt->list(st, check_digest_list, seen), 0);
  assert_int_equal(seen[0], 1);
  assert_int_equal(seen[1], 1);

  /* The HSS over it: H(A1)s for the digest one, no AKA vector. */
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  assert_int_equal(imsec_hss_digest_get(h, S(DG_IMPI), &got), 0);
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  assert_int_equal(imsec_hss_digest_get(h, S(IMPI), &got),
                   IMSEC_ERR_UNSUPPORTED);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(DG_IMPI), &v, NULL),
                   IMSEC_ERR_UNSUPPORTED);
  imsec_hss_del(h);

  /* A password change: refused for the AKA subscriber and an unknown
   * IMPI, durable for the digest one. */
  imsec_hss_sub n = s;
  assert_int_equal(
      imsec_hss_digest_set(&n, f->c, S("other.example"), PW("an0ther one")), 0);
  assert_int_equal(st->vt->set_digest(st, S(IMPI), &n.digest), IMSEC_ERR_INVAL);
  assert_int_equal(st->vt->set_digest(st, S("nobody@x"), &n.digest),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(st->vt->set_digest(st, S(DG_IMPI), &n.digest), 0);
  imsec_hss_store_del(st);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, NULL, 0), 0);
  assert_int_equal(st->vt->load(st, S(DG_IMPI), &got), 0);
  assert_string_equal(got.digest.realm, "other.example");
  assert_memory_equal(got.digest.ha1, n.digest.ha1, sizeof(n.digest.ha1));
  assert_int_equal(got.n_impus, 2);
  /* The AKA subscriber kept its K. */
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  uint8_t k[16];
  t_hex(K1, k, 16);
  assert_memory_equal(got.k, k, 16);
  imsec_hss_sub_wipe(&got);
  assert_int_equal(st->vt->del(st, S(DG_IMPI)), 0);
  assert_int_equal(st->vt->find_impu(st, S("tel:+15550003"), &got),
                   IMSEC_ERR_NOTFOUND);
  imsec_hss_store_del(st);
  /* TS 33.203 Annex N / TS 29.228: the HSS keeps H(A1), never the
   * password. */
  assert_false(file_has(f->path, DG_PW));
  assert_false(file_has(f->path, "an0ther one"));
  imsec_hss_sub_wipe(&s);
  imsec_hss_sub_wipe(&n);
}

/* A row whose scheme columns disagree is a damaged file, not a
 * subscriber without a password. */
static void digest_damaged_row(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, NULL, 0), 0);
  imsec_hss_sub s, got;
  mk_digest(f, &s, DG_PW);
  assert_int_equal(st->vt->add(st, &s), 0);
  add_alice(st);
  imsec_hss_store_del(st);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "UPDATE subscriber SET ha1_sha256 = NULL WHERE scheme = 1;"
                   "UPDATE subscriber SET realm = 'x' WHERE scheme = 0",
                   0, 0, 0),
      SQLITE_OK);
  /* The column checks refuse what the code never writes. */
  assert_int_not_equal(
      sqlite3_exec(db, "UPDATE subscriber SET ha1_md5 = x'00' WHERE scheme = 1",
                   0, 0, 0),
      SQLITE_OK);
  assert_int_not_equal(
      sqlite3_exec(db, "UPDATE subscriber SET scheme = 2", 0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, NULL, 0), 0);
  assert_int_equal(st->vt->load(st, S(DG_IMPI), &got), IMSEC_ERR_IO);
  assert_int_equal(st->vt->load(st, S(IMPI), &got), IMSEC_ERR_IO);
  imsec_hss_store_del(st);
  imsec_hss_sub_wipe(&s);
}

/* A file as version 1 of the schema wrote it, with alice (AKA v2, OPc,
 * SEQ 10, two IMPUs); `reg` is the registration store's octet of
 * user_version (it must survive the upgrade). */
static void make_v1(const char *path, int reg) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char sql[2048];
  snprintf(sql, sizeof(sql),
           "CREATE TABLE subscriber("
           " impi TEXT PRIMARY KEY NOT NULL,"
           " k BLOB NOT NULL CHECK(length(k) = 16),"
           " op BLOB NOT NULL CHECK(length(op) = 16),"
           " op_is_opc INTEGER NOT NULL,"
           " amf BLOB NOT NULL CHECK(length(amf) = 2),"
           " seq INTEGER NOT NULL,"
           " ind_next INTEGER NOT NULL,"
           " aka INTEGER NOT NULL);"
           "CREATE TABLE impu("
           " impu TEXT PRIMARY KEY NOT NULL,"
           " impi TEXT NOT NULL REFERENCES subscriber(impi) ON DELETE CASCADE,"
           " pos INTEGER NOT NULL);"
           "CREATE INDEX impu_by_impi ON impu(impi, pos);"
           "INSERT INTO subscriber VALUES('%s', x'%s', x'%s', 1, x'8000', 10,"
           " 3, 2);"
           "INSERT INTO impu VALUES('sip:alice@ims.example.org', '%s', 0);"
           "INSERT INTO impu VALUES('tel:+15551234', '%s', 1);"
           "PRAGMA user_version = %d;",
           IMPI, K1, OPC1, IMPI, IMPI, reg << 8 | 1);
  assert_int_equal(sqlite3_exec(db, sql, 0, 0, 0), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(chmod(path, 0600), 0);
}

static int user_version(const char *path) {
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int v = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static void migrate_v1(void **state) {
  fx *f = *state;
  make_v1(f->path, 3);
  imsec_hss_store *st;
  char err[256] = "";
  /* Opened without create: an existing store is upgraded, not made. */
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(user_version(f->path), 3 << 8 | 2);
  imsec_hss_sub got;
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_int_equal(got.scheme, IMSEC_HSS_SCHEME_AKA);
  assert_int_equal(got.aka, IMSEC_HSS_AKAV2);
  assert_int_equal(got.op_is_opc, 1);
  assert_int_equal(got.sqn.seq, 10);
  assert_int_equal(got.sqn.ind_next, 3);
  assert_int_equal(got.n_impus, 2);
  assert_string_equal(got.impus[1], "tel:+15551234");
  uint8_t k[16];
  t_hex(K1, k, 16);
  assert_memory_equal(got.k, k, 16);
  imsec_hss_sub_wipe(&got);
  /* It still hands out vectors, above its stored SQN. */
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  imsec_aka_vector v;
  assert_int_equal(imsec_hss_vector(h, S(IMPI), &v, NULL), 0);
  assert_true(sqn_of(f->c, &v) >> 5 == 11);
  imsec_aka_vector_wipe(&v);
  imsec_hss_del(h);
  /* And takes SIP Digest subscribers. */
  imsec_hss_sub s;
  mk_digest(f, &s, DG_PW);
  assert_int_equal(st->vt->add(st, &s), 0);
  imsec_hss_store_del(st);
  /* Opened again: nothing more to do, both there. */
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  assert_int_equal(user_version(f->path), 3 << 8 | 2);
  assert_int_equal(st->vt->load(st, S(DG_IMPI), &got), 0);
  assert_memory_equal(got.digest.ha1, s.digest.ha1, sizeof(s.digest.ha1));
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_int_equal(got.sqn.seq, 11);
  imsec_hss_sub_wipe(&got);
  imsec_hss_sub_wipe(&s);
  imsec_hss_store_del(st);
}

/* An upgrade that cannot be written leaves the file at version 1 with
 * its subscribers, and a later open with a writable folder finishes it. */
static void migrate_v1_atomic(void **state) {
  fx *f = *state;
  make_v1(f->path, 0);
  char j[200];
  snprintf(j, sizeof(j), "%s-journal", f->path);
  assert_int_equal(symlink("/nonexistent-imsec-test/journal", j), 0);
  imsec_hss_store *st;
  char err[256] = "";
  assert_true(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)) < 0);
  assert_non_null(strstr(err, "cannot upgrade the schema from version 1"));
  assert_int_equal(unlink(j), 0);
  assert_int_equal(user_version(f->path), 1);
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  /* No column of version 2 was left behind. */
  assert_int_not_equal(
      sqlite3_prepare_v2(db, "SELECT scheme FROM subscriber", -1, &q, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(imsec_hss_db_open(&st, f->path, 0, err, sizeof(err)), 0);
  imsec_hss_sub got;
  assert_int_equal(st->vt->load(st, S(IMPI), &got), 0);
  assert_int_equal(got.sqn.seq, 10);
  imsec_hss_sub_wipe(&got);
  imsec_hss_store_del(st);
  assert_int_equal(user_version(f->path), 2);
}

/* What the S-CSCF sees through the embedded service over this store:
 * HSS_DIGEST gives the H(A1)s (Cx MAR for SIP Digest), HSS_SUB_IMPU the
 * scheme and realm without them, and the AKA requests refuse a digest
 * subscriber. */
typedef struct svc_got {
  int status;
  imsec_hss_sub sub;
} svc_got;

static void svc_done(void *arg, const imsec_svc_req *req,
                     const imsec_svc_reply *rep) {
  (void)req;
  svc_got *g = arg;
  g->status = rep->status;
  g->sub = rep->sub;
}

static int svc_ask(imsec_svc *svc, imsec_svc_kind kind, const char *key,
                   svc_got *g) {
  imsec_svc_req rq = {.kind = kind, .id = 1};
  strcpy(rq.key, key);
  memset(g, 0, sizeof(*g));
  g->status = 1;
  assert_int_equal(imsec_svc_submit(svc, &rq, svc_done, g), 0);
  return g->status;
}

static void digest_service(void **state) {
  fx *f = *state;
  imsec_hss_store *st;
  assert_int_equal(imsec_hss_db_open(&st, f->path, 1, NULL, 0), 0);
  add_alice(st);
  imsec_hss_sub s;
  mk_digest(f, &s, DG_PW);
  assert_int_equal(st->vt->add(st, &s), 0);
  imsec_hss *h;
  assert_int_equal(imsec_hss_new(&h, st, f->c, NULL), 0);
  imsec_svc *svc;
  imsec_svc_local_config cfg = {.hss = h};
  assert_int_equal(imsec_svc_local_new(&svc, &cfg), 0);
  svc_got g;
  uint8_t zero[sizeof(s.digest.ha1)];
  memset(zero, 0, sizeof(zero));

  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_DIGEST, DG_IMPI, &g), 0);
  assert_int_equal(g.sub.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(g.sub.digest.realm, "ims.example.org");
  assert_memory_equal(g.sub.digest.ha1, s.digest.ha1, sizeof(zero));
  imsec_hss_sub_wipe(&g.sub);
  /* A first REGISTER without Authorization: found by the To IMPU
   * (TS 24.229 §5.4.1.2.1), the scheme says how to challenge. */
  assert_int_equal(
      svc_ask(svc, IMSEC_SVC_HSS_SUB_IMPU, "sip:carol@ims.example.org", &g), 0);
  assert_string_equal(g.sub.impi, DG_IMPI);
  assert_int_equal(g.sub.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(g.sub.digest.realm, "ims.example.org");
  assert_memory_equal(g.sub.digest.ha1, zero, sizeof(zero));
  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_SUB, IMPI, &g), 0);
  assert_int_equal(g.sub.scheme, IMSEC_HSS_SCHEME_AKA);
  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_DIGEST, IMPI, &g),
                   IMSEC_ERR_UNSUPPORTED);
  assert_memory_equal(g.sub.digest.ha1, zero, sizeof(zero));
  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_DIGEST, "nobody@x", &g),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_VECTOR, DG_IMPI, &g),
                   IMSEC_ERR_UNSUPPORTED);
  imsec_svc_req rs = {.kind = IMSEC_SVC_HSS_RESYNC, .id = 2};
  strcpy(rs.key, DG_IMPI);
  g.status = 1;
  assert_int_equal(imsec_svc_submit(svc, &rs, svc_done, &g), 0);
  assert_int_equal(g.status, IMSEC_ERR_UNSUPPORTED);

  /* A password change made by another connection (the management CLI)
   * is what the next request reads. */
  imsec_hss_store *cli;
  assert_int_equal(imsec_hss_db_open(&cli, f->path, 0, NULL, 0), 0);
  imsec_hss_sub n = s;
  assert_int_equal(imsec_hss_digest_set(&n, f->c, S(""), PW("n3w")), 0);
  assert_int_equal(cli->vt->set_digest(cli, S(DG_IMPI), &n.digest), 0);
  imsec_hss_store_del(cli);
  assert_int_equal(svc_ask(svc, IMSEC_SVC_HSS_DIGEST, DG_IMPI, &g), 0);
  assert_memory_equal(g.sub.digest.ha1, n.digest.ha1, sizeof(zero));
  imsec_hss_sub_wipe(&g.sub);

  imsec_svc_del(svc);
  imsec_hss_del(h);
  imsec_hss_store_del(st);
  imsec_hss_sub_wipe(&s);
  imsec_hss_sub_wipe(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(durable_sqn, setup, teardown),
      cmocka_unit_test_setup_teardown(range_crash_no_reuse, setup, teardown),
      cmocka_unit_test_setup_teardown(reserve_sqn_cas, setup, teardown),
      cmocka_unit_test_setup_teardown(two_processes_no_sqn_twice, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(wal_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(add_list_del, setup, teardown),
      cmocka_unit_test_setup_teardown(locked_store, setup, teardown),
      cmocka_unit_test_setup_teardown(unwritable, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_store, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_damaged_row, setup, teardown),
      cmocka_unit_test_setup_teardown(digest_service, setup, teardown),
      cmocka_unit_test_setup_teardown(migrate_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(migrate_v1_atomic, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
