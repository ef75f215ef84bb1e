/* Inside the S-CSCF element (lib/scscf): its state and what its areas
 * (scscf.c, auth.c, registrar.c, fork.c, route.c, store.c) share. Not an
 * interface: include/imsec/scscf.h is. */
#ifndef IMSEC_SCSCF_INT_H
#define IMSEC_SCSCF_INT_H

#include "imsec/digest.h"
#include "imsec/ident.h"
#include "imsec/map.h"
#include "imsec/scscf.h"
#include "imsec/sip.h"
#include "imsec/trust.h"
#include "lib/elem/tally.h"
#include "limit.h"

#define OBUF_CAP (64 * 1024)
#define NONCE_CAP 128
#define OPAQUE_CAP 33
#define PER_IMPI_CHALLENGES 4
#define MAX_PEERS 1024
#define MAX_QUEUE 64
#define MAX_FLOWS 65536

#define BRANCH_PREFIX "z9hG4bK.isc."
/* The Via branch of a request forwarded statelessly (a 2xx ACK): no
 * response comes back for it, and it never matches BRANCH_PREFIX. */
#define STATELESS_PREFIX "z9hG4bK.iscsl."
/* What the S-CSCF proxies (OPTIONS to itself lists it): every method a
 * phone sends (RFC 3261 §16: a proxy forwards methods it does not know
 * too). */
#define SCSCF_ALLOW                                                            \
  "INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, "         \
  "REFER, MESSAGE, OPTIONS, PUBLISH, REGISTER"

/* A store call made the request wait: asked (AGAIN) or busy (BUSY). */
static inline int waits(int rv) {
  return rv == IMSEC_ERR_AGAIN || rv == IMSEC_ERR_BUSY;
}

typedef struct challenge {
  char nonce[NONCE_CAP];
  char opaque[OPAQUE_CAP];
  char impi[IMSEC_HSS_ID_MAX];
  imsec_aka_vector v; /* secret: wiped when dropped */
  imsec_digest_alg alg;
  imsec_time_ms expires;
  uint64_t timer;
  uint32_t nc;                   /* highest nc accepted (RFC 7616 §3.4) */
  struct challenge *prev, *next; /* in the order they were made */
} challenge;

/* The pending challenges of one IMPI. */
typedef struct impi_ch {
  challenge *c[PER_IMPI_CHALLENGES];
  size_t n;
} impi_ch;

typedef struct contact {
  char *uri;
  char *path; /* the Path values of the REGISTER, comma-joined; NULL none */
  char *instance;
  int64_t reg_id;
  imsec_time_ms expires_at;
  uint64_t timer;
  uint64_t order; /* registration order: the oldest gives way when full */
  char *reg_peer; /* the TLS peer name that registered it; NULL: none */
} contact;

typedef struct reg {
  char *impi;
  char **impus;
  size_t n_impus;
  contact *c;
  size_t n;
  int digest; /* authenticated with SIP Digest (TS 33.203 Annex N) */
  /* reg_shared: read from the shared store (REG_GET, REG_LOAD,
   * REG_EXPIRE) rather than made by a REGISTER here, and when (a copy
   * older than reg_cache_ms is read again before use). */
  int foreign;
  imsec_time_ms seen_at;
} reg;

/* How the REGISTER the registrar answers was authenticated: SIP Digest
 * (1) or IMS AKA (0); and the Authentication-Info value for the 200
 * (RFC 7616 §3.5), or NULL. */
typedef struct reg_auth {
  int digest;
  const char *auth_info;
} reg_auth;

/* The credentials of a REGISTER (auth.c get_creds): the Authorization
 * for our realm, else (SIP Digest, whose realm is the HSS's) the first
 * one with a non-AKA algorithm. `impi` is the IMPI the username names
 * (digest.c scscf_digest_impi), `form` which H(A1) it is
 * (IMSEC_HSS_USER_IMPI or _PART). */
typedef struct creds {
  int present;     /* an Authorization for us */
  int other_realm; /* ... whose realm is not our domain */
  imsec_digest_params p;
  char username[IMSEC_HSS_ID_MAX];
  char impi[IMSEC_HSS_ID_MAX];
  int form;
  char nonce[NONCE_CAP];
} creds;

/* What a REGISTER step decided, answered in one place (do_register's
 * end): nothing more (answered already, or waiting), park it, say the
 * store failed, count a failed response against the limits, answer. */
