/* Mode M3 through the host's net port (include/imsec/host_net.h) over
 * real loopback TLS and DTLS: an element installs a PSK by action and a
 * client CONNECT with that PSK comes up with psk = 1 and the identity on
 * both ends; a removed, expired or wrong key fails; configured keys are
 * replaced by imsec_hostnet_psk_set_static and lose to the element's; the
 * same listener still serves certificate clients. Each wait is bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsec/host_net.h"
#include "imsec/x509.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000
#define PCSCF_NAME "pcscf.ims.mnc001.mcc001.3gppnetwork.org"

static const char MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n"
                          "Content-Length: 5\r\n\r\nhello";

static const char *g_dir;
static imsec_x509_anchors *g_anchors; /* the test CA: peer facts */

static const uint8_t KEY1[32] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
static const uint8_t KEY2[32] = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27};
static const uint8_t KEY3[16] = {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37};

/* ------------------------------------------------------------ server */

/* Echoes; records the PSK facts of the last inbound flow. */
typedef struct srv {
  int ups, psk;
  char identity[128];
} srv;

static int srv_up(void *s, uint64_t flow, uint64_t tag,
                  const imsec_flow_info *info, imsec_time_ms now,
                  imsec_out *out) {
  srv *e = s;
  (void)flow;
  (void)tag;
  (void)now;
  (void)out;
  e->ups++;
  e->psk = info->psk;
  snprintf(e->identity, sizeof e->identity, "%s",
           info->psk_identity ? info->psk_identity : "");
  return 0;
}

static void srv_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                    imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)now;
  assert_int_equal(imsec_out_send(out, flow, m, len), 0);
}

static void srv_down(void *s, uint64_t flow, uint64_t tag, int reason,
                     imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
}

static const imsec_elem_ops srv_ops = {
    .kind = "pskserver",
    .on_flow_up = srv_up,
    .on_message = srv_msg,
    .on_flow_down = srv_down,
};

/* A PSK action from the element, run on its loop (what a P-CSCF does
 * after an AKA run). */
typedef struct psk_call {
  const char *identity;
  const uint8_t *key;
  size_t len;
  imsec_time_ms ttl; /* 0: no end */
} psk_call;

static void do_psk(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  const psk_call *c = arg;
  assert_int_equal(imsec_out_psk(out, c->identity, c->key, c->len,
                                 c->ttl ? now + c->ttl : 0),
                   0);
}

static void install(imsec_hostnet *s, const char *id, const uint8_t *key,
                    size_t len, imsec_time_ms ttl) {
  psk_call c = {id, key, len, ttl};
  assert_int_equal(imsec_hostnet_call_wait(s, do_psk, &c, WAIT), 0);
}

/* A listener with a certificate (cert) and PSKs, TLS or DTLS. */
static imsec_hostnet *server(srv *e, imsec_tp tp, int cert) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  if (cert) {
    tc.cert_file = t_path(g_dir, "server.pem");
    tc.key_file = t_path(g_dir, "server.key");
  }
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = tp;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  l.tls_cfg = &tc;
  l.psk = 1;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "pcscf";
  cfg.ops = &srv_ops;
  cfg.self = e;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  cfg.log_level = IMSEC_LOG_ERROR;
  cfg.limits.handshake_timeout_ms = 1500; /* DTLS failures end by it */
  imsec_hostnet *r = NULL;
  char err[256];
  if (imsec_hostnet_new(&r, &cfg, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_start(r), 0);
  return r;
}

/* ------------------------------------------------------------ client */

/* Connects once (with the PSK of `profile`, if any), sends one message,
 * closes after its echo. */
typedef struct cli {
  imsec_addr dst;
  imsec_tls_profile *profile;
  int ups, downs, msgs, psk, reason, closed, had_cert;
  char identity[128];
} cli;

static void cli_start(void *s, imsec_time_ms now, imsec_out *out) {
  cli *c = s;
  (void)now;
  assert_int_equal(
      imsec_out_connect_tls(out, 7, &c->dst, PCSCF_NAME, c->profile), 0);
}

static int cli_up(void *s, uint64_t flow, uint64_t tag,
                  const imsec_flow_info *info, imsec_time_ms now,
                  imsec_out *out) {
  cli *c = s;
  (void)tag;
  (void)now;
  c->ups++;
  c->psk = info->psk;
  c->had_cert = info->peer_cert != NULL;
  snprintf(c->identity, sizeof c->identity, "%s",
           info->psk_identity ? info->psk_identity : "");
  assert_int_equal(imsec_out_send(out, flow, MSG, sizeof MSG - 1), 0);
  return 0;
}

