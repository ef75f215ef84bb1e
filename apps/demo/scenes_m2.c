/* imsec demo: modes M2a and M2b (demo.h, DESIGN.md §2).
 *
 * M2a, mutual TLS: UE F shows its client certificate (sip:IMPI, under the
 * home operator CA) to a P-CSCF that requires one; the P-CSCF takes the
 * IMPI from it and the REGISTER's must match. Refused: UE E shows F's
 * certificate -> 403, nothing reaches the S-CSCF.
 *
 * M2b, the UE is a TLS server too: UE G registers, says where it listens
 * in its Contact and closes its connection; a MESSAGE from UE I makes the
 * P-CSCF open TLS to G, show its own certificate as client and check
 * that G's server certificate names G's IMPI. Refused: UE H serves a
 * certificate naming G -> the P-CSCF delivers nothing, the caller gets
 * 480. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#if defined(DEMO_HAVE_UE) && DEMO_HAVE_M2
#include "imsec/trust.h"

/* ---------------------------------------------------------------- M2a */

/* The P-CSCF's own words on what it decided, when it said them. */
static void pcscf_says(const char *who, size_t mark, const char *needle,
                       char *line, size_t cap) {
  line[0] = 0;
  if (child_log_wait(who, mark, needle, 500, line, cap))
    demo_say("    %s: %s\n", who, line);
}

static void scene_m2a(demo *d) {
  result *r = result_add("M2a: client certificate (UE F)",
                         "registered; IMPI taken from the cert");
  int64_t t0 = imsec_hostnet_now();
  size_t mark = child_log_mark("pcscf-m2a");
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, "F");
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->m2a[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  result rf = {0};
  demo_ue *u = scene_register(&rf, "ue-F", s, &o, IMSEC_TRUST_HOME);
  char said[256], want[200];
  snprintf(want, sizeof want, "presents the certificate of IMPI %s", s->impi);
  pcscf_says("pcscf-m2a", mark, want, said, sizeof said);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t fwd = ladder_count("pcscf-m2a", "REGISTER", t0, t1, NULL);
  snprintf(r->got, sizeof r->got,
           "%.700s; %zu REGISTERs relayed; certificate of %s", rf.got, fwd,
           said[0] ? s->impi : "(not seen)");
  r->ok = u && rf.ok && fwd == 2 && said[0];
  ladder_print(t0, t1);
}

