/* wasi:cuda on a host without a CUDA driver (TW_CUDA_LIBRARY names a path
 * where none is), called as a guest through the shim: the capability gate,
 * every call answering -1 with a reason, the checks that still apply
 * (PTX text, limits, dimensions, argument lists, pointers), last-error
 * reading, spans with an error status, no metrics, import binding, and
 * release in either order with the store. */
#include "gpu_util.h"
#include "test.h"

/* Before any test runs: no driver, whatever the environment says. */
__attribute__((constructor)) static void no_driver(void) {
  setenv(TW_CUDA_LIBRARY_ENV, TW_NO_CUDA_PATH, 1);
}

static const char good_ptx[] =
    ".version 7.0\n.target sm_75\n.address_size 64\n"
    ".visible .entry vec_add()\n{\n\tret;\n}\n";

static tw_cuda_config granted(uint64_t tenant) {
  return (tw_cuda_config){.enabled = true, .tenant_id = tenant,
                          .instance_id = 42};
}

TEST(gate_closed_answers_minus_one_and_records_nothing) {
  tw_cuda_config cfg = {.enabled = false, .tenant_id = 9001};
  shim s;
  ASSERT(shim_open(&s, &cfg));
  /* Even input that is wrong in every way gets -1, not its own code. */
  ASSERT_EQ_INT(cu_load(&s, 0xFFFFFFF0u, 64, 0, 0), -1);
  ASSERT_EQ_INT(cu_load_text(&s, good_ptx, sizeof good_ptx - 1, "vec_add"), -1);
  ASSERT_EQ_INT(cu_launch(&s, 5, 0, 0, 0, 0, 0, 0, -1, 0, 0), -1);
  ASSERT_EQ_INT(cu_sync(&s), -1);
  ASSERT_EQ_INT(cu_malloc(&s, 1024), -1);
  ASSERT_EQ_INT(cu_free(&s, 1), -1);
  ASSERT_EQ_INT(cu_copy(&s, true, 1, 0, 0, 4), -1);
  ASSERT_EQ_INT(cu_copy(&s, false, 1, 0, 0, 4), -1);
  ASSERT_EQ_INT(cu_error_len(&s), -1);
  ASSERT_EQ_INT(cu_error_copy(&s, AT_ERROR, 100), -1);
  ASSERT_EQ_STR(tw_cuda_last_error(s.cuda), "");
  shim_close(&s);
}

TEST(granting_and_revoking) {
  tw_cuda_config cfg = {.enabled = false};
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT(!tw_cuda_enabled(s.cuda));
  tw_cuda_set_enabled(s.cuda, true);
  ASSERT_EQ_INT(cu_error_len(&s), 0);
  ASSERT_EQ_INT(cu_sync(&s), -1);
  ASSERT(cu_error_len(&s) > 0);
  /* Revoking forgets the text, so a later grant starts clean. */
  tw_cuda_set_enabled(s.cuda, false);
  ASSERT_EQ_INT(cu_error_len(&s), -1);
  tw_cuda_set_enabled(s.cuda, true);
  ASSERT_EQ_INT(cu_error_len(&s), 0);
  shim_close(&s);
}

TEST(no_driver_every_call_is_not_available_with_a_reason) {
  tw_cuda_config cfg = granted(9002);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_load_text(&s, good_ptx, sizeof good_ptx - 1, "vec_add"), -1);
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA driver not available");
  ASSERT_CONTAINS(cu_error_text(&s), "no-such-dir/libcuda.so.1");
  ASSERT_EQ_INT(cu_error_len(&s), strlen(tw_cuda_last_error(s.cuda)));
  argb a = {.len = 0};
  argb_ptr(&a, AT_DATA, 16);
  argb_u32(&a, 4);
  /* A well-formed launch of any kernel id: the driver is what is missing. */
  ASSERT_EQ_INT(cu_launch_args(&s, 12345, 1, 1, 4, 1, &a), -1);
  ASSERT_CONTAINS(cu_error_text(&s), "cannot load");
  ASSERT_EQ_INT(cu_sync(&s), -1);
  ASSERT_EQ_INT(cu_malloc(&s, 4096), -1);
  ASSERT_CONTAINS(cu_error_text(&s), "CUDA driver not available");
  tw_cuda_usage u;
  tw_cuda_usage_get(s.cuda, &u);
  ASSERT_EQ_INT(u.kernels + u.buffers + u.launches + u.registrations, 0);
  shim_close(&s);
  tw_error err;
  ASSERT_EQ_INT(tw_cuda_probe(NULL, 0, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.message, "CUDA driver not available");
}

