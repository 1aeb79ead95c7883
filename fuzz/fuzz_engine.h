/* The engine a fuzz target keeps for its whole run.
 *
 * The engine's table of interned function types lives in an mmap'd
 * region (src/wasm/runtime.c), which LeakSanitizer does not scan, so the
 * type arrays it points to look leaked while the engine lives.  Naming
 * the region as an LSan root keeps libFuzzer's leak detection (and the
 * replay drivers under ASan) free of that false report, without
 * suppressing real leaks anywhere else. */
#ifndef TW_FUZZ_ENGINE_H
#define TW_FUZZ_ENGINE_H

#include "fuzz.h"
#include "tensorwasm/wasm.h"
#include "wasm/wasm_int.h"

#if defined(__SANITIZE_ADDRESS__)
#define TW_FUZZ_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TW_FUZZ_LSAN 1
#endif
#endif
#ifdef TW_FUZZ_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* A new engine (config borrowed, NULL for defaults); aborts on failure. */
static inline tw_engine_t *fuzz_engine_new(const tw_engine_config *cfg) {
  tw_engine_t *e;
  tw_error err;
  if (tw_engine_new(cfg, &e, &err) != TW_OK) {
    fprintf(stderr, "fuzz: tw_engine_new: %s\n", err.message);
    abort();
  }
#ifdef TW_FUZZ_LSAN
  __lsan_register_root_region(e->ctypes,
                              (size_t)e->cap_ctypes * sizeof *e->ctypes);
#endif
  return e;
}

#endif
