/*
 * The transport engine: N libuv loops, one per thread; listeners shared with
 * SO_REUSEPORT; flows over TCP, TLS, UDP and DTLS; CRLF keepalives; limits.
 *
 * I/O discipline (the handshake costs more in syscalls than in crypto):
 * OpenSSL reads from and writes to a small custom BIO. Reads borrow the
 * loop's shared receive buffer; writes of one SSL call collect in the
 * flow's output buffer and leave in ONE write, so a whole handshake flight
 * (ServerHello .. Finished + ticket) costs one syscall. Idle flows hold no
 * buffers: the partial-message buffer and the output buffer are freed when
 * empty, and SSL_MODE_RELEASE_BUFFERS frees OpenSSL's.
 *
 * This file is the core: the loops and their threads, the command queue
 * between threads, delayed calls, admission and limits, a flow's life (up,
 * deadlines and keepalives, close, lingering), listen, connect and RFC
 * 5923 reuse. It opens, writes to and closes a flow's socket only through
 * its transport's table (struct net_xport in net_int.h), so each transport
 * keeps its socket handling to itself: stream.c (TCP, TLS), dgram.c (UDP,
 * DTLS), with the TLS and DTLS records in tls_bio.c, the lookup tables
 * in tables.c and the owner's per-flow calls and flow tokens in flow.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "net/net_int.h"

enum cmd_type { CMD_SEND, CMD_CLOSE, CMD_CONNECT, CMD_STOP, CMD_POST };

struct cmd {
  struct cmd *next;
  enum cmd_type type;
  uint64_t id;
  /* CMD_CONNECT */
  imsec_net_transport tr;
  net_addr peer, local;
  int has_local, reuse;
  imsec_net_tls *tls;
  char *sni;
  void *user;
  struct flow_psk *psk; /* the connection's own PSK (owned, wiped) */
  /* CMD_POST */
  void (*fn)(void *arg);
  uint32_t delay_ms;
  size_t len;
  uint8_t data[];
};

/* A delayed call on a loop (imsec_net_post). */
struct posted {
  uv_timer_t timer;
  void (*fn)(void *arg);
  void *arg;
  struct posted *prev, *next;
};

/* ================================================================ logging */

void net_log(imsec_net *net, imsec_net_log_level lvl, const char *fmt, ...) {
  if (!net->cfg.log || lvl > net->cfg.log_level)
    return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  net->cfg.log(net->cfg.log_user, lvl, line);
}

void net_addr_text(const net_addr *a, char *buf, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a->sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->in4.sin_addr, host, sizeof host);
    snprintf(buf, cap, "%s:%u", host, ntohs(a->in4.sin_port));
  } else if (a->sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof host);
    snprintf(buf, cap, "[%s]:%u", host, ntohs(a->in6.sin6_port));
  } else {
    snprintf(buf, cap, "?");
  }
}

void imsec_net_log_stderr(void *user, imsec_net_log_level level,
                          const char *line) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  (void)user;
  fprintf(stderr, "net %s: %s\n", (unsigned)level < 4 ? names[level] : "?",
          line);
}

const char *imsec_net_transport_name(imsec_net_transport t) {
  switch (t) {
  case IMSEC_NET_UDP:
    return "UDP";
  case IMSEC_NET_TCP:
    return "TCP";
  case IMSEC_NET_TLS:
    return "TLS";
  case IMSEC_NET_DTLS:
    return "DTLS";
  }
  return "?";
}

const net_xport *net_xport_of(imsec_net_transport tr) {
  switch (tr) {
  case IMSEC_NET_UDP:
    return &net_xport_udp;
  case IMSEC_NET_TCP:
    return &net_xport_tcp;
  case IMSEC_NET_TLS:
    return &net_xport_tls;
  case IMSEC_NET_DTLS:
    return &net_xport_dtls;
  }
  return NULL;
}

/* ================================================================ flows */

/* Give back the flow's place under max_flows and max_flows_per_ip. */
void net_flow_uncount(imsec_net_flow *f) {
  imsec_net *net = f->lp->net;
  atomic_fetch_sub(&net->nflows, 1);
  if (f->counted_ip)
    net_ip_release(net, &f->peer);
  f->counted_ip = 0;
}

static void flow_free(imsec_net_flow *f) {
  net_stream_uncork(f);
  /* A lingering flow still held its socket, so it counted until now. */
  if (f->counts_held)
    net_flow_uncount(f);
  if (f->ssl)
    SSL_free(f->ssl);
  free(f->io.out);
  free(f->early);
  free(f->in);
  free(f->skey);
  net_flow_psk_free(f->psk);
  free(f->psk_seen);
  free(f->chain);
  free(f->chain_buf);
  if (f->sans)
    GENERAL_NAMES_free(f->sans);
  free(f);
}

