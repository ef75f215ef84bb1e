/* Routing and the core side (RFC 3261 §16.4, RFC 3327, RFC 5923, RFC 3325
 * §2.3, TS 33.210 §5.2): loose routing, connections to Path hops, the
 * trust decision on each flow's peer, and the Via marks of inbound
 * flows (RFC 3581). */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

void scscf_facts_free(flow_facts *fa) {
  if (fa)
    free(fa->cert);
  free(fa);
}

/* The IMS trust domain when none is configured: the home domain's last two
 * labels (ims.mnc001.mcc001.3gppnetwork.org -> 3gppnetwork.org, TS 23.003
 * §13). */
static imsec_str default_trust_domain(imsec_str dom) {
  size_t dots = 0, i = dom.len;
  while (i > 0) {
    if (dom.p[i - 1] == '.' && ++dots == 2)
      break;
    i--;
  }
  return imsec_str_make(dom.p + i, dom.len - i);
}

static int copy_list(const char *const *in, size_t n, char **text,
                     imsec_str *out, size_t *count) {
  if (n > IMSEC_SCSCF_MAX_PEERS || (n && !in))
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < n; i++) {
    imsec_str v = imsec_str_c(in[i]);
    if (!v.len || v.len >= IMSEC_TRUST_NAME_CAP)
      return IMSEC_ERR_CONFIG;
    text[i] = scscf_dup_str(v);
    if (!text[i])
      return IMSEC_ERR_NOMEM;
    out[i] = imsec_str_make(text[i], v.len);
    *count = i + 1;
  }
  return 0;
}

/* Copy the core-side trust settings (TS 33.210 §5.2, RFC 3325 §2.3). */
int scscf_trust_config(imsec_scscf *s, const imsec_scscf_config *cfg) {
  imsec_str td = cfg->trust_domain
                     ? imsec_str_c(cfg->trust_domain)
                     : default_trust_domain(imsec_str_c(s->domain));
  if (!imsec_dns_name_valid(td))
    return IMSEC_ERR_CONFIG;
  s->trust_domain = scscf_dup_str(td);
  if (!s->trust_domain)
    return IMSEC_ERR_NOMEM;
  s->cfg.trust_domain = s->trust_domain;
  IMSEC_GUARD(copy_list(cfg->peer_names, cfg->n_peer_names, s->names_text,
                        s->names, &s->n_names));
  IMSEC_GUARD(copy_list(cfg->peer_addrs, cfg->n_peer_addrs, s->addrs_text,
                        s->addrs, &s->n_addrs));
  s->cfg.peer_names = NULL;
  s->cfg.peer_addrs = NULL;
  return 0;
}

void scscf_peer_free(peer *p) {
  for (qmsg *q = p->head, *n; q; q = n) {
    n = q->next;
    imsec_wipe(q->data, q->len);
    free(q);
  }
  free(p);
}

static void free_list(char **text, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(text[i]);
}

int imsec_scscf_set_peers(imsec_scscf *s, const char *const *names,
                          size_t n_names, const char *const *addrs,
                          size_t n_addrs) {
  if (!s || (n_names && !names) || (n_addrs && !addrs))
    return IMSEC_ERR_INVAL;
  char *nt[IMSEC_SCSCF_MAX_PEERS] = {0}, *at[IMSEC_SCSCF_MAX_PEERS] = {0};
  imsec_str nv[IMSEC_SCSCF_MAX_PEERS], av[IMSEC_SCSCF_MAX_PEERS];
  size_t nn = 0, na = 0;
  /* Copies first: a failure leaves the running lists as they were. */
  int rc = copy_list(names, n_names, nt, nv, &nn);
  if (rc == 0)
    rc = copy_list(addrs, n_addrs, at, av, &na);
  if (rc != 0) {
    free_list(nt, nn);
    free_list(at, na);
    return rc;
  }
  /* New flows meet the new lists; flows already up are judged again by
   * imsec_scscf_recheck_peers (TS 33.210 §5.2). */
  free_list(s->names_text, s->n_names);
  free_list(s->addrs_text, s->n_addrs);
  memcpy(s->names_text, nt, sizeof(nt));
  memcpy(s->names, nv, nn * sizeof(nv[0]));
  s->n_names = nn;
  memcpy(s->addrs_text, at, sizeof(at));
  memcpy(s->addrs, av, na * sizeof(av[0]));
  s->n_addrs = na;
  return 0;
}

