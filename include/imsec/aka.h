/*
 * imsec aka: Milenage (TS 35.206), authentication vectors, the UE-side check
 * of AUTN with SQN freshness (TS 33.102 §6.3.3, Annex C.2), AUTS, and the
 * HE-side SQN generation and resynchronisation (TS 33.102 Annex C,
 * §6.3.5).
 *
 * Sans-I/O: AES-128 and randomness come through the imsec_crypto vtable the
 * caller hands in. Nothing here allocates except imsec_milenage_new.
 *
 * Secrets: K and OPc live only inside an imsec_milenage (the key schedule
 * and a copy of OPc), wiped by imsec_milenage_del. Outputs that are secret
 * (RES, CK, IK, and the whole imsec_aka_vector / imsec_aka_ue_result) sit in
 * caller-owned structs: wipe them with imsec_aka_vector_wipe /
 * imsec_aka_ue_result_wipe (or imsec_wipe) when done. Every intermediate on
 * the stack is wiped before a function returns.
 *
 * Octet strings are big-endian, as in the specifications: SQN is 6 octets,
 * AMF 2, RAND 16, AUTN 16 (SQN^AK || AMF || MAC-A), AUTS 14
 * (SQN_MS^AK* || MAC-S).
 */
#ifndef IMSEC_AKA_H
#define IMSEC_AKA_H

#include "imsec/base.h"
#include "imsec/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_AKA_K_LEN 16
#define IMSEC_AKA_OP_LEN 16
#define IMSEC_AKA_RAND_LEN 16
#define IMSEC_AKA_SQN_LEN 6
#define IMSEC_AKA_AMF_LEN 2
#define IMSEC_AKA_MAC_LEN 8
#define IMSEC_AKA_RES_LEN 8 /* Milenage f2 gives 64 bits */
#define IMSEC_AKA_RES_MAX 16
#define IMSEC_AKA_CK_LEN 16
#define IMSEC_AKA_IK_LEN 16
#define IMSEC_AKA_AK_LEN 6
#define IMSEC_AKA_AUTN_LEN 16
#define IMSEC_AKA_AUTS_LEN 14

/* ------------------------------------------------------------- Milenage */

/* A Milenage instance for one subscriber: the AES-128 key schedule of K and
 * a copy of OPc. Re-key it for the next subscriber (imsec_milenage_set_*)
 * rather than making a new one: the key schedule is reused, so no call
 * below allocates. One instance serves one thread at a time (like the
 * imsec_crypto it borrows). */
typedef struct imsec_milenage imsec_milenage;

/* Allocate an instance bound to `crypto` (borrowed: it must outlive the
 * instance). No key is set yet.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_new(imsec_milenage **out,
                                                imsec_crypto *crypto);
/* Wipe OPc and the key schedule and free (NULL is fine). */
IMSEC_API void imsec_milenage_del(imsec_milenage *m);

/* Key the instance with K and OPc. The inputs are copied (OPc) or expanded
 * (K); the caller may wipe its copies afterwards.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_set_opc(imsec_milenage *m,
                                                    const uint8_t k[16],
                                                    const uint8_t opc[16]);
/* Key the instance with K and OP: OPc = E_K(OP) xor OP (TS 35.206 §4.1) is
 * derived once here. Returns as imsec_milenage_set_opc. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_set_op(imsec_milenage *m,
                                                   const uint8_t k[16],
                                                   const uint8_t op[16]);
/* Copy the OPc of a keyed instance into `opc` (a secret: wipe it after use).
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_STATE (no key set). */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_get_opc(const imsec_milenage *m,
                                                    uint8_t opc[16]);

/* Every output of Milenage for one (RAND, SQN, AMF). Secret: wipe after
 * use. */
typedef struct imsec_milenage_out {
  uint8_t mac_a[IMSEC_AKA_MAC_LEN];  /* f1 */
  uint8_t mac_s[IMSEC_AKA_MAC_LEN];  /* f1* */
  uint8_t res[IMSEC_AKA_RES_LEN];    /* f2 */
  uint8_t ck[IMSEC_AKA_CK_LEN];      /* f3 */
  uint8_t ik[IMSEC_AKA_IK_LEN];      /* f4 */
  uint8_t ak[IMSEC_AKA_AK_LEN];      /* f5 */
  uint8_t ak_star[IMSEC_AKA_AK_LEN]; /* f5* */
} imsec_milenage_out;

/* f1, f1*, f2, f3, f4, f5 and f5* at once: two AES calls (TEMP, then the
 * five OUTi blocks in one batch).
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_STATE (no key set),
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_compute(imsec_milenage *m,
                                                    const uint8_t rand[16],
                                                    const uint8_t sqn[6],
                                                    const uint8_t amf[2],
                                                    imsec_milenage_out *out);

/* f1 and f1* only (either output may be NULL). Returns as above. */
IMSEC_API IMSEC_MUST_USE int
imsec_milenage_f1(imsec_milenage *m, const uint8_t rand[16],
                  const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8],
                  uint8_t mac_s[8]);

/* f2, f3, f4, f5 (any output may be NULL; the ones that are NULL cost no
 * AES block). Returns as above. */
