/*
 * imsec digest: HTTP Digest as SIP uses it (RFC 3261 §22, §25; RFC 2617;
 * RFC 7616), with AKAv1-MD5 (RFC 3310) and AKAv2-MD5 (RFC 4169).
 *
 * - Parsing is zero-copy: the SIP parser hands over the raw value of a
 *   WWW-Authenticate, Authorization, Proxy-Authenticate or
 *   Proxy-Authorization header field (e.g. `Digest realm="x", nonce="..."`)
 *   as an imsec_str; the result is a struct of slices into that text, which
 *   must outlive it. A quoted value's slice is the text between the quotes
 *   with its escapes kept; imsec_digest_unquote copies it out unescaped.
 * - Building writes into a caller buffer.
 * - Responses (MD5, SHA-256; qop auth, auth-int, or none) go through the
 *   imsec_crypto vtable; server-side verification compares in constant
 *   time. Replay detection on nc is the caller's: it keeps the highest nc
 *   accepted per nonce, and imsec_digest_nc_check compares and raises it.
 *
 * Sans-I/O, libc only, no allocation.
 */
#ifndef IMSEC_DIGEST_H
#define IMSEC_DIGEST_H

#include "imsec/aka.h"
#include "imsec/base.h"
#include "imsec/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on what the parser accepts (IMSEC_ERR_LIMIT beyond them). */
#define IMSEC_DIGEST_MAX_PARAMS 64    /* auth-params in one header value */
#define IMSEC_DIGEST_MAX_VALUE 4096   /* octets in one parameter value */
#define IMSEC_DIGEST_UNQUOTE_MAX 1024 /* unescaped field inside verify */

/* ----------------------------------------------------------------- parse */

/* Bits of imsec_digest_params.present, one per known parameter. */
enum {
  IMSEC_DIGEST_P_REALM = 1u << 0,
  IMSEC_DIGEST_P_NONCE = 1u << 1,
  IMSEC_DIGEST_P_OPAQUE = 1u << 2,
  IMSEC_DIGEST_P_ALGORITHM = 1u << 3,
  IMSEC_DIGEST_P_QOP = 1u << 4,
  IMSEC_DIGEST_P_NC = 1u << 5,
  IMSEC_DIGEST_P_CNONCE = 1u << 6,
  IMSEC_DIGEST_P_URI = 1u << 7,
  IMSEC_DIGEST_P_USERNAME = 1u << 8,
  IMSEC_DIGEST_P_RESPONSE = 1u << 9,
  IMSEC_DIGEST_P_AUTS = 1u << 10,
  IMSEC_DIGEST_P_STALE = 1u << 11,
  IMSEC_DIGEST_P_DOMAIN = 1u << 12,
  IMSEC_DIGEST_P_USERHASH = 1u << 13,
  IMSEC_DIGEST_P_CK = 1u << 14,                  /* TS 33.203: S-CSCF -> P */
  IMSEC_DIGEST_P_IK = 1u << 15,                  /* TS 33.203: S-CSCF -> P */
  IMSEC_DIGEST_P_INTEGRITY_PROTECTED = 1u << 16, /* TS 24.229 */
};

/* A parsed Digest header value. Every slice borrows from the text handed
 * to the parser. An absent parameter is {NULL, 0} (test `present`, since a
 * present value may be empty). `quoted` has the bit of each parameter that
 * came as a quoted-string; such slices may hold backslash escapes. */
typedef struct imsec_digest_params {
  imsec_str scheme; /* "Digest" as written */
  imsec_str realm, nonce, opaque, algorithm;
  imsec_str qop; /* challenge: the qop-options list, e.g. auth,auth-int;
                    credentials: the chosen qop */
  imsec_str nc, cnonce, uri, username, response, auts, stale, domain, userhash,
      ck, ik, integrity_protected;
  uint32_t present;
  uint32_t quoted;
  unsigned n_unknown; /* unknown parameters, skipped (RFC 7616 §3.3) */
} imsec_digest_params;

/* Parse a challenge (WWW-Authenticate / Proxy-Authenticate value): scheme
 * Digest, then auth-params (RFC 3261 §25.1 challenge / RFC 7616 §3.3).
 * Requires realm and nonce. Unknown parameters are skipped; a known one
 * given twice is an error.
 * Returns 0, IMSEC_ERR_INVAL (NULL argument), IMSEC_ERR_PARSE (grammar,
 * duplicate, missing realm or nonce), IMSEC_ERR_UNSUPPORTED (another
 * scheme, e.g. Basic), IMSEC_ERR_LIMIT (too many parameters or a value
 * too long). */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_parse_challenge(imsec_str value, imsec_digest_params *out);

