/* ops/notify.c: sd_notify messages and the watchdog thread, received on a
 * NOTIFY_SOCKET of the test's own (a Unix datagram socket, as systemd
 * listens on). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "imsec/ops.h"
#include "test_util.h"

static char dir[64], path[96];
static int sock = -1;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/imsec-notify-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/notify", dir);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof a) != 0)
    return -1;
  setenv("NOTIFY_SOCKET", path, 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  close(sock);
  unlink(path);
  rmdir(dir);
  unsetenv("NOTIFY_SOCKET");
  return 0;
}

/* The next datagram within ms, NUL-terminated in buf; 0 when none came. */
static int next_msg(char *buf, size_t cap, int ms) {
  struct pollfd p = {.fd = sock, .events = POLLIN};
  if (poll(&p, 1, ms) != 1)
    return 0;
  ssize_t n = recv(sock, buf, cap - 1, 0);
  assert_true(n > 0);
  buf[n] = '\0';
  return 1;
}

static void drain(void) {
  char buf[256];
  while (next_msg(buf, sizeof buf, 0))
    ;
}

static void states(void **state) {
  (void)state;
  char buf[256];
  drain();
  assert_true(imsec_notify("READY=1") > 0);
  assert_true(next_msg(buf, sizeof buf, 1000));
  assert_string_equal(buf, "READY=1");

  /* sd_notify(3): RELOADING=1 carries MONOTONIC_USEC, the reload's start
   * on CLOCK_MONOTONIC. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long before = (unsigned long long)ts.tv_sec * 1000000ULL +
                              (unsigned long long)ts.tv_nsec / 1000ULL;
  assert_true(imsec_notify("RELOADING=1") > 0);
  assert_true(next_msg(buf, sizeof buf, 1000));
  unsigned long long usec = 0;
  assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
  assert_true(usec >= before && usec < before + 5000000ULL);

  /* With a status line too; one MONOTONIC_USEC given is kept as it is. */
  assert_true(imsec_notify("RELOADING=1\nSTATUS=reloading") > 0);
  assert_true(next_msg(buf, sizeof buf, 1000));
  assert_non_null(
      strstr(buf, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC="));
  assert_true(imsec_notify("RELOADING=1\nMONOTONIC_USEC=5") > 0);
  assert_true(next_msg(buf, sizeof buf, 1000));
  assert_string_equal(buf, "RELOADING=1\nMONOTONIC_USEC=5");

  imsec_notify_fn(NULL, "STOPPING=1");
  assert_true(next_msg(buf, sizeof buf, 1000));
  assert_string_equal(buf, "STOPPING=1");

  /* No manager: nothing sent, 0. */
  unsetenv("NOTIFY_SOCKET");
  assert_int_equal(imsec_notify("READY=1"), 0);
  assert_int_equal(imsec_notify("RELOADING=1"), 0);
  setenv("NOTIFY_SOCKET", path, 1);
  assert_false(next_msg(buf, sizeof buf, 50));
}

static int alive_flag;
static int alive(void *arg) {
  (void)arg;
  return alive_flag;
}

static void watchdog(void **state) {
  (void)state;
  char buf[256];
  imsec_watchdog *w = (imsec_watchdog *)1;

  /* Not asked for: no thread. */
  unsetenv("WATCHDOG_USEC");
  assert_int_equal(imsec_watchdog_start(&w, alive, NULL), 0);
  assert_null(w);
  /* Asked for another process (sd_watchdog_enabled(3)). */
  setenv("WATCHDOG_USEC", "100000", 1);
  char pid[32];
  snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
  setenv("WATCHDOG_PID", pid, 1);
  assert_int_equal(imsec_watchdog_start(&w, alive, NULL), 0);
  assert_null(w);
  unsetenv("WATCHDOG_PID");

  /* 100 ms asked: a ping every 50 ms while the loop answers. */
  drain();
  alive_flag = 0;
  assert_int_equal(imsec_watchdog_start(&w, alive, NULL), 0);
  assert_non_null(w);
  int pings = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (pings < 4 && next_msg(buf, sizeof buf, 1000)) {
    assert_string_equal(buf, "WATCHDOG=1");
    pings++;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(pings, 4);
  /* the first at once, three more a half period apart */
  double took =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(took > 0.12 && took < 2.0);

  /* A loop that stops answering stops the pings. */
  alive_flag = -1;
  next_msg(buf, sizeof buf, 60); /* one may have been under way */
  drain();
  assert_false(next_msg(buf, sizeof buf, 200));
  alive_flag = 0;
  assert_true(next_msg(buf, sizeof buf, 1000));
  assert_string_equal(buf, "WATCHDOG=1");

  imsec_watchdog_stop(w);
  drain();
  assert_false(next_msg(buf, sizeof buf, 120));

  /* Stopping is prompt, not a period late: with 10 s asked, a ping comes
   * at once, the next would come in 5 s. */
  setenv("WATCHDOG_USEC", "10000000", 1);
  assert_int_equal(imsec_watchdog_start(&w, alive, NULL), 0);
  assert_non_null(w);
  assert_true(next_msg(buf, sizeof buf, 1000));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  imsec_watchdog_stop(w);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  took =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(took < 1.0);
  imsec_watchdog_stop(NULL);
  unsetenv("WATCHDOG_USEC");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(states),
      cmocka_unit_test(watchdog),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
