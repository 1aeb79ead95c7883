/* TensorWasm metrics: a Prometheus registry of counters, gauges and
 * histograms with labels, rendered as text exposition format 0.0.4.
 *
 * Object model and ownership (stated once, here):
 *
 *  - tw_metric_registry_t  owns every family registered in it and every
 *        series (label set) made from those families.  One process-wide
 *        registry exists from the start (tw_metric_registry_default; it is
 *        never freed); tests make private ones with tw_metric_registry_new
 *        and free them with tw_metric_registry_free, after which every
 *        family and handle made from them is invalid.
 *  - tw_metric_family_t    one metric name: type, help, label names and,
 *        for histograms, bucket bounds.  Borrowed from its registry.
 *  - tw_counter_t, tw_gauge_t, tw_histogram_t  one series of a family (one
 *        set of label values).  Borrowed from the registry; stable for its
 *        lifetime, so callers look a label set up once and keep the handle.
 *
 * Threads: registration, label-set creation, binding a callback gauge and
 * rendering take the registry's mutex.  Looking up a label set that already
 * exists takes no lock, and updating a handle is one relaxed atomic
 * operation (histograms: one for the bucket, a compare-and-swap loop for the
 * sum).  Relaxed is enough: a scrape only needs each value to be some value
 * the series had, not an ordering between series.
 *
 * Failure never takes a request down: every update function accepts a NULL
 * handle and does nothing, and the *_with convenience lookups return NULL
 * on failure (out of memory, wrong label count, wrong type), so a caller
 * may write tw_counter_inc(tw_metric_counter_with(f, "a")) unconditionally.
 * The *_get forms report why through tw_error.
 *
 * Errors: fallible calls return tw_status and fill the caller's tw_error
 * (see error.h). */
#ifndef TENSORWASM_METRICS_H
#define TENSORWASM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Content-Type a /metrics handler answers with. */
#define TW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Most label names one family may have. */
#define TW_METRIC_LABELS_MAX 8
/* Most finite bucket bounds one histogram may have (+Inf is implied). */
#define TW_METRIC_BUCKETS_MAX 64

typedef struct tw_metric_registry tw_metric_registry_t;
typedef struct tw_metric_family tw_metric_family_t;
typedef struct tw_counter tw_counter_t;
typedef struct tw_gauge tw_gauge_t;
typedef struct tw_histogram tw_histogram_t;

typedef enum tw_metric_type {
  TW_METRIC_COUNTER,
  TW_METRIC_GAUGE,
  TW_METRIC_HISTOGRAM
} tw_metric_type;

/* What a family is.  Every pointer is borrowed for the registration call
 * only (the registry copies what it keeps).
 *  - name: the exposed name.  A counter's name ends in `_total`; it is
 *    appended when missing, so "x" and "x_total" name the same counter.
 *  - help: one line (non-empty); backslashes and newlines are escaped.
 *  - labels: label names, NULL-terminated; NULL means none.  At most
 *    TW_METRIC_LABELS_MAX; `le` is reserved for histograms' buckets.
 *  - buckets: histograms only, `nbuckets` finite upper bounds in strictly
 *    increasing order; the `+Inf` bucket is added.  Each bound is
 *    inclusive: an observation v lands in the first bucket with v <= le. */
typedef struct tw_metric_desc {
  tw_metric_type type;
  const char *name;
  const char *help;
  const char *const *labels;
  const double *buckets;
  size_t nbuckets;
} tw_metric_desc;

/* ---- registries -------------------------------------------------------- */

/* The process-wide registry.  Static storage; never NULL, never freed. */
tw_metric_registry_t *tw_metric_registry_default(void);

/* A new empty registry in *out, which the caller owns. */
tw_status tw_metric_registry_new(tw_metric_registry_t **out, tw_error *err);

/* Frees `reg` with its families and series.  No other thread may be using
 * it.  NULL and the default registry are ignored. */
void tw_metric_registry_free(tw_metric_registry_t *reg);

/* Registers a family and writes it to *out (borrowed from `reg`).
 * Registering a name again with the same type, labels and buckets returns
 * the existing family (so independent modules may both register it); a
 * different shape under the same name is TW_ARG.  A family without labels
 * has its one series from the start, so it renders as 0 before any use;
 * a labelled family renders only HELP and TYPE until a label set is made. */
tw_status tw_metric_register(tw_metric_registry_t *reg,
                             const tw_metric_desc *desc,
                             tw_metric_family_t **out, tw_error *err);

/* ---- series (label sets) ------------------------------------------------ */

/* The series of family `f` with the given label values, created on first
 * use.  `values` lists one value per label name, in the family's order,
 * NULL-terminated (NULL or {NULL} for a family without labels); borrowed
 * for the call, copied on creation.  A wrong count, a NULL family or a
 * family of another type is TW_ARG. */