IMSEC_API IMSEC_MUST_USE int
imsec_milenage_f2345(imsec_milenage *m, const uint8_t rand[16], uint8_t res[8],
                     uint8_t ck[16], uint8_t ik[16], uint8_t ak[6]);

/* f5* (the anonymity key of AUTS). Returns as above. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_f5star(imsec_milenage *m,
                                                   const uint8_t rand[16],
                                                   uint8_t ak_star[6]);

/* OPc = E_K(OP) xor OP with a one-shot key schedule (TS 35.206 §4.1).
 * Prefer imsec_milenage_set_op when the instance is used afterwards.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_milenage_opc(imsec_crypto *crypto,
                                                const uint8_t k[16],
                                                const uint8_t op[16],
                                                uint8_t opc[16]);

/* ------------------------------------------------- authentication vectors */

/* A quintet as the HE hands it to the S-CSCF (TS 33.102 §6.3.2). Secret
 * (XRES, CK, IK): wipe with imsec_aka_vector_wipe. */
typedef struct imsec_aka_vector {
  uint8_t rand[IMSEC_AKA_RAND_LEN];
  uint8_t xres[IMSEC_AKA_RES_MAX];
  size_t xres_len; /* 8 with Milenage */
  uint8_t ck[IMSEC_AKA_CK_LEN];
  uint8_t ik[IMSEC_AKA_IK_LEN];
  uint8_t autn[IMSEC_AKA_AUTN_LEN]; /* SQN^AK || AMF || MAC-A */
} imsec_aka_vector;

/* Make a vector for `sqn` and `amf` with a fresh RAND from the crypto
 * backend's RNG. The SQN comes from the HE's state (imsec_sqn_he_next) and
 * must be durable before the vector leaves the HE.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_STATE, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_aka_vector_make(imsec_milenage *m,
                                                   const uint8_t sqn[6],
                                                   const uint8_t amf[2],
                                                   imsec_aka_vector *out);
/* The same with a given RAND (tests, the calculator). */
IMSEC_API IMSEC_MUST_USE int imsec_aka_vector_make_rand(imsec_milenage *m,
                                                        const uint8_t rand[16],
                                                        const uint8_t sqn[6],
                                                        const uint8_t amf[2],
                                                        imsec_aka_vector *out);
IMSEC_API void imsec_aka_vector_wipe(imsec_aka_vector *v);

/* ------------------------------------------------------ SQN (Annex C) */

/* SQN = SEQ || IND (TS 33.102 Annex C): IND is the `ind_bits` low
 * bits. At most IMSEC_SQN_IND_MAX_BITS, so the UE array has at most
 * IMSEC_SQN_SLOTS_MAX entries. */
#define IMSEC_SQN_IND_MAX_BITS 5
#define IMSEC_SQN_SLOTS_MAX (1u << IMSEC_SQN_IND_MAX_BITS)
#define IMSEC_SQN_MAX ((UINT64_C(1) << 48) - 1)

/* Freshness parameters (TS 33.102 C.2.1, C.2.2; default values from Annex C).
 */
typedef struct imsec_sqn_cfg {
  unsigned ind_bits; /* length of IND; default 5 (a = 32 array entries) */
  uint64_t delta;    /* C.2.1 wrap-around limit on SEQ - SEQ_MS; 2^28 */
  uint64_t limit_l;  /* C.2.2 age limit: need SEQ_MS - SEQ < L; 0 = off;
                        default 32 */
} imsec_sqn_cfg;

/* The defaults of Annex C. */
IMSEC_API imsec_sqn_cfg imsec_sqn_cfg_default(void);
/* Returns 0 or IMSEC_ERR_CONFIG (ind_bits > 5, delta 0 or > SEQ range). */
IMSEC_API IMSEC_MUST_USE int imsec_sqn_cfg_check(const imsec_sqn_cfg *cfg);

/* 48-bit SQN <-> integer (big-endian). */
IMSEC_API uint64_t imsec_sqn_to_u64(const uint8_t sqn[6]);
IMSEC_API void imsec_sqn_from_u64(uint64_t v, uint8_t sqn[6]);

/* The UE (USIM/ISIM) side: the array SEQ_MS(0..a-1) of C.2.2. A plain
 * struct so the UE can persist it; all zero is the initial state. Not
 * secret. */
typedef struct imsec_sqn_ue {
  uint64_t seq_ms[IMSEC_SQN_SLOTS_MAX];
} imsec_sqn_ue;

/* SQN_MS: the highest accepted SQN anywhere in the array (SEQ_MS(i) || i
 * for the i with the largest SEQ_MS). */
IMSEC_API uint64_t imsec_sqn_ue_highest(const imsec_sqn_ue *st,
                                        const imsec_sqn_cfg *cfg);

/* Is `sqn` fresh (C.2.1 delta, C.2.2 L and array)? Returns 0 (fresh; the
 * state is not changed), IMSEC_ERR_SYNC (not acceptable), IMSEC_ERR_INVAL,
 * IMSEC_ERR_CONFIG. */
