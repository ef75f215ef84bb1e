/* tests/support/sim: the in-memory harness, exercised with tiny fake
 * elements before the real ones exist: address routing, flow pairs, peer
 * facts from real crypto/x509 validation of generated certificates (and
 * from a table), the virtual clock and timers, connection reuse, failed
 * connects, delay, tampering, dropped and failed flows, the idle timeout,
 * an attacker end, the trace and its helpers, a slow store behind a
 * PERSIST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/pki.h"
#include "imsec/x509.h"
#include "sim.h"
#include "test_util.h"

#define HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define PCSCF "pcscf." HOME

/* ------------------------------------------------------------ a fake */

typedef struct fake {
  /* behaviour */
  int echo;            /* answer every message with "PONG ..." */
  int close_after;     /* close the flow right after answering */
  int keep;            /* keep inbound flows */
  int refuse_bad_cert; /* on_flow_up < 0 unless the chain is OK */
  int persist_echo;    /* make each message durable, then answer "OK" */
  int replies, reply_status;
  imsec_time_ms reply_at;
  /* seen */
  int ups, downs, msgs, timers;
  uint64_t last_flow, last_tag, down_flow, down_tag;
  int down_reason;
  imsec_time_ms last_msg_at, timer_at;
  imsec_trust_cert cert;
  int had_cert, resumed, inbound, psk;
  char psk_identity[IMSEC_PSK_ID_MAX];
  char last_msg[256];
} fake;

static int f_up(void *s, uint64_t flow, uint64_t tag,
                const imsec_flow_info *info, imsec_time_ms now,
                imsec_out *out) {
  fake *f = s;
  (void)now;
  f->ups++;
  f->last_flow = flow;
  f->last_tag = tag;
  f->inbound = info->inbound;
  f->resumed = info->resumed;
  f->psk = info->psk;
  snprintf(f->psk_identity, sizeof f->psk_identity, "%s",
           info->psk_identity ? info->psk_identity : "");
  f->had_cert = 0;
  if (info->peer_cert) {
    f->cert = *info->peer_cert;
    f->had_cert = 1;
  }
  if (f->keep && info->inbound)
    assert_int_equal(imsec_out_keep(out, flow), 0);
  if (f->refuse_bad_cert &&
      (!info->peer_cert || info->peer_cert->chain != IMSEC_CHAIN_OK))
    return IMSEC_ERR_AUTH;
  assert_int_equal(imsec_out_log(out, IMSEC_LOG_INFO, "up", NULL), 0);
  return 0;
}

static void f_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                  imsec_time_ms now, imsec_out *out) {
  fake *f = s;
  f->msgs++;
  f->last_msg_at = now;
  snprintf(f->last_msg, sizeof f->last_msg, "%.*s", (int)len, (const char *)m);
  if (f->persist_echo) {
    imsec_svc_req r;
    memset(&r, 0, sizeof r);
    r.kind = IMSEC_SVC_UE_SQN;
    r.id = (uint64_t)f->msgs;
    assert_int_equal(imsec_out_persist(out, &r), 0);
    assert_int_equal(imsec_out_send(out, flow, "OK", 2), 0);
  }
  if (f->echo) {
    char reply[300];
    int n =
        snprintf(reply, sizeof reply, "PONG %.*s", (int)len, (const char *)m);
    if (n >= (int)sizeof reply)
      n = (int)sizeof reply - 1; /* a long message: its start echoed */
    assert_int_equal(imsec_out_send(out, flow, reply, (size_t)n), 0);
    if (f->close_after)
      assert_int_equal(imsec_out_close(out, flow), 0);
  }
}

static void f_down(void *s, uint64_t flow, uint64_t tag, int reason,
                   imsec_time_ms now, imsec_out *out) {
  fake *f = s;
  (void)now;
  (void)out;
  f->downs++;
  f->down_flow = flow;
  f->down_tag = tag;
  f->down_reason = reason;
}

static void f_timer(void *s, uint64_t id, imsec_time_ms now, imsec_out *out) {
  fake *f = s;
  (void)id;
  (void)out;
  f->timers++;
  f->timer_at = now;
}

static void f_reply(void *s, const imsec_svc_reply *r, imsec_time_ms now,
                    imsec_out *out) {
  fake *f = s;
  (void)out;
  f->replies++;
  f->reply_status = r->status;
  f->reply_at = now;
}

static const imsec_elem_ops fake_ops = {
    .kind = "fake",
    .on_flow_up = f_up,
    .on_message = f_msg,
    .on_flow_down = f_down,
    .on_timer = f_timer,
    .on_reply = f_reply,
};

/* Commands a test runs "inside" a fake through sim_call. */
typedef struct cmd {
  imsec_addr addr;
  uint64_t tag, flow, timer;
  imsec_time_ms at;
  const char *text;
  const imsec_tls_profile *tls; /* c_connect_tls */
  const char *sni;              /* c_connect_tls (NULL: PCSCF) */
  size_t len;                   /* c_send_len */
} cmd;

static void c_connect(void *self, imsec_time_ms now, imsec_out *out,
                      void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_connect(out, c->tag, &c->addr, PCSCF), 0);
}

static void c_connect_tls(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_connect_tls(out, c->tag, &c->addr,
                                         c->sni ? c->sni : PCSCF, c->tls),
                   0);
}

/* An element installing a server PSK (IMSEC_ACT_PSK). */
static void c_psk(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_psk(out, c->text,
                                 (const uint8_t *)"0123456789abcdef", c->len,
                                 c->at),
                   0);
}

