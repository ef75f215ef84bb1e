/* The subscriber store in PostgreSQL (include/imsec/hss_pg.h, libpq):
 * the tables of the SQLite store (store/hss_db.c, schema version 2: IMS
 * AKA and SIP Digest subscribers) for several HSS front-ends over one
 * database.
 *
 * Every call is one statement in its own transaction (autocommit), with
 * synchronous_commit on: durable when it returns, as save_sqn requires.
 * The SQN mark moves by compare and set (reserve_sqn): one UPDATE whose
 * WHERE names the state the front-end read. Under READ COMMITTED a
 * concurrent UPDATE of the same row waits for the other to commit and then
 * evaluates its WHERE against the row the other wrote, so of two
 * front-ends that read the same mark exactly one moves it; the other
 * changes nothing, hears IMSEC_ERR_STALE and reads again (lib/hss/hss.c).
 * No SQN is handed out twice (TS 33.102 C.3).
 *
 * Secrets: K, OP/OPc and the H(A1)s go to the server as binary parameters
 * and come back in binary results; the copies in a result are wiped
 * before it is freed. Nothing here logs; the error text never carries
 * the connection string's password.
 *
 * Results are asked for in binary (every column's type fixed by a cast in
 * the query): numbers arrive as big-endian integers, text and bytea as
 * their octets. Waits are bounded: lock_timeout (the per-call wait of
 * imsec_hss_db_opts) and statement_timeout on the server, connect_timeout
 * and TCP keepalives on the client. A lost connection is re-opened at the
 * next call; a read, or an SQN write (retrying it is harmless: the
 * compare and set then finds its own write and the HSS reads again), is
 * tried once more on the new connection. */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "imsec/hss.h"
#include "imsec/hss_pg.h"

#define SCHEMA_VERSION 2
#define DEFAULT_WAIT_MS 250
#define STATEMENT_SLACK_MS 5000
#define DEFAULT_CONNECT_S 5
/* pg_advisory_xact_lock key of the schema install ("imsecHSS"): two
 * front-ends that start on an empty database at once install it once. */
#define INSTALL_LOCK 0x696d736563485353LL

/* Type OIDs (pg_type.h, stable across server versions). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25

#define MD5_LEN 16
#define SHA256_LEN 32

/* The columns of a subscriber row (SUB_COLS) in every query that reads
 * one. */
enum {
  C_IMPI,
  C_K,
  C_OP,
  C_OPC,
  C_AMF,
  C_SEQ,
  C_IND,
  C_AKA,
  C_SCHEME,
  C_REALM,
  C_MD5,
  C_SHA,
  C_IMPUS,
  C_N
};

/* The IMPUs come with the row as one text, in order, separated by a
 * newline (no identity holds one: imsec_hss_sub_check), so a record is
 * one statement and one snapshot. */
#define IMPUS_COL                                                              \
  "(SELECT string_agg(u.impu, E'\\n' ORDER BY u.pos) FROM impu u"              \
  " WHERE u.impi = s.impi)"
#define SUB_COLS                                                               \
  "SELECT s.impi, s.k, s.op, s.op_is_opc::int4, s.amf, s.seq::int8,"           \
  " s.ind_next::int4, s.aka::int4, s.scheme::int4, s.realm, s.ha1_md5,"        \
  " s.ha1_sha256, " IMPUS_COL " FROM subscriber s"

typedef enum q_id {
  Q_LOAD,
  Q_FIND,
  Q_SAVE,
  Q_RESERVE,
  Q_EXISTS,
  Q_DEL,
  Q_DIGEST,
  Q_INS_SUB,
  Q_INS_IMPU,
  Q_LIST,
  Q_N
} q_id;

#define MAX_PARAMS 12

