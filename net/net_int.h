/*
 * Internal to net/: the types and helpers its files share. net.c is the
 * core (loops, flows table, limits, timers, lingering close, reuse);
 * tables.c holds the flow, address-count and reuse tables; flow.c the
 * owner's per-flow calls and flow tokens; stream.c carries TCP and TLS,
 * dgram.c UDP and DTLS, each behind its struct net_xport; tls_bio.c runs
 * TLS and DTLS over a flow's BIO; tls.c makes the OpenSSL contexts; obs.c
 * counts for operators (imsec_net_metrics) and lists flows.
 */
#ifndef IMSEC_NET_INT_H
#define IMSEC_NET_INT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "imsec/map.h"
#include "imsec/net.h"
#include "imsec/obs.h"

struct imsec_net_tls {
  /* The context new flows are made from; swapped by a reload under `lock`
   * (each SSL holds its own reference to the one it was made from). */
  SSL_CTX *ctx;
  /* The settings of imsec_net_tls_new without the file names and the PSK:
   * what a reload keeps. */
  imsec_net_tls_config pol;
  int server;
  int dtls;
  int no_resume;
  int defer_verify;
  int has_psk;
  /* RFC 5077 ticket keys: the current one and the one before it. */
  uv_mutex_t lock;
  struct ticket_key {
    uint8_t name[16];
    uint8_t aes[32];
    uint8_t hmac[32];
    uint64_t born;
    int set;
  } keys[2];
  uint32_t ticket_life_s;
  EVP_CIPHER *aes256cbc;
  /* PSK */
  imsec_net_psk_lookup_fn psk_lookup;
  void *psk_arg;
  char *psk_identity;
  uint8_t psk_key[64];
  size_t psk_key_len;
  /* Client sessions by server name (newest only). */
  struct sess_ent {
    char *name;
    SSL_SESSION *s;
  } * sess;
  size_t nsess, sess_cap;
  /* SSLKEYLOGFILE */
  FILE *keylog;
  /* DTLS stateless cookies (RFC 6347 §4.2.1) */
  uint8_t cookie_key[32];
};

#define MAX_LOOPS 64
#define RBUF_SIZE 65536
#define PBUF_SIZE 16384
/* RFC 6347 §4.1.1: one DTLS record carries at most 2^14 octets, and a SIP
 * message over DTLS must fit one record (we do not split messages). */
#define DTLS_MAX_MSG 16384
#define DTLS_MTU 1200
/* A clean close waits this long for queued output to leave. */
#define DRAIN_MS 5000
/* After refused input: how long the peer's further octets are read and
 * dropped before the socket closes. */
#define LINGER_MS 2000

typedef union net_addr {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} net_addr;

enum flow_state { F_CONNECTING, F_HANDSHAKE, F_UP, F_CLOSING };
enum flow_kind { K_STREAM, K_DGRAM_OWN, K_DGRAM_SHARED };

struct net_loop;
struct lsock;
typedef struct net_xport net_xport;

/* What the custom BIO reads from and writes to. */
struct bio_io {
  imsec_net_flow *flow; /* NULL for a DTLS listener */
  struct lsock *ls;     /* set for a DTLS listener */
  const uint8_t *in;    /* borrowed input */
  size_t in_len;
  int dgram;            /* datagram semantics */
  uv_udp_t *udp;        /* datagram sends */
  const net_addr *peer; /* NULL when the socket is connected */
  const net_addr *cookie_peer;
  uint8_t *out; /* stream output collected for one write */
  size_t out_len, out_cap;
};

typedef struct lsock {
  struct net_loop *lp;
  const net_xport *xp;
  imsec_net_transport tr;
  imsec_net_tls *tls;
  union {
    uv_tcp_t tcp;
    uv_udp_t udp;
  } h;
  /* DTLS: the shared listening SSL that answers ClientHellos statelessly
   * until one carries a valid cookie (RFC 6347 §4.2.1). */
  SSL *dtls_ssl;
  BIO_ADDR *dtls_addr;
  struct bio_io io;
  net_addr from;
  struct lsock *next;
} lsock;

/* The longest PSK identity we send or look up (the elements' limit,
 * IMSEC_PSK_ID_MAX - 1 in elem.h), and the longest key. */
#define NET_PSK_ID_MAX 127
#define NET_PSK_KEY_MAX 64

