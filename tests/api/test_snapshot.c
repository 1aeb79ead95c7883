/* Snapshots through the gateway (issue 9): deploy-time capture and warm
 * starts (the initialiser's state is there, the initialiser did not run
 * at invoke time: the guest counts its runs, and the restore counter
 * moves once per invocation), "snapshot": false runs cold, a module
 * without an initialiser is not snapshotted, and POST /snapshot/save and
 * /snapshot/restore round-trip between two servers; a wrong key, a
 * tampered blob, another tenant's snapshot (403) and a missing key (503)
 * are refused. */
#include <sys/stat.h>

#include "api_util.h"
#include "tensorwasm/metrics.h"
#include "test.h"

#define KEY_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

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

/* A server whose snapshots live in <dir>/snapshots, signing with `key`
 * ("" for none). */
static bool start(tu_server *s, const char *key) {
  static char dirs[8][128];
  static int next;
  char dir[64];
  tw_api_config cfg;
  tu_make_dir(dir, sizeof dir);
  char *snap = dirs[next++ % 8];
  snprintf(snap, sizeof dirs[0], "%s/snapshots", dir);
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.snapshot_dir = snap;
  cfg.snapshot_hmac_key = key;
  return tu_start_with(s, &cfg, NULL, NULL, dir);
}

/* Deploys guest `name` with an optional "snapshot" member ("true",
 * "false" or NULL) as tenant header `tenant`; writes the id and whether
 * the server says it warm-starts. */
static bool deploy(const tu_server *s, const char *name, const char *flag, const char *tenant,
                   char id[64], bool *warm) {
  char path[512], url[1024];
  size_t len;
  uint8_t *wasm = tu_read_file(tu_guest(name, path, sizeof path), &len);
  if (!wasm) return false;
  char *b64 = tu_b64(wasm, len);
  free(wasm);
  json_t *doc = json_pack("{s:s,s:s}", "name", name, "wasm_b64", b64);
  if (flag) json_object_set_new(doc, "snapshot", json_boolean(strcmp(flag, "true") == 0));
  char *text = json_dumps(doc, 0);
  const char *hs[] = {tenant, NULL};
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions", s->base);
  tu_http_json("POST", url, tenant ? hs : NULL, text, &r);
  bool ok = r.status == 200;
  if (ok) {
    json_error_t jerr;
    json_t *got = json_loads(r.body, 0, &jerr);
    snprintf(id, 64, "%s", json_string_value(json_object_get(got, "id")));
    *warm = json_is_true(json_object_get(got, "snapshot"));
    json_decref(got);
  } else {
    fprintf(stderr, "  deploy %s: %ld %s\n", name, r.status, r.body);
  }
  tu_resp_free(&r);
  free(text);
  json_decref(doc);
  free(b64);
  return ok;
}

/* The i32 result of export `ex` of function `id`; INT64_MIN on error. */
static long long call(const tu_server *s, const char *id, const char *tenant, const char *ex) {
  char url[1024], body[256];
  const char *hs[] = {tenant, NULL};
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions/%s/invoke", s->base, id);
  snprintf(body, sizeof body, "{\"export\":\"%s\"}", ex);
  tu_http_json("POST", url, tenant ? hs : NULL, body, &r);
  long long v = INT64_MIN;
  json_error_t jerr;
  json_t *doc = json_loads(r.body, 0, &jerr);
  json_t *res = json_object_get(doc, "result");
  if (r.status == 200 && json_is_array(res) && json_is_integer(json_array_get(res, 0)))
    v = json_integer_value(json_array_get(res, 0));
  else
    fprintf(stderr, "  %s/%s: %ld %s\n", id, ex, r.status, r.body);
  json_decref(doc);
  tu_resp_free(&r);
  return v;
}

/* tensor_wasm_snapshot_restore_seconds_count in this process. */
static long long restores(void) {
  tw_metric_buf buf = {0};
  long long n = -1;
  if (tw_metric_registry_render(tw_metric_registry_default(), &buf, NULL) == TW_OK) {
    const char *p = buf.data ? strstr(buf.data, "tensor_wasm_snapshot_restore_seconds_count") : NULL;
    if (p) n = strtoll(strchr(p, ' ') + 1, NULL, 10);
  }
  tw_metric_buf_free(&buf);
  return n;
}

static void post(const tu_server *s, const char *route, const char *tenant, const char *json,
                 tu_resp *r) {
  char url[1024];
  const char *hs[] = {tenant, NULL};
  snprintf(url, sizeof url, "%s%s", s->base, route);
  tu_http_json("POST", url, tenant ? hs : NULL, json, r);
}

