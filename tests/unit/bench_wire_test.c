/* apps/bench/wire.c: the generator processes' pipe records (round trip,
 * any split of the byte stream, malformed streams), the runner's merge
 * of several processes' reports in second order; apps/bench/procstat.c
 * and the full JSON report of apps/bench/stats.c. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "stats.h"
#include "test_util.h"
#include "wire.h"

/* ------------------------------------------------------ a collecting
 * handler */

typedef struct got {
  bench_done d[20000];
  size_t nd;
  uint32_t ticks, last_in_flight, last_registered, last_sec;
  int last_final;
  char text[8][600];
  int text_type[8];
  size_t nt;
} got;

static void g_done(void *arg, const bench_done *d) {
  got *g = arg;
  assert_true(g->nd < sizeof g->d / sizeof g->d[0]);
  g->d[g->nd++] = *d;
}

static void g_tick(void *arg, uint32_t in_flight, uint32_t registered,
                   uint32_t sec_now, int final) {
  got *g = arg;
  g->ticks++;
  g->last_in_flight = in_flight;
  g->last_registered = registered;
  g->last_sec = sec_now;
  g->last_final = final;
}

static void g_text(void *arg, int type, const char *line) {
  got *g = arg;
  assert_true(g->nt < 8);
  snprintf(g->text[g->nt], sizeof g->text[0], "%s", line);
  g->text_type[g->nt++] = type;
}

static bench_done mk(uint32_t sec, int sc, int outcome, int status,
                     uint64_t lat) {
  bench_done d = {sec, (uint8_t)sc, (uint8_t)outcome, (uint16_t)status, lat};
  return d;
}

/* Everything a writer wrote into a pipe, read back (the pipe is large
 * enough for these tests' volumes only when drained as we go: a reader
 * thread is overkill, so the writer goes to a temporary file). */
static uint8_t *written(bench_wire_writer *w, int fd, size_t *len) {
  assert_int_equal(bench_wire_flush(w), 0);
  off_t end = lseek(fd, 0, SEEK_END);
  assert_true(end >= 0);
  uint8_t *buf = malloc((size_t)end + 1);
  assert_non_null(buf);
  assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
  *len = (size_t)end;
  return buf;
}

static int tmpfd(void) {
  char path[] = "/tmp/bench_wire_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  return fd;
}

static void round_trip(void **state) {
  (void)state;
  int fd = tmpfd();
  static bench_wire_writer w;
  bench_wire_writer_init(&w, fd);
  /* More operations than one DONES record and one buffer hold. */
  const size_t n = 9000;
  for (size_t i = 0; i < n; i++) {
    bench_done d = mk((uint32_t)(i / 1000), (int)(i % 3), (int)(i % 8),
                      i % 8 == IMSEC_BENCH_SIP_4XX ? 403 : 0,
                      (uint64_t)i * 1000003ULL + (1ULL << 40));
    assert_int_equal(bench_wire_put_done(&w, &d), 0);
    if (i == 4500) {
      assert_int_equal(bench_wire_put_tick(&w, 17, 42, 4, 0), 0);
      assert_int_equal(bench_wire_put_text(&w, BENCH_WIRE_NOTE,
                                           "first 403 from x\nsecond line"),
                       0);
    }
  }
  assert_int_equal(bench_wire_put_text(&w, BENCH_WIRE_FAIL, "bad \x1b[2J"), 0);
  assert_int_equal(bench_wire_put_tick(&w, 0, 0, 9, 1), 0);
  size_t len;
  uint8_t *buf = written(&w, fd, &len);
  close(fd);

  /* Fed whole, and fed in every size of piece from 1 octet up. */
  size_t steps[] = {len, 1, 2, 3, 7, 4096, 65539};
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    static got g;
    memset(&g, 0, sizeof g);
    bench_wire_handler h = {&g, g_done, g_tick, g_text};
    static bench_wire_reader r;
    bench_wire_reader_init(&r);
    for (size_t off = 0; off < len; off += steps[s]) {
      size_t k = len - off < steps[s] ? len - off : steps[s];
      assert_int_equal(bench_wire_feed(&r, buf + off, k, &h), 0);
    }
    assert_int_equal(r.len, 0);
    assert_int_equal(g.nd, n);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(g.d[i].sec, i / 1000);
      assert_int_equal(g.d[i].scenario, i % 3);
      assert_int_equal(g.d[i].outcome, i % 8);
      assert_int_equal(g.d[i].status, i % 8 == 2 ? 403 : 0);
      assert_true(g.d[i].latency_us == (uint64_t)i * 1000003ULL + (1ULL << 40));
    }
    assert_int_equal(g.ticks, 2);
    assert_int_equal(g.last_sec, 9);
    assert_int_equal(g.last_final, 1);
    assert_int_equal(g.nt, 2);
    assert_int_equal(g.text_type[0], BENCH_WIRE_NOTE);
    /* A note is one line: cut at its newline. */
    assert_string_equal(g.text[0], "first 403 from x");
    assert_int_equal(g.text_type[1], BENCH_WIRE_FAIL);
    /* Control characters cannot reach the terminal. */
    assert_string_equal(g.text[1], "bad ?[2J");
  }
  free(buf);
}

