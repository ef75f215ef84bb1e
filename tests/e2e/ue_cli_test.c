/* `imsec ue` as a real process over loopback TLS against a scripted
 * network: a TLS listener (net/) with a P-CSCF certificate made by `imsec
 * pki`, answering REGISTER with Digest AKA challenges from lib/aka (the
 * keys of the profile `imsec isim new` wrote), verifying the answers with
 * lib/digest, resynchronising from AUTS, and answering MESSAGE. Covers:
 * home registration with the trust decision, the SQN written back to the
 * profile (mode 0600) before the RES leaves, an unwritable profile failing
 * the UE with the challenge unanswered, a rogue P-CSCF refused with nothing
 * sent, a sync failure recovered on the same TLS connection, a MESSAGE, and the
 * usage and profile errors. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imsec/aka.h"
#include "imsec/digest.h"
#include "imsec/isim.h"
#include "imsec/sip.h"
#include "imsec/crypto_ossl.h"
#include "net_util.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF "pcscf." HOME
#define IMPI "001010000000001@" HOME

typedef struct net_side {
  pthread_mutex_t mu;
  imsec_crypto *c;
  imsec_milenage *m;
  imsec_sqn_he he;
  imsec_sqn_cfg sc;
  imsec_aka_vector v;
  int have_v;
  uint16_t good_port, rogue_port;
  /* counters */
  int registers, registers_rogue, auts_seen, ok_200, deregs, messages;
  uint64_t flows_seen[8];
  int n_flows;
  char last_message[256];
  int bad_verify;
  uint64_t ue_flow;    /* the flow of the last 200 to REGISTER */
  int message_answers; /* 200s from the UE to our MESSAGEs */
  /* SQN of the last challenge sent, and of the last one answered right */
  uint8_t sqn_sent[6], sqn_accepted[6];
  int responses;      /* REGISTERs carrying a RES (a response) */
  int res_before_sqn; /* a RES arrived while the profile held another SQN */
  char profile[512];  /* the profile the running UE writes its SQN to */
} net_side;

static net_side N;
static imsec_net *g_net;
static char g_dir[256];

