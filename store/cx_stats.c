/* Cx counters shared by the server and the client (store/cx_stats.h). */
#include "store/cx_stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/cx_int.h"

static int cmd_index(uint32_t cmd) {
  switch (cmd) {
  case IMSEC_CX_CMD_UA:
    return 0;
  case IMSEC_CX_CMD_SA:
    return 1;
  case IMSEC_CX_CMD_LI:
    return 2;
  case IMSEC_CX_CMD_MA:
    return 3;
  default:
    return 4;
  }
}

static const char *const cmd_names[CX_STATS_CMDS] = {"UAR", "SAR", "LIR", "MAR",
                                                     "other"};

const char *cx_stats_cmd_name(uint32_t cmd) {
  return cmd_names[cmd_index(cmd)];
}

void cx_stats_init(cx_stats *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
}

void cx_stats_destroy(cx_stats *s) {
  pthread_mutex_destroy(&s->mu);
}

int64_t cx_stats_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t find(const cx_stats *s, uint32_t key, const char *result) {
  size_t i = 0;
  while (i < s->n && !(s->rows[i].cmd == key &&
                       strcmp(s->rows[i].result, result) == 0)) /* no secret */
    i++;
  return i;
}

void cx_stats_count(cx_stats *s, uint32_t cmd, const char *result, int64_t ns) {
  int ci = cmd_index(cmd);
  uint32_t key = ci == 4 ? 0 : cmd; /* every other command is one row */
  pthread_mutex_lock(&s->mu);
  size_t i = find(s, key, result);
  if (i == s->n && s->n >= CX_STATS_ROWS - CX_STATS_CMDS) {
    /* Nearly full: what is new gathers under "other" (room is kept for
     * one such row per command). */
    result = "other";
    i = find(s, key, result);
  }
  if (i == s->n && s->n < CX_STATS_ROWS) {
    s->rows[i].cmd = key;
    snprintf(s->rows[i].result, sizeof s->rows[i].result, "%s", result);
    s->n++;
  }
  if (i < CX_STATS_ROWS)
    s->rows[i].n++;
  if (ns >= 0) {
    imsec_hist_observe(&s->hist[ci], (double)ns / 1e9);
    s->timed[ci] = 1;
  }
  pthread_mutex_unlock(&s->mu);
}

void cx_stats_count_code(cx_stats *s, uint32_t cmd, uint32_t code, int64_t ns) {
  char r[16];
  snprintf(r, sizeof r, "%u", (unsigned)code);
  cx_stats_count(s, cmd, r, ns);
}

void cx_stats_metrics(cx_stats *s, imsec_metrics *m, const char *count_name,
                      const char *count_help, const char *hist_name,
                      const char *hist_help) {
  (void)imsec_metrics_declare(m, count_name, IMSEC_METRIC_COUNTER, count_help);
  (void)imsec_metrics_declare(m, hist_name, IMSEC_METRIC_HISTOGRAM, hist_help);
  /* A copy under the lock, the builder outside it (it allocates). */
  cx_stats c;
  pthread_mutex_lock(&s->mu);
  memcpy(c.rows, s->rows, sizeof c.rows);
  c.n = s->n;
  memcpy(c.hist, s->hist, sizeof c.hist);
  memcpy(c.timed, s->timed, sizeof c.timed);
  pthread_mutex_unlock(&s->mu);
  for (size_t i = 0; i < c.n; i++)
    (void)imsec_metrics_add(m, count_name, (double)c.rows[i].n, "command",
                            cx_stats_cmd_name(c.rows[i].cmd), "result",
                            c.rows[i].result, (const char *)NULL);
  for (int k = 0; k < CX_STATS_CMDS; k++)
    if (c.timed[k])
      (void)imsec_metrics_add_hist(m, hist_name, &c.hist[k], "command",
                                   cmd_names[k], (const char *)NULL);
}
