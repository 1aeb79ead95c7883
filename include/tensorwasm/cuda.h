/* TensorWasm wasi:cuda: GPU kernels from guests.
 *
 * A tw_cuda_t is one instance's view of the GPU: the capability (granted or
 * not), its kernels, its device buffers, its CUDA stream, its last error and
 * the registration of its linear memory with the driver.  The embedder makes
 * one per instance, links the guest's imports through it, and releases it
 * when the instance ends (terminate, trap or not).
 *
 * Typical use (executor):
 *
 *   tw_cuda_config cc = {.enabled = tenant_may_use_gpu, .tenant_id = t,
 *                        .instance_id = id};
 *   tw_cuda_new(&cc, &cuda, &err);
 *   for each import i:
 *     s = tw_wasi_resolve_import(wasi, store, module, i, &imports[i], &err);
 *     if (s == TW_NOT_FOUND)
 *       s = tw_cuda_resolve_import(cuda, store, module, i, &imports[i], &err);
 *   tw_instance_new(...); calls ...
 *   tw_cuda_release(cuda);     frees every device resource of the instance
 *   tw_store_free(store);      (either order; see ownership)
 *
 * Guest ABI (docs/WASI_CUDA.md has the full text):
 *  - import module "wasi:cuda/host@0.2.0", the original's: load_ptx, launch,
 *    sync, last_error_len, last_error_copy; results are the codes below.
 *  - import module "tensorwasm:cuda/buffers@0.1.0", ours: malloc, free,
 *    memcpy_htod, memcpy_dtoh on device buffers named by handles, passed to
 *    kernels with argument tag 0x08.  Guests never see device addresses.
 *
 * Capability: every function returns TW_CUDA_NOT_AVAILABLE (-1) and records
 * nothing while the context is not enabled, so a guest cannot tell "not
 * granted" from "no GPU".
 *
 * Driver: libcuda.so.1 is opened with dlopen on first use (never at build
 * time).  Without it, or without a device, every call returns -1 and
 * records why (argument and PTX text checks still run first, so their codes
 * are the same on every host).  The driver is loaded once per process; a
 * device's primary context is retained once and shared by the instances on
 * it; each instance has its own non-blocking stream.
 *
 * Isolation: the instances on a device share its context, so a hostile
 * kernel can reach other instances' device memory; grant the capability
 * only to tenants that may share a GPU (docs/WASI_CUDA.md section 6).
 *
 * Memory: a pointer argument (tag 0x07) is checked against the caller's
 * linear memory and handed to the kernel as the device address of that
 * range: the instance's accessible linear memory is page-locked and mapped
 * for the device (cuMemHostRegister, DEVICEMAP) on the first launch that
 * needs it, and again after memory.grow.  Launches wait for the kernel to
 * finish before returning to the guest, so the guest never races a kernel.
 *
 * Ownership: the config is borrowed during tw_cuda_new (copied).  A context
 * is reference counted: tw_cuda_new returns the caller's reference and
 * every host function defined from it holds another (dropped when its store
 * is freed), so tw_cuda_release may come before or after tw_store_free.
 * After tw_cuda_release the guest's calls return -1 ("released").
 *
 * Threads: one context is used by one thread at a time (the thread running
 * its store), except tw_cuda_interrupt, which any thread may call.
 * Different contexts may be used from different threads at once.
 *
 * Tracing (target "tensor-wasm-wasi-gpu"): `wasi_cuda.load_ptx` {instance,
 * ptx_bytes, entry_bytes}, `wasi_cuda.launch` {instance, kernel, grid_x..z,
 * block_x..z, shared_mem} with child `wasi_cuda.dispatch` around the
 * driver launch and the wait, `wasi_cuda.sync` {instance}; all also carry
 * `tenant`, and `code` (the result) when it is negative, with error status.
 * Metrics: tensor_wasm_kernel_dispatches_total{tenant},
 * tensor_wasm_kernel_latency_seconds (launch to completion),
 * tensor_wasm_gpu_memory_used_bytes{tenant} and
 * tensor_wasm_gpu_memory_bytes_per_tenant{tenant_id} (device buffers). */
