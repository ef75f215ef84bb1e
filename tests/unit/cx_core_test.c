/* freeDiameter's process core (store/cx_core.h): settings checked before
 * libfdcore is touched, one core per process, a client that opens its
 * HSS peer, notices its loss and reconnects when it comes back. The
 * server side runs in a child process (this program re-executed with
 * --server PORT): libfdcore is one per process. */
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

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "store/cx_core.h"

static char g_self[4096];
/* The server child, killed if a check fails midway. */
static pid_t g_srv;

static int teardown(void **state) {
  (void)state;
  if (g_srv > 0) {
    kill(g_srv, SIGKILL);
    waitpid(g_srv, NULL, 0);
    g_srv = 0;
  }
  return 0;
}

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

/* The Cx application alone: enough for the capabilities exchange. */
static int define_app(void *arg, char *err, size_t errcap) {
  (void)arg, (void)err, (void)errcap;
  struct dict_object *app = NULL;
  application_id_t id = IMSEC_CX_APP_ID;
  if (fd_dict_search(fd_g_config->cnf_dict, DICT_APPLICATION, APPLICATION_BY_ID,
                     &id, &app, ENOENT) == 0)
    return 0;
  struct dict_application_data d = {IMSEC_CX_APP_ID, "Cx"};
  return fd_dict_new(fd_g_config->cnf_dict, DICT_APPLICATION, &d, NULL, NULL) ==
                 0
             ? 0
             : IMSEC_ERR_CONFIG;
}

static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
  (void)sig;
  g_stop = 1;
}

/* The child: a Cx server core on 127.0.0.1:port until SIGTERM. */
static int run_server(const char *port) {
  char addr[64];
  snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%s", port);
  imsec_cx_config c;
  memset(&c, 0, sizeof(c));
  c.identity = "hss.test.example";
  c.realm = "test.example";
  c.addr = addr;
  signal(SIGTERM, on_term);
  char err[256];
  int rv = imsec_cx_core_start(&c, IMSEC_CX_ROLE_SERVER, define_app, NULL, err,
                               sizeof(err));
  if (rv) {
    fprintf(stderr, "server: %s (%d)\n", err, rv);
    return 1;
  }
  while (!g_stop)
    sleep_ms(20);
  imsec_cx_core_stop();
  return 0;
}

static pid_t spawn_server(uint16_t port) {
  char ps[16];
  snprintf(ps, sizeof(ps), "%u", (unsigned)port);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(g_self, g_self, "--server", ps, (char *)NULL);
    _exit(127);
  }
  g_srv = pid;
  return pid;
}

static int wait_open(int want, int ms) {
  int64_t end = mono_ms() + ms;
  while (mono_ms() < end) {
    if (imsec_cx_core_peer_open() == want)
      return 1;
    sleep_ms(20);
  }
  return 0;
}

static void test_addr_parse(void **state) {
  (void)state;
  imsec_cx_addr a;
  assert_int_equal(imsec_cx_addr_parse("tcp:127.0.0.1:3868", &a), 0);
  assert_int_equal(a.tls, 0);
  assert_string_equal(a.host, "127.0.0.1");
  assert_int_equal(a.port, 3868);
  assert_int_equal(imsec_cx_addr_parse("tls:[::1]:5658", &a), 0);
  assert_int_equal(a.tls, 1);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 5658);
  assert_int_equal(imsec_cx_addr_parse("tls:hss.example.org:1", &a), 0);
  static const char *const bad[] = {
      "",           "tcp:",          "tcp:host",    "tcp::3868",
      "udp:h:1",    "tcp:h:0",       "tcp:h:65536", "tcp:h:12x",
      "tcp:h\"x:1", "tcp:[::1:3868", "tcp:h:",      NULL};
  for (size_t i = 0; bad[i]; i++)
    assert_int_equal(imsec_cx_addr_parse(bad[i], &a), IMSEC_ERR_CONFIG);
  assert_int_equal(imsec_cx_addr_parse(NULL, &a), IMSEC_ERR_CONFIG);
}

/* Settings are refused before libfdcore is touched: the process can
 * still start its one core afterwards (the test after this one does). */
static void test_bad_settings(void **state) {
  (void)state;
  char err[256];
  imsec_cx_config c;
  memset(&c, 0, sizeof(c));
  c.identity = "scscf.test.example";
  c.realm = "test.example";
  c.addr = "tcp:127.0.0.1:3868";
  c.identity = "bad\"id";
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "identity"));
  c.identity = "scscf.test.example";
  c.realm = "";
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  c.realm = "test.example";
  c.addr = "diameter:127.0.0.1:3868";
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  /* RFC 6733 §13: TLS needs this side's certificate and the CA. */
  c.addr = "tls:127.0.0.1:5658";
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  c.cert = "/nonexistent/cert.pem";
  c.key = "/nonexistent/key.pem";
  c.ca = "/nonexistent/ca.pem";
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_CONFIG);
  assert_false(imsec_cx_core_running());
  assert_null(imsec_cx_core_identity());
  assert_false(imsec_cx_core_peer_open());
}

/* The client opens its HSS peer once the HSS is there, sees it go when
 * the HSS is killed, and opens it again by itself when an HSS comes back on the
 * same address (RFC 6733 §2.1, §5.6: a configured peer is retried every Tc). */
static void test_client_reconnects(void **state) {
  (void)state;
  uint16_t port = free_port();
  char addr[64];
  snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%u", (unsigned)port);
  imsec_cx_config c;
  memset(&c, 0, sizeof(c));
  c.identity = "scscf.test.example";
  c.realm = "test.example";
  c.addr = addr;
  c.peer_identity = "hss.test.example";
  char err[256];
  int rv = imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, define_app, NULL, err,
                               sizeof(err));
  if (rv)
    fprintf(stderr, "client: %s\n", err);
  assert_int_equal(rv, 0);
  assert_true(imsec_cx_core_running());
  assert_string_equal(imsec_cx_core_identity(), "scscf.test.example");
  assert_string_equal(imsec_cx_core_peer_identity(), "hss.test.example");
  assert_string_equal(imsec_cx_core_peer_realm(), "test.example");
  /* No HSS yet: the start returned after the first attempt failed, and
   * the peer opens once an HSS listens. */
  assert_false(imsec_cx_core_peer_open());
  pid_t srv = spawn_server(port);
  assert_true(wait_open(1, 10000));

  /* One core per process. */
  assert_int_equal(imsec_cx_core_start(&c, IMSEC_CX_ROLE_CLIENT, NULL, NULL,
                                       err, sizeof(err)),
                   IMSEC_ERR_STATE);

  kill(srv, SIGKILL);
  waitpid(srv, NULL, 0);
  g_srv = 0;
  assert_true(wait_open(0, 5000));

  srv = spawn_server(port);
  assert_true(wait_open(1, 10000));

  imsec_cx_core_stop();
  assert_false(imsec_cx_core_running());
  assert_false(imsec_cx_core_peer_open());
  imsec_cx_core_stop(); /* a second stop does nothing */
  kill(srv, SIGTERM);
  int st = 0;
  waitpid(srv, &st, 0);
  g_srv = 0;
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(int argc, char **argv) {
  if (getenv("IMSEC_CX_DEBUG"))
    imsec_cx_core_log_level(2);
  if (argc == 3 && strcmp(argv[1], "--server") == 0)
    return run_server(argv[2]);
  ssize_t n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
  if (n <= 0)
    return 1;
  g_self[n] = '\0';
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addr_parse),
      cmocka_unit_test(test_bad_settings),
      cmocka_unit_test_teardown(test_client_reconnects, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