static const struct {
  const char *name, *sql;
  int n;
  unsigned types[MAX_PARAMS];
} qs[Q_N] = {
    [Q_LOAD] = {"imsec_load", SUB_COLS " WHERE s.impi = $1", 1, {OID_TEXT}},
    [Q_FIND] = {"imsec_find",
                SUB_COLS " WHERE s.impi = (SELECT impi FROM impu"
                         " WHERE impu = $1)",
                1,
                {OID_TEXT}},
    [Q_SAVE] = {"imsec_save",
                "UPDATE subscriber SET seq = $1, ind_next = $2"
                " WHERE impi = $3",
                3,
                {OID_INT8, OID_INT4, OID_TEXT}},
    [Q_RESERVE] = {"imsec_reserve",
                   "UPDATE subscriber SET seq = $1, ind_next = $2"
                   " WHERE impi = $3 AND seq = $4 AND ind_next = $5",
                   5,
                   {OID_INT8, OID_INT4, OID_TEXT, OID_INT8, OID_INT4}},
    [Q_EXISTS] = {"imsec_exists",
                  "SELECT scheme::int4 FROM subscriber WHERE impi = $1",
                  1,
                  {OID_TEXT}},
    [Q_DEL] = {"imsec_del",
               "DELETE FROM subscriber WHERE impi = $1",
               1,
               {OID_TEXT}},
    [Q_DIGEST] = {"imsec_digest",
                  "UPDATE subscriber SET realm = $1, ha1_md5 = $2,"
                  " ha1_sha256 = $3 WHERE impi = $4 AND scheme = 1",
                  4,
                  {OID_TEXT, OID_BYTEA, OID_BYTEA, OID_TEXT}},
    [Q_INS_SUB] = {"imsec_ins_sub",
                   "INSERT INTO subscriber(impi, k, op, op_is_opc, amf, seq,"
                   " ind_next, aka, scheme, realm, ha1_md5, ha1_sha256)"
                   " VALUES($1, $2, $3, $4::int4, $5, $6, $7, $8::int4,"
                   " $9::int4, $10, $11, $12)",
                   12,
                   {OID_TEXT, OID_BYTEA, OID_BYTEA, OID_INT4, OID_BYTEA,
                    OID_INT8, OID_INT4, OID_INT4, OID_INT4, OID_TEXT, OID_BYTEA,
                    OID_BYTEA}},
    [Q_INS_IMPU] = {"imsec_ins_impu",
                    "INSERT INTO impu(impu, impi, pos) VALUES($1, $2, $3)",
                    3,
                    {OID_TEXT, OID_TEXT, OID_INT4}},
    /* No secrets are read: K, OP and the H(A1)s stay in the database.
     * IMPI order by octets, as the SQLite store walks. */
    [Q_LIST] = {"imsec_list",
                "SELECT s.impi, NULL::bytea, NULL::bytea, s.op_is_opc::int4,"
                " s.amf, s.seq::int8, s.ind_next::int4, s.aka::int4,"
                " s.scheme::int4, s.realm, NULL::bytea, NULL::bytea,"
                " " IMPUS_COL
                " FROM subscriber s ORDER BY s.impi COLLATE \"C\"",
                0,
                {0}},
};

/* The tables of store/hss_db.c's version 2, in PostgreSQL's types. */
static const char schema[] =
    "CREATE TABLE subscriber("
    " impi TEXT PRIMARY KEY,"
    " k BYTEA NOT NULL CHECK(length(k) = 16),"
    " op BYTEA NOT NULL CHECK(length(op) = 16),"
    " op_is_opc SMALLINT NOT NULL CHECK(op_is_opc IN (0, 1)),"
    " amf BYTEA NOT NULL CHECK(length(amf) = 2),"
    " seq BIGINT NOT NULL CHECK(seq >= 0),"
    " ind_next INTEGER NOT NULL CHECK(ind_next >= 0),"
    " aka SMALLINT NOT NULL CHECK(aka IN (1, 2)),"
    " scheme SMALLINT NOT NULL DEFAULT 0 CHECK(scheme IN (0, 1)),"
    " realm TEXT CHECK(realm IS NULL OR length(realm) BETWEEN 1 AND 255),"
    " ha1_md5 BYTEA CHECK(ha1_md5 IS NULL OR length(ha1_md5) = 32),"
    " ha1_sha256 BYTEA CHECK(ha1_sha256 IS NULL OR length(ha1_sha256) = 64));"
    "CREATE TABLE impu("
    " impu TEXT PRIMARY KEY,"
    " impi TEXT NOT NULL REFERENCES subscriber(impi) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL);"
    "CREATE INDEX impu_by_impi ON impu(impi, pos);";

typedef struct pg_store {
  imsec_hss_store base;
  PGconn *conn;
  int wait_ms; /* lock_timeout of each call */
  /* After a failed reconnect, calls fail at once until this monotonic
   * time: a server that is down costs each call nothing, not a connect
   * timeout each. */
  int64_t retry_at_ms;
} pg_store;

#define RECONNECT_PAUSE_MS 1000

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The server's notices (a table that exists already, say) are not ours
 * to print on the daemon's stderr. */
static void quiet(void *arg, const char *msg) {
  (void)arg, (void)msg;
}

/* ------------------------------------------------------------ parameters */

typedef struct params {
  const char *v[MAX_PARAMS];
  int len[MAX_PARAMS];
  int fmt[MAX_PARAMS];
  uint8_t num[MAX_PARAMS][8];
  int n;
} params;

/* Every parameter goes in binary: text as its octets, integers
 * big-endian, bytea as its octets. */
