/*
 * imsec host net port: runs an element (include/imsec/elem.h) on the host
 * core (include/imsec/host.h) over real sockets (net/). The daemons
 * (`imsec scscf`, `imsec pcscf`), `imsec ue`, `imsec demo`, the e2e tests
 * and the registration benchmark are this port plus their element's
 * constructor and its exported ops (imsec_ue_ops, imsec_pcscf_ops,
 * imsec_scscf_ops).
 *
 * The host core does the element's bookkeeping: the action walk, the
 * flow/tag table, timers as deadlines, service requests and PERSIST
 * ordering, peer facts from the certificate chain. This port only moves
 * bytes and events:
 *   net on_up / on_message / on_refused / on_down
 *             -> imsec_host_flow_up (with the chain the peer sent) /
 *                imsec_host_message / imsec_host_refused /
 *                imsec_host_flow_down
 *   port send / close / keep -> imsec_net_send / imsec_net_close /
 *                imsec_net_flow_keep
 *   port connect -> imsec_net_connect (SNI = server_name, RFC 5923 reuse
 *                unless cfg.no_reuse; the TLS context the CONNECT's profile
 *                names, see below); a connect that fails is answered with
 *                imsec_host_flow_down(0, tag) after the current call, and
 *                one that reuses a flow already up with imsec_host_flow_up
 *                for the new tag, also after the current call
 *             A flow the element refused in flow up, or closed itself,
 *             gets no event from the host after that, except the one
 *             going-down event of a refused flow (net's reason), which
 *             elements count on (the S-CSCF fails what it queued for a
 *             peer it refused).
 *   port arm  -> one pending wake-up on the loop (imsec_net_post) per
 *                host, at the earliest deadline the host asked for; then
 *                imsec_host_expire
 *   port wake -> imsec_net_post to the loop, then imsec_host_poll
 *   port psk  -> the port's PSK table (below)
 *   port log  -> one line "NAME LEVEL: text" on stderr (one write(2))
 * `now` is CLOCK_MONOTONIC in milliseconds.
 *
 * Threads: one imsec_net per loop, each with ONE thread; every host call of
 * a loop's element runs on that thread, one at a time, so an element needs
 * no locks. net calls that answer synchronously (closing an up flow calls
 * on_down at once, a connect that fails at once calls on_down inside
 * imsec_net_connect) are queued while the host is busy and handed over
 * after: the host is never re-entered.
 *
 * TLS contexts: listeners have server contexts; CONNECT uses the client
 * context its imsec_tls_profile names: profile "" (or no profile) is the
 * default client context (client_tls / client_tls_cfg), any other name one
 * of cfg.tls_profiles. What net/ decides per context (verification mode,
 * resumption, DTLS) must match the context the profile names; a CONNECT
 * asking otherwise (verify DEFER on a context that verifies, no_resume on
 * one that resumes, dtls on a TLS context) fails with
 * IMSEC_ERR_UNSUPPORTED and one WARN line. A CONNECT whose profile has a
 * PSK (psk_len > 0, mode M3) uses it for that connection only, on the
 * context the profile names (whose verification and resumption settings
 * then do not matter: net/ makes such a flow refuse any server
 * certificate, keep no session and never share it, RFC 5923 reuse off);
 * a server that does not take the identity or the key fails the
 * handshake (on_flow_down with flow 0, its tag, IMSEC_ERR_AUTH or
 * IMSEC_ERR_IO; DTLS: the handshake timeout). A UE dials an IP address and
 * verifies a host name: CONNECT with addr.host = "127.0.0.1" and server_name =
 * the P-CSCF's name; the name goes out as SNI and the element's trust decision
 * checks it (the UE's client context has defer_verify set, so a chain that does
 * not verify still reaches the element, which decides).
 *
 * PSKs (mode M3, seed §3.3): one table per port, shared by its loops
 * (an rwlock; handshakes read it on loop threads). It holds the keys the
 * element installs (IMSEC_ACT_PSK: identity, key, expires_at on the
 * port's clock, imsec_hostnet_now; len 0 removes; at most 1,000,000 at
 * once, more are refused with a WARN line; expired keys are never found
 * and are purged a few at a time by later installs) and the configured
 * ones (imsec_hostnet_psk_set_static, replaced wholesale). A look-up
 * finds the element's key first, then the configured one. Listeners with
 * `psk` set look keys up there: see imsec_net_psk_lookup_fn (net.h) for
 * what a listener with a certificate and PSKs does with each kind of
 * client. Up flows that used a PSK say so in their imsec_flow_info (psk
 * = 1, psk_identity: the client's on inbound flows, ours on outbound
 * ones). Removing or replacing a key does not touch flows already up.
 * Every key is copied, and wiped when replaced, removed or freed.
 *
 * Streams are framed by net's Content-Length framer (imsec_net_frame_cl,
 * RFC 3261 §18.3).
 *
 * Lifetime: imsec_hostnet_new (binds listeners, nothing runs) ->
 * imsec_hostnet_port -> imsec_hostnet_run (blocks until imsec_hostnet_stop,
 * SIGTERM/SIGINT when cfg.signals, or every element's done() turning
 * non-zero; SIGHUP reloads with cfg.reload) -> imsec_hostnet_del. Or
 * imsec_hostnet_start / imsec_hostnet_wait / imsec_hostnet_stop from a
 * program that runs several ports in one process (tests, `imsec demo`,
 * benchmarks).
 */
