/* wasi:cuda against whatever driver TW_CUDA_LIBRARY (or libcuda.so.1) gives:
 * ctest runs it on the fake driver; scripts/gpu-check runs it on a real
 * GPU, where it is the device test.  It uses only the example PTX and what
 * any driver shows (results, codes, usage), never the fake's counters.
 * Without a usable device it exits 77 (skipped). */
#include <math.h>

#include "gpu_util.h"
#include "test.h"

static tw_cuda_config granted(uint64_t tenant) {
  return (tw_cuda_config){.enabled = true, .tenant_id = tenant,
                          .instance_id = tenant};
}

static float *fl(shim *s, uint32_t at) { return (float *)(shim_mem(s) + at); }

static int64_t load_kernel(shim *s, const char *entry) {
  size_t len;
  const char *ptx = kernels_ptx(&len);
  return ptx ? cu_load_text(s, ptx, len, entry) : -100;
}

/* Grows the shim to `pages` and returns where free space starts. */
static uint32_t grow_to(shim *s, uint32_t pages) {
  tw_val g[1] = {I32(pages - SHIM_PAGES)};
  return shim_call(s, "grow", g, 1) == SHIM_PAGES ? SHIM_PAGES * 65536 : 0;
}

TEST(vector_add_one_million_in_linear_memory) {
  tw_cuda_config cfg = granted(6001);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  if (k < 0) TW__FAIL("load_ptx %lld: %s", (long long)k, cu_error_text(&s));
  enum { N = 1 << 20 };
  uint32_t a = grow_to(&s, SHIM_PAGES + 3 * N * 4 / 65536);
  ASSERT(a);
  uint32_t b = a + 4 * N, c = b + 4 * N;
  for (uint32_t i = 0; i < N; i++) {
    fl(&s, a)[i] = (float)i;
    fl(&s, b)[i] = 1.0f - (float)i;
    fl(&s, c)[i] = 0.0f;
  }
  argb args = {.len = 0};
  argb_ptr(&args, a, 4 * N);
  argb_ptr(&args, b, 4 * N);
  argb_ptr(&args, c, 4 * N);
  argb_u32(&args, N);
  int64_t r = cu_launch_args(&s, k, N / 256, 1, 256, 1, &args);
  if (r) TW__FAIL("launch %lld: %s", (long long)r, cu_error_text(&s));
  ASSERT_EQ_INT(cu_sync(&s), 0);
  for (uint32_t i = 0; i < N; i++)
    if (fl(&s, c)[i] != 1.0f) TW__FAIL("c[%u] = %g", i, fl(&s, c)[i]);
  shim_close(&s);
}

TEST(matrix_multiply_in_buffers) {
  tw_cuda_config cfg = granted(6002);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "matmul");
  ASSERT(k >= 0);
  enum { N = 128 };
  uint32_t A = grow_to(&s, SHIM_PAGES + 4), B = A + 4 * N * N, C = B + 4 * N * N;
  ASSERT(A);
  for (int i = 0; i < N * N; i++) {
    fl(&s, A)[i] = (float)(i % 13) * 0.25f - 1.0f;
    fl(&s, B)[i] = (float)(i % 7) * 0.5f;
  }
  int64_t h[3];
  for (int i = 0; i < 3; i++) {
    h[i] = cu_malloc(&s, 4 * N * N);
    if (h[i] <= 0) TW__FAIL("malloc: %s", cu_error_text(&s));
  }
  ASSERT_EQ_INT(cu_copy(&s, true, h[0], 0, A, 4 * N * N), 0);
  ASSERT_EQ_INT(cu_copy(&s, true, h[1], 0, B, 4 * N * N), 0);
  argb args = {.len = 0};
  for (int i = 0; i < 3; i++) argb_buffer(&args, h[i]);
  argb_u32(&args, N);
  int64_t r = cu_launch_args(&s, k, N / 16, N / 16, 16, 16, &args);
  if (r) TW__FAIL("launch %lld: %s", (long long)r, cu_error_text(&s));
  ASSERT_EQ_INT(cu_copy(&s, false, h[2], 0, C, 4 * N * N), 0);
  for (int row = 0; row < N; row++)
    for (int col = 0; col < N; col++) {
      float want = 0.0f;
      for (int i = 0; i < N; i++)
        want += fl(&s, A)[row * N + i] * fl(&s, B)[i * N + col];
      float got = fl(&s, C)[row * N + col];
      if (fabsf(got - want) > 1e-3f * fmaxf(1.0f, fabsf(want)))
        TW__FAIL("C[%d][%d] = %g, want %g", row, col, got, want);
    }
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(cu_free(&s, h[i]), 0);
  shim_close(&s);
}

