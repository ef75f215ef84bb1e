/*
 * psk_file: the configured PSKs of mode M3 (`imsec pcscf --psk-file`,
 * YAML psk_file), in the format of include/imsec/psk_file.h (parsed by
 * conf/). The file holds secrets: it must be a regular file not readable
 * or writable by group or others (mode 0600 or stricter), else it is
 * refused.
 */
#ifndef IMSEC_APPS_PSK_FILE_H
#define IMSEC_APPS_PSK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"
#include "imsec/host_net.h"
#include "imsec/psk_file.h"

typedef imsec_psk_file_entry psk_file_entry;
typedef imsec_psk_file psk_file;

/* Read `path` into `out` (replacing nothing: `out` is filled only on
 * success). On failure one line "PATH[:LINE]: what is wrong" goes to err.
 * Returns 0, IMSEC_ERR_PERM (mode), IMSEC_ERR_IO, IMSEC_ERR_PARSE,
 * IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
int psk_file_load(const char *path, psk_file *out, char *err, size_t cap);

/* Wipe and free (the struct stays, empty). */
static inline void psk_file_free(psk_file *f) {
  imsec_psk_file_free(f);
}

/* Hand the entries to the net port's configured table (every loop), as
 * imsec_hostnet_psk_set_static. */
int psk_file_install(imsec_hostnet *r, const psk_file *f);

#endif
