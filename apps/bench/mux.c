/*
 * apps/bench/mux.c: the generator's element. Many lib/ue UEs behind one
 * imsec_elem_ops on one host: the host hands every event to the mux, the
 * mux finds the UE it is for, calls it with the UE's own clock and
 * rewrites the actions the UE appended (its connect tags, timer ids and
 * service ids into the mux's space, its times into the loop's), then
 * looks at what the UE's status says about the operation in flight.
 *
 * Operations (opts.h bench_scenario): a registration on a new, resumed or
 * open connection; a MESSAGE from one UE of a pair to the other; a call
 * from one to the other (the callee answers at once, the caller hangs up
 * once its ACK is out, the call counts at the 200 to the BYE; its latency
 * runs from the INVITE to its 200). Closed loop: `conc` in flight, each
 * end starting the next. Open loop: the rate, climbing linearly over the
 * ramp, asks for operations at its own pace; when no UE is free the
 * operation fails at once ("other").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"

/* The mux's own timers, above every slot's ids (slot << 8 | UE id). */
#define T_TICK (UINT64_C(1) << 63)
#define T_PACE (T_TICK | 1)
#define TICK_MS 100
/* Connect tags: (slot + 1) << 32 | gen << 24 | the UE's tag (24 bits, a
 * new one per connection attempt of one UE object). */
#define TAG_UE_MASK UINT64_C(0xffffff)
/* Service ids: (slot + 1) << 40 | gen << 32 | the UE's id. */
#define SVC_UE_MASK UINT64_C(0xffffffff)

static int64_t ns_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t sec_of(const eng *e, imsec_time_ms now) {
  return now > e->t0_ms ? (uint32_t)((now - e->t0_ms) / 1000) : 0;
}

static void note(eng *e, const char *line) {
  if (e->sink->note)
    e->sink->note(e->sink->arg, line);
}

/* ------------------------------------------------------------ the UEs */

static const bench_cred *cred_of(const eng *e, uint32_t i) {
  return &e->cr->v[e->s[i].cred];
}

/* Make slot i's UE from its credentials (the UE copies what it keeps). */
static int ue_make(eng *e, uint32_t i) {
  eng_slot *s = &e->s[i];
  const bench_cred *c = cred_of(e, i);
  const bench_opts *o = e->o;
  const char *impus[] = {c->impu};
  imsec_ue_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.impi = c->impi;
  cfg.impus = impus;
  cfg.n_impus = 1;
  cfg.home_domain = e->home;
  cfg.trust_domain = e->trust_domain;
  if (e->cr->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    size_t n = strlen(c->password);
    if (n > sizeof cfg.password)
      return IMSEC_ERR_CONFIG;
    memcpy(cfg.password, c->password, n);
    cfg.password_len = n;
  } else {
    memcpy(cfg.k, c->k, sizeof cfg.k);
    memcpy(cfg.opc, c->opc, sizeof cfg.opc);
    cfg.has_opc = 1;
    cfg.amf[0] = 0x80;
    /* The SQN this slot's UEs accepted so far in this run (each UE made
     * again would otherwise start from the file's). */
    int rc = imsec_ue_sqn_load(s->sqn, NULL, &cfg.sqn);
    if (rc != 0)
      return rc;
  }
  cfg.pcscf = o->target;
  cfg.pcscf.tp = o->mode == BENCH_MODE_DTLS  ? IMSEC_TP_DTLS
                 : o->mode == BENCH_MODE_TCP ? IMSEC_TP_TCP
                                             : IMSEC_TP_TLS;
  cfg.allow_plain = o->mode == BENCH_MODE_TCP;
  cfg.pcscf_name = e->server_name;
  cfg.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
  cfg.expires = o->expires;
  /* The operation's deadline is the mux's (expire_ops: TIMEOUT); the
   * UE's own comes a little later so it does not end it first as a
   * plain failure. */
  cfg.txn_timeout_ms = (o->timeout_ms ? o->timeout_ms : 10000) + 1000;
  /* One attempt: a failure is the operation's outcome, not a retry. */
  cfg.max_connect_attempts = 1;
  cfg.answer = IMSEC_UE_ANSWER_AUTO;
  if (o->mode == BENCH_MODE_M3) {
    cfg.psk_identity = c->impi;
    memcpy(cfg.psk, c->psk, c->psk_len);
    cfg.psk_len = c->psk_len;
  }
  int rc = imsec_ue_new(&s->ue, &cfg, e->crypto);
  imsec_wipe(&cfg, sizeof cfg);
  if (rc == 0)
    s->gen++;
  return rc;
}

