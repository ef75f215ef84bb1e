/* The registration store in Redis (include/imsec/redis.h).
 *
 * One thread of its own runs a private libuv loop with hiredis's async
 * client on it; submit queues a request (bounded) and wakes the loop,
 * which keeps at most INFLIGHT_MAX of them on the connection. Each
 * request is one command (a REG_LOAD walk a chain of them), and Redis
 * answers a connection's commands in order, so a request that waits
 * longer than the timeout means the server stopped answering: every
 * request in flight is answered IMSEC_ERR_TIMEOUT and the connection is
 * dropped and made again.
 *
 * Data (prefix P, "imsec:" by default):
 *   P reg:<IMPI>   a hash: "h" the record's head (reg_codec), "b<i>"
 *                  binding i (reg_codec), "e<i>" its expiry (decimal
 *                  Unix ms by the Redis server's clock), "u<k>" IMPU k of
 *                  the implicit set (for the index, readable by the
 *                  scripts)
 *   P impu:<IMPU>  the IMPI whose record holds that IMPU: the index a
 *                  terminating request is looked up by (TS 24.229
 *                  §5.4.3.3: the S-CSCF finds the UE by its IMPU)
 * Writes and the expiry are Lua scripts, so each is atomic against the
 * other S-CSCFs. Expiries are the server's clock (TIME), so S-CSCFs whose
 * clocks differ still agree. A record lives in Redis until its last
 * binding's expiry plus a grace: within it the S-CSCF whose timer fires
 * first removes it (REG_EXPIRE, gone = 1) and de-registers the user at
 * the HSS; the key's own PEXPIREAT only cleans up when no S-CSCF is left
 * running. */
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "imsec/obs.h"
#include "imsec/redis.h"
#include "imsec/reg_codec.h"

#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_PREFIX "imsec:"
#define PREFIX_MAX 64
#define QUEUE_MAX 4096
#define INFLIGHT_MAX 1024
/* How long a record outlives its last binding (see above). */
#define GRACE_MS 120000
/* A binding's ttl is capped so server-side sums stay exact in Lua's
 * doubles (2^53): 2^40 ms is about 34 years. */
#define TTL_MAX ((int64_t)1 << 40)
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000
#define SCAN_COUNT "100"

/* ---------------------------------------------------------------- scripts */

enum { SC_SAVE, SC_DEL, SC_GET, SC_EXPIRE, SC_N };

/* The server's clock. Before Redis 5 a script that read TIME could not
 * write unless it asked for effects replication; since 7.0 that call is a
 * no-op kept for compatibility. */
