/* The fixtures' subscribers (fixtures.h): ISIM profiles and HSS records. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo_modes.h"
#include "fixtures.h"
#include "imsec/crypto_ossl.h"
#include "imsec/isim.h"
#include "imsec/trust.h"

imsec_fx_sub *imsec_fx_sub_by(imsec_fx *f, const char *label) {
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++)
    if (strcmp(f->subs[i].label, label) == 0) /* no secret: a label */
      return &f->subs[i];
  return NULL;
}

/* A secret file: one hex line, mode 0600 from its creation. */
static int write_secret(const char *file, const char *text) {
  int fd =
      open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t len = strlen(text);
  int ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len;
  if (close(fd) != 0)
    ok = 0;
  return ok ? 0 : -1;
}

static int write_psk(const char *file, const uint8_t *key, size_t len) {
  char hex[80];
  if (imsec_hex_encode(key, len, hex, sizeof hex - 1) < 0)
    return -1;
  strcat(hex, "\n");
  int rv = write_secret(file, hex);
  imsec_wipe(hex, sizeof hex);
  return rv;
}

/* A password as `imsec isim new --digest` draws one: 18 random octets in
 * base64, 24 characters (no CR, LF or NUL: one line of a password file). */
static int new_password(imsec_crypto *cr, char *out, size_t cap) {
  uint8_t raw[18];
  int rv = imsec_random(cr, raw, sizeof raw) < 0 ||
                   imsec_base64_encode(raw, sizeof raw, out, cap) != 24
               ? -1
               : 0;
  imsec_wipe(raw, sizeof raw);
  return rv;
}

/* A password file: the password and a LF, mode 0600 from its creation
 * (the UE and `imsec hss` refuse one others may read). */
static int write_password(const char *file, const char *password) {
  char line[40];
  snprintf(line, sizeof line, "%s\n", password);
  int rv = write_secret(file, line);
  imsec_wipe(line, sizeof line);
  return rv;
}

/* The profile of `s` at `path`, naming these credentials (NULL: none). The
 * mode keys (cert_file, key_file: M2; psk_identity, psk_file: M3) are
 * written only when the build has the mode (demo_modes.h); relative paths
 * resolve against the profile's folder. A SIP Digest subscriber's profile
 * has no K, OPc, AMF or SQN and names `password_file` instead. */
static int write_profile(const imsec_fx *f, const imsec_fx_sub *s,
                         const char *path, const char *cert, const char *key,
                         const char *psk_file, const char *password_file) {
  char root[1024], home_ca[1024], partner[1024];
  imsec_fx_path(f, IMSEC_FX_ROOT_CRT, root, sizeof root);
  imsec_fx_path(f, IMSEC_FX_HOME_CA_CRT, home_ca, sizeof home_ca);
  imsec_fx_path(f, IMSEC_FX_PARTNER_CA_CRT, partner, sizeof partner);
  char *impus[] = {(char *)s->impu, (char *)s->tel};
  char *anchors[] = {root};
  char *partners[] = {partner};
  imsec_isim_profile p;
  memset(&p, 0, sizeof p);
  p.source = (char *)path;
  p.impi = (char *)s->impi;
  p.impus = impus;
  p.n_impus = 2;
  p.home_domain = (char *)IMSEC_FX_HOME;
  p.trust_domain = (char *)IMSEC_FX_TD;
  if (!s->digest) {
    memcpy(p.k, s->k, 16);
    memcpy(p.opc, s->opc, 16);
    p.has_k = p.has_opc = 1;
    p.amf[0] = 0x80;
    p.has_amf = 1;
    memcpy(p.sqn, s->sqn_isim, 6);
    p.has_sqn = 1;
  }
  p.anchors = anchors;
  p.n_anchors = 1;
  p.home_ca = home_ca;
  p.partners = partners;
  p.n_partners = 1;
  p.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  p.has_policy = 1;
  int rv = imsec_isim_save(&p, path, 1);
  imsec_wipe(p.k, 16);
  imsec_wipe(p.opc, 16);
  if (rv < 0)
    return rv;
  char extra[2400];
  size_t n = 0;
  extra[0] = 0;
  if (DEMO_HAVE_M2 && cert && key)
    n += (size_t)snprintf(extra + n, sizeof extra - n,
                          "cert_file: %s\nkey_file: %s\n", cert, key);
  if (DEMO_HAVE_M3 && psk_file && n < sizeof extra)
    n +=
        (size_t)snprintf(extra + n, sizeof extra - n,
                         "psk_identity: %s\npsk_file: %s\n", s->impi, psk_file);
  /* The password stays in its file (TS 33.203 Annex N: the terminal's
   * secret); the profile only names it. */
  if (DEMO_HAVE_DIGEST && s->digest && password_file && n < sizeof extra)
    n += (size_t)snprintf(extra + n, sizeof extra - n, "password_file: %s\n",
                          password_file);
  if (n == 0)
    return 0;
  if (n >= sizeof extra)
    return -1;
  FILE *fp = fopen(path, "a");
  if (!fp)
    return -1;
  int ok = fputs(extra, fp) >= 0;
  if (fclose(fp) != 0)
    ok = 0;
  return ok ? 0 : -1;
}

