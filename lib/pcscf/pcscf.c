/* The P-CSCF element (include/imsec/pcscf.h): its lifetime and
 * configuration, the event entry points, who may bring a flow up, and the
 * timer sweep. */
#include "lib/pcscf/pcscf_int.h"

static void refuse_unparsable(ev *e, int rv, const uint8_t *msg, size_t len);
static int mark_via(ev *e, imsec_sip_msg *m);

/* A decimal number as a slice in the arena (for log lines). */
imsec_str pc_num(imsec_pcscf *p, uint64_t v) {
  sb b = arena_sb(p);
  sb_u64(&b, v);
  imsec_str s = S("?");
  (void)sb_done(p, &b, &s);
  return s;
}

char *pc_dup_str(imsec_str s) {
  char *c = malloc(s.len + 1);
  if (!c)
    return NULL;
  if (s.len)
    memcpy(c, s.p, s.len);
  c[s.len] = 0;
  return c;
}

int pc_strlist_add(strlist *l, imsec_str s) {
  char *nb = realloc(l->buf, l->len + s.len + 1);
  if (!nb)
    return IMSEC_ERR_NOMEM;
  l->buf = nb;
  if (s.len)
    memcpy(nb + l->len, s.p, s.len);
  nb[l->len + s.len] = 0;
  l->len += s.len + 1;
  l->n++;
  return 0;
}

/* Iterate: pass *pos = 0 first; returns 1 and the next string, 0 at end. */
int pc_strlist_next(const strlist *l, size_t *pos, imsec_str *out) {
  if (*pos >= l->len)
    return 0;
  *out = imsec_str_c(l->buf + *pos);
  *pos += out->len + 1;
  return 1;
}

void pc_strlist_free(strlist *l) {
  free(l->buf);
  l->buf = NULL;
  l->len = l->n = 0;
}

/* ------------------------------------------------------------ config */

void imsec_pcscf_config_init(imsec_pcscf_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->core.tp = IMSEC_TP_TCP;
}

/* A route's domain or name: letters, digits, '.', '-' and '_' only, copied
 * into dst. 0, or IMSEC_ERR_PARSE. */
static int route_token_copy(imsec_str s, char *dst, size_t cap) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (!(imsec_is_alnum(ch) || ch == '.' || ch == '-' || ch == '_'))
      return IMSEC_ERR_PARSE;
  }
  return imsec_str_copy(s, dst, cap) < 0 ? IMSEC_ERR_PARSE : 0;
}

/* One route parameter: "name=NAME" or "weight=W". 0, or IMSEC_ERR_PARSE. */
static int route_param(imsec_str param, imsec_pcscf_route *out) {
  imsec_str nk = S("name="), wk = S("weight=");
  if (param.len > nk.len && imsec_str_ieq(imsec_str_sub(param, 0, nk.len), nk))
    return route_token_copy(imsec_str_sub(param, nk.len, param.len - nk.len),
                            out->name, sizeof(out->name));
  if (param.len <= wk.len ||
      !imsec_str_ieq(imsec_str_sub(param, 0, wk.len), wk))
    return IMSEC_ERR_PARSE;
  imsec_str w = imsec_str_sub(param, wk.len, param.len - wk.len);
  unsigned v = 0;
  if (w.len > 6)
    return IMSEC_ERR_PARSE; /* at most 999999 */
  for (size_t i = 0; i < w.len; i++) {
    if (w.p[i] < '0' || w.p[i] > '9')
      return IMSEC_ERR_PARSE;
    v = v * 10 + (unsigned)(w.p[i] - '0');
  }
  out->weight = v;
  return 0;
}

/* "tp:host:port[;name=NAME][;weight=W]": a route may dial an address and
 * verify a name (RFC 5922 §7.2 checks the name, not the address dialled);
 * the weight spreads REGISTERs within the domain's group. */
static int route_name_parse(imsec_str addr, imsec_pcscf_route *out) {
  out->name[0] = 0;
  out->weight = 0;
  long semi = imsec_str_find(addr, ';');
  if (semi < 0)
    return imsec_addr_parse(addr, &out->addr);
  imsec_str rest =
      imsec_str_sub(addr, (size_t)semi + 1, addr.len - (size_t)semi - 1);
  if (!rest.len)
    return IMSEC_ERR_PARSE; /* a trailing ';' */
  while (rest.len) {
    long next = imsec_str_find(rest, ';');
    size_t plen = next < 0 ? rest.len : (size_t)next;
    if (route_param(imsec_str_trim(imsec_str_sub(rest, 0, plen)), out) < 0)
      return IMSEC_ERR_PARSE;
    if (next < 0)
      break;
    rest = imsec_str_sub(rest, plen + 1, rest.len - plen - 1);
    if (!rest.len)
      return IMSEC_ERR_PARSE; /* a trailing ';' */
  }
  return imsec_addr_parse(imsec_str_trim(imsec_str_sub(addr, 0, (size_t)semi)),
                          &out->addr);
}

/* "DOMAIN=" and what follows, or IMSEC_ERR_PARSE. */
static int route_domain(imsec_str spec, imsec_pcscf_route *out,
                        imsec_str *rest) {
  long eq = imsec_str_find(spec, '=');
  if (eq <= 0)
    return IMSEC_ERR_PARSE;
  imsec_str dom = imsec_str_trim(imsec_str_sub(spec, 0, (size_t)eq));
  *rest = imsec_str_trim(
      imsec_str_sub(spec, (size_t)eq + 1, spec.len - (size_t)eq - 1));
  if (!dom.len)
    return IMSEC_ERR_PARSE;
  return route_token_copy(dom, out->domain, sizeof(out->domain));
}

