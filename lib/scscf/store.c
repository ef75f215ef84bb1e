/* Waiting for the stores (include/imsec/elem.h REQUEST and on_reply): a
 * request that needs an HSS answer asks, parks, and runs again from the
 * start when the answer comes; a busy store is asked again after a
 * growing pause; store_timeout_ms bounds it all. */

#include <stdlib.h>
#include <string.h>

#include "scscf_int.h"

/* The HSS answers through the host (include/imsec/elem.h REQUEST and
 * on_reply): at once for an embedded store, later for one on a worker
 * thread or across the network; and the store may be busy while another
 * process holds its lock. The element never waits on it. A request that
 * needs an answer it does not have asks for it and is parked: its bytes
 * are kept with the answers it already has, and when the answer comes it
 * runs again from the start and finds it. An answer "busy" makes it try
 * again on a timer, with a growing pause. Either way it waits at most
 * store_timeout_ms from its arrival (then 500). Up to the store call that
 * made it wait a request sends nothing and keeps nothing (no vector exists
 * before its SQN is on disk, TS 33.102 Annex C), so running it again is
 * safe. */
#define PARK_BYTES (4u * 1024 * 1024) /* all parked messages together */
#define PARK_FIRST_MS 5               /* the first pause; doubled up to */
#define PARK_PAUSE_MAX_MS 50          /* this one */

/* "HSS store unavailable: locked" (busy until the request's deadline), or
 * no answer in time, or the I/O error; never "unknown subscriber"; within
 * the element's log budget (imsec_lograte: 10 lines a second, the next one
 * saying how many were held back, as for refused input). `impi` NULL: not
 * a REGISTER, or none known yet. */
void scscf_store_unavailable(imsec_scscf *s, const char *impi, int rv,
                             imsec_time_ms now, imsec_out *out) {
  uint64_t held = 0;
  if (!imsec_lograte_take(&s->store_rate, now, &held))
    return;
  char n[24] = "";
  if (held)
    scscf_dec_u64(held, n);
  const char *why = rv == IMSEC_ERR_BUSY      ? "locked"
                    : rv == IMSEC_ERR_TIMEOUT ? "no answer in time"
                                              : imsec_strerror(rv);
  (void)imsec_out_log(
      out, IMSEC_LOG_ERROR, impi ? "REGISTER " : "", impi ? impi : "",
      impi ? ": " : "", "HSS store unavailable: ", why,
      rv == IMSEC_ERR_TIMEOUT ? ": 504" : ": 500", held ? "; " : "", n,
      held ? " similar lines held back" : "", NULL);
}

/* Subscriber records the HSS gave lately, without secrets (k, op and
 * H(A1)s are never kept). A REGISTER flood of one IMPI (pipelined, or a UE's
 * retries on a pending challenge) then costs one HSS round trip, not one each;
 * the S-CSCF keeps the profile it was given while it serves the user (TS 29.228
 * §6.1.2, §6.3: the S-CSCF stores the user data it downloads). Short-lived, so
 * a subscriber deleted or changed in the HSS is seen within seconds, and
 * bounded: when full, an entry goes (the oldest in the map's order, not
 * strictly: any eviction is safe, the record is asked for again). Only records
 * found are kept: unknown identities always reach the HSS (their cost is
 * limited by the flood limits). */
#define SUB_CACHE_MS 5000
#define SUB_CACHE_MAX 1024

typedef struct sub_ent {
  imsec_time_ms at;
  imsec_hss_sub sub;
} sub_ent;

static void sub_ent_free(sub_ent *e) {
  if (e) {
    imsec_hss_sub_wipe(&e->sub);
    free(e);
  }
}

/* The cache key: the kind's digit, then the IMPI or IMPU. */
#define SUB_KEY_CAP (IMSEC_HSS_ID_MAX + 2)
static imsec_str sub_key(imsec_svc_kind kind, imsec_str key, char *buf) {
  size_t n = key.len < IMSEC_HSS_ID_MAX ? key.len : IMSEC_HSS_ID_MAX;
  buf[0] = kind == IMSEC_SVC_HSS_SUB ? 'i' : 'u';
  if (n)
    memcpy(buf + 1, key.p, n);
  return (imsec_str){buf, n + 1};
}

static int sub_cached(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                      imsec_hss_sub *sub, imsec_time_ms now) {
  char buf[SUB_KEY_CAP];
  imsec_str k = sub_key(kind, key, buf);
  sub_ent *e = imsec_map_sget(&s->subs, k);
  if (!e)
    return 0;
  if (now - e->at >= SUB_CACHE_MS) {
    sub_ent_free(imsec_map_sdel(&s->subs, k));
    return 0;
  }
  *sub = e->sub;
  return 1;
}

