/* conf/isim.c and conf/isim_check.c: the mode keys of a profile (cert_file,
 * key_file for M2a/M2b; psk_identity, psk_file for M3) survive a save and
 * a load (imsec isim new writes them so), and the check says what is
 * missing or wrong about them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/isim.h"
#include "test_util.h"

#define IMPI "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"

typedef struct tdir {
  char dir[64];
  char path[8][160];
  size_t n;
} tdir;

static const char *tfile(tdir *t, const char *name, const char *text,
                         mode_t mode) {
  char *p = t->path[t->n++];
  char dir[sizeof t->dir];
  memcpy(dir, t->dir, sizeof dir); /* gcc: no overlap with the path */
  snprintf(p, sizeof(t->path[0]), "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(p, mode), 0);
  return p;
}

static void tdir_done(tdir *t) {
  for (size_t i = 0; i < t->n; i++)
    unlink(t->path[i]);
  rmdir(t->dir);
}

static void save_keeps_mode_keys(void **state) {
  (void)state;
  tdir t = {.dir = "/tmp/imsec_isim_modes_XXXXXX"};
  assert_non_null(mkdtemp(t.dir));
  const char *key = tfile(&t, "ue.key", "not read here\n", 0600);
  const char *psk =
      tfile(&t, "ue.psk", "00112233445566778899aabbccddeeff\n", 0600);
  char *impus[] = {"sip:" IMPI};
  imsec_isim_profile p;
  memset(&p, 0, sizeof p);
  p.impi = IMPI;
  p.impus = impus;
  p.n_impus = 1;
  p.cert_file = "/nonexistent/ue.chain.pem"; /* only the key is checked */
  p.key_file = (char *)key;
  p.psk_identity = IMPI;
  p.psk_file = (char *)psk;
  p.has_sqn = 1;
  char out[160];
  snprintf(out, sizeof out, "%s/ue.yaml", t.dir);
  assert_int_equal(imsec_isim_save(&p, out, 0), 0);
  snprintf(t.path[t.n++], sizeof(t.path[0]), "%s", out);

  imsec_isim_profile back;
  char err[512];
  assert_int_equal(imsec_isim_load(out, &back, err, sizeof err), 0);
  assert_string_equal(back.cert_file, "/nonexistent/ue.chain.pem");
  assert_string_equal(back.key_file, key);
  assert_string_equal(back.psk_identity, IMPI);
  assert_string_equal(back.psk_file, psk);
  assert_int_equal(back.psk_len, 16);
  assert_int_equal(back.psk[15], 0xff);
  /* The key stays in its file: never inline in the profile. */
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char text[4096];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  assert_null(strstr(text, "00112233445566778899aabbccddeeff"));
  /* Saved again from what was loaded: the same keys come back. */
  char out2[160];
  snprintf(out2, sizeof out2, "%s/ue2.yaml", t.dir);
  assert_int_equal(imsec_isim_save(&back, out2, 0), 0);
  snprintf(t.path[t.n++], sizeof(t.path[0]), "%s", out2);
  imsec_isim_profile again;
  assert_int_equal(imsec_isim_load(out2, &again, err, sizeof err), 0);
  assert_string_equal(again.psk_file, psk);
  assert_string_equal(again.key_file, key);
  imsec_isim_free(&again);
  imsec_isim_free(&back);
  tdir_done(&t);
}

typedef struct found {
  char all[4096];
  size_t n;
} found;

static void collect(void *ctx, const char *kind, const char *line) {
  found *f = ctx;
  size_t k = strlen(f->all);
  snprintf(f->all + k, sizeof f->all - k, "%s: %s\n", kind, line);
  f->n++;
}

static void check_mode_keys(void **state) {
  (void)state;
  tdir t = {.dir = "/tmp/imsec_isim_check_XXXXXX"};
  assert_non_null(mkdtemp(t.dir));
  tfile(&t, "ue.key", "x\n", 0600);
  tfile(&t, "ue.psk", "00112233445566778899aabbccddeeff\n", 0600);
  char err[512];
  imsec_isim_profile p;
  found f;

  /* key_file without cert_file; psk_file without psk_identity. */
  const char *y1 = tfile(&t, "a.yaml",
                         "impi: " IMPI "\nkey_file: ue.key\n"
                         "psk_file: ue.psk\n",
                         0600);
  assert_int_equal(imsec_isim_load(y1, &p, err, sizeof err), 0);
  memset(&f, 0, sizeof f);
  imsec_isim_check(&p, collect, &f);
  assert_non_null(strstr(f.all, "key_file is set but cert_file is not"));
  assert_non_null(strstr(f.all, "psk_file is set but psk_identity is not"));
  imsec_isim_free(&p);

  /* A cert_file that is not there; a PSK identity that is not the IMPI
   * (the P-CSCF holds the REGISTER on a PSK flow to the identity). */
  const char *y2 = tfile(&t, "b.yaml",
                         "impi: " IMPI "\ncert_file: none.pem\n"
                         "key_file: ue.key\npsk_identity: someone@else\n"
                         "psk_file: ue.psk\n",
                         0600);
  assert_int_equal(imsec_isim_load(y2, &p, err, sizeof err), 0);
  memset(&f, 0, sizeof f);
  imsec_isim_check(&p, collect, &f);
  assert_non_null(strstr(f.all, "UE certificate (cert_file)"));
  assert_non_null(strstr(f.all, "cannot be read"));
  assert_non_null(strstr(f.all, "psk_identity 'someone@else' is not the IMPI"));
  assert_null(strstr(f.all, "is set but"));
  imsec_isim_free(&p);

  /* psk_identity alone. */
  const char *y3 =
      tfile(&t, "c.yaml", "impi: " IMPI "\npsk_identity: " IMPI "\n", 0600);
  assert_int_equal(imsec_isim_load(y3, &p, err, sizeof err), 0);
  memset(&f, 0, sizeof f);
  imsec_isim_check(&p, collect, &f);
  assert_non_null(strstr(f.all, "psk_identity is set but psk_file is not"));
  assert_null(strstr(f.all, "is not the IMPI"));
  imsec_isim_free(&p);
  tdir_done(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(save_keeps_mode_keys),
      cmocka_unit_test(check_mode_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
