/*
 * imsec P-CSCF (TS 24.229 §5.2, TS 33.203 Annex O): the first-hop proxy
 * between UEs on TLS flows and the S-CSCFs of their home networks.
 *
 * A sans-I/O element with the shape of include/imsec/elem.h: the driver
 * calls the event functions with the time and an imsec_out; the element
 * answers with actions (send, connect, keep, timer, log).
 *
 * What it does (mode M1 of DESIGN.md §2):
 *  - REGISTER from a UE: routed by the home domain (Request-URI host, else
 *    the To host) through the routing table; unknown domain: 403. Adds its
 *    Via, `Path: <sip:TOKEN@HOST:PORT;transport=tls;lr;ob>` (transport
 *    after the core listener: tls, or tcp when plain; TOKEN names the
 *    registration binding, an id never reused; an HMAC under a random key
 *    makes it unforgeable), `Supported: path`, and in a visited
 *    network P-Visited-Network-ID. Security agreement (RFC 3329): a UE that
 *    offers `Security-Client: tls` gets `Security-Server: tls;q=0.1` in the
 *    401 and must echo it in Security-Verify (missing or different: 494,
 *    logged as a downgrade attempt). Authorization is marked
 *    integrity-protected="tls-pending" (first REGISTER of the connection) or
 *    "tls-yes" (the echo checked, or the connection is bound). Security-*
 *    and the sec-agree option tag are removed before forwarding.
 *  - On the 200 to a REGISTER: the registration (IMPI, the IMPUs of
 *    P-Associated-URI, the Contact, the Service-Route, the expiry) is bound
 *    to the UE's TLS connection (TS 33.203 O.4) and the flow is kept.
 *  - Requests from the S-CSCF whose top Route is this P-CSCF with a valid
 *    token go out on that flow (token bad, flow gone or not registered:
 *    430 Flow Failed, RFC 5626 §5.3).
 *  - Requests from a UE are accepted only on the connection its
 *    registration is bound to (else 403); P-Asserted-Identity is set from
 *    the registered set (a P-Preferred-Identity outside it: 403) and the
 *    request follows the Service-Route.
 *  - Bindings go away on de-registration, expiry (timer) or flow loss.
 *  - Via (RFC 3261 §18.2.1, RFC 3581 §4): the top Via of every request
 *    received gets received (sent-by host not the source address) and
 *    rport (asked for); our own Via on requests towards a UE names the TLS
 *    listener the UE reached (the flow's local address), not the core port.
 *  - Bad input: a request that does not parse is answered 400 (513 when
 *    too large as a whole); a response that does not parse or fails
 *    imsec_sip_check (a bare CR or LF) is dropped and logged, never
 *    relayed. Lines about refused input stay within a budget per second.
 *  - Responses go back by this P-CSCF's Via: the branch names an entry of
 *    a bounded transaction table (with an expiry; ids are never reused)
 *    and carries an HMAC under the element's random key, so it cannot be
 *    guessed; a response is taken only from the flow its request went out
 *    on (RFC 3261 §18.1.2).
 *  - Its own 503s carry Retry-After (IMSEC_PCSCF_RETRY_*).
 *  - Mode M2a (cfg.client_cert): a UE's TLS client certificate must pass
 *    imsec_trust_ue_cert; its sip:IMPI is then the only IMPI the flow may
 *    register (403 otherwise) and the binding records it.
 *  - Dialogs (docs/CALLS.md, TS 24.229 §5.2.6.3, RFC 5626 §5.3): INVITE,
 *    SUBSCRIBE and REFER outside a dialog get two Record-Route entries
 *    with the flow token (access and core side, RFC 5658), so requests in
 *    the dialog reach the UE over its bound flow; in-dialog requests are
 *    checked against the dialogs of the UE's binding (403, 481); at most
 *    max_dialogs (503 beyond).
 *  - Mode M2b (cfg.dial_ue): a registration whose Contact is a TLS
 *    address outlives its connection; a request for it opens TLS there
 *    (CONNECT with the IMSEC_PCSCF_UE_PROFILE profile), the UE's server
 *    certificate must name the registered IMPI, then the binding moves to
 *    that flow (480 to the caller otherwise).
 *
 * Flows: an inbound TLS (or DTLS) flow is the access side (a UE), except
 * on a TLS core listener (its address is cfg.core's); flows the element
 * opened (CONNECT tag != 0) and inbound TCP/UDP flows are the core side
 * (S-CSCFs). Mw security (TS 33.210 Za/Zb): an S-CSCF reached over a tls:
 * route must show a chain that verified and the route's name (see
 * imsec_pcscf_on_flow_up); plain inbound core flows come from peer_addrs
 * only. Messages handed to on_message are whole SIP messages (the driver
 * frames the stream).
 *
 * Memory is bounded by the config: access flows tracked, bindings, pending
 * transactions, messages queued per S-CSCF while it connects.
 */