static void sub_keep(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                     const imsec_hss_sub *sub, imsec_time_ms now) {
  if (key.len >= IMSEC_HSS_ID_MAX)
    return;
  if (imsec_map_len(&s->subs) >= SUB_CACHE_MAX) {
    size_t it = 0;
    if (imsec_map_next(&s->subs, &it))
      sub_ent_free(imsec_map_del_at(&s->subs, &it));
  }
  sub_ent *e = malloc(sizeof(*e));
  if (!e)
    return; /* a cache: nothing is lost */
  e->at = now;
  e->sub = *sub;
  imsec_wipe(e->sub.k, sizeof(e->sub.k));
  imsec_wipe(e->sub.op, sizeof(e->sub.op));
  imsec_wipe(e->sub.digest.ha1, sizeof(e->sub.digest.ha1));
  char buf[SUB_KEY_CAP];
  void *old = NULL;
  if (imsec_map_sput(&s->subs, sub_key(kind, key, buf), e, &old) < 0) {
    sub_ent_free(e);
    return;
  }
  sub_ent_free(old);
}

void scscf_sub_cache_free(imsec_scscf *s) {
  size_t it = 0;
  imsec_map_slot *sl;
  while ((sl = imsec_map_next(&s->subs, &it)) != NULL)
    sub_ent_free(sl->val);
  imsec_map_free(&s->subs);
}

unsigned scscf_store_code(int rv, const char **reason) {
  if (rv == IMSEC_ERR_TIMEOUT) {
    *reason = "Server Time-out";
    return 504;
  }
  *reason = "Server Internal Error";
  return 500;
}

/* The public identity of the request in s->m, for Cx (TS 29.228 §6.3
 * MAR, §6.1.2 SAR carry one): a REGISTER's To URI, else the Request-URI;
 * without its parameters. "" when it does not fit. */
static void req_impu(imsec_scscf *s, char *dst, size_t cap) {
  imsec_str u = s->m.ruri;
  const imsec_sip_addr *to;
  if (s->m.method_id == IMSEC_SIP_M_REGISTER &&
      imsec_sip_get_to(&s->m, &to) == 0)
    u = to->uri;
  long semi = imsec_str_find(u, ';');
  if (semi >= 0)
    u.len = (size_t)semi;
  if (imsec_str_copy(u, dst, cap) < 0)
    dst[0] = 0;
}

/* Ask the store; the running request waits for the answer. Past the
 * request's deadline nothing is asked: IMSEC_ERR_BUSY when the store's
 * last answer was busy, else IMSEC_ERR_TIMEOUT (it did not answer).
 * Returns IMSEC_ERR_AGAIN (asked: park_busy), or one of those. */
static int store_ask(imsec_scscf *s, imsec_svc_req *req, imsec_time_ms now,
                     imsec_out *out) {
  parked *p = s->retry;
  if (p && now >= p->deadline)
    return p->busy || !p->asked ? IMSEC_ERR_BUSY : IMSEC_ERR_TIMEOUT;
  uint64_t id = ++s->next_id;
  req->id = id;
  if (!req->impu[0] && s->m.buf)
    req_impu(s, req->impu, sizeof(req->impu));
  if (imsec_out_request(out, req) < 0)
    return IMSEC_ERR_NOMEM;
  s->want_id = id;
  return IMSEC_ERR_AGAIN;
}

/* Ask the HSS a request keyed by one identity. Returns as store_ask,
 * or IMSEC_ERR_NOTFOUND for a key longer than any identity stored. */
static int ask_keyed(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                     imsec_time_ms now, imsec_out *out) {
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = kind;
  if (imsec_str_copy(key, req.key, sizeof(req.key)) < 0)
    return IMSEC_ERR_NOTFOUND;
  return store_ask(s, &req, now, out);
}

/* The subscriber record by IMPI (IMSEC_SVC_HSS_SUB) or IMPU
 * (IMSEC_SVC_HSS_SUB_IMPU). Returns 0 (in *sub), IMSEC_ERR_NOTFOUND, the
 * store's error, or as store_ask. */
int scscf_hss_sub(imsec_scscf *s, imsec_svc_kind kind, imsec_str key,
                  imsec_hss_sub *sub, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->sub_kind == (int)kind) {
    if (p->sub_status == 0) {
      *sub = p->sub;
      sub_keep(s, kind, key, sub, now);
    }
    return p->sub_status;
  }
  if (sub_cached(s, kind, key, sub, now))
    return 0;
  return ask_keyed(s, kind, key, now, out);
}