int imsec_pcscf_route_parse(imsec_str spec, imsec_pcscf_route *out) {
  imsec_str addr;
  IMSEC_GUARD(route_domain(spec, out, &addr));
  return route_name_parse(addr, out);
}

int imsec_pcscf_route_parse_list(imsec_str spec, imsec_pcscf_route *out,
                                 size_t cap, size_t *n) {
  if (!out || !n || !cap)
    return IMSEC_ERR_PARSE;
  *n = 0;
  imsec_str rest;
  IMSEC_GUARD(route_domain(spec, &out[0], &rest));
  for (;;) {
    long comma = imsec_str_find(rest, ',');
    size_t mlen = comma < 0 ? rest.len : (size_t)comma;
    if (*n == cap)
      return IMSEC_ERR_LIMIT;
    imsec_pcscf_route *r = &out[*n];
    if (*n)
      memcpy(r->domain, out[0].domain, sizeof(r->domain));
    imsec_str member = imsec_str_trim(imsec_str_sub(rest, 0, mlen));
    if (!member.len || route_name_parse(member, r) < 0)
      return IMSEC_ERR_PARSE;
    (*n)++;
    if (comma < 0)
      return 0;
    rest = imsec_str_sub(rest, mlen + 1, rest.len - mlen - 1);
  }
}

/* ------------------------------------------------------------ timers */

void pc_arm(ev *e, imsec_time_ms at) {
  imsec_pcscf *p = e->p;
  if (p->timer_at == 0 || at < p->timer_at) {
    p->timer_at = at;
    (void)imsec_out_timer(e->out, TIMER_SWEEP, at);
  }
}

/* Our end of an access flow, for our Via towards the UE. */
static void flow_set_local(flowrec *f, const imsec_flow_info *info) {
  size_t n = strlen(info->local.host);
  if (!n || n + 3 > sizeof(f->local_host))
    return;
  int v6 = memchr(info->local.host, ':', n) != NULL;
  size_t o = 0;
  if (v6)
    f->local_host[o++] = '[';
  memcpy(f->local_host + o, info->local.host, n);
  o += n;
  if (v6)
    f->local_host[o++] = ']';
  f->local_host[o] = 0;
  f->local_port = info->local.port;
  f->local_tp = info->tp;
}

imsec_str pc_addr_str(imsec_pcscf *p, const imsec_addr *a) {
  char *at = p->arena + p->arena_used;
  int n = imsec_addr_format(a, at, ARENA - p->arena_used);
  if (n < 0)
    return S("?");
  p->arena_used += (size_t)n;
  return (imsec_str){at, (size_t)n};
}

/* ------------------------------------------------------------ events */

static void ev_init(ev *e, imsec_pcscf *p, imsec_out *out, imsec_time_ms now) {
  e->p = p;
  e->out = out;
  e->now = now;
  e->f = NULL;
  p->arena_used = 0;
  pc_ping_arm(e); /* the first event starts the rounds of pings */
}

/* ------------------------------------------------------------ core peers */

static imsec_str no_dot(imsec_str s) {
  return s.len && s.p[s.len - 1] == '.' ? imsec_str_sub(s, 0, s.len - 1) : s;
}

/* TS 33.210 §5.2 (Za/Zb between network elements) with the name rule of
 * RFC 5922 §7.2: a tls: route's S-CSCF must present a chain that verified
 * against the core anchors and carry the route's name. On refusal: one log
 * line with the reason, the queued requests answered 503 (RFC 3261 §16.7)
 * and 1 returned. */
/* The metrics' reason code of a chain verdict (docs/OPERATIONS.md). */
static const char *chain_code(imsec_chain_status s) {
  return s == IMSEC_CHAIN_EXPIRED           ? "expired"
         : s == IMSEC_CHAIN_NOT_YET_VALID   ? "not-yet-valid"
         : s == IMSEC_CHAIN_NOT_SERVER_AUTH ? "not-server-auth"
                                            : "chain-invalid";
}

static int core_cert_refused(ev *e, dest *d, uint64_t flow,
                             const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  const imsec_trust_cert *c = info ? info->peer_cert : NULL;
  const char *name = d->name;
  const char *why = NULL;
  const char *code = "certificate"; /* for the metrics (obs.c) */
  imsec_str detail = S("");
  imsec_str names[IMSEC_TRUST_MAX_NAMES];
  size_t n = 0;
  if (!c) {
    why = "no certificate";
  } else if (c->chain != IMSEC_CHAIN_OK) {
    why = c->chain == IMSEC_CHAIN_EXPIRED         ? "certificate expired"
          : c->chain == IMSEC_CHAIN_NOT_YET_VALID ? "certificate not yet valid"
          : c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH
              ? "not a server certificate (EKU)"
              : "chain invalid";
    code = chain_code(c->chain);
    detail = imsec_str_c(c->chain_detail);
  } else {
    n = imsec_trust_cert_names(c, names, IMSEC_TRUST_MAX_NAMES);
    if (n > IMSEC_TRUST_MAX_NAMES)
      n = IMSEC_TRUST_MAX_NAMES;
    size_t i = 0;
    while (i < n && !imsec_str_ieq(no_dot(names[i]), no_dot(imsec_str_c(name))))
      i++;
    if (i == n) {
      why = "name mismatch";
      code = "name-mismatch";
      detail = n ? names[0] : S("(no name)");
    }
  }
  if (!c)
    code = "no-certificate";
  pc_obs_trust(p, !why, code);
  if (!why) {
    LOG(e, IMSEC_LOG_INFO, S("S-CSCF "), pc_addr_str(p, &d->addr),
        S(" presented "), imsec_str_c(name), S(" ("),
        imsec_str_c(info->tls_version ? info->tls_version : "TLS"), S(")"));
    return 0;
  }
  /* S() takes literals only: the optional pieces go through imsec_str_c. */
  LOG(e, IMSEC_LOG_WARN, S("refused S-CSCF "), pc_addr_str(p, &d->addr),
      S(" on flow "), pc_num(p, flow), S(": "), imsec_str_c(why),
      imsec_str_c(detail.len ? " (" : ""), detail,
      imsec_str_c(detail.len && n ? ", expected " : ""),
      imsec_str_c(n ? name : ""), imsec_str_c(detail.len ? ")" : ""), S("; "),
      pc_num(p, d->qn), S(" queued request(s) answered 503"));
  d->connecting = 0;
  pc_dest_failed(e, (size_t)(d - p->dests), "certificate refused");
  return 1;
}

