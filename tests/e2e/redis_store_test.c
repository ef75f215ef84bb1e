/* store/redis.c against a real redis-server started here on loopback in
 * a temporary folder (no system service): records saved, found by IMPI
 * and by IMPU, replaced, deleted, walked (REG_LOAD over more than one
 * SCAN page); expiry by the server's clock, with exactly one gone = 1
 * when several clients expire one record at once; a server that stops
 * answering gives IMSEC_ERR_TIMEOUT in time, and one that restarts is
 * reconnected to. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imsec/obs.h"
#include "imsec/redis.h"
#include "imsec/svc.h"
#include "test_util.h"

/* ------------------------------------------------------- the server */

static char dir[64];
static int port;
static pid_t server = -1;

static int64_t ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t al = sizeof(a);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Up when it answers PING; bounded. */
static int server_up(int wait_ms) {
  int64_t until = ms_now() + wait_ms;
  while (ms_now() < until) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && !c->err) {
      redisReply *r = redisCommand(c, "PING");
      int ok = r && r->type == REDIS_REPLY_STATUS;
      if (r)
        freeReplyObject(r);
      redisFree(c);
      if (ok)
        return 1;
    } else if (c) {
      redisFree(c);
    }
    sleep_ms(20);
  }
  return 0;
}

static void server_start(void) {
  char portbuf[16];
  snprintf(portbuf, sizeof(portbuf), "%d", port);
  char log[128];
  snprintf(log, sizeof(log), "%s/redis.log", dir);
  server = fork();
  assert_true(server >= 0);
  if (server == 0) {
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
    }
    execlp("redis-server", "redis-server", "--port", portbuf, "--bind",
           "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
           "--daemonize", "no", "--logfile", log, (char *)NULL);
    _exit(127);
  }
  assert_true(server_up(5000));
}

static void server_stop(void) {
  if (server > 0) {
    kill(server, SIGCONT);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
  }
  server = -1;
}

static int group_setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/imsec-redis-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  port = free_port();
  server_start();
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  server_stop();
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void url(char *buf, size_t cap, int db) {
  snprintf(buf, cap, "redis://127.0.0.1:%d/%d", port, db);
}

/* A fresh service on DB `db` (every test its own DB: no leftovers). */
static imsec_svc *open_svc(int db, int timeout_ms) {
  char u[64], err[256];
  url(u, sizeof(u), db);
  imsec_redis_opts o = {.timeout_ms = timeout_ms};
  imsec_svc *s = NULL;
  int rv = imsec_redis_svc_new(&s, u, &o, err, sizeof(err));
  if (rv != 0)
    fprintf(stderr, "redis: %s\n", err);
  assert_int_equal(rv, 0);
  return s;
}

/* imsec_redis_up for this server (-1: no such sample). */
static double redis_up(imsec_svc *s) {
  imsec_metrics m = {0};
  imsec_svc_metrics(s, &m);
  char want[64];
  snprintf(want, sizeof want, "server=\"127.0.0.1:%d\"", port);
  double v = -1;
  const imsec_metric_family *f = imsec_metrics_find(&m, "imsec_redis_up");
  for (size_t i = 0; f && i < f->n; i++)
    if (strcmp(f->s[i].labels, want) == 0)
      v = f->s[i].value;
  assert_non_null(imsec_metrics_find(&m, "imsec_store_queue_depth"));
  imsec_metrics_free(&m);
  return v;
}

static void flush_db(int db) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  assert_true(c && !c->err);
  redisReply *r = redisCommand(c, "SELECT %d", db);
  freeReplyObject(r);
  r = redisCommand(c, "FLUSHDB");
  freeReplyObject(r);
  redisFree(c);
}

/* PTTL of a key in `db`: -2 none, -1 no expiry. */
static long long pttl(int db, const char *key) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  assert_true(c && !c->err);
  redisReply *r = redisCommand(c, "SELECT %d", db);
  freeReplyObject(r);
  r = redisCommand(c, "PTTL %s", key);
  assert_non_null(r);
  long long v = r->integer;
  freeReplyObject(r);
  redisFree(c);
  return v;
}

/* ------------------------------------------------- synchronous calls */

