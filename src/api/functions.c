/* Function routes: deploy, list, get, delete.  They run on the control
 * pool (storage commits fsync; validation of a large module takes time).
 *
 * A deploy is validated completely before it is stored: a module the
 * engine would refuse never gets an id.  Owner checks compare the stored
 * tenant with the caller's after the lookup; the token's scope was
 * checked on the I/O thread before any lookup. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

bool api_function_lookup(tw_api_t *api, const char *id, uint64_t tenant, tw_function_info *out,
                         api_fail *f) {
  tw_error err;
  tw_error_clear(&err);
  tw_status st = tw_registry_function_get(api->registry, id, out, &err);
  if (st == TW_NOT_FOUND || st == TW_ARG) { /* TW_ARG: not a UUID, so no function */
    api_fail_set(f, API_ERR_NOT_FOUND, "no such function");
    return false;
  }
  if (st != TW_OK) {
    api_fail_store(f, st, &err);
    return false;
  }
  if (out->tenant != tenant) {
    api_fail_set(f, API_ERR_TENANT_SCOPE_DENIED, "the function belongs to another tenant");
    return false;
  }
  return true;
}

/* 1..256 bytes of UTF-8 without control characters. */
static bool name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > TW_FUNCTION_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f) return false;
  }
  return api_utf8_valid((const uint8_t *)name, n);
}

/* The deploy body: raw application/wasm with ?name=, or JSON
 * {"name", "wasm_b64"}.  *wasm is either r->body (borrowed, *owned NULL)
 * or a decoded copy in *owned. */
static bool deploy_parse(api_req *r, const char **name, const uint8_t **wasm, size_t *len,
                         uint8_t **owned, json_t **doc, api_fail *f) {
  *owned = NULL;
  *doc = NULL;
  if (api_ctype_is(r->ctype_in, "application/wasm")) {
    *name = r->query_name;
    *wasm = r->body;
    *len = r->body_len;
  } else {
    json_error_t jerr;
    *doc = json_loadb((const char *)r->body, r->body_len, 0, &jerr);
    if (!*doc || !json_is_object(*doc)) {
      api_fail_set(f, API_ERR_INVALID_JSON, "the body must be a JSON object {\"name\", \"wasm_b64\"}");
      return false;
    }
    json_t *n = json_object_get(*doc, "name"), *b = json_object_get(*doc, "wasm_b64");
    if (!json_is_string(n) || !json_is_string(b)) {
      api_fail_set(f, API_ERR_INVALID_JSON, "\"name\" and \"wasm_b64\" must be strings");
      return false;
    }
    *name = json_string_value(n);
    if (!api_base64_decode(json_string_value(b), json_string_length(b), owned, len)) {
      api_fail_set(f, API_ERR_INVALID_BASE64, "\"wasm_b64\" is not standard padded base64");
      return false;
    }
    *wasm = *owned;
  }
  if (!name_ok(*name)) {
    api_fail_set(f, API_ERR_INVALID_NAME,
                 "the name must be 1 to %d bytes of UTF-8 without control characters",
                 TW_FUNCTION_NAME_MAX);
    return false;
  }
  return true;
}

bool api_module_validate(tw_api_t *api, const uint8_t *wasm, size_t len, api_fail *f) {
  tw_error err;
  if (len < 8) {
    api_fail_set(f, API_ERR_INVALID_WASM, "a module is at least 8 bytes");
    return false;
  }
  tw_error_clear(&err);
  pthread_mutex_lock(&api->validate_lock);
  tw_status st = tw_module_validate(api->engine, wasm, len, &err);
  pthread_mutex_unlock(&api->validate_lock);
  if (st == TW_NOMEM) {
    api_fail_set(f, API_ERR_INTERNAL, "out of memory validating the module");
    return false;
  }
  if (st != TW_OK) {
    if (err.offset != SIZE_MAX)
      api_fail_set(f, API_ERR_INVALID_WASM, "invalid module: %s (at byte offset %zu)",
                   err.message, err.offset);
    else
      api_fail_set(f, API_ERR_INVALID_WASM, "invalid module: %s", err.message);
    return false;
  }
  return true;
}

/* The deploy's "snapshot" choice: JSON `"snapshot": true|false` (null or
 * absent: default), or ?snapshot=true|false with a raw module.  *want is
 * -1 (default), 0 or 1. */
static bool deploy_snapshot_flag(const api_req *r, const json_t *doc, int *want, api_fail *f) {
  *want = -1;
  if (doc) {
    json_t *v = json_object_get(doc, "snapshot");
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) {
      api_fail_set(f, API_ERR_INVALID_JSON, "\"snapshot\" must be true or false");
      return false;
    }
    *want = json_is_true(v) ? 1 : 0;
    return true;
  }
  const char *q = r->query_snapshot;
  if (!q) return true;
  if (strcmp(q, "true") == 0 || strcmp(q, "1") == 0) *want = 1;
  else if (strcmp(q, "false") == 0 || strcmp(q, "0") == 0) *want = 0;
  else {
    api_fail_set(f, API_ERR_BAD_REQUEST, "the snapshot query parameter must be true or false");
    return false;
  }
  return true;
}

