/* The in-memory subscriber store (include/imsec/hss.h): tests and the
 * in-process harness. Records are kept sorted by IMPI (the order `list`
 * walks) and found through two maps, by IMPI and by IMPU.
 *
 * The maps hash with a fixed (NULL) seed: only the operator adds
 * identities here (add), so no peer can fill the table with keys that
 * collide; a peer's look-up of a chosen identity costs one probe run. */
#include <stdlib.h>
#include <string.h>

#include "imsec/hss.h"
#include "imsec/map.h"

typedef struct mem_store {
  imsec_hss_store base;
  imsec_hss_sub **subs; /* sorted by IMPI */
  size_t n, cap;
  imsec_map by_impi; /* IMPI -> imsec_hss_sub */
  imsec_map by_impu; /* IMPU -> imsec_hss_sub */
  unsigned long saves;
} mem_store;

static imsec_hss_sub *find(mem_store *m, imsec_str impi) {
  return imsec_map_sget(&m->by_impi, impi);
}

/* The index of `sub` in the sorted array, or of where its IMPI goes. */
static size_t index_of(const mem_store *m, const char *impi) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(m->subs[mid]->impi, impi) < 0) /* no secret: IMPI order */
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int mem_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  imsec_hss_sub *sub = find((mem_store *)s, impi);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  *out = *sub;
  return 0;
}

static int mem_find_impu(imsec_hss_store *s, imsec_str impu,
                         imsec_hss_sub *out) {
  imsec_hss_sub *sub = imsec_map_sget(&((mem_store *)s)->by_impu, impu);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  *out = *sub;
  return 0;
}

static int mem_save_sqn(imsec_hss_store *s, imsec_str impi,
                        const imsec_sqn_he *st) {
  mem_store *m = (mem_store *)s;
  imsec_hss_sub *sub = find(m, impi);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  sub->sqn = *st;
  m->saves++;
  return 0;
}

/* Compare and set: one process, so nothing can come between the check
 * and the write; it counts as a save. */
static int mem_reserve_sqn(imsec_hss_store *s, imsec_str impi,
                           const imsec_sqn_he *old, const imsec_sqn_he *next) {
  mem_store *m = (mem_store *)s;
  imsec_hss_sub *sub = find(m, impi);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  if (sub->sqn.seq != old->seq || sub->sqn.ind_next != old->ind_next)
    return IMSEC_ERR_STALE;
  sub->sqn = *next;
  m->saves++;
  return 0;
}

/* Take `sub`'s IMPUs out of the IMPU map (those that name it). */
static void unmap_impus(mem_store *m, const imsec_hss_sub *sub) {
  for (size_t j = 0; j < sub->n_impus; j++) {
    imsec_str u = imsec_str_c(sub->impus[j]);
    if (imsec_map_sget(&m->by_impu, u) == sub)
      (void)imsec_map_sdel(&m->by_impu, u);
  }
}

static int mem_add(imsec_hss_store *s, const imsec_hss_sub *sub) {
  mem_store *m = (mem_store *)s;
  IMSEC_GUARD(imsec_hss_sub_check(sub, NULL));
  if (find(m, imsec_str_c(sub->impi)))
    return IMSEC_ERR_EXISTS;
  for (size_t j = 0; j < sub->n_impus; j++)
    if (imsec_map_sget(&m->by_impu, imsec_str_c(sub->impus[j])))
      return IMSEC_ERR_EXISTS;
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 8;
    imsec_hss_sub **a = realloc(m->subs, cap * sizeof(*a));
    if (!a)
      return IMSEC_ERR_NOMEM;
    m->subs = a;
    m->cap = cap;
  }
  imsec_hss_sub *tmp = malloc(sizeof(*tmp));
  if (!tmp)
    return IMSEC_ERR_NOMEM;
  *tmp = *sub;
  if (imsec_map_sput(&m->by_impi, imsec_str_c(tmp->impi), tmp, NULL) != 0)
    goto nomem;
  for (size_t j = 0; j < tmp->n_impus; j++) {
    if (imsec_map_sput(&m->by_impu, imsec_str_c(tmp->impus[j]), tmp, NULL) !=
        0) {
      unmap_impus(m, tmp);
      (void)imsec_map_sdel(&m->by_impi, imsec_str_c(tmp->impi));
      goto nomem;
    }
  }
  size_t pos = index_of(m, sub->impi);
  memmove(&m->subs[pos + 1], &m->subs[pos], (m->n - pos) * sizeof(*m->subs));
  m->subs[pos] = tmp;
  m->n++;
  return 0;
