/* The host's net port, operations side (include/imsec/host_net.h):
 * imsec_hostnet_metrics and _list read the element on its loop thread
 * (two loops: rows and samples of both); _reload runs cfg.reload with
 * RELOADING=1 / READY=1 around it and reports its result; _drain stops
 * accepting (a new TCP connection is refused), waits for the element's
 * busy() to reach 0 and ends the run, or ends it at its deadline; the run
 * end says STOPPING=1 once. Every wait is bounded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "imsec/host_net.h"
#include "imsec/obs.h"
#include "test_util.h"

typedef struct elem {
  unsigned idx;
  pthread_t loop;
  int have_loop;
  atomic_int busy;
  atomic_int wrong_thread;
  atomic_int ups, msgs;
} elem;

static int el_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  if (info->tp == IMSEC_TP_UDP) /* datagram peers taken */
    atomic_fetch_add(&((elem *)s)->ups, 1);
  (void)flow;
  (void)tag;
  (void)now;
  (void)out;
  return 0;
}

static void el_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  atomic_fetch_add(&((elem *)s)->msgs, 1);
  (void)flow;
  (void)m;
  (void)len;
  (void)now;
  (void)out;
}

static void el_down(void *s, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
}

static void el_start(void *s, imsec_time_ms now, imsec_out *out) {
  elem *e = s;
  (void)now;
  (void)out;
  e->loop = pthread_self();
  e->have_loop = 1;
}

static void on_loop(const elem *e) {
  if (!e->have_loop || !pthread_equal(pthread_self(), e->loop))
    atomic_store((atomic_int *)&e->wrong_thread, 1);
}

static void el_metrics(const void *s, imsec_time_ms now, imsec_metrics *m) {
  const elem *e = s;
  (void)now;
  on_loop(e);
  assert_int_equal(imsec_metrics_declare(m, "test_things", IMSEC_METRIC_GAUGE,
                                         "things per loop"),
                   0);
  char loop[8];
  snprintf(loop, sizeof loop, "%u", e->idx);
  assert_int_equal(imsec_metrics_add(m, "test_things", 1.0, NULL), 0);
  assert_int_equal(imsec_metrics_add(m, "test_things", 1.0, "loop", loop, NULL),
                   0);
}

static int el_list(const void *s, const char *what, imsec_time_ms now,
                   imsec_table *t) {
  const elem *e = s;
  (void)now;
  on_loop(e);
  if (strcmp(what, "things") != 0)
    return IMSEC_ERR_UNSUPPORTED;
  static const char *const cols[] = {"loop", "what"};
  assert_int_equal(imsec_table_init(t, cols, 2), 0);
  char loop[8];
  snprintf(loop, sizeof loop, "%u", e->idx);
  const char *row[] = {loop, "a thing"};
  return imsec_table_add(t, row);
}

static size_t el_busy(const void *s) {
  const elem *e = s;
  on_loop(e);
  return (size_t)atomic_load((atomic_int *)&e->busy);
}

static const imsec_elem_ops ops = {
    .kind = "ops",
    .on_flow_up = el_up,
    .on_message = el_msg,
    .on_flow_down = el_down,
    .on_start = el_start,
    .metrics = el_metrics,
    .list = el_list,
    .busy = el_busy,
};

typedef struct fixture {
  elem el[2];
  pthread_mutex_t m;
  char states[512]; /* the notify calls, ';'-joined */
  atomic_int reloads;
  int fail_reload;
} fixture;

static int factory(void *arg, unsigned loop, void **self) {
  fixture *f = arg;
  f->el[loop].idx = loop;
  *self = &f->el[loop];
  return 0;
}

static void on_notify(void *user, const char *state) {
  fixture *f = user;
  pthread_mutex_lock(&f->m);
  size_t n = strlen(f->states);
  snprintf(f->states + n, sizeof f->states - n, "%s;", state);
  pthread_mutex_unlock(&f->m);
}

