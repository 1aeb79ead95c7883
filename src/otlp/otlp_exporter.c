/* The batch span processor: a bounded ring of ended spans and one thread
 * that sends them to the collector.
 *
 * Invariants:
 *  - The caller's side (on_end) holds the lock only to push one pointer;
 *    when the ring is full the span is freed and counted, never waited
 *    for.  The thread never holds the lock during encoding or network I/O.
 *  - The thread flushes when the ring holds batch_size spans or when
 *    flush_interval_ms has passed since the last flush, whichever first.
 *  - Every span taken out of the ring is counted exactly once: exported,
 *    or dropped (export failed after retries, or shutdown deadline).
 *  - Stop flushes what is queued, but no request or backoff outlives the
 *    shutdown deadline: a dead or slow collector costs spans, not time. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "otlp/otlp_int.h"
#include "tensorwasm/metrics.h"

struct tw__otlp_exporter {
  tw__otlp_options opt; /* strings owned */
  tw__otlp_transport *transport;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake; /* monotonic clock */
  tw_span_t **ring;
  uint32_t head, count;
  bool stopping;
  uint64_t stop_deadline_ns;
  bool failing; /* last export failed: report recovery once */
};

static void deadline_to_ts(uint64_t ns, struct timespec *ts) {
  ts->tv_sec = (time_t)(ns / 1000000000ull);
  ts->tv_nsec = (long)(ns % 1000000000ull);
}

void tw__otlp_exporter_on_end(void *self, tw_span_t *span) {
  tw__otlp_exporter *e = self;
  bool full, wake;
  pthread_mutex_lock(&e->lock);
  full = e->count == e->opt.queue_capacity || e->stopping;
  if (!full) {
    e->ring[(e->head + e->count) % e->opt.queue_capacity] = span;
    e->count++;
  }
  wake = e->count >= e->opt.batch_size;
  pthread_mutex_unlock(&e->lock);
  if (full) {
    tw__stat_add(&tw__trace_stats.dropped_queue_full, 1);
    tw_counter_inc(tw_metric_counter_with(tw_metrics_std()->otlp_spans_dropped,
                                          "queue_full"));
    tw__stat_add(&tw__trace_stats.spans_dropped, 1);
    tw__span_free(span);
    return;
  }
  tw__stat_add(&tw__trace_stats.spans_queued, 1);
  if (wake) pthread_cond_signal(&e->wake);
}

/* Sleeps until `until_ns` (monotonic) or a stop request.  Lock held. */
static void wait_until(tw__otlp_exporter *e, uint64_t until_ns) {
  struct timespec ts;
  deadline_to_ts(until_ns, &ts);
  while (!e->stopping && tw__monotonic_ns() < until_ns)
    if (pthread_cond_timedwait(&e->wake, &e->lock, &ts) == ETIMEDOUT) break;
}

static uint64_t backoff_ns(uint32_t attempt) {
  uint64_t base = 100000000ull << (attempt < 5 ? attempt : 5); /* 100ms.. */
  uint8_t r;
  if (base > 2000000000ull) base = 2000000000ull;
  tw__trace_random(&r, 1);
  return base / 2 + base / 2 * r / 255; /* jitter: 50%..100% */
}

static void report(tw__otlp_exporter *e, const char *why, size_t n) {
  fprintf(stderr,
          "tensor-wasm: OTLP export to %s failed (%s); dropped %zu spans\n",
          e->opt.url, why, n);
}

/* Sends one batch with retries.  Called without the lock. */
static void export_batch(tw__otlp_exporter *e, tw_span_t **spans, size_t n) {
  tw__pb pb;
  char why[192];
  tw__send_result r = TW__SEND_FAIL;
  uint32_t attempt = 0;

  tw__pb_init(&pb);
  if (!tw__otlp_encode(&pb, e->opt.service_name, spans, n)) {
    snprintf(why, sizeof why, "out of memory while encoding");
    goto done;
  }
  for (;;) {
    uint64_t abort_at;
    pthread_mutex_lock(&e->lock);
    abort_at = e->stopping ? e->stop_deadline_ns : 0;
    pthread_mutex_unlock(&e->lock);
    if (abort_at && tw__monotonic_ns() >= abort_at) {
      snprintf(why, sizeof why, "shutdown deadline passed");
      r = TW__SEND_FAIL;
      break;
    }
    tw__stat_add(&tw__trace_stats.export_requests, 1);
    r = tw__otlp_send(e->transport, pb.buf, pb.len, abort_at, why, sizeof why);
    if (r != TW__SEND_RETRY || attempt >= e->opt.max_retries) break;
    tw__stat_add(&tw__trace_stats.export_retries, 1);
    pthread_mutex_lock(&e->lock);
    uint64_t until = tw__monotonic_ns() + backoff_ns(attempt++);
    if (e->stopping && until > e->stop_deadline_ns) until = e->stop_deadline_ns;
    wait_until(e, until);
    pthread_mutex_unlock(&e->lock);
  }

done:
  if (r == TW__SEND_OK) {
    tw__stat_add(&tw__trace_stats.spans_exported, n);
    tw_counter_add(tw_metrics_std()->otlp_spans_exported, n);
    if (e->failing)
      fprintf(stderr, "tensor-wasm: OTLP export to %s recovered\n",
              e->opt.url);
    e->failing = false;
  } else {
    tw__stat_add(&tw__trace_stats.dropped_export_failed, n);
    tw_counter_add(tw_metric_counter_with(tw_metrics_std()->otlp_spans_dropped,
                                          "export_failed"),
                   n);
    tw__stat_add(&tw__trace_stats.spans_dropped, n);
    if (!e->failing) report(e, why, n);
    e->failing = true;
  }
  tw__pb_free(&pb);
  for (size_t i = 0; i < n; i++) tw__span_free(spans[i]);
}

