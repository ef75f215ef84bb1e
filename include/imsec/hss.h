/*
 * imsec hss: the Home Subscriber Server as the S-CSCF embeds it: subscriber
 * records (IMPI, the implicit registration set of IMPUs, K, OP or OPc, AMF,
 * the HE's SQN state, the Digest AKA version; or, for a SIP Digest
 * subscriber, the realm and H(A1) per algorithm), Milenage authentication
 * vectors with SQN management per TS 33.102 Annex C, and resynchronisation
 * from AUTS (TS 33.102 §6.3.5).
 *
 * The logic (lib/hss/hss.c) is sans-I/O: it reaches storage through the
 * imsec_hss_store vtable and AES/randomness through imsec_crypto. Two
 * stores exist: an in-memory one (lib/hss/mem.c, for tests and the
 * in-process harness) and SQLite (store/hss_db.c, the daemons' default,
 * declared in include/imsec/hss_db.h, in the imsec-store library).
 *
 * Durability rule (TS 33.102 C.3.2 spirit, DESIGN.md §2): no vector leaves
 * before a durable high-water mark at or above its SEQ was saved through
 * store->save_sqn (durable when it returns: SQLite commits synchronously).
 * The mark may move a range at a time (imsec_hss_set_sqn_range; 1 SEQ step,
 * a write per vector, unless set, 32 a good value): the HSS keeps the last SEQ
 * handed out per IMPI in memory, vectors inside the reserved range cost no
 * write, and a restarted HSS starts above the mark. So a crash can waste up to
 * a range of SQNs but never reuse one, and N vectors cost about N / range
 * synchronous writes.
 *
 * Secrets (K, OP/OPc, and the vectors' XRES, CK, IK) live in caller-owned
 * structs; wipe them with imsec_hss_sub_wipe / imsec_aka_vector_wipe.
 * Every intermediate copy inside the HSS is wiped before return.
 */
#ifndef IMSEC_HSS_H
#define IMSEC_HSS_H

#include "imsec/aka.h"
#include "imsec/base.h"
#include "imsec/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMSEC_HSS_ID_MAX 256   /* octets of an IMPI or IMPU, NUL included */
#define IMSEC_HSS_MAX_IMPUS 16 /* IMPUs in one implicit registration set */

/* The Digest AKA version a subscriber is challenged with. */
typedef enum imsec_hss_aka {
  IMSEC_HSS_AKAV1 = 1, /* AKAv1-MD5, RFC 3310 */
  IMSEC_HSS_AKAV2 = 2, /* AKAv2-MD5, RFC 4169 */
} imsec_hss_aka;

/* How a subscriber authenticates (TS 33.203 Annex P.4: the S-CSCF
 * chooses by what the HSS holds). */
typedef enum imsec_hss_scheme {
  IMSEC_HSS_SCHEME_AKA = 0,    /* IMS AKA: Digest AKAv1/AKAv2 from K, OP */
  IMSEC_HSS_SCHEME_DIGEST = 1, /* SIP Digest with a password (Annex N) */
} imsec_hss_scheme;

/* "aka" / "digest" <-> imsec_hss_scheme. Parse returns 0 or
 * IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_scheme_parse(imsec_str s,
                                                    imsec_hss_scheme *out);
IMSEC_API const char *imsec_hss_scheme_name(imsec_hss_scheme scheme);

/* H(A1) per algorithm (RFC 7616 §3.4.2), indexes of imsec_hss_digest.ha1. */
#define IMSEC_HSS_HA1_MD5 0
#define IMSEC_HSS_HA1_SHA256 1
#define IMSEC_HSS_HA1_ALGS 2
/* ... and per form of the username a terminal sends: the whole IMPI, or
 * only its user part (what many softphones put in the digest username;
 * the S-CSCF maps it back, imsec_scscf_config.digest_username). */
#define IMSEC_HSS_USER_IMPI 0
#define IMSEC_HSS_USER_PART 1
#define IMSEC_HSS_USER_FORMS 2

/* A SIP Digest subscriber's credentials: the realm and H(A1) for each
 * algorithm and username form (TS 29.228 Digest-HA1; the password itself
 * is never stored). MD5 uses the first 16 octets. The H(A1)s are secrets. */
typedef struct imsec_hss_digest {
  char realm[IMSEC_HSS_ID_MAX];
  uint8_t ha1[IMSEC_HSS_HA1_ALGS][IMSEC_HSS_USER_FORMS][32];
} imsec_hss_digest;

