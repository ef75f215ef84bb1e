/* Internal to lib/pcscf: the element's state and what its files share.
 *   pcscf.c        lifetime, configuration, the event entry points, flow
 *                  admission (core peers), the timer sweep
 *   binding.c      flows, the flow <-> registration binding and the flow
 *                  token (TS 33.203 O.4, Annex J), identity assertion on
 *                  UE requests (RFC 3325, TS 24.229 §5.2.6.3)
 *   registration.c REGISTER from a UE (sec-agree, Path, Authorization
 *                  marking) and its 401 / 200 (TS 24.229 §5.2.2)
 *   proxy.c        transactions and Via branches, forwarding both ways,
 *                  queues towards the S-CSCFs, locally generated answers
 *   dgram.c        DTLS access flows: RFC 3261 §17 retransmissions and
 *                  duplicates, 513 over one record, STUN keep-alive, idle
 *                  associations
 *   invite.c       INVITE transactions both ways (RFC 3261 §16): 100
 *                  Trying, CANCEL, the ACK of a non-2xx, Timer C, 430,
 *                  loop detection
 */
#ifndef IMSEC_PCSCF_INT_H
#define IMSEC_PCSCF_INT_H

#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/map.h"
#include "imsec/pcscf.h"
#include "imsec/secagree.h"
#include "imsec/sip.h"
#include "imsec/sip_txn.h"
#include "lib/elem/tally.h"

#define TIMER_SWEEP 1
#define TIMER_DGRAM 2 /* dgram.c: retransmissions, idle DTLS flows */
#define TIMER_PING 3  /* failover.c: OPTIONS to the members of groups */
#define KEY_LEN 32
#define TOKEN_MAC 12 /* octets of HMAC-SHA256 kept in a flow token */
#define TOKEN_HEX 40 /* 16 hex of the binding id + 24 hex of the MAC */
#define BRANCH_PFX "z9hG4bKpc"
#define BRANCH_PFX_LEN 9
#define BRANCH_MAC 12 /* octets of HMAC-SHA256 kept in a branch */
#define ARENA 32768
#define DEFAULT_EXPIRES 3600

/* ---------------------------------------------------------------- types */

/* NUL-separated strings in one allocation. */
typedef struct strlist {
  char *buf;
  size_t len, n;
} strlist;

typedef struct flowrec flowrec;

/* A registration bound to a UE (TS 33.203 O.4): the IMPI's one binding.
 * It names a flow (the connection its requests must arrive on and requests
 * for the UE leave on) or, where the mode allows it, none for a while:
 * M2b (the P-CSCF dials the UE's registered TLS Contact) and M3 AKA-derived
 * (the UE comes back with the PSK) keep it until expiry; pc_binding_attach
 * moves it to another flow. */
typedef struct binding {
  struct binding *next; /* on the flow */
  flowrec *flow;        /* NULL: no live flow (outlives_flow only) */
  uint64_t id;          /* named by the Path token; never reused */
  int outlives_flow;    /* stays without a flow until expiry (set by the
                           mode that allows it), else goes with its flow */
  char *impi;
  strlist impus;     /* URIs */
  strlist routes;    /* Service-Route values, as written */
  char *contact;     /* the UE's Contact URI */
  char *cert_impi;   /* M2a: the IMPI of the UE certificate it registered
                        with (lib/pcscf/m2.c), NULL: none */
  uint64_t dial_tag; /* M2b: the CONNECT under way to its Contact, 0 none */
  int dial_ok;       /* M2b: its Contact is a TLS address on the host the
                        UE registered from (m2.c) */
  size_t dest;       /* the S-CSCF it registered through */
  imsec_time_ms expires_at;
} binding;

struct flowrec {
  uint64_t id;
  int core;
  imsec_addr peer;
  int ss_sent;  /* a 401 with Security-Server went out on this flow and
                   no REGISTER has answered it with the echo yet */
  int verified; /* a Security-Verify echo checked */
  binding *bindings;
  /* Access flows: our end, the TLS listener the UE reached; our Via on
   * requests towards the UE names it (RFC 3261 §16.6 step 8). */
  char local_host[48];
  uint16_t local_port;
  imsec_tp local_tp;
  char *cert_impi;  /* M2a: the IMPI its UE's verified certificate names */
  char *psk_impi;   /* a PSK flow (M3): the one IMPI it may register */
  size_t n_pend;    /* M3: AKA runs with CK/IK pending for it (psk.c) */
  int dgram;        /* DTLS: a datagram flow (dgram.c) */
  size_t chal_dest; /* failover.c: the S-CSCF (index + 1) whose 401 went
                       out on this flow last; 0 none */
};

