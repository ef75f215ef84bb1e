/* lib/sip/framer.c: stream framing by Content-Length, resumable at every
 * byte boundary, RFC 5626 §3.5.1 keepalives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "test_util.h"

#define M1                                                                     \
  "REGISTER sip:r.example SIP/2.0\r\nVia: SIP/2.0/TLS "                        \
  "u.example;branch=z9hG4bK"                                                   \
  "1\r\nFrom: <sip:u@r.example>;tag=1\r\nTo: <sip:u@r.example>\r\nCall-ID: c1" \
  "\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
#define M2                                                                     \
  "MESSAGE sip:u@r.example SIP/2.0\r\nVia: SIP/2.0/TLS p.example;branch=z9hG4" \
  "bK2\r\nFrom: <sip:a@r.example>;tag=2\r\nTo: <sip:u@r.example>\r\nCall-ID:"  \
  " c2\r\nCSeq: 1 MESSAGE\r\nl:  11 \r\n\r\nhello\r\n\r\nxy"

static const char stream[] = "\r\n\r\n" M1 "\r\n" M2 "\r\n\r\n" M1;

/* Feed `s` in chunks whose sizes come from `next_chunk`, record events as a
 * string: P ping, O pong, M<len>. */
static void run(imsec_sip_framer *f, const char *s, size_t len,
                size_t (*next_chunk)(size_t i), char *log, size_t cap) {
  size_t off = 0, i = 0;
  log[0] = '\0';
  while (off < len) {
    size_t n = next_chunk(i++);
    if (n > len - off)
      n = len - off;
    const char *p = s + off;
    size_t left = n;
    for (;;) {
      imsec_sip_frame fr;
      int used = imsec_sip_framer_feed(f, p, left, &fr);
      assert_true(used >= 0);
      assert_true((size_t)used <= left);
      p += used;
      left -= (size_t)used;
      size_t l = strlen(log);
      if (fr.kind == IMSEC_SIP_FRAME_PING)
        snprintf(log + l, cap - l, "P");
      else if (fr.kind == IMSEC_SIP_FRAME_PONG)
        snprintf(log + l, cap - l, "O");
      else if (fr.kind == IMSEC_SIP_FRAME_MSG) {
        snprintf(log + l, cap - l, "M%zu", fr.msg_len);
        imsec_sip_msg m;
        imsec_sip_msg_init(&m, NULL);
        assert_int_equal(imsec_sip_parse(&m, fr.msg, fr.msg_len, 1), 0);
        assert_int_equal(imsec_sip_check(&m), 0);
        assert_int_equal(imsec_sip_msg_len(&m), fr.msg_len);
        imsec_sip_msg_free(&m);
      } else if (left == 0) {
        break;
      }
    }
    off += n;
  }
}

static size_t one(size_t i) {
  (void)i;
  return 1;
}
static size_t whole(size_t i) {
  (void)i;
  return 1 << 20;
}
static unsigned seed;
static size_t rnd(size_t i) {
  (void)i;
  seed = seed * 1103515245u + 12345u;
  return 1 + (seed >> 16) % 97;
}

static void chunkings(void **state) {
  (void)state;
  char want[256], got[256];
  imsec_sip_framer f;
  assert_int_equal(imsec_sip_framer_init(&f, 4096, 0), 0);
  run(&f, stream, sizeof(stream) - 1, whole, want, sizeof(want));
  char expect[128];
  snprintf(expect, sizeof(expect), "PM%zuM%zuPM%zu", strlen(M1), strlen(M2),
           strlen(M1));
  assert_string_equal(want, expect);
  imsec_sip_framer_free(&f);
  assert_int_equal(imsec_sip_framer_init(&f, 4096, 0), 0);
  run(&f, stream, sizeof(stream) - 1, one, got, sizeof(got));
  assert_string_equal(got, want);
  imsec_sip_framer_free(&f);
  for (seed = 1; seed < 200; seed++) {
    unsigned s0 = seed;
    assert_int_equal(imsec_sip_framer_init(&f, 4096, 0), 0);
    run(&f, stream, sizeof(stream) - 1, rnd, got, sizeof(got));
    if (strcmp(got, want) != 0)
      fail_msg("seed %u: %s != %s", s0, got, want);
    imsec_sip_framer_free(&f);
    seed = s0;
  }
}

