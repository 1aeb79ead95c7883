/* The metric catalogue: every metric TensorWasm exposes, registered from
 * one table, plus the label helpers that keep label sets bounded (route
 * templates, methods, invocation outcomes) and the scrape-time process
 * gauges.
 *
 * Names, types, label names and buckets of the metrics the original design
 * emitted or named are interface facts (reference/INTERFACES.md §7): a
 * dashboard built for it must work against us, so none may be renamed.
 * docs/dashboards/README.md is the inventory, in the order of the table
 * below; keep the two in step. */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics_int.h"

/* Build identity for tensor_wasm_build_info, set by cmake/metrics.cmake. */
#ifndef TW_BUILD_VERSION
#define TW_BUILD_VERSION "unknown"
#endif
#ifndef TW_BUILD_GIT_SHA
#define TW_BUILD_GIT_SHA "unknown"
#endif
#ifndef TW_BUILD_COMPILER
#define TW_BUILD_COMPILER "unknown"
#endif
#ifndef TW_BUILD_PROFILE
#define TW_BUILD_PROFILE "unknown"
#endif
#ifndef TW_BUILD_TARGET
#define TW_BUILD_TARGET "unknown"
#endif

/* ---- buckets ------------------------------------------------------------- */

/* The original's: kernel launch 10us..10s (14), HTTP 1ms..10s (12). */
static const double kernel_buckets[] = {1e-5, 5e-5, 1e-4, 5e-4, 1e-3,
                                        5e-3, 0.01, 0.05, 0.1,  0.5,
                                        1,    2,    5,    10};
static const double http_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,   1,    2.5,   5,    10};
/* Ours, for work that runs from ~100us (a small snapshot, a cached emit)
 * to seconds (a large image from disk). */
static const double short_op_buckets[] = {1e-4,  2.5e-4, 5e-4, 1e-3,
                                          2.5e-3, 5e-3,  0.01, 0.025,
                                          0.05,  0.1,    0.25, 0.5,
                                          1,     2.5,    5,    10};
/* Ours: async jobs, from enqueue to a final state; the gateway's own
 * timeout is 30 s but queued jobs can wait minutes. */
static const double job_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,   1,    2.5,   5,    10,  30,
                                     60,    120,  300};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the table ------------------------------------------------------------ */

/* What the tw_metrics_std_t field at `field` holds: the family, or the one
 * series of an unlabelled family. */
typedef enum { AS_FAMILY, AS_SERIES } holds;

typedef struct entry {
  tw_metric_desc desc;
  size_t field;
  holds as;
} entry;

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define F(member) offsetof(tw_metrics_std_t, member)
#define COUNTER(n, h, lab, m, as) {{TW_METRIC_COUNTER, n, h, lab, NULL, 0}, F(m), as}
#define GAUGE(n, h, lab, m, as) {{TW_METRIC_GAUGE, n, h, lab, NULL, 0}, F(m), as}
#define HIST(n, h, lab, b, m, as) \
  {{TW_METRIC_HISTOGRAM, n, h, lab, b, NB(b)}, F(m), as}

