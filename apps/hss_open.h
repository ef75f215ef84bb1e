/*
 * The HSS subscriber store a command's --db names: a SQLite file (the
 * embedded default, store/hss_db.c) or a postgresql:// URI (several HSS
 * front-ends over one database, store/hss_pg.c). One opener, so every
 * command that takes --db takes both.
 */
#ifndef IMSEC_APPS_HSS_OPEN_H
#define IMSEC_APPS_HSS_OPEN_H

#include <stddef.h>

#include "imsec/hss_db.h"

/* Open `db` with the options of imsec_hss_db_open_opts (`o` NULL: the
 * management commands' defaults, as imsec_hss_db_open with o->create 0).
 * For PostgreSQL o->create installs the tables when missing, o->wal is
 * moot, o->timeout_ms bounds the connect (whole seconds) and
 * o->call_wait_ms each call's lock wait. `err` gets one line on failure,
 * without the URI's password. Returns as imsec_hss_db_open_opts. */
int hss_open(imsec_hss_store **out, const char *db, const imsec_hss_db_opts *o,
             char *err, size_t errcap);

/* As imsec_hss_db_open: the management commands' waits. */
int hss_open_cli(imsec_hss_store **out, const char *db, int create, char *err,
                 size_t errcap);

/* Is `db` a PostgreSQL URI rather than a file? */
int hss_open_is_pg(const char *db);

#endif /* IMSEC_APPS_HSS_OPEN_H */
