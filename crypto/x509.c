/* RFC 5280 path validation with OpenSSL and the facts of DESIGN.md §3. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imsec/ident.h"
#include "imsec/x509.h"

/* OSSL_STACK_OF_X509_free arrived in OpenSSL 3.2; Debian 12 has 3.0. */
static void certs_free(STACK_OF(X509) * sk) {
  sk_X509_pop_free(sk, X509_free);
}

typedef struct x509_partner {
  X509 *ca;
  char name[IMSEC_TRUST_NAME_CAP];
} x509_partner;

struct imsec_x509_anchors {
  X509_STORE *store;
  X509 *home;
  x509_partner *partners;
  size_t n_partners;
};

int imsec_x509_anchors_new(imsec_x509_anchors **out) {
  imsec_x509_anchors *a = calloc(1, sizeof(*a));
  if (!a)
    return IMSEC_ERR_NOMEM;
  a->store = X509_STORE_new();
  if (!a->store) {
    free(a);
    return IMSEC_ERR_NOMEM;
  }
  *out = a;
  return 0;
}

void imsec_x509_anchors_del(imsec_x509_anchors *a) {
  if (!a)
    return;
  X509_STORE_free(a->store);
  X509_free(a->home);
  for (size_t i = 0; i < a->n_partners; i++)
    X509_free(a->partners[i].ca);
  free(a->partners);
  free(a);
}

static X509 *from_der(const uint8_t *der, size_t len) {
  if (!der || len == 0 || len > LONG_MAX)
    return NULL;
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  if (x && p != der + len) { /* trailing bytes: not one certificate */
    X509_free(x);
    x = NULL;
  }
  ERR_clear_error();
  return x;
}

/* The last (most specific) CN of a certificate's subject. */
static void subject_cn(X509 *x, char *buf, size_t cap) {
  buf[0] = '\0';
  X509_NAME *subj = X509_get_subject_name(x);
  int idx = -1, last = -1;
  while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0)
    last = idx;
  if (last < 0)
    return;
  ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, d);
  if (n > 0 && (size_t)n < cap && memchr(utf8, '\0', (size_t)n) == NULL) {
    memcpy(buf, utf8, (size_t)n);
    buf[n] = '\0';
  }
  OPENSSL_free(utf8);
  ERR_clear_error();
}

static int add_root_x(imsec_x509_anchors *a, X509 *x) {
  int ok = X509_STORE_add_cert(a->store, x);
  X509_free(x);
  ERR_clear_error();
  return ok == 1 ? 0 : IMSEC_ERR_NOMEM;
}

int imsec_x509_anchors_add_root(imsec_x509_anchors *a, const uint8_t *der,
                                size_t len) {
  X509 *x = from_der(der, len);
  if (!x)
    return IMSEC_ERR_PARSE;
  return add_root_x(a, x);
}

static void set_home_x(imsec_x509_anchors *a, X509 *x) {
  X509_free(a->home);
  a->home = x;
}

int imsec_x509_anchors_set_home_ca(imsec_x509_anchors *a, const uint8_t *der,
                                   size_t len) {
  X509 *x = from_der(der, len);
  if (!x)
    return IMSEC_ERR_PARSE;
  set_home_x(a, x);
  return 0;
}

static int add_partner_x(imsec_x509_anchors *a, X509 *x, const char *name) {
  x509_partner *np =
      realloc(a->partners, (a->n_partners + 1) * sizeof(*a->partners));
  if (!np) {
    X509_free(x);
    return IMSEC_ERR_NOMEM;
  }
  a->partners = np;
  x509_partner *p = &a->partners[a->n_partners++];
  p->ca = x;
  if (name && name[0]) {
    size_t n = strlen(name);
    if (n >= sizeof(p->name))
      n = sizeof(p->name) - 1;
    memcpy(p->name, name, n);
    p->name[n] = '\0';
  } else {
    subject_cn(x, p->name, sizeof(p->name));
  }
  return 0;
}

