/* The host's net port (include/imsec/host_net.h): tiny elements over real
 * loopback TLS and TCP on the host core: flow up with the peer facts the
 * host makes from the chain (also for a host name verified while an IP is
 * dialled), messages both ways, timers (re-armed ones fire once, cancelled
 * ones never), keep, close (no event after the element's own CLOSE),
 * connection reuse, a refused peer, a failed connect, CONNECT profiles the
 * port has no context for, injected calls, the `done` stop, TLS resumption
 * across connections of one client context, several loops from a
 * factory. Each wait is bounded. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* ------------------------------------------------------------ echo server */

typedef struct echo {
  int ups, downs, msgs;
  int keep;
  char peers[4][256]; /* the first flows' peer addresses */
} echo;

static int echo_up(void *s, uint64_t flow, uint64_t tag,
                   const imsec_flow_info *info, imsec_time_ms now,
                   imsec_out *out) {
  echo *e = s;
  (void)tag;
  (void)now;
  if (e->ups < 4)
    snprintf(e->peers[e->ups], sizeof e->peers[0], "%s", info->peer.host);
  e->ups++;
  assert_true(info->inbound);
  if (e->keep)
    assert_int_equal(imsec_out_keep(out, flow), 0);
  return 0;
}

static void echo_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                     imsec_time_ms now, imsec_out *out) {
  echo *e = s;
  (void)now;
  e->msgs++;
  assert_int_equal(imsec_out_send(out, flow, m, len), 0);
  assert_int_equal(imsec_out_log(out, IMSEC_LOG_DEBUG, "echoed", NULL), 0);
}

static void echo_down(void *s, uint64_t flow, uint64_t tag, int reason,
                      imsec_time_ms now, imsec_out *out) {
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
  ((echo *)s)->downs++;
}

static const imsec_elem_ops echo_ops = {
    .kind = "echo",
    .on_flow_up = echo_up,
    .on_message = echo_msg,
    .on_flow_down = echo_down,
};

/* ------------------------------------------------------------ client */

typedef struct client {
  imsec_addr dst;
  char sni[128];
  int refuse_invalid;         /* return <0 when the chain is not OK */
  int reuse;                  /* connect twice to the same place */
  int close_after;            /* close after the echo, then done */
  imsec_tls_profile *profile; /* CONNECT with this profile */
  /* seen */
  int ups, downs, msgs, timer1, timer2, calls;
  uint64_t up_tags[4], down_tags[4];
  uint64_t flows[4];
  int down_reason;
  imsec_trust_cert cert;
  int had_cert, resumed;
  char tls_version[16];
  int closed, refused; /* it closed its flow / refused it in flow up */
} client;

static void cl_start(void *s, imsec_time_ms now, imsec_out *out) {
  client *c = s;
  (void)now;
  assert_int_equal(imsec_out_connect_tls(out, 7, &c->dst, c->sni, c->profile),
                   0);
  if (c->reuse)
    assert_int_equal(imsec_out_connect(out, 8, &c->dst, c->sni), 0);
}

static int cl_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  client *c = s;
  assert_false(info->inbound);
  if (c->ups < 4) {
    c->up_tags[c->ups] = tag;
    c->flows[c->ups] = flow;
  }
  c->ups++;
  if (info->peer_cert) {
    c->cert = *info->peer_cert;
    c->had_cert = 1;
  }
  c->resumed = info->resumed;
  if (info->tls_version)
    snprintf(c->tls_version, sizeof c->tls_version, "%s", info->tls_version);
  if (c->refuse_invalid &&
      (!info->peer_cert || info->peer_cert->chain != IMSEC_CHAIN_OK)) {
    c->refused = 1;
    return IMSEC_ERR_AUTH;
  }
  if (tag == 7) {
    assert_int_equal(imsec_out_send(out, flow, MSG, sizeof MSG - 1), 0);
    /* Timer 1 armed, then re-armed: only the second arming fires. Timer 2
     * armed, then cancelled: never fires. */
    assert_int_equal(imsec_out_timer(out, 1, now + 5), 0);
    assert_int_equal(imsec_out_timer(out, 2, now + 10), 0);
    assert_int_equal(imsec_out_timer(out, 1, now + 40), 0);
    assert_int_equal(imsec_out_timer(out, 2, 0), 0);
  }
  return 0;
}

