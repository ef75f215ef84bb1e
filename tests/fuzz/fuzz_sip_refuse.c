/* Fuzz the stateless refusal of input that did not frame or parse
 * (imsec_sip_build_refusal, over any octets, a partial header section
 * included) and the received/rport marks on a parsed request's Via
 * (imsec_sip_via_mark_received): no crash, no out-of-bounds read, and what
 * either writes parses again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reparse(const char *p, size_t n, int response) {
  char *copy = malloc(n + 1);
  if (!copy)
    abort();
  memcpy(copy, p, n);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, copy, n, 1) != 0 || m.is_request == response)
    abort();
  imsec_sip_msg_free(&m);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* 1. the refusal: a 513 built from whatever arrived */
  size_t cap = size + 512;
  char *out = malloc(cap);
  if (!out)
    abort();
  imsec_sip_builder b;
  imsec_sip_build_init(&b, out, cap);
  imsec_str method;
  if (imsec_sip_build_refusal(&b, (const char *)data, size, 513,
                              IMSEC_STR_LIT("Message Too Large"),
                              IMSEC_STR_LIT("fz"), &method) == 0) {
    if (!method.len || method.p < (const char *)data ||
        method.p + method.len > (const char *)data + size)
      abort();
    int n = imsec_sip_build_finish(&b, IMSEC_STR_LIT(""));
    if (n < 0)
      abort();
    reparse(out, (size_t)n, 1);
  }
  free(out);

  /* 2. the Via marks on a request that parses */
  char *buf = malloc(size + 1);
  if (!buf)
    abort();
  memcpy(buf, data, size);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, buf, size, 0) == 0 && m.is_request) {
    static char via[8192 + 128];
    imsec_str src =
        size & 1 ? IMSEC_STR_LIT("2001:db8::1") : IMSEC_STR_LIT("192.0.2.1");
    int rv = imsec_sip_via_mark_received(&m, src, (uint16_t)(size * 7919), via,
                                         sizeof(via));
    if (rv == 1) {
      size_t ocap = size + sizeof(via) + 64;
      char *o = malloc(ocap);
      if (!o)
        abort();
      int n = imsec_sip_msg_serialize(&m, o, ocap);
      if (n < 0)
        abort();
      imsec_sip_msg m2;
      imsec_sip_msg_init(&m2, NULL);
      /* the marked Via must still be a Via */
      if (imsec_sip_parse(&m2, o, (size_t)n, 0) == 0) {
        const imsec_sip_via *v;
        if (imsec_sip_get_via(&m2, &v) != 0 || !v->received.len)
          abort();
      }
      imsec_sip_msg_free(&m2);
      free(o);
    }
  }
  imsec_sip_msg_free(&m);
  free(buf);
  return 0;
}
