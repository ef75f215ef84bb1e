/* conf/isim.c: YAML profiles, their errors, secret files, save/load, and
 * the profile check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imsec/isim.h"
#include "test_util.h"

#define GOOD                                                                   \
  "impi: 234150999999999@ims.mnc015.mcc234.3gppnetwork.org\n"                  \
  "impus:\n"                                                                   \
  "  - sip:234150999999999@ims.mnc015.mcc234.3gppnetwork.org\n"                \
  "  - tel:+447700900123\n"                                                    \
  "home_domain: ims.mnc015.mcc234.3gppnetwork.org\n"                           \
  "trust_domain: 3gppnetwork.org\n"                                            \
  "k: 465b5ce8b199b49faa5f0a2ee238a6bc\n"                                      \
  "opc: cd63cb71954a9f4e48a5994e37a02baf\n"                                    \
  "amf: \"b9b9\"\n"                                                            \
  "sqn: ff9bb4d0b607\n"                                                        \
  "anchors: [root.crt]\n"                                                      \
  "home_ca: /abs/op.crt\n"                                                     \
  "partners: [p1.crt, p2.crt]\n"                                               \
  "policy: strict-home\n"

static int parse(const char *text, imsec_isim_profile *p, char *err) {
  return imsec_isim_parse(text, strlen(text), "t.yaml", "/base", 0, p, err,
                          256);
}

static void good_profile(void **state) {
  (void)state;
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(parse(GOOD, &p, err), 0);
  assert_string_equal(p.impi,
                      "234150999999999@ims.mnc015.mcc234.3gppnetwork.org");
  assert_int_equal(p.n_impus, 2);
  assert_string_equal(p.impus[1], "tel:+447700900123");
  assert_true(p.has_k && p.has_opc && !p.has_op && p.has_amf && p.has_sqn);
  t_assert_hex(p.k, 16, "465b5ce8b199b49faa5f0a2ee238a6bc");
  t_assert_hex(p.amf, 2, "b9b9");
  t_assert_hex(p.sqn, 6, "ff9bb4d0b607");
  assert_int_equal(p.n_anchors, 1);
  assert_string_equal(p.anchors[0], "/base/root.crt");
  assert_string_equal(p.home_ca, "/abs/op.crt");
  assert_int_equal(p.n_partners, 2);
  assert_string_equal(p.partners[1], "/base/p2.crt");
  assert_int_equal(p.policy, IMSEC_TRUST_POLICY_STRICT_HOME);
  assert_string_equal(p.source, "t.yaml");
  imsec_isim_free(&p);
  /* A single scalar counts as a list of one. */
  assert_int_equal(parse("impus: sip:a@b.c\nanchors: r.pem\n", &p, err), 0);
  assert_int_equal(p.n_impus, 1);
  assert_int_equal(p.n_anchors, 1);
  imsec_isim_free(&p);
}