/* The snapshot_b64 of function `id` saved as `tenant` (malloc'd). */
static char *save(const tu_server *s, const char *id, const char *tenant) {
  char body[256], b64[8];
  tu_resp r;
  snprintf(body, sizeof body, "{\"function_id\":\"%s\"}", id);
  post(s, "/snapshot/save", tenant, body, &r);
  char *out = NULL;
  json_error_t jerr;
  json_t *doc = json_loads(r.body, 0, &jerr);
  if (r.status == 200 && json_is_true(json_object_get(doc, "signed")) &&
      strcmp(json_string_value(json_object_get(doc, "function_id")), id) == 0)
    out = strdup(json_string_value(json_object_get(doc, "snapshot_b64")));
  else
    fprintf(stderr, "  save: %ld %s\n", r.status, r.body);
  (void)b64;
  json_decref(doc);
  tu_resp_free(&r);
  return out;
}

static void restore(const tu_server *s, const char *b64, const char *tenant, tu_resp *r) {
  json_t *doc = json_pack("{s:s}", "snapshot_b64", b64);
  char *text = json_dumps(doc, 0);
  post(s, "/snapshot/restore", tenant, text, r);
  free(text);
  json_decref(doc);
}

TEST(deploy_snapshots_and_warm_starts) {
  tu_server s;
  char warm_id[64], cold_id[64], calc_id[64], again_id[64];
  bool warm = false;
  ASSERT(start(&s, ""));
  ASSERT(deploy(&s, "initcount", NULL, NULL, warm_id, &warm));
  ASSERT(warm); /* default: an initialiser exists */
  long long before = restores();
  /* The initialiser's state is there; it ran once, at deploy. */
  ASSERT_EQ_INT(call(&s, warm_id, NULL, "state"), 4242 + 7);
  ASSERT_EQ_INT(call(&s, warm_id, NULL, "init_runs"), 1);
  /* Each instance is fresh: one's write is invisible to the next. */
  ASSERT_EQ_INT(call(&s, warm_id, NULL, "bump"), 4243 + 7);
  ASSERT_EQ_INT(call(&s, warm_id, NULL, "bump"), 4243 + 7);
  /* Four invocations, four restores (none ran the initialiser). */
  ASSERT_EQ_INT(restores() - before, 4);

  /* "snapshot": false: cold, as before snapshots (no initialiser run). */
  ASSERT(deploy(&s, "initcount", "false", NULL, cold_id, &warm));
  ASSERT(!warm);
  before = restores();
  ASSERT_EQ_INT(call(&s, cold_id, NULL, "init_runs"), 0);
  ASSERT_EQ_INT(call(&s, cold_id, NULL, "state"), 0);
  ASSERT_EQ_INT(restores() - before, 0);
  /* The other function of the same bytes keeps its warm start. */
  ASSERT_EQ_INT(call(&s, warm_id, NULL, "state"), 4242 + 7);

  /* A second deploy of the same bytes reuses the module's image. */
  ASSERT(deploy(&s, "initcount", "true", NULL, again_id, &warm));
  ASSERT(warm);
  ASSERT_EQ_INT(call(&s, again_id, NULL, "init_runs"), 1);

  /* No initialiser: no snapshot by default. */
  ASSERT(deploy(&s, "calc", NULL, NULL, calc_id, &warm));
  ASSERT(!warm);

  /* A raw deploy takes ?snapshot=; anything but true/false is refused. */
  char path[512], url[1024];
  size_t len;
  uint8_t *wasm = tu_read_file(tu_guest("initcount", path, sizeof path), &len);
  ASSERT(wasm);
  const char *hs[] = {"Content-Type: application/wasm", NULL};
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions?name=raw&snapshot=maybe", s.base);
  tu_http("POST", url, hs, wasm, len, &r);
  free(wasm);
  EXPECT(r, 400, "bad_request");
  tu_resp_free(&r);

  /* Deleting a cold function removes its sidecar. */
  char side[512];
  snprintf(side, sizeof side, "%s/snapshots/%s.cold", s.dir, cold_id);
  struct stat st;
  ASSERT(stat(side, &st) == 0);
  snprintf(url, sizeof url, "%s/functions/%s", s.base, cold_id);
  tu_http("DELETE", url, NULL, NULL, 0, &r);
  ASSERT_EQ_INT(r.status, 204);
  tu_resp_free(&r);
  ASSERT(stat(side, &st) != 0);
  tu_stop(&s);
}

