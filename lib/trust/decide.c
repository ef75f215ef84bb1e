/* The P-CSCF trust decision (DESIGN.md §3): Annex F of the CR to TS 33.203
 * and RFC 3261 §26.3.2.1, with names per RFC 5922 §7. */
#include "imsec/trust.h"
#include "imsec/ident.h"
#include "lib/ident/sbuf.h"
#include "lib/trust/check.h"

const char *imsec_trust_policy_name(imsec_trust_policy p) {
  return p == IMSEC_TRUST_POLICY_STRICT_HOME ? "strict-home" : "trust-domain";
}

int imsec_trust_policy_parse(imsec_str s, imsec_trust_policy *out) {
  if (imsec_str_ieq_c(s, "trust-domain"))
    *out = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  else if (imsec_str_ieq_c(s, "strict-home"))
    *out = IMSEC_TRUST_POLICY_STRICT_HOME;
  else
    return IMSEC_ERR_PARSE;
  return 0;
}

static const char *const reason_codes[] = {
    [IMSEC_TRUST_OK] = "ok",
    [IMSEC_TRUST_CHAIN_INVALID] = "chain-invalid",
    [IMSEC_TRUST_EXPIRED] = "expired",
    [IMSEC_TRUST_NOT_SERVER_AUTH] = "not-server-auth",
    [IMSEC_TRUST_NAME_MISMATCH] = "name-mismatch",
    [IMSEC_TRUST_WILDCARD_REFUSED] = "wildcard-refused",
    [IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN] = "name-outside-trust-domain",
    [IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN] = "name-outside-home-domain",
    [IMSEC_TRUST_NOT_A_ROAMING_PARTNER] = "not-a-roaming-partner",
    [IMSEC_TRUST_NOT_HOME_CA] = "not-home-ca",
    [IMSEC_TRUST_REALM_MISMATCH] = "realm-mismatch",
    [IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN] = "realm-outside-trust-domain",
};

const char *imsec_trust_reason_code(imsec_trust_reason r) {
  if ((unsigned)r >= sizeof(reason_codes) / sizeof(reason_codes[0]))
    return "unknown";
  return reason_codes[r];
}

size_t imsec_trust_cert_names(const imsec_trust_cert *cert, imsec_str *out,
                              size_t cap) {
  size_t n = 0;
  /* RFC 5922 §7.1 step 1: a SAN URI with scheme sip and no user part is a
   * SIP domain identity; a dNSName counts only when there is none. */
  size_t n_sip =
      cert->n_sip < IMSEC_TRUST_MAX_NAMES ? cert->n_sip : IMSEC_TRUST_MAX_NAMES;
  size_t n_dns =
      cert->n_dns < IMSEC_TRUST_MAX_NAMES ? cert->n_dns : IMSEC_TRUST_MAX_NAMES;
  if (n_sip > 0) {
    for (size_t i = 0; i < n_sip; i++, n++) {
      if (n < cap)
        out[n] = imsec_trust_field(cert->sip[i]);
    }
    return n;
  }
  if (n_dns > 0) {
    for (size_t i = 0; i < n_dns; i++, n++) {
      if (n < cap)
        out[n] = imsec_trust_field(cert->dns[i]);
    }
    return n;
  }
  /* Step 2: the CN only if and only if there is no subjectAltName. */
  if (!cert->has_san && cert->cn[0]) {
    if (cap > 0)
      out[0] = imsec_trust_field(cert->cn);
    return 1;
  }
  return 0;
}

static int is_wildcard(imsec_str name) {
  return imsec_str_find(name, '*') >= 0;
}

/* "*.rest" matches exactly one leftmost label followed by ".rest". */
static int wildcard_matches(imsec_str pattern, imsec_str host) {
  pattern = imsec_dns_name_trim(pattern);
  host = imsec_dns_name_trim(host);
  if (pattern.len < 3 || pattern.p[0] != '*' || pattern.p[1] != '.')
    return 0;
  imsec_str rest = imsec_str_sub(pattern, 2, pattern.len);
  long dot = imsec_str_find(host, '.');
  if (dot <= 0 || is_wildcard(rest))
    return 0;
  return imsec_str_ieq(imsec_str_sub(host, (size_t)dot + 1, host.len), rest);
}

static void copy_field(char *dst, imsec_str s) {
  if (imsec_str_copy(s, dst, IMSEC_TRUST_NAME_CAP) < 0)
    dst[0] = '\0';
}

