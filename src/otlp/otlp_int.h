/* OTLP exporter internals: protobuf writer, ExportTraceServiceRequest
 * encoder, transports (gRPC over HTTP/2, http/protobuf) and the batch
 * processor thread.  Nothing here is public: tw_trace_init (trace_init.c)
 * assembles the pipeline from these parts. */
#ifndef TW_OTLP_INT_H
#define TW_OTLP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/trace_int.h"

/* ---- protobuf writer ------------------------------------------------------ */

enum { TW__PB_MAX_DEPTH = 8 };

/* A growable buffer.  Nested messages are written in place: begin()
 * remembers where the body starts, end() inserts the body's length in
 * front of it.  Once an allocation fails, `oom` sticks and writes stop. */
typedef struct tw__pb {
  uint8_t *buf;
  size_t len, cap;
  bool oom;
  int depth;
  size_t starts[TW__PB_MAX_DEPTH];
} tw__pb;

void tw__pb_init(tw__pb *pb);
void tw__pb_free(tw__pb *pb);
void tw__pb_varint_field(tw__pb *pb, uint32_t field, uint64_t v);
void tw__pb_fixed64_field(tw__pb *pb, uint32_t field, uint64_t v);
void tw__pb_fixed32_field(tw__pb *pb, uint32_t field, uint32_t v);
void tw__pb_bytes_field(tw__pb *pb, uint32_t field, const void *p, size_t n);
void tw__pb_string_field(tw__pb *pb, uint32_t field, const char *s);
void tw__pb_begin(tw__pb *pb, uint32_t field);
void tw__pb_end(tw__pb *pb);
/* Appends raw bytes (the gRPC frame header). */
void tw__pb_raw(tw__pb *pb, const void *p, size_t n);

/* ---- encoder -------------------------------------------------------------- */

/* Appends an ExportTraceServiceRequest holding `spans` (ended, borrowed)
 * under one resource with service.name.  Spans are grouped into one
 * ScopeSpans per target (the scope name).  False on OOM. */
bool tw__otlp_encode(tw__pb *pb, const char *service_name,
                     tw_span_t *const *spans, size_t n);

/* ---- transport ------------------------------------------------------------ */

typedef enum tw__otlp_protocol {
  TW__OTLP_GRPC,
  TW__OTLP_HTTP_PROTOBUF
} tw__otlp_protocol;

typedef enum tw__send_result {
  TW__SEND_OK,
  TW__SEND_RETRY, /* retryable: connection failure, UNAVAILABLE, 503, ... */
  TW__SEND_FAIL   /* permanent for this batch */
} tw__send_result;

typedef struct tw__otlp_transport tw__otlp_transport;

/* `url` is the full request URL (copied).  NULL on OOM or when libcurl
 * cannot start. */
tw__otlp_transport *tw__otlp_transport_new(const char *url,
                                           tw__otlp_protocol protocol,
                                           uint32_t timeout_ms);
void tw__otlp_transport_free(tw__otlp_transport *t);

/* Sends one encoded request (`body` borrowed; framed here for gRPC).  The
 * transfer is abandoned once the monotonic clock passes abort_at_ns
 * (0: no bound besides the timeout).  On failure `why` says why. */
tw__send_result tw__otlp_send(tw__otlp_transport *t, const uint8_t *body,
                              size_t len, uint64_t abort_at_ns, char *why,
                              size_t why_cap);

/* Classifications, exposed for unit tests. */
tw__send_result tw__otlp_classify_grpc(long grpc_status);
tw__send_result tw__otlp_classify_http(long http_status);

/* ---- exporter ------------------------------------------------------------- */

typedef struct tw__otlp_options {
  const char *url; /* full request URL */
  tw__otlp_protocol protocol;
  const char *service_name;
  uint32_t queue_capacity, batch_size, flush_interval_ms, export_timeout_ms,
      max_retries, shutdown_timeout_ms;
} tw__otlp_options;

typedef struct tw__otlp_exporter tw__otlp_exporter;

/* Starts the batch thread.  Strings in `opt` are copied. */
tw_status tw__otlp_exporter_start(const tw__otlp_options *opt,
                                  tw__otlp_exporter **out, tw_error *err);
/* The processor hook: queues `span` (taking it) or drops it when full. */
void tw__otlp_exporter_on_end(void *self, tw_span_t *span);
/* Flushes what is queued (bounded by shutdown_timeout_ms), joins the
 * thread and frees everything. */
void tw__otlp_exporter_stop(tw__otlp_exporter *e);

uint64_t tw__monotonic_ns(void);

#endif
