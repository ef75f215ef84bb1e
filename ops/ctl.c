/*
 * The control socket (include/imsec/ops.h): a Unix stream socket, mode
 * 0600, answering one command per connection on a thread of its own, and
 * the client `imsec ctl` talks to it with.
 *
 * Wire: the client writes one line "imsec-ctl 1 FORMAT COMMAND [ARG]\n";
 * the server answers "ok\n" and the body, or "error\n" and one line, and
 * closes. One command per connection keeps both ends trivial: no framing
 * beyond the first line, the end of the body is the end of the stream.
 *
 * Who may ask: the socket file is 0600 (its owner and root); a peer whose
 * credentials (SO_PEERCRED) say another user is refused as well, so a
 * socket placed in a directory with laxer rules is no wider open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
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

/* The request line is short: a command and one argument. */
#define CTL_LINE_MAX 512
/* How long a connected peer may take to send its line: a stuck or idle
 * client must not hold the (single) control thread. */
#define CTL_READ_MS 2000
/* And to take the answer. */
#define CTL_WRITE_MS 5000

struct imsec_ctl {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int fd;
  int stop_pipe[2];
  dev_t dev; /* the socket file we made: unlinked at stop only if it */
  ino_t ino; /* is still ours (a successor may have replaced it) */
  imsec_ctl_fn fn;
  void *arg;
  pthread_t thread;
  /* Stopped from its own thread (a handler's `after` ending the daemon):
   * the thread frees what is left once `after` returns. */
  atomic_int orphan;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fill_addr(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(sa->sun_path))
    return -1;
  memcpy(sa->sun_path, path, n + 1);
  return 0;
}

/* Wait for fd to be ready for `events` until the monotonic deadline.
 * Returns 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0)
      return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

static int write_all(int fd, const char *p, size_t n, int64_t deadline) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_fd(fd, POLLOUT, deadline) <= 0)
        return -1;
      continue;
    }
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- server */

/* Split the request line into its words. Returns 0, or -1 with why in
 * `why` (the answer's error line). */
static int parse_request(char *line, imsec_ctl_request *rq, const char **why) {
  char *w[6];
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " ", &save); t;
       t = strtok_r(NULL, " ", &save)) {
    if (n == sizeof(w) / sizeof(w[0])) {
      *why = "too many words in the request";
      return -1;
    }
    w[n++] = t;
  }
  if (n < 4 || strcmp(w[0], "imsec-ctl") != 0) {
    *why = "not an imsec-ctl request";
    return -1;
  }
  if (strcmp(w[1], "1") != 0) {
    *why = "unsupported imsec-ctl protocol version (this daemon speaks 1)";
    return -1;
  }
  if (strcmp(w[2], "text") == 0)
    rq->json = 0;
  else if (strcmp(w[2], "json") == 0)
    rq->json = 1;
  else {
    *why = "the format must be text or json";
    return -1;
  }
  if (n > 5) {
    *why = "a command takes at most one argument";
    return -1;
  }
  rq->cmd = w[3];
  rq->arg = n == 5 ? w[4] : NULL;
  return 0;
}

/* Read the request line: up to '\n', at most CTL_LINE_MAX octets, within
 * CTL_READ_MS. Returns its length (NUL-terminated, no newline) or -1. */
static ssize_t read_line(int fd, char *buf, size_t cap) {
  int64_t deadline = mono_ms() + CTL_READ_MS;
  size_t len = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
    if (r > 0) {
      char *nl = memchr(buf + len, '\n', (size_t)r);
      len += (size_t)r;
      if (nl) {
        *nl = 0;
        return nl - buf;
      }
      if (len >= cap - 1)
        return -1;
      continue;
    }
    if (r == 0)
      return -1; /* closed before a whole line */
    if (errno == EINTR)
      continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
        wait_fd(fd, POLLIN, deadline) <= 0)
      return -1;
  }
}

/* The peer is this process's user or root (the file's mode says the same;
 * this holds wherever the socket was put). */
