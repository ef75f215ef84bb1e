/* lib/ident: TS 23.003 clause 13 and the clause 8.1 naming rule. */
#include <string.h>

#include "imsec/ident.h"
#include "test_util.h"

#define S(x) imsec_str_c(x)

/* TS 23.003 §13.3 and §13.4B examples. */
static void derive_imsi(void **state) {
  (void)state;
  imsec_ident_derived d;
  assert_int_equal(imsec_ident_from_imsi(S("234150999999999"), 2, &d), 0);
  assert_string_equal(d.home_domain, "ims.mnc015.mcc234.3gppnetwork.org");
  assert_string_equal(d.impi,
                      "234150999999999@ims.mnc015.mcc234.3gppnetwork.org");
  assert_string_equal(d.impu,
                      "sip:234150999999999@ims.mnc015.mcc234.3gppnetwork.org");
  assert_string_equal(d.mcc, "234");
  assert_string_equal(d.mnc, "015");
  /* The same IMSI read with a three-digit MNC. */
  assert_int_equal(imsec_ident_from_imsi(S("234150999999999"), 3, &d), 0);
  assert_string_equal(d.home_domain, "ims.mnc150.mcc234.3gppnetwork.org");
  /* DESIGN.md §6. */
  assert_int_equal(imsec_ident_from_imsi(S("001010000000001"), 2, &d), 0);
  assert_string_equal(d.impi,
                      "001010000000001@ims.mnc001.mcc001.3gppnetwork.org");
  /* Bad input. */
  assert_int_equal(imsec_ident_from_imsi(S("23415099999999a"), 2, &d),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_ident_from_imsi(S("2341509999999991"), 2, &d),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_ident_from_imsi(S("23415"), 2, &d), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_ident_from_imsi(S("234150"), 3, &d), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_ident_from_imsi(S("234150999999999"), 4, &d),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_ident_from_imsi(S(""), 2, &d), IMSEC_ERR_PARSE);

  char buf[80];
  assert_int_equal(imsec_ident_operator_domain(S("001"), S("02"),
                                               S("3gppnetwork.org"), buf,
                                               sizeof(buf)),
                   33);
  assert_string_equal(buf, "ims.mnc002.mcc001.3gppnetwork.org");
  assert_int_equal(imsec_ident_operator_domain(S("001"), S("02"),
                                               S("3gppnetwork.org"), buf, 10),
                   IMSEC_ERR_NOBUF);
  assert_int_equal(imsec_ident_operator_domain(S("01"), S("02"),
                                               S("3gppnetwork.org"), buf, 80),
                   IMSEC_ERR_PARSE);
}

static void containment(void **state) {
  (void)state;
  imsec_str td = S("3gppnetwork.org");
  assert_true(
      imsec_dns_name_within(S("ims.mnc001.mcc001.3gppnetwork.org"), td));
  assert_true(imsec_dns_name_within(S("3gppnetwork.org"), td));
  assert_true(
      imsec_dns_name_within(S("IMS.MNC001.MCC001.3GPPNetwork.ORG."), td));
  assert_true(
      imsec_dns_name_within(S("a.3gppnetwork.org"), S("3gppnetwork.org.")));
  /* Whole labels only. */
  assert_false(
      imsec_dns_name_within(S("ims.mnc001.mcc001.evil3gppnetwork.org"), td));
  assert_false(imsec_dns_name_within(S("3gppnetwork.org.evil.com"), td));
  assert_false(imsec_dns_name_within(S("network.org"), td));
  assert_false(imsec_dns_name_within(S("x.3gppnetwork.org"), S("")));
  assert_true(imsec_dns_name_eq(S("A.b.C."), S("a.B.c")));
  assert_false(imsec_dns_name_eq(S("a.b"), S("a.bc")));
}