typedef struct reg_end {
  int park;           /* waits for a store (park_busy) */
  int store_err;      /* the store failed: logged as unavailable */
  int auth_failed;    /* a failed response (limits_failure) */
  unsigned code;      /* the answer, 0: none from here */
  const char *reason; /* its reason phrase */
  const char *who;    /* the IMPI for the lines, or NULL */
} reg_end;

/* A SIP Digest nonce whose nc is tracked (digest.c, RFC 7616 §3.4): in a
 * bounded table, oldest first. */
typedef struct dg_nonce {
  struct dg_nonce *prev, *next;
  imsec_time_ms t; /* its issue time */
  uint32_t nc;     /* the highest nc accepted */
  char key[48];    /* the nonce text (40 characters) */
  /* The H(A1) that verified the nonce's last right response (secret:
   * wiped when the entry goes), its algorithm index and username form,
   * and when the HSS gave it; 0 length: none kept. */
  uint8_t ha1[32];
  uint8_t ha1_len, ha1_alg, ha1_form;
  imsec_time_ms ha1_at;
} dg_nonce;

typedef struct qmsg {
  struct qmsg *next;
  size_t len;
  char data[];
} qmsg;

/* Where an INVITE branch stands until its final response (RFC 3261
 * §17.1.1.2, §16.8, §9.1). */
typedef enum br_state {
  BR_CALLING = 0,    /* no provisional response yet: Timer B runs */
  BR_CALLING_CANCEL, /* ... and it is to be CANCELled at the first one */
  BR_PROCEEDING,     /* a provisional came: Timer C runs */
  BR_CANCELLED,      /* a CANCEL went down: waiting for its 487 */
  BR_TIMED_OUT,      /* CANCELled by Timer C: its final counts as 408 */
} br_state;

/* One client branch of a forked request (RFC 3261 §16.6 step 8). */
typedef struct branch {
  uint64_t peer_tag;      /* the connection it went out on; 0 none */
  uint64_t timer;         /* Timer F; INVITE: Timer B, then the wait for the
                             final response after a CANCEL */
  imsec_time_ms deadline; /* of `timer`; 0: stopped */
  unsigned code;          /* 0 pending, else its final status */
  /* INVITE only (RFC 3261 §16.6 step 11, §16.8, §9.1). */
  uint64_t timer_c;
  imsec_time_ms c_deadline; /* of Timer C; 0: stopped */
  br_state st;
  /* What it was sent with, to build its CANCEL and ACK (§9.1,
   * §17.1.1.3): Request-URI, our Via, the Route pushed (NULL none). */
  char *ruri, *via, *route;
} branch;

/* One target of a proxied request (RFC 3261 §16.5-16.6): what its
 * branch changes in the request and where it goes. */
typedef struct target {
  const char *ruri;   /* the branch's Request-URI; NULL: the request's */
  const char *route;  /* a Route value pushed on top (a Path); NULL none */
  imsec_addr hop;     /* where it is sent (with fail 0) */
  const char *expect; /* TLS: the name the hop must carry; NULL/"" any
                         name inside the trust domain */
  const char *who;    /* for the log line: whom it is for */
  unsigned fail;      /* nonzero: no hop, the branch's status at once */
} target;

/* The response context of a forked request (RFC 3261 §16.7). */
typedef struct txn {
  uint64_t id;
  uint64_t up_flow; /* where the request came from; 0: that flow is gone */
  char *stub;       /* start line, Via, From, To, Call-ID, CSeq: for the
                       responses we make ourselves */
  size_t stub_len;
  char *best; /* the best final response received (our Via popped) */
  size_t best_len;
  unsigned best_code;      /* 0 none yet */
  const char *best_reason; /* static; set when the best is our own */
  int answered;            /* a final response went upstream (a 2xx) */
  /* INVITE (RFC 3261 §16.7-16.10): */
  int invite;
  unsigned up_code;      /* the first final status sent upstream; 0 none */
  int linger;            /* every branch final: kept for the upstream ACK
                            and 2xx retransmissions (RFC 6026 §7.2) */
  uint64_t linger_timer; /* ends the lingering */
  char *key;             /* in s->tx_key: upstream flow and Via branch */
  size_t key_len;
  char *routes; /* the Route fields under the pushed one, as "Route: v\r\n"
                   lines; NULL none */
  size_t n, pending;
  branch b[];
} txn;

