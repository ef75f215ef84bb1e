/*
 * elemrun: run one sans-I/O element (UE, P-CSCF, S-CSCF; include/imsec/
 * elem.h) over real sockets (net/). The daemons (`imsec scscf`, `imsec
 * pcscf`) and `imsec ue` are this runner plus their element's constructor.
 *
 * The runner owns an imsec_net with ONE loop thread: every element call
 * (flow up, message, flow down, timer, start, elemrun_call) runs on that
 * thread, one at a time, so an element needs no locks. After each call the
 * runner carries out the element's actions (include/imsec/elem.h):
 *   SEND    -> imsec_net_send(flow)
 *   CONNECT -> imsec_net_connect(addr, SNI = server_name, reuse = 1 unless
 *              cfg.no_reuse); the
 *              element then gets on_flow_up(flow, tag, info), or
 *              on_flow_down(0, tag, reason) when the connect fails (flow 0:
 *              a flow that never came up has no id the element knows). A
 *              connect that reuses a flow already up is answered with
 *              on_flow_up at once (on the loop, after the current call).
 *   CLOSE   -> imsec_net_close(flow)
 *   KEEP    -> imsec_net_flow_keep (stop the pre-registration idle timeout)
 *   TIMER   -> imsec_net_post; re-arming or cancelling (at = 0) makes any
 *              earlier arming of that timer id stale, so on_timer fires only
 *              for the latest one
 *   LOG     -> one line "NAME LEVEL: text" on stderr
 * `now` is CLOCK_MONOTONIC in milliseconds.
 *
 * The peer facts of a TLS flow (imsec_flow_info.peer_cert) come from
 * imsec_x509_check of the chain the peer sent (imsec_net_flow_peer_chain)
 * against cfg.anchors at the current time; NULL when there are no anchors
 * or the peer sent no certificate. A UE dials an IP address and verifies a
 * host name: CONNECT with addr.host = "127.0.0.1" and server_name = the
 * P-CSCF's name; the name goes out as SNI and the element's trust decision
 * checks it (the client TLS context has defer_verify set, so a chain that
 * does not verify still reaches the element, which decides).
 *
 * Streams are framed by net's built-in Content-Length framer
 * (imsec_net_frame_cl, RFC 3261 §18.3): lib/sip's framer keeps per-stream
 * state, net's framer interface is a stateless length function.
 *
 * Lifetime: elemrun_new (binds listeners, nothing runs) -> elemrun_port ->
 * elemrun_run (blocks until elemrun_stop, SIGTERM/SIGINT when cfg.signals,
 * or ops->done() turning non-zero; SIGHUP reloads with cfg.reload) ->
 * elemrun_del. Or elemrun_start /
 * elemrun_wait / elemrun_stop from a host program that runs several
 * runners in one process (tests, `imsec demo`, benchmarks).
 */
#ifndef IMSEC_APPS_ELEMRUN_H
#define IMSEC_APPS_ELEMRUN_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"
#include "imsec/net.h"
#include "imsec/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The element vtable: the shape every element (include/imsec/elem.h) has, with
 * its handle as `self`. Also used by the in-memory harness (tests/support/
 * sim.h). on_flow_up returning < 0 closes the flow (e.g. the UE's trust
 * decision said no). Optional members may be NULL.
 */
typedef struct elemrun_ops {
  int (*on_flow_up)(void *self, uint64_t flow, uint64_t tag,
                    const imsec_flow_info *info, imsec_time_ms now,
                    imsec_out *out);
  void (*on_message)(void *self, uint64_t flow, const uint8_t *msg, size_t len,
                     imsec_time_ms now, imsec_out *out);
  void (*on_flow_down)(void *self, uint64_t flow, uint64_t tag, int reason,
                       imsec_time_ms now, imsec_out *out);
  void (*on_timer)(void *self, uint64_t timer, imsec_time_ms now,
                   imsec_out *out);
  /* Optional: called once on the loop thread when running begins (a UE
   * sends its first REGISTER from here). */
  void (*on_start)(void *self, imsec_time_ms now, imsec_out *out);
  /* Optional: polled after every event; non-zero ends the run (the UE CLI:
   * "registration finished, one way or the other"). */
  int (*done)(void *self);
  /* Optional: net's on_refused (a stream message over max_msg, reason
   * IMSEC_ERR_LIMIT, or unframeable octets, IMSEC_ERR_PARSE; `head` is
   * what arrived, borrowed for the call). The element may answer with a
   * SEND on the flow (imsec_elem_refuse_input); net closes the flow when
   * the actions are carried out, the answer leaving first. Without it the
   * flow just closes. */
  void (*on_refused)(void *self, uint64_t flow, int reason, const uint8_t *head,
                     size_t len, imsec_time_ms now, imsec_out *out);
} elemrun_ops;

