/* Settings of `imsec pcscf` in YAML (include/imsec/pcscf.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "imsec/pcscf.h"
#include "conf_int.h"

#define MAX_FILE (1u << 20)

typedef struct pctx {
  const char *name;
  char *base_dir; /* the file's folder: relative cert/key paths start there */
  char *err;
  size_t errcap;
  imsec_pcscf_settings *s;
  uint64_t seen; /* one bit per key of keys[] (at most 64) */
  size_t routes_from_file;
} pctx;

__attribute__((format(printf, 4, 5))) static int
fail(pctx *c, int code, size_t line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rv = conf_vfail(c->err, c->errcap, c->name, line, code, fmt, ap);
  va_end(ap);
  return rv;
}

static size_t line_of(yaml_node_t *n) {
  return n->start_mark.line + 1;
}

static const char *scalar(pctx *c, yaml_node_t *n, const char *key, int *rv) {
  if (n->type != YAML_SCALAR_NODE) {
    *rv = fail(c, IMSEC_ERR_CONFIG, line_of(n),
               "key '%s': expected a single value, not a list or map", key);
    return NULL;
  }
  if (n->data.scalar.length > 4000 ||
      strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
    *rv = fail(c, IMSEC_ERR_CONFIG, line_of(n),
               "key '%s': value too long or contains NUL", key);
    return NULL;
  }
  return (const char *)n->data.scalar.value;
}

static int addr_value(pctx *c, yaml_node_t *n, const char *key,
                      imsec_addr *out) {
  int rv = 0;
  const char *v = scalar(c, n, key, &rv);
  if (!v)
    return rv;
  if (imsec_addr_parse_listen(imsec_str_c(v), out) < 0)
    return fail(c, IMSEC_ERR_CONFIG, line_of(n),
                "key '%s': '%s' is not tp:host:port", key, v);
  return 0;
}

/* listen: one address or a list of them, each tls: or dtls: (SIP over
 * DTLS, draft-jennings-sip-dtls); the first is `listen`, the rest
 * more_listen. */
static int listen_value(pctx *c, yaml_document_t *doc, yaml_node_t *v,
                        imsec_pcscf_settings *s) {
  yaml_node_t *one[1] = {v};
  yaml_node_t **items = one;
  size_t n = 1;
  yaml_node_t *list[IMSEC_PCSCF_MAX_LISTEN];
  if (v->type == YAML_SEQUENCE_NODE) {
    n = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start;
         it < v->data.sequence.items.top; it++) {
      yaml_node_t *e = yaml_document_get_node(doc, *it);
      if (!e)
        return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                    "key 'listen': broken list");
      if (n >= IMSEC_PCSCF_MAX_LISTEN)
        return fail(c, IMSEC_ERR_CONFIG, line_of(e),
                    "key 'listen': more than %d addresses",
                    IMSEC_PCSCF_MAX_LISTEN);
      list[n++] = e;
    }
    if (!n)
      return fail(c, IMSEC_ERR_CONFIG, line_of(v), "key 'listen': empty list");
    items = list;
  }
  s->n_more_listen = 0;
  for (size_t i = 0; i < n; i++) {
    imsec_addr *a = i ? &s->more_listen[i - 1] : &s->listen;
    IMSEC_GUARD(addr_value(c, items[i], "listen", a));
    if (a->tp != IMSEC_TP_TLS && a->tp != IMSEC_TP_DTLS)
      return fail(c, IMSEC_ERR_CONFIG, line_of(items[i]),
                  "key 'listen': UEs connect over TLS or DTLS "
                  "(tls:HOST:PORT, dtls:HOST:PORT)");
    if (i)
      s->n_more_listen++;
  }
  s->has_listen = 1;
  return 0;
}