/* Every error names the file, the line and the key. */
static void errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int rv;
    const char *want;
  } cases[] = {
      {"impi: a@b.c\nk: 1234\n", IMSEC_ERR_PARSE, "t.yaml:2: key 'k'"},
      {"k: 465b5ce8b199b49faa5f0a2ee238a6bZ\n", IMSEC_ERR_PARSE,
       "t.yaml:1: key 'k': expected 32 hex"},
      {"impi: a@b.c\n\nbogus: 1\n", IMSEC_ERR_PARSE,
       "t.yaml:3: key 'bogus': unknown key"},
      {"impi: a\nimpi: b\n", IMSEC_ERR_PARSE,
       "t.yaml:2: key 'impi': given twice"},
      {"op: 465b5ce8b199b49faa5f0a2ee238a6bc\n"
       "opc: 465b5ce8b199b49faa5f0a2ee238a6bc\n",
       IMSEC_ERR_PARSE, "t.yaml:2: key 'opc': give exactly one"},
      {"k: 465b5ce8b199b49faa5f0a2ee238a6bc\nk_file: x\n", IMSEC_ERR_PARSE,
       "t.yaml:2: key 'k_file'"},
      {"policy: lax\n", IMSEC_ERR_PARSE, "t.yaml:1: key 'policy'"},
      {"impi: [a, b]\n", IMSEC_ERR_PARSE,
       "t.yaml:1: key 'impi': expected a "
       "single value"},
      {"impus: {a: b}\n", IMSEC_ERR_PARSE,
       "t.yaml:1: key 'impus': expected a "
       "list"},
      {"impus:\n  - [x]\n", IMSEC_ERR_PARSE, "t.yaml:2: key 'impus'"},
      {"amf: 12345\n", IMSEC_ERR_PARSE, "t.yaml:1: key 'amf'"},
      {"sqn: 00\n", IMSEC_ERR_PARSE, "t.yaml:1: key 'sqn'"},
      {"impi: a\n  bad: [\n", IMSEC_ERR_PARSE, "t.yaml:"},
      {"- a\n- b\n", IMSEC_ERR_PARSE, "t.yaml:1: expected a map"},
      {"", IMSEC_ERR_PARSE, "empty document"},
      {"impi: a\n---\nimpi: b\n", IMSEC_ERR_PARSE, "more than one"},
      {"? [a]\n: b\n", IMSEC_ERR_PARSE, "a key must be a plain name"},
      {"home_ca: \"\"\n", IMSEC_ERR_PARSE, "key 'home_ca': empty path"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    imsec_isim_profile p;
    char err[256];
    int rv = parse(cases[i].text, &p, err);
    if (rv != cases[i].rv || !strstr(err, cases[i].want))
      fail_msg("case %zu: rv %d err '%s', want %d '%s'", i, rv, err,
               cases[i].rv, cases[i].want);
  }
  /* Files are refused when the caller says so (the fuzzer does). */
  imsec_isim_profile p;
  char err[256];
  const char *t = "k_file: /etc/passwd\n";
  assert_int_equal(imsec_isim_parse(t, strlen(t), "f", NULL,
                                    IMSEC_ISIM_NO_FILES, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  /* Size limit. */
  char *big = calloc(1, IMSEC_ISIM_MAX_FILE + 2);
  memset(big, '#', IMSEC_ISIM_MAX_FILE + 1);
  assert_int_equal(imsec_isim_parse(big, IMSEC_ISIM_MAX_FILE + 1, "f", NULL, 0,
                                    &p, err, sizeof(err)),
                   IMSEC_ERR_LIMIT);
  free(big);
  /* A tiny error buffer is fine. */
  char tiny[4];
  assert_int_equal(
      imsec_isim_parse("x: 1\n", 5, "f", NULL, 0, &p, tiny, sizeof(tiny)),
      IMSEC_ERR_PARSE);
  assert_int_equal(strlen(tiny), 3);
}

static void write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
}

static void secret_files(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_isim_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char kpath[128], prof[128], out[128];
  snprintf(kpath, sizeof(kpath), "%s/k.hex", dir);
  snprintf(prof, sizeof(prof), "%s/ue.yaml", dir);
  snprintf(out, sizeof(out), "%s/saved.yaml", dir);
  write_text(kpath, "465b5ce8b199b49faa5f0a2ee238a6bc\n", 0600);
  write_text(prof,
             "impi: 234150999999999@ims.mnc015.mcc234.3gppnetwork.org\n"
             "k_file: k.hex\n"
             "opc_file: k.hex\n",
             0600);
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  t_assert_hex(p.k, 16, "465b5ce8b199b49faa5f0a2ee238a6bc");
  assert_true(p.has_opc);
  /* Save and load back: mode 0600, same content; no overwrite. */
  assert_int_equal(imsec_isim_save(&p, out, 0), 0);
  assert_int_equal(imsec_isim_save(&p, out, 0), IMSEC_ERR_EXISTS);
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  imsec_isim_profile q;
  assert_int_equal(imsec_isim_load(out, &q, err, sizeof(err)), 0);
  assert_memory_equal(p.k, q.k, 16);
  assert_string_equal(p.impi, q.impi);
  imsec_isim_free(&q);
  imsec_isim_free(&p);

  /* A group-readable secret file is refused, naming file, line and key. */
  assert_int_equal(chmod(kpath, 0640), 0);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "ue.yaml:2: key 'k_file'"));
  assert_non_null(strstr(err, "chmod 600"));
  /* A missing secret file. */
  unlink(kpath);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_IO);
  /* Bad content. */
  write_text(kpath, "nothex\n", 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_isim_load("/nonexistent/p.yaml", &p, err, 256),
                   IMSEC_ERR_IO);
  unlink(kpath);
  unlink(prof);
  unlink(out);
  rmdir(dir);
}

