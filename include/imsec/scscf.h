/*
 * imsec scscf: the S-CSCF element (TS 24.229 §5.4): registrar and
 * authenticator for one home network domain, and router of requests to
 * registered public identities via their Path.
 *
 * Sans-I/O, with the element shape of include/imsec/elem.h: the driver
 * hands in events (flow up/down, one whole SIP message on a flow, timer
 * fired, a store's answer) with `now`, and carries out the actions
 * appended to an imsec_out. It reaches the HSS and the registration store
 * only through the host (REQUEST and PERSIST actions, answered by
 * imsec_scscf_on_reply): the host gives it an imsec_svc over both
 * (include/imsec/svc.h) and calls imsec_scscf_start once.
 *
 * Registration (TS 24.229 §5.4.1, TS 33.203 §6.1):
 *  - an unauthenticated REGISTER gets 401 with a Digest AKAv1-MD5 (or
 *    AKAv2-MD5, per subscriber) challenge, realm = the home domain, one
 *    fresh vector from the HSS per challenge; the vector is kept for the
 *    nonce lifetime (then dropped: incomplete authentication, §6.1.2.3);
 *  - a REGISTER without a valid response for an IMPI that already has a
 *    pending challenge within its lifetime gets that same challenge again:
 *    no new vector, no SQN step, no disk write;
 *  - a response with an unknown, used or expired nonce, or a replayed nc,
 *    gets the pending challenge or a new one (stale=true when the nonce is
 *    gone);
 *  - the Digest uri must name the Request-URI (RFC 7616 §3.4.6, compared
 *    as SIP URIs, RFC 3261 §19.1.4): 400 otherwise;
 *  - flood limits (see the config): too many new challenges for one IMPI
 *    or one source: 503 with Retry-After; too many failed responses for an
 *    IMPI: it is locked (403, even to a right response) for lockout_ms;
 *    for a source: 503 with Retry-After; each logged once per window;
 *  - the HSS is reached through the host: where a subscriber record, a
 *    vector or a resynchronisation is needed the S-CSCF appends a REQUEST
 *    (IMSEC_SVC_HSS_SUB, _SUB_IMPU, _VECTOR, _RESYNC) and parks the SIP
 *    request; imsec_scscf_on_reply keeps the answer with it and runs it
 *    again from the start, where it finds the answer (a vector is taken
 *    once, then wiped). Order is kept per (flow, Call-ID) (RFC 3261
 *    §10.2.4: a registration's refreshes share its Call-ID, in CSeq
 *    order); requests of other Call-IDs on one flow (other UEs behind
 *    one P-CSCF connection) wait for the store side by side. An answer
 *    "busy" (another process holds the store's lock): the request asks
 *    again on a timer, with a growing pause. Either way a request waits
 *    at most store_timeout_ms from its arrival: then 500, logged as
 *    "HSS store unavailable: locked" (busy), or 504 Server Time-out (RFC
 *    3261 §21.5.5) logged as "...: no answer in time"; an answer
 *    IMSEC_ERR_TIMEOUT (a remote HSS or store that did not answer) is a
 *    504 too.
 *    The rest of the traffic goes on meanwhile; a REGISTER arriving on a
 *    flow with requests of its Call-ID parked waits behind them. No
 *    vector leaves before its SQN is on disk, so a busy SQN write means
 *    no 401 in that round (TS 33.102 Annex C). An I/O error: 500 at once;
 *  - wrong RES: 403 (§6.1.2.1); an empty response without auts (the UE
 *    refused the network, §6.1.2.2): 403; auts: HSS resync then a new 401
 *    (§6.1.3); a wrong MAC-S in AUTS: 403;
 *  - on success: bindings of Contact (several per IMPU, RFC 5626 instance
 *    and reg-id kept) with their Path and an expiry timer; 200 OK with the
 *    current Contacts, Path, Service-Route, P-Associated-URI (the implicit
 *    set). Expires: 0 or `Contact: *` de-register; an Expires under the
 *    minimum gets 423 with Min-Expires; above the maximum it is cut.
 *    Every REGISTER is authenticated (no skipping on integrity-protected).
 *  - durability (DESIGN.md §2): every change of a registration (REGISTER,
 *    re- and de-registration, the expiry of its last binding) is a PERSIST
 *    (IMSEC_SVC_REG_SAVE with the IMPI's whole record, or REG_DELETE)
 *    appended before the 200, which the host holds until the store says
 *    it is durable; when it cannot be made so, the change is undone and
 *    the REGISTER gets 500 instead. imsec_scscf_start loads them back
 *    (REG_LOAD) after a restart: bindings with their time left, Path,
 *    instance, reg-id and registering peer; expired ones never return.
 * Routing (docs/CALLS.md, "S-CSCF"): every method is proxied (none gets
 * 405). A request whose Route names us with user "orig" is originating:
 * its P-Asserted-Identity must be registered here (403), then a
 * Request-URI of another domain goes to cfg.routes' next hop for it (404
 * "No route to domain" without one) and one of the home network is
 * terminated here as below. INVITE, SUBSCRIBE and REFER outside a dialog
 * get our Record-Route (<sip:HOST:PORT;transport=T;lr>, cfg.self) on
 * every branch. A request inside a dialog (To tag) and a 2xx ACK go to
 * the next Route after ours (stateful; the ACK stateless), 403 without a
 * Route of ours, 404 with none after it. Max-Forwards 0: 483.
 * Terminating: requests for a registered IMPU are forked in
 * parallel to every live contact (RFC 3261 §16.6-16.7, stateful): one client
 * branch per contact with its own Via branch, Request-URI = the contact,
 * Route = its Path, sent to the first Path hop's host:port (one connection
 * per hop, reused, RFC 5923); unknown IMPU 404, known but unregistered 480.
 * The first 2xx goes upstream at once and only once; the other branches run
 * to their end and their responses are absorbed (no CANCEL: MESSAGE and
 * OPTIONS are not INVITE). When every branch failed the best final response
 * goes upstream (§16.7 step 6: a 6xx first, else the lowest class; 503
 * becomes 500; a 430 from an edge proxy becomes 480). Provisional responses
 * are not forwarded (RFC 4320 §4.2: no 1xx but 100 to a non-INVITE, and 100
 * is hop by hop). Each branch has its own transaction timeout (Timer F,
 * default 64*T1 = 32 s; then 408 for that branch); a branch whose connection
 * fails or goes down counts as 503 (§16.9 transport error). At most
 * max_txns forked requests are pending; beyond that the request gets 503.
 * OPTIONS for the S-CSCF itself (Request-URI = the domain or its own
 * address) gets 200. Requests but INVITE are not matched as
 * retransmissions (the core side is TCP: RFC 3261 §17.1.2.2, nothing
 * retransmits).
 * An INVITE forks the same way, and (RFC 3261 §16.7-16.10): gets our 100
 * Trying at once; provisional responses 101-199 go upstream; every 2xx
 * goes upstream (each fork may answer) and after the first the other
 * branches are CANCELled (step 10; a branch without a provisional response
 * at its first one, §9.1); a CANCEL from upstream (same flow, top Via
 * branch and sent-by, Call-ID and CSeq number as the INVITE) gets 200 and
 * CANCELs every pending branch, one matching nothing is dropped with a
 * rate-limited log line; the S-CSCF ACKs a non-2xx final response on its
 * branch itself and absorbs the ACK from upstream; a branch with no
 * provisional response within txn_timeout_ms (Timer B) counts as 408;
 * Timer C (timer_c_ms, reset by each 101-199) CANCELs a branch that rings
 * (its final response then counts as 408) or ends a silent one as 408. A
 * context stays 64*T1 (txn_timeout_ms) after its last branch for the ACK
 * and for 2xx retransmissions, which still go up; the INVITE repeated
 * (same flow and Via branch) is absorbed. When the caller's flow goes
 * down, the branches are CANCELled.
 * Core-side trust (RFC 3325 §2.3 trust domain, TS 33.210 §5.2): each flow's
 * peer is judged when it comes up (see the config); a refused peer's flow
 * is closed (on_flow_up returns IMSEC_ERR_AUTH) with one log line naming
 * its address, certificate name and reason. Only trusted peers' requests
 * are served, so P-Asserted-Identity and Path are believed from them
 * alone: any request on a flow that is not trusted (refused, or never
 * announced with on_flow_up) gets 403 and a log line naming the peer; a
 * response on one is dropped. A REGISTER answering a Digest AKA challenge
 * must carry integrity-protected="tls-pending" or "tls-yes" (TS 24.229
 * §5.4.1.2.1; set by the P-CSCF, which replaces any value a UE sent): 403
 * otherwise. Towards a contact the S-CSCF connects to the Path's first
 * hop; over TLS that peer must carry the certificate name of the peer that
 * registered the binding (CONNECT names it as the server name).
 */