typedef struct qmsg {
  struct qmsg *next;
  uint64_t txn; /* its transaction's id, when has_txn */
  int has_txn;
  size_t len;
  uint8_t data[];
} qmsg;

typedef struct dest {
  imsec_addr addr;
  char name[256]; /* tls: the certificate name to check, sent as SNI */
  uint64_t flow;  /* 0: not connected */
  int connecting;
  qmsg *qhead, *qtail;
  size_t qn;
  /* failover.c: marked dead (a connection failed, its flow was lost, a
   * REGISTER went unanswered or got 503, a ping went unanswered) until
   * any response from it; the OPTIONS ping under way (its txn id). */
  int dead;
  uint64_t ping_txn;
  int has_ping;
  imsec_time_ms changed_at; /* obs.c: last marked dead or live; 0 never */
} dest;

/* obs.c: counters for the operations layer (metrics, listings). */
enum {
  PC_REG_REGISTERED = 0,
  PC_REG_REFRESHED,
  PC_REG_DEREGISTERED,
  PC_REG_CHALLENGED,
  PC_REG_REJECTED,
  PC_REG_FAILED,
  PC_REG_N
};

typedef struct pc_obs {
  uint64_t reg[PC_REG_N]; /* REGISTER final answers to UEs, by outcome */
  elem_tally trust;       /* core peers judged: (result, reason) */
} pc_obs;

typedef struct pc_inv pc_inv; /* invite.c */
/* INVITE transactions answered already (invite.c), oldest deadline
 * first: the first to make room when the table is full. */
typedef struct pc_inv_list {
  pc_inv *head, *tail;
} pc_inv_list;

typedef struct txn {
  uint64_t id;       /* its key in imsec_pcscf.txns; named by our Via branch */
  int from_ue;       /* UE -> S-CSCF (1) or S-CSCF -> UE (0) */
  uint64_t in_flow;  /* responses go back here */
  uint64_t ue_flow;  /* S-CSCF -> UE: the flow it went out on */
  uint64_t out_flow; /* UE -> S-CSCF: the flow it went out on, 0 queued */
  imsec_time_ms deadline;
  /* REGISTER only */
  int is_register;
  int sa_offered;
  size_t dest;
  uint32_t expires; /* requested */
  uint64_t bid;     /* the binding its Path token names (made on the 200) */
  /* dialog.c: the binding of the UE this request is from or for, when it
   * creates or belongs to a dialog (0 none), and its role there. */
  uint64_t dlg_bid;
  int dlg_role;
  char *impi;
  char *contact;
  char *to_uri;
  /* The response this P-CSCF sends itself when the request cannot be
   * answered by the next hop (RFC 3261 §16.7-16.8: timeout 408, no
   * connection 503, RFC 5626 §5.3: flow gone 430): built from the request
   * as it arrived; the status line is replaced when used. */
  char *answer;
  size_t answer_len, answer_hdrs;
  /* invite.c: what CANCEL, ACK and the loop check need (NULL: none) */
  pc_inv *inv;
  /* failover.c: a REGISTER to a group of two or more keeps what it sent
   * (our Via and Path on it) to send it again to the next member; tried
   * has bit d set for every dests[d] it went to. An OPTIONS ping of
   * dests[dest] is is_ping (no UE behind it). */
  uint8_t *fwd;
  size_t fwd_len;
  uint32_t tried;
  int is_ping;
} txn;

