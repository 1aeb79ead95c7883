/* wasi:cuda contexts: one per instance.  Holds the instance's kernels, device
 * buffers, stream and the registration of its linear memory, and turns the
 * guest's calls into driver calls after the pure checks of abi.c.
 *
 * Invariants:
 *  - Every body below runs with c->mu held (host.c takes it), so release
 *    never frees what a running call uses.
 *  - A kernel id is (sequence << 8 | slot) and a buffer handle (sequence <<
 *    16 | slot), the sequence drawn from one process-wide counter: an id is
 *    never reused and is found in O(1), and an id of another instance (or a
 *    made-up one) matches no slot here and is refused.
 *  - Launches and copies wait for the stream before returning to the guest,
 *    so no device work on the guest's memory is in flight while guest code
 *    runs (memory.grow, re-registration and release never race a kernel,
 *    except after tw_cuda_interrupt; see release).
 *  - reg_base/reg_size is exactly what is registered with the driver now;
 *    a launch re-registers when the memory's size differs (memory.grow). */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/gpu_int.h"
#include "tensorwasm/trace.h"

#define DEFAULT_MAX_DEVICE_BYTES ((uint64_t)1 << 30)
#define DEFAULT_MAX_BUFFERS 1024u
#define DEFAULT_MAX_PINNED_BYTES ((uint64_t)4 << 30)
#define BUFFER_SLOT_BITS 16

static atomic_uint_fast64_t next_seq = 1;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int32_t tw__cuda_fail(tw_cuda_t *c, int32_t code, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->last_error_len = tw__cuda_error_truncate(c->last_error, buf);
  tw_event(TW_LEVEL_DEBUG, TW_CUDA_TARGET, "instance %s: %s: %s", c->instance,
           tw_cuda_code_name(code), c->last_error);
  return code;
}

/* ---- lifecycle ------------------------------------------------------------ */

tw_status tw_cuda_new(const tw_cuda_config *config, tw_cuda_t **out,
                      tw_error *err) {
  tw_cuda_config cfg = config ? *config : (tw_cuda_config){0};
  tw_cuda_t *c = NULL;
  *out = NULL;
  if (cfg.device < 0) {
    if (err) {
      tw_error_clear(err);
      err->status = TW_ARG;
      snprintf(err->message, sizeof err->message,
               "wasi:cuda: device ordinal %d is negative", cfg.device);
    }
    return TW_ARG;
  }
  c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  if (cfg.library && !(c->library = strdup(cfg.library))) goto nomem;
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  atomic_init(&c->enabled, cfg.enabled);
  atomic_init(&c->interrupted, false);
  c->device_ordinal = cfg.device;
  c->max_device_bytes =
      cfg.max_device_bytes ? cfg.max_device_bytes : DEFAULT_MAX_DEVICE_BYTES;
  c->max_buffers = cfg.max_buffers ? cfg.max_buffers : DEFAULT_MAX_BUFFERS;
  if (c->max_buffers > (1u << BUFFER_SLOT_BITS))
    c->max_buffers = 1u << BUFFER_SLOT_BITS;
  c->max_pinned_bytes =
      cfg.max_pinned_bytes ? cfg.max_pinned_bytes : DEFAULT_MAX_PINNED_BYTES;
  snprintf(c->tenant, sizeof c->tenant, "%llu",
           (unsigned long long)cfg.tenant_id);
  if (cfg.instance_id)
    snprintf(c->instance, sizeof c->instance, "%llu",
             (unsigned long long)cfg.instance_id);
  else
    snprintf(c->instance, sizeof c->instance, "unknown");
  const tw_metrics_std_t *m = cfg.metrics ? cfg.metrics : tw_metrics_std();
  c->dispatches = tw_metric_counter_with(m->kernel_dispatches, c->tenant);
  c->latency = m->kernel_latency_seconds;
  c->mem_used = tw_metric_gauge_with(m->gpu_memory_used_bytes, c->tenant);
  c->mem_tenant =
      tw_metric_gauge_with(m->gpu_memory_bytes_per_tenant, c->tenant);
  *out = c;
  return TW_OK;
nomem:
  free(c);
  if (err) {
    tw_error_clear(err);
    err->status = TW_NOMEM;
    snprintf(err->message, sizeof err->message, "wasi:cuda: out of memory");
  }
  return TW_NOMEM;
}

