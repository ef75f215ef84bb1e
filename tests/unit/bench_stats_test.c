/* apps/bench/stats.c: the latency histogram, the per-second series and the
 * report writers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "test_util.h"

/* A fixed xorshift sequence so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Spread over the whole range: a random power of two, then a random value
 * below it, so small and large latencies are both common. */
static uint64_t rand_us(void) {
  unsigned bits = (unsigned)(rng() % 32);
  uint64_t v = rng() & ((1ULL << bits) - 1);
  return v > IMSEC_BENCH_MAX_US ? IMSEC_BENCH_MAX_US : v;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Within the bucket precision: 1/256 of the value (half of a bucket at
 * most 1/128 wide), and exact below 256 us. */
static void assert_close(uint64_t got, uint64_t want) {
  double err = fabs((double)got - (double)want);
  if (err > (double)want / 256.0 + 0.5) {
    fprintf(stderr, "got %llu want %llu\n", (unsigned long long)got,
            (unsigned long long)want);
    fail();
  }
}

static const double qs[] = {0.01, 0.25, 0.50, 0.90, 0.99, 0.999, 1.0};

static void check_quantiles(const imsec_bench_hist *h, uint64_t *sorted,
                            size_t n) {
  qsort(sorted, n, sizeof *sorted, cmp_u64);
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    size_t rank = (size_t)ceil(qs[i] * (double)n);
    if (rank < 1)
      rank = 1;
    assert_close(imsec_bench_hist_quantile(h, qs[i]), sorted[rank - 1]);
  }
  assert_int_equal(h->count, n);
  assert_int_equal(h->min, sorted[0]);
  assert_int_equal(h->max, sorted[n - 1]);
}

static void quantiles_match_sorted(void **state) {
  (void)state;
  enum { N = 100000 };
  uint64_t *vals = malloc(N * sizeof *vals);
  assert_non_null(vals);
  imsec_bench_hist *h = malloc(sizeof *h);
  assert_non_null(h);
  imsec_bench_hist_init(h);
  double sum = 0;
  for (size_t i = 0; i < N; i++) {
    vals[i] = rand_us();
    sum += (double)vals[i];
    imsec_bench_hist_record(h, vals[i]);
  }
  assert_true(fabs(imsec_bench_hist_mean(h) - sum / N) < 1e-6 * sum / N + 1);
  check_quantiles(h, vals, N);
  free(vals);
  free(h);
}

static void edges(void **state) {
  (void)state;
  imsec_bench_hist *h = malloc(sizeof *h);
  assert_non_null(h);
  imsec_bench_hist_init(h);
  assert_int_equal(imsec_bench_hist_quantile(h, 0.5), 0);
  assert_true(imsec_bench_hist_mean(h) == 0.0);
  /* Beyond an hour counts as an hour; the largest bucket exists. */
  imsec_bench_hist_record(h, 10 * IMSEC_BENCH_MAX_US);
  assert_int_equal(h->max, IMSEC_BENCH_MAX_US);
  assert_int_equal(imsec_bench_hist_quantile(h, 0.5), IMSEC_BENCH_MAX_US);
  /* One value: every quantile is it. */
  imsec_bench_hist_init(h);
  imsec_bench_hist_record(h, 123457);
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
    assert_int_equal(imsec_bench_hist_quantile(h, qs[i]), 123457);
  free(h);
}

/* Two workers' histograms merged give the quantiles of all their values. */
static void merge(void **state) {
  (void)state;
  enum { N = 20000 };
  uint64_t *vals = malloc(2 * N * sizeof *vals);
  imsec_bench_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  assert_true(vals && a && b);
  imsec_bench_hist_init(a);
  imsec_bench_hist_init(b);
  imsec_bench_hist empty_copy;
  imsec_bench_hist_init(&empty_copy);
  for (size_t i = 0; i < 2 * N; i++) {
    /* Different ranges, so the merge must combine both tails. */
    vals[i] = i < N ? rand_us() % 5000 + 1000 : rand_us() % 900000 + 20000;
    imsec_bench_hist_record(i < N ? a : b, vals[i]);
  }
  imsec_bench_hist_merge(a, b);
  imsec_bench_hist_merge(a, &empty_copy); /* empty: nothing changes */
  check_quantiles(a, vals, 2 * N);
  /* Into an empty one: min and max come from the source. */
  imsec_bench_hist_init(b);
  imsec_bench_hist_merge(b, a);
  assert_int_equal(b->min, a->min);
  assert_int_equal(b->count, a->count);
  free(vals);
  free(a);
  free(b);
}

