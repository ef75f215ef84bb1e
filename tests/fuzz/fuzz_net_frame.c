/* Fuzz the built-in stream framer: it never reads past its input, never
 * claims more octets than it was given, and always makes progress. */
#include <stdint.h>
#include <stdlib.h>

#include "imsec/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  size_t max = size > 0 ? (size_t)data[0] * 8 + 16 : 16;
  while (off < size) {
    size_t len = 0;
    int k = imsec_net_frame_cl(NULL, data + off, size - off, max, &len);
    if (k < 0 || k == IMSEC_NET_FRAME_MORE)
      break;
    if (len == 0 || len > size - off || len > max)
      abort();
    off += len;
  }
  return 0;
}
