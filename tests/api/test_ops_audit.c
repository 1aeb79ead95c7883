/* The audit log: one JSON line per audited action with the original's
 * fields, written before the response; 403, 429 and other refusals after
 * auth are recorded, 401s and reads are not; the XFCC subject only from a
 * trusted peer; the sinks (file, none, stdout, and a file that cannot be
 * opened falling back to stdout). */
#include "api/api_int.h"
#include "test.h"
#include "test_ops_util.h"

/* The audit file's records, parsed (a JSON array, caller decref). */
static json_t *records(const char *path) {
  char *text = ops_slurp(path);
  json_t *all = json_array();
  for (char *p = text, *nl; p && *p; p = nl + 1) {
    json_error_t jerr;
    nl = strchr(p, '\n');
    if (!nl) break; /* every record ends its line */
    json_t *rec = json_loadb(p, (size_t)(nl - p), 0, &jerr);
    json_array_append_new(all, rec ? rec : json_string("<not json>"));
  }
  free(text);
  return all;
}

static const char *S(json_t *o, const char *path1, const char *path2) {
  json_t *v = json_object_get(o, path1);
  if (path2) v = json_object_get(v, path2);
  return json_string_value(v) ? json_string_value(v) : "";
}

static long long I(json_t *o, const char *path1, const char *path2) {
  json_t *v = json_object_get(o, path1);
  if (path2) v = json_object_get(v, path2);
  return json_is_integer(v) ? json_integer_value(v) : -1;
}

#define TOKENS "alpha:tenant=1,3,beta:tenant=*"
static const char *const ALPHA[] = {"Authorization: Bearer alpha", "X-TensorWasm-Tenant: 1", NULL};