static void *run(void *arg) {
  tw__otlp_exporter *e = arg;
  tw_span_t **batch = malloc(e->opt.batch_size * sizeof *batch);
  uint64_t interval = (uint64_t)e->opt.flush_interval_ms * 1000000ull;
  uint64_t next_flush = tw__monotonic_ns() + interval;

  pthread_mutex_lock(&e->lock);
  for (;;) {
    struct timespec ts;
    size_t n = 0;
    deadline_to_ts(next_flush, &ts);
    while (!e->stopping && e->count < e->opt.batch_size &&
           tw__monotonic_ns() < next_flush)
      pthread_cond_timedwait(&e->wake, &e->lock, &ts);
    if (e->count == 0) {
      if (e->stopping) break;
      next_flush = tw__monotonic_ns() + interval;
      continue;
    }
    if (!batch) { /* no memory for a batch: export one span at a time */
      tw_span_t *one = e->ring[e->head];
      e->head = (e->head + 1) % e->opt.queue_capacity;
      e->count--;
      pthread_mutex_unlock(&e->lock);
      export_batch(e, &one, 1);
      pthread_mutex_lock(&e->lock);
      continue;
    }
    while (n < e->opt.batch_size && e->count > 0) {
      batch[n++] = e->ring[e->head];
      e->head = (e->head + 1) % e->opt.queue_capacity;
      e->count--;
    }
    pthread_mutex_unlock(&e->lock);
    export_batch(e, batch, n);
    pthread_mutex_lock(&e->lock);
    next_flush = tw__monotonic_ns() + interval;
  }
  pthread_mutex_unlock(&e->lock);
  free(batch);
  return NULL;
}

static void options_free(tw__otlp_options *o) {
  free((char *)o->url);
  free((char *)o->service_name);
}

static void exporter_free(tw__otlp_exporter *e) {
  tw__otlp_transport_free(e->transport);
  options_free(&e->opt);
  free(e->ring);
  free(e);
}

tw_status tw__otlp_exporter_start(const tw__otlp_options *opt,
                                  tw__otlp_exporter **out, tw_error *err) {
  tw__otlp_exporter *e = calloc(1, sizeof *e);
  pthread_condattr_t ca;
  bool curl_up = false;
  tw_status st = TW_NOMEM;
  const char *why = "out of memory";
  *out = NULL;
  if (!e) goto fail;
  e->opt = *opt;
  e->opt.url = strdup(opt->url);
  e->opt.service_name = strdup(opt->service_name);
  e->ring = calloc(opt->queue_capacity, sizeof *e->ring);
  if (!e->opt.url || !e->opt.service_name || !e->ring) goto fail;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    st = TW_IO;
    why = "libcurl failed to start";
    goto fail;
  }
  curl_up = true;
  e->transport = tw__otlp_transport_new(opt->url, opt->protocol,
                                        opt->export_timeout_ms);
  if (!e->transport) goto fail;

  pthread_mutex_init(&e->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&e->thread, NULL, run, e) != 0) {
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    why = "cannot start the OTLP export thread";
    goto fail;
  }
  *out = e;
  return TW_OK;

fail:
  if (e) exporter_free(e);
  if (curl_up) curl_global_cleanup();
  return tw__error_set(err, st, SIZE_MAX, "%s", why);
}

void tw__otlp_exporter_stop(tw__otlp_exporter *e) {
  if (!e) return;
  pthread_mutex_lock(&e->lock);
  e->stopping = true;
  e->stop_deadline_ns =
      tw__monotonic_ns() + (uint64_t)e->opt.shutdown_timeout_ms * 1000000ull;
  pthread_cond_broadcast(&e->wake);
  pthread_mutex_unlock(&e->lock);
  pthread_join(e->thread, NULL);
  pthread_cond_destroy(&e->wake);
  pthread_mutex_destroy(&e->lock);
  exporter_free(e);
  curl_global_cleanup();
}
