/*
 * imsec hss_pg: the subscriber store in PostgreSQL (store/hss_pg.c,
 * libpq), behind the HSS's store vtable (include/imsec/hss.h), for
 * several HSS front-ends over one database. SQLite (hss_db.h) stays the
 * embedded default.
 */
#ifndef IMSEC_HSS_PG_H
#define IMSEC_HSS_PG_H

#include "imsec/hss_db.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Open the store at `conninfo` (a "postgresql://" or "postgres://" URI,
 * as libpq takes it). With o->create the tables are made when missing.
 * SQN marks are reserved in transactions: two front-ends never hand out
 * the same SQN (TS 33.102 C.3). Use one store from one thread at a time
 * (imsec_svc_worker_new). Returns as imsec_hss_db_open_opts (IMSEC_ERR_IO:
 * cannot connect, `err` says why).
 */
IMSEC_API IMSEC_MUST_USE int imsec_hss_pg_open(imsec_hss_store **out,
                                               const char *conninfo,
                                               const imsec_hss_db_opts *o,
                                               char *err, size_t errcap);

/* Is `db` a PostgreSQL URI (postgresql:// or postgres://)? */
IMSEC_API int imsec_hss_pg_is_url(const char *db);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_HSS_PG_H */
