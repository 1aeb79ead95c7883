/* TensorWasm executor: tenants, instance lifecycle, typed export calls,
 * limits, the module cache ("JIT cache") and the warm-instance pool.
 *
 * Object model and ownership (stated once, here):
 *
 *  - tw_exec_t         one executor: its engines, module cache, live
 *                      instances, epoch ticker thread and pool thread.
 *                      Created by tw_exec_new, freed by tw_exec_free after
 *                      every other call on it has returned (it terminates
 *                      the instances still live).  Every function below is
 *                      thread-safe on one executor.
 *  - tw_exec_module_t  a compiled module held by the cache, reference
 *                      counted: tw_exec_module_load returns one reference
 *                      the caller drops with tw_exec_module_free.  Eviction
 *                      from the cache never invalidates a held reference.
 *  - tw_instance_id    a live instance, named by a number that is never
 *                      reused within one executor.  It lives from spawn to
 *                      terminate; calls on one instance are serialised.
 *  - tw_exec_result    values, captured output and exit status of a call,
 *                      owned by the caller (tw_exec_result_free).
 *
 * Errors: every fallible call returns tw_status and fills the caller's
 * tw_exec_error: `kind` says which of the executor's errors it is (with
 * the numbers that go with it), `base` carries the status, the message and,
 * for traps, the trap code and backtrace.  The kind names are the error
 * kinds of the HTTP API ("invoke_timeout", ...).
 *
 * Limits: three layers, each narrowing the one before: the executor's
 * config, per-tenant limits (tw_exec_set_tenant_limits) and the spawn
 * config's own.  A zero field means "inherit".  Memory, table and call-depth
 * limits bind at spawn; deadline and fuel are re-armed on every call.
 *
 * Deadlines: a ticker thread advances an epoch every `epoch_tick_ms` and
 * interrupts the store of every call whose deadline epoch has passed; the
 * guest stops at its next loop back-edge or call.  A guest blocked in a
 * WASI call (poll_oneoff, a read) is woken one tick later; that WASI
 * context then fails every later blocking call with EINTR, so an instance
 * that timed out that way should be terminated.  Stopping one instance
 * never touches another's store.
 *
 * Pool: with `pool_warm_per_module` > 0, tw_exec_invoke draws instances
 * from a free list per (tenant, module, limits) that a background thread
 * fills with freshly instantiated instances.  An instance that has run
 * guest code is never handed out again: returned instances are freed and
 * replaced by new ones instantiated from the cached module (their
 * memories start from fresh zero pages).  The start function of a pooled
 * instance runs at fill time, in the background.
 *
 * Tracing (target "tensor-wasm-exec"): spawn opens
 * `tensor_wasm_exec::executor::spawn_instance` {tenant, instance_id,
 * wasm_bytes} and keeps it open for the instance's life;
 * `..::call_export_with_args` {instance, export, args_len} and
 * `..::terminate` {instance} are its children, whichever thread runs them.
 * Tenant and instance ids are written in decimal; a value that is not
 * known is "unknown". */
#ifndef TENSORWASM_EXEC_H
#define TENSORWASM_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_exec tw_exec_t;
typedef struct tw_exec_module tw_exec_module_t;
typedef uint64_t tw_instance_id;
typedef uint64_t tw_tenant_id;

/* Span names and target: public contract (docs: seed span schema). */
#define TW_EXEC_TARGET "tensor-wasm-exec"
#define TW_EXEC_SPAN_SPAWN "tensor_wasm_exec::executor::spawn_instance"
#define TW_EXEC_SPAN_CALL "tensor_wasm_exec::executor::call_export_with_args"
#define TW_EXEC_SPAN_TERMINATE "tensor_wasm_exec::executor::terminate"

/* At most this many arguments per call (the HTTP API's limit). */
#define TW_EXEC_MAX_ARGS 256

/* ---- errors ------------------------------------------------------------- */

