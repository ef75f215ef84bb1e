/* The SQLite registration store (include/imsec/regdb.h): one record per
 * IMPI in three tables, replaced whole in one synchronous transaction;
 * binding expiry kept absolute so a record outlives a restart. */
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "imsec/regdb.h"
#include "imsec/hss_db.h"

/* Version 2: registration.digest (TS 33.203 Annex N: the record says
 * whether SIP Digest authenticated it). A version-1 file is brought up in
 * place when opened; its records read as IMS AKA. Version 3: an index on
 * reg_impu(impu), for S-CSCFs sharing the file that look a terminating
 * request's IMPU up (get); older files gain it when opened. */
#define SCHEMA_VERSION 3
#define CLI_TIMEOUT_MS 250

/* Table names: `impu` is the HSS's (the file may be shared). */
static const char schema[] =
    "CREATE TABLE registration("
    " impi TEXT PRIMARY KEY NOT NULL,"
    " service_route TEXT,"
    " digest INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE reg_impu("
    " impi TEXT NOT NULL REFERENCES registration(impi) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " impu TEXT NOT NULL,"
    " PRIMARY KEY(impi, pos));"
    "CREATE TABLE binding("
    " impi TEXT NOT NULL REFERENCES registration(impi) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " contact TEXT,"
    " path TEXT,"
    " instance TEXT,"
    " reg_id INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL," /* wall-clock Unix ms */
    " peer TEXT,"
    " ord INTEGER NOT NULL,"
    " PRIMARY KEY(impi, pos));"
    "CREATE INDEX binding_expiry ON binding(expires_ms);"
    "CREATE INDEX reg_impu_impu ON reg_impu(impu);";

/* From version 1 to 3, and from 2 to 3. */
static const char migrate_v1[] =
    "ALTER TABLE registration ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX reg_impu_impu ON reg_impu(impu);";
static const char migrate_v2[] =
    "CREATE INDEX reg_impu_impu ON reg_impu(impu);";

enum {
  ST_DEL,
  ST_INS_REC,
  ST_INS_IMPU,
  ST_INS_B,
  ST_PURGE_B,
  ST_PURGE_REC,
  ST_RECS,
  ST_IMPUS,
  ST_BINDINGS,
  ST_REC,
  ST_IMPU_IMPI,
  ST_EXPIRE_B,
  ST_DEL_EMPTY,
  ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_DEL] = "DELETE FROM registration WHERE impi = ?",
    [ST_INS_REC] = "INSERT INTO registration(impi, service_route, digest)"
                   " VALUES(?,?,?)",
    [ST_INS_IMPU] = "INSERT INTO reg_impu(impi, pos, impu) VALUES(?,?,?)",
    [ST_INS_B] = "INSERT INTO binding(impi, pos, contact, path, instance,"
                 " reg_id, expires_ms, peer, ord) VALUES(?,?,?,?,?,?,?,?,?)",
    [ST_PURGE_B] = "DELETE FROM binding WHERE expires_ms <= ?",
    [ST_PURGE_REC] = "DELETE FROM registration WHERE NOT EXISTS"
                     " (SELECT 1 FROM binding b"
                     " WHERE b.impi = registration.impi)",
    [ST_RECS] = "SELECT impi, service_route, digest FROM registration"
                " ORDER BY impi",
    [ST_IMPUS] = "SELECT impu FROM reg_impu WHERE impi = ? ORDER BY pos",
    [ST_BINDINGS] = "SELECT contact, path, instance, reg_id, expires_ms, peer,"
                    " ord FROM binding WHERE impi = ? ORDER BY pos",
    [ST_REC] = "SELECT impi, service_route, digest FROM registration"
               " WHERE impi = ?",
    /* An IMPU may sit in the implicit sets of several IMPIs (TS 23.228
     * §4.3.3.4): the first with a live binding. */
    [ST_IMPU_IMPI] = "SELECT i.impi FROM reg_impu i WHERE i.impu = ?"
                     " AND EXISTS (SELECT 1 FROM binding b"
                     " WHERE b.impi = i.impi AND b.expires_ms > ?)"
                     " ORDER BY i.impi LIMIT 1",
    [ST_EXPIRE_B] = "DELETE FROM binding WHERE impi = ? AND expires_ms <= ?",
    [ST_DEL_EMPTY] = "DELETE FROM registration WHERE impi = ? AND NOT EXISTS"
                     " (SELECT 1 FROM binding b WHERE b.impi = ?)",
};

