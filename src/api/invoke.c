/* Invocation: the request body, the run itself (span invoke.run) and the
 * synchronous route.  The run is shared with async jobs (jobs.c), so both
 * paths produce the same result object and the same errors.
 *
 * Runs on the guest pool only: this is the one place guest code starts. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define EXPORT_NAME_MAX 1024

void api_invoke_req_free(api_invoke_req *q) {
  free(q->export_name);
  free(q->args_json);
  free(q->args);
  free(q->input_owned);
  memset(q, 0, sizeof *q);
}

static bool args_set(api_invoke_req *q, const json_t *arr, api_fail *f) {
  tw_exec_error e;
  tw_exec_error_clear(&e);
  if (tw_exec_args_from_json(arr, &q->args, &q->nargs, &e) != TW_OK) {
    if (e.kind == TW_EXEC_ERR_INVALID_ARGS || e.kind == TW_EXEC_ERR_TOO_MANY_ARGS)
      api_fail_set(f, e.kind == TW_EXEC_ERR_INVALID_ARGS ? API_ERR_INVALID_ARGS
                                                         : API_ERR_TOO_MANY_ARGS,
                   "%s", e.base.message);
    else
      api_fail_from_exec(f, &e);
    return false;
  }
  if (!(q->args_json = json_dumps(arr, JSON_COMPACT))) {
    api_fail_set(f, API_ERR_INTERNAL, "out of memory");
    return false;
  }
  return true;
}

static bool export_set(api_invoke_req *q, const char *name, api_fail *f) {
  if (!name) return true;
  if (strlen(name) > EXPORT_NAME_MAX) {
    api_fail_set(f, API_ERR_MISSING_EXPORT, "no such export (name too long)");
    return false;
  }
  if (!(q->export_name = strdup(name))) {
    api_fail_set(f, API_ERR_INTERNAL, "out of memory");
    return false;
  }
  return true;
}

/* application/octet-stream: the body is stdin; ?export= and ?args=. */
static bool parse_stream(const api_req *r, api_invoke_req *q, api_fail *f) {
  q->input = r->body;
  q->input_len = r->body_len;
  if (!export_set(q, r->query_export, f)) return false;
  if (r->query_args) {
    json_error_t jerr;
    json_t *arr = json_loads(r->query_args, 0, &jerr);
    bool ok = arr != NULL;
    if (!ok) api_fail_set(f, API_ERR_INVALID_ARGS, "the args query parameter is not a JSON array");
    ok = ok && args_set(q, arr, f);
    json_decref(arr);
    return ok;
  }
  return true;
}

static bool parse_json_input(const json_t *doc, api_invoke_req *q, api_fail *f) {
  json_t *text = json_object_get(doc, "input"), *b64 = json_object_get(doc, "input_b64");
  if (text && b64) {
    api_fail_set(f, API_ERR_BAD_REQUEST, "give \"input\" or \"input_b64\", not both");
    return false;
  }
  if (text) {
    if (!json_is_string(text)) {
      api_fail_set(f, API_ERR_INVALID_JSON, "\"input\" must be a string");
      return false;
    }
    q->input_len = json_string_length(text);
    q->input_owned = malloc(q->input_len ? q->input_len : 1);
    if (!q->input_owned) {
      api_fail_set(f, API_ERR_INTERNAL, "out of memory");
      return false;
    }
    memcpy(q->input_owned, json_string_value(text), q->input_len);
  } else if (b64) {
    if (!json_is_string(b64) ||
        !api_base64_decode(json_string_value(b64), json_string_length(b64), &q->input_owned,
                           &q->input_len)) {
      api_fail_set(f, API_ERR_INVALID_BASE64, "\"input_b64\" is not standard padded base64");
      return false;
    }
  }
  q->input = q->input_owned;
  return true;
}

bool api_invoke_parse(const api_req *r, api_invoke_req *q, api_fail *f) {
  memset(q, 0, sizeof *q);
  if (api_ctype_is(r->ctype_in, "application/octet-stream")) {
    if (!parse_stream(r, q, f)) goto fail;
  } else if (api_ctype_is(r->ctype_in, "application/json") && r->body_len > 0) {
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)r->body, r->body_len, 0, &jerr);
    if (!doc || !json_is_object(doc)) {
      json_decref(doc);
      api_fail_set(f, API_ERR_INVALID_JSON, "the body must be a JSON object");
      goto fail;
    }
    json_t *ex = json_object_get(doc, "export"), *args = json_object_get(doc, "args");
    bool ok = true;
    if (ex && !json_is_null(ex) && !json_is_string(ex)) {
      api_fail_set(f, API_ERR_INVALID_JSON, "\"export\" must be a string");
      ok = false;
    }
    ok = ok && export_set(q, json_is_string(ex) ? json_string_value(ex) : NULL, f);
    if (ok && args && !json_is_null(args)) ok = args_set(q, args, f);
    ok = ok && parse_json_input(doc, q, f);
    json_decref(doc);
    if (!ok) goto fail;
  }
  /* Anything else, or an empty body, is {} (as the original). */
  if (!q->args_json && !(q->args_json = strdup("[]"))) {
    api_fail_set(f, API_ERR_INTERNAL, "out of memory");
    goto fail;
  }
  return true;
