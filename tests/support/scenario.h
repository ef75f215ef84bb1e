/*
 * scenario: one driver for the end-to-end scenarios, two backends, so a
 * scenario is written once and runs both in memory and over sockets:
 *
 *   SC_SIM  every element on tests/support/sim (one thread, virtual clock,
 *           certificates checked from DER chains, addresses made up);
 *   SC_NET  every element on its own imsec_hostnet (include/imsec/host_net.h:
 *           its own loop thread), listeners on 127.0.0.1 port 0, real TLS
 *           with the certificates written as PEM to a temporary folder.
 *
 * The world is the same in both: a home network (S-CSCF with an in-memory
 * HSS and registration store, the home P-CSCF), a roaming partner's visited
 * P-CSCF, and a rogue element with two TLS listeners (a certificate from an
 * operator that is no partner, and a self-signed one bearing the home
 * P-CSCF's name). The PKI is the Annex F shape: an IMS root, operator CAs
 * name-constrained to their domains, P-CSCF leaves under them.
 * sc_world_new_mode puts the home P-CSCF and its UEs in one deployment
 * mode (M2a, M2b, M3 configured or AKA-derived, DTLS): the listeners,
 * client contexts, UE certificates (sip:IMPI, `imsec pki ue`'s shape) and
 * PSKs of that mode in both backends; in M3 AKA-derived the core between
 * the home P-CSCF and the S-CSCF is mutual TLS.
 *
 * Every look at an element (status, inbox, counters) runs on that
 * element's own thread (sc_call): under SC_NET the test thread never reads
 * what a loop thread writes. Waits are predicates with a deadline, virtual
 * under SC_SIM and real under SC_NET; nothing sleeps for a fixed time.
 *
 * Message records: what each element sent, by element name ("scscf",
 * "pcscf", "vpcscf", "rogue", "ue0", "ue1", ...), from the sim's trace or
 * the net port's ladder callback.
 *
 * A UE may be a softphone without an ISIM (sc_ue_opts.password): its
 * subscriber is a SIP Digest one in the HSS, it registers over TLS with
 * a password and no sec-agree (TS 33.203 Annexes N, O.2, P).
 *
 * Calls (docs/CALLS.md): a UE calls another's IMPU through its P-CSCF and
 * the S-CSCF (sc_call_start, on the UE's own thread), hangs up, sends a
 * re-INVITE; each UE answers as its sc_ue_opts say (auto, busy, ring; after
 * a delay). A second device of a subscriber (sc_ue_opts.device_of) makes
 * the S-CSCF fork. sc_ue_flow_fail takes a UE's flow down mid-call: the
 * sim fails the flow (both ends see it go), the net port closes it on the
 * UE's side and tells the UE so, as a dead socket would.
 */
#ifndef IMSEC_TEST_SCENARIO_H
#define IMSEC_TEST_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"
#include "imsec/host.h"
#include "imsec/ue.h"

#define SC_HOME "ims.mnc001.mcc001.3gppnetwork.org"
#define SC_VISITED "ims.mnc002.mcc001.3gppnetwork.org"
#define SC_OTHER "ims.mnc003.mcc001.3gppnetwork.org"
#define SC_VISITED_ID "Visited 001-02"

typedef enum sc_backend { SC_SIM = 0, SC_NET = 1 } sc_backend;

/* The P-CSCF a UE is given (its TLS listener and its name). */
typedef enum sc_pcscf {
  SC_PCSCF_HOME = 0,    /* pcscf.HOME, home operator CA */
  SC_PCSCF_VISITED,     /* pcscf.VISITED, the partner's CA */
  SC_PCSCF_ROGUE,       /* pcscf.OTHER, an operator that is no partner */
  SC_PCSCF_SELF_SIGNED, /* self-signed, named pcscf.HOME */
  SC_PCSCF_N
} sc_pcscf;

/* The deployment mode of the home P-CSCF's access side (DESIGN.md §2)
 * and of the UEs that register through it. Whatever the mode, the UE
 * authenticates to the S-CSCF with IMS AKA and applies its trust decision
 * to the P-CSCF. */
