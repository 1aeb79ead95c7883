/* End-to-end engine tests through the public API: modules written in the
 * text format (converted with wat2wasm at test time), instantiated and run.
 * They cover what the spec suite does not: limits and hostile guests,
 * host functions, backtraces, interruption, fuel, cross-instance calls. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tensorwasm/wasm.h"
#include "test.h"
#include "wat_util.h"

static const char *rec_wat =
    "(module\n"
    "  (func $down (export \"down\") (param i32) (result i32)\n"
    "    (call $down (i32.add (local.get 0) (i32.const 1))))\n"
    "  (func $fac (export \"fac\") (param i64) (result i64)\n"
    "    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))\n"
    "      (else (i64.mul (local.get 0)\n"
    "        (call $fac (i64.sub (local.get 0) (i64.const 1))))))))";

TEST(deep_recursion_traps_and_store_lives_on) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_instance_t *i = inst_of(&v, rec_wat, NULL, 0);
  ASSERT(i);
  tw_val arg = tw_val_i32(0), res;
  tw_status st = tw_func_call(v.store, func(i, "down"), &arg, 1, &res, 1,
                              &v.err);
  ASSERT_EQ_INT(st, TW_TRAP);
  ASSERT_EQ_INT(v.err.trap, TW_TRAP_STACK_EXHAUSTED);
  ASSERT_CONTAINS(v.err.message, "call stack exhausted");
  ASSERT(v.err.frames_total > 1000);
  ASSERT_EQ_STR(v.err.frames[0].name, "down");
  /* the same store still runs code afterwards */
  arg = tw_val_i64(20);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "fac"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_U64(res.of.i64, 2432902008176640000ull);
  teardown(&v);
}

TEST(memory_guard_fault_becomes_trap_with_backtrace) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_instance_t *i = inst_of(&v,
      "(module (memory 1)\n"
      "  (func $inner (param i32) (result i32) (i32.load offset=8 (local.get 0)))\n"
      "  (func $outer (export \"peek\") (param i32) (result i32)\n"
      "    (call $inner (local.get 0))))", NULL, 0);
  ASSERT(i);
  tw_val arg = tw_val_i32(-1), res;
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "peek"), &arg, 1, &res, 1,
                             &v.err), TW_TRAP);
  ASSERT_EQ_INT(v.err.trap, TW_TRAP_MEMORY_OOB);
  ASSERT_EQ_INT(v.err.frame_count, 2);
  ASSERT_EQ_STR(v.err.frames[0].name, "inner");
  ASSERT_EQ_STR(v.err.frames[1].name, "outer");
  char buf[512];
  ASSERT_CONTAINS(tw_error_format(&v.err, buf, sizeof buf), "inner");
  /* in bounds works afterwards */
  arg = tw_val_i32(65536 - 12);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "peek"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, 0);
  teardown(&v);
}

static tw_status host_add(tw_caller_t *c, void *env_, uint64_t *s,
                          tw_error *err) {
  (void)c;
  (void)err;
  *(int *)env_ += 1;
  s[0] = (uint32_t)((int32_t)s[0] + (int32_t)s[1]);
  return TW_OK;
}

static tw_status host_fail(tw_caller_t *c, void *env_, uint64_t *s,
                           tw_error *err) {
  (void)c;
  (void)env_;
  (void)s;
  return tw_trap_set(err, TW_TRAP_HOST, "guest asked for %d", 42);
}

