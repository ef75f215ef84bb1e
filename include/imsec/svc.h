/*
 * imsec svc: the stores behind the elements' service requests
 * (include/imsec/elem.h: REQUEST, PERSIST, on_reply).
 *
 * A host gives each element instance one imsec_svc. The host moves every
 * REQUEST or PERSIST into imsec_svc_submit; the service answers through
 * `done`, once per reply (REG_LOAD: once per record, then a last one),
 * either inside submit (an embedded store: the in-memory HSS of the tests)
 * or later from a thread of its own (SQLite on a worker thread, a remote
 * store). The host brings the reply back to the element's thread and calls
 * on_reply. `done` must not call back into the service.
 *
 * Stores (DESIGN.md §4 store/):
 *  - the HSS (include/imsec/hss.h): subscriber lookups, vectors, resync;
 *  - the registration store below: one record per registered IMPI;
 *  - the UE's SQN state: a callback that writes the ISIM profile.
 */
#ifndef IMSEC_SVC_H
#define IMSEC_SVC_H

#include "imsec/elem.h"
#include "imsec/hss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ registration store */

typedef struct imsec_reg_store imsec_reg_store;

/* Called by load for each live record (borrowed for the call; ttl_ms of
 * each binding relative to `now_ms`). Non-zero stops the walk. */
typedef int (*imsec_reg_load_fn)(void *arg, const imsec_reg_record *r);

/*
 * One record per IMPI (the implicit set, Service-Route, the bindings with
 * their Path, instance, reg-id and expiry). Times are wall-clock Unix
 * milliseconds passed in by the caller (a record must outlive a restart,
 * so expiry is absolute): save stores each binding's expiry as now_ms +
 * ttl_ms; load gives ttl_ms = expiry - now_ms and leaves out (and deletes)
 * bindings already expired, and records with none left. Every call
 * returns 0 or a negative imsec_err: IMSEC_ERR_BUSY (locked by another
 * process: nothing done), IMSEC_ERR_IO, IMSEC_ERR_NOMEM, and del
 * IMSEC_ERR_NOTFOUND.
 */
typedef struct imsec_reg_store_vtable {
  /* Replace the record of r->impi (durable when it returns 0). */
  int (*save)(imsec_reg_store *s, const imsec_reg_record *r, int64_t now_ms);
  int (*del)(imsec_reg_store *s, const char *impi);
  int (*load)(imsec_reg_store *s, int64_t now_ms, imsec_reg_load_fn fn,
              void *arg);
  void (*destroy)(imsec_reg_store *s);
  /* Optional (NULL: every save and del is its own durable transaction):
   * group commit as the HSS store's (imsec_store_batch_op, hss.h); load
   * is never called inside a batch. */
  int (*batch)(imsec_reg_store *s, imsec_store_batch_op op);
  /* Optional (NULL: REG_GET and REG_EXPIRE are IMSEC_ERR_UNSUPPORTED), for
   * the shared-store mode of an S-CSCF (elem.h IMSEC_SVC_REG_GET, _EXPIRE).
   * get: the live record holding `key` (an IMPI, or an IMPU when it starts
   * with "sip:", "sips:" or "tel:") into *out (the caller frees it with
   * imsec_reg_record_free; ttl_ms relative to now_ms), or
   * IMSEC_ERR_NOTFOUND. expire: drop the bindings of IMPI expired at
   * now_ms, in one transaction; *out the record left (n 0: nothing left,
   * record deleted), *gone 1 when this call deleted the record. */
  int (*get)(imsec_reg_store *s, const char *key, int64_t now_ms,
             imsec_reg_record *out);
  int (*expire)(imsec_reg_store *s, const char *impi, int64_t now_ms,
                imsec_reg_record *out, int *gone);
} imsec_reg_store_vtable;

struct imsec_reg_store {
  const imsec_reg_store_vtable *vt;
};

IMSEC_API void imsec_reg_store_del(imsec_reg_store *s);

/* ----------------------------------------------------------- the service */

typedef struct imsec_svc imsec_svc;

