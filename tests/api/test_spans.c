/* The seed's concurrency check, counted on what a real OTLP receiver got
 * (tests/otlp/receiver: gRPC, OpenTelemetry's own protobuf decoders):
 * N = 64 concurrent invoke-async requests on a gateway with 4 workers must
 * produce http.request, http.invoke_function_async, async_invoke.job and
 * invoke.run exactly once per request (4 x N), each a child of the one
 * before, with no orphan parent ids and no x-trace-id shared between two
 * responses.  Also: a synchronous invoke under an inbound traceparent
 * makes one connected trace down to the executor's spans.
 *
 * Job completion is awaited through the registry handle, not over HTTP,
 * so that no polling request adds spans to the count.  Needs the
 * otlp/receiver_setup fixture (npm ci). */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "api_util.h"
#include "otlp/otlp_receiver.h"
#include "tensorwasm/trace.h"
#include "test.h"

#define N 64
#define INBOUND_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define INBOUND "traceparent: 00-" INBOUND_TRACE "-00f067aa0ba902b7-01"

/* ---- the run ------------------------------------------------------------------ */

typedef struct call {
  const tu_server *s;
  const char *fn;
  int i;
  pthread_barrier_t *go;
  long status;
  char job[64];
  char trace_id[64];
} call;

static void *call_main(void *arg) {
  call *c = arg;
  char url[1024], body[64];
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", c->s->base, c->fn);
  snprintf(body, sizeof body, "{\"export\":\"add\",\"args\":[%d,1]}", c->i);
  pthread_barrier_wait(c->go);
  tu_http_json("POST", url, NULL, body, &r);
  c->status = r.status;
  tu_str(&r, "job_id", c->job, sizeof c->job);
  snprintf(c->trace_id, sizeof c->trace_id, "%s", r.trace_id);
  tu_resp_free(&r);
  return NULL;
}

static bool init_tracing(const receiver *rc) {
  tw_trace_config cfg;
  tw_error err;
  char endpoint[64];
  static FILE *quiet;
  if (!quiet && !(quiet = fopen("/dev/null", "w"))) return false;
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", rc->grpc_port);
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt_out = quiet;
  cfg.otlp_endpoint = endpoint;
  cfg.otlp_protocol = "grpc";
  cfg.queue_capacity = 8192;
  cfg.shutdown_timeout_ms = 30000;
  if (tw_trace_init(&cfg, &err) != TW_OK) {
    fprintf(stderr, "  tw_trace_init: %s\n", err.message);
    return false;
  }
  return true;
}

/* Waits (bounded) until every job is finished; true when all completed. */
static bool wait_jobs(tw_registry_t *reg, call *calls) {
  for (int round = 0; round < 1200; round++) {
    int done = 0, completed = 0;
    for (int i = 0; i < N; i++) {
      tw_job job;
      memset(&job, 0, sizeof job);
      if (tw_registry_job_get(reg, calls[i].job, &job, NULL) == TW_OK &&
          (job.status == TW_JOB_COMPLETED || job.status == TW_JOB_FAILED)) {
        done++;
        completed += job.status == TW_JOB_COMPLETED;
      }
      tw_job_clear(&job);
    }
    if (done == N) return completed == N;
    tu_sleep_ms(25);
  }
  return false;
}

static json_t *find_in_trace(json_t *spans, const char *trace, const char *name, int *count) {
  size_t i;
  json_t *s, *hit = NULL;
  *count = 0;
  json_array_foreach(spans, i, s) {
    if (strcmp(str(s, "trace_id"), trace) == 0 && strcmp(str(s, "name"), name) == 0) {
      hit = s;
      ++*count;
    }
  }
  return hit;
}

static int count_named(json_t *spans, const char *name) {
  size_t i;
  json_t *s;
  int n = 0;
  json_array_foreach(spans, i, s) n += strcmp(str(s, "name"), name) == 0;
  return n;
}

/* Every parent id names a received span of the same trace. */
static int orphans(json_t *spans) {
  size_t i, j;
  json_t *s, *p;
  int n = 0;
  json_array_foreach(spans, i, s) {
    const char *parent = str(s, "parent_span_id");
    bool found = !parent[0];
    json_array_foreach(spans, j, p) {
      if (found) break;
      found = strcmp(str(p, "span_id"), parent) == 0 &&
              strcmp(str(p, "trace_id"), str(s, "trace_id")) == 0;
    }
    if (!found) {
      fprintf(stderr, "  orphan: %s (parent %s)\n", str(s, "name"), parent);
      n++;
    }
  }
  return n;
}

