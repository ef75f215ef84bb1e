/* The RFC 3261 §17 transaction machines (lib/sip/txn.c) against the RFC's
 * figures 5-8, every timer of Table 4 at its exact instant: A, B, D for
 * the client INVITE transaction (§17.1.1), E, F, K for the client
 * non-INVITE one (§17.1.2), G, H, I for the server INVITE one (§17.2.1), J
 * for the server non-INVITE one (§17.2.2); configurable T1, T2, T4; the
 * reliable-transport variants; transport errors; the matching key. */
#include <stdio.h>
#include <string.h>

#include "imsec/sip.h"
#include "imsec/sip_txn.h"
#include "test_util.h"

#define T1 IMSEC_SIP_T1_MS
#define T2 IMSEC_SIP_T2_MS
#define T4 IMSEC_SIP_T4_MS

/* Nothing fires just before `at`; at `at` the result is `want`. */
static void fires_at(imsec_sip_txn *t, imsec_time_ms at, int want, char tmr) {
  assert_int_equal(imsec_sip_txn_next(t), at);
  assert_int_equal(imsec_sip_txn_on_timer(t, at - 1), 0);
  assert_int_equal(imsec_sip_txn_on_timer(t, at), want);
  assert_int_equal(t->fired, tmr);
}

static void defaults(void **st) {
  (void)st;
  imsec_sip_timers tm;
  imsec_sip_timers_default(&tm);
  assert_int_equal(tm.t1, 500);
  assert_int_equal(tm.t2, 4000);
  assert_int_equal(tm.t4, 5000);
  assert_string_equal(imsec_sip_txn_state_name(IMSEC_TXN_CONFIRMED),
                      "Confirmed");
}

/* Figure 5: Calling, Timer A doubling without cap (T1, 2T1, 4T1, ...)
 * until Timer B at 64*T1 ends it with a timeout. */
static void client_invite_timer_a_b(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 0, NULL, 0);
  assert_int_equal(t.state, IMSEC_TXN_CALLING);
  imsec_time_ms at = 0, ival = T1;
  int sent = 0;
  while (at + ival < 64 * T1) {
    at += ival;
    fires_at(&t, at, IMSEC_TXN_RETRANSMIT, 'A');
    sent++;
    ival *= 2; /* A is not capped by T2 (§17.1.1.2) */
  }
  /* 500, 1500, 3500, 7500, 15500, 31500: six retransmissions. */
  assert_int_equal(sent, 6);
  assert_int_equal(t.retransmits, 6);
  assert_int_equal(t.retx_ival, 64 * T1);
  fires_at(&t, 64 * T1, IMSEC_TXN_TIMEOUT | IMSEC_TXN_DONE, 'B');
  assert_int_equal(t.state, IMSEC_TXN_TERMINATED);
  assert_int_equal(imsec_sip_txn_next(&t), 0);
  assert_int_equal(imsec_sip_txn_on_timer(&t, 100000), 0);
}

/* Figure 5: a 1xx stops A and B (Proceeding); a 3xx-6xx goes Completed
 * with an ACK and Timer D (32 s); a retransmitted final gets another ACK
 * but is not passed up; D ends it. */
static void client_invite_proceeding_completed_d(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 0, NULL, 1000);
  assert_int_equal(imsec_sip_txn_on_response(&t, 100, 1200), IMSEC_TXN_PASS_UP);
  assert_int_equal(t.state, IMSEC_TXN_PROCEEDING);
  assert_int_equal(imsec_sip_txn_next(&t), 0);
  assert_int_equal(imsec_sip_txn_on_timer(&t, 1000 + 64 * T1), 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 180, 2000), IMSEC_TXN_PASS_UP);
  assert_int_equal(imsec_sip_txn_on_response(&t, 486, 3000),
                   IMSEC_TXN_SEND_ACK | IMSEC_TXN_PASS_UP);
  assert_int_equal(t.state, IMSEC_TXN_COMPLETED);
  assert_int_equal(t.last_status, 486);
  assert_int_equal(imsec_sip_txn_on_response(&t, 486, 4000),
                   IMSEC_TXN_SEND_ACK);
  assert_int_equal(imsec_sip_txn_on_response(&t, 180, 4100), IMSEC_TXN_ABSORB);
  fires_at(&t, 3000 + IMSEC_SIP_TIMER_D_MS, IMSEC_TXN_DONE, 'D');
  assert_int_equal(t.state, IMSEC_TXN_TERMINATED);
}