/* `len` octets of a message starting "BIG". */
static void c_send_len(void *self, imsec_time_ms now, imsec_out *out,
                       void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  uint8_t *b = malloc(c->len);
  assert_non_null(b);
  memset(b, 'x', c->len);
  memcpy(b, "BIG", 3);
  assert_int_equal(imsec_out_send(out, c->flow, b, c->len), 0);
  free(b);
}

static void c_send(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_send(out, c->flow, c->text, strlen(c->text)), 0);
}

static void c_timer(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_timer(out, c->timer, c->at), 0);
}

static void c_close(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  cmd *c = arg;
  assert_int_equal(imsec_out_close(out, c->flow), 0);
}

static imsec_addr A(const char *text) {
  imsec_addr a;
  assert_int_equal(imsec_addr_parse(imsec_str_c(text), &a), 0);
  return a;
}

/* ------------------------------------------------------------ PKI */

static imsec_pki_cred *g_root, *g_leaf, *g_other, *g_rogue;
/* A UE's client certificate (clientAuth, serverAuth for M2b), one under
 * another root. */
static imsec_pki_cred *g_ue, *g_ue_rogue;
#define UE_NAME "ue1.example"

static int setup(void **state) {
  (void)state;
  const char *dns[] = {PCSCF};
  imsec_pki_spec ca = {.cn = "root",
                       .ca = 1,
                       .path_len = -1,
                       .not_before = 0,
                       .not_after = 4102444800};
  imsec_pki_spec leaf = {.cn = PCSCF,
                         .dns = dns,
                         .n_dns = 1,
                         .server_auth = 1,
                         .not_before = 0,
                         .not_after = 4102444800,
                         .path_len = -1};
  if (imsec_pki_issue(&ca, NULL, &g_root) != 0 ||
      imsec_pki_issue(&leaf, g_root, &g_leaf) != 0 ||
      imsec_pki_issue(&ca, NULL, &g_other) != 0 ||
      imsec_pki_issue(&leaf, g_other, &g_rogue) != 0)
    return -1;
  const char *ue_dns[] = {UE_NAME};
  imsec_pki_spec ue = {.cn = UE_NAME,
                       .dns = ue_dns,
                       .n_dns = 1,
                       .client_auth = 1,
                       .server_auth = 1,
                       .not_before = 0,
                       .not_after = 4102444800,
                       .path_len = -1};
  if (imsec_pki_issue(&ue, g_root, &g_ue) != 0 ||
      imsec_pki_issue(&ue, g_other, &g_ue_rogue) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  imsec_pki_cred_del(g_root);
  imsec_pki_cred_del(g_leaf);
  imsec_pki_cred_del(g_other);
  imsec_pki_cred_del(g_rogue);
  imsec_pki_cred_del(g_ue);
  imsec_pki_cred_del(g_ue_rogue);
  return 0;
}

static imsec_x509_anchors *anchors(void) {
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  imsec_bytes r = imsec_pki_cred_der(g_root);
  assert_int_equal(imsec_x509_anchors_add_root(a, r.p, r.len), 0);
  assert_int_equal(imsec_x509_anchors_set_home_ca(a, r.p, r.len), 0);
  return a;
}

/* ------------------------------------------------------------ tests */

/* Connect by address, a message each way, the facts of a real chain, the
 * trace and its ladder. */
static void test_flow_and_facts(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 1000), 0);
  fake ue = {0}, p = {.echo = 1, .keep = 1};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "pcscf", &fake_ops, &p, "10.0.0.2");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  imsec_bytes chain[2] = {imsec_pki_cred_der(g_leaf),
                          imsec_pki_cred_der(g_root)};
  imsec_addr pa = A("tls:10.0.0.2:5061");
  assert_int_equal(sim_listen_tls(np, &pa, chain, 2, 1), 0);
  assert_int_equal(sim_listen(np, &pa), -1); /* taken */
  cmd c = {.addr = pa, .tag = 5};
  sim_call(nu, c_connect, &c);
  assert_true(sim_run(s, 1000) > 0);
  assert_int_equal(ue.ups, 1);
  assert_int_equal(ue.last_tag, 5);
  assert_false(ue.inbound);
  assert_true(ue.had_cert);
  assert_int_equal(ue.cert.chain, IMSEC_CHAIN_OK);
  assert_int_equal(ue.cert.issuer, IMSEC_ISSUER_HOME);
  assert_string_equal(ue.cert.dns[0], PCSCF);
  assert_int_equal(ue.resumed, 0);
  assert_int_equal(p.ups, 1);
  assert_true(p.inbound);
  assert_false(p.had_cert);
  uint64_t uf = ue.last_flow;
  assert_true(sim_flow_open(s, uf));
  assert_int_equal(sim_flow_peer(s, uf), p.last_flow);
  assert_ptr_equal(sim_flow_node(s, uf), nu);
  assert_true(sim_flow_kept(s, p.last_flow));
  assert_false(sim_flow_kept(s, uf));
  assert_int_equal(sim_flows_between(s, nu, np, NULL), 1);
  c.flow = uf;
  c.text = "PING 1\r\nCall-ID: x\r\n\r\n";
  sim_call(nu, c_send, &c);
  sim_run(s, 1000);
  assert_string_equal(p.last_msg, c.text);
  assert_int_equal(ue.msgs, 1);
  assert_int_equal(strncmp(ue.last_msg, "PONG PING 1", 11), 0);
  assert_int_equal(sim_trace_msgs(s, "ue", "pcscf", "PING"), 1);
  assert_int_equal(sim_trace_msgs(s, "pcscf", "ue", "PONG"), 1);
  assert_int_equal(sim_trace_msgs(s, NULL, NULL, NULL), 2);
  const sim_tr *t = sim_trace_msg(s, "ue", NULL, "PING", 0);
  assert_non_null(t);
  char v[64];
  assert_int_equal(sim_msg_header(t, "call-id", v, sizeof v), 1);
  assert_string_equal(v, "x");
  assert_int_equal(sim_msg_header(t, "Via", v, sizeof v), -1);
  assert_true(sim_trace_log_has(s, "pcscf", "up"));
  assert_false(sim_trace_log_has(s, "pcscf", "nothing like this"));
  char *buf = NULL;
  size_t blen = 0;
  FILE *f = open_memstream(&buf, &blen);
  sim_trace_print(s, f, 0, 1);
  fclose(f);
  assert_non_null(strstr(buf, "ue         -> pcscf      PING 1"));
  free(buf);
  /* Closing: the peer hears of it; the closer's host delivers nothing
   * more for a flow its element closed. */
  sim_call(nu, c_close, &c);
  sim_run(s, 1000);
  assert_int_equal(ue.downs, 0);
  assert_int_equal(p.downs, 1);
  assert_false(sim_flow_open(s, uf));
  assert_false(sim_flow_open(s, uf));
  /* A second connection resumes (the listener issues tickets). */
  c.tag = 6;
  sim_call(nu, c_connect, &c);
  sim_run(s, 1000);
  assert_int_equal(ue.resumed, 1);
  assert_int_equal(sim_flows_opened(s, 1), 2);
  sim_trace_clear(s);
  assert_int_equal(sim_trace_count(s), 0);
  sim_del(s);
  imsec_x509_anchors_del(an);
}

