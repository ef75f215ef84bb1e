/* apps/bench/stats.h: what the load generator measures and how it reports
 * it. A log-bucketed latency histogram (fixed memory, O(1) record, ~0.4 %
 * quantile error from 1 us to 1 h), a per-second series of attempts,
 * successes, failures by reason and that second's p50/p99, and four
 * writers: the end table, JSON, CSV and an SVG plot. */
#ifndef IMSEC_BENCH_STATS_H
#define IMSEC_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Values below 2^SUB_BITS microseconds are counted exactly; above, each
 * power of two is split into 2^(SUB_BITS-1) equal buckets, so a bucket is
 * at most 1/128 of its value wide: a bucket's midpoint is within 0.4 % of
 * every value it holds. */
#define IMSEC_BENCH_SUB_BITS 8
/* One hour in microseconds: larger values are counted as this. */
#define IMSEC_BENCH_MAX_US 3600000000ULL
/* 2^8 exact slots, then 128 per power of two from 2^8 up to 2^31 (the
 * power holding one hour). */
#define IMSEC_BENCH_BUCKETS (256 + 24 * 128)

typedef struct imsec_bench_hist {
  uint64_t counts[IMSEC_BENCH_BUCKETS];
  uint64_t count;
  uint64_t min; /* meaningful when count > 0 */
  uint64_t max;
  uint64_t sum; /* for the mean; an hour times 2^32 samples still fits */
} imsec_bench_hist;

void imsec_bench_hist_init(imsec_bench_hist *h);
/* Count one latency in microseconds (clamped to IMSEC_BENCH_MAX_US). */
void imsec_bench_hist_record(imsec_bench_hist *h, uint64_t us);
/* Add every count of `src` into `dst` (per-worker histograms joined). */
void imsec_bench_hist_merge(imsec_bench_hist *dst, const imsec_bench_hist *src);
/* The value at quantile q (0..1]: the smallest recorded value v such that
 * at least ceil(q * count) values are <= v, to the bucket's precision and
 * clamped into [min, max]. 0 when empty. */
uint64_t imsec_bench_hist_quantile(const imsec_bench_hist *h, double q);
double imsec_bench_hist_mean(const imsec_bench_hist *h);

/* Why an attempt failed. A SIP final response is counted by its class
 * (RFC 3261 21); a TLS alert the peer sent or we raised (RFC 8446 6); no
 * answer before the deadline; anything else (connection refused, reset). */
typedef enum imsec_bench_outcome {
  IMSEC_BENCH_OK = 0,
  IMSEC_BENCH_SIP_3XX,
  IMSEC_BENCH_SIP_4XX,
  IMSEC_BENCH_SIP_5XX,
  IMSEC_BENCH_SIP_6XX,
  IMSEC_BENCH_TLS_ALERT,
  IMSEC_BENCH_TIMEOUT,
  IMSEC_BENCH_OTHER,
  IMSEC_BENCH_OUTCOMES
} imsec_bench_outcome;

/* The failure reason of a SIP final status other than 2xx. */
imsec_bench_outcome imsec_bench_outcome_of_status(int status);
/* The stable name used in JSON keys and CSV columns ("ok", "sip_4xx"). */
const char *imsec_bench_outcome_name(imsec_bench_outcome o);

/* One second of the run. */
typedef struct imsec_bench_sec {
  uint64_t attempts;
  uint64_t ok;
  uint64_t fail[IMSEC_BENCH_OUTCOMES]; /* [IMSEC_BENCH_OK] unused */
  uint64_t p50_us;                     /* of the successes; 0 when none */
  uint64_t p99_us;
} imsec_bench_sec;

/* A whole run: totals, the successes' latency and the closed seconds.
 * Large (two histograms): allocate with imsec_bench_stats_new. */
typedef struct imsec_bench_stats {
  imsec_bench_hist total;
  imsec_bench_hist cur; /* the open second's successes */
  imsec_bench_sec open; /* the open second's counters */
  uint32_t open_sec;
  imsec_bench_sec *secs; /* closed seconds 0 .. nsecs-1 */
  size_t nsecs, cap;
  uint64_t attempts, ok;
  uint64_t fail[IMSEC_BENCH_OUTCOMES];
  int finished;
} imsec_bench_stats;

imsec_bench_stats *imsec_bench_stats_new(void);
void imsec_bench_stats_free(imsec_bench_stats *s);
/* Count one attempt that ended `sec` whole seconds after the start, with
 * its latency (counted in the histograms for successes only). Seconds must
 * not go back; skipped seconds become empty rows. 0, or -1 when out of
 * memory or after finish. */
int imsec_bench_stats_record(imsec_bench_stats *s, uint32_t sec,
                             imsec_bench_outcome o, uint64_t latency_us);
/* Close the open second at the end of a run lasting `duration_sec` (the
 * series then has that many rows, at least those already seen). */
int imsec_bench_stats_finish(imsec_bench_stats *s, uint32_t duration_sec);

/* One option of the run, echoed into the JSON report. */
typedef struct imsec_bench_opt {
  const char *key;
  const char *value;
} imsec_bench_opt;

/* Writers; each returns 0, or -1 when the stream failed. */
int imsec_bench_write_table(FILE *f, const imsec_bench_stats *s);
int imsec_bench_write_json(FILE *f, const imsec_bench_stats *s,
                           const imsec_bench_opt *opts, size_t nopts);
int imsec_bench_write_csv(FILE *f, const imsec_bench_stats *s);
int imsec_bench_write_svg(FILE *f, const imsec_bench_stats *s,
                          const char *title);

/* ---------------------------------------------------------- the report */

/* A process the bench watched from /proc: a server (--server-pid). */
typedef struct imsec_bench_server {
  long pid;
  int sampled;  /* 0: /proc could not be read (gone, not ours) */
  double cpu_s; /* CPU it used during the run */
  uint64_t rss_kib_start, rss_kib_end, rss_kib_max;
  /* hold: its resident set before the UEs registered and while they
   * were all held */
  uint64_t rss_kib_idle_before, rss_kib_held;
} imsec_bench_server;

/* What a run measured, for the table and the JSON report. Borrowed. */
typedef struct imsec_bench_report {
  const imsec_bench_stats *total;
  /* Per scenario when a mix ran (n_by 0: one scenario). */
  const imsec_bench_stats *by[4];
  const char *by_name[4];
  size_t n_by;
  const imsec_bench_opt *opts;
  size_t nopts;
  double elapsed_s;    /* the run's wall time */
  uint64_t unfinished; /* in flight when the run ended: not counted */
  /* Failures by SIP status: status[i] for status_min + i (NULL: none). */
  const uint64_t *status;
  unsigned status_min, n_status;
  const imsec_bench_server *servers;
  size_t n_servers;
  unsigned procs;           /* generator processes */
  double generator_cpu_s;   /* their CPU and the runner's, < 0 unknown */
  double runner_cpu_s;      /* the runner's part of it (merging, /proc) */
  int hold;                 /* 1: `imsec bench hold` */
  uint64_t hold_ues;        /* UEs asked to be held */
  uint64_t hold_registered; /* the most held registered at once */
} imsec_bench_report;

/* The end table of a run (what imsec_bench_write_table prints, then the
 * servers, the generator, the mix and a hold's memory per UE). */
int imsec_bench_write_report_table(FILE *f, const imsec_bench_report *r);
/* The JSON report (docs/BENCH.md): one object with "options", "totals",
 * "latency_us", "by_scenario" (a mix), "statuses", "series", "server",
 * "generator" and, for hold, "hold". */
int imsec_bench_write_report_json(FILE *f, const imsec_bench_report *r);

#endif