#ifndef IMSEC_SCSCF_H
#define IMSEC_SCSCF_H

#include "imsec/base.h"
#include "imsec/crypto.h"
#include "imsec/conf_ops.h"
#include "imsec/elem.h"
#include "imsec/hss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A next hop for requests to another domain (`--route DOMAIN=ADDR`, the
 * P-CSCF's syntax: imsec_pcscf_route_parse). */
typedef struct imsec_scscf_route {
  char domain[256];
  imsec_addr addr;
  char name[256]; /* tls: the certificate name it must carry; "" addr.host */
} imsec_scscf_route;
#define IMSEC_SCSCF_MAX_ROUTES 32

/* Parse a route "DOMAIN=tp:host:port[;name=NAME]" (the --route flag and
 * the config file's routes list), as imsec_pcscf_route_parse does; NAME
 * goes to out->name (else ""). Returns 0, IMSEC_ERR_PARSE,
 * IMSEC_ERR_INVAL (out NULL). */
IMSEC_API IMSEC_MUST_USE int imsec_scscf_route_parse(imsec_str spec,
                                                     imsec_scscf_route *out);

typedef struct imsec_scscf_config {
  /* The home network domain name: the registrar's domain and the Digest
   * realm (e.g. ims.mnc001.mcc001.3gppnetwork.org). Required. */
  const char *domain;
  /* The S-CSCF's own SIP address, for Via, Service-Route and recognising
   * Route headers and OPTIONS addressed to it (the listen address).
   * Required. */
  imsec_addr self;
  imsec_time_ms nonce_lifetime_ms; /* 0: 30000 */
  uint32_t expires_min;            /* 0: 60 s (423 below it) */
  uint32_t expires_max;            /* 0: 3600 s (cut to it) */
  uint32_t expires_default;        /* 0: 600 s (no Expires given) */
  size_t max_contacts;             /* per IMPI; 0: 8 */
  size_t max_challenges;           /* pending challenges; 0: 10000 */
  size_t max_regs;                 /* registered IMPIs; 0: 100000 */
  /* Per-branch transaction timeout (RFC 3261 §17.1.2.2 Timer F);
   * 0: 32000 ms. */
  imsec_time_ms txn_timeout_ms;
  size_t max_txns; /* pending forked requests; 0: 1024 (503 beyond it);
                      each holds its best error response (<= 64 KiB) */
  /* HSS store busy (see above): how long a request may wait for the
   * store, from its arrival, before it gets 500; 0: 250 ms. */
  imsec_time_ms store_timeout_ms;
  size_t max_parked; /* requests waiting for the store; 0: 4096 (500 at
                        once beyond it, or beyond 4 MiB of them) */

  /* Core-side peers (TS 33.210 §5.2, RFC 3325 §2.3, docs/TRUST.md): every
   * flow, inbound or opened by the S-CSCF, is judged in on_flow_up by
   * imsec_trust_peer_decide on its imsec_flow_info (peer_cert facts for
   * TLS, the peer address for TCP). Strings are copied. */
  const char *trust_domain;      /* NULL: the last two labels of `domain` */
  const char *const *peer_names; /* certificate names trusted whatever their
                                    CA (their chain must still validate) */
  size_t n_peer_names;           /* at most IMSEC_SCSCF_MAX_PEERS */
  int insecure_core; /* 1: plain TCP peers allowed, from peer_addrs only */
  const char *const *peer_addrs; /* IP addresses, as text */
  size_t n_peer_addrs;           /* at most IMSEC_SCSCF_MAX_PEERS */
  /* Flood limits (TS 33.203 §6.1; TS 33.102 Annex C: every new challenge
   * costs an SQN step and a disk write). Counted per IMPI from each source,
   * per IMPI over all sources and per source, the UE's address as the
   * P-CSCF saw it (the received parameter the P-CSCF wrote on the Via
   * below its own, RFC 3581, else that Via's sent-by host), over fixed
   * windows (docs/LIMITS.md). A
   * repeated REGISTER while a challenge of its IMPI is pending gets that
   * challenge again and counts nothing. The defaults leave room for a NAT
   * with thousands of UEs behind one address. */
  imsec_time_ms limit_window_ms;   /* counting window; 0: 60000 */
  uint32_t impi_challenge_limit;   /* new challenges per IMPI from one
                                      source and window, 10 times it from
                                      all (503 with Retry-After beyond);
                                      0: 10 */
  uint32_t source_challenge_limit; /* the same per source; 0: 6000 */
  uint32_t impi_failure_limit;     /* failed responses per IMPI from one
                                      source and window: the one that
                                      reaches it locks the IMPI for that
                                      source (403 to everything from
                                      there); 10 times it from all sources
                                      locks it everywhere; 0: 10 */
  uint32_t source_failure_limit;   /* failed responses per source and
                                      window (503 with Retry-After beyond);
                                      0: 300 */
  imsec_time_ms lockout_ms;        /* how long an IMPI stays locked;
                                      0: 300000 */
  /* Calls (docs/CALLS.md). A request whose Request-URI is in another
   * domain (originating, after the home user's checks) goes to the next
   * hop routes[i] whose domain matches (case-insensitive, exact), over
   * one reused connection; TLS peers must carry routes[i].name (""
   * = addr.host). None matches: 404. Copied. */
  const imsec_scscf_route *routes;
  size_t n_routes; /* at most IMSEC_SCSCF_MAX_ROUTES */
  /* RFC 3261 §16.6 step 11: Timer C of an INVITE branch (reset by each
   * provisional; when it fires the branch is CANCELled, or counts as 408
   * when nothing came back); 0: 180000 ms. */
  imsec_time_ms timer_c_ms;
  size_t max_limit_entries; /* entries per table (IMPIs, sources);
                               0: 65536 */
  /* SIP Digest (TS 33.203 Annexes N, O, P.4; RFC 7616, RFC 8760;
   * docs/DIGEST.md): a subscriber whose HSS record says digest is
   * challenged with one WWW-Authenticate per algorithm (SHA-256, then
   * MD5), qop=auth, and a nonce the S-CSCF can check without keeping it
   * (an HMAC over its time under a key drawn at start). */
  imsec_time_ms digest_nonce_ms; /* a nonce's lifetime (stale=true after
                                    it); 0: 300000 */
  int digest_username;           /* imsec_scscf_digest_user: how a digest
                                    username names its IMPI */
  int digest_proxy_auth;         /* 1: requests other than REGISTER from a SIP
                                    Digest user need Proxy-Authorization (407),
                                    beyond the P-CSCF's TLS binding (Annex Q) */
  size_t max_digest_nonces;      /* nonces whose nc is tracked for replay
                                    (RFC 7616 §3.4); 0: 65536 */
  /* The algorithms challenged with, IMSEC_SCSCF_DIGEST_* bits (0: both,
   * SHA-256 first, RFC 8760 §3). MD5 alone is for phones that fail on a
   * challenge they cannot answer instead of skipping it (Debian 12's
   * baresip 1.0 with libre 1.1); credentials under an algorithm not
   * offered are refused. */
  unsigned digest_algs;
  /* A core past one machine (docs/DEPLOY.md). */
  /* Other addresses of this S-CSCF (Kamailio's alias=): a Route entry
   * naming one is popped as ours (RFC 3261 §16.4). Each S-CSCF of a
   * cluster sharing one registration store lists its siblings, so a
   * request whose Service-Route names a dead sibling is served by the
   * one the P-CSCF fails over to. Only host and port are compared (a
   * SIP URI's port defaults to 5060). Copied; at most
   * IMSEC_SCSCF_MAX_ALIASES. */
  const imsec_addr *aliases;
  size_t n_aliases;
  /* 1: the HSS is remote (Diameter Cx) and keeps which S-CSCF serves each
   * user: the S-CSCF asks HSS_ASSIGN (Cx SAR, TS 29.228 §6.1.2) with
   * REGISTRATION or RE_REGISTRATION before the 200 of a REGISTER (the
   * implicit set of its answer goes into P-Associated-URI), and with
   * USER_DEREGISTRATION or TIMEOUT_DEREGISTRATION when the user's last
   * binding goes (answer not waited for). A user unknown there: 403. */
  int hss_assign;
  /* 1: the registration store is shared by several S-CSCFs: a terminating
   * request for an IMPU with no live binding here asks the store
   * (REG_GET; the record it gets is kept and read again when older than
   * reg_cache_ms, unless it was registered here); a REGISTER of an IMPI
   * not registered here reads its record first (bindings made through a
   * sibling are kept); a binding's expiry asks the store (REG_EXPIRE):
   * the store drops what expired, the element takes what is left, and
   * only the S-CSCF whose request removed the last binding de-registers
   * the user at the HSS. */
  int reg_shared;
  imsec_time_ms reg_cache_ms; /* 0: 2000 */
} imsec_scscf_config;

