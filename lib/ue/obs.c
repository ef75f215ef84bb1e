/* What the UE tells the operations layer (include/imsec/elem.h metrics,
 * list, busy; names in docs/OPERATIONS.md): its REGISTER outcomes, its
 * trust decisions on the P-CSCF (DESIGN.md §3) and what it has in flight.
 * Nothing here changes the UE. */
#include <string.h>

#include "imsec/obs.h"
#include "lib/ue/ue_int.h"

_Static_assert(UE_REG_N == ELEM_REG_N, "the outcomes of lib/elem/tally.h");

void ue_obs_register(imsec_ue *ue, unsigned status) {
  int o;
  if (status == 0 || status >= 500 || status == 408)
    o = UE_REG_FAILED; /* no answer in time, or the network failed */
  else if (status < 200)
    return;
  else if (status < 300)
    o = ue->reg_expires == 0 ? UE_REG_DEREGISTERED
        : ue->registered     ? UE_REG_REFRESHED
                             : UE_REG_REGISTERED;
  else if (status == 401 || status == 407)
    o = UE_REG_CHALLENGED;
  else
    o = UE_REG_REJECTED;
  ue->obs.reg[o]++;
}

static int registered_now(const imsec_ue *ue, imsec_time_ms now) {
  return ue->registered && ue->expires_at > now;
}

/* Client transactions: the REGISTER in flight and the MESSAGEs not yet
 * answered. */
static size_t client_txns(const imsec_ue *ue) {
  size_t n = ue->txn_deadline != 0;
  for (size_t i = 0; i < IMSEC_UE_MAX_PENDING; i++)
    n += ue->pending[i].handle && ue->pending[i].deadline != 0;
  return n;
}

void ue_obs_metrics(const imsec_ue *ue, imsec_time_ms now, imsec_metrics *m) {
  int reg = registered_now(ue, now);
  elem_obs_common c = {
      .regs_help = "Registrations this UE holds",
      .binds_help = "Registrations with their flow to the P-CSCF up",
      .regs = reg ? 1 : 0,
      .binds = reg && (ue->flow || ue->in_flow) ? 1 : 0,
      .reg = ue->obs.reg,
      .trust = &ue->obs.trust,
      .trust_peer = "pcscf",
      .txn_server = 0,
      .txn_client = client_txns(ue),
  };
  elem_obs_common_add(m, &c);
}

size_t ue_obs_busy(const imsec_ue *ue) {
  return client_txns(ue) + (ue->persist_id != 0);
}

int ue_obs_list(const imsec_ue *ue, const char *what, imsec_time_ms now,
                imsec_table *t) {
  if (!what || strcmp(what, "registrations") != 0) /* no secret: a name */
    return IMSEC_ERR_UNSUPPORTED;
  static const char *const cols[] = {"impu",      "impi",  "state",
                                     "expires_s", "pcscf", "flow"};
  int rv = imsec_table_init(t, cols, 6);
  if (rv < 0)
    return rv;
  char exp[24], flow[24] = "-", pc[300];
  imsec_fmt_u64(exp, registered_now(ue, now)
                         ? (uint64_t)(ue->expires_at - now + 999) / 1000
                         : 0);
  if (ue->flow)
    imsec_fmt_u64(flow, ue->flow);
  if (imsec_addr_format(&ue->pcscf, pc, sizeof(pc)) < 0)
    memcpy(pc, "?", 2);
  const char *row[6] = {ue->n_impus ? ue->impus[0] : "",
                        ue->impi,
                        ue_st_name(ue->st),
                        exp,
                        pc,
                        flow};
  imsec_table_add(t, row);
  return t->err;
}