void net_on_handle_closed(uv_handle_t *h) {
  imsec_net_flow *f = h->data;
  if (--f->handles == 0)
    flow_free(f);
}

imsec_net_flow *net_flow_new(struct net_loop *lp, imsec_net_transport tr,
                             uint64_t id) {
  imsec_net_flow *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  f->lp = lp;
  f->xp = net_xport_of(tr);
  f->tr = tr;
  f->id = id ? id : ((atomic_fetch_add(&lp->next_seq, 1) << 8) | lp->idx);
  f->born_ms = uv_now(&lp->loop);
  uv_timer_init(&lp->loop, &f->timer);
  f->timer.data = f;
  f->handles = 1;
  f->io.flow = f;
  return f;
}

/* Write application bytes (a message or a keepalive). */
int net_flow_write(imsec_net_flow *f, const uint8_t *p, size_t len) {
  if (f->state != F_UP)
    return IMSEC_ERR_CLOSED;
  return f->xp->write(f, p, len);
}

static void flow_down(imsec_net_flow *f, int reason) {
  imsec_net *net = f->lp->net;
  if ((f->was_up || !f->is_server) && net->cfg.handler.on_down)
    net->cfg.handler.on_down(net->cfg.handler.user, f, reason);
}

void net_flow_close(imsec_net_flow *f, int reason) {
  if (f->state == F_CLOSING)
    return;
  int was_up = f->state == F_UP;
  net_obs_close(f, reason);
  f->state = F_CLOSING;
  imsec_net *net = f->lp->net;
  if (reason == IMSEC_ERR_LIMIT || reason == IMSEC_ERR_TIMEOUT)
    atomic_fetch_add(&net->closed_limit, 1);
  /* A lingering flow keeps its socket open up to LINGER_MS: it keeps its
   * place under the caps until its handle closes, or refused input would
   * let one address hold any number of sockets. */
  f->counts_held = f->xp->stream && f->linger;
  if (!f->counts_held)
    net_flow_uncount(f);
  if (f->in_reuse)
    net_reuse_del(net, f);
  net_table_del(f->lp, f);
  int was_throttled = f->throttled;
  if (f->throttled) {
    for (imsec_net_flow **pp = &f->lp->throttled; *pp;
         pp = &(*pp)->throttle_next) {
      if (*pp == f) {
        *pp = f->throttle_next;
        break;
      }
    }
    f->throttled = 0;
  }
  FLOG(f, reason ? IMSEC_NET_LOG_INFO : IMSEC_NET_LOG_DEBUG, "down (%s)",
       reason ? imsec_strerror(reason) : "closed");
  flow_down(f, reason);
  uv_timer_stop(&f->timer);
  if (!f->xp->close(f, reason, was_up, was_throttled))
    uv_close((uv_handle_t *)&f->timer, net_on_handle_closed);
}

void net_flow_up(imsec_net_flow *f) {
  imsec_net *net = f->lp->net;
  f->state = F_UP;
  f->was_up = 1;
  f->hs_deadline = 0;
  f->dtls_deadline = 0;
  if (f->is_server && !f->keep && net->cfg.limits.idle_timeout_ms)
    f->idle_deadline = net_now_ms(f) + net->cfg.limits.idle_timeout_ms;
  if (f->xp->up)
    f->xp->up(f);
  else
    FLOG(f, IMSEC_NET_LOG_INFO, "up");
  net_obs_up(f);
  net_flow_arm(f);
  if (net->cfg.handler.on_up) {
    int r = net->cfg.handler.on_up(net->cfg.handler.user, f);
    if (r < 0 && f->state == F_UP) {
      FLOG(f, IMSEC_NET_LOG_INFO, "refused by owner (%s)", imsec_strerror(r));
      net_flow_close(f, r);
    }
  }
  /* Messages queued while connecting leave only now, after the owner's
   * on_up (the trust decision) accepted the peer. */
  if (f->early && f->state == F_UP) {
    uint8_t *e = f->early;
    size_t n = f->early_len;
    f->early = NULL;
    f->early_len = 0;
    int r = net_flow_write(f, e, n);
    free(e);
    if (r != 0)
      net_flow_close(f, r);
  }
}

void net_deliver_msg(imsec_net_flow *f, const uint8_t *p, size_t len) {
  imsec_net *net = f->lp->net;
  if (f->idle_deadline)
    f->idle_deadline = net_now_ms(f) + net->cfg.limits.idle_timeout_ms;
  if (net->cfg.handler.on_message)
    net->cfg.handler.on_message(net->cfg.handler.user, f, p, len);
}

