/* Spans: nesting on one thread, context handed across threads, explicit
 * parents, events, attributes, disabled spans, out-of-order ends and the
 * fmt output.  Finished spans are collected through the sink. */
#include <pthread.h>

#include "core/trace_int.h"
#include "test.h"

enum { MAX_REC = 256 };

typedef struct rec {
  char name[64];
  tw_trace_ctx ctx;
  bool has_parent;
  uint8_t parent[8];
  char tenant[32];
  size_t events;
  uint64_t start, end;
} rec;

static struct {
  pthread_mutex_t lock;
  rec r[MAX_REC];
  int n;
} got = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void sink(const tw_span_t *s, void *user) {
  (void)user;
  pthread_mutex_lock(&got.lock);
  if (got.n < MAX_REC) {
    rec *r = &got.r[got.n++];
    snprintf(r->name, sizeof r->name, "%s", tw_span_name(s));
    r->ctx = tw_span_context(s);
    r->has_parent = tw_span_parent_id(s, r->parent);
    if (!tw_span_attr_get(s, "tenant", r->tenant, sizeof r->tenant))
      r->tenant[0] = '\0';
    r->events = tw_span_event_count(s);
    r->start = tw_span_start_ns(s);
    r->end = tw_span_end_ns(s);
  }
  pthread_mutex_unlock(&got.lock);
}

static const rec *find(const char *name) {
  for (int i = 0; i < got.n; i++)
    if (strcmp(got.r[i].name, name) == 0) return &got.r[i];
  return NULL;
}

static bool child_of(const rec *child, const rec *parent) {
  return child && parent && child->has_parent &&
         memcmp(child->parent, parent->ctx.span_id, 8) == 0 &&
         memcmp(child->ctx.trace_id, parent->ctx.trace_id, 16) == 0;
}

static char *fmt_buf;
static size_t fmt_len;
static FILE *fmt_out;

