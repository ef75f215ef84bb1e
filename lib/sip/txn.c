/*
 * The RFC 3261 §17 transaction machines (include/imsec/sip_txn.h): state
 * and timers only, driven by the time the caller passes in. Each function
 * below names the figure and clause whose transitions it implements.
 */
#include <string.h>

#include "imsec/sip_txn.h"

void imsec_sip_timers_default(imsec_sip_timers *t) {
  t->t1 = IMSEC_SIP_T1_MS;
  t->t2 = IMSEC_SIP_T2_MS;
  t->t4 = IMSEC_SIP_T4_MS;
}

static void take_timers(imsec_sip_txn *t, const imsec_sip_timers *tm) {
  imsec_sip_timers_default(&t->tm);
  if (tm && tm->t1 > 0)
    t->tm.t1 = tm->t1;
  if (tm && tm->t2 > 0)
    t->tm.t2 = tm->t2;
  if (tm && tm->t4 > 0)
    t->tm.t4 = tm->t4;
}

static int terminate(imsec_sip_txn *t) {
  t->state = IMSEC_TXN_TERMINATED;
  t->retx_at = t->fail_at = t->wait_at = 0;
  t->retx_ival = 0;
  return IMSEC_TXN_DONE;
}

/* Enter a waiting state (D, K, I, J): zero over a reliable transport, so
 * the transaction ends at once. */
static int wait_or_end(imsec_sip_txn *t, imsec_time_ms dur, imsec_time_ms now) {
  t->retx_at = 0;
  t->fail_at = 0;
  if (t->reliable || dur <= 0)
    return terminate(t);
  t->wait_at = now + dur;
  return 0;
}

void imsec_sip_txn_client(imsec_sip_txn *t, imsec_sip_txn_kind kind,
                          int reliable, const imsec_sip_timers *tm,
                          imsec_time_ms now) {
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->reliable = reliable != 0;
  take_timers(t, tm);
  /* §17.1.1.2: Calling, Timer A = T1 (unreliable), Timer B = 64*T1.
   * §17.1.2.2: Trying, Timer E = T1 (unreliable), Timer F = 64*T1. */
  t->state =
      kind == IMSEC_TXN_CLIENT_INVITE ? IMSEC_TXN_CALLING : IMSEC_TXN_TRYING;
  if (!t->reliable) {
    t->retx_ival = t->tm.t1;
    t->retx_at = now + t->tm.t1;
  }
  t->fail_at = now + 64 * t->tm.t1;
}

int imsec_sip_txn_server(imsec_sip_txn *t, imsec_sip_txn_kind kind,
                         int reliable, const imsec_sip_timers *tm,
                         imsec_time_ms now) {
  (void)now;
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->reliable = reliable != 0;
  take_timers(t, tm);
  if (kind == IMSEC_TXN_SERVER_INVITE) {
    /* §17.2.1: Proceeding at once; a 100 Trying unless the TU answers
     * within 200 ms. */
    t->state = IMSEC_TXN_PROCEEDING;
    return IMSEC_TXN_PASS_UP | IMSEC_TXN_SEND_TRYING;
  }
  /* §17.2.2: Trying. */
  t->state = IMSEC_TXN_TRYING;
  return IMSEC_TXN_PASS_UP;
}

