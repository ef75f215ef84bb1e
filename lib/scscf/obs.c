/* What the S-CSCF tells the operations layer (include/imsec/elem.h
 * metrics, list, busy; names in docs/OPERATIONS.md): counters kept in
 * the element as events happen (sc_obs), the rest read from its tables
 * when asked. Called on the element's thread; nothing here changes its
 * state. */
#include <string.h>

#include "imsec/obs.h"
#include "lib/scscf/scscf_int.h"

_Static_assert(SC_REG_N == ELEM_REG_N, "the outcomes of lib/elem/tally.h");

static const char *const af_reason[SC_AF_N] = {
    "bad_response", "unknown_user", "sync_failure", "stale", "nonce_replay",
    "locked",       "uri_mismatch", "no_vector",    "other",
};

void scscf_obs_response(imsec_scscf *s, unsigned code) {
  if (!s->m.is_request || s->m.method_id != IMSEC_SIP_M_REGISTER || code < 200)
    return;
  int o;
  if (code < 300) {
    o = s->obs.ok_kind; /* set by the registrar just before */
    s->obs.ok_kind = SC_REG_REGISTERED;
  } else {
    o = code == 401 || code == 407   ? SC_REG_CHALLENGED
        : code >= 500 || code == 408 ? SC_REG_FAILED
                                     : SC_REG_REJECTED;
  }
  s->obs.reg[o]++;
}

/* ------------------------------------------------------------- metrics */

static size_t bindings_count(const imsec_scscf *s) {
  size_t it = 0, n = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->regs, &it)) != NULL)
    n += ((const reg *)e->val)->n;
  return n;
}

/* IMPIs locked now: everywhere (lim_impi) or for one source (lim_pair). */
static size_t locked_count(const limit_table *t, imsec_time_ms now) {
  size_t it = 0, n = 0;
  imsec_map_slot *e;
  if (!t->max)
    return 0;
  while ((e = imsec_map_next(&t->map, &it)) != NULL)
    n += ((const limit_entry *)e->val)->locked_until > now;
  return n;
}

static void count_txns(const imsec_scscf *s, size_t *server, size_t *client,
                       size_t *busy) {
  size_t it = 0, sv = 0, cl = 0, bz = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->tx, &it)) != NULL) {
    const txn *t = e->val;
    sv++;
    cl += t->pending;
    /* A lingering INVITE only waits for the ACK: nothing in flight. */
    if (!t->linger)
      bz += 1 + t->pending;
  }
  *server = sv;
  *client = cl;
  *busy = bz;
}

void scscf_obs_metrics(const imsec_scscf *s, imsec_time_ms now,
                       imsec_metrics *m) {
  size_t sv, cl, bz;
  count_txns(s, &sv, &cl, &bz);
  elem_obs_common c = {
      .regs_help = "Registered IMPIs (TS 24.229 §5.4.1.2)",
      .binds_help = "Contact bindings of the registrations",
      .regs = imsec_map_len(&s->regs),
      .binds = bindings_count(s),
      .reg = s->obs.reg,
      .trust = &s->obs.trust,
      .trust_peer = "core",
      .txn_server = sv,
      .txn_client = cl,
  };
  elem_obs_common_add(m, &c);
  imsec_metrics_declare(m, "imsec_auth_challenges_total", IMSEC_METRIC_COUNTER,
                        "Authentication challenges sent (401 and 407)");
  imsec_metrics_add(m, "imsec_auth_challenges_total", (double)s->obs.chal_aka,
                    "scheme", "aka", NULL);
  imsec_metrics_add(m, "imsec_auth_challenges_total",
                    (double)s->obs.chal_digest, "scheme", "digest", NULL);
  imsec_metrics_declare(m, "imsec_auth_failures_total", IMSEC_METRIC_COUNTER,
                        "Authentication failures, by reason");
  for (size_t i = 0; i < SC_AF_N; i++)
    imsec_metrics_add(m, "imsec_auth_failures_total", (double)s->obs.af[i],
                      "reason", af_reason[i], NULL);
  imsec_metrics_declare(m, "imsec_lockouts_total", IMSEC_METRIC_COUNTER,
                        "IMPI locks set after failed responses");
  imsec_metrics_add(m, "imsec_lockouts_total", (double)s->obs.lockouts, NULL);
  imsec_metrics_declare(m, "imsec_identities_locked", IMSEC_METRIC_GAUGE,
                        "IMPIs locked now (everywhere, or for one source)");
  imsec_metrics_add(m, "imsec_identities_locked",
                    (double)(locked_count(&s->lim_impi, now) +
                             locked_count(&s->lim_pair, now)),
                    NULL);
}

