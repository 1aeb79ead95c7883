/* Internals of the metrics registry, shared by metrics.c (registry,
 * series, updates), metrics_render.c (exposition) and metrics_catalog.c.
 *
 * Invariants:
 *  - Families and series are only ever added, never removed, until the
 *    registry is freed.  That is what lets a lookup walk a hash chain
 *    without a lock: a series is fully built before the release store that
 *    publishes it at the head of its chain, and its `hash_next` and label
 *    values never change afterwards.
 *  - Everything else that changes shape (the family list, each family's
 *    sorted series list, a gauge's callback) changes under `reg->lock`, and
 *    rendering holds that lock, so a scrape sees a consistent shape.
 *  - Each series' atomics start on their own 64-byte line, so threads
 *    updating different series do not share cache lines. */
#ifndef TW_METRICS_INT_H
#define TW_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/metrics.h"

/* Declared (for the wasm module) in wasm/wasm_int.h and defined in
 * core/error.c; repeated here so that core does not include a header of a
 * module above it. */
tw_status tw__error_set(tw_error *err, tw_status status, size_t offset,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define TW__METRIC_CHAINS 64 /* hash chains per family (power of two) */
#define TW__CACHE_LINE 64

struct tw_counter {
  _Atomic uint64_t value;
};

struct tw_gauge {
  _Atomic int64_t value;
  /* Cold: read by the renderer under reg->lock. */
  tw_metric_gauge_fn fn;
  void *ctx;
  tw_metric_registry_t *reg;
};

/* counts[i] counts observations in (bounds[i-1], bounds[i]]; the last slot,
 * counts[nbounds], is the +Inf bucket.  Counts are per bucket (not
 * cumulative) so an observation touches one; the renderer accumulates.
 * The sum is a double kept as its bit pattern and updated by a relaxed
 * compare-and-swap loop, which retries only when two threads hit the same
 * series at once.  Fixed point would be one fetch-add, but it needs a scale
 * and a range per family, and seconds, bytes and counts share this code.
 * Measured (bench/metrics_bench.c, 2-core build VM): observe 16 ns, counter
 * add 9.5 ns, a bare atomic add 6.2 ns, single thread. */
struct tw_histogram {
  const double *bounds; /* the family's, immutable */
  size_t nbounds;
  _Atomic uint64_t sum_bits;
  _Atomic uint64_t counts[]; /* nbounds + 1 */
};

/* One series: a label set and its metric, in one 64-aligned allocation:
 *   [tw__series][pad to 64][metric][values[nlabels]][value strings]  */
typedef struct tw__series {
  struct tw__series *hash_next;   /* immutable once published */
  struct tw__series *sorted_next; /* under reg->lock */
  uint64_t hash;
  const char **values;            /* nlabels strings, in the tail */
  void *metric;                   /* tw_counter / tw_gauge / tw_histogram */
} tw__series;

struct tw_metric_family {
  tw_metric_registry_t *reg;
  tw_metric_type type;
  char *name; /* exposed name (counters end in _total) */
  char *help;
  size_t nlabels;
  char *labels[TW_METRIC_LABELS_MAX];
  size_t nbounds;
  double *bounds;
  char (*le)[32];              /* bounds formatted for the `le` label */
  _Atomic(tw__series *) chains[TW__METRIC_CHAINS];
  tw__series *sorted;          /* by label values; under reg->lock */
  struct tw_metric_family *next; /* by name; under reg->lock */
};

struct tw_metric_registry {
  pthread_mutex_t lock;
  tw_metric_family_t *families; /* sorted by name */
  int is_default;
};

/* Formats v the way Prometheus parses it back exactly: the shortest %g
 * that round-trips, "+Inf", "-Inf", "NaN".  Returns buf. */
char *tw__metric_format_double(char buf[32], double v);

/* Test hook: the nth allocation the metrics code makes from now on
 * (0 = the next one) fails; a negative n turns failures off.  Proves the
 * out-of-memory paths; not for production use. */
void tw__metrics_fail_alloc(long n);

/* Allocation used by all metrics files (honours the test hook).  Memory
 * from either is released with free(). */
void *tw__metrics_alloc(size_t align, size_t size);
void *tw__metrics_realloc(void *p, size_t size);

#endif
