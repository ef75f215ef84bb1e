/* The HSS logic: vectors with durable SQNs, resync (include/imsec/hss.h). */
#include <stdlib.h>
#include <string.h>

#include "imsec/digest.h"
#include "imsec/hss.h"
#include "imsec/ident.h"
#include "imsec/map.h"

/* Range 1 (a write per vector) until the daemons opt in: the attack labs
 * and the CLI tests read the last SQN handed out from the store. */
#define DEFAULT_SQN_RANGE 1
#define DEFAULT_MAX_CURSORS 4096
/* How many times a vector or a resync reads the SQN state again after
 * another front-end moved it between the read and the write
 * (reserve_sqn). Each lost race means someone else made progress, so a
 * handful is plenty; past it the caller hears IMSEC_ERR_BUSY. */
#define SQN_CAS_TRIES 8

/* The in-memory SQN cursor of one IMPI (TS 33.102 C.3: the HE keeps its
 * SQN state; here the last SEQ handed out lives in memory and only a
 * high-water mark above it is durable). `saved` is exactly what the last
 * save_sqn of this HSS wrote: when the store holds anything else, another
 * writer (a second process, the management CLI) moved it and the cursor is
 * dropped. */
typedef struct sqn_cursor {
  imsec_sqn_he cur;   /* the state after the last vector handed out */
  imsec_sqn_he saved; /* the durable mark: saved.seq >= cur.seq */
} sqn_cursor;

struct imsec_hss {
  imsec_hss_store *store;
  imsec_crypto *crypto;
  imsec_sqn_cfg cfg;
  imsec_milenage *m; /* re-keyed per subscriber */
  uint32_t sqn_range;
  size_t max_cursors;
  imsec_map cursors; /* IMPI -> sqn_cursor */
  size_t evict_at;   /* where the next eviction looks */
};

static size_t bounded_len(const char *s, size_t cap) {
  size_t n = 0;
  while (n < cap && s[n])
    n++;
  return n;
}

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

int imsec_hss_scheme_parse(imsec_str s, imsec_hss_scheme *out) {
  if (imsec_str_ieq_c(s, "aka")) {
    *out = IMSEC_HSS_SCHEME_AKA;
    return 0;
  }
  if (imsec_str_ieq_c(s, "digest")) {
    *out = IMSEC_HSS_SCHEME_DIGEST;
    return 0;
  }
  return IMSEC_ERR_PARSE;
}

const char *imsec_hss_scheme_name(imsec_hss_scheme scheme) {
  return scheme == IMSEC_HSS_SCHEME_DIGEST ? "digest"
         : scheme == IMSEC_HSS_SCHEME_AKA  ? "aka"
                                           : "?";
}

