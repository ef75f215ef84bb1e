/* imsec isim: derive identities, write and check ISIM profiles. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/password_file.h"
#include "imsec/crypto.h"
#include "imsec/elem.h"
#include "imsec/ident.h"
#include "imsec/isim.h"
#include "imsec/x509.h"
#include "imsec/crypto_ossl.h"

#define SUB "isim"

static const char help[] =
    "usage: imsec isim derive --imsi IMSI --mnc-len 2|3\n"
    "       imsec isim new --imsi IMSI --mnc-len 2|3 --trust-domain D\n"
    "                      --anchors ROOT.pem --home-ca CA.pem\n"
    "                      [--partner CA.pem ...] [--policy P] --out FILE\n"
    "                      [--cert-file CHAIN.pem --key-file KEY.pem]\n"
    "                      [--psk-file FILE [--psk-identity ID]] [--force]\n"
    "       imsec isim new --digest (--imsi IMSI --mnc-len 2|3 |\n"
    "                      --impi I --impu U [--impu U2 ...]\n"
    "                      [--home-domain D]) --trust-domain D\n"
    "                      --anchors ROOT.pem --home-ca CA.pem\n"
    "                      --password-file F [--digest-username U]\n"
    "                      [--partner CA.pem ...] [--policy P] --out FILE\n"
    "                      [--force]\n"
    "       imsec isim check FILE\n"
    "\n"
    "derive: the home network domain name, IMPI and temporary IMPU of an\n"
    "  IMSI (TS 23.003 clause 13), printed as home_domain=, impi=, impu=.\n"
    "new: write an ISIM profile (YAML, mode 0600) with a fresh random K and\n"
    "  OPc, AMF 8000 and SQN 0, the derived identities, and the trust\n"
    "  configuration: trust anchors, the home operator's CA, roaming\n"
    "  partners' CAs, the policy (trust-domain or strict-home).\n"
    "  --cert-file, --key-file  modes M2a/M2b: the UE's certificate chain\n"
    "                  (imsec pki ue --impi IMPI [--server]) and its key,\n"
    "                  written as cert_file, key_file; the key file must\n"
    "                  be mode 0600. Both or neither\n"
    "  --psk-file FILE  mode M3, configured: the PSK in hex (1 to 64\n"
    "                  octets), mode 0600, written as psk_file (the key\n"
    "                  stays in that file)\n"
    "  --psk-identity ID  its identity (psk_identity); default the IMPI,\n"
    "                  which the P-CSCF's --psk-file names and holds the\n"
    "                  REGISTER to\n"
    "  Paths are stored absolute; each file is checked before anything\n"
    "  is written (a refusal is one line, exit 2).\n"
    "new --digest: a terminal without an ISIM (SIP Digest over TLS, TS\n"
    "  33.203 Annexes N and O; docs/DIGEST.md): no K, OP/OPc, AMF or SQN,\n"
    "  but password_file: F. When F does not exist it is created (mode\n"
    "  0600) with a random password (24 characters, base64 of 18 random\n"
    "  octets) to give the HSS (imsec hss add --scheme digest\n"
    "  --password-file F); when it exists it is used as it is (one line of\n"
    "  1 to 128 octets, mode 0600 and yours). The profile names the file,\n"
    "  never the password. Identities come from --imsi or are given:\n"
    "  --impi user@realm, --impu (at least one), --home-domain (default\n"
    "  the IMPI's realm). --digest-username U: the username to send\n"
    "  (default the IMPI; its user part for softphone-style accounts).\n"
    "check: print every violation of the clause 8.1 naming rule (the\n"
    "  domains of the IMPI, every IMPU and the home network domain name lie\n"
    "  within the IMS trust domain) and every inconsistency; exit 0 when\n"
    "  clean, 1 otherwise, 2 when the file cannot be read (or a key file\n"
    "  it names is missing or readable by group or others). The UE\n"
    "  certificate (cert_file) is judged as a P-CSCF asking for client\n"
    "  certificates would judge it (chain to the anchors, EKU clientAuth,\n"
    "  SAN URI sip:IMPI under its operator's CA); psk_identity must be the\n"
    "  IMPI. A clean profile also gets one line per mode it is set up\n"
    "  for (m2: ..., m3: ...).\n";

static int parse_mnc_len(const char *v, unsigned *out) {
  if (!v)
    return cli_usage(SUB, "--mnc-len is required (2 or 3)");
  if (strcmp(v, "2") == 0)
    *out = 2;
  else if (strcmp(v, "3") == 0)
    *out = 3;
  else
    return cli_usage(SUB, "--mnc-len must be 2 or 3, not '%s'", v);
  return 0;
}

static int derive(const char *imsi, const char *mnc_len_s,
                  imsec_ident_derived *d) {
  unsigned mnc_len = 0;
  if (!imsi)
    return cli_usage(SUB, "--imsi is required");
  int rv = parse_mnc_len(mnc_len_s, &mnc_len);
  if (rv)
    return rv;
  if (imsec_ident_from_imsi(imsec_str_c(imsi), mnc_len, d) != 0)
    return cli_usage(SUB,
                     "--imsi '%s' is not an IMSI (6 to 15 digits: MCC, MNC, "
                     "MSIN)",
                     imsi);
  return 0;
}

static int cmd_derive(int argc, char **argv) {
  const char *imsi = NULL, *mnc_len = NULL;
  for (int i = 2; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--imsi") == 0)
      slot = &imsi;
    else if (strcmp(argv[i], "--mnc-len") == 0)
      slot = &mnc_len;
    else
      return cli_usage(SUB, "unknown option '%s'", argv[i]);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", argv[i]);
    *slot = argv[++i];
  }
  imsec_ident_derived d;
  int rv = derive(imsi, mnc_len, &d);
  if (rv)
    return rv;
  printf("home_domain=%s\nimpi=%s\nimpu=%s\n", d.home_domain, d.impi, d.impu);
  return CLI_EXIT_OK;
}

static char *abs_path(const char *opt, const char *path) {
  char *r = realpath(path, NULL);
  if (!r)
    cli_fail(CLI_EXIT_USAGE, SUB, "%s %s: no such file", opt, path);
  return r;
}

static void print_finding(void *ctx, const char *kind, const char *line) {
  FILE *f = ctx;
  fprintf(f, "%s: %s\n", kind, line);
}

/* A key file the profile will name (key_file, psk_file), checked by the
 * profile reader itself so `new` refuses exactly what `imsec ue` would:
 * a missing or unreadable file, one readable by group or others, a PSK
 * file that does not hold 1 to 64 octets in hex. 0, or CLI_EXIT_USAGE
 * after one line naming the flag. */