/* An IP literal (IPv4 dotted or IPv6), not a host name. */
static int ip_literal(const char *h) {
  if (!*h)
    return 0;
  if (strchr(h, ':'))
    return 1;
  for (; *h; h++)
    if (*h != '.' && (*h < '0' || *h > '9'))
      return 0;
  return 1;
}

/* An inbound TLS flow on the core listener is an S-CSCF, not a UE. The
 * port alone does not say which listener took it (a UE listener may share
 * the core's port on another address): the host counts too when the core
 * address is an IP literal. */
static int is_core_listener(const imsec_pcscf *p, const imsec_flow_info *info) {
  if (!info || !info->inbound || p->cfg.core.tp != IMSEC_TP_TLS ||
      info->tp != IMSEC_TP_TLS || info->local.port != p->cfg.core.port)
    return 0;
  return !ip_literal(p->cfg.core.host) ||
         imsec_str_ieq(imsec_str_c(info->local.host),
                       imsec_str_c(p->cfg.core.host));
}

static const char *route_name(const imsec_pcscf_route *r);

/* 1 when `name` is an S-CSCF this P-CSCF knows: the name of a tls: route
 * (RFC 5922 §7.2: exact, case-insensitive, a trailing dot aside) or a
 * configured core peer. */
static int core_name_known(const imsec_pcscf *p, imsec_str name) {
  name = no_dot(name);
  for (size_t i = 0; i < p->cfg.n_routes; i++)
    if (p->cfg.routes[i].addr.tp == IMSEC_TP_TLS &&
        imsec_str_ieq(no_dot(imsec_str_c(route_name(&p->cfg.routes[i]))), name))
      return 1;
  for (size_t i = 0; i < p->cfg.n_core_peers; i++)
    if (imsec_str_ieq(no_dot(imsec_str_c(p->cfg.core_peers[i])), name))
      return 1;
  return 0;
}

/* TS 33.210 §5.2 (Za/Zb mutual TLS), TS 33.310 §6.1.3c, RFC 5922 §7: who
 * came in on the TLS core listener. The driver's TLS context verified the
 * chain against the core anchors, which a UE's certificate from the same
 * PKI also passes: a peer that may send responses and requests for UEs is
 * a network element (EKU serverAuth, checked with the chain, and
 * clientAuth) whose certificate names an S-CSCF this P-CSCF knows. One log
 * line either way; returns 1 when refused. */
static int core_peer_refused(ev *e, uint64_t flow,
                             const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  const imsec_trust_cert *c = info->peer_cert;
  imsec_str names[IMSEC_TRUST_MAX_NAMES];
  size_t n = c ? imsec_trust_cert_names(c, names, IMSEC_TRUST_MAX_NAMES) : 0;
  if (n > IMSEC_TRUST_MAX_NAMES)
    n = IMSEC_TRUST_MAX_NAMES;
  /* RFC 5922 §7.2: a wildcard is no identity. */
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (names[i].len && imsec_str_find(names[i], '*') < 0)
      names[k++] = names[i];
  n = k;
  imsec_str name = n ? names[0] : S("");
  const char *why = NULL;
  const char *code = "certificate"; /* for the metrics (obs.c) */
  if (!c) {
    why = "presents no certificate";
    code = "no-certificate";
  } else if (c->chain != IMSEC_CHAIN_OK) {
    code = chain_code(c->chain);
    why = c->chain == IMSEC_CHAIN_EXPIRED         ? "certificate expired"
          : c->chain == IMSEC_CHAIN_NOT_YET_VALID ? "certificate not yet valid"
          : c->chain == IMSEC_CHAIN_NOT_SERVER_AUTH
              ? "not a network element certificate (EKU serverAuth)"
              : "chain invalid";
  } else if (!c->client_auth) {
    why = "not a client certificate (EKU clientAuth)";
    code = "not-client-auth";
  } else if (!n) {
    why = "presents a certificate without a name";
    code = "no-name";
  } else {
    size_t i = 0;
    while (i < n && !core_name_known(p, names[i]))
      i++;
    if (i == n) {
      why = "not a known S-CSCF (no tls: route or core peer of that name)";
      code = "unknown-peer";
    } else {
      name = names[i];
    }
  }
  pc_obs_trust(p, !why, code);
  if (!why) {
    LOG(e, IMSEC_LOG_INFO, S("core flow "), pc_num(p, flow), S(" from "),
        pc_addr_str(p, &info->peer), S(" presents "), name, S(" ("),
        imsec_str_c(info->tls_version ? info->tls_version : "TLS"), S(")"));
    return 0;
  }
  LOG(e, IMSEC_LOG_WARN, S("refused core flow "), pc_num(p, flow), S(" from "),
      pc_addr_str(p, &info->peer), S(" ("), name.len ? name : S("no name"),
      S("): "), imsec_str_c(why));
  return 1;
}

/* A plain core listener is open to the addresses configured only (the
 * daemon's --insecure-core --peer-addr). */