static const entry catalog[] = {
    /* Emitted by the original design. */
    GAUGE("tensor_wasm_active_instances", "Live wasm instances, by tenant.",
          L("tenant"), active_instances, AS_FAMILY),
    GAUGE("tensor_wasm_gpu_memory_used_bytes",
          "GPU memory held by live instances in bytes, by tenant.",
          L("tenant"), gpu_memory_used_bytes, AS_FAMILY),
    COUNTER("tensor_wasm_kernel_dispatches_total",
            "GPU kernels launched through wasi:cuda, by tenant.", L("tenant"),
            kernel_dispatches, AS_FAMILY),
    HIST("tensor_wasm_kernel_latency_seconds",
         "Kernel launch to completion, in seconds.", NULL, kernel_buckets,
         kernel_latency_seconds, AS_SERIES),
    COUNTER("tensor_wasm_instance_spawns_total", "Wasm instances created.",
            NULL, instance_spawns, AS_SERIES),
    COUNTER("tensor_wasm_instance_terminations_total",
            "Wasm instances torn down.", NULL, instance_terminations,
            AS_SERIES),
    COUNTER("tensor_wasm_offload_success_total",
            "GPU offloads that ran to completion on the device.", NULL,
            offload_success, AS_SERIES),
    COUNTER("tensor_wasm_offload_fallback_total",
            "GPU offloads that fell back to running on the CPU.", NULL,
            offload_fallback, AS_SERIES),
    COUNTER("tensor_wasm_http_requests_total",
            "HTTP responses sent, by route template, method and status.",
            L("route", "method", "status"), http_requests, AS_FAMILY),
    HIST("tensor_wasm_http_request_duration_seconds",
         "HTTP request handling time in seconds, by route template, method "
         "and status.",
         L("route", "method", "status"), http_buckets,
         http_request_duration_seconds, AS_FAMILY),
    GAUGE("tensor_wasm_http_requests_in_flight",
          "HTTP requests being handled now, by route template and method.",
          L("route", "method"), http_requests_in_flight, AS_FAMILY),
    GAUGE("tensor_wasm_build_info",
          "Always 1; the labels identify the running build.",
          L("version", "git_sha", "rustc_version", "profile", "target"),
          build_info, AS_FAMILY),
    GAUGE("tensor_wasm_jobs_active", "Async jobs accepted and not finished.",
          NULL, jobs_active, AS_SERIES),
    GAUGE("tensor_wasm_gpu_memory_bytes_per_tenant",
          "GPU memory reserved by each tenant, in bytes.", L("tenant_id"),
          gpu_memory_bytes_per_tenant, AS_FAMILY),
    GAUGE("tensor_wasm_cpu_memory_bytes_per_tenant",
          "Linear memory of each tenant's live instances at start, in "
          "bytes.",
          L("tenant_id"), cpu_memory_bytes_per_tenant, AS_FAMILY),
    COUNTER("tensor_wasm_streaming_chunks_emitted_total",
            "Stream chunks that reached the client of invoke-stream.", NULL,
            streaming_chunks_emitted, AS_SERIES),
    /* Named by the original design, never emitted there. */
    HIST("tensor_wasm_snapshot_capture_seconds",
         "Time to capture a snapshot of an initialised instance, in seconds.",
         NULL, short_op_buckets, snapshot_capture_seconds, AS_SERIES),
    HIST("tensor_wasm_snapshot_restore_seconds",
         "Time to restore an instance from a snapshot, in seconds.", NULL,
         short_op_buckets, snapshot_restore_seconds, AS_SERIES),
    HIST("tensor_wasm_snapshot_disk_round_trip_seconds",
         "Time to write a snapshot to disk and read it back, in seconds.",
         NULL, short_op_buckets, snapshot_disk_round_trip_seconds,
         AS_SERIES),
    COUNTER("tensor_wasm_jit_cache_warm_hit_total",
            "Module cache lookups served by an already compiled module.",
            NULL, jit_cache_warm_hit, AS_SERIES),
    COUNTER("tensor_wasm_jit_cache_cold_miss_then_insert_total",
            "Module cache misses that compiled and inserted the module.", NULL,
            jit_cache_cold_miss_then_insert, AS_SERIES),
    HIST("tensor_wasm_jit_emit_text_seconds",
         "Time to emit device code text for an offload, by blueprint, in "
         "seconds.",
         L("blueprint"), short_op_buckets, jit_emit_text_seconds, AS_FAMILY),
    GAUGE("tensor_wasm_jit_cache_bytes",
          "Bytes of compiled code held by the module cache.", NULL,
          jit_cache_bytes, AS_SERIES),
    COUNTER("tensor_wasm_jit_cache_verify_skipped_total",
            "Module cache hits served without re-verifying the entry.", NULL,
            jit_cache_verify_skipped, AS_SERIES),
    GAUGE("tensor_wasm_backpressure_permits_used",
          "Execution permits held by running calls.", NULL,
          backpressure_permits_used, AS_SERIES),
    GAUGE("tensor_wasm_backpressure_permits_available",
          "Execution permits free to take.", NULL,
          backpressure_permits_available, AS_SERIES),
    GAUGE("tensor_wasm_pool_warm_instances",
          "Pre-initialised instance slots ready to draw.", NULL,
          pool_warm_instances, AS_SERIES),
    COUNTER("tensor_wasm_pool_draws_total",
            "Instances drawn from the warm pool.", NULL, pool_draws,
            AS_SERIES),
    COUNTER("tensor_wasm_pool_reset_failed_total",
            "Pool slots discarded because resetting them failed.", NULL,
            pool_reset_failed, AS_SERIES),
    COUNTER("tensor_wasm_isolation_violations_total",
            "Guest references to a device buffer or kernel that is not its "
            "own, refused.",
            NULL,
            isolation_violations, AS_SERIES),
    COUNTER("tensor_wasm_functions_total",
            "Functions deployed through this process since it started.", NULL,
            functions, AS_SERIES),
    /* Ours. */
    /* tensor_wasm_functions_registered (functions held now) is not
     * registered: no registry backend can count its functions yet, and
     * with the shared NATS backend a per-process gauge would not be the
     * registry's number anyway.  Its handle stays NULL, which updates
     * ignore. */
    COUNTER("tensor_wasm_invocations_total",
            "Function calls finished, by tenant and outcome.",
            L("tenant", "outcome"), invocations, AS_FAMILY),
    COUNTER("tensor_wasm_otlp_spans_exported_total",
            "Spans accepted by the OTLP collector.", NULL,
            otlp_spans_exported, AS_SERIES),
    COUNTER("tensor_wasm_otlp_spans_dropped_total",
            "Spans that were never exported, by reason.", L("reason"),
            otlp_spans_dropped, AS_FAMILY),
    GAUGE("tensor_wasm_async_queue_depth", "Async jobs waiting for a worker.",
          NULL, async_queue_depth, AS_SERIES),
    HIST("tensor_wasm_async_job_duration_seconds",
         "Async job time from a worker taking it to its final state, in "
         "seconds.",
         NULL,
         job_buckets, async_job_duration_seconds, AS_SERIES),
    GAUGE("process_resident_memory_bytes", "Resident set size in bytes.",
          NULL, process_resident_memory_bytes, AS_SERIES),
    GAUGE("process_open_fds", "Open file descriptors.", NULL,
          process_open_fds, AS_SERIES),
    GAUGE("tensor_wasm_uptime_seconds", "Seconds since the process started.",
          NULL, uptime_seconds, AS_SERIES),
};

