/* Private to lib/aka: not part of the public API. */
#ifndef IMSEC_LIB_AKA_INTERNAL_H
#define IMSEC_LIB_AKA_INTERNAL_H

#include "imsec/aka.h"

/* The crypto backend an instance borrows (for its RNG). */
imsec_crypto *aka_milenage_crypto(imsec_milenage *m);

/* The UE's Milenage pass (TS 33.102 §6.3.3) in three AES calls: TEMP;
 * OUT2..OUT4 (AK, RES, CK, IK); then OUT1 over the SQN recovered from
 * AUTN. Outputs are secret; the caller wipes them. Returns 0,
 * IMSEC_ERR_STATE, IMSEC_ERR_CRYPTO. */
int aka_milenage_ue(imsec_milenage *m, const uint8_t rand[16],
                    const uint8_t autn[16], uint8_t sqn[6], uint8_t xmac[8],
                    uint8_t res[8], uint8_t ck[16], uint8_t ik[16]);

#endif