static flow_trust *trust_find(imsec_scscf *s, uint64_t flow) {
  return flow ? imsec_map_get(&s->trust, flow) : NULL;
}

void scscf_trust_free(flow_trust *t) {
  if (t)
    scscf_facts_free(t->facts);
  free(t);
}

void scscf_trust_forget(imsec_scscf *s, uint64_t flow) {
  if (flow)
    scscf_trust_free(imsec_map_del(&s->trust, flow));
}

/* The certificate name of the trusted TLS peer on `flow`, or NULL. */
const char *scscf_tls_peer_name(imsec_scscf *s, uint64_t flow) {
  const flow_trust *t = trust_find(s, flow);
  return t && t->trusted && t->tls && t->name[0] ? t->name : NULL;
}

static void printable(char *p, size_t cap) {
  for (size_t i = 0; i < cap && p[i]; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
      p[i] = '?';
}

/* The verdict on stored facts against the current lists: 1 trusted, 0
 * refused, IMSEC_ERR_NOMEM; `r` gets the name, reason and words. */
static int decide_facts(imsec_scscf *s, const flow_facts *fa,
                        imsec_trust_peer_result *r) {
  imsec_trust_peer_input in;
  memset(&in, 0, sizeof(in));
  in.secure = fa->secure;
  in.cert = fa->cert;
  in.inbound = fa->inbound;
  in.peer_ip = imsec_str_c(fa->ip);
  in.trust_domain = imsec_str_c(s->trust_domain);
  in.names = s->names;
  in.n_names = s->n_names;
  in.insecure_core = s->cfg.insecure_core;
  in.addrs = s->addrs;
  in.n_addrs = s->n_addrs;
  in.expect_name = imsec_str_c(fa->expect);
  if (imsec_trust_peer_decide(&in, r) < 0)
    return IMSEC_ERR_INTERNAL;
  /* Certificate text goes into one log line: no control characters. */
  printable(r->name, sizeof(r->name));
  printable(r->why, sizeof(r->why));
  return r->verdict != IMSEC_TRUST_PEER_REFUSED;
}

/* Judge the peer of `flow` (TS 33.210 §5.2, RFC 3325 §2.3) and remember
 * the outcome and its facts; a refusal is logged with the peer's address,
 * name and reason. `expect`: the name an outgoing TLS peer must carry, or
 * NULL. Returns 1 trusted, 0 refused. */
int scscf_judge_peer(imsec_scscf *s, uint64_t flow, const imsec_flow_info *info,
                     const char *expect, imsec_out *out) {
  flow_trust *t = trust_find(s, flow);
  if (!t) {
    if (imsec_map_len(&s->trust) >= MAX_FLOWS || !(t = calloc(1, sizeof(*t))) ||
        imsec_map_put(&s->trust, flow, t, NULL) < 0) {
      free(t);
      (void)imsec_out_log(out, IMSEC_LOG_WARN,
                          "no room to judge a core peer: refused", NULL);
      return 0;
    }
  }
  flow_facts *fa = t->facts;
  memset(t, 0, sizeof(*t));
  t->flow = flow;
  if (!info) {
    scscf_facts_free(fa);
    t->reason = "no-flow-info";
    elem_tally_add(&s->obs.trust, "refused", t->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "refused core peer: the host gave no flow facts", NULL);
    return 0;
  }
  if (imsec_addr_format(&info->peer, t->addr, sizeof(t->addr)) < 0)
    memcpy(t->addr, "?", 2);
  scscf_facts_free(fa);
  fa = calloc(1, sizeof(*fa));
  imsec_trust_peer_result *r = malloc(sizeof(*r));
  int v = IMSEC_ERR_NOMEM;
  if (fa && r) {
    fa->secure = info->tp == IMSEC_TP_TLS || info->tp == IMSEC_TP_DTLS;
    fa->inbound = info->inbound;
    memcpy(fa->ip, info->peer.host, sizeof(fa->ip));
    fa->ip[sizeof(fa->ip) - 1] = 0;
    size_t el = expect ? strlen(expect) : 0;
    if (el >= sizeof(fa->expect))
      el = sizeof(fa->expect) - 1;
    memcpy(fa->expect, expect ? expect : "", el);
    if (info->peer_cert && (fa->cert = malloc(sizeof(*fa->cert))) != NULL)
      *fa->cert = *info->peer_cert;
    if (!info->peer_cert || fa->cert)
      v = decide_facts(s, fa, r);
  }
  if (v < 0) {
    free(r);
    scscf_facts_free(fa);
    t->reason = "internal";
    elem_tally_add(&s->obs.trust, "refused", t->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "refused core peer ", t->addr,
                        ": cannot decide", NULL);
    return 0;
  }
  t->tls = fa->secure;
  memcpy(t->name, r->name, sizeof(t->name));
  t->trusted = v;
  /* Only a trusted flow is judged again; a refused one is being closed. */
  if (t->trusted)
    t->facts = fa;
  else
    scscf_facts_free(fa);
  elem_tally_add(&s->obs.trust, t->trusted ? "accepted" : "refused",
                 t->trusted ? imsec_trust_peer_verdict_name(r->verdict)
                            : imsec_trust_peer_reason_code(r->reason));
  if (!t->trusted) {
    t->reason = imsec_trust_peer_reason_code(r->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "refused core peer ", t->addr,
                        " name '", r->name, "': ", t->reason, ": ", r->why,
                        NULL);
  } else {
    (void)imsec_out_log(out, IMSEC_LOG_INFO, "core peer ", t->addr, " '",
                        r->name, "' trusted (",
                        imsec_trust_peer_verdict_name(r->verdict), ")", NULL);
  }
  free(r);
  return t->trusted;
}

int imsec_scscf_recheck_peers(imsec_scscf *s, imsec_time_ms now,
                              imsec_out *out) {
  (void)now;
  if (!s || !out)
    return IMSEC_ERR_INVAL;
  imsec_trust_peer_result *r = malloc(sizeof(*r));
  if (!r)
    return IMSEC_ERR_NOMEM;
  int closed = 0;
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->trust, &it)) != NULL) {
    flow_trust *t = e->val;
    if (!t->trusted || !t->facts)
      continue;
    int v = decide_facts(s, t->facts, r);
    if (v == 1)
      continue;
    /* TS 33.210 §5.2: a peer no longer in the trust domain is not served
     * on the flow it opened before the change. */
    t->trusted = 0;
    t->reason = v < 0 ? "internal" : imsec_trust_peer_reason_code(r->reason);
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "core peer ", t->addr, " '",
                        t->name,
                        "' no longer trusted after reload: ", t->reason,
                        v < 0 ? "" : ": ", v < 0 ? "" : r->why, NULL);
    (void)imsec_out_close(out, t->flow);
    closed++;
  }
  free(r);
  return closed;
}

