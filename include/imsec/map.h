/*
 * imsec map: one hash map for the elements' tables (flows, challenges,
 * registrations, peers, limits), instead of a hand-rolled table or a
 * linear scan in each.
 *
 * Keys are either 64-bit integers (flow ids, timer ids) or octet strings
 * (IMPIs, IMPUs, addresses; copied into the map). Values are pointers the
 * caller owns. Open addressing with linear probing and backward-shift
 * deletion (no tombstones), grown at 3/4 full, so every operation is
 * O(1) on average and memory is bounded by the live entries.
 *
 * String keys come from the network: they are hashed with SipHash-2-4
 * (Aumasson and Bernstein, 2012) under a 128-bit key the caller draws
 * from its RNG once, so an attacker cannot choose identities that collide
 * (hash flooding). Integer keys are the element's own and use a fixed
 * mixer. Not thread-safe; no globals.
 */
#ifndef IMSEC_MAP_H
#define IMSEC_MAP_H

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imsec_map_slot {
  uint64_t hash; /* 0: empty */
  uint64_t ikey; /* integer key, or the length of skey */
  char *skey;    /* string key (owned, NUL-terminated), or NULL */
  void *val;
} imsec_map_slot;

typedef struct imsec_map {
  imsec_map_slot *slots;
  size_t cap; /* a power of two, or 0 */
  size_t n;
  int strkeys;
  uint8_t seed[16];
} imsec_map;

/* An empty map of integer keys (no allocation until the first put). */
IMSEC_API void imsec_map_init_u64(imsec_map *m);
/* An empty map of string keys hashed under `seed` (16 random octets; NULL
 * is allowed for tables whose keys no peer chooses). */
IMSEC_API void imsec_map_init_str(imsec_map *m, const uint8_t seed[16]);
/* Free the slots and the copied keys (not the values). */
IMSEC_API void imsec_map_free(imsec_map *m);
IMSEC_API size_t imsec_map_len(const imsec_map *m);

/* Integer keys. put replaces an existing value (returned in *old when old
 * is not NULL, else NULL there). Returns 0 or IMSEC_ERR_NOMEM. */
IMSEC_API void *imsec_map_get(const imsec_map *m, uint64_t key);
IMSEC_API IMSEC_MUST_USE int imsec_map_put(imsec_map *m, uint64_t key,
                                           void *val, void **old);
/* Remove the entry; returns its value, or NULL when absent. */
IMSEC_API void *imsec_map_del(imsec_map *m, uint64_t key);

/* String keys (compared exactly, octet for octet). */
IMSEC_API void *imsec_map_sget(const imsec_map *m, imsec_str key);
IMSEC_API IMSEC_MUST_USE int imsec_map_sput(imsec_map *m, imsec_str key,
                                            void *val, void **old);
IMSEC_API void *imsec_map_sdel(imsec_map *m, imsec_str key);

/* Iterate: start with *it = 0; each call returns the next entry's slot
 * (key and value readable, not writable except ->val) or NULL at the end.
 * The map must not change during the walk, except imsec_map_del/sdel of
 * the entry just returned followed by restarting the walk from its index:
 * use imsec_map_del_at for that. */
IMSEC_API imsec_map_slot *imsec_map_next(const imsec_map *m, size_t *it);
/* Remove the entry the last imsec_map_next returned (its *it unchanged)
 * and rewind *it so the walk misses nothing. Returns its value. */
IMSEC_API void *imsec_map_del_at(imsec_map *m, size_t *it);

/* SipHash-2-4 of `data` under `key` (exposed for tests and for tables that
 * keep their own layout). */
IMSEC_API uint64_t imsec_siphash24(const uint8_t key[16], const void *data,
                                   size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_MAP_H */