/* Figure 5: a 2xx in Calling ends the transaction at once (the TU ACKs);
 * a final straight from Calling to Completed also works. Over a reliable
 * transport: no A, D is zero. */
static void client_invite_2xx_and_reliable(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 200, 10),
                   IMSEC_TXN_PASS_UP | IMSEC_TXN_DONE);
  assert_int_equal(t.state, IMSEC_TXN_TERMINATED);

  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 1, NULL, 0);
  assert_int_equal(t.retx_at, 0);
  assert_int_equal(imsec_sip_txn_next(&t), 64 * T1); /* B only */
  assert_int_equal(imsec_sip_txn_on_response(&t, 503, 10),
                   IMSEC_TXN_SEND_ACK | IMSEC_TXN_PASS_UP | IMSEC_TXN_DONE);

  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 1, NULL, 0);
  fires_at(&t, 64 * T1, IMSEC_TXN_TIMEOUT | IMSEC_TXN_DONE, 'B');

  /* Calling -> Completed directly, unreliable: ACK and D. */
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 404, 700),
                   IMSEC_TXN_SEND_ACK | IMSEC_TXN_PASS_UP);
  assert_int_equal(t.retx_at, 0);
  assert_int_equal(t.fail_at, 0);
  assert_int_equal(imsec_sip_txn_next(&t), 700 + IMSEC_SIP_TIMER_D_MS);
}

/* Figure 6: Trying, Timer E doubling up to T2, then every T2; F at 64*T1. */
static void client_non_invite_timer_e_f(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, NULL, 0);
  assert_int_equal(t.state, IMSEC_TXN_TRYING);
  /* E fires at 500, 1500, 3500, 7500, 11500, 15500, ... 31500 (T2 cap). */
  static const imsec_time_ms want[] = {500,   1500,  3500,  7500,  11500,
                                       15500, 19500, 23500, 27500, 31500};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    fires_at(&t, want[i], IMSEC_TXN_RETRANSMIT, 'E');
  assert_int_equal(t.retx_ival, T2);
  assert_int_equal(imsec_sip_txn_next(&t), 32000); /* F and E together */
  assert_int_equal(imsec_sip_txn_on_timer(&t, 32000),
                   IMSEC_TXN_TIMEOUT | IMSEC_TXN_DONE);
  assert_int_equal(t.fired, 'F');
  assert_int_equal(t.retransmits, 10);
}

/* Figure 6: a 1xx in Trying -> Proceeding, where E runs at T2; a final
 * -> Completed with K = T4, retransmissions absorbed; K ends it. */
static void client_non_invite_proceeding_k(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, NULL, 0);
  fires_at(&t, 500, IMSEC_TXN_RETRANSMIT, 'E'); /* next at 1500 */
  assert_int_equal(imsec_sip_txn_on_response(&t, 100, 600), IMSEC_TXN_PASS_UP);
  assert_int_equal(t.state, IMSEC_TXN_PROCEEDING);
  /* The E already armed still fires at 1500, then every T2. */
  fires_at(&t, 1500, IMSEC_TXN_RETRANSMIT, 'E');
  fires_at(&t, 1500 + T2, IMSEC_TXN_RETRANSMIT, 'E');
  assert_int_equal(imsec_sip_txn_on_response(&t, 183, 6000), IMSEC_TXN_PASS_UP);
  assert_int_equal(imsec_sip_txn_on_response(&t, 200, 6100), IMSEC_TXN_PASS_UP);
  assert_int_equal(t.state, IMSEC_TXN_COMPLETED);
  assert_int_equal(t.retx_at, 0);
  assert_int_equal(t.fail_at, 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 200, 6200), IMSEC_TXN_ABSORB);
  fires_at(&t, 6100 + T4, IMSEC_TXN_DONE, 'K');
  assert_int_equal(t.state, IMSEC_TXN_TERMINATED);
}

