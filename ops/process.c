/*
 * The process's own figures for /metrics, read from Linux's /proc
 * (proc(5)): under the names every Prometheus client library exports, so
 * stock dashboards and alerts work on them unchanged.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "imsec/ops.h"
#include "imsec/version.h"

long imsec_proc_read(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (long)len;
}

/* The boot time in seconds since the epoch: the "btime" line of
 * /proc/stat. 0 when unknown. */
static unsigned long long boot_time(void) {
  FILE *f = fopen("/proc/stat", "re");
  char line[256];
  unsigned long long bt = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %llu", &bt) == 1)
      break;
  fclose(f);
  return bt;
}

/* Descriptors open now: the entries of /proc/self/fd (the directory's own
 * descriptor among them, as the client libraries count it). -1 when the
 * directory cannot be read. */
static long open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  long n = 0;
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

void imsec_process_metrics(imsec_metrics *m) {
  char stat[1024];
  imsec_metrics_declare(m, "process_cpu_seconds_total", IMSEC_METRIC_COUNTER,
                        "Total user and system CPU time spent in seconds.");
  imsec_metrics_declare(m, "process_resident_memory_bytes", IMSEC_METRIC_GAUGE,
                        "Resident memory size in bytes.");
  imsec_metrics_declare(m, "process_virtual_memory_bytes", IMSEC_METRIC_GAUGE,
                        "Virtual memory size in bytes.");
  imsec_metrics_declare(m, "process_open_fds", IMSEC_METRIC_GAUGE,
                        "Number of open file descriptors.");
  imsec_metrics_declare(m, "process_max_fds", IMSEC_METRIC_GAUGE,
                        "Maximum number of open file descriptors.");
  imsec_metrics_declare(
      m, "process_start_time_seconds", IMSEC_METRIC_GAUGE,
      "Start time of the process since unix epoch in seconds.");
  imsec_metrics_declare(m, "imsec_build_info", IMSEC_METRIC_GAUGE,
                        "The imsec version this process runs (always 1).");

  /* proc(5) /proc/PID/stat: the command name (field 2) is in parentheses
   * and may itself hold blanks and parentheses, so the fields are counted
   * from the last ')': state is field 3, utime 14, stime 15, starttime
   * 22 (clock ticks since boot), vsize 23 (bytes), rss 24 (pages). */
  const char *p = NULL;
  if (imsec_proc_read("/proc/self/stat", stat, sizeof stat) > 0)
    p = strrchr(stat, ')');
  if (p) {
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    char state;
    int n = sscanf(p + 1,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                   "%*d %*d %*d %*d %*d %*d %llu %llu %lld",
                   &state, &utime, &stime, &start, &vsize, &rss);
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (n == 6 && tck > 0 && page > 0) {
      imsec_metrics_add(m, "process_cpu_seconds_total",
                        (double)(utime + stime) / (double)tck, NULL);
      imsec_metrics_add(m, "process_virtual_memory_bytes", (double)vsize, NULL);
      imsec_metrics_add(m, "process_resident_memory_bytes",
                        (double)rss * (double)page, NULL);
      unsigned long long bt = boot_time();
      if (bt)
        imsec_metrics_add(m, "process_start_time_seconds",
                          (double)bt + (double)start / (double)tck, NULL);
    }
  }
  long fds = open_fds();
  if (fds >= 0)
    imsec_metrics_add(m, "process_open_fds", (double)fds, NULL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    imsec_metrics_add(m, "process_max_fds", (double)rl.rlim_cur, NULL);
  imsec_metrics_add(m, "imsec_build_info", 1, "version", IMSEC_VERSION_STRING,
                    NULL);
}