#define IMSEC_SCSCF_MAX_ALIASES 16

/* How the username of SIP Digest credentials names the IMPI (softphones
 * send the whole IMPI, or only its user part). */
typedef enum imsec_scscf_digest_user {
  IMSEC_SCSCF_DIGEST_USER_ANY = 0,  /* either form (default) */
  IMSEC_SCSCF_DIGEST_USER_IMPI = 1, /* only user@domain */
  IMSEC_SCSCF_DIGEST_USER_PART = 2, /* only user; the IMPI is user@domain */
} imsec_scscf_digest_user;

#define IMSEC_SCSCF_DIGEST_SHA256 1u
#define IMSEC_SCSCF_DIGEST_MD5 2u

/* A comma-separated list of "SHA-256" and "MD5" (case-insensitive, each
 * at most once) -> IMSEC_SCSCF_DIGEST_* bits. Parse: 0 or
 * IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_scscf_digest_algs_parse(imsec_str s,
                                                           unsigned *out);

/* "any" / "impi" / "user". Parse: 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_scscf_digest_user_parse(imsec_str s,
                                                           int *out);

#define IMSEC_SCSCF_MAX_PEERS 64

typedef struct imsec_scscf imsec_scscf;

/* Make an S-CSCF. `cfg` is copied (its strings too); `crypto` is borrowed
 * and must outlive it. The HSS and the registration store are reached only
 * through the host (REQUEST, PERSIST, imsec_scscf_on_reply).
 * Returns 0, IMSEC_ERR_INVAL (a NULL argument), IMSEC_ERR_CONFIG (no or an
 * invalid domain, no self address, expires_min > expires_max, a negative
 * timeout, store timeout, limit window or lockout), IMSEC_ERR_CRYPTO (no
 * randomness), IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_scscf_new(imsec_scscf **out,
                                             const imsec_scscf_config *cfg,
                                             imsec_crypto *crypto);

/* Running begins (the ops' on_start): a REG_LOAD REQUEST for the
 * registrations a previous run made durable. Until its last reply every
 * request that reads or changes registrations waits (parked, bounded by
 * store_timeout_ms like a store wait). Without this call nothing is
 * loaded and nothing waits. */
