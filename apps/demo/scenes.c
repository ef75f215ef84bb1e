/* imsec demo: the scenes (demo.h). The UEs run in this process through
 * the host's net port (one loop thread each), so every outcome is read from the
 * UE's own state, not from text. Each scene records a result row and
 * prints the ladder of its messages. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "imsec/isim.h"
#include "imsec/net.h"
#include "imsec/svc.h"
#include "imsec/trust.h"
#include "imsec/x509.h"
#ifdef DEMO_HAVE_UE
#include "imsec/ue.h"
#include "imsec/crypto_ossl.h"
#include "sqn_file.h"
#endif

/* ---------------------------------------------------------------- results */

result demo_res[16];
size_t demo_nres;

result *result_add(const char *scene, const char *expect) {
  result *r = &demo_res[demo_nres++];
  snprintf(r->scene, sizeof r->scene, "%s", scene);
  snprintf(r->expect, sizeof r->expect, "%s", expect);
  snprintf(r->got, sizeof r->got, "not run");
  return r;
}

void print_table(void) {
  demo_say("\n  %-3s %-30s %-44s %s\n", "#", "scene", "expected", "result");
  demo_say("  %-3s %-30s %-44s %s\n", "--", "-----", "--------", "------");
  for (size_t i = 0; i < demo_nres; i++) {
    result *r = &demo_res[i];
    demo_say("  %-3zu %-30s %-44s %s: %s\n", i + 1, r->scene, r->expect,
             r->ok ? "ok" : "FAILED", r->got);
  }
}

#ifdef DEMO_HAVE_UE
/* ---------------------------------------------------------------- UEs */

typedef struct demo_ue {
  char name[32];
  imsec_ue *ue;
  imsec_crypto *crypto;
  imsec_x509_anchors *anchors;
  imsec_isim_profile prof;
  imsec_hostnet *run;
  /* The UE's store: its profile's SQN, written on a worker thread before
   * the RES leaves (sqn_file.h). */
  ue_sqn_file sqn;
  imsec_svc *svc_local, *svc;
  pthread_mutex_t mu;
  /* Snapshots taken on the UE's loop thread when the demo looks. */
  imsec_ue_status st;
  int msg_handle, msdemo_result;
  char inbox[512];
  char inbox_from[256];
  int inbox_n;
} demo_ue;

static void ue_snapshot(demo_ue *u) {
  pthread_mutex_lock(&u->mu);
  imsec_ue_get_status(u->ue, &u->st);
  if (u->msg_handle > 0)
    u->msdemo_result = imsec_ue_message_result(u->ue, u->msg_handle);
  imsec_ue_message m;
  while (imsec_ue_inbox_pop(u->ue, &m) == 1) {
    snprintf(u->inbox, sizeof u->inbox, "%.*s", (int)m.len,
             (const char *)m.body);
    snprintf(u->inbox_from, sizeof u->inbox_from, "%s",
             m.asserted[0] ? m.asserted : m.from);
    u->inbox_n++;
    imsec_ue_message_free(&m);
  }
  pthread_mutex_unlock(&u->mu);
}

/* On the UE's loop thread, called in by the demo's thread. */
static void ue_snapshot_call(void *self, imsec_time_ms now, imsec_out *out,
                             void *arg) {
  (void)self;
  (void)now;
  (void)out;
  ue_snapshot(arg);
}

/* Take a snapshot now (a loop that does not take the call within a second
 * leaves the last one in place). */
static void ue_look(demo_ue *u) {
  if (!u->run ||
      imsec_hostnet_call_wait(u->run, ue_snapshot_call, u, 1000) != 0)
    return;
}

static void ue_ladder(void *user, const imsec_hostnet_ladder_ev *ev) {
  demo_ue *u = user;
  ladder_add_ev(u->name, ev);
}

static imsec_net_tls *g_ue_tls;

