/* Diameter Cx on freeDiameter (include/imsec/cx.h). Not built yet. */
#include "imsec/cx.h"

int imsec_cx_client_new(imsec_svc **out, const imsec_cx_config *c, char *err,
                        size_t errcap) {
  (void)out, (void)c, (void)err, (void)errcap;
  return IMSEC_ERR_UNSUPPORTED;
}

int imsec_cx_client_ready(imsec_svc *client) {
  (void)client;
  return 0;
}
