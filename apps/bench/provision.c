/*
 * apps/bench/provision.c: `imsec bench provision`: N subscribers into an
 * HSS database and their UE credentials into one bench credentials file
 * (creds.h). Identities follow TS 23.003: IMSI = MCC MNC MSIN (15
 * digits, §2.2), IMPI = IMSI@domain (§13.3), IMPU = sip:IMSI@domain
 * (§13.4B), domain ims.mncMNC.mccMCC.3gppnetwork.org (§13.2).
 */
#include "provision.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "creds.h"
#include "imsec/base.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/ident.h"

#define SUB "bench provision"
/* Subscribers per transaction: one synchronous commit per batch keeps
 * 100,000 subscribers to a few seconds (one per row would take minutes
 * with synchronous=FULL). */
#define BATCH 10000
#define N_MAX 10000000ul

const char bench_provision_help[] =
    "usage: imsec bench provision --db HSS.db --out CREDS -n N\n"
    "                             [--scheme aka|digest] [--domain D]\n"
    "                             [--first-imsi IMSI] [--mcc MCC] [--mnc MNC]\n"
    "\n"
    "Write N subscribers with fresh random credentials into the HSS\n"
    "database (created 0600 if missing) and the matching UE credentials into\n"
    "CREDS (mode 0600; the bench credentials file, docs/BENCH.md).\n"
    "IMSIs count up from --first-imsi (default MCC MNC 0...01, 15 digits);\n"
    "IMPI IMSI@D, IMPU sip:IMSI@D; D defaults to\n"
    "ims.mncMNC.mccMCC.3gppnetwork.org (MCC 001, MNC 01).\n"
    "aka: K and OPc random, AMF 8000, SQN 0, AKAv1. digest: a random\n"
    "password (24 characters), realm D; the HSS keeps only H(A1).\n";

typedef struct prov {
  const char *db, *out, *domain, *first, *mcc, *mnc;
  unsigned long n;
  imsec_hss_scheme scheme;
} prov;

static int all_digits(const char *s, size_t lo, size_t hi) {
  size_t n = strlen(s);
  if (n < lo || n > hi)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int parse(int argc, char **argv, prov *p) {
  memset(p, 0, sizeof *p);
  p->scheme = IMSEC_HSS_SCHEME_AKA;
  p->mcc = "001";
  p->mnc = "01";
  const char *n = NULL, *scheme = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "--db"))
      slot = &p->db;
    else if (!strcmp(a, "--out"))
      slot = &p->out;
    else if (!strcmp(a, "-n"))
      slot = &n;
    else if (!strcmp(a, "--scheme"))
      slot = &scheme;
    else if (!strcmp(a, "--domain"))
      slot = &p->domain;
    else if (!strcmp(a, "--first-imsi"))
      slot = &p->first;
    else if (!strcmp(a, "--mcc"))
      slot = &p->mcc;
    else if (!strcmp(a, "--mnc"))
      slot = &p->mnc;
    else
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *slot = argv[++i];
  }
  if (!p->db || !p->out || !n)
    return cli_usage(SUB, "--db, --out and -n are required");
  char *e;
  errno = 0;
  p->n = strtoul(n, &e, 10);
  if (!all_digits(n, 1, 8) || *e || p->n == 0 || p->n > N_MAX)
    return cli_usage(SUB, "-n: want 1..%lu", N_MAX);
  if (scheme && imsec_hss_scheme_parse(imsec_str_c(scheme), &p->scheme) != 0)
    return cli_usage(SUB, "--scheme: want aka or digest");
  if (!all_digits(p->mcc, 3, 3))
    return cli_usage(SUB, "--mcc: want 3 digits (TS 23.003 §2.2)");
  if (!all_digits(p->mnc, 2, 3))
    return cli_usage(SUB, "--mnc: want 2 or 3 digits (TS 23.003 §2.2)");
  if (p->first && !all_digits(p->first, 6, 15))
    return cli_usage(SUB, "--first-imsi: want 6 to 15 digits (TS 23.003 §2.2)");
  return 0;
}

/* The IMSI of subscriber i: `first` + i in as many digits as `first`. */
static int imsi_of(const char *first, unsigned long i, char *out, size_t cap) {
  size_t w = strlen(first);
  unsigned long long v = strtoull(first, NULL, 10) + i;
  int n = snprintf(out, cap, "%0*llu", (int)w, v);
  return n > 0 && (size_t)n == w ? 0 : -1;
}

