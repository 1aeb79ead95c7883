/* Unit tests of the gateway's pieces that need no server: the token
 * syntax and constant-time check, tenant parsing, routes, strict base64,
 * UTF-8, permits and the job failure text. */
#include <stdatomic.h>

#include "api/api_int.h"
#include "test.h"

static const api_token *find(const api_tokens *t, const char *tok) {
  api_actor a;
  api_fail f;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Bearer %s", tok);
  return api_auth_check(t, hdr, &a, &f) ? a.token : NULL;
}

TEST(tokens_syntax) {
  api_tokens t;
  ASSERT_EQ_INT(api_tokens_parse(" bare , a:tenant=1,2, 3 ,b:tenant=*,c:tenant=7", &t, NULL),
                TW_OK);
  ASSERT_EQ_INT(t.count, 4);
  ASSERT_EQ_INT(t.bare, 1);
  ASSERT_EQ_INT(t.dropped, 0);
  const api_token *a = find(&t, "a"), *b = find(&t, "b"), *c = find(&t, "c");
  ASSERT(find(&t, "bare") && find(&t, "bare")->wildcard);
  ASSERT(a && !a->wildcard);
  ASSERT_EQ_INT(a->ntenants, 3);
  ASSERT(b && b->wildcard);
  ASSERT(c && c->ntenants == 1 && c->tenants[0] == 7);
  api_actor act = {a};
  ASSERT(api_actor_covers(&act, 1) && api_actor_covers(&act, 2) && api_actor_covers(&act, 3));
  ASSERT(!api_actor_covers(&act, 4));
  api_tokens_free(&t);
}

TEST(tokens_bad_entries_dropped) {
  api_tokens t;
  /* `tenant=1,foo`: a bad continuation drops its whole entry. */
  ASSERT_EQ_INT(api_tokens_parse("x:tenant=1,foo,y:tenant=*,z:scope=1,w:tenant=-1", &t, NULL),
                TW_OK);
  ASSERT_EQ_INT(t.count, 1);
  ASSERT_EQ_INT(t.dropped, 3);
  ASSERT(find(&t, "y") != NULL);
  ASSERT(find(&t, "x") == NULL);
  api_tokens_free(&t);
  ASSERT_EQ_INT(api_tokens_parse("", &t, NULL), TW_OK);
  ASSERT_EQ_INT(t.count, 0);
  ASSERT_EQ_INT(api_tokens_parse(NULL, &t, NULL), TW_OK);
  ASSERT_EQ_INT(t.count, 0);
}

