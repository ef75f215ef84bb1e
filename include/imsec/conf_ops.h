/*
 * The operations keys every daemon's YAML file takes (ctl_socket,
 * metrics, log_format, log_identities, drain_timeout_ms): conf/ keeps
 * their text as written and the daemon checks and applies them with its
 * other operations options (apps/daemon_ops.h), so one set of rules
 * serves the flags and the files of every daemon.
 */
#ifndef IMSEC_CONF_OPS_H
#define IMSEC_CONF_OPS_H

#include <stddef.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_CONF_OPS_N 5
#define IMSEC_CONF_OPS_MAX 1024 /* a value's longest text, NUL included */

/* The key names, in the order of imsec_conf_ops.value. */
IMSEC_API extern const char *const imsec_conf_ops_keys[IMSEC_CONF_OPS_N];

typedef struct imsec_conf_ops {
  char value[IMSEC_CONF_OPS_N][IMSEC_CONF_OPS_MAX]; /* "" absent */
  size_t line[IMSEC_CONF_OPS_N];                    /* where it was */
} imsec_conf_ops;

/* The index of key among imsec_conf_ops_keys, or -1. */
IMSEC_API int imsec_conf_ops_key(const char *key);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_CONF_OPS_H */
