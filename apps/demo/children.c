/* imsec demo: the child processes (demo.h). Each is /proc/self/exe with a
 * subcommand, its stdout and stderr on one pipe read by one thread; each
 * is stopped by its pid at the end, also on failure or SIGINT/SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

#define MAX_CHILDREN 32
#define CHILD_TAIL 64

struct child {
  char name[32];
  pid_t pid;
  int fd; /* its stdout+stderr */
  char buf[4096];
  size_t len;
  char tail[CHILD_TAIL][256]; /* last log lines: a failure report, and
                                 what a scene shows of a daemon's words */
  size_t ntail;
  int reaped, status;
};

static child g_ch[MAX_CHILDREN];
static size_t g_nch;
static pthread_mutex_t g_ch_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t g_stop_reader;
static pthread_t g_reader;
static int g_reader_on;
static char g_self[4096];

int children_init(void) {
  ssize_t sl = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
  if (sl <= 0)
    return -1;
  g_self[sl] = 0;
  return 0;
}

static void child_line(child *c, const char *line) {
  if (ladder_parse(c->name, line))
    return;
  snprintf(c->tail[c->ntail % CHILD_TAIL], sizeof c->tail[0], "%s", line);
  c->ntail++;
  if (demo_verbose)
    demo_say("    [%s] %s\n", c->name, line);
}

static void child_read(child *c) {
  for (;;) {
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n <= 0)
      return;
    c->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < c->len; i++) {
      if (c->buf[i] == '\n') {
        c->buf[i] = 0;
        child_line(c, c->buf + start);
        start = i + 1;
      }
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    if (c->len == sizeof c->buf - 1) {
      c->buf[c->len] = 0;
      child_line(c, c->buf);
      c->len = 0;
    }
  }
}

static void *reader_main(void *arg) {
  (void)arg;
  while (!g_stop_reader) {
    struct pollfd pf[MAX_CHILDREN];
    size_t map[MAX_CHILDREN], n = 0;
    pthread_mutex_lock(&g_ch_mu);
    for (size_t i = 0; i < g_nch; i++) {
      if (g_ch[i].fd >= 0) {
        pf[n].fd = g_ch[i].fd;
        pf[n].events = POLLIN;
        map[n++] = i;
      }
    }
    pthread_mutex_unlock(&g_ch_mu);
    if (poll(pf, n, 20) <= 0)
      continue;
    pthread_mutex_lock(&g_ch_mu);
    for (size_t k = 0; k < n; k++) {
      child *c = &g_ch[map[k]];
      if (pf[k].revents & POLLIN)
        child_read(c);
      if ((pf[k].revents & (POLLHUP | POLLERR)) && !(pf[k].revents & POLLIN)) {
        close(c->fd);
        c->fd = -1;
      }
    }
    pthread_mutex_unlock(&g_ch_mu);
  }
  return NULL;
}

int children_reader_start(void) {
  if (pthread_create(&g_reader, NULL, reader_main, NULL) != 0)
    return -1;
  g_reader_on = 1;
  return 0;
}