nomem:
  imsec_hss_sub_wipe(tmp);
  free(tmp);
  return IMSEC_ERR_NOMEM;
}

static int mem_del(imsec_hss_store *s, imsec_str impi) {
  mem_store *m = (mem_store *)s;
  imsec_hss_sub *sub = find(m, impi);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  size_t i = index_of(m, sub->impi);
  unmap_impus(m, sub);
  (void)imsec_map_sdel(&m->by_impi, imsec_str_c(sub->impi));
  imsec_hss_sub_wipe(m->subs[i]);
  free(m->subs[i]);
  memmove(&m->subs[i], &m->subs[i + 1], (m->n - i - 1) * sizeof(*m->subs));
  m->n--;
  return 0;
}

static int mem_list(imsec_hss_store *s, imsec_hss_list_fn fn, void *arg) {
  mem_store *m = (mem_store *)s;
  imsec_hss_sub *tmp = malloc(sizeof(*tmp));
  if (!tmp)
    return IMSEC_ERR_NOMEM;
  int rv = 0;
  for (size_t i = 0; i < m->n && rv == 0; i++) {
    *tmp = *m->subs[i];
    imsec_wipe(tmp->k, sizeof(tmp->k));
    imsec_wipe(tmp->op, sizeof(tmp->op));
    imsec_wipe(tmp->digest.ha1, sizeof(tmp->digest.ha1));
    rv = fn(arg, tmp);
  }
  free(tmp);
  return rv;
}

static int mem_set_digest(imsec_hss_store *s, imsec_str impi,
                          const imsec_hss_digest *d) {
  imsec_hss_sub *sub = find((mem_store *)s, impi);
  if (!sub)
    return IMSEC_ERR_NOTFOUND;
  if (sub->scheme != IMSEC_HSS_SCHEME_DIGEST || !d->realm[0])
    return IMSEC_ERR_INVAL;
  sub->digest = *d;
  return 0;
}

static void mem_destroy(imsec_hss_store *s) {
  mem_store *m = (mem_store *)s;
  for (size_t i = 0; i < m->n; i++) {
    imsec_hss_sub_wipe(m->subs[i]);
    free(m->subs[i]);
  }
  free(m->subs);
  imsec_map_free(&m->by_impi);
  imsec_map_free(&m->by_impu);
  free(m);
}

static const imsec_hss_store_vtable mem_vt = {
    .load = mem_load,
    .find_impu = mem_find_impu,
    .save_sqn = mem_save_sqn,
    .add = mem_add,
    .del = mem_del,
    .list = mem_list,
    .destroy = mem_destroy,
    .set_digest = mem_set_digest,
    .reserve_sqn = mem_reserve_sqn,
};

int imsec_hss_mem_new(imsec_hss_store **out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  mem_store *m = calloc(1, sizeof(*m));
  if (!m)
    return IMSEC_ERR_NOMEM;
  m->base.vt = &mem_vt;
  imsec_map_init_str(&m->by_impi, NULL);
  imsec_map_init_str(&m->by_impu, NULL);
  *out = &m->base;
  return 0;
}

unsigned long imsec_hss_mem_saves(const imsec_hss_store *s) {
  return (s && s->vt == &mem_vt) ? ((const mem_store *)s)->saves : 0;
}
