/* ISIM profiles in YAML (libyaml's document API). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "imsec/isim.h"
#include "imsec/password_file.h"
#include "imsec/psk_file.h"
#include "conf_int.h"

typedef struct isim_ctx {
  const char *name;
  const char *base_dir;
  unsigned flags;
  char *err;
  size_t errcap;
  imsec_isim_profile *p;
  unsigned seen; /* bit per key, to refuse repeats */
} isim_ctx;

__attribute__((format(printf, 4, 5))) static int
fail(isim_ctx *c, int code, size_t line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rv = conf_vfail(c->err, c->errcap, c->name, line, code, fmt, ap);
  va_end(ap);
  return rv;
}

void imsec_isim_free(imsec_isim_profile *p) {
  if (!p)
    return;
  free(p->source);
  free(p->impi);
  for (size_t i = 0; i < p->n_impus; i++)
    free(p->impus[i]);
  free(p->impus);
  free(p->home_domain);
  free(p->trust_domain);
  for (size_t i = 0; i < p->n_anchors; i++)
    free(p->anchors[i]);
  free(p->anchors);
  free(p->home_ca);
  free(p->cert_file);
  free(p->key_file);
  for (size_t i = 0; i < p->n_partners; i++)
    free(p->partners[i]);
  free(p->partners);
  free(p->psk_identity);
  free(p->psk_file);
  free(p->password_file);
  free(p->digest_username);
  imsec_wipe(p, sizeof(*p));
}

/* ----------------------------------------------------------- scalars */

/* A scalar node's text, or NULL (with err set) when the node is not a
 * scalar or too long. */
static const char *scalar(isim_ctx *c, yaml_node_t *n, const char *key,
                          int *rv) {
  if (n->type != YAML_SCALAR_NODE) {
    *rv = fail(c, IMSEC_ERR_PARSE, n->start_mark.line + 1,
               "key '%s': expected a single value, not a list or map", key);
    return NULL;
  }
  if (n->data.scalar.length > IMSEC_ISIM_MAX_TEXT ||
      strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
    *rv = fail(c, IMSEC_ERR_PARSE, n->start_mark.line + 1,
               "key '%s': value too long or contains NUL", key);
    return NULL;
  }
  return (const char *)n->data.scalar.value;
}

static int dup_text(isim_ctx *c, size_t line, const char *key, const char *v,
                    char **out) {
  *out = strdup(v);
  return *out ? 0
              : fail(c, IMSEC_ERR_NOMEM, line, "key '%s': out of memory", key);
}

static int resolve_path(isim_ctx *c, size_t line, const char *key,
                        const char *v, char **out) {
  if (v[0] == '\0')
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': empty path", key);
  if (v[0] == '/' || !c->base_dir)
    return dup_text(c, line, key, v, out);
  size_t n = strlen(c->base_dir) + strlen(v) + 2;
  *out = malloc(n);
  if (!*out)
    return fail(c, IMSEC_ERR_NOMEM, line, "key '%s': out of memory", key);
  snprintf(*out, n, "%s/%s", c->base_dir, v);
  return 0;
}

static int hex_exact(isim_ctx *c, size_t line, const char *key, const char *v,
                     uint8_t *out, size_t len) {
  size_t n = strlen(v);
  if (n != 2 * len || imsec_hex_decode(v, n, out, len) != (int)len) {
    imsec_wipe(out, len);
    return fail(c, IMSEC_ERR_PARSE, line,
                "key '%s': expected %zu hex digits (%zu octets)", key, 2 * len,
                len);
  }
  return 0;
}

/* TS 33.203 clause 8.1 keeps K secret: a secret file may be read by its
 * owner only. */
static int secret_file_n(isim_ctx *c, size_t line, const char *key,
                         const char *v, uint8_t *out, size_t len,
                         size_t *got_len);

static int secret_file(isim_ctx *c, size_t line, const char *key, const char *v,
                       uint8_t *out, size_t len) {
  return secret_file_n(c, line, key, v, out, len, NULL);
}

/* As secret_file; with got_len, IMSEC_PSK_FILE_KEY_MIN to len octets are read
 * (their number goes to *got_len) instead of exactly len. */
