/* Fuzz the RFC 3261 §17 transactions (lib/sip/txn.c): the matching key of
 * an arbitrary message, and each kind of transaction driven by an
 * arbitrary sequence of events. Nothing may crash, hang or leak; the key
 * is NUL-terminated within its buffer and the same twice; DONE comes with
 * TERMINATED; a transaction that is waiting for the network (a client
 * one, a server one that has answered finally) always has a deadline, and
 * time running on ends every client transaction, so no table entry made
 * from one can stay for good. The exception is RFC 3261's: a client
 * INVITE in Proceeding waits for the TU (figure 5 has no timer there; its
 * user bounds it, lib/pcscf/dgram.c).
 *
 * Input: octet 0 picks the kind, reliability and whether the rest starts
 * with a SIP message (up to a NUL octet); each following octet is an
 * event: the low 3 bits pick it, the rest its argument. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/sip.h"
#include "imsec/sip_txn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned codes[] = {100, 180, 183, 200, 202, 302, 401, 408,
                                 486, 500, 503, 603, 199, 299, 699, 101};

static void check(const imsec_sip_txn *t, int f, imsec_time_ms now) {
  int client = t->kind == IMSEC_TXN_CLIENT_INVITE ||
               t->kind == IMSEC_TXN_CLIENT_NON_INVITE;
  if (f > 0 && (f & IMSEC_TXN_DONE) && t->state != IMSEC_TXN_TERMINATED)
    abort();
  if (t->state == IMSEC_TXN_TERMINATED ||
      (t->kind == IMSEC_TXN_CLIENT_INVITE && t->state == IMSEC_TXN_PROCEEDING))
    return;
  imsec_time_ms next = imsec_sip_txn_next(t);
  if ((client || t->state == IMSEC_TXN_COMPLETED ||
       t->state == IMSEC_TXN_CONFIRMED) &&
      !next)
    abort();
  (void)now;
  if (!imsec_sip_txn_state_name(t->state))
    abort();
}

static void key_of(const uint8_t *data, size_t len) {
  char *copy = malloc(len ? len : 1);
  if (!copy)
    return;
  memcpy(copy, data, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, copy, len, 0) == 0) {
    for (int ack = 0; ack < 2; ack++) {
      char a[256], b[256], small[24];
      memset(a, 0x55, sizeof(a));
      int n = imsec_sip_txn_key(&m, ack, a, sizeof(a));
      if (n >= 0) {
        if ((size_t)n >= sizeof(a) || a[n] != 0 || strlen(a) > (size_t)n)
          abort();
        if (imsec_sip_txn_key(&m, ack, b, sizeof(b)) != n || strcmp(a, b))
          abort();
      }
      int s = imsec_sip_txn_key(&m, ack, small, sizeof(small));
      if (s >= (int)sizeof(small))
        abort();
    }
  }
  imsec_sip_msg_free(&m);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192)
    return 0;
  uint8_t sel = data[0];
  size_t i = 1;
  if (sel & 8) {
    size_t j = i;
    while (j < size && data[j])
      j++;
    key_of(data + i, j - i);
    i = j < size ? j + 1 : j;
  }
  imsec_sip_timers tm;
  imsec_sip_timers_default(&tm);
  if (sel & 16)
    tm.t1 = 1 + (sel >> 5) * 100; /* a short T1, even below the default */
  imsec_sip_txn t;
  memset(&t, 0, sizeof(t));
  imsec_sip_txn_kind kind = (imsec_sip_txn_kind)(sel & 3);
  int reliable = (sel >> 2) & 1;
  imsec_time_ms now = 1000000;
  int f = 0;
  if (kind == IMSEC_TXN_CLIENT_INVITE || kind == IMSEC_TXN_CLIENT_NON_INVITE)
    imsec_sip_txn_client(&t, kind, reliable, &tm, now);
  else
    f = imsec_sip_txn_server(&t, kind, reliable, &tm, now);
  check(&t, f, now);
  for (; i < size && t.state != IMSEC_TXN_TERMINATED; i++) {
    uint8_t ev = data[i], arg = ev >> 3;
    switch (ev & 7) {
    case 0:
      f = imsec_sip_txn_on_response(&t, codes[arg & 15], now);
      break;
    case 1:
      f = imsec_sip_txn_on_request(&t, arg & 1, now);
      break;
    case 2:
      f = imsec_sip_txn_send_response(&t, codes[arg & 15], now);
      break;
    case 3: /* time moves on to the next deadline, or a little */
    case 4: {
      imsec_time_ms next = imsec_sip_txn_next(&t);
      now = (ev & 7) == 3 && next > now ? next : now + (imsec_time_ms)arg * 97;
      f = imsec_sip_txn_on_timer(&t, now);
      break;
    }
    case 5:
      f = imsec_sip_txn_on_transport_error(&t);
      break;
    default:
      f = imsec_sip_txn_on_timer(&t, now);
      break;
    }
    check(&t, f, now);
  }
  /* A client transaction ends by its timers alone (B/F, then D/K). */
  if (kind == IMSEC_TXN_CLIENT_INVITE || kind == IMSEC_TXN_CLIENT_NON_INVITE) {
    if (t.kind == IMSEC_TXN_CLIENT_INVITE && t.state == IMSEC_TXN_PROCEEDING)
      return 0;
    for (int k = 0; k < 64 && t.state != IMSEC_TXN_TERMINATED; k++) {
      imsec_time_ms next = imsec_sip_txn_next(&t);
      if (!next)
        abort();
      now = next > now ? next : now + 1;
      check(&t, imsec_sip_txn_on_timer(&t, now), now);
    }
    if (t.state != IMSEC_TXN_TERMINATED)
      abort();
  }
  return 0;
}