TEST(every_action_and_refusal_after_auth_is_recorded_and_401_is_not) {
  tu_server s;
  tw_api_config cfg;
  tu_resp r;
  char fn[64], url[512], log[128], job[64];
  tw_api_config_init(&cfg);
  cfg.tokens = TOKENS;
  cfg.metrics_token = "";
  cfg.tenant_rate = (tw_api_rate){0, 4}; /* no refill: (alpha, 1)'s 5th action is a 429 */
  char dir[64];
  tu_make_dir(dir, sizeof dir);
  snprintf(log, sizeof log, "%s/audit.jsonl", dir);
  char spec[160];
  snprintf(spec, sizeof spec, "file:%s", log);
  cfg.audit_log = spec;
  cfg.trusted_xfcc_proxies = "127.0.0.0/8";
  ASSERT(tu_start(&s, &cfg, NULL));
  /* 1 create (200) */
  ASSERT(tu_deploy(s.base, "calc", ALPHA[0], ALPHA[1], fn));
  /* 2 invoke (200), with a client certificate from a trusted proxy */
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, fn);
  const char *xfcc[] = {ALPHA[0], ALPHA[1],
                        "X-Forwarded-Client-Cert: By=spiffe://a;Hash=ab;Subject=\"CN=client \\\"one\\\",O=Acme\";URI=x",
                        NULL};
  tu_http_json("POST", url, xfcc, "{\"export\":\"add\",\"args\":[2,40]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  char invoke_rid[64];
  snprintf(invoke_rid, sizeof invoke_rid, "%s", r.request_id);
  tu_resp_free(&r);
  /* 3 invoke-async (202) */
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", s.base, fn);
  tu_http_json("POST", url, ALPHA, "{\"export\":\"add\",\"args\":[1,1]}", &r);
  ASSERT_EQ_INT(r.status, 202);
  tu_str(&r, "job_id", job, sizeof job);
  tu_resp_free(&r);
  /* not audited: GET /jobs, GET /functions, /healthz, and every 401 */
  snprintf(url, sizeof url, "%s/jobs/%s", s.base, job);
  tu_http("GET", url, ALPHA, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions", s.base);
  tu_http("GET", url, ALPHA, NULL, 0, &r);
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, fn);
  const char *bad[] = {"Authorization: Bearer wrong", NULL};
  tu_http_json("POST", url, bad, "{}", &r);
  ASSERT_EQ_INT(r.status, 401);
  tu_resp_free(&r);
  tu_http_json("POST", url, NULL, "{}", &r);
  ASSERT_EQ_INT(r.status, 401);
  tu_resp_free(&r);
  /* 4 invoke by a token whose scope does not cover tenant 2 (403) */
  const char *other[] = {ALPHA[0], "X-TensorWasm-Tenant: 2", NULL};
  tu_http_json("POST", url, other, "{}", &r);
  ASSERT_EQ_INT(r.status, 403);
  tu_resp_free(&r);
  /* 5 invoke as tenant 3, which does not own the function (403, owner) */
  const char *t3[] = {ALPHA[0], "X-TensorWasm-Tenant: 3", NULL};
  tu_http_json("POST", url, t3, "{}", &r);
  ASSERT_EQ_INT(r.status, 403);
  tu_resp_free(&r);
  /* 6 a tenant header that is not a number (400, no tenant_id) */
  const char *badt[] = {ALPHA[0], "X-TensorWasm-Tenant: x", NULL};
  tu_http_json("POST", url, badt, "{}", &r);
  ASSERT_EQ_INT(r.status, 400);
  tu_resp_free(&r);
  /* 7 delete of an unknown id (404), as beta (wildcard) */
  snprintf(url, sizeof url, "%s/functions/00000000-0000-4000-8000-000000000000", s.base);
  const char *beta[] = {"Authorization: Bearer beta", "X-TensorWasm-Tenant: 1", NULL};
  tu_http("DELETE", url, beta, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 404);
  tu_resp_free(&r);
  /* 8 delete (204) */
  snprintf(url, sizeof url, "%s/functions/%s", s.base, fn);
  tu_http("DELETE", url, ALPHA, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 204);
  tu_resp_free(&r);
  /* 9 the fifth action of (alpha, 1): 429 */
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, fn);
  tu_http_json("POST", url, ALPHA, "{}", &r);
  ASSERT_EQ_INT(r.status, 429);
  tu_resp_free(&r);
  /* Each record is written before its response: no waiting needed. */
  json_t *all = records(log);
  ASSERT_EQ_INT(json_array_size(all), 9);
  static const struct {
    const char *action;
    long long status;
    const char *kind;
  } want[] = {{"create_function", 200, ""},        {"invoke_function", 200, ""},
              {"invoke_function_async", 202, ""},  {"invoke_function", 403, "tenant_scope_denied"},
              {"invoke_function", 403, "tenant_scope_denied"},
              {"invoke_function", 400, "invalid_tenant"},
              {"delete_function", 404, "not_found"}, {"delete_function", 204, ""},
              {"invoke_function", 429, "rate_limited"}};
  for (size_t i = 0; i < 9; i++) {
    json_t *rec = json_array_get(all, i);
    ASSERT_EQ_STR(S(rec, "action", NULL), want[i].action);
    ASSERT_EQ_INT(I(rec, "outcome", "status_code"), want[i].status);
    ASSERT_EQ_STR(S(rec, "outcome", "error_kind"), want[i].kind);
    ASSERT(want[i].kind[0] || !json_object_get(json_object_get(rec, "outcome"), "error_kind"));
    ASSERT(I(rec, "ts_unix_ms", NULL) > 1700000000000LL);
    ASSERT_EQ_INT(strlen(S(rec, "request_id", NULL)), 36);
    ASSERT(I(rec, "latency_ms", NULL) >= 0);
    ASSERT(strncmp(S(rec, "peer_addr", NULL), "127.0.0.1:", 10) == 0);
    ASSERT_EQ_STR(S(rec, "actor", "kind"), "bearer");
    ASSERT(json_is_integer(json_object_get(json_object_get(rec, "actor"), "token_id")));
  }
  json_t *create = json_array_get(all, 0), *inv = json_array_get(all, 1);
  ASSERT_EQ_STR(S(create, "resource", "function_id"), fn); /* the new id */
  ASSERT_EQ_INT(I(create, "resource", "tenant_id"), 1);
  json_t *scope = json_object_get(json_object_get(create, "actor"), "scope");
  ASSERT_EQ_STR(S(scope, "kind", NULL), "tenant_set");
  ASSERT_EQ_INT(json_array_size(json_object_get(scope, "tenants")), 2);
  ASSERT_EQ_INT(json_integer_value(json_array_get(json_object_get(scope, "tenants"), 1)), 3);
  ASSERT_EQ_STR(S(inv, "request_id", NULL), invoke_rid); /* = x-request-id */
  ASSERT_EQ_STR(S(inv, "client_cert_subject", NULL), "CN=client \"one\",O=Acme");
  ASSERT(json_is_null(json_object_get(create, "client_cert_subject")));
  ASSERT_EQ_INT(I(json_array_get(all, 3), "resource", "tenant_id"), 2);
  ASSERT(!json_object_get(json_object_get(json_array_get(all, 5), "resource"), "tenant_id"));
  json_t *beta_rec = json_array_get(all, 6);
  ASSERT_EQ_STR(S(json_object_get(beta_rec, "actor"), "scope", "kind"), "wildcard");
  ASSERT(I(beta_rec, "actor", "token_id") != I(create, "actor", "token_id"));
  json_decref(all);
  tu_stop(&s);
  tu_rm_tree(dir);
}

