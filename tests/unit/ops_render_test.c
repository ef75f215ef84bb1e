/* ops/render.c: a small snapshot rendered exactly (text format 0.0.4 and
 * JSON: label escaping, cumulative histogram buckets, number spelling),
 * tables as text and JSON, JSON string escaping; the text passes
 * `promtool check metrics` when it is installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsec/ops.h"
#include "test_util.h"

static void snapshot(imsec_metrics *m) {
  imsec_hist h = {0}, empty = {0};
  /* 0.0003 in le=0.0005, two in le=0.0025, one in le=10, one above every
   * bound (+Inf only). */
  h.bucket[0] = 1;
  h.bucket[2] = 2;
  h.bucket[13] = 1;
  h.count = 5;
  h.sum = 37.25;
  assert_int_equal(imsec_metrics_declare(m, "imsec_x_total",
                                         IMSEC_METRIC_COUNTER,
                                         "Things done, by kind \\ sort."),
                   0);
  assert_int_equal(imsec_metrics_add(m, "imsec_x_total", 3, "kind", "a", NULL),
                   0);
  assert_int_equal(imsec_metrics_add(m, "imsec_x_total", 1, "kind",
                                     "q\"b\\c\nd", "side", "in", NULL),
                   0);
  assert_int_equal(imsec_metrics_add(m, "imsec_x_total", 2, "kind", "a", NULL),
                   0);
  /* Declared, never given a sample: left out. */
  assert_int_equal(imsec_metrics_declare(m, "imsec_empty", IMSEC_METRIC_GAUGE,
                                         "Nothing yet."),
                   0);
  assert_int_equal(
      imsec_metrics_declare(m, "imsec_g", IMSEC_METRIC_GAUGE, "A gauge."), 0);
  assert_int_equal(imsec_metrics_add(m, "imsec_g", -2.5, NULL), 0);
  assert_int_equal(
      imsec_metrics_add(m, "imsec_g", 0.1, "where", "\xc3\xa9\tx", NULL), 0);
  assert_int_equal(imsec_metrics_declare(m, "imsec_op_duration_seconds",
                                         IMSEC_METRIC_HISTOGRAM, "Durations."),
                   0);
  assert_int_equal(imsec_metrics_add_hist(m, "imsec_op_duration_seconds", &h,
                                          "op", "x", NULL),
                   0);
  assert_int_equal(
      imsec_metrics_add_hist(m, "imsec_op_duration_seconds", &empty, NULL), 0);
}

static const char want_text[] =
    "# HELP imsec_x_total Things done, by kind \\\\ sort.\n"
    "# TYPE imsec_x_total counter\n"
    "imsec_x_total{kind=\"a\"} 5\n"
    "imsec_x_total{kind=\"q\\\"b\\\\c\\nd\",side=\"in\"} 1\n"
    "# HELP imsec_g A gauge.\n"
    "# TYPE imsec_g gauge\n"
    "imsec_g -2.5\n"
    "imsec_g{where=\"\xc3\xa9\tx\"} 0.1\n"
    "# HELP imsec_op_duration_seconds Durations.\n"
    "# TYPE imsec_op_duration_seconds histogram\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.0005\"} 1\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.001\"} 1\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.0025\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.005\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.01\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.025\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.05\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.1\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.25\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"0.5\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"2.5\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"5\"} 3\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"10\"} 4\n"
    "imsec_op_duration_seconds_bucket{op=\"x\",le=\"+Inf\"} 5\n"
    "imsec_op_duration_seconds_sum{op=\"x\"} 37.25\n"
    "imsec_op_duration_seconds_count{op=\"x\"} 5\n"
    "imsec_op_duration_seconds_bucket{le=\"0.0005\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.001\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.0025\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.005\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.01\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.025\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.05\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.1\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.25\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"0.5\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"1\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"2.5\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"5\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"10\"} 0\n"
    "imsec_op_duration_seconds_bucket{le=\"+Inf\"} 0\n"
    "imsec_op_duration_seconds_sum 0\n"
    "imsec_op_duration_seconds_count 0\n";