static int path_value(pctx *c, yaml_node_t *n, const char *key, char *out,
                      size_t cap) {
  int rv = 0;
  const char *v = scalar(c, n, key, &rv);
  if (!v)
    return rv;
  if (!v[0])
    return fail(c, IMSEC_ERR_CONFIG, line_of(n), "key '%s': empty path", key);
  int w = (v[0] == '/' || !c->base_dir)
              ? snprintf(out, cap, "%s", v)
              : snprintf(out, cap, "%s/%s", c->base_dir, v);
  if (w < 0 || (size_t)w >= cap)
    return fail(c, IMSEC_ERR_CONFIG, line_of(n), "key '%s': path too long",
                key);
  return 0;
}

static int uint_value(pctx *c, yaml_node_t *n, const char *key, uint64_t max,
                      uint64_t *out) {
  int rv = 0;
  const char *v = scalar(c, n, key, &rv);
  if (!v)
    return rv;
  if (imsec_str_to_u64(imsec_str_c(v), max, out) < 0 || *out == 0)
    return fail(c, IMSEC_ERR_CONFIG, line_of(n),
                "key '%s': expected a number from 1 to %llu", key,
                (unsigned long long)max);
  return 0;
}

/* DOMAIN=MEMBER[,MEMBER...]: one route per member of the failover group,
 * in order (lib/pcscf/failover.c). */
static int add_route(pctx *c, size_t line, const char *spec) {
  imsec_pcscf_config *e = &c->s->elem;
  size_t got = 0;
  int rv = e->n_routes >= IMSEC_PCSCF_MAX_ROUTES
               ? IMSEC_ERR_LIMIT
               : imsec_pcscf_route_parse_list(
                     imsec_str_c(spec), &e->routes[e->n_routes],
                     IMSEC_PCSCF_MAX_ROUTES - e->n_routes, &got);
  if (rv == IMSEC_ERR_LIMIT)
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'routes': more than %d routes",
                IMSEC_PCSCF_MAX_ROUTES);
  if (rv < 0)
    return fail(c, IMSEC_ERR_CONFIG, line,
                "key 'routes': '%s' is not DOMAIN=tp:host:port[,tp:host:port]",
                spec);
  e->n_routes += got;
  return 0;
}

static int routes_value(pctx *c, yaml_document_t *doc, yaml_node_t *n) {
  int rv = 0;
  if (n->type == YAML_SCALAR_NODE) {
    const char *v = scalar(c, n, "routes", &rv);
    return v ? add_route(c, line_of(n), v) : rv;
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
      yaml_node_t *item = yaml_document_get_node(doc, *it);
      const char *v = item ? scalar(c, item, "routes", &rv) : NULL;
      if (!v)
        return item ? rv
                    : fail(c, IMSEC_ERR_CONFIG, line_of(n), "key 'routes'");
      IMSEC_GUARD(add_route(c, line_of(item), v));
    }
    return 0;
  }
  /* a mapping DOMAIN: ADDR */
  for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
       pr < n->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
    const char *k = kn ? scalar(c, kn, "routes", &rv) : NULL;
    const char *v = k && vn ? scalar(c, vn, "routes", &rv) : NULL;
    if (!v)
      return rv ? rv : fail(c, IMSEC_ERR_CONFIG, line_of(n), "key 'routes'");
    char spec[600];
    snprintf(spec, sizeof(spec), "%s=%s", k, v);
    IMSEC_GUARD(add_route(c, line_of(kn), spec));
  }
  return 0;
}

/* One value of a list key: a scalar, or each item of a sequence. */
static int each_value(pctx *c, yaml_document_t *doc, yaml_node_t *n,
                      const char *key,
                      int (*add)(pctx *, size_t, const char *)) {
  int rv = 0;
  if (n->type != YAML_SEQUENCE_NODE) {
    const char *v = scalar(c, n, key, &rv);
    return v ? add(c, line_of(n), v) : rv;
  }
  for (yaml_node_item_t *it = n->data.sequence.items.start;
       it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(doc, *it);
    const char *v = item ? scalar(c, item, key, &rv) : NULL;
    if (!v)
      return item ? rv : fail(c, IMSEC_ERR_CONFIG, line_of(n), "key '%s'", key);
    IMSEC_GUARD(add(c, line_of(item), v));
  }
  return 0;
}