/*
 * ELEMRUN_OPS(ue) defines `static const elemrun_ops elemrun_ops_ue` with
 * type-safe wrappers around imsec_ue_on_flow_up/on_message/on_flow_down/
 * on_timer/on_refused (imsec_ue as the element type). on_start and done stay
 * NULL: copy the struct and set them when needed.
 */
#define ELEMRUN_OPS(X)                                                         \
  static int elemrun_##X##_up(void *s, uint64_t f, uint64_t t,                 \
                              const imsec_flow_info *i, imsec_time_ms n,       \
                              imsec_out *o) {                                  \
    return imsec_##X##_on_flow_up((imsec_##X *)s, f, t, i, n, o);              \
  }                                                                            \
  static void elemrun_##X##_msg(void *s, uint64_t f, const uint8_t *m,         \
                                size_t l, imsec_time_ms n, imsec_out *o) {     \
    imsec_##X##_on_message((imsec_##X *)s, f, m, l, n, o);                     \
  }                                                                            \
  static void elemrun_##X##_down(void *s, uint64_t f, uint64_t t, int r,       \
                                 imsec_time_ms n, imsec_out *o) {              \
    imsec_##X##_on_flow_down((imsec_##X *)s, f, t, r, n, o);                   \
  }                                                                            \
  static void elemrun_##X##_timer(void *s, uint64_t id, imsec_time_ms n,       \
                                  imsec_out *o) {                              \
    imsec_##X##_on_timer((imsec_##X *)s, id, n, o);                            \
  }                                                                            \
  static void elemrun_##X##_refused(void *s, uint64_t f, int r,                \
                                    const uint8_t *m, size_t l,                \
                                    imsec_time_ms n, imsec_out *o) {           \
    imsec_##X##_on_refused((imsec_##X *)s, f, r, m, l, n, o);                  \
  }                                                                            \
  static const elemrun_ops elemrun_ops_##X = {                                 \
      .on_flow_up = elemrun_##X##_up,                                          \
      .on_message = elemrun_##X##_msg,                                         \
      .on_flow_down = elemrun_##X##_down,                                      \
      .on_timer = elemrun_##X##_timer,                                         \
      .on_refused = elemrun_##X##_refused,                                     \
  }

/* One listening socket. */
typedef struct elemrun_listener {
  /* tp:host:port with an IP literal host (tcp:127.0.0.1:0, tls:[::1]:5061);
   * port 0 picks a free port (read it back with elemrun_port). */
  imsec_addr addr;
  /* TLS: the server context, either made by the caller (borrowed; must
   * outlive the runner) or, when NULL, made by the runner from tls_cfg
   * (server = 1 is forced) and freed by elemrun_del. */
  imsec_net_tls *tls;
  const imsec_net_tls_config *tls_cfg;
} elemrun_listener;

/* A ladder entry: one message in or out, for a trace of the exchange. */
typedef struct elemrun_ladder_ev {
  const char *elem;               /* cfg.name */
  int out;                        /* 1: sent by the element; 0: received */
  uint64_t flow;                  /* the flow */
  const imsec_addr *local, *peer; /* the flow's ends (NULL if unknown) */
  const uint8_t *msg;             /* the whole message, borrowed for the call */
  size_t len;
  imsec_time_ms now;
} elemrun_ladder_ev;