void api_handle_fn_create(api_req *r) {
  tw_api_t *api = r->api;
  tw_span_t *span = tw_span_begin("http.create_function", TW_API_TARGET, TW_LEVEL_INFO);
  const char *name = NULL;
  const uint8_t *wasm = NULL;
  size_t len = 0;
  uint8_t *owned = NULL;
  json_t *doc = NULL;
  tw_function_info fn;
  tw_error err;
  api_fail f;
  int want_snapshot = -1;
  bool warm = false;
  api_span_tenant(span, r->tenant);
  if (!deploy_parse(r, &name, &wasm, &len, &owned, &doc, &f) ||
      !deploy_snapshot_flag(r, doc, &want_snapshot, &f) ||
      !api_module_validate(api, wasm, len, &f))
    goto fail;
  tw_error_clear(&err);
  tw_status put = tw_registry_function_put(api->registry, r->tenant, name, wasm, len, &fn, &err);
  if (put != TW_OK) {
    api_fail_store(&f, put, &err);
    goto fail;
  }
  if (!api_snapshot_deploy(api, &fn, wasm, len, want_snapshot, &warm, &f)) {
    /* The choice could not be recorded: take the deploy back. */
    tw_error_clear(&err);
    if (tw_registry_function_delete(api->registry, fn.id, &err) != TW_OK)
      tw_event(TW_LEVEL_ERROR, TW_API_TARGET, "registry: %s", err.message);
    goto fail;
  }
  tw_counter_inc(api->metrics->functions);
  tw_span_attr_str(span, "function_id", fn.id);
  snprintf(r->created_id, sizeof r->created_id, "%s", fn.id); /* for the audit record */
  api_resp_json(r, 200, json_pack("{s:s,s:b}", "id", fn.id, "snapshot", warm));
  goto done;
fail:
  tw_span_attr_str(span, "function_id", NULL);
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
done:
  json_decref(doc);
  free(owned);
  tw_span_end(span);
}

void api_handle_fn_get(api_req *r) {
  tw_function_info fn;
  api_fail f;
  if (!api_function_lookup(r->api, r->match.id, r->tenant, &fn, &f)) {
    api_resp_fail(r, &f);
    return;
  }
  api_resp_json(r, 200, api_function_json(&fn));
}

void api_handle_fn_delete(api_req *r) {
  tw_span_t *span = tw_span_begin("http.delete_function", TW_API_TARGET, TW_LEVEL_INFO);
  tw_function_info fn;
  tw_error err;
  api_fail f;
  tw_span_attr_str(span, "function_id", r->match.id);
  api_span_tenant(span, r->tenant);
  if (!api_function_lookup(r->api, r->match.id, r->tenant, &fn, &f)) goto fail;
  tw_error_clear(&err);
  tw_status st = tw_registry_function_delete(r->api->registry, fn.id, &err);
  if (st == TW_NOT_FOUND) { /* deleted by a concurrent request */
    api_fail_set(&f, API_ERR_NOT_FOUND, "no such function");
    goto fail;
  }
  if (st != TW_OK) {
    api_fail_store(&f, st, &err);
    goto fail;
  }
  api_snapshot_forget(r->api, fn.id);
  api_resp_empty(r, 204);
  tw_span_end(span);
  return;
fail:
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
  tw_span_end(span);
}

void api_handle_fn_list(api_req *r) {
  size_t limit = LIST_DEFAULT, count = 0;
  char next[TW_REGISTRY_CURSOR_MAX];
  tw_error err;
  if (r->query_limit) {
    uint64_t v;
    if (!api_tenant_parse(r->query_limit, &v) || v < 1 || v > LIST_MAX) {
      api_resp_error(r, API_ERR_BAD_REQUEST, "limit must be 1 to %d", LIST_MAX);
      return;
    }
    limit = (size_t)v;
  }
  tw_function_info *items = calloc(limit, sizeof *items);
  if (!items) {
    api_resp_error(r, API_ERR_INTERNAL, "out of memory");
    return;
  }
  tw_error_clear(&err);
  tw_status st = tw_registry_function_list(r->api->registry, r->tenant, r->query_cursor, items,
                                           limit, &count, next, &err);
  if (st == TW_ARG) {
    api_resp_error(r, API_ERR_BAD_REQUEST, "malformed cursor");
  } else if (st != TW_OK) {
    api_fail f;
    api_fail_store(&f, st, &err);
    api_resp_fail(r, &f);
  } else {
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++) json_array_append_new(arr, api_function_json(&items[i]));
    api_resp_json(r, 200, json_pack("{s:o,s:o}", "functions", arr, "next_cursor",
                                     next[0] ? json_string(next) : json_null()));
  }
  free(items);
}