TEST(checks_that_apply_without_a_driver) {
  tw_cuda_config cfg = granted(9003);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  /* PTX text. */
  ASSERT_EQ_INT(cu_load_text(&s, "hello", 5, "k"), -4);
  ASSERT_CONTAINS(cu_error_text(&s), ".version");
  ASSERT_EQ_INT(cu_load_text(&s, "", 0, "k"), -4);
  /* Sizes: PTX over 8 MiB and entry over 256 bytes are quota errors,
   * refused before memory is even looked at. */
  ASSERT_EQ_INT(cu_load(&s, 0, TW_CUDA_MAX_PTX_BYTES + 1, 0, 1), -6);
  ASSERT_EQ_INT(cu_load(&s, 0, 64, 0, 257), -6);
  /* Entry names. */
  ASSERT_EQ_INT(cu_load_text(&s, good_ptx, sizeof good_ptx - 1, ""), -9);
  shim_put(&s, AT_ENTRY, "\xff\xfe", 2);
  shim_put(&s, AT_PTX, good_ptx, sizeof good_ptx - 1);
  ASSERT_EQ_INT(cu_load(&s, AT_PTX, sizeof good_ptx - 1, AT_ENTRY, 2), -9);
  /* Pointers outside memory (4 pages). */
  uint32_t end = SHIM_PAGES * 65536;
  ASSERT_EQ_INT(cu_load(&s, end - 10, 64, AT_ENTRY, 1), -2);
  ASSERT_EQ_INT(cu_load(&s, AT_PTX, 64, end, 1), -2);
  ASSERT_EQ_INT(cu_load(&s, 0xFFFFFFFFu, 0xFFFFu, AT_ENTRY, 1), -2);
  shim_close(&s);
}

TEST(launch_checks_without_a_driver) {
  tw_cuda_config cfg = granted(9004);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  uint32_t end = SHIM_PAGES * 65536;
  /* Dimensions. */
  ASSERT_EQ_INT(cu_launch(&s, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0), -8);
  ASSERT_EQ_INT(cu_launch(&s, 1, 1, 1, 1, 1025, 1, 1, 0, 0, 0), -8);
  ASSERT_EQ_INT(cu_launch(&s, 1, 1, 1, 1, 64, 32, 1, 0, 0, 0), -8);
  ASSERT_CONTAINS(cu_error_text(&s), "2048 threads");
  ASSERT_EQ_INT(cu_launch(&s, 1, 1, 1, 1, 1, 1, 1, -1, 0, 0), -8);
  /* The list itself outside memory. */
  ASSERT_EQ_INT(cu_launch(&s, 1, 1, 1, 1, 1, 1, 1, 0, end - 4, 5), -2);
  /* Malformed lists. */
  argb a = {.len = 0};
  argb_u32(&a, 1);
  a.b[a.len++] = 0x42;
  ASSERT_EQ_INT(cu_launch_args(&s, 1, 1, 1, 1, 1, &a), -9);
  ASSERT_CONTAINS(cu_error_text(&s), "unknown tag 0x42");
  a.len = 0;
  argb_u32(&a, 1);
  a.b[a.len++] = 0x06;
  a.b[a.len++] = 0x01;
  ASSERT_EQ_INT(cu_launch_args(&s, 1, 1, 1, 1, 1, &a), -9);
  a.len = 0;
  for (int i = 0; i < 129; i++) argb_u32(&a, (uint32_t)i);
  ASSERT_EQ_INT(cu_launch_args(&s, 1, 1, 1, 1, 1, &a), -10);
  ASSERT_EQ_INT(cu_launch(&s, 1, 1, 1, 1, 1, 1, 1, 0, AT_ARGV, 4097), -10);
  /* A pointer argument outside memory. */
  a.len = 0;
  argb_ptr(&a, end - 8, 9);
  ASSERT_EQ_INT(cu_launch_args(&s, 1, 1, 1, 1, 1, &a), -2);
  ASSERT_CONTAINS(cu_error_text(&s), "argument 0");
  shim_close(&s);
}

TEST(buffer_checks_without_a_driver) {
  tw_cuda_config cfg = granted(9005);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_malloc(&s, 0), -9);
  ASSERT_EQ_INT(cu_malloc(&s, -5), -9);
  ASSERT_EQ_INT(cu_malloc(&s, (int64_t)2 << 30), -6); /* over 1 GiB */
  ASSERT_EQ_INT(cu_free(&s, 77), -2);
  ASSERT_EQ_INT(cu_copy(&s, true, 77, 0, AT_DATA, 4), -2);
  ASSERT_EQ_INT(cu_copy(&s, false, 0, 0, AT_DATA, 4), -2);
  shim_close(&s);
}