static int add_core_ca(pctx *c, size_t line, const char *v) {
  imsec_pcscf_settings *s = c->s;
  if (s->n_core_ca >= IMSEC_PCSCF_MAX_CORE_CA)
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'core_ca': more than %d files",
                IMSEC_PCSCF_MAX_CORE_CA);
  if (!v[0])
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'core_ca': empty path");
  char *out = s->core_ca[s->n_core_ca];
  size_t cap = sizeof(s->core_ca[0]);
  int w = (v[0] == '/' || !c->base_dir)
              ? snprintf(out, cap, "%s", v)
              : snprintf(out, cap, "%s/%s", c->base_dir, v);
  if (w < 0 || (size_t)w >= cap)
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'core_ca': path too long");
  s->n_core_ca++;
  return 0;
}

static int add_peer_addr(pctx *c, size_t line, const char *v) {
  imsec_pcscf_config *e = &c->s->elem;
  if (e->n_peer_addrs >= IMSEC_PCSCF_MAX_PEERS)
    return fail(c, IMSEC_ERR_CONFIG, line,
                "key 'peer_addrs': more than %d addresses",
                IMSEC_PCSCF_MAX_PEERS);
  if (!v[0] || strlen(v) >= sizeof(e->peer_addrs[0]))
    return fail(c, IMSEC_ERR_CONFIG, line,
                "key 'peer_addrs': expected an IP address");
  snprintf(e->peer_addrs[e->n_peer_addrs++], sizeof(e->peer_addrs[0]), "%s", v);
  return 0;
}

/* RFC 5922 §7: an S-CSCF certificate name allowed on the TLS core
 * listener besides the routes' names. */
static int add_core_peer(pctx *c, size_t line, const char *v) {
  imsec_pcscf_config *e = &c->s->elem;
  if (e->n_core_peers >= IMSEC_PCSCF_MAX_PEERS)
    return fail(c, IMSEC_ERR_CONFIG, line,
                "key 'core_peers': more than %d names", IMSEC_PCSCF_MAX_PEERS);
  if (!v[0] || strlen(v) >= sizeof(e->core_peers[0]) || strchr(v, '*'))
    return fail(c, IMSEC_ERR_CONFIG, line,
                "key 'core_peers': expected a host name (no wildcard)");
  snprintf(e->core_peers[e->n_core_peers++], sizeof(e->core_peers[0]), "%s", v);
  return 0;
}

/* The Mw security keys (TS 33.210): core_cert, core_key, core_ca,
 * insecure_core, peer_addrs. */
static int core_key_value(pctx *c, yaml_document_t *doc, size_t k,
                          yaml_node_t *v) {
  imsec_pcscf_settings *s = c->s;
  int rv = 0;
  const char *t;
  switch (k) {
  case 0:
    return path_value(c, v, "core_cert", s->core_cert, sizeof(s->core_cert));
  case 1:
    return path_value(c, v, "core_key", s->core_key, sizeof(s->core_key));
  case 2:
    return each_value(c, doc, v, "core_ca", add_core_ca);
  case 3:
    if (!(t = scalar(c, v, "insecure_core", &rv)))
      return rv;
    if (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1"))
      s->insecure_core = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0"))
      s->insecure_core = 0;
    else
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'insecure_core': expected true or false");
    return 0;
  default:
    return each_value(c, doc, v, "peer_addrs", add_peer_addr);
  }
}

static int add_ue_ca(pctx *c, size_t line, const char *v) {
  imsec_pcscf_settings *s = c->s;
  if (s->n_ue_ca >= IMSEC_PCSCF_MAX_UE_CA)
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'ue_ca': more than %d files",
                IMSEC_PCSCF_MAX_UE_CA);
  if (!v[0])
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'ue_ca': empty path");
  char *out = s->ue_ca[s->n_ue_ca];
  size_t cap = sizeof(s->ue_ca[0]);
  int w = (v[0] == '/' || !c->base_dir)
              ? snprintf(out, cap, "%s", v)
              : snprintf(out, cap, "%s/%s", c->base_dir, v);
  if (w < 0 || (size_t)w >= cap)
    return fail(c, IMSEC_ERR_CONFIG, line, "key 'ue_ca': path too long");
  s->n_ue_ca++;
  return 0;
}