size_t scscf_obs_busy(const imsec_scscf *s) {
  size_t sv, cl, bz;
  count_txns(s, &sv, &cl, &bz);
  /* Requests waiting for a store, and registration changes whose 200
   * waits for the store to make them durable. */
  return bz + s->npk + imsec_map_len(&s->pends);
}

/* ------------------------------------------------------------ listings */

static int list_registrations(const imsec_scscf *s, imsec_time_ms now,
                              imsec_table *t) {
  static const char *const cols[] = {"impu",      "impi", "bindings",
                                     "expires_s", "path", "scheme"};
  int rv = imsec_table_init(t, cols, 6);
  if (rv < 0)
    return rv;
  imsec_buf impus = {0};
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->regs, &it)) != NULL) {
    const reg *r = e->val;
    imsec_buf_reset(&impus);
    for (size_t i = 0; i < r->n_impus; i++) {
      if (i)
        imsec_buf_adds(&impus, ",");
      imsec_buf_adds(&impus, r->impus[i]);
    }
    imsec_buf_adds(&impus, "");
    /* The latest expiry, and the Path (the P-CSCF) of the newest binding. */
    imsec_time_ms last = 0;
    const contact *newest = NULL;
    for (size_t i = 0; i < r->n; i++) {
      if (r->c[i].expires_at > last)
        last = r->c[i].expires_at;
      if (!newest || r->c[i].order > newest->order)
        newest = &r->c[i];
    }
    char n[24], exp[24];
    imsec_fmt_u64(n, r->n);
    const char *row[6] = {impus.p ? impus.p : "",
                          r->impi,
                          n,
                          elem_secs_left(exp, last, now),
                          newest && newest->path ? newest->path : "-",
                          r->digest ? "digest" : "aka"};
    imsec_table_add(t, row);
  }
  rv = impus.err ? impus.err : t->err;
  imsec_buf_free(&impus);
  return rv;
}

static int list_bindings(const imsec_scscf *s, imsec_time_ms now,
                         imsec_table *t) {
  static const char *const cols[] = {"impi",     "contact", "path",     "peer",
                                     "instance", "reg_id",  "expires_s"};
  int rv = imsec_table_init(t, cols, 7);
  if (rv < 0)
    return rv;
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->regs, &it)) != NULL) {
    const reg *r = e->val;
    for (size_t i = 0; i < r->n; i++) {
      const contact *c = &r->c[i];
      char id[24] = "-", exp[24];
      if (c->reg_id >= 0)
        imsec_fmt_u64(id, (uint64_t)c->reg_id);
      const char *row[7] = {r->impi,
                            c->uri,
                            c->path ? c->path : "-",
                            c->reg_peer ? c->reg_peer : "-",
                            c->instance ? c->instance : "-",
                            id,
                            elem_secs_left(exp, c->expires_at, now)};
      imsec_table_add(t, row);
    }
  }
  return t->err;
}

/* The core peers judged on the flows up now (TS 33.210 §5.2). */
static int list_peers(const imsec_scscf *s, imsec_table *t) {
  static const char *const cols[] = {"flow", "name", "address", "decision",
                                     "reason"};
  int rv = imsec_table_init(t, cols, 5);
  if (rv < 0)
    return rv;
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->trust, &it)) != NULL) {
    const flow_trust *ft = e->val;
    char flow[24];
    imsec_fmt_u64(flow, ft->flow);
    const char *row[5] = {
        flow, ft->name[0] ? ft->name : "-", ft->addr[0] ? ft->addr : "-",
        ft->trusted ? "trusted" : "refused", ft->reason ? ft->reason : "-"};
    imsec_table_add(t, row);
  }
  return t->err;
}

int scscf_obs_list(const imsec_scscf *s, const char *what, imsec_time_ms now,
                   imsec_table *t) {
  if (!what)
    return IMSEC_ERR_UNSUPPORTED;
  if (strcmp(what, "registrations") == 0) /* no secret: a listing name */
    return list_registrations(s, now, t);
  if (strcmp(what, "bindings") == 0) /* no secret: a listing name */
    return list_bindings(s, now, t);
  if (strcmp(what, "peers") == 0) /* no secret: a listing name */
    return list_peers(s, t);
  return IMSEC_ERR_UNSUPPORTED;
}