static void long_text_and_tick(void **state) {
  (void)state;
  int fd = tmpfd();
  static bench_wire_writer w;
  bench_wire_writer_init(&w, fd);
  char line[2000];
  memset(line, 'x', sizeof line - 1);
  line[sizeof line - 1] = 0;
  assert_int_equal(bench_wire_put_text(&w, BENCH_WIRE_NOTE, line), 0);
  size_t len;
  uint8_t *buf = written(&w, fd, &len);
  close(fd);
  assert_int_equal(len, BENCH_WIRE_HDR + BENCH_WIRE_TEXT_MAX);
  static got g;
  memset(&g, 0, sizeof g);
  bench_wire_handler h = {&g, g_done, g_tick, g_text};
  static bench_wire_reader r;
  bench_wire_reader_init(&r);
  assert_int_equal(bench_wire_feed(&r, buf, len, &h), 0);
  assert_int_equal(strlen(g.text[0]), BENCH_WIRE_TEXT_MAX);
  free(buf);

  uint8_t t[32];
  assert_int_equal(bench_wire_encode_tick(t, 10, 1, 2, 3, 0), 0);
  assert_int_equal(bench_wire_encode_tick(t, sizeof t, 1, 2, 3, 0), 17);
  memset(&g, 0, sizeof g);
  assert_int_equal(bench_wire_feed(&r, t, 17, &h), 0);
  assert_int_equal(g.last_in_flight, 1);
  assert_int_equal(g.last_registered, 2);
  assert_int_equal(g.last_sec, 3);
  assert_int_equal(g.last_final, 0);
}

static void malformed(void **state) {
  (void)state;
  static got g;
  bench_wire_handler h = {&g, g_done, g_tick, g_text};
  static bench_wire_reader r;
  /* An unknown type. */
  bench_wire_reader_init(&r);
  uint8_t a[] = {9, 0, 0, 0};
  assert_int_equal(bench_wire_feed(&r, a, sizeof a, &h), -1);
  /* A nonzero second octet. */
  bench_wire_reader_init(&r);
  uint8_t b[] = {BENCH_WIRE_TICK, 1, 13, 0};
  assert_int_equal(bench_wire_feed(&r, b, sizeof b, &h), -1);
  /* A DONES payload not a multiple of 16. */
  bench_wire_reader_init(&r);
  uint8_t c[4 + 15] = {BENCH_WIRE_DONES, 0, 15, 0};
  assert_int_equal(bench_wire_feed(&r, c, sizeof c, &h), -1);
  /* A TICK of the wrong length. */
  bench_wire_reader_init(&r);
  uint8_t d[4 + 12] = {BENCH_WIRE_TICK, 0, 12, 0};
  assert_int_equal(bench_wire_feed(&r, d, sizeof d, &h), -1);
  /* A text longer than the writer ever sends. */
  bench_wire_reader_init(&r);
  static uint8_t e[4 + 600] = {BENCH_WIRE_NOTE, 0, 600 & 0xff, 600 >> 8};
  assert_int_equal(bench_wire_feed(&r, e, sizeof e, &h), -1);
  /* A partial record is kept, not an error. */
  bench_wire_reader_init(&r);
  uint8_t f[] = {BENCH_WIRE_TICK, 0, 13, 0, 1, 2};
  assert_int_equal(bench_wire_feed(&r, f, sizeof f, &h), 0);
  assert_int_equal(r.len, sizeof f);
}