/* Rewrite the actions UE i appended from out->acts[from]. */
static void remap(eng *e, uint32_t i, imsec_out *out, size_t from) {
  eng_slot *s = &e->s[i];
  size_t w = from;
  for (size_t k = from; k < out->n; k++) {
    imsec_act *a = &out->acts[k];
    /* The UEs' own log lines: thousands of UEs failing alike would flood
     * stderr; the first failure of each kind reaches the sink's note. */
    if (a->kind == IMSEC_ACT_LOG) {
      free(a->data);
      continue;
    }
    if (w != k)
      out->acts[w] = *a;
    a = &out->acts[w++];
    switch (a->kind) {
    case IMSEC_ACT_CONNECT:
      a->tag = ((uint64_t)(i + 1) << 32) | ((uint64_t)s->gen << 24) |
               (a->tag & TAG_UE_MASK);
      /* M2a: the UE dials with its own certificate (profile "uI"). */
      if (e->o->mode == BENCH_MODE_M2A) {
        if (!a->tls && !(a->tls = calloc(1, sizeof *a->tls))) {
          out->err = IMSEC_ERR_NOMEM;
          break;
        }
        snprintf(a->tls->profile, sizeof a->tls->profile, "u%u", i);
      }
      break;
    case IMSEC_ACT_REQUEST:
    case IMSEC_ACT_PERSIST:
      if (!a->svc)
        break;
      /* The SQN the UE makes durable: kept for the next UE of the slot. */
      if (a->svc->kind == IMSEC_SVC_UE_SQN)
        memcpy(s->sqn, a->svc->sqn_ms, sizeof s->sqn);
      a->svc->id = ((uint64_t)(i + 1) << 40) | ((uint64_t)s->gen << 32) |
                   (a->svc->id & SVC_UE_MASK);
      break;
    case IMSEC_ACT_TIMER:
      a->timer = ((uint64_t)i << 8) | (a->timer & 0xff);
      if (a->at)
        a->at -= s->off;
      break;
    default:
      break;
    }
  }
  out->n = w;
}

/* Keep the flow map in step with the UE's flow. */
static void flow_set(eng *e, uint32_t i, uint64_t flow) {
  eng_slot *s = &e->s[i];
  if (s->flow == flow)
    return;
  if (s->flow)
    (void)imsec_map_del(&e->flows, s->flow);
  s->flow = 0;
  if (flow &&
      imsec_map_put(&e->flows, flow, (void *)(uintptr_t)(i + 1), NULL) == 0)
    s->flow = flow;
}

static void reg_set(eng *e, uint32_t i, int reg) {
  eng_slot *s = &e->s[i];
  if (s->reg == (unsigned)!!reg)
    return;
  s->reg = (uint8_t) !!reg;
  if (reg)
    e->registered++;
  else
    e->registered--;
}

/* Drop slot i's UE: close its flow, forget it. */
static void retire(eng *e, uint32_t i, imsec_out *out) {
  eng_slot *s = &e->s[i];
  if (s->flow)
    (void)imsec_out_close(out, s->flow);
  flow_set(e, i, 0);
  reg_set(e, i, 0);
  imsec_ue_del(s->ue);
  s->ue = NULL;
  s->dereg = 0;
}

/* ------------------------------------------------------------ units */

static void ring_push(eng *e, uint32_t u) {
  if (e->u[u].in_ring)
    return;
  e->u[u].in_ring = 1;
  e->ring[(e->ring_head + e->ring_n) % e->n_units] = u;
  e->ring_n++;
}

static uint32_t ring_pop(eng *e) {
  if (!e->ring_n)
    return ENG_NIL;
  uint32_t u = e->ring[e->ring_head];
  e->ring_head = (e->ring_head + 1) % e->n_units;
  e->ring_n--;
  e->u[u].in_ring = 0;
  return u;
}

static void fl_push(eng *e, uint32_t ui) {
  eng_unit *u = &e->u[ui];
  u->next = ENG_NIL;
  u->prev = e->fl_tail;
  if (e->fl_tail != ENG_NIL)
    e->u[e->fl_tail].next = ui;
  else
    e->fl_head = ui;
  e->fl_tail = ui;
}

static void fl_del(eng *e, uint32_t ui) {
  eng_unit *u = &e->u[ui];
  if (u->prev != ENG_NIL)
    e->u[u->prev].next = u->next;
  else
    e->fl_head = u->next;
  if (u->next != ENG_NIL)
    e->u[u->next].prev = u->prev;
  else
    e->fl_tail = u->prev;
  u->prev = u->next = ENG_NIL;
}

static void finish(eng *e, imsec_time_ms now);
static void fill(eng *e, imsec_time_ms now, imsec_out *out);
static void dereg_fill(eng *e, imsec_time_ms now, imsec_out *out);
static int64_t deadline_of(const eng *e, imsec_time_ms now);

static const char *sc_name(unsigned sc) {
  return bench_scenario_name((bench_scenario)sc);
}