/* Send to a node by address, reusing our connection to it (RFC 5923).
 * Returns the connection's tag, or 0 when the message could not go. */
/* The key of a connection: transport, host (case-insensitive, RFC 3261
 * §19.1.4), port and the certificate name it must carry. Returns its
 * length, or 0 when it does not fit. */
static size_t peer_key(const imsec_addr *a, const char *expect, char *buf,
                       size_t cap) {
  char port[8];
  scscf_dec_u64(a->port, port);
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, cap);
  imsec_sip_build_raw(&b, imsec_str_c(imsec_tp_name(a->tp)));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("|"));
  size_t host_at = b.len;
  imsec_sip_build_raw(&b, imsec_str_c(a->host));
  size_t host_end = b.len;
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("|"));
  imsec_sip_build_raw(&b, imsec_str_c(port));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("|"));
  imsec_sip_build_raw(&b, imsec_str_c(expect));
  if (b.err)
    return 0;
  for (size_t i = host_at; i < host_end; i++)
    if (buf[i] >= 'A' && buf[i] <= 'Z')
      buf[i] = (char)(buf[i] - 'A' + 'a');
  return b.len;
}

peer *scscf_peer_by_tag(const imsec_scscf *s, uint64_t tag) {
  return tag ? imsec_map_get(&s->peers_tag, tag) : NULL;
}

