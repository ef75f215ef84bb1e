/* lib/secagree: RFC 3329 lists, the choice of mechanism, the P-CSCF's
 * answer and the downgrade check, as the UE and the P-CSCF use them. */
#include <stdio.h>
#include <string.h>

#include "imsec/secagree.h"
#include "test_util.h"

#define S(lit) IMSEC_STR_LIT(lit)

static void parse_lists(void **state) {
  (void)state;
  imsec_secagree_list l;
  assert_int_equal(imsec_secagree_parse(S(""), &l), 0);
  assert_int_equal(l.n, 0);
  assert_int_equal(imsec_secagree_parse(S("  "), &l), 0);
  assert_int_equal(l.n, 0);

  /* TS 33.203 Annex H style offer: ipsec-3gpp with its parameters, tls,
   * digest; q in thousandths, -1 when absent. */
  assert_int_equal(
      imsec_secagree_parse(S("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;"
                             "spi-s=2222;port-c=5062;port-s=5064;q=0.5, "
                             "tls;q=0.2 ,digest"),
                           &l),
      0);
  assert_int_equal(l.n, 3);
  assert_true(imsec_str_eq(l.mech[0].mechanism, S("ipsec-3gpp")));
  assert_int_equal(l.mech[0].q, 500);
  assert_int_equal(l.mech[1].q, 200);
  assert_int_equal(l.mech[2].q, -1);
  imsec_sip_param p;
  assert_true(imsec_sip_param_find(l.mech[0].params, "spi-c", &p));
  assert_true(imsec_str_eq(p.value, S("1111")));
  assert_int_equal(imsec_secagree_find(&l, "TLS"), 1);
  assert_int_equal(imsec_secagree_find(&l, "digest"), 2);
  assert_int_equal(imsec_secagree_find(&l, "ipsec-ike"), -1);
}

static void malformed_lists(void **state) {
  (void)state;
  imsec_secagree_list l;
  static const char *const bad[] = {
      "tls,",          /* a trailing comma */
      ",tls",          /* an empty element */
      "tls,,digest",   /* an empty element */
      "tls;q=2",       /* q above 1 */
      "tls;q=0.1234",  /* four decimals */
      "tls;q",         /* q without a value */
      "tls;q=\"0.1\"", /* q quoted */
      "t ls",          /* not a token */
      "tls;",          /* an empty parameter */
      "tls;a=\"open",  /* an unbalanced quote */
      "@",             /* not a mechanism */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rv = imsec_secagree_parse(imsec_str_c(bad[i]), &l);
    if (rv >= 0)
      fail_msg("accepted \"%s\"", bad[i]);
  }
  /* More mechanisms than a list holds. */
  char big[1024] = "";
  for (int i = 0; i <= IMSEC_SECAGREE_MAX_MECHS; i++)
    strcat(big, i ? ", tls" : "tls");
  assert_int_equal(imsec_secagree_parse(imsec_str_c(big), &l), IMSEC_ERR_LIMIT);
  /* Too many parameters on one mechanism. */
  char many[1024] = "tls";
  for (int i = 0; i <= IMSEC_SECAGREE_MAX_PARAMS; i++)
    strcat(many, ";a=1");
  assert_true(imsec_secagree_parse(imsec_str_c(many), &l) < 0);
}

static void select_by_q(void **state) {
  (void)state;
  imsec_secagree_list theirs, ours;
  /* The highest q among the mechanisms both support. */
  assert_int_equal(imsec_secagree_parse(S("digest;q=0.9, tls;q=0.1, "
                                          "ipsec-3gpp;q=0.5"),
                                        &theirs),
                   0);
  assert_int_equal(imsec_secagree_parse(S("tls, ipsec-3gpp"), &ours), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), 2);
  assert_int_equal(imsec_secagree_parse(S("tls"), &ours), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), 1);
  /* Nothing in common, or nothing offered. */
  assert_int_equal(imsec_secagree_parse(S("ipsec-ike"), &ours), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), IMSEC_ERR_NOTFOUND);
  assert_int_equal(imsec_secagree_parse(S(""), &theirs), 0);
  assert_int_equal(imsec_secagree_parse(S("tls"), &ours), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), IMSEC_ERR_NOTFOUND);
  /* Without q a mechanism ranks below any q; first listed wins a tie. */
  assert_int_equal(imsec_secagree_parse(S("TLS, digest;q=0"), &theirs), 0);
  assert_int_equal(imsec_secagree_parse(S("digest, tls"), &ours), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), 1);
  assert_int_equal(imsec_secagree_parse(S("tls;q=0.3, tls;q=0.3"), &theirs), 0);
  assert_int_equal(imsec_secagree_select(&theirs, &ours), 0);
}