/* One authentication vector (TS 33.102 §6.3.2), taken once: the parked
 * copy is wiped as it is handed over. Returns as hss_sub. */
int scscf_hss_vector(imsec_scscf *s, const char *impi, imsec_aka_vector *v,
                     imsec_hss_aka *aka, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->vec_have) {
    int st = p->vec_status;
    if (st == 0) {
      *v = p->vec;
      *aka = p->aka;
    }
    imsec_aka_vector_wipe(&p->vec);
    p->vec_have = 0;
    return st;
  }
  return ask_keyed(s, IMSEC_SVC_HSS_VECTOR, imsec_str_c(impi), now, out);
}

/* The SIP Digest credentials (H(A1)s) of `impi`, taken once: the parked
 * copy is wiped as it is handed over. Returns as hss_sub. */
int scscf_hss_digest(imsec_scscf *s, const char *impi, imsec_hss_sub *sub,
                     imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->dg_have) {
    int st = p->dg_status;
    if (st == 0)
      *sub = p->dg;
    imsec_hss_sub_wipe(&p->dg);
    p->dg_have = 0;
    return st;
  }
  return ask_keyed(s, IMSEC_SVC_HSS_DIGEST, imsec_str_c(impi), now, out);
}

/* Resynchronisation (TS 33.102 §6.3.5). Returns as hss_sub. */
int scscf_hss_resync(imsec_scscf *s, const char *impi, const uint8_t *rand,
                     const uint8_t *auts, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->rs_have)
    return p->rs_status;
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_HSS_RESYNC;
  memcpy(req.rand, rand, sizeof(req.rand));
  memcpy(req.auts, auts, sizeof(req.auts));
  int rv = imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0
               ? IMSEC_ERR_NOTFOUND
               : store_ask(s, &req, now, out);
  imsec_wipe(&req, sizeof(req));
  return rv;
}

int scscf_hss_assign(imsec_scscf *s, const char *impi, imsec_str impu,
                     imsec_svc_assign type, imsec_hss_sub *sub,
                     imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->as_have) {
    if (p->as_status == 0 && p->as_sub)
      *sub = *p->as_sub;
    return p->as_status;
  }
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_HSS_ASSIGN;
  req.assign = type;
  if (imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0 ||
      imsec_str_copy(impu, req.impu, sizeof(req.impu)) < 0)
    return IMSEC_ERR_NOTFOUND;
  return store_ask(s, &req, now, out);
}

void scscf_hss_assign_send(imsec_scscf *s, const char *impi, const char *impu,
                           imsec_svc_assign type, imsec_out *out) {
  imsec_svc_req req;
  memset(&req, 0, sizeof(req));
  req.kind = IMSEC_SVC_HSS_ASSIGN;
  req.assign = type;
  if (imsec_str_copy(imsec_str_c(impi), req.key, sizeof(req.key)) < 0 ||
      imsec_str_copy(imsec_str_c(impu ? impu : ""), req.impu,
                     sizeof(req.impu)) < 0)
    return;
  req.id = ++s->next_id; /* waited for by nobody: on_reply logs a failure */
  (void)imsec_out_request(out, &req);
}

int scscf_reg_get(imsec_scscf *s, imsec_str key, const imsec_reg_record **rec,
                  imsec_time_ms *at, imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  if (p && p->rg_have && p->rg_key &&
      imsec_str_eq(imsec_str_c(p->rg_key), key)) { /* no secret: an id */
    *rec = &p->rg;
    *at = p->rg_at;
    return p->rg_status;
  }
  int rv = ask_keyed(s, IMSEC_SVC_REG_GET, key, now, out);
  if (rv == IMSEC_ERR_AGAIN &&
      imsec_str_copy(key, s->rg_want, sizeof(s->rg_want)) < 0)
    s->rg_want[0] = 0;
  return rv;
}

/* The registrations are loading (on_start): a request that reads or
 * changes them waits for the last REG_LOAD reply. Returns 0 (loaded),
 * IMSEC_ERR_AGAIN (park_busy) or IMSEC_ERR_TIMEOUT (past its deadline). */
int scscf_wait_load(imsec_scscf *s, imsec_time_ms now) {
  if (!s->loading)
    return 0;
  parked *p = s->retry;
  if (p && now >= p->deadline)
    return IMSEC_ERR_TIMEOUT;
  s->want_id = s->load_id;
  return IMSEC_ERR_AGAIN;
}