#ifndef TENSORWASM_CUDA_H
#define TENSORWASM_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"
#include "tensorwasm/metrics.h"
#include "tensorwasm/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_cuda tw_cuda_t;

/* Import module names. */
#define TW_CUDA_MODULE "wasi:cuda/host@0.2.0"
#define TW_CUDA_BUFFERS_MODULE "tensorwasm:cuda/buffers@0.1.0"

/* Span names and target: public contract (seed span schema). */
#define TW_CUDA_TARGET "tensor-wasm-wasi-gpu"
#define TW_CUDA_SPAN_LOAD_PTX "wasi_cuda.load_ptx"
#define TW_CUDA_SPAN_LAUNCH "wasi_cuda.launch"
#define TW_CUDA_SPAN_DISPATCH "wasi_cuda.dispatch"
#define TW_CUDA_SPAN_SYNC "wasi_cuda.sync"

/* The driver library opened when the config names none; the environment
 * variable that overrides it (meant for tests: a fake driver). */
#define TW_CUDA_DEFAULT_LIBRARY "libcuda.so.1"
#define TW_CUDA_LIBRARY_ENV "TW_CUDA_LIBRARY"

/* Guest-visible result codes: X(NAME, value, wire name).  The values and
 * their order are the original's (abi-error in its WIT). */
#define TW_CUDA_CODE_LIST(X)                       \
  X(NOT_AVAILABLE, -1, "NotAvailable")             \
  X(INVALID_POINTER, -2, "InvalidPointer")         \
  X(INVALID_KERNEL, -3, "InvalidKernel")           \
  X(MALFORMED_PTX, -4, "MalformedPtx")             \
  X(LAUNCH_FAILED, -5, "LaunchFailed")             \
  X(QUOTA_EXCEEDED, -6, "QuotaExceeded")           \
  X(INTERNAL, -7, "Internal")                      \
  X(INVALID_DIMENSIONS, -8, "InvalidDimensions")   \
  X(INVALID_ARGS, -9, "InvalidArgs")               \
  X(KERNEL_ARGS_UNSUPPORTED, -10, "KernelArgsUnsupported")

typedef enum tw_cuda_code {
  TW_CUDA_OK = 0,
#define TW__X(name, value, wire) TW_CUDA_##name = value,
  TW_CUDA_CODE_LIST(TW__X)
#undef TW__X
} tw_cuda_code;

/* "NotAvailable", ...; "Ok" for 0, "Unknown" for anything else. */
const char *tw_cuda_code_name(int32_t code);

/* Limits of the original ABI, checked before any driver call. */
#define TW_CUDA_MAX_PTX_BYTES ((uint32_t)8 << 20)         /* per load */
#define TW_CUDA_MAX_PTX_TOTAL ((uint64_t)512 << 20)       /* per instance */
#define TW_CUDA_MAX_KERNELS 256                           /* per instance */
#define TW_CUDA_MAX_ENTRY_BYTES 256
#define TW_CUDA_MAX_ERROR_BYTES 512      /* recorded text, then "…" */
#define TW_CUDA_MAX_BLOCK_THREADS 1024   /* each block dim and their product */
#define TW_CUDA_MAX_GRID_DIM 2147483647u /* each grid dim: 1 .. 2^31-1 */
#define TW_CUDA_MAX_ARGV_BYTES 4096
#define TW_CUDA_MAX_ARGS 128

/* Launch argument tags (little-endian, packed, tag byte then value). */
typedef enum tw_cuda_arg_tag {
  TW_CUDA_ARG_I32 = 0x01,
  TW_CUDA_ARG_I64 = 0x02,
  TW_CUDA_ARG_F32 = 0x03,
  TW_CUDA_ARG_F64 = 0x04,
  TW_CUDA_ARG_U32 = 0x05,
  TW_CUDA_ARG_U64 = 0x06,
  TW_CUDA_ARG_PTR = 0x07,    /* u32 offset + u32 length in linear memory */
  TW_CUDA_ARG_BUFFER = 0x08  /* ours: u64 device buffer handle */
} tw_cuda_arg_tag;

