/*
 * imsec regdb: the SQLite registration store (store/reg_db.c), the
 * imsec_reg_store (include/imsec/svc.h) an S-CSCF keeps its registrations
 * in across restarts.
 */
#ifndef IMSEC_REGDB_H
#define IMSEC_REGDB_H

#include "imsec/hss_db.h"
#include "imsec/svc.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Open the registration store at `path`. Options as the HSS store's
 * (imsec_hss_db_opts; NULL: create 0, not writable, rollback journal, 250
 * ms at open and per call): with o->create a missing file is created
 * with mode 0600 and the tables installed (registration, reg_impu,
 * binding; versioned by the second octet of PRAGMA user_version). The
 * file may be the HSS's own (store/hss_db.c): the tables sit beside the
 * subscriber tables and each store keeps its own version; give both the
 * same o->wal. synchronous=FULL: save and del are durable when they
 * return 0. A file readable by group or others is refused (it says who
 * is registered, from where).
 *
 * Each binding's expiry is stored absolute (wall-clock ms: now_ms +
 * ttl_ms at save); load deletes expired bindings and records left
 * without one, in one transaction, then walks the rest in IMPI order.
 * A store call waits for another process's lock up to o->call_wait_ms,
 * then returns IMSEC_ERR_BUSY with nothing done (see imsec_hss_db_opts).
 * Use the store from one thread at a time (imsec_svc_worker_new).
 *
 * `err` (may be NULL, capacity `errcap`) receives one line on failure.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_IO (cannot open, not a database,
 * cannot be written with o->writable), IMSEC_ERR_NOTFOUND (no file and
 * o->create is 0, or no registration tables in it and o->create is 0),
 * IMSEC_ERR_UNSUPPORTED (a registration schema version this build does
 * not know), IMSEC_ERR_PERM (readable by others), IMSEC_ERR_TIMEOUT
 * (locked by another process for longer than o->timeout_ms),
 * IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int imsec_reg_db_open(imsec_reg_store **out,
                                               const char *path,
                                               const imsec_hss_db_opts *o,
                                               char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_REGDB_H */