struct imsec_pcscf {
  imsec_pcscf_config cfg;
  imsec_crypto *crypto;
  uint8_t key[KEY_LEN];
  char host_uri[262]; /* core host, bracketed if IPv6 */
  /* access and core flows */
  imsec_map flows;    /* flow id -> flowrec */
  imsec_map bindings; /* IMPI -> binding, one per IMPI (TS 33.203 O.4);
                         keys hashed under a random seed: peers choose them */
  imsec_map bind_ids; /* binding id -> binding (the Path token's name) */
  uint64_t bind_seq;  /* the last binding id given out */
  imsec_map dials;    /* M2b: CONNECT tag -> m2dial (lib/pcscf/m2.c) */
  uint64_t dial_seq;
  size_t n_access;
  /* S-CSCFs: dests[i] has CONNECT tag i + 1 */
  dest dests[IMSEC_PCSCF_MAX_ROUTES];
  size_t ndests;
  size_t route_dest[IMSEC_PCSCF_MAX_ROUTES];
  /* failover.c: smooth weighted round robin state per route; whether any
   * group has two members or more (pings); the ping timer's deadline. */
  int64_t route_cw[IMSEC_PCSCF_MAX_ROUTES];
  int ping_groups;
  imsec_time_ms ping_at;
  imsec_map txns; /* transaction id -> txn, at most max_transactions */
  /* invite.c: "FLOW BRANCH" (the flow and top Via branch an INVITE came
   * with) -> its txn, what a CANCEL or ACK is matched by; keys hashed
   * under a random seed: peers choose branches */
  imsec_map inv_keys;
  pc_inv_list lingering;
  uint64_t txn_seq;
  size_t queued;
  imsec_time_ms timer_at;
  uint32_t tag_seq;
  imsec_lograte bad_rate; /* lines about refused input */
  /* per-event scratch */
  char *in;
  char *outbuf;
  size_t outcap;
  char arena[ARENA];
  size_t arena_used;
  imsec_sip_msg m;
  struct pc_psk *psk; /* M3 AKA-derived PSKs (psk.c); NULL: off */
  /* DTLS access flows (dgram.c) */
  struct pc_dgram *dg;
  imsec_sip_timers sip_timers;
  /* Dialogs through UE flows (dialog.c), set up on first use. */
  imsec_map dlgs;     /* "Call-ID SP UE tag" -> its dialogs (one per
                         binding); keys hashed under a random seed */
  imsec_map dlg_bids; /* binding id -> that binding's dialogs */
  size_t n_dlgs;
  int dlg_ready;
  imsec_time_ms dlg_check_at; /* no dialog idles out before this (0: none) */
  pc_obs obs;                 /* obs.c */
};

/* A handler's one way out on failure (STYLE.md: one failure path per
 * handler): what to answer and why. code 0: nothing to answer. */
typedef struct refusal {
  unsigned code;
  const char *reason;
  const char *why;        /* for the log line */
  unsigned retry_after;   /* set: our own 503 with Retry-After */
  const imsec_str *extra; /* more header fields: (name, value) pairs */
  size_t nextra;
  int logged; /* the handler logged it in its own words */
} refusal;

typedef struct ev {
  imsec_pcscf *p;
  imsec_out *out;
  imsec_time_ms now;
  flowrec *f;
} ev;

/* ---------------------------------------------------------------- text */

#define S(lit) IMSEC_STR_LIT(lit)
/* The parts (numbers and addresses made into text) are made only when
 * the line is kept: a daemon at its usual level formats nothing for the
 * INFO and DEBUG lines of every registration. */
#define LOG(e, lvl, ...)                                                       \
  do {                                                                         \
    if ((lvl) <= (e)->out->log_level) {                                        \
      imsec_str parts_[] = {__VA_ARGS__};                                      \
      (void)imsec_out_logv((e)->out, (lvl), parts_,                            \
                           sizeof(parts_) / sizeof(parts_[0]));                \
    }                                                                          \
  } while (0)

typedef struct sb {
  char *p;
  size_t len, cap;
  int err;
} sb;

static inline void sb_put(sb *b, imsec_str s) {
  if (b->err || s.len > b->cap - b->len) {
    b->err = 1;
    return;
  }
  if (s.len)
    memcpy(b->p + b->len, s.p, s.len);
  b->len += s.len;
}

static inline void sb_putc(sb *b, const char *s) {
  sb_put(b, imsec_str_c(s));
}

static inline void sb_u64(sb *b, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  char out[24];
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  sb_put(b, (imsec_str){out, n});
}

static inline void sb_hex(sb *b, const uint8_t *v, size_t n) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char two[2] = {hx[v[i] >> 4], hx[v[i] & 15]};
    sb_put(b, (imsec_str){two, 2});
  }
}

