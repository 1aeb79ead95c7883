/* The executor links wasi:cuda next to WASI: a guest that imports it
 * spawns, and its calls answer -1 (NotAvailable) unless the spawn config
 * grants the capability and a driver is present.  Anything else imported
 * is refused by name. */
#include <stdlib.h>
#include <string.h>

#include "exec_util.h"
#include "tensorwasm/exec.h"
#include "test.h"

static const char *gpu_guest =
    "(module\n"
    "  (import \"wasi:cuda/host@0.2.0\" \"wasi_cuda_sync\" (func $sync (result i32)))\n"
    "  (import \"wasi:cuda/host@0.2.0\" \"wasi_cuda_last_error_len\"\n"
    "    (func $elen (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (func (export \"sync\") (result i32) (call $sync))\n"
    "  (func (export \"elen\") (result i32) (call $elen))\n"
    "  (func (export \"sync_elen\") (result i32) (drop (call $sync)) (call $elen)))";

static int32_t call_i32(tw_exec_t *exec, const tw_spawn_config *cfg,
                        const uint8_t *bytes, size_t len, const char *name) {
  tw_instance_id id;
  tw_exec_error err;
  tw_exec_result r = {0};
  if (tw_exec_spawn_instance(exec, cfg, bytes, len, &id, &err) != TW_OK)
    return 1000;
  if (tw_exec_call_export_with_args_then_terminate(exec, id, name, NULL, 0, &r,
                                                   &err) != TW_OK)
    return 1001;
  int32_t v = r.count == 1 ? r.values[0].of.i32 : 1002;
  tw_exec_result_free(&r);
  return v;
}

TEST(wasi_cuda_links_and_is_gated) {
  setenv("TW_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1); /* no driver */
  size_t len;
  uint8_t *bytes = wat_bytes(gpu_guest, &len);
  ASSERT(bytes);
  tw_exec_t *exec;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(NULL, &exec, &err), TW_OK);
  tw_spawn_config denied = {.tenant_id = 7};
  /* not granted: every call answers -1, as the original's gate does */
  ASSERT_EQ_INT(call_i32(exec, &denied, bytes, len, "sync"), -1);
  ASSERT_EQ_INT(call_i32(exec, &denied, bytes, len, "elen"), -1);
  /* granted, no driver: -1 too, but now with a reason to read */
  tw_spawn_config granted = {.tenant_id = 7, .gpu = true};
  ASSERT_EQ_INT(call_i32(exec, &granted, bytes, len, "sync"), -1);
  ASSERT(call_i32(exec, &granted, bytes, len, "sync_elen") > 0);
  ASSERT_EQ_INT(tw_exec_live_count(exec), 0);
  tw_exec_free(exec);
  free(bytes);
}

TEST(unknown_import_module_refused_by_name) {
  size_t len;
  uint8_t *bytes = wat_bytes(
      "(module (import \"env\" \"thing\" (func)) (func (export \"f\")))", &len);
  ASSERT(bytes);
  tw_exec_t *exec;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(NULL, &exec, &err), TW_OK);
  tw_spawn_config cfg = {.tenant_id = 1};
  tw_instance_id id;
  ASSERT(tw_exec_spawn_instance(exec, &cfg, bytes, len, &id, &err) != TW_OK);
  ASSERT_CONTAINS(err.base.message, "\"env\" \"thing\": not a WASI import");
  ASSERT_EQ_INT(tw_exec_live_count(exec), 0);
  tw_exec_free(exec);
  free(bytes);
}

TEST_MAIN()
