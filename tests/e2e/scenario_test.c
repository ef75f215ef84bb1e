/*
 * The scenario suite, written once against tests/support/scenario.h and
 * run over both backends: sim_* in memory on a virtual clock, net_* with
 * every element on its own net port (real TLS on 127.0.0.1). The real
 * UE, P-CSCF, S-CSCF and HSS elements in both:
 *
 *   home_register    TS 33.203 §6.1 registration (mode M1: TLS to the
 *                    P-CSCF, IMS AKA) of two UEs, then a MESSAGE (RFC 3428)
 *                    A -> B through P-CSCF and S-CSCF, asserted as A
 *                    (RFC 3325) and delivered on B's registered flow;
 *   roaming          through the visited network's P-CSCF, whose
 *                    certificate comes from a roaming partner's CA;
 *   rogue_pcscf      a P-CSCF certified by an operator that is no partner,
 *                    and a self-signed one: the UE's trust decision refuses
 *                    each with its reason before anything is sent;
 *   sync_failure     TS 33.203 §6.1.3: the ISIM's SQN is ahead, the UE
 *                    answers with AUTS, the HSS resynchronises, and the UE
 *                    registers, all on its one TLS connection;
 *   deregister       TS 24.229 §5.1.1.6: REGISTER with Expires 0 removes
 *                    the registrar's contact and the P-CSCF's binding;
 *
 * and one per deployment mode (DESIGN.md §2), each with its refused case:
 *
 *   m2a_register     mutual TLS: UE client certificates (sip:IMPI); another
 *                    IMPI's certificate gets 403, none gets no connection;
 *   m2b_dial_back    the UE closes after registering and listens; a MESSAGE
 *                    makes the P-CSCF dial it; a UE certificate naming
 *                    another IMPI gets nothing and the sender 480;
 *   m3_configured    shared-key TLS with a configured PSK (identity: the
 *                    IMPI), no certificate either way; a wrong key gets no
 *                    connection;
 *   m3_aka           the PSK derived from the AKA run (CK/IK from the
 *                    S-CSCF over the mutual-TLS core, stripped from the
 *                    UE's 401): the UE reconnects with it, the binding
 *                    moves, a MESSAGE reaches the UE on the new flow;
 *   dtls_register    SIP over DTLS: the 200 to the REGISTER is lost, Timer
 *                    E and the P-CSCF's server transaction recover it; a
 *                    MESSAGE over one record gets 513;
 *
 * and SIP Digest over TLS (TS 33.203 Annexes N, O, P, Q; docs/DIGEST.md),
 * a softphone without an ISIM:
 *
 *   digest_register  the password, no sec-agree: 401 with SHA-256 then
 *                    MD5, SHA-256 credentials marked integrity-protected
 *                    by the P-CSCF, 200 with rspauth; a MESSAGE to an AKA
 *                    UE asserted from the TLS binding, one back;
 *   digest_wrong_password  403, nothing registered or bound;
 *   digest_user_part the digest username is the IMPI's user part;
 *   digest_call      calls both ways with an AKA UE, the softphone's side
 *                    over its registered flow;
 *
 * and calls (RFC 3261 §13-16, docs/CALLS.md) through the P-CSCF and the
 * S-CSCF, every in-dialog request toward a UE over its registered flow
 * (TS 24.229 §5.2.6.3, RFC 5626 §5.3):
 *
 *   call_answer        A calls B, B answers, A hangs up (BYE 200); the
 *                      Record-Route entries with each UE's flow token;
 *   call_busy          486 from B, ACKed hop by hop;
 *   call_cancel        B rings, A hangs up: CANCEL, 487;
 *   call_cancel_early  A hangs up before anything came back: its CANCEL
 *                      waits for the 180;
 *   call_forked        B's two devices ring, one answers, the S-CSCF
 *                      CANCELs the other;
 *   call_forked_both   both devices answer: A ACKs both 2xx, keeps one
 *                      and BYEs the other;
 *   call_refused       480 (not registered), 404 (unknown), 603 (B
 *                      declines while ringing);
 *   call_forged_bye    C sends a BYE into A and B's call naming A's
 *                      flow token, then its own: 403, the call stays up;
 *   call_timer_c       B rings for ever: Timer C, CANCEL, 408 (sim only);
 *   call_reinvite      re-INVITEs both ways;
 *   call_bye_callee    A calls B's tel: IMPU, B hangs up;
 *   call_flow_lost     B's flow dies mid-call: its call ends FLOW_LOST, A's
 *                      BYE fails and A's call ends;
 *   call_flow_lost_ringing  the same while B rings: 430, then 480 to A;
 *   call_roaming       A through the visited P-CSCF calls B at home;
 *   call_m2a .. _dtls  calls in each deployment mode (M2b: B dialled in),
 *                      hung up by either side;
 *   call_dtls_loss     over DTLS, the INVITE to B lost: Timer A.
 *
 * Waits are predicates with generous deadlines (virtual under sim, real
 * under net): a loaded machine only makes the net runs slower.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "scenario.h"
#include "test_util.h"

/* A deadline for each wait: the net runs take well under a second each
 * when the machine is idle. */
#define WAIT_MS 30000

/* ------------------------------------------------------------ scenarios */

typedef struct answer {
  sc_ue *u;
  int handle;
} answer;

/* The P-CSCF has sent `n` `start` messages on `flow`, waited for: an ACK
 * leaves its UA after the 2xx a test waited for, and over real sockets it
 * may still be on its way through the proxies when the test looks.
 * Returns the count then. */
typedef struct sent_on {
  const char *start;
  uint64_t flow;
  size_t n;
} sent_on;

static int pcscf_sent(sc_world *w, void *arg) {
  sent_on *a = arg;
  return sc_msgs_on(w, "pcscf", a->start, a->flow) >= a->n;
}

static size_t pcscf_sent_on(sc_world *w, const char *start, uint64_t flow,
                            size_t n) {
  sent_on a = {start, flow, n};
  (void)sc_run_until(w, pcscf_sent, &a, WAIT_MS);
  return sc_msgs_on(w, "pcscf", start, flow);
}

static int answered(sc_world *w, void *arg) {
  answer *a = arg;
  return sc_ue_send_result(w, a->u, a->handle) != 0;
}

static void home_register(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *bu = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  sc_ue *both[] = {a, bu};
  for (int i = 0; i < 2; i++) {
    imsec_ue_status s = sc_ue_status(w, both[i]);
    assert_true(s.trust_decided);
    assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
    assert_int_equal(s.challenges, 1);
    assert_int_equal(s.registrations, 1);
    assert_int_equal(s.sync_failures, 0);
    assert_int_not_equal(s.flow, 0);
    /* The accepted SQN was made durable before the RES left. */
    assert_true(sc_ue_sqn_writes(w, both[i]) >= 1);
    assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(both[i])), 1);
    assert_int_equal(sc_msgs(w, sc_ue_name(both[i]), "REGISTER"), 2);
  }
  assert_int_equal(sc_scscf_registrations(w), 2);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  char v[1024];
  /* Sec-agree on the UE's hop (RFC 3329), tls-pending then tls-yes on the
   * core hop (TS 24.229 §5.2.2.1). */
  assert_non_null(strstr(
      sc_msg_header(w, "ue0", "REGISTER", 0, "Security-Client", v, sizeof v),
      "tls"));
  assert_non_null(strstr(
      sc_msg_header(w, "pcscf", "REGISTER", 0, "Authorization", v, sizeof v),
      "tls-pending"));
  assert_non_null(strstr(
      sc_msg_header(w, "pcscf", "REGISTER", 1, "Authorization", v, sizeof v),
      "tls-yes"));
  /* A -> B. */
  answer an = {a, sc_ue_send(w, a, sc_ue_impu(bu), "hello B")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, a, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, bu, &in), 1);
  assert_int_equal(in.len, strlen("hello B"));
  assert_memory_equal(in.body, "hello B", in.len);
  assert_string_equal(in.asserted, sc_ue_impu(a));
  imsec_ue_message_free(&in);
  assert_int_equal(sc_ue_inbox_pop(w, bu, &in), 0);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 0);
  /* Through the P-CSCF to the S-CSCF (asserted there), back through the
   * P-CSCF to B, on B's registered flow: B never reconnected. */
  assert_int_equal(sc_msgs(w, "ue0", "MESSAGE"), 1);
  assert_int_equal(sc_msgs(w, "scscf", "MESSAGE"), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "MESSAGE"), 2);
  assert_non_null(strstr(sc_msg_header(w, "pcscf", "MESSAGE", 0,
                                       "P-Asserted-Identity", v, sizeof v),
                         sc_ue_impu(a)));
  assert_int_equal(sc_msgs(w, "ue1", "SIP/2.0 200"), 1);
  assert_int_equal(sc_ue_status(w, bu).reconnects, 0);
  sc_dump(w);
  sc_world_del(w);
}

static void roaming(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue_opts o = {.via = SC_PCSCF_VISITED};
  sc_ue *u = sc_ue_add(w, &o);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, u);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_PARTNER);
  assert_int_equal(s.challenges, 1);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(u)), 1);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_VISITED), 1);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 0);
  /* TS 24.229 §5.2.2.1: the visited P-CSCF names its network. */
  char v[1024];
  assert_non_null(strstr(sc_msg_header(w, "vpcscf", "REGISTER", 0,
                                       "P-Visited-Network-ID", v, sizeof v),
                         SC_VISITED_ID));
  assert_int_equal(sc_msgs(w, "pcscf", NULL), 0);
  sc_dump(w);
  sc_world_del(w);
}

static void rogue_pcscf(sc_backend b) {
  struct {
    sc_pcscf via;
    const char *reason;
  } cases[] = {
      {SC_PCSCF_ROGUE, "not-a-roaming-partner"},
      {SC_PCSCF_SELF_SIGNED, "chain-invalid"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sc_world *w = sc_world_new(b);
    sc_ue_opts o = {.via = cases[i].via};
    sc_ue *u = sc_ue_add(w, &o);
    assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REFUSED);
    /* Refused for good: nothing more happens a while later. */
    sc_run_for(w, 300);
    imsec_ue_status s = sc_ue_status(w, u);
    assert_int_equal(s.state, IMSEC_UE_REFUSED);
    assert_true(s.trust_decided);
    assert_string_equal(imsec_trust_reason_code(s.trust.reason),
                        cases[i].reason);
    assert_int_equal(s.challenges, 0);
    /* No REGISTER (nothing at all) went out; the rogue saw nothing. */
    assert_int_equal(sc_msgs(w, sc_ue_name(u), NULL), 0);
    assert_int_equal(sc_msgs_in(w, "rogue"), 0);
    assert_int_equal(sc_scscf_registrations(w), 0);
    assert_int_equal(sc_ue_sqn_writes(w, u), 0);
    sc_dump(w);
    sc_world_del(w);
  }
}

