/* Protobuf encoding of OTLP trace export requests, by hand.
 *
 * Field numbers follow opentelemetry-proto (collector/trace/v1
 * trace_service.proto, trace/v1 trace.proto, common/v1 common.proto,
 * resource/v1 resource.proto):
 *
 *   ExportTraceServiceRequest  resource_spans=1
 *   ResourceSpans              resource=1 scope_spans=2
 *   Resource                   attributes=1
 *   ScopeSpans                 scope=1 spans=2
 *   InstrumentationScope       name=1
 *   Span   trace_id=1 span_id=2 parent_span_id=4 name=5 kind=6
 *          start_time_unix_nano=7 (fixed64) end_time_unix_nano=8 (fixed64)
 *          attributes=9 events=11 status=15 flags=16 (fixed32)
 *   Span.Event  time_unix_nano=1 (fixed64) name=2 attributes=3
 *   Status      message=2 code=3
 *   KeyValue    key=1 value=2
 *   AnyValue    string_value=1 bool_value=2 int_value=3 double_value=4
 *
 * The writer emits each nested message in place and, at its end, moves
 * the body up to insert its minimal varint length: one memmove per
 * message, no size pre-pass. */
#include <stdlib.h>
#include <string.h>

#include "otlp/otlp_int.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

void tw__pb_init(tw__pb *pb) { memset(pb, 0, sizeof *pb); }

void tw__pb_free(tw__pb *pb) {
  free(pb->buf);
  tw__pb_init(pb);
}

static bool reserve(tw__pb *pb, size_t extra) {
  size_t ncap;
  uint8_t *nbuf;
  if (pb->oom) return false;
  if (pb->len + extra <= pb->cap) return true;
  ncap = pb->cap ? pb->cap : 1024;
  while (ncap < pb->len + extra) ncap *= 2;
  nbuf = realloc(pb->buf, ncap);
  if (!nbuf) {
    pb->oom = true;
    return false;
  }
  pb->buf = nbuf;
  pb->cap = ncap;
  return true;
}

void tw__pb_raw(tw__pb *pb, const void *p, size_t n) {
  if (!reserve(pb, n)) return;
  if (n) memcpy(pb->buf + pb->len, p, n);
  pb->len += n;
}

static size_t varint_encode(uint64_t v, uint8_t out[10]) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

static void varint(tw__pb *pb, uint64_t v) {
  uint8_t tmp[10];
  tw__pb_raw(pb, tmp, varint_encode(v, tmp));
}

static void tag(tw__pb *pb, uint32_t field, int wt) {
  varint(pb, (uint64_t)field << 3 | (uint64_t)wt);
}

void tw__pb_varint_field(tw__pb *pb, uint32_t field, uint64_t v) {
  tag(pb, field, WT_VARINT);
  varint(pb, v);
}

void tw__pb_fixed64_field(tw__pb *pb, uint32_t field, uint64_t v) {
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
  tag(pb, field, WT_I64);
  tw__pb_raw(pb, le, 8);
}

void tw__pb_fixed32_field(tw__pb *pb, uint32_t field, uint32_t v) {
  uint8_t le[4];
  for (int i = 0; i < 4; i++) le[i] = (uint8_t)(v >> (8 * i));
  tag(pb, field, WT_I32);
  tw__pb_raw(pb, le, 4);
}

void tw__pb_bytes_field(tw__pb *pb, uint32_t field, const void *p, size_t n) {
  tag(pb, field, WT_LEN);
  varint(pb, n);
  tw__pb_raw(pb, p, n);
}

void tw__pb_string_field(tw__pb *pb, uint32_t field, const char *s) {
  tw__pb_bytes_field(pb, field, s, strlen(s));
}

void tw__pb_begin(tw__pb *pb, uint32_t field) {
  tag(pb, field, WT_LEN);
  if (pb->depth >= TW__PB_MAX_DEPTH) { /* never: the schema is 6 deep */
    pb->oom = true;
    return;
  }
  pb->starts[pb->depth++] = pb->len;
}

void tw__pb_end(tw__pb *pb) {
  uint8_t tmp[10];
  size_t start, body, n;
  if (pb->depth == 0) return;
  start = pb->starts[--pb->depth];
  if (pb->oom) return;
  body = pb->len - start;
  n = varint_encode(body, tmp);
  if (!reserve(pb, n)) return;
  memmove(pb->buf + start + n, pb->buf + start, body);
  memcpy(pb->buf + start, tmp, n);
  pb->len += n;
}

/* ---- OTLP messages -------------------------------------------------------- */

