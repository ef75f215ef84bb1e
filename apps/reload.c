/* SIGHUP reloads of the daemons (see reload.h). */
#include "reload.h"

#include <stdio.h>
#include <string.h>

int reload_add_tls_cas(reload_plan *p, const char *what, imsec_net_tls *tls,
                       const char *cert, const char *key, const char *const *ca,
                       size_t n) {
  if (!tls)
    return 0;
  if (p->n_tls >= RELOAD_MAX_TLS || n > RELOAD_MAX_CA)
    return IMSEC_ERR_LIMIT;
  reload_tls *t = &p->tls[p->n_tls++];
  memset(t, 0, sizeof *t);
  t->what = what;
  t->tls = tls;
  t->cert = cert && cert[0] ? cert : NULL;
  t->key = key && key[0] ? key : NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (ca[i] && ca[i][0])
      t->ca[k++] = ca[i];
  return 0;
}

int reload_add_tls(reload_plan *p, const char *what, imsec_net_tls *tls,
                   const char *cert, const char *key, const char *ca) {
  return reload_add_tls_cas(p, what, tls, cert, key, &ca, ca ? 1 : 0);
}

void reload_restart(reload_plan *p, const char *key) {
  size_t n = strlen(p->restart), k = strlen(key);
  /* Once each: "listen" is not found inside "listen2" by this check. */
  for (const char *q = p->restart; (q = strstr(q, key)); q += k)
    if ((q == p->restart || q[-1] == ' ') && (q[k] == ',' || q[k] == '\0'))
      return;
  snprintf(p->restart + n, sizeof p->restart - n, "%s%s", n ? ", " : "", key);
}

int reload_addr_eq(const imsec_addr *a, const imsec_addr *b) {
  return a->tp == b->tp && a->port == b->port &&
         imsec_str_ieq(imsec_str_c(a->host), imsec_str_c(b->host));
}

static int str_eq(const char *a, const char *b) {
  return (!a || !a[0]) ? (!b || !b[0]) : (b && strcmp(a, b) == 0);
}

typedef struct apply_call {
  reload_plan *p;
  imsec_hostnet *r;
  int rc;
  char err[512];
} apply_call;

/* On the loop thread: the element's part, then the log level. */
static void apply_on_loop(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  apply_call *c = arg;
  (void)self;
  c->rc = c->p->apply ? c->p->apply(c->p->apply_arg, c->err, sizeof c->err) : 0;
  if (c->rc != 0)
    return;
  imsec_hostnet_set_log_level(c->r, c->p->level);
  if (c->p->anchors)
    c->p->anchors = imsec_hostnet_set_anchors(c->r, c->p->anchors);
  if (c->p->after)
    c->p->after(c->p->apply_arg, now, out);
}

int reload_run(imsec_hostnet *r, reload_plan *p, char *msg, size_t cap) {
  imsec_net_tls_next *next[RELOAD_MAX_TLS] = {0};
  int rc = 0;
  msg[0] = '\0';
  /* 1. Every file, before anything changes. */
  for (size_t i = 0; i < p->n_tls && rc == 0; i++) {
    reload_tls *t = &p->tls[i];
    imsec_net_tls_config c;
    memset(&c, 0, sizeof c);
    c.cert_file = t->cert;
    c.key_file = t->key;
    c.ca_file = t->ca[0];
    c.more_ca_files = t->ca[0] ? t->ca + 1 : NULL;
    char err[512];
    rc = imsec_net_tls_next_new(&next[i], t->tls, &c, err, sizeof err);
    if (rc != 0)
      snprintf(msg, cap, "%s: %s", t->what, err[0] ? err : imsec_strerror(rc));
  }
  /* 2. The element, on its own thread. */
  if (rc == 0) {
    apply_call ac = {.p = p, .r = r};
    rc = imsec_hostnet_call_wait(r, apply_on_loop, &ac, 10000);
    if (rc != 0)
      snprintf(msg, cap, "the event loop did not take the change: %s",
               imsec_strerror(rc));
    else if ((rc = ac.rc) != 0)
      snprintf(msg, cap, "%s", ac.err[0] ? ac.err : imsec_strerror(rc));
  }
  /* 3. The TLS contexts: new handshakes from here on. */
  for (size_t i = 0; i < p->n_tls; i++) {
    if (rc == 0)
      imsec_net_tls_next_apply(next[i]);
    imsec_net_tls_next_del(next[i]);
  }
  if (rc == 0 && p->restart[0])
    snprintf(msg, cap, "needs a restart: %s (left as it runs)", p->restart);
  return rc;
}

