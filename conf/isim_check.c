/* Checking an ISIM profile: the clause 8.1 naming rule, then consistency
 * of keys, identities and the trust configuration. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imsec/ident.h"
#include "imsec/isim.h"
#include "imsec/trust.h"
#include "imsec/x509.h"

typedef struct check_acc {
  imsec_isim_emit emit;
  void *ctx;
  size_t n;
} check_acc;

__attribute__((format(printf, 3, 4))) static void
finding(check_acc *a, const char *kind, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  a->n++;
  if (a->emit)
    a->emit(a->ctx, kind, line);
}

static void check_naming(const imsec_isim_profile *p, check_acc *a) {
  imsec_str impus[IMSEC_ISIM_MAX_LIST];
  size_t n =
      p->n_impus < IMSEC_ISIM_MAX_LIST ? p->n_impus : IMSEC_ISIM_MAX_LIST;
  for (size_t i = 0; i < n; i++)
    impus[i] = imsec_str_c(p->impus[i]);
  imsec_naming_input in = {imsec_str_c(p->trust_domain), imsec_str_c(p->impi),
                           impus, n, imsec_str_c(p->home_domain)};
  imsec_naming_violation v[IMSEC_ISIM_MAX_LIST + 4];
  size_t total = imsec_naming_check(&in, v, sizeof(v) / sizeof(v[0]));
  for (size_t i = 0; i < total && i < sizeof(v) / sizeof(v[0]); i++) {
    char line[768];
    imsec_naming_describe(&v[i], in.trust_domain, line, sizeof(line));
    finding(a, "violation", "%s", line);
  }
}

static void check_cert_file(check_acc *a, const char *role, const char *path,
                            const imsec_isim_profile *p) {
  imsec_x509_chain c;
  int rv = imsec_x509_chain_load_pem(path, &c);
  if (rv < 0) {
    finding(a, "inconsistent", "%s %s: %s", role, path,
            rv == IMSEC_ERR_IO ? "cannot be read" : "holds no PEM certificate");
    return;
  }
  imsec_x509_chain_free(&c);
  /* It must chain to at least one configured anchor. */
  char why[256] = "";
  for (size_t i = 0; i < p->n_anchors; i++) {
    if (imsec_x509_file_chains_to(path, p->anchors[i], why, sizeof(why)) == 1)
      return;
  }
  if (p->n_anchors)
    finding(a, "inconsistent", "%s %s does not chain to the trust anchors%s%s",
            role, path, why[0] ? ": " : "", why);
}

/* Modes M2a/M2b: the UE's certificate is what a P-CSCF judges (TS 33.310
 * §6.1.3c clientAuth; docs/TRUST.md: SAN URI sip:IMPI under the operator
 * CA of the IMPI's realm). The key file's mode and presence were checked
 * when the profile was read. */
static void check_ue_cert(const imsec_isim_profile *p, check_acc *a) {
  if (!p->cert_file != !p->key_file) {
    finding(a, "inconsistent",
            "%s is set but %s is not: modes M2a/M2b need both",
            p->cert_file ? "cert_file" : "key_file",
            p->cert_file ? "key_file" : "cert_file");
  }
  if (!p->cert_file)
    return;
  imsec_x509_chain c;
  int rv = imsec_x509_chain_load_pem(p->cert_file, &c);
  if (rv < 0) {
    finding(a, "inconsistent", "UE certificate (cert_file) %s: %s",
            p->cert_file,
            rv == IMSEC_ERR_IO ? "cannot be read" : "holds no PEM certificate");
    return;
  }
  imsec_x509_anchors *an = NULL;
  char why[256];
  imsec_trust_cert f;
  memset(&f, 0, sizeof f);
  int checked = imsec_isim_anchors(p, &an, why, sizeof why) == 0 &&
                imsec_x509_check(an, c.certs, c.n, -1, &f) == 0;
  imsec_x509_anchors_del(an);
  imsec_x509_chain_free(&c);
  if (!checked)
    return; /* the anchors' own findings say why */
  /* The P-CSCF's own decision on it (M2a, the UE as TLS client), with
   * the profile's anchors standing in for the P-CSCF's --ue-ca. */
  char named[IMSEC_TRUST_NAME_CAP];
  imsec_trust_ue_reason r = imsec_trust_ue_cert(
      &f, 0, p->impi ? imsec_str_c(p->impi) : IMSEC_STR_LIT(""), named);
  if (r == IMSEC_TRUST_UE_IMPI_MISMATCH)
    finding(a, "inconsistent",
            "UE certificate (cert_file) %s names sip:%s, not the IMPI %s",
            p->cert_file, named, p->impi);
  else if (r != IMSEC_TRUST_UE_OK) {
    int why_path =
        (r == IMSEC_TRUST_UE_CHAIN_INVALID || r == IMSEC_TRUST_UE_EXPIRED) &&
        f.chain_detail[0];
    finding(a, "inconsistent",
            "UE certificate (cert_file) %s would be refused by a P-CSCF "
            "asking for client certificates: %s%s%s%s",
            p->cert_file, imsec_trust_ue_reason_code(r), why_path ? " (" : "",
            why_path ? f.chain_detail : "", why_path ? ")" : "");
  }
}

/* Mode M3, configured (docs/M3.md): the identity is the IMPI, which the
 * P-CSCF holds the REGISTER to. */
