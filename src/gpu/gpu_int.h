/* Internals of the gpu module (wasi:cuda), shared by its files only.
 *
 *  - driver.c  the CUDA driver API, opened with dlopen once per process;
 *              one primary context per device, retained on first use and
 *              kept for the life of the process.
 *  - abi.c     pure checks of guest input: launch argument decoding, block
 *              and grid dimensions, PTX text, UTF-8, error text truncation.
 *              No driver calls, so every host gives the same codes.
 *  - cuda.c    contexts: kernels, buffers, stream, memory registration.
 *  - host.c    the host functions the guest imports, and import binding.
 *
 * The driver's types are declared here by hand (no build-time CUDA): every
 * handle is a pointer, CUresult and the enums are int, CUdeviceptr is a
 * 64-bit integer (the _v2 entry points). */
#ifndef TW_GPU_INT_H
#define TW_GPU_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/cuda.h"

/* ---- driver API ----------------------------------------------------------- */

typedef uint64_t tw__cu_devptr;

/* CUresult values we act on (cuda.h numbering). */
enum {
  TW__CU_SUCCESS = 0,
  TW__CU_ERROR_INVALID_VALUE = 1,
  TW__CU_ERROR_OUT_OF_MEMORY = 2,
  TW__CU_ERROR_NO_DEVICE = 100,
  TW__CU_ERROR_INVALID_PTX = 218,
  TW__CU_ERROR_NOT_FOUND = 500,
  TW__CU_ERROR_NOT_READY = 600,
  TW__CU_ERROR_ILLEGAL_ADDRESS = 700,
  TW__CU_ERROR_LAUNCH_TIMEOUT = 702,
  TW__CU_ERROR_HARDWARE_STACK_ERROR = 714,
  TW__CU_ERROR_ILLEGAL_INSTRUCTION = 715,
  TW__CU_ERROR_MISALIGNED_ADDRESS = 716,
  TW__CU_ERROR_INVALID_ADDRESS_SPACE = 717,
  TW__CU_ERROR_INVALID_PC = 718,
  TW__CU_ERROR_LAUNCH_FAILED = 719,
  TW__CU_ERROR_NOT_SUPPORTED = 801
};

/* Option and flag values (cuda.h numbering). */
enum {
  TW__CU_JIT_ERROR_LOG_BUFFER = 5,
  TW__CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  TW__CU_MEMHOSTREGISTER_PORTABLE = 0x01,
  TW__CU_MEMHOSTREGISTER_DEVICEMAP = 0x02,
  TW__CU_STREAM_NON_BLOCKING = 0x1
};

/* The entry points we use; `name` is the exported symbol (the _v2 forms
 * where cuda.h maps the plain name onto one).  X(field, symbol, required). */
#define TW__CU_SYMBOLS(X)                                           \
  X(Init, "cuInit", 1)                                              \
  X(DriverGetVersion, "cuDriverGetVersion", 1)                      \
  X(DeviceGetCount, "cuDeviceGetCount", 1)                          \
  X(DeviceGet, "cuDeviceGet", 1)                                    \
  X(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", 1)          \
  X(CtxSetCurrent, "cuCtxSetCurrent", 1)                            \
  X(StreamCreate, "cuStreamCreate", 1)                              \
  X(StreamDestroy, "cuStreamDestroy_v2", 1)                         \
  X(StreamQuery, "cuStreamQuery", 1)                                \
  X(StreamSynchronize, "cuStreamSynchronize", 1)                    \
  X(ModuleLoadDataEx, "cuModuleLoadDataEx", 1)                      \
  X(ModuleUnload, "cuModuleUnload", 1)                              \
  X(ModuleGetFunction, "cuModuleGetFunction", 1)                    \
  X(FuncGetParamInfo, "cuFuncGetParamInfo", 0)                      \
  X(LaunchKernel, "cuLaunchKernel", 1)                              \
  X(MemAlloc, "cuMemAlloc_v2", 1)                                   \
  X(MemFree, "cuMemFree_v2", 1)                                     \
  X(MemsetD8Async, "cuMemsetD8Async", 1)                            \
  X(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", 1)                     \
  X(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", 1)                     \
  X(MemHostRegister, "cuMemHostRegister_v2", 1)                     \
  X(MemHostUnregister, "cuMemHostUnregister", 1)                    \
  X(MemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2", 1)     \
  X(GetErrorName, "cuGetErrorName", 1)                              \
  X(GetErrorString, "cuGetErrorString", 1)

