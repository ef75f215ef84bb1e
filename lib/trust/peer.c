/* The S-CSCF's decision on a core-side peer (include/imsec/trust.h):
 * TS 33.210 §5.2 mutual TLS on Mw, TS 33.310 §6.1 certificates, the RFC
 * 3325 §2.3 trust domain, names per RFC 5922 §7. */
#include "imsec/ident.h"
#include "imsec/trust.h"
#include "lib/ident/sbuf.h"
#include "lib/trust/check.h"

static const char *const peer_codes[] = {
    [IMSEC_TRUST_PEER_OK] = "ok",
    [IMSEC_TRUST_PEER_PLAIN_TCP] = "plain-tcp",
    [IMSEC_TRUST_PEER_ADDRESS_NOT_LISTED] = "address-not-listed",
    [IMSEC_TRUST_PEER_NO_CERTIFICATE] = "no-certificate",
    [IMSEC_TRUST_PEER_CHAIN_INVALID] = "chain-invalid",
    [IMSEC_TRUST_PEER_EXPIRED] = "expired",
    [IMSEC_TRUST_PEER_NOT_SERVER_AUTH] = "not-server-auth",
    [IMSEC_TRUST_PEER_NOT_CLIENT_AUTH] = "not-client-auth",
    [IMSEC_TRUST_PEER_NO_NAME] = "no-name",
    [IMSEC_TRUST_PEER_NAME_MISMATCH] = "name-mismatch",
    [IMSEC_TRUST_PEER_NAME_OUTSIDE_TRUST_DOMAIN] = "name-outside-trust-domain",
    [IMSEC_TRUST_PEER_NOT_A_ROAMING_PARTNER] = "not-a-roaming-partner",
};

const char *imsec_trust_peer_reason_code(imsec_trust_peer_reason r) {
  if ((unsigned)r >= sizeof(peer_codes) / sizeof(peer_codes[0]))
    return "unknown";
  return peer_codes[r];
}

const char *imsec_trust_peer_verdict_name(imsec_trust_peer_verdict v) {
  switch (v) {
  case IMSEC_TRUST_PEER_HOME:
    return "home";
  case IMSEC_TRUST_PEER_PARTNER:
    return "partner";
  case IMSEC_TRUST_PEER_LISTED:
    return "listed";
  case IMSEC_TRUST_PEER_ADDRESS:
    return "address";
  default:
    return "refused";
  }
}

static void set_name(imsec_trust_peer_result *out, imsec_str s) {
  if (imsec_str_copy(s, out->name, sizeof(out->name)) < 0)
    out->name[0] = '\0';
}

static int refuse(imsec_trust_peer_result *out, imsec_trust_peer_reason r) {
  out->verdict = IMSEC_TRUST_PEER_REFUSED;
  out->reason = r;
  return 0;
}

static int in_list(imsec_str name, const imsec_str *list, size_t n) {
  for (size_t i = 0; list && i < n; i++)
    if (imsec_dns_name_eq(name, list[i]))
      return 1;
  return 0;
}

static int plain(const imsec_trust_peer_input *in, imsec_trust_peer_result *out,
                 imsec_sbuf *w) {
  set_name(out, in->peer_ip);
  /* TS 33.210 §5.2: Mw inside and between security domains is protected;
   * plain TCP only where the operator says so, and only from its list. */
  if (!in->insecure_core) {
    imsec_sbuf_add(w, "plain TCP from '");
    imsec_sbuf_put(w, in->peer_ip);
    imsec_sbuf_add(w, "' on the core side: only mutual TLS is accepted");
    return refuse(out, IMSEC_TRUST_PEER_PLAIN_TCP);
  }
  for (size_t i = 0; in->addrs && i < in->n_addrs; i++) {
    if (imsec_str_ieq(in->addrs[i], in->peer_ip)) {
      out->verdict = IMSEC_TRUST_PEER_ADDRESS;
      imsec_sbuf_add(w, "plain TCP from the listed address '");
      imsec_sbuf_put(w, in->peer_ip);
      imsec_sbuf_add(w, "' (insecure core)");
      return 0;
    }
  }
  imsec_sbuf_add(w, "plain TCP from '");
  imsec_sbuf_put(w, in->peer_ip);
  imsec_sbuf_add(w, "', which is not a listed peer address");
  return refuse(out, IMSEC_TRUST_PEER_ADDRESS_NOT_LISTED);
}