int imsec_x509_anchors_add_partner(imsec_x509_anchors *a, const uint8_t *der,
                                   size_t len, const char *name) {
  X509 *x = from_der(der, len);
  if (!x)
    return IMSEC_ERR_PARSE;
  return add_partner_x(a, x, name);
}

/* Every certificate of a PEM file. */
static int read_pem(const char *path, STACK_OF(X509) * *out) {
  BIO *bio = BIO_new_file(path, "r");
  if (!bio) {
    ERR_clear_error();
    return IMSEC_ERR_IO;
  }
  STACK_OF(X509) *sk = sk_X509_new_null();
  if (!sk) {
    BIO_free(bio);
    return IMSEC_ERR_NOMEM;
  }
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      certs_free(sk);
      BIO_free(bio);
      return IMSEC_ERR_NOMEM;
    }
  }
  /* The loop ends at the end of the file (no further start line) or at a
   * broken block; only the former is clean. */
  unsigned long e = ERR_peek_last_error();
  int clean =
      ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  BIO_free(bio);
  if (sk_X509_num(sk) == 0 || (!clean && e != 0)) {
    certs_free(sk);
    return IMSEC_ERR_PARSE;
  }
  *out = sk;
  return 0;
}

int imsec_x509_anchors_add_root_file(imsec_x509_anchors *a, const char *path) {
  STACK_OF(X509) *sk = NULL;
  IMSEC_GUARD(read_pem(path, &sk));
  int rv = 0;
  while (sk_X509_num(sk) > 0 && rv == 0)
    rv = add_root_x(a, sk_X509_shift(sk));
  certs_free(sk);
  return rv;
}

int imsec_x509_anchors_set_home_ca_file(imsec_x509_anchors *a,
                                        const char *path) {
  STACK_OF(X509) *sk = NULL;
  IMSEC_GUARD(read_pem(path, &sk));
  set_home_x(a, sk_X509_shift(sk));
  certs_free(sk);
  return 0;
}

int imsec_x509_anchors_add_partner_file(imsec_x509_anchors *a, const char *path,
                                        const char *name) {
  STACK_OF(X509) *sk = NULL;
  IMSEC_GUARD(read_pem(path, &sk));
  int rv = add_partner_x(a, sk_X509_shift(sk), name);
  certs_free(sk);
  return rv;
}

/* ------------------------------------------------------------ the facts */

static void copy_name(char *dst, const unsigned char *src, int len) {
  dst[0] = '\0';
  if (len <= 0 || (size_t)len >= IMSEC_TRUST_NAME_CAP ||
      memchr(src, '\0', (size_t)len) != NULL)
    return;
  memcpy(dst, src, (size_t)len);
  dst[len] = '\0';
}

/* RFC 5922 §7.1 step 1: a SAN URI "sip:" with no user part names a SIP
 * domain: its host part (without port, parameters or headers). With a
 * user part (`user` set) it names an individual: "USER@HOST" goes to
 * `udst` instead. Returns 1 (domain), 2 (individual) or 0. */
static int sip_uri_host(const unsigned char *u, int len, char *dst,
                        char *udst) {
  if (len < 5 || (u[0] | 0x20) != 's' || (u[1] | 0x20) != 'i' ||
      (u[2] | 0x20) != 'p' || u[3] != ':')
    return 0;
  const unsigned char *h = u + 4;
  int n = len - 4;
  const unsigned char *at = memchr(h, '@', (size_t)n);
  if (at) {
    /* a user: an individual, not a domain */
    int end = (int)(at - h) + 1;
    while (end < n && h[end] != ';' && h[end] != '?' && h[end] != ':')
      end++;
    if (at == h || end == (int)(at - h) + 1 ||
        memchr(h, ';', (size_t)(at - h)) || memchr(h, ':', (size_t)(at - h)))
      return 0; /* no user, no host, or a password / parameters */
    copy_name(udst, h, end);
    return udst[0] != '\0' ? 2 : 0;
  }
  int end = 0;
  while (end < n && h[end] != ';' && h[end] != '?' && h[end] != ':')
    end++;
  copy_name(dst, h, end);
  return dst[0] != '\0';
}

