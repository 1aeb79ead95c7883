/* wasi:cuda end to end on the fake driver (tests/gpu/fake_cuda.c): a guest
 * loads the example PTX, launches vector add and matrix multiply on its own
 * linear memory and on device buffers and finds the right results; kernel
 * ids and buffer handles are scoped to their instance; memory.grow
 * re-registers; release frees every device resource (after a trap too);
 * argument lists reach the kernel bit for bit; driver errors become the
 * right codes; quotas; interrupt; spans and metrics. */
#include <math.h>
#include <time.h>

#include "gpu_util.h"
#include "test.h"

static tw_cuda_config granted(uint64_t tenant) {
  return (tw_cuda_config){.enabled = true, .tenant_id = tenant,
                          .instance_id = tenant * 10};
}

static int64_t load_kernel(shim *s, const char *entry) {
  size_t len;
  const char *ptx = kernels_ptx(&len);
  return ptx ? cu_load_text(s, ptx, len, entry) : -100;
}

static float *fl(shim *s, uint32_t at) { return (float *)(shim_mem(s) + at); }

/* a = i, b = 2i at AT_DATA; c after them. */
static void vec_fill(shim *s, uint32_t at, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    fl(s, at)[i] = (float)i;
    fl(s, at + 4 * n)[i] = (float)(2 * i);
    fl(s, at + 8 * n)[i] = -1.0f;
  }
}

static bool vec_ok(shim *s, uint32_t at, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (fl(s, at + 8 * n)[i] != (float)(3 * i)) return false;
  return true;
}

static int64_t vec_launch(shim *s, int64_t k, uint32_t at, unsigned n) {
  argb a = {.len = 0};
  argb_ptr(&a, at, 4 * n);
  argb_ptr(&a, at + 4 * n, 4 * n);
  argb_ptr(&a, at + 8 * n, 4 * n);
  argb_u32(&a, n);
  return cu_launch_args(s, k, (int32_t)((n + 255) / 256), 1, 256, 1, &a);
}

TEST(vector_add_in_linear_memory) {
  fake_cuda_counters *fc = fake();
  ASSERT(fc != NULL);
  tw_cuda_config cfg = granted(7001);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  uint64_t lat0 = tw_histogram_count(tw_metrics_std()->kernel_latency_seconds);
  int regs0 = fc->registrations;
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  vec_fill(&s, AT_DATA, 1000);
  ASSERT_EQ_INT(vec_launch(&s, k, AT_DATA, 1000), 0);
  ASSERT(vec_ok(&s, AT_DATA, 1000));
  ASSERT_EQ_INT(cu_sync(&s), 0);
  ASSERT_EQ_INT(fc->registrations, regs0 + 1);
  ASSERT_EQ_U64(fc->registered_bytes, SHIM_PAGES * 65536);
  /* Same memory size: no second registration. */
  vec_fill(&s, AT_DATA, 1000);
  ASSERT_EQ_INT(vec_launch(&s, k, AT_DATA, 1000), 0);
  ASSERT(vec_ok(&s, AT_DATA, 1000));
  ASSERT_EQ_INT(fc->registrations, regs0 + 1);
  tw_cuda_usage u;
  tw_cuda_usage_get(s.cuda, &u);
  ASSERT_EQ_INT(u.kernels, 1);
  ASSERT_EQ_INT(u.launches, 2);
  ASSERT_EQ_INT(u.registrations, 1);
  ASSERT_EQ_U64(u.pinned_bytes, SHIM_PAGES * 65536);
  ASSERT_EQ_INT(dispatches_of("7001"), 2);
  ASSERT_EQ_INT(
      tw_histogram_count(tw_metrics_std()->kernel_latency_seconds) - lat0, 2);
  ASSERT_EQ_INT(cu_error_len(&s), 0);
  shim_close(&s);
}

