/* INVITE response contexts of the S-CSCF (RFC 3261 §16.7, §16.10):
 * CANCEL from upstream and the ACK of a non-2xx final response. */

#include "scscf_int.h"

void scscf_cancel(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                  imsec_out *out) {
  (void)s;
  (void)flow;
  (void)now;
  (void)imsec_out_log(out, IMSEC_LOG_INFO,
                      "CANCEL without a transaction: dropped", NULL);
}

int scscf_ack_absorb(imsec_scscf *s, uint64_t flow, imsec_time_ms now,
                     imsec_out *out) {
  (void)s;
  (void)flow;
  (void)now;
  (void)out;
  return 0;
}
