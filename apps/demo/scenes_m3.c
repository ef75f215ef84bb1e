/* imsec demo: mode M3, shared-key TLS (demo.h, DESIGN.md §2): TLS 1.3
 * external PSK with ECDHE (TLS 1.2 ECDHE-PSK), no certificate exchanged.
 * Digest AKA to the home S-CSCF stays.
 *
 * Configured: UE J's profile names its PSK (identity: its IMPI); the
 * P-CSCF reads the same key from its PSK file. Refused: UE E offers its
 * identity with a key the P-CSCF does not have -> the handshake fails,
 * no SIP message is sent.
 *
 * AKA-derived (this project's profile, not a 3GPP one): UE K registers
 * with a certificate handshake; both ends derive a PSK from CK||IK (TS
 * 33.220 Annex B KDF). The network drops K's connection; K comes back
 * with the derived key, the P-CSCF moves K's registration to the new
 * flow, and a MESSAGE from K to itself goes out and comes back over it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#if defined(DEMO_HAVE_UE) && DEMO_HAVE_M3
#include "imsec/trust.h"

static void scene_m3(demo *d) {
  result *r = result_add("M3: configured PSK (UE J)",
                         "registered over a PSK handshake");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, "J");
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->m3[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.psk_file = s->psk_file;
  result rj = {0};
  demo_ue *u = scene_register(&rj, "ue-J", s, &o, IMSEC_TRUST_HOME);
  snprintf(r->got, sizeof r->got, "%s", rj.got);
  r->ok = u && rj.ok;
  scene_ladder(t0);
}

static void scene_m3_refused(demo *d) {
  result *r = result_add("M3 refused: wrong key (UE E)",
                         "handshake fails, 0 messages sent");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *e = imsec_fx_sub_by(&demo_fx, "E");
  char prof[1024], wrong[1024];
  if (imsec_fx_profile_variant(&demo_fx, e, "ue-E-m3.yaml", NULL, NULL,
                               IMSEC_FX_PSK_WRONG, prof, sizeof prof) != 0) {
    snprintf(r->got, sizeof r->got, "cannot write UE E's profile");
    return;
  }
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.profile = prof;
  o.port = d->m3[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.psk_file = imsec_fx_path(&demo_fx, IMSEC_FX_PSK_WRONG, wrong, sizeof wrong);
  demo_ue *u = ue_new("ue-E-m3", e, &o);
  if (!u || imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not run");
    ue_del(u);
    return;
  }
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status s = ue_status(u);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t sent = ladder_count("ue-E-m3", "", t0, t1, NULL);
  size_t got = ladder_received("pcscf-m3", d->m3[0], t0, t1);
  snprintf(r->got, sizeof r->got,
           "%s%s%s; %zu message(s) sent, %zu received by the P-CSCF",
           imsec_ue_state_name(st), s.error[0] ? ": " : "", s.error, sent, got);
  r->ok = st == IMSEC_UE_FAILED && sent == 0 && got == 0;
  ladder_print(t0, t1);
  ue_del(u);
}

static void scene_m3_aka(demo *d) {
  result *r = result_add("M3: AKA-derived PSK (UE K)",
                         "reconnects with the PSK; MESSAGE over it");
  int64_t t0 = imsec_hostnet_now();
  relay *link = relay_new(1, d->m3[0], 0, "link-K");
  if (!link) {
    snprintf(r->got, sizeof r->got, "no link");
    return;
  }
  relay_keep(link);
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, "K");
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = relay_port(link);
  o.host = IMSEC_FX_PCSCF_HOME;
  o.aka_psk = 1;
  result rk = {0};
  demo_ue *u = scene_register(&rk, "ue-K", s, &o, IMSEC_TRUST_HOME);
  if (!u || !rk.ok) {
    snprintf(r->got, sizeof r->got, "%s", rk.got);
    scene_ladder(t0);
    return;
  }
  imsec_ue_status s0 = ue_status(u);
  demo_say("    the network drops UE K's connection\n");
  relay_cut(link);
  /* K comes back on its own (back-off 50 ms) with the derived key. */
  int64_t end = imsec_hostnet_now() + DEMO_WAIT_MS;
  imsec_ue_status s1 = s0;
  while (imsec_hostnet_now() < end) {
    s1 = ue_status(u);
    if (s1.flow != 0 && s1.flow != s0.flow && s1.state == IMSEC_UE_REGISTERED)
      break;
    usleep(2000);
  }
  const char *text = "Hello me, over the derived key.";
  int code = ue_message(u, s->impu, text, DEMO_WAIT_MS);
  char got[512], from[256];
  int in =
      code == 200 && ue_wait_inbox(u, 500, got, sizeof got, from, sizeof from);
  imsec_ue_status s2 = ue_status(u);
  snprintf(r->got, sizeof r->got,
           "%u reconnect, %u challenge(s); MESSAGE %d, %s", s2.reconnects,
           s2.challenges, code, in ? "came back over the new flow" : "lost");
  r->ok = s1.flow != s0.flow && s2.flow == s1.flow && s2.reconnects == 1 &&
          code == 200 && in && strcmp(got, text) == 0;
  scene_ladder(t0);
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
     "M3 AKA-derived: UE K registers, the network drops its connection, K "
     "reconnects with the key derived from CK||IK and sends a MESSAGE to "
     "itself",
     SCENE(scene_m3_aka)},
};
const size_t demo_n_scenes_m3 =
    sizeof demo_scenes_m3 / sizeof demo_scenes_m3[0];
