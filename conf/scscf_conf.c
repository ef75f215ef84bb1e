/* The S-CSCF daemon's YAML configuration (include/imsec/scscf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "imsec/scscf.h"
#include "conf_int.h"

#define MAX_FILE (64 * 1024)

typedef struct ctx {
  const char *name;
  char *dir; /* the file's folder, with a trailing '/', or "" */
  char *err;
  size_t errcap;
  imsec_scscf_file *out;
} ctx;

__attribute__((format(printf, 4, 5))) static int
fail(ctx *c, int code, size_t line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rv = conf_vfail(c->err, c->errcap, c->name, line, code, fmt, ap);
  va_end(ap);
  return rv;
}

static int text(ctx *c, yaml_node_t *v, const char *key, int path, char **dst) {
  size_t line = v->start_mark.line + 1;
  if (v->type != YAML_SCALAR_NODE)
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': expected a text value",
                key);
  const char *s = (const char *)v->data.scalar.value;
  size_t n = v->data.scalar.length;
  if (n == 0 || n > 1024 || memchr(s, 0, n))
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': empty or invalid value",
                key);
  int rel = path && s[0] != '/';
  size_t dl = rel ? strlen(c->dir) : 0;
  char *p = malloc(dl + n + 1);
  if (!p)
    return fail(c, IMSEC_ERR_NOMEM, line, "out of memory");
  memcpy(p, c->dir, dl);
  memcpy(p + dl, s, n);
  p[dl + n] = 0;
  *dst = p;
  return 0;
}

static int number(ctx *c, yaml_node_t *v, const char *key, int64_t max,
                  int64_t *dst) {
  size_t line = v->start_mark.line + 1;
  uint64_t x;
  if (v->type != YAML_SCALAR_NODE ||
      imsec_str_to_u64(imsec_str_make((const char *)v->data.scalar.value,
                                      v->data.scalar.length),
                       (uint64_t)max, &x) < 0)
    return fail(c, IMSEC_ERR_PARSE, line,
                "key '%s': expected a whole number up to %lld", key,
                (long long)max);
  *dst = (int64_t)x;
  return 0;
}

static const char *const keys[] = {
    "domain",
    "db",
    "listen",
    "advertise",
    "cert",
    "key",
    "log_level",
    "nonce_lifetime",
    "expires_min",
    "expires_max",
    "expires_default",
    "txn_timeout",
    "max_txns",
    "max_flows_per_ip",
    /* flood limits and the store's lock wait (limit_key) */
    "store_timeout",
    "limit_window",
    "impi_challenge_limit",
    "source_challenge_limit",
    "impi_failure_limit",
    "source_failure_limit",
    "lockout",
    "registrations",
    /* calls (routes_value) */
    "routes",
    "timer_c_ms",
    /* SIP Digest (digest_key) */
    "digest_nonce_ms",
    "max_digest_nonces",
    "digest_username",
    "digest_proxy_auth",
    "digest_algorithms",
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The flood-limit keys and the store's lock wait, found by name so the
 * order of keys[] does not matter. */
static int limit_key(ctx *c, size_t k, yaml_node_t *v) {
  static const struct {
    const char *name;
    int64_t max;
    size_t off;
  } lk[] = {
      {"store_timeout", 60000, offsetof(imsec_scscf_file, store_timeout)},
      {"limit_window", 86400, offsetof(imsec_scscf_file, limit_window)},
      {"impi_challenge_limit", 1000000,
       offsetof(imsec_scscf_file, impi_challenge_limit)},
      {"source_challenge_limit", 100000000,
       offsetof(imsec_scscf_file, source_challenge_limit)},
      {"impi_failure_limit", 1000000,
       offsetof(imsec_scscf_file, impi_failure_limit)},
      {"source_failure_limit", 100000000,
       offsetof(imsec_scscf_file, source_failure_limit)},
      {"lockout", 86400 * 30, offsetof(imsec_scscf_file, lockout)},
  };
  for (size_t i = 0; i < sizeof(lk) / sizeof(lk[0]); i++) {
    if (strcmp(keys[k], lk[i].name) != 0)
      continue;
    int64_t *dst = (int64_t *)(void *)((char *)c->out + lk[i].off);
    IMSEC_GUARD(number(c, v, keys[k], lk[i].max, dst));
    /* 0 would silently mean the default: refused, not guessed. */
    if (*dst == 0)
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key '%s': expected 1..%lld", keys[k], (long long)lk[i].max);
    return 0;
  }
  return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
              "key '%s': not handled", keys[k]);
}