static void report(eng *e, uint8_t sc, imsec_bench_outcome oc, int status,
                   uint64_t lat_us, imsec_time_ms now, const char *why) {
  int sip = oc >= IMSEC_BENCH_SIP_3XX && oc <= IMSEC_BENCH_SIP_6XX;
  bench_done d = {.sec = sec_of(e, now),
                  .scenario = sc,
                  .outcome = (uint8_t)oc,
                  .status = (uint16_t)(sip && status > 0 ? status : 0),
                  .latency_us = lat_us};
  if (e->sink->done)
    e->sink->done(e->sink->arg, &d);
  if (oc != IMSEC_BENCH_OK && !(e->noted & (1u << oc))) {
    e->noted |= 1u << oc;
    char line[512];
    snprintf(line, sizeof line, "first %s failure: %s%s%s", sc_name(sc),
             imsec_bench_outcome_name(oc), why && *why ? ": " : "",
             why ? why : "");
    note(e, line);
  }
}

/* The operation of unit ui ended. */
static void op_end(eng *e, uint32_t ui, imsec_bench_outcome oc, int status,
                   uint64_t lat_us, const char *why, imsec_time_ms now,
                   imsec_out *out) {
  eng_unit *u = &e->u[ui];
  if (u->kind == ENG_OP_NONE)
    return;
  fl_del(e, ui);
  e->in_flight--;
  int warm = u->warm;
  u->kind = ENG_OP_NONE;
  for (uint32_t k = 0; k < e->g; k++)
    e->s[ui * e->g + k].want = 0;
  /* An operation cut off by the end of the run (its flow refused once
   * the run is done) is neither a success nor a failure of the run. */
  if (!warm && e->phase != ENG_DONE)
    report(e, u->sc, oc, status, lat_us, now, why);
  else if (oc != IMSEC_BENCH_OK && !e->noted_warm) {
    e->noted_warm = 1;
    char line[512];
    snprintf(line, sizeof line, "a warm-up registration failed: %s%s%s",
             imsec_bench_outcome_name(oc), why && *why ? ": " : "",
             why ? why : "");
    note(e, line);
  }
  /* A UE in a state the next operation cannot build on goes; the next
   * one made in its slot registers first. */
  for (uint32_t k = 0; k < e->g; k++) {
    uint32_t i = ui * e->g + k;
    eng_slot *s = &e->s[i];
    if (!s->ue)
      continue;
    imsec_ue_state st;
    {
      imsec_ue_status x;
      imsec_ue_get_status(s->ue, &x);
      st = x.state;
    }
    /* Registrations alone, each on a new connection: the slot's next
     * registration makes a new UE anyway, so this one goes now (its
     * connection closed at the operation's end, as SIPp -t tn closes its
     * socket at a call's end) and the next UE reuses its memory; kept,
     * every registration of a first pass through the credentials grew
     * the heap by a UE (page faults: 10-20% of the CPU in open loop). */
    if (oc == IMSEC_BENCH_TIMEOUT || st == IMSEC_UE_FAILED ||
        st == IMSEC_UE_REFUSED ||
        (e->g == 1 && !e->o->hold && e->o->conn == BENCH_CONN_NEW &&
         e->phase == ENG_RUN))
      retire(e, i, out);
  }
  if (e->phase == ENG_RUN || e->phase == ENG_WARM) {
    if (!u->held)
      ring_push(e, ui);
    fill(e, now, out);
  } else if (e->phase == ENG_HOLD && !u->held) {
    ring_push(e, ui);
  }
}

/* How a registration of slot i failed, from its UE's status. */
static imsec_bench_outcome reg_outcome(const eng_slot *s,
                                       const imsec_ue_status *st, int *status) {
  *status = 0;
  if (st->state == IMSEC_UE_REFUSED && st->last_status == 0)
    return IMSEC_BENCH_TLS_ALERT; /* the trust decision refused the P-CSCF */
  if (st->last_status >= 300) {
    *status = (int)st->last_status;
    return imsec_bench_outcome_of_status((int)st->last_status);
  }
  if (s->down == IMSEC_ERR_AUTH)
    return IMSEC_BENCH_TLS_ALERT; /* the handshake failed */
  if (s->down == IMSEC_ERR_TIMEOUT)
    return IMSEC_BENCH_TIMEOUT;
  return IMSEC_BENCH_OTHER;
}

