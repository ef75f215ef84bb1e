/* The P-CSCF trust decision end to end: chains generated with crypto/pki.c,
 * validated by crypto/x509.c, decided by lib/trust. Every reason code,
 * home, roaming-partner and non-partner P-CSCFs under both policies, and
 * the RFC 5922 name cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imsec/ident.h"
#include "imsec/pki.h"
#include "imsec/trust.h"
#include "imsec/x509.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define VISITED "ims.mnc002.mcc001.3gppnetwork.org"
#define OTHER "ims.mnc003.mcc001.3gppnetwork.org"
#define DAY 86400

enum {
  ROOT,
  OP_HOME,
  OP_VISITED,
  OP_OTHER,
  L_HOME,
  L_VISITED,
  L_OTHER,
  L_OUTSIDE,
  L_EXPIRED,
  L_SELFSIGNED,
  L_WILDCARD,
  L_CN_ONLY,
  L_MIXED_CASE,
  L_URI_ONLY,
  L_URI_WITH_USER,
  L_CLIENT_ONLY,
  L_HOME_BY_ROOT,
  L_HOME_BY_PARTNER,
  L_SIP_ESCAPE,
  N_CREDS
};

typedef struct fixture {
  imsec_pki_cred *c[N_CREDS];
  int issuer_of[N_CREDS]; /* -1: self-signed */
  imsec_x509_anchors *anchors;
  int64_t now;
} fixture;

static fixture F;

static imsec_pki_cred *mk(int id, int issuer, imsec_pki_spec *s) {
  if (s->not_before == 0 && s->not_after == 0) {
    s->not_before = F.now - DAY;
    s->not_after = F.now + 30 * DAY;
  }
  imsec_pki_cred *c = NULL;
  if (imsec_pki_issue(s, issuer >= 0 ? F.c[issuer] : NULL, &c) != 0)
    return NULL;
  F.c[id] = c;
  F.issuer_of[id] = issuer;
  return c;
}

static int mk_ca(int id, int issuer, const char *cn, const char *domain) {
  const char *perm[] = {domain};
  imsec_pki_spec s = {.cn = cn,
                      .org = "imsec test",
                      .ca = 1,
                      .path_len = issuer < 0 ? -1 : 0,
                      .permitted = domain ? perm : NULL,
                      .n_permitted = domain ? 1 : 0,
                      .not_before = F.now - 60 * DAY,
                      .not_after = F.now + 365 * DAY};
  return mk(id, issuer, &s) ? 0 : -1;
}

static int mk_pcscf(int id, int issuer, const char *host) {
  char uri[300];
  snprintf(uri, sizeof(uri), "sip:%s", host);
  const char *dns[] = {host};
  const char *uris[] = {uri};
  imsec_pki_spec s = {.cn = host,
                      .dns = dns,
                      .n_dns = 1,
                      .uris = uris,
                      .n_uris = 1,
                      .server_auth = 1};
  return mk(id, issuer, &s) ? 0 : -1;
}