/* Figure 5 (§17.1.1.2). */
static int client_invite_response(imsec_sip_txn *t, unsigned status,
                                  imsec_time_ms now) {
  switch (t->state) {
  case IMSEC_TXN_CALLING:
  case IMSEC_TXN_PROCEEDING:
    t->last_status = status;
    if (status < 200) {
      /* Retransmissions stop; Timer B no longer applies once a
       * provisional response shows the request arrived. */
      t->state = IMSEC_TXN_PROCEEDING;
      t->retx_at = 0;
      t->fail_at = 0;
      return IMSEC_TXN_PASS_UP;
    }
    if (status < 300) /* the TU handles the 2xx and its ACK */
      return IMSEC_TXN_PASS_UP | terminate(t);
    t->state = IMSEC_TXN_COMPLETED;
    return IMSEC_TXN_SEND_ACK | IMSEC_TXN_PASS_UP |
           wait_or_end(t, IMSEC_SIP_TIMER_D_MS, now);
  case IMSEC_TXN_COMPLETED:
    /* A retransmitted final response: ACK again, the TU saw it. */
    if (status >= 300)
      return IMSEC_TXN_SEND_ACK;
    return IMSEC_TXN_ABSORB;
  default:
    return IMSEC_TXN_ABSORB;
  }
}

/* Figure 6 (§17.1.2.2). */
static int client_non_invite_response(imsec_sip_txn *t, unsigned status,
                                      imsec_time_ms now) {
  switch (t->state) {
  case IMSEC_TXN_TRYING:
  case IMSEC_TXN_PROCEEDING:
    t->last_status = status;
    if (status < 200) {
      if (t->state == IMSEC_TXN_TRYING && t->retx_at) {
        /* Proceeding retransmits every T2 (the next firing of E). */
        t->retx_ival = t->tm.t2;
      }
      t->state = IMSEC_TXN_PROCEEDING;
      return IMSEC_TXN_PASS_UP;
    }
    t->state = IMSEC_TXN_COMPLETED;
    return IMSEC_TXN_PASS_UP | wait_or_end(t, t->tm.t4, now);
  default:
    return IMSEC_TXN_ABSORB; /* Completed: retransmissions absorbed */
  }
}

int imsec_sip_txn_on_response(imsec_sip_txn *t, unsigned status,
                              imsec_time_ms now) {
  if (status < 100 || status > 699)
    return IMSEC_TXN_ABSORB;
  if (t->kind == IMSEC_TXN_CLIENT_INVITE)
    return client_invite_response(t, status, now);
  if (t->kind == IMSEC_TXN_CLIENT_NON_INVITE)
    return client_non_invite_response(t, status, now);
  return IMSEC_TXN_ABSORB;
}

int imsec_sip_txn_on_request(imsec_sip_txn *t, int ack, imsec_time_ms now) {
  if (t->kind == IMSEC_TXN_SERVER_INVITE) {
    /* Figure 7 (§17.2.1). */
    if (ack) {
      if (t->state != IMSEC_TXN_COMPLETED)
        return IMSEC_TXN_ABSORB; /* Confirmed: ACK retransmissions */
      t->state = IMSEC_TXN_CONFIRMED;
      /* Timer G stops, H too; Timer I = T4 absorbs ACK retransmissions. */
      return IMSEC_TXN_ABSORB | wait_or_end(t, t->tm.t4, now);
    }
    if ((t->state == IMSEC_TXN_PROCEEDING && t->last_status) ||
        t->state == IMSEC_TXN_COMPLETED) {
      t->retransmits++;
      return IMSEC_TXN_RESEND_RESPONSE;
    }
    return IMSEC_TXN_ABSORB;
  }
  if (t->kind == IMSEC_TXN_SERVER_NON_INVITE) {
    /* Figure 8 (§17.2.2): Trying absorbs; Proceeding and Completed send
     * the last response again. */
    if (!ack &&
        (t->state == IMSEC_TXN_PROCEEDING || t->state == IMSEC_TXN_COMPLETED)) {
      t->retransmits++;
      return IMSEC_TXN_RESEND_RESPONSE;
    }
    return IMSEC_TXN_ABSORB;
  }
  return IMSEC_TXN_ABSORB;
}