#ifndef IMSEC_PCSCF_H
#define IMSEC_PCSCF_H

#include "imsec/base.h"
#include "imsec/crypto.h"
#include "imsec/conf_ops.h"
#include "imsec/elem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_PCSCF_MAX_ROUTES 32
#define IMSEC_PCSCF_MAX_PEERS 16

/* Retry-After (RFC 3261 §20.33) on the 503s this P-CSCF sends itself (a
 * 503 relayed from an S-CSCF is left as it came): seconds.
 *  BUSY: its own tables are full (transactions, bindings): a short wait,
 *        they drain within a transaction timeout.
 *  CORE: the S-CSCF cannot be reached (connection refused or lost, its
 *        certificate refused, its queue full): long enough for a restart
 *        or an operator, short enough not to strand registrations. */
#define IMSEC_PCSCF_RETRY_BUSY 5
#define IMSEC_PCSCF_RETRY_CORE 30

/* Mode M2a: client certificates asked of UEs (imsec_pcscf_config). */
typedef enum imsec_pcscf_client_cert {
  IMSEC_PCSCF_CLIENT_CERT_NONE = 0,
  IMSEC_PCSCF_CLIENT_CERT_REQUEST = 1,
  IMSEC_PCSCF_CLIENT_CERT_REQUIRE = 2,
} imsec_pcscf_client_cert;

/* "none" / "request" / "require". Parse: 0 or IMSEC_ERR_PARSE. */
IMSEC_API const char *imsec_pcscf_client_cert_name(imsec_pcscf_client_cert c);
IMSEC_API IMSEC_MUST_USE int
imsec_pcscf_client_cert_parse(imsec_str s, imsec_pcscf_client_cert *out);

/* Mode M2b: the host's named client TLS profile the P-CSCF dials UEs with
 * (its certificate as client certificate, the UE anchors, verification
 * deferred to the element, no resumption). */
#define IMSEC_PCSCF_UE_PROFILE "ue"

/* One row of the routing table: a home network domain and its S-CSCF. */
typedef struct imsec_pcscf_route {
  char domain[256]; /* compared case-insensitively */
  imsec_addr addr;  /* the S-CSCF, e.g. tls:127.0.0.1:5061 */
  /* tls: the name the S-CSCF's certificate must carry (RFC 5922 §7.2:
   * SAN URI sip: hosts, else SAN dNSNames, the CN only without SAN; exact,
   * case-insensitive, no wildcards), also sent as SNI. "" = addr.host. */
  char name[256];
  /* Failover (RFC 3263 §4.3 in spirit: the next server when one fails):
   * routes with the same domain are the members of one group, tried in
   * the order given. weight > 0 on any member spreads new REGISTERs among
   * the live members with a weight, in proportion (smooth weighted round
   * robin); 0 everywhere: the first live member takes them all. */
  unsigned weight;
} imsec_pcscf_route;

