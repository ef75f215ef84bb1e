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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "creds.h"
#include "hss_open.h"
#include "imsec/base.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/ident.h"
#include "imsec/pki.h"
#include "imsec/psk_file.h"
#include "imsec/x509.h"

#define SUB "bench provision"
/* Subscribers per transaction: one synchronous commit per batch keeps
 * 100,000 subscribers to a few seconds (one per row would take minutes
 * with synchronous=FULL). */
#define BATCH 10000

/* Group commit when the store has it (SQLite); a store without it
 * (PostgreSQL) commits each subscriber on its own. */
static int batch(imsec_hss_store *st, imsec_store_batch_op op) {
  return st->vt->batch ? st->vt->batch(st, op) : 0;
}
#define N_MAX 10000000ul
/* The configured PSK of mode M3: 32 random octets (256 bits, twice what
 * RFC 9257 §4 asks of an external PSK). */
#define PSK_LEN 32
/* UE certificates made when --ue-certs-max is not given: a key pair, a
 * signature and a file each, and a generator only loads the ones of the
 * UEs it uses. */
#define CERTS_DEFAULT 1000ul

const char bench_provision_help[] =
    "usage: imsec bench provision --db HSS.db --out CREDS -n N\n"
    "                             [--scheme aka|digest] [--domain D]\n"
    "                             [--first-imsi IMSI] [--mcc MCC] [--mnc MNC]\n"
    "                             [--psk] [--psk-out PSKFILE]\n"
    "                             [--ue-certs DIR --ue-ca CERT --ue-ca-key "
    "KEY\n"
    "                              [--ue-certs-max M]]\n"
    "\n"
    "Write N subscribers with fresh random credentials into the HSS\n"
    "database (created 0600 if missing) and the matching UE credentials into\n"
    "CREDS (mode 0600; the bench credentials file, docs/BENCH.md).\n"
    "IMSIs count up from --first-imsi (default MCC MNC 0...01, 15 digits);\n"
    "IMPI IMSI@D, IMPU sip:IMSI@D; D defaults to\n"
    "ims.mncMNC.mccMCC.3gppnetwork.org (MCC 001, MNC 01).\n"
    "aka: K and OPc random, AMF 8000, SQN 0, AKAv1. digest: a random\n"
    "password (24 characters), realm D; the HSS keeps only H(A1).\n"
    "\n"
    "  --psk              mode M3: a random 32-octet PSK per UE (identity the\n"
    "                     IMPI) as psk= in CREDS\n"
    "  --psk-out PSKFILE  the same PSKs as the P-CSCF's --psk-file (mode\n"
    "                     0600; implies --psk; at most 4096 UEs)\n"
    "  --ue-certs DIR     mode M2a: a key and certificate per UE (SAN "
    "sip:IMPI,\n"
    "                     EKU clientAuth, valid a year) issued by --ue-ca "
    "with\n"
    "                     --ue-ca-key (an operator CA of `imsec pki`), "
    "written\n"
    "                     with the chain and key as DIR/ue-IMPI.pem (0600) "
    "and\n"
    "                     named by cert= in CREDS; the P-CSCF trusts them "
    "with\n"
    "                     --client-cert require --ue-ca CERT\n"
    "  --ue-certs-max M   certificates for the first M UEs only (default\n"
    "                     1000; the others connect without one)\n";

