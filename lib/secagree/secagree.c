/* Security mechanism agreement (include/imsec/secagree.h; RFC 3329). */
#include <string.h>

#include "imsec/secagree.h"

static int add(imsec_secagree_list *l, imsec_str v) {
  if (l->n >= IMSEC_SECAGREE_MAX_MECHS)
    return IMSEC_ERR_LIMIT;
  IMSEC_GUARD(
      imsec_sip_secmech_parse(v, IMSEC_SECAGREE_MAX_PARAMS, &l->mech[l->n]));
  l->n++;
  return 0;
}

int imsec_secagree_parse(imsec_str text, imsec_secagree_list *out) {
  out->n = 0;
  imsec_str rest = imsec_str_trim(text);
  if (!rest.len)
    return 0;
  if (!rest.p)
    rest.p = "";
  imsec_str v;
  int rv;
  while ((rv = imsec_sip_list_next(&rest, &v)) == 1)
    IMSEC_GUARD(add(out, v));
  return rv;
}

int imsec_secagree_parse_msg(const imsec_sip_msg *m, imsec_sip_hid id,
                             imsec_secagree_list *out) {
  out->n = 0;
  if (id != IMSEC_SIP_H_SECURITY_CLIENT && id != IMSEC_SIP_H_SECURITY_SERVER &&
      id != IMSEC_SIP_H_SECURITY_VERIFY)
    return IMSEC_ERR_INVAL;
  imsec_sip_iter it = IMSEC_SIP_ITER_INIT;
  imsec_str v;
  int rv;
  while ((rv = imsec_sip_value_next(m, id, &it, &v, NULL)) == 1)
    IMSEC_GUARD(add(out, v));
  return rv;
}

long imsec_secagree_find(const imsec_secagree_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (imsec_str_ieq_c(l->mech[i].mechanism, name))
      return (long)i;
  return -1;
}

static long find_str(const imsec_secagree_list *l, imsec_str name) {
  for (size_t i = 0; i < l->n; i++)
    if (imsec_str_ieq(l->mech[i].mechanism, name))
      return (long)i;
  return -1;
}

long imsec_secagree_select(const imsec_secagree_list *theirs,
                           const imsec_secagree_list *ours) {
  long best = IMSEC_ERR_NOTFOUND;
  for (size_t i = 0; i < theirs->n; i++) {
    if (find_str(ours, theirs->mech[i].mechanism) < 0)
      continue;
    /* RFC 3329 §2.2: a higher q is preferred; strictly higher, so the
     * first listed wins a tie. */
    if (best < 0 || theirs->mech[i].q > theirs->mech[best].q)
      best = (long)i;
  }
  return best;
}

int imsec_secagree_answer(const imsec_secagree_list *offer, imsec_str *server) {
  imsec_secagree_list ours;
  imsec_str s = IMSEC_STR_LIT(IMSEC_SECAGREE_SERVER);
  IMSEC_GUARD(imsec_secagree_parse(s, &ours));
  if (imsec_secagree_select(offer, &ours) < 0)
    return IMSEC_ERR_NOTFOUND;
  *server = s;
  return 0;
}

static int param_eq(const imsec_sip_param *x, const imsec_sip_param *y) {
  return imsec_str_ieq(x->name, y->name) && x->has_value == y->has_value &&
         imsec_str_ieq(x->value, y->value);
}

/* How often `x` occurs in the raw parameters `in`. */
static size_t param_count(imsec_str in, const imsec_sip_param *x) {
  imsec_sip_param y;
  size_t n = 0;
  while (imsec_sip_param_next(&in, &y))
    n += param_eq(x, &y) ? 1u : 0u;
  return n;
}

/* The same parameters but q (compared as a number) the same number of
 * times each: equal as multisets, so the answer is reflexive and
 * symmetric even for a list that repeats a parameter. */
static int params_in(imsec_str a, imsec_str b) {
  imsec_sip_param pa;
  imsec_str ra = a;
  while (imsec_sip_param_next(&ra, &pa)) {
    if (imsec_str_ieq_c(pa.name, "q"))
      continue;
    if (param_count(a, &pa) != param_count(b, &pa))
      return 0;
  }
  return 1;
}

static int params_equal(imsec_str a, imsec_str b) {
  return params_in(a, b) && params_in(b, a);
}

static int mech_equal(const imsec_sip_secmech *a, const imsec_sip_secmech *b) {
  return imsec_str_ieq(a->mechanism, b->mechanism) && a->q == b->q &&
         params_equal(a->params, b->params);
}

int imsec_secagree_equal(const imsec_secagree_list *a,
                         const imsec_secagree_list *b) {
  if (a->n != b->n)
    return 0;
  for (size_t i = 0; i < a->n; i++)
    if (!mech_equal(&a->mech[i], &b->mech[i]))
      return 0;
  return 1;
}

int imsec_secagree_verify_msg(const imsec_sip_msg *m, imsec_str sent) {
  imsec_secagree_list ours, got;
  IMSEC_GUARD(imsec_secagree_parse(sent, &ours));
  IMSEC_GUARD(imsec_secagree_parse_msg(m, IMSEC_SIP_H_SECURITY_VERIFY, &got));
  if (!got.n)
    return IMSEC_ERR_NOTFOUND;
  return imsec_secagree_equal(&ours, &got) ? 0 : IMSEC_ERR_AUTH;
}

int imsec_secagree_build(const imsec_secagree_list *l, char *buf, size_t cap) {
  size_t len = 0;
  if (!cap)
    return IMSEC_ERR_NOBUF;
  for (size_t i = 0; i < l->n; i++) {
    const imsec_sip_secmech *s = &l->mech[i];
    imsec_str parts[3] = {i ? IMSEC_STR_LIT(", ") : IMSEC_STR_LIT(""),
                          s->mechanism, s->params};
    for (size_t k = 0; k < 3; k++) {
      if (parts[k].len >= cap - len)
        return IMSEC_ERR_NOBUF;
      if (parts[k].len)
        memcpy(buf + len, parts[k].p, parts[k].len);
      len += parts[k].len;
    }
  }
  buf[len] = 0;
  return (int)len;
}
