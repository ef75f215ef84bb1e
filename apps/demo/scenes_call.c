/* imsec demo: calls (demo.h, docs/CALLS.md). Not a deployment mode: two
 * scenes over M1 (`--mode call` shows them alone).
 *
 * Home: UE A calls UE B, both registered through the home P-CSCF. The
 * INVITE (an SDP offer) goes A -> P-CSCF -> S-CSCF (originating, then
 * terminating to B's registered contact) -> P-CSCF -> B over B's
 * registered TLS flow; B rings (180) and answers (200 with the SDP
 * answer); A ACKs along the route set the Record-Route entries made (RFC
 * 3261 §12.1.2: both proxies stay in the dialog, the P-CSCF's flow token
 * brings every in-dialog request to B over its flow, TS 24.229 §5.2.6.3,
 * RFC 5626 §5.3); A hangs up (BYE) and B answers 200.
 *
 * Roaming: UE C, registered through the visited network's P-CSCF, calls
 * UE B the same way; the visited P-CSCF is the first hop and stays in the
 * dialog.
 *
 * Every outcome is read from the UEs' own call state (imsec_ue_call_get):
 * the caller's final status, its BYE's status, the callee's view of the
 * same Call-ID and who called; the ladder says which flows carried it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#ifdef DEMO_HAVE_UE
#include "imsec/trust.h"

/* UE `label` registered through the P-CSCF on `port` (kept as ue-LABEL),
 * made now unless an earlier scene did. NULL, with why in *why, when it is
 * not registered. */
demo_ue *registered_ue(const char *label, uint16_t port, const char *host,
                       imsec_trust_verdict want, char *why, size_t cap) {
  char name[32];
  snprintf(name, sizeof name, "ue-%s", label);
  demo_ue *u = ue_kept(name);
  result r;
  memset(&r, 0, sizeof r);
  if (u) {
    imsec_ue_status s = ue_status(u);
    snprintf(r.got, sizeof r.got, "%s", imsec_ue_state_name(s.state));
    r.ok = s.state == IMSEC_UE_REGISTERED;
  } else {
    ue_opts o;
    memset(&o, 0, sizeof o);
    o.port = port;
    o.host = host;
    u = scene_register(&r, name, imsec_fx_sub_by(&demo_fx, label), &o, want);
  }
  if (!u || !r.ok) {
    snprintf(why, cap, "UE %s: %.200s", label, r.got);
    return NULL;
  }
  return u;
}

#if DEMO_HAVE_CALLS
static const char *end_words(imsec_ue_call_end e) {
  switch (e) {
  case IMSEC_UE_END_NONE:
    return "not ended";
  case IMSEC_UE_END_LOCAL_BYE:
    return "hung up (BYE)";
  case IMSEC_UE_END_REMOTE_BYE:
    return "ended by the other side's BYE";
  case IMSEC_UE_END_CANCELLED:
    return "cancelled";
  case IMSEC_UE_END_REJECTED:
    return "rejected";
  case IMSEC_UE_END_TIMEOUT:
    return "timed out";
  case IMSEC_UE_END_FLOW_LOST:
    return "flow lost";
  }
  return "?";
}

/* Messages `who` sent between t0 and t1 whose start line begins with each
 * of the words, written as "INVITE 1, ACK 1, ..." into buf. */
static void sent_words(const char *who, const char *const *words, size_t n,
                       int64_t t0, int64_t t1, char *buf, size_t cap,
                       size_t *counts) {
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; i < n; i++) {
    counts[i] = ladder_count(who, words[i], t0, t1, NULL);
    int w = snprintf(buf + off, cap - off, "%s%s %zu", i ? ", " : "", words[i],
                     counts[i]);
    if (w < 0 || (size_t)w >= cap - off)
      break;
    off += (size_t)w;
  }
}

/* One call: `caller` calls `callee` (each named ue-LABEL on the ladder),
 * the callee answers, the caller hangs up. `proxy` is the caller's P-CSCF
 * on the ladder. */
