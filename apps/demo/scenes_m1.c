/* imsec demo: the scenes of mode M1 (demo.h): the P-CSCF shows a server
 * certificate, the UE makes its trust decision on it and authenticates to
 * its home S-CSCF with Digest AKA over the TLS flow. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#ifdef DEMO_HAVE_UE
#include "imsec/trust.h"

static ue_opts m1_opts(uint16_t port, const char *host) {
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = port;
  o.host = host;
  return o;
}

/* UE `label` registered through the home P-CSCF (kept as ue-LABEL), made
 * now unless an earlier scene did. */
static demo_ue *home_ue(demo *d, const char *label, result *r) {
  char name[32];
  snprintf(name, sizeof name, "ue-%s", label);
  demo_ue *u = ue_kept(name);
  if (u) {
    imsec_ue_status s = ue_status(u);
    snprintf(r->got, sizeof r->got, "%s", imsec_ue_state_name(s.state));
    r->ok = s.state == IMSEC_UE_REGISTERED;
    return u;
  }
  ue_opts o = m1_opts(d->home[0], IMSEC_FX_PCSCF_HOME);
  return scene_register(r, name, imsec_fx_sub_by(&demo_fx, label), &o,
                        IMSEC_TRUST_HOME);
}

/* 1. Home registration. */
static void scene_home(demo *d) {
  result *r = result_add("home registration (UE A)",
                         "registered, P-CSCF trusted (home)");
  int64_t t0 = imsec_hostnet_now();
  (void)home_ue(d, "A", r);
  scene_ladder(t0);
}

/* 2. Roaming registration. */
static void scene_roaming(demo *d) {
  result *r = result_add("roaming registration (UE C)",
                         "registered, P-CSCF trusted (partner)");
  int64_t t0 = imsec_hostnet_now();
  ue_opts o = m1_opts(d->visited[0], IMSEC_FX_PCSCF_VISITED);
  (void)scene_register(r, "ue-C", imsec_fx_sub_by(&demo_fx, "C"), &o,
                       IMSEC_TRUST_PARTNER);
  scene_ladder(t0);
}

/* 3. A MESSAGE from A to B over B's kept-open flow. */
static void scene_message(demo *d) {
  result *r = result_add("MESSAGE A -> B", "200 OK, delivered on B's flow");
  int64_t t0 = imsec_hostnet_now();
  result ra = {0}, rb = {0};
  demo_ue *ua = home_ue(d, "A", &ra);
  demo_ue *ub = home_ue(d, "B", &rb);
  if (!ua || !ub || !ra.ok || !rb.ok) {
    snprintf(r->got, sizeof r->got, "UE A: %.400s; UE B: %.400s", ra.got,
             rb.got);
    scene_ladder(t0);
    return;
  }
  imsec_ue_status sb0 = ue_status(ub);
  const char *text = "Hello B, this is A over TLS.";
  int code =
      ue_message(ua, imsec_fx_sub_by(&demo_fx, "B")->impu, text, DEMO_WAIT_MS);
  char got[512], from[256];
  if (code > 0 && ue_wait_inbox(ub, 500, got, sizeof got, from, sizeof from)) {
    imsec_ue_status sb1 = ue_status(ub);
    snprintf(r->got, sizeof r->got, "%d, B got \"%s\" from %s", code, got,
             from);
    r->ok = code == 200 && strcmp(got, text) == 0 && sb1.flow == sb0.flow &&
            sb1.reconnects == 0;
  } else {
    snprintf(r->got, sizeof r->got, "answer %d, B's inbox empty", code);
  }
  scene_ladder(t0);
}

/* 4. Sync failure and recovery on the same connection. */
static void scene_sync(demo *d) {
  result *r = result_add("sync failure (UE D)",
                         "AUTS, resync, registered, 1 connection");
  int64_t t0 = imsec_hostnet_now();
  result rd = {0};
  ue_opts o = m1_opts(d->home[0], IMSEC_FX_PCSCF_HOME);
  demo_ue *ud = scene_register(&rd, "ue-D", imsec_fx_sub_by(&demo_fx, "D"), &o,
                               IMSEC_TRUST_HOME);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  if (ud) {
    imsec_ue_status s = ue_status(ud);
    size_t flows = 0;
    size_t regs = ladder_count("ue-D", "REGISTER", t0, t1, &flows);
    snprintf(r->got, sizeof r->got,
             "%s; %u sync failure, %u challenges, %zu REGISTERs on %zu "
             "connection(s)",
             imsec_ue_state_name(s.state), s.sync_failures, s.challenges, regs,
             flows);
    r->ok = rd.ok && s.sync_failures == 1 && s.challenges == 2 && regs == 3 &&
            flows == 1 && s.reconnects == 0;
  } else {
    snprintf(r->got, sizeof r->got, "%s", rd.got);
  }
  ladder_print(t0, t1);
}

/* 5. Rogue P-CSCFs. A certificate that fails is refused when the TLS
 * handshake completes: the rogue receives no SIP message, so never the
 * IMPI. Only a realm that does not match waits for the challenge, after
 * the one REGISTER that asks for it. */
static void scene_rogues(demo *d) {
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
    int64_t t0 = imsec_hostnet_now();
    ue_opts o = m1_opts(rogues[i].port, rogues[i].host);
    demo_ue *ue = ue_new(uname, imsec_fx_sub_by(&demo_fx, "E"), &o);
    if (ue && imsec_hostnet_start(ue->run) == 0) {
      imsec_ue_state st = ue_wait_settled(ue, DEMO_WAIT_MS);
      imsec_ue_status s = ue_status(ue);
      usleep(30000);
      int64_t t1 = imsec_hostnet_now();
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
}

#define SCENE(fn) fn
#else
#define SCENE(fn) NULL
#endif /* DEMO_HAVE_UE */

const demo_scene demo_scenes_m1[] = {
    {DEMO_M1, 1, "home registration: UE A -> home P-CSCF -> S-CSCF/HSS",
     SCENE(scene_home)},
    {DEMO_M1, 1,
     "roaming registration: UE C -> visited P-CSCF (MNC 002) -> home S-CSCF",
     SCENE(scene_roaming)},
    {DEMO_M1, 1,
     "MESSAGE: UE A -> P-CSCF -> S-CSCF -> P-CSCF -> UE B (over B's "
     "registered TLS flow)",
     SCENE(scene_message)},
    {DEMO_M1, 1,
     "sync failure: UE D's ISIM SQN is ahead of the HSS -> AUTS -> resync "
     "-> new challenge -> 200, one TLS connection",
     SCENE(scene_sync)},
    {DEMO_M1, 3,
     "rogue P-CSCFs: a bad certificate is refused at the TLS handshake (no "
     "SIP message sent), a foreign realm at the challenge",
     SCENE(scene_rogues)},
};
const size_t demo_n_scenes_m1 =
    sizeof demo_scenes_m1 / sizeof demo_scenes_m1[0];