/* The host part of a "USER@HOST" name. */
static const char *user_host(const char *uu) {
  const char *at = strrchr(uu, '@');
  return at ? at + 1 : uu;
}

static void leaf_names(X509 *leaf, imsec_trust_cert *out) {
  int crit = -1;
  GENERAL_NAMES *san =
      X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
  /* An unparsable SAN still counts as present, so the CN is not used. */
  out->has_san = san != NULL || crit >= 0;
  for (int i = 0; san && i < sk_GENERAL_NAME_num(san); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
    if (g->type == GEN_DNS && out->n_dns < IMSEC_TRUST_MAX_NAMES) {
      char *dst = out->dns[out->n_dns];
      copy_name(dst, ASN1_STRING_get0_data(g->d.dNSName),
                ASN1_STRING_length(g->d.dNSName));
      if (dst[0])
        out->n_dns++;
    } else if (g->type == GEN_URI) {
      char host[IMSEC_TRUST_NAME_CAP], user[IMSEC_TRUST_NAME_CAP];
      int k = sip_uri_host(
          ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
          ASN1_STRING_length(g->d.uniformResourceIdentifier), host, user);
      if (k == 1 && out->n_sip < IMSEC_TRUST_MAX_NAMES)
        memcpy(out->sip[out->n_sip++], host, sizeof(host));
      else if (k == 2 && out->n_uri_user < IMSEC_TRUST_MAX_NAMES)
        memcpy(out->uri_user[out->n_uri_user++], user, sizeof(user));
    }
  }
  GENERAL_NAMES_free(san);
  subject_cn(leaf, out->cn, sizeof(out->cn));
  ERR_clear_error();
}

static int same_ca(X509 *a, X509 *b) {
  if (X509_cmp(a, b) == 0)
    return 1;
  /* A re-issued CA certificate: same subject, same key. */
  if (X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) != 0)
    return 0;
  EVP_PKEY *ka = X509_get0_pubkey(a), *kb = X509_get0_pubkey(b);
  return ka && kb && EVP_PKEY_eq(ka, kb) == 1;
}

/* Is `host` inside the dNSName subtree `base` (RFC 5280 §4.2.1.10: the
 * name itself and its subdomains; a leading period: subdomains only)? */
static int in_dns_subtree(const char *host, const GENERAL_NAME *base) {
  const ASN1_IA5STRING *s = base->d.dNSName;
  imsec_str c = imsec_str_make((const char *)ASN1_STRING_get0_data(s),
                               (size_t)ASN1_STRING_length(s));
  imsec_str h = imsec_str_c(host);
  if (c.len == 0)
    return 1; /* an empty constraint covers every name */
  if (c.p[0] == '.') {
    imsec_str d = imsec_str_sub(c, 1, c.len);
    return imsec_dns_name_within(h, d) && !imsec_dns_name_eq(h, d);
  }
  return imsec_dns_name_within(h, c);
}

/* OpenSSL checks name constraints on URIs only in the scheme://host form,
 * so a SAN URI "sip:host" would escape an operator CA's constraint. Apply
 * each CA's dNSName subtrees to those hosts here. Returns the first host
 * that violates one, or NULL. */
