/*
 * imsec crypto_ossl: the OpenSSL backend of the crypto vtable
 * (include/imsec/crypto.h). Its own header, in the imsec-crypto library:
 * the sans-I/O core (imsec-core) declares only the vtable, so a program
 * that brings its own backend never sees OpenSSL's.
 */
#ifndef IMSEC_CRYPTO_OSSL_H
#define IMSEC_CRYPTO_OSSL_H

#include "imsec/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The OpenSSL 3 backend (crypto/ossl.c). Fetches AES-128-ECB, MD5, SHA-256
 * and HMAC once from the default library context. Returns 0, or
 * IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO (an algorithm is unavailable, e.g. MD5
 * under a FIPS-only provider configuration).
 */
IMSEC_API IMSEC_MUST_USE int imsec_crypto_ossl_new(imsec_crypto **out);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_CRYPTO_OSSL_H */
