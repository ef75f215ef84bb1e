/* The worker-thread service (include/imsec/svc.h): a bounded queue in
 * front of an inner service, carried out in order by one thread, so the
 * element's loop never waits on a disk. A mutex guards the queues and a
 * condition variable wakes the thread; the inner service and its stores
 * are touched by the worker thread alone.
 *
 * Group commit: when the inner service can batch (imsec_svc_vtable
 * batch), the worker takes every request queued at that moment (up to
 * BATCH_MAX) into one transaction per store and holds their replies back
 * until it commits, so N registrations that arrived while the last
 * commit was syncing cost one synchronous commit, not N. Every reply
 * still waits for the disk (synchronous=FULL, nothing is answered before
 * it is durable); a batch that does not commit is answered with the
 * commit's error. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imsec/obs.h"
#include "imsec/svc.h"

typedef struct job {
  struct job *next;
  imsec_svc_req req; /* the caller's, moved in (req.reg owned) */
  imsec_svc_done_fn done;
  void *arg;
  /* In a batch: the reply held back until the commit (a copy: the inner
   * service wipes its own), or the inner service's refusal. */
  imsec_svc_reply *rep;
  int status;
} job;

/* Requests in one group commit at most: bounds the time the first of
 * them waits for the last. */
#define BATCH_MAX 256

typedef struct jobq {
  job *head, *tail;
  size_t n;
} jobq;

typedef struct worker {
  imsec_svc base;
  imsec_svc *inner;
  size_t max;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  jobq q;    /* requests to carry out, in order */
  jobq full; /* requests refused for a full queue: answered first */
  int closing;
  /* Queued requests by store (STORE_*), for imsec_store_queue_depth; a
   * store is reported once a request for it was seen. */
  size_t depth[3];
  int seen[3];
  int joined;              /* the thread is gone (imsec_svc_worker_stop) */
  int64_t commit_delay_us; /* see run_batch; the worker thread's alone */
} worker;

/* Which store a request is for (the store label of docs/OPERATIONS.md). */
enum { STORE_HSS, STORE_REG, STORE_UE };
static const char *const store_names[3] = {"hss", "registrations", "ue"};

static int store_of(imsec_svc_kind k) {
  switch (k) {
  case IMSEC_SVC_REG_LOAD:
  case IMSEC_SVC_REG_SAVE:
  case IMSEC_SVC_REG_DELETE:
  case IMSEC_SVC_REG_GET:
  case IMSEC_SVC_REG_EXPIRE:
    return STORE_REG;
  case IMSEC_SVC_UE_SQN:
    return STORE_UE;
  default:
    return STORE_HSS;
  }
}

static void push(jobq *q, job *j) {
  j->next = NULL;
  if (q->tail)
    q->tail->next = j;
  else
    q->head = j;
  q->tail = j;
  q->n++;
}

static job *pop(jobq *q) {
  job *j = q->head;
  if (j) {
    q->head = j->next;
    if (!q->head)
      q->tail = NULL;
    q->n--;
  }
  return j;
}

/* The request queue, counted by store (under w->mu). */
static void qpush(worker *w, job *j) {
  int st = store_of(j->req.kind);
  w->depth[st]++;
  w->seen[st] = 1;
  push(&w->q, j);
}

static job *qpop(worker *w) {
  job *j = pop(&w->q);
  if (j)
    w->depth[store_of(j->req.kind)]--;
  return j;
}

/* One final reply with `status` and nothing else, on the worker thread. */
static void answer(job *j, int status) {
  imsec_svc_reply *rep = calloc(1, sizeof(*rep));
  imsec_svc_reply stack;
  if (!rep) { /* the status still has to reach the element */
    memset(&stack, 0, sizeof(stack));
    rep = &stack;
  }
  rep->kind = j->req.kind;
  rep->id = j->req.id;
  rep->status = status;
  rep->last = 1;
  j->done(j->arg, &j->req, rep);
  if (rep != &stack)
    free(rep);
}

static void job_free(job *j) {
  imsec_reg_record_free(&j->req.reg);
  free(j);
}

/* At shutdown the writes still queued are carried out (the element
 * already counts on them: a registration saved, the UE's SQN, a resync);
 * the reads are answered IMSEC_ERR_CLOSED (a vector made now would spend
 * an SQN for nobody). */
static int is_write(imsec_svc_kind k) {
  return k == IMSEC_SVC_REG_SAVE || k == IMSEC_SVC_REG_DELETE ||
         k == IMSEC_SVC_UE_SQN || k == IMSEC_SVC_HSS_RESYNC;
}

/* Requests whose reply borrows a record (REG_LOAD, once per record;
 * REG_GET and REG_EXPIRE, once) cannot be held for a commit: they run
 * alone, outside any batch. */
static int runs_alone(imsec_svc_kind k) {
  return k == IMSEC_SVC_REG_LOAD || k == IMSEC_SVC_REG_GET ||
         k == IMSEC_SVC_REG_EXPIRE;
}

