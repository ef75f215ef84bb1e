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

#endif