/* The operations keys (ctl_socket, metrics, ...) are taken at start: a
 * changed one is said, not applied (the socket and the HTTP server would
 * have to move under their clients). */
static void ops_restart(reload_plan *p, const imsec_conf_ops *running,
                        const imsec_conf_ops *next) {
  for (int i = 0; running && next && i < IMSEC_CONF_OPS_N; i++)
    if (strcmp(running->value[i], next->value[i]) != 0)
      reload_restart(p, imsec_conf_ops_keys[i]);
}

/* ------------------------------------------------------------ P-CSCF */

typedef struct pcscf_apply {
  imsec_pcscf *p;
  const imsec_pcscf_settings *next;
} pcscf_apply;

static int pcscf_apply_fn(void *arg, char *err, size_t cap) {
  pcscf_apply *a = arg;
  int rc = imsec_pcscf_set_routes(a->p, a->next->elem.routes,
                                  a->next->elem.n_routes);
  if (rc == IMSEC_ERR_LIMIT)
    snprintf(err, cap,
             "routes: more than %d distinct S-CSCF addresses since the start",
             IMSEC_PCSCF_MAX_ROUTES);
  else if (rc != 0)
    snprintf(err, cap, "routes: %s", imsec_strerror(rc));
  return rc;
}

/* 1 when the two P-CSCFs' plain-core peer addresses are the same list. */
static int pcscf_peers_eq(const imsec_pcscf_config *a,
                          const imsec_pcscf_config *b) {
  if (a->n_peer_addrs != b->n_peer_addrs)
    return 0;
  for (size_t i = 0; i < a->n_peer_addrs; i++)
    if (strcmp(a->peer_addrs[i], b->peer_addrs[i]) != 0)
      return 0;
  return 1;
}