static void cli_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                    imsec_time_ms now, imsec_out *out) {
  cli *c = s;
  (void)now;
  assert_int_equal(len, sizeof MSG - 1);
  assert_memory_equal(m, MSG, len);
  c->msgs++;
  assert_int_equal(imsec_out_close(out, flow), 0);
  c->closed = 1;
}

static void cli_down(void *s, uint64_t flow, uint64_t tag, int reason,
                     imsec_time_ms now, imsec_out *out) {
  cli *c = s;
  (void)flow;
  (void)tag;
  (void)now;
  (void)out;
  c->downs++;
  c->reason = reason;
}

static int cli_done(const void *s) {
  const cli *c = s;
  return c->downs > 0 || c->closed;
}

static const imsec_elem_ops cli_ops = {
    .kind = "pskclient",
    .on_flow_up = cli_up,
    .on_message = cli_msg,
    .on_flow_down = cli_down,
    .on_start = cli_start,
    .done = cli_done,
};

/* One client run against `s` (id NULL: no PSK, the certificate). */
static cli run_client(imsec_hostnet *s, imsec_tp tp, const char *id,
                      const uint8_t *key, size_t len) {
  cli c;
  memset(&c, 0, sizeof c);
  c.dst.tp = tp;
  snprintf(c.dst.host, sizeof c.dst.host, "127.0.0.1");
  c.dst.port = imsec_hostnet_port(s, 0);
  imsec_tls_profile prof;
  memset(&prof, 0, sizeof prof);
  prof.dtls = tp == IMSEC_TP_DTLS;
  if (id) {
    snprintf(prof.psk_identity, sizeof prof.psk_identity, "%s", id);
    memcpy(prof.psk, key, len);
    prof.psk_len = len;
  }
  c.profile = &prof;
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1;
  tc.ca_file = t_path(g_dir, "ca.pem");
  tc.dtls = tp == IMSEC_TP_DTLS;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "ue";
  cfg.ops = &cli_ops;
  cfg.self = &c;
  cfg.client_tls_cfg = &tc;
  cfg.anchors = g_anchors;
  cfg.log_level = IMSEC_LOG_ERROR;
  cfg.limits.handshake_timeout_ms = 1500;
  imsec_hostnet *cr = NULL;
  char err[256];
  if (imsec_hostnet_new(&cr, &cfg, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_start(cr), 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  c.profile = NULL;
  return c;
}

static void expect_psk_up(const cli *c, const srv *e, int ups_before,
                          const char *id) {
  assert_int_equal(c->ups, 1);
  assert_int_equal(c->msgs, 1);
  assert_int_equal(c->psk, 1);
  assert_string_equal(c->identity, id);
  assert_false(c->had_cert);
  assert_int_equal(e->ups, ups_before + 1);
  assert_int_equal(e->psk, 1);
  assert_string_equal(e->identity, id);
}

static void expect_refused(const cli *c, const srv *e, int ups_before) {
  assert_int_equal(c->ups, 0);
  assert_int_equal(c->downs, 1);
  assert_int_not_equal(c->reason, 0);
  assert_int_equal(e->ups, ups_before);
}

/* ------------------------------------------------------------ tests */

/* The element's key: in, used, wrong, removed, expired. */
static void element_key(void **state) {
  (void)state;
  srv e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, 1);
  /* Before any key: refused. */
  cli c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY1, sizeof KEY1);
  expect_refused(&c, &e, 0);
  install(s, "ue1@ims.test", KEY1, sizeof KEY1, 0);
  c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY1, sizeof KEY1);
  expect_psk_up(&c, &e, 0, "ue1@ims.test");
  /* A wrong key fails. */
  c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY2, sizeof KEY2);
  expect_refused(&c, &e, 1);
  /* The same listener serves a certificate client. */
  c = run_client(s, IMSEC_TP_TLS, NULL, NULL, 0);
  assert_int_equal(c.ups, 1);
  assert_int_equal(c.msgs, 1);
  assert_int_equal(c.psk, 0);
  assert_string_equal(c.identity, "");
  assert_true(c.had_cert);
  assert_int_equal(e.ups, 2);
  assert_int_equal(e.psk, 0);
  assert_string_equal(e.identity, "");
  /* Removed: refused. */
  install(s, "ue1@ims.test", NULL, 0, 0);
  c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY1, sizeof KEY1);
  expect_refused(&c, &e, 2);
  /* Expired: refused. */
  install(s, "ue1@ims.test", KEY1, sizeof KEY1, 150);
  c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY1, sizeof KEY1);
  expect_psk_up(&c, &e, 2, "ue1@ims.test");
  usleep(300 * 1000);
  c = run_client(s, IMSEC_TP_TLS, "ue1@ims.test", KEY1, sizeof KEY1);
  expect_refused(&c, &e, 3);
  imsec_hostnet_del(s);
}

