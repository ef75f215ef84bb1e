/*
 * imsec demo: the whole system on loopback (README `make demo`).
 *
 * A fresh trust-domain PKI (crypto/pki.c) and ISIM profiles in a temporary
 * folder; an HSS database filled with `imsec hss add`; the home network
 * (`imsec scscf` with the HSS, `imsec pcscf`), a visited network (`imsec
 * pcscf` with a roaming partner's certificate) and three rogue P-CSCFs, all
 * real child processes of /proc/self/exe on 127.0.0.1; an S-CSCF of another
 * operator (a tiny in-process element that challenges with its own realm).
 * The UEs run in this process through apps/elemrun (one loop thread each),
 * so every outcome is read from the UE's own state, not from text.
 *
 * Scenes: (1) home registration, (2) roaming registration through the
 * visited P-CSCF, (3) a MESSAGE from UE A delivered to UE B over B's
 * kept-open TLS flow, (4) a sync failure (profile SQN ahead of the HSS) and
 * its recovery on the same TLS connection, (5) rogue P-CSCFs refused with
 * their reasons (a bad certificate before any SIP message is sent to it,
 * a foreign realm at the challenge). A ladder of the messages per scene (the
 * children print machine-readable ladder lines, IMSEC_LADDER=1) and a final
 * table. Exit 0 only when every check held. Every child is stopped by its pid
 * at the end, also on failure or SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "elemrun.h"
#include "imsec/crypto.h"
#include "imsec/ident.h"
#include "imsec/isim.h"
#include "imsec/pki.h"
#include "imsec/sip.h"
#include "imsec/trust.h"
#include "imsec/x509.h"

#if defined(__has_include)
#if __has_include("imsec/ue.h")
#include "imsec/ue.h"
#define DEMO_HAVE_UE 1
#endif
#endif

#define SUB "demo"
/* Helpers only the scenes use (absent in a build without the UE). */
#define DEMO_UNUSED __attribute__((unused))
#define TD "3gppnetwork.org"
#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define VISITED "ims.mnc002.mcc001.3gppnetwork.org"
#define OTHER "ims.mnc003.mcc001.3gppnetwork.org"
#define PCSCF_HOME "pcscf." HOME
#define SCSCF_NODE "scscf." HOME
/* The P-CSCFs' Mw identities (TS 33.310 network-element certificates). */
#define PCSCF_HOME_MW "pcscf-mw." HOME
#define PCSCF_VISITED_MW "pcscf-mw." VISITED
#define PCSCF_VISITED "pcscf." VISITED
#define PCSCF_OTHER "pcscf." OTHER
#define PCSCF_REALM "pcscf2." VISITED
#define PCSCF_OUTSIDE "pcscf.ims.example.net"
#define WAIT_MS 4000
#define MAX_CHILDREN 32
#define MAX_LADDER 4096

static const char help[] =
    "usage: imsec demo [--keep] [--verbose]\n"
    "\n"
    "Run the whole system on loopback and show what happens:\n"
    "  1. a home registration (UE -TLS-> P-CSCF -TCP-> S-CSCF with the HSS)\n"
    "  2. a roaming registration through a visited network's P-CSCF\n"
    "  3. a MESSAGE from UE A delivered to UE B over B's kept-open TLS flow\n"
    "  4. a sync failure (the ISIM's SQN is ahead of the HSS) and its\n"
    "     recovery on the same TLS connection\n"
    "  5. rogue P-CSCFs refused by the UE with their reasons (outside the\n"
    "     trust domain, not a roaming partner: at the TLS handshake, 0\n"
    "     messages sent; realm mismatch: at the challenge)\n"
    "\n"
    "Everything is made fresh in a temporary folder (a trust-domain PKI,\n"
    "ISIM profiles, an HSS database) and removed afterwards unless --keep.\n"
    "The networks are real `imsec scscf` / `imsec pcscf` processes on\n"
    "127.0.0.1; the UEs run inside this process. Prints a ladder of the\n"
    "messages of each scene and a final table.\n"
    "\n"
    "  --keep      leave the temporary folder (its path is printed)\n"
    "  --verbose   also print the children's log lines\n"
    "\n"
    "Exit status: 0 when every scene went as it should, 1 otherwise.\n";

/* ---------------------------------------------------------------- output */

static int g_verbose;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

/* ---------------------------------------------------------------- ladder */

typedef struct ladder_ent {
  int64_t at;
  char who[32];
  int out;
  uint64_t flow;
  uint16_t local_port, peer_port;
  char line[160];
} ladder_ent;

static pthread_mutex_t g_lad_mu = PTHREAD_MUTEX_INITIALIZER;
static ladder_ent g_lad[MAX_LADDER];
static size_t g_nlad;

/* Port -> who, for naming the other end of a ladder line. */
typedef struct port_name {
  uint16_t port;
  char who[32];
} port_name;
static port_name g_ports[512];
static size_t g_nports;

static void port_note(uint16_t port, const char *who) {
  for (size_t i = 0; i < g_nports; i++)
    if (g_ports[i].port == port)
      return;
  if (g_nports < sizeof g_ports / sizeof g_ports[0]) {
    g_ports[g_nports].port = port;
    snprintf(g_ports[g_nports].who, sizeof g_ports[0].who, "%s", who);
    g_nports++;
  }
}

static const char *port_who(uint16_t port) {
  for (size_t i = 0; i < g_nports; i++)
    if (g_ports[i].port == port)
      return g_ports[i].who;
  return "?";
}

static uint16_t addr_port(const char *text) {
  const char *c = strrchr(text, ':');
  return c ? (uint16_t)atoi(c + 1) : 0;
}

static void ladder_add(int64_t at, const char *who, int out, uint64_t flow,
                       uint16_t lport, uint16_t pport, const char *line,
                       size_t len) {
  pthread_mutex_lock(&g_lad_mu);
  if (g_nlad < MAX_LADDER) {
    ladder_ent *e = &g_lad[g_nlad++];
    e->at = at;
    snprintf(e->who, sizeof e->who, "%s", who);
    e->out = out;
    e->flow = flow;
    e->local_port = lport;
    e->peer_port = pport;
    if (len >= sizeof e->line)
      len = sizeof e->line - 1;
    memcpy(e->line, line, len);
    e->line[len] = 0;
    port_note(lport, who);
  }
  pthread_mutex_unlock(&g_lad_mu);
}

/* "imsec-ladder MONO NAME out|in FLOW LOCAL PEER START-LINE" from a child
 * (whose name we know better than it does). */
static int ladder_parse(const char *who, const char *line) {
  long long at;
  char name[64], dir[8], local[300], peer[300];
  unsigned long long flow;
  int off = 0;
  if (sscanf(line, "imsec-ladder %lld %63s %7s %llu %299s %299s %n", &at, name,
             dir, &flow, local, peer, &off) != 6 ||
      off == 0)
    return 0;
  const char *rest = line + off;
  ladder_add(at, who, strcmp(dir, "out") == 0, flow, addr_port(local),
             addr_port(peer), rest, strlen(rest));
  return 1;
}

