/* Trust-domain PKI with the OpenSSL 3 API. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imsec/pki.h"

struct imsec_pki_cred {
  X509 *cert;
  EVP_PKEY *key;
  uint8_t *der;
  size_t der_len;
};

void imsec_pki_cred_del(imsec_pki_cred *c) {
  if (!c)
    return;
  X509_free(c->cert);
  EVP_PKEY_free(c->key);
  OPENSSL_free(c->der);
  free(c);
}

imsec_bytes imsec_pki_cred_der(const imsec_pki_cred *c) {
  imsec_bytes b = {c->der, c->der_len};
  return b;
}

static int cred_finish(imsec_pki_cred *c) {
  unsigned char *der = NULL;
  int len = i2d_X509(c->cert, &der);
  if (len <= 0)
    return IMSEC_ERR_NOMEM;
  c->der = der;
  c->der_len = (size_t)len;
  return 0;
}

static EVP_PKEY *keygen(imsec_pki_key kind) {
  if (kind == IMSEC_PKI_KEY_RSA2048)
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static GENERAL_NAME *gen_name(int type, const char *value) {
  size_t n = strlen(value);
  if (n == 0 || n > 1024)
    return NULL;
  ASN1_IA5STRING *s = ASN1_IA5STRING_new();
  GENERAL_NAME *g = GENERAL_NAME_new();
  if (!s || !g || !ASN1_STRING_set(s, value, (int)n)) {
    ASN1_IA5STRING_free(s);
    GENERAL_NAME_free(g);
    return NULL;
  }
  GENERAL_NAME_set0_value(g, type, s);
  return g;
}

static int add_san(X509 *x, const imsec_pki_spec *spec) {
  if (spec->n_dns + spec->n_uris == 0)
    return 0;
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  if (!gens)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_INVAL;
  for (size_t i = 0; i < spec->n_dns + spec->n_uris; i++) {
    int uri = i >= spec->n_dns;
    GENERAL_NAME *g =
        gen_name(uri ? GEN_URI : GEN_DNS,
                 uri ? spec->uris[i - spec->n_dns] : spec->dns[i]);
    if (!g || !sk_GENERAL_NAME_push(gens, g)) {
      GENERAL_NAME_free(g);
      goto done;
    }
  }
  rv = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                         X509V3_ADD_DEFAULT) == 1
           ? 0
           : IMSEC_ERR_CRYPTO;
done:
  GENERAL_NAMES_free(gens);
  return rv;
}

static int push_subtree(NAME_CONSTRAINTS *nc, int type, const char *value) {
  GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
  GENERAL_NAME *g = gen_name(type, value);
  if (!st || !g) {
    GENERAL_SUBTREE_free(st);
    GENERAL_NAME_free(g);
    return IMSEC_ERR_INVAL;
  }
  GENERAL_NAME_free(st->base);
  st->base = g;
  if (!sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st)) {
    GENERAL_SUBTREE_free(st);
    return IMSEC_ERR_NOMEM;
  }
  return 0;
}

/* RFC 5280 §4.2.1.10: a dNSName constraint covers the domain and its
 * subdomains. No URI constraint: OpenSSL understands only scheme://host
 * URIs there and fails "sip:host" as unsupported syntax, so crypto/x509.c
 * applies the dNSName constraints to SAN URI sip: hosts itself. */
static int add_name_constraints(X509 *x, const imsec_pki_spec *spec) {
  if (spec->n_permitted == 0)
    return 0;
  NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
  if (!nc)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_NOMEM;
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  if (!nc->permittedSubtrees)
    goto done;
  for (size_t i = 0; i < spec->n_permitted; i++) {
    if ((rv = push_subtree(nc, GEN_DNS, spec->permitted[i])) < 0)
      goto done;
  }
  rv =
      X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT) == 1
          ? 0
          : IMSEC_ERR_CRYPTO;