/* Configured keys: replaced wholesale; the element's key wins. */
static void static_keys(void **state) {
  (void)state;
  srv e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, 0);
  imsec_hostnet_psk st[] = {{"ue2@ims.test", KEY2, sizeof KEY2},
                            {"ue3@ims.test", KEY3, sizeof KEY3}};
  assert_int_equal(imsec_hostnet_psk_set_static(s, st, 2), 0);
  cli c = run_client(s, IMSEC_TP_TLS, "ue2@ims.test", KEY2, sizeof KEY2);
  expect_psk_up(&c, &e, 0, "ue2@ims.test");
  c = run_client(s, IMSEC_TP_TLS, "ue3@ims.test", KEY3, sizeof KEY3);
  expect_psk_up(&c, &e, 1, "ue3@ims.test");
  /* The element installs another key for ue2: it wins. */
  install(s, "ue2@ims.test", KEY1, sizeof KEY1, 0);
  c = run_client(s, IMSEC_TP_TLS, "ue2@ims.test", KEY2, sizeof KEY2);
  expect_refused(&c, &e, 2);
  c = run_client(s, IMSEC_TP_TLS, "ue2@ims.test", KEY1, sizeof KEY1);
  expect_psk_up(&c, &e, 2, "ue2@ims.test");
  /* A reload keeps ue3 only, with a new key. */
  imsec_hostnet_psk st2[] = {{"ue3@ims.test", KEY1, sizeof KEY1}};
  assert_int_equal(imsec_hostnet_psk_set_static(s, st2, 1), 0);
  c = run_client(s, IMSEC_TP_TLS, "ue3@ims.test", KEY3, sizeof KEY3);
  expect_refused(&c, &e, 3);
  c = run_client(s, IMSEC_TP_TLS, "ue3@ims.test", KEY1, sizeof KEY1);
  expect_psk_up(&c, &e, 3, "ue3@ims.test");
  /* Bad entries change nothing. */
  imsec_hostnet_psk bad[] = {{"", KEY1, sizeof KEY1}};
  assert_int_equal(imsec_hostnet_psk_set_static(s, bad, 1), IMSEC_ERR_INVAL);
  c = run_client(s, IMSEC_TP_TLS, "ue3@ims.test", KEY1, sizeof KEY1);
  expect_psk_up(&c, &e, 4, "ue3@ims.test");
  imsec_hostnet_del(s);
}

/* DTLS: the same with datagrams. */
static void dtls_key(void **state) {
  (void)state;
  srv e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_DTLS, 1);
  install(s, "ue4@ims.test", KEY3, sizeof KEY3, 0);
  cli c = run_client(s, IMSEC_TP_DTLS, "ue4@ims.test", KEY3, sizeof KEY3);
  expect_psk_up(&c, &e, 0, "ue4@ims.test");
  c = run_client(s, IMSEC_TP_DTLS, "ue4@ims.test", KEY1, sizeof KEY1);
  expect_refused(&c, &e, 1);
  imsec_hostnet_del(s);
}

/* psk on a listener without TLS, or with a context given, is refused. */
static void bad_listener(void **state) {
  (void)state;
  srv e = {0};
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  l.psk = 1;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "bad";
  cfg.ops = &srv_ops;
  cfg.self = &e;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  imsec_hostnet *r = NULL;
  char err[256];
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "PSK"));
}

static int setup(void **state) {
  (void)state;
  g_dir = t_pki_setup();
  if (!g_dir || imsec_x509_anchors_new(&g_anchors) != 0 ||
      imsec_x509_anchors_add_root_file(g_anchors, t_path(g_dir, "ca.pem")) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  imsec_x509_anchors_del(g_anchors);
  t_rmdir(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(element_key),
      cmocka_unit_test(static_keys),
      cmocka_unit_test(dtls_key),
      cmocka_unit_test(bad_listener),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
