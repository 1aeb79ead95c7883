/* Tracing internals shared by src/core/trace*.c and src/otlp.
 *
 * Layering: core knows nothing of OTLP.  It runs spans, the filter and
 * the fmt output, and hands each ended, sampled span to one installed
 * span processor.  src/otlp builds the pipeline (tw_trace_init lives
 * there) and installs its batch exporter as that processor.
 *
 * Invariants:
 *  - An ended span is immutable.  Whoever holds it (the processor, then
 *    its export batch) frees it with tw__span_free exactly once.
 *  - Everything a span points to (name, target, keys, string values,
 *    events) lives in the span's own arena and dies with it. */
#ifndef TW_CORE_TRACE_INT_H
#define TW_CORE_TRACE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensorwasm/trace.h"

/* ---- span layout ---------------------------------------------------------- */

typedef enum tw__attr_kind {
  TW__ATTR_STR,
  TW__ATTR_INT,
  TW__ATTR_BOOL,
  TW__ATTR_DOUBLE
} tw__attr_kind;

typedef struct tw__attr {
  const char *key;
  tw__attr_kind kind;
  union {
    struct {
      const char *ptr; /* terminated; len excludes the NUL */
      size_t len;
    } s;
    int64_t i;
    bool b;
    double d;
  } v;
} tw__attr;

typedef struct tw__event {
  uint64_t time_ns;
  tw_level level;
  const char *target;
  const char *message;
} tw__event;

typedef struct tw__chunk tw__chunk;
typedef struct tw__tls tw__tls;

enum { TW__SPAN_INLINE_ATTRS = 8, TW__SPAN_INLINE_ARENA = 320 };

struct tw_span {
  tw_trace_ctx ctx;
  uint8_t parent_id[8];
  bool has_parent;
  tw_level level;
  tw_span_kind kind;
  tw_span_status status;
  const char *status_message; /* NULL: none */
  const char *name;
  const char *target;
  uint64_t start_ns, end_ns;

  tw__attr *attrs; /* inline_attrs until it outgrows them */
  uint32_t nattrs, attr_cap;
  tw__event *events;
  uint32_t nevents, event_cap;

  /* Thread linkage while current ("entered") on a thread: owner is that
   * thread's state, prev_* is what was current before. */
  tw__tls *owner;
  tw_span_t *prev_span;
  tw_trace_ctx prev_ctx;

  /* Bump arena: inline block first, then malloc'd chunks. */
  char *arena_pos;
  size_t arena_left;
  tw__chunk *chunks;
  tw__attr inline_attrs[TW__SPAN_INLINE_ATTRS];
  char inline_arena[TW__SPAN_INLINE_ARENA];
};

void tw__span_free(tw_span_t *span);

/* ---- processor ------------------------------------------------------------ */

/* on_end takes ownership of an ended, sampled span; it must not block. */
typedef struct tw__span_processor {
  void (*on_end)(void *self, tw_span_t *span);
  void *self;
} tw__span_processor;

/* What tw__trace_install needs; pointers are borrowed for the call except
 * fmt_out and the processor, which are borrowed until tw__trace_uninstall. */
typedef struct tw__trace_setup {
  const char *filter;         /* directives; never NULL */
  const char *filter_origin;  /* for diagnostics: "TENSOR_WASM_LOG" */
  bool fmt, fmt_span_close;
  FILE *fmt_out;
  tw_span_sink_fn sink;
  void *sink_user;
  tw__span_processor processor; /* on_end NULL: none */
} tw__trace_setup;

/* Installs filter, fmt output, sink and processor.  TW_ARG when already
 * installed.  Resets the counters. */
tw_status tw__trace_install(const tw__trace_setup *setup, tw_error *err);
/* Removes them; spans that end afterwards are freed, not processed. */
void tw__trace_uninstall(void);
bool tw__trace_installed(void);

/* Counters, shared with the exporter. */
typedef struct tw__trace_counters {
  _Atomic uint64_t spans_ended, spans_queued, spans_exported, spans_dropped,
      dropped_queue_full, dropped_export_failed, export_requests,
      export_retries, filter_errors;
} tw__trace_counters;
extern tw__trace_counters tw__trace_stats;

static inline void tw__stat_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Defined in core/error.c (the engine declares it in wasm/wasm_int.h). */
tw_status tw__error_set(tw_error *err, tw_status status, size_t offset,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- ids ------------------------------------------------------------------ */

/* Fills buf with random bytes from a per-thread generator seeded from the
 * kernel without blocking; reseeded after fork. */
void tw__trace_random(uint8_t *buf, size_t len);
/* Nanoseconds since the Unix epoch. */
uint64_t tw__trace_now_ns(void);

/* ---- filter --------------------------------------------------------------- */

/* Level threshold: a (level, target) is enabled when level >= threshold.
 * TW__LEVEL_OFF disables everything. */
enum { TW__LEVEL_OFF = 5 };

typedef struct tw__filter tw__filter;

/* Parses `spec`.  Bad directives are skipped; each is reported through
 * report(user, directive, len, reason) when report is non-NULL.  Returns
 * NULL only when out of memory.  *bad counts the skipped directives. */
typedef void (*tw__filter_report_fn)(void *user, const char *directive,
                                     size_t len, const char *reason);
tw__filter *tw__filter_parse(const char *spec, tw__filter_report_fn report,
                             void *user, unsigned *bad);
void tw__filter_free(tw__filter *f);
/* Threshold for `target` (longest matching directive, else the default). */
int tw__filter_threshold(const tw__filter *f, const char *target);
bool tw__filter_enabled(const tw__filter *f, tw_level level,
                        const char *target);
/* The lowest threshold of any directive: nothing below it is enabled. */
int tw__filter_min_threshold(const tw__filter *f);
/* Parses "info", "WARN", "off", ...; -1 when unknown. */
int tw__level_parse(const char *s, size_t len);

/* ---- fmt output ----------------------------------------------------------- */

/* Writes one event line.  `current` is the thread's current span (may be
 * NULL); its prev_span chain gives the span path. */
void tw__fmt_event(FILE *out, uint64_t time_ns, tw_level level,
                   const char *target, const tw_span_t *current,
                   const char *message);
/* Writes the close line of `span` (ended; current gives the path above
 * it, may be NULL). */
void tw__fmt_span_close(FILE *out, const tw_span_t *span,
                        const tw_span_t *parent_chain);
/* Formats one attribute value as text into buf (terminated). */
void tw__attr_format(const tw__attr *a, char *buf, size_t cap);

#endif
