/*
 * password_file: the SIP Digest password of one subscriber (TS 33.203
 * Annex N), as `imsec hss add --password-file`, `imsec hss passwd` and a
 * UE profile's `password_file:` read it. Same format on both sides:
 *
 *   one line of 1..IMSEC_PASSWORD_FILE_MAX octets; one trailing LF or CRLF is
 *   stripped; no NUL, CR or LF inside.
 *
 * The file holds a secret: it must be a regular file owned by the
 * effective user and not readable or writable by group or others (mode
 * 0600 or stricter), else it is refused. Nothing here ever prints the
 * password; every copy it makes is wiped.
 */
#ifndef IMSEC_PASSWORD_FILE_H
#define IMSEC_PASSWORD_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif

#endif /* IMSEC_PASSWORD_FILE_H */

#define IMSEC_PASSWORD_FILE_MAX 128 /* octets of a password */

/* Read the password in `path` into out[0..*len) (cap at least
 * IMSEC_PASSWORD_FILE_MAX; `out` is written only on success, and is the
 * caller's to wipe). On failure one line "PATH: what is wrong" (never the
 * password) goes to `err` (capacity `errcap`). Returns 0, IMSEC_ERR_PERM
 * (mode or owner), IMSEC_ERR_IO (cannot be read, not a regular file),
 * IMSEC_ERR_PARSE (empty, or NUL, CR or LF inside the line),
 * IMSEC_ERR_LIMIT (longer than IMSEC_PASSWORD_FILE_MAX), IMSEC_ERR_NOBUF (cap
 * too small), IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_password_file_read(const char *path,
                                                      uint8_t *out, size_t cap,
                                                      size_t *len, char *err,
                                                      size_t errcap);

/* Create `path` (it must not exist: O_EXCL, symlinks not followed) with
 * mode 0600 holding `pw` and one LF, durably (fsync). A partial file is
 * removed. The password must follow the format above. Returns 0,
 * IMSEC_ERR_EXISTS, IMSEC_ERR_IO, IMSEC_ERR_INVAL (empty, too long, NUL,
 * CR or LF inside), with one line in `err` on failure. */
IMSEC_API IMSEC_MUST_USE int imsec_password_file_create(const char *path,
                                                        const uint8_t *pw,
                                                        size_t len, char *err,
                                                        size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_PASSWORD_FILE_H */