TEST(last_error_copy) {
  tw_cuda_config cfg = granted(9006);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_error_len(&s), 0);
  ASSERT_EQ_INT(cu_error_copy(&s, AT_ERROR, 100), 0); /* none yet */
  ASSERT_EQ_INT(cu_sync(&s), -1);
  int64_t len = cu_error_len(&s);
  ASSERT(len > 20);
  ASSERT_EQ_INT(cu_error_copy(&s, AT_ERROR, 0), 0);
  memset(shim_mem(&s) + AT_ERROR, '#', 64);
  ASSERT_EQ_INT(cu_error_copy(&s, AT_ERROR, 5), 5); /* partial */
  ASSERT(memcmp(shim_mem(&s) + AT_ERROR, "CUDA ", 5) == 0);
  ASSERT_EQ_INT(shim_mem(&s)[AT_ERROR + 5], '#');
  ASSERT_EQ_INT(cu_error_copy(&s, AT_ERROR, 4096), len);
  uint32_t end = SHIM_PAGES * 65536;
  ASSERT_EQ_INT(cu_error_copy(&s, end - 3, 100), -2);
  ASSERT_EQ_INT(cu_error_copy(&s, 0xFFFFFFFFu, 100), -2);
  ASSERT_EQ_INT(cu_error_copy(&s, end - (uint32_t)len, 4096), len);
  ASSERT_EQ_INT(cu_error_copy(&s, end - (uint32_t)len + 1, 4096), -2);
  /* A later success does not clear it (the original's behaviour). */
  ASSERT_EQ_INT(cu_error_len(&s), len);
  shim_close(&s);
}

TEST(spans_fire_with_error_status) {
  ASSERT(spans_start());
  tw_cuda_config cfg = granted(9007);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  ASSERT_EQ_INT(cu_load_text(&s, good_ptx, sizeof good_ptx - 1, "vec_add"), -1);
  ASSERT_EQ_INT(cu_launch(&s, 7, 2, 3, 4, 5, 6, 70, 128, 0, 0), -8);
  ASSERT_EQ_INT(cu_sync(&s), -1);
  tw_cuda_set_enabled(s.cuda, false);
  ASSERT_EQ_INT(cu_sync(&s), -1);
  shim_close(&s);
  tw_trace_shutdown();

  const span_rec *l = span_find(TW_CUDA_SPAN_LOAD_PTX, 0);
  ASSERT(l != NULL);
  ASSERT_EQ_STR(l->target, TW_CUDA_TARGET);
  ASSERT_EQ_STR(span_attr(l, "instance"), "42");
  ASSERT_EQ_STR(span_attr(l, "tenant"), "9007");
  ASSERT_EQ_INT(atoi(span_attr(l, "ptx_bytes")), sizeof good_ptx - 1);
  ASSERT_EQ_STR(span_attr(l, "entry_bytes"), "7");
  ASSERT_EQ_STR(span_attr(l, "code"), "-1");
  ASSERT_EQ_INT(l->status, TW_SPAN_STATUS_ERROR);
  const span_rec *la = span_find(TW_CUDA_SPAN_LAUNCH, 0);
  ASSERT(la != NULL);
  ASSERT_EQ_STR(span_attr(la, "kernel"), "7");
  ASSERT_EQ_STR(span_attr(la, "grid_x"), "2");
  ASSERT_EQ_STR(span_attr(la, "grid_y"), "3");
  ASSERT_EQ_STR(span_attr(la, "grid_z"), "4");
  ASSERT_EQ_STR(span_attr(la, "block_x"), "5");
  ASSERT_EQ_STR(span_attr(la, "block_y"), "6");
  ASSERT_EQ_STR(span_attr(la, "block_z"), "70");
  ASSERT_EQ_STR(span_attr(la, "shared_mem"), "128");
  ASSERT_EQ_INT(la->status, TW_SPAN_STATUS_ERROR);
  /* 5 x 6 x 70 threads is too many: refused before the driver, so no
   * dispatch. */
  ASSERT_EQ_STR(span_attr(la, "code"), "-8");
  ASSERT_EQ_INT(span_count(TW_CUDA_SPAN_DISPATCH), 0);
  ASSERT_EQ_INT(span_count(TW_CUDA_SPAN_SYNC), 2);
  ASSERT_EQ_STR(span_attr(span_find(TW_CUDA_SPAN_SYNC, 0), "instance"), "42");
  /* The gated call is traced too, with the code and no recorded text. */
  ASSERT_EQ_INT(span_find(TW_CUDA_SPAN_SYNC, 1)->status, TW_SPAN_STATUS_ERROR);
}

