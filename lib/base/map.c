/* The hash map of include/imsec/map.h. */
#include <stdlib.h>
#include <string.h>

#include "imsec/map.h"

/* ------------------------------------------------------------- SipHash */

static uint64_t rotl(uint64_t x, unsigned b) {
  return (x << b) | (x >> (64 - b));
}

static uint64_t load64(const uint8_t *p) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = rotl(v1, 13);                                                         \
    v1 ^= v0;                                                                  \
    v0 = rotl(v0, 32);                                                         \
    v2 += v3;                                                                  \
    v3 = rotl(v3, 16);                                                         \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = rotl(v3, 21);                                                         \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = rotl(v1, 17);                                                         \
    v1 ^= v2;                                                                  \
    v2 = rotl(v2, 32);                                                         \
  } while (0)

uint64_t imsec_siphash24(const uint8_t key[16], const void *data, size_t len) {
  const uint8_t *in = data;
  uint64_t k0 = load64(key), k1 = load64(key + 8);
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  uint64_t v3 = 0x7465646279746573ULL ^ k1;
  size_t full = len - (len % 8);
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = load64(in + i);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  /* The last block: the remaining octets, the length in the top octet. */
  uint64_t b = (uint64_t)len << 56;
  for (size_t i = 0; i < len % 8; i++)
    b |= (uint64_t)in[full + i] << (8 * i);
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* ---------------------------------------------------------------- map */

static uint64_t mix64(uint64_t x) {
  /* A bijective finaliser (splitmix64's): ids that differ in low bits
   * spread over the table. */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* Hash 0 marks an empty slot. */
static uint64_t nonzero(uint64_t h) {
  return h ? h : 1;
}

static uint64_t hash_str(const imsec_map *m, imsec_str k) {
  return nonzero(imsec_siphash24(m->seed, k.p, k.len));
}

static uint64_t hash_int(uint64_t k) {
  return nonzero(mix64(k));
}

void imsec_map_init_u64(imsec_map *m) {
  memset(m, 0, sizeof(*m));
}

void imsec_map_init_str(imsec_map *m, const uint8_t seed[16]) {
  memset(m, 0, sizeof(*m));
  m->strkeys = 1;
  if (seed)
    memcpy(m->seed, seed, sizeof(m->seed));
}

void imsec_map_free(imsec_map *m) {
  for (size_t i = 0; i < m->cap; i++)
    free(m->slots[i].skey);
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}

size_t imsec_map_len(const imsec_map *m) {
  return m->n;
}

static int key_eq(const imsec_map_slot *s, uint64_t h, uint64_t ikey,
                  imsec_str skey, int strkeys) {
  if (s->hash != h)
    return 0;
  if (!strkeys)
    return s->ikey == ikey;
  /* Table keys are identities and addresses, never secrets. */
  if (s->ikey != skey.len)
    return 0;
  return skey.len == 0 ||
         memcmp(s->skey, skey.p, skey.len) == 0; /* no secret: table key */
}

static size_t find(const imsec_map *m, uint64_t h, uint64_t ikey,
                   imsec_str skey) {
  if (!m->cap)
    return SIZE_MAX;
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const imsec_map_slot *s = &m->slots[i];
    if (!s->hash)
      return SIZE_MAX;
    if (key_eq(s, h, ikey, skey, m->strkeys))
      return i;
  }
}

static void place(imsec_map_slot *slots, size_t cap, const imsec_map_slot *e) {
  size_t mask = cap - 1;
  size_t i = (size_t)e->hash & mask;
  while (slots[i].hash)
    i = (i + 1) & mask;
  slots[i] = *e;
}

static int grow(imsec_map *m) {
  size_t cap = m->cap ? 2 * m->cap : 16;
  if (cap < m->cap || cap > SIZE_MAX / sizeof(imsec_map_slot))
    return IMSEC_ERR_NOMEM;
  imsec_map_slot *slots = calloc(cap, sizeof(*slots));
  if (!slots)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].hash)
      place(slots, cap, &m->slots[i]);
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}