/* A client flow's own PSK (imsec_net_connect_opts.psk_*): secret, wiped
 * with the flow. */
struct flow_psk {
  char id[NET_PSK_ID_MAX + 1];
  uint8_t key[NET_PSK_KEY_MAX];
  size_t key_len;
};

struct imsec_net_flow {
  uint64_t id;
  struct net_loop *lp;
  const net_xport *xp; /* the transport's table, for tr */
  imsec_net_transport tr;
  uint8_t kind, state, is_server, was_up, keep, ping_out, throttled;
  uint8_t counted_ip, handles, has_sni, psk_mark, lean, peer_gone, in_reuse;
  uint8_t linger;      /* refused input: answer, FIN, drop what follows */
  uint8_t corked;      /* on the loop's corked list (stream.c) */
  uint8_t counts_held; /* closing, yet still counted against the caps */
  /* Operations (net/obs.c): the mode counted in imsec_flows_open (1 +
   * enum obs_mode; 0: not counted), the first alert of the handshake
   * (sent or received, alert_seen set), and, on a client, that it sent a
   * certificate (mutual TLS). */
  uint8_t obs_mode, alert, alert_seen, cert_sent;
  int down_reason;
  union {
    uv_tcp_t tcp;
    uv_udp_t udp;
  } h;
  uv_timer_t timer;
  lsock *ls;
  net_addr local, peer;
  SSL *ssl;
  struct bio_io io;
  uint8_t *early; /* messages sent before an outgoing stream was up */
  size_t early_len;
  uint8_t *in; /* the partial message on a stream */
  size_t in_len;
  size_t pending; /* octets queued in the kernel-bound write queue */
  /* Output of an up stream held until the end of the loop iteration, so
   * that what several events send to one flow (a proxy forwarding many
   * UEs' requests on one core connection) leaves in one write(2). Freed
   * when written: an idle flow holds none. */
  uint8_t *cork;
  size_t cork_len, cork_cap;
  imsec_net_flow *cork_next;
  uint32_t wrote_iter; /* the loop iteration of the last write (low bits) */
  uint64_t hs_deadline, idle_deadline, ka_next, ka_deadline, dtls_deadline;
  uint64_t born_ms; /* the loop's clock when the flow was made (age) */
  uint64_t hs_t0;   /* uv_hrtime() when its TLS/DTLS handshake began */
  uint32_t ka_interval, ka_timeout;
  size_t budget;
  uint64_t budget_iter;
  char *skey;
  void *user;
  imsec_net_tls *tls;
  /* Client: this connection's PSK (NULL: the context's, if any). */
  struct flow_psk *psk;
  /* The PSK identity the handshake offered (client) or found (server). */
  char *psk_seen;
  imsec_bytes *chain;
  uint8_t *chain_buf;
  int nchain;
  GENERAL_NAMES *sans;
  imsec_net_flow *id_next, *addr_next, *throttle_next;
  imsec_net_flow *addr_prev; /* the chain's newer neighbour (tables.c) */
};

/* ------------------------------------------------------ operations */

/* The mode a flow that is up runs in (imsec_flows_open). */
enum obs_mode { OBS_PLAIN, OBS_SERVER_CERT, OBS_MUTUAL, OBS_PSK, OBS_MODES };
enum obs_refuse { OBS_REF_MAX_FLOWS, OBS_REF_PER_IP, OBS_REFUSALS };
/* Handshake failures by TLS AlertDescription (RFC 8446 §6, 0..255), then
 * the ends without an alert. */
enum { OBS_HS_TIMEOUT = 256, OBS_HS_CLOSED, OBS_HS_OTHER, OBS_HS_ENDS };

/* A counter of one loop: written on the loop's thread only, read from
 * any (imsec_net_metrics). One writer, so a relaxed load and store make
 * the increment: no lock and no locked instruction on the hot path, and
 * a reader never sees a torn value. */
typedef _Atomic uint64_t obs_ctr;

static inline void obs_add(obs_ctr *c, uint64_t v) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                        memory_order_relaxed);
}

/* What a loop counts for /metrics (net/obs.c). TLS and DTLS slots are
 * [0] and [1] (obs_sec). */
