/* The NATS JetStream backend's internals, shared by nats_registry.c
 * (connection, setup, close, claimed-message table), nats_functions.c
 * (functions and module bytes) and nats_jobs.c (job queue).
 *
 * What lives where on the server, for prefix P (docs/CLUSTER.md):
 *  - KV bucket P_FUNCTIONS: "fn.<id>" -> function record (JSON), and a
 *    per-tenant index "t.<tenant:16 hex>.<created:16 hex>.<id>" -> the same
 *    record, so listing one tenant watches only its own keys, already in
 *    (created, id) order once sorted as text.
 *  - KV bucket P_MODULES: module bytes by SHA-256, in chunks
 *    "c.<sha>.<n>", a manifest "m.<sha>" ("<size> <chunks>") written after
 *    the chunks, and one reference "r.<sha>.<function id>" per function.
 *  - KV bucket P_JOBS: "<job id>" -> job record (JSON): the truth about a
 *    job's state.  Every change is a compare-and-set on the revision read
 *    just before, so two nodes never both move a job.
 *  - Stream P_JOBQ (work queue, subjects "P.jobq.<job id>", cap on messages
 *    with discard-new, de-duplication by message id = job id): one message
 *    per accepted, unfinished job.  Durable pull consumer "workers", shared
 *    by every node.
 *  - Stream P_JOBS_DONE (subject "P.jobsdone"): "<finished ms> <id>" per
 *    finished job, in finish order: what prune walks.
 *
 * Invariant: a job's message is acked (removed) only after its record says
 * completed or failed.  So a node that dies between the two leaves a
 * message that comes back, and whoever gets it sees the finished record
 * and acks it without running the job again.
 *
 * Threads: cnats objects are thread-safe, except that one pull
 * subscription serves one Fetch at a time (fetch_lock).  `held` (the
 * messages this registry claimed and has not finished) is guarded by
 * held_lock; the progress thread touches them every ack_wait/3 so that a
 * live node keeps its jobs however long they run. */
#ifndef TW_STORE_NATS_INT_H
#define TW_STORE_NATS_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <nats/nats.h>

#include "store/store_int.h"

#define TW_NATS_NAME_MAX 64
#define TW_NATS_PREFIX_MAX 32
#define TW_NATS_KEY_MAX 160
#define TW_NATS_SUBJ_MAX (TW_NATS_NAME_MAX + TW_NATS_KEY_MAX + 8) /* "$KV.b.k" */
#define TW_NATS_CHUNK (256u * 1024u) /* below the server's 1 MiB payload cap */

typedef struct tw__nats_held {
  char id[TW_UUID_LEN + 1];
  natsMsg *msg; /* owned: destroyed once acked, nak'ed or dropped */
  struct tw__nats_held *next;
} tw__nats_held;

typedef struct tw__nats_registry {
  struct tw_registry base; /* first: a tw_registry_t* points here */
  char *url;               /* for messages */
  natsOptions *nopts;
  natsConnection *nc;
  jsCtx *js;
  kvStore *functions, *modules, *jobs;
  natsSubscription *sub; /* pull subscription bound to the durable */
  pthread_mutex_t fetch_lock;
  pthread_mutex_t held_lock;
  pthread_cond_t held_cond; /* wakes the progress thread to stop */
  tw__nats_held *held;
  bool stopping;
  bool beat_started;
  pthread_t beat;
  char b_functions[TW_NATS_NAME_MAX], b_modules[TW_NATS_NAME_MAX];
  char b_jobs[TW_NATS_NAME_MAX];
  char s_jobq[TW_NATS_NAME_MAX], s_done[TW_NATS_NAME_MAX];
  char subj_jobq[TW_NATS_NAME_MAX];  /* "P.jobq" (+ ".<id>") */
  char subj_done[TW_NATS_NAME_MAX];  /* "P.jobsdone" */
} tw__nats_registry;

static inline tw__nats_registry *tw__nt(tw_registry_t *reg) {
  return (tw__nats_registry *)reg;
}

/* The backend (nats_registry.c).  opt is complete; nats_url is required. */
tw_status tw__nats_registry_open(const tw_registry_options *opt,
                                 tw_registry_t **out, tw_error *err);

/* TW_OK when the connection is up; else TW_IO at once with a message that
 * names the server, so no caller waits on a server that is away. */
tw_status tw__nats_ready(tw__nats_registry *n, tw_error *err);

/* Turns a failed cnats call into a status and message ("what" says what
 * was being done): timeouts and lost connections are TW_IO naming the
 * server, an oversized value TW_LIMIT, no memory TW_NOMEM. */
tw_status tw__nats_fail(tw__nats_registry *n, natsStatus s, const char *what,
                        tw_error *err);

/* True when the last failed cnats call on this thread was refused by a
 * compare-and-set (the key's revision had moved). */
bool tw__nats_cas_conflict(void);

/* Removes every message on `subject` from `stream` without leaving
 * markers.  Only for streams no consumer reads (nats-server 2.9 moves a
 * consumer past unrelated messages on a filtered purge). */
tw_status tw__nats_purge_subject(tw__nats_registry *n, const char *stream,
                                 const char *subject, tw_error *err);

/* Claimed-message table (held_lock inside). */
void tw__nats_hold(tw__nats_registry *n, tw__nats_held *h);
/* Unlinks and returns the entry for job `id`, or NULL. */
tw__nats_held *tw__nats_unhold(tw__nats_registry *n, const char *id);

/* Function operations (nats_functions.c), with the vtable's signatures. */
tw_status tw__nt_function_put(tw_registry_t *reg, const tw_function_info *info,
                              const uint8_t *wasm, tw_error *err);
tw_status tw__nt_function_get(tw_registry_t *reg, const char *id,
                              tw_function_info *out, tw_error *err);
tw_status tw__nt_function_bytes(tw_registry_t *reg, const char *id,
                                uint8_t **bytes, size_t *len, tw_error *err);
tw_status tw__nt_function_list(tw_registry_t *reg, uint64_t tenant,
                               const char *cursor, tw_function_info *items,
                               size_t cap, size_t *count, char *next_cursor,
                               tw_error *err);
tw_status tw__nt_function_delete(tw_registry_t *reg, const char *id,
                                 tw_error *err);

/* Job operations (nats_jobs.c), with the vtable's signatures. */
tw_status tw__nt_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                             tw_error *err);
tw_status tw__nt_job_claim(tw_registry_t *reg, int64_t now_ms, tw_job *out,
                           bool *claimed, tw_error *err);
tw_status tw__nt_job_finish(tw_registry_t *reg, const char *id, unsigned from,
                            tw_job_status to, const char *text, int64_t now_ms,
                            tw_error *err);
tw_status tw__nt_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                         tw_error *err);
tw_status tw__nt_recover(tw_registry_t *reg, int64_t now_ms, uint64_t *count,
                         tw_error *err);
tw_status tw__nt_job_prune(tw_registry_t *reg, bool use_age, int64_t older_than,
                           bool keep_all, uint64_t keep, uint64_t *deleted,
                           tw_error *err);
tw_status tw__nt_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                 tw_error *err);

#endif