TEST(grow_between_launches_and_foreign_ids) {
  tw_cuda_config ca = granted(6003), cb = granted(6004);
  shim a, b;
  ASSERT(shim_open(&a, &ca));
  ASSERT(shim_open(&b, &cb));
  int64_t ka = load_kernel(&a, "vec_add"), kb = load_kernel(&b, "vec_add");
  ASSERT(ka >= 0 && kb >= 0);
  for (int round = 0; round < 3; round++) {
    uint32_t at = tw_memory_pages(a.mem) * 65536 - 3 * 4096;
    for (int i = 0; i < 1024; i++) {
      fl(&a, at)[i] = (float)i;
      fl(&a, at + 4096)[i] = (float)round;
    }
    argb args = {.len = 0};
    argb_ptr(&args, at, 4096);
    argb_ptr(&args, at + 4096, 4096);
    argb_ptr(&args, at + 8192, 4096);
    argb_u32(&args, 1024);
    ASSERT_EQ_INT(cu_launch_args(&a, ka, 4, 1, 256, 1, &args), 0);
    for (int i = 0; i < 1024; i++)
      if (fl(&a, at + 8192)[i] != (float)(i + round)) TW__FAIL("round %d", round);
    argb in_b = {.len = 0}; /* b's memory is smaller: its own ranges */
    argb_ptr(&in_b, AT_DATA, 4096);
    argb_ptr(&in_b, AT_DATA + 4096, 4096);
    argb_ptr(&in_b, AT_DATA + 8192, 4096);
    argb_u32(&in_b, 1024);
    ASSERT_EQ_INT(cu_launch_args(&b, ka, 4, 1, 256, 1, &in_b), -3);
    ASSERT_EQ_INT(cu_launch_args(&b, kb, 4, 1, 256, 1, &in_b), 0);
    tw_val g[1] = {I32(1)};
    ASSERT(shim_call(&a, "grow", g, 1) > 0);
  }
  tw_cuda_usage u;
  tw_cuda_usage_get(a.cuda, &u);
  ASSERT_EQ_INT(u.registrations, 3);
  shim_close(&a);
  shim_close(&b);
}

TEST(many_instances_come_and_go) {
  for (int i = 0; i < 32; i++) {
    tw_cuda_config cfg = granted(6100 + (uint64_t)i);
    shim s;
    ASSERT(shim_open(&s, &cfg));
    int64_t k = load_kernel(&s, "vec_add");
    ASSERT(k >= 0);
    ASSERT(cu_malloc(&s, 1 << 20) > 0);
    argb args = {.len = 0};
    argb_ptr(&args, AT_DATA, 1024);
    argb_ptr(&args, AT_DATA, 1024);
    argb_ptr(&args, AT_DATA + 1024, 1024);
    argb_u32(&args, 256);
    ASSERT_EQ_INT(cu_launch_args(&s, k, 1, 1, 256, 1, &args), 0);
    char tenant[16];
    snprintf(tenant, sizeof tenant, "%d", 6100 + i);
    ASSERT_EQ_INT(gpu_bytes_of(tenant), 1 << 20);
    shim_close(&s);
    ASSERT_EQ_INT(gpu_bytes_of(tenant), 0);
  }
}

/* Skips the whole file (exit 77) when no device is usable here. */
__attribute__((constructor)) static void need_device(void) {
  tw_error err;
  if (tw_cuda_probe(NULL, 0, &err) != TW_OK) {
    printf("skipped: %s\n", err.message);
    exit(77);
  }
}

TEST_MAIN()