static int secret_file_n(isim_ctx *c, size_t line, const char *key,
                         const char *v, uint8_t *out, size_t len,
                         size_t *got_len) {
  if (c->flags & IMSEC_ISIM_NO_FILES)
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': files not allowed here",
                key);
  char *path = NULL;
  IMSEC_GUARD(resolve_path(c, line, key, v, &path));
  int rv = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    rv = fail(c, IMSEC_ERR_IO, line, "key '%s': cannot read %s: %s", key, path,
              strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rv = fail(c, IMSEC_ERR_IO, line, "key '%s': %s is not a regular file", key,
              path);
    goto done;
  }
  if (st.st_mode & 077) {
    rv = fail(c, IMSEC_ERR_PERM, line,
              "key '%s': secret file %s is readable by group or others "
              "(mode %04o); chmod 600 it",
              key, path, (unsigned)(st.st_mode & 07777));
    goto done;
  }
  char buf[160];
  ssize_t got = read(fd, buf, sizeof(buf) - 1);
  if (got < 0) {
    rv = fail(c, IMSEC_ERR_IO, line, "key '%s': cannot read %s", key, path);
    goto done;
  }
  size_t n = (size_t)got;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                   buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    n--;
  buf[n] = '\0';
  if (got_len) {
    /* include/imsec/psk_file.h: a PSK of 128 bits at least */
    int dn = n >= 2 * IMSEC_PSK_FILE_KEY_MIN && n % 2 == 0 && n <= 2 * len
                 ? imsec_hex_decode(buf, n, out, len)
                 : IMSEC_ERR_PARSE;
    if (dn <= 0) {
      imsec_wipe(out, len);
      rv = fail(c, IMSEC_ERR_PARSE, line,
                "key '%s': %s must hold %d to %zu hex digits", key, path,
                2 * IMSEC_PSK_FILE_KEY_MIN, 2 * len);
    } else {
      *got_len = (size_t)dn;
    }
  } else if (n != 2 * len || imsec_hex_decode(buf, n, out, len) != (int)len) {
    imsec_wipe(out, len);
    rv = fail(c, IMSEC_ERR_PARSE, line, "key '%s': %s must hold %zu hex digits",
              key, path, 2 * len);
  }
  imsec_wipe(buf, sizeof(buf));
done:
  if (fd >= 0)
    close(fd);
  free(path);
  return rv;
}

/* Modes M2a/M2b: the UE's private key, a file its owner alone may read
 * (like the secret files above); the path is kept, the key read by the
 * TLS layer. */
static int private_key_file(isim_ctx *c, size_t line, const char *key,
                            const char *v, char **out) {
  if (c->flags & IMSEC_ISIM_NO_FILES)
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': files not allowed here",
                key);
  IMSEC_GUARD(resolve_path(c, line, key, v, out));
  struct stat st;
  if (stat(*out, &st) != 0)
    return fail(c, IMSEC_ERR_IO, line, "key '%s': cannot read %s: %s", key,
                *out, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(c, IMSEC_ERR_IO, line, "key '%s': %s is not a regular file",
                key, *out);
  if (st.st_mode & 077)
    return fail(c, IMSEC_ERR_PERM, line,
                "key '%s': secret file %s is readable by group or others "
                "(mode %04o); chmod 600 it",
                key, *out, (unsigned)(st.st_mode & 07777));
  return 0;
}

/* Printable ASCII without control characters: what goes into a header. */
static int text_printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
      return 0;
  return 1;
}

/* SIP Digest (TS 33.203 Annex N): the password of a terminal without an
 * ISIM, read by the same rules as the HSS's password files
 * (include/imsec/password_file.h, docs/DIGEST.md). */
static int password_file(isim_ctx *c, size_t line, const char *key,
                         const char *path, uint8_t *out, size_t cap,
                         size_t *got_len) {
  if (c->flags & IMSEC_ISIM_NO_FILES)
    return fail(c, IMSEC_ERR_PARSE, line, "key '%s': files not allowed here",
                key);
  /* The reader writes `out` only on success (its cap: at least
   * IMSEC_PASSWORD_FILE_MAX, the profile's password size). */
  char why[512];
  int rv = imsec_password_file_read(path, out, cap, got_len, why, sizeof(why));
  if (rv < 0)
    return fail(c, rv == IMSEC_ERR_LIMIT ? IMSEC_ERR_PARSE : rv, line,
                "key '%s': %s", key, why);
  return 0;
}