int imsec_fx_make_profiles(imsec_fx *f, imsec_crypto *cr) {
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_fx_sub *s = &f->subs[i];
    snprintf(s->impi, sizeof s->impi, "00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->impu, sizeof s->impu, "sip:00101%s@%s", s->msin, IMSEC_FX_HOME);
    snprintf(s->tel, sizeof s->tel, "tel:+100101%s", s->msin);
    /* M: a softphone without an ISIM, SIP Digest with a password of 18
     * random octets in base64 (TS 33.203 Annex N). */
    s->digest = strcmp(s->label, IMSEC_FX_DIGEST) == 0; /* no secret: label */
    if (s->digest) {
      char name[64];
      snprintf(name, sizeof name, "ue-%s.password", s->label);
      imsec_fx_path(f, name, s->password_file, sizeof s->password_file);
      if (new_password(cr, s->password, sizeof s->password) != 0 ||
          write_password(s->password_file, s->password) != 0)
        return -1;
    } else if (imsec_random(cr, s->k, 16) < 0 ||
               imsec_random(cr, s->opc, 16) < 0) {
      return -1;
    }
    memset(s->sqn_isim, 0, 6);
    /* The ISIM has seen a higher SQN than the HSS will use: its first
     * challenge fails synchronisation (TS 33.102 §6.3.5). */
    if (strcmp(s->label, "D") == 0) /* no secret: a label */
      s->sqn_isim[3] = 0x10;
    /* A configured PSK (mode M3) for J, and for E (whose UE will use a
     * wrong one). */
    if (strcmp(s->label, "J") == 0 || /* no secret: a label */
        strcmp(s->label, "E") == 0) { /* no secret: a label */
      char name[64];
      if (imsec_random(cr, s->psk, sizeof s->psk) < 0)
        return -1;
      snprintf(name, sizeof name, "ue-%s.psk", s->label);
      imsec_fx_path(f, name, s->psk_file, sizeof s->psk_file);
      if (write_psk(s->psk_file, s->psk, sizeof s->psk) != 0)
        return -1;
    }
    char name[64];
    snprintf(name, sizeof name, "ue-%s.yaml", s->label);
    imsec_fx_path(f, name, s->profile, sizeof s->profile);
    /* E's own profile stays an M1 one: its scenes give it variants. */
    int e = strcmp(s->label, "E") == 0; /* no secret: a label */
    int rv = write_profile(f, s, s->profile, s->cert[0] ? s->cert : NULL,
                           s->key[0] ? s->key : NULL,
                           s->psk_file[0] && !e ? s->psk_file : NULL,
                           s->password_file[0] ? s->password_file : NULL);
    if (rv < 0)
      return rv;
  }
  /* The P-CSCF's table of configured PSKs, and a key it does not know. */
  char table[1024], p[1024];
  size_t n = 0;
  table[0] = 0;
  for (size_t i = 0; i < IMSEC_FX_N_SUBS; i++) {
    imsec_fx_sub *s = &f->subs[i];
    if (!s->psk_file[0])
      continue;
    char hex[80];
    if (imsec_hex_encode(s->psk, sizeof s->psk, hex, sizeof hex) < 0)
      return -1;
    n += (size_t)snprintf(table + n, sizeof table - n, "%s %s\n", s->impi, hex);
    imsec_wipe(hex, sizeof hex);
    if (n >= sizeof table)
      return -1;
  }
  char head[] = "# IMPI HEXKEY: the configured PSKs (mode M3)\n";
  char all[1200];
  snprintf(all, sizeof all, "%s%s", head, table);
  imsec_wipe(table, sizeof table);
  int rv = write_secret(imsec_fx_path(f, IMSEC_FX_PCSCF_PSK, p, sizeof p), all);
  imsec_wipe(all, sizeof all);
  if (rv != 0)
    return -1;
  uint8_t wrong[32];
  if (imsec_random(cr, wrong, sizeof wrong) < 0)
    return -1;
  rv = write_psk(imsec_fx_path(f, IMSEC_FX_PSK_WRONG, p, sizeof p), wrong,
                 sizeof wrong);
  imsec_wipe(wrong, sizeof wrong);
  if (rv != 0)
    return rv;
  /* Another password for the softphone's refused case. */
  char pw[32];
  if (new_password(cr, pw, sizeof pw) != 0)
    return -1;
  rv = write_password(imsec_fx_path(f, IMSEC_FX_PASSWORD_WRONG, p, sizeof p),
                      pw);
  imsec_wipe(pw, sizeof pw);
  return rv;
}