TEST(xfcc_from_an_untrusted_peer_is_ignored_and_dev_mode_is_recorded_as_dev) {
  tu_server s;
  tw_api_config cfg;
  tu_resp r;
  char fn[64], url[512], log[128], spec[160], dir[64];
  tu_make_dir(dir, sizeof dir);
  snprintf(log, sizeof log, "%s/audit.jsonl", dir);
  snprintf(spec, sizeof spec, "file:%s", log);
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.audit_log = spec;
  cfg.trusted_xfcc_proxies = "10.0.0.0/8, 2001:db8::/32, garbage";
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, fn));
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, fn);
  const char *xfcc[] = {"X-Forwarded-Client-Cert: Subject=\"CN=forged\"", NULL};
  tu_http_json("POST", url, xfcc, "{\"export\":\"add\",\"args\":[1,2]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  json_t *all = records(log);
  ASSERT_EQ_INT(json_array_size(all), 2);
  json_t *inv = json_array_get(all, 1);
  ASSERT(json_is_null(json_object_get(inv, "client_cert_subject")));
  json_t *actor = json_object_get(inv, "actor");
  ASSERT_EQ_STR(S(actor, "kind", NULL), "dev");
  ASSERT(json_is_null(json_object_get(actor, "token_id")));
  ASSERT_EQ_STR(S(actor, "scope", "kind"), "dev");
  ASSERT_EQ_INT(I(inv, "resource", "tenant_id"), 0);
  json_decref(all);
  tu_stop(&s);
  /* "none": nothing is written. */
  remove(log);
  cfg.audit_log = "none";
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, fn));
  tu_stop(&s);
  size_t len;
  ASSERT(tu_read_file(log, &len) == NULL);
  tu_rm_tree(dir);
}