static int peer_allowed(int fd) {
  struct ucred cr;
  socklen_t len = sizeof(cr);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
    return 0;
  return cr.uid == 0 || cr.uid == geteuid();
}

static void serve_one(imsec_ctl *c, int fd) {
  char line[CTL_LINE_MAX];
  imsec_buf out = {0};
  void (*after)(void *) = NULL;
  const char *why = NULL;
  int rc = 0;
  imsec_ctl_request rq = {0};
  if (!peer_allowed(fd)) {
    why = "permission denied";
  } else if (read_line(fd, line, sizeof(line)) < 0) {
    close(fd);
    return; /* nothing sensible to answer */
  } else if (parse_request(line, &rq, &why) == 0) {
    rc = c->fn(c->arg, &rq, &out, &after);
  }
  int64_t deadline = mono_ms() + CTL_WRITE_MS;
  if (why) {
    (void)write_all(fd, "error\n", 6, deadline);
    (void)write_all(fd, why, strlen(why), deadline);
    (void)write_all(fd, "\n", 1, deadline);
  } else if (rc < 0 || out.err) {
    /* One line: the first of what the handler said. */
    const char *msg = out.err   ? "out of memory"
                      : out.len ? out.p
                                : imsec_strerror(rc);
    size_t n = strcspn(msg, "\r\n");
    (void)write_all(fd, "error\n", 6, deadline);
    (void)write_all(fd, msg, n, deadline);
    (void)write_all(fd, "\n", 1, deadline);
  } else {
    (void)write_all(fd, "ok\n", 3, deadline);
    if (out.len)
      (void)write_all(fd, out.p, out.len, deadline);
  }
  imsec_buf_free(&out);
  /* The client reads to the end of the stream: closing is the end of the
   * body. Closed before `after`, so a drain's answer is complete while
   * the daemon winds down. */
  shutdown(fd, SHUT_WR);
  close(fd);
  if (after && rc >= 0 && !why)
    after(c->arg);
}

static void *ctl_thread(void *arg) {
  imsec_ctl *c = arg;
  for (;;) {
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                          {.fd = c->stop_pipe[0], .events = POLLIN}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno != EINTR)
      break;
    if (n <= 0)
      continue;
    if (p[1].revents)
      break;
    if (p[0].revents & POLLIN) {
      int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0)
        serve_one(c, fd);
    }
    if (atomic_load(&c->orphan)) {
      close(c->fd);
      close(c->stop_pipe[0]);
      close(c->stop_pipe[1]);
      free(c);
      break;
    }
  }
  return NULL;
}