peer *scscf_peer_by_flow(const imsec_scscf *s, uint64_t flow) {
  return flow ? imsec_map_get(&s->peers_flow, flow) : NULL;
}

/* The connection is up on `flow`. Returns 0 or IMSEC_ERR_NOMEM. */
int scscf_peer_up(imsec_scscf *s, peer *p, uint64_t flow) {
  IMSEC_GUARD(imsec_map_put(&s->peers_flow, flow, p, NULL));
  p->flow = flow;
  return 0;
}

/* Forget a connection and free it. */
void scscf_peer_remove(imsec_scscf *s, peer *p) {
  char key[sizeof(p->addr.host) + IMSEC_TRUST_NAME_CAP + 32];
  size_t kn = peer_key(&p->addr, p->expect, key, sizeof(key));
  if (kn && imsec_map_sget(&s->peers_key, imsec_str_make(key, kn)) == p)
    (void)imsec_map_sdel(&s->peers_key, imsec_str_make(key, kn));
  (void)imsec_map_del(&s->peers_tag, p->tag);
  if (p->flow && imsec_map_get(&s->peers_flow, p->flow) == p)
    (void)imsec_map_del(&s->peers_flow, p->flow);
  scscf_peer_free(p);
}

uint64_t scscf_send_to(imsec_scscf *s, const imsec_addr *addr,
                       const char *expect, const char *data, size_t len,
                       imsec_out *out) {
  if (!expect || addr->tp != IMSEC_TP_TLS)
    expect = "";
  char key[sizeof(addr->host) + IMSEC_TRUST_NAME_CAP + 32];
  size_t kn = peer_key(addr, expect, key, sizeof(key));
  if (!kn)
    return 0;
  peer *p = imsec_map_sget(&s->peers_key, imsec_str_make(key, kn));
  if (!p) {
    if (imsec_map_len(&s->peers_tag) >= MAX_PEERS) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN, "too many peers: dropped", NULL);
      return 0;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
      return 0;
    p->addr = *addr;
    p->tag = ++s->next_id;
    if (imsec_str_copy(imsec_str_c(expect), p->expect, sizeof(p->expect)) < 0)
      p->expect[0] = 0;
    if (imsec_map_sput(&s->peers_key, imsec_str_make(key, kn), p, NULL) < 0 ||
        imsec_map_put(&s->peers_tag, p->tag, p, NULL) < 0) {
      (void)imsec_map_sdel(&s->peers_key, imsec_str_make(key, kn));
      scscf_peer_free(p);
      return 0;
    }
    /* TLS: the expected name goes out as SNI; on_flow_up checks it. */
    (void)imsec_out_connect(out, p->tag, addr, p->expect);
  }
  if (p->flow)
    return imsec_out_send(out, p->flow, data, len) == 0 ? p->tag : 0;
  if (p->nq >= MAX_QUEUE) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "queue to ", addr->host,
                        " full: dropped", NULL);
    return 0;
  }
  qmsg *q = malloc(sizeof(*q) + len);
  if (!q)
    return 0;
  q->next = NULL;
  q->len = len;
  memcpy(q->data, data, len);
  if (p->tail)
    p->tail->next = q;
  else
    p->head = q;
  p->tail = q;
  p->nq++;
  return p->tag;
}

