/* SQLite backend of the registry: the job queue.
 *
 * A job is one row of `jobs`; its status column is the state machine of
 * registry.h.  Each transition is a single UPDATE guarded by the status it
 * leaves, inside BEGIN IMMEDIATE, so no two callers (threads or processes)
 * can both make it: claim hands a job out once, and complete/fail finish
 * it once.  The queue order is `seq`, the insertion order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define JOB_COLS                                                               \
  "id, function_id, tenant, status, export, args, input, result, error,"       \
  " created_unix_ms, started_unix_ms, finished_unix_ms, traceparent"

static bool status_parse(const char *text, tw_job_status *out) {
  for (int s = TW_JOB_PENDING; s <= TW_JOB_FAILED; s++)
    if (text && strcmp(text, tw_job_status_name((tw_job_status)s)) == 0) {
      *out = (tw_job_status)s;
      return true;
    }
  return false;
}

/* Heap copy of a text column; NULL stays NULL.  False only on OOM. */
static bool dup_text(sqlite3_stmt *q, int col, char **out) {
  *out = NULL;
  if (sqlite3_column_type(q, col) == SQLITE_NULL)
    return true;
  const char *t = (const char *)sqlite3_column_text(q, col);
  if (!t)
    return false;
  *out = tw__registry_strndup(t, (size_t)sqlite3_column_bytes(q, col));
  return *out != NULL;
}

static bool dup_blob(sqlite3_stmt *q, int col, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  size_t n = (size_t)sqlite3_column_bytes(q, col);
  if (n == 0)
    return true;
  const void *p = sqlite3_column_blob(q, col);
  if (!p || !(*out = malloc(n)))
    return false;
  memcpy(*out, p, n);
  *len = n;
  return true;
}

/* Fills *out from a row of JOB_COLS.  On failure *out is cleared. */
static tw_status read_job(tw__sqlite_registry *s, sqlite3_stmt *q, tw_job *out,
                          tw_error *err) {
  memset(out, 0, sizeof *out);
  const char *id = (const char *)sqlite3_column_text(q, 0);
  const char *fid = (const char *)sqlite3_column_text(q, 1);
  snprintf(out->id, sizeof out->id, "%s", id ? id : "");
  snprintf(out->function_id, sizeof out->function_id, "%s", fid ? fid : "");
  out->tenant = (uint64_t)sqlite3_column_int64(q, 2);
  if (!status_parse((const char *)sqlite3_column_text(q, 3), &out->status))
    return tw__registry_error(err, TW_IO,
                              "registry database %s is corrupt: job %s has an "
                              "unknown status",
                              s->path, out->id);
  if (!dup_text(q, 4, &out->export_name) || !dup_text(q, 5, &out->args_json) ||
      !dup_blob(q, 6, &out->input, &out->input_len) ||
      !dup_text(q, 7, &out->result_json) || !dup_text(q, 8, &out->error) ||
      !dup_text(q, 12, &out->traceparent)) {
    tw_job_clear(out);
    return tw__registry_error(err, TW_NOMEM, "out of memory reading job");
  }
  out->created_unix_ms = sqlite3_column_int64(q, 9);
  out->started_unix_ms = sqlite3_column_int64(q, 10);
  out->finished_unix_ms = sqlite3_column_int64(q, 11);
  return TW_OK;
}

static tw_status count_outstanding(tw__sqlite_registry *s, uint64_t *count,
                                   tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(
      s, "SELECT count(*) FROM jobs WHERE status IN ('pending','running')", &q,
      err);
  if (st != TW_OK)
    return st;
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    *count = (uint64_t)sqlite3_column_int64(q, 0);
  else
    st = tw__sq_fail(s, rc, "counting jobs", err);
  sqlite3_finalize(q);
  return st;
}

