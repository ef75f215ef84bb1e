/* conf/isim.c: the mode M3 profile keys psk_identity and psk_file (a secret
 * file of 16 to 64 octets in hex, private like k_file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/isim.h"
#include "test_util.h"

#define IMPI "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"

static void write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
}

static void psk_keys(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_isim_psk_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char kpath[128], prof[128], err[256];
  snprintf(kpath, sizeof(kpath), "%s/ue.psk", dir);
  snprintf(prof, sizeof(prof), "%s/ue.yaml", dir);
  write_text(prof,
             "impi: " IMPI "\n"
             "psk_identity: " IMPI "\n"
             "psk_file: ue.psk\n",
             0600);
  imsec_isim_profile p;
  /* 32 octets. */
  write_text(kpath,
             "000102030405060708090a0b0c0d0e0f"
             "101112131415161718191a1b1c1d1e1f\n",
             0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_string_equal(p.psk_identity, IMPI);
  assert_int_equal(p.psk_len, 32);
  assert_int_equal(p.psk[0], 0x00);
  assert_int_equal(p.psk[31], 0x1f);
  imsec_isim_free(&p);
  /* 64 octets is the most; 16 is fine too. */
  write_text(kpath, "00112233445566778899aabbccddeeff", 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_int_equal(p.psk_len, 16);
  imsec_isim_free(&p);
  /* Readable by others: refused like k_file. */
  chmod(kpath, 0644);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "psk_file"));
  /* Not hex, odd length, too long. */
  /* ... and shorter than 16 octets (128 bits). */
  const char *bad[] = {"zz11", "abc", "", "00112233445566778899aabbccddee"};
  for (size_t i = 0; i < 4; i++) {
    write_text(kpath, bad[i], 0600);
    assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)),
                     IMSEC_ERR_PARSE);
    assert_non_null(strstr(err, "hex digits"));
  }
  char big[300];
  memset(big, 'a', 130);
  big[130] = 0;
  write_text(kpath, big, 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  /* Without the keys nothing is set. */
  write_text(prof, "impi: " IMPI "\n", 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_null(p.psk_identity);
  assert_int_equal(p.psk_len, 0);
  imsec_isim_free(&p);
  unlink(kpath);
  unlink(prof);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(psk_keys)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