/* A chain under another root is invalid; the refusal closes the flow; a
 * listener with fixed facts hands those over. */
static void test_refused_and_table_facts(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 0), 0);
  fake ue = {.refuse_bad_cert = 1}, p = {0}, q = {0};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "rogue", &fake_ops, &p, "10.0.0.3");
  sim_node *nq = sim_add(s, "table", &fake_ops, &q, "10.0.0.4");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  imsec_bytes chain[1] = {imsec_pki_cred_der(g_rogue)};
  imsec_addr pa = A("tls:10.0.0.3:5061");
  assert_int_equal(sim_listen_tls(np, &pa, chain, 1, 0), 0);
  cmd c = {.addr = pa, .tag = 9};
  sim_call(nu, c_connect, &c);
  sim_run(s, 1000);
  assert_int_equal(ue.cert.chain, IMSEC_CHAIN_INVALID);
  /* A flow refused at flow-up is closed by the port; its going-down
   * reaches the refusing element once, as over the net port. */
  assert_int_equal(ue.downs, 1);
  assert_int_equal(p.downs, 1);
  assert_int_equal(p.down_reason, IMSEC_ERR_IO);
  imsec_trust_cert facts;
  memset(&facts, 0, sizeof facts);
  facts.chain = IMSEC_CHAIN_EXPIRED;
  snprintf(facts.cn, sizeof facts.cn, "expired.example");
  imsec_addr qa = A("tls:10.0.0.4:5061");
  assert_int_equal(sim_listen_facts(nq, &qa, &facts, 0), 0);
  c.addr = qa;
  sim_call(nu, c_connect, &c);
  sim_run(s, 1000);
  assert_int_equal(ue.cert.chain, IMSEC_CHAIN_EXPIRED);
  assert_string_equal(ue.cert.cn, "expired.example");
  sim_del(s);
  imsec_x509_anchors_del(an);
}

/* The virtual clock: a re-armed timer fires once at its last time, a
 * cancelled one never; sim_advance moves the clock exactly. */
static void test_timers(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 5000), 0);
  fake x = {0};
  sim_node *n = sim_add(s, "x", &fake_ops, &x, NULL);
  cmd c = {.timer = 1, .at = 6000};
  sim_call(n, c_timer, &c);
  c.at = 7000;
  sim_call(n, c_timer, &c);
  c.timer = 2;
  c.at = 5500;
  sim_call(n, c_timer, &c);
  c.at = 0;
  sim_call(n, c_timer, &c);
  /* Two stale firings run as events and reach no element. */
  assert_int_equal(sim_advance(s, 1500), 2);
  assert_int_equal(sim_now(s), 6500);
  assert_int_equal(x.timers, 0);
  sim_advance(s, 600);
  assert_int_equal(x.timers, 1);
  assert_int_equal(x.timer_at, 7000);
  assert_int_equal(sim_now(s), 7100);
  /* A time in the past fires at once. */
  c.timer = 3;
  c.at = 10;
  sim_call(n, c_timer, &c);
  assert_int_equal(sim_run_idle(s), 1);
  assert_int_equal(x.timers, 2);
  assert_int_equal(sim_run(s, 100000), 0);
  sim_del(s);
}

static int got_msg(void *arg) {
  return ((fake *)arg)->msgs > 0;
}

/* No listener: on_flow_down(0, tag). Two connects, one flow. Delay and
 * sim_run_until. */
