/*
 * The certificate checks that the UE's decision on its P-CSCF (decide.c)
 * and the S-CSCF's decision on a core-side peer (peer.c) share. Private to
 * lib/trust.
 */
#ifndef IMSEC_LIB_TRUST_CHECK_H
#define IMSEC_LIB_TRUST_CHECK_H

#include <stddef.h>

#include "imsec/trust.h"
#include "lib/ident/sbuf.h"

/* A bounded view of one of the cert's fixed text fields. */
imsec_str imsec_trust_field(const char *s);

/* imsec_trust_cert_names() into names[0 .. 2 * IMSEC_TRUST_MAX_NAMES),
 * returning how many it holds. */
size_t imsec_trust_names_capped(const imsec_trust_cert *c, imsec_str *names);

/* The outcome of RFC 5280 §6 path validation (done by crypto/x509.c). */
typedef enum imsec_trust_chain_step {
  IMSEC_TRUST_CHAIN_PASS,        /* chained and in date */
  IMSEC_TRUST_CHAIN_OUT_OF_DATE, /* expired or not yet valid */
  IMSEC_TRUST_CHAIN_NO_SERVER_AUTH,
  IMSEC_TRUST_CHAIN_BROKEN, /* does not chain to a trust anchor */
} imsec_trust_chain_step;

/* Sorts c->chain into a step; for OUT_OF_DATE and BROKEN it also writes
 * the sentence into w, naming the certificate's holder as `whose` ("the
 * peer's"). NO_SERVER_AUTH is left for the caller to explain. */
imsec_trust_chain_step imsec_trust_chain_check(const imsec_trust_cert *c,
                                               const char *whose,
                                               imsec_sbuf *w);

/* RFC 3325 §2.3: "WHO 'NAME' does not lie within the IMS trust domain
 * 'TD'". */
void imsec_trust_say_outside(imsec_sbuf *w, const char *who, imsec_str name,
                             imsec_str td);

#endif