/* Modes M2a and M2b: client_cert, ue_ca, dial_ue. */
static int m2_key_value(pctx *c, yaml_document_t *doc, size_t k,
                        yaml_node_t *v) {
  imsec_pcscf_settings *s = c->s;
  int rv = 0;
  const char *t;
  switch (k) {
  case 0:
    if (!(t = scalar(c, v, "client_cert", &rv)))
      return rv;
    if (imsec_pcscf_client_cert_parse(imsec_str_c(t), &s->elem.client_cert) < 0)
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'client_cert': expected none, request or require");
    return 0;
  case 1:
    return each_value(c, doc, v, "ue_ca", add_ue_ca);
  default:
    if (!(t = scalar(c, v, "dial_ue", &rv)))
      return rv;
    if (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1"))
      s->elem.dial_ue = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0"))
      s->elem.dial_ue = 0;
    else
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'dial_ue': expected true or false");
    return 0;
  }
}

static const char *const keys[] = {"listen",
                                   "core",
                                   "cert",
                                   "key",
                                   "routes",
                                   "visited_network",
                                   "require_sec_agree",
                                   "log_level",
                                   "max_flows",
                                   "max_bindings",
                                   "max_transactions",
                                   "max_queue",
                                   "transaction_timeout_ms",
                                   "core_cert",
                                   "core_key",
                                   "core_ca",
                                   "insecure_core",
                                   "peer_addrs",
                                   "max_flows_per_ip",
                                   "core_peers",
                                   "client_cert",
                                   "ue_ca",
                                   "dial_ue",
                                   "psk_file",
                                   "aka_psk",
                                   "t1_ms",
                                   "t2_ms",
                                   "t4_ms",
                                   "dtls_idle_timeout_ms",
                                   "timer_c_ms",
                                   "max_dialogs",
                                   "access",
                                   "options_interval",
                                   "failover_timeout_ms"};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(N_KEYS <= 64, "pctx.seen has one bit per key");

static int one_key(pctx *c, yaml_document_t *doc, size_t k, yaml_node_t *v) {
  imsec_pcscf_settings *s = c->s;
  const char *key = keys[k];
  int rv = 0;
  uint64_t u;
  const char *t;
  switch (k) {
  case 0:
    return listen_value(c, doc, v, s);
  case 1:
    IMSEC_GUARD(addr_value(c, v, key, &s->core_listen));
    if (s->core_listen.tp != IMSEC_TP_TCP && s->core_listen.tp != IMSEC_TP_TLS)
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'core': the S-CSCF side is tls:HOST:PORT (or tcp:)");
    s->has_core_listen = 1;
    return 0;
  case 2:
    return path_value(c, v, key, s->cert, sizeof(s->cert));
  case 3:
    return path_value(c, v, key, s->key, sizeof(s->key));
  case 4:
    return routes_value(c, doc, v);
  case 5:
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (!t[0] || strlen(t) >= sizeof(s->elem.visited_network) ||
        strpbrk(t, "\"\\\r\n"))
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'visited_network': expected a network name");
    snprintf(s->elem.visited_network, sizeof(s->elem.visited_network), "%s", t);
    return 0;
  case 6:
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1"))
      s->elem.require_sec_agree = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0"))
      s->elem.require_sec_agree = 0;
    else
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'require_sec_agree': expected true or false");
    return 0;
  case 7:
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (strcmp(t, "debug") && strcmp(t, "info") && strcmp(t, "warn") &&
        strcmp(t, "error"))
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'log_level': expected debug, info, warn or error");
    snprintf(s->log_level, sizeof(s->log_level), "%s", t);
    return 0;
  case 8:
    IMSEC_GUARD(uint_value(c, v, key, 10000000, &u));
    s->elem.max_flows = (size_t)u;
    return 0;
  case 9:
    IMSEC_GUARD(uint_value(c, v, key, 10000000, &u));
    s->elem.max_bindings = (size_t)u;
    return 0;
  case 10:
    IMSEC_GUARD(uint_value(c, v, key, 1000000, &u));
    s->elem.max_transactions = (size_t)u;
    return 0;
  case 11:
    IMSEC_GUARD(uint_value(c, v, key, 100000, &u));
    s->elem.max_queue = (size_t)u;
    return 0;
  case 12:
    IMSEC_GUARD(uint_value(c, v, key, 3600000, &u));
    s->elem.transaction_timeout_ms = (imsec_time_ms)u;
    return 0;
  case 18:
    IMSEC_GUARD(uint_value(c, v, key, 1000000, &u));
    s->max_flows_per_ip = (uint32_t)u;
    return 0;
  case 19:
    return each_value(c, doc, v, "core_peers", add_core_peer);
  case 20:
  case 21:
  case 22:
    return m2_key_value(c, doc, k - 20, v);
  case 23: /* mode M3, configured (apps/psk_file.c reads it) */
    return path_value(c, v, key, s->psk_file, sizeof(s->psk_file));
  case 24: /* mode M3, AKA-derived */
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1"))
      s->elem.aka_psk = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0"))
      s->elem.aka_psk = 0;
    else
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'aka_psk': expected true or false");
    return 0;
  case 25: /* DTLS: RFC 3261 §17.1.1.1 T1, T2, T4 */
    IMSEC_GUARD(uint_value(c, v, key, 60000, &u));
    s->elem.t1_ms = (imsec_time_ms)u;
    return 0;
  case 26:
  case 27:
    IMSEC_GUARD(uint_value(c, v, key, 600000, &u));
    *(k == 26 ? &s->elem.t2_ms : &s->elem.t4_ms) = (imsec_time_ms)u;
    return 0;
  case 28: /* DTLS: a quiet association is closed (no FIN) */
    IMSEC_GUARD(uint_value(c, v, key, 86400000, &u));
    s->elem.dtls_idle_timeout_ms = (imsec_time_ms)u;
    return 0;
  case 29: /* RFC 3261 §16.6 step 11: Timer C of forwarded INVITEs */
    IMSEC_GUARD(uint_value(c, v, key, 3600000, &u));
    s->elem.timer_c_ms = (imsec_time_ms)u;
    return 0;
  case 30: /* calls: dialogs tracked (lib/pcscf/dialog.c) */
    IMSEC_GUARD(uint_value(c, v, key, 10000000, &u));
    s->elem.max_dialogs = (size_t)u;
    return 0;
  case 31: /* TS 33.203 Annex N.1: SIP Digest refused on 3GPP access */
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (!strcmp(t, "3gpp"))
      s->elem.access_3gpp = 1;
    else if (!strcmp(t, "other"))
      s->elem.access_3gpp = 0;
    else
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'access': expected 3gpp or other");
    return 0;
  case 32: /* failover groups: OPTIONS pings every N s, 0 none */
    if (!(t = scalar(c, v, key, &rv)))
      return rv;
    if (imsec_str_to_u64(imsec_str_c(t), 86400, &u) < 0)
      return fail(c, IMSEC_ERR_CONFIG, line_of(v),
                  "key 'options_interval': expected seconds from 0 to 86400");
    s->elem.options_interval_ms = u ? (imsec_time_ms)u * 1000 : -1;
    return 0;
  case 33: /* failover groups: a REGISTER's wait before the next member */
    IMSEC_GUARD(uint_value(c, v, key, 600000, &u));
    s->elem.failover_timeout_ms = (imsec_time_ms)u;
    return 0;
  default:
    return core_key_value(c, doc, k - 13, v);
  }
}

static int walk(pctx *c, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root)
    return fail(c, IMSEC_ERR_CONFIG, 1, "empty file");
  if (root->type != YAML_MAPPING_NODE)
    return fail(c, IMSEC_ERR_CONFIG, line_of(root),
                "expected a map of settings (key: value)");
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
       pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
    int rv = 0;
    const char *k = kn ? scalar(c, kn, "?", &rv) : NULL;
    if (!k || !vn)
      return rv ? rv : fail(c, IMSEC_ERR_CONFIG, 1, "malformed key");
    size_t i = 0;
    while (i < N_KEYS && strcmp(k, keys[i]))
      i++;
    int oi = i == N_KEYS ? imsec_conf_ops_key(k) : -1;
    if (oi >= 0) {
      /* An operations key: its text for the daemon (conf_ops.h). */
      imsec_conf_ops *o = &c->s->ops;
      if (o->line[oi])
        return fail(c, IMSEC_ERR_CONFIG, line_of(kn), "key '%s': given twice",
                    k);
      const char *t = scalar(c, vn, k, &rv);
      if (!t)
        return rv;
      if (!t[0] || strlen(t) >= IMSEC_CONF_OPS_MAX)
        return fail(c, IMSEC_ERR_CONFIG, line_of(vn),
                    "key '%s': expected one value", k);
      snprintf(o->value[oi], sizeof(o->value[oi]), "%s", t);
      o->line[oi] = line_of(kn);
      continue;
    }
    if (i == N_KEYS)
      return fail(c, IMSEC_ERR_CONFIG, line_of(kn), "key '%s': unknown key", k);
    if (c->seen & ((uint64_t)1 << i))
      return fail(c, IMSEC_ERR_CONFIG, line_of(kn), "key '%s': given twice", k);
    c->seen |= (uint64_t)1 << i;
    IMSEC_GUARD(one_key(c, doc, i, vn));
  }
  return 0;
}