/* One subscriber. A plain struct: the store fills it, the caller owns it.
 * `op` holds OP when op_is_opc is 0, OPc when it is 1. k and op are
 * secrets: wipe with imsec_hss_sub_wipe. */
typedef struct imsec_hss_sub {
  char impi[IMSEC_HSS_ID_MAX];
  char impus[IMSEC_HSS_MAX_IMPUS][IMSEC_HSS_ID_MAX]; /* bare URIs */
  size_t n_impus;
  uint8_t k[IMSEC_AKA_K_LEN];
  uint8_t op[IMSEC_AKA_OP_LEN];
  int op_is_opc;
  uint8_t amf[IMSEC_AKA_AMF_LEN];
  imsec_sqn_he sqn;
  imsec_hss_aka aka;
  /* IMSEC_HSS_SCHEME_DIGEST: k, op, amf, sqn and aka are unused (zero,
   * aka v1) and `digest` holds the credentials (its H(A1)s secret). */
  imsec_hss_scheme scheme;
  imsec_hss_digest digest;
} imsec_hss_sub;

IMSEC_API void imsec_hss_sub_wipe(imsec_hss_sub *s);

/* Check a record before it is stored: IMPI non-empty, 1..MAX IMPUs, each
 * non-empty and no duplicates, no identity with a character that
 * imsec_ident_bad_char refuses (controls, whitespace, quotes), aka v1 or v2,
 * SQN state in range for `cfg` (NULL: Annex C defaults). Returns 0 or
 * IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_sub_check(const imsec_hss_sub *s,
                                                 const imsec_sqn_cfg *cfg);

/* Make `s` a SIP Digest subscriber: scheme DIGEST, digest.realm = `realm`
 * (empty: the domain of the IMPI, the part after '@', TS 23.003 §13.3),
 * and every H(A1) of imsec_hss_digest from `password` (the user-part form
 * equals the IMPI form for an IMPI without '@'). The AKA fields are
 * zeroed. The password is the caller's (wipe it). Returns 0,
 * IMSEC_ERR_INVAL (empty IMPI or password, a realm with a character
 * imsec_ident_bad_char refuses, too long), IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_digest_set(imsec_hss_sub *s,
                                                  imsec_crypto *c,
                                                  imsec_str realm,
                                                  imsec_bytes password);

/* "v1" / "v2" <-> imsec_hss_aka. Parse returns 0 or IMSEC_ERR_PARSE. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_aka_parse(imsec_str s,
                                                 imsec_hss_aka *out);
IMSEC_API const char *imsec_hss_aka_name(imsec_hss_aka aka);

/* --------------------------------------------------------------- storage */

typedef struct imsec_hss_store imsec_hss_store;

/* Called by list for each subscriber, in IMPI order; k and op are zero
 * (list never reads secrets). A non-zero return stops the walk and is
 * returned by list. */
typedef int (*imsec_hss_list_fn)(void *arg, const imsec_hss_sub *sub);

/* The storage vtable. Every function returns 0 or a negative imsec_err.
 * Strings are borrowed for the call. A store shared with other processes
 * waits a bounded time for their locks and then returns
 * IMSEC_ERR_BUSY ("locked": nothing was done, try again later): no call
 * blocks its caller for long. */
/* Group commit (the optional `batch` op of a store): BEGIN opens one
 * transaction that every later call joins, COMMIT makes all of them
 * durable at once (one synchronous commit instead of one per call), and
 * ROLLBACK undoes them. Between BEGIN and COMMIT a call returning 0 is
 * NOT yet durable: the caller holds back whatever depends on it (a
 * vector, a 200 OK) until COMMIT returns 0, and treats every call of the
 * batch as failed otherwise. A call that fails inside the batch leaves
 * the others in it. Returns 0 or a negative imsec_err (IMSEC_ERR_IO,
 * IMSEC_ERR_BUSY: nothing of the batch was saved). */
typedef enum imsec_store_batch_op {
  IMSEC_STORE_BEGIN = 1,
  IMSEC_STORE_COMMIT,
  IMSEC_STORE_ROLLBACK,
  /* Inside a batch: 1 when it holds writes not yet committed, else 0.
   * A read answered while nothing is pending depends on nothing that
   * could still be lost, and may leave before the commit. */
  IMSEC_STORE_PENDING,
} imsec_store_batch_op;

