/*
 * apps/bench/creds.c: the bench credentials file reader (format in
 * creds.h). Strict: one malformed line fails the whole file with its
 * line number, so a generator never runs with half of its UEs.
 */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/base.h"
#include "imsec/ident.h"

/* The whole file is read at once: bounded by the line limit times the UE
 * limit would be far more than any bench needs, so bound it at 1 GiB. */
#define BENCH_CREDS_FILE_MAX ((size_t)1 << 30)

static int fail(char *err, size_t cap, int rv, size_t line, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static int fail(char *err, size_t cap, int rv, size_t line, const char *fmt,
                ...) {
  if (err && cap) {
    int n = snprintf(err, cap, "line %zu: ", line);
    if (n >= 0 && (size_t)n < cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, cap - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return rv;
}

/* Split `line` (NUL-terminated, no LF) at single spaces into at most
 * `max` fields. Returns the number of fields, or -1 on an empty field
 * (two spaces, a leading or trailing space) or more than `max`. */
static int split(char *line, char **f, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    if (n == max || *p == '\0' || *p == ' ')
      return -1;
    f[n++] = p;
    char *sp = strchr(p, ' ');
    if (!sp)
      return n;
    *sp = '\0';
    p = sp + 1;
  }
}

/* An identity as the HSS stores it: non-empty, shorter than
 * IMSEC_HSS_ID_MAX, no character imsec_ident_bad_char refuses. */
static int ident_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= IMSEC_HSS_ID_MAX)
    return 0;
  return imsec_ident_bad_char(imsec_str_make(s, n)) < 0;
}

/* Decode the hex field `f` of exactly `len` octets into `out`, then wipe
 * the text (a secret's hex is as secret as the octets). */
static int hex_field(char *f, uint8_t *out, size_t len) {
  size_t n = strlen(f);
  int ok = n == 2 * len && imsec_hex_decode(f, n, out, len) == (int)len;
  imsec_wipe(f, n);
  return ok;
}

static int parse_header(char *line, bench_creds *out, char *err, size_t cap) {
  char *f[4];
  int n = split(line, f, 4);
  /* no secret: the magic and the field names are public text */
  if (n < 1 || strcmp(f[0], BENCH_CREDS_MAGIC) != 0)
    return fail(err, cap, IMSEC_ERR_PARSE, 1,
                "not a bench credentials file (want '%s 1 scheme=... "
                "domain=...')",
                BENCH_CREDS_MAGIC);
  /* no secret: the version is public */
  if (n < 2 || strcmp(f[1], "1") != 0)
    return fail(err, cap, IMSEC_ERR_PARSE, 1,
                "unsupported version (this build reads version %d)",
                BENCH_CREDS_VERSION);
  /* no secret: field names */
  if (n != 4 || strncmp(f[2], "scheme=", 7) != 0 ||
      strncmp(f[3], "domain=", 7) != 0) /* no secret: field names */
    return fail(err, cap, IMSEC_ERR_PARSE, 1,
                "want 'scheme=aka|digest domain=D' after the version");
  if (imsec_hss_scheme_parse(imsec_str_c(f[2] + 7), &out->scheme) != 0)
    return fail(err, cap, IMSEC_ERR_PARSE, 1, "unknown scheme '%s'", f[2] + 7);
  if (!ident_ok(f[3] + 7))
    return fail(err, cap, IMSEC_ERR_PARSE, 1, "bad domain");
  memcpy(out->domain, f[3] + 7, strlen(f[3] + 7) + 1);
  return 0;
}

/* The optional KEY=VALUE fields after the fixed ones (creds.h): each at
 * most once, an unknown key refused (a typo must not silently drop a
 * UE's PSK or certificate). */
