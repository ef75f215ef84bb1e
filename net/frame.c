/*
 * net/'s default stream framer: lib/sip's stateless peek (RFC 3261 §18.3
 * Content-Length framing, RFC 5626 §3.5.1 keepalives) behind the
 * imsec_net_framer interface, so there is one set of framing rules.
 */
#include "imsec/net.h"
#include "imsec/sip.h"

int imsec_net_frame_cl(void *arg, const uint8_t *p, size_t n, size_t max_msg,
                       size_t *len) {
  (void)arg;
  int k = imsec_sip_frame_peek((const char *)p, n, max_msg, len);
  switch (k) {
  case IMSEC_SIP_FRAME_NONE:
    return IMSEC_NET_FRAME_MORE;
  case IMSEC_SIP_FRAME_MSG:
    return IMSEC_NET_FRAME_MSG;
  case IMSEC_SIP_FRAME_PING:
    return IMSEC_NET_FRAME_PING;
  case IMSEC_SIP_FRAME_PONG:
    return IMSEC_NET_FRAME_PONG;
  default:
    return k < 0 ? k : IMSEC_ERR_INTERNAL;
  }
}
