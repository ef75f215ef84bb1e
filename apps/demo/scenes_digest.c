/* imsec demo: the softphone (demo.h, docs/DIGEST.md). Not a deployment
 * mode: scenes over M1 (`--mode digest` shows them alone).
 *
 * UE M has no ISIM: its profile names a password file (TS 33.203 Annex
 * N), and the HSS holds H(A1) for it (`imsec hss add --scheme digest`),
 * never the password. It opens TLS to the home P-CSCF and makes the same
 * trust decision on its certificate as an ISIM UE (Annex O: SIP Digest
 * only inside a TLS session). Its REGISTER carries no sec-agree: the
 * P-CSCF takes it as "TLS session before registration" (Annexes O.2,
 * P.3). The S-CSCF, seeing a SIP Digest subscriber in the HSS (Annex
 * P.4), challenges with one WWW-Authenticate per algorithm, SHA-256 first
 * then MD5 (RFC 8760 §3), qop=auth; the UE answers SHA-256 with its own
 * cnonce and nc (RFC 7616 §3.4) and checks rspauth in the 200's
 * Authentication-Info (RFC 7616 §3.5). The P-CSCF binds the IMPI and
 * IMPUs to the TLS connection on the 200 and asserts the identity of
 * later requests from that binding (Annex Q).
 *
 * Scenes: a wrong password (403, not registered); the registration; a
 * MESSAGE each way with UE B (an ISIM UE); a call each way with B. Every
 * outcome is read from the UEs' own state and what they saw on the wire
 * (their ladder), not from log text. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

#if defined(DEMO_HAVE_UE) && DEMO_HAVE_DIGEST
#include "imsec/trust.h"

/* What the S-CSCF offers and the softphone answers (RFC 8760 §3: the
 * strongest first). */
#define WANT_ALGS "SHA-256,MD5"
#define WANT_ALG "SHA-256"

static ue_opts home_opts(demo *d) {
  ue_opts o;
  memset(&o, 0, sizeof o);
  o.port = d->home[0];
  o.host = IMSEC_FX_PCSCF_HOME;
  return o;
}

/* What the softphone saw of SIP Digest, in a few words. */
static void digest_words(demo_ue *u, char *buf, size_t cap) {
  pthread_mutex_lock(&u->mu);
  snprintf(buf, cap, "401 offered %.60s; answered %.30s qop=%.15s as %.127s%s",
           u->www_algs[0] ? u->www_algs : "nothing",
           u->auth_alg[0] ? u->auth_alg : "-",
           u->auth_qop[0] ? u->auth_qop : "-",
           u->auth_user[0] ? u->auth_user : "-",
           u->auth_info_rspauth ? "; 200 with rspauth" : "");
  pthread_mutex_unlock(&u->mu);
}

/* 1. A wrong password: the S-CSCF answers 403, as to a wrong IMS AKA
 * response (docs/DIGEST.md), and the UE is not registered. Before the
 * good one, so that the failure counted against the IMPI
 * (docs/LIMITS.md) is one of the few allowed. */
static void scene_wrong(demo *d) {
  result *r =
      result_add("softphone: a wrong password (UE M)", "403, not registered");
  int64_t t0 = imsec_hostnet_now();
  imsec_fx_sub *s = imsec_fx_sub_by(&demo_fx, IMSEC_FX_DIGEST);
  char prof[1024];
  if (imsec_fx_password_variant(&demo_fx, s, "ue-M-wrong.yaml",
                                IMSEC_FX_PASSWORD_WRONG, prof,
                                sizeof prof) != 0) {
    snprintf(r->got, sizeof r->got, "cannot write the profile");
    return;
  }
  ue_opts o = home_opts(d);
  o.profile = prof;
  demo_ue *u = ue_new("ue-M-wrong", s, &o);
  if (!u) {
    snprintf(r->got, sizeof r->got, "UE could not be made");
    return;
  }
  ue_keep(u);
  if (imsec_hostnet_start(u->run) != 0) {
    snprintf(r->got, sizeof r->got, "UE could not start");
    return;
  }
  imsec_ue_state st = ue_wait_settled(u, DEMO_WAIT_MS);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  imsec_ue_status ss = ue_status(u);
  char words[512];
  digest_words(u, words, sizeof words);
  size_t f403 = ladder_count("scscf", "SIP/2.0 403", t0, t1, NULL);
  snprintf(r->got, sizeof r->got, "%s, %u; %s; %s%s%s", imsec_ue_state_name(st),
           ss.last_status, trust_words(&ss), words, ss.error[0] ? "; " : "",
           ss.error);
  r->ok = st != IMSEC_UE_REGISTERED && ss.last_status == 403 &&
          ss.registrations == 0 && f403 >= 1 && ss.trust_decided &&
          ss.trust.verdict == IMSEC_TRUST_HOME;
  demo_say("    ue-M-wrong: %s\n", ss.error[0] ? ss.error : "-");
  ladder_print(t0, t1);
}