#define LUA_NOW                                                                \
  "redis.replicate_commands()\n"                                               \
  "local t = redis.call('TIME')\n"                                             \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* Drop the index entries of the hash's "u" fields that still name this
 * IMPI (an IMPU may have moved on to another IMPI's record since). */
#define LUA_UNINDEX                                                            \
  "local function unindex(all, prefix, impi)\n"                                \
  "  for i = 1, #all, 2 do\n"                                                  \
  "    if string.sub(all[i], 1, 1) == 'u' then\n"                              \
  "      local ik = prefix .. 'impu:' .. all[i + 1]\n"                         \
  "      if redis.call('GET', ik) == impi then redis.call('DEL', ik) end\n"    \
  "    end\n"                                                                  \
  "  end\n"                                                                    \
  "end\n"

#define LUA_REINDEX                                                            \
  "local function reindex(all, prefix, impi, at)\n"                            \
  "  for i = 1, #all, 2 do\n"                                                  \
  "    if string.sub(all[i], 1, 1) == 'u' then\n"                              \
  "      local ik = prefix .. 'impu:' .. all[i + 1]\n"                         \
  "      if redis.call('GET', ik) == impi then\n"                              \
  "        redis.call('PEXPIREAT', ik, at)\n"                                  \
  "      end\n"                                                                \
  "    end\n"                                                                  \
  "  end\n"                                                                    \
  "end\n"

/* KEYS[1] the record; ARGV: prefix, impi, grace, head, n_impus, impus...,
 * n_bindings, then (binding, ttl_ms) pairs. -> 1 saved, 0 nothing live
 * (the record is gone). */
static const char lua_save[] =
    LUA_NOW LUA_UNINDEX "local key, prefix, impi = KEYS[1], ARGV[1], ARGV[2]\n"
                        "local grace = tonumber(ARGV[3])\n"
                        "unindex(redis.call('HGETALL', key), prefix, impi)\n"
                        "redis.call('DEL', key)\n"
                        "local nu = tonumber(ARGV[5])\n"
                        "local at = 6 + nu\n"
                        "local nb = tonumber(ARGV[at])\n"
                        "local f = {'h', ARGV[4]}\n"
                        "local maxe = nil\n"
                        "for i = 0, nb - 1 do\n"
                        "  local ttl = tonumber(ARGV[at + 2 + 2 * i])\n"
                        "  if ttl > 0 then\n"
                        "    local e = now + ttl\n"
                        "    f[#f + 1] = 'b' .. i\n"
                        "    f[#f + 1] = ARGV[at + 1 + 2 * i]\n"
                        "    f[#f + 1] = 'e' .. i\n"
                        "    f[#f + 1] = string.format('%d', e)\n"
                        "    if not maxe or e > maxe then maxe = e end\n"
                        "  end\n"
                        "end\n"
                        "if not maxe then return 0 end\n"
                        "for k = 1, nu do\n"
                        "  f[#f + 1] = 'u' .. (k - 1)\n"
                        "  f[#f + 1] = ARGV[5 + k]\n"
                        "end\n"
                        "redis.call('HSET', key, unpack(f))\n"
                        "local exp = maxe + grace\n"
                        "redis.call('PEXPIREAT', key, exp)\n"
                        "for k = 1, nu do\n"
                        "  local ik = prefix .. 'impu:' .. ARGV[5 + k]\n"
                        "  redis.call('SET', ik, impi)\n"
                        "  redis.call('PEXPIREAT', ik, exp)\n"
                        "end\n"
                        "return 1\n";

/* KEYS[1] the record; ARGV: prefix, impi. -> 1 deleted, 0 none. */
static const char lua_del[] =
    LUA_UNINDEX "local all = redis.call('HGETALL', KEYS[1])\n"
                "if #all == 0 then return 0 end\n"
                "unindex(all, ARGV[1], ARGV[2])\n"
                "redis.call('DEL', KEYS[1])\n"
                "return 1\n";

/* ARGV: prefix, key, "1" when the key is an IMPU. -> {now, the record's
 * fields and values...} ({now} alone: none). Reads only. */
static const char lua_get[] =
    LUA_NOW "local impi = ARGV[2]\n"
            "if ARGV[3] == '1' then\n"
            "  impi = redis.call('GET', ARGV[1] .. 'impu:' .. ARGV[2])\n"
            "  if not impi then return {now} end\n"
            "end\n"
            "local r = redis.call('HGETALL', ARGV[1] .. 'reg:' .. impi)\n"
            "return {now, unpack(r)}\n";

/* KEYS[1] the record; ARGV: prefix, impi, grace. Drops the bindings
 * expired by the server's clock. -> {now, gone, fields and values of what
 * is left...}: gone 1 when this call removed the last binding (the
 * record and its index entries with it). */
static const char lua_expire[] = LUA_NOW LUA_UNINDEX LUA_REINDEX
    "local key, prefix, impi = KEYS[1], ARGV[1], ARGV[2]\n"
    "local grace = tonumber(ARGV[3])\n"
    "local all = redis.call('HGETALL', key)\n"
    "if #all == 0 then return {now, 0} end\n"
    "local live, maxe, drop = 0, nil, {}\n"
    "for i = 1, #all, 2 do\n"
    "  local f = all[i]\n"
    "  if string.sub(f, 1, 1) == 'e' then\n"
    "    local e = tonumber(all[i + 1])\n"
    "    if e <= now then\n"
    "      drop[#drop + 1] = f\n"
    "      drop[#drop + 1] = 'b' .. string.sub(f, 2)\n"
    "    else\n"
    "      live = live + 1\n"
    "      if not maxe or e > maxe then maxe = e end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if live == 0 then\n"
    "  unindex(all, prefix, impi)\n"
    "  redis.call('DEL', key)\n"
    "  return {now, 1}\n"
    "end\n"
    "if #drop > 0 then\n"
    "  redis.call('HDEL', key, unpack(drop))\n"
    "  redis.call('PEXPIREAT', key, maxe + grace)\n"
    "  reindex(all, prefix, impi, maxe + grace)\n"
    "  all = redis.call('HGETALL', key)\n"
    "end\n"
    "return {now, 0, unpack(all)}\n";

static const char *const scripts[SC_N] = {lua_save, lua_del, lua_get,
                                          lua_expire};

/* ---------------------------------------------------------------- types */

typedef enum conn_state {
  CONN_DOWN = 0, /* no context; the retry timer runs */
  CONN_STARTING, /* connecting; SELECT and SCRIPT LOAD sent */
  CONN_READY,    /* the scripts are loaded */
} conn_state;

typedef struct redis_svc redis_svc;

typedef struct job {
  struct job *next;          /* the submit queue */
  struct job *fprev, *fnext; /* in flight */
  redis_svc *rs;
  imsec_svc_req req;
  imsec_svc_done_fn done;
  void *arg;
  int refs;         /* commands in flight carrying this job */
  int answered;     /* the final reply went out */
  int in_flight;    /* on the in-flight list */
  int evaled;       /* resent with EVAL after NOSCRIPT */
  int64_t deadline; /* monotonic ms */
  /* REG_LOAD: the records answered so far are only for this walk. */
  char *cursor;
} job;

struct redis_svc {
  imsec_svc base;
  /* Set before the thread starts, read-only after. */
  char host[256];
  int port;
  /* AUTH (Redis 6 ACL user, or the requirepass password alone): the
   * password is a secret, never logged or put in an error, wiped at the
   * end. */
  char user[128];
  char pass[256];
  int db;
  int timeout_ms;
  char prefix[PREFIX_MAX];
  size_t prefix_len;

  pthread_t th;
  int th_started;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  uv_timer_t retry;

  /* Shared with submit, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *qhead, *qtail;
  size_t qn;
  int closing;
  int started; /* the first connection settled: start_rv says how */
  int start_rv;
  char start_err[256];

  /* The loop thread's own. */
  redisAsyncContext *ac;
  conn_state state;
  int setup_left; /* SELECT and SCRIPT LOAD replies still due */
  int retry_ms;
  job *fhead, *ftail; /* in flight, oldest first */
  size_t n_flight;
  char sha[SC_N][48];
  int stopping; /* closing seen by the loop: drain, then stop */
  int stopped;  /* the handles are closing */

  /* What the metrics and control threads read of the loop's state. */
  atomic_int state_a;     /* conn_state */
  atomic_size_t flight_a; /* n_flight */
  char server[300];       /* "HOST:PORT" (never the password) */
};

/* ---------------------------------------------------------------- helpers */

static void set_state(redis_svc *rs, conn_state st) {
  rs->state = st;
  atomic_store(&rs->state_a, (int)st);
}

static int64_t mono_ms(void) {
  return (int64_t)(uv_hrtime() / 1000000u);
}

static void job_free(job *j) {
  imsec_reg_record_free(&j->req.reg);
  free(j->cursor);
  free(j);
}

static void flight_add(redis_svc *rs, job *j) {
  if (j->in_flight)
    return;
  j->in_flight = 1;
  rs->n_flight++;
  atomic_store(&rs->flight_a, rs->n_flight);
  j->fnext = NULL;
  j->fprev = rs->ftail;
  if (rs->ftail)
    rs->ftail->fnext = j;
  else
    rs->fhead = j;
  rs->ftail = j;
}

static void flight_del(redis_svc *rs, job *j) {
  if (!j->in_flight)
    return;
  j->in_flight = 0;
  rs->n_flight--;
  atomic_store(&rs->flight_a, rs->n_flight);
  if (j->fprev)
    j->fprev->fnext = j->fnext;
  else
    rs->fhead = j->fnext;
  if (j->fnext)
    j->fnext->fprev = j->fprev;
  else
    rs->ftail = j->fprev;
  j->fprev = j->fnext = NULL;
}

/* One reply to the element. `last` marks the final one: the job is
 * answered and leaves the in-flight list. */
static void reply(redis_svc *rs, job *j, int status,
                  const imsec_reg_record *reg, int gone, int last) {
  if (j->answered)
    return;
  imsec_svc_reply rep;
  memset(&rep, 0, sizeof(rep));
  rep.kind = j->req.kind;
  rep.id = j->req.id;
  rep.status = status;
  rep.reg = reg;
  rep.gone = gone;
  rep.last = last;
  if (last) {
    j->answered = 1;
    flight_del(rs, j);
  }
  j->done(j->arg, &j->req, &rep);
}

/* A command carrying `j` came back (or was dropped): free the job once
 * it is answered and nothing carries it any more. */
static void unref(job *j) {
  if (--j->refs == 0 && j->answered)
    job_free(j);
}

/* ----------------------------------------------------------- arguments */

/* A command's arguments, built in one buffer (binary-safe). */
typedef struct args {
  imsec_reg_buf b;
  size_t n, cap;
  size_t *off, *len;
  const char **argv;
} args;

static void args_free(args *a) {
  imsec_reg_buf_free(&a->b);
  free(a->off);
  free(a->len);
  free(a->argv);
  memset(a, 0, sizeof(*a));
}

static int args_slot(args *a) {
  if (a->n < a->cap)
    return 0;
  size_t nc = a->cap ? a->cap * 2 : 16;
  size_t *o = realloc(a->off, nc * sizeof(*o));
  if (!o)
    return IMSEC_ERR_NOMEM;
  a->off = o;
  size_t *l = realloc(a->len, nc * sizeof(*l));
  if (!l)
    return IMSEC_ERR_NOMEM;
  a->len = l;
  a->cap = nc;
  return 0;
}

/* Append octets to the buffer, not yet an argument of their own. */
static int args_raw(args *a, const void *p, size_t n) {
  if (n > SIZE_MAX / 2 - a->b.len)
    return IMSEC_ERR_LIMIT;
  if (a->b.len + n > a->b.cap || !a->b.p) {
    size_t nc = a->b.cap ? a->b.cap : 256;
    while (nc < a->b.len + n)
      nc *= 2;
    uint8_t *q = realloc(a->b.p, nc);
    if (!q)
      return IMSEC_ERR_NOMEM;
    a->b.p = q;
    a->b.cap = nc;
  }
  if (n)
    memcpy(a->b.p + a->b.len, p, n);
  a->b.len += n;
  return 0;
}

/* The octets from `start` to the end of the buffer become one argument
 * (recorded as offsets: the buffer may still move). */
static int args_end(args *a, size_t start) {
  IMSEC_GUARD(args_slot(a));
  a->off[a->n] = start;
  a->len[a->n] = a->b.len - start;
  a->n++;
  return 0;
}

static int args_add(args *a, const void *p, size_t n) {
  size_t start = a->b.len;
  IMSEC_GUARD(args_raw(a, p, n));
  return args_end(a, start);
}

static int args_str(args *a, const char *s) {
  return args_add(a, s, strlen(s));
}

static int args_i64(args *a, int64_t v) {
  char t[32];
  int n = snprintf(t, sizeof(t), "%lld", (long long)v);
  return args_add(a, t, (size_t)n);
}

/* A key: the prefix, its kind ("reg:", "impu:") and a name. */
static int args_key(args *a, const redis_svc *rs, const char *kind,
                    const char *name) {
  size_t start = a->b.len;
  IMSEC_GUARD(args_raw(a, rs->prefix, rs->prefix_len));
  IMSEC_GUARD(args_raw(a, kind, strlen(kind)));
  IMSEC_GUARD(args_raw(a, name, strlen(name)));
  return args_end(a, start);
}

/* An encoder's output, appended from `start`, as one argument. */
static int args_encoded(args *a, int rv, size_t start) {
  IMSEC_GUARD(rv);
  return args_end(a, start);
}

static int args_done(args *a) {
  IMSEC_GUARD(args_raw(a, "", 0)); /* a buffer, even for no octets */
  a->argv = calloc(a->n ? a->n : 1, sizeof(*a->argv));
  if (!a->argv)
    return IMSEC_ERR_NOMEM;
  for (size_t i = 0; i < a->n; i++)
    a->argv[i] = (const char *)a->b.p + a->off[i];
  return 0;
}

/* ---------------------------------------------------------------- records */

static int is_impu(const char *k) {
  return strncmp(k, "sip:", 4) == 0 || strncmp(k, "sips:", 5) == 0 ||
         strncmp(k, "tel:", 4) == 0; /* no secret: URI schemes */
}

/* "b12" -> 12. */
static int field_index(const redisReply *f, uint64_t *out) {
  if (f->type != REDIS_REPLY_STRING || f->len < 2 || f->len > 12)
    return 0;
  uint64_t v = 0;
  for (size_t i = 1; i < f->len; i++) {
    if (f->str[i] < '0' || f->str[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(f->str[i] - '0');
  }
  *out = v;
  return 1;
}

static int parse_i64(const redisReply *v, int64_t *out) {
  if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 20)
    return 0;
  char t[24];
  memcpy(t, v->str, v->len);
  t[v->len] = 0;
  char *end = NULL;
  long long x = strtoll(t, &end, 10);
  if (!end || *end)
    return 0;
  *out = (int64_t)x;
  return 1;
}

typedef struct bslot {
  uint64_t idx;
  const redisReply *blob;
  int64_t exp;
  int has_exp;
} bslot;

static int bslot_cmp(const void *a, const void *b) {
  const bslot *x = a, *y = b;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bslot *bslot_find(bslot *s, size_t n, uint64_t idx) {
  for (size_t i = 0; i < n; i++)
    if (s[i].idx == idx)
      return &s[i];
  return NULL;
}

/* The record from a hash's fields and values (el[from..n), pairs), its
 * live bindings only (expiry after now), ttl_ms relative to now. Returns
 * 0 (out->n 0: nothing live), IMSEC_ERR_IO (a value this build cannot
 * read), IMSEC_ERR_NOMEM. */
static int build_record(const redisReply *r, size_t from, int64_t now,
                        imsec_reg_record *out) {
  memset(out, 0, sizeof(*out));
  size_t pairs = (r->elements - from) / 2;
  const redisReply *head = NULL;
  bslot *s = calloc(pairs ? pairs : 1, sizeof(*s));
  if (!s)
    return IMSEC_ERR_NOMEM;
  size_t ns = 0;
  int rv = 0;
  for (size_t i = from; i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i], *v = r->element[i + 1];
    if (f->type != REDIS_REPLY_STRING || f->len < 1)
      continue;
    uint64_t idx;
    if (f->str[0] == 'h' && f->len == 1) {
      head = v;
    } else if ((f->str[0] == 'b' || f->str[0] == 'e') && field_index(f, &idx)) {
      bslot *b = bslot_find(s, ns, idx);
      if (!b) {
        b = &s[ns++];
        b->idx = idx;
      }
      if (f->str[0] == 'b')
        b->blob = v;
      else
        b->has_exp = parse_i64(v, &b->exp);
    }
  }
  if (!head || head->type != REDIS_REPLY_STRING) {
    free(s);
    return 0; /* nothing (or a hash not ours): no record */
  }
  qsort(s, ns, sizeof(*s), bslot_cmp);
  size_t live = 0;
  for (size_t i = 0; i < ns; i++)
    if (s[i].blob && s[i].blob->type == REDIS_REPLY_STRING && s[i].has_exp &&
        s[i].exp > now)
      live++;
  if (!live) {
    free(s);
    return 0;
  }
  rv = imsec_reg_decode_head((const uint8_t *)head->str, head->len, out);
  if (rv < 0) {
    free(s);
    return rv == IMSEC_ERR_NOMEM ? rv : IMSEC_ERR_IO;
  }
  out->b = calloc(live, sizeof(*out->b));
  if (!out->b)
    rv = IMSEC_ERR_NOMEM;
  for (size_t i = 0; rv == 0 && i < ns; i++) {
    if (!s[i].blob || s[i].blob->type != REDIS_REPLY_STRING || !s[i].has_exp ||
        s[i].exp <= now)
      continue;
    rv = imsec_reg_decode_binding((const uint8_t *)s[i].blob->str,
                                  s[i].blob->len, &out->b[out->n]);
    if (rv < 0) {
      rv = rv == IMSEC_ERR_NOMEM ? rv : IMSEC_ERR_IO;
      break;
    }
    out->b[out->n].ttl_ms = s[i].exp - now;
    out->n++;
  }
  free(s);
  if (rv < 0)
    imsec_reg_record_free(out);
  return rv;
}

/* -------------------------------------------------------------- commands */

static void on_reply(redisAsyncContext *ac, void *r, void *priv);
static void on_scan(redisAsyncContext *ac, void *r, void *priv);
static void on_load_one(redisAsyncContext *ac, void *r, void *priv);
static void on_load_end(redisAsyncContext *ac, void *r, void *priv);
static void pump(redis_svc *rs);

static int send_argv(redis_svc *rs, job *j, redisCallbackFn *fn, args *a) {
  IMSEC_GUARD(args_done(a));
  if (redisAsyncCommandArgv(rs->ac, fn, j, (int)a->n, a->argv, a->len) !=
      REDIS_OK)
    return IMSEC_ERR_IO;
  j->refs++;
  j->deadline = mono_ms() + rs->timeout_ms;
  flight_add(rs, j);
  return 0;
}

/* "EVALSHA sha" or, after a NOSCRIPT (a server whose script cache was
 * flushed), "EVAL body". */
static int args_script(args *a, const redis_svc *rs, const job *j, int sc,
                       int nkeys) {
  if (j->evaled || !rs->sha[sc][0]) {
    IMSEC_GUARD(args_str(a, "EVAL"));
    IMSEC_GUARD(args_str(a, scripts[sc]));
  } else {
    IMSEC_GUARD(args_str(a, "EVALSHA"));
    IMSEC_GUARD(args_str(a, rs->sha[sc]));
  }
  return args_i64(a, nkeys);
}

static int build_save(args *a, const redis_svc *rs, const job *j) {
  const imsec_reg_record *r = &j->req.reg;
  if (!r->impi)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(args_script(a, rs, j, SC_SAVE, 1));
  IMSEC_GUARD(args_key(a, rs, "reg:", r->impi));
  IMSEC_GUARD(args_str(a, rs->prefix));
  IMSEC_GUARD(args_str(a, r->impi));
  IMSEC_GUARD(args_i64(a, GRACE_MS));
  size_t start = a->b.len;
  IMSEC_GUARD(args_encoded(a, imsec_reg_encode_head(&a->b, r), start));
  IMSEC_GUARD(args_i64(a, (int64_t)r->n_impus));
  for (size_t i = 0; i < r->n_impus; i++)
    IMSEC_GUARD(args_str(a, r->impus[i] ? r->impus[i] : ""));
  IMSEC_GUARD(args_i64(a, (int64_t)r->n));
  for (size_t i = 0; i < r->n; i++) {
    start = a->b.len;
    IMSEC_GUARD(
        args_encoded(a, imsec_reg_encode_binding(&a->b, &r->b[i]), start));
    int64_t ttl = r->b[i].ttl_ms;
    IMSEC_GUARD(args_i64(a, ttl > TTL_MAX ? TTL_MAX : ttl));
  }
  return 0;
}

/* by_impi: the key is an IMPI whatever it looks like (a REG_LOAD walk
 * reads IMPIs out of key names). */
static int build_get(args *a, const redis_svc *rs, const job *j,
                     const char *key, int by_impi) {
  IMSEC_GUARD(args_script(a, rs, j, SC_GET, 0));
  IMSEC_GUARD(args_str(a, rs->prefix));
  IMSEC_GUARD(args_str(a, key));
  return args_str(a, !by_impi && is_impu(key) ? "1" : "0");
}

/* The MATCH pattern of a SCAN: the prefix with glob characters escaped. */
static int build_scan(args *a, const redis_svc *rs, const char *cursor) {
  IMSEC_GUARD(args_str(a, "SCAN"));
  IMSEC_GUARD(args_str(a, cursor));
  IMSEC_GUARD(args_str(a, "MATCH"));
  char pat[2 * PREFIX_MAX + 8];
  size_t n = 0;
  for (size_t i = 0; i < rs->prefix_len; i++) {
    char c = rs->prefix[i];
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
      pat[n++] = '\\';
    pat[n++] = c;
  }
  memcpy(pat + n, "reg:*", 5);
  n += 5;
  IMSEC_GUARD(args_add(a, pat, n));
  IMSEC_GUARD(args_str(a, "COUNT"));
  return args_str(a, SCAN_COUNT);
}

/* Send the job's command. Returns 0 or a negative imsec_err (then the
 * caller answers it). */
static int send_job(redis_svc *rs, job *j) {
  args a;
  memset(&a, 0, sizeof(a));
  int rv;
  redisCallbackFn *fn = on_reply;
  const imsec_svc_req *q = &j->req;
  switch (q->kind) {
  case IMSEC_SVC_REG_SAVE:
    rv = build_save(&a, rs, j);
    break;
  case IMSEC_SVC_REG_DELETE:
    rv = args_script(&a, rs, j, SC_DEL, 1);
    if (rv == 0)
      rv = args_key(&a, rs, "reg:", q->key);
    if (rv == 0)
      rv = args_str(&a, rs->prefix);
    if (rv == 0)
      rv = args_str(&a, q->key);
    break;
  case IMSEC_SVC_REG_GET:
    rv = build_get(&a, rs, j, q->key, 0);
    break;
  case IMSEC_SVC_REG_EXPIRE:
    rv = args_script(&a, rs, j, SC_EXPIRE, 1);
    if (rv == 0)
      rv = args_key(&a, rs, "reg:", q->key);
    if (rv == 0)
      rv = args_str(&a, rs->prefix);
    if (rv == 0)
      rv = args_str(&a, q->key);
    if (rv == 0)
      rv = args_i64(&a, GRACE_MS);
    break;
  case IMSEC_SVC_REG_LOAD:
    rv = build_scan(&a, rs, j->cursor ? j->cursor : "0");
    fn = on_scan;
    break;
  default:
    rv = IMSEC_ERR_UNSUPPORTED;
  }
  if (rv == 0)
    rv = send_argv(rs, j, fn, &a);
  args_free(&a);
  return rv;
}

/* The status a missing reply stands for: the connection was dropped
 * after a timeout, by the server, or because the service closes. */
static int lost_status(redis_svc *rs, job *j) {
  (void)j;
  return rs->stopping ? IMSEC_ERR_CLOSED : IMSEC_ERR_IO;
}

static int is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
         memcmp(r->str, "NOSCRIPT", 8) == 0; /* no secret: a reply code */
}

/* A script's NOSCRIPT: send it again with its body, once. Returns 1 when
 * resent. */
static int resend_eval(redis_svc *rs, job *j, const redisReply *r) {
  if (!is_noscript(r) || j->evaled || !rs->ac)
    return 0;
  j->evaled = 1;
  return send_job(rs, j) == 0;
}

/* The start of every reply callback: a job already answered (a time-out
 * or a lost connection got there first), or no reply at all (the
 * connection went), is done with here. Returns 1 when the callback has
 * nothing left to do (the callback's reference is dropped). */
static int settled(redis_svc *rs, job *j, const redisReply *r) {
  if (!j->answered && !r)
    reply(rs, j, lost_status(rs, j), NULL, 0, 1);
  if (j->answered) {
    unref(j);
    return 1;
  }
  return 0;
}

static void on_reply_body(redisAsyncContext *ac, void *rp, void *priv) {
  (void)ac;
  job *j = priv;
  redis_svc *rs = j->rs;
  const redisReply *r = rp;
  if (settled(rs, j, r))
    return;
  if (resend_eval(rs, j, r)) {
    unref(j);
    return;
  }
  int status = 0, gone = 0;
  imsec_reg_record rec;
  memset(&rec, 0, sizeof(rec));
  if (r->type == REDIS_REPLY_ERROR) {
    status = IMSEC_ERR_IO;
  } else {
    switch (j->req.kind) {
    case IMSEC_SVC_REG_SAVE:
      status = r->type == REDIS_REPLY_INTEGER ? 0 : IMSEC_ERR_IO;
      break;
    case IMSEC_SVC_REG_DELETE:
      status = r->type != REDIS_REPLY_INTEGER ? IMSEC_ERR_IO
               : r->integer                   ? 0
                                              : IMSEC_ERR_NOTFOUND;
      break;
    case IMSEC_SVC_REG_GET:
    case IMSEC_SVC_REG_EXPIRE: {
      size_t from = j->req.kind == IMSEC_SVC_REG_GET ? 1 : 2;
      if (r->type != REDIS_REPLY_ARRAY || r->elements < from ||
          r->element[0]->type != REDIS_REPLY_INTEGER ||
          (from == 2 && r->element[1]->type != REDIS_REPLY_INTEGER)) {
        status = IMSEC_ERR_IO;
        break;
      }
      if (from == 2)
        gone = r->element[1]->integer == 1;
      status = build_record(r, from, (int64_t)r->element[0]->integer, &rec);
      if (status == 0 && rec.n == 0 && j->req.kind == IMSEC_SVC_REG_GET)
        status = IMSEC_ERR_NOTFOUND;
      break;
    }
    default:
      status = IMSEC_ERR_INTERNAL;
    }
  }
  reply(rs, j, status, status == 0 && rec.n ? &rec : NULL, gone, 1);
  imsec_reg_record_free(&rec);
  unref(j);
}

/* REG_LOAD: a page of keys. Ask for each record, then the next page
 * (or an end marker); Redis answers them in this order. */
static void on_scan_body(redisAsyncContext *ac, void *rp, void *priv) {
  (void)ac;
  job *j = priv;
  redis_svc *rs = j->rs;
  const redisReply *r = rp;
  if (settled(rs, j, r))
    return;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_ARRAY || !rs->ac) {
    reply(rs, j, IMSEC_ERR_IO, NULL, 0, 1);
    unref(j);
    return;
  }
  const redisReply *keys = r->element[1];
  size_t skip = rs->prefix_len + 4; /* "reg:" */
  int rv = 0;
  for (size_t i = 0; rv == 0 && i < keys->elements; i++) {
    const redisReply *k = keys->element[i];
    if (k->type != REDIS_REPLY_STRING || k->len <= skip ||
        memchr(k->str, 0, k->len))
      continue;
    args a;
    memset(&a, 0, sizeof(a));
    rv = build_get(&a, rs, j, k->str + skip, 1);
    if (rv == 0)
      rv = send_argv(rs, j, on_load_one, &a);
    args_free(&a);
  }
  const redisReply *cur = r->element[0];
  int end = cur->len == 1 && cur->str[0] == '0';
  if (rv == 0 && !end) {
    char *c = malloc(cur->len + 1);
    if (!c) {
      rv = IMSEC_ERR_NOMEM;
    } else {
      memcpy(c, cur->str, cur->len);
      c[cur->len] = 0;
      free(j->cursor);
      j->cursor = c;
      rv = send_job(rs, j);
    }
  } else if (rv == 0) {
    const char *ping[1] = {"PING"};
    size_t plen[1] = {4};
    if (redisAsyncCommandArgv(rs->ac, on_load_end, j, 1, ping, plen) !=
        REDIS_OK)
      rv = IMSEC_ERR_IO;
    else
      j->refs++;
  }
  if (rv < 0)
    reply(rs, j, rv, NULL, 0, 1);
  unref(j);
}

