/*
 * Benchmark: the stores behind the S-CSCF, side by side in one run.
 *  - authentication vectors/s through the HSS (Milenage and the SQN
 *    durability that goes with each vector), round-robin over 100
 *    subscribers, in the steady state (each IMPI's first range reserved
 *    before the clock starts): the in-memory store, then SQLite with the
 *    rollback journal and with WAL, each with one synchronous write per
 *    vector (SQN range 1) and with SQN ranges of 32;
 *  - registration saves/s (one IMPI's record replaced, two bindings):
 *    the in-memory store, SQLite rollback journal, SQLite WAL.
 * Every SQLite commit is synchronous (synchronous=FULL): the figures are
 * what durability costs on this disk. Wall-clock time, one thread;
 * interleaved rounds (3 by default), each case keeps its best.
 *
 *   build/tests/bench/bench_store [seconds-per-case [dir [rounds]]]
 *
 * `dir` (default: the current directory) must be on the disk the stores
 * would use: a tmpfs makes fsync free. Not a test: it prints figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imsec/hss.h"
#include "imsec/regdb.h"
#include "imsec/svc.h"
#include "imsec/crypto_ossl.h"
#include "imsec/hss_db.h"

#define N_SUBS 100

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rv, const char *err) {
  fprintf(stderr, "%s: %s %s\n", what, imsec_strerror(rv), err ? err : "");
  exit(2);
}

static char dir[512];
static double secs = 2.0;
static imsec_crypto *crypto;

static void path_of(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static void rm_db(const char *path) {
  static const char *const sfx[] = {"", "-journal", "-wal", "-shm"};
  for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
    char p[600];
    snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
    unlink(p);
  }
}

static void impi_of(char *out, size_t cap, int i) {
  snprintf(out, cap, "0010100000%05d@ims.mnc001.mcc001.3gppnetwork.org", i);
}

static void add_subs(imsec_hss_store *st) {
  imsec_hss_sub s;
  for (int i = 0; i < N_SUBS; i++) {
    memset(&s, 0, sizeof(s));
    impi_of(s.impi, sizeof(s.impi), i);
    memcpy(s.impus[0], "sip:", 4);
    impi_of(s.impus[0] + 4, sizeof(s.impus[0]) - 4, i);
    s.n_impus = 1;
    for (int k = 0; k < 16; k++) {
      s.k[k] = (uint8_t)(i + k);
      s.op[k] = (uint8_t)(0x5a ^ k);
    }
    s.op_is_opc = 1;
    s.amf[0] = 0x80;
    s.aka = IMSEC_HSS_AKAV1;
    int rv = st->vt->add(st, &s);
    if (rv < 0)
      die("add", rv, NULL);
  }
}

/* Vectors/s over `st` with SQN range `range`, round-robin over the
 * subscribers. */
static double vectors(imsec_hss_store *st, uint32_t range) {
  imsec_hss *h;
  int rv = imsec_hss_new(&h, st, crypto, NULL);
  if (rv < 0 || (rv = imsec_hss_set_sqn_range(h, range, 0)) < 0)
    die("hss", rv, NULL);
  char impi[N_SUBS][IMSEC_HSS_ID_MAX];
  for (int i = 0; i < N_SUBS; i++)
    impi_of(impi[i], sizeof(impi[i]), i);
  /* Untimed: the first vector of each IMPI after a start reserves its
   * first range (a write whatever the range); timed: the steady state. */
  for (int i = 0; i < N_SUBS; i++) {
    imsec_aka_vector v;
    rv = imsec_hss_vector(h, imsec_str_c(impi[i]), &v, NULL);
    if (rv < 0)
      die("vector", rv, NULL);
    imsec_aka_vector_wipe(&v);
  }
  long n = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 64; i++, n++) {
      imsec_aka_vector v;
      rv = imsec_hss_vector(h, imsec_str_c(impi[n % N_SUBS]), &v, NULL);
      if (rv < 0)
        die("vector", rv, NULL);
      imsec_aka_vector_wipe(&v);
    }
    t = now() - t0;
  } while (t < secs);
  imsec_hss_del(h);
  return (double)n / t;
}

static double vectors_db(int wal, uint32_t range) {
  char path[600];
  path_of(path, sizeof(path), "bench_hss.db");
  rm_db(path);
  imsec_hss_store *st;
  char err[300] = "";
  imsec_hss_db_opts o = {.create = 1, .wal = wal};
  int rv = imsec_hss_db_open_opts(&st, path, &o, err, sizeof(err));
  if (rv < 0)
    die("hss db", rv, err);
  add_subs(st);
  double r = vectors(st, range);
  imsec_hss_store_del(st);
  rm_db(path);
  return r;
}

static double vectors_mem(uint32_t range) {
  imsec_hss_store *st;
  int rv = imsec_hss_mem_new(&st);
  if (rv < 0)
    die("hss mem", rv, NULL);
  add_subs(st);
  double r = vectors(st, range);
  imsec_hss_store_del(st);
  return r;
}

/* Registration saves/s: N_SUBS IMPIs, each save replaces one record
 * (two IMPUs, two bindings with Path, instance, peer). */