/* obs.c: counters for the operations layer (docs/OPERATIONS.md). */
enum {
  SC_REG_REGISTERED = 0,
  SC_REG_REFRESHED,
  SC_REG_DEREGISTERED,
  SC_REG_CHALLENGED,
  SC_REG_REJECTED,
  SC_REG_FAILED,
  SC_REG_N
};
enum {
  SC_AF_BAD_RESPONSE = 0,
  SC_AF_UNKNOWN_USER,
  SC_AF_SYNC_FAILURE,
  SC_AF_STALE,
  SC_AF_NONCE_REPLAY,
  SC_AF_LOCKED,
  SC_AF_URI_MISMATCH,
  SC_AF_NO_VECTOR,
  SC_AF_OTHER,
  SC_AF_N
};
typedef struct sc_obs {
  uint64_t reg[SC_REG_N];         /* final answers to REGISTER, by outcome */
  int ok_kind;                    /* what the next 200 to a REGISTER is */
  uint64_t chal_aka, chal_digest; /* challenges sent (401 and 407) */
  uint64_t af[SC_AF_N];           /* authentication failures, by reason */
  uint64_t lockouts;              /* locks set (IMPI, or IMPI from a source) */
  elem_tally trust;               /* core peers judged: (result, reason) */
} sc_obs;

/* An outbound connection towards a Path hop (RFC 5923 reuse). */
typedef struct peer {
  imsec_addr addr;
  uint64_t tag;
  uint64_t flow; /* 0 until up */
  qmsg *head, *tail;
  size_t nq;
  char expect[IMSEC_TRUST_NAME_CAP]; /* TLS: the name it must carry */
} peer;

struct pkq;

/* A request that waits for the HSS (a REQUEST not answered yet, or an
 * answer "busy"), or for the registrations to load, kept to be run again
 * from the start: nothing was sent and nothing kept before the store call
 * that made it wait. The answers it already has are kept with it, so the
 * run again finds them (a vector is taken once, then wiped). */
typedef struct parked {
  struct parked *aprev, *anext; /* all parked, in arrival order */
  struct parked *qnext;         /* the next of its (flow, Call-ID) */
  struct pkq *q;                /* its (flow, Call-ID) queue */
  struct parked *lprev, *lnext; /* in the ready or the timed list */
  int list;                     /* PK_NONE, PK_READY or PK_TIMED */
  size_t hidx;                  /* its place in the timed heap */
  uint64_t flow;
  imsec_time_ms deadline; /* arrival + store_timeout_ms: then 500 */
  imsec_time_ms next;     /* the next try; 0: behind an earlier request of
                             its (flow, Call-ID), tried once that one is
                             done */
  imsec_time_ms pause;    /* the last pause between tries */
  uint64_t wait_id;       /* the REQUEST it waits for; 0 none */
  int busy;               /* the store's last answer was "busy" */
  int asked;              /* it asked a store (not only behind others) */
  int resynced;           /* its AUTS resynchronised the HSS (§6.1.3) */
  int dg_authed;          /* its Proxy-Authorization was right: its nc is
                             used up, so a run again does not check it */
  long dg_strip;          /* ... and the index of that field, or -1 */
  /* The answers it has (TS 33.203 §6.1: subscriber, vector, resync). */
  int sub_kind; /* IMSEC_SVC_HSS_SUB or _SUB_IMPU; 0 none */
  int sub_status;
  imsec_hss_sub sub;
  int vec_have, vec_status;
  imsec_aka_vector vec; /* secret: wiped when taken or freed */
  imsec_hss_aka aka;
  int rs_have, rs_status;
  int dg_have, dg_status;
  imsec_hss_sub dg; /* SIP Digest H(A1)s: secret, wiped when taken */
  /* A REGISTER already authenticated that waits for the registrar's
   * store calls (the shared record, Cx SAR): its nonce is used up, so a
   * run again goes straight to the registrar with what it had. */
  imsec_hss_sub *ra_sub; /* the subscriber (secrets zero); NULL: none */
  int ra_digest;
  char *ra_info; /* Authentication-Info of the 200, or NULL */
  /* The answers of those calls. */
  int as_have, as_status;
  imsec_hss_sub *as_sub; /* HSS_ASSIGN: the implicit set (no secrets) */
  int rg_have, rg_status;
  imsec_time_ms rg_at; /* when the REG_GET answer came */
  char *rg_key;        /* ... for which key */
  imsec_reg_record rg; /* REG_GET: the record, ttl_ms from rg_at */
  size_t len;
  char data[];
} parked;

enum { PK_NONE, PK_READY, PK_TIMED };

/* The parked requests of one (flow, Call-ID), oldest first: only the
 * oldest runs (RFC 3261 §10.2.4: a registration's refreshes share its
 * Call-ID and are ordered by CSeq); other Call-IDs of the flow do not wait
 * for it. */
typedef struct pkq {
  parked *head, *tail;
  size_t klen;
  char key[]; /* the map key: flow (8 octets) and Call-ID */
} pkq;