typedef struct prov {
  const char *db, *out, *domain, *first, *mcc, *mnc;
  const char *psk_out, *ue_certs, *ue_ca, *ue_ca_key;
  unsigned long n, certs_max;
  int psk;
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

/* A count option: 1..N_MAX in decimal. */
static int count_arg(const char *v, unsigned long *out) {
  char *e;
  errno = 0;
  *out = strtoul(v, &e, 10);
  return all_digits(v, 1, 8) && !*e && *out > 0 && *out <= N_MAX;
}

static int parse(int argc, char **argv, prov *p) {
  memset(p, 0, sizeof *p);
  p->scheme = IMSEC_HSS_SCHEME_AKA;
  p->mcc = "001";
  p->mnc = "01";
  const char *n = NULL, *scheme = NULL, *certs_max = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "--psk")) {
      p->psk = 1;
      continue;
    }
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
    else if (!strcmp(a, "--psk-out"))
      slot = &p->psk_out;
    else if (!strcmp(a, "--ue-certs"))
      slot = &p->ue_certs;
    else if (!strcmp(a, "--ue-ca"))
      slot = &p->ue_ca;
    else if (!strcmp(a, "--ue-ca-key"))
      slot = &p->ue_ca_key;
    else if (!strcmp(a, "--ue-certs-max"))
      slot = &certs_max;
    else
      return cli_usage(SUB, "unknown option '%s'", a);
    if (i + 1 >= argc)
      return cli_usage(SUB, "%s needs a value", a);
    *slot = argv[++i];
  }
  if (!p->db || !p->out || !n)
    return cli_usage(SUB, "--db, --out and -n are required");
  if (!count_arg(n, &p->n))
    return cli_usage(SUB, "-n: want 1..%lu", N_MAX);
  if (scheme && imsec_hss_scheme_parse(imsec_str_c(scheme), &p->scheme) != 0)
    return cli_usage(SUB, "--scheme: want aka or digest");
  if (!all_digits(p->mcc, 3, 3))
    return cli_usage(SUB, "--mcc: want 3 digits (TS 23.003 §2.2)");
  if (!all_digits(p->mnc, 2, 3))
    return cli_usage(SUB, "--mnc: want 2 or 3 digits (TS 23.003 §2.2)");
  if (p->first && !all_digits(p->first, 6, 15))
    return cli_usage(SUB, "--first-imsi: want 6 to 15 digits (TS 23.003 §2.2)");
  if (p->psk_out) {
    p->psk = 1;
    if (!p->psk_out[0])
      return cli_usage(SUB, "--psk-out needs a file name");
    /* The P-CSCF refuses a longer --psk-file: better said now than when
     * it starts. */
    if (p->n > IMSEC_PSK_FILE_MAX)
      return cli_usage(SUB,
                       "--psk-out: the P-CSCF reads at most %d PSKs from "
                       "--psk-file; use -n %d or less (or --psk alone)",
                       IMSEC_PSK_FILE_MAX, IMSEC_PSK_FILE_MAX);
  }
  if (p->ue_certs) {
    if (!p->ue_certs[0])
      return cli_usage(SUB, "--ue-certs needs a directory");
    if (!p->ue_ca || !p->ue_ca_key)
      return cli_usage(SUB, "--ue-certs needs --ue-ca and --ue-ca-key (the "
                            "issuing CA's certificate and key)");
    p->certs_max = CERTS_DEFAULT;
    if (certs_max && !count_arg(certs_max, &p->certs_max))
      return cli_usage(SUB, "--ue-certs-max: want 1..%lu", N_MAX);
    if (p->certs_max > p->n)
      p->certs_max = p->n;
  } else if (p->ue_ca || p->ue_ca_key || certs_max) {
    return cli_usage(SUB, "--ue-ca, --ue-ca-key and --ue-certs-max go with "
                          "--ue-certs DIR");
  }
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

/* Create (or truncate) a secrets file, 0600 before anything goes in: an
 * existing file keeps its mode through O_TRUNC. -1 with errno. */
static int open_secret(const char *path) {
  int fd =
      open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0 && fchmod(fd, 0600) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Append the optional fields (creds.h) to the UE line `line` of `n`
 * octets, LF included: psk= when `psk_len`, cert= when `cert`. Returns
 * the new length, or -1 when it does not fit. */
static int add_opts(char *line, int n, size_t cap, const uint8_t *psk,
                    size_t psk_len, const char *cert) {
  if (n <= 0 || line[n - 1] != '\n')
    return -1;
  n--; /* the LF goes back at the end */
  if (psk_len) {
    if ((size_t)n + 5 + 2 * psk_len + 1 > cap)
      return -1;
    memcpy(line + n, " psk=", 5);
    n += 5;
    if (imsec_hex_encode(psk, psk_len, line + n, cap - (size_t)n) !=
        (int)(2 * psk_len))
      return -1;
    n += (int)(2 * psk_len);
  }
  if (cert) {
    int m = snprintf(line + n, cap - (size_t)n, " cert=%s", cert);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
      return -1;
    n += m;
  }
  if ((size_t)n + 1 >= cap)
    return -1;
  line[n++] = '\n';
  line[n] = '\0';
  return n;
}

/* Read all of the small file `path` into buf; its length, or -1. */
static long read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 || (r == 0 && got == 0) || got + (size_t)r == cap) {
      close(fd);
      return -1;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  return (long)got;
}