int imsec_sip_txn_send_response(imsec_sip_txn *t, unsigned status,
                                imsec_time_ms now) {
  if (status < 100 || status > 699)
    return IMSEC_ERR_STATE;
  if (t->kind == IMSEC_TXN_SERVER_INVITE) {
    if (t->state != IMSEC_TXN_PROCEEDING)
      return IMSEC_ERR_STATE;
    t->last_status = status;
    if (status < 200)
      return 0;
    if (status < 300) /* figure 7: the TU owns the 2xx from here */
      return terminate(t);
    /* Completed: Timer G = T1 (unreliable), Timer H = 64*T1. */
    t->state = IMSEC_TXN_COMPLETED;
    if (!t->reliable) {
      t->retx_ival = t->tm.t1;
      t->retx_at = now + t->tm.t1;
    }
    t->fail_at = now + 64 * t->tm.t1;
    return 0;
  }
  if (t->kind == IMSEC_TXN_SERVER_NON_INVITE) {
    if (t->state != IMSEC_TXN_TRYING && t->state != IMSEC_TXN_PROCEEDING)
      return IMSEC_ERR_STATE;
    t->last_status = status;
    if (status < 200) {
      t->state = IMSEC_TXN_PROCEEDING;
      return 0;
    }
    /* Completed: Timer J = 64*T1 (unreliable), zero when reliable. */
    t->state = IMSEC_TXN_COMPLETED;
    return wait_or_end(t, 64 * t->tm.t1, now);
  }
  return IMSEC_ERR_STATE;
}

/* One retransmit timer firing: A doubles without bound (§17.1.1.2); E
 * doubles up to T2 in Trying and is T2 in Proceeding (§17.1.2.2); G
 * doubles up to T2 (§17.2.1). */
static int fire_retx(imsec_sip_txn *t, imsec_time_ms now) {
  imsec_time_ms ival = t->retx_ival * 2;
  switch (t->kind) {
  case IMSEC_TXN_CLIENT_INVITE:
    t->fired = 'A';
    break;
  case IMSEC_TXN_CLIENT_NON_INVITE:
    t->fired = 'E';
    if (t->state == IMSEC_TXN_PROCEEDING || ival > t->tm.t2)
      ival = t->tm.t2;
    break;
  default:
    t->fired = 'G';
    if (ival > t->tm.t2)
      ival = t->tm.t2;
    break;
  }
  t->retx_ival = ival;
  t->retx_at = now + ival;
  t->retransmits++;
  if (t->kind == IMSEC_TXN_SERVER_INVITE)
    return IMSEC_TXN_RESEND_RESPONSE;
  return IMSEC_TXN_RETRANSMIT;
}

/* B, F, H: the transaction timed out. */
static int fire_fail(imsec_sip_txn *t) {
  t->fired = t->kind == IMSEC_TXN_CLIENT_INVITE       ? 'B'
             : t->kind == IMSEC_TXN_CLIENT_NON_INVITE ? 'F'
                                                      : 'H';
  return IMSEC_TXN_TIMEOUT | terminate(t);
}

/* D, K, I, J: the waiting state is over. */
static int fire_wait(imsec_sip_txn *t) {
  switch (t->kind) {
  case IMSEC_TXN_CLIENT_INVITE:
    t->fired = 'D';
    break;
  case IMSEC_TXN_CLIENT_NON_INVITE:
    t->fired = 'K';
    break;
  case IMSEC_TXN_SERVER_INVITE:
    t->fired = 'I';
    break;
  default:
    t->fired = 'J';
    break;
  }
  return terminate(t);
}

int imsec_sip_txn_on_timer(imsec_sip_txn *t, imsec_time_ms now) {
  int r = 0;
  if (t->state == IMSEC_TXN_TERMINATED)
    return 0;
  /* The timeout first: a request whose B/F passed is not sent again. */
  if (t->fail_at && now >= t->fail_at)
    return r | fire_fail(t);
  if (t->wait_at && now >= t->wait_at)
    return r | fire_wait(t);
  /* Late calls send one retransmission, not one per missed interval. */
  if (t->retx_at && now >= t->retx_at)
    r |= fire_retx(t, now);
  return r;
}

