/* ops/http.c: GET /metrics over libmicrohttpd on loopback, with a fake
 * collector; the body passes `promtool check metrics` when it is
 * installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "imsec/ops.h"
#include "test_util.h"

typedef struct fake {
  int calls;
  int fail;
} fake;

static int collect(void *arg, imsec_metrics *m) {
  fake *f = arg;
  f->calls++;
  if (f->fail)
    return IMSEC_ERR_IO;
  imsec_hist h = {0};
  imsec_hist_observe(&h, 0.0003);
  imsec_hist_observe(&h, 0.2);
  imsec_hist_observe(&h, 42);
  imsec_metrics_declare(m, "imsec_flows_open", IMSEC_METRIC_GAUGE,
                        "Flows open now.");
  imsec_metrics_add(m, "imsec_flows_open", 3, "transport", "tls", "mode",
                    "mutual_tls", NULL);
  imsec_metrics_declare(m, "imsec_sip_requests_total", IMSEC_METRIC_COUNTER,
                        "SIP requests.");
  imsec_metrics_add(m, "imsec_sip_requests_total", 7, "direction", "in",
                    "method", "REGISTER", NULL);
  imsec_metrics_declare(m, "imsec_tls_handshake_duration_seconds",
                        IMSEC_METRIC_HISTOGRAM, "TLS handshake time.");
  imsec_metrics_add_hist(m, "imsec_tls_handshake_duration_seconds", &h,
                         "transport", "tls", NULL);
  return 0;
}

/* One HTTP/1.0 exchange on 127.0.0.1:port (or [::1]): the whole answer,
 * NUL-terminated, in a malloc'd buffer. */