static uint16_t local_port(imsec_net_flow *f) {
  const struct sockaddr *sa = imsec_net_flow_local(f);
  return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

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

static void challenge(imsec_net_flow *f, imsec_sip_msg *req) {
  uint8_t sqn[6], amf[2] = {0x80, 0};
  if (imsec_sqn_he_next(&N.he, &N.sc, sqn) < 0 ||
      imsec_aka_vector_make(N.m, sqn, amf, &N.v) < 0)
    return;
  N.have_v = 1;
  memcpy(N.sqn_sent, sqn, 6);
  char ch[1024], extra[1400];
  if (imsec_digest_aka_challenge_build(
          &N.v, IMSEC_DIGEST_AKAV1_MD5, IMSEC_STR_LIT(HOME),
          IMSEC_STR_LIT("auth"), IMSEC_STR_NULL, 0, ch, sizeof(ch)) < 0)
    return;
  snprintf(extra, sizeof(extra),
           "WWW-Authenticate: %s\r\nSecurity-Server: tls;q=0.1\r\n", ch);
  reply(f, req, 401, "Unauthorized", extra);
}

static void on_register(imsec_net_flow *f, imsec_sip_msg *m) {
  int rogue = local_port(f) == N.rogue_port;
  if (rogue) {
    N.registers_rogue++;
    /* Whatever the UE does, the rogue challenges like a real one. */
    challenge(f, m);
    return;
  }
  N.registers++;
  uint64_t id = imsec_net_flow_id(f);
  int known = 0;
  for (int i = 0; i < N.n_flows; i++)
    known |= N.flows_seen[i] == id;
  if (!known && N.n_flows < 8)
    N.flows_seen[N.n_flows++] = id;
  uint32_t expires = 600;
  if (imsec_sip_get_expires(m, &expires) == 0 && expires == 0) {
    N.deregs++;
    reply(f, m, 200, "OK", NULL);
    return;
  }
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str raw;
  imsec_digest_params p;
  if (imsec_sip_auth_next(m, IMSEC_SIP_H_AUTHORIZATION, &it, &raw) <= 0 ||
      imsec_digest_parse_credentials(raw, &p) < 0 || p.response.len == 0 ||
      !N.have_v) {
    challenge(f, m);
    return;
  }
  N.responses++;
  uint8_t auts[14];
  int rv = imsec_digest_aka_verify(N.c, &p, IMSEC_DIGEST_AKAV1_MD5, &N.v,
                                   IMSEC_STR_LIT("REGISTER"),
                                   (imsec_bytes){NULL, 0}, auts);
  if (rv == IMSEC_ERR_SYNC) {
    N.auts_seen++;
    if (imsec_sqn_he_resync(&N.he, &N.sc, N.m, N.v.rand, auts, NULL) < 0)
      N.bad_verify++;
    challenge(f, m);
    return;
  }
  if (rv < 0) {
    N.bad_verify++;
    reply(f, m, 403, "Forbidden", NULL);
    return;
  }
  /* TS 33.102 Annex C: the UE made the SQN it accepted durable before
   * its RES left, so the profile holds it already. */
  memcpy(N.sqn_accepted, N.sqn_sent, 6);
  if (N.profile[0]) {
    imsec_isim_profile prof;
    char err[256];
    if (imsec_isim_load(N.profile, &prof, err, sizeof(err)) < 0) {
      N.res_before_sqn++;
    } else {
      if (memcmp(prof.sqn, N.sqn_sent, 6) != 0)
        N.res_before_sqn++;
      imsec_isim_free(&prof);
    }
  }
  N.ok_200++;
  N.ue_flow = imsec_net_flow_id(f);
  reply(f, m, 200, "OK",
        "Contact: <sip:ue@127.0.0.1;transport=tls;ob>;expires=600\r\n"
        "Service-Route: <sip:orig@scscf." HOME ":5060;transport=tcp;lr>\r\n"
        "P-Associated-URI: <sip:001010000000001@" HOME ">\r\n");
}

static void on_msg(void *user, imsec_net_flow *f, const uint8_t *msg,
                   size_t len) {
  (void)user;
  char *buf = malloc(len + 1);
  memcpy(buf, msg, len);
  imsec_sip_msg m;
  imsec_sip_msg_init(&m, NULL);
  pthread_mutex_lock(&N.mu);
  if (imsec_sip_parse(&m, buf, len, 1) == 0 && !m.is_request) {
    const imsec_sip_cseq *cs;
    if (m.status == 200 && imsec_sip_get_cseq(&m, &cs) == 0 &&
        cs->method_id == IMSEC_SIP_M_MESSAGE)
      N.message_answers++;
  } else if (m.is_request) {
    if (m.method_id == IMSEC_SIP_M_REGISTER) {
      on_register(f, &m);
    } else if (m.method_id == IMSEC_SIP_M_MESSAGE) {
      N.messages++;
      snprintf(N.last_message, sizeof(N.last_message), "%.*s", (int)m.body.len,
               m.body.p);
      reply(f, &m, 200, "OK", NULL);
    }
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

/* Run a shell command; its stdout+stderr into `out`; the exit status. */
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
           "%s pki rogue --dir %s --kind outside --host pcscf.rogue.example", I,
           g_dir) ||
      t_sh(out, sizeof(out),
           "%s isim new --imsi 001010000000001 --mnc-len 2 --trust-domain "
           "3gppnetwork.org --anchors %s/root.crt --home-ca "
           "%s/op-mcc001-mnc001.crt --out %s/ue.yaml",
           I, g_dir, g_dir, g_dir)) {
    fprintf(stderr, "setup failed: %s\n", out);
    return -1;
  }
  /* The network side knows the subscriber's keys. */
  imsec_isim_profile prof;
  char err[256];
  char path[512];
  snprintf(path, sizeof(path), "%s/ue.yaml", g_dir);
  if (imsec_isim_load(path, &prof, err, sizeof(err)) < 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  pthread_mutex_init(&N.mu, NULL);
  snprintf(N.profile, sizeof(N.profile), "%s", path);
  N.sc = imsec_sqn_cfg_default();
  if (imsec_crypto_ossl_new(&N.c) < 0 || imsec_milenage_new(&N.m, N.c) < 0 ||
      imsec_milenage_set_opc(N.m, prof.k, prof.opc) < 0)
    return -1;
  imsec_isim_free(&prof);

  static imsec_net_tls *good, *rogue;
  char chain[512], key[512];
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof(tc));
  tc.server = 1;
  tc.tickets = 1;
  snprintf(chain, sizeof(chain), "%s/" PCSCF ".chain.pem", g_dir);
  snprintf(key, sizeof(key), "%s/" PCSCF ".key", g_dir);
  tc.cert_file = chain;
  tc.key_file = key;
  if (imsec_net_tls_new(&good, &tc) < 0)
    return -1;
  snprintf(chain, sizeof(chain), "%s/rogue-outside.chain.pem", g_dir);
  snprintf(key, sizeof(key), "%s/rogue-outside.key", g_dir);
  if (imsec_net_tls_new(&rogue, &tc) < 0)
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
  if (imsec_net_listen(g_net, IMSEC_NET_TLS, (struct sockaddr *)&a, good,
                       &N.good_port) < 0 ||
      imsec_net_listen(g_net, IMSEC_NET_TLS, (struct sockaddr *)&a, rogue,
                       &N.rogue_port) < 0 ||
      imsec_net_start(g_net) < 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  imsec_net_del(g_net);
  imsec_milenage_del(N.m);
  imsec_aka_vector_wipe(&N.v);
  imsec_crypto_del(N.c);
  t_rmdir(g_dir);
  return 0;
}

static void profile_sqn(uint8_t sqn[6]) {
  char path[512], err[256];
  snprintf(path, sizeof(path), "%s/ue.yaml", g_dir);
  imsec_isim_profile p;
  assert_int_equal(imsec_isim_load(path, &p, err, sizeof(err)), 0);
  memcpy(sqn, p.sqn, 6);
  imsec_isim_free(&p);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_register_home(void **state) {
  (void)state;
  char out[8192];
  int rc = t_sh(out, sizeof(out),
                "%s ue register -c %s/ue.yaml --pcscf 127.0.0.1:%u "
                "--pcscf-name " PCSCF,
                t_imsec_bin(), g_dir, N.good_port);
  if (rc != 0 || getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "trust: trusted (home)"));
  assert_non_null(strstr(out, "registered: sip:001010000000001@" HOME));
  assert_non_null(strstr(out, "service-route: sip:orig@scscf." HOME));
  assert_non_null(strstr(out, "-> REGISTER"));
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.ok_200, 1);
  assert_int_equal(N.deregs, 1);
  assert_int_equal(N.bad_verify, 0);
  pthread_mutex_unlock(&N.mu);
  /* The profile's sqn line holds the SQN of the challenge accepted, and
   * already did when the RES arrived (written before it left). */
  uint8_t sqn[6];
  profile_sqn(sqn);
  pthread_mutex_lock(&N.mu);
  assert_memory_equal(sqn, N.sqn_accepted, 6);
  assert_true(imsec_sqn_to_u64(sqn) >> 5 == N.he.seq);
  assert_int_equal(N.res_before_sqn, 0);
  pthread_mutex_unlock(&N.mu);
}

