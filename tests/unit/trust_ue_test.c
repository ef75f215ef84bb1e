/* Modes M2a and M2b: a UE's certificate as crypto/x509.c reads it (SAN URI
 * sip:IMPI, client-purpose path, the issuing CA's domain) and the
 * P-CSCF's decision on it (lib/trust/ue_cert.c), every refusal. */
#include <string.h>
#include <time.h>

#include "imsec/pki.h"
#include "imsec/trust.h"
#include "imsec/x509.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001." TD
#define OTHER "ims.mnc002.mcc001." TD
#define IMPI "001010000000001@" HOME

typedef struct pki {
  imsec_pki_cred *root, *op, *op2;
  imsec_x509_anchors *a;
  int64_t now;
} pki;

static void pki_make(pki *k) {
  k->now = (int64_t)time(NULL);
  const char *perm[] = {HOME}, *perm2[] = {OTHER};
  imsec_pki_spec root_s = {.cn = "IMS root",
                           .ca = 1,
                           .path_len = 1,
                           .not_before = k->now - 3600,
                           .not_after = k->now + 86400};
  imsec_pki_spec op_s = {.cn = HOME,
                         .ca = 1,
                         .path_len = 0,
                         .permitted = perm,
                         .n_permitted = 1,
                         .not_before = k->now - 3600,
                         .not_after = k->now + 86400};
  assert_int_equal(imsec_pki_issue(&root_s, NULL, &k->root), 0);
  assert_int_equal(imsec_pki_issue(&op_s, k->root, &k->op), 0);
  op_s.cn = OTHER;
  op_s.permitted = perm2;
  assert_int_equal(imsec_pki_issue(&op_s, k->root, &k->op2), 0);
  assert_int_equal(imsec_x509_anchors_new(&k->a), 0);
  imsec_bytes r = imsec_pki_cred_der(k->root);
  assert_int_equal(imsec_x509_anchors_add_root(k->a, r.p, r.len), 0);
}

static void pki_free(pki *k) {
  imsec_x509_anchors_del(k->a);
  imsec_pki_cred_del(k->op2);
  imsec_pki_cred_del(k->op);
  imsec_pki_cred_del(k->root);
}

/* A UE leaf naming `uri` under `ca`, its facts in *f. */
static void ue_facts(pki *k, const imsec_pki_cred *ca, const char *uri,
                     int server, int expired, imsec_trust_cert *f) {
  const char *uris[] = {uri};
  imsec_pki_spec s = {.cn = "ue",
                      .uris = uris,
                      .n_uris = 1,
                      .client_auth = 1,
                      .server_auth = server,
                      .not_before = k->now - 3600,
                      .not_after = k->now + 86400};
  if (expired) {
    s.not_before = k->now - 7200;
    s.not_after = k->now - 3600;
  }
  imsec_pki_cred *leaf = NULL;
  assert_int_equal(imsec_pki_issue(&s, ca, &leaf), 0);
  imsec_bytes chain[2] = {imsec_pki_cred_der(leaf), imsec_pki_cred_der(ca)};
  assert_int_equal(imsec_x509_check(k->a, chain, 2, -1, f), 0);
  imsec_pki_cred_del(leaf);
}

static const char *code(const imsec_trust_cert *f, int server,
                        const char *expect, char *impi) {
  return imsec_trust_ue_reason_code(
      imsec_trust_ue_cert(f, server, imsec_str_c(expect), impi));
}