TEST(matrix_multiply_in_linear_memory) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7002);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "matmul");
  ASSERT(k >= 0);
  enum { N = 32 };
  uint32_t A = AT_DATA, B = A + 4 * N * N, C = B + 4 * N * N;
  for (int i = 0; i < N * N; i++) {
    fl(&s, A)[i] = (float)(i % 5) - 2.0f;
    fl(&s, B)[i] = (float)(i % 3) * 0.5f;
  }
  argb a = {.len = 0};
  argb_ptr(&a, A, 4 * N * N);
  argb_ptr(&a, B, 4 * N * N);
  argb_ptr(&a, C, 4 * N * N);
  argb_u32(&a, N);
  ASSERT_EQ_INT(cu_launch_args(&s, k, N / 16, N / 16, 16, 16, &a), 0);
  for (int r = 0; r < N; r++)
    for (int c = 0; c < N; c++) {
      float want = 0.0f;
      for (int i = 0; i < N; i++)
        want += fl(&s, A)[r * N + i] * fl(&s, B)[i * N + c];
      if (fabsf(fl(&s, C)[r * N + c] - want) > 1e-4f)
        TW__FAIL("C[%d][%d] = %g, want %g", r, c, fl(&s, C)[r * N + c], want);
    }
  shim_close(&s);
}

TEST(device_buffers) {
  fake_cuda_counters *fc = fake();
  ASSERT(fc != NULL);
  tw_cuda_config cfg = granted(7003);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int memsets0 = fc->memsets;
  int64_t h = cu_malloc(&s, 4096);
  ASSERT(h > 0);
  ASSERT_EQ_INT(fc->memsets, memsets0 + 1);
  ASSERT_EQ_INT(gpu_bytes_of("7003"), 4096);
  ASSERT_EQ_INT(gpu_bytes_per_tenant("7003"), 4096);
  /* Fresh buffers read as zeros (the fake driver hands out 0xAB). */
  memset(shim_mem(&s) + AT_DATA, 0x55, 4096);
  ASSERT_EQ_INT(cu_copy(&s, false, h, 0, AT_DATA, 4096), 0);
  for (int i = 0; i < 4096; i++)
    if (shim_mem(&s)[AT_DATA + i]) TW__FAIL("byte %d not zero", i);
  /* Round trip, whole and at an offset. */
  for (int i = 0; i < 4096; i++) shim_mem(&s)[AT_DATA + i] = (uint8_t)i;
  ASSERT_EQ_INT(cu_copy(&s, true, h, 0, AT_DATA, 4096), 0);
  ASSERT_EQ_INT(cu_copy(&s, false, h, 100, AT_DATA + 8192, 50), 0);
  ASSERT(memcmp(shim_mem(&s) + AT_DATA + 8192, shim_mem(&s) + AT_DATA + 100,
                50) == 0);
  ASSERT_EQ_INT(cu_copy(&s, true, h, 4096, AT_DATA, 0), 0); /* empty, at end */
  /* Bounds: the buffer's and the guest's. */
  ASSERT_EQ_INT(cu_copy(&s, true, h, 4090, AT_DATA, 8), -2);
  ASSERT_CONTAINS(cu_error_text(&s), "outside the buffer");
  ASSERT_EQ_INT(cu_copy(&s, false, h, -1, AT_DATA, 8), -2);
  ASSERT_EQ_INT(cu_copy(&s, false, h, INT64_MAX, AT_DATA, 8), -2);
  ASSERT_EQ_INT(cu_copy(&s, false, h, 0, SHIM_PAGES * 65536 - 4, 8), -2);
  ASSERT_CONTAINS(cu_error_text(&s), "outside linear memory");
  ASSERT_EQ_INT(cu_free(&s, h), 0);
  ASSERT_EQ_INT(gpu_bytes_of("7003"), 0);
  ASSERT_EQ_INT(gpu_bytes_per_tenant("7003"), 0);
  /* A freed handle is dead, and stays dead when its slot is reused. */
  ASSERT_EQ_INT(cu_free(&s, h), -2);
  ASSERT_EQ_INT(cu_copy(&s, true, h, 0, AT_DATA, 4), -2);
  int64_t h2 = cu_malloc(&s, 64);
  ASSERT(h2 > 0 && h2 != h);
  ASSERT_EQ_INT(cu_copy(&s, true, h, 0, AT_DATA, 4), -2);
  ASSERT_EQ_INT(cu_free(&s, h2), 0);
  shim_close(&s);
}

