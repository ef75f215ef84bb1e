/*
 * Milenage f1, f1*, f2, f3, f4, f5, f5* (TS 35.206 §4.1).
 *
 * TEMP = E_K(RAND xor OPc) needs one AES call; OUT1..OUT5 are independent of
 * one another, so the blocks a caller asks for go to the backend in one
 * batch (the backend pipelines them). The key schedule lives in the
 * instance and is reused; nothing here allocates after imsec_milenage_new.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct imsec_milenage {
  imsec_crypto *c;
  imsec_aes128 *ks;
  uint8_t opc[16];
  int keyed;
};

/* Which OUTi to compute. */
enum {
  OUT1 = 1u << 0,
  OUT2 = 1u << 1,
  OUT3 = 1u << 2,
  OUT4 = 1u << 3,
  OUT5 = 1u << 4,
};

imsec_crypto *aka_milenage_crypto(imsec_milenage *m) {
  return m->c;
}

int imsec_milenage_new(imsec_milenage **out, imsec_crypto *crypto) {
  if (!out || !crypto)
    return IMSEC_ERR_INVAL;
  imsec_milenage *m = calloc(1, sizeof(*m));
  if (!m)
    return IMSEC_ERR_NOMEM;
  m->c = crypto;
  int rv = imsec_aes128_new(crypto, &m->ks);
  if (rv < 0)
    goto fail_ks;
  *out = m;
  return 0;

fail_ks:
  free(m);
  return rv;
}

void imsec_milenage_del(imsec_milenage *m) {
  if (!m)
    return;
  imsec_aes128_del(m->c, m->ks); /* the backend wipes the schedule */
  imsec_wipe(m, sizeof(*m));
  free(m);
}

int imsec_milenage_set_opc(imsec_milenage *m, const uint8_t k[16],
                           const uint8_t opc[16]) {
  if (!m || !k || !opc)
    return IMSEC_ERR_INVAL;
  m->keyed = 0;
  IMSEC_GUARD(imsec_aes128_setkey(m->c, m->ks, k));
  memmove(m->opc, opc, 16);
  m->keyed = 1;
  return 0;
}

int imsec_milenage_set_op(imsec_milenage *m, const uint8_t k[16],
                          const uint8_t op[16]) {
  if (!m || !k || !op)
    return IMSEC_ERR_INVAL;
  m->keyed = 0;
  IMSEC_GUARD(imsec_aes128_setkey(m->c, m->ks, k));
  uint8_t e[16];
  /* TS 35.206 §4.1: OPc = OP xor E_K(OP). */
  int rv = imsec_aes128_encrypt(m->c, m->ks, op, e, 1);
  if (rv == 0) {
    for (int i = 0; i < 16; i++)
      m->opc[i] = (uint8_t)(e[i] ^ op[i]);
    m->keyed = 1;
  }
  imsec_wipe(e, sizeof(e));
  return rv;
}

int imsec_milenage_get_opc(const imsec_milenage *m, uint8_t opc[16]) {
  if (!m || !opc)
    return IMSEC_ERR_INVAL;
  if (!m->keyed)
    return IMSEC_ERR_STATE;
  memcpy(opc, m->opc, 16);
  return 0;
}

int imsec_milenage_opc(imsec_crypto *crypto, const uint8_t k[16],
                       const uint8_t op[16], uint8_t opc[16]) {
  if (!crypto || !k || !op || !opc)
    return IMSEC_ERR_INVAL;
  imsec_milenage *m = NULL;
  IMSEC_GUARD(imsec_milenage_new(&m, crypto));
  int rv = imsec_milenage_set_op(m, k, op);
  if (rv == 0)
    memcpy(opc, m->opc, 16);
  imsec_milenage_del(m);
  return rv;
}

/* TS 35.206 §4.1: r1..r5 = 64, 0, 32, 64, 96 bits; all are whole octets,
 * so the cyclic rotation towards the most significant end is an octet
 * rotation. c1..c5 are 0, 1, 2, 4, 8 in the last octet. */
