/*
 * TS 33.220 Annex B key derivation and the M3 PSK profile
 * (include/imsec/kdf.h). The profile is this project's, not 3GPP's.
 */
#include <string.h>

#include "imsec/kdf.h"

int imsec_kdf(imsec_crypto *c, const uint8_t *key, size_t keylen, uint8_t fc,
              const imsec_iov *params, size_t n, uint8_t out[IMSEC_KDF_LEN]) {
  if (!c || !key || !out || n > IMSEC_KDF_MAX_PARAMS || (n && !params))
    return IMSEC_ERR_INVAL;
  /* TS 33.220 B.2: S = FC || P0 || L0 || P1 || L1 ...; Li is the length
   * of Pi in two octets, most significant first. */
  imsec_iov iov[1 + 2 * IMSEC_KDF_MAX_PARAMS];
  uint8_t lens[IMSEC_KDF_MAX_PARAMS][2];
  size_t k = 0;
  iov[k++] = (imsec_iov){&fc, 1};
  for (size_t i = 0; i < n; i++) {
    if (params[i].len > 0xffff || (params[i].len && !params[i].p))
      return IMSEC_ERR_INVAL;
    lens[i][0] = (uint8_t)(params[i].len >> 8);
    lens[i][1] = (uint8_t)params[i].len;
    iov[k++] = params[i];
    iov[k++] = (imsec_iov){lens[i], 2};
  }
  return imsec_hmac(c, IMSEC_HASH_SHA256, key, keylen, iov, k, out);
}

int imsec_m3_psk_derive(imsec_crypto *c, const uint8_t ck[16],
                        const uint8_t ik[16], imsec_str impi,
                        const uint8_t rand[16], uint8_t key[IMSEC_M3_PSK_LEN],
                        char *identity, size_t cap) {
  if (!c || !ck || !ik || !rand || !key || !identity || !impi.len || !impi.p)
    return IMSEC_ERR_INVAL;
  if (cap < IMSEC_M3_ID_LEN + 1)
    return IMSEC_ERR_NOBUF;
  /* The KDF key is CK || IK, as TS 33.220 §4.5.2 forms Ks for GBA. */
  uint8_t ckik[32];
  memcpy(ckik, ck, 16);
  memcpy(ckik + 16, ik, 16);
  uint8_t idm[IMSEC_KDF_LEN];
  imsec_iov pk[2] = {{impi.p, impi.len}, {rand, 16}};
  imsec_iov pi[1] = {{rand, 16}};
  int rv = imsec_kdf(c, ckik, sizeof(ckik), IMSEC_M3_FC_PSK, pk, 2, key);
  if (rv == 0)
    rv = imsec_kdf(c, ckik, sizeof(ckik), IMSEC_M3_FC_ID, pi, 1, idm);
  imsec_wipe(ckik, sizeof(ckik));
  if (rv == 0) {
    memcpy(identity, IMSEC_M3_ID_PREFIX, IMSEC_M3_ID_PREFIX_LEN);
    rv = imsec_hex_encode(idm, 16, identity + IMSEC_M3_ID_PREFIX_LEN,
                          cap - IMSEC_M3_ID_PREFIX_LEN);
    rv = rv < 0 ? rv : 0;
  }
  imsec_wipe(idm, sizeof(idm));
  if (rv < 0) {
    imsec_wipe(key, IMSEC_M3_PSK_LEN);
    memset(identity, 0, cap);
  }
  return rv;
}

int imsec_m3_identity_is_derived(imsec_str id) {
  if (id.len != IMSEC_M3_ID_LEN || !id.p ||
      !imsec_ct_eq(id.p, IMSEC_M3_ID_PREFIX, IMSEC_M3_ID_PREFIX_LEN))
    return 0;
  for (size_t i = IMSEC_M3_ID_PREFIX_LEN; i < id.len; i++) {
    char ch = id.p[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
      return 0;
  }
  return 1;
}