#ifndef IMSEC_HOST_NET_H
#define IMSEC_HOST_NET_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/elem.h"
#include "imsec/host.h"
#include "imsec/net.h"
#include "imsec/svc.h"
#include "imsec/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One listening socket. */
typedef struct imsec_hostnet_listener {
  /* tp:host:port with an IP literal host (tcp:127.0.0.1:0, tls:[::1]:5061);
   * port 0 picks a free port (read it back with imsec_hostnet_port). */
  imsec_addr addr;
  /* TLS: the server context, either made by the caller (borrowed; must
   * outlive the port) or, when NULL, made by the port from tls_cfg
   * (server = 1 is forced) and freed by imsec_hostnet_del. */
  imsec_net_tls *tls;
  const imsec_net_tls_config *tls_cfg;
  /* TLS/DTLS made from tls_cfg: 1 takes PSKs (mode M3; TLS 1.3 external
   * PSK with (EC)DHE, TLS 1.2 ECDHE-PSK) from the port's table: the keys
   * the element installs (imsec_out_psk) and the configured ones
   * (imsec_hostnet_psk_set_static), the element's first. With a
   * certificate in tls_cfg too, a client that offers no PSK gets the
   * certificate handshake (more in imsec_net_psk_lookup_fn, net.h). The
   * flow's info says psk and psk_identity. psk on a listener without TLS,
   * or with a given `tls`: imsec_hostnet_new fails (IMSEC_ERR_CONFIG). */
  int psk;
} imsec_hostnet_listener;

/* A named client context for CONNECTs whose imsec_tls_profile.profile is
 * `name`: given (tls, borrowed) or made from tls_cfg (server = 0 forced).
 * For a given context, defer_verify, no_resume and dtls say how it was
 * made (a made one takes them from tls_cfg). */
typedef struct imsec_hostnet_tls_profile {
  const char *name;
  imsec_net_tls *tls;
  const imsec_net_tls_config *tls_cfg;
  int defer_verify, no_resume, dtls;
} imsec_hostnet_tls_profile;

/* A ladder entry: one message in or out, for a trace of the exchange. */
typedef struct imsec_hostnet_ladder_ev {
  const char *elem;               /* cfg.name */
  int out;                        /* 1: sent by the element; 0: received */
  uint64_t flow;                  /* the flow */
  const imsec_addr *local, *peer; /* the flow's ends (NULL if unknown) */
  const uint8_t *msg;             /* the whole message, borrowed for the call */
  size_t len;
  imsec_time_ms now;
} imsec_hostnet_ladder_ev;

typedef void (*imsec_hostnet_ladder_fn)(void *user,
                                        const imsec_hostnet_ladder_ev *ev);

#define IMSEC_HOSTNET_LADDER_MACHINE 3

typedef struct imsec_hostnet imsec_hostnet;

/* Makes the element instance of loop `loop` (0..loops-1) when cfg.loops >
 * 1: *self is its handle. Returns 0 or a negative imsec_err. */
typedef int (*imsec_hostnet_factory_fn)(void *arg, unsigned loop, void **self);

