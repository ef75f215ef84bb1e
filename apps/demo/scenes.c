/* imsec demo: the scenes per deployment mode and the final table
 * (demo.h). A mode is a row of demo_modes and a list of scenes
 * (scenes_*.c); each scene records its rows and prints the ladder of its
 * messages. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

const demo_mode demo_modes[] = {
    {DEMO_M1, "m1",
     "M1: P-CSCF server certificate, Digest AKA (home, roaming, MESSAGE, "
     "sync failure, rogue P-CSCFs)",
     1, NULL},
    {DEMO_M2A, "m2a", "M2a: mutual TLS, the UE shows its client certificate",
     DEMO_HAVE_M2, "P-CSCF --client-cert/--ue-ca, UE certificates"},
    {DEMO_M2B, "m2b",
     "M2b: the UE serves a certificate, the P-CSCF dials it back", DEMO_HAVE_M2,
     "UE --listen/--close-after-register, P-CSCF --dial-ue"},
    {DEMO_M3, "m3",
     "M3: shared-key TLS, configured and derived from the AKA run",
     DEMO_HAVE_M3, "P-CSCF --psk-file/--aka-psk, UE PSKs"},
    {DEMO_DTLS, "dtls", "DTLS: SIP over DTLS 1.2 on UDP, a lost datagram",
     DEMO_HAVE_DTLS, "P-CSCF --listen dtls:, UE dtls:, RFC 3261 §17 timers"},
    {DEMO_CALL, "call",
     "calls: UE A calls UE B through the home P-CSCF and S-CSCF, UE C "
     "calls B from the visited network (INVITE, 180, 200, ACK, BYE, 200)",
     DEMO_HAVE_CALLS,
     "UE calls, INVITE transactions and dialogs in the P-CSCF and S-CSCF"},
    {DEMO_DIGEST, "digest",
     "softphone: SIP Digest over TLS, no ISIM (a wrong password refused; "
     "register, MESSAGEs and calls with an ISIM UE)",
     DEMO_HAVE_DIGEST,
     "SIP Digest in the HSS, S-CSCF, P-CSCF and UE (TS 33.203 Annex N)"},
};
const size_t demo_n_modes = sizeof demo_modes / sizeof demo_modes[0];

/* ---------------------------------------------------------------- results */

result demo_res[DEMO_MAX_RESULTS];
size_t demo_nres;
static unsigned g_mode_now;

result *result_add(const char *scene, const char *expect) {
  static result spare;
  if (demo_nres == DEMO_MAX_RESULTS) {
    memset(&spare, 0, sizeof spare);
    return &spare;
  }
  result *r = &demo_res[demo_nres++];
  r->mode = g_mode_now;
  snprintf(r->scene, sizeof r->scene, "%s", scene);
  snprintf(r->expect, sizeof r->expect, "%s", expect);
  snprintf(r->got, sizeof r->got, "not run");
  return r;
}

int64_t demo_mode_ms[8], demo_end_ms;

static size_t mode_index(unsigned bit) {
  for (size_t i = 0; i < demo_n_modes; i++)
    if (demo_modes[i].bit == bit)
      return i;
  return 0;
}

static const char *mode_name(unsigned bit) {
  for (size_t i = 0; i < demo_n_modes; i++)
    if (demo_modes[i].bit == bit)
      return demo_modes[i].name;
  return "?";
}

void print_table(void) {
  demo_say("\n  %-3s %-6s %-34s %-44s %s\n", "#", "mode", "scene", "expected",
           "result");
  demo_say("  %-3s %-6s %-34s %-44s %s\n", "--", "------", "-----", "--------",
           "------");
  for (size_t i = 0; i < demo_nres; i++) {
    result *r = &demo_res[i];
    demo_say("  %-3zu %-6s %-34s %-44s %s: %s\n", i + 1, mode_name(r->mode),
             r->scene, r->expect, r->ok ? "ok" : "FAILED", r->got);
  }
}

/* ---------------------------------------------------------------- runner */

typedef struct scene_list {
  unsigned mode;
  const demo_scene *scenes;
  const size_t *n;
} scene_list;

static const scene_list g_lists[] = {
    {DEMO_M1, demo_scenes_m1, &demo_n_scenes_m1},
    {DEMO_M2A | DEMO_M2B, demo_scenes_m2, &demo_n_scenes_m2},
    {DEMO_M3, demo_scenes_m3, &demo_n_scenes_m3},
    {DEMO_DTLS, demo_scenes_dtls, &demo_n_scenes_dtls},
    {DEMO_CALL, demo_scenes_call, &demo_n_scenes_call},
    {DEMO_DIGEST, demo_scenes_digest, &demo_n_scenes_digest},
};

void scene_ladder(int64_t t0) {
  usleep(30000);
  ladder_print(t0, imsec_hostnet_now());
}

#ifdef DEMO_HAVE_UE
int run_scenes(demo *d) {
  imsec_net_tls_config tc;
  memset(&tc, 0, sizeof tc);
  tc.defer_verify = 1; /* the UE's trust decision judges the chain */
  tc.ca_file = demo_path(IMSEC_FX_ROOT_CRT);
  if (imsec_net_tls_new(&g_ue_tls, &tc) != 0) {
    fprintf(stderr, "imsec demo: cannot make the UEs' TLS context\n");
    return -1;
  }
  int n = 0;
  for (size_t l = 0; l < sizeof g_lists / sizeof g_lists[0]; l++) {
    for (size_t i = 0; i < *g_lists[l].n; i++) {
      const demo_scene *sc = &g_lists[l].scenes[i];
      if (!(sc->mode & d->modes))
        continue;
      g_mode_now = sc->mode;
      demo_say("\n[%d] %s\n", ++n, sc->title);
      size_t before = demo_nres;
      int64_t t0 = imsec_hostnet_now();
      if (sc->run) /* NULL: its mode is not in this build */
        sc->run(d);
      demo_mode_ms[mode_index(sc->mode)] += imsec_hostnet_now() - t0;
      /* A scene that stopped early still owes its rows: they fail. */
      while (demo_nres - before < sc->rows)
        result_add(sc->title, "(a row the scene did not record)");
    }
  }
  int64_t t_end = imsec_hostnet_now();
  ues_finish();
  relays_finish();
  demo_end_ms = imsec_hostnet_now() - t_end;
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

size_t scenes_rows(unsigned modes) {
  size_t n = 0;
  for (size_t l = 0; l < sizeof g_lists / sizeof g_lists[0]; l++)
    for (size_t i = 0; i < *g_lists[l].n; i++)
      if (g_lists[l].scenes[i].mode & modes)
        n += g_lists[l].scenes[i].rows;
  return n;
}
