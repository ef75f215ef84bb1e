/*
 * The net port's PSK table (host/net_psk.h). Two maps under one rwlock:
 * handshakes on every loop read them at once, the element's PSK actions
 * and a reload write. Identities are chosen by clients (they arrive in a
 * ClientHello), so the maps hash them under a random key (hash flooding).
 * Expired element entries are never found; they are purged a few at a
 * time by later puts, and all at once before a full table refuses one.
 */
#include "host/net_psk.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "imsec/map.h"

typedef struct psk_ent {
  uint8_t key[IMSEC_PSK_MAX];
  size_t len;
  int64_t expires_at; /* 0: no end */
} psk_ent;

struct hn_psk_table {
  pthread_rwlock_t lock;
  imsec_map dyn;   /* element-installed: identity -> psk_ent */
  imsec_map stat;  /* configured: identity -> psk_ent */
  size_t sweep_at; /* where the incremental purge goes on */
  size_t max;      /* element keys at most */
  uint8_t seed[16];
};

/* The map slots one put looks at for expired entries. */
#define SWEEP_STEP 64

static void ent_free(psk_ent *e) {
  if (!e)
    return;
  imsec_wipe(e, sizeof *e);
  free(e);
}

static void map_clear(imsec_map *m) {
  size_t it = 0;
  for (imsec_map_slot *sl; (sl = imsec_map_next(m, &it));)
    ent_free(sl->val);
  imsec_map_free(m);
}

/* The identities elements and configurations may use: those imsec_out_psk
 * accepts (1 to IMSEC_PSK_ID_MAX - 1 printable octets, no space). */
static int id_ok(const char *id, size_t *len) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n >= IMSEC_PSK_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
      return 0;
  *len = n;
  return 1;
}

static int expired(const psk_ent *e, int64_t now) {
  return e->expires_at != 0 && e->expires_at <= now;
}

