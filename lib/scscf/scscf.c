/* The S-CSCF element's core (include/imsec/scscf.h): making and freeing
 * it, the shared output helpers, and the event entry points, which hand
 * each event to its area: authentication (auth.c), the registrar
 * (registrar.c), forking (fork.c), routing and core-side trust (route.c)
 * and the waits for the stores (store.c). */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

int scscf_grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? 2 * *cap : 8;
  void *a = realloc(*arr, nc * elem);
  if (!a)
    return IMSEC_ERR_NOMEM;
  *arr = a;
  *cap = nc;
  return 0;
}

char *scscf_dup_str(imsec_str s) {
  char *p = malloc(s.len + 1);
  if (!p)
    return NULL;
  if (s.len)
    memcpy(p, s.p, s.len);
  p[s.len] = 0;
  return p;
}

void scscf_hex_u64(uint64_t v, char *out) {
  static const char hx[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = hx[v & 15];
    v >>= 4;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = 0;
}

void scscf_dec_u64(uint64_t v, char *out) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = 0;
}

/* Two URIs name the same public identity: scheme, user and host (RFC 3261
 * §19.1.4 for the parts an IMPU is made of; parameters and port are not
 * part of an IMPU). tel: the number. `ua` is parsed once by the caller. */
int scscf_impu_match_parsed(const imsec_sip_uri *ua, imsec_str b) {
  imsec_sip_uri ub;
  if (imsec_sip_uri_parse(b, 16, &ub) < 0 || ua->scheme != ub.scheme)
    return 0;
  if (ua->scheme == IMSEC_SIP_SCHEME_TEL)
    return imsec_str_eq(ua->user, ub.user);
  if (ua->scheme == IMSEC_SIP_SCHEME_OTHER)
    return imsec_str_ieq(ua->opaque, ub.opaque);
  return imsec_str_eq(ua->user, ub.user) && imsec_str_ieq(ua->host, ub.host);
}

/* The host of a parsed URI without IPv6 brackets. */
imsec_str scscf_bare_host(imsec_str h) {
  if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
    return imsec_str_make(h.p + 1, h.len - 2);
  return h;
}

static int is_self_hostport(const imsec_scscf *s, const imsec_sip_uri *u) {
  imsec_str host = scscf_bare_host(u->host);
  uint16_t port = u->has_port ? u->port : 5060;
  if (imsec_str_ieq_c(host, s->self_host) && port == s->cfg.self.port)
    return 1;
  /* A sibling of the cluster (cfg.aliases): what it was asked to do, this
   * S-CSCF does, with the registrations they share. */
  for (size_t i = 0; i < s->n_aliases; i++)
    if (imsec_str_ieq_c(host, s->aliases[i].host) && port == s->aliases[i].port)
      return 1;
  return 0;
}

/* A URI for the S-CSCF itself: its address, or the bare home domain. */
int scscf_is_self_uri(const imsec_scscf *s, const imsec_sip_uri *u,
                      int allow_user) {
  if (u->scheme != IMSEC_SIP_SCHEME_SIP && u->scheme != IMSEC_SIP_SCHEME_SIPS)
    return 0;
  if (is_self_hostport(s, u))
    return 1;
  return imsec_str_ieq_c(u->host, s->domain) && !u->has_port &&
         (allow_user || u->user.len == 0);
}

void scscf_log_err(imsec_out *out, imsec_log_level lvl, const char *what,
                   int rv) {
  (void)imsec_out_log(out, lvl, what, ": ", imsec_strerror(rv), NULL);
}

static void send_buf(imsec_out *out, uint64_t flow, const char *p, int len) {
  if (len > 0)
    (void)imsec_out_send(out, flow, p, (size_t)len);
}

void scscf_start_response(imsec_scscf *s, imsec_sip_builder *b, unsigned code,
                          const char *reason) {
  scscf_obs_response(s, code);
  imsec_sip_build_init(b, s->obuf, OBUF_CAP);
  imsec_sip_build_response(b, &s->m, code, imsec_str_c(reason),
                           imsec_str_c(s->to_tag));
  imsec_sip_build_header(b, IMSEC_STR_LIT("Server"),
                         IMSEC_STR_LIT("imsec-scscf"));
}