static void p_bytes(params *p, const void *b, size_t len) {
  p->v[p->n] = b ? (const char *)b : "";
  p->len[p->n] = (int)len;
  p->fmt[p->n] = 1;
  p->n++;
}

static void p_str(params *p, imsec_str s) {
  p_bytes(p, s.p, s.p ? s.len : 0);
}

static void p_null(params *p) {
  p->v[p->n] = NULL;
  p->len[p->n] = 0;
  p->fmt[p->n] = 1;
  p->n++;
}

static void p_int(params *p, uint64_t x, int octets) {
  uint8_t *b = p->num[p->n];
  for (int i = 0; i < octets; i++)
    b[i] = (uint8_t)(x >> (8 * (octets - 1 - i)));
  p_bytes(p, b, (size_t)octets);
}

/* --------------------------------------------------------------- results */

static uint64_t be(const uint8_t *b, int n) {
  uint64_t x = 0;
  for (int i = 0; i < n; i++)
    x = x << 8 | b[i];
  return x;
}

static int col_int(const PGresult *r, int row, int col, int octets,
                   int64_t *out) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != octets)
    return IMSEC_ERR_IO;
  uint64_t x = be((const uint8_t *)PQgetvalue(r, row, col), octets);
  /* sign-extend */
  if (octets < 8 && (x >> (8 * octets - 1)) & 1)
    x |= ~0ULL << (8 * octets);
  *out = (int64_t)x;
  return 0;
}

static int col_text(const PGresult *r, int row, int col, char *out,
                    size_t cap) {
  int n = PQgetlength(r, row, col);
  if (PQgetisnull(r, row, col) || n < 0 || (size_t)n >= cap)
    return IMSEC_ERR_IO;
  memcpy(out, PQgetvalue(r, row, col), (size_t)n);
  out[n] = 0;
  return memchr(out, 0, (size_t)n) ? IMSEC_ERR_IO : 0;
}

static int col_blob(const PGresult *r, int row, int col, uint8_t *out,
                    size_t len) {
  if (PQgetisnull(r, row, col) || (size_t)PQgetlength(r, row, col) != len)
    return IMSEC_ERR_IO;
  memcpy(out, PQgetvalue(r, row, col), len);
  return 0;
}

/* Wipe the secret columns of every row before the result is freed. */
static void clear_secret(PGresult *r) {
  if (!r)
    return;
  static const int secret[] = {C_K, C_OP, C_MD5, C_SHA};
  if (PQnfields(r) == C_N)
    for (int row = 0; row < PQntuples(r); row++)
      for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (!PQgetisnull(r, row, secret[i]))
          imsec_wipe(PQgetvalue(r, row, secret[i]),
                     (size_t)PQgetlength(r, row, secret[i]));
  PQclear(r);
}

/* The newline-separated IMPUs -> sub. */
static int row_impus(const PGresult *r, int row, imsec_hss_sub *sub) {
  sub->n_impus = 0;
  if (PQgetisnull(r, row, C_IMPUS))
    return 0;
  const char *p = PQgetvalue(r, row, C_IMPUS);
  size_t n = (size_t)PQgetlength(r, row, C_IMPUS);
  size_t i = 0;
  while (i < n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - p) : n;
    if (sub->n_impus >= IMSEC_HSS_MAX_IMPUS || e - i >= IMSEC_HSS_ID_MAX ||
        e == i)
      return IMSEC_ERR_IO;
    memcpy(sub->impus[sub->n_impus], p + i, e - i);
    sub->impus[sub->n_impus][e - i] = 0;
    sub->n_impus++;
    i = e + 1;
  }
  return 0;
}

/* A row -> sub (secrets when `secrets`). A row whose columns disagree
 * with its scheme is a damaged database: IMSEC_ERR_IO. */
