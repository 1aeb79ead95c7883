/* A fake CUDA driver for CPU-only tests: the entry points src/gpu uses,
 * implemented on the CPU, built as libfakecuda.so and loaded through
 * TW_CUDA_LIBRARY.  Test-only; never installed.
 *
 * It keeps the driver's rules that the runtime depends on, so that a
 * mistake in the runtime fails here as it would on a GPU:
 *  - device addresses are a separate number space (from 0x900000000000),
 *    so a host pointer passed as a kernel argument is an illegal address;
 *  - host memory must be registered (DEVICEMAP) and translated with
 *    cuMemHostGetDevicePointer before a kernel may touch it, and a
 *    registration may not overlap another;
 *  - kernel faults are reported asynchronously (at cuStreamQuery /
 *    cuStreamSynchronize) and are sticky;
 *  - fresh cuMemAlloc memory holds garbage (0xAB), not zeros.
 * "Compiling" PTX collects its `.entry` names; launching an entry runs the
 * C function of the same name below over the grid, so results are real. */
#include <ctype.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cuda.h"

#define EXPORT __attribute__((visibility("default")))

enum {
  OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3,
  NO_DEVICE = 100, INVALID_DEVICE = 101, INVALID_PTX = 218,
  INVALID_HANDLE = 400, NOT_FOUND = 500, NOT_READY = 600,
  ILLEGAL_ADDRESS = 700, ALREADY_REGISTERED = 712, NOT_REGISTERED = 713,
  LAUNCH_FAILED = 719, NOT_SUPPORTED = 801
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fake_cuda_counters counters;
static bool inited, no_param_info;
static int primary_ctx; /* its address is the context handle */
static char fail_name[64];
static int fail_result;
static volatile int hung;

EXPORT fake_cuda_counters *fake_cuda_counters_get(void) { return &counters; }
EXPORT void fake_cuda_fail_next(const char *name, int result) {
  pthread_mutex_lock(&mu);
  strncpy(fail_name, name, sizeof fail_name - 1);
  fail_result = result;
  pthread_mutex_unlock(&mu);
}
EXPORT void fake_cuda_unhang(void) { __atomic_store_n(&hung, 0, __ATOMIC_SEQ_CST); }

/* An injected failure for `name`, consumed once; 0 when none. */
static int injected(const char *name) {
  int r = 0;
  pthread_mutex_lock(&mu);
  if (fail_name[0] && strcmp(fail_name, name) == 0) {
    r = fail_result;
    fail_name[0] = 0;
  }
  pthread_mutex_unlock(&mu);
  return r;
}
#define INJECT(name) do { int r_ = injected(name); if (r_) return r_; } while (0)

/* ---- device address space -------------------------------------------------- */

typedef struct region {
  uint64_t dptr, size;
  uint8_t *host;
  bool registered; /* host memory of the caller, else our allocation */
} region;

static region *regions;
static size_t nregions, capregions;
static uint64_t next_dptr = 0x900000000000ull;

static region *region_add(uint8_t *host, uint64_t size, bool registered) {
  if (nregions == capregions) {
    size_t ncap = capregions ? capregions * 2 : 16;
    region *nr = realloc(regions, ncap * sizeof *nr);
    if (!nr) return NULL;
    regions = nr;
    capregions = ncap;
  }
  region *r = &regions[nregions++];
  r->dptr = next_dptr;
  r->size = size;
  r->host = host;
  r->registered = registered;
  next_dptr += (size + 4095 + 4096) & ~(uint64_t)4095; /* a gap between */
  return r;
}

static void region_remove(region *r) { *r = regions[--nregions]; }

EXPORT void *fake_cuda_translate(uint64_t dptr, uint64_t len) {
  void *p = NULL;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nregions && !p; i++)
    if (dptr >= regions[i].dptr && len <= regions[i].size &&
        dptr - regions[i].dptr <= regions[i].size - len)
      p = regions[i].host + (dptr - regions[i].dptr);
  pthread_mutex_unlock(&mu);
  return p;
}

/* ---- kernels -------------------------------------------------------------------- */

typedef struct dims { unsigned g[3], b[3]; } dims;
typedef int (*kernel_fn)(void **params, const dims *d);

static uint64_t param_u64(void **params, int i) {
  uint64_t v;
  memcpy(&v, params[i], 8);
  return v;
}
static uint32_t param_u32(void **params, int i) {
  uint32_t v;
  memcpy(&v, params[i], 4);
  return v;
}

