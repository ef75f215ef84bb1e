/*
 * net/ benchmark, loopback only, bounded in time and count.
 *
 * 1. TLS 1.3 handshakes per second, full and resumed, that our server
 *    (imsec_net, one loop) sustains, beside a minimal OpenSSL epoll server
 *    written here (SSL_set_fd, OpenSSL defaults), given the same P-256
 *    certificate and the same load from the same generator, in the same
 *    run, alternating A/B. Also the server CPU per handshake (this
 *    process's CPU; the generator runs as a separate process, --gen), the
 *    figure that does not depend on how the shared 2-core machine splits
 *    between server and client.
 * 2. RSS per idle established TLS flow of our server, and the most flows
 *    the process holds: a child process (this program with --hold) opens
 *    resumed TLS flows from sources spread over 127.0.0.0/8 and keeps them
 *    idle; the server side's RSS growth per flow is the figure.
 * 3. --procs P: more flows than one process may hold (RLIMIT_NOFILE): P
 *    server processes on one SO_REUSEPORT port and P client processes,
 *    all forked from this one, until N flows are up or --timeout passes;
 *    then every child is killed by its pid.
 *
 *    --gens G spreads the load over G generator processes (more load
 *    than one generator makes: the server nearer saturation).
 *    --mutual leaf|chain: mode M2 instead, on an operator PKI (root,
 *    operator CA, leaves): a client certificate required and verified,
 *    the server's certificate file holding the leaf alone (leaf) or the
 *    leaf and the operator CA (chain); phases 2 and the floor are skipped.
 * 2. RSS per idle established TLS flow of our server, and the most flows
 *    the process holds: a child process (this program with --hold) opens
 *    resumed TLS flows from sources spread over 127.0.0.0/8 and keeps them
 *    idle; the server side's RSS growth per flow is the figure.
 * 3. --procs P: more flows than one process may hold (RLIMIT_NOFILE): P
 *    server processes on one SO_REUSEPORT port and P client processes,
 *    all forked from this one, until N flows are up or --timeout passes;
 *    then every child is killed by its pid.
 * 4. --serve imsec|minimal SECONDS: one server alone for a profiler.
 *
 * Usage: net_tls_bench [--seconds S] [--rounds R] [--conc C] [--gens G]
 * [--mutual leaf|chain] [--flows N] (defaults 2 s, 8 rounds, 32, 1, off,
 * 50000), or net_tls_bench --procs P [--flows N] [--timeout S] (default
 * 120 s). Each round runs imsec and the peer back to back (alternating who
 * goes first); the medians of the per-round ratios are the figures least
 * moved by the shared machine's other load.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imsec/net.h"

extern char **environ;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "net_tls_bench: %s\n", what);
  exit(2);
}

/* ------------------------------------------------------------ certificates */

/* An operator PKI for --mutual (mode M2): root -> operator CA -> the
 * P-CSCF's leaf and a UE's leaf. Files: srv.pem (the leaf alone, as
 * `imsec pki` writes HOST.crt), srv-chain.pem (leaf and operator CA, as
 * HOST.chain.pem), srv.key, anchors.pem (root and operator CA: what the
 * server verifies UEs against), ue-chain.pem, ue.key. */
static X509 *pki_cert(EVP_PKEY *k, const char *cn, X509 *iss, EVP_PKEY *ik,
                      int ca, long serial) {
  X509 *c = X509_new();
  if (!c)
    die("x509");
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 86400);
  X509_set_pubkey(c, k);
  X509_NAME *n = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(c, iss ? X509_get_subject_name(iss) : n);
  X509V3_CTX v;
  X509V3_set_ctx(&v, iss ? iss : c, c, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints,
                                          ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (!e || !X509_add_ext(c, e, -1))
    die("x509 ext");
  X509_EXTENSION_free(e);
  if (!X509_sign(c, ik ? ik : k, EVP_sha256()))
    die("sign");
  return c;
}

static void pem_out(const char *dir, const char *name, X509 *a, X509 *b,
                    EVP_PKEY *k) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f)
    die("write pki");
  if ((a && !PEM_write_X509(f, a)) || (b && !PEM_write_X509(f, b)) ||
      (k && !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)))
    die("write pki");
  fclose(f);
}

/* The run's self-signed P-256 certificate: cert.pem, key.pem. */
static void make_cert(const char *dir) {
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (!k)
    die("keygen");
  X509 *c = pki_cert(k, "bench.pcscf", NULL, NULL, 0, 1);
  pem_out(dir, "cert.pem", c, NULL, NULL);
  pem_out(dir, "key.pem", NULL, NULL, k);
  X509_free(c);
  EVP_PKEY_free(k);
}

static void make_pki(const char *dir) {
  EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *ok = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *sk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *uk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (!rk || !ok || !sk || !uk)
    die("keygen");
  X509 *root = pki_cert(rk, "bench root", NULL, NULL, 1, 1);
  X509 *op = pki_cert(ok, "bench operator CA", root, rk, 1, 2);
  X509 *srv = pki_cert(sk, "bench.pcscf", op, ok, 0, 3);
  X509 *ue = pki_cert(uk, "bench.ue", op, ok, 0, 4);
  pem_out(dir, "srv.pem", srv, NULL, NULL);
  pem_out(dir, "srv-chain.pem", srv, op, NULL);
  pem_out(dir, "srv.key", NULL, NULL, sk);
  pem_out(dir, "anchors.pem", root, op, NULL);
  pem_out(dir, "ue-chain.pem", ue, op, NULL);
  pem_out(dir, "ue.key", NULL, NULL, uk);
  X509_free(root);
  X509_free(op);
  X509_free(srv);
  X509_free(ue);
  EVP_PKEY_free(rk);
  EVP_PKEY_free(ok);
  EVP_PKEY_free(sk);
  EVP_PKEY_free(uk);
}