struct net_obs {
  obs_ctr open[4][OBS_MODES]; /* by imsec_net_transport; a gauge */
  obs_ctr accepted[4];
  obs_ctr refused[OBS_REFUSALS];
  obs_ctr hs_ok[2], resumed[2];
  obs_ctr hs_failed[2][OBS_HS_ENDS];
  /* Handshake durations: per bucket of imsec_hist_bounds, then above the
   * last; the sum in nanoseconds. */
  obs_ctr hs_bucket[2][IMSEC_HIST_BUCKETS + 1];
  obs_ctr hs_ns[2];
};

static inline int obs_sec(imsec_net_transport tr) {
  return tr == IMSEC_NET_DTLS;
}

/* A flow is up: count it in imsec_flows_open under its mode. */
void net_obs_up(imsec_net_flow *f);
/* A flow closes: out of imsec_flows_open; a handshake under way counts
 * as failed (the alert it saw, else by `reason`). */
void net_obs_close(imsec_net_flow *f, int reason);
/* A TLS/DTLS handshake is done (net_tls_up). */
void net_obs_handshake_ok(imsec_net_flow *f);
/* OpenSSL's info callback of every context (tls.c): alerts sent and
 * received, and a client's Certificate (tls_bio.c). */
void net_tls_info_cb(const SSL *ssl, int where, int ret);

struct net_loop {
  imsec_net *net;
  unsigned idx;
  uv_loop_t loop;
  uv_async_t async;
  uv_prepare_t prep;
  uv_idle_t idle;
  uv_check_t check;       /* writes out the corked flows */
  imsec_net_flow *corked; /* flows with corked output */
  uv_mutex_t qlock;
  struct cmd *qhead, *qtail;
  uv_thread_t thread;
  int running, stopping;
  uint64_t iter;
  _Atomic uint64_t next_seq;
  imsec_map ids;   /* flow id -> flow */
  imsec_map addrs; /* keyed hash of (transport, peer) -> newest flow;
                      older ones and collisions: addr_next (tables.c) */
  imsec_net_flow *throttled;
  struct posted *posted;
  lsock *listeners;
  /* Log budgets for lines an attacker can cause at will: refused
   * connections, refused input. */
  imsec_lograte refuse_rate, input_rate;
  struct net_obs obs;
  uint8_t rbuf[RBUF_SIZE];
  uint8_t pbuf[PBUF_SIZE];
};

struct imsec_net {
  imsec_net_config cfg;
  unsigned nloops;
  struct net_loop *loops[MAX_LOOPS];
  int started;
  uint8_t token_key[32];
  /* The SipHash key of the maps below and of the loops' address maps:
   * peers choose their addresses and ports (hash flooding). */
  uint8_t map_seed[16];
  uv_mutex_t iplock;
  /* Flows from one source address (max_flows_per_ip): the host part
   * (16 octets, IPv4 mapped) -> the count, held in the value pointer. */
  imsec_map ips;
  _Atomic uint64_t nflows, accepted, refused, handshakes, resumed, closed_limit;
  _Atomic unsigned rr;
  /* A drain (imsec_net_pause_listeners): stream listeners are closed,
   * datagram listeners take no new peer (their socket carries the flows
   * already up). */
  _Atomic int paused;
  /* RFC 5923 connection reuse: outgoing flows by (transport, peer), so a
   * connect from any thread finds the flow already open or opening. */
  uv_mutex_t reuse_lock;
  imsec_map reuse; /* (transport, peer) -> struct reuse_ent */
};

/* A new SSL for one flow; `session_key` names the resumption slot on
 * clients (NULL: no resumption). NULL on failure. */
SSL *net_tls_ssl_new(imsec_net_tls *tls, const char *server_name,
                     const char *session_key);
/* 1 when `ssl` was made from the current context (not from one a reload
 * replaced since). */
int net_tls_ssl_current(imsec_net_tls *tls, SSL *ssl);
/* The peer address bytes of the flow or listener behind `ssl` (tls_bio.c). */
int net_ssl_peer(SSL *ssl, const uint8_t **addr, size_t *len);
/* A PSK was offered/found on the flow behind `ssl`, under `identity`
 * (`len` octets, no NUL inside) (tls_bio.c). */
void net_ssl_mark_psk(SSL *ssl, const uint8_t *identity, size_t len);
/* The flow's own PSK behind a client `ssl`, or NULL (tls_bio.c). */
const struct flow_psk *net_ssl_flow_psk(SSL *ssl);
/* Make a client `ssl` use the flow's own PSK (`psk` non-NULL) and accept
 * no certificate from the server (tls.c). 0 or -1. */