static const char *sip_hosts_violate(STACK_OF(X509) * path,
                                     const imsec_trust_cert *out) {
  for (int i = 1; i < sk_X509_num(path); i++) {
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(sk_X509_value(path, i),
                                            NID_name_constraints, NULL, NULL);
    if (!nc)
      continue;
    const char *bad = NULL;
    /* The sip: hosts, then the hosts of the sip:USER@HOST names. */
    for (size_t k = 0; k < out->n_sip + out->n_uri_user && !bad; k++) {
      const char *h = k < out->n_sip ? out->sip[k]
                                     : user_host(out->uri_user[k - out->n_sip]);
      int have_permitted = 0, permitted = 0;
      for (int j = 0; j < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); j++) {
        GENERAL_SUBTREE *st =
            sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, j);
        if (st->base->type != GEN_DNS)
          continue;
        have_permitted = 1;
        permitted |= in_dns_subtree(h, st->base);
      }
      if (have_permitted && !permitted)
        bad = h;
      for (int j = 0; j < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); j++) {
        GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, j);
        if (st->base->type == GEN_DNS && in_dns_subtree(h, st->base))
          bad = h;
      }
    }
    NAME_CONSTRAINTS_free(nc);
    if (bad)
      return bad;
  }
  return NULL;
}

/* Set up `ctx` to validate `leaf` for `purpose` at `now` (RFC 5280 §6;
 * the purpose brings the EKU check on the leaf). 0 or -1. */
static int verify_as(X509_STORE_CTX *ctx, const imsec_x509_anchors *a,
                     X509 *leaf, STACK_OF(X509) * untrusted, int purpose,
                     int64_t now) {
  if (X509_STORE_CTX_init(ctx, a->store, leaf, untrusted) != 1)
    return -1;
  X509_STORE_CTX_set_purpose(ctx, purpose);
  if (now >= 0)
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
  return 0;
}

/* The domain a CA certifies: its first permitted dNSName subtree (an
 * operator CA of `imsec pki`), else its subject CN. */
static void ca_domain(X509 *ca, char *buf) {
  buf[0] = '\0';
  NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
  for (int j = 0; nc && j < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees);
       j++) {
    GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, j);
    if (st->base->type != GEN_DNS)
      continue;
    const ASN1_IA5STRING *d = st->base->d.dNSName;
    copy_name(buf, ASN1_STRING_get0_data(d), ASN1_STRING_length(d));
    if (buf[0] == '.')
      memmove(buf, buf + 1, strlen(buf));
    break;
  }
  NAME_CONSTRAINTS_free(nc);
  if (!buf[0])
    subject_cn(ca, buf, IMSEC_TRUST_NAME_CAP);
  ERR_clear_error();
}

/* Which configured CA the validated `path` passes through, and the
 * domain of the leaf's issuer. */
static void path_issuer(const imsec_x509_anchors *a, STACK_OF(X509) * path,
                        imsec_trust_cert *out) {
  out->issuer = IMSEC_ISSUER_NONE;
  if (path && sk_X509_num(path) > 1)
    ca_domain(sk_X509_value(path, 1), out->issuer_domain);
  for (int i = 1; path && i < sk_X509_num(path); i++) {
    X509 *ca = sk_X509_value(path, i);
    if (a->home && same_ca(ca, a->home)) {
      out->issuer = IMSEC_ISSUER_HOME;
      return;
    }
  }
  for (int i = 1; path && i < sk_X509_num(path); i++) {
    X509 *ca = sk_X509_value(path, i);
    for (size_t k = 0; k < a->n_partners; k++) {
      if (same_ca(ca, a->partners[k].ca)) {
        out->issuer = IMSEC_ISSUER_PARTNER;
        out->partner_index = k;
        memcpy(out->partner, a->partners[k].name, sizeof(out->partner));
        return;
      }
    }
  }
}

static void set_detail(imsec_trust_cert *out, const char *what, int depth) {
  char tmp[IMSEC_TRUST_NAME_CAP];
  int n = depth >= 0
              ? snprintf(tmp, sizeof(tmp), "%s, at depth %d", what, depth)
              : snprintf(tmp, sizeof(tmp), "%s", what);
  if (n < 0)
    tmp[0] = '\0';
  memcpy(out->chain_detail, tmp, sizeof(tmp));
}

