/* Small helpers shared by the cmocka tests. */
#ifndef IMSEC_TEST_UTIL_H
#define IMSEC_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imsec/base.h"

/* Decode a hex literal into `out` (asserting it fits exactly `len`). */
void t_hex(const char *hex, uint8_t *out, size_t len);
/* Assert that `len` octets equal the hex literal. */
void t_assert_hex(const uint8_t *got, size_t len, const char *hex);
/* Path of a file under tests/vectors (from $IMSEC_VECTORS, else a path
 * relative to the source tree). Returns a static buffer. */
const char *t_vector_path(const char *rel);
/* Read a whole file into a malloc'd buffer; asserts on failure. */
char *t_read_file(const char *path, size_t *len);

/* Issue a P-256 test certificate valid from an hour ago for a day: a CA
 * (`ca` 1; `domain` its permitted name subtree, NULL none; a root when
 * `issuer` is NULL) or a server leaf named `cn` (SAN dNSName cn and URI
 * sip:cn, EKU serverAuth). Returns imsec_pki_issue's code. */
/* Run a shell command (printf format) with stderr joined to stdout; the
 * first cap-1 octets of its output into `out` (NULL: none), the rest read
 * away (a long output must not kill it with SIGPIPE). Returns its exit
 * status, or -1 when it did not exit. */
__attribute__((format(printf, 3, 4))) int t_sh(char *out, size_t cap,
                                               const char *fmt, ...);
/* The imsec binary under test: $IMSEC, else ./imsec. */
const char *t_imsec_bin(void);

struct imsec_pki_cred;
int t_pki_issue(const char *cn, const char *domain, int ca,
                const struct imsec_pki_cred *issuer,
                struct imsec_pki_cred **out);

#endif