void tw__cuda_unref(tw_cuda_t *c) {
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
  pthread_mutex_destroy(&c->mu);
  free(c->buffers);
  free(c->library);
  free(c);
}

/* Frees the device resources of `c` (called once, under c->mu).  When an
 * interrupted kernel is still running they are left to the driver: freeing
 * memory a kernel still writes could hand it to another tenant. */
static void release_device(tw_cuda_t *c) {
  const tw__cu_api *cu = c->cu;
  if (!cu || !c->dev) return; /* never reached the driver: nothing held */
  cu->CtxSetCurrent(c->dev->ctx);
  if (c->stream) {
    int r = cu->StreamQuery(c->stream);
    if (r == TW__CU_ERROR_NOT_READY && atomic_load(&c->interrupted)) {
      tw_event(TW_LEVEL_WARN, TW_CUDA_TARGET,
               "instance %s: kernel still running at release; its device "
               "resources are left to the driver", c->instance);
      cu->StreamDestroy(c->stream); /* the driver frees it when idle */
      c->stream = NULL;
      return;
    }
    if (r == TW__CU_ERROR_NOT_READY) cu->StreamSynchronize(c->stream);
  }
  for (uint32_t i = 0; i < c->nbuffers_cap; i++) {
    tw__cuda_buffer *b = &c->buffers[i];
    if (!b->id) continue;
    cu->MemFree(b->dptr);
    tw_gauge_sub(c->mem_used, (int64_t)b->size);
    tw_gauge_sub(c->mem_tenant, (int64_t)b->size);
    memset(b, 0, sizeof *b);
  }
  c->nbuffers_live = 0;
  c->device_bytes = 0;
  for (uint32_t i = 0; i < c->nkernels; i++) {
    cu->ModuleUnload(c->kernels[i].module);
    memset(&c->kernels[i], 0, sizeof c->kernels[i]);
  }
  c->nkernels = 0;
  if (c->reg_base) cu->MemHostUnregister(c->reg_base);
  c->reg_base = NULL;
  c->reg_size = 0;
  if (c->stream) cu->StreamDestroy(c->stream);
  c->stream = NULL;
}

void tw_cuda_release(tw_cuda_t *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  if (!c->released) {
    c->released = true;
    release_device(c);
  }
  pthread_mutex_unlock(&c->mu);
  tw__cuda_unref(c);
}

void tw_cuda_set_enabled(tw_cuda_t *c, bool enabled) {
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->enabled, enabled);
  if (!enabled) {
    c->last_error[0] = 0;
    c->last_error_len = 0;
  }
  pthread_mutex_unlock(&c->mu);
}

bool tw_cuda_enabled(const tw_cuda_t *c) { return atomic_load(&c->enabled); }

void tw_cuda_interrupt(tw_cuda_t *c) {
  if (c) atomic_store(&c->interrupted, true);
}

const char *tw_cuda_last_error(const tw_cuda_t *c) { return c->last_error; }

void tw_cuda_usage_get(const tw_cuda_t *cc, tw_cuda_usage *out) {
  tw_cuda_t *c = (tw_cuda_t *)cc; /* the lock is not part of its value */
  pthread_mutex_lock(&c->mu);
  *out = (tw_cuda_usage){.kernels = c->nkernels,
                         .ptx_bytes_total = c->ptx_total,
                         .buffers = c->nbuffers_live,
                         .device_bytes = c->device_bytes,
                         .pinned_bytes = c->reg_size,
                         .launches = c->launches,
                         .registrations = c->registrations};
  pthread_mutex_unlock(&c->mu);
}

