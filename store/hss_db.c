/* The SQLite subscriber store (include/imsec/hss.h): every SQN update is
 * its own synchronous transaction (PRAGMA synchronous=FULL, rollback
 * journal or WAL), committed before the HSS hands the vector out. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"

#define SCHEMA_VERSION 1
#define CLI_TIMEOUT_MS 5000

typedef struct db_store {
  imsec_hss_store base;
  sqlite3 *db;
  sqlite3_stmt *st_load, *st_impus, *st_find, *st_save;
  imsec_db_wait w; /* lock waits: at open, then per call */
  int in_batch;    /* inside a group commit (imsec_db_batch) */
} db_store;

static const char schema[] =
    "CREATE TABLE subscriber("
    " impi TEXT PRIMARY KEY NOT NULL,"
    " k BLOB NOT NULL CHECK(length(k) = 16),"
    " op BLOB NOT NULL CHECK(length(op) = 16),"
    " op_is_opc INTEGER NOT NULL,"
    " amf BLOB NOT NULL CHECK(length(amf) = 2),"
    " seq INTEGER NOT NULL,"
    " ind_next INTEGER NOT NULL,"
    " aka INTEGER NOT NULL);"
    "CREATE TABLE impu("
    " impu TEXT PRIMARY KEY NOT NULL,"
    " impi TEXT NOT NULL REFERENCES subscriber(impi) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL);"
    "CREATE INDEX impu_by_impi ON impu(impi, pos);";

static int bind_text(sqlite3_stmt *st, int i, imsec_str s) {
  return sqlite3_bind_text(st, i, s.p ? s.p : "", (int)s.len, SQLITE_STATIC);
}

/* Copy a TEXT column into a fixed buffer; 0 or IMSEC_ERR_IO (too long). */
static int col_text(sqlite3_stmt *st, int i, char *out, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, i);
  int n = sqlite3_column_bytes(st, i);
  if (!t || n < 0 || (size_t)n >= cap)
    return IMSEC_ERR_IO;
  memcpy(out, t, (size_t)n);
  out[n] = 0;
  return 0;
}

static int col_blob(sqlite3_stmt *st, int i, uint8_t *out, size_t len) {
  const void *b = sqlite3_column_blob(st, i);
  if (!b || (size_t)sqlite3_column_bytes(st, i) != len)
    return IMSEC_ERR_IO;
  memcpy(out, b, len);
  return 0;
}

/* Fill the IMPUs of sub->impi. */
static int load_impus(db_store *d, imsec_hss_sub *sub) {
  sqlite3_stmt *st = d->st_impus;
  sqlite3_reset(st);
  bind_text(st, 1, imsec_str_c(sub->impi));
  sub->n_impus = 0;
  int rc, rv = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sub->n_impus >= IMSEC_HSS_MAX_IMPUS) {
      rv = IMSEC_ERR_IO;
      break;
    }
    rv = col_text(st, 0, sub->impus[sub->n_impus], IMSEC_HSS_ID_MAX);
    if (rv < 0)
      break;
    sub->n_impus++;
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  return rv;
}

/* Row of st_load/st_find -> sub (secrets included when `secrets`). */
static int row_to_sub(sqlite3_stmt *st, imsec_hss_sub *sub, int secrets) {
  memset(sub, 0, sizeof(*sub));
  IMSEC_GUARD(col_text(st, 0, sub->impi, sizeof(sub->impi)));
  if (secrets) {
    IMSEC_GUARD(col_blob(st, 1, sub->k, sizeof(sub->k)));
    IMSEC_GUARD(col_blob(st, 2, sub->op, sizeof(sub->op)));
  }
  sub->op_is_opc = sqlite3_column_int(st, 3) != 0;
  IMSEC_GUARD(col_blob(st, 4, sub->amf, sizeof(sub->amf)));
  sqlite3_int64 seq = sqlite3_column_int64(st, 5);
  sqlite3_int64 ind = sqlite3_column_int64(st, 6);
  if (seq < 0 || ind < 0 || ind >= IMSEC_SQN_SLOTS_MAX)
    return IMSEC_ERR_IO;
  sub->sqn.seq = (uint64_t)seq;
  sub->sqn.ind_next = (uint32_t)ind;
  int aka = sqlite3_column_int(st, 7);
  if (aka != IMSEC_HSS_AKAV1 && aka != IMSEC_HSS_AKAV2)
    return IMSEC_ERR_IO;
  sub->aka = (imsec_hss_aka)aka;
  return 0;
}

