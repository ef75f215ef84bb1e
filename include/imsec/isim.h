/*
 * imsec isim: ISIM profiles (TS 33.203 clause 8.1 with the CR of the seed)
 * in YAML files, loaded by conf/isim.c with libyaml.
 *
 * A profile:
 *
 *   impi: 001010000000001@ims.mnc001.mcc001.3gppnetwork.org
 *   impus:
 *     - sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org
 *   home_domain: ims.mnc001.mcc001.3gppnetwork.org
 *   trust_domain: 3gppnetwork.org
 *   k: 465b5ce8b199b49faa5f0a2ee238a6bc      # or k_file: PATH
 *   opc: cd63cb71954a9f4e48a5994e37a02baf    # or op/op_file/opc_file
 *   amf: "8000"
 *   sqn: "000000000000"     # highest SQN accepted (TS 33.102 Annex C)
 *   anchors: [root.crt]     # trust anchors, PEM
 *   home_ca: op-mcc001-mnc001.crt
 *   partners: [op-mcc001-mnc002.crt]   # roaming partners' CAs, PEM
 *   policy: trust-domain    # or strict-home
 *   cert_file: ue.chain.pem # modes M2a/M2b: the UE's certificate chain,
 *   key_file: ue.key        # leaf first, and its key (mode 0600)
 *   psk_identity: 001010000000001@ims.mnc001.mcc001.3gppnetwork.org
 *   psk_file: ue.psk        # mode M3: the configured PSK, hex (0600)
 *   password_file: ue.pw    # SIP Digest instead of k/op (docs/DIGEST.md):
 *   digest_username: alice  # one line, 0600, yours; the username sent
 *
 * Relative paths are taken relative to the profile's directory. A secret
 * file (k_file, op_file, opc_file, psk_file) holds hex and must not be
 * readable by group or others; a password_file holds one line (1 to 128
 * octets) and must also be owned by the user. Secrets are wiped when the
 * profile is freed.
 */
#ifndef IMSEC_ISIM_H
#define IMSEC_ISIM_H

#include "imsec/base.h"
#include "imsec/trust.h"
#include "imsec/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_ISIM_MAX_LIST 64   /* IMPUs, anchors, partners */
#define IMSEC_ISIM_MAX_TEXT 1024 /* one scalar */
#define IMSEC_ISIM_MAX_FILE (64 * 1024)

typedef struct imsec_isim_profile {
  char *source; /* the file name (or the name given to parse) */
  char *impi;   /* NULL when absent */
  char **impus;
  size_t n_impus;
  char *home_domain;
  char *trust_domain;
  uint8_t k[16], op[16], opc[16], amf[2], sqn[6];
  int has_k, has_op, has_opc, has_amf, has_sqn;
  char **anchors; /* resolved paths */
  size_t n_anchors;
  char *home_ca; /* resolved path */
  char **partners;
  size_t n_partners;
  imsec_trust_policy policy; /* trust-domain unless the file says */
  int has_policy;
  /* Modes M2a/M2b (resolved paths, NULL when absent): the UE's certificate
   * chain (`imsec pki ue`: SAN URI sip:IMPI, EKU clientAuth, with --server
   * serverAuth too), shown when a P-CSCF asks for a client certificate and
   * served on the UE's listener; its private key, a file its owner alone
   * may read (IMSEC_ERR_PERM otherwise). */
  char *cert_file;
  char *key_file;
  /* Mode M3, configured (docs/M3.md): the PSK identity (the IMPI, as the
   * P-CSCF's psk_file names it) and the key from psk_file (16 to 64
   * octets, secret). NULL / 0 when absent. */
  char *psk_identity;
  uint8_t psk[64];
  size_t psk_len;
  /* The resolved path psk_file named (NULL when absent), so that
   * imsec_isim_save writes the key back as the file, never inline. */
  char *psk_file;
  /* SIP Digest instead of an ISIM (TS 33.203 Annex N, docs/DIGEST.md):
   * the password from password_file (a file its owner alone may read, one
   * line; 1 to 128 octets, secret) and the resolved path (so that
   * imsec_isim_save writes the reference back, never the password).
   * A profile with a password needs no K, OP/OPc. digest_username: the
   * username to send (NULL: the IMPI). */
  char *password_file;
  uint8_t password[128];
  size_t password_len;
  char *digest_username;
} imsec_isim_profile;

/* Flags of imsec_isim_parse. */
#define IMSEC_ISIM_NO_FILES 1u /* refuse *_file keys (reads no file) */

/*
 * Parse a profile from YAML text. `name` names the source in messages;
 * `base_dir` (NULL: ".") resolves relative paths. On failure `err` holds
 * one line "NAME:LINE: key 'KEY': what is wrong" (or "NAME:LINE: ..." for
 * YAML syntax). Missing keys are not errors here; imsec_isim_check reports
 * them. Returns 0, IMSEC_ERR_PARSE (bad YAML, a bad value, an unknown or
 * repeated key), IMSEC_ERR_PERM (a secret file readable by others),
 * IMSEC_ERR_IO (a secret file unreadable), IMSEC_ERR_LIMIT (too large),
 * IMSEC_ERR_NOMEM. On failure `out` holds nothing to free.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_isim_parse(const char *text, size_t len, const char *name,
                 const char *base_dir, unsigned flags, imsec_isim_profile *out,
                 char *err, size_t errcap);

/* Read and parse a profile file (see imsec_isim_parse). Also IMSEC_ERR_IO
 * when the file cannot be read. */
IMSEC_API IMSEC_MUST_USE int imsec_isim_load(const char *path,
                                             imsec_isim_profile *out, char *err,
                                             size_t errcap);

/* Free what a profile owns and wipe its secrets. NULL is fine. */
IMSEC_API void imsec_isim_free(imsec_isim_profile *p);

/* Write a profile as YAML with mode 0600 (K, OP/OPc inline; cert_file,
 * key_file, psk_identity, psk_file, password_file and digest_username as
 * given: the PSK and the password stay in their own files). Without `force` an
 * existing file is left alone. Returns 0, IMSEC_ERR_EXISTS, IMSEC_ERR_IO,
 * IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_isim_save(const imsec_isim_profile *p,
                                             const char *path, int force);

/*
 * The trust configuration of a profile for crypto/x509.c: its anchors as
 * roots, its home CA, its roaming partners' CAs (named by their subject
 * CN). On failure `err` holds one line naming the key and the file.
 * Returns 0, IMSEC_ERR_CONFIG (no anchors or no home_ca), IMSEC_ERR_IO,
 * IMSEC_ERR_PARSE (a file without a PEM certificate), IMSEC_ERR_NOMEM.
 * Free with imsec_x509_anchors_del.
 */
IMSEC_API IMSEC_MUST_USE int imsec_isim_anchors(const imsec_isim_profile *p,
                                                imsec_x509_anchors **out,
                                                char *err, size_t errcap);

/* A sink for check findings: one English line each. */
typedef void (*imsec_isim_emit)(void *ctx, const char *kind, const char *line);

/*
 * Check a profile: every violation of the clause 8.1 naming rule (kind
 * "violation") and every inconsistency (kind "inconsistent": a missing key,
 * an IMPI realm that is not the home domain, a trust anchor, home CA or
 * partner CA that cannot be read or does not chain to the anchors, ...).
 * Calls `emit` once per finding and returns how many there were (0: clean).
 */
IMSEC_API size_t imsec_isim_check(const imsec_isim_profile *p,
                                  imsec_isim_emit emit, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_ISIM_H */
