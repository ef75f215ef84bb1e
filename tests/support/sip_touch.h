/* Walk every typed form of every header of a parsed SIP message: each
 * core getter, each list header value by value, each value through the
 * Via, name-addr (and its URI), token and Security-* parsers. Shared by
 * the RFC 4475 test and the message fuzzer: nothing may crash or read out
 * of bounds, whatever the verdicts. Returns -1 on an inconsistency (an
 * iterator that does not advance, a name-addr whose URI then fails to
 * parse), 0 otherwise. Header-only: the fuzzers link no test library. */
#ifndef IMSEC_TEST_SIP_TOUCH_H
#define IMSEC_TEST_SIP_TOUCH_H

#include "imsec/sip.h"

static void t_sip_ignore(int rv) {
  (void)rv;
}

static int t_sip_touch_all(imsec_sip_msg *m, size_t max_params) {
  const imsec_sip_via *v;
  const imsec_sip_addr *a;
  const imsec_sip_cseq *cs;
  const imsec_sip_token *t;
  imsec_str s;
  uint32_t u32;
  uint64_t u64;
  t_sip_ignore(imsec_sip_get_via(m, &v));
  t_sip_ignore(imsec_sip_get_from(m, &a));
  t_sip_ignore(imsec_sip_get_to(m, &a));
  t_sip_ignore(imsec_sip_get_call_id(m, &s));
  t_sip_ignore(imsec_sip_get_cseq(m, &cs));
  t_sip_ignore(imsec_sip_get_max_forwards(m, &u32));
  t_sip_ignore(imsec_sip_get_content_length(m, &u64));
  t_sip_ignore(imsec_sip_get_expires(m, &u32));
  t_sip_ignore(imsec_sip_get_content_type(m, &t));
  for (int id = 0; id < IMSEC_SIP_H_COUNT; id++) {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_str val;
    int guard = 0;
    while (imsec_sip_value_next(m, (imsec_sip_hid)id, &it, &val, NULL) > 0) {
      if (++guard > 100000)
        return -1; /* an iterator that does not advance */
      imsec_sip_via via;
      imsec_sip_addr ad;
      imsec_sip_token tk;
      imsec_sip_secmech sm;
      if (imsec_sip_via_parse(val, max_params, &via) == 0) {
        imsec_str r = via.params;
        imsec_sip_param p;
        while (imsec_sip_param_next(&r, &p))
          ;
      }
      if (imsec_sip_addr_parse(val, max_params, &ad) == 0 && !ad.star) {
        imsec_sip_uri u;
        if (imsec_sip_uri_parse(ad.uri, max_params, &u) != 0)
          return -1; /* addr_parse accepted it */
      }
      t_sip_ignore(imsec_sip_token_parse(val, max_params, &tk));
      t_sip_ignore(imsec_sip_secmech_parse(val, max_params, &sm));
    }
  }
  return 0;
}

#endif
