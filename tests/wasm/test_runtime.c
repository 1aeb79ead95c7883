/* Unit tests of the runtime objects: errors, the engine's type table,
 * memories (reservation, growth, guard faults), tables, globals, host
 * functions and calls from the embedder. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "wasm/wasm_int.h"

static tw_engine_t *engine_with(uint32_t max_pages, uint32_t max_elems) {
  tw_engine_config c = {0};
  c.max_memory_pages = max_pages;
  c.max_table_elements = max_elems;
  tw_engine_t *e = NULL;
  if (tw_engine_new(&c, &e, NULL) != TW_OK) return NULL;
  return e;
}

/* ---- errors ----------------------------------------------------------- */

TEST(error_names) {
  ASSERT_EQ_STR(tw_status_name(TW_MALFORMED), "MALFORMED");
  ASSERT_EQ_STR(tw_status_message(TW_UNLINKABLE), "unlinkable");
  ASSERT_EQ_STR(tw_trap_message(TW_TRAP_DIV_ZERO), "integer divide by zero");
  ASSERT_EQ_STR(tw_status_name((tw_status)999), "UNKNOWN");
  ASSERT_EQ_STR(tw_trap_message((tw_trap_code)999), "unknown trap");
}

TEST(error_set_and_clear) {
  tw_error err;
  ASSERT_EQ_INT(tw__error_set(&err, TW_INVALID, 17, "type mismatch in %s",
                              "i32.add"), TW_INVALID);
  ASSERT_EQ_INT(err.status, TW_INVALID);
  ASSERT_EQ_U64(err.offset, 17);
  ASSERT_EQ_INT(err.trap, TW_TRAP_NONE);
  ASSERT_EQ_STR(err.message, "type mismatch in i32.add");
  tw_error_clear(&err);
  ASSERT_EQ_INT(err.status, TW_OK);
  ASSERT_EQ_STR(err.message, "");
  ASSERT_EQ_INT(tw__error_set(NULL, TW_ARG, SIZE_MAX, "x"), TW_ARG);
  ASSERT_EQ_INT(tw__trap(&err, TW_TRAP_UNREACHABLE), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_UNREACHABLE);
  ASSERT_EQ_STR(err.message, "unreachable");
  ASSERT_EQ_INT(tw_trap_set(&err, TW_TRAP_HOST, "fd %d is closed", 3),
                TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_HOST);
  ASSERT_EQ_STR(err.message, "fd 3 is closed");
}

TEST(error_format) {
  tw_error err;
  char buf[512];
  tw__error_set(&err, TW_MALFORMED, 8, "unexpected end");
  ASSERT_EQ_STR(tw_error_format(&err, buf, sizeof buf), "unexpected end");
  tw__trap(&err, TW_TRAP_MEMORY_OOB);
  err.frame_count = 2;
  err.frames_total = 5;
  err.frames[0].func_index = 7;
  snprintf(err.frames[0].name, sizeof err.frames[0].name, "load");
  err.frames[1].func_index = 2;
  err.frames[1].name[0] = '\0';
  tw_error_format(&err, buf, sizeof buf);
  ASSERT_EQ_STR(buf, "out of bounds memory access\n  #0 func[7] load\n"
                     "  #1 func[2]\n  ... 3 more frames");
  /* truncation keeps the buffer terminated */
  char small[10];
  tw_error_format(&err, small, sizeof small);
  ASSERT_EQ_STR(small, "out of bo");
  tw_error_clear(&err);
  ASSERT_EQ_STR(tw_error_format(&err, buf, sizeof buf), "ok");
}

/* ---- the engine's canonical types -------------------------------------- */