static int db_load(imsec_hss_store *s, imsec_str impi, imsec_hss_sub *out) {
  db_store *d = (db_store *)s;
  imsec_db_op_start(&d->w);
  sqlite3_stmt *st = d->st_load;
  sqlite3_reset(st);
  bind_text(st, 1, impi);
  int rc = sqlite3_step(st);
  int rv;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    imsec_db_step_ok(&d->w);
  if (rc == SQLITE_ROW)
    rv = row_to_sub(st, out, 1);
  else
    rv = rc == SQLITE_DONE ? IMSEC_ERR_NOTFOUND : imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  if (rv == 0)
    rv = load_impus(d, out);
  if (rv < 0)
    imsec_hss_sub_wipe(out);
  return rv;
}

static int db_find_impu(imsec_hss_store *s, imsec_str impu,
                        imsec_hss_sub *out) {
  db_store *d = (db_store *)s;
  imsec_db_op_start(&d->w);
  sqlite3_stmt *st = d->st_find;
  sqlite3_reset(st);
  bind_text(st, 1, impu);
  int rc = sqlite3_step(st);
  char impi[IMSEC_HSS_ID_MAX];
  int rv;
  if (rc == SQLITE_ROW)
    rv = col_text(st, 0, impi, sizeof(impi));
  else
    rv = rc == SQLITE_DONE ? IMSEC_ERR_NOTFOUND : imsec_db_step_err(&d->w, rc);
  sqlite3_reset(st);
  if (rv < 0)
    return rv;
  return db_load(s, imsec_str_c(impi), out);
}

static int db_save_sqn(imsec_hss_store *s, imsec_str impi,
                       const imsec_sqn_he *sqn) {
  db_store *d = (db_store *)s;
  sqlite3_stmt *st = d->st_save;
  if (sqn->seq > (uint64_t)INT64_MAX)
    return IMSEC_ERR_INVAL;
  imsec_db_op_start(&d->w);
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)sqn->seq);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)sqn->ind_next);
  bind_text(st, 3, impi);
  /* Autocommit: this statement is one transaction, and with
   * synchronous=FULL it is on disk (journal deleted, fsync done) when
   * sqlite3_step returns SQLITE_DONE. Inside a batch it is durable when
   * the batch's COMMIT returns. */
  int rc = sqlite3_step(st);
  int changed = sqlite3_changes(d->db);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE)
    return imsec_db_step_err(&d->w, rc);
  imsec_db_step_ok(&d->w);
  return changed == 1 ? 0 : IMSEC_ERR_NOTFOUND;
}

static int exec(db_store *d, const char *sql) {
  return imsec_db_exec(d->db, &d->w, sql);
}

static int db_add(imsec_hss_store *s, const imsec_hss_sub *sub) {
  db_store *d = (db_store *)s;
  IMSEC_GUARD(imsec_hss_sub_check(sub, NULL));
  if (sub->sqn.seq > (uint64_t)INT64_MAX)
    return IMSEC_ERR_INVAL;
  IMSEC_GUARD(exec(d, "BEGIN IMMEDIATE"));
  sqlite3_stmt *st = NULL;
  int rv = IMSEC_ERR_IO;
  if (sqlite3_prepare_v2(d->db,
                         "INSERT INTO subscriber(impi, k, op, op_is_opc, amf,"
                         " seq, ind_next, aka) VALUES(?,?,?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK)
    goto rollback;
  bind_text(st, 1, imsec_str_c(sub->impi));
  sqlite3_bind_blob(st, 2, sub->k, sizeof(sub->k), SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, sub->op, sizeof(sub->op), SQLITE_STATIC);
  sqlite3_bind_int(st, 4, sub->op_is_opc ? 1 : 0);
  sqlite3_bind_blob(st, 5, sub->amf, sizeof(sub->amf), SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)sub->sqn.seq);
  sqlite3_bind_int64(st, 7, (sqlite3_int64)sub->sqn.ind_next);
  sqlite3_bind_int(st, 8, (int)sub->aka);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_CONSTRAINT) {
    rv = IMSEC_ERR_EXISTS;
    goto rollback;
  }
  if (rc != SQLITE_DONE)
    goto rollback;
  if (sqlite3_prepare_v2(d->db,
                         "INSERT INTO impu(impu, impi, pos) VALUES(?,?,?)", -1,
                         &st, NULL) != SQLITE_OK)
    goto rollback;
  for (size_t i = 0; i < sub->n_impus; i++) {
    sqlite3_reset(st);
    bind_text(st, 1, imsec_str_c(sub->impus[i]));
    bind_text(st, 2, imsec_str_c(sub->impi));
    sqlite3_bind_int(st, 3, (int)i);
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) {
      rv = IMSEC_ERR_EXISTS;
      goto rollback;
    }
    if (rc != SQLITE_DONE)
      goto rollback;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (exec(d, "COMMIT") < 0)
    goto rollback;
  return 0;
rollback:
  sqlite3_finalize(st);
  (void)exec(d, "ROLLBACK");
  return rv;
}

