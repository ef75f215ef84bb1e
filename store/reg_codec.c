/* Registration records as octets (include/imsec/reg_codec.h).
 *
 * Layout, all integers big-endian:
 *   string   u32 length then the octets; length 0xffffffff: NULL
 *   head     'H' version flags impi service_route u32 n_impus impus...
 *   binding  'B' version contact path instance i64 reg_id peer u64 order
 *   record   'R' version flags impi service_route u32 n_impus impus...
 *            u32 n then per binding: contact path instance i64 reg_id
 *            peer u64 order i64 expiry_ms
 * flags: bit 0 SIP Digest (TS 33.203 Annex N); the other bits must be 0
 * (so a value this build cannot read is refused, not half-read). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "imsec/reg_codec.h"

#define KIND_HEAD 'H'
#define KIND_BINDING 'B'
#define KIND_RECORD 'R'
#define STR_NULL 0xffffffffu
#define FLAG_DIGEST 0x01u

void imsec_reg_buf_free(imsec_reg_buf *b) {
  if (!b)
    return;
  free(b->p);
  memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- encode */

static int put(imsec_reg_buf *b, const void *p, size_t n) {
  if (n > SIZE_MAX - b->len)
    return IMSEC_ERR_LIMIT;
  if (b->len + n > b->cap) {
    size_t nc = b->cap ? b->cap : 128;
    while (nc < b->len + n)
      nc = nc > SIZE_MAX / 2 ? b->len + n : nc * 2;
    uint8_t *q = realloc(b->p, nc);
    if (!q)
      return IMSEC_ERR_NOMEM;
    b->p = q;
    b->cap = nc;
  }
  if (n)
    memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static int put_u8(imsec_reg_buf *b, unsigned v) {
  uint8_t c = (uint8_t)v;
  return put(b, &c, 1);
}

static int put_u32(imsec_reg_buf *b, uint32_t v) {
  uint8_t o[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  return put(b, o, sizeof(o));
}

static int put_u64(imsec_reg_buf *b, uint64_t v) {
  uint8_t o[8];
  for (int i = 0; i < 8; i++)
    o[i] = (uint8_t)(v >> (56 - 8 * i));
  return put(b, o, sizeof(o));
}

static int put_str(imsec_reg_buf *b, const char *s) {
  if (!s)
    return put_u32(b, STR_NULL);
  size_t n = strlen(s);
  if (n > IMSEC_REG_CODEC_STR_MAX)
    return IMSEC_ERR_LIMIT;
  IMSEC_GUARD(put_u32(b, (uint32_t)n));
  return put(b, s, n);
}

static int put_head_body(imsec_reg_buf *b, const imsec_reg_record *r) {
  if (!r || !r->impi)
    return IMSEC_ERR_INVAL;
  if (r->n_impus > IMSEC_REG_CODEC_IMPUS_MAX)
    return IMSEC_ERR_LIMIT;
  IMSEC_GUARD(put_u8(b, r->digest ? FLAG_DIGEST : 0));
  IMSEC_GUARD(put_str(b, r->impi));
  IMSEC_GUARD(put_str(b, r->service_route));
  IMSEC_GUARD(put_u32(b, (uint32_t)r->n_impus));
  for (size_t i = 0; i < r->n_impus; i++)
    IMSEC_GUARD(put_str(b, r->impus ? r->impus[i] : NULL));
  return 0;
}

static int put_binding_body(imsec_reg_buf *b, const imsec_reg_binding *x) {
  IMSEC_GUARD(put_str(b, x->contact));
  IMSEC_GUARD(put_str(b, x->path));
  IMSEC_GUARD(put_str(b, x->instance));
  IMSEC_GUARD(put_u64(b, (uint64_t)x->reg_id));
  IMSEC_GUARD(put_str(b, x->peer));
  return put_u64(b, x->order);
}

/* Keep the buffer as it was when an encoder fails halfway. */
static int finish(imsec_reg_buf *b, size_t start, int rv) {
  if (rv < 0)
    b->len = start;
  return rv;
}

int imsec_reg_encode_head(imsec_reg_buf *out, const imsec_reg_record *r) {
  if (!out)
    return IMSEC_ERR_INVAL;
  size_t start = out->len;
  int rv = put_u8(out, KIND_HEAD);
  if (rv == 0)
    rv = put_u8(out, IMSEC_REG_CODEC_VERSION);
  if (rv == 0)
    rv = put_head_body(out, r);
  return finish(out, start, rv);
}

int imsec_reg_encode_binding(imsec_reg_buf *out, const imsec_reg_binding *b) {
  if (!out || !b)
    return IMSEC_ERR_INVAL;
  size_t start = out->len;
  int rv = put_u8(out, KIND_BINDING);
  if (rv == 0)
    rv = put_u8(out, IMSEC_REG_CODEC_VERSION);
  if (rv == 0)
    rv = put_binding_body(out, b);
  return finish(out, start, rv);
}

static int64_t sat_add(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b)
    return INT64_MIN;
  return a + b;
}

static int64_t sat_sub(int64_t a, int64_t b) {
  if (b < 0 && a > INT64_MAX + b)
    return INT64_MAX;
  if (b > 0 && a < INT64_MIN + b)
    return INT64_MIN;
  return a - b;
}

int imsec_reg_encode(imsec_reg_buf *out, const imsec_reg_record *r,
                     int64_t now_ms) {
  if (!out || !r)
    return IMSEC_ERR_INVAL;
  if (r->n > IMSEC_REG_CODEC_BINDINGS_MAX)
    return IMSEC_ERR_LIMIT;
  size_t start = out->len;
  int rv = put_u8(out, KIND_RECORD);
  if (rv == 0)
    rv = put_u8(out, IMSEC_REG_CODEC_VERSION);
  if (rv == 0)
    rv = put_head_body(out, r);
  if (rv == 0)
    rv = put_u32(out, (uint32_t)r->n);
  for (size_t i = 0; rv == 0 && i < r->n; i++) {
    rv = put_binding_body(out, &r->b[i]);
    if (rv == 0)
      rv = put_u64(out, (uint64_t)sat_add(now_ms, r->b[i].ttl_ms));
  }
  return finish(out, start, rv);
}

/* ---------------------------------------------------------------- decode */

typedef struct rd {
  const uint8_t *p;
  size_t left;
} rd;

static int get_u8(rd *c, unsigned *v) {
  if (c->left < 1)
    return IMSEC_ERR_PARSE;
  *v = c->p[0];
  c->p++;
  c->left--;
  return 0;
}

static int get_u32(rd *c, uint32_t *v) {
  if (c->left < 4)
    return IMSEC_ERR_PARSE;
  *v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
       (uint32_t)c->p[2] << 8 | (uint32_t)c->p[3];
  c->p += 4;
  c->left -= 4;
  return 0;
}

static int get_u64(rd *c, uint64_t *v) {
  if (c->left < 8)
    return IMSEC_ERR_PARSE;
  uint64_t x = 0;
  for (int i = 0; i < 8; i++)
    x = x << 8 | c->p[i];
  *v = x;
  c->p += 8;
  c->left -= 8;
  return 0;
}

/* Two's complement back to a signed value without implementation-defined
 * conversion. */
static int64_t to_i64(uint64_t v) {
  if (v <= (uint64_t)INT64_MAX)
    return (int64_t)v;
  return -(int64_t)(~v) - 1;
}

static int get_str(rd *c, char **out) {
  *out = NULL;
  uint32_t n;
  IMSEC_GUARD(get_u32(c, &n));
  if (n == STR_NULL)
    return 0;
  if (n > IMSEC_REG_CODEC_STR_MAX)
    return IMSEC_ERR_LIMIT;
  if (n > c->left)
    return IMSEC_ERR_PARSE;
  /* The records' strings are C strings: a NUL would cut one short and
   * make two values decode alike. */
  if (memchr(c->p, 0, n))
    return IMSEC_ERR_PARSE;
  char *s = malloc((size_t)n + 1);
  if (!s)
    return IMSEC_ERR_NOMEM;
  memcpy(s, c->p, n);
  s[n] = 0;
  c->p += n;
  c->left -= n;
  *out = s;
  return 0;
}

static int get_start(rd *c, unsigned kind) {
  unsigned k, v;
  IMSEC_GUARD(get_u8(c, &k));
  if (k != kind)
    return IMSEC_ERR_PARSE;
  IMSEC_GUARD(get_u8(c, &v));
  return v == IMSEC_REG_CODEC_VERSION ? 0 : IMSEC_ERR_UNSUPPORTED;
}

static int get_head_body(rd *c, imsec_reg_record *r) {
  unsigned flags;
  IMSEC_GUARD(get_u8(c, &flags));
  if (flags & ~FLAG_DIGEST)
    return IMSEC_ERR_PARSE;
  r->digest = (flags & FLAG_DIGEST) != 0;
  IMSEC_GUARD(get_str(c, &r->impi));
  if (!r->impi)
    return IMSEC_ERR_PARSE;
  IMSEC_GUARD(get_str(c, &r->service_route));
  uint32_t n;
  IMSEC_GUARD(get_u32(c, &n));
  if (n > IMSEC_REG_CODEC_IMPUS_MAX)
    return IMSEC_ERR_LIMIT;
  /* Each string takes at least its 4 length octets. */
  if (n > c->left / 4)
    return IMSEC_ERR_PARSE;
  if (n) {
    r->impus = calloc(n, sizeof(*r->impus));
    if (!r->impus)
      return IMSEC_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < n; i++) {
    r->n_impus = (size_t)i + 1;
    IMSEC_GUARD(get_str(c, &r->impus[i]));
  }
  return 0;
}

static int get_binding_body(rd *c, imsec_reg_binding *b) {
  uint64_t v;
  IMSEC_GUARD(get_str(c, &b->contact));
  IMSEC_GUARD(get_str(c, &b->path));
  IMSEC_GUARD(get_str(c, &b->instance));
  IMSEC_GUARD(get_u64(c, &v));
  b->reg_id = to_i64(v);
  IMSEC_GUARD(get_str(c, &b->peer));
  return get_u64(c, &b->order);
}

int imsec_reg_decode_head(const uint8_t *p, size_t len, imsec_reg_record *out) {
  if (!out || (!p && len))
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  rd c = {p, len};
  int rv = get_start(&c, KIND_HEAD);
  if (rv == 0)
    rv = get_head_body(&c, out);
  if (rv == 0 && c.left)
    rv = IMSEC_ERR_PARSE;
  if (rv < 0)
    imsec_reg_record_free(out);
  return rv;
}

int imsec_reg_decode_binding(const uint8_t *p, size_t len,
                             imsec_reg_binding *out) {
  if (!out || (!p && len))
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  rd c = {p, len};
  int rv = get_start(&c, KIND_BINDING);
  if (rv == 0)
    rv = get_binding_body(&c, out);
  if (rv == 0 && c.left)
    rv = IMSEC_ERR_PARSE;
  if (rv < 0)
    imsec_reg_binding_free(out);
  return rv;
}

int imsec_reg_decode(const uint8_t *p, size_t len, int64_t now_ms,
                     imsec_reg_record *out) {
  if (!out || (!p && len))
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  rd c = {p, len};
  uint32_t n = 0;
  int rv = get_start(&c, KIND_RECORD);
  if (rv == 0)
    rv = get_head_body(&c, out);
  if (rv == 0)
    rv = get_u32(&c, &n);
  if (rv == 0 && n > IMSEC_REG_CODEC_BINDINGS_MAX)
    rv = IMSEC_ERR_LIMIT;
  /* A binding takes at least 4 strings' lengths and 3 integers. */
  if (rv == 0 && n > c.left / (4 * 4 + 3 * 8))
    rv = IMSEC_ERR_PARSE;
  if (rv == 0 && n) {
    out->b = calloc(n, sizeof(*out->b));
    if (!out->b)
      rv = IMSEC_ERR_NOMEM;
  }
  for (uint32_t i = 0; rv == 0 && i < n; i++) {
    out->n = (size_t)i + 1;
    rv = get_binding_body(&c, &out->b[i]);
    uint64_t e;
    if (rv == 0)
      rv = get_u64(&c, &e);
    if (rv == 0)
      out->b[i].ttl_ms = sat_sub(to_i64(e), now_ms);
  }
  if (rv == 0 && c.left)
    rv = IMSEC_ERR_PARSE;
  if (rv < 0)
    imsec_reg_record_free(out);
  return rv;
}