static void parked_free(parked *p) {
  if (p->ra_sub) {
    imsec_hss_sub_wipe(p->ra_sub);
    free(p->ra_sub);
  }
  free(p->ra_info);
  if (p->as_sub) {
    imsec_hss_sub_wipe(p->as_sub);
    free(p->as_sub);
  }
  imsec_reg_record_free(&p->rg);
  free(p->rg_key);
  imsec_aka_vector_wipe(&p->vec);
  imsec_hss_sub_wipe(&p->sub);
  imsec_hss_sub_wipe(&p->dg);
  imsec_wipe(p->data, p->len);
  free(p);
}

void scscf_park_free(imsec_scscf *s) {
  parked *p = s->pk_head;
  while (p) {
    parked *nx = p->anext;
    if (p->q && p->q->head == p)
      free(p->q); /* each queue once: by its head */
    parked_free(p);
    p = nx;
  }
  s->pk_head = s->pk_tail = s->rd_head = s->rd_tail = NULL;
  free(s->tm);
  s->tm = NULL;
  s->ntm = s->captm = 0;
  s->npk = s->pk_bytes = 0;
  imsec_map_free(&s->waits);
  scscf_sub_cache_free(s);
  imsec_map_free(&s->pk_flows);
  imsec_map_free(&s->pk_q);
}

/* The (flow, Call-ID) key of the request in s->m: the flow's 8 octets,
 * then the Call-ID. A longer Call-ID than fits is cut: two that share
 * that much of a prefix are then kept in order with each other, which is
 * only stricter than needed. */
#define PK_KEY_CAP 264
static imsec_str pk_key(imsec_scscf *s, uint64_t flow, char *buf) {
  imsec_str cid;
  if (imsec_sip_get_call_id(&s->m, &cid) < 0)
    cid = IMSEC_STR_LIT("");
  for (size_t i = 0; i < 8; i++)
    buf[i] = (char)(uint8_t)(flow >> (8 * i));
  size_t n = cid.len < PK_KEY_CAP - 8 ? cid.len : PK_KEY_CAP - 8;
  memcpy(buf + 8, cid.p, n);
  return (imsec_str){buf, 8 + n};
}

/* Does the request in s->m (on `flow`) have an earlier one of its flow
 * and Call-ID parked? */
int scscf_park_waiting(imsec_scscf *s, uint64_t flow) {
  if (!imsec_map_get(&s->pk_flows, flow))
    return 0;
  char buf[PK_KEY_CAP];
  return imsec_map_sget(&s->pk_q, pk_key(s, flow, buf)) != NULL;
}

/* Count a parked request of `flow` in (+1) or out (-1): flow down finds
 * at once whether it has any. Returns 0 or IMSEC_ERR_NOMEM. */
static int park_count(imsec_scscf *s, uint64_t flow, int d) {
  uintptr_t n = (uintptr_t)imsec_map_get(&s->pk_flows, flow);
  n = d > 0 ? n + 1 : n - 1;
  if (!n) {
    (void)imsec_map_del(&s->pk_flows, flow);
    return 0;
  }
  return imsec_map_put(&s->pk_flows, flow, (void *)n, NULL);
}

/* The timed ones (a pause after "busy") are a binary min-heap on `next`,
 * so the earliest try and the ones due are found without a walk. */
static void tm_swap(imsec_scscf *s, size_t a, size_t b) {
  parked *t = s->tm[a];
  s->tm[a] = s->tm[b];
  s->tm[b] = t;
  s->tm[a]->hidx = a;
  s->tm[b]->hidx = b;
}

static void tm_fix(imsec_scscf *s, size_t i) {
  while (i && s->tm[(i - 1) / 2]->next > s->tm[i]->next) {
    tm_swap(s, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < s->ntm && s->tm[l]->next < s->tm[m]->next)
      m = l;
    if (l + 1 < s->ntm && s->tm[l + 1]->next < s->tm[m]->next)
      m = l + 1;
    if (m == i)
      return;
    tm_swap(s, i, m);
    i = m;
  }
}