typedef enum sc_mode {
  SC_M1 = 0, /* TLS, the P-CSCF's certificate only */
  SC_M2A,    /* mutual TLS: the UE shows a client certificate (sip:IMPI) */
  SC_M2B,    /* the UE listens with a server certificate; the P-CSCF dials
                it when it has no live flow to it */
  SC_M3,     /* TLS with a configured PSK (identity: the IMPI) */
  SC_M3_AKA, /* a PSK derived from the AKA run, used on reconnection */
  SC_DTLS,   /* SIP over DTLS on UDP (datagrams that may be lost) */
} sc_mode;

typedef struct sc_world sc_world;
typedef struct sc_ue sc_ue;

typedef struct sc_ue_opts {
  sc_pcscf via;           /* default SC_PCSCF_HOME */
  const char *pcscf_name; /* NULL: the name of `via`'s certificate */
  int sqn_ahead;          /* the ISIM's SQN is ahead of the HSS's */
  /* The refused cases of the modes: the UE's certificate (M2a, M2b)
   * names another IMPI; its configured PSK (M3) is not the P-CSCF's. */
  int cert_other_impi;
  int psk_wrong;
  /* DTLS: the n-th datagram carrying a SIP message from the P-CSCF to
   * this UE is lost (sim: the loss hook; net: a UDP relay between them).
   * 0: none. */
  int lose_down;
  /* Mode M1 whatever the world's (DTLS: the home P-CSCF's TLS listener;
   * M2a: no certificate; M2b: no listener, its flow stays). */
  int m1;
  /* Calls: how the UE answers an incoming INVITE (imsec_ue_answer: AUTO,
   * the default, BUSY, RING) and after how long it answers (0: at once;
   * imsec_ue_config.answer, answer_delay_ms). */
  int answer;
  imsec_time_ms answer_delay_ms;
  /* A second device of that UE's subscriber: the same IMPI, IMPUs and
   * keys (not added to the HSS again), its own +sip.instance (RFC 5626
   * §4.1), element and flow: the registrar holds two contacts for the
   * IMPU and a call to it forks (RFC 3261 §16.6). A P-CSCF binds an IMPI
   * to one flow (TS 33.203 Annex O): the second device's registration
   * through the same P-CSCF replaces the first's binding there, so give
   * it another `via`. M3: the subscriber's configured PSK. */
  const sc_ue *device_of;
  /* SIP Digest over TLS (TS 33.203 Annexes N, O; docs/DIGEST.md) instead
   * of IMS AKA: a subscriber without an ISIM. The HSS record holds the
   * H(A1)s of `password` in the realm of the IMPI (imsec_hss_digest_set),
   * the UE the password itself (imsec_ue_config.password), no K or OPc.
   * password_wrong: the UE's password differs from the HSS's.
   * digest_username: the username the UE sends (NULL: the IMPI; e.g. the
   * IMPI's user part, as many softphones send). */
  const char *password;
  int password_wrong;
  const char *digest_username;
} sc_ue_opts;

/* Make the networks: PKI, HSS, S-CSCF (started), the P-CSCFs with their
 * routes and core peers. Asserts on failure. */
sc_world *sc_world_new(sc_backend b);
/* The same with the home P-CSCF (and the UEs added later) in mode `m`. */
sc_world *sc_world_new_mode(sc_backend b, sc_mode m);
/* Stop every element, then free everything. */
void sc_world_del(sc_world *w);
sc_backend sc_world_backend(const sc_world *w);

/* A subscriber in the HSS (two IMPUs: sip: and tel:) and its UE element,
 * not started. `o` may be NULL. */
sc_ue *sc_ue_add(sc_world *w, const sc_ue_opts *o);
/* Start it (on_start: connect, trust decision, REGISTER). */
void sc_ue_start(sc_world *w, sc_ue *u);
const char *sc_ue_name(const sc_ue *u); /* "ue0", ... */
const char *sc_ue_impu(const sc_ue *u); /* its sip: IMPU */
const char *sc_ue_tel(const sc_ue *u);  /* its tel: IMPU */
const char *sc_ue_impi(const sc_ue *u); /* its IMPI */