done:
  NAME_CONSTRAINTS_free(nc);
  return rv;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  if (!ext)
    return IMSEC_ERR_CRYPTO;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? 0 : IMSEC_ERR_NOMEM;
}

static int add_name_entry(X509_NAME *name, int nid, const char *value) {
  if (!value)
    return 0;
  return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                    (const unsigned char *)value, -1, -1,
                                    0) == 1
             ? 0
             : IMSEC_ERR_INVAL;
}

static int set_serial(X509 *x) {
  /* RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random ones. */
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof(buf)) != 1)
    return IMSEC_ERR_CRYPTO;
  buf[0] &= 0x7f;
  buf[0] |= 0x01;
  BIGNUM *bn = BN_bin2bn(buf, sizeof(buf), NULL);
  if (!bn)
    return IMSEC_ERR_NOMEM;
  int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  BN_free(bn);
  return ok ? 0 : IMSEC_ERR_NOMEM;
}

static int build(const imsec_pki_spec *spec, const imsec_pki_cred *issuer,
                 imsec_pki_cred *c) {
  X509 *x = c->cert;
  if (X509_set_version(x, X509_VERSION_3) != 1)
    return IMSEC_ERR_CRYPTO;
  IMSEC_GUARD(set_serial(x));
  X509_NAME *subj = X509_get_subject_name(x);
  IMSEC_GUARD(add_name_entry(subj, NID_organizationName, spec->org));
  IMSEC_GUARD(add_name_entry(subj, NID_commonName, spec->cn));
  if (X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert)
                                     : subj) != 1)
    return IMSEC_ERR_NOMEM;
  if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)spec->not_before) ||
      !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)spec->not_after))
    return IMSEC_ERR_INVAL;
  if (X509_set_pubkey(x, c->key) != 1)
    return IMSEC_ERR_CRYPTO;

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer->cert : x, x, NULL, NULL, 0);
  char bc[64];
  if (spec->ca && spec->path_len >= 0)
    snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", spec->path_len);
  else
    snprintf(bc, sizeof(bc), "critical,CA:%s", spec->ca ? "TRUE" : "FALSE");
  IMSEC_GUARD(add_conf_ext(x, &ctx, NID_basic_constraints, bc));
  const char *ku = spec->ca ? "critical,keyCertSign,cRLSign"
                   : spec->key == IMSEC_PKI_KEY_RSA2048
                       ? "critical,digitalSignature,keyEncipherment"
                       : "critical,digitalSignature";
  IMSEC_GUARD(add_conf_ext(x, &ctx, NID_key_usage, ku));
  if (spec->server_auth || spec->client_auth) {
    const char *eku = spec->server_auth && spec->client_auth
                          ? "serverAuth,clientAuth"
                      : spec->server_auth ? "serverAuth"
                                          : "clientAuth";
    IMSEC_GUARD(add_conf_ext(x, &ctx, NID_ext_key_usage, eku));
  }
  IMSEC_GUARD(add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash"));
  IMSEC_GUARD(
      add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  IMSEC_GUARD(add_san(x, spec));
  IMSEC_GUARD(add_name_constraints(x, spec));
  if (X509_sign(x, issuer ? issuer->key : c->key, EVP_sha256()) <= 0)
    return IMSEC_ERR_CRYPTO;
  return cred_finish(c);
}

int imsec_pki_issue(const imsec_pki_spec *spec, const imsec_pki_cred *issuer,
                    imsec_pki_cred **out) {
  if (!spec || !out || spec->not_after < spec->not_before ||
      (!spec->cn && spec->n_dns + spec->n_uris == 0))
    return IMSEC_ERR_INVAL;
  int rv = IMSEC_ERR_NOMEM;
  imsec_pki_cred *c = calloc(1, sizeof(*c));
  if (!c)
    return IMSEC_ERR_NOMEM;
  c->key = keygen(spec->key);
  if (!c->key) {
    rv = IMSEC_ERR_CRYPTO;
    goto fail_key;
  }
  c->cert = X509_new();
  if (!c->cert)
    goto fail_cert;
  rv = build(spec, issuer, c);
  if (rv < 0)
    goto fail_build;
  ERR_clear_error();
  *out = c;
  return 0;

fail_build:
fail_cert:
fail_key:
  ERR_clear_error();
  imsec_pki_cred_del(c);
  return rv;
}

int imsec_pki_cred_load(const char *cert_path, const char *key_path,
                        imsec_pki_cred **out) {
  struct stat st;
  if (stat(key_path, &st) != 0)
    return IMSEC_ERR_IO;
  if (st.st_mode & 077)
    return IMSEC_ERR_PERM;
  imsec_pki_cred *c = calloc(1, sizeof(*c));
  if (!c)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_PARSE;
  BIO *b = BIO_new_file(cert_path, "r");
  if (!b) {
    rv = IMSEC_ERR_IO;
    goto fail;
  }
  c->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  b = BIO_new_file(key_path, "r");
  if (!b) {
    rv = IMSEC_ERR_IO;
    goto fail;
  }
  c->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!c->cert || !c->key || X509_check_private_key(c->cert, c->key) != 1)
    goto fail;
  rv = cred_finish(c);
  if (rv < 0)
    goto fail;
  ERR_clear_error();
  *out = c;
  return 0;
fail:
  ERR_clear_error();
  imsec_pki_cred_del(c);
  return rv;
}

