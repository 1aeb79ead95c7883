/* Executor: typed calls of every value type, argument checking, export and
 * instance errors, captured output and exit codes, size limits, and the
 * JSON argument rule of the HTTP API. */
#include <math.h>

#include "exec_util.h"
#include "test.h"

static const char *typed_wat =
    "(module\n"
    "  (memory 1)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (func (export \"i32\") (param i32 i32) (result i32)\n"
    "    (i32.add (local.get 0) (local.get 1)))\n"
    "  (func (export \"i64\") (param i64 i64) (result i64)\n"
    "    (i64.mul (local.get 0) (local.get 1)))\n"
    "  (func (export \"f32\") (param f32) (result f32)\n"
    "    (f32.mul (local.get 0) (f32.const 2)))\n"
    "  (func (export \"f64\") (param f64 f64) (result f64)\n"
    "    (f64.div (local.get 0) (local.get 1)))\n"
    "  (func (export \"multi\") (param i32) (result i32 i64 f32 f64)\n"
    "    (local.get 0) (i64.extend_i32_s (local.get 0))\n"
    "    (f32.convert_i32_s (local.get 0)) (f64.convert_i32_s (local.get 0)))\n"
    "  (func (export \"ref\") (param externref) (result externref) (local.get 0))\n"
    "  (func (export \"nothing\"))\n"
    "  (func (export \"div\") (param i32 i32) (result i32)\n"
    "    (i32.div_s (local.get 0) (local.get 1)))\n"
    "  (func (export \"bump\") (result i32)\n"
    "    (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g)))\n";

static const char *wasi_wat =
    "(module\n"
    "  (import \"wasi_snapshot_preview1\" \"fd_write\"\n"
    "    (func $fd_write (param i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"fd_read\"\n"
    "    (func $fd_read (param i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 16) \"hello\\n\")\n"
    "  (func (export \"hello\")\n"
    "    (i32.store (i32.const 0) (i32.const 16))\n"
    "    (i32.store (i32.const 4) (i32.const 6))\n"
    "    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))\n"
    "  (func (export \"bye\") (param i32) (call $exit (local.get 0)))\n"
    "  (func (export \"echo\")\n"
    "    (i32.store (i32.const 0) (i32.const 100))\n"
    "    (i32.store (i32.const 4) (i32.const 64))\n"
    "    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))\n"
    "    (i32.store (i32.const 4) (i32.load (i32.const 8)))\n"
    "    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))\n";

typedef struct fixture {
  tw_exec_t *exec;
  uint8_t *wasm;
  size_t len;
  tw_instance_id id;
  tw_exec_error err;
} fixture;

static int setup(fixture *f, const char *wat, const tw_exec_config *cfg,
                 const tw_spawn_config *sc) {
  memset(f, 0, sizeof *f);
  if (!(f->wasm = wat_bytes(wat, &f->len))) return 0;
  if (tw_exec_new(cfg, &f->exec, &f->err) != TW_OK) return 0;
  return tw_exec_spawn_instance(f->exec, sc, f->wasm, f->len, &f->id,
                                &f->err) == TW_OK;
}

static void teardown(fixture *f) {
  tw_exec_free(f->exec);
  free(f->wasm);
}

TEST(typed_calls_every_value_type) {
  fixture f;
  ASSERT(setup(&f, typed_wat, NULL, NULL));
  tw_exec_result r;
  tw_val a[2] = {tw_val_i32(40), tw_val_i32(2)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "i32", a, 2, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.count, 1);
  ASSERT_EQ_INT(r.values[0].type, TW_I32);
  ASSERT_EQ_INT(r.values[0].of.i32, 42);
  tw_exec_result_free(&r);

  tw_val b[2] = {tw_val_i64(3000000000LL), tw_val_i64(3)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "i64", b, 2, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].type, TW_I64);
  ASSERT_EQ_INT(r.values[0].of.i64, 9000000000LL);
  tw_exec_result_free(&r);

  tw_val c = tw_val_f32(1.25f);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "f32", &c, 1, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].type, TW_F32);
  ASSERT(tw_val_as_f32(r.values[0]) == 2.5f);
  tw_exec_result_free(&r);

  tw_val d[2] = {tw_val_f64(1.0), tw_val_f64(4.0)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "f64", d, 2, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].type, TW_F64);
  ASSERT(tw_val_as_f64(r.values[0]) == 0.25);
  tw_exec_result_free(&r);

  tw_val m = tw_val_i32(-7);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "multi", &m, 1, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.count, 4);
  ASSERT_EQ_INT(r.values[0].of.i32, -7);
  ASSERT_EQ_INT(r.values[1].of.i64, -7);
  ASSERT(tw_val_as_f32(r.values[2]) == -7.0f);
  ASSERT(tw_val_as_f64(r.values[3]) == -7.0);
  tw_exec_result_free(&r);

  int host_object;
  tw_val ref = {.type = TW_EXTERNREF, .of.externref = &host_object};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "ref", &ref, 1, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].type, TW_EXTERNREF);
  ASSERT(r.values[0].of.externref == &host_object);
  tw_exec_result_free(&r);

  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "nothing", NULL, 0, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.count, 0);
  tw_exec_result_free(&r);
  teardown(&f);
}

