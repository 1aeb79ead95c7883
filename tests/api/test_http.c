/* The gateway over real HTTP on loopback: routes, headers, auth, tenants,
 * deploy validation, function CRUD with owner checks, body limits,
 * /metrics, and the error envelope of each kind these routes produce. */
#include <pthread.h>
#include <stdatomic.h>

#include "api_util.h"
#include "test.h"

#define TOKENS "admin:tenant=*,t5:tenant=5,6,t7:tenant=7"
#define AUTH_ADMIN "Authorization: Bearer admin"
#define AUTH_T5 "Authorization: Bearer t5"
#define AUTH_T7 "Authorization: Bearer t7"
#define INBOUND_TRACE "0af7651916cd43dd8448eb211c80319c"
#define INBOUND "traceparent: 00-" INBOUND_TRACE "-b7ad6b7169203331-01"

static bool is_hex32(const char *s) {
  if (strlen(s) != 32) return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
  return true;
}

static bool start_tokens(tu_server *s) {
  tw_api_config cfg;
  tw_api_config_init(&cfg);
  cfg.tokens = TOKENS;
  cfg.metrics_token = "";
  return tu_start(s, &cfg, NULL);
}

/* Checks status and kind of a response; prints the body when wrong. */
#define EXPECT(resp, want_status, want_kind)                                  \
  do {                                                                        \
    char k_[64];                                                              \
    if ((resp).status != (want_status) ||                                     \
        strcmp(tu_kind(&(resp), k_, sizeof k_), (want_kind)) != 0) {          \
      fprintf(stderr, "  got %ld %s\n", (resp).status, (resp).body);          \
      ASSERT_EQ_INT((resp).status, (want_status));                            \
      ASSERT_EQ_STR(tu_kind(&(resp), k_, sizeof k_), (want_kind));            \
    }                                                                         \
    ASSERT(is_hex32((resp).trace_id));                                        \
    ASSERT_EQ_INT(strlen((resp).request_id), 36);                             \
  } while (0)

TEST(healthz_and_common_headers) {
  tu_server s;
  tu_resp r, r2;
  char url[1024];
  ASSERT(tu_start(&s, NULL, NULL));
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 200, "");
  ASSERT_EQ_STR(r.body, "{\"status\":\"ok\"}");
  ASSERT_CONTAINS(r.ctype, "application/json");
  tu_http("HEAD", url, NULL, NULL, 0, &r2);
  ASSERT_EQ_INT(r2.status, 200);
  ASSERT(strcmp(r.request_id, r2.request_id) != 0);
  ASSERT(strcmp(r.trace_id, r2.trace_id) != 0);
  tu_resp_free(&r);
  tu_resp_free(&r2);
  tu_stop(&s);
}