typedef struct imsec_hostnet_config {
  const char *name;          /* log prefix: "scscf", "pcscf", "ue" (copied) */
  const imsec_elem_ops *ops; /* borrowed; must outlive the port */
  void *self;                /* the element handle (loops <= 1) */
  imsec_svc *svc;            /* the element's stores (borrowed; may be NULL:
                                every REQUEST is answered UNSUPPORTED) */

  /* Loops (threads), each running its own element instance on its own
   * host: 0 or 1 one loop with `self`; more need `factory` (called in
   * imsec_hostnet_new, loop by loop), for elements whose instances share
   * nothing (the UE bench). The P-CSCF and S-CSCF keep one loop. With
   * several loops each listener is bound once per loop on the same port
   * (SO_REUSEPORT). The port does not free factory-made elements. */
  unsigned loops;
  imsec_hostnet_factory_fn factory;
  void *factory_arg;

  const imsec_hostnet_listener *listeners; /* copied */
  size_t n_listeners;

  /* The default client context (profile ""): borrowed if set, else made
   * from client_tls_cfg (server = 0 forced) if that is set. UEs set
   * defer_verify = 1 (their element makes the trust decision) and leave
   * resumption on (the context keeps the newest session per server name);
   * P-CSCFs towards UEs never connect over TLS, but set no_resume if they
   * do (seed §3.1). Without either, a TLS CONNECT with the default profile
   * fails at once (on_flow_down with IMSEC_ERR_CONFIG). */
  imsec_net_tls *client_tls;
  const imsec_net_tls_config *client_tls_cfg;
  /* Named client contexts (copied; the contexts and configs they point to
   * are borrowed for imsec_hostnet_new only, a given context for the
   * port's life). */
  const imsec_hostnet_tls_profile *tls_profiles;
  size_t n_tls_profiles;

  /* Anchors for the peer facts of TLS peers (the host's; borrowed, e.g.
   * from imsec_isim_anchors). NULL: peer_cert is always NULL. */
  const imsec_x509_anchors *anchors;
  /* The time for certificate validity checks (Unix seconds); <= 0: the
   * current clock. */
  int64_t cert_time;

  imsec_log_level log_level; /* element LOG actions above it are dropped */
  imsec_net_log_level net_log_level; /* net/'s own lines (default ERROR) */
  imsec_net_limits limits;           /* zero fields: net's defaults */

  /* Ladder: 0 off; 1 one line per message on stderr ("NAME -> peer:
   * REGISTER sip:..." / "NAME <- peer: SIP/2.0 401 ..."); 2 whole messages;
   * IMSEC_HOSTNET_LADDER_MACHINE one line "imsec-ladder MONO_MS NAME
   * out|in FLOW LOCAL PEER START-LINE" (what `imsec demo` reads from its
   * children; also chosen when ladder is 0 and the environment has
   * IMSEC_LADDER=1). ladder_fn, when set, is called instead of printing
   * (on the loop thread). */
  int ladder;
  imsec_hostnet_ladder_fn ladder_fn;
  void *ladder_user;

  /* 1: SIGTERM and SIGINT stop imsec_hostnet_run (blocked in every thread
   * of the process and read with signalfd). Only one port per process. */
  int signals;
  /* With signals and reload set, SIGHUP is read too and never stops the
   * run: it calls reload(reload_arg, port, msg, cap) on the thread in
   * imsec_hostnet_wait (not the loop thread, so reading files and building
   * TLS contexts holds up no traffic; the element is changed through
   * imsec_hostnet_call_wait). It returns 0 when the new configuration is in
   * use (msg may then hold a note, e.g. "needs a restart: listen"), or a
   * negative code with one line in msg saying why not, having changed
   * nothing. The port logs "reloaded[; NOTE]" (info) or "reload failed:
   * WHY; keeping the running configuration" (error). Without reload,
   * SIGHUP keeps its default action. */
  int (*reload)(void *arg, imsec_hostnet *r, char *msg, size_t cap);
  void *reload_arg;

  /* Log lines (the element's, the host's, the port's own) as events,
   * instead of "NAME LEVEL: text" on stderr: the operations layer's
   * logger (include/imsec/ops.h: text or JSON, identities pseudonymised).
   * Called on loop threads and the wait thread; must be thread-safe. */
  void (*log_fn)(void *user, const imsec_log_event *ev);
  void *log_user;
  /* State changes for a service manager (sd_notify, include/imsec/ops.h):
   * called with "RELOADING=1" before a reload (SIGHUP or
   * imsec_hostnet_reload), "READY=1" after it, "STOPPING=1" when the run
   * begins to end. NULL: none. */
  void (*notify)(void *user, const char *state);
  void *notify_user;

  /* 1: every CONNECT opens a flow of its own (no RFC 5923 reuse): a host
   * running many UEs in one element, each with its own TLS connection. */
  int no_reuse;

  /* Source addresses for CONNECTs (copied; IP literals, tp and port
   * ignored): each new connection is bound to the next one in turn, so a
   * generator spreads its flows over 127.0.0.0/8 (more than one port
   * range of connections to one server, per-source limits). 0: the
   * kernel picks. */
  const imsec_addr *sources;
  size_t n_sources;
} imsec_hostnet_config;