/* The out file grows through a fixed buffer that is wiped afterwards:
 * stdio's own buffer would keep K and OPc in freed memory. */
typedef struct outbuf {
  int fd;
  size_t len;
  int failed;
  char b[1 << 16];
} outbuf;

static void out_flush(outbuf *o) {
  size_t off = 0;
  while (off < o->len && !o->failed) {
    ssize_t w = write(o->fd, o->b + off, o->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      o->failed = 1;
    else
      off += (size_t)w;
  }
  imsec_wipe(o->b, o->len);
  o->len = 0;
}

static void out_line(outbuf *o, const char *line, size_t n) {
  if (o->len + n > sizeof o->b)
    out_flush(o);
  memcpy(o->b + o->len, line, n);
  o->len += n;
}

static int db_err(const prov *p, int r, unsigned long done) {
  return cli_fail(CLI_EXIT_USAGE, SUB,
                  "--db %s: %s (%lu subscribers were committed before this "
                  "batch; --out removed)",
                  p->db,
                  r == IMSEC_ERR_EXISTS ? "an IMPI or IMPU exists already"
                  : r == IMSEC_ERR_BUSY ? "database locked by another process"
                                        : imsec_strerror(r),
                  done);
}

/* One subscriber: its HSS record into `s` and its credentials line into
 * `line`. Returns the line length, or -1. */
static int make_one(const prov *p, imsec_crypto *cr, const char *domain,
                    const char *imsi, imsec_hss_sub *s, char *line,
                    size_t cap) {
  memset(s, 0, sizeof *s);
  if (snprintf(s->impi, sizeof s->impi, "%s@%s", imsi, domain) >=
          (int)sizeof s->impi ||
      snprintf(s->impus[0], sizeof s->impus[0], "sip:%s@%s", imsi, domain) >=
          (int)sizeof s->impus[0])
    return -1;
  s->n_impus = 1;
  int n;
  if (p->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    /* As `imsec isim new --digest`: 18 random octets in base64. */
    uint8_t raw[18];
    char pw[32];
    int ok = imsec_random(cr, raw, sizeof raw) == 0 &&
             imsec_base64_encode(raw, sizeof raw, pw, sizeof pw) == 24 &&
             imsec_hss_digest_set(s, cr, imsec_str_c(domain),
                                  (imsec_bytes){(const uint8_t *)pw, 24}) == 0;
    n = ok ? snprintf(line, cap, "%s %s %s\n", s->impi, s->impus[0], pw) : -1;
    imsec_wipe(raw, sizeof raw);
    imsec_wipe(pw, sizeof pw);
  } else {
    char kh[33], oh[33];
    s->scheme = IMSEC_HSS_SCHEME_AKA;
    s->aka = IMSEC_HSS_AKAV1;
    s->op_is_opc = 1;
    s->amf[0] = 0x80;
    int ok = imsec_random(cr, s->k, sizeof s->k) == 0 &&
             imsec_random(cr, s->op, sizeof s->op) == 0 &&
             imsec_hex_encode(s->k, 16, kh, sizeof kh) == 32 &&
             imsec_hex_encode(s->op, 16, oh, sizeof oh) == 32;
    n = ok ? snprintf(line, cap, "%s %s %s %s 000000000000\n", s->impi,
                      s->impus[0], kh, oh)
           : -1;
    imsec_wipe(kh, sizeof kh);
    imsec_wipe(oh, sizeof oh);
  }
  return n > 0 && (size_t)n < cap ? n : -1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int bench_provision(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(bench_provision_help, stdout);
    return CLI_EXIT_OK;
  }
  prov p;
  int rv = parse(argc, argv, &p);
  if (rv != 0)
    return rv;
  char domain[IMSEC_HSS_ID_MAX], first[16];
  if (p.domain) {
    if (!p.domain[0] || strlen(p.domain) > 200 ||
        imsec_ident_bad_char(imsec_str_c(p.domain)) >= 0)
      return cli_usage(SUB, "--domain: want a host name");
    snprintf(domain, sizeof domain, "%s", p.domain);
  } else {
    /* TS 23.003 §13.2: a 2-digit MNC gets a leading zero. */
    snprintf(domain, sizeof domain, "ims.mnc%s%s.mcc%s.3gppnetwork.org",
             strlen(p.mnc) == 2 ? "0" : "", p.mnc, p.mcc);
  }
  if (p.first)
    snprintf(first, sizeof first, "%s", p.first);
  else
    snprintf(first, sizeof first, "%s%s%0*d", p.mcc, p.mnc,
             (int)(15 - strlen(p.mcc) - strlen(p.mnc)), 1);
  char last[32];
  if (imsi_of(first, p.n - 1, last, sizeof last) != 0)
    return cli_usage(SUB, "--first-imsi %s + %lu runs out of digits", first,
                     p.n);

  imsec_crypto *cr = NULL;
  if (imsec_crypto_ossl_new(&cr) != 0)
    return cli_fail(CLI_EXIT_USAGE, SUB, "cannot start the crypto backend");
  imsec_hss_store *st = NULL;
  char err[512];
  rv = imsec_hss_db_open(&st, p.db, 1, err, sizeof err);
  if (rv < 0) {
    imsec_crypto_del(cr);
    return cli_fail(CLI_EXIT_USAGE, SUB, "--db %s", err);
  }
  outbuf *o = calloc(1, sizeof *o);
  if (!o) {
    imsec_hss_store_del(st);
    imsec_crypto_del(cr);
    return cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
  }
  o->fd =
      open(p.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  /* An existing file keeps its mode through O_TRUNC: make it 0600 before
   * a secret goes in. */
  if (o->fd < 0 || fchmod(o->fd, 0600) != 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--out %s: %s", p.out, strerror(errno));
    if (o->fd >= 0)
      close(o->fd);
    free(o);
    imsec_hss_store_del(st);
    imsec_crypto_del(cr);
    return rv;
  }

  double t0 = now_s();
  char line[BENCH_CREDS_LINE_MAX];
  int n = snprintf(line, sizeof line, "%s %d scheme=%s domain=%s\n",
                   BENCH_CREDS_MAGIC, BENCH_CREDS_VERSION,
                   imsec_hss_scheme_name(p.scheme), domain);
  out_line(o, line, (size_t)n);
  imsec_hss_sub *s = malloc(sizeof *s);
  unsigned long done = 0;
  rv = s ? 0 : IMSEC_ERR_NOMEM;
  for (unsigned long i = 0; i < p.n && rv == 0;) {
    unsigned long end = i + BATCH < p.n ? i + BATCH : p.n;
    if ((rv = st->vt->batch(st, IMSEC_STORE_BEGIN)) != 0)
      break;
    for (; i < end && rv == 0; i++) {
      char imsi[32];
      if (imsi_of(first, i, imsi, sizeof imsi) != 0 ||
          (n = make_one(&p, cr, domain, imsi, s, line, sizeof line)) < 0)
        rv = IMSEC_ERR_CRYPTO;
      else
        rv = st->vt->add(st, s);
      if (rv == 0)
        out_line(o, line, (size_t)n);
      imsec_hss_sub_wipe(s);
      imsec_wipe(line, sizeof line);
    }
    if (rv == 0)
      rv = st->vt->batch(st, IMSEC_STORE_COMMIT);
    else
      (void)st->vt->batch(st, IMSEC_STORE_ROLLBACK);
    if (rv == 0)
      done = end;
  }
  free(s);
  if (rv == 0)
    out_flush(o);
  int wfail = o->failed || fsync(o->fd) != 0;
  wfail |= close(o->fd) != 0;
  imsec_wipe(o->b, sizeof o->b);
  free(o);
  imsec_hss_store_del(st);
  imsec_crypto_del(cr);
  if (rv != 0) {
    unlink(p.out);
    return db_err(&p, rv, done);
  }
  if (wfail) {
    unlink(p.out);
    return cli_fail(CLI_EXIT_USAGE, SUB,
                    "--out %s: write failed (%lu subscribers are in --db)",
                    p.out, done);
  }
  double dt = now_s() - t0;
  printf("provisioned %lu %s subscribers %s..%s@%s in %.2f s (%.0f/s)\n", p.n,
         imsec_hss_scheme_name(p.scheme), first, last, domain, dt,
         dt > 0 ? (double)p.n / dt : 0.0);
  return CLI_EXIT_OK;
}