TEST(host_functions_called_and_traps_propagate) {
  env v;
  ASSERT(setup(&v, NULL));
  int calls = 0;
  tw_valtype p[2] = {TW_I32, TW_I32}, r[1] = {TW_I32};
  tw_func_t *add, *fail;
  ASSERT_EQ_INT(tw_func_new_host(v.store, p, 2, r, 1, host_add, &calls, NULL,
                                 &add, &v.err), TW_OK);
  ASSERT_EQ_INT(tw_func_new_host(v.store, NULL, 0, NULL, 0, host_fail, NULL,
                                 NULL, &fail, &v.err), TW_OK);
  tw_extern imp[2] = {{TW_EXTERN_FUNC, {.func = add}},
                      {TW_EXTERN_FUNC, {.func = fail}}};
  tw_instance_t *i = inst_of(&v,
      "(module (import \"h\" \"add\" (func $add (param i32 i32) (result i32)))\n"
      "  (import \"h\" \"fail\" (func $fail))\n"
      "  (func (export \"sum3\") (param i32 i32 i32) (result i32)\n"
      "    (call $add (call $add (local.get 0) (local.get 1)) (local.get 2)))\n"
      "  (func $f (export \"boom\") (call $fail)))", imp, 2);
  ASSERT(i);
  tw_val args[3] = {tw_val_i32(1), tw_val_i32(2), tw_val_i32(-10)}, res;
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "sum3"), args, 3, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, -7);
  ASSERT_EQ_INT(calls, 2);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "boom"), NULL, 0, NULL, 0,
                             &v.err), TW_TRAP);
  ASSERT_CONTAINS(v.err.message, "guest asked for 42");
  ASSERT_EQ_STR(v.err.frames[0].name, "f");
  /* wrong argument types are refused before running */
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "sum3"), args, 2, &res, 1,
                             &v.err), TW_ARG);
  teardown(&v);
}

static const char *spin_wat =
    "(module (func (export \"spin\") (loop (br 0))))";

TEST(fuel_stops_infinite_loop) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_instance_t *i = inst_of(&v, spin_wat, NULL, 0);
  ASSERT(i);
  tw_store_set_fuel(v.store, 100000);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "spin"), NULL, 0, NULL, 0,
                             &v.err), TW_TRAP);
  ASSERT_EQ_INT(v.err.trap, TW_TRAP_OUT_OF_FUEL);
  ASSERT_EQ_U64(tw_store_fuel(v.store), 0);
  teardown(&v);
}

static void *interrupter(void *arg) {
  usleep(50 * 1000);
  tw_store_interrupt(arg);
  return NULL;
}

TEST(interrupt_from_another_thread) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_instance_t *i = inst_of(&v, spin_wat, NULL, 0);
  ASSERT(i);
  pthread_t t;
  pthread_create(&t, NULL, interrupter, v.store);
  tw_status st = tw_func_call(v.store, func(i, "spin"), NULL, 0, NULL, 0,
                              &v.err);
  pthread_join(t, NULL);
  ASSERT_EQ_INT(st, TW_TRAP);
  ASSERT_EQ_INT(v.err.trap, TW_TRAP_INTERRUPTED);
  teardown(&v);
}

TEST(memory_bomb_stopped_by_engine_cap) {
  tw_engine_config cfg = {0};
  cfg.max_memory_pages = 16;
  env v;
  ASSERT(setup(&v, &cfg));
  tw_instance_t *i = inst_of(&v,
      "(module (memory 1)\n"
      "  (func (export \"grow\") (param i32) (result i32)\n"
      "    (memory.grow (local.get 0))))", NULL, 0);
  ASSERT(i);
  tw_val arg = tw_val_i32(15), res;
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "grow"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, 1);
  arg = tw_val_i32(1);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "grow"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, -1);
  teardown(&v);
}

TEST(multi_value_and_cross_instance_memory) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_instance_t *a = inst_of(&v,
      "(module (memory (export \"mem\") 1)\n"
      "  (func (export \"put\") (param i32 i32) (i32.store (local.get 0) (local.get 1)))\n"
      "  (func (export \"swap\") (param i32 i64) (result i64 i32)\n"
      "    (local.get 1) (local.get 0)))", NULL, 0);
  ASSERT(a);
  tw_extern put;
  ASSERT_EQ_INT(tw_instance_export(a, "put", 3, &put), TW_OK);
  tw_instance_t *b = inst_of(&v,
      "(module (import \"a\" \"put\" (func $put (param i32 i32)))\n"
      "  (memory 1)\n"
      "  (func (export \"go\") (result i32)\n"
      "    (i32.store (i32.const 0) (i32.const 7))\n"
      "    (call $put (i32.const 4) (i32.const 99))\n"
      "    (i32.load (i32.const 0))))", &put, 1);
  ASSERT(b);
  tw_val res[2];
  ASSERT_EQ_INT(tw_func_call(v.store, func(b, "go"), NULL, 0, res, 1, &v.err),
                TW_OK);
  ASSERT_EQ_INT(res[0].of.i32, 7); /* b's memory is its own */
  uint32_t word;
  memcpy(&word, tw_memory_data(tw_instance_memory(a)) + 4, 4);
  ASSERT_EQ_INT(word, 99); /* put ran against a's memory */
  tw_val args[2] = {tw_val_i32(5), tw_val_i64(-6)};
  ASSERT_EQ_INT(tw_func_call(v.store, func(a, "swap"), args, 2, res, 2,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res[0].type, TW_I64);
  ASSERT_EQ_INT(res[0].of.i64, -6);
  ASSERT_EQ_INT(res[1].of.i32, 5);
  teardown(&v);
}

