/* lib/trust/peer.c: the S-CSCF's decision on a core-side peer, every
 * reason code with hand-made facts, then the clientAuth fact that
 * crypto/x509.c makes of real certificates (crypto/pki.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imsec/pki.h"
#include "imsec/trust.h"
#include "imsec/x509.h"
#include "test_util.h"

#define TD "3gppnetwork.org"
#define HOME_NODE "pcscf.ims.mnc001.mcc001.3gppnetwork.org"
#define VISITED_NODE "pcscf.ims.mnc002.mcc001.3gppnetwork.org"

static imsec_trust_cert good_cert(const char *name) {
  imsec_trust_cert c;
  memset(&c, 0, sizeof(c));
  c.chain = IMSEC_CHAIN_OK;
  c.has_san = 1;
  c.n_dns = 1;
  snprintf(c.dns[0], sizeof(c.dns[0]), "%s", name);
  c.n_sip = 1;
  snprintf(c.sip[0], sizeof(c.sip[0]), "%s", name);
  c.issuer = IMSEC_ISSUER_HOME;
  c.client_auth = 1;
  return c;
}

static imsec_trust_peer_input tls_in(const imsec_trust_cert *c) {
  imsec_trust_peer_input in;
  memset(&in, 0, sizeof(in));
  in.secure = 1;
  in.cert = c;
  in.inbound = 1;
  in.peer_ip = imsec_str_c("192.0.2.7");
  in.trust_domain = imsec_str_c(TD);
  return in;
}

static imsec_trust_peer_result decide(const imsec_trust_peer_input *in) {
  imsec_trust_peer_result r;
  assert_int_equal(imsec_trust_peer_decide(in, &r), 0);
  return r;
}

static void refused_with(const imsec_trust_peer_input *in, const char *code) {
  imsec_trust_peer_result r = decide(in);
  assert_int_equal(r.verdict, IMSEC_TRUST_PEER_REFUSED);
  assert_string_equal(imsec_trust_peer_reason_code(r.reason), code);
  assert_true(strlen(r.why) > 10);
}

static void home_partner_listed(void **state) {
  (void)state;
  imsec_trust_cert c = good_cert(HOME_NODE);
  imsec_trust_peer_input in = tls_in(&c);
  imsec_trust_peer_result r = decide(&in);
  assert_int_equal(r.verdict, IMSEC_TRUST_PEER_HOME);
  assert_string_equal(r.name, HOME_NODE);
  assert_string_equal(imsec_trust_peer_verdict_name(r.verdict), "home");

  imsec_trust_cert v = good_cert(VISITED_NODE);
  v.issuer = IMSEC_ISSUER_PARTNER;
  snprintf(v.partner, sizeof(v.partner), "ims.mnc002.mcc001." TD);
  in = tls_in(&v);
  r = decide(&in);
  assert_int_equal(r.verdict, IMSEC_TRUST_PEER_PARTNER);
  assert_string_equal(r.partner, "ims.mnc002.mcc001." TD);

  /* A listed name needs neither the trust domain nor an operator CA,
   * but still a valid chain. */
  imsec_trust_cert x = good_cert("icscf.interconnect.example.net");
  x.issuer = IMSEC_ISSUER_NONE;
  imsec_str names[] = {imsec_str_c("ICSCF.interconnect.example.net.")};
  in = tls_in(&x);
  refused_with(&in, "name-outside-trust-domain");
  in.names = names;
  in.n_names = 1;
  r = decide(&in);
  assert_int_equal(r.verdict, IMSEC_TRUST_PEER_LISTED);
  x.chain = IMSEC_CHAIN_INVALID;
  refused_with(&in, "chain-invalid");
}