int imsec_hss_digest_set(imsec_hss_sub *s, imsec_crypto *c, imsec_str realm,
                         imsec_bytes password) {
  if (!s || !c || !password.p || password.len == 0)
    return IMSEC_ERR_INVAL;
  size_t n = bounded_len(s->impi, sizeof(s->impi));
  if (n == 0 || n == sizeof(s->impi))
    return IMSEC_ERR_INVAL;
  imsec_str impi = imsec_str_make(s->impi, n);
  long at = imsec_str_find(impi, '@');
  /* TS 23.003 §13.3: the IMPI is username@realm; the home domain is the
   * realm unless the operator names another. */
  if (!realm.len && at >= 0)
    realm = imsec_str_make(impi.p + at + 1, n - (size_t)at - 1);
  if (!realm.len || imsec_ident_bad_char(realm) >= 0 ||
      imsec_str_copy(realm, s->digest.realm, sizeof(s->digest.realm)) < 0)
    return IMSEC_ERR_INVAL;
  imsec_str user[IMSEC_HSS_USER_FORMS] = {
      [IMSEC_HSS_USER_IMPI] = impi,
      [IMSEC_HSS_USER_PART] =
          at >= 0 ? imsec_str_make(impi.p, (size_t)at) : impi};
  static const imsec_hash_alg hash[IMSEC_HSS_HA1_ALGS] = {
      [IMSEC_HSS_HA1_MD5] = IMSEC_HASH_MD5,
      [IMSEC_HSS_HA1_SHA256] = IMSEC_HASH_SHA256};
  realm = imsec_str_c(s->digest.realm);
  for (size_t a = 0; a < IMSEC_HSS_HA1_ALGS; a++)
    for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
      int rv =
          imsec_digest_ha1(c, hash[a], user[u], realm, password,
                           s->digest.ha1[a][u], sizeof(s->digest.ha1[a][u]));
      if (rv < 0) {
        imsec_wipe(&s->digest, sizeof(s->digest));
        return rv;
      }
    }
  s->scheme = IMSEC_HSS_SCHEME_DIGEST;
  s->aka = IMSEC_HSS_AKAV1;
  imsec_wipe(s->k, sizeof(s->k));
  imsec_wipe(s->op, sizeof(s->op));
  s->op_is_opc = 0;
  memset(s->amf, 0, sizeof(s->amf));
  memset(&s->sqn, 0, sizeof(s->sqn));
  return 0;
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
  if (s->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    size_t r = bounded_len(s->digest.realm, sizeof(s->digest.realm));
    if (r == 0 || r == sizeof(s->digest.realm) ||
        imsec_ident_bad_char(imsec_str_make(s->digest.realm, r)) >= 0)
      return IMSEC_ERR_INVAL;
  } else if (s->scheme != IMSEC_HSS_SCHEME_AKA) {
    return IMSEC_ERR_INVAL;
  }
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
  h->sqn_range = DEFAULT_SQN_RANGE;
  h->max_cursors = DEFAULT_MAX_CURSORS;
  int rv;
  /* The keys are IMPIs of the store, but the S-CSCF asks for whatever
   * IMPI a REGISTER names: keyed hashing keeps the table flat. */
  uint8_t seed[16];
  IMSEC_GUARD_GOTO(rv, imsec_random(crypto, seed, sizeof(seed)), fail_milenage);
  imsec_map_init_str(&h->cursors, seed);
  imsec_wipe(seed, sizeof(seed));
  IMSEC_GUARD_GOTO(rv, imsec_milenage_new(&h->m, crypto), fail_milenage);
  *out = h;
  return 0;
fail_milenage:
  free(h);
  return rv;
}

static void cursors_clear(imsec_hss *h) {
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&h->cursors, &it)) != NULL)
    free(sl->val);
  imsec_map_free(&h->cursors);
}

void imsec_hss_del(imsec_hss *h) {
  if (!h)
    return;
  imsec_milenage_del(h->m);
  cursors_clear(h);
  free(h);
}

int imsec_hss_set_sqn_range(imsec_hss *h, uint32_t range, size_t max_cursors) {
  if (!h || range == 0)
    return IMSEC_ERR_INVAL;
  /* Forgetting every cursor is always safe: the next vector of each IMPI
   * reserves a new range above its durable mark. */
  cursors_clear(h);
  h->sqn_range = range;
  h->max_cursors = max_cursors ? max_cursors : DEFAULT_MAX_CURSORS;
  h->evict_at = 0;
  return 0;
}

void imsec_hss_sqn_forget(imsec_hss *h) {
  if (!h)
    return;
  cursors_clear(h);
  h->evict_at = 0;
}

size_t imsec_hss_sqn_cursors(const imsec_hss *h) {
  return h ? imsec_map_len(&h->cursors) : 0;
}

imsec_hss_store *imsec_hss_get_store(imsec_hss *h) {
  return h ? h->store : NULL;
}

static void strip_secrets(imsec_hss_sub *s) {
  imsec_wipe(s->k, sizeof(s->k));
  imsec_wipe(s->op, sizeof(s->op));
  imsec_wipe(s->digest.ha1, sizeof(s->digest.ha1));
}