fail:
  api_invoke_req_free(q);
  return false;
}

/* {"function_id", "result", "stdout"?, "stdout_b64"?, "exit_code"?} */
static json_t *result_object(const tw_function_info *fn, const tw_exec_result *res,
                             json_t *result) {
  json_t *o = json_pack("{s:s,s:o}", "function_id", fn->id, "result", result);
  if (!o) return NULL;
  if (res->stdout_len > 0) {
    char *b64 = api_base64_encode(res->stdout_data, res->stdout_len);
    if (b64) json_object_set_new(o, "stdout_b64", json_string(b64));
    free(b64);
    if (api_utf8_valid(res->stdout_data, res->stdout_len))
      json_object_set_new(o, "stdout", json_stringn((const char *)res->stdout_data,
                                                    res->stdout_len));
  }
  if (res->exited) json_object_set_new(o, "exit_code", json_integer(res->exit_code));
  return o;
}

static void count_outcome(tw_api_t *api, uint64_t tenant, tw_status st, tw_trap_code trap) {
  char t[24];
  snprintf(t, sizeof t, "%llu", (unsigned long long)tenant);
  tw_counter_inc(
      tw_metric_counter_with(api->metrics->invocations, t, tw_metrics_outcome_label(st, trap)));
}

bool api_invoke_run(tw_api_t *api, const tw_function_info *fn, uint64_t tenant,
                    const char *export_name, const tw_val *args, size_t nargs,
                    size_t args_len_attr, const uint8_t *input, size_t input_len, json_t **out,
                    api_fail *f) {
  tw_span_t *span = tw_span_begin("invoke.run", TW_API_TARGET, TW_LEVEL_INFO);
  uint8_t *bytes = NULL;
  size_t len = 0;
  tw_exec_module_t *mod = NULL;
  tw_exec_result res;
  tw_exec_error e;
  tw_error err;
  json_t *result = NULL;
  bool ok = false;
  memset(&res, 0, sizeof res);
  tw_exec_error_clear(&e);
  tw_error_clear(&err);
  api_span_tenant(span, tenant);
  tw_span_attr_str(span, "function_id", fn->id);
  tw_span_attr_int(span, "wasm_bytes_len", (int64_t)fn->size);
  tw_span_attr_str(span, "export", export_name ? export_name : "_start|main");
  tw_span_attr_int(span, "args_len", (int64_t)args_len_attr);
  tw_status st = tw_registry_function_bytes(api->registry, fn->id, &bytes, &len, &err);
  if (st == TW_NOT_FOUND) {
    api_fail_set(f, API_ERR_NOT_FOUND, "no such function");
    goto done;
  }
  if (st != TW_OK) {
    api_fail_store(f, st, &err);
    goto done;
  }
  tw_spawn_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.tenant_id = tenant;
  cfg.deadline_ms = api->cfg.deadline_ms;
  cfg.input = input;
  cfg.input_len = input_len;
  char snap[4096];
  cfg.snapshot_path = api_snapshot_path(api, fn, snap, sizeof snap); /* NULL: cold */
  st = tw_exec_module_load(api->exec, bytes, len, &mod, &e);
  if (st == TW_OK) st = tw_exec_invoke(api->exec, &cfg, mod, export_name, args, nargs, &res, &e);
  count_outcome(api, tenant, st, e.base.trap);
  if (st != TW_OK) {
    api_fail_from_exec(f, &e);
    goto done;
  }
  if ((st = tw_exec_result_to_json(&res, &result, &e)) != TW_OK) {
    api_fail_from_exec(f, &e);
    goto done;
  }
  if (!(*out = result_object(fn, &res, result))) {
    api_fail_set(f, API_ERR_INTERNAL, "out of memory");
    goto done;
  }
  ok = true;
done:
  if (!ok) {
    tw_span_attr_str(span, "error.kind", api_error_kind(f->kind));
    tw_span_set_status(span, TW_SPAN_STATUS_ERROR, api_error_kind(f->kind));
  }
  tw_exec_result_free(&res);
  tw_exec_module_free(mod);
  free(bytes);
  tw_span_end(span);
  return ok;
}

void api_handle_invoke(api_req *r) {
  tw_span_t *span = tw_span_begin("http.invoke_function", TW_API_TARGET, TW_LEVEL_INFO);
  api_invoke_req q;
  tw_function_info fn;
  json_t *out = NULL;
  api_fail f;
  tw_span_attr_str(span, "function_id", r->match.id);
  api_span_tenant(span, r->tenant);
  if (!api_invoke_parse(r, &q, &f)) goto fail;
  if (!api_function_lookup(r->api, r->match.id, r->tenant, &fn, &f) ||
      !api_invoke_run(r->api, &fn, r->tenant, q.export_name, q.args, q.nargs, q.nargs, q.input,
                      q.input_len, &out, &f)) {
    api_invoke_req_free(&q);
    goto fail;
  }
  api_invoke_req_free(&q);
  api_resp_json(r, 200, out);
  tw_span_end(span);
  return;
fail:
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
  tw_span_end(span);
}
