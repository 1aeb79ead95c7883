/* Invocation over real HTTP: typed results, the default entry point,
 * every error kind the invoke routes produce (a trapping guest included,
 * after which the server keeps serving), deadlines, stdin/stdout, async
 * jobs and their records, the job admission cap, and the invocation
 * permits (429 per tenant, 503 global, both with Retry-After). */
#include <pthread.h>

#include "api_util.h"
#include "test.h"

#define EXPECT(resp, want_status, want_kind)                                  \
  do {                                                                        \
    char k_[64];                                                              \
    if ((resp).status != (want_status) ||                                     \
        strcmp(tu_kind(&(resp), k_, sizeof k_), (want_kind)) != 0) {          \
      fprintf(stderr, "  got %ld %s\n", (resp).status, (resp).body);          \
      ASSERT_EQ_INT((resp).status, (want_status));                            \
      ASSERT_EQ_STR(tu_kind(&(resp), k_, sizeof k_), (want_kind));            \
    }                                                                         \
  } while (0)

static void invoke(const tu_server *s, const char *id, const char *tenant, const char *json,
                   tu_resp *r) {
  char url[1024];
  const char *hs[] = {tenant, NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s->base, id);
  tu_http_json("POST", url, tenant ? hs : NULL, json, r);
}

static void expect_result(const tu_server *s, const char *id, const char *json,
                          const char *want, int *failed) {
  tu_resp r;
  invoke(s, id, NULL, json, &r);
  json_error_t jerr;
  json_t *doc = json_loads(r.body, 0, &jerr);
  char *got = json_dumps(json_object_get(doc, "result"), JSON_COMPACT | JSON_ENCODE_ANY);
  if (r.status != 200 || !got || strcmp(got, want) != 0) {
    fprintf(stderr, "  %s: got %ld %s, want result %s\n", json, r.status, r.body, want);
    *failed = 1;
  }
  free(got);
  json_decref(doc);
  tu_resp_free(&r);
}