hn_psk_table *hn_psk_new(size_t max) {
  hn_psk_table *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->max = max;
  if (getrandom(t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed) {
    /* No entropy source: a seed from the clock still varies per run. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memcpy(t->seed, &ts, sizeof ts < sizeof t->seed ? sizeof ts : 16);
  }
  if (pthread_rwlock_init(&t->lock, NULL) != 0) {
    free(t);
    return NULL;
  }
  imsec_map_init_str(&t->dyn, t->seed);
  imsec_map_init_str(&t->stat, t->seed);
  return t;
}

void hn_psk_del(hn_psk_table *t) {
  if (!t)
    return;
  map_clear(&t->dyn);
  map_clear(&t->stat);
  pthread_rwlock_destroy(&t->lock);
  imsec_wipe(t->seed, sizeof t->seed);
  free(t);
}

/* Purge expired element entries: the `max` slots after where the last
 * sweep stopped (0: the whole table). With the write lock held. */
static void sweep(hn_psk_table *t, int64_t now, size_t max) {
  size_t it = max ? t->sweep_at : 0;
  size_t end = it + max;
  int more = 0;
  for (imsec_map_slot *sl; (sl = imsec_map_next(&t->dyn, &it));) {
    if (max && it > end) {
      it--; /* past the window: the next sweep starts with it */
      more = 1;
      break;
    }
    if (expired(sl->val, now))
      ent_free(imsec_map_del_at(&t->dyn, &it));
  }
  t->sweep_at = more ? it : 0;
}

int hn_psk_put(hn_psk_table *t, const char *identity, const uint8_t *key,
               size_t len, int64_t expires_at, int64_t now) {
  size_t il;
  if (!t || !id_ok(identity, &il) || len > IMSEC_PSK_MAX || (len && !key))
    return IMSEC_ERR_INVAL;
  imsec_str k = {identity, il};
  psk_ent *e = NULL;
  if (len && (expires_at == 0 || expires_at > now)) {
    if (!(e = calloc(1, sizeof *e)))
      return IMSEC_ERR_NOMEM;
    memcpy(e->key, key, len);
    e->len = len;
    e->expires_at = expires_at;
  }
  int rc = 0;
  pthread_rwlock_wrlock(&t->lock);
  sweep(t, now, SWEEP_STEP);
  if (!e) {
    /* Removal (or a key already expired: the same). */
    ent_free(imsec_map_sdel(&t->dyn, k));
    goto out;
  }
  if (!imsec_map_sget(&t->dyn, k) && imsec_map_len(&t->dyn) >= t->max) {
    sweep(t, now, 0);
    if (imsec_map_len(&t->dyn) >= t->max) {
      rc = IMSEC_ERR_LIMIT;
      goto out;
    }
  }
  void *old = NULL;
  if (imsec_map_sput(&t->dyn, k, e, &old) != 0) {
    rc = IMSEC_ERR_NOMEM;
    goto out;
  }
  ent_free(old);
  e = NULL;
out:
  pthread_rwlock_unlock(&t->lock);
  ent_free(e);
  return rc;
}

int hn_psk_set_static(hn_psk_table *t, const imsec_hostnet_psk *e, size_t n) {
  if (!t || (n && !e))
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < n; i++) {
    size_t il;
    if (!id_ok(e[i].identity, &il) || !e[i].key || e[i].key_len == 0 ||
        e[i].key_len > IMSEC_PSK_MAX)
      return IMSEC_ERR_INVAL;
  }
  /* Built aside, then swapped in: a failure changes nothing, and
   * handshakes never see half a configuration. */
  imsec_map m;
  imsec_map_init_str(&m, t->seed);
  for (size_t i = 0; i < n; i++) {
    imsec_str k = imsec_str_c(e[i].identity);
    psk_ent *v = calloc(1, sizeof *v);
    void *old = NULL;
    if (!v || imsec_map_sput(&m, k, v, &old) != 0) {
      free(v);
      map_clear(&m);
      return IMSEC_ERR_NOMEM;
    }
    ent_free(old); /* a repeated identity: the last one counts */
    memcpy(v->key, e[i].key, e[i].key_len);
    v->len = e[i].key_len;
  }
  pthread_rwlock_wrlock(&t->lock);
  imsec_map prev = t->stat;
  t->stat = m;
  pthread_rwlock_unlock(&t->lock);
  map_clear(&prev);
  return 0;
}

int hn_psk_lookup_at(hn_psk_table *t, const uint8_t *identity,
                     size_t identity_len, uint8_t *key, size_t cap,
                     int64_t now) {
  if (!t || !identity || identity_len == 0 || identity_len >= IMSEC_PSK_ID_MAX)
    return IMSEC_ERR_NOTFOUND;
  imsec_str k = {(const char *)identity, identity_len};
  int rc = IMSEC_ERR_NOTFOUND;
  pthread_rwlock_rdlock(&t->lock);
  const psk_ent *e = imsec_map_sget(&t->dyn, k);
  if (e && expired(e, now))
    e = NULL; /* left for a later put to purge (we only read here) */
  if (!e)
    e = imsec_map_sget(&t->stat, k);
  if (e) {
    if (e->len <= cap) {
      memcpy(key, e->key, e->len);
      rc = (int)e->len;
    } else {
      rc = IMSEC_ERR_NOBUF;
    }
  }
  pthread_rwlock_unlock(&t->lock);
  return rc;
}

int hn_psk_lookup(void *arg, const uint8_t *identity, size_t identity_len,
                  uint8_t *key, size_t cap) {
  return hn_psk_lookup_at(arg, identity, identity_len, key, cap,
                          imsec_hostnet_now());
}

size_t hn_psk_count(hn_psk_table *t) {
  pthread_rwlock_rdlock(&t->lock);
  size_t n = imsec_map_len(&t->dyn);
  pthread_rwlock_unlock(&t->lock);
  return n;
}
