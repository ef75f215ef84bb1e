/* Two services behind one (include/imsec/svc.h imsec_svc_split_new): the
 * HSS and the registrations may live in different places (Diameter Cx,
 * Redis, the embedded SQLite stores), each with its own threads. */
#include <stdlib.h>
#include <string.h>

#include "imsec/obs.h"
#include "imsec/svc.h"

typedef struct split_svc {
  imsec_svc base;
  imsec_svc *hss;
  imsec_svc *reg;
} split_svc;

static int is_reg(imsec_svc_kind k) {
  return k == IMSEC_SVC_REG_LOAD || k == IMSEC_SVC_REG_SAVE ||
         k == IMSEC_SVC_REG_DELETE || k == IMSEC_SVC_REG_GET ||
         k == IMSEC_SVC_REG_EXPIRE;
}

static int split_submit(imsec_svc *s, imsec_svc_req *req,
                        imsec_svc_done_fn done, void *arg) {
  split_svc *sp = (split_svc *)s;
  return imsec_svc_submit(is_reg(req->kind) ? sp->reg : sp->hss, req, done,
                          arg);
}

static void split_destroy(imsec_svc *s) {
  free(s);
}

/* Operations: both parts' (once when they are the same service). */
static void split_metrics(imsec_svc *s, struct imsec_metrics *m) {
  split_svc *sp = (split_svc *)s;
  imsec_svc_metrics(sp->hss, m);
  if (sp->reg != sp->hss)
    imsec_svc_metrics(sp->reg, m);
}

/* A listing both parts have ("peers": the Diameter HSS and the Redis
 * server) is the HSS part's rows, then the registration part's when
 * the columns are the same. */
static int split_list(imsec_svc *s, const char *what, struct imsec_table *t) {
  split_svc *sp = (split_svc *)s;
  int a = imsec_svc_list(sp->hss, what, t);
  if (sp->reg == sp->hss || (a < 0 && a != IMSEC_ERR_UNSUPPORTED))
    return a;
  if (a == IMSEC_ERR_UNSUPPORTED)
    return imsec_svc_list(sp->reg, what, t);
  imsec_table more;
  memset(&more, 0, sizeof more);
  int b = imsec_svc_list(sp->reg, what, &more);
  if (b == 0 && more.ncols == t->ncols) {
    int same = 1;
    for (size_t c = 0; c < t->ncols; c++)
      same &= strcmp(more.cols[c], t->cols[c]) == 0; /* no secret: columns */
    for (size_t r = 0; same && r < more.nrows; r++)
      (void)imsec_table_add(t,
                            (const char *const *)&more.cells[r * more.ncols]);
  }
  imsec_table_free(&more);
  return t->err;
}

static const imsec_svc_vtable split_vt = {.submit = split_submit,
                                          .destroy = split_destroy,
                                          .metrics = split_metrics,
                                          .list = split_list};

int imsec_svc_split_new(imsec_svc **out, imsec_svc *hss, imsec_svc *reg) {
  if (!out || !hss || !reg)
    return IMSEC_ERR_INVAL;
  split_svc *sp = calloc(1, sizeof(*sp));
  if (!sp)
    return IMSEC_ERR_NOMEM;
  sp->base.vt = &split_vt;
  sp->hss = hss;
  sp->reg = reg;
  *out = &sp->base;
  return 0;
}