static int is_hss_read(imsec_svc_kind k) {
  return k == IMSEC_SVC_HSS_SUB || k == IMSEC_SVC_HSS_SUB_IMPU ||
         k == IMSEC_SVC_HSS_VECTOR || k == IMSEC_SVC_HSS_DIGEST ||
         k == IMSEC_SVC_HSS_ASSIGN;
}

static void run_one(worker *w, job *j, int closing) {
  if (closing && !is_write(j->req.kind)) {
    answer(j, IMSEC_ERR_CLOSED);
  } else {
    /* The inner service takes the request over (req.reg included) and
     * answers through done on this thread; when it refuses it, done
     * has not been called and the element still needs an answer. */
    int rv = imsec_svc_submit(w->inner, &j->req, j->done, j->arg);
    if (rv < 0)
      answer(j, rv);
  }
  job_free(j);
}

/* The inner service's answer inside a batch: kept for after the commit.
 * Never REG_LOAD (several replies, a borrowed record): it runs alone. */
static void hold(void *arg, const imsec_svc_req *req,
                 const imsec_svc_reply *rep) {
  job *j = arg;
  (void)req;
  j->rep = malloc(sizeof(*j->rep));
  if (!j->rep) {
    j->status = IMSEC_ERR_NOMEM;
    return;
  }
  *j->rep = *rep;
  j->rep->reg = NULL;
}

static void release(job *j, int commit) {
  imsec_svc_reply *rep = j->rep;
  if (!rep) {
    answer(j, j->status < 0 ? j->status : IMSEC_ERR_NOMEM);
    return;
  }
  if (commit < 0 && rep->status >= 0) {
    /* Not durable: nothing that counted on it may leave. */
    imsec_aka_vector_wipe(&rep->vec);
    imsec_hss_sub_wipe(&rep->sub);
    rep->status = commit;
  }
  j->done(j->arg, &j->req, rep);
  /* Vectors carry XRES, CK and IK. */
  imsec_aka_vector_wipe(&rep->vec);
  imsec_hss_sub_wipe(&rep->sub);
  free(rep);
  j->rep = NULL;
}

/* Carry out one request inside the open batch. An HSS read while the
 * HSS holds no uncommitted write (no SQN mark of this batch, so its
 * vector's range was on disk before) needs no commit and leaves at once:
 * waiting for the registrations' sync would add a disk round to every
 * challenge. Returns 1 when the reply is held for the commit. */