/* A registration change the 200 waits for (a PERSIST): undone, and the
 * REGISTER answered 500 instead, when the store could not make it
 * durable. */
typedef struct pend {
  uint64_t id;
  uint64_t flow; /* the REGISTER's flow; 0: an expiry */
  char *impi;
  int had;                 /* there was a record before the change */
  imsec_reg_record before; /* the record before the change, ttl from at */
  imsec_time_ms at;
  char *req; /* the REGISTER, to answer 500 from; NULL: an expiry */
  size_t req_len;
} pend;

/* What on_flow_up decided about a flow's peer. */
typedef struct flow_trust {
  uint64_t flow;
  int trusted;
  int tls;                         /* the name is a certificate's */
  char name[IMSEC_TRUST_NAME_CAP]; /* certificate name or address */
  char addr[80];                   /* tp:host:port of the peer (an IP) */
  const char *reason;              /* static code when refused */
  struct flow_facts *facts;        /* what it was judged on, or NULL */
} flow_trust;

/* The facts on_flow_up judged a peer on, kept so that a reload can judge
 * it again against the new lists. The certificate facts were made against
 * the anchors of that time: a reload that removes a CA cannot re-verify a
 * chain from them (the peer keeps its flow until it reconnects); names,
 * addresses and partner membership are judged again. */
typedef struct flow_facts {
  int secure, inbound;
  char ip[sizeof(((imsec_addr *)0)->host)];
  char expect[IMSEC_TRUST_NAME_CAP];
  imsec_trust_cert *cert; /* a copy, or NULL: the peer sent none */
} flow_facts;

/* Where an inbound flow comes from (its Via marks, RFC 3581). */
typedef struct fpeer {
  char host[48];
  uint16_t port;
} fpeer;

struct imsec_scscf {
  imsec_scscf_config cfg;
  char *domain;
  imsec_crypto *crypto;
  uint8_t seed[16]; /* the string maps' SipHash key (secret) */
  char to_tag[17];
  char self_host[256];
  /* Pending challenges: by nonce, by IMPI (impi_ch), by timer, and in
   * the order they were made (oldest first). */
  imsec_map ch_nonce, ch_impi, ch_timer;
  challenge *ch_head, *ch_tail;
  size_t nch;
  /* Registrations: by IMPI, by IMPU key (registrar.c), and a binding's
   * expiry timer -> its registration. */
  imsec_map regs, impus, reg_timer;
  /* Connections towards Path hops (RFC 5923 reuse): by tag, by flow
   * once up, and by where they go (peer_key). */
  imsec_map peers_tag, peers_flow, peers_key;
  imsec_map tx;       /* pending forked requests: id -> txn */
  imsec_map tx_timer; /* a branch's Timer F -> its txn */
  imsec_map tx_key;   /* INVITE: upstream flow and top Via branch -> txn */
  size_t n_linger;    /* INVITE contexts kept after their last branch */
  imsec_lograte stray_rate; /* CANCELs that match no INVITE */
  imsec_sip_msg m2;         /* a stub parsed to answer for a branch */
  uint64_t next_id;         /* timers and tags */
  uint64_t order;
  char *obuf;
  char *ibuf;
  size_t ibuf_cap;
  imsec_sip_msg m;
  /* Where inbound flows come from (received/rport, RFC 3581): flow ->
   * fpeer; and the Via value written from it; lines about refused
   * input. */
  imsec_map fpeers;
  char *viabuf;
  imsec_lograte bad_rate;
  imsec_lograte refuse_rate; /* REGISTERs refused for their claims */
  /* Core-side trust (copies of the config's lists). */
  char *trust_domain;
  char *names_text[IMSEC_SCSCF_MAX_PEERS];
  imsec_str names[IMSEC_SCSCF_MAX_PEERS];
  size_t n_names;
  char *addrs_text[IMSEC_SCSCF_MAX_PEERS];
  imsec_str addrs[IMSEC_SCSCF_MAX_PEERS];
  size_t n_addrs;
  imsec_map trust;               /* flow -> flow_trust */
  limit_table lim_impi, lim_src; /* flood limits (limit.h) */
  limit_table lim_pair;          /* per (IMPI, source): challenges, locks */
  imsec_time_ms lim_full_logged; /* when "tables full" was last said */
  /* Requests waiting for a store's answer, a busy store or the load
   * (store.c): all of them in arrival order (so by deadline), those due
   * to run now (ready), and those waiting for a pause to end (timed). */
  parked *pk_head, *pk_tail;
  parked *rd_head, *rd_tail;
  parked **tm; /* the timed ones: a min-heap on `next` (store.c) */
  size_t ntm, captm;
  size_t npk, pk_bytes;
  uint64_t pk_timer;
  imsec_time_ms pk_at;      /* when pk_timer is armed for; 0: not armed */
  parked *retry;            /* the parked request being run again, or NULL */
  int retry_busy;           /* it waits again (1), or was answered 500 at
                               its deadline (2) */
  imsec_lograte store_rate; /* "HSS store unavailable" lines */
  uint64_t want_id;   /* a REQUEST the running request just made, 0 none */
  imsec_map waits;    /* REQUEST id -> the parked request waiting for it */
  imsec_map subs;     /* kind and key -> sub_ent: recent HSS records */
  imsec_map pk_flows; /* flow -> how many of its requests are parked */
  imsec_map pk_q;     /* flow and Call-ID -> pkq */
  imsec_map pends;    /* PERSIST id -> pend */
  int loading;        /* REG_LOAD sent, its last reply not in yet */
  uint64_t load_id;
  /* Calls (dialog_route.c): the next hops of other domains (a copy of
   * cfg.routes), our Record-Route value, and the budget of log lines for
   * ACKs dropped. */
  imsec_scscf_route *routes;
  char rr[300];
  size_t rr_len;
  imsec_lograte ack_rate;
  /* SIP Digest (digest.c): the nonce key (secret, drawn at start), the
   * opaque of every challenge, and the nonces whose nc is tracked; a
   * nonce issued at or before dg_floor that is not in the table may have
   * been evicted, so it is never taken as fresh. */
  uint8_t dg_key[32];
  char dg_opaque[33];
  imsec_map dg_nc;
  dg_nonce *dg_head, *dg_tail;
  imsec_time_ms dg_floor;
  uint32_t dg_seq; /* the counter in each nonce */
  int dg_authed;   /* the running request's Proxy-Authorization was right
                      (kept with it if it parks) */
  long dg_strip;   /* ... and the index of that field, or -1 */
  /* The registrar of an authenticated REGISTER waits for a store: what
   * park_busy keeps with it (scscf_park_authed). */
  const imsec_hss_sub *pk_ra_sub;
  const reg_auth *pk_ra;
  /* The key of the REG_GET the running request just asked ("" none):
   * kept with it, so its answer is used for that key only. */
  char rg_want[IMSEC_HSS_ID_MAX];
  /* Other addresses of this S-CSCF (cfg.aliases, a copy). */
  imsec_addr *aliases;
  size_t n_aliases;
  /* reg_shared: REG_EXPIRE requests out, id -> the IMPI (a copy). */
  imsec_map expiring;
  sc_obs obs; /* obs.c */
};

