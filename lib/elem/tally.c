/* Counts by a pair of static label values (lib/elem/tally.h). */
#include "lib/elem/tally.h"

#include <string.h>

#include "imsec/obs.h"

static elem_tally_row *find(elem_tally *t, const char *a, const char *b) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->r[i].a, a) == 0 && /* no secret: metric label codes */
        strcmp(t->r[i].b, b) == 0)   /* no secret: metric label codes */
      return &t->r[i];
  return NULL;
}

void elem_tally_add(elem_tally *t, const char *a, const char *b) {
  elem_tally_row *r = find(t, a, b);
  /* The last row is kept for pairs beyond the room: ("other", "other"). */
  if (!r && t->n < ELEM_TALLY_MAX - 1) {
    r = &t->r[t->n++];
    r->a = a;
    r->b = b;
    r->n = 0;
  }
  if (!r && !(r = find(t, "other", "other"))) {
    r = &t->r[t->n++];
    r->a = "other";
    r->b = "other";
    r->n = 0;
  }
  r->n++;
}

uint64_t elem_tally_get(const elem_tally *t, const char *a, const char *b) {
  elem_tally *m = (elem_tally *)t; /* find does not change it */
  const elem_tally_row *r = find(m, a, b);
  return r ? r->n : 0;
}

const char *const elem_reg_outcome[ELEM_REG_N] = {
    "registered", "refreshed", "deregistered",
    "challenged", "rejected",  "failed",
};

void elem_obs_common_add(struct imsec_metrics *m, const elem_obs_common *c) {
  imsec_metrics_declare(m, "imsec_registrations_active", IMSEC_METRIC_GAUGE,
                        c->regs_help);
  imsec_metrics_add(m, "imsec_registrations_active", (double)c->regs, NULL);
  imsec_metrics_declare(m, "imsec_bindings_active", IMSEC_METRIC_GAUGE,
                        c->binds_help);
  imsec_metrics_add(m, "imsec_bindings_active", (double)c->binds, NULL);
  imsec_metrics_declare(m, "imsec_register_outcomes_total",
                        IMSEC_METRIC_COUNTER,
                        "Final answers to REGISTER requests, by outcome");
  for (size_t i = 0; i < ELEM_REG_N; i++)
    imsec_metrics_add(m, "imsec_register_outcomes_total", (double)c->reg[i],
                      "outcome", elem_reg_outcome[i], NULL);
  imsec_metrics_declare(m, "imsec_trust_decisions_total", IMSEC_METRIC_COUNTER,
                        "Trust decisions on peers, by result and reason");
  for (size_t i = 0; i < c->trust->n; i++)
    imsec_metrics_add(m, "imsec_trust_decisions_total",
                      (double)c->trust->r[i].n, "peer", c->trust_peer, "result",
                      c->trust->r[i].a, "reason", c->trust->r[i].b, NULL);
  imsec_metrics_declare(m, "imsec_transactions_active", IMSEC_METRIC_GAUGE,
                        "SIP transactions held, by side");
  imsec_metrics_add(m, "imsec_transactions_active", (double)c->txn_server,
                    "kind", "server", NULL);
  imsec_metrics_add(m, "imsec_transactions_active", (double)c->txn_client,
                    "kind", "client", NULL);
}

const char *elem_secs_left(char *buf, int64_t at, int64_t now) {
  imsec_fmt_u64(buf, at > now ? (uint64_t)(at - now + 999) / 1000 : 0);
  return buf;
}