static void on_load_one_body(redisAsyncContext *ac, void *rp, void *priv) {
  (void)ac;
  job *j = priv;
  redis_svc *rs = j->rs;
  const redisReply *r = rp;
  if (settled(rs, j, r))
    return;
  /* A NOSCRIPT here fails the walk: the next REG_LOAD runs after a
   * reconnect has loaded the scripts again. */
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
      r->element[0]->type != REDIS_REPLY_INTEGER) {
    reply(rs, j, IMSEC_ERR_IO, NULL, 0, 1);
    unref(j);
    return;
  }
  j->deadline = mono_ms() + rs->timeout_ms;
  imsec_reg_record rec;
  int rv = build_record(r, 1, (int64_t)r->element[0]->integer, &rec);
  if (rv < 0)
    reply(rs, j, rv, NULL, 0, 1);
  else if (rec.n)
    reply(rs, j, 0, &rec, 0, 0);
  imsec_reg_record_free(&rec);
  unref(j);
}

static void on_load_end_body(redisAsyncContext *ac, void *rp, void *priv) {
  (void)ac;
  job *j = priv;
  if (!j->answered)
    reply(j->rs, j, rp ? 0 : lost_status(j->rs, j), NULL, 0, 1);
  unref(j);
}

/* Each reply may free a place in flight: take the next requests. */
static void on_reply(redisAsyncContext *ac, void *rp, void *priv) {
  redis_svc *rs = ((job *)priv)->rs;
  on_reply_body(ac, rp, priv);
  pump(rs);
}

