/* apps/demo/fixtures (library imsec_fixtures), as a test links it: the
 * PKI chains as the demo needs (element certificates through their
 * operator CAs to the IMS root), the ISIM profiles load with the
 * keys the HSS records hold, the records go into a store, the settings
 * files are written and the folder goes away. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fixtures.h"
#include "imsec/isim.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"
#include "test_util.h"

static void chains(const imsec_fx *f, const char *cert, const char *roots,
                   int want) {
  char c[1024], r[1024], why[256] = "";
  int got = imsec_x509_file_chains_to(imsec_fx_path(f, cert, c, sizeof c),
                                      imsec_fx_path(f, roots, r, sizeof r), why,
                                      sizeof why);
  if (got != want)
    fail_msg("%s under %s: %d (%s), want %d", cert, roots, got, why, want);
}

static void test_fixtures(void **state) {
  (void)state;
  imsec_fx f;
  imsec_crypto *cr = NULL;
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  assert_int_equal(imsec_fx_init(&f, "imsec-fx-test"), 0);
  assert_int_equal(imsec_fx_make_pki(&f, (int64_t)time(NULL)), 0);
  chains(&f, IMSEC_FX_PCSCF_HOME ".chain.pem", IMSEC_FX_ROOT_CRT, 1);
  chains(&f, IMSEC_FX_PCSCF_VISITED ".chain.pem", IMSEC_FX_ROOT_CRT, 1);
  /* An operator CA is no root: only the IMS root anchors the chains. */
  chains(&f, IMSEC_FX_PCSCF_HOME ".chain.pem", IMSEC_FX_HOME_CA_CRT, 0);
  chains(&f, IMSEC_FX_PCSCF_OUTSIDE ".chain.pem", IMSEC_FX_ROOT_CRT, 1);
  chains(&f, IMSEC_FX_SCSCF_NODE ".chain.pem", IMSEC_FX_ROOT_CRT, 1);

  /* UE certificates (modes M2a, M2b) chain to the root through the home
   * operator CA. */
  chains(&f, "ue-F.chain.pem", IMSEC_FX_ROOT_CRT, 1);
  chains(&f, "ue-G.chain.pem", IMSEC_FX_ROOT_CRT, 1);
  chains(&f, IMSEC_FX_UE_WRONG ".chain.pem", IMSEC_FX_ROOT_CRT, 1);
  assert_non_null(strstr(imsec_fx_sub_by(&f, "F")->cert, "ue-F.chain.pem"));
  assert_string_equal(imsec_fx_sub_by(&f, "A")->cert, "");

  assert_int_equal(imsec_fx_make_profiles(&f, cr), 0);
  /* PSK files (mode M3) are secrets: mode 0600, one hex key. */
  const char *psk_files[] = {IMSEC_FX_PCSCF_PSK, IMSEC_FX_PSK_WRONG,
                             "ue-J.psk"};
  for (size_t i = 0; i < sizeof psk_files / sizeof psk_files[0]; i++) {
    char pp[1024];
    struct stat ps;
    assert_int_equal(stat(imsec_fx_path(&f, psk_files[i], pp, sizeof pp), &ps),
                     0);
    assert_int_equal(ps.st_mode & 0777, 0600);
  }
  assert_non_null(strstr(imsec_fx_sub_by(&f, "J")->psk_file, "ue-J.psk"));
  /* The softphone (SIP Digest, TS 33.203 Annex N): its password in a file
   * of mode 0600, one line of 24 base64 characters; its profile names the
   * file, holds neither the password nor K; its HSS record holds H(A1)s
   * and `hss add` gets the same file. */
  imsec_fx_sub *m = imsec_fx_sub_by(&f, IMSEC_FX_DIGEST);
  assert_non_null(m);
  assert_true(m->digest);
  assert_false(imsec_fx_sub_by(&f, "A")->digest);
  assert_int_equal(strlen(m->password), 24);
  const char *pw_files[] = {m->password_file, IMSEC_FX_PASSWORD_WRONG};
  for (size_t i = 0; i < 2; i++) {
    char pp[1024];
    struct stat ps;
    const char *pf =
        i ? imsec_fx_path(&f, pw_files[i], pp, sizeof pp) : pw_files[i];
    assert_int_equal(stat(pf, &ps), 0);
    assert_int_equal(ps.st_mode & 0777, 0600);
    assert_int_equal(ps.st_size, 25);
  }
  imsec_isim_profile pm;
  char merr[512];
  if (imsec_isim_load(m->profile, &pm, merr, sizeof merr) != 0)
    fail_msg("%s", merr);
  assert_int_equal(pm.has_k, 0);
  assert_int_equal(pm.password_len, 24);
  assert_memory_equal(pm.password, m->password, 24);
  assert_string_equal(pm.impi, m->impi);
  imsec_isim_free(&pm);
  char wrongp[1024];
  assert_int_equal(imsec_fx_password_variant(&f, m, "ue-M-v.yaml",
                                             IMSEC_FX_PASSWORD_WRONG, wrongp,
                                             sizeof wrongp),
                   0);
  assert_int_equal(imsec_isim_load(wrongp, &pm, merr, sizeof merr), 0);
  assert_int_equal(pm.password_len, 24);
  assert_memory_not_equal(pm.password, m->password, 24);
  imsec_isim_free(&pm);
  imsec_hss_sub dr;
  assert_int_equal(imsec_fx_hss_record(m, &dr), 0);
  assert_int_equal(dr.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(dr.digest.realm, IMSEC_FX_HOME);
  imsec_hss_sub_wipe(&dr);
  imsec_fx_hss_add ma;
  assert_int_equal(imsec_fx_hss_add_argv(m, "/x/hss.db", &ma), 0);
  assert_string_equal(ma.argv[8], "--scheme");
  assert_string_equal(ma.argv[9], "digest");
  assert_string_equal(ma.argv[10], "--password-file");
  assert_string_equal(ma.argv[11], m->password_file);
  assert_null(ma.argv[12]);
  imsec_fx_hss_add_wipe(&ma);
  char variant[1024];
  assert_int_equal(imsec_fx_profile_variant(&f, imsec_fx_sub_by(&f, "E"),
                                            "ue-E-v.yaml", NULL, NULL, NULL,
                                            variant, sizeof variant),
                   0);
  imsec_isim_profile pv;
  char verr[512];
  assert_int_equal(imsec_isim_load(variant, &pv, verr, sizeof verr), 0);
  assert_string_equal(pv.impi, imsec_fx_sub_by(&f, "E")->impi);
  imsec_isim_free(&pv);
  imsec_fx_sub *d = imsec_fx_sub_by(&f, "D");
  assert_non_null(d);
  assert_null(imsec_fx_sub_by(&f, "Z"));
  imsec_isim_profile p;
  char err[512];
  assert_int_equal(imsec_isim_load(d->profile, &p, err, sizeof err), 0);
  assert_string_equal(p.impi, "001010000000004@" IMSEC_FX_HOME);
  assert_int_equal(p.sqn[3], 0x10);

  /* The HSS record holds the profile's keys and goes into a store. */
  imsec_hss_store *st = NULL;
  assert_int_equal(imsec_hss_mem_new(&st), 0);
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_hss_sub rec;
    assert_int_equal(imsec_fx_hss_record(&f.subs[i], &rec), 0);
    assert_int_equal(st->vt->add(st, &rec), 0);
    imsec_hss_sub_wipe(&rec);
  }
  imsec_hss_sub got;
  assert_int_equal(st->vt->load(st, imsec_str_c(d->impi), &got), 0);
  assert_memory_equal(got.k, p.k, 16);
  assert_memory_equal(got.op, p.opc, 16);
  assert_int_equal(got.op_is_opc, 1);
  imsec_hss_sub_wipe(&got);
  imsec_hss_store_del(st);
  imsec_isim_free(&p);

  imsec_fx_hss_add a;
  assert_int_equal(imsec_fx_hss_add_argv(d, "/x/hss.db", &a), 0);
  assert_string_equal(a.argv[0], "hss");
  assert_string_equal(a.argv[3], "/x/hss.db");
  assert_null(a.argv[16]);
  imsec_fx_hss_add_wipe(&a);

  imsec_fx_scscf sc;
  memset(&sc, 0, sizeof sc);
  sc.db = "/x/hss.db";
  sc.port = 5060;
  sc.tls_port = 5061;
  assert_int_equal(imsec_fx_scscf_argv(&f, &sc), 0);
  assert_string_equal(sc.argv[2], "tcp:127.0.0.1:5060");
  assert_string_equal(sc.tls_listen, "tls:127.0.0.1:5061");

  imsec_fx_pcscf pc;
  memset(&pc, 0, sizeof pc);
  pc.name = "pcscf-home";
  pc.host = IMSEC_FX_PCSCF_HOME;
  pc.mw = IMSEC_FX_PCSCF_HOME_MW;
  pc.ue_port = 5062;
  pc.core_port = 5063;
  pc.route_port = 5061;
  assert_int_equal(imsec_fx_pcscf_config(&f, &pc), 0);
  struct stat sb;
  assert_int_equal(stat(pc.conf, &sb), 0);
  assert_string_equal(pc.argv[2], pc.conf);

  char dir[256];
  snprintf(dir, sizeof dir, "%s", f.dir);
  imsec_fx_free(&f);
  assert_int_equal(imsec_fx_remove(&f), 0);
  assert_int_not_equal(stat(dir, &sb), 0);
  imsec_crypto_del(cr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