static int key_file_ok(const char *opt, const char *key, const char *path) {
  /* A one-key profile; single quotes take any path (' doubled). */
  char doc[PATH_MAX * 2 + 64];
  size_t n = (size_t)snprintf(doc, sizeof(doc), "%s: '", key);
  for (const char *c = path; *c && n + 4 < sizeof(doc); c++) {
    if (*c == '\'')
      doc[n++] = '\'';
    doc[n++] = *c;
  }
  n += (size_t)snprintf(doc + n, sizeof(doc) - n, "'\n");
  imsec_isim_profile t;
  char err[512] = "";
  int rv = imsec_isim_parse(doc, n, opt, NULL, 0, &t, err, sizeof(err));
  if (rv == 0) {
    imsec_isim_free(&t);
    return 0;
  }
  /* "OPT:1: key 'KEY': WHAT" -> "OPT: WHAT" */
  const char *what = strstr(err, "': ");
  return cli_usage(SUB, "%s: %s", opt, what ? what + 3 : err);
}

/* A PSK identity the P-CSCF's PSK file can name: 1 to IMSEC_PSK_ID_MAX - 1
 * printable octets, no space. */
static int psk_identity_ok(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n >= IMSEC_PSK_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
      return 0;
  return 1;
}

/* ------------------------------------------------------ new --digest */

typedef struct digest_args {
  const char *imsi, *mnc_len, *impi;
  const char *const *impus;
  size_t n_impus;
  const char *home, *password_file, *user, *td, *anchors, *home_ca;
  const char *const *partners;
  size_t n_partners;
  const char *policy, *out;
  int force, m2, m3;
} digest_args;