static int say(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *err, size_t cap, int code, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* Whether a daemon answers on path: a connect that succeeds. */
static int someone_listens(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int ok = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
  int e = errno;
  close(fd);
  /* EAGAIN: the backlog is full; someone is there. */
  return ok || e == EAGAIN;
}

/* Bind the socket: a stale file nobody answers on (a daemon that was
 * killed) is replaced; a live one is somebody else's. */
static int bind_path(int fd, const struct sockaddr_un *sa, const char *path,
                     char *err, size_t cap) {
  if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
    return 0;
  if (errno != EADDRINUSE)
    return say(err, cap, IMSEC_ERR_IO, "control socket %s: %s", path,
               strerror(errno));
  struct stat st;
  if (lstat(path, &st) != 0)
    return say(err, cap, IMSEC_ERR_IO, "control socket %s: %s", path,
               strerror(errno));
  if (!S_ISSOCK(st.st_mode))
    return say(err, cap, IMSEC_ERR_IO,
               "control socket %s: the path exists and is not a socket", path);
  if (someone_listens(sa))
    return say(err, cap, IMSEC_ERR_BUSY,
               "control socket %s: another daemon answers on it", path);
  if (unlink(path) != 0 && errno != ENOENT)
    return say(err, cap, IMSEC_ERR_IO,
               "control socket %s: stale, cannot "
               "remove it: %s",
               path, strerror(errno));
  if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
    return say(err, cap, errno == EADDRINUSE ? IMSEC_ERR_BUSY : IMSEC_ERR_IO,
               "control socket %s: %s", path, strerror(errno));
  return 0;
}

int imsec_ctl_start(imsec_ctl **out, const char *path, imsec_ctl_fn fn,
                    void *arg, char *err, size_t errcap) {
  if (err && errcap)
    err[0] = 0;
  if (!out || !path || !fn)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  struct sockaddr_un sa;
  if (fill_addr(&sa, path) < 0)
    return say(err, errcap, IMSEC_ERR_IO,
               "control socket '%s': empty or longer than %zu octets", path,
               sizeof(sa.sun_path) - 1);
  imsec_ctl *c = calloc(1, sizeof(*c));
  if (!c)
    return IMSEC_ERR_NOMEM;
  memcpy(c->path, sa.sun_path, sizeof(c->path));
  c->fn = fn;
  c->arg = arg;
  c->stop_pipe[0] = c->stop_pipe[1] = -1;
  int rc;
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    rc = say(err, errcap, IMSEC_ERR_IO, "control socket: %s", strerror(errno));
    goto fail_socket;
  }
  if ((rc = bind_path(c->fd, &sa, path, err, errcap)) != 0)
    goto fail_bind;
  /* 0600 before listen(): until then nobody can connect, so the umask's
   * mode in between lets no one in. */
  struct stat st;
  if (chmod(path, 0600) != 0 || lstat(path, &st) != 0) {
    rc = say(err, errcap, IMSEC_ERR_IO, "control socket %s: %s", path,
             strerror(errno));
    goto fail_bound;
  }
  c->dev = st.st_dev;
  c->ino = st.st_ino;
  if (listen(c->fd, 16) != 0) {
    rc = say(err, errcap, IMSEC_ERR_IO, "control socket %s: %s", path,
             strerror(errno));
    goto fail_bound;
  }
  if (pipe2(c->stop_pipe, O_CLOEXEC) != 0) {
    rc = say(err, errcap, IMSEC_ERR_IO, "control socket: %s", strerror(errno));
    goto fail_bound;
  }
  if (pthread_create(&c->thread, NULL, ctl_thread, c) != 0) {
    rc = say(err, errcap, IMSEC_ERR_IO,
             "control socket: cannot start its "
             "thread");
    goto fail_pipe;
  }
  *out = c;
  return 0;

fail_pipe:
  close(c->stop_pipe[0]);
  close(c->stop_pipe[1]);
fail_bound:
  unlink(path);
fail_bind:
  close(c->fd);
fail_socket:
  free(c);
  return rc;
}

void imsec_ctl_stop(imsec_ctl *c) {
  if (!c)
    return;
  struct stat st;
  if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
    unlink(c->path);
  if (pthread_equal(pthread_self(), c->thread)) {
    /* From the control thread itself (a handler's `after` ending the
     * daemon on that thread): nothing to join; the thread frees the rest
     * once the handler returns. */
    pthread_detach(c->thread);
    atomic_store(&c->orphan, 1);
    return;
  }
  char b = 1;
  ssize_t w = write(c->stop_pipe[1], &b, 1);
  (void)w;
  pthread_join(c->thread, NULL);
  close(c->fd);
  close(c->stop_pipe[0]);
  close(c->stop_pipe[1]);
  free(c);
}

/* ------------------------------------------------------------- client */

/* A word of the request line: printable, no space. */
static int word_ok(const char *s) {
  if (!s || !s[0] || strlen(s) > 128)
    return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= ' ' || *p >= 0x7f)
      return 0;
  return 1;
}

