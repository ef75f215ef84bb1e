/* The in-memory registration store (include/imsec/svc.h): records keyed
 * by IMPI, each binding's expiry kept absolute (wall-clock ms) as the
 * SQLite store does, so both behave alike across a load. */
#include <stdlib.h>
#include <string.h>

#include "imsec/map.h"
#include "imsec/svc.h"

typedef struct mem_rec {
  imsec_reg_record r; /* ttl_ms of each binding holds its absolute expiry */
} mem_rec;

typedef struct mem_store {
  imsec_reg_store base;
  imsec_map recs; /* IMPI -> mem_rec */
} mem_store;

static void rec_free(mem_rec *m) {
  if (m) {
    imsec_reg_record_free(&m->r);
    free(m);
  }
}

static int mem_save(imsec_reg_store *s, const imsec_reg_record *r,
                    int64_t now_ms) {
  mem_store *ms = (mem_store *)s;
  if (!r->impi)
    return IMSEC_ERR_INVAL;
  mem_rec *m = calloc(1, sizeof(*m));
  if (!m || imsec_reg_record_copy(&m->r, r) < 0) {
    free(m);
    return IMSEC_ERR_NOMEM;
  }
  for (size_t i = 0; i < m->r.n; i++)
    m->r.b[i].ttl_ms += now_ms;
  void *old = NULL;
  if (imsec_map_sput(&ms->recs, imsec_str_c(r->impi), m, &old) < 0) {
    rec_free(m);
    return IMSEC_ERR_NOMEM;
  }
  rec_free(old);
  return 0;
}

static int mem_del(imsec_reg_store *s, const char *impi) {
  mem_store *ms = (mem_store *)s;
  mem_rec *m = imsec_map_sdel(&ms->recs, imsec_str_c(impi));
  if (!m)
    return IMSEC_ERR_NOTFOUND;
  rec_free(m);
  return 0;
}

/* Drop the expired bindings of every record, and the records with none
 * left (collected first: deleting during the walk could shift an entry
 * past the cursor). */
static int mem_expire(mem_store *ms, int64_t now_ms) {
  size_t n_dead = 0;
  char **dead = NULL;
  size_t it = 0;
  imsec_map_slot *sl;
  int rv = 0;
  while ((sl = imsec_map_next(&ms->recs, &it)) != NULL) {
    mem_rec *m = sl->val;
    size_t k = 0;
    for (size_t i = 0; i < m->r.n; i++) {
      imsec_reg_binding *b = &m->r.b[i];
      if (b->ttl_ms > now_ms) {
        m->r.b[k++] = *b;
      } else {
        imsec_reg_binding_free(b);
      }
    }
    m->r.n = k;
    if (k == 0) {
      char **d = realloc(dead, (n_dead + 1) * sizeof(*d));
      if (!d) {
        rv = IMSEC_ERR_NOMEM;
        break;
      }
      dead = d;
      dead[n_dead++] = m->r.impi;
    }
  }
  for (size_t i = 0; i < n_dead; i++)
    rec_free(imsec_map_sdel(&ms->recs, imsec_str_c(dead[i])));
  free(dead);
  return rv;
}

static int mem_load(imsec_reg_store *s, int64_t now_ms, imsec_reg_load_fn fn,
                    void *arg) {
  mem_store *ms = (mem_store *)s;
  IMSEC_GUARD(mem_expire(ms, now_ms));
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&ms->recs, &it)) != NULL) {
    mem_rec *m = sl->val;
    imsec_reg_record out;
    if (imsec_reg_record_copy(&out, &m->r) < 0)
      return IMSEC_ERR_NOMEM;
    for (size_t i = 0; i < out.n; i++)
      out.b[i].ttl_ms -= now_ms;
    int rv = fn(arg, &out);
    imsec_reg_record_free(&out);
    if (rv)
      return rv;
  }
  return 0;
}

/* The record holding `key`: by IMPI, or (a "sip:", "sips:" or "tel:"
 * URI) by a public identity of its implicit set, compared as text
 * without case (a walk: this store is for tests and one process). */
