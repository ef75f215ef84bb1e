/* CK and IK in the 401 towards an authenticated P-CSCF (TS 24.229
 * §5.4.1.2.1: the S-CSCF adds "ck" and "ik" to WWW-Authenticate for the
 * P-CSCF, which removes them before the UE sees the challenge; TS 33.203
 * §7.1 for IPsec). Here they feed the P-CSCF's AKA-derived TLS PSK (mode
 * M3, include/imsec/kdf.h), and they go only where the core link is
 * confidential and its peer proven: a TLS flow whose peer was judged by
 * its certificate (TS 33.210 Za/Zb). A plain TCP core (insecure_core) or
 * a peer judged by its address never gets them. */
#include <string.h>

#include "lib/scscf/scscf_int.h"

int scscf_aka_keys(imsec_scscf *s, uint64_t flow, const challenge *c, char *dst,
                   size_t cap) {
  if (cap)
    dst[0] = 0;
  if (!scscf_tls_peer_name(s, flow))
    return 0;
  if (cap < SCSCF_AKA_KEYS_CAP)
    return IMSEC_ERR_NOBUF;
  static const char ck[] = ", ck=\"", ik[] = "\", ik=\"";
  size_t n = 0;
  memcpy(dst + n, ck, sizeof(ck) - 1);
  n += sizeof(ck) - 1;
  int rv = imsec_hex_encode(c->v.ck, sizeof(c->v.ck), dst + n, cap - n);
  if (rv < 0)
    return rv;
  n += (size_t)rv;
  memcpy(dst + n, ik, sizeof(ik) - 1);
  n += sizeof(ik) - 1;
  rv = imsec_hex_encode(c->v.ik, sizeof(c->v.ik), dst + n, cap - n);
  if (rv < 0)
    return rv;
  n += (size_t)rv;
  dst[n++] = '"';
  dst[n] = 0;
  return (int)n;
}
