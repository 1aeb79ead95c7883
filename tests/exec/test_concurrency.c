/* Many instances of two tenants on several threads at once: every call
 * sees only its own instance's memory, runaway guests stopped by
 * deadlines and terminate on other threads never disturb the rest, and
 * the live counts come back to zero.  Meant to run under ThreadSanitizer
 * as well (see the report for the command). */
#include <pthread.h>

#include "exec_util.h"
#include "test.h"

enum { THREADS = 6, ROUNDS = 40 };

static const char *wat =
    "(module (memory 1)\n"
    "  (func (export \"put\") (param i32) (i32.store (i32.const 0) (local.get 0)))\n"
    "  (func (export \"get\") (result i32) (i32.load (i32.const 0)))\n"
    "  (func (export \"work\") (param i32) (result i32) (local i32)\n"
    "    (loop (local.set 1 (i32.add (local.get 1) (i32.const 3)))\n"
    "          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))\n"
    "          (br_if 0 (local.get 0)))\n"
    "    (local.get 1))\n"
    "  (func (export \"spin\") (loop (br 0))))\n";

typedef struct shared {
  tw_exec_t *exec;
  tw_exec_module_t *module;
  uint8_t *wasm;
  size_t len;
  int failures;
  pthread_mutex_t lock;
} shared;

typedef struct worker {
  shared *s;
  int index;
} worker;

static void fail(shared *s, const char *what, int index, int round) {
  pthread_mutex_lock(&s->lock);
  if (s->failures++ < 10)
    fprintf(stderr, "  thread %d round %d: %s\n", index, round, what);
  pthread_mutex_unlock(&s->lock);
}

/* One round: spawn, write a value unique to (thread, round), compute,
 * read it back, terminate. */
static void round_trip(shared *s, int index, int round) {
  tw_spawn_config sc = {.tenant_id = (tw_tenant_id)(index % 2 + 1),
                        .deadline_ms = 10000};
  tw_instance_id id;
  tw_exec_error err;
  tw_exec_result r;
  tw_status st = round % 2
                     ? tw_exec_spawn_instance(s->exec, &sc, s->wasm, s->len, &id, &err)
                     : tw_exec_spawn_instance_module(s->exec, &sc, s->module, &id, &err);
  if (st != TW_OK) return fail(s, err.base.message, index, round);
  int32_t mine = index * 100000 + round;
  tw_val v = tw_val_i32(mine);
  if (tw_exec_call_export_with_args(s->exec, id, "put", &v, 1, NULL, &err) != TW_OK)
    return fail(s, "put", index, round);
  v = tw_val_i32(1000 + round);
  if (tw_exec_call_export_with_args(s->exec, id, "work", &v, 1, &r, &err) != TW_OK ||
      r.values[0].of.i32 != 3 * (1000 + round))
    fail(s, "work", index, round);
  tw_exec_result_free(&r);
  if (tw_exec_call_export_with_args_then_terminate(s->exec, id, "get", NULL, 0, &r, &err) !=
          TW_OK ||
      r.values[0].of.i32 != mine)
    fail(s, "get: another instance's memory", index, round);
  tw_exec_result_free(&r);
}

/* A runaway: stopped by a short deadline or by terminate. */
static void runaway(shared *s, int index, int round) {
  tw_spawn_config sc = {.tenant_id = 3, .deadline_ms = 20};
  tw_instance_id id;
  tw_exec_error err;
  if (tw_exec_spawn_instance_module(s->exec, &sc, s->module, &id, &err) != TW_OK)
    return fail(s, err.base.message, index, round);
  if (tw_exec_call_export_with_args(s->exec, id, "spin", NULL, 0, NULL, &err) != TW_TRAP ||
      err.kind != TW_EXEC_ERR_TIMEOUT)
    fail(s, "spin was not stopped by its deadline", index, round);
  if (tw_exec_terminate(s->exec, id, &err) != TW_OK) fail(s, "terminate", index, round);
}

static void *work(void *arg) {
  worker *w = arg;
  for (int round = 0; round < ROUNDS; round++) {
    if (w->index == 0 && round % 8 == 0) runaway(w->s, w->index, round);
    else round_trip(w->s, w->index, round);
  }
  return NULL;
}

typedef struct killer {
  shared *s;
  int stopped;
} killer;

/* Spawns spinning instances without deadlines and terminates them from
 * this thread while another thread runs them. */