static tw_status insert_job(tw__sqlite_registry *s, const tw_job_spec *spec,
                            tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st = tw__sq_prepare(
      s,
      "INSERT INTO jobs(id, function_id, tenant, status, export, args, input,"
      " created_unix_ms, traceparent)"
      " VALUES(?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8)",
      &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, spec->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, spec->function_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, (sqlite3_int64)spec->tenant);
  if (spec->export_name)
    sqlite3_bind_text(q, 4, spec->export_name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, spec->args_json, -1, SQLITE_STATIC);
  int rc = SQLITE_OK;
  if (spec->input_len)
    rc = sqlite3_bind_blob64(q, 6, spec->input, spec->input_len, SQLITE_STATIC);
  sqlite3_bind_int64(q, 7, spec->created_unix_ms);
  if (spec->traceparent)
    sqlite3_bind_text(q, 8, spec->traceparent, -1, SQLITE_STATIC);
  if (rc != SQLITE_OK) {
    st = tw__sq_fail(s, rc, "storing job input", err);
    goto done;
  }
  rc = sqlite3_step(q);
  if (rc == SQLITE_CONSTRAINT_UNIQUE)
    st = tw__registry_error(err, TW_ARG, "job id %s already exists", spec->id);
  else if (rc != SQLITE_DONE)
    st = tw__sq_fail(s, rc, "storing job", err);
done:
  sqlite3_finalize(q);
  return st;
}

tw_status tw__sq_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                             tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  uint64_t outstanding = 0;
  tw__sq_lock(s);
  /* The count and the insert share one write transaction, so the cap
   * holds even when several processes enqueue at once. */
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  if ((st = count_outstanding(s, &outstanding, err)) != TW_OK)
    goto done;
  if (outstanding >= reg->opt.max_outstanding_jobs) {
    st = tw__registry_error(err, TW_LIMIT,
                            "job queue is full: %" PRIu64
                            " outstanding jobs (limit %u)",
                            outstanding, reg->opt.max_outstanding_jobs);
    goto done;
  }
  if ((st = insert_job(s, spec, err)) != TW_OK)
    goto done;
  st = tw__sq_commit(s, err);
done:
  if (st != TW_OK)
    tw__sq_rollback(s);
  tw__sq_unlock(s);
  return st;
}

/* The row is copied out before COMMIT; if the copy or the commit fails the
 * transaction is rolled back and the job is still pending. */
tw_status tw__sq_job_claim(tw_registry_t *reg, int64_t now_ms, tw_job *out,
                           bool *claimed, tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  tw_job job;
  bool got = false;
  memset(&job, 0, sizeof job);
  tw__sq_lock(s);
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  st = tw__sq_prepare(
      s,
      "UPDATE jobs SET status = 'running', started_unix_ms = ?1"
      " WHERE seq = (SELECT seq FROM jobs WHERE status = 'pending'"
      "              ORDER BY seq LIMIT 1)"
      " RETURNING " JOB_COLS,
      &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_int64(q, 1, now_ms);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    if ((st = read_job(s, q, &job, err)) != TW_OK)
      goto done;
    got = true;
    rc = sqlite3_step(q);
  }
  if (rc != SQLITE_DONE) {
    st = tw__sq_fail(s, rc, "claiming a job", err);
    goto done;
  }
  sqlite3_finalize(q);
  q = NULL;
  st = tw__sq_commit(s, err);
done:
  sqlite3_finalize(q);
  if (st != TW_OK) {
    tw__sq_rollback(s);
    tw_job_clear(&job);
  } else {
    *out = job;
    *claimed = got;
  }
  tw__sq_unlock(s);
  return st;
}

/* Why job `id` cannot move: it does not exist, or it is in a state not in
 * `from`.  Runs inside the caller's transaction. */
static tw_status finish_refused(tw__sqlite_registry *s, const char *id,
                                tw_job_status to, tw_error *err) {
  sqlite3_stmt *q = NULL;
  tw_status st =
      tw__sq_prepare(s, "SELECT status FROM jobs WHERE id = ?1", &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    st = tw__registry_error(err, TW_ARG, "job %s is %s; it cannot become %s",
                            id, (const char *)sqlite3_column_text(q, 0),
                            tw_job_status_name(to));
  else if (rc == SQLITE_DONE)
    st = tw__registry_error(err, TW_NOT_FOUND, "job %s not found", id);
  else
    st = tw__sq_fail(s, rc, "reading job", err);
  sqlite3_finalize(q);
  return st;
}

tw_status tw__sq_job_finish(tw_registry_t *reg, const char *id, unsigned from,
                            tw_job_status to, const char *text, int64_t now_ms,
                            tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  uint64_t changed = 0;
  const char *sql =
      to == TW_JOB_COMPLETED
          ? "UPDATE jobs SET status = 'completed', result = ?2,"
            " finished_unix_ms = ?3 WHERE id = ?1 AND status IN (?4, ?5)"
          : "UPDATE jobs SET status = 'failed', error = ?2,"
            " finished_unix_ms = ?3 WHERE id = ?1 AND status IN (?4, ?5)";
  tw__sq_lock(s);
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  if ((st = tw__sq_prepare(s, sql, &q, err)) != TW_OK)
    goto done;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, now_ms);
  /* Unused slots stay NULL, which matches no status. */
  int slot = 4;
  for (int f = TW_JOB_PENDING; f <= TW_JOB_FAILED && slot <= 5; f++)
    if (from & (1u << f))
      sqlite3_bind_text(q, slot++, tw_job_status_name((tw_job_status)f), -1,
                        SQLITE_STATIC);
  if ((st = tw__sq_run(s, q, "finishing job", &changed, err)) != TW_OK)
    goto done;
  if (changed == 0) {
    st = finish_refused(s, id, to, err);
    goto done;
  }
  st = tw__sq_commit(s, err);
done:
  sqlite3_finalize(q);
  if (st != TW_OK)
    tw__sq_rollback(s);
  tw__sq_unlock(s);
  return st;
}