/* Look at unit ui's operation after an event. */
static void progress(eng *e, uint32_t ui, imsec_time_ms now, imsec_out *out) {
  eng_unit *u = &e->u[ui];
  uint32_t a = ui * e->g;
  eng_slot *sa = &e->s[a];
  imsec_ue_status st;
  switch ((eng_kind)u->kind) {
  case ENG_OP_NONE:
    return;
  case ENG_OP_REG: {
    int pending = 0;
    for (uint32_t k = 0; k < e->g; k++) {
      eng_slot *s = &e->s[a + k];
      if (!s->want)
        continue;
      if (!s->ue) {
        op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, "no UE", now, out);
        return;
      }
      imsec_ue_get_status(s->ue, &st);
      if (st.state == IMSEC_UE_REFUSED || st.state == IMSEC_UE_FAILED) {
        int status;
        imsec_bench_outcome oc = reg_outcome(s, &st, &status);
        op_end(e, ui, oc, status, 0, st.error, now, out);
        return;
      }
      if (st.registrations > s->regs && st.state == IMSEC_UE_REGISTERED)
        s->want = 0;
      else
        pending = 1;
    }
    if (!pending)
      op_end(e, ui, IMSEC_BENCH_OK, 0, (uint64_t)(ns_now() - u->t_ns) / 1000,
             NULL, now, out);
    return;
  }
  case ENG_OP_MSG: {
    if (!sa->ue) {
      op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, "no UE", now, out);
      return;
    }
    int r = imsec_ue_message_result(sa->ue, u->handle);
    if (r == 0)
      return;
    if (r >= 200 && r < 300)
      op_end(e, ui, IMSEC_BENCH_OK, r, (uint64_t)(ns_now() - u->t_ns) / 1000,
             NULL, now, out);
    else if (r == 408)
      op_end(e, ui, IMSEC_BENCH_TIMEOUT, r, 0, "408", now, out);
    else if (r >= 300) {
      char why[32];
      snprintf(why, sizeof why, "%d", r);
      op_end(e, ui, imsec_bench_outcome_of_status(r), r, 0, why, now, out);
    } else
      op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, imsec_strerror(r), now, out);
    return;
  }
  case ENG_OP_CALL: {
    if (!sa->ue) {
      op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, "no UE", now, out);
      return;
    }
    imsec_ue_call_info ci;
    if (imsec_ue_call_get(sa->ue, u->handle, &ci) != 0) {
      op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, "the call is gone", now, out);
      return;
    }
    if (!u->answered && ci.state == IMSEC_UE_CALL_CONFIRMED) {
      u->answered = 1;
      u->lat_us = (uint64_t)(ns_now() - u->t_ns) / 1000;
      /* The ACK is out: hang up (RFC 3261 §15.1.1). */
      size_t n0 = out->n;
      int rc = imsec_ue_call_hangup(sa->ue, u->handle, now + sa->off, out);
      remap(e, a, out, n0);
      if (rc != 0)
        op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, imsec_strerror(rc), now, out);
      return;
    }
    if (ci.state != IMSEC_UE_CALL_ENDED)
      return;
    if (u->answered && ci.end == IMSEC_UE_END_LOCAL_BYE &&
        ci.bye_status >= 200 && ci.bye_status < 300) {
      op_end(e, ui, IMSEC_BENCH_OK, 200, u->lat_us, NULL, now, out);
      return;
    }
    char why[128];
    snprintf(why, sizeof why, "ended %s, INVITE %u, BYE %u",
             imsec_ue_call_end_name(ci.end), ci.final_status, ci.bye_status);
    unsigned code = !u->answered ? ci.final_status : ci.bye_status;
    if (ci.end == IMSEC_UE_END_TIMEOUT || code == 408)
      op_end(e, ui, IMSEC_BENCH_TIMEOUT, (int)code, 0, why, now, out);
    else if (code >= 300)
      op_end(e, ui, imsec_bench_outcome_of_status((int)code), (int)code, 0, why,
             now, out);
    else
      op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, why, now, out);
    return;
  }
  }
}

/* After any event of slot i's UE: its flow, its registration, its inbox
 * (a callee's MESSAGEs are dropped as they come), the unit's operation,
 * a re-registration the UE made on its own (a hold), a de-registration. */
static void after(eng *e, uint32_t i, imsec_time_ms now, imsec_out *out) {
  eng_slot *s = &e->s[i];
  if (!s->ue)
    return;
  imsec_ue_status st;
  imsec_ue_get_status(s->ue, &st);
  flow_set(e, i, st.flow);
  reg_set(e, i, st.state == IMSEC_UE_REGISTERED);
  imsec_ue_message m;
  while (imsec_ue_inbox_pop(s->ue, &m))
    imsec_ue_message_free(&m);
  if (s->dereg && st.state != IMSEC_UE_REGISTERED) {
    s->dereg = 0;
    e->dereg_busy--;
    /* The end waits while de-registrations progress, however many. */
    e->dereg_until = deadline_of(e, now);
    dereg_fill(e, now, out);
    return;
  }
  progress(e, i / e->g, now, out);
}

/* ------------------------------------------------------------ starting */

static int64_t deadline_of(const eng *e, imsec_time_ms now) {
  return now + (e->o->timeout_ms ? e->o->timeout_ms : 10000);
}

static void op_begin(eng *e, uint32_t ui, eng_kind kind, uint8_t sc, int warm,
                     imsec_time_ms now) {
  eng_unit *u = &e->u[ui];
  u->kind = (uint8_t)kind;
  u->sc = sc;
  u->warm = (uint8_t)warm;
  u->answered = 0;
  u->handle = 0;
  u->lat_us = 0;
  u->t_ns = ns_now();
  u->deadline = deadline_of(e, now);
  fl_push(e, ui);
  e->in_flight++;
}

