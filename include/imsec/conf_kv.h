/*
 * imsec conf_kv: a YAML settings file that is one map of plain values
 * (conf/kv.c, libyaml), for daemons whose settings are a handful of
 * keys (`imsec hss serve -c FILE`). The caller says what each key means.
 */
#ifndef IMSEC_CONF_KV_H
#define IMSEC_CONF_KV_H

#include <stddef.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One key and its value (a scalar: text, number, true/false, as
 * written). Returns 1 taken, 0 an unknown key, or a negative imsec_err
 * with err saying what is wrong with the value (the loader prefixes
 * "FILE:LINE: "). */
typedef int (*imsec_conf_kv_fn)(void *arg, const char *key, const char *value,
                                char *err, size_t errcap);

/*
 * Read path (at most 64 KiB): a map whose values are scalars; each key
 * once. The values of the keys listed in path_keys (NULL-terminated, or
 * NULL) are file names: a relative one is made relative to the file's
 * folder, and one holding "://" (a URI) is left alone. Returns 0, or a
 * negative imsec_err with err "FILE:LINE: why" (IMSEC_ERR_IO the file
 * cannot be read, IMSEC_ERR_PARSE not YAML or not such a map, an
 * unknown or repeated key, or what fn returned).
 */
IMSEC_API IMSEC_MUST_USE int imsec_conf_kv_load(const char *path,
                                                const char *const *path_keys,
                                                imsec_conf_kv_fn fn, void *arg,
                                                char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_CONF_KV_H */
