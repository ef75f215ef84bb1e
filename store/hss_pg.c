/* The subscriber store in PostgreSQL (include/imsec/hss_pg.h). Not built
 * yet. */
#include <string.h>

#include "imsec/hss_pg.h"

int imsec_hss_pg_open(imsec_hss_store **out, const char *conninfo,
                      const imsec_hss_db_opts *o, char *err, size_t errcap) {
  (void)out, (void)conninfo, (void)o, (void)err, (void)errcap;
  return IMSEC_ERR_UNSUPPORTED;
}

int imsec_hss_pg_is_url(const char *db) {
  return db && (strncmp(db, "postgresql://", 13) == 0 ||
                strncmp(db, "postgres://", 11) == 0);
}
