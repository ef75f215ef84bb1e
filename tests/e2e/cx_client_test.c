/* The Cx client (include/imsec/cx.h imsec_cx_client_new) against a real
 * `imsec hss serve`: lookups by SAR, vectors checked against Milenage,
 * SIP Digest H(A1)s, resynchronisation from a real AUTS, the result codes,
 * an HSS that stops answering (IMSEC_ERR_TIMEOUT in time, never a hang)
 * and one that is killed and restarted (the peer is reopened). One test:
 * libfdcore is one per process. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cmocka.h>

#include "imsec/aka.h"
#include "imsec/crypto_ossl.h"
#include "imsec/cx.h"
#include "imsec/obs.h"
#include "net_util.h"
#include "test_util.h"

#define D "ims.test"
#define K "465b5ce8b199b49faa5f0a2ee238a6bc"
#define OPC "cd63cb71954a9f4e48a5994e37a02baf"
#define ALICE "alice@" D
#define CAROL "carol@" D

static pid_t g_hss;
static char g_db[512];
static char g_log[512];

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  socklen_t sl = sizeof(sa);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

/* `imsec hss serve` on port, its stderr and stdout into g_log; waits for
 * its "listening" line. */
static void hss_start(uint16_t port) {
  char addr[64];
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%u", (unsigned)port);
  unlink(g_log);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    FILE *f = freopen(g_log, "w", stdout);
    (void)f;
    dup2(STDOUT_FILENO, STDERR_FILENO);
    execl(t_imsec_bin(), t_imsec_bin(), "hss", "serve", "--db", g_db,
          "--diameter", addr, "--diameter-identity", "hss." D,
          "--diameter-realm", D, (char *)NULL);
    _exit(127);
  }
  g_hss = pid;
  int64_t end = mono_ms() + 10000;
  while (mono_ms() < end) {
    size_t n = 0;
    char *log = access(g_log, R_OK) == 0 ? t_read_file(g_log, &n) : NULL;
    int up = log && strstr(log, "hss info: listening on diameter");
    free(log);
    if (up)
      return;
    sleep_ms(20);
  }
  fail_msg("imsec hss serve did not start");
}

static void hss_kill(void) {
  if (g_hss > 0) {
    kill(g_hss, SIGCONT);
    kill(g_hss, SIGKILL);
    waitpid(g_hss, NULL, 0);
    g_hss = 0;
  }
}

/* One reply, waited for. */
typedef struct waiter {
  volatile int done;
  int status;
  imsec_svc_reply rep;
  int64_t at;
} waiter;

static void on_done(void *arg, const imsec_svc_req *req,
                    const imsec_svc_reply *rep) {
  (void)req;
  waiter *w = arg;
  w->rep = *rep;
  w->status = rep->status;
  w->at = mono_ms();
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static int ask(imsec_svc *svc, imsec_svc_kind kind, const char *key,
               const char *impu, waiter *w) {
  imsec_svc_req req;
  memset(&req, 0, sizeof req);
  memset(w, 0, sizeof(*w));
  req.kind = kind;
  req.id = 7;
  snprintf(req.key, sizeof req.key, "%s", key);
  if (impu)
    snprintf(req.impu, sizeof req.impu, "%s", impu);
  int rv = imsec_svc_submit(svc, &req, on_done, w);
  assert_int_equal(rv, 0);
  int64_t end = mono_ms() + 10000;
  while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
    assert_true(mono_ms() < end); /* never a hang */
    sleep_ms(2);
  }
  assert_int_equal(w->rep.id, 7);
  assert_int_equal(w->rep.last, 1);
  return w->status;
}

static int wait_ready(imsec_svc *svc, int want, int ms) {
  int64_t end = mono_ms() + ms;
  while (mono_ms() < end) {
    if (imsec_cx_client_ready(svc) == want)
      return 1;
    sleep_ms(20);
  }
  return 0;
}

/* The vector is Milenage's for alice's K and OPc (TS 35.206): the HSS's
 * XRES, CK and IK reached the S-CSCF intact. */
static void check_vector(imsec_milenage *m, const imsec_aka_vector *v) {
  uint8_t res[8], ck[16], ik[16];
  assert_int_equal(imsec_milenage_f2345(m, v->rand, res, ck, ik, NULL), 0);
  assert_int_equal(v->xres_len, 8);
  assert_memory_equal(v->xres, res, 8);
  assert_memory_equal(v->ck, ck, 16);
  assert_memory_equal(v->ik, ik, 16);
}