TEST(buffers_as_kernel_arguments) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7004);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  enum { N = 512 };
  vec_fill(&s, AT_DATA, N);
  int64_t h[3];
  for (int i = 0; i < 3; i++) {
    h[i] = cu_malloc(&s, 4 * N);
    ASSERT(h[i] > 0);
  }
  ASSERT_EQ_INT(cu_copy(&s, true, h[0], 0, AT_DATA, 4 * N), 0);
  ASSERT_EQ_INT(cu_copy(&s, true, h[1], 0, AT_DATA + 4 * N, 4 * N), 0);
  argb a = {.len = 0};
  for (int i = 0; i < 3; i++) argb_buffer(&a, h[i]);
  argb_u32(&a, N);
  ASSERT_EQ_INT(cu_launch_args(&s, k, 2, 1, 256, 1, &a), 0);
  ASSERT_EQ_INT(cu_copy(&s, false, h[2], 0, AT_DATA + 8 * N, 4 * N), 0);
  ASSERT(vec_ok(&s, AT_DATA, N));
  /* No linear memory was registered: only buffers were used. */
  tw_cuda_usage u;
  tw_cuda_usage_get(s.cuda, &u);
  ASSERT_EQ_INT(u.registrations, 0);
  /* A dead handle in a launch. */
  ASSERT_EQ_INT(cu_free(&s, h[0]), 0);
  ASSERT_EQ_INT(cu_launch_args(&s, k, 2, 1, 256, 1, &a), -2);
  ASSERT_CONTAINS(cu_error_text(&s), "no device buffer");
  shim_close(&s);
}

TEST(buffer_quotas) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7005);
  cfg.max_device_bytes = 8192;
  cfg.max_buffers = 2;
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t a = cu_malloc(&s, 8192);
  ASSERT(a > 0);
  ASSERT_EQ_INT(cu_malloc(&s, 1), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "device memory limit");
  ASSERT_EQ_INT(cu_free(&s, a), 0);
  ASSERT(cu_malloc(&s, 10) > 0);
  ASSERT(cu_malloc(&s, 10) > 0);
  ASSERT_EQ_INT(cu_malloc(&s, 10), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "buffers live");
  ASSERT_EQ_INT(gpu_bytes_of("7005"), 20);
  shim_close(&s);
  ASSERT_EQ_INT(gpu_bytes_of("7005"), 0);
}

TEST(kernel_ids_and_handles_are_scoped_to_their_instance) {
  ASSERT(fake() != NULL);
  tw_cuda_config ca = granted(7006), cb = granted(7007);
  shim a, b;
  ASSERT(shim_open(&a, &ca));
  ASSERT(shim_open(&b, &cb));
  int64_t ka = load_kernel(&a, "vec_add"), kb = load_kernel(&b, "vec_add");
  ASSERT(ka >= 0 && kb >= 0 && ka != kb);
  vec_fill(&b, AT_DATA, 256);
  /* A's id in B. */
  ASSERT_EQ_INT(vec_launch(&b, ka, AT_DATA, 256), -3);
  ASSERT_CONTAINS(cu_error_text(&b), "no kernel");
  /* Made-up ids. */
  const int64_t forged[] = {0, 1, 255, 256, -1, INT64_MAX, INT64_MIN, kb + 1,
                            kb - 1, kb ^ 0x100, kb + 256, ka};
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
    if (vec_launch(&b, forged[i], AT_DATA, 256) != -3)
      TW__FAIL("forged id %lld accepted", (long long)forged[i]);
  /* B's own id works; A's works in A. */
  ASSERT_EQ_INT(vec_launch(&b, kb, AT_DATA, 256), 0);
  ASSERT(vec_ok(&b, AT_DATA, 256));
  vec_fill(&a, AT_DATA, 256);
  ASSERT_EQ_INT(vec_launch(&a, ka, AT_DATA, 256), 0);
  /* Buffer handles likewise. */
  int64_t ha = cu_malloc(&a, 64);
  ASSERT(ha > 0);
  ASSERT_EQ_INT(cu_free(&b, ha), -2);
  ASSERT_EQ_INT(cu_copy(&b, false, ha, 0, AT_DATA, 4), -2);
  argb args = {.len = 0};
  argb_buffer(&args, ha);
  argb_buffer(&args, ha);
  argb_buffer(&args, ha);
  argb_u32(&args, 4);
  ASSERT_EQ_INT(cu_launch_args(&b, kb, 1, 1, 4, 1, &args), -2);
  ASSERT_EQ_INT(cu_free(&a, ha), 0);
  shim_close(&a);
  shim_close(&b);
}