static void on_scan(redisAsyncContext *ac, void *rp, void *priv) {
  redis_svc *rs = ((job *)priv)->rs;
  on_scan_body(ac, rp, priv);
  pump(rs);
}

static void on_load_one(redisAsyncContext *ac, void *rp, void *priv) {
  redis_svc *rs = ((job *)priv)->rs;
  on_load_one_body(ac, rp, priv);
  pump(rs);
}

static void on_load_end(redisAsyncContext *ac, void *rp, void *priv) {
  redis_svc *rs = ((job *)priv)->rs;
  on_load_end_body(ac, rp, priv);
  pump(rs);
}

/* ------------------------------------------------------------ connection */

static void start_settled(redis_svc *rs, int rv, const char *why) {
  pthread_mutex_lock(&rs->mu);
  if (!rs->started) {
    rs->started = 1;
    rs->start_rv = rv;
    if (why) {
      size_t n = strlen(why);
      if (n >= sizeof(rs->start_err))
        n = sizeof(rs->start_err) - 1;
      memcpy(rs->start_err, why, n);
      rs->start_err[n] = 0;
    }
    pthread_cond_broadcast(&rs->cv);
  }
  pthread_mutex_unlock(&rs->mu);
}

static void connect_now(redis_svc *rs);

static void on_retry(uv_timer_t *t) {
  redis_svc *rs = t->data;
  if (!rs->ac && !rs->stopping)
    connect_now(rs);
}