/* One next hop "DOMAIN=tp:host:port[;name=NAME]", as the P-CSCF's. */
static int add_route(ctx *c, size_t line, imsec_str spec) {
  imsec_scscf_file *o = c->out;
  if (o->n_routes >= IMSEC_SCSCF_MAX_ROUTES)
    return fail(c, IMSEC_ERR_LIMIT, line, "key 'routes': more than %d routes",
                IMSEC_SCSCF_MAX_ROUTES);
  if (imsec_scscf_route_parse(spec, &o->routes[o->n_routes]) < 0 ||
      (o->routes[o->n_routes].addr.tp != IMSEC_TP_TCP &&
       o->routes[o->n_routes].addr.tp != IMSEC_TP_TLS))
    return fail(c, IMSEC_ERR_PARSE, line,
                "key 'routes': '%.*s' is not DOMAIN=tls:HOST:PORT[;name=NAME]",
                (int)(spec.len > 300 ? 300 : spec.len), spec.p);
  o->n_routes++;
  return 0;
}

static int route_scalar(ctx *c, yaml_node_t *n, imsec_str *out) {
  if (!n || n->type != YAML_SCALAR_NODE || !n->data.scalar.length ||
      n->data.scalar.length > 1024)
    return fail(c, IMSEC_ERR_PARSE, n ? n->start_mark.line + 1 : 0,
                "key 'routes': expected DOMAIN=ADDR values");
  *out =
      imsec_str_make((const char *)n->data.scalar.value, n->data.scalar.length);
  return 0;
}

/* routes: one value, a list of them, or a map DOMAIN: ADDR (the
 * P-CSCF's forms). */
static int routes_value(ctx *c, yaml_document_t *doc, yaml_node_t *v) {
  imsec_str spec;
  if (v->type == YAML_SCALAR_NODE) {
    IMSEC_GUARD(route_scalar(c, v, &spec));
    return add_route(c, v->start_mark.line + 1, spec);
  }
  if (v->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = v->data.sequence.items.start;
         it < v->data.sequence.items.top; it++) {
      yaml_node_t *e = yaml_document_get_node(doc, *it);
      IMSEC_GUARD(route_scalar(c, e, &spec));
      IMSEC_GUARD(add_route(c, e->start_mark.line + 1, spec));
    }
    return 0;
  }
  for (yaml_node_pair_t *pr = v->data.mapping.pairs.start;
       pr < v->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
    imsec_str k, a;
    IMSEC_GUARD(route_scalar(c, kn, &k));
    IMSEC_GUARD(route_scalar(c, vn, &a));
    char buf[2100];
    int n = snprintf(buf, sizeof(buf), "%.*s=%.*s", (int)k.len, k.p, (int)a.len,
                     a.p);
    if (n < 0 || (size_t)n >= sizeof(buf))
      return fail(c, IMSEC_ERR_PARSE, kn->start_mark.line + 1,
                  "key 'routes': too long");
    IMSEC_GUARD(
        add_route(c, kn->start_mark.line + 1, imsec_str_make(buf, (size_t)n)));
  }
  return 0;
}

static int boolean(ctx *c, yaml_node_t *v, const char *key, int *dst);

