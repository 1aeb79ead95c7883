/* Example guest (wasm32-wasi): vector addition and matrix multiplication on
 * the GPU through wasi:cuda, each checked against the same computation on
 * the CPU, with a CPU fallback when the GPU cannot be used (no capability,
 * no driver, no device).
 *
 *  - vec_add reads and writes the guest's own linear memory: its arguments
 *    are pointer records (tag 0x07, offset + length), which the host maps
 *    for the device.
 *  - matmul uses device buffers (tensorwasm:cuda/buffers): copy in, launch
 *    with buffer records (tag 0x08), copy out; the guest only sees handles.
 *
 * Prints one line per computation ("gpu ok", "cpu ok (...)" or "MISMATCH")
 * and exits 0 when every result is right.  With --require-gpu a fallback
 * is an error (exit 2), for checks that must exercise the device.
 *
 * The PTX comes from examples/gpu/kernels.cu (kernels.ptx, embedded at
 * build time as kernels_ptx.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_ptx.h"

#define CUDA(name) \
  __attribute__((import_module("wasi:cuda/host@0.2.0"), import_name(name)))
#define BUF(name)                                                    \
  __attribute__((import_module("tensorwasm:cuda/buffers@0.1.0"),     \
                 import_name(name)))

CUDA("wasi_cuda_load_ptx")
int64_t cuda_load_ptx(const void *ptx, uint32_t ptx_len, const char *entry,
                      uint32_t entry_len);
CUDA("wasi_cuda_launch")
int32_t cuda_launch(int64_t kernel, int32_t gx, int32_t gy, int32_t gz,
                    int32_t bx, int32_t by, int32_t bz, int32_t shared_mem,
                    const void *args, uint32_t args_len);
CUDA("wasi_cuda_sync") int32_t cuda_sync(void);
CUDA("wasi_cuda_last_error_len") int32_t cuda_last_error_len(void);
CUDA("wasi_cuda_last_error_copy")
int32_t cuda_last_error_copy(char *dst, uint32_t dst_len);
BUF("malloc") int64_t buf_malloc(int64_t bytes);
BUF("free") int32_t buf_free(int64_t handle);
BUF("memcpy_htod")
int32_t buf_htod(int64_t handle, int64_t offset, const void *src,
                 uint32_t len);
BUF("memcpy_dtoh")
int32_t buf_dtoh(int64_t handle, int64_t offset, void *dst, uint32_t len);

#define VEC_N 4096
#define MAT_N 64

static float va[VEC_N], vb[VEC_N], vc[VEC_N], vref[VEC_N];
static float ma[MAT_N * MAT_N], mb[MAT_N * MAT_N], mc[MAT_N * MAT_N],
    mref[MAT_N * MAT_N];
static char why[640]; /* why the GPU was not used */

static const char *code_name(int64_t code) {
  static const char *const names[] = {
      "NotAvailable", "InvalidPointer", "InvalidKernel",
      "MalformedPtx", "LaunchFailed", "QuotaExceeded",
      "Internal", "InvalidDimensions", "InvalidArgs",
      "KernelArgsUnsupported"};
  return code <= -1 && code >= -10 ? names[-code - 1] : "Unknown";
}

/* Records why a call failed: the code's name and the host's message. */
static void note_failure(const char *what, int64_t code) {
  char msg[520] = "";
  int32_t n = cuda_last_error_len();
  if (n > 0) {
    int32_t got = cuda_last_error_copy(msg, sizeof msg - 1);
    msg[got > 0 ? got : 0] = 0;
  }
  snprintf(why, sizeof why, "%s: %s%s%s", what, code_name(code),
           msg[0] ? ": " : "", msg);
}

/* ---- the launch argument list ---------------------------------------------- */

typedef struct argv {
  uint8_t bytes[64];
  uint32_t len;
} argv;

static void arg_raw(argv *a, uint8_t tag, const void *v, uint32_t n) {
  a->bytes[a->len++] = tag;
  memcpy(a->bytes + a->len, v, n); /* wasm32 is little-endian */
  a->len += n;
}
static void arg_ptr(argv *a, const void *p, uint32_t len) {
  uint32_t v[2] = {(uint32_t)(uintptr_t)p, len};
  arg_raw(a, 0x07, v, 8);
}
static void arg_buffer(argv *a, int64_t handle) { arg_raw(a, 0x08, &handle, 8); }
static void arg_u32(argv *a, uint32_t v) { arg_raw(a, 0x05, &v, 4); }

/* ---- the CPU side ------------------------------------------------------------ */

static void cpu_vec_add(const float *a, const float *b, float *c, unsigned n) {
  for (unsigned i = 0; i < n; i++) c[i] = a[i] + b[i];
}