static void outcomes(void **state) {
  (void)state;
  assert_int_equal(imsec_bench_outcome_of_status(200), IMSEC_BENCH_OK);
  assert_int_equal(imsec_bench_outcome_of_status(302), IMSEC_BENCH_SIP_3XX);
  assert_int_equal(imsec_bench_outcome_of_status(401), IMSEC_BENCH_SIP_4XX);
  assert_int_equal(imsec_bench_outcome_of_status(503), IMSEC_BENCH_SIP_5XX);
  assert_int_equal(imsec_bench_outcome_of_status(603), IMSEC_BENCH_SIP_6XX);
  assert_int_equal(imsec_bench_outcome_of_status(100), IMSEC_BENCH_OTHER);
  assert_string_equal(imsec_bench_outcome_name(IMSEC_BENCH_TLS_ALERT),
                      "tls_alert");
}

/* A run of 10 s: seconds 0..5 busy, 6..7 silent, 8 busy, finish at 10. */
static imsec_bench_stats *sample_run(void) {
  imsec_bench_stats *s = imsec_bench_stats_new();
  assert_non_null(s);
  for (uint32_t sec = 0; sec <= 8; sec++) {
    if (sec == 6 || sec == 7)
      continue;
    for (unsigned i = 0; i < 100; i++)
      assert_int_equal(imsec_bench_stats_record(s, sec, IMSEC_BENCH_OK,
                                                (sec + 1) * 1000 + i * 10),
                       0);
    assert_int_equal(imsec_bench_stats_record(s, sec, IMSEC_BENCH_SIP_4XX, 500),
                     0);
    if (sec == 8)
      assert_int_equal(imsec_bench_stats_record(s, sec, IMSEC_BENCH_TIMEOUT, 0),
                       0);
  }
  assert_int_equal(imsec_bench_stats_finish(s, 10), 0);
  return s;
}

static void series(void **state) {
  (void)state;
  imsec_bench_stats *s = sample_run();
  assert_int_equal(s->nsecs, 10);
  assert_int_equal(s->attempts, 7 * 101 + 1);
  assert_int_equal(s->ok, 700);
  assert_int_equal(s->fail[IMSEC_BENCH_SIP_4XX], 7);
  assert_int_equal(s->fail[IMSEC_BENCH_TIMEOUT], 1);
  assert_int_equal(s->secs[2].attempts, 101);
  assert_int_equal(s->secs[2].ok, 100);
  /* Second 2's latencies are 3000..3990 us: p50 is the 50th, 3490. */
  assert_close(s->secs[2].p50_us, 3490);
  assert_close(s->secs[2].p99_us, 3980);
  assert_int_equal(s->secs[6].attempts, 0);
  assert_int_equal(s->secs[6].p50_us, 0);
  assert_int_equal(s->secs[9].attempts, 0);
  assert_int_equal(s->secs[8].fail[IMSEC_BENCH_TIMEOUT], 1);
  /* After finish nothing more is counted. */
  assert_int_equal(imsec_bench_stats_record(s, 11, IMSEC_BENCH_OK, 1), -1);
  imsec_bench_stats_free(s);
}

/* Write with `fn` into a temporary file; returns its path (static). */
static const char *write_tmp(int (*fn)(FILE *, const imsec_bench_stats *),
                             const imsec_bench_stats *s, const char *suffix) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/bench_stats_XXXXXX%s", suffix);
  int fd = mkstemps(path, (int)strlen(suffix));
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  assert_int_equal(fn(f, s), 0);
  assert_int_equal(fclose(f), 0);
  return path;
}

static const imsec_bench_opt run_opts[] = {
    {"rate", "100"}, {"target", "p.example \"quoted\"\\\n"}};

static int json_fn(FILE *f, const imsec_bench_stats *s) {
  return imsec_bench_write_json(f, s, run_opts, 2);
}
static int svg_fn(FILE *f, const imsec_bench_stats *s) {
  return imsec_bench_write_svg(f, s, "run <1> & \"more\"");
}