IMSEC_API void imsec_scscf_start(imsec_scscf *s, imsec_time_ms now,
                                 imsec_out *out);
/* The answer to a REQUEST or PERSIST (the ops' on_reply): an HSS answer
 * is kept with the request that asked and that request runs again; a
 * REG_LOAD record is rebuilt; a REG_SAVE or REG_DELETE that failed undoes
 * its change and answers its REGISTER 500. Replies not expected are
 * ignored. */
IMSEC_API void imsec_scscf_on_reply(imsec_scscf *s, const imsec_svc_reply *r,
                                    imsec_time_ms now, imsec_out *out);
/* The earliest deadline of a parked request (the ops' get_expiry; 0:
 * none). Once it has passed, imsec_scscf_handle_expiry answers 500 to
 * the requests whose answer did not come in time. */
IMSEC_API imsec_time_ms imsec_scscf_get_expiry(const imsec_scscf *s);
IMSEC_API void imsec_scscf_handle_expiry(imsec_scscf *s, imsec_time_ms now,
                                         imsec_out *out);
/* Free (NULL is fine); the challenges' vectors are wiped. */
IMSEC_API void imsec_scscf_del(imsec_scscf *s);

/* A flow is up: inbound (tag 0; a P-CSCF connected) or one the S-CSCF
 * asked for with imsec_out_connect (its tag): queued requests go out on it.
 * The peer is judged first (imsec_trust_peer_decide).
 * Returns 0, or IMSEC_ERR_AUTH when the peer is refused (close the flow;
 * the refusal is logged). */