/* X(NAME, kind string, message).  The first eight after NONE are the
 * original's ExecError variants; the rest are ours. */
#define TW_EXEC_ERROR_LIST(X)                                               \
  X(NONE, "ok", "ok")                                                       \
  X(ENGINE, "wasmtime", "engine error")                                     \
  X(NOT_FOUND, "instance_not_found", "no such instance")                    \
  X(MISSING_EXPORT, "missing_export", "no such exported function")          \
  X(TIMEOUT, "invoke_timeout", "deadline exceeded")                         \
  X(MODULE_MEMORY_TOO_LARGE, "module_memory_too_large",                     \
    "module's declared memory exceeds the limit")                           \
  X(CAPACITY_EXHAUSTED, "capacity_exhausted", "instance capacity exhausted") \
  X(TENANT_CAPACITY_EXHAUSTED, "tenant_capacity_exhausted",                 \
    "tenant instance capacity exhausted")                                   \
  X(MODULE_TOO_LARGE, "module_too_large", "module exceeds the size limit")  \
  X(UNSUPPORTED_RETURN_TYPE, "unsupported_return_type",                     \
    "result type cannot be returned")                                       \
  X(TRAP, "trap", "guest trapped")                                          \
  X(FUEL_EXHAUSTED, "fuel_exhausted", "fuel exhausted")                     \
  X(CALL_DEPTH_EXCEEDED, "call_depth_exceeded", "call depth limit reached") \
  X(MODULE_TABLE_TOO_LARGE, "module_table_too_large",                       \
    "module's declared table exceeds the limit")                            \
  X(TERMINATED, "instance_terminated", "instance was terminated")           \
  X(INVALID_MODULE, "invalid_wasm", "invalid module")                       \
  X(INVALID_ARGS, "invalid_args", "arguments do not match")                 \
  X(TOO_MANY_ARGS, "too_many_args", "too many arguments")                   \
  X(INTERNAL, "internal", "internal error")

typedef enum tw_exec_error_kind {
#define TW__X(name, kind, msg) TW_EXEC_ERR_##name,
  TW_EXEC_ERROR_LIST(TW__X)
#undef TW__X
  TW_EXEC_ERR_COUNT
} tw_exec_error_kind;

/* A plain value the caller owns (it may live on the stack; NULL pointers
 * are accepted where a tw_exec_error* is taken).  Fields beyond `base`
 * are meaningful for the kinds named beside them, else zero. */
typedef struct tw_exec_error {
  tw_exec_error_kind kind;
  tw_error base;         /* status, message; trap code + backtrace */
  tw_instance_id instance; /* TIMEOUT, TERMINATED, NOT_FOUND */
  uint64_t elapsed_ms;   /* TIMEOUT */
  uint64_t deadline_ms;  /* TIMEOUT */
  uint64_t requested;    /* MODULE_*_TOO_LARGE: bytes / elements / length */
  uint64_t limit;        /* the limit that refused it (also CAPACITY_*) */
  uint64_t active;       /* CAPACITY_*: live instances at the time */
  tw_tenant_id tenant;   /* TENANT_CAPACITY_EXHAUSTED */
} tw_exec_error;

const char *tw_exec_error_kind_name(tw_exec_error_kind k); /* "invoke_timeout" */
const char *tw_exec_error_kind_message(tw_exec_error_kind k);
void tw_exec_error_clear(tw_exec_error *err);

/* ---- configuration ------------------------------------------------------- */

/* Limits of one layer; zero fields inherit from the layer above. */
typedef struct tw_exec_limits {
  uint64_t max_memory_bytes;   /* linear memory per instance (64 KiB pages) */
  uint32_t max_table_elements; /* per table */
  uint32_t max_call_depth;     /* wasm frames */
  uint32_t max_instances;      /* tenant layer only: live instances */
  uint64_t deadline_ms;        /* per call (wall clock) */
  uint64_t fuel;               /* per call: loop back-edges + calls */
} tw_exec_limits;

