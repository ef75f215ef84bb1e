/*
 * Digest response computation and constant-time verification (RFC 7616
 * §3.4.1-3.4.3; RFC 2617 §3.2.2 and its RFC 2069 no-qop form).
 */
#include <string.h>

#include "imsec/digest.h"

int imsec_digest_alg_parse(imsec_str s, imsec_digest_alg *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  /* RFC 7616 §3.3: an absent algorithm means MD5. */
  if (s.len == 0 || imsec_str_ieq_c(s, "MD5"))
    *out = IMSEC_DIGEST_MD5;
  else if (imsec_str_ieq_c(s, "SHA-256"))
    *out = IMSEC_DIGEST_SHA256;
  else if (imsec_str_ieq_c(s, "AKAv1-MD5"))
    *out = IMSEC_DIGEST_AKAV1_MD5;
  else if (imsec_str_ieq_c(s, "AKAv2-MD5"))
    *out = IMSEC_DIGEST_AKAV2_MD5;
  else
    return IMSEC_ERR_UNSUPPORTED;
  return 0;
}

const char *imsec_digest_alg_name(imsec_digest_alg alg) {
  switch (alg) {
  case IMSEC_DIGEST_MD5:
    return "MD5";
  case IMSEC_DIGEST_SHA256:
    return "SHA-256";
  case IMSEC_DIGEST_AKAV1_MD5:
    return "AKAv1-MD5";
  case IMSEC_DIGEST_AKAV2_MD5:
    return "AKAv2-MD5";
  }
  return "unknown";
}

imsec_hash_alg imsec_digest_alg_hash(imsec_digest_alg alg) {
  return alg == IMSEC_DIGEST_SHA256 ? IMSEC_HASH_SHA256 : IMSEC_HASH_MD5;
}

int imsec_digest_qop_parse(imsec_str s, imsec_digest_qop *out) {
  if (!out)
    return IMSEC_ERR_INVAL;
  if (s.len == 0)
    *out = IMSEC_DIGEST_QOP_NONE;
  else if (imsec_str_ieq_c(s, "auth"))
    *out = IMSEC_DIGEST_QOP_AUTH;
  else if (imsec_str_ieq_c(s, "auth-int"))
    *out = IMSEC_DIGEST_QOP_AUTH_INT;
  else
    return IMSEC_ERR_PARSE;
  return 0;
}

static const char hexd[] = "0123456789abcdef";

static void to_hex(const uint8_t *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexd[in[i] >> 4];
    out[2 * i + 1] = hexd[in[i] & 15];
  }
}

#define IOV(ptr, n) ((imsec_iov){(ptr), (n)})
#define IOV_STR(s) IOV((s).p, (s).len)
#define COLON IOV(":", 1)

int imsec_digest_response(imsec_crypto *c, const imsec_digest_input *in,
                          char *out, size_t cap) {
  if (!c || !in || !out)
    return IMSEC_ERR_INVAL;
  size_t hl = imsec_hash_len(in->hash);
  if (hl == 0 || in->qop > IMSEC_DIGEST_QOP_AUTH_INT)
    return IMSEC_ERR_INVAL;
  if (cap < 2 * hl + 1)
    return IMSEC_ERR_NOBUF;
  uint8_t h[IMSEC_HASH_MAX_LEN];
  char ha1[2 * IMSEC_HASH_MAX_LEN], ha2[2 * IMSEC_HASH_MAX_LEN];
  char hbody[2 * IMSEC_HASH_MAX_LEN];
  int rv;

  /* RFC 7616 §3.4.2: A1 = username ":" realm ":" passwd, or its hash as
   * stored. */
  if (in->ha1.len) {
    if (in->ha1.len != hl || !in->ha1.p) {
      rv = IMSEC_ERR_INVAL;
      goto done;
    }
    to_hex(in->ha1.p, hl, ha1);
  } else {
    imsec_iov a1[] = {IOV_STR(in->username), COLON, IOV_STR(in->realm), COLON,
                      IOV(in->password.p, in->password.len)};
    IMSEC_GUARD_GOTO(rv, imsec_hash(c, in->hash, a1, 5, h), done);
    to_hex(h, hl, ha1);
  }

  /* §3.4.3: A2 = Method ":" request-uri [":" H(entity-body)]. */
  size_t n2 = 3;
  imsec_iov a2[5] = {IOV_STR(in->method), COLON, IOV_STR(in->uri)};
  if (in->qop == IMSEC_DIGEST_QOP_AUTH_INT) {
    imsec_iov body = IOV(in->body.p, in->body.len);
    IMSEC_GUARD_GOTO(rv, imsec_hash(c, in->hash, &body, 1, h), done);
    to_hex(h, hl, hbody);
    a2[3] = COLON;
    a2[4] = IOV(hbody, 2 * hl);
    n2 = 5;
  }
  IMSEC_GUARD_GOTO(rv, imsec_hash(c, in->hash, a2, n2, h), done);
  to_hex(h, hl, ha2);

  /* §3.4.1: response = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))
   * with a qop; RFC 2617 §3.2.2.1: KD(H(A1), nonce ":" H(A2)) without. */
  if (in->qop == IMSEC_DIGEST_QOP_NONE) {
    imsec_iov r[] = {IOV(ha1, 2 * hl), COLON, IOV_STR(in->nonce), COLON,
                     IOV(ha2, 2 * hl)};
    IMSEC_GUARD_GOTO(rv, imsec_hash(c, in->hash, r, 5, h), done);
  } else {
    imsec_str qop = in->qop == IMSEC_DIGEST_QOP_AUTH
                        ? IMSEC_STR_LIT("auth")
                        : IMSEC_STR_LIT("auth-int");
    imsec_iov r[] = {IOV(ha1, 2 * hl), COLON, IOV_STR(in->nonce),  COLON,
                     IOV_STR(in->nc),  COLON, IOV_STR(in->cnonce), COLON,
                     IOV_STR(qop),     COLON, IOV(ha2, 2 * hl)};
    IMSEC_GUARD_GOTO(rv, imsec_hash(c, in->hash, r, 11, h), done);
  }
  to_hex(h, hl, out);
  out[2 * hl] = '\0';
  rv = (int)(2 * hl);
done:
  imsec_wipe(h, sizeof(h));
  imsec_wipe(ha1, sizeof(ha1));
  imsec_wipe(ha2, sizeof(ha2));
  return rv;
}

