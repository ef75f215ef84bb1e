/*
 * sim: the in-memory harness of the end-to-end tests. Many elements (each
 * an imsec_elem_ops run by its own host core, include/imsec/host.h) live
 * in one process on a virtual clock; flows are pairs of ends joined by the
 * harness; CONNECT is resolved by address to the element listening there; every
 * message, flow event and log line goes into a trace (for ladders and
 * assertions). Deterministic: one thread, one event heap ordered by (time,
 * sequence).
 *
 * TLS flows: the connecting element gets peer_cert facts made by its host
 * really validating the listener's DER chain (sim_listen_tls) with
 * crypto/x509 against the connector's anchors (sim_node_anchors) at the
 * harness's certificate time; or, if the listener was given facts
 * directly (sim_listen_facts), those. The deployment modes (DESIGN.md
 * §2): a listener may ask for the connector's certificate (M2a, and M2b
 * where the P-CSCF dials a listening UE), take PSKs (M3), and DTLS flows
 * carry datagrams that may be lost (sim_listen_opts, sim_node_tls_profile,
 * sim_drop_next).
 *
 * Timers, PERSIST ordering and service replies are the host core's: a
 * node's element sees exactly what it would see under the net port.
 *
 * Faults: a per-message delay, a tamper hook that may rewrite, delay or drop
 * any message in flight, failing a flow (both ends see on_flow_down), an
 * idle timeout for inbound flows not kept (like net/'s).
 *
 * Typical use:
 *   sim *s; sim_new(&s, 1000);
 *   sim_node *p = sim_add(s, "pcscf", &imsec_pcscf_ops, pcscf, "10.0.0.2");
 *   sim_listen(p, &addr_tls_5061);
 *   sim_call(ue_node, start_fn, NULL);   // kick the UE
 *   sim_run(s, 10000);                    // run until idle or +10 s
 */
#ifndef IMSEC_TEST_SIM_H
#define IMSEC_TEST_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "imsec/elem.h"
#include "imsec/host.h"
#include "imsec/svc.h"
#include "imsec/x509.h"

typedef struct sim sim;
typedef struct sim_node sim_node;

/* Make a harness whose clock starts at `start` ms. Returns 0 or -1. */
int sim_new(sim **out, imsec_time_ms start);
/* Free the harness (not the elements). */
void sim_del(sim *s);

imsec_time_ms sim_now(const sim *s);

/* Add an element named `name` (copied; used in the trace and ladders) with
 * its ops (borrowed) and handle; `host` (copied) is the IP its outgoing
 * flows come from. Nothing runs yet (sim_node_start calls on_start).
 * Returns NULL on allocation failure. */
sim_node *sim_add(sim *s, const char *name, const imsec_elem_ops *ops,
                  void *self, const char *host);
const char *sim_node_name(const sim_node *n);
void *sim_node_self(const sim_node *n);
/* The node's host core (pending requests, held actions, deadlines). */
imsec_host *sim_node_host(const sim_node *n);
/* ops->on_start, once. */
void sim_node_start(sim_node *n);
/* ops->done (0 when the element has none). */
int sim_node_done(const sim_node *n);
/* The store the node's REQUEST and PERSIST actions go to (borrowed; NULL:
 * they are answered IMSEC_ERR_UNSUPPORTED). It must answer inside submit
 * (the sim has one thread); sim_set_svc_delay makes the answers arrive
 * later in virtual time. */
void sim_node_svc(sim_node *n, imsec_svc *svc);
/* The anchors used to make peer facts for this node's outgoing TLS flows
 * (borrowed). */
void sim_node_anchors(sim_node *n, const imsec_x509_anchors *a);
/* LOG actions above this level are not traced (default DEBUG: all). */
void sim_node_log_level(sim_node *n, imsec_log_level lv);

/* Listen at `addr` (tp:host:port). TLS listeners present a DER chain
 * (leaf first; copied) or fixed facts (copied). `tickets` 1: a second
 * connection from the same node comes up "resumed". Returns 0 or -1 (the
 * address is taken, or no memory). */
int sim_listen(sim_node *n, const imsec_addr *addr);
int sim_listen_tls(sim_node *n, const imsec_addr *addr,
                   const imsec_bytes *chain, size_t n_chain, int tickets);