/* A builder over the free part of the arena; sb_done commits it. */
static inline sb arena_sb(imsec_pcscf *p) {
  sb b = {p->arena + p->arena_used, 0, ARENA - p->arena_used, 0};
  return b;
}

static inline int sb_done(imsec_pcscf *p, sb *b, imsec_str *out) {
  if (b->err)
    return IMSEC_ERR_NOBUF;
  *out = (imsec_str){b->p, b->len};
  p->arena_used += b->len;
  return 0;
}

/* ---- lib/pcscf/pcscf.c */

imsec_str pc_num(imsec_pcscf *p, uint64_t v);
char *pc_dup_str(imsec_str s);
int pc_strlist_add(strlist *l, imsec_str s);
int pc_strlist_next(const strlist *l, size_t *pos, imsec_str *out);
void pc_strlist_free(strlist *l);
void pc_arm(ev *e, imsec_time_ms at);
imsec_str pc_addr_str(imsec_pcscf *p, const imsec_addr *a);

/* ---- lib/pcscf/binding.c */

flowrec *pc_flow_find(const imsec_pcscf *p, uint64_t id);
flowrec *pc_flow_add(imsec_pcscf *p, uint64_t id);
void pc_binding_unlink(imsec_pcscf *p, binding *b);
/* Remove from the table and free; its bindings go with it, except those
 * that outlive their flow (outlives_flow), which stay without one. */
void pc_flow_remove(imsec_pcscf *p, flowrec *f);
/* Free one already out of the table (imsec_map_del_at in a walk). */
void pc_flow_free(imsec_pcscf *p, flowrec *f);
/* Free every binding (the element's end), flows' lists emptied. */
void pc_bindings_free_all(imsec_pcscf *p);
/* A fresh binding id: counts up from 1, never reused. */
uint64_t pc_binding_id_next(imsec_pcscf *p);
/* The Path token naming binding id `id` (RFC 5626 §5.2). */
int pc_token_make(imsec_pcscf *p, uint64_t id, sb *b);
/* The binding a token names. 0 and *out; IMSEC_ERR_PARSE (malformed),
 * IMSEC_ERR_NOTFOUND (no such binding: gone or never made, *id set),
 * IMSEC_ERR_AUTH (the MAC does not verify). */
int pc_token_check(imsec_pcscf *p, imsec_str tok, binding **out);
int pc_uri_text_eq(imsec_str a, imsec_str b);
binding *pc_impu_bound(const flowrec *f, imsec_str uri);
binding *pc_binding_find(const imsec_pcscf *p, flowrec *f, const char *impi);
binding *pc_binding_by_id(const imsec_pcscf *p, uint64_t id);
/* TS 33.203 O.4: a new binding of `impi` on flow `f` named `id` (the id
 * its Path token carries); the IMPI's binding elsewhere goes. NULL without
 * memory. */
binding *pc_binding_new(imsec_pcscf *p, flowrec *f, const char *impi,
                        uint64_t id);
/* Give `b` the id `id` (the REGISTER whose Path the S-CSCF keeps last
 * named it). 0, IMSEC_ERR_NOMEM (b keeps its old id). */
int pc_binding_set_id(imsec_pcscf *p, binding *b, uint64_t id);
/* Move binding `b` to access flow `flow`: requests from the UE must arrive
 * on it from now on and requests for the UE leave on it; the flow it was
 * on (if any) forgets it. Moving it where it is does nothing. Returns 0,
 * IMSEC_ERR_INVAL (NULL), IMSEC_ERR_NOTFOUND (no such flow), IMSEC_ERR_STATE
 * (a core flow). */
int pc_binding_attach(imsec_pcscf *p, binding *b, uint64_t flow);
void pc_binding_sweep(ev *e, imsec_time_ms *next);
int pc_ue_request(ev *e, imsec_sip_msg *m);

/* ---- lib/pcscf/registration.c */

int pc_has_option(imsec_sip_msg *m, imsec_sip_hid id, const char *opt);
int pc_ue_register(ev *e, imsec_sip_msg *m);
/* A response to a REGISTER on its way to the UE: 0 relay it, 1 answer
 * the UE 403 instead (Annex N.1 on 3GPP access; logged). */
