/* One opener for every --db (apps/hss_open.h). */
#include "hss_open.h"

#include "imsec/hss_pg.h"

/* The management commands may wait longer than a daemon's loop (as
 * imsec_hss_db_open). */
#define CLI_TIMEOUT_MS 5000

int hss_open_is_pg(const char *db) {
  return imsec_hss_pg_is_url(db);
}

int hss_open(imsec_hss_store **out, const char *db, const imsec_hss_db_opts *o,
             char *err, size_t errcap) {
  if (imsec_hss_pg_is_url(db))
    return imsec_hss_pg_open(out, db, o, err, errcap);
  return imsec_hss_db_open_opts(out, db, o, err, errcap);
}

int hss_open_cli(imsec_hss_store **out, const char *db, int create, char *err,
                 size_t errcap) {
  imsec_hss_db_opts o = {.create = create, .timeout_ms = CLI_TIMEOUT_MS};
  return hss_open(out, db, &o, err, errcap);
}
