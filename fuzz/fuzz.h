/* Shared pieces of the libFuzzer targets in fuzz/.
 *
 * Each target is one file defining LLVMFuzzerTestOneInput (and, when it
 * needs one-time setup, doing it lazily on the first input, so the same
 * file links into both the libFuzzer binary and the plain replay driver
 * fuzz/replay.c).  A target aborts only on a real finding: a crash, a
 * sanitizer report, or a broken oracle (FUZZ_CHECK), never on input the
 * library rightly refuses.
 *
 * Targets may include the library's internal headers (src/ is on their
 * include path): a harness needs import types and WASI internals that the
 * public API does not expose. */
#ifndef TW_FUZZ_H
#define TW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An oracle failure: print where and why, then abort so libFuzzer saves
 * the input (and the replay test fails). */
#define FUZZ_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: oracle failed: %s: ", __FILE__, __LINE__,    \
              #cond);                                                      \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* A byte reader over the fuzz input: reads past the end give zeros. */
typedef struct fuzz_in {
  const uint8_t *p, *end;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in *in) {
  return in->p < in->end ? *in->p++ : 0;
}
static inline uint32_t fuzz_u32(fuzz_in *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)fuzz_u8(in) << (8 * i);
  return v;
}
static inline uint64_t fuzz_u64(fuzz_in *in) {
  return (uint64_t)fuzz_u32(in) | (uint64_t)fuzz_u32(in) << 32;
}
static inline size_t fuzz_left(const fuzz_in *in) {
  return (size_t)(in->end - in->p);
}

#endif