int pc_register_response(ev *e, txn *t, imsec_sip_msg *m);
/* ck= and ik= out of every challenge of a response for the UE (0, or <0
 * when the response must not go). */
int pc_strip_aka_keys(ev *e, imsec_sip_msg *m);

/* ---- lib/pcscf/proxy.c */

txn *pc_txn_new(ev *e);
txn *pc_txn_open(ev *e, imsec_sip_msg *m, int from_ue, refusal *r);
/* Remove from the table and free. */
void pc_txn_clear(imsec_pcscf *p, txn *t);
/* Free one already out of the table (imsec_map_del_at in a walk). */
void pc_txn_free(txn *t);
/* 0, or IMSEC_ERR_LIMIT: larger than one DTLS record (not sent). */
int pc_send_flow(ev *e, uint64_t flow, imsec_sip_msg *m);
/* A locally generated response, with extra (name, value) header pairs. */
int pc_reply(ev *e, uint64_t flow, imsec_sip_msg *req, unsigned code,
             const char *reason, const imsec_str *extra, size_t nextra);
void pc_txn_keep_answer(ev *e, txn *t, imsec_sip_msg *req);
/* Refuse with a WARN line naming why. */
int pc_refuse(ev *e, imsec_sip_msg *req, unsigned code, const char *reason,
              const char *why);
int pc_refuse_503(ev *e, imsec_sip_msg *req, unsigned secs, const char *why);
/* A handler's single refusal point: answers as `r` says (nothing when its
 * code is 0). Returns 0. */
int pc_refuse_with(ev *e, imsec_sip_msg *req, const refusal *r);
void pc_dest_flush(imsec_pcscf *p, dest *d, imsec_out *out);
void pc_dest_drop(imsec_pcscf *p, dest *d, ev *e);
/* To S-CSCF `di` for transaction `t` (NULL: stateless, an ACK). */
int pc_send_dest(ev *e, size_t di, imsec_sip_msg *m, const txn *t);
void pc_txn_answer(ev *e, txn *t, unsigned code, const char *reason,
                   unsigned retry_after);
/* Our Via on the core side; its branch names `t` (NULL: a stateless branch,
 * RFC 3261 §16.11). */
int pc_push_via(ev *e, imsec_sip_msg *m, const txn *t, imsec_tp tp);
int pc_push_via_at(ev *e, imsec_sip_msg *m, const txn *t, imsec_tp tp,
                   const char *host, uint16_t port);
int pc_dec_max_forwards(ev *e, imsec_sip_msg *m);
int pc_pop_top(imsec_sip_msg *m, imsec_sip_hid id);
imsec_str pc_bare_host(imsec_str h);
long pc_dest_of_uri(const imsec_pcscf *p, imsec_str text);
/* Queue p->outbuf's first `len` octets on a list (max_queue bounds it):
 * 0, IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
int pc_queue_push(imsec_pcscf *p, qmsg **head, qmsg **tail, size_t *n,
                  const txn *t, size_t len);
/* Take the message of transaction `id` off a list: 1 found, 0 not. */
int pc_queue_remove(imsec_pcscf *p, qmsg **head, qmsg **tail, size_t *n,
                    uint64_t id);
int pc_core_request(ev *e, imsec_sip_msg *m);
int pc_on_response(ev *e, imsec_sip_msg *m);
/* The transaction our Via branch names, or NULL. */
txn *pc_branch_find(imsec_pcscf *p, imsec_str br);

/* The message serialized in p->outbuf (`len` octets) to S-CSCF `di`:
 * on its flow, or queued while it connects. 0, IMSEC_ERR_LIMIT,
 * IMSEC_ERR_NOMEM. */
int pc_send_raw(ev *e, size_t di, size_t len, const txn *t);
/* Our Via branch naming `t`. */
int pc_branch_make(imsec_pcscf *p, const txn *t, sb *b);

/* ---- lib/pcscf/failover.c: a domain's S-CSCFs as one group (routes with
 * the same domain, in order): dead members, the REGISTER sent again, the
 * OPTIONS pings */

/* Groups are named by the index of their first route. The number of
 * members of group `g`. */
size_t pc_group_size(const imsec_pcscf *p, size_t g);
/* The group S-CSCF `di` is a member of (the first route naming it), or
 * -1. */