IMSEC_API int imsec_scscf_on_flow_up(imsec_scscf *s, uint64_t flow,
                                     uint64_t tag, const imsec_flow_info *info,
                                     imsec_time_ms now, imsec_out *out);
/* One whole SIP message (the driver frames the stream). The buffer is
 * borrowed for the call only. Malformed input gets a 400 (513 when too
 * large as a whole) when it is a request the S-CSCF can answer, else it is
 * dropped with a log line; a response that fails imsec_sip_check (a bare
 * CR, a malformed field) is dropped and logged, never relayed. The top Via
 * of a request gets received/rport from the flow's source address (RFC
 * 3261 §18.2.1, RFC 3581 §4). */
IMSEC_API void imsec_scscf_on_message(imsec_scscf *s, uint64_t flow,
                                      const uint8_t *msg, size_t len,
                                      imsec_time_ms now, imsec_out *out);
/* A stream flow sent what the driver cannot frame (a message over its
 * size limit, `reason` IMSEC_ERR_LIMIT, or octets that cannot start one,
 * IMSEC_ERR_PARSE); `head` is what arrived (borrowed for the call). A
 * request is answered 513 or 400 when its request line can be read
 * (imsec_elem_refuse_input); the driver then closes the flow. */
IMSEC_API void imsec_scscf_on_refused(imsec_scscf *s, uint64_t flow, int reason,
                                      const uint8_t *head, size_t len,
                                      imsec_time_ms now, imsec_out *out);
