/* Internal structures of the executor, shared only inside src/exec.
 *
 * Locks, in the only order they nest:
 *   rec->call_mu  >  exec->mu  >  exec->run_mu
 *   cache->mu and pool->mu are leaves: nothing else is taken while one is
 *   held (metric updates are lock-free atomics).
 *  - exec->mu guards the instance table, the tenant table, the live
 *    counts and the limit profiles.
 *  - exec->run_mu guards the running list and every tw__exec_run's
 *    in_call / deadline / reason fields; the ticker takes only this one.
 *  - rec->call_mu serialises calls into one instance (one store, one
 *    thread at a time, as wasm.h requires). */
#ifndef TW_EXEC_INT_H
#define TW_EXEC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tensorwasm/cuda.h"
#include "tensorwasm/exec.h"
#include "tensorwasm/snapshot.h"
#include "tensorwasm/metrics.h"
#include "tensorwasm/trace.h"
#include "tensorwasm/wasi.h"

#define TW__EXEC_PROFILES_MAX 16
#define TW__EXEC_BUCKETS 1024
#define TW__EXEC_TENANT_BUCKETS 256

/* Why a running call was interrupted. */
enum { TW__RUN_NONE = 0, TW__RUN_DEADLINE = 1, TW__RUN_TERMINATE = 2 };

/* One store that may be running guest code, as the ticker sees it.
 * in_call, cancelled, deadline_ns, reason, wasi_woken, interrupted_epoch
 * and the links are guarded by exec->run_mu. */
typedef struct tw__exec_run {
  tw_store_t *store;
  tw_wasi_t *wasi;              /* NULL when the module imports nothing */
  tw_cuda_t *cuda;              /* NULL unless it imports wasi:cuda */
  bool in_call;
  bool cancelled;               /* terminated: no call may start */
  int reason;                   /* TW__RUN_* set by ticker / terminate */
  bool wasi_woken;
  uint64_t deadline_ns;         /* monotonic clock; 0: none */
  uint64_t interrupted_epoch;   /* epoch of the store interrupt */
  struct tw__exec_run *prev, *next;
} tw__exec_run;

/* The engine settings of one set of limits.  Modules are compiled per
 * engine, so the cache keeps one tw_module_t per profile in use. */
typedef struct tw__exec_profile {
  uint32_t memory_pages, table_elements, call_depth;
  tw_engine_t *engine;
} tw__exec_profile;

/* Effective limits of one spawn. */
typedef struct tw__exec_eff {
  uint64_t max_memory_bytes;
  uint32_t max_table_elements, max_call_depth;
  uint32_t tenant_max_instances; /* 0: none */
  uint64_t deadline_ms, fuel;    /* 0: none */
} tw__exec_eff;

typedef struct tw__exec_tenant {
  tw_tenant_id id;
  char label[24];               /* decimal: span attribute and metric label */
  size_t live;
  bool has_limits;
  tw_exec_limits limits;
  tw_gauge_t *active_gauge;     /* tensor_wasm_active_instances{tenant} */
  struct tw__exec_tenant *next;
} tw__exec_tenant;

/* ---- module cache (cache.c) ---------------------------------------------- */

struct tw_exec_module {
  atomic_int refs;              /* the cache's, the handles', instances' */
  uint8_t hash[32];
  size_t wasm_len;
  size_t bytes;                 /* what it counts for in jit_cache_bytes */
  uint32_t min_pages;
  tw_module_t *mods[TW__EXEC_PROFILES_MAX]; /* guarded by the cache mutex */
  /* snapshot plans opened for mods[p] and the path each came from;
   * guarded by exec->mu */
  tw_snapshot_t *snaps[TW__EXEC_PROFILES_MAX];
  char *snap_paths[TW__EXEC_PROFILES_MAX];
  /* LRU and hash chain; guarded by the cache mutex */
  struct tw_exec_module *lru_prev, *lru_next, *chain;
  bool cached;
};

typedef struct tw__exec_cache tw__exec_cache;

tw_status tw__cache_new(tw_exec_t *exec, uint32_t entries, const char *dir,
                        tw__exec_cache **out, tw_exec_error *err);
void tw__cache_free(tw__exec_cache *cache);
/* The module compiled for profile `p` (borrowed from `m`). */
tw_status tw__cache_module_for(tw__exec_cache *cache, tw_exec_module_t *m,
                               int p, tw_module_t **out, tw_exec_error *err);
void tw__cache_stats(tw__exec_cache *cache, tw_exec_cache_stats *out);

/* ---- pool (pool.c) ------------------------------------------------------- */

typedef struct tw__exec_pool tw__exec_pool;

