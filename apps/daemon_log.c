/*
 * The process's logger for the daemons (apps/daemon_ops.h): text on
 * stderr with identities pseudonymised until daemon_ops_logger has read
 * the options, then what --log-format and --log-identities ask for. The
 * apps' own run-time lines, the host's and net/'s all go through it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "daemon_ops.h"

static _Atomic(imsec_logger *) current;
static imsec_logger *initial;
static pthread_once_t initial_once = PTHREAD_ONCE_INIT;

static void initial_make(void) {
  imsec_logger_config c = {
      .format = IMSEC_LOG_FORMAT_TEXT, .identities = 0, .fd = 2};
  /* On failure `initial` stays NULL: imsec_logger_* then write the same
   * text to stderr themselves. */
  if (imsec_logger_new(&initial, &c) != 0)
    initial = NULL;
}

imsec_logger *daemon_ops_log(void) {
  imsec_logger *lg = atomic_load(&current);
  if (lg)
    return lg;
  pthread_once(&initial_once, initial_make);
  return initial;
}

int daemon_ops_logger(const daemon_ops_opts *o) {
  imsec_logger_config c = {
      .format = o->log_format, .identities = o->log_identities, .fd = 2};
  imsec_logger *lg = NULL;
  int rv = imsec_logger_new(&lg, &c);
  if (rv != 0)
    return rv;
  /* A logger once handed out stays valid to the end of the process: loop
   * threads may still hold the one this replaces. */
  atomic_store(&current, lg);
  return 0;
}
