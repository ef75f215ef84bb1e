/*
 * imsec hss: manage the HSS subscriber store (SQLite, store/hss_db.c, or
 * PostgreSQL, store/hss_pg.c: apps/hss_open.h).
 * K and OP/OPc, or a SIP Digest password, go in; nothing here ever prints
 * them, nor the H(A1)s derived from a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "hss_serve.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/ident.h"
#include "imsec/password_file.h"

/* --db: a SQLite file or a PostgreSQL URI. */
#include "hss_open.h"

static const char help[] =
    "usage: imsec hss add  --db FILE --impi IMPI --impu URI[,URI...]\n"
    "                      [--impu URI ...] [--scheme aka]\n"
    "                      --k HEX (--op HEX | --opc HEX) --amf HEX\n"
    "                      [--sqn HEX] [--aka v1|v2]\n"
    "       imsec hss add  --db FILE --impi IMPI --impu URI[,URI...]\n"
    "                      [--impu URI ...] --scheme digest\n"
    "                      --password-file FILE [--realm REALM]\n"
    "       imsec hss passwd --db FILE --impi IMPI --password-file FILE\n"
    "                      [--realm REALM]\n"
    "       imsec hss show --db FILE --impi IMPI\n"
    "       imsec hss list --db FILE\n"
    "       imsec hss del  --db FILE --impi IMPI\n"
    "       imsec hss serve --db DB --diameter tcp:HOST:PORT|tls:HOST:PORT\n"
    "                      --diameter-identity FQDN --diameter-realm REALM\n"
    "                      [--diameter-cert FILE --diameter-key FILE\n"
    "                       --diameter-ca FILE] [--log-level LEVEL]\n"
    "\n"
    "Manage the subscribers of the HSS that `imsec scscf` embeds. The\n"
    "database is SQLite, created with mode 0600 by the first `add`; a\n"
    "database of an older version is upgraded in place when opened.\n"
    "--db may instead name PostgreSQL (postgresql://USER@HOST:PORT/DB,\n"
    "as libpq takes it), the store several HSS front-ends share; the\n"
    "first `add` installs its tables.\n"
    "\n"
    "  add     a subscriber: its private identity, its implicit\n"
    "          registration set of public identities (the first is the\n"
    "          default; --impu may be repeated), and how it authenticates:\n"
    "          --scheme aka (the default, IMS AKA): K and OP or OPc (16\n"
    "          octets in hex), AMF (2 octets), the last SQN the HSS used\n"
    "          (6 octets, default 000000000000; TS 33.102 Annex C), and\n"
    "          the Digest AKA version (default v1: AKAv1-MD5; v2:\n"
    "          AKAv2-MD5);\n"
    "          --scheme digest (SIP Digest over TLS, TS 33.203 Annex N):\n"
    "          the password is read from --password-file (one line of\n"
    "          1..128 octets, a file of this user with mode 0600) and only\n"
    "          H(A1) for MD5 and SHA-256 is stored (RFC 7616), for the\n"
    "          realm (default: the domain of the IMPI, after the '@')\n"
    "  passwd  change the password of a SIP Digest subscriber (and its\n"
    "          realm with --realm)\n"
    "  show    one subscriber, a field per line (no secrets)\n"
    "  list    one subscriber per line (no secrets)\n"
    "  del     remove a subscriber\n"
    "  serve   run the HSS as a Diameter Cx server for S-CSCFs started\n"
    "          with --hss diameter:HOST:PORT (imsec hss serve --help)\n"
    "\n"
    "Exit status: 0 ok, 2 usage, input or database error.\n";

#define SUB "hss"

enum opt_id {
  O_DB,
  O_IMPI,
  O_IMPU,
  O_K,
  O_OP,
  O_OPC,
  O_AMF,
  O_SQN,
  O_AKA,
  O_SCHEME,
  O_PWFILE,
  O_REALM,
  N
};

static const char *const names[N] = {
    "--db",  "--impi",   "--impu",          "--k",
    "--op",  "--opc",    "--amf",           "--sqn",
    "--aka", "--scheme", "--password-file", "--realm"};