typedef struct reg_db {
  imsec_reg_store base;
  sqlite3 *db;
  sqlite3_stmt *st[ST_N];
  imsec_db_wait w;
  int in_batch; /* inside a group commit (imsec_db_batch) */
} reg_db;

static int bind_opt(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
           : sqlite3_bind_null(st, i);
}

/* Run a prepared write statement to its end. */
static int run(reg_db *d, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : imsec_db_step_err(&d->w, rc);
}

/* One record's writes go together: their own transaction, or inside a
 * batch a savepoint, so a record that fails halfway leaves nothing and
 * the rest of the batch goes on. */
static int begin(reg_db *d) {
  return imsec_db_tx(d->db, &d->w,
                     d->in_batch ? IMSEC_DB_TX_SAVEPOINT_REC
                                 : IMSEC_DB_TX_BEGIN_IMMEDIATE);
}

static int end_txn(reg_db *d, int rv) {
  if (rv == 0)
    rv =
        imsec_db_tx(d->db, &d->w,
                    d->in_batch ? IMSEC_DB_TX_RELEASE_REC : IMSEC_DB_TX_COMMIT);
  if (rv < 0)
    (void)sqlite3_exec(
        d->db, d->in_batch ? "ROLLBACK TO rec; RELEASE rec" : "ROLLBACK", NULL,
        NULL, NULL);
  return rv;
}

/* now + ttl without overflow. */
static int64_t abs_expiry(int64_t now_ms, int64_t ttl_ms) {
  if (ttl_ms > 0 && now_ms > INT64_MAX - ttl_ms)
    return INT64_MAX;
  if (ttl_ms < 0 && now_ms < INT64_MIN - ttl_ms)
    return INT64_MIN;
  return now_ms + ttl_ms;
}

static int rdb_save(imsec_reg_store *s, const imsec_reg_record *r,
                    int64_t now_ms) {
  reg_db *d = (reg_db *)s;
  if (!r || !r->impi)
    return IMSEC_ERR_INVAL;
  imsec_db_op_start(&d->w);
  int rv = begin(d);
  if (rv < 0)
    return rv;
  /* The whole record is replaced: its IMPUs and bindings go with it
   * (ON DELETE CASCADE). */
  sqlite3_stmt *st = d->st[ST_DEL];
  bind_opt(st, 1, r->impi);
  rv = run(d, st);
  st = d->st[ST_INS_REC];
  if (rv == 0) {
    bind_opt(st, 1, r->impi);
    bind_opt(st, 2, r->service_route);
    sqlite3_bind_int(st, 3, r->digest ? 1 : 0);
    rv = run(d, st);
  }
  st = d->st[ST_INS_IMPU];
  for (size_t i = 0; rv == 0 && i < r->n_impus; i++) {
    bind_opt(st, 1, r->impi);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
    bind_opt(st, 3, r->impus[i] ? r->impus[i] : "");
    rv = run(d, st);
  }
  st = d->st[ST_INS_B];
  for (size_t i = 0; rv == 0 && i < r->n; i++) {
    const imsec_reg_binding *b = &r->b[i];
    bind_opt(st, 1, r->impi);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
    bind_opt(st, 3, b->contact);
    bind_opt(st, 4, b->path);
    bind_opt(st, 5, b->instance);
    sqlite3_bind_int64(st, 6, b->reg_id);
    sqlite3_bind_int64(st, 7, abs_expiry(now_ms, b->ttl_ms));
    bind_opt(st, 8, b->peer);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)b->order);
    rv = run(d, st);
  }
  for (int i = ST_DEL; i <= ST_INS_B; i++)
    sqlite3_clear_bindings(d->st[i]);
  rv = end_txn(d, rv);
  if (rv == 0)
    imsec_db_step_ok(&d->w);
  return rv;
}

static int rdb_del(imsec_reg_store *s, const char *impi) {
  reg_db *d = (reg_db *)s;
  if (!impi)
    return IMSEC_ERR_INVAL;
  imsec_db_op_start(&d->w);
  sqlite3_stmt *st = d->st[ST_DEL];
  bind_opt(st, 1, impi);
  /* Autocommit: one synchronous transaction. */
  int rv = run(d, st);
  sqlite3_clear_bindings(st);
  if (rv < 0)
    return rv;
  imsec_db_step_ok(&d->w);
  return sqlite3_changes(d->db) > 0 ? 0 : IMSEC_ERR_NOTFOUND;
}