/* Take `p` out of the ready list or the timed heap. */
static void list_del(imsec_scscf *s, parked *p) {
  if (p->list == PK_READY) {
    *(p->lprev ? &p->lprev->lnext : &s->rd_head) = p->lnext;
    *(p->lnext ? &p->lnext->lprev : &s->rd_tail) = p->lprev;
    p->lprev = p->lnext = NULL;
  } else if (p->list == PK_TIMED) {
    size_t i = p->hidx;
    s->ntm--;
    if (i != s->ntm) {
      s->tm[i] = s->tm[s->ntm];
      s->tm[i]->hidx = i;
      tm_fix(s, i);
    }
  }
  p->list = PK_NONE;
}

static void ready_add(imsec_scscf *s, parked *p) {
  list_del(s, p);
  p->lprev = s->rd_tail;
  *(s->rd_tail ? &s->rd_tail->lnext : &s->rd_head) = p;
  s->rd_tail = p;
  p->list = PK_READY;
}

/* Where `p` waits now: nowhere while an answer is outstanding or an
 * earlier request of its flow and Call-ID is parked; else ready (due) or
 * timed (after its pause). */
static void pk_schedule(imsec_scscf *s, parked *p, imsec_time_ms now) {
  if (p->wait_id || p->q->head != p) {
    list_del(s, p);
    return;
  }
  if (p->next <= now) {
    ready_add(s, p);
    return;
  }
  if (p->list == PK_TIMED) {
    tm_fix(s, p->hidx);
    return;
  }
  list_del(s, p);
  if (scscf_grow((void **)&s->tm, &s->captm, s->ntm, sizeof(*s->tm)) < 0) {
    ready_add(s, p); /* no room to wait: tried at once, early */
    return;
  }
  p->hidx = s->ntm;
  s->tm[s->ntm++] = p;
  p->list = PK_TIMED;
  tm_fix(s, p->hidx);
}

/* Keep the one timer armed for the earliest try. A request waiting for
 * an answer is due at its deadline, reported by imsec_scscf_get_expiry
 * rather than a timer: an answer that comes at once (an embedded store)
 * then arms and cancels nothing. */
static void park_arm(imsec_scscf *s, imsec_out *out) {
  imsec_time_ms at = s->ntm ? s->tm[0]->next : 0;
  if (at == s->pk_at)
    return;
  if (!s->pk_timer)
    s->pk_timer = ++s->next_id;
  s->pk_at = at;
  (void)imsec_out_timer(out, s->pk_timer, at);
}

/* Wait for the REQUEST `id` (0: none; the load's id: the load). */
static void park_wait(imsec_scscf *s, parked *p, uint64_t id) {
  if (p->wait_id && p->wait_id != s->load_id)
    (void)imsec_map_del(&s->waits, p->wait_id);
  p->wait_id = 0;
  if (!id)
    return;
  if (id != s->load_id && imsec_map_put(&s->waits, id, p, NULL) < 0)
    return; /* no answer will find it: its deadline ends the wait */
  p->wait_id = id;
  p->asked = 1;
  p->next = p->deadline;
  list_del(s, p);
}

/* Forget `p`; the next request of its flow and Call-ID, if any, may run
 * (at once, unless it waits for an answer of its own). */
static void park_remove(imsec_scscf *s, parked *p) {
  park_wait(s, p, 0);
  list_del(s, p);
  *(p->aprev ? &p->aprev->anext : &s->pk_head) = p->anext;
  *(p->anext ? &p->anext->aprev : &s->pk_tail) = p->aprev;
  s->npk--;
  s->pk_bytes -= p->len;
  (void)park_count(s, p->flow, -1);
  pkq *q = p->q;
  if (q->head == p) {
    q->head = p->qnext;
  } else {
    /* Not reached: the oldest of a queue goes first (by arrival). */
    parked *e = q->head;
    while (e->qnext != p)
      e = e->qnext;
    e->qnext = p->qnext;
    if (q->tail == p)
      q->tail = e;
  }
  if (!q->head) {
    (void)imsec_map_sdel(&s->pk_q, (imsec_str){q->key, q->klen});
    free(q);
  } else if (!q->head->wait_id) {
    ready_add(s, q->head);
  }
  parked_free(p);
}

/* Keep with `p` the authentication of its REGISTER (scscf_park_authed),
 * once. Returns 0 or IMSEC_ERR_NOMEM. */