#define BIT(o) (1u << (o))
/* The options of one scheme only. */
#define AKA_OPTS                                                               \
  (BIT(O_K) | BIT(O_OP) | BIT(O_OPC) | BIT(O_AMF) | BIT(O_SQN) | BIT(O_AKA))
#define DIGEST_OPTS (BIT(O_PWFILE) | BIT(O_REALM))
/* Options that may be left out. */
#define OPTIONAL_OPTS                                                          \
  (BIT(O_OP) | BIT(O_OPC) | BIT(O_SQN) | BIT(O_AKA) | BIT(O_SCHEME) |          \
   BIT(O_REALM))

/* The values given; --impu may repeat (each value may itself be a
 * comma-separated list). */
typedef struct opts {
  const char *v[N];
  const char *impu[IMSEC_HSS_MAX_IMPUS];
  size_t n_impu;
} opts;

static int parse_opts(int argc, char **argv, unsigned allowed,
                      unsigned required, opts *o) {
  const char **v = o->v;
  memset(o, 0, sizeof(*o));
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    int id = -1;
    for (int k = 0; k < N; k++)
      if (strlen(names[k]) == nlen && strncmp(arg, names[k], nlen) == 0)
        id = k;
    if (id < 0 || !(allowed & BIT(id))) {
      if (arg[0] == '-')
        return cli_usage(SUB, "unknown option '%.*s'", (int)nlen, arg);
      return cli_usage(SUB, "unexpected argument '%s'", arg);
    }
    if (v[id] && id != O_IMPU)
      return cli_usage(SUB, "%s given twice", names[id]);
    if (eq) {
      v[id] = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", names[id]);
      v[id] = argv[++i];
    }
    if (id == O_IMPU) {
      if (o->n_impu >= IMSEC_HSS_MAX_IMPUS)
        return cli_usage(SUB, "--impu: more than %d URIs", IMSEC_HSS_MAX_IMPUS);
      o->impu[o->n_impu++] = v[id];
    }
  }
  for (int k = 0; k < N; k++)
    if ((required & BIT(k)) && !v[k])
      return cli_usage(SUB, "missing %s", names[k]);
  return 0;
}