int sim_listen_facts(sim_node *n, const imsec_addr *addr,
                     const imsec_trust_cert *facts, int tickets);

/* ---------------------------------------------------------- TLS modes */

/* Whether a TLS/DTLS listener asks the connecting node for a certificate
 * (net's imsec_net_client_auth). */
typedef enum sim_client_cert {
  SIM_CLIENT_CERT_NONE = 0, /* never asks: the acceptor gets no facts */
  SIM_CLIENT_CERT_REQUEST,  /* asks; a client without one still connects */
  SIM_CLIENT_CERT_REQUIRE,  /* a client without one is refused */
} sim_client_cert;
/* A refused client certificate (none under REQUIRE, or one that does not
 * verify with verify_client): over DTLS 1.2 the connector's handshake
 * fails (on_flow_down(0, tag, IMSEC_ERR_AUTH)); over TLS 1.3 its flow
 * comes up first (the client finishes before the server judges its
 * certificate), what it sends is lost, and the server's alert takes the
 * flow down with IMSEC_ERR_IO, as over the net port. The listener's
 * element sees nothing either way; sim_handshakes_failed counts it. */

/* A listener (sim_listen_opts). The listener's own credentials: a DER
 * chain (leaf first; copied) the connector's host checks against its
 * anchors, or fixed facts (copied), or neither (a PSK-only listener). */
typedef struct sim_tls_opts {
  const imsec_bytes *chain;
  size_t n_chain;
  const imsec_trust_cert *facts;
  int tickets; /* 1: a second connection from the same node is "resumed" */
  /* Client certificates (modes M2a, M2b): the connecting node's chain
   * (its client context, sim_node_tls_profile) goes to the accepting
   * node's host, which makes info->peer_cert from it against its anchors
   * (sim_node_anchors), as with the net port; on a resumed session (the
   * listener's tickets) the leaf alone, as net/ keeps no chain. */
  sim_client_cert client_cert;
  /* 1: a client chain whose path does not validate against this node's
   * anchors fails the handshake (net: a server context without
   * defer_verify); 0: the element decides from the facts. */
  int verify_client;
  /* 1: takes PSKs (mode M3) from the node's table: the keys its element
   * installs (IMSEC_ACT_PSK, expiring on the virtual clock) and the static
   * ones (sim_node_psk_static), the element's first. A CONNECT offering a
   * PSK (imsec_tls_profile.psk_len > 0) comes up iff the table holds that
   * identity with that very key; both ends then see info.psk = 1,
   * info.psk_identity and no peer certificate. A CONNECT offering none
   * gets the certificate handshake when the listener has credentials. A
   * CONNECT offering a PSK opens a flow of its own (no RFC 5923 reuse).
   * A refused PSK fails at once with IMSEC_ERR_AUTH, also over DTLS (where
   * net/ drops the records that do not decrypt and the handshake times
   * out instead). */
  int psk;
} sim_tls_opts;

/* Listen at `addr` (any tp; the TLS fields matter for tls: and dtls:).
 * `o` NULL: as sim_listen. Returns 0 or -1 (the address is taken). */
int sim_listen_opts(sim_node *n, const imsec_addr *addr, const sim_tls_opts *o);

/* Flags of a client context (net: imsec_hostnet_tls_profile).
 * SIM_TLS_VERIFY: the handshake fails (IMSEC_ERR_AUTH) unless the server
 * chain validates against the node's anchors and names server_name (net:
 * defer_verify 0); a CONNECT's verify DEFER or REQUIRE overrides it.
 * SIM_TLS_NO_RESUME: never resumes a session. */
#define SIM_TLS_VERIFY 1u
#define SIM_TLS_NO_RESUME 2u

/* A client context of node `n` for CONNECTs whose imsec_tls_profile
 * .profile is `name` ("": the default, also for a CONNECT without a
 * profile): the client certificate it shows when a listener asks (a DER
 * chain, leaf first, copied; or fixed facts, copied; or neither) and its
 * flags. Replaces an earlier context of that name. A CONNECT naming a
 * context that was never given fails with IMSEC_ERR_CONFIG, as with the
 * net port; the default context needs no configuring (no certificate,
 * the element decides on the server's chain). Unlike the net port, the
 * sim does not refuse a CONNECT whose verify/no_resume/dtls differ from
 * its context's. Returns 0 or -1. */