static double saves(imsec_reg_store *st) {
  char *impus[2] = {(char *)"sip:x@ims.mnc001.mcc001.3gppnetwork.org",
                    (char *)"tel:+15550000"};
  imsec_reg_binding b[2] = {
      {.contact = (char *)"sip:x@192.0.2.10:5061;transport=tls",
       .path = (char *)"<sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr>",
       .instance = (char *)"\"<urn:uuid:00000000-0000-1000-8000-"
                           "000000000001>\"",
       .reg_id = 1,
       .ttl_ms = 600000,
       .peer = (char *)"pcscf.ims.mnc001.mcc001.3gppnetwork.org",
       .order = 1},
      {.contact = (char *)"sip:x@198.51.100.7:5061;transport=tls",
       .path = (char *)"<sip:term@pcscf.ims.mnc001.mcc001.3gppnetwork.org;lr>",
       .reg_id = -1,
       .ttl_ms = 3600000,
       .order = 2}};
  char impi[N_SUBS][IMSEC_HSS_ID_MAX];
  for (int i = 0; i < N_SUBS; i++)
    impi_of(impi[i], sizeof(impi[i]), i);
  imsec_reg_record r = {.impus = impus,
                        .n_impus = 2,
                        .service_route =
                            (char *)"<sip:orig@scscf.ims.mnc001.mcc001."
                                    "3gppnetwork.org;lr>",
                        .b = b,
                        .n = 2};
  long n = 0;
  double t0 = now(), t;
  int64_t wall = INT64_C(1780000000000);
  do {
    for (int i = 0; i < 16; i++, n++) {
      r.impi = impi[n % N_SUBS];
      int rv = st->vt->save(st, &r, wall + n);
      if (rv < 0)
        die("save", rv, NULL);
    }
    t = now() - t0;
  } while (t < secs);
  return (double)n / t;
}

static double saves_db(int wal) {
  char path[600];
  path_of(path, sizeof(path), "bench_reg.db");
  rm_db(path);
  imsec_reg_store *st;
  char err[300] = "";
  imsec_hss_db_opts o = {.create = 1, .wal = wal};
  int rv = imsec_reg_db_open(&st, path, &o, err, sizeof(err));
  if (rv < 0)
    die("reg db", rv, err);
  double r = saves(st);
  imsec_reg_store_del(st);
  rm_db(path);
  return r;
}

static double saves_mem(void) {
  imsec_reg_store *st;
  int rv = imsec_reg_mem_new(&st);
  if (rv < 0)
    die("reg mem", rv, NULL);
  double r = saves(st);
  imsec_reg_store_del(st);
  return r;
}

typedef struct bcase {
  const char *group, *name;
  int kind; /* 0 vectors memory, 1 vectors SQLite, 2 saves memory,
               3 saves SQLite */
  int wal;
  uint32_t range;
  double best;
} bcase;

static double run_case(const bcase *c) {
  switch (c->kind) {
  case 0:
    return vectors_mem(c->range);
  case 1:
    return vectors_db(c->wal, c->range);
  case 2:
    return saves_mem();
  default:
    return saves_db(c->wal);
  }
}

int main(int argc, char **argv) {
  if (argc > 1)
    secs = atof(argv[1]);
  if (secs <= 0)
    secs = 1.0;
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  if (rounds < 1)
    rounds = 1;
  snprintf(dir, sizeof(dir), "%s", argc > 2 ? argv[2] : ".");
  int rv = imsec_crypto_ossl_new(&crypto);
  if (rv < 0)
    die("crypto", rv, NULL);
  static const char *const gv = "authentication vectors",
                           *const gs = "registration saves (2 bindings)";
  bcase cases[] = {
      {gv, "memory store, SQN range 1", 0, 0, 1, 0},
      {gv, "memory store, SQN range 32", 0, 0, 32, 0},
      {gv, "SQLite rollback journal, SQN range 1", 1, 0, 1, 0},
      {gv, "SQLite WAL, SQN range 1", 1, 1, 1, 0},
      {gv, "SQLite rollback journal, SQN range 32", 1, 0, 32, 0},
      {gv, "SQLite WAL, SQN range 32", 1, 1, 32, 0},
      {gs, "memory store", 2, 0, 0, 0},
      {gs, "SQLite rollback journal", 3, 0, 0, 0},
      {gs, "SQLite WAL", 3, 1, 0, 0},
  };
  size_t n = sizeof(cases) / sizeof(cases[0]);
  /* Interleaved rounds, each case keeps its best: the disk is shared,
   * and a burst of someone else's writes should not decide a figure. */
  for (int r = 0; r < rounds; r++)
    for (size_t i = 0; i < n; i++) {
      double v = run_case(&cases[i]);
      if (v > cases[i].best)
        cases[i].best = v;
    }
  printf("imsec store benchmark: best of %d rounds of %.1f s per case, "
         "files in %s, synchronous=FULL\n",
         rounds, secs, dir);
  const char *group = NULL;
  for (size_t i = 0; i < n; i++) {
    if (group != cases[i].group) {
      group = cases[i].group;
      printf("\n%-44s %12s\n", group, "per second");
    }
    printf("%-44s %12.0f\n", cases[i].name, cases[i].best);
  }
  imsec_crypto_del(crypto);
  return 0;
}