/* A writer whose reader went away fails, and keeps failing. */
static void gone_reader(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  signal(SIGPIPE, SIG_IGN);
  static bench_wire_writer w;
  bench_wire_writer_init(&w, p[1]);
  assert_int_equal(bench_wire_put_tick(&w, 0, 0, 0, 0), 0);
  assert_int_equal(bench_wire_flush(&w), -1);
  assert_int_equal(bench_wire_put_tick(&w, 0, 0, 0, 0), -1);
  bench_done d = mk(0, 0, 0, 0, 1);
  assert_int_equal(bench_wire_put_done(&w, &d), -1);
  close(p[1]);
}

/* ------------------------------------------------------------- merge */

/* Two workers, reports interleaved as pipes deliver them: a second is
 * counted only when both passed it, and the series is what one process
 * would have counted. */
static void merge_two_workers(void **state) {
  (void)state;
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, 2), 0);
  /* Worker 0 runs ahead: seconds 0, 1 and 2. */
  for (uint32_t s = 0; s < 3; s++)
    for (int k = 0; k < 10; k++) {
      bench_done d =
          mk(s, BENCH_SC_REGISTER, IMSEC_BENCH_OK, 200, 1000 * (s + 1));
      assert_int_equal(bench_merge_done(&m, 0, &d), 0);
    }
  assert_int_equal(bench_merge_tick(&m, 0, 5, 50, 3, 0), 0);
  /* Worker 1 has said nothing yet: nothing is counted. */
  assert_int_equal(m.total->attempts, 0);
  assert_int_equal(m.npending, 30);
  assert_int_equal(bench_merge_in_flight(&m), 5);
  assert_int_equal(bench_merge_registered(&m), 50);
  /* Worker 1: second 0 (one failure), then a tick at second 1. */
  bench_done f = mk(0, BENCH_SC_MESSAGE, IMSEC_BENCH_SIP_4XX, 403, 700);
  assert_int_equal(bench_merge_done(&m, 1, &f), 0);
  bench_done t = mk(0, BENCH_SC_REGISTER, IMSEC_BENCH_TIMEOUT, 0, 10000);
  assert_int_equal(bench_merge_done(&m, 1, &t), 0);
  assert_int_equal(bench_merge_tick(&m, 1, 2, 20, 1, 0), 0);
  assert_int_equal(bench_merge_in_flight(&m), 7);
  assert_int_equal(bench_merge_registered(&m), 70);
  /* Second 0 is closed: 12 attempts counted, the rest still pending. */
  assert_int_equal(m.total->attempts, 12);
  assert_int_equal(m.total->ok, 10);
  assert_int_equal(m.npending, 20);
  assert_int_equal(m.closed, 1);
  /* Worker 1 reports second 1 late, then ends. */
  for (int k = 0; k < 5; k++) {
    bench_done d = mk(1, BENCH_SC_CALL, IMSEC_BENCH_OK, 200, 50000);
    assert_int_equal(bench_merge_done(&m, 1, &d), 0);
  }
  assert_int_equal(bench_merge_tick(&m, 1, 0, 0, 2, 1), 0);
  /* Only worker 0's watermark (3) holds now. */
  assert_int_equal(m.closed, 3);
  assert_int_equal(m.total->attempts, 12 + 15 + 10);
  /* A tick that goes back changes nothing. */
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 1, 0), 0);
  assert_int_equal(m.closed, 3);
  /* An unknown worker. */
  assert_int_equal(bench_merge_tick(&m, 2, 0, 0, 1, 0), -1);
  /* Worker 0 ends without its final tick (it died): finish counts it. */
  bench_done late = mk(3, BENCH_SC_REGISTER, IMSEC_BENCH_OK, 200, 4000);
  assert_int_equal(bench_merge_done(&m, 0, &late), 0);
  assert_int_equal(bench_merge_finish(&m, 5), 0);
  assert_int_equal(m.dropped, 0);

  const imsec_bench_stats *s = m.total;
  assert_int_equal(s->attempts, 38);
  assert_int_equal(s->ok, 36);
  assert_int_equal(s->fail[IMSEC_BENCH_SIP_4XX], 1);
  assert_int_equal(s->fail[IMSEC_BENCH_TIMEOUT], 1);
  assert_int_equal(s->nsecs, 5);
  assert_int_equal(s->secs[0].attempts, 12);
  assert_int_equal(s->secs[0].ok, 10);
  assert_int_equal(s->secs[1].attempts, 15);
  assert_int_equal(s->secs[1].ok, 15);
  assert_int_equal(s->secs[2].attempts, 10);
  assert_int_equal(s->secs[3].attempts, 1);
  assert_int_equal(s->secs[4].attempts, 0);
  /* Second 1: 10 at 2 ms and 5 at 50 ms. */
  assert_in_range(s->secs[1].p50_us, 1990, 2010);
  /* Per scenario. */
  assert_int_equal(m.by[BENCH_SC_REGISTER]->attempts, 32);
  assert_int_equal(m.by[BENCH_SC_MESSAGE]->attempts, 1);
  assert_int_equal(m.by[BENCH_SC_MESSAGE]->fail[IMSEC_BENCH_SIP_4XX], 1);
  assert_int_equal(m.by[BENCH_SC_CALL]->ok, 5);
  assert_int_equal(m.by[BENCH_SC_CALL]->secs[1].ok, 5);
  /* The 403 by its status. */
  assert_int_equal(m.status[403 - BENCH_STATUS_MIN], 1);
  bench_merge_free(&m);
}

