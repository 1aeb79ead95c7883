/* OTLP export into a real receiver (tests/otlp/receiver: @grpc/grpc-js and
 * OpenTelemetry's published protobuf decoders), over gRPC and over
 * http/protobuf.
 *
 * Each test starts the receiver on free loopback ports, emits the
 * executor-shaped subtree the executor will produce
 *
 *   http.request (parent: an inbound traceparent)
 *   └── tensor_wasm_exec::executor::spawn_instance
 *       ├── tensor_wasm_exec::executor::call_export_with_args (on a worker)
 *       │   └── wasi_cuda.launch
 *       └── tensor_wasm_exec::executor::terminate
 *
 * shuts tracing down (which flushes), and checks what the receiver
 * decoded: names, attributes, parent ids, trace ids, service.name, exact
 * times.  Needs the otlp/receiver_setup fixture (npm ci). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "otlp/otlp_receiver.h"
#include "tensorwasm/trace.h"
#include "test.h"

#define INBOUND "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

/* Waits until the exporter has settled `want` spans (exported or
 * dropped) since init; no time bound here, ctest's timeout is the bound. */
static void wait_for_export(uint64_t want) {
  for (;;) {
    tw_trace_stats st;
    tw_trace_stats_get(&st);
    if (st.spans_exported + st.spans_dropped >= want) return;
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
}

/* ---- what the sink saw (for exact comparisons) --------------------------- */

typedef struct seen {
  char name[80];
  char span_id[17];
  uint64_t start, end;
} seen;

static struct {
  pthread_mutex_t lock;
  seen s[64];
  int n;
} sunk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void sink(const tw_span_t *span, void *user) {
  tw_trace_ctx ctx = tw_span_context(span);
  (void)user;
  pthread_mutex_lock(&sunk.lock);
  if (sunk.n < 64) {
    seen *x = &sunk.s[sunk.n++];
    snprintf(x->name, sizeof x->name, "%s", tw_span_name(span));
    tw_span_id_hex(&ctx, x->span_id);
    x->start = tw_span_start_ns(span);
    x->end = tw_span_end_ns(span);
  }
  pthread_mutex_unlock(&sunk.lock);
}

static const seen *seen_named(const char *name) {
  for (int i = 0; i < sunk.n; i++)
    if (strcmp(sunk.s[i].name, name) == 0) return &sunk.s[i];
  return NULL;
}

/* ---- the executor-shaped run --------------------------------------------- */

static void *call_on_worker(void *arg) {
  const tw_trace_ctx *ctx = arg;
  tw_trace_scope scope;
  tw_trace_ctx_attach(ctx, &scope);
  tw_span_t *call = tw_span_begin(
      "tensor_wasm_exec::executor::call_export_with_args", "tensor-wasm-exec",
      TW_LEVEL_INFO);
  tw_span_attr_str(call, "instance", "i_99");
  tw_span_attr_str(call, "export", "run");
  tw_span_attr_int(call, "args_len", 2);
  tw_span_t *launch =
      tw_span_begin("wasi_cuda.launch", "tensor-wasm-wasi-gpu", TW_LEVEL_INFO);
  tw_span_attr_str(launch, "instance", "i_99");
  tw_span_attr_int(launch, "grid_x", 64);
  tw_span_attr_int(launch, "shared_mem", -1);
  tw_span_attr_bool(launch, "cooperative", true);
  tw_span_attr_double(launch, "occupancy", 0.75);
  tw_span_end(launch);
  tw_event(TW_LEVEL_INFO, "tensor-wasm-exec", "export returned");
  tw_span_end(call);
  tw_trace_ctx_detach(&scope);
  return NULL;
}

static void emit_run(void) {
  tw_trace_ctx inbound;
  pthread_t worker;
  if (!tw_traceparent_parse(INBOUND, strlen(INBOUND), &inbound)) abort();
  tw_span_t *req = tw_span_begin_with_parent("http.request", "tower-http",
                                             TW_LEVEL_INFO, &inbound);
  tw_span_set_kind(req, TW_SPAN_KIND_SERVER);
  tw_span_attr_str(req, "method", "POST");
  tw_span_attr_str(req, "uri", "/functions/fn_x/invoke");
  tw_span_attr_str(req, "version", "HTTP/1.1");
  tw_span_attr_str(req, "traceparent", INBOUND);
  tw_span_t *spawn = tw_span_begin("tensor_wasm_exec::executor::spawn_instance",
                                   "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_span_attr_str(spawn, "tenant", "t_42");
  tw_span_attr_str(spawn, "instance_id", "i_99");
  tw_span_attr_int(spawn, "wasm_bytes", 1234);
  tw_trace_ctx ctx;
  tw_trace_ctx_current(&ctx);
  pthread_create(&worker, NULL, call_on_worker, &ctx);
  pthread_join(worker, NULL);
  tw_span_t *term = tw_span_begin("tensor_wasm_exec::executor::terminate",
                                  "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_span_attr_str(term, "instance", NULL); /* required, value unknown */
  tw_span_set_status(term, TW_SPAN_STATUS_ERROR, "instance already gone");
  tw_span_end(term);
  tw_span_end(spawn);
  tw_span_end(req);
}

enum { RUN_SPANS = 5 };

static bool init_tracing(const char *endpoint, const char *protocol,
                         uint32_t batch, uint32_t interval_ms) {
  tw_trace_config cfg;
  tw_error err;
  static FILE *quiet; /* fmt lines are not under test here */
  if (!quiet && !(quiet = fopen("/dev/null", "w"))) return false;
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt_out = quiet;
  cfg.otlp_endpoint = endpoint;
  cfg.otlp_protocol = protocol;
  cfg.batch_size = batch;
  cfg.flush_interval_ms = interval_ms;
  cfg.sink = sink;
  sunk.n = 0;
  if (tw_trace_init(&cfg, &err) != TW_OK) {
    fprintf(stderr, "  tw_trace_init: %s\n", err.message);
    return false;
  }
  return true;
}

/* Checks the received run against what was emitted. */
static void check_run(int *failed, json_t *spans, const char *protocol,
                      const char *service) {
  json_t *req = span_named(spans, "http.request");
  json_t *spawn = span_named(spans, "tensor_wasm_exec::executor::spawn_instance");
  json_t *call =
      span_named(spans, "tensor_wasm_exec::executor::call_export_with_args");
  json_t *launch = span_named(spans, "wasi_cuda.launch");
  json_t *term = span_named(spans, "tensor_wasm_exec::executor::terminate");
  size_t i;
  json_t *s;

  ASSERT_EQ_INT(json_array_size(spans), RUN_SPANS);
  ASSERT(req && spawn && call && launch && term);
  json_array_foreach(spans, i, s) {
    ASSERT_EQ_STR(str(s, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    ASSERT_EQ_STR(str(s, "service_name"), service);
    ASSERT_EQ_STR(str(s, "protocol"), protocol);
    ASSERT_EQ_INT(json_integer_value(json_object_get(s, "flags")), 1);
    /* Times arrive exactly as recorded (64-bit, as decimal strings). */
    const seen *x = seen_named(str(s, "name"));
    char buf[32];
    ASSERT(x);
    ASSERT_EQ_STR(str(s, "span_id"), x->span_id);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)x->start);
    ASSERT_EQ_STR(str(s, "start"), buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)x->end);
    ASSERT_EQ_STR(str(s, "end"), buf);
  }
  /* Parents: the inbound caller, then the tree. */
  ASSERT_EQ_STR(str(req, "parent_span_id"), "b7ad6b7169203331");
  ASSERT_EQ_STR(str(spawn, "parent_span_id"), str(req, "span_id"));
  ASSERT_EQ_STR(str(call, "parent_span_id"), str(spawn, "span_id"));
  ASSERT_EQ_STR(str(launch, "parent_span_id"), str(call, "span_id"));
  ASSERT_EQ_STR(str(term, "parent_span_id"), str(spawn, "span_id"));
  /* Scope = target; kind. */
  ASSERT_EQ_STR(str(req, "scope"), "tower-http");
  ASSERT_EQ_STR(str(spawn, "scope"), "tensor-wasm-exec");
  ASSERT_EQ_STR(str(launch, "scope"), "tensor-wasm-wasi-gpu");
  ASSERT_EQ_INT(json_integer_value(json_object_get(req, "kind")), 2);
  ASSERT_EQ_INT(json_integer_value(json_object_get(spawn, "kind")), 1);
  /* Attributes of every type. */
  ASSERT_EQ_STR(attr_str(req, "method"), "POST");
  ASSERT_EQ_STR(attr_str(req, "uri"), "/functions/fn_x/invoke");
  ASSERT_EQ_STR(attr_str(req, "version"), "HTTP/1.1");
  ASSERT_EQ_STR(attr_str(req, "traceparent"), INBOUND);
  ASSERT_EQ_STR(attr_str(spawn, "tenant"), "t_42");
  ASSERT_EQ_STR(attr_str(spawn, "instance_id"), "i_99");
  ASSERT_EQ_STR(attr_int(spawn, "wasm_bytes"), "1234");
  ASSERT_EQ_STR(attr_str(call, "instance"), "i_99");
  ASSERT_EQ_STR(attr_str(call, "export"), "run");
  ASSERT_EQ_STR(attr_int(call, "args_len"), "2");
  ASSERT_EQ_STR(attr_int(launch, "grid_x"), "64");
  ASSERT_EQ_STR(attr_int(launch, "shared_mem"), "-1");
  json_t *attrs = json_object_get(launch, "attributes");
  ASSERT(json_is_true(json_object_get(attrs, "cooperative")));
  ASSERT(json_real_value(json_object_get(json_object_get(attrs, "occupancy"),
                                         "double")) == 0.75);
  ASSERT_EQ_STR(attr_str(term, "instance"), "unknown");
  /* Status and events. */
  json_t *st = json_object_get(term, "status");
  ASSERT_EQ_INT(json_integer_value(json_object_get(st, "code")), 2);
  ASSERT_EQ_STR(str(st, "message"), "instance already gone");
  json_t *ev = json_array_get(json_object_get(call, "events"), 0);
  ASSERT(ev);
  ASSERT_EQ_STR(str(ev, "name"), "export returned");
  ASSERT_EQ_STR(str(json_object_get(ev, "attributes"), "level"), "INFO");
  ASSERT_EQ_STR(str(json_object_get(ev, "attributes"), "target"),
                "tensor-wasm-exec");
}

static void clear_env(void) {
  unsetenv("TENSOR_WASM_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("TENSOR_WASM_LOG");
}

TEST(grpc_export) {
  receiver r;
  char endpoint[64];
  tw_trace_stats st;
  clear_env();
  ASSERT(receiver_start(&r, 0));
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", r.grpc_port);
  setenv("OTEL_SERVICE_NAME", "tw-test-grpc", 1);
  ASSERT(init_tracing(endpoint, NULL, 0, 0)); /* protocol default: grpc */
  emit_run();
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  json_t *spans = receiver_spans(&r);
  receiver_stop(&r);
  ASSERT_EQ_INT(st.spans_exported, RUN_SPANS);
  ASSERT_EQ_INT(st.spans_dropped, 0);
  check_run(failed, spans, "grpc", "tw-test-grpc");
  json_decref(spans);
}

TEST(http_protobuf_export_from_env) {
  receiver r;
  char endpoint[64];
  tw_trace_stats st;
  clear_env();
  ASSERT(receiver_start(&r, 0));
  /* The TensorWasm variable wins over the OTel one (a dead port here);
   * the default service name applies. */
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/", r.http_port);
  setenv("TENSOR_WASM_OTLP_ENDPOINT", endpoint, 1);
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", 1);
  setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
  ASSERT(init_tracing(NULL, NULL, 0, 0));
  emit_run();
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  json_t *spans = receiver_spans(&r);
  receiver_stop(&r);
  clear_env();
  ASSERT_EQ_INT(st.spans_exported, RUN_SPANS);
  ASSERT_EQ_INT(st.export_requests, 1);
  check_run(failed, spans, "http/protobuf", "tensor-wasm");
  json_decref(spans);
}

TEST(fallback_endpoint_variable) {
  receiver r;
  char endpoint[64];
  tw_trace_stats st;
  clear_env();
  ASSERT(receiver_start(&r, 0));
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", r.grpc_port);
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, 1);
  ASSERT(init_tracing(NULL, NULL, 0, 0));
  emit_run();
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  json_t *spans = receiver_spans(&r);
  receiver_stop(&r);
  clear_env();
  ASSERT_EQ_INT(st.spans_exported, RUN_SPANS);
  check_run(failed, spans, "grpc", "tensor-wasm");
  json_decref(spans);
}

TEST(retries_after_unavailable) {
  static const char *const protocols[] = {"grpc", "http/protobuf"};
  for (int p = 0; p < 2; p++) {
    receiver r;
    char endpoint[64];
    tw_trace_stats st;
    clear_env();
    ASSERT(receiver_start(&r, 2));
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d",
             p == 0 ? r.grpc_port : r.http_port);
    ASSERT(init_tracing(endpoint, protocols[p], 0, 0));
    emit_run();
    tw_trace_shutdown();
    tw_trace_stats_get(&st);
    json_t *spans = receiver_spans(&r);
    receiver_stop(&r);
    ASSERT_EQ_INT(st.export_retries, 2);
    ASSERT_EQ_INT(st.export_requests, 3);
    ASSERT_EQ_INT(st.spans_exported, RUN_SPANS);
    ASSERT_EQ_INT(st.spans_dropped, 0);
    check_run(failed, spans, protocols[p], "tensor-wasm");
    json_decref(spans);
    if (*failed) return;
  }
}

/* A full batch is sent without waiting for the (hour-long) timer, and
 * a lone span goes out on a short timer, both before shutdown. */
TEST(size_and_timed_flush) {
  receiver r;
  char endpoint[64];
  tw_trace_stats st;
  clear_env();
  ASSERT(receiver_start(&r, 0));
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", r.grpc_port);
  ASSERT(init_tracing(endpoint, "grpc", 4, 3600 * 1000));
  for (int i = 0; i < 8; i++)
    tw_span_end(tw_span_begin("batched", "tensor-wasm-exec", TW_LEVEL_INFO));
  wait_for_export(8);
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_exported, 8);
  ASSERT_EQ_INT(st.export_requests, 2);
  tw_trace_shutdown();

  ASSERT(init_tracing(endpoint, "grpc", 512, 20));
  tw_span_end(tw_span_begin("lonely", "tensor-wasm-exec", TW_LEVEL_INFO));
  wait_for_export(1);
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_exported, 1);
  tw_trace_shutdown();
  json_t *spans = receiver_spans(&r);
  receiver_stop(&r);
  ASSERT(span_named(spans, "lonely"));
  ASSERT_EQ_INT(json_array_size(spans), 9);
  json_decref(spans);
}