void call_scene(result *r, demo_ue *caller, demo_ue *callee,
                const char *proxy) {
  const imsec_fx_sub *sb = imsec_fx_sub_by(&demo_fx, callee->name + 3);
  const char *caller_impu =
      imsec_fx_sub_by(&demo_fx, caller->name + 3 /* "ue-" */)->impu;
  imsec_ue_status sb0 = ue_status(callee);
  int64_t t0 = imsec_hostnet_now();
  demo_say("    %s calls %s\n", caller->name, sb->impu);
  int h = ue_call(caller, sb->impu);
  if (h <= 0) {
    snprintf(r->got, sizeof r->got, "the UE refused to call: %s",
             imsec_strerror(h));
    scene_ladder(t0);
    return;
  }
  imsec_ue_call_info a, b;
  memset(&b, 0, sizeof b);
  /* Up when the caller has the 200 and sent its ACK; then the callee
   * sees the ACK (its side confirmed) before the caller hangs up, so the
   * ladder reads in order. */
  int up = ue_call_wait(caller, h, NULL, IMSEC_UE_CALL_CONFIRMED, DEMO_WAIT_MS,
                        &a) &&
           a.state == IMSEC_UE_CALL_CONFIRMED;
  if (up)
    (void)ue_call_wait(callee, 0, a.call_id, IMSEC_UE_CALL_CONFIRMED, 1000, &b);
  if (!up) {
    (void)ue_call_find(callee, 0, a.call_id, &b);
    snprintf(r->got, sizeof r->got,
             "the call did not come up: %s got %u (%s); %s: %s", caller->name,
             a.final_status, end_words(a.end), callee->name,
             b.handle ? "saw the INVITE" : "saw no INVITE");
    if (a.handle && a.state < IMSEC_UE_CALL_ENDING)
      (void)ue_hangup(caller, h);
    scene_ladder(t0);
    return;
  }
  int hrc = ue_hangup(caller, h);
  (void)ue_call_wait(caller, h, NULL, IMSEC_UE_CALL_ENDED, DEMO_WAIT_MS, &a);
  (void)ue_call_wait(callee, 0, a.call_id, IMSEC_UE_CALL_ENDED, 1000, &b);
  usleep(30000); /* the last ladder lines of the children */
  int64_t t1 = imsec_hostnet_now();
  imsec_ue_status sb1 = ue_status(callee);
  /* What the UEs sent, and the flows that carried the callee's. */
  static const char *const aw[] = {"INVITE", "ACK", "BYE"};
  static const char *const bw[] = {"SIP/2.0 180", "SIP/2.0 200"};
  size_t ac[3], bc[2], bflows = 0;
  char as[128], bs[128];
  sent_words(caller->name, aw, 3, t0, t1, as, sizeof as, ac);
  sent_words(callee->name, bw, 2, t0, t1, bs, sizeof bs, bc);
  (void)ladder_count(callee->name, "SIP/2.0", t0, t1, &bflows);
  uint64_t bflow = ladder_last_flow(callee->name, "SIP/2.0 200", t0, t1);
  /* The flow B registered on (its last REGISTER, whenever it was). */
  uint64_t breg = ladder_last_flow(callee->name, "REGISTER", 0, t1);
  size_t via_proxy = ladder_count(proxy, "INVITE", t0, t1, NULL);
  size_t all = 0;
  const char *const whos[] = {caller->name, callee->name, "pcscf-home", "scscf",
                              "pcscf-visited"};
  for (size_t i = 0; i < sizeof whos / sizeof whos[0]; i++)
    all += ladder_count(whos[i], "", t0, t1, NULL);
  int on_flow = bflows == 1 && bflow && bflow == breg && sb1.flow == sb0.flow &&
                sb1.reconnects == sb0.reconnects;
  snprintf(r->got, sizeof r->got,
           "%u, %s %u%s; %s: call from %s answered, %s; %s sent %s; %s sent "
           "%s%s; %zu messages",
           a.final_status, end_words(a.end), a.bye_status,
           hrc ? " (hang-up refused)" : "", callee->name,
           b.peer[0] ? b.peer : "?", end_words(b.end), caller->name, as,
           callee->name, bs, on_flow ? " on its registered flow" : "", all);
  r->ok = a.final_status == 200 && a.state == IMSEC_UE_CALL_ENDED &&
          a.end == IMSEC_UE_END_LOCAL_BYE && a.bye_status == 200 && b.handle &&
          b.incoming && b.state == IMSEC_UE_CALL_ENDED &&
          b.end == IMSEC_UE_END_REMOTE_BYE &&
          strcmp(b.peer, caller_impu) == 0 && /* no secret: a URI */
          ac[0] == 1 && ac[1] == 1 && ac[2] == 1 && bc[0] == 1 && bc[1] >= 2 &&
          on_flow && via_proxy >= 1;
  demo_say("    %s: %u in %.0f ms (INVITE sent -> 200 received), BYE %u; %s "
           "answered on its registered flow\n",
           caller->name, a.final_status, (double)(a.answered_at - a.started_at),
           a.bye_status, callee->name);
  ladder_print(t0, t1);
}