TEST(wrong_arity_and_wrong_type) {
  fixture f;
  ASSERT(setup(&f, typed_wat, NULL, NULL));
  tw_exec_result r;
  tw_val one = tw_val_i32(1);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "i32", &one, 1, &r, &f.err), TW_ARG);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_INVALID_ARGS);
  ASSERT_CONTAINS(f.err.base.message, "takes 2 arguments, got 1");
  ASSERT_EQ_INT(r.count, 0);

  tw_val mixed[2] = {tw_val_i32(1), tw_val_i64(2)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "i32", mixed, 2, &r, &f.err), TW_ARG);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_INVALID_ARGS);
  ASSERT_CONTAINS(f.err.base.message, "args[1] of i32: expected i32, got i64");
  ASSERT_EQ_STR(tw_exec_error_kind_name(f.err.kind), "invalid_args");

  tw_val fl = tw_val_f64(1.0);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "f32", &fl, 1, &r, &f.err), TW_ARG);
  ASSERT_CONTAINS(f.err.base.message, "expected f32, got f64");

  teardown(&f);
}

TEST(missing_export_not_found_and_trap) {
  fixture f;
  ASSERT(setup(&f, typed_wat, NULL, NULL));
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "nope", NULL, 0, &r, &f.err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_MISSING_EXPORT);
  ASSERT_EQ_STR(tw_exec_error_kind_name(f.err.kind), "missing_export");

  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id + 1000, "i32", NULL, 0, &r, &f.err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_NOT_FOUND);
  ASSERT_EQ_STR(tw_exec_error_kind_name(f.err.kind), "instance_not_found");

  tw_val z[2] = {tw_val_i32(1), tw_val_i32(0)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "div", z, 2, &r, &f.err), TW_TRAP);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_TRAP);
  ASSERT_EQ_INT(f.err.base.trap, TW_TRAP_DIV_ZERO);

  /* A trap leaves the instance usable; its state persists between calls. */
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "bump", NULL, 0, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 1);
  tw_exec_result_free(&r);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "bump", NULL, 0, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 2);
  tw_exec_result_free(&r);

  ASSERT_EQ_INT(tw_exec_live_count(f.exec), 1);
  ASSERT_EQ_INT(tw_exec_terminate(f.exec, f.id, &f.err), TW_OK);
  ASSERT_EQ_INT(tw_exec_live_count(f.exec), 0);
  ASSERT_EQ_INT(tw_exec_terminate(f.exec, f.id, &f.err), TW_NOT_FOUND);
  ASSERT_EQ_INT(f.err.kind, TW_EXEC_ERR_NOT_FOUND);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "bump", NULL, 0, &r, &f.err),
                TW_NOT_FOUND);
  teardown(&f);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(deprecated_wrappers_still_call) {
  fixture f;
  ASSERT(setup(&f, typed_wat, NULL, NULL));
  ASSERT_EQ_INT(tw_exec_call_export(f.exec, f.id, "bump", &f.err), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export(f.exec, f.id, "i32", &f.err), TW_ARG);
  ASSERT_EQ_INT(tw_exec_call_export_then_terminate(f.exec, f.id, "bump", &f.err), TW_OK);
  ASSERT_EQ_INT(tw_exec_live_count(f.exec), 0);
  teardown(&f);
}
#pragma GCC diagnostic pop