typedef void (*elemrun_ladder_fn)(void *user, const elemrun_ladder_ev *ev);

#define ELEMRUN_LADDER_MACHINE 3

typedef struct elemrun elemrun;

typedef struct elemrun_config {
  const char *name;       /* log prefix: "scscf", "pcscf", "ue" (copied) */
  const elemrun_ops *ops; /* borrowed; must outlive the runner */
  void *self;             /* the element handle passed to ops */

  const elemrun_listener *listeners; /* copied */
  size_t n_listeners;

  /* The client context for CONNECT to tls: addresses: borrowed if set,
   * else made from client_tls_cfg (server = 0 forced) if that is set. UEs
   * set defer_verify = 1 (their element makes the trust decision) and
   * leave resumption on (the context keeps the newest session per server
   * name); P-CSCFs towards UEs never connect over TLS, but set no_resume
   * if they do (seed §3.1). Without either, a TLS CONNECT fails at once
   * (on_flow_down with IMSEC_ERR_CONFIG). */
  imsec_net_tls *client_tls;
  const imsec_net_tls_config *client_tls_cfg;

  /* Anchors for the peer_cert facts of TLS peers (borrowed; e.g. from
   * imsec_isim_anchors). NULL: peer_cert is always NULL. */
  const imsec_x509_anchors *anchors;
  /* The time for certificate validity checks (Unix seconds); < 0 or 0:
   * the current clock. */
  int64_t cert_time;

  imsec_log_level log_level; /* element LOG actions above it are dropped */
  imsec_net_log_level net_log_level; /* net/'s own lines (default ERROR) */
  imsec_net_limits limits;           /* zero fields: net's defaults */

  /* Ladder: 0 off; 1 one line per message on stderr ("NAME -> peer:
   * REGISTER sip:..." / "NAME <- peer: SIP/2.0 401 ..."); 2 whole messages;
   * ELEMRUN_LADDER_MACHINE one line "imsec-ladder MONO_MS NAME out|in FLOW
   * LOCAL PEER START-LINE" (what `imsec demo` reads from its children; also
   * chosen when ladder is 0 and the environment has IMSEC_LADDER=1).
   * ladder_fn, when set, is called instead of printing (on the loop
   * thread). */
  int ladder;
  elemrun_ladder_fn ladder_fn;
  void *ladder_user;

  /* 1: SIGTERM and SIGINT stop elemrun_run (blocked in every thread of
   * the process and read with signalfd). Only one runner per process. */
  int signals;
  /* With signals and reload set, SIGHUP is read too and never stops the
   * run: it calls reload(reload_arg, runner, msg, cap) on the thread in
   * elemrun_wait (not the loop thread, so reading files and building TLS
   * contexts holds up no traffic; the element is changed through
   * elemrun_call_wait). It returns 0 when the new configuration is in use
   * (msg may then hold a note, e.g. "needs a restart: listen"), or a
   * negative code with one line in msg saying why not, having changed
   * nothing. The runner logs "reloaded[; NOTE]" (info) or "reload failed:
   * WHY; keeping the running configuration" (error). Without reload,
   * SIGHUP keeps its default action. */
  int (*reload)(void *arg, elemrun *r, char *msg, size_t cap);
  void *reload_arg;

  /* 1: every CONNECT opens a flow of its own (no RFC 5923 reuse): a host
   * running many UEs in one element, each with its own TLS connection. */
  int no_reuse;
} elemrun_config;

/* Make the runner: the net (1 loop), the TLS contexts, the listeners
 * (bound now). Nothing runs yet. `cfg` is copied (the pointers it holds
 * are borrowed as documented). On failure `err` (may be NULL) holds one
 * line saying what failed. Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG (a
 * TLS context did not load), IMSEC_ERR_IO (bind failed), IMSEC_ERR_NOMEM. */
IMSEC_MUST_USE int elemrun_new(elemrun **out, const elemrun_config *cfg,
                               char *err, size_t errcap);
/* Stop if running, close every flow (the element sees on_flow_down),
 * free. Does not free the element. NULL is ok. Not from the loop thread. */
