/*
 * The service manager's notifications (sd_notify(3), libsystemd) and the
 * watchdog thread of include/imsec/ops.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "imsec/ops.h"

/* Whether state has the line "RELOADING=1" and no MONOTONIC_USEC yet. */
static int wants_monotonic(const char *state) {
  int reloading = 0;
  for (const char *l = state; l && *l;) {
    const char *nl = strchr(l, '\n');
    size_t n = nl ? (size_t)(nl - l) : strlen(l);
    if (n == 11 && memcmp(l, "RELOADING=1", 11) == 0)
      reloading = 1;
    if (n >= 15 && memcmp(l, "MONOTONIC_USEC=", 15) == 0)
      return 0;
    l = nl ? nl + 1 : l + n;
  }
  return reloading;
}

int imsec_notify(const char *state) {
  if (!state)
    return IMSEC_ERR_INVAL;
  if (!wants_monotonic(state))
    return sd_notify(0, state);
  /* systemd.service(5), Type=notify-reload and sd_notify(3): RELOADING=1
   * goes with MONOTONIC_USEC, the CLOCK_MONOTONIC time the reload began,
   * so the manager can tell this reload from an earlier one. */
  struct timespec ts;
  char *msg;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000ULL +
                            (unsigned long long)ts.tv_nsec / 1000ULL;
  size_t cap = strlen(state) + 48;
  msg = malloc(cap);
  if (!msg)
    return IMSEC_ERR_NOMEM;
  snprintf(msg, cap, "%s%sMONOTONIC_USEC=%llu", state,
           state[0] && state[strlen(state) - 1] == '\n' ? "" : "\n", usec);
  int rc = sd_notify(0, msg);
  free(msg);
  return rc;
}

void imsec_notify_fn(void *user, const char *state) {
  (void)user;
  (void)imsec_notify(state);
}

/* ------------------------------------------------------------ watchdog */

struct imsec_watchdog {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC: waits ignore wall-clock steps */
  int stop;
  uint64_t period_usec;
  int (*alive)(void *arg);
  void *arg;
};

static void *watchdog_main(void *p) {
  imsec_watchdog *w = p;
  struct timespec at;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    /* Only a loop that answers earns a ping: a stuck one lets
     * WATCHDOG_USEC pass and the manager acts (WatchdogSec=). */
    pthread_mutex_unlock(&w->mu);
    if (!w->alive || w->alive(w->arg) == 0)
      sd_notify(0, "WATCHDOG=1");
    pthread_mutex_lock(&w->mu);
    /* The next one a half period from now, not from the last deadline:
     * after a slow check no burst of pings makes up for lost time. */
    clock_gettime(CLOCK_MONOTONIC, &at);
    uint64_t ns = (uint64_t)at.tv_nsec + (w->period_usec % 1000000u) * 1000u;
    at.tv_sec += (time_t)(w->period_usec / 1000000u + ns / 1000000000u);
    at.tv_nsec = (long)(ns % 1000000000u);
    while (!w->stop) {
      int rc = pthread_cond_timedwait(&w->cv, &w->mu, &at);
      if (rc == ETIMEDOUT)
        break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int imsec_watchdog_start(imsec_watchdog **out, int (*alive)(void *arg),
                         void *arg) {
  uint64_t usec = 0;
  pthread_condattr_t ca;
  *out = NULL;
  /* sd_watchdog_enabled(3): > 0 when WATCHDOG_USEC is set (and
   * WATCHDOG_PID, if set, is this process). */
  int rc = sd_watchdog_enabled(0, &usec);
  if (rc <= 0 || usec == 0)
    return 0;
  imsec_watchdog *w = calloc(1, sizeof *w);
  if (!w)
    return IMSEC_ERR_NOMEM;
  /* The manual's advice: ping at half the period, so one late wake-up
   * does not cost a restart. */
  w->period_usec = usec / 2 ? usec / 2 : 1;
  w->alive = alive;
  w->arg = arg;
  if (pthread_mutex_init(&w->mu, NULL) != 0)
    goto fail_mutex;
  if (pthread_condattr_init(&ca) != 0)
    goto fail_cond;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  rc = pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0)
    goto fail_cond;
  if (pthread_create(&w->th, NULL, watchdog_main, w) != 0)
    goto fail_thread;
  *out = w;
  return 0;

fail_thread:
  pthread_cond_destroy(&w->cv);
fail_cond:
  pthread_mutex_destroy(&w->mu);
fail_mutex:
  free(w);
  return IMSEC_ERR_IO;
}

void imsec_watchdog_stop(imsec_watchdog *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}
