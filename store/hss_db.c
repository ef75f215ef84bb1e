/* The SQLite subscriber store (include/imsec/hss.h): every SQN update is
 * its own synchronous transaction (PRAGMA synchronous=FULL, rollback
 * journal or WAL), committed before the HSS hands the vector out.
 *
 * Schema versions (the HSS octet of PRAGMA user_version, store/db.h):
 * 1  IMS AKA subscribers only (K, OP/OPc, AMF, SQN state, AKA version);
 * 2  adds the scheme of each subscriber and, for SIP Digest (TS 33.203
 *    Annex N), its realm and H(A1)s (TS 29.228 Digest-HA1: the password
 *    is never stored). A version-1 file is upgraded in place when it is
 *    opened, keeping its subscribers (they are IMS AKA). A new file is
 *    built the same way, version 1 then the upgrade, so both have the
 *    same table. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "imsec/hss.h"
#include "imsec/hss_db.h"

#define SCHEMA_VERSION 2
#define CLI_TIMEOUT_MS 5000

typedef struct db_store {
  imsec_hss_store base;
  sqlite3 *db;
  sqlite3_stmt *st_load, *st_impus, *st_find, *st_save, *st_digest, *st_reserve;
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

/* Version 1 -> 2. A SIP Digest subscriber keeps K and OP as zeros (the
 * version-1 columns are NOT NULL) and has its realm and H(A1)s; an IMS
 * AKA subscriber has them NULL. ha1_md5 holds the H(A1) of the IMPI then
 * that of its user part (16 octets each), ha1_sha256 the same with 32
 * (imsec_hss_digest.ha1, RFC 7616 §3.4.2). */
static const char upgrade_2[] =
    "ALTER TABLE subscriber ADD COLUMN scheme INTEGER NOT NULL DEFAULT 0"
    " CHECK(scheme IN (0, 1));"
    "ALTER TABLE subscriber ADD COLUMN realm TEXT"
    " CHECK(realm IS NULL OR length(realm) BETWEEN 1 AND 255);"
    "ALTER TABLE subscriber ADD COLUMN ha1_md5 BLOB"
    " CHECK(ha1_md5 IS NULL OR length(ha1_md5) = 32);"
    "ALTER TABLE subscriber ADD COLUMN ha1_sha256 BLOB"
    " CHECK(ha1_sha256 IS NULL OR length(ha1_sha256) = 64);";

#define MD5_LEN 16
#define SHA256_LEN 32

/* imsec_hss_digest.ha1 <-> the two H(A1) columns. */
static void ha1_pack(const imsec_hss_digest *d, uint8_t md5[2 * MD5_LEN],
                     uint8_t sha[2 * SHA256_LEN]) {
  for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
    memcpy(md5 + u * MD5_LEN, d->ha1[IMSEC_HSS_HA1_MD5][u], MD5_LEN);
    memcpy(sha + u * SHA256_LEN, d->ha1[IMSEC_HSS_HA1_SHA256][u], SHA256_LEN);
  }
}

static void ha1_unpack(imsec_hss_digest *d, const uint8_t md5[2 * MD5_LEN],
                       const uint8_t sha[2 * SHA256_LEN]) {
  for (size_t u = 0; u < IMSEC_HSS_USER_FORMS; u++) {
    memcpy(d->ha1[IMSEC_HSS_HA1_MD5][u], md5 + u * MD5_LEN, MD5_LEN);
    memcpy(d->ha1[IMSEC_HSS_HA1_SHA256][u], sha + u * SHA256_LEN, SHA256_LEN);
  }
}

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

/* The scheme columns (8 scheme, 9 realm, 10 ha1_md5, 11 ha1_sha256; the
 * H(A1)s only when `secrets`) -> sub. A row whose columns do not agree
 * with its scheme is a damaged file: IMSEC_ERR_IO. */
static int row_scheme(sqlite3_stmt *st, imsec_hss_sub *sub, int secrets) {
  int scheme = sqlite3_column_int(st, 8);
  if (scheme == IMSEC_HSS_SCHEME_AKA)
    return sqlite3_column_type(st, 9) == SQLITE_NULL ? 0 : IMSEC_ERR_IO;
  if (scheme != IMSEC_HSS_SCHEME_DIGEST)
    return IMSEC_ERR_IO;
  sub->scheme = IMSEC_HSS_SCHEME_DIGEST;
  IMSEC_GUARD(col_text(st, 9, sub->digest.realm, sizeof(sub->digest.realm)));
  if (!sub->digest.realm[0])
    return IMSEC_ERR_IO;
  if (!secrets)
    return 0;
  uint8_t md5[2 * MD5_LEN], sha[2 * SHA256_LEN];
  int rv = col_blob(st, 10, md5, sizeof(md5));
  if (rv == 0)
    rv = col_blob(st, 11, sha, sizeof(sha));
  if (rv == 0)
    ha1_unpack(&sub->digest, md5, sha);
  imsec_wipe(md5, sizeof(md5));
  imsec_wipe(sha, sizeof(sha));
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
  return row_scheme(st, sub, secrets);
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

/* An UPDATE of one subscriber changed no row: `exists` when the IMPI is
 * there (the row did not match the rest of the condition), else
 * IMSEC_ERR_NOTFOUND. */
static int unchanged_why(db_store *d, imsec_str impi, int exists) {
  sqlite3_stmt *q = d->st_load;
  sqlite3_reset(q);
  bind_text(q, 1, impi);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc == SQLITE_ROW)
    return exists;
  return rc == SQLITE_DONE ? IMSEC_ERR_NOTFOUND : imsec_db_step_err(&d->w, rc);
}