TEST(memory_grow_re_registers) {
  fake_cuda_counters *fc = fake();
  ASSERT(fc != NULL);
  tw_cuda_config cfg = granted(7008);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  vec_fill(&s, AT_DATA, 256);
  ASSERT_EQ_INT(vec_launch(&s, k, AT_DATA, 256), 0);
  int live0 = fc->live_registrations;
  tw_val g[1] = {I32(2)};
  ASSERT_EQ_INT(shim_call(&s, "grow", g, 1), SHIM_PAGES);
  /* Data in the new pages, unreachable before the grow. */
  uint32_t at = SHIM_PAGES * 65536 + 64;
  vec_fill(&s, at, 256);
  ASSERT_EQ_INT(vec_launch(&s, k, at, 256), 0);
  ASSERT(vec_ok(&s, at, 256));
  tw_cuda_usage u;
  tw_cuda_usage_get(s.cuda, &u);
  ASSERT_EQ_INT(u.registrations, 2);
  ASSERT_EQ_U64(u.pinned_bytes, (SHIM_PAGES + 2) * 65536);
  ASSERT_EQ_U64(fc->registered_bytes, (SHIM_PAGES + 2) * 65536);
  ASSERT_EQ_INT(fc->live_registrations, live0); /* the old one is gone */
  shim_close(&s);
}

TEST(pinned_memory_limit) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7009);
  cfg.max_pinned_bytes = 65536;
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  ASSERT_EQ_INT(vec_launch(&s, k, AT_DATA, 16), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "mapped for the device");
  shim_close(&s);
}

typedef struct live {
  int allocs, regs, modules, streams;
} live;

static live live_now(void) {
  fake_cuda_counters *fc = fake();
  return (live){fc->live_allocs, fc->live_registrations, fc->live_modules,
                fc->live_streams};
}

static bool live_same(live a, live b) {
  return a.allocs == b.allocs && a.regs == b.regs && a.modules == b.modules &&
         a.streams == b.streams;
}

TEST(release_frees_every_device_resource) {
  ASSERT(fake() != NULL);
  live before = live_now();
  tw_cuda_config cfg = granted(7010);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0 && load_kernel(&s, "matmul") >= 0);
  ASSERT(cu_malloc(&s, 1000) > 0 && cu_malloc(&s, 2000) > 0);
  vec_fill(&s, AT_DATA, 64);
  ASSERT_EQ_INT(vec_launch(&s, k, AT_DATA, 64), 0);
  live during = live_now();
  ASSERT_EQ_INT(during.allocs - before.allocs, 2);
  ASSERT_EQ_INT(during.regs - before.regs, 1);
  ASSERT_EQ_INT(during.modules - before.modules, 2);
  ASSERT_EQ_INT(during.streams - before.streams, 1);
  ASSERT_EQ_INT(gpu_bytes_of("7010"), 3000);
  shim_close(&s);
  ASSERT(live_same(live_now(), before));
  ASSERT_EQ_INT(gpu_bytes_of("7010"), 0);
  ASSERT_EQ_INT(gpu_bytes_per_tenant("7010"), 0);
}

