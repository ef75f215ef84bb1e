/*
 * imsec hss: manage the HSS subscriber store (SQLite, store/hss_db.c).
 * K and OP/OPc go in; nothing here ever prints them.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "imsec/hss.h"
#include "imsec/ident.h"
#include "imsec/hss_db.h"

static const char help[] =
    "usage: imsec hss add  --db FILE --impi IMPI --impu URI[,URI...]\n"
    "                      --k HEX (--op HEX | --opc HEX) --amf HEX\n"
    "                      [--sqn HEX] [--aka v1|v2]\n"
    "       imsec hss list --db FILE\n"
    "       imsec hss del  --db FILE --impi IMPI\n"
    "\n"
    "Manage the subscribers of the HSS that `imsec scscf` embeds. The\n"
    "database is SQLite, created with mode 0600 by the first `add`.\n"
    "\n"
    "  add   a subscriber: its private identity, its implicit registration\n"
    "        set of public identities (the first is the default), K and OP\n"
    "        or OPc (16 octets in hex), AMF (2 octets), the last SQN the\n"
    "        HSS used (6 octets, default 000000000000; TS 33.102 Annex C),\n"
    "        and the Digest AKA version (default v1: AKAv1-MD5; v2:\n"
    "        AKAv2-MD5)\n"
    "  list  one subscriber per line (no secrets)\n"
    "  del   remove a subscriber\n"
    "\n"
    "Exit status: 0 ok, 2 usage, input or database error.\n";

#define SUB "hss"

enum opt_id { O_DB, O_IMPI, O_IMPU, O_K, O_OP, O_OPC, O_AMF, O_SQN, O_AKA, N };

static const char *const names[N] = {"--db",  "--impi", "--impu",
                                     "--k",   "--op",   "--opc",
                                     "--amf", "--sqn",  "--aka"};

#define BIT(o) (1u << (o))

static int parse_opts(int argc, char **argv, unsigned allowed,
                      const char *v[N]) {
  for (int i = 0; i < N; i++)
    v[i] = NULL;
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
    if (v[id])
      return cli_usage(SUB, "%s given twice", names[id]);
    if (eq) {
      v[id] = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_usage(SUB, "%s needs a value", names[id]);
      v[id] = argv[++i];
    }
  }
  for (int k = 0; k < N; k++)
    if ((allowed & BIT(k)) && k != O_OP && k != O_OPC && k != O_SQN &&
        k != O_AKA && !v[k])
      return cli_usage(SUB, "missing %s", names[k]);
  return 0;
}

static int open_db(const char *path, int create, imsec_hss_store **st) {
  char err[512];
  int rv = imsec_hss_db_open(st, path, create, err, sizeof(err));
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

/* Split --impu "a,b" into the record. */
static int put_impus(const char *list, imsec_hss_sub *s) {
  const char *p = list;
  s->n_impus = 0;
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

static int cmd_add(int argc, char **argv) {
  const char *v[N];
  int rv =
      parse_opts(argc, argv,
                 BIT(O_DB) | BIT(O_IMPI) | BIT(O_IMPU) | BIT(O_K) | BIT(O_OP) |
                     BIT(O_OPC) | BIT(O_AMF) | BIT(O_SQN) | BIT(O_AKA),
                 v);
  if (rv)
    return rv;
  if (v[O_OP] && v[O_OPC])
    return cli_usage(SUB, "give --op or --opc, not both");
  if (!v[O_OP] && !v[O_OPC])
    return cli_usage(SUB, "missing --op or --opc");
  imsec_hss_sub s;
  memset(&s, 0, sizeof(s));
  imsec_hss_store *st = NULL;
  size_t n = strlen(v[O_IMPI]);
  if ((rv = check_chars("--impi", v[O_IMPI], n)) != 0)
    return rv;
  if (n == 0 || n >= sizeof(s.impi))
    return cli_usage(SUB, "--impi: expected a private identity (user@realm)");
  memcpy(s.impi, v[O_IMPI], n + 1);
  if ((rv = put_impus(v[O_IMPU], &s)) != 0)
    goto done;
  if ((rv = cli_hex_exact(SUB, "--k", v[O_K], s.k, 16)) != 0)
    goto done;
  s.op_is_opc = v[O_OPC] != NULL;
  if ((rv = cli_hex_exact(SUB, s.op_is_opc ? "--opc" : "--op",
                          s.op_is_opc ? v[O_OPC] : v[O_OP], s.op, 16)) != 0)
    goto done;
  if ((rv = cli_hex_exact(SUB, "--amf", v[O_AMF], s.amf, 2)) != 0)
    goto done;
  s.aka = IMSEC_HSS_AKAV1;
  if (v[O_AKA] && imsec_hss_aka_parse(imsec_str_c(v[O_AKA]), &s.aka) < 0) {
    rv = cli_usage(SUB, "--aka: expected v1 or v2, got '%s'", v[O_AKA]);
    goto done;
  }
  if (v[O_SQN]) {
    uint8_t sqn[6];
    if ((rv = cli_hex_exact(SUB, "--sqn", v[O_SQN], sqn, 6)) != 0)
      goto done;
    /* The last SQN used: SEQ_HE || IND (Annex C, 5 IND bits); the next
     * vector takes the next IND. */
    uint64_t x = imsec_sqn_to_u64(sqn);
    s.sqn.seq = x >> 5;
    s.sqn.ind_next = (uint32_t)((x + 1) & 31);
  }
  if ((rv = open_db(v[O_DB], 1, &st)) != 0)
    goto done;
  int r = st->vt->add(st, &s);
  if (r == IMSEC_ERR_EXISTS)
    rv = cli_fail(CLI_EXIT_USAGE, SUB,
                  "--impi %s: the IMPI or one of its IMPUs exists already",
                  s.impi);
  else if (r < 0)
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: cannot add %s: %s", v[O_DB],
                  s.impi,
                  r == IMSEC_ERR_BUSY ? "database locked by another process"
                                      : imsec_strerror(r));
  else
    printf("added %s (%zu IMPU%s)\n", s.impi, s.n_impus,
           s.n_impus == 1 ? "" : "s");
done:
  imsec_hss_sub_wipe(&s);
  imsec_hss_store_del(st);
  return rv;
}

