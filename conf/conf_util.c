#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "imsec/conf_ops.h"

int conf_vfail(char *err, size_t errcap, const char *name, size_t line,
               int code, const char *fmt, va_list ap) {
  if (errcap) {
    int n = snprintf(err, errcap, "%s:%zu: ", name, line);
    if (n >= 0 && (size_t)n < errcap)
      vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
  }
  return code;
}

const char *const imsec_conf_ops_keys[IMSEC_CONF_OPS_N] = {
    "ctl_socket", "metrics", "log_format", "log_identities",
    "drain_timeout_ms"};

int imsec_conf_ops_key(const char *key) {
  for (int i = 0; i < IMSEC_CONF_OPS_N; i++)
    if (strcmp(key, imsec_conf_ops_keys[i]) == 0) /* no secret: a key */
      return i;
  return -1;
}

int conf_read_file(const char *path, size_t max, char **text, size_t *len,
                   const char **why) {
  static __thread char reason[96];
  *text = NULL;
  *len = 0;
  *why = "out of memory";
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(reason, sizeof reason, "cannot read: %s", strerror(errno));
    *why = reason;
    return IMSEC_ERR_IO;
  }
  char *buf = malloc(max + 1);
  if (!buf) {
    fclose(f);
    return IMSEC_ERR_NOMEM;
  }
  size_t n = fread(buf, 1, max + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || n > max) {
    free(buf);
    snprintf(reason, sizeof reason, "larger than %zu KiB", max / 1024);
    *why = bad ? "cannot read" : reason;
    return bad ? IMSEC_ERR_IO : IMSEC_ERR_LIMIT;
  }
  buf[n] = 0;
  *text = buf;
  *len = n;
  return 0;
}

char *conf_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
  char *dir = malloc(dl + 1);
  if (dir) {
    memcpy(dir, path, dl);
    dir[dl] = 0;
  }
  return dir;
}