/* Start registering slot i (its `want` set): a re-REGISTER on its open
 * connection, or a new UE (new or resumed connection, or none yet). */
static int reg_slot(eng *e, uint32_t i, int open, imsec_time_ms now,
                    imsec_out *out) {
  eng_slot *s = &e->s[i];
  s->want = 1;
  s->down = 0;
  if (open && s->ue && s->reg) {
    imsec_ue_status st;
    imsec_ue_get_status(s->ue, &st);
    s->regs = st.registrations;
    /* Bring the UE's clock to its re-registration time and fire its
     * timer (the UE checks its own deadline). */
    if (st.rereg_at > now + s->off)
      s->off = st.rereg_at - now;
    size_t n0 = out->n;
    imsec_ue_on_timer(s->ue, IMSEC_UE_TIMER_REREG, now + s->off, out);
    remap(e, i, out, n0);
    return 0;
  }
  if (s->ue)
    retire(e, i, out);
  s->off = 0;
  s->regs = 0;
  int rc = ue_make(e, i);
  if (rc == 0) {
    size_t n0 = out->n;
    rc = imsec_ue_start(s->ue, now, out);
    remap(e, i, out, n0);
  }
  return rc;
}

/* A registration of the slots of unit ui that want one (warm: every slot
 * not registered; else slot `who`). */
static void start_reg(eng *e, uint32_t ui, int warm, uint32_t who,
                      imsec_time_ms now, imsec_out *out) {
  op_begin(e, ui, ENG_OP_REG, BENCH_SC_REGISTER, warm, now);
  int open = e->o->conn == BENCH_CONN_OPEN;
  int rc = 0;
  for (uint32_t k = 0; k < e->g && rc == 0; k++) {
    uint32_t i = ui * e->g + k;
    if (warm ? !e->s[i].reg : k == who)
      rc = reg_slot(e, i, open, now, out);
  }
  if (rc != 0) {
    op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, imsec_strerror(rc), now, out);
    return;
  }
  progress(e, ui, now, out);
}

static int unit_ready(const eng *e, uint32_t ui) {
  for (uint32_t k = 0; k < e->g; k++)
    if (!e->s[ui * e->g + k].reg)
      return 0;
  return 1;
}

/* The next scenario by the weights (smooth weighted round robin: the
 * mix holds in every short stretch of operations, not only on average). */
static uint8_t pick(eng *e) {
  int64_t total = 0;
  int best = -1;
  for (int k = 0; k < BENCH_SC_N; k++) {
    int64_t w = e->o->weight[k];
    if (!w)
      continue;
    total += w;
    e->cur_w[k] += w;
    if (best < 0 || e->cur_w[k] > e->cur_w[best])
      best = k;
  }
  if (best < 0)
    return BENCH_SC_REGISTER;
  e->cur_w[best] -= total;
  return (uint8_t)best;
}

/* Start one reported operation on unit ui. */
static void start_op(eng *e, uint32_t ui, imsec_time_ms now, imsec_out *out) {
  eng_unit *u = &e->u[ui];
  uint8_t sc = pick(e);
  if (sc != BENCH_SC_REGISTER && !unit_ready(e, ui)) {
    /* A UE of the pair lost its registration: register it first, not
     * reported, and keep the operation for later. */
    start_reg(e, ui, 1, 0, now, out);
    return;
  }
  e->started++;
  if (sc == BENCH_SC_REGISTER) {
    uint32_t who = e->g == 2 ? u->flip : 0;
    u->flip = (uint8_t)!u->flip;
    start_reg(e, ui, 0, who, now, out);
    return;
  }
  uint32_t a = ui * e->g, b = a + 1;
  eng_slot *sa = &e->s[a];
  const char *to = cred_of(e, b)->impu;
  op_begin(e, ui, sc == BENCH_SC_MESSAGE ? ENG_OP_MSG : ENG_OP_CALL, sc, 0,
           now);
  size_t n0 = out->n;
  int h;
  if (sc == BENCH_SC_MESSAGE) {
    static const char body[] = "imsec bench";
    h = imsec_ue_send_message(sa->ue, to, NULL, (const uint8_t *)body,
                              sizeof body - 1, now + sa->off, out);
  } else {
    h = imsec_ue_call(sa->ue, to, now + sa->off, out);
  }
  remap(e, a, out, n0);
  if (h <= 0) {
    op_end(e, ui, IMSEC_BENCH_OTHER, 0, 0, imsec_strerror(h), now, out);
    return;
  }
  u->handle = h;
}

static int count_left(const eng *e) {
  return !e->count || e->started < e->count;
}

static void pace(eng *e, imsec_time_ms now, imsec_out *out);