int imsec_pcscf_settings_load(const char *path, imsec_pcscf_settings *s,
                              char *err, size_t errcap) {
  if (!path || !s)
    return IMSEC_ERR_INVAL;
  pctx c = {.name = path, .err = err, .errcap = errcap, .s = s};
  if (errcap)
    err[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return fail(&c, IMSEC_ERR_IO, 0, "cannot open");
  char *text = malloc(MAX_FILE + 1);
  if (!text) {
    fclose(f);
    return fail(&c, IMSEC_ERR_NOMEM, 0, "out of memory");
  }
  size_t len = fread(text, 1, MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr || len > MAX_FILE) {
    free(text);
    return fail(&c, IMSEC_ERR_IO, 0, rerr ? "read error" : "file too large");
  }
  const char *slash = strrchr(path, '/');
  if (slash) {
    size_t n = (size_t)(slash - path);
    c.base_dir = malloc(n + 2);
    if (c.base_dir) {
      memcpy(c.base_dir, path, n ? n : 1);
      c.base_dir[n ? n : 1] = 0;
    }
  }
  int rv;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    rv = fail(&c, IMSEC_ERR_NOMEM, 0, "out of memory");
    goto done_text;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    rv = fail(&c, IMSEC_ERR_CONFIG, parser.problem_mark.line + 1,
              "not valid YAML: %s",
              parser.problem ? parser.problem : "parse error");
    goto done_parser;
  }
  rv = walk(&c, &doc);
  yaml_document_delete(&doc);
done_parser:
  yaml_parser_delete(&parser);
done_text:
  free(text);
  free(c.base_dir);
  return rv;
}