static int put(imsec_map *m, uint64_t h, uint64_t ikey, imsec_str skey,
               void *val, void **old) {
  if (old)
    *old = NULL;
  size_t at = find(m, h, ikey, skey);
  if (at != SIZE_MAX) {
    if (old)
      *old = m->slots[at].val;
    m->slots[at].val = val;
    return 0;
  }
  if ((m->n + 1) * 4 > m->cap * 3)
    IMSEC_GUARD(grow(m));
  imsec_map_slot e = {.hash = h, .ikey = ikey, .val = val};
  if (m->strkeys) {
    e.skey = malloc(skey.len + 1);
    if (!e.skey)
      return IMSEC_ERR_NOMEM;
    if (skey.len)
      memcpy(e.skey, skey.p, skey.len);
    e.skey[skey.len] = '\0';
    e.ikey = skey.len;
  }
  place(m->slots, m->cap, &e);
  m->n++;
  return 0;
}

/* Backward-shift deletion: later entries of the probe run move up so no
 * lookup ever stops early at the hole. */
static void *remove_at(imsec_map *m, size_t at) {
  size_t mask = m->cap - 1;
  void *val = m->slots[at].val;
  free(m->slots[at].skey);
  size_t hole = at;
  for (size_t i = (hole + 1) & mask; m->slots[i].hash; i = (i + 1) & mask) {
    size_t home = (size_t)m->slots[i].hash & mask;
    /* Move the entry into the hole when its home is not within
     * (hole, i] cyclically. */
    int stays =
        hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      m->slots[hole] = m->slots[i];
      hole = i;
    }
  }
  memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
  m->n--;
  return val;
}

void *imsec_map_get(const imsec_map *m, uint64_t key) {
  size_t at = find(m, hash_int(key), key, IMSEC_STR_NULL);
  return at == SIZE_MAX ? NULL : m->slots[at].val;
}

int imsec_map_put(imsec_map *m, uint64_t key, void *val, void **old) {
  if (m->strkeys)
    return IMSEC_ERR_INVAL;
  return put(m, hash_int(key), key, IMSEC_STR_NULL, val, old);
}

void *imsec_map_del(imsec_map *m, uint64_t key) {
  size_t at = find(m, hash_int(key), key, IMSEC_STR_NULL);
  return at == SIZE_MAX ? NULL : remove_at(m, at);
}

void *imsec_map_sget(const imsec_map *m, imsec_str key) {
  if (!m->strkeys)
    return NULL;
  size_t at = find(m, hash_str(m, key), 0, key);
  return at == SIZE_MAX ? NULL : m->slots[at].val;
}

int imsec_map_sput(imsec_map *m, imsec_str key, void *val, void **old) {
  if (!m->strkeys)
    return IMSEC_ERR_INVAL;
  return put(m, hash_str(m, key), 0, key, val, old);
}

void *imsec_map_sdel(imsec_map *m, imsec_str key) {
  if (!m->strkeys)
    return NULL;
  size_t at = find(m, hash_str(m, key), 0, key);
  return at == SIZE_MAX ? NULL : remove_at(m, at);
}

imsec_map_slot *imsec_map_next(const imsec_map *m, size_t *it) {
  while (*it < m->cap) {
    imsec_map_slot *s = &m->slots[(*it)++];
    if (s->hash)
      return s;
  }
  return NULL;
}

void *imsec_map_del_at(imsec_map *m, size_t *it) {
  size_t at = *it - 1;
  void *val = remove_at(m, at);
  /* An entry may have shifted into `at`, or (wrapping) an entry from the
   * front moved to the end: walk again from `at`. A shift that wraps
   * moves an entry already seen to a later index, which the walk then
   * visits twice; callers delete-while-walking only to expire, where a
   * second look at a live entry is harmless. */
  *it = at;
  return val;
}
