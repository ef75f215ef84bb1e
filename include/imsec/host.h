/*
 * imsec host: runs one sans-I/O element (include/imsec/elem.h) for a port
 * that moves its bytes. DESIGN.md §4: host/ sits between the elements and
 * the world; the same host drives the daemons and `imsec ue` (the net port,
 * host/net*.c: libuv and real sockets), the tests (the sim port: many
 * elements in one process on a virtual clock), `imsec demo` and the
 * benchmarks.
 *
 * What the host does, so no element or port has to:
 *  - the action walk: SEND, CONNECT (with its TLS profile), CLOSE, KEEP
 *    and LOG go to the port in order;
 *  - the flow/tag table: which CONNECT tag became which flow, the ends of
 *    each flow (for ladders and logs), the flows the element closed;
 *  - timers as deadlines: TIMER actions enter one priority queue (a binary
 *    heap keyed by time, a newer deadline of an id replacing the older);
 *    the element's own get_expiry is asked after every call; the port is
 *    asked to wake the host once, at the earliest of them (arm);
 *  - service requests: REQUEST and PERSIST go to the element's imsec_svc;
 *    replies, on whatever thread the service answers, are queued, the port
 *    is woken (wake, thread-safe) and imsec_host_poll hands them to
 *    on_reply on the element's thread;
 *  - PERSIST ordering (include/imsec/elem.h): the actions after a PERSIST
 *    are held until its reply (and the replies of every PERSIST before
 *    it); on failure those of the same event are dropped; REQUESTs and
 *    PERSISTs of later events go to the store at once;
 *  - peer facts: for a TLS flow the port passes the certificate chain the
 *    peer sent; the host checks it (crypto/x509.c) against the anchors of
 *    its config at cert_time and gives the element the facts.
 *
 * Threads: every imsec_host_* call except imsec_host_reply_ready (which
 * the service's `done` may be called on any thread for) is made on the
 * element's thread: one host per element instance per loop.
 */
#ifndef IMSEC_HOST_H
#define IMSEC_HOST_H

#include "imsec/elem.h"
#include "imsec/svc.h"
#include "imsec/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One log event, as the host hands it to a port that takes events
 * (imsec_host_port.log_event) and as the operations layer's logger
 * (include/imsec/ops.h) writes it: as text or one JSON object a line. */
typedef struct imsec_log_event {
  const char *elem; /* the config's name: "pcscf", "scscf" ("" unknown) */
  imsec_log_level level;
  const char *text;    /* one line, no newline; control characters gone */
  uint64_t flow;       /* 0: none known */
  const char *call_id; /* NULL: none known */
} imsec_log_event;

/* What a port does for the host. Each callback gets `ctx`. */
typedef struct imsec_host_port {
  void *ctx;
  /* Queue bytes on a flow. Returns 0 or a negative imsec_err (the host
   * logs it at INFO: the flow is going down and on_flow_down follows). */
  int (*send)(void *ctx, uint64_t flow, const uint8_t *data, size_t len);
  /* Open a flow; the port later calls imsec_host_flow_up with `tag`, or
   * imsec_host_flow_down(flow 0, tag, reason) when it fails (never from
   * inside this call). `tls` NULL: the port's default for addr->tp. */
  void (*connect)(void *ctx, uint64_t tag, const imsec_addr *addr,
                  const char *server_name, const imsec_tls_profile *tls);
  void (*close)(void *ctx, uint64_t flow);
  /* The flow is registered: stop its pre-registration idle timeout. */
  void (*keep)(void *ctx, uint64_t flow);
  /* Call imsec_host_expire at `at` (monotonic ms), replacing any earlier
   * arming; 0: nothing is due, disarm. */
  void (*arm)(void *ctx, imsec_time_ms at);
  /* One log line (no newline) at `level`. */
  void (*log)(void *ctx, imsec_log_level level, const char *line);
  /* The current monotonic time in ms. */
  imsec_time_ms (*now)(void *ctx);
  /* Thread-safe: replies are queued; call imsec_host_poll on the
   * element's thread soon. May be NULL when the service always answers
   * inside submit. */
  void (*wake)(void *ctx);
  /* Optional: a message in (out 0) or out (out 1) on `flow`, for ladders
   * and traces. */
  void (*trace)(void *ctx, int out, uint64_t flow, const uint8_t *msg,
                size_t len);
  /* Optional: a PSK action (elem.h imsec_out_psk): install `key` (len > 0)
   * for `identity` until `expires_at` (0: no end), or remove it (len 0),
   * in the table the port's PSK-taking listeners look keys up in. `key`
   * is borrowed for the call (copy and wipe it). NULL: the host logs one
   * WARN line and drops the action. */
  void (*psk)(void *ctx, const char *identity, const uint8_t *key, size_t len,
              imsec_time_ms expires_at);
  /* Optional: log lines as events (with the flow and Call-ID the element's
   * LOG action carried); when set the host calls it instead of `log`,
   * ev->text without the "NAME: " prefix `log` gets. */
  void (*log_event)(void *ctx, const imsec_log_event *ev);
} imsec_host_port;