TEST(auth_header_forms) {
  api_tokens t;
  api_actor a;
  api_fail f;
  char big[1100];
  ASSERT_EQ_INT(api_tokens_parse("secret:tenant=*", &t, NULL), TW_OK);
  ASSERT(api_auth_check(&t, "Bearer secret", &a, &f));
  ASSERT(api_auth_check(&t, "bEaReR\t  secret  ", &a, &f));
  ASSERT(!api_auth_check(&t, NULL, &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_UNAUTHORIZED);
  ASSERT(!api_auth_check(&t, "Bearer other", &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_UNAUTHORIZED);
  ASSERT(!api_auth_check(&t, "Basic secret", &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_UNAUTHORIZED);
  ASSERT(!api_auth_check(&t, "Bearer sec\x01ret", &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_INVALID_AUTH);
  ASSERT(!api_auth_check(&t, "Bearer    ", &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_INVALID_AUTH);
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "Bearer ", 7);
  ASSERT(!api_auth_check(&t, big, &a, &f));
  ASSERT_EQ_INT(f.kind, API_ERR_INVALID_AUTH);
  api_tokens_free(&t);
}

TEST(tenant_parse) {
  uint64_t v;
  ASSERT(api_tenant_parse("0", &v) && v == 0);
  ASSERT(api_tenant_parse("18446744073709551615", &v) && v == UINT64_MAX);
  ASSERT(!api_tenant_parse("18446744073709551616", &v));
  ASSERT(!api_tenant_parse("-1", &v));
  ASSERT(!api_tenant_parse("1 ", &v));
  ASSERT(!api_tenant_parse("", &v));
  ASSERT(!api_tenant_parse("0x10", &v));
}

TEST(routes) {
  api_match m;
  api_route_match("GET", "/healthz", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_HEALTHZ);
  ASSERT(!m.is_protected);
  api_route_match("HEAD", "/functions/abc", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_FN_GET);
  ASSERT_EQ_STR(m.id, "abc");
  api_route_match("POST", "/functions/abc/invoke-async", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_INVOKE_ASYNC);
  ASSERT(m.is_protected);
  api_route_match("PUT", "/functions/abc", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_NONE);
  ASSERT(m.allow != NULL);
  api_route_match("GET", "/functions//invoke", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_NONE);
  ASSERT(m.allow == NULL);
  api_route_match("GET", "/nope", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_NONE);
  ASSERT(m.allow == NULL);
  api_route_match("GET", "/jobs/x/y", &m);
  ASSERT_EQ_INT(m.route, API_ROUTE_NONE);
}

TEST(base64_strict) {
  uint8_t *out;
  size_t n;
  ASSERT(api_base64_decode("aGVsbG8=", 8, &out, &n));
  ASSERT_EQ_INT(n, 5);
  ASSERT(memcmp(out, "hello", 5) == 0);
  free(out);
  ASSERT(api_base64_decode("", 0, &out, &n));
  ASSERT_EQ_INT(n, 0);
  free(out);
  ASSERT(api_base64_decode("YQ==", 4, &out, &n) && n == 1 && out[0] == 'a');
  free(out);
  ASSERT(!api_base64_decode("aGVsbG8", 7, &out, &n));   /* unpadded */
  ASSERT(!api_base64_decode("aGV sbG8=", 9, &out, &n)); /* blank */
  ASSERT(!api_base64_decode("a=GV", 4, &out, &n));      /* '=' inside */
  ASSERT(!api_base64_decode("YR==", 4, &out, &n));      /* non-canonical */
  ASSERT(!api_base64_decode("aGVs*G8=", 8, &out, &n));
  char *e = api_base64_encode((const uint8_t *)"hello", 5);
  ASSERT_EQ_STR(e, "aGVsbG8=");
  free(e);
}

TEST(utf8) {
  ASSERT(api_utf8_valid((const uint8_t *)"h\xc3\xa9llo", 6));
  ASSERT(!api_utf8_valid((const uint8_t *)"\xc3", 1));
  ASSERT(!api_utf8_valid((const uint8_t *)"\xc0\xaf", 2));        /* overlong */
  ASSERT(!api_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));    /* surrogate */
  ASSERT(api_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4)); /* emoji */
}

TEST(permits) {
  api_permits *p;
  ASSERT_EQ_INT(api_permits_new(3, 2, &p, NULL), TW_OK);
  ASSERT_EQ_INT(api_permits_try(p, 5), API_PERMIT_OK);
  ASSERT_EQ_INT(api_permits_try(p, 5), API_PERMIT_OK);
  ASSERT_EQ_INT(api_permits_try(p, 5), API_PERMIT_TENANT_FULL);
  ASSERT_EQ_INT(api_permits_try(p, 6), API_PERMIT_OK);
  ASSERT_EQ_INT(api_permits_try(p, 7), API_PERMIT_GLOBAL_FULL);
  api_permits_release(p, 5, true);
  ASSERT_EQ_INT(api_permits_try(p, 7), API_PERMIT_OK);
  api_permits_release(p, 5, true);
  api_permits_release(p, 6, true);
  api_permits_release(p, 7, true);
  ASSERT(api_permits_wait_global(p)); /* one free: does not block */
  api_permits_release(p, 0, false);
  api_permits_wake_all(p);
  ASSERT(!api_permits_wait_global(p));
  api_permits_free(p);
}

static atomic_int ran;
static void bump(void *arg) {
  (void)arg;
  atomic_fetch_add(&ran, 1);
}

TEST(pool_bounded_and_drains) {
  api_pool *p;
  ASSERT_EQ_INT(api_pool_new("t", 0, 2, &p, NULL), TW_OK); /* no threads: nothing runs */
  ASSERT(api_pool_submit(p, bump, NULL));
  ASSERT(api_pool_submit(p, bump, NULL));
  ASSERT(!api_pool_submit(p, bump, NULL)); /* full: refused, not queued */
  api_pool_free(p);
  ASSERT_EQ_INT(api_pool_new("t", 2, 8, &p, NULL), TW_OK);
  atomic_store(&ran, 0);
  for (int i = 0; i < 8; i++) ASSERT(api_pool_submit(p, bump, NULL));
  api_pool_free(p); /* drains before joining */
  ASSERT_EQ_INT(atomic_load(&ran), 8);
}

TEST(job_error_split) {
  char kind[64];
  const char *msg;
  api_job_error_split("invoke_timeout: too slow", kind, sizeof kind, &msg);
  ASSERT_EQ_STR(kind, "invoke_timeout");
  ASSERT_EQ_STR(msg, "too slow");
  api_job_error_split(TW_JOB_INTERRUPTED_REASON, kind, sizeof kind, &msg);
  ASSERT_EQ_STR(kind, "interrupted");
  ASSERT_EQ_STR(msg, "server restarted while the job was running");
  api_job_error_split("Weird text", kind, sizeof kind, &msg);
  ASSERT_EQ_STR(kind, "internal");
  ASSERT_EQ_STR(msg, "Weird text");
}

TEST(error_table) {
  ASSERT_EQ_STR(api_error_kind(API_ERR_TENANT_SCOPE_DENIED), "tenant_scope_denied");
  ASSERT_EQ_INT(api_error_status(API_ERR_TENANT_SCOPE_DENIED), 403);
  ASSERT_EQ_INT(api_error_status(API_ERR_INVOKE_TIMEOUT), 504);
  ASSERT_EQ_INT(api_error_status(API_ERR_CAPACITY_EXHAUSTED), 503);
  ASSERT_EQ_INT(api_error_status(API_ERR_TENANT_CAPACITY_EXHAUSTED), 429);
  api_fail f;
  tw_exec_error e;
  tw_exec_error_clear(&e);
  e.kind = TW_EXEC_ERR_TRAP;
  e.base.trap = TW_TRAP_DIV_ZERO;
  e.instance = 12345;
  api_fail_from_exec(&f, &e);
  ASSERT_EQ_INT(f.kind, API_ERR_WASMTIME);
  ASSERT_CONTAINS(f.message, "integer divide by zero");
  ASSERT(strstr(f.message, "12345") == NULL); /* no instance ids */
}

TEST_MAIN()
