/*
 * store/cx_core.h: freeDiameter's process core for the Cx server and the
 * Cx client (private to store/).
 *
 * libfdcore keeps its state in process globals: one core per process,
 * configured once, started once, stopped once (it cannot be started
 * again). imsec_cx_core_start writes freeDiameter's configuration file
 * from an imsec_cx_config, loads the dictionaries freeDiameter ships
 * (dict_nasreq, dict_dcca, dict_dcca_3gpp), lets the caller define what
 * they lack of Cx and register its handlers (`setup`), advertises the Cx
 * application (Vendor-Specific-Application-Id 10415/16777216, TS 29.229
 * §6.1) in the capabilities exchange, starts the core and sets up the
 * peer:
 *  - server: listens on addr ("tcp:" plain, "tls:" TLS from the first
 *    octet, RFC 6733 §2.1) and accepts any peer that completes the
 *    capabilities exchange (with "tls:", only a peer whose certificate
 *    chains to `ca`);
 *  - client: one persistent peer, the HSS, connected from the start and
 *    reconnected every second after a loss (TcTimer), watched by DWR/DWA
 *    every watchdog_s (RFC 3539 Tw).
 * freeDiameter's own logging goes to stderr prefixed "diameter:", and the
 * framework's message dumps (a discarded late MAA holds CK and IK) are
 * replaced by one line naming the command, never its AVPs.
 */
#ifndef IMSEC_STORE_CX_CORE_H
#define IMSEC_STORE_CX_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/cx.h"

typedef enum imsec_cx_role {
  IMSEC_CX_ROLE_SERVER,
  IMSEC_CX_ROLE_CLIENT,
} imsec_cx_role;

/* Called once by imsec_cx_core_start, after the shipped dictionaries are
 * loaded and before the core starts: define the Cx dictionary, register
 * the dispatch handlers. Returns 0 or a negative imsec_err (then `err`
 * says why). */
typedef int (*imsec_cx_setup_fn)(void *arg, char *err, size_t errcap);

/* A parsed "tcp:HOST:PORT" / "tls:HOST:PORT" (HOST an IPv4 or IPv6
 * literal, "[v6]" accepted, or a name resolved at start). */
typedef struct imsec_cx_addr {
  int tls;
  char host[256];
  uint16_t port;
} imsec_cx_addr;

/* Returns 0 or IMSEC_ERR_CONFIG. */
int imsec_cx_addr_parse(const char *s, imsec_cx_addr *out);

/*
 * Start the process's core in `role` with the settings `c` (see
 * include/imsec/cx.h). Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG
 * (a setting is wrong or freeDiameter refused its configuration: `err`
 * says which), IMSEC_ERR_STATE (a core was started in this process
 * already), IMSEC_ERR_IO (cannot write the configuration, cannot listen),
 * IMSEC_ERR_NOMEM, or what `setup` returned.
 */
int imsec_cx_core_start(const imsec_cx_config *c, imsec_cx_role role,
                        imsec_cx_setup_fn setup, void *arg, char *err,
                        size_t errcap);

/* Stop the core: close the peers cleanly (DPR/DPA, RFC 6733 §5.4), join
 * freeDiameter's threads. No handler or answer callback runs after it
 * returns. A second call, or one without a start, does nothing. */
void imsec_cx_core_stop(void);

/* Is the core started (and not stopped)? */
int imsec_cx_core_running(void);

/* Client: is the HSS peer open (capabilities exchanged, not suspect)? */
int imsec_cx_core_peer_open(void);

/* The settings the core runs with (NULL before start): this Origin-Host
 * and Origin-Realm, and the client's peer (Destination-Host, -Realm). */
const char *imsec_cx_core_identity(void);
const char *imsec_cx_core_realm(void);
const char *imsec_cx_core_peer_identity(void);
const char *imsec_cx_core_peer_realm(void);

/* Operations (include/imsec/obs.h), from any thread; nothing before the
 * start or after the stop. imsec_diameter_peer_up{peer} for every peer
 * freeDiameter knows (the client's HSS, the server's S-CSCFs that
 * connected): 1 open, 0 otherwise. */
struct imsec_metrics;
struct imsec_table;
void imsec_cx_core_metrics(struct imsec_metrics *m);
/* The same peers as rows of a "peers" listing (IMSEC_CX_PEER_COLS:
 * peer, kind "diameter", state, detail: realm, connection, requests
 * pending); t must have been set up with those columns. */
#define IMSEC_CX_PEER_COLS                                                     \
  { "peer", "kind", "state", "detail" }
int imsec_cx_core_list_peers(struct imsec_table *t);
/* Server: 1 refuses new peers (a drain: their CER is answered
 * DIAMETER_UNKNOWN_PEER, RFC 6733 §5.3); peers already open stay. */
void imsec_cx_core_refuse_peers(int on);

/* How much of freeDiameter's logging reaches stderr: 0 errors only
 * (default), 1 notices too, 2 debug. */
void imsec_cx_core_log_level(int level);

#endif /* IMSEC_STORE_CX_CORE_H */
