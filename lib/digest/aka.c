/*
 * Digest AKA: AKAv1-MD5 (RFC 3310) and AKAv2-MD5 (RFC 4169) on top of the
 * generic Digest response.
 */
#include <string.h>

#include "imsec/digest.h"

/* Decoded AKA nonces beyond this are refused: RAND || AUTN is 32 octets and
 * server data is small in practice. */
#define AKA_NONCE_MAX 256

int imsec_digest_aka_nonce_encode(const uint8_t rand[16],
                                  const uint8_t autn[16],
                                  imsec_bytes server_data, char *out,
                                  size_t cap) {
  if (!rand || !autn || !out || (!server_data.p && server_data.len) ||
      server_data.len > AKA_NONCE_MAX - 32)
    return IMSEC_ERR_INVAL;
  uint8_t raw[AKA_NONCE_MAX];
  /* RFC 3310 §3.2: nonce = base64(RAND || AUTN || server data). */
  memcpy(raw, rand, 16);
  memcpy(raw + 16, autn, 16);
  if (server_data.len)
    memcpy(raw + 32, server_data.p, server_data.len);
  return imsec_base64_encode(raw, 32 + server_data.len, out, cap);
}

int imsec_digest_aka_nonce_decode(imsec_str nonce, uint8_t rand[16],
                                  uint8_t autn[16], size_t *server_data) {
  if (!rand || !autn || (!nonce.p && nonce.len))
    return IMSEC_ERR_INVAL;
  uint8_t raw[AKA_NONCE_MAX];
  int n = imsec_base64_decode(nonce.p, nonce.len, raw, sizeof(raw));
  if (n == IMSEC_ERR_NOBUF)
    return IMSEC_ERR_LIMIT;
  IMSEC_GUARD(n);
  if (n < 32)
    return IMSEC_ERR_PARSE;
  memcpy(rand, raw, 16);
  memcpy(autn, raw + 16, 16);
  if (server_data)
    *server_data = (size_t)n - 32;
  return 0;
}

int imsec_digest_aka_password(imsec_crypto *c, imsec_digest_alg alg,
                              const uint8_t *res, size_t res_len,
                              const uint8_t ik[16], const uint8_t ck[16],
                              uint8_t *out, size_t cap) {
  if (!c || !res || !out || res_len == 0 || res_len > IMSEC_AKA_RES_MAX)
    return IMSEC_ERR_INVAL;
  if (alg == IMSEC_DIGEST_AKAV1_MD5) {
    /* RFC 3310 §3.3: the password is RES itself, as octets. */
    if (cap < res_len)
      return IMSEC_ERR_NOBUF;
    memcpy(out, res, res_len);
    return (int)res_len;
  }
  if (alg != IMSEC_DIGEST_AKAV2_MD5 || !ik || !ck)
    return IMSEC_ERR_INVAL;
  if (cap < IMSEC_DIGEST_AKAV2_PASSWORD_LEN)
    return IMSEC_ERR_NOBUF;
  /* RFC 4169: password = base64(PRF(RES || IK || CK,
   * "http-digest-akav2-password")), PRF = HMAC-MD5 for AKAv2-MD5. */
  uint8_t key[IMSEC_AKA_RES_MAX + 32], mac[IMSEC_MD5_LEN];
  char b64[IMSEC_DIGEST_AKAV2_PASSWORD_LEN + 1];
  memcpy(key, res, res_len);
  memcpy(key + res_len, ik, 16);
  memcpy(key + res_len + 16, ck, 16);
  static const char label[] = "http-digest-akav2-password";
  imsec_iov msg = {label, sizeof(label) - 1};
  int rv = imsec_hmac(c, IMSEC_HASH_MD5, key, res_len + 32, &msg, 1, mac);
  if (rv == 0)
    rv = imsec_base64_encode(mac, sizeof(mac), b64, sizeof(b64));
  if (rv == IMSEC_DIGEST_AKAV2_PASSWORD_LEN)
    memcpy(out, b64, IMSEC_DIGEST_AKAV2_PASSWORD_LEN);
  else if (rv >= 0)
    rv = IMSEC_ERR_INTERNAL;
  imsec_wipe(key, sizeof(key));
  imsec_wipe(mac, sizeof(mac));
  imsec_wipe(b64, sizeof(b64));
  return rv;
}

static int is_aka(imsec_digest_alg alg) {
  return alg == IMSEC_DIGEST_AKAV1_MD5 || alg == IMSEC_DIGEST_AKAV2_MD5;
}

