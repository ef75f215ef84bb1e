/* `imsec ue` with a profile without an ISIM (SIP Digest over TLS, TS
 * 33.203 Annexes N and O) as a real process over loopback TLS, against a
 * scripted network: a TLS listener with a P-CSCF certificate from `imsec
 * pki` that challenges REGISTER with SHA-256 and MD5 (RFC 8760 §3),
 * checks the answer under the password (lib/digest, as an S-CSCF under
 * H(A1)), answers 200 with rspauth, and asks for Proxy-Authorization on
 * MESSAGE (407). The profile and its password file come from `imsec isim
 * new --digest`. Covers: registration and de-registration (the nonce
 * used again with nc + 1), no sec-agree on the wire, the password read
 * from the file and never printed, a MESSAGE through a 407, a wrong
 * password refused (403, exit 1), a forged rspauth (exit 1). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imsec/digest.h"
#include "imsec/isim.h"
#include "imsec/sip.h"
#include "imsec/crypto_ossl.h"
#include "net_util.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF "pcscf." HOME
#define IMPI "alice@" HOME
#define NONCE "ZGlnZXN0IG5vbmNlIG9uZQ=="

typedef struct net_side {
  pthread_mutex_t mu;
  imsec_crypto *c;
  char password[160];
  int bad_rspauth; /* send a rspauth of another password */
  /* counters */
  int registers, with_sec_agree, sha256_ok, dereg_reused, refused, ok_200;
  int messages, message_407, message_authed;
  char last_nc[16], last_message[256];
} net_side;

static net_side N;
static imsec_net *g_net;
static uint16_t g_port;
static char g_dir[256];

static void reply(imsec_net_flow *f, imsec_sip_msg *req, unsigned code,
                  const char *reason, const char *extra) {
  char buf[8192];
  imsec_sip_builder b;
  imsec_sip_build_init(&b, buf, sizeof(buf));
  imsec_sip_build_response(&b, req, code, imsec_str_c(reason),
                           IMSEC_STR_LIT("net1"));
  if (extra)
    imsec_sip_build_raw(&b, imsec_str_c(extra));
  int n = imsec_sip_build_finish(&b, IMSEC_STR_NULL);
  if (n > 0 && imsec_net_flow_send(f, (const uint8_t *)buf, (size_t)n) < 0)
    fprintf(stderr, "network side: send failed\n");
}

static void challenge(imsec_net_flow *f, imsec_sip_msg *req, unsigned code) {
  const char *h = code == 407 ? "Proxy-Authenticate" : "WWW-Authenticate";
  char extra[1024];
  snprintf(extra, sizeof(extra),
           "%s: Digest realm=\"" HOME "\", nonce=\"" NONCE
           "\", algorithm=SHA-256, qop=\"auth\"\r\n"
           "%s: Digest realm=\"" HOME "\", nonce=\"" NONCE
           "\", algorithm=MD5, qop=\"auth\"\r\n",
           h, h);
  reply(f, req, code,
        code == 407 ? "Proxy Authentication Required" : "Unauthorized", extra);
}

/* The credentials of `id`, checked under the password (method `method`).
 * 1 right, 0 absent or empty, -1 wrong. */
static int check_creds(imsec_sip_msg *m, imsec_sip_hid id, const char *method,
                       imsec_digest_params *p) {
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  if (imsec_sip_auth_next(m, id, &it, &raw) <= 0 ||
      imsec_digest_parse_credentials(raw, p) < 0 || p->response.len == 0)
    return 0;
  imsec_digest_alg alg;
  if (imsec_digest_alg_parse(p->algorithm, &alg) < 0)
    return -1;
  int rv = imsec_digest_verify(
      N.c, p, alg, imsec_str_c(method), (imsec_bytes){NULL, 0},
      (imsec_bytes){(const uint8_t *)N.password, strlen(N.password)});
  if (rv == 0 && alg == IMSEC_DIGEST_SHA256)
    N.sha256_ok++;
  return rv == 0 ? 1 : -1;
}

