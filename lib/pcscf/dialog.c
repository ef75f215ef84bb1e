/* Dialogs through the UE's flow (TS 24.229 §5.2.6.3, RFC 5626 §5.3):
 * Record-Route with the flow token and the dialogs each UE is part of. */
#include "lib/pcscf/pcscf_int.h"

int pc_dialog_ue_request(ev *e, imsec_sip_msg *m) {
  (void)e;
  (void)m;
  return 0;
}

int pc_dialog_core_check(ev *e, imsec_sip_msg *m, binding *b, refusal *r) {
  (void)e;
  (void)m;
  (void)b;
  (void)r;
  return 0;
}

int pc_dialog_record_route(ev *e, imsec_sip_msg *m, binding *b, txn *t,
                           int toward_ue, refusal *r) {
  (void)e;
  (void)m;
  (void)b;
  (void)t;
  (void)toward_ue;
  (void)r;
  return 0;
}

void pc_dialog_on_response(ev *e, txn *t, imsec_sip_msg *m) {
  (void)e;
  (void)t;
  (void)m;
}

void pc_dialog_binding_gone(imsec_pcscf *p, uint64_t bid) {
  (void)p;
  (void)bid;
}

void pc_dialogs_free(imsec_pcscf *p) {
  (void)p;
}
