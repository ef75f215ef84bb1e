/*
 * imsec hss_db: the SQLite subscriber store (store/hss_db.c, the
 * imsec-store library) behind the HSS's store vtable (include/imsec/hss.h).
 * Its own header: the sans-I/O core declares only the vtable.
 */
#ifndef IMSEC_HSS_DB_H
#define IMSEC_HSS_DB_H

#include "imsec/hss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The SQLite store (store/hss_db.c). Opens `path`; with `create` set a
 * missing file is created with mode 0600 and the schema (versioned with
 * the low octet of PRAGMA user_version: the registration store may keep
 * its tables in the same file) is installed. A file of an older schema
 * version (1: IMS AKA only, without the SIP Digest scheme, realm and
 * H(A1) columns) is upgraded in place, in one transaction that keeps its
 * subscribers; when the upgrade cannot be written the file is left as it
 * was and the open fails (IMSEC_ERR_IO, or IMSEC_ERR_TIMEOUT when
 * locked). PRAGMA synchronous=FULL,
 * journal mode DELETE (or WAL, imsec_hss_db_opts): every save_sqn is its
 * own synchronous transaction.
 * `err` (may be NULL, capacity `errcap`) receives one line on failure.
 * Returns 0, IMSEC_ERR_IO (cannot open or not a database),
 * IMSEC_ERR_NOTFOUND (no file and create is 0), IMSEC_ERR_UNSUPPORTED (a
 * schema version this build does not know), IMSEC_ERR_PERM (the file is
 * readable by group or others), IMSEC_ERR_TIMEOUT (another process holds
 * a lock on it for longer than 5 s), IMSEC_ERR_NOMEM. Each later store
 * call waits up to 5 s for such a lock (a management command may), then
 * returns IMSEC_ERR_BUSY. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_db_open(imsec_hss_store **out,
                                               const char *path, int create,
                                               char *err, size_t errcap);

/* How a daemon opens the SQLite store (imsec_hss_db_open_opts). */
typedef struct imsec_hss_db_opts {
  int create; /* as imsec_hss_db_open */
  /* Prove at open that the database can be written (one real write, in
   * a transaction: the file and its folder, for the journal), so a
   * read-only store is a start-up error, not a 500 on every REGISTER. */
  int writable;
  /* The longest the open waits for a lock another process holds (the
   * start-up checks), then IMSEC_ERR_TIMEOUT. 0: 250 ms. */
  int timeout_ms;
  /* The longest each later store call waits for such a lock (a bounded
   * busy wait on the caller's thread), then IMSEC_ERR_BUSY: nothing was
   * done and the caller tries again when it likes (the S-CSCF parks the
   * request on a timer). After a call found the database busy, calls try
   * once without waiting until one succeeds, so a lasting lock costs the
   * caller nothing. 0: timeout_ms; negative: never wait (one try). An
   * event loop keeps it to a few milliseconds. */
  int call_wait_ms;
  /* 1: write-ahead log instead of the rollback journal. With
   * synchronous=FULL both make each commit durable when it returns; WAL
   * needs fewer syncs per commit and lets readers go on while one writes
   * (tests/bench/store.c measures both). Every connection to one file
   * must agree (WAL is a property of the file): 0 leaves a file that is
   * in WAL already in WAL, else uses the rollback journal. */
  int wal;
} imsec_hss_db_opts;

/* imsec_hss_db_open with options (`o` NULL: create 0, not writable, 250
 * ms at open and per call). A lock held by another process at open is
 * IMSEC_ERR_TIMEOUT with `err` saying "database locked by another
 * process"; a database that cannot be written (with o->writable) is
 * IMSEC_ERR_IO with `err` saying "cannot be written". Returns as
 * imsec_hss_db_open. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_db_open_opts(imsec_hss_store **out,
                                                    const char *path,
                                                    const imsec_hss_db_opts *o,
                                                    char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_HSS_DB_H */