static char *http(int family, uint16_t port, const char *request) {
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } a;
  socklen_t alen;
  memset(&a, 0, sizeof a);
  if (family == AF_INET6) {
    a.in6.sin6_family = AF_INET6;
    a.in6.sin6_port = htons(port);
    a.in6.sin6_addr = in6addr_loopback;
    alen = sizeof a.in6;
  } else {
    a.in.sin_family = AF_INET;
    a.in.sin_port = htons(port);
    a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    alen = sizeof a.in;
  }
  int fd = socket(family, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  assert_int_equal(connect(fd, &a.sa, alen), 0);
  size_t len = strlen(request);
  assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  for (;;) {
    if (n + 1 == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    assert_true(r >= 0); /* not a timeout */
    if (r == 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  close(fd);
  return buf;
}

static int status_of(const char *resp) {
  int code = 0;
  assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", &code), 1);
  return code;
}

static const char *body_of(const char *resp) {
  const char *b = strstr(resp, "\r\n\r\n");
  assert_non_null(b);
  return b + 4;
}

static void scrape(void **state) {
  (void)state;
  fake f = {0};
  imsec_metrics_http *h = NULL;
  char err[256] = "";
  assert_int_equal(imsec_metrics_http_start(&h, "tcp:127.0.0.1:0", collect, &f,
                                            err, sizeof err),
                   0);
  uint16_t port = imsec_metrics_http_port(h);
  assert_true(port != 0);

  char *r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 200);
  assert_non_null(
      strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  const char *b = body_of(r);
  assert_non_null(strstr(b, "# TYPE imsec_flows_open gauge\n"
                            "imsec_flows_open{transport=\"tls\","
                            "mode=\"mutual_tls\"} 3\n"));
  assert_non_null(strstr(b, "imsec_sip_requests_total{direction=\"in\","
                            "method=\"REGISTER\"} 7\n"));
  assert_non_null(strstr(b, "imsec_tls_handshake_duration_seconds_bucket{"
                            "transport=\"tls\",le=\"+Inf\"} 3\n"));
  /* The process's own figures come with every scrape. */
  assert_non_null(strstr(b, "# TYPE process_cpu_seconds_total counter\n"));
  assert_non_null(strstr(b, "\nprocess_open_fds "));
  assert_non_null(strstr(b, "\nprocess_max_fds "));
  assert_non_null(strstr(b, "\nprocess_resident_memory_bytes "));
  assert_non_null(strstr(b, "\nprocess_virtual_memory_bytes "));
  assert_non_null(strstr(b, "\nprocess_start_time_seconds "));
  assert_non_null(strstr(b, "\nimsec_build_info{version=\""));
  assert_int_equal(f.calls, 1);

  /* The body passes Prometheus's own checker, lint included. */
  char out[4096] = "";
  if (t_sh(NULL, 0, "command -v promtool >/dev/null") == 0) {
    char path[] = "/tmp/imsec-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, strlen(b)), (ssize_t)strlen(b));
    close(fd);
    int rc = t_sh(out, sizeof out, "promtool check metrics < %s", path);
    unlink(path);
    if (rc != 0 || out[0])
      fprintf(stderr, "promtool (exit %d): %s\n", rc, out);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
  }
  free(r);

  /* HEAD: the headers only. */
  r = http(AF_INET, port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 200);
  assert_string_equal(body_of(r), "");
  free(r);

  r = http(AF_INET, port, "GET / HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 404);
  free(r);
  r = http(AF_INET, port, "GET /metrics/x HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 404);
  free(r);
  /* RFC 9110 §15.5.6: 405 with Allow. */
  r = http(AF_INET, port,
           "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(status_of(r), 405);
  assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
  free(r);
  r = http(AF_INET, port, "DELETE /metrics HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 405);
  free(r);

  /* A collector that fails is a 500, not a half-empty page. */
  f.fail = 1;
  r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 500);
  free(r);

  imsec_metrics_http_stop(h);
}

static void ipv6(void **state) {
  (void)state;
  fake f = {0};
  imsec_metrics_http *h = NULL;
  char err[256] = "";
  int rc =
      imsec_metrics_http_start(&h, "tcp:[::1]:0", collect, &f, err, sizeof err);
  if (rc == IMSEC_ERR_IO && strstr(err, "cannot listen")) {
    /* no IPv6 loopback on this machine */
    skip();
  }
  assert_int_equal(rc, 0);
  char *r = http(AF_INET6, imsec_metrics_http_port(h),
                 "GET /metrics HTTP/1.0\r\n\r\n");
  assert_int_equal(status_of(r), 200);
  free(r);
  imsec_metrics_http_stop(h);
}

static void bad_addresses(void **state) {
  (void)state;
  imsec_metrics_http *h = (imsec_metrics_http *)1;
  char err[256];
  static const char *const bad[] = {"127.0.0.1:9100",
                                    "tls:127.0.0.1:9100",
                                    "udp:127.0.0.1:9100",
                                    "tcp:localhost:9100",
                                    "tcp:127.0.0.1",
                                    "tcp:127.0.0.1:99999",
                                    ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(
        imsec_metrics_http_start(&h, bad[i], collect, NULL, err, sizeof err),
        IMSEC_ERR_PARSE);
    assert_null(h);
    assert_true(err[0] != '\0');
  }

  /* The port taken: IMSEC_ERR_IO and why. */
  imsec_metrics_http *a = NULL;
  assert_int_equal(imsec_metrics_http_start(&a, "tcp:127.0.0.1:0", collect,
                                            NULL, err, sizeof err),
                   0);
  char addr[64];
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%u",
           (unsigned)imsec_metrics_http_port(a));
  assert_int_equal(
      imsec_metrics_http_start(&h, addr, collect, NULL, err, sizeof err),
      IMSEC_ERR_IO);
  assert_null(h);
  assert_non_null(strstr(err, strerror(EADDRINUSE)));
  imsec_metrics_http_stop(a);
  imsec_metrics_http_stop(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scrape),
      cmocka_unit_test(ipv6),
      cmocka_unit_test(bad_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