typedef struct imsec_pcscf_config {
  /* This P-CSCF on the core side: the host and port put in its Via and in
   * the Path URI, where the S-CSCF sends requests for UEs; the Path says
   * transport=tcp or transport=tls after tp (TCP or TLS). With tp TLS, an
   * inbound TLS flow whose local address is this one (port, and host when
   * the host is an IP literal) is a core flow (an S-CSCF, judged as
   * core_peers says), not a UE: the UE listener must differ in port or
   * (IP literal) host. Requests from the S-CSCF must carry a top Route
   * with this host and port. Required (host not empty). */
  imsec_addr core;
  /* Plain (not TLS) inbound core flows are accepted only from these IP
   * addresses (compared as text, case-insensitively); others are refused
   * at flow up with a log line. A plain (tcp) core needs at least one. */
  char peer_addrs[IMSEC_PCSCF_MAX_PEERS][64];
  size_t n_peer_addrs;
  /* TLS core listener (TS 33.210 §5.2, RFC 5922 §7): who may connect. The
   * peer's certificate must have verified (EKU serverAuth, as every
   * network element's), carry EKU clientAuth and a name (RFC 5922 §7.1,
   * no wildcard) that is the name of a tls: route (its name=, else its
   * host: an S-CSCF this P-CSCF knows) or one of these extra names. */
  char core_peers[IMSEC_PCSCF_MAX_PEERS][256];
  size_t n_core_peers;
  imsec_pcscf_route routes[IMSEC_PCSCF_MAX_ROUTES];
  size_t n_routes;
  /* Non-empty: this is a visited network's P-CSCF; the name goes into
   * P-Visited-Network-ID (TS 24.229 §5.2.2.1). */
  char visited_network[256];
  /* 1: a REGISTER without sec-agree is refused (421). Without it, a
   * REGISTER over TLS with no sec-agree is the "TLS session before
   * registration" of TS 33.203 Annex O.2 (TS 33.203 Annex P.3), what SIP
   * Digest softphones do: the 200 binds the IMPI (the digest username)
   * and the registered IMPUs to the connection, as with sec-agree. */
  int require_sec_agree;
  /* TS 33.203 Annex N.1: SIP Digest is not for 3GPP access. 1: this
   * P-CSCF's access is 3GPP access and SIP Digest is refused on it (a
   * REGISTER whose Authorization or whose 401 from the S-CSCF names no
   * Digest AKA algorithm gets 403); 0: other access (the default). */
  int access_3gpp;
  /* Bounds (0 in any of them: the default). */
  size_t max_flows;        /* access flows tracked; default 65536 */
  size_t max_bindings;     /* registrations bound; default 65536 */
  size_t max_transactions; /* pending forwarded requests; default 4096 */
  size_t max_queue;        /* messages per S-CSCF while connecting; 256 */
  imsec_time_ms transaction_timeout_ms; /* default 32000 (64*T1) */
  size_t max_msg;                       /* SIP message size; default 65536 */
  /* Mode M2a (mutual TLS, DESIGN.md §2): what a UE's TLS flow must show.
   * NONE: M1. REQUEST: a UE without a certificate is M1; one with a
   * certificate is held to it. REQUIRE: no certificate, no flow. A
   * certificate must pass imsec_trust_ue_cert (client role) against the
   * host's anchors (the trust domain root and the operator CAs; a
   * refusal closes the flow with one log line); its IMPI must then be
   * the Authorization username of every REGISTER on the flow (403
   * otherwise) and the binding records it. */
  imsec_pcscf_client_cert client_cert;
  /* Mode M2b: a request for a UE whose binding has no live flow (its
   * connection closed after registering) opens TLS to the registered
   * Contact (sip: with transport=tls, or sips:; an IP literal host, the
   * address the UE registered from) with
   * the host's client profile IMSEC_PCSCF_UE_PROFILE; the UE's server
   * certificate must pass imsec_trust_ue_cert (server role) naming the
   * registered IMPI; then the binding moves to that flow and the queued
   * requests go out. A UE that cannot be reached or fails the check:
   * 480 to the caller, one log line. With dial_ue a binding with such a
   * Contact outlives its flow until expiry. */
  int dial_ue;
  /* Mode M3, AKA-derived (lib/pcscf/psk.c, docs/M3.md; this project's
   * profile): keep the CK and IK the S-CSCF puts in a 401, derive the
   * UE's PSK on the 200 and install it in the listeners for the
   * registration's lifetime (imsec_out_psk); a UE that reconnects with it
   * gets its registration moved to the new flow. CK and IK are removed
   * from every 401 before it reaches a UE, with or without this. */
  int aka_psk;
  /* DTLS access flows (SIP over DTLS, draft-jennings-sip-dtls): RFC 3261
   * §17.1.1.1 T1, T2, T4 of the datagram transactions (0: 500, 4000,
   * 5000 ms), and how long an association may stay quiet (no SIP, no STUN
   * keep-alive) before it is closed with its binding (0: 90000; DTLS has
   * no FIN, and net/ stops timing a flow out once it is KEPT). */
  imsec_time_ms t1_ms, t2_ms, t4_ms;
  imsec_time_ms dtls_idle_timeout_ms;
  /* Calls (RFC 3261 §16, docs/CALLS.md). timer_c_ms: how long an INVITE
   * forwarded either way may wait for its final response once a
   * provisional came (RFC 3261 §16.6 step 11 Timer C, reset by each
   * provisional; then CANCEL and 408); 0: 180000. max_dialogs: dialogs
   * tracked (Record-Route with the flow token, TS 24.229 §5.2.6.3,
   * RFC 5626 §5.3), over all UEs; 0: 65536 (a dialog-creating request
   * beyond it gets 503). */
  imsec_time_ms timer_c_ms;
  size_t max_dialogs;
  /* Failover among the members of a domain's group (routes sharing a
   * domain, see imsec_pcscf_route). A member is marked dead when a
   * connection to it fails, its flow is lost, a REGISTER sent to it gets
   * no answer within failover_timeout_ms (0: 5000; at most the
   * transaction timeout) or gets 503 (RFC 3263 §4.3); a REGISTER is then
   * sent again (the copy kept) to the next live member, and requests
   * whose Service-Route names a dead member go to the next live member of
   * its group (that S-CSCF takes its siblings' Route entries as its own).
   * Requests still queued for a member that could not be reached go to
   * the next one too. Every member of a group of two or more gets an
   * OPTIONS (RFC 3261 §11) every options_interval_ms (0: 5000; < 0: never),
   * connecting first when it has no flow; any response makes it live
   * again, none within the interval marks it dead. When every member is
   * dead the first is tried. */
  imsec_time_ms failover_timeout_ms;
  imsec_time_ms options_interval_ms;
} imsec_pcscf_config;

