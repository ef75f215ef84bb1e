/* apps/bench/engine.c: one generator process of `imsec bench`. */
#include "engine.h"

#include <stdio.h>

int bench_engine_run(const bench_opts *opts, const bench_creds *creds,
                     unsigned worker, unsigned workers, int64_t t0_ms,
                     const bench_sink *sink, char *err, size_t errcap) {
  (void)opts;
  (void)creds;
  (void)worker;
  (void)workers;
  (void)t0_ms;
  (void)sink;
  snprintf(err, errcap, "not built yet");
  return -1;
}
