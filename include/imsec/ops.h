/*
 * imsec operations layer (ops/, library imsec-ops): what an operator runs
 * the daemons with. The control socket (`imsec ctl`), Prometheus metrics
 * over HTTP (libmicrohttpd), the logger (text or JSON, identities
 * pseudonymised), the service manager's notifications and watchdog
 * (libsystemd's sd_notify) and the process's own figures (/proc).
 *
 * DESIGN.md §4: like net/, this layer touches sockets and threads; it
 * sits beside net/, below apps/, and knows nothing of elements: it
 * renders the plain data of include/imsec/obs.h and calls back into what
 * the daemon gives it (apps/daemon_ops.c wires it to the host's net port).
 */
#ifndef IMSEC_OPS_H
#define IMSEC_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/host.h"
#include "imsec/obs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- render
 * ops/render.c */

/* Prometheus text exposition format 0.0.4: # HELP and # TYPE per family,
 * histograms as cumulative _bucket{le=...}, _sum and _count. Families
 * with no sample are left out. Returns 0 or IMSEC_ERR_NOMEM. */
IMSEC_API int imsec_metrics_render_text(const imsec_metrics *m, imsec_buf *out);
/* The same snapshot as one JSON object: {"NAME": {"type": "counter",
 * "help": "...", "samples": [{"labels": {"k": "v"}, "value": 1}]}} with
 * histograms as {"buckets": {"0.0005": n, ..., "+Inf": n}, "sum": s,
 * "count": n} (cumulative). */
IMSEC_API int imsec_metrics_render_json(const imsec_metrics *m, imsec_buf *out);
/* A table as aligned text columns with a header line, or as a JSON array
 * of objects keyed by column name. */
IMSEC_API int imsec_table_render_text(const imsec_table *t, imsec_buf *out);
IMSEC_API int imsec_table_render_json(const imsec_table *t, imsec_buf *out);
/* JSON string escaping (RFC 8259 §7), quotes included. */
IMSEC_API int imsec_buf_add_json_str(imsec_buf *b, const char *s, size_t len);

/* --------------------------------------------------------- the process
 * ops/process.c: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds (the names every Prometheus client library
 * uses, so stock dashboards work), and imsec_build_info{version}. */
IMSEC_API void imsec_process_metrics(imsec_metrics *m);
/* Read a small /proc file whole into buf (NUL-terminated; they are made
 * on read, so one pass keeps the figures consistent). Returns its length,
 * or -1 when it cannot be opened. Also for the load generator's view of
 * a server (apps/bench/procstat.c). */
IMSEC_API long imsec_proc_read(const char *path, char *buf, size_t cap);

/* ---------------------------------------------------------- the logger
 * ops/log.c */

typedef enum imsec_log_format {
  IMSEC_LOG_FORMAT_TEXT = 0, /* "TIME ELEM LEVEL: text [flow=N call-id=C]"
                                (the daemons' "NAME LEVEL: text" with the
                                time before it and the context after) */
  IMSEC_LOG_FORMAT_JSON = 1, /* {"time":..,"level":..,"elem":..,"flow":..,
                                "call_id":..,"msg":..} one per line */
} imsec_log_format;

/* "text" or "json". 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_log_format_parse(const char *s,
                                                    imsec_log_format *out);

typedef struct imsec_logger_config {
  imsec_log_format format;
  /* 0 (the default): IMPIs and IMPUs in the text (sip:, sips:, tel: URIs
   * and user@domain names) are replaced by a pseudonym, "id-" and 12 hex
   * digits of HMAC-SHA-256 under a key of this process (the same identity
   * gives the same pseudonym within a run, so lines can be followed);
   * 1: written as they are (--log-identities). */
  int identities;
  int fd; /* where lines go (2: stderr); one write(2) each */
} imsec_logger_config;

typedef struct imsec_logger imsec_logger;

IMSEC_API IMSEC_MUST_USE int imsec_logger_new(imsec_logger **out,
                                              const imsec_logger_config *cfg);