TEST(type_interning) {
  tw_engine_t *e = engine_with(0, 0);
  ASSERT(e);
  uint8_t a[] = {TW_I32, TW_I64, TW_F32};
  uint8_t b[] = {TW_I32, TW_I64, TW_F32};
  tw__functype ta = {2, 1, a}, tb = {2, 1, b}, tc = {1, 2, a};
  uint32_t ia, ib, ic, iv1, iv2;
  tw__functype tv = {0, 0, NULL};
  ASSERT_EQ_INT(tw__engine_intern_type(e, &ta, &ia, NULL), TW_OK);
  ASSERT_EQ_INT(tw__engine_intern_type(e, &tb, &ib, NULL), TW_OK);
  ASSERT_EQ_INT(tw__engine_intern_type(e, &tc, &ic, NULL), TW_OK);
  ASSERT_EQ_INT(tw__engine_intern_type(e, &tv, &iv1, NULL), TW_OK);
  ASSERT_EQ_INT(tw__engine_intern_type(e, &tv, &iv2, NULL), TW_OK);
  ASSERT_EQ_INT(ia, ib);
  ASSERT(ia != ic);
  ASSERT_EQ_INT(iv1, iv2);
  const tw__functype *first = tw__engine_type(e, ia);
  /* enough distinct types to grow the buckets and commit more entries;
     earlier entries must neither move nor change */
  uint8_t many[3];
  for (uint32_t i = 0; i < 20000; i++) {
    many[0] = (uint8_t)(0x7C + i % 4);
    many[1] = (uint8_t)(0x7C + i / 4 % 4);
    many[2] = (uint8_t)(0x7C + i / 16 % 4);
    tw__functype t = {(uint32_t)(i / 64), 3, many};
    uint8_t *big = calloc(t.nparams + 3, 1);
    ASSERT(big);
    memset(big, TW_I32, t.nparams);
    memcpy(big + t.nparams, many, 3);
    t.types = big;
    uint32_t id, again;
    tw_status st = tw__engine_intern_type(e, &t, &id, NULL);
    tw_status st2 = tw__engine_intern_type(e, &t, &again, NULL);
    free(big);
    ASSERT_EQ_INT(st, TW_OK);
    ASSERT_EQ_INT(st2, TW_OK);
    ASSERT_EQ_INT(id, again);
  }
  ASSERT(tw__engine_type(e, ia) == first);
  ASSERT_EQ_INT(first->nparams, 2);
  ASSERT_EQ_INT(first->types[2], TW_F32);
  ASSERT_EQ_INT(tw__engine_intern_type(e, &ta, &ib, NULL), TW_OK);
  ASSERT_EQ_INT(ia, ib);
  tw_engine_free(e);
}

/* Threads interning the same types in different orders get the same ids. */
typedef struct intern_job {
  tw_engine_t *e;
  int reverse;
  uint32_t ids[512];
  int failed;
} intern_job;

static void *intern_many(void *arg) {
  intern_job *job = arg;
  for (int k = 0; k < 512; k++) {
    int i = job->reverse ? 511 - k : k;
    uint8_t types[9];
    for (int b = 0; b < 9; b++) types[b] = (i >> b) & 1 ? TW_I64 : TW_I32;
    tw__functype t = {4, 5, types};
    if (tw__engine_intern_type(job->e, &t, &job->ids[i], NULL) != TW_OK)
      job->failed = 1;
  }
  return NULL;
}

TEST(type_interning_threads) {
  tw_engine_t *e = engine_with(0, 0);
  ASSERT(e);
  intern_job jobs[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].e = e;
    jobs[i].reverse = i & 1;
    ASSERT_EQ_INT(pthread_create(&th[i], NULL, intern_many, &jobs[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ_INT(jobs[i].failed, 0);
    for (int k = 0; k < 512; k++) ASSERT_EQ_INT(jobs[i].ids[k], jobs[0].ids[k]);
  }
  ASSERT_EQ_INT(e->nctypes, 512);
  tw_engine_free(e);
}

/* ---- memories ------------------------------------------------------------ */

TEST(memory_grow_and_limits) {
  tw_engine_t *e = engine_with(4, 0);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  tw_memory_t *m = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_memory_new(s, 1, 3, true, &m, &err), TW_OK);
  ASSERT_EQ_INT(tw_memory_pages(m), 1);
  ASSERT_EQ_U64(tw_memory_size(m), 65536);
  uint8_t *base = tw_memory_data(m);
  ASSERT(base);
  base[0] = 1;
  base[65535] = 2;
  uint32_t old = 99;
  ASSERT_EQ_INT(tw_memory_grow(m, 1, &old, &err), TW_OK);
  ASSERT_EQ_INT(old, 1);
  ASSERT(tw_memory_data(m) == base); /* never moves */
  ASSERT_EQ_INT(base[65536], 0);     /* new pages are zero */
  ASSERT_EQ_INT(base[2 * 65536 - 1], 0);
  base[2 * 65536 - 1] = 3;
  ASSERT_EQ_INT(tw_memory_grow(m, 2, &old, &err), TW_LIMIT);
  ASSERT_CONTAINS(err.message, "maximum is 3");
  ASSERT_EQ_INT(tw__memory_grow(m, 2), -1);
  ASSERT_EQ_INT(tw__memory_grow(m, 0), 2);
  ASSERT_EQ_INT(tw__memory_grow(m, 1), 2);
  ASSERT_EQ_INT(tw_memory_pages(m), 3);
  ASSERT_EQ_INT(base[0], 1);

  /* no declared max: the engine cap (4) applies */
  tw_memory_t *m2 = NULL;
  ASSERT_EQ_INT(tw_memory_new(s, 0, 0, false, &m2, &err), TW_OK);
  ASSERT(tw_memory_data(m2) != NULL); /* zero pages still have a base */
  ASSERT_EQ_INT(tw__memory_grow(m2, 4), 0);
  ASSERT_EQ_INT(tw__memory_grow(m2, 1), -1);
  ASSERT_EQ_INT(tw_memory_new(s, 5, 0, false, &m2, &err), TW_LIMIT);
  ASSERT(m2 == NULL);
  ASSERT_EQ_INT(tw_memory_new(s, 3, 2, true, &m2, &err), TW_ARG);
  ASSERT_EQ_INT(tw_memory_new(s, 0, 65537, true, &m2, &err), TW_ARG);
  tw_store_free(s);
  tw_engine_free(e);
}

TEST(memory_guard_fault_traps_in_scope) {
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  tw_memory_t *m = NULL;
  ASSERT_EQ_INT(tw_memory_new(s, 1, 0, false, &m, NULL), TW_OK);
  const uint64_t offsets[] = {65536, 65536 + 4095, (uint64_t)UINT32_MAX,
                              2ull * UINT32_MAX + 8};
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    tw__trap_scope scope;
    memset(&scope, 0, sizeof scope);
    scope.prev = tw__trap_current;
    scope.mem_lo = m->base;
    scope.mem_hi = m->base + m->reserved;
    volatile int trapped = 0;
    tw__trap_current = &scope;
    if (sigsetjmp(scope.jmp, 0) == 0) {
      scope.active = 1;
      volatile uint8_t *p = m->base + offsets[i];
      *p = 1;
      scope.active = 0;
    } else {
      trapped = 1;
    }
    scope.active = 0;
    tw__trap_current = scope.prev;
    if (!trapped) TW__FAIL("write at offset %" PRIu64 " did not trap",
                           offsets[i]);
  }
  tw_store_free(s);
  tw_engine_free(e);
}