/* One reply. `req` is the request (borrowed for the call); `rep` too (its
 * vector is wiped after the call). */
typedef void (*imsec_svc_done_fn)(void *arg, const imsec_svc_req *req,
                                  const imsec_svc_reply *rep);

typedef struct imsec_svc_vtable {
  /* Take the request (it is the service's from now on, success or not)
   * and answer it through done(arg, ...). Returns 0, or a negative
   * imsec_err when it was not taken on (IMSEC_ERR_NOMEM,
   * IMSEC_ERR_CLOSED, IMSEC_ERR_BUSY: a worker's queue and its overflow
   * are full): then done is never called for it. */
  int (*submit)(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                void *arg);
  void (*destroy)(imsec_svc *s);
  /* Optional (NULL: none), for a worker in front of this service: group
   * commit over the service's stores (imsec_store_batch_op). Between
   * BEGIN and COMMIT, submit still answers inside the call, but a write's
   * 0 is not durable until COMMIT returns 0: the worker holds back every
   * reply of the batch until then, and answers them all with COMMIT's
   * error otherwise. REG_LOAD is never submitted inside a batch.
   * PENDING answers which stores hold uncommitted writes
   * (IMSEC_SVC_PENDING_HSS | IMSEC_SVC_PENDING_REG): an HSS read (a
   * subscriber, a vector whose SQN range was already on disk) answered
   * while the HSS has none depends on nothing that could be lost, and
   * the worker lets it go at once. */
  int (*batch)(imsec_svc *s, imsec_store_batch_op op);
  /* Optional (NULL: none), from any thread (the metrics and control
   * threads; keep counters the service's threads update atomically or
   * under a lock): the service's own metrics (the state of its Diameter
   * or Redis peers, its queue depth; docs/OPERATIONS.md) and listings
   * ("peers": one row per Diameter or Redis peer). Wrappers (the worker,
   * the split) pass them on to what they wrap. list returns
   * IMSEC_ERR_UNSUPPORTED for a listing it does not have. */
  void (*metrics)(imsec_svc *s, struct imsec_metrics *m);
  int (*list)(imsec_svc *s, const char *what, struct imsec_table *t);
} imsec_svc_vtable;

#define IMSEC_SVC_PENDING_HSS 1
#define IMSEC_SVC_PENDING_REG 2

struct imsec_svc {
  const imsec_svc_vtable *vt;
};

IMSEC_API IMSEC_MUST_USE int imsec_svc_submit(imsec_svc *s, imsec_svc_req *req,
                                              imsec_svc_done_fn done,
                                              void *arg);
IMSEC_API void imsec_svc_del(imsec_svc *s);
/* vt->metrics / vt->list when the service has them (list: else
 * IMSEC_ERR_UNSUPPORTED). */
IMSEC_API void imsec_svc_metrics(imsec_svc *s, struct imsec_metrics *m);
IMSEC_API int imsec_svc_list(imsec_svc *s, const char *what,
                             struct imsec_table *t);

/*
 * Two services behind one (store/svc_split.c): the HSS requests
 * (HSS_*, UE_SQN) go to `hss`, the registration requests (REG_*) to
 * `reg` (both borrowed; they may be the same). For an S-CSCF whose HSS
 * and registrations live in different places: Diameter Cx and Redis, or
 * the embedded HSS and Redis. No batch of its own (each part batches
 * for itself behind its own worker). Returns 0, IMSEC_ERR_INVAL,
 * IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_svc_split_new(imsec_svc **out, imsec_svc *hss, imsec_svc *reg);

/* ------------------------------------------------------ embedded stores */

/* A registration store in memory (store/reg_mem.c): for tests and for an
 * S-CSCF run without a database (registrations are lost on restart).
 * Returns 0 or IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int imsec_reg_mem_new(imsec_reg_store **out);

/* The UE's SQN writer: make SQN_MS durable (the ISIM profile file).
 * Returns 0 or a negative imsec_err. */
typedef int (*imsec_svc_sqn_fn)(void *arg, const uint8_t sqn_ms[6]);

