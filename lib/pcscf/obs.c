/* What the P-CSCF tells the operations layer (include/imsec/elem.h
 * metrics, list, busy; names in docs/OPERATIONS.md): counters kept in
 * the element as events happen, the rest read from its tables when asked.
 * Called on the element's thread; nothing here changes its state. */
#include "imsec/obs.h"
#include "lib/pcscf/pcscf_int.h"

_Static_assert(PC_REG_N == ELEM_REG_N, "the outcomes of lib/elem/tally.h");

void pc_obs_register_code(imsec_pcscf *p, unsigned code) {
  if (code < 200)
    return;
  int o = code == 401 || code == 407   ? PC_REG_CHALLENGED
          : code >= 500 || code == 408 ? PC_REG_FAILED
          : code >= 300                ? PC_REG_REJECTED
                                       : PC_REG_REGISTERED;
  p->obs.reg[o]++;
}

void pc_obs_register(imsec_pcscf *p, const txn *t, unsigned code, int had) {
  if (code >= 200 && code < 300) {
    /* RFC 3261 §10.2.2: Expires 0 removes; a binding there before makes
     * it a refresh (TS 24.229 §5.2.2.2). */
    p->obs.reg[t->expires == 0 ? PC_REG_DEREGISTERED
               : had           ? PC_REG_REFRESHED
                               : PC_REG_REGISTERED]++;
    return;
  }
  pc_obs_register_code(p, code);
}

void pc_obs_trust(imsec_pcscf *p, int accepted, const char *reason) {
  elem_tally_add(&p->obs.trust, accepted ? "accepted" : "refused", reason);
}

/* ------------------------------------------------------------- metrics */

static void count_txns(const imsec_pcscf *p, size_t *server, size_t *client,
                       size_t *busy) {
  size_t it = 0, sv = 0, cl = 0, bz = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&p->txns, &it)) != NULL) {
    const txn *t = e->val;
    int ling = pc_invite_lingering(t);
    sv += !t->is_ping;
    cl += !ling;
    bz += !ling && !t->is_ping;
  }
  if (server)
    *server = sv;
  if (client)
    *client = cl;
  if (busy)
    *busy = bz;
}

static size_t bindings_on_flows(const imsec_pcscf *p) {
  size_t it = 0, n = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&p->bindings, &it)) != NULL)
    n += ((const binding *)e->val)->flow != NULL;
  return n;
}

void pc_obs_metrics(const imsec_pcscf *p, imsec_time_ms now, imsec_metrics *m) {
  (void)now;
  size_t sv, cl;
  count_txns(p, &sv, &cl, NULL);
  elem_obs_common c = {
      .regs_help = "Registered IMPIs (one binding each, TS 33.203 O.4)",
      .binds_help = "Registrations bound to a live UE flow",
      .regs = imsec_map_len(&p->bindings),
      .binds = bindings_on_flows(p),
      .reg = p->obs.reg,
      .trust = &p->obs.trust,
      .trust_peer = "core",
      .txn_server = sv,
      .txn_client = cl,
  };
  elem_obs_common_add(m, &c);
  imsec_metrics_declare(m, "imsec_dialogs_active", IMSEC_METRIC_GAUGE,
                        "Dialogs through UE flows");
  imsec_metrics_add(m, "imsec_dialogs_active", (double)p->n_dlgs, NULL);
  imsec_metrics_declare(m, "imsec_route_member_up", IMSEC_METRIC_GAUGE,
                        "S-CSCF route members: 1 live, 0 marked dead");
  for (size_t i = 0; i < p->cfg.n_routes; i++) {
    char member[300];
    const dest *d = &p->dests[p->route_dest[i]];
    if (imsec_addr_format(&d->addr, member, sizeof(member)) < 0)
      memcpy(member, "?", 2);
    imsec_metrics_add(m, "imsec_route_member_up", d->dead ? 0.0 : 1.0, "domain",
                      p->cfg.routes[i].domain, "member", member, NULL);
  }
}

size_t pc_obs_busy(const imsec_pcscf *p) {
  size_t bz;
  count_txns(p, NULL, NULL, &bz);
  return bz;
}

/* ------------------------------------------------------------ listings */

/* The security of a registration's flow (the net/ mode names); "none"
 * while it has no live flow (M2b, M3 AKA-derived between connections). */
static const char *bind_mode(const binding *b) {
  const flowrec *f = b->flow;
  if (!f)
    return "none";
  if (f->cert_impi)
    return "mutual_tls";
  if (f->psk_impi)
    return "psk";
  return f->local_tp == IMSEC_TP_TCP ? "plain" : "server_cert";
}