static void text_format(void **state) {
  (void)state;
  imsec_metrics m = {0};
  imsec_buf out = {0};
  snapshot(&m);
  assert_int_equal(imsec_metrics_render_text(&m, &out), 0);
  assert_string_equal(out.p, want_text);

  /* Prometheus's own checker (lint included) takes it. */
  if (t_sh(NULL, 0, "command -v promtool >/dev/null") == 0) {
    char path[] = "/tmp/imsec-render-XXXXXX", res[4096] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.p, out.len), (ssize_t)out.len);
    close(fd);
    int rc = t_sh(res, sizeof res, "promtool check metrics < %s", path);
    unlink(path);
    if (rc != 0 || res[0])
      fprintf(stderr, "promtool (exit %d): %s\n", rc, res);
    assert_int_equal(rc, 0);
    assert_string_equal(res, "");
  }

  /* Appends: a second render follows the first. */
  assert_int_equal(imsec_metrics_render_text(&m, &out), 0);
  assert_int_equal(out.len, 2 * strlen(want_text));
  imsec_buf_free(&out);

  /* Nothing declared: nothing written. */
  imsec_metrics none = {0};
  assert_int_equal(imsec_metrics_render_text(&none, &out), 0);
  assert_int_equal(out.len, 0);
  imsec_buf_free(&out);
  imsec_metrics_free(&m);
}

static void json_format(void **state) {
  (void)state;
  imsec_metrics m = {0};
  imsec_buf out = {0};
  snapshot(&m);
  assert_int_equal(imsec_metrics_render_json(&m, &out), 0);
  assert_string_equal(
      out.p,
      "{\"imsec_x_total\": {\"type\": \"counter\", \"help\": \"Things done, "
      "by kind \\\\ sort.\", \"samples\": ["
      "{\"labels\": {\"kind\": \"a\"}, \"value\": 5}, "
      "{\"labels\": {\"kind\": \"q\\\"b\\\\c\\nd\", \"side\": \"in\"}, "
      "\"value\": 1}]}, "
      "\"imsec_g\": {\"type\": \"gauge\", \"help\": \"A gauge.\", "
      "\"samples\": [{\"labels\": {}, \"value\": -2.5}, "
      "{\"labels\": {\"where\": \"\xc3\xa9\\tx\"}, \"value\": 0.1}]}, "
      "\"imsec_op_duration_seconds\": {\"type\": \"histogram\", \"help\": "
      "\"Durations.\", \"samples\": ["
      "{\"labels\": {\"op\": \"x\"}, \"buckets\": {\"0.0005\": 1, "
      "\"0.001\": 1, \"0.0025\": 3, \"0.005\": 3, \"0.01\": 3, \"0.025\": 3, "
      "\"0.05\": 3, \"0.1\": 3, \"0.25\": 3, \"0.5\": 3, \"1\": 3, "
      "\"2.5\": 3, \"5\": 3, \"10\": 4, \"+Inf\": 5}, \"sum\": 37.25, "
      "\"count\": 5}, "
      "{\"labels\": {}, \"buckets\": {\"0.0005\": 0, \"0.001\": 0, "
      "\"0.0025\": 0, \"0.005\": 0, \"0.01\": 0, \"0.025\": 0, \"0.05\": 0, "
      "\"0.1\": 0, \"0.25\": 0, \"0.5\": 0, \"1\": 0, \"2.5\": 0, \"5\": 0, "
      "\"10\": 0, \"+Inf\": 0}, \"sum\": 0, \"count\": 0}]}}\n");
  imsec_buf_free(&out);
  imsec_metrics none = {0};
  assert_int_equal(imsec_metrics_render_json(&none, &out), 0);
  assert_string_equal(out.p, "{}\n");
  imsec_buf_free(&out);
  imsec_metrics_free(&m);
}

/* Each value in the fewest digits that read back the same; counters as
 * integers; the text format's NaN and infinities (strings in JSON). */