/* ---- scrape-time values ------------------------------------------------------ */

static struct timespec process_start;

/* Runs when the program starts (this file is linked into any program that
 * uses the catalogue), so uptime counts from exec, not from registration. */
__attribute__((constructor)) static void note_start(void) {
  clock_gettime(CLOCK_MONOTONIC, &process_start);
}

static double uptime_now(void *ctx) {
  (void)ctx;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - process_start.tv_sec) +
         (double)(now.tv_nsec - process_start.tv_nsec) / 1e9;
}

/* Second field of /proc/self/statm, in pages. */
static double rss_now(void *ctx) {
  (void)ctx;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return NAN;
  unsigned long size = 0, resident = 0;
  int n = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  if (n != 2) return NAN;
  return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* Entries of /proc/self/fd, less the one the listing itself holds open. */
static double open_fds_now(void *ctx) {
  (void)ctx;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return NAN;
  long n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return (double)(n > 0 ? n - 1 : 0);
}

/* ---- registration --------------------------------------------------------------- */

static tw_status register_entry(tw_metric_registry_t *reg, const entry *e,
                                tw_metrics_std_t *out, tw_error *err) {
  tw_metric_family_t *f;
  tw_status st = tw_metric_register(reg, &e->desc, &f, err);
  if (st != TW_OK) return st;
  char *slot = (char *)out + e->field;
  if (e->as == AS_FAMILY) {
    memcpy(slot, &f, sizeof f);
    return TW_OK;
  }
  /* The field's type matches the family's type (the table says so);
   * memcpy stores the pointer without type-punning the field. */
  if (e->desc.type == TW_METRIC_COUNTER) {
    tw_counter_t *c;
    if ((st = tw_metric_counter_get(f, NULL, &c, err)) == TW_OK)
      memcpy(slot, &c, sizeof c);
  } else if (e->desc.type == TW_METRIC_GAUGE) {
    tw_gauge_t *g;
    if ((st = tw_metric_gauge_get(f, NULL, &g, err)) == TW_OK)
      memcpy(slot, &g, sizeof g);
  } else {
    tw_histogram_t *h;
    if ((st = tw_metric_histogram_get(f, NULL, &h, err)) == TW_OK)
      memcpy(slot, &h, sizeof h);
  }
  return st;
}

/* Series whose label values form a small fixed set, made at zero so that
 * a dashboard reads 0 rather than "No data" before the first event:
 *  - the two reasons a span is dropped;
 *  - jit_emit_text_seconds{blueprint="none"}: this build has no offload
 *    code generator, so no real blueprint ever appears; the one series
 *    says so with a count of 0 (docs/dashboards/README.md). */
static tw_status make_fixed_series(const tw_metrics_std_t *m, tw_error *err) {
  static const char *const reasons[] = {"queue_full", "export_failed"};
  tw_counter_t *c;
  tw_histogram_t *h;
  for (size_t i = 0; i < NB(reasons); i++) {
    const char *const v[] = {reasons[i], NULL};
    tw_status st = tw_metric_counter_get(m->otlp_spans_dropped, v, &c, err);
    if (st != TW_OK) return st;
  }
  return tw_metric_histogram_get(m->jit_emit_text_seconds,
                                 (const char *const[]){"none", NULL}, &h,
                                 err);
}

void tw_metrics_std_tenant_init(const tw_metrics_std_t *m,
                                const char *tenant) {
  if (!m || !tenant) return;
  /* Each *_with creates the series at zero if it is new and is a
   * lock-free lookup otherwise; failures leave the series absent, which
   * costs a panel its zero, never a request. */
  (void)tw_metric_gauge_with(m->active_instances, tenant);
  (void)tw_metric_gauge_with(m->gpu_memory_used_bytes, tenant);
  (void)tw_metric_counter_with(m->kernel_dispatches, tenant);
  (void)tw_metric_gauge_with(m->gpu_memory_bytes_per_tenant, tenant);
  (void)tw_metric_gauge_with(m->cpu_memory_bytes_per_tenant, tenant);
}

static tw_status bind_process_gauges(const tw_metrics_std_t *m,
                                     tw_error *err) {
  tw_status st = tw_gauge_bind(m->process_resident_memory_bytes, rss_now,
                               NULL, err);
  if (st == TW_OK)
    st = tw_gauge_bind(m->process_open_fds, open_fds_now, NULL, err);
  if (st == TW_OK) st = tw_gauge_bind(m->uptime_seconds, uptime_now, NULL, err);
  return st;
}

tw_status tw_metrics_std_register(tw_metric_registry_t *reg,
                                  tw_metrics_std_t *out, tw_error *err) {
  if (!reg || !out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "NULL argument");
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < NB(catalog); i++) {
    tw_status st = register_entry(reg, &catalog[i], out, err);
    if (st != TW_OK) return st;
  }
  static const char *const build[] = {TW_BUILD_VERSION, TW_BUILD_GIT_SHA,
                                      TW_BUILD_COMPILER, TW_BUILD_PROFILE,
                                      TW_BUILD_TARGET, NULL};
  tw_gauge_t *info;
  tw_status st = tw_metric_gauge_get(out->build_info, build, &info, err);
  if (st != TW_OK) return st;
  tw_gauge_set(info, 1);
  if ((st = make_fixed_series(out, err)) != TW_OK) return st;
  return bind_process_gauges(out, err);
}

