/*
 * apps/bench/procstat.h: what the bench reads about a process from /proc
 * (proc(5)): the CPU time it used and its resident memory, for the
 * servers it measures (--server-pid) and the generator processes.
 */
#ifndef IMSEC_APPS_BENCH_PROCSTAT_H
#define IMSEC_APPS_BENCH_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

typedef struct bench_procstat {
  double cpu_s;     /* user + system time so far, seconds */
  uint64_t rss_kib; /* resident set now (VmRSS) */
  uint64_t hwm_kib; /* its peak over the process's life (VmHWM) */
} bench_procstat;

/* Read /proc/PID/stat and /proc/PID/status. 0, or -1 when the process is
 * gone or /proc cannot be read. */
int bench_procstat_read(pid_t pid, bench_procstat *out);

/* The same from text already read (for tests): `stat` the one line of
 * /proc/PID/stat, `status` the text of /proc/PID/status (may be NULL),
 * `hz` the clock ticks per second. */
int bench_procstat_parse(const char *stat, const char *status, long hz,
                         bench_procstat *out);

/* Seconds of CPU from a struct rusage's user and system times. */
double bench_procstat_rusage_s(const void *rusage);

#endif