void scscf_finish_send(imsec_scscf *s, imsec_sip_builder *b, uint64_t flow,
                       imsec_out *out) {
  int n = imsec_sip_build_finish(b, IMSEC_STR_NULL);
  if (n < 0) {
    scscf_log_err(out, IMSEC_LOG_WARN, "cannot build a response", n);
    return;
  }
  send_buf(out, flow, s->obuf, n);
}

void scscf_respond(imsec_scscf *s, uint64_t flow, unsigned code,
                   const char *reason, imsec_out *out) {
  imsec_sip_builder b;
  scscf_start_response(s, &b, code, reason);
  scscf_finish_send(s, &b, flow, out);
}

/* The SIP Digest settings of `in` with their defaults into `c` (only
 * those: imsec_scscf_new and a reload share the rules). Returns 0 or
 * IMSEC_ERR_CONFIG. */
static int digest_settings(imsec_scscf_config *c,
                           const imsec_scscf_config *in) {
  const unsigned all = IMSEC_SCSCF_DIGEST_SHA256 | IMSEC_SCSCF_DIGEST_MD5;
  if (in->digest_nonce_ms < 0 || (in->digest_algs & ~all) ||
      in->digest_username < IMSEC_SCSCF_DIGEST_USER_ANY ||
      in->digest_username > IMSEC_SCSCF_DIGEST_USER_PART)
    return IMSEC_ERR_CONFIG;
  c->digest_nonce_ms = in->digest_nonce_ms ? in->digest_nonce_ms : 300000;
  c->digest_algs = in->digest_algs ? in->digest_algs : all;
  c->digest_username = in->digest_username;
  c->digest_proxy_auth = in->digest_proxy_auth;
  return 0;
}

int imsec_scscf_set_digest(imsec_scscf *s, const imsec_scscf_config *cfg) {
  if (!s || !cfg)
    return IMSEC_ERR_INVAL;
  return digest_settings(&s->cfg, cfg);
}

