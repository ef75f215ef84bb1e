/* net/ against `openssl s_client`: a real, independent TLS client. TLS 1.3
 * and 1.2 are accepted, TLS 1.1 and a non-ECDHE suite are refused, PSK works
 * in both versions, a required client certificate is enforced (and such
 * sessions resume), and a resumed TLS 1.3 handshake brings a fresh ticket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_util.h"
#include "test_util.h"

static const char *g_dir;
static char g_port[8];

static const char SIP_MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: s\r\n"
                              "Content-Length: 2\r\n\r\nhi";

typedef struct srv {
  imsec_net *net;
  imsec_net_tls *tls;
  t_rec *rec;
} srv;

static void srv_start_tr(srv *s, const imsec_net_tls_config *tc,
                         imsec_net_transport tr) {
  s->rec = t_rec_new(1);
  assert_int_equal(imsec_net_tls_new(&s->tls, tc), 0);
  imsec_net_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = 1;
  cfg.handler = t_rec_handler(s->rec);
  cfg.log = t_rec_log;
  cfg.log_user = s->rec;
  cfg.log_level = IMSEC_NET_LOG_DEBUG;
  assert_int_equal(imsec_net_new(&s->net, &cfg), 0);
  struct sockaddr_in a = t_lo4(0);
  uint16_t port = 0;
  assert_int_equal(
      imsec_net_listen(s->net, tr, (struct sockaddr *)&a, s->tls, &port), 0);
  snprintf(g_port, sizeof g_port, "%u", port);
  assert_int_equal(imsec_net_start(s->net), 0);
}

static void srv_start(srv *s, const imsec_net_tls_config *tc) {
  srv_start_tr(s, tc, IMSEC_NET_TLS);
}

static void srv_stop(srv *s) {
  imsec_net_del(s->net);
  imsec_net_tls_del(s->tls);
  t_rec_del(s->rec);
}

/* Run s_client with `args` (NULL-terminated, after the connect address),
 * feed it one SIP message, and return 1 when our server saw the flow up
 * and the message, 0 when it did not. */
