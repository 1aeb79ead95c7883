/* Executor limits: deadlines by epoch interruption (re-armed per call),
 * terminate from another thread, fuel, memory and table caps, call depth,
 * and live-instance caps per tenant and overall.  Time bounds here are
 * generous sanity limits (seconds for a 100 ms deadline), never timings. */
#include <pthread.h>
#include <time.h>

#include "exec_util.h"
#include "test.h"

static const char *guest_wat =
    "(module\n"
    "  (memory 1)\n"
    "  (func (export \"spin\") (loop (br 0)))\n"
    "  (func (export \"quick\") (result i32) (i32.const 7))\n"
    "  (func $rec (export \"recurse\") (param i32) (result i32)\n"
    "    (call $rec (i32.add (local.get 0) (i32.const 1))))\n"
    "  (func (export \"count\") (param i32) (result i32) (local i32)\n"
    "    (loop (local.set 1 (i32.add (local.get 1) (i32.const 1)))\n"
    "          (br_if 0 (i32.lt_u (local.get 1) (local.get 0))))\n"
    "    (local.get 1))\n"
    "  (func (export \"bomb\") (result i32)\n"
    "    (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))\n"
    "    (memory.size)))\n";

static tw_exec_t *exec_with(const tw_exec_config *cfg) {
  tw_exec_t *e = NULL;
  tw_exec_error err;
  if (tw_exec_new(cfg, &e, &err) != TW_OK) return NULL;
  return e;
}

static int spawn(tw_exec_t *e, const tw_spawn_config *sc, tw_instance_id *id,
                 tw_exec_error *err) {
  size_t len;
  uint8_t *w = wat_bytes(guest_wat, &len);
  if (!w) return TW_IO;
  int st = tw_exec_spawn_instance(e, sc, w, len, id, err);
  free(w);
  return st;
}

TEST(infinite_loop_stopped_by_deadline_then_rearmed) {
  tw_exec_t *e = exec_with(NULL);
  ASSERT(e);
  tw_spawn_config sc = {.tenant_id = 1, .deadline_ms = 100};
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(spawn(e, &sc, &id, &err), TW_OK);
  tw_exec_result r;
  uint64_t t0 = monotonic_ms();
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "spin", NULL, 0, &r, &err), TW_TRAP);
  uint64_t took = monotonic_ms() - t0;
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TIMEOUT);
  ASSERT_EQ_STR(tw_exec_error_kind_name(err.kind), "invoke_timeout");
  ASSERT_EQ_U64(err.deadline_ms, 100);
  ASSERT_EQ_U64(err.instance, id);
  ASSERT(err.elapsed_ms >= 100);
  ASSERT(took < 5000);
  ASSERT_CONTAINS(err.base.message, "timed out");
  /* The deadline is per call: the instance answers the next one. */
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "quick", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 7);
  tw_exec_result_free(&r);
  /* And it times out again, counted from its own start. */
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "spin", NULL, 0, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TIMEOUT);
  tw_exec_free(e);
}

typedef struct spin_job {
  tw_exec_t *exec;
  tw_instance_id id;
  tw_status st;
  tw_exec_error err;
} spin_job;

static void *spin_thread(void *arg) {
  spin_job *j = arg;
  j->st = tw_exec_call_export_with_args(j->exec, j->id, "spin", NULL, 0, NULL, &j->err);
  return NULL;
}