/* Write `len` bytes to a new file (or, with force, over an old one) with
 * `mode`, never following a symlink. */
static int write_file(const char *path, const char *data, size_t len,
                      mode_t mode, int force) {
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  flags |= force ? O_TRUNC : O_EXCL;
  int fd = open(path, flags, mode);
  if (fd < 0)
    return errno == EEXIST ? IMSEC_ERR_EXISTS : IMSEC_ERR_IO;
  /* An existing file keeps its old mode through O_TRUNC: set ours. */
  int rv = fchmod(fd, mode) == 0 ? 0 : IMSEC_ERR_IO;
  while (rv == 0 && len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rv = IMSEC_ERR_IO;
      break;
    }
    data += n;
    len -= (size_t)n;
  }
  if (close(fd) != 0 && rv == 0)
    rv = IMSEC_ERR_IO;
  return rv;
}

static int write_bio(BIO *mem, const char *path, mode_t mode, int force) {
  char *data = NULL;
  long len = BIO_get_mem_data(mem, &data);
  if (len < 0)
    return IMSEC_ERR_NOMEM;
  return write_file(path, data, (size_t)len, mode, force);
}

int imsec_pki_write_key(const imsec_pki_cred *c, const char *path, int force) {
  BIO *mem = BIO_new(BIO_s_secmem());
  if (!mem)
    mem = BIO_new(BIO_s_mem());
  if (!mem)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_CRYPTO;
  if (PEM_write_bio_PrivateKey(mem, c->key, NULL, NULL, 0, NULL, NULL) == 1)
    rv = write_bio(mem, path, 0600, force);
  /* The key's PEM text is a secret too. */
  char *data = NULL;
  long len = BIO_get_mem_data(mem, &data);
  if (data && len > 0)
    OPENSSL_cleanse(data, (size_t)len);
  BIO_free(mem);
  ERR_clear_error();
  return rv;
}

int imsec_pki_write_certs(const char *path, const imsec_pki_cred *const *certs,
                          size_t n, int force) {
  BIO *mem = BIO_new(BIO_s_mem());
  if (!mem)
    return IMSEC_ERR_NOMEM;
  int rv = 0;
  for (size_t i = 0; i < n && rv == 0; i++) {
    if (PEM_write_bio_X509(mem, certs[i]->cert) != 1)
      rv = IMSEC_ERR_NOMEM;
  }
  if (rv == 0)
    rv = write_bio(mem, path, 0644, force);
  BIO_free(mem);
  ERR_clear_error();
  return rv;
}