TEST(no_metrics_without_a_device) {
  tw_cuda_config cfg = granted(9008);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  argb a = {.len = 0};
  ASSERT_EQ_INT(cu_launch_args(&s, 1, 1, 1, 1, 1, &a), -1);
  ASSERT_EQ_INT(cu_malloc(&s, 64), -1);
  shim_close(&s);
  ASSERT_EQ_INT(dispatches_of("9008"), 0);
  ASSERT_EQ_INT(gpu_bytes_of("9008"), 0);
  ASSERT_EQ_INT(gpu_bytes_per_tenant("9008"), 0);
}

static tw_status resolve_one(const char *guest, size_t index, tw_error *err) {
  char path[512];
  size_t len;
  snprintf(path, sizeof path, "%s/tests/gpu/%s.wasm", TW_BUILD_DIR, guest);
  uint8_t *bytes = read_all(path, &len);
  tw_engine_t *e = NULL;
  tw_module_t *m = NULL;
  tw_store_t *st = NULL;
  tw_cuda_t *c = NULL;
  tw_extern out = {.kind = TW_EXTERN_GLOBAL};
  tw_status s = TW_IO;
  if (bytes && tw_engine_new(NULL, &e, err) == TW_OK &&
      tw_module_new(e, bytes, len, &m, err) == TW_OK &&
      tw_store_new(e, &st, err) == TW_OK && tw_cuda_new(NULL, &c, err) == TW_OK)
    s = tw_cuda_resolve_import(c, st, m, index, &out, err);
  if (s == TW_NOT_FOUND && out.kind != TW_EXTERN_GLOBAL) s = TW_INVALID;
  tw_cuda_release(c);
  tw_store_free(st);
  tw_module_free(m);
  tw_engine_free(e);
  free(bytes);
  return s;
}

TEST(import_binding) {
  tw_error err;
  ASSERT_EQ_INT(resolve_one("mixed", 0, &err), TW_NOT_FOUND); /* env.f */
  ASSERT_CONTAINS(err.message, "not a wasi:cuda import");
  ASSERT_EQ_INT(resolve_one("mixed", 1, &err), TW_OK);
  ASSERT_EQ_INT(resolve_one("mixed", 2, &err), TW_UNLINKABLE); /* a memory */
  ASSERT_EQ_INT(resolve_one("last_error_ptr", 0, &err), TW_UNLINKABLE);
  ASSERT_CONTAINS(err.message, "wasi_cuda_last_error_ptr");
  /* A wrong signature links here and is refused by instantiation. */
  ASSERT_EQ_INT(resolve_one("bad_sig", 0, &err), TW_OK);
  tw_cuda_config cfg = granted(1);
  shim s;
  fprintf(stderr, "  (a shim error below is expected)\n");
  ASSERT(!shim_open_guest(&s, "bad_sig", &cfg));
  shim_close(&s);
}

TEST(release_before_and_after_the_store) {
  tw_cuda_config cfg = granted(9009);
  shim s;
  ASSERT(shim_open(&s, &cfg));
  tw_cuda_release(s.cuda); /* the store's functions keep the context */
  ASSERT_EQ_INT(cu_sync(&s), -1);
  ASSERT_CONTAINS(cu_error_text(&s), "released");
  ASSERT_EQ_INT(cu_load_text(&s, good_ptx, sizeof good_ptx - 1, "vec_add"), -1);
  s.cuda = NULL; /* released already */
  shim_close(&s);

  /* The other order: the store first, then the context. */
  ASSERT(shim_open(&s, &cfg));
  tw_cuda_t *c = s.cuda;
  s.cuda = NULL;
  shim_close(&s);
  ASSERT_EQ_STR(tw_cuda_last_error(c), "");
  tw_cuda_release(c);
  tw_cuda_release(NULL);
}

TEST(config_defaults_and_errors) {
  tw_cuda_t *c = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_cuda_new(NULL, &c, &err), TW_OK);
  ASSERT(!tw_cuda_enabled(c));
  tw_cuda_release(c);
  tw_cuda_config cfg = {.device = -1};
  ASSERT_EQ_INT(tw_cuda_new(&cfg, &c, &err), TW_ARG);
  ASSERT(c == NULL);
}

TEST_MAIN()