TEST(simd_module_rejected_clearly) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_module_t *m = wat(v.engine,
      "(module (func (result v128) (v128.const i32x4 1 2 3 4)))", &v.err);
  ASSERT(m == NULL);
  ASSERT_EQ_INT(v.err.status, TW_UNSUPPORTED);
  ASSERT_CONTAINS(v.err.message, "SIMD is not supported yet");
  ASSERT(v.err.offset != SIZE_MAX);
  teardown(&v);
}

static tw_status host_crash(tw_caller_t *c, void *env_, uint64_t *s,
                            tw_error *err) {
  (void)c;
  (void)env_;
  (void)err;
  volatile uintptr_t addr = 16; /* hidden from the optimiser */
  volatile int *p = (volatile int *)addr;
  s[0] = (uint64_t)*p; /* a real bug in host code */
  return TW_OK;
}

TEST(fault_outside_wasm_memory_is_not_swallowed) {
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    env v;
    if (!setup(&v, NULL)) _exit(3);
    tw_valtype r[1] = {TW_I32};
    tw_func_t *crash;
    tw_func_new_host(v.store, NULL, 0, r, 1, host_crash, NULL, NULL, &crash,
                     &v.err);
    tw_extern imp = {TW_EXTERN_FUNC, {.func = crash}};
    tw_instance_t *i = inst_of(&v,
        "(module (import \"h\" \"c\" (func $c (result i32))) (memory 1)\n"
        "  (func (export \"go\") (result i32) (call $c)))", &imp, 1);
    if (!i) _exit(4);
    tw_val res;
    tw_func_call(v.store, func(i, "go"), NULL, 0, &res, 1, &v.err);
    _exit(0); /* reaching here means the crash was swallowed */
  }
  int status = 0;
  waitpid(pid, &status, 0);
  /* killed by SIGSEGV, or (under ASan, whose handler runs next) reported
   * and exited non-zero; never a normal exit */
  if (WIFSIGNALED(status)) {
    ASSERT_EQ_INT(WTERMSIG(status), SIGSEGV);
  } else {
    ASSERT(WIFEXITED(status));
    ASSERT(WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3 &&
           WEXITSTATUS(status) != 4);
  }
}

TEST(compiled_module_blob_roundtrip_and_corruption) {
  env v;
  ASSERT(setup(&v, NULL));
  tw_module_t *m = wat(v.engine, rec_wat, &v.err);
  ASSERT(m);
  uint8_t *blob = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_module_serialize(m, &blob, &len, &v.err), TW_OK);
  uint8_t h1[32], h2[32];
  tw_module_hash(m, h1);
  tw_module_free(m);
  tw_module_t *back = NULL;
  ASSERT_EQ_INT(tw_module_deserialize(v.engine, blob, len, &back, &v.err),
                TW_OK);
  tw_module_hash(back, h2);
  ASSERT(memcmp(h1, h2, 32) == 0);
  tw_instance_t *i = NULL;
  ASSERT_EQ_INT(tw_instance_new(v.store, back, NULL, 0, &i, &v.err), TW_OK);
  tw_val arg = tw_val_i64(10), res;
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "fac"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_U64(res.of.i64, 3628800);
  tw_module_free(back);
  /* every single-byte corruption is refused, never trusted */
  for (size_t at = 0; at < len; at += 7) {
    blob[at] ^= 0x5A;
    tw_module_t *bad = NULL;
    tw_status st = tw_module_deserialize(v.engine, blob, len, &bad, &v.err);
    blob[at] ^= 0x5A;
    ASSERT(st != TW_OK);
    ASSERT(bad == NULL);
  }
  /* a truncated blob and another build's blob */
  ASSERT_EQ_INT(tw_module_deserialize(v.engine, blob, len / 2, &back, &v.err),
                TW_MALFORMED);
  blob[8] ^= 1; /* build id */
  ASSERT_EQ_INT(tw_module_deserialize(v.engine, blob, len, &back, &v.err),
                TW_UNSUPPORTED);
  ASSERT_CONTAINS(v.err.message, "another engine build");
  free(blob);
  teardown(&v);
}