static void numbers(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *text, *json;
  } cases[] = {
      {0.1, "0.1", "0.1"},
      {1e-05, "1e-05", "1e-05"},
      {1.0 / 3.0, "0.3333333333333333", "0.3333333333333333"},
      {0.30000000000000004, "0.30000000000000004", "0.30000000000000004"},
      {9007199254740991.0, "9007199254740991", "9007199254740991"},
      {9007199254740992.0, "9007199254740992", "9007199254740992"},
      {1e21, "1e+21", "1e+21"},
      {123456789, "123456789", "123456789"},
      {-7, "-7", "-7"},
      {-0.0, "0", "0"},
      {NAN, "NaN", "\"NaN\""},
      {INFINITY, "+Inf", "\"+Inf\""},
      {-INFINITY, "-Inf", "\"-Inf\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    imsec_metrics m = {0};
    imsec_buf out = {0};
    char want[128];
    assert_int_equal(
        imsec_metrics_declare(&m, "imsec_v", IMSEC_METRIC_GAUGE, "V."), 0);
    assert_int_equal(imsec_metrics_add(&m, "imsec_v", cases[i].v, NULL), 0);
    assert_int_equal(imsec_metrics_render_text(&m, &out), 0);
    snprintf(want, sizeof want,
             "# HELP imsec_v V.\n# TYPE imsec_v gauge\nimsec_v %s\n",
             cases[i].text);
    assert_string_equal(out.p, want);
    imsec_buf_reset(&out);
    assert_int_equal(imsec_metrics_render_json(&m, &out), 0);
    snprintf(want, sizeof want,
             "{\"imsec_v\": {\"type\": \"gauge\", \"help\": \"V.\", "
             "\"samples\": [{\"labels\": {}, \"value\": %s}]}}\n",
             cases[i].json);
    assert_string_equal(out.p, want);
    imsec_buf_free(&out);
    imsec_metrics_free(&m);
  }
}

static void json_strings(void **state) {
  (void)state;
  static const struct {
    const char *in;
    size_t len;
    const char *out;
  } cases[] = {
      {"", 0, "\"\""},
      {"plain", 5, "\"plain\""},
      /* RFC 8259 §7: quotation mark, reverse solidus, controls */
      {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
      {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
      {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\""},
      {"a\0b", 3, "\"a\\u0000b\""},
      /* well-formed UTF-8 passes: 2, 3 and 4 octets */
      {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
      /* RFC 3629: a stray byte, an overlong, a surrogate, past U+10FFFF,
       * a sequence cut short: U+FFFD per byte that starts none */
      {"\xff", 1, "\"\\ufffd\""},
      {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},
      {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
      {"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
      {"x\xe2\x82", 3, "\"x\\ufffd\\ufffd\""},
      {"\xe2\x82z", 3, "\"\\ufffd\\ufffdz\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    imsec_buf b = {0};
    assert_int_equal(imsec_buf_add_json_str(&b, cases[i].in, cases[i].len), 0);
    assert_string_equal(b.p, cases[i].out);
    imsec_buf_free(&b);
  }
}

static void tables(void **state) {
  (void)state;
  static const char *const cols[] = {"flow", "peer", "state"};
  static const char *const r1[] = {"1", "tls:127.0.0.1:5061", "open"};
  static const char *const r2[] = {"22", "", "clo\nsing"};
  static const char *const r3[] = {"3", "\xc3\xa9", NULL};
  imsec_table t = {0};
  imsec_buf out = {0};
  assert_int_equal(imsec_table_init(&t, cols, 3), 0);

  /* No rows: the header alone; an empty array. */
  assert_int_equal(imsec_table_render_text(&t, &out), 0);
  assert_string_equal(out.p, "flow  peer  state\n");
  imsec_buf_reset(&out);
  assert_int_equal(imsec_table_render_json(&t, &out), 0);
  assert_string_equal(out.p, "[]\n");
  imsec_buf_reset(&out);

  assert_int_equal(imsec_table_add(&t, r1), 0);
  assert_int_equal(imsec_table_add(&t, r2), 0);
  assert_int_equal(imsec_table_add(&t, r3), 0);
  /* Aligned on code points, empty cells "-", a control character "?",
   * no blanks after the last column. */
  assert_int_equal(imsec_table_render_text(&t, &out), 0);
  assert_string_equal(out.p, "flow  peer                state\n"
                             "1     tls:127.0.0.1:5061  open\n"
                             "22    -                   clo?sing\n"
                             "3     \xc3\xa9                   -\n");
  imsec_buf_reset(&out);
  /* The table itself keeps control characters out (lib/base/obs.c). */
  assert_int_equal(imsec_table_render_json(&t, &out), 0);
  assert_string_equal(
      out.p, "[{\"flow\": \"1\", \"peer\": \"tls:127.0.0.1:5061\", "
             "\"state\": \"open\"}, "
             "{\"flow\": \"22\", \"peer\": \"\", \"state\": \"clo?sing\"}, "
             "{\"flow\": \"3\", \"peer\": \"\xc3\xa9\", \"state\": \"\"}]\n");
  imsec_buf_free(&out);
  imsec_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(text_format), cmocka_unit_test(json_format),
      cmocka_unit_test(numbers),     cmocka_unit_test(json_strings),
      cmocka_unit_test(tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