static void cl_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  client *c = s;
  (void)now;
  (void)flow;
  assert_int_equal(len, sizeof MSG - 1);
  assert_memory_equal(m, MSG, len);
  c->msgs++;
  assert_int_equal(imsec_out_keep(out, flow), 0);
}

static void cl_timer(void *s, uint64_t id, imsec_time_ms now, imsec_out *out) {
  client *c = s;
  (void)now;
  if (id == 1)
    c->timer1++;
  if (id == 2)
    c->timer2++;
  if (id == 1 && c->close_after) {
    assert_int_equal(imsec_out_close(out, c->flows[0]), 0);
    c->closed = 1;
  }
}

static void cl_down(void *s, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  client *c = s;
  (void)flow;
  (void)now;
  (void)out;
  if (c->downs < 4)
    c->down_tags[c->downs] = tag;
  c->downs++;
  c->down_reason = reason;
}

static int cl_done(const void *s) {
  const client *c = s;
  return c->downs > 0 || c->closed || c->refused;
}

static const imsec_elem_ops client_ops = {
    .kind = "client",
    .on_flow_up = cl_up,
    .on_message = cl_msg,
    .on_flow_down = cl_down,
    .on_timer = cl_timer,
    .on_start = cl_start,
    .done = cl_done,
};

/* ------------------------------------------------------------ helpers */

static imsec_hostnet *server(echo *e, imsec_tp tp, const char *cert,
                             const char *key, int tickets) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.cert_file = t_path(g_dir, cert);
  tc.key_file = t_path(g_dir, key);
  tc.tickets = tickets;
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = tp;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  l.tls_cfg = tp == IMSEC_TP_TLS ? &tc : NULL;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "echo";
  cfg.ops = &echo_ops;
  cfg.self = e;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  cfg.log_level = IMSEC_LOG_WARN;
  imsec_hostnet *r = NULL;
  char err[256];
  int rc = imsec_hostnet_new(&r, &cfg, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  assert_int_not_equal(imsec_hostnet_port(r, 0), 0);
  assert_int_equal(imsec_hostnet_port(r, 1), 0);
  assert_int_equal(imsec_hostnet_start(r), 0);
  return r;
}

static imsec_x509_anchors *anchors(void) {
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  assert_int_equal(imsec_x509_anchors_add_root_file(a, t_path(g_dir, "ca.pem")),
                   0);
  assert_int_equal(
      imsec_x509_anchors_set_home_ca_file(a, t_path(g_dir, "ca.pem")), 0);
  return a;
}

static imsec_hostnet *client_run(client *c, imsec_net_tls *ctls,
                                 const imsec_x509_anchors *a, int ladder) {
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "client";
  cfg.ops = &client_ops;
  cfg.self = c;
  cfg.client_tls = ctls;
  cfg.anchors = a;
  cfg.log_level = IMSEC_LOG_WARN;
  cfg.ladder = ladder;
  imsec_hostnet *r = NULL;
  char err[256];
  int rc = imsec_hostnet_new(&r, &cfg, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_start(r), 0);
  return r;
}

static imsec_net_tls *client_tls(void) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1;
  tc.ca_file = t_path(g_dir, "ca.pem");
  imsec_net_tls *t = NULL;
  assert_int_equal(imsec_net_tls_new(&t, &tc), 0);
  return t;
}

static void dst(client *c, imsec_tp tp, uint16_t port, const char *sni) {
  c->dst.tp = tp;
  snprintf(c->dst.host, sizeof c->dst.host, "127.0.0.1");
  c->dst.port = port;
  snprintf(c->sni, sizeof c->sni, "%s", sni ? sni : "");
}

/* ------------------------------------------------------------ tests */

/* The UE's case: dial 127.0.0.1, verify the P-CSCF's name; the facts come
 * from crypto/x509; echo, keep, timers, close, then `done` ends the run. */