/* The softphone, registered (kept as ue-M): made now unless an earlier
 * scene did. */
static demo_ue *softphone(demo *d, result *r) {
  demo_ue *u = ue_kept("ue-M");
  if (u) {
    imsec_ue_status s = ue_status(u);
    snprintf(r->got, sizeof r->got, "%s", imsec_ue_state_name(s.state));
    r->ok = s.state == IMSEC_UE_REGISTERED;
    return u;
  }
  ue_opts o = home_opts(d);
  return scene_register(r, "ue-M", imsec_fx_sub_by(&demo_fx, IMSEC_FX_DIGEST),
                        &o, IMSEC_TRUST_HOME);
}

/* 2. The registration: TLS, the trust decision, REGISTER (no sec-agree),
 * 401 with SHA-256 and MD5, REGISTER with SHA-256 credentials, 200 with
 * rspauth. */
static void scene_register_digest(demo *d) {
  result *r = result_add("softphone registration (UE M)",
                         "registered; 401 SHA-256,MD5; rspauth");
  int64_t t0 = imsec_hostnet_now();
  result rr = {0};
  demo_ue *u = softphone(d, &rr);
  usleep(30000);
  int64_t t1 = imsec_hostnet_now();
  if (!u || !rr.ok) {
    snprintf(r->got, sizeof r->got, "%s", rr.got);
    ladder_print(t0, t1);
    return;
  }
  imsec_ue_status s = ue_status(u);
  char words[512];
  digest_words(u, words, sizeof words);
  size_t flows = 0;
  size_t regs = ladder_count("ue-M", "REGISTER", t0, t1, &flows);
  pthread_mutex_lock(&u->mu);
  int good = strcmp(u->www_algs, WANT_ALGS) == 0 && /* no secret: names */
             strcmp(u->auth_alg, WANT_ALG) == 0 &&  /* no secret: a name */
             strcmp(u->auth_qop, "auth") == 0 &&    /* no secret: a token */
             strcmp(u->auth_user, u->prof.digest_username
                                      ? u->prof.digest_username
                                      : u->prof.impi) == 0 && /* no secret */
             u->auth_info_rspauth;
  pthread_mutex_unlock(&u->mu);
  snprintf(r->got, sizeof r->got,
           "%s, %s; %s; %zu REGISTERs on %zu "
           "connection(s)",
           imsec_ue_state_name(s.state), trust_words(&s), words, regs, flows);
  r->ok = rr.ok && good && s.challenges == 1 && regs == 2 && flows == 1 &&
          s.trust_decided && s.trust.verdict == IMSEC_TRUST_HOME;
  demo_say("    ue-M: %s\n", words);
  ladder_print(t0, t1);
}

/* ue-B, registered (an ISIM UE); NULL with why in r. */
static demo_ue *isim_ue(demo *d, result *r) {
  char why[300];
  demo_ue *u = registered_ue("B", d->home[0], IMSEC_FX_PCSCF_HOME,
                             IMSEC_TRUST_HOME, why, sizeof why);
  if (!u)
    snprintf(r->got, sizeof r->got, "%s", why);
  return u;
}

/* One MESSAGE from `a` to `b`: "200, B got it as IMPU" into buf; 1 when it
 * was delivered, asserted as `a`'s IMPU by the network. */
static int one_message(demo_ue *a, demo_ue *b, const char *text, char *buf,
                       size_t cap) {
  const imsec_fx_sub *sa = imsec_fx_sub_by(&demo_fx, a->name + 3);
  const imsec_fx_sub *sb = imsec_fx_sub_by(&demo_fx, b->name + 3);
  imsec_ue_status b0 = ue_status(b);
  int code = ue_message(a, sb->impu, text, DEMO_WAIT_MS);
  char got[512], from[256];
  if (code <= 0 || !ue_wait_inbox(b, 500, got, sizeof got, from, sizeof from)) {
    snprintf(buf, cap, "%s -> %s: answer %d, inbox empty", a->name, b->name,
             code);
    return 0;
  }
  imsec_ue_status b1 = ue_status(b);
  char asserted[256];
  pthread_mutex_lock(&b->mu);
  snprintf(asserted, sizeof asserted, "%s", b->inbox_asserted);
  pthread_mutex_unlock(&b->mu);
  snprintf(buf, cap, "%s -> %s: %d, asserted %s", a->name, b->name, code,
           asserted[0] ? asserted : "(none)");
  return code == 200 && strcmp(got, text) == 0 && /* no secret: text */
         strcmp(asserted, sa->impu) == 0 &&       /* no secret: a URI */
         b1.flow == b0.flow;
}