static int plain_peer_refused(ev *e, uint64_t flow,
                              const imsec_flow_info *info) {
  imsec_pcscf *p = e->p;
  /* No addresses: nobody (imsec_pcscf_new refuses a tcp core without). */
  if (!info || info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS)
    return 0;
  for (size_t i = 0; i < p->cfg.n_peer_addrs; i++)
    if (imsec_str_ieq(imsec_str_c(p->cfg.peer_addrs[i]),
                      imsec_str_c(info->peer.host))) {
      pc_obs_trust(p, 1, "address");
      return 0;
    }
  pc_obs_trust(p, 0, "address-not-listed");
  LOG(e, IMSEC_LOG_WARN, S("refused core flow "), pc_num(p, flow), S(" from "),
      pc_addr_str(p, &info->peer), S(": not a configured peer address"));
  return 1;
}

int imsec_pcscf_on_flow_up(imsec_pcscf *p, uint64_t flow, uint64_t tag,
                           const imsec_flow_info *info, imsec_time_ms now,
                           imsec_out *out) {
  ev e;
  int rv;
  ev_init(&e, p, out, now);
  flowrec *f = pc_flow_find(p, flow);
  if (tag >= PC_DIAL_TAG_BASE) /* M2b: a UE we dialled */
    return pc_m2_dial_up(&e, flow, tag, info);
  if (tag) {
    if (tag > p->ndests)
      return IMSEC_ERR_INVAL;
    dest *d = &p->dests[tag - 1];
    if (d->addr.tp == IMSEC_TP_TLS && core_cert_refused(&e, d, flow, info))
      return IMSEC_ERR_AUTH;
    if (!f) {
      if (!(f = pc_flow_add(p, flow)))
        return IMSEC_ERR_NOMEM;
    } else if (!f->core) {
      if (f->bindings)
        return IMSEC_ERR_STATE; /* a UE's flow handed to us as an S-CSCF */
      p->n_access--;
    }
    f->core = 1;
    if (info)
      f->peer = info->peer;
    d->flow = flow;
    d->connecting = 0;
    LOG(&e, IMSEC_LOG_INFO, S("connected to S-CSCF "), pc_addr_str(p, &d->addr),
        S(" on flow "), pc_num(p, flow));
    pc_dest_flush(p, d, out);
    return 0;
  }
  if (f)
    return 0; /* already known (a reused flow) */
  int core = !(info && (info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS));
  if (!core && is_core_listener(p, info))
    core = 1;
  if (core && plain_peer_refused(&e, flow, info))
    return IMSEC_ERR_AUTH;
  if (core && info && info->tp == IMSEC_TP_TLS &&
      core_peer_refused(&e, flow, info))
    return IMSEC_ERR_AUTH;
  if (!core && p->n_access >= p->cfg.max_flows) {
    LOG(&e, IMSEC_LOG_WARN, S("refused flow "), pc_num(p, flow),
        S(": too many UE flows"));
    return IMSEC_ERR_LIMIT;
  }
  if (!(f = pc_flow_add(p, flow)))
    return IMSEC_ERR_NOMEM;
  f->core = core;
  if (info)
    f->peer = info->peer;
  if (info && !core)
    flow_set_local(f, info);
  if (!core)
    p->n_access++;
  f->dgram = info && info->tp == IMSEC_TP_DTLS;
  if (!core && (rv = pc_m2_flow_up(&e, f, info)) < 0) {
    pc_flow_remove(p, f);
    return rv;
  }
  if (!core && pc_psk_flow_up(&e, f, info) < 0) {
    pc_flow_remove(p, f);
    return IMSEC_ERR_NOMEM;
  }
  if (f->dgram && !core)
    pc_dgram_flow_up(&e, f); /* DTLS: idle associations are closed */
  LOG(&e, IMSEC_LOG_DEBUG, core ? S("core") : S("UE"), S(" flow "),
      pc_num(p, flow), S(" up from "), pc_addr_str(p, &f->peer));
  return 0;
}

static void on_flow_down(imsec_pcscf *p, uint64_t flow, uint64_t tag,
                         int reason, imsec_time_ms now, imsec_out *out) {
  pc_dgram_flow_down(p, flow);
  ev e;
  ev_init(&e, p, out, now);
  if (!flow && tag >= PC_DIAL_TAG_BASE) {
    pc_m2_dial_failed(&e, tag, reason);
    return;
  }
  for (size_t i = 0; i < p->ndests; i++) {
    dest *d = &p->dests[i];
    if (flow && d->flow == flow) {
      d->flow = 0;
      d->connecting = 0;
      LOG(&e, IMSEC_LOG_WARN, S("lost the connection to S-CSCF "),
          pc_addr_str(p, &d->addr), S("; reconnecting on the next message"));
      pc_dest_dead(&e, i, "connection lost");
    } else if (tag == i + 1 && !d->flow && d->connecting) {
      d->connecting = 0;
      LOG(&e, IMSEC_LOG_WARN, S("cannot connect to S-CSCF "),
          pc_addr_str(p, &d->addr), S(": "),
          imsec_str_c(imsec_strerror(reason)), S("; "), pc_num(p, d->qn),
          S(" queued messages dropped or sent to another member"));
      pc_dest_failed(&e, i, "cannot connect");
    }
  }
  flowrec *f = pc_flow_find(p, flow);
  if (!f)
    return;
  size_t lost = 0;
  /* RFC 5626 §5.3: requests that went out on a UE flow now gone get 430;
   * requests that came in on it have nobody to answer. */
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->txns, &it))) {
    txn *t = s->val;
    /* INVITE (invite.c): 430 or 503 unless answered already; its own
     * INVITE CANCELled when the sender's flow is the one gone. */
    int inv = pc_invite_flow_down(&e, t, flow);
    if (inv > 0)
      continue;
    if (inv == 0) {
      (void)imsec_map_del_at(&p->txns, &it);
      pc_txn_free(t);
      continue;
    }
    if (!t->from_ue && t->ue_flow == flow) {
      pc_txn_answer(&e, t, 430, "Flow Failed", 0);
    } else if (t->in_flow == flow) {
      /* nobody to answer */
    } else if (t->from_ue && t->out_flow == flow &&
               (inv = pc_failover_txn(&e, t, 0)) != 0) {
      /* failover.c: a REGISTER sent again (it stays), a ping ended. */
      if (inv == 1)
        continue;
    } else if (t->from_ue && t->out_flow == flow) {
      /* RFC 3261 §16.9: the S-CSCF's connection failed under a request
       * that got no final answer (TLS 1.3: an S-CSCF refusing our client
       * certificate says so only after the request went out): as a 503. */
      pc_txn_answer(&e, t, 503, "Service Unavailable", IMSEC_PCSCF_RETRY_CORE);
      lost++;
    } else {
      continue;
    }
    (void)imsec_map_del_at(&p->txns, &it);
    pc_txn_free(t);
  }
  if (lost)
    LOG(&e, IMSEC_LOG_WARN, S("flow "), pc_num(p, flow), S(": "),
        pc_num(p, lost),
        S(" request(s) sent to the S-CSCF on it answered 503"));
  if (!f->core && f->bindings) {
    size_t n = 0, kept = 0;
    for (binding *b = f->bindings; b; b = b->next) {
      if (b->outlives_flow)
        kept++;
      else
        n++;
    }
    LOG(&e, IMSEC_LOG_INFO, S("flow "), pc_num(p, flow), S(" ("),
        pc_addr_str(p, &f->peer), S(") lost: "), pc_num(p, n),
        S(" binding(s) removed"), kept ? S(", ") : S(""),
        kept ? pc_num(p, kept) : S(""),
        kept ? S(" kept until expiry without a flow") : S(""));
  }
  pc_flow_remove(p, f);
}