int imsec_digest_aka_response(imsec_crypto *c, imsec_digest_alg alg,
                              const imsec_aka_ue_result *r,
                              const imsec_digest_input *in, char *out,
                              size_t cap) {
  if (!c || !r || !in || !out || !is_aka(alg))
    return IMSEC_ERR_INVAL;
  imsec_digest_input x = *in;
  x.hash = IMSEC_HASH_MD5;
  uint8_t pw[IMSEC_DIGEST_AKAV2_PASSWORD_LEN];
  int rv;
  switch (r->status) {
  case IMSEC_AKA_UE_OK:
    rv = imsec_digest_aka_password(c, alg, r->res, r->res_len, r->ik, r->ck, pw,
                                   sizeof(pw));
    if (rv < 0)
      goto done;
    x.password = (imsec_bytes){pw, (size_t)rv};
    break;
  case IMSEC_AKA_UE_SYNC_FAIL:
    /* RFC 3310 §3.4: on synchronisation failure the response is computed
     * with an empty password and AUTS goes in the auts parameter. */
    x.password = (imsec_bytes){NULL, 0};
    break;
  case IMSEC_AKA_UE_MAC_FAIL:
    return IMSEC_ERR_MAC;
  default:
    return IMSEC_ERR_INVAL;
  }
  rv = imsec_digest_response(c, &x, out, cap);
done:
  imsec_wipe(pw, sizeof(pw));
  return rv;
}

int imsec_digest_aka_auts_encode(const uint8_t auts[14], char *out,
                                 size_t cap) {
  if (!auts || !out)
    return IMSEC_ERR_INVAL;
  return imsec_base64_encode(auts, IMSEC_AKA_AUTS_LEN, out, cap);
}

int imsec_digest_aka_auts_decode(imsec_str value, uint8_t auts[14]) {
  if (!auts || (!value.p && value.len))
    return IMSEC_ERR_INVAL;
  uint8_t raw[IMSEC_AKA_AUTS_LEN + 2];
  int n = imsec_base64_decode(value.p, value.len, raw, sizeof(raw));
  if (n != IMSEC_AKA_AUTS_LEN)
    return IMSEC_ERR_PARSE;
  memcpy(auts, raw, IMSEC_AKA_AUTS_LEN);
  return 0;
}

int imsec_digest_aka_verify(imsec_crypto *c, const imsec_digest_params *auth,
                            imsec_digest_alg alg, const imsec_aka_vector *v,
                            imsec_str method, imsec_bytes body,
                            uint8_t auts[14]) {
  if (!c || !auth || !v || !is_aka(alg))
    return IMSEC_ERR_INVAL;
  if (!(auth->present & IMSEC_DIGEST_P_NONCE))
    return IMSEC_ERR_PARSE;
  /* The nonce must be the one this vector made (base64 has no escapes). */
  uint8_t rand[16], autn[16];
  IMSEC_GUARD(imsec_digest_aka_nonce_decode(auth->nonce, rand, autn, NULL));
  int same = imsec_ct_eq(rand, v->rand, 16) & imsec_ct_eq(autn, v->autn, 16);
  if (!same)
    return IMSEC_ERR_AUTH;

  if (auth->present & IMSEC_DIGEST_P_AUTS) {
    if (!auts)
      return IMSEC_ERR_INVAL;
    uint8_t raw[IMSEC_AKA_AUTS_LEN];
    IMSEC_GUARD(imsec_digest_aka_auts_decode(auth->auts, raw));
    /* RFC 3310 §3.4: the sync-failure response uses an empty password. */
    int rv =
        imsec_digest_verify(c, auth, alg, method, body, (imsec_bytes){NULL, 0});
    if (rv < 0)
      return rv;
    memcpy(auts, raw, IMSEC_AKA_AUTS_LEN);
    return IMSEC_ERR_SYNC;
  }

  uint8_t pw[IMSEC_DIGEST_AKAV2_PASSWORD_LEN];
  int rv = imsec_digest_aka_password(c, alg, v->xres, v->xres_len, v->ik, v->ck,
                                     pw, sizeof(pw));
  if (rv >= 0)
    rv = imsec_digest_verify(c, auth, alg, method, body,
                             (imsec_bytes){pw, (size_t)rv});
  imsec_wipe(pw, sizeof(pw));
  return rv;
}

int imsec_digest_aka_challenge_build(const imsec_aka_vector *v,
                                     imsec_digest_alg alg, imsec_str realm,
                                     imsec_str qop, imsec_str opaque,
                                     int with_keys, char *buf, size_t cap) {
  if (!v || !buf || !is_aka(alg))
    return IMSEC_ERR_INVAL;
  char nonce[64], ck[33], ik[33];
  IMSEC_GUARD(imsec_digest_aka_nonce_encode(
      v->rand, v->autn, (imsec_bytes){NULL, 0}, nonce, sizeof(nonce)));
  imsec_digest_params p = {0};
  p.realm = realm;
  p.present = IMSEC_DIGEST_P_REALM;
  p.nonce = imsec_str_c(nonce);
  p.algorithm = imsec_str_c(imsec_digest_alg_name(alg));
  if (qop.len)
    p.qop = qop;
  if (opaque.len)
    p.opaque = opaque;
  int rv;
  if (with_keys) {
    IMSEC_GUARD_GOTO(rv, imsec_hex_encode(v->ck, 16, ck, sizeof(ck)), done);
    IMSEC_GUARD_GOTO(rv, imsec_hex_encode(v->ik, 16, ik, sizeof(ik)), done);
    p.ck = imsec_str_make(ck, 32);
    p.ik = imsec_str_make(ik, 32);
  }
  rv = imsec_digest_build(IMSEC_DIGEST_CHALLENGE, &p, buf, cap);
done:
  imsec_wipe(ck, sizeof(ck));
  imsec_wipe(ik, sizeof(ik));
  return rv;
}