/* A flow went down (or a connect failed: then `flow` is 0 and `tag` names
 * it). Requests queued for it, and those that came in on it and wait for
 * a store, are dropped; branches sent or queued on it
 * count as 503; responses for requests that came in on it are dropped. */
IMSEC_API void imsec_scscf_on_flow_down(imsec_scscf *s, uint64_t flow,
                                        uint64_t tag, int reason,
                                        imsec_time_ms now, imsec_out *out);
/* A timer fired: challenge lifetimes, binding expiries, branch
 * transaction timeouts and the retries of parked requests. Stale timers are
 * ignored. */
IMSEC_API void imsec_scscf_on_timer(imsec_scscf *s, uint64_t timer,
                                    imsec_time_ms now, imsec_out *out);

/* Change the challenge lifetime and the registration expiry bounds at run
 * time (a daemon's reload): nonce_lifetime_ms, expires_min, expires_max
 * and expires_default are read from `cfg` (0: the defaults of
 * imsec_scscf_new; the rest of `cfg` is ignored). Challenges and
 * registrations already made keep their deadlines. Returns 0,
 * IMSEC_ERR_INVAL (NULL), IMSEC_ERR_CONFIG (expires_min > expires_max, a
 * negative lifetime; nothing changes). */
IMSEC_API IMSEC_MUST_USE int
imsec_scscf_set_expiry(imsec_scscf *s, const imsec_scscf_config *cfg);

/* Change the SIP Digest settings at run time (a daemon's reload):
 * digest_nonce_ms, digest_username, digest_proxy_auth and digest_algs are
 * read from `cfg` (0: the defaults of imsec_scscf_new; the rest of `cfg`
 * is ignored; max_digest_nonces needs a restart). Nonces already issued
 * are judged by the new lifetime. Returns 0, IMSEC_ERR_INVAL (NULL),
 * IMSEC_ERR_CONFIG (a negative lifetime, an unknown username mode or
 * algorithm bit; nothing changes). */
IMSEC_API IMSEC_MUST_USE int
imsec_scscf_set_digest(imsec_scscf *s, const imsec_scscf_config *cfg);

/* Replace the core-side peer lists at run time (a daemon's reload): the
 * certificate names trusted whatever their CA and the addresses allowed
 * plain TCP (as peer_names and peer_addrs of imsec_scscf_config; copied).
 * Flows that come up afterwards are judged against the new lists; those
 * already up are judged again by imsec_scscf_recheck_peers. Returns 0,
 * IMSEC_ERR_INVAL (NULL
 * element, or a NULL list with a count), IMSEC_ERR_CONFIG (more than
 * IMSEC_SCSCF_MAX_PEERS in a list, an empty or over-long entry),
 * IMSEC_ERR_NOMEM; on failure nothing changes. */
IMSEC_API IMSEC_MUST_USE int
imsec_scscf_set_peers(imsec_scscf *s, const char *const *names, size_t n_names,
                      const char *const *addrs, size_t n_addrs);

