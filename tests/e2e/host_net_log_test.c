/* The net port's log path (include/imsec/host_net.h, cfg.log_fn): with a
 * log function set, the element's lines, the port's and net/'s reach it
 * as events, not stderr: the element's line about a message with that
 * message's flow and Call-ID, net/'s line about a flow with its id, each
 * with the port's name. Over real loopback TCP, each wait bounded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsec/host_net.h"
#include "net_util.h"
#include "test_util.h"

#define WAIT 5000
#define MAXEV 256

static const char MSG[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: opt-1@ue\r\n"
                          "Content-Length: 0\r\n\r\n";

typedef struct logged {
  pthread_mutex_t mu;
  struct {
    char elem[32], text[300], call_id[64];
    uint64_t flow;
    int level;
  } ev[MAXEV];
  int n;
} logged;

static void log_fn(void *user, const imsec_log_event *ev) {
  logged *l = user;
  pthread_mutex_lock(&l->mu);
  if (l->n < MAXEV) {
    snprintf(l->ev[l->n].elem, sizeof l->ev[0].elem, "%s", ev->elem);
    snprintf(l->ev[l->n].text, sizeof l->ev[0].text, "%s", ev->text);
    snprintf(l->ev[l->n].call_id, sizeof l->ev[0].call_id, "%s",
             ev->call_id ? ev->call_id : "-");
    l->ev[l->n].flow = ev->flow;
    l->ev[l->n].level = (int)ev->level;
    l->n++;
  }
  pthread_mutex_unlock(&l->mu);
}

/* Wait for an event whose text starts with `prefix`; its index. */
static int wait_ev(logged *l, const char *prefix) {
  uint64_t end = t_now_ms() + WAIT;
  do {
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n; i++) {
      if (strncmp(l->ev[i].text, prefix, strlen(prefix)) == 0) {
        pthread_mutex_unlock(&l->mu);
        return i;
      }
    }
    pthread_mutex_unlock(&l->mu);
    usleep(2000);
  } while (t_now_ms() < end);
  fail_msg("no log event \"%s\"", prefix);
  return -1;
}

static uint64_t g_flow; /* the flow the element saw the message on */

static int el_up(void *s, uint64_t flow, uint64_t tag,
                 const imsec_flow_info *info, imsec_time_ms now,
                 imsec_out *out) {
  (void)s;
  (void)flow;
  (void)tag;
  (void)info;
  (void)now;
  (void)out;
  return 0;
}

static void el_msg(void *s, uint64_t flow, const uint8_t *m, size_t len,
                   imsec_time_ms now, imsec_out *out) {
  (void)s;
  (void)m;
  (void)len;
  (void)now;
  g_flow = flow;
  assert_int_equal(imsec_out_log(out, IMSEC_LOG_INFO, "got it", NULL), 0);
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

static const imsec_elem_ops el_ops = {
    .kind = "logger",
    .on_flow_up = el_up,
    .on_message = el_msg,
    .on_flow_down = el_down,
};

static void test_log_fn(void **state) {
  (void)state;
  logged l;
  memset(&l, 0, sizeof l);
  pthread_mutex_init(&l.mu, NULL);
  imsec_hostnet_listener li;
  memset(&li, 0, sizeof li);
  li.addr.tp = IMSEC_TP_TCP;
  snprintf(li.addr.host, sizeof li.addr.host, "127.0.0.1");
  imsec_hostnet_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.name = "pcscf";
  cfg.ops = &el_ops;
  cfg.listeners = &li;
  cfg.n_listeners = 1;
  cfg.log_level = IMSEC_LOG_DEBUG;
  cfg.net_log_level = IMSEC_NET_LOG_DEBUG;
  cfg.log_fn = log_fn;
  cfg.log_user = &l;
  imsec_hostnet *r = NULL;
  char err[256];
  int rc = imsec_hostnet_new(&r, &cfg, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  assert_int_equal(imsec_hostnet_start(r), 0);

  t_rec *rec = t_rec_new(0);
  imsec_net_config nc;
  memset(&nc, 0, sizeof nc);
  nc.threads = 1;
  nc.handler = t_rec_handler(rec);
  imsec_net *c = NULL;
  assert_int_equal(imsec_net_new(&c, &nc), 0);
  assert_int_equal(imsec_net_start(c), 0);
  struct sockaddr_in a = t_lo4(imsec_hostnet_port(r, 0));
  imsec_net_connect_opts o;
  memset(&o, 0, sizeof o);
  o.transport = IMSEC_NET_TCP;
  o.peer = (struct sockaddr *)&a;
  uint64_t id = 0;
  assert_int_equal(imsec_net_connect(c, &o, &id), 0);
  t_ev e;
  assert_int_equal(t_rec_wait(rec, T_EV_UP, id, 0, WAIT, &e), 0);
  assert_int_equal(imsec_net_send(c, id, (const uint8_t *)MSG, sizeof MSG - 1),
                   0);

  int i = wait_ev(&l, "got it");
  assert_string_equal(l.ev[i].elem, "pcscf");
  assert_string_equal(l.ev[i].call_id, "opt-1@ue");
  assert_int_equal(l.ev[i].level, IMSEC_LOG_INFO);
  assert_true(g_flow != 0);
  assert_int_equal(l.ev[i].flow, g_flow);

  /* net/'s line about the flow names it too. */
  int k = wait_ev(&l, "net: flow ");
  assert_string_equal(l.ev[k].elem, "pcscf");
  assert_int_equal(l.ev[k].flow, g_flow);
  assert_string_equal(l.ev[k].call_id, "-");

  imsec_net_del(c);
  t_rec_del(rec);
  imsec_hostnet_del(r);
  /* Each event was one line of text, no newline in it. */
  for (int j = 0; j < l.n; j++)
    assert_null(strchr(l.ev[j].text, '\n'));
  pthread_mutex_destroy(&l.mu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_fn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