typedef struct imsec_hss_store_vtable {
  /* Fill `out` with the subscriber `impi` (secrets included).
   * IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO, IMSEC_ERR_BUSY. */
  int (*load)(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out);
  /* The same, found by one of its IMPUs (exact text). */
  int (*find_impu)(imsec_hss_store *s, imsec_str impu, imsec_hss_sub *out);
  /* Durably record the SQN state of `impi` (when this returns 0 the state
   * survives a crash). IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO,
   * IMSEC_ERR_BUSY (not saved). */
  int (*save_sqn)(imsec_hss_store *s, imsec_str impi, const imsec_sqn_he *st);
  /* Add a new subscriber. IMSEC_ERR_EXISTS (the IMPI or one of the IMPUs is
   * taken), IMSEC_ERR_INVAL, IMSEC_ERR_IO, IMSEC_ERR_NOMEM. */
  int (*add)(imsec_hss_store *s, const imsec_hss_sub *sub);
  /* Delete a subscriber with its IMPUs. IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO. */
  int (*del)(imsec_hss_store *s, imsec_str impi);
  /* Walk every subscriber (see imsec_hss_list_fn). IMSEC_ERR_IO. */
  int (*list)(imsec_hss_store *s, imsec_hss_list_fn fn, void *arg);
  /* Close and free (wipes what it holds). */
  void (*destroy)(imsec_hss_store *s);
  /* Optional (NULL: every call is its own durable transaction): group
   * commit, see imsec_store_batch_op. */
  int (*batch)(imsec_hss_store *s, imsec_store_batch_op op);
  /* Replace the SIP Digest credentials of `impi` (a password change),
   * durably. IMSEC_ERR_NOTFOUND, IMSEC_ERR_INVAL (not a SIP Digest
   * subscriber), IMSEC_ERR_IO, IMSEC_ERR_BUSY. */
  int (*set_digest)(imsec_hss_store *s, imsec_str impi,
                    const imsec_hss_digest *d);
  /* Optional (NULL: the HSS writes marks with save_sqn): compare and set
   * of the SQN state, for a store that several HSS front-ends share.
   * Atomically, and durably as save_sqn: when the stored state of `impi`
   * is still `old`, replace it with `next`; otherwise write nothing and
   * return IMSEC_ERR_STALE (another front-end moved it since `old` was
   * read: read it again). Two front-ends that read the same mark cannot
   * both reserve the range above it, so no SQN is handed out twice (TS
   * 33.102 C.3). IMSEC_ERR_STALE, IMSEC_ERR_NOTFOUND, IMSEC_ERR_INVAL,
   * IMSEC_ERR_IO, IMSEC_ERR_BUSY (locked: nothing written). */
  int (*reserve_sqn)(imsec_hss_store *s, imsec_str impi,
                     const imsec_sqn_he *old, const imsec_sqn_he *next);
} imsec_hss_store_vtable;

/* Every store begins with this header. */
struct imsec_hss_store {
  const imsec_hss_store_vtable *vt;
};

/* Free a store (NULL is fine). */
IMSEC_API void imsec_hss_store_del(imsec_hss_store *s);

/* The in-memory store (lib/hss/mem.c): no persistence; save_sqn records
 * into memory. Returns 0 or IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_mem_new(imsec_hss_store **out);
/* The number of successful save_sqn calls on a memory store so far. */
IMSEC_API unsigned long imsec_hss_mem_saves(const imsec_hss_store *s);

/* ------------------------------------------------------------------ HSS */

typedef struct imsec_hss imsec_hss;

/* Forget every SQN cursor (as imsec_hss_set_sqn_range does): the next
 * vector of each IMPI reserves a new range above its durable mark. For a
 * batch of the store that did not commit: the marks the cursors count on
 * never reached the disk (TS 33.102 C.3: no SQN may be handed out twice
 * after a crash). */
IMSEC_API void imsec_hss_sqn_forget(imsec_hss *h);

/* Make an HSS over `store` and `crypto` (both borrowed; they must outlive
 * it). `cfg` (NULL: imsec_sqn_cfg_default) is copied.
 * Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_CONFIG, IMSEC_ERR_NOMEM,
 * IMSEC_ERR_CRYPTO. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_new(imsec_hss **out,
                                           imsec_hss_store *store,
                                           imsec_crypto *crypto,
                                           const imsec_sqn_cfg *cfg);
IMSEC_API void imsec_hss_del(imsec_hss *h);
/* The store the HSS uses (borrowed). */
IMSEC_API imsec_hss_store *imsec_hss_get_store(imsec_hss *h);