static int row_to_sub(const PGresult *r, int row, imsec_hss_sub *sub,
                      int secrets) {
  memset(sub, 0, sizeof(*sub));
  int64_t opc, seq, ind, aka, scheme;
  IMSEC_GUARD(col_text(r, row, C_IMPI, sub->impi, sizeof(sub->impi)));
  if (secrets) {
    IMSEC_GUARD(col_blob(r, row, C_K, sub->k, sizeof(sub->k)));
    IMSEC_GUARD(col_blob(r, row, C_OP, sub->op, sizeof(sub->op)));
  }
  IMSEC_GUARD(col_int(r, row, C_OPC, 4, &opc));
  sub->op_is_opc = opc != 0;
  IMSEC_GUARD(col_blob(r, row, C_AMF, sub->amf, sizeof(sub->amf)));
  IMSEC_GUARD(col_int(r, row, C_SEQ, 8, &seq));
  IMSEC_GUARD(col_int(r, row, C_IND, 4, &ind));
  if (seq < 0 || ind < 0 || ind >= IMSEC_SQN_SLOTS_MAX)
    return IMSEC_ERR_IO;
  sub->sqn.seq = (uint64_t)seq;
  sub->sqn.ind_next = (uint32_t)ind;
  IMSEC_GUARD(col_int(r, row, C_AKA, 4, &aka));
  if (aka != IMSEC_HSS_AKAV1 && aka != IMSEC_HSS_AKAV2)
    return IMSEC_ERR_IO;
  sub->aka = (imsec_hss_aka)aka;
  IMSEC_GUARD(col_int(r, row, C_SCHEME, 4, &scheme));
  if (scheme == IMSEC_HSS_SCHEME_AKA) {
    if (!PQgetisnull(r, row, C_REALM))
      return IMSEC_ERR_IO;
  } else if (scheme == IMSEC_HSS_SCHEME_DIGEST) {
    sub->scheme = IMSEC_HSS_SCHEME_DIGEST;
    IMSEC_GUARD(col_text(r, row, C_REALM, sub->digest.realm,
                         sizeof(sub->digest.realm)));
    if (!sub->digest.realm[0])
      return IMSEC_ERR_IO;
    if (secrets) {
      /* ha1_md5: the IMPI's then the user part's, 16 octets each;
       * ha1_sha256 the same with 32 (as store/hss_db.c). */
      if (PQgetlength(r, row, C_MD5) != 2 * MD5_LEN ||
          PQgetlength(r, row, C_SHA) != 2 * SHA256_LEN ||
          PQgetisnull(r, row, C_MD5) || PQgetisnull(r, row, C_SHA))
        return IMSEC_ERR_IO;
      const uint8_t *md5 = (const uint8_t *)PQgetvalue(r, row, C_MD5);
      const uint8_t *sha = (const uint8_t *)PQgetvalue(r, row, C_SHA);
      for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
        memcpy(sub->digest.ha1[IMSEC_HSS_HA1_MD5][u], md5 + u * MD5_LEN,
               MD5_LEN);
        memcpy(sub->digest.ha1[IMSEC_HSS_HA1_SHA256][u], sha + u * SHA256_LEN,
               SHA256_LEN);
      }
    }
  } else {
    return IMSEC_ERR_IO;
  }
  return row_impus(r, row, sub);
}

/* ------------------------------------------------------------ connection */

/* SQLSTATE -> imsec_err. Class 08 (and no state: the connection went
 * away) IMSEC_ERR_IO; a lock or statement timeout, a deadlock or a
 * serialization failure IMSEC_ERR_BUSY (nothing was done: try again). */
static int map_state(const char *st) {
  if (!st)
    return IMSEC_ERR_IO;
  if (!strcmp(st, "55P03") || !strcmp(st, "57014") || !strcmp(st, "40001") ||
      !strcmp(st, "40P01"))
    return IMSEC_ERR_BUSY;
  if (!strcmp(st, "23505"))
    return IMSEC_ERR_EXISTS;
  if (!strcmp(st, "23503"))
    return IMSEC_ERR_NOTFOUND;
  if (!strncmp(st, "22", 2) || !strcmp(st, "23514") || !strcmp(st, "23502"))
    return IMSEC_ERR_INVAL;
  return IMSEC_ERR_IO;
}