TEST(xfcc_subject_and_cidr_parsing) {
  char out[300];
  ASSERT(api_xfcc_subject("Subject=\"CN=a;b\"", out, sizeof out) == true); /* ';' splits */
  ASSERT(api_xfcc_subject("By=x;Subject=CN=plain;URI=y", out, sizeof out));
  ASSERT_EQ_STR(out, "CN=plain");
  ASSERT(api_xfcc_subject(" subject = \"CN=\\\"q\\\"\" ", out, sizeof out));
  ASSERT_EQ_STR(out, "CN=\"q\"");
  ASSERT(api_xfcc_subject("Subject=\"CN=a\x01\x1b[31mb\"", out, sizeof out));
  ASSERT_EQ_STR(out, "CN=a[31mb"); /* control bytes dropped */
  ASSERT(!api_xfcc_subject("Hash=abc;URI=x", out, sizeof out));
  ASSERT(!api_xfcc_subject("garbage;Subject=x", out, sizeof out));
  char big[1200] = "Subject=";
  memset(big + 8, 'A', 1000);
  ASSERT(api_xfcc_subject(big, out, sizeof out));
  ASSERT_EQ_INT(strlen(out), 256);
  api_cidr c;
  ASSERT(api_cidr_parse("10.1.2.3", &c) && c.family == AF_INET && c.prefix == 32);
  ASSERT(api_cidr_parse("10.0.0.0/8", &c) && c.prefix == 8);
  ASSERT(api_cidr_parse("::1", &c) && c.family == AF_INET6 && c.prefix == 128);
  ASSERT(!api_cidr_parse("10.0.0.0/33", &c));
  ASSERT(!api_cidr_parse("10.0.0.0/", &c));
  ASSERT(!api_cidr_parse("example.com", &c));
}

/* ---- the sinks of `serve` ---------------------------------------------------- */

static void deploy_via(const ops_proc *p, char fn[64]) {
  tu_deploy(p->base, "calc", NULL, NULL, fn);
}

TEST(serve_writes_to_stdout_by_default_and_falls_back_from_a_bad_file) {
  ops_proc p;
  char fn[64] = "";
  /* Unset: stdout. */
  ASSERT(ops_serve(&p, NULL, NULL));
  deploy_via(&p, fn);
  ASSERT(fn[0]);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  char *out = ops_slurp(p.out);
  ASSERT_EQ_INT(ops_count_lines(out, "\"action\":\"create_function\""), 1);
  ASSERT_CONTAINS(out, "\"actor\":{\"kind\":\"dev\"");
  free(out);
  ops_cleanup(&p);
  /* A file that cannot be opened: reported, then stdout. */
  const char *env[] = {"TENSOR_WASM_API_AUDIT_LOG=file:/nonexistent-dir/audit.log", NULL};
  ASSERT(ops_serve(&p, env, NULL));
  deploy_via(&p, fn);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  out = ops_slurp(p.out);
  char *err = ops_slurp(p.err);
  ASSERT_CONTAINS(err, "cannot open audit log file /nonexistent-dir/audit.log");
  ASSERT_EQ_INT(ops_count_lines(out, "\"action\":\"create_function\""), 1);
  free(out);
  free(err);
  ops_cleanup(&p);
  /* A value that means nothing: reported, then stdout. */
  const char *env2[] = {"TENSOR_WASM_API_AUDIT_LOG=syslog", NULL};
  ASSERT(ops_serve(&p, env2, NULL));
  deploy_via(&p, fn);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  out = ops_slurp(p.out);
  err = ops_slurp(p.err);
  ASSERT_CONTAINS(err, "TENSOR_WASM_API_AUDIT_LOG=syslog");
  ASSERT_EQ_INT(ops_count_lines(out, "\"action\":\"create_function\""), 1);
  free(out);
  free(err);
  ops_cleanup(&p);
  /* file: the records go there, stdout keeps only the listening line. */
  char dir[64], env3[200];
  tu_make_dir(dir, sizeof dir);
  snprintf(env3, sizeof env3, "TENSOR_WASM_API_AUDIT_LOG=file:%s/a.log", dir);
  const char *envf[] = {env3, NULL};
  ASSERT(ops_serve(&p, envf, NULL));
  deploy_via(&p, fn);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  out = ops_slurp(p.out);
  ASSERT_EQ_INT(ops_count_lines(out, "create_function"), 0);
  free(out);
  snprintf(env3, sizeof env3, "%s/a.log", dir);
  out = ops_slurp(env3);
  ASSERT_EQ_INT(ops_count_lines(out, "\"action\":\"create_function\""), 1);
  free(out);
  ops_cleanup(&p);
  tu_rm_tree(dir);
}

TEST_MAIN()
