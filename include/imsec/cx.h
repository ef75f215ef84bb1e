/*
 * imsec cx: the HSS behind Diameter Cx (TS 29.228, TS 29.229; Diameter
 * base RFC 6733) on freeDiameter (store/cx_*.c, the imsec-store library).
 *
 * freeDiameter's core is one per process: a process is either a Cx
 * server (`imsec hss serve --diameter`) or a Cx client (`imsec scscf
 * --hss diameter:...`), configured once, started once.
 *
 * Cx application 16777216, vendor 10415 (3GPP). The dictionary is
 * freeDiameter's dict_dcca_3gpp extension plus what it lacks of Cx (the
 * application, its commands UAR/UAA, SAR/SAA, LIR/LIA, MAR/MAA, and the
 * AVPs missing there), defined at start-up.
 */
#ifndef IMSEC_CX_H
#define IMSEC_CX_H

#include "imsec/svc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_CX_APP_ID 16777216u
#define IMSEC_CX_VENDOR_3GPP 10415u

/* Diameter settings of this process. Strings are copied. */
typedef struct imsec_cx_config {
  /* Origin-Host (an FQDN) and Origin-Realm of this process. Required. */
  const char *identity;
  const char *realm;
  /* Server: where to listen, "tcp:HOST:PORT" or "tls:HOST:PORT".
   * Client: where the HSS is (the same forms). */
  const char *addr;
  /* Client: the HSS's Diameter identity (its Origin-Host; NULL: the host
   * of addr) and realm (NULL: this realm). */
  const char *peer_identity;
  const char *peer_realm;
  /* tls: this process's certificate chain and key, and the CA that the
   * peer's certificate must chain to (mutual TLS, RFC 6733 §13). */
  const char *cert;
  const char *key;
  const char *ca;
  /* Client: how long a request waits for its answer (0: 2000 ms), then
   * IMSEC_ERR_TIMEOUT; the Tw watchdog (RFC 6733 §5.5.3, RFC 3539; 0: 6 s,
   * the lowest allowed); the Server-Name sent in SAR (this S-CSCF's SIP
   * URI, TS 29.228 §6.1.2). */
  int timeout_ms;
  int watchdog_s;
  const char *server_name;
  /* Where freeDiameter's extensions are (NULL: /usr/lib/freeDiameter). */
  const char *ext_dir;
  /* A folder the process may write freeDiameter's generated
   * configuration into (NULL: a private temporary folder). */
  const char *run_dir;
} imsec_cx_config;

typedef struct imsec_cx_server imsec_cx_server;

/* The checks a start makes before freeDiameter runs, for a daemon's
 * --check-config: identities, the address (resolved), with tls: the
 * certificate, key and CA files readable, and freeDiameter's dictionary
 * extensions present. server 1: the server's settings, 0: the client's.
 * Starts nothing. Returns 0 or IMSEC_ERR_CONFIG (err says which). */
IMSEC_API IMSEC_MUST_USE int imsec_cx_config_check(const imsec_cx_config *c,
                                                   int server, char *err,
                                                   size_t errcap);

/*
 * Start the Cx server: answers UAR, MAR (IMS AKA vectors, resync from
 * RAND||AUTS, SIP Digest H(A1)), SAR (assignment state, User-Data of TS
 * 29.228 Annex E with the implicit set) and LIR through `hss` (borrowed:
 * a service that answers the HSS requests, typically a worker over the
 * embedded service over the subscriber store; it must outlive the
 * server). Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG (settings
 * freeDiameter refuses; `err` says which), IMSEC_ERR_IO (cannot listen),
 * IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int imsec_cx_server_new(imsec_cx_server **out,
                                                 const imsec_cx_config *c,
                                                 imsec_svc *hss, char *err,
                                                 size_t errcap);
/* Stop freeDiameter (close the peers cleanly: DPR/DPA) and free. */
IMSEC_API void imsec_cx_server_del(imsec_cx_server *s);

/* Operations of the server (include/imsec/obs.h), from any thread.
 * metrics: imsec_cx_requests_total{command,result} (result: the
 * Result-Code or Experimental-Result-Code number answered),
 * imsec_cx_request_duration_seconds{command}, imsec_cx_requests_in_flight,
 * imsec_cx_assignments{state} and imsec_diameter_peer_up{peer}
 * (docs/OPERATIONS.md). list: "peers" (the Diameter peers with their
 * state), else IMSEC_ERR_UNSUPPORTED. */
struct imsec_metrics;
struct imsec_table;
IMSEC_API void imsec_cx_server_metrics(imsec_cx_server *s,
                                       struct imsec_metrics *m);
IMSEC_API int imsec_cx_server_list(imsec_cx_server *s, const char *what,
                                   struct imsec_table *t);
/* Drain: from now on new peers are refused (DIAMETER_UNKNOWN_PEER in the
 * CEA) and new requests answered DIAMETER_TOO_BUSY (the client may try
 * another HSS); requests already taken are answered as usual. */
IMSEC_API void imsec_cx_server_drain(imsec_cx_server *s);
/* Requests taken and not yet answered. */
IMSEC_API int imsec_cx_server_busy(imsec_cx_server *s);

/* How much of freeDiameter's own logging reaches stderr: 0 errors only
 * (the default), 1 notices too, 2 debug. May change while running. */
IMSEC_API void imsec_cx_log_level(int level);

/* Where those lines go instead of stderr ("diameter: TEXT"): a daemon's
 * logger (include/imsec/ops.h), called on freeDiameter's threads (must be
 * thread-safe) with the level (errors, notices as INFO, debug) and the
 * text without a prefix or newline. NULL: stderr again. Set it before the
 * server or client is created, and leave it until after it is deleted. */
typedef void (*imsec_cx_log_fn)(void *arg, imsec_log_level level,
                                const char *text);
IMSEC_API void imsec_cx_log_sink(imsec_cx_log_fn fn, void *arg);

/*
 * The Cx client: a service (include/imsec/svc.h) answering the HSS
 * requests of an S-CSCF over Diameter: HSS_SUB, HSS_SUB_IMPU and
 * HSS_ASSIGN by SAR, HSS_VECTOR and HSS_RESYNC and HSS_DIGEST by MAR.
 * Replies come from freeDiameter's threads. Result-Code and
 * Experimental-Result map to imsec_err: DIAMETER_ERROR_USER_UNKNOWN,
 * DIAMETER_ERROR_IDENTITIES_DONT_MATCH -> IMSEC_ERR_NOTFOUND; no answer
 * within timeout_ms, or no peer open -> IMSEC_ERR_TIMEOUT;
 * DIAMETER_UNABLE_TO_DELIVER, DIAMETER_TOO_BUSY -> IMSEC_ERR_BUSY; others
 * -> IMSEC_ERR_IO. The HSS peer is reconnected when it drops. Returns 0,
 * IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG, IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int imsec_cx_client_new(imsec_svc **out,
                                                 const imsec_cx_config *c,
                                                 char *err, size_t errcap);

/* Is the HSS peer open (the capabilities exchange done)? For a daemon's
 * start-up wait and the tests. */
IMSEC_API int imsec_cx_client_ready(imsec_svc *client);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_CX_H */
