/*
 * SQN management (TS 33.102 Annex C): SQN = SEQ || IND, the UE's array of
 * SEQ_MS per IND slot with the delta and L limits (C.2), and the HE's
 * generation and resynchronisation (§6.3.5).
 */
#include "imsec/aka.h"

imsec_sqn_cfg imsec_sqn_cfg_default(void) {
  /* The values Annex C recommends: IND of 5 bits (a = 32), delta = 2^28, L
   * = 32. */
  imsec_sqn_cfg cfg = {
      .ind_bits = 5,
      .delta = UINT64_C(1) << 28,
      .limit_l = 32,
  };
  return cfg;
}

int imsec_sqn_cfg_check(const imsec_sqn_cfg *cfg) {
  if (!cfg)
    return IMSEC_ERR_INVAL;
  if (cfg->ind_bits > IMSEC_SQN_IND_MAX_BITS)
    return IMSEC_ERR_CONFIG;
  uint64_t seq_max = IMSEC_SQN_MAX >> cfg->ind_bits;
  if (cfg->delta == 0 || cfg->delta > seq_max || cfg->limit_l > seq_max)
    return IMSEC_ERR_CONFIG;
  return 0;
}

uint64_t imsec_sqn_to_u64(const uint8_t sqn[6]) {
  uint64_t v = 0;
  for (int i = 0; i < 6; i++)
    v = v << 8 | sqn[i];
  return v;
}

void imsec_sqn_from_u64(uint64_t v, uint8_t sqn[6]) {
  for (int i = 5; i >= 0; i--) {
    sqn[i] = (uint8_t)v;
    v >>= 8;
  }
}

static unsigned slots(const imsec_sqn_cfg *cfg) {
  return 1u << cfg->ind_bits;
}

uint64_t imsec_sqn_ue_highest(const imsec_sqn_ue *st,
                              const imsec_sqn_cfg *cfg) {
  if (!st || !cfg || imsec_sqn_cfg_check(cfg) < 0)
    return 0;
  /* C.2.2: SQN_MS is the highest accepted SQN anywhere in the array; the
   * slot that holds the largest SEQ_MS supplies IND. */
  uint64_t best_seq = 0;
  unsigned best_ind = 0;
  for (unsigned i = 0; i < slots(cfg); i++) {
    if (st->seq_ms[i] > best_seq) {
      best_seq = st->seq_ms[i];
      best_ind = i;
    }
  }
  return best_seq << cfg->ind_bits | best_ind;
}

int imsec_sqn_ue_check(const imsec_sqn_ue *st, const imsec_sqn_cfg *cfg,
                       uint64_t sqn) {
  if (!st || !cfg || sqn > IMSEC_SQN_MAX)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_sqn_cfg_check(cfg));
  uint64_t seq = sqn >> cfg->ind_bits;
  unsigned ind = (unsigned)(sqn & (slots(cfg) - 1));
  uint64_t seq_ms = imsec_sqn_ue_highest(st, cfg) >> cfg->ind_bits;

  /* C.2.1: no jump of more than delta beyond the highest accepted SEQ
   * (protects the counter against wrap-around). */
  if (seq > seq_ms && seq - seq_ms > cfg->delta)
    return IMSEC_ERR_SYNC;
  /* C.2.2: optionally refuse anything L or more behind the highest. */
  if (cfg->limit_l && seq_ms > seq && seq_ms - seq >= cfg->limit_l)
    return IMSEC_ERR_SYNC;
  /* C.2.2: fresh only if newer than what this IND slot last accepted. */
  if (seq <= st->seq_ms[ind])
    return IMSEC_ERR_SYNC;
  return 0;
}

int imsec_sqn_ue_accept(imsec_sqn_ue *st, const imsec_sqn_cfg *cfg,
                        uint64_t sqn) {
  if (!st || !cfg || sqn > IMSEC_SQN_MAX)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_sqn_cfg_check(cfg));
  st->seq_ms[sqn & (slots(cfg) - 1)] = sqn >> cfg->ind_bits;
  return 0;
}

int imsec_sqn_he_next(imsec_sqn_he *st, const imsec_sqn_cfg *cfg,
                      uint8_t sqn[6]) {
  if (!st || !cfg || !sqn)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_sqn_cfg_check(cfg));
  uint64_t seq_max = IMSEC_SQN_MAX >> cfg->ind_bits;
  if (st->ind_next >= slots(cfg) || st->seq > seq_max)
    return IMSEC_ERR_INVAL;
  if (st->seq == seq_max)
    return IMSEC_ERR_LIMIT; /* never wrap: a wrapped SQN would be stale */
  /* Annex C: SEQ_HE increments for every vector; IND is allocated
   * cyclically so vectors used out of order stay acceptable. */
  st->seq++;
  uint32_t ind = st->ind_next;
  st->ind_next = (ind + 1) & (slots(cfg) - 1);
  imsec_sqn_from_u64(st->seq << cfg->ind_bits | ind, sqn);
  return 0;
}

int imsec_sqn_he_resync(imsec_sqn_he *st, const imsec_sqn_cfg *cfg,
                        imsec_milenage *m, const uint8_t rand[16],
                        const uint8_t auts[14], uint8_t sqn_ms_out[6]) {
  if (!st || !cfg || !m || !rand || !auts)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(imsec_sqn_cfg_check(cfg));
  uint8_t sqn_ms[6];
  IMSEC_GUARD(imsec_aka_auts_verify(m, rand, auts, sqn_ms));
  uint64_t seq_ms = imsec_sqn_to_u64(sqn_ms) >> cfg->ind_bits;
  /* §6.3.5: keep SQN_HE if the next vector would be accepted (C.2.1:
   * SEQ_MS < SEQ_HE + 1 <= SEQ_MS + delta), otherwise reset to SQN_MS. */
  uint64_t next = st->seq + 1;
  if (!(next > seq_ms && next - seq_ms <= cfg->delta))
    st->seq = seq_ms;
  if (sqn_ms_out)
    for (int i = 0; i < 6; i++)
      sqn_ms_out[i] = sqn_ms[i];
  return 0;
}