int net_tls_ssl_use_psk(SSL *ssl);
/* Wipe and free a flow PSK (NULL ok). */
void net_flow_psk_free(struct flow_psk *p);
/* The resumption key of the flow behind a client `ssl` (tls_bio.c). */
const char *net_ssl_session_key(SSL *ssl);

/* ------------------------------------------------------------ the core */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void net_log(imsec_net *net, imsec_net_log_level lvl, const char *fmt, ...);
/* "host:port" or "[host]:port". */
void net_addr_text(const net_addr *a, char *buf, size_t cap);
socklen_t net_addr_len(const struct sockaddr *sa);
/* IMSEC_ERR_INVAL unless `sa` is IPv4 or IPv6. */
int net_addr_copy(net_addr *dst, const struct sockaddr *sa);

/* A line about one flow: its id, transport and peer first. */
#define FLOG(f, lvl, ...)                                                      \
  do {                                                                         \
    if ((f)->lp->net->cfg.log && (lvl) <= (f)->lp->net->cfg.log_level) {       \
      char peer_[64], msg_[400];                                               \
      net_addr_text(&(f)->peer, peer_, sizeof peer_);                          \
      snprintf(msg_, sizeof msg_, __VA_ARGS__);                                \
      net_log((f)->lp->net, (lvl), "flow %llu %s %s: %s",                      \
              (unsigned long long)(f)->id, imsec_net_transport_name((f)->tr),  \
              peer_, msg_);                                                    \
    }                                                                          \
  } while (0)

static inline uint64_t net_now_ms(imsec_net_flow *f) {
  return uv_now(&f->lp->loop);
}

int net_addr_eq(const net_addr *a, const net_addr *b);

/* The loop's flows by id and by (transport, peer); the per-address counts
 * and the RFC 5923 reuse table, shared by all loops under their locks
 * (tables.c, like the address helpers above). */
int net_table_add(struct net_loop *lp, imsec_net_flow *f);
void net_table_del(struct net_loop *lp, imsec_net_flow *f);
imsec_net_flow *net_find_id(struct net_loop *lp, uint64_t id);
/* The live flow of `tr` with peer `a` (on listener `ls` when not NULL). */
imsec_net_flow *net_find_addr(struct net_loop *lp, imsec_net_transport tr,
                              const net_addr *a, lsock *ls);
/* 1 when one more flow from `a` fits under max_flows_per_ip (counted). */
int net_ip_acquire(imsec_net *net, const net_addr *a);
void net_ip_release(imsec_net *net, const net_addr *a);
struct reuse_ent {
  uint64_t id;
};
/* RFC 5923: the id of the flow to (tr, peer) already open or opening
 * (returns 1, *have set), or records `id` as that flow (returns 0);
 * IMSEC_ERR_NOMEM. */
int net_reuse_claim(imsec_net *net, imsec_net_transport tr,
                    const net_addr *peer, uint64_t id, uint64_t *have);
void net_reuse_del_id(imsec_net *net, imsec_net_transport tr,
                      const net_addr *peer, uint64_t id);
void net_reuse_del(imsec_net *net, imsec_net_flow *f);

/* Flows and their places under the limits. */
imsec_net_flow *net_flow_new(struct net_loop *lp, imsec_net_transport tr,
                             uint64_t id);
/* 1 when a new flow from `peer` fits under max_flows and max_flows_per_ip
 * (*counted: its address was counted), 0 when refused (logged, bounded). */
int net_admit(struct net_loop *lp, const net_addr *peer, int *counted);
void net_flow_uncount(imsec_net_flow *f);
/* The close callback of every flow handle: the last one frees the flow. */
void net_on_handle_closed(uv_handle_t *h);

/* Flow life: up (the owner's on_up), messages in and out, close. */
void net_flow_up(imsec_net_flow *f);
void net_flow_arm(imsec_net_flow *f);
void net_flow_close(imsec_net_flow *f, int reason);
int net_flow_write(imsec_net_flow *f, const uint8_t *p, size_t len);
void net_deliver_msg(imsec_net_flow *f, const uint8_t *p, size_t len);
void net_refuse_input(imsec_net_flow *f, int k, const uint8_t *head, size_t n);

/* ---------------------------------- TLS and DTLS over a BIO (tls_bio.c) */