static int reject(imsec_trust_result *out, imsec_trust_reason reason) {
  out->verdict = IMSEC_TRUST_REJECTED;
  out->reason = reason;
  return 0;
}

/* The decision; with `realm` 0 only its certificate part (everything
 * before the realm checks, which come last under both policies). */
static int decide(const imsec_trust_input *in, imsec_trust_result *out,
                  int realm_too) {
  if (!in || !out || !in->cert)
    return IMSEC_ERR_INVAL;
  if (in->policy != IMSEC_TRUST_POLICY_TRUST_DOMAIN &&
      in->policy != IMSEC_TRUST_POLICY_STRICT_HOME)
    return IMSEC_ERR_INVAL;
  const imsec_trust_cert *c = in->cert;
  out->verdict = IMSEC_TRUST_REJECTED;
  out->reason = IMSEC_TRUST_OK;
  out->matched[0] = '\0';
  out->partner[0] = '\0';
  imsec_sbuf w;
  imsec_sbuf_init(&w, out->why, sizeof(out->why));

  /* RFC 5280 §6 path validation, done by crypto/x509.c. */
  switch (imsec_trust_chain_check(c, "the P-CSCF's", &w)) {
  case IMSEC_TRUST_CHAIN_PASS:
    break;
  case IMSEC_TRUST_CHAIN_OUT_OF_DATE:
    return reject(out, IMSEC_TRUST_EXPIRED);
  case IMSEC_TRUST_CHAIN_NO_SERVER_AUTH:
    /* TS 33.310 §6.1.3c, RFC 5922 §7.3: a server certificate. */
    imsec_sbuf_add(&w, "the P-CSCF's certificate is not for TLS servers (no "
                       "extended key usage serverAuth)");
    return reject(out, IMSEC_TRUST_NOT_SERVER_AUTH);
  case IMSEC_TRUST_CHAIN_BROKEN:
  default:
    return reject(out, IMSEC_TRUST_CHAIN_INVALID);
  }

  /* RFC 5922 §7.2: the certificate must name the host the UE dialled;
   * exact, case-insensitive, trailing dot ignored, no wildcards. */
  imsec_str names[2 * IMSEC_TRUST_MAX_NAMES];
  size_t n = imsec_trust_names_capped(c, names);
  imsec_str host = imsec_dns_name_trim(in->pcscf_host);
  imsec_str matched = IMSEC_STR_NULL;
  int wildcard_hit = 0;
  for (size_t i = 0; i < n && !matched.p; i++) {
    if (is_wildcard(names[i])) {
      if (wildcard_matches(names[i], host)) {
        if (in->allow_wildcards)
          matched = names[i];
        else
          wildcard_hit = 1;
      }
    } else if (host.len && imsec_dns_name_eq(names[i], host)) {
      matched = names[i];
    }
  }
  if (!matched.p) {
    if (wildcard_hit) {
      imsec_sbuf_add(&w, "the P-CSCF's certificate names '");
      imsec_sbuf_put(&w, host);
      imsec_sbuf_add(&w, "' only through a wildcard, which RFC 5922 §7.2 "
                         "does not accept");
      return reject(out, IMSEC_TRUST_WILDCARD_REFUSED);
    }
    imsec_sbuf_add(&w, "the P-CSCF's certificate does not name the host the "
                       "UE dialled ('");
    imsec_sbuf_put(&w, host);
    imsec_sbuf_add(&w, "'); it names ");
    if (n == 0)
      imsec_sbuf_add(&w, "no SIP domain at all");
    for (size_t i = 0; i < n; i++) {
      if (i)
        imsec_sbuf_add(&w, ", ");
      imsec_sbuf_add(&w, "'");
      imsec_sbuf_put(&w, names[i]);
      imsec_sbuf_add(&w, "'");
    }
    return reject(out, IMSEC_TRUST_NAME_MISMATCH);
  }
  copy_field(out->matched, imsec_dns_name_trim(matched));
  /* For a wildcard match the dialled host is the P-CSCF's name. */
  imsec_str pname = is_wildcard(matched) ? host : imsec_dns_name_trim(matched);
  imsec_str realm = imsec_dns_name_trim(in->realm);
  imsec_str home = imsec_dns_name_trim(in->home_domain);
  imsec_str td = imsec_dns_name_trim(in->trust_domain);

  if (in->policy == IMSEC_TRUST_POLICY_STRICT_HOME) {
    /* RFC 3261 §26.3.2.1: the certificate identifies a host within the
     * UE's home domain ... */
    if (!imsec_dns_name_within(pname, home)) {
      imsec_sbuf_add(&w, "strict-home: the P-CSCF '");
      imsec_sbuf_put(&w, pname);
      imsec_sbuf_add(&w, "' is not a host in the home domain '");
      imsec_sbuf_put(&w, home);
      imsec_sbuf_add(&w, "'");
      return reject(out, IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN);
    }
    /* ... chains back to the home domain's CA ... */
    if (c->issuer != IMSEC_ISSUER_HOME) {
      imsec_sbuf_add(&w, "strict-home: the P-CSCF's certificate does not "
                         "chain through the home operator's CA");
      return reject(out, IMSEC_TRUST_NOT_HOME_CA);
    }
    /* ... and the Digest realm matches it. */
    if (realm_too && !imsec_dns_name_eq(realm, home)) {
      imsec_sbuf_add(&w, "strict-home: the realm '");
      imsec_sbuf_put(&w, realm);
      imsec_sbuf_add(&w, "' is not the home domain '");
      imsec_sbuf_put(&w, home);
      imsec_sbuf_add(&w, "' that the certificate names");
      return reject(out, IMSEC_TRUST_REALM_MISMATCH);
    }
    out->verdict = IMSEC_TRUST_HOME;
    imsec_sbuf_add(&w, "the home P-CSCF '");
    imsec_sbuf_put(&w, pname);
    imsec_sbuf_add(&w, realm_too ? "' is certified by the home operator's "
                                   "CA and the realm is the home domain"
                                 : "' is certified by the home operator's "
                                   "CA");
    return 0;
  }

  /* Annex F: every P-CSCF, home or visited, holds a certificate within the
   * one IMS trust domain ... */
  if (!imsec_dns_name_within(pname, td)) {
    imsec_trust_say_outside(&w, "the P-CSCF", pname, td);
    return reject(out, IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN);
  }
  /* ... issued under a CA hierarchy that reflects roaming agreements ... */
  if (c->issuer == IMSEC_ISSUER_NONE) {
    imsec_sbuf_add(&w, "the P-CSCF's certificate chains to the IMS root but "
                       "through no CA of the home operator or of one of its "
                       "roaming partners");
    return reject(out, IMSEC_TRUST_NOT_A_ROAMING_PARTNER);
  }
  /* ... and the S-CSCF's realm is an operator-specific name inside the
   * trust domain: the UE's own home network domain name. */
  if (realm_too && !imsec_dns_name_within(realm, td)) {
    imsec_trust_say_outside(&w, "the realm", realm, td);
    return reject(out, IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN);
  }
  if (realm_too && !imsec_dns_name_eq(realm, home)) {
    imsec_sbuf_add(&w, "the realm '");
    imsec_sbuf_put(&w, realm);
    imsec_sbuf_add(&w, "' is not the UE's home network domain name '");
    imsec_sbuf_put(&w, home);
    imsec_sbuf_add(&w, "'");
    return reject(out, IMSEC_TRUST_REALM_MISMATCH);
  }
  if (c->issuer == IMSEC_ISSUER_HOME) {
    out->verdict = IMSEC_TRUST_HOME;
    imsec_sbuf_add(&w, "the P-CSCF '");
    imsec_sbuf_put(&w, pname);
    imsec_sbuf_add(&w, "' is certified by the home operator's CA inside the "
                       "trust domain '");
    imsec_sbuf_put(&w, td);
    imsec_sbuf_add(&w, "'");
    return 0;
  }
  out->verdict = IMSEC_TRUST_PARTNER;
  copy_field(out->partner, imsec_trust_field(c->partner));
  imsec_sbuf_add(&w, "the visited P-CSCF '");
  imsec_sbuf_put(&w, pname);
  imsec_sbuf_add(&w, "' is certified by roaming partner '");
  imsec_sbuf_put(&w, imsec_trust_field(c->partner));
  imsec_sbuf_add(&w, "' inside the trust domain '");
  imsec_sbuf_put(&w, td);
  imsec_sbuf_add(&w, "'");
  return 0;
}

int imsec_trust_decide(const imsec_trust_input *in, imsec_trust_result *out) {
  return decide(in, out, 1);
}

int imsec_trust_decide_cert(const imsec_trust_input *in,
                            imsec_trust_result *out) {
  return decide(in, out, 0);
}
