/* What the SQLite stores share (store/db.h). */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "imsec/hss_db.h"

#define DEFAULT_TIMEOUT_MS 250

void imsec_db_set_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

int imsec_db_file(const char *path, int create, const char *what, int *created,
                  char *err, size_t errcap) {
  struct stat sb;
  *created = 0;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT || !create) {
      int e = errno;
      imsec_db_set_err(err, errcap, "%s: %s", path, strerror(e));
      return e == ENOENT ? IMSEC_ERR_NOTFOUND : IMSEC_ERR_IO;
    }
    /* Created 0600 by us, so SQLite's journal (or WAL and shm) inherits
     * that mode. */
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      imsec_db_set_err(err, errcap, "%s: cannot create: %s", path,
                       strerror(errno));
      return IMSEC_ERR_IO;
    }
    close(fd);
    *created = 1;
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    imsec_db_set_err(err, errcap, "%s: not a regular file", path);
    return IMSEC_ERR_IO;
  }
  if (sb.st_mode & 077) {
    imsec_db_set_err(err, errcap,
                     "%s: holds %s but is readable by others (chmod 600)", path,
                     what);
    return IMSEC_ERR_PERM;
  }
  return 0;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void imsec_db_wait_init(imsec_db_wait *w, const imsec_hss_db_opts *o) {
  memset(w, 0, sizeof(*w));
  w->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  int cw = o ? o->call_wait_ms : 0;
  w->call_wait_ms = cw < 0 ? 0 : cw == 0 ? w->timeout_ms : cw;
  w->wait_ms = w->timeout_ms;
}

/* SQLite's busy handler: another connection holds a lock. Wait in short
 * sleeps up to the call's deadline (a bounded wait on the calling
 * thread), then give up: the call fails with SQLITE_BUSY and the store
 * says IMSEC_ERR_BUSY. After that, calls try once without waiting until
 * one succeeds: a lasting lock costs the caller nothing. */
int imsec_db_busy_handler(void *arg, int count) {
  imsec_db_wait *w = arg;
  if (w->fail_fast || w->wait_ms <= 0)
    return 0;
  int64_t now = mono_ms();
  if (!w->deadline)
    w->deadline = now + w->wait_ms;
  if (now >= w->deadline)
    return 0;
  int64_t step = count < 5 ? 1 : count < 20 ? 5 : 10;
  if (step > w->deadline - now)
    step = w->deadline - now;
  struct timespec ts = {0, (long)step * 1000000L};
  nanosleep(&ts, NULL);
  return 1;
}

int imsec_db_step_err(imsec_db_wait *w, int rc) {
  int prim = rc & 0xff;
  if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
    w->fail_fast = 1;
    return IMSEC_ERR_BUSY;
  }
  return IMSEC_ERR_IO;
}

int imsec_db_exec(sqlite3 *db, imsec_db_wait *w, const char *sql) {
  imsec_db_op_start(w);
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return imsec_db_step_err(w, rc);
  imsec_db_step_ok(w);
  return 0;
}

static const char *const tx_sql[] = {"BEGIN", "COMMIT", "BEGIN IMMEDIATE",
                                     "SAVEPOINT rec", "RELEASE rec"};

int imsec_db_tx(sqlite3 *db, imsec_db_wait *w, imsec_db_tx_kind k) {
  if ((size_t)k >= sizeof(tx_sql) / sizeof(tx_sql[0]) ||
      (size_t)k >= sizeof(w->tx) / sizeof(w->tx[0]))
    return IMSEC_ERR_INVAL;
  imsec_db_op_start(w);
  if (!w->tx[k]) {
    int rc = sqlite3_prepare_v3(db, tx_sql[k], -1, SQLITE_PREPARE_PERSISTENT,
                                &w->tx[k], NULL);
    if (rc != SQLITE_OK) {
      w->tx[k] = NULL;
      return imsec_db_step_err(w, rc);
    }
  }
  int rc = sqlite3_step(w->tx[k]);
  sqlite3_reset(w->tx[k]);
  if (rc != SQLITE_DONE)
    return imsec_db_step_err(w, rc);
  imsec_db_step_ok(w);
  return 0;
}

void imsec_db_tx_free(imsec_db_wait *w) {
  for (size_t i = 0; i < sizeof(w->tx) / sizeof(w->tx[0]); i++) {
    sqlite3_finalize(w->tx[i]);
    w->tx[i] = NULL;
  }
}