/* 3. A MESSAGE each way: the P-CSCF asserts the softphone's identity from
 * its TLS binding (Annex Q); B's comes asserted by B's P-CSCF. */
static void scene_messages(demo *d) {
  result *r = result_add("MESSAGE M -> B and B -> M",
                         "200 each way, the sender asserted");
  int64_t t0 = imsec_hostnet_now();
  result rm = {0};
  demo_ue *um = softphone(d, &rm);
  demo_ue *ub = um && rm.ok ? isim_ue(d, r) : NULL;
  if (!um || !rm.ok || !ub) {
    if (!um || !rm.ok)
      snprintf(r->got, sizeof r->got, "UE M: %.400s", rm.got);
    scene_ladder(t0);
    return;
  }
  char one[400], two[400];
  int ok1 = one_message(um, ub, "Hello B, a softphone here (SIP Digest).", one,
                        sizeof one);
  int ok2 =
      one_message(ub, um, "Hello M, this is B with an ISIM.", two, sizeof two);
  snprintf(r->got, sizeof r->got, "%s; %s", one, two);
  r->ok = ok1 && ok2;
  scene_ladder(t0);
}

#if DEMO_HAVE_CALLS
/* 4, 5. A call each way (INVITE, 180, 200, ACK, BYE, 200). */
static void scene_call_digest(demo *d, result *r, int from_m) {
  result rm = {0};
  demo_ue *um = softphone(d, &rm);
  demo_ue *ub = um && rm.ok ? isim_ue(d, r) : NULL;
  if (!um || !rm.ok || !ub) {
    if (!um || !rm.ok)
      snprintf(r->got, sizeof r->got, "UE M: %.400s", rm.got);
    return;
  }
  if (from_m)
    call_scene(r, um, ub, "pcscf-home");
  else
    call_scene(r, ub, um, "pcscf-home");
}

static void scene_call_m_b(demo *d) {
  result *r = result_add("call M -> B", "INVITE 180 200 ACK BYE 200, on B's "
                                        "flow");
  scene_call_digest(d, r, 1);
}

static void scene_call_b_m(demo *d) {
  result *r = result_add("call B -> M", "the same, on the softphone's flow");
  scene_call_digest(d, r, 0);
}
#define CALL_SCENE(fn) fn
#else
#define CALL_SCENE(fn) NULL
#endif

#define SCENE(fn) fn
#else
#define SCENE(fn) NULL
#define CALL_SCENE(fn) NULL
#endif

const demo_scene demo_scenes_digest[] = {
    {DEMO_DIGEST, 1,
     "softphone refused: UE M (no ISIM) with a wrong password -> home "
     "P-CSCF -> S-CSCF: 401 (SHA-256, MD5), REGISTER, 403",
     SCENE(scene_wrong)},
    {DEMO_DIGEST, 1,
     "softphone: UE M registers with SIP Digest over TLS (Annexes N, O): no "
     "sec-agree, 401 with SHA-256 then MD5, 200 with rspauth",
     SCENE(scene_register_digest)},
    {DEMO_DIGEST, 1,
     "softphone: MESSAGE M -> B (ISIM) and B -> M, M's identity asserted "
     "from its TLS binding (Annex Q)",
     SCENE(scene_messages)},
    {DEMO_DIGEST, 1,
     "softphone call: UE M -> home P-CSCF -> S-CSCF -> UE B, B answers, M "
     "hangs up",
     CALL_SCENE(scene_call_m_b)},
    {DEMO_DIGEST, 1,
     "softphone call: UE B -> S-CSCF -> home P-CSCF -> UE M over its "
     "registered TLS flow, M answers, B hangs up",
     CALL_SCENE(scene_call_b_m)},
};
const size_t demo_n_scenes_digest =
    sizeof demo_scenes_digest / sizeof demo_scenes_digest[0];