static void chain_reasons(void **state) {
  (void)state;
  imsec_trust_peer_input in = tls_in(NULL);
  refused_with(&in, "no-certificate");
  imsec_trust_cert c = good_cert(HOME_NODE);
  in = tls_in(&c);
  c.chain = IMSEC_CHAIN_EXPIRED;
  snprintf(c.chain_detail, sizeof(c.chain_detail), "certificate has expired");
  refused_with(&in, "expired");
  imsec_trust_peer_result r = decide(&in);
  /* The refusal still says who it was. */
  assert_string_equal(r.name, HOME_NODE);
  assert_non_null(strstr(r.why, "certificate has expired"));
  c.chain = IMSEC_CHAIN_NOT_YET_VALID;
  refused_with(&in, "expired");
  c.chain = IMSEC_CHAIN_INVALID;
  refused_with(&in, "chain-invalid");
  c.chain = IMSEC_CHAIN_NOT_SERVER_AUTH;
  refused_with(&in, "not-server-auth");
  c.chain = IMSEC_CHAIN_OK;
  c.client_auth = 0;
  refused_with(&in, "not-client-auth");
  /* An outgoing flow: the peer is the TLS server, clientAuth not needed. */
  in.inbound = 0;
  assert_int_equal(decide(&in).verdict, IMSEC_TRUST_PEER_HOME);
}

static void name_reasons(void **state) {
  (void)state;
  imsec_trust_cert c = good_cert("*.ims.mnc001.mcc001." TD);
  imsec_trust_peer_input in = tls_in(&c);
  refused_with(&in, "no-name");
  c = good_cert(HOME_NODE);
  c.issuer = IMSEC_ISSUER_NONE;
  refused_with(&in, "not-a-roaming-partner");
  c = good_cert("pcscf.evil.example.com");
  refused_with(&in, "name-outside-trust-domain");
  /* One name outside is enough to refuse. */
  c = good_cert(HOME_NODE);
  c.n_sip = 2;
  snprintf(c.sip[1], sizeof(c.sip[1]), "pcscf.evil.example.com");
  refused_with(&in, "name-outside-trust-domain");
  /* A suffix that is not a whole label is outside. */
  c = good_cert("pcscf.not3gppnetwork.org");
  refused_with(&in, "name-outside-trust-domain");
  /* No trust domain at all: nothing lies inside it. */
  c = good_cert(HOME_NODE);
  in.trust_domain = IMSEC_STR_NULL;
  refused_with(&in, "name-outside-trust-domain");
  /* The CN counts only without a SAN (RFC 5922 §7.1). */
  in = tls_in(&c);
  memset(&c, 0, sizeof(c));
  c.chain = IMSEC_CHAIN_OK;
  c.client_auth = 1;
  c.issuer = IMSEC_ISSUER_HOME;
  snprintf(c.cn, sizeof(c.cn), HOME_NODE);
  assert_int_equal(decide(&in).verdict, IMSEC_TRUST_PEER_HOME);
  c.has_san = 1;
  refused_with(&in, "no-name");
}

static void expected_name(void **state) {
  (void)state;
  imsec_trust_cert c = good_cert(HOME_NODE);
  imsec_trust_peer_input in = tls_in(&c);
  in.inbound = 0;
  in.expect_name = imsec_str_c("PCSCF.ims.mnc001.mcc001.3gppnetwork.org.");
  assert_int_equal(decide(&in).verdict, IMSEC_TRUST_PEER_HOME);
  /* Another element of the same operator is not the one that registered
   * the binding. */
  c = good_cert("pcscf2.ims.mnc001.mcc001." TD);
  refused_with(&in, "name-mismatch");
}

static void plain_tcp(void **state) {
  (void)state;
  imsec_trust_peer_input in;
  memset(&in, 0, sizeof(in));
  in.peer_ip = imsec_str_c("127.0.0.1");
  in.trust_domain = imsec_str_c(TD);
  refused_with(&in, "plain-tcp");
  imsec_str addrs[] = {imsec_str_c("10.0.0.2"), imsec_str_c("127.0.0.1")};
  in.insecure_core = 1;
  refused_with(&in, "address-not-listed");
  in.addrs = addrs;
  in.n_addrs = 2;
  imsec_trust_peer_result r = decide(&in);
  assert_int_equal(r.verdict, IMSEC_TRUST_PEER_ADDRESS);
  assert_string_equal(r.name, "127.0.0.1");
  in.peer_ip = imsec_str_c("127.0.0.2");
  refused_with(&in, "address-not-listed");
  /* A TLS peer is never let in by its address. */
  in.secure = 1;
  in.peer_ip = imsec_str_c("127.0.0.1");
  refused_with(&in, "no-certificate");
}