/* scscf.c */
int scscf_grow(void **arr, size_t *cap, size_t n, size_t elem);
char *scscf_dup_str(imsec_str s);
void scscf_hex_u64(uint64_t v, char *out);
void scscf_dec_u64(uint64_t v, char *out);
int scscf_impu_match_parsed(const imsec_sip_uri *ua, imsec_str b);
imsec_str scscf_bare_host(imsec_str h);
int scscf_is_self_uri(const imsec_scscf *s, const imsec_sip_uri *u,
                      int allow_user);
void scscf_log_err(imsec_out *out, imsec_log_level lvl, const char *what,
                   int rv);
void scscf_start_response(imsec_scscf *s, imsec_sip_builder *b, unsigned code,
                          const char *reason);
void scscf_finish_send(imsec_scscf *s, imsec_sip_builder *b, uint64_t flow,
                       imsec_out *out);
int scscf_own_via(imsec_scscf *s, imsec_tp tp, const char *prefix,
                  const char *br, char *buf, size_t cap);
void scscf_respond(imsec_scscf *s, uint64_t flow, unsigned code,
                   const char *reason, imsec_out *out);

/* auth.c */
void scscf_limits_defaults(imsec_scscf_config *c);
int scscf_limits_setup(imsec_scscf *s);
void scscf_challenge_free(challenge *c);
void scscf_challenges_free(imsec_scscf *s);
int scscf_challenge_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                             imsec_out *out);
void scscf_do_register(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                       imsec_out *out);
void scscf_reg_fail(reg_end *e, unsigned code, const char *reason);
/* The store failed with `rv`: logged as unavailable, 504 or 500
 * (scscf_store_code). */
void scscf_store_fail(reg_end *e, int rv);
int scscf_integrity_protected_tls(const imsec_digest_params *p);
/* Count a new challenge against the flood limits: 1 when refused (then
 * answered 503). */