static tw_metrics_std_t default_std;
static pthread_once_t default_std_once = PTHREAD_ONCE_INIT;

static void default_std_init(void) {
  /* On failure the handles not yet made stay NULL, which every update
   * ignores; the gateway logs the failure when it renders. */
  tw_metrics_std_register(tw_metric_registry_default(), &default_std, NULL);
}

const tw_metrics_std_t *tw_metrics_std(void) {
  pthread_once(&default_std_once, default_std_init);
  return &default_std;
}

/* ---- label helpers ------------------------------------------------------------ */

/* The original's route allowlist, with the methods each route serves. */
static const struct route {
  const char *methods; /* space-separated */
  const char *tmpl;
} routes[] = {
    {"GET", "/healthz"},
    {"GET", "/metrics"},
    {"POST", "/functions"},
    {"DELETE", "/functions/:id"},
    {"POST", "/functions/:id/invoke"},
    {"POST", "/functions/:id/invoke-async"},
    {"POST", "/functions/:id/invoke-stream"},
    {"GET", "/jobs/:id"},
    {"POST", "/v1/completions"},
    {"POST", "/v1/chat/completions"},
    {"GET POST", "/kernels"},
    {"GET", "/kernels/:name/:version"},
};

/* Does `path` (up to `end`) match `tmpl`, where a `:param` segment matches
 * one non-empty segment? */