static int result_err(const PGresult *r) {
  return map_state(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
}

/* One statement without parameters (session set-up, transactions). */
static int exec_simple(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int rv =
      (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : result_err(r);
  PQclear(r);
  return rv;
}

/* The session every connection gets: bounded waits, durable commits
 * (TS 33.102 C.3: a mark is on disk before the vector leaves), text in
 * UTF-8. */
static int session_set(pg_store *d) {
  char sql[256];
  PQsetNoticeProcessor(d->conn, quiet, NULL);
  snprintf(sql, sizeof(sql),
           "SET lock_timeout = %d; SET statement_timeout = %d;"
           " SET synchronous_commit = on; SET client_encoding = 'UTF8';"
           " SET default_transaction_isolation = 'read committed'",
           d->wait_ms, d->wait_ms + STATEMENT_SLACK_MS);
  return exec_simple(d->conn, sql);
}

/* The statements, prepared once per session (the tables must exist). */
static int prepare_all(pg_store *d) {
  for (int q = 0; q < Q_N; q++) {
    PGresult *r = PQprepare(d->conn, qs[q].name, qs[q].sql, qs[q].n,
                            (const Oid *)qs[q].types);
    int rv = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : result_err(r);
    PQclear(r);
    if (rv < 0)
      return rv;
  }
  return 0;
}

/* A lost connection is opened again (PQreset: the same parameters, bounded
 * by connect_timeout) and set up; after a failure, not again for a
 * pause. */
static int reconnect(pg_store *d) {
  int64_t now = mono_ms();
  if (now < d->retry_at_ms)
    return IMSEC_ERR_IO;
  PQreset(d->conn);
  int rv = PQstatus(d->conn) == CONNECTION_OK ? 0 : IMSEC_ERR_IO;
  if (rv == 0)
    rv = session_set(d);
  if (rv == 0)
    rv = prepare_all(d);
  d->retry_at_ms = rv < 0 ? mono_ms() + RECONNECT_PAUSE_MS : 0;
  return rv;
}

/* Run prepared statement `q`: the result (status TUPLES_OK or
 * COMMAND_OK) or NULL with *err set. `again`: the call may be repeated
 * on a new connection when the old one was lost under it. */
static PGresult *run(pg_store *d, q_id q, const params *p, int again,
                     int *err) {
  if (PQstatus(d->conn) != CONNECTION_OK && reconnect(d) < 0) {
    *err = IMSEC_ERR_IO;
    return NULL;
  }
  for (int i = 0;; i++) {
    PGresult *r =
        PQexecPrepared(d->conn, qs[q].name, p ? p->n : 0, p ? p->v : NULL,
                       p ? p->len : NULL, p ? p->fmt : NULL, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
      return r;
    int e = result_err(r);
    clear_secret(r);
    if (PQstatus(d->conn) != CONNECTION_OK && again && i == 0 &&
        reconnect(d) == 0)
      continue;
    *err = e;
    return NULL;
  }
}

/* Rows changed by an UPDATE or DELETE. */
static long changed(PGresult *r) {
  return strtol(PQcmdTuples(r), NULL, 10);
}

/* ----------------------------------------------------------------- calls */

/* A statement that reads one subscriber row. Identities are text; one
 * that is not valid UTF-8 cannot be in the database (NOTFOUND). */
static int read_one(pg_store *d, q_id q, imsec_str key, imsec_hss_sub *out) {
  params p = {0};
  p_str(&p, key);
  int rv = 0;
  PGresult *r = run(d, q, &p, 1, &rv);
  if (!r)
    return rv == IMSEC_ERR_INVAL ? IMSEC_ERR_NOTFOUND : rv;
  if (PQntuples(r) != 1 || PQnfields(r) != C_N)
    rv = PQntuples(r) == 0 ? IMSEC_ERR_NOTFOUND : IMSEC_ERR_IO;
  else
    rv = row_to_sub(r, 0, out, 1);
  clear_secret(r);
  if (rv < 0)
    imsec_hss_sub_wipe(out);
  return rv;
}

static int pg_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  return read_one((pg_store *)s, Q_LOAD, impi, out);
}

static int pg_find_impu(imsec_hss_store *s, imsec_str impu,
                        imsec_hss_sub *out) {
  return read_one((pg_store *)s, Q_FIND, impu, out);
}

/* After an UPDATE that changed nothing: the subscriber's scheme (0 or 1)
 * when the row exists, IMSEC_ERR_NOTFOUND when not. */
static int exists(pg_store *d, imsec_str impi) {
  params p = {0};
  p_str(&p, impi);
  int rv = 0;
  PGresult *r = run(d, Q_EXISTS, &p, 1, &rv);
  if (!r)
    return rv == IMSEC_ERR_INVAL ? IMSEC_ERR_NOTFOUND : rv;
  int64_t scheme = 0;
  if (PQntuples(r) == 0)
    rv = IMSEC_ERR_NOTFOUND;
  else if (col_int(r, 0, 0, 4, &scheme) < 0)
    rv = IMSEC_ERR_IO;
  else
    rv = (int)scheme;
  PQclear(r);
  return rv;
}

static int pg_save_sqn(imsec_hss_store *s, imsec_str impi,
                       const imsec_sqn_he *sqn) {
  pg_store *d = (pg_store *)s;
  if (sqn->seq > (uint64_t)INT64_MAX || sqn->ind_next > INT32_MAX)
    return IMSEC_ERR_INVAL;
  params p = {0};
  p_int(&p, sqn->seq, 8);
  p_int(&p, sqn->ind_next, 4);
  p_str(&p, impi);
  int rv = 0;
  PGresult *r = run(d, Q_SAVE, &p, 1, &rv);
  if (!r)
    return rv == IMSEC_ERR_INVAL ? IMSEC_ERR_NOTFOUND : rv;
  rv = changed(r) == 1 ? 0 : IMSEC_ERR_NOTFOUND;
  PQclear(r);
  return rv;
}

static int pg_reserve_sqn(imsec_hss_store *s, imsec_str impi,
                          const imsec_sqn_he *old, const imsec_sqn_he *next) {
  pg_store *d = (pg_store *)s;
  if (next->seq > (uint64_t)INT64_MAX || old->seq > (uint64_t)INT64_MAX ||
      next->ind_next > INT32_MAX || old->ind_next > INT32_MAX)
    return IMSEC_ERR_INVAL;
  params p = {0};
  p_int(&p, next->seq, 8);
  p_int(&p, next->ind_next, 4);
  p_str(&p, impi);
  p_int(&p, old->seq, 8);
  p_int(&p, old->ind_next, 4);
  int rv = 0;
  PGresult *r = run(d, Q_RESERVE, &p, 1, &rv);
  if (!r)
    return rv == IMSEC_ERR_INVAL ? IMSEC_ERR_NOTFOUND : rv;
  long n = changed(r);
  PQclear(r);
  if (n == 1)
    return 0;
  rv = exists(d, impi);
  return rv < 0 ? rv : IMSEC_ERR_STALE;
}

static int pg_add(imsec_hss_store *s, const imsec_hss_sub *sub) {
  pg_store *d = (pg_store *)s;
  IMSEC_GUARD(imsec_hss_sub_check(sub, NULL));
  if (sub->sqn.seq > (uint64_t)INT64_MAX)
    return IMSEC_ERR_INVAL;
  if (PQstatus(d->conn) != CONNECTION_OK && reconnect(d) < 0)
    return IMSEC_ERR_IO;
  uint8_t md5[2 * MD5_LEN], sha[2 * SHA256_LEN];
  params p = {0};
  p_str(&p, imsec_str_c(sub->impi));
  p_bytes(&p, sub->k, sizeof(sub->k));
  p_bytes(&p, sub->op, sizeof(sub->op));
  p_int(&p, sub->op_is_opc ? 1 : 0, 4);
  p_bytes(&p, sub->amf, sizeof(sub->amf));
  p_int(&p, sub->sqn.seq, 8);
  p_int(&p, sub->sqn.ind_next, 4);
  p_int(&p, (uint64_t)sub->aka, 4);
  p_int(&p, (uint64_t)sub->scheme, 4);
  if (sub->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
      memcpy(md5 + u * MD5_LEN, sub->digest.ha1[IMSEC_HSS_HA1_MD5][u], MD5_LEN);
      memcpy(sha + u * SHA256_LEN, sub->digest.ha1[IMSEC_HSS_HA1_SHA256][u],
             SHA256_LEN);
    }
    p_str(&p, imsec_str_c(sub->digest.realm));
    p_bytes(&p, md5, sizeof(md5));
    p_bytes(&p, sha, sizeof(sha));
  } else {
    p_null(&p);
    p_null(&p);
    p_null(&p);
  }
  /* The row and its IMPUs in one transaction: all or nothing. */
  int rv = exec_simple(d->conn, "BEGIN");
  PGresult *r = NULL;
  if (rv == 0 && (r = run(d, Q_INS_SUB, &p, 0, &rv)) != NULL)
    PQclear(r);
  imsec_wipe(md5, sizeof(md5));
  imsec_wipe(sha, sizeof(sha));
  for (size_t i = 0; rv == 0 && i < sub->n_impus; i++) {
    params u = {0};
    p_str(&u, imsec_str_c(sub->impus[i]));
    p_str(&u, imsec_str_c(sub->impi));
    p_int(&u, i, 4);
    if ((r = run(d, Q_INS_IMPU, &u, 0, &rv)) != NULL)
      PQclear(r);
  }
  if (rv == 0)
    rv = exec_simple(d->conn, "COMMIT");
  else
    (void)exec_simple(d->conn, "ROLLBACK");
  return rv;
}

static int pg_del(imsec_hss_store *s, imsec_str impi) {
  params p = {0};
  p_str(&p, impi);
  int rv = 0;
  PGresult *r = run((pg_store *)s, Q_DEL, &p, 0, &rv);
  if (!r)
    return rv == IMSEC_ERR_INVAL ? IMSEC_ERR_NOTFOUND : rv;
  rv = changed(r) == 1 ? 0 : IMSEC_ERR_NOTFOUND;
  PQclear(r);
  return rv;
}

static int pg_list(imsec_hss_store *s, imsec_hss_list_fn fn, void *arg) {
  pg_store *d = (pg_store *)s;
  int rv = 0;
  PGresult *r = run(d, Q_LIST, NULL, 1, &rv);
  if (!r)
    return rv;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub) {
    PQclear(r);
    return IMSEC_ERR_NOMEM;
  }
  for (int row = 0; rv == 0 && row < PQntuples(r); row++) {
    rv = row_to_sub(r, row, sub, 0);
    if (rv == 0)
      rv = fn(arg, sub);
  }
  imsec_hss_sub_wipe(sub);
  free(sub);
  PQclear(r);
  return rv;
}