/* The SIP Digest keys: 1 handled, 0 not one of them, or an error. */
static int digest_key(ctx *c, const char *key, yaml_node_t *v) {
  imsec_scscf_file *o = c->out;
  int64_t *n = NULL, max = 0;
  if (strcmp(key, "digest_nonce_ms") == 0)
    n = &o->digest_nonce_ms, max = 86400000;
  else if (strcmp(key, "max_digest_nonces") == 0)
    n = &o->max_digest_nonces, max = 100000000;
  if (n) {
    IMSEC_GUARD(number(c, v, key, max, n));
    if (*n == 0) /* 0 would silently mean the default */
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key '%s': expected 1..%lld", key, (long long)max);
    return 1;
  }
  if (strcmp(key, "digest_proxy_auth") == 0) {
    IMSEC_GUARD(boolean(c, v, key, &o->digest_proxy_auth));
    return 1;
  }
  if (strcmp(key, "digest_algorithms") == 0) {
    IMSEC_GUARD(text(c, v, key, 0, &o->digest_algorithms));
    unsigned algs;
    if (imsec_scscf_digest_algs_parse(imsec_str_c(o->digest_algorithms),
                                      &algs) < 0)
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key 'digest_algorithms': expected SHA-256, MD5 or "
                  "\"SHA-256,MD5\"");
    return 1;
  }
  if (strcmp(key, "digest_username") != 0)
    return 0;
  IMSEC_GUARD(text(c, v, key, 0, &o->digest_username));
  int mode;
  if (imsec_scscf_digest_user_parse(imsec_str_c(o->digest_username), &mode) < 0)
    return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                "key 'digest_username': expected any, impi or user");
  return 1;
}

static int one(ctx *c, yaml_document_t *doc, size_t k, yaml_node_t *v) {
  imsec_scscf_file *o = c->out;
  const char *key = keys[k];
  int d = digest_key(c, key, v);
  if (d != 0)
    return d < 0 ? d : 0;
  switch (k) {
  case 0:
    return text(c, v, key, 0, &o->domain);
  case 1:
    return text(c, v, key, 1, &o->db);
  case 2:
    if (v->type == YAML_SCALAR_NODE) {
      o->n_listen = 1;
      return text(c, v, key, 0, &o->listen[0]);
    }
    if (v->type != YAML_SEQUENCE_NODE)
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key 'listen': expected an address or a list of them");
    for (yaml_node_item_t *it = v->data.sequence.items.start;
         it < v->data.sequence.items.top; it++) {
      yaml_node_t *e = yaml_document_get_node(doc, *it);
      if (!e)
        return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                    "key 'listen': broken list");
      if (o->n_listen >= IMSEC_SCSCF_MAX_LISTEN)
        return fail(c, IMSEC_ERR_LIMIT, e->start_mark.line + 1,
                    "key 'listen': more than %d addresses",
                    IMSEC_SCSCF_MAX_LISTEN);
      IMSEC_GUARD(text(c, e, key, 0, &o->listen[o->n_listen]));
      o->n_listen++;
    }
    return 0;
  case 3:
    return text(c, v, key, 0, &o->advertise);
  case 4:
    return text(c, v, key, 1, &o->cert);
  case 5:
    return text(c, v, key, 1, &o->key);
  case 6:
    return text(c, v, key, 0, &o->log_level);
  case 7:
    return number(c, v, key, 86400, &o->nonce_lifetime);
  case 8:
    return number(c, v, key, 86400 * 365, &o->expires_min);
  case 9:
    return number(c, v, key, 86400 * 365, &o->expires_max);
  case 10:
    return number(c, v, key, 86400 * 365, &o->expires_default);
  case 11:
    return number(c, v, key, 3600, &o->txn_timeout);
  case 12:
    return number(c, v, key, 10000000, &o->max_txns);
  case 13:
    return number(c, v, key, 1000000, &o->max_flows_per_ip);
  default:
    if (strcmp(key, "registrations") == 0) {
      /* A Redis URL is not a file beside this one. */
      const char *val = (const char *)v->data.scalar.value;
      int url = v->type == YAML_SCALAR_NODE &&
                strncmp(val, "redis://", 8) == 0; /* no secret: a scheme */
      return text(c, v, key, !url, &o->registrations);
    }
    if (strcmp(key, "routes") == 0)
      return routes_value(c, doc, v);
    if (strcmp(key, "timer_c_ms") == 0) {
      IMSEC_GUARD(number(c, v, key, 3600000, &o->timer_c_ms));
      if (o->timer_c_ms == 0) /* 0 would silently mean the default */
        return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                    "key 'timer_c_ms': expected 1..3600000");
      return 0;
    }
    return limit_key(c, k, v);
  }
}

