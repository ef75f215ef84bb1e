/*
 * apps/bench/engine.h: one generator process of `imsec bench`. It runs
 * its share of the UEs of a credentials file (lib/ue elements, many
 * multiplexed on one host element) on the host's net port
 * (include/imsec/host_net.h) against the P-CSCF at opts->target, starts
 * operations as the options say (closed loop: `concurrency` in flight;
 * open loop: `rate` per second with a ramp), and tells a sink about
 * every operation that ended. The runner (run.c) forks one process per
 * --procs, each calling bench_engine_run, and merges what their sinks
 * send it.
 *
 * Worker w of W takes the UEs i with i % W == w (of the first opts->ues),
 * and 1/W of concurrency, rate and count (the remainder to the first
 * workers). Its CONNECTs go out from opts->sources, spread over its UEs.
 */
#ifndef IMSEC_APPS_BENCH_ENGINE_H
#define IMSEC_APPS_BENCH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "opts.h"
#include "stats.h"

/* One operation that ended. */
typedef struct bench_done {
  uint32_t sec;     /* whole seconds from t0 to its end */
  uint8_t scenario; /* bench_scenario */
  uint8_t outcome;  /* imsec_bench_outcome */
  uint16_t status;  /* the SIP final status of a SIP outcome, else 0;
                       a TLS alert's description (RFC 8446 6) when
                       known, else 0 */
  uint64_t latency_us;
} bench_done;

/* What the engine tells the runner, on its loop thread. */
typedef struct bench_sink {
  void *arg;
  /* An operation ended. Calls come in order of `sec`. */
  void (*done)(void *arg, const bench_done *d);
  /* About every 100 ms, and once with final = 1 when the run ends: the
   * operations in flight, the UEs registered now, and the current second
   * (every later done has sec >= sec_now). */
  void (*tick)(void *arg, uint32_t in_flight, uint32_t registered,
               uint32_t sec_now, int final);
  /* One line for the user (no newline): why the run could not start, the
   * first failure of each kind with its reason. */
  void (*note)(void *arg, const char *line);
} bench_sink;

/* Run worker `worker` of `workers` until its share of opts->count is
 * done, opts->duration_s has passed since t0_ms (CLOCK_MONOTONIC ms, the
 * same clock in every process), or SIGINT/SIGTERM (the engine's port
 * reads them). `hold`: register every UE of its share (at the open or
 * closed loop's pace), then keep them registered and idle (re-registering
 * when due, each a `register` operation) until the duration ends; then
 * de-register them all. Returns 0 when the run ran (whatever the
 * outcomes), or -1 with one line in err when it could not start (the
 * credentials do not fit the mode, a TLS context did not load, out of
 * memory). */
int bench_engine_run(const bench_opts *opts, const bench_creds *creds,
                     unsigned worker, unsigned workers, int64_t t0_ms,
                     const bench_sink *sink, char *err, size_t errcap);

#endif
