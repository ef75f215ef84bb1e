/*
 * Server CPU per handshake for every deployment mode, side by side in one
 * run, loopback only, bounded in count.
 *
 * The server is what a P-CSCF runs: the host's net port
 * (include/imsec/host_net.h) with one loop thread, its listeners made by
 * the port from a TLS configuration as the daemon's are, and an element
 * that keeps every flow and does nothing else (no SIP is sent: the figure
 * is the handshake and the flow's life around it, what each mode adds
 * before the first REGISTER). The client is this program's main thread,
 * plain blocking OpenSSL, one connection at a time: connect, handshake,
 * close_notify, read to the server's close, so every handshake has been
 * handled by the server before the next one starts.
 *
 * The server's cost is its loop thread's CPU time
 * (pthread_getcpuclockid of the loop thread, read from the main thread
 * before and after each batch) divided by the handshakes of the batch:
 * neither the client's work nor the rest of the machine counts in it.
 *
 * Modes (one listener each where the TLS policy differs):
 *   m1        TLS 1.3, server certificate, full handshake (ticket issued);
 *   m1-res    the same, resumed from the newest ticket (RFC 8446 §2.2);
 *   m2a       TLS 1.3, client certificate required and verified to the
 *             operator CA (root -> operator CA -> UE leaf);
 *   m3        TLS 1.3 external PSK with ECDHE (psk_dhe_ke, RFC 8446
 *             §4.2.9), the key configured in the port's table
 *             (imsec_hostnet_psk_set_static, what --psk-file loads);
 *   m3-12     TLS 1.2 ECDHE-PSK (RFC 5489, ECDHE-PSK-CHACHA20-POLY1305),
 *             the same configured key;
 *   m3-aka    TLS 1.3 external PSK with ECDHE, the key installed by the
 *             element (imsec_out_psk, what the P-CSCF does after an AKA
 *             run) under an opaque identity;
 *   m3-ctx    TLS 1.3 external PSK with ECDHE, the key from a look-up
 *             callback of the TLS context itself (net/ alone, no port
 *             table): the floor the table modes are read against;
 *   m3-nt     m3 on a listener that issues no session ticket: what the
 *             ticket a PSK flow gets (and never uses: a UE's PSK flow does
 *             not resume) costs the server;
 *   dtls      DTLS 1.2 with the stateless cookie exchange (RFC 6347
 *             §4.2.1), server certificate.
 * A mode whose handshake fails, or completes without what it measures
 * (no PSK used, no resumption), is reported as failed, not measured.
 *
 * Rounds: every round runs every mode's batch of N handshakes, the order
 * turned by one each round, so the shared machine's noise falls on all
 * modes alike; the figures are the medians over the rounds of each mode's
 * per-round cost and of its per-round ratio to m1.
 *
 * usage: bench_modes [-n N] [-r ROUNDS] [--only m1,m3,...]
 *   (defaults: 300 handshakes per mode per round, 7 rounds)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "imsec/host_net.h"
#include "imsec/x509.h"

static void die(const char *what) {
  fprintf(stderr, "bench_modes: %s\n", what);
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the PKI */

/* root -> operator CA -> the P-CSCF's leaf and a UE's leaf, P-256. */
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

static char g_dir[256];

static const char *path(const char *name) {
  static char ring[8][sizeof g_dir + 32];
  static int k;
  char *p = ring[k++ % 8];
  snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
  return p;
}

static void pem_out(const char *name, X509 *a, X509 *b, EVP_PKEY *k) {
  int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f)
    die("write pki");
  if ((a && !PEM_write_X509(f, a)) || (b && !PEM_write_X509(f, b)) ||
      (k && !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)))
    die("write pki");
  fclose(f);
}

static const char *const pki_files[] = {
    "srv-chain.pem", "srv.key",  "anchors.pem", "ue-chain.pem",
    "ue.key",        "root.pem", "op.pem"};