/* An identity as the profile reader and the UE take it. */
static int ident_ok(const char *v) {
  imsec_str s = imsec_str_c(v);
  return s.len > 0 && s.len < IMSEC_ISIM_MAX_TEXT &&
         imsec_ident_bad_char(s) < 0;
}

/* The password file: used when it exists (its rules checked), else
 * created with a fresh random password (docs/DIGEST.md: 24 characters,
 * base64 of 18 octets from the CSPRNG). *created tells which. 0, or
 * CLI_EXIT_USAGE after one line. */
static int password_file_ready(const char *path, imsec_crypto *crypto,
                               int *created) {
  uint8_t pw[IMSEC_PASSWORD_FILE_MAX];
  size_t len = 0;
  char err[512];
  struct stat st;
  *created = 0;
  if (lstat(path, &st) == 0) {
    int rv =
        imsec_password_file_read(path, pw, sizeof(pw), &len, err, sizeof(err));
    imsec_wipe(pw, sizeof(pw));
    if (rv < 0)
      return cli_usage(SUB, "--password-file %s", err);
    return 0;
  }
  uint8_t raw[18];
  char text[32];
  int rv = imsec_random(crypto, raw, sizeof(raw));
  if (rv == 0 && imsec_base64_encode(raw, sizeof(raw), text, sizeof(text)) < 0)
    rv = IMSEC_ERR_INTERNAL;
  imsec_wipe(raw, sizeof(raw));
  if (rv < 0) {
    imsec_wipe(text, sizeof(text));
    return cli_fail(CLI_EXIT_USAGE, SUB, "the random number generator failed");
  }
  rv = imsec_password_file_create(path, (const uint8_t *)text, strlen(text),
                                  err, sizeof(err));
  imsec_wipe(text, sizeof(text));
  if (rv < 0)
    return cli_usage(SUB, "--password-file %s", err);
  *created = 1;
  return 0;
}