/* Defaults: everything zero / empty, which the element reads as the
 * defaults above. `core` still has to be set. */
IMSEC_API void imsec_pcscf_config_init(imsec_pcscf_config *cfg);

/* Parse a route "DOMAIN=tp:host:port[;name=NAME]" (the --route flag and
 * the config file's routes list); NAME goes to out->name (else ""). Returns
 * 0, IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_pcscf_route_parse(imsec_str spec,
                                                     imsec_pcscf_route *out);
/* Parse a failover group "DOMAIN=ADDR[;name=N][;weight=W],ADDR[;...]..."
 * (members in priority order; parameters in any order) into out[0..*n),
 * one route per member, each with the domain. At most `cap` members.
 * Returns 0, IMSEC_ERR_PARSE, IMSEC_ERR_LIMIT (more than cap). */
IMSEC_API IMSEC_MUST_USE int
imsec_pcscf_route_parse_list(imsec_str spec, imsec_pcscf_route *out, size_t cap,
                             size_t *n);

typedef struct imsec_pcscf imsec_pcscf;

/*
 * Make a P-CSCF. `cfg` is copied. `crypto` is borrowed (it must outlive
 * the element; it draws the token key and computes the token HMACs).
 * Returns 0, IMSEC_ERR_INVAL (NULL argument), IMSEC_ERR_CONFIG (no core
 * host, core tp not TCP or TLS, a tcp core without peer_addrs, a route
 * without domain, more than IMSEC_PCSCF_MAX_ROUTES routes or
 * IMSEC_PCSCF_MAX_PEERS peer addresses or core peers, an empty or
 * wildcard core peer name),
 * IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO (no randomness).
 */
IMSEC_API IMSEC_MUST_USE int imsec_pcscf_new(imsec_pcscf **out,
                                             const imsec_pcscf_config *cfg,
                                             imsec_crypto *crypto);
/* Free the element and everything it holds. NULL is fine. */
IMSEC_API void imsec_pcscf_del(imsec_pcscf *p);

/* A flow came up. `tag` is the CONNECT tag (flows towards S-CSCFs) or 0
 * (inbound). A flow to a tls: route is checked first (TS 33.210 §5.2, RFC
 * 5922 §7.2): info->peer_cert must be present, its chain OK, and one of
 * its names the route's name; else one log line says why (no certificate,
 * chain invalid, certificate expired, name mismatch), the requests queued
 * for that S-CSCF get 503 and IMSEC_ERR_AUTH asks the driver to close the
 * flow. An inbound plain core flow from an address outside peer_addrs is
 * refused the same way (IMSEC_ERR_AUTH), and so is an inbound flow on a
 * TLS core listener whose certificate is missing, did not verify, lacks
 * EKU clientAuth or a name, or names no known S-CSCF (see core_peers):
 * one log line with its address, its name and the reason. Returns 0, or
 * IMSEC_ERR_AUTH,
 * IMSEC_ERR_LIMIT (max_flows access flows already: the driver closes the
 * flow), IMSEC_ERR_NOMEM. */