TEST(release_after_a_trap) {
  ASSERT(fake() != NULL);
  live before = live_now();
  tw_cuda_config cfg = granted(7011);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  ASSERT(cu_malloc(&s, 512) > 0);
  vec_fill(&s, AT_DATA, 64);
  argb a = {.len = 0};
  argb_ptr(&a, AT_DATA, 256);
  argb_ptr(&a, AT_DATA + 256, 256);
  argb_ptr(&a, AT_DATA + 512, 256);
  argb_u32(&a, 64);
  shim_put(&s, AT_ARGV, a.b, a.len);
  tw_val args[10] = {I64(k), I32(1), I32(1), I32(1), I32(64),
                     I32(1), I32(1), I32(0), I32(AT_ARGV), I32(a.len)};
  ASSERT_EQ_U64(shim_call(&s, "launch_then_trap", args, 10), RESULT_TRAP);
  ASSERT(vec_ok(&s, AT_DATA, 64)); /* the launch ran before the trap */
  shim_close(&s);
  ASSERT(live_same(live_now(), before));
}

TEST(arguments_must_match_the_kernel) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7012);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  int64_t k = load_kernel(&s, "vec_add");
  ASSERT(k >= 0);
  argb a = {.len = 0};
  argb_ptr(&a, AT_DATA, 16);
  argb_ptr(&a, AT_DATA, 16);
  argb_ptr(&a, AT_DATA, 16);
  ASSERT_EQ_INT(cu_launch_args(&s, k, 1, 1, 4, 1, &a), -9);
  ASSERT_CONTAINS(cu_error_text(&s), "takes 4 arguments, 3 given");
  a.len = 0;
  argb_u32(&a, 0); /* 4 bytes where the kernel has a pointer */
  argb_ptr(&a, AT_DATA, 16);
  argb_ptr(&a, AT_DATA, 16);
  argb_u32(&a, 4);
  ASSERT_EQ_INT(cu_launch_args(&s, k, 1, 1, 4, 1, &a), -9);
  ASSERT_CONTAINS(cu_error_text(&s), "argument 0 is 4 bytes");
  shim_close(&s);
}

TEST(every_tag_reaches_the_kernel_bit_for_bit) {
  fake_cuda_counters *fc = fake();
  ASSERT(fc != NULL);
  fake_cuda_translate_fn translate =
      (fake_cuda_translate_fn)fake_sym("fake_cuda_translate");
  ASSERT(translate != NULL);
  tw_cuda_config cfg = granted(7013);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  char ptx[256];
  size_t n = tiny_ptx(ptx, sizeof ptx, "argdump");
  int64_t k = cu_load_text(&s, ptx, n, "argdump");
  ASSERT(k >= 0);
  int64_t h = cu_malloc(&s, 128);
  ASSERT(h > 0);
  argb a = {.len = 0};
  argb_put(&a, TW_CUDA_ARG_I32, (uint32_t)-5, 4);
  argb_put(&a, TW_CUDA_ARG_I64, (uint64_t)-6, 8);
  argb_put(&a, TW_CUDA_ARG_F32, 0x3fc00000u, 4);
  argb_put(&a, TW_CUDA_ARG_F64, 0x400c000000000000ull, 8);
  argb_put(&a, TW_CUDA_ARG_U32, 0xfffffffeu, 4);
  argb_put(&a, TW_CUDA_ARG_U64, 0x0102030405060708ull, 8);
  argb_ptr(&a, AT_DATA + 8, 64);
  argb_buffer(&a, h);
  int calls = fc->argdump_calls;
  ASSERT_EQ_INT(cu_launch_args(&s, k, 1, 1, 1, 1, &a), 0);
  ASSERT_EQ_INT(fc->argdump_calls, calls + 1);
  ASSERT_EQ_U64(fc->argdump[0] & 0xffffffffu, 0xfffffffbu);
  ASSERT_EQ_U64(fc->argdump[1], (uint64_t)-6);
  ASSERT_EQ_U64(fc->argdump[2] & 0xffffffffu, 0x3fc00000u);
  ASSERT_EQ_U64(fc->argdump[3], 0x400c000000000000ull);
  ASSERT_EQ_U64(fc->argdump[4] & 0xffffffffu, 0xfffffffeu);
  ASSERT_EQ_U64(fc->argdump[5], 0x0102030405060708ull);
  /* The pointer is a device address that maps onto the guest's bytes. */
  ASSERT(translate(fc->argdump[6], 64) == shim_mem(&s) + AT_DATA + 8);
  ASSERT(translate(fc->argdump[6], 64) != NULL);
  /* The buffer's device address, not its handle. */
  ASSERT(fc->argdump[7] != (uint64_t)h);
  ASSERT(translate(fc->argdump[7], 128) != NULL);
  /* Past the guest's arguments the kernel reads zeros, never host memory. */
  for (int i = 8; i < FAKE_CUDA_ARGDUMP_MAX; i++)
    if (fc->argdump[i]) TW__FAIL("parameter %d is not zero", i);
  shim_close(&s);
}