/* Where a request for contact `c` goes: its Path's first hop, else the
 * contact itself. Returns 0, or the status for that branch. */
unsigned scscf_contact_hop(const contact *c, imsec_addr *to) {
  imsec_str first_hop = imsec_str_c(c->uri);
  if (c->path) {
    imsec_sip_addr pa;
    imsec_str pv = imsec_str_c(c->path);
    /* The first Path value's URI. */
    size_t depth = 0, end = 0;
    int inq = 0;
    for (end = 0; end < pv.len; end++) {
      char ch = pv.p[end];
      if (ch == '"')
        inq = !inq;
      else if (!inq && ch == '<')
        depth++;
      else if (!inq && ch == '>' && depth)
        depth--;
      else if (!inq && !depth && ch == ',')
        break;
    }
    if (imsec_sip_addr_parse(imsec_str_trim(imsec_str_make(pv.p, end)), 16,
                             &pa) < 0)
      return 500;
    first_hop = pa.uri;
  }
  return scscf_uri_hop(first_hop, to) < 0 ? 480 : 0;
}

static int has_live(const reg *r, imsec_time_ms now) {
  for (size_t i = 0; r && i < r->n; i++)
    if (r->c[i].expires_at > now)
      return 1;
  return 0;
}

/* The registration holding `impu`. With a store shared by sibling
 * S-CSCFs (cfg.reg_shared), one not here, without a live binding, or
 * read from the store longer than reg_cache_ms ago is read (again):
 * the UE may have registered through a sibling. Returns 0 (*rp: it, or
 * NULL), or as scscf_reg_get (waits: park). */
static int find_impu(imsec_scscf *s, imsec_str impu, reg **rp,
                     imsec_time_ms now, imsec_out *out) {
  reg *r = scscf_find_reg_impu(s, impu);
  *rp = r;
  if (!s->cfg.reg_shared ||
      (has_live(r, now) &&
       (!r->foreign || now - r->seen_at < s->cfg.reg_cache_ms)))
    return 0;
  long semi = imsec_str_find(impu, ';');
  if (semi >= 0)
    impu.len = (size_t)semi; /* the store keys bare URIs */
  const imsec_reg_record *rec = NULL;
  imsec_time_ms at = now;
  int rv = scscf_reg_get(s, impu, &rec, &at, now, out);
  if (rv == IMSEC_ERR_NOTFOUND) {
    if (r && r->foreign) {
      scscf_reg_drop(s, r, out); /* gone from the store: gone */
      *rp = NULL;
    }
    return 0;
  }
  if (rv < 0)
    return rv;
  if (scscf_reg_take(s, rec, at, now, out) < 0)
    return 0; /* what is here, if anything, serves */
  *rp = scscf_find_reg_impu(s, impu);
  return 0;
}