TEST(call_then_terminate_on_failure_too) {
  fixture f;
  ASSERT(setup(&f, typed_wat, NULL, NULL));
  tw_exec_result r;
  tw_val z[2] = {tw_val_i32(1), tw_val_i32(0)};
  ASSERT_EQ_INT(tw_exec_call_export_with_args_then_terminate(f.exec, f.id, "div", z, 2, &r,
                                                             &f.err), TW_TRAP);
  ASSERT_EQ_INT(tw_exec_live_count(f.exec), 0);
  teardown(&f);
}

TEST(wasi_output_input_and_exit) {
  fixture f;
  const uint8_t input[] = "from stdin";
  tw_spawn_config sc = {.tenant_id = 7, .input = input, .input_len = 10};
  ASSERT(setup(&f, wasi_wat, NULL, &sc));
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "hello", NULL, 0, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.stdout_len, 6);
  ASSERT(memcmp(r.stdout_data, "hello\n", 6) == 0);
  tw_exec_result_free(&r);
  /* Each call gets only its own output. */
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "echo", NULL, 0, &r, &f.err), TW_OK);
  ASSERT_EQ_INT(r.stdout_len, 10);
  ASSERT(memcmp(r.stdout_data, "from stdin", 10) == 0);
  tw_exec_result_free(&r);
  tw_val code = tw_val_i32(3);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(f.exec, f.id, "bye", &code, 1, &r, &f.err), TW_OK);
  ASSERT(r.exited);
  ASSERT_EQ_INT(r.exit_code, 3);
  ASSERT_EQ_INT(tw_exec_tenant_live_count(f.exec, 7), 1);
  teardown(&f);
}