int reload_pcscf(imsec_hostnet *r, imsec_pcscf *p,
                 const imsec_pcscf_settings *running,
                 const imsec_pcscf_settings *next,
                 const imsec_x509_anchors **anchors, char *msg, size_t cap) {
  reload_plan plan;
  memset(&plan, 0, sizeof plan);
  if (imsec_hostnet_log_level_parse(next->log_level, &plan.level) < 0) {
    snprintf(msg, cap, "log_level '%s': expected debug, info, warn or error",
             next->log_level);
    return IMSEC_ERR_CONFIG;
  }
  /* The UE side: listener 0 (TLS 1.3/1.2 towards UEs). */
  /* With client certificates (M2a) its UE CA files too; the "ue" client
   * profile (M2b) dials UEs with the same certificate. */
  const char *uecas[IMSEC_PCSCF_MAX_UE_CA] = {0};
  for (size_t i = 0; i < next->n_ue_ca; i++)
    uecas[i] = next->ue_ca[i];
  int m2a = running->elem.client_cert != IMSEC_PCSCF_CLIENT_CERT_NONE;
  (void)reload_add_tls_cas(&plan, "UE listener",
                           imsec_hostnet_listener_tls(r, 0), next->cert,
                           next->key, uecas, m2a ? next->n_ue_ca : 0);
  /* The other UE listeners (2.., tls: or dtls:): the same certificate. */
  for (size_t i = 0; i < running->n_more_listen; i++)
    (void)reload_add_tls_cas(&plan, "UE listener",
                             imsec_hostnet_listener_tls(r, 2 + i), next->cert,
                             next->key, uecas, m2a ? next->n_ue_ca : 0);
  if (running->elem.dial_ue)
    (void)reload_add_tls_cas(
        &plan, "UE client",
        imsec_hostnet_profile_tls(r, IMSEC_PCSCF_UE_PROFILE), next->cert,
        next->key, uecas, next->n_ue_ca);
  /* The core side (TS 33.210 §5.2): the network-element certificate both
   * ways and every core CA file, for the TLS core listener (listener 1,
   * NULL when it is tcp:) and the client towards S-CSCFs. Without core
   * CA files the client was made with no certificate either. */
  const char *cas[IMSEC_PCSCF_MAX_CORE_CA] = {0};
  for (size_t i = 0; i < next->n_core_ca; i++)
    cas[i] = next->core_ca[i];
  int core_tls = next->n_core_ca > 0;
  (void)reload_add_tls_cas(&plan, "core listener",
                           imsec_hostnet_listener_tls(r, 1), next->core_cert,
                           next->core_key, cas, next->n_core_ca);
  (void)reload_add_tls_cas(&plan, "core client", imsec_hostnet_client_tls(r),
                           core_tls ? next->core_cert : NULL,
                           core_tls ? next->core_key : NULL, cas,
                           next->n_core_ca);
  plan.anchors = *anchors;
  /* What the element or the sockets took at start. */
  const imsec_pcscf_config *a = &running->elem, *b = &next->elem;
  if (!reload_addr_eq(&running->listen, &next->listen) ||
      running->n_more_listen != next->n_more_listen)
    reload_restart(&plan, "listen");
  if (a->client_cert != b->client_cert)
    reload_restart(&plan, "client_cert");
  if (a->dial_ue != b->dial_ue)
    reload_restart(&plan, "dial_ue");
  for (size_t i = 0; i < next->n_more_listen && i < running->n_more_listen; i++)
    if (!reload_addr_eq(&running->more_listen[i], &next->more_listen[i]))
      reload_restart(&plan, "listen");
  if (running->has_core_listen != next->has_core_listen ||
      (next->has_core_listen &&
       !reload_addr_eq(&running->core_listen, &next->core_listen)))
    reload_restart(&plan, "core");
  if (strcmp(a->visited_network, b->visited_network) != 0)
    reload_restart(&plan, "visited_network");
  if (a->require_sec_agree != b->require_sec_agree)
    reload_restart(&plan, "require_sec_agree");
  if (a->access_3gpp != b->access_3gpp)
    reload_restart(&plan, "access");
  if (a->max_flows != b->max_flows)
    reload_restart(&plan, "max_flows");
  if (a->max_bindings != b->max_bindings)
    reload_restart(&plan, "max_bindings");
  if (a->max_transactions != b->max_transactions)
    reload_restart(&plan, "max_transactions");
  if (a->max_queue != b->max_queue)
    reload_restart(&plan, "max_queue");
  if (a->transaction_timeout_ms != b->transaction_timeout_ms)
    reload_restart(&plan, "transaction_timeout_ms");
  if (a->t1_ms != b->t1_ms || a->t2_ms != b->t2_ms || a->t4_ms != b->t4_ms)
    reload_restart(&plan, "t1_ms/t2_ms/t4_ms");
  if (a->dtls_idle_timeout_ms != b->dtls_idle_timeout_ms)
    reload_restart(&plan, "dtls_idle_timeout_ms");
  if (running->insecure_core != next->insecure_core)
    reload_restart(&plan, "insecure_core");
  if (!pcscf_peers_eq(a, b))
    reload_restart(&plan, "peer_addrs");
  if (a->n_core_peers != b->n_core_peers ||
      memcmp(a->core_peers, b->core_peers, sizeof(a->core_peers)) != 0)
    reload_restart(&plan, "core_peers");
  if (running->max_flows_per_ip != next->max_flows_per_ip)
    reload_restart(&plan, "max_flows_per_ip");
  /* Mode M3: the listener takes PSKs or not from the start; the PSK file
   * itself is read again by the daemon (apps/psk_file.c). */
  if (a->aka_psk != b->aka_psk || !running->psk_file[0] != !next->psk_file[0])
    reload_restart(&plan, "aka_psk/psk_file");
  ops_restart(&plan, &running->ops, &next->ops);
  pcscf_apply pa = {.p = p, .next = next};
  plan.apply = pcscf_apply_fn;
  plan.apply_arg = &pa;
  int rc = reload_run(r, &plan, msg, cap);
  *anchors = plan.anchors;
  return rc;
}

