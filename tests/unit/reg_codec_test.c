/* store/reg_codec.c: records, heads and bindings round-trip field for
 * field (NULL and "" kept apart), encoding is canonical, and every
 * malformed value (cut short, trailing octets, a length past the end, a
 * NUL inside a string, unknown flags, another kind or version, counts
 * over the limits) is refused with the right code and leaves nothing
 * allocated. */
#include <stdlib.h>
#include <string.h>

#include "imsec/reg_codec.h"
#include "test_util.h"

static void make(imsec_reg_record *r) {
  memset(r, 0, sizeof(*r));
  r->impi = strdup("alice@ims.test");
  r->n_impus = 3;
  r->impus = calloc(3, sizeof(char *));
  r->impus[0] = strdup("sip:alice@ims.test");
  r->impus[1] = strdup("");
  r->impus[2] = strdup("tel:+15550001");
  r->service_route = NULL;
  r->digest = 1;
  r->n = 2;
  r->b = calloc(2, sizeof(*r->b));
  r->b[0].contact = strdup("sip:alice@10.0.0.1:5061;transport=tls");
  r->b[0].path = strdup("<sip:term@pcscf;lr>");
  r->b[0].instance = NULL;
  r->b[0].reg_id = -1;
  r->b[0].ttl_ms = 3600000;
  r->b[0].peer = strdup("pcscf.ims.test");
  r->b[0].order = 7;
  r->b[1].contact = strdup("sip:alice@[::1]:5061");
  r->b[1].instance = strdup("<urn:uuid:1>");
  r->b[1].reg_id = INT64_MIN;
  r->b[1].ttl_ms = -5;
  r->b[1].order = UINT64_MAX;
}

static void assert_opt_eq(const char *a, const char *b) {
  if (!a || !b)
    assert_ptr_equal(a, b);
  else
    assert_string_equal(a, b);
}

static void assert_binding_eq(const imsec_reg_binding *a,
                              const imsec_reg_binding *b) {
  assert_opt_eq(a->contact, b->contact);
  assert_opt_eq(a->path, b->path);
  assert_opt_eq(a->instance, b->instance);
  assert_opt_eq(a->peer, b->peer);
  assert_true(a->reg_id == b->reg_id);
  assert_true(a->order == b->order);
}

static void assert_head_eq(const imsec_reg_record *a,
                           const imsec_reg_record *b) {
  assert_string_equal(a->impi, b->impi);
  assert_opt_eq(a->service_route, b->service_route);
  assert_int_equal(a->digest, b->digest);
  assert_int_equal(a->n_impus, b->n_impus);
  for (size_t i = 0; i < a->n_impus; i++)
    assert_opt_eq(a->impus[i], b->impus[i]);
}

static void test_record_round_trip(void **state) {
  (void)state;
  imsec_reg_record r, d;
  make(&r);
  imsec_reg_buf b = {0}, b2 = {0};
  assert_int_equal(imsec_reg_encode(&b, &r, 1000), 0);
  /* Decoded a second later: every ttl a second shorter. */
  assert_int_equal(imsec_reg_decode(b.p, b.len, 2000, &d), 0);
  assert_head_eq(&r, &d);
  assert_int_equal(d.n, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_binding_eq(&r.b[i], &d.b[i]);
    assert_true(d.b[i].ttl_ms == r.b[i].ttl_ms - 1000);
  }
  /* Canonical: the same octets again. */
  assert_int_equal(imsec_reg_encode(&b2, &d, 2000), 0);
  assert_int_equal(b2.len, b.len);
  assert_memory_equal(b2.p, b.p, b.len);
  imsec_reg_record_free(&d);
  imsec_reg_buf_free(&b2);

  /* Each cut short is refused, and so is one octet too many. */
  for (size_t n = 0; n < b.len; n++) {
    int rv = imsec_reg_decode(b.p, n, 0, &d);
    assert_true(rv == IMSEC_ERR_PARSE);
    assert_null(d.impi);
    assert_null(d.b);
  }
  uint8_t *more = malloc(b.len + 1);
  memcpy(more, b.p, b.len);
  more[b.len] = 0;
  assert_int_equal(imsec_reg_decode(more, b.len + 1, 0, &d), IMSEC_ERR_PARSE);
  free(more);
  imsec_reg_buf_free(&b);
  imsec_reg_record_free(&r);
}

