/* The HSS logic: vectors with durable SQNs, resync (include/imsec/hss.h). */
#include <stdlib.h>
#include <string.h>

#include "imsec/hss.h"
#include "imsec/ident.h"

struct imsec_hss {
  imsec_hss_store *store;
  imsec_crypto *crypto;
  imsec_sqn_cfg cfg;
  imsec_milenage *m; /* re-keyed per subscriber */
};

void imsec_hss_sub_wipe(imsec_hss_sub *s) {
  if (s)
    imsec_wipe(s, sizeof(*s));
}

int imsec_hss_aka_parse(imsec_str s, imsec_hss_aka *out) {
  if (imsec_str_ieq_c(s, "v1") || imsec_str_ieq_c(s, "AKAv1-MD5")) {
    *out = IMSEC_HSS_AKAV1;
    return 0;
  }
  if (imsec_str_ieq_c(s, "v2") || imsec_str_ieq_c(s, "AKAv2-MD5")) {
    *out = IMSEC_HSS_AKAV2;
    return 0;
  }
  return IMSEC_ERR_PARSE;
}

const char *imsec_hss_aka_name(imsec_hss_aka aka) {
  return aka == IMSEC_HSS_AKAV2 ? "v2" : aka == IMSEC_HSS_AKAV1 ? "v1" : "?";
}

static size_t bounded_len(const char *s, size_t cap) {
  size_t n = 0;
  while (n < cap && s[n])
    n++;
  return n;
}

int imsec_hss_sub_check(const imsec_hss_sub *s, const imsec_sqn_cfg *cfg) {
  if (!s)
    return IMSEC_ERR_INVAL;
  imsec_sqn_cfg def = imsec_sqn_cfg_default();
  if (!cfg)
    cfg = &def;
  if (imsec_sqn_cfg_check(cfg) < 0)
    return IMSEC_ERR_INVAL;
  size_t n = bounded_len(s->impi, sizeof(s->impi));
  if (n == 0 || n == sizeof(s->impi))
    return IMSEC_ERR_INVAL;
  /* RFC 7542 §2.2, RFC 3261 §25.1: no controls, whitespace or quotes. */
  if (imsec_ident_bad_char(imsec_str_make(s->impi, n)) >= 0)
    return IMSEC_ERR_INVAL;
  if (s->n_impus == 0 || s->n_impus > IMSEC_HSS_MAX_IMPUS)
    return IMSEC_ERR_INVAL;
  for (size_t i = 0; i < s->n_impus; i++) {
    size_t l = bounded_len(s->impus[i], sizeof(s->impus[i]));
    if (l == 0 || l == sizeof(s->impus[i]) ||
        imsec_ident_bad_char(imsec_str_make(s->impus[i], l)) >= 0)
      return IMSEC_ERR_INVAL;
    for (size_t j = 0; j < i; j++)
      if (imsec_str_eq(imsec_str_c(s->impus[i]), imsec_str_c(s->impus[j])))
        return IMSEC_ERR_INVAL;
  }
  if (s->aka != IMSEC_HSS_AKAV1 && s->aka != IMSEC_HSS_AKAV2)
    return IMSEC_ERR_INVAL;
  if (s->sqn.seq > (IMSEC_SQN_MAX >> cfg->ind_bits) ||
      s->sqn.ind_next >= (1u << cfg->ind_bits))
    return IMSEC_ERR_INVAL;
  return 0;
}

void imsec_hss_store_del(imsec_hss_store *s) {
  if (s)
    s->vt->destroy(s);
}

int imsec_hss_new(imsec_hss **out, imsec_hss_store *store, imsec_crypto *crypto,
                  const imsec_sqn_cfg *cfg) {
  if (!out || !store || !crypto)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_sqn_cfg c = cfg ? *cfg : imsec_sqn_cfg_default();
  IMSEC_GUARD(imsec_sqn_cfg_check(&c));
  imsec_hss *h = calloc(1, sizeof(*h));
  if (!h)
    return IMSEC_ERR_NOMEM;
  h->store = store;
  h->crypto = crypto;
  h->cfg = c;
  int rv;
  IMSEC_GUARD_GOTO(rv, imsec_milenage_new(&h->m, crypto), fail_milenage);
  *out = h;
  return 0;
fail_milenage:
  free(h);
  return rv;
}

