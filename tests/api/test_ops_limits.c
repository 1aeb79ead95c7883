/* Rate limits: the two token-bucket layers on an injected clock (refill,
 * Retry-After as the original computes it, nothing spent on a refusal,
 * the smaller wait when both refuse, no-refill layers, bounded memory),
 * the same through HTTP (429 rate_limited after auth, a 401 spends
 * nothing, probes and reads are not limited), and how the environment is
 * read (tw_api_config_from_env). */
#include "api/api_int.h"
#include "test.h"
#include "test_ops_util.h"

#define SEC 1000000000ull

typedef struct fake_clock {
  uint64_t now;
} fake_clock;

static uint64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static api_limiter *limiter(tw_api_rate token, tw_api_rate tenant, fake_clock *c) {
  api_limiter *l = NULL;
  c->now = 1000 * SEC;
  if (api_limiter_new(&token, &tenant, 2, fake_now, c, &l, NULL) != TW_OK) return NULL;
  return l;
}

TEST(tenant_bucket_admits_its_burst_then_refills_at_qps) {
  fake_clock c;
  api_limiter *l = limiter((tw_api_rate){0, 0}, (tw_api_rate){10, 20}, &c);
  ASSERT(l);
  for (int i = 0; i < 20; i++) ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 1); /* (1 - 0) / 10 = 0.1 s -> 1 */
  c.now += SEC / 10;                               /* one permit back */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT(api_limiter_admit(l, 0, 7, 1) != 0);
  c.now += 5 * SEC; /* refills to the burst, not beyond */
  for (int i = 0; i < 20; i++) ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT(api_limiter_admit(l, 0, 7, 1) != 0);
  /* Another tenant, another token: their own buckets. */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 2), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 1, 8, 1), 0);
  api_limiter_free(l);
}

TEST(retry_after_is_the_ceiling_of_the_deficit_over_qps) {
  fake_clock c;
  api_limiter *l = limiter((tw_api_rate){0, 0}, (tw_api_rate){0.25, 1}, &c);
  ASSERT(l);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 4); /* 1 / 0.25 */
  c.now += SEC;                                    /* 0.25 back: 0.75 / 0.25 = 3 */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 3);
  c.now += SEC + SEC / 2; /* 0.625: 0.375 / 0.25 = 1.5 -> 2 */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 2);
  c.now += 2 * SEC; /* 1.125: admitted */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  api_limiter_free(l);
  /* Fast refill: still at least 1 s. */
  l = limiter((tw_api_rate){0, 0}, (tw_api_rate){1000, 1}, &c);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 1);
  api_limiter_free(l);
  /* qps 0: a one-shot allowance; the original suggests an hour. */
  l = limiter((tw_api_rate){0, 0}, (tw_api_rate){0, 2}, &c);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 3600);
  c.now += 100000 * SEC;
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 3600);
  api_limiter_free(l);
}

TEST(both_layers_must_admit_and_a_refusal_spends_nothing) {
  fake_clock c;
  /* Token layer: 1 qps, burst 3.  Tenant layer: 0.5 qps, burst 2. */
  api_limiter *l = limiter((tw_api_rate){1, 3}, (tw_api_rate){0.5, 2}, &c);
  ASSERT(l);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  /* Tenant 1 is empty (wait 2 s); the token layer still has one permit,
   * which the refusal must not take. */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 2);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 2);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 2), 0); /* the token's last permit */
  /* Now the token layer refuses tenant 3 (wait 1 s) though its own
   * bucket is full. */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 3), 1);
  /* Both refuse tenant 1: the smaller wait (token 1 s, tenant 2 s). */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 1);
  /* The dev-mode slot (index 2) is a token of its own. */
  ASSERT_EQ_INT(api_limiter_admit(l, 2, 0, 1), 0);
  api_limiter_free(l);
}

TEST(per_token_layer_alone) {
  fake_clock c;
  api_limiter *l = limiter((tw_api_rate){2, 2}, (tw_api_rate){0, 0}, &c);
  ASSERT(l);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1), 0);
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 2), 0); /* any tenant: one bucket */
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 3), 1);
  c.now += SEC / 2;
  ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 4), 0);
  api_limiter_free(l);
  /* Both layers off: no limiter at all. */
  api_limiter *none = (api_limiter *)1;
  tw_api_rate off = {0, 0};
  ASSERT_EQ_INT(api_limiter_new(&off, &off, 1, NULL, NULL, &none, NULL), TW_OK);
  ASSERT(none == NULL);
  ASSERT_EQ_INT(api_limiter_admit(NULL, 0, 7, 1), 0);
}