int imsec_x509_check(const imsec_x509_anchors *a, const imsec_bytes *chain,
                     size_t n, int64_t now, imsec_trust_cert *out) {
  if (!a || !chain || !out || n == 0)
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  out->chain = IMSEC_CHAIN_INVALID;
  X509 *leaf = from_der(chain[0].p, chain[0].len);
  if (!leaf) {
    set_detail(out, "the peer's certificate is not DER", -1);
    return 0;
  }
  leaf_names(leaf, out);
  /* TS 33.310 §6.1.3c: a fact of its own, so that a peer that connected to
   * us (a TLS client) can be held to EKU clientAuth. */
  out->client_auth = (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
                     (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);

  int rv = IMSEC_ERR_NOMEM;
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (!untrusted || !ctx)
    goto fail_alloc;
  for (size_t i = 1; i < n; i++) {
    X509 *x = from_der(chain[i].p, chain[i].len);
    if (!x) {
      set_detail(out, "a certificate of the peer's chain is not DER", (int)i);
      rv = 0;
      goto fail_alloc;
    }
    if (!sk_X509_push(untrusted, x)) {
      X509_free(x);
      goto fail_alloc;
    }
  }
  /* The configured operator CAs may fill gaps in what the peer sent. */
  if (a->home && X509_up_ref(a->home) && !sk_X509_push(untrusted, a->home)) {
    X509_free(a->home);
    goto fail_alloc;
  }
  for (size_t i = 0; i < a->n_partners; i++) {
    X509 *p = a->partners[i].ca;
    if (X509_up_ref(p) && !sk_X509_push(untrusted, p)) {
      X509_free(p);
      goto fail_alloc;
    }
  }
  if (verify_as(ctx, a, leaf, untrusted, X509_PURPOSE_SSL_SERVER, now) < 0) {
    rv = IMSEC_ERR_CRYPTO;
    goto fail_alloc;
  }
  if (X509_verify_cert(ctx) != 1) {
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (err == X509_V_ERR_CERT_HAS_EXPIRED)
      out->chain = IMSEC_CHAIN_EXPIRED;
    else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
      out->chain = IMSEC_CHAIN_NOT_YET_VALID;
    else if (err == X509_V_ERR_INVALID_PURPOSE && depth == 0)
      out->chain = IMSEC_CHAIN_NOT_SERVER_AUTH;
    else
      out->chain = IMSEC_CHAIN_INVALID;
    set_detail(out, X509_verify_cert_error_string(err), depth);
    rv = 0;
    /* Only the leaf's purpose failed: a TLS client's certificate (a UE's,
     * EKU clientAuth alone) may still have a valid path for client use. */
    if (out->chain == IMSEC_CHAIN_NOT_SERVER_AUTH && out->client_auth) {
      X509_STORE_CTX_cleanup(ctx);
      if (verify_as(ctx, a, leaf, untrusted, X509_PURPOSE_SSL_CLIENT, now) <
          0) {
        rv = IMSEC_ERR_CRYPTO;
      } else if (X509_verify_cert(ctx) == 1) {
        STACK_OF(X509) *cpath = X509_STORE_CTX_get0_chain(ctx);
        if (cpath && !sip_hosts_violate(cpath, out)) {
          out->client_chain_ok = 1;
          path_issuer(a, cpath, out);
        }
      } else {
        /* The purpose was checked first: say what else is wrong. */
        err = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        out->chain = err == X509_V_ERR_CERT_HAS_EXPIRED ? IMSEC_CHAIN_EXPIRED
                     : err == X509_V_ERR_CERT_NOT_YET_VALID
                         ? IMSEC_CHAIN_NOT_YET_VALID
                         : IMSEC_CHAIN_INVALID;
        set_detail(out, X509_verify_cert_error_string(err), depth);
      }
    }
    goto fail_alloc;
  }
  /* TS 33.310 §6.1.3c: a P-CSCF certificate carries EKU serverAuth, not
   * merely no EKU at all. */
  uint32_t xku = X509_get_extended_key_usage(leaf);
  if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) ||
      !(xku & XKU_SSL_SERVER)) {
    out->chain = IMSEC_CHAIN_NOT_SERVER_AUTH;
    set_detail(out, "no extended key usage serverAuth", 0);
    rv = 0;
    goto fail_alloc;
  }
  STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
  const char *bad = path ? sip_hosts_violate(path, out) : NULL;
  if (bad) {
    char what[IMSEC_TRUST_NAME_CAP];
    snprintf(what, sizeof(what),
             "SAN URI sip:%.180s violates a CA's name constraints", bad);
    set_detail(out, what, 0);
    rv = 0;
    goto fail_alloc;
  }
  out->chain = IMSEC_CHAIN_OK;
  out->client_chain_ok = out->client_auth;
  path_issuer(a, path, out);
  rv = 0;

