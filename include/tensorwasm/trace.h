/* TensorWasm tracing: spans, W3C trace context, filtered log output and
 * OTLP export.
 *
 * Model (stated once, here):
 *
 *  - The tracer is process-wide.  tw_trace_init installs it (filter, fmt
 *    output, optional OTLP exporter); tw_trace_shutdown flushes and removes
 *    it.  Before init and after shutdown every span is disabled and every
 *    event is dropped.  init and shutdown must not race with span or event
 *    calls on other threads (call them at process start and after workers
 *    are joined); everything else here is thread-safe.
 *
 *  - A span is a timed unit of work with a name, a target (the component:
 *    "tensor-wasm-exec", ...), a level, attributes, events and a status.
 *    tw_span_begin returns NULL when the filter disables (level, target);
 *    every other span call accepts NULL and does nothing, so a disabled
 *    span costs the caller one branch per call.
 *
 *  - Ownership: tw_span_begin* returns a span the caller owns until it
 *    passes it to tw_span_end, which takes it (it is freed or handed to the
 *    exporter; the pointer is dead afterwards).  A span is used by one
 *    thread at a time; it may be ended on another thread only after
 *    tw_span_exit on the thread that began it.
 *
 *  - Each thread has a current context.  Beginning a span makes it current
 *    on the calling thread, so spans begun inside it become its children;
 *    ending (or exiting) it restores the context that was current before.
 *    Spans must be ended in reverse order of beginning on one thread (a
 *    span ended out of order is unlinked so that nothing dangles).
 *
 *  - Work handed to another thread keeps its trace by value: capture
 *    tw_trace_ctx_current() (or tw_span_context()) on the submitting thread
 *    and tw_trace_ctx_attach() it on the worker around the job.
 *
 *  - Events (log lines) go to the fmt output and are recorded on the
 *    thread's current span when that span was begun on this thread.
 *
 * Targets compare with '-' and '_' treated as equal, so the filter
 * directive `tensor_wasm_exec=debug` covers target "tensor-wasm-exec"; a
 * directive also covers targets below it ("a" covers "a::b"). */
#ifndef TENSORWASM_TRACE_H
#define TENSORWASM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensorwasm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ordered by verbosity: a filter level L enables L and everything less
 * verbose (info enables info, warn, error). */
typedef enum tw_level {
  TW_LEVEL_TRACE = 0,
  TW_LEVEL_DEBUG = 1,
  TW_LEVEL_INFO = 2,
  TW_LEVEL_WARN = 3,
  TW_LEVEL_ERROR = 4
} tw_level;

const char *tw_level_name(tw_level level); /* "TRACE" ... "ERROR" */

/* OTLP status codes. */
typedef enum tw_span_status {
  TW_SPAN_STATUS_UNSET = 0,
  TW_SPAN_STATUS_OK = 1,
  TW_SPAN_STATUS_ERROR = 2
} tw_span_status;

/* OTLP span kinds; spans default to INTERNAL. */
typedef enum tw_span_kind {
  TW_SPAN_KIND_INTERNAL = 1,
  TW_SPAN_KIND_SERVER = 2,
  TW_SPAN_KIND_CLIENT = 3,
  TW_SPAN_KIND_PRODUCER = 4,
  TW_SPAN_KIND_CONSUMER = 5
} tw_span_kind;

#define TW_TRACE_FLAG_SAMPLED 0x01

/* A span context as a plain value.  Valid when neither id is all zero.
 * Only sampled spans are exported over OTLP (parent-based sampling: a root
 * is sampled, a child inherits its parent's flag). */
typedef struct tw_trace_ctx {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t flags; /* TW_TRACE_FLAG_SAMPLED or 0 */
} tw_trace_ctx;

typedef struct tw_span tw_span_t;

/* Called for each span as it ends, on the ending thread, after its end
 * time is set.  The span is borrowed for the call only.  Must be
 * thread-safe.  Meant for tests and in-process consumers. */
typedef void (*tw_span_sink_fn)(const tw_span_t *span, void *user);

/* ---- setup --------------------------------------------------------------- */

