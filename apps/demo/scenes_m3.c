/* imsec demo: mode M3, shared-key TLS (demo.h, DESIGN.md §2): TLS 1.3
 * external PSK with ECDHE (TLS 1.2 ECDHE-PSK), no certificate exchanged.
 * Digest AKA to the home S-CSCF stays.
 *
 * Configured: UE J's profile names its PSK (identity: its IMPI); the
 * P-CSCF reads the same key from its PSK file. Refused: UE E offers its
 * identity with a key the P-CSCF does not have -> the handshake fails,
 * no SIP message is sent.
 *
 * AKA-derived (this project's profile, not a 3GPP one, docs/M3.md): UE K
 * registers with a certificate handshake; both ends derive a PSK from
 * CK||IK (TS 33.220 Annex B KDF). K closes its connection and comes back
 * with the derived key (no certificate, no REGISTER), the P-CSCF moves
 * K's registration to the new flow, and a MESSAGE from K to itself goes
 * out and comes back over it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#if defined(DEMO_HAVE_UE) && DEMO_HAVE_M3
#include "imsec/trust.h"

/* Make and start a UE; NULL (row said) when it could not run. */
static demo_ue *start_ue(result *r, const char *name, const imsec_fx_sub *s,
                         const ue_opts *o, int keep) {
  demo_ue *u = ue_new(name, s, o);
  if (!u || imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not run");
    ue_del(u);
    return NULL;
  }
  if (keep)
    ue_keep(u);
  return u;
}

static void scene_m3(demo *d) {
  result *r = result_add("M3: configured PSK (UE J)",
                         "registered over the PSK, no certificate");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, "J");
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->m3[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.psk = 1;
  demo_ue *u = start_ue(r, "ue-J", s, &o, 1);
  if (!u)
    return;
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status ss = ue_status(u);
  snprintf(r->got, sizeof r->got, "%s, tls: %s, %u challenge(s)%s%s",
           imsec_ue_state_name(st), imsec_ue_tls_mode_name(ss.tls_mode),
           ss.challenges, ss.error[0] ? "; " : "", ss.error);
  r->ok = st == IMSEC_UE_REGISTERED && ss.tls_mode == IMSEC_UE_TLS_PSK &&
          ss.challenges == 1 && !ss.trust_decided;
  demo_say("    ue-J: PSK identity %s; the key proves the P-CSCF, the "
           "realm of the challenge is still checked\n",
           s->impi);
  scene_ladder(t0);
}