TEST(driver_errors_become_codes) {
  ASSERT(fake() != NULL);
  fake_cuda_fail_next_fn fail_next =
      (fake_cuda_fail_next_fn)fake_sym("fake_cuda_fail_next");
  ASSERT(fail_next != NULL);
  tw_cuda_config cfg = granted(7014);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  char ptx[256];
  /* Compile error, with the driver's log. */
  const char bad[] = ".version 7.0\n.target sm_75\n.entry k() { FAKE_COMPILE_ERROR }";
  ASSERT_EQ_INT(cu_load_text(&s, bad, sizeof bad - 1, "k"), -4);
  ASSERT_CONTAINS(cu_error_text(&s), "fake syntax error at line 7");
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA_ERROR_INVALID_PTX");
  /* No such entry. */
  size_t n = tiny_ptx(ptx, sizeof ptx, "present");
  ASSERT_EQ_INT(cu_load_text(&s, ptx, n, "absent"), -4);
  ASSERT_CONTAINS(cu_error_text(&s), "no entry \"absent\"");
  /* An entry the device cannot run. */
  int64_t k = cu_load_text(&s, ptx, n, "present");
  ASSERT(k >= 0);
  argb none = {.len = 0};
  ASSERT_EQ_INT(cu_launch_args(&s, k, 1, 1, 1, 1, &none), -5);
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA_ERROR_NOT_SUPPORTED");
  /* Launch refused by the driver (not a sticky error). */
  int64_t kv = load_kernel(&s, "vec_add");
  ASSERT(kv >= 0);
  vec_fill(&s, AT_DATA, 64);
  fail_next("cuLaunchKernel", 701);
  ASSERT_EQ_INT(vec_launch(&s, kv, AT_DATA, 64), -5);
  ASSERT_CONTAINS(cu_error_text(&s), "cuLaunchKernel");
  ASSERT_EQ_INT(vec_launch(&s, kv, AT_DATA, 64), 0); /* and then fine */
  /* Out of device memory is a quota error. */
  fail_next("cuMemAlloc_v2", 2);
  ASSERT_EQ_INT(cu_malloc(&s, 64), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA_ERROR_OUT_OF_MEMORY");
  /* A copy the driver refuses. */
  int64_t h = cu_malloc(&s, 64);
  ASSERT(h > 0);
  fail_next("cuMemcpyHtoDAsync_v2", 1);
  ASSERT_EQ_INT(cu_copy(&s, true, h, 0, AT_DATA, 64), -7);
  shim_close(&s);

  /* Registration refused: a fresh instance, so nothing is registered. */
  ASSERT(shim_open(&s, &cfg));
  kv = load_kernel(&s, "vec_add");
  ASSERT(kv >= 0);
  fail_next("cuMemHostRegister_v2", 1);
  ASSERT_EQ_INT(vec_launch(&s, kv, AT_DATA, 64), -7);
  ASSERT_CONTAINS(cu_error_text(&s), "cuMemHostRegister");
  vec_fill(&s, AT_DATA, 64);
  ASSERT_EQ_INT(vec_launch(&s, kv, AT_DATA, 64), 0);
  ASSERT(vec_ok(&s, AT_DATA, 64));
  shim_close(&s);

  /* No stream for a new instance. */
  ASSERT(shim_open(&s, &cfg));
  fail_next("cuStreamCreate", 2);
  ASSERT_EQ_INT(cu_sync(&s), -7);
  ASSERT_CONTAINS(cu_error_text(&s), "cannot create a stream");
  ASSERT_EQ_INT(cu_sync(&s), 0);
  shim_close(&s);
}

TEST(kernel_count_quota) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7015);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  char ptx[256];
  size_t n = tiny_ptx(ptx, sizeof ptx, "k");
  int64_t first = -1;
  for (int i = 0; i < TW_CUDA_MAX_KERNELS; i++) {
    int64_t k = cu_load_text(&s, ptx, n, "k");
    if (k < 0) TW__FAIL("load %d: %lld", i, (long long)k);
    if (!i) first = k;
  }
  ASSERT_EQ_INT(cu_load_text(&s, ptx, n, "k"), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "256 kernels");
  tw_cuda_usage u;
  tw_cuda_usage_get(s.cuda, &u);
  ASSERT_EQ_INT(u.kernels, 256);
  argb none = {.len = 0};
  ASSERT_EQ_INT(cu_launch_args(&s, first, 1, 1, 1, 1, &none), -5); /* found */
  shim_close(&s);
}