/* A report for a second already closed (against the contract) is still
 * counted, in the open second, and noted. */
static void merge_late(void **state) {
  (void)state;
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, 1), 0);
  bench_done d = mk(0, 0, IMSEC_BENCH_OK, 200, 10);
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  d.sec = 4;
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 5, 0), 0);
  assert_int_equal(m.total->attempts, 2);
  d.sec = 2;
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  assert_int_equal(m.dropped, 1);
  assert_int_equal(bench_merge_finish(&m, 1), 0);
  assert_int_equal(m.total->attempts, 3);
  assert_int_equal(m.total->secs[4].attempts, 2);
  assert_int_equal(m.total->nsecs, 5);
  /* An outcome out of range counts as "other". */
  bench_merge_free(&m);
  assert_int_equal(bench_merge_init(&m, 1), 0);
  d = mk(0, 7, 200, 0, 10);
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  assert_int_equal(bench_merge_finish(&m, 1), 0);
  assert_int_equal(m.total->fail[IMSEC_BENCH_OTHER], 1);
  bench_merge_free(&m);
}

/* With a lag of one second, an operation stamped just before a tick's
 * second (an event handled after the tick) is still counted in its own
 * second. */
static void merge_lag(void **state) {
  (void)state;
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, 2), 0);
  m.lag = 1;
  bench_done d = mk(0, 0, IMSEC_BENCH_OK, 200, 10);
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 1, 0), 0);
  assert_int_equal(bench_merge_tick(&m, 1, 0, 0, 1, 0), 0);
  /* Both passed second 0, but it stays open one more second. */
  assert_int_equal(m.total->attempts, 0);
  assert_int_equal(bench_merge_done(&m, 1, &d), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 2, 0), 0);
  assert_int_equal(bench_merge_tick(&m, 1, 0, 0, 2, 0), 0);
  assert_int_equal(m.total->attempts, 2);
  assert_int_equal(m.closed, 1);
  /* Every worker final: everything is counted at once. */
  d.sec = 1;
  assert_int_equal(bench_merge_done(&m, 1, &d), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 2, 1), 0);
  assert_int_equal(bench_merge_tick(&m, 1, 0, 0, 2, 1), 0);
  assert_int_equal(m.total->attempts, 3);
  assert_int_equal(bench_merge_finish(&m, 2), 0);
  assert_int_equal(m.dropped, 0);
  assert_int_equal(m.total->secs[0].attempts, 2);
  assert_int_equal(m.total->secs[1].attempts, 1);
  bench_merge_free(&m);
}

