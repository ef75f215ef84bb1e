/*
 * imsec redis: the registration store in Redis (store/redis.c, hiredis
 * with its libuv adapter on a thread of its own), shared by several
 * S-CSCFs (imsec_scscf_config.reg_shared).
 */
#ifndef IMSEC_REDIS_H
#define IMSEC_REDIS_H

#include "imsec/svc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imsec_redis_opts {
  int timeout_ms;     /* per command; 0: 1000, then IMSEC_ERR_TIMEOUT */
  const char *prefix; /* key prefix; NULL: "imsec:" */
} imsec_redis_opts;

/*
 * A service (include/imsec/svc.h) answering the registration requests
 * (REG_LOAD, REG_SAVE, REG_DELETE, REG_GET, REG_EXPIRE; the others
 * IMSEC_ERR_UNSUPPORTED) from the Redis at `url`, "redis://HOST:PORT/DB"
 * (DB 0 when left out), or "redis://[USER]:PASSWORD@HOST:PORT/DB" for a
 * server that asks for AUTH (percent-encoded; never shown in `err`). Records
 * carry absolute expiries (wall-clock ms, the store's clock) and vanish from
 * Redis when their last binding expires; REG_EXPIRE is atomic (one script), so
 * of several S-CSCFs whose timers fire for one record, one alone sees gone = 1.
 * Replies come from the store's thread. A lost connection is reconnected;
 * requests meanwhile are answered IMSEC_ERR_IO. Returns 0,
 * IMSEC_ERR_INVAL (a malformed url), IMSEC_ERR_IO (cannot connect; `err`
 * says why), IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int imsec_redis_svc_new(imsec_svc **out,
                                                 const char *url,
                                                 const imsec_redis_opts *o,
                                                 char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_REDIS_H */