int sim_node_tls_profile(sim_node *n, const char *name,
                         const imsec_bytes *chain, size_t n_chain,
                         const imsec_trust_cert *facts, unsigned flags);
/* The default context's client certificate (its flags kept). */
int sim_node_client_chain(sim_node *n, const imsec_bytes *chain,
                          size_t n_chain);
/* A configured PSK of node n's PSK-taking listeners (net:
 * imsec_hostnet_psk_set_static); len 0 removes it. Returns 0 or -1 (bad
 * sizes: identity 1..IMSEC_PSK_ID_MAX - 1, key <= IMSEC_PSK_MAX). */
int sim_node_psk_static(sim_node *n, const char *identity, const uint8_t *key,
                        size_t len);
/* 1 when node n's listeners would take `identity` now (a live installed
 * key or a static one). */
int sim_node_psk_has(const sim_node *n, const char *identity);
/* TLS/DTLS handshakes that failed (PSK, client certificate, verification),
 * counted in no sim_flows_opened. */
size_t sim_handshakes_failed(const sim *s);

/* The time (Unix seconds) certificate validity is checked at (default:
 * the real clock, -1). Nodes added later use it (call before sim_add). */
void sim_cert_time(sim *s, int64_t unix_s);

/* Run fn(self, now, out, arg) on node `n` now and carry out its actions
 * (what a test does to start a UE or make it send). */
void sim_call(sim_node *n, imsec_host_call_fn fn, void *arg);

/* Run: deliver every event due, advancing the clock to the next timer
 * when nothing else is pending, until the heap is empty or the next event
 * lies beyond now + max_ms. The clock ends at the last event run (never
 * beyond now + max_ms). Returns the number of events run, or -1 when more
 * than 1,000,000 ran (a livelock). */
long sim_run(sim *s, imsec_time_ms max_ms);
/* Deliver only what is due at the current time (no clock advance). */
long sim_run_idle(sim *s);
/* Advance the clock by `ms`, running everything due on the way. */
long sim_advance(sim *s, imsec_time_ms ms);
/* Run until pred(arg) is non-zero (checked after each event) or max_ms
 * passed. Returns 1 when the predicate held, 0 otherwise. */
int sim_run_until(sim *s, int (*pred)(void *arg), void *arg,
                  imsec_time_ms max_ms);

/* ---------------------------------------------------------------- faults */

/* Every message takes `ms` to arrive (default 0). */
void sim_set_delay(sim *s, imsec_time_ms ms);
/* Every service reply reaches its element `ms` after the store gave it
 * (default 0: at the end of the walk that asked), as from a slow store. */
void sim_set_svc_delay(sim *s, imsec_time_ms ms);

/* Called for each message as it is sent. `*data` is a malloc'd copy the
 * hook may edit or replace (free the old, set the new and *len). Return
 * < 0 to drop the message, else an extra delay in ms. */
typedef struct sim_msg {
  const sim_node *from, *to;
  uint64_t from_flow, to_flow;
  imsec_time_ms now;
} sim_msg;
typedef long (*sim_tamper_fn)(void *user, const sim_msg *m, uint8_t **data,
                              size_t *len);
void sim_set_tamper(sim *s, sim_tamper_fn fn, void *user);

/* Datagrams (DTLS flows: one message per datagram, at most 16 KiB, a
 * larger send refused with IMSEC_ERR_LIMIT as by net/) may be lost: the
 * next `count` datagrams sent on the flow with end `flow` (either end;
 * 0: on any DTLS flow) are lost, traced as dropped. Replaces an earlier
 * count. */
void sim_drop_next(sim *s, uint64_t flow, size_t count);
/* Or a predicate, asked for each datagram (after sim_drop_next's count):
 * non-zero loses it. `data` is what was sent. */
typedef int (*sim_loss_fn)(void *user, const sim_msg *m, const uint8_t *data,
                           size_t len);
void sim_set_loss(sim *s, sim_loss_fn fn, void *user);
/* Datagrams lost so far. */
size_t sim_dgrams_lost(const sim *s);

/* Fail the flow that has `flow` as one end: both ends get on_flow_down
 * with `reason` (e.g. IMSEC_ERR_IO). Returns 0 or -1 (no such flow). */