tw_status tw_cuda_probe(const char *library, int device, tw_error *err) {
  char why[TW__CUDA_WHY_MAX];
  const tw__cu_api *cu = tw__cuda_driver(library, why, sizeof why);
  if (cu && tw__cuda_device_open(cu, device, why, sizeof why)) return TW_OK;
  if (err) {
    tw_error_clear(err);
    err->status = TW_UNSUPPORTED;
    snprintf(err->message, sizeof err->message, "%.*s",
             (int)sizeof err->message - 1, why);
  }
  return TW_UNSUPPORTED;
}

/* ---- driver readiness ---------------------------------------------------- */

int32_t tw__cuda_ready(tw_cuda_t *c) {
  char why[TW__CUDA_WHY_MAX];
  if (atomic_load(&c->interrupted))
    return tw__cuda_fail(c, TW_CUDA_NOT_AVAILABLE,
                         "wasi:cuda: instance was interrupted");
  const tw__cu_api *cu = tw__cuda_driver(c->library, why, sizeof why);
  if (!cu) return tw__cuda_fail(c, TW_CUDA_NOT_AVAILABLE, "%s", why);
  tw__cuda_device *d = tw__cuda_device_open(cu, c->device_ordinal, why,
                                            sizeof why);
  if (!d) return tw__cuda_fail(c, TW_CUDA_NOT_AVAILABLE, "%s", why);
  c->cu = cu;
  c->dev = d;
  if (!c->stream) {
    int r = cu->StreamCreate(&c->stream, TW__CU_STREAM_NON_BLOCKING);
    if (r != TW__CU_SUCCESS) {
      c->stream = NULL;
      tw__cuda_result_text(cu, r, why, sizeof why);
      return tw__cuda_fail(c, TW_CUDA_INTERNAL,
                           "wasi:cuda: cannot create a stream: %s", why);
    }
  }
  return TW_CUDA_OK;
}

/* Waits for the instance's stream.  Polls rather than blocking in
 * cuStreamSynchronize so that tw_cuda_interrupt can end the wait: spins
 * for the first 20 us (short kernels), then yields, then sleeps 50 us.
 * The spin window awaits measurement on a GPU (bench/gpu_bench.c).
 * Returns a CUresult, or -1 when interrupted. */
