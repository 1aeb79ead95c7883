/* Spawning from a snapshot through the executor: the initialiser's state
 * is there without running it again; a rejected snapshot falls back to a
 * cold start that runs the initialiser, so callers see the same state. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_util.h"
#include "tensorwasm/exec.h"
#include "tensorwasm/snapshot.h"
#include "test.h"

/* The initialiser counts its runs in a global and writes a table into
 * memory; "probe" reads both back. */
static const char *guest =
    "(module (memory (export \"memory\") 4)\n"
    "  (global $runs (mut i32) (i32.const 0))\n"
    "  (func (export \"wizer.initialize\") (local i32)\n"
    "    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))\n"
    "    (loop $l (i32.store (i32.mul (local.get 0) (i32.const 4))\n"
    "                        (i32.mul (local.get 0) (local.get 0)))\n"
    "      (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1)))\n"
    "                          (i32.const 1000)))))\n"
    "  (func (export \"probe\") (result i32)\n"
    "    (i32.add (i32.load (i32.const 3996)) (global.get $runs))))";

static int32_t probe(tw_exec_t *exec, const char *snap, uint8_t *bytes,
                     size_t len) {
  tw_spawn_config cfg = {.tenant_id = 3, .snapshot_path = snap};
  tw_instance_id id;
  tw_exec_error err;
  tw_exec_result r = {0};
  if (tw_exec_spawn_instance(exec, &cfg, bytes, len, &id, &err) != TW_OK)
    return -1;
  if (tw_exec_call_export_with_args_then_terminate(exec, id, "probe", NULL, 0,
                                                   &r, &err) != TW_OK)
    return -2;
  int32_t v = r.values[0].of.i32;
  tw_exec_result_free(&r);
  return v;
}

TEST(spawn_warm_from_snapshot_and_cold_when_rejected) {
  size_t len;
  uint8_t *bytes = wat_bytes(guest, &len);
  ASSERT(bytes);
  char dir[64];
  ASSERT(scratch_dir(dir) == 0);
  char path[128], bad[128];
  snprintf(path, sizeof path, "%s/guest.snap", dir);
  snprintf(bad, sizeof bad, "%s/corrupt.snap", dir);

  /* capture with the engine API directly */
  tw_engine_t *engine;
  tw_store_t *store;
  tw_module_t *mod;
  tw_error e;
  ASSERT_EQ_INT(tw_engine_new(NULL, &engine, &e), TW_OK);
  ASSERT_EQ_INT(tw_store_new(engine, &store, &e), TW_OK);
  ASSERT_EQ_INT(tw_module_new(engine, bytes, len, &mod, &e), TW_OK);
  tw_snapshot_error se;
  tw_snapshot_t *snap = NULL;
  ASSERT_EQ_INT(tw_snapshot_capture_file(store, mod, NULL, 0, NULL, path,
                                         &snap, &se), TW_OK);
  tw_snapshot_free(snap);
  tw_store_free(store);
  tw_module_free(mod);
  tw_engine_free(engine);

  tw_exec_t *exec;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(NULL, &exec, &err), TW_OK);
  /* 999 * 999 from memory + 1 initialiser run, twice: each spawn starts
   * from the same image, not from the previous instance */
  ASSERT_EQ_INT(probe(exec, path, bytes, len), 998001 + 1);
  ASSERT_EQ_INT(probe(exec, path, bytes, len), 998001 + 1);
  /* without a snapshot the initialiser does not run by itself */
  ASSERT_EQ_INT(probe(exec, NULL, bytes, len), 0);
  /* a corrupt snapshot: cold start, initialiser run once, same answer */
  FILE *f = fopen(bad, "wb");
  ASSERT(f);
  fputs("TWSNAP but not really", f);
  fclose(f);
  ASSERT_EQ_INT(probe(exec, bad, bytes, len), 998001 + 1);
  /* a missing one too */
  snprintf(bad, sizeof bad, "%s/missing.snap", dir);
  ASSERT_EQ_INT(probe(exec, bad, bytes, len), 998001 + 1);
  tw_exec_free(exec);
  rm_tree(dir);
  free(bytes);
}

TEST_MAIN()
