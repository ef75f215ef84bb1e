/* apps/bench/procstat.c: CPU and memory of a process from /proc
 * (procstat.h, proc(5)). */
#include "procstat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "imsec/ops.h"

/* The value of a "Key:   N kB" line of /proc/PID/status, or 0. */
static uint64_t status_kib(const char *status, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = status; p && *p;) {
    if (strncmp(p, key, klen) == 0 && p[klen] == ':')
      return strtoull(p + klen + 1, NULL, 10);
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return 0;
}

int bench_procstat_parse(const char *stat, const char *status, long hz,
                         bench_procstat *out) {
  memset(out, 0, sizeof *out);
  /* proc(5): "pid (comm) state ..."; comm may hold spaces and ')', so
   * the fields start after the last ')'. utime and stime are fields 14
   * and 15 (1-based), the 12th and 13th after the comm. */
  const char *p = strrchr(stat, ')');
  if (!p || hz <= 0)
    return -1;
  p++;
  unsigned long long v[13];
  for (int i = 0; i < 13; i++) {
    while (*p == ' ')
      p++;
    if (!*p)
      return -1;
    const char *tok = p;
    while (*p && *p != ' ')
      p++;
    /* The first field after the comm is the state, a letter. */
    v[i] = i == 0 ? 0 : strtoull(tok, NULL, 10);
  }
  out->cpu_s = (double)(v[11] + v[12]) / (double)hz;
  if (status) {
    out->rss_kib = status_kib(status, "VmRSS");
    out->hwm_kib = status_kib(status, "VmHWM");
  }
  return 0;
}

int bench_procstat_read(pid_t pid, bench_procstat *out) {
  char path[64], stat[1024], status[4096];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  if (imsec_proc_read(path, stat, sizeof stat) <= 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
  long n = imsec_proc_read(path, status, sizeof status);
  return bench_procstat_parse(stat, n > 0 ? status : NULL, sysconf(_SC_CLK_TCK),
                              out);
}

double bench_procstat_rusage_s(const void *rusage) {
  const struct rusage *r = rusage;
  return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
         (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}