static mem_rec *mem_find(mem_store *ms, const char *key) {
  imsec_str k = imsec_str_c(key);
  int uri = imsec_str_istarts_with(k, IMSEC_STR_LIT("sip:")) ||
            imsec_str_istarts_with(k, IMSEC_STR_LIT("sips:")) ||
            imsec_str_istarts_with(k, IMSEC_STR_LIT("tel:"));
  if (!uri)
    return imsec_map_sget(&ms->recs, k);
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&ms->recs, &it)) != NULL) {
    mem_rec *m = sl->val;
    for (size_t i = 0; i < m->r.n_impus; i++)
      if (m->r.impus[i] && imsec_str_ieq(imsec_str_c(m->r.impus[i]), k))
        return m;
  }
  return NULL;
}

/* A copy of `m` with the bindings live at now_ms, ttl_ms relative to it
 * (n 0: none live). */
static int mem_copy_live(const mem_rec *m, int64_t now_ms,
                         imsec_reg_record *out) {
  IMSEC_GUARD(imsec_reg_record_copy(out, &m->r));
  size_t k = 0;
  for (size_t i = 0; i < out->n; i++) {
    imsec_reg_binding *b = &out->b[i];
    if (b->ttl_ms > now_ms) {
      b->ttl_ms -= now_ms;
      out->b[k++] = *b;
    } else {
      imsec_reg_binding_free(b);
    }
  }
  out->n = k;
  return 0;
}

static int mem_get(imsec_reg_store *s, const char *key, int64_t now_ms,
                   imsec_reg_record *out) {
  mem_store *ms = (mem_store *)s;
  memset(out, 0, sizeof(*out));
  mem_rec *m = mem_find(ms, key);
  if (!m)
    return IMSEC_ERR_NOTFOUND;
  IMSEC_GUARD(mem_copy_live(m, now_ms, out));
  if (!out->n) {
    imsec_reg_record_free(out);
    memset(out, 0, sizeof(*out));
    return IMSEC_ERR_NOTFOUND; /* expired, not yet dropped */
  }
  return 0;
}

/* One process, one thread at a time: the drop and the answer are one
 * step, so of two callers only the first sees the record go. */
static int mem_expire_one(imsec_reg_store *s, const char *impi, int64_t now_ms,
                          imsec_reg_record *out, int *gone) {
  mem_store *ms = (mem_store *)s;
  memset(out, 0, sizeof(*out));
  *gone = 0;
  mem_rec *m = imsec_map_sget(&ms->recs, imsec_str_c(impi));
  if (!m)
    return 0;
  size_t k = 0;
  for (size_t i = 0; i < m->r.n; i++) {
    imsec_reg_binding *b = &m->r.b[i];
    if (b->ttl_ms > now_ms)
      m->r.b[k++] = *b;
    else
      imsec_reg_binding_free(b);
  }
  m->r.n = k;
  if (!k) {
    rec_free(imsec_map_sdel(&ms->recs, imsec_str_c(impi)));
    *gone = 1;
    return 0;
  }
  return mem_copy_live(m, now_ms, out);
}

static void mem_destroy(imsec_reg_store *s) {
  mem_store *ms = (mem_store *)s;
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&ms->recs, &it)) != NULL)
    rec_free(sl->val);
  imsec_map_free(&ms->recs);
  free(ms);
}

static const imsec_reg_store_vtable mem_vt = {
    mem_save, mem_del, mem_load, mem_destroy, NULL, mem_get, mem_expire_one};

int imsec_reg_mem_new(imsec_reg_store **out) {
  mem_store *ms = calloc(1, sizeof(*ms));
  if (!ms)
    return IMSEC_ERR_NOMEM;
  ms->base.vt = &mem_vt;
  /* No seed: the S-CSCF writes only IMPIs it has authenticated. */
  imsec_map_init_str(&ms->recs, NULL);
  *out = &ms->base;
  return 0;
}