TEST(module_size_and_memory_refused_before_instantiation) {
  tw_exec_t *exec;
  tw_exec_error err;
  tw_exec_config cfg = {.max_module_bytes = 64, .max_memory_bytes = 1 << 20};
  ASSERT_EQ_INT(tw_exec_new(&cfg, &exec, &err), TW_OK);
  size_t len;
  uint8_t *big = wat_bytes(typed_wat, &len);
  ASSERT(big && len > 64);
  tw_instance_id id;
  ASSERT_EQ_INT(tw_exec_spawn_instance(exec, NULL, big, len, &id, &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_MODULE_TOO_LARGE);
  ASSERT_EQ_U64(err.requested, len);
  ASSERT_EQ_U64(err.limit, 64);
  free(big);

  uint8_t *mem = wat_bytes("(module (memory 17))", &len);
  ASSERT(mem);
  ASSERT_EQ_INT(tw_exec_spawn_instance(exec, NULL, mem, len, &id, &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_MODULE_MEMORY_TOO_LARGE);
  ASSERT_EQ_U64(err.requested, 17 * 65536);
  ASSERT_EQ_U64(err.limit, 1 << 20);
  ASSERT_EQ_STR(tw_exec_error_kind_name(err.kind), "module_memory_too_large");
  free(mem);

  uint8_t bad[] = {0, 'a', 's', 'm', 9, 9, 9, 9};
  ASSERT_EQ_INT(tw_exec_spawn_instance(exec, NULL, bad, sizeof bad, &id, &err), TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_INVALID_MODULE);

  uint8_t *imp = wat_bytes("(module (import \"env\" \"f\" (func)))", &len);
  ASSERT(imp);
  ASSERT_EQ_INT(tw_exec_spawn_instance(exec, NULL, imp, len, &id, &err), TW_UNLINKABLE);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_ENGINE);
  free(imp);
  ASSERT_EQ_INT(tw_exec_live_count(exec), 0);
  tw_exec_free(exec);
}

TEST(invoke_defaults_to_start_then_main) {
  tw_exec_t *exec;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(NULL, &exec, &err), TW_OK);
  size_t len;
  uint8_t *w = wat_bytes("(module (func (export \"main\") (result i32) (i32.const 5)))", &len);
  ASSERT(w);
  tw_exec_module_t *m;
  ASSERT_EQ_INT(tw_exec_module_load(exec, w, len, &m, &err), TW_OK);
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_invoke(exec, NULL, m, NULL, NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.count, 1);
  ASSERT_EQ_INT(r.values[0].of.i32, 5);
  tw_exec_result_free(&r);
  /* An export given by name has no fallback. */
  ASSERT_EQ_INT(tw_exec_invoke(exec, NULL, m, "_start", NULL, 0, &r, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_MISSING_EXPORT);
  /* Arguments from the spawn config when none are given. */
  uint8_t *w2 = wat_bytes("(module (func (export \"main\") (param i32) (result i32)"
                          " (i32.mul (local.get 0) (i32.const 3))))", &len);
  tw_exec_module_t *m2;
  ASSERT_EQ_INT(tw_exec_module_load(exec, w2, len, &m2, &err), TW_OK);
  tw_val arg = tw_val_i32(14);
  tw_spawn_config sc = {.args = &arg, .nargs = 1};
  ASSERT_EQ_INT(tw_exec_invoke(exec, &sc, m2, NULL, NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 42);
  tw_exec_result_free(&r);
  ASSERT_EQ_INT(tw_exec_live_count(exec), 0);
  tw_exec_module_free(m);
  tw_exec_module_free(m2);
  free(w);
  free(w2);
  tw_exec_free(exec);
}

TEST(json_argument_rule) {
  tw_val *v;
  size_t n;
  tw_exec_error err;
  const char *text = "[1, -2147483648, 2147483648, 1.5, 1e300, -9007199254740993]";
  ASSERT_EQ_INT(tw_exec_args_from_json_text(text, strlen(text), &v, &n, &err), TW_OK);
  ASSERT_EQ_INT(n, 6);
  ASSERT_EQ_INT(v[0].type, TW_I32);
  ASSERT_EQ_INT(v[0].of.i32, 1);
  ASSERT_EQ_INT(v[1].type, TW_I32);
  ASSERT_EQ_INT(v[1].of.i32, INT32_MIN);
  ASSERT_EQ_INT(v[2].type, TW_I64);
  ASSERT_EQ_INT(v[2].of.i64, 2147483648LL);
  ASSERT_EQ_INT(v[3].type, TW_F64);
  ASSERT(tw_val_as_f64(v[3]) == 1.5);
  ASSERT_EQ_INT(v[4].type, TW_F64);
  ASSERT_EQ_INT(v[5].type, TW_I64);
  ASSERT_EQ_INT(v[5].of.i64, -9007199254740993LL);
  free(v);

  ASSERT_EQ_INT(tw_exec_args_from_json_text("[1, \"x\"]", 8, &v, &n, &err), TW_ARG);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_INVALID_ARGS);
  ASSERT_CONTAINS(err.base.message, "args[1]");
  ASSERT_EQ_INT(tw_exec_args_from_json_text("{}", 2, &v, &n, &err), TW_ARG);
  ASSERT_EQ_INT(tw_exec_args_from_json_text("[1,", 3, &v, &n, &err), TW_ARG);
  ASSERT_EQ_INT(tw_exec_args_from_json_text("[]", 2, &v, &n, &err), TW_OK);
  ASSERT_EQ_INT(n, 0);

  json_t *many = json_array();
  for (int i = 0; i < TW_EXEC_MAX_ARGS + 1; i++) json_array_append_new(many, json_integer(i));
  ASSERT_EQ_INT(tw_exec_args_from_json(many, &v, &n, &err), TW_ARG);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TOO_MANY_ARGS);
  json_array_remove(many, 0);
  ASSERT_EQ_INT(tw_exec_args_from_json(many, &v, &n, &err), TW_OK);
  ASSERT_EQ_INT(n, TW_EXEC_MAX_ARGS);
  free(v);
  json_decref(many);
}

TEST(result_to_json) {
  tw_exec_error err;
  tw_exec_result r = {0};
  json_t *j;
  ASSERT_EQ_INT(tw_exec_result_to_json(&r, &j, &err), TW_OK);
  ASSERT_EQ_STR(json_string_value(j), "ok");
  json_decref(j);
  tw_val vals[5] = {tw_val_i32(-1), tw_val_i64(1LL << 40), tw_val_f32(0.5f),
                    tw_val_f64(2.25), tw_val_f64(NAN)};
  r.values = vals;
  r.count = 5;
  ASSERT_EQ_INT(tw_exec_result_to_json(&r, &j, &err), TW_OK);
  char *s = json_dumps(j, JSON_COMPACT);
  ASSERT_EQ_STR(s, "[-1,1099511627776,0.5,2.25,\"nan\"]");
  free(s);
  json_decref(j);
  vals[0] = (tw_val){.type = TW_FUNCREF};
  ASSERT_EQ_INT(tw_exec_result_to_json(&r, &j, &err), TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_UNSUPPORTED_RETURN_TYPE);
}

TEST_MAIN()