static void make_pki(void) {
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
  pem_out("srv-chain.pem", srv, op, NULL);
  pem_out("srv.key", NULL, NULL, sk);
  pem_out("anchors.pem", root, op, NULL);
  pem_out("ue-chain.pem", ue, op, NULL);
  pem_out("ue.key", NULL, NULL, uk);
  pem_out("root.pem", root, NULL, NULL);
  pem_out("op.pem", op, NULL, NULL);
  X509_free(root);
  X509_free(op);
  X509_free(srv);
  X509_free(ue);
  EVP_PKEY_free(rk);
  EVP_PKEY_free(ok);
  EVP_PKEY_free(sk);
  EVP_PKEY_free(uk);
}

static void pki_rm(void) {
  for (size_t i = 0; i < sizeof pki_files / sizeof pki_files[0]; i++)
    unlink(path(pki_files[i]));
  rmdir(g_dir);
}

/* ------------------------------------------------------------ the keys */

/* The configured key (a --psk-file line: the IMPI and a key) and the one
 * the element installs after an AKA run (an opaque identity). Bench
 * values, not secrets. */
#define CONF_ID "bench@ims.mnc001.mcc001.3gppnetwork.org"
#define AKA_ID "aka-5f0c1d2e3b4a69788796a5b4c3d2e1f0"
static const uint8_t conf_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t aka_key[32] = {
    0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b,
    0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56,
    0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0};

/* net/ alone: the context's own look-up (m3-ctx). */
static int ctx_lookup(void *arg, const uint8_t *id, size_t id_len, uint8_t *key,
                      size_t cap) {
  (void)arg;
  if (id_len != strlen(CONF_ID) || memcmp(id, CONF_ID, id_len) != 0 ||
      cap < sizeof conf_key)
    return -1;
  memcpy(key, conf_key, sizeof conf_key);
  return (int)sizeof conf_key;
}

/* ------------------------------------------------------------ the element */

/* Keeps every flow, answers nothing; counts the PSK flows it saw and the
 * client certificates the host verified. */
typedef struct sink {
  unsigned long up, psk, cert;
} sink;

static int sink_up(void *self, uint64_t flow, uint64_t tag,
                   const imsec_flow_info *info, imsec_time_ms now,
                   imsec_out *out) {
  sink *s = self;
  (void)flow, (void)tag, (void)now, (void)out;
  s->up++;
  if (info && info->psk)
    s->psk++;
  if (info && info->peer_cert)
    s->cert++;
  return 0;
}
static void sink_msg(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                     imsec_time_ms now, imsec_out *out) {
  (void)self, (void)flow, (void)msg, (void)len, (void)now, (void)out;
}
static void sink_down(void *self, uint64_t flow, uint64_t tag, int reason,
                      imsec_time_ms now, imsec_out *out) {
  (void)self, (void)flow, (void)tag, (void)reason, (void)now, (void)out;
}
static void sink_timer(void *self, uint64_t timer, imsec_time_ms now,
                       imsec_out *out) {
  (void)self, (void)timer, (void)now, (void)out;
}
static const imsec_elem_ops sink_ops = {.kind = "pcscf",
                                        .on_flow_up = sink_up,
                                        .on_message = sink_msg,
                                        .on_flow_down = sink_down,
                                        .on_timer = sink_timer};

/* On the loop thread: its CPU clock, and the AKA-derived key installed as
 * the P-CSCF installs it (IMSEC_ACT_PSK through the host). */
static clockid_t g_loop_clock;
static int g_clock_ok;
static void on_loop(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self, (void)arg;
  g_clock_ok = pthread_getcpuclockid(pthread_self(), &g_loop_clock) == 0;
  if (imsec_out_psk(out, AKA_ID, aka_key, sizeof aka_key, now + 3600 * 1000) !=
      0)
    die("imsec_out_psk");
}