/* The unescaped value of a parsed field: the slice itself when it has no
 * escapes (the common case, zero-copy), else a copy in `scratch`. */
static int field_value(const imsec_digest_params *p, uint32_t bit, imsec_str v,
                       char *scratch, imsec_str *out) {
  if (!(p->quoted & bit) || imsec_str_find(v, '\\') < 0) {
    *out = v;
    return 0;
  }
  int n = imsec_digest_unquote(v, scratch, IMSEC_DIGEST_UNQUOTE_MAX + 1);
  if (n == IMSEC_ERR_NOBUF)
    return IMSEC_ERR_LIMIT;
  IMSEC_GUARD(n);
  *out = imsec_str_make(scratch, (size_t)n);
  return 0;
}

/* The response `auth` should carry for `method` (empty: rspauth) under
 * `password` or `ha1`, into want[2 * hash length + 1]. */
static int expected(imsec_crypto *c, const imsec_digest_params *auth,
                    imsec_digest_alg alg, imsec_str method, imsec_bytes body,
                    imsec_bytes password, imsec_bytes ha1, char *want,
                    size_t cap) {
  uint32_t need = IMSEC_DIGEST_P_USERNAME | IMSEC_DIGEST_P_REALM |
                  IMSEC_DIGEST_P_NONCE | IMSEC_DIGEST_P_URI;
  if ((auth->present & need) != need)
    return IMSEC_ERR_PARSE;
  imsec_digest_input in = {.hash = imsec_digest_alg_hash(alg),
                           .method = method,
                           .password = password,
                           .ha1 = ha1,
                           .body = body};
  IMSEC_GUARD(imsec_digest_qop_parse(auth->qop, &in.qop));
  if (in.qop != IMSEC_DIGEST_QOP_NONE) {
    uint32_t nc;
    if (!(auth->present & IMSEC_DIGEST_P_CNONCE) ||
        imsec_digest_nc_parse(auth->nc, &nc) < 0)
      return IMSEC_ERR_PARSE;
    in.nc = auth->nc;
  }
  char s_user[IMSEC_DIGEST_UNQUOTE_MAX + 1],
      s_realm[IMSEC_DIGEST_UNQUOTE_MAX + 1];
  char s_nonce[IMSEC_DIGEST_UNQUOTE_MAX + 1],
      s_uri[IMSEC_DIGEST_UNQUOTE_MAX + 1];
  char s_cnonce[IMSEC_DIGEST_UNQUOTE_MAX + 1];
  IMSEC_GUARD(field_value(auth, IMSEC_DIGEST_P_USERNAME, auth->username, s_user,
                          &in.username));
  IMSEC_GUARD(
      field_value(auth, IMSEC_DIGEST_P_REALM, auth->realm, s_realm, &in.realm));
  IMSEC_GUARD(
      field_value(auth, IMSEC_DIGEST_P_NONCE, auth->nonce, s_nonce, &in.nonce));
  IMSEC_GUARD(field_value(auth, IMSEC_DIGEST_P_URI, auth->uri, s_uri, &in.uri));
  if (in.qop != IMSEC_DIGEST_QOP_NONE)
    IMSEC_GUARD(field_value(auth, IMSEC_DIGEST_P_CNONCE, auth->cnonce, s_cnonce,
                            &in.cnonce));
  return imsec_digest_response(c, &in, want, cap);
}