child *child_spawn(const char *name, char *const *argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return NULL;
  pthread_mutex_lock(&g_ch_mu);
  if (g_nch == MAX_CHILDREN) {
    pthread_mutex_unlock(&g_ch_mu);
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  child *c = &g_ch[g_nch];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->fd = -1;
  size_t argc = 0;
  while (argv[argc])
    argc++;
  /* The demo's subscribers are made up and its story names them: its
   * daemons log identities as they are. */
  int daemon = argc > 0 && (strcmp(argv[0], "pcscf") == 0 ||
                            strcmp(argv[0], "scscf") == 0 ||
                            (argc > 1 && strcmp(argv[0], "hss") == 0 &&
                             strcmp(argv[1], "serve") == 0));
  char **full = calloc(argc + 3, sizeof *full);
  if (!full) {
    pthread_mutex_unlock(&g_ch_mu);
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  full[0] = (char *)"imsec";
  for (size_t i = 0; i < argc; i++)
    full[i + 1] = argv[i];
  if (daemon)
    full[argc + 1] = (char *)"--log-identities";
  pid_t pid = fork();
  if (pid == 0) {
    /* Die with the demo, whatever happens to it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(p[1], 1);
    dup2(p[1], 2);
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0)
      dup2(fd, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(g_self, full);
    _exit(127);
  }
  free(full);
  close(p[1]);
  if (pid < 0) {
    pthread_mutex_unlock(&g_ch_mu);
    close(p[0]);
    return NULL;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  c->pid = pid;
  c->fd = p[0];
  g_nch++;
  pthread_mutex_unlock(&g_ch_mu);
  return c;
}

/* Has the child exited? (reaps it) */
static int child_gone(child *c) {
  if (c->reaped)
    return 1;
  int st;
  pid_t r = waitpid(c->pid, &st, WNOHANG);
  if (r == c->pid) {
    c->reaped = 1;
    c->status = st;
    return 1;
  }
  return 0;
}

int child_wait_exit(child *c, int timeout_ms) {
  for (int i = 0; i < timeout_ms / 5 + 1; i++) {
    if (child_gone(c))
      return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128;
    usleep(5000);
  }
  return -1;
}

void child_report(child *c) {
  pthread_mutex_lock(&g_ch_mu);
  if (c->fd >= 0)
    child_read(c);
  size_t first = c->ntail > 8 ? c->ntail - 8 : 0;
  for (size_t i = first; i < c->ntail; i++)
    fprintf(stderr, "    [%s] %s\n", c->name, c->tail[i % CHILD_TAIL]);
  pthread_mutex_unlock(&g_ch_mu);
}

size_t child_log_mark(const char *name) {
  size_t n = 0;
  pthread_mutex_lock(&g_ch_mu);
  for (size_t i = 0; i < g_nch; i++)
    if (strcmp(g_ch[i].name, name) == 0) /* no secret: a name */
      n = g_ch[i].ntail;
  pthread_mutex_unlock(&g_ch_mu);
  return n;
}

int child_log_wait(const char *name, size_t mark, const char *needle,
                   int timeout_ms, char *out, size_t cap) {
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    int found = 0;
    pthread_mutex_lock(&g_ch_mu);
    for (size_t i = 0; i < g_nch && !found; i++) {
      child *c = &g_ch[i];
      if (strcmp(c->name, name) != 0) /* no secret: a name */
        continue;
      size_t first = c->ntail > CHILD_TAIL ? c->ntail - CHILD_TAIL : 0;
      if (first < mark)
        first = mark;
      for (size_t k = first; k < c->ntail && !found; k++)
        if (strstr(c->tail[k % CHILD_TAIL], needle)) {
          snprintf(out, cap, "%s", c->tail[k % CHILD_TAIL]);
          found = 1;
        }
    }
    pthread_mutex_unlock(&g_ch_mu);
    if (found)
      return 1;
    if (imsec_hostnet_now() >= end)
      return 0;
    usleep(5000);
  }
}

void children_stop(void) {
  for (size_t i = 0; i < g_nch; i++)
    if (!g_ch[i].reaped && g_ch[i].pid > 0)
      kill(g_ch[i].pid, SIGTERM);
  for (int t = 0; t < 400; t++) {
    int left = 0;
    for (size_t i = 0; i < g_nch; i++)
      if (!child_gone(&g_ch[i]))
        left++;
    if (!left)
      break;
    usleep(5000);
  }
  for (size_t i = 0; i < g_nch; i++) {
    if (!child_gone(&g_ch[i])) {
      kill(g_ch[i].pid, SIGKILL);
      waitpid(g_ch[i].pid, &g_ch[i].status, 0);
      g_ch[i].reaped = 1;
    }
  }
  if (g_reader_on) {
    g_stop_reader = 1;
    pthread_join(g_reader, NULL);
    g_reader_on = 0;
  }
  for (size_t i = 0; i < g_nch; i++) {
    if (g_ch[i].fd >= 0) {
      child_read(&g_ch[i]);
      close(g_ch[i].fd);
      g_ch[i].fd = -1;
    }
  }
}

/* kill is async-signal-safe. */
void children_on_signal(int sig) {
  for (size_t i = 0; i < g_nch; i++)
    if (g_ch[i].pid > 0 && !g_ch[i].reaped)
      kill(g_ch[i].pid, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

uint16_t free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  uint16_t port = 0;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &al) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

static int port_open(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

/* Start one attempt: fresh ports, its argv, the child. */
static child *daemon_spawn(const daemon_spec *sp) {
  for (size_t i = 0; i < sp->nports; i++)
    sp->ports[i] = free_port();
  char *argv[32];
  if (sp->mk(sp->ctx, sp->ports, argv, 32) != 0)
    return NULL;
  child *c = child_spawn(sp->name, argv);
  if (c)
    for (size_t i = 0; i < sp->nports; i++)
      ladder_port_note(sp->ports[i], sp->name);
  return c;
}

/* 1 when every port of `sp` accepts connections. */
static int daemon_up(const daemon_spec *sp) {
  for (size_t i = 0; i < sp->nports; i++)
    if (!port_open(sp->ports[i]))
      return 0;
  return 1;
}

int start_daemons(daemon_spec *sp, size_t n) {
  child *c[16];
  int up[16], attempt[16];
  if (n > 16)
    return -1;
  for (size_t i = 0; i < n; i++) {
    attempt[i] = 0;
    up[i] = 0;
    if (!(c[i] = daemon_spawn(&sp[i])))
      return -1;
  }
  /* All start at once; each is waited for until its ports accept. */
  int64_t end = imsec_hostnet_now() + DEMO_WAIT_MS;
  for (;;) {
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
      if (up[i])
        continue;
      if (child_gone(c[i])) {
        /* Exited: a port race (retry) or a real error (report after
         * 3). */
        if (++attempt[i] == 3) {
          fprintf(stderr, "imsec demo: %s exited at start (status %d):\n",
                  sp[i].name,
                  WIFEXITED(c[i]->status) ? WEXITSTATUS(c[i]->status) : -1);
          usleep(20000);
          child_report(c[i]);
          return -1;
        }
        if (!(c[i] = daemon_spawn(&sp[i])))
          return -1;
        left++;
        continue;
      }
      if (daemon_up(&sp[i]))
        up[i] = 1;
      else
        left++;
    }
    if (!left)
      break;
    if (imsec_hostnet_now() >= end) {
      for (size_t i = 0; i < n; i++)
        if (!up[i]) {
          fprintf(stderr, "imsec demo: %s did not start listening in time\n",
                  sp[i].name);
          child_report(c[i]);
        }
      return -1;
    }
    usleep(5000);
  }
  /* Another program could hold a port we picked: the child then exits
   * with a bind error; give it a moment to do so. */
  usleep(20000);
  for (size_t i = 0; i < n; i++)
    if (child_gone(c[i])) {
      fprintf(stderr, "imsec demo: %s exited at start:\n", sp[i].name);
      child_report(c[i]);
      return -1;
    }
  return 0;
}

child *start_daemon(const char *name, size_t nports, argv_fn mk, void *ctx,
                    uint16_t *ports) {
  daemon_spec sp = {name, nports, mk, ctx, ports};
  if (start_daemons(&sp, 1) != 0)
    return NULL;
  pthread_mutex_lock(&g_ch_mu);
  child *c = &g_ch[g_nch - 1];
  pthread_mutex_unlock(&g_ch_mu);
  return c;
}