static int new_digest(const digest_args *a) {
  if (a->m2 || a->m3)
    return cli_usage(SUB, "--digest takes no --cert-file/--key-file or "
                          "--psk-file/--psk-identity (modes M2 and M3 rest "
                          "on the ISIM)");
  imsec_ident_derived d;
  memset(&d, 0, sizeof(d));
  const char *impi = a->impi, *home = a->home;
  if (a->imsi || a->mnc_len) {
    if (a->impi || a->n_impus || a->home)
      return cli_usage(SUB, "give --imsi/--mnc-len or --impi/--impu, not "
                            "both");
    int rv = derive(a->imsi, a->mnc_len, &d);
    if (rv)
      return rv;
    impi = d.impi;
    home = d.home_domain;
  } else {
    if (!impi)
      return cli_usage(SUB, "--digest needs --impi (or --imsi)");
    if (!a->n_impus)
      return cli_usage(SUB, "--digest needs --impu (or --imsi)");
  }
  imsec_impi ip;
  if (!ident_ok(impi) || imsec_impi_parse(imsec_str_c(impi), &ip) != 0)
    return cli_usage(SUB, "--impi '%s' is not user@realm (TS 23.003 §13.3)",
                     impi);
  char realm[IMSEC_ISIM_MAX_TEXT];
  if (!home) {
    memcpy(realm, ip.realm.p, ip.realm.len);
    realm[ip.realm.len] = '\0';
    home = realm;
  }
  if (!imsec_dns_name_valid(imsec_str_c(home)))
    return cli_usage(SUB, "--home-domain '%s' is not a domain name", home);
  for (size_t i = 0; i < a->n_impus; i++)
    if (!ident_ok(a->impus[i]))
      return cli_usage(SUB, "--impu '%s' is not an identity", a->impus[i]);
  if (a->user && (!ident_ok(a->user) || strlen(a->user) >= 256))
    return cli_usage(SUB, "--digest-username '%s' is not a username", a->user);
  if (!a->password_file)
    return cli_usage(SUB, "--digest needs --password-file F");
  if (!a->td)
    return cli_usage(SUB, "--trust-domain is required");
  if (!imsec_dns_name_valid(imsec_str_c(a->td)))
    return cli_usage(SUB, "--trust-domain '%s' is not a domain name", a->td);
  if (!a->anchors)
    return cli_usage(SUB, "--anchors is required");
  if (!a->home_ca)
    return cli_usage(SUB, "--home-ca is required");
  if (!a->out)
    return cli_usage(SUB, "--out is required");
  imsec_isim_profile p;
  memset(&p, 0, sizeof(p));
  if (a->policy &&
      imsec_trust_policy_parse(imsec_str_c(a->policy), &p.policy) != 0)
    return cli_usage(SUB, "--policy must be trust-domain or strict-home");

  int rv = CLI_EXIT_USAGE, created = 0;
  char *impus[IMSEC_ISIM_MAX_LIST] = {NULL};
  char *anchor_list[1] = {NULL};
  char *partner_list[IMSEC_ISIM_MAX_LIST] = {NULL};
  imsec_crypto *crypto = NULL;
  p.impi = (char *)impi;
  if (a->n_impus) {
    for (size_t i = 0; i < a->n_impus; i++)
      impus[i] = (char *)a->impus[i];
    p.n_impus = a->n_impus;
  } else {
    impus[0] = d.impu;
    p.n_impus = 1;
  }
  p.impus = impus;
  p.home_domain = (char *)home;
  p.trust_domain = (char *)a->td;
  p.digest_username = (char *)a->user;
  if (!(anchor_list[0] = abs_path("--anchors", a->anchors)))
    goto done;
  p.anchors = anchor_list;
  p.n_anchors = 1;
  if (!(p.home_ca = abs_path("--home-ca", a->home_ca)))
    goto done;
  for (size_t i = 0; i < a->n_partners; i++) {
    if (!(partner_list[i] = abs_path("--partner", a->partners[i])))
      goto done;
  }
  p.partners = partner_list;
  p.n_partners = a->n_partners;
  if (imsec_crypto_ossl_new(&crypto) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "crypto backend unavailable");
    goto done;
  }
  /* Refuse an existing profile before a password file is made for it. */
  struct stat st;
  if (!a->force && lstat(a->out, &st) == 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s exists (use --force to overwrite)",
             a->out);
    goto done;
  }
  if (password_file_ready(a->password_file, crypto, &created))
    goto done;
  /* Stored absolute, so the profile works from wherever it is read. */
  if (!(p.password_file = abs_path("--password-file", a->password_file)))
    goto done;
  int err = imsec_isim_save(&p, a->out, a->force);
  if (err < 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s: cannot write: %s", a->out,
             err == IMSEC_ERR_EXISTS ? "it exists (use --force)"
                                     : imsec_strerror(err));
    /* A password made for this profile alone goes with it. */
    if (created)
      (void)unlink(p.password_file);
    goto done;
  }
  imsec_isim_profile back;
  char msg[512];
  if (imsec_isim_load(a->out, &back, msg, sizeof(msg)) == 0) {
    size_t n = imsec_isim_check(&back, print_finding, stderr);
    if (n)
      fprintf(stderr, "imsec isim: warning: %zu finding(s) in %s\n", n, a->out);
    imsec_isim_free(&back);
  } else {
    fprintf(stderr, "imsec isim: warning: %s\n", msg);
  }
  printf("profile=%s\nimpi=%s\nimpu=%s\nhome_domain=%s\n"
         "password_file=%s\npassword_file_created=%s\n",
         a->out, p.impi, p.impus[0], p.home_domain, p.password_file,
         created ? "yes" : "no");
  if (p.digest_username)
    printf("digest_username=%s\n", p.digest_username);
  rv = CLI_EXIT_OK;
done:
  free(anchor_list[0]);
  free(p.home_ca);
  free(p.password_file);
  for (size_t i = 0; i < a->n_partners; i++)
    free(partner_list[i]);
  imsec_crypto_del(crypto);
  return rv;
}

