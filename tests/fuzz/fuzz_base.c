/* Fuzz the lib/base decoders: hex and base64 never read or write out of
 * bounds, and whatever they accept re-encodes to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  uint8_t *bin = malloc(size + 1);
  char *back = malloc(2 * size + 8);
  if (!bin || !back)
    abort();

  int n = imsec_hex_decode(text, size, bin, size);
  if (n >= 0) {
    if (imsec_hex_encode(bin, (size_t)n, back, 2 * size + 8) != 2 * n)
      abort();
    for (size_t i = 0; i < size; i++) {
      if (imsec_to_lower((unsigned char)text[i]) != back[i])
        abort();
    }
  }

  n = imsec_base64_decode(text, size, bin, size);
  if (n >= 0) {
    /* Strict decoding accepts only canonical text: it must round-trip. */
    int m = imsec_base64_encode(bin, (size_t)n, back, 2 * size + 8);
    if (m != (int)size || memcmp(back, text, size) != 0)
      abort();
  }

  imsec_cursor c;
  imsec_cursor_init(&c, text, size);
  imsec_str tok;
  while (!imsec_cursor_eof(&c)) {
    (void)imsec_cursor_span(&c, imsec_is_alnum, 0);
    if (imsec_cursor_until(&c, ',', &tok) < 0)
      break;
    (void)imsec_cursor_accept(&c, ',');
  }
  free(bin);
  free(back);
  return 0;
}
