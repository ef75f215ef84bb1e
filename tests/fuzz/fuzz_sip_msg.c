/* Fuzz the SIP message parser, the proxy check, every typed getter and
 * iterator, and the editor: no crash, no out-of-bounds read, and what the
 * editor writes parses again to the same verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "tests/support/sip_touch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  lim.max_headers = 64;
  char *buf = malloc(size + 1);
  if (!buf)
    abort();
  memcpy(buf, data, size);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, &lim);
  int rv = imsec_sip_parse(&m, buf, size, size & 1);
  if (rv == 0) {
    if (imsec_sip_msg_len(&m) > size)
      abort();
    int crv = imsec_sip_check(&m);
    unsigned status = crv ? m.diag.status : 0;
    if (t_sip_touch_all(&m, 16) != 0)
      abort();

    /* serialise unchanged: the same verdict */
    size_t cap = size + 64;
    char *out = malloc(cap);
    if (!out)
      abort();
    int n = imsec_sip_msg_serialize(&m, out, cap);
    if (n < 0)
      abort();
    imsec_sip_msg m2;
    imsec_sip_msg_init(&m2, &lim);
    if (imsec_sip_parse(&m2, out, (size_t)n, 0) != 0)
      abort();
    int crv2 = imsec_sip_check(&m2);
    if ((crv2 ? m2.diag.status : 0) != status)
      abort();
    imsec_sip_msg_free(&m2);

    /* edit and serialise again */
    if (m.nhdrs)
      t_sip_ignore(imsec_sip_msg_remove(&m, 0));
    t_sip_ignore(imsec_sip_msg_push_top(
        &m, (imsec_str){"Via", 3}, (imsec_str){"SIP/2.0/TCP p.example", 21}));
    free(out);
    cap = size + 256;
    out = malloc(cap);
    if (!out)
      abort();
    n = imsec_sip_msg_serialize(&m, out, cap);
    if (n >= 0) {
      imsec_sip_msg_init(&m2, &lim);
      t_sip_ignore(imsec_sip_parse(&m2, out, (size_t)n, 0));
      if (t_sip_touch_all(&m2, 16) != 0)
        abort();
      imsec_sip_msg_free(&m2);
    }
    free(out);
  }
  imsec_sip_msg_free(&m);
  free(buf);
  return 0;
}
