/* store/cx_userdata.c: the Cx User-Data (TS 29.228 Annex E) that SAA
 * carries: what the server builds, the client reads back. */
#include <stdlib.h>
#include <string.h>

#include "store/cx_int.h"
#include "test_util.h"

static int parse(const char *xml, imsec_hss_sub *s) {
  memset(s, 0, sizeof(*s));
  return imsec_cx_user_data_parse((const uint8_t *)xml, strlen(xml), s);
}

static void round_trip(void **state) {
  (void)state;
  imsec_hss_sub a, b;
  memset(&a, 0, sizeof a);
  strcpy(a.impi, "alice@ims.test");
  strcpy(a.impus[0], "sip:alice@ims.test");
  strcpy(a.impus[1], "tel:+15550001");
  strcpy(a.impus[2], "sip:a&b<c>@ims.test"); /* escaped on the way */
  a.n_impus = 3;
  char *xml = NULL;
  size_t n = 0;
  assert_int_equal(imsec_cx_user_data_build(&a, &xml, &n), 0);
  assert_int_equal(strlen(xml), n);
  assert_non_null(strstr(xml, "<IMSSubscription>"));
  assert_non_null(strstr(xml, "sip:a&amp;b&lt;c&gt;@ims.test"));
  memset(&b, 0, sizeof b);
  assert_int_equal(imsec_cx_user_data_parse((uint8_t *)xml, n, &b), 0);
  free(xml);
  assert_string_equal(b.impi, a.impi);
  assert_int_equal(b.n_impus, 3);
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(b.impus[i], a.impus[i]);
}

/* What another HSS sends: namespaces on the root, white space,
 * character references, several service profiles, other elements. */
static void foreign(void **state) {
  (void)state;
  imsec_hss_sub s;
  const char *xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<IMSSubscription xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-"
      "instance\">\n  <PrivateID>bob@ims.test</PrivateID>\n"
      "  <ServiceProfile><PublicIdentity><BarringIndication>0"
      "</BarringIndication><Identity>sip:bob@ims.test</Identity>"
      "<Extension><IdentityType>0</IdentityType></Extension>"
      "</PublicIdentity><InitialFilterCriteria><Priority>0</Priority>"
      "</InitialFilterCriteria></ServiceProfile>\n"
      "  <ServiceProfile><PublicIdentity><Identity>tel:&#x2B;1555&#48;"
      "</Identity></PublicIdentity></ServiceProfile>\n"
      "</IMSSubscription>\n";
  assert_int_equal(parse(xml, &s), 0);
  assert_string_equal(s.impi, "bob@ims.test");
  assert_int_equal(s.n_impus, 2);
  assert_string_equal(s.impus[0], "sip:bob@ims.test");
  assert_string_equal(s.impus[1], "tel:+15550");
}

static void refused(void **state) {
  (void)state;
  imsec_hss_sub s;
  assert_int_equal(parse("", &s), IMSEC_ERR_PARSE);
  assert_int_equal(parse("<Other></Other>", &s), IMSEC_ERR_PARSE);
  assert_int_equal(parse("<IMSSubscriptionX></IMSSubscriptionX>", &s),
                   IMSEC_ERR_PARSE);
  /* Unterminated root, element, unknown entity, a comment. */
  assert_int_equal(parse("<IMSSubscription><PrivateID>a", &s), IMSEC_ERR_PARSE);
  assert_int_equal(
      parse("<IMSSubscription><PublicIdentity><Identity>a&foo;b</Identity>"
            "</PublicIdentity></IMSSubscription>",
            &s),
      IMSEC_ERR_PARSE);
  assert_int_equal(parse("<IMSSubscription><!-- x --></IMSSubscription>", &s),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      parse("<IMSSubscription><PublicIdentity><Identity></Identity>"
            "</PublicIdentity></IMSSubscription>",
            &s),
      IMSEC_ERR_PARSE);
  /* Too many identities, one too long. */
  char *big = malloc(64 * 40 + 64);
  strcpy(big, "<IMSSubscription><ServiceProfile>");
  for (int i = 0; i < IMSEC_HSS_MAX_IMPUS + 1; i++)
    sprintf(big + strlen(big),
            "<PublicIdentity><Identity>sip:u%d@x</Identity>"
            "</PublicIdentity>",
            i);
  strcat(big, "</ServiceProfile></IMSSubscription>");
  assert_int_equal(parse(big, &s), IMSEC_ERR_LIMIT);
  free(big);
  char *longid = malloc(IMSEC_HSS_ID_MAX + 200);
  strcpy(longid, "<IMSSubscription><PublicIdentity><Identity>sip:");
  size_t k = strlen(longid);
  memset(longid + k, 'a', IMSEC_HSS_ID_MAX);
  strcpy(longid + k + IMSEC_HSS_ID_MAX,
         "</Identity></PublicIdentity></IMSSubscription>");
  assert_int_equal(parse(longid, &s), IMSEC_ERR_LIMIT);
  free(longid);
  /* A NUL inside. */
  static const uint8_t nul[] = "<IMSSubscription>\0</IMSSubscription>";
  memset(&s, 0, sizeof s);
  assert_int_equal(imsec_cx_user_data_parse(nul, sizeof nul - 1, &s),
                   IMSEC_ERR_PARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(foreign),
      cmocka_unit_test(refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