static int teardown(void **state) {
  (void)state;
  hss_kill();
  return 0;
}

static double sample(const imsec_metrics *m, const char *name,
                     const char *labels) {
  const imsec_metric_family *f = imsec_metrics_find(m, name);
  for (size_t i = 0; f && i < f->n; i++)
    if (strcmp(f->s[i].labels ? f->s[i].labels : "", labels) == 0)
      return f->s[i].value;
  return -1;
}

static void test_cx_client(void **state) {
  (void)state;
  const char *dir = t_mkdtemp();
  snprintf(g_db, sizeof g_db, "%s/hss.db", dir);
  snprintf(g_log, sizeof g_log, "%s/hss.log", dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' hss add --db '%s' --impi " ALICE " --impu 'sip:alice@" D
           ",tel:+15550001' --k " K " --opc " OPC " --amf 8000 >/dev/null",
           t_imsec_bin(), g_db);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "printf 'carol-pw\\n' > '%s/pw' && chmod 600 '%s/pw' && '%s' hss "
           "add --db '%s' --impi " CAROL " --impu 'sip:carol@" D
           "' --scheme digest --password-file '%s/pw' >/dev/null",
           dir, dir, t_imsec_bin(), g_db, dir);
  assert_int_equal(system(cmd), 0);

  uint16_t port = free_port();
  hss_start(port);

  char addr[64], err[256];
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%u", (unsigned)port);
  imsec_cx_config c;
  memset(&c, 0, sizeof c);
  c.identity = "scscf1." D;
  c.realm = D;
  c.addr = addr;
  c.peer_identity = "hss." D;
  c.timeout_ms = 700;
  imsec_svc *svc = NULL;
  int rv = imsec_cx_client_new(&svc, &c, err, sizeof err);
  if (rv)
    fprintf(stderr, "cx client: %s\n", err);
  assert_int_equal(rv, 0);
  assert_true(wait_ready(svc, 1, 10000));

  imsec_crypto *cr = NULL;
  imsec_milenage *mil = NULL;
  uint8_t k[16], opc[16];
  t_hex(K, k, 16);
  t_hex(OPC, opc, 16);
  assert_int_equal(imsec_crypto_ossl_new(&cr), 0);
  assert_int_equal(imsec_milenage_new(&mil, cr), 0);
  assert_int_equal(imsec_milenage_set_opc(mil, k, opc), 0);

  waiter w;
  /* HSS_SUB: SAR NO_ASSIGNMENT -> the implicit set of the User-Data; the
   * scheme from a MAR "Unknown" whose vector waits for HSS_VECTOR. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, ALICE, NULL, &w), 0);
  assert_string_equal(w.rep.sub.impi, ALICE);
  assert_int_equal(w.rep.sub.n_impus, 2);
  assert_string_equal(w.rep.sub.impus[0], "sip:alice@" D);
  assert_string_equal(w.rep.sub.impus[1], "tel:+15550001");
  assert_int_equal(w.rep.sub.scheme, IMSEC_HSS_SCHEME_AKA);
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, NULL, &w), 0);
  check_vector(mil, &w.rep.vec);
  assert_int_equal(w.rep.aka, IMSEC_HSS_AKAV1);
  uint8_t rand1[16];
  memcpy(rand1, w.rep.vec.rand, 16);
  /* The next one: a fresh RAND (a spare of the lookup's MAR). */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, "sip:alice@" D, &w),
                   0);
  check_vector(mil, &w.rep.vec);
  assert_memory_not_equal(w.rep.vec.rand, rand1, 16);

  /* By IMPU (SAR with Public-Identity only): the IMPI comes back. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB_IMPU, "tel:+15550001", NULL, &w),
                   0);
  assert_string_equal(w.rep.sub.impi, ALICE);

  /* Unknown subscribers: DIAMETER_ERROR_USER_UNKNOWN -> NOTFOUND. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, "nobody@" D, NULL, &w),
                   IMSEC_ERR_NOTFOUND);
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB_IMPU, "sip:nobody@" D, NULL, &w),
                   IMSEC_ERR_NOTFOUND);
  /* An IMPU of another subscriber: IDENTITIES_DONT_MATCH -> NOTFOUND. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, "sip:carol@" D, &w),
                   IMSEC_ERR_NOTFOUND);

  /* SIP Digest: the scheme and realm from the lookup, then the H(A1)s. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, CAROL, NULL, &w), 0);
  assert_int_equal(w.rep.sub.scheme, IMSEC_HSS_SCHEME_DIGEST);
  assert_string_equal(w.rep.sub.digest.realm, D);
  for (int pass = 0; pass < 2; pass++) { /* kept, then a MAR of its own */
    assert_int_equal(ask(svc, IMSEC_SVC_HSS_DIGEST, CAROL, NULL, &w), 0);
    assert_string_equal(w.rep.sub.impi, CAROL);
    assert_int_equal(w.rep.sub.scheme, IMSEC_HSS_SCHEME_DIGEST);
    static const uint8_t zero[32];
    assert_memory_not_equal(w.rep.sub.digest.ha1[IMSEC_HSS_HA1_MD5][0], zero,
                            16);
    assert_memory_not_equal(w.rep.sub.digest.ha1[IMSEC_HSS_HA1_SHA256][1], zero,
                            32);
  }
  /* A vector for a SIP Digest subscriber: AUTH_SCHEME_NOT_SUPPORTED. */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, CAROL, NULL, &w),
                   IMSEC_ERR_UNSUPPORTED);

  /* SAR REGISTRATION (HSS_ASSIGN): the implicit set. */
  {
    imsec_svc_req req;
    memset(&req, 0, sizeof req);
    memset(&w, 0, sizeof w);
    req.kind = IMSEC_SVC_HSS_ASSIGN;
    req.id = 7;
    snprintf(req.key, sizeof req.key, ALICE);
    snprintf(req.impu, sizeof req.impu, "sip:alice@" D);
    req.assign = IMSEC_SVC_ASSIGN_REGISTRATION;
    assert_int_equal(imsec_svc_submit(svc, &req, on_done, &w), 0);
    int64_t end = mono_ms() + 5000;
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && mono_ms() < end)
      sleep_ms(2);
    assert_int_equal(w.status, 0);
    assert_int_equal(w.rep.sub.n_impus, 2);
  }

  /* Resynchronisation (TS 33.102 §6.3.5): the UE's SQN far ahead; the
   * HSS takes it from AUTS, and the next vector's SQN is past it. */
  {
    assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, NULL, &w), 0);
    imsec_svc_req req;
    memset(&req, 0, sizeof req);
    req.kind = IMSEC_SVC_HSS_RESYNC;
    req.id = 7;
    snprintf(req.key, sizeof req.key, ALICE);
    memcpy(req.rand, w.rep.vec.rand, 16);
    const uint8_t sqn_ms[6] = {0, 0, 0, 0x10, 0, 0x20};
    assert_int_equal(imsec_aka_auts_make(mil, req.rand, sqn_ms, req.auts), 0);
    memset(&w, 0, sizeof w);
    assert_int_equal(imsec_svc_submit(svc, &req, on_done, &w), 0);
    int64_t end = mono_ms() + 5000;
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && mono_ms() < end)
      sleep_ms(2);
    assert_int_equal(w.status, 0);
    assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, NULL, &w), 0);
    check_vector(mil, &w.rep.vec);
    uint8_t ak[6], sqn[6];
    assert_int_equal(
        imsec_milenage_f2345(mil, w.rep.vec.rand, NULL, NULL, NULL, ak), 0);
    for (int i = 0; i < 6; i++)
      sqn[i] = w.rep.vec.autn[i] ^ ak[i];
    assert_true(memcmp(sqn, sqn_ms, 6) > 0);
    /* That MAR asked for 4 vectors (SIP-Number-Auth-Items): the next 3
     * come from the client with no MAR, so even a stopped HSS does not
     * delay them; their SQNs keep rising (TS 33.102 C.3). The 4th needs
     * a MAR again: no answer, IMSEC_ERR_TIMEOUT. */
    kill(g_hss, SIGSTOP);
    for (int n = 0; n < 3; n++) {
      uint8_t prev[6];
      memcpy(prev, sqn, 6);
      int64_t t0 = mono_ms();
      assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, NULL, &w), 0);
      assert_true(w.at - t0 < 300);
      check_vector(mil, &w.rep.vec);
      assert_int_equal(
          imsec_milenage_f2345(mil, w.rep.vec.rand, NULL, NULL, NULL, ak), 0);
      for (int i = 0; i < 6; i++)
        sqn[i] = w.rep.vec.autn[i] ^ ak[i];
      assert_true(memcmp(sqn, prev, 6) > 0);
    }
    assert_int_equal(ask(svc, IMSEC_SVC_HSS_VECTOR, ALICE, NULL, &w),
                     IMSEC_ERR_TIMEOUT);
    kill(g_hss, SIGCONT);
    /* An AUTS whose MAC-S is wrong: AUTHORIZATION_REJECTED -> MAC. */
    req.auts[13] ^= 1;
    memset(&w, 0, sizeof w);
    assert_int_equal(imsec_svc_submit(svc, &req, on_done, &w), 0);
    end = mono_ms() + 5000;
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && mono_ms() < end)
      sleep_ms(2);
    assert_int_equal(w.status, IMSEC_ERR_MAC);
  }

  /* An HSS that never answers (stopped, its connection open): the
   * request ends IMSEC_ERR_TIMEOUT after timeout_ms, not later. */
  kill(g_hss, SIGSTOP);
  int64_t t0 = mono_ms();
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, ALICE, NULL, &w),
                   IMSEC_ERR_TIMEOUT);
  int64_t took = w.at - t0;
  assert_true(took >= 600 && took < 2500);
  kill(g_hss, SIGCONT);
  /* It answers again (the late answer was discarded). */
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, ALICE, NULL, &w), 0);

  /* Killed: no peer, IMSEC_ERR_TIMEOUT at once; restarted: reconnected
   * (RFC 6733 §2.1) and answering. */
  hss_kill();
  assert_true(wait_ready(svc, 0, 5000));
  t0 = mono_ms();
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB, ALICE, NULL, &w),
                   IMSEC_ERR_TIMEOUT);
  assert_true(w.at - t0 < 500);
  hss_start(port);
  assert_true(wait_ready(svc, 1, 15000));
  assert_int_equal(ask(svc, IMSEC_SVC_HSS_SUB_IMPU, "sip:alice@" D, NULL, &w),
                   0);

  /* Not an HSS request. */
  {
    imsec_svc_req req;
    memset(&req, 0, sizeof req);
    req.kind = IMSEC_SVC_REG_LOAD;
    assert_int_equal(imsec_svc_submit(svc, &req, on_done, &w),
                     IMSEC_ERR_UNSUPPORTED);
  }

  /* What the operator sees (docs/OPERATIONS.md): every exchange by
   * command and result, the time-out and the request no peer took, the
   * HSS peer up, and a "peers" row for it. */
  {
    imsec_metrics m = {0};
    imsec_svc_metrics(svc, &m);
    assert_int_equal(m.err, 0);
    assert_true(sample(&m, "imsec_cx_client_requests_total",
                       "command=\"SAR\",result=\"2001\"") >= 3);
    assert_true(sample(&m, "imsec_cx_client_requests_total",
                       "command=\"MAR\",result=\"2001\"") >= 1);
    assert_true(sample(&m, "imsec_cx_client_requests_total",
                       "command=\"SAR\",result=\"timeout\"") == 1);
    assert_true(sample(&m, "imsec_cx_client_requests_total",
                       "command=\"SAR\",result=\"no_peer\"") >= 1);
    assert_non_null(
        imsec_metrics_find(&m, "imsec_cx_client_request_duration_seconds"));
    assert_true(sample(&m, "imsec_diameter_peer_up", "peer=\"hss." D "\"") ==
                1);
    imsec_metrics_free(&m);
    imsec_table t;
    memset(&t, 0, sizeof t);
    assert_int_equal(imsec_svc_list(svc, "peers", &t), 0);
    assert_int_equal(t.nrows, 1);
    assert_string_equal(t.cells[0], "hss." D);
    assert_string_equal(t.cells[2], "open");
    imsec_table_free(&t);
  }

  imsec_svc_del(svc);
  imsec_milenage_del(mil);
  imsec_crypto_del(cr);
  hss_kill();
  t_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_cx_client, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
