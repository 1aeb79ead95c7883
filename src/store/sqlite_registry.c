/* SQLite backend of the registry: the connection, the schema and its
 * migrations, shared SQL helpers, and the function operations.
 *
 * Files: data_dir/registry.db plus SQLite's -wal and -shm beside it.
 * Journal mode WAL with synchronous=FULL: a commit returns only after the
 * WAL frame is fsync'ed, which survives kill -9 and power loss alike.
 *
 * Schema versions live in PRAGMA user_version; migrations[v] takes a
 * database from version v to v+1 and runs inside the same transaction as
 * the version bump, so a crash mid-migration leaves the old version.  The
 * file is marked with PRAGMA application_id so that some other SQLite
 * database handed to us is refused instead of being written into.
 *
 * Module bytes live in `blobs`, keyed by SHA-256, referenced by
 * `functions` (a foreign key, so a referenced blob cannot be deleted). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/sqlite_int.h"

#define TW_SQ_APPLICATION_ID 0x54577231 /* "TWr1" */

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE blobs("
    "  sha256 TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  bytes BLOB NOT NULL);"
    "CREATE TABLE functions("
    "  id TEXT PRIMARY KEY,"
    "  tenant INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL REFERENCES blobs(sha256),"
    "  created_unix_ms INTEGER NOT NULL);"
    "CREATE INDEX functions_by_tenant"
    "  ON functions(tenant, created_unix_ms, id);"
    "CREATE INDEX functions_by_blob ON functions(sha256);"
    /* seq orders the queue (oldest first) and is never reused. */
    "CREATE TABLE jobs("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  function_id TEXT NOT NULL,"
    "  tenant INTEGER NOT NULL,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('pending','running','completed','failed')),"
    "  export TEXT,"
    "  args TEXT NOT NULL,"
    "  input BLOB,"
    "  result TEXT,"
    "  error TEXT,"
    "  created_unix_ms INTEGER NOT NULL,"
    "  started_unix_ms INTEGER,"
    "  finished_unix_ms INTEGER);"
    "CREATE INDEX jobs_by_status ON jobs(status, seq);"
    "CREATE INDEX jobs_finished ON jobs(finished_unix_ms, seq)"
    "  WHERE status IN ('completed','failed');",
    /* 1 -> 2: the submitter's W3C trace context, so the worker joins its
     * trace (NULL for jobs written by version 1). */
    "ALTER TABLE jobs ADD COLUMN traceparent TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- shared helpers ---------------------------------------------------- */

void tw__sq_lock(tw__sqlite_registry *s) { pthread_mutex_lock(&s->lock); }
void tw__sq_unlock(tw__sqlite_registry *s) { pthread_mutex_unlock(&s->lock); }

tw_status tw__sq_fail(tw__sqlite_registry *s, int rc, const char *what,
                      tw_error *err) {
  const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
  case SQLITE_NOMEM:
    return tw__registry_error(err, TW_NOMEM, "%s: out of memory", what);
  case SQLITE_TOOBIG:
    return tw__registry_error(err, TW_LIMIT,
                              "%s: value too large for the registry", what);
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return tw__registry_error(
        err, TW_IO,
        "registry database %s is corrupt or not a registry "
        "database (%s): %s",
        s->path, what, msg);
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return tw__registry_error(err, TW_IO,
                              "%s: registry database %s is locked by another "
                              "process: %s",
                              what, s->path, msg);
  default: return tw__registry_error(err, TW_IO, "%s: %s", what, msg);
  }
}

tw_status tw__sq_prepare(tw__sqlite_registry *s, const char *sql,
                         sqlite3_stmt **out, tw_error *err) {
  int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
  if (rc != SQLITE_OK) {
    *out = NULL;
    return tw__sq_fail(s, rc, "preparing a registry query", err);
  }
  return TW_OK;
}

tw_status tw__sq_exec(tw__sqlite_registry *s, const char *sql, tw_error *err) {
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? TW_OK : tw__sq_fail(s, rc, "registry update", err);
}

tw_status tw__sq_run(tw__sqlite_registry *s, sqlite3_stmt *q, const char *what,
                     uint64_t *changes, tw_error *err) {
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE)
    return tw__sq_fail(s, rc, what, err);
  if (changes)
    *changes = (uint64_t)sqlite3_changes64(s->db);
  return TW_OK;
}