/* Modes M2a/M2b: cert_file and key_file, the key owner-only. */
static void certificate_files(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_isim_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char key[128], crt[128], prof[128], out[128];
  snprintf(key, sizeof(key), "%s/ue.key", dir);
  snprintf(crt, sizeof(crt), "%s/ue.chain.pem", dir);
  snprintf(prof, sizeof(prof), "%s/ue.yaml", dir);
  snprintf(out, sizeof(out), "%s/saved.yaml", dir);
  write_text(key, "-----BEGIN PRIVATE KEY-----\n", 0600);
  write_text(crt, "-----BEGIN CERTIFICATE-----\n", 0644);
  write_text(prof,
             "impi: 234150999999999@ims.mnc015.mcc234.3gppnetwork.org\n"
             "cert_file: ue.chain.pem\n"
             "key_file: ue.key\n",
             0600);
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_string_equal(p.cert_file, crt);
  assert_string_equal(p.key_file, key);
  assert_int_equal(imsec_isim_save(&p, out, 0), 0);
  imsec_isim_profile q;
  assert_int_equal(imsec_isim_load(out, &q, err, sizeof(err)), 0);
  assert_string_equal(q.cert_file, crt);
  assert_string_equal(q.key_file, key);
  imsec_isim_free(&q);
  imsec_isim_free(&p);
  /* a key others may read: refused, naming line and key */
  assert_int_equal(chmod(key, 0644), 0);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "ue.yaml:3: key 'key_file'"));
  assert_non_null(strstr(err, "chmod 600"));
  unlink(key);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_IO);
  /* no files where files are not allowed */
  const char *t = "key_file: ue.key\n";
  assert_int_equal(imsec_isim_parse(t, strlen(t), "t.yaml", dir,
                                    IMSEC_ISIM_NO_FILES, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  unlink(crt);
  unlink(prof);
  unlink(out);
  rmdir(dir);
}

typedef struct seen {
  int violations, inconsistent;
  char last[1024];
} seen;

static void collect(void *ctx, const char *kind, const char *line) {
  seen *s = ctx;
  if (strcmp(kind, "violation") == 0)
    s->violations++;
  else
    s->inconsistent++;
  snprintf(s->last, sizeof(s->last), "%s", line);
}

static void check(void **state) {
  (void)state;
  const char *t =
      "impi: 001010000000001@ims.mnc001.mcc001.evil3gppnetwork.org\n"
      "impus: [\"sip:a@ims.mnc001.mcc001.3gppnetwork.org\", "
      "\"sip:b@example.com\", \"sip:a@ims.mnc001.mcc001.3gppnetwork.org\"]\n"
      "home_domain: ims.mnc001.mcc001.3gppnetwork.org\n"
      "trust_domain: 3gppnetwork.org\n";
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(imsec_isim_parse(t, strlen(t), "c", NULL, 0, &p, err, 256),
                   0);
  seen s = {0};
  size_t n = imsec_isim_check(&p, collect, &s);
  /* Naming: the IMPI realm, IMPU #2. Inconsistent: no k, no op/opc, the
   * IMPI realm is not the home domain, IMPU #3 repeats #1, no anchors, no
   * home CA. */
  assert_int_equal(s.violations, 2);
  assert_int_equal(s.inconsistent, 6);
  assert_int_equal(n, 8);
  /* No trust configuration to build. */
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_isim_anchors(&p, &a, err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "c: key 'anchors' is missing"));
  imsec_isim_free(&p);
  const char *t2 = "anchors: [/nonexistent/root.crt]\nhome_ca: /x.crt\n";
  assert_int_equal(
      imsec_isim_parse(t2, strlen(t2), "d", NULL, 0, &p, err, sizeof(err)), 0);
  assert_int_equal(imsec_isim_anchors(&p, &a, err, sizeof(err)), IMSEC_ERR_IO);
  assert_non_null(strstr(err, "d: key 'anchors': /nonexistent/root.crt"));
  imsec_isim_free(&p);
}

/* SIP Digest (TS 33.203 Annex N): password_file holds one line of 1 to
 * 128 octets (LF or CRLF stripped, no NUL/CR/LF inside), mode 0600 and
 * owned by the user; the profile saves the reference, never the
 * password; digest_username is checked; isim check needs no K. */
static void write_bytes(const char *path, const char *b, size_t n,
                        mode_t mode) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
}

