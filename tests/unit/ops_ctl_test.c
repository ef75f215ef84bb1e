/* ops/ctl.c: the control socket's server and client (include/imsec/ops.h):
 * the wire both ways, mode 0600, a stale socket replaced and a live one
 * refused, malformed requests, a silent client dropped without holding
 * the server, `after` run once the answer is out, timeouts. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "imsec/ops.h"
#include "test_util.h"

typedef struct srv {
  int calls;
  atomic_int after_calls; /* written on the control thread */
  int slow_ms;            /* the handler sleeps this long */
  int stop_self;
  imsec_ctl *self;
  char last_cmd[32], last_arg[32];
  int last_json;
} srv;

static void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void on_after(void *arg) {
  srv *s = arg;
  atomic_fetch_add(&s->after_calls, 1);
  /* A daemon whose drain ends it from here stops the socket here. */
  if (s->stop_self)
    imsec_ctl_stop(s->self);
}

static int handler(void *arg, const imsec_ctl_request *rq, imsec_buf *out,
                   void (**after)(void *arg)) {
  srv *s = arg;
  s->calls++;
  snprintf(s->last_cmd, sizeof(s->last_cmd), "%s", rq->cmd);
  snprintf(s->last_arg, sizeof(s->last_arg), "%s", rq->arg ? rq->arg : "");
  s->last_json = rq->json;
  if (s->slow_ms)
    sleep_ms(s->slow_ms);
  if (strcmp(rq->cmd, "fail") == 0) {
    imsec_buf_adds(out, "it went wrong\nsecond line never sent");
    return IMSEC_ERR_CONFIG;
  }
  if (strcmp(rq->cmd, "bye") == 0)
    *after = on_after;
  imsec_buf_adds(out, rq->json ? "{\"x\":1}\n" : "body line 1\nline 2\n");
  return 0;
}

static void tmp_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "/tmp/imsec-ctl-test-%d-%s", (int)getpid(), name);
  unlink(buf);
}

static void test_round_trip(void **state) {
  (void)state;
  char path[108];
  tmp_path(path, sizeof(path), "a.ctl");
  srv s = {0};
  imsec_ctl *c = NULL;
  char err[256];
  assert_int_equal(imsec_ctl_start(&c, path, handler, &s, err, sizeof(err)), 0);
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);

  imsec_buf out = {0};
  imsec_ctl_request rq = {.cmd = "stats"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 0);
  assert_string_equal(out.p, "body line 1\nline 2\n");
  assert_string_equal(s.last_cmd, "stats");
  assert_string_equal(s.last_arg, "");
  assert_int_equal(s.last_json, 0);

  imsec_buf_reset(&out);
  rq = (imsec_ctl_request){.cmd = "log-level", .arg = "debug", .json = 1};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 0);
  assert_string_equal(out.p, "{\"x\":1}\n");
  assert_string_equal(s.last_arg, "debug");
  assert_int_equal(s.last_json, 1);

  /* The daemon's error: 1, its first line only. */
  imsec_buf_reset(&out);
  rq = (imsec_ctl_request){.cmd = "fail"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 1);
  assert_string_equal(out.p, "it went wrong");

  /* A word with a space or a newline never reaches the wire. */
  imsec_buf_reset(&out);
  rq = (imsec_ctl_request){.cmd = "stats\nfail"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)),
                   IMSEC_ERR_INVAL);
  rq = (imsec_ctl_request){.cmd = "log-level", .arg = "a b"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)),
                   IMSEC_ERR_INVAL);
  assert_int_equal(s.calls, 3);

  /* `after` runs once the answer is out. */
  imsec_buf_reset(&out);
  rq = (imsec_ctl_request){.cmd = "bye"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 0);
  for (int i = 0; i < 100 && !atomic_load(&s.after_calls); i++)
    sleep_ms(10);
  assert_int_equal(atomic_load(&s.after_calls), 1);

  imsec_buf_free(&out);
  imsec_ctl_stop(c);
  assert_int_equal(lstat(path, &st), -1); /* removed at stop */
}

/* Send raw bytes, read the whole answer. */
static int raw(const char *path, const char *req, char *ans, size_t cap) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  if (req && write(fd, req, strlen(req)) < 0) {
    close(fd);
    return -1;
  }
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(fd, ans + n, cap - 1 - n)) > 0)
    n += (size_t)r;
  ans[n] = 0;
  close(fd);
  return (int)n;
}