static int batch_one(worker *w, job *j) {
  int rv = imsec_svc_submit(w->inner, &j->req, hold, j);
  if (rv < 0)
    j->status = rv;
  if (rv == 0 && j->rep && is_hss_read(j->req.kind) &&
      !(w->inner->vt->batch(w->inner, IMSEC_STORE_PENDING) &
        IMSEC_SVC_PENDING_HSS)) {
    release(j, 0);
    job_free(j);
    return 0;
  }
  return 1;
}

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* How long a batch holding a write stays open for more (group commit, as
 * a database's commit delay): half the last commit's time, at most
 * COMMIT_DELAY_MAX_US. Requests that arrive meanwhile are carried out
 * as they come (reads leave at once, see batch_one); only the writes'
 * answers wait, and they would have waited for a sync anyway. */
#define COMMIT_DELAY_MAX_US 1000

/* One batch, from the queue's head on (w->mu held, and held again on
 * return). */
static void run_batch(worker *w) {
  job *b[BATCH_MAX];
  size_t n = 0, taken = 0;
  pthread_mutex_unlock(&w->mu);
  int began = w->inner->vt->batch(w->inner, IMSEC_STORE_BEGIN) == 0;
  pthread_mutex_lock(&w->mu);
  if (!began) { /* one at a time, as without batches */
    job *j = qpop(w);
    pthread_mutex_unlock(&w->mu);
    if (j)
      run_one(w, j, 0);
    pthread_mutex_lock(&w->mu);
    return;
  }
  int64_t deadline = 0;
  for (;;) {
    while (taken < BATCH_MAX && w->q.head && !w->closing &&
           !runs_alone(w->q.head->req.kind)) {
      job *j = qpop(w);
      taken++;
      pthread_mutex_unlock(&w->mu);
      if (batch_one(w, j))
        b[n++] = j;
      pthread_mutex_lock(&w->mu);
    }
    if (!n || taken >= BATCH_MAX || w->closing || w->full.n ||
        (w->q.head && runs_alone(w->q.head->req.kind)))
      break;
    int64_t now = mono_us();
    if (!deadline)
      deadline = now + w->commit_delay_us;
    if (now >= deadline)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (deadline - now) * 1000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  pthread_mutex_unlock(&w->mu);
  int64_t t0 = mono_us();
  int c = w->inner->vt->batch(w->inner, IMSEC_STORE_COMMIT);
  int64_t half = (mono_us() - t0) / 2;
  w->commit_delay_us = half < COMMIT_DELAY_MAX_US ? half : COMMIT_DELAY_MAX_US;
  for (size_t i = 0; i < n; i++) {
    release(b[i], c);
    job_free(b[i]);
  }
  pthread_mutex_lock(&w->mu);
}

static void *run(void *arg) {
  worker *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->full.n && !w->q.n && !w->closing)
      pthread_cond_wait(&w->cv, &w->mu);
    job *j = pop(&w->full);
    if (j) {
      pthread_mutex_unlock(&w->mu);
      answer(j, IMSEC_ERR_BUSY);
      job_free(j);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    int closing = w->closing;
    /* A REG_LOAD answers once per record as it reads them: alone,
     * outside any batch; so does everything while closing. */
    if (!closing && w->inner->vt->batch && w->q.head &&
        !runs_alone(w->q.head->req.kind)) {
      run_batch(w);
      continue;
    }
    if ((j = qpop(w)) == NULL)
      break; /* closing, and nothing left */
    pthread_mutex_unlock(&w->mu);
    run_one(w, j, closing);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static int worker_submit(imsec_svc *s, imsec_svc_req *req,
                         imsec_svc_done_fn done, void *arg) {
  worker *w = (worker *)s;
  job *j = malloc(sizeof(*j));
  if (!j) {
    imsec_reg_record_free(&req->reg);
    return IMSEC_ERR_NOMEM;
  }
  /* Move the request in: the caller's struct keeps no pointer of ours. */
  j->req = *req;
  memset(&req->reg, 0, sizeof(req->reg));
  j->done = done;
  j->arg = arg;
  j->rep = NULL;
  j->status = 0;
  pthread_mutex_lock(&w->mu);
  int rv = 0;
  if (w->closing)
    rv = IMSEC_ERR_CLOSED;
  else if (w->q.n < w->max)
    qpush(w, j);
  else if (w->full.n < w->max)
    push(&w->full, j); /* answered IMSEC_ERR_BUSY by the worker, next */
  else
    rv = IMSEC_ERR_BUSY; /* both full: not taken on */
  if (rv == 0)
    pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  if (rv < 0)
    job_free(j);
  return rv;
}

void imsec_svc_worker_stop(imsec_svc *s) {
  worker *w = (worker *)s;
  if (!w || w->joined)
    return;
  pthread_mutex_lock(&w->mu);
  w->closing = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  w->joined = 1;
}

static void worker_destroy(imsec_svc *s) {
  worker *w = (worker *)s;
  imsec_svc_worker_stop(s);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* Operations (svc.h: from any thread): the queue's depth per store, and
 * whatever the inner service says of itself (its metrics and listings
 * are thread-safe by the same contract). */
static void worker_metrics(imsec_svc *s, struct imsec_metrics *m) {
  worker *w = (worker *)s;
  size_t depth[3];
  int seen[3];
  pthread_mutex_lock(&w->mu);
  memcpy(depth, w->depth, sizeof depth);
  memcpy(seen, w->seen, sizeof seen);
  pthread_mutex_unlock(&w->mu);
  (void)imsec_metrics_declare(
      m, "imsec_store_queue_depth", IMSEC_METRIC_GAUGE,
      "Store requests queued and not yet carried out, by store");
  for (int k = 0; k < 3; k++)
    if (seen[k])
      (void)imsec_metrics_add(m, "imsec_store_queue_depth", (double)depth[k],
                              "store", store_names[k], (const char *)NULL);
  imsec_svc_metrics(w->inner, m);
}

static int worker_list(imsec_svc *s, const char *what, struct imsec_table *t) {
  worker *w = (worker *)s;
  return imsec_svc_list(w->inner, what, t);
}

static const imsec_svc_vtable worker_vt = {.submit = worker_submit,
                                           .destroy = worker_destroy,
                                           .metrics = worker_metrics,
                                           .list = worker_list};

int imsec_svc_worker_new(imsec_svc **out, imsec_svc *inner, size_t queue_max) {
  if (!out || !inner || queue_max == 0)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  worker *w = calloc(1, sizeof(*w));
  if (!w)
    return IMSEC_ERR_NOMEM;
  w->base.vt = &worker_vt;
  w->inner = inner;
  w->max = queue_max;
  if (pthread_mutex_init(&w->mu, NULL) != 0)
    goto fail_mu;
  if (pthread_cond_init(&w->cv, NULL) != 0)
    goto fail_cv;
  /* The thread starts with every signal blocked (it inherits the mask):
   * a daemon reads SIGTERM and SIGHUP on its own thread (signalfd), and a
   * signal the kernel handed to this thread instead would take the
   * default action and kill the process. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int crv = pthread_create(&w->th, NULL, run, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (crv != 0)
    goto fail_th;
  *out = &w->base;
  return 0;
fail_th:
  pthread_cond_destroy(&w->cv);
fail_cv:
  pthread_mutex_destroy(&w->mu);
fail_mu:
  free(w);
  return IMSEC_ERR_NOMEM;
}