/* Figure 6 over a reliable transport: no E, K zero; a final ends it. And
 * a final straight from Trying. */
static void client_non_invite_reliable(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 1, NULL, 0);
  assert_int_equal(imsec_sip_txn_next(&t), 64 * T1);
  assert_int_equal(imsec_sip_txn_on_timer(&t, 64 * T1 - 1), 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 401, 100),
                   IMSEC_TXN_PASS_UP | IMSEC_TXN_DONE);
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_response(&t, 401, 100), IMSEC_TXN_PASS_UP);
  assert_int_equal(imsec_sip_txn_next(&t), 100 + T4);
}

/* Configured T1, T2, T4 scale every timer. */
static void configured_timers(void **st) {
  (void)st;
  imsec_sip_timers tm = {.t1 = 100, .t2 = 300, .t4 = 1000};
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, &tm, 0);
  fires_at(&t, 100, IMSEC_TXN_RETRANSMIT, 'E');
  fires_at(&t, 300, IMSEC_TXN_RETRANSMIT, 'E');
  fires_at(&t, 600, IMSEC_TXN_RETRANSMIT, 'E'); /* capped at T2 = 300 */
  fires_at(&t, 900, IMSEC_TXN_RETRANSMIT, 'E');
  assert_int_equal(t.fail_at, 6400);
  assert_int_equal(imsec_sip_txn_on_response(&t, 200, 1000), IMSEC_TXN_PASS_UP);
  fires_at(&t, 2000, IMSEC_TXN_DONE, 'K');

  imsec_sip_timers half = {.t1 = 250}; /* others default */
  imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_NON_INVITE, 0, &half, 0);
  assert_int_equal(t.tm.t2, T2);
  assert_int_equal(t.tm.t4, T4);
  assert_int_equal(imsec_sip_txn_send_response(&t, 200, 10), 0);
  fires_at(&t, 10 + 64 * 250, IMSEC_TXN_DONE, 'J');
}

/* Figure 7: Proceeding on arrival (100 Trying asked for), retransmissions
 * absorbed until a response exists, then answered with it; a 3xx-6xx ->
 * Completed with G (T1 doubling to T2) and H (64*T1): H without ACK times
 * out. */
static void server_invite_g_h(void **st) {
  (void)st;
  imsec_sip_txn t;
  assert_int_equal(
      imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_INVITE, 0, NULL, 0),
      IMSEC_TXN_PASS_UP | IMSEC_TXN_SEND_TRYING);
  assert_int_equal(t.state, IMSEC_TXN_PROCEEDING);
  assert_int_equal(imsec_sip_txn_next(&t), 0);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 50), IMSEC_TXN_ABSORB);
  assert_int_equal(imsec_sip_txn_send_response(&t, 100, 60), 0);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 70),
                   IMSEC_TXN_RESEND_RESPONSE);
  assert_int_equal(imsec_sip_txn_send_response(&t, 180, 80), 0);
  assert_int_equal(t.state, IMSEC_TXN_PROCEEDING);
  assert_int_equal(imsec_sip_txn_send_response(&t, 486, 1000), 0);
  assert_int_equal(t.state, IMSEC_TXN_COMPLETED);
  /* G: 1500, 2500, 4500, 8500, 12500, ... (interval capped at T2). */
  static const imsec_time_ms g[] = {1500,  2500,  4500,  8500,  12500,
                                    16500, 20500, 24500, 28500, 32500};
  for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
    fires_at(&t, g[i], IMSEC_TXN_RESEND_RESPONSE, 'G');
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 32600),
                   IMSEC_TXN_RESEND_RESPONSE);
  assert_int_equal(imsec_sip_txn_next(&t), 1000 + 64 * T1);
  assert_int_equal(imsec_sip_txn_on_timer(&t, 1000 + 64 * T1),
                   IMSEC_TXN_TIMEOUT | IMSEC_TXN_DONE);
  assert_int_equal(t.fired, 'H');
  assert_int_equal(imsec_sip_txn_send_response(&t, 500, 40000),
                   IMSEC_ERR_STATE);
}

