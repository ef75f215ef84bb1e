#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
