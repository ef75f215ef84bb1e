/* lib/elem/out.c: the action queue and transport addresses. */
#include <string.h>

#include "imsec/elem.h"
#include "test_util.h"

static void actions(void **state) {
  (void)state;
  imsec_out o;
  imsec_out_init(&o, IMSEC_LOG_INFO);
  assert_int_equal(imsec_out_send(&o, 7, "abc", 3), 0);
  imsec_addr a;
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("tls:127.0.0.1:5061"), &a),
                   0);
  assert_int_equal(imsec_out_connect(&o, 42, &a, "pcscf.example"), 0);
  assert_int_equal(imsec_out_timer(&o, 3, 1500), 0);
  assert_int_equal(imsec_out_keep(&o, 7), 0);
  assert_int_equal(imsec_out_close(&o, 7), 0);
  assert_int_equal(imsec_out_log(&o, IMSEC_LOG_INFO, "a=", "b\r\n", NULL), 0);
  assert_int_equal(imsec_out_log(&o, IMSEC_LOG_DEBUG, "dropped", NULL), 0);
  assert_int_equal(o.n, 6);
  assert_int_equal(o.acts[0].kind, IMSEC_ACT_SEND);
  assert_int_equal(o.acts[0].flow, 7);
  assert_memory_equal(o.acts[0].data, "abc", 3);
  assert_int_equal(o.acts[1].kind, IMSEC_ACT_CONNECT);
  assert_int_equal(o.acts[1].tag, 42);
  assert_string_equal(o.acts[1].addr.host, "127.0.0.1");
  assert_int_equal(o.acts[1].addr.port, 5061);
  assert_string_equal(o.acts[1].server_name, "pcscf.example");
  assert_int_equal(o.acts[2].at, 1500);
  assert_int_equal(o.acts[5].kind, IMSEC_ACT_LOG);
  assert_string_equal((char *)o.acts[5].data, "a=b??");
  imsec_out_clear(&o);
  assert_int_equal(o.n, 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(imsec_out_send(&o, 1, "x", 1), 0);
  assert_int_equal(o.n, 100);
  imsec_out_free(&o);
}

/* A PSK action carries identity, key and expiry; bad sizes are refused
 * without poisoning the queue. */
static void psk_action(void **state) {
  (void)state;
  imsec_out o;
  imsec_out_init(&o, IMSEC_LOG_DEBUG);
  const uint8_t key[32] = {1, 2, 3};
  assert_int_equal(imsec_out_psk(&o, "id-1", key, sizeof key, 5000), 0);
  assert_int_equal(imsec_out_psk(&o, "id-1", NULL, 0, 0), 0);
  assert_int_equal(imsec_out_psk(&o, "", key, 1, 0), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_out_psk(&o, "a b", key, 1, 0), IMSEC_ERR_INVAL);
  assert_int_equal(imsec_out_psk(&o, "id", key, IMSEC_PSK_MAX + 1, 0),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_out_err(&o), 0);
  assert_int_equal(o.n, 2);
  assert_int_equal(o.acts[0].kind, IMSEC_ACT_PSK);
  assert_string_equal(o.acts[0].tls->psk_identity, "id-1");
  assert_int_equal(o.acts[0].tls->psk_len, 32);
  assert_memory_equal(o.acts[0].tls->psk, key, 32);
  assert_int_equal(o.acts[0].at, 5000);
  assert_int_equal(o.acts[1].tls->psk_len, 0);
  imsec_out_free(&o);
}

static void addresses(void **state) {
  (void)state;
  imsec_addr a;
  char buf[300];
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("TCP:[::1]:5060"), &a), 0);
  assert_int_equal(a.tp, IMSEC_TP_TCP);
  assert_string_equal(a.host, "::1");
  assert_int_equal(imsec_addr_format(&a, buf, sizeof(buf)), 14);
  assert_string_equal(buf, "tcp:[::1]:5060");
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("dtls:host.example:1"), &a),
                   0);
  assert_int_equal(imsec_addr_format(&a, buf, 5), IMSEC_ERR_NOBUF);
  const char *bad[] = {"",       "tls",        "tls:",        "tls:h",
                       "tls:h:", "tls:h:0",    "tls:h:65536", "sctp:h:1",
                       "tls::1", "tls:[::1:1", "tls:a b:1",   "tls:h:1x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(imsec_addr_parse(imsec_str_c(bad[i]), &a),
                     IMSEC_ERR_PARSE);
  /* Port 0 ("any free port") only for listeners. */
  assert_int_equal(imsec_addr_parse(IMSEC_STR_LIT("tcp:127.0.0.1:0"), &a),
                   IMSEC_ERR_PARSE);
  assert_int_equal(
      imsec_addr_parse_listen(IMSEC_STR_LIT("tcp:127.0.0.1:0"), &a), 0);
  assert_int_equal(a.port, 0);
  assert_int_equal(
      imsec_addr_parse_listen(IMSEC_STR_LIT("tcp:127.0.0.1:x"), &a),
      IMSEC_ERR_PARSE);
  imsec_tp tp;
  assert_int_equal(imsec_tp_parse(IMSEC_STR_LIT("Dtls"), &tp), 0);
  assert_int_equal(tp, IMSEC_TP_DTLS);
  /* draft-jennings-sip-dtls's Via / transport= name reads as DTLS */
  tp = IMSEC_TP_UDP;
  assert_int_equal(imsec_tp_parse(IMSEC_STR_LIT("DTLS-UDP"), &tp), 0);
  assert_int_equal(tp, IMSEC_TP_DTLS);
  assert_int_equal(imsec_tp_parse(IMSEC_STR_LIT("dtls-tcp"), &tp),
                   IMSEC_ERR_PARSE);
  assert_string_equal(imsec_tp_name(IMSEC_TP_TLS), "TLS");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(actions),
      cmocka_unit_test(addresses),
      cmocka_unit_test(psk_action),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