TEST(tenant_table_is_bounded_and_keeps_active_keys) {
  fake_clock c;
  api_limiter *l = limiter((tw_api_rate){0, 0}, (tw_api_rate){1, 2}, &c);
  ASSERT(l);
  /* A hundred thousand tenants pass through a table of 8192 entries while
   * tenant 42 stays busy.  42 is never forgotten: had its drained bucket
   * been evicted, it would come back full and admit twice in a round. */
  for (uint64_t round = 0; round < 100; round++) {
    /* the clock moves a little with every request, as a real one does:
     * with a frozen clock every entry of a round would tie for least
     * recently used, and the tie would pick one by position */
    for (uint64_t t = 0; t < 1000; t++, c.now += 1000)
      ASSERT_EQ_INT(api_limiter_admit(l, 0, 7, 1000 + round * 1000 + t), 0);
    int admitted = 0;
    for (int i = 0; i < 3; i++, c.now += 1000)
      admitted += api_limiter_admit(l, 0, 7, 42) == 0;
    ASSERT(admitted <= (round == 0 ? 2 : 1));
    c.now += SEC / 4;
  }
  api_limiter_free(l);
}

/* ---- through HTTP ------------------------------------------------------------- */

static const char *const AUTH[] = {"Authorization: Bearer alpha", "X-TensorWasm-Tenant: 1", NULL};

static void invoke(const char *base, const char *fn, const char *const *hs, tu_resp *r) {
  char url[512];
  snprintf(url, sizeof url, "%s/functions/%s/invoke", base, fn);
  tu_http_json("POST", url, hs, "{\"export\":\"add\",\"args\":[2,40]}", r);
}