static void dns_names(void **state) {
  (void)state;
  assert_true(
      imsec_dns_name_valid(S("pcscf.ims.mnc001.mcc001.3gppnetwork.org")));
  assert_true(imsec_dns_name_valid(S("a-b.c.")));
  assert_true(imsec_dns_name_valid(S("localhost")));
  assert_false(imsec_dns_name_valid(S("")));
  assert_false(imsec_dns_name_valid(S(".")));
  assert_false(imsec_dns_name_valid(S("a..b")));
  assert_false(imsec_dns_name_valid(S("-a.b")));
  assert_false(imsec_dns_name_valid(S("a-.b")));
  assert_false(imsec_dns_name_valid(S("a_b.c")));
  assert_false(imsec_dns_name_valid(S("10.0.0.1")));
  assert_false(imsec_dns_name_valid(S("*.example.com")));
  char label[70];
  memset(label, 'a', 64);
  label[64] = '\0';
  assert_false(imsec_dns_name_valid(S(label)));
  label[63] = '\0';
  assert_true(imsec_dns_name_valid(S(label)));
}

static void impi(void **state) {
  (void)state;
  imsec_impi i;
  assert_int_equal(
      imsec_impi_parse(S("234150999999999@ims.mnc015.mcc234.3gppnetwork.org"),
                       &i),
      0);
  assert_int_equal(i.user.len, 15);
  assert_true(imsec_str_eq(i.realm, S("ims.mnc015.mcc234.3gppnetwork.org")));
  assert_int_equal(imsec_impi_parse(S("alice.smith@ims.example.com"), &i), 0);
  const char *bad[] = {"",
                       "@ims.example.com",
                       "alice@",
                       "alice",
                       "alice@ims..example.com",
                       "al ice@ims.example.com",
                       ".alice@ims.example.com",
                       "alice.@ims.example.com",
                       "a..b@ims.example.com",
                       "alice@ims.example.com.",
                       "alice@10.0.0.1",
                       "alice@ims_example.com"};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
    assert_int_equal(imsec_impi_parse(S(bad[k]), &i), IMSEC_ERR_PARSE);
}

static void impu(void **state) {
  (void)state;
  imsec_impu u;
  imsec_str d;
  assert_int_equal(imsec_impu_parse(S("sip:234150999999999@ims.mnc015.mcc234."
                                      "3gppnetwork.org"),
                                    &u),
                   0);
  assert_int_equal(u.scheme, IMSEC_IMPU_SIP);
  assert_true(imsec_impu_domain(&u, &d));
  assert_true(imsec_str_eq(d, S("ims.mnc015.mcc234.3gppnetwork.org")));
  assert_int_equal(imsec_impu_parse(S("SIPS:alice@example.com:5061;"
                                      "transport=tcp?subject=x"),
                                    &u),
                   0);
  assert_int_equal(u.scheme, IMSEC_IMPU_SIPS);
  assert_true(imsec_str_eq(u.host, S("example.com")));
  assert_int_equal(imsec_impu_parse(S("sip:example.com"), &u), 0);
  assert_int_equal(u.user.len, 0);
  assert_int_equal(imsec_impu_parse(S("sip:alice@192.0.2.1"), &u), 0);
  assert_false(imsec_impu_domain(&u, &d));
  assert_int_equal(imsec_impu_parse(S("sip:alice@[2001:db8::1]:5060"), &u), 0);
  assert_false(u.host_is_name);
  assert_int_equal(imsec_impu_parse(S("tel:+358-555-1234567"), &u), 0);
  assert_int_equal(u.scheme, IMSEC_IMPU_TEL);
  assert_false(imsec_impu_domain(&u, &d));
  assert_int_equal(
      imsec_impu_parse(S("tel:7042;phone-context=ims.mnc001.mcc001."
                         "3gppnetwork.org"),
                       &u),
      0);
  assert_true(imsec_impu_domain(&u, &d));
  assert_true(imsec_str_eq(d, S("ims.mnc001.mcc001.3gppnetwork.org")));
  assert_int_equal(imsec_impu_parse(S("tel:7042;phone-context=+1-555"), &u), 0);
  const char *bad[] = {"",
                       "sip:",
                       "sip:@example.com",
                       "sip:alice@",
                       "sip:alice@exa mple.com",
                       "sip:al ice@example.com",
                       "sip:alice@example.com:99999",
                       "sip:alice@example.com:",
                       "sip:alice@-bad.com",
                       "sip:al%zzice@example.com",
                       "sip:alice@example.com;a=%4",
                       "mailto:alice@example.com",
                       "tel:",
                       "tel:+",
                       "tel:7042",
                       "tel:+1x",
                       "tel:7042;phone-context=",
                       "tel:7042;phone-context=bad_domain",
                       "tel:+1;;"};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    if (imsec_impu_parse(S(bad[k]), &u) != IMSEC_ERR_PARSE)
      fail_msg("accepted '%s'", bad[k]);
  }
}