/* Run fn(self, now, out, arg) on the element's own thread, its actions
 * carried out; returns when it ran. Elements: a UE's (sc_ue_call), the
 * S-CSCF's, a P-CSCF's. */
void sc_ue_call(sc_world *w, sc_ue *u, imsec_host_call_fn fn, void *arg);
void sc_scscf_call(sc_world *w, imsec_host_call_fn fn, void *arg);
void sc_pcscf_call(sc_world *w, sc_pcscf p, imsec_host_call_fn fn, void *arg);

/* Run until pred(w, arg) holds or `ms` passed (virtual or real). Returns 1
 * when it held. */
typedef int (*sc_pred_fn)(sc_world *w, void *arg);
int sc_run_until(sc_world *w, sc_pred_fn pred, void *arg, imsec_time_ms ms);
/* Let the world run for `ms` (sim: virtual time; net: a real wait). Only
 * for checking that nothing more happens. */
void sc_run_for(sc_world *w, imsec_time_ms ms);

/* ------------------------------------------------------ looks and acts */

imsec_ue_status sc_ue_status(sc_world *w, sc_ue *u);
/* Run until the UE's attempt settles (registered, refused, failed);
 * returns its state then. */
imsec_ue_state sc_ue_register(sc_world *w, sc_ue *u, imsec_time_ms ms);
/* imsec_ue_send_message(to, text/plain `text`): its handle (> 0). */
int sc_ue_send(sc_world *w, sc_ue *u, const char *to, const char *text);
/* imsec_ue_message_result of that handle (0 while pending). */
int sc_ue_send_result(sc_world *w, sc_ue *u, int handle);
/* Pop the oldest received MESSAGE: 1 (free with imsec_ue_message_free) or
 * 0. */
int sc_ue_inbox_pop(sc_world *w, sc_ue *u, imsec_ue_message *out);
/* imsec_ue_reconnect: drop the flow to the P-CSCF and connect again,
 * keeping the registration (M3 AKA-derived: with the derived PSK). */
void sc_ue_reconnect(sc_world *w, sc_ue *u);
/* imsec_ue_deregister. */
void sc_ue_deregister(sc_world *w, sc_ue *u);
/* SQN writes the UE's store was asked for (IMSEC_SVC_UE_SQN). */
unsigned long sc_ue_sqn_writes(sc_world *w, sc_ue *u);

size_t sc_scscf_contacts(sc_world *w, const char *impu);
size_t sc_scscf_registrations(sc_world *w);
size_t sc_pcscf_bindings(sc_world *w, sc_pcscf p);
/* imsec_pcscf_binding_flow at P-CSCF p (its own flow id), 0 when the
 * binding has no flow now or is gone. */
uint64_t sc_pcscf_binding_flow(sc_world *w, sc_pcscf p, const char *impu);

/* ------------------------------------------------------ message records */

/* Messages element `from` sent whose start line begins with `start`
 * (NULL: any), also those lost on the way. */
size_t sc_msgs(sc_world *w, const char *from, const char *start);
/* Messages element `name` received (any). */
size_t sc_msgs_in(sc_world *w, const char *name);
/* Messages element `name` received whose start line begins with `start`
 * (NULL: any) on its own flow `flow` (0: any; the id the element knows it
 * by, e.g. imsec_ue_status.flow). */
size_t sc_msgs_in_on(sc_world *w, const char *name, const char *start,
                     uint64_t flow);
/* The flow (the receiver's id) of the i-th such message, 0 when fewer. */
uint64_t sc_msg_in_flow(sc_world *w, const char *name, const char *start,
                        size_t i);
/* The i-th such message sent: an id of the connection it went on, 0 when
 * fewer. Compare only ids of one element's messages (under SC_NET each
 * port numbers its own flows; under SC_SIM it is the receiving end). */
