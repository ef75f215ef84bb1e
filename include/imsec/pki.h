/*
 * imsec pki: make a trust-domain PKI with the OpenSSL API (no shelling
 * out): the IMS root CA, operator CAs name-constrained to their operator
 * domain (the roaming-agreement hierarchy of Annex F), P-CSCF and UE
 * certificates, and deliberately bad ones for tests.
 *
 * Certificates follow TS 33.310 §6.1 where it applies: X.509 v3, SHA-256
 * signatures, subject/authority key identifiers, critical basic
 * constraints and key usage.
 */
#ifndef IMSEC_PKI_H
#define IMSEC_PKI_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imsec_pki_key {
  IMSEC_PKI_KEY_EC_P256 = 0,
  IMSEC_PKI_KEY_RSA2048 = 1,
} imsec_pki_key;

/* What to put in a certificate. All strings are borrowed for the call. */
typedef struct imsec_pki_spec {
  imsec_pki_key key;
  const char *cn;         /* subject CN (NULL: none) */
  const char *org;        /* subject O (NULL: none) */
  int ca;                 /* 1: a CA (keyCertSign, cRLSign) */
  int path_len;           /* CAs: the pathLenConstraint, or -1 for none */
  const char *const *dns; /* SAN dNSName values */
  size_t n_dns;
  const char *const *uris; /* SAN URI values, e.g. "sip:host" */
  size_t n_uris;
  /* Name constraints (RFC 5280 §4.2.1.10, critical): each entry permits
   * that domain and its subdomains as dNSName (crypto/x509.c holds SAN URI
   * sip: hosts to the same subtrees). */
  const char *const *permitted;
  size_t n_permitted;
  int server_auth;    /* EKU id-kp-serverAuth */
  int client_auth;    /* EKU id-kp-clientAuth */
  int64_t not_before; /* Unix seconds */
  int64_t not_after;
} imsec_pki_spec;

/* A certificate with its private key. Opaque. */
typedef struct imsec_pki_cred imsec_pki_cred;

/*
 * Generate a key pair and a certificate for `spec`, signed by `issuer`
 * (NULL: self-signed). Returns 0, IMSEC_ERR_INVAL (a bad spec: no name at
 * all, not_after before not_before, an empty SAN value), IMSEC_ERR_NOMEM,
 * IMSEC_ERR_CRYPTO. Free with imsec_pki_cred_del.
 */
IMSEC_API IMSEC_MUST_USE int imsec_pki_issue(const imsec_pki_spec *spec,
                                             const imsec_pki_cred *issuer,
                                             imsec_pki_cred **out);

/* Read a certificate (first in the PEM file) and its private key. The key
 * file must not be readable by group or others. Returns 0, IMSEC_ERR_IO,
 * IMSEC_ERR_PERM (the key file's mode), IMSEC_ERR_PARSE (not PEM, or the
 * key does not belong to the certificate), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_pki_cred_load(const char *cert_path,
                                                 const char *key_path,
                                                 imsec_pki_cred **out);
IMSEC_API void imsec_pki_cred_del(imsec_pki_cred *c);

/* The certificate's DER (borrowed; lives as long as `c`). */
IMSEC_API imsec_bytes imsec_pki_cred_der(const imsec_pki_cred *c);

/* Write the private key (PKCS#8 PEM) with mode 0600. Without `force` an
 * existing file is left alone (IMSEC_ERR_EXISTS). Returns 0, IMSEC_ERR_EXISTS,
 * IMSEC_ERR_IO, IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_pki_write_key(const imsec_pki_cred *c,
                                                 const char *path, int force);

/* Write certificates as PEM, in the given order (a chain file: leaf
 * first), mode 0644. Returns as imsec_pki_write_key. */
IMSEC_API IMSEC_MUST_USE int
imsec_pki_write_certs(const char *path, const imsec_pki_cred *const *certs,
                      size_t n, int force);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_PKI_H */