static int stream_wait(tw_cuda_t *c) {
  const tw__cu_api *cu = c->cu;
  uint64_t start = now_ns();
  for (;;) {
    int r = cu->StreamQuery(c->stream);
    if (r != TW__CU_ERROR_NOT_READY) return r;
    if (atomic_load(&c->interrupted)) return -1;
    uint64_t waited = now_ns() - start;
    if (waited < 20000) continue;
    if (waited < 1000000) {
      sched_yield();
      continue;
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
}

/* The guest-visible failure for a driver error in `what`. */
static int32_t driver_fail(tw_cuda_t *c, int32_t code, const char *what,
                           int r) {
  char text[200];
  if (r == -1)
    return tw__cuda_fail(c, TW_CUDA_LAUNCH_FAILED, "%s: interrupted", what);
  tw__cuda_result_text(c->cu, r, text, sizeof text);
  if (tw__cuda_check_sticky(c->cu, c->dev, r))
    return tw__cuda_fail(c, code, "%s: %s (the device needs a restart)",
                         what, text);
  if (r == TW__CU_ERROR_OUT_OF_MEMORY) code = TW_CUDA_QUOTA_EXCEEDED;
  return tw__cuda_fail(c, code, "%s: %s", what, text);
}

int32_t tw__cuda_sync(tw_cuda_t *c) {
  int32_t rc = tw__cuda_ready(c);
  if (rc) return rc;
  int r = stream_wait(c);
  return r ? driver_fail(c, TW_CUDA_LAUNCH_FAILED, "sync", r) : TW_CUDA_OK;
}

/* ---- kernels ----------------------------------------------------------------- */

/* Records the parameter sizes of `k` when the driver can tell (CUDA 12.4+),
 * so launches with the wrong arguments are refused instead of letting the
 * driver read what was not given. */
static void kernel_params(const tw__cu_api *cu, tw__cuda_kernel *k) {
  k->nparams = UINT32_MAX;
  if (!cu->FuncGetParamInfo) return;
  /* A kernel's parameters fit in 32 KiB, so there are fewer than 32768. */
  for (uint32_t i = 0; i < 32768; i++) {
    size_t off = 0, size = 0;
    int r = cu->FuncGetParamInfo(k->func, i, &off, &size);
    if (r == TW__CU_ERROR_INVALID_VALUE) { /* past the last one */
      k->nparams = i;
      return;
    }
    if (r != TW__CU_SUCCESS) return; /* cannot tell */
    if (i < TW_CUDA_MAX_ARGS) k->param_size[i] = size > 0xFFFF ? 0xFFFF : size;
  }
}

/* Compiles `text` (NUL-terminated) and looks `entry` up; on success fills
 * *k.  Runs with the context current. */
static int32_t kernel_compile(tw_cuda_t *c, const char *text,
                              const char *entry, tw__cuda_kernel *k) {
  const tw__cu_api *cu = c->cu;
  char log[1024] = "";
  int opts[2] = {TW__CU_JIT_ERROR_LOG_BUFFER,
                 TW__CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[2] = {log, (void *)(uintptr_t)(sizeof log - 1)};
  void *module = NULL, *func = NULL;
  int r = cu->ModuleLoadDataEx(&module, text, 2, opts, vals);
  if (r != TW__CU_SUCCESS) {
    char rt[200];
    log[sizeof log - 1] = 0;
    tw__cuda_result_text(cu, r, rt, sizeof rt);
    if (tw__cuda_check_sticky(cu, c->dev, r) ||
        r == TW__CU_ERROR_OUT_OF_MEMORY)
      return driver_fail(c, TW_CUDA_INTERNAL, "load_ptx: cuModuleLoadDataEx",
                         r);
    return tw__cuda_fail(c, TW_CUDA_MALFORMED_PTX,
                         "load_ptx: the driver rejected the PTX: %s%s%s", rt,
                         log[0] ? ": " : "", log);
  }
  r = cu->ModuleGetFunction(&func, module, entry);
  if (r != TW__CU_SUCCESS) {
    char rt[200];
    tw__cuda_result_text(cu, r, rt, sizeof rt);
    cu->ModuleUnload(module);
    return tw__cuda_fail(c, TW_CUDA_MALFORMED_PTX,
                         "load_ptx: no entry \"%s\" in the PTX: %s", entry, rt);
  }
  k->module = module;
  k->func = func;
  kernel_params(cu, k);
  return TW_CUDA_OK;
}

int64_t tw__cuda_load_ptx(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                          uint32_t ptx, uint32_t ptx_len, uint32_t entry,
                          uint32_t entry_len) {
  char why[TW__CUDA_WHY_MAX], name[TW_CUDA_MAX_ENTRY_BYTES + 1];
  int32_t rc;
  size_t text_len;
  if (ptx_len > TW_CUDA_MAX_PTX_BYTES)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "load_ptx: PTX is %u bytes (at most %u)", ptx_len,
                         TW_CUDA_MAX_PTX_BYTES);
  if (entry_len > TW_CUDA_MAX_ENTRY_BYTES)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "load_ptx: entry name is %u bytes (at most %d)",
                         entry_len, TW_CUDA_MAX_ENTRY_BYTES);
  if ((uint64_t)ptx + ptx_len > size || (uint64_t)entry + entry_len > size)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "load_ptx: PTX [%u, +%u) or entry [%u, +%u) is "
                         "outside linear memory (%llu bytes)",
                         ptx, ptx_len, entry, entry_len,
                         (unsigned long long)size);
  if ((rc = tw__cuda_check_entry(mem + entry, entry_len, why, sizeof why)) ||
      (rc = tw__cuda_check_ptx(mem + ptx, ptx_len, &text_len, why,
                               sizeof why)))
    return tw__cuda_fail(c, rc, "%s", why);
  if (c->nkernels == TW_CUDA_MAX_KERNELS)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "load_ptx: %d kernels loaded (at most %d)",
                         TW_CUDA_MAX_KERNELS, TW_CUDA_MAX_KERNELS);
  if (c->ptx_total + ptx_len > TW_CUDA_MAX_PTX_TOTAL)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "load_ptx: %llu PTX bytes loaded; %u more would pass "
                         "%llu",
                         (unsigned long long)c->ptx_total, ptx_len,
                         (unsigned long long)TW_CUDA_MAX_PTX_TOTAL);
  if ((rc = tw__cuda_ready(c))) return rc;
  /* The driver wants NUL-terminated text; the guest's copy may change. */
  char *text = malloc(text_len + 1);
  if (!text)
    return tw__cuda_fail(c, TW_CUDA_INTERNAL, "load_ptx: out of memory");
  memcpy(text, mem + ptx, text_len);
  text[text_len] = 0;
  memcpy(name, mem + entry, entry_len);
  name[entry_len] = 0;
  tw__cuda_kernel *k = &c->kernels[c->nkernels];
  memset(k, 0, sizeof *k);
  rc = kernel_compile(c, text, name, k);
  free(text);
  if (rc) return rc;
  k->id = (int64_t)(atomic_fetch_add(&next_seq, 1) << 8 | c->nkernels);
  c->nkernels++;
  c->ptx_total += ptx_len;
  return k->id;
}

