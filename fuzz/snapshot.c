/* Fuzz target `snapshot`: the snapshot reader (tw_snapshot_open_bytes)
 * against a fixed module, and the signed envelope parser.
 *
 * A snapshot is never trusted: whatever the bytes, opening must fail with
 * an error or produce a plan that restores into a working instance.  The
 * input is used as is and, when it is long enough, also with its header
 * checksum recomputed so that mutations reach the parser behind it (see
 * docs/SNAPSHOTS.md for the layout: the SHA-256 covers what follows it). */
#include <string.h>

#include "fuzz.h"
#include "fuzz_engine.h"
#include "tensorwasm/snapshot.h"

static tw_engine_t *engine;
static tw_module_t *module;

/* (module (memory 1) (global (mut i32) (i32.const 0)) (table 1 funcref)
 *   (func $f (result i32) (global.get 0)) (elem (i32.const 0) $f)
 *   (export "f" (func $f))) */
static const uint8_t wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00,
    0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41,
    0x00, 0x0b, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, 0x09, 0x07, 0x01,
    0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x23,
    0x00, 0x0b};

static void setup(void) {
  if (engine) return;
  tw_engine_config cfg = {.max_memory_pages = 64};
  engine = fuzz_engine_new(&cfg);
  if (tw_module_new(engine, wasm, sizeof wasm, &module, NULL) != TW_OK) abort();
}

static void try_open(const uint8_t *data, size_t size) {
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error err;
  if (tw_snapshot_open_bytes(data, size, module, &snap, &err) != TW_OK) {
    FUZZ_CHECK(snap == NULL, "failed open returned a plan");
    return;
  }
  tw_store_t *store;
  if (tw_store_new(engine, &store, NULL) != TW_OK) abort();
  tw_instance_t *inst = NULL;
  if (tw_snapshot_instantiate(snap, store, NULL, 0, NULL, &inst, &err) == TW_OK) {
    tw_extern f;
    tw_val r;
    FUZZ_CHECK(tw_instance_export(inst, "f", 1, &f) == TW_OK, "export lost");
    tw_store_set_fuel(store, 1000);
    (void)tw_func_call(store, f.of.func, NULL, 0, &r, 1, NULL);
  }
  tw_store_free(store);
  tw_snapshot_free(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  try_open(data, size);
  uint8_t key[32] = {1};
  tw_snapshot_envelope env;
  tw_snapshot_error err;
  (void)tw_snapshot_envelope_open(key, data, size, 7, &env, &err); /* borrows */
  return 0;
}
