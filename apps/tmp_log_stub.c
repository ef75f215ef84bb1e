/* TEMPORARY (ctl branch only, deleted before the end): link-time stand-ins
 * for the logger (ops/log.c, apps/daemon_log.c) until that branch lands. */
#include "daemon_ops.h"

imsec_logger *daemon_ops_log(void) { return NULL; }
int daemon_ops_logger(const daemon_ops_opts *o) {
  (void)o;
  return 0;
}
void imsec_logger_event(void *lg, const imsec_log_event *ev) {
  (void)lg;
  (void)ev;
}
void imsec_logger_printf(imsec_logger *lg, const char *elem,
                         imsec_log_level level, const char *fmt, ...) {
  (void)lg;
  (void)elem;
  (void)level;
  (void)fmt;
}