TEST(save_restore_round_trip_and_refusals) {
  tu_server a, b, wrong, nokey;
  char id[64];
  bool warm;
  tu_resp r;
  ASSERT(start(&a, KEY_A));
  ASSERT(start(&b, KEY_A));
  ASSERT(start(&wrong, KEY_B));
  ASSERT(start(&nokey, ""));
  ASSERT(deploy(&a, "initcount", NULL, "X-TensorWasm-Tenant: 7", id, &warm));
  ASSERT(warm);
  char *blob = save(&a, id, "X-TensorWasm-Tenant: 7");
  ASSERT(blob);

  /* Round trip: the restored function answers the same, warm. */
  restore(&b, blob, "X-TensorWasm-Tenant: 7", &r);
  ASSERT_EQ_INT(r.status, 200);
  char fid[64], tenant[8];
  tu_str(&r, "function_id", fid, sizeof fid);
  json_error_t jerr;
  json_t *doc = json_loads(r.body, 0, &jerr);
  ASSERT_EQ_INT(json_integer_value(json_object_get(doc, "tenant_id")), 7);
  ASSERT(json_integer_value(json_object_get(doc, "total_uncompressed_bytes")) > 65536);
  ASSERT_EQ_INT(json_integer_value(json_object_get(doc, "version")), 1);
  json_decref(doc);
  (void)tenant;
  tu_resp_free(&r);
  ASSERT(fid[0]);
  long long before = restores();
  ASSERT_EQ_INT(call(&b, fid, "X-TensorWasm-Tenant: 7", "state"), 4242 + 7);
  ASSERT_EQ_INT(call(&b, fid, "X-TensorWasm-Tenant: 7", "init_runs"), 1);
  ASSERT_EQ_INT(restores() - before, 2);
  /* It is tenant 7's function on b. */
  ASSERT_EQ_INT(call(&b, fid, "X-TensorWasm-Tenant: 8", "state"), INT64_MIN);

  /* Another tenant's snapshot: 403 tenant_scope_denied. */
  restore(&b, blob, "X-TensorWasm-Tenant: 8", &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  /* Another key: 403 snapshot_signature_invalid. */
  restore(&wrong, blob, "X-TensorWasm-Tenant: 7", &r);
  EXPECT(r, 403, "snapshot_signature_invalid");
  tu_resp_free(&r);
  /* One byte changed, still valid base64: 403 as well. */
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  {
    size_t n = strlen(blob);
    raw = malloc(n);
    ASSERT(raw);
    int got = EVP_DecodeBlock(raw, (const unsigned char *)blob, (int)n);
    ASSERT(got > 64);
    raw_len = (size_t)got - (blob[n - 1] == '=') - (n > 1 && blob[n - 2] == '=');
  }
  raw[raw_len / 2] ^= 0x01;
  char *tampered = tu_b64(raw, raw_len);
  restore(&b, tampered, "X-TensorWasm-Tenant: 7", &r);
  EXPECT(r, 403, "snapshot_signature_invalid");
  tu_resp_free(&r);
  /* Too short to hold a MAC, or garbage: the same one answer. */
  restore(&b, "AAAA", "X-TensorWasm-Tenant: 7", &r);
  EXPECT(r, 403, "snapshot_signature_invalid");
  tu_resp_free(&r);
  /* No key: 503 on both routes. */
  restore(&nokey, blob, "X-TensorWasm-Tenant: 7", &r);
  EXPECT(r, 503, "snapshot_signing_not_configured");
  tu_resp_free(&r);
  char body[256];
  snprintf(body, sizeof body, "{\"function_id\":\"%s\"}", id);
  post(&nokey, "/snapshot/save", "X-TensorWasm-Tenant: 7", body, &r);
  EXPECT(r, 503, "snapshot_signing_not_configured");
  tu_resp_free(&r);
  /* Saving another tenant's function: 403; an unknown one: 404. */
  post(&a, "/snapshot/save", "X-TensorWasm-Tenant: 8", body, &r);
  EXPECT(r, 403, "tenant_scope_denied");
  tu_resp_free(&r);
  post(&a, "/snapshot/save", "X-TensorWasm-Tenant: 7",
       "{\"function_id\":\"00000000-0000-4000-8000-000000000000\"}", &r);
  EXPECT(r, 404, "not_found");
  tu_resp_free(&r);
  /* A function without a deploy-time image is captured afresh. */
  char cold[64];
  ASSERT(deploy(&a, "initcount", "false", "X-TensorWasm-Tenant: 7", cold, &warm));
  char *fresh = save(&a, cold, "X-TensorWasm-Tenant: 7");
  ASSERT(fresh);
  restore(&b, fresh, "X-TensorWasm-Tenant: 7", &r);
  ASSERT_EQ_INT(r.status, 200);
  tu_str(&r, "function_id", fid, sizeof fid);
  tu_resp_free(&r);
  ASSERT_EQ_INT(call(&b, fid, "X-TensorWasm-Tenant: 7", "state"), 4242 + 7);
  free(fresh);
  free(tampered);
  free(raw);
  free(blob);
  tu_stop(&a);
  tu_stop(&b);
  tu_stop(&wrong);
  tu_stop(&nokey);
}

TEST(malformed_key_refuses_to_start) {
  tu_server s;
  tw_api_config cfg;
  tw_error err;
  char dir[64];
  tu_make_dir(dir, sizeof dir);
  memset(&s, 0, sizeof s);
  ASSERT(tw_registry_open(dir, NULL, &s.reg, &err) == TW_OK);
  tw_exec_error eerr;
  ASSERT(tw_exec_new(NULL, &s.exec, &eerr) == TW_OK);
  tw_api_config_init(&cfg);
  cfg.tokens = "";
  cfg.snapshot_hmac_key = "abc";
  cfg.registry = s.reg;
  cfg.exec = s.exec;
  tw_error_clear(&err);
  ASSERT_EQ_INT(tw_api_start(&cfg, &s.api, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "64 hex");
  tw_exec_free(s.exec);
  tw_registry_close(s.reg);
  tu_rm_tree(dir);
}

TEST_MAIN()
