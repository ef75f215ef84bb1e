/* Private to lib/aka: not part of the public API. */
#ifndef IMSEC_LIB_AKA_INTERNAL_H
#define IMSEC_LIB_AKA_INTERNAL_H

#include "imsec/aka.h"

/* The crypto backend an instance borrows (for its RNG). */
imsec_crypto *aka_milenage_crypto(imsec_milenage *m);

#endif
