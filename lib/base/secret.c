#include <string.h>

#include "imsec/base.h"

int imsec_ct_eq(const void *a, const void *b, size_t len) {
  const volatile uint8_t *x = a;
  const volatile uint8_t *y = b;
  uint8_t acc = 0;
  for (size_t i = 0; i < len; i++)
    acc |= (uint8_t)(x[i] ^ y[i]);
  /* Map 0 -> 1 and anything else -> 0 without a data-dependent branch. */
  return (int)(1 & (((uint32_t)acc - 1) >> 8));
}

int imsec_ct_eq_str(imsec_str a, imsec_str b) {
  /* Lengths are public (a response has a fixed length by its algorithm);
   * only the contents are hidden. Compare over the shorter length and fold
   * the length difference in. */
  size_t n = a.len < b.len ? a.len : b.len;
  int same = imsec_ct_eq(a.p, b.p, n);
  return same & (a.len == b.len);
}

void imsec_wipe(void *p, size_t len) {
  if (p && len)
    explicit_bzero(p, len);
}