static void on_register(imsec_net_flow *f, imsec_sip_msg *m) {
  N.registers++;
  if (imsec_sip_hdr_first(m, IMSEC_SIP_H_SECURITY_CLIENT) ||
      imsec_sip_hdr_first(m, IMSEC_SIP_H_REQUIRE))
    N.with_sec_agree++;
  imsec_digest_params p;
  int ok = check_creds(m, IMSEC_SIP_H_AUTHORIZATION, "REGISTER", &p);
  if (ok == 0) {
    challenge(f, m, 401);
    return;
  }
  if (ok < 0) {
    N.refused++;
    reply(f, m, 403, "Forbidden", NULL);
    return;
  }
  snprintf(N.last_nc, sizeof(N.last_nc), "%.*s", (int)p.nc.len, p.nc.p);
  uint32_t expires = 600;
  if (imsec_sip_get_expires(m, &expires) == 0 && expires == 0) {
    N.dereg_reused += strcmp(N.last_nc, "00000001") != 0;
    reply(f, m, 200, "OK", NULL);
    return;
  }
  /* RFC 7616 §3.5: rspauth proves the network knows H(A1). */
  const char *pw = N.bad_rspauth ? "another password" : N.password;
  uint8_t ha1[32];
  char rsp[65], user[128], extra[1024];
  if (imsec_digest_unquote(p.username, user, sizeof(user)) < 0)
    return;
  imsec_digest_alg alg;
  if (imsec_digest_alg_parse(p.algorithm, &alg) < 0)
    return;
  int hl = imsec_digest_ha1(
      N.c, imsec_digest_alg_hash(alg), imsec_str_c(user), IMSEC_STR_LIT(HOME),
      (imsec_bytes){(const uint8_t *)pw, strlen(pw)}, ha1, sizeof(ha1));
  if (hl < 0 ||
      imsec_digest_rspauth(N.c, &p, alg, (imsec_bytes){ha1, (size_t)hl}, rsp,
                           sizeof(rsp)) < 0)
    return;
  N.ok_200++;
  snprintf(extra, sizeof(extra),
           "Contact: <sip:ue@127.0.0.1;transport=tls;ob>;expires=600\r\n"
           "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
           "P-Associated-URI: <sip:" IMPI ">\r\n"
           "Authentication-Info: qop=auth, rspauth=\"%s\", cnonce=\"%.*s\", "
           "nc=%.*s\r\n",
           rsp, (int)p.cnonce.len, p.cnonce.p, (int)p.nc.len, p.nc.p);
  reply(f, m, 200, "OK", extra);
}

static void on_message(imsec_net_flow *f, imsec_sip_msg *m) {
  N.messages++;
  imsec_digest_params p;
  int ok = check_creds(m, IMSEC_SIP_H_PROXY_AUTHORIZATION, "MESSAGE", &p);
  if (ok == 0) {
    N.message_407++;
    challenge(f, m, 407);
    return;
  }
  if (ok < 0) {
    reply(f, m, 403, "Forbidden", NULL);
    return;
  }
  N.message_authed++;
  snprintf(N.last_message, sizeof(N.last_message), "%.*s", (int)m->body.len,
           m->body.p);
  reply(f, m, 200, "OK", NULL);
}

static void on_msg(void *user, imsec_net_flow *f, const uint8_t *msg,
                   size_t len) {
  (void)user;
  char *buf = malloc(len + 1);
  memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  pthread_mutex_lock(&N.mu);
  if (imsec_sip_parse(&m, buf, len, 1) == 0 && m.is_request) {
    if (m.method_id == IMSEC_SIP_M_REGISTER)
      on_register(f, &m);
    else if (m.method_id == IMSEC_SIP_M_MESSAGE)
      on_message(f, &m);
  }
  pthread_mutex_unlock(&N.mu);
  imsec_sip_msg_free(&m);
  free(buf);
}

static int on_up(void *user, imsec_net_flow *f) {
  (void)user;
  imsec_net_flow_keep(f);
  return 0;
}

