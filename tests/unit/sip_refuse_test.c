/* lib/sip/refuse.c: stateless refusals built from a partial header section
 * (RFC 3261 §8.2.6, §21.5.14), received/rport on the Via of a received
 * request (RFC 3261 §18.2.1, RFC 3581 §4); lib/base/lograte.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "test_util.h"

#define REQ                                                                    \
  "REGISTER sip:ims.example SIP/2.0\r\n"                                       \
  "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKa;rport\r\n"                   \
  "Max-Forwards: 70\r\n"                                                       \
  "f: <sip:a@ims.example>;tag=1\r\n"                                           \
  "To: <sip:a@ims.example>\r\n"                                                \
  "Call-ID: c1@ue\r\n"                                                         \
  "CSeq: 7 REGISTER\r\n"

static int refuse(const char *in, size_t n, char *out, size_t cap,
                  imsec_str *method) {
  imsec_sip_builder b;
  imsec_sip_build_init(&b, out, cap);
  int rv = imsec_sip_build_refusal(&b, in, n, 513,
                                   IMSEC_STR_LIT("Message Too Large"),
                                   IMSEC_STR_LIT("t1"), method);
  if (rv < 0)
    return rv;
  return imsec_sip_build_finish(&b, IMSEC_STR_LIT(""));
}

static void refusal_from_partial(void **state) {
  (void)state;
  char out[4096];
  imsec_str method;
  /* cut in the middle of a line after the fields an answer needs */
  const char *in = REQ "X-Pad: aaaaaaa";
  int n = refuse(in, strlen(in), out, sizeof(out), &method);
  assert_true(n > 0);
  out[n] = 0;
  assert_true(imsec_str_eq(method, IMSEC_STR_LIT("REGISTER")));
  assert_non_null(strstr(out, "SIP/2.0 513 Message Too Large\r\n"
                              "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKa;"
                              "rport\r\n"));
  assert_non_null(strstr(out, "To: <sip:a@ims.example>;tag=t1\r\n"));
  assert_non_null(strstr(out, "Call-ID: c1@ue\r\n"));
  assert_non_null(strstr(out, "CSeq: 7 REGISTER\r\n"));
  assert_null(strstr(out, "X-Pad"));
  assert_null(strstr(out, "Max-Forwards"));
  /* a field over 8 KiB is skipped, the rest read on */
  size_t big = 9000;
  char *in2 = malloc(big + 1024);
  assert_non_null(in2);
  int k = snprintf(in2, 1024, "OPTIONS sip:x SIP/2.0\r\nSubject: ");
  memset(in2 + k, 's', big);
  snprintf(in2 + k + big, 1024,
           "\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=2"
           "\r\nTo: <sip:b@b>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\n\r\n");
  n = refuse(in2, strlen(in2), out, sizeof(out), NULL);
  assert_true(n > 0);
  free(in2);
  /* folded fields are unfolded; bare CRs make a field unreadable */
  const char *in3 = "MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;\r\n "
                    "branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=3\r\nTo: <sip:b@b>"
                    "\r\nCall-ID: c3\r\nCSeq: 1 MESSAGE\r\n";
  n = refuse(in3, strlen(in3), out, sizeof(out), NULL);
  assert_true(n > 0);
  out[n] = 0;
  assert_non_null(strstr(out, "Via: SIP/2.0/TCP h; branch=z9hG4bKc\r\n"));
  const char *in4 = "MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4"
                    "bKd\r\nFrom: <sip:a@b>;tag=4\r\nTo: <sip:b@b>\rX: y\r\n"
                    "Call-ID: c4\r\nCSeq: 1 MESSAGE\r\n";
  assert_int_equal(refuse(in4, strlen(in4), out, sizeof(out), NULL),
                   IMSEC_ERR_INVAL);
}