static void pki_rm(const char *dir) {
  static const char *const names[] = {"cert.pem",      "key.pem", "srv.pem",
                                      "srv-chain.pem", "srv.key", "anchors.pem",
                                      "ue-chain.pem",  "ue.key"};
  char p[600];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* ------------------------------------------------------------ the peer */

/* A minimal OpenSSL epoll server: what one writes from the OpenSSL man
 * pages. Non-blocking sockets, SSL_set_fd, default context settings. */
typedef struct peer {
  SSL_CTX *ctx;
  int lfd, ep;
  uint16_t port;
  atomic_int stop;
  atomic_ullong handshakes;
  pthread_t th;
} peer;

static void *peer_run(void *arg) {
  peer *p = arg;
  struct epoll_event evs[256];
  char buf[4096];
  while (!atomic_load(&p->stop)) {
    int n = epoll_wait(p->ep, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        for (;;) {
          int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0)
            break;
          SSL *ssl = SSL_new(p->ctx);
          SSL_set_fd(ssl, fd);
          SSL_set_accept_state(ssl);
          struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                   .data.ptr = ssl};
          epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      SSL *ssl = evs[i].data.ptr;
      int dead = 0;
      if (!SSL_is_init_finished(ssl)) {
        int r = SSL_do_handshake(ssl);
        if (r == 1) {
          atomic_fetch_add(&p->handshakes, 1);
        } else {
          int e = SSL_get_error(ssl, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            dead = 1;
        }
      }
      while (!dead && SSL_is_init_finished(ssl)) {
        int r = SSL_read(ssl, buf, sizeof buf);
        if (r > 0)
          continue;
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ)
          dead = 1;
        break;
      }
      if (dead) {
        /* Out of the epoll set before close: a generator being spawned
         * holds a copy of every descriptor until its exec, and epoll
         * forgets a registration only when the last copy closes, so
         * without this an event could still arrive for the freed SSL. */
        int fd = SSL_get_fd(ssl);
        epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
        SSL_free(ssl);
        close(fd);
      }
      ERR_clear_error();
    }
  }
  return NULL;
}

/* `ca` set: mutual TLS, a client certificate required and verified
 * against it, as the man pages show. */
static void peer_start(peer *p, const char *cert, const char *key,
                       const char *ca) {
  memset(p, 0, sizeof *p);
  p->ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(p->ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(p->ctx, key, SSL_FILETYPE_PEM) != 1)
    die("peer cert");
  if (ca) {
    static const unsigned char sid[] = "minimal";
    if (SSL_CTX_load_verify_locations(p->ctx, ca, NULL) != 1 ||
        SSL_CTX_set_session_id_context(p->ctx, sid, sizeof sid) != 1)
      die("peer ca");
    SSL_CTX_set_verify(p->ctx,
                       SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(p->lfd, 4096) != 0)
    die("peer listen");
  socklen_t sl = sizeof a;
  getsockname(p->lfd, (struct sockaddr *)&a, &sl);
  p->port = ntohs(a.sin_port);
  p->ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &ev);
  pthread_create(&p->th, NULL, peer_run, p);
}

static void peer_stop(peer *p) {
  atomic_store(&p->stop, 1);
  pthread_join(p->th, NULL);
  close(p->ep);
  close(p->lfd);
  SSL_CTX_free(p->ctx);
}

/* ------------------------------------------------------------ generator */

/* A handshake counts once the client holds the server's first session
 * ticket: the server's whole job (flight, Finished, ticket) is done. */
typedef struct conn {
  int fd;
  SSL *ssl;
  int ticket;
} conn;

typedef struct gen {
  SSL_CTX *ctx;
  SSL_SESSION *sess; /* resume with it when set */
  int want_sess;
  struct sockaddr_in to;
  int ep;
  conn *c;
  int conc;
  uint64_t done, failed;
  int keep; /* keep finished flows open (idle) instead of closing */
  uint64_t kept;
  unsigned src;
  _Atomic uint64_t *progress; /* kept flows, shown to a parent (--procs) */
} gen;

/* Frees a client SSL without marking its session not resumable: OpenSSL
 * does that to a session whose connection ends with no close_notify
 * (ssl_clear_bad_session), and the generator resets its connections. */
static void client_free(SSL *ssl) {
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN);
  SSL_free(ssl);
}

static int new_sess_cb(SSL *ssl, SSL_SESSION *s) {
  conn *c = SSL_get_app_data(ssl);
  gen *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  c->ticket = 1;
  /* A copy: SSL_free without a close_notify (the generator resets its
   * connections) marks the connection's own session not resumable
   * (OpenSSL's ssl_clear_bad_session), which would make every "resumed"
   * handshake a full one. */
  if (g->want_sess && !g->sess)
    g->sess = SSL_SESSION_dup(s);
  return 0;
}