static void test_connect_reuse_delay(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 0), 0);
  fake a = {0}, b = {.echo = 1};
  sim_node *na = sim_add(s, "a", &fake_ops, &a, "10.0.0.1");
  sim_node *nb = sim_add(s, "b", &fake_ops, &b, "10.0.0.2");
  cmd c = {.addr = A("tcp:10.0.0.9:5060"), .tag = 3};
  sim_call(na, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(a.downs, 1);
  assert_int_equal(a.down_flow, 0);
  assert_int_equal(a.down_tag, 3);
  assert_int_equal(a.down_reason, IMSEC_ERR_IO);
  imsec_addr ba = A("tcp:10.0.0.2:5060");
  assert_int_equal(sim_listen(nb, &ba), 0);
  sim_set_delay(s, 10);
  c.addr = ba;
  c.tag = 4;
  sim_call(na, c_connect, &c);
  c.tag = 5;
  sim_call(na, c_connect, &c);
  sim_run(s, 1000);
  assert_int_equal(a.ups, 2);
  assert_int_equal(b.ups, 1);
  assert_int_equal(sim_flows_opened(s, 0), 1);
  assert_int_equal(sim_flows_opened(s, 1), 0);
  c.flow = a.last_flow;
  c.text = "PING";
  imsec_time_ms t0 = sim_now(s);
  sim_call(na, c_send, &c);
  assert_int_equal(sim_run_until(s, got_msg, &a, 1000), 1);
  assert_int_equal(b.last_msg_at, t0 + 10);
  assert_int_equal(a.last_msg_at, t0 + 20);
  /* Fail the flow: both ends, both tags of the connector. */
  assert_int_equal(sim_flow_fail(s, a.last_flow, IMSEC_ERR_IO), 0);
  sim_run(s, 100);
  assert_int_equal(a.downs, 3);
  assert_int_equal(b.downs, 1);
  assert_int_equal(b.down_reason, IMSEC_ERR_IO);
  assert_int_equal(sim_flow_fail(s, a.last_flow, IMSEC_ERR_IO), -1);
  sim_del(s);
}

/* A reply sent right before a close arrives before the close (data then
 * FIN), even with a delay on the wire. */
static void test_reply_then_close(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 0), 0);
  sim_set_delay(s, 5);
  fake a = {0}, b = {.echo = 1, .close_after = 1};
  sim_node *na = sim_add(s, "a", &fake_ops, &a, "10.0.0.1");
  sim_node *nb = sim_add(s, "b", &fake_ops, &b, "10.0.0.2");
  imsec_addr ba = A("tcp:10.0.0.2:5060");
  assert_int_equal(sim_listen(nb, &ba), 0);
  cmd c = {.addr = ba, .tag = 1};
  sim_call(na, c_connect, &c);
  sim_run(s, 100);
  c.flow = a.last_flow;
  c.text = "BYE";
  sim_call(na, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(a.msgs, 1);
  assert_string_equal(a.last_msg, "PONG BYE");
  assert_int_equal(a.downs, 1);
  assert_int_equal(b.downs, 0); /* b closed it */
  sim_del(s);
}

/* The tamper hook drops, rewrites and delays. */
static long tamper(void *user, const sim_msg *m, uint8_t **data, size_t *len) {
  int *mode = user;
  (void)m;
  if (*mode == 1)
    return -1;
  if (*mode == 2) {
    free(*data);
    *data = (uint8_t *)strdup("EVIL");
    *len = 4;
    return 0;
  }
  return 50;
}

static void test_tamper_idle_attacker(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 0), 0);
  fake a = {0}, b = {0};
  sim_node *na = sim_add(s, "a", &fake_ops, &a, "10.0.0.1");
  sim_node *nb = sim_add(s, "b", &fake_ops, &b, "10.0.0.2");
  imsec_addr ba = A("tcp:10.0.0.2:5060");
  assert_int_equal(sim_listen(nb, &ba), 0);
  int mode = 1;
  sim_set_tamper(s, tamper, &mode);
  cmd c = {.addr = ba, .tag = 1};
  sim_call(na, c_connect, &c);
  sim_run(s, 100);
  c.flow = a.last_flow;
  c.text = "ONE";
  sim_call(na, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(b.msgs, 0);
  const sim_tr *t = sim_trace_at(s, sim_trace_count(s) - 1);
  assert_int_equal(t->kind, SIM_TR_MSG);
  assert_true(t->dropped);
  mode = 2;
  sim_call(na, c_send, &c);
  sim_run(s, 100);
  assert_string_equal(b.last_msg, "EVIL");
  mode = 3;
  imsec_time_ms t0 = sim_now(s);
  sim_call(na, c_send, &c);
  sim_run(s, 100);
  assert_string_equal(b.last_msg, "ONE");
  assert_int_equal(b.last_msg_at, t0 + 50);
  sim_set_tamper(s, NULL, NULL);
  /* Idle timeout: the unkept inbound flow is closed. */
  sim_set_idle_timeout(s, 1000);
  c.addr = ba;
  c.tag = 2;
  fake d = {0};
  sim_node *nd = sim_add(s, "d", &fake_ops, &d, "10.0.0.5");
  sim_call(nd, c_connect, &c);
  sim_advance(s, 500);
  assert_int_equal(d.ups, 1);
  assert_int_equal(d.downs, 0);
  sim_advance(s, 600);
  assert_int_equal(d.downs, 1);
  /* An attacker end: the element sees a flow and its bytes. */
  uint64_t x = sim_attach(s, &ba, "192.0.2.1");
  assert_int_not_equal(x, 0);
  assert_int_equal(sim_attach(s, &c.addr, NULL) != 0, 1);
  int before = b.msgs;
  assert_int_equal(sim_inject_from(s, x, "HACK", 4), 0);
  sim_run(s, 10);
  assert_int_equal(b.msgs, before + 1);
  assert_string_equal(b.last_msg, "HACK");
  assert_int_equal(sim_inject(s, b.last_flow, "RAW", 3), 0);
  sim_run(s, 10);
  assert_string_equal(b.last_msg, "RAW");
  sim_del(s);
}