/* The IMPUs of a binding, comma-separated. */
static int impus_text(const binding *b, imsec_buf *out) {
  size_t pos = 0;
  imsec_str u;
  int first = 1;
  imsec_buf_reset(out);
  while (pc_strlist_next(&b->impus, &pos, &u) == 1) {
    if (!first)
      imsec_buf_adds(out, ",");
    imsec_buf_add(out, u.p, u.len);
    first = 0;
  }
  return imsec_buf_adds(out, "");
}

static int list_registrations(const imsec_pcscf *p, imsec_time_ms now,
                              imsec_table *t) {
  static const char *const cols[] = {"impu", "impi",      "contact",
                                     "flow", "expires_s", "mode"};
  int rv = imsec_table_init(t, cols, 6);
  if (rv < 0)
    return rv;
  imsec_buf impus = {0};
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&p->bindings, &it)) != NULL) {
    const binding *b = e->val;
    char flow[24] = "-", exp[24];
    if (b->flow)
      imsec_fmt_u64(flow, b->flow->id);
    impus_text(b, &impus);
    const char *row[6] = {impus.p ? impus.p : "",
                          b->impi,
                          b->contact,
                          flow,
                          elem_secs_left(exp, b->expires_at, now),
                          bind_mode(b)};
    imsec_table_add(t, row);
  }
  rv = impus.err ? impus.err : t->err;
  imsec_buf_free(&impus);
  return rv;
}

static int list_bindings(const imsec_pcscf *p, imsec_time_ms now,
                         imsec_table *t) {
  static const char *const cols[] = {"id",      "impi",      "flow", "peer",
                                     "contact", "expires_s", "scscf"};
  int rv = imsec_table_init(t, cols, 7);
  if (rv < 0)
    return rv;
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&p->bindings, &it)) != NULL) {
    const binding *b = e->val;
    char id[24], flow[24] = "-", peer[300] = "-", exp[24], sc[300] = "-";
    imsec_fmt_u64(id, b->id);
    if (b->flow) {
      imsec_fmt_u64(flow, b->flow->id);
      if (imsec_addr_format(&b->flow->peer, peer, sizeof(peer)) < 0)
        memcpy(peer, "?", 2);
    }
    if (b->dest < p->ndests &&
        imsec_addr_format(&p->dests[b->dest].addr, sc, sizeof(sc)) < 0)
      memcpy(sc, "?", 2);
    const char *row[7] = {id,         b->impi,
                          flow,       peer,
                          b->contact, elem_secs_left(exp, b->expires_at, now),
                          sc};
    imsec_table_add(t, row);
  }
  return t->err;
}

/* The S-CSCF route members: state dead/alive and since when. */
static int list_peers(const imsec_pcscf *p, imsec_time_ms now, imsec_table *t) {
  static const char *const cols[] = {
      "domain", "member", "name", "state", "flow", "queued", "changed_s_ago"};
  int rv = imsec_table_init(t, cols, 7);
  if (rv < 0)
    return rv;
  for (size_t i = 0; i < p->cfg.n_routes; i++) {
    const dest *d = &p->dests[p->route_dest[i]];
    char member[300], flow[24] = "-", q[24], ago[24] = "-";
    if (imsec_addr_format(&d->addr, member, sizeof(member)) < 0)
      memcpy(member, "?", 2);
    if (d->flow)
      imsec_fmt_u64(flow, d->flow);
    imsec_fmt_u64(q, d->qn);
    if (d->changed_at && now >= d->changed_at)
      imsec_fmt_u64(ago, (uint64_t)(now - d->changed_at) / 1000);
    const char *row[7] = {p->cfg.routes[i].domain,
                          member,
                          d->name[0] ? d->name : d->addr.host,
                          d->dead ? "dead" : "alive",
                          flow,
                          q,
                          ago};
    imsec_table_add(t, row);
  }
  return t->err;
}

int pc_obs_list(const imsec_pcscf *p, const char *what, imsec_time_ms now,
                imsec_table *t) {
  if (!what)
    return IMSEC_ERR_UNSUPPORTED;
  if (strcmp(what, "registrations") == 0) /* no secret: a listing name */
    return list_registrations(p, now, t);
  if (strcmp(what, "bindings") == 0) /* no secret: a listing name */
    return list_bindings(p, now, t);
  if (strcmp(what, "peers") == 0) /* no secret: a listing name */
    return list_peers(p, now, t);
  if (strcmp(what, "dialogs") == 0) /* no secret: a listing name */
    return pc_dialog_list(p, now, t);
  return IMSEC_ERR_UNSUPPORTED;
}
