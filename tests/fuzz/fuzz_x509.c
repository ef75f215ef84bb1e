/* Fuzz the certificate facts extraction: any bytes as a DER chain of one or
 * two certificates; the names copied out are bounded and NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/trust.h"
#include "imsec/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static imsec_x509_anchors *anchors;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!anchors && imsec_x509_anchors_new(&anchors) != 0)
    abort();
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
  imsec_trust_cert c;
  if (imsec_x509_check(anchors, chain, n, 0, &c) == 0) {
    if (c.chain == IMSEC_CHAIN_OK)
      abort(); /* no anchors: nothing can validate */
    for (size_t i = 0; i < c.n_dns; i++)
      if (strlen(c.dns[i]) >= IMSEC_TRUST_NAME_CAP)
        abort();
    for (size_t i = 0; i < c.n_sip; i++)
      if (strlen(c.sip[i]) >= IMSEC_TRUST_NAME_CAP)
        abort();
    imsec_str names[IMSEC_TRUST_MAX_NAMES * 2];
    (void)imsec_trust_cert_names(&c, names, IMSEC_TRUST_MAX_NAMES * 2);
  }
  return 0;
}