/* A store that answers inside submit, made slow by the sim: the answer
 * after a PERSIST leaves only once the write is durable; without a store
 * the write fails and the answer never leaves. */
typedef struct mem_svc {
  imsec_svc base;
  size_t writes;
} mem_svc;

static int mem_submit(imsec_svc *svc, imsec_svc_req *req,
                      imsec_svc_done_fn done, void *arg) {
  mem_svc *m = (mem_svc *)svc;
  m->writes++;
  imsec_svc_reply r;
  memset(&r, 0, sizeof r);
  r.kind = req->kind;
  r.id = req->id;
  done(arg, req, &r);
  imsec_reg_record_free(&req->reg);
  return 0;
}

static void mem_destroy(imsec_svc *svc) {
  (void)svc;
}

static const imsec_svc_vtable mem_vt = {.submit = mem_submit,
                                        .destroy = mem_destroy};

static void test_slow_store(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 0), 0);
  sim_set_svc_delay(s, 50);
  fake a = {0}, b = {.persist_echo = 1}, c = {.persist_echo = 1};
  mem_svc store = {.base.vt = &mem_vt};
  sim_node *na = sim_add(s, "a", &fake_ops, &a, "10.0.0.1");
  sim_node *nb = sim_add(s, "b", &fake_ops, &b, "10.0.0.2");
  sim_node *nc = sim_add(s, "c", &fake_ops, &c, "10.0.0.3");
  sim_node_svc(nb, &store.base);
  imsec_addr ba = A("tcp:10.0.0.2:5060"), ca = A("tcp:10.0.0.3:5060");
  assert_int_equal(sim_listen(nb, &ba), 0);
  assert_int_equal(sim_listen(nc, &ca), 0);
  cmd k = {.addr = ba, .tag = 1};
  sim_call(na, c_connect, &k);
  sim_run(s, 10);
  imsec_time_ms t0 = sim_now(s);
  k.flow = a.last_flow;
  k.text = "SAVE";
  sim_call(na, c_send, &k);
  sim_run_idle(s);
  assert_int_equal(b.msgs, 1);
  assert_int_equal(store.writes, 1);
  assert_int_equal(imsec_host_held(sim_node_host(nb)), 1);
  assert_int_equal(imsec_host_pending(sim_node_host(nb)), 1);
  assert_int_equal(a.msgs, 0);
  sim_run(s, 100);
  assert_int_equal(a.msgs, 1);
  assert_string_equal(a.last_msg, "OK");
  assert_int_equal(a.last_msg_at, t0 + 50);
  assert_int_equal(b.replies, 1);
  assert_int_equal(b.reply_status, 0);
  assert_int_equal(b.reply_at, t0 + 50);
  /* No store: the write fails, the OK is dropped. */
  k.addr = ca;
  k.tag = 2;
  sim_call(na, c_connect, &k);
  sim_run(s, 10);
  k.flow = a.last_flow;
  sim_call(na, c_send, &k);
  sim_run(s, 100);
  assert_int_equal(c.msgs, 1);
  assert_int_equal(c.replies, 1);
  assert_int_equal(c.reply_status, IMSEC_ERR_UNSUPPORTED);
  assert_int_equal(a.msgs, 1);
  assert_int_equal(sim_trace_msgs(s, "c", "a", "OK"), 0);
  sim_del(s);
}

/* Client certificates (modes M2a, M2b): a listener that requires one
 * fails the handshake of a client without (the connector hears
 * IMSEC_ERR_AUTH, the listener's element nothing); the client's chain
 * becomes the accepting element's peer facts, made by its host against
 * its anchors; a listener that only requests takes clients without one;
 * one that never asks gets no facts; one that verifies refuses a chain
 * under another root; a named client context shows its own chain, and
 * naming a context never given fails the CONNECT. */