int scscf_limits_challenge(imsec_scscf *s, uint64_t flow, imsec_str impi,
                           imsec_str src, imsec_time_ms now, imsec_out *out);

/* The source of the request in s->m as its P-CSCF saw it. */
imsec_str scscf_request_source(const imsec_scscf *s);
/* Locked IMPI (403) or source over its failures (503): 1 when answered. */
int scscf_limits_refuse(imsec_scscf *s, uint64_t flow, imsec_str impi,
                        imsec_str src, imsec_time_ms now, imsec_out *out);
/* Count a failed response (lockout, docs/LIMITS.md). */
void scscf_limits_failure(imsec_scscf *s, imsec_str impi, imsec_str src,
                          imsec_time_ms now, imsec_out *out);

/* digest.c: SIP Digest (TS 33.203 Annexes N, O, P.4; RFC 7616, 8760). */
int scscf_digest_setup(imsec_scscf *s);
void scscf_digest_free(imsec_scscf *s);
/* The IMPI the username of `c` names (c->impi, c->form) under
 * digest_username. Returns 0, or IMSEC_ERR_NOTFOUND when the form is not
 * allowed. */
int scscf_digest_impi(const imsec_scscf *s, creds *c);
/* The REGISTER of a SIP Digest subscriber `sub`, after its limits were
 * checked: challenge, verify, or register. */
void scscf_digest_register(imsec_scscf *s, uint64_t flow, creds *c,
                           const imsec_hss_sub *sub, imsec_str src,
                           imsec_time_ms now, imsec_out *out, reg_end *e);
/* digest_proxy_auth: the Proxy-Authorization of an originating request
 * (in s->m) of `r`, a SIP Digest user's registration (RFC 3261 §22.3).
 * Returns 0 when it is right (the field is removed: it was for us), else
 * 1: answered (407, 403, 500), or waiting for the HSS (*park set; *store_err
 * when the store failed). */
int scscf_digest_proxy_auth(imsec_scscf *s, uint64_t flow, const reg *r,
                            imsec_time_ms now, imsec_out *out, int *park,
                            int *store_err);

/* registrar.c */
void scscf_contact_free(contact *c);
void scscf_reg_free(reg *r);
void scscf_regs_free(imsec_scscf *s);
int scscf_reg_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                       imsec_out *out);
reg *scscf_find_reg_impu(const imsec_scscf *s, imsec_str impu);
void scscf_registrar(imsec_scscf *s, uint64_t flow, const imsec_hss_sub *sub,
                     const reg_auth *ra, imsec_time_ms now, imsec_out *out);
int scscf_impu_in_set(const imsec_hss_sub *sub, imsec_str impu);
void scscf_pends_free(imsec_scscf *s);
void scscf_persist_reg(imsec_scscf *s, uint64_t flow, const char *impi,
                       const reg *r, imsec_reg_record *before, int had,
                       imsec_time_ms now, imsec_out *out);
void scscf_persist_reply(imsec_scscf *s, const imsec_svc_reply *r,
                         imsec_time_ms now, imsec_out *out);
void scscf_load_reply(imsec_scscf *s, const imsec_svc_reply *r,
                      imsec_time_ms now, imsec_out *out);
/* reg_shared: put the store's record `rec` (ttl_ms from `base`) in place
 * of what its IMPI has here, as one read from the store. Returns as
 * reg_install. */
int scscf_reg_take(imsec_scscf *s, const imsec_reg_record *rec,
                   imsec_time_ms base, imsec_time_ms now, imsec_out *out);
reg *scscf_find_reg_impi(const imsec_scscf *s, imsec_str impi);
/* Forget a registration here (timers stopped), nothing persisted. */
void scscf_reg_drop(imsec_scscf *s, reg *r, imsec_out *out);
/* reg_shared: the answer to a REG_EXPIRE. */
void scscf_expire_reply(imsec_scscf *s, const imsec_svc_reply *r,
                        imsec_time_ms now, imsec_out *out);
void scscf_expiring_free(imsec_scscf *s);

/* fork.c */
void scscf_txn_free(txn *t);
void scscf_txn_remove(imsec_scscf *s, txn *t, imsec_out *out);
int scscf_branch_final(imsec_scscf *s, txn *t, size_t bi, unsigned code,
                       const char *reason, const char *resp, size_t len,
                       imsec_time_ms now, imsec_out *out);
void scscf_fail_peer_branches(imsec_scscf *s, uint64_t tag, imsec_time_ms now,
                              imsec_out *out);