static void refusal_negative(void **state) {
  (void)state;
  char out[4096];
  imsec_str method;
  static const struct {
    const char *in;
    int rv;
  } cases[] = {
      {"", IMSEC_ERR_PARSE},
      {"REGISTER sip:x SIP/2.0", IMSEC_ERR_PARSE}, /* no end of line */
      {"REGISTER sip:x SIP/2.0\n", IMSEC_ERR_PARSE},
      {"SIP/2.0 200 OK\r\nVia: x\r\n", IMSEC_ERR_PARSE},
      {"\x16\x03\x01\x02\x00\r\n", IMSEC_ERR_PARSE},
      {"REGISTER sip:x HTTP/1.1\r\n", IMSEC_ERR_PARSE},
      {"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKe\r\nFrom: "
       "<sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n",
       IMSEC_ERR_UNSUPPORTED},
      {"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKe\r\n",
       IMSEC_ERR_INVAL},
      {"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKe\r\nFrom: "
       "<sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nTo: <sip:c@b>\r\nCall-ID: c\r\n"
       "CSeq: 1 BYE\r\n",
       IMSEC_ERR_INVAL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rv =
        refuse(cases[i].in, strlen(cases[i].in), out, sizeof(out), &method);
    if (rv != cases[i].rv)
      fail_msg("case %zu: %d, want %d", i, rv, cases[i].rv);
  }
  /* too small an output buffer */
  assert_int_equal(refuse(REQ, strlen(REQ), out, 20, NULL), IMSEC_ERR_NOBUF);
}

static int mark(const char *text, const char *src, uint16_t port, char *out,
                size_t cap) {
  static char buf[2048];
  static char via[512];
  strcpy(buf, text);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, strlen(buf), 0), 0);
  int rv =
      imsec_sip_via_mark_received(&m, imsec_str_c(src), port, via, sizeof(via));
  int n = imsec_sip_msg_serialize(&m, out, cap);
  assert_true(n > 0);
  out[n] = 0;
  imsec_sip_msg_free(&m);
  return rv;
}

#define TAIL                                                                   \
  "From: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c\r\n"                   \
  "CSeq: 1 OPTIONS\r\n\r\n"

static void via_marks(void **state) {
  (void)state;
  char out[4096];
  /* rport asked for: both, even when the host is the source */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP "
                        "192.0.2.1:5060;rport;branch=z9hG4bK1\r\n" TAIL,
                        "192.0.2.1", 40000, out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, "Via: SIP/2.0/TCP 192.0.2.1:5060;rport=40000;"
                              "branch=z9hG4bK1;received=192.0.2.1\r\n"));
  /* no rport, the same host: received all the same (RFC 3581 §4) */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP "
                        "192.0.2.1;branch=z9hG4bK1\r\n" TAIL,
                        "192.0.2.1", 40000, out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1;"
                              "received=192.0.2.1\r\n"));
  /* a received the sender wrote next to its real sent-by, no rport: it
   * goes, the real source comes in (it used to survive) */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP "
                        "192.0.2.1;branch=z9hG4bK1;received=10.66.0.5\r\n"
                        "Via: SIP/2.0/TCP 10.0.0.1;received=10.77.0.7\r\n" TAIL,
                        "192.0.2.1", 40000, out, sizeof(out)),
                   1);
  assert_null(strstr(out, "10.66.0.5"));
  assert_non_null(strstr(out, "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1;"
                              "received=192.0.2.1\r\n"));
  /* only the top Via is marked */
  assert_non_null(strstr(out, "Via: SIP/2.0/TCP 10.0.0.1;received=10.77.0.7"));
  /* a name, an old received and rport value replaced, the next Via kept */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/TLS h.example;"
                        "received=1.1.1.1;rport=1;branch=z9hG4bK1 , SIP/2.0/"
                        "UDP 10.0.0.1;branch=z9hG4bK0\r\n" TAIL,
                        "2001:db8::1", 5061, out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, "v: SIP/2.0/TLS h.example;rport=5061;"
                              "branch=z9hG4bK1;received=2001:db8::1 , "
                              "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"));
  /* an IPv6 sent-by in brackets, the same source */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP "
                        "[2001:db8::1]:5060;branch=z9hG4bK1\r\n" TAIL,
                        "2001:db8::1", 1, out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, "[2001:db8::1]:5060;branch=z9hG4bK1;"
                              "received=2001:db8::1\r\n"));
  /* a quoted parameter value with a ';' stays whole */
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;x=\"a;b\""
                        ";branch=z9hG4bK1\r\n" TAIL,
                        "192.0.2.2", 1, out, sizeof(out)),
                   1);
  assert_non_null(strstr(out, ";x=\"a;b\";branch=z9hG4bK1;received=192.0.2.2"));
  /* negative: no Via, a malformed one, a source that is no IP literal, no
   * room */
  assert_int_equal(
      mark("OPTIONS sip:x SIP/2.0\r\n" TAIL, "192.0.2.1", 1, out, sizeof(out)),
      IMSEC_ERR_NOTFOUND);
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: garbage\r\n" TAIL,
                        "192.0.2.1", 1, out, sizeof(out)),
                   IMSEC_ERR_PARSE);
  assert_int_equal(mark("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n" TAIL,
                        "h;evil=1", 1, out, sizeof(out)),
                   IMSEC_ERR_INVAL);
  char buf[512];
  strcpy(buf, "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n" TAIL);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, buf, strlen(buf), 0), 0);
  char tiny[8];
  assert_int_equal(imsec_sip_via_mark_received(&m, IMSEC_STR_LIT("192.0.2.1"),
                                               1, tiny, sizeof(tiny)),
                   IMSEC_ERR_NOBUF);
  imsec_sip_msg_free(&m);
}