static void sync_failure(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue_opts o = {.sqn_ahead = 1};
  sc_ue *u = sc_ue_add(w, &o);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, u);
  assert_int_equal(s.sync_failures, 1);
  assert_int_equal(s.challenges, 2);
  assert_int_equal(s.reconnects, 0);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(u)), 1);
  /* REGISTER, REGISTER with AUTS, REGISTER with RES: one connection. */
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 3);
  char v[1024];
  assert_non_null(strstr(
      sc_msg_header(w, "ue0", "REGISTER", 1, "Authorization", v, sizeof v),
      "auts=\""));
  uint64_t f0 = sc_msg_flow(w, "ue0", "REGISTER", 0);
  assert_int_not_equal(f0, 0);
  assert_int_equal(sc_msg_flow(w, "ue0", "REGISTER", 1), f0);
  assert_int_equal(sc_msg_flow(w, "ue0", "REGISTER", 2), f0);
  /* Two 401s reached the UE: the first answered with AUTS. */
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 401"), 2);
  sc_dump(w);
  sc_world_del(w);
}

static int deregistered(sc_world *w, void *arg) {
  sc_ue *u = arg;
  return sc_ue_status(w, u).state == IMSEC_UE_IDLE &&
         sc_scscf_contacts(w, sc_ue_impu(u)) == 0 &&
         sc_pcscf_bindings(w, SC_PCSCF_HOME) == 0;
}

static void deregister(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue *u = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, u, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(u)), 1);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 1);
  sc_ue_deregister(w, u);
  assert_true(sc_run_until(w, deregistered, u, WAIT_MS));
  /* This S-CSCF authenticates the de-registration as well: Expires 0,
   * a fresh challenge, Expires 0 with the RES, then the 200. */
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 4);
  char v[256];
  for (size_t i = 2; i < 4; i++)
    assert_string_equal(
        sc_msg_header(w, "ue0", "REGISTER", i, "Expires", v, sizeof v), "0");
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 401"), 2);
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 200"), 2);
  imsec_ue_status s = sc_ue_status(w, u);
  assert_int_equal(s.flow, 0);
  assert_int_equal(s.registrations, 1);
  assert_int_equal(sc_scscf_registrations(w), 0);
  sc_dump(w);
  sc_world_del(w);
}

/* ------------------------------------------------------------ SIP Digest */

/* A softphone's password (TS 33.203 Annex N). */
#define PASSWORD "c2VjcmV0LXBhc3N3b3JkLTE4"

/* The value of parameter `name` (case-insensitive) in the challenge or
 * credentials `v`, quotes dropped, into out ("" when absent); out. */
static const char *auth_param(const char *v, const char *name, char *out,
                              size_t cap) {
  size_t ln = strlen(name);
  out[0] = 0;
  for (const char *p = v; *p; p++) {
    if ((p > v && p[-1] != ' ' && p[-1] != ',' && p[-1] != '\t') ||
        strncasecmp(p, name, ln) != 0 || p[ln] != '=')
      continue;
    const char *q = p + ln + 1;
    int quoted = *q == '"';
    q += quoted;
    size_t n = 0;
    while (q[n] && (quoted ? q[n] != '"'
                           : q[n] != ',' && q[n] != ' ' && q[n] != '\r' &&
                                 q[n] != '\n'))
      n++;
    snprintf(out, cap, "%.*s", (int)n, q);
    break;
  }
  return out;
}

/* The values of every `name` header of `text` (case-insensitive), up to
 * `cap` lines of 512 octets into vals; how many. */
static size_t header_lines(const char *text, const char *name, char vals[][512],
                           size_t cap) {
  size_t n = 0, ln = strlen(name);
  for (const char *p = strstr(text, "\n"); p && p[1]; p = strstr(p + 1, "\n")) {
    const char *l = p + 1;
    if (l[0] == '\r' || l[0] == '\n')
      break; /* the body */
    if (strncasecmp(l, name, ln) != 0 || l[ln] != ':')
      continue;
    const char *v = l + ln + 1;
    while (*v == ' ')
      v++;
    size_t k = strcspn(v, "\r\n");
    if (n < cap)
      snprintf(vals[n], sizeof vals[n], "%.*s", (int)k, v);
    n++;
  }
  return n;
}

/* The challenge `from` sent (i-th 401): two WWW-Authenticate, SHA-256 then
 * MD5 (RFC 8760 §3), each qop="auth" in the home realm, one nonce. */
static void assert_two_challenges(sc_world *w, const char *from, size_t i) {
  char *t = sc_msg_text(w, from, "SIP/2.0 401", i);
  assert_non_null(t);
  char www[4][512], v[256], nonce[256];
  assert_int_equal(header_lines(t, "WWW-Authenticate", www, 4), 2);
  assert_string_equal(auth_param(www[0], "algorithm", v, sizeof v), "SHA-256");
  assert_string_equal(auth_param(www[1], "algorithm", v, sizeof v), "MD5");
  for (int k = 0; k < 2; k++) {
    assert_non_null(strstr(www[k], "Digest "));
    assert_string_equal(auth_param(www[k], "qop", v, sizeof v), "auth");
    assert_string_equal(auth_param(www[k], "realm", v, sizeof v), SC_HOME);
  }
  assert_true(auth_param(www[0], "nonce", nonce, sizeof nonce)[0]);
  assert_string_equal(auth_param(www[1], "nonce", v, sizeof v), nonce);
  free(t);
}

/* TS 33.203 Annexes N, O, P: a softphone without an ISIM registers with
 * SIP Digest over TLS through the home P-CSCF; the S-CSCF offers SHA-256
 * and MD5 (the P-CSCF relays both intact), the UE answers SHA-256 with
 * qop=auth, nc and its own cnonce, the P-CSCF marks the answer as coming
 * over TLS (integrity-protected), and the 200 proves the network knows the
 * password (Authentication-Info rspauth, RFC 7616 §3.5). Then a MESSAGE to
 * an AKA UE, asserted from the softphone's TLS binding (Annex Q), and one
 * back over the softphone's registered flow. */
static void digest_register(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue_opts od = {.password = PASSWORD};
  sc_ue *d = sc_ue_add(w, &od);
  sc_ue *a = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, d, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, d);
  assert_true(s.trust_decided);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  assert_int_equal(s.challenges, 1);
  assert_int_equal(s.registrations, 1);
  assert_int_equal(s.sync_failures, 0);
  assert_int_not_equal(s.flow, 0);
  /* No SQN: nothing for an ISIM store to keep. */
  assert_int_equal(sc_ue_sqn_writes(w, d), 0);
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 2);
  assert_int_equal(sc_msg_flow(w, "ue0", "REGISTER", 1),
                   sc_msg_flow(w, "ue0", "REGISTER", 0));
  assert_two_challenges(w, "scscf", 0);
  assert_two_challenges(w, "pcscf", 0);
  char v[1024], p[256];
  sc_msg_header(w, "ue0", "REGISTER", 1, "Authorization", v, sizeof v);
  assert_non_null(strstr(v, "Digest "));
  assert_string_equal(auth_param(v, "algorithm", p, sizeof p), "SHA-256");
  assert_string_equal(auth_param(v, "qop", p, sizeof p), "auth");
  assert_string_equal(auth_param(v, "username", p, sizeof p), sc_ue_impi(d));
  assert_string_equal(auth_param(v, "realm", p, sizeof p), SC_HOME);
  assert_string_equal(auth_param(v, "nc", p, sizeof p), "00000001");
  assert_true(strlen(auth_param(v, "cnonce", p, sizeof p)) >= 8);
  /* The P-CSCF says the credentials came over TLS (Annex O). */
  sc_msg_header(w, "pcscf", "REGISTER", 1, "Authorization", v, sizeof v);
  assert_non_null(strstr(v, "integrity-protected="));
  assert_null(strstr(v, "integrity-protected=\"no\""));
  /* The S-CSCF's 200 proves it knows H(A1); the P-CSCF relays it. */
  for (int k = 0; k < 2; k++) {
    sc_msg_header(w, k ? "pcscf" : "scscf", "SIP/2.0 200", 0,
                  "Authentication-Info", v, sizeof v);
    assert_true(strlen(auth_param(v, "rspauth", p, sizeof p)) == 64);
    assert_string_equal(auth_param(v, "qop", p, sizeof p), "auth");
    assert_string_equal(auth_param(v, "nc", p, sizeof p), "00000001");
  }
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(d)), 1);
  assert_int_equal(sc_scscf_registrations(w), 2);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  /* Softphone -> AKA UE: asserted by the P-CSCF from the binding. */
  answer an = {d, sc_ue_send(w, d, sc_ue_impu(a), "from the softphone")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, d, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 1);
  assert_int_equal(in.len, strlen("from the softphone"));
  assert_memory_equal(in.body, "from the softphone", in.len);
  assert_string_equal(in.asserted, sc_ue_impu(d));
  imsec_ue_message_free(&in);
  assert_non_null(strstr(sc_msg_header(w, "pcscf", "MESSAGE", 0,
                                       "P-Asserted-Identity", v, sizeof v),
                         sc_ue_impu(d)));
  /* AKA UE -> softphone, over the flow it registered on. */
  an = (answer){a, sc_ue_send(w, a, sc_ue_impu(d), "to the softphone")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, a, an.handle), 200);
  assert_int_equal(sc_ue_inbox_pop(w, d, &in), 1);
  assert_memory_equal(in.body, "to the softphone", in.len);
  assert_string_equal(in.asserted, sc_ue_impu(a));
  imsec_ue_message_free(&in);
  assert_int_equal(sc_msgs_in_on(w, "ue0", "MESSAGE", s.flow), 1);
  assert_int_equal(sc_ue_status(w, d).reconnects, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* A wrong password: 403, as to a wrong IMS AKA response (docs/DIGEST.md);
 * nothing registered or bound, and the UE stops. */
static void digest_wrong_password(sc_backend b) {
  sc_world *w = sc_world_new(b);
  sc_ue_opts od = {.password = PASSWORD, .password_wrong = 1};
  sc_ue *d = sc_ue_add(w, &od);
  imsec_ue_state st = sc_ue_register(w, d, WAIT_MS);
  assert_int_not_equal(st, IMSEC_UE_REGISTERED);
  sc_run_for(w, 300);
  imsec_ue_status s = sc_ue_status(w, d);
  assert_int_not_equal(s.state, IMSEC_UE_REGISTERED);
  assert_int_equal(s.last_status, 403);
  assert_int_equal(s.registrations, 0);
  assert_int_equal(sc_msgs(w, "scscf", "SIP/2.0 403"), 1);
  assert_int_equal(sc_msgs(w, "scscf", "SIP/2.0 200"), 0);
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 2);
  assert_int_equal(sc_scscf_registrations(w), 0);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 0);
  sc_dump(w);
  sc_world_del(w);
}