typedef struct tw_cuda_config {
  bool enabled;             /* the capability (embedder / gateway policy) */
  uint64_t tenant_id;       /* `tenant` label and span attribute */
  uint64_t instance_id;     /* `instance` span attribute; 0: "unknown" */
  int device;               /* CUDA device ordinal (default 0) */
  uint64_t max_device_bytes;  /* device buffers, all live; 0: 1 GiB */
  uint32_t max_buffers;       /* live device buffers; 0: 1024 */
  uint64_t max_pinned_bytes;  /* linear memory registered with the
                                 driver; 0: 4 GiB (all of wasm32) */
  const char *library;      /* driver path; NULL: $TW_CUDA_LIBRARY, else
                               libcuda.so.1.  Only the first context that
                               loads the driver decides (once per process).
                               Borrowed for the call. */
  const tw_metrics_std_t *metrics; /* borrowed until release; NULL:
                                      tw_metrics_std() */
} tw_cuda_config;

/* Makes a context (no driver call yet).  `config` NULL: disabled, tenant
 * 0.  *out holds the caller's reference.  TW_NOMEM, TW_ARG (negative
 * device). */
tw_status tw_cuda_new(const tw_cuda_config *config, tw_cuda_t **out,
                      tw_error *err);

/* Frees every device resource of the context (kernels, buffers, stream,
 * registration of linear memory), leaves the context answering -1
 * ("released"), and drops the caller's reference.  Waits for the
 * instance's queued work first.  Safe after a trap.  Call it once per
 * context (it drops the caller's reference).  NULL is accepted. */
void tw_cuda_release(tw_cuda_t *cuda);

/* Grants or revokes the capability.  Revoking clears the last error, so
 * nothing recorded while granted stays readable. */
void tw_cuda_set_enabled(tw_cuda_t *cuda, bool enabled);
bool tw_cuda_enabled(const tw_cuda_t *cuda);

/* Makes a launch that is waiting for its kernel return LaunchFailed
 * ("interrupted") at once, and every later call of the context return -1;
 * pair it with tw_store_interrupt on a deadline.  The kernel itself runs on
 * (the driver cannot stop one kernel); its stream is destroyed at release
 * and the driver frees its resources when it ends.  Any thread. */
void tw_cuda_interrupt(tw_cuda_t *cuda);

/* Defines the host function for import `index` of `module` (borrowed) in
 * `store` and writes it to *out.  TW_NOT_FOUND (out untouched) when the
 * import is from neither of our modules, so the caller can look elsewhere;
 * TW_UNLINKABLE for an unknown name (wasi_cuda_last_error_ptr included: the
 * original never registered it) or a non-function import.  A mismatched
 * signature is refused by tw_instance_new. */
tw_status tw_cuda_resolve_import(tw_cuda_t *cuda, tw_store_t *store,
                                 const tw_module_t *module, size_t index,
                                 tw_extern *out, tw_error *err);

/* The guest's last recorded error (borrowed until the context's next call
 * or release); "" when none. */
const char *tw_cuda_last_error(const tw_cuda_t *cuda);

/* What an instance holds now (for the executor's accounting and tests). */
typedef struct tw_cuda_usage {
  uint32_t kernels;          /* loaded */
  uint64_t ptx_bytes_total;  /* loaded so far */
  uint32_t buffers;          /* live device buffers */
  uint64_t device_bytes;     /* their bytes */
  uint64_t pinned_bytes;     /* linear memory registered now */
  uint64_t launches;         /* kernels launched successfully */
  uint64_t registrations;    /* times linear memory was (re)registered */
} tw_cuda_usage;

void tw_cuda_usage_get(const tw_cuda_t *cuda, tw_cuda_usage *out);

/* Loads the driver and opens `device` if not done yet; TW_OK when kernels
 * can run there, else TW_UNSUPPORTED with the reason in err.  For
 * readiness checks and `version` output; never needed before other calls.
 * `library` as in tw_cuda_config. */
tw_status tw_cuda_probe(const char *library, int device, tw_error *err);

#ifdef __cplusplus
}
#endif
#endif