static int db_del(imsec_hss_store *s, imsec_str impi) {
  db_store *d = (db_store *)s;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(d->db, "DELETE FROM subscriber WHERE impi = ?", -1,
                         &st, NULL) != SQLITE_OK)
    return IMSEC_ERR_IO;
  bind_text(st, 1, impi);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return IMSEC_ERR_IO;
  return sqlite3_changes(d->db) == 1 ? 0 : IMSEC_ERR_NOTFOUND;
}

static int db_list(imsec_hss_store *s, imsec_hss_list_fn fn, void *arg) {
  db_store *d = (db_store *)s;
  sqlite3_stmt *st = NULL;
  /* No secrets are read: K and OP stay on disk. */
  if (sqlite3_prepare_v2(d->db,
                         "SELECT impi, NULL, NULL, op_is_opc, amf, seq,"
                         " ind_next, aka FROM subscriber ORDER BY impi",
                         -1, &st, NULL) != SQLITE_OK)
    return IMSEC_ERR_IO;
  imsec_hss_sub *sub = malloc(sizeof(*sub));
  if (!sub) {
    sqlite3_finalize(st);
    return IMSEC_ERR_NOMEM;
  }
  int rc, rv = 0;
  while (rv == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rv = row_to_sub(st, sub, 0);
    if (rv == 0)
      rv = load_impus(d, sub);
    if (rv == 0)
      rv = fn(arg, sub);
  }
  if (rv == 0 && rc != SQLITE_DONE)
    rv = IMSEC_ERR_IO;
  sqlite3_finalize(st);
  free(sub);
  return rv;
}

static void db_destroy(imsec_hss_store *s) {
  db_store *d = (db_store *)s;
  sqlite3_finalize(d->st_load);
  sqlite3_finalize(d->st_impus);
  sqlite3_finalize(d->st_find);
  sqlite3_finalize(d->st_save);
  sqlite3_close(d->db);
  free(d);
}

static int db_batch(imsec_hss_store *s, imsec_store_batch_op op) {
  db_store *d = (db_store *)s;
  imsec_db_op_start(&d->w);
  int rv = imsec_db_batch(d->db, &d->w, &d->in_batch, op);
  if (rv == 0)
    imsec_db_step_ok(&d->w);
  return rv;
}

static const imsec_hss_store_vtable db_vt = {
    .load = db_load,
    .find_impu = db_find_impu,
    .save_sqn = db_save_sqn,
    .add = db_add,
    .del = db_del,
    .list = db_list,
    .destroy = db_destroy,
    .batch = db_batch,
};

int imsec_hss_db_open(imsec_hss_store **out, const char *path, int create,
                      char *err, size_t errcap) {
  /* The management commands may wait longer than a daemon's loop. */
  imsec_hss_db_opts o = {.create = create, .timeout_ms = CLI_TIMEOUT_MS};
  return imsec_hss_db_open_opts(out, path, &o, err, errcap);
}

/* A lock held by another process at open: said so, not waited on in
 * silence. */
