/* Shared by the YAML readers of conf/: one error format for all of them. */
#ifndef IMSEC_CONF_INT_H
#define IMSEC_CONF_INT_H

#include <stdarg.h>
#include <stddef.h>

/* Write "NAME:LINE: " and the formatted message into err[0..errcap)
 * (nothing when errcap is 0). Returns `code`. */
int conf_vfail(char *err, size_t errcap, const char *name, size_t line,
               int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* Read a whole settings file of at most `max` octets into *text (NUL
 * added; the caller frees it). Returns 0, IMSEC_ERR_IO, IMSEC_ERR_LIMIT
 * or IMSEC_ERR_NOMEM, with *why a short reason for the caller's message
 * ("cannot read: No such file or directory", "larger than 64 KiB"). */
int conf_read_file(const char *path, size_t max, char **text, size_t *len,
                   const char **why);
/* The folder of `path` with its trailing '/' ("" for a bare name), for
 * file names relative to it; NULL when out of memory. */
char *conf_dir_of(const char *path);

#endif