static void sweep(ev *e) {
  imsec_pcscf *p = e->p;
  imsec_time_ms next = 0;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->txns, &it))) {
    txn *t = s->val;
    /* failover.c: a REGISTER sent again to the next member, a ping. */
    int fo = t->deadline <= e->now ? pc_failover_txn(e, t, 1) : 0;
    if (fo == 2) {
      (void)imsec_map_del_at(&p->txns, &it);
      pc_txn_free(t);
      continue;
    }
    /* INVITE (invite.c): Timer B, Timer C, the end of its lingering. */
    int inv = fo == 1                 ? 1
              : t->deadline <= e->now ? pc_invite_deadline(e, t)
                                      : 1;
    if (inv <= 0) {
      if (inv < 0) {
        /* RFC 3261 §16.8: no answer in time counts as a 408. */
        LOG(e, IMSEC_LOG_WARN, S("no answer in time for a request from flow "),
            pc_num(p, t->in_flow), S("; 408"));
        pc_txn_answer(e, t, 408, "Request Timeout", 0);
      }
      (void)imsec_map_del_at(&p->txns, &it);
      pc_txn_free(t);
    } else if (!next || t->deadline < next) {
      next = t->deadline;
    }
  }
  pc_binding_sweep(e, &next);
  pc_psk_sweep(e, &next);
  pc_dialog_sweep(e, &next);
  p->timer_at = 0;
  if (next)
    pc_arm(e, next);
}

static void on_timer(imsec_pcscf *p, uint64_t timer, imsec_time_ms now,
                     imsec_out *out) {
  ev e;
  ev_init(&e, p, out, now);
  if (timer == TIMER_DGRAM)
    pc_dgram_timer(&e);
  if (timer == TIMER_PING)
    pc_ping_timer(&e);
  if (timer != TIMER_SWEEP)
    return;
  sweep(&e);
}

static void on_message(imsec_pcscf *p, uint64_t flow, const uint8_t *msg,
                       size_t len, imsec_time_ms now, imsec_out *out);

/* The entry points that may answer a UE: the datagram layer (dgram.c)
 * then looks at what went to DTLS access flows (retransmission copies,
 * the answers to resend). */
void imsec_pcscf_on_message(imsec_pcscf *p, uint64_t flow, const uint8_t *msg,
                            size_t len, imsec_time_ms now, imsec_out *out) {
  size_t from = out->n;
  on_message(p, flow, msg, len, now, out);
  pc_dgram_after(p, out, from, now);
}

void imsec_pcscf_on_timer(imsec_pcscf *p, uint64_t timer, imsec_time_ms now,
                          imsec_out *out) {
  size_t from = out->n;
  on_timer(p, timer, now, out);
  pc_dgram_after(p, out, from, now);
}

void imsec_pcscf_on_flow_down(imsec_pcscf *p, uint64_t flow, uint64_t tag,
                              int reason, imsec_time_ms now, imsec_out *out) {
  size_t from = out->n;
  on_flow_down(p, flow, tag, reason, now, out);
  pc_dgram_after(p, out, from, now);
}

