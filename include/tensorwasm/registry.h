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
 * opaque text, and claim hands out one job at a time.  That second backend
 * exists (TW_REGISTRY_NATS, docs/CLUSTER.md): several gateways share one
 * NATS JetStream server and so share functions and jobs.  Where its
 * guarantees differ from SQLite's, the comments below say so.
 *
 * Ownership and threads (stated once, here):
 *  - tw_registry_open returns a registry the caller owns and releases with
 *    tw_registry_close, after every other call on it has returned.
 *  - SQLite: a data directory is open in one registry at a time: a second
 *    open, from this process or another, fails with TW_IO until the first
 *    is closed or its process is gone.  (tw_registry_recover depends on
 *    it.)  NATS: any number of registries, in any number of processes,
 *    share one server; data_dir holds no registry state.
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
  TW_REGISTRY_SQLITE = 0, /* data_dir/registry.db, WAL, synchronous=FULL */
  TW_REGISTRY_NATS = 1    /* NATS JetStream at nats_url (docs/CLUSTER.md) */
} tw_registry_backend;

#define TW_REGISTRY_DEFAULT_NATS_PREFIX "TW"
#define TW_REGISTRY_DEFAULT_NATS_TIMEOUT_MS 2000u
#define TW_REGISTRY_DEFAULT_NATS_ACK_WAIT_MS 30000u
#define TW_REGISTRY_DEFAULT_NATS_MAX_DELIVER 5u
#define TW_REGISTRY_DEFAULT_NATS_DEDUP_WINDOW_MS 120000u
#define TW_REGISTRY_DEFAULT_NATS_CLAIM_WAIT_MS 100u

/* Fill with tw_registry_options_init, then change what you need. */
typedef struct tw_registry_options {
  tw_registry_backend backend;
  uint32_t max_outstanding_jobs; /* admission cap on pending+running, >= 1 */
  uint32_t busy_timeout_ms;      /* wait for a lock held by another process */
  uint64_t retain_jobs;          /* prune keeps at most this many finished
                                    jobs, newest first; 0 = no count limit */
  int64_t retain_ms;             /* prune drops finished jobs older than this
                                    (by finish time); 0 = no age limit */

  /* NATS JetStream backend only (ignored by SQLite).  Strings are
   * borrowed for the duration of tw_registry_open. */
  const char *nats_url;        /* "nats://host:port[,nats://...]"; required */
  const char *nats_prefix;     /* names of buckets/streams: [A-Za-z0-9_-],
                                  1..32 bytes; registries sharing a prefix
                                  form one cluster */
  uint32_t nats_timeout_ms;    /* every request to the server; also how long
                                  open waits to connect */
  uint32_t nats_ack_wait_ms;   /* a claimed job whose node stops sending
                                  progress for this long is redelivered */
  uint32_t nats_max_deliver;   /* deliveries per job, >= 2; the last one only
                                  records the failure (so a job runs at most
                                  max_deliver - 1 times) */
  uint32_t nats_dedup_window_ms; /* JetStream duplicate window on job ids */
  uint32_t nats_claim_wait_ms; /* claim waits this long for a job to arrive
                                  before it reports none (0: 1 ms) */
  uint32_t nats_replicas;      /* 1..5: copies kept by a NATS cluster */
} tw_registry_options;

/* Writes the defaults: SQLite, 256 outstanding jobs, 5 s busy timeout,
 * keep at most 4096 finished jobs and none older than 7 days; for NATS:
 * prefix "TW", 2 s request timeout, 30 s ack wait, 5 deliveries, 2 min
 * de-duplication window, 100 ms claim wait, 1 replica, no URL. */
void tw_registry_options_init(tw_registry_options *opt);

/* Opens (creating data_dir and the database if needed) and migrates the
 * schema to the current version.  opt may be NULL for the defaults.  On
 * TW_OK *out is a new registry owned by the caller.  A file that is not a
 * registry database, or is corrupt, gives TW_IO with a message naming it;
 * one written by a newer schema gives TW_UNSUPPORTED.
 *
 * NATS: connects to opt->nats_url (TW_IO naming the URL when no server
 * answers within nats_timeout_ms), creates the buckets, streams and the
 * durable consumer when missing, and brings the shared settings (admission
 * cap, ack wait, max deliver, de-dup window) to this node's values: the
 * node that opened last decides them for the cluster.  Afterwards the
 * client reconnects by itself; while it is disconnected every call fails
 * at once with TW_IO ("NATS server ... unreachable"), never waiting.  The
 * process should call nats_Close() (libnats) once after its last registry
 * is closed, to release the client library's global state. */
tw_status tw_registry_open(const char *data_dir, const tw_registry_options *opt,
                           tw_registry_t **out, tw_error *err);

/* Releases the registry.  NULL is accepted.  No call may be in flight.
 * NATS: jobs this registry claimed and did not finish are handed back to
 * the queue at once (another node may run them). */
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
  const char *traceparent; /* NULL, or the W3C traceparent of the submitting
                              request (checked: malformed is TW_ARG); the
                              worker that claims the job continues that
                              trace.  NATS carries it as a message header. */
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
  char *traceparent;        /* as submitted, or NULL */
} tw_job;

/* Frees job's heap fields and zeroes it.  NULL is accepted; a zeroed
 * tw_job may be cleared. */
void tw_job_clear(tw_job *job);

/* Adds a pending job.  TW_LIMIT (and nothing stored) when pending+running
 * has reached max_outstanding_jobs; TW_ARG when the id is already used or
 * args_json is not JSON.  NATS: the cap is enforced by the server on the
 * work-queue stream (exact, cluster-wide); TW_IO means the job was not
 * accepted, though in the rare case of a reply lost after the server
 * stored it, it may still run once, with its outcome never recorded. */
tw_status tw_registry_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                                  tw_error *err);

/* Atomically moves the oldest pending job to running and copies it to *out
 * (*claimed = true), or sets *claimed = false when none is pending.  Any
 * number of threads may claim at once; each job is handed out once.
 *
 * NATS: jobs come from one durable consumer shared by every node, roughly
 * oldest first; claim waits up to nats_claim_wait_ms for one.  A job is
 * handed out again (to any node) only when the node holding it stopped
 * sending progress for nats_ack_wait_ms (it died or lost the server) or
 * closed its registry; so with this backend a job may *run* more than
 * once, but complete/fail record its outcome once: the first to finish
 * wins and later finishes get TW_ARG.  A job handed out for the
 * nats_max_deliver-th time is not run again but failed with a reason
 * saying so, and claim goes on to the next job. */
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
 * how many were failed.
 *
 * NATS: does nothing and reports 0.  A running job there may belong to a
 * live node; jobs of a dead node come back by redelivery (see claim). */
tw_status tw_registry_recover(tw_registry_t *reg, uint64_t *interrupted,
                              tw_error *err);

/* Retention: deletes finished jobs that finished before now_unix_ms -
 * retain_ms, then all but the retain_jobs most recently finished.  Pending
 * and running jobs are never pruned.  now_unix_ms 0 means now; *deleted
 * (may be NULL) gets how many went. */
tw_status tw_registry_job_prune(tw_registry_t *reg, int64_t now_unix_ms,
                                uint64_t *deleted, tw_error *err);

/* Number of pending + running jobs (the admission gauge).  NATS: the
 * messages in the work-queue stream, i.e. accepted and not yet finished. */
tw_status tw_registry_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                      tw_error *err);

#ifdef __cplusplus
}
#endif
#endif
