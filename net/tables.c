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

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t addr_hash(imsec_net_transport tr, const net_addr *a) {
  uint8_t h[16];
  addr_host16(a, h);
  uint64_t x = (uint64_t)tr * 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 16; i++)
    x = (x ^ h[i]) * 0x100000001b3ULL;
  uint16_t port =
      a->sa.sa_family == AF_INET ? a->in4.sin_port : a->in6.sin6_port;
  return mix64(x ^ port);
}

/* ================================================================ tables */

static int table_grow(imsec_net_flow ***tab, size_t *cap, size_t n,
                      int by_addr) {
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? 2 * *cap : 256;
  imsec_net_flow **nt = calloc(ncap, sizeof *nt);
  if (!nt)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < *cap; i++) {
    imsec_net_flow *f = (*tab)[i];
    while (f) {
      imsec_net_flow *next = by_addr ? f->addr_next : f->id_next;
      size_t b = (size_t)(by_addr ? addr_hash(f->tr, &f->peer) : mix64(f->id)) &
                 (ncap - 1);
      if (by_addr) {
        f->addr_next = nt[b];
      } else {
        f->id_next = nt[b];
      }
      nt[b] = f;
      f = next;
    }
  }
  free(*tab);
  *tab = nt;
  *cap = ncap;
  return 0;
}

int net_table_add(struct net_loop *lp, imsec_net_flow *f) {
  if (table_grow(&lp->ids, &lp->ids_cap, lp->nids, 0) != 0 ||
      table_grow(&lp->addrs, &lp->addrs_cap, lp->naddrs, 1) != 0)
    return IMSEC_ERR_NOMEM;
  size_t b = (size_t)mix64(f->id) & (lp->ids_cap - 1);
  f->id_next = lp->ids[b];
  lp->ids[b] = f;
  lp->nids++;
  b = (size_t)addr_hash(f->tr, &f->peer) & (lp->addrs_cap - 1);
  f->addr_next = lp->addrs[b];
  lp->addrs[b] = f;
  lp->naddrs++;
  return 0;
}

void net_table_del(struct net_loop *lp, imsec_net_flow *f) {
  if (!lp->ids_cap)
    return;
  size_t b = (size_t)mix64(f->id) & (lp->ids_cap - 1);
  for (imsec_net_flow **pp = &lp->ids[b]; *pp; pp = &(*pp)->id_next) {
    if (*pp == f) {
      *pp = f->id_next;
      lp->nids--;
      break;
    }
  }
  b = (size_t)addr_hash(f->tr, &f->peer) & (lp->addrs_cap - 1);
  for (imsec_net_flow **pp = &lp->addrs[b]; *pp; pp = &(*pp)->addr_next) {
    if (*pp == f) {
      *pp = f->addr_next;
      lp->naddrs--;
      break;
    }
  }
}

imsec_net_flow *net_find_id(struct net_loop *lp, uint64_t id) {
  if (!lp->ids_cap)
    return NULL;
  imsec_net_flow *f = lp->ids[(size_t)mix64(id) & (lp->ids_cap - 1)];
  while (f && f->id != id)
    f = f->id_next;
  return f;
}

imsec_net_flow *net_find_addr(struct net_loop *lp, imsec_net_transport tr,
                              const net_addr *a, lsock *ls) {
  if (!lp->addrs_cap)
    return NULL;
  imsec_net_flow *f = lp->addrs[(size_t)addr_hash(tr, a) & (lp->addrs_cap - 1)];
  for (; f; f = f->addr_next) {
    if (f->tr == tr && net_addr_eq(&f->peer, a) && f->state != F_CLOSING &&
        (!ls || f->ls == ls))
      return f;
  }
  return NULL;
}

/* Per-source-address counts (accepted flows), shared by all loops. */
int net_ip_acquire(imsec_net *net, const net_addr *a) {
  uint8_t h[16];
  addr_host16(a, h);
  size_t b = (size_t)(mix64(h[12] | (uint64_t)h[13] << 8 |
                            (uint64_t)h[14] << 16 | (uint64_t)h[15] << 24 |
                            (uint64_t)h[0] << 32 | (uint64_t)h[1] << 40) %
                      1024);
  int ok = 1;
  uv_mutex_lock(&net->iplock);
  struct ip_count *e = net->ips[b];
  while (e && memcmp(e->a, h, 16) != 0)
    e = e->next;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (e) {
      memcpy(e->a, h, 16);
      e->next = net->ips[b];
      net->ips[b] = e;
    }
  }
  if (!e || e->n >= net->cfg.limits.max_flows_per_ip)
    ok = 0;
  else
    e->n++;
  uv_mutex_unlock(&net->iplock);
  return ok;
}

void net_ip_release(imsec_net *net, const net_addr *a) {
  uint8_t h[16];
  addr_host16(a, h);
  size_t b = (size_t)(mix64(h[12] | (uint64_t)h[13] << 8 |
                            (uint64_t)h[14] << 16 | (uint64_t)h[15] << 24 |
                            (uint64_t)h[0] << 32 | (uint64_t)h[1] << 40) %
                      1024);
  uv_mutex_lock(&net->iplock);
  for (struct ip_count **pp = &net->ips[b]; *pp; pp = &(*pp)->next) {
    if (memcmp((*pp)->a, h, 16) == 0) {
      if (--(*pp)->n == 0) {
        struct ip_count *dead = *pp;
        *pp = dead->next;
        free(dead);
      }
      break;
    }
  }
  uv_mutex_unlock(&net->iplock);
}

size_t net_reuse_bucket(imsec_net_transport tr, const net_addr *a) {
  return (size_t)(addr_hash(tr, a) & 255);
}

void net_reuse_del_id(imsec_net *net, imsec_net_transport tr,
                      const net_addr *peer, uint64_t id) {
  uv_mutex_lock(&net->reuse_lock);
  for (struct reuse_ent **pp = &net->reuse[net_reuse_bucket(tr, peer)]; *pp;
       pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      struct reuse_ent *dead = *pp;
      *pp = dead->next;
      free(dead);
      break;
    }
  }
  uv_mutex_unlock(&net->reuse_lock);
}

void net_reuse_del(imsec_net *net, imsec_net_flow *f) {
  net_reuse_del_id(net, f->tr, &f->peer, f->id);
  f->in_reuse = 0;
}
