#include <stdio.h>

#include "conf_int.h"

int conf_vfail(char *err, size_t errcap, const char *name, size_t line,
               int code, const char *fmt, va_list ap) {
  if (errcap) {
    int n = snprintf(err, errcap, "%s:%zu: ", name, line);
    if (n >= 0 && (size_t)n < errcap)
      vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
  }
  return code;
}