typedef struct tw_exec_config {
  uint64_t max_memory_bytes;          /* 0: 256 MiB */
  uint64_t max_module_bytes;          /* 0: 64 MiB */
  uint32_t module_cache_entries;      /* in-memory LRU; 0: 1024 */
  const char *cache_dir;              /* on-disk cache; NULL: none.  Borrowed
                                         (copied); created if missing */
  uint32_t max_instances;             /* live, all tenants; 0: 10000 */
  uint32_t max_instances_per_tenant;  /* 0: no per-tenant cap */
  uint32_t epoch_tick_ms;             /* 0: 10 */
  uint32_t max_table_elements;        /* 0: 1 Mi */
  uint32_t max_call_depth;            /* 0: 20000 */
  uint32_t pool_warm_per_module;      /* warm instances per (tenant, module,
                                         limits); 0: pooling off */
  uint32_t pool_max_warm;             /* all keys together; 0: 256 */
  uint64_t start_deadline_ms;         /* cap on a start function; 0: 30000 */
} tw_exec_config;

/* What one instance is given.  Every pointer is borrowed for the spawn
 * call only (copied).  The zero value is tenant 0 with inherited limits. */
typedef struct tw_spawn_config {
  tw_tenant_id tenant_id;
  uint64_t deadline_ms;          /* per call; 0: the tenant's, else none */
  uint64_t fuel;                 /* per call; 0: the tenant's, else none */
  const tw_exec_limits *limits;  /* this instance's layer; NULL: none */
  const tw_val *args;            /* tw_exec_invoke's arguments when it is
                                    given none itself */
  size_t nargs;
  const uint8_t *input;          /* the guest's stdin */
  size_t input_len;
  /* WASI argv (argv[0] included) and "NAME=VALUE" environment; NULL:
   * argv {"main"}, no environment. */
  const char *const *argv;
  size_t nargv;
  const char *const *env;
  size_t nenv;
  /* Embedders that need preopens or host stdio (the CLI) pass a full WASI
   * config (see wasi.h); it replaces argv/env/input and the output capture
   * (streams it sets to TW_WASI_STDIO_BUFFER are still captured). */
  const struct tw_wasi_config *wasi;
  /* The wasi:cuda capability (embedder or per-tenant policy): when false a
   * guest importing wasi:cuda links, but every call returns -1. */
  bool gpu;
  /* Start from this snapshot file (tensor-wasm snapshot create): opened
   * and verified once per module, then every spawn maps it copy-on-write
   * (SnapshotReader::restore span).  A snapshot that is rejected is
   * reported on the spawn span and the instance starts cold, running its
   * initialiser.  Borrowed for the call. */
  const char *snapshot_path;
} tw_spawn_config;

/* ---- results -------------------------------------------------------------- */

typedef struct tw_exec_result {
  tw_val *values;          /* count results (NULL when none); a funcref is
                              valid only while its instance lives */
  size_t count;
  uint8_t *stdout_data;    /* what the guest wrote to fd 1 during this
                              call (captured streams only); may be NULL */
  size_t stdout_len;
  uint8_t *stderr_data;    /* the same for fd 2 */
  size_t stderr_len;
  bool exited;             /* the guest called proc_exit ... */
  uint32_t exit_code;      /* ... with this code (the call then succeeds) */
} tw_exec_result;

/* Frees what `r` holds and zeroes it; NULL is accepted. */
void tw_exec_result_free(tw_exec_result *r);

/* ---- executor ----------------------------------------------------------- */

/* `config` is borrowed (copied); NULL means defaults.  Starts the epoch
 * ticker and, when pooling is on, the pool thread.  *out is the caller's. */
tw_status tw_exec_new(const tw_exec_config *config, tw_exec_t **out,
                      tw_exec_error *err);
/* Terminates live instances, stops the threads, frees everything. */
void tw_exec_free(tw_exec_t *exec);

