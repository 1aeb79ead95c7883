/* Spans, per-thread context and events.
 *
 * The tracer is a set of globals installed by tw__trace_install.  The hot
 * check is `level < g_min_threshold`, one relaxed atomic load and a branch:
 * g_min_threshold is the lowest level any directive enables, and OFF when
 * nothing is installed, so a disabled span never touches the filter.
 *
 * Each thread keeps its current context and, when that context belongs to
 * a span begun on this thread, the span itself.  Spans begun on a thread
 * form a chain through prev_span; every span on the chain is live and
 * owned by this thread (tw_span_end unlinks a span ended out of order). */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/trace_int.h"

struct tw__chunk {
  tw__chunk *next;
  char data[];
};

struct tw__tls {
  tw_span_t *cur_span;  /* NULL when the current context is not local */
  tw_trace_ctx cur_ctx; /* all zero: none */
  uint64_t rng[4];
  unsigned rng_gen; /* fork generation the rng was seeded in; 0: unseeded */
};

static _Thread_local tw__tls tls;

tw__trace_counters tw__trace_stats;

static _Atomic int g_min_threshold = TW__LEVEL_OFF;
static tw__filter *g_filter;
static bool g_installed, g_fmt, g_fmt_span_close;
static FILE *g_fmt_out;
static tw_span_sink_fn g_sink;
static void *g_sink_user;
static tw__span_processor g_proc;

/* ---- ids and time ---------------------------------------------------------- */

static _Atomic unsigned g_fork_gen = 1;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&g_fork_gen, 1); }
static void register_atfork(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Seeds from getrandom without blocking; if the kernel pool is not ready
 * yet, mixes time, pid and addresses instead (ids need uniqueness, not
 * secrecy). */
static void rng_seed(unsigned gen) {
  uint64_t seed[4];
  pthread_once(&g_atfork_once, register_atfork);
  if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
    struct timespec ts;
    uint64_t x;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
        ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&tls;
    for (int i = 0; i < 4; i++) seed[i] = splitmix64(&x);
  }
  memcpy(tls.rng, seed, sizeof seed);
  if (!(tls.rng[0] | tls.rng[1] | tls.rng[2] | tls.rng[3])) tls.rng[0] = 1;
  tls.rng_gen = gen;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: a few ns per 64 bits, no locks, no syscalls. */
static uint64_t rng_next(void) {
  uint64_t *s = tls.rng;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

void tw__trace_random(uint8_t *buf, size_t len) {
  unsigned gen = atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
  if (tls.rng_gen != gen) rng_seed(gen);
  while (len > 0) {
    uint64_t r = rng_next();
    size_t n = len < 8 ? len : 8;
    memcpy(buf, &r, n);
    buf += n;
    len -= n;
  }
}

static void random_nonzero(uint8_t *buf, size_t len) {
  for (;;) {
    tw__trace_random(buf, len);
    for (size_t i = 0; i < len; i++)
      if (buf[i]) return;
  }
}

uint64_t tw__trace_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tw_trace_ctx_new_root(tw_trace_ctx *out) {
  random_nonzero(out->trace_id, 16);
  random_nonzero(out->span_id, 8);
  out->flags = TW_TRACE_FLAG_SAMPLED;
}

/* ---- install --------------------------------------------------------------- */

static void counters_reset(void) {
  _Atomic uint64_t *c[] = {
      &tw__trace_stats.spans_ended,        &tw__trace_stats.spans_queued,
      &tw__trace_stats.spans_exported,     &tw__trace_stats.spans_dropped,
      &tw__trace_stats.dropped_queue_full, &tw__trace_stats.dropped_export_failed,
      &tw__trace_stats.export_requests,    &tw__trace_stats.export_retries,
      &tw__trace_stats.filter_errors};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) atomic_store(c[i], 0);
}

typedef struct report_ctx {
  const char *origin;
} report_ctx;

static void report_bad_directive(void *user, const char *d, size_t len,
                                 const char *why) {
  const report_ctx *r = user;
  fprintf(stderr, "tensor-wasm: ignoring %s directive \"%.*s\": %s\n",
          r->origin, (int)len, d, why);
}

tw_status tw__trace_install(const tw__trace_setup *s, tw_error *err) {
  report_ctx rc = {s->filter_origin ? s->filter_origin : "filter"};
  unsigned bad = 0;
  tw__filter *f;
  if (g_installed)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tracing already initialised");
  f = tw__filter_parse(s->filter, report_bad_directive, &rc, &bad);
  if (!f) return tw__error_set(err, TW_NOMEM, SIZE_MAX, NULL);
  counters_reset();
  tw__stat_add(&tw__trace_stats.filter_errors, bad);
  g_filter = f;
  g_fmt = s->fmt;
  g_fmt_span_close = s->fmt_span_close;
  g_fmt_out = s->fmt_out ? s->fmt_out : stderr;
  g_sink = s->sink;
  g_sink_user = s->sink_user;
  g_proc = s->processor;
  g_installed = true;
  atomic_store(&g_min_threshold, tw__filter_min_threshold(f));
  return TW_OK;
}

void tw__trace_uninstall(void) {
  if (!g_installed) return;
  atomic_store(&g_min_threshold, TW__LEVEL_OFF);
  g_installed = false;
  g_proc.on_end = NULL;
  g_sink = NULL;
  tw__filter_free(g_filter);
  g_filter = NULL;
}

bool tw__trace_installed(void) { return g_installed; }

void tw_trace_stats_get(tw_trace_stats *o) {
  tw__trace_counters *c = &tw__trace_stats;
  o->spans_ended = atomic_load(&c->spans_ended);
  o->spans_queued = atomic_load(&c->spans_queued);
  o->spans_exported = atomic_load(&c->spans_exported);
  o->spans_dropped = atomic_load(&c->spans_dropped);
  o->dropped_queue_full = atomic_load(&c->dropped_queue_full);
  o->dropped_export_failed = atomic_load(&c->dropped_export_failed);
  o->export_requests = atomic_load(&c->export_requests);
  o->export_retries = atomic_load(&c->export_retries);
  o->filter_errors = atomic_load(&c->filter_errors);
}

const char *tw_level_name(tw_level level) {
  static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                      "ERROR"};
  if ((unsigned)level > TW_LEVEL_ERROR) return "?";
  return names[level];
}