static double loop_cpu_s(void) {
  struct timespec ts;
  if (clock_gettime(g_loop_clock, &ts) != 0)
    die("loop clock");
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the client */

enum { L_M1, L_M2A, L_PSK, L_CTX, L_DTLS, L_PSKNT, L_N };

typedef enum mode_id {
  M_M1,
  M_M1RES,
  M_M2A,
  M_M3,
  M_M312,
  M_M3AKA,
  M_M3CTX,
  M_M3NT,
  M_DTLS,
  M_N
} mode_id;

typedef struct mode {
  const char *name, *what;
  int listener;
  SSL_CTX *ctx;
  const char *psk_id;
  const uint8_t *psk_key;
} mode;

static mode g_modes[M_N] = {
    [M_M1] = {"m1", "M1 full (TLS 1.3, server cert)", L_M1, NULL, NULL, NULL},
    [M_M1RES] = {"m1-res", "M1 resumed (ticket)", L_M1, NULL, NULL, NULL},
    [M_M2A] = {"m2a", "M2a (client cert verified)", L_M2A, NULL, NULL, NULL},
    [M_M3] = {"m3", "M3 configured, TLS 1.3 PSK+ECDHE", L_PSK, NULL, CONF_ID,
              conf_key},
    [M_M312] = {"m3-12", "M3 configured, TLS 1.2 ECDHE-PSK", L_PSK, NULL,
                CONF_ID, conf_key},
    [M_M3AKA] = {"m3-aka", "M3 AKA-derived, TLS 1.3 PSK+ECDHE", L_PSK, NULL,
                 AKA_ID, aka_key},
    [M_M3CTX] = {"m3-ctx", "M3, key from net/'s context look-up", L_CTX, NULL,
                 CONF_ID, conf_key},
    [M_M3NT] = {"m3-nt", "M3 configured, TLS 1.3, no ticket issued", L_PSKNT,
                NULL, CONF_ID, conf_key},
    [M_DTLS] = {"dtls", "DTLS 1.2 (cookie, server cert)", L_DTLS, NULL, NULL,
                NULL},
};

static uint16_t g_port[L_N];
static SSL_SESSION *g_ticket; /* the newest M1 ticket */
static const mode *g_cur;     /* the mode the client runs now */

static unsigned long g_tickets[M_N]; /* tickets the client received */

static int new_sess_cb(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  g_tickets[g_cur - g_modes]++;
  if (g_cur != &g_modes[M_M1] && g_cur != &g_modes[M_M1RES])
    return 0;
  if (!SSL_SESSION_is_resumable(s))
    return 0;
  SSL_SESSION_free(g_ticket);
  g_ticket = s;
  return 1; /* kept */
}

/* TLS 1.3 external PSK, client side: the key as a session with the
 * suite the server's look-up assumes (TLS_AES_128_GCM_SHA256). */
static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                      size_t *idlen, SSL_SESSION **sess) {
  static const unsigned char aes128gcm[] = {0x13, 0x01};
  *sess = NULL;
  const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcm);
  if (!c || (md && md != SSL_CIPHER_get_handshake_digest(c)))
    return 1;
  SSL_SESSION *s = SSL_SESSION_new();
  if (!s || !SSL_SESSION_set1_master_key(s, g_cur->psk_key, 32) ||
      !SSL_SESSION_set_cipher(s, c) ||
      !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return 0;
  }
  *id = (const unsigned char *)g_cur->psk_id;
  *idlen = strlen(g_cur->psk_id);
  *sess = s;
  return 1;
}

static unsigned int psk12_cb(SSL *ssl, const char *hint, char *identity,
                             unsigned int max_id, unsigned char *psk,
                             unsigned int max) {
  (void)ssl, (void)hint;
  size_t il = strlen(g_cur->psk_id);
  if (il + 1 > max_id || max < 32)
    return 0;
  memcpy(identity, g_cur->psk_id, il + 1);
  memcpy(psk, g_cur->psk_key, 32);
  return 32;
}

