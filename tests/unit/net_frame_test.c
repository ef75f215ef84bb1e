/* net/frame.c: the built-in stream framer and keepalive recognition. */
#include <string.h>

#include "imsec/net.h"
#include "test_util.h"

static int frame(const char *s, size_t max, size_t *len) {
  return imsec_net_frame_cl(NULL, (const uint8_t *)s, strlen(s), max, len);
}

static void whole_and_partial(void **state) {
  (void)state;
  size_t len = 0;
  const char *m = "INVITE sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcNEXT";
  assert_int_equal(frame(m, 65536, &len), IMSEC_NET_FRAME_MSG);
  assert_int_equal(len, strlen(m) - 4);
  /* Every proper prefix needs more. */
  for (size_t i = 1; i < strlen(m) - 4; i++) {
    assert_int_equal(
        imsec_net_frame_cl(NULL, (const uint8_t *)m, i, 65536, &len),
        IMSEC_NET_FRAME_MORE);
  }
  /* Compact form, case and whitespace. */
  assert_int_equal(frame("SIP/2.0 200 OK\r\nl :0\r\n\r\n", 65536, &len),
                   IMSEC_NET_FRAME_MSG);
  assert_int_equal(len, 24);
  assert_int_equal(
      frame("SIP/2.0 200 OK\r\ncontent-LENGTH:  2 \r\n\r\nab", 65536, &len),
      IMSEC_NET_FRAME_MSG);
  /* Content-Language is not Content-Length. */
  assert_int_equal(
      frame("A\r\nContent-Language: en\r\nl: 1\r\n\r\nx", 65536, &len),
      IMSEC_NET_FRAME_MSG);
}

static void keepalives(void **state) {
  (void)state;
  size_t len = 0;
  assert_int_equal(frame("\r\n\r\n", 100, &len), IMSEC_NET_FRAME_PING);
  assert_int_equal(len, 4);
  assert_int_equal(frame("\r\n", 100, &len), IMSEC_NET_FRAME_PONG);
  assert_int_equal(len, 2);
  assert_int_equal(frame("\r\nINVITE", 100, &len), IMSEC_NET_FRAME_PONG);
  assert_int_equal(frame("\r", 100, &len), IMSEC_NET_FRAME_MORE);
  assert_int_equal(frame("\r\n\r", 100, &len), IMSEC_NET_FRAME_MORE);
  assert_int_equal(frame("\rX", 100, &len), IMSEC_ERR_PARSE);
}

static void bad_and_too_big(void **state) {
  (void)state;
  size_t len = 0;
  assert_int_equal(frame("A\r\nB: c\r\n\r\n", 100, &len), IMSEC_ERR_PARSE);
  assert_int_equal(frame("A\r\nl: x\r\n\r\n", 100, &len), IMSEC_ERR_PARSE);
  assert_int_equal(frame("A\r\nl: 1\r\nl: 1\r\n\r\nx", 100, &len),
                   IMSEC_ERR_PARSE);
  assert_int_equal(frame("A\r\nl: 99999999999999999999999\r\n\r\n", 100, &len),
                   IMSEC_ERR_LIMIT);
  assert_int_equal(frame("A\r\nl: 90\r\n\r\n", 100, &len), IMSEC_ERR_LIMIT);
  char big[300];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(frame(big, 100, &len), IMSEC_ERR_LIMIT);
  assert_int_equal(frame(big, 1000, &len), IMSEC_NET_FRAME_MORE);
}

static void transport_names(void **state) {
  (void)state;
  assert_string_equal(imsec_net_transport_name(IMSEC_NET_TLS), "TLS");
  assert_string_equal(imsec_net_transport_name(IMSEC_NET_DTLS), "DTLS");
  assert_string_equal(imsec_net_transport_name(IMSEC_NET_UDP), "UDP");
  assert_string_equal(imsec_net_transport_name(IMSEC_NET_TCP), "TCP");
}

static void bad_configs(void **state) {
  (void)state;
  imsec_net_tls *t = NULL;
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1; /* no certificate, no PSK */
  assert_int_equal(imsec_net_tls_new(&t, &c), IMSEC_ERR_CONFIG);
  c.cert_file = "/nonexistent.pem";
  c.key_file = "/nonexistent.key";
  assert_int_equal(imsec_net_tls_new(&t, &c), IMSEC_ERR_CONFIG);
  memset(&c, 0, sizeof c);
  c.psk_identity = "x"; /* no key */
  assert_int_equal(imsec_net_tls_new(&t, &c), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_net_tls_new(NULL, &c), IMSEC_ERR_INVAL);
  assert_null(t);
  imsec_net *n = NULL;
  assert_int_equal(imsec_net_new(&n, NULL), IMSEC_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(whole_and_partial), cmocka_unit_test(keepalives),
      cmocka_unit_test(bad_and_too_big),   cmocka_unit_test(transport_names),
      cmocka_unit_test(bad_configs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
