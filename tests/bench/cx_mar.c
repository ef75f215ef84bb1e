/*
 * Benchmark: IMS AKA vectors/s as an S-CSCF gets them, in one run:
 *  - embedded: the S-CSCF's own HSS, a worker thread over the embedded
 *    service over SQLite (WAL, SQN range 32), as `imsec scscf --db`;
 *  - Diameter Cx: MAR/MAA through the Cx client (store/cx_client.c) to
 *    `imsec hss serve` on loopback over the same file, as `imsec scscf
 *    --hss diameter:`. The HSS's CPU per MAR is read from /proc.
 * Each keeps `window` requests in flight (the S-CSCF's parked REGISTERs),
 * round-robin over 100 subscribers; interleaving is impossible (one
 * freeDiameter core per process, and the HSS file is the server's while
 * it runs), so each case runs `rounds` times in turn and keeps its best.
 *
 *   IMSEC=build/imsec build-bench/tests/bench/bench_cx_mar \
 *       [seconds [window [rounds]]]
 *
 * Not a test: it prints figures (docs/BENCHMARKS.md "Diameter Cx").
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "imsec/crypto_ossl.h"
#include "imsec/cx.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"
#include "imsec/svc.h"

#define N_SUBS 100
#define REALM "ims.mnc001.mcc001.3gppnetwork.org"

static double secs = 3.0;
static int window = 32;
static char dir[256];
static char db[512];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rv, const char *err) {
  fprintf(stderr, "%s: %s %s\n", what, imsec_strerror(rv), err ? err : "");
  exit(2);
}

static void impi_of(char *out, size_t cap, int i) {
  snprintf(out, cap, "0010100000%05d@" REALM, i);
}

static void make_db(void) {
  imsec_hss_store *st;
  char err[300] = "";
  imsec_hss_db_opts o = {.create = 1, .wal = 1};
  int rv = imsec_hss_db_open_opts(&st, db, &o, err, sizeof(err));
  if (rv < 0)
    die("hss db", rv, err);
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
    s.scheme = IMSEC_HSS_SCHEME_AKA;
    if ((rv = st->vt->add(st, &s)) < 0)
      die("add", rv, NULL);
  }
  imsec_hss_store_del(st);
}

/* Requests in flight, completions counted under one lock. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long done_n, fail_n;

static void on_done(void *arg, const imsec_svc_req *req,
                    const imsec_svc_reply *rep) {
  (void)arg, (void)req;
  pthread_mutex_lock(&mu);
  done_n++;
  if (rep->status < 0)
    fail_n++;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* HSS_VECTOR requests for `secs`, `window` in flight; returns per second
 * (failures: *fails). */
static double drive(imsec_svc *svc, long *fails) {
  pthread_mutex_lock(&mu);
  done_n = fail_n = 0;
  pthread_mutex_unlock(&mu);
  long sent = 0;
  double t0 = now(), end = t0 + secs;
  imsec_svc_req req;
  while (now() < end) {
    pthread_mutex_lock(&mu);
    while (sent - done_n >= window)
      pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    memset(&req, 0, sizeof req);
    req.kind = IMSEC_SVC_HSS_VECTOR;
    req.id = (uint64_t)sent;
    impi_of(req.key, sizeof req.key, (int)(sent % N_SUBS));
    memcpy(req.impu, "sip:", 4);
    impi_of(req.impu + 4, sizeof req.impu - 4, (int)(sent % N_SUBS));
    int rv = imsec_svc_submit(svc, &req, on_done, NULL);
    if (rv < 0)
      die("submit", rv, NULL);
    sent++;
  }
  pthread_mutex_lock(&mu);
  while (done_n < sent)
    pthread_cond_wait(&cv, &mu);
  long n = done_n - fail_n;
  *fails = fail_n;
  pthread_mutex_unlock(&mu);
  return (double)n / (now() - t0);
}

static double embedded(long *fails) {
  imsec_hss_store *st;
  imsec_crypto *crypto;
  imsec_hss *hss;
  imsec_svc *local, *worker;
  char err[300] = "";
  imsec_hss_db_opts o = {.create = 0, .writable = 1, .wal = 1};
  int rv = imsec_hss_db_open_opts(&st, db, &o, err, sizeof(err));
  if (rv < 0)
    die("open", rv, err);
  if ((rv = imsec_crypto_ossl_new(&crypto)) < 0 ||
      (rv = imsec_hss_new(&hss, st, crypto, NULL)) < 0 ||
      (rv = imsec_hss_set_sqn_range(hss, 32, 0)) < 0)
    die("hss", rv, NULL);
  imsec_svc_local_config lc = {.hss = hss};
  if ((rv = imsec_svc_local_new(&local, &lc)) < 0 ||
      (rv = imsec_svc_worker_new(&worker, local, 8192)) < 0)
    die("svc", rv, NULL);
  double r = drive(worker, fails);
  imsec_svc_del(worker);
  imsec_svc_del(local);
  imsec_hss_del(hss);
  imsec_crypto_del(crypto);
  imsec_hss_store_del(st);
  return r;
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof(sa);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
    die("port", IMSEC_ERR_IO, NULL);
  close(fd);
  return ntohs(sa.sin_port);
}