/* Make the flow BIO's method, once per process. 0 or IMSEC_ERR_NOMEM. */
int net_bio_init(void);
/* Attach a fresh BIO reading/writing through `io`. */
int net_ssl_attach(SSL *ssl, struct bio_io *io);
/* Drive the handshake and decrypt what arrived. Returns 0 while the flow
 * lives. */
int net_tls_pump(imsec_net_flow *f);
/* The write, up and close_notify steps the TLS and DTLS tables share. */
int net_tls_write(imsec_net_flow *f, const uint8_t *p, size_t len);
void net_tls_up(imsec_net_flow *f);
void net_tls_close_notify(imsec_net_flow *f);
/* When DTLS next retransmits its last flight, 0 when no timer runs. */
uint64_t net_dtls_deadline(imsec_net_flow *f);

/* ------------------------------------------------ the transport table */

/* What a flow's transport does for the core: the core (net.c) opens,
 * writes to and closes a flow's socket only through these, and opens a
 * listener's (a stopping loop closes listener handles itself, as plain
 * libuv handles). One table per transport: net_xport_tcp and net_xport_tls
 * (stream.c), net_xport_udp and net_xport_dtls (dgram.c); TLS and DTLS
 * records go through tls_bio.c. Reading is each transport's own: its
 * libuv callbacks hand messages to net_deliver_msg. */
struct net_xport {
  imsec_net_transport tr; /* the transport this table serves */
  /* A byte stream: framed messages, CRLF keepalives, output queued while
   * connecting, a lingering close after refused input. */
  uint8_t stream;
  /* The largest message one send carries, below limits.max_msg (0: no cap
   * of the transport's own). */
  size_t max_msg;
  /* Listen (or receive) on the bound socket `fd`, SOCK_STREAM when
   * `stream`. 0 or a libuv error; the core frees `ls` either way. */
  int (*listen)(lsock *ls, int fd);
  /* Free what a listener holds beside its handle (NULL: nothing). */
  void (*unlisten)(lsock *ls);
  /* Open an outgoing flow, already in the table with its handshake
   * deadline armed: a socket bound to `local` (NULL: any) towards
   * f->peer, then the handshake. Closes the flow on failure. */
  void (*connect)(imsec_net_flow *f, const net_addr *local, imsec_net_tls *tls);
  /* The flow is up: count and log its handshake (NULL: no handshake). */
  void (*up)(imsec_net_flow *f);
  /* Write application bytes on an up flow. 0 or an IMSEC_ERR_* code (the
   * caller closes the flow on IMSEC_ERR_LIMIT, _IO and _NOMEM). */
  int (*write)(imsec_net_flow *f, const uint8_t *p, size_t len);
  /* Send what the BIO collected during one SSL call (NULL: the BIO sends
   * each datagram at once). */
  int (*flush)(imsec_net_flow *f);
  /* Plaintext out of the flow's SSL: frame it, or deliver it whole (NULL
   * on TCP and UDP, which have no SSL). */
  void (*deliver)(imsec_net_flow *f, const uint8_t *p, size_t n);
  /* f->dtls_deadline passed: resend the last flight and rearm. 0 or
   * IMSEC_ERR_TIMEOUT (NULL: no retransmission timer). */
  int (*retransmit)(imsec_net_flow *f);
  /* The flow is closing (F_CLOSING, off the tables, owner told, timer
   * stopped): say close_notify when it was up, then close the socket. 1
   * when the flow's timer is closed later (a drain or a linger is under
   * way), 0 when the core closes it now. */
  int (*close)(imsec_net_flow *f, int reason, int was_up, int was_throttled);
  /* Read f->local from the socket when asked (NULL: set when opened). */
  void (*local)(imsec_net_flow *f);
};

extern const net_xport net_xport_tcp, net_xport_tls, net_xport_udp,
    net_xport_dtls;

/* The table of `tr`; NULL for a value that names no transport. */
const net_xport *net_xport_of(imsec_net_transport tr);

/* Write out the output of every corked stream flow of `lp` (the end of
 * a loop iteration), and of one flow (before it closes or is freed). */
void net_stream_uncork_all(struct net_loop *lp);
void net_stream_uncork(imsec_net_flow *f);

/* Send what the last SSL call wrote (streams: one write). */
static inline int net_flow_flush(imsec_net_flow *f) {
  return f->xp->flush ? f->xp->flush(f) : 0;
}

#endif
