/*
 * store/cx_stats.h: Cx counters shared by the server and the client
 * (private to store/): answers by command and result, and the time each
 * command took, as include/imsec/obs.h families. Updated from
 * freeDiameter's threads and the HSS service's worker, read from the
 * metrics and control threads: every call takes the lock.
 */
#ifndef IMSEC_STORE_CX_STATS_H
#define IMSEC_STORE_CX_STATS_H

#include <pthread.h>
#include <stdint.h>

#include "imsec/obs.h"

/* Distinct (command, result) pairs kept; past it a pair counts under
 * result "other" (a peer cannot grow the table without bound). */
#define CX_STATS_ROWS 64
/* UAR, SAR, LIR, MAR, other. */
#define CX_STATS_CMDS 5

typedef struct cx_stats_row {
  uint32_t cmd;
  char result[16];
  uint64_t n;
} cx_stats_row;

typedef struct cx_stats {
  pthread_mutex_t mu;
  cx_stats_row rows[CX_STATS_ROWS];
  size_t n;
  imsec_hist hist[CX_STATS_CMDS];
  int timed[CX_STATS_CMDS]; /* a duration was observed */
} cx_stats;

void cx_stats_init(cx_stats *s);
void cx_stats_destroy(cx_stats *s);

/* The command's short name (TS 29.229 §6.1): "UAR", "SAR", "LIR",
 * "MAR", or "other". */
const char *cx_stats_cmd_name(uint32_t cmd);

/* One request of command code `cmd` ended with `result` (a Result-Code
 * or Experimental-Result-Code number as text, or a word such as
 * "timeout"); `ns` its duration (< 0: not timed). */
void cx_stats_count(cx_stats *s, uint32_t cmd, const char *result, int64_t ns);
void cx_stats_count_code(cx_stats *s, uint32_t cmd, uint32_t code, int64_t ns);

/* Declare the two families (a counter {command,result} and a histogram
 * {command}) and add what was counted. */
void cx_stats_metrics(cx_stats *s, imsec_metrics *m, const char *count_name,
                      const char *count_help, const char *hist_name,
                      const char *hist_help);

/* CLOCK_MONOTONIC in ns. */
int64_t cx_stats_now_ns(void);

#endif /* IMSEC_STORE_CX_STATS_H */
