#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "net_util.h"

const char *t_mkdtemp(void) {
  static char dir[64];
  snprintf(dir, sizeof dir, "/tmp/imsec-net-XXXXXX");
  if (!mkdtemp(dir))
    return NULL;
  return dir;
}

void t_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

const char *t_path(const char *dir, const char *name) {
  static char ring[8][512];
  static int k;
  char *b = ring[k++ % 8];
  snprintf(b, 512, "%s/%s", dir, name);
  return b;
}

/* ------------------------------------------------------------ PKI */

static EVP_PKEY *key_ec(void) {
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static EVP_PKEY *key_rsa(void) {
  return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex)
    return -1;
  int ok = X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, int ca, const char *san,
                       long serial) {
  X509 *c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30);
  X509_set_pubkey(c, key);
  X509_NAME *n = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
  X509 *iss = issuer ? issuer : c;
  if (ca) {
    add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c, iss, NID_basic_constraints, "CA:FALSE");
    add_ext(c, iss, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  add_ext(c, iss, NID_subject_key_identifier, "hash");
  if (issuer)
    add_ext(c, iss, NID_authority_key_identifier, "keyid");
  if (san)
    add_ext(c, iss, NID_subject_alt_name, san);
  if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) {
    X509_free(c);
    return NULL;
  }
  return c;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return -1;
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return -1;
  }
  int ok = cert ? PEM_write_X509(f, cert)
                : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  return ok ? 0 : -1;
}

/* Two certificates in one file, a then b. */
static int write_pem2(const char *path, X509 *a, X509 *b) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int ok = PEM_write_X509(f, a) && PEM_write_X509(f, b);
  fclose(f);
  return ok ? 0 : -1;
}

int t_pki_make(const char *dir) {
  int rv = -1;
  EVP_PKEY *cak = key_ec(), *sk = key_ec(), *rk = key_rsa(), *ck = key_ec();
  EVP_PKEY *ok = key_ec(), *gk = key_ec(), *ik = key_ec(), *lk = key_ec();
  X509 *ca = NULL, *srv = NULL, *rsa = NULL, *cli = NULL, *oca = NULL,
       *rogue = NULL, *ica = NULL, *leaf = NULL;
  if (!cak || !sk || !rk || !ck || !ok || !gk || !ik || !lk)
    goto out;
  ca = make_cert(cak, "imsec test root", NULL, NULL, 1, NULL, 1);
  srv = make_cert(sk, "pcscf.ims.mnc001.mcc001.3gppnetwork.org", ca, cak, 0,
                  "DNS:pcscf.ims.mnc001.mcc001.3gppnetwork.org,"
                  "URI:sip:pcscf.ims.mnc001.mcc001.3gppnetwork.org",
                  2);
  rsa = make_cert(rk, "rsa.pcscf.ims.mnc001.mcc001.3gppnetwork.org", ca, cak, 0,
                  NULL, 3);
  cli = make_cert(ck, "ue.ims.mnc001.mcc001.3gppnetwork.org", ca, cak, 0,
                  "DNS:ue.ims.mnc001.mcc001.3gppnetwork.org", 4);
  oca = make_cert(ok, "other root", NULL, NULL, 1, NULL, 5);
  rogue = make_cert(gk, "pcscf.ims.mnc001.mcc001.3gppnetwork.org", oca, ok, 0,
                    "DNS:pcscf.ims.mnc001.mcc001.3gppnetwork.org", 6);
  /* Three levels: root -> operator CA -> leaf, the leaf's file alone. */
  ica = make_cert(ik, "imsec test operator CA", ca, cak, 1, NULL, 7);
  leaf = make_cert(lk, "pcscf2.ims.mnc001.mcc001.3gppnetwork.org", ica, ik, 0,
                   "DNS:pcscf2.ims.mnc001.mcc001.3gppnetwork.org", 8);
  if (!ca || !srv || !rsa || !cli || !oca || !rogue || !ica || !leaf)
    goto out;
  if (write_pem(t_path(dir, "ca.pem"), ca, NULL) ||
      write_pem(t_path(dir, "server.pem"), srv, NULL) ||
      write_pem(t_path(dir, "server.key"), NULL, sk) ||
      write_pem(t_path(dir, "rsa.pem"), rsa, NULL) ||
      write_pem(t_path(dir, "rsa.key"), NULL, rk) ||
      write_pem(t_path(dir, "client.pem"), cli, NULL) ||
      write_pem(t_path(dir, "client.key"), NULL, ck) ||
      write_pem(t_path(dir, "other-ca.pem"), oca, NULL) ||
      write_pem(t_path(dir, "rogue.pem"), rogue, NULL) ||
      write_pem(t_path(dir, "rogue.key"), NULL, gk) ||
      write_pem(t_path(dir, "leaf3.pem"), leaf, NULL) ||
      write_pem(t_path(dir, "leaf3.key"), NULL, lk) ||
      write_pem2(t_path(dir, "ca-chain.pem"), ca, ica))
    goto out;
  rv = 0;
out:
  X509_free(ca);
  X509_free(srv);
  X509_free(rsa);
  X509_free(cli);
  X509_free(oca);
  X509_free(rogue);
  X509_free(ica);
  X509_free(leaf);
  EVP_PKEY_free(ik);
  EVP_PKEY_free(lk);
  EVP_PKEY_free(cak);
  EVP_PKEY_free(sk);
  EVP_PKEY_free(rk);
  EVP_PKEY_free(ck);
  EVP_PKEY_free(ok);
  EVP_PKEY_free(gk);
  return rv;
}