TEST(terminate_from_another_thread_interrupts_call) {
  tw_exec_t *e = exec_with(NULL);
  ASSERT(e);
  tw_exec_error err;
  spin_job j = {.exec = e};
  tw_instance_id other;
  ASSERT_EQ_INT(spawn(e, NULL, &j.id, &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, NULL, &other, &err), TW_OK);
  pthread_t t;
  ASSERT_EQ_INT(pthread_create(&t, NULL, spin_thread, &j), 0);
  /* Let the call start (not required for correctness: a terminate that
   * comes first makes the call fail with NOT_FOUND or TERMINATED too). */
  struct timespec ts = {0, 50 * 1000000};
  nanosleep(&ts, NULL);
  uint64_t t0 = monotonic_ms();
  ASSERT_EQ_INT(tw_exec_terminate(e, j.id, &err), TW_OK);
  pthread_join(t, NULL);
  ASSERT(monotonic_ms() - t0 < 5000);
  ASSERT(j.st != TW_OK);
  ASSERT(j.err.kind == TW_EXEC_ERR_TERMINATED || j.err.kind == TW_EXEC_ERR_NOT_FOUND);
  ASSERT_EQ_INT(tw_exec_live_count(e), 1);
  /* The other instance is untouched. */
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, other, "quick", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 7);
  tw_exec_result_free(&r);
  tw_exec_free(e);
}

TEST(fuel_exhaustion) {
  tw_exec_t *e = exec_with(NULL);
  ASSERT(e);
  tw_spawn_config sc = {.fuel = 1000};
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(spawn(e, &sc, &id, &err), TW_OK);
  tw_exec_result r;
  tw_val n = tw_val_i32(100);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "count", &n, 1, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 100);
  tw_exec_result_free(&r);
  n = tw_val_i32(100000);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "count", &n, 1, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_FUEL_EXHAUSTED);
  ASSERT_EQ_INT(err.base.trap, TW_TRAP_OUT_OF_FUEL);
  /* Fuel is per call: a small call succeeds again. */
  n = tw_val_i32(10);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "count", &n, 1, &r, &err), TW_OK);
  tw_exec_result_free(&r);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "spin", NULL, 0, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_FUEL_EXHAUSTED);
  tw_exec_free(e);
}

TEST(memory_bomb_stopped_at_limit) {
  tw_exec_config cfg = {.max_memory_bytes = 4 << 20};
  tw_exec_t *e = exec_with(&cfg);
  ASSERT(e);
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(spawn(e, NULL, &id, &err), TW_OK);
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "bomb", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 64); /* 4 MiB in 64 KiB pages */
  tw_exec_result_free(&r);
  /* A tenant with a smaller limit stops lower, on its own engine. */
  tw_exec_limits small = {.max_memory_bytes = 1 << 20};
  ASSERT_EQ_INT(tw_exec_set_tenant_limits(e, 9, &small, &err), TW_OK);
  tw_spawn_config sc = {.tenant_id = 9};
  ASSERT_EQ_INT(spawn(e, &sc, &id, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "bomb", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 16);
  tw_exec_result_free(&r);
  /* A tenant limit never widens the executor's. */
  tw_exec_limits big = {.max_memory_bytes = 64 << 20};
  ASSERT_EQ_INT(tw_exec_set_tenant_limits(e, 10, &big, &err), TW_OK);
  sc.tenant_id = 10;
  ASSERT_EQ_INT(spawn(e, &sc, &id, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "bomb", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 64);
  tw_exec_result_free(&r);
  tw_exec_free(e);
}

TEST(recursion_bomb_trapped) {
  tw_exec_config cfg = {.max_call_depth = 500};
  tw_exec_t *e = exec_with(&cfg);
  ASSERT(e);
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(spawn(e, NULL, &id, &err), TW_OK);
  tw_val zero = tw_val_i32(0);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "recurse", &zero, 1, NULL, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_CALL_DEPTH_EXCEEDED);
  ASSERT_EQ_INT(err.base.trap, TW_TRAP_STACK_EXHAUSTED);
  ASSERT_EQ_STR(tw_exec_error_kind_name(err.kind), "call_depth_exceeded");
  tw_exec_free(e);
}

TEST(table_limit) {
  tw_exec_config cfg = {.max_table_elements = 100};
  tw_exec_t *e = exec_with(&cfg);
  ASSERT(e);
  size_t len;
  uint8_t *w = wat_bytes("(module (table 1000 funcref))", &len);
  ASSERT(w);
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, NULL, w, len, &id, &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_MODULE_TABLE_TOO_LARGE);
  ASSERT_EQ_INT(tw_exec_live_count(e), 0);
  free(w);
  tw_exec_free(e);
}

