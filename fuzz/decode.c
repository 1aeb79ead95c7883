/* Fuzz target `decode`: the binary decoder, the validator and the
 * compiler, on arbitrary bytes.
 *
 * Oracles besides the sanitizers:
 *  - tw_module_validate and tw_module_new agree: a module that validates
 *    compiles, one that does not is refused by both with the same status;
 *  - a refused module names a byte offset inside the input (or SIZE_MAX);
 *  - a compiled module survives the blob round trip: deserialize(serialize
 *    (m)) succeeds, has the same hash, and serialises to the same blob. */
#include <string.h>

#include "fuzz.h"
#include "fuzz_engine.h"

static tw_engine_t *engine;

static void roundtrip(tw_module_t *mod) {
  uint8_t *blob = NULL, *blob2 = NULL;
  size_t len = 0, len2 = 0;
  tw_error err;
  tw_module_t *back = NULL;
  if (tw_module_serialize(mod, &blob, &len, &err) != TW_OK) {
    FUZZ_CHECK(err.status == TW_NOMEM, "serialize: %s", err.message);
    return;
  }
  tw_status st = tw_module_deserialize(engine, blob, len, &back, &err);
  FUZZ_CHECK(st == TW_OK || st == TW_NOMEM, "deserialize of a fresh blob: %s",
             err.message);
  if (st == TW_OK) {
    uint8_t h1[32], h2[32];
    tw_module_hash(mod, h1);
    tw_module_hash(back, h2);
    FUZZ_CHECK(memcmp(h1, h2, 32) == 0, "hash changed by the round trip");
    FUZZ_CHECK(tw_module_export_count(back) == tw_module_export_count(mod),
               "export count changed by the round trip");
    if (tw_module_serialize(back, &blob2, &len2, &err) == TW_OK) {
      FUZZ_CHECK(len2 == len && memcmp(blob, blob2, len) == 0,
                 "second serialisation differs (%zu vs %zu bytes)", len, len2);
    }
    tw_module_free(back);
  }
  free(blob);
  free(blob2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_error err;
  if (!engine) engine = fuzz_engine_new(NULL);

  tw_status sv = tw_module_validate(engine, data, size, &err);
  if (sv != TW_OK)
    FUZZ_CHECK(err.offset == SIZE_MAX || err.offset <= size,
               "offset %zu past the end (%zu): %s", err.offset, size,
               err.message);
  tw_module_t *mod = NULL;
  tw_status sn = tw_module_new(engine, data, size, &mod, &err);
  if (sn != TW_NOMEM && sv != TW_NOMEM)
    FUZZ_CHECK(sn == sv, "validate says %s, module_new says %s (%s)",
               tw_status_name(sv), tw_status_name(sn), err.message);
  if (sn != TW_OK) return 0;

  /* Walk the import and export descriptions (ASan checks the names). */
  volatile size_t sum = 0;
  for (size_t i = 0; i < tw_module_import_count(mod); i++) {
    tw_import_desc d = tw_module_import(mod, i);
    for (size_t k = 0; k < d.module.len; k++) sum += (uint8_t)d.module.data[k];
    for (size_t k = 0; k < d.name.len; k++) sum += (uint8_t)d.name.data[k];
  }
  for (size_t i = 0; i < tw_module_export_count(mod); i++) {
    tw_export_desc d = tw_module_export(mod, i);
    for (size_t k = 0; k < d.name.len; k++) sum += (uint8_t)d.name.data[k];
  }
  (void)sum;
  roundtrip(mod);
  tw_module_free(mod);
  return 0;
}
