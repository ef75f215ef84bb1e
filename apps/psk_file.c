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

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

/* One line (no newline, NUL-terminated, comment cut): 0 blank, 1 an
 * entry in *e, <0 with the reason in *why. */
static int parse_line(char *l, psk_file_entry *e, const char **why) {
  char *hash = strchr(l, '#');
  if (hash)
    *hash = 0;
  while (is_space(*l))
    l++;
  if (!*l)
    return 0;
  char *id = l;
  while (*l && !is_space(*l))
    l++;
  size_t il = (size_t)(l - id);
  while (is_space(*l))
    *l++ = 0;
  char *hex = l;
  while (*l && !is_space(*l))
    l++;
  size_t hl = (size_t)(l - hex);
  while (is_space(*l))
    *l++ = 0;
  if (*l) {
    *why = "expected IDENTITY HEXKEY and nothing more";
    return IMSEC_ERR_PARSE;
  }
  if (!hl) {
    *why = "no key after the identity";
    return IMSEC_ERR_PARSE;
  }
  if (il >= sizeof(e->identity)) {
    *why = "identity too long";
    return IMSEC_ERR_PARSE;
  }
  for (size_t i = 0; i < il; i++)
    if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f) {
      *why = "identity with a non-printable character";
      return IMSEC_ERR_PARSE;
    }
  if (hl % 2 || hl > 2 * IMSEC_PSK_MAX ||
      imsec_hex_decode(hex, hl, e->key, sizeof(e->key)) != (int)(hl / 2)) {
    *why = "key is not hex of 1 to 64 octets";
    imsec_wipe(e->key, sizeof(e->key));
    return IMSEC_ERR_PARSE;
  }
  memcpy(e->identity, id, il);
  e->identity[il] = 0;
  e->key_len = hl / 2;
  return 1;
}

int psk_file_load(const char *path, psk_file *out, char *err, size_t cap) {
  char *text = NULL;
  size_t len = 0;
  int rv = read_private(path, &text, &len, err, cap);
  if (rv < 0)
    return rv;
  rv = psk_file_parse(text, len, path, out, err, cap);
  imsec_wipe(text, len);
  free(text);
  return rv;
}

int psk_file_parse(char *text, size_t len, const char *path, psk_file *out,
                   char *err, size_t cap) {
  int rv = 0;
  psk_file f = {0};
  size_t line = 0, capn = 0;
  char *p = text;
  while (p < text + len) {
    line++;
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    char *end = nl ? nl : text + len;
    *end = 0;
    psk_file_entry e;
    memset(&e, 0, sizeof(e));
    const char *why = NULL;
    int r = parse_line(p, &e, &why);
    p = end + 1;
    if (r == 0)
      continue;
    if (r < 0) {
      rv = fail(err, cap, r, path, line, why);
      goto fail;
    }
    for (size_t i = 0; i < f.n; i++)
      if (!strcmp(f.e[i].identity, e.identity)) {
        imsec_wipe(&e, sizeof(e));
        rv =
            fail(err, cap, IMSEC_ERR_PARSE, path, line, "identity given twice");
        goto fail;
      }
    if (f.n == PSK_FILE_MAX) {
      imsec_wipe(&e, sizeof(e));
      rv = fail(err, cap, IMSEC_ERR_LIMIT, path, line, "too many entries");
      goto fail;
    }
    if (f.n == capn) {
      size_t nc = capn ? capn * 2 : 16;
      psk_file_entry *ne = calloc(nc, sizeof(*ne));
      if (!ne) {
        imsec_wipe(&e, sizeof(e));
        rv = fail(err, cap, IMSEC_ERR_NOMEM, path, line, "out of memory");
        goto fail;
      }
      if (f.n)
        memcpy(ne, f.e, f.n * sizeof(*ne));
      if (f.e)
        imsec_wipe(f.e, f.n * sizeof(*f.e));
      free(f.e);
      f.e = ne;
      capn = nc;
    }
    f.e[f.n++] = e;
    imsec_wipe(&e, sizeof(e));
  }
  *out = f;
  return 0;
fail:
  psk_file_free(&f);
  return rv;
}

void psk_file_free(psk_file *f) {
  if (f->e) {
    imsec_wipe(f->e, f->n * sizeof(*f->e));
    free(f->e);
  }
  f->e = NULL;
  f->n = 0;
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
