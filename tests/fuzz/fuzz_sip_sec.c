/* Fuzz the header grammars on their own: Security-Client/-Server/-Verify
 * (RFC 3329), and with them Via, name-addr, token lists, CSeq, Call-ID and
 * Date, on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>

#include "imsec/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  imsec_str v = {(const char *)data, size};
  imsec_sip_secmech sm;
  if (imsec_sip_secmech_parse(v, 16, &sm) == 0) {
    imsec_str r = sm.params;
    imsec_sip_param p;
    int n = 0;
    while (imsec_sip_param_next(&r, &p))
      n++;
    if (n > 16 || sm.q > 1000)
      abort();
    (void)imsec_sip_param_find(sm.params, "spi-c", &p);
  }
  imsec_sip_via via;
  (void)!imsec_sip_via_parse(v, 16, &via);
  imsec_sip_addr a;
  if (imsec_sip_addr_parse(v, 16, &a) == 0 && a.q > 1000)
    abort();
  imsec_sip_token t;
  (void)!imsec_sip_token_parse(v, 16, &t);
  imsec_sip_cseq cs;
  if (imsec_sip_cseq_parse(v, &cs) == 0 && cs.seq > 0x7fffffffu)
    abort();
  imsec_str id;
  (void)!imsec_sip_callid_parse(v, &id);
  (void)!imsec_sip_date_parse(v);
  uint64_t u;
  (void)!imsec_sip_uint_parse(v, 65535, &u);
  return 0;
}