void elemrun_del(elemrun *r);

/* The bound port of listener i (after elemrun_new), 0 if none. */
uint16_t elemrun_port(const elemrun *r, size_t i);
/* Replace the element handle before elemrun_start: for an element whose
 * config needs the ports elemrun_new bound (listeners on port 0). */
void elemrun_set_self(elemrun *r, void *self);

/* Start the loop thread and call ops->on_start there. Returns 0,
 * IMSEC_ERR_STATE (already started), IMSEC_ERR_IO. */
IMSEC_MUST_USE int elemrun_start(elemrun *r);
/* Block until the run ends: elemrun_stop, ops->done() non-zero, or (with
 * cfg.signals) SIGTERM/SIGINT. `timeout_ms` < 0 waits forever. Returns 0
 * (ended), IMSEC_ERR_TIMEOUT (still running after timeout_ms). The loop
 * thread keeps running until elemrun_del. */
IMSEC_MUST_USE int elemrun_wait(elemrun *r, int64_t timeout_ms);
/* elemrun_start then elemrun_wait(-1). Returns 0 or elemrun_start's
 * codes. */
IMSEC_MUST_USE int elemrun_run(elemrun *r);
/* Ask the run to end (thread-safe, also from element callbacks via the
 * host, and from a signal-free context). */
void elemrun_stop(elemrun *r);
/* 1 when the run ended by SIGTERM/SIGINT (which one: elemrun_signal). */
int elemrun_signal(const elemrun *r);

/* Run fn(self, now, out, arg) on the loop thread (thread-safe), then carry
 * out its actions: how a host injects a command into the element
 * (`imsec ue message` sending a MESSAGE, a de-register before exit).
 * Returns 0, IMSEC_ERR_NOMEM, IMSEC_ERR_CLOSED (stopping). */
typedef void (*elemrun_call_fn)(void *self, imsec_time_ms now, imsec_out *out,
                                void *arg);
IMSEC_MUST_USE int elemrun_call(elemrun *r, elemrun_call_fn fn, void *arg);

/* elemrun_call, then wait until fn has run on the loop thread and its
 * actions are carried out: how a reload changes the
 * element from another thread. Not from the loop thread. A call that has
 * not started within `timeout_ms` is cancelled (it never runs). Returns 0,
 * IMSEC_ERR_TIMEOUT (cancelled), IMSEC_ERR_NOMEM, IMSEC_ERR_CLOSED
 * (stopping). */
IMSEC_MUST_USE int elemrun_call_wait(elemrun *r, elemrun_call_fn fn, void *arg,
                                     int64_t timeout_ms);

/* The level of the element's LOG actions and the runner's own lines from
 * now on. Loop thread only (from an elemrun_call function). */
void elemrun_set_log_level(elemrun *r, imsec_log_level level);

/* Replace cfg.anchors (the peer_cert facts of flows that come up from now
 * on; may be NULL). Loop thread only (from an elemrun_call function).
 * Returns the previous anchors: the caller frees them, when they are its
 * own, after that call returns. */
const imsec_x509_anchors *elemrun_set_anchors(elemrun *r,
                                              const imsec_x509_anchors *a);

/* The TLS context of listener i (made by the runner or given; NULL for a
 * plain listener), and the client context (NULL if none): for reloading
 * their files (imsec_net_tls_reload). */
imsec_net_tls *elemrun_listener_tls(const elemrun *r, size_t i);
imsec_net_tls *elemrun_client_tls(const elemrun *r);

/* The runner's clock (CLOCK_MONOTONIC, ms). */
imsec_time_ms elemrun_now(void);

/* The underlying net (for flow tokens: imsec_net_token/_check — the
 * P-CSCF's Path tokens may use them or its own). */
imsec_net *elemrun_net(elemrun *r);

/* Parse "debug|info|warn|error" (any case). 0 or IMSEC_ERR_PARSE. */
IMSEC_MUST_USE int elemrun_log_level_parse(const char *s, imsec_log_level *out);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_APPS_ELEMRUN_H */