/* The real thing: `tensor-wasm run` of an example module, exporting to
 * the receiver, produces the seed's executor subtree (call and terminate
 * children of spawn_instance, one trace) with its required attributes.
 * The CLI's default filter is warn, as the original's; the executor's
 * spans are info, so the filter names them (one filter serves the stderr
 * lines and the export, as EnvFilter did). */
TEST(cli_run_exports_executor_subtree) {
  receiver r;
  char endpoint[64], cmd[1024];
  clear_env();
  ASSERT(receiver_start(&r, 0));
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", r.grpc_port);
  snprintf(cmd, sizeof cmd,
           "TENSOR_WASM_OTLP_ENDPOINT=%s OTEL_SERVICE_NAME=tw-cli-run "
           "TENSOR_WASM_LOG=tensor_wasm_exec=info,warn "
           "%s/tensor-wasm run %s/examples/add.wasm --invoke add 2 40 "
           ">/dev/null 2>&1",
           endpoint, TW_BUILD_DIR, TW_BUILD_DIR);
  int rc = system(cmd); /* exits after flushing its spans */
  json_t *spans = receiver_spans(&r);
  receiver_stop(&r);
  ASSERT_EQ_INT(rc, 0);
  json_t *spawn = span_named(spans, "tensor_wasm_exec::executor::spawn_instance");
  json_t *call =
      span_named(spans, "tensor_wasm_exec::executor::call_export_with_args");
  json_t *term = span_named(spans, "tensor_wasm_exec::executor::terminate");
  ASSERT(spawn && call && term);
  ASSERT_EQ_STR(str(spawn, "service_name"), "tw-cli-run");
  ASSERT_EQ_STR(str(call, "parent_span_id"), str(spawn, "span_id"));
  ASSERT_EQ_STR(str(term, "parent_span_id"), str(spawn, "span_id"));
  ASSERT_EQ_STR(str(call, "trace_id"), str(spawn, "trace_id"));
  ASSERT_EQ_STR(str(term, "trace_id"), str(spawn, "trace_id"));
  ASSERT_EQ_STR(attr_str(call, "export"), "add");
  ASSERT(strcmp(attr_int(call, "args_len"), "2") == 0 ||
         strcmp(attr_str(call, "args_len"), "2") == 0);
  ASSERT(json_object_get(json_object_get(spawn, "attributes"), "tenant"));
  ASSERT(json_object_get(json_object_get(spawn, "attributes"), "instance_id"));
  ASSERT(json_object_get(json_object_get(term, "attributes"), "instance"));
  json_decref(spans);
}

TEST_MAIN()
