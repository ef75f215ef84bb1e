/* apps/bench/creds.c: the bench credentials reader, strict and bounded. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "test_util.h"

#define D "ims.mnc001.mcc001.3gppnetwork.org"
#define HDR_AKA "imsec-bench-creds 1 scheme=aka domain=" D "\n"
#define HDR_DG "imsec-bench-creds 1 scheme=digest domain=" D "\n"
#define K "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC "cd63cb71954a9f4e48a5994e37a02baf"
#define UE1 "001010000000001@" D " sip:001010000000001@" D

/* 1 when `needle` occurs in the `n` octets at `hay` (NULs included). */
static int contains(const char *hay, size_t n, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp(hay + i, needle, m) == 0)
      return 1;
  return 0;
}

static int parse(const char *text, char *err, size_t cap) {
  bench_creds c;
  int rv = bench_creds_parse(text, strlen(text), &c, err, cap);
  if (rv == 0)
    bench_creds_free(&c);
  return rv;
}

static void aka_ok(void **state) {
  (void)state;
  const char *t =
      HDR_AKA UE1 " " K " " OPC " 0000000000a1\n"
                  "001010000000002@" D " sip:001010000000002@" D " " K " " OPC
                  " 000000000000"; /* the last LF may be missing */
  bench_creds c;
  char err[128] = "";
  assert_int_equal(bench_creds_parse(t, strlen(t), &c, err, sizeof err), 0);
  assert_int_equal(c.scheme, IMSEC_HSS_SCHEME_AKA);
  assert_string_equal(c.domain, D);
  assert_int_equal(c.n, 2);
  assert_string_equal(c.v[0].impi, "001010000000001@" D);
  assert_string_equal(c.v[1].impu, "sip:001010000000002@" D);
  assert_int_equal(c.v[0].k[0], 0x46);
  assert_int_equal(c.v[0].k[15], 0xbc);
  assert_int_equal(c.v[0].opc[0], 0xcd);
  assert_int_equal(c.v[0].sqn[5], 0xa1);
  assert_null(c.v[0].password);
  /* The hex of K and OPc does not stay in the kept text. */
  assert_false(contains(c.text, c.text_len, K));
  assert_false(contains(c.text, c.text_len, OPC));
  bench_creds_free(&c);
  assert_null(c.v);
  assert_int_equal(c.n, 0);
}

static void digest_ok(void **state) {
  (void)state;
  const char *t = HDR_DG UE1 " s3cret/PW+24charactersxx\n";
  bench_creds c;
  char err[128] = "";
  assert_int_equal(bench_creds_parse(t, strlen(t), &c, err, sizeof err), 0);
  assert_int_equal(c.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_int_equal(c.n, 1);
  assert_string_equal(c.v[0].password, "s3cret/PW+24charactersxx");
  bench_creds_free(&c);
}

/* psk= and cert= on either kind of line, in any order; the PSK's hex
 * does not stay in the kept text. */
static void optional_fields(void **state) {
  (void)state;
  const char *t =
      HDR_AKA UE1 " " K " " OPC " 000000000000 psk=" K OPC " cert=/d/a.pem\n"
                  "002@" D " sip:002@" D " " K " " OPC
                  " 000000000000 cert=b.pem psk=" K "\n"
                  "003@" D " sip:003@" D " " K " " OPC " 000000000000\n";
  bench_creds c;
  char err[128] = "";
  assert_int_equal(bench_creds_parse(t, strlen(t), &c, err, sizeof err), 0);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.v[0].psk_len, 32);
  assert_int_equal(c.v[0].psk[0], 0x46);
  assert_int_equal(c.v[0].psk[16], 0xcd);
  assert_int_equal(c.v[0].psk[31], 0xaf);
  assert_string_equal(c.v[0].cert, "/d/a.pem");
  assert_int_equal(c.v[1].psk_len, 16);
  assert_int_equal(c.v[1].psk[15], 0xbc);
  assert_string_equal(c.v[1].cert, "b.pem");
  assert_int_equal(c.v[2].psk_len, 0);
  assert_null(c.v[2].cert);
  assert_int_equal(c.v[1].sqn[5], 0);
  assert_false(contains(c.text, c.text_len, K));
  assert_false(contains(c.text, c.text_len, OPC));
  bench_creds_free(&c);

  /* Digest: the password keeps its '=' (it comes before the options). */
  const char *d = HDR_DG UE1 " pw== psk=" K K K K "\n";
  assert_int_equal(bench_creds_parse(d, strlen(d), &c, err, sizeof err), 0);
  assert_string_equal(c.v[0].password, "pw==");
  assert_int_equal(c.v[0].psk_len, 64);
  assert_null(c.v[0].cert);
  bench_creds_free(&c);
}

