#include <stdio.h>
#include <string.h>

#include "conf_int.h"
#include "imsec/conf_ops.h"

int conf_vfail(char *err, size_t errcap, const char *name, size_t line,
               int code, const char *fmt, va_list ap) {
  if (errcap) {
    int n = snprintf(err, errcap, "%s:%zu: ", name, line);
    if (n >= 0 && (size_t)n < errcap)
      vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
  }
  return code;
}

const char *const imsec_conf_ops_keys[IMSEC_CONF_OPS_N] = {
    "ctl_socket", "metrics", "log_format", "log_identities",
    "drain_timeout_ms"};

int imsec_conf_ops_key(const char *key) {
  for (int i = 0; i < IMSEC_CONF_OPS_N; i++)
    if (strcmp(key, imsec_conf_ops_keys[i]) == 0) /* no secret: a key */
      return i;
  return -1;
}
