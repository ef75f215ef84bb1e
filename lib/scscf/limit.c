/* Bounded per-key counters for the S-CSCF's flood limits (limit.h). */
#include <stdlib.h>
#include <string.h>

#include "limit.h"

/* SipHash-2-4 (Aumasson, Bernstein 2012): a keyed hash, so the bucket of a
 * key cannot be predicted by whoever chooses the keys (IMPIs, Via hosts). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4]) {
  v[0] += v[1];
  v[1] = ROTL(v[1], 13);
  v[1] ^= v[0];
  v[0] = ROTL(v[0], 32);
  v[2] += v[3];
  v[3] = ROTL(v[3], 16);
  v[3] ^= v[2];
  v[0] += v[3];
  v[3] = ROTL(v[3], 21);
  v[3] ^= v[0];
  v[2] += v[1];
  v[1] = ROTL(v[1], 17);
  v[1] ^= v[2];
  v[2] = ROTL(v[2], 32);
}

static uint64_t le64(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--)
    x = x << 8 | p[i];
  return x;
}

static uint64_t siphash(const uint64_t k[2], const uint8_t *p, size_t len) {
  uint64_t v[4] = {
      k[0] ^ UINT64_C(0x736f6d6570736575), k[1] ^ UINT64_C(0x646f72616e646f6d),
      k[0] ^ UINT64_C(0x6c7967656e657261), k[1] ^ UINT64_C(0x7465646279746573)};
  size_t full = len & ~(size_t)7;
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = le64(p + i);
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
  }
  uint64_t b = (uint64_t)len << 56;
  for (size_t i = full; i < len; i++)
    b |= (uint64_t)p[i] << (8 * (i - full));
  v[3] ^= b;
  sip_round(v);
  sip_round(v);
  v[0] ^= b;
  v[2] ^= 0xff;
  for (int i = 0; i < 4; i++)
    sip_round(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

int imsec_limit_init(limit_table *t, size_t max, imsec_time_ms window,
                     const uint8_t seed[16]) {
  if (!t || !max || window <= 0 || !seed)
    return IMSEC_ERR_INVAL;
  memset(t, 0, sizeof(*t));
  size_t nb = 16;
  while (nb < max && nb < ((size_t)1 << 20))
    nb <<= 1;
  t->buckets = calloc(nb, sizeof(*t->buckets));
  if (!t->buckets)
    return IMSEC_ERR_NOMEM;
  t->nbuckets = nb;
  t->max = max;
  t->window = window;
  t->seed[0] = le64(seed);
  t->seed[1] = le64(seed + 8);
  return 0;
}

void imsec_limit_free(limit_table *t) {
  if (!t)
    return;
  for (limit_entry *e = t->head, *n; e; e = n) {
    n = e->next;
    free(e);
  }
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}

static void lru_unlink(limit_table *t, limit_entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    t->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    t->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(limit_table *t, limit_entry *e) {
  e->prev = NULL;
  e->next = t->head;
  if (t->head)
    t->head->prev = e;
  t->head = e;
  if (!t->tail)
    t->tail = e;
}

static void evict(limit_table *t, limit_entry *e) {
  limit_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = e->hnext;
  lru_unlink(t, e);
  free(e);
  t->n--;
}

/* Bounded work: look at a few of the least recently used entries only. */
#define EVICT_TRIES 8

limit_entry *imsec_limit_get(limit_table *t, imsec_str key, imsec_time_ms now,
                             int create) {
  if (!t || !t->buckets)
    return NULL;
  /* Expiry by the time passed in, a little per call: idle entries at the
   * least recently used end (window over, not locked) hold nothing a new
   * entry would not, so they go. */
  for (int i = 0; i < 2 && t->tail; i++) {
    limit_entry *v = t->tail;
    if (v->locked_until > now || now - v->win_start < t->window)
      break;
    evict(t, v);
  }
  uint64_t h = siphash(t->seed, (const uint8_t *)key.p, key.len);
  limit_entry *e = t->buckets[h & (t->nbuckets - 1)];
  while (e && !(e->hash == h && e->klen == key.len &&
                (key.len == 0 || memcmp(e->key, key.p, key.len) == 0)))
    e = e->hnext;
  if (!e) {
    if (!create)
      return NULL;
    if (t->n >= t->max) {
      limit_entry *v = t->tail;
      for (int i = 0; v && i < EVICT_TRIES && v->locked_until > now; i++)
        v = v->prev;
      if (!v || v->locked_until > now)
        return NULL;
      evict(t, v);
    }
    e = calloc(1, sizeof(*e) + key.len + 1);
    if (!e)
      return NULL;
    e->hash = h;
    e->klen = key.len;
    if (key.len)
      memcpy(e->key, key.p, key.len);
    e->win_start = now;
    size_t b = h & (t->nbuckets - 1);
    e->hnext = t->buckets[b];
    t->buckets[b] = e;
    t->n++;
  } else {
    lru_unlink(t, e);
  }
  lru_push(t, e);
  if (now - e->win_start >= t->window || now < e->win_start) {
    e->win_start = now;
    e->challenges = e->failures = 0;
    e->logged = 0;
  }
  if (e->locked_until && e->locked_until <= now)
    e->locked_until = 0;
  return e;
}

uint32_t imsec_limit_left_s(const limit_table *t, const limit_entry *e,
                            imsec_time_ms now) {
  imsec_time_ms left = e->win_start + t->window - now;
  if (left < 1000)
    return 1;
  imsec_time_ms s = (left + 999) / 1000;
  return s > 86400 ? 86400 : (uint32_t)s;
}