int imsec_scscf_new(imsec_scscf **out, const imsec_scscf_config *cfg,
                    imsec_crypto *crypto) {
  if (!out || !cfg || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_str dom = imsec_str_c(cfg->domain);
  if (!dom.len || dom.len >= 256 || !cfg->self.host[0] || !cfg->self.port)
    return IMSEC_ERR_CONFIG;
  for (size_t i = 0; i < dom.len; i++) {
    if (!(imsec_is_alnum((unsigned char)dom.p[i]) || dom.p[i] == '.' ||
          dom.p[i] == '-'))
      return IMSEC_ERR_CONFIG;
  }
  imsec_scscf_config c = *cfg;
  if (!c.nonce_lifetime_ms)
    c.nonce_lifetime_ms = 30000;
  if (!c.expires_min)
    c.expires_min = 60;
  if (!c.expires_max)
    c.expires_max = 3600;
  if (!c.expires_default)
    c.expires_default = 600;
  if (!c.max_contacts)
    c.max_contacts = 8;
  if (!c.max_challenges)
    c.max_challenges = 10000;
  if (!c.max_regs)
    c.max_regs = 100000;
  if (!c.txn_timeout_ms)
    c.txn_timeout_ms = 32000; /* RFC 3261 §17.1.2.2: Timer F = 64*T1 */
  if (!c.max_txns)
    c.max_txns = 1024;
  if (!c.timer_c_ms)
    c.timer_c_ms = 180000; /* RFC 3261 §16.6 step 11: more than 3 min */
  if (!c.store_timeout_ms)
    c.store_timeout_ms = 250;
  if (!c.max_parked)
    c.max_parked = 4096;
  if (!c.reg_cache_ms)
    c.reg_cache_ms = 2000;
  if (c.reg_cache_ms < 0 || c.n_aliases > IMSEC_SCSCF_MAX_ALIASES ||
      (c.n_aliases && !c.aliases))
    return IMSEC_ERR_CONFIG;
  if (digest_settings(&c, cfg) < 0)
    return IMSEC_ERR_CONFIG;
  if (!c.max_digest_nonces)
    c.max_digest_nonces = 65536;
  if (c.expires_min > c.expires_max || c.nonce_lifetime_ms < 0 ||
      c.txn_timeout_ms < 0 || c.store_timeout_ms < 0 || c.timer_c_ms < 0 ||
      c.digest_nonce_ms < 0 ||
      c.digest_username < IMSEC_SCSCF_DIGEST_USER_ANY ||
      c.digest_username > IMSEC_SCSCF_DIGEST_USER_PART)
    return IMSEC_ERR_CONFIG;
  scscf_limits_defaults(&c);
  if (c.expires_default < c.expires_min)
    c.expires_default = c.expires_min;
  if (c.expires_default > c.expires_max)
    c.expires_default = c.expires_max;

  imsec_scscf *s = calloc(1, sizeof(*s));
  if (!s)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_NOMEM;
  s->cfg = c;
  s->crypto = crypto;
  imsec_map_init_u64(&s->waits);
  imsec_map_init_str(&s->subs, s->seed);
  imsec_map_init_u64(&s->pk_flows);
  imsec_map_init_u64(&s->pends);
  imsec_map_init_u64(&s->fpeers);
  imsec_map_init_u64(&s->trust);
  imsec_map_init_u64(&s->peers_tag);
  imsec_map_init_u64(&s->peers_flow);
  imsec_map_init_u64(&s->tx);
  imsec_map_init_u64(&s->tx_timer);
  imsec_map_init_u64(&s->ch_timer);
  imsec_map_init_u64(&s->reg_timer);
  imsec_map_init_u64(&s->expiring);
  s->domain = scscf_dup_str(dom);
  if (!s->domain)
    goto fail_domain;
  s->obuf = malloc(OBUF_CAP);
  if (!s->obuf)
    goto fail_obuf;
  imsec_str h = imsec_str_c(c.self.host);
  if (imsec_str_copy(h, s->self_host, sizeof(s->self_host)) < 0) {
    rv = IMSEC_ERR_CONFIG;
    goto fail_host;
  }
  uint8_t rnd[8];
  IMSEC_GUARD_GOTO(rv, imsec_random(crypto, rnd, sizeof(rnd)), fail_host);
  IMSEC_GUARD_GOTO(
      rv, imsec_hex_encode(rnd, sizeof(rnd), s->to_tag, sizeof(s->to_tag)),
      fail_host);
  /* String keys come from the network: hashed under a key of ours
   * (include/imsec/map.h, hash flooding). */
  IMSEC_GUARD_GOTO(rv, imsec_random(crypto, s->seed, sizeof(s->seed)),
                   fail_host);
  imsec_map_init_str(&s->peers_key, s->seed);
  imsec_map_init_str(&s->ch_nonce, s->seed);
  imsec_map_init_str(&s->ch_impi, s->seed);
  imsec_map_init_str(&s->regs, s->seed);
  imsec_map_init_str(&s->impus, s->seed);
  imsec_map_init_str(&s->pk_q, s->seed);
  imsec_map_init_str(&s->tx_key, s->seed);
  IMSEC_GUARD_GOTO(rv, scscf_limits_setup(s), fail_host);
  imsec_map_init_str(&s->dg_nc, s->seed);
  imsec_sip_msg_init(&s->m, NULL);
  imsec_sip_msg_init(&s->m2, NULL);
  s->cfg.domain = s->domain;
  s->cfg.aliases = NULL;
  s->n_aliases = 0;
  if (c.n_aliases) {
    s->aliases = calloc(c.n_aliases, sizeof(*s->aliases));
    if (!s->aliases) {
      imsec_scscf_del(s);
      return IMSEC_ERR_NOMEM;
    }
    for (size_t i = 0; i < c.n_aliases; i++)
      s->aliases[i] = c.aliases[i];
    s->n_aliases = c.n_aliases;
  }
  rv = scscf_digest_setup(s);
  if (rv == 0)
    rv = scscf_trust_config(s, cfg);
  if (rv == 0)
    rv = scscf_routes_config(s, cfg);
  if (rv < 0) {
    imsec_scscf_del(s);
    return rv;
  }
  *out = s;
  return 0;
fail_host:
  imsec_limit_free(&s->lim_impi);
  imsec_limit_free(&s->lim_src);
  imsec_limit_free(&s->lim_pair);
  free(s->obuf);
fail_obuf:
  free(s->domain);
fail_domain:
  free(s);
  return rv;
}

void imsec_scscf_del(imsec_scscf *s) {
  if (!s)
    return;
  scscf_challenges_free(s);
  scscf_digest_free(s);
  scscf_regs_free(s);
  size_t it = 0;
  imsec_map_slot *e;
  while ((e = imsec_map_next(&s->peers_tag, &it)) != NULL)
    scscf_peer_free(e->val);
  imsec_map_free(&s->peers_tag);
  imsec_map_free(&s->peers_flow);
  imsec_map_free(&s->peers_key);
  it = 0;
  while ((e = imsec_map_next(&s->fpeers, &it)) != NULL)
    free(e->val);
  imsec_map_free(&s->fpeers);
  free(s->viabuf);
  it = 0;
  while ((e = imsec_map_next(&s->tx, &it)) != NULL)
    scscf_txn_free(e->val);
  imsec_map_free(&s->tx);
  imsec_map_free(&s->tx_timer);
  imsec_map_free(&s->tx_key);
  scscf_park_free(s);
  scscf_pends_free(s);
  scscf_expiring_free(s);
  free(s->aliases);
  imsec_sip_msg_free(&s->m);
  imsec_sip_msg_free(&s->m2);
  free(s->obuf);
  if (s->ibuf) {
    imsec_wipe(s->ibuf, s->ibuf_cap);
    free(s->ibuf);
  }
  imsec_limit_free(&s->lim_impi);
  imsec_limit_free(&s->lim_src);
  imsec_limit_free(&s->lim_pair);
  free(s->domain);
  scscf_routes_free(s);
  free(s->trust_domain);
  for (size_t i = 0; i < s->n_names; i++)
    free(s->names_text[i]);
  for (size_t i = 0; i < s->n_addrs; i++)
    free(s->addrs_text[i]);
  it = 0;
  while ((e = imsec_map_next(&s->trust, &it)) != NULL)
    scscf_trust_free(e->val);
  imsec_map_free(&s->trust);
  imsec_wipe(s->seed, sizeof(s->seed));
  free(s);
}

int imsec_scscf_set_expiry(imsec_scscf *s, const imsec_scscf_config *cfg) {
  if (!s || !cfg)
    return IMSEC_ERR_INVAL;
  /* The defaults and rules of imsec_scscf_new. */
  imsec_time_ms nonce = cfg->nonce_lifetime_ms ? cfg->nonce_lifetime_ms : 30000;
  uint32_t lo = cfg->expires_min ? cfg->expires_min : 60;
  uint32_t hi = cfg->expires_max ? cfg->expires_max : 3600;
  uint32_t def = cfg->expires_default ? cfg->expires_default : 600;
  if (lo > hi || nonce < 0)
    return IMSEC_ERR_CONFIG;
  if (def < lo)
    def = lo;
  if (def > hi)
    def = hi;
  /* Challenges and bindings already made keep the deadlines they got. */
  s->cfg.nonce_lifetime_ms = nonce;
  s->cfg.expires_min = lo;
  s->cfg.expires_max = hi;
  s->cfg.expires_default = def;
  return 0;
}

size_t imsec_scscf_contacts(const imsec_scscf *s, imsec_str impu) {
  const reg *r = s ? scscf_find_reg_impu(s, impu) : NULL;
  return r ? r->n : 0;
}

size_t imsec_scscf_challenges(const imsec_scscf *s) {
  return s ? s->nch : 0;
}

size_t imsec_scscf_registrations(const imsec_scscf *s) {
  return s ? imsec_map_len(&s->regs) : 0;
}

size_t imsec_scscf_txns(const imsec_scscf *s) {
  return s ? imsec_map_len(&s->tx) - s->n_linger : 0;
}

size_t imsec_scscf_parked(const imsec_scscf *s) {
  return s ? s->npk : 0;
}

int imsec_scscf_on_flow_up(imsec_scscf *s, uint64_t flow, uint64_t tag,
                           const imsec_flow_info *info, imsec_time_ms now,
                           imsec_out *out) {
  (void)now;
  if (!s || !flow)
    return 0;
  /* Before any byte goes out or comes in: is this a peer of the trust
   * domain? Towards a binding's P-CSCF over TLS, the one that registered
   * it. */
  peer *want = scscf_peer_by_tag(s, tag);
  const char *expect = want && want->addr.tp == IMSEC_TP_TLS && want->expect[0]
                           ? want->expect
                           : NULL;
  if (!scscf_judge_peer(s, flow, info, expect, out))
    return IMSEC_ERR_AUTH;
  if (tag) {
    peer *p = want;
    if (!p)
      return 0;
    if (scscf_peer_up(s, p, flow) < 0)
      return IMSEC_ERR_NOMEM;
    for (qmsg *q = p->head, *n; q; q = n) {
      n = q->next;
      (void)imsec_out_send(out, flow, q->data, q->len);
      imsec_wipe(q->data, q->len);
      free(q);
    }
    p->head = p->tail = NULL;
    p->nq = 0;
    return 0;
  }
  scscf_fpeer_set(s, flow, info);
  return 0;
}

void imsec_scscf_on_flow_down(imsec_scscf *s, uint64_t flow, uint64_t tag,
                              int reason, imsec_time_ms now, imsec_out *out) {
  (void)now;
  (void)reason;
  if (!s)
    return;
  scscf_trust_forget(s, flow);
  scscf_park_drop_flow(s, flow, out);
  scscf_fpeer_del(s, flow);
  /* Responses to requests that came in on it have nowhere to go. */
  scscf_fork_flow_down(s, flow, now, out);
  peer *p = scscf_peer_by_tag(s, tag);
  if (!p)
    p = scscf_peer_by_flow(s, flow);
  if (p) {
    if (p->nq) {
      char n[24];
      scscf_dec_u64(p->nq, n);
      (void)imsec_out_log(out, IMSEC_LOG_WARN, "connection to ", p->addr.host,
                          " lost: ", n, " queued request(s) dropped", NULL);
    }
    uint64_t ptag = p->tag;
    scscf_peer_remove(s, p);
    scscf_fail_peer_branches(s, ptag, now, out);
  }
}

void imsec_scscf_on_message(imsec_scscf *s, uint64_t flow, const uint8_t *msg,
                            size_t len, imsec_time_ms now, imsec_out *out) {
  if (!s || !msg || !out)
    return;
  if (len > s->m.lim.max_msg) {
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "message too large: dropped",
                        NULL);
    return;
  }
  if (len + 1 > s->ibuf_cap) {
    char *nb = malloc(len + 1);
    if (!nb)
      return;
    if (s->ibuf) {
      imsec_wipe(s->ibuf, s->ibuf_cap);
      free(s->ibuf);
    }
    s->ibuf = nb;
    s->ibuf_cap = len + 1;
  }
  memcpy(s->ibuf, msg, len);
  s->dg_authed = 0;
  int rv = imsec_sip_parse(&s->m, s->ibuf, len, 1);
  if (rv < 0) {
    /* A request is answered (400, 513), anything else dropped. */
    (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow, rv, &s->m.diag,
                                  msg, len, "imsec-scscf", s->to_tag);
    goto done;
  }
  if (!scscf_peer_trusted(s, flow, out))
    goto done;
  if (!s->m.is_request) {
    /* A branch's response that fails the checks (a bare CR, a malformed
     * field) is never relayed. */
    if (imsec_sip_check(&s->m) < 0) {
      (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow,
                                    IMSEC_ERR_PARSE, &s->m.diag, msg, len, NULL,
                                    NULL);
      goto done;
    }
    scscf_do_response(s, now, out);
    goto done;
  }
  rv = imsec_sip_check(&s->m);
  if (rv < 0) {
    unsigned st = s->m.diag.status ? s->m.diag.status : 400;
    scscf_respond(s, flow, st,
                  s->m.diag.reason ? s->m.diag.reason : "Bad Request", out);
    goto done;
  }
  if (scscf_mark_via(s, flow, out))
    goto done;
  if (s->m.method_id == IMSEC_SIP_M_REGISTER)
    scscf_do_register(s, flow, now, out);
  else
    scscf_do_request(s, flow, now, out);
done:
  imsec_wipe(s->ibuf, len);
}

