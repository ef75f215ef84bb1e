/* Failover among a home domain's S-CSCFs (routes sharing a domain form a
 * group, members in priority order): RFC 3263 §4.3 asks a client to try
 * the next server when one cannot be reached or answers 503; TS 24.229
 * §5.2.2.1 leaves the choice of the S-CSCF's entry point to the P-CSCF's
 * configuration. A member is marked dead when it fails and is live again
 * on any response, OPTIONS pings (RFC 3261 §11) noticing its recovery. */
#include "lib/pcscf/pcscf_int.h"

#define BIT(d) ((uint32_t)1 << (d))

static int same_domain(const imsec_pcscf *p, size_t a, size_t b) {
  return imsec_str_ieq(imsec_str_c(p->cfg.routes[a].domain),
                       imsec_str_c(p->cfg.routes[b].domain));
}

/* The members of group `g` (route indexes), at most IMSEC_PCSCF_MAX_ROUTES. */
static size_t members(const imsec_pcscf *p, size_t g, size_t *out) {
  size_t n = 0;
  for (size_t j = g; j < p->cfg.n_routes; j++)
    if (same_domain(p, g, j))
      out[n++] = j;
  return n;
}

size_t pc_group_size(const imsec_pcscf *p, size_t g) {
  size_t m[IMSEC_PCSCF_MAX_ROUTES];
  return g < p->cfg.n_routes ? members(p, g, m) : 0;
}

long pc_group_of_dest(const imsec_pcscf *p, size_t di) {
  for (size_t i = 0; i < p->cfg.n_routes; i++) {
    if (p->route_dest[i] != di)
      continue;
    for (size_t g = 0; g <= i; g++)
      if (same_domain(p, g, i))
        return (long)g;
  }
  return -1;
}

/* A member of a group of two or more: only there does dead mean anything
 * (a lone S-CSCF is tried whatever its state). */
static int in_failover_group(const imsec_pcscf *p, size_t di) {
  long g = pc_group_of_dest(p, di);
  return g >= 0 && pc_group_size(p, (size_t)g) > 1;
}

void pc_groups_changed(imsec_pcscf *p) {
  p->ping_groups = 0;
  memset(p->route_cw, 0, sizeof(p->route_cw));
  if (p->cfg.options_interval_ms <= 0)
    return;
  for (size_t g = 0; g < p->cfg.n_routes && !p->ping_groups; g++)
    p->ping_groups = pc_group_size(p, g) > 1;
}

long pc_group_pick(imsec_pcscf *p, size_t g, uint32_t tried, int spread) {
  size_t m[IMSEC_PCSCF_MAX_ROUTES];
  size_t n = g < p->cfg.n_routes ? members(p, g, m) : 0;
  if (spread) {
    /* Smooth weighted round robin: each live member gains its weight,
     * the richest is chosen and pays the total; over a round every
     * member is chosen in proportion to its weight, interleaved. */
    int64_t total = 0;
    long best = -1;
    for (size_t k = 0; k < n; k++) {
      size_t j = m[k], d = p->route_dest[j];
      if (!p->cfg.routes[j].weight || p->dests[d].dead || (tried & BIT(d)))
        continue;
      p->route_cw[j] += p->cfg.routes[j].weight;
      total += p->cfg.routes[j].weight;
      if (best < 0 || p->route_cw[j] > p->route_cw[best])
        best = (long)j;
    }
    if (best >= 0) {
      p->route_cw[best] -= total;
      return (long)p->route_dest[best];
    }
  }
  for (size_t k = 0; k < n; k++) {
    size_t d = p->route_dest[m[k]];
    if (!p->dests[d].dead && !(tried & BIT(d)))
      return (long)d;
  }
  /* Every member left is dead: one of them may be back before a ping has
   * said so, and trying costs a refused connection. */
  for (size_t k = 0; k < n; k++) {
    size_t d = p->route_dest[m[k]];
    if (!(tried & BIT(d)))
      return (long)d;
  }
  return -1;
}

size_t pc_dest_live(const imsec_pcscf *p, size_t di) {
  if (di >= p->ndests || !p->dests[di].dead)
    return di;
  long g = pc_group_of_dest(p, di);
  if (g < 0)
    return di;
  size_t m[IMSEC_PCSCF_MAX_ROUTES];
  size_t n = members(p, (size_t)g, m), at = 0;
  while (at < n && p->route_dest[m[at]] != di)
    at++;
  for (size_t k = 1; k <= n; k++) {
    size_t d = p->route_dest[m[(at + k) % n]];
    if (!p->dests[d].dead)
      return d;
  }
  return di;
}