static int setup(void **state) {
  (void)state;
  F.now = (int64_t)time(NULL);
  if (mk_ca(ROOT, -1, "IMS root CA", NULL) ||
      mk_ca(OP_HOME, ROOT, HOME, HOME) ||
      mk_ca(OP_VISITED, ROOT, VISITED, VISITED) ||
      mk_ca(OP_OTHER, ROOT, OTHER, OTHER) ||
      mk_pcscf(L_HOME, OP_HOME, "pcscf." HOME) ||
      mk_pcscf(L_VISITED, OP_VISITED, "pcscf." VISITED) ||
      mk_pcscf(L_OTHER, OP_OTHER, "pcscf." OTHER) ||
      mk_pcscf(L_OUTSIDE, ROOT, "pcscf.evil.example") ||
      mk_pcscf(L_SELFSIGNED, -1, "pcscf." HOME) ||
      mk_pcscf(L_HOME_BY_ROOT, ROOT, "pcscf." HOME) ||
      mk_pcscf(L_HOME_BY_PARTNER, OP_VISITED, "pcscf." HOME))
    return -1;
  {
    const char *dns[] = {"pcscf." HOME};
    imsec_pki_spec s = {.cn = "x",
                        .dns = dns,
                        .n_dns = 1,
                        .server_auth = 1,
                        .not_before = F.now - 30 * DAY,
                        .not_after = F.now - DAY};
    if (!mk(L_EXPIRED, OP_HOME, &s))
      return -1;
  }
  {
    const char *dns[] = {"*." HOME};
    imsec_pki_spec s = {
        .cn = "*." HOME, .dns = dns, .n_dns = 1, .server_auth = 1};
    if (!mk(L_WILDCARD, OP_HOME, &s))
      return -1;
  }
  {
    imsec_pki_spec s = {.cn = "pcscf." HOME, .server_auth = 1};
    if (!mk(L_CN_ONLY, OP_HOME, &s))
      return -1;
  }
  {
    const char *dns[] = {"PCSCF.IMS.MNC001.mcc001.3GPPNetwork.ORG"};
    imsec_pki_spec s = {.dns = dns, .n_dns = 1, .server_auth = 1};
    if (!mk(L_MIXED_CASE, OP_HOME, &s))
      return -1;
  }
  {
    const char *uris[] = {"sip:pcscf." HOME ";transport=tls"};
    imsec_pki_spec s = {
        .cn = "ignored." HOME, .uris = uris, .n_uris = 1, .server_auth = 1};
    if (!mk(L_URI_ONLY, OP_HOME, &s))
      return -1;
  }
  {
    /* A user part makes the URI an individual, not a domain (§7.1). */
    const char *uris[] = {"sip:alice@pcscf." HOME};
    imsec_pki_spec s = {
        .cn = "pcscf." HOME, .uris = uris, .n_uris = 1, .server_auth = 1};
    if (!mk(L_URI_WITH_USER, OP_HOME, &s))
      return -1;
  }
  {
    const char *dns[] = {"pcscf." HOME};
    imsec_pki_spec s = {
        .cn = "pcscf." HOME, .dns = dns, .n_dns = 1, .client_auth = 1};
    if (!mk(L_CLIENT_ONLY, OP_HOME, &s))
      return -1;
  }
  {
    /* A visited operator's certificate whose dNSName obeys its CA's name
     * constraint but whose SAN URI names a home host. */
    const char *dns[] = {"pcscf." VISITED};
    const char *uris[] = {"sip:pcscf." HOME};
    imsec_pki_spec s = {
        .dns = dns, .n_dns = 1, .uris = uris, .n_uris = 1, .server_auth = 1};
    if (!mk(L_SIP_ESCAPE, OP_VISITED, &s))
      return -1;
  }
  if (imsec_x509_anchors_new(&F.anchors) != 0)
    return -1;
  imsec_bytes r = imsec_pki_cred_der(F.c[ROOT]);
  imsec_bytes h = imsec_pki_cred_der(F.c[OP_HOME]);
  imsec_bytes v = imsec_pki_cred_der(F.c[OP_VISITED]);
  if (imsec_x509_anchors_add_root(F.anchors, r.p, r.len) ||
      imsec_x509_anchors_set_home_ca(F.anchors, h.p, h.len) ||
      imsec_x509_anchors_add_partner(F.anchors, v.p, v.len, NULL))
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < N_CREDS; i++)
    imsec_pki_cred_del(F.c[i]);
  imsec_x509_anchors_del(F.anchors);
  return 0;
}

/* The chain a server would send: leaf, then its issuing CA (not root). */
static size_t chain_of(int id, imsec_bytes *out, int leaf_only) {
  size_t n = 0;
  out[n++] = imsec_pki_cred_der(F.c[id]);
  int iss = F.issuer_of[id];
  if (!leaf_only && iss > ROOT)
    out[n++] = imsec_pki_cred_der(F.c[iss]);
  return n;
}

