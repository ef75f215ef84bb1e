/* Fuzz the certificate facts extraction: any bytes as a DER chain of one or
 * two certificates; the names copied out are bounded and NUL-terminated.
 *
 * Input 0xfe, bytes: the bytes as a leaf that the harness re-signs under
 * its own operator CA (issuer name, validity and signature replaced, any
 * authorityKeyIdentifier dropped), so that fuzzed names and extensions get
 * past RFC 5280 path validation and reach what imsec adds after it: the
 * EKU serverAuth rule, the name constraints on SAN URIs and the choice of
 * issuer. The CA is constrained to 3gppnetwork.org and is the home CA. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imsec/trust.h"
#include "imsec/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define NOW 2000000000 /* 2033: inside the re-signed validity */

static imsec_x509_anchors *none;  /* no anchors: nothing validates */
static imsec_x509_anchors *anchs; /* the harness's root and home CA */
static EVP_PKEY *ca_key;
static X509 *ca;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!e || !X509_add_ext(x, e, -1))
    abort();
  X509_EXTENSION_free(e);
}

/* A CA certificate for `key`, named `cn`, signed by (issuer, ikey) or
 * self-signed. */
static X509 *make_ca(const char *cn, EVP_PKEY *key, X509 *issuer,
                     EVP_PKEY *ikey, const char *constraints) {
  X509 *x = X509_new();
  if (!x || !X509_set_version(x, 2) ||
      !ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 2 : 1) ||
      !ASN1_TIME_set(X509_getm_notBefore(x), 1000000000) ||
      !ASN1_TIME_set(X509_getm_notAfter(x), 4000000000) ||
      !X509_set_pubkey(x, key))
    abort();
  X509_NAME *n = X509_get_subject_name(x);
  if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                  (const unsigned char *)cn, -1, -1, 0) ||
      !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n))
    abort();
  add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign");
  if (constraints)
    add_ext(x, issuer ? issuer : x, NID_name_constraints, constraints);
  if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
    abort();
  return x;
}

static void der_add(X509 *x, int home) {
  unsigned char *der = NULL;
  int len = i2d_X509(x, &der);
  if (len <= 0)
    abort();
  int rv = home ? imsec_x509_anchors_set_home_ca(anchs, der, (size_t)len)
                : imsec_x509_anchors_add_root(anchs, der, (size_t)len);
  OPENSSL_free(der);
  if (rv != 0)
    abort();
}

static void setup(void) {
  if (imsec_x509_anchors_new(&none) != 0 || imsec_x509_anchors_new(&anchs) != 0)
    abort();
  EVP_PKEY *root_key = EVP_EC_gen("P-256");
  ca_key = EVP_EC_gen("P-256");
  if (!root_key || !ca_key)
    abort();
  X509 *root = make_ca("fuzz root", root_key, NULL, NULL, NULL);
  ca = make_ca("fuzz operator CA", ca_key, root, root_key,
               "critical,permitted;DNS:3gppnetwork.org");
  der_add(root, 0);
  der_add(ca, 1);
  X509_free(root);
  EVP_PKEY_free(root_key);
}

/* The leaf in `data`, re-issued by the harness's CA; NULL if it is not a
 * certificate OpenSSL can re-sign. Free with OPENSSL_free. */
static unsigned char *resign(const uint8_t *data, size_t size, int *len) {
  const unsigned char *p = data;
  X509 *x = d2i_X509(NULL, &p, (long)size);
  unsigned char *der = NULL;
  *len = 0;
  if (!x)
    return NULL;
  int i;
  while ((i = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1)) >= 0)
    X509_EXTENSION_free(X509_delete_ext(x, i));
  if (X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
      ASN1_TIME_set(X509_getm_notBefore(x), 1500000000) &&
      ASN1_TIME_set(X509_getm_notAfter(x), 3500000000) &&
      X509_sign(x, ca_key, EVP_sha256()))
    *len = i2d_X509(x, &der);
  X509_free(x);
  return *len > 0 ? der : NULL;
}

static void check_names(const imsec_trust_cert *c) {
  for (size_t i = 0; i < c->n_dns; i++)
    if (strlen(c->dns[i]) >= IMSEC_TRUST_NAME_CAP)
      abort();
  for (size_t i = 0; i < c->n_sip; i++)
    if (strlen(c->sip[i]) >= IMSEC_TRUST_NAME_CAP)
      abort();
  imsec_str names[IMSEC_TRUST_MAX_NAMES * 2];
  (void)imsec_trust_cert_names(c, names, IMSEC_TRUST_MAX_NAMES * 2);
}

/* The trust decision on what was extracted, under both policies, with and
 * without wildcards: a verdict is trusted exactly when the reason is ok. */
static void decide(const imsec_trust_cert *c) {
  for (int k = 0; k < 4; k++) {
    imsec_trust_input in = {
        .cert = c,
        .pcscf_host = IMSEC_STR_LIT("pcscf." HOME),
        .realm = IMSEC_STR_LIT(HOME),
        .trust_domain = IMSEC_STR_LIT("3gppnetwork.org"),
        .home_domain = IMSEC_STR_LIT(HOME),
        .policy = (k & 1) ? IMSEC_TRUST_POLICY_STRICT_HOME
                          : IMSEC_TRUST_POLICY_TRUST_DOMAIN,
        .allow_wildcards = k >> 1,
    };
    imsec_trust_result r;
    if (imsec_trust_decide(&in, &r) != 0 ||
        (r.verdict != IMSEC_TRUST_REJECTED) != (r.reason == IMSEC_TRUST_OK))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!none)
    setup();
  imsec_trust_cert c;
  if (size > 1 && data[0] == 0xfe) {
    int len;
    unsigned char *der = resign(data + 1, size - 1, &len);
    if (!der)
      return 0;
    imsec_bytes leaf = {der, (size_t)len};
    if (imsec_x509_check(anchs, &leaf, 1, NOW, &c) == 0) {
      /* Only the harness's CA can have issued a leaf that validates. */
      if (c.chain == IMSEC_CHAIN_OK && c.issuer != IMSEC_ISSUER_HOME)
        abort();
      check_names(&c);
      decide(&c);
    }
    OPENSSL_free(der);
    return 0;
  }
  /* Input 0xff, R, bytes: a leaf and an intermediate split at R/256 of
   * the bytes; anything else: one certificate. */
  imsec_bytes chain[2];
  size_t n = 1;
  chain[0].p = data;
  chain[0].len = size;
  if (size > 2 && data[0] == 0xff) {
    size_t rest = size - 2, cut = rest * data[1] / 256;
    chain[0].p = data + 2;
    chain[0].len = cut;
    chain[1].p = data + 2 + cut;
    chain[1].len = rest - cut;
    n = 2;
  }
  if (imsec_x509_check(none, chain, n, 0, &c) == 0) {
    if (c.chain == IMSEC_CHAIN_OK)
      abort(); /* no anchors: nothing can validate */
    check_names(&c);
  }
  return 0;
}