/* A fresh directory with the test PKI, for a test program's setup; no
 * SSLKEYLOGFILE inherited from the caller. NULL on failure. */
const char *t_pki_setup(void) {
  static char dir[64];
  const char *d = t_mkdtemp();
  if (!d)
    return NULL;
  snprintf(dir, sizeof dir, "%s", d);
  unsetenv("SSLKEYLOGFILE");
  return t_pki_make(dir) == 0 ? dir : NULL;
}

/* ------------------------------------------------------------ recorder */

#define T_MAX_EV 4096
struct t_rec {
  uv_mutex_t mu;
  uv_cond_t cv;
  int echo, keep, refuse;
  uint32_t ka_interval, ka_timeout;
  t_ev ev[T_MAX_EV];
  char taken[T_MAX_EV];
  int n;
  char *log;
  size_t log_len, log_cap;
};

t_rec *t_rec_new(int echo) {
  t_rec *r = calloc(1, sizeof *r);
  uv_mutex_init(&r->mu);
  uv_cond_init(&r->cv);
  r->echo = echo;
  return r;
}

void t_rec_del(t_rec *r) {
  if (!r)
    return;
  uv_mutex_destroy(&r->mu);
  uv_cond_destroy(&r->cv);
  free(r->log);
  free(r);
}

void t_rec_set_keep(t_rec *r, int keep) {
  r->keep = keep;
}
void t_rec_set_refuse(t_rec *r, int code) {
  r->refuse = code;
}
void t_rec_set_keepalive(t_rec *r, uint32_t interval_ms, uint32_t timeout_ms) {
  r->ka_interval = interval_ms;
  r->ka_timeout = timeout_ms;
}

static void push(t_rec *r, const t_ev *e) {
  uv_mutex_lock(&r->mu);
  if (r->n < T_MAX_EV)
    r->ev[r->n++] = *e;
  uv_cond_broadcast(&r->cv);
  uv_mutex_unlock(&r->mu);
}

static int on_up(void *user, imsec_net_flow *f) {
  t_rec *r = user;
  t_ev e;
  memset(&e, 0, sizeof e);
  e.type = T_EV_UP;
  e.id = imsec_net_flow_id(f);
  e.is_server = imsec_net_flow_is_server(f);
  e.resumed = imsec_net_flow_resumed(f);
  e.psk = imsec_net_flow_psk(f);
  const char *pid = imsec_net_flow_psk_identity(f);
  snprintf(e.psk_identity, sizeof e.psk_identity, "%s", pid ? pid : "");
  e.verify = imsec_net_flow_verify_result(f);
  imsec_bytes chain[8];
  e.nchain = imsec_net_flow_peer_chain(f, chain, 8);
  imsec_str names[8];
  e.nnames = imsec_net_flow_peer_names(f, names, 8);
  if (e.nnames > 0)
    if (imsec_str_copy(names[0], e.name0, sizeof e.name0) < 0)
      e.name0[0] = 0;
  if (imsec_net_flow_peer_text(f, e.peer, sizeof e.peer) < 0)
    e.peer[0] = 0;
  const struct sockaddr *la = imsec_net_flow_local(f);
  if (la->sa_family == AF_INET)
    e.local_port = ntohs(((const struct sockaddr_in *)la)->sin_port);
  else if (la->sa_family == AF_INET6)
    e.local_port = ntohs(((const struct sockaddr_in6 *)la)->sin6_port);
  const char *v = imsec_net_flow_tls_version(f);
  snprintf(e.version, sizeof e.version, "%s", v ? v : "");
  push(r, &e);
  if (r->keep)
    imsec_net_flow_keep(f);
  if (!e.is_server && r->ka_interval)
    if (imsec_net_flow_keepalive(f, r->ka_interval, r->ka_timeout) != 0)
      return IMSEC_ERR_INTERNAL;
  if (!e.is_server && r->refuse)
    return r->refuse;
  return 0;
}

