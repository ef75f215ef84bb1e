#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imsec/pki.h"
#include "test_util.h"

void t_hex(const char *hex, uint8_t *out, size_t len) {
  int n = imsec_hex_decode(hex, strlen(hex), out, len);
  assert_int_equal(n, (int)len);
}

void t_assert_hex(const uint8_t *got, size_t len, const char *hex) {
  char buf[1024];
  assert_true(2 * len + 1 <= sizeof(buf));
  assert_int_equal(imsec_hex_encode(got, len, buf, sizeof(buf)), 2 * len);
  assert_string_equal(buf, hex);
}

const char *t_vector_path(const char *rel) {
  static char path[4096];
  const char *base = getenv("IMSEC_VECTORS");
  snprintf(path, sizeof(path), "%s/%s", base ? base : "tests/vectors", rel);
  return path;
}

char *t_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

int t_pki_issue(const char *cn, const char *domain, int ca,
                const imsec_pki_cred *issuer, imsec_pki_cred **out) {
  int64_t now = (int64_t)time(NULL);
  char uri[300];
  snprintf(uri, sizeof uri, "sip:%s", cn);
  const char *names[] = {cn};
  const char *uris[] = {uri};
  const char *perm[] = {domain};
  imsec_pki_spec s = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = cn,
      .ca = ca,
      .path_len = ca ? (issuer ? 0 : 1) : -1,
      .permitted = ca && domain ? perm : NULL,
      .n_permitted = ca && domain ? 1 : 0,
      .dns = ca ? NULL : names,
      .n_dns = ca ? 0 : 1,
      .uris = ca ? NULL : uris,
      .n_uris = ca ? 0 : 1,
      .server_auth = !ca,
      .not_before = now - 3600,
      .not_after = now + 86400,
  };
  return imsec_pki_issue(&s, issuer, out);
}

int t_sh(char *out, size_t cap, const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = 0;
  if (out) {
    n = fread(out, 1, cap - 1, p);
    out[n] = 0;
  }
  char tmp[4096];
  while (fread(tmp, 1, sizeof(tmp), p) > 0) {
  }
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *t_imsec_bin(void) {
  const char *b = getenv("IMSEC");
  return b ? b : "./imsec";
}