IMSEC_API IMSEC_MUST_USE int imsec_sqn_ue_check(const imsec_sqn_ue *st,
                                                const imsec_sqn_cfg *cfg,
                                                uint64_t sqn);
/* Record an accepted `sqn`: SEQ_MS(IND) = SEQ. Call only after
 * imsec_sqn_ue_check returned 0. Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_CONFIG. */
IMSEC_API IMSEC_MUST_USE int
imsec_sqn_ue_accept(imsec_sqn_ue *st, const imsec_sqn_cfg *cfg, uint64_t sqn);

/* The HE (HSS/AuC) side, per subscriber: a plain struct the HSS persists
 * (it is not secret). SEQ_HE is the SEQ of the last vector made; IND_next
 * the IND the next vector gets (allocated cyclically). */
typedef struct imsec_sqn_he {
  uint64_t seq;      /* SEQ_HE, 48 - ind_bits bits */
  uint32_t ind_next; /* < 2^ind_bits */
} imsec_sqn_he;

/* The SQN of the next vector (Annex C): SEQ_HE + 1 with the next IND,
 * and advance the state. Persist the state before the vector leaves.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG, IMSEC_ERR_LIMIT (SEQ
 * exhausted). */
IMSEC_API IMSEC_MUST_USE int
imsec_sqn_he_next(imsec_sqn_he *st, const imsec_sqn_cfg *cfg, uint8_t sqn[6]);

/* Resynchronise from AUTS (TS 33.102 §6.3.5): AK* = f5*(RAND), SQN_MS =
 * (AUTS[0..5] xor AK*), check MAC-S = f1*(SQN_MS, RAND, AMF 0000) in
 * constant time, then if the next SQN would not be accepted by the UE
 * (SEQ_HE + 1 not in (SEQ_MS, SEQ_MS + delta]) set SEQ_HE = SEQ_MS.
 * `sqn_ms_out` (may be NULL) receives SQN_MS. The state is changed only
 * when MAC-S verifies.
 * Returns 0, IMSEC_ERR_MAC (MAC-S mismatch), IMSEC_ERR_INVAL,
 * IMSEC_ERR_CONFIG, IMSEC_ERR_STATE, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_sqn_he_resync(imsec_sqn_he *st, const imsec_sqn_cfg *cfg,
                    imsec_milenage *m, const uint8_t rand[16],
                    const uint8_t auts[14], uint8_t sqn_ms_out[6]);

/* Recover SQN_MS from AUTS and verify MAC-S without any state (the
 * calculator, or an HSS with its own policy). Returns 0, IMSEC_ERR_MAC,
 * IMSEC_ERR_INVAL, IMSEC_ERR_STATE, IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_aka_auts_verify(imsec_milenage *m,
                                                   const uint8_t rand[16],
                                                   const uint8_t auts[14],
                                                   uint8_t sqn_ms[6]);

/* AUTS = (SQN_MS xor AK*) || MAC-S with MAC-S = f1*(SQN_MS, RAND, AMF 0000)
 * (TS 33.102 §6.3.3). Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_STATE,
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_aka_auts_make(imsec_milenage *m,
                                                 const uint8_t rand[16],
                                                 const uint8_t sqn_ms[6],
                                                 uint8_t auts[14]);

/* ------------------------------------------------------------- UE side */

typedef enum imsec_aka_ue_status {
  IMSEC_AKA_UE_OK = 0,       /* RES, CK, IK valid; SQN recorded */
  IMSEC_AKA_UE_MAC_FAIL = 1, /* MAC-A wrong: network not authenticated */
  IMSEC_AKA_UE_SYNC_FAIL = 2 /* SQN not fresh: AUTS valid */
} imsec_aka_ue_status;

/* The result of running AKA at the UE. Secret: wipe with
 * imsec_aka_ue_result_wipe. */
typedef struct imsec_aka_ue_result {
  imsec_aka_ue_status status;
  uint8_t res[IMSEC_AKA_RES_MAX];
  size_t res_len;
  uint8_t ck[IMSEC_AKA_CK_LEN];
  uint8_t ik[IMSEC_AKA_IK_LEN];
  uint8_t auts[IMSEC_AKA_AUTS_LEN]; /* set on IMSEC_AKA_UE_SYNC_FAIL */
  uint8_t sqn[IMSEC_AKA_SQN_LEN];   /* the SQN the network sent */
} imsec_aka_ue_result;

/* Run AKA at the UE (TS 33.102 §6.3.3): recover SQN with AK = f5(RAND),
 * verify MAC-A in constant time, check freshness against `st` (Annex C.2),
 * and on success record SQN in `st` and return RES, CK, IK. A negative
 * answer (MAC or sync failure) is not an error: the function returns 0 and
 * says so in out->status; `st` changes only on IMSEC_AKA_UE_OK.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG, IMSEC_ERR_STATE,
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int
imsec_aka_ue_run(imsec_milenage *m, imsec_sqn_ue *st, const imsec_sqn_cfg *cfg,
                 const uint8_t rand[16], const uint8_t autn[16],
                 imsec_aka_ue_result *out);
IMSEC_API void imsec_aka_ue_result_wipe(imsec_aka_ue_result *r);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_AKA_H */
