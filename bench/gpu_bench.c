/* gpu_bench: what a kernel launch costs through wasi:cuda compared with the
 * same launch made from C against the driver.
 *
 * The kernel is vec_add from examples/gpu/kernels.ptx on N floats (default
 * 1024, small so the launch path dominates).  Three ways, each launch
 * followed by waiting for it, timed one by one:
 *   native        cuLaunchKernel + cuStreamSynchronize on device buffers
 *   wasi buffers  the guest's wasi_cuda_launch on device buffers (tag 0x08)
 *   wasi memory   the same on the guest's linear memory (tag 0x07; mapped
 *                 for the device once, then reused)
 * The guest side is the test shim (tests/gpu/guests/shim.wat) called with
 * tw_func_call, so its numbers include one wasm call from the host.
 *
 * Uses the real driver (libcuda.so.1) unless TW_CUDA_LIBRARY names
 * another; with the fake driver of the tests it runs the same code paths
 * on the CPU, which proves the harness but measures nothing about GPUs.
 * Prints "SKIPPED: <reason>" and exits 0 when there is no driver.
 *
 *   gpu_bench [N] [ITERATIONS]          (defaults 1024 and 2000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/gpu_int.h"
#include "tensorwasm/cuda.h"
#include "tensorwasm/wasm.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Prints p50/p99/mean of `ns` (sorted in place); returns the p50. */
static double report(const char *what, uint64_t *ns, size_t n) {
  qsort(ns, n, sizeof *ns, cmp_u64);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)ns[i];
  double p50 = (double)ns[n / 2] / 1e3;
  printf("%-14s p50 %8.2f us   p99 %8.2f us   mean %8.2f us\n", what, p50,
         (double)ns[n * 99 / 100] / 1e3, sum / (double)n / 1e3);
  return p50;
}

/* ---- native ------------------------------------------------------------------ */

static int native(const tw__cu_api *cu, const char *ptx, unsigned n,
                  size_t iters, uint64_t *ns) {
  char why[TW__CUDA_WHY_MAX];
  if (!tw__cuda_device_open(cu, 0, why, sizeof why)) {
    printf("SKIPPED: %s\n", why);
    return 1;
  }
  void *stream = NULL, *module = NULL, *func = NULL;
  tw__cu_devptr d[3] = {0, 0, 0};
  int r = cu->StreamCreate(&stream, TW__CU_STREAM_NON_BLOCKING);
  if (!r) r = cu->ModuleLoadDataEx(&module, ptx, 0, NULL, NULL);
  if (!r) r = cu->ModuleGetFunction(&func, module, "vec_add");
  for (int i = 0; i < 3 && !r; i++) r = cu->MemAlloc(&d[i], (size_t)n * 4);
  void *params[4] = {&d[0], &d[1], &d[2], &n};
  unsigned grid = (n + 255) / 256;
  for (size_t i = 0; i < iters + 100 && !r; i++) {
    uint64_t t0 = now_ns();
    r = cu->LaunchKernel(func, grid, 1, 1, 256, 1, 1, 0, stream, params, NULL);
    if (!r) r = cu->StreamSynchronize(stream);
    if (i >= 100) ns[i - 100] = now_ns() - t0; /* after 100 warm-ups */
  }
  if (r) {
    tw__cuda_result_text(cu, r, why, sizeof why);
    printf("native: driver error %s\n", why);
  }
  for (int i = 0; i < 3; i++)
    if (d[i]) cu->MemFree(d[i]);
  if (module) cu->ModuleUnload(module);
  if (stream) cu->StreamDestroy(stream);
  return r ? 2 : 0;
}

/* ---- through wasi:cuda ---------------------------------------------------------- */

typedef struct guest {
  tw_engine_t *engine;
  tw_module_t *module;
  tw_store_t *store;
  tw_instance_t *inst;
  tw_cuda_t *cuda;
  tw_func_t *load, *launch, *malloc_, *htod;
  uint8_t *mem;
} guest;

static tw_func_t *export_fn(guest *g, const char *name) {
  tw_extern ex;
  return tw_instance_export(g->inst, name, strlen(name), &ex) == TW_OK
             ? ex.of.func
             : NULL;
}

static bool guest_open(guest *g, tw_error *err) {
  size_t len = 0;
  uint8_t *bytes = read_all(TW_BUILD_DIR "/tests/gpu/shim.wasm", &len);
  tw_cuda_config cfg = {.enabled = true, .instance_id = 1};
  tw_extern imports[16];
  bool ok = bytes && tw_engine_new(NULL, &g->engine, err) == TW_OK &&
            tw_module_new(g->engine, bytes, len, &g->module, err) == TW_OK &&
            tw_store_new(g->engine, &g->store, err) == TW_OK &&
            tw_cuda_new(&cfg, &g->cuda, err) == TW_OK;
  free(bytes);
  size_t n = ok ? tw_module_import_count(g->module) : 0;
  for (size_t i = 0; ok && i < n && i < 16; i++)
    ok = tw_cuda_resolve_import(g->cuda, g->store, g->module, i, &imports[i],
                                err) == TW_OK;
  ok = ok && tw_instance_new(g->store, g->module, imports, n, &g->inst,
                             err) == TW_OK;
  if (!ok) return false;
  g->mem = tw_memory_data(tw_instance_memory(g->inst));
  g->load = export_fn(g, "load_ptx");
  g->launch = export_fn(g, "launch");
  g->malloc_ = export_fn(g, "malloc");
  return g->load && g->launch && g->malloc_;
}

