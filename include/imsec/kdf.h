/*
 * imsec kdf: the generic key derivation function of TS 33.220 Annex B, and
 * the AKA-derived TLS PSK of mode M3 built on it.
 *
 * TS 33.220 B.2: KDF(Key, S) = HMAC-SHA-256(Key, S), where
 *   S = FC || P0 || L0 || P1 || L1 || ... || Pn || Ln
 * FC is one octet that tells one use of the function from another; each Pi
 * is an input parameter and Li its length in octets as two octets, most
 * significant first. The output is 256 bits.
 *
 * The M3 derivation below is THIS PROJECT'S PROFILE, not a 3GPP one: 3GPP
 * specifies no TLS PSK derived from an IMS AKA run. Both FC values are
 * private to imsec (chosen at the top of the one-octet space, away from the
 * values 3GPP specifications allocate), and both ends of imsec agree on
 * them (docs/M3.md):
 *   key      = KDF(CK || IK, FC = 0xF0, P0 = IMPI, P1 = RAND)   (32 octets)
 *   identity = "imsec-aka-" || hex(first 16 octets of
 *                                  KDF(CK || IK, FC = 0xF1, P0 = RAND))
 * The identity is computable by both ends of the AKA run, changes with
 * every run (RAND) and does not reveal the IMPI (it goes in clear in the
 * TLS ClientHello); the prefix lets a P-CSCF tell a derived identity from
 * a configured one (which is the IMPI itself).
 *
 * lib/ reaches HMAC through the imsec_crypto vtable (include/imsec/crypto.h).
 */
#ifndef IMSEC_KDF_H
#define IMSEC_KDF_H

#include "imsec/base.h"
#include "imsec/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_KDF_LEN 32       /* HMAC-SHA-256 output */
#define IMSEC_KDF_MAX_PARAMS 8 /* P0..P7 */

/*
 * TS 33.220 B.2: out = HMAC-SHA-256(key, FC || P0 || L0 || ... ). `params`
 * holds the n parameters in order (n <= IMSEC_KDF_MAX_PARAMS, each at
 * most 65535 octets; a parameter may be empty). Returns 0, IMSEC_ERR_INVAL
 * (NULL, too many or too long parameters), IMSEC_ERR_CRYPTO.
 */
IMSEC_API IMSEC_MUST_USE int imsec_kdf(imsec_crypto *c, const uint8_t *key,
                                       size_t keylen, uint8_t fc,
                                       const imsec_iov *params, size_t n,
                                       uint8_t out[IMSEC_KDF_LEN]);

/* The M3 profile (above). */
#define IMSEC_M3_FC_PSK 0xF0
#define IMSEC_M3_FC_ID 0xF1
#define IMSEC_M3_PSK_LEN 32
#define IMSEC_M3_ID_PREFIX "imsec-aka-"
#define IMSEC_M3_ID_PREFIX_LEN 10
#define IMSEC_M3_ID_LEN (IMSEC_M3_ID_PREFIX_LEN + 32) /* without the NUL */

/*
 * Derive the PSK and its identity from an AKA run: ck, ik (16 octets each,
 * TS 33.102 f3/f4), the IMPI the run authenticated, and its RAND. `key`
 * receives IMSEC_M3_PSK_LEN octets (secret: wipe it), `identity` the
 * NUL-terminated identity (cap >= IMSEC_M3_ID_LEN + 1). Nothing is kept;
 * the CK||IK scratch is wiped. Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_NOBUF, IMSEC_ERR_CRYPTO (then key and identity are zeroed).
 */
IMSEC_API IMSEC_MUST_USE int
imsec_m3_psk_derive(imsec_crypto *c, const uint8_t ck[16], const uint8_t ik[16],
                    imsec_str impi, const uint8_t rand[16],
                    uint8_t key[IMSEC_M3_PSK_LEN], char *identity, size_t cap);

/* 1 when `identity` has the shape of a derived identity (the prefix and 32
 * lowercase hex digits), else 0. */
IMSEC_API int imsec_m3_identity_is_derived(imsec_str identity);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_KDF_H */