static SSL_CTX *client_ctx(mode_id m) {
  SSL_CTX *c =
      SSL_CTX_new(m == M_DTLS ? DTLS_client_method() : TLS_client_method());
  if (!c)
    die("client ctx");
  /* What a UE's net/ context offers: X25519 first, AEAD suites. */
  if (!SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384"))
    die("groups");
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
                                        SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, new_sess_cb);
  SSL_CTX_clear_mode(c, SSL_MODE_AUTO_RETRY);
  switch (m) {
  case M_M2A:
    if (SSL_CTX_use_certificate_chain_file(c, path("ue-chain.pem")) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, path("ue.key"), SSL_FILETYPE_PEM) != 1)
      die("ue certificate");
    break;
  case M_M3:
  case M_M3AKA:
  case M_M3CTX:
  case M_M3NT:
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_psk_use_session_callback(c, psk_use_cb);
    break;
  case M_M312:
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    if (!SSL_CTX_set_cipher_list(c, "ECDHE-PSK-CHACHA20-POLY1305"))
      die("psk cipher");
    SSL_CTX_set_psk_client_callback(c, psk12_cb);
    break;
  case M_DTLS:
    SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION);
    if (!SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256"))
      die("dtls cipher");
    break;
  default:
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    break;
  }
  return c;
}

static int sock_to(int type, uint16_t port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0)
    die("socket");
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (type == SOCK_STREAM) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* One handshake of mode m, then a clean close both ways. Returns 1 when it
 * completed as the mode says (PSK used, or resumed), else 0. */