tw_status tw_metric_counter_get(tw_metric_family_t *f,
                                const char *const *values,
                                tw_counter_t **out, tw_error *err);
tw_status tw_metric_gauge_get(tw_metric_family_t *f,
                              const char *const *values, tw_gauge_t **out,
                              tw_error *err);
tw_status tw_metric_histogram_get(tw_metric_family_t *f,
                                  const char *const *values,
                                  tw_histogram_t **out, tw_error *err);

/* Convenience: label values as arguments, NULL on any failure.
 *   tw_counter_t *c = tw_metric_counter_with(fam, "/healthz", "GET", "200");
 * For a family without labels pass NULL: tw_metric_counter_with(fam, NULL). */
#define tw_metric_counter_with(f, ...) \
  tw__metric_counter_with((f), (const char *const[]){__VA_ARGS__, NULL})
#define tw_metric_gauge_with(f, ...) \
  tw__metric_gauge_with((f), (const char *const[]){__VA_ARGS__, NULL})
#define tw_metric_histogram_with(f, ...) \
  tw__metric_histogram_with((f), (const char *const[]){__VA_ARGS__, NULL})
tw_counter_t *tw__metric_counter_with(tw_metric_family_t *f,
                                      const char *const *values);
tw_gauge_t *tw__metric_gauge_with(tw_metric_family_t *f,
                                  const char *const *values);
tw_histogram_t *tw__metric_histogram_with(tw_metric_family_t *f,
                                          const char *const *values);

/* ---- hot path: updates (NULL handles are ignored) ------------------------ */

void tw_counter_inc(tw_counter_t *c);
void tw_counter_add(tw_counter_t *c, uint64_t n);
uint64_t tw_counter_value(const tw_counter_t *c); /* 0 for NULL */

/* Gauges hold a signed 64-bit integer: every gauge we keep counts things
 * or bytes, and an integer add is one atomic instruction.  Values that are
 * fractional or computed at scrape time come from callback gauges. */
void tw_gauge_set(tw_gauge_t *g, int64_t v);
void tw_gauge_add(tw_gauge_t *g, int64_t delta);
void tw_gauge_sub(tw_gauge_t *g, int64_t delta);
int64_t tw_gauge_value(const tw_gauge_t *g); /* 0 for NULL */

/* Counts v in its bucket and adds it to the sum.  NaN is ignored (it would
 * poison the sum for the rest of the process). */
void tw_histogram_observe(tw_histogram_t *h, double v);
uint64_t tw_histogram_count(const tw_histogram_t *h); /* 0 for NULL */
double tw_histogram_sum(const tw_histogram_t *h);     /* 0 for NULL */

/* ---- values computed at scrape time ------------------------------------- */

/* A callback gauge's value source.  Runs on the rendering thread with the
 * registry's mutex held, so it must be quick and must not register
 * families, create label sets, bind gauges or render. */
typedef double (*tw_metric_gauge_fn)(void *ctx);

/* From now on `g` renders as fn(ctx) instead of its stored value.  `ctx`
 * is borrowed until the gauge is unbound (fn == NULL restores the stored
 * value) or its registry is freed.  TW_ARG if g is NULL. */
tw_status tw_gauge_bind(tw_gauge_t *g, tw_metric_gauge_fn fn, void *ctx,
                        tw_error *err);

/* ---- exposition ----------------------------------------------------------- */

/* A growable text buffer the caller owns.  Start it zeroed
 * (tw_metric_buf b = {0};), release it with tw_metric_buf_free.  `data` is
 * NUL-terminated whenever it is non-NULL. */
typedef struct tw_metric_buf {
  char *data;
  size_t len;
  size_t cap;
} tw_metric_buf;

void tw_metric_buf_free(tw_metric_buf *buf);

/* Appends the registry in Prometheus text format 0.0.4 to `buf`: families
 * sorted by name, each with HELP and TYPE lines, series sorted by label
 * values; label values escape backslash, double quote and newline.  On
 * TW_NOMEM buf->len is what it was before the call. */
tw_status tw_metric_registry_render(tw_metric_registry_t *reg,
                                    tw_metric_buf *buf, tw_error *err);

/* ---- the catalogue: every metric TensorWasm emits ------------------------ */

/* Typed handles onto the catalogue, so emitters never look names up.
 * Families without labels are given as their one series; labelled
 * families as the family (look the label set up once and keep it).
 * Label values for a `tenant` or `tenant_id` label are the tenant id as
 * the span attribute `tenant` carries it.  docs/dashboards/README.md says
 * what each one means and who emits it. */
