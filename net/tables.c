/*
 * The tables behind the core: each loop's flows by id and by (transport,
 * peer address); the per-source-address counts under max_flows_per_ip and
 * the RFC 5923 reuse table, both shared by all loops under a lock; and the
 * address helpers they hash and compare with.
 *
 * Plain data structures, no sockets and no OpenSSL: apart from net.c so
 * that the core file holds the flow life and the loops, not the hashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"

/* ================================================================ addresses */

socklen_t net_addr_len(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

int net_addr_copy(net_addr *dst, const struct sockaddr *sa) {
  if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
    return IMSEC_ERR_INVAL;
  memset(dst, 0, sizeof *dst);
  memcpy(dst, sa, net_addr_len(sa));
  return 0;
}

int net_addr_eq(const net_addr *a, const net_addr *b) {
  if (a->sa.sa_family != b->sa.sa_family)
    return 0;
  if (a->sa.sa_family == AF_INET)
    return a->in4.sin_port == b->in4.sin_port &&
           a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
  return a->in6.sin6_port == b->in6.sin6_port &&
         memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

/* The host part as 16 octets (IPv4 mapped), for per-address counts. */
static void addr_host16(const net_addr *a, uint8_t out[16]) {
  memset(out, 0, 16);
  if (a->sa.sa_family == AF_INET) {
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a->in4.sin_addr, 4);
  } else {
    memcpy(out, &a->in6.sin6_addr, 16);
  }
}

/* The map key of (transport, peer): transport, family, port and host
 * part, so two keys are equal exactly when net_addr_eq holds and the
 * transports match. */
#define ADDR_KEY_LEN 20
static imsec_str addr_key(imsec_net_transport tr, const net_addr *a,
                          uint8_t out[ADDR_KEY_LEN]) {
  uint16_t port =
      a->sa.sa_family == AF_INET ? a->in4.sin_port : a->in6.sin6_port;
  out[0] = (uint8_t)tr;
  out[1] = a->sa.sa_family == AF_INET ? 4 : 6;
  memcpy(out + 2, &port, 2);
  addr_host16(a, out + 4);
  return imsec_str_make((const char *)out, ADDR_KEY_LEN);
}

/* ================================================================ tables */

/* A new value for a key the map holds: no allocation, so no failure. */
static void replace_val(imsec_map *m, imsec_str k, void *val) {
  int r = imsec_map_sput(m, k, val, NULL);
  (void)r;
}

/* The per-loop address map is keyed by a u64: the SipHash of the
 * address key under the instance's seed, so adding a flow allocates no
 * key copy. Flows whose keys hash alike (the same (transport, peer), one
 * per listener, or a 64-bit collision) chain through addr_next off the
 * map's entry, newest first, and look-ups compare the real address.
 * The chain is doubly linked: a load generator's flows all go to one
 * peer, so one chain holds every flow in flight and a removal that
 * walked it cost a tenth of the generator's CPU. */
static uint64_t addr_hkey(const struct net_loop *lp, imsec_net_transport tr,
                          const net_addr *a) {
  uint8_t kb[ADDR_KEY_LEN];
  imsec_str k = addr_key(tr, a, kb);
  return imsec_siphash24(lp->net->map_seed, k.p, k.len);
}

int net_table_add(struct net_loop *lp, imsec_net_flow *f) {
  if (imsec_map_put(&lp->ids, f->id, f, NULL) != 0)
    return IMSEC_ERR_NOMEM;
  uint64_t k = addr_hkey(lp, f->tr, &f->peer);
  f->addr_next = imsec_map_get(&lp->addrs, k);
  f->addr_prev = NULL;
  if (imsec_map_put(&lp->addrs, k, f, NULL) != 0) {
    f->addr_next = NULL;
    (void)imsec_map_del(&lp->ids, f->id);
    return IMSEC_ERR_NOMEM;
  }
  if (f->addr_next)
    f->addr_next->addr_prev = f;
  return 0;
}

void net_table_del(struct net_loop *lp, imsec_net_flow *f) {
  if (imsec_map_get(&lp->ids, f->id) == f)
    (void)imsec_map_del(&lp->ids, f->id);
  if (f->addr_prev) {
    f->addr_prev->addr_next = f->addr_next;
  } else {
    uint64_t k = addr_hkey(lp, f->tr, &f->peer);
    if (imsec_map_get(&lp->addrs, k) == f) {
      if (f->addr_next) {
        /* a new value for a present key: no allocation, no failure */
        int r = imsec_map_put(&lp->addrs, k, f->addr_next, NULL);
        (void)r;
      } else {
        (void)imsec_map_del(&lp->addrs, k);
      }
    }
  }
  if (f->addr_next)
    f->addr_next->addr_prev = f->addr_prev;
  f->addr_next = NULL;
  f->addr_prev = NULL;
}

imsec_net_flow *net_find_id(struct net_loop *lp, uint64_t id) {
  return imsec_map_get(&lp->ids, id);
}

imsec_net_flow *net_find_addr(struct net_loop *lp, imsec_net_transport tr,
                              const net_addr *a, lsock *ls) {
  imsec_net_flow *f = imsec_map_get(&lp->addrs, addr_hkey(lp, tr, a));
  for (; f; f = f->addr_next) {
    if (f->tr == tr && net_addr_eq(&f->peer, a) && f->state != F_CLOSING &&
        (!ls || f->ls == ls))
      return f;
  }
  return NULL;
}

/* Per-source-address counts (accepted flows), shared by all loops. The
 * count lives in the value pointer (never 0 while present), so counting
 * allocates nothing beyond the map's key. */
int net_ip_acquire(imsec_net *net, const net_addr *a) {
  uint8_t h[16];
  addr_host16(a, h);
  imsec_str k = imsec_str_make((const char *)h, sizeof h);
  int ok = 0;
  uv_mutex_lock(&net->iplock);
  uintptr_t n = (uintptr_t)imsec_map_sget(&net->ips, k);
  if (n < net->cfg.limits.max_flows_per_ip &&
      imsec_map_sput(&net->ips, k, (void *)(n + 1), NULL) == 0)
    ok = 1;
  uv_mutex_unlock(&net->iplock);
  return ok;
}

void net_ip_release(imsec_net *net, const net_addr *a) {
  uint8_t h[16];
  addr_host16(a, h);
  imsec_str k = imsec_str_make((const char *)h, sizeof h);
  uv_mutex_lock(&net->iplock);
  uintptr_t n = (uintptr_t)imsec_map_sget(&net->ips, k);
  if (n > 1)
    replace_val(&net->ips, k, (void *)(n - 1));
  else if (n == 1)
    (void)imsec_map_sdel(&net->ips, k);
  uv_mutex_unlock(&net->iplock);
}

int net_reuse_claim(imsec_net *net, imsec_net_transport tr,
                    const net_addr *peer, uint64_t id, uint64_t *have) {
  uint8_t kb[ADDR_KEY_LEN];
  imsec_str k = addr_key(tr, peer, kb);
  int rv = 0;
  uv_mutex_lock(&net->reuse_lock);
  struct reuse_ent *e = imsec_map_sget(&net->reuse, k);
  if (e) {
    *have = e->id;
    rv = 1;
  } else if (!(e = malloc(sizeof *e))) {
    rv = IMSEC_ERR_NOMEM;
  } else {
    e->id = id;
    if (imsec_map_sput(&net->reuse, k, e, NULL) != 0) {
      free(e);
      rv = IMSEC_ERR_NOMEM;
    }
  }
  uv_mutex_unlock(&net->reuse_lock);
  return rv;
}

void net_reuse_del_id(imsec_net *net, imsec_net_transport tr,
                      const net_addr *peer, uint64_t id) {
  uint8_t kb[ADDR_KEY_LEN];
  imsec_str k = addr_key(tr, peer, kb);
  uv_mutex_lock(&net->reuse_lock);
  struct reuse_ent *e = imsec_map_sget(&net->reuse, k);
  if (e && e->id == id)
    free(imsec_map_sdel(&net->reuse, k));
  uv_mutex_unlock(&net->reuse_lock);
}

void net_reuse_del(imsec_net *net, imsec_net_flow *f) {
  net_reuse_del_id(net, f->tr, &f->peer, f->id);
  f->in_reuse = 0;
}
