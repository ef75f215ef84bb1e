/*
 * imsec reg_codec: a registration record (elem.h imsec_reg_record) as
 * octets, for stores that keep records as opaque values (store/redis.c).
 *
 * Three kinds of value, each starting with a kind octet and a version
 * octet so a later build can tell an older value from garbage:
 *  - a head: the IMPI, the implicit set, the Service-Route and the
 *    scheme, without bindings;
 *  - a binding: contact, Path, instance, reg-id, peer and order, without
 *    its expiry (a store that computes expiries by its own clock keeps
 *    them beside the value);
 *  - a whole record: a head, then each binding with its absolute expiry
 *    (wall-clock ms).
 * Every length is checked against what is left of the input and against
 * the limits below; strings may not hold NUL. Encoding is canonical:
 * decoding a value and encoding the result gives the same octets back.
 * Values hold no secret.
 */
#ifndef IMSEC_REG_CODEC_H
#define IMSEC_REG_CODEC_H

#include "imsec/elem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_REG_CODEC_VERSION 1
/* Limits a decoder enforces (an encoder refuses more with
 * IMSEC_ERR_LIMIT): far above what an S-CSCF keeps (TS 24.229 gives no
 * bound; imsec's S-CSCF caps bindings well below these). */
#define IMSEC_REG_CODEC_STR_MAX (64u * 1024u)
#define IMSEC_REG_CODEC_IMPUS_MAX 1024u
#define IMSEC_REG_CODEC_BINDINGS_MAX 1024u

/* A growable output buffer: the encoders append to it (allocating). */
typedef struct imsec_reg_buf {
  uint8_t *p;
  size_t len, cap;
} imsec_reg_buf;

IMSEC_API void imsec_reg_buf_free(imsec_reg_buf *b);

/* Append the head of `r` (its bindings are left out). r->impi must be
 * set. Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_reg_encode_head(imsec_reg_buf *out,
                                                   const imsec_reg_record *r);
/* Append one binding (its ttl_ms is left out). Returns 0,
 * IMSEC_ERR_LIMIT, IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int
imsec_reg_encode_binding(imsec_reg_buf *out, const imsec_reg_binding *b);
/* Append the whole record, each binding's expiry written as now_ms +
 * ttl_ms (saturating). Returns as imsec_reg_encode_head. */
IMSEC_API IMSEC_MUST_USE int
imsec_reg_encode(imsec_reg_buf *out, const imsec_reg_record *r, int64_t now_ms);

/* Decode a head into *out (zeroed first; bindings none). On failure *out
 * owns nothing. Returns 0, IMSEC_ERR_PARSE (malformed, trailing octets),
 * IMSEC_ERR_LIMIT, IMSEC_ERR_UNSUPPORTED (another version),
 * IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_reg_decode_head(const uint8_t *p, size_t len,
                                                   imsec_reg_record *out);
/* Decode one binding into *out (zeroed first; ttl_ms 0). Returns as
 * imsec_reg_decode_head. */
IMSEC_API IMSEC_MUST_USE int
imsec_reg_decode_binding(const uint8_t *p, size_t len, imsec_reg_binding *out);
/* Decode a whole record, each binding's ttl_ms = expiry - now_ms
 * (saturating; expired bindings are kept, with ttl_ms <= 0). Returns as
 * imsec_reg_decode_head. */
IMSEC_API IMSEC_MUST_USE int imsec_reg_decode(const uint8_t *p, size_t len,
                                              int64_t now_ms,
                                              imsec_reg_record *out);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_REG_CODEC_H */