typedef struct tw_trace_config {
  /* Filter directives (`target=level,...,level`).  NULL: $TENSOR_WASM_LOG,
   * else default_filter.  Bad directives are reported once on stderr and
   * skipped. */
  const char *filter;
  const char *default_filter; /* NULL: "info" */
  bool fmt;                   /* write human-readable lines (default true) */
  bool fmt_span_close;        /* also a line when a span ends (default false) */
  FILE *fmt_out;              /* borrowed until shutdown; NULL: stderr */

  /* OTLP.  endpoint NULL: $TENSOR_WASM_OTLP_ENDPOINT, else
   * $OTEL_EXPORTER_OTLP_ENDPOINT, else no exporter.  "" means no exporter
   * even when the environment names one.  protocol NULL:
   * $OTEL_EXPORTER_OTLP_PROTOCOL, else "grpc"; "grpc" or "http/protobuf".
   * service_name NULL: $OTEL_SERVICE_NAME, else "tensor-wasm". */
  const char *otlp_endpoint;
  const char *otlp_protocol;
  const char *service_name;
  uint32_t queue_capacity;    /* spans waiting for export; 0: 2048 */
  uint32_t batch_size;        /* spans per request, flush trigger; 0: 512 */
  uint32_t flush_interval_ms; /* timed flush; 0: 1000 */
  uint32_t export_timeout_ms; /* one request, connect included; 0: 5000 */
  uint32_t max_retries;       /* after the first try, retryable errors only;
                                 0: 3; UINT32_MAX: none */
  uint32_t shutdown_timeout_ms; /* bound on the final flush; 0: 3000 */

  tw_span_sink_fn sink; /* optional; see tw_span_sink_fn */
  void *sink_user;
} tw_trace_config;

/* Fills `cfg` with the defaults above (all pointers NULL, fmt true). */
void tw_trace_config_default(tw_trace_config *cfg);

/* Installs the tracer.  `cfg` is read during the call only; NULL means
 * tw_trace_config_default.  Environment values that are malformed are
 * reported on stderr and ignored; a malformed explicit value (unknown
 * protocol, endpoint that is not a URL) is TW_ARG.  Calling it twice
 * without tw_trace_shutdown is TW_ARG.  Counters restart from zero. */
tw_status tw_trace_init(const tw_trace_config *cfg, tw_error *err);

/* Flushes the exporter (bounded by shutdown_timeout_ms), stops its thread
 * and removes the tracer.  Spans still open stay valid to end (they are
 * then dropped).  Safe to call when not initialised. */
void tw_trace_shutdown(void);

/* Counters since the last tw_trace_init; readable after shutdown. */
typedef struct tw_trace_stats {
  uint64_t spans_ended;        /* enabled spans that ended */
  uint64_t spans_queued;       /* handed to the exporter */
  uint64_t spans_exported;     /* acknowledged by the collector */
  uint64_t spans_dropped;      /* lost: queue_full + export_failed + shutdown */
  uint64_t dropped_queue_full; /* queue full when the span ended */
  uint64_t dropped_export_failed; /* request failed after its retries */
  uint64_t export_requests;    /* requests sent, retries included */
  uint64_t export_retries;
  uint64_t filter_errors;      /* bad directives skipped at init */
} tw_trace_stats;

void tw_trace_stats_get(tw_trace_stats *out);

/* True when (level, target) passes the filter.  Use it to skip costly
 * attribute work; tw_span_begin already checks. */
bool tw_trace_enabled(tw_level level, const char *target);

/* ---- spans --------------------------------------------------------------- */

/* Begins a child of the thread's current context (a root when there is
 * none) and makes it current.  name and target are copied.  Returns NULL
 * when disabled, when tracing is not initialised, or out of memory. */
tw_span_t *tw_span_begin(const char *name, const char *target,
                         tw_level level);

/* Same with an explicit parent (borrowed for the call): a valid parent
 * makes the span its child in the parent's trace; NULL or an invalid
 * context makes a fresh root.  The thread's current context is ignored.
 * When this returns NULL nothing becomes current; a caller that still
 * wants later spans to join `parent` attaches it (tw_trace_ctx_attach). */
tw_span_t *tw_span_begin_with_parent(const char *name, const char *target,
                                     tw_level level,
                                     const tw_trace_ctx *parent);

/* Attributes: key and value are copied.  Setting a key again replaces
 * its value.  A NULL string value records "unknown" (required attributes
 * are never dropped).  _strn takes a length and need not be terminated. */
void tw_span_attr_str(tw_span_t *span, const char *key, const char *value);
void tw_span_attr_strn(tw_span_t *span, const char *key, const char *value,
                       size_t len);
void tw_span_attr_int(tw_span_t *span, const char *key, int64_t value);
void tw_span_attr_bool(tw_span_t *span, const char *key, bool value);
void tw_span_attr_double(tw_span_t *span, const char *key, double value);