int imsec_fx_profile_variant(imsec_fx *f, const imsec_fx_sub *s,
                             const char *file, const char *cert,
                             const char *key, const char *psk_file, char *path,
                             size_t cap) {
  char c[1024], k[1024], pf[1024];
  imsec_fx_path(f, file, path, cap);
  return write_profile(
      f, s, path, cert ? imsec_fx_path(f, cert, c, sizeof c) : NULL,
      key ? imsec_fx_path(f, key, k, sizeof k) : NULL,
      psk_file ? imsec_fx_path(f, psk_file, pf, sizeof pf) : NULL,
      s->password_file[0] ? s->password_file : NULL);
}

int imsec_fx_password_variant(imsec_fx *f, const imsec_fx_sub *s,
                              const char *file, const char *password_file,
                              char *path, size_t cap) {
  if (!s->digest)
    return IMSEC_ERR_INVAL;
  char pf[1024];
  imsec_fx_path(f, file, path, cap);
  return write_profile(f, s, path, NULL, NULL, NULL,
                       imsec_fx_path(f, password_file, pf, sizeof pf));
}

int imsec_fx_hss_record(const imsec_fx_sub *s, imsec_hss_sub *out) {
  memset(out, 0, sizeof *out);
  if (snprintf(out->impi, sizeof out->impi, "%s", s->impi) < 0 ||
      snprintf(out->impus[0], sizeof out->impus[0], "%s", s->impu) < 0 ||
      snprintf(out->impus[1], sizeof out->impus[1], "%s", s->tel) < 0)
    return IMSEC_ERR_INVAL;
  out->n_impus = 2;
  if (s->digest) {
    /* H(A1) for every algorithm and username form, in the realm of the
     * IMPI (TS 23.003 §13.3); never the password. */
    imsec_crypto *cr = NULL;
    int rv = imsec_crypto_ossl_new(&cr);
    if (rv == 0)
      rv = imsec_hss_digest_set(
          out, cr, IMSEC_STR_LIT(""),
          (imsec_bytes){(const uint8_t *)s->password, strlen(s->password)});
    imsec_crypto_del(cr);
    if (rv != 0)
      imsec_hss_sub_wipe(out);
    return rv;
  }
  memcpy(out->k, s->k, sizeof out->k);
  memcpy(out->op, s->opc, sizeof out->op);
  out->op_is_opc = 1;
  out->amf[0] = 0x80;
  /* The last SQN used is 0 (SEQ_HE 0, IND 0): the next vector takes IND 1
   * (TS 33.102 Annex C), as `imsec hss add --sqn 000000000000` records. */
  out->sqn.seq = 0;
  out->sqn.ind_next = 1;
  out->aka = IMSEC_HSS_AKAV1;
  return 0;
}

int imsec_fx_hss_add_argv(const imsec_fx_sub *s, const char *db,
                          imsec_fx_hss_add *a) {
  memset(a, 0, sizeof *a);
  if (imsec_hex_encode(s->k, 16, a->k, sizeof a->k) < 0 ||
      imsec_hex_encode(s->opc, 16, a->opc, sizeof a->opc) < 0) {
    imsec_fx_hss_add_wipe(a);
    return -1;
  }
  snprintf(a->impus, sizeof a->impus, "%s,%s", s->impu, s->tel);
  if (s->digest) {
    char *const dv[] = {"hss",
                        "add",
                        "--db",
                        (char *)db,
                        "--impi",
                        (char *)s->impi,
                        "--impu",
                        a->impus,
                        "--scheme",
                        "digest",
                        "--password-file",
                        (char *)s->password_file,
                        NULL};
    memcpy(a->argv, dv, sizeof dv);
    return 0;
  }
  char *const argv[] = {
      "hss",    "add",    "--db",  (char *)db,     "--impi", (char *)s->impi,
      "--impu", a->impus, "--k",   a->k,           "--opc",  a->opc,
      "--amf",  "8000",   "--sqn", "000000000000", NULL};
  memcpy(a->argv, argv, sizeof argv);
  return 0;
}

void imsec_fx_hss_add_wipe(imsec_fx_hss_add *a) {
  imsec_wipe(a->k, sizeof a->k);
  imsec_wipe(a->opc, sizeof a->opc);
}
