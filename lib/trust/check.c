/* Certificate checks shared by the P-CSCF decision (decide.c) and the
 * core-side peer decision (peer.c). */
#include "lib/trust/check.h"

imsec_str imsec_trust_field(const char *s) {
  size_t n = 0;
  while (n < IMSEC_TRUST_NAME_CAP && s[n])
    n++;
  return imsec_str_make(s, n);
}

size_t imsec_trust_names_capped(const imsec_trust_cert *c, imsec_str *names) {
  size_t n = imsec_trust_cert_names(c, names, 2 * IMSEC_TRUST_MAX_NAMES);
  return n > 2 * IMSEC_TRUST_MAX_NAMES ? 2 * IMSEC_TRUST_MAX_NAMES : n;
}

static void add_detail(imsec_sbuf *w, const imsec_trust_cert *c) {
  if (!c->chain_detail[0])
    return;
  imsec_sbuf_add(w, " (");
  imsec_sbuf_put(w, imsec_trust_field(c->chain_detail));
  imsec_sbuf_add(w, ")");
}

imsec_trust_chain_step imsec_trust_chain_check(const imsec_trust_cert *c,
                                               const char *whose,
                                               imsec_sbuf *w) {
  switch (c->chain) {
  case IMSEC_CHAIN_OK:
    return IMSEC_TRUST_CHAIN_PASS;
  case IMSEC_CHAIN_EXPIRED:
  case IMSEC_CHAIN_NOT_YET_VALID:
    imsec_sbuf_add(w, "a certificate in ");
    imsec_sbuf_add(w, whose);
    imsec_sbuf_add(w, c->chain == IMSEC_CHAIN_EXPIRED
                          ? " chain has expired"
                          : " chain is not yet valid");
    add_detail(w, c);
    return IMSEC_TRUST_CHAIN_OUT_OF_DATE;
  case IMSEC_CHAIN_NOT_SERVER_AUTH:
    return IMSEC_TRUST_CHAIN_NO_SERVER_AUTH;
  case IMSEC_CHAIN_INVALID:
  default:
    imsec_sbuf_add(w, whose);
    imsec_sbuf_add(w, " certificate does not chain to a configured trust "
                      "anchor");
    add_detail(w, c);
    return IMSEC_TRUST_CHAIN_BROKEN;
  }
}

void imsec_trust_say_outside(imsec_sbuf *w, const char *who, imsec_str name,
                             imsec_str td) {
  imsec_sbuf_add(w, who);
  imsec_sbuf_add(w, " '");
  imsec_sbuf_put(w, name);
  imsec_sbuf_add(w, "' does not lie within the IMS trust domain '");
  imsec_sbuf_put(w, td);
  imsec_sbuf_add(w, "'");
}