TEST(skip_init_and_copy_on_write_memory_image) {
  env v;
  ASSERT(setup(&v, NULL));
  const char *text =
      "(module (memory (export \"mem\") 1 4)\n"
      "  (global $g (export \"g\") (mut i32) (i32.const 5))\n"
      "  (global $k i32 (i32.const 9))\n"
      "  (table 2 funcref) (elem (i32.const 0) $get)\n"
      "  (data (i32.const 0) \"from data\")\n"
      "  (data $p \"passive\")\n"
      "  (func $get (export \"get\") (param i32) (result i32)\n"
      "    (i32.load8_u (local.get 0)))\n"
      "  (func (export \"grow\") (result i32) (memory.grow (i32.const 1)))\n"
      "  (func (export \"put\") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))";
  tw_module_t *m = wat(v.engine, text, &v.err);
  ASSERT(m);
  tw_instance_options opt = {.skip_init = true};
  tw_instance_t *i = NULL;
  ASSERT_EQ_INT(tw_instance_new_ex(v.store, m, NULL, 0, &opt, &i, &v.err),
                TW_OK);
  /* nothing was initialised, segments count as a finished init left them */
  tw_val arg = tw_val_i32(0), res;
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "get"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, 0);
  ASSERT(tw_instance_segment_dropped(i, true, 0));
  ASSERT(!tw_instance_segment_dropped(i, true, 1));
  ASSERT(tw_instance_segment_dropped(i, false, 0));
  ASSERT_EQ_INT(tw_table_size(tw_instance_table(i, 0)), 2);
  ASSERT_EQ_INT(tw_instance_global_count(i), 2);
  /* an immutable global can be restored, not set */
  tw_global_t *k = tw_instance_global(i, 1);
  ASSERT_EQ_INT(tw_global_set(k, tw_val_i32(1), &v.err), TW_ARG);
  ASSERT_EQ_INT(tw_global_restore(k, tw_val_i32(42), &v.err), TW_OK);
  ASSERT_EQ_INT(tw_global_get(k).of.i32, 42);
  ASSERT_EQ_INT(tw_global_restore(k, tw_val_i64(1), &v.err), TW_ARG);
  tw_instance_t *owner = NULL;
  uint32_t index = 99;
  ASSERT(tw_func_owner(tw_instance_func(i, 0), &owner, &index));
  ASSERT(owner == i && index == 0);
  /* map a two-page image copy-on-write */
  char path[] = "/tmp/tw-image-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  unlink(path);
  static uint8_t image[2 * 65536];
  memcpy(image, "image!", 6);
  image[65536 + 7] = 77;
  ASSERT(write(fd, image, sizeof image) == (ssize_t)sizeof image);
  tw_memory_t *mem = tw_instance_memory(i);
  ASSERT_EQ_INT(tw_memory_map_image(mem, fd, 0, 2, &v.err), TW_OK);
  ASSERT_EQ_INT(tw_memory_pages(mem), 2);
  arg = tw_val_i32(65536 + 7);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "get"), &arg, 1, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, 77);
  tw_val put[2] = {tw_val_i32(0), tw_val_i32('X')};
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "put"), put, 2, NULL, 0,
                             &v.err), TW_OK);
  uint8_t first;
  ASSERT(pread(fd, &first, 1, 0) == 1);
  ASSERT_EQ_INT(first, 'i'); /* the write stayed private */
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "grow"), NULL, 0, &res, 1,
                             &v.err), TW_OK);
  ASSERT_EQ_INT(res.of.i32, 2); /* growth past the image still works */
  arg = tw_val_i32(3 * 65536);
  ASSERT_EQ_INT(tw_func_call(v.store, func(i, "get"), &arg, 1, &res, 1,
                             &v.err), TW_TRAP);
  /* too short a file, an unaligned offset */
  ASSERT_EQ_INT(tw_memory_map_image(mem, fd, 0, 3, &v.err), TW_IO);
  ASSERT_EQ_INT(tw_memory_map_image(mem, fd, 100, 1, &v.err), TW_ARG);
  close(fd);
  tw_module_free(m);
  teardown(&v);
}

TEST_MAIN()