static void scene_m3_refused(demo *d) {
  result *r = result_add("M3 refused: wrong key (UE E)",
                         "handshake fails, 0 messages sent");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *e = imsec_fx_sub_by(&demo_fx, "E");
  char prof[1024];
  if (imsec_fx_profile_variant(&demo_fx, e, "ue-E-m3.yaml", NULL, NULL,
                               IMSEC_FX_PSK_WRONG, prof, sizeof prof) != 0) {
    snprintf(r->got, sizeof r->got, "cannot write UE E's profile");
    return;
  }
  demo_say("    UE E offers its identity %s with a key the P-CSCF does not "
           "have\n",
           e->impi);
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.profile = prof;
  o.port = d->m3[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.psk = 1;
  demo_ue *u = start_ue(r, "ue-E-m3", e, &o, 0);
  if (!u)
    return;
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status s = ue_status(u);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t sent = ladder_count("ue-E-m3", "", t0, t1, NULL);
  size_t got = ladder_received("pcscf-m3", d->m3[0], t0, t1);
  snprintf(r->got, sizeof r->got,
           "%s%s%.300s; %zu message(s) sent, %zu received by the P-CSCF",
           imsec_ue_state_name(st), s.error[0] ? ": " : "", s.error, sent, got);
  r->ok =
      st == IMSEC_UE_FAILED && s.registrations == 0 && sent == 0 && got == 0;
  ladder_print(t0, t1);
  ue_del(u);
}

static void reconnect_call(void *self, imsec_time_ms now, imsec_out *out,
                           void *arg) {
  (void)self;
  demo_ue *u = arg;
  if (imsec_ue_reconnect(u->ue, now, out) < 0)
    (void)imsec_out_log(out, IMSEC_LOG_WARN, "cannot reconnect", NULL);
}

static void scene_m3_aka(demo *d) {
  result *r = result_add("M3: AKA-derived PSK (UE K)",
                         "reconnects on the PSK; MESSAGE over it");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, "K");
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->m3[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.aka_psk = 1;
  result rk = {0};
  demo_ue *u = scene_register(&rk, "ue-K", s, &o, IMSEC_TRUST_HOME);
  imsec_ue_status s0 = u ? ue_status(u) : (imsec_ue_status){0};
  if (!u || !rk.ok) {
    snprintf(r->got, sizeof r->got, "%.900s", rk.got);
    scene_ladder(t0);
    return;
  }
  demo_say("    ue-K: registered over %s; closes its connection and comes "
           "back with the PSK derived from CK||IK\n",
           imsec_ue_tls_mode_name(s0.tls_mode));
  if (imsec_hostnet_call_wait(u->run, reconnect_call, u, 1000) != 0) {
    snprintf(r->got, sizeof r->got, "cannot ask UE K to reconnect");
    return;
  }
  int64_t end = imsec_hostnet_now() + DEMO_WAIT_MS;
  imsec_ue_status s1 = s0;
  while (imsec_hostnet_now() < end) {
    s1 = ue_status(u);
    if (s1.flow != 0 && s1.flow != s0.flow && s1.state == IMSEC_UE_REGISTERED)
      break;
    usleep(2000);
  }
  demo_say("    ue-K: flow %llu (%s) closed; flow %llu up on %s, no "
           "REGISTER on it\n",
           (unsigned long long)s0.flow, imsec_ue_tls_mode_name(s0.tls_mode),
           (unsigned long long)s1.flow, imsec_ue_tls_mode_name(s1.tls_mode));
  /* K sends to itself: out over the new flow, and back over it, as the
   * P-CSCF moved K's binding there. */
  const char *text = "Hello me, over the derived key.";
  int code = ue_message(u, s->impu, text, DEMO_WAIT_MS);
  char got[512], from[256];
  int in =
      code == 200 && ue_wait_inbox(u, 500, got, sizeof got, from, sizeof from);
  imsec_ue_status s2 = ue_status(u);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t flows = 0;
  size_t regs = ladder_count("ue-K", "REGISTER", t0, t1, &flows);
  snprintf(r->got, sizeof r->got,
           "first %s, then %s; %zu REGISTERs, %u challenge(s); MESSAGE %d, "
           "%s",
           imsec_ue_tls_mode_name(s0.tls_mode),
           imsec_ue_tls_mode_name(s2.tls_mode), regs, s2.challenges, code,
           in ? "came back over the new flow" : "did not come back");
  r->ok = s0.tls_mode == IMSEC_UE_TLS_CERT &&
          s2.tls_mode == IMSEC_UE_TLS_PSK_AKA && s1.flow != s0.flow &&
          s2.flow == s1.flow && regs == 2 && s2.challenges == 1 &&
          code == 200 && in && strcmp(got, text) == 0;
  ladder_print(t0, t1);
}

#define SCENE(fn) fn
#else
#define SCENE(fn) NULL
#endif

const demo_scene demo_scenes_m3[] = {
    {DEMO_M3, 1,
     "M3 configured: UE J and the P-CSCF share a key (identity: the IMPI); "
     "no certificate exchanged",
     SCENE(scene_m3)},
    {DEMO_M3, 1,
     "M3 refused: UE E offers its identity with a wrong key -> the "
     "handshake fails",
     SCENE(scene_m3_refused)},
    {DEMO_M3, 1,
     "M3 AKA-derived: UE K registers (certificate), reconnects with the "
     "key derived from CK||IK and sends a MESSAGE to itself over the new "
     "flow",
     SCENE(scene_m3_aka)},
};
const size_t demo_n_scenes_m3 =
    sizeof demo_scenes_m3 / sizeof demo_scenes_m3[0];