/* A softphone that sends only the user part of its IMPI as the digest
 * username (the S-CSCF maps it to user@its domain): registered, bound,
 * and its MESSAGE asserted with its IMPU. */
static void digest_user_part(sc_backend b) {
  sc_world *w = sc_world_new(b);
  /* The first UE's IMPI is 001010000000000@HOME (sc_ue_add). */
  char user[] = "001010000000000";
  sc_ue_opts od = {.password = PASSWORD, .digest_username = user};
  sc_ue *d = sc_ue_add(w, &od);
  char want[128];
  snprintf(want, sizeof want, "%s@%s", user, SC_HOME);
  assert_string_equal(sc_ue_impi(d), want);
  sc_ue *a = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, d, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  char v[1024], p[256];
  sc_msg_header(w, "ue0", "REGISTER", 1, "Authorization", v, sizeof v);
  assert_string_equal(auth_param(v, "username", p, sizeof p), user);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(d)), 1);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  answer an = {d, sc_ue_send(w, d, sc_ue_impu(a), "user part")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, d, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 1);
  assert_string_equal(in.asserted, sc_ue_impu(d));
  imsec_ue_message_free(&in);
  sc_dump(w);
  sc_world_del(w);
}

/* Mode M2a, mutual TLS: the home P-CSCF requires a client certificate;
 * each UE shows its own (sip:IMPI, under the home operator's CA), registers
 * with AKA as in M1, and a MESSAGE A -> B goes through. A UE whose
 * certificate names another IMPI gets 403 from the P-CSCF (its REGISTER
 * never reaches the S-CSCF); a UE without one gets no connection. */
static void m2a_register(sc_backend b) {
  sc_world *w = sc_world_new_mode(b, SC_M2A);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *bu = sc_ue_add(w, NULL);
  sc_ue_opts other = {.cert_other_impi = 1};
  sc_ue *x = sc_ue_add(w, &other);
  sc_ue_opts bare = {.m1 = 1};
  sc_ue *y = sc_ue_add(w, &bare);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_status(w, a).trust.verdict, IMSEC_TRUST_HOME);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(a)), 1);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  answer an = {a, sc_ue_send(w, a, sc_ue_impu(bu), "mutual")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, a, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, bu, &in), 1);
  assert_string_equal(in.asserted, sc_ue_impu(a));
  imsec_ue_message_free(&in);
  /* Another IMPI's certificate: 403 at the P-CSCF. */
  size_t core_regs = sc_msgs(w, "pcscf", "REGISTER");
  assert_int_equal(sc_ue_register(w, x, WAIT_MS), IMSEC_UE_FAILED);
  imsec_ue_status s = sc_ue_status(w, x);
  assert_int_equal(s.last_status, 403);
  assert_int_equal(s.challenges, 0);
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 403"), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "REGISTER"), core_regs);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(x)), 0);
  /* No certificate at all: the P-CSCF refuses each connection (TLS 1.3:
   * after the UE's side is up, so its REGISTER is lost with it). */
  size_t in_before = sc_msgs_in(w, "pcscf");
  assert_int_equal(sc_ue_register(w, y, WAIT_MS), IMSEC_UE_FAILED);
  s = sc_ue_status(w, y);
  assert_int_equal(s.challenges, 0);
  assert_int_equal(s.registrations, 0);
  assert_int_equal(sc_msgs_in(w, "pcscf"), in_before);
  assert_int_equal(sc_scscf_registrations(w), 2);
  sc_dump(w);
  sc_world_del(w);
}

static int flow_closed(sc_world *w, void *arg) {
  imsec_ue_status s = sc_ue_status(w, arg);
  return s.state == IMSEC_UE_REGISTERED && s.flow == 0;
}

/* Mode M2b, the P-CSCF takes the client role: a UE registers, closes its
 * connection, and listens with its server certificate. A MESSAGE for it
 * makes the P-CSCF dial the registered Contact with its own certificate
 * as client's; the UE's trust decision accepts it, the MESSAGE arrives.
 * A UE whose server certificate names another IMPI gets nothing: the
 * P-CSCF refuses it and the sender gets 480. */
static void m2b_dial_back(sc_backend b) {
  sc_world *w = sc_world_new_mode(b, SC_M2B);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue_opts plain = {.m1 = 1};
  sc_ue *bu = sc_ue_add(w, &plain);
  sc_ue_opts other = {.cert_other_impi = 1};
  sc_ue *x = sc_ue_add(w, &other);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, x, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_true(sc_run_until(w, flow_closed, a, WAIT_MS));
  assert_true(sc_run_until(w, flow_closed, x, WAIT_MS));
  char v[1024];
  /* The Contact names the UE's listener. */
  assert_non_null(
      strstr(sc_msg_header(w, "ue0", "REGISTER", 0, "Contact", v, sizeof v),
             "transport=tls"));
  /* Bindings outlive the closed flows. */
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 3);
  answer an = {bu, sc_ue_send(w, bu, sc_ue_impu(a), "dialled back")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, bu, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 1);
  assert_memory_equal(in.body, "dialled back", in.len);
  assert_string_equal(in.asserted, sc_ue_impu(bu));
  imsec_ue_message_free(&in);
  /* The wrong name: nothing reaches x, 480 to the sender. */
  an.handle = sc_ue_send(w, bu, sc_ue_impu(x), "not for you");
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, bu, an.handle), 480);
  assert_int_equal(sc_ue_inbox_pop(w, x, &in), 0);
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 480"), 2); /* core, B */
  sc_dump(w);
  sc_world_del(w);
}

/* Mode M3, configured (docs/M3.md): each UE connects with its PSK
 * (identity: its IMPI) and no certificate either way; AKA to the S-CSCF
 * as in M1; a MESSAGE A -> B over the PSK flows. A UE whose key is not
 * the P-CSCF's gets no connection at all: nothing reaches the P-CSCF. */
static void m3_configured(sc_backend b) {
  sc_world *w = sc_world_new_mode(b, SC_M3);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *bu = sc_ue_add(w, NULL);
  sc_ue_opts wrong = {.psk_wrong = 1};
  sc_ue *x = sc_ue_add(w, &wrong);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  sc_ue *both[] = {a, bu};
  for (int i = 0; i < 2; i++) {
    imsec_ue_status s = sc_ue_status(w, both[i]);
    assert_int_equal(s.tls_mode, IMSEC_UE_TLS_PSK);
    assert_int_equal(s.challenges, 1);
    assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(both[i])), 1);
  }
  answer an = {a, sc_ue_send(w, a, sc_ue_impu(bu), "over a PSK")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, a, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, bu, &in), 1);
  assert_string_equal(in.asserted, sc_ue_impu(a));
  imsec_ue_message_free(&in);
  /* The wrong key: refused at the handshake, attempt after attempt. */
  assert_int_not_equal(sc_ue_register(w, x, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, x);
  assert_int_equal(s.registrations, 0);
  assert_int_equal(s.challenges, 0);
  assert_int_equal(sc_msgs(w, sc_ue_name(x), NULL), 0);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(x)), 0);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  sc_dump(w);
  sc_world_del(w);
}

typedef struct moved {
  sc_ue *u;
  uint64_t old_flow;
} moved;

/* 1 when auth-param `name` is in a challenge (RFC 7235 §2.1: after a
 * comma; a base64 nonce may itself end in "ck="). */
static int has_param(const char *v, const char *name) {
  size_t n = strlen(name);
  for (const char *p = v; (p = strstr(p, name)) != NULL; p++) {
    const char *q = p;
    while (q > v && (q[-1] == ' ' || q[-1] == '\t'))
      q--;
    if (q > v && q[-1] == ',' && p[n] == '=')
      return 1;
  }
  return 0;
}

static int reconnected_psk(sc_world *w, void *arg) {
  moved *m = arg;
  imsec_ue_status s = sc_ue_status(w, m->u);
  return s.flow != 0 && s.flow != m->old_flow &&
         s.tls_mode == IMSEC_UE_TLS_PSK_AKA && s.state == IMSEC_UE_REGISTERED;
}

/* Mode M3, AKA-derived (this project's profile, docs/M3.md): over the
 * mutual-TLS core the S-CSCF gives the P-CSCF CK and IK in the 401, which
 * the P-CSCF strips before relaying; after the 200 both ends derive the
 * PSK. The UE drops its connection and comes back with the PSK: no
 * certificate, no new REGISTER, the binding moved to the new flow, and a
 * MESSAGE for the UE reaches it there. */
static void m3_aka(sc_backend b) {
  sc_world *w = sc_world_new_mode(b, SC_M3_AKA);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *bu = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, a);
  assert_int_equal(s.tls_mode, IMSEC_UE_TLS_CERT);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  char v[1024];
  sc_msg_header(w, "scscf", "SIP/2.0 401", 0, "WWW-Authenticate", v, sizeof v);
  assert_true(has_param(v, "ck"));
  assert_true(has_param(v, "ik"));
  for (size_t i = 0; i < sc_msgs(w, "pcscf", "SIP/2.0 401"); i++) {
    sc_msg_header(w, "pcscf", "SIP/2.0 401", i, "WWW-Authenticate", v,
                  sizeof v);
    assert_non_null(strstr(v, "nonce="));
    assert_false(has_param(v, "ck"));
    assert_false(has_param(v, "ik"));
  }
  /* A reconnects with the derived PSK. */
  moved m = {a, s.flow};
  sc_ue_reconnect(w, a);
  assert_true(sc_run_until(w, reconnected_psk, &m, WAIT_MS));
  s = sc_ue_status(w, a);
  assert_int_equal(s.registrations, 1);
  assert_int_equal(s.challenges, 1);
  assert_int_equal(s.reconnects, 1);
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 2);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  /* B -> A reaches A on the PSK flow: A's answer leaves on another flow
   * than its REGISTERs. */
  answer an = {bu, sc_ue_send(w, bu, sc_ue_impu(a), "after the move")};
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, bu, an.handle), 200);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 1);
  assert_memory_equal(in.body, "after the move", in.len);
  imsec_ue_message_free(&in);
  uint64_t reg_flow = sc_msg_flow(w, "ue0", "REGISTER", 0);
  uint64_t ans_flow = sc_msg_flow(w, "ue0", "SIP/2.0 200", 0);
  assert_int_not_equal(ans_flow, 0);
  assert_int_not_equal(ans_flow, reg_flow);
  sc_dump(w);
  sc_world_del(w);
}