static void test_tls_echo_timers_done(void **state) {
  (void)state;
  echo e = {.keep = 1};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, "server.pem", "server.key", 0);
  imsec_x509_anchors *a = anchors();
  imsec_net_tls *ctls = client_tls();
  client c;
  memset(&c, 0, sizeof c);
  c.close_after = 1;
  dst(&c, IMSEC_TP_TLS, imsec_hostnet_port(s, 0), PCSCF_NAME);
  imsec_hostnet *cr = client_run(&c, ctls, a, 1);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  assert_int_equal(c.ups, 1);
  assert_int_equal(c.up_tags[0], 7);
  assert_int_equal(c.msgs, 1);
  assert_int_equal(c.timer1, 1);
  assert_int_equal(c.timer2, 0);
  /* The element closed it: the host tells it nothing more of it. */
  assert_true(c.closed);
  assert_int_equal(c.downs, 0);
  assert_true(c.had_cert);
  assert_int_equal(c.cert.chain, IMSEC_CHAIN_OK);
  assert_int_equal(c.cert.issuer, IMSEC_ISSUER_HOME);
  assert_true(c.cert.n_dns >= 1);
  assert_string_equal(c.cert.dns[0], PCSCF_NAME);
  assert_string_equal(c.tls_version, "TLSv1.3");
  /* The server saw the flow come and go. */
  for (int i = 0; i < 100 && e.downs == 0; i++)
    usleep(10000);
  imsec_hostnet_del(s);
  assert_int_equal(e.ups, 1);
  assert_int_equal(e.msgs, 1);
  assert_int_equal(e.downs, 1);
  imsec_net_tls_del(ctls);
  imsec_x509_anchors_del(a);
}

/* A server outside the anchors: the facts say so and the element's refusal
 * closes the flow before anything is sent. */
static void test_refused_peer(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, "rogue.pem", "rogue.key", 0);
  imsec_x509_anchors *a = anchors();
  imsec_net_tls *ctls = client_tls();
  client c;
  memset(&c, 0, sizeof c);
  c.refuse_invalid = 1;
  dst(&c, IMSEC_TP_TLS, imsec_hostnet_port(s, 0), PCSCF_NAME);
  imsec_hostnet *cr = client_run(&c, ctls, a, 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  assert_int_equal(c.ups, 1);
  assert_true(c.had_cert);
  assert_int_equal(c.cert.chain, IMSEC_CHAIN_INVALID);
  /* Refused in flow up: net closes it and the element hears of it once
   * more, going down with the refusal (the S-CSCF counts on that). */
  assert_true(c.refused);
  assert_int_equal(c.downs, 1);
  assert_int_equal(c.down_reason, IMSEC_ERR_AUTH);
  assert_int_equal(c.msgs, 0);
  imsec_hostnet_del(s);
  assert_int_equal(e.msgs, 0);
  imsec_net_tls_del(ctls);
  imsec_x509_anchors_del(a);
}

/* Nobody listens: the element hears of its tag through on_flow_down. */
static void test_connect_fails(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TCP, NULL, NULL, 0);
  uint16_t port = imsec_hostnet_port(s, 0);
  imsec_hostnet_del(s); /* the port is free again */
  client c;
  memset(&c, 0, sizeof c);
  dst(&c, IMSEC_TP_TCP, port, NULL);
  imsec_hostnet *cr = client_run(&c, NULL, NULL, 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  assert_int_equal(c.ups, 0);
  assert_int_equal(c.downs, 1);
  assert_int_equal(c.down_tags[0], 7);
  assert_true(c.down_reason < 0);
  /* TLS without a client context: refused at once, same path. */
  memset(&c, 0, sizeof c);
  dst(&c, IMSEC_TP_TLS, port, PCSCF_NAME);
  cr = client_run(&c, NULL, NULL, 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  assert_int_equal(c.downs, 1);
  assert_int_equal(c.down_reason, IMSEC_ERR_CONFIG);
}

/* Two CONNECTs to one place: one TCP flow (RFC 5923), two flow-up events
 * with their tags; the element's CLOSE takes it down without an event. */
static void test_reuse(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TCP, NULL, NULL, 0);
  client c;
  memset(&c, 0, sizeof c);
  c.reuse = 1;
  c.close_after = 1;
  dst(&c, IMSEC_TP_TCP, imsec_hostnet_port(s, 0), NULL);
  imsec_hostnet *cr = client_run(&c, NULL, NULL, 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  assert_int_equal(c.ups, 2);
  assert_int_equal(c.flows[0], c.flows[1]);
  assert_true((c.up_tags[0] == 7 && c.up_tags[1] == 8) ||
              (c.up_tags[0] == 8 && c.up_tags[1] == 7));
  assert_int_equal(c.msgs, 1);
  assert_true(c.closed);
  assert_int_equal(c.downs, 0);
  assert_false(c.had_cert);
  imsec_hostnet_del(s);
  assert_int_equal(e.ups, 1);
}

/* A second connection of the same client context resumes the session from
 * the server's ticket (the UE's stored ticket). */
static void test_resumption(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, "server.pem", "server.key", 1);
  imsec_x509_anchors *a = anchors();
  imsec_net_tls *ctls = client_tls();
  for (int round = 0; round < 2; round++) {
    client c;
    memset(&c, 0, sizeof c);
    c.close_after = 1;
    dst(&c, IMSEC_TP_TLS, imsec_hostnet_port(s, 0), PCSCF_NAME);
    imsec_hostnet *cr = client_run(&c, ctls, a, 0);
    assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
    imsec_hostnet_del(cr);
    assert_int_equal(c.msgs, 1);
    assert_int_equal(c.resumed, round == 1);
    assert_int_equal(c.cert.chain, IMSEC_CHAIN_OK);
  }
  imsec_hostnet_del(s);
  imsec_net_tls_del(ctls);
  imsec_x509_anchors_del(a);
}

