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
    mem_save, mem_del, mem_load, mem_destroy, NULL, NULL, NULL};

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