static int keep_authed(imsec_scscf *s, parked *p) {
  if (s->rg_want[0]) {
    /* The key of the REG_GET it waits for: a new answer replaces one
     * kept for another key. */
    free(p->rg_key);
    p->rg_key = scscf_dup_str(imsec_str_c(s->rg_want));
    s->rg_want[0] = 0;
    p->rg_have = 0;
    imsec_reg_record_free(&p->rg);
    if (!p->rg_key)
      return IMSEC_ERR_NOMEM;
  }
  if (!s->pk_ra_sub || p->ra_sub)
    return 0;
  p->ra_sub = malloc(sizeof(*p->ra_sub));
  if (!p->ra_sub)
    return IMSEC_ERR_NOMEM;
  *p->ra_sub = *s->pk_ra_sub;
  /* Only identities are needed again: no key, OP or H(A1) is kept. */
  imsec_wipe(p->ra_sub->k, sizeof(p->ra_sub->k));
  imsec_wipe(p->ra_sub->op, sizeof(p->ra_sub->op));
  imsec_wipe(p->ra_sub->digest.ha1, sizeof(p->ra_sub->digest.ha1));
  p->ra_digest = s->pk_ra->digest;
  if (s->pk_ra->auth_info) {
    p->ra_info = scscf_dup_str(imsec_str_c(s->pk_ra->auth_info));
    if (!p->ra_info)
      return IMSEC_ERR_NOMEM;
  }
  return 0;
}

/* Keep the request in s->m for later, waiting for `want` (0: to be tried
 * again after a pause). Returns 0, IMSEC_ERR_LIMIT (as many parked as
 * allowed) or IMSEC_ERR_NOMEM. */
static int park_add(imsec_scscf *s, uint64_t flow, uint64_t want,
                    imsec_time_ms now, imsec_out *out) {
  size_t len = s->m.len;
  if (!len || !s->m.buf || s->npk >= s->cfg.max_parked ||
      len > PARK_BYTES - s->pk_bytes)
    return IMSEC_ERR_LIMIT;
  char buf[PK_KEY_CAP];
  imsec_str key = pk_key(s, flow, buf);
  pkq *q = imsec_map_sget(&s->pk_q, key);
  pkq *fresh = NULL;
  parked *p = calloc(1, sizeof(*p) + len);
  if (!q)
    q = fresh = calloc(1, sizeof(*q) + key.len);
  if (!p || !q || park_count(s, flow, +1) < 0) {
    free(p);
    free(fresh);
    return IMSEC_ERR_NOMEM;
  }
  if (fresh) {
    memcpy(q->key, key.p, key.len);
    q->klen = key.len;
    if (imsec_map_sput(&s->pk_q, key, q, NULL) < 0) {
      (void)park_count(s, flow, -1);
      free(p);
      free(fresh);
      return IMSEC_ERR_NOMEM;
    }
  }
  p->flow = flow;
  p->q = q;
  p->dg_authed = s->dg_authed;
  p->dg_strip = s->dg_strip;
  p->deadline = now + s->cfg.store_timeout_ms;
  p->pause = PARK_FIRST_MS;
  p->next = now + PARK_FIRST_MS;
  if (p->next > p->deadline)
    p->next = p->deadline;
  if (!fresh)
    p->next = 0; /* tried when the ones before it are done */
  p->len = len;
  memcpy(p->data, s->m.buf, len);
  if (keep_authed(s, p) < 0) {
    /* Its run again would find no nonce: answered now instead. */
    if (!q->head)
      (void)imsec_map_sdel(&s->pk_q, key);
    (void)park_count(s, flow, -1);
    parked_free(p);
    if (fresh)
      free(fresh);
    return IMSEC_ERR_NOMEM;
  }
  *(q->tail ? &q->tail->qnext : &q->head) = p;
  q->tail = p;
  p->aprev = s->pk_tail;
  *(s->pk_tail ? &s->pk_tail->anext : &s->pk_head) = p;
  s->pk_tail = p;
  s->npk++;
  s->pk_bytes += len;
  park_wait(s, p, want);
  pk_schedule(s, p, now);
  park_arm(s, out);
  return 0;
}

/* A store call of the request in s->m made it wait (IMSEC_ERR_AGAIN: it
 * asked, s->want_id; IMSEC_ERR_BUSY: behind its flow and Call-ID), before
 * anything was sent or kept. A new request is parked (500 at once when
 * there is no room); a parked one running again waits on, or gets 500
 * once its deadline has passed. */