/* A ready instance: store, WASI context and instance, never run. */
typedef struct tw__exec_slot {
  tw_store_t *store;
  tw_wasi_t *wasi;
  tw_cuda_t *cuda;
  tw_instance_t *inst;
} tw__exec_slot;

tw_status tw__pool_new(tw_exec_t *exec, uint32_t per_key, uint32_t max_warm,
                       tw__exec_pool **out, tw_exec_error *err);
void tw__pool_free(tw__exec_pool *pool);
/* Takes a ready slot for the key, or returns false (and asks the pool
 * thread to fill the key). */
bool tw__pool_draw(tw__exec_pool *pool, tw_tenant_id tenant,
                   tw_exec_module_t *m, int profile, tw__exec_slot *out);
/* Frees a used slot on the pool thread (or here when there is none). */
void tw__pool_discard(tw__exec_pool *pool, tw__exec_slot *slot);

/* ---- executor ------------------------------------------------------------ */

typedef struct tw__exec_rec tw__exec_rec;

struct tw_exec {
  tw_exec_config cfg;           /* defaults filled in */
  char *cache_dir;
  pthread_mutex_t mu;
  tw__exec_rec *table[TW__EXEC_BUCKETS];
  tw__exec_tenant *tenants[TW__EXEC_TENANT_BUCKETS];
  size_t live;
  atomic_uint_fast64_t next_id;
  tw__exec_profile profiles[TW__EXEC_PROFILES_MAX];
  int nprofiles;

  pthread_mutex_t run_mu;
  tw__exec_run running;         /* list head (sentinel) */
  atomic_uint_fast64_t epoch;
  pthread_t ticker;
  pthread_cond_t ticker_cv;     /* with run_mu: wakes the ticker to stop */
  bool ticker_stop, ticker_inited;
  atomic_bool ticker_started;   /* set under run_mu; read without it by */
                                /* tw__ticker_need's fast path */

  tw__exec_cache *cache;
  tw__exec_pool *pool;          /* NULL when pooling is off */
  const tw_metrics_std_t *metrics;
};

/* exec.c */
tw_status tw__exec_set_error(tw_exec_error *err, tw_exec_error_kind kind,
                             tw_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Copies an engine error into err under `kind`. */
tw_status tw__exec_from_engine(tw_exec_error *err, tw_exec_error_kind kind,
                               const tw_error *e);
/* Profile index for the effective limits (created on first use). */
tw_status tw__exec_profile_get(tw_exec_t *exec, const tw__exec_eff *eff,
                               int *out, tw_exec_error *err);
/* Effective limits of a spawn for its tenant.  Takes exec->mu. */
void tw__exec_effective(tw_exec_t *exec, const tw_spawn_config *cfg,
                        tw__exec_eff *out);
/* The tenant's record, created on first use; exec->mu held. */
tw__exec_tenant *tw__exec_tenant_locked(tw_exec_t *exec, tw_tenant_id id);
uint64_t tw__exec_now_ns(void);

/* Builds store, WASI context and instance for `mod`.  `run` (zeroed by the
 * caller) is put on the running list for the start function.  On failure
 * frees what it made. */
/* xm and p name the module and profile (for its snapshot plans); xm NULL
 * when cfg names no snapshot. */
tw_status tw__exec_instantiate(tw_exec_t *exec, tw_engine_t *engine,
                               tw_exec_module_t *xm, int p,
                               tw_module_t *mod, const tw_spawn_config *cfg,
                               uint64_t start_deadline_ms, tw__exec_run *run,
                               tw_instance_t **inst, tw_exec_error *err);

/* instance.c: terminates every live instance (tw_exec_free). */
void tw__exec_terminate_all(tw_exec_t *exec);

/* ticker.c: the running list and the epoch ticker. */
tw_status tw__ticker_init(tw_exec_t *exec, tw_exec_error *err);
/* Starts the ticker thread if it is not running, when deadline_ms (of the
 * call about to be armed) is not 0.  One atomic load once it runs. */
tw_status tw__ticker_need(tw_exec_t *exec, uint64_t deadline_ms,
                          tw_exec_error *err);
void tw__ticker_stop(tw_exec_t *exec);
/* Puts `run` on the running list with a deadline of `deadline_ms` (0:
 * none) counted from now.  False (and nothing done) when it was cancelled:
 * checking under run_mu closes the window between a caller's last look
 * at "terminated" and the start of its call. */
bool tw__run_arm(tw_exec_t *exec, tw__exec_run *run, uint64_t deadline_ms);
/* Takes it off; returns why it was interrupted (TW__RUN_*). */
/* Cancels `run`: interrupts a call in flight (store and WASI) and keeps
 * any later call from starting. */
void tw__run_cancel(tw_exec_t *exec, tw__exec_run *run);
int tw__run_disarm(tw_exec_t *exec, tw__exec_run *run);

#endif