static void schedule_retry(redis_svc *rs) {
  if (rs->stopping)
    return;
  uv_timer_start(&rs->retry, on_retry, (uint64_t)rs->retry_ms, 0);
  rs->retry_ms =
      rs->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : rs->retry_ms * 2;
}

static void on_setup(redisAsyncContext *ac, void *rp, void *priv) {
  redis_svc *rs = ac->data;
  const redisReply *r = rp;
  intptr_t sc = (intptr_t)priv; /* -1: SELECT, -2: AUTH */
  if (!r || rs->ac != ac)
    return; /* the connection went: its callbacks say so */
  if (r->type == REDIS_REPLY_ERROR) {
    char why[300];
    snprintf(why, sizeof(why), "%s", r->str ? r->str : "error");
    start_settled(rs, IMSEC_ERR_IO, why);
    return;
  }
  if (sc >= 0 && sc < SC_N && r->type == REDIS_REPLY_STRING &&
      r->len < sizeof(rs->sha[sc])) {
    memcpy(rs->sha[sc], r->str, r->len);
    rs->sha[sc][r->len] = 0;
  }
  if (--rs->setup_left == 0) {
    set_state(rs, CONN_READY);
    rs->retry_ms = RETRY_MIN_MS;
    start_settled(rs, 0, NULL);
  }
}