void scscf_do_request(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                      imsec_out *out) {
  /* One exit (end): park it, say the store failed, answer `code`. */
  unsigned code = 0;
  const char *reason = NULL;
  int park = 0, store_err = 0;
  imsec_sip_method meth = s->m.method_id;
  /* RFC 3261 §16.10, §17.2.1: CANCEL and the ACK of a non-2xx final
   * response belong to the INVITE's response context. */
  if (meth == IMSEC_SIP_M_CANCEL) {
    scscf_cancel(s, flow, now, out);
    return;
  }
  if (meth == IMSEC_SIP_M_ACK && scscf_ack_absorb(s, flow, now, out))
    return;
  /* RFC 3261 §12: a To tag means inside a dialog; an ACK that reaches
   * here is for a 2xx (§13.2.2.4), itself routed like one. */
  int dialog = meth == IMSEC_SIP_M_ACK || scscf_has_to_tag(&s->m);
  /* Loose routing (RFC 3261 §16.4): pop the Route entries naming us. */
  int orig = 0;
  size_t popped = 0;
  for (;;) {
    imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
    imsec_sip_addr ra;
    int rv = imsec_sip_addr_next(&s->m, IMSEC_SIP_H_ROUTE, &it, &ra);
    if (rv == 0)
      break;
    imsec_sip_uri u;
    if (rv < 0 || imsec_sip_uri_parse(ra.uri, 16, &u) < 0) {
      code = 400;
      reason = "Bad Route";
      goto end;
    }
    if (!scscf_is_self_uri(s, &u, 1)) {
      /* Inside a dialog the next Route is the next hop; outside one
       * every Route must be ours (we take no preloaded route onwards). */
      if (dialog)
        break;
      code = 403;
      reason = "Route not served";
      goto end;
    }
    if (imsec_str_eq(u.user, IMSEC_STR_LIT("orig"))) /* no secret: a name */
      orig = 1;
    long idx = imsec_sip_msg_index(&s->m, IMSEC_SIP_H_ROUTE);
    if (it.rest.p && it.rest.len) {
      /* Several values on one line: keep the rest. */
      imsec_str rest = imsec_str_trim(it.rest);
      if (rest.len && rest.p[0] == ',')
        rest = imsec_str_trim(imsec_str_make(rest.p + 1, rest.len - 1));
      if (imsec_sip_msg_replace(&s->m, (size_t)idx, rest) < 0)
        goto end;
    } else if (imsec_sip_msg_remove(&s->m, (size_t)idx) < 0) {
      goto end;
    }
    popped++;
  }
  if (dialog) {
    scscf_in_dialog(s, flow, popped, now, out);
    return;
  }
  imsec_sip_uri ru;
  if (imsec_sip_uri_parse(s->m.ruri, 16, &ru) < 0) {
    code = 416;
    reason = "Unsupported URI Scheme";
    goto end;
  }
  if (scscf_is_self_uri(s, &ru, 0)) {
    if (meth == IMSEC_SIP_M_OPTIONS) {
      imsec_sip_builder b;
      scscf_start_response(s, &b, 200, "OK");
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Allow"),
                             IMSEC_STR_LIT(SCSCF_ALLOW));
      imsec_sip_build_header(&b, IMSEC_STR_LIT("Supported"),
                             IMSEC_STR_LIT("path, outbound"));
      scscf_finish_send(s, &b, flow, out);
    } else {
      code = 404;
      reason = "Not Found";
    }
    goto end;
  }
  /* Every method is proxied (RFC 3261 §16); none goes further with
   * Max-Forwards 0 (§16.3 step 3). */
  if (scscf_mf_exhausted(s, flow, out))
    goto end;
  /* The registrations are still loading (on_start): wait for them. */
  int lw = scscf_wait_load(s, now);
  if (lw == IMSEC_ERR_AGAIN) {
    park = 1;
    goto end;
  }
  if (lw < 0) {
    store_err = lw;
    code = scscf_store_code(lw, &reason);
    goto end;
  }
  if (orig) {
    /* TS 24.229 §5.4.3.2: the originating user (asserted by the P-CSCF)
     * must be registered here. */
    imsec_sip_iter pit = IMSEC_SIP_ITER_INIT;
    imsec_sip_addr pai;
    reg *from = NULL;
    int first = 1;
    while (!from && imsec_sip_addr_next(&s->m, IMSEC_SIP_H_P_ASSERTED_IDENTITY,
                                        &pit, &pai) == 1) {
      /* Shared store: the first asserted identity is looked up there. */
      if (!first || !s->cfg.reg_shared) {
        from = scscf_find_reg_impu(s, pai.uri);
        continue;
      }
      first = 0;
      int frv = find_impu(s, pai.uri, &from, now, out);
      if (waits(frv)) {
        park = 1;
        goto end;
      }
      if (frv < 0) {
        store_err = frv;
        code = scscf_store_code(frv, &reason);
        goto end;
      }
    }
    int known = from != NULL;
    if (!known) {
      (void)imsec_out_log(out, IMSEC_LOG_WARN,
                          "originating request from an unregistered "
                          "identity: 403",
                          NULL);
      code = 403;
      reason = "Originating user not registered";
      goto end;
    }
    /* TS 33.203 Annex Q: a SIP Digest user's later requests are
     * asserted by its P-CSCF's TLS binding; digest_proxy_auth asks for
     * the password on each as well (RFC 3261 §22.3). */
    if (s->cfg.digest_proxy_auth && from->digest && meth != IMSEC_SIP_M_ACK &&
        scscf_digest_proxy_auth(s, flow, from, now, out, &park, &store_err))
      goto end;
    /* TS 24.229 §5.4.3.2: a destination outside the home network goes
     * to that network's next hop. */
    if (!scscf_is_home(s, &ru)) {
      scscf_other_domain(s, flow, &ru, now, out);
      goto end;
    }
  }
  /* Terminating (TS 24.229 §5.4.3.3): every live contact is a target
   * (RFC 3261 §16.5); without q-values they are all tried in parallel. */
  reg *r = NULL;
  int frv = find_impu(s, s->m.ruri, &r, now, out);
  if (waits(frv)) {
    park = 1;
    goto end;
  }
  if (frv < 0) {
    store_err = frv;
    code = scscf_store_code(frv, &reason);
    goto end;
  }
  size_t live = 0;
  for (size_t i = 0; r && i < r->n; i++)
    if (r->c[i].expires_at > now)
      live++;
  if (!live) {
    imsec_hss_sub *sub = malloc(sizeof(*sub));
    int lrv =
        sub ? scscf_hss_sub(s, IMSEC_SVC_HSS_SUB_IMPU, s->m.ruri, sub, now, out)
            : IMSEC_ERR_NOMEM;
    free(sub);
    if (waits(lrv)) {
      park = 1;
    } else if (lrv == IMSEC_ERR_TIMEOUT || lrv == IMSEC_ERR_IO) {
      store_err = lrv;
      code = scscf_store_code(lrv, &reason);
    } else {
      code = lrv == 0 ? 480 : 404;
      reason = lrv == 0 ? "Temporarily Unavailable" : "Not Found";
    }
    goto end;
  }
  /* RFC 3261 §16.6 step 4: stay on the dialog's route set; once, so
   * every branch carries it. */
  target *tg = NULL;
  if (scscf_dialog_creating(&s->m) && scscf_push_record_route(s) < 0) {
    code = 500;
    reason = "Server Internal Error";
    goto end;
  }
  tg = calloc(live, sizeof(*tg));
  if (!tg) {
    code = 500;
    reason = "Server Internal Error";
    goto end;
  }
  size_t k = 0;
  for (size_t i = 0; i < r->n && k < live; i++) {
    contact *c = &r->c[i];
    if (c->expires_at <= now)
      continue;
    tg[k] = (target){.ruri = c->uri,
                     .route = c->path,
                     .expect = c->reg_peer,
                     .who = r->impi};
    tg[k].fail = scscf_contact_hop(c, &tg[k].hop);
    k++;
  }
  scscf_proxy(s, flow, tg, k, now, out);
  free(tg);