static int dup_col(sqlite3_stmt *st, int i, char **out) {
  *out = NULL;
  if (sqlite3_column_type(st, i) == SQLITE_NULL)
    return 0;
  const unsigned char *t = sqlite3_column_text(st, i);
  int n = sqlite3_column_bytes(st, i);
  if (!t || n < 0)
    return IMSEC_ERR_NOMEM;
  *out = malloc((size_t)n + 1);
  if (!*out)
    return IMSEC_ERR_NOMEM;
  memcpy(*out, t, (size_t)n);
  (*out)[n] = 0;
  return 0;
}

/* Grow an array by one element (doubling). */
static int grow(void **arr, size_t n, size_t *cap, size_t elem) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 4;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return IMSEC_ERR_NOMEM;
  memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
  *arr = p;
  *cap = nc;
  return 0;
}

/* The IMPUs and bindings of r->impi (ttl relative to now_ms). */
static int read_record(reg_db *d, imsec_reg_record *r, int64_t now_ms) {
  sqlite3_stmt *st = d->st[ST_IMPUS];
  bind_opt(st, 1, r->impi);
  int rc = SQLITE_DONE, rv = 0;
  size_t cap = 0;
  while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rv = grow((void **)&r->impus, r->n_impus, &cap, sizeof(*r->impus));
    if (rv == 0)
      rv = dup_col(st, 0, &r->impus[r->n_impus]);
    if (rv == 0)
      r->n_impus++;
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rv < 0)
    return rv;
  st = d->st[ST_BINDINGS];
  bind_opt(st, 1, r->impi);
  cap = 0;
  while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rv = grow((void **)&r->b, r->n, &cap, sizeof(*r->b));
    if (rv < 0)
      break;
    imsec_reg_binding *b = &r->b[r->n++];
    rv = dup_col(st, 0, &b->contact);
    if (rv == 0)
      rv = dup_col(st, 1, &b->path);
    if (rv == 0)
      rv = dup_col(st, 2, &b->instance);
    b->reg_id = sqlite3_column_int64(st, 3);
    b->ttl_ms = sqlite3_column_int64(st, 4) - now_ms; /* > 0: purged */
    if (rv == 0)
      rv = dup_col(st, 5, &b->peer);
    b->order = (uint64_t)sqlite3_column_int64(st, 6);
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rv;
}

static int rdb_load(imsec_reg_store *s, int64_t now_ms, imsec_reg_load_fn fn,
                    void *arg) {
  reg_db *d = (reg_db *)s;
  imsec_db_op_start(&d->w);
  /* The expired first, durably: a binding past its expiry is gone
   * (RFC 3261 §10.3), and so is a record with none left. */
  int rv = begin(d);
  if (rv < 0)
    return rv;
  sqlite3_stmt *st = d->st[ST_PURGE_B];
  sqlite3_bind_int64(st, 1, now_ms);
  rv = run(d, st);
  if (rv == 0)
    rv = run(d, d->st[ST_PURGE_REC]);
  IMSEC_GUARD(end_txn(d, rv));
  /* Then the rest, in one read transaction (one consistent view). */
  imsec_db_op_start(&d->w);
  IMSEC_GUARD(imsec_db_exec(d->db, &d->w, "BEGIN"));
  st = d->st[ST_RECS];
  int rc = SQLITE_DONE;
  while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    imsec_reg_record r;
    memset(&r, 0, sizeof(r));
    rv = dup_col(st, 0, &r.impi);
    if (rv == 0)
      rv = dup_col(st, 1, &r.service_route);
    r.digest = sqlite3_column_int(st, 2) != 0;
    if (rv == 0 && !r.impi)
      rv = IMSEC_ERR_IO;
    if (rv == 0)
      rv = read_record(d, &r, now_ms);
    if (rv == 0)
      rv = fn(arg, &r);
    imsec_reg_record_free(&r);
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  (void)sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
  if (rv == 0)
    imsec_db_step_ok(&d->w);
  return rv;
}

static void rdb_destroy(imsec_reg_store *s) {
  reg_db *d = (reg_db *)s;
  for (int i = 0; i < ST_N; i++)
    sqlite3_finalize(d->st[i]);
  imsec_db_tx_free(&d->w);
  sqlite3_close(d->db);
  free(d);
}