/* SQN ranges (TS 33.102 C.3: the HE may keep its SQN state as it likes, a
 * crash must never make it reuse an SQN). Each vector outside the range
 * reserved for its IMPI saves the mark SEQ + range - 1 (with the next IND)
 * before it leaves; the vectors up to that mark need no write. `range` 1
 * (what imsec_hss_new sets): every vector is saved (the stored SEQ is always
 * the last one handed out). At most `max_cursors` IMPIs (0: 4096) have a cursor
 * in memory; beyond that one is forgotten, which is safe: its next vector
 * reserves a new range above its mark. A cursor is also dropped when the store
 * holds another mark than the one this HSS saved (another process or the
 * management CLI wrote it): the HSS then goes on from the stored state.
 * With a store that has reserve_sqn, a range is reserved only if the mark
 * is still the one read, so front-ends sharing the store (or a process
 * racing the CLI) reserve disjoint ranges; a lost race re-reads the mark
 * and tries again a bounded number of times.
 * The SQN state lookups return is the durable mark. A UE that gets a
 * vector after a restart sees SEQ jump by up to a range (well inside
 * delta, C.2.1). Forgets every cursor. Returns 0 or IMSEC_ERR_INVAL. */
IMSEC_API IMSEC_MUST_USE int
imsec_hss_set_sqn_range(imsec_hss *h, uint32_t range, size_t max_cursors);
/* The number of IMPIs with an SQN cursor in memory (for tests). */
IMSEC_API size_t imsec_hss_sqn_cursors(const imsec_hss *h);

/* The record of `impi` without its secrets (k, op zero): IMPUs, AKA
 * version, SQN state. Returns 0, IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO,
 * IMSEC_ERR_BUSY (the store is locked: try again later). */
IMSEC_API IMSEC_MUST_USE int imsec_hss_lookup(imsec_hss *h, imsec_str impi,
                                              imsec_hss_sub *out);
/* The same, found by an IMPU of the set. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_lookup_impu(imsec_hss *h, imsec_str impu,
                                                   imsec_hss_sub *out);

/* The record of `impi` with its SIP Digest credentials (the H(A1)s, a
 * secret: wipe with imsec_hss_sub_wipe; k, op zero): what Cx's MAR gives
 * for SIP Digest (TS 29.228 §6.3.3, SIP-Digest-Authenticate). Returns 0,
 * IMSEC_ERR_NOTFOUND, IMSEC_ERR_UNSUPPORTED (an IMS AKA subscriber: no
 * digest credentials), IMSEC_ERR_IO, IMSEC_ERR_BUSY. */
IMSEC_API IMSEC_MUST_USE int imsec_hss_digest_get(imsec_hss *h, imsec_str impi,
                                                  imsec_hss_sub *out);

/* One authentication vector for `impi` (TS 33.102 §6.3.2): the next SQN
 * (Annex C), covered by a durable mark (a new range saved through the
 * store when the reserved one is used up), then RAND from the RNG and
 * Milenage. `aka` (may be NULL) receives the subscriber's AKA version.
 * Wipe the vector after use.
 * Returns 0, IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO (the SQN could not be saved:
 * no vector), IMSEC_ERR_BUSY (the store is locked by another process,
 * or other front-ends kept moving the SQN state under this one
 * (reserve_sqn): no vector, and the SQN step was not kept: try again
 * later),
 * IMSEC_ERR_LIMIT (SQN exhausted), IMSEC_ERR_CRYPTO,
 * IMSEC_ERR_INVAL, IMSEC_ERR_UNSUPPORTED (a SIP Digest subscriber). */
IMSEC_API IMSEC_MUST_USE int imsec_hss_vector(imsec_hss *h, imsec_str impi,
                                              imsec_aka_vector *out,
                                              imsec_hss_aka *aka);

/* Resynchronise `impi` from the AUTS the UE sent for the challenge whose
 * RAND was `rand` (TS 33.102 §6.3.5, imsec_sqn_he_resync) from the HSS's
 * current SQN_HE (its cursor, or the stored mark), and save the new state
 * durably as the mark before any further vector (whose first then
 * reserves a new range). Returns 0, IMSEC_ERR_MAC (MAC-S wrong: nothing
 * changed), IMSEC_ERR_NOTFOUND, IMSEC_ERR_IO, IMSEC_ERR_BUSY (nothing
 * saved: the same AUTS may be tried again), IMSEC_ERR_CRYPTO, IMSEC_ERR_INVAL.
 */
IMSEC_API IMSEC_MUST_USE int imsec_hss_resync(imsec_hss *h, imsec_str impi,
                                              const uint8_t rand[16],
                                              const uint8_t auts[14]);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_HSS_H */
