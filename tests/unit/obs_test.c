/* lib/base/obs.c: buffers, histograms, metric snapshots, tables. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "imsec/obs.h"
#include "test_util.h"

static void buf_and_u64(void **state) {
  (void)state;
  imsec_buf b = {0};
  assert_int_equal(imsec_buf_adds(&b, "n="), 0);
  assert_int_equal(imsec_buf_add_u64(&b, 0), 0);
  assert_int_equal(imsec_buf_adds(&b, ","), 0);
  assert_int_equal(imsec_buf_add_u64(&b, UINT64_MAX), 0);
  assert_string_equal(b.p, "n=0,18446744073709551615");
  imsec_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.p, "");
  imsec_buf_free(&b);
  char t[21];
  assert_int_equal(imsec_fmt_u64(t, 4096), 4);
  assert_string_equal(t, "4096");
}

static void hist(void **state) {
  (void)state;
  imsec_hist h = {0};
  imsec_hist_observe(&h, 0.0001); /* first bucket */
  imsec_hist_observe_ms(&h, 3);   /* 0.003 -> le 0.005 */
  imsec_hist_observe(&h, 20.0);   /* +Inf only */
  imsec_hist_observe(&h, NAN);    /* counted as 0 */
  assert_int_equal(h.count, 4);
  assert_int_equal(h.bucket[0], 2);
  assert_int_equal(h.bucket[3], 1);
  uint64_t in_buckets = 0;
  for (size_t i = 0; i < IMSEC_HIST_BUCKETS; i++)
    in_buckets += h.bucket[i];
  assert_int_equal(in_buckets, 3);
  assert_true(fabs(h.sum - 20.0031) < 1e-9);
  imsec_hist g = {0};
  imsec_hist_merge(&g, &h);
  imsec_hist_merge(&g, &h);
  assert_int_equal(g.count, 8);
  assert_int_equal(g.bucket[0], 4);
}

static void metrics_sum_and_escape(void **state) {
  (void)state;
  imsec_metrics m = {0};
  assert_int_equal(imsec_metrics_declare(&m, "imsec_x_total",
                                         IMSEC_METRIC_COUNTER, "X\nthings"),
                   0);
  /* Declared again by another loop: fine with the same type. */
  assert_int_equal(
      imsec_metrics_declare(&m, "imsec_x_total", IMSEC_METRIC_COUNTER, "X"), 0);
  assert_int_equal(imsec_metrics_add(&m, "imsec_x_total", 2, "method",
                                     "REGISTER", "class", "2xx", NULL),
                   0);
  assert_int_equal(imsec_metrics_add(&m, "imsec_x_total", 3, "method",
                                     "REGISTER", "class", "2xx", NULL),
                   0);
  assert_int_equal(
      imsec_metrics_add(&m, "imsec_x_total", 1, "v", "a\"b\\c\nd", NULL), 0);
  assert_int_equal(imsec_metrics_add(&m, "imsec_x_total", 7, NULL), 0);
  const imsec_metric_family *f = imsec_metrics_find(&m, "imsec_x_total");
  assert_non_null(f);
  assert_string_equal(f->help, "X things");
  assert_int_equal(f->n, 3);
  assert_string_equal(f->s[0].labels, "method=\"REGISTER\",class=\"2xx\"");
  assert_true(f->s[0].value == 5);
  assert_string_equal(f->s[1].labels, "v=\"a\\\"b\\\\c\\nd\"");
  assert_string_equal(f->s[2].labels, "");
  assert_true(f->s[2].value == 7);

  assert_int_equal(imsec_metrics_declare(&m, "imsec_lat_seconds",
                                         IMSEC_METRIC_HISTOGRAM, "Latency"),
                   0);
  imsec_hist h = {0};
  imsec_hist_observe(&h, 0.002);
  assert_int_equal(
      imsec_metrics_add_hist(&m, "imsec_lat_seconds", &h, "op", "mar", NULL),
      0);
  assert_int_equal(
      imsec_metrics_add_hist(&m, "imsec_lat_seconds", &h, "op", "mar", NULL),
      0);
  f = imsec_metrics_find(&m, "imsec_lat_seconds");
  assert_int_equal(f->s[0].hist.count, 2);
  assert_int_equal(m.err, 0);
  imsec_metrics_free(&m);
}

static void metrics_errors_sticky(void **state) {
  (void)state;
  imsec_metrics m = {0};
  /* Not declared. */
  assert_int_equal(imsec_metrics_add(&m, "imsec_nope", 1, NULL),
                   IMSEC_ERR_INVAL);
  assert_int_equal(m.err, IMSEC_ERR_INVAL);
  imsec_metrics_free(&m);
  assert_int_equal(imsec_metrics_declare(&m, "9bad", IMSEC_METRIC_GAUGE, "h"),
                   IMSEC_ERR_INVAL);
  imsec_metrics_free(&m);
  assert_int_equal(
      imsec_metrics_declare(&m, "imsec_g", IMSEC_METRIC_GAUGE, "h"), 0);
  /* Another type under the same name, a bad label name, a histogram
   * through add. */
  assert_int_equal(
      imsec_metrics_declare(&m, "imsec_g", IMSEC_METRIC_COUNTER, "h"),
      IMSEC_ERR_INVAL);
  imsec_metrics_free(&m);
  assert_int_equal(
      imsec_metrics_declare(&m, "imsec_g", IMSEC_METRIC_GAUGE, "h"), 0);
  assert_int_equal(imsec_metrics_add(&m, "imsec_g", 1, "bad-label", "x", NULL),
                   IMSEC_ERR_INVAL);
  assert_int_equal(imsec_metrics_add(&m, "imsec_g", 1, NULL), IMSEC_ERR_INVAL);
  imsec_metrics_free(&m);
}

static void tables(void **state) {
  (void)state;
  imsec_table t = {0};
  const char *cols[] = {"impu", "expires_s"};
  assert_int_equal(imsec_table_init(&t, cols, 2), 0);
  for (int i = 0; i < 40; i++) {
    char n[8];
    snprintf(n, sizeof n, "%d", i);
    const char *row[] = {"sip:alice@home.net", n};
    assert_int_equal(imsec_table_add(&t, row), 0);
  }
  imsec_str sl[2] = {imsec_str_c("sip:b\x01@x"), {NULL, 0}};
  assert_int_equal(imsec_table_addv(&t, sl), 0);
  assert_int_equal(t.nrows, 41);
  assert_string_equal(t.cells[39 * 2 + 1], "39");
  assert_string_equal(t.cells[40 * 2], "sip:b?@x");
  assert_string_equal(t.cells[40 * 2 + 1], "");
  /* init again replaces everything. */
  assert_int_equal(imsec_table_init(&t, cols, 1), 0);
  assert_int_equal(t.nrows, 0);
  assert_int_equal(t.ncols, 1);
  imsec_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buf_and_u64),
      cmocka_unit_test(hist),
      cmocka_unit_test(metrics_sum_and_escape),
      cmocka_unit_test(metrics_errors_sticky),
      cmocka_unit_test(tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