int sim_flow_fail(sim *s, uint64_t flow, int reason);
/* Inbound flows not kept (imsec_out_keep) within `ms` are closed with
 * IMSEC_ERR_TIMEOUT (net/'s pre-registration idle timeout). 0: off. */
void sim_set_idle_timeout(sim *s, imsec_time_ms ms);

/* Inject raw bytes as if the peer end of `flow` had sent them: the node
 * owning `flow` receives them (an attacker on a flow). Returns 0 or -1. */
int sim_inject(sim *s, uint64_t flow, const void *data, size_t len);
/* Open a flow from a bare "attacker" end (no element) to `addr`; the
 * listener's element sees it come up. Returns the attacker's end id (for
 * sim_inject_from) or 0. */
uint64_t sim_attach(sim *s, const imsec_addr *addr, const char *from_host);
/* Send bytes from an attacker end opened by sim_attach. Messages the
 * element sends back to it are traced only. */
int sim_inject_from(sim *s, uint64_t attacker_end, const void *data,
                    size_t len);

/* ---------------------------------------------------------------- flows */

/* 1 when `flow` is an open end. */
int sim_flow_open(const sim *s, uint64_t flow);
/* The other end of `flow`, or 0. */
uint64_t sim_flow_peer(const sim *s, uint64_t flow);
/* The node owning end `flow`, or NULL (attacker ends too). */
sim_node *sim_flow_node(const sim *s, uint64_t flow);
/* 1 when the element kept end `flow` (imsec_out_keep). */
int sim_flow_kept(const sim *s, uint64_t flow);
/* Open flows between nodes a and b (either direction); the end at `a` of
 * the first one into *a_end (may be NULL). */
size_t sim_flows_between(const sim *s, const sim_node *a, const sim_node *b,
                         uint64_t *a_end);
/* Flows opened so far in the whole harness (TLS handshakes if tls). */
size_t sim_flows_opened(const sim *s, int tls_only);

/* ---------------------------------------------------------------- trace */

typedef enum sim_tr_kind {
  SIM_TR_MSG = 1, /* a message arrived (or was dropped) */
  SIM_TR_UP,      /* a flow end came up */
  SIM_TR_DOWN,    /* a flow end went down */
  SIM_TR_LOG,     /* an element's LOG action */
  SIM_TR_TIMER,   /* the node's host was woken for its deadline */
} sim_tr_kind;

typedef struct sim_tr {
  sim_tr_kind kind;
  imsec_time_ms at;
  const char *from, *to; /* node names ("?" for an attacker); LOG: from */
  uint64_t flow;         /* MSG: the receiving end; UP/DOWN: the end */
  int dropped;           /* MSG dropped by the tamper hook or a dead flow */
  int reason;            /* DOWN */
  imsec_log_level level; /* LOG */
  char *text;            /* MSG: whole message; LOG: the line (owned) */
  size_t len;
} sim_tr;

size_t sim_trace_count(const sim *s);
const sim_tr *sim_trace_at(const sim *s, size_t i);
/* Stop (0) or resume (1) tracing (benchmarks, many-UE runs). */
void sim_trace_enable(sim *s, int on);
/* Forget the trace so far (start a new scene). */
void sim_trace_clear(sim *s);
/* Messages (not dropped) from `from` to `to` (NULL: any) whose start line
 * begins with `start` (e.g. "REGISTER", "SIP/2.0 401"; NULL: any). */
size_t sim_trace_msgs(const sim *s, const char *from, const char *to,
                      const char *start);
/* The i-th such message (NULL when fewer). */
const sim_tr *sim_trace_msg(const sim *s, const char *from, const char *to,
                            const char *start, size_t i);
/* 1 when a LOG line of node `from` (NULL: any) contains `needle`. */
int sim_trace_log_has(const sim *s, const char *from, const char *needle);
/* Print a ladder: one line per message (time, from -> to, start line);
 * `full` prints whole messages; `logs` includes LOG lines. */
void sim_trace_print(const sim *s, FILE *f, int full, int logs);

/* A header value of a traced message (first occurrence, case-insensitive
 * name, compact forms not handled), copied into buf. Returns its length or
 * -1 when absent. */
int sim_msg_header(const sim_tr *t, const char *name, char *buf, size_t cap);

#endif