void scscf_proxy(imsec_scscf *s, uint64_t flow, const target *tg, size_t n,
                 imsec_time_ms now, imsec_out *out);
void scscf_do_response(imsec_scscf *s, imsec_time_ms now, imsec_out *out);
int scscf_fork_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                        imsec_out *out);
/* The flow a request came in on went down: its INVITE branches are
 * CANCELled (nobody is left to take the call). */
void scscf_fork_flow_down(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                          imsec_out *out);

/* invite.c: INVITE response contexts (RFC 3261 §16.7, §16.10). A CANCEL
 * from upstream: matched (200, pending branches CANCELled) or dropped
 * with a log line. */
void scscf_cancel(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                  imsec_out *out);
/* An ACK for a non-2xx final response we sent upstream: 1 absorbed. */
int scscf_ack_absorb(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                     imsec_out *out);
/* The key of an INVITE's context (the top Via branch of s->m as it came
 * on `flow`) into key[0..cap): its length, or 0 when it has none. */
size_t scscf_inv_key(imsec_scscf *s, uint64_t flow, char *key, size_t cap);
/* Branch `bi` of INVITE context `t` is to end: CANCEL it now when it had
 * a provisional response, else at its first one (§9.1). */
void scscf_inv_cancel_branch(imsec_scscf *s, txn *t, size_t bi,
                             imsec_time_ms now, imsec_out *out);
/* A provisional response `code` on branch `bi` (timers B and C, a CANCEL
 * waiting for it). Returns 1 when it goes upstream. */
int scscf_inv_provisional(imsec_scscf *s, txn *t, size_t bi, unsigned code,
                          imsec_time_ms now, imsec_out *out);
/* ACK the non-2xx final response in s->m on branch `bi` (§17.1.1.3). */
void scscf_inv_ack(imsec_scscf *s, txn *t, size_t bi, imsec_out *out);

/* route.c */
void scscf_facts_free(flow_facts *fa);
int scscf_trust_config(imsec_scscf *s, const imsec_scscf_config *cfg);
void scscf_peer_free(peer *p);
peer *scscf_peer_by_tag(const imsec_scscf *s, uint64_t tag);
peer *scscf_peer_by_flow(const imsec_scscf *s, uint64_t flow);
int scscf_peer_up(imsec_scscf *s, peer *p, uint64_t flow);
void scscf_peer_remove(imsec_scscf *s, peer *p);
void scscf_trust_free(flow_trust *t);
void scscf_trust_forget(imsec_scscf *s, uint64_t flow);
const char *scscf_tls_peer_name(imsec_scscf *s, uint64_t flow);
/* aka_keys.c: `, ck="HEX", ik="HEX"` for challenge `c` into dst when the
 * REGISTER came over a TLS core flow whose P-CSCF was judged by its
 * certificate, else "" (returns the length written, or a negative code). */
#define SCSCF_AKA_KEYS_CAP 96
int scscf_aka_keys(imsec_scscf *s, uint64_t flow, const challenge *c, char *dst,
                   size_t cap);
int scscf_judge_peer(imsec_scscf *s, uint64_t flow, const imsec_flow_info *info,
                     const char *expect, imsec_out *out);
uint64_t scscf_send_to(imsec_scscf *s, const imsec_addr *addr,
                       const char *expect, const char *data, size_t len,
                       imsec_out *out);
unsigned scscf_contact_hop(const contact *c, imsec_addr *to);
void scscf_do_request(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                      imsec_out *out);
int scscf_peer_trusted(imsec_scscf *s, uint64_t flow, imsec_out *out);
void scscf_fpeer_set(imsec_scscf *s, uint64_t flow,
                     const imsec_flow_info *info);
void scscf_fpeer_del(imsec_scscf *s, uint64_t flow);
int scscf_mark_via(imsec_scscf *s, uint64_t flow, imsec_out *out);

/* dialog_route.c */
int scscf_routes_config(imsec_scscf *s, const imsec_scscf_config *cfg);
void scscf_routes_free(imsec_scscf *s);
int scscf_has_to_tag(imsec_sip_msg *m);
int scscf_dialog_creating(imsec_sip_msg *m);
int scscf_mf_exhausted(imsec_scscf *s, uint64_t flow, imsec_out *out);
int scscf_push_record_route(imsec_scscf *s);
int scscf_uri_hop(imsec_str uri_text, imsec_addr *a);
int scscf_is_home(const imsec_scscf *s, const imsec_sip_uri *ru);
void scscf_other_domain(imsec_scscf *s, uint64_t flow, const imsec_sip_uri *ru,
                        imsec_time_ms now, imsec_out *out);