int imsec_ctl_query(const char *path, const imsec_ctl_request *rq,
                    int64_t timeout_ms, imsec_buf *out, char *err,
                    size_t errcap) {
  if (err && errcap)
    err[0] = 0;
  if (!path || !rq || !out)
    return IMSEC_ERR_INVAL;
  if (!word_ok(rq->cmd) || (rq->arg && !word_ok(rq->arg)))
    return say(err, errcap, IMSEC_ERR_INVAL,
               "a command and its argument are single words");
  struct sockaddr_un sa;
  if (fill_addr(&sa, path) < 0)
    return say(err, errcap, IMSEC_ERR_INVAL,
               "socket path '%s': empty or longer than %zu octets", path,
               sizeof(sa.sun_path) - 1);
  int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return say(err, errcap, IMSEC_ERR_IO, "socket: %s", strerror(errno));
  int rc;
  if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int e = errno;
    if (e == EAGAIN || e == EINPROGRESS) {
      /* A full backlog: wait for room. */
      if (wait_fd(fd, POLLOUT, deadline) > 0) {
        socklen_t l = sizeof(e);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
          e = errno;
      } else {
        e = ETIMEDOUT;
      }
    }
    if (e) {
      close(fd);
      if (e == ENOENT)
        return say(err, errcap, IMSEC_ERR_IO,
                   "no control socket at %s (is the daemon running with "
                   "--ctl-socket?)",
                   path);
      if (e == ECONNREFUSED)
        return say(err, errcap, IMSEC_ERR_IO,
                   "nobody answers on %s (a stale socket?)", path);
      return say(err, errcap, IMSEC_ERR_IO, "cannot connect to %s: %s", path,
                 strerror(e));
    }
  }
  char line[CTL_LINE_MAX];
  int n = snprintf(line, sizeof(line), "imsec-ctl 1 %s %s%s%s\n",
                   rq->json ? "json" : "text", rq->cmd, rq->arg ? " " : "",
                   rq->arg ? rq->arg : "");
  if (n < 0 || (size_t)n >= sizeof(line)) {
    close(fd);
    return say(err, errcap, IMSEC_ERR_INVAL, "request too long");
  }
  if (write_all(fd, line, (size_t)n, deadline) != 0) {
    rc = say(err, errcap, IMSEC_ERR_IO, "%s: cannot send the request: %s", path,
             errno ? strerror(errno) : "timed out");
    close(fd);
    return rc;
  }
  imsec_buf got = {0};
  for (;;) {
    char buf[4096];
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r > 0) {
      if (imsec_buf_add(&got, buf, (size_t)r) < 0)
        break;
      continue;
    }
    if (r == 0)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = wait_fd(fd, POLLIN, deadline);
      if (w > 0)
        continue;
      rc = say(err, errcap, IMSEC_ERR_TIMEOUT, "%s: no answer within %lld ms",
               path, (long long)timeout_ms);
      goto done;
    }
    rc = say(err, errcap, IMSEC_ERR_IO, "%s: %s", path, strerror(errno));
    goto done;
  }
  if (got.err) {
    rc = say(err, errcap, IMSEC_ERR_NOMEM, "out of memory");
    goto done;
  }
  const char *p = got.p ? got.p : "";
  size_t len = got.len;
  if (len >= 3 && memcmp(p, "ok\n", 3) == 0) { /* no secret: protocol */
    rc = imsec_buf_add(out, p + 3, len - 3) < 0 ? IMSEC_ERR_NOMEM : 0;
  } else if (len >= 6 && memcmp(p, "error\n", 6) == 0) { /* no secret */
    size_t m = strcspn(p + 6, "\r\n");
    if (imsec_buf_add(out, p + 6, m) < 0)
      rc = IMSEC_ERR_NOMEM;
    else
      rc = 1;
  } else {
    rc = say(err, errcap, IMSEC_ERR_PARSE,
             "%s: not an imsec control socket answer", path);
  }
done:
  imsec_buf_free(&got);
  close(fd);
  return rc;
}

size_t imsec_ctl_default_path(const char *name, char *buf, size_t cap) {
  if (!buf || !cap)
    return 0;
  buf[0] = 0;
  const char *rt = getenv("RUNTIME_DIRECTORY");
  if (!rt || !rt[0] || !name || !name[0])
    return 0;
  /* systemd joins several RuntimeDirectory= entries with ':': the first
   * is the service's own. */
  size_t dl = strcspn(rt, ":");
  int n = snprintf(buf, cap, "%.*s/%s.ctl", (int)dl, rt, name);
  if (n < 0 || (size_t)n >= cap ||
      (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    buf[0] = 0;
    return 0;
  }
  return (size_t)n;
}
