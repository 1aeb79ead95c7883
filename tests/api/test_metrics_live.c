/* The metrics of a running gateway, as the tools that read them see them:
 *
 *  - a workload that touches every area (deploy, invoke ok / trap /
 *    timeout, an async job, module cache hits, warm pool draws, a
 *    snapshot-backed spawn, GPU kernels, buffers and a foreign handle on
 *    the fake CUDA driver), after which every area's series has moved and
 *    every metric name that docs/dashboards/tensor-wasm-overview.json,
 *    docs/dashboards/tensor-wasm-slo-rules.yml and docs/SLO.md mention is
 *    in a live scrape (no panel left with "No data" for want of a metric);
 *  - `promtool check metrics` accepts that scrape, and `promtool check
 *    rules` the SLO rule file;
 *  - a real Prometheus server scrapes the gateway over loopback, evaluates
 *    the SLO rules without error, and its query API returns the series.
 *
 * The gateway runs in this process (tests/api/api_util.h), so the
 * snapshot and GPU steps, which the HTTP API does not offer, go through
 * the same executor and land in the same registry.  promtool, prometheus,
 * the fake driver and the guests are fixed at configure time
 * (cmake/metrics.cmake); without promtool or prometheus the program exits
 * 77 (skipped).  Prometheus gets a temporary storage directory, a free
 * loopback port and a 1 s scrape interval, and is killed at the end. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "api_util.h"
#include "tensorwasm/snapshot.h"
#include "test.h"

#ifndef TW_PROMTOOL
#define TW_PROMTOOL ""
#endif
#ifndef TW_PROMETHEUS
#define TW_PROMETHEUS ""
#endif
#ifndef TW_FAKE_CUDA_PATH
#define TW_FAKE_CUDA_PATH ""
#endif
#ifndef TW_WAT2WASM
#define TW_WAT2WASM "wat2wasm"
#endif

#define DASHBOARD TW_SOURCE_DIR "/docs/dashboards/tensor-wasm-overview.json"
#define RULES TW_SOURCE_DIR "/docs/dashboards/tensor-wasm-slo-rules.yml"
#define SLO_DOC TW_SOURCE_DIR "/docs/SLO.md"
#define SHIM TW_BUILD_DIR "/tests/gpu/shim.wasm"
#define GPU_DEMO TW_BUILD_DIR "/examples/gpu/gpu_demo.wasm"

#define TENANT "X-TensorWasm-Tenant: 11"

/* ---- small helpers ------------------------------------------------------------ */