bool tw_trace_enabled(tw_level level, const char *target) {
  if ((int)level < atomic_load_explicit(&g_min_threshold, memory_order_relaxed))
    return false;
  return g_filter && tw__filter_enabled(g_filter, level, target);
}

/* ---- span arena ------------------------------------------------------------ */

/* Copies len bytes plus a NUL into the span's arena; NULL when out of
 * memory. */
static char *arena_strdup(tw_span_t *s, const char *str, size_t len) {
  char *p;
  if (len + 1 > s->arena_left) {
    size_t want = len + 1 > 1024 ? len + 1 : 1024;
    tw__chunk *c = malloc(sizeof *c + want);
    if (!c) return NULL;
    c->next = s->chunks;
    s->chunks = c;
    s->arena_pos = c->data;
    s->arena_left = want;
  }
  p = s->arena_pos;
  memcpy(p, str, len);
  p[len] = '\0';
  s->arena_pos += len + 1;
  s->arena_left -= len + 1;
  return p;
}

void tw__span_free(tw_span_t *s) {
  tw__chunk *c, *next;
  if (!s) return;
  for (c = s->chunks; c; c = next) {
    next = c->next;
    free(c);
  }
  if (s->attrs != s->inline_attrs) free(s->attrs);
  free(s->events);
  free(s);
}

/* ---- span lifecycle ------------------------------------------------------- */

static void enter(tw_span_t *s) {
  s->owner = &tls;
  s->prev_span = tls.cur_span;
  s->prev_ctx = tls.cur_ctx;
  tls.cur_span = s;
  tls.cur_ctx = s->ctx;
}

static tw_span_t *span_new(const char *name, const char *target,
                           tw_level level, const tw_trace_ctx *parent) {
  tw_span_t *s = malloc(sizeof *s);
  if (!s) return NULL;
  memset(s, 0, offsetof(tw_span_t, inline_attrs));
  s->level = level;
  s->kind = TW_SPAN_KIND_INTERNAL;
  s->attrs = s->inline_attrs;
  s->attr_cap = TW__SPAN_INLINE_ATTRS;
  s->arena_pos = s->inline_arena;
  s->arena_left = sizeof s->inline_arena;
  s->name = arena_strdup(s, name ? name : "", name ? strlen(name) : 0);
  s->target = arena_strdup(s, target ? target : "", target ? strlen(target) : 0);
  if (!s->name || !s->target) {
    tw__span_free(s);
    return NULL;
  }
  if (parent && tw_trace_ctx_is_valid(parent)) {
    memcpy(s->ctx.trace_id, parent->trace_id, 16);
    memcpy(s->parent_id, parent->span_id, 8);
    s->has_parent = true;
    s->ctx.flags = parent->flags & TW_TRACE_FLAG_SAMPLED;
  } else {
    random_nonzero(s->ctx.trace_id, 16);
    s->ctx.flags = TW_TRACE_FLAG_SAMPLED;
  }
  random_nonzero(s->ctx.span_id, 8);
  s->start_ns = tw__trace_now_ns();
  return s;
}