static bool path_matches(const char *tmpl, const char *path, const char *end) {
  while (*tmpl && path < end) {
    if (*tmpl == ':') {
      while (*tmpl && *tmpl != '/') tmpl++;
      const char *seg = path;
      while (path < end && *path != '/') path++;
      if (path == seg) return false;
    } else if (*tmpl++ != *path++) {
      return false;
    }
  }
  return !*tmpl && path == end;
}

/* Is `method` one word of the space-separated `list`? */
static bool method_in(const char *method, const char *list) {
  size_t n = strlen(method);
  for (const char *p = list; *p;) {
    const char *q = strchr(p, ' ');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len == n && memcmp(p, method, n) == 0) return true;
    p += len + (q != NULL);
  }
  return false;
}

const char *tw_metrics_route_label(const char *method, const char *path) {
  if (!method || !path) return "unknown";
  if (strcmp(method, "HEAD") == 0) method = "GET";
  const char *end = path + strcspn(path, "?#");
  for (size_t i = 0; i < NB(routes); i++)
    if (path_matches(routes[i].tmpl, path, end))
      return method_in(method, routes[i].methods) ? routes[i].tmpl
                                                  : "unknown";
  return "unknown";
}

const char *tw_metrics_method_label(const char *method) {
  static const char *const verbs[] = {"GET",     "POST",    "PUT",
                                      "DELETE",  "PATCH",   "HEAD",
                                      "OPTIONS", "TRACE",   "CONNECT"};
  if (method)
    for (size_t i = 0; i < NB(verbs); i++)
      if (strcmp(method, verbs[i]) == 0) return verbs[i];
  return "other";
}

/* "trap_" + the lower-cased name of each trap code, made once from the
 * X-macro list so a new trap kind gets its label without an edit here. */
static const char *const trap_names[] = {
#define TW__X(name, msg) #name,
    TW_TRAP_LIST(TW__X)
#undef TW__X
};
static char trap_labels[TW_TRAP_COUNT][48];
static pthread_once_t trap_labels_once = PTHREAD_ONCE_INIT;

static void trap_labels_init(void) {
  for (size_t i = 0; i < TW_TRAP_COUNT; i++) {
    char *p = trap_labels[i];
    size_t n = snprintf(p, sizeof trap_labels[i], "trap_%s", trap_names[i]);
    for (size_t j = 0; j < n && p[j]; j++)
      if (p[j] >= 'A' && p[j] <= 'Z') p[j] = (char)(p[j] - 'A' + 'a');
  }
}

const char *tw_metrics_outcome_label(tw_status st, tw_trap_code trap) {
  switch (st) {
  case TW_OK: return "ok";
  case TW_LIMIT: return "limit";
  case TW_TRAP:
    if (trap == TW_TRAP_INTERRUPTED) return "timeout";
    if (trap == TW_TRAP_NONE || (unsigned)trap >= (unsigned)TW_TRAP_COUNT)
      return "error";
    pthread_once(&trap_labels_once, trap_labels_init);
    return trap_labels[trap];
  default: return "error";
  }
}