static void on_message(imsec_pcscf *p, uint64_t flow, const uint8_t *msg,
                       size_t len, imsec_time_ms now, imsec_out *out) {
  ev e;
  ev_init(&e, p, out, now);
  e.f = pc_flow_find(p, flow);
  if (!e.f) {
    LOG(&e, IMSEC_LOG_WARN, S("message on unknown flow "), pc_num(p, flow),
        S(" dropped"));
    return;
  }
  if (len > p->cfg.max_msg) {
    LOG(&e, IMSEC_LOG_WARN, S("oversized message on flow "), pc_num(p, flow),
        S(" dropped"));
    return;
  }
  int dgram = e.f->dgram && !e.f->core;
  if (dgram && pc_dgram_raw(&e, msg, len))
    return; /* a STUN keep-alive */
  memcpy(p->in, msg, len);
  imsec_sip_msg *m = &p->m;
  int rv = imsec_sip_parse(m, p->in, len, !e.f->dgram);
  if (rv < 0) {
    refuse_unparsable(&e, rv, msg, len);
    return;
  }
  /* DTLS: retransmissions stop here (RFC 3261 §17). */
  if (dgram &&
      (m->is_request ? pc_dgram_request(&e, m) : pc_dgram_response(&e, m)))
    return;
  if (!m->is_request) {
    /* A response that fails the checks (a bare CR, a malformed field) is
     * never relayed. */
    if (imsec_sip_check(m) < 0) {
      refuse_unparsable(&e, IMSEC_ERR_PARSE, msg, len);
      return;
    }
    (void)pc_on_response(&e, m);
    return;
  }
  if (imsec_sip_check(m) < 0) {
    (void)pc_refuse(&e, m, m->diag.status ? m->diag.status : 400,
                    m->diag.reason ? m->diag.reason : "Bad Request",
                    "malformed request");
    return;
  }
  if (mark_via(&e, m) < 0)
    return;
  /* RFC 3261 §16.10, §17.2.1: a CANCEL and the ACK of a non-2xx final
   * response belong to an INVITE transaction, from either side. */
  if (m->method_id == IMSEC_SIP_M_CANCEL) {
    pc_cancel(&e, m);
    return;
  }
  if (m->method_id == IMSEC_SIP_M_ACK && pc_ack_absorb(&e, m))
    return;
  if (e.f->core) {
    (void)pc_core_request(&e, m);
    return;
  }
  uint32_t mf;
  if (imsec_sip_get_max_forwards(m, &mf) == 0 && mf == 0) {
    (void)pc_refuse(&e, m, 483, "Too Many Hops", "Max-Forwards 0");
    return;
  }
  if (m->method_id == IMSEC_SIP_M_REGISTER)
    (void)pc_ue_register(&e, m);
  else
    (void)pc_ue_request(&e, m);
}

/* ------------------------------------------------------------ bad input */

/* A message that did not parse, or a response that failed the checks
 * (m->diag says why): a request is answered (400, 513), the rest is
 * dropped; logged within the budget. */
static void refuse_unparsable(ev *e, int rv, const uint8_t *msg, size_t len) {
  imsec_pcscf *p = e->p;
  char tag[16];
  sb t = {tag, 0, sizeof(tag) - 1, 0};
  sb_putc(&t, "pc");
  sb_u64(&t, ++p->tag_seq);
  tag[t.len] = 0;
  (void)imsec_elem_refuse_input(e->out, &p->bad_rate, e->now, e->f->id, rv,
                                &p->m.diag, msg, len, "imsec-pcscf", tag);
}