static void gen_init(gen *g, int conc) {
  memset(g, 0, sizeof *g);
  g->ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(g->ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(g->ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(g->ctx, SSL_SESS_CACHE_CLIENT |
                                             SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(g->ctx, new_sess_cb);
  SSL_CTX_set_app_data(g->ctx, g);
  g->ep = epoll_create1(0);
  g->conc = conc;
  g->c = calloc((size_t)conc, sizeof *g->c);
  for (int i = 0; i < conc; i++)
    g->c[i].fd = -1;
}

static void gen_free(gen *g) {
  for (int i = 0; i < g->conc; i++) {
    if (g->c[i].fd >= 0) {
      client_free(g->c[i].ssl);
      close(g->c[i].fd);
    }
  }
  free(g->c);
  close(g->ep);
  if (g->sess)
    SSL_SESSION_free(g->sess);
  SSL_CTX_free(g->ctx);
}

static int conn_open(gen *g, conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  /* Sources spread over 127.0.0.0/8 so ports never run out; RST on close
   * so no TIME_WAIT piles up. */
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  unsigned s = g->src++;
  struct sockaddr_in from = {.sin_family = AF_INET};
  from.sin_addr.s_addr = htonl(0x7f000000u | (((s / 250) % 250 + 1) << 16) |
                               (((s / 62500) % 250) << 8) | (s % 250 + 1));
  bind(fd, (struct sockaddr *)&from, sizeof from);
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&g->to, sizeof g->to) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->fd = fd;
  c->ticket = 0;
  c->ssl = SSL_new(g->ctx);
  SSL_set_app_data(c->ssl, c);
  SSL_set_fd(c->ssl, fd);
  SSL_set_connect_state(c->ssl);
  if (g->sess) {
    /* Each connection resumes from its own copy: OpenSSL 3.0's client
     * removes the session it resumed from its cache when a new ticket
     * comes, which marks that session not resumable for everyone. */
    SSL_SESSION *copy = SSL_SESSION_dup(g->sess);
    SSL_set_session(c->ssl, copy);
    SSL_SESSION_free(copy);
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                           .data.ptr = c};
  epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static void conn_end(gen *g, conn *c, int ok) {
  if (ok && g->keep) {
    /* Keep the socket, drop the client's TLS state: the idle flow lives
     * on at the server. */
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    client_free(c->ssl);
    g->kept++;
    if (g->progress)
      atomic_store(g->progress, g->kept);
  } else {
    client_free(c->ssl);
    close(c->fd);
  }
  c->fd = -1;
  c->ssl = NULL;
  if (ok)
    g->done++;
  else
    g->failed++;
}

static void conn_step(gen *g, conn *c) {
  char buf[4096];
  if (!SSL_is_init_finished(c->ssl)) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        conn_end(g, c, 0);
      ERR_clear_error();
      return;
    }
  }
  for (;;) {
    int r = SSL_read(c->ssl, buf, sizeof buf);
    if (r > 0)
      continue;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (c->ticket) {
      conn_end(g, c, 1);
      return;
    }
    if (e != SSL_ERROR_WANT_READ)
      conn_end(g, c, 0);
    return;
  }
}

/* Run handshakes against `port` until `seconds` pass or `limit` are done.
 * Returns the completed count. */
static uint64_t gen_run(gen *g, uint16_t port, double seconds, uint64_t limit) {
  g->to = (struct sockaddr_in){.sin_family = AF_INET,
                               .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint64_t start = g->done;
  double end = now_s() + seconds;
  struct epoll_event evs[256];
  while (now_s() < end && g->done - start < limit) {
    uint64_t busy = 0;
    for (int i = 0; i < g->conc; i++)
      busy += g->c[i].fd >= 0;
    /* Open no more than the limit still needs (with --hold and --procs a
     * flow opened is a flow kept). */
    for (int i = 0; i < g->conc && g->done + busy - start < limit; i++) {
      if (g->c[i].fd >= 0)
        continue;
      if (conn_open(g, &g->c[i]) == 0) {
        busy++;
      } else {
        g->failed++;
        if (g->failed > 1000 && g->done == 0)
          die("cannot connect");
      }
    }
    int n = epoll_wait(g->ep, evs, 256, 50);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->fd >= 0)
        conn_step(g, c);
    }
  }
  /* Drop whatever is in flight. */
  for (int i = 0; i < g->conc; i++) {
    if (g->c[i].fd >= 0) {
      client_free(g->c[i].ssl);
      close(g->c[i].fd);
      g->c[i].fd = -1;
    }
  }
  return g->done - start;
}

#define GENS_MAX 8

/* ------------------------------------------------------------ the floor */

/* OpenSSL's own cost of the server side of a handshake, with no sockets:
 * a server SSL (configured as ours: one ticket, no session cache) and a
 * client SSL joined by a BIO pair in one thread; only the server's calls
 * are timed (thread CPU clock). No server can go below this. */
static double thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int floor_ticket;
static SSL_SESSION *floor_sess;

static int floor_sess_cb(SSL *ssl, SSL_SESSION *sess) {
  (void)ssl;
  floor_ticket = 1;
  if (!floor_sess) /* a copy, as in new_sess_cb */
    floor_sess = SSL_SESSION_dup(sess);
  return 0;
}

static double floor_us(const char *cert, const char *key, int resumed,
                       double seconds) {
  SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate_chain_file(sctx, cert);
  SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM);
  SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(sctx, 1);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT |
                                           SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(cctx, floor_sess_cb);
  floor_sess = NULL;
  double spent = 0, end = now_s() + seconds;
  long n = 0;
  char buf[256];
  for (int first = 1; now_s() < end || first; first = 0) {
    SSL *c = SSL_new(cctx);
    double t0 = thread_cpu_us();
    SSL *sv = SSL_new(sctx);
    spent += thread_cpu_us() - t0;
    BIO *bs, *bc;
    BIO_new_bio_pair(&bs, 0, &bc, 0);
    SSL_set_bio(sv, bs, bs);
    SSL_set_bio(c, bc, bc);
    SSL_set_accept_state(sv);
    SSL_set_connect_state(c);
    if (resumed && floor_sess) { /* a copy per connection, as conn_open */
      SSL_SESSION *s = SSL_SESSION_dup(floor_sess);
      SSL_set_session(c, s);
      SSL_SESSION_free(s);
    }
    floor_ticket = 0;
    for (int step = 0; step < 20 && !floor_ticket; step++) {
      if (!SSL_is_init_finished(c))
        SSL_do_handshake(c);
      else
        (void)SSL_read(c, buf, sizeof buf);
      t0 = thread_cpu_us();
      if (!SSL_is_init_finished(sv))
        SSL_do_handshake(sv);
      else
        (void)SSL_read(sv, buf, sizeof buf);
      spent += thread_cpu_us() - t0;
      ERR_clear_error();
    }
    if (!floor_ticket)
      die("floor: no ticket");
    client_free(c);
    t0 = thread_cpu_us();
    SSL_free(sv);
    spent += thread_cpu_us() - t0;
    if (!first || !resumed)
      n++;
    else
      spent = 0; /* the first resumed round only fetched the session */
  }
  if (floor_sess)
    SSL_SESSION_free(floor_sess);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return n ? spent / (double)n : 0;
}