/* One `imsec ue register` whose SQN write must fail (`pre`: shell set-up
 * before the command, `conf`: the profile): exit 1 with one clear line,
 * the RES never sent (no second REGISTER with a response reaches the
 * network), the profile's SQN unchanged. */
static void register_unwritable(const char *pre, const char *conf,
                                const char *want_why) {
  char out[8192];
  uint8_t before[6], after[6];
  imsec_isim_profile p;
  char err[256];
  assert_int_equal(imsec_isim_load(conf, &p, err, sizeof(err)), 0);
  memcpy(before, p.sqn, 6);
  imsec_isim_free(&p);
  pthread_mutex_lock(&N.mu);
  int regs0 = N.registers, res0 = N.responses, ok0 = N.ok_200;
  char saved[sizeof(N.profile)];
  memcpy(saved, N.profile, sizeof(saved));
  N.profile[0] = 0; /* another profile; nothing to compare at a RES */
  pthread_mutex_unlock(&N.mu);
  int rc = t_sh(out, sizeof(out),
                "%s %s ue register -c %s --pcscf 127.0.0.1:%u "
                "--pcscf-name " PCSCF " --timeout 10",
                pre, t_imsec_bin(), conf, N.good_port);
  if (rc != 1 || getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  pthread_mutex_lock(&N.mu);
  memcpy(N.profile, saved, sizeof(saved));
  int regs = N.registers - regs0, res = N.responses - res0,
      oks = N.ok_200 - ok0;
  pthread_mutex_unlock(&N.mu);
  assert_int_equal(rc, 1);
  char line[700];
  snprintf(line, sizeof(line),
           "failed: cannot write the SQN to %s: %s; "
           "the challenge was not answered\n",
           conf, want_why);
  assert_non_null(strstr(out, line));
  /* The UE logs the answer it holds back and why it stopped; the network
   * never saw it. */
  assert_non_null(strstr(out, "cannot save SQN: "));
  assert_non_null(strstr(out, "once the SQN is saved)"));
  assert_int_equal(regs, 1);
  assert_int_equal(res, 0);
  assert_int_equal(oks, 0);
  assert_int_equal(imsec_isim_load(conf, &p, err, sizeof(err)), 0);
  memcpy(after, p.sqn, 6);
  imsec_isim_free(&p);
  assert_memory_equal(before, after, 6);
}

static void test_sqn_unwritable(void **state) {
  (void)state;
  char out[4096], dir[512], conf[600];
  /* A file size limit of 0 (its signal ignored: writes fail EFBIG) fails
   * the write for any user, root included. */
  snprintf(conf, sizeof(conf), "%s/ue.yaml", g_dir);
  register_unwritable("ulimit -f 0; trap '' XFSZ; exec", conf,
                      "File too large");
  /* A read-only profile in a read-only folder: the temporary file cannot
   * be made. Root writes anyway, so that case needs another user. */
  if (geteuid() == 0) {
    fprintf(stderr, "test_sqn_unwritable: running as root, where file "
                    "permissions do not bite: read-only profile case "
                    "skipped (the size-limit case above ran)\n");
    return;
  }
  snprintf(dir, sizeof(dir), "%s/ro", g_dir);
  snprintf(conf, sizeof(conf), "%s/ue.yaml", dir);
  assert_int_equal(t_sh(out, sizeof(out),
                        "mkdir -p %s && cp -p %s/ue.yaml %s && chmod 0400 %s "
                        "&& chmod 0500 %s",
                        dir, g_dir, conf, conf, dir),
                   0);
  register_unwritable("exec", conf, "Permission denied");
  assert_int_equal(
      t_sh(out, sizeof(out), "chmod 0700 %s && rm -rf %s", dir, dir), 0);
}

static void test_rogue_refused(void **state) {
  (void)state;
  char out[8192];
  pthread_mutex_lock(&N.mu);
  int before = N.registers_rogue;
  pthread_mutex_unlock(&N.mu);
  int rc = t_sh(out, sizeof(out),
                "%s ue register -c %s/ue.yaml --pcscf 127.0.0.1:%u "
                "--pcscf-name pcscf.rogue.example",
                t_imsec_bin(), g_dir, N.rogue_port);
  if (getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "trust: rejected [name-outside-trust-domain]"));
  assert_non_null(strstr(out, "refused: P-CSCF not trusted"));
  /* Refused when the TLS handshake completed: not one REGISTER. */
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.registers_rogue - before, 0);
  pthread_mutex_unlock(&N.mu);
}

