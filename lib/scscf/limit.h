/*
 * Bounded per-key counters for the S-CSCF's flood limits (internal to
 * lib/scscf): one entry per IMPI or per source address, with counts over a
 * fixed time window and a lock deadline. Entries are found through the
 * shared map (include/imsec/map.h) with string keys hashed under the
 * table's random seed, so a sender cannot aim its keys at one probe run;
 * the map does not order, so the table keeps its own least-recently-used
 * list for eviction when full, and a list of the locked entries. Time is
 * passed in (lib/ has no clock).
 */
#ifndef IMSEC_SCSCF_LIMIT_H
#define IMSEC_SCSCF_LIMIT_H

#include "imsec/base.h"
#include "imsec/elem.h"
#include "imsec/map.h"

typedef struct limit_entry {
  struct limit_entry *prev, *next; /* its list: head = most recent */
  imsec_time_ms win_start;         /* start of the current counting window */
  uint32_t challenges;             /* new challenges in this window */
  uint32_t failures;               /* failed responses in this window */
  imsec_time_ms locked_until;      /* 0: not locked */
  unsigned logged;                 /* LIMIT_LOGGED_* already said this window */
  unsigned char parked; /* in the locked list, out of the LRU order */
  size_t klen;
  char key[]; /* to remove it from the map when it goes */
} limit_entry;

#define LIMIT_LOGGED_CHALLENGES 1u
#define LIMIT_LOGGED_FAILURES 2u
#define LIMIT_LOGGED_LOCKED 4u

typedef struct limit_table {
  imsec_map map;              /* key -> limit_entry */
  size_t n, max;              /* max 0: not initialised */
  limit_entry *head, *tail;   /* LRU order of the entries that may go */
  limit_entry *lhead, *ltail; /* entries found locked: never evicted */
  imsec_time_ms window;       /* counting window, > 0 */
} limit_table;

/* An empty table of at most `max` entries (> 0) counting over `window`
 * ms (> 0); `seed` keys the hash. Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_NOMEM. */
int imsec_limit_init(limit_table *t, size_t max, imsec_time_ms window,
                     const uint8_t seed[16]);
/* Free every entry (the table may be zero-filled). */
void imsec_limit_free(limit_table *t);

/* The entry of `key` with its window rolled forward to `now` (counts and
 * `logged` reset when the window passed), marked most recently used.
 * With `create`, a missing key gets a new zeroed entry; when the table is
 * full the least recently used entry that is not locked at `now` gives
 * way (an entry that is locked stays: a flood of new keys cannot unlock
 * anyone). Locked entries are kept out of the LRU order (in a list of
 * their own, looked at in turn until their lock ends), so while any entry
 * is unlocked a new key finds room, however many locked ones there are.
 * Each call also frees up to two idle entries (window over, not locked)
 * from the least recently used end, passing over locked ones, so entries
 * expire with the time passed in. The entry stays valid until the next
 * call on the table. Returns NULL when the key is absent (and not
 * created), when every entry is locked, or on allocation failure. */
limit_entry *imsec_limit_get(limit_table *t, imsec_str key, imsec_time_ms now,
                             int create);

/* Whole seconds until the entry's window ends (at least 1), for
 * Retry-After. */
uint32_t imsec_limit_left_s(const limit_table *t, const limit_entry *e,
                            imsec_time_ms now);

#endif /* IMSEC_SCSCF_LIMIT_H */