/* The framer refused the stream: the owner may answer (on_refused), then
 * the flow closes, lingering so that the answer reaches the peer. */
void net_refuse_input(imsec_net_flow *f, int k, const uint8_t *head, size_t n) {
  imsec_net *net = f->lp->net;
  const char *what = k == IMSEC_ERR_LIMIT ? "message over the size limit"
                                          : "unframeable input";
  if (net->cfg.handler.on_refused) {
    /* The owner logs the refusal with what it answered. */
    FLOG(f, IMSEC_NET_LOG_DEBUG, "%s, closing", what);
    net->cfg.handler.on_refused(net->cfg.handler.user, f, k, head, n);
  } else {
    uint64_t held = 0;
    if (imsec_lograte_take(&f->lp->input_rate, (int64_t)net_now_ms(f), &held))
      FLOG(f, IMSEC_NET_LOG_WARN, "%s, closing%s", what,
           held ? "; similar lines were held back" : "");
  }
  if (f->state != F_UP)
    return;
  if (f->xp->stream)
    f->linger = 1;
  net_flow_close(f, k);
}

/* ---------------------------------------------------------------- timers */

static void set_min(uint64_t *m, uint64_t t) {
  if (t && (!*m || t < *m))
    *m = t;
}

static void on_flow_timer(uv_timer_t *t);

void net_flow_arm(imsec_net_flow *f) {
  if (f->state == F_CLOSING)
    return;
  uint64_t m = 0;
  set_min(&m, f->hs_deadline);
  set_min(&m, f->idle_deadline);
  set_min(&m, f->ka_next);
  set_min(&m, f->ka_deadline);
  set_min(&m, f->dtls_deadline);
  if (!m) {
    uv_timer_stop(&f->timer);
    return;
  }
  uint64_t now = net_now_ms(f);
  uv_timer_start(&f->timer, on_flow_timer, m > now ? m - now : 0, 0);
}

static void on_flow_timer(uv_timer_t *t) {
  imsec_net_flow *f = t->data;
  uint64_t now = net_now_ms(f);
  if (f->hs_deadline && now >= f->hs_deadline) {
    FLOG(f, IMSEC_NET_LOG_WARN, "handshake not done in %u ms, closing",
         f->lp->net->cfg.limits.handshake_timeout_ms);
    net_flow_close(f, IMSEC_ERR_TIMEOUT);
    return;
  }
  if (f->idle_deadline && now >= f->idle_deadline) {
    FLOG(f, IMSEC_NET_LOG_INFO, "idle before registration for %u ms, closing",
         f->lp->net->cfg.limits.idle_timeout_ms);
    net_flow_close(f, IMSEC_ERR_TIMEOUT);
    return;
  }
  if (f->ka_deadline && now >= f->ka_deadline) {
    FLOG(f, IMSEC_NET_LOG_WARN, "no keepalive pong in %u ms, flow dead",
         f->ka_timeout);
    net_flow_close(f, IMSEC_ERR_TIMEOUT);
    return;
  }
  if (f->dtls_deadline && now >= f->dtls_deadline) {
    f->dtls_deadline = 0;
    int r = f->xp->retransmit(f);
    if (r != 0) {
      net_flow_close(f, r);
      return;
    }
  }
  if (f->ka_next && now >= f->ka_next && f->state == F_UP) {
    /* RFC 5626 §4.4.1: CRLFCRLF ping, expect a CRLF pong. */
    static const uint8_t ping[4] = {'\r', '\n', '\r', '\n'};
    f->ka_next = now + f->ka_interval;
    if (!f->ping_out) {
      f->ping_out = 1;
      f->ka_deadline = now + f->ka_timeout;
    }
    int r = net_flow_write(f, ping, 4);
    if (r != 0) {
      net_flow_close(f, r);
      return;
    }
  }
  net_flow_arm(f);
}

/* ---------------------------------------------------------------- admission */

/* "; N more refusals held back" when lines were held back, else "". */
static const char *held_text(uint64_t held, char *buf, size_t cap) {
  if (!held)
    return "";
  snprintf(buf, cap, "; %llu more refusals held back",
           (unsigned long long)held);
  return buf;
}

