/* Typed access to the Digest headers of a message (RFC 3261 §20.7, §20.27,
 * §20.28, §20.44): lib/sip locates each field's raw value, lib/digest
 * parses its parameters. One grammar, in lib/digest. */
#include "imsec/digest.h"
#include "imsec/sip.h"

int imsec_sip_digest_next(const imsec_sip_msg *m, imsec_sip_hid id,
                          imsec_sip_iter *it, imsec_digest_params *out,
                          uint32_t *line) {
  imsec_str raw;
  int rv = imsec_sip_auth_next(m, id, it, &raw);
  if (rv <= 0)
    return rv;
  if (line)
    *line = it->hdr >= 0 ? m->hdrs[it->hdr].line : 0;
  if (id == IMSEC_SIP_H_WWW_AUTHENTICATE ||
      id == IMSEC_SIP_H_PROXY_AUTHENTICATE)
    rv = imsec_digest_parse_challenge(raw, out);
  else
    rv = imsec_digest_parse_credentials(raw, out);
  return rv < 0 ? rv : 1;
}