long pc_group_of_dest(const imsec_pcscf *p, size_t di);
/* Recompute p->ping_groups after the routes changed. */
void pc_groups_changed(imsec_pcscf *p);
/* The member of group `g` a REGISTER goes to: weighted among the live
 * members when `spread` and weights are set, else the first live one;
 * never one with its bit in `tried`. All dead (nothing tried yet): the
 * first member. -1: none left. */
long pc_group_pick(imsec_pcscf *p, size_t g, uint32_t tried, int spread);
/* `di` when live, else the next live member of its group after it (in
 * order, wrapping), else `di`. */
size_t pc_dest_live(const imsec_pcscf *p, size_t di);
void pc_dest_dead(ev *e, size_t di, const char *why);
void pc_dest_alive(ev *e, size_t di);
/* REGISTER `t` failed at t->dest (`why`): that member is marked dead and
 * the kept copy goes to the next member. 1 sent again, 0 no member left
 * (the caller answers). */
int pc_failover_register(ev *e, txn *t, const char *why);
/* S-CSCF `di` could not be reached (CONNECT failed, its certificate
 * refused): marked dead; what waits in its queue goes to the next live
 * member of its group (it never left), else is answered 503. */
void pc_dest_failed(ev *e, size_t di, const char *why);
/* The S-CSCF flow transaction `t` went out on was lost, or its deadline
 * passed (`timeout`), inside a walk of p->txns: 0 not failover's (the
 * caller goes on as before), 1 handled and `t` stays (a REGISTER sent
 * again), 2 handled and the caller removes and frees `t` (a ping). */
int pc_failover_txn(ev *e, txn *t, int timeout);
/* A response to ping `t` arrived: its member is live; `t` is cleared. */
void pc_ping_answered(ev *e, txn *t);
/* TIMER_PING fired: ping every member of a group, arm the next round. */
void pc_ping_timer(ev *e);
/* Arm TIMER_PING if groups want pings and it is not armed. */
void pc_ping_arm(ev *e);

/* ---- lib/pcscf/dgram.c (DTLS access flows; no-ops elsewhere) */

/* The largest SIP message one DTLS record carries (RFC 6347 §4.1.1: 2^14
 * octets of plaintext, what net/ sends at most). */
#define IMSEC_PCSCF_DTLS_MAX 16384
void pc_dgram_flow_up(ev *e, flowrec *f);
void pc_dgram_flow_down(imsec_pcscf *p, uint64_t flow);
/* Octets from a DTLS access flow, before parsing: 1 when taken (STUN). */
int pc_dgram_raw(ev *e, const uint8_t *msg, size_t len);
/* A parsed request / response from one: 1 when absorbed. */
int pc_dgram_request(ev *e, imsec_sip_msg *m);
int pc_dgram_response(ev *e, imsec_sip_msg *m);
/* After an event: transactions for its SENDs to DTLS access flows. */
void pc_dgram_after(imsec_pcscf *p, imsec_out *out, size_t from,
                    imsec_time_ms now);
void pc_dgram_timer(ev *e);
/* 1 (with a line) when `len` octets cannot go to `flow` in one record. */
int pc_dgram_too_big(ev *e, uint64_t flow, size_t len);
void pc_dgram_free(imsec_pcscf *p);
size_t pc_dgram_count(const imsec_pcscf *p);
int pc_stun_is(const uint8_t *msg, size_t len);
size_t pc_stun_answer(const uint8_t *req, const imsec_addr *a, uint8_t *out,
                      size_t cap);

/* ---- lib/pcscf/m2.c (modes M2a and M2b) */

/* CONNECT tags at and above this are dials to UEs (M2b); below, S-CSCFs. */
#define PC_DIAL_TAG_BASE ((uint64_t)1 << 62)

/* M2a, at an inbound UE flow's up: the certificate the config asks for.
 * 0, or IMSEC_ERR_AUTH after one log line (the flow closes). */
int pc_m2_flow_up(ev *e, flowrec *f, const imsec_flow_info *info);
/* M2a, a REGISTER on flow f with Authorization username `impi`: 0, or -1
 * with the 403 in *r (logged). */