int imsec_hss_digest_get(imsec_hss *h, imsec_str impi, imsec_hss_sub *out) {
  if (!h || !out)
    return IMSEC_ERR_INVAL;
  int rv = h->store->vt->load(h->store, impi, out);
  imsec_wipe(out->k, sizeof(out->k));
  imsec_wipe(out->op, sizeof(out->op));
  if (rv == 0 && out->scheme != IMSEC_HSS_SCHEME_DIGEST)
    rv = IMSEC_ERR_UNSUPPORTED;
  if (rv < 0)
    imsec_wipe(out->digest.ha1, sizeof(out->digest.ha1));
  return rv;
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

static int sqn_eq(const imsec_sqn_he *a, const imsec_sqn_he *b) {
  return a->seq == b->seq && a->ind_next == b->ind_next;
}

/* The cursor of `impi` when the store still holds the mark it saved;
 * a stale one (another writer moved the mark) is dropped. */
static sqn_cursor *cursor_get(imsec_hss *h, imsec_str impi,
                              const imsec_sqn_he *stored) {
  sqn_cursor *c = imsec_map_sget(&h->cursors, impi);
  if (c && !sqn_eq(&c->saved, stored)) {
    free(imsec_map_sdel(&h->cursors, impi));
    c = NULL;
  }
  return c;
}

/* Make room for one more cursor: forget one (the walk goes on from where
 * the last eviction stopped, so the table is cycled through). Forgetting
 * is safe: that IMPI's next vector reserves above its durable mark, which
 * only wastes the rest of its range. */
static void cursor_evict(imsec_hss *h) {
  while (imsec_map_len(&h->cursors) >= h->max_cursors) {
    size_t it = h->evict_at;
    if (!imsec_map_next(&h->cursors, &it)) {
      h->evict_at = 0;
      it = 0;
      if (!imsec_map_next(&h->cursors, &it))
        return;
    }
    free(imsec_map_del_at(&h->cursors, &it));
    h->evict_at = it;
  }
}

/* Remember where `impi` stands. Without memory the cursor is just not
 * kept: the next vector reserves again (safe, one more write). */
static void cursor_put(imsec_hss *h, imsec_str impi, sqn_cursor *c,
                       const imsec_sqn_he *cur, const imsec_sqn_he *saved) {
  if (!c) {
    cursor_evict(h);
    c = malloc(sizeof(*c));
    if (!c)
      return;
    if (imsec_map_sput(&h->cursors, impi, c, NULL) < 0) {
      free(c);
      return;
    }
  }
  c->cur = *cur;
  c->saved = *saved;
}

/* Write the SQN mark of `impi` that replaces `old` (what the load just
 * read): compare and set when the store can (front-ends sharing it then
 * never reserve the same range), else a plain save. */
static int sqn_write(imsec_hss *h, imsec_str impi, const imsec_sqn_he *old,
                     const imsec_sqn_he *next) {
  const imsec_hss_store_vtable *vt = h->store->vt;
  if (vt->reserve_sqn)
    return vt->reserve_sqn(h->store, impi, old, next);
  return vt->save_sqn(h->store, impi, next);
}

/* One attempt at a vector: IMSEC_ERR_STALE when another front-end moved
 * the stored mark between the load and the write (nothing handed out,
 * nothing written: the caller loads again). */
static int vector_once(imsec_hss *h, imsec_str impi, imsec_hss_sub *sub,
                       imsec_aka_vector *out, imsec_hss_aka *aka) {
  uint8_t sqn[IMSEC_AKA_SQN_LEN];
  int rv;
  IMSEC_GUARD_GOTO(rv, load_keyed(h, impi, sub), done);
  if (sub->scheme != IMSEC_HSS_SCHEME_AKA) {
    rv = IMSEC_ERR_UNSUPPORTED; /* no K: a SIP Digest subscriber */
    goto done;
  }
  /* TS 33.102 Annex C: SEQ_HE + 1 with the next IND, from the in-memory
   * cursor when this HSS holds one, else from the durable mark (which is
   * at or above every SEQ any earlier run handed out). */
  sqn_cursor *c = h->sqn_range > 1 ? cursor_get(h, impi, &sub->sqn) : NULL;
  imsec_sqn_he next = c ? c->cur : sub->sqn;
  IMSEC_GUARD_GOTO(rv, imsec_sqn_he_next(&next, &h->cfg, sqn), done);
  if (!c || next.seq > c->saved.seq) {
    /* Outside the reserved range: move the durable mark a range ahead
     * (C.3: a crash may waste SQNs, never reuse one), saved before the
     * vector exists. Inside it, no write: the mark already covers it,
     * and no other front-end reserves below a mark it did not write. */
    imsec_sqn_he mark = next;
    uint64_t seq_max = IMSEC_SQN_MAX >> h->cfg.ind_bits;
    uint64_t room = seq_max - next.seq;
    mark.seq += (uint64_t)h->sqn_range - 1 < room ? h->sqn_range - 1 : room;
    rv = sqn_write(h, impi, &sub->sqn, &mark);
    if (rv == IMSEC_ERR_STALE && c)
      free(imsec_map_sdel(&h->cursors, impi));
    if (rv < 0)
      goto done;
    if (h->sqn_range > 1)
      cursor_put(h, impi, c, &next, &mark);
  } else {
    c->cur = next;
  }
  IMSEC_GUARD_GOTO(rv, imsec_aka_vector_make(h->m, sqn, sub->amf, out), done);
  if (aka)
    *aka = sub->aka;
done:
  imsec_wipe(sqn, sizeof(sqn));
  return rv;
}

int imsec_hss_vector(imsec_hss *h, imsec_str impi, imsec_aka_vector *out,
                     imsec_hss_aka *aka) {
  if (!h || !out)
    return IMSEC_ERR_INVAL;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_STALE;
  for (int i = 0; i < SQN_CAS_TRIES && rv == IMSEC_ERR_STALE; i++)
    rv = vector_once(h, impi, sub, out, aka);
  if (rv == IMSEC_ERR_STALE)
    rv = IMSEC_ERR_BUSY;
  if (rv < 0)
    imsec_aka_vector_wipe(out);
  imsec_hss_sub_wipe(sub);
  free(sub);
  return rv;
}

/* One attempt at a resync: IMSEC_ERR_STALE when another front-end moved
 * the stored mark between the load and the write. */
static int resync_once(imsec_hss *h, imsec_str impi, imsec_hss_sub *sub,
                       const uint8_t rand[16], const uint8_t auts[14]) {
  IMSEC_GUARD(load_keyed(h, impi, sub));
  if (sub->scheme != IMSEC_HSS_SCHEME_AKA)
    return IMSEC_ERR_UNSUPPORTED;
  /* The HE's SQN_HE is the cursor's when this HSS holds one (the stored
   * mark may be up to a range ahead of it). */
  sqn_cursor *c = cursor_get(h, impi, &sub->sqn);
  imsec_sqn_he st = c ? c->cur : sub->sqn;
  /* TS 33.102 §6.3.5: MAC-S checked, SQN_HE reset when needed. */
  IMSEC_GUARD(imsec_sqn_he_resync(&st, &h->cfg, h->m, rand, auts, NULL));
  /* The new state is durable before any vector follows: the mark is set
   * to it exactly (no SEQ above it was handed out by this HSS, and every
   * earlier run's is at or below the mark this one started from), and the
   * cursor is forgotten so the next vector reserves a range above it.
   * With reserve_sqn only if no other front-end reserved meanwhile: its
   * range would lie above the mark this one read. */
  int rv = sqn_write(h, impi, &sub->sqn, &st);
  if ((rv == 0 || rv == IMSEC_ERR_STALE) && c)
    free(imsec_map_sdel(&h->cursors, impi));
  return rv;
}

int imsec_hss_resync(imsec_hss *h, imsec_str impi, const uint8_t rand[16],
                     const uint8_t auts[14]) {
  if (!h || !rand || !auts)
    return IMSEC_ERR_INVAL;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub)
    return IMSEC_ERR_NOMEM;
  int rv = IMSEC_ERR_STALE;
  for (int i = 0; i < SQN_CAS_TRIES && rv == IMSEC_ERR_STALE; i++)
    rv = resync_once(h, impi, sub, rand, auts);
  if (rv == IMSEC_ERR_STALE)
    rv = IMSEC_ERR_BUSY;
  imsec_hss_sub_wipe(sub);
  free(sub);
  return rv;
}