static void check_psk(const imsec_isim_profile *p, check_acc *a) {
  if (p->psk_identity && !p->psk_len)
    finding(a, "inconsistent",
            "psk_identity is set but psk_file is not: mode M3 needs both");
  if (!p->psk_identity && p->psk_len)
    finding(a, "inconsistent",
            "psk_file is set but psk_identity is not: mode M3 needs both");
  if (p->psk_identity && p->impi &&
      strcmp(p->psk_identity, p->impi) != 0) /* no secret: identities */
    finding(a, "inconsistent",
            "psk_identity '%s' is not the IMPI: a P-CSCF refuses the "
            "REGISTER on such a connection (403)",
            p->psk_identity);
}

/* SIP Digest (TS 33.203 Annex N, docs/DIGEST.md): a password and no
 * ISIM keys (the UE would authenticate one way only), and a username the
 * S-CSCF can map to the IMPI: the IMPI itself or its user part. */
static void check_digest(const imsec_isim_profile *p, check_acc *a) {
  if (p->digest_username && !p->password_len)
    finding(a, "inconsistent",
            "digest_username is set but password_file is not: SIP Digest "
            "needs the password");
  if (!p->password_len)
    return;
  if (p->has_k || p->has_op || p->has_opc)
    finding(a, "inconsistent",
            "password_file and ISIM keys (k, op/opc) together: a profile "
            "is either an ISIM (IMS AKA) or a SIP Digest terminal");
  if (p->psk_len)
    finding(a, "inconsistent",
            "password_file and psk_file together: mode M3 rests on IMS AKA "
            "or a configured PSK, not on SIP Digest");
  if (!p->digest_username || !p->impi)
    return;
  size_t u = strlen(p->digest_username);
  const char *at = strchr(p->impi, '@');
  size_t part = at ? (size_t)(at - p->impi) : strlen(p->impi);
  int is_impi =
      strcmp(p->digest_username, p->impi) == 0; /* no secret: identities */
  int is_part = u == part && strncmp(p->digest_username, p->impi, part) ==
                                 0; /* no secret: identities */
  if (!is_impi && !is_part)
    finding(a, "inconsistent",
            "digest_username '%s' is neither the IMPI nor its user part: "
            "the S-CSCF would know no such username",
            p->digest_username);
}

size_t imsec_isim_check(const imsec_isim_profile *p, imsec_isim_emit emit,
                        void *ctx) {
  check_acc a = {emit, ctx, 0};
  check_naming(p, &a);

  /* Clause 8.1: the ISIM holds an authentication key; Milenage needs OP
   * or OPc (TS 35.206). A terminal without an ISIM holds a password
   * instead (TS 33.203 Annex N). */
  if (!p->password_len) {
    if (!p->has_k)
      finding(&a, "inconsistent",
              "no authentication key: set k or k_file (or password_file "
              "for SIP Digest)");
    if (!p->has_op && !p->has_opc)
      finding(&a, "inconsistent",
              "no operator variant key: set one of op, op_file, opc, "
              "opc_file");
  }
  check_digest(p, &a);

  /* TS 23.003 §13.3: the IMPI's realm is the home network domain name. */
  imsec_impi impi;
  if (p->impi && p->home_domain &&
      imsec_impi_parse(imsec_str_c(p->impi), &impi) == 0 &&
      !imsec_dns_name_eq(impi.realm, imsec_str_c(p->home_domain)))
    finding(&a, "inconsistent",
            "the IMPI's realm '%.*s' is not the home network domain name "
            "'%s'",
            (int)impi.realm.len, impi.realm.p, p->home_domain);
  for (size_t i = 0; i < p->n_impus; i++) {
    for (size_t j = 0; j < i; j++) {
      if (imsec_str_ieq(imsec_str_c(p->impus[i]), imsec_str_c(p->impus[j])))
        finding(&a, "inconsistent", "IMPU #%zu repeats IMPU #%zu ('%s')", i + 1,
                j + 1, p->impus[i]);
    }
  }

  /* The trust configuration of the decision (DESIGN.md §3). */
  if (p->n_anchors == 0)
    finding(&a, "inconsistent", "no trust anchors: set anchors");
  for (size_t i = 0; i < p->n_anchors; i++) {
    imsec_x509_chain c;
    int rv = imsec_x509_chain_load_pem(p->anchors[i], &c);
    if (rv < 0)
      finding(&a, "inconsistent", "trust anchor %s: %s", p->anchors[i],
              rv == IMSEC_ERR_IO ? "cannot be read"
                                 : "holds no PEM certificate");
    else
      imsec_x509_chain_free(&c);
  }
  if (!p->home_ca)
    finding(&a, "inconsistent", "no home operator CA: set home_ca");
  else
    check_cert_file(&a, "home CA", p->home_ca, p);
  for (size_t i = 0; i < p->n_partners; i++) {
    char role[48];
    snprintf(role, sizeof(role), "roaming partner CA #%zu", i + 1);
    check_cert_file(&a, role, p->partners[i], p);
    if (p->home_ca && strcmp(p->partners[i], p->home_ca) == 0)
      finding(&a, "inconsistent",
              "roaming partner CA #%zu is the home CA itself", i + 1);
  }
  /* The home CA's name should cover the home domain (pki operator names
   * each operator CA after its domain). */
  char cn[256];
  if (p->home_ca && p->home_domain &&
      imsec_x509_file_subject_cn(p->home_ca, cn, sizeof(cn)) > 0 &&
      imsec_dns_name_valid(imsec_str_c(cn)) &&
      !imsec_dns_name_within(imsec_str_c(p->home_domain), imsec_str_c(cn)))
    finding(&a, "inconsistent",
            "the home CA is the CA of '%s', but the home domain is '%s'", cn,
            p->home_domain);
  check_ue_cert(p, &a);
  check_psk(p, &a);
  return a.n;
}
