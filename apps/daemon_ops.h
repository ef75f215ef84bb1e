/*
 * What every daemon (`imsec pcscf`, `imsec scscf`, `imsec hss serve`)
 * shares for its operator: the options and YAML keys of the control
 * socket, metrics, logs and config check, and the wiring of the ops layer
 * (include/imsec/ops.h) to the daemon: a hostnet-run element through
 * daemon_ops_hostnet_hooks, `imsec hss serve` through hooks of its own.
 */
#ifndef IMSEC_APPS_DAEMON_OPS_H
#define IMSEC_APPS_DAEMON_OPS_H

#include <stdint.h>

#include "imsec/conf_ops.h"
#include "imsec/host_net.h"
#include "imsec/obs.h"
#include "imsec/ops.h"

typedef struct daemon_ops_opts {
  const char *ctl_socket;      /* --ctl-socket PATH ("none": off; NULL: the
                                  default, imsec_ctl_default_path) */
  const char *metrics;         /* --metrics tcp:H:P (NULL: off) */
  imsec_log_format log_format; /* --log-format text|json */
  int log_identities;          /* --log-identities */
  int check_config;            /* --check-config */
  int64_t drain_timeout_ms;    /* --drain-timeout-ms MS (default 30000) */
} daemon_ops_opts;

/* Defaults: no metrics, the default control socket, text logs with
 * identities pseudonymised, a 30 s drain. */
void daemon_ops_opts_init(daemon_ops_opts *o);

/* If argv[*i] is one of the options above, take it (and its value; *i
 * moves past it) and return 1; 0 when it is not ours; the usage exit
 * code (2, the message printed as `imsec SUB: ...`) when its value is
 * wrong. */
int daemon_ops_arg(daemon_ops_opts *o, const char *sub, int argc, char **argv,
                   int *i);

/* The same from a YAML key of a daemon's -c file (ctl_socket, metrics,
 * log_format, log_identities, drain_timeout_ms): 1 taken, 0 not ours,
 * < 0 a bad value (err says why). Values are copied (kept until exit). */
int daemon_ops_yaml_key(daemon_ops_opts *o, const char *key, const char *value,
                        char *err, size_t errcap);

/* The operations keys of a daemon's -c file (conf/ keeps their text,
 * include/imsec/conf_ops.h), applied as daemon_ops_yaml_key does; call
 * before the flags so that they override. Returns 0, or CLI_EXIT_USAGE
 * after one line "imsec SUB: FILE:LINE: key 'K': why". */
int daemon_ops_conf(daemon_ops_opts *o, const char *sub, const char *file,
                    const imsec_conf_ops *c);

/* --check-config: make the TLS context cfg describes (server = 1 a
 * listener's, 0 a client's) and free it again: its certificate, key and CA
 * files load and the key matches. Returns 0, or CLI_EXIT_USAGE after one
 * line "imsec SUB: WHAT: why (cert F, key F)". */
int daemon_ops_check_tls(const char *sub, const char *what,
                         const imsec_net_tls_config *cfg, int server);
/* --check-config passed: "imsec SUB: configuration ok" on stdout; 0. */
int daemon_ops_config_ok(const char *sub);

/* The lines --help shows for these options (for each daemon's usage). */
extern const char daemon_ops_help[];

/* The process's logger, made by daemon_ops_logger from the options (text
 * to stderr until then). Apps print their run-time lines through it. */
imsec_logger *daemon_ops_log(void);
int daemon_ops_logger(const daemon_ops_opts *o);

/* What the control socket and /metrics ask of a daemon. */
typedef struct daemon_ops_hooks {
  void *arg;
  /* Everything but the process's own figures. */
  int (*collect)(void *arg, imsec_metrics *m);
  /* A listing ("flows", "registrations", "bindings", "peers"):
   * IMSEC_ERR_UNSUPPORTED for one the daemon does not have. */
  int (*list)(void *arg, const char *what, imsec_table *t);
  /* SIGHUP's reload: 0 with a note in msg, or < 0 and why. */
  int (*reload)(void *arg, char *msg, size_t cap);
  /* Stop accepting, let work in flight finish within timeout_ms, then
   * end the run (the daemon exits 0). */
  int (*drain)(void *arg, int64_t timeout_ms);
  int (*set_log_level)(void *arg, imsec_log_level lv);
  /* The watchdog's check: 0 while the daemon's loop answers. */
  int (*alive)(void *arg);
} daemon_ops_hooks;

/* Hooks for an element on the host's net port (imsec_hostnet_metrics,
 * _list, _reload, _drain, a log level set on loop 0, a call_wait for
 * alive). */
void daemon_ops_hostnet_hooks(daemon_ops_hooks *h, imsec_hostnet *r);

/* Fill the hostnet config's log_fn/notify from the options (call before
 * imsec_hostnet_new). */
void daemon_ops_hostnet_config(const daemon_ops_opts *o,
                               imsec_hostnet_config *cfg);

typedef struct daemon_ops daemon_ops;

/* Start what the options ask for: the control socket, /metrics (prints
 * "NAME: metrics on http://H:P/metrics" on stdout), the watchdog; then
 * notify READY=1. On failure err holds one line (the daemon exits 2).
 * Returns 0 or a negative imsec_err. */
int daemon_ops_start(daemon_ops **out, const daemon_ops_opts *o,
                     const char *name, const daemon_ops_hooks *h, char *err,
                     size_t errcap);
/* Notify STOPPING=1, stop the socket, metrics and watchdog. NULL ok. */
void daemon_ops_stop(daemon_ops *d);

#endif /* IMSEC_APPS_DAEMON_OPS_H */