IMSEC_API void imsec_logger_del(imsec_logger *lg);
/* Thread-safe. The hostnet config's log_fn has this shape (user = lg). */
IMSEC_API void imsec_logger_event(void *lg, const imsec_log_event *ev);
/* A line of the daemon's own (start-up, shutdown): printf-style text. */
IMSEC_API void imsec_logger_printf(imsec_logger *lg, const char *elem,
                                   imsec_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------- service manager
 * ops/notify.c: sd_notify(3) from libsystemd. Every call is a no-op
 * returning 0 when the process was not started with NOTIFY_SOCKET. */

/* Send `state` ("READY=1", "STOPPING=1", "STATUS=..."); "RELOADING=1" gets
 * MONOTONIC_USEC added as systemd asks. Returns > 0 sent, 0 no manager,
 * < 0 error. */
IMSEC_API int imsec_notify(const char *state);
/* The hostnet config's notify callback shape (user unused). */
IMSEC_API void imsec_notify_fn(void *user, const char *state);

typedef struct imsec_watchdog imsec_watchdog;
/* With WATCHDOG_USEC set (sd_watchdog_enabled), a thread sends
 * "WATCHDOG=1" every half period as long as alive(arg) returns 0 (a
 * daemon checks that its loop answers); a stuck loop stops the pings and
 * the service manager restarts the daemon. *out NULL when no watchdog is
 * asked for. Returns 0 or a negative imsec_err. */
IMSEC_API IMSEC_MUST_USE int
imsec_watchdog_start(imsec_watchdog **out, int (*alive)(void *arg), void *arg);
IMSEC_API void imsec_watchdog_stop(imsec_watchdog *w);

/* -------------------------------------------------------------- metrics
 * ops/http.c: GET /metrics over HTTP with libmicrohttpd (its own thread).
 * Each scrape calls collect(arg, m) on that thread, adds the process's
 * figures, renders the text format (Content-Type text/plain;
 * version=0.0.4). Other paths 404, other methods 405. */
typedef int (*imsec_collect_fn)(void *arg, imsec_metrics *m);

typedef struct imsec_metrics_http imsec_metrics_http;
/* addr "tcp:HOST:PORT" with an IP literal (port 0: pick one). On failure
 * err holds one line. Returns 0, IMSEC_ERR_PARSE, IMSEC_ERR_IO. */
IMSEC_API IMSEC_MUST_USE int imsec_metrics_http_start(imsec_metrics_http **out,
                                                      const char *addr,
                                                      imsec_collect_fn collect,
                                                      void *arg, char *err,
                                                      size_t errcap);
IMSEC_API uint16_t imsec_metrics_http_port(const imsec_metrics_http *h);
IMSEC_API void imsec_metrics_http_stop(imsec_metrics_http *h);

/* --------------------------------------------------------- control socket
 * ops/ctl.c: a Unix stream socket (mode 0600) answering one command per
 * connection on a thread of its own. Wire (both ends here): the client
 * sends one line "imsec-ctl 1 FORMAT COMMAND [ARG]\n" (FORMAT "text" or
 * "json"); the server answers "ok\n" and the body, or "error\n" and one
 * line, then closes. */
typedef struct imsec_ctl_request {
  const char *cmd; /* stats, flows, registrations, bindings, peers, reload,
                      drain, log-level */
  const char *arg; /* NULL: none (log-level LEVEL) */
  int json;        /* 1: the body in JSON */
} imsec_ctl_request;

/* The daemon's handler: 0 with the body in out, or a negative imsec_err
 * with one line in out saying why. Called on the control thread. A
 * handler that ends the process (drain) answers first: *after is then
 * called once the answer is sent (may be left NULL). */
typedef int (*imsec_ctl_fn)(void *arg, const imsec_ctl_request *rq,
                            imsec_buf *out, void (**after)(void *arg));

typedef struct imsec_ctl imsec_ctl;
/* Bind path (a stale socket nobody answers on is replaced; a live one is
 * IMSEC_ERR_BUSY), mode 0600, and serve. Returns 0, IMSEC_ERR_BUSY,
 * IMSEC_ERR_IO (err says why). */
IMSEC_API IMSEC_MUST_USE int imsec_ctl_start(imsec_ctl **out, const char *path,
                                             imsec_ctl_fn fn, void *arg,
                                             char *err, size_t errcap);
/* Stop serving and unlink the socket. */
IMSEC_API void imsec_ctl_stop(imsec_ctl *c);

/* The client (`imsec ctl`): send rq to the socket at path, wait at most
 * timeout_ms. Returns 0 (ok, the body in out), 1 (the daemon said error:
 * its line in out), or a negative imsec_err (could not talk: err says
 * why). */
IMSEC_API int imsec_ctl_query(const char *path, const imsec_ctl_request *rq,
                              int64_t timeout_ms, imsec_buf *out, char *err,
                              size_t errcap);

/* The default socket of a daemon called name: $RUNTIME_DIRECTORY/NAME.ctl
 * (systemd's RuntimeDirectory=) when set, else "" (no control socket
 * unless --ctl-socket asks). Returns the length written. */
IMSEC_API size_t imsec_ctl_default_path(const char *name, char *buf,
                                        size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_OPS_H */