/* Parse credentials (Authorization / Proxy-Authorization value) (RFC 3261
 * §25.1 credentials / RFC 7616 §3.4). Requires username, realm, nonce, uri
 * and response; with qop also nc (8 hex digits) and cnonce. A REGISTER's
 * first Authorization (no response yet, TS 24.229 §5.1.1.2) has
 * response="" which is accepted as present and empty.
 * Returns as imsec_digest_parse_challenge. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_parse_credentials(imsec_str value, imsec_digest_params *out);

/* The tokeniser both parsers use, for callers that need every parameter
 * (e.g. a P-CSCF dropping ck and ik before forwarding). Call with a cursor
 * placed after the scheme; each call yields the next auth-param, with its
 * value as in imsec_digest_params and *quoted set to 1 for a quoted-string.
 * Empty list elements are skipped.
 * Returns 1 (a parameter), 0 (end of input), IMSEC_ERR_PARSE,
 * IMSEC_ERR_LIMIT. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_next_param(imsec_cursor *c,
                                                     imsec_str *name,
                                                     imsec_str *value,
                                                     int *quoted);

/* Copy a parameter value without its escapes ("\x" -> "x", RFC 3261 §25.1
 * quoted-pair) into `buf` (capacity `cap`), NUL-terminated.
 * Returns the length, IMSEC_ERR_NOBUF, IMSEC_ERR_PARSE (a lone trailing
 * backslash). */
IMSEC_API IMSEC_MUST_USE int imsec_digest_unquote(imsec_str value, char *buf,
                                                  size_t cap);

/* 1 if the comma-separated qop-options list `list` holds `qop` (token
 * compare, case-insensitive), else 0. */
IMSEC_API int imsec_digest_qop_has(imsec_str list, const char *qop);

/* nc = 8LHEX (RFC 7616 §3.4): its value for replay tracking.
 * Returns 0, IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_nc_parse(imsec_str nc, uint32_t *out);

/* Replay check on nc for one nonce (RFC 7616 §3.4: the server should
 * refuse a repeated nc). `*highest` is the caller's per-nonce record of the
 * largest nc accepted so far (0 before the first). Accepts only nc >
 * *highest and then raises *highest to it.
 * Returns 0, IMSEC_ERR_REPLAY (nc not above the record), IMSEC_ERR_PARSE
 * (not 8LHEX), IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_nc_check(imsec_str nc,
                                                   uint32_t *highest);

/* ----------------------------------------------------------------- build */

typedef enum imsec_digest_kind {
  IMSEC_DIGEST_CHALLENGE = 0,   /* WWW-/Proxy-Authenticate */
  IMSEC_DIGEST_CREDENTIALS = 1, /* Authorization, Proxy-Authorization */
} imsec_digest_kind;

/* Write `Digest p1=v1, p2=v2, ...` (no header name, no CRLF) from the
 * present slices of `p` (a non-NULL .p, or the bit in `present`), in a
 * fixed order. Quoting follows RFC 7616: for a challenge, stale and
 * algorithm are tokens; for credentials, algorithm, qop and nc are tokens;
 * everything else is a quoted-string. Values are raw text and are escaped
 * (" and \) unless their bit is set in p->quoted (then they are already in
 * quoted-string form, as the parser returns them, and are copied). Control
 * characters (CR, LF, NUL...) are refused; a token value must be a token.
 * `scheme` is ignored (always "Digest").
 * Returns the length written (NUL-terminated), IMSEC_ERR_NOBUF,
 * IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_build(imsec_digest_kind kind,
                                                const imsec_digest_params *p,
                                                char *buf, size_t cap);

/* -------------------------------------------------------------- responses */

typedef enum imsec_digest_alg {
  IMSEC_DIGEST_MD5 = 0,       /* "MD5", or no algorithm parameter */
  IMSEC_DIGEST_SHA256 = 1,    /* "SHA-256" (RFC 7616) */
  IMSEC_DIGEST_AKAV1_MD5 = 2, /* "AKAv1-MD5" (RFC 3310) */
  IMSEC_DIGEST_AKAV2_MD5 = 3, /* "AKAv2-MD5" (RFC 4169) */
} imsec_digest_alg;

/* Map the algorithm parameter (case-insensitive; an absent/empty one is
 * MD5). Returns 0, IMSEC_ERR_UNSUPPORTED (e.g. MD5-sess, SHA-512-256). */
IMSEC_API IMSEC_MUST_USE int imsec_digest_alg_parse(imsec_str s,
                                                    imsec_digest_alg *out);
/* The canonical name ("MD5", "SHA-256", "AKAv1-MD5", "AKAv2-MD5"). */
IMSEC_API const char *imsec_digest_alg_name(imsec_digest_alg alg);
/* The hash under an algorithm (MD5 for all but SHA-256). */
IMSEC_API imsec_hash_alg imsec_digest_alg_hash(imsec_digest_alg alg);