static void on_down(void *user, imsec_net_flow *f, int reason) {
  (void)user;
  (void)f;
  (void)reason;
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof(g_dir), "%s", t_mkdtemp());
  const char *I = t_imsec_bin();
  char out[4096];
  if (t_sh(out, sizeof(out), "%s pki init --dir %s", I, g_dir) ||
      t_sh(out, sizeof(out), "%s pki operator --dir %s --mcc 001 --mnc 01", I,
           g_dir) ||
      t_sh(out, sizeof(out), "%s pki pcscf --dir %s --mcc 001 --mnc 01", I,
           g_dir) ||
      t_sh(out, sizeof(out),
           "%s isim new --digest --impi " IMPI " --impu sip:" IMPI
           " --trust-domain 3gppnetwork.org --anchors %s/root.crt --home-ca "
           "%s/op-mcc001-mnc001.crt --password-file %s/alice.pw "
           "--out %s/alice.yaml",
           I, g_dir, g_dir, g_dir, g_dir)) {
    fprintf(stderr, "setup failed: %s\n", out);
    return -1;
  }
  /* The network side knows the password (the HSS keeps H(A1) of it). */
  char path[512];
  snprintf(path, sizeof(path), "%s/alice.pw", g_dir);
  FILE *pf = fopen(path, "r");
  if (!pf || !fgets(N.password, sizeof(N.password), pf))
    return -1;
  fclose(pf);
  N.password[strcspn(N.password, "\n")] = 0;
  pthread_mutex_init(&N.mu, NULL);
  if (imsec_crypto_ossl_new(&N.c) < 0)
    return -1;

  static imsec_net_tls *tls;
  char chain[512], key[512];
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof(tc));
  tc.server = 1;
  snprintf(chain, sizeof(chain), "%s/" PCSCF ".chain.pem", g_dir);
  snprintf(key, sizeof(key), "%s/" PCSCF ".key", g_dir);
  tc.cert_file = chain;
  tc.key_file = key;
  if (imsec_net_tls_new(&tls, &tc) < 0)
    return -1;
  imsec_net_config nc;
  memset(&nc, 0, sizeof(nc));
  nc.threads = 1;
  nc.handler.on_up = on_up;
  nc.handler.on_message = on_msg;
  nc.handler.on_down = on_down;
  if (imsec_net_new(&g_net, &nc) < 0)
    return -1;
  struct sockaddr_in a = t_lo4(0);
  if (imsec_net_listen(g_net, IMSEC_NET_TLS, (struct sockaddr *)&a, tls,
                       &g_port) < 0 ||
      imsec_net_start(g_net) < 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  imsec_net_del(g_net);
  imsec_crypto_del(N.c);
  t_rmdir(g_dir);
  return 0;
}

static int run_ue(char *out, size_t cap, const char *verb_args) {
  int rc = t_sh(out, cap,
                "%s ue %s -c %s/alice.yaml --pcscf 127.0.0.1:%u "
                "--pcscf-name " PCSCF " --timeout 10",
                t_imsec_bin(), verb_args, g_dir, g_port);
  if (getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  return rc;
}

static void test_register(void **state) {
  (void)state;
  char out[8192];
  int rc = run_ue(out, sizeof(out), "register");
  if (rc != 0)
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "trust: trusted (home)"));
  assert_non_null(strstr(out, "registered: sip:" IMPI));
  assert_non_null(strstr(out, "rspauth verified"));
  assert_null(strstr(out, N.password)); /* never printed */
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.with_sec_agree, 0); /* Annex O: no sec-agree */
  assert_int_equal(N.ok_200, 1);
  assert_true(N.sha256_ok >= 2); /* REGISTER and de-REGISTER */
  assert_int_equal(N.dereg_reused, 1);
  assert_string_equal(N.last_nc, "00000002");
  assert_int_equal(N.refused, 0);
  pthread_mutex_unlock(&N.mu);
}

static void test_message_407(void **state) {
  (void)state;
  char out[8192];
  int rc = run_ue(out, sizeof(out), "message --to sip:bob@" HOME " 'hi bob'");
  if (rc != 0)
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "message: delivered to sip:bob@" HOME " (200)"));
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.message_407, 1);
  assert_int_equal(N.message_authed, 1);
  assert_string_equal(N.last_message, "hi bob");
  pthread_mutex_unlock(&N.mu);
}

static void test_wrong_password(void **state) {
  (void)state;
  char out[8192], keep[160];
  pthread_mutex_lock(&N.mu);
  memcpy(keep, N.password, sizeof(keep));
  snprintf(N.password, sizeof(N.password), "not alice's password");
  int refused = N.refused;
  pthread_mutex_unlock(&N.mu);
  int rc = run_ue(out, sizeof(out), "register");
  pthread_mutex_lock(&N.mu);
  memcpy(N.password, keep, sizeof(keep));
  refused = N.refused - refused;
  pthread_mutex_unlock(&N.mu);
  if (rc != 1)
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "403"));
  assert_int_equal(refused, 1);
}

static void test_forged_rspauth(void **state) {
  (void)state;
  char out[8192];
  pthread_mutex_lock(&N.mu);
  N.bad_rspauth = 1;
  pthread_mutex_unlock(&N.mu);
  int rc = run_ue(out, sizeof(out), "register");
  pthread_mutex_lock(&N.mu);
  N.bad_rspauth = 0;
  pthread_mutex_unlock(&N.mu);
  if (rc != 1)
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "did not prove it knows the password"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register),
      cmocka_unit_test(test_message_407),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_forged_rspauth),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