/* After a reload (imsec_scscf_set_peers, new anchors): judge every flow
 * already trusted again, from the facts on_flow_up saw, against the current
 * lists (TS 33.210 §5.2); each one now refused gets a CLOSE action and one
 * log line "core peer ADDR 'NAME' no longer trusted after reload: REASON".
 * Limit: the certificate facts were made against the anchors of their
 * handshake; a removed CA does not revoke a flow already up (names,
 * addresses and partner membership are judged again). Returns the number
 * of flows closed, IMSEC_ERR_INVAL (NULL element or out), IMSEC_ERR_NOMEM
 * (nothing judged). */
IMSEC_API IMSEC_MUST_USE int
imsec_scscf_recheck_peers(imsec_scscf *s, imsec_time_ms now, imsec_out *out);

/* Observers (tests, the demo's final table). */
/* Number of current contacts of the registration holding `impu` (0 when not
 * registered). */
IMSEC_API size_t imsec_scscf_contacts(const imsec_scscf *s, imsec_str impu);
/* Number of pending challenges (vectors held). */
IMSEC_API size_t imsec_scscf_challenges(const imsec_scscf *s);
/* Number of registered IMPIs. */
IMSEC_API size_t imsec_scscf_registrations(const imsec_scscf *s);
/* Number of forked requests still pending (some branch has no final
 * response yet). */
IMSEC_API size_t imsec_scscf_txns(const imsec_scscf *s);
/* Number of requests parked: waiting for an HSS answer, for a busy store
 * or for the registrations to load. */
IMSEC_API size_t imsec_scscf_parked(const imsec_scscf *s);

/* ------------------------------------------------ configuration file */

/*
 * The daemon's YAML configuration (conf/scscf_conf.c), one map:
 *
 *   domain: ims.mnc001.mcc001.3gppnetwork.org
 *   db: /var/lib/imsec/hss.db
 *   registrations: /var/lib/imsec/hss.reg.db  # default: DB's name + .reg.db
 *   listen: [tcp:127.0.0.1:6060]     # or one scalar; tls: needs cert/key
 *   advertise: tcp:scscf.example.org:6060  # Service-Route/Via address
 *   cert: scscf.crt                  # for tls: listeners
 *   key: scscf.key
 *   nonce_lifetime: 30               # seconds
 *   expires_min: 60
 *   expires_max: 3600
 *   expires_default: 600
 *   txn_timeout: 32                  # seconds a forked branch may take
 *   max_txns: 1024                   # pending forked requests (503 beyond)
 *   limit_window: 60                 # seconds the flood counters cover
 *   impi_challenge_limit: 10         # new challenges per IMPI and window
 *   source_challenge_limit: 6000     # new challenges per source and window
 *   impi_failure_limit: 10           # failed responses, then the IMPI locks
 *   source_failure_limit: 300        # failed responses per source (503)
 *   lockout: 300                     # seconds an IMPI stays locked
 *   store_timeout: 250               # ms a request waits for a locked store
 *   max_flows_per_ip: 64             # connections from one address
 *   log_level: info                  # error|warn|info|debug
 *   # Core-side peers (docs/TRUST.md, "The S-CSCF's decision on its peers"):
 *   ca: [root.crt]                   # trust anchors for peers (or one)
 *   home_ca: op-mcc001-mnc001.crt    # default: the issuer in the cert file
 *   partner_ca: [op-mcc001-mnc002.crt]  # roaming partners' CAs (or one)
 *   trust_domain: 3gppnetwork.org    # default: the domain's last 2 labels
 *   peers: [icscf.example.net]       # names trusted whatever their CA
 *   insecure_core: false             # true: plain TCP from peer_addrs
 *   peer_addrs: [127.0.0.1]
 *   # Calls (docs/CALLS.md): the next hop of each other domain, as the
 *   # P-CSCF's routes (a list, one value, or a map DOMAIN: ADDR)
 *   routes: [other.example.net=tls:192.0.2.7:5061;name=icscf.other.net]
 *   timer_c_ms: 180000               # Timer C of an INVITE branch
 *   # A core past one machine (docs/DEPLOY.md):
 *   hss: diameter:hss.example.org:3868  # or diameter+tls:H:P; no db then
 *   diameter_identity: scscf1.example.org  # Origin-Host
 *   diameter_realm: example.org
 *   hss_identity: hss.example.org    # default: the host of hss
 *   hss_timeout: 2000                # ms a Cx request waits (then 504)
 *   diameter_cert: scscf1.crt        # diameter+tls: (mutual TLS)
 *   diameter_key: scscf1.key
 *   diameter_ca: ca.crt
 *   registrations: redis://127.0.0.1:6379/0  # shared by the cluster
 *   aliases: [scscf2.example.org:6060]  # siblings' addresses (Route)
 *   # Operations (apps/daemon_ops.h): ctl_socket, metrics, log_format,
 *   # log_identities, drain_timeout_ms
 *
 * Relative paths (db, registrations, cert, key, ca, home_ca, partner_ca) are
 * taken relative to the file's folder. Absent strings are NULL, absent numbers
 * -1. Free with imsec_scscf_file_free.
 */
