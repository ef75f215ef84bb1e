/* The element contract of include/imsec/elem.h for the ue: its handle as
 * `self`, so a host runs it with no wrapper of its own. */
#include "imsec/ue.h"
#include "lib/ue/ue_int.h"

static int op_up(void *s, uint64_t f, uint64_t t, const imsec_flow_info *i,
                 imsec_time_ms n, imsec_out *o) {
  return imsec_ue_on_flow_up(s, f, t, i, n, o);
}

static void op_msg(void *s, uint64_t f, const uint8_t *m, size_t l,
                   imsec_time_ms n, imsec_out *o) {
  imsec_ue_on_message(s, f, m, l, n, o);
}

static void op_down(void *s, uint64_t f, uint64_t t, int r, imsec_time_ms n,
                    imsec_out *o) {
  imsec_ue_on_flow_down(s, f, t, r, n, o);
}

static void op_timer(void *s, uint64_t id, imsec_time_ms n, imsec_out *o) {
  imsec_ue_on_timer(s, id, n, o);
}

static void op_refused(void *s, uint64_t f, int r, const uint8_t *m, size_t l,
                       imsec_time_ms n, imsec_out *o) {
  imsec_ue_on_refused(s, f, r, m, l, n, o);
}

static void op_start(void *s, imsec_time_ms n, imsec_out *o) {
  /* imsec_ue_start logs its own refusals as LOG actions. */
  if (imsec_ue_start(s, n, o) < 0)
    return;
}

static void op_reply(void *s, const imsec_svc_reply *r, imsec_time_ms n,
                     imsec_out *o) {
  imsec_ue_on_reply(s, r, n, o);
}

static int op_done(const void *s) {
  return imsec_ue_done(s);
}

static void op_metrics(const void *s, imsec_time_ms n,
                       struct imsec_metrics *m) {
  ue_obs_metrics(s, n, m);
}

static int op_list(const void *s, const char *what, imsec_time_ms n,
                   struct imsec_table *t) {
  return ue_obs_list(s, what, n, t);
}

static size_t op_busy(const void *s) {
  return ue_obs_busy(s);
}

const imsec_elem_ops imsec_ue_ops = {
    .kind = "ue",
    .on_flow_up = op_up,
    .on_message = op_msg,
    .on_flow_down = op_down,
    .on_timer = op_timer,
    .on_refused = op_refused,
    .on_start = op_start,
    .on_reply = op_reply,
    .done = op_done,
    .metrics = op_metrics,
    .list = op_list,
    .busy = op_busy,
};