static tw__cuda_kernel *kernel_find(tw_cuda_t *c, int64_t id) {
  if (id < 0) return NULL;
  uint32_t slot = (uint32_t)(id & 0xFF);
  if (slot >= c->nkernels || c->kernels[slot].id != id) {
    tw_counter_inc(tw_metrics_std()->isolation_violations); /* not its own */
    return NULL;
  }
  return &c->kernels[slot];
}

/* ---- linear memory ------------------------------------------------------------ */

/* Makes [mem, mem + size) reachable from the device (see the invariants). */
static int32_t memory_register(tw_cuda_t *c, uint8_t *mem, uint64_t size) {
  const tw__cu_api *cu = c->cu;
  if (c->reg_base == mem && c->reg_size == size) return TW_CUDA_OK;
  if (size > c->max_pinned_bytes)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "launch: linear memory is %llu bytes; at most %llu "
                         "may be mapped for the device",
                         (unsigned long long)size,
                         (unsigned long long)c->max_pinned_bytes);
  if (c->reg_base) cu->MemHostUnregister(c->reg_base);
  c->reg_base = NULL;
  c->reg_size = 0;
  if (!mem || !size) return TW_CUDA_OK;
  tw__cu_devptr d = 0;
  int r = cu->MemHostRegister(
      mem, size, TW__CU_MEMHOSTREGISTER_PORTABLE | TW__CU_MEMHOSTREGISTER_DEVICEMAP);
  if (r != TW__CU_SUCCESS)
    return driver_fail(c, TW_CUDA_INTERNAL, "launch: cuMemHostRegister", r);
  r = cu->MemHostGetDevicePointer(&d, mem, 0);
  if (r != TW__CU_SUCCESS) {
    cu->MemHostUnregister(mem);
    return driver_fail(c, TW_CUDA_INTERNAL,
                       "launch: cuMemHostGetDevicePointer", r);
  }
  c->reg_base = mem;
  c->reg_size = size;
  c->reg_dptr = d;
  c->registrations++;
  return TW_CUDA_OK;
}

/* ---- launch -------------------------------------------------------------------- */