static int open_db(const char *path, int create, imsec_hss_store **st) {
  char err[512];
  int rv = hss_open_cli(st, path, create, err, sizeof(err));
  if (rv < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s", err);
  return 0;
}

/* RFC 7542 §2.2, RFC 3261 §25.1: an identity carries no control
 * character, whitespace or quote (imsec_ident_bad_char). Returns 0 or the
 * usage exit code after one line naming the octet. */
static int check_chars(const char *opt, const char *id, size_t n) {
  long at = imsec_ident_bad_char(imsec_str_make(id, n));
  if (at < 0)
    return 0;
  unsigned char ch = (unsigned char)id[at];
  const char *what = ch < 0x20 || ch == 0x7f   ? "a control character"
                     : ch == ' '               ? "whitespace"
                     : ch == '"' || ch == '\'' ? "a quote"
                                               : "a delimiter";
  return cli_usage(SUB,
                   "%s: %s (0x%02x) at offset %ld; identities carry no "
                   "control characters, whitespace or quotes",
                   opt, what, ch, at);
}

/* Split one --impu "a,b" into the record, after those already there. */
static int put_impus(const char *list, imsec_hss_sub *s) {
  const char *p = list;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    while (n && (*p == ' ')) {
      p++;
      n--;
    }
    while (n && p[n - 1] == ' ')
      n--;
    if (n == 0)
      return cli_usage(SUB, "--impu: empty URI");
    int bad = check_chars("--impu", p, n);
    if (bad)
      return bad;
    if (n >= IMSEC_HSS_ID_MAX)
      return cli_usage(SUB, "--impu: URI longer than %d octets",
                       IMSEC_HSS_ID_MAX - 1);
    if (s->n_impus >= IMSEC_HSS_MAX_IMPUS)
      return cli_usage(SUB, "--impu: more than %d URIs", IMSEC_HSS_MAX_IMPUS);
    if (!(n > 4 && (strncmp(p, "sip:", 4) == 0 || strncmp(p, "tel:", 4) == 0 ||
                    strncmp(p, "sips:", 5) == 0)))
      return cli_usage(SUB, "--impu: '%.*s' is not a sip:, sips: or tel: URI",
                       (int)n, p);
    memcpy(s->impus[s->n_impus], p, n);
    s->impus[s->n_impus][n] = 0;
    for (size_t i = 0; i < s->n_impus; i++)
      if (strcmp(s->impus[i], s->impus[s->n_impus]) == 0)
        return cli_usage(SUB, "--impu: '%s' given twice", s->impus[i]);
    s->n_impus++;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

/* The password of --password-file into pw[0..*len) (IMSEC_PASSWORD_FILE_MAX
 * octets), the caller wipes it. Returns 0 or the usage exit code after
 * one line saying what is wrong with the file (never its content). */
static int read_password(const char *path, uint8_t *pw, size_t cap,
                         size_t *len) {
  char err[512];
  if (imsec_password_file_read(path, pw, cap, len, err, sizeof(err)) < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--password-file %s", err);
  return 0;
}

/* --realm: an identity's characters, and short enough for the record. */
static int check_realm(const char *realm) {
  if (!realm)
    return 0;
  size_t n = strlen(realm);
  if (n == 0 || n >= IMSEC_HSS_ID_MAX)
    return cli_usage(SUB, "--realm: expected 1..%d octets",
                     IMSEC_HSS_ID_MAX - 1);
  return check_chars("--realm", realm, n);
}

/* Fill the SIP Digest credentials of `s` (its IMPI set) from the
 * password in `pwfile` for `realm` (NULL: the IMPI's domain). Returns 0
 * or the usage exit code after one line. */
static int put_digest(imsec_hss_sub *s, const char *pwfile, const char *realm) {
  uint8_t pw[IMSEC_PASSWORD_FILE_MAX];
  size_t len = 0;
  int rv = read_password(pwfile, pw, sizeof(pw), &len);
  if (rv)
    return rv;
  imsec_crypto *c = NULL;
  int r = imsec_crypto_ossl_new(&c);
  if (r == 0)
    r = imsec_hss_digest_set(s, c, realm ? imsec_str_c(realm) : imsec_str_c(""),
                             (imsec_bytes){pw, len});
  imsec_wipe(pw, sizeof(pw));
  imsec_crypto_del(c);
  if (r == IMSEC_ERR_INVAL)
    /* TS 23.003 §13.3: the realm is the IMPI's domain unless given. */
    return cli_usage(SUB,
                     "--impi %s: no realm: give --realm or an IMPI of "
                     "the form user@domain",
                     s->impi);
  if (r < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot derive H(A1): %s",
                    imsec_strerror(r));
  return 0;
}

/* --impi into the record. Returns 0 or the usage exit code. */
static int put_impi(const char *impi, imsec_hss_sub *s) {
  size_t n = strlen(impi);
  int rv = check_chars("--impi", impi, n);
  if (rv)
    return rv;
  if (n == 0 || n >= sizeof(s->impi))
    return cli_usage(SUB, "--impi: expected a private identity (user@realm)");
  memcpy(s->impi, impi, n + 1);
  return 0;
}

/* The AKA half of add: K, OP/OPc, AMF, SQN, AKA version. */
static int put_aka(const opts *o, imsec_hss_sub *s) {
  const char *const *v = o->v;
  int rv;
  if (v[O_OP] && v[O_OPC])
    return cli_usage(SUB, "give --op or --opc, not both");
  if (!v[O_OP] && !v[O_OPC])
    return cli_usage(SUB, "missing --op or --opc");
  if ((rv = cli_hex_exact(SUB, "--k", v[O_K], s->k, 16)) != 0)
    return rv;
  s->op_is_opc = v[O_OPC] != NULL;
  if ((rv = cli_hex_exact(SUB, s->op_is_opc ? "--opc" : "--op",
                          s->op_is_opc ? v[O_OPC] : v[O_OP], s->op, 16)) != 0)
    return rv;
  if ((rv = cli_hex_exact(SUB, "--amf", v[O_AMF], s->amf, 2)) != 0)
    return rv;
  s->aka = IMSEC_HSS_AKAV1;
  if (v[O_AKA] && imsec_hss_aka_parse(imsec_str_c(v[O_AKA]), &s->aka) < 0)
    return cli_usage(SUB, "--aka: expected v1 or v2, got '%s'", v[O_AKA]);
  if (v[O_SQN]) {
    uint8_t sqn[6];
    if ((rv = cli_hex_exact(SUB, "--sqn", v[O_SQN], sqn, 6)) != 0)
      return rv;
    /* The last SQN used: SEQ_HE || IND (Annex C, 5 IND bits); the next
     * vector takes the next IND. */
    uint64_t x = imsec_sqn_to_u64(sqn);
    s->sqn.seq = x >> 5;
    s->sqn.ind_next = (uint32_t)((x + 1) & 31);
  }
  return 0;
}

/* "--db F: cannot VERB IMPI: why" for a store error. */
static int db_fail(const char *db, const char *verb, const char *impi, int r) {
  return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: cannot %s %s: %s", db, verb,
                  impi,
                  r == IMSEC_ERR_BUSY ? "database locked by another process"
                                      : imsec_strerror(r));
}

static int cmd_add(int argc, char **argv) {
  opts o;
  int rv = parse_opts(argc, argv,
                      BIT(O_DB) | BIT(O_IMPI) | BIT(O_IMPU) | BIT(O_SCHEME) |
                          AKA_OPTS | DIGEST_OPTS,
                      BIT(O_DB) | BIT(O_IMPI) | BIT(O_IMPU), &o);
  if (rv)
    return rv;
  const char *const *v = o.v;
  /* TS 33.203 Annex P.4: the scheme is the subscriber's, chosen here. */
  imsec_hss_scheme scheme = IMSEC_HSS_SCHEME_AKA;
  if (v[O_SCHEME] &&
      imsec_hss_scheme_parse(imsec_str_c(v[O_SCHEME]), &scheme) < 0)
    return cli_usage(SUB, "--scheme: expected aka or digest, got '%s'",
                     v[O_SCHEME]);
  unsigned own = scheme == IMSEC_HSS_SCHEME_DIGEST ? DIGEST_OPTS : AKA_OPTS;
  unsigned other = scheme == IMSEC_HSS_SCHEME_DIGEST ? AKA_OPTS : DIGEST_OPTS;
  for (int k = 0; k < N; k++) {
    if ((other & BIT(k)) && v[k])
      return cli_usage(SUB, "%s does not go with --scheme %s", names[k],
                       imsec_hss_scheme_name(scheme));
    if ((own & BIT(k)) && !(OPTIONAL_OPTS & BIT(k)) && !v[k])
      return cli_usage(SUB, "missing %s", names[k]);
  }
  if ((rv = check_realm(v[O_REALM])) != 0)
    return rv;
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  imsec_hss_store *st = NULL;
  if ((rv = put_impi(v[O_IMPI], &s)) != 0)
    goto done;
  for (size_t i = 0; i < o.n_impu; i++)
    if ((rv = put_impus(o.impu[i], &s)) != 0)
      goto done;
  if (scheme == IMSEC_HSS_SCHEME_DIGEST)
    rv = put_digest(&s, v[O_PWFILE], v[O_REALM]);
  else
    rv = put_aka(&o, &s);
  if (rv)
    goto done;
  if ((rv = open_db(v[O_DB], 1, &st)) != 0)
    goto done;
  int r = st->vt->add(st, &s);
  if (r == IMSEC_ERR_EXISTS)
    rv = cli_fail(CLI_EXIT_USAGE, SUB,
                  "--impi %s: the IMPI or one of its IMPUs exists already",
                  s.impi);
  else if (r < 0)
    rv = db_fail(v[O_DB], "add", s.impi, r);
  else if (scheme == IMSEC_HSS_SCHEME_DIGEST)
    printf("added %s (%zu IMPU%s, SIP Digest, realm %s)\n", s.impi, s.n_impus,
           s.n_impus == 1 ? "" : "s", s.digest.realm);
  else
    printf("added %s (%zu IMPU%s)\n", s.impi, s.n_impus,
           s.n_impus == 1 ? "" : "s");
done:
  imsec_hss_sub_wipe(&s);
  imsec_hss_store_del(st);
  return rv;
}

/* A password change (and a realm change with --realm): new H(A1)s for
 * the same subscriber, written in one durable statement. */
static int cmd_passwd(int argc, char **argv) {
  opts o;
  int rv = parse_opts(argc, argv,
                      BIT(O_DB) | BIT(O_IMPI) | BIT(O_PWFILE) | BIT(O_REALM),
                      BIT(O_DB) | BIT(O_IMPI) | BIT(O_PWFILE), &o);
  if (rv)
    return rv;
  const char *const *v = o.v;
  if ((rv = check_realm(v[O_REALM])) != 0)
    return rv;
  imsec_hss_store *st = NULL;
  if ((rv = open_db(v[O_DB], 0, &st)) != 0)
    return rv;
  imsec_hss_sub *s = calloc(1, sizeof(*s));
  if (!s) {
    imsec_hss_store_del(st);
    return cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
  }
  int r = st->vt->load(st, imsec_str_c(v[O_IMPI]), s);
  if (r == IMSEC_ERR_NOTFOUND) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--impi %s: no such subscriber",
                  v[O_IMPI]);
    goto done;
  }
  if (r < 0) {
    rv = db_fail(v[O_DB], "read", v[O_IMPI], r);
    goto done;
  }
  if (s->scheme != IMSEC_HSS_SCHEME_DIGEST) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB,
                  "--impi %s: an IMS AKA subscriber has no password (it "
                  "authenticates with K)",
                  v[O_IMPI]);
    goto done;
  }
  /* The realm stays unless --realm names another. */
  char realm[IMSEC_HSS_ID_MAX];
  snprintf(realm, sizeof(realm), "%s",
           v[O_REALM] ? v[O_REALM] : s->digest.realm);
  if ((rv = put_digest(s, v[O_PWFILE], realm)) != 0)
    goto done;
  if (!st->vt->set_digest) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: cannot change passwords",
                  v[O_DB]);
    goto done;
  }
  r = st->vt->set_digest(st, imsec_str_c(s->impi), &s->digest);
  if (r == IMSEC_ERR_NOTFOUND) /* deleted meanwhile */
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--impi %s: no such subscriber",
                  v[O_IMPI]);
  else if (r < 0)
    rv = db_fail(v[O_DB], "change the password of", v[O_IMPI], r);
  else
    printf("changed the password of %s (realm %s)\n", s->impi, s->digest.realm);