typedef struct call {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int status;
  int gone;
  int replies; /* REG_LOAD: records */
  imsec_reg_record rec;
  char **impis; /* REG_LOAD: every IMPI answered */
  pthread_t thread;
  int bad; /* a reply broke the contract (checked on the test's thread) */
} call;

static void call_init(call *c) {
  memset(c, 0, sizeof(*c));
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
}

static void call_free(call *c) {
  imsec_reg_record_free(&c->rec);
  for (int i = 0; i < c->replies && c->impis; i++)
    free(c->impis[i]);
  free(c->impis);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
}

static void on_done(void *arg, const imsec_svc_req *req,
                    const imsec_svc_reply *rep) {
  call *c = arg;
  pthread_mutex_lock(&c->mu);
  c->thread = pthread_self();
  if (rep->id != req->id || rep->kind != req->kind || c->done)
    c->bad = 1;
  if (rep->reg && rep->kind == IMSEC_SVC_REG_LOAD) {
    char **n = realloc(c->impis, (size_t)(c->replies + 1) * sizeof(*n));
    if (n) {
      c->impis = n;
      c->impis[c->replies++] = strdup(rep->reg->impi);
    } else {
      c->bad = 1;
    }
  } else if (rep->reg) {
    imsec_reg_record_free(&c->rec);
    if (imsec_reg_record_copy(&c->rec, rep->reg) < 0)
      c->bad = 1;
  }
  if (rep->last) {
    c->status = rep->status;
    c->gone = rep->gone;
    c->done = 1;
    pthread_cond_broadcast(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
}

static void submit(imsec_svc *s, imsec_svc_req *req, call *c) {
  static uint64_t next_id = 1;
  req->id = next_id++;
  assert_int_equal(imsec_svc_submit(s, req, on_done, c), 0);
}

/* Wait for the final reply, at most `ms`. */
static void wait_call(call *c, int ms) {
  int64_t until = ms_now() + ms;
  pthread_mutex_lock(&c->mu);
  while (!c->done && ms_now() < until) {
    pthread_mutex_unlock(&c->mu);
    sleep_ms(2);
    pthread_mutex_lock(&c->mu);
  }
  int done = c->done, bad = c->bad;
  pthread_mutex_unlock(&c->mu);
  assert_true(done);
  assert_false(bad);
}

static int run(imsec_svc *s, imsec_svc_req *req, call *c) {
  call_init(c);
  submit(s, req, c);
  wait_call(c, 5000);
  assert_false(pthread_equal(c->thread, pthread_self()));
  return c->status;
}

static int get(imsec_svc *s, const char *key, call *c) {
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_GET};
  snprintf(req.key, sizeof(req.key), "%s", key);
  return run(s, &req, c);
}

static int expire(imsec_svc *s, const char *impi, call *c) {
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_EXPIRE};
  snprintf(req.key, sizeof(req.key), "%s", impi);
  return run(s, &req, c);
}

static int del(imsec_svc *s, const char *impi) {
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_DELETE};
  snprintf(req.key, sizeof(req.key), "%s", impi);
  call c;
  int rv = run(s, &req, &c);
  call_free(&c);
  return rv;
}

/* A record of `impi` with IMPUs sip:<user>@ims.test and tel:+1<n>, one
 * binding per ttl. */
static void make_rec(imsec_reg_record *r, const char *impi, const char *u1,
                     const char *u2, const int64_t *ttl, size_t n) {
  memset(r, 0, sizeof(*r));
  r->impi = strdup(impi);
  r->impus = calloc(2, sizeof(char *));
  r->impus[0] = strdup(u1);
  r->impus[1] = strdup(u2);
  r->n_impus = 2;
  r->service_route = strdup("<sip:orig@scscf.ims.test;lr>");
  r->digest = 1;
  r->b = calloc(n, sizeof(*r->b));
  r->n = n;
  for (size_t i = 0; i < n; i++) {
    char c[96];
    snprintf(c, sizeof(c), "sip:%s@10.0.0.%zu:5060;transport=tls", impi, i);
    r->b[i].contact = strdup(c);
    r->b[i].path = i ? strdup("<sip:term@pcscf.ims.test;lr>") : NULL;
    r->b[i].instance = i ? NULL : strdup("<urn:uuid:0001>");
    r->b[i].reg_id = i ? -1 : 1;
    r->b[i].ttl_ms = ttl[i];
    r->b[i].peer = strdup("pcscf.ims.test");
    r->b[i].order = 10 + i;
  }
}