/* imsec_hostnet_call runs on the loop thread; imsec_hostnet_stop ends a wait;
 * imsec_hostnet_wait times out while running. */
static void injected(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)now;
  (void)out;
  assert_ptr_equal(arg, (void *)0x1234);
  ((echo *)self)->msgs += 100;
}

static void test_call_stop(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TCP, NULL, NULL, 0);
  assert_int_equal(imsec_hostnet_wait(s, 20), IMSEC_ERR_TIMEOUT);
  assert_int_equal(imsec_hostnet_call(s, injected, (void *)0x1234), 0);
  for (int i = 0; i < 200 && e.msgs < 100; i++)
    usleep(5000);
  imsec_hostnet_stop(s);
  assert_int_equal(imsec_hostnet_wait(s, WAIT), 0);
  assert_int_equal(imsec_hostnet_signal(s), 0);
  imsec_hostnet_del(s);
  assert_int_equal(e.msgs, 100);
}

/* SIGTERM reaches the port that asked for signals (through its
 * signalfd), ends the wait and is reported. */
static void test_signal_stop(void **state) {
  (void)state;
  echo e = {0};
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, NULL, &old);
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "sig";
  cfg.ops = &echo_ops;
  cfg.self = &e;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  cfg.signals = 1;
  cfg.log_level = IMSEC_LOG_WARN;
  imsec_hostnet *r = NULL;
  assert_int_equal(imsec_hostnet_new(&r, &cfg, NULL, 0), 0);
  assert_int_equal(imsec_hostnet_start(r), 0);
  assert_int_equal(imsec_hostnet_wait(r, 20), IMSEC_ERR_TIMEOUT);
  assert_int_equal(kill(getpid(), SIGTERM), 0);
  assert_int_equal(imsec_hostnet_wait(r, WAIT), 0);
  assert_int_equal(imsec_hostnet_signal(r), SIGTERM);
  imsec_hostnet_del(r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void test_bad_config(void **state) {
  (void)state;
  echo e = {0};
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.cert_file = t_path(g_dir, "missing.pem");
  tc.key_file = t_path(g_dir, "server.key");
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TLS;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  l.tls_cfg = &tc;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "bad";
  cfg.ops = &echo_ops;
  cfg.self = &e;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  imsec_hostnet *r = NULL;
  char err[256];
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "missing.pem"));
  /* No certificate at all for a TLS listener. */
  l.tls_cfg = NULL;
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  /* A listener on a name that is not an address. */
  snprintf(l.addr.host, sizeof l.addr.host, "no.such.host.invalid");
  l.addr.tp = IMSEC_TP_TCP;
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err),
                   IMSEC_ERR_INVAL);
  imsec_log_level lv;
  assert_int_equal(imsec_hostnet_log_level_parse("DEBUG", &lv), 0);
  assert_int_equal(lv, IMSEC_LOG_DEBUG);
  assert_int_equal(imsec_hostnet_log_level_parse("loud", &lv), IMSEC_ERR_PARSE);
}

/* CONNECT profiles: a name the port has no context for and a
 * verification mode the context was not made with fail the connect (flow
 * 0, its tag) without a flow; a PSK towards a server that takes none
 * fails its handshake (the client refuses the certificate it gets
 * instead); a named profile whose context fits connects. */