/* A UE from profile `s`, dialling 127.0.0.1:port and verifying `host`. */
static demo_ue *ue_new(const char *name, const imsec_fx_sub *s, uint16_t port,
                       const char *host) {
  demo_ue *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  snprintf(u->name, sizeof u->name, "%s", name);
  pthread_mutex_init(&u->mu, NULL);
  ue_sqn_file_init(&u->sqn, s->profile);
  char err[512];
  if (imsec_isim_load(s->profile, &u->prof, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_isim_anchors(&u->prof, &u->anchors, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  if (imsec_crypto_ossl_new(&u->crypto) != 0)
    goto fail;
  imsec_ue_config c;
  memset(&c, 0, sizeof c);
  c.impi = u->prof.impi;
  c.impus = (const char *const *)u->prof.impus;
  c.n_impus = u->prof.n_impus;
  c.home_domain = u->prof.home_domain;
  c.trust_domain = u->prof.trust_domain;
  memcpy(c.k, u->prof.k, sizeof c.k);
  if (u->prof.has_opc) {
    memcpy(c.opc, u->prof.opc, sizeof c.opc);
    c.has_opc = 1;
  } else {
    memcpy(c.op, u->prof.op, sizeof c.op);
    c.has_op = 1;
  }
  memcpy(c.amf, u->prof.amf, sizeof c.amf);
  if (imsec_ue_sqn_load(u->prof.sqn, NULL, &c.sqn) != 0)
    goto fail_cfg;
  c.pcscf.tp = IMSEC_TP_TLS;
  snprintf(c.pcscf.host, sizeof c.pcscf.host, "127.0.0.1");
  c.pcscf.port = port;
  c.pcscf_name = host;
  c.policy = u->prof.policy;
  c.expires = 600;
  c.txn_timeout_ms = DEMO_WAIT_MS;
  c.max_connect_attempts = 1;
  int rv = imsec_ue_new(&u->ue, &c, u->crypto);
  imsec_wipe(&c, sizeof c);
  if (rv != 0) {
    fprintf(stderr, "imsec demo: UE %s: %s\n", name, imsec_strerror(rv));
    goto fail;
  }
  imsec_svc_local_config lc = {.ue_sqn = ue_sqn_file_write,
                               .ue_sqn_arg = &u->sqn};
  if (imsec_svc_local_new(&u->svc_local, &lc) != 0 ||
      imsec_svc_worker_new(&u->svc, u->svc_local, 8) != 0) {
    fprintf(stderr, "imsec demo: UE %s: cannot start its store\n", name);
    goto fail;
  }
  imsec_hostnet_config rc;
  memset(&rc, 0, sizeof rc);
  rc.name = u->name;
  rc.ops = &imsec_ue_ops;
  rc.self = u->ue;
  rc.svc = u->svc;
  rc.client_tls = g_ue_tls;
  rc.anchors = u->anchors;
  rc.log_level = demo_verbose ? IMSEC_LOG_INFO : IMSEC_LOG_ERROR;
  rc.ladder_fn = ue_ladder;
  rc.ladder_user = u;
  if (imsec_hostnet_new(&u->run, &rc, err, sizeof err) != 0) {
    fprintf(stderr, "imsec demo: %s\n", err);
    goto fail;
  }
  return u;
fail_cfg:
  imsec_wipe(&c, sizeof c);
fail:
  imsec_svc_del(u->svc);
  imsec_svc_del(u->svc_local);
  if (u->ue)
    imsec_ue_del(u->ue);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  ue_sqn_file_fini(&u->sqn);
  pthread_mutex_destroy(&u->mu);
  free(u);
  return NULL;
}

static void ue_del(demo_ue *u) {
  if (!u)
    return;
  /* Stop the worker while the host it answers still exists (it finishes
   * a queued SQN write), then the host, then free the worker and the
   * store. */
  imsec_svc_worker_stop(u->svc);
  imsec_hostnet_del(u->run);
  imsec_svc_del(u->svc);
  imsec_svc_del(u->svc_local);
  imsec_ue_del(u->ue);
  imsec_x509_anchors_del(u->anchors);
  imsec_crypto_del(u->crypto);
  imsec_isim_free(&u->prof);
  ue_sqn_file_fini(&u->sqn);
  pthread_mutex_destroy(&u->mu);
  free(u);
}

/* Wait until the UE's state is final for a registration attempt. */
static imsec_ue_state ue_wait_settled(demo_ue *u, int timeout_ms) {
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    ue_look(u);
    pthread_mutex_lock(&u->mu);
    imsec_ue_state s = u->st.state;
    pthread_mutex_unlock(&u->mu);
    if (s == IMSEC_UE_REGISTERED || s == IMSEC_UE_REFUSED ||
        s == IMSEC_UE_FAILED || imsec_hostnet_now() >= end)
      return s;
    usleep(2000);
  }
}

static imsec_ue_status ue_status(demo_ue *u) {
  ue_look(u);
  pthread_mutex_lock(&u->mu);
  imsec_ue_status s = u->st;
  pthread_mutex_unlock(&u->mu);
  return s;
}

typedef struct send_arg {
  demo_ue *u;
  const char *to;
  const char *text;
} send_arg;

static void ue_send_call(void *self, imsec_time_ms now, imsec_out *out,
                         void *arg) {
  (void)self;
  send_arg *a = arg;
  demo_ue *u = a->u;
  int h = imsec_ue_send_message(u->ue, a->to, "text/plain",
                                (const uint8_t *)a->text, strlen(a->text), now,
                                out);
  pthread_mutex_lock(&u->mu);
  u->msg_handle = h > 0 ? h : 0;
  u->msdemo_result = h > 0 ? 0 : h;
  pthread_mutex_unlock(&u->mu);
}

static void ue_dereg_call(void *self, imsec_time_ms now, imsec_out *out,
                          void *arg) {
  (void)self;
  demo_ue *u = arg;
  if (imsec_ue_deregister(u->ue, now, out) != 0)
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "de-registration refused", NULL);
}

static int wait_for(demo_ue *u, int (*pred)(demo_ue *), int timeout_ms) {
  int64_t end = imsec_hostnet_now() + timeout_ms;
  for (;;) {
    ue_look(u);
    pthread_mutex_lock(&u->mu);
    int ok = pred(u);
    pthread_mutex_unlock(&u->mu);
    if (ok)
      return 1;
    if (imsec_hostnet_now() >= end)
      return 0;
    usleep(2000);
  }
}

static int msg_answered(demo_ue *u) {
  return u->msdemo_result != 0;
}
static int inbox_has(demo_ue *u) {
  return u->inbox_n > 0;
}

static const char *trust_words(const imsec_ue_status *st) {
  if (!st->trust_decided)
    return "no decision";
  return st->trust.verdict == IMSEC_TRUST_HOME      ? "trusted (home)"
         : st->trust.verdict == IMSEC_TRUST_PARTNER ? "trusted (partner)"
                                                    : "rejected";
}

/* Register a UE and judge: state and trust verdict as expected. */
static demo_ue *scene_register(result *r, const char *ue_name,
                               const imsec_fx_sub *s, uint16_t port,
                               const char *host,
                               imsec_trust_verdict want_verdict) {
  demo_ue *u = ue_new(ue_name, s, port, host);
  if (!u) {
    snprintf(r->got, sizeof r->got, "UE could not be made");
    return NULL;
  }
  if (imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not start");
    return u;
  }
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status ss = ue_status(u);
  snprintf(r->got, sizeof r->got, "%s, %s%s%s", imsec_ue_state_name(st),
           trust_words(&ss), ss.error[0] ? "; " : "", ss.error);
  r->ok = st == IMSEC_UE_REGISTERED && ss.trust_decided &&
          ss.trust.verdict == want_verdict;
  demo_say("    %s: %s\n", ue_name, ss.trust_decided ? ss.trust.why : "-");
  return u;
}
#endif /* DEMO_HAVE_UE */

#ifdef DEMO_HAVE_UE
static void scene_head(int n, const char *title) {
  demo_say("\n[%d] %s\n", n, title);
}

int run_scenes(demo *d) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1; /* the UE's trust decision judges the chain */
  tc.ca_file = demo_path(IMSEC_FX_ROOT_CRT);
  if (imsec_net_tls_new(&g_ue_tls, &tc) != 0) {
    fprintf(stderr, "imsec demo: cannot make the UEs' TLS context\n");
    return -1;
  }
  demo_ue *ua = NULL, *ub = NULL, *uc = NULL, *ud = NULL;

  /* 1. Home registration. */
  scene_head(1, "home registration: UE A -> home P-CSCF -> S-CSCF/HSS");
  result *r1 = result_add("home registration (UE A)",
                          "registered, P-CSCF trusted (home)");
  int64_t t0 = imsec_hostnet_now();
  ua = scene_register(r1, "ue-A", imsec_fx_sub_by(&demo_fx, "A"), d->home[0],
                      IMSEC_FX_PCSCF_HOME, IMSEC_TRUST_HOME);
  usleep(30000);
  ladder_print(t0, imsec_hostnet_now());

  /* 2. Roaming registration. */
  scene_head(2, "roaming registration: UE C -> visited P-CSCF (MNC 002) -> "
                "home S-CSCF");
  result *r2 = result_add("roaming registration (UE C)",
                          "registered, P-CSCF trusted (partner)");
  t0 = imsec_hostnet_now();
  uc = scene_register(r2, "ue-C", imsec_fx_sub_by(&demo_fx, "C"), d->visited[0],
                      IMSEC_FX_PCSCF_VISITED, IMSEC_TRUST_PARTNER);
  usleep(30000);
  ladder_print(t0, imsec_hostnet_now());

  /* 3. A MESSAGE from A to B over B's kept-open flow. */
  scene_head(3, "MESSAGE: UE A -> P-CSCF -> S-CSCF -> P-CSCF -> UE B "
                "(over B's registered TLS flow)");
  result *r3 = result_add("MESSAGE A -> B", "200 OK, delivered on B's flow");
  t0 = imsec_hostnet_now();
  result rb = {0};
  ub = scene_register(&rb, "ue-B", imsec_fx_sub_by(&demo_fx, "B"), d->home[0],
                      IMSEC_FX_PCSCF_HOME, IMSEC_TRUST_HOME);
  if (ua && ub && r1->ok && rb.ok) {
    imsec_ue_status sb0 = ue_status(ub);
    send_arg sa = {.u = ua,
                   .to = imsec_fx_sub_by(&demo_fx, "B")->impu,
                   .text = "Hello B, this is A over TLS."};
    if (imsec_hostnet_call(ua->run, ue_send_call, &sa) == 0 &&
        wait_for(ua, msg_answered, DEMO_WAIT_MS) &&
        wait_for(ub, inbox_has, 500)) {
      imsec_ue_status sb1 = ue_status(ub);
      pthread_mutex_lock(&ub->mu);
      snprintf(r3->got, sizeof r3->got, "%d, B got \"%s\" from %s",
               ua->msdemo_result, ub->inbox, ub->inbox_from);
      r3->ok = ua->msdemo_result == 200 && strcmp(ub->inbox, sa.text) == 0 &&
               sb1.flow == sb0.flow && sb1.reconnects == 0;
      pthread_mutex_unlock(&ub->mu);
    } else {
      pthread_mutex_lock(&ua->mu);
      snprintf(r3->got, sizeof r3->got, "answer %d, B's inbox %s",
               ua->msdemo_result, ub->inbox_n ? "has it" : "empty");
      pthread_mutex_unlock(&ua->mu);
    }
  } else {
    snprintf(r3->got, sizeof r3->got, "UE B: %.900s", rb.got);
  }
  usleep(30000);
  ladder_print(t0, imsec_hostnet_now());

  /* 4. Sync failure and recovery on the same connection. */
  scene_head(4, "sync failure: UE D's ISIM SQN is ahead of the HSS -> AUTS "
                "-> resync -> new challenge -> 200, one TLS connection");
  result *r4 = result_add("sync failure (UE D)",
                          "AUTS, resync, registered, 1 connection");
  t0 = imsec_hostnet_now();
  result rd = {0};
  ud = scene_register(&rd, "ue-D", imsec_fx_sub_by(&demo_fx, "D"), d->home[0],
                      IMSEC_FX_PCSCF_HOME, IMSEC_TRUST_HOME);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  if (ud) {
    imsec_ue_status s = ue_status(ud);
    size_t flows = 0;
    size_t regs = ladder_count("ue-D", "REGISTER", t0, t1, &flows);
    snprintf(r4->got, sizeof r4->got,
             "%s; %u sync failure, %u challenges, %zu REGISTERs on %zu "
             "connection(s)",
             imsec_ue_state_name(s.state), s.sync_failures, s.challenges, regs,
             flows);
    r4->ok = rd.ok && s.sync_failures == 1 && s.challenges == 2 && regs == 3 &&
             flows == 1 && s.reconnects == 0;
  }
  ladder_print(t0, t1);

  /* 5. Rogue P-CSCFs. A certificate that fails is refused when the TLS
   * handshake completes: the rogue receives no SIP message, so never the
   * IMPI. Only a realm that does not match waits for the challenge, after
   * the one REGISTER that asks for it. */
  scene_head(5, "rogue P-CSCFs: a bad certificate is refused at the TLS "
                "handshake (no SIP message sent), a foreign realm at the "
                "challenge");
  struct {
    const char *title, *host, *reason, *daemon;
    uint16_t port;
    size_t want_sent; /* messages the UE may send it */
  } rogues[] = {
      {"rogue: outside trust domain", IMSEC_FX_PCSCF_OUTSIDE,
       "name-outside-trust-domain", "rogue-outside", d->outside[0], 0},
      {"rogue: not a roaming partner", IMSEC_FX_PCSCF_OTHER,
       "not-a-roaming-partner", "rogue-other", d->other[0], 0},
      {"rogue: realm mismatch", IMSEC_FX_PCSCF_REALM, "realm-mismatch",
       "rogue-realm", d->realm[0], 1},
  };
  for (size_t i = 0; i < sizeof rogues / sizeof rogues[0]; i++) {
    char expect[96];
    snprintf(expect, sizeof expect, "refused: %s, %zu sent%s", rogues[i].reason,
             rogues[i].want_sent, rogues[i].want_sent ? " (at the 401)" : "");
    result *r = result_add(rogues[i].title, expect);
    char uname[32];
    snprintf(uname, sizeof uname, "ue-E%zu", i + 1);
    demo_say("  %s (%s)\n", rogues[i].title, rogues[i].host);
    t0 = imsec_hostnet_now();
    demo_ue *ue = ue_new(uname, imsec_fx_sub_by(&demo_fx, "E"), rogues[i].port,
                         rogues[i].host);
    if (ue && imsec_hostnet_start(ue->run) == 0) {
      imsec_ue_state st = ue_wait_settled(ue, DEMO_WAIT_MS);
      imsec_ue_status s = ue_status(ue);
      usleep(30000);
      t1 = imsec_hostnet_now();
      size_t flows = 0;
      /* What the UE sent, and what the rogue says it received. */
      size_t sent = ladder_count(uname, "", t0, t1, &flows);
      size_t got = ladder_received(rogues[i].daemon, rogues[i].port, t0, t1);
      const char *code =
          s.trust_decided ? imsec_trust_reason_code(s.trust.reason) : "-";
      const char *when = sent ? "at the 401" : "at the TLS handshake";
      snprintf(r->got, sizeof r->got,
               "%s: %s %s; %zu message(s) sent to %s, %zu received by it",
               imsec_ue_state_name(st), code, when, sent, rogues[i].daemon,
               got);
      r->ok = st == IMSEC_UE_REFUSED && s.trust_decided &&
              s.trust.verdict == IMSEC_TRUST_REJECTED &&
              strcmp(code, rogues[i].reason) == 0 &&
              sent == rogues[i].want_sent && got == rogues[i].want_sent;
      ladder_print(t0, t1);
      demo_say("    %s -> %s: %zu message(s), refused %s: %s\n", uname,
               rogues[i].daemon, sent, when,
               s.trust_decided ? s.trust.why : s.error);
    } else {
      snprintf(r->got, sizeof r->got, "UE could not run");
    }
    ue_del(ue);
  }

  /* De-register the UEs still registered (TS 24.229 §5.1.1.6). */
  demo_ue *all[] = {ua, ub, uc, ud};
  for (size_t i = 0; i < 4; i++)
    if (all[i] && ue_status(all[i]).state == IMSEC_UE_REGISTERED)
      if (imsec_hostnet_call(all[i]->run, ue_dereg_call, all[i]) != 0)
        demo_say("    %s: cannot de-register\n", all[i]->name);
  usleep(100000);
  for (size_t i = 0; i < 4; i++)
    ue_del(all[i]);
  imsec_net_tls_del(g_ue_tls);
  g_ue_tls = NULL;
  return 0;
}
#else
int run_scenes(demo *d) {
  (void)d;
  return -1;
}
#endif
