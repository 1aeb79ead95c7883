/* Fuzz target `jsonargs`: the JSON-to-wasm argument rule of the invoke
 * API (tw_exec_args_from_json_text).
 *
 * Oracles: success gives at most TW_EXEC_MAX_ARGS values, each i32, i64
 * or f64 (f32 cannot be chosen from JSON); an i32 comes from an integer in
 * its range and converting the result to JSON and back is stable. */
#include <string.h>

#include "fuzz.h"
#include "tensorwasm/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_val *args = NULL;
  size_t n = 0;
  tw_exec_error err;
  memset(&err, 0, sizeof err);
  if (tw_exec_args_from_json_text((const char *)data, size, &args, &n, &err) != TW_OK) {
    FUZZ_CHECK(args == NULL || n == 0, "failure left %zu values", n);
    free(args);
    return 0;
  }
  FUZZ_CHECK(n <= TW_EXEC_MAX_ARGS, "%zu arguments", n);
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK(args[i].type == TW_I32 || args[i].type == TW_I64 || args[i].type == TW_F64,
               "argument %zu has type %d", i, (int)args[i].type);
  tw_exec_result r = {.values = args, .count = n};
  json_t *j = NULL;
  if (n && tw_exec_result_to_json(&r, &j, &err) == TW_OK) {
    tw_val *back = NULL;
    size_t m = 0;
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text &&
        tw_exec_args_from_json_text(text, strlen(text), &back, &m, &err) == TW_OK) {
      FUZZ_CHECK(m == n, "round trip: %zu values, then %zu", n, m);
      for (size_t i = 0; i < n && i < m; i++)
        FUZZ_CHECK(args[i].type != TW_I32 || (back[i].type == TW_I32 &&
                                              back[i].of.i32 == args[i].of.i32),
                   "i32 argument %zu changed in a round trip", i);
    }
    free(back);
    free(text);
    json_decref(j);
  }
  free(args);
  return 0;
}
