/* The service and registration-store entry points (include/imsec/svc.h),
 * and the embedded service that answers inside submit. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imsec/svc.h"

int imsec_svc_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                     void *arg) {
  if (!s || !req || !done)
    return IMSEC_ERR_INVAL;
  return s->vt->submit(s, req, done, arg);
}

void imsec_svc_del(imsec_svc *s) {
  if (s)
    s->vt->destroy(s);
}

void imsec_svc_metrics(imsec_svc *s, struct imsec_metrics *m) {
  if (s && m && s->vt->metrics)
    s->vt->metrics(s, m);
}

int imsec_svc_list(imsec_svc *s, const char *what, struct imsec_table *t) {
  if (!s || !what || !t)
    return IMSEC_ERR_INVAL;
  if (!s->vt->list)
    return IMSEC_ERR_UNSUPPORTED;
  return s->vt->list(s, what, t);
}

void imsec_reg_store_del(imsec_reg_store *s) {
  if (s)
    s->vt->destroy(s);
}

/* ------------------------------------------------------------- local */

typedef struct local_svc {
  imsec_svc base;
  imsec_svc_local_config cfg;
} local_svc;

static int64_t real_wall_ms(void *arg) {
  (void)arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct load_ctx {
  const imsec_svc_req *req;
  imsec_svc_reply *rep;
  imsec_svc_done_fn done;
  void *arg;
} load_ctx;

static int load_one(void *arg, const imsec_reg_record *r) {
  load_ctx *c = arg;
  c->rep->reg = r;
  c->done(c->arg, c->req, c->rep);
  c->rep->reg = NULL;
  return 0;
}

/* REG_GET and REG_EXPIRE through the store's optional get and expire.
 * The record is answered inside the call (borrowed by done), so run's
 * caller answers the status alone afterwards: rep->reg is only set for
 * this one reply, which is then the final one. */
static int reg_get_expire(local_svc *l, const imsec_svc_req *req,
                          imsec_svc_reply *rep, imsec_svc_done_fn done,
                          void *arg) {
  imsec_reg_store *reg = l->cfg.reg;
  int64_t now = l->cfg.wall_ms(l->cfg.wall_arg);
  imsec_reg_record r;
  memset(&r, 0, sizeof(r));
  int rv;
  if (req->kind == IMSEC_SVC_REG_GET)
    rv = reg && reg->vt->get ? reg->vt->get(reg, req->key, now, &r)
                             : IMSEC_ERR_UNSUPPORTED;
  else
    rv = reg && reg->vt->expire
             ? reg->vt->expire(reg, req->key, now, &r, &rep->gone)
             : IMSEC_ERR_UNSUPPORTED;
  if (rv == 0) {
    rep->reg = r.n ? &r : NULL;
    rep->last = 1;
    done(arg, req, rep);
    rep->reg = NULL;
  }
  imsec_reg_record_free(&r);
  return rv == 0 ? 1 : rv;
}

static int run(local_svc *l, const imsec_svc_req *req, imsec_svc_reply *rep,
               imsec_svc_done_fn done, void *arg) {
  imsec_hss *hss = l->cfg.hss;
  imsec_reg_store *reg = l->cfg.reg;
  imsec_str key = imsec_str_c(req->key);
  switch (req->kind) {
  case IMSEC_SVC_HSS_SUB:
    return hss ? imsec_hss_lookup(hss, key, &rep->sub) : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_HSS_SUB_IMPU:
    return hss ? imsec_hss_lookup_impu(hss, key, &rep->sub)
               : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_HSS_VECTOR:
    return hss ? imsec_hss_vector(hss, key, &rep->vec, &rep->aka)
               : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_HSS_DIGEST:
    return hss ? imsec_hss_digest_get(hss, key, &rep->sub)
               : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_HSS_RESYNC:
    return hss ? imsec_hss_resync(hss, key, req->rand, req->auts)
               : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_REG_LOAD: {
    if (!reg)
      return IMSEC_ERR_UNSUPPORTED;
    load_ctx c = {req, rep, done, arg};
    return reg->vt->load(reg, l->cfg.wall_ms(l->cfg.wall_arg), load_one, &c);
  }
  case IMSEC_SVC_REG_SAVE:
    return reg ? reg->vt->save(reg, &req->reg, l->cfg.wall_ms(l->cfg.wall_arg))
               : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_REG_DELETE:
    return reg ? reg->vt->del(reg, req->key) : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_UE_SQN:
    return l->cfg.ue_sqn ? l->cfg.ue_sqn(l->cfg.ue_sqn_arg, req->sqn_ms)
                         : IMSEC_ERR_UNSUPPORTED;
  case IMSEC_SVC_HSS_ASSIGN:
    /* The embedded HSS keeps no serving S-CSCF: the profile is the
     * answer (TS 29.228 §6.1.2 User-Data: the implicit set). */
    if (!hss)
      return IMSEC_ERR_UNSUPPORTED;
    return key.len
               ? imsec_hss_lookup(hss, key, &rep->sub)
               : imsec_hss_lookup_impu(hss, imsec_str_c(req->impu), &rep->sub);
  case IMSEC_SVC_REG_GET:
  case IMSEC_SVC_REG_EXPIRE:
    return reg_get_expire(l, req, rep, done, arg);
  }
  return IMSEC_ERR_INVAL;
}

static int local_submit(imsec_svc *s, imsec_svc_req *req,
                        imsec_svc_done_fn done, void *arg) {
  local_svc *l = (local_svc *)s;
  imsec_svc_reply *rep = calloc(1, sizeof(*rep));
  if (!rep) {
    imsec_reg_record_free(&req->reg);
    return IMSEC_ERR_NOMEM;
  }
  rep->kind = req->kind;
  rep->id = req->id;
  rep->status = run(l, req, rep, done, arg);
  rep->last = 1;
  if (rep->status != 1) /* 1: reg_get_expire answered already */
    done(arg, req, rep);
  /* Vectors carry XRES, CK and IK. */
  imsec_aka_vector_wipe(&rep->vec);
  imsec_hss_sub_wipe(&rep->sub);
  free(rep);
  imsec_reg_record_free(&req->reg);
  return 0;
}

static void local_destroy(imsec_svc *s) {
  free(s);
}

static int hss_batch(local_svc *l, imsec_store_batch_op op) {
  imsec_hss_store *st = l->cfg.hss ? imsec_hss_get_store(l->cfg.hss) : NULL;
  if (!st || !st->vt->batch)
    return 0;
  int rv = st->vt->batch(st, op);
  /* Marks that did not commit: the cursors counting on them go. */
  if ((op == IMSEC_STORE_COMMIT && rv < 0) || op == IMSEC_STORE_ROLLBACK)
    imsec_hss_sqn_forget(l->cfg.hss);
  return rv;
}

static int reg_batch(local_svc *l, imsec_store_batch_op op) {
  imsec_reg_store *r = l->cfg.reg;
  return r && r->vt->batch ? r->vt->batch(r, op) : 0;
}

/* Group commit over both stores. The HSS commits first: when it fails,
 * the registrations are rolled back too, so nothing of a batch the
 * worker answers as failed is on disk but SQN marks, which only ever
 * move forward (a mark above the vectors handed out is safe, TS 33.102
 * C.3). */
static int local_batch(imsec_svc *s, imsec_store_batch_op op) {
  local_svc *l = (local_svc *)s;
  int hb = l->cfg.hss && imsec_hss_get_store(l->cfg.hss)->vt->batch;
  int rb = l->cfg.reg && l->cfg.reg->vt->batch;
  if (!hb && !rb)
    return IMSEC_ERR_UNSUPPORTED;
  switch (op) {
  case IMSEC_STORE_BEGIN: {
    IMSEC_GUARD(hss_batch(l, op));
    int rv = reg_batch(l, op);
    if (rv < 0)
      (void)hss_batch(l, IMSEC_STORE_ROLLBACK);
    return rv;
  }
  case IMSEC_STORE_COMMIT: {
    int rv = hss_batch(l, op);
    if (rv < 0) {
      (void)reg_batch(l, IMSEC_STORE_ROLLBACK);
      return rv;
    }
    return reg_batch(l, op);
  }
  case IMSEC_STORE_ROLLBACK:
    (void)hss_batch(l, op);
    (void)reg_batch(l, op);
    return 0;
  case IMSEC_STORE_PENDING: /* which stores: see imsec_svc_vtable */
    return (hss_batch(l, op) > 0 ? IMSEC_SVC_PENDING_HSS : 0) |
           (reg_batch(l, op) > 0 ? IMSEC_SVC_PENDING_REG : 0);
  }
  return IMSEC_ERR_INVAL;
}

static const imsec_svc_vtable local_vt = {
    .submit = local_submit, .destroy = local_destroy, .batch = local_batch};

int imsec_svc_local_new(imsec_svc **out, const imsec_svc_local_config *cfg) {
  if (!out || !cfg)
    return IMSEC_ERR_INVAL;
  local_svc *l = calloc(1, sizeof(*l));
  if (!l)
    return IMSEC_ERR_NOMEM;
  l->base.vt = &local_vt;
  l->cfg = *cfg;
  if (!l->cfg.wall_ms)
    l->cfg.wall_ms = real_wall_ms;
  *out = &l->base;
  return 0;
}