int pc_m2_register_check(ev *e, const char *impi, refusal *r);
/* On the 200: what the mode records in the binding. 0 or IMSEC_ERR_NOMEM. */
int pc_m2_binding_made(ev *e, binding *b, flowrec *f);
/* M2b: may a request for `b` (no live flow) open a connection to it? */
int pc_m2_can_dial(const imsec_pcscf *p, const binding *b);
/* M2b: queue the serialized request of transaction `t` (NULL: an ACK) for
 * `b` and dial its Contact if no dial is under way. 0, or a negative code
 * (nothing queued). */
int pc_m2_dial_send(ev *e, binding *b, imsec_sip_msg *m, txn *t);
/* M2b: the flow of dial `tag` came up. 0, or IMSEC_ERR_AUTH (refused:
 * queued requests answered 480, logged). */
int pc_m2_dial_up(ev *e, uint64_t flow, uint64_t tag,
                  const imsec_flow_info *info);
/* M2b: the dial `tag` failed (CONNECT failed): 480s, one log line. */
void pc_m2_dial_failed(ev *e, uint64_t tag, int reason);
/* Free every dial (the element's end). */
void pc_m2_free(imsec_pcscf *p);
/* M2b: take the request of transaction `id` off the queue of its dial
 * (a CANCEL before the UE was reached): 1 found, 0 not. */
int pc_m2_unqueue(imsec_pcscf *p, uint64_t id);
/* ---- lib/pcscf/psk.c (mode M3) */

typedef struct pc_psk pc_psk;
/* Set up p->psk when cfg.aka_psk (map seed: 16 random octets). */
int pc_psk_new(imsec_pcscf *p, const uint8_t seed[16]);
void pc_psk_del(imsec_pcscf *p);
/* A 401 to `t` (before ck/ik are stripped): keep CK, IK and RAND. */
void pc_psk_on_401(ev *e, const txn *t, imsec_sip_msg *m);
/* The 200 bound `impi` on UE flow `flow` until expires_at: derive and
 * install its PSK from the keys of the 401 that went to that flow. */
void pc_psk_registered(ev *e, uint64_t flow, const char *impi,
                       imsec_time_ms expires_at);
/* De-registered or expired: remove its PSK (pending keys time out). */
void pc_psk_gone(ev *e, const char *impi);
void pc_psk_sweep(ev *e, imsec_time_ms *next);
/* The UE connection `f` goes: the CK/IK pending for it are wiped. */
void pc_psk_flow_gone(imsec_pcscf *p, flowrec *f);
/* An access flow came up: note its PSK, move a derived PSK's binding. */
int pc_psk_flow_up(ev *e, flowrec *f, const imsec_flow_info *info);
/* A REGISTER's IMPI on a PSK flow: 0 fine, -1 refused (403 in *r). */
int pc_psk_register_check(ev *e, const char *impi, refusal *r);

/* ---- lib/pcscf/invite.c: INVITE transactions both ways (RFC 3261 §16,
 * §17): CANCEL, the ACK of a non-2xx final response, 100 Trying, Timer C */

/* A CANCEL from either side (RFC 3261 §16.10): matched to the INVITE it
 * cancels (200, and CANCEL downstream), or dropped with a log line. */
void pc_cancel(ev *e, imsec_sip_msg *m);
/* An ACK to a non-2xx final response this P-CSCF relayed (RFC 3261
 * §17.2.1: it ends our server transaction): 1 absorbed, 0 not one. */
int pc_ack_absorb(ev *e, imsec_sip_msg *m);
void pc_invite_free(pc_inv *inv);
/* A request about to be forwarded statefully as `t` (either way), right
 * after pc_txn_keep_answer and before our Via: loop check (482, RFC 3261
 * §16.3 step 4, *r filled and -1) and what CANCEL and ACK match later.
 * Any method; 0 or -1. */
int pc_invite_begin(ev *e, txn *t, imsec_sip_msg *m, refusal *r);
/* The same request with our Via pushed (its first Via field) and
 * Max-Forwards set, just before it goes out (or is queued): an INVITE
 * keeps what its CANCEL and ACK copy (RFC 3261 §9.1, §17.1.1.3), starts
 * Timer C and sends 100 Trying upstream. 0, or a negative code. */