/* Runs fn in a child process; returns 128 + the signal that ended it, or
 * its exit status (3: setup failed, 4: the fault was swallowed). */
static int child_status(void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void touch_guard_without_scope(void) {
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  tw_memory_t *m = NULL;
  if (!e || tw_store_new(e, &s, NULL) || tw_memory_new(s, 1, 0, false, &m,
                                                       NULL))
    _exit(3);
  *(volatile uint8_t *)(m->base + 65536) = 1;
}

static void touch_elsewhere_in_active_scope(void) {
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  tw_memory_t *m = NULL;
  if (!e || tw_store_new(e, &s, NULL) || tw_memory_new(s, 1, 0, false, &m,
                                                       NULL))
    _exit(3);
  uint8_t *other = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
  if (other == MAP_FAILED) _exit(3);
  static tw__trap_scope scope;
  scope.mem_lo = m->base;
  scope.mem_hi = m->base + m->reserved;
  tw__trap_current = &scope;
  if (sigsetjmp(scope.jmp, 0) == 0) {
    scope.active = 1;
    *(volatile uint8_t *)other = 1;
  }
  _exit(4); /* swallowed: wrong */
}

/* A crash is SIGSEGV, or under a sanitizer its report's non-zero exit. */
static int crashed(int st) { return st == 128 + SIGSEGV || (st && st < 3); }

TEST(memory_real_faults_still_crash) {
  int st = child_status(touch_guard_without_scope);
  if (!crashed(st)) TW__FAIL("guard write without a scope: status %d", st);
  st = child_status(touch_elsewhere_in_active_scope);
  if (!crashed(st)) TW__FAIL("fault outside the memory: status %d", st);
}

/* ---- tables -------------------------------------------------------------- */

TEST(table_bounds_and_grow) {
  tw_engine_t *e = engine_with(0, 6);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  tw_table_t *t = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_table_new(s, TW_EXTERNREF, 2, 4, true, &t, &err), TW_OK);
  ASSERT_EQ_INT(tw_table_size(t), 2);
  tw_val v;
  ASSERT_EQ_INT(tw_table_get(t, 1, &v, &err), TW_OK);
  ASSERT_EQ_INT(v.type, TW_EXTERNREF);
  ASSERT(v.of.externref == NULL);
  ASSERT_EQ_INT(tw_table_get(t, 2, &v, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_TABLE_OOB);
  ASSERT_EQ_STR(err.message, "out of bounds table access");
  int x;
  tw_val ref = {.type = TW_EXTERNREF};
  ref.of.externref = &x;
  ASSERT_EQ_INT(tw_table_set(t, 0, ref, &err), TW_OK);
  ASSERT_EQ_INT(tw_table_set(t, 2, ref, &err), TW_TRAP);
  ASSERT_EQ_INT(tw_table_set(t, 0, tw_val_i32(1), &err), TW_ARG);
  ASSERT_EQ_INT(tw_table_get(t, 0, &v, &err), TW_OK);
  ASSERT(v.of.externref == &x);
  ASSERT_EQ_INT(tw__table_grow(t, 2, &x), 2);
  ASSERT_EQ_INT(tw_table_size(t), 4);
  ASSERT_EQ_INT(tw_table_get(t, 3, &v, &err), TW_OK);
  ASSERT(v.of.externref == &x);
  ASSERT_EQ_INT(tw__table_grow(t, 1, NULL), -1); /* declared max 4 */
  ASSERT_EQ_INT(tw__table_grow(t, 0, NULL), 4);

  tw_table_t *u = NULL; /* no max: the engine cap (6) applies */
  ASSERT_EQ_INT(tw_table_new(s, TW_FUNCREF, 0, 0, false, &u, &err), TW_OK);
  ASSERT_EQ_INT(tw__table_grow(u, 6, NULL), 0);
  ASSERT_EQ_INT(tw__table_grow(u, 1, NULL), -1);
  ASSERT_EQ_INT(tw_table_new(s, TW_FUNCREF, 7, 0, false, &u, &err), TW_LIMIT);
  ASSERT_EQ_INT(tw_table_new(s, TW_I32, 0, 0, false, &u, &err), TW_ARG);
  tw_store_free(s);
  tw_engine_free(e);
}

/* ---- globals ------------------------------------------------------------- */

TEST(global_mutability) {
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  tw_global_t *g = NULL, *h = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_global_new(s, tw_val_i32(-5), false, &g, &err), TW_OK);
  ASSERT_EQ_INT(tw_global_get(g).of.i32, -5);
  ASSERT_EQ_U64(g->value, 0xFFFFFFFBu); /* upper slot bits are zero */
  ASSERT_EQ_INT(tw_global_set(g, tw_val_i32(1), &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "immutable");
  ASSERT_EQ_INT(tw_global_new(s, tw_val_f64(2.5), true, &h, &err), TW_OK);
  ASSERT_EQ_INT(tw_global_set(h, tw_val_f64(-1.0), &err), TW_OK);
  ASSERT(tw_val_as_f64(tw_global_get(h)) == -1.0);
  ASSERT_EQ_INT(tw_global_set(h, tw_val_f32(1.0f), &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "global holds f64, got a f32 value");
  tw_store_free(s);
  tw_engine_free(e);
}

/* ---- host functions ------------------------------------------------------ */

static int env_freed;
static void count_free(void *env) { env_freed += *(int *)env; }

static tw_status host_add(tw_caller_t *caller, void *env, uint64_t *slots,
                          tw_error *err) {
  (void)env;
  if (tw_caller_store(caller) == NULL) return TW_ARG;
  int32_t a = (int32_t)slots[0], b = (int32_t)slots[1];
  if (b == 0) return tw_trap_set(err, TW_TRAP_HOST, "b must not be %d", b);
  slots[0] = (uint32_t)(a + b);
  return TW_OK;
}

TEST(host_function_types_and_calls) {
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  tw_valtype params[] = {TW_I32, TW_I32}, results[] = {TW_I32};
  static int one = 1;
  tw_func_t *f = NULL, *g = NULL;
  tw_error err;
  env_freed = 0;
  ASSERT_EQ_INT(tw_func_new_host(s, params, 2, results, 1, host_add, &one,
                                 count_free, &f, &err), TW_OK);
  ASSERT_EQ_INT(tw_func_new_host(s, params, 2, results, 1, host_add, &one,
                                 count_free, &g, &err), TW_OK);
  ASSERT_EQ_INT(f->type_id, g->type_id);
  ASSERT_EQ_INT(tw_func_param_count(f), 2);
  ASSERT_EQ_INT(tw_func_result_count(f), 1);
  ASSERT_EQ_INT(tw_func_param_type(f, 1), TW_I32);
  ASSERT_EQ_INT(tw_func_result_type(f, 0), TW_I32);
  ASSERT_EQ_INT(tw_func_result_type(f, 1), 0);

  tw_valtype bad[] = {(tw_valtype)0x55};
  ASSERT_EQ_INT(tw_func_new_host(s, bad, 1, NULL, 0, host_add, NULL, NULL, &g,
                                 &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "param 0");

  tw_val args[2] = {tw_val_i32(40), tw_val_i32(2)}, res[1];
  ASSERT_EQ_INT(tw_func_call(s, f, args, 1, res, 1, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "takes 2 arguments, got 1");
  args[1] = tw_val_i64(2);
  ASSERT_EQ_INT(tw_func_call(s, f, args, 2, res, 1, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "argument 1: expected i32, got i64");
  args[1] = tw_val_i32(2);
  ASSERT_EQ_INT(tw_func_call(s, f, args, 2, res, 0, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "returns 1 result");
  ASSERT_EQ_INT(tw_func_call(s, f, args, 2, res, 1, &err), TW_OK);
  ASSERT_EQ_INT(res[0].type, TW_I32);
  ASSERT_EQ_INT(res[0].of.i32, 42);
  args[1] = tw_val_i32(0);
  ASSERT_EQ_INT(tw_func_call(s, f, args, 2, res, 1, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_HOST);
  ASSERT_CONTAINS(err.message, "b must not be 0");

  tw_store_free(s);
  ASSERT_EQ_INT(env_freed, 2);
  tw_engine_free(e);
}

TEST(values_and_store_basics) {
  ASSERT_EQ_STR(tw_valtype_name(TW_EXTERNREF), "externref");
  ASSERT_EQ_STR(tw_valtype_name((tw_valtype)1), "unknown");
  tw_val v = tw_val_f32(-0.0f);
  ASSERT_EQ_U64(v.of.f32_bits, 0x80000000u);
  ASSERT(tw_val_as_f32(tw_val_f32(1.5f)) == 1.5f);
  tw_engine_t *e = engine_with(0, 0);
  tw_store_t *s = NULL;
  ASSERT(e && tw_store_new(e, &s, NULL) == TW_OK);
  ASSERT_EQ_U64(tw_store_fuel(s), UINT64_MAX);
  tw_store_set_fuel(s, 10);
  ASSERT_EQ_U64(tw_store_fuel(s), 10);
  tw_store_interrupt(s);
  ASSERT_EQ_INT(atomic_load(&s->checks), TW__CHECK_INTERRUPT | TW__CHECK_FUEL);
  ASSERT_EQ_INT(e->config.max_call_depth, 20000);
  ASSERT_EQ_INT(e->config.max_memory_pages, 65536);
  tw_store_free(s);
  tw_engine_free(e);
}

/* ---- embedded modules ---------------------------------------------- */

/* wat2wasm of:
 * (module
 *   (import "env" "add" (func $add (param i32 i32) (result i32)))
 *   (import "env" "g" (global $g i32))
 *   (memory (export "mem") 1 2)
 *   (table $t 4 funcref)
 *   (global $count (mut i32) (i32.const 0))
 *   (global $copy i32 (global.get $g))
 *   (global $fref funcref (ref.func $double))
 *   (data (i32.const 16) "hello")
 *   (elem (i32.const 1) $double $add)
 *   (elem declare func $double)
 *   (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
 *   (func $start (global.set $count (i32.add (global.get $count) (i32.const 1))))
 *   (start $start)
 *   (func (export "count") (result i32) (global.get $count))
 *   (func (export "copy") (result i32) (global.get $copy))
 *   (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
 *   (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
 *   (func (export "call_add") (param i32 i32) (result i32)
 *     (call $add (local.get 0) (local.get 1)))
 *   (func (export "indirect") (param i32 i32) (result i32)
 *     (call_indirect (param i32) (result i32) (local.get 1) (local.get 0)))
 *   (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
 *   (export "double" (func $double))
 *   (export "add" (func $add))
 *   (export "t" (table $t))
 *   (export "count_g" (global $count))
 * ) */
static const uint8_t main_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x04, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00,
  0x00, 0x60, 0x00, 0x01, 0x7f, 0x02, 0x14, 0x02, 0x03, 0x65, 0x6e, 0x76,
  0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67,
  0x03, 0x7f, 0x00, 0x03, 0x0a, 0x09, 0x01, 0x02, 0x03, 0x03, 0x01, 0x01,
  0x00, 0x00, 0x01, 0x04, 0x04, 0x01, 0x70, 0x00, 0x04, 0x05, 0x04, 0x01,
  0x01, 0x01, 0x02, 0x06, 0x10, 0x03, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f,
  0x00, 0x23, 0x00, 0x0b, 0x70, 0x00, 0xd2, 0x01, 0x0b, 0x07, 0x5f, 0x0c,
  0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74,
  0x00, 0x03, 0x04, 0x63, 0x6f, 0x70, 0x79, 0x00, 0x04, 0x05, 0x6c, 0x6f,
  0x61, 0x64, 0x38, 0x00, 0x05, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x06,
  0x08, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x07, 0x08,
  0x69, 0x6e, 0x64, 0x69, 0x72, 0x65, 0x63, 0x74, 0x00, 0x08, 0x04, 0x67,
  0x72, 0x6f, 0x77, 0x00, 0x09, 0x06, 0x64, 0x6f, 0x75, 0x62, 0x6c, 0x65,
  0x00, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x01, 0x74, 0x01, 0x00,
  0x07, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x5f, 0x67, 0x03, 0x01, 0x08, 0x01,
  0x02, 0x09, 0x0c, 0x02, 0x00, 0x41, 0x01, 0x0b, 0x02, 0x01, 0x00, 0x03,
  0x00, 0x01, 0x01, 0x0a, 0x47, 0x09, 0x07, 0x00, 0x20, 0x00, 0x41, 0x02,
  0x6c, 0x0b, 0x09, 0x00, 0x23, 0x01, 0x41, 0x01, 0x6a, 0x24, 0x01, 0x0b,
  0x04, 0x00, 0x23, 0x01, 0x0b, 0x04, 0x00, 0x23, 0x02, 0x0b, 0x07, 0x00,
  0x20, 0x00, 0x2d, 0x00, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02,
  0x00, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x00, 0x0b, 0x09,
  0x00, 0x20, 0x01, 0x20, 0x00, 0x11, 0x01, 0x00, 0x0b, 0x06, 0x00, 0x20,
  0x00, 0x40, 0x00, 0x0b, 0x0b, 0x0b, 0x01, 0x00, 0x41, 0x10, 0x0b, 0x05,
  0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* wat2wasm of:
 * (module
 *   (import "env" "f" (func (param i32)))
 *   (import "env" "m" (memory 2 4))
 *   (import "env" "t" (table 2 funcref))
 *   (import "env" "g" (global (mut i64)))
 * ) */
static const uint8_t imports_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
  0x01, 0x7f, 0x00, 0x02, 0x26, 0x04, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66,
  0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x6d, 0x02, 0x01, 0x02, 0x04,
  0x03, 0x65, 0x6e, 0x76, 0x01, 0x74, 0x01, 0x70, 0x00, 0x02, 0x03, 0x65,
  0x6e, 0x76, 0x01, 0x67, 0x03, 0x7e, 0x01,
};

/* wat2wasm of:
 * (module
 *   (import "env" "m" (memory 1))
 *   (import "env" "t" (table 2 funcref))
 *   (func $f)
 *   (elem (i32.const 0) $f)
 *   (elem (i32.const 1) $f $f)
 *   (data (i32.const 0) "a")
 * ) */
static const uint8_t oob_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
  0x00, 0x00, 0x02, 0x14, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x6d, 0x02,
  0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x74, 0x01, 0x70, 0x00, 0x02,
  0x03, 0x02, 0x01, 0x00, 0x09, 0x0e, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x01,
  0x00, 0x00, 0x41, 0x01, 0x0b, 0x02, 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02,
  0x00, 0x0b, 0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x61,
};

/* wat2wasm of:
 * (module
 *   (import "env" "m" (memory 1))
 *   (data (i32.const 0) "a")
 *   (data (i32.const 65535) "bc")
 * ) */
static const uint8_t oobdata_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x01, 0x03,
  0x65, 0x6e, 0x76, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x0b, 0x10, 0x02, 0x00,
  0x41, 0x00, 0x0b, 0x01, 0x61, 0x00, 0x41, 0xff, 0xff, 0x03, 0x0b, 0x02,
  0x62, 0x63,
};

/* ---- modules and instances ------------------------------------------- */

typedef struct fixture {
  tw_engine_t *e;
  tw_store_t *s;
  tw_module_t *m;
} fixture;

static bool fixture_open(fixture *fx, const uint8_t *bytes, size_t len) {
  memset(fx, 0, sizeof *fx);
  tw_error err;
  fx->e = engine_with(0, 0);
  if (!fx->e || tw_store_new(fx->e, &fx->s, &err)) return false;
  if (tw_module_new(fx->e, bytes, len, &fx->m, &err)) {
    fprintf(stderr, "  module: %s\n", err.message);
    return false;
  }
  return true;
}

static void fixture_close(fixture *fx) {
  tw_store_free(fx->s);
  tw_module_free(fx->m);
  tw_engine_free(fx->e);
}

static tw_status call_i32(tw_store_t *s, tw_instance_t *inst,
                          const char *name, const tw_val *args, size_t n,
                          int32_t *result, tw_error *err) {
  tw_extern ex;
  if (tw_instance_export(inst, name, strlen(name), &ex) != TW_OK ||
      ex.kind != TW_EXTERN_FUNC)
    return TW_NOT_FOUND;
  tw_val r[1];
  tw_status st = tw_func_call(s, ex.of.func, args, n, r, 1, err);
  if (st == TW_OK) *result = r[0].of.i32;
  return st;
}

TEST(instance_main) {
  fixture fx;
  ASSERT(fixture_open(&fx, main_wasm, sizeof main_wasm));
  ASSERT_EQ_INT(tw_module_import_count(fx.m), 2);
  tw_import_desc d = tw_module_import(fx.m, 1);
  ASSERT_EQ_INT(d.kind, TW_EXTERN_GLOBAL);
  ASSERT(d.name.len == 1 && d.name.data[0] == 'g');
  ASSERT_EQ_INT(tw_module_export_count(fx.m), 12);
  ASSERT_EQ_INT(tw_module_export(fx.m, 0).kind, TW_EXTERN_MEMORY);

  tw_valtype p2[] = {TW_I32, TW_I32}, r1[] = {TW_I32};
  tw_func_t *add = NULL;
  tw_global_t *g = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_func_new_host(fx.s, p2, 2, r1, 1, host_add, NULL, NULL,
                                 &add, &err), TW_OK);
  ASSERT_EQ_INT(tw_global_new(fx.s, tw_val_i32(77), false, &g, &err), TW_OK);
  tw_extern imports[2] = {{.kind = TW_EXTERN_FUNC, .of.func = add},
                          {.kind = TW_EXTERN_GLOBAL, .of.global = g}};
  tw_instance_t *inst = NULL;
  tw_status st = tw_instance_new(fx.s, fx.m, imports, 2, &inst, &err);
  if (st != TW_OK) TW__FAIL("instantiate: %s", err.message);
  ASSERT(tw_instance_module(inst) == fx.m);

  int32_t r = 0;
  ASSERT_EQ_INT(call_i32(fx.s, inst, "count", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 1); /* the start function ran once */
  ASSERT_EQ_INT(call_i32(fx.s, inst, "copy", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 77);
  tw_val a = tw_val_i32(17);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "load8", &a, 1, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 'e');
  tw_val ab[2] = {tw_val_i32(40), tw_val_i32(2)};
  ASSERT_EQ_INT(call_i32(fx.s, inst, "call_add", ab, 2, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 42);
  ab[0] = tw_val_i32(1); /* table[1] = $double */
  ab[1] = tw_val_i32(21);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "indirect", ab, 2, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 42);
  ab[0] = tw_val_i32(0); /* table[0] is null */
  ASSERT_EQ_INT(call_i32(fx.s, inst, "indirect", ab, 2, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_UNINITIALIZED_ELEMENT);
  ab[0] = tw_val_i32(2); /* table[2] = $add, wrong type */
  ASSERT_EQ_INT(call_i32(fx.s, inst, "indirect", ab, 2, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_INDIRECT_MISMATCH);

  /* a load past the end faults into the guard region and traps */
  a = tw_val_i32(65534);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "load", &a, 1, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_MEMORY_OOB);
  ASSERT_CONTAINS(err.message, "out of bounds memory access");
  a = tw_val_i32(1);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "grow", &a, 1, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 1);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "grow", &a, 1, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, -1); /* declared max 2 */
  a = tw_val_i32(65534);
  ASSERT_EQ_INT(call_i32(fx.s, inst, "load", &a, 1, &r, &err), TW_OK);
  ASSERT_EQ_INT(r, 0);

  tw_extern ex;
  tw_store_t *other = NULL;
  ASSERT_EQ_INT(tw_store_new(fx.e, &other, &err), TW_OK);
  ASSERT_EQ_INT(tw_instance_export(inst, "double", 6, &ex), TW_OK);
  a = tw_val_i32(4);
  tw_val rv[1];
  ASSERT_EQ_INT(tw_func_call(other, ex.of.func, &a, 1, rv, 1, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "another store");
  tw_store_free(other);
  ASSERT_EQ_INT(tw_instance_export(inst, "add", 3, &ex), TW_OK);
  ASSERT(ex.of.func == add); /* a re-exported import is the object itself */
  ASSERT_EQ_INT(tw_instance_export(inst, "nope", 4, &ex), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_instance_export(inst, "t", 1, &ex), TW_OK);
  ASSERT_EQ_INT(ex.kind, TW_EXTERN_TABLE);
  ASSERT_EQ_INT(tw_table_size(ex.of.table), 4);
  tw_val tv;
  ASSERT_EQ_INT(tw_table_get(ex.of.table, 2, &tv, &err), TW_OK);
  ASSERT(tv.of.funcref == add);
  ASSERT_EQ_INT(tw_instance_export(inst, "count_g", 7, &ex), TW_OK);
  ASSERT_EQ_INT(tw_global_get(ex.of.global).of.i32, 1);
  ASSERT_EQ_INT(tw_instance_export(inst, "mem", 3, &ex), TW_OK);
  ASSERT(ex.of.memory == tw_instance_memory(inst));
  ASSERT(memcmp(tw_memory_data(ex.of.memory) + 16, "hello", 5) == 0);
  ASSERT_EQ_INT(tw_memory_pages(ex.of.memory), 2);
  fixture_close(&fx);
}

TEST(instance_import_mismatches) {
  fixture fx;
  ASSERT(fixture_open(&fx, imports_wasm, sizeof imports_wasm));
  tw_error err;
  tw_valtype p1[] = {TW_I32}, p1b[] = {TW_I64};
  tw_func_t *f = NULL, *fbad = NULL;
  tw_memory_t *m = NULL, *msmall = NULL, *mnomax = NULL;
  tw_table_t *t = NULL, *text = NULL;
  tw_global_t *g = NULL, *gconst = NULL;
  ASSERT_EQ_INT(tw_func_new_host(fx.s, p1, 1, NULL, 0, host_add, NULL, NULL,
                                 &f, &err), TW_OK);
  ASSERT_EQ_INT(tw_func_new_host(fx.s, p1b, 1, NULL, 0, host_add, NULL, NULL,
                                 &fbad, &err), TW_OK);
  ASSERT_EQ_INT(tw_memory_new(fx.s, 3, 4, true, &m, &err), TW_OK);
  ASSERT_EQ_INT(tw_memory_new(fx.s, 1, 4, true, &msmall, &err), TW_OK);
  ASSERT_EQ_INT(tw_memory_new(fx.s, 2, 0, false, &mnomax, &err), TW_OK);
  ASSERT_EQ_INT(tw_table_new(fx.s, TW_FUNCREF, 5, 0, false, &t, &err), TW_OK);
  ASSERT_EQ_INT(tw_table_new(fx.s, TW_EXTERNREF, 5, 0, false, &text, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_global_new(fx.s, tw_val_i64(1), true, &g, &err), TW_OK);
  ASSERT_EQ_INT(tw_global_new(fx.s, tw_val_i64(1), false, &gconst, &err),
                TW_OK);
  tw_extern im[4] = {{.kind = TW_EXTERN_FUNC, .of.func = f},
                     {.kind = TW_EXTERN_MEMORY, .of.memory = m},
                     {.kind = TW_EXTERN_TABLE, .of.table = t},
                     {.kind = TW_EXTERN_GLOBAL, .of.global = g}};
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_instance_new(fx.s, fx.m, im, 3, &inst, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "module has 4 imports, 3 were given");
  tw_status st = tw_instance_new(fx.s, fx.m, im, 4, &inst, &err);
  if (st != TW_OK) TW__FAIL("instantiate: %s", err.message);

  struct { int slot; tw_extern ext; const char *want; } cases[] = {
    {0, {.kind = TW_EXTERN_MEMORY, .of.memory = m},
     "import 0 (env.f): incompatible import type: expected func, got memory"},
    {0, {.kind = TW_EXTERN_FUNC, .of.func = fbad},
     "incompatible import type: expected func (i32) -> (), got func (i64) -> ()"},
    {0, {.kind = TW_EXTERN_FUNC, .of.func = NULL}, "unknown import"},
    {1, {.kind = TW_EXTERN_MEMORY, .of.memory = msmall},
     "import 1 (env.m): incompatible import type: expected memory limits "
     "{min 2, max 4} (pages), got {min 1, max 4}"},
    {1, {.kind = TW_EXTERN_MEMORY, .of.memory = mnomax},
     "got {min 2, no max}"},
    {2, {.kind = TW_EXTERN_TABLE, .of.table = text},
     "expected a funcref table, got a externref table"},
    {3, {.kind = TW_EXTERN_GLOBAL, .of.global = gconst},
     "expected mutable i64 global, got i64 global"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tw_extern bad[4];
    memcpy(bad, im, sizeof bad);
    bad[cases[i].slot] = cases[i].ext;
    ASSERT_EQ_INT(tw_instance_new(fx.s, fx.m, bad, 4, &inst, &err),
                  TW_UNLINKABLE);
    ASSERT(inst == NULL);
    ASSERT_CONTAINS(err.message, cases[i].want);
  }
  fixture_close(&fx);
}

TEST(instance_segment_traps_keep_earlier_writes) {
  fixture fx;
  ASSERT(fixture_open(&fx, oob_wasm, sizeof oob_wasm));
  tw_error err;
  tw_memory_t *m = NULL;
  tw_table_t *t = NULL;
  ASSERT_EQ_INT(tw_memory_new(fx.s, 1, 0, false, &m, &err), TW_OK);
  ASSERT_EQ_INT(tw_table_new(fx.s, TW_FUNCREF, 2, 0, false, &t, &err), TW_OK);
  tw_extern im[2] = {{.kind = TW_EXTERN_MEMORY, .of.memory = m},
                     {.kind = TW_EXTERN_TABLE, .of.table = t}};
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_instance_new(fx.s, fx.m, im, 2, &inst, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_TABLE_OOB);
  ASSERT_CONTAINS(err.message, "out of bounds table access");
  tw_val v;
  ASSERT_EQ_INT(tw_table_get(t, 0, &v, &err), TW_OK);
  ASSERT(v.of.funcref != NULL); /* the first segment's write stays */
  ASSERT_EQ_INT(tw_table_get(t, 1, &v, &err), TW_OK);
  ASSERT(v.of.funcref == NULL); /* the second wrote nothing */
  ASSERT_EQ_INT(tw_memory_data(m)[0], 0); /* data comes after elements */
  fixture_close(&fx);

  ASSERT(fixture_open(&fx, oobdata_wasm, sizeof oobdata_wasm));
  ASSERT_EQ_INT(tw_memory_new(fx.s, 1, 0, false, &m, &err), TW_OK);
  im[0].of.memory = m;
  ASSERT_EQ_INT(tw_instance_new(fx.s, fx.m, im, 1, &inst, &err), TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_MEMORY_OOB);
  ASSERT_CONTAINS(err.message, "out of bounds memory access");
  ASSERT_EQ_INT(tw_memory_data(m)[0], 'a');
  ASSERT_EQ_INT(tw_memory_data(m)[65535], 0);
  fixture_close(&fx);
}

TEST(module_rejects_garbage) {
  tw_engine_t *e = engine_with(0, 0);
  ASSERT(e);
  static const uint8_t junk[] = {0, 'a', 's', 'n', 2, 0, 0, 0};
  tw_module_t *m = (tw_module_t *)&m;
  tw_error err;
  ASSERT(tw_module_new(e, junk, sizeof junk, &m, &err) != TW_OK);
  ASSERT(m == NULL);
  ASSERT(tw_module_validate(e, junk, sizeof junk, &err) != TW_OK);
  ASSERT_EQ_INT(tw_module_validate(e, main_wasm, sizeof main_wasm, &err),
                TW_OK);
  tw_engine_free(e);
}

TEST_MAIN()