static int parse_opt(char *f, size_t no, bench_cred *c, char *err, size_t cap) {
  /* no secret: the field names are public text */
  if (strncmp(f, "psk=", 4) == 0) {
    char *v = f + 4;
    size_t n = strlen(v);
    if (c->psk_len) {
      imsec_wipe(v, n);
      return fail(err, cap, IMSEC_ERR_PARSE, no, "psk= given twice");
    }
    /* RFC 9257 §4: an external PSK needs 128 bits or more; the TLS
     * stacks take at most IMSEC_PSK_MAX (64) octets. */
    int ok = n % 2 == 0 && n >= 2 * BENCH_CREDS_PSK_MIN &&
             n <= 2 * sizeof c->psk &&
             imsec_hex_decode(v, n, c->psk, sizeof c->psk) == (int)(n / 2);
    imsec_wipe(v, n);
    if (!ok) {
      imsec_wipe(c->psk, sizeof c->psk);
      return fail(err, cap, IMSEC_ERR_PARSE, no,
                  "psk= wants %d to %zu octets in hex", BENCH_CREDS_PSK_MIN,
                  sizeof c->psk);
    }
    c->psk_len = n / 2;
    return 0;
  }
  /* no secret: field name */
  if (strncmp(f, "cert=", 5) == 0) {
    if (c->cert)
      return fail(err, cap, IMSEC_ERR_PARSE, no, "cert= given twice");
    if (f[5] == '\0')
      return fail(err, cap, IMSEC_ERR_PARSE, no, "cert= wants a file name");
    c->cert = f + 5;
    return 0;
  }
  /* Name the key only, never the value: it might be a secret. */
  char *eq = strchr(f, '=');
  if (!eq || eq == f || eq - f > 32)
    return fail(err, cap, IMSEC_ERR_PARSE, no,
                "unexpected field after the fixed ones (want psk=HEX or "
                "cert=PATH)");
  *eq = '\0';
  return fail(err, cap, IMSEC_ERR_PARSE, no,
              "unknown field '%s=' (want psk= or cert=)", f);
}

static int parse_ue(char *line, size_t no, imsec_hss_scheme scheme,
                    bench_cred *c, char *err, size_t cap) {
  char *f[5 + BENCH_CREDS_OPT_MAX];
  int want = scheme == IMSEC_HSS_SCHEME_AKA ? 5 : 3;
  int n = split(line, f, want + BENCH_CREDS_OPT_MAX);
  /* The fixed fields never contain '=' except a digest password, which
   * sits before the optional ones: too few fields is an error whatever
   * the last one looks like. */
  if (n < want)
    return fail(err, cap, IMSEC_ERR_PARSE, no,
                scheme == IMSEC_HSS_SCHEME_AKA
                    ? "want 'IMPI IMPU K OPc SQN' (single spaces)"
                    : "want 'IMPI IMPU PASSWORD' (single spaces)");
  if (!ident_ok(f[0]))
    return fail(err, cap, IMSEC_ERR_PARSE, no, "bad IMPI");
  if (!ident_ok(f[1]))
    return fail(err, cap, IMSEC_ERR_PARSE, no, "bad IMPU");
  c->impi = f[0];
  c->impu = f[1];
  if (scheme == IMSEC_HSS_SCHEME_DIGEST) {
    if (strlen(f[2]) > BENCH_CREDS_PASSWORD_MAX)
      return fail(err, cap, IMSEC_ERR_PARSE, no, "password longer than %d",
                  BENCH_CREDS_PASSWORD_MAX);
    c->password = f[2];
  } else {
    if (!hex_field(f[2], c->k, sizeof c->k))
      return fail(err, cap, IMSEC_ERR_PARSE, no, "K is not 32 hex digits");
    if (!hex_field(f[3], c->opc, sizeof c->opc))
      return fail(err, cap, IMSEC_ERR_PARSE, no, "OPc is not 32 hex digits");
    if (!hex_field(f[4], c->sqn, sizeof c->sqn))
      return fail(err, cap, IMSEC_ERR_PARSE, no, "SQN is not 12 hex digits");
  }
  for (int i = want; i < n; i++) {
    int rv = parse_opt(f[i], no, c, err, cap);
    if (rv != 0)
      return rv;
  }
  return 0;
}