/* A top Via already at the parameter limit: received would push it past
 * the limit, and the next hop could not parse the marked message. */
static void via_marks_param_limit(void **state) {
  (void)state;
  for (int n = 63; n <= 64; n++) {
    char buf[2048], via[2048], out[4096];
    int len = snprintf(buf, sizeof(buf),
                       "OPTIONS sip:x SIP/2.0\r\nVia: "
                       "SIP/2.0/TCP h.example;branch=z9hG4bK1");
    for (int i = 1; i < n; i++)
      len += snprintf(buf + len, sizeof(buf) - (size_t)len, ";p%d=1", i);
    snprintf(buf + len, sizeof(buf) - (size_t)len, "\r\n" TAIL);
    imsec_sip_msg m;
    imsec_sip_msg_init(&m, NULL);
    assert_int_equal(imsec_sip_parse(&m, buf, strlen(buf), 0), 0);
    assert_int_equal(m.lim.max_params, 64);
    int rv = imsec_sip_via_mark_received(&m, IMSEC_STR_LIT("192.0.2.1"), 1, via,
                                         sizeof(via));
    if (n == 64) {
      assert_int_equal(rv, IMSEC_ERR_LIMIT);
      imsec_sip_msg_free(&m);
      continue;
    }
    assert_int_equal(rv, 1);
    int w = imsec_sip_msg_serialize(&m, out, sizeof(out));
    assert_true(w > 0);
    imsec_sip_msg_free(&m);
    imsec_sip_msg m2;
    imsec_sip_msg_init(&m2, NULL);
    assert_int_equal(imsec_sip_parse(&m2, out, (size_t)w, 0), 0);
    const imsec_sip_via *v;
    assert_int_equal(imsec_sip_get_via(&m2, &v), 0);
    assert_true(imsec_str_eq(v->received, IMSEC_STR_LIT("192.0.2.1")));
    imsec_sip_msg_free(&m2);
  }
}

static void log_budget(void **state) {
  (void)state;
  imsec_lograte r;
  memset(&r, 0, sizeof(r));
  r.per_window = 2;
  r.window_ms = 1000;
  uint64_t held = 99;
  assert_int_equal(imsec_lograte_take(&r, 5000, &held), 1);
  assert_int_equal(held, 0);
  assert_int_equal(imsec_lograte_take(&r, 5001, &held), 1);
  assert_int_equal(imsec_lograte_take(&r, 5002, &held), 0);
  assert_int_equal(imsec_lograte_take(&r, 5999, &held), 0);
  assert_int_equal(imsec_lograte_take(&r, 6000, &held), 1);
  assert_int_equal(held, 2);
  assert_int_equal(imsec_lograte_take(&r, 6001, NULL), 1);
  /* a clock that goes back starts a new window */
  assert_int_equal(imsec_lograte_take(&r, 100, &held), 1);
  assert_int_equal(held, 0);
  /* zero settings: 10 a second */
  imsec_lograte d;
  memset(&d, 0, sizeof(d));
  for (int i = 0; i < 10; i++)
    assert_int_equal(imsec_lograte_take(&d, 0, NULL), 1);
  assert_int_equal(imsec_lograte_take(&d, 999, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(refusal_from_partial),
      cmocka_unit_test(refusal_negative),
      cmocka_unit_test(via_marks),
      cmocka_unit_test(via_marks_param_limit),
      cmocka_unit_test(log_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