typedef struct tw_metrics_std_t {
  /* Emitted by the original design: names, types, labels, buckets kept. */
  tw_metric_family_t *active_instances;           /* gauge {tenant} */
  tw_metric_family_t *gpu_memory_used_bytes;      /* gauge {tenant} */
  tw_metric_family_t *kernel_dispatches;          /* counter {tenant} */
  tw_histogram_t *kernel_latency_seconds;         /* 10us .. 10s */
  tw_counter_t *instance_spawns;
  tw_counter_t *instance_terminations;
  tw_counter_t *offload_success;
  tw_counter_t *offload_fallback;
  tw_metric_family_t *http_requests;              /* counter {route,method,status} */
  tw_metric_family_t *http_request_duration_seconds; /* hist. {route,method,status} */
  tw_metric_family_t *http_requests_in_flight;    /* gauge {route,method} */
  tw_metric_family_t *build_info;                 /* gauge, set to 1 here */
  tw_gauge_t *jobs_active;
  tw_metric_family_t *gpu_memory_bytes_per_tenant; /* gauge {tenant_id} */
  tw_metric_family_t *cpu_memory_bytes_per_tenant; /* gauge {tenant_id} */
  tw_counter_t *streaming_chunks_emitted;
  /* Named by the original but never emitted there. */
  tw_histogram_t *snapshot_capture_seconds;
  tw_histogram_t *snapshot_restore_seconds;
  tw_histogram_t *snapshot_disk_round_trip_seconds;
  tw_counter_t *jit_cache_warm_hit;
  tw_counter_t *jit_cache_cold_miss_then_insert;
  tw_metric_family_t *jit_emit_text_seconds;      /* histogram {blueprint} */
  tw_gauge_t *jit_cache_bytes;
  tw_counter_t *jit_cache_verify_skipped;
  tw_gauge_t *backpressure_permits_used;
  tw_gauge_t *backpressure_permits_available;
  tw_gauge_t *pool_warm_instances;
  tw_counter_t *pool_draws;
  tw_counter_t *pool_reset_failed;
  tw_counter_t *isolation_violations;
  tw_counter_t *functions;                        /* functions registered */
  /* Ours. */
  tw_gauge_t *functions_registered;               /* always NULL: not exposed
                                                     until a registry can
                                                     count its functions */
  tw_metric_family_t *invocations;                /* counter {tenant,outcome} */
  tw_counter_t *otlp_spans_exported;
  tw_metric_family_t *otlp_spans_dropped;         /* counter {reason} */
  tw_gauge_t *async_queue_depth;
  tw_histogram_t *async_job_duration_seconds;
  tw_gauge_t *process_resident_memory_bytes;      /* bound: /proc/self/statm */
  tw_gauge_t *process_open_fds;                   /* bound: /proc/self/fd */
  tw_gauge_t *uptime_seconds;                     /* bound: since start */
} tw_metrics_std_t;

/* The catalogue in the default registry, registered on first call.  Never
 * NULL: if registration ran out of memory the handles it lacks are NULL,
 * which every update ignores. */
const tw_metrics_std_t *tw_metrics_std(void);

/* Registers the catalogue in `reg` (idempotent) and fills *out. */
tw_status tw_metrics_std_register(tw_metric_registry_t *reg,
                                  tw_metrics_std_t *out, tw_error *err);

/* Makes the per-tenant series of the catalogue for `tenant` (a label
 * value, borrowed for the call) at zero where they do not exist yet:
 * active_instances, gpu_memory_used_bytes and kernel_dispatches {tenant},
 * gpu_ and cpu_memory_bytes_per_tenant {tenant_id}.  So a tenant's panels
 * read 0, not "No data", before it has used the GPU (or on a machine
 * without one).  The executor calls it when it first sees a tenant.
 * NULL arguments are ignored; out of memory leaves a series absent. */
void tw_metrics_std_tenant_init(const tw_metrics_std_t *m,
                                const char *tenant);

/* ---- label helpers (static strings, bounded sets) ------------------------ */

/* The `route` label for a request: the route template the path matches
 * (`/functions/:id/invoke`, ...) when the route list of the API serves
 * that method there (HEAD counts as GET), else "unknown".  A query string
 * is ignored.  The snapshot routes are deliberately not on the list. */
const char *tw_metrics_route_label(const char *method, const char *path);

/* The `method` label: one of the nine standard verbs, else "other". */
const char *tw_metrics_method_label(const char *method);

/* The `outcome` label of tensor_wasm_invocations_total for a call that
 * returned `st` (and, for TW_TRAP, `trap`): "ok", "timeout" (an
 * interrupted call), "limit", "trap_<kind>" (e.g. "trap_div_zero") or
 * "error". */
const char *tw_metrics_outcome_label(tw_status st, tw_trap_code trap);

#ifdef __cplusplus
}
#endif
#endif
