/* The edge variables, each honoured by `serve` (a child process with the
 * variable in its environment), with an accepted and a refused case:
 * TENSOR_WASM_API_TRUSTED_HOSTS, _CORS_ALLOWED_ORIGINS, _METRICS_TOKEN,
 * _REQUIRE_TENANT, _TRUSTED_XFCC_PROXIES, _RATE_LIMIT_QPS / _BURST and
 * _TENANT_RATE_LIMIT_QPS / _BURST. */
#include "test.h"
#include "test_ops_util.h"

static long get_status(const char *base, const char *path, const char *const *hs, ops_resp *r) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", base, path);
  ops_http("GET", url, hs, NULL, r);
  return r->status;
}

TEST(trusted_hosts_refuse_other_hosts_before_tracing_or_counting) {
  ops_proc p;
  ops_resp r;
  char kind[64], v[128];
  const char *env[] = {"TENSOR_WASM_API_TRUSTED_HOSTS=API.example.com, 127.0.0.1", NULL};
  ASSERT(ops_serve(&p, env, NULL));
  static const char *const good[] = {"Host: api.example.com", "Host: API.EXAMPLE.COM:443",
                                     "Host: 127.0.0.1:80", "Host: 127.0.0.1"};
  for (size_t i = 0; i < 4; i++) {
    const char *hs[] = {good[i], NULL};
    ASSERT_EQ_INT(get_status(p.base, "/healthz", hs, &r), 200);
    ops_resp_free(&r);
  }
  static const char *const bad[] = {"Host: evil.example.com", "Host: api.example.com:8443",
                                    "Host: api.example.com.evil", "Host:"};
  for (size_t i = 0; i < 4; i++) {
    const char *hs[] = {bad[i], NULL};
    ASSERT_EQ_INT(get_status(p.base, "/healthz", hs, &r), 400);
    ASSERT_EQ_STR(ops_kind(&r, kind, sizeof kind), "bad_request");
    ASSERT_EQ_INT(strlen(ops_header(&r, "x-trace-id", v, sizeof v)), 32);
    ops_resp_free(&r);
  }
  /* The port curl puts in Host by default is not a default port. */
  ASSERT_EQ_INT(get_status(p.base, "/healthz", NULL, &r), 400);
  ops_resp_free(&r);
  /* None of the refusals was counted. */
  const char *hs[] = {"Host: api.example.com", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/metrics", hs, &r), 200);
  ASSERT_CONTAINS(r.body, "tensor_wasm_http_requests_total{");
  ASSERT_EQ_INT(ops_count_lines(r.body, "status=\"400\""), 0);
  ASSERT(ops_count_lines(r.body, "status=\"200\"") > 0);
  ops_resp_free(&r);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  ops_cleanup(&p);
  /* An entry with a port: exact matches only. */
  const char *env2[] = {"TENSOR_WASM_API_TRUSTED_HOSTS=a.example:8443,b.example", NULL};
  ASSERT(ops_serve(&p, env2, NULL));
  const char *ok[] = {"Host: a.example:8443", NULL}, *no[] = {"Host: b.example:443", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/healthz", ok, &r), 200);
  ops_resp_free(&r);
  ASSERT_EQ_INT(get_status(p.base, "/healthz", no, &r), 400);
  ops_resp_free(&r);
  ops_cleanup(&p);
}

TEST(cors_preflight_and_headers_only_for_allowed_origins) {
  ops_proc p;
  ops_resp r;
  char v[256], url[512];
  const char *env[] = {"TENSOR_WASM_API_CORS_ALLOWED_ORIGINS=https://app.example.com,"
                       "http://localhost:3000",
                       NULL};
  ASSERT(ops_serve(&p, env, NULL));
  snprintf(url, sizeof url, "%s/functions", p.base);
  const char *pre[] = {"Origin: https://app.example.com", "Access-Control-Request-Method: POST",
                       "Access-Control-Request-Headers: authorization, content-type", NULL};
  ops_http("OPTIONS", url, pre, NULL, &r);
  ASSERT_EQ_INT(r.status, 204);
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-origin", v, sizeof v),
                "https://app.example.com");
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-methods", v, sizeof v), "GET, POST, DELETE");
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-headers", v, sizeof v),
                "authorization, content-type, x-tensorwasm-tenant, traceparent");
  ASSERT_CONTAINS(ops_header(&r, "vary", v, sizeof v), "Origin");
  ops_resp_free(&r);
  const char *evil[] = {"Origin: https://evil.example.com", "Access-Control-Request-Method: POST",
                        NULL};
  ops_http("OPTIONS", url, evil, NULL, &r);
  ASSERT_EQ_INT(r.status, 204);
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-origin", v, sizeof v), "");
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-methods", v, sizeof v), "");
  ops_resp_free(&r);
  /* A plain OPTIONS is not a preflight: the route has no such method. */
  ops_http("OPTIONS", url, NULL, NULL, &r);
  ASSERT_EQ_INT(r.status, 405);
  ops_resp_free(&r);
  /* Actual requests: the allow-origin header for allowed origins only. */
  const char *o1[] = {"Origin: http://localhost:3000", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/healthz", o1, &r), 200);
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-origin", v, sizeof v),
                "http://localhost:3000");
  ASSERT_CONTAINS(ops_header(&r, "access-control-expose-headers", v, sizeof v), "x-trace-id");
  ops_resp_free(&r);
  const char *o2[] = {"Origin: http://localhost:3001", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/healthz", o2, &r), 200);
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-origin", v, sizeof v), "");
  ops_resp_free(&r);
  ops_cleanup(&p);
  /* Unset: no origin is allowed. */
  ASSERT(ops_serve(&p, NULL, NULL));
  snprintf(url, sizeof url, "%s/functions", p.base);
  ops_http("OPTIONS", url, pre, NULL, &r);
  ASSERT_EQ_INT(r.status, 204);
  ASSERT_EQ_STR(ops_header(&r, "access-control-allow-origin", v, sizeof v), "");
  ops_resp_free(&r);
  ops_cleanup(&p);
}

TEST(metrics_token_and_require_tenant) {
  ops_proc p;
  ops_resp r;
  char kind[64], url[512];
  const char *env[] = {"TENSOR_WASM_API_METRICS_TOKEN=scrape", "TENSOR_WASM_API_REQUIRE_TENANT=1",
                       "TENSOR_WASM_API_TOKENS=tok:tenant=*", NULL};
  ASSERT(ops_serve(&p, env, NULL));
  ASSERT_EQ_INT(get_status(p.base, "/metrics", NULL, &r), 401);
  ops_resp_free(&r);
  const char *wrong[] = {"Authorization: Bearer tok", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/metrics", wrong, &r), 401);
  ops_resp_free(&r);
  const char *right[] = {"Authorization: Bearer scrape", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/metrics", right, &r), 200);
  ASSERT_CONTAINS(r.body, "# TYPE");
  ops_resp_free(&r);
  ASSERT_EQ_INT(get_status(p.base, "/healthz", NULL, &r), 200); /* probes stay open */
  ops_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions", p.base);
  const char *no_tenant[] = {"Authorization: Bearer tok", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/functions", no_tenant, &r), 400);
  ASSERT_EQ_STR(ops_kind(&r, kind, sizeof kind), "missing_tenant");
  ops_resp_free(&r);
  const char *tenant[] = {"Authorization: Bearer tok", "X-TensorWasm-Tenant: 4", NULL};
  ASSERT_EQ_INT(get_status(p.base, "/functions", tenant, &r), 200);
  ops_resp_free(&r);
  char *err = ops_slurp(p.err);
  ASSERT_CONTAINS(err, "TENSOR_WASM_API_TRUSTED_HOSTS is not"); /* tokens without a Host list */
  free(err);
  ops_cleanup(&p);
  /* Unset: /metrics is open and the tenant header optional. */
  const char *env2[] = {"TENSOR_WASM_API_TOKENS=tok:tenant=*", NULL};
  ASSERT(ops_serve(&p, env2, NULL));
  ASSERT_EQ_INT(get_status(p.base, "/metrics", NULL, &r), 200);
  ops_resp_free(&r);
  ASSERT_EQ_INT(get_status(p.base, "/functions", no_tenant, &r), 200);
  ops_resp_free(&r);
  err = ops_slurp(p.err);
  ASSERT_CONTAINS(err, "TENSOR_WASM_API_METRICS_TOKEN is not set");
  free(err);
  ops_cleanup(&p);
}

TEST(xfcc_proxies_and_rate_limits_from_the_environment) {
  ops_proc p;
  ops_resp r;
  char fn[64] = "", url[512], envlog[200], log[160], kind[64], v[32];
  char dir[64];
  tu_make_dir(dir, sizeof dir);
  snprintf(log, sizeof log, "%s/audit.log", dir);
  snprintf(envlog, sizeof envlog, "TENSOR_WASM_API_AUDIT_LOG=file:%s", log);
  const char *env[] = {envlog, "TENSOR_WASM_API_TRUSTED_XFCC_PROXIES=127.0.0.1",
                       "TENSOR_WASM_API_RATE_LIMIT_QPS=0.01", "TENSOR_WASM_API_RATE_LIMIT_BURST=3",
                       NULL};
  ASSERT(ops_serve(&p, env, NULL));
  ASSERT(tu_deploy(p.base, "calc", NULL, NULL, fn));
  snprintf(url, sizeof url, "%s/functions/%s/invoke", p.base, fn);
  const char *xfcc[] = {"X-Forwarded-Client-Cert: Hash=1;Subject=\"CN=edge-client\"", NULL};
  ops_http("POST", url, xfcc, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ops_resp_free(&r);
  /* The per-token layer (3 at once, 0.01/s): the third action passes, the
   * fourth waits about 100 s. */
  ops_http("POST", url, NULL, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ops_resp_free(&r);
  ops_http("POST", url, NULL, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  ASSERT_EQ_INT(r.status, 429);
  ASSERT_EQ_STR(ops_kind(&r, kind, sizeof kind), "rate_limited");
  long ra = atol(ops_header(&r, "retry-after", v, sizeof v));
  ASSERT(ra >= 90 && ra <= 100);
  ops_resp_free(&r);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  char *text = ops_slurp(log);
  ASSERT_EQ_INT(ops_count_lines(text, "\"client_cert_subject\":\"CN=edge-client\""), 1);
  ASSERT_EQ_INT(ops_count_lines(text, "\"error_kind\":\"rate_limited\""), 1);
  free(text);
  ops_cleanup(&p);
  /* The per-(token, tenant) layer from the environment; other tenants
   * keep their own buckets; an untrusted peer's XFCC is dropped. */
  const char *env2[] = {envlog, "TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS=0.01",
                        "TENSOR_WASM_API_TENANT_RATE_LIMIT_BURST=1",
                        "TENSOR_WASM_API_TRUSTED_XFCC_PROXIES=192.0.2.0/24", NULL};
  remove(log);
  ASSERT(ops_serve(&p, env2, NULL));
  const char *t1[] = {"X-TensorWasm-Tenant: 1", NULL}, *t2[] = {"X-TensorWasm-Tenant: 2", NULL};
  ASSERT(tu_deploy(p.base, "calc", t1[0], NULL, fn));
  snprintf(url, sizeof url, "%s/functions", p.base);
  ops_http("POST", url, t1, "{}", &r);
  ASSERT_EQ_INT(r.status, 429);
  ops_resp_free(&r);
  const char *t2x[] = {t2[0], xfcc[0], NULL};
  ops_http("POST", url, t2x, "{}", &r);
  ASSERT_EQ_INT(r.status, 400); /* admitted; the body is not a deploy */
  ops_resp_free(&r);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  text = ops_slurp(log);
  ASSERT_EQ_INT(ops_count_lines(text, "CN=edge-client"), 0);
  free(text);
  char *err = ops_slurp(p.err);
  ASSERT_CONTAINS(err, "ignoring X-Forwarded-Client-Cert from 127.0.0.1");
  free(err);
  ops_cleanup(&p);
  tu_rm_tree(dir);
}

TEST_MAIN()