void imsec_scscf_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                          imsec_out *out) {
  if (!s || scscf_park_on_timer(s, timer, now, out))
    return;
  if (scscf_challenge_on_timer(s, timer, now, out))
    return;
  if (scscf_reg_on_timer(s, timer, now, out))
    return;
  (void)scscf_fork_on_timer(s, timer, now, out);
}

void imsec_scscf_on_reply(imsec_scscf *s, const imsec_svc_reply *r,
                          imsec_time_ms now, imsec_out *out) {
  if (!s || !r || !out)
    return;
  switch (r->kind) {
  case IMSEC_SVC_REG_LOAD:
    scscf_load_reply(s, r, now, out);
    break;
  case IMSEC_SVC_REG_SAVE:
  case IMSEC_SVC_REG_DELETE:
    scscf_persist_reply(s, r, now, out);
    break;
  case IMSEC_SVC_HSS_ASSIGN:
    if (!imsec_map_get(&s->waits, r->id)) {
      /* A de-registration's, not waited for. */
      if (r->status < 0)
        scscf_log_err(out, IMSEC_LOG_WARN,
                      "HSS: server assignment (de-registration) failed",
                      r->status);
      break;
    }
    scscf_hss_reply(s, r, now, out);
    break;
  case IMSEC_SVC_HSS_SUB:
  case IMSEC_SVC_HSS_SUB_IMPU:
  case IMSEC_SVC_HSS_VECTOR:
  case IMSEC_SVC_HSS_RESYNC:
  case IMSEC_SVC_HSS_DIGEST:
  case IMSEC_SVC_REG_GET:
    scscf_hss_reply(s, r, now, out);
    break;
  case IMSEC_SVC_REG_EXPIRE:
    scscf_expire_reply(s, r, now, out);
    break;
  default:
    break;
  }
}