typedef struct imsec_host_config {
  const char *name;          /* log prefix (copied) */
  const imsec_elem_ops *ops; /* borrowed */
  void *self;                /* the element handle */
  imsec_svc *svc;            /* borrowed; NULL: every REQUEST/PERSIST is
                                answered IMSEC_ERR_UNSUPPORTED */
  imsec_log_level log_level; /* the element's LOG actions above: dropped */
  /* Anchors for the peer facts of TLS flows (borrowed; NULL: no facts),
   * and the time they are checked at (Unix s; <= 0: the clock). */
  const imsec_x509_anchors *anchors;
  int64_t cert_time;
} imsec_host_config;

typedef struct imsec_host imsec_host;

/* Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM. `cfg` and `port` copied. */
IMSEC_API IMSEC_MUST_USE int imsec_host_new(imsec_host **out,
                                            const imsec_host_config *cfg,
                                            const imsec_host_port *port);
/* Free; requests still at the service are answered into nothing (the
 * service must be stopped or drained first when it has a thread). */
IMSEC_API void imsec_host_del(imsec_host *h);

/* Events from the port, on the element's thread. */
IMSEC_API void imsec_host_start(imsec_host *h);
/* A flow is up. `chain` (DER, leaf first; may be NULL) is what a TLS peer
 * sent: the host makes info->peer_cert from it when info has none.
 * Returns the element's verdict: < 0 means close the flow. The port does,
 * and reports it going down as it reports any flow (imsec_host_flow_down,
 * once): the host has forgotten the flow and passes that event on, so the
 * element hears on_flow_down for a flow it refused, as for one that
 * failed (the S-CSCF fails what it queued for a peer it refused). A flow
 * the element CLOSEd itself gets no event after the CLOSE. */
IMSEC_API int imsec_host_flow_up(imsec_host *h, uint64_t flow, uint64_t tag,
                                 const imsec_flow_info *info,
                                 const imsec_bytes *chain, size_t n_chain);
IMSEC_API void imsec_host_message(imsec_host *h, uint64_t flow,
                                  const uint8_t *msg, size_t len);
IMSEC_API void imsec_host_refused(imsec_host *h, uint64_t flow, int reason,
                                  const uint8_t *head, size_t len);
IMSEC_API void imsec_host_flow_down(imsec_host *h, uint64_t flow, uint64_t tag,
                                    int reason);
/* The armed time has come: fire every due timer and handle_expiry. */
IMSEC_API void imsec_host_expire(imsec_host *h);
/* Hand queued service replies to on_reply. */
IMSEC_API void imsec_host_poll(imsec_host *h);
/* Run fn(self, now, out, arg) and carry out its actions: how a program
 * injects a command (send a MESSAGE, de-register, reload). */
typedef void (*imsec_host_call_fn)(void *self, imsec_time_ms now,
                                   imsec_out *out, void *arg);
IMSEC_API void imsec_host_call(imsec_host *h, imsec_host_call_fn fn, void *arg);
/* ops->done(self), 0 when the element has none. */
IMSEC_API int imsec_host_done(const imsec_host *h);

/* Observers. */
IMSEC_API void *imsec_host_self(const imsec_host *h);
IMSEC_API void imsec_host_set_self(imsec_host *h, void *self);
IMSEC_API void imsec_host_set_log_level(imsec_host *h, imsec_log_level lv);
/* Replace the anchors (returns the old ones; the caller frees its own). */
IMSEC_API const imsec_x509_anchors *
imsec_host_set_anchors(imsec_host *h, const imsec_x509_anchors *a);
/* Service requests sent and not yet answered; actions held behind a
 * PERSIST. */
IMSEC_API size_t imsec_host_pending(const imsec_host *h);
IMSEC_API size_t imsec_host_held(const imsec_host *h);
/* The earliest deadline (0: none). */
IMSEC_API imsec_time_ms imsec_host_next_deadline(const imsec_host *h);

/* Operations (include/imsec/obs.h), on the element's thread. */
/* The host's own metrics (SIP requests and responses in and out by
 * method and status class, service requests by store and kind with their
 * latency histograms, requests in flight) and the element's (its
 * ops->metrics). Families in docs/OPERATIONS.md. */
struct imsec_metrics;
struct imsec_table;
IMSEC_API void imsec_host_metrics(imsec_host *h, struct imsec_metrics *m);
/* The element's listing `what` (ops->list); IMSEC_ERR_UNSUPPORTED when it
 * has none of that name. */
IMSEC_API int imsec_host_list(imsec_host *h, const char *what,
                              struct imsec_table *t);
/* Work in flight a drain waits for: the element's ops->busy, service
 * requests not yet answered, actions held behind a PERSIST. */
IMSEC_API size_t imsec_host_busy(const imsec_host *h);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_HOST_H */