tw_status tw__sq_begin(tw__sqlite_registry *s, tw_error *err) {
  return tw__sq_exec(s, "BEGIN IMMEDIATE", err);
}

tw_status tw__sq_commit(tw__sqlite_registry *s, tw_error *err) {
  tw_status st = tw__sq_exec(s, "COMMIT", err);
  if (st != TW_OK)
    tw__sq_rollback(s);
  return st;
}

void tw__sq_rollback(tw__sqlite_registry *s) {
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- open, schema, close ----------------------------------------------- */

/* Runs a one-row, one-column query and returns its integer. */
static tw_status query_int(tw__sqlite_registry *s, const char *sql,
                           int64_t *out, tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(s, sql, &q, err);
  if (st != TW_OK)
    return st;
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(q, 0);
  else
    st = tw__sq_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql, err);
  sqlite3_finalize(q);
  return st;
}

/* WAL must be switched on outside a transaction, and SQLite answers with
 * the mode it ended up in (a read-only medium may refuse). */
static tw_status configure(tw__sqlite_registry *s, tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(s, "PRAGMA journal_mode=WAL", &q, err);
  if (st != TW_OK)
    return st;
  int rc = sqlite3_step(q);
  if (rc != SQLITE_ROW) {
    st = tw__sq_fail(s, rc, "switching to WAL", err);
  } else {
    const char *mode = (const char *)sqlite3_column_text(q, 0);
    if (!mode || strcmp(mode, "wal") != 0)
      st = tw__registry_error(err, TW_IO,
                              "registry database %s: WAL refused (%s)", s->path,
                              mode ? mode : "?");
  }
  sqlite3_finalize(q);
  if (st != TW_OK)
    return st;
  return tw__sq_exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", err);
}

/* Version 0 means a new file: it must hold nothing yet. */
static tw_status check_identity(tw__sqlite_registry *s, int64_t version,
                                tw_error *err) {
  int64_t app = 0, objects = 0;
  tw_status st = query_int(s, "PRAGMA application_id", &app, err);
  if (st != TW_OK)
    return st;
  if (version == 0) {
    st = query_int(s, "SELECT count(*) FROM sqlite_schema", &objects, err);
    if (st != TW_OK)
      return st;
  }
  if ((version != 0 && app != TW_SQ_APPLICATION_ID) ||
      (version == 0 && (objects != 0 || app != 0)))
    return tw__registry_error(err, TW_IO,
                              "%s is an SQLite database but not a registry "
                              "database (application_id %" PRId64 ")",
                              s->path, app);
  if (version > SCHEMA_VERSION)
    return tw__registry_error(err, TW_UNSUPPORTED,
                              "registry database %s has schema version %" PRId64
                              ", newer than this build's %d",
                              s->path, version, SCHEMA_VERSION);
  return TW_OK;
}

static tw_status migrate(tw__sqlite_registry *s, tw_error *err) {
  int64_t version = 0;
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    return st;
  /* Read inside the write transaction: another process may have just
   * migrated the same file. */
  if ((st = query_int(s, "PRAGMA user_version", &version, err)) != TW_OK)
    goto fail;
  if ((st = check_identity(s, version, err)) != TW_OK)
    goto fail;
  if (version == SCHEMA_VERSION) {
    tw__sq_rollback(s);
    return TW_OK;
  }
  for (int64_t v = version; v < SCHEMA_VERSION; v++)
    if ((st = tw__sq_exec(s, migrations[v], err)) != TW_OK)
      goto fail;
  char sql[96];
  snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d",
           TW_SQ_APPLICATION_ID, SCHEMA_VERSION);
  if ((st = tw__sq_exec(s, sql, err)) != TW_OK)
    goto fail;
  return tw__sq_commit(s, err);
fail:
  tw__sq_rollback(s);
  return st;
}

/* Reading every table once makes SQLite parse the whole schema now, so a
 * damaged schema is reported by open rather than by some later call. */