typedef enum imsec_digest_qop {
  IMSEC_DIGEST_QOP_NONE = 0, /* RFC 2069 compatibility form */
  IMSEC_DIGEST_QOP_AUTH = 1,
  IMSEC_DIGEST_QOP_AUTH_INT = 2,
} imsec_digest_qop;

/* Map a credentials' qop (absent -> NONE). Returns 0, IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_qop_parse(imsec_str s,
                                                    imsec_digest_qop *out);

/* What the response is computed over (RFC 7616 §3.4.1-3.4.3). Text fields
 * are the unescaped values. All are borrowed for the call only. */
typedef struct imsec_digest_input {
  imsec_hash_alg hash;
  imsec_str username, realm;
  imsec_bytes password; /* raw octets (AKAv1: RES itself) */
  /* H(A1) as raw octets (the hash's length), as an HSS stores it (TS
   * 29.228 Digest-HA1): when non-empty it stands in for username, realm
   * and password, which are then ignored. A secret. */
  imsec_bytes ha1;
  imsec_str method, uri, nonce;
  imsec_digest_qop qop;
  imsec_str nc, cnonce; /* with a qop only */
  imsec_bytes body;     /* auth-int only: the message body */
} imsec_digest_input;

/* The response as lowercase hex into `out` (NUL-terminated; 33 octets for
 * MD5, 65 for SHA-256). HA1 and HA2 are wiped.
 * Returns the hex length (32 or 64), IMSEC_ERR_INVAL, IMSEC_ERR_NOBUF,
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_response(imsec_crypto *c,
                                                   const imsec_digest_input *in,
                                                   char *out, size_t cap);

/* Server side: recompute the response of parsed credentials `auth` for
 * `method` (and `body` for auth-int) under `password` and `alg`'s hash,
 * and compare with auth->response in constant time. Escaped fields are
 * unescaped first (each at most IMSEC_DIGEST_UNQUOTE_MAX octets). Does not
 * check realm, nonce validity, nonce lifetime or nc freshness: those are
 * the caller's.
 * Returns 0 (match), IMSEC_ERR_AUTH (mismatch), IMSEC_ERR_PARSE (qop
 * unknown, response not hex of the right length...), IMSEC_ERR_LIMIT,
 * IMSEC_ERR_INVAL, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_verify(imsec_crypto *c, const imsec_digest_params *auth,
                    imsec_digest_alg alg, imsec_str method, imsec_bytes body,
                    imsec_bytes password);

/* H(A1) = H(username ":" realm ":" password) as raw octets (RFC 7616
 * §3.4.2) into `out` (capacity `cap`, at least the hash length): what an
 * HSS keeps instead of the password (TS 33.203 Annex N). A secret.
 * Returns the length (16 MD5, 32 SHA-256), IMSEC_ERR_INVAL,
 * IMSEC_ERR_NOBUF, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_ha1(imsec_crypto *c, imsec_hash_alg hash, imsec_str username,
                 imsec_str realm, imsec_bytes password, uint8_t *out,
                 size_t cap);

/* imsec_digest_verify from a stored H(A1) (raw octets of `alg`'s hash
 * length) instead of a password: what an S-CSCF does for SIP Digest. alg
 * MD5 or SHA-256. Returns as imsec_digest_verify (IMSEC_ERR_INVAL also
 * for an H(A1) of the wrong length). */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_verify_ha1(imsec_crypto *c, const imsec_digest_params *auth,
                        imsec_digest_alg alg, imsec_str method,
                        imsec_bytes body, imsec_bytes ha1);

/* rspauth of the Authentication-Info a server sends with its 2xx (RFC
 * 7616 §3.5, RFC 2617 §3.2.3): the response computed with an empty
 * method (A2 = ":" uri) over the credentials `auth` (nonce, nc, cnonce,
 * qop, uri as the client sent them), under H(A1) `ha1`. The client checks
 * it the same way (then `ha1` from its password, imsec_digest_ha1).
 * Returns the hex length, as imsec_digest_response; IMSEC_ERR_PARSE for
 * credentials without a usable qop, nc or cnonce. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_rspauth(imsec_crypto *c, const imsec_digest_params *auth,
                     imsec_digest_alg alg, imsec_bytes ha1, char *out,
                     size_t cap);

/* ------------------------------------------------------------ Digest AKA */

#define IMSEC_DIGEST_AKA_NONCE_MIN 32 /* RAND || AUTN */
/* base64 of the 16-octet HMAC-MD5 (no NUL). */
#define IMSEC_DIGEST_AKAV2_PASSWORD_LEN 24