void imsec_hss_del(imsec_hss *h) {
  if (!h)
    return;
  imsec_milenage_del(h->m);
  free(h);
}

imsec_hss_store *imsec_hss_get_store(imsec_hss *h) {
  return h ? h->store : NULL;
}

static void strip_secrets(imsec_hss_sub *s) {
  imsec_wipe(s->k, sizeof(s->k));
  imsec_wipe(s->op, sizeof(s->op));
}

int imsec_hss_lookup(imsec_hss *h, imsec_str impi, imsec_hss_sub *out) {
  if (!h || !out)
    return IMSEC_ERR_INVAL;
  int rv = h->store->vt->load(h->store, impi, out);
  strip_secrets(out);
  return rv;
}

int imsec_hss_lookup_impu(imsec_hss *h, imsec_str impu, imsec_hss_sub *out) {
  if (!h || !out)
    return IMSEC_ERR_INVAL;
  int rv = h->store->vt->find_impu(h->store, impu, out);
  strip_secrets(out);
  return rv;
}

/* Load `impi` and key the Milenage instance with its K and OP/OPc; the
 * record's secrets are wiped before return. */
static int load_keyed(imsec_hss *h, imsec_str impi, imsec_hss_sub *sub) {
  int rv = h->store->vt->load(h->store, impi, sub);
  if (rv == 0)
    rv = sub->op_is_opc ? imsec_milenage_set_opc(h->m, sub->k, sub->op)
                        : imsec_milenage_set_op(h->m, sub->k, sub->op);
  strip_secrets(sub);
  return rv;
}

int imsec_hss_vector(imsec_hss *h, imsec_str impi, imsec_aka_vector *out,
                     imsec_hss_aka *aka) {
  if (!h || !out)
    return IMSEC_ERR_INVAL;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub)
    return IMSEC_ERR_NOMEM;
  uint8_t sqn[IMSEC_AKA_SQN_LEN];
  int rv;
  IMSEC_GUARD_GOTO(rv, load_keyed(h, impi, sub), done);
  /* TS 33.102 Annex C: SEQ_HE + 1 with the next IND ... */
  IMSEC_GUARD_GOTO(rv, imsec_sqn_he_next(&sub->sqn, &h->cfg, sqn), done);
  /* ... durable before the vector exists, so no SQN is ever reused. */
  IMSEC_GUARD_GOTO(rv, h->store->vt->save_sqn(h->store, impi, &sub->sqn), done);
  IMSEC_GUARD_GOTO(rv, imsec_aka_vector_make(h->m, sqn, sub->amf, out), done);
  if (aka)
    *aka = sub->aka;
done:
  if (rv < 0)
    imsec_aka_vector_wipe(out);
  imsec_wipe(sqn, sizeof(sqn));
  imsec_hss_sub_wipe(sub);
  free(sub);
  return rv;
}

int imsec_hss_resync(imsec_hss *h, imsec_str impi, const uint8_t rand[16],
                     const uint8_t auts[14]) {
  if (!h || !rand || !auts)
    return IMSEC_ERR_INVAL;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub)
    return IMSEC_ERR_NOMEM;
  int rv;
  IMSEC_GUARD_GOTO(rv, load_keyed(h, impi, sub), done);
  /* TS 33.102 §6.3.5: MAC-S checked, SQN_HE reset when needed. */
  IMSEC_GUARD_GOTO(
      rv, imsec_sqn_he_resync(&sub->sqn, &h->cfg, h->m, rand, auts, NULL),
      done);
  rv = h->store->vt->save_sqn(h->store, impi, &sub->sqn);
done:
  imsec_hss_sub_wipe(sub);
  free(sub);
  return rv;
}