void pc_dest_dead(ev *e, size_t di, const char *why) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  if (d->dead || !in_failover_group(p, di))
    return;
  d->dead = 1;
  d->changed_at = e->now;
  LOG(e, IMSEC_LOG_WARN, S("S-CSCF "), pc_addr_str(p, &d->addr),
      S(" marked dead ("), imsec_str_c(why),
      S("); its group's next live member takes its requests"));
}

void pc_dest_alive(ev *e, size_t di) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  if (!d->dead)
    return;
  d->dead = 0;
  d->changed_at = e->now;
  LOG(e, IMSEC_LOG_INFO, S("S-CSCF "), pc_addr_str(p, &d->addr),
      S(" answers again: live"));
}

static imsec_time_ms failover_deadline(const ev *e) {
  const imsec_pcscf_config *c = &e->p->cfg;
  return e->now + (c->failover_timeout_ms < c->transaction_timeout_ms
                       ? c->failover_timeout_ms
                       : c->transaction_timeout_ms);
}

int pc_failover_register(ev *e, txn *t, const char *why) {
  imsec_pcscf *p = e->p;
  if (!t->is_register || !t->fwd || t->dest >= p->ndests)
    return 0;
  size_t old = t->dest;
  dest *od = &p->dests[old];
  pc_dest_dead(e, old, why);
  (void)pc_queue_remove(p, &od->qhead, &od->qtail, &od->qn, t->id);
  long g = pc_group_of_dest(p, old);
  long nd = g < 0 ? -1 : pc_group_pick(p, (size_t)g, t->tried, 0);
  if (nd < 0)
    return 0;
  t->out_flow = 0;
  t->dest = (size_t)nd;
  t->tried |= BIT(nd);
  t->deadline = failover_deadline(e);
  pc_arm(e, t->deadline);
  LOG(e, IMSEC_LOG_WARN, S("REGISTER from flow "), pc_num(p, t->in_flow),
      S(": S-CSCF "), pc_addr_str(p, &od->addr), S(" failed ("),
      imsec_str_c(why), S("); sent again to "),
      pc_addr_str(p, &p->dests[nd].addr));
  memcpy(p->outbuf, t->fwd, t->fwd_len);
  return pc_send_raw(e, (size_t)nd, t->fwd_len, t) == 0;
}