/* Seconds pass with nothing ended yet (an open-connection run's warm-up
 * reports nothing): closing them with no operation ever pending is fine. */
static void merge_idle_seconds(void **state) {
  (void)state;
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, 1), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 3, 0, 1, 0), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 3, 0, 3, 0), 0);
  assert_int_equal(m.total->attempts, 0);
  bench_done d = mk(3, 0, IMSEC_BENCH_OK, 200, 10);
  assert_int_equal(bench_merge_done(&m, 0, &d), 0);
  assert_int_equal(bench_merge_tick(&m, 0, 0, 0, 4, 1), 0);
  assert_int_equal(bench_merge_finish(&m, 4), 0);
  assert_int_equal(m.total->attempts, 1);
  assert_int_equal(m.total->secs[3].attempts, 1);
  bench_merge_free(&m);
}

/* Many workers, reports shuffled within the bounds the contract allows:
 * the same totals and series as a single ordered stream. */
static void merge_many_shuffled(void **state) {
  (void)state;
  enum { W = 8, SECS = 20, PER = 37 };
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, W), 0);
  imsec_bench_stats *ref = imsec_bench_stats_new();
  assert_non_null(ref);
  uint64_t x = 12345;
  uint32_t wsec[W] = {0};
  int live = W;
  while (live) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned w = (unsigned)(x >> 33) % W;
    if (wsec[w] >= SECS)
      continue;
    for (int k = 0; k < PER; k++) {
      int o = (int)((x >> (k % 40)) % 4 == 0 ? IMSEC_BENCH_TIMEOUT
                                             : IMSEC_BENCH_OK);
      bench_done d = mk(wsec[w], k % 3, o, 0, 100 + w * 10 + (uint64_t)k);
      assert_int_equal(bench_merge_done(&m, w, &d), 0);
    }
    wsec[w]++;
    int final = wsec[w] == SECS;
    assert_int_equal(bench_merge_tick(&m, w, 1, 1, wsec[w], final), 0);
    live -= final;
  }
  /* The reference: the same operations, in second order. */
  x = 12345;
  memset(wsec, 0, sizeof wsec);
  live = W;
  bench_done *all = calloc((size_t)W * SECS * PER, sizeof *all);
  size_t n = 0;
  while (live) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned w = (unsigned)(x >> 33) % W;
    if (wsec[w] >= SECS)
      continue;
    for (int k = 0; k < PER; k++) {
      int o = (int)((x >> (k % 40)) % 4 == 0 ? IMSEC_BENCH_TIMEOUT
                                             : IMSEC_BENCH_OK);
      all[n++] = mk(wsec[w], k % 3, o, 0, 100 + w * 10 + (uint64_t)k);
    }
    wsec[w]++;
    live -= wsec[w] == SECS;
  }
  for (uint32_t s = 0; s < SECS; s++)
    for (size_t i = 0; i < n; i++)
      if (all[i].sec == s)
        assert_int_equal(
            imsec_bench_stats_record(
                ref, s, (imsec_bench_outcome)all[i].outcome, all[i].latency_us),
            0);
  assert_int_equal(bench_merge_finish(&m, SECS), 0);
  assert_int_equal(imsec_bench_stats_finish(ref, SECS), 0);
  assert_int_equal(m.dropped, 0);
  assert_int_equal(m.total->attempts, ref->attempts);
  assert_int_equal(m.total->ok, ref->ok);
  assert_int_equal(m.total->nsecs, SECS);
  for (int s = 0; s < SECS; s++) {
    assert_int_equal(m.total->secs[s].attempts, (uint64_t)W * PER);
    assert_int_equal(m.total->secs[s].ok, ref->secs[s].ok);
    assert_int_equal(m.total->secs[s].p50_us, ref->secs[s].p50_us);
    assert_int_equal(m.total->secs[s].p99_us, ref->secs[s].p99_us);
  }
  free(all);
  imsec_bench_stats_free(ref);
  bench_merge_free(&m);
}

