/* Fuzz the sip/sips/tel URI parser and RFC 3261 §19.1.4 comparison: two
 * URIs separated by a NUL octet; comparison must be symmetric. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const char *nul = memchr(text, 0, size);
  imsec_str a = {text, nul ? (size_t)(nul - text) : size};
  imsec_str b = nul ? (imsec_str){nul + 1, size - a.len - 1} : a;
  imsec_sip_uri ua, ub;
  int ra = imsec_sip_uri_parse(a, 8, &ua);
  int rb = imsec_sip_uri_parse(b, 8, &ub);
  if (ra == 0) {
    imsec_str r = ua.params, n, v;
    int hv;
    while (imsec_sip_uri_param_next(&r, &n, &v, &hv))
      ;
    char dec[256];
    (void)!imsec_sip_unescape(ua.user, dec, sizeof(dec));
  }
  if (ra == 0 && rb == 0) {
    if (imsec_sip_uri_eq(&ua, &ub) != imsec_sip_uri_eq(&ub, &ua))
      abort();
  }
  return 0;
}