static void test_profiles(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TLS, "server.pem", "server.key", 0);
  imsec_x509_anchors *a = anchors();
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1;
  tc.ca_file = t_path(g_dir, "ca.pem");
  imsec_hostnet_tls_profile named = {.name = "core", .tls_cfg = &tc};
  struct {
    const char *name;
    int psk, verify;
    int want;
  } cases[] = {
      {"nosuch", 0, IMSEC_TLS_VERIFY_DEFAULT, IMSEC_ERR_CONFIG},
      {"core", 1, IMSEC_TLS_VERIFY_DEFAULT, IMSEC_ERR_AUTH},
      {"core", 0, IMSEC_TLS_VERIFY_REQUIRE, IMSEC_ERR_UNSUPPORTED},
      {"core", 0, IMSEC_TLS_VERIFY_DEFER, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    imsec_tls_profile prof;
    memset(&prof, 0, sizeof prof);
    snprintf(prof.profile, sizeof prof.profile, "%s", cases[i].name);
    prof.verify = (imsec_tls_verify)cases[i].verify;
    if (cases[i].psk) {
      memset(prof.psk, 0x5a, 32);
      prof.psk_len = 32;
      snprintf(prof.psk_identity, sizeof prof.psk_identity, "ue@ims");
    }
    client c;
    memset(&c, 0, sizeof c);
    c.close_after = 1;
    c.profile = &prof;
    dst(&c, IMSEC_TP_TLS, imsec_hostnet_port(s, 0), PCSCF_NAME);
    imsec_hostnet_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "client";
    cfg.ops = &client_ops;
    cfg.self = &c;
    cfg.tls_profiles = &named;
    cfg.n_tls_profiles = 1;
    cfg.anchors = a;
    cfg.log_level = IMSEC_LOG_ERROR;
    imsec_hostnet *cr = NULL;
    char err[256];
    if (imsec_hostnet_new(&cr, &cfg, err, sizeof err) != 0)
      fail_msg("%s", err);
    assert_non_null(imsec_hostnet_profile_tls(cr, "core"));
    assert_null(imsec_hostnet_client_tls(cr));
    assert_int_equal(imsec_hostnet_start(cr), 0);
    assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
    imsec_hostnet_del(cr);
    if (cases[i].want) {
      assert_int_equal(c.ups, 0);
      assert_int_equal(c.downs, 1);
      assert_int_equal(c.down_tags[0], 7);
      assert_int_equal(c.down_reason, cases[i].want);
    } else {
      assert_int_equal(c.ups, 1);
      assert_int_equal(c.msgs, 1);
      assert_int_equal(c.cert.chain, IMSEC_CHAIN_OK);
    }
  }
  imsec_hostnet_del(s);
  imsec_x509_anchors_del(a);
}

/* Several loops: the factory makes one element per loop, each loop its
 * own thread and net; every loop's element connects and the run ends
 * when all are done. A listener is shared by the loops of a server. */
typedef struct fleet {
  client c[3];
  echo e[3];
  uint16_t port;
} fleet;

static int make_client(void *arg, unsigned loop, void **self) {
  fleet *f = arg;
  if (loop >= 3)
    return IMSEC_ERR_INVAL;
  client *c = &f->c[loop];
  memset(c, 0, sizeof *c);
  c->close_after = 1;
  dst(c, IMSEC_TP_TCP, f->port, NULL);
  *self = c;
  return 0;
}

static int make_echo(void *arg, unsigned loop, void **self) {
  fleet *f = arg;
  *self = &f->e[loop];
  return 0;
}