/* Zeros that parameter slots past the guest's arguments point at, so a
 * driver that cannot report a kernel's parameters (before CUDA 12.4)
 * reads zeros, not host memory, when a guest passes too few.  32 KiB is
 * the largest parameter block a kernel may have. */
static const uint8_t zero_params[32768];
#define PARAM_SLOTS (2 * TW_CUDA_MAX_ARGS)

/* Checks the decoded arguments against the kernel and turns each into the
 * value the kernel receives (device addresses for PTR and BUFFER). */
static int32_t args_resolve(tw_cuda_t *c, const tw__cuda_kernel *k,
                            tw__cuda_arg *args, size_t n, uint8_t *mem,
                            uint64_t size) {
  int32_t rc;
  if (k->nparams != UINT32_MAX) {
    if (n != k->nparams)
      return tw__cuda_fail(c, TW_CUDA_INVALID_ARGS,
                           "launch: kernel takes %u argument%s, %zu given",
                           k->nparams, k->nparams == 1 ? "" : "s", n);
    for (size_t i = 0; i < n; i++)
      if (args[i].size != k->param_size[i])
        return tw__cuda_fail(c, TW_CUDA_INVALID_ARGS,
                             "launch: argument %zu is %u bytes, the kernel's "
                             "parameter %zu is %u",
                             i, args[i].size, i, k->param_size[i]);
  }
  for (size_t i = 0; i < n; i++) {
    if (args[i].tag == TW_CUDA_ARG_PTR) {
      if ((rc = memory_register(c, mem, size))) return rc;
      args[i].bits = c->reg_dptr + args[i].off;
    } else if (args[i].tag == TW_CUDA_ARG_BUFFER) {
      tw__cuda_buffer *b = tw__cuda_buffer_find(c, (int64_t)args[i].bits);
      if (!b)
        return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                             "launch: argument %zu: no device buffer with "
                             "handle %lld",
                             i, (long long)args[i].bits);
      args[i].bits = b->dptr;
    }
  }
  return TW_CUDA_OK;
}

/* Launches and waits, inside the wasi_cuda.dispatch span. */
static int32_t dispatch(tw_cuda_t *c, const tw__cuda_kernel *k,
                        tw__cuda_arg *args, size_t n, const int32_t grid[3],
                        const int32_t block[3], int32_t shared_mem) {
  void *params[PARAM_SLOTS];
  for (size_t i = 0; i < PARAM_SLOTS; i++)
    params[i] = i < n ? (void *)&args[i].bits : (void *)zero_params;
  tw_span_t *span =
      tw_span_begin(TW_CUDA_SPAN_DISPATCH, TW_CUDA_TARGET, TW_LEVEL_INFO);
  tw_span_attr_str(span, "instance", c->instance);
  tw_span_attr_int(span, "kernel", k->id);
  uint64_t t0 = now_ns();
  int r = c->cu->LaunchKernel(k->func, (unsigned)grid[0], (unsigned)grid[1],
                              (unsigned)grid[2], (unsigned)block[0],
                              (unsigned)block[1], (unsigned)block[2],
                              (unsigned)shared_mem, c->stream, params, NULL);
  const char *what = "launch: cuLaunchKernel";
  if (r == TW__CU_SUCCESS) {
    what = "launch: kernel";
    r = stream_wait(c);
  }
  int32_t rc = TW_CUDA_OK;
  if (r == TW__CU_SUCCESS) {
    tw_histogram_observe(c->latency, (double)(now_ns() - t0) / 1e9);
    tw_counter_inc(c->dispatches);
    c->launches++;
  } else {
    rc = driver_fail(c, TW_CUDA_LAUNCH_FAILED, what, r);
    tw_span_attr_int(span, "code", rc);
    tw_span_set_status(span, TW_SPAN_STATUS_ERROR, c->last_error);
  }
  tw_span_end(span);
  return rc;
}