/* Every malformed input fails with the line number it is on. */
static void malformed(void **state) {
  (void)state;
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"", "line 1: empty file"},
      {"hello\n", "line 1: not a bench credentials file"},
      {"imsec-bench-creds 2 scheme=aka domain=" D "\n", "line 1: unsupported"},
      {"imsec-bench-creds 1 scheme=aka\n", "line 1: want 'scheme="},
      {"imsec-bench-creds 1 scheme=sms domain=" D "\n", "line 1: unknown"},
      {"imsec-bench-creds 1 scheme=aka domain=a\"b\n", "line 1: bad domain"},
      {HDR_AKA UE1 " " K " " OPC "\n", "line 2: want 'IMPI IMPU K OPc SQN'"},
      {HDR_AKA UE1 " " K " " OPC " 000000000000 x\n", "line 2: unexpected"},
      {HDR_AKA UE1 "  " K " " OPC " 000000000000\n", "line 2: want"},
      {HDR_AKA UE1 " " K " " OPC " 000000000000 \n", "line 2: want"},
      {HDR_AKA UE1 " " K "0 " OPC " 000000000000\n", "line 2: K is not"},
      {HDR_AKA UE1 " " K " " OPC "zz 000000000000\n", "line 2: OPc"},
      {HDR_AKA UE1 " " K " " OPC " 0000000000g0\n", "line 2: SQN"},
      {HDR_AKA UE1 " " K " " OPC " 000000000000\r\n", "line 2: control"},
      {HDR_AKA "\n", "line 2: want"},
      {HDR_DG UE1 " pw\n" UE1 "\n", "line 3: want 'IMPI IMPU PASSWORD'"},
      {HDR_DG UE1 " pw\nx<y@" D " sip:x@" D " pw\n", "line 3: bad IMPI"},
      {HDR_DG UE1 " pw\nx@" D " sip:x'@" D " pw\n", "line 3: bad IMPU"},
      {HDR_DG UE1 " pw\tx\n", "line 2: control"},
      /* The optional fields. */
      {HDR_DG UE1 " pw psk=" K " psk=" K "\n", "line 2: psk= given twice"},
      {HDR_DG UE1 " pw psk=" K "0\n", "line 2: psk= wants 16 to 64"},
      {HDR_DG UE1 " pw psk=465b5ce8b199b49faa5f0a2ee238a6\n", "line 2: psk="},
      {HDR_DG UE1 " pw psk=" K K K K "00\n", "line 2: psk= wants"},
      {HDR_DG UE1 " pw psk=" K "zz\n", "line 2: psk= wants"},
      {HDR_DG UE1 " pw psk=\n", "line 2: psk= wants"},
      {HDR_DG UE1 " pw cert=\n", "line 2: cert= wants a file name"},
      {HDR_DG UE1 " pw cert=/a cert=/b\n", "line 2: cert= given twice"},
      {HDR_DG UE1 " pw sqn=1\n", "line 2: unknown field 'sqn='"},
      {HDR_DG UE1 " pw =1\n", "line 2: unexpected field"},
      {HDR_AKA UE1 " " K " " OPC " 000000000000 cert=/a psk=" K " x=1\n",
       "line 2: want"},
      {HDR_AKA UE1 " " K " " OPC " psk=" K "\n", "line 2: SQN is not"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    int rv = parse(cases[i].text, err, sizeof err);
    if (rv == 0 || strstr(err, cases[i].want) != err)
      fail_msg("case %zu: rv %d err '%s', want '%s'", i, rv, err,
               cases[i].want);
  }
  /* A NUL inside a line. */
  char nul[] = HDR_DG UE1 " p\0w\n";
  bench_creds c;
  char err[128] = "";
  assert_int_equal(bench_creds_parse(nul, sizeof nul - 1, &c, err, sizeof err),
                   IMSEC_ERR_PARSE);
  assert_non_null(strstr(err, "line 2: control"));
}

/* Bounded: a line past BENCH_CREDS_LINE_MAX and an over-long password. */
static void limits(void **state) {
  (void)state;
  size_t n = strlen(HDR_DG) + BENCH_CREDS_LINE_MAX + 2;
  char *t = malloc(n + 1);
  assert_non_null(t);
  memset(t, 'a', n);
  memcpy(t, HDR_DG, strlen(HDR_DG));
  t[n - 1] = '\n';
  t[n] = '\0';
  char err[128] = "";
  assert_int_equal(parse(t, err, sizeof err), IMSEC_ERR_LIMIT);
  assert_non_null(strstr(err, "line 2: longer than"));
  free(t);
  char pw[BENCH_CREDS_PASSWORD_MAX + 2];
  memset(pw, 'p', sizeof pw - 1);
  pw[sizeof pw - 1] = '\0';
  char line[512];
  snprintf(line, sizeof line, HDR_DG UE1 " %s\n", pw);
  assert_int_equal(parse(line, err, sizeof err), IMSEC_ERR_PARSE);
  assert_non_null(strstr(err, "line 2: password longer"));
}

/* The file reader: refuses a file others may read, names the file. */
static void read_file(void **state) {
  (void)state;
  char path[] = "/tmp/bench_creds_testXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *t = HDR_DG UE1 " pw\n";
  assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
  close(fd);
  bench_creds c;
  char err[256] = "";
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(bench_creds_read(path, &c, err, sizeof err), 0);
  assert_int_equal(c.n, 1);
  bench_creds_free(&c);
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(bench_creds_read(path, &c, err, sizeof err), IMSEC_ERR_PERM);
  assert_non_null(strstr(err, path));
  unlink(path);
  assert_int_equal(bench_creds_read(path, &c, err, sizeof err), IMSEC_ERR_IO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(aka_ok),    cmocka_unit_test(digest_ok),
      cmocka_unit_test(malformed), cmocka_unit_test(limits),
      cmocka_unit_test(read_file), cmocka_unit_test(optional_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