TEST(tenant_and_global_caps) {
  tw_exec_config cfg = {.max_instances = 5, .max_instances_per_tenant = 3};
  tw_exec_t *e = exec_with(&cfg);
  ASSERT(e);
  tw_exec_error err;
  tw_instance_id ids[8];
  tw_spawn_config a = {.tenant_id = 1}, b = {.tenant_id = 2};
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(spawn(e, &a, &ids[i], &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, &a, &ids[3], &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TENANT_CAPACITY_EXHAUSTED);
  ASSERT_EQ_U64(err.tenant, 1);
  ASSERT_EQ_U64(err.active, 3);
  ASSERT_EQ_U64(err.limit, 3);
  ASSERT_EQ_INT(spawn(e, &b, &ids[3], &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, &b, &ids[4], &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, &b, &ids[5], &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_CAPACITY_EXHAUSTED);
  ASSERT_EQ_U64(err.active, 5);
  ASSERT_EQ_U64(err.limit, 5);
  ASSERT_EQ_STR(tw_exec_error_kind_name(err.kind), "capacity_exhausted");
  ASSERT_EQ_INT(tw_exec_tenant_live_count(e, 1), 3);
  ASSERT_EQ_INT(tw_exec_tenant_live_count(e, 2), 2);
  /* Terminating frees a place. */
  ASSERT_EQ_INT(tw_exec_terminate(e, ids[0], &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, &a, &ids[0], &err), TW_OK);
  /* A per-tenant limit below the executor's. */
  tw_exec_limits one = {.max_instances = 1};
  ASSERT_EQ_INT(tw_exec_set_tenant_limits(e, 2, &one, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_terminate(e, ids[3], &err), TW_OK);
  ASSERT_EQ_INT(spawn(e, &b, &ids[3], &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TENANT_CAPACITY_EXHAUSTED);
  ASSERT_EQ_U64(err.limit, 1);
  tw_exec_free(e);
}

TEST(start_function_bounded_by_deadline) {
  tw_exec_t *e = exec_with(NULL);
  ASSERT(e);
  size_t len;
  uint8_t *w = wat_bytes("(module (func $s (loop (br 0))) (start $s))", &len);
  ASSERT(w);
  tw_spawn_config sc = {.deadline_ms = 100};
  tw_instance_id id;
  tw_exec_error err;
  uint64_t t0 = monotonic_ms();
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, &sc, w, len, &id, &err), TW_TRAP);
  ASSERT(monotonic_ms() - t0 < 5000);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TIMEOUT);
  ASSERT_EQ_INT(tw_exec_live_count(e), 0);
  free(w);
  tw_exec_free(e);
}

/* The epoch ticker is a thread started by the first call or start
 * function that has a deadline: instantiating a module without a start
 * function and calling without a deadline leave it stopped (epoch 0);
 * the first call with a deadline starts it, and it still stops loops. */
TEST(ticker_starts_with_the_first_deadline) {
  tw_exec_t *e = exec_with(NULL);
  ASSERT(e);
  size_t len;
  uint8_t *w = wat_bytes("(module (func (export \"spin\") (loop (br 0)))"
                         " (func (export \"one\") (result i32) (i32.const 1)))", &len);
  ASSERT(w);
  tw_spawn_config sc = {0};
  tw_instance_id id;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, &sc, w, len, &id, &err), TW_OK);
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "one", NULL, 0, &r, &err), TW_OK);
  ASSERT_EQ_INT(r.values[0].of.i32, 1);
  tw_exec_result_free(&r);
  struct timespec ts = {0, 50 * 1000000};
  nanosleep(&ts, NULL);
  ASSERT_EQ_U64(tw_exec_epoch(e), 0);
  ASSERT_EQ_INT(tw_exec_terminate(e, id, &err), TW_OK);
  sc.deadline_ms = 100;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, &sc, w, len, &id, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, id, "spin", NULL, 0, &r, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TIMEOUT);
  ASSERT(tw_exec_epoch(e) > 0);
  free(w);
  tw_exec_free(e);
}

TEST_MAIN()
