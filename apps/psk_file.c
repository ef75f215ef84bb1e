/* The configured PSKs of mode M3 (apps/psk_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psk_file.h"

#define MAX_BYTES (1024 * 1024)

static int fail(char *err, size_t cap, int rv, const char *path, size_t line,
                const char *what) {
  if (cap) {
    if (line)
      snprintf(err, cap, "%s:%zu: %s", path, line, what);
    else
      snprintf(err, cap, "%s: %s", path, what);
  }
  return rv;
}

/* Read the whole file after checking it is a private regular file. */
static int read_private(const char *path, char **text, size_t *len, char *err,
                        size_t cap) {
  char why[160];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(why, sizeof(why), "cannot read: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    return fail(err, cap, IMSEC_ERR_IO, path, 0, why);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, cap, IMSEC_ERR_IO, path, 0, "not a regular file");
  }
  if (st.st_mode & 077) {
    close(fd);
    snprintf(why, sizeof(why),
             "holds PSKs but is readable or writable by group or others "
             "(mode %04o); chmod 600 it",
             (unsigned)(st.st_mode & 07777));
    return fail(err, cap, IMSEC_ERR_PERM, path, 0, why);
  }
  if (st.st_size > MAX_BYTES) {
    close(fd);
    return fail(err, cap, IMSEC_ERR_LIMIT, path, 0, "larger than 1 MiB");
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return fail(err, cap, IMSEC_ERR_NOMEM, path, 0, "out of memory");
  }
  size_t n = 0;
  while (n < (size_t)st.st_size) {
    ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  close(fd);
  buf[n] = 0;
  *text = buf;
  *len = n;
  return 0;
}

int psk_file_load(const char *path, psk_file *out, char *err, size_t cap) {
  char *text = NULL;
  size_t len = 0;
  int rv = read_private(path, &text, &len, err, cap);
  if (rv < 0)
    return rv;
  rv = imsec_psk_file_parse(text, len, path, out, err, cap);
  imsec_wipe(text, len);
  free(text);
  return rv;
}

int psk_file_install(imsec_hostnet *r, const psk_file *f) {
  imsec_hostnet_psk *v = f->n ? calloc(f->n, sizeof(*v)) : NULL;
  if (f->n && !v)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < f->n; i++)
    v[i] = (imsec_hostnet_psk){.identity = f->e[i].identity,
                               .key = f->e[i].key,
                               .key_len = f->e[i].key_len};
  int rv = imsec_hostnet_psk_set_static(r, v, f->n);
  free(v);
  return rv;
}