static void test_client_certs(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 1000), 0);
  fake ue = {0}, p = {.keep = 1};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "pcscf", &fake_ops, &p, "10.0.0.2");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  sim_node_anchors(np, an);
  imsec_bytes chain[2] = {imsec_pki_cred_der(g_leaf),
                          imsec_pki_cred_der(g_root)};
  sim_tls_opts req = {
      .chain = chain, .n_chain = 2, .client_cert = SIM_CLIENT_CERT_REQUIRE};
  imsec_addr ra = A("tls:10.0.0.2:5061");
  assert_int_equal(sim_listen_opts(np, &ra, &req), 0);
  /* TLS 1.3: the client's side comes up, what it sends is lost, the
   * server's alert takes it down. */
  sim_set_delay(s, 5);
  cmd c = {.addr = ra, .tag = 1};
  sim_call(nu, c_connect, &c);
  sim_run(s, 10);
  assert_int_equal(ue.ups, 1);
  assert_int_equal(ue.downs, 0);
  c.flow = ue.last_flow;
  c.text = "HELLO";
  sim_call(nu, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(ue.downs, 1);
  assert_int_equal(ue.down_flow, c.flow);
  assert_int_equal(ue.down_tag, 1);
  assert_int_equal(ue.down_reason, IMSEC_ERR_IO);
  assert_int_equal(p.ups, 0);
  assert_int_equal(p.downs, 0);
  assert_int_equal(p.msgs, 0);
  assert_int_equal(sim_trace_msgs(s, "ue", NULL, NULL), 0);
  assert_int_equal(sim_handshakes_failed(s), 1);
  assert_int_equal(sim_flows_opened(s, 1), 0);
  /* DTLS 1.2 fails inside the handshake. */
  imsec_addr rd = A("dtls:10.0.0.2:5061");
  assert_int_equal(sim_listen_opts(np, &rd, &req), 0);
  c.addr = rd;
  c.tag = 11;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(ue.ups, 1);
  assert_int_equal(ue.downs, 2);
  assert_int_equal(ue.down_flow, 0);
  assert_int_equal(ue.down_tag, 11);
  assert_int_equal(ue.down_reason, IMSEC_ERR_AUTH);
  assert_int_equal(sim_handshakes_failed(s), 2);
  sim_set_delay(s, 0);
  c.addr = ra;
  /* With the UE's chain: both ends get facts. */
  imsec_bytes uc[2] = {imsec_pki_cred_der(g_ue), imsec_pki_cred_der(g_root)};
  assert_int_equal(sim_node_client_chain(nu, uc, 2), 0);
  c.tag = 2;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(ue.ups, 2);
  assert_true(ue.had_cert);
  assert_string_equal(ue.cert.dns[0], PCSCF);
  assert_int_equal(p.ups, 1);
  assert_true(p.inbound);
  assert_true(p.had_cert);
  assert_int_equal(p.cert.chain, IMSEC_CHAIN_OK);
  assert_true(p.cert.client_auth);
  assert_string_equal(p.cert.dns[0], UE_NAME);
  assert_false(p.psk);
  /* REQUEST: a client without a certificate still connects. */
  fake v = {0};
  sim_node *nv = sim_add(s, "bare", &fake_ops, &v, "10.0.0.3");
  sim_tls_opts rq = {
      .chain = chain, .n_chain = 2, .client_cert = SIM_CLIENT_CERT_REQUEST};
  imsec_addr qa = A("tls:10.0.0.2:5062");
  assert_int_equal(sim_listen_opts(np, &qa, &rq), 0);
  c.addr = qa;
  c.tag = 3;
  sim_call(nv, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(v.ups, 1);
  assert_int_equal(p.ups, 2);
  assert_false(p.had_cert);
  /* ... and one with a certificate shows it. */
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(p.ups, 3);
  assert_true(p.had_cert);
  /* NONE (sim_listen_tls): never asked, so no facts. */
  imsec_addr na = A("tls:10.0.0.2:5063");
  assert_int_equal(sim_listen_tls(np, &na, chain, 2, 0), 0);
  c.addr = na;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(p.ups, 4);
  assert_false(p.had_cert);
  /* A verifying listener refuses a chain under another root: the UE's
   * named context "rogue" shows it. */
  imsec_bytes rc[2] = {imsec_pki_cred_der(g_ue_rogue),
                       imsec_pki_cred_der(g_other)};
  assert_int_equal(sim_node_tls_profile(nu, "rogue", rc, 2, NULL, 0), 0);
  sim_tls_opts ver = req;
  ver.verify_client = 1;
  imsec_addr va = A("tls:10.0.0.2:5064");
  assert_int_equal(sim_listen_opts(np, &va, &ver), 0);
  imsec_tls_profile prof;
  memset(&prof, 0, sizeof prof);
  snprintf(prof.profile, sizeof prof.profile, "rogue");
  c.addr = va;
  c.tag = 7;
  c.tls = &prof;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.last_tag, 7);
  assert_int_equal(ue.down_tag, 7);
  assert_int_equal(ue.down_reason, IMSEC_ERR_IO);
  assert_int_equal(p.ups, 4);
  /* The default context's chain verifies there. */
  c.tag = 8;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(p.ups, 5);
  assert_true(p.had_cert);
  /* Not verifying: the rogue chain reaches the element as facts. */
  c.addr = ra;
  c.tag = 9;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(p.ups, 6);
  assert_int_equal(p.cert.chain, IMSEC_CHAIN_INVALID);
  /* A context never given. */
  snprintf(prof.profile, sizeof prof.profile, "nope");
  c.tag = 10;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 10);
  assert_int_equal(ue.down_reason, IMSEC_ERR_CONFIG);
  sim_del(s);
  imsec_x509_anchors_del(an);
}

/* Mode M2b: a UE listens with a server certificate; the P-CSCF dials it
 * with a client context that verifies the name it dials and shows the
 * P-CSCF's certificate. Each end gets the other's facts; a UE whose
 * certificate names another host fails the handshake. */