static void test_loops(void **state) {
  (void)state;
  fleet f;
  memset(&f, 0, sizeof f);
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  l.addr.tp = IMSEC_TP_TCP;
  snprintf(l.addr.host, sizeof l.addr.host, "127.0.0.1");
  imsec_hostnet_config sc;
  memset(&sc, 0, sizeof sc);
  sc.name = "echo";
  sc.ops = &echo_ops;
  sc.loops = 3;
  sc.factory = make_echo;
  sc.factory_arg = &f;
  sc.listeners = &l;
  sc.n_listeners = 1;
  sc.log_level = IMSEC_LOG_WARN;
  imsec_hostnet *s = NULL;
  char err[256];
  if (imsec_hostnet_new(&s, &sc, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_loops(s), 3);
  assert_ptr_equal(imsec_hostnet_self(s, 2), &f.e[2]);
  f.port = imsec_hostnet_port(s, 0);
  assert_int_not_equal(f.port, 0);
  assert_int_equal(imsec_hostnet_start(s), 0);
  imsec_hostnet_config cc;
  memset(&cc, 0, sizeof cc);
  cc.name = "client";
  cc.ops = &client_ops;
  cc.loops = 3;
  cc.factory = make_client;
  cc.factory_arg = &f;
  cc.no_reuse = 1;
  cc.log_level = IMSEC_LOG_WARN;
  imsec_hostnet *cr = NULL;
  if (imsec_hostnet_new(&cr, &cc, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_start(cr), 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  imsec_hostnet_del(cr);
  int ups = 0;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(f.c[i].ups, 1);
    assert_int_equal(f.c[i].msgs, 1);
    assert_int_equal(f.c[i].timer1, 1);
    assert_true(f.c[i].closed);
  }
  for (int t = 0; t < 100; t++) {
    ups = f.e[0].downs + f.e[1].downs + f.e[2].downs;
    if (ups == 3)
      break;
    usleep(10000);
  }
  imsec_hostnet_del(s);
  assert_int_equal(f.e[0].ups + f.e[1].ups + f.e[2].ups, 3);
  assert_int_equal(f.e[0].msgs + f.e[1].msgs + f.e[2].msgs, 3);
}

/* Source addresses: each CONNECT is bound to the next one, so a
 * generator's flows come from across 127.0.0.0/8; a name is refused at
 * once (no look-up per CONNECT). */
static void test_sources(void **state) {
  (void)state;
  echo e = {0};
  imsec_hostnet *s = server(&e, IMSEC_TP_TCP, NULL, NULL, 0);
  client c;
  memset(&c, 0, sizeof c);
  c.reuse = 1; /* two CONNECTs; no_reuse below makes them two flows */
  c.close_after = 1;
  dst(&c, IMSEC_TP_TCP, imsec_hostnet_port(s, 0), NULL);
  imsec_addr src[2];
  memset(src, 0, sizeof src);
  snprintf(src[0].host, sizeof src[0].host, "127.0.0.2");
  snprintf(src[1].host, sizeof src[1].host, "127.0.0.3");
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "client";
  cfg.ops = &client_ops;
  cfg.self = &c;
  cfg.no_reuse = 1;
  cfg.sources = src;
  cfg.n_sources = 2;
  cfg.log_level = IMSEC_LOG_WARN;
  imsec_hostnet *cr = NULL;
  char err[256];
  if (imsec_hostnet_new(&cr, &cfg, err, sizeof err) != 0)
    fail_msg("%s", err);
  memset(src, 0, sizeof src); /* copied: the caller's array may go */
  assert_int_equal(imsec_hostnet_start(cr), 0);
  assert_int_equal(imsec_hostnet_wait(cr, WAIT), 0);
  for (int i = 0; i < 100 && e.ups < 2; i++)
    usleep(10000);
  imsec_hostnet_del(cr);
  assert_int_equal(c.ups, 2);
  assert_int_not_equal(c.flows[0], c.flows[1]);
  for (int i = 0; i < 100 && e.downs < 2; i++)
    usleep(10000);
  imsec_hostnet_del(s);
  assert_int_equal(e.ups, 2);
  /* One flow from each source, in either order. */
  assert_true((strcmp(e.peers[0], "127.0.0.2") == 0 &&
               strcmp(e.peers[1], "127.0.0.3") == 0) ||
              (strcmp(e.peers[0], "127.0.0.3") == 0 &&
               strcmp(e.peers[1], "127.0.0.2") == 0));

  snprintf(src[0].host, sizeof src[0].host, "localhost");
  err[0] = '\0';
  assert_int_equal(imsec_hostnet_new(&cr, &cfg, err, sizeof err),
                   IMSEC_ERR_CONFIG);
  assert_non_null(strstr(err, "localhost"));
  cfg.sources = NULL;
  assert_int_equal(imsec_hostnet_new(&cr, &cfg, err, sizeof err),
                   IMSEC_ERR_INVAL);
}

static int setup(void **state) {
  (void)state;
  g_dir = t_pki_setup();
  return g_dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  t_rmdir(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_echo_timers_done),
      cmocka_unit_test(test_refused_peer),
      cmocka_unit_test(test_connect_fails),
      cmocka_unit_test(test_reuse),
      cmocka_unit_test(test_resumption),
      cmocka_unit_test(test_profiles),
      cmocka_unit_test(test_loops),
      cmocka_unit_test(test_sources),
      cmocka_unit_test(test_call_stop),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_signal_stop),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
