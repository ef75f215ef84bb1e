/* lib/sip/uri.c: sip, sips, tel URIs and RFC 3261 §19.1.4 comparison. */
#include <string.h>

#include "imsec/sip_uri.h"
#include "test_util.h"

static imsec_sip_uri P(const char *s) {
  imsec_sip_uri u;
  int rv = imsec_sip_uri_parse(imsec_str_c(s), 0, &u);
  if (rv != 0)
    fail_msg("parse '%s': %d", s, rv);
  return u;
}

static int bad(const char *s) {
  imsec_sip_uri u;
  return imsec_sip_uri_parse(imsec_str_c(s), 0, &u) < 0;
}

#define SEQ(a, lit) assert_true(imsec_str_eq((a), IMSEC_STR_LIT(lit)))

static void parts(void **state) {
  (void)state;
  imsec_sip_uri u = P("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr"
                      "?subject=hi&x=y");
  assert_int_equal(u.scheme, IMSEC_SIP_SCHEME_SIPS);
  SEQ(u.user, "alice");
  assert_true(u.has_password);
  SEQ(u.password, "secret");
  SEQ(u.host, "[2001:db8::1]");
  assert_int_equal(u.host_type, IMSEC_SIP_HOST_IPV6);
  assert_true(u.has_port);
  assert_int_equal(u.port, 5061);
  SEQ(u.transport, "tcp");
  assert_true(u.lr);
  SEQ(u.params, ";transport=tcp;lr");
  assert_true(u.has_headers);
  SEQ(u.headers, "subject=hi&x=y");

  u = P("sip:192.0.2.4");
  assert_int_equal(u.host_type, IMSEC_SIP_HOST_IPV4);
  assert_int_equal(u.user.len, 0);
  u = P("sip:+12125551212@gw.example.com;user=phone");
  SEQ(u.user, "+12125551212");
  SEQ(u.user_param, "phone");
  /* RFC 4475 §3.1.1.2 user part */
  u = P("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!"
        "*pas$wo~d_too.(doesn't-it)@example.com");
  SEQ(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  SEQ(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  u = P("sip:user;par=u%40example.net@example.com");
  SEQ(u.user, "user;par=u%40example.net");
  u = P("sip:example.com.");
  u = P("sip:[::1]");
  u = P("sip:[::ffff:192.0.2.1]:5060");
  assert_int_equal(u.port, 5060);

  u = P("tel:+1-201-555-0123");
  assert_int_equal(u.scheme, IMSEC_SIP_SCHEME_TEL);
  assert_true(u.tel_global);
  SEQ(u.user, "+1-201-555-0123");
  u = P("tel:7042;phone-context=example.com");
  assert_false(u.tel_global);
  u = P("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  assert_int_equal(u.scheme, IMSEC_SIP_SCHEME_OTHER);
  SEQ(u.opaque, "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");

  char dec[32];
  assert_int_equal(imsec_sip_unescape(IMSEC_STR_LIT("a%20b%00"), dec, 32), 4);
  assert_int_equal(memcmp(dec, "a b\0", 4), 0);
  assert_int_equal(imsec_sip_unescape(IMSEC_STR_LIT("%2"), dec, 32),
                   IMSEC_ERR_PARSE);
  assert_int_equal(imsec_sip_unescape(IMSEC_STR_LIT("abc"), dec, 2),
                   IMSEC_ERR_NOBUF);
}

static void malformed(void **state) {
  (void)state;
  assert_true(bad(""));
  assert_true(bad("sip:"));
  assert_true(bad("sip:@example.com"));
  assert_true(bad("sip:user@"));
  assert_true(bad("sip:user@exa mple.com"));
  assert_true(bad("sip:user@example.com:"));
  assert_true(bad("sip:user@example.com:65536"));
  assert_true(bad("sip:user@example.com;"));
  assert_true(bad("sip:user@example.com;=x"));
  assert_true(bad("sip:user@example.com?"));
  assert_true(bad("sip:us%zzer@example.com"));
  assert_true(bad("sip:user@[::1"));
  assert_true(bad("sip:user@[1::2::3]"));
  assert_true(bad("sip:user@[12345::]"));
  assert_true(bad("sip:user@-bad.example.com"));
  assert_true(bad("sip:user@example.123"));
  assert_true(bad("sip:user@256.1.1.1.1"));
  assert_true(bad("<sip:user@example.com>"));
  assert_true(bad("tel:"));
  assert_true(bad("tel:7042"));   /* local number without context */
  assert_true(bad("tel:+1-20a")); /* hex only in local numbers */
  assert_true(bad("1abc:foo"));
  assert_true(bad("abc:"));
  assert_true(bad("abc:sp ace"));
  imsec_sip_uri u;
  assert_int_equal(
      imsec_sip_uri_parse(IMSEC_STR_LIT("sip:a@b.c;p1;p2;p3"), 2, &u),
      IMSEC_ERR_LIMIT);
  assert_int_equal(imsec_sip_uri_parse(IMSEC_STR_LIT("sip:a@b.c;p1;p2"), 2, &u),
                   0);
}

static int eq(const char *a, const char *b) {
  imsec_sip_uri x = P(a), y = P(b);
  int r = imsec_sip_uri_eq(&x, &y);
  assert_int_equal(r, imsec_sip_uri_eq(&y, &x)); /* symmetric */
  return r;
}

/* The examples of RFC 3261 §19.1.4. */
static void rfc3261_compare(void **state) {
  (void)state;
  assert_true(eq("sip:%61lice@atlanta.com;transport=TCP",
                 "sip:alice@AtLanTa.CoM;Transport=tcp"));
  assert_true(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
  assert_true(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
  assert_true(eq("sip:carol@chicago.com;newparam=5",
                 "sip:carol@chicago.com;security=on"));
  assert_true(eq("sip:biloxi.com;transport=tcp;method=REGISTER"
                 "?to=sip:bob%40biloxi.com",
                 "sip:biloxi.com;method=REGISTER;transport=tcp"
                 "?to=sip:bob%40biloxi.com"));
  assert_true(eq("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                 "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));

  /* IPv6 references compare as addresses (RFC 5954 §4.1). */
  assert_true(eq("sip:a@[::1]", "sip:a@[0:0:0:0:0:0:0:1]"));
  assert_true(eq("sip:a@[2001:DB8::1]:5061", "sip:a@[2001:db8:0::0:1]:5061"));
  assert_true(eq("sip:a@[::ffff:192.0.2.1]", "sip:a@[::FFFF:C000:0201]"));
  assert_true(eq("sip:a@[1:2:3:4:5:6:7:8]", "sip:a@[1:2:3:4:5:6:7:8]"));
  assert_true(eq("sip:a@[1::]", "sip:a@[1:0::0]"));
  assert_false(eq("sip:a@[::1]", "sip:a@[::2]"));
  assert_false(eq("sip:a@[1::2]", "sip:a@[1:2::]"));
  assert_false(eq("sip:a@[::1]", "sip:a@127.0.0.1"));

  assert_false(eq("SIP:ALICE@AtLanTa.CoM;Transport=udp",
                  "sip:alice@AtLanTa.CoM;Transport=UDP"));
  assert_false(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
  assert_false(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
  assert_false(
      eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
  assert_false(eq("sip:carol@chicago.com",
                  "sip:carol@chicago.com?Subject=next%20meeting"));
  assert_false(eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
  assert_false(eq("sip:carol@chicago.com;security=on",
                  "sip:carol@chicago.com;security=off"));
  assert_false(eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
  assert_false(eq("sip:alice:pw@atlanta.com", "sip:alice@atlanta.com"));
  assert_false(eq("sip:carol@chicago.com?Subject=next%20meeting",
                  "sip:carol@chicago.com?Subject=NEXT%20MEETING"));
  assert_true(eq("sip:a@h;maddr=X.example", "sip:a@h;MADDR=x.example"));
  assert_false(eq("sip:a@h;user=phone", "sip:a@h"));
  /* an escaped reserved character differs from the character itself */
  assert_false(eq("sip:a%3Bb@h", "sip:a;b@h"));
  assert_true(eq("sip:a%3Bb@h", "sip:a%3bb@h"));

  /* RFC 3966 §4 */
  assert_true(eq("tel:+1-201-555-0123", "tel:+1(201)5550123"));
  assert_false(eq("tel:+12015550123", "tel:+12015550124"));
  assert_true(eq("tel:7042;phone-context=Example.com",
                 "tel:7042;phone-context=example.com"));
  assert_false(eq("tel:+12015550123;isub=1", "tel:+12015550123"));
  assert_true(eq("urn:x:Foo", "URN:x:foo"));
  assert_false(eq("urn:x:foo", "sip:x@foo"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parts),
      cmocka_unit_test(malformed),
      cmocka_unit_test(rfc3261_compare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