static int rdb_batch(imsec_reg_store *s, imsec_store_batch_op op) {
  reg_db *d = (reg_db *)s;
  imsec_db_op_start(&d->w);
  int rv = imsec_db_batch(d->db, &d->w, &d->in_batch, op);
  if (rv == 0)
    imsec_db_step_ok(&d->w);
  return rv;
}

/* Keep the live bindings (ttl_ms > 0) of a record read whole. */
static void drop_expired(imsec_reg_record *r) {
  size_t k = 0;
  for (size_t i = 0; i < r->n; i++) {
    if (r->b[i].ttl_ms > 0)
      r->b[k++] = r->b[i];
    else
      imsec_reg_binding_free(&r->b[i]);
  }
  r->n = k;
}

/* The record of `impi` into *out as it stands (ttl relative to now_ms,
 * expired bindings included). 0, IMSEC_ERR_NOTFOUND, or a step error. */
static int read_one(reg_db *d, const char *impi, int64_t now_ms,
                    imsec_reg_record *out) {
  sqlite3_stmt *st = d->st[ST_REC];
  bind_opt(st, 1, impi);
  int rc = sqlite3_step(st), rv = 0;
  if (rc == SQLITE_ROW) {
    rv = dup_col(st, 0, &out->impi);
    if (rv == 0)
      rv = dup_col(st, 1, &out->service_route);
    out->digest = sqlite3_column_int(st, 2) != 0;
    if (rv == 0 && !out->impi)
      rv = IMSEC_ERR_IO;
  } else {
    rv = rc == SQLITE_DONE ? IMSEC_ERR_NOTFOUND : imsec_db_step_err(&d->w, rc);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rv == 0)
    rv = read_record(d, out, now_ms);
  if (rv < 0)
    imsec_reg_record_free(out);
  return rv;
}

static int is_impu(const char *k) {
  return strncmp(k, "sip:", 4) == 0 || strncmp(k, "sips:", 5) == 0 ||
         strncmp(k, "tel:", 4) == 0; /* no secret: URI schemes */
}

static int rdb_get(imsec_reg_store *s, const char *key, int64_t now_ms,
                   imsec_reg_record *out) {
  reg_db *d = (reg_db *)s;
  if (!key || !out)
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  imsec_db_op_start(&d->w);
  /* One read transaction: the index and the record from one view. */
  IMSEC_GUARD(imsec_db_exec(d->db, &d->w, "BEGIN"));
  char *impi = NULL;
  int rv = 0;
  if (is_impu(key)) {
    sqlite3_stmt *st = d->st[ST_IMPU_IMPI];
    bind_opt(st, 1, key);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      rv = dup_col(st, 0, &impi);
    else
      rv =
          rc == SQLITE_DONE ? IMSEC_ERR_NOTFOUND : imsec_db_step_err(&d->w, rc);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rv == 0 && !impi)
      rv = IMSEC_ERR_NOTFOUND;
  }
  if (rv == 0)
    rv = read_one(d, impi ? impi : key, now_ms, out);
  free(impi);
  (void)sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
  if (rv == 0) {
    drop_expired(out);
    if (out->n == 0) {
      imsec_reg_record_free(out);
      rv = IMSEC_ERR_NOTFOUND;
    }
  }
  if (rv == 0 || rv == IMSEC_ERR_NOTFOUND)
    imsec_db_step_ok(&d->w);
  return rv;
}

/* In one write transaction, so of several S-CSCFs expiring one record
 * on one file the first alone deletes it and is told gone. */
static int rdb_expire(imsec_reg_store *s, const char *impi, int64_t now_ms,
                      imsec_reg_record *out, int *gone) {
  reg_db *d = (reg_db *)s;
  if (!impi || !out || !gone)
    return IMSEC_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  *gone = 0;
  imsec_db_op_start(&d->w);
  IMSEC_GUARD(begin(d));
  sqlite3_stmt *st = d->st[ST_EXPIRE_B];
  bind_opt(st, 1, impi);
  sqlite3_bind_int64(st, 2, now_ms);
  int rv = run(d, st);
  sqlite3_clear_bindings(st);
  if (rv == 0) {
    st = d->st[ST_DEL_EMPTY];
    bind_opt(st, 1, impi);
    bind_opt(st, 2, impi);
    rv = run(d, st);
    sqlite3_clear_bindings(st);
    if (rv == 0 && sqlite3_changes(d->db) > 0)
      *gone = 1;
  }
  if (rv == 0 && !*gone) {
    rv = read_one(d, impi, now_ms, out);
    if (rv == IMSEC_ERR_NOTFOUND)
      rv = 0; /* nothing there: nothing left, not gone by this call */
  }
  rv = end_txn(d, rv);
  if (rv < 0) {
    imsec_reg_record_free(out);
    *gone = 0;
    return rv;
  }
  imsec_db_step_ok(&d->w);
  return 0;
}