static void test_head_binding(void **state) {
  (void)state;
  imsec_reg_record r, d;
  make(&r);
  imsec_reg_buf b = {0};
  assert_int_equal(imsec_reg_encode_head(&b, &r), 0);
  assert_int_equal(imsec_reg_decode_head(b.p, b.len, &d), 0);
  assert_head_eq(&r, &d);
  assert_int_equal(d.n, 0);
  assert_null(d.b);
  imsec_reg_record_free(&d);
  /* A head is not a binding, nor a record. */
  imsec_reg_binding x;
  assert_int_equal(imsec_reg_decode_binding(b.p, b.len, &x), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_reg_decode(b.p, b.len, 0, &d), IMSEC_ERR_PARSE);
  imsec_reg_buf_free(&b);

  for (size_t i = 0; i < r.n; i++) {
    assert_int_equal(imsec_reg_encode_binding(&b, &r.b[i]), 0);
    assert_int_equal(imsec_reg_decode_binding(b.p, b.len, &x), 0);
    assert_binding_eq(&r.b[i], &x);
    assert_true(x.ttl_ms == 0);
    imsec_reg_binding_free(&x);
    imsec_reg_buf_free(&b);
  }
  imsec_reg_record_free(&r);
}

/* Hand-made values: the layout as the header describes it. */
static void test_malformed(void **state) {
  (void)state;
  imsec_reg_record d;
  /* head: 'H' 1 flags "a" NULL 0 impus */
  uint8_t ok[] = {'H',  1,    0,    0,    0, 0, 1, 'a',
                  0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  assert_int_equal(imsec_reg_decode_head(ok, sizeof(ok), &d), 0);
  assert_string_equal(d.impi, "a");
  assert_null(d.service_route);
  imsec_reg_record_free(&d);

  uint8_t v[sizeof(ok)];
  memcpy(v, ok, sizeof(ok));
  v[1] = 2; /* a later version */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d),
                   IMSEC_ERR_UNSUPPORTED);
  memcpy(v, ok, sizeof(ok));
  v[2] = 2; /* an unknown flag */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_PARSE);
  memcpy(v, ok, sizeof(ok));
  v[7] = 0; /* a NUL inside the IMPI */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_PARSE);
  memcpy(v, ok, sizeof(ok));
  v[6] = 9; /* a length past the end */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_PARSE);
  memcpy(v, ok, sizeof(ok));
  v[3] = 0xff, v[4] = 0xff, v[5] = 0xff, v[6] = 0xff; /* a NULL IMPI */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_PARSE);
  memcpy(v, ok, sizeof(ok));
  v[4] = 0x01; /* a string over the limit */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_LIMIT);
  memcpy(v, ok, sizeof(ok));
  v[13] = 0x10; /* 2^20 IMPUs: over the limit */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_LIMIT);
  memcpy(v, ok, sizeof(ok));
  v[15] = 5; /* 5 IMPUs in no octets */
  assert_int_equal(imsec_reg_decode_head(v, sizeof(v), &d), IMSEC_ERR_PARSE);
  assert_null(d.impi);
  assert_null(d.impus);
  assert_int_equal(imsec_reg_decode_head(NULL, 0, &d), IMSEC_ERR_PARSE);
  assert_int_equal(imsec_reg_decode_head(NULL, 1, &d), IMSEC_ERR_INVAL);
}

static void test_encode_refuses(void **state) {
  (void)state;
  imsec_reg_record r;
  memset(&r, 0, sizeof(r));
  imsec_reg_buf b = {0};
  assert_int_equal(imsec_reg_encode_head(&b, &r), IMSEC_ERR_INVAL);
  r.impi = strdup("x");
  r.n = IMSEC_REG_CODEC_BINDINGS_MAX + 1;
  assert_int_equal(imsec_reg_encode(&b, &r, 0), IMSEC_ERR_LIMIT);
  r.n = 0;
  r.n_impus = IMSEC_REG_CODEC_IMPUS_MAX + 1;
  assert_int_equal(imsec_reg_encode_head(&b, &r), IMSEC_ERR_LIMIT);
  r.n_impus = 0;
  /* A failed encode leaves what the buffer held. */
  assert_int_equal(imsec_reg_encode_head(&b, &r), 0);
  size_t len = b.len;
  imsec_reg_binding x = {0};
  x.contact = malloc(IMSEC_REG_CODEC_STR_MAX + 2);
  memset(x.contact, 'a', IMSEC_REG_CODEC_STR_MAX + 1);
  x.contact[IMSEC_REG_CODEC_STR_MAX + 1] = 0;
  assert_int_equal(imsec_reg_encode_binding(&b, &x), IMSEC_ERR_LIMIT);
  assert_int_equal(b.len, len);
  free(x.contact);
  imsec_reg_buf_free(&b);
  free(r.impi);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_round_trip),
      cmocka_unit_test(test_head_binding),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_encode_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