IMSEC_API int imsec_pcscf_on_flow_up(imsec_pcscf *p, uint64_t flow,
                                     uint64_t tag, const imsec_flow_info *info,
                                     imsec_time_ms now, imsec_out *out);
/* One whole SIP message arrived on `flow` (borrowed for the call). */
IMSEC_API void imsec_pcscf_on_message(imsec_pcscf *p, uint64_t flow,
                                      const uint8_t *msg, size_t len,
                                      imsec_time_ms now, imsec_out *out);
/* A stream flow sent what the driver cannot frame (a message over its
 * size limit, `reason` IMSEC_ERR_LIMIT, or octets that cannot start one,
 * IMSEC_ERR_PARSE); `head` is what arrived (borrowed for the call). A
 * request is answered 513 or 400 when its request line can be read
 * (imsec_elem_refuse_input); the driver then closes the flow. */
IMSEC_API void imsec_pcscf_on_refused(imsec_pcscf *p, uint64_t flow, int reason,
                                      const uint8_t *head, size_t len,
                                      imsec_time_ms now, imsec_out *out);
/* A flow went down, or a CONNECT failed (flow 0, `tag` set: the messages
 * queued for that S-CSCF are dropped; the next one connects again).
 * Bindings on a UE flow are removed. */
IMSEC_API void imsec_pcscf_on_flow_down(imsec_pcscf *p, uint64_t flow,
                                        uint64_t tag, int reason,
                                        imsec_time_ms now, imsec_out *out);
/* A timer fired (the element uses one timer id; stale firings are
 * harmless). Expires bindings and transactions. */
IMSEC_API void imsec_pcscf_on_timer(imsec_pcscf *p, uint64_t timer,
                                    imsec_time_ms now, imsec_out *out);

/* Running begins (the host's on_start): the OPTIONS pings of failover
 * groups start (else they start with the first event). */
IMSEC_API void imsec_pcscf_on_start(imsec_pcscf *p, imsec_time_ms now,
                                    imsec_out *out);

/* Replace the routing table at run time (a daemon's reload): REGISTERs
 * from now on follow `routes` (n of them, copied). An S-CSCF address
 * already known keeps its connection and queue; registrations already
 * bound keep following their Service-Route. Addresses no longer routed
 * to stay known (their connections close when the S-CSCF closes them), so
 * at most IMSEC_PCSCF_MAX_ROUTES distinct S-CSCF addresses over the
 * element's life. All checked first: on error nothing changes. Returns 0,
 * IMSEC_ERR_INVAL (NULL), IMSEC_ERR_CONFIG (a route without domain or
 * host, more than IMSEC_PCSCF_MAX_ROUTES routes), IMSEC_ERR_LIMIT (too
 * many distinct S-CSCF addresses: a restart is needed). */
IMSEC_API IMSEC_MUST_USE int
imsec_pcscf_set_routes(imsec_pcscf *p, const imsec_pcscf_route *routes,
                       size_t n);

/* Counters for tests, logs and the demo. */
typedef struct imsec_pcscf_stats {
  size_t flows;        /* access flows tracked */
  size_t bindings;     /* registrations bound */
  size_t transactions; /* pending forwarded requests */
  size_t queued;       /* messages waiting for an S-CSCF connection */
} imsec_pcscf_stats;

IMSEC_API void imsec_pcscf_stats_get(const imsec_pcscf *p,
                                     imsec_pcscf_stats *out);

/* Failover state of route `i` (cfg.routes order): 1 its S-CSCF is live,
 * 0 marked dead, IMSEC_ERR_INVAL no such route. */
IMSEC_API int imsec_pcscf_route_live(const imsec_pcscf *p, size_t i);

/* The flow a public identity is bound to. Returns 0 and *flow (0 when
 * the binding outlives its flow and has none now), or IMSEC_ERR_NOTFOUND. */
IMSEC_API IMSEC_MUST_USE int
imsec_pcscf_binding_flow(const imsec_pcscf *p, imsec_str impu, uint64_t *flow);

/* ------------------------------------------------------------ the daemon */

#define IMSEC_PCSCF_MAX_CORE_CA 8
#define IMSEC_PCSCF_MAX_UE_CA 8
#define IMSEC_PCSCF_MAX_LISTEN 4 /* UE listeners: listen + more_listen */