static void cpu_matmul(const float *a, const float *b, float *c, unsigned n) {
  for (unsigned r = 0; r < n; r++)
    for (unsigned col = 0; col < n; col++) {
      float acc = 0.0f;
      for (unsigned k = 0; k < n; k++) acc += a[r * n + k] * b[k * n + col];
      c[r * n + col] = acc;
    }
}

/* Relative tolerance: the device may fuse multiply-adds. */
static int same(const float *x, const float *y, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    float d = x[i] - y[i], m = y[i] < 0 ? -y[i] : y[i];
    if ((d < 0 ? -d : d) > 1e-4f * (m > 1.0f ? m : 1.0f)) return 0;
  }
  return 1;
}

/* ---- the GPU side --------------------------------------------------------------- */

static int64_t load(const char *entry) {
  /* The embedded text ends with a NUL, which the host accepts. */
  int64_t k = cuda_load_ptx(kernels_ptx, sizeof kernels_ptx, entry,
                            (uint32_t)strlen(entry));
  if (k < 0) note_failure("load_ptx", k);
  return k;
}

static int gpu_vec_add(void) {
  int64_t k = load("vec_add");
  if (k < 0) return 0;
  argv a = {.len = 0};
  arg_ptr(&a, va, sizeof va);
  arg_ptr(&a, vb, sizeof vb);
  arg_ptr(&a, vc, sizeof vc);
  arg_u32(&a, VEC_N);
  int32_t r = cuda_launch(k, (VEC_N + 255) / 256, 1, 1, 256, 1, 1, 0, a.bytes,
                          a.len);
  if (r == 0) r = cuda_sync();
  if (r < 0) note_failure("launch vec_add", r);
  return r == 0;
}

static int gpu_matmul(void) {
  const uint32_t bytes = sizeof ma;
  int64_t k = load("matmul"), h[3] = {-1, -1, -1};
  int ok = 0;
  int64_t r = k;
  for (int i = 0; i < 3 && r >= 0; i++)
    if ((r = h[i] = buf_malloc(bytes)) < 0) note_failure("malloc", r);
  if (r >= 0 && ((r = buf_htod(h[0], 0, ma, bytes)) < 0 ||
                 (r = buf_htod(h[1], 0, mb, bytes)) < 0))
    note_failure("memcpy_htod", r);
  if (r >= 0) {
    argv a = {.len = 0};
    arg_buffer(&a, h[0]);
    arg_buffer(&a, h[1]);
    arg_buffer(&a, h[2]);
    arg_u32(&a, MAT_N);
    r = cuda_launch(k, MAT_N / 16, MAT_N / 16, 1, 16, 16, 1, 0, a.bytes, a.len);
    if (r < 0) note_failure("launch matmul", r);
  }
  if (r >= 0 && (r = buf_dtoh(h[2], 0, mc, bytes)) < 0)
    note_failure("memcpy_dtoh", r);
  ok = r >= 0;
  for (int i = 0; i < 3; i++)
    if (h[i] >= 0) buf_free(h[i]);
  return ok;
}

/* Prints the outcome of one computation; returns 0 when it is right. */
static int report(const char *what, int on_gpu, const float *got,
                  const float *want, unsigned n, int require_gpu) {
  if (!same(got, want, n)) {
    printf("%s: MISMATCH (%s)\n", what, on_gpu ? "gpu" : "cpu");
    return 1;
  }
  if (on_gpu) {
    printf("%s: gpu ok\n", what);
    return 0;
  }
  printf("%s: cpu ok (fallback; %s)\n", what, why);
  return require_gpu ? 2 : 0;
}

int main(int argc, char **argv_) {
  int require_gpu = argc > 1 && strcmp(argv_[1], "--require-gpu") == 0;
  for (unsigned i = 0; i < VEC_N; i++) {
    va[i] = (float)i * 0.5f;
    vb[i] = (float)(VEC_N - i) * 0.25f;
  }
  for (unsigned i = 0; i < MAT_N * MAT_N; i++) {
    ma[i] = (float)(i % 7) - 3.0f;
    mb[i] = (float)(i % 5) * 0.5f;
  }
  cpu_vec_add(va, vb, vref, VEC_N);
  cpu_matmul(ma, mb, mref, MAT_N);

  int on_gpu = gpu_vec_add();
  if (!on_gpu) cpu_vec_add(va, vb, vc, VEC_N);
  int rc = report("vec_add n=4096", on_gpu, vc, vref, VEC_N, require_gpu);

  why[0] = 0;
  on_gpu = gpu_matmul();
  if (!on_gpu) cpu_matmul(ma, mb, mc, MAT_N);
  int rc2 = report("matmul 64x64", on_gpu, mc, mref, MAT_N * MAT_N,
                   require_gpu);
  return rc > rc2 ? rc : rc2;
}
