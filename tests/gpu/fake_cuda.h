/* The fake CUDA driver's test interface (tests/gpu/fake_cuda.c, built as
 * libfakecuda.so).  Tests reach it with dlopen on the same path the runtime
 * loaded (TW_CUDA_LIBRARY), which returns the same library instance.
 *
 * Environment read at cuInit: FAKE_CUDA_NO_DEVICE=1 makes cuInit fail with
 * CUDA_ERROR_NO_DEVICE; FAKE_CUDA_NO_PARAM_INFO=1 makes cuFuncGetParamInfo
 * answer CUDA_ERROR_NOT_SUPPORTED (a driver before 12.4). */
#ifndef TW_FAKE_CUDA_H
#define TW_FAKE_CUDA_H

#include <stdint.h>

#define FAKE_CUDA_ARGDUMP_MAX 160

typedef struct fake_cuda_counters {
  int live_allocs;        /* cuMemAlloc not yet freed */
  int live_registrations; /* cuMemHostRegister not yet unregistered */
  int live_modules;
  int live_streams;
  int registrations;      /* cuMemHostRegister calls that succeeded */
  int launches;           /* cuLaunchKernel calls that succeeded */
  int ctx_set;            /* cuCtxSetCurrent calls */
  int memsets;            /* cuMemsetD8Async calls */
  uint64_t registered_bytes; /* size of the last registration */
  /* What `argdump` saw: 8 bytes behind each of its first parameters. */
  uint64_t argdump[FAKE_CUDA_ARGDUMP_MAX];
  int argdump_calls;
} fake_cuda_counters;

typedef fake_cuda_counters *(*fake_cuda_counters_fn)(void);
/* The next call of driver function `name` returns `result`. */
typedef void (*fake_cuda_fail_next_fn)(const char *name, int result);
/* Lets a kernel started by the `hang` entry finish. */
typedef void (*fake_cuda_unhang_fn)(void);
/* Host address of device address `dptr` (NULL when none); for tests that
 * check where a kernel was told to look. */
typedef void *(*fake_cuda_translate_fn)(uint64_t dptr, uint64_t len);

#endif