static void check_request(int *failed, json_t *spans, const call *c) {
  static const char *const chain[] = {"http.request", "http.invoke_function_async",
                                      "async_invoke.job", "invoke.run"};
  json_t *prev = NULL;
  for (size_t k = 0; k < 4; k++) {
    int count;
    json_t *s = find_in_trace(spans, c->trace_id, chain[k], &count);
    if (count != 1) {
      fprintf(stderr, "  trace %s: %d x %s\n", c->trace_id, count, chain[k]);
      ASSERT_EQ_INT(count, 1);
    }
    if (prev) ASSERT_EQ_STR(str(s, "parent_span_id"), str(prev, "span_id"));
    prev = s;
  }
  json_t *req = find_in_trace(spans, c->trace_id, "http.request", &(int){0});
  ASSERT_EQ_STR(str(req, "parent_span_id"), ""); /* no inbound traceparent: a root */
  ASSERT_EQ_STR(attr_str(req, "method"), "POST");
  ASSERT_EQ_STR(attr_str(req, "version"), "HTTP/1.1");
  ASSERT_EQ_STR(attr_str(req, "traceparent"), "unknown");
  ASSERT_EQ_INT(strlen(attr_str(req, "request_id")), 36);
  ASSERT_CONTAINS(attr_str(req, "uri"), "/invoke-async");
  json_t *h = find_in_trace(spans, c->trace_id, "http.invoke_function_async", &(int){0});
  ASSERT_EQ_STR(attr_str(h, "job_id"), c->job);
  ASSERT_EQ_STR(attr_str(h, "tenant"), "0");
  json_t *j = find_in_trace(spans, c->trace_id, "async_invoke.job", &(int){0});
  ASSERT_EQ_STR(attr_str(j, "job_id"), c->job);
  json_t *run = find_in_trace(spans, c->trace_id, "invoke.run", &(int){0});
  ASSERT_EQ_STR(attr_str(run, "export"), "add");
  ASSERT_EQ_STR(str(json_object_get(json_object_get(run, "attributes"), "args_len"), "int"),
                "2");
}

TEST(concurrent_invoke_async_spans) {
  receiver rc;
  tu_server s;
  tw_api_config cfg;
  call calls[N];
  pthread_t th[N];
  pthread_barrier_t go;
  char fn[64];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ASSERT(receiver_start(&rc, 0));
  ASSERT(init_tracing(&rc));
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.workers = 4;
  cfg.io_threads = 4;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, fn));
  pthread_barrier_init(&go, NULL, N);
  for (int i = 0; i < N; i++) {
    calls[i] = (call){.s = &s, .fn = fn, .i = i, .go = &go};
    pthread_create(&th[i], NULL, call_main, &calls[i]);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&go);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ_INT(calls[i].status, 202);
    ASSERT_EQ_INT(strlen(calls[i].trace_id), 32);
    for (int k = 0; k < i; k++) ASSERT(strcmp(calls[i].trace_id, calls[k].trace_id) != 0);
  }
  ASSERT(wait_jobs(s.reg, calls));
  tu_stop(&s);
  tw_trace_shutdown(); /* flushes every ended span to the receiver */
  tw_trace_stats st;
  tw_trace_stats_get(&st);
  ASSERT_EQ_U64(st.spans_dropped, 0);
  ASSERT_EQ_U64(st.spans_exported, st.spans_queued);

  json_t *spans = receiver_spans(&rc);
  receiver_stop(&rc);
  ASSERT_EQ_INT(json_array_size(spans), st.spans_exported);
  ASSERT_EQ_INT(count_named(spans, "http.invoke_function_async"), N);
  ASSERT_EQ_INT(count_named(spans, "async_invoke.job"), N);
  ASSERT_EQ_INT(count_named(spans, "invoke.run"), N);
  ASSERT_EQ_INT(count_named(spans, "http.request"), N + 1); /* + the deploy */
  ASSERT_EQ_INT(orphans(spans), 0);
  for (int i = 0; i < N; i++) {
    check_request(failed, spans, &calls[i]);
    if (*failed) break;
  }
  json_decref(spans);
}

TEST(sync_invoke_joins_inbound_trace) {
  receiver rc;
  tu_server s;
  char fn[64], url[1024];
  tu_resp r;
  ASSERT(receiver_start(&rc, 0));
  ASSERT(init_tracing(&rc));
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, "X-TensorWasm-Tenant: 42", fn));
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, fn);
  const char *hs[] = {INBOUND, "X-TensorWasm-Tenant: 42", NULL};
  tu_http_json("POST", url, hs, "{\"export\":\"add\",\"args\":[2,40]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(r.trace_id, INBOUND_TRACE);
  tu_resp_free(&r);
  tu_stop(&s);
  tw_trace_shutdown();
  json_t *spans = receiver_spans(&rc);
  receiver_stop(&rc);
  int n;
  json_t *req = find_in_trace(spans, INBOUND_TRACE, "http.request", &n);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_STR(str(req, "parent_span_id"), "00f067aa0ba902b7");
  ASSERT_EQ_STR(attr_str(req, "traceparent"), "00-" INBOUND_TRACE "-00f067aa0ba902b7-01");
  json_t *h = find_in_trace(spans, INBOUND_TRACE, "http.invoke_function", &n);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_STR(str(h, "parent_span_id"), str(req, "span_id"));
  ASSERT_EQ_STR(attr_str(h, "function_id"), fn);
  ASSERT_EQ_STR(attr_str(h, "tenant"), "42");
  json_t *run = find_in_trace(spans, INBOUND_TRACE, "invoke.run", &n);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_STR(str(run, "parent_span_id"), str(h, "span_id"));
  ASSERT_EQ_STR(attr_str(run, "tenant"), "42");
  ASSERT_EQ_STR(attr_str(run, "function_id"), fn);
  /* The executor's spans hang below invoke.run in the same trace. */
  json_t *spawn =
      find_in_trace(spans, INBOUND_TRACE, "tensor_wasm_exec::executor::spawn_instance", &n);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_STR(str(spawn, "parent_span_id"), str(run, "span_id"));
  ASSERT_EQ_STR(attr_str(spawn, "tenant"), "42");
  find_in_trace(spans, INBOUND_TRACE, "tensor_wasm_exec::executor::call_export_with_args", &n);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_INT(orphans(spans), 1); /* only http.request: its parent is the caller's */
  json_decref(spans);
}

TEST_MAIN()