/* Sets (replaces) the limits of one tenant; `limits` is borrowed (copied);
 * NULL removes them.  Applies to instances spawned afterwards. */
tw_status tw_exec_set_tenant_limits(tw_exec_t *exec, tw_tenant_id tenant,
                                    const tw_exec_limits *limits,
                                    tw_exec_error *err);

/* Live instances, all tenants / one tenant. */
size_t tw_exec_live_count(tw_exec_t *exec);
size_t tw_exec_tenant_live_count(tw_exec_t *exec, tw_tenant_id tenant);

/* The epoch counter: ticks of the executor's ticker, which starts with
 * the first call or instantiation that has a deadline (0 until then). */
uint64_t tw_exec_epoch(const tw_exec_t *exec);

/* ---- module cache --------------------------------------------------------- */

/* Returns the compiled module for `bytes` (borrowed): from memory, else
 * from the cache directory (no validation or compilation), else compiled
 * and stored in both.  MODULE_TOO_LARGE over max_module_bytes;
 * INVALID_MODULE when it does not decode or validate (base.offset says
 * where).  *out holds one reference. */
tw_status tw_exec_module_load(tw_exec_t *exec, const uint8_t *bytes,
                              size_t len, tw_exec_module_t **out,
                              tw_exec_error *err);
/* Drops one reference; NULL is accepted. */
void tw_exec_module_free(tw_exec_module_t *module);
/* SHA-256 of the module's bytes. */
void tw_exec_module_hash(const tw_exec_module_t *module, uint8_t out[32]);
/* True when the module exports a function of that name. */
bool tw_exec_module_has_export(const tw_exec_module_t *module,
                               const char *name);

typedef struct tw_exec_cache_stats {
  uint64_t hits;          /* found in memory */
  uint64_t disk_hits;     /* loaded from a cache file */
  uint64_t misses;        /* compiled */
  uint64_t evictions;     /* dropped from memory by the LRU bound */
  uint64_t disk_writes;   /* cache files written */
  uint64_t disk_rejected; /* cache files discarded (corrupt or foreign) */
  uint64_t entries;       /* in memory now */
} tw_exec_cache_stats;

void tw_exec_cache_stats_get(tw_exec_t *exec, tw_exec_cache_stats *out);
size_t tw_exec_cached_module_count(tw_exec_t *exec);

/* ---- instances -------------------------------------------------------------- */

/* Compiles (through the cache) and instantiates `wasm` (borrowed) for
 * cfg->tenant_id, running its start function (bounded by
 * start_deadline_ms and the call deadline).  Refuses, before
 * instantiating: MODULE_TOO_LARGE, MODULE_MEMORY_TOO_LARGE (declared
 * minimum over the memory limit), CAPACITY_EXHAUSTED,
 * TENANT_CAPACITY_EXHAUSTED.  Imports must all be WASI preview1
 * (ENGINE otherwise).  *id is written on success. */
tw_status tw_exec_spawn_instance(tw_exec_t *exec, const tw_spawn_config *cfg,
                                 const uint8_t *wasm, size_t len,
                                 tw_instance_id *id, tw_exec_error *err);
/* The same from a loaded module (borrowed; the instance keeps its own
 * reference). */
tw_status tw_exec_spawn_instance_module(tw_exec_t *exec,
                                        const tw_spawn_config *cfg,
                                        tw_exec_module_t *module,
                                        tw_instance_id *id,
                                        tw_exec_error *err);

/* Calls exported function `export_name` with `args` (borrowed; nargs of
 * them), checked against its signature: INVALID_ARGS on a count or type
 * mismatch (no conversion), UNSUPPORTED_RETURN_TYPE when a result is
 * v128, MISSING_EXPORT, NOT_FOUND.  While it runs the deadline and fuel
 * of the instance apply: TIMEOUT (elapsed, deadline), FUEL_EXHAUSTED,
 * CALL_DEPTH_EXCEEDED, TRAP (base.trap), TERMINATED when terminate() cut
 * it short.  On success *out (caller-owned, overwritten) holds the
 * results and the output of this call. */
