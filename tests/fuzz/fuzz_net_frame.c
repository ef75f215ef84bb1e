/* Fuzz the network-facing parsers of net/: the built-in stream framer
 * never reads past its input, never claims more octets than it was given,
 * and always makes progress; a flow token from the wire (Path, Route) is
 * either refused or maps back to the id whose token it is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static imsec_net *g_net; /* one per process, never started */

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

  if (!g_net) {
    imsec_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.threads = 1;
    if (imsec_net_new(&g_net, &cfg) != 0)
      abort();
  }
  uint64_t id = 0;
  imsec_str tok = imsec_str_make((const char *)data, size);
  if (imsec_net_token_check(g_net, tok, &id) == 0) {
    char again[41];
    if (imsec_net_token(g_net, id, again, sizeof again) != 40 ||
        !imsec_str_ieq(imsec_str_make(again, 40), tok))
      abort();
  }
  return 0;
}