typedef struct verdict {
  imsec_trust_result r;
  imsec_trust_cert cert;
} verdict;

static verdict decide_full(int id, const char *host, const char *realm,
                           imsec_trust_policy policy, int wild, int leaf_only) {
  verdict v;
  imsec_bytes chain[3];
  size_t n = chain_of(id, chain, leaf_only);
  assert_int_equal(imsec_x509_check(F.anchors, chain, n, -1, &v.cert), 0);
  imsec_trust_input in = {.cert = &v.cert,
                          .pcscf_host = imsec_str_c(host),
                          .realm = imsec_str_c(realm),
                          .trust_domain = IMSEC_STR_LIT(TD),
                          .home_domain = IMSEC_STR_LIT(HOME),
                          .policy = policy,
                          .allow_wildcards = wild};
  assert_int_equal(imsec_trust_decide(&in, &v.r), 0);
  assert_true(strlen(v.r.why) > 20);
  return v;
}

static verdict decide(int id, const char *host, const char *realm,
                      imsec_trust_policy policy) {
  return decide_full(id, host, realm, policy, 0, 0);
}

#define TDP IMSEC_TRUST_POLICY_TRUST_DOMAIN
#define SHP IMSEC_TRUST_POLICY_STRICT_HOME

static void expect(verdict v, imsec_trust_verdict want,
                   imsec_trust_reason reason) {
  if (v.r.verdict != want || v.r.reason != reason)
    fail_msg("got verdict %d reason %s (%s), want %d %s", v.r.verdict,
             imsec_trust_reason_code(v.r.reason), v.r.why, want,
             imsec_trust_reason_code(reason));
}

static void home_pcscf(void **state) {
  (void)state;
  for (int p = 0; p < 2; p++) {
    verdict v = decide(L_HOME, "pcscf." HOME, HOME, (imsec_trust_policy)p);
    expect(v, IMSEC_TRUST_HOME, IMSEC_TRUST_OK);
    assert_string_equal(v.r.matched, "pcscf." HOME);
    assert_int_equal(v.cert.issuer, IMSEC_ISSUER_HOME);
    /* The server may send its leaf alone: the home CA fills the gap. */
    v = decide_full(L_HOME, "pcscf." HOME, HOME, (imsec_trust_policy)p, 0, 1);
    expect(v, IMSEC_TRUST_HOME, IMSEC_TRUST_OK);
  }
  /* Facts extracted from the certificate. */
  verdict v = decide(L_HOME, "pcscf." HOME, HOME, TDP);
  assert_int_equal(v.cert.n_dns, 1);
  assert_int_equal(v.cert.n_sip, 1);
  assert_string_equal(v.cert.sip[0], "pcscf." HOME);
  assert_true(v.cert.has_san);
  assert_string_equal(v.cert.cn, "pcscf." HOME);
}

static void roaming_partner(void **state) {
  (void)state;
  verdict v = decide(L_VISITED, "pcscf." VISITED, HOME, TDP);
  expect(v, IMSEC_TRUST_PARTNER, IMSEC_TRUST_OK);
  assert_string_equal(v.r.partner, VISITED);
  assert_int_equal(v.cert.partner_index, 0);
  assert_non_null(strstr(v.r.why, "roaming partner"));
  /* RFC 3261 as written refuses the visited network. */
  v = decide(L_VISITED, "pcscf." VISITED, HOME, SHP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN);
}

static void non_partner(void **state) {
  (void)state;
  verdict v = decide(L_OTHER, "pcscf." OTHER, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NOT_A_ROAMING_PARTNER);
  assert_int_equal(v.cert.chain, IMSEC_CHAIN_OK);
  v = decide(L_OTHER, "pcscf." OTHER, HOME, SHP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN);
  /* Without its operator CA in the chain nothing links it to the root. */
  v = decide_full(L_OTHER, "pcscf." OTHER, HOME, TDP, 0, 1);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_CHAIN_INVALID);
  /* Issued straight by the root: inside the home domain's names but not
   * through the home operator's CA. */
  v = decide(L_HOME_BY_ROOT, "pcscf." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NOT_A_ROAMING_PARTNER);
  v = decide(L_HOME_BY_ROOT, "pcscf." HOME, HOME, SHP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NOT_HOME_CA);
}