tw_span_t *tw_span_begin(const char *name, const char *target,
                         tw_level level) {
  tw_span_t *s;
  if ((int)level < atomic_load_explicit(&g_min_threshold, memory_order_relaxed))
    return NULL;
  if (!g_filter || !tw__filter_enabled(g_filter, level, target)) return NULL;
  s = span_new(name, target, level, &tls.cur_ctx);
  if (s) enter(s);
  return s;
}

tw_span_t *tw_span_begin_with_parent(const char *name, const char *target,
                                     tw_level level,
                                     const tw_trace_ctx *parent) {
  tw_span_t *s;
  if ((int)level < atomic_load_explicit(&g_min_threshold, memory_order_relaxed))
    return NULL;
  if (!g_filter || !tw__filter_enabled(g_filter, level, target)) return NULL;
  s = span_new(name, target, level, parent);
  if (s) enter(s);
  return s;
}

static void misuse(const char *what) {
  static _Atomic int reported;
  if (atomic_exchange(&reported, 1) == 0)
    fprintf(stderr, "tensor-wasm: tracing misuse: %s\n", what);
}

/* Takes `s` off this thread's chain, wherever it is. */
static void unlink_from_thread(tw_span_t *s) {
  if (tls.cur_span == s) {
    tls.cur_span = s->prev_span;
    tls.cur_ctx = s->prev_ctx;
  } else {
    tw_span_t *x = tls.cur_span;
    while (x && x->prev_span != s) x = x->prev_span;
    if (x) {
      x->prev_span = s->prev_span;
      x->prev_ctx = s->prev_ctx;
    }
  }
  s->owner = NULL;
  s->prev_span = NULL;
}

void tw_span_exit(tw_span_t *s) {
  if (!s || s->owner != &tls) return;
  unlink_from_thread(s);
}

void tw_span_end(tw_span_t *s) {
  tw_span_t *chain;
  if (!s) return;
  if (s->owner && s->owner != &tls) {
    /* Still current on another thread: freeing it would leave that
     * thread's chain dangling, so it is leaked instead. */
    misuse("span ended on another thread without tw_span_exit first");
    return;
  }
  s->end_ns = tw__trace_now_ns();
  chain = s->owner ? s->prev_span : NULL;
  if (s->owner) unlink_from_thread(s);
  tw__stat_add(&tw__trace_stats.spans_ended, 1);
  if (g_installed && g_fmt && g_fmt_span_close)
    tw__fmt_span_close(g_fmt_out, s, chain);
  if (g_installed && g_sink) g_sink(s, g_sink_user);
  if (g_installed && g_proc.on_end && (s->ctx.flags & TW_TRACE_FLAG_SAMPLED)) {
    g_proc.on_end(g_proc.self, s);
    return;
  }
  tw__span_free(s);
}

tw_span_t *tw_span_current(void) { return tls.cur_span; }

tw_trace_ctx tw_span_context(const tw_span_t *s) {
  tw_trace_ctx z;
  if (s) return s->ctx;
  memset(&z, 0, sizeof z);
  return z;
}

/* ---- attributes ------------------------------------------------------------ */

/* The slot for `key`: the existing one, or a new one.  NULL on OOM. */
static tw__attr *attr_slot(tw_span_t *s, const char *key) {
  tw__attr *a;
  if (!key) key = "";
  for (uint32_t i = 0; i < s->nattrs; i++)
    if (strcmp(s->attrs[i].key, key) == 0) return &s->attrs[i];
  if (s->nattrs == s->attr_cap) {
    uint32_t ncap = s->attr_cap * 2;
    tw__attr *n = malloc(ncap * sizeof *n);
    if (!n) return NULL;
    memcpy(n, s->attrs, s->nattrs * sizeof *n);
    if (s->attrs != s->inline_attrs) free(s->attrs);
    s->attrs = n;
    s->attr_cap = ncap;
  }
  a = &s->attrs[s->nattrs];
  a->key = arena_strdup(s, key, strlen(key));
  if (!a->key) return NULL;
  s->nattrs++;
  return a;
}

void tw_span_attr_strn(tw_span_t *s, const char *key, const char *value,
                       size_t len) {
  tw__attr *a;
  const char *copy;
  if (!s) return;
  if (!value) value = "unknown", len = 7;
  copy = arena_strdup(s, value, len);
  if (!copy || !(a = attr_slot(s, key))) return;
  a->kind = TW__ATTR_STR;
  a->v.s.ptr = copy;
  a->v.s.len = len;
}

void tw_span_attr_str(tw_span_t *s, const char *key, const char *value) {
  if (!s) return;
  tw_span_attr_strn(s, key, value, value ? strlen(value) : 0);
}

void tw_span_attr_int(tw_span_t *s, const char *key, int64_t value) {
  tw__attr *a;
  if (!s || !(a = attr_slot(s, key))) return;
  a->kind = TW__ATTR_INT;
  a->v.i = value;
}