void pc_dest_failed(ev *e, size_t di, const char *why) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  pc_dest_dead(e, di, why);
  /* Take the queue first: what is sent again may queue elsewhere. */
  qmsg *q = d->qhead;
  d->qhead = d->qtail = NULL;
  d->qn = 0;
  size_t moved = 0, refused = 0;
  while (q) {
    qmsg *next = q->next;
    txn *t = q->has_txn ? imsec_map_get(&p->txns, q->txn) : NULL;
    p->queued--;
    if (t && t->is_ping) {
      d->has_ping = 0;
      pc_txn_clear(p, t);
    } else if (t && t->is_register && t->fwd) {
      if (pc_failover_register(e, t, why)) {
        moved++;
      } else {
        pc_txn_answer(e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
        pc_txn_done(e, t);
        refused++;
      }
    } else {
      /* It never left: any member of the group may take it (an S-CSCF
       * takes Route entries naming its siblings as its own). */
      size_t alt = pc_dest_live(p, di);
      int sent = 0;
      if (alt != di && (!t || t->from_ue)) {
        memcpy(p->outbuf, q->data, q->len);
        sent = pc_send_raw(e, alt, q->len, t) == 0;
      }
      if (sent) {
        moved++;
      } else if (t) {
        pc_txn_answer(e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
        pc_txn_done(e, t);
        refused++;
      }
    }
    free(q);
    q = next;
  }
  if (moved)
    LOG(e, IMSEC_LOG_WARN, S("S-CSCF "), pc_addr_str(p, &d->addr), S(": "),
        pc_num(p, moved),
        S(" queued request(s) sent to the next live member instead"));
  (void)refused;
}

int pc_failover_txn(ev *e, txn *t, int timeout) {
  imsec_pcscf *p = e->p;
  if (t->is_ping) {
    if (t->dest < p->ndests) {
      pc_dest_dead(e, t->dest,
                   timeout ? "no answer to OPTIONS" : "connection lost");
      if (p->dests[t->dest].has_ping && p->dests[t->dest].ping_txn == t->id)
        p->dests[t->dest].has_ping = 0;
    }
    return 2;
  }
  if (!t->is_register || !t->fwd)
    return 0;
  return pc_failover_register(e, t,
                              timeout ? "no answer in time"
                                      : "connection lost under a REGISTER")
             ? 1
             : 0;
}

void pc_ping_answered(ev *e, txn *t) {
  imsec_pcscf *p = e->p;
  if (t->dest < p->ndests) {
    pc_dest_alive(e, t->dest);
    if (p->dests[t->dest].ping_txn == t->id)
      p->dests[t->dest].has_ping = 0;
  }
  pc_txn_clear(p, t);
}

/* OPTIONS to S-CSCF `di` (RFC 3261 §11): its Request-URI is the S-CSCF's
 * address, so that it answers itself. */
static void ping(ev *e, size_t di) {
  imsec_pcscf *p = e->p;
  dest *d = &p->dests[di];
  txn *t = pc_txn_new(e);
  if (!t)
    return;
  t->from_ue = 1;
  t->is_ping = 1;
  t->dest = di;
  /* The next round judges it (pc_ping_timer); the sweep only if rounds
   * stop. */
  t->deadline =
      e->now + p->cfg.options_interval_ms + p->cfg.transaction_timeout_ms;
  int v6 = strchr(d->addr.host, ':') != NULL;
  sb b = {p->outbuf, 0, p->outcap, 0};
  sb_putc(&b, "OPTIONS sip:");
  sb_putc(&b, v6 ? "[" : "");
  sb_putc(&b, d->addr.host);
  sb_putc(&b, v6 ? "]:" : ":");
  sb_u64(&b, d->addr.port);
  sb_putc(&b, " SIP/2.0\r\nVia: SIP/2.0/");
  sb_putc(&b, imsec_tp_name(d->addr.tp));
  sb_putc(&b, " ");
  sb_putc(&b, p->host_uri);
  sb_putc(&b, ":");
  sb_u64(&b, p->cfg.core.port);
  sb_putc(&b, ";branch=");
  int rv = pc_branch_make(p, t, &b);
  sb_putc(&b, "\r\nMax-Forwards: 70\r\nFrom: <sip:pcscf@");
  sb_putc(&b, p->host_uri);
  sb_putc(&b, ">;tag=pcping");
  sb_u64(&b, t->id);
  sb_putc(&b, "\r\nTo: <sip:");
  sb_putc(&b, v6 ? "[" : "");
  sb_putc(&b, d->addr.host);
  sb_putc(&b, v6 ? "]:" : ":");
  sb_u64(&b, d->addr.port);
  sb_putc(&b, ">\r\nCall-ID: pcping");
  sb_u64(&b, t->id);
  sb_putc(&b, "@");
  sb_putc(&b, p->host_uri);
  sb_putc(&b, "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  if (rv < 0 || b.err || pc_send_raw(e, di, b.len, t) < 0) {
    pc_txn_clear(p, t);
    return;
  }
  d->ping_txn = t->id;
  d->has_ping = 1;
}

void pc_ping_timer(ev *e) {
  imsec_pcscf *p = e->p;
  p->ping_at = 0;
  for (size_t di = 0; di < p->ndests; di++) {
    dest *d = &p->dests[di];
    if (!in_failover_group(p, di))
      continue;
    if (d->has_ping) {
      txn *t = imsec_map_get(&p->txns, d->ping_txn);
      if (t && t->is_ping && !t->out_flow) {
        /* Still connecting after a whole interval (a hung peer accepts
         * TCP and never finishes TLS): dead until it answers; the
         * connection attempt itself decides the rest. */
        pc_dest_dead(e, di, "no connection within the ping interval");
        continue;
      }
      if (t && t->is_ping) {
        pc_dest_dead(e, di, "no answer to OPTIONS");
        pc_txn_clear(p, t);
      }
      d->has_ping = 0;
    }
    if (!d->connecting)
      ping(e, di);
  }
  pc_ping_arm(e);
}

void pc_ping_arm(ev *e) {
  imsec_pcscf *p = e->p;
  if (!p->ping_groups || p->ping_at)
    return;
  p->ping_at = e->now + p->cfg.options_interval_ms;
  (void)imsec_out_timer(e->out, TIMER_PING, p->ping_at);
}
