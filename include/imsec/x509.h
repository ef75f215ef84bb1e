/*
 * imsec x509: RFC 5280 path validation of a peer's chain with OpenSSL, and
 * the extraction of the facts lib/trust decides on (imsec_trust_cert).
 *
 * The chain comes in as DER certificates, leaf first, the way a TLS
 * transport hands it over (net/ can call imsec_x509_check straight from its
 * verify step). A PEM loader for files sits on top for the CLI and tests.
 */
#ifndef IMSEC_X509_H
#define IMSEC_X509_H

#include "imsec/base.h"
#include "imsec/trust.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The trust configuration of a UE: trust anchors (roots), the home
 * operator's CA, and the CAs of its roaming partners. Opaque; one per
 * profile, read-only once built (safe to share between threads then). */
typedef struct imsec_x509_anchors imsec_x509_anchors;

/* Returns 0, IMSEC_ERR_NOMEM. Free with imsec_x509_anchors_del. */
IMSEC_API IMSEC_MUST_USE int imsec_x509_anchors_new(imsec_x509_anchors **out);
IMSEC_API void imsec_x509_anchors_del(imsec_x509_anchors *a);

/* Add one trust anchor (DER). Returns 0, IMSEC_ERR_PARSE (not a
 * certificate), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_x509_anchors_add_root(imsec_x509_anchors *a,
                                                         const uint8_t *der,
                                                         size_t len);
/* Set the home operator's CA (DER), replacing any earlier one. It also
 * serves as an untrusted intermediate for path building. Returns as above. */
IMSEC_API IMSEC_MUST_USE int
imsec_x509_anchors_set_home_ca(imsec_x509_anchors *a, const uint8_t *der,
                               size_t len);
/* Add a roaming partner's CA (DER). `name` (copied; NULL: the CA's subject
 * CN) is what the decision reports as the partner. Returns as above. */
IMSEC_API IMSEC_MUST_USE int
imsec_x509_anchors_add_partner(imsec_x509_anchors *a, const uint8_t *der,
                               size_t len, const char *name);

/* The same from PEM files: every certificate in `path` is added (for the
 * home CA and a partner, the file's first certificate). Returns 0,
 * IMSEC_ERR_IO (cannot read), IMSEC_ERR_PARSE (no certificate in it),
 * IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int
imsec_x509_anchors_add_root_file(imsec_x509_anchors *a, const char *path);
IMSEC_API IMSEC_MUST_USE int
imsec_x509_anchors_set_home_ca_file(imsec_x509_anchors *a, const char *path);
IMSEC_API IMSEC_MUST_USE int
imsec_x509_anchors_add_partner_file(imsec_x509_anchors *a, const char *path,
                                    const char *name);

/*
 * Validate `chain` (n DER certificates, leaf first; the rest untrusted
 * intermediates) against the anchors at time `now` (Unix seconds; a
 * negative value means the current clock): RFC 5280 path validation with
 * validity times and name constraints, then EKU serverAuth on the leaf
 * (TS 33.310 §6.1.3c). Fills `out` with the outcome, the leaf's names
 * (RFC 5922 §7.1 inputs) and which configured CA the validated path passes
 * through. A chain that fails validation is not an error: it returns 0 with
 * out->chain saying why. Returns 0, IMSEC_ERR_INVAL (n == 0, NULLs),
 * IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO.
 */
IMSEC_API IMSEC_MUST_USE int imsec_x509_check(const imsec_x509_anchors *a,
                                              const imsec_bytes *chain,
                                              size_t n, int64_t now,
                                              imsec_trust_cert *out);

/* A chain read from a PEM file: owned DER buffers, leaf first. */
typedef struct imsec_x509_chain {
  imsec_bytes *certs; /* certs[i].p is owned by the chain */
  size_t n;
} imsec_x509_chain;

/* Read every certificate of a PEM file. Returns 0, IMSEC_ERR_IO,
 * IMSEC_ERR_PARSE (no certificate, or a broken PEM block),
 * IMSEC_ERR_NOMEM. Free with imsec_x509_chain_free. */
IMSEC_API IMSEC_MUST_USE int imsec_x509_chain_load_pem(const char *path,
                                                       imsec_x509_chain *out);
IMSEC_API void imsec_x509_chain_free(imsec_x509_chain *c);

/* The subject CN of the first certificate in a PEM file, into buf.
 * Returns the length, or IMSEC_ERR_IO, IMSEC_ERR_PARSE, IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int imsec_x509_file_subject_cn(const char *path,
                                                        char *buf, size_t cap);

/* Does the first certificate of `cert_path` validate (as a CA or leaf of
 * any purpose) against the roots in `roots_path`? 1 yes, 0 no (with the
 * validator's words in `why`), or a negative imsec_err when a file cannot
 * be read. For consistency checks of a profile. */
IMSEC_API int imsec_x509_file_chains_to(const char *cert_path,
                                        const char *roots_path, char *why,
                                        size_t why_cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_X509_H */