static int on_reload(void *arg, imsec_hostnet *r, char *msg, size_t cap) {
  fixture *f = arg;
  (void)r;
  atomic_fetch_add(&f->reloads, 1);
  if (f->fail_reload) {
    snprintf(msg, cap, "the test says no");
    return IMSEC_ERR_CONFIG;
  }
  snprintf(msg, cap, "needs a restart: nothing");
  return 0;
}

/* Listener 0 TCP, 1 UDP (*port: the TCP one, *uport the UDP one). */
static imsec_hostnet *make2(fixture *f, uint16_t *port, uint16_t *uport) {
  memset(f, 0, sizeof *f);
  pthread_mutex_init(&f->m, NULL);
  imsec_hostnet_listener l[2];
  memset(l, 0, sizeof l);
  assert_int_equal(
      imsec_addr_parse_listen(imsec_str_c("tcp:127.0.0.1:0"), &l[0].addr), 0);
  assert_int_equal(
      imsec_addr_parse_listen(imsec_str_c("udp:127.0.0.1:0"), &l[1].addr), 0);
  imsec_hostnet_config cfg = {
      .name = "ops",
      .ops = &ops,
      .loops = 2,
      .factory = factory,
      .factory_arg = f,
      .listeners = l,
      .n_listeners = 2,
      .log_level = IMSEC_LOG_ERROR,
      .reload = on_reload,
      .reload_arg = f,
      .notify = on_notify,
      .notify_user = f,
  };
  imsec_hostnet *r = NULL;
  char err[256];
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err), 0);
  *port = imsec_hostnet_port(r, 0);
  *uport = imsec_hostnet_port(r, 1);
  assert_int_equal(imsec_hostnet_start(r), 0);
  return r;
}

static imsec_hostnet *make(fixture *f, uint16_t *port) {
  uint16_t u;
  return make2(f, port, &u);
}

/* A datagram to the UDP listener from socket fd. */
static void udp_send(int fd, uint16_t port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  static const char msg[] = "OPTIONS sip:x SIP/2.0\r\n\r\n";
  assert_true(sendto(fd, msg, sizeof msg - 1, 0, (struct sockaddr *)&sa,
                     sizeof sa) > 0);
}

static int ups(fixture *f) {
  return atomic_load(&f->el[0].ups) + atomic_load(&f->el[1].ups);
}

static int msgs(fixture *f) {
  return atomic_load(&f->el[0].msgs) + atomic_load(&f->el[1].msgs);
}