/* ------------------------------------------------------------ S-CSCF */

typedef struct scscf_apply {
  imsec_scscf *s;
  imsec_scscf_config cfg, was; /* the expiry and SIP Digest settings:
                                  next, running */
  const reload_scscf *next;
} scscf_apply;

/* Seconds as imsec_scscf_new takes them; -1 (not set): the default. */
static void scscf_expiry(const reload_scscf *v, imsec_scscf_config *c) {
  memset(c, 0, sizeof *c);
  if (v->nonce_lifetime > 0)
    c->nonce_lifetime_ms = v->nonce_lifetime * 1000;
  if (v->expires_min > 0)
    c->expires_min = (uint32_t)v->expires_min;
  if (v->expires_max > 0)
    c->expires_max = (uint32_t)v->expires_max;
  if (v->expires_default > 0)
    c->expires_default = (uint32_t)v->expires_default;
  /* SIP Digest (both names were checked when read). */
  if (v->digest_nonce_ms > 0)
    c->digest_nonce_ms = v->digest_nonce_ms;
  if (v->digest_username &&
      imsec_scscf_digest_user_parse(imsec_str_c(v->digest_username),
                                    &c->digest_username) < 0)
    c->digest_username = IMSEC_SCSCF_DIGEST_USER_ANY;
  if (v->digest_algorithms &&
      imsec_scscf_digest_algs_parse(imsec_str_c(v->digest_algorithms),
                                    &c->digest_algs) < 0)
    c->digest_algs = 0;
  c->digest_proxy_auth = v->digest_proxy_auth;
}

static int scscf_apply_fn(void *arg, char *err, size_t cap) {
  scscf_apply *a = arg;
  int rc = imsec_scscf_set_expiry(a->s, &a->cfg);
  if (rc != 0) {
    snprintf(err, cap, "expiry settings: %s",
             rc == IMSEC_ERR_CONFIG ? "expires_min above expires_max"
                                    : imsec_strerror(rc));
    return rc;
  }
  rc = imsec_scscf_set_digest(a->s, &a->cfg);
  if (rc != 0) {
    int back = imsec_scscf_set_expiry(a->s, &a->was);
    (void)back;
    snprintf(err, cap, "SIP Digest settings: %s", imsec_strerror(rc));
    return rc;
  }
  rc = imsec_scscf_set_peers(a->s, a->next->peers, a->next->n_peers,
                             a->next->peer_addrs, a->next->n_peer_addrs);
  if (rc != 0) {
    /* Nothing changed: the running expiry settings back (they were
     * accepted at start). */
    int back = imsec_scscf_set_expiry(a->s, &a->was);
    back |= imsec_scscf_set_digest(a->s, &a->was);
    (void)back;
    snprintf(err, cap, "peers: %s", imsec_strerror(rc));
  }
  return rc;
}

/* Peers already connected meet the new lists too: those now refused are
 * closed (TS 33.210 §5.2), not served until they reconnect. */
static void scscf_after_fn(void *arg, imsec_time_ms now, imsec_out *out) {
  scscf_apply *a = arg;
  int n = imsec_scscf_recheck_peers(a->s, now, out);
  if (n < 0)
    (void)imsec_out_log(out, IMSEC_LOG_WARN,
                        "reload: peers already connected not judged again: ",
                        imsec_strerror(n), NULL);
}

/* The same next hops, field by field (the structs may hold padding). */
static int scscf_routes_same(const reload_scscf *a, const reload_scscf *b) {
  if (a->n_routes != b->n_routes)
    return 0;
  for (size_t i = 0; i < a->n_routes; i++) {
    const imsec_scscf_route *x = &a->routes[i], *y = &b->routes[i];
    if (strcmp(x->domain, y->domain) != 0 || strcmp(x->name, y->name) != 0 ||
        x->addr.tp != y->addr.tp || x->addr.port != y->addr.port ||
        strcmp(x->addr.host, y->addr.host) != 0)
      return 0;
  }
  return 1;
}