static int pg_set_digest(imsec_hss_store *s, imsec_str impi,
                         const imsec_hss_digest *dg) {
  pg_store *d = (pg_store *)s;
  if (!dg)
    return IMSEC_ERR_INVAL;
  size_t n = 0;
  while (n < sizeof(dg->realm) && dg->realm[n])
    n++;
  if (n == 0 || n == sizeof(dg->realm))
    return IMSEC_ERR_INVAL;
  uint8_t md5[2 * MD5_LEN], sha[2 * SHA256_LEN];
  for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
    memcpy(md5 + u * MD5_LEN, dg->ha1[IMSEC_HSS_HA1_MD5][u], MD5_LEN);
    memcpy(sha + u * SHA256_LEN, dg->ha1[IMSEC_HSS_HA1_SHA256][u], SHA256_LEN);
  }
  params p = {0};
  p_str(&p, imsec_str_make(dg->realm, n));
  p_bytes(&p, md5, sizeof(md5));
  p_bytes(&p, sha, sizeof(sha));
  p_str(&p, impi);
  int rv = 0;
  PGresult *r = run(d, Q_DIGEST, &p, 0, &rv);
  imsec_wipe(md5, sizeof(md5));
  imsec_wipe(sha, sizeof(sha));
  if (!r)
    return rv;
  long ch = changed(r);
  PQclear(r);
  if (ch == 1)
    return 0;
  /* Nothing changed: no such IMPI, or an IMS AKA subscriber (no password
   * to change). */
  rv = exists(d, impi);
  return rv < 0 ? rv : IMSEC_ERR_INVAL;
}