static void client_certificate(void **state) {
  (void)state;
  pki k;
  pki_make(&k);
  imsec_trust_cert f;
  char impi[IMSEC_TRUST_NAME_CAP];
  ue_facts(&k, k.op, "sip:" IMPI, 0, 0, &f);
  /* clientAuth alone: not a server chain, a valid client one */
  assert_int_equal(f.chain, IMSEC_CHAIN_NOT_SERVER_AUTH);
  assert_int_equal(f.client_chain_ok, 1);
  assert_int_equal(f.n_uri_user, 1);
  assert_string_equal(f.uri_user[0], IMPI);
  assert_int_equal(f.n_sip, 0);
  assert_string_equal(f.issuer_domain, HOME);
  assert_string_equal(code(&f, 0, "", impi), "ok");
  assert_string_equal(impi, IMPI);
  assert_string_equal(code(&f, 0, IMPI, impi), "ok");
  /* the realm compares case-insensitively, the user part does not */
  assert_string_equal(
      code(&f, 0, "001010000000001@IMS.mnc001.mcc001." TD, impi), "ok");
  assert_string_equal(code(&f, 0, "001010000000002@" HOME, impi),
                      "impi-mismatch");
  assert_string_equal(impi, IMPI);
  /* as a server (M2b) it lacks serverAuth */
  assert_string_equal(code(&f, 1, IMPI, impi), "not-server-auth");
  assert_string_equal(code(NULL, 0, "", impi), "no-certificate");
  assert_string_equal(impi, "");
  pki_free(&k);
}

static void server_certificate(void **state) {
  (void)state;
  pki k;
  pki_make(&k);
  imsec_trust_cert f;
  ue_facts(&k, k.op, "sip:" IMPI, 1, 0, &f);
  assert_int_equal(f.chain, IMSEC_CHAIN_OK);
  assert_int_equal(f.client_chain_ok, 1);
  assert_string_equal(code(&f, 1, IMPI, NULL), "ok");
  assert_string_equal(code(&f, 0, IMPI, NULL), "ok");
  pki_free(&k);
}

static void refusals(void **state) {
  (void)state;
  pki k;
  pki_make(&k);
  imsec_trust_cert f;
  /* another operator's CA cannot name our subscribers: its constraint */
  ue_facts(&k, k.op2, "sip:" IMPI, 0, 0, &f);
  assert_int_equal(f.client_chain_ok, 0);
  assert_string_equal(code(&f, 0, "", NULL), "chain-invalid");
  /* the root itself (no operator CA) issued it */
  ue_facts(&k, k.root, "sip:" IMPI, 0, 0, &f);
  assert_int_equal(f.client_chain_ok, 1);
  assert_string_equal(code(&f, 0, "", NULL), "not-home-operator");
  /* expired */
  ue_facts(&k, k.op, "sip:" IMPI, 0, 1, &f);
  assert_int_equal(f.client_chain_ok, 0);
  assert_int_equal(f.chain, IMSEC_CHAIN_EXPIRED);
  assert_string_equal(code(&f, 0, "", NULL), "expired");
  /* a SIP domain is no IMPI */
  ue_facts(&k, k.op, "sip:" HOME, 0, 0, &f);
  assert_int_equal(f.n_uri_user, 0);
  assert_int_equal(f.n_sip, 1);
  assert_string_equal(code(&f, 0, "", NULL), "no-impi");
  /* self-signed */
  const char *uris[] = {"sip:" IMPI};
  imsec_pki_spec s = {.cn = "ue",
                      .uris = uris,
                      .n_uris = 1,
                      .client_auth = 1,
                      .not_before = k.now - 3600,
                      .not_after = k.now + 86400};
  imsec_pki_cred *self = NULL;
  assert_int_equal(imsec_pki_issue(&s, NULL, &self), 0);
  imsec_bytes one = imsec_pki_cred_der(self);
  assert_int_equal(imsec_x509_check(k.a, &one, 1, -1, &f), 0);
  assert_string_equal(code(&f, 0, "", NULL), "chain-invalid");
  imsec_pki_cred_del(self);
  /* a server certificate without clientAuth offered as a client's */
  imsec_trust_cert g;
  memset(&g, 0, sizeof(g));
  g.chain = IMSEC_CHAIN_OK;
  assert_string_equal(code(&g, 0, "", NULL), "not-client-auth");
  assert_string_equal(imsec_trust_ue_reason_code((imsec_trust_ue_reason)99),
                      "refused");
  pki_free(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(client_certificate),
      cmocka_unit_test(server_certificate),
      cmocka_unit_test(refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
