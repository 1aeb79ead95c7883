/* JSON in and out of the executor, shared by the gateway and the CLI.
 *
 * Arguments follow the HTTP API's rule (INTERFACES §1.5): an integer in
 * i32 range is an i32, a larger integer an i64, any other number an f64;
 * f32 cannot be chosen from JSON.  The call then checks these types
 * against the export's signature exactly, as the original does.  Results
 * go out as the API's `result`: "ok" for none, else an array. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec_int.h"

tw_status tw_exec_args_from_json(const json_t *array, tw_val **out, size_t *n,
                                 tw_exec_error *err) {
  tw_exec_error_clear(err);
  if (!out || !n)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "args_from_json: NULL output");
  *out = NULL;
  *n = 0;
  if (!json_is_array(array))
    return tw__exec_set_error(err, TW_EXEC_ERR_INVALID_ARGS, TW_ARG,
                              "args must be a JSON array of numbers");
  size_t count = json_array_size(array);
  if (count > TW_EXEC_MAX_ARGS)
    return tw__exec_set_error(err, TW_EXEC_ERR_TOO_MANY_ARGS, TW_ARG,
                              "%zu args given, at most %d allowed", count,
                              TW_EXEC_MAX_ARGS);
  if (!count) return TW_OK;
  tw_val *v = calloc(count, sizeof *v);
  if (!v)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory converting args");
  for (size_t i = 0; i < count; i++) {
    const json_t *j = json_array_get(array, i);
    if (json_is_integer(j)) {
      json_int_t x = json_integer_value(j);
      v[i] = x >= INT32_MIN && x <= INT32_MAX ? tw_val_i32((int32_t)x)
                                              : tw_val_i64((int64_t)x);
    } else if (json_is_real(j)) {
      v[i] = tw_val_f64(json_real_value(j));
    } else {
      free(v);
      return tw__exec_set_error(err, TW_EXEC_ERR_INVALID_ARGS, TW_ARG,
                                "args[%zu] is not a number", i);
    }
  }
  *out = v;
  *n = count;
  return TW_OK;
}

tw_status tw_exec_args_from_json_text(const char *text, size_t len,
                                      tw_val **out, size_t *n,
                                      tw_exec_error *err) {
  json_error_t jerr;
  json_t *root = json_loadb(text ? text : "", text ? len : 0,
                            JSON_DECODE_ANY, &jerr);
  if (!root) {
    if (out) *out = NULL;
    if (n) *n = 0;
    return tw__exec_set_error(err, TW_EXEC_ERR_INVALID_ARGS, TW_ARG,
                              "args are not valid JSON (column %d): %s",
                              jerr.column, jerr.text);
  }
  tw_status st = tw_exec_args_from_json(root, out, n, err);
  json_decref(root);
  return st;
}

/* JSON has no NaN or infinity; they travel as strings. */
static json_t *float_json(double v) {
  if (isnan(v)) return json_string(signbit(v) ? "-nan" : "nan");
  if (isinf(v)) return json_string(v < 0 ? "-inf" : "inf");
  return json_real(v);
}

tw_status tw_exec_result_to_json(const tw_exec_result *r, json_t **out,
                                 tw_exec_error *err) {
  tw_exec_error_clear(err);
  if (!r || !out)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "result_to_json: NULL argument");
  *out = NULL;
  if (r->count == 0) {
    *out = json_string("ok");
    goto done;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < r->count; i++) {
    tw_val v = r->values[i];
    json_t *j = NULL;
    switch (v.type) {
    case TW_I32: j = json_integer(v.of.i32); break;
    case TW_I64: j = json_integer(v.of.i64); break;
    case TW_F32: j = float_json(tw_val_as_f32(v)); break;
    case TW_F64: j = float_json(tw_val_as_f64(v)); break;
    default:
      json_decref(arr);
      return tw__exec_set_error(err, TW_EXEC_ERR_UNSUPPORTED_RETURN_TYPE,
                                TW_UNSUPPORTED,
                                "result %zu is a %s, which JSON cannot carry",
                                i, tw_valtype_name(v.type));
    }
    if (!j || json_array_append_new(arr, j) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  *out = arr;
done:
  if (!*out)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory building a result");
  return TW_OK;
}