static int tcp_connects(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

static void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_metrics_list_reload(void **state) {
  (void)state;
  static fixture f;
  uint16_t port;
  imsec_hostnet *r = make(&f, &port);
  /* Wait for both loops to have started their element. */
  for (int i = 0; i < 200 && !(f.el[0].have_loop && f.el[1].have_loop); i++)
    sleep_ms(5);

  imsec_metrics m = {0};
  assert_int_equal(imsec_hostnet_metrics(r, &m, 2000), 0);
  const imsec_metric_family *fam = imsec_metrics_find(&m, "test_things");
  assert_non_null(fam);
  /* The unlabelled sample summed over the two loops, one per loop. */
  assert_int_equal(fam->n, 3);
  assert_true(fam->s[0].value == 2.0);
  imsec_metrics_free(&m);

  imsec_table t;
  memset(&t, 0, sizeof t);
  assert_int_equal(imsec_hostnet_list(r, "things", &t, 2000), 0);
  assert_int_equal(t.ncols, 2);
  assert_int_equal(t.nrows, 2);
  assert_string_equal(t.cells[0], "0");
  assert_string_equal(t.cells[2], "1");
  imsec_table_free(&t);
  assert_int_equal(imsec_hostnet_list(r, "nothing", &t, 2000),
                   IMSEC_ERR_UNSUPPORTED);
  imsec_table_free(&t);
  /* Flows from net, every loop (each has a net of its own): a TCP peer
   * held open shows up on whichever loop took it. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  size_t rows = 0;
  for (int i = 0; i < 100 && !rows; i++) {
    memset(&t, 0, sizeof t);
    assert_int_equal(imsec_hostnet_list(r, "flows", &t, 2000), 0);
    rows = t.nrows;
    imsec_table_free(&t);
    if (!rows)
      sleep_ms(10);
  }
  assert_int_equal(rows, 1);
  close(fd);
  assert_int_equal(atomic_load(&f.el[0].wrong_thread) +
                       atomic_load(&f.el[1].wrong_thread),
                   0);

  char msg[256];
  assert_int_equal(imsec_hostnet_reload(r, msg, sizeof msg), 0);
  assert_string_equal(msg, "needs a restart: nothing");
  f.fail_reload = 1;
  assert_int_equal(imsec_hostnet_reload(r, msg, sizeof msg), IMSEC_ERR_CONFIG);
  assert_string_equal(msg, "the test says no");
  assert_int_equal(atomic_load(&f.reloads), 2);
  assert_string_equal(f.states, "RELOADING=1;READY=1;RELOADING=1;READY=1;");

  imsec_hostnet_stop(r);
  assert_int_equal(imsec_hostnet_wait(r, 2000), 0);
  assert_string_equal(f.states,
                      "RELOADING=1;READY=1;RELOADING=1;READY=1;STOPPING=1;");
  imsec_hostnet_del(r);
}

typedef struct drainer {
  imsec_hostnet *r;
  int64_t timeout;
  int rc;
} drainer;

static void *drain_thread(void *arg) {
  drainer *d = arg;
  d->rc = imsec_hostnet_drain(d->r, d->timeout);
  return NULL;
}

static void test_drain_waits(void **state) {
  (void)state;
  static fixture f;
  uint16_t port, uport;
  imsec_hostnet *r = make2(&f, &port, &uport);
  assert_true(tcp_connects(port));
  /* A datagram peer before the drain: its flow stays. */
  int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
  for (int i = 0; i < 200 && ups(&f) < 1; i++) {
    if (i % 20 == 0)
      udp_send(a, uport);
    sleep_ms(5);
  }
  assert_int_equal(ups(&f), 1);
  atomic_store(&f.el[1].busy, 1); /* work in flight on one loop */
  drainer d = {.r = r, .timeout = 5000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, drain_thread, &d), 0);
  /* No new flows: the listener is closed. */
  int refused = 0;
  for (int i = 0; i < 100 && !refused; i++) {
    refused = !tcp_connects(port);
    if (!refused)
      sleep_ms(10);
  }
  assert_true(refused);
  /* A new datagram peer is not taken; the one up already goes on. */
  int before = msgs(&f);
  udp_send(b, uport);
  udp_send(a, uport);
  /* Still running while busy. */
  assert_int_equal(imsec_hostnet_wait(r, 200), IMSEC_ERR_TIMEOUT);
  assert_int_equal(ups(&f), 1);
  assert_true(msgs(&f) > before);
  close(a);
  close(b);
  atomic_store(&f.el[1].busy, 0);
  assert_int_equal(imsec_hostnet_wait(r, 2000), 0);
  pthread_join(th, NULL);
  assert_int_equal(d.rc, 0);
  assert_string_equal(f.states, "STOPPING=1;");
  imsec_hostnet_del(r);
}

static void test_drain_deadline(void **state) {
  (void)state;
  static fixture f;
  uint16_t port;
  imsec_hostnet *r = make(&f, &port);
  atomic_store(&f.el[0].busy, 3); /* never ends */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(imsec_hostnet_drain(r, 300), IMSEC_ERR_TIMEOUT);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long ms =
      (long)(b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000L;
  assert_true(ms >= 300 && ms < 2000);
  assert_int_equal(imsec_hostnet_wait(r, 2000), 0);
  assert_string_equal(f.states, "STOPPING=1;");
  imsec_hostnet_del(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_list_reload),
      cmocka_unit_test(test_drain_waits),
      cmocka_unit_test(test_drain_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