static int k_vec_add(void **params, const dims *d) {
  uint32_t n = param_u32(params, 3);
  float *a = fake_cuda_translate(param_u64(params, 0), (uint64_t)n * 4);
  float *b = fake_cuda_translate(param_u64(params, 1), (uint64_t)n * 4);
  float *c = fake_cuda_translate(param_u64(params, 2), (uint64_t)n * 4);
  if (!a || !b || !c) return ILLEGAL_ADDRESS;
  uint64_t threads = (uint64_t)d->g[0] * d->b[0];
  for (uint64_t i = 0; i < threads && i < n; i++) c[i] = a[i] + b[i];
  return OK;
}

static int k_matmul(void **params, const dims *d) {
  uint32_t n = param_u32(params, 3);
  uint64_t bytes = (uint64_t)n * n * 4;
  float *a = fake_cuda_translate(param_u64(params, 0), bytes);
  float *b = fake_cuda_translate(param_u64(params, 1), bytes);
  float *c = fake_cuda_translate(param_u64(params, 2), bytes);
  if (!a || !b || !c) return ILLEGAL_ADDRESS;
  uint64_t rows = (uint64_t)d->g[1] * d->b[1], cols = (uint64_t)d->g[0] * d->b[0];
  for (uint64_t r = 0; r < rows && r < n; r++)
    for (uint64_t col = 0; col < cols && col < n; col++) {
      float acc = 0.0f;
      for (uint32_t k = 0; k < n; k++) acc += a[r * n + k] * b[k * n + col];
      c[r * n + col] = acc;
    }
  return OK;
}

/* Records 8 bytes behind each parameter pointer (the runtime pads the
 * parameter array with pointers to zeros, so reading past the guest's
 * arguments is safe and reads zeros). */
static int k_argdump(void **params, const dims *d) {
  (void)d;
  for (int i = 0; i < FAKE_CUDA_ARGDUMP_MAX; i++)
    counters.argdump[i] = param_u64(params, i);
  counters.argdump_calls++;
  return OK;
}

static int k_hang(void **params, const dims *d) {
  (void)params; (void)d;
  __atomic_store_n(&hung, 1, __ATOMIC_SEQ_CST);
  return OK;
}

static int k_fault(void **params, const dims *d) {
  (void)params; (void)d;
  return ILLEGAL_ADDRESS;
}

static const struct kernel_desc {
  const char *name;
  kernel_fn fn;
  int nparams; /* -1: cannot be reported */
  size_t sizes[4];
} kernels[] = {
    {"vec_add", k_vec_add, 4, {8, 8, 8, 4}},
    {"matmul", k_matmul, 4, {8, 8, 8, 4}},
    {"argdump", k_argdump, -1, {0}},
    {"hang", k_hang, 0, {0}},
    {"fault", k_fault, 0, {0}},
};

/* ---- handles ----------------------------------------------------------------- */

typedef struct fake_module {
  int magic;
  char names[16][64];
  int nnames;
} fake_module;

typedef struct fake_func {
  int magic;
  fake_module *module;
  const struct kernel_desc *k; /* NULL: in the PTX but not runnable here */
} fake_func;

typedef struct fake_stream {
  int magic;
  int error; /* sticky asynchronous error */
} fake_stream;

#define MODULE_MAGIC 0x6d6f64
#define FUNC_MAGIC 0x66756e
#define STREAM_MAGIC 0x737472

static fake_func funcs[1024];
static int nfuncs;

/* ---- the driver API ----------------------------------------------------------- */

EXPORT int cuInit(unsigned flags) {
  if (flags) return INVALID_VALUE;
  const char *e = getenv("FAKE_CUDA_NO_DEVICE");
  if (e && *e == '1') return NO_DEVICE;
  e = getenv("FAKE_CUDA_NO_PARAM_INFO");
  no_param_info = e && *e == '1';
  inited = true;
  return OK;
}

EXPORT int cuDriverGetVersion(int *v) { *v = 12040; return OK; }

EXPORT int cuDeviceGetCount(int *n) {
  if (!inited) return NOT_INITIALIZED;
  *n = 1;
  return OK;
}

EXPORT int cuDeviceGet(int *dev, int ordinal) {
  if (ordinal != 0) return INVALID_DEVICE;
  *dev = 0;
  return OK;
}

EXPORT int cuDevicePrimaryCtxRetain(void **ctx, int dev) {
  if (dev != 0) return INVALID_DEVICE;
  *ctx = &primary_ctx;
  return OK;
}

EXPORT int cuCtxSetCurrent(void *ctx) {
  if (ctx != &primary_ctx) return INVALID_VALUE;
  __atomic_add_fetch(&counters.ctx_set, 1, __ATOMIC_RELAXED);
  return OK;
}

EXPORT int cuStreamCreate(void **s, unsigned flags) {
  (void)flags;
  INJECT("cuStreamCreate");
  fake_stream *st = calloc(1, sizeof *st);
  if (!st) return OUT_OF_MEMORY;
  st->magic = STREAM_MAGIC;
  *s = st;
  counters.live_streams++;
  return OK;
}