void tw_span_attr_bool(tw_span_t *s, const char *key, bool value) {
  tw__attr *a;
  if (!s || !(a = attr_slot(s, key))) return;
  a->kind = TW__ATTR_BOOL;
  a->v.b = value;
}

void tw_span_attr_double(tw_span_t *s, const char *key, double value) {
  tw__attr *a;
  if (!s || !(a = attr_slot(s, key))) return;
  a->kind = TW__ATTR_DOUBLE;
  a->v.d = value;
}

void tw_span_set_status(tw_span_t *s, tw_span_status status,
                        const char *message) {
  if (!s) return;
  s->status = status;
  s->status_message = message ? arena_strdup(s, message, strlen(message)) : NULL;
}

void tw_span_set_kind(tw_span_t *s, tw_span_kind kind) {
  if (s) s->kind = kind;
}

/* ---- reading ---------------------------------------------------------------- */

const char *tw_span_name(const tw_span_t *s) { return s ? s->name : ""; }
const char *tw_span_target(const tw_span_t *s) { return s ? s->target : ""; }
tw_level tw_span_level(const tw_span_t *s) {
  return s ? s->level : TW_LEVEL_TRACE;
}
uint64_t tw_span_start_ns(const tw_span_t *s) { return s ? s->start_ns : 0; }
uint64_t tw_span_end_ns(const tw_span_t *s) { return s ? s->end_ns : 0; }
tw_span_status tw_span_get_status(const tw_span_t *s) {
  return s ? s->status : TW_SPAN_STATUS_UNSET;
}
size_t tw_span_event_count(const tw_span_t *s) { return s ? s->nevents : 0; }

bool tw_span_parent_id(const tw_span_t *s, uint8_t out[8]) {
  if (!s || !s->has_parent) return false;
  memcpy(out, s->parent_id, 8);
  return true;
}

bool tw_span_attr_get(const tw_span_t *s, const char *key, char *buf,
                      size_t cap) {
  if (!s || !key) return false;
  for (uint32_t i = 0; i < s->nattrs; i++) {
    if (strcmp(s->attrs[i].key, key) != 0) continue;
    tw__attr_format(&s->attrs[i], buf, cap);
    return true;
  }
  return false;
}

/* ---- context ---------------------------------------------------------------- */

bool tw_trace_ctx_current(tw_trace_ctx *out) {
  *out = tls.cur_ctx;
  return tw_trace_ctx_is_valid(out);
}

typedef struct scope_state {
  tw_span_t *span;
  tw_trace_ctx ctx;
} scope_state;

_Static_assert(sizeof(scope_state) <= sizeof(tw_trace_scope),
               "tw_trace_scope too small");

void tw_trace_ctx_attach(const tw_trace_ctx *ctx, tw_trace_scope *scope) {
  scope_state st = {tls.cur_span, tls.cur_ctx};
  memcpy(scope, &st, sizeof st);
  tls.cur_span = NULL;
  if (ctx && tw_trace_ctx_is_valid(ctx))
    tls.cur_ctx = *ctx;
  else
    memset(&tls.cur_ctx, 0, sizeof tls.cur_ctx);
}

void tw_trace_ctx_detach(const tw_trace_scope *scope) {
  scope_state st;
  memcpy(&st, scope, sizeof st);
  tls.cur_span = st.span;
  tls.cur_ctx = st.ctx;
}

/* ---- events ----------------------------------------------------------------- */

static void record_event(tw_span_t *s, uint64_t now, tw_level level,
                         const char *target, const char *msg, size_t len) {
  tw__event *e;
  if (s->nevents == s->event_cap) {
    uint32_t ncap = s->event_cap ? s->event_cap * 2 : 4;
    tw__event *n = realloc(s->events, ncap * sizeof *n);
    if (!n) return;
    s->events = n;
    s->event_cap = ncap;
  }
  e = &s->events[s->nevents];
  e->time_ns = now;
  e->level = level;
  e->target = arena_strdup(s, target, strlen(target));
  e->message = arena_strdup(s, msg, len);
  if (e->target && e->message) s->nevents++;
}

void tw_event(tw_level level, const char *target, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  int n;
  uint64_t now;
  if ((int)level < atomic_load_explicit(&g_min_threshold, memory_order_relaxed))
    return;
  if (!target) target = "";
  if (!g_filter || !tw__filter_enabled(g_filter, level, target)) return;
  if (!fmt) fmt = "(null)";
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1; /* long lines truncate */
  now = tw__trace_now_ns();
  if (tls.cur_span) record_event(tls.cur_span, now, level, target, buf, (size_t)n);
  if (g_fmt) tw__fmt_event(g_fmt_out, now, level, target, tls.cur_span, buf);
}