typedef struct tw__cu_api {
  int (*Init)(unsigned flags);
  int (*DriverGetVersion)(int *version);
  int (*DeviceGetCount)(int *count);
  int (*DeviceGet)(int *device, int ordinal);
  int (*DevicePrimaryCtxRetain)(void **ctx, int device);
  int (*CtxSetCurrent)(void *ctx);
  int (*StreamCreate)(void **stream, unsigned flags);
  int (*StreamDestroy)(void *stream);
  int (*StreamQuery)(void *stream);
  int (*StreamSynchronize)(void *stream);
  int (*ModuleLoadDataEx)(void **module, const void *image, unsigned nopts,
                          int *opts, void **values);
  int (*ModuleUnload)(void *module);
  int (*ModuleGetFunction)(void **func, void *module, const char *name);
  int (*FuncGetParamInfo)(void *func, size_t index, size_t *offset,
                          size_t *size); /* CUDA 12.4+; may be NULL */
  int (*LaunchKernel)(void *func, unsigned gx, unsigned gy, unsigned gz,
                      unsigned bx, unsigned by, unsigned bz, unsigned shmem,
                      void *stream, void **params, void **extra);
  int (*MemAlloc)(tw__cu_devptr *dptr, size_t bytes);
  int (*MemFree)(tw__cu_devptr dptr);
  int (*MemsetD8Async)(tw__cu_devptr dptr, unsigned char v, size_t n,
                       void *stream);
  int (*MemcpyHtoDAsync)(tw__cu_devptr dst, const void *src, size_t n,
                         void *stream);
  int (*MemcpyDtoHAsync)(void *dst, tw__cu_devptr src, size_t n,
                         void *stream);
  int (*MemHostRegister)(void *p, size_t bytes, unsigned flags);
  int (*MemHostUnregister)(void *p);
  int (*MemHostGetDevicePointer)(tw__cu_devptr *dptr, void *p,
                                 unsigned flags);
  int (*GetErrorName)(int result, const char **name);
  int (*GetErrorString)(int result, const char **text);
} tw__cu_api;

/* One device: its primary context, retained once per process.  `lost` is
 * set after a sticky error (an illegal address, a trap in a kernel): the
 * context is then unusable for everyone on it until the process restarts. */
typedef struct tw__cuda_device {
  int ordinal;
  void *ctx;
  atomic_bool lost;
  char lost_why[160];
} tw__cuda_device;

#define TW__CUDA_WHY_MAX 320

/* The driver's entry points, loading it on first call (`library` as in
 * tw_cuda_config).  NULL when it cannot be used; `why` then says why. */
const tw__cu_api *tw__cuda_driver(const char *library, char *why, size_t cap);

/* Device `ordinal`, its primary context made current on this thread.  NULL
 * (and `why`) when there is no such device, it failed to open or it is
 * lost. */
tw__cuda_device *tw__cuda_device_open(const tw__cu_api *cu, int ordinal,
                                      char *why, size_t cap);

/* "CUDA_ERROR_X (text)" for a CUresult. */
void tw__cuda_result_text(const tw__cu_api *cu, int result, char *buf,
                          size_t cap);

/* True for the errors after which the context cannot be used again; marks
 * the device lost when so. */
bool tw__cuda_check_sticky(const tw__cu_api *cu, tw__cuda_device *dev,
                           int result);

/* ---- pure checks (abi.c) ----------------------------------------------------- */

/* One decoded launch argument.  `bits` holds the value (integers and float
 * bit patterns zero-extended); for PTR `off`/`len` are the guest range, for
 * BUFFER `bits` is the handle.  `size` is the bytes the kernel receives. */
typedef struct tw__cuda_arg {
  uint8_t tag;
  uint8_t size;
  uint64_t bits;
  uint32_t off, len;
} tw__cuda_arg;

/* Decodes a launch argument list: TW_CUDA_OK, KERNEL_ARGS_UNSUPPORTED
 * (over 4 KiB or 128 records) or INVALID_ARGS (unknown tag, truncated
 * record).  `out` has room for TW_CUDA_MAX_ARGS; *n gets the count.  `why`
 * says what was wrong. */
int32_t tw__cuda_argv_decode(const uint8_t *p, size_t len, tw__cuda_arg *out,
                             size_t *n, char *why, size_t cap);

/* INVALID_POINTER when a PTR argument's range is outside [0, mem_size). */
int32_t tw__cuda_argv_check_ptrs(const tw__cuda_arg *args, size_t n,
                                 uint64_t mem_size, char *why, size_t cap);