static void server_answer(void **state) {
  (void)state;
  imsec_secagree_list offer;
  imsec_str server = S("unset");
  /* An offer of several mechanisms that holds tls gets the server's list. */
  assert_int_equal(imsec_secagree_parse(S("ipsec-3gpp;alg=hmac-md5-96;"
                                          "spi-c=1;spi-s=2;port-c=3;port-s=4, "
                                          "tls;q=0.2, digest"),
                                        &offer),
                   0);
  assert_int_equal(imsec_secagree_answer(&offer, &server), 0);
  assert_true(imsec_str_eq(server, S(IMSEC_SECAGREE_SERVER)));
  assert_int_equal(imsec_secagree_parse(S(IMSEC_SECAGREE_CLIENT), &offer), 0);
  assert_int_equal(imsec_secagree_answer(&offer, &server), 0);
  /* No tls: no common mechanism (494). */
  server = S("unset");
  assert_int_equal(imsec_secagree_parse(S("ipsec-3gpp, digest"), &offer), 0);
  assert_int_equal(imsec_secagree_answer(&offer, &server), IMSEC_ERR_NOTFOUND);
  assert_true(imsec_str_eq(server, S("unset")));
  assert_int_equal(imsec_secagree_parse(S(""), &offer), 0);
  assert_int_equal(imsec_secagree_answer(&offer, &server), IMSEC_ERR_NOTFOUND);
}

static int eq(const char *a, const char *b) {
  imsec_secagree_list la, lb;
  assert_int_equal(imsec_secagree_parse(imsec_str_c(a), &la), 0);
  assert_int_equal(imsec_secagree_parse(imsec_str_c(b), &lb), 0);
  int ab = imsec_secagree_equal(&la, &lb);
  /* RFC 3329 §2.4 compares lists: the answer does not depend on which
   * side holds which. */
  assert_int_equal(ab, imsec_secagree_equal(&lb, &la));
  return ab;
}

static void list_equality(void **state) {
  (void)state;
  assert_true(eq("tls;q=0.1", "tls;q=0.1"));
  assert_true(eq("tls;q=0.1", "TLS ; q=0.100"));
  assert_true(
      eq("ipsec-3gpp;spi-c=1;spi-s=2, tls", "ipsec-3gpp;spi-s=2;spi-c=1,tls"));
  assert_false(eq("tls;q=0.1", "tls"));
  assert_false(eq("tls;q=0.1", "tls;q=0.2"));
  assert_false(eq("tls;q=0.1", "tls;q=0.1;x=1"));
  assert_false(eq("tls;q=0.1", "digest;q=0.1"));
  assert_false(eq("tls;q=0.1", "tls;q=0.1, digest"));
  assert_false(eq("tls, digest", "digest, tls"));
  assert_false(eq("ipsec-3gpp;spi-c=1", "ipsec-3gpp;spi-c=2"));
  assert_false(eq("a;x=1;y=2", "a;x=1;x=1"));
  assert_false(eq("", "tls"));
  assert_true(eq("", ""));
}

/* A REGISTER with the given Security-* lines (may be ""), parsed. */
static void parse_register(imsec_sip_msg *m, char *buf, size_t cap,
                           const char *sec) {
  snprintf(buf, cap,
           "REGISTER sip:ims.example.org SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK1\r\n"
           "From: <sip:u@ims.example.org>;tag=1\r\n"
           "To: <sip:u@ims.example.org>\r\n"
           "Call-ID: c1\r\nCSeq: 2 REGISTER\r\nMax-Forwards: 70\r\n"
           "%sContent-Length: 0\r\n\r\n",
           sec);
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  imsec_sip_msg_init(m, &lim);
  assert_int_equal(imsec_sip_parse(m, buf, strlen(buf), 1), 0);
}