static int print_one(void *arg, const imsec_hss_sub *s) {
  (void)arg;
  /* The last SQN used, as `--sqn` takes it. */
  uint64_t last =
      s->sqn.seq ? (s->sqn.seq << 5 | ((s->sqn.ind_next + 31u) & 31u)) : 0;
  uint8_t sqn[6];
  imsec_sqn_from_u64(last, sqn);
  printf("%s impu=", s->impi);
  for (size_t i = 0; i < s->n_impus; i++)
    printf("%s%s", i ? "," : "", s->impus[i]);
  printf(" aka=%s %s amf=%02x%02x sqn=%02x%02x%02x%02x%02x%02x\n",
         imsec_hss_aka_name(s->aka), s->op_is_opc ? "opc" : "op", s->amf[0],
         s->amf[1], sqn[0], sqn[1], sqn[2], sqn[3], sqn[4], sqn[5]);
  return 0;
}

static int cmd_list(int argc, char **argv) {
  const char *v[N];
  int rv = parse_opts(argc, argv, BIT(O_DB), v);
  if (rv)
    return rv;
  imsec_hss_store *st;
  if ((rv = open_db(v[O_DB], 0, &st)) != 0)
    return rv;
  int r = st->vt->list(st, print_one, NULL);
  imsec_hss_store_del(st);
  if (r < 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s: %s", v[O_DB],
                    imsec_strerror(r));
  return 0;
}

static int cmd_del(int argc, char **argv) {
  const char *v[N];
  int rv = parse_opts(argc, argv, BIT(O_DB) | BIT(O_IMPI), v);
  if (rv)
    return rv;
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

static int run(int argc, char **argv) {
  if (argc < 2 || cli_wants_help(2, argv)) {
    if (argc >= 2) {
      fputs(help, stdout);
      return CLI_EXIT_OK;
    }
    return cli_usage(SUB, "missing verb (add, list, del)");
  }
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "add") == 0)
    return cmd_add(argc, argv);
  if (strcmp(argv[1], "list") == 0)
    return cmd_list(argc, argv);
  if (strcmp(argv[1], "del") == 0)
    return cmd_del(argc, argv);
  return cli_usage(SUB, "unknown verb '%s' (add, list, del)", argv[1]);
}

const cli_cmd imsec_cmd_hss = {
    .name = "hss",
    .summary = "manage the HSS subscriber store",
    .run = run,
    .planned = 0,
};