done:
  imsec_hss_sub_wipe(s);
  free(s);
  imsec_hss_store_del(st);
  return rv;
}

/* The last SQN used, as `--sqn` takes it. */
static void last_sqn(const imsec_hss_sub *s, uint8_t sqn[6]) {
  uint64_t last =
      s->sqn.seq ? (s->sqn.seq << 5 | ((s->sqn.ind_next + 31u) & 31u)) : 0;
  imsec_sqn_from_u64(last, sqn);
}

static int print_one(void *arg, const imsec_hss_sub *s) {
  (void)arg;
  printf("%s impu=", s->impi);
  for (size_t i = 0; i < s->n_impus; i++)
    printf("%s%s", i ? "," : "", s->impus[i]);
  if (s->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    printf(" scheme: digest realm: %s\n", s->digest.realm);
    return 0;
  }
  uint8_t sqn[6];
  last_sqn(s, sqn);
  printf(" aka=%s %s amf=%02x%02x sqn=%02x%02x%02x%02x%02x%02x\n",
         imsec_hss_aka_name(s->aka), s->op_is_opc ? "opc" : "op", s->amf[0],
         s->amf[1], sqn[0], sqn[1], sqn[2], sqn[3], sqn[4], sqn[5]);
  return 0;
}

static int cmd_list(int argc, char **argv) {
  opts o;
  int rv = parse_opts(argc, argv, BIT(O_DB), BIT(O_DB), &o);
  if (rv)
    return rv;
  imsec_hss_store *st;
  if ((rv = open_db(o.v[O_DB], 0, &st)) != 0)
    return rv;
  int r = st->vt->list(st, print_one, NULL);
  imsec_hss_store_del(st);
  if (r < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: %s", o.v[O_DB],
                    imsec_strerror(r));
  return 0;
}