int pc_invite_forwarded(ev *e, txn *t, imsec_sip_msg *m);
enum { PC_INV_NONE = 0, PC_INV_ABSORB, PC_INV_RELAY };
/* A response to `t` (our Via popped): PC_INV_NONE not an INVITE (the
 * caller goes on as for any request), PC_INV_ABSORB dropped here,
 * PC_INV_RELAY relay it and keep `t` (even for a final response). */
int pc_invite_response(ev *e, txn *t, imsec_sip_msg *m);
/* `t`'s deadline passed: -1 not an INVITE (the 408 of any request), 0
 * remove it, 1 keep it (handled; t->deadline moved on). */
int pc_invite_deadline(ev *e, txn *t);
/* Flow `flow` went down: -1 not an INVITE, 0 remove `t` (handled), 1
 * keep it (handled, or unrelated). */
int pc_invite_flow_down(ev *e, txn *t, uint64_t flow);
/* `t` was just answered finally by the P-CSCF itself (pc_txn_answer): an
 * INVITE stays 64*T1 to absorb the ACK (RFC 3261 §17.2.1), any other
 * request is cleared. */
void pc_txn_done(ev *e, txn *t);
/* A finished INVITE (lingering for late 2xx and the ACK) to make room for
 * a new transaction when the table is full: the oldest, or NULL. */
txn *pc_invite_evictable(imsec_pcscf *p);

/* ---- lib/pcscf/dialog.c: dialogs through the UE's flow (Record-Route
 * with the flow token, TS 24.229 §5.2.6.3, RFC 5626 §5.3, RFC 5658) */

/* A request from a UE inside a dialog (a To tag) or the ACK of a 2xx:
 * checked against the dialogs of the UE's binding and forwarded along its
 * route set, or refused. 1 handled, 0 not an in-dialog request. */
int pc_dialog_ue_request(ev *e, imsec_sip_msg *m);
/* A request from the core for binding `b` (its flow token in our
 * Route): 0 fine, -1 refused (*r filled) when it claims a dialog of
 * another UE. */
int pc_dialog_core_check(ev *e, imsec_sip_msg *m, binding *b, refusal *r);
/* A dialog-creating request of binding `b` (toward_ue: from the core to
 * the UE, else from the UE): our Record-Route entries and the dialog's
 * record. 0, or a negative code (r filled). */
int pc_dialog_record_route(ev *e, imsec_sip_msg *m, binding *b, txn *t,
                           int toward_ue, refusal *r);
/* A response to `t` about to be relayed (our Via popped). */
void pc_dialog_on_response(ev *e, txn *t, imsec_sip_msg *m);
/* Binding `bid` is gone: its dialogs with it. */
void pc_dialog_binding_gone(imsec_pcscf *p, uint64_t bid);
void pc_dialogs_free(imsec_pcscf *p);
/* The timer sweep: dialogs idle too long end; the earliest time one may
 * idle out goes to *next (unchanged when none is earlier). */
void pc_dialog_sweep(ev *e, imsec_time_ms *next);

/* ---- lib/pcscf/obs.c: metrics, listings and busy (include/imsec/elem.h
 * operations, exported by ops.c) */

struct imsec_metrics;
struct imsec_table;
/* A final answer to REGISTER `t` is going to the UE (relayed or our own):
 * counted by outcome; `had` says whether the IMPI had a binding before. */
void pc_obs_register(imsec_pcscf *p, const txn *t, unsigned code, int had);
/* The same for a REGISTER answered before it had a transaction. */
void pc_obs_register_code(imsec_pcscf *p, unsigned code);
/* A core peer judged (TS 33.210 §5.2): accepted or refused, and why (a
 * static code). */
void pc_obs_trust(imsec_pcscf *p, int accepted, const char *reason);
void pc_obs_metrics(const imsec_pcscf *p, imsec_time_ms now,
                    struct imsec_metrics *m);
int pc_obs_list(const imsec_pcscf *p, const char *what, imsec_time_ms now,
                struct imsec_table *t);
size_t pc_obs_busy(const imsec_pcscf *p);
/* invite.c: `t` is an INVITE answered finally, kept only for its ACK and
 * late 2xx (nothing in flight). */
int pc_invite_lingering(const txn *t);
/* dialog.c: the "dialogs" listing. */
int pc_dialog_list(const imsec_pcscf *p, imsec_time_ms now,
                   struct imsec_table *t);

#endif /* IMSEC_PCSCF_INT_H */
