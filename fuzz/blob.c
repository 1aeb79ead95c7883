/* Fuzz target `blob`: the compiled-module blob reader
 * (tw_module_deserialize) on mutated blobs.
 *
 * A blob carries a SHA-256 of its payload, so almost every mutation is
 * caught by the checksum alone.  Each input is therefore read twice: as
 * it is (magic, format, build id and checksum checks), then with the
 * format, build id and checksum rewritten to match the payload, which
 * sends the mutation past the header into the reader proper (sizes,
 * embedded module bytes, op numbers, instruction boundaries, body count
 * and signatures).  The second reading models a blob corrupted before
 * it was checksummed, or a forged one; the header says blobs come from
 * trusted storage, so a finding there is hardening, not a sandbox hole.
 *
 * A module that loads is only freed, never run: its compiled code is
 * trusted by design (the blob skips validation).  Seeds are blobs of
 * spec-suite modules (scripts/fuzz regenerates them when the build id
 * changes; the rewrite above keeps old ones useful meanwhile). */
#include <openssl/sha.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_engine.h"

#define HDR (4 + 4 + 4 + 32)

static tw_engine_t *engine;
static uint8_t current_ids[8]; /* format and build id of this build */

static void init(void) {
  /* (module) — the smallest module; its blob gives this build's ids. */
  static const uint8_t empty[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  tw_error err;
  tw_module_t *m;
  uint8_t *blob;
  size_t len;
  engine = fuzz_engine_new(NULL);
  if (tw_module_new(engine, empty, sizeof empty, &m, &err) != TW_OK ||
      tw_module_serialize(m, &blob, &len, &err) != TW_OK)
    abort();
  memcpy(current_ids, blob + 4, 8);
  free(blob);
  tw_module_free(m);
}

static void load(const uint8_t *blob, size_t len) {
  tw_module_t *m = NULL;
  tw_error err;
  tw_status st = tw_module_deserialize(engine, blob, len, &m, &err);
  if (st != TW_OK) {
    FUZZ_CHECK(st == TW_MALFORMED || st == TW_UNSUPPORTED || st == TW_NOMEM ||
                   st == TW_INVALID,
               "deserialize: %s (%s)", tw_status_name(st), err.message);
    FUZZ_CHECK(m == NULL, "failed but returned a module");
    return;
  }
  /* Touch what a loaded module exposes. */
  volatile size_t sum = tw_module_min_memory_pages(m);
  for (size_t i = 0; i < tw_module_export_count(m); i++)
    sum += tw_module_export(m, i).name.len;
  (void)sum;
  tw_module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!engine) init();
  /* Exact-size copies so ASan sees reads past the end. */
  uint8_t *b = malloc(size ? size : 1);
  if (!b) abort();
  memcpy(b, data, size);
  load(b, size);
  if (size >= HDR) {
    memcpy(b, "TWMC", 4);
    memcpy(b + 4, current_ids, 8);
    SHA256(b + HDR, size - HDR, b + 12);
    load(b, size);
  }
  free(b);
  return 0;
}
