/* The SQLite backend's internals, shared by sqlite_registry.c (connection,
 * schema, functions) and sqlite_jobs.c (job queue).
 *
 * One connection per registry, guarded by `lock`: every operation takes
 * the lock for its whole duration, so statements of two threads never
 * interleave on the connection and sqlite3_errmsg belongs to the caller
 * that holds the lock.  Every write runs in BEGIN IMMEDIATE ... COMMIT (or
 * is one autocommit statement), so it is atomic also against another
 * process using the same file, and committed before the call returns.
 *
 * One registry per data directory at a time, across processes: open takes
 * an exclusive flock on data_dir/registry.lock (released by close or by the
 * death of the process).  recover() relies on it: a job marked running can
 * only belong to a process that is gone.
 *
 * Tenants are u64 in the API and INTEGER (i64) in SQLite: the bit pattern
 * is stored, so equality and the tenant index work for every value. */
#ifndef TW_STORE_SQLITE_INT_H
#define TW_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store_int.h"

typedef struct tw__sqlite_registry {
  struct tw_registry base; /* first: a tw_registry_t* points here */
  sqlite3 *db;
  pthread_mutex_t lock;
  char *path;  /* data_dir/registry.db, for messages */
  int lock_fd; /* data_dir/registry.lock, flock'ed, or -1 */
} tw__sqlite_registry;

static inline tw__sqlite_registry *tw__sq(tw_registry_t *reg) {
  return (tw__sqlite_registry *)reg;
}

void tw__sq_lock(tw__sqlite_registry *s);
void tw__sq_unlock(tw__sqlite_registry *s);

/* Turns SQLite result code rc into a status and message ("what" says what
 * was being done).  Corruption and "not a database" name the file. */
tw_status tw__sq_fail(tw__sqlite_registry *s, int rc, const char *what,
                      tw_error *err);

tw_status tw__sq_prepare(tw__sqlite_registry *s, const char *sql,
                         sqlite3_stmt **out, tw_error *err);
/* Runs SQL text without results (may hold several statements). */
tw_status tw__sq_exec(tw__sqlite_registry *s, const char *sql, tw_error *err);
/* Steps q until it is done, ignoring rows; *changes (may be NULL) gets the
 * number of rows it changed. */
tw_status tw__sq_run(tw__sqlite_registry *s, sqlite3_stmt *q, const char *what,
                     uint64_t *changes, tw_error *err);

tw_status tw__sq_begin(tw__sqlite_registry *s, tw_error *err);
tw_status tw__sq_commit(tw__sqlite_registry *s, tw_error *err);
/* Rolls back the open transaction, if any (after a failure). */
void tw__sq_rollback(tw__sqlite_registry *s);

/* Job operations (sqlite_jobs.c), with the vtable's signatures. */
tw_status tw__sq_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                             tw_error *err);
tw_status tw__sq_job_claim(tw_registry_t *reg, int64_t now_ms, tw_job *out,
                           bool *claimed, tw_error *err);
tw_status tw__sq_job_finish(tw_registry_t *reg, const char *id, unsigned from,
                            tw_job_status to, const char *text, int64_t now_ms,
                            tw_error *err);
tw_status tw__sq_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                         tw_error *err);
tw_status tw__sq_recover(tw_registry_t *reg, int64_t now_ms, uint64_t *count,
                         tw_error *err);
tw_status tw__sq_job_prune(tw_registry_t *reg, bool use_age, int64_t older_than,
                           bool keep_all, uint64_t keep, uint64_t *deleted,
                           tw_error *err);
tw_status tw__sq_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                 tw_error *err);

#endif