static int verify(const char *sec, const char *sent) {
  char buf[1024];
  imsec_sip_msg m;
  parse_register(&m, buf, sizeof(buf), sec);
  int rv = imsec_secagree_verify_msg(&m, imsec_str_c(sent));
  imsec_sip_msg_free(&m);
  return rv;
}

/* The downgrade check both ways: the P-CSCF's echo check passes exactly
 * the list it sent, and the echo the UE builds from a Security-Server it
 * received passes it. */
static void verify_check(void **state) {
  (void)state;
  const char *sent = IMSEC_SECAGREE_SERVER;
  assert_int_equal(verify("Security-Verify: tls;q=0.1\r\n", sent), 0);
  assert_int_equal(verify("Security-Verify: tls ;q=0.10\r\n", sent), 0);
  assert_int_equal(verify("", sent), IMSEC_ERR_NOTFOUND);
  assert_int_equal(verify("Security-Client: tls\r\n", sent),
                   IMSEC_ERR_NOTFOUND);
  /* A man in the middle that stripped or changed the list. */
  assert_int_equal(verify("Security-Verify: tls\r\n", sent), IMSEC_ERR_AUTH);
  assert_int_equal(verify("Security-Verify: tls;q=0.5\r\n", sent),
                   IMSEC_ERR_AUTH);
  assert_int_equal(verify("Security-Verify: digest;q=0.1\r\n", sent),
                   IMSEC_ERR_AUTH);
  assert_int_equal(verify("Security-Verify: tls;q=0.1\r\n"
                          "Security-Verify: digest\r\n",
                          sent),
                   IMSEC_ERR_AUTH);
  assert_int_equal(verify("Security-Verify: tls;q=0.1;x=y\r\n", sent),
                   IMSEC_ERR_AUTH);
  assert_true(verify("Security-Verify: tls;q=9\r\n", sent) < 0);
  assert_int_equal(verify("Security-Verify: tls;q=0.1,\r\n", sent),
                   IMSEC_ERR_PARSE);
  /* Two fields hold one list (RFC 3261 §7.3.1). */
  assert_int_equal(verify("Security-Verify: ipsec-3gpp;spi-c=1\r\n"
                          "Security-Verify: tls;q=0.1\r\n",
                          "ipsec-3gpp;spi-c=1, tls;q=0.1"),
                   0);

  /* The UE side: the Security-Server of a 401 read from the message, the
   * mechanism chosen, the echo built; the server's check accepts it. */
  char buf[1024];
  imsec_sip_msg m;
  parse_register(&m, buf, sizeof(buf),
                 "Security-Server: ipsec-3gpp;q=0.9;alg=hmac-sha-1-96\r\n"
                 "Security-Server: tls;q=0.1\r\n");
  imsec_secagree_list server, mine;
  assert_int_equal(
      imsec_secagree_parse_msg(&m, IMSEC_SIP_H_SECURITY_SERVER, &server), 0);
  assert_int_equal(server.n, 2);
  assert_int_equal(imsec_secagree_parse(S(IMSEC_SECAGREE_CLIENT), &mine), 0);
  assert_int_equal(imsec_secagree_select(&server, &mine), 1);
  char echo[256];
  int n = imsec_secagree_build(&server, echo, sizeof(echo));
  assert_true(n > 0);
  assert_string_equal(echo, "ipsec-3gpp;q=0.9;alg=hmac-sha-1-96, tls;q=0.1");
  assert_int_equal(imsec_secagree_build(&server, echo, 10), IMSEC_ERR_NOBUF);
  assert_int_equal(imsec_secagree_build(&server, echo, 0), IMSEC_ERR_NOBUF);
  assert_int_equal(imsec_secagree_parse_msg(&m, IMSEC_SIP_H_VIA, &server),
                   IMSEC_ERR_INVAL);
  imsec_sip_msg_free(&m);

  char line[300];
  snprintf(line, sizeof(line), "Security-Verify: %s\r\n", echo);
  assert_int_equal(
      verify(line, "ipsec-3gpp;q=0.9;alg=hmac-sha-1-96, tls;q=0.1"), 0);
  assert_int_equal(verify(line, IMSEC_SECAGREE_SERVER), IMSEC_ERR_AUTH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_lists),   cmocka_unit_test(malformed_lists),
      cmocka_unit_test(select_by_q),   cmocka_unit_test(server_answer),
      cmocka_unit_test(list_equality), cmocka_unit_test(verify_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