static int64_t call(guest *g, tw_func_t *f, const tw_val *args, size_t n) {
  tw_val res[1];
  tw_error err;
  if (tw_func_call(g->store, f, args, n, res, 1, &err) != TW_OK) return -100;
  return res[0].type == TW_I64 ? res[0].of.i64 : res[0].of.i32;
}

/* Argument list at `at`: three pointers (tag 7) or three handles (tag 8),
 * then n.  Returns its length. */
static uint32_t put_args(uint8_t *p, const uint64_t v[3], uint8_t tag,
                         uint32_t n) {
  uint32_t len = 0;
  for (int i = 0; i < 3; i++) {
    p[len++] = tag;
    for (int b = 0; b < 8; b++) p[len++] = (uint8_t)(v[i] >> (8 * b));
  }
  p[len++] = TW_CUDA_ARG_U32;
  for (int b = 0; b < 4; b++) p[len++] = (uint8_t)(n >> (8 * b));
  return len;
}

static int through_wasi(guest *g, int64_t kernel, uint32_t argp,
                        uint32_t argl, unsigned n, size_t iters,
                        uint64_t *ns) {
  tw_val a[10] = {tw_val_i64(kernel), tw_val_i32((int32_t)((n + 255) / 256)),
                  tw_val_i32(1),      tw_val_i32(1),
                  tw_val_i32(256),    tw_val_i32(1),
                  tw_val_i32(1),      tw_val_i32(0),
                  tw_val_i32((int32_t)argp), tw_val_i32((int32_t)argl)};
  for (size_t i = 0; i < iters + 100; i++) {
    uint64_t t0 = now_ns();
    int64_t r = call(g, g->launch, a, 10);
    if (i >= 100) ns[i - 100] = now_ns() - t0;
    if (r) {
      printf("wasi_cuda_launch returned %lld (%s): %s\n", (long long)r,
             tw_cuda_code_name((int32_t)r), tw_cuda_last_error(g->cuda));
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1024;
  size_t iters = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
  if (!n || n > 16384 || !iters) {
    fprintf(stderr, "usage: gpu_bench [N (1..16384)] [ITERATIONS]\n");
    return 64;
  }
  char why[TW__CUDA_WHY_MAX];
  const tw__cu_api *cu = tw__cuda_driver(NULL, why, sizeof why);
  if (!cu) {
    printf("SKIPPED: %s\n", why);
    return 0;
  }
  int version = 0;
  cu->DriverGetVersion(&version);
  const char *lib = getenv(TW_CUDA_LIBRARY_ENV);
  printf("gpu_bench: vec_add n=%u, %zu launches each, driver %d.%d (%s)\n", n,
         iters, version / 1000, version % 1000 / 10,
         lib && *lib ? lib : TW_CUDA_DEFAULT_LIBRARY);
  size_t ptx_len = 0;
  char *ptx = (char *)read_all(TW_SOURCE_DIR "/examples/gpu/kernels.ptx",
                               &ptx_len);
  uint64_t *ns = malloc(iters * sizeof *ns);
  if (!ptx || !ns) {
    fprintf(stderr, "gpu_bench: cannot read kernels.ptx\n");
    return 1;
  }
  int rc = native(cu, ptx, n, iters, ns);
  if (rc == 1) return 0;
  if (rc) return rc;
  double p_native = report("native", ns, iters);

  guest g = {0};
  tw_error err;
  if (!guest_open(&g, &err)) {
    fprintf(stderr, "gpu_bench: guest: %s\n", err.message);
    return 1;
  }
  enum { AT_ENTRY = 0x100, AT_ARGS = 0x1000, AT_DATA = 0x4000,
         AT_PTX = 0x20000 };
  memcpy(g.mem + AT_PTX, ptx, ptx_len);
  memcpy(g.mem + AT_ENTRY, "vec_add", 7);
  tw_val la[4] = {tw_val_i32(AT_PTX), tw_val_i32((int32_t)ptx_len),
                  tw_val_i32(AT_ENTRY), tw_val_i32(7)};
  int64_t kernel = call(&g, g.load, la, 4);
  uint64_t h[3];
  for (int i = 0; i < 3; i++) {
    tw_val m[1] = {tw_val_i64((int64_t)n * 4)};
    h[i] = (uint64_t)call(&g, g.malloc_, m, 1);
  }
  if (kernel < 0 || (int64_t)h[2] < 0) {
    printf("setup failed: %s\n", tw_cuda_last_error(g.cuda));
    return 2;
  }
  uint32_t argl = put_args(g.mem + AT_ARGS, h, TW_CUDA_ARG_BUFFER, n);
  if ((rc = through_wasi(&g, kernel, AT_ARGS, argl, n, iters, ns))) return rc;
  double p_buf = report("wasi buffers", ns, iters);
  uint64_t bytes = (uint64_t)n * 4;
  uint64_t ptrs[3];
  for (int i = 0; i < 3; i++)
    ptrs[i] = bytes << 32 | (AT_DATA + (uint64_t)i * bytes);
  argl = put_args(g.mem + AT_ARGS, ptrs, TW_CUDA_ARG_PTR, n);
  if ((rc = through_wasi(&g, kernel, AT_ARGS, argl, n, iters, ns))) return rc;
  double p_mem = report("wasi memory", ns, iters);
  printf("overhead (p50): buffers %+.2f us (%.2fx), memory %+.2f us (%.2fx)\n",
         p_buf - p_native, p_buf / p_native, p_mem - p_native,
         p_mem / p_native);
  tw_cuda_release(g.cuda);
  tw_store_free(g.store);
  tw_module_free(g.module);
  tw_engine_free(g.engine);
  free(ns);
  free(ptx);
  return 0;
}