/* One subscriber, "field: value" per line, never a secret. */
static void show_one(const imsec_hss_sub *s) {
  printf("impi: %s\n", s->impi);
  for (size_t i = 0; i < s->n_impus; i++)
    printf("impu: %s\n", s->impus[i]);
  printf("scheme: %s\n", imsec_hss_scheme_name(s->scheme));
  if (s->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    printf("realm: %s\n", s->digest.realm);
    printf("algorithms: SHA-256 MD5\n");
    return;
  }
  uint8_t sqn[6];
  last_sqn(s, sqn);
  printf("aka: %s\n", imsec_hss_aka_name(s->aka));
  printf("op: %s\n", s->op_is_opc ? "opc" : "op");
  printf("amf: %02x%02x\n", s->amf[0], s->amf[1]);
  printf("sqn: %02x%02x%02x%02x%02x%02x\n", sqn[0], sqn[1], sqn[2], sqn[3],
         sqn[4], sqn[5]);
}

static int cmd_show(int argc, char **argv) {
  opts o;
  int rv = parse_opts(argc, argv, BIT(O_DB) | BIT(O_IMPI),
                      BIT(O_DB) | BIT(O_IMPI), &o);
  if (rv)
    return rv;
  imsec_hss_store *st;
  if ((rv = open_db(o.v[O_DB], 0, &st)) != 0)
    return rv;
  imsec_hss_sub *s = calloc(1, sizeof(*s));
  int r = s ? st->vt->load(st, imsec_str_c(o.v[O_IMPI]), s) : IMSEC_ERR_NOMEM;
  imsec_hss_store_del(st);
  if (s) {
    /* The store reads the whole record: drop the secrets at once. */
    imsec_wipe(s->k, sizeof(s->k));
    imsec_wipe(s->op, sizeof(s->op));
    imsec_wipe(s->digest.ha1, sizeof(s->digest.ha1));
  }
  if (r == IMSEC_ERR_NOTFOUND)
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--impi %s: no such subscriber",
                  o.v[O_IMPI]);
  else if (r < 0)
    rv = db_fail(o.v[O_DB], "read", o.v[O_IMPI], r);
  else
    show_one(s);
  imsec_hss_sub_wipe(s);
  free(s);
  return rv;
}

