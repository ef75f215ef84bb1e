/* lib/sip/auth.c: Digest headers of a message through lib/digest. */
#include <string.h>

#include "imsec/digest.h"
#include "imsec/sip.h"
#include "test_util.h"

static void challenges_and_credentials(void **state) {
  (void)state;
  char msg[] =
      "SIP/2.0 401 Unauthorized\r\n"
      "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK1\r\n"
      "From: <sip:a@ims.example>;tag=1\r\n"
      "To: <sip:a@ims.example>;tag=2\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 1 REGISTER\r\n"
      "WWW-Authenticate: Digest realm=\"ims.example\",\r\n"
      " nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5, qop=\"auth,auth-int\"\r\n"
      "WWW-Authenticate: Basic realm=\"x\"\r\n"
      "Content-Length: 0\r\n\r\n";
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, msg, sizeof(msg) - 1, 1), 0);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_digest_params p;
  uint32_t line = 0;
  /* The folded first field is one challenge. */
  assert_int_equal(
      imsec_sip_digest_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &p, &line),
      1);
  assert_int_equal(line, 7);
  assert_true(imsec_str_eq(p.realm, IMSEC_STR_LIT("ims.example")));
  assert_true(imsec_str_eq(p.nonce, IMSEC_STR_LIT("bm9uY2U=")));
  assert_true(imsec_str_eq(p.algorithm, IMSEC_STR_LIT("AKAv1-MD5")));
  /* Another scheme is reported, and iteration goes on past it. */
  assert_int_equal(
      imsec_sip_digest_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &p, NULL),
      IMSEC_ERR_UNSUPPORTED);
  assert_int_equal(
      imsec_sip_digest_next(&m, IMSEC_SIP_H_WWW_AUTHENTICATE, &it, &p, NULL),
      0);
  /* No Authorization at all. */
  imsec_sip_iter it2 = IMSEC_SIP_ITER_INIT;
  assert_int_equal(
      imsec_sip_digest_next(&m, IMSEC_SIP_H_AUTHORIZATION, &it2, &p, NULL), 0);
  /* Not a Digest header. */
  imsec_sip_iter it3 = IMSEC_SIP_ITER_INIT;
  assert_int_equal(imsec_sip_digest_next(&m, IMSEC_SIP_H_VIA, &it3, &p, NULL),
                   IMSEC_ERR_INVAL);
  imsec_sip_msg_free(&m);
}

static void credentials(void **state) {
  (void)state;
  char msg[] = "REGISTER sip:ims.example SIP/2.0\r\n"
               "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK1\r\n"
               "From: <sip:a@ims.example>;tag=1\r\n"
               "To: <sip:a@ims.example>\r\n"
               "Call-ID: c1\r\n"
               "CSeq: 1 REGISTER\r\n"
               "Authorization: Digest username=\"a@ims.example\", "
               "realm=\"ims.example\", nonce=\"\", uri=\"sip:ims.example\", "
               "response=\"\"\r\n"
               "Content-Length: 0\r\n\r\n";
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, msg, sizeof(msg) - 1, 1), 0);
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_digest_params p;
  assert_int_equal(
      imsec_sip_digest_next(&m, IMSEC_SIP_H_AUTHORIZATION, &it, &p, NULL), 1);
  assert_true(imsec_str_eq(p.username, IMSEC_STR_LIT("a@ims.example")));
  assert_int_equal(p.response.len, 0);
  imsec_sip_msg_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(challenges_and_credentials),
      cmocka_unit_test(credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
