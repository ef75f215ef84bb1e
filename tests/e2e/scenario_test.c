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
 *                    MESSAGE over one record gets 513.
 *
 * Waits are predicates with generous deadlines (virtual under sim, real
 * under net): a loaded machine only makes the net runs slower.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sim_home_register), cmocka_unit_test(net_home_register),
      cmocka_unit_test(sim_roaming),       cmocka_unit_test(net_roaming),
      cmocka_unit_test(sim_rogue_pcscf),   cmocka_unit_test(net_rogue_pcscf),
      cmocka_unit_test(sim_sync_failure),  cmocka_unit_test(net_sync_failure),
      cmocka_unit_test(sim_deregister),    cmocka_unit_test(net_deregister),
      cmocka_unit_test(sim_m2a_register),  cmocka_unit_test(net_m2a_register),
      cmocka_unit_test(sim_m2b_dial_back), cmocka_unit_test(net_m2b_dial_back),
      cmocka_unit_test(sim_m3_configured), cmocka_unit_test(net_m3_configured),
      cmocka_unit_test(sim_m3_aka),        cmocka_unit_test(net_m3_aka),
      cmocka_unit_test(sim_dtls_register), cmocka_unit_test(net_dtls_register),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