int imsec_trust_peer_decide(const imsec_trust_peer_input *in,
                            imsec_trust_peer_result *out) {
  if (!in || !out)
    return IMSEC_ERR_INVAL;
  out->verdict = IMSEC_TRUST_PEER_REFUSED;
  out->reason = IMSEC_TRUST_PEER_OK;
  out->name[0] = '\0';
  out->partner[0] = '\0';
  imsec_sbuf w;
  imsec_sbuf_init(&w, out->why, sizeof(out->why));
  if (!in->secure)
    return plain(in, out, &w);

  const imsec_trust_cert *c = in->cert;
  if (!c) {
    imsec_sbuf_add(&w, "the peer presented no certificate (TS 33.210 mutual "
                       "TLS)");
    return refuse(out, IMSEC_TRUST_PEER_NO_CERTIFICATE);
  }
  /* The names first, so that every refusal can say who it was. */
  imsec_str names[2 * IMSEC_TRUST_MAX_NAMES];
  size_t n = imsec_trust_names_capped(c, names);
  /* RFC 5922 §7.2: a wildcard is no identity. */
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (imsec_str_find(names[i], '*') < 0 && names[i].len)
      names[k++] = imsec_dns_name_trim(names[i]);
  n = k;
  if (n)
    set_name(out, names[0]);

  /* RFC 5280 §6 path validation against the anchors (crypto/x509.c). */
  switch (imsec_trust_chain_check(c, "the peer's", &w)) {
  case IMSEC_TRUST_CHAIN_PASS:
    break;
  case IMSEC_TRUST_CHAIN_OUT_OF_DATE:
    return refuse(out, IMSEC_TRUST_PEER_EXPIRED);
  case IMSEC_TRUST_CHAIN_NO_SERVER_AUTH:
    /* TS 33.310 §6.1.3c: a network element's certificate serves TLS
     * servers and clients both (the S-CSCF also connects to P-CSCFs). */
    imsec_sbuf_add(&w, "the peer's certificate has no extended key usage "
                       "serverAuth (not a network element certificate)");
    return refuse(out, IMSEC_TRUST_PEER_NOT_SERVER_AUTH);
  case IMSEC_TRUST_CHAIN_BROKEN:
  default:
    return refuse(out, IMSEC_TRUST_PEER_CHAIN_INVALID);
  }
  if (in->inbound && !c->client_auth) {
    imsec_sbuf_add(&w, "the peer's certificate has no extended key usage "
                       "clientAuth (TS 33.310 §6.1.3c)");
    return refuse(out, IMSEC_TRUST_PEER_NOT_CLIENT_AUTH);
  }
  if (n == 0) {
    imsec_sbuf_add(&w, "the peer's certificate names no host (RFC 5922 "
                       "§7.1; wildcards do not count)");
    return refuse(out, IMSEC_TRUST_PEER_NO_NAME);
  }
  imsec_str expect = imsec_dns_name_trim(in->expect_name);
  if (expect.len) {
    /* The connection towards a UE's P-CSCF must reach the element that
     * registered the binding, not whoever answers at its address. */
    size_t i = 0;
    while (i < n && !imsec_dns_name_eq(names[i], expect))
      i++;
    if (i == n) {
      imsec_sbuf_add(&w, "the peer is '");
      imsec_sbuf_put(&w, names[0]);
      imsec_sbuf_add(&w, "', not '");
      imsec_sbuf_put(&w, expect);
      imsec_sbuf_add(&w, "' that registered the binding");
      return refuse(out, IMSEC_TRUST_PEER_NAME_MISMATCH);
    }
    set_name(out, names[i]);
  }
  for (size_t i = 0; i < n; i++) {
    if (in_list(names[i], in->names, in->n_names)) {
      set_name(out, names[i]);
      out->verdict = IMSEC_TRUST_PEER_LISTED;
      imsec_sbuf_add(&w, "the peer '");
      imsec_sbuf_put(&w, names[i]);
      imsec_sbuf_add(&w, "' is a listed peer with a valid certificate");
      return 0;
    }
  }
  /* RFC 3325 §2.3: identities are believed only from inside the trust
   * domain, which the operator CAs' name constraints delimit. */
  imsec_str td = imsec_dns_name_trim(in->trust_domain);
  for (size_t i = 0; i < n; i++) {
    if (!td.len || !imsec_dns_name_within(names[i], td)) {
      set_name(out, names[i]);
      imsec_trust_say_outside(&w, "the peer", names[i], td);
      return refuse(out, IMSEC_TRUST_PEER_NAME_OUTSIDE_TRUST_DOMAIN);
    }
  }
  /* TS 33.210 §5.2 / Annex F hierarchy: the home operator's CA or one of
   * a roaming partner's. */
  if (c->issuer == IMSEC_ISSUER_HOME) {
    out->verdict = IMSEC_TRUST_PEER_HOME;
    imsec_sbuf_add(&w, "the peer '");
    imsec_sbuf_put(&w, imsec_trust_field(out->name));
    imsec_sbuf_add(&w, "' is certified by the home operator's CA");
    return 0;
  }
  if (c->issuer == IMSEC_ISSUER_PARTNER) {
    out->verdict = IMSEC_TRUST_PEER_PARTNER;
    if (imsec_str_copy(imsec_trust_field(c->partner), out->partner,
                       sizeof(out->partner)) < 0)
      out->partner[0] = '\0';
    imsec_sbuf_add(&w, "the peer '");
    imsec_sbuf_put(&w, imsec_trust_field(out->name));
    imsec_sbuf_add(&w, "' is certified by roaming partner '");
    imsec_sbuf_put(&w, imsec_trust_field(c->partner));
    imsec_sbuf_add(&w, "'");
    return 0;
  }
  imsec_sbuf_add(&w, "the peer '");
  imsec_sbuf_put(&w, imsec_trust_field(out->name));
  imsec_sbuf_add(&w, "' chains to a trust anchor but through no CA of the "
                     "home operator or of a roaming partner");
  return refuse(out, IMSEC_TRUST_PEER_NOT_A_ROAMING_PARTNER);
}