static const uint8_t rot_octets[5] = {8, 0, 4, 8, 12};
static const uint8_t c_last[5] = {0, 1, 2, 4, 8};

/* TEMP = E_K(RAND xor OPc). */
static int milenage_temp(imsec_milenage *m, const uint8_t rand[16],
                         uint8_t temp[16]) {
  if (!m->keyed)
    return IMSEC_ERR_STATE;
  for (int i = 0; i < 16; i++)
    temp[i] = (uint8_t)(rand[i] ^ m->opc[i]);
  return imsec_aes128_encrypt(m->c, m->ks, temp, temp, 1);
}

/* The OUTi in `mask` from TEMP into out[i-1], in one batched AES call.
 * `sqn`/`amf` are needed only for OUT1. Wipes its intermediates. */
static int milenage_outs(imsec_milenage *m, const uint8_t temp[16],
                         const uint8_t sqn[6], const uint8_t amf[2],
                         unsigned mask, uint8_t out[5][16]) {
  const uint8_t *opc = m->opc;
  uint8_t blk[5][16];
  uint8_t idx[5];
  size_t n = 0;

  if (mask & OUT1) {
    /* IN1 = SQN || AMF || SQN || AMF; OUT1's input is
     * TEMP xor rot(IN1 xor OPc, r1) xor c1. */
    uint8_t in1[16];
    memcpy(in1, sqn, 6);
    memcpy(in1 + 6, amf, 2);
    memcpy(in1 + 8, in1, 8);
    for (int i = 0; i < 16; i++)
      blk[n][i] = (uint8_t)(temp[i] ^ in1[(i + 8) & 15] ^ opc[(i + 8) & 15]);
    imsec_wipe(in1, sizeof(in1));
    idx[n++] = 0;
  }
  for (unsigned k = 1; k < 5; k++) {
    if (!(mask & (1u << k)))
      continue;
    /* OUTk input: rot(TEMP xor OPc, rk) xor ck. */
    unsigned r = rot_octets[k];
    for (unsigned i = 0; i < 16; i++) {
      unsigned j = (i + r) & 15;
      blk[n][i] = (uint8_t)(temp[j] ^ opc[j]);
    }
    blk[n][15] ^= c_last[k];
    idx[n++] = (uint8_t)k;
  }
  int rv = imsec_aes128_encrypt(m->c, m->ks, blk[0], blk[0], n);
  if (rv == 0) {
    for (size_t b = 0; b < n; b++) {
      for (int i = 0; i < 16; i++)
        out[idx[b]][i] = (uint8_t)(blk[b][i] ^ opc[i]);
    }
  }
  imsec_wipe(blk, sizeof(blk));
  return rv;
}

/* TEMP, then the OUTi in `mask`. */
static int milenage_run(imsec_milenage *m, const uint8_t rand[16],
                        const uint8_t sqn[6], const uint8_t amf[2],
                        unsigned mask, uint8_t out[5][16]) {
  uint8_t temp[16];
  int rv = milenage_temp(m, rand, temp);
  if (rv == 0)
    rv = milenage_outs(m, temp, sqn, amf, mask, out);
  imsec_wipe(temp, sizeof(temp));
  return rv;
}

int aka_milenage_ue(imsec_milenage *m, const uint8_t rand[16],
                    const uint8_t autn[16], uint8_t sqn[6], uint8_t xmac[8],
                    uint8_t res[8], uint8_t ck[16], uint8_t ik[16]) {
  uint8_t temp[16], out[5][16];
  int rv;
  /* TS 33.102 §6.3.3: AK = f5(RAND) recovers SQN, which XMAC needs; RES,
   * CK and IK share TEMP and the first batch. */
  IMSEC_GUARD_GOTO(rv, milenage_temp(m, rand, temp), done);
  IMSEC_GUARD_GOTO(
      rv, milenage_outs(m, temp, NULL, NULL, OUT2 | OUT3 | OUT4, out), done);
  for (int i = 0; i < 6; i++)
    sqn[i] = (uint8_t)(autn[i] ^ out[1][i]);
  IMSEC_GUARD_GOTO(rv, milenage_outs(m, temp, sqn, autn + 6, OUT1, out), done);
  memcpy(xmac, out[0], 8);
  memcpy(res, out[1] + 8, 8);
  memcpy(ck, out[2], 16);
  memcpy(ik, out[3], 16);
done:
  imsec_wipe(temp, sizeof(temp));
  imsec_wipe(out, sizeof(out));
  return rv;
}