static fake_stream *stream_of(void *s) {
  fake_stream *st = s;
  return st && st->magic == STREAM_MAGIC ? st : NULL;
}

EXPORT int cuStreamDestroy_v2(void *s) {
  fake_stream *st = stream_of(s);
  if (!st) return INVALID_HANDLE;
  st->magic = 0;
  free(st);
  counters.live_streams--;
  return OK;
}

EXPORT int cuStreamQuery(void *s) {
  fake_stream *st = stream_of(s);
  if (!st) return INVALID_HANDLE;
  if (st->error) return st->error;
  return __atomic_load_n(&hung, __ATOMIC_SEQ_CST) ? NOT_READY : OK;
}

EXPORT int cuStreamSynchronize(void *s) {
  int r;
  while ((r = cuStreamQuery(s)) == NOT_READY) sched_yield();
  return r;
}

EXPORT int cuModuleLoadDataEx(void **module, const void *image, unsigned n,
                              int *opts, void **vals) {
  const char *text = image;
  INJECT("cuModuleLoadDataEx");
  if (strstr(text, "FAKE_COMPILE_ERROR")) {
    char *log = NULL;
    size_t cap = 0;
    for (unsigned i = 0; i < n; i++) {
      if (opts[i] == 5) log = vals[i];
      if (opts[i] == 6) cap = (size_t)(uintptr_t)vals[i];
    }
    if (log && cap) {
      strncpy(log, "ptxas fatal: fake syntax error at line 7", cap - 1);
      log[cap - 1] = 0;
    }
    return INVALID_PTX;
  }
  if (!strstr(text, ".version")) return INVALID_PTX;
  fake_module *m = calloc(1, sizeof *m);
  if (!m) return OUT_OF_MEMORY;
  m->magic = MODULE_MAGIC;
  for (const char *p = text; (p = strstr(p, ".entry")) && m->nnames < 16;) {
    p += 6;
    while (*p == ' ' || *p == '\t') p++;
    int len = 0;
    while ((isalnum((unsigned char)p[len]) || p[len] == '_' || p[len] == '$') &&
           len < 63)
      len++;
    memcpy(m->names[m->nnames], p, (size_t)len);
    m->names[m->nnames++][len] = 0;
  }
  *module = m;
  counters.live_modules++;
  return OK;
}

EXPORT int cuModuleUnload(void *module) {
  fake_module *m = module;
  if (!m || m->magic != MODULE_MAGIC) return INVALID_HANDLE;
  for (int i = 0; i < nfuncs; i++)
    if (funcs[i].module == m) funcs[i].magic = 0;
  m->magic = 0;
  free(m);
  counters.live_modules--;
  return OK;
}

EXPORT int cuModuleGetFunction(void **func, void *module, const char *name) {
  fake_module *m = module;
  if (!m || m->magic != MODULE_MAGIC) return INVALID_HANDLE;
  int found = 0;
  for (int i = 0; i < m->nnames; i++) found |= strcmp(m->names[i], name) == 0;
  if (!found) return NOT_FOUND;
  fake_func *f = NULL;
  for (int i = 0; i < nfuncs && !f; i++)
    if (!funcs[i].magic) f = &funcs[i];
  if (!f && nfuncs < 1024) f = &funcs[nfuncs++];
  if (!f) return OUT_OF_MEMORY;
  f->magic = FUNC_MAGIC;
  f->module = m;
  f->k = NULL;
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (strcmp(kernels[i].name, name) == 0) f->k = &kernels[i];
  *func = f;
  return OK;
}

EXPORT int cuFuncGetParamInfo(void *func, size_t index, size_t *offset,
                              size_t *size) {
  fake_func *f = func;
  if (!f || f->magic != FUNC_MAGIC) return INVALID_HANDLE;
  if (no_param_info || !f->k || f->k->nparams < 0) return NOT_SUPPORTED;
  if (index >= (size_t)f->k->nparams) return INVALID_VALUE;
  size_t off = 0;
  for (size_t i = 0; i < index; i++) off += f->k->sizes[i];
  if (offset) *offset = off;
  if (size) *size = f->k->sizes[index];
  return OK;
}

EXPORT int cuLaunchKernel(void *func, unsigned gx, unsigned gy, unsigned gz,
                          unsigned bx, unsigned by, unsigned bz,
                          unsigned shmem, void *stream, void **params,
                          void **extra) {
  fake_func *f = func;
  fake_stream *st = stream_of(stream);
  (void)shmem;
  INJECT("cuLaunchKernel");
  if (!f || f->magic != FUNC_MAGIC || !st) return INVALID_HANDLE;
  if (extra || (!params && f->k && f->k->nparams > 0)) return INVALID_VALUE;
  if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024)
    return INVALID_VALUE;
  if (!f->k) return NOT_SUPPORTED;
  if (st->error) return st->error;
  dims d = {{gx, gy, gz}, {bx, by, bz}};
  int r = f->k->fn(params, &d);
  if (r) st->error = r; /* reported later, as a real fault is */
  counters.launches++;
  return OK;
}