void scscf_park_busy(imsec_scscf *s, uint64_t flow, const char *impi,
                     imsec_time_ms now, imsec_out *out) {
  parked *p = s->retry;
  uint64_t want = s->want_id;
  s->want_id = 0;
  if (p && now < p->deadline && keep_authed(s, p) == 0) {
    s->retry_busy = 1;
    if (s->dg_authed) {
      p->dg_authed = 1;
      p->dg_strip = s->dg_strip;
    }
    park_wait(s, p, want);
    return;
  }
  if (p) {
    s->retry_busy = 2;
  } else if (park_add(s, flow, want, now, out) == 0) {
    (void)imsec_out_logv(
        out, IMSEC_LOG_DEBUG,
        (imsec_str[]){s->m.method, IMSEC_STR_LIT(": waits for the HSS store")},
        2);
    return;
  }
  s->rg_want[0] = 0;
  int why = p && p->asked && !p->busy ? IMSEC_ERR_TIMEOUT : IMSEC_ERR_BUSY;
  scscf_store_unavailable(s, impi, why, now, out);
  const char *reason;
  unsigned code = scscf_store_code(why, &reason);
  scscf_respond(s, flow, code, reason, out);
}

void scscf_park_authed(imsec_scscf *s, uint64_t flow, const imsec_hss_sub *sub,
                       const reg_auth *ra, imsec_time_ms now, imsec_out *out) {
  s->pk_ra_sub = sub;
  s->pk_ra = ra;
  scscf_park_busy(s, flow, sub->impi, now, out);
  s->pk_ra_sub = NULL;
  s->pk_ra = NULL;
}

/* Run the parked requests that are due: those past their deadline (500,
 * oldest first), those whose pause ended, and those an answer or the end
 * of an earlier one of their flow and Call-ID made ready. Only the
 * oldest of each flow and Call-ID runs; the others of a flow do not wait
 * for it. */
void scscf_park_run(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
  /* By arrival is by deadline (arrival + store_timeout_ms). */
  for (parked *p = s->pk_head; p && p->deadline <= now; p = p->anext)
    if (p->q->head == p && p->list != PK_READY)
      ready_add(s, p);
  while (s->ntm && s->tm[0]->next <= now)
    ready_add(s, s->tm[0]);
  parked *p;
  while ((p = s->rd_head) != NULL) {
    list_del(s, p);
    s->retry = p;
    s->retry_busy = 0;
    /* Its log lines name the flow and Call-ID it came with, as they did
     * when it arrived (the store's answer is an event of no flow). */
    uint64_t lflow = out->log_flow;
    imsec_str lcid = out->log_call_id;
    imsec_out_log_context(out, p->flow,
                          imsec_str_make(p->q->key + 8, p->q->klen - 8));
    imsec_scscf_on_message(s, p->flow, (const uint8_t *)p->data, p->len, now,
                           out);
    imsec_out_log_context(out, lflow, lcid);
    s->retry = NULL;
    if (s->retry_busy != 1) {
      park_remove(s, p); /* answered, or dropped */
      continue;
    }
    if (!p->wait_id) {
      /* Behind nothing and waiting for nothing: try again later. */
      p->pause =
          p->pause * 2 > PARK_PAUSE_MAX_MS ? PARK_PAUSE_MAX_MS : p->pause * 2;
      p->next = now + p->pause < p->deadline ? now + p->pause : p->deadline;
    }
    pk_schedule(s, p, now); /* now < deadline here: not ready again */
  }
  park_arm(s, out);
}

/* The earliest deadline of all parked requests (the oldest's): one
 * waiting for an answer is due then; one on a pause has its timer
 * earlier, and a call at its deadline only answers it 500 on time. */
imsec_time_ms imsec_scscf_get_expiry(const imsec_scscf *s) {
  return s && s->pk_head ? s->pk_head->deadline : 0;
}

void imsec_scscf_handle_expiry(imsec_scscf *s, imsec_time_ms now,
                               imsec_out *out) {
  if (s && out)
    scscf_park_run(s, now, out); /* the ones past their deadline get 500 */
}

/* Returns 1 when `timer` was the parked requests' timer. */
int scscf_park_on_timer(imsec_scscf *s, uint64_t timer, imsec_time_ms now,
                        imsec_out *out) {
  if (!s->pk_timer || timer != s->pk_timer)
    return 0;
  s->pk_at = 0; /* it fired */
  scscf_park_run(s, now, out);
  return 1;
}

/* The registrations are loaded: the requests that waited for them run
 * (once, at start: a walk is fine). */
void scscf_park_loaded(imsec_scscf *s, imsec_time_ms now, imsec_out *out) {
  for (parked *p = s->pk_head; p; p = p->anext) {
    if (p->wait_id == s->load_id) {
      p->wait_id = 0;
      p->next = now;
      pk_schedule(s, p, now);
    }
  }
  scscf_park_run(s, now, out);
}

/* The flow a parked request came in on is gone: nobody waits for its
 * answer. */