static int cmd_del(int argc, char **argv) {
  opts o;
  int rv = parse_opts(argc, argv, BIT(O_DB) | BIT(O_IMPI),
                      BIT(O_DB) | BIT(O_IMPI), &o);
  if (rv)
    return rv;
  const char *const *v = o.v;
  imsec_hss_store *st;
  if ((rv = open_db(v[O_DB], 0, &st)) != 0)
    return rv;
  int r = st->vt->del(st, imsec_str_c(v[O_IMPI]));
  imsec_hss_store_del(st);
  if (r == IMSEC_ERR_NOTFOUND)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--impi %s: no such subscriber",
                    v[O_IMPI]);
  if (r < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: %s", v[O_DB],
                    imsec_strerror(r));
  printf("deleted %s\n", v[O_IMPI]);
  return 0;
}

#define VERBS "add, passwd, show, list, del, serve"

static int run(int argc, char **argv) {
  if (argc < 2 || cli_wants_help(2, argv)) {
    if (argc >= 2) {
      fputs(help, stdout);
      return CLI_EXIT_OK;
    }
    return cli_usage(SUB, "missing verb (" VERBS ")");
  }
  /* The Diameter server has its own options and help. */
  if (strcmp(argv[1], "serve") == 0)
    return hss_serve(argc, argv);
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "add") == 0)
    return cmd_add(argc, argv);
  if (strcmp(argv[1], "passwd") == 0)
    return cmd_passwd(argc, argv);
  if (strcmp(argv[1], "show") == 0)
    return cmd_show(argc, argv);
  if (strcmp(argv[1], "list") == 0)
    return cmd_list(argc, argv);
  if (strcmp(argv[1], "del") == 0)
    return cmd_del(argc, argv);
  return cli_usage(SUB, "unknown verb '%s' (" VERBS ")", argv[1]);
}

const cli_cmd imsec_cmd_hss = {
    .name = "hss",
    .summary = "manage the HSS subscriber store",
    .run = run,
    .planned = 0,
};