/* The measured operations begin (the open loop's rate counts from now). */
static void run_begin(eng *e, imsec_time_ms now, imsec_out *out) {
  e->phase = ENG_RUN;
  e->pace_t0 = now;
  fill(e, now, out);
  if (!e->conc)
    pace(e, now, out);
}

/* Warm-up: register the UEs the operations need, `conc` at a time (the
 * open loop: 64), not reported. */
static void warm_fill(eng *e, imsec_time_ms now, imsec_out *out) {
  uint32_t conc = e->conc ? e->conc : 64;
  while (e->phase == ENG_WARM && e->warm_next < e->n_units &&
         e->in_flight < conc) {
    uint32_t ui = e->warm_next++;
    if (unit_ready(e, ui))
      continue;
    start_reg(e, ui, 1, 0, now, out);
  }
  if (e->phase == ENG_WARM && e->warm_next >= e->n_units && !e->in_flight)
    run_begin(e, now, out);
}

/* Hold: register each unit once, at the loop's pace (closed loop here;
 * the open loop in pace()). */
static void hold_check(eng *e, imsec_time_ms now) {
  if (e->phase == ENG_RUN && e->hold_next >= e->n_units && !e->in_flight)
    e->phase = ENG_HOLD;
  (void)now;
}

static void hold_one(eng *e, imsec_time_ms now, imsec_out *out) {
  uint32_t ui = e->hold_next++;
  e->u[ui].held = 1;
  e->started++;
  start_reg(e, ui, 0, 0, now, out);
}

/* Closed loop: start operations until `conc` are in flight. */
static void fill(eng *e, imsec_time_ms now, imsec_out *out) {
  if (e->phase == ENG_WARM) {
    warm_fill(e, now, out);
    return;
  }
  if (e->phase != ENG_RUN)
    return;
  if (e->o->hold) {
    while (e->conc && e->hold_next < e->n_units && e->in_flight < e->conc)
      hold_one(e, now, out);
    hold_check(e, now);
    return;
  }
  while (e->conc && e->in_flight < e->conc && count_left(e)) {
    uint32_t ui = ring_pop(e);
    if (ui == ENG_NIL)
      break;
    start_op(e, ui, now, out);
  }
  if (e->count && e->started >= e->count && !e->in_flight)
    finish(e, now);
}

/* The open loop's operations asked for by `ms` after pace_t0: the rate
 * climbs linearly from 0 over the ramp, then holds. */
static double paced_by(const eng *e, double t) {
  double r = e->rate, ramp = e->o->ramp_s;
  if (t <= 0)
    return 0;
  if (ramp <= 0)
    return r * t;
  if (t < ramp)
    return r * t * t / (2 * ramp);
  return r * ramp / 2 + r * (t - ramp);
}

/* When (s after pace_t0) the k-th operation is due. */
static double due_at(const eng *e, double k) {
  double r = e->rate, ramp = e->o->ramp_s;
  if (ramp <= 0)
    return k / r;
  if (k <= r * ramp / 2)
    return sqrt(2 * ramp * k / r);
  return k / r + ramp / 2;
}

static void pace(eng *e, imsec_time_ms now, imsec_out *out) {
  if (e->phase != ENG_RUN || e->conc || e->rate <= 0)
    return;
  uint64_t want = (uint64_t)paced_by(e, (double)(now - e->pace_t0) / 1000.0);
  while (e->paced < want && e->phase == ENG_RUN) {
    if (e->o->hold) {
      if (e->hold_next >= e->n_units)
        break;
      e->paced++;
      hold_one(e, now, out);
      continue;
    }
    if (!count_left(e))
      break;
    e->paced++;
    uint32_t ui = ring_pop(e);
    if (ui == ENG_NIL) {
      e->started++;
      if (!e->noted_busy) {
        e->noted_busy = 1;
        note(e, "no UE free for an operation the rate asked for: counted "
                "as failed (other); more UEs (--ues) or a lower rate");
      }
      report(e, pick(e), IMSEC_BENCH_OTHER, 0, 0, now, "no UE free");
      continue;
    }
    start_op(e, ui, now, out);
  }
  if (e->o->hold)
    hold_check(e, now);
  else if (e->count && e->started >= e->count) {
    if (!e->in_flight)
      finish(e, now);
    return;
  }
  if (e->phase == ENG_RUN && (!e->o->hold || e->hold_next < e->n_units)) {
    double t = due_at(e, (double)e->paced + 1);
    imsec_time_ms at = e->pace_t0 + (imsec_time_ms)ceil(t * 1000.0);
    (void)imsec_out_timer(out, T_PACE, at > now ? at : now + 1);
  }
}

/* ------------------------------------------------------------ the end */