int bench_creds_parse(const char *text, size_t len, bench_creds *out, char *err,
                      size_t errcap) {
  memset(out, 0, sizeof *out);
  if (len > BENCH_CREDS_FILE_MAX)
    return fail(err, errcap, IMSEC_ERR_LIMIT, 1, "file larger than %zu octets",
                BENCH_CREDS_FILE_MAX);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  if (len && text[len - 1] != '\n')
    lines++;
  if (lines == 0)
    return fail(err, errcap, IMSEC_ERR_PARSE, 1, "empty file");
  if (lines - 1 > BENCH_CREDS_MAX_UES)
    return fail(err, errcap, IMSEC_ERR_LIMIT, BENCH_CREDS_MAX_UES + 2,
                "more than %u UEs", BENCH_CREDS_MAX_UES);
  out->text = malloc(len + 1);
  out->v = calloc(lines > 1 ? lines - 1 : 1, sizeof *out->v);
  if (!out->text || !out->v) {
    bench_creds_free(out);
    return fail(err, errcap, IMSEC_ERR_NOMEM, 1, "out of memory");
  }
  memcpy(out->text, text, len);
  out->text[len] = '\0';
  out->text_len = len;

  char *p = out->text, *end = out->text + len;
  int rv = 0;
  for (size_t no = 1; p < end && rv == 0; no++) {
    char *lf = memchr(p, '\n', (size_t)(end - p));
    char *le = lf ? lf : end;
    if ((size_t)(le - p) + 1 > BENCH_CREDS_LINE_MAX) {
      rv = fail(err, errcap, IMSEC_ERR_LIMIT, no, "longer than %d octets",
                BENCH_CREDS_LINE_MAX - 1);
      break;
    }
    *le = '\0';
    /* A NUL or control character inside the line (CR included): the
     * split would silently cut the line there. */
    for (char *q = p; q < le; q++)
      if ((unsigned char)*q < 0x20 || *q == 0x7f) {
        rv = fail(err, errcap, IMSEC_ERR_PARSE, no,
                  "control character at column %zu", (size_t)(q - p) + 1);
        break;
      }
    if (rv == 0) {
      if (no == 1)
        rv = parse_header(p, out, err, errcap);
      else
        rv = parse_ue(p, no, out->scheme, &out->v[out->n++], err, errcap);
    }
    p = le + 1;
  }
  if (rv != 0)
    bench_creds_free(out);
  return rv;
}

int bench_creds_read(const char *path, bench_creds *out, char *err,
                     size_t errcap) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err)
      snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return IMSEC_ERR_IO;
  }
  struct stat st;
  int rv = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (err)
      snprintf(err, errcap, "%s: not a regular file", path);
    rv = IMSEC_ERR_IO;
  } else if (st.st_mode & 077) {
    if (err)
      snprintf(err, errcap,
               "%s: holds secrets but group or others may read it (chmod "
               "600)",
               path);
    rv = IMSEC_ERR_PERM;
  } else if ((uint64_t)st.st_size > BENCH_CREDS_FILE_MAX) {
    if (err)
      snprintf(err, errcap, "%s: larger than %zu octets", path,
               BENCH_CREDS_FILE_MAX);
    rv = IMSEC_ERR_LIMIT;
  }
  if (rv != 0) {
    close(fd);
    return rv;
  }
  size_t len = (size_t)st.st_size, got = 0;
  char *buf = malloc(len ? len : 1);
  if (!buf) {
    close(fd);
    return IMSEC_ERR_NOMEM;
  }
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (got != len) {
    if (err)
      snprintf(err, errcap, "%s: short read", path);
    rv = IMSEC_ERR_IO;
  } else {
    char e[256] = "";
    rv = bench_creds_parse(buf, len, out, e, sizeof e);
    if (rv != 0 && err)
      snprintf(err, errcap, "%s: %s", path, e);
  }
  imsec_wipe(buf, len);
  free(buf);
  return rv;
}

void bench_creds_free(bench_creds *c) {
  if (!c)
    return;
  if (c->v) {
    imsec_wipe(c->v, c->n * sizeof *c->v);
    free(c->v);
  }
  if (c->text) {
    imsec_wipe(c->text, c->text_len);
    free(c->text);
  }
  memset(c, 0, sizeof *c);
}
