/* Fuzz target `cuda_args`: wasi:cuda's tagged launch-argument decoder and
 * the pointer-range check (the original's wire format, docs/WASI_CUDA.md).
 *
 * Oracles: success never yields more than TW_CUDA_MAX_ARGS records (each
 * at least two bytes on the wire), none wider than 8 bytes; a PTR argument
 * accepted
 * by the range check lies inside the memory size it was checked against. */
#include <string.h>

#include "fuzz.h"
#include "gpu/gpu_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
  if (!copy) abort();
  memcpy(copy, data, size);
  tw__cuda_arg args[TW_CUDA_MAX_ARGS];
  size_t n = 0;
  char why[256];
  int32_t rc = tw__cuda_argv_decode(copy, size, args, &n, why, sizeof why);
  if (rc == TW_CUDA_OK) {
    FUZZ_CHECK(n <= TW_CUDA_MAX_ARGS, "%zu records", n);
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK(args[i].size <= 8, "record %zu has size %u", i, args[i].size);
    FUZZ_CHECK(2 * n <= size, "%zu records from %zu bytes", n, size);
    uint64_t mem = size * 97u; /* some memory size the input cannot choose */
    if (tw__cuda_argv_check_ptrs(args, n, mem, why, sizeof why) == TW_CUDA_OK)
      for (size_t i = 0; i < n; i++)
        if (args[i].tag == TW_CUDA_ARG_PTR)
          FUZZ_CHECK((uint64_t)args[i].off + args[i].len <= mem,
                     "ptr %u+%u outside %llu", args[i].off, args[i].len,
                     (unsigned long long)mem);
  }
  free(copy);
  return 0;
}