static void finish(eng *e, imsec_time_ms now) {
  if (e->phase == ENG_DONE)
    return;
  e->phase = ENG_DONE;
  /* --register resumed: say whether the server resumed at all (one
   * without session tickets never does, and every handshake was full). */
  if (e->o->conn == BENCH_CONN_RESUMED && e->handshakes) {
    char line[160];
    snprintf(line, sizeof line,
             "%llu of %llu TLS connections resumed a session",
             (unsigned long long)e->resumed, (unsigned long long)e->handshakes);
    note(e, line);
  }
  if (e->sink->tick)
    e->sink->tick(e->sink->arg, e->in_flight, e->registered, sec_of(e, now), 1);
  atomic_store(&e->done, 1);
}

/* Hold's end: de-register every registered UE, a few at a time. */
static void dereg_fill(eng *e, imsec_time_ms now, imsec_out *out) {
  uint32_t conc = e->conc ? e->conc : 64;
  if (conc < 256)
    conc = 256;
  /* Newest first (dereg_next counts down from n_slots): net/ finds a
   * closed flow fastest among the newest flows to the same peer. */
  while (e->dereg_next > 0 && e->dereg_busy < conc) {
    uint32_t i = --e->dereg_next;
    eng_slot *s = &e->s[i];
    if (!s->ue || !s->reg)
      continue;
    size_t n0 = out->n;
    int rc = imsec_ue_deregister(s->ue, now + s->off, out);
    remap(e, i, out, n0);
    if (rc == 0) {
      s->dereg = 1;
      e->dereg_busy++;
    }
  }
  if ((e->dereg_next == 0 && !e->dereg_busy) || now >= e->dereg_until)
    finish(e, now);
}

static void dereg_begin(eng *e, imsec_time_ms now, imsec_out *out) {
  e->phase = ENG_DEREG;
  e->dereg_next = e->n_slots;
  e->dereg_until = deadline_of(e, now);
  dereg_fill(e, now, out);
}

/* The run's time is up (or a signal came). */
static void time_up(eng *e, imsec_time_ms now, imsec_out *out) {
  if (e->phase == ENG_WARM) {
    char line[200];
    snprintf(line, sizeof line,
             "the time was up before the warm-up ended (%u of %u UE groups "
             "registered): nothing was measured; a longer -t or fewer UEs",
             e->warm_next > e->in_flight ? e->warm_next - e->in_flight : 0,
             e->n_units);
    note(e, line);
  }
  if (e->o->hold && e->phase != ENG_DEREG && e->phase != ENG_DONE)
    dereg_begin(e, now, out);
  else
    finish(e, now);
}

/* Operations past their deadline fail (TIMEOUT); the oldest first. */
static void expire_ops(eng *e, imsec_time_ms now, imsec_out *out) {
  while (e->fl_head != ENG_NIL && e->u[e->fl_head].deadline <= now)
    op_end(e, e->fl_head, IMSEC_BENCH_TIMEOUT, 0, 0, "no answer in time", now,
           out);
}

static void tick(eng *e, imsec_time_ms now, imsec_out *out) {
  expire_ops(e, now, out);
  if (e->phase == ENG_DEREG)
    dereg_fill(e, now, out);
  if (e->phase != ENG_DONE && now >= e->end_ms)
    time_up(e, now, out);
  if (e->phase == ENG_DONE)
    return;
  if (e->sink->tick)
    e->sink->tick(e->sink->arg, e->in_flight, e->registered, sec_of(e, now), 0);
  (void)imsec_out_timer(out, T_TICK, now + TICK_MS);
}

/* ------------------------------------------------------------ element */

static uint32_t slot_of_tag(const eng *e, uint64_t tag, int *stale) {
  uint64_t i = (tag >> 32) - 1;
  if ((tag >> 32) == 0 || i >= e->n_slots) {
    *stale = 1;
    return ENG_NIL;
  }
  *stale = !e->s[i].ue || ((tag >> 24) & 0xff) != e->s[i].gen;
  return (uint32_t)i;
}

static uint32_t slot_of_flow(const eng *e, uint64_t flow) {
  uintptr_t v = (uintptr_t)imsec_map_get(&e->flows, flow);
  return v ? (uint32_t)(v - 1) : ENG_NIL;
}

static int mx_up(void *self, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  eng *e = self;
  int stale;
  uint32_t i = slot_of_tag(e, tag, &stale);
  if (stale || e->phase == ENG_DONE)
    return IMSEC_ERR_STATE;
  eng_slot *s = &e->s[i];
  if (info && info->tls_version) {
    e->handshakes++;
    e->resumed += info->resumed ? 1 : 0;
  }
  size_t n0 = out->n;
  int r = imsec_ue_on_flow_up(s->ue, flow, tag & TAG_UE_MASK, info,
                              now + s->off, out);
  remap(e, i, out, n0);
  after(e, i, now, out);
  return r;
}

static void mx_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  eng *e = self;
  uint32_t i = slot_of_flow(e, flow);
  if (i == ENG_NIL || !e->s[i].ue)
    return;
  eng_slot *s = &e->s[i];
  size_t n0 = out->n;
  imsec_ue_on_message(s->ue, flow, msg, len, now + s->off, out);
  remap(e, i, out, n0);
  after(e, i, now, out);
}

