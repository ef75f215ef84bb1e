/* The in-memory subscriber store (include/imsec/hss.h): tests and the
 * in-process harness. Records are kept sorted by IMPI. */
#include <stdlib.h>
#include <string.h>

#include "imsec/hss.h"

typedef struct mem_store {
  imsec_hss_store base;
  imsec_hss_sub **subs;
  size_t n, cap;
  unsigned long saves;
} mem_store;

static int find(mem_store *m, imsec_str impi, size_t *idx) {
  for (size_t i = 0; i < m->n; i++) {
    if (imsec_str_eq(imsec_str_c(m->subs[i]->impi), impi)) {
      *idx = i;
      return 1;
    }
  }
  return 0;
}

static int mem_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  mem_store *m = (mem_store *)s;
  size_t i;
  if (!find(m, impi, &i))
    return IMSEC_ERR_NOTFOUND;
  *out = *m->subs[i];
  return 0;
}

static int mem_find_impu(imsec_hss_store *s, imsec_str impu,
                         imsec_hss_sub *out) {
  mem_store *m = (mem_store *)s;
  for (size_t i = 0; i < m->n; i++) {
    for (size_t j = 0; j < m->subs[i]->n_impus; j++) {
      if (imsec_str_eq(imsec_str_c(m->subs[i]->impus[j]), impu)) {
        *out = *m->subs[i];
        return 0;
      }
    }
  }
  return IMSEC_ERR_NOTFOUND;
}

static int mem_save_sqn(imsec_hss_store *s, imsec_str impi,
                        const imsec_sqn_he *st) {
  mem_store *m = (mem_store *)s;
  size_t i;
  if (!find(m, impi, &i))
    return IMSEC_ERR_NOTFOUND;
  m->subs[i]->sqn = *st;
  m->saves++;
  return 0;
}

static int mem_add(imsec_hss_store *s, const imsec_hss_sub *sub) {
  mem_store *m = (mem_store *)s;
  IMSEC_GUARD(imsec_hss_sub_check(sub, NULL));
  size_t i;
  if (find(m, imsec_str_c(sub->impi), &i))
    return IMSEC_ERR_EXISTS;
  imsec_hss_sub *tmp = malloc(sizeof(*tmp));
  if (!tmp)
    return IMSEC_ERR_NOMEM;
  for (size_t j = 0; j < sub->n_impus; j++) {
    if (mem_find_impu(s, imsec_str_c(sub->impus[j]), tmp) == 0) {
      imsec_hss_sub_wipe(tmp);
      free(tmp);
      return IMSEC_ERR_EXISTS;
    }
  }
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 8;
    imsec_hss_sub **a = realloc(m->subs, cap * sizeof(*a));
    if (!a) {
      free(tmp);
      return IMSEC_ERR_NOMEM;
    }
    m->subs = a;
    m->cap = cap;
  }
  *tmp = *sub;
  size_t pos = 0;
  /* no secret: IMPIs kept in order for look-up by name */
  while (pos < m->n && strcmp(m->subs[pos]->impi, sub->impi) < 0)
    pos++;
  memmove(&m->subs[pos + 1], &m->subs[pos], (m->n - pos) * sizeof(*m->subs));
  m->subs[pos] = tmp;
  m->n++;
  return 0;
}

static int mem_del(imsec_hss_store *s, imsec_str impi) {
  mem_store *m = (mem_store *)s;
  size_t i;
  if (!find(m, impi, &i))
    return IMSEC_ERR_NOTFOUND;
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
    rv = fn(arg, tmp);
  }
  free(tmp);
  return rv;
}

static void mem_destroy(imsec_hss_store *s) {
  mem_store *m = (mem_store *)s;
  for (size_t i = 0; i < m->n; i++) {
    imsec_hss_sub_wipe(m->subs[i]);
    free(m->subs[i]);
  }
  free(m->subs);
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
};

int imsec_hss_mem_new(imsec_hss_store **out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  mem_store *m = calloc(1, sizeof(*m));
  if (!m)
    return IMSEC_ERR_NOMEM;
  m->base.vt = &mem_vt;
  *out = &m->base;
  return 0;
}

unsigned long imsec_hss_mem_saves(const imsec_hss_store *s) {
  return (s && s->vt == &mem_vt) ? ((const mem_store *)s)->saves : 0;
}