static void scene_m2a_refused(demo *d) {
  result *r = result_add("M2a refused: other IMPI's cert",
                         "403, 0 REGISTERs relayed to the S-CSCF");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *e = imsec_fx_sub_by(&demo_fx, "E"),
               *f = imsec_fx_sub_by(&demo_fx, "F");
  char prof[1024];
  /* E's profile names F's certificate and key (cert_file, key_file). */
  if (imsec_fx_profile_variant(&demo_fx, e, "ue-E-m2a.yaml", "ue-F.chain.pem",
                               "ue-F.key", NULL, prof, sizeof prof) != 0) {
    snprintf(r->got, sizeof r->got, "cannot write UE E's profile");
    return;
  }
  demo_say("    UE E (IMPI %s) shows the certificate of sip:%s\n", e->impi,
           f->impi);
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.profile = prof;
  o.port = d->m2a[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  size_t mark = child_log_mark("pcscf-m2a");
  demo_ue *u = ue_new("ue-E-m2a", e, &o);
  if (!u || imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not run");
    ue_del(u);
    return;
  }
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  imsec_ue_status s = ue_status(u);
  char said[256];
  pcscf_says("pcscf-m2a", mark, "is not the IMPI of the client certificate",
             said, sizeof said);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  size_t fwd = ladder_count("pcscf-m2a", "REGISTER", t0, t1, NULL);
  snprintf(r->got, sizeof r->got, "%s, %u; %zu REGISTERs relayed%s",
           imsec_ue_state_name(st), s.last_status, fwd,
           said[0] ? "; the P-CSCF logged why" : "");
  r->ok = st == IMSEC_UE_FAILED && s.last_status == 403 && fwd == 0 && said[0];
  ladder_print(t0, t1);
  ue_del(u);
}

/* ---------------------------------------------------------------- M2b */

/* The caller of the M2b scenes: UE I, registered at the home P-CSCF. */
static demo_ue *caller(demo *d, result *r) {
  demo_ue *u = ue_kept("ue-I");
  if (u) {
    r->ok = ue_status(u).state == IMSEC_UE_REGISTERED;
    return u;
  }
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->home[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  return scene_register(r, "ue-I", imsec_fx_sub_by(&demo_fx, "I"), &o,
                        IMSEC_TRUST_HOME);
}

/* UE `label` registered at the M2b P-CSCF, listening with the
 * certificate of its profile (cert_file, key_file), its registration
 * connection closed. */
static demo_ue *listening_ue(demo *d, const char *label, result *r) {
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, label);
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->m2b[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  o.listen = 1;
  o.close_after_register = 1;
  char name[32];
  snprintf(name, sizeof name, "ue-%s", label);
  return scene_register(r, name, s, &o, IMSEC_TRUST_HOME);
}

/* Wait until the UE has no flow (it closed its registration
 * connection). */
static int closed_flow(demo_ue *u) {
  for (int i = 0; i < 200; i++) {
    if (ue_status(u).flow == 0)
      return 1;
    usleep(2000);
  }
  return 0;
}

static void scene_m2b(demo *d) {
  result *r = result_add("M2b: P-CSCF dials UE G back",
                         "200; G got it on the P-CSCF's connection");
  int64_t t0 = imsec_hostnet_now();
  result ri = {0}, rg = {0};
  demo_ue *ui = caller(d, &ri);
  demo_ue *ug = listening_ue(d, "G", &rg);
  if (!ui || !ug || !ri.ok || !rg.ok) {
    snprintf(r->got, sizeof r->got, "UE I: %.400s; UE G: %.400s", ri.got,
             rg.got);
    scene_ladder(t0);
    return;
  }
  int closed = closed_flow(ug);
  demo_say("    ue-G: registered with Contact <%s>; connection %s\n",
           ug->contact, closed ? "closed" : "still open");
  size_t mark = child_log_mark("pcscf-m2b");
  const char *text = "Hello G, the P-CSCF dials you.";
  int code =
      ue_message(ui, imsec_fx_sub_by(&demo_fx, "G")->impu, text, DEMO_WAIT_MS);
  char got[512], from[256], said[256];
  int in =
      code == 200 && ue_wait_inbox(ug, 500, got, sizeof got, from, sizeof from);
  pcscf_says("pcscf-m2b", mark, "has no live flow: dialling", said,
             sizeof said);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  /* G registered on its own connection and answered the MESSAGE on the
   * one the P-CSCF opened. */
  uint64_t reg_flow = ladder_last_flow("ue-G", "REGISTER", t0, t1);
  uint64_t ans_flow = ladder_last_flow("ue-G", "SIP/2.0 200", t0, t1);
  snprintf(r->got, sizeof r->got,
           "%d; registration connection %s; G %s on %s connection", code,
           closed ? "closed" : "open", in ? "got it" : "got nothing",
           ans_flow && ans_flow != reg_flow ? "the P-CSCF's" : "its own");
  r->ok = closed && code == 200 && in && strcmp(got, text) == 0 && reg_flow &&
          ans_flow && ans_flow != reg_flow && said[0];
  ladder_print(t0, t1);
}

static void scene_m2b_refused(demo *d) {
  result *r = result_add("M2b refused: wrong UE cert",
                         "480 to the caller, H gets nothing");
  int64_t t0 = imsec_hostnet_now();
  result ri = {0}, rh = {0};
  demo_ue *ui = caller(d, &ri);
  demo_say("    UE H serves a certificate naming sip:%s\n",
           imsec_fx_sub_by(&demo_fx, "G")->impi);
  demo_ue *uh = listening_ue(d, "H", &rh);
  if (!ui || !uh || !ri.ok || !rh.ok) {
    snprintf(r->got, sizeof r->got, "UE I: %.400s; UE H: %.400s", ri.got,
             rh.got);
    scene_ladder(t0);
    return;
  }
  int closed = closed_flow(uh);
  size_t mark = child_log_mark("pcscf-m2b");
  int64_t tm = imsec_hostnet_now();
  int code = ue_message(ui, imsec_fx_sub_by(&demo_fx, "H")->impu, "Hello H?",
                        DEMO_WAIT_MS);
  char got[512], from[256], said[256];
  int in = ue_wait_inbox(uh, 100, got, sizeof got, from, sizeof from);
  pcscf_says("pcscf-m2b", mark, "impi-mismatch", said, sizeof said);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  /* The P-CSCF sent H nothing: the certificate was judged first. */
  size_t to_h = ladder_received("ue-H", 0, tm, t1);
  snprintf(r->got, sizeof r->got, "%d to the caller; H got %s%s", code,
           in || to_h ? "a message" : "nothing",
           said[0] ? "; the P-CSCF logged impi-mismatch" : "");
  r->ok = closed && code == 480 && !in && to_h == 0 && said[0];
  ladder_print(t0, t1);
}

#define SCENE(fn) fn
#else
#define SCENE(fn) NULL
#endif

const demo_scene demo_scenes_m2[] = {
    {DEMO_M2A, 1,
     "M2a: UE F shows its client certificate; the P-CSCF requires one and "
     "takes the IMPI from it",
     SCENE(scene_m2a)},
    {DEMO_M2A, 1,
     "M2a refused: UE E shows the certificate of another IMPI (F's) -> 403",
     SCENE(scene_m2a_refused)},
    {DEMO_M2B, 1,
     "M2b: UE G listens with a server certificate and closes its "
     "connection; a MESSAGE from UE I makes the P-CSCF dial G",
     SCENE(scene_m2b)},
    {DEMO_M2B, 1,
     "M2b refused: UE H's server certificate names another IMPI -> the "
     "P-CSCF delivers nothing, the caller gets 480",
     SCENE(scene_m2b_refused)},
};
const size_t demo_n_scenes_m2 =
    sizeof demo_scenes_m2 / sizeof demo_scenes_m2[0];