static void mx_refused(void *self, uint64_t flow, int reason,
                       const uint8_t *head, size_t len, imsec_time_ms now,
                       imsec_out *out) {
  eng *e = self;
  uint32_t i = slot_of_flow(e, flow);
  if (i == ENG_NIL || !e->s[i].ue)
    return;
  eng_slot *s = &e->s[i];
  size_t n0 = out->n;
  imsec_ue_on_refused(s->ue, flow, reason, head, len, now + s->off, out);
  remap(e, i, out, n0);
  after(e, i, now, out);
}

static void mx_down(void *self, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  eng *e = self;
  int stale = 1;
  uint32_t i = tag ? slot_of_tag(e, tag, &stale) : slot_of_flow(e, flow);
  if (i == ENG_NIL || (tag && stale) || !e->s[i].ue)
    return;
  eng_slot *s = &e->s[i];
  /* A flow of the slot's UE other than its current one (the UE moved on). */
  if (flow && s->flow && s->flow != flow)
    return;
  if (flow && s->flow == flow)
    flow_set(e, i, 0);
  s->down = reason;
  size_t n0 = out->n;
  imsec_ue_on_flow_down(s->ue, flow, tag & TAG_UE_MASK, reason, now + s->off,
                        out);
  remap(e, i, out, n0);
  after(e, i, now, out);
}

static void mx_timer(void *self, uint64_t id, imsec_time_ms now,
                     imsec_out *out) {
  eng *e = self;
  if (id == T_TICK) {
    tick(e, now, out);
    return;
  }
  if (id == T_PACE) {
    expire_ops(e, now, out);
    pace(e, now, out);
    return;
  }
  uint64_t i = id >> 8;
  if (i >= e->n_slots || !e->s[i].ue)
    return;
  eng_slot *s = &e->s[i];
  uint32_t ui = (uint32_t)i / e->g;
  /* A registered idle UE re-registering on its own (a hold longer than
   * half the expiry): a register operation. */
  if ((id & 0xff) == IMSEC_UE_TIMER_REREG && s->reg &&
      e->u[ui].kind == ENG_OP_NONE && e->phase == ENG_HOLD) {
    imsec_ue_status st;
    imsec_ue_get_status(s->ue, &st);
    if (st.rereg_at && st.rereg_at <= now + s->off) {
      op_begin(e, ui, ENG_OP_REG, BENCH_SC_REGISTER, 0, now);
      e->started++;
      s->want = 1;
      s->regs = st.registrations;
    }
  }
  size_t n0 = out->n;
  imsec_ue_on_timer(s->ue, id & 0xff, now + s->off, out);
  remap(e, (uint32_t)i, out, n0);
  after(e, (uint32_t)i, now, out);
}

static void mx_reply(void *self, const imsec_svc_reply *r, imsec_time_ms now,
                     imsec_out *out) {
  eng *e = self;
  uint64_t i = (r->id >> 40) - 1;
  if ((r->id >> 40) == 0 || i >= e->n_slots || !e->s[i].ue ||
      ((r->id >> 32) & 0xff) != e->s[i].gen)
    return;
  eng_slot *s = &e->s[i];
  imsec_svc_reply mine = *r;
  mine.id = r->id & SVC_UE_MASK;
  size_t n0 = out->n;
  imsec_ue_on_reply(s->ue, &mine, now + s->off, out);
  remap(e, (uint32_t)i, out, n0);
  after(e, (uint32_t)i, now, out);
}

static void mx_start(void *self, imsec_time_ms now, imsec_out *out) {
  eng *e = self;
  e->pace_t0 = now;
  (void)imsec_out_timer(out, T_TICK, now + TICK_MS);
  if (e->sink->tick)
    e->sink->tick(e->sink->arg, 0, 0, sec_of(e, now), 0);
  if (now >= e->end_ms) {
    time_up(e, now, out);
    return;
  }
  if (e->phase == ENG_WARM)
    warm_fill(e, now, out);
  else
    run_begin(e, now, out);
}

static int mx_done(const void *self) {
  return atomic_load(&((const eng *)self)->done);
}

const imsec_elem_ops bench_mux_ops = {
    .kind = "bench",
    .on_flow_up = mx_up,
    .on_message = mx_msg,
    .on_flow_down = mx_down,
    .on_timer = mx_timer,
    .on_refused = mx_refused,
    .on_start = mx_start,
    .on_reply = mx_reply,
    .done = mx_done,
};

void eng_stop_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)arg;
  eng *e = self;
  if (e->phase != ENG_DONE)
    time_up(e, now, out);
}

void eng_retire_fn(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)arg;
  eng *e = self;
  if (e->phase != ENG_DONE)
    finish(e, now);
  /* Newest first, as dereg_fill. */
  for (uint32_t i = e->n_slots; i-- > 0;)
    if (e->s[i].ue)
      retire(e, i, out);
}