static void test_dial_ue(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 1000), 0);
  fake ue = {.keep = 1}, p = {0};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "pcscf", &fake_ops, &p, "10.0.0.2");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  sim_node_anchors(np, an);
  imsec_bytes uc[2] = {imsec_pki_cred_der(g_ue), imsec_pki_cred_der(g_root)};
  sim_tls_opts o = {.chain = uc,
                    .n_chain = 2,
                    .client_cert = SIM_CLIENT_CERT_REQUIRE,
                    .verify_client = 1};
  imsec_addr ua = A("tls:10.0.0.1:5061");
  assert_int_equal(sim_listen_opts(nu, &ua, &o), 0);
  imsec_bytes pc[2] = {imsec_pki_cred_der(g_leaf), imsec_pki_cred_der(g_root)};
  assert_int_equal(sim_node_tls_profile(np, "ue", pc, 2, NULL, SIM_TLS_VERIFY),
                   0);
  imsec_tls_profile prof;
  memset(&prof, 0, sizeof prof);
  snprintf(prof.profile, sizeof prof.profile, "ue");
  cmd c = {.addr = ua, .tag = 4, .tls = &prof, .sni = UE_NAME};
  sim_call(np, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(p.ups, 1);
  assert_false(p.inbound);
  assert_true(p.had_cert);
  assert_string_equal(p.cert.dns[0], UE_NAME);
  assert_int_equal(ue.ups, 1);
  assert_true(ue.inbound);
  assert_true(ue.had_cert);
  assert_int_equal(ue.cert.chain, IMSEC_CHAIN_OK);
  assert_string_equal(ue.cert.dns[0], PCSCF);
  c.flow = p.last_flow;
  c.text = "MESSAGE sip:ue SIP/2.0\r\n\r\n";
  sim_call(np, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(ue.msgs, 1);
  assert_int_equal(sim_trace_msgs(s, "pcscf", "ue", "MESSAGE"), 1);
  /* Another name dialled (after closing the first flow, which RFC 5923
   * reuse by address would hand out again): the certificate does not name
   * it, the handshake fails. */
  c.sni = "ue2.example";
  c.flow = p.last_flow;
  sim_call(np, c_close, &c);
  sim_run(s, 100);
  c.tag = 6;
  sim_call(np, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(p.downs, 1);
  assert_int_equal(p.down_tag, 6);
  assert_int_equal(p.down_reason, IMSEC_ERR_AUTH);
  assert_int_equal(ue.ups, 1);
  sim_del(s);
  imsec_x509_anchors_del(an);
}

/* Mode M3: a PSK-taking listener with a configured key and one its
 * element installs (expiring on the virtual clock); the right key brings
 * the flow up with psk facts and no certificate either way; a wrong key,
 * an unknown identity, an expired or removed key fail with
 * IMSEC_ERR_AUTH; a client offering no PSK gets the certificate
 * handshake when the listener has one, else fails. */
static void test_psk(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 1000), 0);
  fake ue = {0}, p = {.keep = 1};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "pcscf", &fake_ops, &p, "10.0.0.2");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  sim_node_anchors(np, an);
  imsec_bytes uc[2] = {imsec_pki_cred_der(g_ue), imsec_pki_cred_der(g_root)};
  assert_int_equal(sim_node_client_chain(nu, uc, 2), 0);
  sim_tls_opts o = {.psk = 1, .client_cert = SIM_CLIENT_CERT_REQUEST};
  imsec_addr pa = A("tls:10.0.0.2:5061");
  assert_int_equal(sim_listen_opts(np, &pa, &o), 0);
  static const uint8_t key[16] = "0123456789abcdef";
  assert_int_equal(sim_node_psk_static(np, "static-ue", key, sizeof key), 0);
  assert_int_equal(sim_node_psk_static(np, "", key, 4), -1);
  assert_true(sim_node_psk_has(np, "static-ue"));
  assert_false(sim_node_psk_has(np, "other"));
  imsec_tls_profile prof;
  memset(&prof, 0, sizeof prof);
  snprintf(prof.psk_identity, sizeof prof.psk_identity, "static-ue");
  memcpy(prof.psk, key, sizeof key);
  prof.psk_len = sizeof key;
  cmd c = {.addr = pa, .tag = 1, .tls = &prof};
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.ups, 1);
  assert_true(ue.psk);
  assert_string_equal(ue.psk_identity, "static-ue");
  assert_false(ue.had_cert);
  assert_int_equal(p.ups, 1);
  assert_true(p.psk);
  assert_string_equal(p.psk_identity, "static-ue");
  assert_false(p.had_cert); /* asked for none: it was a PSK handshake */
  /* A wrong key (one octet off), an unknown identity. */
  prof.psk[15] ^= 1;
  c.tag = 2;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 2);
  assert_int_equal(ue.down_reason, IMSEC_ERR_AUTH);
  prof.psk[15] ^= 1;
  prof.psk_len = 15; /* a prefix of the key is no key */
  c.tag = 3;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 3);
  prof.psk_len = sizeof key;
  snprintf(prof.psk_identity, sizeof prof.psk_identity, "derived-ue");
  c.tag = 4;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 4);
  assert_int_equal(p.ups, 1);
  /* The element installs "derived-ue" until now + 1000. */
  cmd k = {.text = "derived-ue", .len = 16, .at = sim_now(s) + 1000};
  sim_call(np, c_psk, &k);
  assert_true(sim_node_psk_has(np, "derived-ue"));
  c.tag = 5;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.ups, 2);
  assert_int_equal(ue.last_tag, 5);
  assert_string_equal(p.psk_identity, "derived-ue");
  /* Past its expiry. */
  sim_advance(s, 1000);
  assert_false(sim_node_psk_has(np, "derived-ue"));
  c.tag = 6;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 6);
  assert_int_equal(ue.down_reason, IMSEC_ERR_AUTH);
  /* Installed again, then removed (len 0). */
  k.at = 0;
  sim_call(np, c_psk, &k);
  assert_true(sim_node_psk_has(np, "derived-ue"));
  k.len = 0;
  sim_call(np, c_psk, &k);
  assert_false(sim_node_psk_has(np, "derived-ue"));
  /* No PSK offered to a PSK-only listener. */
  c.tag = 7;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 7);
  assert_int_equal(ue.down_reason, IMSEC_ERR_AUTH);
  assert_int_equal(sim_handshakes_failed(s), 5);
  /* A listener with a certificate as well: the certificate handshake. */
  imsec_bytes chain[2] = {imsec_pki_cred_der(g_leaf),
                          imsec_pki_cred_der(g_root)};
  sim_tls_opts both = o;
  both.chain = chain;
  both.n_chain = 2;
  imsec_addr ba = A("tls:10.0.0.2:5062");
  assert_int_equal(sim_listen_opts(np, &ba, &both), 0);
  c.addr = ba;
  c.tag = 8;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(ue.last_tag, 8);
  assert_false(ue.psk);
  assert_true(ue.had_cert);
  assert_false(p.psk);
  assert_true(p.had_cert); /* the client certificate it requested */
  /* A listener that takes no PSKs: a PSK offer fails there (our PSK
   * clients refuse the certificate it answers with, as over net/). */
  sim_tls_opts plain = {.chain = chain, .n_chain = 2};
  imsec_addr xa = A("tls:10.0.0.2:5063");
  assert_int_equal(sim_listen_opts(np, &xa, &plain), 0);
  snprintf(prof.psk_identity, sizeof prof.psk_identity, "static-ue");
  c.addr = xa;
  c.tag = 9;
  sim_call(nu, c_connect_tls, &c);
  sim_run(s, 100);
  assert_int_equal(ue.down_tag, 9);
  assert_int_equal(ue.down_reason, IMSEC_ERR_AUTH);
  sim_del(s);
  imsec_x509_anchors_del(an);
}