/* ------------------------------------------------ core-side peer keys */

static const char *const core_keys[] = {
    "ca",    "home_ca",       "partner_ca", "trust_domain",
    "peers", "insecure_core", "peer_addrs",
};
#define N_CORE_KEYS (sizeof(core_keys) / sizeof(core_keys[0]))

/* A scalar or a list of scalars into dst[0..max). */
static int text_list(ctx *c, yaml_document_t *doc, yaml_node_t *v,
                     const char *key, int path, char **dst, size_t max,
                     size_t *n) {
  if (v->type == YAML_SCALAR_NODE) {
    IMSEC_GUARD(text(c, v, key, path, &dst[0]));
    *n = 1;
    return 0;
  }
  if (v->type != YAML_SEQUENCE_NODE)
    return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                "key '%s': expected a value or a list of them", key);
  for (yaml_node_item_t *it = v->data.sequence.items.start;
       it < v->data.sequence.items.top; it++) {
    yaml_node_t *e = yaml_document_get_node(doc, *it);
    if (!e)
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key '%s': broken list", key);
    if (*n >= max)
      return fail(c, IMSEC_ERR_LIMIT, e->start_mark.line + 1,
                  "key '%s': more than %zu values", key, max);
    IMSEC_GUARD(text(c, e, key, path, &dst[*n]));
    (*n)++;
  }
  return 0;
}

static int boolean(ctx *c, yaml_node_t *v, const char *key, int *dst) {
  const char *s = (const char *)v->data.scalar.value;
  if (v->type == YAML_SCALAR_NODE &&
      (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) {
    *dst = 1;
    return 0;
  }
  if (v->type == YAML_SCALAR_NODE &&
      (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) {
    *dst = 0;
    return 0;
  }
  return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
              "key '%s': expected true or false", key);
}

static int core_one(ctx *c, yaml_document_t *doc, size_t k, yaml_node_t *v) {
  imsec_scscf_file *o = c->out;
  const char *key = core_keys[k];
  switch (k) {
  case 0:
    return text_list(c, doc, v, key, 1, o->ca, IMSEC_SCSCF_MAX_CA, &o->n_ca);
  case 1:
    return text(c, v, key, 1, &o->home_ca);
  case 2:
    return text_list(c, doc, v, key, 1, o->partner_ca, IMSEC_SCSCF_MAX_CA,
                     &o->n_partner_ca);
  case 3:
    return text(c, v, key, 0, &o->trust_domain);
  case 4:
    return text_list(c, doc, v, key, 0, o->peers, IMSEC_SCSCF_MAX_PEERS,
                     &o->n_peers);
  case 5:
    return boolean(c, v, key, &o->insecure_core);
  default:
    return text_list(c, doc, v, key, 0, o->peer_addrs, IMSEC_SCSCF_MAX_PEERS,
                     &o->n_peer_addrs);
  }
}

/* One of core_keys: 1 handled, 0 not one of them, or an error. */
static int core_key(ctx *c, yaml_document_t *doc, const char *name, size_t line,
                    yaml_node_t *v, unsigned *seen) {
  size_t k = 0;
  while (k < N_CORE_KEYS && strcmp(core_keys[k], name) != 0)
    k++;
  if (k == N_CORE_KEYS)
    return 0;
  if (*seen & (1u << k))
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': given twice",
                core_keys[k]);
  *seen |= 1u << k;
  IMSEC_GUARD(core_one(c, doc, k, v));
  return 1;
}

/* ------------------------------------------ a core past one machine */