static int save(imsec_svc *s, const char *impi, const char *u1, const char *u2,
                const int64_t *ttl, size_t n) {
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_SAVE};
  make_rec(&req.reg, impi, u1, u2, ttl, n);
  call c;
  int rv = run(s, &req, &c);
  call_free(&c);
  return rv;
}

/* ------------------------------------------------------------ tests */

static void test_save_get_delete(void **state) {
  (void)state;
  flush_db(1);
  imsec_svc *s = open_svc(1, 1000);
  int64_t ttl[2] = {60000, 30000};
  assert_int_equal(
      save(s, "alice@ims.test", "sip:alice@ims.test", "tel:+15550001", ttl, 2),
      0);
  call c;
  assert_int_equal(get(s, "alice@ims.test", &c), 0);
  const imsec_reg_record *r = &c.rec;
  assert_string_equal(r->impi, "alice@ims.test");
  assert_int_equal(r->n_impus, 2);
  assert_string_equal(r->impus[0], "sip:alice@ims.test");
  assert_string_equal(r->impus[1], "tel:+15550001");
  assert_string_equal(r->service_route, "<sip:orig@scscf.ims.test;lr>");
  assert_int_equal(r->digest, 1);
  assert_int_equal(r->n, 2);
  assert_string_equal(r->b[0].contact,
                      "sip:alice@ims.test@10.0.0.0:5060;transport=tls");
  assert_null(r->b[0].path);
  assert_string_equal(r->b[0].instance, "<urn:uuid:0001>");
  assert_int_equal(r->b[0].reg_id, 1);
  assert_true(r->b[0].ttl_ms > 55000 && r->b[0].ttl_ms <= 60000);
  assert_string_equal(r->b[1].path, "<sip:term@pcscf.ims.test;lr>");
  assert_null(r->b[1].instance);
  assert_int_equal(r->b[1].reg_id, -1);
  assert_true(r->b[1].ttl_ms > 25000 && r->b[1].ttl_ms <= 30000);
  assert_string_equal(r->b[1].peer, "pcscf.ims.test");
  assert_int_equal(r->b[1].order, 11);
  call_free(&c);

  /* By either IMPU of the implicit set (TS 24.229 §5.4.3.3). */
  assert_int_equal(get(s, "tel:+15550001", &c), 0);
  assert_string_equal(c.rec.impi, "alice@ims.test");
  call_free(&c);
  assert_int_equal(get(s, "sip:alice@ims.test", &c), 0);
  call_free(&c);
  assert_int_equal(get(s, "bob@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(get(s, "sip:bob@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);

  /* The key goes by itself after the last binding and the grace. */
  long long t = pttl(1, "imsec:reg:alice@ims.test");
  assert_true(t > 60000 && t <= 60000 + 120000);
  assert_true(pttl(1, "imsec:impu:tel:+15550001") > 60000);

  assert_int_equal(del(s, "alice@ims.test"), 0);
  assert_int_equal(get(s, "alice@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(get(s, "tel:+15550001", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(pttl(1, "imsec:impu:tel:+15550001"), -2);
  assert_int_equal(del(s, "alice@ims.test"), IMSEC_ERR_NOTFOUND);
  /* The operator's view: the server up, one "peers" row for it (never
   * a password). */
  assert_true(redis_up(s) == 1);
  imsec_table tb;
  memset(&tb, 0, sizeof tb);
  assert_int_equal(imsec_svc_list(s, "peers", &tb), 0);
  assert_int_equal(tb.nrows, 1);
  assert_string_equal(tb.cells[1], "redis");
  assert_string_equal(tb.cells[2], "up");
  imsec_table_free(&tb);
  imsec_svc_del(s);
}

/* A new save replaces the record whole: an IMPU it no longer holds is
 * no longer found; one another IMPI took over stays with that one. */
static void test_replace(void **state) {
  (void)state;
  flush_db(2);
  imsec_svc *s = open_svc(2, 1000);
  int64_t ttl[1] = {60000};
  assert_int_equal(
      save(s, "a@ims.test", "sip:a@ims.test", "sip:shared@ims.test", ttl, 1),
      0);
  assert_int_equal(
      save(s, "b@ims.test", "sip:b@ims.test", "sip:shared@ims.test", ttl, 1),
      0);
  assert_int_equal(
      save(s, "a@ims.test", "sip:a@ims.test", "sip:a2@ims.test", ttl, 1), 0);
  call c;
  assert_int_equal(get(s, "sip:shared@ims.test", &c), 0);
  assert_string_equal(c.rec.impi, "b@ims.test");
  call_free(&c);
  assert_int_equal(get(s, "sip:a2@ims.test", &c), 0);
  assert_string_equal(c.rec.impi, "a@ims.test");
  call_free(&c);
  /* Deleting a leaves b's index entry alone. */
  assert_int_equal(del(s, "a@ims.test"), 0);
  assert_int_equal(get(s, "sip:shared@ims.test", &c), 0);
  assert_string_equal(c.rec.impi, "b@ims.test");
  call_free(&c);
  /* A save with nothing live is no record. */
  int64_t dead[1] = {0};
  assert_int_equal(
      save(s, "b@ims.test", "sip:b@ims.test", "sip:shared@ims.test", dead, 1),
      0);
  assert_int_equal(get(s, "b@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(get(s, "sip:shared@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  imsec_svc_del(s);
}

static void test_expire(void **state) {
  (void)state;
  flush_db(3);
  imsec_svc *s = open_svc(3, 1000);
  int64_t ttl[2] = {150, 60000};
  assert_int_equal(
      save(s, "c@ims.test", "sip:c@ims.test", "tel:+15550003", ttl, 2), 0);
  sleep_ms(300);
  call c;
  /* A read leaves the expired binding out, and removes nothing. */
  assert_int_equal(get(s, "sip:c@ims.test", &c), 0);
  assert_int_equal(c.rec.n, 1);
  assert_int_equal(c.rec.b[0].order, 11);
  call_free(&c);
  assert_int_equal(expire(s, "c@ims.test", &c), 0);
  assert_int_equal(c.gone, 0);
  assert_int_equal(c.rec.n, 1);
  assert_int_equal(c.rec.b[0].order, 11);
  assert_int_equal(c.rec.n_impus, 2);
  call_free(&c);

  int64_t short_ttl[2] = {100, 150};
  assert_int_equal(
      save(s, "c@ims.test", "sip:c@ims.test", "tel:+15550003", short_ttl, 2),
      0);
  /* Nothing expired yet: the record comes back as it is. */
  assert_int_equal(expire(s, "c@ims.test", &c), 0);
  assert_int_equal(c.gone, 0);
  assert_int_equal(c.rec.n, 2);
  call_free(&c);
  sleep_ms(300);
  assert_int_equal(expire(s, "c@ims.test", &c), 0);
  assert_int_equal(c.gone, 1);
  assert_int_equal(c.rec.n, 0);
  call_free(&c);
  /* The second caller finds nothing, and is not told gone. */
  assert_int_equal(expire(s, "c@ims.test", &c), 0);
  assert_int_equal(c.gone, 0);
  assert_int_equal(c.rec.n, 0);
  call_free(&c);
  assert_int_equal(get(s, "tel:+15550003", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(pttl(3, "imsec:reg:c@ims.test"), -2);
  imsec_svc_del(s);
}

/* Several S-CSCFs whose timers fire for one record at once: the script
 * runs atomically, so exactly one of them is told gone. */
static void test_expire_race(void **state) {
  (void)state;
  flush_db(4);
  enum { CLIENTS = 3, PER = 3, ROUNDS = 15 };
  imsec_svc *s[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    s[i] = open_svc(4, 2000);
  for (int round = 0; round < ROUNDS; round++) {
    int64_t ttl[2] = {40, 60};
    assert_int_equal(save(s[round % CLIENTS], "r@ims.test", "sip:r@ims.test",
                          "tel:+15550004", ttl, 2),
                     0);
    sleep_ms(80);
    call c[CLIENTS * PER];
    for (int i = 0; i < CLIENTS * PER; i++) {
      call_init(&c[i]);
      imsec_svc_req req = {.kind = IMSEC_SVC_REG_EXPIRE};
      snprintf(req.key, sizeof(req.key), "r@ims.test");
      submit(s[i % CLIENTS], &req, &c[i]);
    }
    int gone = 0;
    for (int i = 0; i < CLIENTS * PER; i++) {
      wait_call(&c[i], 5000);
      assert_int_equal(c[i].status, 0);
      assert_int_equal(c[i].rec.n, 0);
      gone += c[i].gone;
      call_free(&c[i]);
    }
    assert_int_equal(gone, 1);
  }
  for (int i = 0; i < CLIENTS; i++)
    imsec_svc_del(s[i]);
}

/* REG_LOAD walks every live record (more than one SCAN page), one reply
 * each, then a last one; records of other prefixes and expired ones are
 * left out. */
static void test_load(void **state) {
  (void)state;
  flush_db(5);
  imsec_svc *s = open_svc(5, 2000);
  enum { N = 250 };
  int64_t ttl[1] = {60000};
  call c[N];
  for (int i = 0; i < N; i++) {
    imsec_svc_req req = {.kind = IMSEC_SVC_REG_SAVE};
    char impi[64], u1[64], u2[64];
    snprintf(impi, sizeof(impi), "u%03d@ims.test", i);
    snprintf(u1, sizeof(u1), "sip:u%03d@ims.test", i);
    snprintf(u2, sizeof(u2), "tel:+1555%04d", i);
    make_rec(&req.reg, impi, u1, u2, ttl, 1);
    call_init(&c[i]);
    submit(s, &req, &c[i]);
  }
  for (int i = 0; i < N; i++) {
    wait_call(&c[i], 5000);
    assert_int_equal(c[i].status, 0);
    call_free(&c[i]);
  }
  int64_t dead[1] = {100};
  assert_int_equal(
      save(s, "dead@ims.test", "sip:dead@ims.test", "tel:+1999", dead, 1), 0);
  /* Another deployment's records in the same DB. */
  char u[64], err[256];
  url(u, sizeof(u), 5);
  imsec_redis_opts o = {.prefix = "other*"};
  imsec_svc *other = NULL;
  assert_int_equal(imsec_redis_svc_new(&other, u, &o, err, sizeof(err)), 0);
  assert_int_equal(
      save(other, "x@ims.test", "sip:x@ims.test", "tel:+1000", ttl, 1), 0);
  sleep_ms(200);

  call l;
  imsec_svc_req req = {.kind = IMSEC_SVC_REG_LOAD};
  assert_int_equal(run(s, &req, &l), 0);
  assert_int_equal(l.replies, N);
  char seen[N] = {0};
  for (int i = 0; i < l.replies; i++) {
    int k = -1;
    assert_int_equal(sscanf(l.impis[i], "u%d@", &k), 1);
    assert_true(k >= 0 && k < N);
    assert_false(seen[k]);
    seen[k] = 1;
  }
  call_free(&l);
  req = (imsec_svc_req){.kind = IMSEC_SVC_REG_LOAD};
  assert_int_equal(run(other, &req, &l), 0);
  assert_int_equal(l.replies, 1);
  assert_string_equal(l.impis[0], "x@ims.test");
  call_free(&l);
  imsec_svc_del(other);
  imsec_svc_del(s);
}

/* Each DB of the URL is its own store. */
static void test_db_apart(void **state) {
  (void)state;
  flush_db(6);
  flush_db(7);
  imsec_svc *a = open_svc(6, 1000), *b = open_svc(7, 1000);
  int64_t ttl[1] = {60000};
  assert_int_equal(
      save(a, "d@ims.test", "sip:d@ims.test", "tel:+15550006", ttl, 1), 0);
  call c;
  assert_int_equal(get(b, "d@ims.test", &c), IMSEC_ERR_NOTFOUND);
  call_free(&c);
  assert_int_equal(get(a, "d@ims.test", &c), 0);
  call_free(&c);
  imsec_svc_del(a);
  imsec_svc_del(b);
}

static void test_bad_url(void **state) {
  (void)state;
  imsec_svc *s = NULL;
  char err[256];
  assert_int_equal(
      imsec_redis_svc_new(&s, "http://127.0.0.1:1/0", NULL, err, sizeof(err)),
      IMSEC_ERR_INVAL);
  assert_true(err[0]);
  assert_int_equal(imsec_redis_svc_new(&s, "redis://127.0.0.1:99999/0", NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_INVAL);
  assert_int_equal(
      imsec_redis_svc_new(&s, "redis://:6379/0", NULL, err, sizeof(err)),
      IMSEC_ERR_INVAL);
  assert_int_equal(imsec_redis_svc_new(&s, "redis://127.0.0.1:6379/x", NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_INVAL);
  /* Nobody on that port. */
  char u[64];
  snprintf(u, sizeof(u), "redis://127.0.0.1:%d", free_port());
  assert_int_equal(imsec_redis_svc_new(&s, u, NULL, err, sizeof(err)),
                   IMSEC_ERR_IO);
  assert_non_null(strstr(err, "cannot connect"));
  assert_null(s);
}

/* A server that stops answering: requests are answered TIMEOUT within
 * about the timeout, never left hanging; when it answers again, so does
 * the store. A restarted server (its script cache empty) is reconnected
 * to; requests meanwhile get IMSEC_ERR_IO. */
static void test_timeout_reconnect(void **state) {
  (void)state;
  flush_db(8);
  imsec_svc *s = open_svc(8, 300);
  int64_t ttl[1] = {60000};
  assert_int_equal(
      save(s, "e@ims.test", "sip:e@ims.test", "tel:+15550008", ttl, 1), 0);
  kill(server, SIGSTOP);
  call c;
  int64_t t0 = ms_now();
  assert_int_equal(get(s, "e@ims.test", &c), IMSEC_ERR_TIMEOUT);
  call_free(&c);
  int64_t took = ms_now() - t0;
  assert_true(took >= 250 && took < 1500);
  kill(server, SIGCONT);
  int ok = 0;
  for (int i = 0; i < 100 && !ok; i++) {
    ok = get(s, "e@ims.test", &c) == 0;
    call_free(&c);
    if (!ok)
      sleep_ms(50);
  }
  assert_true(ok);

  /* Restart: the data was not saved (no persistence), the service comes
   * back and works. */
  server_stop();
  int st = get(s, "e@ims.test", &c);
  call_free(&c);
  assert_true(st == IMSEC_ERR_IO || st == IMSEC_ERR_TIMEOUT);
  assert_true(redis_up(s) == 0);
  server_start();
  ok = 0;
  for (int i = 0; i < 100 && !ok; i++) {
    ok = save(s, "e@ims.test", "sip:e@ims.test", "tel:+15550008", ttl, 1) == 0;
    if (!ok)
      sleep_ms(50);
  }
  assert_true(ok);
  assert_int_equal(get(s, "tel:+15550008", &c), 0);
  call_free(&c);
  assert_true(redis_up(s) == 1);
  imsec_svc_del(s);
}

/* Deleting the service with requests queued answers every one of them. */
static void test_close_answers(void **state) {
  (void)state;
  flush_db(9);
  imsec_svc *s = open_svc(9, 1000);
  enum { N = 64 };
  call c[N];
  int64_t ttl[1] = {60000};
  for (int i = 0; i < N; i++) {
    call_init(&c[i]);
    imsec_svc_req req = {.kind =
                             i % 2 ? IMSEC_SVC_REG_GET : IMSEC_SVC_REG_SAVE};
    char impi[32];
    snprintf(impi, sizeof(impi), "q%d@ims.test", i);
    if (req.kind == IMSEC_SVC_REG_SAVE)
      make_rec(&req.reg, impi, "sip:q@ims.test", "tel:+1", ttl, 1);
    else
      snprintf(req.key, sizeof(req.key), "%s", impi);
    submit(s, &req, &c[i]);
  }
  imsec_svc_del(s);
  for (int i = 0; i < N; i++) {
    /* Answered before del returned. */
    assert_true(c[i].done);
    call_free(&c[i]);
  }
}

/* A server that stops answering pushes back: requests beyond those in
 * flight and the bounded queue are refused at submit (IMSEC_ERR_BUSY),
 * and every request taken on is answered, in time. */
typedef struct tally {
  pthread_mutex_t mu;
  int answered, timeout, io, other;
} tally;

static void on_tally(void *arg, const imsec_svc_req *req,
                     const imsec_svc_reply *rep) {
  (void)req;
  tally *t = arg;
  if (!rep->last)
    return;
  pthread_mutex_lock(&t->mu);
  t->answered++;
  if (rep->status == IMSEC_ERR_TIMEOUT)
    t->timeout++;
  else if (rep->status == IMSEC_ERR_IO)
    t->io++;
  else
    t->other++;
  pthread_mutex_unlock(&t->mu);
}

static void test_backpressure(void **state) {
  (void)state;
  imsec_svc *s = open_svc(10, 1500);
  tally t = {.answered = 0};
  pthread_mutex_init(&t.mu, NULL);
  kill(server, SIGSTOP);
  int taken = 0, busy = 0;
  for (int i = 0; i < 8000; i++) {
    imsec_svc_req req = {.kind = IMSEC_SVC_REG_GET, .id = (uint64_t)i};
    snprintf(req.key, sizeof(req.key), "sip:nobody%d@ims.test", i);
    int rv = imsec_svc_submit(s, &req, on_tally, &t);
    if (rv == 0)
      taken++;
    else if (rv == IMSEC_ERR_BUSY)
      busy++;
  }
  int64_t until = ms_now() + 5000;
  int answered = 0;
  while (ms_now() < until) {
    pthread_mutex_lock(&t.mu);
    answered = t.answered;
    pthread_mutex_unlock(&t.mu);
    if (answered == taken)
      break;
    sleep_ms(10);
  }
  kill(server, SIGCONT);
  imsec_svc_del(s); /* answers anything left: t stays valid until here */
  assert_true(busy > 0);
  assert_int_equal(answered, taken);
  assert_true(t.timeout > 0);
  assert_int_equal(t.other, 0);
  pthread_mutex_destroy(&t.mu);
}

/* A server that asks for a password (a Redis 6 ACL user): the URL's user
 * and percent-encoded password log in; a wrong one is refused at start,
 * and the error names neither. */
static void test_auth(void **state) {
  (void)state;
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  assert_true(c && !c->err);
  redisReply *r = redisCommand(c, "ACL SETUSER scscf on >s@cret:1 ~* +@all");
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_STATUS);
  freeReplyObject(r);
  redisFree(c);
  char u[128], err[256];
  snprintf(u, sizeof(u), "redis://scscf:s%%40cret%%3A1@127.0.0.1:%d/11", port);
  imsec_svc *s = NULL;
  assert_int_equal(imsec_redis_svc_new(&s, u, NULL, err, sizeof(err)), 0);
  int64_t ttl[1] = {60000};
  assert_int_equal(
      save(s, "f@ims.test", "sip:f@ims.test", "tel:+15550011", ttl, 1), 0);
  imsec_svc_del(s);
  snprintf(u, sizeof(u), "redis://scscf:wrongpass@127.0.0.1:%d/11", port);
  assert_int_equal(imsec_redis_svc_new(&s, u, NULL, err, sizeof(err)),
                   IMSEC_ERR_IO);
  assert_null(strstr(err, "wrongpass"));
  assert_null(strstr(err, "scscf:"));
  assert_non_null(strstr(err, "127.0.0.1"));
  snprintf(u, sizeof(u), "redis://scscf:bad%%zz@127.0.0.1:%d/11", port);
  assert_int_equal(imsec_redis_svc_new(&s, u, NULL, err, sizeof(err)),
                   IMSEC_ERR_INVAL);
  assert_null(strstr(err, "bad"));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_save_get_delete),
      cmocka_unit_test(test_replace),
      cmocka_unit_test(test_expire),
      cmocka_unit_test(test_expire_race),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_db_apart),
      cmocka_unit_test(test_bad_url),
      cmocka_unit_test(test_auth),
      cmocka_unit_test(test_close_answers),
      cmocka_unit_test(test_backpressure),
      cmocka_unit_test(test_timeout_reconnect),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