/* nonce = base64(RAND || AUTN || server data) (RFC 3310 §3.2); server
 * data may be empty. Returns the text length (NUL-terminated),
 * IMSEC_ERR_NOBUF, IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_aka_nonce_encode(const uint8_t rand[16], const uint8_t autn[16],
                              imsec_bytes server_data, char *out, size_t cap);

/* S-CSCF side: the whole challenge value for vector `v`: `Digest
 * realm="..", nonce="base64(RAND||AUTN)", algorithm=AKAv1-MD5|AKAv2-MD5
 * [, qop=".."] [, opaque=".."] [, ck="hex", ik="hex"]`. `qop` and `opaque`
 * may be empty (then left out); `with_keys` adds CK and IK in hex for the
 * P-CSCF (TS 24.229 §5.4.1.2.1; the P-CSCF removes them, §5.2.2.1).
 * Returns the length (NUL-terminated), IMSEC_ERR_NOBUF, IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_aka_challenge_build(
    const imsec_aka_vector *v, imsec_digest_alg alg, imsec_str realm,
    imsec_str qop, imsec_str opaque, int with_keys, char *buf, size_t cap);

/* Split an AKA nonce into RAND and AUTN; `server_data` (may be NULL) gets
 * the length of what follows them (the octets themselves are not kept).
 * Returns 0, IMSEC_ERR_PARSE (not base64, shorter than 32 octets),
 * IMSEC_ERR_LIMIT (longer than 256 octets decoded). */
IMSEC_API IMSEC_MUST_USE int imsec_digest_aka_nonce_decode(imsec_str nonce,
                                                           uint8_t rand[16],
                                                           uint8_t autn[16],
                                                           size_t *server_data);

/* The Digest password of an AKA run: AKAv1 (RFC 3310 §3.3): RES as raw
 * octets; AKAv2 (RFC 4169): base64(HMAC-MD5(RES || IK || CK,
 * "http-digest-akav2-password")). `out` receives the octets (capacity
 * `cap`, at least 24); a secret: wipe it after use.
 * Returns the password length, IMSEC_ERR_INVAL (not an AKA alg),
 * IMSEC_ERR_NOBUF, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_aka_password(
    imsec_crypto *c, imsec_digest_alg alg, const uint8_t *res, size_t res_len,
    const uint8_t ik[16], const uint8_t ck[16], uint8_t *out, size_t cap);

/* UE side: the response for an AKA result. On IMSEC_AKA_UE_OK the password
 * comes from RES (and IK, CK for AKAv2); on IMSEC_AKA_UE_SYNC_FAIL it is
 * empty (RFC 3310 §3.4; send auts too, see imsec_digest_aka_auts_encode).
 * `in->password` and `in->hash` are ignored. On a MAC failure there is no
 * response to compute (IMSEC_ERR_MAC).
 * Returns the hex length, IMSEC_ERR_MAC, IMSEC_ERR_INVAL, IMSEC_ERR_NOBUF,
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_aka_response(imsec_crypto *c, imsec_digest_alg alg,
                          const imsec_aka_ue_result *r,
                          const imsec_digest_input *in, char *out, size_t cap);

/* auts="base64(AUTS)" (RFC 3310 §3.4): the text, NUL-terminated (21 octets
 * of space). Returns 20, IMSEC_ERR_NOBUF. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_aka_auts_encode(const uint8_t auts[14], char *out, size_t cap);

/* Decode an auts parameter value (base64 of 14 octets) into `auts`.
 * Returns 0, IMSEC_ERR_PARSE (not base64 of exactly 14 octets),
 * IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_digest_aka_auts_decode(imsec_str value,
                                                          uint8_t auts[14]);

/* S-CSCF side: verify an Authorization against the vector `v` that made
 * the challenge. The nonce must carry v's RAND || AUTN. Without an auts
 * parameter the response must match the AKA password of `alg` derived from
 * XRES (and IK, CK); with auts it must match the empty password, and then
 * AUTS is decoded into `auts` for resynchronisation (imsec_sqn_he_resync).
 * imsec uses the empty password for an AKAv2 sync failure as well, as
 * RFC 3310 §3.4 says for AKAv1 (imsec_digest_aka_response does the same).
 * Returns 0 (authenticated), IMSEC_ERR_SYNC (sync failure: `auts` is
 * valid), IMSEC_ERR_AUTH (wrong response, or a nonce of another vector),
 * IMSEC_ERR_PARSE (malformed nonce, auts, response), IMSEC_ERR_INVAL
 * (alg not AKA), IMSEC_ERR_LIMIT, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_digest_aka_verify(imsec_crypto *c, const imsec_digest_params *auth,
                        imsec_digest_alg alg, const imsec_aka_vector *v,
                        imsec_str method, imsec_bytes body, uint8_t auts[14]);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_DIGEST_H */