int net_admit(struct net_loop *lp, const net_addr *peer, int *counted) {
  imsec_net *net = lp->net;
  *counted = 0;
  uint64_t held = 0;
  char hb[64];
  if (atomic_load(&net->nflows) >= net->cfg.limits.max_flows) {
    obs_add(&lp->obs.refused[OBS_REF_MAX_FLOWS], 1);
    if (imsec_lograte_take(&lp->refuse_rate, (int64_t)uv_now(&lp->loop),
                           &held)) {
      char t[64];
      net_addr_text(peer, t, sizeof t);
      net_log(net, IMSEC_NET_LOG_WARN,
              "refused connection from %s: %u flows open (limit)%s", t,
              net->cfg.limits.max_flows, held_text(held, hb, sizeof hb));
    }
    return 0;
  }
  if (!net_ip_acquire(net, peer)) {
    obs_add(&lp->obs.refused[OBS_REF_PER_IP], 1);
    /* At most one line a second: a flood from one address must not
     * become a flood of log lines. */
    if (imsec_lograte_take(&lp->refuse_rate, (int64_t)uv_now(&lp->loop),
                           &held)) {
      char t[64];
      net_addr_text(peer, t, sizeof t);
      net_log(net, IMSEC_NET_LOG_WARN,
              "refused connection from %s: %u flows from this address "
              "(max_flows_per_ip)%s",
              t, net->cfg.limits.max_flows_per_ip,
              held_text(held, hb, sizeof hb));
    }
    return 0;
  }
  *counted = 1;
  return 1;
}

/* ---------------------------------------------------------------- commands */

static void run_connect(struct net_loop *lp, struct cmd *c) {
  imsec_net *net = lp->net;
  imsec_net_flow *f = net_flow_new(lp, c->tr, c->id);
  if (!f) {
    if (c->reuse)
      net_reuse_del_id(net, c->tr, &c->peer, c->id);
    return;
  }
  f->peer = c->peer;
  f->user = c->user;
  f->in_reuse = (uint8_t)c->reuse;
  f->state = F_CONNECTING;
  f->skey = c->sni;
  f->has_sni = c->sni != NULL;
  c->sni = NULL;
  f->psk = c->psk;
  c->psk = NULL;
  if (!f->skey) {
    char t[64];
    net_addr_text(&f->peer, t, sizeof t);
    f->skey = strdup(t);
  }
  atomic_fetch_add(&net->nflows, 1);
  if (net_table_add(lp, f) != 0) {
    net_flow_close(f, IMSEC_ERR_NOMEM);
    return;
  }
  f->hs_deadline = net_now_ms(f) + net->cfg.limits.handshake_timeout_ms;
  net_flow_arm(f);
  f->xp->connect(f, c->has_local ? &c->local : NULL, c->tls);
}

static void loop_stop(struct net_loop *lp);

static void on_posted_closed(uv_handle_t *h) {
  free(h->data);
}

static void posted_unlink(struct net_loop *lp, struct posted *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    lp->posted = p->next;
  if (p->next)
    p->next->prev = p->prev;
}

static void on_posted(uv_timer_t *t) {
  struct posted *p = t->data;
  struct net_loop *lp =
      (struct net_loop *)((char *)t->loop - offsetof(struct net_loop, loop));
  posted_unlink(lp, p);
  p->fn(p->arg);
  uv_close((uv_handle_t *)&p->timer, on_posted_closed);
}

static void post_run(struct net_loop *lp, void (*fn)(void *), void *arg,
                     uint32_t delay_ms) {
  if (delay_ms == 0) {
    fn(arg);
    return;
  }
  struct posted *p = calloc(1, sizeof *p);
  if (!p) {
    net_log(lp->net, IMSEC_NET_LOG_ERROR, "out of memory: a timer is lost");
    return;
  }
  p->fn = fn;
  p->arg = arg;
  uv_timer_init(&lp->loop, &p->timer);
  p->timer.data = p;
  p->next = lp->posted;
  if (lp->posted)
    lp->posted->prev = p;
  lp->posted = p;
  uv_timer_start(&p->timer, on_posted, delay_ms, 0);
}

static void run_cmd(struct net_loop *lp, struct cmd *c) {
  imsec_net_flow *f;
  switch (c->type) {
  case CMD_SEND:
    f = net_find_id(lp, c->id);
    if (!f) {
      net_log(lp->net, IMSEC_NET_LOG_INFO, "flow %llu: gone, message dropped",
              (unsigned long long)c->id);
      break;
    }
    if (imsec_net_flow_send(f, c->data, c->len) != 0 && f->state == F_UP)
      FLOG(f, IMSEC_NET_LOG_INFO, "queued message refused");
    break;
  case CMD_CLOSE:
    f = net_find_id(lp, c->id);
    if (f)
      net_flow_close(f, 0);
    break;
  case CMD_CONNECT:
    run_connect(lp, c);
    break;
  case CMD_STOP:
    loop_stop(lp);
    break;
  case CMD_POST:
    post_run(lp, c->fn, c->user, c->delay_ms);
    break;
  }
}

