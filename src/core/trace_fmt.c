/* Human-readable output: one line per event (and per span close when
 * asked), shaped like
 *
 *   2025-06-01T10:00:00.123456Z  INFO outer{a=1}:inner{b=x}: target: message
 *
 * time (UTC, microseconds), level, the thread's span path root first with
 * each span's attributes, the target and the message.  Control
 * characters in values are escaped so a hostile value cannot forge a
 * line.  Each line is built in a stack buffer and written with one
 * fwrite under the stream's lock, so lines from threads never interleave;
 * an over-long line is truncated and ends in "...". */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/trace_int.h"

enum { LINE_MAX_BYTES = 2048, PATH_MAX_DEPTH = 32 };

typedef struct line {
  char buf[LINE_MAX_BYTES];
  size_t len;
  bool truncated;
} line;

static void put(line *l, const char *s, size_t n) {
  size_t room = sizeof l->buf - 5 - l->len; /* keep room for "...\n" */
  if (n > room) {
    n = room;
    l->truncated = true;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

static void putf(line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(line *l, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_escaped(line *l, const char *s, size_t n) {
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != 0x7f) continue;
    put(l, s + run, i - run);
    if (c == '\n') puts_(l, "\\n");
    else if (c == '\r') puts_(l, "\\r");
    else if (c == '\t') puts_(l, "\\t");
    else putf(l, "\\x%02x", c);
    run = i + 1;
  }
  put(l, s + run, n - run);
}

void tw__attr_format(const tw__attr *a, char *buf, size_t cap) {
  if (cap == 0) return;
  switch (a->kind) {
  case TW__ATTR_STR: {
    size_t n = a->v.s.len < cap - 1 ? a->v.s.len : cap - 1;
    memcpy(buf, a->v.s.ptr, n);
    buf[n] = '\0';
    break;
  }
  case TW__ATTR_INT:
    snprintf(buf, cap, "%lld", (long long)a->v.i);
    break;
  case TW__ATTR_BOOL:
    snprintf(buf, cap, "%s", a->v.b ? "true" : "false");
    break;
  case TW__ATTR_DOUBLE:
    snprintf(buf, cap, "%.17g", a->v.d);
    break;
  }
}

static void put_attr_value(line *l, const tw__attr *a) {
  char tmp[64];
  if (a->kind == TW__ATTR_STR) {
    put_escaped(l, a->v.s.ptr, a->v.s.len);
    return;
  }
  tw__attr_format(a, tmp, sizeof tmp);
  puts_(l, tmp);
}

static void put_span(line *l, const tw_span_t *s) {
  put_escaped(l, s->name, strlen(s->name));
  if (s->nattrs == 0) return;
  puts_(l, "{");
  for (uint32_t i = 0; i < s->nattrs; i++) {
    if (i) puts_(l, " ");
    put_escaped(l, s->attrs[i].key, strlen(s->attrs[i].key));
    puts_(l, "=");
    put_attr_value(l, &s->attrs[i]);
  }
  puts_(l, "}");
}

/* The chain from `innermost` outwards, printed root first, then `last`
 * (a span already off the chain) when given. */
static void put_path(line *l, const tw_span_t *innermost,
                     const tw_span_t *last) {
  const tw_span_t *stack[PATH_MAX_DEPTH];
  size_t n = 0;
  for (const tw_span_t *s = innermost; s && n < PATH_MAX_DEPTH; s = s->prev_span)
    stack[n++] = s;
  while (n > 0) {
    put_span(l, stack[--n]);
    puts_(l, ":");
  }
  if (last) {
    put_span(l, last);
    puts_(l, ":");
  }
  if (innermost || last) puts_(l, " ");
}

static void put_prefix(line *l, uint64_t ns, tw_level level) {
  time_t secs = (time_t)(ns / 1000000000ull);
  struct tm tm;
  char stamp[32];
  gmtime_r(&secs, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  putf(l, "%s.%06uZ %5s ", stamp, (unsigned)(ns % 1000000000ull / 1000),
       tw_level_name(level));
}

static void emit(FILE *out, line *l) {
  if (l->truncated) memcpy(l->buf + l->len, "...", 3), l->len += 3;
  l->buf[l->len++] = '\n';
  flockfile(out);
  fwrite(l->buf, 1, l->len, out);
  fflush(out);
  funlockfile(out);
}

void tw__fmt_event(FILE *out, uint64_t time_ns, tw_level level,
                   const char *target, const tw_span_t *current,
                   const char *message) {
  line l;
  l.len = 0;
  l.truncated = false;
  put_prefix(&l, time_ns, level);
  put_path(&l, current, NULL);
  put_escaped(&l, target, strlen(target));
  puts_(&l, ": ");
  put_escaped(&l, message, strlen(message));
  emit(out, &l);
}

void tw__fmt_span_close(FILE *out, const tw_span_t *span,
                        const tw_span_t *parent_chain) {
  line l;
  uint64_t dur = span->end_ns > span->start_ns ? span->end_ns - span->start_ns
                                               : 0;
  l.len = 0;
  l.truncated = false;
  put_prefix(&l, span->end_ns, span->level);
  put_path(&l, parent_chain, span);
  put_escaped(&l, span->target, strlen(span->target));
  putf(&l, ": close elapsed=%.1fus", (double)dur / 1000.0);
  if (span->status == TW_SPAN_STATUS_ERROR) {
    puts_(&l, " error=");
    if (span->status_message)
      put_escaped(&l, span->status_message, strlen(span->status_message));
  }
  emit(out, &l);
}
