/* TensorWasm durable state: the function registry and the async job queue.
 *
 * A tw_registry_t keeps deployed functions (metadata plus module bytes) and
 * the jobs of asynchronous invocations so that both survive a restart of
 * the gateway.  Callers see only this interface; behind it sits a backend
 * chosen at open time.  The first backend is SQLite (one database file,
 * `registry.db`, in WAL mode under the data directory); the interface is
 * shaped so that a key-value/stream backend (NATS JetStream: KV buckets for
 * records, an object store for module bytes, a work-queue stream with one
 * durable pull consumer for jobs, job-id de-duplication) fits without
 * changing callers: ids are made by the caller side, list cursors are
 * opaque text, and claim hands out one job at a time.
 *
 * Ownership and threads (stated once, here):
 *  - tw_registry_open returns a registry the caller owns and releases with
 *    tw_registry_close, after every other call on it has returned.
 *  - A data directory is open in one registry at a time: a second open,
 *    from this process or another, fails with TW_IO until the first is
 *    closed or its process is gone.  (tw_registry_recover depends on it.)
 *  - One registry may be used from any number of threads at once.  The
 *    SQLite backend serialises calls on one connection with a mutex (each
 *    call is a short transaction, so a pool of connections would buy little
 *    and cost a second place where ordering is decided).
 *  - Every pointer argument is borrowed for the duration of the call only,
 *    unless its comment says otherwise.  Outputs are written only on TW_OK.
 *  - Records come back by value (tw_function_info) or in a caller-owned
 *    tw_job whose heap fields the caller releases with tw_job_clear.
 *
 * Durability: every call that changes state has committed it before it
 * returns.  The SQLite backend runs with synchronous=FULL, so a commit has
 * been fsync'ed to the write-ahead log: it survives kill -9 of the process
 * and also loss of power (NORMAL would survive only the former).
 *
 * Errors are values (see error.h): TW_ARG for bad arguments, TW_NOT_FOUND
 * for an unknown id, TW_LIMIT when the job queue is at its admission cap,
 * TW_NOMEM, TW_UNSUPPORTED for a database written by a newer schema, and
 * TW_IO for storage failures, including a corrupt database file (the
 * message says so and names the file). */
#ifndef TENSORWASM_REGISTRY_H
#define TENSORWASM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_UUID_LEN 36            /* 8-4-4-4-12 hex digits */
#define TW_SHA256_HEX_LEN 64
#define TW_FUNCTION_NAME_MAX 256  /* bytes: 1..256, no control bytes */
#define TW_REGISTRY_CURSOR_MAX 64 /* list cursor buffer, NUL included */

#define TW_REGISTRY_DEFAULT_MAX_OUTSTANDING 256u
#define TW_REGISTRY_DEFAULT_BUSY_TIMEOUT_MS 5000u
#define TW_REGISTRY_DEFAULT_RETAIN_JOBS 4096u
#define TW_REGISTRY_DEFAULT_RETAIN_MS (7 * 24 * 3600 * 1000LL)

/* Reason recorded on jobs that were running when the previous process
 * died (tw_registry_recover). */
#define TW_JOB_INTERRUPTED_REASON                                              \
  "interrupted: server restarted while the job was running"

typedef struct tw_registry tw_registry_t;

typedef enum tw_registry_backend {
  TW_REGISTRY_SQLITE = 0 /* data_dir/registry.db, WAL, synchronous=FULL */
} tw_registry_backend;

/* Fill with tw_registry_options_init, then change what you need. */
typedef struct tw_registry_options {
  tw_registry_backend backend;
  uint32_t max_outstanding_jobs; /* admission cap on pending+running, >= 1 */
  uint32_t busy_timeout_ms;      /* wait for a lock held by another process */
  uint64_t retain_jobs;          /* prune keeps at most this many finished
                                    jobs, newest first; 0 = no count limit */
  int64_t retain_ms;             /* prune drops finished jobs older than this
                                    (by finish time); 0 = no age limit */
} tw_registry_options;