/* ------------------------------------------------------------ phases */

static rlim_t raise_nofile(void);

typedef struct result {
  double hs_per_s;
  double cpu_us; /* server CPU per handshake */
  double faults; /* server page faults per handshake (minor) */
} result;

static long minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

/* --gen PORT SECONDS CONC RESUMED: the load generator, in a process of its
 * own so that its OpenSSL (a TLS client costs more than a server) shares
 * neither the servers' CPU accounting nor OpenSSL's process-wide locks
 * (method store, name map), whose cache lines would otherwise bounce
 * between the generator's core and the server's. Prints "ready", waits
 * for a byte (or EOF) on stdin, then runs the timed part and prints
 * "<handshakes> <seconds>". */
static int gen_main(uint16_t port, double seconds, int conc, int resumed,
                    const char *pki_dir) {
  raise_nofile();
  gen g;
  gen_init(&g, conc);
  if (pki_dir) { /* --mutual: present the UE's certificate and chain */
    char c[600], k[600];
    snprintf(c, sizeof c, "%s/ue-chain.pem", pki_dir);
    snprintf(k, sizeof k, "%s/ue.key", pki_dir);
    if (SSL_CTX_use_certificate_chain_file(g.ctx, c) != 1 ||
        SSL_CTX_use_PrivateKey_file(g.ctx, k, SSL_FILETYPE_PEM) != 1)
      die("generator: client certificate");
  }
  if (resumed) {
    g.want_sess = 1;
    if (gen_run(&g, port, 5, 1) < 1 || !g.sess)
      die("no session");
    g.want_sess = 0;
  }
  printf("ready\n");
  fflush(stdout);
  char go;
  if (read(0, &go, 1) < 0) /* the parent starts every generator at once */
    die("start");
  double w0 = now_s();
  uint64_t n = gen_run(&g, port, seconds, UINT64_MAX);
  printf("%llu %.6f\n", (unsigned long long)n, now_s() - w0);
  if (g.failed) /* a figure made with failures says so */
    fprintf(stderr, "generator: %llu handshakes failed\n",
            (unsigned long long)g.failed);
  fflush(stdout);
  gen_free(&g);
  return 0;
}

/* One phase: `gens` generator processes against `port`, `conc` handshakes
 * in flight between them; the server CPU is this whole process's (both
 * servers live here; the idle one costs nothing). More generators bring
 * the server nearer saturation, where it always has work waiting (as a
 * server sustaining a rate does): fewer idle sleeps, more events per
 * wakeup. On 2 shared cores it never quite gets there. */
static result measure(const char *self, uint16_t port, double seconds, int conc,
                      int resumed, int gens, const char *pki_dir) {
  char ps[16], ss[32], cs[16], rs[4];
  snprintf(ps, sizeof ps, "%u", port);
  snprintf(ss, sizeof ss, "%.3f", seconds);
  snprintf(rs, sizeof rs, "%d", resumed);
  pid_t child[GENS_MAX];
  FILE *f[GENS_MAX];
  int start[2];
  if (pipe(start) != 0)
    die("pipe");
  for (int g = 0; g < gens; g++) {
    int share = conc / gens + (g < conc % gens);
    snprintf(cs, sizeof cs, "%d", share > 0 ? share : 1);
    int pfd[2];
    if (pipe(pfd) != 0)
      die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    posix_spawn_file_actions_adddup2(&fa, start[0], 0);
    posix_spawn_file_actions_addclose(&fa, start[1]);
    char *cargv[] = {(char *)self, "--gen",         ps,  ss, cs,
                     rs,           (char *)pki_dir, NULL};
    if (posix_spawn(&child[g], "/proc/self/exe", &fa, NULL, cargv, environ) !=
        0)
      die("spawn generator");
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    f[g] = fdopen(pfd[0], "r");
    if (!f[g])
      die("generator");
  }
  close(start[0]);
  char line[128];
  result r = {0, 0, 0};
  /* Every generator has its session (resumed) before anyone's clock runs;
   * then one write starts them all. */
  for (int g = 0; g < gens; g++)
    if (!fgets(line, sizeof line, f[g]))
      die("generator");
  double c0 = cpu_s(RUSAGE_SELF);
  long f0 = minflt();
  if (write(start[1], "go", 2) != 2)
    die("start generators");
  close(start[1]); /* each generator's read sees the bytes or EOF */
  unsigned long long total = 0;
  double dt_max = 0;
  for (int g = 0; g < gens; g++) {
    unsigned long long n = 0;
    double dt = 0;
    if (!fgets(line, sizeof line, f[g]) ||
        sscanf(line, "%llu %lf", &n, &dt) != 2)
      die("generator result");
    total += n;
    if (dt > dt_max)
      dt_max = dt;
  }
  double c1 = cpu_s(RUSAGE_SELF);
  long f1 = minflt();
  for (int g = 0; g < gens; g++) {
    fclose(f[g]);
    waitpid(child[g], NULL, 0);
  }
  if (total && dt_max > 0) {
    r.hs_per_s = (double)total / dt_max;
    r.cpu_us = (c1 - c0) / (double)total * 1e6;
    r.faults = (double)(f1 - f0) / (double)total;
  }
  return r;
}