/* Make the port: the nets (one thread each), the TLS contexts, the hosts,
 * the listeners (bound now). Nothing runs yet. `cfg` is copied (the
 * pointers it holds are borrowed as documented). On failure `err` (may be
 * NULL) holds one line saying what failed. Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_CONFIG (a TLS context did not load), IMSEC_ERR_IO (bind
 * failed), IMSEC_ERR_NOMEM, or the factory's code. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_new(imsec_hostnet **out,
                                               const imsec_hostnet_config *cfg,
                                               char *err, size_t errcap);
/* Stop if running, close every flow (the element sees on_flow_down),
 * free. Does not free the elements. NULL is ok. Not from a loop thread. */
IMSEC_API void imsec_hostnet_del(imsec_hostnet *r);

/* The bound port of listener i (after imsec_hostnet_new), 0 if none. */
IMSEC_API uint16_t imsec_hostnet_port(const imsec_hostnet *r, size_t i);
/* Replace the element handle (one loop) before imsec_hostnet_start: for
 * an element whose config needs the ports imsec_hostnet_new bound. */
IMSEC_API void imsec_hostnet_set_self(imsec_hostnet *r, void *self);
/* Loops, and the element instance of loop i (NULL past the end). */
IMSEC_API unsigned imsec_hostnet_loops(const imsec_hostnet *r);
IMSEC_API void *imsec_hostnet_self(const imsec_hostnet *r, unsigned loop);

/* Start the loop threads and imsec_host_start each host there. Returns 0,
 * IMSEC_ERR_STATE (already started), IMSEC_ERR_IO. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_start(imsec_hostnet *r);
/* Block until the run ends: imsec_hostnet_stop, every element done, or
 * (with cfg.signals) SIGTERM/SIGINT. `timeout_ms` < 0 waits forever.
 * Returns 0 (ended), IMSEC_ERR_TIMEOUT (still running after timeout_ms).
 * The loops keep running until imsec_hostnet_del. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_wait(imsec_hostnet *r,
                                                int64_t timeout_ms);
/* imsec_hostnet_start then imsec_hostnet_wait(-1). */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_run(imsec_hostnet *r);
/* Ask the run to end (thread-safe). */
IMSEC_API void imsec_hostnet_stop(imsec_hostnet *r);
/* The signal (SIGTERM/SIGINT) that ended the run, or 0. */
IMSEC_API int imsec_hostnet_signal(const imsec_hostnet *r);

/* Run fn(self, now, out, arg) on loop 0's thread (thread-safe) through
 * imsec_host_call, which carries out its actions: how a program injects a
 * command into the element (`imsec ue message` sending a MESSAGE, a
 * de-register before exit). Returns 0, IMSEC_ERR_NOMEM, IMSEC_ERR_CLOSED
 * (stopping). */
IMSEC_API IMSEC_MUST_USE int
imsec_hostnet_call(imsec_hostnet *r, imsec_host_call_fn fn, void *arg);
/* The same on loop `loop`. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_call_on(imsec_hostnet *r,
                                                   unsigned loop,
                                                   imsec_host_call_fn fn,
                                                   void *arg);
/* imsec_hostnet_call, then wait until fn has run on loop 0 and its actions
 * are carried out: how a reload changes the element from another thread.
 * Not from a loop thread. A call that has not started within `timeout_ms`
 * is cancelled (it never runs). Returns 0, IMSEC_ERR_TIMEOUT (cancelled),
 * IMSEC_ERR_NOMEM, IMSEC_ERR_CLOSED. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_call_wait(imsec_hostnet *r,
                                                     imsec_host_call_fn fn,
                                                     void *arg,
                                                     int64_t timeout_ms);

/* The level of the element's LOG actions and the port's own lines from
 * now on. From a call function on loop 0 (one loop: the daemons). */
IMSEC_API void imsec_hostnet_set_log_level(imsec_hostnet *r,
                                           imsec_log_level level);
/* Replace cfg.anchors for flows that come up from now on (may be NULL).
 * From a call function on loop 0 (one loop). Returns the previous anchors:
 * the caller frees them, when they are its own, after that call returns. */
