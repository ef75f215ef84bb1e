/* Modes M2a and M2b (DESIGN.md §2, seed §3.2): the P-CSCF's decision on a
 * UE's certificate (include/imsec/trust.h, imsec_trust_ue_cert). */
#include <string.h>

#include "imsec/base.h"
#include "imsec/ident.h"
#include "imsec/trust.h"

const char *imsec_trust_ue_reason_code(imsec_trust_ue_reason r) {
  switch (r) {
  case IMSEC_TRUST_UE_OK:
    return "ok";
  case IMSEC_TRUST_UE_NO_CERTIFICATE:
    return "no-certificate";
  case IMSEC_TRUST_UE_CHAIN_INVALID:
    return "chain-invalid";
  case IMSEC_TRUST_UE_EXPIRED:
    return "expired";
  case IMSEC_TRUST_UE_NOT_CLIENT_AUTH:
    return "not-client-auth";
  case IMSEC_TRUST_UE_NOT_SERVER_AUTH:
    return "not-server-auth";
  case IMSEC_TRUST_UE_NO_IMPI:
    return "no-impi";
  case IMSEC_TRUST_UE_NOT_HOME_OPERATOR:
    return "not-home-operator";
  case IMSEC_TRUST_UE_IMPI_MISMATCH:
    return "impi-mismatch";
  }
  return "refused";
}

/* The IMPI of "user@realm": 1 when `a` and `b` are the same (user as
 * written, realm case-insensitive, RFC 7542 §2.5 leaves realm case out). */
static int impi_eq(imsec_str a, imsec_str b) {
  long ia = -1, ib = -1;
  for (size_t i = 0; i < a.len; i++)
    if (a.p[i] == '@')
      ia = (long)i;
  for (size_t i = 0; i < b.len; i++)
    if (b.p[i] == '@')
      ib = (long)i;
  if (ia < 0 || ib < 0 || ia != ib)
    return 0;
  return imsec_ct_eq((const uint8_t *)a.p, (const uint8_t *)b.p, (size_t)ia) &&
         imsec_dns_name_eq(imsec_str_sub(a, (size_t)ia + 1, a.len),
                           imsec_str_sub(b, (size_t)ib + 1, b.len));
}

imsec_trust_ue_reason imsec_trust_ue_cert(const imsec_trust_cert *c, int server,
                                          imsec_str expect_impi, char *impi) {
  if (impi)
    impi[0] = '\0';
  if (!c)
    return IMSEC_TRUST_UE_NO_CERTIFICATE;
  /* The name first, so a refusal can say whose certificate it was. */
  imsec_str name =
      c->n_uri_user == 1 ? imsec_str_c(c->uri_user[0]) : IMSEC_STR_LIT("");
  if (impi && name.len < IMSEC_TRUST_NAME_CAP) {
    memcpy(impi, name.p, name.len);
    impi[name.len] = '\0';
  }
  /* TS 33.310 §6.1.3c: the role the UE plays in this handshake. */
  int ok = server ? c->chain == IMSEC_CHAIN_OK : c->client_chain_ok;
  if (!ok) {
    if (c->chain == IMSEC_CHAIN_EXPIRED ||
        c->chain == IMSEC_CHAIN_NOT_YET_VALID)
      return IMSEC_TRUST_UE_EXPIRED;
    if (!server && !c->client_auth &&
        (c->chain == IMSEC_CHAIN_OK || c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH))
      return IMSEC_TRUST_UE_NOT_CLIENT_AUTH;
    if (server && c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH)
      return IMSEC_TRUST_UE_NOT_SERVER_AUTH;
    return IMSEC_TRUST_UE_CHAIN_INVALID;
  }
  /* One individual, a NAI user@realm (TS 23.003 §13.3). */
  imsec_impi parsed;
  if (c->n_uri_user != 1 || imsec_impi_parse(name, &parsed) != 0)
    return IMSEC_TRUST_UE_NO_IMPI;
  /* The issuing operator CA certifies its own domain only: the IMPI's
   * realm must be that domain (or below it, as its name constraint
   * permits). */
  if (!c->issuer_domain[0] ||
      !imsec_dns_name_within(parsed.realm, imsec_str_c(c->issuer_domain)))
    return IMSEC_TRUST_UE_NOT_HOME_OPERATOR;
  if (expect_impi.len && !impi_eq(name, expect_impi))
    return IMSEC_TRUST_UE_IMPI_MISMATCH;
  return IMSEC_TRUST_UE_OK;
}