TEST(typed_results_and_default_entry) {
  tu_server s;
  char calc[64], mainonly[64], fid[64];
  tu_resp r;
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  ASSERT(tu_deploy(s.base, "mainonly", NULL, NULL, mainonly));
  expect_result(&s, calc, "{\"export\":\"add\",\"args\":[2,40]}", "[42]", failed);
  expect_result(&s, calc, "{\"export\":\"add64\",\"args\":[5000000000,6000000000]}",
                "[11000000000]", failed);
  expect_result(&s, calc, "{\"export\":\"half\",\"args\":[5.0]}", "[2.5]", failed);
  expect_result(&s, calc, "{\"export\":\"none\"}", "\"ok\"", failed);
  expect_result(&s, calc, "{\"export\":\"count\",\"args\":[1000],\"extra\":true}", "[1000]",
                failed);
  /* No export: _start, else main.  An empty or non-JSON body is {}. */
  expect_result(&s, mainonly, "{}", "[7]", failed);
  expect_result(&s, mainonly, "", "[7]", failed);
  invoke(&s, mainonly, NULL, "{\"export\":\"main\"}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(tu_str(&r, "function_id", fid, sizeof fid), mainonly);
  tu_resp_free(&r);
  char url[1024];
  const char *text[] = {"Content-Type: text/plain", NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, mainonly);
  tu_http("POST", url, text, "{\"export\":\"nope\"}", 17, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  /* A named export has no fallback. */
  invoke(&s, mainonly, NULL, "{\"export\":\"_start\"}", &r);
  EXPECT(r, 400, "missing_export");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(invoke_errors_and_trap) {
  tu_server s;
  char calc[64], big[64], url[1024];
  tu_resp r;
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  ASSERT(tu_deploy(s.base, "bigmem", NULL, NULL, big));
  static const char *const cases[][3] = {
      {"{\"export\":\"nope\"}", "400", "missing_export"},
      {"{}", "400", "missing_export"},
      {"{\"export\":\"add\",\"args\":[1]}", "400", "invalid_args"},
      {"{\"export\":\"add\",\"args\":[1,\"2\"]}", "400", "invalid_args"},
      {"{\"export\":\"add\",\"args\":{\"a\":1}}", "400", "invalid_args"},
      {"{\"export\":\"add\",\"args\":[1,2],", "400", "invalid_json"},
      {"{\"export\":5}", "400", "invalid_json"},
      {"{\"export\":\"ref\"}", "400", "unsupported_return_type"},
      {"{\"export\":\"div\",\"args\":[1,0]}", "500", "wasmtime"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    invoke(&s, calc, NULL, cases[i][0], &r);
    EXPECT(r, atoi(cases[i][1]), cases[i][2]);
    if (i + 1 == sizeof cases / sizeof cases[0]) {
      ASSERT_CONTAINS(r.body, "integer divide by zero");
      ASSERT(strstr(r.body, "/tmp") == NULL);
    }
    tu_resp_free(&r);
  }
  /* 257 arguments. */
  char args[2048] = "{\"export\":\"add\",\"args\":[";
  for (int i = 0; i < 257; i++) strcat(args, i ? ",1" : "1");
  strcat(args, "]}");
  invoke(&s, calc, NULL, args, &r);
  EXPECT(r, 400, "too_many_args");
  tu_resp_free(&r);
  invoke(&s, big, NULL, "{}", &r);
  EXPECT(r, 413, "module_memory_too_large");
  tu_resp_free(&r);
  char table[64];
  ASSERT(tu_deploy(s.base, "bigtable", NULL, NULL, table));
  invoke(&s, table, NULL, "{}", &r);
  EXPECT(r, 413, "module_table_too_large");
  tu_resp_free(&r);
  /* After the trap the server still serves, and the same function runs. */
  expect_result(&s, calc, "{\"export\":\"div\",\"args\":[84,2]}", "[42]", failed);
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(deadline_is_504) {
  tu_server s;
  tw_api_config cfg;
  char calc[64];
  tu_resp r;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.deadline_ms = 200;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  invoke(&s, calc, NULL, "{\"export\":\"spin\"}", &r);
  EXPECT(r, 504, "invoke_timeout");
  tu_resp_free(&r);
  expect_result(&s, calc, "{\"export\":\"add\",\"args\":[1,2]}", "[3]", failed);
  tu_stop(&s);
}

TEST(stdin_and_stdout) {
  tu_server s;
  char cat[64], out[64], url[1024];
  tu_resp r;
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "cat", NULL, NULL, cat));
  invoke(&s, cat, NULL, "{\"input\":\"hello, guest\\n\"}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(tu_str(&r, "stdout", out, sizeof out), "hello, guest\n");
  ASSERT_EQ_STR(tu_str(&r, "result", out, sizeof out), "ok");
  tu_resp_free(&r);
  /* Bytes that are not UTF-8 come back in stdout_b64 only. */
  invoke(&s, cat, NULL, "{\"input_b64\":\"/wABAg==\"}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(tu_str(&r, "stdout_b64", out, sizeof out), "/wABAg==");
  ASSERT(strstr(r.body, "\"stdout\"") == NULL);
  tu_resp_free(&r);
  const char *raw[] = {"Content-Type: application/octet-stream", NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, cat);
  tu_http("POST", url, raw, "raw\0bytes", 9, &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(tu_str(&r, "stdout_b64", out, sizeof out), "cmF3AGJ5dGVz");
  tu_resp_free(&r);
  invoke(&s, cat, NULL, "{\"input\":\"a\",\"input_b64\":\"YQ==\"}", &r);
  EXPECT(r, 400, "bad_request");
  tu_resp_free(&r);
  invoke(&s, cat, NULL, "{\"input_b64\":\"YQ\"}", &r);
  EXPECT(r, 400, "invalid_base64");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(module_too_large_for_the_executor) {
  tu_server s;
  tw_exec_config ecfg;
  char calc[64];
  tu_resp r;
  memset(&ecfg, 0, sizeof ecfg);
  ecfg.max_module_bytes = 64; /* calc.wasm is larger: it deploys, never runs */
  ASSERT(tu_start_with(&s, NULL, NULL, &ecfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  invoke(&s, calc, NULL, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  EXPECT(r, 413, "module_too_large");
  tu_resp_free(&r);
  tu_stop(&s);
}

/* ---- async ------------------------------------------------------------------------- */

static bool submit(const tu_server *s, const char *id, const char *tenant, const char *json,
                   char job[64], tu_resp *r) {
  char url[1024];
  const char *hs[] = {tenant, NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", s->base, id);
  tu_http_json("POST", url, tenant ? hs : NULL, json, r);
  job[0] = '\0';
  if (r->status == 202) tu_str(r, "job_id", job, 64);
  return r->status == 202 && job[0];
}

/* Polls GET /jobs/:id until it is no longer pending (at most ~30 s);
 * returns the final record (caller decrefs) or NULL. */
static json_t *wait_job(const tu_server *s, const char *job, const char *tenant) {
  char url[1024];
  const char *hs[] = {tenant, NULL};
  snprintf(url, sizeof url, "%s/jobs/%s", s->base, job);
  for (int i = 0; i < 600; i++) {
    tu_resp r;
    json_error_t jerr;
    tu_http("GET", url, tenant ? hs : NULL, NULL, 0, &r);
    json_t *doc = r.status == 200 ? json_loads(r.body, 0, &jerr) : NULL;
    tu_resp_free(&r);
    const char *st = json_string_value(json_object_get(doc, "status"));
    if (st && strcmp(st, "pending") != 0) return doc;
    json_decref(doc);
    tu_sleep_ms(50);
  }
  return NULL;
}

TEST(async_jobs) {
  tu_server s;
  char calc[64], job[64], url[1024];
  tu_resp r;
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, "X-TensorWasm-Tenant: 5", calc));
  ASSERT(submit(&s, calc, "X-TensorWasm-Tenant: 5", "{\"export\":\"add\",\"args\":[40,2]}", job,
                &r));
  tu_resp_free(&r);
  json_t *rec = wait_job(&s, job, "X-TensorWasm-Tenant: 5");
  ASSERT(rec != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(rec, "status")), "completed");
  ASSERT_EQ_STR(json_string_value(json_object_get(rec, "id")), job);
  ASSERT_EQ_STR(json_string_value(json_object_get(rec, "function_id")), calc);
  ASSERT_EQ_INT(json_integer_value(json_object_get(rec, "tenant_id")), 5);
  ASSERT(json_integer_value(json_object_get(rec, "created_unix_ms")) > 0);
  json_t *res = json_object_get(json_object_get(rec, "result"), "result");
  ASSERT(json_is_array(res) && json_integer_value(json_array_get(res, 0)) == 42);
  json_decref(rec);
  /* Another tenant may not read it. */
  snprintf(url, sizeof url, "%s/jobs/%s", s.base, job);
  const char *other[] = {"X-TensorWasm-Tenant: 6", NULL};
  tu_http("GET", url, other, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  /* A failing job ends failed with {kind, message}. */
  ASSERT(submit(&s, calc, "X-TensorWasm-Tenant: 5", "{\"export\":\"div\",\"args\":[1,0]}", job,
                &r));
  tu_resp_free(&r);
  rec = wait_job(&s, job, "X-TensorWasm-Tenant: 5");
  ASSERT(rec != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(rec, "status")), "failed");
  json_t *err = json_object_get(rec, "result");
  ASSERT_EQ_STR(json_string_value(json_object_get(err, "kind")), "wasmtime");
  ASSERT_CONTAINS(json_string_value(json_object_get(err, "message")), "divide by zero");
  json_decref(rec);
  /* Bad arguments are refused before a job exists. */
  submit(&s, calc, "X-TensorWasm-Tenant: 5", "{\"export\":\"add\",\"args\":[\"x\"]}", job, &r);
  EXPECT(r, 400, "invalid_args");
  tu_resp_free(&r);
  submit(&s, "00000000-0000-4000-8000-000000000000", "X-TensorWasm-Tenant: 5", "{}", job, &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  submit(&s, calc, "X-TensorWasm-Tenant: 6", "{}", job, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(async_admission_cap) {
  tu_server s;
  tw_api_config cfg;
  tw_registry_options ropt;
  char calc[64], job1[64], job2[64];
  tu_resp r;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.deadline_ms = 5000;
  tw_registry_options_init(&ropt);
  ropt.max_outstanding_jobs = 1;
  ASSERT(tu_start(&s, &cfg, &ropt));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  ASSERT(submit(&s, calc, NULL, "{\"export\":\"spin\"}", job1, &r));
  tu_resp_free(&r);
  submit(&s, calc, NULL, "{\"export\":\"add\",\"args\":[1,2]}", job2, &r);
  /* The cap holds only while job 1 is outstanding: check that it was. */
  char url[1024];
  tu_resp st;
  snprintf(url, sizeof url, "%s/jobs/%s", s.base, job1);
  tu_http("GET", url, NULL, NULL, 0, &st);
  char status[32];
  ASSERT_EQ_STR(tu_str(&st, "status", status, sizeof status), "pending");
  tu_resp_free(&st);
  EXPECT(r, 503, "capacity_exhausted");
  ASSERT_EQ_STR(r.retry_after, "1");
  tu_resp_free(&r);
  json_t *rec = wait_job(&s, job1, NULL);
  ASSERT(rec != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(rec, "result"), "kind")),
                "invoke_timeout");
  json_decref(rec);
  /* Finished jobs free their slot. */
  ASSERT(submit(&s, calc, NULL, "{\"export\":\"add\",\"args\":[1,2]}", job2, &r));
  tu_resp_free(&r);
  rec = wait_job(&s, job2, NULL);
  ASSERT(rec != NULL);
  json_decref(rec);
  tu_stop(&s);
}

TEST(job_retention_applied) {
  tu_server s;
  tw_api_config cfg;
  tw_registry_options ropt;
  char calc[64], jobs[3][64], dir[64], url[1024];
  tu_resp r;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  tw_registry_options_init(&ropt);
  ropt.retain_jobs = 1;
  ASSERT(tu_start(&s, &cfg, &ropt));
  snprintf(dir, sizeof dir, "%s", s.dir);
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  for (int i = 0; i < 3; i++) {
    ASSERT(submit(&s, calc, NULL, "{\"export\":\"add\",\"args\":[1,2]}", jobs[i], &r));
    tu_resp_free(&r);
    json_t *rec = wait_job(&s, jobs[i], NULL);
    ASSERT(rec != NULL);
    json_decref(rec);
  }
  tu_stop_keep(&s, true);
  /* The retention pass runs at start: only the newest finished job stays. */
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  ASSERT(tu_start_with(&s, &cfg, &ropt, NULL, dir));
  for (int i = 0; i < 3; i++) {
    snprintf(url, sizeof url, "%s/jobs/%s", s.base, jobs[i]);
    tu_http("GET", url, NULL, NULL, 0, &r);
    ASSERT_EQ_INT(r.status, i == 2 ? 200 : 404);
    tu_resp_free(&r);
  }
  tu_stop(&s);
}

/* ---- permits -------------------------------------------------------------------------- */

typedef struct bg_call {
  const tu_server *s;
  const char *id;
  const char *tenant;
  tu_resp r;
  pthread_t th;
} bg_call;

static void *bg_main(void *arg) {
  bg_call *b = arg;
  invoke(b->s, b->id, b->tenant, "{\"export\":\"spin\"}", &b->r);
  return NULL;
}

/* Polls /metrics until tensor_wasm_backpressure_permits_used is `want`. */
static bool wait_permits(const tu_server *s, int want) {
  char url[1024], line[96];
  snprintf(url, sizeof url, "%s/metrics", s->base);
  snprintf(line, sizeof line, "\ntensor_wasm_backpressure_permits_used %d\n", want);
  for (int i = 0; i < 400; i++) {
    tu_resp r;
    tu_http("GET", url, NULL, NULL, 0, &r);
    bool ok = r.body && strstr(r.body, line);
    tu_resp_free(&r);
    if (ok) return true;
    tu_sleep_ms(25);
  }
  return false;
}

TEST(invocation_permits) {
  tu_server s;
  tw_api_config cfg;
  char calc[64];
  tu_resp r;
  bg_call a, b;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.workers = 1;
  cfg.max_inflight = 2;
  cfg.tenant_max_inflight = 1;
  /* The spinning calls hold their permits until this deadline: long enough
   * that a loaded machine (ctest -j3 beside the hostile suite once took
   * over 3 s between seeing the permit held and the next request) still
   * asks while they hold. */
  cfg.deadline_ms = 8000;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, "X-TensorWasm-Tenant: 5", calc));
  char calc6[64];
  ASSERT(tu_deploy(s.base, "calc", NULL, "X-TensorWasm-Tenant: 6", calc6));
  a = (bg_call){.s = &s, .id = calc, .tenant = "X-TensorWasm-Tenant: 5"};
  pthread_create(&a.th, NULL, bg_main, &a);
  ASSERT(wait_permits(&s, 1));
  /* Tenant 5 holds its one permit. */
  invoke(&s, calc, "X-TensorWasm-Tenant: 5", "{\"export\":\"add\",\"args\":[1,2]}", &r);
  EXPECT(r, 429, "tenant_capacity_exhausted");
  ASSERT_EQ_STR(r.retry_after, "1");
  tu_resp_free(&r);
  b = (bg_call){.s = &s, .id = calc6, .tenant = "X-TensorWasm-Tenant: 6"};
  pthread_create(&b.th, NULL, bg_main, &b);
  ASSERT(wait_permits(&s, 2));
  /* Both global permits are held (one running, one queued). */
  invoke(&s, calc, "X-TensorWasm-Tenant: 7", "{\"export\":\"add\",\"args\":[1,2]}", &r);
  EXPECT(r, 503, "capacity_exhausted");
  ASSERT_EQ_STR(r.retry_after, "1");
  tu_resp_free(&r);
  pthread_join(a.th, NULL);
  pthread_join(b.th, NULL);
  EXPECT(a.r, 504, "invoke_timeout");
  EXPECT(b.r, 504, "invoke_timeout");
  tu_resp_free(&a.r);
  tu_resp_free(&b.r);
  ASSERT(wait_permits(&s, 0));
  tu_stop(&s);
}

TEST(graceful_stop_finishes_inflight_work) {
  tu_server s;
  tw_api_config cfg;
  char calc[64];
  bg_call a;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.deadline_ms = 500;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, calc));
  a = (bg_call){.s = &s, .id = calc, .tenant = NULL};
  pthread_create(&a.th, NULL, bg_main, &a);
  ASSERT(wait_permits(&s, 1));
  tu_server copy = s;
  tu_stop(&copy); /* while the call runs: it still gets its answer */
  pthread_join(a.th, NULL);
  EXPECT(a.r, 504, "invoke_timeout");
  tu_resp_free(&a.r);
}

TEST_MAIN()
