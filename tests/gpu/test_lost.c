/* A kernel that faults on the fake driver (an illegal address, reported
 * asynchronously as on a GPU): the launch fails with LaunchFailed, the
 * device's shared context is marked lost, and from then on every instance
 * on it gets NotAvailable with the reason, instead of driver errors or a
 * crash.  Its own executable because the loss lasts for the process. */
#include "gpu_util.h"
#include "test.h"

TEST(a_faulting_kernel_loses_the_device_for_everyone) {
  ASSERT(fake() != NULL);
  tw_cuda_config cfg = {.enabled = true, .tenant_id = 8001, .instance_id = 1};
  shim a, b;
  ASSERT(shim_open(&a, &cfg));
  ASSERT(shim_open(&b, &cfg));
  char ptx[256];
  size_t n = tiny_ptx(ptx, sizeof ptx, "fault");
  int64_t k = cu_load_text(&a, ptx, n, "fault");
  ASSERT(k >= 0);
  ASSERT(cu_malloc(&b, 64) > 0);
  argb none = {.len = 0};
  ASSERT_EQ_INT(cu_launch_args(&a, k, 1, 1, 1, 1, &none), -5);
  ASSERT_CONTAINS(cu_error_text(&a), "CUDA_ERROR_ILLEGAL_ADDRESS");
  ASSERT_CONTAINS(cu_error_text(&a), "needs a restart");
  ASSERT_EQ_INT(cu_sync(&b), -1);
  ASSERT_CONTAINS(cu_error_text(&b), "unusable until restart");
  ASSERT_EQ_INT(cu_malloc(&b, 64), -1);
  tw_error err;
  ASSERT_EQ_INT(tw_cuda_probe(NULL, 0, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.message, "ILLEGAL_ADDRESS");
  ASSERT_EQ_INT(dispatches_of("8001"), 0);
  /* Release still returns (what it can free, it frees). */
  shim_close(&a);
  shim_close(&b);
}

TEST_MAIN()