int reload_scscf_apply(imsec_hostnet *r, imsec_scscf *s,
                       const reload_scscf *running, const reload_scscf *next,
                       const imsec_x509_anchors **anchors, char *msg,
                       size_t cap) {
  reload_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.level = IMSEC_LOG_INFO;
  if (next->log_level &&
      imsec_hostnet_log_level_parse(next->log_level, &plan.level) < 0) {
    snprintf(msg, cap, "log_level '%s': expected error, warn, info or debug",
             next->log_level);
    return IMSEC_ERR_CONFIG;
  }
  int need_tls = 0;
  for (size_t i = 0; i < running->n_listen; i++) {
    imsec_net_tls *t = imsec_hostnet_listener_tls(r, i);
    need_tls |= t != NULL;
    (void)reload_add_tls_cas(&plan, "tls listener", t, next->cert, next->key,
                             next->ca, next->n_ca);
  }
  (void)reload_add_tls_cas(&plan, "client", imsec_hostnet_client_tls(r),
                           next->cert, next->key, next->ca, next->n_ca);
  plan.anchors = *anchors;
  if (need_tls && (!next->cert || !next->key)) {
    snprintf(msg, cap, "a tls: listener needs cert and key");
    return IMSEC_ERR_CONFIG;
  }
  int same_listen = running->n_listen == next->n_listen;
  for (size_t i = 0; same_listen && i < next->n_listen; i++)
    same_listen = str_eq(running->listen[i], next->listen[i]);
  if (!same_listen)
    reload_restart(&plan, "listen");
  if (!str_eq(running->domain, next->domain))
    reload_restart(&plan, "domain");
  ops_restart(&plan, running->ops, next->ops);
  if (!str_eq(running->db, next->db))
    reload_restart(&plan, "db");
  if (!str_eq(running->registrations, next->registrations))
    reload_restart(&plan, "registrations");
  if (!str_eq(running->advertise, next->advertise))
    reload_restart(&plan, "advertise");
  if (running->txn_timeout != next->txn_timeout)
    reload_restart(&plan, "txn_timeout");
  if (running->max_txns != next->max_txns)
    reload_restart(&plan, "max_txns");
  if (!str_eq(running->trust_domain, next->trust_domain))
    reload_restart(&plan, "trust_domain");
  if (running->insecure_core != next->insecure_core)
    reload_restart(&plan, "insecure_core");
  if (running->max_flows_per_ip != next->max_flows_per_ip)
    reload_restart(&plan, "max_flows_per_ip");
  if (memcmp(running->limits, next->limits, sizeof(next->limits)) != 0)
    reload_restart(&plan, "flood limits or store_timeout");
  if (!scscf_routes_same(running, next))
    reload_restart(&plan, "routes");
  if (running->timer_c_ms != next->timer_c_ms)
    reload_restart(&plan, "timer_c_ms");
  if (running->max_digest_nonces != next->max_digest_nonces)
    reload_restart(&plan, "max_digest_nonces");
  if (!str_eq(running->hss, next->hss) ||
      !str_eq(running->diameter_identity, next->diameter_identity) ||
      !str_eq(running->diameter_realm, next->diameter_realm) ||
      !str_eq(running->hss_identity, next->hss_identity) ||
      !str_eq(running->diameter_cert, next->diameter_cert) ||
      !str_eq(running->diameter_key, next->diameter_key) ||
      !str_eq(running->diameter_ca, next->diameter_ca) ||
      running->hss_timeout != next->hss_timeout)
    reload_restart(&plan, "hss and its Diameter settings");
  int same_aliases = running->n_aliases == next->n_aliases;
  for (size_t i = 0; same_aliases && i < next->n_aliases; i++)
    same_aliases = str_eq(running->aliases[i], next->aliases[i]);
  if (!same_aliases)
    reload_restart(&plan, "aliases");
  scscf_apply sa = {.s = s, .next = next};
  scscf_expiry(next, &sa.cfg);
  scscf_expiry(running, &sa.was);
  plan.apply = scscf_apply_fn;
  plan.after = scscf_after_fn;
  plan.apply_arg = &sa;
  int rc = reload_run(r, &plan, msg, cap);
  *anchors = plan.anchors;
  return rc;
}
