/*
 * imsec psk_file: the configured PSKs of mode M3 (`imsec pcscf
 * --psk-file`, YAML psk_file) as text, parsed by conf/psk_file.c: one
 * "IDENTITY HEXKEY" per line, '#' starts a comment, blank lines are
 * skipped. IDENTITY is the IMPI (1 to IMSEC_PSK_ID_MAX - 1 printable
 * octets, no space); HEXKEY IMSEC_PSK_FILE_KEY_MIN to IMSEC_PSK_MAX octets
 * in hex. Reading the
 * file (a private regular file) is the daemon's (apps/psk_file.c).
 */
#ifndef IMSEC_PSK_FILE_H
#define IMSEC_PSK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_PSK_FILE_MAX 4096 /* entries */

/* The shortest configured PSK, in octets: 128 bits. A PSK handshake
 * exposes its binder (RFC 8446 §4.2.11) to anyone on the path, and a short
 * key falls to an offline search of it (RFC 9257 §4: external PSKs need
 * at least 128 bits of entropy). The UE's profile (psk_file) and the
 * P-CSCF's file hold keys of this length or longer. */
#define IMSEC_PSK_FILE_KEY_MIN 16

typedef struct imsec_psk_file_entry {
  char identity[IMSEC_PSK_ID_MAX];
  uint8_t key[IMSEC_PSK_MAX];
  size_t key_len;
} imsec_psk_file_entry;

typedef struct imsec_psk_file {
  imsec_psk_file_entry *e;
  size_t n;
} imsec_psk_file;

/* Parse `text` of `len` octets plus a writable octet at text[len] (lines
 * are cut in place; the caller wipes the text). `out` is filled only on
 * success; on failure one line "NAME:LINE: what is wrong" goes to err.
 * Returns 0, IMSEC_ERR_PARSE, IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_psk_file_parse(char *text, size_t len,
                                                  const char *name,
                                                  imsec_psk_file *out,
                                                  char *err, size_t cap);

/* Wipe and free (the struct stays, empty). */
IMSEC_API void imsec_psk_file_free(imsec_psk_file *f);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_PSK_FILE_H */