static double median(double *v, int n) {
  for (int i = 1; i < n; i++) /* insertion sort: n <= 10 */
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
      res = 0;
    fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static rlim_t raise_nofile(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

/* --hold PORT N: open N resumed TLS flows and keep them idle. */
static int hold_main(uint16_t port, uint64_t n) {
  raise_nofile();
  gen g;
  gen_init(&g, 64);
  g.want_sess = 1;
  if (gen_run(&g, port, 10, 1) < 1 || !g.sess)
    die("hold: first handshake");
  g.want_sess = 0;
  g.keep = 1;
  gen_run(&g, port, 240, n - 1);
  printf("%llu\n", (unsigned long long)g.kept + 1);
  fflush(stdout);
  pause();
  return 0;
}

/* ------------------------------------------------------------ --procs */

/* One machine, many processes: RLIMIT_NOFILE caps a process (20,000 hard
 * in the sandbox this was written in), not the machine. `nproc` server
 * processes share one listening port through SO_REUSEPORT (the kernel
 * spreads connections over them by 4-tuple) and `nproc` client processes
 * each hold an equal share of resumed idle TLS flows from their own
 * sources in 127.0.0.0/8. The processes are forked from this one after
 * the ticket keys were made, so every server accepts every ticket (as
 * servers that share a key file would). Results go through one shared
 * anonymous mapping. */
typedef struct proc_slot {
  pid_t pid;
  _Atomic int ready;
  _Atomic uint64_t flows, handshakes, resumed, refused, kept;
  _Atomic long rss0, rss; /* KiB: after start, now */
} proc_slot;

#define PROCS_MAX 32

static void child_setup(void) {
  /* Die with the parent, whatever happens to it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1)
    _exit(3);
  raise_nofile();
}

static void server_child(proc_slot *s, imsec_net_tls *tls, uint16_t port) {
  child_setup();
  imsec_net_config nc = {.threads = 1};
  nc.limits.max_flows_per_ip = 1000000;
  nc.limits.max_flows = 1000000;
  nc.limits.idle_timeout_ms = 3600000;
  imsec_net *net = NULL;
  struct sockaddr_in la = {.sin_family = AF_INET,
                           .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint16_t got = 0;
  if (imsec_net_new(&net, &nc) != 0 ||
      imsec_net_listen(net, IMSEC_NET_TLS, (struct sockaddr *)&la, tls, &got) !=
          0 ||
      got != port || imsec_net_start(net) != 0)
    _exit(4);
  atomic_store(&s->rss0, rss_kib());
  atomic_store(&s->ready, 1);
  for (;;) { /* until the parent kills us */
    imsec_net_stats st;
    imsec_net_get_stats(net, &st);
    atomic_store(&s->flows, st.flows);
    atomic_store(&s->handshakes, st.handshakes);
    atomic_store(&s->resumed, st.resumed);
    atomic_store(&s->refused, st.refused);
    atomic_store(&s->rss, rss_kib());
    usleep(100000);
  }
}

static void client_child(proc_slot *s, SSL_SESSION *sess, uint16_t port,
                         uint64_t n, unsigned src0, double seconds) {
  child_setup();
  gen g;
  gen_init(&g, 64);
  g.sess = sess; /* this process's copy of the parent's session */
  g.keep = 1;
  g.src = src0;
  g.progress = &s->kept;
  atomic_store(&s->ready, 1);
  gen_run(&g, port, seconds, n);
  atomic_store(&s->ready, 2);
  for (;;)
    pause();
}

static int procs_main(int nproc, uint64_t flows, double timeout) {
  signal(SIGPIPE, SIG_IGN);
  rlim_t nofile = raise_nofile();
  uint64_t share = (flows + (uint64_t)nproc - 1) / (uint64_t)nproc;
  /* Each server gets about `share` flows (the kernel's hash spreads them
   * unevenly by a few percent), each client exactly its share plus its
   * in-flight handshakes. */
  if (share + share / 10 + 300 > (uint64_t)nofile) {
    fprintf(stderr,
            "net_tls_bench: --procs %d: %llu flows per process would "
            "exceed RLIMIT_NOFILE %llu; use more processes\n",
            nproc, (unsigned long long)share, (unsigned long long)nofile);
    return 2;
  }
  char dir[] = "/tmp/imsec-bench-XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp");
  make_cert(dir);
  char cert[600], key[600];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  imsec_net_tls *tls = NULL;
  imsec_net_tls_config tc = {
      .server = 1, .cert_file = cert, .key_file = key, .tickets = 1};
  if (imsec_net_tls_new(&tls, &tc) != 0)
    die("tls");

  /* One handshake against a short-lived server in this process makes the
   * ticket keys (the forked servers inherit them) and the session every
   * client resumes. Its loop thread is joined before any fork. */
  SSL_SESSION *sess = NULL;
  {
    imsec_net_config nc = {.threads = 1};
    imsec_net *net = NULL;
    struct sockaddr_in la = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uint16_t p = 0;
    if (imsec_net_new(&net, &nc) != 0 ||
        imsec_net_listen(net, IMSEC_NET_TLS, (struct sockaddr *)&la, tls, &p) !=
            0 ||
        imsec_net_start(net) != 0)
      die("prime: listen");
    gen g;
    gen_init(&g, 1);
    g.want_sess = 1;
    if (gen_run(&g, p, 10, 1) < 1 || !g.sess)
      die("prime: first handshake");
    sess = g.sess;
    g.sess = NULL;
    gen_free(&g);
    imsec_net_del(net);
  }

  /* The port: held by a bound (not listening) SO_REUSEPORT socket until
   * every server listens on it. */
  int rfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(rfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(rfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in ra = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t rl = sizeof ra;
  if (bind(rfd, (struct sockaddr *)&ra, sizeof ra) != 0 ||
      getsockname(rfd, (struct sockaddr *)&ra, &rl) != 0)
    die("reserve port");
  uint16_t port = ntohs(ra.sin_port);

  proc_slot *sv = mmap(NULL, 2 * PROCS_MAX * sizeof *sv, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sv == MAP_FAILED)
    die("mmap");
  proc_slot *cl = sv + PROCS_MAX;
  printf("# net_tls_bench --procs %d --flows %llu: %d server processes on "
         "127.0.0.1:%u (SO_REUSEPORT), %d client processes, resumed TLS 1.3, "
         "RLIMIT_NOFILE %llu per process, give up after %.0f s\n",
         nproc, (unsigned long long)flows, nproc, port, nproc,
         (unsigned long long)nofile, timeout);
  fflush(stdout);
  double t0 = now_s();
  int started = 0, clients = 0;
  for (int i = 0; i < nproc; i++) {
    pid_t pid = fork();
    if (pid < 0)
      break;
    if (pid == 0)
      server_child(&sv[i], tls, port);
    sv[i].pid = pid;
    started++;
  }
  int ready = 0;
  while (started == nproc && now_s() < t0 + 10) {
    ready = 0;
    for (int i = 0; i < nproc; i++)
      ready += atomic_load(&sv[i].ready);
    if (ready == nproc)
      break;
    usleep(10000);
  }
  close(rfd);
  if (ready == nproc) {
    for (int i = 0; i < nproc; i++) {
      uint64_t n = flows / (uint64_t)nproc +
                   ((uint64_t)i < flows % (uint64_t)nproc ? 1 : 0);
      pid_t pid = fork();
      if (pid < 0)
        break;
      if (pid == 0) /* distinct sources: 25,000 apart (n < 20,000) */
        client_child(&cl[i], sess, port, n, (unsigned)i * 25000u, timeout);
      cl[i].pid = pid;
      clients++;
    }
  }

  /* Wait until the servers hold every flow, the clients are done, or
   * time is up. */
  double t_up = 0, next_print = now_s() + 10;
  uint64_t total = 0;
  while (clients == nproc && now_s() < t0 + timeout) {
    total = 0;
    int done = 0;
    for (int i = 0; i < nproc; i++) {
      total += atomic_load(&sv[i].flows);
      done += atomic_load(&cl[i].ready) == 2;
    }
    if (total >= flows) {
      t_up = now_s() - t0;
      break;
    }
    if (done == nproc) {
      t_up = now_s() - t0;
      break;
    }
    if (now_s() >= next_print) {
      printf("# %.0f s: %llu flows\n", now_s() - t0, (unsigned long long)total);
      fflush(stdout);
      next_print += 10;
    }
    usleep(100000);
  }
  usleep(500000); /* let the stats settle: the servers refresh every 0.1 s */

  uint64_t tf = 0, th = 0, tr = 0, tref = 0, tk = 0;
  long rss = 0, rss0 = 0;
  printf("%-8s %8s %10s %12s %10s %10s\n", "process", "pid", "flows",
         "resumed_hs", "RSS_KiB", "RSS0_KiB");
  for (int i = 0; i < started; i++) {
    uint64_t f = atomic_load(&sv[i].flows);
    long r = atomic_load(&sv[i].rss), r0 = atomic_load(&sv[i].rss0);
    printf("server%-2d %8d %10llu %12llu %10ld %10ld\n", i, (int)sv[i].pid,
           (unsigned long long)f,
           (unsigned long long)atomic_load(&sv[i].resumed), r, r0);
    tf += f;
    th += atomic_load(&sv[i].handshakes);
    tr += atomic_load(&sv[i].resumed);
    tref += atomic_load(&sv[i].refused);
    rss += r;
    rss0 += r0;
  }
  for (int i = 0; i < clients; i++) {
    uint64_t k = atomic_load(&cl[i].kept);
    printf("client%-2d %8d %10llu\n", i, (int)cl[i].pid, (unsigned long long)k);
    tk += k;
  }
  printf("established idle TLS flows: %llu of %llu (servers hold %llu, "
         "clients %llu; %llu handshakes, %llu resumed, %llu refused)%s\n",
         (unsigned long long)tf, (unsigned long long)flows,
         (unsigned long long)tf, (unsigned long long)tk, (unsigned long long)th,
         (unsigned long long)tr, (unsigned long long)tref,
         tf >= flows ? "" : " -- NOT all");
  if (t_up > 0 && tf >= flows)
    printf("all flows up after %.1f s (%.0f handshakes/s over the run)\n", t_up,
           (double)tf / t_up);
  if (tf)
    printf("server RSS: %ld KiB total (%.1f MiB) over %d processes, %ld KiB "
           "at start; RSS per idle TLS flow: %.2f KiB (growth), %.2f KiB "
           "(total / flows)\n",
           rss, (double)rss / 1024, started, rss0,
           (double)(rss - rss0) / (double)tf, (double)rss / (double)tf);
  fflush(stdout);

  /* Stop every child by its pid. */
  for (int i = 0; i < clients; i++)
    kill(cl[i].pid, SIGKILL);
  for (int i = 0; i < started; i++)
    kill(sv[i].pid, SIGKILL);
  for (int i = 0; i < clients; i++)
    waitpid(cl[i].pid, NULL, 0);
  for (int i = 0; i < started; i++)
    waitpid(sv[i].pid, NULL, 0);
  munmap(sv, 2 * PROCS_MAX * sizeof *sv);
  SSL_SESSION_free(sess);
  imsec_net_tls_del(tls);
  pki_rm(dir);
  return tf >= flows ? 0 : 1;
}

/* The certificate files of a run in `dir`: the self-signed P-256
 * certificate, or with --mutual (mode M2) the operator PKI's server leaf,
 * alone (1) or with the operator CA (2), and the anchors for UEs. The same
 * files serve both servers. */
static void bench_files(const char *dir, int mutual, char cert[600],
                        char key[600], char anchors[600]) {
  make_cert(dir);
  snprintf(cert, 600, "%s/cert.pem", dir);
  snprintf(key, 600, "%s/key.pem", dir);
  anchors[0] = 0;
  if (mutual) {
    make_pki(dir);
    snprintf(cert, 600, "%s/%s", dir,
             mutual == 1 ? "srv.pem" : "srv-chain.pem");
    snprintf(key, 600, "%s/srv.key", dir);
    snprintf(anchors, 600, "%s/anchors.pem", dir);
  }
}

/* Our server: one loop, tickets on, limits out of the way, on a free
 * loopback port; `anchors` set: a client certificate required. */
static imsec_net *our_server(const char *cert, const char *key,
                             const char *anchors, imsec_net_tls **tls,
                             uint16_t *port) {
  imsec_net_tls_config tc = {
      .server = 1, .cert_file = cert, .key_file = key, .tickets = 1};
  if (anchors) {
    tc.ca_file = anchors;
    tc.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  }
  imsec_net_config nc = {.threads = 1};
  nc.limits.max_flows_per_ip = 1000000;
  nc.limits.max_flows = 1000000;
  nc.limits.idle_timeout_ms = 3600000;
  imsec_net *net = NULL;
  struct sockaddr_in la = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (imsec_net_tls_new(tls, &tc) != 0 || imsec_net_new(&net, &nc) != 0 ||
      imsec_net_listen(net, IMSEC_NET_TLS, (struct sockaddr *)&la, *tls,
                       port) != 0 ||
      imsec_net_start(net) != 0)
    die("our server: listen");
  return net;
}

/* --serve imsec|minimal SECONDS [--mutual leaf|chain]: one server alone,
 * for a profiler to attach to (perf record -p, valgrind). Prints its port
 * and the directory of its certificates, serves for SECONDS, prints the
 * handshakes it completed. Load it with `net_tls_bench --gen PORT SECONDS
 * CONC RESUMED [DIR] < /dev/null` (DIR: with --mutual, for the UE's
 * certificate). */
static int serve_main(const char *kind, double seconds, int mutual) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  char dir[] = "/tmp/imsec-bench-XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp");
  char cert[600], key[600], anchors[600];
  bench_files(dir, mutual, cert, key, anchors);
  unsigned long long hs = 0;
  if (!strcmp(kind, "minimal")) {
    peer pr;
    peer_start(&pr, cert, key, mutual ? anchors : NULL);
    printf("%u %s\n", pr.port, dir);
    fflush(stdout);
    usleep((useconds_t)(seconds * 1e6));
    peer_stop(&pr);
    hs = atomic_load(&pr.handshakes);
  } else if (!strcmp(kind, "imsec")) {
    imsec_net_tls *tls = NULL;
    uint16_t port = 0;
    imsec_net *net =
        our_server(cert, key, mutual ? anchors : NULL, &tls, &port);
    printf("%u %s\n", port, dir);
    fflush(stdout);
    usleep((useconds_t)(seconds * 1e6));
    imsec_net_stats st;
    imsec_net_get_stats(net, &st);
    hs = st.handshakes;
    imsec_net_del(net);
    imsec_net_tls_del(tls);
  } else {
    die("--serve: imsec or minimal");
  }
  printf("%llu handshakes\n", hs);
  pki_rm(dir);
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: net_tls_bench [--seconds S] [--rounds R] [--conc C] "
                  "[--gens G] [--mutual leaf|chain] [--flows N]\n"
                  "       net_tls_bench --procs P [--flows N] [--timeout S]\n"
                  "       net_tls_bench --serve imsec|minimal SECONDS "
                  "[--mutual leaf|chain]\n");
  exit(2);
}