/* ---------------------------------------------------------- procstat */

static void procstat(void **state) {
  (void)state;
  bench_procstat ps;
  /* A comm with spaces and parentheses; utime 250, stime 50 ticks. */
  const char *stat = "1234 (im sec) (x)) S 1 1234 1234 0 -1 4194560 500 0 0 "
                     "0 250 50 0 0 20 0 3 0 100 12345678 900 ...";
  const char *status = "Name:\tx\nVmHWM:\t  5120 kB\nVmRSS:\t  4096 kB\n";
  assert_int_equal(bench_procstat_parse(stat, status, 100, &ps), 0);
  assert_true(ps.cpu_s > 2.999 && ps.cpu_s < 3.001);
  assert_int_equal(ps.rss_kib, 4096);
  assert_int_equal(ps.hwm_kib, 5120);
  assert_int_equal(bench_procstat_parse("1234 no comm", NULL, 100, &ps), -1);
  assert_int_equal(bench_procstat_parse("1 (x) S 1 2", NULL, 100, &ps), -1);
  /* This process, live. */
  assert_int_equal(bench_procstat_read(getpid(), &ps), 0);
  assert_true(ps.rss_kib > 0);
  assert_int_equal(bench_procstat_read(0x7ffffff0, &ps), -1);
}

/* ------------------------------------------------------------ report */

