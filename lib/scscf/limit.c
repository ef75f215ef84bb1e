/* Bounded per-key counters for the S-CSCF's flood limits (limit.h). */
#include <stdlib.h>
#include <string.h>

#include "limit.h"

int imsec_limit_init(limit_table *t, size_t max, imsec_time_ms window,
                     const uint8_t seed[16]) {
  if (!t || !max || window <= 0 || !seed)
    return IMSEC_ERR_INVAL;
  memset(t, 0, sizeof(*t));
  /* Keyed by the table's random seed: the keys are IMPIs and Via hosts,
   * which the sender chooses (hash flooding). */
  imsec_map_init_str(&t->map, seed);
  t->max = max;
  t->window = window;
  return 0;
}

void imsec_limit_free(limit_table *t) {
  if (!t)
    return;
  for (limit_entry *e = t->head, *n; e; e = n) {
    n = e->next;
    free(e);
  }
  for (limit_entry *e = t->lhead, *n; e; e = n) {
    n = e->next;
    free(e);
  }
  imsec_map_free(&t->map);
  imsec_wipe(t->map.seed, sizeof(t->map.seed));
  memset(t, 0, sizeof(*t));
}

/* Two lists: the least-recently-used order of the entries that may give
 * way, and the entries found locked ("parked"), which never do. A locked
 * entry left in the LRU order would stop expiry and eviction at the old
 * end, and a few of them there made the table refuse every new key. */
static void list_unlink(limit_table *t, limit_entry *e) {
  limit_entry **head = e->parked ? &t->lhead : &t->head;
  limit_entry **tail = e->parked ? &t->ltail : &t->tail;
  if (e->prev)
    e->prev->next = e->next;
  else
    *head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    *tail = e->prev;
  e->prev = e->next = NULL;
}

/* Put e at the head of the list its `parked` flag names. */
static void list_push(limit_table *t, limit_entry *e) {
  limit_entry **head = e->parked ? &t->lhead : &t->head;
  limit_entry **tail = e->parked ? &t->ltail : &t->tail;
  e->prev = NULL;
  e->next = *head;
  if (*head)
    (*head)->prev = e;
  *head = e;
  if (!*tail)
    *tail = e;
}

static void move_to(limit_table *t, limit_entry *e, int parked) {
  list_unlink(t, e);
  e->parked = (unsigned char)parked;
  list_push(t, e);
}

static void evict(limit_table *t, limit_entry *e) {
  (void)imsec_map_sdel(&t->map, imsec_str_make(e->key, e->klen));
  list_unlink(t, e);
  free(e);
  t->n--;
}

/* Bounded work: look at a few entries of each list per call. */
#define EVICT_TRIES 8

/* A few parked entries, from the old end: one whose lock is over goes
 * (idle) or back to the LRU order; one still locked goes to the other end,
 * so every parked entry is looked at in turn. With `want_room`, stop at
 * the first one freed. Returns 1 when an entry was freed. */
static int unpark_some(limit_table *t, imsec_time_ms now, int tries,
                       int want_room) {
  int freed = 0;
  for (int i = 0; i < tries && t->ltail; i++) {
    limit_entry *v = t->ltail;
    if (v->locked_until > now) {
      if (v == t->lhead)
        break; /* one parked entry, still locked */
      move_to(t, v, 1);
      continue;
    }
    v->locked_until = 0;
    if (now - v->win_start >= t->window) {
      evict(t, v);
      freed = 1;
      if (want_room)
        break;
    } else {
      list_unlink(t, v);
      v->parked = 0;
      /* the old end of the LRU order: it was idle while locked */
      v->next = NULL;
      v->prev = t->tail;
      if (t->tail)
        t->tail->next = v;
      else
        t->head = v;
      t->tail = v;
    }
  }
  return freed;
}

limit_entry *imsec_limit_get(limit_table *t, imsec_str key, imsec_time_ms now,
                             int create) {
  if (!t || !t->max)
    return NULL;
  /* Expiry by the time passed in, a little per call: idle entries at the
   * least recently used end (window over, not locked) hold nothing a new
   * entry would not, so they go. A locked entry found there is parked and
   * expiry goes on past it. */
  (void)unpark_some(t, now, 2, 0);
  for (int ev = 0, moved = 0; t->tail && ev < 2 && moved < EVICT_TRIES;) {
    limit_entry *v = t->tail;
    if (v->locked_until > now) {
      move_to(t, v, 1);
      moved++;
    } else if (now - v->win_start >= t->window) {
      evict(t, v);
      ev++;
    } else {
      break;
    }
  }
  limit_entry *e = imsec_map_sget(&t->map, key);
  if (!e) {
    if (!create)
      return NULL;
    if (t->n >= t->max) {
      /* Every locked entry at the old end is parked (each is moved once
       * per lock, so this is constant work per lock set), then the least
       * recently used unlocked entry gives way: while any unlocked entry
       * exists, a new key finds room. */
      while (t->tail && t->tail->locked_until > now)
        move_to(t, t->tail, 1);
      if (t->tail)
        evict(t, t->tail);
      else if (!unpark_some(t, now, EVICT_TRIES, 1))
        return NULL; /* everything is locked: the caller fails closed */
    }
    e = calloc(1, sizeof(*e) + key.len + 1);
    if (!e)
      return NULL;
    e->klen = key.len;
    if (key.len)
      memcpy(e->key, key.p, key.len);
    e->win_start = now;
    if (imsec_map_sput(&t->map, key, e, NULL) != 0) {
      free(e);
      return NULL;
    }
    t->n++;
    list_push(t, e);
  } else if (!e->parked || e->locked_until <= now) {
    move_to(t, e, 0);
  }
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