/* `message` is copied; NULL for none.  The last call wins. */
void tw_span_set_status(tw_span_t *span, tw_span_status status,
                        const char *message);
void tw_span_set_kind(tw_span_t *span, tw_span_kind kind);

/* Leaves the span open but no longer current on this thread: the context
 * that was current before it was begun comes back.  Use it before handing
 * the span to another thread to end.  No-op when not current here. */
void tw_span_exit(tw_span_t *span);

/* Sets the end time, restores the previous context if the span is current
 * on this thread, runs the sink, queues the span for export when sampled
 * and an exporter runs, and releases the span.  Takes ownership. */
void tw_span_end(tw_span_t *span);

/* The thread's current span when it was begun on this thread, else NULL
 * (for instance while a context from another thread is attached).
 * Borrowed: valid until that span ends. */
tw_span_t *tw_span_current(void);

/* The span's context; all zero for NULL. */
tw_trace_ctx tw_span_context(const tw_span_t *span);

/* ---- reading a span (in sinks and tests) ------------------------------- */

const char *tw_span_name(const tw_span_t *span);   /* borrowed */
const char *tw_span_target(const tw_span_t *span); /* borrowed */
tw_level tw_span_level(const tw_span_t *span);
/* False for a root; else writes the parent's span id. */
bool tw_span_parent_id(const tw_span_t *span, uint8_t out[8]);
/* Start and end as nanoseconds since the Unix epoch (end 0 while open). */
uint64_t tw_span_start_ns(const tw_span_t *span);
uint64_t tw_span_end_ns(const tw_span_t *span);
tw_span_status tw_span_get_status(const tw_span_t *span);
/* Writes the attribute's value as text (strings verbatim, integers in
 * decimal, "true"/"false", doubles with %.17g) into buf, truncated to cap
 * and terminated.  False when the key is absent. */
bool tw_span_attr_get(const tw_span_t *span, const char *key, char *buf,
                      size_t cap);
size_t tw_span_event_count(const tw_span_t *span);

/* ---- context ------------------------------------------------------------- */

/* Writes the thread's current context; false (and *out all zero) when
 * there is none. */
bool tw_trace_ctx_current(tw_trace_ctx *out);

bool tw_trace_ctx_is_valid(const tw_trace_ctx *ctx);

/* A fresh sampled root context with random ids (for callers that need a
 * trace id while tracing is disabled, e.g. the x-trace-id header). */
void tw_trace_ctx_new_root(tw_trace_ctx *out);

/* Saved thread state between attach and detach.  Contents are private. */
typedef struct tw_trace_scope {
  uint64_t opaque[6];
} tw_trace_scope;

/* Makes `ctx` (borrowed for the call; NULL or invalid: none) the thread's
 * current context until tw_trace_ctx_detach(scope).  Attach/detach pairs
 * nest and must not cross span begin/end pairs.  Works whether or not
 * tracing is initialised. */
void tw_trace_ctx_attach(const tw_trace_ctx *ctx, tw_trace_scope *scope);
void tw_trace_ctx_detach(const tw_trace_scope *scope);

/* ---- W3C traceparent ------------------------------------------------------ */

#define TW_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* Parses a `traceparent` header value (Trace Context level 1; leading and
 * trailing spaces and tabs ignored).  Version 00 must be exactly 55
 * characters of lowercase hex and dashes; a higher version (not ff) is
 * read by its version-00 prefix, which must be followed by the end or a
 * '-'.  Ids must not be all zero.  Only the sampled flag is kept.  False
 * (and *out all zero) when malformed: the caller starts a fresh root. */
bool tw_traceparent_parse(const char *str, size_t len, tw_trace_ctx *out);

/* Writes "00-<trace id>-<span id>-<flags>" and a NUL into out; false (and
 * "" in out) when ctx is not valid. */
bool tw_traceparent_format(const tw_trace_ctx *ctx,
                           char out[TW_TRACEPARENT_LEN + 1]);

/* Lowercase hex of the ids, NUL-terminated. */
void tw_trace_id_hex(const tw_trace_ctx *ctx, char out[33]);
void tw_span_id_hex(const tw_trace_ctx *ctx, char out[17]);

/* ---- events -------------------------------------------------------------- */

/* A log line at (level, target), printf-formatted only when enabled. */
void tw_event(tw_level level, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