fail_alloc:
  X509_STORE_CTX_free(ctx);
  certs_free(untrusted);
  X509_free(leaf);
  ERR_clear_error();
  return rv;
}

/* ---------------------------------------------------------- PEM chains */

int imsec_x509_chain_load_pem(const char *path, imsec_x509_chain *out) {
  out->certs = NULL;
  out->n = 0;
  STACK_OF(X509) *sk = NULL;
  IMSEC_GUARD(read_pem(path, &sk));
  int count = sk_X509_num(sk);
  out->certs = calloc((size_t)count, sizeof(*out->certs));
  if (!out->certs) {
    certs_free(sk);
    return IMSEC_ERR_NOMEM;
  }
  for (int i = 0; i < count; i++) {
    unsigned char *der = NULL;
    int len = i2d_X509(sk_X509_value(sk, i), &der);
    if (len <= 0) {
      certs_free(sk);
      imsec_x509_chain_free(out);
      ERR_clear_error();
      return IMSEC_ERR_NOMEM;
    }
    uint8_t *copy = malloc((size_t)len);
    if (copy)
      memcpy(copy, der, (size_t)len);
    OPENSSL_free(der);
    if (!copy) {
      certs_free(sk);
      imsec_x509_chain_free(out);
      return IMSEC_ERR_NOMEM;
    }
    out->certs[out->n].p = copy;
    out->certs[out->n].len = (size_t)len;
    out->n++;
  }
  certs_free(sk);
  return 0;
}

void imsec_x509_chain_free(imsec_x509_chain *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->n; i++)
    free((void *)c->certs[i].p);
  free(c->certs);
  c->certs = NULL;
  c->n = 0;
}

int imsec_x509_file_subject_cn(const char *path, char *buf, size_t cap) {
  STACK_OF(X509) *sk = NULL;
  IMSEC_GUARD(read_pem(path, &sk));
  char cn[IMSEC_TRUST_NAME_CAP];
  subject_cn(sk_X509_value(sk, 0), cn, sizeof(cn));
  certs_free(sk);
  size_t n = strlen(cn);
  if (n + 1 > cap)
    return IMSEC_ERR_NOBUF;
  memcpy(buf, cn, n + 1);
  return (int)n;
}

int imsec_x509_file_chains_to(const char *cert_path, const char *roots_path,
                              char *why, size_t why_cap) {
  if (why_cap)
    why[0] = '\0';
  STACK_OF(X509) *certs = NULL, *roots = NULL;
  IMSEC_GUARD(read_pem(cert_path, &certs));
  int rv = read_pem(roots_path, &roots);
  if (rv < 0) {
    certs_free(certs);
    return rv;
  }
  rv = IMSEC_ERR_NOMEM;
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (!store || !ctx)
    goto done;
  for (int i = 0; i < sk_X509_num(roots); i++) {
    if (X509_STORE_add_cert(store, sk_X509_value(roots, i)) != 1)
      goto done;
  }
  if (X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), certs) != 1)
    goto done;
  if (X509_verify_cert(ctx) == 1) {
    rv = 1;
  } else {
    rv = 0;
    if (why_cap)
      snprintf(why, why_cap, "%s",
               X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  }
done:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  certs_free(certs);
  certs_free(roots);
  ERR_clear_error();
  return rv;
}
