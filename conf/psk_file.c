/* The configured PSKs of mode M3 as text (include/imsec/psk_file.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/psk_file.h"

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

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

/* One line (no newline, NUL-terminated, comment cut): 0 blank, 1 an
 * entry in *e, <0 with the reason in *why. */
static int parse_line(char *l, imsec_psk_file_entry *e, const char **why) {
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
  if (hl % 2 || hl < 2 * IMSEC_PSK_FILE_KEY_MIN || hl > 2 * IMSEC_PSK_MAX ||
      imsec_hex_decode(hex, hl, e->key, sizeof(e->key)) != (int)(hl / 2)) {
    *why = "key is not hex of 16 to 64 octets";
    imsec_wipe(e->key, sizeof(e->key));
    return IMSEC_ERR_PARSE;
  }
  memcpy(e->identity, id, il);
  e->identity[il] = 0;
  e->key_len = hl / 2;
  return 1;
}

int imsec_psk_file_parse(char *text, size_t len, const char *path,
                         imsec_psk_file *out, char *err, size_t cap) {
  int rv = 0;
  imsec_psk_file f = {0};
  size_t line = 0, capn = 0;
  char *p = text;
  while (p < text + len) {
    line++;
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    char *end = nl ? nl : text + len;
    *end = 0;
    imsec_psk_file_entry e;
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
    if (f.n == IMSEC_PSK_FILE_MAX) {
      imsec_wipe(&e, sizeof(e));
      rv = fail(err, cap, IMSEC_ERR_LIMIT, path, line, "too many entries");
      goto fail;
    }
    if (f.n == capn) {
      size_t nc = capn ? capn * 2 : 16;
      imsec_psk_file_entry *ne = calloc(nc, sizeof(*ne));
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
  imsec_psk_file_free(&f);
  return rv;
}

void imsec_psk_file_free(imsec_psk_file *f) {
  if (f->e) {
    imsec_wipe(f->e, f->n * sizeof(*f->e));
    free(f->e);
  }
  f->e = NULL;
  f->n = 0;
}