/* Settings of `imsec pcscf` (conf/pcscf.c reads them from YAML):
 *   listen: tls:HOST:PORT        cert: CHAIN.pem     key: KEY.pem
 *           (or a list: [tls:H:P, dtls:H:P]; dtls: is SIP over DTLS on
 *           UDP, draft-jennings-sip-dtls, with the same certificate)
 *   core: tls:HOST:PORT          (optional; the core-side listener; tcp:
 *                                 only with insecure_core)
 *   routes: [DOMAIN=tls:HOST:PORT[;name=NAME][;weight=W][,MEMBER...], ...]
 *                                (a domain's members in priority order,
 *                                 failover; see imsec_pcscf_route)
 *   options_interval: seconds    (OPTIONS pings of group members; 0 off)
 *   failover_timeout_ms: number  (a REGISTER's wait before the next member)
 *                                (or a mapping DOMAIN: ADDR)
 *   core_cert: CHAIN.pem  core_key: KEY.pem   (the P-CSCF's network-element
 *                                 certificate on Mw, TS 33.310 §6.1)
 *   core_ca: FILE or [FILE, ...] (trust anchors for the S-CSCFs)
 *   insecure_core: true|false    (plain TCP allowed on the core side)
 *   peer_addrs: IP or [IP, ...]  (who may use a plain core listener)
 *   core_peers: NAME or [NAME, ...] (S-CSCF certificate names, besides
 *                                 the routes', allowed on a TLS core
 *                                 listener)
 *   visited_network: NAME        require_sec_agree: true|false
 *   log_level: debug|info|warn|error
 *   max_flows, max_bindings, max_transactions, max_queue: numbers
 *   transaction_timeout_ms: number
 *   max_flows_per_ip: number (connections from one source address)
 *   client_cert: none|request|require (M2a: UE client certificates)
 *   ue_ca: FILE or [FILE, ...]   (anchors for UE certificates: the trust
 *                                 domain root and the operator CAs)
 *   dial_ue: true|false          (M2b: dial a UE's registered TLS Contact)
 *   t1_ms, t2_ms, t4_ms: numbers (DTLS: RFC 3261 §17.1.1.1 timers)
 *   dtls_idle_timeout_ms: number (DTLS: a quiet association is closed)
 *   max_dialogs: number          (calls: dialogs tracked, docs/CALLS.md)
 *   access: 3gpp|other           (TS 33.203 Annex N.1: 3gpp refuses SIP
 *                                 Digest; default other) */
typedef struct imsec_pcscf_settings {
  imsec_pcscf_config elem;
  imsec_addr listen; /* has_listen */
  imsec_addr core_listen;
  int has_listen, has_core_listen;
  char cert[1024], key[1024];
  char log_level[16];
  /* Mw over mutual TLS (TS 33.210 Za/Zb). */
  char core_cert[1024], core_key[1024];
  char core_ca[IMSEC_PCSCF_MAX_CORE_CA][1024];
  size_t n_core_ca;
  int insecure_core;
  uint32_t max_flows_per_ip; /* net's per-source cap; 0: its default */
  /* Modes M2a/M2b: anchors for UE certificates (the trust domain root and
   * the operator CAs). */
  char ue_ca[IMSEC_PCSCF_MAX_UE_CA][1024];
  size_t n_ue_ca;
  /* Mode M3, configured: "IDENTITY HEXKEY" lines (psk_file; mode 0600),
   * "" none. elem.aka_psk is aka_psk: true. */
  char psk_file[1024];
  /* UE listeners after `listen` (--listen repeated, a YAML list): tls: or
   * dtls:. */
  imsec_addr more_listen[IMSEC_PCSCF_MAX_LISTEN - 1];
  size_t n_more_listen;
  /* The operations keys (ctl_socket, metrics, ...), as written. */
  imsec_conf_ops ops;
} imsec_pcscf_settings;

/* Read a settings file into `s` (fields it does not name stay as they
 * are). On error `err` (capacity errcap) holds one line "FILE:LINE: key
 * KEY: what is wrong". Returns 0, IMSEC_ERR_IO (cannot read),
 * IMSEC_ERR_CONFIG (bad YAML, unknown key, bad value), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_pcscf_settings_load(const char *path,
                                                       imsec_pcscf_settings *s,
                                                       char *err,
                                                       size_t errcap);

/* The element contract (include/imsec/elem.h) with an imsec_pcscf as
 * `self`: what a host runs. */
IMSEC_API extern const imsec_elem_ops imsec_pcscf_ops;

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_PCSCF_H */