static tw_status check_tables(tw__sqlite_registry *s, tw_error *err) {
  static const char *const probes[] = {
      "SELECT count(*) FROM (SELECT 1 FROM blobs LIMIT 1)",
      "SELECT count(*) FROM (SELECT 1 FROM functions LIMIT 1)",
      "SELECT count(*) FROM (SELECT 1 FROM jobs LIMIT 1)",
  };
  int64_t n;
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    tw_status st = query_int(s, probes[i], &n, err);
    if (st != TW_OK)
      return st;
  }
  return TW_OK;
}

/* Non-blocking: a second server on the same directory is a mistake to
 * report, not to wait for. */
static tw_status lock_dir(tw__sqlite_registry *s, const char *data_dir,
                          tw_error *err) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/registry.lock", data_dir) >=
      sizeof path)
    return tw__registry_error(err, TW_ARG, "data directory path is too long");
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0)
    return tw__registry_error(err, TW_IO, "cannot open %s: %s", path,
                              strerror(errno));
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return tw__registry_error(err, TW_IO,
                              errno == EWOULDBLOCK
                                  ? "data directory %s is in use by another "
                                    "registry (another server process?)"
                                  : "cannot lock data directory %s",
                              data_dir);
  return TW_OK;
}

static void sq_close(tw_registry_t *reg) {
  tw__sqlite_registry *s = tw__sq(reg);
  /* Every statement is finalized by the call that made it, so close
   * succeeds and, as the last connection, checkpoints the WAL. */
  if (s->db)
    sqlite3_close(s->db);
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  pthread_mutex_destroy(&s->lock);
  free(s->path);
  free(s);
}

static const tw__registry_ops sqlite_ops;

tw_status tw__sqlite_registry_open(const char *data_dir,
                                   const tw_registry_options *opt,
                                   tw_registry_t **out, tw_error *err) {
  tw__sqlite_registry *s = calloc(1, sizeof *s);
  if (!s)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  s->base.ops = &sqlite_ops;
  s->base.opt = *opt;
  s->lock_fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  tw_status st = lock_dir(s, data_dir, err);
  if (st != TW_OK)
    goto fail;
  st = TW_NOMEM;
  size_t n = strlen(data_dir) + sizeof "/registry.db";
  if (!(s->path = malloc(n))) {
    tw__registry_error(err, st, "out of memory");
    goto fail;
  }
  snprintf(s->path, n, "%s/registry.db", data_dir);
  int rc = sqlite3_open_v2(
      s->path, &s->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    st = tw__sq_fail(s, rc, "opening", err);
    goto fail;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, (int)(opt->busy_timeout_ms > INT32_MAX
                                        ? INT32_MAX
                                        : opt->busy_timeout_ms));
  if ((st = configure(s, err)) != TW_OK)
    goto fail;
  if ((st = migrate(s, err)) != TW_OK)
    goto fail;
  if ((st = check_tables(s, err)) != TW_OK)
    goto fail;
  *out = &s->base;
  return TW_OK;
fail:
  sq_close(&s->base);
  return st;
}