static void pg_destroy(imsec_hss_store *s) {
  pg_store *d = (pg_store *)s;
  if (d->conn)
    PQfinish(d->conn);
  free(d);
}

static const imsec_hss_store_vtable pg_vt = {
    .load = pg_load,
    .find_impu = pg_find_impu,
    .save_sqn = pg_save_sqn,
    .add = pg_add,
    .del = pg_del,
    .list = pg_list,
    .destroy = pg_destroy,
    .set_digest = pg_set_digest,
    .reserve_sqn = pg_reserve_sqn,
};

/* ------------------------------------------------------------------ open */

int imsec_hss_pg_is_url(const char *db) {
  return db && (strncmp(db, "postgresql://", 13) == 0 ||
                strncmp(db, "postgres://", 11) == 0);
}

/* The URI as errors may show it: no password (user:PASSWORD@ and a
 * password= parameter), no parameters at all. */
static void redact(const char *uri, char *out, size_t cap) {
  const char *rest = strstr(uri, "://");
  size_t scheme = rest ? (size_t)(rest - uri) + 3 : 0;
  const char *auth = uri + scheme;
  size_t end = strcspn(auth, "?");
  size_t slash = strcspn(auth, "/?");
  const char *at = memchr(auth, '@', slash);
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (colon)
    snprintf(out, cap, "%.*s%.*s:***%.*s", (int)scheme, uri,
             (int)(colon - auth), auth, (int)(end - (size_t)(at - auth)), at);
  else
    snprintf(out, cap, "%.*s%.*s", (int)scheme, uri, (int)end, auth);
}

/* PQerrorMessage's first line, without its newline. */
static void pq_err(PGconn *c, char *out, size_t cap) {
  const char *m = c ? PQerrorMessage(c) : "out of memory";
  snprintf(out, cap, "%.*s", (int)strcspn(m, "\n"), m);
}

/* The schema version of the HSS tables: 0 none. */
static int read_version(pg_store *d, int *ver, char *why, size_t cap) {
  PGresult *r = PQexec(d->conn, "SELECT version::int4 FROM imsec_schema"
                                " WHERE part = 'hss'");
  int rv = 0;
  *ver = 0;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    if (PQntuples(r) == 1)
      *ver = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
  } else {
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!st || strcmp(st, "42P01")) { /* 42P01: no such table yet */
      pq_err(d->conn, why, cap);
      rv = result_err(r);
    }
  }
  PQclear(r);
  return rv;
}

/* Install the tables in one transaction, under an advisory lock so that
 * front-ends starting together on an empty database do it once. */