end:
  if (park)
    scscf_park_busy(s, flow, NULL, now, out);
  if (store_err)
    scscf_store_unavailable(s, NULL, store_err, now, out);
  if (code && meth != IMSEC_SIP_M_ACK) /* RFC 3261 §17: never answer an ACK */
    scscf_respond(s, flow, code, reason, out);
}

/* RFC 3325 §2.3-5: P-Asserted-Identity and Path mean something only from
 * inside the trust domain, so nothing from a peer outside it is served: a
 * request gets 403, a response is dropped; one log line names the peer.
 * Returns 1 when the flow's peer is trusted. */
int scscf_peer_trusted(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  const flow_trust *t = trust_find(s, flow);
  if (t && t->trusted)
    return 1;
  char fl[24];
  scscf_dec_u64(flow, fl);
  const char *who = t ? t->addr : "(a flow never announced)";
  const char *name = t ? t->name : "";
  const char *why = t && t->reason ? t->reason : "not judged";
  if (!s->m.is_request) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "response from untrusted peer ",
                        who, " name '", name, "' (", why, ", flow ", fl,
                        "): dropped", NULL);
    return 0;
  }
  (void)imsec_out_logv(
      out, IMSEC_LOG_WARN,
      (imsec_str[]){IMSEC_STR_LIT("request from untrusted peer "),
                    imsec_str_c(who), IMSEC_STR_LIT(" name '"),
                    imsec_str_c(name), IMSEC_STR_LIT("' ("), imsec_str_c(why),
                    IMSEC_STR_LIT(", flow "), imsec_str_c(fl),
                    IMSEC_STR_LIT("): "), s->m.method, IMSEC_STR_LIT(": 403")},
      11);
  if (s->m.method_id != IMSEC_SIP_M_ACK)
    scscf_respond(s, flow, 403, "Forbidden", out);
  return 0;
}