static void codes_and_args(void **state) {
  (void)state;
  imsec_trust_peer_result r;
  assert_int_equal(imsec_trust_peer_decide(NULL, &r), IMSEC_ERR_INVAL);
  imsec_trust_peer_input in;
  memset(&in, 0, sizeof(in));
  assert_int_equal(imsec_trust_peer_decide(&in, NULL), IMSEC_ERR_INVAL);
  assert_string_equal(imsec_trust_peer_reason_code(IMSEC_TRUST_PEER_OK), "ok");
  assert_string_equal(
      imsec_trust_peer_reason_code((imsec_trust_peer_reason)999), "unknown");
  assert_string_equal(
      imsec_trust_peer_verdict_name((imsec_trust_peer_verdict)999), "refused");
}

/* crypto/x509.c: the clientAuth fact of real certificates. */
static void client_auth_fact(void **state) {
  (void)state;
  int64_t now = (int64_t)time(NULL);
  const char *perm[] = {"ims.mnc001.mcc001." TD};
  imsec_pki_spec root_s = {.cn = "root",
                           .ca = 1,
                           .path_len = 1,
                           .not_before = now - 3600,
                           .not_after = now + 86400};
  imsec_pki_spec op_s = {.cn = "ims.mnc001.mcc001." TD,
                         .ca = 1,
                         .path_len = 0,
                         .permitted = perm,
                         .n_permitted = 1,
                         .not_before = now - 3600,
                         .not_after = now + 86400};
  const char *dns[] = {HOME_NODE};
  imsec_pki_spec node_s = {.cn = HOME_NODE,
                           .dns = dns,
                           .n_dns = 1,
                           .server_auth = 1,
                           .client_auth = 1,
                           .not_before = now - 3600,
                           .not_after = now + 86400};
  imsec_pki_cred *root = NULL, *op = NULL, *node = NULL, *srv = NULL;
  assert_int_equal(imsec_pki_issue(&root_s, NULL, &root), 0);
  assert_int_equal(imsec_pki_issue(&op_s, root, &op), 0);
  assert_int_equal(imsec_pki_issue(&node_s, op, &node), 0);
  node_s.client_auth = 0;
  assert_int_equal(imsec_pki_issue(&node_s, op, &srv), 0);
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  imsec_bytes r = imsec_pki_cred_der(root), o = imsec_pki_cred_der(op);
  assert_int_equal(imsec_x509_anchors_add_root(a, r.p, r.len), 0);
  assert_int_equal(imsec_x509_anchors_set_home_ca(a, o.p, o.len), 0);
  imsec_bytes chain[2] = {imsec_pki_cred_der(node), o};
  imsec_trust_cert facts;
  assert_int_equal(imsec_x509_check(a, chain, 2, -1, &facts), 0);
  assert_int_equal(facts.chain, IMSEC_CHAIN_OK);
  assert_int_equal(facts.client_auth, 1);
  imsec_trust_peer_input in = tls_in(&facts);
  assert_int_equal(decide(&in).verdict, IMSEC_TRUST_PEER_HOME);
  chain[0] = imsec_pki_cred_der(srv);
  assert_int_equal(imsec_x509_check(a, chain, 2, -1, &facts), 0);
  assert_int_equal(facts.chain, IMSEC_CHAIN_OK);
  assert_int_equal(facts.client_auth, 0);
  refused_with(&in, "not-client-auth");
  imsec_x509_anchors_del(a);
  imsec_pki_cred_del(srv);
  imsec_pki_cred_del(node);
  imsec_pki_cred_del(op);
  imsec_pki_cred_del(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(home_partner_listed), cmocka_unit_test(chain_reasons),
      cmocka_unit_test(name_reasons),        cmocka_unit_test(expected_name),
      cmocka_unit_test(plain_tcp),           cmocka_unit_test(codes_and_args),
      cmocka_unit_test(client_auth_fact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