static void password_files(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_isim_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char pw[128], prof[128], out[128];
  snprintf(pw, sizeof(pw), "%s/alice.pw", dir);
  snprintf(prof, sizeof(prof), "%s/ue.yaml", dir);
  snprintf(out, sizeof(out), "%s/saved.yaml", dir);
  write_text(pw, "s3cret pass\r\n", 0600);
  write_text(prof,
             "impi: alice@ims.mnc001.mcc001.3gppnetwork.org\n"
             "impus: [sip:alice@ims.mnc001.mcc001.3gppnetwork.org]\n"
             "home_domain: ims.mnc001.mcc001.3gppnetwork.org\n"
             "trust_domain: 3gppnetwork.org\n"
             "password_file: alice.pw\n"
             "digest_username: alice\n",
             0600);
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_int_equal(p.password_len, 11);
  assert_memory_equal(p.password, "s3cret pass", 11);
  assert_string_equal(p.password_file, pw);
  assert_string_equal(p.digest_username, "alice");
  assert_false(p.has_k);
  /* Saved: the file named, the password nowhere in the profile. */
  assert_int_equal(imsec_isim_save(&p, out, 0), 0);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char text[4096];
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = 0;
  assert_null(strstr(text, "s3cret"));
  assert_non_null(strstr(text, "password_file: "));
  assert_non_null(strstr(text, "digest_username: \"alice\""));
  imsec_isim_profile q;
  assert_int_equal(imsec_isim_load(out, &q, err, sizeof(err)), 0);
  assert_int_equal(q.password_len, 11);
  assert_string_equal(q.password_file, pw);
  assert_string_equal(q.digest_username, "alice");
  /* A clean digest profile but for the trust files: no K, OP/OPc is no
   * finding. */
  seen s = {0};
  (void)imsec_isim_check(&q, collect, &s);
  assert_int_equal(s.violations, 0);
  assert_int_equal(s.inconsistent, 2); /* no anchors, no home CA */
  imsec_isim_free(&q);
  imsec_isim_free(&p);

  /* 128 octets with LF is fine; 129 is not. */
  char big[140];
  memset(big, 'x', sizeof(big));
  big[128] = '\n';
  write_bytes(pw, big, 129, 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), 0);
  assert_int_equal(p.password_len, 128);
  imsec_isim_free(&p);
  big[128] = 'x'; /* 129 octets, no LF */
  write_bytes(pw, big, 129, 0600);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  assert_non_null(strstr(err, "ue.yaml:5: key 'password_file'"));
  /* Empty, a lone LF, two lines, a NUL inside: refused. */
  static const struct {
    const char *b;
    size_t n;
  } bad[] = {{"", 0}, {"\n", 1}, {"a\nb\n", 4}, {"a\0b\n", 4}, {"a\rb", 3}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    write_bytes(pw, bad[i].b, bad[i].n, 0600);
    assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)),
                     IMSEC_ERR_PARSE);
  }
  /* Readable by group: refused, with the mode. */
  write_text(pw, "pw\n", 0640);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_PERM);
  assert_non_null(strstr(err, "0640"));
  unlink(pw);
  assert_int_equal(imsec_isim_load(prof, &p, err, sizeof(err)), IMSEC_ERR_IO);
  /* No files where none may be read. */
  const char *t = "password_file: alice.pw\n";
  assert_int_equal(imsec_isim_parse(t, strlen(t), "t.yaml", dir,
                                    IMSEC_ISIM_NO_FILES, &p, err, sizeof(err)),
                   IMSEC_ERR_PARSE);
  /* A username that would break its quoted-string. */
  t = "digest_username: 'a\"b'\n";
  assert_int_equal(parse(t, &p, err), IMSEC_ERR_PARSE);
  assert_non_null(strstr(err, "digest_username"));
  unlink(prof);
  unlink(out);
  rmdir(dir);
}

/* isim check on digest profiles: a username the S-CSCF cannot map, a
 * password with ISIM keys, a username without a password. */
static void append_line(void *ctx, const char *kind, const char *line) {
  (void)kind;
  char *all = ctx;
  size_t n = strlen(all);
  snprintf(all + n, 8192 - n, "%s\n", line);
}

static void check_text(const char *t, size_t password_len, char *all) {
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(parse(t, &p, err), 0);
  p.password_len = password_len; /* as if read from a file */
  all[0] = 0;
  (void)imsec_isim_check(&p, append_line, all);
  imsec_isim_free(&p);
}

static void check_digest(void **state) {
  (void)state;
  static char all[8192];
  check_text("impi: alice@ims.example.org\ndigest_username: bob\n", 3, all);
  assert_non_null(strstr(all, "digest_username 'bob' is neither the IMPI"));
  assert_null(strstr(all, "no authentication key"));
  check_text("impi: alice@ims.example.org\ndigest_username: alice\n", 3, all);
  assert_null(strstr(all, "digest_username"));
  check_text("impi: alice@ims.example.org\n"
             "digest_username: alice@ims.example.org\n",
             3, all);
  assert_null(strstr(all, "digest_username"));
  check_text("impi: alice@ims.example.org\ndigest_username: alice\n", 0, all);
  assert_non_null(strstr(all, "digest_username is set but password_file"));
  assert_non_null(strstr(all, "no authentication key"));
  check_text("impi: alice@ims.example.org\n"
             "k: 465b5ce8b199b49faa5f0a2ee238a6bc\n"
             "opc: cd63cb71954a9f4e48a5994e37a02baf\n",
             3, all);
  assert_non_null(strstr(all, "password_file and ISIM keys"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(good_profile), cmocka_unit_test(errors),
      cmocka_unit_test(secret_files), cmocka_unit_test(certificate_files),
      cmocka_unit_test(check),        cmocka_unit_test(password_files),
      cmocka_unit_test(check_digest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
