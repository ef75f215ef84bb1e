/*
 * imsec observability data (lib/base/obs.c): what the elements, the host,
 * net/ and the stores know about themselves, collected into plain data
 * that the operations layer (ops/, include/imsec/ops.h) renders as the
 * Prometheus text format, JSON or a table for `imsec ctl`.
 *
 * Sans-I/O like the rest of lib/: no clock, no stdio, no globals but the
 * const bucket table. Nothing here is thread-safe: each collector fills a
 * builder on its own thread (an element on its loop thread, a store on
 * the thread it keeps its counters for) and hands it over.
 *
 * Metric names follow the Prometheus conventions: the `imsec_` prefix,
 * base units (seconds, bytes), `_total` on counters; the families every
 * part exports are listed in docs/OPERATIONS.md.
 */
#ifndef IMSEC_OBS_H
#define IMSEC_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "imsec/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- buffers */

/* A growable byte buffer, always NUL-terminated after a successful append.
 * An allocation failure is sticky (err = IMSEC_ERR_NOMEM, later appends do
 * nothing). Zero-initialised is empty. */
typedef struct imsec_buf {
  char *p;
  size_t len, cap;
  int err;
} imsec_buf;

IMSEC_API int imsec_buf_add(imsec_buf *b, const void *data, size_t len);
IMSEC_API int imsec_buf_adds(imsec_buf *b, const char *s);
IMSEC_API int imsec_buf_add_u64(imsec_buf *b, uint64_t v);
IMSEC_API void imsec_buf_reset(imsec_buf *b); /* len 0, keeps memory */
IMSEC_API void imsec_buf_free(imsec_buf *b);

/* Decimal text of v into buf (at least 21 octets); returns its length. */
IMSEC_API size_t imsec_fmt_u64(char *buf, uint64_t v);

/* ---------------------------------------------------------- histograms */

/* One bucket layout for every latency histogram (seconds, upper bounds,
 * le): 0.5 ms .. 10 s. A value above the last falls in +Inf only. */
#define IMSEC_HIST_BUCKETS 14
IMSEC_API extern const double imsec_hist_bounds[IMSEC_HIST_BUCKETS];

/* Counts per bucket (not cumulative: the renderer sums), plus the sum and
 * count of every observation. Zero-initialised is empty. */
typedef struct imsec_hist {
  uint64_t bucket[IMSEC_HIST_BUCKETS];
  uint64_t count;
  double sum; /* seconds */
} imsec_hist;

IMSEC_API void imsec_hist_observe(imsec_hist *h, double seconds);
/* The host's clock is in ms: observe ms / 1000. */
IMSEC_API void imsec_hist_observe_ms(imsec_hist *h, int64_t ms);
IMSEC_API void imsec_hist_merge(imsec_hist *into, const imsec_hist *from);

/* ------------------------------------------------------------- metrics */

typedef enum imsec_metric_type {
  IMSEC_METRIC_COUNTER = 0,
  IMSEC_METRIC_GAUGE = 1,
  IMSEC_METRIC_HISTOGRAM = 2,
} imsec_metric_type;

typedef struct imsec_metric_sample {
  char *labels; /* rendered and escaped: a="x",b="y" ("" none) */
  double value; /* counter, gauge */
  imsec_hist hist;
} imsec_metric_sample;

typedef struct imsec_metric_family {
  char *name, *help;
  imsec_metric_type type;
  imsec_metric_sample *s;
  size_t n, cap;
} imsec_metric_family;

/* A snapshot being built. Zero-initialised is empty; imsec_metrics_free
 * releases it. Families keep the order they were declared in, samples
 * the order they were first added in. Errors are sticky (err). */
typedef struct imsec_metrics {
  imsec_metric_family *f;
  size_t n, cap;
  int err;
} imsec_metrics;

IMSEC_API void imsec_metrics_free(imsec_metrics *m);
/* Declare a family (name [a-zA-Z_:][a-zA-Z0-9_:]*, help one line). The
 * same name declared again with the same type is a no-op, so every loop
 * of a port can declare what it adds; with another type it is an error
 * (IMSEC_ERR_INVAL). Returns 0 or a negative imsec_err. */
IMSEC_API int imsec_metrics_declare(imsec_metrics *m, const char *name,
                                    imsec_metric_type type, const char *help);
/* Add v to the sample of a declared counter or gauge with these labels:
 * after v, label name/value C-string pairs, ended by NULL (no pairs: the
 * unlabelled sample). A sample with the same labels in the same order is
 * summed into (loops of one port add up). Label names
 * [a-zA-Z_][a-zA-Z0-9_]*; values any text (escaped here). Returns 0 or a
 * negative imsec_err (an undeclared name: IMSEC_ERR_INVAL). */
IMSEC_API int imsec_metrics_add(imsec_metrics *m, const char *name, double v,
                                ...);
/* The same for a histogram family: h is merged into the sample. */
IMSEC_API int imsec_metrics_add_hist(imsec_metrics *m, const char *name,
                                     const imsec_hist *h, ...);
/* The family called name, or NULL. */
IMSEC_API const imsec_metric_family *imsec_metrics_find(const imsec_metrics *m,
                                                        const char *name);

/* -------------------------------------------------------------- tables */

/* Rows of text for `imsec ctl` listings (flows, registrations, bindings,
 * peers): column names, then rows of as many cells. Start from a zeroed
 * table ({0}), then imsec_table_init (which frees what the table held, so
 * never call it on stack garbage). Errors are sticky (err). */
typedef struct imsec_table {
  char **cols;
  size_t ncols;
  char **cells; /* row-major, nrows * ncols */
  size_t nrows, cap;
  int err;
} imsec_table;

/* Replaces any columns and rows t had. Returns 0 or a negative imsec_err. */
IMSEC_API int imsec_table_init(imsec_table *t, const char *const *cols,
                               size_t ncols);
/* One row of ncols cells (copied; NULL is ""). */
IMSEC_API int imsec_table_add(imsec_table *t, const char *const *cells);
/* The same with slices (text taken from messages). */
IMSEC_API int imsec_table_addv(imsec_table *t, const imsec_str *cells);
IMSEC_API void imsec_table_free(imsec_table *t);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_OBS_H */