void imsec_scscf_on_refused(imsec_scscf *s, uint64_t flow, int reason,
                            const uint8_t *head, size_t len, imsec_time_ms now,
                            imsec_out *out) {
  if (!s || !out)
    return;
  (void)imsec_elem_refuse_input(out, &s->bad_rate, now, flow, reason, NULL,
                                head, len, "imsec-scscf", s->to_tag);
}

/* Our Via for a request sent over `tp` (RFC 3261 §16.6 step 8): our own
 * address, branch `prefix` then `br`, into buf. Returns its length or
 * IMSEC_ERR_NOBUF. */
int scscf_own_via(imsec_scscf *s, imsec_tp tp, const char *prefix,
                  const char *br, char *buf, size_t cap) {
  char port[8];
  scscf_dec_u64(s->cfg.self.port, port);
  int v6 = imsec_str_find(imsec_str_c(s->self_host), ':') >= 0;
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, cap);
  imsec_sip_build_raw(&b, IMSEC_STR_LIT("SIP/2.0/"));
  imsec_sip_build_raw(&b, imsec_str_c(imsec_tp_name(tp)));
  imsec_sip_build_raw(&b, v6 ? IMSEC_STR_LIT(" [") : IMSEC_STR_LIT(" "));
  imsec_sip_build_raw(&b, imsec_str_c(s->self_host));
  imsec_sip_build_raw(&b, v6 ? IMSEC_STR_LIT("]:") : IMSEC_STR_LIT(":"));
  imsec_sip_build_raw(&b, imsec_str_c(port));
  imsec_sip_build_raw(&b, IMSEC_STR_LIT(";branch="));
  imsec_sip_build_raw(&b, imsec_str_c(prefix));
  imsec_sip_build_raw(&b, imsec_str_c(br));
  return b.err ? IMSEC_ERR_NOBUF : (int)b.len;
}