static int verify(imsec_crypto *c, const imsec_digest_params *auth,
                  imsec_digest_alg alg, imsec_str method, imsec_bytes body,
                  imsec_bytes password, imsec_bytes ha1) {
  if (!c || !auth || (!password.p && password.len))
    return IMSEC_ERR_INVAL;
  if (alg > IMSEC_DIGEST_AKAV2_MD5)
    return IMSEC_ERR_INVAL;
  if (!(auth->present & IMSEC_DIGEST_P_RESPONSE))
    return IMSEC_ERR_PARSE;
  size_t hl = imsec_hash_len(imsec_digest_alg_hash(alg));
  /* The response must be hex of the hash's length; compare its lowercase
   * form (RFC 7616 §3.4.1: LHEX; tolerate upper case on input). */
  if (auth->response.len != 2 * hl)
    return IMSEC_ERR_PARSE;
  char got[2 * IMSEC_HASH_MAX_LEN];
  for (size_t i = 0; i < 2 * hl; i++) {
    int ch = (unsigned char)auth->response.p[i];
    if (!imsec_is_hexdigit(ch))
      return IMSEC_ERR_PARSE;
    got[i] = (char)imsec_to_lower(ch);
  }
  char want[2 * IMSEC_HASH_MAX_LEN + 1];
  int rv =
      expected(c, auth, alg, method, body, password, ha1, want, sizeof(want));
  if (rv >= 0)
    rv = imsec_ct_eq(want, got, 2 * hl) ? 0 : IMSEC_ERR_AUTH;
  imsec_wipe(want, sizeof(want));
  return rv;
}

int imsec_digest_verify(imsec_crypto *c, const imsec_digest_params *auth,
                        imsec_digest_alg alg, imsec_str method,
                        imsec_bytes body, imsec_bytes password) {
  return verify(c, auth, alg, method, body, password, (imsec_bytes){NULL, 0});
}

int imsec_digest_verify_ha1(imsec_crypto *c, const imsec_digest_params *auth,
                            imsec_digest_alg alg, imsec_str method,
                            imsec_bytes body, imsec_bytes ha1) {
  if (!ha1.p || ha1.len != imsec_hash_len(imsec_digest_alg_hash(alg)) ||
      (alg != IMSEC_DIGEST_MD5 && alg != IMSEC_DIGEST_SHA256))
    return IMSEC_ERR_INVAL;
  return verify(c, auth, alg, method, body, (imsec_bytes){NULL, 0}, ha1);
}

int imsec_digest_ha1(imsec_crypto *c, imsec_hash_alg hash, imsec_str username,
                     imsec_str realm, imsec_bytes password, uint8_t *out,
                     size_t cap) {
  size_t hl = imsec_hash_len(hash);
  if (!c || !out || hl == 0 || (!password.p && password.len))
    return IMSEC_ERR_INVAL;
  if (cap < hl)
    return IMSEC_ERR_NOBUF;
  /* RFC 7616 §3.4.2. */
  imsec_iov a1[] = {IOV_STR(username), COLON, IOV_STR(realm), COLON,
                    IOV(password.p, password.len)};
  uint8_t h[IMSEC_HASH_MAX_LEN];
  int rv = imsec_hash(c, hash, a1, 5, h);
  if (rv == 0) {
    memcpy(out, h, hl);
    rv = (int)hl;
  }
  imsec_wipe(h, sizeof(h));
  return rv;
}

int imsec_digest_rspauth(imsec_crypto *c, const imsec_digest_params *auth,
                         imsec_digest_alg alg, imsec_bytes ha1, char *out,
                         size_t cap) {
  if (!c || !auth || !out || !ha1.p ||
      ha1.len != imsec_hash_len(imsec_digest_alg_hash(alg)))
    return IMSEC_ERR_INVAL;
  imsec_digest_qop qop;
  IMSEC_GUARD(imsec_digest_qop_parse(auth->qop, &qop));
  if (qop == IMSEC_DIGEST_QOP_NONE)
    return IMSEC_ERR_PARSE;
  /* RFC 7616 §3.5: A2 = ":" request-uri (no method). */
  return expected(c, auth, alg, IMSEC_STR_LIT(""), (imsec_bytes){NULL, 0},
                  (imsec_bytes){NULL, 0}, ha1, out, cap);
}