void scscf_park_drop_flow(imsec_scscf *s, uint64_t flow, imsec_out *out) {
  if (!flow || !imsec_map_get(&s->pk_flows, flow))
    return;
  size_t n = 0;
  parked *p = s->pk_head;
  while (p) {
    parked *nx = p->anext;
    if (p->flow == flow) {
      /* Oldest first: each is the head of its queue when removed; the
       * next of the same queue (ready now) is removed further on. */
      park_remove(s, p);
      n++;
    }
    p = nx;
  }
  char num[24];
  scscf_dec_u64(n, num);
  (void)imsec_out_log(out, IMSEC_LOG_INFO, "flow down: ", num,
                      " request(s) waiting for the HSS store dropped", NULL);
  park_arm(s, out);
}

/* An HSS answer for the parked request that asked: kept with it, and it
 * runs again (with the others now due) unless an earlier request of its
 * flow and Call-ID still waits. A busy store: the same request asks again
 * after a growing pause. */
void scscf_hss_reply(imsec_scscf *s, const imsec_svc_reply *r,
                     imsec_time_ms now, imsec_out *out) {
  parked *p = imsec_map_get(&s->waits, r->id);
  if (!p || p->wait_id != r->id)
    return; /* its request is gone (answered 500, or its flow down) */
  park_wait(s, p, 0);
  if (r->status == IMSEC_ERR_BUSY) {
    p->busy = 1;
    p->next = now + p->pause < p->deadline ? now + p->pause : p->deadline;
    p->pause =
        p->pause * 2 > PARK_PAUSE_MAX_MS ? PARK_PAUSE_MAX_MS : p->pause * 2;
    pk_schedule(s, p, now);
    scscf_park_run(s, now, out);
    return;
  }
  p->busy = 0;
  switch (r->kind) {
  case IMSEC_SVC_HSS_SUB:
  case IMSEC_SVC_HSS_SUB_IMPU:
    p->sub_kind = (int)r->kind;
    p->sub_status = r->status;
    if (r->status == 0)
      p->sub = r->sub;
    imsec_wipe(p->sub.k, sizeof(p->sub.k)); /* never needed here */
    imsec_wipe(p->sub.op, sizeof(p->sub.op));
    imsec_wipe(p->sub.digest.ha1, sizeof(p->sub.digest.ha1));
    break;
  case IMSEC_SVC_HSS_VECTOR:
    imsec_aka_vector_wipe(&p->vec);
    p->vec_have = 1;
    p->vec_status = r->status;
    if (r->status == 0) {
      p->vec = r->vec;
      p->aka = r->aka;
    }
    break;
  case IMSEC_SVC_HSS_RESYNC:
    p->rs_have = 1;
    p->rs_status = r->status;
    break;
  case IMSEC_SVC_HSS_DIGEST:
    /* A copy of the H(A1)s: the host wipes its reply after on_reply. */
    imsec_hss_sub_wipe(&p->dg);
    p->dg_have = 1;
    p->dg_status = r->status;
    if (r->status == 0)
      p->dg = r->sub;
    imsec_wipe(p->dg.k, sizeof(p->dg.k));
    imsec_wipe(p->dg.op, sizeof(p->dg.op));
    break;
  case IMSEC_SVC_HSS_ASSIGN:
    p->as_have = 1;
    p->as_status = r->status;
    if (r->status == 0 && !p->as_sub)
      p->as_sub = malloc(sizeof(*p->as_sub));
    if (r->status == 0 && !p->as_sub)
      p->as_status = IMSEC_ERR_NOMEM;
    else if (r->status == 0) {
      *p->as_sub = r->sub;
      imsec_wipe(p->as_sub->k, sizeof(p->as_sub->k));
      imsec_wipe(p->as_sub->op, sizeof(p->as_sub->op));
      imsec_wipe(p->as_sub->digest.ha1, sizeof(p->as_sub->digest.ha1));
    }
    break;
  case IMSEC_SVC_REG_GET:
    imsec_reg_record_free(&p->rg);
    p->rg_have = 1;
    p->rg_at = now;
    p->rg_status = r->status;
    if (r->status == 0 && !r->reg)
      p->rg_status = IMSEC_ERR_NOTFOUND;
    else if (r->status == 0 && imsec_reg_record_copy(&p->rg, r->reg) < 0)
      p->rg_status = IMSEC_ERR_NOMEM;
    break;
  default:
    break;
  }
  p->next = now;
  pk_schedule(s, p, now);
  scscf_park_run(s, now, out);
}