static int sclient(srv *s, const char *const *args, t_ev *up) {
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%s", g_port);
  const char *argv[32] = {"openssl", "s_client", "-connect",
                          connect,   "-CAfile",  t_path(g_dir, "ca.pem"),
                          "-brief"};
  int n = 7;
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int in[2];
  assert_int_equal(pipe(in), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[1]);
    int out =
        open(t_path(g_dir, "sclient.out"), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, 1);
    dup2(out, 2);
    execvp("openssl", (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  signal(SIGPIPE, SIG_IGN);
  if (write(in[1], SIP_MSG, sizeof SIP_MSG - 1) < 0)
    (void)errno;
  t_ev e;
  int have_up = 0, got = 0, status = 0, exited = 0;
  /* Poll: done when the message arrived, or soon after s_client gave up. */
  for (int i = 0; i < 150 && !got; i++) {
    if (!have_up)
      have_up = t_rec_wait(s->rec, T_EV_UP, 0, 1, 20, up ? up : &e) == 0;
    if (have_up)
      got = t_rec_wait(s->rec, T_EV_MSG, 0, 1, 20, &e) == 0;
    if (!exited && waitpid(pid, &status, WNOHANG) == pid)
      exited = i + 1;
    if (exited && i > exited + 10)
      break;
  }
  close(in[1]);
  if (exited)
    return got;
  for (int i = 0; i < 300; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return got;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return got;
}

static void cert_server(srv *s, int tls12_only, int require) {
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  c.tls12_only = tls12_only;
  if (require) {
    c.ca_file = t_path(g_dir, "ca.pem");
    c.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
  }
  srv_start(s, &c);
}

static void tls13_and_12_accepted(void **state) {
  (void)state;
  srv s;
  cert_server(&s, 0, 0);
  t_ev up;
  const char *a13[] = {"-tls1_3", NULL};
  assert_true(sclient(&s, a13, &up));
  assert_string_equal(up.version, "TLSv1.3");
  const char *a12[] = {"-tls1_2", NULL};
  assert_true(sclient(&s, a12, &up));
  assert_string_equal(up.version, "TLSv1.2");
  srv_stop(&s);
}

static void tls11_refused(void **state) {
  (void)state;
  srv s;
  cert_server(&s, 0, 0);
  /* Let the client really offer TLS 1.1 (its own policy forbids it). */
  const char *a[] = {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", NULL};
  assert_false(sclient(&s, a, NULL));
  assert_true(t_rec_log_has(s.rec, "unsupported protocol"));
  srv_stop(&s);
}

static void non_ecdhe_refused(void **state) {
  (void)state;
  srv s;
  cert_server(&s, 0, 0);
  const char *a[] = {"-tls1_2", "-cipher", "AES128-GCM-SHA256", NULL};
  assert_false(sclient(&s, a, NULL));
  const char *b[] = {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256", NULL};
  assert_false(sclient(&s, b, NULL)); /* ECDHE, but CBC: no AEAD */
  assert_true(t_rec_log_has(s.rec, "no shared cipher"));
  srv_stop(&s);
}

static int psk_lookup(void *arg, const uint8_t *id, size_t idlen, uint8_t *key,
                      size_t cap) {
  (void)arg;
  if (idlen != 3 || memcmp(id, "ue1", 3) != 0 || cap < 16)
    return IMSEC_ERR_NOTFOUND;
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)(0xa0 + i);
  return 16;
}

static void psk_accepted(void **state) {
  (void)state;
  srv s;
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.psk_lookup = psk_lookup;
  srv_start(&s, &c);
  const char *key = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
  t_ev up;
  const char *a13[] = {"-tls1_3", "-psk_identity", "ue1", "-psk", key, NULL};
  assert_true(sclient(&s, a13, &up));
  assert_string_equal(up.version, "TLSv1.3");
  assert_int_equal(up.psk, 1);
  const char *a12[] = {"-tls1_2",
                       "-psk_identity",
                       "ue1",
                       "-psk",
                       key,
                       "-cipher",
                       "ECDHE-PSK-CHACHA20-POLY1305",
                       NULL};
  assert_true(sclient(&s, a12, &up));
  assert_string_equal(up.version, "TLSv1.2");
  assert_int_equal(up.psk, 1);
  const char *bad[] = {"-tls1_3",
                       "-psk_identity",
                       "ue1",
                       "-psk",
                       "00a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                       NULL};
  assert_false(sclient(&s, bad, NULL));
  srv_stop(&s);
}

static void client_cert_required(void **state) {
  (void)state;
  srv s;
  cert_server(&s, 0, 1);
  const char *none[] = {"-tls1_3", NULL};
  assert_false(sclient(&s, none, NULL));
  const char *none12[] = {"-tls1_2", NULL};
  assert_false(sclient(&s, none12, NULL));
  assert_true(t_rec_log_has(s.rec, "handshake failed"));
  t_ev up;
  const char *with[] = {"-tls1_3",
                        "-cert",
                        t_path(g_dir, "client.pem"),
                        "-key",
                        t_path(g_dir, "client.key"),
                        NULL};
  assert_true(sclient(&s, with, &up));
  assert_int_equal(up.verify, 0);
  assert_string_equal(up.name0, "ue.ims.mnc001.mcc001.3gppnetwork.org");
  /* A certificate from another root is refused. */
  const char *rogue[] = {"-tls1_3",
                         "-cert",
                         t_path(g_dir, "rogue.pem"),
                         "-key",
                         t_path(g_dir, "rogue.key"),
                         NULL};
  assert_false(sclient(&s, rogue, NULL));
  srv_stop(&s);
}

/* One fresh ticket per handshake, resumed ones included (RFC 8446 §C.4:
 * a client should not reuse a ticket): s_client writes -sess_out only when
 * a ticket arrives, so the resumed connection's file exists only if the
 * server issued one, and that ticket resumes in turn. */
static void ticket_per_resumed_handshake(void **state) {
  (void)state;
  srv s;
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  c.tickets = 1;
  srv_start(&s, &c);
  char s1[512], s2[512];
  snprintf(s1, sizeof s1, "%s", t_path(g_dir, "sess1.pem"));
  snprintf(s2, sizeof s2, "%s", t_path(g_dir, "sess2.pem"));
  unlink(s1);
  unlink(s2);
  t_ev up;
  const char *first[] = {"-tls1_3", "-sess_out", s1, NULL};
  assert_true(sclient(&s, first, &up));
  assert_int_equal(up.resumed, 0);
  assert_int_equal(access(s1, R_OK), 0);
  const char *second[] = {"-tls1_3", "-sess_in", s1, "-sess_out", s2, NULL};
  assert_true(sclient(&s, second, &up));
  assert_int_equal(up.resumed, 1);
  assert_int_equal(access(s2, R_OK), 0); /* a ticket came with it */
  const char *third[] = {"-tls1_3", "-sess_in", s2, NULL};
  assert_true(sclient(&s, third, &up));
  assert_int_equal(up.resumed, 1);
  srv_stop(&s);
}

/* Mutual TLS and a ticket (mode M2, a UE coming back): s_client resumes
 * with its client certificate's session, TLS 1.3 and 1.2, and the resumed
 * flow still names the UE. */
static void mutual_ticket_resumes(void **state) {
  (void)state;
  for (int v12 = 0; v12 <= 1; v12++) {
    srv s;
    imsec_net_tls_config c;
    memset(&c, 0, sizeof c);
    c.server = 1;
    c.cert_file = t_path(g_dir, "server.pem");
    c.key_file = t_path(g_dir, "server.key");
    c.ca_file = t_path(g_dir, "ca.pem");
    c.client_auth = IMSEC_NET_CLIENT_CERT_REQUIRE;
    c.tickets = 1;
    srv_start(&s, &c);
    char s1[512];
    snprintf(s1, sizeof s1, "%s", t_path(g_dir, "msess.pem"));
    unlink(s1);
    const char *ver = v12 ? "-tls1_2" : "-tls1_3";
    char certbuf[512], key[512]; /* t_path's buffers are reused */
    snprintf(certbuf, sizeof certbuf, "%s", t_path(g_dir, "client.pem"));
    snprintf(key, sizeof key, "%s", t_path(g_dir, "client.key"));
    t_ev up;
    const char *first[] = {ver, "-cert",     certbuf, "-key",
                           key, "-sess_out", s1,      NULL};
    assert_true(sclient(&s, first, &up));
    assert_int_equal(up.resumed, 0);
    assert_int_equal(access(s1, R_OK), 0);
    const char *again[] = {ver, "-cert",    certbuf, "-key",
                           key, "-sess_in", s1,      NULL};
    assert_true(sclient(&s, again, &up));
    assert_int_equal(up.resumed, 1);
    assert_int_equal(up.verify, 0);
    assert_string_equal(up.name0, "ue.ims.mnc001.mcc001.3gppnetwork.org");
    srv_stop(&s);
  }
}

/* DTLS 1.2 with s_client: the cookie exchange (RFC 6347 §4.2.1) and a
 * message. */
static void dtls_accepted(void **state) {
  (void)state;
  srv s;
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.server = 1;
  c.dtls = 1;
  c.cert_file = t_path(g_dir, "server.pem");
  c.key_file = t_path(g_dir, "server.key");
  srv_start_tr(&s, &c, IMSEC_NET_DTLS);
  t_ev up;
  const char *a[] = {"-dtls1_2", NULL};
  assert_true(sclient(&s, a, &up));
  assert_string_equal(up.version, "DTLSv1.2");
  srv_stop(&s);
}

static int setup(void **state) {
  (void)state;
  g_dir = t_pki_setup();
  return g_dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  if (getenv("IMSEC_NET_TRACE")) {
    size_t len;
    char *t = t_read_file(t_path(g_dir, "sclient.out"), &len);
    fprintf(stderr, "%s", t);
    free(t);
  }
  t_rmdir(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tls13_and_12_accepted),
      cmocka_unit_test(tls11_refused),
      cmocka_unit_test(non_ecdhe_refused),
      cmocka_unit_test(psk_accepted),
      cmocka_unit_test(client_cert_required),
      cmocka_unit_test(dtls_accepted),
      cmocka_unit_test(ticket_per_resumed_handshake),
      cmocka_unit_test(mutual_ticket_resumes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