static void test_sync_failure(void **state) {
  (void)state;
  /* The HSS forgets its SQN (a restored backup): the UE sends AUTS, the
   * HSS resynchronises, and the registration completes on the same TLS
   * connection. */
  pthread_mutex_lock(&N.mu);
  N.he.seq = 0;
  N.he.ind_next = 0;
  int auts = N.auts_seen, ok = N.ok_200;
  N.n_flows = 0;
  pthread_mutex_unlock(&N.mu);
  char out[8192];
  int rc = t_sh(out, sizeof(out),
                "%s ue register -c %s/ue.yaml --pcscf 127.0.0.1:%u "
                "--pcscf-name " PCSCF,
                t_imsec_bin(), g_dir, N.good_port);
  if (rc != 0 || getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "synchronisation failure"));
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.auts_seen - auts, 1);
  assert_int_equal(N.ok_200 - ok, 1);
  assert_int_equal(N.n_flows, 1); /* one TLS connection throughout */
  pthread_mutex_unlock(&N.mu);
}

static void test_message(void **state) {
  (void)state;
  char out[8192];
  int rc = t_sh(out, sizeof(out),
                "%s ue message -c %s/ue.yaml --pcscf 127.0.0.1:%u "
                "--pcscf-name " PCSCF " --to sip:bob@" HOME " 'hello bob'",
                t_imsec_bin(), g_dir, N.good_port);
  if (rc != 0 || getenv("UE_CLI_SHOW"))
    fprintf(stderr, "%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "message: delivered to sip:bob@" HOME " (200)"));
  pthread_mutex_lock(&N.mu);
  assert_string_equal(N.last_message, "hello bob");
  pthread_mutex_unlock(&N.mu);
}

static int wait_until(int (*pred)(void), int ms) {
  for (int i = 0; i < ms / 10; i++) {
    pthread_mutex_lock(&N.mu);
    int ok = pred();
    pthread_mutex_unlock(&N.mu);
    if (ok)
      return 1;
    usleep(10000);
  }
  return 0;
}

static int g_want;
static int p_ok(void) {
  return N.ok_200 >= g_want;
}
static int p_answered(void) {
  return N.message_answers >= g_want;
}
static int p_dereg(void) {
  return N.deregs >= g_want;
}

static int file_has(const char *path, const char *needle) {
  size_t n;
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  fclose(f);
  char *t = t_read_file(path, &n);
  int found = strstr(t, needle) != NULL;
  free(t);
  return found;
}

/* The UE's output so far on stderr, then fail the test. */
static void show_and_fail(const char *outp) {
  char *t = t_read_file(outp, &(size_t){0});
  fprintf(stderr, "%s", t ? t : "");
  free(t);
  fail();
}

static void test_run(void **state) {
  (void)state;
  /* `imsec ue run`: stays registered, answers a MESSAGE over its flow,
   * re-registers on a new (resumed) TLS connection when the flow fails,
   * de-registers on SIGTERM. */
  char outp[512], port[8];
  snprintf(outp, sizeof(outp), "%s/run.out", g_dir);
  snprintf(port, sizeof(port), "%u", N.good_port);
  char conf[512], pc[64];
  snprintf(conf, sizeof(conf), "%s/ue.yaml", g_dir);
  snprintf(pc, sizeof(pc), "127.0.0.1:%s", port);
  pthread_mutex_lock(&N.mu);
  int ok0 = N.ok_200, ans0 = N.message_answers, dereg0 = N.deregs;
  pthread_mutex_unlock(&N.mu);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    FILE *o = freopen(outp, "w", stdout);
    (void)o;
    dup2(1, 2);
    execl(t_imsec_bin(), t_imsec_bin(), "ue", "run", "-c", conf, "--pcscf", pc,
          "--pcscf-name", PCSCF, (char *)NULL);
    _exit(127);
  }
  g_want = ok0 + 1;
  assert_true(wait_until(p_ok, 5000));
  pthread_mutex_lock(&N.mu);
  uint64_t flow = N.ue_flow;
  pthread_mutex_unlock(&N.mu);
  static const char msg[] =
      "MESSAGE sip:ue@127.0.0.1;transport=tls;ob SIP/2.0\r\n"
      "Via: SIP/2.0/TLS " PCSCF ":5061;branch=z9hG4bKnet1\r\n"
      "Max-Forwards: 69\r\n"
      "From: <sip:alice@" HOME ">;tag=al\r\n"
      "To: <sip:001010000000001@" HOME ">\r\n"
      "Call-ID: net-m1\r\n"
      "CSeq: 1 MESSAGE\r\n"
      "P-Asserted-Identity: <sip:alice@" HOME ">\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 8\r\n\r\nhi there";
  assert_int_equal(
      imsec_net_send(g_net, flow, (const uint8_t *)msg, sizeof(msg) - 1), 0);
  g_want = ans0 + 1;
  if (!wait_until(p_answered, 5000))
    show_and_fail(outp);
  /* The CLI prints what its UE received from the waiting thread, which
   * looks every few milliseconds: wait for the line itself (the UE's own
   * log line "<- MESSAGE from" comes first). */
  static const char line[] =
      "MESSAGE from sip:alice@" HOME " (asserted sip:alice@" HOME "): hi there";
  for (int i = 0; i < 200 && !file_has(outp, line); i++)
    usleep(10000);
  assert_true(file_has(outp, line));
  /* The flow fails: a new connection, a resumed session, registered
   * again. */
  assert_int_equal(imsec_net_close(g_net, flow), 0);
  g_want = ok0 + 2;
  if (!wait_until(p_ok, 8000))
    show_and_fail(outp);
  for (int i = 0; i < 200 && !file_has(outp, "resumed session"); i++)
    usleep(10000);
  assert_true(file_has(outp, "resumed session"));
  /* SIGTERM: de-register, exit 0. */
  kill(pid, SIGTERM);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || getenv("UE_CLI_SHOW")) {
    char *t = t_read_file(outp, &(size_t){0});
    fprintf(stderr, "%s", t);
    free(t);
  }
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  pthread_mutex_lock(&N.mu);
  assert_int_equal(N.deregs, dereg0 + 1);
  pthread_mutex_unlock(&N.mu);
  (void)p_dereg;
}