static const char *const cluster_keys[] = {
    "hss",          "diameter_identity", "diameter_realm",
    "hss_identity", "hss_timeout",       "diameter_cert",
    "diameter_key", "diameter_ca",       "aliases",
};
#define N_CLUSTER_KEYS (sizeof(cluster_keys) / sizeof(cluster_keys[0]))

static int cluster_one(ctx *c, yaml_document_t *doc, size_t k, yaml_node_t *v) {
  imsec_scscf_file *o = c->out;
  const char *key = cluster_keys[k];
  switch (k) {
  case 0:
    return text(c, v, key, 0, &o->hss);
  case 1:
    return text(c, v, key, 0, &o->diameter_identity);
  case 2:
    return text(c, v, key, 0, &o->diameter_realm);
  case 3:
    return text(c, v, key, 0, &o->hss_identity);
  case 4:
    IMSEC_GUARD(number(c, v, key, 600000, &o->hss_timeout));
    if (o->hss_timeout == 0) /* 0 would silently mean the default */
      return fail(c, IMSEC_ERR_PARSE, v->start_mark.line + 1,
                  "key 'hss_timeout': expected 1..600000");
    return 0;
  case 5:
    return text(c, v, key, 1, &o->diameter_cert);
  case 6:
    return text(c, v, key, 1, &o->diameter_key);
  case 7:
    return text(c, v, key, 1, &o->diameter_ca);
  default:
    return text_list(c, doc, v, key, 0, o->aliases, IMSEC_SCSCF_MAX_ALIASES,
                     &o->n_aliases);
  }
}

/* One of cluster_keys: 1 handled, 0 not one of them, or an error. */
static int cluster_key(ctx *c, yaml_document_t *doc, const char *name,
                       size_t line, yaml_node_t *v, unsigned *seen) {
  size_t k = 0;
  while (k < N_CLUSTER_KEYS && strcmp(cluster_keys[k], name) != 0)
    k++;
  if (k == N_CLUSTER_KEYS)
    return 0;
  if (*seen & (1u << k))
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': given twice",
                cluster_keys[k]);
  *seen |= 1u << k;
  IMSEC_GUARD(cluster_one(c, doc, k, v));
  return 1;
}

static void cluster_free(imsec_scscf_file *f) {
  free(f->hss);
  free(f->diameter_identity);
  free(f->diameter_realm);
  free(f->hss_identity);
  free(f->diameter_cert);
  free(f->diameter_key);
  free(f->diameter_ca);
  for (size_t i = 0; i < f->n_aliases; i++)
    free(f->aliases[i]);
}

static void core_free(imsec_scscf_file *f) {
  for (size_t i = 0; i < f->n_ca; i++)
    free(f->ca[i]);
  free(f->home_ca);
  for (size_t i = 0; i < f->n_partner_ca; i++)
    free(f->partner_ca[i]);
  free(f->trust_domain);
  for (size_t i = 0; i < f->n_peers; i++)
    free(f->peers[i]);
  for (size_t i = 0; i < f->n_peer_addrs; i++)
    free(f->peer_addrs[i]);
}

/* An operations key (include/imsec/conf_ops.h): its text for the daemon.
 * 1 taken, 0 not one, < 0 an error. */
static int ops_key(ctx *c, const char *name, size_t line, yaml_node_t *v) {
  int i = imsec_conf_ops_key(name);
  if (i < 0)
    return 0;
  if (c->out->ops.value[i][0])
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': given twice", name);
  if (v->type != YAML_SCALAR_NODE || !v->data.scalar.length ||
      v->data.scalar.length >= IMSEC_CONF_OPS_MAX ||
      memchr(v->data.scalar.value, 0, v->data.scalar.length))
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': expected one value", name);
  memcpy(c->out->ops.value[i], v->data.scalar.value, v->data.scalar.length);
  c->out->ops.value[i][v->data.scalar.length] = 0;
  c->out->ops.line[i] = line;
  return 1;
}