int32_t tw__cuda_launch(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                        int64_t kernel, const int32_t grid[3],
                        const int32_t block[3], int32_t shared_mem,
                        uint32_t argp, uint32_t args_len) {
  char why[TW__CUDA_WHY_MAX];
  tw__cuda_arg args[TW_CUDA_MAX_ARGS];
  size_t n = 0;
  int32_t rc;
  if ((rc = tw__cuda_check_dims(grid, block, why, sizeof why)))
    return tw__cuda_fail(c, rc, "%s", why);
  if (shared_mem < 0)
    return tw__cuda_fail(c, TW_CUDA_INVALID_DIMENSIONS,
                         "launch: shared_mem is %d (must be >= 0)", shared_mem);
  if ((uint64_t)argp + args_len > size)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "launch: argument list [%u, %llu) is outside linear "
                         "memory (%llu bytes)",
                         argp, (unsigned long long)argp + args_len,
                         (unsigned long long)size);
  if ((rc = tw__cuda_argv_decode(mem ? mem + argp : NULL, args_len, args, &n,
                                 why, sizeof why)) ||
      (rc = tw__cuda_argv_check_ptrs(args, n, size, why, sizeof why)))
    return tw__cuda_fail(c, rc, "%s", why);
  if ((rc = tw__cuda_ready(c))) return rc;
  const tw__cuda_kernel *k = kernel_find(c, kernel);
  if (!k)
    return tw__cuda_fail(c, TW_CUDA_INVALID_KERNEL,
                         "launch: no kernel %lld in this instance",
                         (long long)kernel);
  if ((rc = args_resolve(c, k, args, n, mem, size))) return rc;
  return dispatch(c, k, args, n, grid, block, shared_mem);
}

/* ---- device buffers ------------------------------------------------------------- */

tw__cuda_buffer *tw__cuda_buffer_find(tw_cuda_t *c, int64_t handle) {
  if (handle <= 0) return NULL;
  uint32_t slot = (uint32_t)(handle & ((1 << BUFFER_SLOT_BITS) - 1));
  if (slot >= c->nbuffers_cap || c->buffers[slot].id != handle) {
    tw_counter_inc(tw_metrics_std()->isolation_violations); /* not its own */
    return NULL;
  }
  return &c->buffers[slot];
}

/* A free slot, growing the table; NULL when out of memory. */
static tw__cuda_buffer *buffer_slot(tw_cuda_t *c, uint32_t *slot) {
  for (uint32_t i = 0; i < c->nbuffers_cap; i++)
    if (!c->buffers[i].id) return *slot = i, &c->buffers[i];
  uint32_t ncap = c->nbuffers_cap ? c->nbuffers_cap * 2 : 16;
  if (ncap > c->max_buffers) ncap = c->max_buffers;
  tw__cuda_buffer *nb = realloc(c->buffers, ncap * sizeof *nb);
  if (!nb) return NULL;
  memset(nb + c->nbuffers_cap, 0, (ncap - c->nbuffers_cap) * sizeof *nb);
  c->buffers = nb;
  *slot = c->nbuffers_cap;
  c->nbuffers_cap = ncap;
  return &c->buffers[*slot];
}

