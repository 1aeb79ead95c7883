/* ns per metrics update: counter add and histogram observe, on one thread
 * and on N threads hitting the same series (the worst case: one contended
 * cache line) and their own series (the usual case: a label set per
 * route or tenant).
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
  return 0;
}