static void *spin_call(void *arg) {
  void **a = arg;
  shared *s = a[0];
  tw_instance_id id = *(tw_instance_id *)a[1];
  tw_exec_call_export_with_args(s->exec, id, "spin", NULL, 0, NULL, NULL);
  return NULL;
}

static void *kill_loop(void *arg) {
  killer *k = arg;
  for (int i = 0; i < 10; i++) {
    tw_instance_id id;
    tw_spawn_config sc = {.tenant_id = 4};
    if (tw_exec_spawn_instance_module(k->s->exec, &sc, k->s->module, &id, NULL) != TW_OK)
      continue;
    void *a[2] = {k->s, &id};
    pthread_t t;
    if (pthread_create(&t, NULL, spin_call, a) != 0) continue;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    if (tw_exec_terminate(k->s->exec, id, NULL) == TW_OK) k->stopped++;
    pthread_join(t, NULL);
  }
  return NULL;
}


TEST(two_tenants_many_threads_no_interference) {
  for (int pool = 0; pool < 2; pool++) {
    shared s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    tw_exec_config cfg = {.pool_warm_per_module = pool ? 2u : 0u, .epoch_tick_ms = 5};
    ASSERT_EQ_INT(tw_exec_new(&cfg, &s.exec, NULL), TW_OK);
    s.wasm = wat_bytes(wat, &s.len);
    ASSERT(s.wasm);
    ASSERT_EQ_INT(tw_exec_module_load(s.exec, s.wasm, s.len, &s.module, NULL), TW_OK);
    pthread_t t[THREADS], kt;
    worker w[THREADS];
    killer k = {.s = &s};
    for (int i = 0; i < THREADS; i++) {
      w[i] = (worker){&s, i};
      ASSERT_EQ_INT(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    ASSERT_EQ_INT(pthread_create(&kt, NULL, kill_loop, &k), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    pthread_join(kt, NULL);
    ASSERT_EQ_INT(s.failures, 0);
    ASSERT_EQ_INT(k.stopped, 10);
    ASSERT_EQ_INT(tw_exec_live_count(s.exec), 0);
    ASSERT_EQ_INT(tw_exec_tenant_live_count(s.exec, 1), 0);
    ASSERT_EQ_INT(tw_exec_tenant_live_count(s.exec, 2), 0);
    tw_exec_module_free(s.module);
    free(s.wasm);
    tw_exec_free(s.exec);
  }
}

typedef struct inv {
  tw_exec_t *exec;
  tw_exec_module_t *m;
  int bad;
  char why[TW_ERROR_MESSAGE_MAX];
} inv;

static void *invoke_loop(void *arg) {
  inv *v = arg;
  for (int i = 0; i < 200; i++) {
    tw_exec_result r;
    tw_exec_error err;
    tw_val a = tw_val_i32(10);
    tw_spawn_config sc = {.tenant_id = (tw_tenant_id)(i % 2)};
    if (tw_exec_invoke(v->exec, &sc, v->m, "work", &a, 1, &r, &err) != TW_OK) {
      if (!v->bad++) snprintf(v->why, sizeof v->why, "%s", err.base.message);
    } else if (r.values[0].of.i32 != 30) {
      if (!v->bad++) snprintf(v->why, sizeof v->why, "wrong result");
    }
    tw_exec_result_free(&r);
  }
  return NULL;
}

TEST(pooled_invokes_from_several_threads) {
  tw_exec_config cfg = {.pool_warm_per_module = 4};
  tw_exec_t *e;
  ASSERT_EQ_INT(tw_exec_new(&cfg, &e, NULL), TW_OK);
  size_t len;
  uint8_t *w = wat_bytes(wat, &len);
  ASSERT(w);
  tw_exec_module_t *m;
  ASSERT_EQ_INT(tw_exec_module_load(e, w, len, &m, NULL), TW_OK);
  inv v[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    v[i] = (inv){e, m, 0, ""};
    ASSERT_EQ_INT(pthread_create(&t[i], NULL, invoke_loop, &v[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    if (v[i].bad) fprintf(stderr, "  thread %d: %s\n", i, v[i].why);
  }
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ_INT(v[i].bad, 0);
  }
  ASSERT_EQ_INT(tw_exec_live_count(e), 0);
  tw_exec_module_free(m);
  free(w);
  tw_exec_free(e);
}

TEST_MAIN()