static void every_reason(void **state) {
  (void)state;
  expect(decide(L_SELFSIGNED, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_CHAIN_INVALID);
  verdict v = decide(L_EXPIRED, "pcscf." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_EXPIRED);
  assert_non_null(strstr(v.r.why, "expired"));
  expect(decide(L_CLIENT_ONLY, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_NOT_SERVER_AUTH);
  v = decide(L_HOME, "pcscf2." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_MISMATCH);
  assert_non_null(strstr(v.r.why, "pcscf2." HOME));
  expect(decide(L_WILDCARD, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_WILDCARD_REFUSED);
  expect(decide(L_OUTSIDE, "pcscf.evil.example", HOME, TDP),
         IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN);
  expect(decide(L_OUTSIDE, "pcscf.evil.example", HOME, SHP),
         IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN);
  expect(decide(L_OTHER, "pcscf." OTHER, HOME, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_NOT_A_ROAMING_PARTNER);
  expect(decide(L_HOME, "pcscf." HOME, VISITED, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_REALM_MISMATCH);
  expect(decide(L_HOME, "pcscf." HOME, VISITED, SHP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_REALM_MISMATCH);
  expect(decide(L_VISITED, "pcscf." VISITED, VISITED, TDP),
         IMSEC_TRUST_REJECTED, IMSEC_TRUST_REALM_MISMATCH);
  expect(decide(L_HOME, "pcscf." HOME, "ims.example.com", TDP),
         IMSEC_TRUST_REJECTED, IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN);
  expect(decide(L_HOME, "pcscf." HOME, "ims.mnc001.mcc001.evil3gppnetwork.org",
                TDP),
         IMSEC_TRUST_REJECTED, IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN);
  expect(decide(L_HOME_BY_ROOT, "pcscf." HOME, HOME, SHP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_NOT_HOME_CA);
  /* Every code has a name. */
  for (int r = IMSEC_TRUST_OK; r <= IMSEC_TRUST_REALM_OUTSIDE_TRUST_DOMAIN; r++)
    assert_string_not_equal(imsec_trust_reason_code((imsec_trust_reason)r),
                            "unknown");
  assert_string_equal(imsec_trust_reason_code((imsec_trust_reason)99),
                      "unknown");
}

/* The certificate part alone (what a UE decides when the handshake
 * completes): every certificate reason as the whole decision gives it,
 * and the realm never read. */
static void cert_part_only(void **state) {
  (void)state;
  struct {
    int id;
    const char *host;
    imsec_trust_policy policy;
    imsec_trust_verdict verdict;
    imsec_trust_reason reason;
  } cases[] = {
      {L_HOME, "pcscf." HOME, TDP, IMSEC_TRUST_HOME, IMSEC_TRUST_OK},
      {L_HOME, "pcscf." HOME, SHP, IMSEC_TRUST_HOME, IMSEC_TRUST_OK},
      {L_VISITED, "pcscf." VISITED, TDP, IMSEC_TRUST_PARTNER, IMSEC_TRUST_OK},
      {L_SELFSIGNED, "pcscf." HOME, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_CHAIN_INVALID},
      {L_EXPIRED, "pcscf." HOME, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_EXPIRED},
      {L_CLIENT_ONLY, "pcscf." HOME, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NOT_SERVER_AUTH},
      {L_HOME, "pcscf2." HOME, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NAME_MISMATCH},
      {L_WILDCARD, "pcscf." HOME, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_WILDCARD_REFUSED},
      {L_OUTSIDE, "pcscf.evil.example", TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN},
      {L_OTHER, "pcscf." OTHER, TDP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NOT_A_ROAMING_PARTNER},
      {L_VISITED, "pcscf." VISITED, SHP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NAME_OUTSIDE_HOME_DOMAIN},
      {L_HOME_BY_ROOT, "pcscf." HOME, SHP, IMSEC_TRUST_REJECTED,
       IMSEC_TRUST_NOT_HOME_CA},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    imsec_bytes chain[3];
    size_t n = chain_of(cases[i].id, chain, 0);
    imsec_trust_cert cert;
    assert_int_equal(imsec_x509_check(F.anchors, chain, n, -1, &cert), 0);
    /* A realm that would fail both realm checks: not looked at. */
    imsec_trust_input in = {.cert = &cert,
                            .pcscf_host = imsec_str_c(cases[i].host),
                            .realm = IMSEC_STR_LIT("ims.example.com"),
                            .trust_domain = IMSEC_STR_LIT(TD),
                            .home_domain = IMSEC_STR_LIT(HOME),
                            .policy = cases[i].policy};
    imsec_trust_result r;
    assert_int_equal(imsec_trust_decide_cert(&in, &r), 0);
    if (r.verdict != cases[i].verdict || r.reason != cases[i].reason)
      fail_msg("case %zu: got %d %s (%s)", i, r.verdict,
               imsec_trust_reason_code(r.reason), r.why);
    assert_true(strlen(r.why) > 20);
    assert_null(strstr(r.why, "realm"));
    /* The whole decision with the home realm agrees. */
    in.realm = IMSEC_STR_LIT(HOME);
    imsec_trust_result full;
    assert_int_equal(imsec_trust_decide(&in, &full), 0);
    assert_int_equal(full.verdict, r.verdict);
    assert_int_equal(full.reason, r.reason);
  }
  assert_int_equal(imsec_trust_decide_cert(NULL, NULL), IMSEC_ERR_INVAL);
}

/* The visited operator's CA is constrained to its own domain, so it cannot
 * certify a host of the home network (RFC 5280 §4.2.1.10). */
static void name_constraints(void **state) {
  (void)state;
  verdict v = decide(L_HOME_BY_PARTNER, "pcscf." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_CHAIN_INVALID);
  assert_non_null(strstr(v.r.why, "subtree"));
  /* OpenSSL does not apply constraints to "sip:" URIs; x509.c does. */
  v = decide(L_SIP_ESCAPE, "pcscf." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_CHAIN_INVALID);
  assert_non_null(strstr(v.r.why, "sip:pcscf." HOME));
}

static void rfc5922_names_real(void **state) {
  (void)state;
  /* CN only, no SAN: the CN counts. */
  expect(decide(L_CN_ONLY, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_HOME,
         IMSEC_TRUST_OK);
  /* Mixed case in the certificate and in the dialled host; trailing dot. */
  expect(decide(L_MIXED_CASE, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_HOME,
         IMSEC_TRUST_OK);
  expect(decide(L_HOME, "PCSCF.Ims.MNC001.mcc001.3gppnetwork.ORG.", HOME, TDP),
         IMSEC_TRUST_HOME, IMSEC_TRUST_OK);
  expect(decide(L_HOME, "pcscf." HOME, HOME ".", TDP), IMSEC_TRUST_HOME,
         IMSEC_TRUST_OK);
  /* A SAN URI sip: alone; its parameters are not part of the domain; the
   * CN is ignored when a SAN exists. */
  expect(decide(L_URI_ONLY, "pcscf." HOME, HOME, TDP), IMSEC_TRUST_HOME,
         IMSEC_TRUST_OK);
  expect(decide(L_URI_ONLY, "ignored." HOME, HOME, TDP), IMSEC_TRUST_REJECTED,
         IMSEC_TRUST_NAME_MISMATCH);
  /* A SAN URI with a user part names a user, and the CN is not used. */
  verdict v = decide(L_URI_WITH_USER, "pcscf." HOME, HOME, TDP);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_MISMATCH);
  assert_int_equal(v.cert.n_sip, 0);
  /* A wildcard when the caller allows it. */
  v = decide_full(L_WILDCARD, "pcscf." HOME, HOME, TDP, 1, 0);
  expect(v, IMSEC_TRUST_HOME, IMSEC_TRUST_OK);
  /* A wildcard covers one label only, even when allowed. */
  v = decide_full(L_WILDCARD, "a.pcscf." HOME, HOME, TDP, 1, 0);
  expect(v, IMSEC_TRUST_REJECTED, IMSEC_TRUST_NAME_MISMATCH);
}

/* lib/trust alone, with hand-built facts: the name rules in isolation. */
static imsec_trust_result pure(imsec_trust_cert *c, const char *host) {
  imsec_trust_input in = {.cert = c,
                          .pcscf_host = imsec_str_c(host),
                          .realm = IMSEC_STR_LIT(HOME),
                          .trust_domain = IMSEC_STR_LIT(TD),
                          .home_domain = IMSEC_STR_LIT(HOME),
                          .policy = TDP};
  imsec_trust_result r;
  assert_int_equal(imsec_trust_decide(&in, &r), 0);
  return r;
}

static void rfc5922_names_pure(void **state) {
  (void)state;
  imsec_trust_cert c;
  memset(&c, 0, sizeof(c));
  c.chain = IMSEC_CHAIN_OK;
  c.issuer = IMSEC_ISSUER_HOME;
  /* Trailing dot in the certificate. */
  c.has_san = 1;
  c.n_dns = 1;
  strcpy(c.dns[0], "pcscf." HOME ".");
  assert_int_equal(pure(&c, "pcscf." HOME).verdict, IMSEC_TRUST_HOME);
  /* dNSName is ignored once a SAN URI sip: exists (RFC 5922 §7.1). */
  c.n_sip = 1;
  strcpy(c.sip[0], "other." HOME);
  assert_int_equal(pure(&c, "pcscf." HOME).reason, IMSEC_TRUST_NAME_MISMATCH);
  assert_int_equal(pure(&c, "OTHER." HOME).verdict, IMSEC_TRUST_HOME);
  /* The CN is ignored when any SAN exists, even one with no usable name. */
  c.n_sip = 0;
  c.n_dns = 0;
  strcpy(c.cn, "pcscf." HOME);
  assert_int_equal(pure(&c, "pcscf." HOME).reason, IMSEC_TRUST_NAME_MISMATCH);
  c.has_san = 0;
  assert_int_equal(pure(&c, "pcscf." HOME).verdict, IMSEC_TRUST_HOME);
  /* A wildcard CN is refused too. */
  strcpy(c.cn, "*." HOME);
  assert_int_equal(pure(&c, "pcscf." HOME).reason,
                   IMSEC_TRUST_WILDCARD_REFUSED);
  /* Not a whole-label match. */
  strcpy(c.cn, "pcscf.ims.mnc001.mcc001.evil3gppnetwork.org");
  assert_int_equal(
      pure(&c, "pcscf.ims.mnc001.mcc001.evil3gppnetwork.org").reason,
      IMSEC_TRUST_NAME_OUTSIDE_TRUST_DOMAIN);
  /* An empty dialled host matches nothing. */
  strcpy(c.cn, "pcscf." HOME);
  assert_int_equal(pure(&c, "").reason, IMSEC_TRUST_NAME_MISMATCH);
  /* Not-yet-valid maps onto "expired"; a bad policy is an error. */
  c.chain = IMSEC_CHAIN_NOT_YET_VALID;
  assert_int_equal(pure(&c, "pcscf." HOME).reason, IMSEC_TRUST_EXPIRED);
  imsec_trust_input in = {.cert = &c, .policy = (imsec_trust_policy)7};
  imsec_trust_result r;
  assert_int_equal(imsec_trust_decide(&in, &r), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_trust_decide(NULL, &r), IMSEC_ERR_INVAL);
  imsec_trust_policy p;
  assert_int_equal(imsec_trust_policy_parse(IMSEC_STR_LIT("strict-home"), &p),
                   0);
  assert_int_equal(p, SHP);
  assert_string_equal(imsec_trust_policy_name(p), "strict-home");
  assert_int_equal(imsec_trust_policy_parse(IMSEC_STR_LIT("lax"), &p),
                   IMSEC_ERR_PARSE);
}

/* Validation at a chosen time, and bad DER. */
static void times_and_der(void **state) {
  (void)state;
  imsec_trust_cert c;
  imsec_bytes chain[2];
  size_t n = chain_of(L_EXPIRED, chain, 0);
  assert_int_equal(imsec_x509_check(F.anchors, chain, n, F.now - 10 * DAY, &c),
                   0);
  assert_int_equal(c.chain, IMSEC_CHAIN_OK);
  n = chain_of(L_HOME, chain, 0);
  assert_int_equal(imsec_x509_check(F.anchors, chain, n, F.now - 5 * DAY, &c),
                   0);
  assert_int_equal(c.chain, IMSEC_CHAIN_NOT_YET_VALID);
  uint8_t junk[8] = {0x30, 0x03, 1, 2, 3, 4, 5, 6};
  imsec_bytes bad = {junk, sizeof(junk)};
  assert_int_equal(imsec_x509_check(F.anchors, &bad, 1, -1, &c), 0);
  assert_int_equal(c.chain, IMSEC_CHAIN_INVALID);
  chain[1] = bad;
  assert_int_equal(imsec_x509_check(F.anchors, chain, 2, -1, &c), 0);
  assert_int_equal(c.chain, IMSEC_CHAIN_INVALID);
  assert_int_equal(imsec_x509_check(F.anchors, chain, 0, -1, &c),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_x509_anchors_add_root(F.anchors, junk, sizeof(junk)),
                   IMSEC_ERR_PARSE);
}

/* Files: keys 0600, no overwrite without force, PEM chains round-trip. */
static void files(void **state) {
  (void)state;
  char dir[] = "/tmp/imsec_trust_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char key[128], crt[128], chn[128], root[128], home[128], vis[128];
  snprintf(key, sizeof(key), "%s/leaf.key", dir);
  snprintf(crt, sizeof(crt), "%s/leaf.crt", dir);
  snprintf(chn, sizeof(chn), "%s/chain.pem", dir);
  snprintf(root, sizeof(root), "%s/root.crt", dir);
  snprintf(home, sizeof(home), "%s/home.crt", dir);
  snprintf(vis, sizeof(vis), "%s/visited.crt", dir);
  const imsec_pki_cred *leaf[] = {F.c[L_VISITED]};
  const imsec_pki_cred *chain[] = {F.c[L_VISITED], F.c[OP_VISITED]};
  assert_int_equal(imsec_pki_write_key(F.c[L_VISITED], key, 0), 0);
  assert_int_equal(imsec_pki_write_key(F.c[L_VISITED], key, 0),
                   IMSEC_ERR_EXISTS);
  assert_int_equal(chmod(key, 0644), 0);
  assert_int_equal(imsec_pki_write_key(F.c[L_VISITED], key, 1), 0);
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(imsec_pki_write_certs(crt, leaf, 1, 0), 0);
  assert_int_equal(imsec_pki_write_certs(chn, chain, 2, 0), 0);
  assert_int_equal(imsec_pki_write_certs(chn, chain, 2, 0), IMSEC_ERR_EXISTS);
  const imsec_pki_cred *r[] = {F.c[ROOT]}, *h[] = {F.c[OP_HOME]},
                       *v[] = {F.c[OP_VISITED]};
  assert_int_equal(imsec_pki_write_certs(root, r, 1, 0), 0);
  assert_int_equal(imsec_pki_write_certs(home, h, 1, 0), 0);
  assert_int_equal(imsec_pki_write_certs(vis, v, 1, 0), 0);

  imsec_pki_cred *loaded = NULL;
  assert_int_equal(imsec_pki_cred_load(crt, key, &loaded), 0);
  imsec_pki_cred_del(loaded);
  assert_int_equal(chmod(key, 0640), 0);
  assert_int_equal(imsec_pki_cred_load(crt, key, &loaded), IMSEC_ERR_PERM);
  assert_int_equal(chmod(key, 0600), 0);
  /* A key that is not the certificate's. */
  assert_int_equal(imsec_pki_cred_load(root, key, &loaded), IMSEC_ERR_PARSE);

  imsec_x509_chain ch;
  assert_int_equal(imsec_x509_chain_load_pem(chn, &ch), 0);
  assert_int_equal(ch.n, 2);
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  assert_int_equal(imsec_x509_anchors_add_root_file(a, root), 0);
  assert_int_equal(imsec_x509_anchors_set_home_ca_file(a, home), 0);
  assert_int_equal(imsec_x509_anchors_add_partner_file(a, vis, "mnc002"), 0);
  imsec_trust_cert c;
  assert_int_equal(imsec_x509_check(a, ch.certs, ch.n, -1, &c), 0);
  assert_int_equal(c.chain, IMSEC_CHAIN_OK);
  assert_int_equal(c.issuer, IMSEC_ISSUER_PARTNER);
  assert_string_equal(c.partner, "mnc002");
  imsec_x509_chain_free(&ch);
  imsec_x509_anchors_del(a);

  char cn[64];
  assert_int_equal(imsec_x509_file_subject_cn(vis, cn, sizeof(cn)),
                   (int)strlen(VISITED));
  assert_string_equal(cn, VISITED);
  char why[128];
  assert_int_equal(imsec_x509_file_chains_to(vis, root, why, sizeof(why)), 1);
  assert_int_equal(imsec_x509_file_chains_to(root, vis, why, sizeof(why)), 0);
  assert_true(strlen(why) > 0);
  assert_int_equal(imsec_x509_chain_load_pem(key, &ch), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_x509_chain_load_pem("/nonexistent/x.pem", &ch),
                   IMSEC_ERR_IO);

  const char *names[] = {"leaf.key", "leaf.crt", "chain.pem",
                         "root.crt", "home.crt", "visited.crt"};
  char p[160];
  for (size_t i = 0; i < 6; i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

static void rsa_keys(void **state) {
  (void)state;
  const char *dns[] = {"pcscf." HOME};
  imsec_pki_spec s = {.key = IMSEC_PKI_KEY_RSA2048,
                      .cn = "pcscf." HOME,
                      .dns = dns,
                      .n_dns = 1,
                      .server_auth = 1,
                      .not_before = F.now - DAY,
                      .not_after = F.now + DAY};
  imsec_pki_cred *c = NULL;
  assert_int_equal(imsec_pki_issue(&s, F.c[OP_HOME], &c), 0);
  imsec_bytes der = imsec_pki_cred_der(c);
  imsec_trust_cert tc;
  assert_int_equal(imsec_x509_check(F.anchors, &der, 1, -1, &tc), 0);
  assert_int_equal(tc.chain, IMSEC_CHAIN_OK);
  imsec_pki_cred_del(c);
  /* Bad specs. */
  imsec_pki_spec none = {.not_before = 1, .not_after = 2};
  assert_int_equal(imsec_pki_issue(&none, NULL, &c), IMSEC_ERR_INVAL);
  s.not_after = s.not_before - 1;
  assert_int_equal(imsec_pki_issue(&s, NULL, &c), IMSEC_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(home_pcscf),
      cmocka_unit_test(roaming_partner),
      cmocka_unit_test(non_partner),
      cmocka_unit_test(every_reason),
      cmocka_unit_test(cert_part_only),
      cmocka_unit_test(name_constraints),
      cmocka_unit_test(rfc5922_names_real),
      cmocka_unit_test(rfc5922_names_pure),
      cmocka_unit_test(times_and_der),
      cmocka_unit_test(files),
      cmocka_unit_test(rsa_keys),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