static char *scrape(const tu_server *s) {
  char url[256];
  tu_resp r;
  snprintf(url, sizeof url, "%s/metrics", s->base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  if (r.status != 200) {
    fprintf(stderr, "  GET /metrics: %ld\n", r.status);
    tu_resp_free(&r);
    return NULL;
  }
  return r.body; /* ownership passes to the caller */
}

/* The value of the sample whose line starts with `series` followed by a
 * space (`series` is a name or a name{labels} exactly as rendered); NAN
 * when there is none. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
  return NAN;
}

/* Does the scrape hold at least one sample of metric `name`? */
static bool has_samples(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (*p != '#' && strncmp(p, name, n) == 0 && (p[n] == '{' || p[n] == ' ')) return true;
  return false;
}

static void invoke(const tu_server *s, const char *id, const char *json, tu_resp *r) {
  char url[256];
  const char *hs[] = {TENANT, NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s->base, id);
  tu_http_json("POST", url, hs, json, r);
}

static long invoke_status(const tu_server *s, const char *id, const char *json) {
  tu_resp r;
  invoke(s, id, json, &r);
  long st = r.status;
  tu_resp_free(&r);
  return st;
}

/* Polls the scrape (bounded: ~10 s) until `series` is at least `min`. */
static bool wait_sample(const tu_server *s, const char *series, double min) {
  for (int i = 0; i < 200; i++) {
    char *text = scrape(s);
    double v = text ? sample(text, series) : NAN;
    free(text);
    if (v >= min) return true;
    tu_sleep_ms(50);
  }
  return false;
}

/* Runs `cmd` through the shell; its exit status, output in `out`. */
static int run_cmd(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  size_t n = p ? fread(out, 1, cap - 1, p) : 0;
  out[n] = '\0';
  int st = p ? pclose(p) : -1;
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

/* ---- metric names mentioned by the dashboard and the SLO documents -------------- */

typedef struct names {
  char items[256][96];
  size_t count;
} names;

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == ':'; }

/* Adds every token that starts with tensor_wasm_ or process_ in `text`. */
static void names_scan(names *ns, const char *text) {
  static const char *const prefixes[] = {"tensor_wasm_", "process_"};
  for (const char *p = text; *p; p++) {
    if (p > text && ident_char(p[-1])) continue;
    for (size_t k = 0; k < 2; k++) {
      size_t pl = strlen(prefixes[k]);
      if (strncmp(p, prefixes[k], pl) != 0) continue;
      size_t n = pl;
      while (ident_char(p[n])) n++;
      if (n >= sizeof ns->items[0]) continue;
      char name[96];
      memcpy(name, p, n);
      name[n] = '\0';
      bool seen = false;
      for (size_t i = 0; i < ns->count && !seen; i++) seen = strcmp(ns->items[i], name) == 0;
      if (!seen && ns->count < sizeof ns->items / sizeof ns->items[0])
        snprintf(ns->items[ns->count++], sizeof ns->items[0], "%s", name);
    }
  }
}

/* Every string in a JSON document (panel queries, template variables,
 * descriptions), scanned for names. */
static void names_scan_json(names *ns, json_t *v) {
  const char *key;
  json_t *child;
  size_t i;
  if (json_is_string(v)) names_scan(ns, json_string_value(v));
  else if (json_is_object(v)) json_object_foreach(v, key, child) names_scan_json(ns, child);
  else if (json_is_array(v)) json_array_foreach(v, i, child) names_scan_json(ns, child);
}

/* A name is served when the scrape has samples under it, or it is a
 * histogram family (whose samples are name_bucket/_sum/_count). */
static bool served(const char *text, const char *name) {
  if (has_samples(text, name)) return true;
  char count[128];
  snprintf(count, sizeof count, "%s_count", name);
  return has_samples(text, count);
}

/* ---- the workload ---------------------------------------------------------------- */

static bool start_server(tu_server *s) {
  tw_api_config cfg;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.metrics_token = "";
  cfg.deadline_ms = 300; /* the spin call times out quickly */
  tw_exec_config ecfg;
  memset(&ecfg, 0, sizeof ecfg);
  ecfg.pool_warm_per_module = 2;
  return tu_start_with(s, &cfg, NULL, &ecfg, NULL);
}

/* The snapshot guest: its initialiser sets a global that `add` adds in,
 * so a result of 42 from add(1, 1) shows the instance started from the
 * captured state. */
static const char snap_guest[] =
    "(module (memory (export \"memory\") 1)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (data (i32.const 16) \"tensorwasm\")\n"
    "  (func (export \"wizer.initialize\") (global.set $g (i32.const 40)))\n"
    "  (func (export \"add\") (param i32 i32) (result i32)\n"
    "    (i32.add (i32.add (local.get 0) (local.get 1)) (global.get $g))))\n";

/* Captures snap_guest into a snapshot file (the initialiser runs once)
 * and spawns from it through the gateway's executor; while the instance
 * lives, the tenant's instance and host-memory gauges show it. */
static void snapshot_spawn(tu_server *s, int *failed) {
  char wat[128], path[128], snap[128], cmd[512];
  size_t len;
  snprintf(wat, sizeof wat, "%s/snap.wat", s->dir);
  snprintf(path, sizeof path, "%s/snap.wasm", s->dir);
  snprintf(snap, sizeof snap, "%s/snap.snap", s->dir);
  snprintf(cmd, sizeof cmd, "'%s' '%s' -o '%s'", TW_WAT2WASM, wat, path);
  ASSERT(write_file(wat, snap_guest));
  ASSERT_EQ_INT(system(cmd), 0);
  uint8_t *wasm = tu_read_file(path, &len);
  ASSERT(wasm);
  tw_engine_t *engine;
  tw_store_t *store;
  tw_module_t *mod;
  tw_error e;
  tw_snapshot_error se;
  ASSERT_EQ_INT(tw_engine_new(NULL, &engine, &e), TW_OK);
  ASSERT_EQ_INT(tw_store_new(engine, &store, &e), TW_OK);
  ASSERT_EQ_INT(tw_module_new(engine, wasm, len, &mod, &e), TW_OK);
  tw_status st = tw_snapshot_capture_file(store, mod, NULL, 0, NULL, snap, NULL, &se);
  tw_store_free(store);
  tw_module_free(mod);
  tw_engine_free(engine);
  ASSERT_EQ_INT(st, TW_OK);

  tw_spawn_config cfg = {.tenant_id = 11, .snapshot_path = snap};
  tw_instance_id id;
  tw_exec_error err;
  st = tw_exec_spawn_instance(s->exec, &cfg, wasm, len, &id, &err);
  free(wasm);
  ASSERT_EQ_INT(st, TW_OK);
  char *text = scrape(s);
  ASSERT(text);
  double live = sample(text, "tensor_wasm_active_instances{tenant=\"11\"}");
  double host = sample(text, "tensor_wasm_cpu_memory_bytes_per_tenant{tenant_id=\"11\"}");
  free(text);
  tw_val args[2] = {{.type = TW_I32, .of.i32 = 1}, {.type = TW_I32, .of.i32 = 1}};
  tw_exec_result res = {0};
  st = tw_exec_call_export_with_args_then_terminate(s->exec, id, "add", args, 2, &res, &err);
  int32_t sum = st == TW_OK && res.count == 1 ? res.values[0].of.i32 : -1;
  tw_exec_result_free(&res);
  ASSERT_EQ_INT(st, TW_OK);
  ASSERT_EQ_INT(sum, 42);
  ASSERT_EQ_INT(live, 1);
  ASSERT_EQ_INT(host, 65536); /* the guest declares one page */
}

/* wasi:cuda on the fake driver: the demo guest launches kernels; the shim
 * allocates a device buffer (GPU memory gauges) and names a buffer that
 * is not its own (isolation violation). */
static void gpu_work(tu_server *s, int *failed) {
  size_t len;
  uint8_t *demo = tu_read_file(GPU_DEMO, &len);
  ASSERT(demo);
  tw_exec_module_t *m = NULL;
  tw_exec_error err;
  tw_spawn_config cfg = {.tenant_id = 11, .gpu = true};
  tw_exec_result res = {0};
  tw_status st = tw_exec_module_load(s->exec, demo, len, &m, &err);
  free(demo);
  ASSERT_EQ_INT(st, TW_OK);
  st = tw_exec_invoke(s->exec, &cfg, m, "_start", NULL, 0, &res, &err);
  if (st == TW_OK && res.stdout_data && !strstr((char *)res.stdout_data, "gpu ok"))
    fprintf(stderr, "  gpu_demo: %.*s\n", (int)res.stdout_len, (char *)res.stdout_data);
  tw_exec_result_free(&res);
  tw_exec_module_free(m);
  ASSERT_EQ_INT(st, TW_OK);

  uint8_t *shim = tu_read_file(SHIM, &len);
  ASSERT(shim);
  tw_instance_id id;
  st = tw_exec_spawn_instance(s->exec, &cfg, shim, len, &id, &err);
  free(shim);
  ASSERT_EQ_INT(st, TW_OK);
  tw_val a = {.type = TW_I64, .of.i64 = 4096};
  st = tw_exec_call_export_with_args(s->exec, id, "malloc", &a, 1, &res, &err);
  int64_t handle = st == TW_OK && res.count == 1 ? res.values[0].of.i64 : -1;
  tw_exec_result_free(&res);
  char *text = scrape(s);
  double used = text ? sample(text, "tensor_wasm_gpu_memory_used_bytes{tenant=\"11\"}") : NAN;
  free(text);
  /* A handle one sequence step away from the buffer's: never issued to
   * this instance, so it is refused and counted. */
  a.of.i64 = handle + (1 << 16);
  st = tw_exec_call_export_with_args(s->exec, id, "free", &a, 1, &res, &err);
  int32_t rc = st == TW_OK && res.count == 1 ? res.values[0].of.i32 : 0;
  tw_exec_result_free(&res);
  tw_exec_terminate(s->exec, id, NULL);
  ASSERT(handle > 0);
  ASSERT(used >= 4096);
  ASSERT(rc != 0);
}

static void workload(tu_server *s, char calc[64], int *failed) {
  char url[256], job[64];
  tu_resp r;
  ASSERT(tu_deploy(s->base, "calc", NULL, TENANT, calc));
  snprintf(url, sizeof url, "%s/healthz", s->base);
  for (int i = 0; i < 3; i++) {
    tu_http("GET", url, NULL, NULL, 0, &r);
    ASSERT_EQ_INT(r.status, 200);
    tu_resp_free(&r);
  }
  /* The first call compiles (cache miss) and names a pool key; once the
   * pool has a warm instance the next call draws it (and hits the cache). */
  ASSERT_EQ_INT(invoke_status(s, calc, "{\"export\":\"add\",\"args\":[1,2]}"), 200);
  ASSERT(wait_sample(s, "tensor_wasm_pool_warm_instances", 1));
  ASSERT_EQ_INT(invoke_status(s, calc, "{\"export\":\"add\",\"args\":[3,4]}"), 200);
  ASSERT_EQ_INT(invoke_status(s, calc, "{\"export\":\"div\",\"args\":[1,0]}"), 500);
  ASSERT_EQ_INT(invoke_status(s, calc, "{\"export\":\"spin\"}"), 504);
  /* An async job, to its end. */
  const char *hs[] = {TENANT, NULL};
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", s->base, calc);
  tu_http_json("POST", url, hs, "{\"export\":\"add\",\"args\":[40,2]}", &r);
  ASSERT_EQ_INT(r.status, 202);
  tu_str(&r, "job_id", job, sizeof job);
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/jobs/%s", s->base, job);
  bool done = false;
  for (int i = 0; i < 400 && !done; i++) {
    tu_http("GET", url, hs, NULL, 0, &r);
    done = r.status == 200 && strstr(r.body, "\"completed\"");
    tu_resp_free(&r);
    if (!done) tu_sleep_ms(25);
  }
  ASSERT(done);
  ASSERT(wait_sample(s, "tensor_wasm_async_job_duration_seconds_count", 1));
  snapshot_spawn(s, failed);
  if (*failed) return;
  gpu_work(s, failed);
}

/* What the workload must have moved, area by area. */
static const char *const moved[] = {
    "tensor_wasm_functions_total",
    "tensor_wasm_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}",
    "tensor_wasm_http_requests_total{route=\"/functions\",method=\"POST\",status=\"200\"}",
    "tensor_wasm_http_requests_total{route=\"/functions/:id/invoke\",method=\"POST\",status=\"200\"}",
    "tensor_wasm_http_requests_total{route=\"/functions/:id/invoke\",method=\"POST\",status=\"504\"}",
    ("tensor_wasm_http_request_duration_seconds_count"
     "{route=\"/functions/:id/invoke\",method=\"POST\",status=\"200\"}"),
    "tensor_wasm_invocations_total{tenant=\"11\",outcome=\"ok\"}",
    "tensor_wasm_invocations_total{tenant=\"11\",outcome=\"trap_div_zero\"}",
    "tensor_wasm_invocations_total{tenant=\"11\",outcome=\"timeout\"}",
    "tensor_wasm_instance_spawns_total",
    "tensor_wasm_instance_terminations_total",
    "tensor_wasm_jit_cache_warm_hit_total",
    "tensor_wasm_jit_cache_cold_miss_then_insert_total",
    "tensor_wasm_jit_cache_verify_skipped_total",
    "tensor_wasm_pool_draws_total",
    "tensor_wasm_backpressure_permits_available",
    "tensor_wasm_async_job_duration_seconds_count",
    "tensor_wasm_snapshot_capture_seconds_count",
    "tensor_wasm_snapshot_disk_round_trip_seconds_count",
    "tensor_wasm_snapshot_restore_seconds_count",
    "tensor_wasm_kernel_dispatches_total{tenant=\"11\"}",
    "tensor_wasm_kernel_latency_seconds_count",
    "tensor_wasm_isolation_violations_total",
    "tensor_wasm_build_info{",
    "tensor_wasm_uptime_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
};

/* The first sample line that starts with `prefix` (for build_info, whose
 * labels vary by build), as a value. */
static double first_sample(const char *text, const char *prefix) {
  if (prefix[strlen(prefix) - 1] != '{') return sample(text, prefix);
  const char *p = strstr(text, prefix);
  const char *sp = p ? strstr(p, "} ") : NULL;
  return sp ? strtod(sp + 2, NULL) : NAN;
}

static bool settled(const char *text) {
  return sample(text, "tensor_wasm_active_instances{tenant=\"11\"}") == 0 &&
         sample(text, "tensor_wasm_cpu_memory_bytes_per_tenant{tenant_id=\"11\"}") == 0 &&
         sample(text, "tensor_wasm_gpu_memory_used_bytes{tenant=\"11\"}") == 0 &&
         sample(text, "tensor_wasm_backpressure_permits_used") == 0;
}

TEST(workload_moves_every_area_and_every_documented_name_is_scraped) {
  tu_server s;
  char calc[64];
  setenv("TW_CUDA_LIBRARY", TW_FAKE_CUDA_PATH, 0);
  ASSERT(start_server(&s));
  workload(&s, calc, failed);
  char *text = *failed ? NULL : scrape(&s);
  /* Terminated instances are released on the executor's pool thread, so
   * the per-tenant gauges reach zero shortly after the calls return: wait
   * for that (bounded), then check. */
  for (int i = 0; text && i < 200 && !settled(text); i++) {
    free(text);
    nanosleep(&(struct timespec){0, 25 * 1000 * 1000}, NULL);
    text = scrape(&s);
  }
  tu_stop(&s);
  ASSERT(text);
  for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
    double v = first_sample(text, moved[i]);
    if (!(v > 0)) {
      fprintf(stderr, "  %s is %g after the workload\n", moved[i], v);
      *failed = 1;
    }
  }
  /* Nothing is left behind: the tenant's gauges are back to zero. */
  ASSERT_EQ_INT(sample(text, "tensor_wasm_active_instances{tenant=\"11\"}"), 0);
  ASSERT_EQ_INT(sample(text, "tensor_wasm_cpu_memory_bytes_per_tenant{tenant_id=\"11\"}"), 0);
  ASSERT_EQ_INT(sample(text, "tensor_wasm_gpu_memory_used_bytes{tenant=\"11\"}"), 0);
  ASSERT_EQ_INT(sample(text, "tensor_wasm_backpressure_permits_used"), 0);

  /* Every name the dashboard and the SLO documents use has samples. */
  names ns = {0};
  json_error_t jerr;
  json_t *dash = json_load_file(DASHBOARD, 0, &jerr);
  if (!dash) fprintf(stderr, "  %s:%d: %s\n", DASHBOARD, jerr.line, jerr.text);
  ASSERT(dash);
  names_scan_json(&ns, dash);
  json_decref(dash);
  size_t from_dashboard = ns.count;
  size_t len;
  char *doc = (char *)tu_read_file(SLO_DOC, &len);
  ASSERT(doc);
  doc[len] = '\0';
  names_scan(&ns, doc);
  free(doc);
  char *rules = (char *)tu_read_file(RULES, &len);
  ASSERT(rules);
  rules[len] = '\0';
  names_scan(&ns, rules);
  free(rules);
  /* Enough names that the scan cannot pass by finding nothing. */
  ASSERT(from_dashboard >= 25);
  ASSERT(ns.count >= from_dashboard);
  for (size_t i = 0; i < ns.count; i++) {
    if (!served(text, ns.items[i])) {
      fprintf(stderr, "  %s: referenced, but not in the scrape\n", ns.items[i]);
      *failed = 1;
    }
  }
  printf("  %zu names checked (%zu from the dashboard)\n", ns.count, from_dashboard);
  free(text);
}