#define IMSEC_SCSCF_MAX_LISTEN 8
#define IMSEC_SCSCF_MAX_CA 16 /* ca and partner_ca files each */

typedef struct imsec_scscf_file {
  char *domain, *db, *advertise, *cert, *key, *log_level;
  char *registrations; /* the registration store file */
  char *listen[IMSEC_SCSCF_MAX_LISTEN];
  size_t n_listen;
  int64_t nonce_lifetime, expires_min, expires_max, expires_default;
  int64_t txn_timeout, max_txns;
  int64_t max_flows_per_ip; /* net's per-source connection cap */
  /* Core-side peers (absent lists are empty, insecure_core 0). */
  char *ca[IMSEC_SCSCF_MAX_CA];
  size_t n_ca;
  char *home_ca;
  char *partner_ca[IMSEC_SCSCF_MAX_CA];
  size_t n_partner_ca;
  char *trust_domain;
  char *peers[IMSEC_SCSCF_MAX_PEERS];
  size_t n_peers;
  int insecure_core;
  char *peer_addrs[IMSEC_SCSCF_MAX_PEERS];
  size_t n_peer_addrs;
  /* Flood limits and the store's lock wait (absent: -1). */
  int64_t limit_window, impi_challenge_limit, source_challenge_limit;
  int64_t impi_failure_limit, source_failure_limit, lockout, store_timeout;
  /* Calls: next hops of other domains (absent: none), Timer C (absent:
   * -1). */
  imsec_scscf_route routes[IMSEC_SCSCF_MAX_ROUTES];
  size_t n_routes;
  int64_t timer_c_ms;
  /* SIP Digest (docs/DIGEST.md; absent: 0 / NULL, the element's
   * defaults): digest_nonce_ms, max_digest_nonces, digest_username (any,
   * impi or user, checked at load), digest_proxy_auth (true/false),
   * digest_algorithms (imsec_scscf_digest_algs_parse). */
  int64_t digest_nonce_ms, max_digest_nonces;
  char *digest_username;
  int digest_proxy_auth;
  char *digest_algorithms; /* "SHA-256,MD5", "MD5"...: checked at load */
  /* A core past one machine (absent: NULL, hss_timeout -1). A
   * registrations value starting "redis://" is not a path. */
  char *hss, *diameter_identity, *diameter_realm, *hss_identity;
  char *diameter_cert, *diameter_key, *diameter_ca;
  int64_t hss_timeout;
  char *aliases[IMSEC_SCSCF_MAX_ALIASES];
  size_t n_aliases;
  /* The operations keys (ctl_socket, metrics, log_format, log_identities,
   * drain_timeout_ms) as written; the daemon checks them. */
  imsec_conf_ops ops;
} imsec_scscf_file;

/* Load `path`. On failure `err` gets one line "FILE:LINE: key 'K': why".
 * Returns 0, IMSEC_ERR_IO (unreadable), IMSEC_ERR_PARSE (YAML syntax, an
 * unknown or repeated key, a value of the wrong kind), IMSEC_ERR_LIMIT,
 * IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_scscf_file_load(const char *path,
                                                   imsec_scscf_file *out,
                                                   char *err, size_t errcap);
IMSEC_API void imsec_scscf_file_free(imsec_scscf_file *f);

/* The element contract (include/imsec/elem.h) with an imsec_scscf as
 * `self`: what a host runs. */
IMSEC_API extern const imsec_elem_ops imsec_scscf_ops;

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SCSCF_H */