TEST(ptx_total_quota) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7016);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  /* 8 MiB of PTX: a header, then comment lines. */
  tw_val g[1] = {I32(130)};
  ASSERT(shim_call(&s, "grow", g, 1) >= 0);
  uint8_t *m = shim_mem(&s) + 65536;
  size_t n = tiny_ptx((char *)m, 256, "pad");
  const char line[] = "// padding padding padding padding padding padding\n";
  while (n + sizeof line <= TW_CUDA_MAX_PTX_BYTES) {
    memcpy(m + n, line, sizeof line - 1);
    n += sizeof line - 1;
  }
  while (n < TW_CUDA_MAX_PTX_BYTES) m[n++] = '\n';
  shim_put(&s, AT_ENTRY, "pad", 3);
  for (int i = 0; i < 64; i++)
    if (cu_load(&s, 65536, TW_CUDA_MAX_PTX_BYTES, AT_ENTRY, 3) < 0)
      TW__FAIL("load %d: %s", i, cu_error_text(&s));
  ASSERT_EQ_INT(cu_load(&s, 65536, 100, AT_ENTRY, 3), -6);
  ASSERT_CONTAINS(cu_error_text(&s), "PTX bytes loaded");
  ASSERT_EQ_INT(cu_load(&s, 65536, TW_CUDA_MAX_PTX_BYTES + 1, AT_ENTRY, 3), -6);
  shim_close(&s);
}

