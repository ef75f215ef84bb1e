/*
 * apps/bench/creds.h: the load generator's credentials file, written by
 * `imsec bench provision` and read back by the generator: one compact
 * file for N UEs instead of N ISIM profiles.
 *
 * Format (version 1), text, LF-terminated lines, fields separated by one
 * space:
 *   imsec-bench-creds 1 scheme=aka|digest domain=D
 *   IMPI IMPU K_hex OPc_hex SQN_hex       (scheme=aka: 32, 32, 12 hex)
 *   IMPI IMPU PASSWORD                    (scheme=digest)
 * then, on either kind of line, optional fields KEY=VALUE:
 *   psk=HEX     the UE's configured PSK (mode M3, identity the IMPI),
 *               16..64 octets
 *   cert=PATH   a PEM file with the UE's certificate (SAN sip:IMPI, EKU
 *               clientAuth), its chain and its key (mode M2a); a
 *               relative PATH is taken from the current directory
 *               (`imsec bench provision` writes absolute ones)
 * each at most once, in any order; any other KEY is refused.
 * SQN is the highest SQN the UE accepted so far (TS 33.102 C.2), zero for
 * a new subscriber. The file holds secrets: written 0600, and the reader
 * refuses one that group or others may read.
 */
#ifndef IMSEC_APPS_BENCH_CREDS_H
#define IMSEC_APPS_BENCH_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/hss.h"

#define BENCH_CREDS_MAGIC "imsec-bench-creds"
#define BENCH_CREDS_VERSION 1
#define BENCH_CREDS_LINE_MAX 1024     /* octets of one line, LF included */
#define BENCH_CREDS_MAX_UES 10000000u /* lines after the header */
#define BENCH_CREDS_PASSWORD_MAX 128  /* octets of a digest password */
#define BENCH_CREDS_OPT_MAX 2         /* optional fields: psk=, cert= */
#define BENCH_CREDS_PSK_MIN 16        /* octets of a psk= (128 bits) */

/* One UE. The strings point into the bench_creds' own copy of the text;
 * k, opc and password are secrets. */
typedef struct bench_cred {
  const char *impi;
  const char *impu;
  const char *password; /* scheme digest, else NULL */
  uint8_t k[16];        /* scheme aka */
  uint8_t opc[16];
  uint8_t sqn[6];
  uint8_t psk[64]; /* psk=, secret; psk_len 0: none */
  size_t psk_len;
  const char *cert; /* cert=, NULL: none */
} bench_cred;

typedef struct bench_creds {
  imsec_hss_scheme scheme;
  char domain[IMSEC_HSS_ID_MAX];
  bench_cred *v;
  size_t n;
  char *text; /* the file's text, tokens NUL-terminated in place */
  size_t text_len;
} bench_creds;

/* Parse `len` octets of `text` (copied) into `out`. On error `err`
 * (capacity errcap) gets one line starting "line N: " and nothing is
 * kept. Returns 0, IMSEC_ERR_PARSE, IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
int bench_creds_parse(const char *text, size_t len, bench_creds *out, char *err,
                      size_t errcap);

/* Read and parse the file `path` (a regular file nobody but its owner
 * may read, at most BENCH_CREDS_MAX_UES lines). Returns as
 * bench_creds_parse, and IMSEC_ERR_IO, IMSEC_ERR_PERM with `err` naming
 * the file. */
int bench_creds_read(const char *path, bench_creds *out, char *err,
                     size_t errcap);

/* Wipe and free everything `c` holds (NULL fine). */
void bench_creds_free(bench_creds *c);

#endif