/* The JSON report parses and holds what the run counted. */
static void json(void **state) {
  (void)state;
  imsec_bench_stats *s = sample_run();
  const char *path = write_tmp(json_fn, s, ".json");
  char out[512];
  int rc = t_sh(
      out, sizeof out,
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
      "assert d[\"options\"][\"target\"]==\"p.example \\\"quoted\\\"\\\\\\n\"; "
      "assert d[\"totals\"][\"attempts\"]==708; "
      "assert d[\"totals\"][\"successes\"]==700; "
      "assert d[\"failures\"][\"sip_4xx\"]==7; "
      "assert d[\"failures\"][\"timeout\"]==1; "
      "l=d[\"latency_us\"]; assert l[\"min\"]<=l[\"p50\"]<=l[\"p90\"]"
      "<=l[\"p99\"]<=l[\"p99.9\"]<=l[\"max\"]; "
      "assert len(d[\"series\"])==10; "
      "assert d[\"series\"][8][\"failures\"][\"timeout\"]==1' %s",
      path);
  if (rc != 0)
    fprintf(stderr, "%s\n", out);
  assert_int_equal(rc, 0);
  unlink(path);
  /* An empty run is still valid JSON. */
  imsec_bench_stats *e = imsec_bench_stats_new();
  assert_int_equal(imsec_bench_stats_finish(e, 0), 0);
  path = write_tmp(json_fn, e, ".json");
  rc = t_sh(out, sizeof out,
            "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s",
            path);
  assert_int_equal(rc, 0);
  unlink(path);
  imsec_bench_stats_free(e);
  imsec_bench_stats_free(s);
}

/* One CSV row per second after the header, every row the same width. */
static void csv(void **state) {
  (void)state;
  imsec_bench_stats *s = sample_run();
  const char *path = write_tmp(imsec_bench_write_csv, s, ".csv");
  size_t len;
  char *text = t_read_file(path, &len);
  unsigned lines = 0, commas = 0, first = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == ',')
      commas++;
    if (text[i] == '\n') {
      if (lines == 0)
        first = commas;
      assert_int_equal(commas, first);
      commas = 0;
      lines++;
    }
  }
  assert_int_equal(lines, 1 + 10);
  assert_non_null(strstr(text, "\n2,101,100,0,1,0,0,0,0,0,"));
  free(text);
  unlink(path);
  imsec_bench_stats_free(s);
}

/* The plot is well-formed XML, an SVG with two panels' lines and labels. */
static void svg(void **state) {
  (void)state;
  imsec_bench_stats *s = sample_run();
  const char *path = write_tmp(svg_fn, s, ".svg");
  char out[512];
  int rc = t_sh(out, sizeof out,
                "python3 -c 'import sys,xml.etree.ElementTree as E; "
                "r=E.parse(sys.argv[1]).getroot(); "
                "n=\"{http://www.w3.org/2000/svg}\"; "
                "assert r.tag==n+\"svg\"; "
                "assert len(r.findall(n+\"polyline\"))==4; "
                "t=[x.text for x in r.iter(n+\"text\")]; "
                "assert \"latency (ms)\" in t and \"time (s)\" in t; "
                "assert \"run <1> & \\\"more\\\"\" in t' %s",
                path);
  if (rc != 0)
    fprintf(stderr, "%s\n", out);
  assert_int_equal(rc, 0);
  unlink(path);
  imsec_bench_stats_free(s);
}

static void table(void **state) {
  (void)state;
  imsec_bench_stats *s = sample_run();
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(imsec_bench_write_table(f, s), 0);
  fclose(f);
  assert_non_null(strstr(buf, "attempts   708\n"));
  assert_non_null(strstr(buf, "sip_4xx   7\n"));
  assert_non_null(strstr(buf, "p99.9"));
  free(buf);
  imsec_bench_stats_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(quantiles_match_sorted),
      cmocka_unit_test(edges),
      cmocka_unit_test(merge),
      cmocka_unit_test(outcomes),
      cmocka_unit_test(series),
      cmocka_unit_test(json),
      cmocka_unit_test(csv),
      cmocka_unit_test(svg),
      cmocka_unit_test(table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