/* Where a UE certificate is being made: the issuing CA, the directory
 * (absolute) and two scratch files in it. */
typedef struct certs {
  imsec_pki_cred *ca;
  char dir[PATH_MAX];
  char tmp_key[PATH_MAX + 32], tmp_crt[PATH_MAX + 32];
  unsigned long made;
  /* Certificates of a P-256 chain and a PKCS#8 key: a few KiB. */
  char buf[32768];
} certs;

/* Issue the UE `impi`'s certificate as `imsec pki ue` does (TS 33.310
 * §6.1.3a/b: SAN URI sip:IMPI, EKU clientAuth, under the operator CA) and
 * write DIR/ue-IMPI.pem, 0600: leaf, CA, then the key, the one file a
 * TLS context loads as certificate chain and key. Its path into `path`.
 * Returns 0 or an IMSEC_ERR_. */
static int ue_cert(certs *c, const char *impi, const char *domain, int64_t now,
                   char *path, size_t cap) {
  char uri[IMSEC_HSS_ID_MAX + 8];
  snprintf(uri, sizeof uri, "sip:%s", impi);
  const char *uris[] = {uri};
  imsec_pki_spec spec = {.key = IMSEC_PKI_KEY_EC_P256,
                         .cn = impi,
                         .org = domain,
                         .uris = uris,
                         .n_uris = 1,
                         .client_auth = 1,
                         .not_before = now - 3600,
                         .not_after = now + 365 * 86400};
  int n = snprintf(path, cap, "%s/ue-%s.pem", c->dir, impi);
  if (n < 0 || (size_t)n >= cap)
    return IMSEC_ERR_LIMIT;
  imsec_pki_cred *leaf = NULL;
  int rv = imsec_pki_issue(&spec, c->ca, &leaf);
  if (rv < 0)
    return rv;
  const imsec_pki_cred *chain[] = {leaf, c->ca};
  rv = imsec_pki_write_certs(c->tmp_crt, chain, 2, 1);
  if (rv == 0)
    rv = imsec_pki_write_key(leaf, c->tmp_key, 1);
  imsec_pki_cred_del(leaf);
  char *buf = c->buf;
  long lc = rv == 0 ? read_small(c->tmp_crt, buf, sizeof c->buf / 2) : -1;
  long lk = lc > 0 ? read_small(c->tmp_key, buf + lc, sizeof c->buf / 2) : -1;
  unlink(c->tmp_key);
  unlink(c->tmp_crt);
  if (rv == 0 && lk <= 0)
    rv = IMSEC_ERR_IO;
  if (rv == 0) {
    int fd = open_secret(path);
    size_t len = (size_t)(lc + lk), off = 0;
    if (fd < 0)
      rv = IMSEC_ERR_IO;
    while (rv == 0 && off < len) {
      ssize_t w = write(fd, buf + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        rv = IMSEC_ERR_IO;
      else
        off += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0)
      rv = IMSEC_ERR_IO;
  }
  imsec_wipe(c->buf, sizeof c->buf);
  if (rv == 0)
    c->made++;
  return rv;
}

/* Load the issuing CA and make the directory (0700: the keys are in
 * it). Returns 0, or a CLI exit code after one line. */
static int certs_open(const prov *p, certs *c) {
  memset(c, 0, sizeof *c);
  int rv = imsec_pki_cred_load(p->ue_ca, p->ue_ca_key, &c->ca);
  if (rv == IMSEC_ERR_PERM)
    return cli_usage(SUB,
                     "--ue-ca-key %s is readable by group or others; "
                     "chmod 600 it",
                     p->ue_ca_key);
  if (rv < 0)
    return cli_usage(SUB, "cannot load --ue-ca %s with --ue-ca-key %s: %s",
                     p->ue_ca, p->ue_ca_key, imsec_strerror(rv));
  if (mkdir(p->ue_certs, 0700) != 0 && errno != EEXIST) {
    rv = cli_usage(SUB, "--ue-certs %s: %s", p->ue_certs, strerror(errno));
  } else if (!realpath(p->ue_certs, c->dir)) {
    rv = cli_usage(SUB, "--ue-certs %s: %s", p->ue_certs, strerror(errno));
  } else {
    snprintf(c->tmp_key, sizeof c->tmp_key, "%s/.provision-key.tmp", c->dir);
    snprintf(c->tmp_crt, sizeof c->tmp_crt, "%s/.provision-crt.tmp", c->dir);
    return 0;
  }
  imsec_pki_cred_del(c->ca);
  c->ca = NULL;
  return rv;
}

/* Flush, fsync and close `o` (NULL fine); nonzero when any of it failed.
 * The buffer is wiped and freed. */
static int out_close(outbuf *o, int flush) {
  if (!o)
    return 0;
  if (flush)
    out_flush(o);
  int bad = o->failed || fsync(o->fd) != 0;
  bad |= close(o->fd) != 0;
  imsec_wipe(o->b, sizeof o->b);
  free(o);
  return bad;
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

  certs *ct = NULL;
  if (p.ue_certs) {
    /* An operator CA of `imsec pki` is named after its operator domain
     * and name-constrained to it (RFC 5280 §4.2.1.10): certificates for
     * UEs of another domain would all be refused at the handshake. */
    char cn[IMSEC_HSS_ID_MAX];
    if (imsec_x509_file_subject_cn(p.ue_ca, cn, sizeof cn) > 0 &&
        imsec_dns_name_valid(imsec_str_c(cn)) &&
        !imsec_dns_name_within(imsec_str_c(domain), imsec_str_c(cn)))
      return cli_usage(SUB,
                       "--ue-ca %s is the CA of %s: it cannot certify UEs of "
                       "%s (give --domain inside it, or --mcc/--mnc)",
                       p.ue_ca, cn, domain);
    ct = malloc(sizeof *ct);
    if (!ct)
      return cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    if ((rv = certs_open(&p, ct)) != 0) {
      free(ct);
      return rv;
    }
  }
  imsec_crypto *cr = NULL;
  imsec_hss_store *st = NULL;
  outbuf *o = NULL, *po = NULL;
  char err[512];
  if (imsec_crypto_ossl_new(&cr) != 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "cannot start the crypto backend");
    goto done;
  }
  rv = hss_open_cli(&st, p.db, 1, err, sizeof err);
  if (rv < 0) {
    st = NULL;
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--db %s", err);
    goto done;
  }
  o = calloc(1, sizeof *o);
  po = p.psk_out ? calloc(1, sizeof *po) : NULL;
  if (!o || (p.psk_out && !po)) {
    free(o);
    free(po);
    o = po = NULL;
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "out of memory");
    goto done;
  }
  if ((o->fd = open_secret(p.out)) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--out %s: %s", p.out, strerror(errno));
    free(o);
    free(po);
    o = po = NULL;
    goto done;
  }
  if (po && (po->fd = open_secret(p.psk_out)) < 0) {
    rv = cli_fail(CLI_EXIT_USAGE, SUB, "--psk-out %s: %s", p.psk_out,
                  strerror(errno));
    free(po);
    po = NULL;
    (void)out_close(o, 0);
    o = NULL;
    unlink(p.out);
    goto done;
  }

  double t0 = now_s();
  int64_t now = (int64_t)time(NULL);
  char line[BENCH_CREDS_LINE_MAX];
  int n = snprintf(line, sizeof line, "%s %d scheme=%s domain=%s\n",
                   BENCH_CREDS_MAGIC, BENCH_CREDS_VERSION,
                   imsec_hss_scheme_name(p.scheme), domain);
  out_line(o, line, (size_t)n);
  if (po) {
    /* include/imsec/psk_file.h: '#' starts a comment. */
    n = snprintf(line, sizeof line,
                 "# configured PSKs (mode M3) of %lu bench UEs of %s, "
                 "IDENTITY HEXKEY\n",
                 p.n, domain);
    out_line(po, line, (size_t)n);
  }
  imsec_hss_sub *s = malloc(sizeof *s);
  unsigned long done = 0;
  int cert_rv = 0;
  rv = s ? 0 : IMSEC_ERR_NOMEM;
  for (unsigned long i = 0; i < p.n && rv == 0;) {
    unsigned long end = i + BATCH < p.n ? i + BATCH : p.n;
    if ((rv = batch(st, IMSEC_STORE_BEGIN)) != 0)
      break;
    for (; i < end && rv == 0; i++) {
      char imsi[32], cert[PATH_MAX + IMSEC_HSS_ID_MAX + 8];
      uint8_t psk[PSK_LEN];
      size_t psk_len = p.psk ? PSK_LEN : 0;
      const char *certp = NULL;
      if (imsi_of(first, i, imsi, sizeof imsi) != 0 ||
          (n = make_one(&p, cr, domain, imsi, s, line, sizeof line)) < 0 ||
          (psk_len && imsec_random(cr, psk, psk_len) != 0))
        rv = IMSEC_ERR_CRYPTO;
      if (rv == 0 && ct && i < p.certs_max) {
        rv = cert_rv = ue_cert(ct, s->impi, domain, now, cert, sizeof cert);
        certp = cert;
      }
      if (rv == 0 &&
          (n = add_opts(line, n, sizeof line, psk, psk_len, certp)) < 0)
        rv = cert_rv = IMSEC_ERR_LIMIT;
      if (rv == 0)
        rv = st->vt->add(st, s);
      if (rv == 0) {
        out_line(o, line, (size_t)n);
        if (po) {
          char hex[2 * PSK_LEN + 1];
          n = snprintf(line, sizeof line, "%s ", s->impi);
          if (imsec_hex_encode(psk, psk_len, hex, sizeof hex) != 2 * PSK_LEN)
            rv = IMSEC_ERR_CRYPTO;
          else
            n += snprintf(line + n, sizeof line - (size_t)n, "%s\n", hex);
          if (rv == 0)
            out_line(po, line, (size_t)n);
          imsec_wipe(hex, sizeof hex);
        }
      }
      imsec_hss_sub_wipe(s);
      imsec_wipe(psk, sizeof psk);
      imsec_wipe(line, sizeof line);
    }
    if (rv == 0)
      rv = batch(st, IMSEC_STORE_COMMIT);
    else
      (void)batch(st, IMSEC_STORE_ROLLBACK);
    if (rv == 0)
      done = end;
  }
  free(s);
  int wfail = out_close(o, rv == 0);
  int pfail = out_close(po, rv == 0);
  o = po = NULL;
  if (rv != 0) {
    unlink(p.out);
    if (p.psk_out)
      unlink(p.psk_out);
    if (cert_rv != 0)
      rv = cli_fail(CLI_EXIT_USAGE, SUB,
                    "--ue-certs %s: cannot make a UE certificate: %s (%lu "
                    "subscribers were committed before this batch; --out "
                    "removed)",
                    ct->dir, imsec_strerror(cert_rv), done);
    else
      rv = db_err(&p, rv, done);
    goto done;
  }
  if (wfail || pfail) {
    unlink(p.out);
    if (p.psk_out)
      unlink(p.psk_out);
    rv = cli_fail(CLI_EXIT_USAGE, SUB,
                  "%s %s: write failed (%lu subscribers are in --db)",
                  wfail ? "--out" : "--psk-out", wfail ? p.out : p.psk_out,
                  done);
    goto done;
  }
  double dt = now_s() - t0;
  printf("provisioned %lu %s subscribers %s..%s@%s in %.2f s (%.0f/s)\n", p.n,
         imsec_hss_scheme_name(p.scheme), first, last, domain, dt,
         dt > 0 ? (double)p.n / dt : 0.0);
  if (p.psk)
    printf("psk: a configured PSK for each UE%s%s\n",
           p.psk_out ? ", P-CSCF --psk-file " : "", p.psk_out ? p.psk_out : "");
  if (ct)
    printf("ue-certs: %lu UE certificates in %s (P-CSCF: --client-cert "
           "require --ue-ca ROOT --ue-ca %s)\n",
           ct->made, ct->dir, p.ue_ca);
  rv = CLI_EXIT_OK;
done:
  if (ct) {
    imsec_pki_cred_del(ct->ca);
    free(ct);
  }
  imsec_hss_store_del(st);
  imsec_crypto_del(cr);
  return rv;
}