/* The datagram variant (docs/DTLS.md): a UE registers over DTLS while
 * the 200 to its REGISTER is lost on the way (sim: the loss hook; net: a
 * UDP relay losing the 2nd application-data datagram towards the UE, the
 * 401 being the 1st). Timer E sends the REGISTER again, the P-CSCF's
 * server transaction absorbs it and sends its 200 again (RFC 3261 §17.2.2):
 * the S-CSCF sees one REGISTER per AKA step. Then a MESSAGE too large for
 * one DTLS record, from a UE on TLS to the DTLS UE: 513 from the P-CSCF
 * (RFC 3261 §21.5.14), nothing reaches the DTLS UE. */
static void dtls_register(sc_backend b) {
  sc_world *w = sc_world_new_mode(b, SC_DTLS);
  sc_ue_opts lossy = {.lose_down = 2};
  sc_ue *a = sc_ue_add(w, &lossy);
  sc_ue_opts tls = {.m1 = 1};
  sc_ue *bu = sc_ue_add(w, &tls);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  imsec_ue_status s = sc_ue_status(w, a);
  assert_int_equal(s.trust.verdict, IMSEC_TRUST_HOME);
  assert_int_equal(s.challenges, 1);
  assert_int_equal(s.reconnects, 0);
  assert_int_equal(sc_dgrams_lost(w), 1);
  /* REGISTER, REGISTER with the RES, that one again on Timer E. */
  assert_int_equal(sc_msgs(w, "ue0", "REGISTER"), 3);
  char v1[1024], v2[1024];
  sc_msg_header(w, "ue0", "REGISTER", 1, "Via", v1, sizeof v1);
  sc_msg_header(w, "ue0", "REGISTER", 2, "Via", v2, sizeof v2);
  assert_non_null(strstr(v1, "SIP/2.0/DTLS-UDP"));
  assert_string_equal(v1, v2); /* the same transaction */
  assert_int_equal(sc_msgs(w, "pcscf", "REGISTER"), 2);
  assert_int_equal(sc_msgs(w, "scscf", "SIP/2.0 200"), 1);
  /* The 200 twice towards the UE: once lost, once again. */
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 200"), 2);
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(a)), 1);
  /* B (TLS) -> A (DTLS): a body too large for one record. */
  assert_int_equal(sc_ue_register(w, bu, WAIT_MS), IMSEC_UE_REGISTERED);
  size_t big_len = 16300; /* the UE's body limit is 16 KiB; with the
                           * headers the request is over one record */
  char *big = malloc(big_len + 1);
  assert_non_null(big);
  memset(big, 'x', big_len);
  big[big_len] = 0;
  answer an = {bu, sc_ue_send(w, bu, sc_ue_impu(a), big)};
  free(big);
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, bu, an.handle), 513);
  imsec_ue_message in;
  memset(&in, 0, sizeof in);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 0);
  /* The P-CSCF answers the core, the S-CSCF passes it back, the P-CSCF
   * relays it to B. */
  assert_int_equal(sc_msgs(w, "scscf", "SIP/2.0 513"), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "SIP/2.0 513"), 2);
  assert_int_equal(sc_msgs(w, "pcscf", "MESSAGE"), 1);
  /* A small one arrives. */
  an.handle = sc_ue_send(w, bu, sc_ue_impu(a), "fits");
  assert_true(sc_run_until(w, answered, &an, WAIT_MS));
  assert_int_equal(sc_ue_send_result(w, bu, an.handle), 200);
  assert_int_equal(sc_ue_inbox_pop(w, a, &in), 1);
  assert_memory_equal(in.body, "fits", in.len);
  imsec_ue_message_free(&in);
  sc_dump(w);
  sc_world_del(w);
}

/* ------------------------------------------------------------ calls */

/* Responses `from` sent whose status line starts with `status` and whose
 * CSeq names `method`. */
static size_t responses(sc_world *w, const char *from, const char *status,
                        const char *method) {
  size_t n = 0, all = sc_msgs(w, from, status);
  char v[256];
  for (size_t i = 0; i < all; i++) {
    sc_msg_header(w, from, status, i, "CSeq", v, sizeof v);
    const char *sp = strchr(v, ' ');
    n += sp && strcmp(sp + 1, method) == 0;
  }
  return n;
}

/* The flow token of UE u's binding at P-CSCF `pcscf`: the user part of
 * the Path it put in u's last REGISTER (RFC 3327, RFC 5626 §5.2). */
static void path_token(sc_world *w, const char *pcscf, sc_ue *u, char *tok,
                       size_t cap) {
  char cid[256], v[1024];
  size_t nreg = sc_msgs(w, sc_ue_name(u), "REGISTER");
  assert_true(nreg > 0);
  sc_msg_header(w, sc_ue_name(u), "REGISTER", nreg - 1, "Call-ID", cid,
                sizeof cid);
  tok[0] = 0;
  size_t n = sc_msgs(w, pcscf, "REGISTER");
  for (size_t i = 0; i < n; i++) {
    if (strcmp(sc_msg_header(w, pcscf, "REGISTER", i, "Call-ID", v, sizeof v),
               cid) != 0)
      continue;
    sc_msg_header(w, pcscf, "REGISTER", i, "Path", v, sizeof v);
    const char *p = strstr(v, "sip:"), *at = p ? strchr(p, '@') : NULL;
    assert_non_null(at);
    p += 4;
    assert_true((size_t)(at - p) < cap);
    memcpy(tok, p, (size_t)(at - p));
    tok[at - p] = 0;
  }
  assert_true(tok[0] != 0);
}

#define RR_MAX 8

/* The Record-Route entries of the i-th `start` message `from` sent, top
 * first (header lines and comma lists alike); returns how many. */
static size_t record_routes(sc_world *w, const char *from, const char *start,
                            size_t i, char rr[RR_MAX][512]) {
  char *text = sc_msg_text(w, from, start, i);
  assert_non_null(text);
  size_t n = 0;
  for (char *line = strchr(text, '\n'); line && line[1] != '\r' && line[1];
       line = strchr(line + 1, '\n')) {
    const char *name = "Record-Route:";
    if (strncasecmp(line + 1, name, strlen(name)) != 0)
      continue;
    const char *p = line + 1 + strlen(name);
    int in_angle = 0;
    char cur[512];
    size_t len = 0;
    for (; *p && *p != '\r' && *p != '\n'; p++) {
      if (*p == '<')
        in_angle = 1;
      if (*p == '>')
        in_angle = 0;
      if (*p == ',' && !in_angle) {
        cur[len] = 0;
        if (n < RR_MAX)
          snprintf(rr[n++], 512, "%s", cur);
        len = 0;
        continue;
      }
      if ((*p == ' ' || *p == '\t') && len == 0)
        continue;
      if (len + 1 < sizeof cur)
        cur[len++] = *p;
    }
    cur[len] = 0;
    if (len && n < RR_MAX)
      snprintf(rr[n++], 512, "%s", cur);
  }
  free(text);
  return n;
}

/* The i-th INVITE element `from` sent names UE u's binding at P-CSCF
 * `pcscf` in two Record-Route entries, <sip:TOKEN@HOST:PORT;transport=T;lr>
 * (TS 24.229 §5.2.6.3, RFC 5626 §5.3, the double Record-Route of RFC 5658);
 * with `top` one of them is the topmost entry (the P-CSCF's own, facing the
 * next hop). Returns the number of entries. */
static size_t assert_rr_token(sc_world *w, const char *from, size_t i,
                              const char *pcscf, sc_ue *u, int top) {
  char tok[256], pat[300];
  path_token(w, pcscf, u, tok, sizeof tok);
  snprintf(pat, sizeof pat, "sip:%s@", tok);
  char rr[RR_MAX][512];
  size_t n = record_routes(w, from, "INVITE", i, rr);
  size_t with = 0;
  for (size_t k = 0; k < n; k++)
    if (strstr(rr[k], pat)) {
      with++;
      assert_non_null(strstr(rr[k], ";lr"));
    }
  assert_int_equal(with, 2);
  if (top)
    assert_non_null(strstr(rr[0], pat));
  return n;
}

/* Every request UE u received came over its flow `flow` (0: the one it
 * has now): the P-CSCF sends a UE's requests, in a dialog or not, over
 * its registered flow only (RFC 5626 §5.3, TS 24.229 §5.2.6.3). */
static void assert_requests_on(sc_world *w, sc_ue *u, uint64_t flow) {
  static const char *const methods[] = {"INVITE", "ACK",     "BYE",    "CANCEL",
                                        "UPDATE", "PRACK",   "INFO",   "NOTIFY",
                                        "REFER",  "OPTIONS", "MESSAGE"};
  if (!flow)
    flow = sc_ue_status(w, u).flow;
  assert_int_not_equal(flow, 0);
  /* (The records see what it received: at least the 200 to its
   * REGISTER.) */
  assert_true(sc_msgs_in_on(w, sc_ue_name(u), "SIP/2.0 200", 0) >= 1);
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    assert_int_equal(sc_msgs_in_on(w, sc_ue_name(u), methods[i], flow),
                     sc_msgs_in_on(w, sc_ue_name(u), methods[i], 0));
}

/* A calls `to`, one of B's IMPUs; B answers (auto); both see the call
 * CONFIRMED (B once the ACK came). */