static void client_pongs(void **state) {
  (void)state;
  imsec_sip_framer f;
  char log[64];
  assert_int_equal(imsec_sip_framer_init(&f, 4096, 1), 0);
  run(&f, "\r\n\r\n" M1 "\r\n", sizeof("\r\n\r\n" M1 "\r\n") - 1, one, log,
      sizeof(log));
  char expect[64];
  snprintf(expect, sizeof(expect), "OOM%zuO", strlen(M1));
  assert_string_equal(log, expect);
  imsec_sip_framer_free(&f);
}

static int feed_all(imsec_sip_framer *f, const char *s) {
  size_t len = strlen(s);
  while (len) {
    imsec_sip_frame fr;
    int used = imsec_sip_framer_feed(f, s, len, &fr);
    if (used < 0)
      return used;
    s += used;
    len -= (size_t)used;
  }
  return 0;
}

static void errors(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int rv;
  } cases[] = {
      {"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", IMSEC_ERR_PARSE},
      {"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 9999\r\n\r\n",
       IMSEC_ERR_LIMIT},
      {"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: "
       "99999999999999999999\r\n\r\n",
       IMSEC_ERR_LIMIT},
      {"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
       IMSEC_ERR_PARSE},
      {"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx",
       IMSEC_ERR_PARSE},
      {"\r\rOPTIONS", IMSEC_ERR_PARSE},
      {"OPTIONS sip:a@b SIP/2.0\r\nX: "
       "0123456789012345678901234567890123456789012345678901234567890123456789"
       "0123456789012345678901234567890123456789012345678901234567890123456789"
       "\r\n\r\n",
       IMSEC_ERR_LIMIT},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    imsec_sip_framer f;
    assert_int_equal(imsec_sip_framer_init(&f, 128, 0), 0);
    int rv = feed_all(&f, cases[i].in);
    if (rv != cases[i].rv)
      fail_msg("case %zu: %d", i, rv);
    /* sticky */
    imsec_sip_frame fr;
    assert_int_equal(imsec_sip_framer_feed(&f, "x", 1, &fr), cases[i].rv);
    imsec_sip_framer_free(&f);
  }
  imsec_sip_framer f;
  assert_int_equal(imsec_sip_framer_init(&f, 8, 0), IMSEC_ERR_INVAL);
}

/* The stateless peek net/ uses: same answers as the stateful framer, on
 * every prefix of a stream. */
static void peek(void **state) {
  (void)state;
  const char msg[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";
  size_t n = sizeof(msg) - 1, len = 0;
  for (size_t i = 0; i < n; i++)
    assert_int_equal(imsec_sip_frame_peek(msg, i, 1024, &len),
                     IMSEC_SIP_FRAME_NONE);
  assert_int_equal(imsec_sip_frame_peek(msg, n, 1024, &len),
                   IMSEC_SIP_FRAME_MSG);
  assert_int_equal(len, n);
  assert_int_equal(imsec_sip_frame_peek("\r\n\r\nX", 5, 1024, &len),
                   IMSEC_SIP_FRAME_PING);
  assert_int_equal(len, 4);
  assert_int_equal(imsec_sip_frame_peek("\r\n", 2, 1024, &len),
                   IMSEC_SIP_FRAME_PONG);
  assert_int_equal(imsec_sip_frame_peek("\r\n\r", 3, 1024, &len),
                   IMSEC_SIP_FRAME_NONE);
  assert_int_equal(imsec_sip_frame_peek("\rX", 2, 1024, &len), IMSEC_ERR_PARSE);
  const char nocl[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
  assert_int_equal(imsec_sip_frame_peek(nocl, sizeof(nocl) - 1, 1024, &len),
                   IMSEC_ERR_PARSE);
  const char two[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n"
                     "\r\nx";
  assert_int_equal(imsec_sip_frame_peek(two, sizeof(two) - 1, 1024, &len),
                   IMSEC_ERR_PARSE);
  const char big[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 999\r\n\r\n";
  assert_int_equal(imsec_sip_frame_peek(big, sizeof(big) - 1, 100, &len),
                   IMSEC_ERR_LIMIT);
  char endless[64];
  memset(endless, 'a', sizeof(endless));
  assert_int_equal(imsec_sip_frame_peek(endless, 64, 64, &len),
                   IMSEC_ERR_LIMIT);
  assert_int_equal(imsec_sip_frame_peek(endless, 63, 64, &len),
                   IMSEC_SIP_FRAME_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chunkings),
      cmocka_unit_test(client_pongs),
      cmocka_unit_test(errors),
      cmocka_unit_test(peek),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