/* ---- functions --------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, sqlite3_stmt *q, int col) {
  const unsigned char *t = sqlite3_column_text(q, col);
  snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

#define FUNCTION_COLS                                                          \
  "f.id, f.tenant, f.name, f.sha256, b.size, f.created_unix_ms"

static void read_info(sqlite3_stmt *q, tw_function_info *out) {
  memset(out, 0, sizeof *out);
  copy_text(out->id, sizeof out->id, q, 0);
  out->tenant = (uint64_t)sqlite3_column_int64(q, 1);
  copy_text(out->name, sizeof out->name, q, 2);
  copy_text(out->sha256, sizeof out->sha256, q, 3);
  out->size = (uint64_t)sqlite3_column_int64(q, 4);
  out->created_unix_ms = sqlite3_column_int64(q, 5);
}

static tw_status insert_blob(tw__sqlite_registry *s,
                             const tw_function_info *info, const uint8_t *wasm,
                             tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st =
      tw__sq_prepare(s,
                     "INSERT INTO blobs(sha256, size, bytes) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(sha256) DO NOTHING",
                     &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, info->sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)info->size);
  int rc = sqlite3_bind_blob64(q, 3, wasm, info->size, SQLITE_STATIC);
  if (rc != SQLITE_OK)
    st = tw__sq_fail(s, rc, "storing module bytes", err);
  else
    st = tw__sq_run(s, q, "storing module bytes", NULL, err);
  sqlite3_finalize(q);
  return st;
}

static tw_status insert_function(tw__sqlite_registry *s,
                                 const tw_function_info *info, tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(
      s,
      "INSERT INTO functions(id, tenant, name, sha256, created_unix_ms)"
      " VALUES(?1, ?2, ?3, ?4, ?5)",
      &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, info->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)info->tenant);
  sqlite3_bind_text(q, 3, info->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, info->sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 5, info->created_unix_ms);
  st = tw__sq_run(s, q, "storing function", NULL, err);
  sqlite3_finalize(q);
  return st;
}

static tw_status sq_function_put(tw_registry_t *reg,
                                 const tw_function_info *info,
                                 const uint8_t *wasm, tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  tw__sq_lock(s);
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  if ((st = insert_blob(s, info, wasm, err)) != TW_OK)
    goto done;
  if ((st = insert_function(s, info, err)) != TW_OK)
    goto done;
  st = tw__sq_commit(s, err);
done:
  if (st != TW_OK)
    tw__sq_rollback(s);
  tw__sq_unlock(s);
  return st;
}

static tw_status sq_function_get(tw_registry_t *reg, const char *id,
                                 tw_function_info *out, tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  tw__sq_lock(s);
  tw_status st = tw__sq_prepare(s,
                                "SELECT " FUNCTION_COLS " FROM functions f"
                                " JOIN blobs b ON b.sha256 = f.sha256"
                                " WHERE f.id = ?1",
                                &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    read_info(q, out);
  else if (rc == SQLITE_DONE)
    st = tw__registry_error(err, TW_NOT_FOUND, "function %s not found", id);
  else
    st = tw__sq_fail(s, rc, "reading function", err);
done:
  sqlite3_finalize(q);
  tw__sq_unlock(s);
  return st;
}

/* Copies the blob in the current row of q and checks it against its
 * SHA-256, so damaged bytes are never handed to the engine. */
static tw_status copy_blob(sqlite3_stmt *q, const char *id, uint8_t **bytes,
                           size_t *len, tw_error *err) {
  const void *p = sqlite3_column_blob(q, 0);
  size_t n = (size_t)sqlite3_column_bytes(q, 0);
  const char *want = (const char *)sqlite3_column_text(q, 1);
  char got[TW_SHA256_HEX_LEN + 1];
  tw_status st = tw__registry_sha256_hex(p ? p : "", n, got, err);
  if (st != TW_OK)
    return st;
  if (!want || strcmp(want, got) != 0)
    return tw__registry_error(err, TW_IO,
                              "module bytes of function %s are corrupt "
                              "(SHA-256 mismatch)",
                              id);
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  if (n)
    memcpy(copy, p, n);
  *bytes = copy;
  *len = n;
  return TW_OK;
}