void imsec_pcscf_on_refused(imsec_pcscf *p, uint64_t flow, int reason,
                            const uint8_t *head, size_t len, imsec_time_ms now,
                            imsec_out *out) {
  if (!p || !out)
    return;
  char tag[16];
  sb t = {tag, 0, sizeof(tag) - 1, 0};
  sb_putc(&t, "pc");
  sb_u64(&t, ++p->tag_seq);
  tag[t.len] = 0;
  (void)imsec_elem_refuse_input(out, &p->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-pcscf", tag);
}

/* RFC 3261 §18.2.1, RFC 3581 §4: received and rport on the top Via of a
 * request, from the address it came from. The S-CSCF counts its flood
 * limits by this mark, so a request that cannot be marked is answered
 * here, never forwarded with what the sender wrote. Returns 0, or -1 when
 * it was refused. */
static int mark_via(ev *e, imsec_sip_msg *m) {
  imsec_pcscf *p = e->p;
  const imsec_addr *src = &e->f->peer;
  if (!src->host[0])
    return 0;
  size_t room = ARENA - p->arena_used;
  char *buf = p->arena + p->arena_used;
  const imsec_sip_hdr *h = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
  int rv = IMSEC_ERR_NOBUF;
  if (h && h->value.len + 80 <= room)
    rv = imsec_sip_via_mark_received(m, imsec_str_c(src->host), src->port, buf,
                                     h->value.len + 80);
  if (rv == IMSEC_ERR_LIMIT) {
    (void)pc_refuse(e, m, 400, "Via has too many parameters", "Via marks");
    return -1;
  }
  if (rv == IMSEC_ERR_PARSE || rv == IMSEC_ERR_NOTFOUND) {
    (void)pc_refuse(e, m, 400, "Bad Request", "Via marks");
    return -1;
  }
  if (rv < 0) {
    (void)pc_refuse(e, m, 500, "Server Internal Error",
                    "no room for Via marks");
    return -1;
  }
  if (rv == 1) {
    const imsec_sip_hdr *nh = imsec_sip_hdr_first(m, IMSEC_SIP_H_VIA);
    p->arena_used += nh ? nh->value.len : 0;
  }
  return 0;
}

/* ------------------------------------------------------------ lifetime */

int imsec_pcscf_new(imsec_pcscf **out, const imsec_pcscf_config *cfg,
                    imsec_crypto *crypto) {
  if (!out || !cfg || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (!cfg->core.host[0] || !cfg->core.port ||
      (cfg->core.tp != IMSEC_TP_TCP && cfg->core.tp != IMSEC_TP_TLS) ||
      cfg->n_routes > IMSEC_PCSCF_MAX_ROUTES ||
      cfg->n_peer_addrs > IMSEC_PCSCF_MAX_PEERS ||
      cfg->n_core_peers > IMSEC_PCSCF_MAX_PEERS)
    return IMSEC_ERR_CONFIG;
  /* A plain core listener without addresses would take anyone's word
   * for a UE's identity (RFC 3325 §2.3). */
  if (cfg->core.tp == IMSEC_TP_TCP && !cfg->n_peer_addrs)
    return IMSEC_ERR_CONFIG;
  /* A wildcard is no address for Via and Path, and a flow's local address
   * would never match it (is_core_listener). */
  int any4 = !strcmp(cfg->core.host, "0.0.0.0"); /* no secret: config text */
  int any6 = !strcmp(cfg->core.host, "::");      /* no secret: config text */
  if (any4 || any6)
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < cfg->n_core_peers; i++)
    if (!cfg->core_peers[i][0] ||
        !memchr(cfg->core_peers[i], 0, sizeof(cfg->core_peers[i])) ||
        strchr(cfg->core_peers[i], '*'))
      return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < cfg->n_routes; i++)
    if (!cfg->routes[i].domain[0] || !cfg->routes[i].addr.host[0])
      return IMSEC_ERR_CONFIG;
  int rv = IMSEC_ERR_NOMEM;
  imsec_pcscf *p = calloc(1, sizeof(*p));
  if (!p)
    goto fail_alloc;
  p->cfg = *cfg;
  p->crypto = crypto;
  imsec_pcscf_config *c = &p->cfg;
  if (!c->max_flows)
    c->max_flows = 65536;
  if (!c->max_bindings)
    c->max_bindings = 65536;
  if (!c->max_transactions)
    c->max_transactions = 4096;
  if (c->max_transactions > UINT32_MAX)
    c->max_transactions = UINT32_MAX;
  if (!c->max_queue)
    c->max_queue = 256;
  if (c->transaction_timeout_ms <= 0)
    c->transaction_timeout_ms = 32000;
  if (c->timer_c_ms <= 0)
    c->timer_c_ms = 180000; /* RFC 3261 §16.6 step 11: 3 minutes */
  if (!c->max_msg)
    c->max_msg = 65536;
  if (c->dtls_idle_timeout_ms <= 0)
    c->dtls_idle_timeout_ms = 90000;
  if (c->failover_timeout_ms <= 0)
    c->failover_timeout_ms = 5000;
  if (!c->options_interval_ms)
    c->options_interval_ms = 5000;
  imsec_sip_timers_default(&p->sip_timers);
  if (c->t1_ms > 0)
    p->sip_timers.t1 = c->t1_ms;
  if (c->t2_ms > 0)
    p->sip_timers.t2 = c->t2_ms;
  if (c->t4_ms > 0)
    p->sip_timers.t4 = c->t4_ms;
  c->visited_network[sizeof(c->visited_network) - 1] = 0;
  c->core.host[sizeof(c->core.host) - 1] = 0;
  for (size_t i = 0; i < c->n_peer_addrs; i++)
    c->peer_addrs[i][sizeof(c->peer_addrs[i]) - 1] = 0;
  sb hb = {p->host_uri, 0, sizeof(p->host_uri) - 1, 0};
  int v6 = imsec_str_find(imsec_str_c(c->core.host), ':') >= 0;
  sb_putc(&hb, v6 ? "[" : "");
  sb_putc(&hb, c->core.host);
  sb_putc(&hb, v6 ? "]" : "");
  p->host_uri[hb.len] = 0;
  /* One destination per distinct S-CSCF address (one connection each). */
  for (size_t i = 0; i < c->n_routes; i++) {
    c->routes[i].domain[sizeof(c->routes[i].domain) - 1] = 0;
    const imsec_addr *a = &c->routes[i].addr;
    size_t d = 0;
    c->routes[i].name[sizeof(c->routes[i].name) - 1] = 0;
    /* RFC 5922 §7.2: without a name of its own a route checks its host. */
    const char *nm = c->routes[i].name[0] ? c->routes[i].name : a->host;
    while (d < p->ndests &&
           !(p->dests[d].addr.tp == a->tp && p->dests[d].addr.port == a->port &&
             imsec_str_ieq(imsec_str_c(p->dests[d].addr.host),
                           imsec_str_c(a->host)) &&
             imsec_str_ieq(imsec_str_c(p->dests[d].name), imsec_str_c(nm))))
      d++;
    if (d == p->ndests) {
      p->dests[p->ndests].addr = *a;
      memcpy(p->dests[p->ndests].name, nm, sizeof(p->dests[0].name));
      p->ndests++;
    }
    p->route_dest[i] = d;
  }
  pc_groups_changed(p);
  p->outcap = c->max_msg + 16384;
  p->in = malloc(c->max_msg + 1);
  p->outbuf = malloc(p->outcap);
  if (!p->in || !p->outbuf)
    goto fail_bufs;
  rv = imsec_random(crypto, p->key, sizeof(p->key));
  if (rv < 0)
    goto fail_key;
  /* String keys come from peers (IMPIs): hashed under a secret seed so
   * that nobody can pick identities that collide (include/imsec/map.h).
   * The seed is derived from the random key rather than drawn on its own,
   * so the element draws from its RNG exactly as before (the fuzz seeds
   * carry flow tokens made under a counter RNG). */
  uint8_t seed[32];
  imsec_iov siov[1] = {{"map-seed", 8}};
  rv = imsec_hmac(crypto, IMSEC_HASH_SHA256, p->key, KEY_LEN, siov, 1, seed);
  if (rv < 0)
    goto fail_key;
  imsec_map_init_u64(&p->flows);
  imsec_map_init_str(&p->bindings, seed);
  imsec_map_init_u64(&p->bind_ids);
  imsec_map_init_u64(&p->dials);
  imsec_map_init_u64(&p->txns);
  imsec_map_init_str(&p->inv_keys, seed);
  rv = pc_psk_new(p, seed);
  imsec_wipe(seed, sizeof(seed));
  if (rv < 0)
    goto fail_psk;
  imsec_sip_limits lim;
  imsec_sip_limits_default(&lim);
  lim.max_msg = c->max_msg;
  imsec_sip_msg_init(&p->m, &lim);
  *out = p;
  return 0;
fail_psk:
  imsec_map_free(&p->flows);
  imsec_map_free(&p->bindings);
  imsec_map_free(&p->txns);
  imsec_map_free(&p->inv_keys);
fail_key:
  imsec_wipe(p->key, sizeof(p->key));
fail_bufs:
  free(p->in);
  free(p->outbuf);
  free(p);
fail_alloc:
  return rv;
}