static void test_malformed(void **state) {
  (void)state;
  char path[108];
  tmp_path(path, sizeof(path), "b.ctl");
  srv s = {0};
  imsec_ctl *c = NULL;
  char err[256];
  assert_int_equal(imsec_ctl_start(&c, path, handler, &s, err, sizeof(err)), 0);
  char ans[512];
  static const struct {
    const char *req, *why;
  } bad[] = {
      {"GET / HTTP/1.1\n", "error\nnot an imsec-ctl request\n"},
      {"imsec-ctl 2 text stats\n", "error\nunsupported imsec-ctl protocol"},
      {"imsec-ctl 1 xml stats\n", "error\nthe format must be text or json\n"},
      {"imsec-ctl 1 text log-level a b\n", "error\na command takes at most"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_true(raw(path, bad[i].req, ans, sizeof(ans)) > 0);
    assert_memory_equal(ans, bad[i].why, strlen(bad[i].why));
  }
  assert_int_equal(s.calls, 0);
  /* A line that never ends: dropped without an answer. */
  char longreq[2000];
  memset(longreq, 'a', sizeof(longreq) - 1);
  longreq[sizeof(longreq) - 1] = 0;
  assert_int_equal(raw(path, longreq, ans, sizeof(ans)), 0);
  /* A well-formed one still works afterwards. */
  assert_true(raw(path, "imsec-ctl 1 text stats\n", ans, sizeof(ans)) > 0);
  assert_string_equal(ans, "ok\nbody line 1\nline 2\n");
  imsec_ctl_stop(c);
}

static void test_silent_client(void **state) {
  (void)state;
  char path[108];
  tmp_path(path, sizeof(path), "c.ctl");
  srv s = {0};
  imsec_ctl *c = NULL;
  char err[256];
  assert_int_equal(imsec_ctl_start(&c, path, handler, &s, err, sizeof(err)), 0);
  /* A client that connects and says nothing holds the server for its
   * read timeout at most; the next one is answered after it. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  imsec_buf out = {0};
  imsec_ctl_request rq = {.cmd = "stats"};
  assert_int_equal(imsec_ctl_query(path, &rq, 5000, &out, err, sizeof(err)), 0);
  close(fd);
  /* A handler slower than the client's patience: a timeout, said. */
  s.slow_ms = 600;
  imsec_buf_reset(&out);
  assert_int_equal(imsec_ctl_query(path, &rq, 100, &out, err, sizeof(err)),
                   IMSEC_ERR_TIMEOUT);
  assert_non_null(strstr(err, "no answer within 100 ms"));
  imsec_buf_free(&out);
  imsec_ctl_stop(c);
}

static void test_stale_and_busy(void **state) {
  (void)state;
  char path[108];
  tmp_path(path, sizeof(path), "d.ctl");
  char err[256];
  /* A socket file nobody listens on (a killed daemon's): replaced. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  imsec_buf out = {0};
  imsec_ctl_request rq = {.cmd = "stats"};
  assert_true(imsec_ctl_query(path, &rq, 500, &out, err, sizeof(err)) < 0);
  assert_non_null(strstr(err, "nobody answers"));
  srv s = {0};
  imsec_ctl *c = NULL;
  assert_int_equal(imsec_ctl_start(&c, path, handler, &s, err, sizeof(err)), 0);
  /* A live one: refused, and the first keeps serving. */
  srv s2 = {0};
  imsec_ctl *c2 = NULL;
  assert_int_equal(imsec_ctl_start(&c2, path, handler, &s2, err, sizeof(err)),
                   IMSEC_ERR_BUSY);
  assert_null(c2);
  assert_non_null(strstr(err, "another daemon answers"));
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 0);
  assert_int_equal(s.calls, 1);
  imsec_ctl_stop(c);
  /* A path that is not a socket is never removed. */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(imsec_ctl_start(&c2, path, handler, &s2, err, sizeof(err)),
                   IMSEC_ERR_IO);
  assert_non_null(strstr(err, "not a socket"));
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  unlink(path);
  /* No socket at all: the client says so. */
  assert_true(imsec_ctl_query(path, &rq, 500, &out, err, sizeof(err)) < 0);
  assert_non_null(strstr(err, "no control socket"));
  /* Too long for a socket address. */
  char lng[200];
  memset(lng, 'x', sizeof(lng) - 1);
  lng[sizeof(lng) - 1] = 0;
  assert_int_equal(imsec_ctl_start(&c2, lng, handler, &s2, err, sizeof(err)),
                   IMSEC_ERR_IO);
  imsec_buf_free(&out);
}

static void test_stop_from_after(void **state) {
  (void)state;
  char path[108];
  tmp_path(path, sizeof(path), "e.ctl");
  srv s = {.stop_self = 1};
  char err[256];
  assert_int_equal(
      imsec_ctl_start(&s.self, path, handler, &s, err, sizeof(err)), 0);
  imsec_buf out = {0};
  imsec_ctl_request rq = {.cmd = "bye"};
  assert_int_equal(imsec_ctl_query(path, &rq, 2000, &out, err, sizeof(err)), 0);
  struct stat st;
  for (int i = 0; i < 100 && lstat(path, &st) == 0; i++)
    sleep_ms(10);
  assert_int_equal(lstat(path, &st), -1); /* gone, the thread ended */
  assert_int_equal(atomic_load(&s.after_calls), 1);
  imsec_buf_free(&out);
}

static void test_default_path(void **state) {
  (void)state;
  char buf[128];
  unsetenv("RUNTIME_DIRECTORY");
  assert_int_equal(imsec_ctl_default_path("pcscf", buf, sizeof(buf)), 0);
  assert_string_equal(buf, "");
  setenv("RUNTIME_DIRECTORY", "/run/imsec:/run/other", 1);
  assert_int_equal(imsec_ctl_default_path("pcscf", buf, sizeof(buf)),
                   strlen("/run/imsec/pcscf.ctl"));
  assert_string_equal(buf, "/run/imsec/pcscf.ctl");
  unsetenv("RUNTIME_DIRECTORY");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_silent_client),
      cmocka_unit_test(test_stale_and_busy),
      cmocka_unit_test(test_stop_from_after),
      cmocka_unit_test(test_default_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