static fpeer *fpeer_find(imsec_scscf *s, uint64_t flow) {
  return flow ? imsec_map_get(&s->fpeers, flow) : NULL;
}

/* An inbound flow: where it comes from, for its Via marks. At most
 * MAX_FLOWS of them (the host caps connections long before). */
void scscf_fpeer_set(imsec_scscf *s, uint64_t flow,
                     const imsec_flow_info *info) {
  if (!info || !info->peer.host[0] ||
      strlen(info->peer.host) >= sizeof(((fpeer *)0)->host))
    return;
  fpeer *f = fpeer_find(s, flow);
  if (!f) {
    if (imsec_map_len(&s->fpeers) >= MAX_FLOWS ||
        !(f = calloc(1, sizeof(*f))) ||
        imsec_map_put(&s->fpeers, flow, f, NULL) < 0) {
      free(f);
      return; /* without memory the Via stays unmarked */
    }
  }
  memcpy(f->host, info->peer.host, strlen(info->peer.host) + 1);
  f->port = info->peer.port;
}

void scscf_fpeer_del(imsec_scscf *s, uint64_t flow) {
  if (flow)
    free(imsec_map_del(&s->fpeers, flow));
}

/* RFC 3261 §18.2.1, RFC 3581 §4: received and rport on the top Via (the
 * P-CSCF's) of a request, from the address the flow comes from. A request
 * that cannot be marked is answered here (400 when the mark would push
 * the Via past the parameter limit, 500 without room). Returns 1 when
 * answered. */
int scscf_mark_via(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  fpeer *f = fpeer_find(s, flow);
  const imsec_sip_hdr *h = imsec_sip_hdr_first(&s->m, IMSEC_SIP_H_VIA);
  if (!f || !h)
    return 0;
  size_t cap = h->value.len + 80;
  int rv = IMSEC_ERR_NOBUF;
  if (!s->viabuf)
    s->viabuf = malloc(s->m.lim.max_line + 80);
  if (s->viabuf && cap <= s->m.lim.max_line + 80)
    rv = imsec_sip_via_mark_received(&s->m, imsec_str_c(f->host), f->port,
                                     s->viabuf, cap);
  if (rv >= 0)
    return 0;
  (void)imsec_out_log(out, IMSEC_LOG_WARN,
                      "request refused: ", imsec_strerror(rv),
                      " marking its Via", NULL);
  if (s->m.method_id == IMSEC_SIP_M_ACK)
    return 1; /* RFC 3261 §17: never answer an ACK */
  if (rv == IMSEC_ERR_LIMIT)
    scscf_respond(s, flow, 400, "Via has too many parameters", out);
  else /* a malformed top Via failed imsec_sip_check already */
    scscf_respond(s, flow, 500, "Server Internal Error", out);
  return 1;
}