/* Writes the defaults: SQLite, 256 outstanding jobs, 5 s busy timeout,
 * keep at most 4096 finished jobs and none older than 7 days. */
void tw_registry_options_init(tw_registry_options *opt);

/* Opens (creating data_dir and the database if needed) and migrates the
 * schema to the current version.  opt may be NULL for the defaults.  On
 * TW_OK *out is a new registry owned by the caller.  A file that is not a
 * registry database, or is corrupt, gives TW_IO with a message naming it;
 * one written by a newer schema gives TW_UNSUPPORTED. */
tw_status tw_registry_open(const char *data_dir, const tw_registry_options *opt,
                           tw_registry_t **out, tw_error *err);

/* Releases the registry.  NULL is accepted.  No call may be in flight. */
void tw_registry_close(tw_registry_t *reg);

/* Writes a new random (version 4) UUID, lowercase, NUL-terminated. */
tw_status tw_registry_uuid_new(char out[TW_UUID_LEN + 1], tw_error *err);

/* ---- functions ----------------------------------------------------------
 *
 * A function is immutable once deployed: its id, owner tenant and module
 * never change, so a caller may check the tenant with function_get and then
 * act on the id without racing a change of owner.  Module bytes are stored
 * once per distinct SHA-256, however many functions use them, and are
 * removed when the last function using them is deleted. */

typedef struct tw_function_info {
  char id[TW_UUID_LEN + 1];
  uint64_t tenant;
  char name[TW_FUNCTION_NAME_MAX + 1];
  char sha256[TW_SHA256_HEX_LEN + 1]; /* of the module bytes, lowercase hex */
  uint64_t size;                      /* module bytes */
  int64_t created_unix_ms;
} tw_function_info;

/* Deploys `len` bytes of wasm (len >= 1) as `name` for `tenant` under a new
 * random id; *out receives the stored record.  The bytes are not validated
 * here: that is the caller's job. */
tw_status tw_registry_function_put(tw_registry_t *reg, uint64_t tenant,
                                   const char *name, const uint8_t *wasm,
                                   size_t len, tw_function_info *out,
                                   tw_error *err);

/* Metadata of function `id` (any case of hex digits).  TW_NOT_FOUND if
 * there is none.  The caller compares out->tenant with the requester's. */
tw_status tw_registry_function_get(tw_registry_t *reg, const char *id,
                                   tw_function_info *out, tw_error *err);

/* The module bytes of function `id`: *bytes is a malloc'ed copy the
 * caller frees with free(), *len its size. */
tw_status tw_registry_function_bytes(tw_registry_t *reg, const char *id,
                                     uint8_t **bytes, size_t *len,
                                     tw_error *err);

/* One page of `tenant`'s functions, oldest first.  cursor is NULL or "" for
 * the first page, else the next_cursor of the previous page (opaque text).
 * Writes up to cap (>= 1) records to items (which a failure may leave
 * partly overwritten) and their number to *count; next_cursor gets the
 * cursor of the following page, or "" when this page is the last. */
tw_status tw_registry_function_list(tw_registry_t *reg, uint64_t tenant,
                                    const char *cursor, tw_function_info *items,
                                    size_t cap, size_t *count,
                                    char next_cursor[TW_REGISTRY_CURSOR_MAX],
                                    tw_error *err);

/* Deletes function `id` (TW_NOT_FOUND if none) and, if no other function
 * uses its module bytes, the bytes too.  Jobs that name it are kept; a
 * worker that claims one finds the function gone. */
tw_status tw_registry_function_delete(tw_registry_t *reg, const char *id,
                                      tw_error *err);

/* ---- jobs ---------------------------------------------------------------
 *
 * Life of a job: pending --claim--> running --complete--> completed
 *                                           --fail------> failed
 * and pending --fail--> failed.  No other transition exists, so a job runs
 * at most once and finishes at most once.  Pending and running jobs are
 * "outstanding" and count against the admission cap. */

typedef enum tw_job_status {
  TW_JOB_PENDING,
  TW_JOB_RUNNING,
  TW_JOB_COMPLETED,
  TW_JOB_FAILED
} tw_job_status;