static void free_cmd(struct cmd *c) {
  free(c->sni);
  net_flow_psk_free(c->psk);
  free(c);
}

static void on_async(uv_async_t *a) {
  struct net_loop *lp = a->data;
  uv_mutex_lock(&lp->qlock);
  struct cmd *c = lp->qhead;
  lp->qhead = lp->qtail = NULL;
  uv_mutex_unlock(&lp->qlock);
  while (c) {
    struct cmd *next = c->next;
    if (!lp->stopping || c->type != CMD_CONNECT)
      run_cmd(lp, c);
    free_cmd(c);
    c = next;
  }
}

static void enqueue(struct net_loop *lp, struct cmd *c) {
  c->next = NULL;
  uv_mutex_lock(&lp->qlock);
  if (lp->qtail)
    lp->qtail->next = c;
  else
    lp->qhead = c;
  lp->qtail = c;
  uv_mutex_unlock(&lp->qlock);
  uv_async_send(&lp->async);
}

static int on_own_thread(struct net_loop *lp) {
  if (!lp->running)
    return 0;
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &lp->thread);
}

static void on_prepare(uv_prepare_t *p) {
  struct net_loop *lp = p->data;
  lp->iter++;
  /* Output corked by timers and posted calls (which run before the poll)
   * leaves before the loop sleeps: the check phase comes only after it. */
  if (lp->corked)
    net_stream_uncork_all(lp);
}

static void close_noop(uv_handle_t *h) {
  (void)h;
}

static void loop_stop(struct net_loop *lp) {
  if (lp->stopping)
    return;
  lp->stopping = 1;
  /* Closing a flow takes it out of the map, which may shift later
   * entries back (and, wrapping, front ones to the end): look again at
   * the same slot, and walk again until the map is empty. */
  for (size_t it = 0; imsec_map_len(&lp->ids);) {
    imsec_map_slot *sl = imsec_map_next(&lp->ids, &it);
    if (!sl) {
      it = 0;
      continue;
    }
    it--;
    net_flow_close(sl->val, IMSEC_ERR_CLOSED);
  }
  /* Pending delayed calls are dropped, not run. */
  while (lp->posted) {
    struct posted *p = lp->posted;
    posted_unlink(lp, p);
    uv_close((uv_handle_t *)&p->timer, on_posted_closed);
  }
  for (lsock *ls = lp->listeners; ls; ls = ls->next)
    if (!uv_is_closing((uv_handle_t *)&ls->h)) /* paused: closed already */
      uv_close((uv_handle_t *)&ls->h, close_noop);
  uv_close((uv_handle_t *)&lp->async, close_noop);
  uv_close((uv_handle_t *)&lp->prep, close_noop);
  uv_close((uv_handle_t *)&lp->idle, close_noop);
  uv_close((uv_handle_t *)&lp->check, close_noop);
}

/* ================================================================ public */

int imsec_net_new(imsec_net **out, const imsec_net_config *cfg) {
  if (!out || !cfg)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  if (net_bio_init() != 0)
    return IMSEC_ERR_NOMEM;
  imsec_net *net = calloc(1, sizeof *net);
  if (!net)
    return IMSEC_ERR_NOMEM;
  net->cfg = *cfg;
  imsec_net_limits *l = &net->cfg.limits;
  if (!l->handshake_timeout_ms)
    l->handshake_timeout_ms = 10000;
  if (!l->idle_timeout_ms)
    l->idle_timeout_ms = 30000;
  if (!l->max_flows)
    l->max_flows = 200000;
  if (!l->max_flows_per_ip)
    l->max_flows_per_ip = 64;
  if (!l->max_msg)
    l->max_msg = 65536;
  if (!l->max_pending_out)
    l->max_pending_out = 1u << 20;
  if (!l->read_budget)
    l->read_budget = 256u << 10;
  if (!net->cfg.framer.frame)
    net->cfg.framer.frame = imsec_net_frame_cl;
  unsigned n = cfg->threads;
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (unsigned)c : 1;
  }
  if (n > MAX_LOOPS)
    n = MAX_LOOPS;
  if (uv_mutex_init(&net->iplock) != 0) {
    free(net);
    return IMSEC_ERR_NOMEM;
  }
  if (uv_mutex_init(&net->reuse_lock) != 0) {
    uv_mutex_destroy(&net->iplock);
    free(net);
    return IMSEC_ERR_NOMEM;
  }
  if (RAND_bytes(net->token_key, sizeof net->token_key) != 1 ||
      RAND_bytes(net->map_seed, sizeof net->map_seed) != 1) {
    uv_mutex_destroy(&net->reuse_lock);
    uv_mutex_destroy(&net->iplock);
    free(net);
    return IMSEC_ERR_CRYPTO;
  }
  imsec_map_init_str(&net->ips, net->map_seed);
  imsec_map_init_str(&net->reuse, net->map_seed);
  for (unsigned i = 0; i < n; i++) {
    struct net_loop *lp = calloc(1, sizeof *lp);
    if (!lp)
      goto fail_loops;
    lp->net = net;
    lp->idx = i;
    imsec_map_init_u64(&lp->ids);
    imsec_map_init_u64(&lp->addrs);
    lp->refuse_rate.per_window = 1;
    lp->refuse_rate.window_ms = 1000;
    lp->input_rate.per_window = 5;
    lp->input_rate.window_ms = 1000;
    atomic_init(&lp->next_seq, 1);
    if (uv_loop_init(&lp->loop) != 0) {
      free(lp);
      goto fail_loops;
    }
    uv_mutex_init(&lp->qlock);
    uv_async_init(&lp->loop, &lp->async, on_async);
    lp->async.data = lp;
    uv_prepare_init(&lp->loop, &lp->prep);
    lp->prep.data = lp;
    uv_prepare_start(&lp->prep, on_prepare);
    uv_idle_init(&lp->loop, &lp->idle);
    lp->idle.data = lp;
    uv_check_init(&lp->loop, &lp->check);
    lp->check.data = lp;
    net->loops[i] = lp;
    net->nloops = i + 1;
  }
  *out = net;
  return 0;