/* The 2nd datagram that starts with `start` is lost. */
typedef struct loss_ctx {
  const char *start;
  int seen, nth;
} loss_ctx;

static int lose_nth(void *user, const sim_msg *m, const uint8_t *data,
                    size_t len) {
  loss_ctx *l = user;
  (void)m;
  size_t n = strlen(l->start);
  if (len < n || memcmp(data, l->start, n) != 0)
    return 0;
  return ++l->seen == l->nth;
}

/* DTLS: one message per datagram, none over 16 KiB (refused at send, the
 * flow stays), datagrams lost by count or by predicate (traced as
 * dropped), stream flows never lose any. */
static void test_dtls(void **state) {
  (void)state;
  sim *s;
  assert_int_equal(sim_new(&s, 1000), 0);
  fake ue = {0}, p = {.keep = 1, .echo = 1};
  sim_node *nu = sim_add(s, "ue", &fake_ops, &ue, "10.0.0.1");
  sim_node *np = sim_add(s, "pcscf", &fake_ops, &p, "10.0.0.2");
  imsec_x509_anchors *an = anchors();
  sim_node_anchors(nu, an);
  imsec_bytes chain[2] = {imsec_pki_cred_der(g_leaf),
                          imsec_pki_cred_der(g_root)};
  imsec_addr da = A("dtls:10.0.0.2:5061"), ta = A("tls:10.0.0.2:5061");
  assert_int_equal(sim_listen_tls(np, &da, chain, 2, 0), 0);
  assert_int_equal(sim_listen_tls(np, &ta, chain, 2, 0), 0);
  cmd c = {.addr = da, .tag = 1};
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  assert_int_equal(ue.ups, 1);
  assert_true(ue.had_cert);
  uint64_t df = ue.last_flow;
  /* A record's worth goes; one octet more is refused and the flow stays. */
  c.flow = df;
  c.len = 16384;
  sim_call(nu, c_send_len, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 1);
  c.len = 16385;
  sim_call(nu, c_send_len, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 1);
  assert_true(sim_trace_log_has(s, "ue", "send failed"));
  assert_true(sim_flow_open(s, df));
  /* Lose the next datagram on the flow (either way): the PING. */
  c.text = "PING 1";
  sim_drop_next(s, df, 1);
  sim_call(nu, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 1);
  assert_int_equal(sim_dgrams_lost(s), 1);
  assert_int_equal(sim_trace_msgs(s, "ue", "pcscf", "PING"), 0);
  const sim_tr *t = sim_trace_at(s, sim_trace_count(s) - 1);
  assert_true(t->dropped);
  /* Sent again: through, and the PONG back. */
  int before = ue.msgs;
  sim_call(nu, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 2);
  assert_int_equal(ue.msgs, before + 1);
  /* A predicate: the second PONG is lost. */
  loss_ctx l = {.start = "PONG", .nth = 2};
  sim_set_loss(s, lose_nth, &l);
  sim_call(nu, c_send, &c);
  sim_call(nu, c_send, &c);
  sim_call(nu, c_send, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 5);
  assert_int_equal(ue.msgs, before + 3);
  assert_int_equal(sim_dgrams_lost(s), 2);
  /* A TLS stream loses nothing, and takes a message over 16 KiB. */
  sim_drop_next(s, 0, 5);
  c.addr = ta;
  c.tag = 2;
  sim_call(nu, c_connect, &c);
  sim_run(s, 100);
  c.flow = ue.last_flow;
  assert_int_not_equal(c.flow, df);
  c.len = 20000;
  sim_call(nu, c_send_len, &c);
  sim_run(s, 100);
  assert_int_equal(p.msgs, 6);
  assert_int_equal(sim_dgrams_lost(s), 2);
  sim_set_loss(s, NULL, NULL);
  sim_drop_next(s, 0, 0);
  sim_del(s);
  imsec_x509_anchors_del(an);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flow_and_facts),
      cmocka_unit_test(test_refused_and_table_facts),
      cmocka_unit_test(test_timers),
      cmocka_unit_test(test_connect_reuse_delay),
      cmocka_unit_test(test_reply_then_close),
      cmocka_unit_test(test_tamper_idle_attacker),
      cmocka_unit_test(test_slow_store),
      cmocka_unit_test(test_client_certs),
      cmocka_unit_test(test_dial_ue),
      cmocka_unit_test(test_psk),
      cmocka_unit_test(test_dtls),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
