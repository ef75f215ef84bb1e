/*
 * psk_file: the configured PSKs of mode M3 (`imsec pcscf --psk-file`,
 * YAML psk_file): one "IDENTITY HEXKEY" per line, '#' starts a comment,
 * blank lines are skipped. IDENTITY is the IMPI (1 to IMSEC_PSK_ID_MAX - 1
 * printable octets, no space); HEXKEY 1 to IMSEC_PSK_MAX octets in hex.
 * The file holds secrets: it must be a regular file not readable or
 * writable by group or others (mode 0600 or stricter), else it is refused.
 */
#ifndef IMSEC_APPS_PSK_FILE_H
#define IMSEC_APPS_PSK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"
#include "imsec/host_net.h"

#define PSK_FILE_MAX 4096 /* entries */

typedef struct psk_file_entry {
  char identity[IMSEC_PSK_ID_MAX];
  uint8_t key[IMSEC_PSK_MAX];
  size_t key_len;
} psk_file_entry;

typedef struct psk_file {
  psk_file_entry *e;
  size_t n;
} psk_file;

/* Read `path` into `out` (replacing nothing: `out` is filled only on
 * success). On failure one line "PATH[:LINE]: what is wrong" goes to err.
 * Returns 0, IMSEC_ERR_PERM (mode), IMSEC_ERR_IO, IMSEC_ERR_PARSE,
 * IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
int psk_file_load(const char *path, psk_file *out, char *err, size_t cap);
/* The parsing of psk_file_load: `text` of `len` octets plus a writable
 * octet at text[len] (lines are cut in place; the caller wipes it), `path`
 * only names it in err. */
int psk_file_parse(char *text, size_t len, const char *path, psk_file *out,
                   char *err, size_t cap);
/* Wipe and free (the struct stays, empty). */
void psk_file_free(psk_file *f);
/* Hand the entries to the net port's configured table (every loop), as
 * imsec_hostnet_psk_set_static. */
int psk_file_install(imsec_hostnet *r, const psk_file *f);

#endif