void imsec_pcscf_del(imsec_pcscf *p) {
  if (!p)
    return;
  size_t it = 0;
  imsec_map_slot *s;
  while ((s = imsec_map_next(&p->flows, &it))) {
    flowrec *f = s->val;
    (void)imsec_map_del_at(&p->flows, &it);
    pc_flow_free(p, f);
  }
  pc_bindings_free_all(p); /* those that outlived their flows */
  pc_m2_free(p);
  pc_dialogs_free(p);
  it = 0;
  while ((s = imsec_map_next(&p->txns, &it))) {
    txn *t = s->val;
    (void)imsec_map_del_at(&p->txns, &it);
    pc_txn_free(t);
  }
  for (size_t i = 0; i < p->ndests; i++)
    pc_dest_drop(p, &p->dests[i], NULL);
  pc_psk_del(p);
  pc_dgram_free(p);
  imsec_sip_msg_free(&p->m);
  imsec_wipe(p->key, sizeof(p->key));
  imsec_map_free(&p->flows);
  imsec_map_free(&p->bindings);
  imsec_map_free(&p->bind_ids);
  imsec_map_free(&p->dials);
  imsec_map_free(&p->txns);
  imsec_map_free(&p->inv_keys);
  free(p->in);
  free(p->outbuf);
  free(p);
}

/* The name a route's S-CSCF certificate must carry: its own, else its
 * host (RFC 5922 §7.2). */
static const char *route_name(const imsec_pcscf_route *r) {
  return r->name[0] ? r->name : r->addr.host;
}

/* The destination for the S-CSCF of route `r` (its address and the name
 * its certificate must carry, as imsec_pcscf_new keys them): one already
 * known (its connection, queue and the bindings that name it stay), or a
 * new one when `add` is set; -1 when there is none (or no room). */
static long dest_index(imsec_pcscf *p, const imsec_pcscf_route *r, int add) {
  const imsec_addr *a = &r->addr;
  const char *nm = route_name(r);
  for (size_t d = 0; d < p->ndests; d++)
    if (p->dests[d].addr.tp == a->tp && p->dests[d].addr.port == a->port &&
        imsec_str_ieq(imsec_str_c(p->dests[d].addr.host),
                      imsec_str_c(a->host)) &&
        imsec_str_ieq(imsec_str_c(p->dests[d].name), imsec_str_c(nm)))
      return (long)d;
  if (!add || p->ndests >= IMSEC_PCSCF_MAX_ROUTES)
    return -1;
  memset(&p->dests[p->ndests], 0, sizeof(p->dests[0]));
  p->dests[p->ndests].addr = *a;
  size_t nl = strlen(nm);
  if (nl >= sizeof(p->dests[0].name))
    nl = sizeof(p->dests[0].name) - 1;
  memcpy(p->dests[p->ndests].name, nm, nl);
  return (long)p->ndests++;
}

int imsec_pcscf_set_routes(imsec_pcscf *p, const imsec_pcscf_route *routes,
                           size_t n) {
  if (!p || (n && !routes))
    return IMSEC_ERR_INVAL;
  if (n > IMSEC_PCSCF_MAX_ROUTES)
    return IMSEC_ERR_CONFIG;
  size_t fresh = 0;
  for (size_t i = 0; i < n; i++) {
    if (!routes[i].domain[0] ||
        !memchr(routes[i].domain, 0, sizeof(routes[i].domain)) ||
        !memchr(routes[i].name, 0, sizeof(routes[i].name)) ||
        !routes[i].addr.host[0])
      return IMSEC_ERR_CONFIG;
    /* Destinations are never removed (bindings and pending requests name
     * them by index): count the addresses not seen yet, once each. */
    int seen = dest_index(p, &routes[i], 0) >= 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = routes[j].addr.tp == routes[i].addr.tp &&
             routes[j].addr.port == routes[i].addr.port &&
             imsec_str_ieq(imsec_str_c(routes[j].addr.host),
                           imsec_str_c(routes[i].addr.host)) &&
             imsec_str_ieq(imsec_str_c(route_name(&routes[j])),
                           imsec_str_c(route_name(&routes[i])));
    fresh += !seen;
  }
  if (p->ndests + fresh > IMSEC_PCSCF_MAX_ROUTES)
    return IMSEC_ERR_LIMIT;
  for (size_t i = 0; i < n; i++) {
    p->cfg.routes[i] = routes[i];
    p->route_dest[i] = (size_t)dest_index(p, &routes[i], 1);
  }
  p->cfg.n_routes = n;
  pc_groups_changed(p);
  return 0;
}

int imsec_pcscf_route_live(const imsec_pcscf *p, size_t i) {
  if (!p || i >= p->cfg.n_routes)
    return IMSEC_ERR_INVAL;
  return !p->dests[p->route_dest[i]].dead;
}

void imsec_pcscf_on_start(imsec_pcscf *p, imsec_time_ms now, imsec_out *out) {
  ev e;
  if (p && out)
    ev_init(&e, p, out, now); /* arms the pings */
}

void imsec_pcscf_stats_get(const imsec_pcscf *p, imsec_pcscf_stats *out) {
  out->flows = p->n_access;
  out->bindings = imsec_map_len(&p->bindings);
  out->transactions = imsec_map_len(&p->txns);
  out->queued = p->queued;
}
