/* The registration store in Redis (include/imsec/redis.h). Not built yet. */
#include "imsec/redis.h"

int imsec_redis_svc_new(imsec_svc **out, const char *url,
                        const imsec_redis_opts *o, char *err, size_t errcap) {
  (void)out, (void)url, (void)o, (void)err, (void)errcap;
  return IMSEC_ERR_UNSUPPORTED;
}
