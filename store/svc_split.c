/* Two services behind one (include/imsec/svc.h imsec_svc_split_new): the
 * HSS and the registrations may live in different places (Diameter Cx,
 * Redis, the embedded SQLite stores), each with its own threads. */
#include <stdlib.h>

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

static const imsec_svc_vtable split_vt = {.submit = split_submit,
                                          .destroy = split_destroy};

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