static int lad_cmp(const void *a, const void *b) {
  const ladder_ent *x = a, *y = b;
  return x->at < y->at ? -1 : x->at > y->at;
}

/* Print the messages sent between t0 and t1, oldest first. */
DEMO_UNUSED static void ladder_print(int64_t t0, int64_t t1) {
  pthread_mutex_lock(&g_lad_mu);
  qsort(g_lad, g_nlad, sizeof g_lad[0], lad_cmp);
  int any = 0;
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out || e->at < t0 || e->at > t1)
      continue;
    say("    %6.0f ms  %-15s -> %-15s %s\n", (double)(e->at - t0), e->who,
        port_who(e->peer_port), e->line);
    any = 1;
  }
  if (!any)
    say("    (no messages)\n");
  pthread_mutex_unlock(&g_lad_mu);
}

/* Messages `who` sent between t0 and t1 that begin with `start`, and on how
 * many distinct flows. */
DEMO_UNUSED static size_t ladder_count(const char *who, const char *start,
                                       int64_t t0, int64_t t1, size_t *flows) {
  uint64_t seen[64];
  size_t nseen = 0, n = 0;
  pthread_mutex_lock(&g_lad_mu);
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out || e->at < t0 || e->at > t1 || strcmp(e->who, who) != 0 ||
        strncmp(e->line, start, strlen(start)) != 0)
      continue;
    n++;
    size_t k = 0;
    while (k < nseen && seen[k] != e->flow)
      k++;
    if (k == nseen && nseen < 64)
      seen[nseen++] = e->flow;
  }
  pthread_mutex_unlock(&g_lad_mu);
  if (flows)
    *flows = nseen;
  return n;
}

/* Messages `who` received on its port `port` between t0 and t1 (a
 * child's "in" ladder lines): what a rogue P-CSCF got on its UE-facing
 * listener. */
DEMO_UNUSED static size_t ladder_received(const char *who, uint16_t port,
                                          int64_t t0, int64_t t1) {
  size_t n = 0;
  pthread_mutex_lock(&g_lad_mu);
  for (size_t i = 0; i < g_nlad; i++) {
    const ladder_ent *e = &g_lad[i];
    if (!e->out && e->at >= t0 && e->at <= t1 && e->local_port == port &&
        strcmp(e->who, who) == 0)
      n++;
  }
  pthread_mutex_unlock(&g_lad_mu);
  return n;
}

/* ---------------------------------------------------------------- children */

typedef struct child {
  char name[32];
  pid_t pid;
  int fd; /* its stdout+stderr */
  char buf[4096];
  size_t len;
  char tail[8][256]; /* last log lines, for a failure report */
  size_t ntail;
  int reaped, status;
} child;

static child g_ch[MAX_CHILDREN];
static size_t g_nch;
static pthread_mutex_t g_ch_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t g_stop_reader;
static pthread_t g_reader;
static int g_reader_on;
static char g_self[4096];

