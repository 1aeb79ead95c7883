/* Metrics under concurrency: four threads update shared series, create the
 * same label sets at once and make new ones, while another thread renders
 * without pause.  Totals must be exact.  Run this one under ThreadSanitizer
 * too.
 *
 * Each phase runs for a fixed wall time rather than a fixed count, and each
 * thread counts what it did: on a loaded two-core machine a fixed count let
 * the first thread finish before the last was scheduled, and a broken
 * (non-atomic) counter then passed.  With timed phases the threads overlap
 * for most of the phase whatever the machine's speed. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "test.h"
#include "tensorwasm/metrics.h"

#define THREADS 4
#define PHASE_NS 150000000L /* 150 ms per phase */
#define KEYS 64

typedef struct shared {
  tw_metric_family_t *counters, *gauges, *hists;
  _Atomic int arrived[3];
  _Atomic int bad, done;
} shared;

typedef struct worker_arg {
  shared *s;
  uint64_t counted, gauged, halves, twos, made;
} worker_arg;

static long elapsed_ns(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* Spinning barrier: threads leave it running, not waking one by one. */
static void start_together(shared *s, int phase, struct timespec *t0) {
  atomic_fetch_add(&s->arrived[phase], 1);
  while (atomic_load(&s->arrived[phase]) < THREADS) sched_yield();
  clock_gettime(CLOCK_MONOTONIC, t0);
}

/* Loop body runs until the phase's time is up (checked every 256). */
#define TIMED_LOOP(i, t0) \
  for (uint64_t i = 0; (i & 255) || elapsed_ns(&t0) < PHASE_NS; i++)

static void *worker(void *p) {
  worker_arg *w = p;
  shared *s = w->s;
  struct timespec t0;
  start_together(s, 0, &t0);
  /* All threads race to create the same label sets. */
  tw_counter_t *c = tw_metric_counter_with(s->counters, "shared");
  tw_gauge_t *g = tw_metric_gauge_with(s->gauges, "shared");
  tw_histogram_t *h = tw_metric_histogram_with(s->hists, "shared");
  if (!c || !g || !h) atomic_store(&s->bad, 1);
  TIMED_LOOP(i, t0) {
    tw_counter_inc(c);
    w->counted++;
  }
  start_together(s, 1, &t0);
  TIMED_LOOP(i, t0) {
    tw_gauge_add(g, 2);
    tw_gauge_sub(g, 1);
    w->gauged++;
  }
  start_together(s, 2, &t0);
  TIMED_LOOP(i, t0) {
    if (i & 1) {
      tw_histogram_observe(h, 0.5); /* exact in binary, so sums are exact */
      w->halves++;
    } else {
      tw_histogram_observe(h, 2.0);
      w->twos++;
    }
    if ((i & 1023) == 0) { /* series made while others update and render */
      char key[16];
      snprintf(key, sizeof key, "k%d", (int)((i >> 10) % KEYS));
      tw_counter_inc(tw_metric_counter_with(s->counters, key));
      w->made++;
    }
  }
  return NULL;
}

static void *scraper(void *p) {
  shared *s = p;
  while (!atomic_load(&s->done)) {
    tw_metric_buf b = {0};
    if (tw_metric_registry_render(tw_metric_registry_default(), &b, NULL) !=
        TW_OK)
      atomic_store(&s->bad, 1);
    tw_metric_buf_free(&b);
  }
  return NULL;
}

TEST(four_threads_sum_exactly) {
  tw_metric_registry_t *reg = tw_metric_registry_default();
  static const double bounds[] = {1};
  shared s = {0};
  tw_metric_desc dc = {TW_METRIC_COUNTER, "t_hits", "Hits.",
                       (const char *const[]){"k", NULL}, NULL, 0};
  tw_metric_desc dg = {TW_METRIC_GAUGE, "t_level", "Level.",
                       (const char *const[]){"k", NULL}, NULL, 0};
  tw_metric_desc dh = {TW_METRIC_HISTOGRAM, "t_obs", "Obs.",
                       (const char *const[]){"k", NULL}, bounds, 1};
  ASSERT_EQ_INT(tw_metric_register(reg, &dc, &s.counters, NULL), TW_OK);
  ASSERT_EQ_INT(tw_metric_register(reg, &dg, &s.gauges, NULL), TW_OK);
  ASSERT_EQ_INT(tw_metric_register(reg, &dh, &s.hists, NULL), TW_OK);

  worker_arg w[THREADS] = {{0}};
  pthread_t t[THREADS + 1];
  ASSERT_EQ_INT(pthread_create(&t[THREADS], NULL, scraper, &s), 0);
  for (int i = 0; i < THREADS; i++) {
    w[i].s = &s;
    ASSERT_EQ_INT(pthread_create(&t[i], NULL, worker, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  atomic_store(&s.done, 1);
  pthread_join(t[THREADS], NULL);
  ASSERT(!atomic_load(&s.bad));

  uint64_t counted = 0, gauged = 0, halves = 0, twos = 0, made = 0;
  for (int i = 0; i < THREADS; i++) {
    counted += w[i].counted;
    gauged += w[i].gauged;
    halves += w[i].halves;
    twos += w[i].twos;
    made += w[i].made;
  }
  printf("  %llu counter adds, %llu gauge pairs, %llu observations\n",
         (unsigned long long)counted, (unsigned long long)gauged,
         (unsigned long long)(halves + twos));
  ASSERT_EQ_U64(tw_counter_value(tw_metric_counter_with(s.counters, "shared")),
                counted);
  ASSERT_EQ_INT(tw_gauge_value(tw_metric_gauge_with(s.gauges, "shared")),
                (int64_t)gauged);
  tw_histogram_t *h = tw_metric_histogram_with(s.hists, "shared");
  ASSERT_EQ_U64(tw_histogram_count(h), halves + twos);
  ASSERT(tw_histogram_sum(h) == (double)halves * 0.5 + (double)twos * 2.0);
  uint64_t keyed = 0;
  for (int k = 0; k < KEYS; k++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    keyed += tw_counter_value(tw_metric_counter_with(s.counters, key));
  }
  ASSERT_EQ_U64(keyed, made);

  /* The rendered text agrees: 0.5s fall in le="1", everything in +Inf. */
  tw_metric_buf b = {0};
  ASSERT_EQ_INT(tw_metric_registry_render(reg, &b, NULL), TW_OK);
  char want[128];
  snprintf(want, sizeof want, "t_obs_bucket{k=\"shared\",le=\"1\"} %llu\n",
           (unsigned long long)halves);
  ASSERT_CONTAINS(b.data, want);
  snprintf(want, sizeof want, "t_obs_count{k=\"shared\"} %llu\n",
           (unsigned long long)(halves + twos));
  ASSERT_CONTAINS(b.data, want);
  tw_metric_buf_free(&b);
}

TEST_MAIN()