EXPORT int cuMemAlloc_v2(uint64_t *dptr, size_t bytes) {
  INJECT("cuMemAlloc_v2");
  if (!bytes) return INVALID_VALUE;
  uint8_t *host = malloc(bytes);
  if (!host) return OUT_OF_MEMORY;
  memset(host, 0xAB, bytes); /* what the last owner left */
  pthread_mutex_lock(&mu);
  region *r = region_add(host, bytes, false);
  if (r) *dptr = r->dptr;
  pthread_mutex_unlock(&mu);
  if (!r) { free(host); return OUT_OF_MEMORY; }
  counters.live_allocs++;
  return OK;
}

EXPORT int cuMemFree_v2(uint64_t dptr) {
  int rc = INVALID_VALUE;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nregions; i++)
    if (!regions[i].registered && regions[i].dptr == dptr) {
      free(regions[i].host);
      region_remove(&regions[i]);
      counters.live_allocs--;
      rc = OK;
      break;
    }
  pthread_mutex_unlock(&mu);
  return rc;
}

EXPORT int cuMemsetD8Async(uint64_t dptr, unsigned char v, size_t n, void *s) {
  if (!stream_of(s)) return INVALID_HANDLE;
  uint8_t *p = fake_cuda_translate(dptr, n);
  if (!p) return INVALID_VALUE;
  memset(p, v, n);
  counters.memsets++;
  return OK;
}

EXPORT int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n,
                                void *s) {
  INJECT("cuMemcpyHtoDAsync_v2");
  if (!stream_of(s)) return INVALID_HANDLE;
  uint8_t *p = fake_cuda_translate(dst, n);
  if (!p) return INVALID_VALUE;
  memcpy(p, src, n);
  return OK;
}

EXPORT int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, void *s) {
  if (!stream_of(s)) return INVALID_HANDLE;
  uint8_t *p = fake_cuda_translate(src, n);
  if (!p) return INVALID_VALUE;
  memcpy(dst, p, n);
  return OK;
}

EXPORT int cuMemHostRegister_v2(void *p, size_t bytes, unsigned flags) {
  INJECT("cuMemHostRegister_v2");
  if (!p || !bytes || !(flags & 0x02)) return INVALID_VALUE;
  uint8_t *h = p;
  int rc = OK;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nregions && rc == OK; i++)
    if (regions[i].registered && h < regions[i].host + regions[i].size &&
        regions[i].host < h + bytes)
      rc = ALREADY_REGISTERED;
  if (rc == OK && !region_add(h, bytes, true)) rc = OUT_OF_MEMORY;
  pthread_mutex_unlock(&mu);
  if (rc == OK) {
    counters.live_registrations++;
    counters.registrations++;
    counters.registered_bytes = bytes;
  }
  return rc;
}

EXPORT int cuMemHostUnregister(void *p) {
  int rc = NOT_REGISTERED;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nregions; i++)
    if (regions[i].registered && regions[i].host == p) {
      region_remove(&regions[i]);
      counters.live_registrations--;
      rc = OK;
      break;
    }
  pthread_mutex_unlock(&mu);
  return rc;
}

EXPORT int cuMemHostGetDevicePointer_v2(uint64_t *dptr, void *p,
                                        unsigned flags) {
  int rc = INVALID_VALUE;
  uint8_t *h = p;
  if (flags) return INVALID_VALUE;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nregions; i++)
    if (regions[i].registered && h >= regions[i].host &&
        h < regions[i].host + regions[i].size) {
      *dptr = regions[i].dptr + (uint64_t)(h - regions[i].host);
      rc = OK;
      break;
    }
  pthread_mutex_unlock(&mu);
  return rc;
}

static const struct { int code; const char *name, *text; } errors[] = {
    {OK, "CUDA_SUCCESS", "no error"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready"},
    {ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS",
     "an illegal memory access was encountered"},
    {ALREADY_REGISTERED, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
     "part or all of the requested memory range is already mapped"},
    {NOT_REGISTERED, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
     "pointer does not correspond to a registered memory region"},
    {LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
};

static int error_lookup(int code, const char **s, bool name) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    if (errors[i].code == code) {
      *s = name ? errors[i].name : errors[i].text;
      return OK;
    }
  *s = NULL;
  return INVALID_VALUE;
}

EXPORT int cuGetErrorName(int code, const char **s) {
  return error_lookup(code, s, true);
}
EXPORT int cuGetErrorString(int code, const char **s) {
  return error_lookup(code, s, false);
}