static tw_status sq_function_bytes(tw_registry_t *reg, const char *id,
                                   uint8_t **bytes, size_t *len,
                                   tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  tw__sq_lock(s);
  tw_status st = tw__sq_prepare(s,
                                "SELECT b.bytes, b.sha256 FROM functions f"
                                " JOIN blobs b ON b.sha256 = f.sha256"
                                " WHERE f.id = ?1",
                                &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    st = copy_blob(q, id, bytes, len, err);
  else if (rc == SQLITE_DONE)
    st = tw__registry_error(err, TW_NOT_FOUND, "function %s not found", id);
  else
    st = tw__sq_fail(s, rc, "reading module bytes", err);
done:
  sqlite3_finalize(q);
  tw__sq_unlock(s);
  return st;
}

/* Cursor text: "<created_unix_ms>.<id>" of the last item of a page; the
 * next page starts strictly after that (created, id) pair. */
static bool parse_cursor(const char *cursor, int64_t *created, char *id) {
  char *end = NULL;
  long long c = strtoll(cursor, &end, 10);
  if (end == cursor || *end != '.' || strlen(end + 1) != TW_UUID_LEN)
    return false;
  for (const char *p = end + 1; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
      return false;
  *created = c;
  memcpy(id, end + 1, TW_UUID_LEN + 1);
  return true;
}

static tw_status sq_function_list(tw_registry_t *reg, uint64_t tenant,
                                  const char *cursor, tw_function_info *items,
                                  size_t cap, size_t *count, char *next_cursor,
                                  tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  int64_t after_created = INT64_MIN;
  char after_id[TW_UUID_LEN + 1] = "";
  if (cursor && !parse_cursor(cursor, &after_created, after_id))
    return tw__registry_error(err, TW_ARG, "list cursor is malformed");
  sqlite3_stmt *q = NULL;
  size_t n = 0;
  bool more = false;
  tw__sq_lock(s);
  tw_status st = tw__sq_prepare(
      s,
      "SELECT " FUNCTION_COLS " FROM functions f"
      " JOIN blobs b ON b.sha256 = f.sha256"
      " WHERE f.tenant = ?1 AND (f.created_unix_ms, f.id) > (?2, ?3)"
      " ORDER BY f.created_unix_ms, f.id LIMIT ?4",
      &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_int64(q, 1, (sqlite3_int64)tenant);
  sqlite3_bind_int64(q, 2, after_created);
  sqlite3_bind_text(q, 3, after_id, -1, SQLITE_STATIC);
  /* One row more than asked says whether another page follows. */
  sqlite3_bind_int64(q, 4,
                     cap >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)cap + 1);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (n == cap) {
      more = true;
      break;
    }
    read_info(q, &items[n++]);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    st = tw__sq_fail(s, rc, "listing functions", err);
    goto done;
  }
  next_cursor[0] = '\0';
  if (more)
    snprintf(next_cursor, TW_REGISTRY_CURSOR_MAX, "%" PRId64 ".%s",
             items[n - 1].created_unix_ms, items[n - 1].id);
  *count = n;
done:
  sqlite3_finalize(q);
  tw__sq_unlock(s);
  return st;
}

/* Deletes the function row; *sha gets the hash of its module bytes. */
static tw_status delete_function_row(tw__sqlite_registry *s, const char *id,
                                     char sha[TW_SHA256_HEX_LEN + 1],
                                     tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(
      s, "DELETE FROM functions WHERE id = ?1 RETURNING sha256", &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  sha[0] = '\0';
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    copy_text(sha, TW_SHA256_HEX_LEN + 1, q, 0);
  if (rc != SQLITE_DONE)
    st = tw__sq_fail(s, rc, "deleting function", err);
  else if (!sha[0])
    st = tw__registry_error(err, TW_NOT_FOUND, "function %s not found", id);
  sqlite3_finalize(q);
  return st;
}

static tw_status collect_blob(tw__sqlite_registry *s, const char *sha,
                              tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(
      s,
      "DELETE FROM blobs WHERE sha256 = ?1"
      " AND NOT EXISTS (SELECT 1 FROM functions WHERE sha256 = ?1)",
      &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, sha, -1, SQLITE_STATIC);
  st = tw__sq_run(s, q, "collecting module bytes", NULL, err);
  sqlite3_finalize(q);
  return st;
}

static tw_status sq_function_delete(tw_registry_t *reg, const char *id,
                                    tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  char sha[TW_SHA256_HEX_LEN + 1];
  tw__sq_lock(s);
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  if ((st = delete_function_row(s, id, sha, err)) != TW_OK)
    goto done;
  if ((st = collect_blob(s, sha, err)) != TW_OK)
    goto done;
  st = tw__sq_commit(s, err);
done:
  if (st != TW_OK)
    tw__sq_rollback(s);
  tw__sq_unlock(s);
  return st;
}

static const tw__registry_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .function_put = sq_function_put,
    .function_get = sq_function_get,
    .function_bytes = sq_function_bytes,
    .function_list = sq_function_list,
    .function_delete = sq_function_delete,
    .job_enqueue = tw__sq_job_enqueue,
    .job_claim = tw__sq_job_claim,
    .job_finish = tw__sq_job_finish,
    .job_get = tw__sq_job_get,
    .recover = tw__sq_recover,
    .job_prune = tw__sq_job_prune,
    .job_outstanding = tw__sq_job_outstanding,
};