/* A list of scalars (a single scalar counts as a list of one). */
static int text_list(isim_ctx *c, yaml_document_t *doc, yaml_node_t *n,
                     const char *key, int paths, char ***out, size_t *count) {
  yaml_node_item_t *it = NULL, *end = NULL;
  if (n->type == YAML_SEQUENCE_NODE) {
    it = n->data.sequence.items.start;
    end = n->data.sequence.items.top;
    if (end - it > IMSEC_ISIM_MAX_LIST)
      return fail(c, IMSEC_ERR_LIMIT, n->start_mark.line + 1,
                  "key '%s': more than %d entries", key, IMSEC_ISIM_MAX_LIST);
  } else if (n->type != YAML_SCALAR_NODE) {
    return fail(c, IMSEC_ERR_PARSE, n->start_mark.line + 1,
                "key '%s': expected a list", key);
  }
  size_t total = n->type == YAML_SCALAR_NODE ? 1 : (size_t)(end - it);
  *out = calloc(total ? total : 1, sizeof(char *));
  if (!*out)
    return fail(c, IMSEC_ERR_NOMEM, n->start_mark.line + 1, "out of memory");
  *count = 0;
  for (size_t i = 0; i < total; i++) {
    yaml_node_t *item =
        n->type == YAML_SCALAR_NODE ? n : yaml_document_get_node(doc, it[i]);
    if (!item)
      return fail(c, IMSEC_ERR_PARSE, n->start_mark.line + 1,
                  "key '%s': broken list", key);
    int rv = 0;
    const char *v = scalar(c, item, key, &rv);
    if (!v)
      return rv;
    size_t line = item->start_mark.line + 1;
    IMSEC_GUARD(paths ? resolve_path(c, line, key, v, &(*out)[*count])
                      : dup_text(c, line, key, v, &(*out)[*count]));
    (*count)++;
  }
  return 0;
}

/* ------------------------------------------------------------- keys */

enum {
  K_IMPI,
  K_IMPUS,
  K_HOME,
  K_TRUST,
  K_K,
  K_K_FILE,
  K_OP,
  K_OP_FILE,
  K_OPC,
  K_OPC_FILE,
  K_AMF,
  K_SQN,
  K_ANCHORS,
  K_HOME_CA,
  K_PARTNERS,
  K_POLICY,
  K_CERT_FILE,
  K_KEY_FILE,
  K_PSK_ID,
  K_PSK_FILE,
  K_PASSWORD_FILE,
  K_DIGEST_USER,
  N_KEYS
};

static const char *const key_names[N_KEYS] = {"impi",
                                              "impus",
                                              "home_domain",
                                              "trust_domain",
                                              "k",
                                              "k_file",
                                              "op",
                                              "op_file",
                                              "opc",
                                              "opc_file",
                                              "amf",
                                              "sqn",
                                              "anchors",
                                              "home_ca",
                                              "partners",
                                              "policy",
                                              "cert_file",
                                              "key_file",
                                              "psk_identity",
                                              "psk_file",
                                              "password_file",
                                              "digest_username"};