TEST(http_429_after_auth_with_retry_after) {
  fake_clock c = {1000 * SEC};
  tu_server s;
  tw_api_config cfg;
  tu_resp r;
  char fn[64], kind[64];
  tw_api_config_init(&cfg);
  cfg.tokens = "alpha:tenant=1,beta:tenant=*";
  cfg.metrics_token = "";
  cfg.tenant_rate = (tw_api_rate){1, 3};
  cfg.rate_clock = fake_now;
  cfg.rate_clock_ctx = &c;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", AUTH[0], AUTH[1], fn)); /* permit 1 of 3 */
  /* 401s and 403s spend nothing. */
  for (int i = 0; i < 5; i++) {
    const char *bad[] = {"Authorization: Bearer nope", "X-TensorWasm-Tenant: 1", NULL};
    invoke(s.base, fn, bad, &r);
    ASSERT_EQ_INT(r.status, 401);
    tu_resp_free(&r);
    const char *other[] = {"Authorization: Bearer alpha", "X-TensorWasm-Tenant: 9", NULL};
    invoke(s.base, fn, other, &r);
    ASSERT_EQ_INT(r.status, 403);
    tu_resp_free(&r);
  }
  /* Probes and reads are not limited. */
  for (int i = 0; i < 5; i++) {
    char url[512];
    snprintf(url, sizeof url, "%s/functions/%s", s.base, fn);
    tu_http("GET", url, AUTH, NULL, 0, &r);
    ASSERT_EQ_INT(r.status, 200);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "%s/healthz", s.base);
    tu_http("GET", url, NULL, NULL, 0, &r);
    ASSERT_EQ_INT(r.status, 200);
    tu_resp_free(&r);
  }
  invoke(s.base, fn, AUTH, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  invoke(s.base, fn, AUTH, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  invoke(s.base, fn, AUTH, &r);
  ASSERT_EQ_INT(r.status, 429);
  ASSERT_EQ_STR(tu_kind(&r, kind, sizeof kind), "rate_limited");
  ASSERT_EQ_STR(r.retry_after, "1");
  ASSERT_CONTAINS(r.body, "retry after 1s");
  ASSERT(r.trace_id[0] && r.request_id[0]);
  tu_resp_free(&r);
  /* Another token on the same tenant has its own bucket. */
  const char *beta[] = {"Authorization: Bearer beta", "X-TensorWasm-Tenant: 1", NULL};
  invoke(s.base, fn, beta, &r);
  ASSERT_EQ_INT(r.status, 200); /* wildcard scope; the function is tenant 1's */
  tu_resp_free(&r);
  c.now += SEC; /* one permit back */
  invoke(s.base, fn, AUTH, &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_resp_free(&r);
  invoke(s.base, fn, AUTH, &r);
  ASSERT_EQ_INT(r.status, 429);
  tu_resp_free(&r);
  tu_stop(&s);
}

TEST(http_dev_mode_shares_one_token_bucket) {
  fake_clock c = {1000 * SEC};
  tu_server s;
  tw_api_config cfg;
  tu_resp r;
  char fn[64];
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.token_rate = (tw_api_rate){0.5, 2};
  cfg.rate_clock = fake_now;
  cfg.rate_clock_ctx = &c;
  ASSERT(tu_start(&s, &cfg, NULL));
  ASSERT(tu_deploy(s.base, "calc", NULL, NULL, fn));
  const char *t5[] = {"X-TensorWasm-Tenant: 5", NULL};
  invoke(s.base, fn, t5, &r); /* 403: tenant 5 does not own it, but the permit is spent */
  ASSERT_EQ_INT(r.status, 403);
  tu_resp_free(&r);
  invoke(s.base, fn, NULL, &r);
  ASSERT_EQ_INT(r.status, 429);
  ASSERT_EQ_STR(r.retry_after, "2"); /* (1 - 0) / 0.5 */
  tu_resp_free(&r);
  tu_stop(&s);
}

/* ---- the environment ------------------------------------------------------------- */

static void clear_rate_env(void) {
  unsetenv("TENSOR_WASM_API_RATE_LIMIT_QPS");
  unsetenv("TENSOR_WASM_API_RATE_LIMIT_BURST");
  unsetenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS");
  unsetenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_BURST");
  unsetenv("TENSOR_WASM_API_AUDIT_LOG");
}

TEST(config_from_env_follows_the_original) {
  tw_api_config cfg;
  clear_rate_env();
  tw_api_config_init(&cfg);
  tw_api_config_from_env(&cfg);
  ASSERT_EQ_INT(cfg.token_rate.burst, 0); /* per-token layer off */
  ASSERT(cfg.tenant_rate.qps == 10);       /* per-(token, tenant): on */
  ASSERT_EQ_INT(cfg.tenant_rate.burst, 20);
  ASSERT_EQ_STR(cfg.audit_log, "stdout");
  setenv("TENSOR_WASM_API_RATE_LIMIT_QPS", "5", 1);
  tw_api_config_from_env(&cfg);
  ASSERT(cfg.token_rate.qps == 5);
  ASSERT_EQ_INT(cfg.token_rate.burst, 200); /* the other one's default */
  unsetenv("TENSOR_WASM_API_RATE_LIMIT_QPS");
  setenv("TENSOR_WASM_API_RATE_LIMIT_BURST", "7", 1);
  tw_api_config_from_env(&cfg);
  ASSERT(cfg.token_rate.qps == 100);
  ASSERT_EQ_INT(cfg.token_rate.burst, 7);
  setenv("TENSOR_WASM_API_RATE_LIMIT_QPS", "0", 1);
  tw_api_config_from_env(&cfg);
  ASSERT_EQ_INT(cfg.token_rate.burst, 0); /* either 0: off */
  setenv("TENSOR_WASM_API_RATE_LIMIT_QPS", "lots", 1);
  tw_api_config_from_env(&cfg);
  ASSERT_EQ_INT(cfg.token_rate.burst, 0); /* unparseable: off */
  setenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS", "2.5", 1);
  setenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_BURST", "0", 1);
  setenv("TENSOR_WASM_API_AUDIT_LOG", "none", 1);
  tw_api_config_from_env(&cfg);
  ASSERT(cfg.tenant_rate.qps == 2.5);
  ASSERT_EQ_INT(cfg.tenant_rate.burst, 0); /* ours: burst 0 turns it off */
  ASSERT_EQ_STR(cfg.audit_log, "none");
  clear_rate_env();
}

TEST_MAIN()