TEST(trace_id_joins_inbound_traceparent) {
  tu_server s;
  tu_resp r;
  char url[1024];
  const char *hs[] = {INBOUND, NULL};
  const char *bad[] = {"traceparent: 00-" INBOUND_TRACE "-0000000000000000-01", NULL};
  ASSERT(start_tokens(&s));
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, hs, NULL, 0, &r);
  ASSERT_EQ_STR(r.trace_id, INBOUND_TRACE);
  tu_resp_free(&r);
  /* On refusals too: a 401 and a 404 still join the caller's trace. */
  snprintf(url, sizeof url, "%s/functions", s.base);
  tu_http("GET", url, hs, NULL, 0, &r);
  EXPECT(r, 401, "unauthorized");
  ASSERT_EQ_STR(r.trace_id, INBOUND_TRACE);
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/nowhere", s.base);
  tu_http("GET", url, hs, NULL, 0, &r);
  EXPECT(r, 404, "not_found");
  ASSERT_EQ_STR(r.trace_id, INBOUND_TRACE);
  tu_resp_free(&r);
  /* A malformed traceparent (zero span id) starts a fresh root. */
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, bad, NULL, 0, &r);
  ASSERT(is_hex32(r.trace_id));
  ASSERT(strcmp(r.trace_id, INBOUND_TRACE) != 0);
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(unknown_route_and_method) {
  tu_server s;
  tu_resp r;
  char url[1024];
  ASSERT(tu_start(&s, NULL, NULL));
  snprintf(url, sizeof url, "%s/v2/functions", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/abc", s.base);
  tu_http("PUT", url, NULL, "x", 1, &r);
  EXPECT(r, 405, "method_not_allowed");
  ASSERT_CONTAINS(r.allow, "DELETE");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("POST", url, NULL, "x", 1, &r);
  EXPECT(r, 405, "method_not_allowed");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(auth_failures) {
  tu_server s;
  tu_resp r;
  char url[1024], big[1200];
  ASSERT(start_tokens(&s));
  snprintf(url, sizeof url, "%s/functions", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 401, "unauthorized");
  tu_resp_free(&r);
  const char *unknown[] = {"Authorization: Bearer nope", NULL};
  tu_http("GET", url, unknown, NULL, 0, &r);
  EXPECT(r, 401, "unauthorized");
  tu_resp_free(&r);
  const char *basic[] = {"Authorization: Basic YWRtaW4=", NULL};
  tu_http("GET", url, basic, NULL, 0, &r);
  EXPECT(r, 401, "unauthorized");
  tu_resp_free(&r);
  snprintf(big, sizeof big, "Authorization: Bearer %01100d", 0);
  const char *oversize[] = {big, NULL};
  tu_http("GET", url, oversize, NULL, 0, &r);
  EXPECT(r, 401, "invalid_auth");
  tu_resp_free(&r);
  const char *dup[] = {AUTH_ADMIN, AUTH_ADMIN, NULL};
  tu_http("GET", url, dup, NULL, 0, &r);
  EXPECT(r, 400, "bad_request");
  tu_resp_free(&r);
  const char *ok[] = {AUTH_ADMIN, NULL};
  tu_http("GET", url, ok, NULL, 0, &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  /* Probes need no token. */
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(tenant_header_and_scope) {
  tu_server s, req;
  tu_resp r;
  char url[1024];
  ASSERT(start_tokens(&s));
  snprintf(url, sizeof url, "%s/functions", s.base);
  const char *dup[] = {AUTH_ADMIN, "X-TensorWasm-Tenant: 5", "X-TensorWasm-Tenant: 5", NULL};
  tu_http("GET", url, dup, NULL, 0, &r);
  EXPECT(r, 400, "duplicate_tenant_header");
  tu_resp_free(&r);
  const char *bad[] = {AUTH_ADMIN, "X-TensorWasm-Tenant: five", NULL};
  tu_http("GET", url, bad, NULL, 0, &r);
  EXPECT(r, 400, "invalid_tenant");
  tu_resp_free(&r);
  const char *neg[] = {AUTH_ADMIN, "X-TensorWasm-Tenant: -5", NULL};
  tu_http("GET", url, neg, NULL, 0, &r);
  EXPECT(r, 400, "invalid_tenant");
  tu_resp_free(&r);
  /* t5 covers 5 and 6, not 7, and not the default tenant 0. */
  const char *in[] = {AUTH_T5, "X-TensorWasm-Tenant: 6", NULL};
  tu_http("GET", url, in, NULL, 0, &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  const char *out[] = {AUTH_T5, "X-TensorWasm-Tenant: 7", NULL};
  tu_http("GET", url, out, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  const char *none[] = {AUTH_T5, NULL};
  tu_http("GET", url, none, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  /* Scope is checked before any lookup: an unknown id is 403, not 404. */
  snprintf(url, sizeof url, "%s/functions/00000000-0000-4000-8000-000000000000", s.base);
  tu_http("DELETE", url, out, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  tu_stop(&s);

  tw_api_config cfg;
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.require_tenant = true;
  ASSERT(tu_start(&req, &cfg, NULL));
  snprintf(url, sizeof url, "%s/functions", req.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 400, "missing_tenant");
  tu_resp_free(&r);
  const char *t0[] = {"X-TensorWasm-Tenant: 0", NULL};
  tu_http("GET", url, t0, NULL, 0, &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  tu_stop(&req);
}

static void post_deploy(const tu_server *s, const char *ctype, const char *query,
                        const void *body, size_t len, tu_resp *r) {
  char url[1024], ct[128];
  snprintf(url, sizeof url, "%s/functions%s", s->base, query);
  snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
  const char *hs[] = {ct, NULL};
  tu_http("POST", url, hs, body, len, r);
}

TEST(deploy_validation) {
  tu_server s;
  tu_resp r;
  char path[512], id[64];
  size_t len;
  ASSERT(tu_start(&s, NULL, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, id));
  ASSERT_EQ_INT(strlen(id), 36);
  uint8_t *wasm = tu_read_file(tu_guest("mainonly", path, sizeof path), &len);
  ASSERT(wasm != NULL);
  post_deploy(&s, "application/wasm", "?name=raw%20one", wasm, len, &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  post_deploy(&s, "application/wasm", "", wasm, len, &r);
  EXPECT(r, 400, "invalid_name");
  tu_resp_free(&r);
  post_deploy(&s, "application/wasm", "?name=bad%01name", wasm, len, &r);
  EXPECT(r, 400, "invalid_name");
  tu_resp_free(&r);
  post_deploy(&s, "application/wasm", "?name=x", "\0asm\1\0\0", 7, &r);
  EXPECT(r, 400, "invalid_wasm");
  tu_resp_free(&r);
  post_deploy(&s, "application/wasm", "?name=x", "\0asm\1\0\0\0\x7f\x7f\x7f", 11, &r);
  EXPECT(r, 400, "invalid_wasm");
  ASSERT_CONTAINS(r.body, "byte offset");
  tu_resp_free(&r);
  free(wasm);
  static const char *const cases[][2] = {
      {"{\"name\":\"x\",", "invalid_json"},
      {"[1,2]", "invalid_json"},
      {"{\"name\":1,\"wasm_b64\":\"AGFzbQEAAAA=\"}", "invalid_json"},
      {"{\"name\":\"x\"}", "invalid_json"},
      {"{\"name\":\"x\",\"wasm_b64\":\"AGFzbQEAAAA\"}", "invalid_base64"},
      {"{\"name\":\"x\",\"wasm_b64\":\"AGFz bQEAAAA=\"}", "invalid_base64"},
      {"{\"name\":\"\",\"wasm_b64\":\"AGFzbQEAAAA=\"}", "invalid_name"},
      {"{\"name\":\"a\\nb\",\"wasm_b64\":\"AGFzbQEAAAA=\"}", "invalid_name"},
      {"{\"name\":\"x\",\"wasm_b64\":\"AGFzbQ==\"}", "invalid_wasm"},
      {"{\"name\":\"x\",\"wasm_b64\":\"AAAAAAAAAAA=\"}", "invalid_wasm"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    post_deploy(&s, "application/json", "", cases[i][0], strlen(cases[i][0]), &r);
    EXPECT(r, 400, cases[i][1]);
    tu_resp_free(&r);
  }
  char name[300], doc[400];
  memset(name, 'n', 257);
  name[257] = '\0';
  snprintf(doc, sizeof doc, "{\"name\":\"%s\",\"wasm_b64\":\"AGFzbQEAAAA=\"}", name);
  post_deploy(&s, "application/json", "", doc, strlen(doc), &r);
  EXPECT(r, 400, "invalid_name");
  tu_resp_free(&r);
  name[256] = '\0'; /* exactly 256 bytes is fine */
  snprintf(doc, sizeof doc, "{\"name\":\"%s\",\"wasm_b64\":\"AGFzbQEAAAA=\"}", name);
  post_deploy(&s, "application/json", "", doc, strlen(doc), &r);
  EXPECT(r, 200, "");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(functions_crud_and_owner_checks) {
  tu_server s;
  tu_resp r;
  char url[1024], id5[64], id7[64], buf[64];
  const char *as5[] = {AUTH_T5, "X-TensorWasm-Tenant: 5", NULL};
  const char *as7[] = {AUTH_T7, "X-TensorWasm-Tenant: 7", NULL};
  const char *admin5[] = {AUTH_ADMIN, "X-TensorWasm-Tenant: 5", NULL};
  ASSERT(start_tokens(&s));
  ASSERT(tu_deploy(s.base, "calc", AUTH_T5, "X-TensorWasm-Tenant: 5", id5));
  ASSERT(tu_deploy(s.base, "mainonly", AUTH_T7, "X-TensorWasm-Tenant: 7", id7));
  snprintf(url, sizeof url, "%s/functions", s.base);
  tu_http("GET", url, as5, NULL, 0, &r);
  EXPECT(r, 200, "");
  ASSERT_CONTAINS(r.body, id5);
  ASSERT(strstr(r.body, id7) == NULL); /* a tenant sees only its own */
  ASSERT_CONTAINS(r.body, "\"tenant_id\":5");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions?limit=0", s.base);
  tu_http("GET", url, as5, NULL, 0, &r);
  EXPECT(r, 400, "bad_request");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/%s", s.base, id5);
  tu_http("GET", url, as5, NULL, 0, &r);
  EXPECT(r, 200, "");
  ASSERT_EQ_STR(tu_str(&r, "name", buf, sizeof buf), "calc");
  ASSERT(strstr(r.body, "wasm") == NULL || strstr(r.body, "wasm_b64") == NULL);
  tu_resp_free(&r);
  /* The owner check: admin may name tenant 5, but id7 belongs to 7. */
  snprintf(url, sizeof url, "%s/functions/%s", s.base, id7);
  tu_http("GET", url, admin5, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  tu_http("DELETE", url, admin5, NULL, 0, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, id7);
  tu_http_json("POST", url, admin5, "{}", &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/%s", s.base, id7);
  tu_http("DELETE", url, as7, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 204);
  ASSERT_EQ_INT(r.len, 0);
  ASSERT(is_hex32(r.trace_id));
  tu_resp_free(&r);
  tu_http("GET", url, as7, NULL, 0, &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  tu_http("DELETE", url, as7, NULL, 0, &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s.base, id7);
  tu_http_json("POST", url, as7, "{}", &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/jobs/00000000-0000-4000-8000-000000000000", s.base);
  tu_http("GET", url, as5, NULL, 0, &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(body_limit) {
  tu_server s;
  tu_resp r;
  tw_api_config cfg;
  char url[1024], body[4096];
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.max_body_bytes = 1024;
  ASSERT(tu_start(&s, &cfg, NULL));
  memset(body, 'x', sizeof body);
  snprintf(url, sizeof url, "%s/functions", s.base);
  const char *json[] = {"Content-Type: application/json", NULL};
  tu_http("POST", url, json, body, sizeof body, &r);
  EXPECT(r, 413, "body_too_large");
  tu_resp_free(&r);
  /* Without a Content-Length the limit is found while reading. */
  const char *chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
  tu_http("POST", url, chunked, body, sizeof body, &r);
  EXPECT(r, 413, "body_too_large");
  tu_resp_free(&r);
  /* The server is still there and takes a body under the limit. */
  tu_http("POST", url, json, "{}", 2, &r);
  EXPECT(r, 400, "invalid_json");
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(metrics_route) {
  tu_server s;
  tu_resp r;
  tw_api_config cfg;
  char url[1024];
  ASSERT(tu_start(&s, NULL, NULL));
  snprintf(url, sizeof url, "%s/healthz", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  tu_resp_free(&r);
  snprintf(url, sizeof url, "%s/metrics", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_CONTAINS(r.ctype, "version=0.0.4");
  ASSERT_CONTAINS(r.body, "tensor_wasm_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}");
  ASSERT_CONTAINS(r.body, "tensor_wasm_backpressure_permits_available");
  tu_resp_free(&r);
  tu_stop(&s);

  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.metrics_token = "scrape";
  ASSERT(tu_start(&s, &cfg, NULL));
  snprintf(url, sizeof url, "%s/metrics", s.base);
  tu_http("GET", url, NULL, NULL, 0, &r);
  EXPECT(r, 401, "unauthorized");
  tu_resp_free(&r);
  const char *ok[] = {"Authorization: Bearer scrape", NULL};
  tu_http("GET", url, ok, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(dev_mode_refused_on_public_address) {
  tw_registry_t *reg = NULL;
  tw_exec_t *exec = NULL;
  tw_api_t *api = NULL;
  tw_api_config cfg;
  tw_error err;
  tw_exec_error eerr;
  char dir[64];
  tu_make_dir(dir, sizeof dir);
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_new(NULL, &exec, &eerr), TW_OK);
  tw_api_config_init(&cfg);
  cfg.host = "0.0.0.0";
  cfg.tokens = "";
  cfg.registry = reg;
  cfg.exec = exec;
  ASSERT_EQ_INT(tw_api_start(&cfg, &api, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "dev mode");
  cfg.tokens = "secret:tenant=*"; /* with a token it may listen there */
  ASSERT_EQ_INT(tw_api_start(&cfg, &api, &err), TW_OK);
  ASSERT(!tw_api_dev_mode(api));
  tw_api_stop(api);
  cfg.tokens = "";
  cfg.allow_plaintext_public = true;
  ASSERT_EQ_INT(tw_api_start(&cfg, &api, &err), TW_OK);
  ASSERT(tw_api_dev_mode(api));
  tw_api_stop(api);
  tw_exec_free(exec);
  tw_registry_close(reg);
  tu_rm_tree(dir);
}

/* ---- stopping while requests arrive ------------------------------------------- */

typedef struct hammer {
  char url[128];
  atomic_bool stop;
  atomic_int answered, refused, unexpected;
} hammer;

/* New connections, one request each, until told to stop. */
static void *hammer_run(void *arg) {
  hammer *h = arg;
  while (!atomic_load(&h->stop)) {
    tu_resp r;
    tu_http("GET", h->url, NULL, NULL, 0, &r);
    if (r.status == 200 || r.status == 503) atomic_fetch_add(&h->answered, 1);
    else if (r.status == 0) atomic_fetch_add(&h->refused, 1);
    else atomic_fetch_add(&h->unexpected, 1);
    tu_resp_free(&r);
  }
  return NULL;
}

/* A stop races the I/O threads, which are busy accepting: libmicrohttpd's
 * epoll mode aborted the process in that race about once in 1,000-2,000
 * rounds (its quiesce and its event loop both remove the listening socket
 * from the epoll set, unlocked, and each treats the other's success as
 * fatal); src/api/server.c uses poll mode for that reason.  Each round
 * stops a server mid-stream; the process must survive every one, each
 * request must get 200, 503 or a refused connection, and after the stop
 * the port refuses. */
TEST(stop_while_requests_arrive) {
  int rounds = getenv("TW_STOP_ROUNDS") ? atoi(getenv("TW_STOP_ROUNDS")) : 300;
  for (int round = 0; round < rounds; round++) {
    tu_server s;
    hammer h;
    pthread_t t;
    memset(&h, 0, sizeof h);
    ASSERT(tu_start(&s, NULL, NULL));
    snprintf(h.url, sizeof h.url, "%s/healthz", s.base);
    ASSERT_EQ_INT(pthread_create(&t, NULL, hammer_run, &h), 0);
    for (int i = 0; i < 500 && atomic_load(&h.answered) < 1 + round % 4; i++) tu_sleep_ms(2);
    ASSERT(atomic_load(&h.answered) >= 1);
    char url[128];
    snprintf(url, sizeof url, "%s", h.url);
    tu_stop(&s);
    atomic_store(&h.stop, true);
    pthread_join(t, NULL);
    ASSERT_EQ_INT(atomic_load(&h.unexpected), 0);
    tu_resp r;
    tu_http("GET", url, NULL, NULL, 0, &r);
    ASSERT_EQ_INT(r.status, 0);
    tu_resp_free(&r);
  }
}

TEST_MAIN()