int main(int argc, char **argv) {
  double seconds = 2;
  int rounds = 8, conc = 32, gens = 1;
  int mutual = 0; /* 1: --mutual leaf, 2: --mutual chain */
  const char *serve = NULL;
  uint64_t flows = 50000;
  int procs = 0;
  double timeout = 120;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--gen") && i + 4 < argc)
      return gen_main((uint16_t)atoi(argv[i + 1]), atof(argv[i + 2]),
                      atoi(argv[i + 3]), atoi(argv[i + 4]),
                      i + 5 < argc ? argv[i + 5] : NULL);
    if (!strcmp(argv[i], "--hold") && i + 2 < argc)
      return hold_main((uint16_t)atoi(argv[i + 1]),
                       strtoull(argv[i + 2], NULL, 10));
    if (i + 1 >= argc)
      usage();
    if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--rounds"))
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--gens"))
      gens = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--serve") && i + 2 < argc) {
      serve = argv[++i];
      seconds = atof(argv[++i]);
    } else if (!strcmp(argv[i], "--mutual"))
      mutual = !strcmp(argv[++i], "leaf")  ? 1
               : !strcmp(argv[i], "chain") ? 2
                                           : -1;
    else if (!strcmp(argv[i], "--conc"))
      conc = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--flows"))
      flows = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--procs"))
      procs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--timeout"))
      timeout = atof(argv[++i]);
    else
      usage();
  }
  if (serve) {
    if (seconds <= 0 || seconds > 3600 || mutual < 0)
      usage();
    return serve_main(serve, seconds, mutual);
  }
  if (procs) {
    if (procs < 1 || procs > PROCS_MAX || flows < 2000 || flows > 400000 ||
        timeout < 5 || timeout > 600)
      usage();
    return procs_main(procs, flows, timeout);
  }
  if (seconds <= 0 || seconds > 60 || rounds < 1 || rounds > 10 || conc < 1 ||
      gens < 1 || gens > GENS_MAX || conc < gens || conc > 1024 || mutual < 0 ||
      flows < 2000 || flows > 200000)
    usage();
  signal(SIGPIPE, SIG_IGN);
  rlim_t nofile = raise_nofile();

  char dir[] = "/tmp/imsec-bench-XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp");
  char cert[600], key[600], anchors[600];
  bench_files(dir, mutual, cert, key, anchors);

  imsec_net_tls *tls = NULL;
  uint16_t port = 0;
  imsec_net *net = our_server(cert, key, mutual ? anchors : NULL, &tls, &port);
  peer pr;
  peer_start(&pr, cert, key, mutual ? anchors : NULL);

  printf("# net_tls_bench: TLS 1.3, %s, %d concurrent "
         "handshakes from %d generator%s, %.1f s per phase, %d rounds, "
         "loopback\n",
         mutual == 1   ? "mutual TLS, P-256 operator PKI, leaf-only "
                         "certificate file, client certificate required"
         : mutual == 2 ? "mutual TLS, P-256 operator PKI, certificate file "
                         "with the operator CA, client certificate required"
                       : "P-256 self-signed certificate, no client certificate",
         conc, gens, gens > 1 ? "s" : "", seconds, rounds);
  printf("%-8s %-8s %12s %14s %10s\n", "mode", "server", "handshakes/s",
         "server_us/hs", "faults/hs");
  double sum[2][2][2] = {{{0}}}; /* [resumed][ours=0/peer=1][rate/cpu] */
  double rate_ratio[2][10], cpu_ratio[2][10];
  for (int r = 0; r < rounds; r++) {
    for (int resumed = 0; resumed <= 1; resumed++) {
      result res2[2];
      for (int k = 0; k <= 1; k++) {
        int who = (k + r) % 2; /* alternate who goes first */
        uint16_t p = who == 0 ? port : pr.port;
        result res = measure(argv[0], p, seconds, conc, resumed, gens,
                             mutual ? dir : NULL);
        printf("%-8s %-8s %12.0f %14.0f %10.1f\n", resumed ? "resumed" : "full",
               who == 0 ? "imsec" : "minimal", res.hs_per_s, res.cpu_us,
               res.faults);
        fflush(stdout);
        sum[resumed][who][0] += res.hs_per_s;
        sum[resumed][who][1] += res.cpu_us;
        res2[who] = res;
      }
      rate_ratio[resumed][r] =
          res2[1].hs_per_s > 0 ? res2[0].hs_per_s / res2[1].hs_per_s : 0;
      cpu_ratio[resumed][r] =
          res2[0].cpu_us > 0 ? res2[1].cpu_us / res2[0].cpu_us : 0;
    }
  }
  for (int resumed = 0; resumed <= 1; resumed++) {
    double a = sum[resumed][0][0] / rounds, b = sum[resumed][1][0] / rounds;
    double ca = sum[resumed][0][1] / rounds, cb = sum[resumed][1][1] / rounds;
    printf("%s: imsec %.0f/s vs minimal %.0f/s = %.2fx (median of rounds "
           "%.2fx); server CPU %.0f vs %.0f us/handshake = %.2fx (median "
           "%.2fx)\n",
           resumed ? "resumed" : "full", a, b, b > 0 ? a / b : 0,
           median(rate_ratio[resumed], rounds), ca, cb, ca > 0 ? cb / ca : 0,
           median(cpu_ratio[resumed], rounds));
  }
  peer_stop(&pr);
  if (mutual) { /* the floor and the idle flows are the server-cert case's */
    imsec_net_del(net);
    imsec_net_tls_del(tls);
    pki_rm(dir);
    return 0;
  }
  printf("OpenSSL floor (server side in memory, no sockets): full %.0f us, "
         "resumed %.0f us per handshake\n",
         floor_us(cert, key, 0, seconds), floor_us(cert, key, 1, seconds));
  fflush(stdout);

  /* Idle flows: the child holds them, we measure our own RSS. */
  uint64_t target = flows;
  if (target + 200 > (uint64_t)nofile) {
    target = (uint64_t)nofile - 200;
    printf("# RLIMIT_NOFILE hard limit %llu: flows capped at %llu\n",
           (unsigned long long)nofile, (unsigned long long)target);
  }
  char ps[16], ns[24];
  snprintf(ps, sizeof ps, "%u", port);
  snprintf(ns, sizeof ns, "%llu", (unsigned long long)target);
  int pfd[2];
  if (pipe(pfd) != 0)
    die("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
  posix_spawn_file_actions_addclose(&fa, pfd[0]);
  char *cargv[] = {argv[0], "--hold", ps, ns, NULL};
  pid_t child;
  if (posix_spawn(&child, "/proc/self/exe", &fa, NULL, cargv, environ) != 0)
    die("spawn");
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  imsec_net_stats st;
  long rss1 = 0;
  uint64_t at1 = 0;
  double t_end = now_s() + 300;
  while (now_s() < t_end) {
    imsec_net_get_stats(net, &st);
    if (!at1 && st.flows >= 1000) {
      rss1 = rss_kib();
      at1 = st.flows;
    }
    /* The child's first handshake only fetches the session to resume
     * and closes: the server ends up holding target - 1 flows. */
    if (st.flows + 1 >= target)
      break;
    int status;
    if (waitpid(child, &status, WNOHANG) == child)
      break;
    usleep(20000);
  }
  FILE *cf = fdopen(pfd[0], "r");
  unsigned long long held = 0;
  if (fscanf(cf, "%llu", &held) != 1)
    held = 0;
  usleep(500000); /* let the last handshakes settle */
  imsec_net_get_stats(net, &st);
  long rss2 = rss_kib();
  printf("idle TLS flows held by the server: %llu (child reports %llu)\n",
         (unsigned long long)st.flows, held);
  if (st.flows > at1 && at1)
    printf("RSS per idle TLS flow: %.2f KiB (RSS %ld KiB at %llu flows, %ld "
           "KiB at %llu)\n",
           (double)(rss2 - rss1) / (double)(st.flows - at1), rss1,
           (unsigned long long)at1, rss2, (unsigned long long)st.flows);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  fclose(cf);
  imsec_net_del(net);
  imsec_net_tls_del(tls);
  pki_rm(dir);
  return 0;
}