/* Compare and set in one autocommit UPDATE: SQLite takes the write lock
 * for the statement, so the WHERE sees the state no other connection can
 * change before the write (two S-CSCFs sharing one file reserve disjoint
 * SQN ranges). No row changed: the IMPI is gone, or its state moved. */
static int db_reserve_sqn(imsec_hss_store *s, imsec_str impi,
                          const imsec_sqn_he *old, const imsec_sqn_he *next) {
  db_store *d = (db_store *)s;
  sqlite3_stmt *st = d->st_reserve;
  if (next->seq > (uint64_t)INT64_MAX || old->seq > (uint64_t)INT64_MAX)
    return IMSEC_ERR_INVAL;
  imsec_db_op_start(&d->w);
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)next->seq);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)next->ind_next);
  bind_text(st, 3, impi);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)old->seq);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)old->ind_next);
  int rc = sqlite3_step(st);
  int changed = sqlite3_changes(d->db);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE)
    return imsec_db_step_err(&d->w, rc);
  imsec_db_step_ok(&d->w);
  if (changed == 1)
    return 0;
  return unchanged_why(d, impi, IMSEC_ERR_STALE);
}

static int exec(db_store *d, const char *sql) {
  return imsec_db_exec(d->db, &d->w, sql);
}

static int db_add(imsec_hss_store *s, const imsec_hss_sub *sub) {
  db_store *d = (db_store *)s;
  IMSEC_GUARD(imsec_hss_sub_check(sub, NULL));
  if (sub->sqn.seq > (uint64_t)INT64_MAX)
    return IMSEC_ERR_INVAL;
  /* Inside a group commit the two inserts share a savepoint: a failed
   * add undoes only itself and leaves the rest of the batch
   * (imsec_store_batch_op). */
  IMSEC_GUARD(exec(d, d->in_batch ? "SAVEPOINT hss_add" : "BEGIN IMMEDIATE"));
  sqlite3_stmt *st = NULL;
  int rv = IMSEC_ERR_IO;
  if (sqlite3_prepare_v2(d->db,
                         "INSERT INTO subscriber(impi, k, op, op_is_opc, amf,"
                         " seq, ind_next, aka, scheme, realm, ha1_md5,"
                         " ha1_sha256) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
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
  sqlite3_bind_int(st, 9, (int)sub->scheme);
  uint8_t md5[2 * MD5_LEN], sha[2 * SHA256_LEN];
  if (sub->scheme == IMSEC_HSS_SCHEME_DIGEST) {
    ha1_pack(&sub->digest, md5, sha);
    bind_text(st, 10, imsec_str_c(sub->digest.realm));
    sqlite3_bind_blob(st, 11, md5, sizeof(md5), SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, sha, sizeof(sha), SQLITE_STATIC);
  }
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  imsec_wipe(md5, sizeof(md5));
  imsec_wipe(sha, sizeof(sha));
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
  if (exec(d, d->in_batch ? "RELEASE hss_add" : "COMMIT") < 0)
    goto rollback;
  return 0;
rollback:
  sqlite3_finalize(st);
  (void)exec(d,
             d->in_batch ? "ROLLBACK TO hss_add; RELEASE hss_add" : "ROLLBACK");
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
  /* No secrets are read: K, OP and the H(A1)s stay on disk. */
  if (sqlite3_prepare_v2(d->db,
                         "SELECT impi, NULL, NULL, op_is_opc, amf, seq,"
                         " ind_next, aka, scheme, realm FROM subscriber"
                         " ORDER BY impi",
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
  sqlite3_finalize(d->st_digest);
  sqlite3_finalize(d->st_reserve);
  imsec_db_tx_free(&d->w);
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

/* A password change: the new realm and H(A1)s in one autocommit
 * statement (durable when it returns, or at the batch's COMMIT). */
static int db_set_digest(imsec_hss_store *s, imsec_str impi,
                         const imsec_hss_digest *dg) {
  db_store *d = (db_store *)s;
  if (!dg)
    return IMSEC_ERR_INVAL;
  size_t r = 0;
  while (r < sizeof(dg->realm) && dg->realm[r])
    r++;
  if (r == 0 || r == sizeof(dg->realm))
    return IMSEC_ERR_INVAL;
  uint8_t md5[2 * MD5_LEN], sha[2 * SHA256_LEN];
  ha1_pack(dg, md5, sha);
  imsec_db_op_start(&d->w);
  sqlite3_stmt *st = d->st_digest;
  sqlite3_reset(st);
  bind_text(st, 1, imsec_str_make(dg->realm, r));
  sqlite3_bind_blob(st, 2, md5, sizeof(md5), SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, sha, sizeof(sha), SQLITE_STATIC);
  bind_text(st, 4, impi);
  int rc = sqlite3_step(st);
  int changed = sqlite3_changes(d->db);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  imsec_wipe(md5, sizeof(md5));
  imsec_wipe(sha, sizeof(sha));
  if (rc != SQLITE_DONE)
    return imsec_db_step_err(&d->w, rc);
  imsec_db_step_ok(&d->w);
  if (changed == 1)
    return 0;
  /* Nothing changed: no such IMPI, or an IMS AKA subscriber (which has
   * no password to change). */
  return unchanged_why(d, impi, IMSEC_ERR_INVAL);
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
    .set_digest = db_set_digest,
    .reserve_sqn = db_reserve_sqn,
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

/* Bring the tables from version `from` (0: none) to SCHEMA_VERSION in one
 * transaction: a crash or a failure leaves the file as it was. Another
 * process that holds a version-1 file open sees the new version on its
 * next open and refuses it (its build does not know it). Returns 0 or a
 * negative imsec_err with `err` set. */
static int install(db_store *d, int from, const char *path, char *err,
                   size_t errcap) {
  int e = exec(d, "BEGIN IMMEDIATE");
  /* Another process may have upgraded it between the version read and
   * the write lock. */
  int v = 0;
  if (e == 0)
    e = imsec_db_user_version(d->db, &d->w, &v);
  if (e == 0 && imsec_db_part(v, IMSEC_DB_PART_HSS) != from) {
    (void)exec(d, "ROLLBACK");
    if (imsec_db_part(v, IMSEC_DB_PART_HSS) == SCHEMA_VERSION)
      return 0;
    imsec_db_set_err(err, errcap,
                     "%s: its schema changed to version %d while it was "
                     "opened",
                     path, imsec_db_part(v, IMSEC_DB_PART_HSS));
    return IMSEC_ERR_UNSUPPORTED;
  }
  if (e == 0 && from < 1)
    e = exec(d, schema);
  if (e == 0 && from < 2)
    e = exec(d, upgrade_2);
  if (e == 0)
    e = imsec_db_set_part(d->db, &d->w, IMSEC_DB_PART_HSS, SCHEMA_VERSION);
  if (e == 0)
    e = exec(d, "COMMIT");
  if (e == 0)
    return 0;
  int rv = IMSEC_ERR_IO;
  if (e == IMSEC_ERR_BUSY)
    rv = locked_err(d, path, err, errcap);
  else if (from)
    imsec_db_set_err(err, errcap,
                     "%s: cannot upgrade the schema from version %d to %d: "
                     "%s",
                     path, from, SCHEMA_VERSION, sqlite3_errmsg(d->db));
  else
    imsec_db_set_err(err, errcap, "%s: cannot install the schema: %s", path,
                     sqlite3_errmsg(d->db));
  (void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
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
  if (ver == 0 && !o->create && !created) {
    imsec_db_set_err(err, errcap, "%s: not an imsec HSS database", path);
    goto fail;
  }
  if (ver < SCHEMA_VERSION) {
    if ((e = install(d, ver, path, err, errcap)) < 0) {
      rv = e;
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
                         " aka, scheme, realm, ha1_md5, ha1_sha256"
                         " FROM subscriber WHERE impi = ?",
                         -1, &d->st_load, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "SELECT impu FROM impu WHERE impi = ? ORDER BY pos",
                         -1, &d->st_impus, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db, "SELECT impi FROM impu WHERE impu = ?", -1,
                         &d->st_find, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "UPDATE subscriber SET seq = ?, ind_next = ?"
                         " WHERE impi = ?",
                         -1, &d->st_save, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "UPDATE subscriber SET realm = ?, ha1_md5 = ?,"
                         " ha1_sha256 = ? WHERE impi = ? AND scheme = 1",
                         -1, &d->st_digest, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db,
                         "UPDATE subscriber SET seq = ?, ind_next = ?"
                         " WHERE impi = ? AND seq = ? AND ind_next = ?",
                         -1, &d->st_reserve, NULL) != SQLITE_OK) {
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
