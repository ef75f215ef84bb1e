/*
 * Authentication vectors (TS 33.102 §6.3.2), the UE's AUTN check
 * (§6.3.3) and AUTS (§6.3.3, §6.3.5), on top of Milenage.
 */
#include <string.h>

#include "internal.h"

/* TS 33.102 §6.3.3: MAC-S is computed with a dummy AMF of all zeros. */
static const uint8_t amf_resync[2] = {0, 0};

int imsec_aka_vector_make_rand(imsec_milenage *m, const uint8_t rand[16],
                               const uint8_t sqn[6], const uint8_t amf[2],
                               imsec_aka_vector *v) {
  if (!m || !rand || !sqn || !amf || !v)
    return IMSEC_ERR_INVAL;
  imsec_milenage_out o;
  int rv = imsec_milenage_compute(m, rand, sqn, amf, &o);
  if (rv == 0) {
    memmove(v->rand, rand, 16);
    memset(v->xres, 0, sizeof(v->xres));
    memcpy(v->xres, o.res, IMSEC_AKA_RES_LEN);
    v->xres_len = IMSEC_AKA_RES_LEN;
    memcpy(v->ck, o.ck, 16);
    memcpy(v->ik, o.ik, 16);
    /* §6.3.2: AUTN = SQN xor AK || AMF || MAC. */
    for (int i = 0; i < 6; i++)
      v->autn[i] = (uint8_t)(sqn[i] ^ o.ak[i]);
    v->autn[6] = amf[0];
    v->autn[7] = amf[1];
    memcpy(v->autn + 8, o.mac_a, 8);
  }
  imsec_wipe(&o, sizeof(o));
  return rv;
}

int imsec_aka_vector_make(imsec_milenage *m, const uint8_t sqn[6],
                          const uint8_t amf[2], imsec_aka_vector *v) {
  if (!m || !sqn || !amf || !v)
    return IMSEC_ERR_INVAL;
  uint8_t rand[16];
  /* §6.3.2: RAND from the backend's CSPRNG. */
  IMSEC_GUARD(imsec_random(aka_milenage_crypto(m), rand, sizeof(rand)));
  return imsec_aka_vector_make_rand(m, rand, sqn, amf, v);
}

void imsec_aka_vector_wipe(imsec_aka_vector *v) {
  imsec_wipe(v, v ? sizeof(*v) : 0);
}

int imsec_aka_auts_make(imsec_milenage *m, const uint8_t rand[16],
                        const uint8_t sqn_ms[6], uint8_t auts[14]) {
  if (!m || !rand || !sqn_ms || !auts)
    return IMSEC_ERR_INVAL;
  imsec_milenage_out o;
  /* One batch gives both f1* and f5*. */
  int rv = imsec_milenage_compute(m, rand, sqn_ms, amf_resync, &o);
  if (rv == 0) {
    for (int i = 0; i < 6; i++)
      auts[i] = (uint8_t)(sqn_ms[i] ^ o.ak_star[i]);
    memcpy(auts + 6, o.mac_s, 8);
  }
  imsec_wipe(&o, sizeof(o));
  return rv;
}

int imsec_aka_auts_verify(imsec_milenage *m, const uint8_t rand[16],
                          const uint8_t auts[14], uint8_t sqn_ms[6]) {
  if (!m || !rand || !auts || !sqn_ms)
    return IMSEC_ERR_INVAL;
  uint8_t ak_star[6], sqn[6], xmac_s[8];
  int rv;
  IMSEC_GUARD_GOTO(rv, imsec_milenage_f5star(m, rand, ak_star), done);
  for (int i = 0; i < 6; i++)
    sqn[i] = (uint8_t)(auts[i] ^ ak_star[i]);
  IMSEC_GUARD_GOTO(
      rv, imsec_milenage_f1(m, rand, sqn, amf_resync, NULL, xmac_s), done);
  if (!imsec_ct_eq(xmac_s, auts + 6, 8)) {
    rv = IMSEC_ERR_MAC;
    goto done;
  }
  memcpy(sqn_ms, sqn, 6);
  rv = 0;
done:
  imsec_wipe(ak_star, sizeof(ak_star));
  imsec_wipe(xmac_s, sizeof(xmac_s));
  imsec_wipe(sqn, sizeof(sqn));
  return rv;
}

void imsec_aka_ue_result_wipe(imsec_aka_ue_result *r) {
  imsec_wipe(r, r ? sizeof(*r) : 0);
}

int imsec_aka_ue_run(imsec_milenage *m, imsec_sqn_ue *st,
                     const imsec_sqn_cfg *cfg, const uint8_t rand[16],
                     const uint8_t autn[16], imsec_aka_ue_result *out) {
  if (!m || !st || !cfg || !rand || !autn || !out)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_sqn_cfg_check(cfg));
  memset(out, 0, sizeof(*out));
  uint8_t res[8], ck[16], ik[16], sqn[6], xmac[8];
  int rv;

  IMSEC_GUARD_GOTO(rv, aka_milenage_ue(m, rand, autn, sqn, xmac, res, ck, ik),
                   done);
  memcpy(out->sqn, sqn, 6);
  if (!imsec_ct_eq(xmac, autn + 8, 8)) {
    out->status = IMSEC_AKA_UE_MAC_FAIL;
    rv = 0;
    goto done;
  }
  rv = imsec_sqn_ue_check(st, cfg, imsec_sqn_to_u64(sqn));
  if (rv == IMSEC_ERR_SYNC) {
    uint8_t sqn_ms[6];
    imsec_sqn_from_u64(imsec_sqn_ue_highest(st, cfg), sqn_ms);
    IMSEC_GUARD_GOTO(rv, imsec_aka_auts_make(m, rand, sqn_ms, out->auts), done);
    out->status = IMSEC_AKA_UE_SYNC_FAIL;
    goto done;
  }
  if (rv < 0)
    goto done;
  IMSEC_GUARD_GOTO(rv, imsec_sqn_ue_accept(st, cfg, imsec_sqn_to_u64(sqn)),
                   done);
  out->status = IMSEC_AKA_UE_OK;
  memcpy(out->res, res, 8);
  out->res_len = 8;
  memcpy(out->ck, ck, 16);
  memcpy(out->ik, ik, 16);
done:
  imsec_wipe(res, sizeof(res));
  imsec_wipe(ck, sizeof(ck));
  imsec_wipe(ik, sizeof(ik));
  imsec_wipe(xmac, sizeof(xmac));
  if (rv < 0)
    imsec_wipe(out, sizeof(*out));
  return rv;
}