/* Installs the tracer with the sink and a memory stream for fmt lines. */
static void start(const char *filter, bool span_close) {
  tw_trace_config cfg;
  tw_error err;
  got.n = 0;
  unsetenv("TENSOR_WASM_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  fmt_out = open_memstream(&fmt_buf, &fmt_len);
  tw_trace_config_default(&cfg);
  cfg.filter = filter;
  cfg.fmt_out = fmt_out;
  cfg.fmt_span_close = span_close;
  cfg.sink = sink;
  if (tw_trace_init(&cfg, &err) != TW_OK) {
    fprintf(stderr, "init: %s\n", err.message);
    abort();
  }
}

static void stop(void) {
  tw_trace_shutdown();
  fclose(fmt_out);
}

static void done_fmt(void) {
  free(fmt_buf);
  fmt_buf = NULL;
}

TEST(nesting_on_one_thread) {
  tw_trace_ctx cur;
  start("info", false);
  ASSERT(!tw_trace_ctx_current(&cur));
  tw_span_t *spawn = tw_span_begin("spawn_instance", "tensor-wasm-exec",
                                   TW_LEVEL_INFO);
  ASSERT(spawn);
  ASSERT(tw_span_current() == spawn);
  tw_span_attr_str(spawn, "tenant", "t_42");
  tw_span_t *call = tw_span_begin("call_export_with_args", "tensor-wasm-exec",
                                  TW_LEVEL_INFO);
  ASSERT(tw_span_current() == call);
  ASSERT(tw_trace_ctx_current(&cur));
  ASSERT(memcmp(cur.span_id, tw_span_context(call).span_id, 8) == 0);
  tw_span_t *launch = tw_span_begin("wasi_cuda.launch", "tensor-wasm-wasi-gpu",
                                    TW_LEVEL_INFO);
  tw_span_end(launch);
  ASSERT(tw_span_current() == call);
  tw_span_end(call);
  ASSERT(tw_span_current() == spawn);
  tw_span_t *term =
      tw_span_begin("terminate", "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_span_end(term);
  tw_span_end(spawn);
  ASSERT(tw_span_current() == NULL);
  ASSERT(!tw_trace_ctx_current(&cur));
  stop();
  done_fmt();

  ASSERT_EQ_INT(got.n, 4);
  const rec *s = find("spawn_instance"), *c = find("call_export_with_args"),
            *l = find("wasi_cuda.launch"), *t = find("terminate");
  ASSERT(s && c && l && t);
  ASSERT(!s->has_parent);
  ASSERT(child_of(c, s));
  ASSERT(child_of(l, c));
  ASSERT(child_of(t, s));
  ASSERT_EQ_STR(s->tenant, "t_42");
  ASSERT(s->start <= c->start && c->end <= s->end && s->end > 0);
  ASSERT(memcmp(s->ctx.span_id, c->ctx.span_id, 8) != 0);
  ASSERT_EQ_INT(s->ctx.flags, TW_TRACE_FLAG_SAMPLED);
}

typedef struct job {
  tw_trace_ctx ctx;
  int index;
} job;

static void *worker(void *arg) {
  job *j = arg;
  tw_trace_scope scope;
  tw_trace_ctx_attach(&j->ctx, &scope);
  /* Nothing local is current while a foreign context is attached. */
  if (tw_span_current() != NULL) abort();
  tw_span_t *s = tw_span_begin("async_invoke.job", "tensor-wasm-api",
                               TW_LEVEL_INFO);
  tw_span_attr_int(s, "job", j->index);
  tw_span_t *inner = tw_span_begin("invoke.run", "tensor-wasm-api",
                                   TW_LEVEL_INFO);
  tw_span_end(inner);
  tw_span_end(s);
  tw_trace_ctx_detach(&scope);
  tw_trace_ctx cur;
  if (tw_trace_ctx_current(&cur)) abort();
  return NULL;
}

TEST(nesting_across_threads) {
  enum { N = 8 };
  pthread_t th[N];
  job jobs[N];
  start("info", false);
  tw_span_t *req = tw_span_begin("http.request", "tower-http", TW_LEVEL_INFO);
  ASSERT(req);
  for (int i = 0; i < N; i++) {
    ASSERT(tw_trace_ctx_current(&jobs[i].ctx));
    jobs[i].index = i;
    ASSERT_EQ_INT(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  tw_span_end(req);
  stop();
  done_fmt();

  ASSERT_EQ_INT(got.n, 1 + 2 * N);
  const rec *r = find("http.request");
  ASSERT(r);
  int jobs_seen = 0, runs_seen = 0;
  for (int i = 0; i < got.n; i++) {
    const rec *x = &got.r[i];
    ASSERT(memcmp(x->ctx.trace_id, r->ctx.trace_id, 16) == 0);
    if (strcmp(x->name, "async_invoke.job") == 0) {
      ASSERT(child_of(x, r));
      jobs_seen++;
    } else if (strcmp(x->name, "invoke.run") == 0) {
      /* Its parent is one of the job spans, not the request. */
      bool found = false;
      for (int k = 0; k < got.n; k++)
        if (strcmp(got.r[k].name, "async_invoke.job") == 0 &&
            child_of(x, &got.r[k]))
          found = true;
      ASSERT(found);
      runs_seen++;
    }
  }
  ASSERT_EQ_INT(jobs_seen, N);
  ASSERT_EQ_INT(runs_seen, N);
}

static void *end_elsewhere(void *arg) {
  tw_span_end(arg);
  return NULL;
}

TEST(exit_then_end_on_other_thread) {
  pthread_t th;
  start("info", false);
  tw_span_t *req = tw_span_begin("http.request", "tower-http", TW_LEVEL_INFO);
  tw_trace_ctx ctx = tw_span_context(req);
  tw_span_exit(req);
  ASSERT(tw_span_current() == NULL);
  /* Work done later on a worker joins through the captured context. */
  tw_trace_scope scope;
  tw_trace_ctx_attach(&ctx, &scope);
  tw_span_t *run = tw_span_begin("invoke.run", "tensor-wasm-api",
                                 TW_LEVEL_INFO);
  tw_span_end(run);
  tw_trace_ctx_detach(&scope);
  ASSERT_EQ_INT(pthread_create(&th, NULL, end_elsewhere, req), 0);
  pthread_join(th, NULL);
  stop();
  done_fmt();
  ASSERT_EQ_INT(got.n, 2);
  ASSERT(child_of(find("invoke.run"), find("http.request")));
}

TEST(explicit_parent_and_sampling) {
  tw_trace_ctx parent, unsampled;
  start("info", false);
  ASSERT(tw_traceparent_parse(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, &parent));
  tw_span_t *outer = tw_span_begin("outer", "t", TW_LEVEL_INFO);
  /* The explicit parent wins over the thread's current span. */
  tw_span_t *req = tw_span_begin_with_parent("http.request", "tower-http",
                                             TW_LEVEL_INFO, &parent);
  tw_span_t *child = tw_span_begin("child", "t", TW_LEVEL_INFO);
  tw_span_end(child);
  tw_span_end(req);
  /* NULL parent: a fresh root even inside `outer`. */
  tw_span_t *root = tw_span_begin_with_parent("root", "t", TW_LEVEL_INFO, NULL);
  tw_span_end(root);
  ASSERT(tw_span_current() == outer);
  tw_span_end(outer);
  ASSERT(tw_traceparent_parse(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 55,
      &unsampled));
  tw_span_t *u = tw_span_begin_with_parent("unsampled", "t", TW_LEVEL_INFO,
                                           &unsampled);
  tw_span_t *uc = tw_span_begin("unsampled_child", "t", TW_LEVEL_INFO);
  tw_span_end(uc);
  tw_span_end(u);
  stop();
  done_fmt();

  const rec *r = find("http.request"), *c = find("child"), *o = find("outer"),
            *rt = find("root");
  ASSERT(r && c && o && rt);
  ASSERT(r->has_parent);
  ASSERT(memcmp(r->parent, parent.span_id, 8) == 0);
  ASSERT(memcmp(r->ctx.trace_id, parent.trace_id, 16) == 0);
  ASSERT(child_of(c, r));
  ASSERT(!rt->has_parent);
  ASSERT(memcmp(rt->ctx.trace_id, o->ctx.trace_id, 16) != 0);
  ASSERT_EQ_INT(find("unsampled")->ctx.flags, 0);
  ASSERT_EQ_INT(find("unsampled_child")->ctx.flags, 0);
}

TEST(disabled_spans_are_null_and_calls_are_noops) {
  tw_trace_stats st;
  start("warn,tensor_wasm_exec=debug", false);
  tw_span_t *s = tw_span_begin("quiet", "tensor-wasm-api", TW_LEVEL_INFO);
  ASSERT(s == NULL);
  tw_span_attr_str(s, "k", "v");
  tw_span_attr_int(s, "k", 1);
  tw_span_attr_bool(s, "k", true);
  tw_span_attr_double(s, "k", 1.5);
  tw_span_set_status(s, TW_SPAN_STATUS_ERROR, "x");
  tw_span_set_kind(s, TW_SPAN_KIND_SERVER);
  tw_span_exit(s);
  tw_span_end(s);
  ASSERT(tw_span_current() == NULL);
  s = tw_span_begin("loud", "tensor-wasm-exec", TW_LEVEL_DEBUG);
  ASSERT(s != NULL);
  tw_span_end(s);
  stop();
  done_fmt();
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_ended, 1);
  ASSERT_EQ_INT(got.n, 1);
  /* Not initialised: everything disabled. */
  ASSERT(tw_span_begin("x", "y", TW_LEVEL_ERROR) == NULL);
}

TEST(attributes_all_types_and_unknown) {
  char buf[64];
  start("info", false);
  tw_span_t *s = tw_span_begin("attrs", "t", TW_LEVEL_INFO);
  tw_span_attr_str(s, "s", "hello");
  tw_span_attr_strn(s, "n", "abcdef", 3);
  tw_span_attr_int(s, "i", -42);
  tw_span_attr_bool(s, "b", true);
  tw_span_attr_double(s, "d", 0.25);
  tw_span_attr_str(s, "missing", NULL);
  tw_span_attr_int(s, "i", 7); /* replaces */
  for (int k = 0; k < 40; k++) { /* outgrows the inline storage */
    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    tw_span_attr_int(s, key, k);
  }
  ASSERT(tw_span_attr_get(s, "s", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "hello");
  ASSERT(tw_span_attr_get(s, "n", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "abc");
  ASSERT(tw_span_attr_get(s, "i", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "7");
  ASSERT(tw_span_attr_get(s, "b", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "true");
  ASSERT(tw_span_attr_get(s, "d", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "0.25");
  ASSERT(tw_span_attr_get(s, "missing", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "unknown");
  ASSERT(tw_span_attr_get(s, "k39", buf, sizeof buf));
  ASSERT_EQ_STR(buf, "39");
  ASSERT(!tw_span_attr_get(s, "absent", buf, sizeof buf));
  tw_span_set_status(s, TW_SPAN_STATUS_ERROR, "boom");
  ASSERT_EQ_INT(tw_span_get_status(s), TW_SPAN_STATUS_ERROR);
  ASSERT_EQ_STR(tw_span_name(s), "attrs");
  ASSERT_EQ_STR(tw_span_target(s), "t");
  ASSERT_EQ_INT(tw_span_level(s), TW_LEVEL_INFO);
  tw_span_end(s);
  stop();
  done_fmt();
}

TEST(out_of_order_end_unlinks) {
  start("info", false);
  tw_span_t *a = tw_span_begin("a", "t", TW_LEVEL_INFO);
  tw_span_t *b = tw_span_begin("b", "t", TW_LEVEL_INFO);
  tw_span_t *c = tw_span_begin("c", "t", TW_LEVEL_INFO);
  tw_span_end(b); /* out of order: c now continues from a */
  ASSERT(tw_span_current() == c);
  tw_span_end(c);
  ASSERT(tw_span_current() == a);
  tw_span_end(a);
  ASSERT(tw_span_current() == NULL);
  stop();
  done_fmt();
  ASSERT_EQ_INT(got.n, 3);
}

TEST(events_on_current_span_and_fmt_lines) {
  start("info,quiet=error", true);
  tw_span_t *s = tw_span_begin("http.request", "tower-http", TW_LEVEL_INFO);
  tw_span_attr_str(s, "method", "GET");
  tw_span_t *in = tw_span_begin("inner", "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_event(TW_LEVEL_WARN, "tensor-wasm-exec", "slow call %d ms", 12);
  tw_event(TW_LEVEL_INFO, "quiet", "not shown");
  tw_event(TW_LEVEL_DEBUG, "tensor-wasm-exec", "not shown either");
  tw_event(TW_LEVEL_ERROR, "tensor-wasm-exec", "line\nbreak");
  tw_span_end(in);
  tw_span_end(s);
  tw_event(TW_LEVEL_INFO, "top", "outside");
  stop();

  const rec *r = find("inner");
  ASSERT(r);
  ASSERT_EQ_INT(r->events, 2);
  ASSERT_EQ_INT(find("http.request")->events, 0);
  ASSERT(fmt_buf);
  ASSERT_CONTAINS(fmt_buf, "  WARN http.request{method=GET}:inner: "
                           "tensor-wasm-exec: slow call 12 ms\n");
  ASSERT_CONTAINS(fmt_buf, "ERROR http.request{method=GET}:inner: "
                           "tensor-wasm-exec: line\\nbreak\n");
  ASSERT_CONTAINS(fmt_buf, "  INFO http.request{method=GET}:inner: "
                           "tensor-wasm-exec: close elapsed=");
  ASSERT_CONTAINS(fmt_buf, "  INFO http.request{method=GET}: tower-http: "
                           "close elapsed=");
  ASSERT_CONTAINS(fmt_buf, "  INFO top: outside\n");
  ASSERT(!strstr(fmt_buf, "not shown"));
  /* Every line starts with an RFC 3339 UTC time. */
  ASSERT(fmt_buf[4] == '-' && fmt_buf[10] == 'T' && fmt_buf[26] == 'Z');
  done_fmt();
}

TEST(fmt_off_writes_nothing) {
  tw_trace_config cfg;
  tw_error err;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  tw_trace_config_default(&cfg);
  cfg.fmt = false;
  cfg.fmt_out = out;
  cfg.filter = "trace";
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  tw_event(TW_LEVEL_ERROR, "x", "hello");
  tw_trace_shutdown();
  fclose(out);
  ASSERT_EQ_INT(len, 0);
  free(buf);
}

TEST_MAIN()