static int cmd_new(int argc, char **argv) {
  const char *imsi = NULL, *mnc_len = NULL, *td = NULL, *anchors = NULL,
             *home_ca = NULL, *out = NULL, *policy = NULL;
  /* Modes M2a/M2b and M3. */
  const char *cert_file = NULL, *key_file = NULL, *psk_identity = NULL,
             *psk_file = NULL;
  const char *partners[IMSEC_ISIM_MAX_LIST];
  size_t n_partners = 0;
  int force = 0;
  /* SIP Digest (new --digest). */
  int digest = 0;
  const char *impi = NULL, *home = NULL, *password_file = NULL,
             *digest_user = NULL;
  const char *impu_opts[IMSEC_ISIM_MAX_LIST];
  size_t n_impu = 0;
  for (int i = 2; i < argc; i++) {
    const char **slot = NULL;
    const char *a = argv[i];
    if (strcmp(a, "--force") == 0) {
      force = 1;
      continue;
    }
    if (strcmp(a, "--digest") == 0) {
      digest = 1;
      continue;
    }
    if (strcmp(a, "--imsi") == 0)
      slot = &imsi;
    else if (strcmp(a, "--mnc-len") == 0)
      slot = &mnc_len;
    else if (strcmp(a, "--trust-domain") == 0)
      slot = &td;
    else if (strcmp(a, "--anchors") == 0)
      slot = &anchors;
    else if (strcmp(a, "--home-ca") == 0)
      slot = &home_ca;
    else if (strcmp(a, "--out") == 0)
      slot = &out;
    else if (strcmp(a, "--policy") == 0)
      slot = &policy;
    else if (strcmp(a, "--cert-file") == 0)
      slot = &cert_file;
    else if (strcmp(a, "--key-file") == 0)
      slot = &key_file;
    else if (strcmp(a, "--psk-identity") == 0)
      slot = &psk_identity;
    else if (strcmp(a, "--psk-file") == 0)
      slot = &psk_file;
    else if (strcmp(a, "--impi") == 0)
      slot = &impi;
    else if (strcmp(a, "--home-domain") == 0)
      slot = &home;
    else if (strcmp(a, "--password-file") == 0)
      slot = &password_file;
    else if (strcmp(a, "--digest-username") == 0)
      slot = &digest_user;
    else if (strcmp(a, "--impu") == 0) {
      if (n_impu == IMSEC_ISIM_MAX_LIST)
        return cli_usage(SUB, "--impu: at most %d", IMSEC_ISIM_MAX_LIST);
      slot = &impu_opts[n_impu++];
    } else if (strcmp(a, "--partner") == 0) {
      if (n_partners == IMSEC_ISIM_MAX_LIST)
        return cli_usage(SUB, "--partner: at most %d", IMSEC_ISIM_MAX_LIST);
      slot = &partners[n_partners++];
    } else
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *slot = argv[++i];
  }
  if (digest)
    return new_digest(&(digest_args){
        imsi, mnc_len, impi, impu_opts, n_impu, home, password_file,
        digest_user, td, anchors, home_ca, partners, n_partners, policy, out,
        force, cert_file || key_file, psk_file || psk_identity});
  if (impi || n_impu || home || password_file || digest_user)
    return cli_usage(SUB, "--impi, --impu, --home-domain, --password-file "
                          "and --digest-username go with --digest");
  imsec_ident_derived d;
  int rv = derive(imsi, mnc_len, &d);
  if (rv)
    return rv;
  if (!td)
    return cli_usage(SUB, "--trust-domain is required");
  if (!imsec_dns_name_valid(imsec_str_c(td)))
    return cli_usage(SUB, "--trust-domain '%s' is not a domain name", td);
  if (!anchors)
    return cli_usage(SUB, "--anchors is required");
  if (!home_ca)
    return cli_usage(SUB, "--home-ca is required");
  if (!out)
    return cli_usage(SUB, "--out is required");
  imsec_isim_profile p;
  memset(&p, 0, sizeof(p));
  if (policy && imsec_trust_policy_parse(imsec_str_c(policy), &p.policy) != 0)
    return cli_usage(SUB, "--policy must be trust-domain or strict-home");
  /* ue_m2.c takes the certificate and its key together. */
  if (!cert_file != !key_file)
    return cli_usage(SUB,
                     "%s needs %s (modes M2a/M2b: the certificate and "
                     "its key go together)",
                     cert_file ? "--cert-file" : "--key-file",
                     cert_file ? "--key-file" : "--cert-file");
  if (psk_identity && !psk_file)
    return cli_usage(SUB, "--psk-identity needs --psk-file (mode M3: the "
                          "key it names)");
  if (psk_identity && !psk_identity_ok(psk_identity))
    return cli_usage(SUB,
                     "--psk-identity '%s' is not 1 to %d printable "
                     "characters without spaces",
                     psk_identity, IMSEC_PSK_ID_MAX - 1);

  rv = CLI_EXIT_USAGE;
  char *impus[1] = {d.impu};
  char *anchor_list[1] = {NULL};
  char *partner_list[IMSEC_ISIM_MAX_LIST] = {NULL};
  imsec_crypto *crypto = NULL;
  p.impi = d.impi;
  p.impus = impus;
  p.n_impus = 1;
  p.home_domain = d.home_domain;
  p.trust_domain = (char *)td;
  /* Stored absolute, so the profile works from wherever it is read. */
  if (!(anchor_list[0] = abs_path("--anchors", anchors)))
    goto done;
  p.anchors = anchor_list;
  p.n_anchors = 1;
  if (!(p.home_ca = abs_path("--home-ca", home_ca)))
    goto done;
  for (size_t i = 0; i < n_partners; i++) {
    if (!(partner_list[i] = abs_path("--partner", partners[i])))
      goto done;
  }
  p.partners = partner_list;
  p.n_partners = n_partners;
  if (cert_file) {
    imsec_x509_chain ch;
    if (!(p.cert_file = abs_path("--cert-file", cert_file)))
      goto done;
    if (imsec_x509_chain_load_pem(p.cert_file, &ch) < 0) {
      cli_usage(SUB, "--cert-file %s: no PEM certificate in it", cert_file);
      goto done;
    }
    imsec_x509_chain_free(&ch);
    if (!(p.key_file = abs_path("--key-file", key_file)) ||
        key_file_ok("--key-file", "key_file", p.key_file))
      goto done;
  }
  if (psk_file) {
    if (!(p.psk_file = abs_path("--psk-file", psk_file)) ||
        key_file_ok("--psk-file", "psk_file", p.psk_file))
      goto done;
    /* docs/M3.md: the identity is the IMPI unless told otherwise. */
    p.psk_identity = (char *)(psk_identity ? psk_identity : d.impi);
  }
  /* Fresh K and OPc from the CSPRNG behind the crypto vtable. */
  if (imsec_crypto_ossl_new(&crypto) != 0 ||
      imsec_random(crypto, p.k, sizeof(p.k)) != 0 ||
      imsec_random(crypto, p.opc, sizeof(p.opc)) != 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "the random number generator failed");
    goto done;
  }
  p.has_k = p.has_opc = 1;
  /* AMF 8000, as test cards commonly carry; SQN starts at zero (TS
   * 33.102 Annex C). */
  p.amf[0] = 0x80;
  p.amf[1] = 0x00;
  p.has_amf = 1;
  p.has_sqn = 1;
  int err = imsec_isim_save(&p, out, force);
  if (err == IMSEC_ERR_EXISTS) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s exists (use --force to overwrite)",
             out);
    goto done;
  }
  if (err < 0) {
    cli_fail(CLI_EXIT_USAGE, SUB, "--out %s: cannot write: %s", out,
             imsec_strerror(err));
    goto done;
  }
  /* Tell at once if the chosen trust domain breaks the naming rule. */
  imsec_isim_profile back;
  char msg[512];
  if (imsec_isim_load(out, &back, msg, sizeof(msg)) == 0) {
    size_t n = imsec_isim_check(&back, print_finding, stderr);
    if (n)
      fprintf(stderr, "imsec isim: warning: %zu finding(s) in %s\n", n, out);
    imsec_isim_free(&back);
  }
  printf("profile=%s\nimpi=%s\nimpu=%s\nhome_domain=%s\n", out, d.impi, d.impu,
         d.home_domain);
  if (p.cert_file)
    printf("cert_file=%s\nkey_file=%s\n", p.cert_file, p.key_file);
  if (p.psk_file)
    printf("psk_identity=%s\npsk_file=%s\n", p.psk_identity, p.psk_file);
  rv = CLI_EXIT_OK;