/* Figure 7: the ACK in Completed -> Confirmed with I = T4 (G and H stop);
 * ACK and request retransmissions there are absorbed; I ends it. A 2xx
 * from the TU ends the transaction at once. Reliable: no G, I zero. */
static void server_invite_ack_i(void **st) {
  (void)st;
  imsec_sip_txn t;
  (void)imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_send_response(&t, 603, 100), 0);
  fires_at(&t, 600, IMSEC_TXN_RESEND_RESPONSE, 'G');
  assert_int_equal(imsec_sip_txn_on_request(&t, 1, 700), IMSEC_TXN_ABSORB);
  assert_int_equal(t.state, IMSEC_TXN_CONFIRMED);
  assert_int_equal(t.retx_at, 0);
  assert_int_equal(t.fail_at, 0);
  assert_int_equal(imsec_sip_txn_on_request(&t, 1, 800), IMSEC_TXN_ABSORB);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 900), IMSEC_TXN_ABSORB);
  fires_at(&t, 700 + T4, IMSEC_TXN_DONE, 'I');

  (void)imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_send_response(&t, 200, 10), IMSEC_TXN_DONE);
  assert_int_equal(t.state, IMSEC_TXN_TERMINATED);

  (void)imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_INVITE, 1, NULL, 0);
  assert_int_equal(imsec_sip_txn_send_response(&t, 404, 10), 0);
  assert_int_equal(t.retx_at, 0);
  assert_int_equal(imsec_sip_txn_next(&t), 10 + 64 * T1); /* H only */
  assert_int_equal(imsec_sip_txn_on_request(&t, 1, 20),
                   IMSEC_TXN_ABSORB | IMSEC_TXN_DONE);
}

/* Figure 8: Trying absorbs retransmissions; Proceeding and Completed
 * resend the last response; J = 64*T1 ends it (zero when reliable). */
static void server_non_invite_j(void **st) {
  (void)st;
  imsec_sip_txn t;
  assert_int_equal(
      imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_NON_INVITE, 0, NULL, 0),
      IMSEC_TXN_PASS_UP);
  assert_int_equal(t.state, IMSEC_TXN_TRYING);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 500), IMSEC_TXN_ABSORB);
  assert_int_equal(imsec_sip_txn_send_response(&t, 100, 600), 0);
  assert_int_equal(t.state, IMSEC_TXN_PROCEEDING);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 700),
                   IMSEC_TXN_RESEND_RESPONSE);
  assert_int_equal(imsec_sip_txn_send_response(&t, 200, 800), 0);
  assert_int_equal(t.state, IMSEC_TXN_COMPLETED);
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 1500),
                   IMSEC_TXN_RESEND_RESPONSE);
  assert_int_equal(imsec_sip_txn_on_request(&t, 1, 1600), IMSEC_TXN_ABSORB);
  assert_int_equal(t.retransmits, 2);
  assert_int_equal(imsec_sip_txn_send_response(&t, 500, 1700), IMSEC_ERR_STATE);
  fires_at(&t, 800 + 64 * T1, IMSEC_TXN_DONE, 'J');

  (void)imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_NON_INVITE, 1, NULL, 0);
  assert_int_equal(imsec_sip_txn_send_response(&t, 200, 5), IMSEC_TXN_DONE);
  assert_int_equal(imsec_sip_txn_send_response(&t, 99, 5), IMSEC_ERR_STATE);
}

/* §17.1.4, §17.2.4: a transport error ends any transaction; a client
 * without a final response reports it as a timeout. A late on_timer
 * sends one retransmission, not a burst. */
