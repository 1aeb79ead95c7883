/* One trace across two gateway nodes, as a real OTLP receiver sees it
 * (tests/otlp/receiver): jobs submitted through node A and run by node B.
 * The job's traceparent travels with it through NATS, so B's
 * async_invoke.job (and its invoke.run) join the trace whose http.request
 * arrived at A: same trace id as A's x-trace-id, async_invoke.job a child
 * of A's http.invoke_function_async, each span once, and each span from
 * the node that made it (service.name node-a / node-b).
 *
 * Which node claims a job is up to the shared consumer, so A gets a
 * dozen jobs and the test checks one that B ran (by its span's service);
 * the chance that A ran all twelve is about 2^-12 per run.
 *
 * Needs nats-server (else SKIPPED, exit 77) and the otlp/receiver_setup
 * fixture (npm ci). */
#include "cluster_util.h"
#include "otlp/otlp_receiver.h"
#include "test.h"

#define JOBS 12

static cu_nats g_nats;

__attribute__((constructor)) static void setup(void) {
  cu_setup();
  if (!cu_nats_start(&g_nats)) exit(1);
}

/* The one span named `name` of `trace`, or NULL (count in *n). */
static json_t *in_trace(json_t *spans, const char *trace, const char *name, int *n) {
  size_t i;
  json_t *s, *hit = NULL;
  *n = 0;
  json_array_foreach(spans, i, s) {
    if (strcmp(str(s, "trace_id"), trace) == 0 && strcmp(str(s, "name"), name) == 0) {
      hit = s;
      ++*n;
    }
  }
  return hit;
}

/* An async_invoke.job span from node-b whose trace is one of ours; the
 * index of its job in *which. */
static json_t *job_on_b(json_t *spans, char (*traces)[64], char (*jobs)[64], int *which) {
  size_t i;
  json_t *s;
  json_array_foreach(spans, i, s) {
    if (strcmp(str(s, "name"), "async_invoke.job") != 0 ||
        strcmp(str(s, "service_name"), "node-b") != 0)
      continue;
    for (int k = 0; k < JOBS; k++)
      if (strcmp(attr_str(s, "job_id"), jobs[k]) == 0 &&
          strcmp(str(s, "trace_id"), traces[k]) == 0) {
        *which = k;
        return s;
      }
  }
  return NULL;
}

TEST(trace_spans_nodes) {
  static cu_proc a, b;
  static receiver rc;
  char endpoint[96], fn[64], jobs[JOBS][64], traces[JOBS][64];
  ASSERT(receiver_start(&rc, 0));
  snprintf(endpoint, sizeof endpoint, "TENSOR_WASM_OTLP_ENDPOINT=http://127.0.0.1:%d",
           rc.grpc_port);
  cu_node_opts o;
  memset(&o, 0, sizeof o);
  o.prefix = "TRACE";
  o.extra_env[0] = endpoint;
  o.extra_env[1] = "OTEL_SERVICE_NAME=node-a";
  ASSERT(cu_node_start(&a, "a", &g_nats, &o));
  o.extra_env[1] = "OTEL_SERVICE_NAME=node-b";
  ASSERT(cu_node_start(&b, "b", &g_nats, &o));
  ASSERT(tu_deploy(a.base, "calc", NULL, NULL, fn));
  for (int i = 0; i < JOBS; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%d,1]", i);
    ASSERT_EQ_INT(cu_submit(&a, fn, "add", args, jobs[i], traces[i]), 202);
    ASSERT_EQ_INT(strlen(traces[i]), 32);
  }
  ASSERT(cu_wait_finished(&a, jobs, JOBS, 30000));
  /* Both nodes flush their spans when they stop. */
  cu_stop(&a, SIGTERM);
  cu_stop(&b, SIGTERM);

  json_t *spans = NULL, *job = NULL;
  int k = -1;
  for (long end = cu_now_ms() + 20000; !job && cu_now_ms() < end; tu_sleep_ms(200)) {
    json_decref(spans);
    spans = receiver_spans(&rc);
    job = job_on_b(spans, traces, jobs, &k);
  }
  receiver_stop(&rc);
  if (!job) {
    json_decref(spans);
    TW__FAIL("no async_invoke.job from node-b in any of the %d traces", JOBS);
  }
  int n_req, n_async, n_job, n_run;
  json_t *req = in_trace(spans, traces[k], "http.request", &n_req);
  json_t *async = in_trace(spans, traces[k], "http.invoke_function_async", &n_async);
  in_trace(spans, traces[k], "async_invoke.job", &n_job);
  json_t *run = in_trace(spans, traces[k], "invoke.run", &n_run);
  int ok = n_req == 1 && n_async == 1 && n_job == 1 && n_run == 1 && req && async && run &&
           strcmp(str(req, "service_name"), "node-a") == 0 &&
           strcmp(str(async, "service_name"), "node-a") == 0 &&
           strcmp(str(run, "service_name"), "node-b") == 0 &&
           strcmp(str(async, "parent_span_id"), str(req, "span_id")) == 0 &&
           strcmp(str(job, "parent_span_id"), str(async, "span_id")) == 0 &&
           strcmp(str(run, "parent_span_id"), str(job, "span_id")) == 0;
  if (!ok) {
    fprintf(stderr, "  trace %s: http.request x%d, http.invoke_function_async x%d, "
            "async_invoke.job x%d, invoke.run x%d\n", traces[k], n_req, n_async, n_job, n_run);
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s) if (strcmp(str(s, "trace_id"), traces[k]) == 0)
      fprintf(stderr, "    %s [%s] span %s parent %s\n", str(s, "name"), str(s, "service_name"),
              str(s, "span_id"), str(s, "parent_span_id"));
  }
  json_decref(spans);
  ASSERT(ok);
}

TEST_MAIN()