int64_t tw__cuda_buffer_alloc(tw_cuda_t *c, int64_t bytes) {
  int32_t rc;
  if (bytes <= 0)
    return tw__cuda_fail(c, TW_CUDA_INVALID_ARGS,
                         "malloc: size %lld (must be positive)",
                         (long long)bytes);
  if ((uint64_t)bytes > c->max_device_bytes - c->device_bytes)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "malloc: %lld bytes would pass the instance's device "
                         "memory limit (%llu of %llu in use)",
                         (long long)bytes, (unsigned long long)c->device_bytes,
                         (unsigned long long)c->max_device_bytes);
  if (c->nbuffers_live >= c->max_buffers)
    return tw__cuda_fail(c, TW_CUDA_QUOTA_EXCEEDED,
                         "malloc: %u buffers live (at most %u)",
                         c->nbuffers_live, c->max_buffers);
  if ((rc = tw__cuda_ready(c))) return rc;
  uint32_t slot;
  tw__cuda_buffer *b = buffer_slot(c, &slot);
  if (!b) return tw__cuda_fail(c, TW_CUDA_INTERNAL, "malloc: out of memory");
  tw__cu_devptr d = 0;
  int r = c->cu->MemAlloc(&d, (size_t)bytes);
  if (r != TW__CU_SUCCESS)
    return driver_fail(c, TW_CUDA_INTERNAL, "malloc: cuMemAlloc", r);
  /* Fresh device memory may hold another tenant's data: zero it. */
  r = c->cu->MemsetD8Async(d, 0, (size_t)bytes, c->stream);
  if (r == TW__CU_SUCCESS) r = stream_wait(c);
  if (r != TW__CU_SUCCESS) {
    c->cu->MemFree(d);
    return driver_fail(c, TW_CUDA_INTERNAL, "malloc: clearing the buffer", r);
  }
  b->id = (int64_t)(atomic_fetch_add(&next_seq, 1) << BUFFER_SLOT_BITS | slot);
  b->dptr = d;
  b->size = (uint64_t)bytes;
  c->nbuffers_live++;
  c->device_bytes += b->size;
  tw_gauge_add(c->mem_used, bytes);
  tw_gauge_add(c->mem_tenant, bytes);
  return b->id;
}

int32_t tw__cuda_buffer_free(tw_cuda_t *c, int64_t handle) {
  tw__cuda_buffer *b = tw__cuda_buffer_find(c, handle);
  if (!b)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "free: no device buffer with handle %lld",
                         (long long)handle);
  int32_t rc = tw__cuda_ready(c);
  if (rc) return rc;
  int r = c->cu->MemFree(b->dptr);
  tw_gauge_sub(c->mem_used, (int64_t)b->size);
  tw_gauge_sub(c->mem_tenant, (int64_t)b->size);
  c->device_bytes -= b->size;
  c->nbuffers_live--;
  memset(b, 0, sizeof *b);
  return r ? driver_fail(c, TW_CUDA_INTERNAL, "free: cuMemFree", r)
           : TW_CUDA_OK;
}

int32_t tw__cuda_buffer_copy(tw_cuda_t *c, uint8_t *mem, uint64_t size,
                             int64_t handle, int64_t offset, uint32_t ptr,
                             uint32_t len, bool to_device) {
  const char *op = to_device ? "memcpy_htod" : "memcpy_dtoh";
  tw__cuda_buffer *b = tw__cuda_buffer_find(c, handle);
  if (!b)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "%s: no device buffer with handle %lld", op,
                         (long long)handle);
  if (offset < 0 || (uint64_t)offset > b->size || len > b->size - offset)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "%s: range [%lld, +%u) is outside the buffer (%llu "
                         "bytes)",
                         op, (long long)offset, len,
                         (unsigned long long)b->size);
  if ((uint64_t)ptr + len > size)
    return tw__cuda_fail(c, TW_CUDA_INVALID_POINTER,
                         "%s: guest range [%u, +%u) is outside linear memory "
                         "(%llu bytes)",
                         op, ptr, len, (unsigned long long)size);
  int32_t rc = tw__cuda_ready(c);
  if (rc) return rc;
  if (!len) return TW_CUDA_OK;
  tw__cu_devptr d = b->dptr + (uint64_t)offset;
  int r = to_device ? c->cu->MemcpyHtoDAsync(d, mem + ptr, len, c->stream)
                    : c->cu->MemcpyDtoHAsync(mem + ptr, d, len, c->stream);
  if (r == TW__CU_SUCCESS) r = stream_wait(c);
  return r ? driver_fail(c, TW_CUDA_INTERNAL, op, r) : TW_CUDA_OK;
}