/* utime + stime of a process, in seconds. */
static double proc_cpu(pid_t pid) {
  char p[64], buf[2048];
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(p, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *s = strrchr(buf, ')');
  unsigned long ut = 0, stt = 0;
  if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &stt) != 2)
    return 0;
  return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static pid_t hss_pid;
static imsec_svc *client;

static void cx_start(const char *imsec) {
  uint16_t port = free_port();
  char addr[64], log[600];
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%u", (unsigned)port);
  snprintf(log, sizeof log, "%s/hss.log", dir);
  hss_pid = fork();
  if (hss_pid == 0) {
    if (!freopen(log, "w", stderr))
      _exit(127);
    if (!freopen("/dev/null", "w", stdout))
      _exit(127);
    execl(imsec, imsec, "hss", "serve", "--db", db, "--diameter", addr,
          "--diameter-identity", "hss." REALM, "--diameter-realm", REALM,
          (char *)NULL);
    _exit(127);
  }
  imsec_cx_config c;
  memset(&c, 0, sizeof c);
  c.identity = "scscf." REALM;
  c.realm = REALM;
  c.addr = addr;
  c.peer_identity = "hss." REALM;
  c.timeout_ms = 5000;
  char err[300] = "";
  /* The server needs a moment to listen; the client reconnects. */
  int rv = imsec_cx_client_new(&client, &c, err, sizeof err);
  if (rv < 0)
    die("cx client", rv, err);
  for (int i = 0; i < 500 && !imsec_cx_client_ready(client); i++)
    usleep(20000);
  if (!imsec_cx_client_ready(client))
    die("cx peer", IMSEC_ERR_TIMEOUT, log);
}

int main(int argc, char **argv) {
  if (argc > 1)
    secs = atof(argv[1]);
  if (secs <= 0)
    secs = 3.0;
  if (argc > 2)
    window = atoi(argv[2]);
  if (window < 1)
    window = 1;
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  if (rounds < 1)
    rounds = 1;
  const char *imsec = getenv("IMSEC");
  if (!imsec)
    imsec = "imsec";
  snprintf(dir, sizeof dir, "/tmp/imsec-cx-bench-XXXXXX");
  if (!mkdtemp(dir))
    die("mkdtemp", IMSEC_ERR_IO, NULL);
  snprintf(db, sizeof db, "%s/hss.db", dir);
  make_db();

  double best_emb = 0, best_cx = 0, best_cpu = 0, best_cli = 0;
  long fails = 0;
  for (int r = 0; r < rounds; r++) {
    long f = 0;
    double v = embedded(&f);
    fails += f;
    if (v > best_emb)
      best_emb = v;
  }
  cx_start(imsec);
  {
    long f = 0;
    drive(client, &f); /* warm-up: every IMPI's first SQN range */
  }
  for (int r = 0; r < rounds; r++) {
    long f = 0;
    double c0 = proc_cpu(hss_pid), s0 = self_cpu(), t0 = now();
    double v = drive(client, &f);
    double n = v * (now() - t0);
    double cpu = n > 0 ? (proc_cpu(hss_pid) - c0) / n * 1e6 : 0;
    double cli = n > 0 ? (self_cpu() - s0) / n * 1e6 : 0;
    fails += f;
    if (v > best_cx) {
      best_cx = v;
      best_cpu = cpu;
      best_cli = cli;
    }
  }
  printf("imsec Cx benchmark: best of %d rounds of %.1f s, %d in flight, "
         "%d subscribers, SQLite WAL, SQN range 32\n\n",
         rounds, secs, window, N_SUBS);
  printf("%-46s %12s\n", "authentication vectors", "per second");
  printf("%-46s %12.0f\n", "embedded HSS (worker over SQLite)", best_emb);
  printf("%-46s %12.0f\n", "Diameter Cx MAR/MAA to imsec hss serve", best_cx);
  printf("\nCPU per MAR: HSS %.0f us, S-CSCF side (client) %.0f us\n", best_cpu,
         best_cli);
  if (fails)
    printf("failed requests: %ld\n", fails);
  fflush(stdout);
  imsec_svc_del(client);
  kill(hss_pid, SIGTERM);
  waitpid(hss_pid, NULL, 0);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return fails ? 1 : 0;
}
