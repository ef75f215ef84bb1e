/* Fuzz the registration record codec (store/reg_codec.c): arbitrary
 * octets as a record, a head or a binding (the first octet picks which,
 * as a store reading a value back would) must never crash, hang or
 * leak; what decodes must encode back to the very same octets (the
 * encoding is canonical), hold no NUL inside a string and stay within
 * the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/reg_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s) {
  if (s && strlen(s) > IMSEC_REG_CODEC_STR_MAX)
    abort();
}

static void same(const imsec_reg_buf *b, const uint8_t *data, size_t size) {
  if (b->len != size || memcmp(b->p, data, size) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1024 * 1024)
    return 0;
  imsec_reg_buf b = {0};
  imsec_reg_record r;
  imsec_reg_binding x;
  int rv;
  if (size && data[0] == 'B') {
    rv = imsec_reg_decode_binding(data, size, &x);
    if (rv == 0) {
      check_str(x.contact);
      check_str(x.path);
      if (imsec_reg_encode_binding(&b, &x) != 0)
        abort();
      same(&b, data, size);
      imsec_reg_binding_free(&x);
    } else if (x.contact || x.path || x.instance || x.peer) {
      abort(); /* a refused value owns nothing */
    }
  } else if (size && data[0] == 'H') {
    rv = imsec_reg_decode_head(data, size, &r);
    if (rv == 0) {
      if (!r.impi || r.n || r.n_impus > IMSEC_REG_CODEC_IMPUS_MAX)
        abort();
      if (imsec_reg_encode_head(&b, &r) != 0)
        abort();
      same(&b, data, size);
      imsec_reg_record_free(&r);
    } else if (r.impi || r.impus || r.b) {
      abort();
    }
  } else {
    /* now 0: expiries come back unchanged as ttls. */
    rv = imsec_reg_decode(data, size, 0, &r);
    if (rv == 0) {
      if (!r.impi || r.n > IMSEC_REG_CODEC_BINDINGS_MAX)
        abort();
      for (size_t i = 0; i < r.n; i++)
        check_str(r.b[i].contact);
      if (imsec_reg_encode(&b, &r, 0) != 0)
        abort();
      same(&b, data, size);
      imsec_reg_record_free(&r);
    } else if (r.impi || r.impus || r.b) {
      abort();
    }
  }
  imsec_reg_buf_free(&b);
  return 0;
}
