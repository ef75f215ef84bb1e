/* Fuzz the SIP message parser, the proxy check, every typed getter and
 * iterator, and the editor: no crash, no out-of-bounds read, and what the
 * editor writes parses again to the same verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ign(int rv) {
  (void)rv;
}

static void touch(imsec_sip_msg *m) {
  const imsec_sip_via *v;
  const imsec_sip_addr *a;
  const imsec_sip_cseq *cs;
  const imsec_sip_token *t;
  imsec_str s;
  uint32_t u32;
  uint64_t u64;
  ign(imsec_sip_get_via(m, &v));
  ign(imsec_sip_get_from(m, &a));
  ign(imsec_sip_get_to(m, &a));
  ign(imsec_sip_get_call_id(m, &s));
  ign(imsec_sip_get_cseq(m, &cs));
  ign(imsec_sip_get_max_forwards(m, &u32));
  ign(imsec_sip_get_content_length(m, &u64));
  ign(imsec_sip_get_expires(m, &u32));
  ign(imsec_sip_get_content_type(m, &t));
  for (int id = 0; id < IMSEC_SIP_H_COUNT; id++) {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_str val;
    int guard = 0;
    while (imsec_sip_value_next(m, (imsec_sip_hid)id, &it, &val, NULL) > 0) {
      if (++guard > 100000)
        abort(); /* an iterator that does not advance */
      imsec_sip_via via;
      imsec_sip_addr ad;
      imsec_sip_secmech sm;
      if (imsec_sip_via_parse(val, 16, &via) == 0) {
        imsec_str r = via.params;
        imsec_sip_param p;
        while (imsec_sip_param_next(&r, &p))
          ;
      }
      if (imsec_sip_addr_parse(val, 16, &ad) == 0 && !ad.star) {
        imsec_sip_uri u;
        if (imsec_sip_uri_parse(ad.uri, 16, &u) != 0)
          abort(); /* addr_parse accepted it */
      }
      ign(imsec_sip_secmech_parse(val, 16, &sm));
    }
  }
}

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
    touch(&m);

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
      ign(imsec_sip_msg_remove(&m, 0));
    ign(imsec_sip_msg_push_top(&m, (imsec_str){"Via", 3},
                               (imsec_str){"SIP/2.0/TCP p.example", 21}));
    free(out);
    cap = size + 256;
    out = malloc(cap);
    if (!out)
      abort();
    n = imsec_sip_msg_serialize(&m, out, cap);
    if (n >= 0) {
      imsec_sip_msg_init(&m2, &lim);
      ign(imsec_sip_parse(&m2, out, (size_t)n, 0));
      touch(&m2);
      imsec_sip_msg_free(&m2);
    }
    free(out);
  }
  imsec_sip_msg_free(&m);
  free(buf);
  return 0;
}