tw_status tw__sq_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                         tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  tw__sq_lock(s);
  tw_status st =
      tw__sq_prepare(s, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1", &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    st = read_job(s, q, out, err);
  else if (rc == SQLITE_DONE)
    st = tw__registry_error(err, TW_NOT_FOUND, "job %s not found", id);
  else
    st = tw__sq_fail(s, rc, "reading job", err);
done:
  sqlite3_finalize(q);
  tw__sq_unlock(s);
  return st;
}

tw_status tw__sq_recover(tw_registry_t *reg, int64_t now_ms, uint64_t *count,
                         tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  sqlite3_stmt *q = NULL;
  tw__sq_lock(s);
  /* One autocommit statement: atomic and durable on its own. */
  tw_status st = tw__sq_prepare(
      s,
      "UPDATE jobs SET status = 'failed', error = ?1, finished_unix_ms = ?2"
      " WHERE status = 'running'",
      &q, err);
  if (st != TW_OK)
    goto done;
  sqlite3_bind_text(q, 1, TW_JOB_INTERRUPTED_REASON, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, now_ms);
  st = tw__sq_run(s, q, "recovering interrupted jobs", count, err);
done:
  sqlite3_finalize(q);
  tw__sq_unlock(s);
  return st;
}

static tw_status prune_step(tw__sqlite_registry *s, const char *sql,
                            int64_t arg, uint64_t *deleted, tw_error *err) {
  sqlite3_stmt *q = NULL;
  uint64_t n = 0;
  tw_status st = tw__sq_prepare(s, sql, &q, err);
  if (st != TW_OK)
    return st;
  sqlite3_bind_int64(q, 1, arg);
  st = tw__sq_run(s, q, "pruning jobs", &n, err);
  sqlite3_finalize(q);
  *deleted += n;
  return st;
}

tw_status tw__sq_job_prune(tw_registry_t *reg, bool use_age, int64_t older_than,
                           bool keep_all, uint64_t keep, uint64_t *deleted,
                           tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  uint64_t n = 0;
  tw__sq_lock(s);
  tw_status st = tw__sq_begin(s, err);
  if (st != TW_OK)
    goto done;
  if (use_age &&
      (st = prune_step(s,
                       "DELETE FROM jobs WHERE status IN ('completed','failed')"
                       " AND finished_unix_ms < ?1",
                       older_than, &n, err)) != TW_OK)
    goto done;
  if (!keep_all &&
      (st = prune_step(s,
                       "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs"
                       " WHERE status IN ('completed','failed')"
                       " ORDER BY finished_unix_ms DESC, seq DESC"
                       " LIMIT -1 OFFSET ?1)",
                       keep > INT64_MAX ? INT64_MAX : (int64_t)keep, &n,
                       err)) != TW_OK)
    goto done;
  st = tw__sq_commit(s, err);
done:
  if (st != TW_OK)
    tw__sq_rollback(s);
  else
    *deleted = n;
  tw__sq_unlock(s);
  return st;
}

tw_status tw__sq_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                 tw_error *err) {
  tw__sqlite_registry *s = tw__sq(reg);
  tw__sq_lock(s);
  tw_status st = count_outstanding(s, count, err);
  tw__sq_unlock(s);
  return st;
}