static int one_key(isim_ctx *c, yaml_document_t *doc, int k, yaml_node_t *v) {
  imsec_isim_profile *p = c->p;
  const char *key = key_names[k];
  size_t line = v->start_mark.line + 1;
  int rv = 0;
  const char *s = NULL;
  if (k != K_IMPUS && k != K_ANCHORS && k != K_PARTNERS) {
    s = scalar(c, v, key, &rv);
    if (!s)
      return rv;
  }
  switch (k) {
  case K_IMPI:
    return dup_text(c, line, key, s, &p->impi);
  case K_IMPUS:
    return text_list(c, doc, v, key, 0, &p->impus, &p->n_impus);
  case K_HOME:
    return dup_text(c, line, key, s, &p->home_domain);
  case K_TRUST:
    return dup_text(c, line, key, s, &p->trust_domain);
  case K_K:
  case K_K_FILE:
    if (p->has_k)
      return fail(c, IMSEC_ERR_PARSE, line,
                  "key '%s': K is given twice (k and k_file)", key);
    IMSEC_GUARD(k == K_K ? hex_exact(c, line, key, s, p->k, 16)
                         : secret_file(c, line, key, s, p->k, 16));
    p->has_k = 1;
    return 0;
  case K_OP:
  case K_OP_FILE:
  case K_OPC:
  case K_OPC_FILE: {
    int is_opc = k == K_OPC || k == K_OPC_FILE;
    /* TS 35.206: the card holds OP or OPc, never both. */
    if (p->has_op || p->has_opc)
      return fail(c, IMSEC_ERR_PARSE, line,
                  "key '%s': give exactly one of op, op_file, opc, opc_file",
                  key);
    uint8_t *dst = is_opc ? p->opc : p->op;
    IMSEC_GUARD(k == K_OP || k == K_OPC
                    ? hex_exact(c, line, key, s, dst, 16)
                    : secret_file(c, line, key, s, dst, 16));
    if (is_opc)
      p->has_opc = 1;
    else
      p->has_op = 1;
    return 0;
  }
  case K_AMF:
    IMSEC_GUARD(hex_exact(c, line, key, s, p->amf, 2));
    p->has_amf = 1;
    return 0;
  case K_SQN:
    IMSEC_GUARD(hex_exact(c, line, key, s, p->sqn, 6));
    p->has_sqn = 1;
    return 0;
  case K_ANCHORS:
    return text_list(c, doc, v, key, 1, &p->anchors, &p->n_anchors);
  case K_HOME_CA:
    return resolve_path(c, line, key, s, &p->home_ca);
  case K_PARTNERS:
    return text_list(c, doc, v, key, 1, &p->partners, &p->n_partners);
  case K_POLICY:
    if (imsec_trust_policy_parse(imsec_str_c(s), &p->policy) != 0)
      return fail(c, IMSEC_ERR_PARSE, line,
                  "key 'policy': expected trust-domain or strict-home, not "
                  "'%.64s'",
                  s);
    p->has_policy = 1;
    return 0;
  case K_CERT_FILE:
    return resolve_path(c, line, key, s, &p->cert_file);
  case K_KEY_FILE:
    return private_key_file(c, line, key, s, &p->key_file);
  case K_PSK_ID:
    return dup_text(c, line, key, s, &p->psk_identity);
  case K_PSK_FILE:
    IMSEC_GUARD(
        secret_file_n(c, line, key, s, p->psk, sizeof(p->psk), &p->psk_len));
    return resolve_path(c, line, key, s, &p->psk_file);
  case K_PASSWORD_FILE:
    IMSEC_GUARD(resolve_path(c, line, key, s, &p->password_file));
    return password_file(c, line, key, p->password_file, p->password,
                         sizeof(p->password), &p->password_len);
  case K_DIGEST_USER:
    if (!s[0] || strpbrk(s, "\"\\") || !text_printable(s))
      return fail(c, IMSEC_ERR_PARSE, line,
                  "key '%s': expected a printable username without quotes "
                  "or backslashes",
                  key);
    return dup_text(c, line, key, s, &p->digest_username);
  default:
    return IMSEC_ERR_INTERNAL;
  }
}

static int walk(isim_ctx *c, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root)
    return fail(c, IMSEC_ERR_PARSE, 1, "empty document (expected a map)");
  if (root->type != YAML_MAPPING_NODE)
    return fail(c, IMSEC_ERR_PARSE, root->start_mark.line + 1,
                "expected a map of keys at the top");
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
    int k = 0;
    while (k < N_KEYS && strcmp(name, key_names[k]) != 0)
      k++;
    if (k == N_KEYS)
      return fail(c, IMSEC_ERR_PARSE, line, "key '%.64s': unknown key", name);
    if (c->seen & (1u << k))
      return fail(c, IMSEC_ERR_PARSE, line, "key '%s': given twice",
                  key_names[k]);
    c->seen |= 1u << k;
    IMSEC_GUARD(one_key(c, doc, k, vn));
  }
  return 0;
}

