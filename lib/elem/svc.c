/* Service requests and registration records (include/imsec/elem.h). */
#include <stdlib.h>
#include <string.h>

#include "imsec/elem.h"

const char *imsec_svc_kind_name(imsec_svc_kind k) {
  switch (k) {
  case IMSEC_SVC_HSS_SUB:
    return "hss-sub";
  case IMSEC_SVC_HSS_SUB_IMPU:
    return "hss-sub-impu";
  case IMSEC_SVC_HSS_VECTOR:
    return "hss-vector";
  case IMSEC_SVC_HSS_RESYNC:
    return "hss-resync";
  case IMSEC_SVC_REG_LOAD:
    return "reg-load";
  case IMSEC_SVC_REG_SAVE:
    return "reg-save";
  case IMSEC_SVC_REG_DELETE:
    return "reg-delete";
  case IMSEC_SVC_UE_SQN:
    return "ue-sqn";
  case IMSEC_SVC_HSS_DIGEST:
    return "hss-digest";
  case IMSEC_SVC_HSS_ASSIGN:
    return "hss-assign";
  case IMSEC_SVC_REG_GET:
    return "reg-get";
  case IMSEC_SVC_REG_EXPIRE:
    return "reg-expire";
  }
  return "?";
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src)
    return 0;
  size_t n = strlen(src);
  *dst = malloc(n + 1);
  if (!*dst)
    return IMSEC_ERR_NOMEM;
  memcpy(*dst, src, n + 1);
  return 0;
}

void imsec_reg_binding_free(imsec_reg_binding *b) {
  free(b->contact);
  free(b->path);
  free(b->instance);
  free(b->peer);
  memset(b, 0, sizeof(*b));
}

void imsec_reg_record_free(imsec_reg_record *r) {
  if (!r)
    return;
  free(r->impi);
  for (size_t i = 0; r->impus && i < r->n_impus; i++)
    free(r->impus[i]);
  free(r->impus);
  free(r->service_route);
  for (size_t i = 0; r->b && i < r->n; i++)
    imsec_reg_binding_free(&r->b[i]);
  free(r->b);
  memset(r, 0, sizeof(*r));
}

int imsec_reg_record_copy(imsec_reg_record *out, const imsec_reg_record *in) {
  memset(out, 0, sizeof(*out));
  int rv = dup_opt(&out->impi, in->impi);
  rv |= dup_opt(&out->service_route, in->service_route);
  out->digest = in->digest;
  if (rv == 0 && in->n_impus) {
    out->impus = calloc(in->n_impus, sizeof(*out->impus));
    if (!out->impus)
      rv = IMSEC_ERR_NOMEM;
    for (size_t i = 0; rv == 0 && i < in->n_impus; i++) {
      rv = dup_opt(&out->impus[i], in->impus[i]);
      out->n_impus = i + 1;
    }
  }
  if (rv == 0 && in->n) {
    out->b = calloc(in->n, sizeof(*out->b));
    if (!out->b)
      rv = IMSEC_ERR_NOMEM;
    for (size_t i = 0; rv == 0 && i < in->n; i++) {
      const imsec_reg_binding *s = &in->b[i];
      imsec_reg_binding *d = &out->b[i];
      out->n = i + 1;
      d->reg_id = s->reg_id;
      d->ttl_ms = s->ttl_ms;
      d->order = s->order;
      rv |= dup_opt(&d->contact, s->contact);
      rv |= dup_opt(&d->path, s->path);
      rv |= dup_opt(&d->instance, s->instance);
      rv |= dup_opt(&d->peer, s->peer);
    }
  }
  if (rv != 0) {
    imsec_reg_record_free(out);
    return IMSEC_ERR_NOMEM;
  }
  return 0;
}