static void test_usage(void **state) {
  (void)state;
  char out[4096];
  const char *I = t_imsec_bin();
  assert_int_equal(t_sh(out, sizeof(out), "%s ue", I), 2);
  assert_int_equal(t_sh(out, sizeof(out), "%s ue frobnicate", I), 2);
  assert_int_equal(
      t_sh(out, sizeof(out), "%s ue register --pcscf 1.2.3.4:5", I), 2);
  assert_non_null(strstr(out, "-c"));
  assert_int_equal(
      t_sh(out, sizeof(out), "%s ue register -c %s/ue.yaml", I, g_dir), 2);
  assert_non_null(strstr(out, "--pcscf"));
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue register -c %s/ue.yaml --pcscf nonsense", I,
                        g_dir),
                   2);
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue message -c %s/ue.yaml --pcscf 127.0.0.1:5 "
                        "--to sip:x@y",
                        I, g_dir),
                   2);
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue register -c %s/nope.yaml --pcscf 127.0.0.1:5", I,
                        g_dir),
                   2);
  /* A profile without an IMPI: one line naming the file and the key. */
  char path[512];
  snprintf(path, sizeof(path), "%s/bad.yaml", g_dir);
  FILE *f = fopen(path, "w");
  fputs("home_domain: " HOME "\n", f);
  fclose(f);
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue register -c %s --pcscf 127.0.0.1:5", I, path),
                   2);
  assert_non_null(strstr(out, "impi"));
  assert_int_equal(t_sh(out, sizeof(out), "%s ue --help", I), 0);
  /* Nobody listening: retried with back-off, then failed, exit 1. */
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue register -c %s/ue.yaml --pcscf 127.0.0.1:1 "
                        "--pcscf-name " PCSCF " --timeout 3",
                        I, g_dir),
                   1);
  assert_non_null(strstr(out, "failed: no registration within 3 s"));
  assert_non_null(strstr(out, "; retry 2 in 1000 ms"));
  /* A name that does not resolve: one line, exit 2. */
  assert_int_equal(t_sh(out, sizeof(out),
                        "%s ue register -c %s/ue.yaml --pcscf "
                        "pcscf.no-such-host.invalid:5061",
                        I, g_dir),
                   2);
  assert_non_null(strstr(out, "cannot resolve pcscf.no-such-host.invalid: "));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_home),
      cmocka_unit_test(test_sqn_unwritable),
      cmocka_unit_test(test_rogue_refused),
      cmocka_unit_test(test_sync_failure),
      cmocka_unit_test(test_message),
      cmocka_unit_test(test_run),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