static const imsec_reg_store_vtable rdb_vt = {
    rdb_save, rdb_del, rdb_load, rdb_destroy, rdb_batch, rdb_get, rdb_expire};

static int locked_err(reg_db *d, const char *path, char *err, size_t errcap) {
  return imsec_db_locked(&d->w, path, err, errcap);
}

/* Install the tables, or prove the file can be written: one write
 * transaction that sets this store's version octet. */
static int write_version(reg_db *d, const char *sql) {
  int rv = begin(d);
  if (rv < 0)
    return rv;
  if (sql)
    rv = imsec_db_exec(d->db, &d->w, sql);
  if (rv == 0)
    rv = imsec_db_set_part(d->db, &d->w, IMSEC_DB_PART_REG, SCHEMA_VERSION);
  return end_txn(d, rv);
}

int imsec_reg_db_open(imsec_reg_store **out, const char *path,
                      const imsec_hss_db_opts *o, char *err, size_t errcap) {
  if (!out || !path || !path[0])
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_hss_db_opts def = {.timeout_ms = CLI_TIMEOUT_MS};
  if (!o)
    o = &def;
  if (o->timeout_ms < 0)
    return IMSEC_ERR_INVAL;
  reg_db *d = calloc(1, sizeof(*d));
  if (!d)
    return IMSEC_ERR_NOMEM;
  d->base.vt = &rdb_vt;
  int created = 0, ver = 0;
  int rv = imsec_db_connect(path, o, "registrations", IMSEC_DB_PART_REG, &d->db,
                            &d->w, &created, &ver, err, errcap);
  if (rv < 0)
    goto fail;
  rv = IMSEC_ERR_IO;
  int e;
  if (ver == 0) {
    if (!o->create && !created) {
      imsec_db_set_err(err, errcap, "%s: no registration tables", path);
      rv = IMSEC_ERR_NOTFOUND;
      goto fail;
    }
    e = write_version(d, schema);
    if (e < 0) {
      if (e == IMSEC_ERR_BUSY)
        rv = locked_err(d, path, err, errcap);
      else
        imsec_db_set_err(err, errcap, "%s: cannot install the schema: %s", path,
                         sqlite3_errmsg(d->db));
      goto fail;
    }
  } else if (ver == 1 || ver == 2) {
    /* An older file: the new column (its records kept, IMS AKA), the
     * IMPU index. */
    e = write_version(d, ver == 1 ? migrate_v1 : migrate_v2);
    if (e < 0) {
      if (e == IMSEC_ERR_BUSY)
        rv = locked_err(d, path, err, errcap);
      else
        imsec_db_set_err(err, errcap,
                         "%s: cannot bring the registration schema from "
                         "version %d to %d: %s",
                         path, ver, SCHEMA_VERSION, sqlite3_errmsg(d->db));
      goto fail;
    }
  } else if (ver != SCHEMA_VERSION) {
    imsec_db_set_err(err, errcap,
                     "%s: registration schema version %d, this build knows %d",
                     path, ver, SCHEMA_VERSION);
    rv = IMSEC_ERR_UNSUPPORTED;
    goto fail;
  } else if (o->writable && (e = write_version(d, NULL)) < 0) {
    if (e == IMSEC_ERR_BUSY)
      rv = locked_err(d, path, err, errcap);
    else
      imsec_db_set_err(err, errcap, "%s: cannot be written (%s)", path,
                       sqlite3_errmsg(d->db));
    goto fail;
  }
  for (int i = 0; i < ST_N; i++)
    if (sqlite3_prepare_v3(d->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &d->st[i], NULL) != SQLITE_OK) {
      imsec_db_set_err(err, errcap, "%s: %s", path, sqlite3_errmsg(d->db));
      goto fail;
    }
  d->w.wait_ms = d->w.call_wait_ms;
  *out = &d->base;
  return 0;
fail:
  rdb_destroy(&d->base);
  return rv;
}