/* "pending", "running", "completed", "failed". */
const char *tw_job_status_name(tw_job_status s);

/* The status as the HTTP API reports it.  The original's job model has no
 * "running" state (pending | completed | failed), so a running job is
 * reported as "pending" there; its clients poll until it is finished. */
const char *tw_job_status_api_name(tw_job_status s);

/* What a caller submits.  Everything is borrowed for the call. */
typedef struct tw_job_spec {
  const char *id;          /* a UUID (tw_registry_uuid_new); unique */
  const char *function_id; /* a UUID; not checked against the registry */
  uint64_t tenant;
  const char *export_name; /* NULL: the default entry point */
  const char *args_json;   /* JSON text; NULL means "[]" */
  const uint8_t *input;    /* may be NULL when input_len is 0 */
  size_t input_len;
  int64_t created_unix_ms; /* 0: now */
} tw_job_spec;

/* A stored job.  The caller owns the struct; the pointer fields are heap
 * copies it releases with tw_job_clear.  Fields that do not apply are NULL
 * (pointers) or 0 (times). */
typedef struct tw_job {
  char id[TW_UUID_LEN + 1];
  char function_id[TW_UUID_LEN + 1];
  uint64_t tenant;
  tw_job_status status;
  char *export_name; /* NULL: the default entry point */
  char *args_json;
  uint8_t *input; /* input_len bytes; NULL when input_len is 0 */
  size_t input_len;
  char *result_json; /* completed jobs: the result as JSON text */
  char *error;       /* failed jobs: why */
  int64_t created_unix_ms;
  int64_t started_unix_ms;  /* when claimed */
  int64_t finished_unix_ms; /* when completed or failed */
} tw_job;

/* Frees job's heap fields and zeroes it.  NULL is accepted; a zeroed
 * tw_job may be cleared. */
void tw_job_clear(tw_job *job);

/* Adds a pending job.  TW_LIMIT (and nothing stored) when pending+running
 * has reached max_outstanding_jobs; TW_ARG when the id is already used or
 * args_json is not JSON. */
tw_status tw_registry_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                                  tw_error *err);

/* Atomically moves the oldest pending job to running and copies it to *out
 * (*claimed = true), or sets *claimed = false when none is pending.  Any
 * number of threads may claim at once; each job is handed out once. */
tw_status tw_registry_job_claim(tw_registry_t *reg, tw_job *out, bool *claimed,
                                tw_error *err);

/* Running → completed with result_json (JSON text).  TW_NOT_FOUND for an
 * unknown id; TW_ARG if the job is not running (so it cannot finish twice). */
tw_status tw_registry_job_complete(tw_registry_t *reg, const char *id,
                                   const char *result_json, tw_error *err);

/* Pending or running → failed with `reason` (non-empty text).  TW_ARG if
 * the job has already finished. */
tw_status tw_registry_job_fail(tw_registry_t *reg, const char *id,
                               const char *reason, tw_error *err);

/* A copy of job `id`; the caller compares out->tenant with the requester's. */
tw_status tw_registry_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                              tw_error *err);

/* Call once at startup, before any worker claims: every job still marked
 * running was interrupted by the death of the previous process and is
 * failed with TW_JOB_INTERRUPTED_REASON (never re-run: it may have had
 * effects).  Pending jobs stay pending.  *interrupted (may be NULL) gets
 * how many were failed. */
tw_status tw_registry_recover(tw_registry_t *reg, uint64_t *interrupted,
                              tw_error *err);

/* Retention: deletes finished jobs that finished before now_unix_ms -
 * retain_ms, then all but the retain_jobs most recently finished.  Pending
 * and running jobs are never pruned.  now_unix_ms 0 means now; *deleted
 * (may be NULL) gets how many went. */
tw_status tw_registry_job_prune(tw_registry_t *reg, int64_t now_unix_ms,
                                uint64_t *deleted, tw_error *err);

/* Number of pending + running jobs (the admission gauge). */
tw_status tw_registry_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                      tw_error *err);

#ifdef __cplusplus
}
#endif
#endif