done:
  imsec_wipe(p.k, sizeof(p.k));
  imsec_wipe(p.opc, sizeof(p.opc));
  free(anchor_list[0]);
  free(p.home_ca);
  free(p.cert_file);
  free(p.key_file);
  free(p.psk_file);
  for (size_t i = 0; i < n_partners; i++)
    free(partner_list[i]);
  imsec_crypto_del(crypto);
  return rv;
}

/* Would a P-CSCF that dials the UE (M2b) accept the profile's certificate
 * as the UE's server certificate? */
static int serves_m2b(const imsec_isim_profile *p) {
  imsec_x509_anchors *an = NULL;
  imsec_x509_chain ch;
  char why[256];
  if (imsec_isim_anchors(p, &an, why, sizeof(why)) != 0)
    return 0;
  int ok = 0;
  if (imsec_x509_chain_load_pem(p->cert_file, &ch) == 0) {
    imsec_trust_cert f;
    ok = imsec_x509_check(an, ch.certs, ch.n, -1, &f) == 0 &&
         imsec_trust_ue_cert(&f, 1, imsec_str_c(p->impi), NULL) ==
             IMSEC_TRUST_UE_OK;
    imsec_x509_chain_free(&ch);
  }
  imsec_x509_anchors_del(an);
  return ok;
}