typedef struct imsec_svc_local_config {
  imsec_hss *hss;       /* borrowed; NULL: HSS requests IMSEC_ERR_UNSUPPORTED */
  imsec_reg_store *reg; /* borrowed; NULL: registration requests
                           IMSEC_ERR_UNSUPPORTED */
  imsec_svc_sqn_fn ue_sqn; /* NULL: UE_SQN IMSEC_ERR_UNSUPPORTED */
  void *ue_sqn_arg;
  /* Wall-clock Unix ms for the registration store; NULL: the real clock.
   * Tests with a virtual clock give their own. */
  int64_t (*wall_ms)(void *arg);
  void *wall_arg;
} imsec_svc_local_config;

/* The embedded service (store/svc_local.c): every request is carried out
 * inside submit, on the caller's thread, and answered before submit
 * returns. Good for in-memory stores; a store that touches a disk goes
 * behind imsec_svc_worker_new so no loop thread waits on it. `cfg` is
 * copied. Returns 0, IMSEC_ERR_INVAL, IMSEC_ERR_NOMEM. */
IMSEC_API IMSEC_MUST_USE int
imsec_svc_local_new(imsec_svc **out, const imsec_svc_local_config *cfg);

/*
 * The worker-thread service (store/svc_worker.c): one thread of its own
 * carries out the requests through `inner` (borrowed: typically the
 * embedded service over SQLite stores), in the order submitted. From this
 * call until imsec_svc_del of the worker returns, only the worker thread
 * touches `inner` and what it reaches: its stores, the imsec_hss (its SQN
 * cursors) and that HSS's imsec_crypto, which is not thread-safe (the
 * OpenSSL backend keeps digest and MAC contexts): give the HSS an
 * imsec_crypto of its own, not the element's.
 *
 * submit moves the request in (req->reg is taken over and zeroed in the
 * caller's struct, which the caller may free at once) and returns at
 * once. Contract: `done` is ALWAYS called on the worker thread, never
 * inside submit, so a host must hand each reply over to the element's
 * thread (and keep `arg` alive until the final reply or until the worker
 * is deleted). `done` must not call submit or imsec_svc_del on this
 * worker. Every request taken on gets its replies (REG_LOAD: one per
 * record, then a final one), the final one with last = 1:
 *  - beyond `queue_max` queued requests, the request is answered
 *    IMSEC_ERR_BUSY (nothing done) by the worker ahead of the queue;
 *    when those answers are `queue_max` deep too, submit returns
 *    IMSEC_ERR_BUSY and done is never called;
 *  - when the inner service refuses a request, the worker answers it
 *    with that status.
 * imsec_svc_del of the worker (from any thread but the worker's) stops
 * taking requests (submit: IMSEC_ERR_CLOSED), lets the request in hand
 * finish, carries out the writes still queued (REG_SAVE, REG_DELETE,
 * UE_SQN, HSS_RESYNC: the element counts on them), answers the reads
 * IMSEC_ERR_CLOSED, and joins the thread; it does not delete `inner`.
 * Returns 0, IMSEC_ERR_INVAL (queue_max 0), IMSEC_ERR_NOMEM.
 */
IMSEC_API IMSEC_MUST_USE int
imsec_svc_worker_new(imsec_svc **out, imsec_svc *inner, size_t queue_max);

/* The first half of imsec_svc_del of a worker, for a host that is still
 * running: stop taking requests (submit answers IMSEC_ERR_CLOSED from now
 * on, on the caller's thread), carry out the writes still queued, answer
 * the reads closed, join the thread. The worker stays valid (submit may
 * still be called) until imsec_svc_del. The order that shuts a daemon
 * down without a request reaching freed memory: stop the worker (its
 * last replies still reach live hosts), delete the hosts (the loops may
 * submit until then: they are told closed), delete the worker. NULL and
 * a second call are fine. */
IMSEC_API void imsec_svc_worker_stop(imsec_svc *w);

#ifdef __cplusplus
}
#endif

#endif /* IMSEC_SVC_H */
