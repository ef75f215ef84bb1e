/*
 * store/db.h: what the SQLite stores share (private to store/): the file
 * checks at open (created 0600, refused when group or others may read
 * it), the bounded wait on another process's lock, and the split of
 * PRAGMA user_version between the stores that may share one file.
 */
#ifndef IMSEC_STORE_DB_H
#define IMSEC_STORE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "imsec/hss.h"
#include "imsec/hss_db.h"

/* One file may hold the HSS tables and the registration tables side by
 * side: PRAGMA user_version keeps each one's schema version in its own
 * octet (0: not installed). */
#define IMSEC_DB_PART_HSS 0
#define IMSEC_DB_PART_REG 8

/* The lock waits of one connection (see imsec_hss_db_opts). */
typedef struct imsec_db_wait {
  int64_t timeout_ms;   /* at open */
  int64_t call_wait_ms; /* per later call; 0: one try */
  int64_t wait_ms;      /* the wait of the current call */
  int64_t deadline;     /* monotonic ms; 0: no wait started */
  int fail_fast;        /* a call found the database busy: no waiting until
                           one succeeds */
  /* The transaction statements of imsec_db_tx, prepared on first use
   * (freed by imsec_db_tx_free before the connection closes). */
  sqlite3_stmt *tx[5];
} imsec_db_wait;

/* The transaction statements a store runs per write (group commit and a
 * record's savepoint), prepared once per connection instead of parsed by
 * sqlite3_exec each time. */
typedef enum imsec_db_tx_kind {
  IMSEC_DB_TX_BEGIN,
  IMSEC_DB_TX_COMMIT,
  IMSEC_DB_TX_BEGIN_IMMEDIATE,
  IMSEC_DB_TX_SAVEPOINT_REC,
  IMSEC_DB_TX_RELEASE_REC,
} imsec_db_tx_kind;

/* Run one of them as one call. Returns 0 or as imsec_db_step_err. */
int imsec_db_tx(sqlite3 *db, imsec_db_wait *w, imsec_db_tx_kind k);
void imsec_db_tx_free(imsec_db_wait *w);

void imsec_db_set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check or create `path` as a store file: a missing one is created 0600
 * when `create` (*created set), an existing one must be a regular file
 * nobody but its owner may read (`what` says what it holds, for the
 * message). Returns 0, IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO, IMSEC_ERR_PERM. */
int imsec_db_file(const char *path, int create, const char *what, int *created,
                  char *err, size_t errcap);

/* Fill `w` from the options (NULL: defaults) and install the busy
 * handler; the open itself may wait timeout_ms. */
void imsec_db_wait_init(imsec_db_wait *w, const imsec_hss_db_opts *o);
int imsec_db_busy_handler(void *arg, int count);
/* A new call: its own wait. */
static inline void imsec_db_op_start(imsec_db_wait *w) {
  w->deadline = 0;
}
/* A failed step: IMSEC_ERR_BUSY (locked: nothing done; later calls do
 * not wait until one succeeds) or IMSEC_ERR_IO. */
int imsec_db_step_err(imsec_db_wait *w, int rc);
static inline void imsec_db_step_ok(imsec_db_wait *w) {
  w->fail_fast = 0;
}
/* sqlite3_exec as one call. Returns 0 or as imsec_db_step_err. */
int imsec_db_exec(sqlite3 *db, imsec_db_wait *w, const char *sql);

/* Group commit (imsec_store_batch_op) on one connection; `in_batch` is
 * the store's flag. BEGIN is deferred: a batch with no write takes no
 * write lock and its COMMIT costs no sync. A COMMIT that fails rolls the
 * whole batch back. PENDING: 1 when the open batch has written, else 0.
 * Returns 0 or as imsec_db_step_err (IMSEC_ERR_INVAL:
 * BEGIN inside a batch, COMMIT or ROLLBACK outside one). */
int imsec_db_batch(sqlite3 *db, imsec_db_wait *w, int *in_batch,
                   imsec_store_batch_op op);

/* PRAGMA user_version, and the octet of one part of it. */
int imsec_db_user_version(sqlite3 *db, imsec_db_wait *w, int *v);
static inline int imsec_db_part(int v, int part) {
  return (int)(((unsigned)v >> part) & 0xffu);
}
/* Set the octet of `part` to `ver`, keeping the others (inside the
 * caller's write transaction). */
int imsec_db_set_part(sqlite3 *db, imsec_db_wait *w, int part, int ver);

/* The journal (imsec_hss_db_opts.wal) with synchronous=FULL: a commit is
 * durable when it returns, in either mode
 * (https://sqlite.org/pragma.html#pragma_synchronous). */
int imsec_db_pragmas(sqlite3 *db, imsec_db_wait *w, int wal);

/* "PATH: database locked by another process (waited N ms)": the open's
 * answer when another process holds a lock past the open's wait.
 * Returns IMSEC_ERR_TIMEOUT. */
int imsec_db_locked(const imsec_db_wait *w, const char *path, char *err,
                    size_t errcap);

/* The start every store's open shares: check or create the file
 * (imsec_db_file, `what` for its message), open it, install the busy
 * handler with the waits of `o`, set the journal and read the schema
 * version of `part` into *ver (0: its tables are not installed). *db is
 * set whenever a connection was made, also on failure: the caller closes
 * it. Returns 0, or imsec_db_file's codes, IMSEC_ERR_TIMEOUT (locked),
 * IMSEC_ERR_IO (not a database, cannot be read or written), with `err`
 * saying which. */
int imsec_db_connect(const char *path, const imsec_hss_db_opts *o,
                     const char *what, int part, sqlite3 **db, imsec_db_wait *w,
                     int *created, int *ver, char *err, size_t errcap);

#endif