/* One invocation is counted once (the gateway counts it; the executor
 * does not count it again). */
TEST(an_invocation_is_counted_once) {
  tu_server s;
  char calc[64];
  tu_resp r;
  ASSERT(start_server(&s));
  const char *hs[] = {"X-TensorWasm-Tenant: 12", NULL};
  ASSERT(tu_deploy(s.base, "calc", NULL, hs[0], calc));
  char url[256];
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, calc);
  tu_http_json("POST", url, hs, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  char *text = scrape(&s);
  tu_stop(&s);
  ASSERT(text);
  double ok = sample(text, "tensor_wasm_invocations_total{tenant=\"12\",outcome=\"ok\"}");
  free(text);
  ASSERT_EQ_INT(ok, 1);
}

/* ---- promtool ------------------------------------------------------------------------- */

TEST(promtool_accepts_the_live_scrape_and_the_rules) {
  tu_server s;
  char calc[64], path[] = "/tmp/tw-scrape-XXXXXX", cmd[1024], out[8192];
  ASSERT(start_server(&s));
  ASSERT(tu_deploy(s.base, "calc", NULL, TENANT, calc));
  ASSERT_EQ_INT(invoke_status(&s, calc, "{\"export\":\"add\",\"args\":[1,2]}"), 200);
  ASSERT_EQ_INT(invoke_status(&s, calc, "{\"export\":\"div\",\"args\":[1,0]}"), 500);
  char url[256];
  tu_resp r;
  snprintf(url, sizeof url, "%s/metrics", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  tu_stop(&s);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_CONTAINS(r.ctype, "text/plain; version=0.0.4");
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  bool wrote = write(fd, r.body, r.len) == (ssize_t)r.len;
  close(fd);
  tu_resp_free(&r);
  ASSERT(wrote);
  snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", TW_PROMTOOL, path);
  int rc = run_cmd(cmd, out, sizeof out);
  unlink(path);
  if (rc != 0) fprintf(stderr, "  promtool check metrics (%d):\n%s\n", rc, out);
  ASSERT_EQ_INT(rc, 0);
  snprintf(cmd, sizeof cmd, "'%s' check rules '%s' 2>&1", TW_PROMTOOL, RULES);
  rc = run_cmd(cmd, out, sizeof out);
  if (rc != 0) fprintf(stderr, "  promtool check rules (%d):\n%s\n", rc, out);
  ASSERT_EQ_INT(rc, 0);
}

/* ---- a real Prometheus server ------------------------------------------------------------ */

/* A loopback port that was free a moment ago. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* GET <prom>/api/v1/query?query=<q>; the parsed body (caller decrefs) or
 * NULL. */
static json_t *prom_query(const char *prom, const char *q) {
  CURL *c = curl_easy_init();
  char *enc = c ? curl_easy_escape(c, q, 0) : NULL;
  char url[2048];
  snprintf(url, sizeof url, "%s/api/v1/query?query=%s", prom, enc ? enc : "");
  curl_free(enc);
  if (c) curl_easy_cleanup(c);
  tu_resp r;
  tu_http("GET", url, NULL, NULL, 0, &r);
  json_error_t jerr;
  json_t *doc = r.status == 200 ? json_loads(r.body, 0, &jerr) : NULL;
  tu_resp_free(&r);
  return doc;
}

/* The number of series a query returns (-1 on error). */
static long prom_count(const char *prom, const char *q, double *first) {
  json_t *doc = prom_query(prom, q);
  json_t *res = json_object_get(json_object_get(doc, "data"), "result");
  long n = json_is_array(res) ? (long)json_array_size(res) : -1;
  if (n > 0 && first) {
    json_t *v = json_array_get(json_object_get(json_array_get(res, 0), "value"), 1);
    *first = json_is_string(v) ? strtod(json_string_value(v), NULL) : NAN;
  }
  json_decref(doc);
  return n;
}

static void stop_prometheus(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) { /* up to 5 s, then SIGKILL */
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    tu_sleep_ms(50);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* Waits (bounded by `tries` x 250 ms) until `q` returns a series whose
 * first value is at least `min`. */
static bool prom_wait(const char *prom, const char *q, double min, int tries) {
  for (int i = 0; i < tries; i++) {
    double v = NAN;
    if (prom_count(prom, q, &v) > 0 && v >= min) return true;
    tu_sleep_ms(250);
  }
  return false;
}

TEST(prometheus_scrapes_the_gateway_and_evaluates_the_slo_rules) {
  tu_server s;
  char calc[64], dir[] = "/tmp/tw-prom-XXXXXX", conf[128], log[128], text[2048], prom[64];
  ASSERT(mkdtemp(dir));
  ASSERT(start_server(&s));
  ASSERT(tu_deploy(s.base, "calc", NULL, TENANT, calc));
  int port = free_port();
  ASSERT(port > 0);
  snprintf(prom, sizeof prom, "http://127.0.0.1:%d", port);
  snprintf(conf, sizeof conf, "%s/prometheus.yml", dir);
  snprintf(log, sizeof log, "%s/prometheus.log", dir);
  snprintf(text, sizeof text,
           "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           "rule_files:\n  - '%s'\n"
           "scrape_configs:\n  - job_name: tensor-wasm\n    static_configs:\n"
           "      - targets: ['127.0.0.1:%u']\n",
           RULES, (unsigned)tw_api_port(s.api));
  ASSERT(write_file(conf, text));
  char cfg_arg[192], store_arg[192], listen_arg[64];
  snprintf(cfg_arg, sizeof cfg_arg, "--config.file=%s", conf);
  snprintf(store_arg, sizeof store_arg, "--storage.tsdb.path=%s/data", dir);
  snprintf(listen_arg, sizeof listen_arg, "--web.listen-address=127.0.0.1:%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(TW_PROMETHEUS, "prometheus", cfg_arg, store_arg, listen_arg,
          "--storage.tsdb.retention.time=1h", (char *)NULL);
    _exit(127);
  }
  ASSERT(pid > 0);
  /* Traffic while it scrapes, so rates have something to work on. */
  bool up = false;
  for (int i = 0; i < 120 && !up; i++) { /* up to ~30 s */
    invoke_status(&s, calc, "{\"export\":\"add\",\"args\":[1,2]}");
    up = prom_wait(prom, "up{job=\"tensor-wasm\"}", 1, 1);
  }
  bool series = up && prom_wait(prom, "tensor_wasm_invocations_total{tenant=\"11\",outcome=\"ok\"}",
                                1, 40);
  double v = NAN;
  long build = prom_count(prom, "tensor_wasm_build_info", &v);
  long http = prom_count(prom, "tensor_wasm_http_requests_total{route=\"/functions/:id/invoke\"}",
                         NULL);
  long buckets = prom_count(prom, "tensor_wasm_http_request_duration_seconds_bucket", NULL);
  /* The SLO recording rules have evaluated to a value. */
  bool sli = up && prom_wait(prom, "sli:availability_http:ratio_rate5m", 0, 40);
  /* Every rule group is healthy: each expression evaluated without error. */
  json_t *rules = NULL;
  size_t nrules = 0, healthy = 0;
  for (int i = 0; i < 40 && up; i++) {
    char url[128];
    tu_resp r;
    snprintf(url, sizeof url, "%s/api/v1/rules", prom);
    tu_http("GET", url, NULL, NULL, 0, &r);
    json_error_t jerr;
    rules = r.status == 200 ? json_loads(r.body, 0, &jerr) : NULL;
    tu_resp_free(&r);
    nrules = healthy = 0;
    json_t *groups = json_object_get(json_object_get(rules, "data"), "groups"), *g, *rule;
    size_t gi, ri;
    json_array_foreach(groups, gi, g) json_array_foreach(json_object_get(g, "rules"), ri, rule) {
      nrules++;
      const char *h = json_string_value(json_object_get(rule, "health"));
      if (h && strcmp(h, "ok") == 0) healthy++;
      else if (h && strcmp(h, "err") == 0)
        fprintf(stderr, "  rule %s: %s\n", json_string_value(json_object_get(rule, "name")),
                json_string_value(json_object_get(rule, "lastError")));
    }
    json_decref(rules);
    if (nrules && healthy == nrules) break;
    tu_sleep_ms(250);
  }
  stop_prometheus(pid);
  tu_stop(&s);
  if (!up) {
    char out[4096];
    snprintf(text, sizeof text, "tail -n 20 '%s'", log);
    run_cmd(text, out, sizeof out);
    fprintf(stderr, "  prometheus never saw the gateway up; its log:\n%s\n", out);
  }
  snprintf(text, sizeof text, "rm -rf '%s'", dir);
  if (system(text) != 0) fprintf(stderr, "  cannot remove %s\n", dir);
  ASSERT(up);
  ASSERT(series);
  ASSERT_EQ_INT(build, 1);
  ASSERT_EQ_INT(v, 1);
  ASSERT(http >= 1);
  ASSERT(buckets >= 13);
  ASSERT(sli);
  ASSERT(nrules >= 10);
  ASSERT_EQ_INT(healthy, nrules);
}

static void __attribute__((constructor)) need_tools(void) {
  if (!TW_PROMTOOL[0] || !TW_PROMETHEUS[0] || access(TW_PROMTOOL, X_OK) != 0 ||
      access(TW_PROMETHEUS, X_OK) != 0) {
    printf("promtool or prometheus not installed (Debian package prometheus): skipped\n");
    exit(77);
  }
}

TEST_MAIN()