static void on_msg(void *user, imsec_net_flow *f, const uint8_t *p,
                   size_t len) {
  t_rec *r = user;
  t_ev e;
  memset(&e, 0, sizeof e);
  e.type = T_EV_MSG;
  e.id = imsec_net_flow_id(f);
  e.is_server = imsec_net_flow_is_server(f);
  e.len = len;
  memcpy(e.msg, p, len < sizeof e.msg - 1 ? len : sizeof e.msg - 1);
  push(r, &e);
  if (r->echo && e.is_server)
    if (imsec_net_flow_send(f, p, len) != 0)
      return;
}

static void on_down(void *user, imsec_net_flow *f, int reason) {
  t_rec *r = user;
  t_ev e;
  memset(&e, 0, sizeof e);
  e.type = T_EV_DOWN;
  e.id = imsec_net_flow_id(f);
  e.is_server = imsec_net_flow_is_server(f);
  e.reason = reason;
  push(r, &e);
}

imsec_net_handler t_rec_handler(t_rec *r) {
  imsec_net_handler h = {on_up, on_msg, on_down, r, NULL};
  return h;
}

int t_rec_wait(t_rec *r, int type, uint64_t id, int is_server, int ms,
               t_ev *out) {
  uint64_t end = t_now_ms() + (uint64_t)ms;
  uv_mutex_lock(&r->mu);
  for (;;) {
    for (int i = 0; i < r->n; i++) {
      t_ev *e = &r->ev[i];
      if (r->taken[i] || e->type != type || (id && e->id != id) ||
          (is_server >= 0 && e->is_server != is_server))
        continue;
      r->taken[i] = 1;
      if (out)
        *out = *e;
      uv_mutex_unlock(&r->mu);
      return 0;
    }
    uint64_t now = t_now_ms();
    if (now >= end)
      break;
    (void)uv_cond_timedwait(&r->cv, &r->mu, (end - now) * 1000000ULL);
  }
  uv_mutex_unlock(&r->mu);
  return -1;
}

int t_rec_count(t_rec *r, int type) {
  int n = 0;
  uv_mutex_lock(&r->mu);
  for (int i = 0; i < r->n; i++)
    n += r->ev[i].type == type;
  uv_mutex_unlock(&r->mu);
  return n;
}

void t_rec_log(void *user, imsec_net_log_level lvl, const char *line) {
  t_rec *r = user;
  (void)lvl;
  size_t l = strlen(line);
  uv_mutex_lock(&r->mu);
  if (r->log_len + l + 2 > r->log_cap) {
    size_t cap = (r->log_cap + l + 2) * 2;
    char *n = realloc(r->log, cap);
    if (n) {
      r->log = n;
      r->log_cap = cap;
    }
  }
  if (r->log_len + l + 2 <= r->log_cap) {
    memcpy(r->log + r->log_len, line, l);
    r->log_len += l;
    r->log[r->log_len++] = '\n';
    r->log[r->log_len] = 0;
  }
  if (getenv("IMSEC_NET_TRACE"))
    fprintf(stderr, "net: %s\n", line);
  uv_cond_broadcast(&r->cv);
  uv_mutex_unlock(&r->mu);
}

/* Waits up to 5 s for the line: the peer's event (a client's DOWN after
 * the server's alert) can come before the server's loop wrote its log. */
int t_rec_log_has(t_rec *r, const char *needle) {
  uint64_t end = t_now_ms() + 5000;
  uv_mutex_lock(&r->mu);
  int has;
  for (;;) {
    has = r->log && strstr(r->log, needle) != NULL;
    uint64_t now = t_now_ms();
    if (has || now >= end)
      break;
    (void)uv_cond_timedwait(&r->cv, &r->mu, (end - now) * 1000000ULL);
  }
  uv_mutex_unlock(&r->mu);
  return has;
}

struct sockaddr_in t_lo4(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

struct sockaddr_in6 t_lo6(uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = in6addr_loopback;
  return a;
}

uint64_t t_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