static void child_line(child *c, const char *line) {
  if (ladder_parse(c->name, line))
    return;
  snprintf(c->tail[c->ntail % 8], sizeof c->tail[0], "%s", line);
  c->ntail++;
  if (g_verbose)
    say("    [%s] %s\n", c->name, line);
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

/* Start /proc/self/exe with argv (argv[0] is the subcommand). */
static child *spawn(const char *name, char *const *argv) {
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
  char **full = calloc(argc + 2, sizeof *full);
  if (!full) {
    pthread_mutex_unlock(&g_ch_mu);
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  full[0] = (char *)"imsec";
  for (size_t i = 0; i < argc; i++)
    full[i + 1] = argv[i];
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

static int child_wait_exit(child *c, int timeout_ms) {
  for (int i = 0; i < timeout_ms / 5 + 1; i++) {
    if (child_gone(c))
      return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128;
    usleep(5000);
  }
  return -1;
}

static void child_report(child *c) {
  pthread_mutex_lock(&g_ch_mu);
  if (c->fd >= 0)
    child_read(c);
  size_t first = c->ntail > 8 ? c->ntail - 8 : 0;
  for (size_t i = first; i < c->ntail; i++)
    fprintf(stderr, "    [%s] %s\n", c->name, c->tail[i % 8]);
  pthread_mutex_unlock(&g_ch_mu);
}

/* Stop every child by its pid: SIGTERM, then SIGKILL after 2 s. */
static void stop_children(void) {
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

/* SIGINT/SIGTERM: stop the children (kill is async-signal-safe), go. */
static void on_signal(int sig) {
  for (size_t i = 0; i < g_nch; i++)
    if (g_ch[i].pid > 0 && !g_ch[i].reaped)
      kill(g_ch[i].pid, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* A port nobody uses now (the kernel's pick); the child binds it. */
static uint16_t free_port(void) {
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

/* Start a daemon listening on the ports it is given, and wait until they
 * accept connections. `mk` fills argv for the chosen ports; on a lost race
 * for a port (the child exits at once) try again with others. */
typedef int (*argv_fn)(void *ctx, const uint16_t *ports, char **argv,
                       size_t cap);

static child *start_daemon(const char *name, size_t nports, argv_fn mk,
                           void *ctx, uint16_t *ports) {
  for (int attempt = 0; attempt < 3; attempt++) {
    for (size_t i = 0; i < nports; i++)
      ports[i] = free_port();
    char *argv[32];
    if (mk(ctx, ports, argv, 32) != 0)
      return NULL;
    child *c = spawn(name, argv);
    if (!c)
      return NULL;
    for (size_t i = 0; i < nports; i++)
      port_note(ports[i], name);
    int64_t end = elemrun_now() + WAIT_MS;
    size_t up = 0;
    while (elemrun_now() < end && !child_gone(c)) {
      up = 0;
      for (size_t i = 0; i < nports; i++)
        up += port_open(ports[i]) ? 1u : 0u;
      if (up == nports) {
        /* Another program could hold a port we picked: the child then
         * exits with a bind error; give it a moment to do so. */
        usleep(20000);
        if (!child_gone(c))
          return c;
        break;
      }
      usleep(5000);
    }
    if (!child_gone(c)) {
      fprintf(stderr, "imsec demo: %s did not start listening in time\n", name);
      child_report(c);
      return NULL;
    }
    /* Exited: a port race (retry) or a real error (report after 3). */
    if (attempt == 2) {
      fprintf(stderr, "imsec demo: %s exited at start (status %d):\n", name,
              WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1);
      usleep(20000);
      child_report(c);
    }
  }
  return NULL;
}

/* ---------------------------------------------------------------- files */

static char g_dir[256];

static const char *path(const char *name) {
  static char ring[16][1024];
  static int k;
  char *p = ring[k++ % 16];
  snprintf(p, 1024, "%s/%.700s", g_dir, name);
  return p;
}

static int write_text(const char *file, const char *text) {
  FILE *f = fopen(file, "w");
  if (!f)
    return -1;
  int ok = fputs(text, f) >= 0;
  if (fclose(f) != 0)
    ok = 0;
  return ok ? 0 : -1;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p) == 0 ? 0 : -1;
}

static void rm_tree(const char *dir) {
  /* Only the folder mkdtemp made for us; depth first, no symlinks
   * followed. */
  if (strncmp(dir, "/tmp/imsec-demo-", 16) != 0)
    return;
  if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "imsec demo: could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- PKI */

typedef struct demo_pki {
  imsec_pki_cred *root, *op1, *op2, *op3;
} demo_pki;

static int issue_ca(const char *cn, const char *domain, int path_len,
                    const imsec_pki_cred *issuer, int64_t now,
                    imsec_pki_cred **out) {
  const char *perm[] = {domain};
  imsec_pki_spec s = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = cn,
      .org = domain ? domain : TD,
      .ca = 1,
      .path_len = path_len,
      .permitted = domain ? perm : NULL,
      .n_permitted = domain ? 1 : 0,
      .not_before = now - 3600,
      .not_after = now + 86400 * 30,
  };
  return imsec_pki_issue(&s, issuer, out);
}

/* An element certificate for `host` under `ca`: HOST.chain.pem (leaf, CA;
 * just the leaf when with_ca is 0) and HOST.key. A P-CSCF facing UEs is a
 * TLS server; a core network element (TS 33.310 §6.1.3c) is a TLS server
 * and client on Mw, so `client_auth` is set for it. */
static int issue_element(const char *host, const imsec_pki_cred *ca,
                         int with_ca, int client_auth, int64_t now) {
  char uri[300], file[300];
  snprintf(uri, sizeof uri, "sip:%s", host);
  const char *dns[] = {host};
  const char *uris[] = {uri};
  imsec_pki_spec s = {
      .key = IMSEC_PKI_KEY_EC_P256,
      .cn = host,
      .dns = dns,
      .n_dns = 1,
      .uris = uris,
      .n_uris = 1,
      .server_auth = 1,
      .client_auth = client_auth,
      .path_len = -1,
      .not_before = now - 3600,
      .not_after = now + 86400 * 30,
  };
  imsec_pki_cred *leaf = NULL;
  int rv = imsec_pki_issue(&s, ca, &leaf);
  if (rv < 0)
    return rv;
  const imsec_pki_cred *chain[] = {leaf, ca};
  snprintf(file, sizeof file, "%s.chain.pem", host);
  rv = imsec_pki_write_certs(path(file), chain, with_ca ? 2 : 1, 1);
  snprintf(file, sizeof file, "%s.key", host);
  if (rv == 0)
    rv = imsec_pki_write_key(leaf, path(file), 1);
  imsec_pki_cred_del(leaf);
  return rv;
}

static int issue_pcscf(const char *host, const imsec_pki_cred *ca, int with_ca,
                       int64_t now) {
  return issue_element(host, ca, with_ca, 0, now);
}

static int issue_node(const char *host, const imsec_pki_cred *ca, int64_t now) {
  return issue_element(host, ca, 1, 1, now);
}

static int make_pki(demo_pki *k) {
  int64_t now = (int64_t)time(NULL);
  int rv;
  if ((rv = issue_ca("IMS root CA " TD, NULL, 1, NULL, now, &k->root)) ||
      (rv = issue_ca(HOME, HOME, 0, k->root, now, &k->op1)) ||
      (rv = issue_ca(VISITED, VISITED, 0, k->root, now, &k->op2)) ||
      (rv = issue_ca(OTHER, OTHER, 0, k->root, now, &k->op3)))
    return rv;
  const imsec_pki_cred *one[1];
  one[0] = k->root;
  if ((rv = imsec_pki_write_certs(path("root.crt"), one, 1, 1)))
    return rv;
  one[0] = k->op1;
  if ((rv = imsec_pki_write_certs(path("op-mcc001-mnc001.crt"), one, 1, 1)))
    return rv;
  one[0] = k->op2;
  if ((rv = imsec_pki_write_certs(path("op-mcc001-mnc002.crt"), one, 1, 1)))
    return rv;
  one[0] = k->op3;
  if ((rv = imsec_pki_write_certs(path("op-mcc001-mnc003.crt"), one, 1, 1)))
    return rv;
  if ((rv = issue_pcscf(PCSCF_HOME, k->op1, 1, now)) ||
      (rv = issue_pcscf(PCSCF_VISITED, k->op2, 1, now)) ||
      (rv = issue_pcscf(PCSCF_REALM, k->op2, 1, now)) ||
      (rv = issue_pcscf(PCSCF_OTHER, k->op3, 1, now)) ||
      /* Valid under the IMS root, but named outside the trust domain. */
      (rv = issue_pcscf(PCSCF_OUTSIDE, k->root, 0, now)) ||
      (rv = issue_node(SCSCF_NODE, k->op1, now)) ||
      (rv = issue_node(PCSCF_HOME_MW, k->op1, now)) ||
      (rv = issue_node(PCSCF_VISITED_MW, k->op2, now)))
    return rv;
  return 0;
}

static void free_pki(demo_pki *k) {
  imsec_pki_cred_del(k->root);
  imsec_pki_cred_del(k->op1);
  imsec_pki_cred_del(k->op2);
  imsec_pki_cred_del(k->op3);
}

/* ---------------------------------------------------------------- subs */

typedef struct sub {
  const char *label; /* "A", "B", ... */
  const char *msin;  /* the IMSI's last 10 digits */
  uint8_t k[16], opc[16];
  uint8_t sqn_isim[6]; /* the profile's SQN_MS */
  char impi[128], impu[160], tel[64], profile[300];
} sub;

static sub g_subs[] = {
    {.label = "A", .msin = "0000000001"}, {.label = "B", .msin = "0000000002"},
    {.label = "C", .msin = "0000000003"}, {.label = "D", .msin = "0000000004"},
    {.label = "E", .msin = "0000000005"},
};
#define N_SUBS (sizeof g_subs / sizeof g_subs[0])

DEMO_UNUSED static sub *sub_by(const char *label) {
  for (size_t i = 0; i < N_SUBS; i++)
    if (strcmp(g_subs[i].label, label) == 0)
      return &g_subs[i];
  return NULL;
}

static int make_profiles(imsec_crypto *cr) {
  for (size_t i = 0; i < N_SUBS; i++) {
    sub *s = &g_subs[i];
    snprintf(s->impi, sizeof s->impi, "00101%s@%s", s->msin, HOME);
    snprintf(s->impu, sizeof s->impu, "sip:00101%s@%s", s->msin, HOME);
    snprintf(s->tel, sizeof s->tel, "tel:+100101%s", s->msin);
    if (imsec_random(cr, s->k, 16) < 0 || imsec_random(cr, s->opc, 16) < 0)
      return -1;
    memset(s->sqn_isim, 0, 6);
    /* Scene 4: the ISIM has seen a higher SQN than the HSS will use. */
    if (strcmp(s->label, "D") == 0)
      s->sqn_isim[3] = 0x10;
    char *impus[] = {s->impu, s->tel};
    char *anchors[] = {(char *)path("root.crt")};
    char *partners[] = {(char *)path("op-mcc001-mnc002.crt")};
    imsec_isim_profile p;
    memset(&p, 0, sizeof p);
    p.source = s->profile;
    p.impi = s->impi;
    p.impus = impus;
    p.n_impus = 2;
    p.home_domain = (char *)HOME;
    p.trust_domain = (char *)TD;
    memcpy(p.k, s->k, 16);
    memcpy(p.opc, s->opc, 16);
    p.has_k = p.has_opc = 1;
    p.amf[0] = 0x80;
    p.has_amf = 1;
    memcpy(p.sqn, s->sqn_isim, 6);
    p.has_sqn = 1;
    p.anchors = anchors;
    p.n_anchors = 1;
    p.home_ca = (char *)path("op-mcc001-mnc001.crt");
    p.partners = partners;
    p.n_partners = 1;
    p.policy = IMSEC_TRUST_POLICY_TRUST_DOMAIN;
    p.has_policy = 1;
    char name[64];
    snprintf(name, sizeof name, "ue-%s.yaml", s->label);
    snprintf(s->profile, sizeof s->profile, "%s", path(name));
    int rv = imsec_isim_save(&p, s->profile, 1);
    imsec_wipe(p.k, 16);
    imsec_wipe(p.opc, 16);
    if (rv < 0)
      return rv;
  }
  return 0;
}

/* `imsec hss add` for every subscriber (HSS SQN 0). */
static int fill_hss(const char *db) {
  for (size_t i = 0; i < N_SUBS; i++) {
    sub *s = &g_subs[i];
    char k[33], opc[33], impus[400];
    if (imsec_hex_encode(s->k, 16, k, sizeof k) < 0 ||
        imsec_hex_encode(s->opc, 16, opc, sizeof opc) < 0)
      return -1;
    snprintf(impus, sizeof impus, "%s,%s", s->impu, s->tel);
    char *argv[] = {"hss",          "add",    "--db",  (char *)db, "--impi",
                    s->impi,        "--impu", impus,   "--k",      k,
                    "--opc",        opc,      "--amf", "8000",     "--sqn",
                    "000000000000", NULL};
    char name[32];
    snprintf(name, sizeof name, "hss-add-%s", s->label);
    child *c = spawn(name, argv);
    imsec_wipe(k, sizeof k);
    imsec_wipe(opc, sizeof opc);
    if (!c)
      return -1;
    int st = child_wait_exit(c, WAIT_MS);
    if (st != 0) {
      fprintf(stderr, "imsec demo: imsec hss add failed (status %d):\n", st);
      usleep(20000);
      child_report(c);
      return -1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- daemons */

typedef struct scscf_ctx {
  const char *db;
  char listen[64];
  /* Its mutual-TLS core listener (TS 33.210), beside the plain one. */
  char tls_listen[64];
  uint16_t tls_port;
  char cert[1024], key[1024], ca[1024], partner[1024];
} scscf_ctx;

static int scscf_argv(void *ctx, const uint16_t *ports, char **argv,
                      size_t cap) {
  scscf_ctx *c = ctx;
  (void)cap;
  snprintf(c->listen, sizeof c->listen, "tcp:127.0.0.1:%u", ports[0]);
  size_t i = 0;
  argv[i++] = "scscf";
  argv[i++] = "--listen";
  argv[i++] = c->listen;
  argv[i++] = "--domain";
  argv[i++] = HOME;
  argv[i++] = "--db";
  argv[i++] = (char *)c->db;
  /* The P-CSCFs reach it over plain TCP from loopback for now. */
  argv[i++] = "--insecure-core";
  argv[i++] = "--peer-addr";
  argv[i++] = "127.0.0.1";
  /* ... and it also listens for mutual TLS with its node certificate:
   * peers of the home operator and of the roaming partner (MNC 002).
   * Bound with the TCP listener, so it is up when that one is. */
  c->tls_port = free_port();
  snprintf(c->tls_listen, sizeof c->tls_listen, "tls:127.0.0.1:%u",
           c->tls_port);
  snprintf(c->cert, sizeof c->cert, "%s", path(SCSCF_NODE ".chain.pem"));
  snprintf(c->key, sizeof c->key, "%s", path(SCSCF_NODE ".key"));
  snprintf(c->ca, sizeof c->ca, "%s", path("root.crt"));
  snprintf(c->partner, sizeof c->partner, "%s", path("op-mcc001-mnc002.crt"));
  argv[i++] = "--listen";
  argv[i++] = c->tls_listen;
  argv[i++] = "--cert";
  argv[i++] = c->cert;
  argv[i++] = "--key";
  argv[i++] = c->key;
  argv[i++] = "--ca";
  argv[i++] = c->ca;
  argv[i++] = "--partner-ca";
  argv[i++] = c->partner;
  argv[i] = NULL;
  return 0;
}

typedef struct pcscf_ctx {
  const char *name; /* config file stem */
  const char *host; /* certificate host */
  const char *visited;
  uint16_t route_port; /* S-CSCF for HOME */
  /* Its Mw certificate: mutual TLS to the S-CSCF's TLS listener and a TLS
   * core listener (TS 33.210); NULL: plain TCP (--insecure-core). */
  const char *mw;
  char conf[300];
} pcscf_ctx;

/* The P-CSCF's settings file (include/imsec/pcscf.h): TLS towards UEs, TCP
 * from the S-CSCF (the Path address), one route for the home domain. */
static int pcscf_argv(void *ctx, const uint16_t *ports, char **argv,
                      size_t cap) {
  pcscf_ctx *c = ctx;
  (void)cap;
  char text[4096], chain[300], key[300], mw_chain[300], mw_key[300], ca[300];
  snprintf(chain, sizeof chain, "%s.chain.pem", c->host);
  snprintf(key, sizeof key, "%s.key", c->host);
  int n = snprintf(text, sizeof text,
                   "listen: tls:127.0.0.1:%u\n"
                   "cert: %s\n"
                   "key: %s\n",
                   ports[0], path(chain), path(key));
  if (c->mw) {
    snprintf(mw_chain, sizeof mw_chain, "%s", path(c->mw));
    snprintf(mw_chain + strlen(mw_chain), sizeof mw_chain - strlen(mw_chain),
             ".chain.pem");
    snprintf(mw_key, sizeof mw_key, "%s", path(c->mw));
    snprintf(mw_key + strlen(mw_key), sizeof mw_key - strlen(mw_key), ".key");
    snprintf(ca, sizeof ca, "%s", path("root.crt"));
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "core: tls:127.0.0.1:%u\n"
                  "routes:\n"
                  "  - %s=tls:127.0.0.1:%u;name=%s\n"
                  "core_cert: %s\n"
                  "core_key: %s\n"
                  "core_ca: %s\n",
                  ports[1], HOME, c->route_port, SCSCF_NODE, mw_chain, mw_key,
                  ca);
  } else {
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "core: tcp:127.0.0.1:%u\n"
                  "routes:\n"
                  "  - %s=tcp:127.0.0.1:%u\n"
                  "insecure_core: true\n"
                  "peer_addrs: [127.0.0.1]\n",
                  ports[1], HOME, c->route_port);
  }
  if (c->visited)
    snprintf(text + n, sizeof text - (size_t)n, "visited_network: \"%s\"\n",
             c->visited);
  char name[64];
  snprintf(name, sizeof name, "%s.yaml", c->name);
  snprintf(c->conf, sizeof c->conf, "%s", path(name));
  if (write_text(c->conf, text) != 0)
    return -1;
  argv[0] = "pcscf";
  argv[1] = "-c";
  argv[2] = c->conf;
  argv[3] = NULL;
  return 0;
}

/* ------------------------------------------- another operator's S-CSCF */

/* A registrar of operator 003... 002 that challenges every REGISTER with
 * its own realm: behind a P-CSCF that routes the UE's home domain there,
 * the UE sees a realm that is not its home network's (realm-mismatch). */
typedef struct foreign {
  imsec_crypto *crypto;
  unsigned challenges;
} foreign;

static int fx_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)info;
  (void)now;
  (void)out;
  return 0;
}

static void fx_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  foreign *fx = self;
  (void)now;
  char *buf = malloc(len + 1);
  if (!buf)
    return;
  memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  if (imsec_sip_parse(&m, buf, len, 1) == 0 && m.is_request &&
      imsec_str_ieq_c(m.method, "REGISTER")) {
    uint8_t nonce[32];
    char b64[64], www[256], resp[8192];
    if (imsec_random(fx->crypto, nonce, sizeof nonce) == 0 &&
        imsec_base64_encode(nonce, sizeof nonce, b64, sizeof b64) > 0) {
      snprintf(www, sizeof www,
               "Digest realm=\"%s\", nonce=\"%s\", algorithm=AKAv1-MD5, "
               "qop=\"auth\"",
               VISITED, b64);
      imsec_sip_builder b;
      imsec_sip_build_init(&b, resp, sizeof resp);
      imsec_sip_build_response(&b, &m, 401, IMSEC_STR_LIT("Unauthorized"),
                               IMSEC_STR_LIT("fx1"));
      imsec_sip_build_header(&b, IMSEC_STR_LIT("WWW-Authenticate"),
                             imsec_str_c(www));
      int n = imsec_sip_build_finish(&b, IMSEC_STR_LIT(""));
      if (n > 0) {
        (void)imsec_out_send(out, flow, resp, (size_t)n);
        fx->challenges++;
      }
    }
  }
  imsec_sip_msg_free(&m);
  free(buf);
}

static void fx_down(void *s, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
}

static void foreign_ladder(void *user, const elemrun_ladder_ev *ev) {
  (void)user;
  size_t first = 0;
  while (first < ev->len && ev->msg[first] != '\r' && ev->msg[first] != '\n')
    first++;
  ladder_add(ev->now, "scscf-002", ev->out, ev->flow,
             ev->local ? ev->local->port : 0, ev->peer ? ev->peer->port : 0,
             (const char *)ev->msg, first);
}

static const elemrun_ops foreign_ops = {
    .on_flow_up = fx_up,
    .on_message = fx_msg,
    .on_flow_down = fx_down,
};

/* ---------------------------------------------------------------- results */

typedef struct result {
  char scene[64];
  char expect[96];
  char got[1024];
  int ok;
} result;

static result g_res[16];
static size_t g_nres;

DEMO_UNUSED static result *result_add(const char *scene, const char *expect) {
  result *r = &g_res[g_nres++];
  snprintf(r->scene, sizeof r->scene, "%s", scene);
  snprintf(r->expect, sizeof r->expect, "%s", expect);
  snprintf(r->got, sizeof r->got, "not run");
  return r;
}

static void print_table(void) {
  say("\n  %-3s %-30s %-44s %s\n", "#", "scene", "expected", "result");
  say("  %-3s %-30s %-44s %s\n", "--", "-----", "--------", "------");
  for (size_t i = 0; i < g_nres; i++) {
    result *r = &g_res[i];
    say("  %-3zu %-30s %-44s %s: %s\n", i + 1, r->scene, r->expect,
        r->ok ? "ok" : "FAILED", r->got);
  }
}

#ifdef DEMO_HAVE_UE
/* ---------------------------------------------------------------- UEs */

typedef struct demo_ue {
  char name[32];
  imsec_ue *ue;
  imsec_crypto *crypto;
  imsec_x509_anchors *anchors;
  imsec_isim_profile prof;
  elemrun *run;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* Snapshots taken on the UE's loop thread after every event. */
  imsec_ue_status st;
  int msg_handle, msg_result;
  char inbox[512];
  char inbox_from[256];
  int inbox_n;
} demo_ue;

static void ue_snapshot(demo_ue *u) {
  pthread_mutex_lock(&u->mu);
  imsec_ue_get_status(u->ue, &u->st);
  if (u->msg_handle > 0)
    u->msg_result = imsec_ue_message_result(u->ue, u->msg_handle);
  imsec_ue_message m;
  while (imsec_ue_inbox_pop(u->ue, &m) == 1) {
    snprintf(u->inbox, sizeof u->inbox, "%.*s", (int)m.len,
             (const char *)m.body);
    snprintf(u->inbox_from, sizeof u->inbox_from, "%s",
             m.asserted[0] ? m.asserted : m.from);
    u->inbox_n++;
    imsec_ue_message_free(&m);
  }
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
}

static int du_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  demo_ue *u = s;
  return imsec_ue_on_flow_up(u->ue, flow, tag, info, now, out);
}
static void du_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  demo_ue *u = s;
  imsec_ue_on_message(u->ue, flow, m, len, now, out);
}
static void du_down(void *s, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  demo_ue *u = s;
  imsec_ue_on_flow_down(u->ue, flow, tag, reason, now, out);
}
static void du_timer(void *s, uint64_t id, imsec_time_ms now, imsec_out *out) {
  demo_ue *u = s;
  imsec_ue_on_timer(u->ue, id, now, out);
}
static void du_start(void *s, imsec_time_ms now, imsec_out *out) {
  demo_ue *u = s;
  if (imsec_ue_start(u->ue, now, out) != 0)
    (void)imsec_out_log(out, IMSEC_LOG_ERROR, "cannot start", NULL);
}
static int du_done(void *s) {
  ue_snapshot(s);
  return 0; /* the demo decides when to stop, by waiting on snapshots */
}

static const elemrun_ops demo_ue_ops = {
    .on_flow_up = du_up,
    .on_message = du_msg,
    .on_flow_down = du_down,
    .on_timer = du_timer,
    .on_start = du_start,
    .done = du_done,
};

static void ue_ladder(void *user, const elemrun_ladder_ev *ev) {
  demo_ue *u = user;
  size_t first = 0;
  while (first < ev->len && ev->msg[first] != '\r' && ev->msg[first] != '\n')
    first++;
  ladder_add(ev->now, u->name, ev->out, ev->flow,
             ev->local ? ev->local->port : 0, ev->peer ? ev->peer->port : 0,
             (const char *)ev->msg, first);
}

static imsec_net_tls *g_ue_tls;

/* A UE from profile `s`, dialling 127.0.0.1:port and verifying `host`. */
static demo_ue *ue_new(const char *name, const sub *s, uint16_t port,
                       const char *host) {
  demo_ue *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  snprintf(u->name, sizeof u->name, "%s", name);
  pthread_mutex_init(&u->mu, NULL);
  pthread_cond_init(&u->cv, NULL);
  char err[512];
  if (imsec_isim_load(s->profile, &u->prof, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_isim_anchors(&u->prof, &u->anchors, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_crypto_ossl_new(&u->crypto) != 0)
    goto fail;
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = u->prof.impi;
  c.impus = (const char *const *)u->prof.impus;
  c.n_impus = u->prof.n_impus;
  c.home_domain = u->prof.home_domain;
  c.trust_domain = u->prof.trust_domain;
  memcpy(c.k, u->prof.k, sizeof c.k);
  if (u->prof.has_opc) {
    memcpy(c.opc, u->prof.opc, sizeof c.opc);
    c.has_opc = 1;
  } else {
    memcpy(c.op, u->prof.op, sizeof c.op);
    c.has_op = 1;
  }
  memcpy(c.amf, u->prof.amf, sizeof c.amf);
  if (imsec_ue_sqn_load(u->prof.sqn, NULL, &c.sqn) != 0)
    goto fail_cfg;
  c.pcscf.tp = IMSEC_TP_TLS;
  snprintf(c.pcscf.host, sizeof c.pcscf.host, "127.0.0.1");
  c.pcscf.port = port;
  c.pcscf_name = host;
  c.policy = u->prof.policy;
  c.expires = 600;
  c.txn_timeout_ms = WAIT_MS;
  c.max_connect_attempts = 1;
  int rv = imsec_ue_new(&u->ue, &c, u->crypto);
  imsec_wipe(&c, sizeof c);
  if (rv != 0) {
    fprintf(stderr, "imsec demo: UE %s: %s\n", name, imsec_strerror(rv));
    goto fail;
  }
  elemrun_config rc;
  memset(&rc, 0, sizeof rc);
  rc.name = u->name;
  rc.ops = &demo_ue_ops;
  rc.self = u;
  rc.client_tls = g_ue_tls;
  rc.anchors = u->anchors;
  rc.log_level = g_verbose ? IMSEC_LOG_INFO : IMSEC_LOG_ERROR;
  rc.ladder_fn = ue_ladder;
  rc.ladder_user = u;
  if (elemrun_new(&u->run, &rc, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  return u;
fail_cfg:
  imsec_wipe(&c, sizeof c);
fail:
  if (u->ue)
    imsec_ue_del(u->ue);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  free(u);
  return NULL;
}

static void ue_del(demo_ue *u) {
  if (!u)
    return;
  elemrun_del(u->run);
  imsec_ue_del(u->ue);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  pthread_mutex_destroy(&u->mu);
  pthread_cond_destroy(&u->cv);
  free(u);
}

/* Wait until the UE's state is final for a registration attempt. */
static imsec_ue_state ue_wait_settled(demo_ue *u, int timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&u->mu);
  while (u->st.state != IMSEC_UE_REGISTERED &&
         u->st.state != IMSEC_UE_REFUSED && u->st.state != IMSEC_UE_FAILED) {
    if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) != 0)
      break;
  }
  imsec_ue_state s = u->st.state;
  pthread_mutex_unlock(&u->mu);
  return s;
}

static imsec_ue_status ue_status(demo_ue *u) {
  pthread_mutex_lock(&u->mu);
  imsec_ue_status s = u->st;
  pthread_mutex_unlock(&u->mu);
  return s;
}

typedef struct send_arg {
  const char *to;
  const char *text;
} send_arg;

static void ue_send_call(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  demo_ue *u = self;
  send_arg *a = arg;
  int h = imsec_ue_send_message(u->ue, a->to, "text/plain",
                                (const uint8_t *)a->text, strlen(a->text), now,
                                out);
  pthread_mutex_lock(&u->mu);
  u->msg_handle = h > 0 ? h : 0;
  u->msg_result = h > 0 ? 0 : h;
  pthread_mutex_unlock(&u->mu);
}

static void ue_dereg_call(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  demo_ue *u = self;
  (void)arg;
  if (imsec_ue_deregister(u->ue, now, out) != 0)
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "de-registration refused", NULL);
}

static int wait_for(demo_ue *u, int (*pred)(demo_ue *), int timeout_ms) {
  int64_t end = elemrun_now() + timeout_ms;
  for (;;) {
    pthread_mutex_lock(&u->mu);
    int ok = pred(u);
    pthread_mutex_unlock(&u->mu);
    if (ok)
      return 1;
    if (elemrun_now() >= end)
      return 0;
    usleep(2000);
  }
}

static int msg_answered(demo_ue *u) {
  return u->msg_result != 0;
}
static int inbox_has(demo_ue *u) {
  return u->inbox_n > 0;
}

static const char *trust_words(const imsec_ue_status *st) {
  if (!st->trust_decided)
    return "no decision";
  return st->trust.verdict == IMSEC_TRUST_HOME      ? "trusted (home)"
         : st->trust.verdict == IMSEC_TRUST_PARTNER ? "trusted (partner)"
                                                    : "rejected";
}

/* Register a UE and judge: state and trust verdict as expected. */
static demo_ue *scene_register(result *r, const char *ue_name, const sub *s,
                               uint16_t port, const char *host,
                               imsec_trust_verdict want_verdict) {
  demo_ue *u = ue_new(ue_name, s, port, host);
  if (!u) {
    snprintf(r->got, sizeof r->got, "UE could not be made");
    return NULL;
  }
  if (elemrun_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not start");
    return u;
  }
  imsec_ue_state st = ue_wait_settled(u, WAIT_MS);
  imsec_ue_status ss = ue_status(u);
  snprintf(r->got, sizeof r->got, "%s, %s%s%s", imsec_ue_state_name(st),
           trust_words(&ss), ss.error[0] ? "; " : "", ss.error);
  r->ok = st == IMSEC_UE_REGISTERED && ss.trust_decided &&
          ss.trust.verdict == want_verdict;
  say("    %s: %s\n", ue_name, ss.trust_decided ? ss.trust.why : "-");
  return u;
}
#endif /* DEMO_HAVE_UE */

/* ---------------------------------------------------------------- main */

typedef struct demo {
  demo_pki pki;
  imsec_crypto *crypto;
  uint16_t scscf_port, home[2], visited[2], outside[2], other[2], realm[2],
      foreign_port;
  elemrun *foreign_run;
  foreign fx;
  char db[300];
  uint16_t scscf_tls_port; /* the S-CSCF's mutual-TLS core listener */
} demo;

static int start_networks(demo *d) {
  scscf_ctx sc = {.db = d->db};
  say("  starting the home S-CSCF with its HSS (%s)\n", HOME);
  if (!start_daemon("scscf", 1, scscf_argv, &sc, &d->scscf_port))
    return -1;
  d->scscf_tls_port = sc.tls_port;
  port_note(d->scscf_tls_port, "scscf");
  /* The other operator's registrar, in this process. */
  elemrun_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  elemrun_config fc;
  memset(&fc, 0, sizeof fc);
  fc.name = "scscf-002";
  fc.ops = &foreign_ops;
  fc.self = &d->fx;
  fc.listeners = &l;
  fc.n_listeners = 1;
  fc.log_level = IMSEC_LOG_ERROR;
  fc.ladder_fn = foreign_ladder;
  d->fx.crypto = d->crypto;
  char err[256];
  if (elemrun_new(&d->foreign_run, &fc, err, sizeof err) != 0 ||
      elemrun_start(d->foreign_run) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    return -1;
  }
  d->foreign_port = elemrun_port(d->foreign_run, 0);
  port_note(d->foreign_port, "scscf-002");
  /* The home and visited P-CSCFs reach the S-CSCF over mutual TLS; the
   * rogues keep plain TCP (the S-CSCF takes it from loopback), so the UE
   * meets them and refuses them itself. */
  struct {
    const char *name, *host, *visited, *what;
    uint16_t *ports;
    uint16_t route;
    const char *mw;
  } ps[] = {
      {"pcscf-home", PCSCF_HOME, NULL, "the home P-CSCF", d->home,
       d->scscf_tls_port, PCSCF_HOME_MW},
      {"pcscf-visited", PCSCF_VISITED, "Visited Network 001-02",
       "the visited network's P-CSCF (roaming partner)", d->visited,
       d->scscf_tls_port, PCSCF_VISITED_MW},
      {"rogue-outside", PCSCF_OUTSIDE, NULL,
       "rogue P-CSCF named outside the trust domain", d->outside, d->scscf_port,
       NULL},
      {"rogue-other", PCSCF_OTHER, NULL,
       "rogue P-CSCF certified by a non-partner operator", d->other,
       d->scscf_port, NULL},
      {"rogue-realm", PCSCF_REALM, "Visited Network 001-02",
       "rogue P-CSCF routing to another operator's S-CSCF", d->realm,
       d->foreign_port, NULL},
  };
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    pcscf_ctx pc = {.name = ps[i].name,
                    .host = ps[i].host,
                    .visited = ps[i].visited,
                    .route_port = ps[i].route,
                    .mw = ps[i].mw};
    say("  starting %s (%s)%s%s\n", ps[i].what, ps[i].host,
        ps[i].mw ? "; Mw over mutual TLS as " : "", ps[i].mw ? ps[i].mw : "");
    if (!start_daemon(ps[i].name, 2, pcscf_argv, &pc, ps[i].ports))
      return -1;
  }
  return 0;
}

#ifdef DEMO_HAVE_UE
static void scene_head(int n, const char *title) {
  say("\n[%d] %s\n", n, title);
}

static int run_scenes(demo *d) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1; /* the UE's trust decision judges the chain */
  tc.ca_file = path("root.crt");
  if (imsec_net_tls_new(&g_ue_tls, &tc) != 0) {
    fprintf(stderr, "imsec demo: cannot make the UEs' TLS context\n");
    return -1;
  }
  demo_ue *ua = NULL, *ub = NULL, *uc = NULL, *ud = NULL;

  /* 1. Home registration. */
  scene_head(1, "home registration: UE A -> home P-CSCF -> S-CSCF/HSS");
  result *r1 = result_add("home registration (UE A)",
                          "registered, P-CSCF trusted (home)");
  int64_t t0 = elemrun_now();
  ua = scene_register(r1, "ue-A", sub_by("A"), d->home[0], PCSCF_HOME,
                      IMSEC_TRUST_HOME);
  usleep(30000);
  ladder_print(t0, elemrun_now());

  /* 2. Roaming registration. */
  scene_head(2, "roaming registration: UE C -> visited P-CSCF (MNC 002) -> "
                "home S-CSCF");
  result *r2 = result_add("roaming registration (UE C)",
                          "registered, P-CSCF trusted (partner)");
  t0 = elemrun_now();
  uc = scene_register(r2, "ue-C", sub_by("C"), d->visited[0], PCSCF_VISITED,
                      IMSEC_TRUST_PARTNER);
  usleep(30000);
  ladder_print(t0, elemrun_now());

  /* 3. A MESSAGE from A to B over B's kept-open flow. */
  scene_head(3, "MESSAGE: UE A -> P-CSCF -> S-CSCF -> P-CSCF -> UE B "
                "(over B's registered TLS flow)");
  result *r3 = result_add("MESSAGE A -> B", "200 OK, delivered on B's flow");
  t0 = elemrun_now();
  result rb = {0};
  ub = scene_register(&rb, "ue-B", sub_by("B"), d->home[0], PCSCF_HOME,
                      IMSEC_TRUST_HOME);
  if (ua && ub && r1->ok && rb.ok) {
    imsec_ue_status sb0 = ue_status(ub);
    send_arg sa = {.to = sub_by("B")->impu,
                   .text = "Hello B, this is A over TLS."};
    if (elemrun_call(ua->run, ue_send_call, &sa) == 0 &&
        wait_for(ua, msg_answered, WAIT_MS) && wait_for(ub, inbox_has, 500)) {
      imsec_ue_status sb1 = ue_status(ub);
      pthread_mutex_lock(&ub->mu);
      snprintf(r3->got, sizeof r3->got, "%d, B got \"%s\" from %s",
               ua->msg_result, ub->inbox, ub->inbox_from);
      r3->ok = ua->msg_result == 200 && strcmp(ub->inbox, sa.text) == 0 &&
               sb1.flow == sb0.flow && sb1.reconnects == 0;
      pthread_mutex_unlock(&ub->mu);
    } else {
      pthread_mutex_lock(&ua->mu);
      snprintf(r3->got, sizeof r3->got, "answer %d, B's inbox %s",
               ua->msg_result, ub->inbox_n ? "has it" : "empty");
      pthread_mutex_unlock(&ua->mu);
    }
  } else {
    snprintf(r3->got, sizeof r3->got, "UE B: %.900s", rb.got);
  }
  usleep(30000);
  ladder_print(t0, elemrun_now());

  /* 4. Sync failure and recovery on the same connection. */
  scene_head(4, "sync failure: UE D's ISIM SQN is ahead of the HSS -> AUTS "
                "-> resync -> new challenge -> 200, one TLS connection");
  result *r4 = result_add("sync failure (UE D)",
                          "AUTS, resync, registered, 1 connection");
  t0 = elemrun_now();
  result rd = {0};
  ud = scene_register(&rd, "ue-D", sub_by("D"), d->home[0], PCSCF_HOME,
                      IMSEC_TRUST_HOME);
  usleep(30000);
  int64_t t1 = elemrun_now();
  if (ud) {
    imsec_ue_status s = ue_status(ud);
    size_t flows = 0;
    size_t regs = ladder_count("ue-D", "REGISTER", t0, t1, &flows);
    snprintf(r4->got, sizeof r4->got,
             "%s; %u sync failure, %u challenges, %zu REGISTERs on %zu "
             "connection(s)",
             imsec_ue_state_name(s.state), s.sync_failures, s.challenges, regs,
             flows);
    r4->ok = rd.ok && s.sync_failures == 1 && s.challenges == 2 && regs == 3 &&
             flows == 1 && s.reconnects == 0;
  }
  ladder_print(t0, t1);

  /* 5. Rogue P-CSCFs. A certificate that fails is refused when the TLS
   * handshake completes: the rogue receives no SIP message, so never the
   * IMPI. Only a realm that does not match waits for the challenge, after
   * the one REGISTER that asks for it. */
  scene_head(5, "rogue P-CSCFs: a bad certificate is refused at the TLS "
                "handshake (no SIP message sent), a foreign realm at the "
                "challenge");
  struct {
    const char *title, *host, *reason, *daemon;
    uint16_t port;
    size_t want_sent; /* messages the UE may send it */
  } rogues[] = {
      {"rogue: outside trust domain", PCSCF_OUTSIDE,
       "name-outside-trust-domain", "rogue-outside", d->outside[0], 0},
      {"rogue: not a roaming partner", PCSCF_OTHER, "not-a-roaming-partner",
       "rogue-other", d->other[0], 0},
      {"rogue: realm mismatch", PCSCF_REALM, "realm-mismatch", "rogue-realm",
       d->realm[0], 1},
  };
  for (size_t i = 0; i < sizeof rogues / sizeof rogues[0]; i++) {
    char expect[96];
    snprintf(expect, sizeof expect, "refused: %s, %zu sent%s", rogues[i].reason,
             rogues[i].want_sent, rogues[i].want_sent ? " (at the 401)" : "");
    result *r = result_add(rogues[i].title, expect);
    char uname[32];
    snprintf(uname, sizeof uname, "ue-E%zu", i + 1);
    say("  %s (%s)\n", rogues[i].title, rogues[i].host);
    t0 = elemrun_now();
    demo_ue *ue = ue_new(uname, sub_by("E"), rogues[i].port, rogues[i].host);
    if (ue && elemrun_start(ue->run) == 0) {
      imsec_ue_state st = ue_wait_settled(ue, WAIT_MS);
      imsec_ue_status s = ue_status(ue);
      usleep(30000);
      t1 = elemrun_now();
      size_t flows = 0;
      /* What the UE sent, and what the rogue says it received. */
      size_t sent = ladder_count(uname, "", t0, t1, &flows);
      size_t got = ladder_received(rogues[i].daemon, rogues[i].port, t0, t1);
      const char *code =
          s.trust_decided ? imsec_trust_reason_code(s.trust.reason) : "-";
      const char *when = sent ? "at the 401" : "at the TLS handshake";
      snprintf(r->got, sizeof r->got,
               "%s: %s %s; %zu message(s) sent to %s, %zu received by it",
               imsec_ue_state_name(st), code, when, sent, rogues[i].daemon,
               got);
      r->ok = st == IMSEC_UE_REFUSED && s.trust_decided &&
              s.trust.verdict == IMSEC_TRUST_REJECTED &&
              strcmp(code, rogues[i].reason) == 0 &&
              sent == rogues[i].want_sent && got == rogues[i].want_sent;
      ladder_print(t0, t1);
      say("    %s -> %s: %zu message(s), refused %s: %s\n", uname,
          rogues[i].daemon, sent, when,
          s.trust_decided ? s.trust.why : s.error);
    } else {
      snprintf(r->got, sizeof r->got, "UE could not run");
    }
    ue_del(ue);
  }

  /* De-register the UEs still registered (TS 24.229 §5.1.1.6). */
  demo_ue *all[] = {ua, ub, uc, ud};
  for (size_t i = 0; i < 4; i++)
    if (all[i] && ue_status(all[i]).state == IMSEC_UE_REGISTERED)
      if (elemrun_call(all[i]->run, ue_dereg_call, NULL) != 0)
        say("    %s: cannot de-register\n", all[i]->name);
  usleep(100000);
  for (size_t i = 0; i < 4; i++)
    ue_del(all[i]);
  imsec_net_tls_del(g_ue_tls);
  g_ue_tls = NULL;
  return 0;
}
#endif

static int run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(help, stdout);
    return CLI_EXIT_OK;
  }
  int keep = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--keep") == 0)
      keep = 1;
    else if (strcmp(argv[i], "--verbose") == 0)
      g_verbose = 1;
    else
      return cli_usage(SUB, "unknown option '%s'", argv[i]);
  }
  int64_t start = elemrun_now();
  ssize_t sl = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
  if (sl <= 0)
    return cli_fail(CLI_EXIT_NO, SUB, "cannot find /proc/self/exe");
  g_self[sl] = 0;
  /* Children print machine-readable ladder lines (apps/elemrun.h); set
   * before any thread exists. */
  setenv("IMSEC_LADDER", "1", 1);
  snprintf(g_dir, sizeof g_dir, "/tmp/imsec-demo-XXXXXX");
  if (!mkdtemp(g_dir))
    return cli_fail(CLI_EXIT_NO, SUB, "cannot make a temporary folder: %s",
                    strerror(errno));
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int rc = CLI_EXIT_NO;
  demo d;
  memset(&d, 0, sizeof d);
  say("imsec demo: TLS access security for the IMS, on loopback\n");
  say("  folder %s\n", g_dir);
  if (imsec_crypto_ossl_new(&d.crypto) != 0) {
    fprintf(stderr, "imsec demo: no crypto\n");
    goto out;
  }
  if (make_pki(&d.pki) != 0) {
    fprintf(stderr, "imsec demo: cannot make the PKI\n");
    goto out;
  }
  say("  PKI: IMS root CA (%s), operator CAs MNC 001 (home), 002 (roaming "
      "partner), 003 (no agreement)\n",
      TD);
  if (make_profiles(d.crypto) != 0) {
    fprintf(stderr, "imsec demo: cannot write the ISIM profiles\n");
    goto out;
  }
  say("  ISIM profiles: UE A..E (IMPI 00101000000000N@%s); UE D's SQN is "
      "ahead of the HSS\n",
      HOME);
  if (pthread_create(&g_reader, NULL, reader_main, NULL) != 0)
    goto out;
  g_reader_on = 1;
  snprintf(d.db, sizeof d.db, "%s", path("hss.db"));
  if (fill_hss(d.db) != 0)
    goto out;
  say("  HSS: %zu subscribers in %s (imsec hss add)\n", N_SUBS, d.db);
  if (start_networks(&d) != 0)
    goto out;
#ifdef DEMO_HAVE_UE
  if (run_scenes(&d) != 0)
    goto out;
  rc = CLI_EXIT_OK;
  for (size_t i = 0; i < g_nres; i++)
    if (!g_res[i].ok)
      rc = CLI_EXIT_NO;
  if (g_nres != 7)
    rc = CLI_EXIT_NO;
#else
  fprintf(stderr, "imsec demo: this build has no UE element "
                  "(include/imsec/ue.h); the networks started, no scene "
                  "can run\n");
#endif
out:
  stop_children();
  elemrun_del(d.foreign_run);
  free_pki(&d.pki);
  imsec_crypto_del(d.crypto);
  if (g_nres) {
    print_table();
    say("\n  %s in %.1f s\n",
        rc == CLI_EXIT_OK ? "every scene went as it should"
                          : "SOME SCENES FAILED",
        (double)(elemrun_now() - start) / 1000.0);
  }
  if (keep)
    say("  kept %s\n", g_dir);
  else
    rm_tree(g_dir);
  return rc;
}

const cli_cmd imsec_cmd_demo = {
    .name = "demo",
    .summary = "run home and roaming registration on loopback",
    .run = run,
    .planned = 0,
};