static void transport_error_and_late_timer(void **st) {
  (void)st;
  imsec_sip_txn t;
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_transport_error(&t),
                   IMSEC_TXN_TIMEOUT | IMSEC_TXN_DONE);
  assert_int_equal(imsec_sip_txn_on_transport_error(&t), 0);
  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_INVITE, 0, NULL, 0);
  (void)imsec_sip_txn_on_response(&t, 404, 10);
  assert_int_equal(imsec_sip_txn_on_transport_error(&t), IMSEC_TXN_DONE);
  (void)imsec_sip_txn_server(&t, IMSEC_TXN_SERVER_NON_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_transport_error(&t), IMSEC_TXN_DONE);

  imsec_sip_txn_client(&t, IMSEC_TXN_CLIENT_NON_INVITE, 0, NULL, 0);
  assert_int_equal(imsec_sip_txn_on_timer(&t, 5000), IMSEC_TXN_RETRANSMIT);
  assert_int_equal(t.retransmits, 1);
  assert_int_equal(imsec_sip_txn_next(&t), 6000);
  /* Stray inputs are absorbed: a client never sees requests. */
  assert_int_equal(imsec_sip_txn_on_request(&t, 0, 5100), IMSEC_TXN_ABSORB);
  assert_int_equal(imsec_sip_txn_on_response(&t, 42, 5100), IMSEC_TXN_ABSORB);
  assert_int_equal(imsec_sip_txn_send_response(&t, 200, 5100), IMSEC_ERR_STATE);
}

static int key_of(const char *text, int ack_as_invite, char *buf, size_t cap) {
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", text);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  assert_int_equal(imsec_sip_parse(&m, copy, strlen(copy), 0), 0);
  int n = imsec_sip_txn_key(&m, ack_as_invite, buf, cap);
  imsec_sip_msg_free(&m);
  return n;
}

#define HDRS(method, branch, port)                                             \
  "Via: SIP/2.0/DTLS-UDP 127.0.0.1" port ";branch=" branch "\r\n"              \
  "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\n"                  \
  "CSeq: 1 " method "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

static void matching_key(void **st) {
  (void)st;
  char k[128];
  assert_int_equal(key_of("MESSAGE sip:b@x SIP/2.0\r\n" HDRS(
                              "MESSAGE", "z9hG4bKab", ":5061"),
                          0, k, sizeof k),
                   (int)strlen("z9hG4bKab 127.0.0.1:5061 MESSAGE"));
  assert_string_equal(k, "z9hG4bKab 127.0.0.1:5061 MESSAGE");
  assert_true(key_of("SIP/2.0 200 OK\r\n" HDRS("REGISTER", "z9hG4bKq", ""), 0,
                     k, sizeof k) > 0);
  assert_string_equal(k, "z9hG4bKq 127.0.0.1 REGISTER");
  assert_true(key_of("ACK sip:b@x SIP/2.0\r\n" HDRS("ACK", "z9hG4bKi", ":1"), 1,
                     k, sizeof k) > 0);
  assert_string_equal(k, "z9hG4bKi 127.0.0.1:1 INVITE");
  assert_true(key_of("ACK sip:b@x SIP/2.0\r\n" HDRS("ACK", "z9hG4bKi", ":1"), 0,
                     k, sizeof k) > 0);
  assert_string_equal(k, "z9hG4bKi 127.0.0.1:1 ACK");
  /* RFC 2543 branches and a short buffer. */
  assert_int_equal(
      key_of("OPTIONS sip:b@x SIP/2.0\r\n" HDRS("OPTIONS", "abc", ""), 0, k,
             sizeof k),
      IMSEC_ERR_PARSE);
  assert_int_equal(
      key_of("OPTIONS sip:b@x SIP/2.0\r\n" HDRS("OPTIONS", "z9hG4bK", ""), 0, k,
             sizeof k),
      IMSEC_ERR_PARSE);
  assert_int_equal(
      key_of("OPTIONS sip:b@x SIP/2.0\r\n" HDRS("OPTIONS", "z9hG4bKx", ""), 0,
             k, 10),
      IMSEC_ERR_NOBUF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults),
      cmocka_unit_test(client_invite_timer_a_b),
      cmocka_unit_test(client_invite_proceeding_completed_d),
      cmocka_unit_test(client_invite_2xx_and_reliable),
      cmocka_unit_test(client_non_invite_timer_e_f),
      cmocka_unit_test(client_non_invite_proceeding_k),
      cmocka_unit_test(client_non_invite_reliable),
      cmocka_unit_test(configured_timers),
      cmocka_unit_test(server_invite_g_h),
      cmocka_unit_test(server_invite_ack_i),
      cmocka_unit_test(server_non_invite_j),
      cmocka_unit_test(transport_error_and_late_timer),
      cmocka_unit_test(matching_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