static int locked_err(db_store *d, const char *path, char *err, size_t errcap) {
  return imsec_db_locked(&d->w, path, err, errcap);
}

/* One real write in a transaction (the same schema version again): the
 * file, and its folder for the rollback journal, are writable. */
static int probe_write(db_store *d, char *why, size_t cap) {
  if (sqlite3_db_readonly(d->db, "main") == 1) {
    snprintf(why, cap, "read-only");
    return IMSEC_ERR_PERM;
  }
  int rv = exec(d, "BEGIN IMMEDIATE");
  if (rv == 0)
    rv = imsec_db_set_part(d->db, &d->w, IMSEC_DB_PART_HSS, SCHEMA_VERSION);
  if (rv == 0)
    rv = exec(d, "COMMIT");
  if (rv < 0) {
    snprintf(why, cap, "%s", sqlite3_errmsg(d->db));
    (void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
  }
  return rv;
}

int imsec_hss_db_open_opts(imsec_hss_store **out, const char *path,
                           const imsec_hss_db_opts *o, char *err,
                           size_t errcap) {
  if (!out || !path || !path[0])
    return IMSEC_ERR_INVAL;
  *out = NULL;
  imsec_hss_db_opts def = {0};
  if (!o)
    o = &def;
  if (o->timeout_ms < 0)
    return IMSEC_ERR_INVAL;
  db_store *d = calloc(1, sizeof(*d));
  if (!d)
    return IMSEC_ERR_NOMEM;
  d->base.vt = &db_vt;
  int created = 0, ver = 0;
  int rv = imsec_db_connect(path, o, "subscriber keys", IMSEC_DB_PART_HSS,
                            &d->db, &d->w, &created, &ver, err, errcap);
  if (rv < 0)
    goto fail;
  rv = IMSEC_ERR_IO;
  int e;
  if (ver == 0) {
    if (!o->create && !created) {
      imsec_db_set_err(err, errcap, "%s: not an imsec HSS database", path);
      goto fail;
    }
    e = exec(d, "BEGIN IMMEDIATE");
    if (e == 0)
      e = exec(d, schema);
    if (e == 0)
      e = imsec_db_set_part(d->db, &d->w, IMSEC_DB_PART_HSS, SCHEMA_VERSION);
    if (e == 0)
      e = exec(d, "COMMIT");
    if (e < 0) {
      if (e == IMSEC_ERR_BUSY)
        rv = locked_err(d, path, err, errcap);
      else
        imsec_db_set_err(err, errcap, "%s: cannot install the schema: %s", path,
                         sqlite3_errmsg(d->db));
      (void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
  } else if (ver != SCHEMA_VERSION) {
    imsec_db_set_err(err, errcap, "%s: schema version %d, this build knows %d",
                     path, ver, SCHEMA_VERSION);
    rv = IMSEC_ERR_UNSUPPORTED;
    goto fail;
  }
  char why[160] = "";
  if (o->writable && (e = probe_write(d, why, sizeof(why))) < 0) {
    if (e == IMSEC_ERR_BUSY) {
      rv = locked_err(d, path, err, errcap);
    } else {
      imsec_db_set_err(err, errcap, "%s: cannot be written (%s)", path, why);
      rv = IMSEC_ERR_IO;
    }
    goto fail;
  }
  if (sqlite3_prepare_v2(d->db,
                         "SELECT impi, k, op, op_is_opc, amf, seq, ind_next,"
                         " aka FROM subscriber WHERE impi = ?",
                         -1, &d->st_load, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "SELECT impu FROM impu WHERE impi = ? ORDER BY pos",
                         -1, &d->st_impus, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db, "SELECT impi FROM impu WHERE impu = ?", -1,
                         &d->st_find, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "UPDATE subscriber SET seq = ?, ind_next = ?"
                         " WHERE impi = ?",
                         -1, &d->st_save, NULL) != SQLITE_OK) {
    imsec_db_set_err(err, errcap, "%s: %s", path, sqlite3_errmsg(d->db));
    goto fail;
  }
  d->w.wait_ms = d->w.call_wait_ms;
  *out = &d->base;
  return 0;
fail:
  db_destroy(&d->base);
  return rv;
}