IMSEC_API const imsec_x509_anchors *
imsec_hostnet_set_anchors(imsec_hostnet *r, const imsec_x509_anchors *a);

/* The TLS context of listener i (made by the port or given; NULL for a
 * plain listener), the default client context (NULL if none) and a named
 * one: for reloading their files (imsec_net_tls_reload). */
IMSEC_API imsec_net_tls *imsec_hostnet_listener_tls(const imsec_hostnet *r,
                                                    size_t i);
IMSEC_API imsec_net_tls *imsec_hostnet_client_tls(const imsec_hostnet *r);
IMSEC_API imsec_net_tls *imsec_hostnet_profile_tls(const imsec_hostnet *r,
                                                   const char *name);

/* A configured PSK (mode M3): identity and key, borrowed for the call. */
typedef struct imsec_hostnet_psk {
  const char *identity;
  const uint8_t *key;
  size_t key_len; /* 1..IMSEC_PSK_MAX */
} imsec_hostnet_psk;

/* Replace the configured PSKs of every loop at once (a daemon's start and
 * its SIGHUP reload; thread-safe): handshakes from now on see exactly
 * these `n` (copied; the old ones are wiped). Keys the element installed
 * are not touched. Returns 0, IMSEC_ERR_INVAL (an empty or too long
 * identity or key), IMSEC_ERR_NOMEM (nothing changed). */
IMSEC_API IMSEC_MUST_USE int
imsec_hostnet_psk_set_static(imsec_hostnet *r, const imsec_hostnet_psk *e,
                             size_t n);

/* ------------------------------------------------------------ operations
 * For the control socket and /metrics (include/imsec/ops.h), from any
 * thread but a loop thread. */
struct imsec_metrics;
struct imsec_table;
/* Everything the port knows: each loop's host and element
 * (imsec_host_metrics, run on the loop by imsec_hostnet_call_wait), the
 * net (imsec_net_metrics) and the service (imsec_svc_metrics). Returns 0,
 * or IMSEC_ERR_TIMEOUT when a loop did not answer within timeout_ms (what
 * the others gave is in m). */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_metrics(imsec_hostnet *r,
                                                   struct imsec_metrics *m,
                                                   int64_t timeout_ms);
/* A listing: "flows" from net (every loop), any other the element's
 * (imsec_host_list on each loop, rows appended) and then the service's
 * (imsec_svc_list, "peers" rows of Diameter and Redis peers appended
 * when the element has a "peers" listing with the same columns, else
 * when it has none). Returns 0, IMSEC_ERR_UNSUPPORTED (nobody has that
 * listing), IMSEC_ERR_TIMEOUT. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_list(imsec_hostnet *r,
                                                const char *what,
                                                struct imsec_table *t,
                                                int64_t timeout_ms);
/* Reload now, as SIGHUP does (cfg.reload; serialised with SIGHUP's; the
 * same log line and notify calls). Returns cfg.reload's result (msg: its
 * note or why not), IMSEC_ERR_UNSUPPORTED without cfg.reload. */
IMSEC_API IMSEC_MUST_USE int imsec_hostnet_reload(imsec_hostnet *r, char *msg,
                                                  size_t cap);
/* Drain: stop accepting (imsec_net_pause_listeners), wait until every
 * loop's imsec_host_busy is 0 or timeout_ms has passed, then end the run
 * (imsec_hostnet_wait returns; "STOPPING=1" notified). Returns 0 (idle
 * before the deadline) or IMSEC_ERR_TIMEOUT (ended anyway). Blocks the
 * caller meanwhile. */
IMSEC_API int imsec_hostnet_drain(imsec_hostnet *r, int64_t timeout_ms);

/* The port's clock (CLOCK_MONOTONIC, ms). */
IMSEC_API imsec_time_ms imsec_hostnet_now(void);

/* The net of loop `loop` (for flow tokens: imsec_net_token/_check). */
IMSEC_API imsec_net *imsec_hostnet_net(imsec_hostnet *r, unsigned loop);
/* The host of loop `loop` (observers: imsec_host_pending...; its calls
 * only on that loop's thread). */
IMSEC_API imsec_host *imsec_hostnet_host(imsec_hostnet *r, unsigned loop);

/* Parse "debug|info|warn|error" (any case). 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int
imsec_hostnet_log_level_parse(const char *s, imsec_log_level *out);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_HOST_NET_H */