/* A scene: `caller`, registered through the P-CSCF on port `net` (host
 * `fx`, judged `trust`; `pcscf` on the ladder), calls B registered at
 * home. */
static void scene_call(demo *d, const char *title, const char *expect,
                       const char *caller, uint16_t net, const char *fx,
                       imsec_trust_verdict trust, const char *pcscf) {
  result *r = result_add(title, expect);
  char why[300];
  demo_ue *ua = registered_ue(caller, net, fx, trust, why, sizeof why);
  demo_ue *ub = ua ? registered_ue("B", d->home[0], IMSEC_FX_PCSCF_HOME,
                                   IMSEC_TRUST_HOME, why, sizeof why)
                   : NULL;
  if (!ua || !ub) {
    snprintf(r->got, sizeof r->got, "%s", why);
    return;
  }
  call_scene(r, ua, ub, pcscf);
}

/* 1. Home: A -> home P-CSCF -> S-CSCF -> home P-CSCF -> B. */
static void scene_call_home(demo *d) {
  scene_call(d, "call A -> B (home)", "INVITE 180 200 ACK BYE 200, on B's flow",
             "A", d->home[0], IMSEC_FX_PCSCF_HOME, IMSEC_TRUST_HOME,
             "pcscf-home");
}

/* 2. Roaming: C -> visited P-CSCF -> home S-CSCF -> home P-CSCF -> B. */
static void scene_call_roaming(demo *d) {
  scene_call(d, "call C -> B (roaming)", "the same through the visited P-CSCF",
             "C", d->visited[0], IMSEC_FX_PCSCF_VISITED, IMSEC_TRUST_PARTNER,
             "pcscf-visited");
}

#define SCENE(fn) fn
#endif /* DEMO_HAVE_CALLS */
#endif /* DEMO_HAVE_UE */
#if !defined(DEMO_HAVE_UE) || !DEMO_HAVE_CALLS
#define SCENE(fn) NULL
#endif

const demo_scene demo_scenes_call[] = {
    {DEMO_CALL, 1,
     "call: UE A -> home P-CSCF -> S-CSCF -> home P-CSCF -> UE B (INVITE, "
     "180, 200, ACK), then A hangs up (BYE, 200), all over the registered "
     "TLS flows",
     SCENE(scene_call_home)},
    {DEMO_CALL, 1,
     "roaming call: UE C -> visited P-CSCF (MNC 002) -> home S-CSCF -> home "
     "P-CSCF -> UE B, B answers, C hangs up",
     SCENE(scene_call_roaming)},
};
const size_t demo_n_scenes_call =
    sizeof demo_scenes_call / sizeof demo_scenes_call[0];