int imsec_milenage_compute(imsec_milenage *m, const uint8_t rand[16],
                           const uint8_t sqn[6], const uint8_t amf[2],
                           imsec_milenage_out *o) {
  if (!m || !rand || !sqn || !amf || !o)
    return IMSEC_ERR_INVAL;
  uint8_t out[5][16];
  int rv =
      milenage_run(m, rand, sqn, amf, OUT1 | OUT2 | OUT3 | OUT4 | OUT5, out);
  if (rv == 0) {
    /* TS 35.206 §4.1: MAC-A = OUT1[0..63], MAC-S = OUT1[64..127],
     * AK = OUT2[0..47], RES = OUT2[64..127], CK = OUT3, IK = OUT4,
     * AK* = OUT5[0..47]. */
    memcpy(o->mac_a, out[0], 8);
    memcpy(o->mac_s, out[0] + 8, 8);
    memcpy(o->ak, out[1], 6);
    memcpy(o->res, out[1] + 8, 8);
    memcpy(o->ck, out[2], 16);
    memcpy(o->ik, out[3], 16);
    memcpy(o->ak_star, out[4], 6);
  }
  imsec_wipe(out, sizeof(out));
  return rv;
}

int imsec_milenage_f1(imsec_milenage *m, const uint8_t rand[16],
                      const uint8_t sqn[6], const uint8_t amf[2],
                      uint8_t mac_a[8], uint8_t mac_s[8]) {
  if (!m || !rand || !sqn || !amf)
    return IMSEC_ERR_INVAL;
  uint8_t out[5][16];
  int rv = milenage_run(m, rand, sqn, amf, OUT1, out);
  if (rv == 0) {
    if (mac_a)
      memcpy(mac_a, out[0], 8);
    if (mac_s)
      memcpy(mac_s, out[0] + 8, 8);
  }
  imsec_wipe(out, sizeof(out));
  return rv;
}

int imsec_milenage_f2345(imsec_milenage *m, const uint8_t rand[16],
                         uint8_t res[8], uint8_t ck[16], uint8_t ik[16],
                         uint8_t ak[6]) {
  if (!m || !rand)
    return IMSEC_ERR_INVAL;
  unsigned mask =
      ((res || ak) ? OUT2 : 0u) | (ck ? OUT3 : 0u) | (ik ? OUT4 : 0u);
  if (!mask)
    return 0;
  uint8_t out[5][16];
  int rv = milenage_run(m, rand, NULL, NULL, mask, out);
  if (rv == 0) {
    if (res)
      memcpy(res, out[1] + 8, 8);
    if (ak)
      memcpy(ak, out[1], 6);
    if (ck)
      memcpy(ck, out[2], 16);
    if (ik)
      memcpy(ik, out[3], 16);
  }
  imsec_wipe(out, sizeof(out));
  return rv;
}

int imsec_milenage_f5star(imsec_milenage *m, const uint8_t rand[16],
                          uint8_t ak_star[6]) {
  if (!m || !rand || !ak_star)
    return IMSEC_ERR_INVAL;
  uint8_t out[5][16];
  int rv = milenage_run(m, rand, NULL, NULL, OUT5, out);
  if (rv == 0)
    memcpy(ak_star, out[4], 6);
  imsec_wipe(out, sizeof(out));
  return rv;
}