static int once(mode_id m) {
  mode *md = &g_modes[m];
  g_cur = md;
  int dtls = m == M_DTLS;
  int fd = sock_to(dtls ? SOCK_DGRAM : SOCK_STREAM, g_port[md->listener]);
  if (fd < 0)
    return 0;
  SSL *ssl = SSL_new(md->ctx);
  if (!ssl)
    die("SSL_new");
  if (dtls) {
    BIO *b = BIO_new_dgram(fd, BIO_NOCLOSE);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(g_port[L_DTLS])};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &a);
    SSL_set_bio(ssl, b, b);
  } else {
    SSL_set_fd(ssl, fd);
  }
  if (!md->psk_id)
    SSL_set_tlsext_host_name(ssl, "bench.pcscf");
  if (m == M_M1RES && g_ticket)
    SSL_set_session(ssl, g_ticket);
  int up = SSL_connect(ssl) == 1, ok = up;
  if (ok && m == M_M1RES)
    ok = SSL_session_reused(ssl);
  if (ok && md->psk_id) /* an external PSK counts as "reused" in OpenSSL */
    ok = m == M_M312 ? SSL_CIPHER_get_kx_nid(SSL_get_current_cipher(ssl)) ==
                           NID_kx_ecdhe_psk
                     : SSL_session_reused(ssl);
  if (up) {
    SSL_shutdown(ssl); /* close_notify */
    if (!dtls) {
      /* Read the ticket and the server's close: the server is done with
       * this flow when its close arrives. */
      char buf[512];
      for (int i = 0; i < 64; i++) {
        int r = SSL_read(ssl, buf, sizeof buf);
        if (r <= 0) {
          int e = SSL_get_error(ssl, r);
          if (e != SSL_ERROR_WANT_READ)
            break;
        }
      }
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
  return ok;
}

/* ------------------------------------------------------------ the run */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double t[64];
  int k = 0;
  for (int i = 0; i < n && k < 64; i++)
    if (v[i] > 0)
      t[k++] = v[i];
  if (!k)
    return 0;
  qsort(t, (size_t)k, sizeof t[0], cmp_d);
  return k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_modes [-n N] [-r ROUNDS] [--only m1,m3,...]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int n = 300, rounds = 7;
  int on[M_N];
  for (int m = 0; m < M_N; m++)
    on[m] = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc)
      n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-r") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      const char *list = argv[++i];
      for (int m = 0; m < M_N; m++) {
        const char *p = list;
        size_t l = strlen(g_modes[m].name);
        on[m] = 0;
        while ((p = strstr(p, g_modes[m].name)) != NULL) {
          if ((p == list || p[-1] == ',') && (p[l] == ',' || p[l] == 0))
            on[m] = 1;
          p += l;
        }
      }
      on[M_M1] = 1; /* the reference */
    } else
      usage();
  }
  if (n < 1 || n > 100000 || rounds < 1 || rounds > 64)
    usage();

  snprintf(g_dir, sizeof g_dir, "%s/bench_modes.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(g_dir))
    die("mkdtemp");
  make_pki();

  /* The listeners, made by the port from configurations as the daemon
   * makes them (apps/cmd_pcscf.c: tickets on). */
  imsec_net_tls_config m1 = {.server = 1,
                             .cert_file = path("srv-chain.pem"),
                             .key_file = path("srv.key"),
                             .tickets = 1};
  imsec_net_tls_config m2a = m1;
  m2a.ca_file = path("anchors.pem");
  m2a.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  imsec_net_tls_config psk = m1; /* a certificate too: the daemon's */
  imsec_net_tls_config ctxc = m1;
  ctxc.psk_lookup = ctx_lookup;
  imsec_net_tls_config psknt = m1;
  psknt.tickets = 0;
  imsec_net_tls_config dtls = m1;
  dtls.dtls = 1;
  imsec_net_tls *ctx_tls = NULL;
  if (imsec_net_tls_new(&ctx_tls, &ctxc) != 0)
    die("m3-ctx context");

  imsec_hostnet_listener ls[L_N];
  memset(ls, 0, sizeof ls);
  const imsec_net_tls_config *cfgs[L_N] = {&m1,  &m2a,  &psk,
                                           NULL, &dtls, &psknt};
  for (int l = 0; l < L_N; l++) {
    ls[l].addr.tp = l == L_DTLS ? IMSEC_TP_DTLS : IMSEC_TP_TLS;
    snprintf(ls[l].addr.host, sizeof ls[l].addr.host, "127.0.0.1");
    ls[l].tls_cfg = cfgs[l];
  }
  ls[L_PSK].psk = 1;
  ls[L_PSKNT].psk = 1;
  ls[L_CTX].tls = ctx_tls;

  /* The host's peer facts from a client chain (the P-CSCF reads the UE's
   * identity from them in M2a): root and operator CA. */
  imsec_x509_anchors *an = NULL;
  if (imsec_x509_anchors_new(&an) != 0 ||
      imsec_x509_anchors_add_root_file(an, path("root.pem")) != 0 ||
      imsec_x509_anchors_set_home_ca_file(an, path("op.pem")) != 0)
    die("anchors");

  sink el = {0};
  imsec_hostnet_config hc = {0};
  hc.name = "pcscf";
  hc.ops = &sink_ops;
  hc.self = &el;
  hc.loops = 1;
  hc.listeners = ls;
  hc.n_listeners = L_N;
  hc.anchors = an;
  hc.log_level = IMSEC_LOG_ERROR;
  hc.net_log_level = IMSEC_NET_LOG_ERROR;
  hc.limits.max_flows_per_ip = 1000000;
  char err[256] = "";
  imsec_hostnet *r = NULL;
  if (imsec_hostnet_new(&r, &hc, err, sizeof err) != 0) {
    fprintf(stderr, "bench_modes: %s\n", err);
    return 2;
  }
  for (int l = 0; l < L_N; l++)
    g_port[l] = imsec_hostnet_port(r, (size_t)l);
  imsec_hostnet_psk p = {CONF_ID, conf_key, sizeof conf_key};
  if (imsec_hostnet_psk_set_static(r, &p, 1) != 0)
    die("psk_set_static");
  if (imsec_hostnet_start(r) != 0)
    die("start");
  if (imsec_hostnet_call_wait(r, on_loop, NULL, 5000) != 0 || !g_clock_ok)
    die("loop clock");

  for (int m = 0; m < M_N; m++)
    g_modes[m].ctx = client_ctx((mode_id)m);

  /* Warm up every mode (providers loaded, first ticket), and find the
   * modes that do not work in this tree. */
  int works[M_N];
  for (int m = 0; m < M_N; m++) {
    int ok = 0;
    for (int i = 0; on[m] && i < 20; i++)
      ok += once((mode_id)m);
    works[m] = on[m] && ok == 20;
    if (on[m] && !works[m])
      fprintf(stderr,
              "bench_modes: %s: %d of 20 warm-up handshakes as the "
              "mode says; left out\n",
              g_modes[m].name, ok);
  }

  static double us[M_N][64], ratio[M_N][64], rate[M_N][64];
  unsigned long fails[M_N] = {0};
  int order[M_N], k = 0;
  for (int m = 0; m < M_N; m++)
    if (works[m])
      order[k++] = m;
  double t0 = now_s();
  for (int rd = 0; rd < rounds; rd++) {
    for (int j = 0; j < k; j++) {
      int m = order[(j + rd) % k];
      double c0 = loop_cpu_s(), w0 = now_s();
      int ok = 0;
      for (int i = 0; i < n; i++)
        ok += once((mode_id)m);
      double w1 = now_s();
      usleep(20000); /* DTLS: the last close_notify reaches the server */
      double c1 = loop_cpu_s();
      fails[m] += (unsigned long)(n - ok);
      us[m][rd] = ok ? (c1 - c0) * 1e6 / ok : 0;
      rate[m][rd] = ok / (w1 - w0);
    }
    for (int j = 0; j < k; j++) {
      int m = order[j];
      ratio[m][rd] = us[M_M1][rd] > 0 ? us[m][rd] / us[M_M1][rd] : 0;
    }
  }
  double took = now_s() - t0;

  printf("server CPU per handshake, one loop thread (host net port), "
         "%d rounds x %d handshakes per mode, %.0f s\n\n",
         rounds, n, took);
  printf("| mode | server CPU per handshake (median; min-max) | per core "
         "| x M1 full (median of rounds) | client wall hs/s | tickets per "
         "hs | failed |\n");
  printf("|---|---|---|---|---|---|---|\n");
  double med[M_N] = {0};
  for (int j = 0; j < M_N; j++) {
    int m = j;
    if (!works[m]) {
      if (on[m])
        printf("| %s | failed in warm-up (not in this tree) | | | | | |\n",
               g_modes[m].what);
      continue;
    }
    double lo = 1e30, hi = 0;
    for (int rd = 0; rd < rounds; rd++) {
      if (us[m][rd] > 0 && us[m][rd] < lo)
        lo = us[m][rd];
      if (us[m][rd] > hi)
        hi = us[m][rd];
    }
    med[m] = median(us[m], rounds);
    printf("| %s | %.0f us (%.0f-%.0f) | %.0f/s | %.2fx | %.0f | %.2f | %lu "
           "|\n",
           g_modes[m].what, med[m], lo, hi, med[m] > 0 ? 1e6 / med[m] : 0,
           median(ratio[m], rounds), median(rate[m], rounds),
           (double)g_tickets[m] / (20.0 + (double)n * rounds), fails[m]);
  }
  /* The PSK reconnect against a resumed M1 handshake, per round. */
  const mode_id pskm[] = {M_M3, M_M3AKA, M_M312, M_M3NT};
  if (works[M_M1RES])
    for (size_t i = 0; i < sizeof pskm / sizeof pskm[0]; i++) {
      mode_id m = pskm[i];
      if (!works[m])
        continue;
      double rr[64];
      for (int rd = 0; rd < rounds; rd++)
        rr[rd] = us[M_M1RES][rd] > 0 ? us[m][rd] / us[M_M1RES][rd] : 0;
      double x = median(rr, rounds);
      printf("%s / M1 resumed: %.2fx (%.0f%% %s server CPU)\n", g_modes[m].name,
             x, x < 1 ? (1 - x) * 100 : (x - 1) * 100, x < 1 ? "less" : "more");
    }
  printf("flows the element saw: %lu, of which PSK %lu, with a verified "
         "client certificate %lu\n",
         el.up, el.psk, el.cert);

  imsec_hostnet_stop(r);
  imsec_hostnet_del(r);
  imsec_net_tls_del(ctx_tls);
  imsec_x509_anchors_del(an);
  for (int m = 0; m < M_N; m++)
    SSL_CTX_free(g_modes[m].ctx);
  SSL_SESSION_free(g_ticket);
  pki_rm();
  return 0;
}