static void report_json(void **state) {
  (void)state;
  bench_merge m;
  assert_int_equal(bench_merge_init(&m, 1), 0);
  for (uint32_t s = 0; s < 3; s++)
    for (int k = 0; k < 30; k++) {
      bench_done d = mk(s, k % 2 ? BENCH_SC_MESSAGE : BENCH_SC_REGISTER,
                        k == 7 ? IMSEC_BENCH_SIP_5XX : IMSEC_BENCH_OK,
                        k == 7 ? 503 : 200, 1000 + (uint64_t)k * 10);
      assert_int_equal(bench_merge_done(&m, 0, &d), 0);
    }
  assert_int_equal(bench_merge_finish(&m, 3), 0);
  imsec_bench_opt opts[] = {{"target", "tls:127.0.0.1:5061"},
                            {"scenario", "register=1,message=1"}};
  imsec_bench_server srv[2] = {{.pid = 11,
                                .sampled = 1,
                                .cpu_s = 0.45,
                                .rss_kib_start = 1000,
                                .rss_kib_end = 1500,
                                .rss_kib_max = 1600,
                                .rss_kib_idle_before = 1000,
                                .rss_kib_held = 1840},
                               {.pid = 12}};
  imsec_bench_report r = {0};
  r.total = m.total;
  r.by[0] = m.by[BENCH_SC_REGISTER];
  r.by_name[0] = "register";
  r.by[1] = m.by[BENCH_SC_MESSAGE];
  r.by_name[1] = "message";
  r.n_by = 2;
  r.opts = opts;
  r.nopts = 2;
  r.elapsed_s = 3.0;
  r.status = m.status;
  r.status_min = BENCH_STATUS_MIN;
  r.n_status = BENCH_STATUS_N;
  r.servers = srv;
  r.n_servers = 2;
  r.procs = 2;
  r.generator_cpu_s = 0.9;
  r.hold = 1;
  r.hold_ues = 30;
  r.hold_registered = 28;

  char path[] = "/tmp/bench_report_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_int_equal(imsec_bench_write_report_json(f, &r), 0);
  assert_int_equal(fclose(f), 0);
  char out[2048];
  int rc = t_sh(
      out, sizeof out,
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
      "t=d[\"totals\"]; assert t[\"attempts\"]==90 and t[\"ok\"]==87, t; "
      "assert t[\"failures\"][\"sip_5xx\"]==3 and t[\"failed\"]==3; "
      "assert abs(t[\"rate\"]-29.0)<0.01 and t[\"duration_s\"]==3.0; "
      "l=d[\"latency_us\"]; assert l[\"min\"]<=l[\"p50\"]<=l[\"p90\"]"
      "<=l[\"p99\"]<=l[\"p999\"]<=l[\"max\"] and l[\"mean\"]>0; "
      "b=d[\"by_scenario\"]; assert b[\"register\"][\"attempts\"]==45; "
      "assert b[\"message\"][\"failures\"][\"sip_5xx\"]==3; "
      "assert b[\"message\"][\"latency_us\"][\"p50\"]>0; "
      "assert d[\"statuses\"]=={\"503\": 3}; "
      "assert len(d[\"series\"])==3 and d[\"series\"][1][\"ok\"]==29; "
      "s=d[\"server\"]; assert s[0][\"pid\"]==11 and s[0][\"cpu_s\"]==0.45; "
      "assert abs(s[0][\"cpu_us_per_op\"]-0.45e6/87)<0.01; "
      "assert s[0][\"rss_kib_start\"]==1000 and s[0][\"rss_kib_end\"]==1500"
      " and s[0][\"rss_kib_max\"]==1600; "
      "assert s[1][\"cpu_s\"] is None; "
      "g=d[\"generator\"]; assert g[\"procs\"]==2 and g[\"cpu_s\"]==0.9; "
      "h=d[\"hold\"]; assert h[\"ues\"]==30 and h[\"registered\"]==28; "
      "assert h[\"servers\"][0][\"rss_kib_idle_before\"]==1000; "
      "assert h[\"servers\"][0][\"rss_kib_after\"]==1840; "
      "assert h[\"servers\"][0][\"kib_per_ue\"]==30.0; "
      "assert h[\"servers\"][1][\"kib_per_ue\"] is None; "
      "assert d[\"options\"][\"scenario\"]==\"register=1,message=1\"' %s",
      path);
  if (rc != 0)
    fprintf(stderr, "%s\n", out);
  assert_int_equal(rc, 0);

  /* Without servers, a mix or a hold: the same keys, empty. */
  r.n_by = 0;
  r.n_servers = 0;
  r.hold = 0;
  r.generator_cpu_s = -1;
  f = fopen(path, "w");
  assert_int_equal(imsec_bench_write_report_json(f, &r), 0);
  assert_int_equal(fclose(f), 0);
  rc = t_sh(out, sizeof out,
            "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
            "assert d[\"server\"]==[] and \"by_scenario\" not in d; "
            "assert \"hold\" not in d; "
            "assert d[\"generator\"][\"cpu_s\"] is None' %s",
            path);
  if (rc != 0)
    fprintf(stderr, "%s\n", out);
  assert_int_equal(rc, 0);

  /* The table. */
  r.n_by = 2;
  r.n_servers = 1;
  r.hold = 1;
  r.generator_cpu_s = 0.9;
  f = fopen(path, "w+");
  assert_int_equal(imsec_bench_write_report_table(f, &r), 0);
  rewind(f);
  char text[4096];
  size_t k = fread(text, 1, sizeof text - 1, f);
  text[k] = 0;
  fclose(f);
  unlink(path);
  assert_non_null(strstr(text, "attempts   90\n"));
  assert_non_null(strstr(text, "sip_5xx   3 (503: 3)\n"));
  assert_non_null(strstr(text, "\nmessage "));
  assert_non_null(strstr(text, "server 11: cpu 0.450 s"));
  assert_non_null(strstr(text, "generator: 2 processes, cpu 0.900 s"));
  assert_non_null(strstr(text, "30.00 KiB per UE"));
  bench_merge_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(long_text_and_tick),
      cmocka_unit_test(malformed),
      cmocka_unit_test(gone_reader),
      cmocka_unit_test(merge_two_workers),
      cmocka_unit_test(merge_late),
      cmocka_unit_test(merge_lag),
      cmocka_unit_test(merge_idle_seconds),
      cmocka_unit_test(merge_many_shuffled),
      cmocka_unit_test(procstat),
      cmocka_unit_test(report_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