int imsec_isim_parse(const char *text, size_t len, const char *name,
                     const char *base_dir, unsigned flags,
                     imsec_isim_profile *out, char *err, size_t errcap) {
  memset(out, 0, sizeof(*out));
  isim_ctx c = {
      name ? name : "<profile>", base_dir, flags, err, errcap, out, 0};
  if (errcap)
    err[0] = '\0';
  if (len > IMSEC_ISIM_MAX_FILE)
    return fail(&c, IMSEC_ERR_LIMIT, 1, "larger than %d bytes",
                IMSEC_ISIM_MAX_FILE);
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return fail(&c, IMSEC_ERR_NOMEM, 1, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  yaml_document_t doc;
  int rv;
  if (!yaml_parser_load(&parser, &doc)) {
    rv = fail(&c, IMSEC_ERR_PARSE, parser.problem_mark.line + 1, "YAML: %s%s%s",
              parser.problem ? parser.problem : "syntax error",
              parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return rv;
  }
  rv = walk(&c, &doc);
  /* One document per profile. */
  if (rv == 0) {
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
      rv = fail(&c, IMSEC_ERR_PARSE, parser.problem_mark.line + 1, "YAML: %s",
                parser.problem ? parser.problem : "syntax error");
    } else {
      if (yaml_document_get_root_node(&extra))
        rv = fail(&c, IMSEC_ERR_PARSE, parser.mark.line + 1,
                  "more than one YAML document");
      yaml_document_delete(&extra);
    }
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  if (rv == 0 && (out->source = strdup(c.name)) == NULL)
    rv = IMSEC_ERR_NOMEM;
  if (rv < 0)
    imsec_isim_free(out);
  return rv;
}

int imsec_isim_load(const char *path, imsec_isim_profile *out, char *err,
                    size_t errcap) {
  memset(out, 0, sizeof(*out));
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errcap)
      snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
    return IMSEC_ERR_IO;
  }
  char *buf = malloc(IMSEC_ISIM_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return IMSEC_ERR_NOMEM;
  }
  size_t n = fread(buf, 1, IMSEC_ISIM_MAX_FILE + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    if (errcap)
      snprintf(err, errcap, "%s: cannot read", path);
    return IMSEC_ERR_IO;
  }
  /* Relative paths in the profile are relative to its directory. */
  char *dir = strdup(path);
  if (!dir) {
    free(buf);
    return IMSEC_ERR_NOMEM;
  }
  char *slash = strrchr(dir, '/');
  const char *base = ".";
  if (slash) {
    slash[slash == dir ? 1 : 0] = '\0';
    base = dir;
  }
  int rv = imsec_isim_parse(buf, n, path, base, 0, out, err, errcap);
  imsec_wipe(buf, n);
  free(buf);
  free(dir);
  return rv;
}

/* ---------------------------------------------------------- anchors */

int imsec_isim_anchors(const imsec_isim_profile *p, imsec_x509_anchors **out,
                       char *err, size_t errcap) {
  if (errcap)
    err[0] = '\0';
  const char *src = p->source ? p->source : "<profile>";
  if (p->n_anchors == 0 || !p->home_ca) {
    if (errcap)
      snprintf(err, errcap, "%s: key '%s' is missing", src,
               p->n_anchors == 0 ? "anchors" : "home_ca");
    return IMSEC_ERR_CONFIG;
  }
  imsec_x509_anchors *a = NULL;
  IMSEC_GUARD(imsec_x509_anchors_new(&a));
  const char *key = "anchors", *file = NULL;
  int rv = 0;
  for (size_t i = 0; i < p->n_anchors && rv == 0; i++)
    rv = imsec_x509_anchors_add_root_file(a, file = p->anchors[i]);
  if (rv == 0) {
    key = "home_ca";
    rv = imsec_x509_anchors_set_home_ca_file(a, file = p->home_ca);
  }
  for (size_t i = 0; i < p->n_partners && rv == 0; i++) {
    key = "partners";
    rv = imsec_x509_anchors_add_partner_file(a, file = p->partners[i], NULL);
  }
  if (rv < 0) {
    if (errcap)
      snprintf(err, errcap, "%s: key '%s': %s: %s", src, key, file,
               rv == IMSEC_ERR_PARSE ? "no PEM certificate in it"
                                     : imsec_strerror(rv));
    imsec_x509_anchors_del(a);
    return rv;
  }
  *out = a;
  return 0;
}