static void kv_string(tw__pb *pb, uint32_t field, const char *key,
                      const char *val, size_t len) {
  tw__pb_begin(pb, field);
  tw__pb_string_field(pb, 1, key);
  tw__pb_begin(pb, 2);
  tw__pb_bytes_field(pb, 1, val, len);
  tw__pb_end(pb);
  tw__pb_end(pb);
}

static void kv_attr(tw__pb *pb, uint32_t field, const tw__attr *a) {
  uint64_t bits;
  if (a->kind == TW__ATTR_STR) {
    kv_string(pb, field, a->key, a->v.s.ptr, a->v.s.len);
    return;
  }
  tw__pb_begin(pb, field);
  tw__pb_string_field(pb, 1, a->key);
  tw__pb_begin(pb, 2);
  switch (a->kind) {
  case TW__ATTR_BOOL:
    tw__pb_varint_field(pb, 2, a->v.b ? 1 : 0);
    break;
  case TW__ATTR_INT: /* int64: two's complement in ten bytes when < 0 */
    tw__pb_varint_field(pb, 3, (uint64_t)a->v.i);
    break;
  case TW__ATTR_DOUBLE:
    memcpy(&bits, &a->v.d, 8);
    tw__pb_fixed64_field(pb, 4, bits);
    break;
  case TW__ATTR_STR:
    break;
  }
  tw__pb_end(pb);
  tw__pb_end(pb);
}

static void encode_event(tw__pb *pb, const tw__event *e) {
  const char *level = tw_level_name(e->level);
  tw__pb_begin(pb, 11);
  tw__pb_fixed64_field(pb, 1, e->time_ns);
  tw__pb_string_field(pb, 2, e->message);
  kv_string(pb, 3, "level", level, strlen(level));
  kv_string(pb, 3, "target", e->target, strlen(e->target));
  tw__pb_end(pb);
}

static void encode_span(tw__pb *pb, const tw_span_t *s) {
  tw__pb_begin(pb, 2);
  tw__pb_bytes_field(pb, 1, s->ctx.trace_id, 16);
  tw__pb_bytes_field(pb, 2, s->ctx.span_id, 8);
  if (s->has_parent) tw__pb_bytes_field(pb, 4, s->parent_id, 8);
  tw__pb_string_field(pb, 5, s->name);
  tw__pb_varint_field(pb, 6, (uint64_t)s->kind);
  tw__pb_fixed64_field(pb, 7, s->start_ns);
  tw__pb_fixed64_field(pb, 8, s->end_ns);
  for (uint32_t i = 0; i < s->nattrs; i++) kv_attr(pb, 9, &s->attrs[i]);
  for (uint32_t i = 0; i < s->nevents; i++) encode_event(pb, &s->events[i]);
  if (s->status != TW_SPAN_STATUS_UNSET || s->status_message) {
    tw__pb_begin(pb, 15);
    if (s->status_message) tw__pb_string_field(pb, 2, s->status_message);
    tw__pb_varint_field(pb, 3, (uint64_t)s->status);
    tw__pb_end(pb);
  }
  tw__pb_fixed32_field(pb, 16, s->ctx.flags);
  tw__pb_end(pb);
}

static int by_target(const void *a, const void *b) {
  const tw_span_t *x = *(tw_span_t *const *)a, *y = *(tw_span_t *const *)b;
  return strcmp(x->target, y->target);
}

bool tw__otlp_encode(tw__pb *pb, const char *service_name,
                     tw_span_t *const *spans, size_t n) {
  tw_span_t **sorted = NULL;
  if (n > 0) {
    sorted = malloc(n * sizeof *sorted);
    if (!sorted) return false;
    memcpy(sorted, spans, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_target);
  }
  tw__pb_begin(pb, 1); /* ResourceSpans */
  tw__pb_begin(pb, 1); /* Resource */
  kv_string(pb, 1, "service.name", service_name, strlen(service_name));
  kv_string(pb, 1, "telemetry.sdk.name", "tensorwasm", 10);
  kv_string(pb, 1, "telemetry.sdk.language", "c", 1);
  tw__pb_end(pb);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    tw__pb_begin(pb, 2); /* ScopeSpans */
    tw__pb_begin(pb, 1); /* InstrumentationScope */
    tw__pb_string_field(pb, 1, sorted[i]->target);
    tw__pb_end(pb);
    for (; j < n && strcmp(sorted[j]->target, sorted[i]->target) == 0; j++)
      encode_span(pb, sorted[j]);
    tw__pb_end(pb);
    i = j;
  }
  tw__pb_end(pb);
  free(sorted);
  return !pb->oom;
}