void scscf_in_dialog(imsec_scscf *s, uint64_t flow, size_t popped,
                     imsec_time_ms now, imsec_out *out);

/* store.c */
void scscf_store_unavailable(imsec_scscf *s, const char *impi, int rv,
                             imsec_time_ms now, imsec_out *out);
void scscf_sub_cache_free(imsec_scscf *s);
int scscf_hss_sub(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                  imsec_hss_sub *sub, imsec_time_ms now, imsec_out *out);
int scscf_hss_vector(imsec_scscf *s, const char *impi, imsec_aka_vector *v,
                     imsec_hss_aka *aka, imsec_time_ms now, imsec_out *out);
/* The SIP Digest H(A1)s of `impi` (IMSEC_SVC_HSS_DIGEST), taken once: the
 * parked copy is wiped as it is handed over; *sub is a secret. Returns as
 * hss_sub. */
int scscf_hss_digest(imsec_scscf *s, const char *impi, imsec_hss_sub *sub,
                     imsec_time_ms now, imsec_out *out);
int scscf_hss_resync(imsec_scscf *s, const char *impi, const uint8_t *rand,
                     const uint8_t *auts, imsec_time_ms now, imsec_out *out);
int scscf_wait_load(imsec_scscf *s, imsec_time_ms now);
/* The answer for a store that did not answer in time (RFC 3261 §21.5.5:
 * 504 Server Time-out, an external server, here the HSS or the shared
 * registration store, was not timely) or failed otherwise (500). */
unsigned scscf_store_code(int rv, const char **reason);
/* HSS_ASSIGN (Cx SAR, TS 29.228 §6.1.2) of `impi`/`impu` with `type`:
 * the answer kept with the running request (*sub: the implicit set),
 * or asked. Returns as hss_sub. */
int scscf_hss_assign(imsec_scscf *s, const char *impi, imsec_str impu,
                     imsec_svc_assign type, imsec_hss_sub *sub,
                     imsec_time_ms now, imsec_out *out);
/* The same, answer not waited for (de-registrations: the user is gone
 * here whatever the HSS says; a failure is logged). */
void scscf_hss_assign_send(imsec_scscf *s, const char *impi, const char *impu,
                           imsec_svc_assign type, imsec_out *out);
/* REG_GET of `key` (IMPI or IMPU) from the shared store: the answer
 * kept with the running request (*rec borrowed from it, ttl_ms from
 * *at), or asked. Returns 0, IMSEC_ERR_NOTFOUND, the store's error, or
 * as store_ask. */
int scscf_reg_get(imsec_scscf *s, imsec_str key, const imsec_reg_record **rec,
                  imsec_time_ms *at, imsec_time_ms now, imsec_out *out);
/* An authenticated REGISTER (sub, ra) waits for a store in the
 * registrar: parked with them, its run again goes to the registrar. */
void scscf_park_authed(imsec_scscf *s, uint64_t flow, const imsec_hss_sub *sub,
                       const reg_auth *ra, imsec_time_ms now, imsec_out *out);
void scscf_park_free(imsec_scscf *s);
int scscf_park_waiting(imsec_scscf *s, uint64_t flow);
void scscf_park_loaded(imsec_scscf *s, imsec_time_ms now, imsec_out *out);
void scscf_park_busy(imsec_scscf *s, uint64_t flow, const char *impi,
                     imsec_time_ms now, imsec_out *out);
void scscf_park_run(imsec_scscf *s, imsec_time_ms now, imsec_out *out);
int scscf_park_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                        imsec_out *out);
void scscf_park_drop_flow(imsec_scscf *s, uint64_t flow, imsec_out *out);
void scscf_hss_reply(imsec_scscf *s, const imsec_svc_reply *r,
                     imsec_time_ms now, imsec_out *out);

/* obs.c: metrics, listings and busy (include/imsec/elem.h operations,
 * exported by ops.c). A response built from s->m: counted when it is a
 * REGISTER's final answer. */
struct imsec_metrics;
struct imsec_table;
void scscf_obs_response(imsec_scscf *s, unsigned code);
static inline void scscf_obs_fail(imsec_scscf *s, int reason) {
  s->obs.af[reason]++;
}
void scscf_obs_metrics(const imsec_scscf *s, imsec_time_ms now,
                       struct imsec_metrics *m);
int scscf_obs_list(const imsec_scscf *s, const char *what, imsec_time_ms now,
                   struct imsec_table *t);
size_t scscf_obs_busy(const imsec_scscf *s);

#endif /* IMSEC_SCSCF_INT_H */