/* INVALID_DIMENSIONS unless each block dim is 1..1024 with product <= 1024
 * and each grid dim is 1..2^31-1 (all taken as the guest's i32 values). */
int32_t tw__cuda_check_dims(const int32_t grid[3], const int32_t block[3],
                            char *why, size_t cap);

/* MALFORMED_PTX unless the text is non-empty UTF-8 without NUL bytes (one
 * final NUL is allowed and not counted in *text_len) and contains
 * `.version`, `.target` and `.entry`. */
int32_t tw__cuda_check_ptx(const uint8_t *p, size_t len, size_t *text_len,
                           char *why, size_t cap);

/* INVALID_ARGS unless the entry name is 1..256 bytes of UTF-8 without NUL
 * (QUOTA_EXCEEDED over 256, as the original). */
int32_t tw__cuda_check_entry(const uint8_t *p, size_t len, char *why,
                             size_t cap);

bool tw__cuda_utf8_valid(const uint8_t *p, size_t len);

/* Copies `msg` into dst (cap >= TW_CUDA_MAX_ERROR_BYTES + 4): at most 512
 * bytes cut on a UTF-8 boundary, then "…" when it was longer.  Returns the
 * length written (dst is NUL-terminated). */
size_t tw__cuda_error_truncate(char *dst, const char *msg);

/* ---- contexts (cuda.c) ------------------------------------------------------- */

typedef struct tw__cuda_kernel {
  int64_t id;
  void *module;
  void *func;
  uint32_t nparams;            /* UINT32_MAX: the driver cannot say */
  uint16_t param_size[TW_CUDA_MAX_ARGS];
} tw__cuda_kernel;

typedef struct tw__cuda_buffer {
  int64_t id;                  /* 0: free slot */
  tw__cu_devptr dptr;
  uint64_t size;
} tw__cuda_buffer;

struct tw_cuda {
  atomic_int refs;
  pthread_mutex_t mu;          /* guards everything below against
                                  release/interrupt from other threads */
  atomic_bool enabled;
  atomic_bool interrupted;
  bool released;
  int device_ordinal;
  uint64_t max_device_bytes, max_pinned_bytes;
  uint32_t max_buffers;
  char *library;
  char tenant[24], instance[24];

  tw_counter_t *dispatches;
  tw_histogram_t *latency;
  tw_gauge_t *mem_used, *mem_tenant;

  char last_error[TW_CUDA_MAX_ERROR_BYTES + 4];
  size_t last_error_len;

  const tw__cu_api *cu;        /* set once the driver is up for us */
  tw__cuda_device *dev;
  void *stream;

  tw__cuda_kernel kernels[TW_CUDA_MAX_KERNELS];
  uint32_t nkernels;
  uint64_t ptx_total;

  tw__cuda_buffer *buffers;
  uint32_t nbuffers_cap, nbuffers_live;
  uint64_t device_bytes;

  uint8_t *reg_base;           /* registered linear memory, or NULL */
  uint64_t reg_size;
  tw__cu_devptr reg_dptr;

  uint64_t launches, registrations;
};

/* Drops one reference; the last one frees the context's host memory. */
void tw__cuda_unref(tw_cuda_t *c);

/* Records the guest-visible last error (printf-style) and returns `code`. */
int32_t tw__cuda_fail(tw_cuda_t *c, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes the driver, device and stream ready for `c` (NOT_AVAILABLE with the
 * reason recorded otherwise) and the device's context current. */
int32_t tw__cuda_ready(tw_cuda_t *c);

/* The host functions' bodies, with guest memory given as (mem, size).
 * Each returns the guest-visible result. */
int64_t tw__cuda_load_ptx(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                          uint32_t ptx, uint32_t ptx_len, uint32_t entry,
                          uint32_t entry_len);
int32_t tw__cuda_launch(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                        int64_t kernel, const int32_t grid[3],
                        const int32_t block[3], int32_t shared_mem,
                        uint32_t args, uint32_t args_len);
int32_t tw__cuda_sync(tw_cuda_t *c);
int64_t tw__cuda_buffer_alloc(tw_cuda_t *c, int64_t bytes);
int32_t tw__cuda_buffer_free(tw_cuda_t *c, int64_t handle);
int32_t tw__cuda_buffer_copy(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                             int64_t handle, int64_t offset, uint32_t ptr,
                             uint32_t len, bool to_device);

/* The buffer slot a handle names, or NULL. */
tw__cuda_buffer *tw__cuda_buffer_find(tw_cuda_t *c, int64_t handle);

#endif