static int walk(ctx *c, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root)
    return 0; /* an empty file: all defaults */
  if (root->type != YAML_MAPPING_NODE)
    return fail(c, IMSEC_ERR_PARSE, root->start_mark.line + 1,
                "expected a map of settings");
  unsigned seen = 0, seen_core = 0, seen_cluster = 0;
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
       pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
    if (!kn || !vn)
      return fail(c, IMSEC_ERR_PARSE, root->start_mark.line + 1, "broken map");
    size_t line = kn->start_mark.line + 1;
    if (kn->type != YAML_SCALAR_NODE)
      return fail(c, IMSEC_ERR_PARSE, line, "a key must be a plain name");
    const char *name = (const char *)kn->data.scalar.value;
    size_t k = 0;
    while (k < N_KEYS && strcmp(keys[k], name) != 0)
      k++;
    if (k == N_KEYS) {
      int handled = ops_key(c, name, line, vn);
      if (handled == 0)
        handled = core_key(c, doc, name, line, vn, &seen_core);
      if (handled == 0)
        handled = cluster_key(c, doc, name, line, vn, &seen_cluster);
      if (handled < 0)
        return handled;
      if (handled)
        continue;
    }
    if (k == N_KEYS)
      return fail(c, IMSEC_ERR_PARSE, line, "key '%.64s': unknown key", name);
    if (seen & (1u << k))
      return fail(c, IMSEC_ERR_PARSE, line, "key '%s': given twice", keys[k]);
    seen |= 1u << k;
    IMSEC_GUARD(one(c, doc, k, vn));
  }
  return 0;
}

static void limits_unset(imsec_scscf_file *f) {
  f->store_timeout = f->limit_window = f->impi_challenge_limit =
      f->source_challenge_limit = f->impi_failure_limit =
          f->source_failure_limit = f->lockout = -1;
}

void imsec_scscf_file_free(imsec_scscf_file *f) {
  if (!f)
    return;
  free(f->domain);
  free(f->db);
  free(f->registrations);
  free(f->advertise);
  free(f->cert);
  free(f->key);
  free(f->log_level);
  free(f->digest_username);
  free(f->digest_algorithms);
  for (size_t i = 0; i < f->n_listen; i++)
    free(f->listen[i]);
  core_free(f);
  cluster_free(f);
  memset(f, 0, sizeof(*f));
  f->nonce_lifetime = f->expires_min = f->expires_max = f->expires_default = -1;
  f->txn_timeout = f->max_txns = -1;
  limits_unset(f);
  f->max_flows_per_ip = -1;
  f->timer_c_ms = -1;
  f->hss_timeout = -1;
}

int imsec_scscf_file_load(const char *path, imsec_scscf_file *out, char *err,
                          size_t errcap) {
  memset(out, 0, sizeof(*out));
  out->nonce_lifetime = out->expires_min = out->expires_max =
      out->expires_default = -1;
  out->txn_timeout = out->max_txns = -1;
  limits_unset(out);
  out->max_flows_per_ip = -1;
  out->timer_c_ms = -1;
  out->hss_timeout = -1;
  if (errcap)
    err[0] = 0;
  ctx c = {path, NULL, err, errcap, out};
  char *buf;
  size_t n;
  const char *why;
  int rc = conf_read_file(path, MAX_FILE, &buf, &n, &why);
  if (rc < 0)
    return rc == IMSEC_ERR_NOMEM
               ? rc
               : fail(&c, rc, rc == IMSEC_ERR_LIMIT, "%s", why);
  c.dir = conf_dir_of(path);
  if (!c.dir) {
    free(buf);
    return IMSEC_ERR_NOMEM;
  }
  int rv;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    rv = IMSEC_ERR_NOMEM;
    goto done;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
  yaml_document_t doc;
  if (!yaml_parser_load(&parser, &doc)) {
    rv = fail(&c, IMSEC_ERR_PARSE, parser.problem_mark.line + 1, "YAML: %s",
              parser.problem ? parser.problem : "syntax error");
    yaml_parser_delete(&parser);
    goto done;
  }
  rv = walk(&c, &doc);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
done:
  free(c.dir);
  free(buf);
  if (rv < 0)
    imsec_scscf_file_free(out);
  return rv;
}