fail_loops:
  imsec_net_del(net);
  return IMSEC_ERR_NOMEM;
}

static void loop_thread(void *arg) {
  struct net_loop *lp = arg;
  /* A write to a peer that has gone raises SIGPIPE, which would kill the
   * whole process; libuv writes with write(2), so block the signal on the
   * loop threads (the only ones that write to sockets) and take EPIPE. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
#ifdef __linux__
  char name[16];
  snprintf(name, sizeof name, "imsec-net-%u", lp->idx);
  prctl(PR_SET_NAME, name, 0, 0, 0);
#endif
  uv_run(&lp->loop, UV_RUN_DEFAULT);
}

int imsec_net_start(imsec_net *net) {
  if (!net || net->started)
    return IMSEC_ERR_STATE;
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    lp->running = 1;
    if (uv_thread_create(&lp->thread, loop_thread, lp) != 0) {
      lp->running = 0;
      return IMSEC_ERR_IO;
    }
  }
  net->started = 1;
  return 0;
}

void imsec_net_del(imsec_net *net) {
  if (!net)
    return;
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    if (lp->running) {
      struct cmd *c = calloc(1, sizeof *c);
      if (c) {
        c->type = CMD_STOP;
        enqueue(lp, c);
      }
    }
  }
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    if (lp->running) {
      uv_thread_join(&lp->thread);
      lp->running = 0;
    }
  }
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    loop_stop(lp);
    uv_run(&lp->loop, UV_RUN_DEFAULT);
    uv_loop_close(&lp->loop);
    struct cmd *c = lp->qhead;
    while (c) {
      struct cmd *next = c->next;
      free_cmd(c);
      c = next;
    }
    while (lp->listeners) {
      lsock *ls = lp->listeners;
      lp->listeners = ls->next;
      if (ls->xp->unlisten)
        ls->xp->unlisten(ls);
      free(ls);
    }
    uv_mutex_destroy(&lp->qlock);
    imsec_map_free(&lp->ids);
    imsec_map_free(&lp->addrs);
    free(lp);
  }
  imsec_map_free(&net->ips);
  {
    size_t it = 0;
    for (imsec_map_slot *sl; (sl = imsec_map_next(&net->reuse, &it));)
      free(sl->val);
  }
  imsec_map_free(&net->reuse);
  imsec_wipe(net->map_seed, sizeof net->map_seed);
  uv_mutex_destroy(&net->reuse_lock);
  uv_mutex_destroy(&net->iplock);
  imsec_wipe(net->token_key, sizeof net->token_key);
  free(net);
}

static int open_socket(const net_addr *a, int type) {
  int fd = socket(a->sa.sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (a->sa.sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_STREAM) /* inherited by accepted sockets */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, &a->sa, net_addr_len(&a->sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int imsec_net_listen(imsec_net *net, imsec_net_transport tr,
                     const struct sockaddr *addr, imsec_net_tls *tls,
                     uint16_t *port) {
  if (!net || !addr)
    return IMSEC_ERR_INVAL;
  if (net->started)
    return IMSEC_ERR_STATE;
  const net_xport *xp = net_xport_of(tr);
  if (!xp)
    return IMSEC_ERR_INVAL;
  int secure = tr == IMSEC_NET_TLS || tr == IMSEC_NET_DTLS;
  if (secure && (!tls || !tls->server || tls->dtls != (tr == IMSEC_NET_DTLS)))
    return IMSEC_ERR_INVAL;
  net_addr a;
  IMSEC_GUARD(net_addr_copy(&a, addr));
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    /* SO_REUSEPORT: every loop has its own socket on the same port and the
     * kernel spreads connections (and UDP peers, by 4-tuple) over them. */
    int fd = open_socket(&a, xp->stream ? SOCK_STREAM : SOCK_DGRAM);
    if (fd < 0)
      return IMSEC_ERR_IO;
    if (i == 0) {
      socklen_t sl = sizeof a;
      getsockname(fd, &a.sa, &sl);
    }
    lsock *ls = calloc(1, sizeof *ls);
    if (!ls) {
      close(fd);
      return IMSEC_ERR_NOMEM;
    }
    ls->lp = lp;
    ls->xp = xp;
    ls->tr = tr;
    ls->tls = tls;
    int r = xp->listen(ls, fd);
    ls->next = lp->listeners;
    lp->listeners = ls;
    if (r != 0)
      return IMSEC_ERR_IO;
  }
  if (port)
    *port = ntohs(a.sa.sa_family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
  char t[64];
  net_addr_text(&a, t, sizeof t);
  net_log(net, IMSEC_NET_LOG_INFO, "listening on %s %s (%u loops)",
          imsec_net_transport_name(tr), t, net->nloops);
  return 0;
}

int imsec_net_connect(imsec_net *net, const imsec_net_connect_opts *o,
                      uint64_t *id) {
  if (!net || !o || !id || !o->peer || !net_xport_of(o->transport))
    return IMSEC_ERR_INVAL;
  int secure = o->transport == IMSEC_NET_TLS || o->transport == IMSEC_NET_DTLS;
  if (secure && (!o->tls || o->tls->server ||
                 o->tls->dtls != (o->transport == IMSEC_NET_DTLS)))
    return IMSEC_ERR_INVAL;
  size_t pil = o->psk_key_len && o->psk_identity ? strlen(o->psk_identity) : 0;
  if (o->psk_key_len &&
      (!secure || !o->psk_key || o->psk_key_len > NET_PSK_KEY_MAX || pil == 0 ||
       pil > NET_PSK_ID_MAX))
    return IMSEC_ERR_INVAL;
  if (atomic_load(&net->nflows) >= net->cfg.limits.max_flows)
    return IMSEC_ERR_LIMIT;
  struct cmd *c = calloc(1, sizeof *c);
  if (!c)
    return IMSEC_ERR_NOMEM;
  c->type = CMD_CONNECT;
  c->tr = o->transport;
  c->tls = o->tls;
  c->user = o->user;
  c->reuse = o->reuse;
  if (o->psk_key_len) {
    /* The key is this connection's alone: RFC 5923 reuse would hand the
     * flow to callers that did not prove it, or hand this caller a flow
     * authenticated otherwise. */
    c->reuse = 0;
    if (!(c->psk = calloc(1, sizeof *c->psk))) {
      free(c);
      return IMSEC_ERR_NOMEM;
    }
    memcpy(c->psk->id, o->psk_identity, pil + 1);
    memcpy(c->psk->key, o->psk_key, o->psk_key_len);
    c->psk->key_len = o->psk_key_len;
  }
  if (net_addr_copy(&c->peer, o->peer) != 0 ||
      (o->local && net_addr_copy(&c->local, o->local) != 0)) {
    free_cmd(c);
    return IMSEC_ERR_INVAL;
  }
  c->has_local = o->local != NULL;
  if (o->server_name && !(c->sni = strdup(o->server_name))) {
    free_cmd(c);
    return IMSEC_ERR_NOMEM;
  }
  struct net_loop *lp = net->loops[atomic_fetch_add(&net->rr, 1) % net->nloops];
  c->id = (atomic_fetch_add(&lp->next_seq, 1) << 8) | lp->idx;
  if (c->reuse) {
    /* RFC 5923: one connection per (transport, peer), whichever thread
     * asks; the id is known before the flow is up, so messages sent on it
     * meanwhile are queued (streams) until on_up. */
    int r = net_reuse_claim(net, c->tr, &c->peer, c->id, id);
    if (r != 0) {
      free_cmd(c);
      return r < 0 ? r : 0;
    }
  }
  *id = c->id;
  if (on_own_thread(lp)) {
    run_connect(lp, c);
    free_cmd(c);
  } else {
    enqueue(lp, c);
  }
  return 0;
}

static struct net_loop *loop_of(imsec_net *net, uint64_t id) {
  unsigned li = (unsigned)(id & 0xff);
  return li < net->nloops ? net->loops[li] : NULL;
}

int imsec_net_send(imsec_net *net, uint64_t id, const uint8_t *p, size_t len) {
  if (!net || (!p && len))
    return IMSEC_ERR_INVAL;
  struct net_loop *lp = loop_of(net, id);
  if (!lp)
    return IMSEC_ERR_CLOSED;
  if (on_own_thread(lp)) {
    imsec_net_flow *f = net_find_id(lp, id);
    return f ? imsec_net_flow_send(f, p, len) : IMSEC_ERR_CLOSED;
  }
  if (len > net->cfg.limits.max_msg)
    return IMSEC_ERR_LIMIT;
  struct cmd *c = malloc(sizeof *c + len);
  if (!c)
    return IMSEC_ERR_NOMEM;
  memset(c, 0, sizeof *c);
  c->type = CMD_SEND;
  c->id = id;
  c->len = len;
  if (len)
    memcpy(c->data, p, len);
  enqueue(lp, c);
  return 0;
}

int imsec_net_close(imsec_net *net, uint64_t id) {
  if (!net)
    return IMSEC_ERR_INVAL;
  struct net_loop *lp = loop_of(net, id);
  if (!lp)
    return IMSEC_ERR_CLOSED;
  if (on_own_thread(lp)) {
    imsec_net_flow *f = net_find_id(lp, id);
    if (!f)
      return IMSEC_ERR_CLOSED;
    net_flow_close(f, 0);
    return 0;
  }
  struct cmd *c = calloc(1, sizeof *c);
  if (!c)
    return IMSEC_ERR_NOMEM;
  c->type = CMD_CLOSE;
  c->id = id;
  enqueue(lp, c);
  return 0;
}

unsigned imsec_net_loops(const imsec_net *net) {
  return net->nloops;
}

unsigned imsec_net_loop_of(uint64_t id) {
  return (unsigned)(id & 0xff);
}

int imsec_net_post(imsec_net *net, unsigned loop, uint32_t delay_ms,
                   void (*fn)(void *arg), void *arg) {
  if (!net || !fn || loop >= net->nloops)
    return IMSEC_ERR_INVAL;
  struct net_loop *lp = net->loops[loop];
  if (on_own_thread(lp)) {
    if (lp->stopping)
      return IMSEC_ERR_CLOSED;
    post_run(lp, fn, arg, delay_ms);
    return 0;
  }
  struct cmd *c = calloc(1, sizeof *c);
  if (!c)
    return IMSEC_ERR_NOMEM;
  c->type = CMD_POST;
  c->fn = fn;
  c->user = arg;
  c->delay_ms = delay_ms;
  enqueue(lp, c);
  return 0;
}

void imsec_net_get_stats(imsec_net *net, imsec_net_stats *s) {
  s->flows = atomic_load(&net->nflows);
  s->accepted = atomic_load(&net->accepted);
  s->refused = atomic_load(&net->refused);
  s->handshakes = atomic_load(&net->handshakes);
  s->resumed = atomic_load(&net->resumed);
  s->closed_limit = atomic_load(&net->closed_limit);
}

/* ------------------------------------------------------------ operations */

/* imsec_net_metrics and imsec_net_list_flows: net/obs.c. */

/* On the loop's thread: close its stream listeners. Their lsock stays in
 * the list (imsec_net_del frees it); a datagram listener's socket also
 * carries the flows it took, so it stays open and on_listen_recv refuses
 * new peers instead (net->paused). */
static void pause_loop(void *arg) {
  struct net_loop *lp = arg;
  if (lp->stopping)
    return;
  for (lsock *ls = lp->listeners; ls; ls = ls->next)
    if (ls->xp->stream && !uv_is_closing((uv_handle_t *)&ls->h))
      uv_close((uv_handle_t *)&ls->h, close_noop);
}

void imsec_net_pause_listeners(imsec_net *net) {
  if (!net || atomic_exchange(&net->paused, 1))
    return;
  net_log(net, IMSEC_NET_LOG_INFO, "listeners paused: no new flows");
  for (unsigned i = 0; i < net->nloops; i++) {
    struct net_loop *lp = net->loops[i];
    if (!lp->running) {
      /* Not started: nothing runs on the loop, close here. */
      pause_loop(lp);
      continue;
    }
    if (imsec_net_post(net, i, 0, pause_loop, lp) != 0)
      net_log(net, IMSEC_NET_LOG_ERROR,
              "out of memory: a listener stays open during the drain");
  }
}
