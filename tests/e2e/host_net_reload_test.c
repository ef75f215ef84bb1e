/* The host's net port: SIGHUP with a reload callback. The callback runs on
 * the waiting thread, changes the element through imsec_hostnet_call_wait
 * (on the host core) and a TLS
 * listener through imsec_net_tls_reload; a failed reload and a successful
 * one both leave the run going; SIGTERM still stops it. A synchronous
 * call that cannot start in time is cancelled and never runs. Each wait
 * is bounded. */
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

static const char *g_dir;

typedef struct elem {
  atomic_int ups;
  atomic_int applied;
  pthread_t loop;
  int have_loop;
} elem;

static int el_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  (void)flow;
  (void)tag;
  (void)info;
  (void)now;
  (void)out;
  atomic_fetch_add(&((elem *)s)->ups, 1);
  return 0;
}

static void el_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)now;
  assert_int_equal(imsec_out_send(out, flow, m, len), 0);
}

static void el_down(void *s, uint64_t flow, uint64_t tag, int reason,
                    imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)reason;
  (void)now;
  (void)out;
}

static void el_start(void *s, imsec_time_ms now, imsec_out *out) {
  elem *e = s;
  (void)now;
  (void)out;
  e->loop = pthread_self();
  e->have_loop = 1;
}

static const imsec_elem_ops ops = {
    .kind = "reload",
    .on_flow_up = el_up,
    .on_message = el_msg,
    .on_flow_down = el_down,
    .on_start = el_start,
};

typedef struct host {
  elem el;
  atomic_int reloads;
  int fail_next;
  pthread_t main;
  int wrong_thread;
  int tls_rc;
  imsec_hostnet *r;
  imsec_x509_anchors *anchors;
  const imsec_x509_anchors *old_anchors;
} host;

static void apply(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  elem *e = self;
  (void)now;
  if (!e->have_loop || !pthread_equal(pthread_self(), e->loop))
    ((host *)arg)->wrong_thread = 1;
  assert_int_equal(imsec_out_log(out, IMSEC_LOG_INFO, "applied", NULL), 0);
  /* New peer anchors: the port hands the previous ones back. */
  host *h = arg;
  imsec_x509_anchors *a = NULL;
  assert_int_equal(imsec_x509_anchors_new(&a), 0);
  assert_int_equal(imsec_x509_anchors_add_root_file(a, t_path(g_dir, "ca.pem")),
                   0);
  h->old_anchors = imsec_hostnet_set_anchors(h->r, a);
  h->anchors = a;
  atomic_fetch_add(&e->applied, 1);
}

static int on_reload(void *arg, imsec_hostnet *r, char *msg, size_t cap) {
  host *h = arg;
  if (!pthread_equal(pthread_self(), h->main))
    h->wrong_thread = 1;
  atomic_fetch_add(&h->reloads, 1);
  if (h->fail_next) {
    snprintf(msg, cap, "the test says no");
    return IMSEC_ERR_CONFIG;
  }
  int rc = imsec_hostnet_call_wait(r, apply, h, 5000);
  if (rc != 0)
    return rc;
  imsec_net_tls_config c;
  memset(&c, 0, sizeof c);
  c.cert_file = t_path(g_dir, "rsa.pem");
  c.key_file = t_path(g_dir, "rsa.key");
  h->tls_rc =
      imsec_net_tls_reload(imsec_hostnet_listener_tls(r, 0), &c, msg, cap);
  return h->tls_rc;
}

/* Run imsec_hostnet_wait in slices until `pred` holds (or 5 s pass). */
static int wait_for(imsec_hostnet *r, atomic_int *v, int want) {
  for (int i = 0; i < 50; i++) {
    if (atomic_load(v) >= want)
      return 0;
    int rc = imsec_hostnet_wait(r, 100);
    if (rc == 0)
      return -1; /* the run ended */
  }
  return atomic_load(v) >= want ? 0 : -1;
}

static void slow(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  (void)out;
  (void)arg;
  usleep(300 * 1000);
}

static void never(void *self, imsec_time_ms now, imsec_out *out, void *arg) {
  (void)self;
  (void)now;
  (void)out;
  atomic_store((atomic_int *)arg, 1);
}

static void sighup_reloads(void **state) {
  (void)state;
  static host h;
  memset(&h, 0, sizeof h);
  h.main = pthread_self();
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.cert_file = t_path(g_dir, "server.pem");
  tc.key_file = t_path(g_dir, "server.key");
  imsec_hostnet_listener l;
  memset(&l, 0, sizeof l);
  assert_int_equal(
      imsec_addr_parse_listen(IMSEC_STR_LIT("tls:127.0.0.1:0"), &l.addr), 0);
  l.tls_cfg = &tc;
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "hup";
  cfg.ops = &ops;
  cfg.self = &h.el;
  cfg.listeners = &l;
  cfg.n_listeners = 1;
  cfg.signals = 1;
  cfg.reload = on_reload;
  cfg.reload_arg = &h;
  cfg.log_level = IMSEC_LOG_INFO;
  imsec_hostnet *r = NULL;
  char err[256];
  assert_int_equal(imsec_hostnet_new(&r, &cfg, err, sizeof err), 0);
  h.r = r;
  assert_non_null(imsec_hostnet_listener_tls(r, 0));
  assert_null(imsec_hostnet_listener_tls(r, 1));
  assert_null(imsec_hostnet_client_tls(r));
  assert_int_equal(imsec_hostnet_start(r), 0);

  /* A successful reload: the element changed on its loop thread, the
   * listener's certificate replaced, the run goes on. */
  assert_int_equal(kill(getpid(), SIGHUP), 0);
  assert_int_equal(wait_for(r, &h.reloads, 1), 0);
  assert_int_equal(atomic_load(&h.el.applied), 1);
  assert_int_equal(h.tls_rc, 0);
  assert_int_equal(h.wrong_thread, 0);
  assert_non_null(h.anchors);
  assert_null(h.old_anchors); /* none at the start */
  assert_int_equal(imsec_hostnet_signal(r), 0);

  /* A failed one: the same. */
  h.fail_next = 1;
  assert_int_equal(kill(getpid(), SIGHUP), 0);
  assert_int_equal(wait_for(r, &h.reloads, 2), 0);
  assert_int_equal(atomic_load(&h.el.applied), 1);
  assert_int_equal(imsec_hostnet_signal(r), 0);
  assert_int_equal(imsec_hostnet_wait(r, 50), IMSEC_ERR_TIMEOUT);

  /* A call that cannot start in time never runs. */
  assert_int_equal(imsec_hostnet_call(r, slow, NULL), 0);
  atomic_int ran = 0;
  assert_int_equal(imsec_hostnet_call_wait(r, never, &ran, 50),
                   IMSEC_ERR_TIMEOUT);
  usleep(600 * 1000);
  assert_int_equal(atomic_load(&ran), 0);
  assert_int_equal(imsec_hostnet_call_wait(r, never, &ran, 5000), 0);
  assert_int_equal(atomic_load(&ran), 1);
  assert_int_equal(imsec_hostnet_call_wait(NULL, never, &ran, 10),
                   IMSEC_ERR_INVAL);

  /* SIGTERM still stops. */
  assert_int_equal(kill(getpid(), SIGTERM), 0);
  assert_int_equal(imsec_hostnet_wait(r, 5000), 0);
  assert_int_equal(imsec_hostnet_signal(r), SIGTERM);
  imsec_hostnet_del(r);
  imsec_x509_anchors_del(h.anchors);
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
      cmocka_unit_test(sighup_reloads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
