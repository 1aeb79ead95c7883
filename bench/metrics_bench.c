/* ns per metrics update: counter add and histogram observe, on one thread
 * and on N threads hitting the same series (the worst case: one contended
 * cache line) and their own series (the usual case: a label set per
 * route or tenant).
 *
 * Then the metrics cost of one invoke: every metric update a synchronous
 * POST /functions/:id/invoke makes on its way through the gateway and the
 * executor (pool draw and cache hit: the warm path), done here in the
 * same order with the same label lookups, against the default catalogue.
 *
 * Each figure is the best of 5 runs: the build machines are shared, and
 * the minimum is the figure least disturbed by other processes.
 *
 *   build/metrics_bench [iterations] [threads]     defaults 5000000, 2 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensorwasm/metrics.h"

/* Baseline: the bare atomic add a counter update is built on, so the
 * figures can be read as a ratio on a noisy machine. */
static _Atomic uint64_t raw_shared;
static _Atomic uint64_t raw_own[64][8]; /* one cache line each */

typedef struct job {
  _Atomic uint64_t *raw;
  tw_counter_t *c;
  tw_histogram_t *h;
  long iters;
  int histogram; /* 0 counter, 1 histogram, 2 bare atomic */
  pthread_barrier_t *start;
  double ns;
} job;

/* Thread CPU time, not wall time: the build machines are shared and
 * oversubscribed, and time spent descheduled is not the update's cost. */
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *run(void *arg) {
  job *j = arg;
  if (j->start) pthread_barrier_wait(j->start);
  double t0 = now_ns();
  if (j->histogram == 2) {
    for (long i = 0; i < j->iters; i++)
      atomic_fetch_add_explicit(j->raw, 1, memory_order_relaxed);
  } else if (j->histogram) {
    /* Values walk the kernel buckets so the scan length varies. */
    for (long i = 0; i < j->iters; i++)
      tw_histogram_observe(j->h, (double)(i & 1023) * 1e-5);
  } else {
    for (long i = 0; i < j->iters; i++) tw_counter_add(j->c, 1);
  }
  j->ns = (now_ns() - t0) / (double)j->iters;
  return NULL;
}

/* Per-thread ns/op with `n` threads; `shared` puts them on one series. */
static double measure(const tw_metrics_std_t *m, int histogram, int n,
                      int shared, long iters) {
  job jobs[64];
  pthread_t t[64];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    char tenant[16];
    snprintf(tenant, sizeof tenant, "t%d", shared ? 0 : i);
    jobs[i] = (job){
        .raw = shared ? &raw_shared : &raw_own[i][0],
        .c = tw_metric_counter_with(m->invocations, tenant, "ok"),
        .h = tw_metric_histogram_with(m->jit_emit_text_seconds, tenant),
        .iters = iters, .histogram = histogram, .start = &start};
    pthread_create(&t[i], NULL, run, &jobs[i]);
  }
  double sum = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(t[i], NULL);
    sum += jobs[i].ns;
  }
  pthread_barrier_destroy(&start);
  return sum / n;
}

/* The metric updates of one warm invoke, as the code paths make them
 * (src/api/server.c, pool.c, invoke.c; src/exec/cache.c, pool.c,
 * instance.c).  Label lookups are repeated per request exactly where the
 * code repeats them; handles the code keeps (the tenant's active gauge)
 * are looked up once.  Returns ns per invoke. */
static double invoke_path(const tw_metrics_std_t *m, long iters) {
  static const char path[] = "/functions/3f2a9c1e-8d7b-4e21-9a55-0c6b7d8e9f10/invoke";
  tw_gauge_t *active = tw_metric_gauge_with(m->active_instances, "11");
  const int64_t mem = 65536;
  int64_t used = 0;
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    /* server.c: request start */
    const char *method = tw_metrics_method_label("POST");
    const char *route = tw_metrics_route_label("POST", path);
    tw_gauge_t *in_flight =
        tw_metric_gauge_with(m->http_requests_in_flight, route, method);
    tw_gauge_add(in_flight, 1);
    /* pool.c: permit taken */
    tw_gauge_set(m->backpressure_permits_used, ++used);
    tw_gauge_set(m->backpressure_permits_available, 64 - used);
    /* exec: cache hit, pool draw, spawn */
    tw_counter_inc(m->jit_cache_warm_hit);
    tw_counter_inc(m->jit_cache_verify_skipped);
    tw_gauge_sub(m->pool_warm_instances, 1);
    tw_counter_inc(m->pool_draws);
    tw_counter_inc(m->instance_spawns);
    tw_gauge_add(active, 1);
    tw_gauge_add(tw_metric_gauge_with(m->cpu_memory_bytes_per_tenant, "11"), mem);
    /* exec: terminate */
    tw_counter_inc(m->instance_terminations);
    tw_gauge_sub(active, 1);
    tw_gauge_sub(tw_metric_gauge_with(m->cpu_memory_bytes_per_tenant, "11"), mem);
    tw_gauge_add(m->pool_warm_instances, 1); /* the pool refills */
    /* invoke.c: outcome */
    char t[24];
    snprintf(t, sizeof t, "%llu", 11ull);
    tw_counter_inc(tw_metric_counter_with(m->invocations, t,
                                          tw_metrics_outcome_label(TW_OK, TW_TRAP_NONE)));
    /* pool.c: permit released */
    tw_gauge_set(m->backpressure_permits_used, --used);
    tw_gauge_set(m->backpressure_permits_available, 64 - used);
    /* server.c: completion */
    tw_counter_inc(tw_metric_counter_with(m->http_requests, route, method, "200"));
    tw_histogram_observe(tw_metric_histogram_with(m->http_request_duration_seconds,
                                                  route, method, "200"),
                         0.0004);
    tw_gauge_sub(in_flight, 1);
  }
  return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 5000000;
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  if (iters <= 0 || threads < 1 || threads > 64) {
    fprintf(stderr, "usage: metrics_bench [iterations] [threads 1..64]\n");
    return 2;
  }
  const tw_metrics_std_t *m = tw_metrics_std();
  printf("metrics_bench: %ld updates per thread, ns per update, best of 5\n",
         iters);
  printf("%-22s %10s %14s %14s\n", "op", "1 thread", "N shared", "N own");
  const char *names[] = {"counter add", "histogram observe",
                         "bare atomic add"};
  for (int h = 0; h < 3; h++) {
    double one = 1e30, shared = 1e30, own = 1e30;
    for (int rep = 0; rep < 5; rep++) {
      one = fmin(one, measure(m, h, 1, 1, iters));
      shared = fmin(shared, measure(m, h, threads, 1, iters));
      own = fmin(own, measure(m, h, threads, 0, iters));
    }
    printf("%-22s %10.2f %14.2f %14.2f   (N = %d)\n", names[h], one, shared,
           own, threads);
  }
  long inv_iters = iters / 10 > 0 ? iters / 10 : 1;
  double inv = 1e30;
  for (int rep = 0; rep < 5; rep++) inv = fmin(inv, invoke_path(m, inv_iters));
  printf("invoke hot path: %.1f ns of metric updates per invoke "
         "(21 updates, 6 label-set lookups, route match; %ld invokes, best of 5)\n",
         inv, inv_iters);
  return 0;
}