int imsec_sip_txn_on_transport_error(imsec_sip_txn *t) {
  if (t->state == IMSEC_TXN_TERMINATED)
    return 0;
  int r = 0;
  /* §17.1.4: the TU is told (as a 503, §8.1.3.1) when no final response
   * came yet. */
  if ((t->kind == IMSEC_TXN_CLIENT_INVITE ||
       t->kind == IMSEC_TXN_CLIENT_NON_INVITE) &&
      t->state != IMSEC_TXN_COMPLETED)
    r |= IMSEC_TXN_TIMEOUT;
  return r | terminate(t);
}

static void set_min(imsec_time_ms *m, imsec_time_ms v) {
  if (v && (!*m || v < *m))
    *m = v;
}

imsec_time_ms imsec_sip_txn_next(const imsec_sip_txn *t) {
  imsec_time_ms m = 0;
  set_min(&m, t->retx_at);
  set_min(&m, t->fail_at);
  set_min(&m, t->wait_at);
  return m;
}

const char *imsec_sip_txn_state_name(imsec_sip_txn_state s) {
  switch (s) {
  case IMSEC_TXN_CALLING:
    return "Calling";
  case IMSEC_TXN_TRYING:
    return "Trying";
  case IMSEC_TXN_PROCEEDING:
    return "Proceeding";
  case IMSEC_TXN_COMPLETED:
    return "Completed";
  case IMSEC_TXN_CONFIRMED:
    return "Confirmed";
  case IMSEC_TXN_TERMINATED:
    return "Terminated";
  }
  return "?";
}

static int put(char *buf, size_t cap, size_t *n, imsec_str s) {
  if (s.len > cap - *n)
    return IMSEC_ERR_NOBUF;
  if (s.len)
    memcpy(buf + *n, s.p, s.len);
  *n += s.len;
  return 0;
}

int imsec_sip_txn_key(imsec_sip_msg *m, int ack_as_invite, char *buf,
                      size_t cap) {
  const imsec_sip_via *v = NULL;
  const imsec_sip_cseq *cs = NULL;
  if (!buf || cap == 0)
    return IMSEC_ERR_NOBUF;
  if (imsec_sip_get_via(m, &v) != 0 || imsec_sip_get_cseq(m, &cs) != 0)
    return IMSEC_ERR_PARSE;
  /* §17.2.3: only the magic cookie makes a branch unique; RFC 2543
   * matching is not supported. */
  if (!imsec_str_istarts_with(v->branch, IMSEC_STR_LIT("z9hG4bK")) ||
      v->branch.len <= 7)
    return IMSEC_ERR_PARSE;
  imsec_str method = cs->method;
  if (ack_as_invite && cs->method_id == IMSEC_SIP_M_ACK)
    method = IMSEC_STR_LIT("INVITE");
  char port[8];
  size_t pn = 0;
  if (v->has_port) {
    char tmp[8];
    unsigned p = v->port;
    do {
      tmp[pn++] = (char)('0' + p % 10);
      p /= 10;
    } while (p);
    for (size_t i = 0; i < pn; i++)
      port[i] = tmp[pn - 1 - i];
  }
  size_t n = 0;
  int rc = put(buf, cap, &n, v->branch);
  if (!rc)
    rc = put(buf, cap, &n, IMSEC_STR_LIT(" "));
  if (!rc)
    rc = put(buf, cap, &n, v->host);
  if (!rc && pn) {
    rc = put(buf, cap, &n, IMSEC_STR_LIT(":"));
    if (!rc)
      rc = put(buf, cap, &n, (imsec_str){port, pn});
  }
  if (!rc)
    rc = put(buf, cap, &n, IMSEC_STR_LIT(" "));
  if (!rc)
    rc = put(buf, cap, &n, method);
  if (!rc && n >= cap)
    rc = IMSEC_ERR_NOBUF;
  if (rc)
    return rc;
  buf[n] = '\0';
  return (int)n;
}