/* ------------------------------------------------------------- save */

/* A YAML double-quoted scalar. */
static int put_quoted(FILE *f, const char *s) {
  if (fputc('"', f) == EOF)
    return -1;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      if (fprintf(f, "\\%c", ch) < 0)
        return -1;
    } else if (ch < 0x20 || ch == 0x7f) {
      if (fprintf(f, "\\x%02x", ch) < 0)
        return -1;
    } else if (fputc(ch, f) == EOF) {
      return -1;
    }
  }
  return fputc('"', f) == EOF ? -1 : 0;
}

static int put_kv(FILE *f, const char *key, const char *v) {
  if (!v)
    return 0;
  if (fprintf(f, "%s: ", key) < 0 || put_quoted(f, v) < 0 ||
      fputc('\n', f) == EOF)
    return -1;
  return 0;
}

static int put_list(FILE *f, const char *key, char *const *v, size_t n) {
  if (fprintf(f, "%s:%s\n", key, n ? "" : " []") < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (fputs("  - ", f) == EOF || put_quoted(f, v[i]) < 0 ||
        fputc('\n', f) == EOF)
      return -1;
  }
  return 0;
}

static int put_hex(FILE *f, const char *key, const uint8_t *v, size_t n,
                   int has) {
  if (!has)
    return 0;
  char hex[40];
  if (imsec_hex_encode(v, n, hex, sizeof(hex)) < 0)
    return -1;
  int rv = fprintf(f, "%s: \"%s\"\n", key, hex) < 0 ? -1 : 0;
  imsec_wipe(hex, sizeof(hex));
  return rv;
}

int imsec_isim_save(const imsec_isim_profile *p, const char *path, int force) {
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  flags |= force ? O_TRUNC : O_EXCL;
  int fd = open(path, flags, 0600);
  if (fd < 0)
    return errno == EEXIST ? IMSEC_ERR_EXISTS : IMSEC_ERR_IO;
  if (fchmod(fd, 0600) != 0) {
    close(fd);
    return IMSEC_ERR_IO;
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return IMSEC_ERR_NOMEM;
  }
  int bad = 0;
  bad |= fputs("# ISIM profile (TS 33.203 clause 8.1); holds secrets: keep "
               "it mode 0600\n",
               f) == EOF;
  bad |= put_kv(f, "impi", p->impi);
  bad |= put_list(f, "impus", p->impus, p->n_impus);
  bad |= put_kv(f, "home_domain", p->home_domain);
  bad |= put_kv(f, "trust_domain", p->trust_domain);
  bad |= put_hex(f, "k", p->k, 16, p->has_k);
  bad |= put_hex(f, "op", p->op, 16, p->has_op);
  bad |= put_hex(f, "opc", p->opc, 16, p->has_opc);
  bad |= put_hex(f, "amf", p->amf, 2, p->has_amf);
  bad |= put_hex(f, "sqn", p->sqn, 6, p->has_sqn);
  bad |= put_list(f, "anchors", p->anchors, p->n_anchors);
  bad |= put_kv(f, "home_ca", p->home_ca);
  bad |= put_list(f, "partners", p->partners, p->n_partners);
  bad |= put_kv(f, "policy", imsec_trust_policy_name(p->policy));
  bad |= put_kv(f, "cert_file", p->cert_file);
  bad |= put_kv(f, "key_file", p->key_file);
  /* Mode M3: the identity and the file; the key itself stays there. */
  bad |= put_kv(f, "psk_identity", p->psk_identity);
  bad |= put_kv(f, "psk_file", p->psk_file);
  /* SIP Digest: the file that holds the password, never the password. */
  bad |= put_kv(f, "password_file", p->password_file);
  bad |= put_kv(f, "digest_username", p->digest_username);
  if (fclose(f) != 0)
    bad = 1;
  return bad ? IMSEC_ERR_IO : 0;
}