tw_status tw_exec_call_export_with_args(tw_exec_t *exec, tw_instance_id id,
                                        const char *export_name,
                                        const tw_val *args, size_t nargs,
                                        tw_exec_result *out,
                                        tw_exec_error *err);
/* Calls, then terminates the instance whatever the call's outcome. */
tw_status tw_exec_call_export_with_args_then_terminate(
    tw_exec_t *exec, tw_instance_id id, const char *export_name,
    const tw_val *args, size_t nargs, tw_exec_result *out,
    tw_exec_error *err);

/* Spawn + call + terminate, drawing a warm instance from the pool when
 * there is one (only for spawn configs without input, argv, env or a WASI
 * config).  export_name NULL: `_start` if exported, else `main`.  args
 * NULL with nargs 0: cfg->args.  `module` is borrowed. */
tw_status tw_exec_invoke(tw_exec_t *exec, const tw_spawn_config *cfg,
                         tw_exec_module_t *module, const char *export_name,
                         const tw_val *args, size_t nargs,
                         tw_exec_result *out, tw_exec_error *err);

/* Removes the instance.  A call running in it traps at its next loop
 * back-edge or call (and a blocking WASI call returns) and fails with
 * TERMINATED; its resources go when that call returns.  NOT_FOUND for an
 * unknown or already terminated id. */
tw_status tw_exec_terminate(tw_exec_t *exec, tw_instance_id id,
                            tw_exec_error *err);

/* Parameter types of an instance's exported function, for callers that
 * convert arguments themselves: writes up to `cap` types, *n gets the
 * count.  NOT_FOUND / MISSING_EXPORT. */
tw_status tw_exec_export_params(tw_exec_t *exec, tw_instance_id id,
                                const char *export_name, tw_valtype *types,
                                size_t cap, size_t *n, tw_exec_error *err);

/* Deprecated: the export is called with no arguments and its results are
 * dropped.  Both go through the _with_args forms, so the
 * call_export_with_args span fires either way. */
__attribute__((deprecated("since 0.3.7; use tw_exec_call_export_with_args")))
tw_status tw_exec_call_export(tw_exec_t *exec, tw_instance_id id,
                              const char *export_name, tw_exec_error *err);
__attribute__((deprecated(
    "since 0.3.7; use tw_exec_call_export_with_args_then_terminate")))
tw_status tw_exec_call_export_then_terminate(tw_exec_t *exec,
                                             tw_instance_id id,
                                             const char *export_name,
                                             tw_exec_error *err);

/* ---- JSON ------------------------------------------------------------------ */

/* Arguments from a JSON array (borrowed) by the API's rule: an integer in
 * i32 range is an i32, a larger integer an i64, any other number an f64
 * (f32 cannot be chosen).  INVALID_ARGS (message names `args[i]`) for a
 * non-array or non-number, TOO_MANY_ARGS over TW_EXEC_MAX_ARGS.  *out is
 * malloc'd (free()); NULL when *n is 0. */
tw_status tw_exec_args_from_json(const json_t *array, tw_val **out,
                                 size_t *n, tw_exec_error *err);
/* The same from JSON text (`len` bytes, borrowed). */
tw_status tw_exec_args_from_json_text(const char *text, size_t len,
                                      tw_val **out, size_t *n,
                                      tw_exec_error *err);

/* The API's `result`: the string "ok" for no results, else an array of
 * numbers (i32/i64 integers, f32/f64 reals; NaN and infinities as the
 * strings "nan", "-nan", "inf", "-inf").  UNSUPPORTED_RETURN_TYPE for a
 * reference.  *out is a new reference (json_decref). */
tw_status tw_exec_result_to_json(const tw_exec_result *r, json_t **out,
                                 tw_exec_error *err);

#ifdef __cplusplus
}
#endif
#endif