static void call_up_to(sc_world *w, sc_ue *a, sc_ue *b, const char *to, int *ha,
                       int *hb) {
  *ha = sc_call_start(w, a, to);
  assert_true(sc_call_wait(w, a, *ha, IMSEC_UE_CALL_CONFIRMED, WAIT_MS));
  *hb = sc_call_incoming(w, b);
  assert_int_not_equal(*hb, 0);
  assert_true(sc_call_wait(w, b, *hb, IMSEC_UE_CALL_CONFIRMED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, *ha);
  imsec_ue_call_info ib = sc_call_info(w, b, *hb);
  assert_false(ia.incoming);
  assert_true(ib.incoming);
  assert_int_equal(ia.final_status, 200);
  assert_string_equal(ia.peer, to);
  /* The callee sees the caller as the P-CSCF asserted it (RFC 3325). */
  assert_string_equal(ib.peer, sc_ue_impu(a));
  assert_string_equal(ia.call_id, ib.call_id);
  assert_int_not_equal(ia.answered_at, 0);
  assert_int_equal(ia.end, IMSEC_UE_END_NONE);
}

/* A calls B's sip: IMPU. */
static void call_up(sc_world *w, sc_ue *a, sc_ue *b, int *ha, int *hb) {
  call_up_to(w, a, b, sc_ue_impu(b), ha, hb);
}

/* x hangs up a confirmed call: BYE, its 200; x ended LOCAL_BYE, y
 * REMOTE_BYE. */
static void hang_up(sc_world *w, sc_ue *x, int hx, sc_ue *y, int hy) {
  assert_int_equal(sc_call_hangup(w, x, hx), 0);
  assert_true(sc_call_wait(w, x, hx, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_true(sc_call_wait(w, y, hy, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ix = sc_call_info(w, x, hx);
  imsec_ue_call_info iy = sc_call_info(w, y, hy);
  assert_int_equal(ix.end, IMSEC_UE_END_LOCAL_BYE);
  assert_int_equal(ix.bye_status, 200);
  assert_int_not_equal(ix.ended_at, 0);
  assert_int_equal(iy.end, IMSEC_UE_END_REMOTE_BYE);
  /* A second hang-up finds it over. */
  assert_int_equal(sc_call_hangup(w, x, hx), IMSEC_ERR_STATE);
}

/* Two UEs (options may be NULL) registered through their P-CSCFs. */
static void two_ues(sc_world *w, const sc_ue_opts *oa, const sc_ue_opts *ob,
                    sc_ue **a, sc_ue **b) {
  *a = sc_ue_add(w, oa);
  *b = sc_ue_add(w, ob);
  assert_int_equal(sc_ue_register(w, *a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, *b, WAIT_MS), IMSEC_UE_REGISTERED);
}

/* A calls B, B answers at once, A hangs up. Through the P-CSCF (Record-
 * Route with each UE's flow token, twice) and the S-CSCF (its own entry);
 * the ACK and the BYE reach B over its registered flow (RFC 5626 §5.3). */
static void call_answer(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  two_ues(w, NULL, NULL, &a, &b);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  hang_up(w, a, ha, b, hb);
  /* The ladder: INVITE, 100, 180, 200, ACK, BYE, 200. */
  assert_int_equal(sc_msgs(w, "ue0", "INVITE"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "BYE"), 1);
  assert_int_equal(sc_msgs_in_on(w, "ue1", "INVITE", 0), 1);
  assert_int_equal(sc_msgs_in_on(w, "ue1", "BYE", 0), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 180", "INVITE"), 1);
  assert_true(responses(w, "ue1", "SIP/2.0 200", "INVITE") >= 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 200", "BYE"), 1);
  assert_true(responses(w, "pcscf", "SIP/2.0 100", "INVITE") >= 1);
  /* The P-CSCF: A's INVITE to the core with A's token twice (the core
   * entry on top), then to B with B's on top, A's below; the S-CSCF's
   * entry (no user part) between them. */
  assert_int_equal(sc_msgs(w, "pcscf", "INVITE"), 2);
  assert_int_equal(assert_rr_token(w, "pcscf", 0, "pcscf", a, 1), 2);
  assert_int_equal(assert_rr_token(w, "pcscf", 1, "pcscf", b, 1), 5);
  assert_int_equal(assert_rr_token(w, "pcscf", 1, "pcscf", a, 0), 5);
  char rr[RR_MAX][512];
  /* The entry facing the next hop on top (RFC 5658 §3.4): this core is
   * plain TCP, the access side TLS. */
  assert_int_equal(record_routes(w, "pcscf", "INVITE", 0, rr), 2);
  assert_non_null(strstr(rr[0], "transport=tcp"));
  assert_non_null(strstr(rr[1], "transport=tls"));
  assert_int_equal(record_routes(w, "pcscf", "INVITE", 1, rr), 5);
  assert_non_null(strstr(rr[0], "transport=tls"));
  assert_non_null(strstr(rr[1], "transport=tcp"));
  assert_int_equal(record_routes(w, "scscf", "INVITE", 0, rr), 3);
  assert_null(strchr(rr[0], '@'));
  assert_non_null(strstr(rr[0], ";lr"));
  /* In-dialog toward B: over B's registered flow. */
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  assert_int_not_equal(fb, 0);
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", fb), 1);
  assert_int_equal(pcscf_sent_on(w, "ACK", fb, 1), 1);
  assert_int_equal(sc_msgs_on(w, "pcscf", "BYE", fb), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "BYE"), 2); /* to the core, to B */
  assert_int_equal(sc_msgs(w, "scscf", "BYE"), 1);
  assert_int_equal(sc_ue_status(w, b).reconnects, 0);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* Calls both ways between a softphone (SIP Digest, its registration
 * bound to its TLS flow, TS 33.203 Annex O) and an AKA UE; the softphone
 * hangs up both. Each caller asserted from its binding (Annex Q), every
 * request toward the softphone over its registered flow. */
static void digest_call(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue_opts od = {.password = PASSWORD};
  sc_ue *d, *a;
  two_ues(w, &od, NULL, &d, &a);
  int hd, ha;
  call_up(w, d, a, &hd, &ha);
  hang_up(w, d, hd, a, ha);
  call_up(w, a, d, &ha, &hd);
  hang_up(w, d, hd, a, ha);
  assert_int_equal(sc_msgs(w, "ue0", "INVITE"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "BYE"), 2);
  assert_int_equal(sc_msgs(w, "ue1", "INVITE"), 1);
  uint64_t fd = sc_ue_reg_flow(w, "pcscf", d);
  assert_int_not_equal(fd, 0);
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", fd), 1);
  assert_int_equal(pcscf_sent_on(w, "ACK", fd, 1), 1);
  assert_int_equal(sc_ue_status(w, d).reconnects, 0);
  assert_int_equal(sc_ue_status(w, d).challenges, 1);
  assert_requests_on(w, d, 0);
  assert_requests_on(w, a, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* B is busy: 486 relayed to A (REJECTED, final 486); each proxy ACKs the
 * 486 downstream itself and absorbs the ACK from upstream (RFC 3261
 * §16.7 step 5, §17.1.1.3: the ACK of a non-2xx is hop by hop). */
static void call_busy(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts busy = {.answer = IMSEC_UE_ANSWER_BUSY};
  two_ues(w, NULL, &busy, &a, &b);
  int ha = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ia.final_status, 486);
  assert_int_equal(ia.answered_at, 0);
  /* B knows of the call it refused. */
  int hb = sc_call_incoming(w, b);
  assert_int_not_equal(hb, 0);
  imsec_ue_call_info ib = sc_call_info(w, b, hb);
  assert_int_equal(ib.state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(ib.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ib.final_status, 486);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 486", "INVITE"), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 200", "INVITE"), 0);
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 1);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  /* The P-CSCF ACKs B's 486 and, as A's proxy, the S-CSCF's; the S-CSCF
   * the P-CSCF's; A's own ACK goes no further than its P-CSCF. */
  assert_int_equal(pcscf_sent_on(w, "ACK", fb, 1), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "ACK"), 2);
  assert_int_equal(sc_msgs(w, "scscf", "ACK"), 1);
  /* The 486 went all the way back: B's P-CSCF, the S-CSCF, A's. */
  assert_int_equal(responses(w, "scscf", "SIP/2.0 486", "INVITE"), 1);
  assert_int_equal(responses(w, "pcscf", "SIP/2.0 486", "INVITE"), 2);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* B rings and does not answer; A hangs up: CANCEL through both proxies
 * to B (on its flow), 487 back; both calls ENDED CANCELLED. */
static void call_cancel(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts ring = {.answer = IMSEC_UE_ANSWER_RING};
  two_ues(w, NULL, &ring, &a, &b);
  int ha = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_RINGING, WAIT_MS));
  int hb = sc_call_incoming(w, b);
  assert_int_not_equal(hb, 0);
  assert_int_equal(sc_call_info(w, b, hb).state, IMSEC_UE_CALL_RINGING);
  assert_int_equal(sc_call_hangup(w, a, ha), 0);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_true(sc_call_wait(w, b, hb, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  imsec_ue_call_info ib = sc_call_info(w, b, hb);
  assert_int_equal(ia.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(ia.final_status, 487);
  assert_int_equal(ib.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(sc_msgs(w, "ue0", "CANCEL"), 1);
  assert_int_equal(sc_msgs(w, "scscf", "CANCEL"), 1);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  assert_int_equal(sc_msgs_on(w, "pcscf", "CANCEL", fb), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 200", "CANCEL"), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 487", "INVITE"), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 200", "INVITE"), 0);
  /* A ACKs the 487 (to its P-CSCF, which absorbs it). */
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 1);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* A hangs up in the same breath as it calls, before anything came back:
 * its CANCEL waits for a provisional (RFC 3261 §9.1), B (who would have
 * answered after a while) gets it while ringing; both end CANCELLED and
 * B never answers. */
static void call_cancel_early(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts slow = {.answer = IMSEC_UE_ANSWER_AUTO, .answer_delay_ms = 2000};
  two_ues(w, NULL, &slow, &a, &b);
  int rc = -1;
  int ha = sc_call_dial_hangup(w, a, sc_ue_impu(b), &rc);
  assert_true(ha > 0);
  assert_int_equal(rc, 0);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(ia.final_status, 487);
  assert_int_equal(ia.answered_at, 0);
  int hb = sc_call_wait_incoming(w, b, WAIT_MS);
  assert_int_not_equal(hb, 0);
  assert_true(sc_call_wait(w, b, hb, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_int_equal(sc_call_info(w, b, hb).end, IMSEC_UE_END_CANCELLED);
  /* The CANCEL left after the 180 came. */
  assert_int_equal(sc_msgs(w, "ue0", "CANCEL"), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 487", "INVITE"), 1);
  /* The answer delay passes (virtual time; a real wait under net is
   * not worth its seconds): still no 200 to the INVITE. */
  if (sc_world_backend(w) == SC_SIM)
    sc_run_for(w, 5000);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 200", "INVITE"), 0);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* B has two devices (one subscriber, one IMPI, two instances): one at
 * home, the other roaming (the P-CSCF binds an IMPI to one flow, TS
 * 33.203 Annex O, so the two devices register through two P-CSCFs). The
 * S-CSCF forks the INVITE to both contacts; the one at home answers, the
 * other (ringing) gets CANCEL from the S-CSCF (RFC 3261 §16.7 step 10)
 * over the visited P-CSCF and ends CANCELLED; A talks to the one that
 * answered, then hangs up. */
static void call_forked(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *b1 = sc_ue_add(w, NULL);
  sc_ue_opts dev = {
      .device_of = b1, .via = SC_PCSCF_VISITED, .answer = IMSEC_UE_ANSWER_RING};
  sc_ue *b2 = sc_ue_add(w, &dev);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, b1, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, b2, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_string_equal(sc_ue_impu(b1), sc_ue_impu(b2));
  assert_int_equal(sc_scscf_contacts(w, sc_ue_impu(b1)), 2);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_HOME), 2);
  assert_int_equal(sc_pcscf_bindings(w, SC_PCSCF_VISITED), 1);
  int ha, h1;
  call_up(w, a, b1, &ha, &h1);
  int h2 = sc_call_wait_incoming(w, b2, WAIT_MS);
  assert_int_not_equal(h2, 0);
  assert_true(sc_call_wait(w, b2, h2, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info i2 = sc_call_info(w, b2, h2);
  assert_int_equal(i2.end, IMSEC_UE_END_CANCELLED);
  assert_int_equal(i2.answered_at, 0);
  assert_string_equal(i2.peer, sc_ue_impu(a));
  assert_int_equal(sc_msgs(w, "scscf", "INVITE"), 2); /* the two branches */
  assert_int_equal(sc_msgs(w, "scscf", "CANCEL"), 1);
  uint64_t f1 = sc_ue_reg_flow(w, "pcscf", b1);
  uint64_t f2 = sc_ue_reg_flow(w, "vpcscf", b2);
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", f1), 1);
  assert_int_equal(sc_msgs_on(w, "vpcscf", "INVITE", f2), 1);
  assert_int_equal(sc_msgs_on(w, "vpcscf", "CANCEL", f2), 1);
  assert_int_equal(sc_msgs(w, "pcscf", "CANCEL"), 0);
  assert_int_equal(responses(w, "ue2", "SIP/2.0 487", "INVITE"), 1);
  assert_int_equal(responses(w, "ue2", "SIP/2.0 200", "INVITE"), 0);
  /* The caller saw one 2xx and sent no CANCEL. */
  assert_int_equal(sc_msgs(w, "ue0", "CANCEL"), 0);
  hang_up(w, a, ha, b1, h1);
  assert_int_equal(sc_msgs_on(w, "pcscf", "BYE", f1), 1);
  assert_int_equal(sc_msgs(w, "vpcscf", "BYE"), 0);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b1, 0);
  assert_requests_on(w, b2, 0);
  sc_dump(w);
  sc_world_del(w);
}

typedef struct two_legs {
  sc_ue *b1, *b2;
  int h1, h2;
} two_legs;

/* One leg up, the other over. */
static int one_leg(sc_world *w, void *arg) {
  two_legs *l = arg;
  imsec_ue_call_info i1, i2;
  if (sc_call_get(w, l->b1, l->h1, &i1) != 0 ||
      sc_call_get(w, l->b2, l->h2, &i2) != 0)
    return 0;
  return (i1.state == IMSEC_UE_CALL_CONFIRMED &&
          i2.state == IMSEC_UE_CALL_ENDED) ||
         (i2.state == IMSEC_UE_CALL_CONFIRMED &&
          i1.state == IMSEC_UE_CALL_ENDED);
}

/* Both of B's devices answer at once: the S-CSCF relays both 2xx (RFC
 * 3261 §16.7 step 5: every 2xx goes upstream); A ACKs each, keeps the
 * first and hangs up the other at once (BYE, §13.2.2.4); the device that
 * lost sees BYE. */
static void call_forked_both(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a = sc_ue_add(w, NULL);
  sc_ue *b1 = sc_ue_add(w, NULL);
  sc_ue_opts dev = {.device_of = b1, .via = SC_PCSCF_VISITED};
  sc_ue *b2 = sc_ue_add(w, &dev);
  assert_int_equal(sc_ue_register(w, a, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, b1, WAIT_MS), IMSEC_UE_REGISTERED);
  assert_int_equal(sc_ue_register(w, b2, WAIT_MS), IMSEC_UE_REGISTERED);
  int ha = sc_call_start(w, a, sc_ue_impu(b1));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_CONFIRMED, WAIT_MS));
  two_legs l = {b1, b2, sc_call_wait_incoming(w, b1, WAIT_MS),
                sc_call_wait_incoming(w, b2, WAIT_MS)};
  assert_int_not_equal(l.h1, 0);
  assert_int_not_equal(l.h2, 0);
  assert_true(sc_run_until(w, one_leg, &l, WAIT_MS));
  sc_ue *won = b1, *lost = b2;
  int hw = l.h1, hl = l.h2;
  if (sc_call_info(w, b1, l.h1).state == IMSEC_UE_CALL_ENDED) {
    won = b2;
    lost = b1;
    hw = l.h2;
    hl = l.h1;
  }
  imsec_ue_call_info il = sc_call_info(w, lost, hl);
  assert_int_equal(il.end, IMSEC_UE_END_REMOTE_BYE);
  assert_int_not_equal(il.answered_at, 0);
  /* Two 2xx reached A: two ACKs, one BYE so far; its call is the one. */
  assert_int_equal(responses(w, "scscf", "SIP/2.0 200", "INVITE"), 2);
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 2);
  assert_int_equal(sc_msgs(w, "ue0", "BYE"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "CANCEL"), 0);
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.state, IMSEC_UE_CALL_CONFIRMED);
  int hs[IMSEC_UE_MAX_CALLS];
  assert_int_equal(sc_calls(w, a, hs, IMSEC_UE_MAX_CALLS), 1);
  hang_up(w, a, ha, won, hw);
  assert_int_equal(sc_msgs(w, "ue0", "BYE"), 2);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b1, 0);
  assert_requests_on(w, b2, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* Calls that find nobody: B is a subscriber but not registered (480,
 * TS 24.229 §5.4.3.3: no unregistered services here), the other user is
 * unknown to the HSS (404); B rings and declines (603, RFC 3261 §13.3.1.3
 * once the callee hangs up unanswered). */
static void call_refused(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts ring = {.answer = IMSEC_UE_ANSWER_RING};
  two_ues(w, NULL, &ring, &a, &b);
  sc_ue *off = sc_ue_add(w, NULL); /* never started */
  struct {
    const char *to;
    unsigned status;
  } cases[] = {
      {sc_ue_impu(off), 480},
      {"sip:nobody@" SC_HOME, 404},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int h = sc_call_start(w, a, cases[i].to);
    assert_true(sc_call_wait(w, a, h, IMSEC_UE_CALL_ENDED, WAIT_MS));
    imsec_ue_call_info ci = sc_call_info(w, a, h);
    assert_int_equal(ci.end, IMSEC_UE_END_REJECTED);
    assert_int_equal(ci.final_status, cases[i].status);
  }
  int ha = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_RINGING, WAIT_MS));
  int hb = sc_call_incoming(w, b);
  assert_int_not_equal(hb, 0);
  assert_int_equal(sc_call_hangup(w, b, hb), 0);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ia.final_status, 603);
  assert_int_equal(sc_call_info(w, b, hb).state, IMSEC_UE_CALL_ENDED);
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 3);
  sc_dump(w);
  sc_world_del(w);
}

/* B rings for ever: Timer C (RFC 3261 §16.6 step 11, 180 s by default)
 * at the proxies CANCELs B's branch and answers A 408. Sim only: three
 * minutes of real time are not worth it over sockets. */
static void call_timer_c(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts ring = {.answer = IMSEC_UE_ANSWER_RING};
  two_ues(w, NULL, &ring, &a, &b);
  int ha = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_RINGING, WAIT_MS));
  int hb = sc_call_incoming(w, b);
  assert_int_not_equal(hb, 0);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, 200000));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.final_status, 408);
  assert_int_equal(ia.end, IMSEC_UE_END_TIMEOUT);
  assert_true(ia.ended_at - ia.started_at >= 180000);
  assert_true(sc_call_wait(w, b, hb, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_int_equal(sc_call_info(w, b, hb).end, IMSEC_UE_END_CANCELLED);
  /* B's branch CANCELled over B's flow; A sent no CANCEL of its own. */
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  assert_int_equal(sc_msgs_on(w, "pcscf", "CANCEL", fb), 1);
  assert_int_equal(sc_msgs(w, "ue0", "CANCEL"), 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

static int pcscf_forbade(sc_world *w, void *arg) {
  return sc_msgs(w, "pcscf", "SIP/2.0 403") > *(size_t *)arg;
}

/* `text` with its start line's method and the CSeq method set to
 * `method` and a fresh Via branch (malloc'd). */
static char *as_method(const char *text, const char *method) {
  size_t cap = strlen(text) + 64;
  char *o = malloc(cap);
  assert_non_null(o);
  const char *sp = strchr(text, ' ');
  assert_non_null(sp);
  size_t n = (size_t)snprintf(o, cap, "%s", method);
  for (const char *p = sp; *p; p++) {
    if (p[0] == '\n' && strncasecmp(p + 1, "CSeq:", 5) == 0) {
      /* "\nCSeq: N METHOD" */
      const char *num = p + 6;
      while (*num == ' ')
        num++;
      n += (size_t)snprintf(o + n, cap - n, "\nCSeq: 77 %s", method);
      p = strchr(num, '\r') ? strchr(num, '\r') - 1 : num;
      continue;
    }
    if (strncmp(p, "branch=", 7) == 0) { /* no secret: a Via parameter */
      n += (size_t)snprintf(o + n, cap - n, "branch=z9hG4bKforged");
      p += 6;
      continue;
    }
    if (n + 1 < cap)
      o[n++] = *p;
  }
  o[n] = 0;
  return o;
}

/* A third UE forges its way into A and B's call (TS 24.229 §5.2.6.3,
 * RFC 5626 §5.3): a BYE copied from A's ACK (A's route set, the
 * dialog's tags), sent over C's own flow, names A's binding in its Route:
 * 403 from the P-CSCF; the same with C's own token in the Route names a
 * dialog C is not part of: 403 again. Nothing reaches B, the call stays
 * up; A hangs up as usual. */
static void call_forged_bye(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  two_ues(w, NULL, NULL, &a, &b);
  sc_ue *c = sc_ue_add(w, NULL);
  assert_int_equal(sc_ue_register(w, c, WAIT_MS), IMSEC_UE_REGISTERED);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  char *ack = sc_msg_text(w, "ue0", "ACK", 0);
  assert_non_null(ack);
  char *bye = as_method(ack, "BYE");
  free(ack);
  size_t forbidden = sc_msgs(w, "pcscf", "SIP/2.0 403");
  size_t byes_in = sc_msgs_in_on(w, "ue1", "BYE", 0);
  sc_ue_send_raw(w, c, bye);
  assert_true(sc_run_until(w, pcscf_forbade, &forbidden, WAIT_MS));
  uint64_t fc = sc_ue_reg_flow(w, "pcscf", c);
  assert_int_equal(sc_msgs_on(w, "pcscf", "SIP/2.0 403", fc), 1);
  /* C's own token in the Route, A and B's dialog: not one of C's
   * dialogs (403 for another UE's). */
  char ta[256], tc[256];
  path_token(w, "pcscf", a, ta, sizeof ta);
  path_token(w, "pcscf", c, tc, sizeof tc);
  assert_int_equal(strlen(ta), strlen(tc));
  for (char *p = bye; (p = strstr(p, ta)) != NULL; p += strlen(tc))
    memcpy(p, tc, strlen(tc));
  forbidden++;
  sc_ue_send_raw(w, c, bye);
  free(bye);
  assert_true(sc_run_until(w, pcscf_forbade, &forbidden, WAIT_MS));
  assert_int_equal(sc_msgs_on(w, "pcscf", "SIP/2.0 403", fc), 2);
  assert_int_equal(sc_msgs(w, "pcscf", "BYE"), 0);
  sc_run_for(w, 100);
  assert_int_equal(sc_msgs_in_on(w, "ue1", "BYE", 0), byes_in);
  assert_int_equal(sc_call_info(w, a, ha).state, IMSEC_UE_CALL_CONFIRMED);
  assert_int_equal(sc_call_info(w, b, hb).state, IMSEC_UE_CALL_CONFIRMED);
  hang_up(w, a, ha, b, hb);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* A re-INVITEs a confirmed call (a new offer), then B does: both see two
 * re-INVITEs answered; B's goes to A over A's registered flow. */
static void call_reinvite(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  two_ues(w, NULL, NULL, &a, &b);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  assert_int_equal(sc_call_reinvite(w, a, ha), 0);
  sc_call_is ca = {a, ha, IMSEC_UE_CALL_CONFIRMED, 1};
  sc_call_is cb = {b, hb, IMSEC_UE_CALL_CONFIRMED, 1};
  assert_true(sc_run_until(w, sc_call_pred, &ca, WAIT_MS));
  assert_true(sc_run_until(w, sc_call_pred, &cb, WAIT_MS));
  assert_int_equal(sc_call_info(w, a, ha).reinvites, 1);
  assert_int_equal(sc_call_info(w, b, hb).reinvites, 1);
  uint64_t fa = sc_ue_reg_flow(w, "pcscf", a);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", fb), 2);
  assert_int_equal(pcscf_sent_on(w, "ACK", fb, 2), 2);
  /* The other way. */
  assert_int_equal(sc_call_reinvite(w, b, hb), 0);
  ca.reinvites = cb.reinvites = 2;
  assert_true(sc_run_until(w, sc_call_pred, &ca, WAIT_MS));
  assert_true(sc_run_until(w, sc_call_pred, &cb, WAIT_MS));
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", fa), 1);
  assert_int_equal(pcscf_sent_on(w, "ACK", fa, 1), 1);
  assert_int_equal(sc_msgs(w, "ue0", "INVITE"), 2);
  assert_int_equal(sc_msgs(w, "ue1", "INVITE"), 1);
  hang_up(w, a, ha, b, hb);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* A calls B's tel: IMPU (registered with the sip: one, an implicit
 * registration set, TS 23.228 §4.3.3.4); B, the callee, hangs up: its BYE
 * follows the route set to A, over A's registered flow. */
static void call_bye_callee(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  two_ues(w, NULL, NULL, &a, &b);
  int ha, hb;
  call_up_to(w, a, b, sc_ue_tel(b), &ha, &hb);
  hang_up(w, b, hb, a, ha);
  uint64_t fa = sc_ue_reg_flow(w, "pcscf", a);
  assert_int_equal(sc_msgs(w, "ue1", "BYE"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "BYE"), 0);
  assert_int_equal(sc_msgs_on(w, "pcscf", "BYE", fa), 1);
  assert_int_equal(responses(w, "ue0", "SIP/2.0 200", "BYE"), 1);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

typedef struct gone {
  const char *impu;
  uint64_t flow;
} gone;

static int flow_moved(sc_world *w, void *arg) {
  gone *g = arg;
  return sc_pcscf_binding_flow(w, SC_PCSCF_HOME, g->impu) != g->flow;
}

/* B's flow goes down mid-call: B's call ends FLOW_LOST at once; A's BYE
 * cannot reach B over that flow and fails (430 Flow Failed, RFC 5626
 * §5.3, from B's P-CSCF; 480 from the S-CSCF); A's call ends all the
 * same. */
static void call_flow_lost(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  two_ues(w, NULL, NULL, &a, &b);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  gone g = {sc_ue_impu(b),
            sc_pcscf_binding_flow(w, SC_PCSCF_HOME, sc_ue_impu(b))};
  assert_int_not_equal(g.flow, 0);
  uint64_t b_flow = sc_ue_status(w, b).flow;
  sc_ue_flow_fail(w, b);
  assert_true(sc_call_wait(w, b, hb, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_int_equal(sc_call_info(w, b, hb).end, IMSEC_UE_END_FLOW_LOST);
  /* The P-CSCF noticed (over sockets its end goes a moment later). */
  assert_true(sc_run_until(w, flow_moved, &g, WAIT_MS));
  assert_int_equal(sc_call_hangup(w, a, ha), 0);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.end, IMSEC_UE_END_LOCAL_BYE);
  assert_true(ia.bye_status == 430 || ia.bye_status == 480);
  /* The P-CSCF found B's binding without that flow: 430 Flow Failed
   * (RFC 5626 §5.3), which the S-CSCF passes on as 480. */
  assert_int_equal(responses(w, "pcscf", "SIP/2.0 430", "BYE"), 1);
  /* Nothing went over the dead flow after it died. */
  assert_int_equal(sc_msgs_on(w, "pcscf", "BYE", fb), 0);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, b_flow);
  sc_dump(w);
  sc_world_del(w);
}

/* B's flow goes down while B rings: the P-CSCF's INVITE transaction
 * toward B fails with it, 430 upstream (RFC 5626 §5.3), which the S-CSCF
 * turns into 480 for A (TS 24.229 §5.4.3.3: the callee is unreachable);
 * A's call is refused, B's ends FLOW_LOST. */
static void call_flow_lost_ringing(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts ring = {.answer = IMSEC_UE_ANSWER_RING};
  two_ues(w, NULL, &ring, &a, &b);
  int ha = sc_call_start(w, a, sc_ue_impu(b));
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_RINGING, WAIT_MS));
  int hb = sc_call_incoming(w, b);
  assert_int_not_equal(hb, 0);
  uint64_t b_flow = sc_ue_status(w, b).flow;
  sc_ue_flow_fail(w, b);
  assert_true(sc_call_wait(w, b, hb, IMSEC_UE_CALL_ENDED, WAIT_MS));
  assert_int_equal(sc_call_info(w, b, hb).end, IMSEC_UE_END_FLOW_LOST);
  assert_true(sc_call_wait(w, a, ha, IMSEC_UE_CALL_ENDED, WAIT_MS));
  imsec_ue_call_info ia = sc_call_info(w, a, ha);
  assert_int_equal(ia.end, IMSEC_UE_END_REJECTED);
  assert_int_equal(ia.final_status, 480);
  assert_int_equal(responses(w, "pcscf", "SIP/2.0 430", "INVITE"), 1);
  assert_int_equal(responses(w, "scscf", "SIP/2.0 480", "INVITE"), 1);
  assert_int_equal(sc_msgs(w, "ue0", "ACK"), 1);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, b_flow);
  sc_dump(w);
  sc_world_del(w);
}

/* A roams: registered through the visited network's P-CSCF, it calls B
 * at home. The visited P-CSCF Record-Routes with A's token; B hangs up
 * and its BYE reaches A through the visited P-CSCF on A's flow. */
static void call_roaming(sc_backend be) {
  sc_world *w = sc_world_new(be);
  sc_ue *a, *b;
  sc_ue_opts roam = {.via = SC_PCSCF_VISITED};
  two_ues(w, &roam, NULL, &a, &b);
  assert_int_equal(sc_ue_status(w, a).trust.verdict, IMSEC_TRUST_PARTNER);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  assert_int_equal(sc_msgs(w, "vpcscf", "INVITE"), 1);
  assert_int_equal(assert_rr_token(w, "vpcscf", 0, "vpcscf", a, 1), 2);
  assert_int_equal(sc_msgs(w, "pcscf", "INVITE"), 1);
  assert_int_equal(assert_rr_token(w, "pcscf", 0, "pcscf", b, 1), 5);
  /* The visited P-CSCF's entries with A's token, below. */
  assert_int_equal(assert_rr_token(w, "pcscf", 0, "vpcscf", a, 0), 5);
  hang_up(w, b, hb, a, ha);
  uint64_t fa = sc_ue_reg_flow(w, "vpcscf", a);
  assert_int_not_equal(fa, 0);
  assert_int_equal(sc_msgs_on(w, "vpcscf", "ACK", fa), 0);
  assert_int_equal(sc_msgs_on(w, "vpcscf", "BYE", fa), 1);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  assert_int_equal(pcscf_sent_on(w, "ACK", fb, 1), 1);
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* Calls in mode `m` (A calls B, B answers, A hangs up; again, B hangs
 * up): the INVITE, ACK and BYE reach B over one flow, B's registered one
 * (M2b: the one the P-CSCF dialled; M3 AKA-derived: the PSK flow B
 * reconnected on). */
static void call_in_mode(sc_backend be, sc_mode m) {
  sc_world *w = sc_world_new_mode(be, m);
  sc_ue *a, *b;
  /* M2b: the caller keeps its flow (M1), the callee is dialled. */
  sc_ue_opts plain = {.m1 = 1};
  two_ues(w, m == SC_M2B ? &plain : NULL, NULL, &a, &b);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  if (m == SC_M2B)
    assert_true(sc_run_until(w, flow_closed, b, WAIT_MS));
  if (m == SC_M3_AKA) {
    moved mv = {b, sc_ue_status(w, b).flow};
    sc_ue_reconnect(w, b);
    assert_true(sc_run_until(w, reconnected_psk, &mv, WAIT_MS));
  }
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  hang_up(w, a, ha, b, hb);
  /* (DTLS: a request may have been sent again on Timer A or E.) */
  assert_true(sc_msgs(w, "pcscf", "INVITE") >= 2);
  uint64_t fi = sc_msg_flow(w, "pcscf", "INVITE", 1);
  assert_int_not_equal(fi, 0);
  assert_true(pcscf_sent_on(w, "ACK", fi, 1) >= 1);
  assert_true(sc_msgs_on(w, "pcscf", "BYE", fi) >= 1);
  if (m != SC_M2B && m != SC_M3_AKA)
    assert_int_equal(fi, fb);
  else
    assert_int_not_equal(fi, fb);
  /* The P-CSCF's access entry on top toward B names the transport B's
   * flow runs (SIP over DTLS: dtls-udp, draft-jennings-sip-dtls). M2b:
   * the INVITE is routed before the P-CSCF dialled B, whose access side
   * is not known yet: the core entry alone (B's flow carries its requests
   * whatever the Route names, RFC 5626 §5.3). */
  char rr[RR_MAX][512];
  assert_true(record_routes(w, "pcscf", "INVITE", 1, rr) >= 2);
  assert_non_null(strstr(rr[0], m == SC_DTLS  ? "transport=dtls-udp"
                                : m == SC_M2B ? "transport=tcp"
                                              : "transport=tls"));
  assert_requests_on(w, a, 0);
  assert_requests_on(w, b,
                     m == SC_M2B ? sc_msg_in_flow(w, "ue1", "INVITE", 0) : 0);
  /* A second call, B hangs up: B's BYE leaves on its flow (M2b: the one
   * the P-CSCF dialled in) and reaches A. */
  size_t b_byes = sc_msgs(w, "ue1", "BYE");
  call_up(w, a, b, &ha, &hb);
  hang_up(w, b, hb, a, ha);
  assert_int_equal(sc_msgs(w, "ue1", "BYE"), b_byes + 1);
  assert_requests_on(w, a, 0);
  sc_dump(w);
  sc_world_del(w);
}

/* SIP over DTLS, the INVITE toward B lost on the way (B's third
 * datagram down: the 401, the 200, then the INVITE): the P-CSCF sends it
 * again on Timer A (RFC 3261 §17.1.1.2), B answers once, the call goes on
 * as over TLS. */
static void call_dtls_loss(sc_backend be) {
  sc_world *w = sc_world_new_mode(be, SC_DTLS);
  sc_ue *a, *b;
  sc_ue_opts lossy = {.lose_down = 3};
  two_ues(w, NULL, &lossy, &a, &b);
  int ha, hb;
  call_up(w, a, b, &ha, &hb);
  assert_int_equal(sc_dgrams_lost(w), 1);
  uint64_t fb = sc_ue_reg_flow(w, "pcscf", b);
  /* The INVITE twice toward B (one lost), one answer from B. */
  assert_int_equal(sc_msgs_on(w, "pcscf", "INVITE", fb), 2);
  assert_int_equal(sc_msgs_in_on(w, "ue1", "INVITE", 0), 1);
  assert_int_equal(responses(w, "ue1", "SIP/2.0 180", "INVITE"), 1);
  hang_up(w, a, ha, b, hb);
  assert_requests_on(w, b, 0);
  sc_dump(w);
  sc_world_del(w);
}

static void call_m2a(sc_backend be) {
  call_in_mode(be, SC_M2A);
}
static void call_m2b(sc_backend be) {
  call_in_mode(be, SC_M2B);
}
static void call_m3(sc_backend be) {
  call_in_mode(be, SC_M3);
}
static void call_m3_aka(sc_backend be) {
  call_in_mode(be, SC_M3_AKA);
}
static void call_dtls(sc_backend be) {
  call_in_mode(be, SC_DTLS);
}

/* ------------------------------------------------------------ tests */

/* SCENARIO_TIMES=1 prints each run's wall time (stderr). */
static void timed(const char *name, void (*fn)(sc_backend), sc_backend b) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fn(b);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (getenv("SCENARIO_TIMES"))
    fprintf(stderr, "%s_%s: %.0f ms\n", b == SC_SIM ? "sim" : "net", name,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

#define BOTH(name)                                                             \
  static void sim_##name(void **state) {                                       \
    (void)state;                                                               \
    timed(#name, name, SC_SIM);                                                \
  }                                                                            \
  static void net_##name(void **state) {                                       \
    (void)state;                                                               \
    timed(#name, name, SC_NET);                                                \
  }

BOTH(home_register)
BOTH(roaming)
BOTH(rogue_pcscf)
BOTH(sync_failure)
BOTH(deregister)
BOTH(m2a_register)
BOTH(m2b_dial_back)
BOTH(m3_configured)
BOTH(m3_aka)
BOTH(dtls_register)
BOTH(digest_register)
BOTH(digest_wrong_password)
BOTH(digest_user_part)
BOTH(digest_call)
BOTH(call_answer)
BOTH(call_busy)
BOTH(call_cancel)
BOTH(call_cancel_early)
BOTH(call_forked)
BOTH(call_forked_both)
BOTH(call_refused)
BOTH(call_forged_bye)
/* Sim only (see call_timer_c). */
static void sim_call_timer_c(void **state) {
  (void)state;
  timed("call_timer_c", call_timer_c, SC_SIM);
}
BOTH(call_reinvite)
BOTH(call_bye_callee)
BOTH(call_flow_lost)
BOTH(call_flow_lost_ringing)
BOTH(call_roaming)
BOTH(call_m2a)
BOTH(call_m2b)
BOTH(call_m3)
BOTH(call_m3_aka)
BOTH(call_dtls)
BOTH(call_dtls_loss)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sim_home_register),
      cmocka_unit_test(net_home_register),
      cmocka_unit_test(sim_roaming),
      cmocka_unit_test(net_roaming),
      cmocka_unit_test(sim_rogue_pcscf),
      cmocka_unit_test(net_rogue_pcscf),
      cmocka_unit_test(sim_sync_failure),
      cmocka_unit_test(net_sync_failure),
      cmocka_unit_test(sim_deregister),
      cmocka_unit_test(net_deregister),
      cmocka_unit_test(sim_m2a_register),
      cmocka_unit_test(net_m2a_register),
      cmocka_unit_test(sim_m2b_dial_back),
      cmocka_unit_test(net_m2b_dial_back),
      cmocka_unit_test(sim_m3_configured),
      cmocka_unit_test(net_m3_configured),
      cmocka_unit_test(sim_m3_aka),
      cmocka_unit_test(net_m3_aka),
      cmocka_unit_test(sim_dtls_register),
      cmocka_unit_test(net_dtls_register),
      cmocka_unit_test(sim_digest_register),
      cmocka_unit_test(net_digest_register),
      cmocka_unit_test(sim_digest_wrong_password),
      cmocka_unit_test(net_digest_wrong_password),
      cmocka_unit_test(sim_digest_user_part),
      cmocka_unit_test(net_digest_user_part),
      cmocka_unit_test(sim_digest_call),
      cmocka_unit_test(net_digest_call),
      cmocka_unit_test(sim_call_answer),
      cmocka_unit_test(net_call_answer),
      cmocka_unit_test(sim_call_busy),
      cmocka_unit_test(net_call_busy),
      cmocka_unit_test(sim_call_cancel),
      cmocka_unit_test(net_call_cancel),
      cmocka_unit_test(sim_call_cancel_early),
      cmocka_unit_test(net_call_cancel_early),
      cmocka_unit_test(sim_call_forked),
      cmocka_unit_test(net_call_forked),
      cmocka_unit_test(sim_call_forked_both),
      cmocka_unit_test(net_call_forked_both),
      cmocka_unit_test(sim_call_refused),
      cmocka_unit_test(net_call_refused),
      cmocka_unit_test(sim_call_forged_bye),
      cmocka_unit_test(net_call_forged_bye),
      cmocka_unit_test(sim_call_timer_c),
      cmocka_unit_test(sim_call_reinvite),
      cmocka_unit_test(net_call_reinvite),
      cmocka_unit_test(sim_call_bye_callee),
      cmocka_unit_test(net_call_bye_callee),
      cmocka_unit_test(sim_call_flow_lost),
      cmocka_unit_test(net_call_flow_lost),
      cmocka_unit_test(sim_call_flow_lost_ringing),
      cmocka_unit_test(net_call_flow_lost_ringing),
      cmocka_unit_test(sim_call_roaming),
      cmocka_unit_test(net_call_roaming),
      cmocka_unit_test(sim_call_m2a),
      cmocka_unit_test(net_call_m2a),
      cmocka_unit_test(sim_call_m2b),
      cmocka_unit_test(net_call_m2b),
      cmocka_unit_test(sim_call_m3),
      cmocka_unit_test(net_call_m3),
      cmocka_unit_test(sim_call_m3_aka),
      cmocka_unit_test(net_call_m3_aka),
      cmocka_unit_test(sim_call_dtls),
      cmocka_unit_test(net_call_dtls),
      cmocka_unit_test(sim_call_dtls_loss),
      cmocka_unit_test(net_call_dtls_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