static int install(pg_store *d, int *ver, char *why, size_t cap) {
  char sql[64];
  snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
           (long long)INSTALL_LOCK);
  int rv = exec_simple(d->conn, "BEGIN");
  if (rv == 0)
    rv = exec_simple(d->conn, sql);
  if (rv == 0)
    rv = exec_simple(d->conn,
                     "CREATE TABLE IF NOT EXISTS imsec_schema("
                     " part TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  if (rv == 0)
    rv = read_version(d, ver, why, cap);
  if (rv == 0 && *ver == 0) {
    rv = exec_simple(d->conn, schema);
    if (rv == 0)
      rv = exec_simple(d->conn, "INSERT INTO imsec_schema(part, version)"
                                " VALUES('hss', 2)");
    if (rv == 0)
      *ver = SCHEMA_VERSION;
  }
  if (rv == 0)
    rv = exec_simple(d->conn, "COMMIT");
  if (rv < 0) {
    if (!why[0])
      pq_err(d->conn, why, cap);
    (void)exec_simple(d->conn, "ROLLBACK");
  }
  return rv;
}

int imsec_hss_pg_open(imsec_hss_store **out, const char *conninfo,
                      const imsec_hss_db_opts *o, char *err, size_t errcap) {
  if (!out || !conninfo || !imsec_hss_pg_is_url(conninfo))
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_hss_db_opts def = {0};
  if (!o)
    o = &def;
  if (o->timeout_ms < 0)
    return IMSEC_ERR_INVAL;
  char shown[256];
  redact(conninfo, shown, sizeof(shown));
  pg_store *d = calloc(1, sizeof(*d));
  if (!d)
    return IMSEC_ERR_NOMEM;
  d->base.vt = &pg_vt;
  int wait = o->call_wait_ms > 0   ? o->call_wait_ms
             : o->call_wait_ms < 0 ? 1 /* 0 would mean "forever" */
             : o->timeout_ms > 0   ? o->timeout_ms
                                   : DEFAULT_WAIT_MS;
  d->wait_ms = wait;
  /* libpq rounds connect_timeout up to 2 s at least. */
  char ct[16];
  snprintf(ct, sizeof(ct), "%d",
           o->timeout_ms > 0 ? (o->timeout_ms + 999) / 1000
                             : DEFAULT_CONNECT_S);
  /* Our defaults first, the URI last: what it names wins. Keepalives and
   * a TCP user timeout notice a server that went silent. */
  const char *keys[] = {
      "connect_timeout",     "keepalives",       "keepalives_idle",
      "keepalives_interval", "keepalives_count", "tcp_user_timeout",
      "application_name",    "dbname",           NULL};
  const char *vals[] = {ct,      "1",         "5",      "2", "3",
                        "10000", "imsec-hss", conninfo, NULL};
  char why[256] = "";
  int rv = IMSEC_ERR_IO;
  d->conn = PQconnectdbParams(keys, vals, 1);
  if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
    pq_err(d->conn, why, sizeof(why));
    imsec_db_set_err(err, errcap, "%s: cannot connect: %s", shown, why);
    goto fail;
  }
  int ver = 0;
  if ((rv = session_set(d)) < 0) {
    pq_err(d->conn, why, sizeof(why));
    imsec_db_set_err(err, errcap, "%s: %s", shown, why);
    goto fail;
  }
  if ((rv = read_version(d, &ver, why, sizeof(why))) < 0) {
    imsec_db_set_err(err, errcap, "%s: %s", shown, why);
    goto fail;
  }
  if (ver == 0 && !o->create) {
    imsec_db_set_err(err, errcap, "%s: no imsec HSS tables in this database",
                     shown);
    rv = IMSEC_ERR_NOTFOUND;
    goto fail;
  }
  if (ver == 0 && (rv = install(d, &ver, why, sizeof(why))) < 0) {
    imsec_db_set_err(err, errcap, "%s: cannot install the schema: %s", shown,
                     why);
    goto fail;
  }
  if (ver != SCHEMA_VERSION) {
    imsec_db_set_err(err, errcap, "%s: schema version %d, this build knows %d",
                     shown, ver, SCHEMA_VERSION);
    rv = IMSEC_ERR_UNSUPPORTED;
    goto fail;
  }
  if ((rv = prepare_all(d)) < 0) {
    pq_err(d->conn, why, sizeof(why));
    imsec_db_set_err(err, errcap, "%s: %s", shown, why);
    goto fail;
  }
  /* A read-only server (a standby) or a role without write rights on
   * the subscribers is a start-up error, not a 500 on every REGISTER
   * (both are refused before any row is looked at). */
  if (o->writable &&
      (rv = exec_simple(d->conn, "UPDATE subscriber SET seq = seq"
                                 " WHERE false")) < 0) {
    pq_err(d->conn, why, sizeof(why));
    imsec_db_set_err(err, errcap, "%s: cannot be written (%s)", shown, why);
    if (rv != IMSEC_ERR_BUSY)
      rv = IMSEC_ERR_IO;
    goto fail;
  }
  *out = &d->base;
  return 0;
fail:
  pg_destroy(&d->base);
  return rv;
}