/* The deployment modes a clean profile is set up for, one line each. */
static void print_modes(const imsec_isim_profile *p) {
  if (p->cert_file)
    printf("m2: cert_file %s and key_file %s (mode 0600): shown to a "
           "P-CSCF that asks for a client certificate (M2a); %s\n",
           p->cert_file, p->key_file,
           serves_m2b(p) ? "served on imsec ue --listen (M2b)"
                         : "not for imsec ue --listen (M2b needs EKU "
                           "serverAuth: imsec pki ue --server)");
  if (p->psk_len)
    printf("m3: psk_identity %s with a %zu-octet key from %s (mode 0600): "
           "imsec ue --psk\n",
           p->psk_identity, p->psk_len, p->psk_file ? p->psk_file : "psk_file");
  if (p->password_len)
    printf("digest: no ISIM; SIP Digest over TLS as %s with the password "
           "in %s (mode 0600): imsec ue answers MD5/SHA-256 challenges\n",
           p->digest_username ? p->digest_username : p->impi,
           p->password_file ? p->password_file : "password_file");
}

static int cmd_check(int argc, char **argv) {
  if (argc != 3)
    return cli_usage(SUB, "check takes one profile FILE");
  imsec_isim_profile p;
  char err[512];
  if (imsec_isim_load(argv[2], &p, err, sizeof(err)) != 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "%s", err);
  size_t n = imsec_isim_check(&p, print_finding, stdout);
  if (n == 0)
    printf("ok: %s obeys the naming rule of TS 33.203 clause 8.1 (trust "
           "domain '%s') and is consistent\n",
           argv[2], p.trust_domain);
  if (n == 0)
    print_modes(&p);
  imsec_isim_free(&p);
  return n ? CLI_EXIT_NO : CLI_EXIT_OK;
}

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (argc < 2)
    return cli_usage(SUB, "missing command (derive, new, check)");
  if (strcmp(argv[1], "derive") == 0)
    return cmd_derive(argc, argv);
  if (strcmp(argv[1], "new") == 0)
    return cmd_new(argc, argv);
  if (strcmp(argv[1], "check") == 0)
    return cmd_check(argc, argv);
  return cli_usage(SUB, "unknown command '%s'", argv[1]);
}

const cli_cmd imsec_cmd_isim = {
    .name = "isim",
    .summary = "derive IMS identities, write and check ISIM profiles",
    .run = run,
    .planned = 0,
};