TEST(spans_and_metrics_of_a_launch) {
  ASSERT(fake() != NULL);
  ASSERT(spans_start());
  tw_cuda_config cfg = granted(7017);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  uint64_t lat0 = tw_histogram_count(tw_metrics_std()->kernel_latency_seconds);
  int64_t k = load_kernel(&s, "vec_add");
  vec_fill(&s, AT_DATA, 300);
  int64_t r = vec_launch(&s, k, AT_DATA, 300);
  int64_t sync = cu_sync(&s);
  shim_close(&s);
  tw_trace_shutdown();
  ASSERT(k >= 0);
  ASSERT_EQ_INT(r, 0);
  ASSERT_EQ_INT(sync, 0);

  char kid[32];
  snprintf(kid, sizeof kid, "%lld", (long long)k);
  const span_rec *l = span_find(TW_CUDA_SPAN_LOAD_PTX, 0);
  ASSERT(l != NULL);
  ASSERT_EQ_STR(l->target, TW_CUDA_TARGET);
  ASSERT_EQ_STR(span_attr(l, "instance"), "70170");
  ASSERT_EQ_STR(span_attr(l, "tenant"), "7017");
  ASSERT_EQ_STR(span_attr(l, "entry_bytes"), "7");
  ASSERT_EQ_STR(span_attr(l, "kernel"), kid);
  ASSERT(l->status != TW_SPAN_STATUS_ERROR);
  const span_rec *la = span_find(TW_CUDA_SPAN_LAUNCH, 0);
  ASSERT(la != NULL);
  ASSERT_EQ_STR(span_attr(la, "kernel"), kid);
  ASSERT_EQ_STR(span_attr(la, "grid_x"), "2");
  ASSERT_EQ_STR(span_attr(la, "block_x"), "256");
  ASSERT_EQ_STR(span_attr(la, "block_y"), "1");
  ASSERT_EQ_STR(span_attr(la, "shared_mem"), "0");
  ASSERT_EQ_STR(span_attr(la, "code"), "<absent>");
  ASSERT(la->status != TW_SPAN_STATUS_ERROR);
  const span_rec *d = span_find(TW_CUDA_SPAN_DISPATCH, 0);
  ASSERT(d != NULL);
  ASSERT_EQ_STR(d->target, TW_CUDA_TARGET);
  ASSERT(span_child_of(d, la));
  ASSERT_EQ_STR(span_attr(d, "kernel"), kid);
  const span_rec *sy = span_find(TW_CUDA_SPAN_SYNC, 0);
  ASSERT(sy != NULL);
  ASSERT_EQ_STR(span_attr(sy, "instance"), "70170");
  ASSERT(!span_child_of(sy, la));
  ASSERT_EQ_INT(dispatches_of("7017"), 1);
  ASSERT_EQ_INT(
      tw_histogram_count(tw_metrics_std()->kernel_latency_seconds) - lat0, 1);
}

static void *interrupter(void *arg) {
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  tw_cuda_interrupt(arg);
  return NULL;
}

TEST(interrupt_ends_a_waiting_launch) {
  fake_cuda_counters *fc = fake();
  ASSERT(fc != NULL);
  fake_cuda_unhang_fn unhang = (fake_cuda_unhang_fn)fake_sym("fake_cuda_unhang");
  ASSERT(unhang != NULL);
  live before = live_now();
  tw_cuda_config cfg = granted(7018);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  char ptx[256];
  size_t n = tiny_ptx(ptx, sizeof ptx, "hang");
  int64_t k = cu_load_text(&s, ptx, n, "hang");
  ASSERT(k >= 0);
  pthread_t t;
  ASSERT_EQ_INT(pthread_create(&t, NULL, interrupter, s.cuda), 0);
  argb none = {.len = 0};
  int64_t r = cu_launch_args(&s, k, 1, 1, 1, 1, &none);
  pthread_join(t, NULL);
  const char *why = cu_error_text(&s);
  char text[1024];
  snprintf(text, sizeof text, "%s", why);
  int64_t after = cu_sync(&s);
  /* The kernel is still "running": release leaves its module to the
   * driver but drops the stream. */
  shim_close(&s);
  live now = live_now();
  unhang();
  ASSERT_EQ_INT(r, -5);
  ASSERT_CONTAINS(text, "interrupted");
  ASSERT_EQ_INT(after, -1);
  ASSERT_EQ_INT(now.streams, before.streams);
  ASSERT_EQ_INT(now.modules, before.modules + 1);
}

TEST(sync_with_nothing_launched) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = granted(7019);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_sync(&s), 0);
  ASSERT_EQ_INT(cu_error_len(&s), 0);
  tw_error err;
  ASSERT_EQ_INT(tw_cuda_probe(NULL, 0, &err), TW_OK);
  ASSERT_EQ_INT(tw_cuda_probe(NULL, 3, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.message, "not present");
  shim_close(&s);
  /* A context on a device that is not there. */
  cfg.device = 5;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_sync(&s), -1);
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA device 5 not present");
  shim_close(&s);
}

TEST_MAIN()