static void on_connect(const redisAsyncContext *ac, int status) {
  redis_svc *rs = ac->data;
  if (status != REDIS_OK) {
    /* hiredis frees the context after this call, and answers what was
     * queued on it with NULL replies. */
    if (rs->ac == ac) {
      rs->ac = NULL;
      set_state(rs, CONN_DOWN);
    }
    char why[300];
    snprintf(why, sizeof(why), "%s", ac->errstr ? ac->errstr : "refused");
    start_settled(rs, IMSEC_ERR_IO, why);
    schedule_retry(rs);
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  redis_svc *rs = ac->data;
  if (rs->ac == ac) {
    rs->ac = NULL;
    set_state(rs, CONN_DOWN);
    schedule_retry(rs);
  }
}

/* Drop the connection ourselves (a timeout, closing): hiredis answers
 * every command still on it with a NULL reply. */
static void drop_conn(redis_svc *rs) {
  redisAsyncContext *ac = rs->ac;
  if (!ac)
    return;
  rs->ac = NULL;
  set_state(rs, CONN_DOWN);
  redisAsyncFree(ac);
  schedule_retry(rs);
}

static void connect_now(redis_svc *rs) {
  redisAsyncContext *ac = redisAsyncConnect(rs->host, rs->port);
  if (!ac) {
    start_settled(rs, IMSEC_ERR_NOMEM, "out of memory");
    schedule_retry(rs);
    return;
  }
  if (ac->err) {
    char why[300];
    snprintf(why, sizeof(why), "%s", ac->errstr);
    redisAsyncFree(ac);
    start_settled(rs, IMSEC_ERR_IO, why);
    schedule_retry(rs);
    return;
  }
  ac->data = rs;
  if (redisLibuvAttach(ac, &rs->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    start_settled(rs, IMSEC_ERR_IO, "cannot attach to the loop");
    schedule_retry(rs);
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  rs->ac = ac;
  set_state(rs, CONN_STARTING);
  rs->setup_left = 0;
  /* Sent ahead of every request: hiredis queues them until the socket
   * connects, and Redis runs a connection's commands in order. */
  int bad = 0;
  if (rs->pass[0]) {
    /* Binary-safe arguments: nothing of the password in a format. */
    const char *argv[3] = {"AUTH", rs->user, rs->pass};
    size_t lens[3] = {4, strlen(rs->user), strlen(rs->pass)};
    int n = rs->user[0] ? 3 : 2;
    if (!rs->user[0]) {
      argv[1] = rs->pass;
      lens[1] = lens[2];
    }
    bad |= redisAsyncCommandArgv(ac, on_setup, (void *)(intptr_t)-2, n, argv,
                                 lens) != REDIS_OK;
    rs->setup_left++;
  }
  if (rs->db) {
    char db[16];
    snprintf(db, sizeof(db), "%d", rs->db);
    bad |= redisAsyncCommand(ac, on_setup, (void *)(intptr_t)-1, "SELECT %s",
                             db) != REDIS_OK;
    rs->setup_left++;
  }
  for (intptr_t i = 0; i < SC_N; i++) {
    bad |= redisAsyncCommand(ac, on_setup, (void *)i, "SCRIPT LOAD %s",
                             scripts[i]) != REDIS_OK;
    rs->setup_left++;
  }
  if (bad)
    drop_conn(rs);
}

/* ---------------------------------------------------------------- loop */

static void answer_now(redis_svc *rs, job *j, int status) {
  reply(rs, j, status, NULL, 0, 1);
  if (j->refs == 0)
    job_free(j);
}

static void maybe_stop(redis_svc *rs) {
  if (!rs->stopping || rs->stopped || rs->fhead)
    return;
  pthread_mutex_lock(&rs->mu);
  int queued = rs->qhead != NULL;
  pthread_mutex_unlock(&rs->mu);
  if (queued)
    return;
  rs->stopped = 1;
  uv_timer_stop(&rs->tick);
  uv_timer_stop(&rs->retry);
  if (rs->ac) {
    redisAsyncContext *ac = rs->ac;
    rs->ac = NULL;
    redisAsyncFree(ac);
  }
  /* Under the lock: submit sends its wake-up holding it, and has seen
   * `closing` by then, so none reaches the closed handle. */
  pthread_mutex_lock(&rs->mu);
  uv_close((uv_handle_t *)&rs->wake, NULL);
  pthread_mutex_unlock(&rs->mu);
  uv_close((uv_handle_t *)&rs->tick, NULL);
  uv_close((uv_handle_t *)&rs->retry, NULL);
}

/* Move queued requests onto the connection while fewer than INFLIGHT_MAX
 * are in flight (the rest wait in the bounded queue: a slow server
 * pushes back on submit with IMSEC_ERR_BUSY instead of growing hiredis's
 * buffers without end). With no connection they are answered at once. */
static void pump(redis_svc *rs) {
  for (;;) {
    pthread_mutex_lock(&rs->mu);
    job *j = NULL;
    if (rs->qhead && (!rs->ac || rs->n_flight < INFLIGHT_MAX)) {
      j = rs->qhead;
      rs->qhead = j->next;
      if (!rs->qhead)
        rs->qtail = NULL;
      rs->qn--;
    }
    int closing = rs->closing;
    pthread_mutex_unlock(&rs->mu);
    if (!j)
      return;
    j->next = NULL;
    if (!rs->ac) {
      answer_now(rs, j, closing ? IMSEC_ERR_CLOSED : IMSEC_ERR_IO);
      continue;
    }
    int rv = send_job(rs, j);
    if (rv < 0)
      answer_now(rs, j, rv);
  }
}

static void on_wake(uv_async_t *a) {
  redis_svc *rs = a->data;
  pump(rs);
  pthread_mutex_lock(&rs->mu);
  int closing = rs->closing;
  pthread_mutex_unlock(&rs->mu);
  if (closing && !rs->stopping) {
    rs->stopping = 1;
    uv_timer_stop(&rs->retry);
  }
  maybe_stop(rs);
}

/* The oldest request in flight is past its deadline: the server stopped
 * answering. Everything on the connection is answered TIMEOUT and the
 * connection made again. */
static void on_tick(uv_timer_t *t) {
  redis_svc *rs = t->data;
  int64_t now = mono_ms();
  job *j = rs->fhead;
  int late = 0;
  for (; j; j = j->fnext)
    if (j->deadline <= now) {
      late = 1;
      break;
    }
  if (late) {
    while (rs->fhead)
      reply(rs, rs->fhead, IMSEC_ERR_TIMEOUT, NULL, 0, 1);
    drop_conn(rs);
    pump(rs); /* what waited in the queue: answered at once */
  }
  maybe_stop(rs);
}

static void *run(void *arg) {
  redis_svc *rs = arg;
  connect_now(rs);
  uv_run(&rs->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* ---------------------------------------------------------------- vtable */

static int rs_submit(imsec_svc *s, imsec_svc_req *req, imsec_svc_done_fn done,
                     void *arg) {
  redis_svc *rs = (redis_svc *)s;
  job *j = calloc(1, sizeof(*j));
  if (!j) {
    imsec_reg_record_free(&req->reg);
    return IMSEC_ERR_NOMEM;
  }
  j->req = *req;
  memset(&req->reg, 0, sizeof(req->reg));
  j->done = done;
  j->arg = arg;
  j->rs = rs;
  pthread_mutex_lock(&rs->mu);
  int rv = rs->closing           ? IMSEC_ERR_CLOSED
           : rs->qn >= QUEUE_MAX ? IMSEC_ERR_BUSY
                                 : 0;
  if (rv == 0) {
    if (rs->qtail)
      rs->qtail->next = j;
    else
      rs->qhead = j;
    rs->qtail = j;
    rs->qn++;
    uv_async_send(&rs->wake);
  }
  pthread_mutex_unlock(&rs->mu);
  if (rv < 0) {
    job_free(j);
    return rv;
  }
  return 0;
}

static void rs_destroy(imsec_svc *s) {
  redis_svc *rs = (redis_svc *)s;
  if (rs->th_started) {
    pthread_mutex_lock(&rs->mu);
    rs->closing = 1;
    uv_async_send(&rs->wake);
    pthread_mutex_unlock(&rs->mu);
    pthread_join(rs->th, NULL);
    (void)uv_loop_close(&rs->loop);
  }
  pthread_mutex_destroy(&rs->mu);
  pthread_cond_destroy(&rs->cv);
  imsec_wipe(rs->pass, sizeof(rs->pass));
  free(rs);
}

/* Operations (svc.h: from any thread). */
static void rs_metrics(imsec_svc *s, struct imsec_metrics *m) {
  redis_svc *rs = (redis_svc *)s;
  pthread_mutex_lock(&rs->mu);
  size_t queued = rs->qn;
  pthread_mutex_unlock(&rs->mu);
  size_t flight = atomic_load(&rs->flight_a);
  int up = atomic_load(&rs->state_a) == CONN_READY;
  (void)imsec_metrics_declare(
      m, "imsec_redis_up", IMSEC_METRIC_GAUGE,
      "Redis servers by address: 1 connected with the scripts loaded, 0 "
      "not");
  (void)imsec_metrics_add(m, "imsec_redis_up", up, "server", rs->server,
                          (const char *)NULL);
  (void)imsec_metrics_declare(
      m, "imsec_store_queue_depth", IMSEC_METRIC_GAUGE,
      "Store requests queued and not yet carried out, by store");
  /* Redis's queue: waiting for the connection, and sent without an
   * answer yet. */
  (void)imsec_metrics_add(m, "imsec_store_queue_depth",
                          (double)(queued + flight), "store", "registrations",
                          (const char *)NULL);
}

static int rs_list(imsec_svc *s, const char *what, struct imsec_table *t) {
  redis_svc *rs = (redis_svc *)s;
  if (strcmp(what, "peers") != 0) /* no secret: a listing's name */
    return IMSEC_ERR_UNSUPPORTED;
  /* The columns of the Diameter peers' rows (store/cx_core.h), so an
   * S-CSCF's listing shows both. */
  static const char *const cols[] = {"peer", "kind", "state", "detail"};
  IMSEC_GUARD(imsec_table_init(t, cols, 4));
  static const char *const states[] = {"down", "connecting", "up"};
  int st = atomic_load(&rs->state_a);
  pthread_mutex_lock(&rs->mu);
  size_t queued = rs->qn;
  pthread_mutex_unlock(&rs->mu);
  char detail[128];
  snprintf(detail, sizeof detail, "db=%d queued=%zu in_flight=%zu", rs->db,
           queued, (size_t)atomic_load(&rs->flight_a));
  const char *cells[4] = {rs->server, "redis",
                          st >= 0 && st <= 2 ? states[st] : "unknown", detail};
  return imsec_table_add(t, cells);
}

static const imsec_svc_vtable redis_vt = {.submit = rs_submit,
                                          .destroy = rs_destroy,
                                          .metrics = rs_metrics,
                                          .list = rs_list};

/* ---------------------------------------------------------------- new */

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decode [p, e) into out (RFC 3986 §2.1). */
static int decode_part(const char *p, const char *e, char *out, size_t cap) {
  size_t n = 0;
  while (p < e) {
    int c = (unsigned char)*p++;
    if (c == '%') {
      int hi = e - p >= 2 ? hexval(p[0]) : -1;
      int lo = e - p >= 2 ? hexval(p[1]) : -1;
      if (hi < 0 || lo < 0)
        return IMSEC_ERR_INVAL;
      c = hi << 4 | lo;
      p += 2;
    }
    if (c == 0 || n + 1 >= cap)
      return IMSEC_ERR_INVAL;
    out[n++] = (char)c;
  }
  out[n] = 0;
  return 0;
}

/* "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", HOST a name, an IPv4
 * literal or [IPv6]; USER and PASSWORD percent-encoded. */
static int parse_url(redis_svc *rs, const char *url) {
  static const char scheme[] = "redis://";
  if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) /* no secret: a scheme */
    return IMSEC_ERR_INVAL;
  const char *p = url + sizeof(scheme) - 1;
  const char *auth_end = p + strcspn(p, "/");
  const char *at = NULL;
  for (const char *q = p; q < auth_end; q++)
    if (*q == '@')
      at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon)
      colon = p - 1; /* the password alone */
    if (colon >= p)
      IMSEC_GUARD(decode_part(p, colon, rs->user, sizeof(rs->user)));
    IMSEC_GUARD(decode_part(colon + 1, at, rs->pass, sizeof(rs->pass)));
    if (!rs->pass[0])
      return IMSEC_ERR_INVAL;
    p = at + 1;
  }
  const char *h = p, *he;
  if (*p == '[') {
    h = p + 1;
    he = strchr(h, ']');
    if (!he)
      return IMSEC_ERR_INVAL;
    p = he + 1;
  } else {
    he = p + strcspn(p, ":/");
    p = he;
  }
  if (he == h || (size_t)(he - h) >= sizeof(rs->host))
    return IMSEC_ERR_INVAL;
  memcpy(rs->host, h, (size_t)(he - h));
  rs->host[he - h] = 0;
  rs->port = 6379;
  if (*p == ':') {
    p++;
    long v = 0;
    const char *d = p;
    while (*p >= '0' && *p <= '9' && v <= 65535)
      v = v * 10 + (*p++ - '0');
    if (p == d || v < 1 || v > 65535)
      return IMSEC_ERR_INVAL;
    rs->port = (int)v;
  }
  rs->db = 0;
  if (*p == '/') {
    p++;
    long v = 0;
    const char *d = p;
    while (*p >= '0' && *p <= '9' && v <= 100000)
      v = v * 10 + (*p++ - '0');
    if (p != d && v > 100000)
      return IMSEC_ERR_INVAL;
    rs->db = (int)v;
  }
  return *p ? IMSEC_ERR_INVAL : 0;
}

/* The URL without its user and password, for messages. */
static const char *shown_url(const char *url, char *buf, size_t cap) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *end = p + strcspn(p, "/");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@')
      at = q;
  if (!at)
    return url;
  snprintf(buf, cap, "redis://%s", at + 1);
  return buf;
}

int imsec_redis_svc_new(imsec_svc **out, const char *url,
                        const imsec_redis_opts *o, char *err, size_t errcap) {
  if (err && errcap)
    err[0] = 0;
  if (!out || !url)
    return IMSEC_ERR_INVAL;
  *out = NULL;
  char shown[300];
  redis_svc *rs = calloc(1, sizeof(*rs));
  if (!rs)
    return IMSEC_ERR_NOMEM;
  rs->base.vt = &redis_vt;
  pthread_mutex_init(&rs->mu, NULL);
  pthread_cond_init(&rs->cv, NULL);
  int rv = parse_url(rs, url);
  if (rv < 0) {
    if (err && errcap)
      snprintf(err, errcap, "%s: not redis://[[USER]:PASSWORD@]HOST:PORT/DB",
               shown_url(url, shown, sizeof(shown)));
    goto fail;
  }
  if (strchr(rs->host, ':'))
    snprintf(rs->server, sizeof rs->server, "[%s]:%d", rs->host, rs->port);
  else
    snprintf(rs->server, sizeof rs->server, "%s:%d", rs->host, rs->port);
  rs->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  const char *prefix = o && o->prefix ? o->prefix : DEFAULT_PREFIX;
  rs->prefix_len = strlen(prefix);
  if (rs->prefix_len >= PREFIX_MAX) {
    if (err && errcap)
      snprintf(err, errcap, "key prefix %s: longer than %d octets", prefix,
               PREFIX_MAX - 1);
    rv = IMSEC_ERR_INVAL;
    goto fail;
  }
  memcpy(rs->prefix, prefix, rs->prefix_len + 1);
  rs->retry_ms = RETRY_MIN_MS;
  rv = IMSEC_ERR_NOMEM;
  if (uv_loop_init(&rs->loop) != 0)
    goto fail;
  if (uv_async_init(&rs->loop, &rs->wake, on_wake) != 0)
    goto fail_loop;
  rs->wake.data = rs;
  uv_timer_init(&rs->loop, &rs->tick);
  rs->tick.data = rs;
  uv_timer_init(&rs->loop, &rs->retry);
  rs->retry.data = rs;
  uint64_t every = (uint64_t)(rs->timeout_ms / 4);
  every = every < 5 ? 5 : every > 100 ? 100 : every;
  uv_timer_start(&rs->tick, on_tick, every, every);
  if (pthread_create(&rs->th, NULL, run, rs) != 0)
    goto fail_handles;
  rs->th_started = 1;
  /* Wait for the first connection to settle: a wrong address or a server
   * that is not there is the operator's to know at start. */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  int64_t wait_ms = rs->timeout_ms < 1000 ? 1000 : rs->timeout_ms;
  until.tv_sec += (time_t)(wait_ms / 1000);
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&rs->mu);
  while (!rs->started)
    if (pthread_cond_timedwait(&rs->cv, &rs->mu, &until) != 0)
      break;
  if (!rs->started) {
    rs->started = 1;
    rs->start_rv = IMSEC_ERR_IO;
    snprintf(rs->start_err, sizeof(rs->start_err), "no answer within %lld ms",
             (long long)wait_ms);
  }
  rv = rs->start_rv;
  pthread_mutex_unlock(&rs->mu);
  if (rv < 0) {
    if (err && errcap)
      snprintf(err, errcap, "cannot connect to %s: %s",
               shown_url(url, shown, sizeof(shown)), rs->start_err);
    rs_destroy(&rs->base);
    return rv;
  }
  *out = &rs->base;
  return 0;
fail_handles:
  uv_close((uv_handle_t *)&rs->tick, NULL);
  uv_close((uv_handle_t *)&rs->retry, NULL);
  uv_close((uv_handle_t *)&rs->wake, NULL);
  uv_run(&rs->loop, UV_RUN_DEFAULT);
fail_loop:
  (void)uv_loop_close(&rs->loop);
fail:
  pthread_mutex_destroy(&rs->mu);
  pthread_cond_destroy(&rs->cv);
  imsec_wipe(rs->pass, sizeof(rs->pass));
  free(rs);
  return rv;
}
