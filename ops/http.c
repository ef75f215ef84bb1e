/*
 * GET /metrics over HTTP for Prometheus (include/imsec/ops.h), served by
 * libmicrohttpd on a thread of its own. The listening socket is made
 * here, so that a failure says exactly why (address in use, no such
 * address) and port 0 can be read back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imsec/elem.h"
#include "imsec/ops.h"

struct imsec_metrics_http {
  struct MHD_Daemon *d;
  imsec_collect_fn collect;
  void *arg;
  uint16_t port;
};

/* The exposition format's media type (Prometheus text format 0.0.4). */
static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, const char *body, size_t len,
                             const char *allow) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (allow)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *msg, const char *allow) {
  return reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg), allow);
}

/* One scrape: the daemon's collector, then the process's figures, in the
 * text format. */
static enum MHD_Result scrape(imsec_metrics_http *h, struct MHD_Connection *c) {
  imsec_metrics m = {0};
  imsec_buf out = {0};
  enum MHD_Result ret;
  int rc = h->collect ? h->collect(h->arg, &m) : 0;
  if (rc >= 0) {
    imsec_process_metrics(&m);
    rc = m.err ? m.err : imsec_metrics_render_text(&m, &out);
  }
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "collecting metrics failed: %s\n",
             imsec_strerror(rc));
    ret = reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg, NULL);
  } else {
    ret =
        reply(c, MHD_HTTP_OK, content_type, out.p ? out.p : "", out.len, NULL);
  }
  imsec_buf_free(&out);
  imsec_metrics_free(&m);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls) {
  imsec_metrics_http *h = cls;
  (void)version, (void)upload, (void)upload_len, (void)con_cls;
  /* A query string is no part of the path (RFC 3986 §3.4); libmicrohttpd
   * has already split it off. Prometheus adds none. */
  if (strcmp(url, "/metrics") != 0)
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
  /* RFC 9110 §15.5.6: a 405 lists the methods the resource has. HEAD is
   * GET without the body; libmicrohttpd leaves the body out itself. */
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "method not allowed: GET /metrics\n", "GET, HEAD");
  return scrape(h, c);
}

static void set_err(char *err, size_t cap, const char *addr, const char *what,
                    int e) {
  if (err && cap)
    snprintf(err, cap, "metrics on %s: %s%s%s", addr, what, e ? ": " : "",
             e ? strerror(e) : "");
}

int imsec_metrics_http_start(imsec_metrics_http **out, const char *addr,
                             imsec_collect_fn collect, void *arg, char *err,
                             size_t errcap) {
  imsec_addr a;
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  } sa;
  socklen_t salen;
  *out = NULL;
  if (!addr || imsec_addr_parse_listen(imsec_str_c(addr), &a) != 0 ||
      a.tp != IMSEC_TP_TCP) {
    set_err(err, errcap, addr ? addr : "(none)",
            "expected tcp:HOST:PORT with an IP address", 0);
    return IMSEC_ERR_PARSE;
  }
  memset(&sa, 0, sizeof sa);
  if (inet_pton(AF_INET, a.host, &sa.in.sin_addr) == 1) {
    sa.in.sin_family = AF_INET;
    sa.in.sin_port = htons(a.port);
    salen = sizeof sa.in;
  } else if (inet_pton(AF_INET6, a.host, &sa.in6.sin6_addr) == 1) {
    sa.in6.sin6_family = AF_INET6;
    sa.in6.sin6_port = htons(a.port);
    salen = sizeof sa.in6;
  } else {
    set_err(err, errcap, addr, "the host must be an IP address", 0);
    return IMSEC_ERR_PARSE;
  }

  int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    set_err(err, errcap, addr, "socket", errno);
    return IMSEC_ERR_IO;
  }
  int one = 1;
  /* A restart must not wait out TIME_WAIT of the last scrape. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* [::1] means that address only, not the IPv4 space too. */
  if (sa.sa.sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, &sa.sa, salen) != 0 || listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    set_err(err, errcap, addr, "cannot listen", e);
    return IMSEC_ERR_IO;
  }
  salen = sizeof sa;
  if (getsockname(fd, &sa.sa, &salen) != 0) {
    int e = errno;
    close(fd);
    set_err(err, errcap, addr, "getsockname", e);
    return IMSEC_ERR_IO;
  }

  imsec_metrics_http *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    set_err(err, errcap, addr, "out of memory", 0);
    return IMSEC_ERR_NOMEM;
  }
  h->collect = collect;
  h->arg = arg;
  h->port =
      ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);
  /* One internal thread polls every connection, so scrapes (and the
   * collector) run one at a time; a stalled client is dropped after 10 s
   * and a flood of them is capped rather than served. */
  h->d = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD |
          (sa.sa.sa_family == AF_INET6 ? MHD_USE_IPv6 : 0),
      0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)32, MHD_OPTION_END);
  if (!h->d) {
    /* Whether libmicrohttpd closed fd on this path depends on where it
     * failed; leave it rather than risk closing a descriptor another
     * thread has since been given. */
    free(h);
    set_err(err, errcap, addr, "libmicrohttpd would not start", 0);
    return IMSEC_ERR_IO;
  }
  *out = h;
  return 0;
}

uint16_t imsec_metrics_http_port(const imsec_metrics_http *h) {
  return h ? h->port : 0;
}

void imsec_metrics_http_stop(imsec_metrics_http *h) {
  if (!h)
    return;
  /* Joins the server's thread and closes the listening socket. */
  MHD_stop_daemon(h->d);
  free(h);
}