static void naming_clean(void **state) {
  (void)state;
  imsec_ident_derived d;
  assert_int_equal(imsec_ident_from_imsi(S("234150999999999"), 2, &d), 0);
  imsec_str impus[] = {S(d.impu), S("tel:+447700900123")};
  imsec_naming_input in = {S("3gppnetwork.org"), S(d.impi), impus, 2,
                           S(d.home_domain)};
  assert_int_equal(imsec_naming_check(&in, NULL, 0), 0);
  /* The seed's own example trust domain. */
  imsec_str impus2[] = {S("sip:alice@operator1.ims.com")};
  imsec_naming_input in2 = {S("ims.com"), S("alice@operator1.ims.com"), impus2,
                            1, S("operator1.ims.com")};
  assert_int_equal(imsec_naming_check(&in2, NULL, 0), 0);
}

static void naming_every_violation(void **state) {
  (void)state;
  imsec_str impus[] = {
      S("sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
      S("sip:alice@ims.mnc001.mcc001.evil3gppnetwork.org"), S("not a uri"),
      S("sip:bob@192.0.2.7"), S("tel:123;phone-context=example.com")};
  imsec_naming_input in = {S("3gppnetwork.org"),
                           S("001010000000001@ims.mnc001.mcc001."
                             "evil3gppnetwork.org"),
                           impus, 5, S("ims.example.com")};
  imsec_naming_violation v[10];
  assert_int_equal(imsec_naming_check(&in, v, 10), 6);
  assert_int_equal(v[0].field, IMSEC_NAMING_IMPI);
  assert_int_equal(v[0].problem, IMSEC_NAMING_OUTSIDE);
  assert_true(
      imsec_str_eq(v[0].domain, S("ims.mnc001.mcc001.evil3gppnetwork.org")));
  assert_int_equal(v[1].field, IMSEC_NAMING_IMPU);
  assert_int_equal(v[1].index, 1);
  assert_int_equal(v[1].problem, IMSEC_NAMING_OUTSIDE);
  assert_int_equal(v[2].index, 2);
  assert_int_equal(v[2].problem, IMSEC_NAMING_MALFORMED);
  assert_int_equal(v[3].index, 3);
  assert_int_equal(v[3].problem, IMSEC_NAMING_NO_DOMAIN);
  assert_int_equal(v[4].index, 4);
  assert_true(imsec_str_eq(v[4].domain, S("example.com")));
  assert_int_equal(v[5].field, IMSEC_NAMING_HOME_DOMAIN);
  assert_int_equal(v[5].problem, IMSEC_NAMING_OUTSIDE);

  char buf[300];
  size_t n = imsec_naming_describe(&v[0], in.trust_domain, buf, sizeof(buf));
  assert_int_equal(n, strlen(buf));
  assert_non_null(strstr(buf, "evil3gppnetwork.org"));
  assert_non_null(strstr(buf, "does not lie within"));
  /* Truncation is safe and still reports the wanted length. */
  char small[8];
  assert_int_equal(
      imsec_naming_describe(&v[0], in.trust_domain, small, sizeof(small)), n);
  assert_int_equal(strlen(small), 7);

  /* Only `cap` stored, the total still counted. */
  assert_int_equal(imsec_naming_check(&in, v, 2), 6);

  /* Missing pieces. */
  imsec_naming_input empty = {S("3gppnetwork.org"), S(""), NULL, 0, S("")};
  assert_int_equal(imsec_naming_check(&empty, v, 10), 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(v[i].problem, IMSEC_NAMING_MISSING);
    imsec_naming_describe(&v[i], empty.trust_domain, buf, sizeof(buf));
  }
  imsec_naming_input badtd = {S("not_a_domain"), S("a@b.c"), NULL, 0, S("")};
  assert_int_equal(imsec_naming_check(&badtd, v, 10), 1);
  assert_int_equal(v[0].field, IMSEC_NAMING_TRUST_DOMAIN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(derive_imsi),
      cmocka_unit_test(containment),
      cmocka_unit_test(dns_names),
      cmocka_unit_test(impi),
      cmocka_unit_test(impu),
      cmocka_unit_test(naming_clean),
      cmocka_unit_test(naming_every_violation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