int imsec_db_batch(sqlite3 *db, imsec_db_wait *w, int *in_batch,
                   imsec_store_batch_op op) {
  if (op == IMSEC_STORE_PENDING)
    return *in_batch && sqlite3_txn_state(db, NULL) == SQLITE_TXN_WRITE;
  if ((op == IMSEC_STORE_BEGIN) == (*in_batch != 0))
    return IMSEC_ERR_INVAL;
  if (op == IMSEC_STORE_BEGIN) {
    IMSEC_GUARD(imsec_db_tx(db, w, IMSEC_DB_TX_BEGIN));
    *in_batch = 1;
    return 0;
  }
  *in_batch = 0;
  int rv =
      op == IMSEC_STORE_COMMIT ? imsec_db_tx(db, w, IMSEC_DB_TX_COMMIT) : -1;
  /* A COMMIT refused (busy) leaves the transaction open: nothing of the
   * batch may stay pending for a later one to make durable. */
  if (rv < 0 && !sqlite3_get_autocommit(db))
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return op == IMSEC_STORE_COMMIT ? rv : 0;
}

int imsec_db_user_version(sqlite3 *db, imsec_db_wait *w, int *v) {
  sqlite3_stmt *st = NULL;
  imsec_db_op_start(w);
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return imsec_db_step_err(w, rc);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : imsec_db_step_err(w, rc);
}

int imsec_db_set_part(sqlite3 *db, imsec_db_wait *w, int part, int ver) {
  int v = 0;
  IMSEC_GUARD(imsec_db_user_version(db, w, &v));
  unsigned u = ((unsigned)v & ~(0xffu << part)) | ((unsigned)ver << part);
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)u);
  return imsec_db_exec(db, w, sql);
}

/* Is the file in WAL mode already? */
static int is_wal(sqlite3 *db, imsec_db_wait *w, int *yes) {
  sqlite3_stmt *st = NULL;
  *yes = 0;
  imsec_db_op_start(w);
  int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return imsec_db_step_err(w, rc);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *m = (const char *)sqlite3_column_text(st, 0);
    *yes = m && strcmp(m, "wal") == 0; /* no secret: a journal mode */
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : imsec_db_step_err(w, rc);
}

int imsec_db_pragmas(sqlite3 *db, imsec_db_wait *w, int wal) {
  /* A file in WAL stays in WAL when opened without asking for it: the
   * mode belongs to the file, the S-CSCF keeps its HSS file in WAL while
   * it runs, and `imsec hss` on the same file meanwhile must neither
   * fail nor take it back (leaving WAL needs every other connection
   * closed). Durability is the same in both (synchronous=FULL). */
  int already = 0;
  if (!wal)
    IMSEC_GUARD(is_wal(db, w, &already));
  if (!already)
    IMSEC_GUARD(imsec_db_exec(
        db, w, wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE"));
  IMSEC_GUARD(imsec_db_exec(db, w, "PRAGMA synchronous=FULL"));
  return imsec_db_exec(db, w, "PRAGMA foreign_keys=ON");
}

int imsec_db_locked(const imsec_db_wait *w, const char *path, char *err,
                    size_t errcap) {
  imsec_db_set_err(err, errcap,
                   "%s: database locked by another process (waited %lld ms)",
                   path, (long long)w->timeout_ms);
  return IMSEC_ERR_TIMEOUT;
}

int imsec_db_connect(const char *path, const imsec_hss_db_opts *o,
                     const char *what, int part, sqlite3 **db, imsec_db_wait *w,
                     int *created, int *ver, char *err, size_t errcap) {
  *db = NULL;
  *ver = 0;
  *created = 0;
  IMSEC_GUARD(imsec_db_file(path, o->create, what, created, err, errcap));
  /* The open itself (start-up) may wait the whole timeout. */
  imsec_db_wait_init(w, o);
  if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    imsec_db_set_err(err, errcap, "%s: %s", path,
                     *db ? sqlite3_errmsg(*db) : "cannot open");
    return IMSEC_ERR_IO;
  }
  sqlite3_busy_handler(*db, imsec_db_busy_handler, w);
  int v = 0;
  int e = imsec_db_pragmas(*db, w, o->wal);
  if (e == 0)
    e = imsec_db_user_version(*db, w, &v);
  if (e == IMSEC_ERR_BUSY)
    return imsec_db_locked(w, path, err, errcap);
  if (e < 0) {
    int code = sqlite3_errcode(*db) & 0xff;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
      imsec_db_set_err(err, errcap, "%s: not an SQLite database (%s)", path,
                       sqlite3_errmsg(*db));
    else /* its folder, its journal: the store could not keep its writes */
      imsec_db_set_err(err, errcap, "%s: cannot be written or read (%s)", path,
                       sqlite3_errmsg(*db));
    return IMSEC_ERR_IO;
  }
  *ver = imsec_db_part(v, part);
  return 0;
}
