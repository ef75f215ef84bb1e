/* A log-line budget per time window (include/imsec/base.h): refusals of
 * attacker input are logged, but not one line per attacker packet. */
#include "imsec/base.h"

int imsec_lograte_take(imsec_lograte *r, int64_t now_ms, uint64_t *suppressed) {
  uint32_t per = r->per_window ? r->per_window : 10;
  int64_t win = r->window_ms > 0 ? r->window_ms : 1000;
  if (r->used == 0 || now_ms - r->window_start >= win ||
      now_ms < r->window_start) {
    r->window_start = now_ms;
    r->used = 0;
  }
  if (r->used >= per) {
    r->suppressed++;
    return 0;
  }
  r->used++;
  if (suppressed)
    *suppressed = r->suppressed;
  r->suppressed = 0;
  return 1;
}
