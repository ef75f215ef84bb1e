/*
 * reload: what `imsec pcscf` and `imsec scscf` do on SIGHUP (the net port's
 * cfg.reload). The daemon reads its settings again (the -c file under the
 * same flags) and hands the running and the new ones to reload_pcscf or
 * reload_scscf, which:
 *
 *  1. check everything first: every TLS context's files are loaded into a
 *     new context beside the running one (imsec_net_tls_next_new), the
 *     element's new settings are checked;
 *  2. change the element on its loop thread (imsec_hostnet_call_wait): the
 *     settings that can change at run time (log level; the P-CSCF's
 *     routing table; the S-CSCF's challenge lifetime and expiry bounds);
 *  3. swap the new TLS contexts in: new handshakes use the new
 *     certificate, key and anchors; flows already up keep theirs.
 *
 * Any failure in 1 or 2 changes nothing and says why in one line. Settings
 * that need a restart (listen addresses, the database, the domain, ...)
 * are left as they run and named in the note: "needs a restart: listen".
 *
 * Adding a reloadable TLS context is one reload_add_tls call in the
 * daemon's part below (a context and the three file names it is made
 * from); adding a restart-only key is one comparison.
 */
#ifndef IMSEC_APPS_RELOAD_H
#define IMSEC_APPS_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/host_net.h"
#include "imsec/pcscf.h"
#include "imsec/scscf.h"

#define RELOAD_MAX_TLS 8
#define RELOAD_MAX_CA 16 /* CA files of one context */

/* One running TLS context and the files to make it from again ("" or NULL:
 * none). Every CA file is read again: ca[0] is the context's ca_file, the
 * rest its more_ca_files (NULL-terminated). */
typedef struct reload_tls {
  const char *what; /* "tls listener", "core client": for messages */
  imsec_net_tls *tls;
  const char *cert, *key;
  const char *ca[RELOAD_MAX_CA + 1];
} reload_tls;

/* A reload being put together: the daemon-independent part. */
typedef struct reload_plan {
  reload_tls tls[RELOAD_MAX_TLS];
  size_t n_tls;
  imsec_log_level level;
  /* The element's part, on the loop thread, before any TLS context is
   * swapped: returns 0 or a negative code with one line in err (and has
   * then changed nothing). May be NULL. */
  int (*apply)(void *arg, char *err, size_t cap);
  void *apply_arg;
  /* After a successful apply and the new anchors, on the loop thread: the
   * element's actions for the change (flows now refused closed). May be
   * NULL; takes apply_arg. */
  void (*after)(void *arg, imsec_time_ms now, imsec_out *out);
  char restart[256]; /* "listen, db": keys that need a restart */
  /* New anchors for the peer facts of TLS flows (the net port's cfg.anchors),
   * or NULL to keep them. After a successful reload_run this holds the previous
   * ones (the caller frees its own); after a failure still the new ones (the
   * caller frees them too). */
  const imsec_x509_anchors *anchors;
} reload_plan;

/* Add a context to reload (NULL tls: skipped). Returns 0 or
 * IMSEC_ERR_LIMIT. */
int reload_add_tls(reload_plan *p, const char *what, imsec_net_tls *tls,
                   const char *cert, const char *key, const char *ca);
/* The same with `n` CA files (a context made from ca_file and
 * more_ca_files; the names are borrowed until reload_run). Returns 0 or
 * IMSEC_ERR_LIMIT (too many contexts or more than RELOAD_MAX_CA files). */
int reload_add_tls_cas(reload_plan *p, const char *what, imsec_net_tls *tls,
                       const char *cert, const char *key, const char *const *ca,
                       size_t n);
/* Name a key that needs a restart (once each). */
void reload_restart(reload_plan *p, const char *key);
/* Carry out the plan (steps 1 to 3 above). Returns 0 (msg: the note, may
 * be empty) or a negative code (msg: why; nothing changed). */
int reload_run(imsec_hostnet *r, reload_plan *p, char *msg, size_t cap);

/* 1 when two addresses are the same (transport, host ignoring case,
 * port). */
int reload_addr_eq(const imsec_addr *a, const imsec_addr *b);

/* ------------------------------------------------------------ P-CSCF */

/* The P-CSCF: `running` are the settings it started with, `next` those
 * just read. Reloads the UE-side TLS listener (runner listener 0), the
 * core side's TLS listener (listener 1, when tls:) and the client context
 * towards S-CSCFs with the core certificate, key and every core CA file;
 * applies the log level, the routing table and *anchors (the new peer
 * anchors made from next's core CA files, or NULL to keep them; as
 * plan.anchors: on success *anchors holds the previous ones). Returns as
 * reload_run. */
int reload_pcscf(imsec_hostnet *r, imsec_pcscf *p,
                 const imsec_pcscf_settings *running,
                 const imsec_pcscf_settings *next,
                 const imsec_x509_anchors **anchors, char *msg, size_t cap);

/* ------------------------------------------------------------ S-CSCF */

/* The S-CSCF's effective settings (flags over the -c file), `running` as
 * it started and `next` just read: borrowed
 * strings, NULL when not set; numbers -1 when not set. */
typedef struct reload_scscf {
  const char *domain, *db, *advertise, *log_level;
  const char *registrations;
  const char *cert, *key;
  const char *const *ca; /* the --ca files, n_ca of them */
  size_t n_ca;
  const char *const *listen;
  size_t n_listen;
  int64_t nonce_lifetime, expires_min, expires_max, expires_default;
  int64_t txn_timeout, max_txns;
  /* Core-side peers: the --peer names and --peer-addr addresses. */
  const char *const *peers, *const *peer_addrs;
  size_t n_peers, n_peer_addrs;
  const char *trust_domain;
  int insecure_core;
  /* Taken at start only: the per-source connection cap and the flood
   * limits with the store's lock wait (the flags' order in cmd_scscf.c). */
  int64_t max_flows_per_ip;
  int64_t limits[7];
  /* Calls, taken at start only: the next hops of other domains (the
   * file's and the flags') and Timer C (-1: the default). */
  const imsec_scscf_route *routes;
  size_t n_routes;
  int64_t timer_c_ms;
  /* SIP Digest: applied by a reload (0 / NULL: the defaults), except
   * max_digest_nonces (the replay table's size: a restart). */
  int64_t digest_nonce_ms, max_digest_nonces;
  const char *digest_username, *digest_algorithms;
  int digest_proxy_auth;
  /* A core past one machine, taken at start only: the Cx HSS and its
   * Diameter settings (hss_timeout -1: the default), the siblings. */
  const char *hss, *diameter_identity, *diameter_realm, *hss_identity;
  const char *diameter_cert, *diameter_key, *diameter_ca;
  int64_t hss_timeout;
  const char *const *aliases;
  size_t n_aliases;
  /* The -c file's operations keys (NULL: none), taken at start. */
  const imsec_conf_ops *ops;
} reload_scscf;

/* The S-CSCF: reloads the TLS context of every tls: listener (runner
 * listener i is listen[i]) and the client context if any, with every --ca
 * file; applies the log level, the challenge lifetime and expiry bounds,
 * the peer names and addresses, and *anchors (the peer anchors made from
 * the --ca, home and partner CA files, or NULL to keep them; as
 * plan.anchors: on success *anchors holds the previous ones). Returns as
 * reload_run. */
int reload_scscf_apply(imsec_hostnet *r, imsec_scscf *s,
                       const reload_scscf *running, const reload_scscf *next,
                       const imsec_x509_anchors **anchors, char *msg,
                       size_t cap);

#endif