uint64_t sc_msg_flow(sc_world *w, const char *from, const char *start,
                     size_t i);
/* A header of that message into buf ("" when absent or no message);
 * returns buf. */
const char *sc_msg_header(sc_world *w, const char *from, const char *start,
                          size_t i, const char *name, char *buf, size_t cap);
/* The message as sent (malloc'd, NUL-terminated; free it), NULL when
 * fewer. */
char *sc_msg_text(sc_world *w, const char *from, const char *start, size_t i);
/* Messages `from` sent starting with `start` (NULL: any) on `flow` (an id
 * as sc_msg_flow gives). */
size_t sc_msgs_on(sc_world *w, const char *from, const char *start,
                  uint64_t flow);
/* The flow (an id as sc_msg_flow gives, in P-CSCF `pcscf`'s records:
 * "pcscf" or "vpcscf") of UE u's registration: the one the last 200 to
 * u's REGISTER went over. 0 when none. */
uint64_t sc_ue_reg_flow(sc_world *w, const char *pcscf, sc_ue *u);
/* DTLS: datagrams lost so far (sc_ue_opts.lose_down). */
size_t sc_dgrams_lost(sc_world *w);
/* Print what was recorded (stderr) when SCENARIO_LADDER is set. */
void sc_dump(sc_world *w);

/* ------------------------------------------------------ calls */

/* imsec_ue_call(to) on u's thread: its result (a handle > 0, or an
 * error). */
int sc_call_dial(sc_world *w, sc_ue *u, const char *to);
/* The same, asserting a handle came back. */
int sc_call_start(sc_world *w, sc_ue *u, const char *to);
/* Call and hang up in one event on u's thread, before anything can come
 * back: imsec_ue_call's result, *hangup_rc imsec_ue_call_hangup's. */
int sc_call_dial_hangup(sc_world *w, sc_ue *u, const char *to, int *hangup_rc);
/* imsec_ue_call_hangup, imsec_ue_call_reinvite: their results. */
int sc_call_hangup(sc_world *w, sc_ue *u, int handle);
int sc_call_reinvite(sc_world *w, sc_ue *u, int handle);
/* imsec_ue_call_get: 0 and *out, or IMSEC_ERR_NOTFOUND. */
int sc_call_get(sc_world *w, sc_ue *u, int handle, imsec_ue_call_info *out);
/* The same, asserting the call is known. */
imsec_ue_call_info sc_call_info(sc_world *w, sc_ue *u, int handle);
/* imsec_ue_calls. */
size_t sc_calls(sc_world *w, sc_ue *u, int *handles, size_t cap);
/* The newest incoming call u knows (its handle), 0 when none. */
int sc_call_incoming(sc_world *w, sc_ue *u);
/* Run until u has an incoming call: its handle, 0 when none came. */
int sc_call_wait_incoming(sc_world *w, sc_ue *u, imsec_time_ms ms);

/* A predicate for sc_run_until: u's call `handle` is in `state` with at
 * least `reinvites` re-INVITEs answered. */
typedef struct sc_call_is {
  sc_ue *u;
  int handle;
  imsec_ue_call_state state;
  unsigned reinvites;
} sc_call_is;
int sc_call_pred(sc_world *w, void *arg);
/* Run until u's call is in `state`: 1, or 0 when it got elsewhere for good
 * (ENDED) or the time ran out. */
int sc_call_wait(sc_world *w, sc_ue *u, int handle, imsec_ue_call_state state,
                 imsec_time_ms ms);

/* Raw bytes on u's flow to its P-CSCF, as if the UE sent them (a UE
 * that forges: sim, injected at the P-CSCF's end; net, sent by u's port
 * over its TLS flow). The UE element itself knows nothing of them. */
void sc_ue_send_raw(sc_world *w, sc_ue *u, const char *text);

/* Take u's flow to the P-CSCF down (see above): the UE gets
 * on_flow_down(IMSEC_ERR_IO), the P-CSCF its flow's end. */
void sc_ue_flow_fail(sc_world *w, sc_ue *u);

#endif
