/* Snapshots: capture after an initialiser, restore (file and bytes),
 * copy-on-write isolation, initialiser rules, state that cannot be
 * captured, WASI imports, spans, metrics and device buffers. */
#include <pthread.h>
#include <sys/stat.h>

#include "snap_util.h"
#include "tensorwasm/metrics.h"
#include "tensorwasm/trace.h"
#include "tensorwasm/wasi.h"
#include "test.h"

typedef struct fx {
  tw_engine_t *engine;
  tw_module_t *module;
  tw_store_t *store; /* where the capture ran */
  char path[64];
} fx;

static int fx_setup(fx *f, const char *wat) {
  memset(f, 0, sizeof *f);
  snprintf(f->path, sizeof f->path, "/tmp/tw-snap-%d-XXXXXX", (int)getpid());
  int fd = mkstemp(f->path);
  if (fd < 0) return 0;
  close(fd);
  tw_error err;
  if (tw_engine_new(NULL, &f->engine, &err) != TW_OK) return 0;
  if (tw_store_new(f->engine, &f->store, &err) != TW_OK) return 0;
  f->module = wat_module(f->engine, wat);
  return f->module != NULL;
}

static void fx_teardown(fx *f) {
  unlink(f->path);
  if (f->store) tw_store_free(f->store);
  if (f->module) tw_module_free(f->module);
  if (f->engine) tw_engine_free(f->engine);
}

static tw_store_t *new_store(fx *f) {
  tw_store_t *s = NULL;
  tw_error err;
  return tw_store_new(f->engine, &s, &err) == TW_OK ? s : NULL;
}

TEST(state_built_by_the_initialiser_is_visible_after_restore_from_file) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  ASSERT(fx_setup(&f, state_wat));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, NULL, &err), TW_OK);
  /* a fresh open, as another process would do */
  ASSERT_EQ_INT(tw_snapshot_open_file(f.path, f.module, &snap, &err), TW_OK);
  ASSERT_EQ_STR(tw_snapshot_initializer(snap), "wizer.initialize");
  ASSERT_EQ_INT(tw_snapshot_memory_pages(snap), 1);
  struct stat sb;
  ASSERT(stat(f.path, &sb) == 0);
  ASSERT_EQ_U64(tw_snapshot_input_len(snap), (uint64_t)sb.st_size);
  tw_store_t *s = new_store(&f);
  tw_instance_t *inst = NULL;
  ASSERT(s);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_OK);
  tw_snapshot_free(snap); /* the instance keeps its mapping */
  ASSERT_EQ_INT(state_check(s, inst), 0);
  /* the restored memory still grows, and the new page reads as zero */
  ASSERT_EQ_INT(ui32(s, inst, "grow", 0, 0), 1);
  ASSERT_EQ_INT(ui32(s, inst, "load", 1, 65536 + 8), 0);
  tw_store_free(s);
  fx_teardown(&f);
}

TEST(state_is_visible_after_restore_from_bytes) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT(fx_setup(&f, state_wat));
  ASSERT_EQ_INT(tw_snapshot_capture_bytes(f.store, f.module, NULL, 0, NULL,
                                          &bytes, &len, &err), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_open_bytes(bytes, len, f.module, &snap, &err),
                TW_OK);
  memset(bytes, 0xAA, len); /* the plan owns what it needs */
  free(bytes);
  for (int i = 0; i < 3; i++) {
    tw_store_t *s = new_store(&f);
    tw_instance_t *inst = NULL;
    ASSERT(s);
    ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                  TW_OK);
    ASSERT_EQ_INT(state_check(s, inst), 0);
    tw_store_free(s);
  }
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

TEST(one_instance_writes_are_invisible_to_the_next_restore) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  tw_instance_t *a = NULL, *b = NULL;
  tw_error e;
  ASSERT(fx_setup(&f, state_wat));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, &snap, &err), TW_OK);
  tw_store_t *s1 = new_store(&f), *s2 = new_store(&f);
  ASSERT(s1 && s2);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s1, NULL, 0, NULL, &a, &err),
                TW_OK);
  ASSERT_EQ_INT(ucall(s1, a, "store", 2, 4096, 1, NULL, &e), TW_OK);
  ASSERT_EQ_INT(ucall(s1, a, "store", 2, 200, 0, NULL, &e), TW_OK);
  ASSERT_EQ_INT(ui32(s1, a, "load", 1, 4096), 1);
  /* a second instance from the same open snapshot starts clean */
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s2, NULL, 0, NULL, &b, &err),
                TW_OK);
  ASSERT_EQ_INT(state_check(s2, b), 0);
  ASSERT_EQ_INT(ucall(s2, b, "store", 2, 4096, 2, NULL, &e), TW_OK);
  /* and neither sees the other's writes */
  ASSERT_EQ_INT(ui32(s1, a, "load", 1, 4096), 1);
  ASSERT_EQ_INT(ui32(s2, b, "load", 1, 4096), 2);
  tw_store_free(s1);
  tw_store_free(s2);
  tw_snapshot_free(snap);
  /* the file itself never changed: it still verifies and restores clean */
  ASSERT_EQ_INT(tw_snapshot_open_file(f.path, f.module, &snap, &err), TW_OK);
  tw_store_t *s3 = new_store(&f);
  tw_instance_t *c = NULL;
  ASSERT(s3);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s3, NULL, 0, NULL, &c, &err),
                TW_OK);
  ASSERT_EQ_INT(state_check(s3, c), 0);
  tw_store_free(s3);
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

/* Many threads restoring from one plan at once (the first restore's check
 * races with the others). */
typedef struct race {
  fx *f;
  tw_snapshot_t *snap;
  int failures;
} race;

static void *racer(void *arg) {
  race *r = arg;
  for (int i = 0; i < 50; i++) {
    tw_store_t *s = new_store(r->f);
    tw_instance_t *inst = NULL;
    tw_snapshot_error err;
    tw_error e;
    if (!s || tw_snapshot_instantiate(r->snap, s, NULL, 0, NULL, &inst,
                                      &err) != TW_OK ||
        ui32(s, inst, "load", 1, 4096) != 0xdeadbeefu ||
        ucall(s, inst, "store", 2, 4096, i, NULL, &e) != TW_OK ||
        ui32(s, inst, "load", 1, 4096) != i)
      __atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
    if (s) tw_store_free(s);
  }
  return NULL;
}

TEST(restores_from_one_plan_on_many_threads) {
  fx f;
  tw_snapshot_error err;
  race r = {&f, NULL, 0};
  pthread_t t[4];
  ASSERT(fx_setup(&f, state_wat));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, &r.snap, &err), TW_OK);
  for (int i = 0; i < 4; i++) ASSERT(pthread_create(&t[i], NULL, racer, &r) == 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  ASSERT_EQ_INT(r.failures, 0);
  tw_snapshot_free(r.snap);
  fx_teardown(&f);
}

/* ---- initialisers ------------------------------------------------------- */

static const char *const reactor_wat =
    "(module\n"
    "  (memory (export \"memory\") 1)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (func (export \"_initialize\") (global.set $g (i32.const 42)))\n"
    "  (func (export \"other\") (global.set $g (i32.const 7)))\n"
    "  (func (export \"boom\") unreachable)\n"
    "  (func (export \"args\") (param i32))\n"
    "  (func (export \"g\") (result i32) (global.get $g)))\n";

static int64_t restored_g(fx *f, tw_snapshot_t *snap) {
  tw_store_t *s = new_store(f);
  tw_instance_t *inst = NULL;
  tw_snapshot_error err;
  int64_t v = -1;
  if (s && tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err) == TW_OK)
    v = ui32(s, inst, "g", 0, 0);
  if (s) tw_store_free(s);
  return v;
}

TEST(initialiser_rules_default_named_missing_trapping) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  ASSERT(fx_setup(&f, reactor_wat));
  /* default: _initialize (a WASI reactor) */
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, &snap, &err), TW_OK);
  ASSERT_EQ_STR(tw_snapshot_initializer(snap), "_initialize");
  ASSERT_EQ_INT(restored_g(&f, snap), 42);
  tw_snapshot_free(snap);
  /* named */
  tw_snapshot_capture_options o = {.init_name = "other"};
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, &o,
                                         f.path, &snap, &err), TW_OK);
  ASSERT_EQ_STR(tw_snapshot_initializer(snap), "other");
  ASSERT_EQ_INT(restored_g(&f, snap), 7);
  tw_snapshot_free(snap);
  /* missing, wrong shape, trapping: nothing written over the last file */
  o.init_name = "nope";
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, &o,
                                         f.path, NULL, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_NO_INITIALIZER);
  ASSERT_CONTAINS(err.base.message, "\"nope\" is not exported");
  o.init_name = "args";
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, &o,
                                         f.path, NULL, &err), TW_ARG);
  ASSERT_CONTAINS(err.base.message, "without parameters or results");
  o.init_name = "boom";
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, &o,
                                         f.path, NULL, &err), TW_TRAP);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_INIT_FAILED);
  ASSERT_EQ_INT(err.base.trap, TW_TRAP_UNREACHABLE);
  ASSERT_CONTAINS(err.base.message, "initialiser \"boom\" failed");
  ASSERT_EQ_INT(tw_snapshot_open_file(f.path, f.module, &snap, &err), TW_OK);
  ASSERT_EQ_STR(tw_snapshot_initializer(snap), "other");
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

TEST(module_without_initialiser_captures_its_instantiated_state) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  ASSERT(fx_setup(&f, "(module (memory 1) (data (i32.const 8) \"xyz\")\n"
                      "  (func (export \"load8\") (param i32) (result i32)\n"
                      "    (i32.load8_u (local.get 0))))"));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, &snap, &err), TW_OK);
  ASSERT_EQ_STR(tw_snapshot_initializer(snap), "");
  tw_store_t *s = new_store(&f);
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_OK);
  ASSERT_EQ_INT(ui32(s, inst, "load8", 1, 9), 'y');
  tw_store_free(s);
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

/* ---- state that cannot be captured ------------------------------------- */

static tw_status host_fn(tw_caller_t *c, void *env, uint64_t *slots,
                         tw_error *err) {
  (void)c, (void)env, (void)err;
  slots[0] = 9;
  return TW_OK;
}

TEST(tables_holding_host_functions_are_refused) {
  fx f;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f,
                  "(module (import \"env\" \"h\" (func $h (result i32)))\n"
                  "  (table 2 funcref) (elem (i32.const 1) $h)\n"
                  "  (func (export \"wizer.initialize\")))"));
  tw_func_t *h = NULL;
  tw_valtype r = TW_I32;
  tw_error e;
  ASSERT_EQ_INT(tw_func_new_host(f.store, NULL, 0, &r, 1, host_fn, NULL, NULL,
                                 &h, &e), TW_OK);
  tw_extern imp = {.kind = TW_EXTERN_FUNC, .of.func = h};
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, &imp, 1, NULL,
                                         f.path, NULL, &err), TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_UNSUPPORTED);
  ASSERT_CONTAINS(err.base.message, "table 0 slot 1 holds a host or imported "
                                    "function");
  fx_teardown(&f);
}

TEST(imported_memory_and_grown_tables_are_refused) {
  fx f;
  tw_snapshot_error err;
  tw_memory_t *mem = NULL;
  tw_error e;
  ASSERT(fx_setup(&f, "(module (import \"env\" \"mem\" (memory 1)))"));
  ASSERT_EQ_INT(tw_memory_new(f.store, 1, 0, false, &mem, &e), TW_OK);
  tw_extern imp = {.kind = TW_EXTERN_MEMORY, .of.memory = mem};
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, &imp, 1, NULL,
                                         f.path, NULL, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.base.message, "imports memory \"env.mem\"");
  fx_teardown(&f);

  ASSERT(fx_setup(&f, "(module (table $t 1 10 funcref)\n"
                      "  (func (export \"wizer.initialize\")\n"
                      "    (drop (table.grow $t (ref.null func) (i32.const 2)))))"));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, NULL, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.base.message, "table 0 grew during initialisation (1 -> 3");
  fx_teardown(&f);
}

/* ---- WASI: imports are given again at restore ---------------------------- */

TEST(wasi_reactor_restores_with_fresh_wasi_imports) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  tw_wasi_t *w1 = NULL, *w2 = NULL;
  tw_error e;
  tw_extern imp[1], imp2[1];
  ASSERT(fx_setup(&f,
                  "(module\n"
                  "  (import \"wasi_snapshot_preview1\" \"random_get\"\n"
                  "    (func $rnd (param i32 i32) (result i32)))\n"
                  "  (memory (export \"memory\") 1)\n"
                  "  (global $g (mut i32) (i32.const 0))\n"
                  "  (func (export \"_initialize\")\n"
                  "    (global.set $g (call $rnd (i32.const 64) (i32.const 16))))\n"
                  "  (func (export \"g\") (result i32) (global.get $g))\n"
                  "  (func (export \"more\") (result i32)\n"
                  "    (call $rnd (i32.const 128) (i32.const 8))))"));
  ASSERT_EQ_INT(tw_wasi_new(NULL, &w1, &e), TW_OK);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w1, f.store, f.module, imp, 1, &e), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, imp, 1, NULL,
                                         f.path, &snap, &err), TW_OK);
  tw_store_t *s = new_store(&f);
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_wasi_new(NULL, &w2, &e), TW_OK);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w2, s, f.module, imp2, 1, &e), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, imp2, 1, NULL, &inst, &err),
                TW_OK);
  ASSERT_EQ_INT(ui32(s, inst, "g", 0, 0), 0);    /* random_get succeeded */
  ASSERT_EQ_INT(ui32(s, inst, "more", 0, 0), 0); /* the new import works */
  tw_store_free(s);
  tw_wasi_free(w1);
  tw_wasi_free(w2);
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

/* ---- spans, metrics, device buffers ------------------------------------- */

#define MAX_SPANS 16
static struct seen {
  char name[64], target[64], input_len[32], device[16], kind[48];
  uint8_t parent[8], id[8];
  bool has_parent;
  tw_span_status status;
} seen[MAX_SPANS];
static int nseen;

static void sink(const tw_span_t *span, void *user) {
  (void)user;
  if (nseen >= MAX_SPANS) return;
  struct seen *s = &seen[nseen++];
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", tw_span_name(span));
  snprintf(s->target, sizeof s->target, "%s", tw_span_target(span));
  tw_span_attr_get(span, "input_len", s->input_len, sizeof s->input_len);
  tw_span_attr_get(span, "device_index", s->device, sizeof s->device);
  tw_span_attr_get(span, "error.kind", s->kind, sizeof s->kind);
  s->has_parent = tw_span_parent_id(span, s->parent);
  tw_trace_ctx c = tw_span_context(span);
  memcpy(s->id, c.span_id, 8);
  s->status = tw_span_get_status(span);
}

static int trace_on(void) {
  tw_trace_config cfg;
  tw_error e;
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt = false;
  cfg.otlp_endpoint = "";
  cfg.sink = sink;
  nseen = 0;
  return tw_trace_init(&cfg, &e) == TW_OK;
}

TEST(restore_span_is_a_child_of_spawn_and_counts_in_metrics) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  ASSERT(fx_setup(&f, state_wat));
  const tw_metrics_std_t *m = tw_metrics_std();
  uint64_t cap0 = tw_histogram_count(m->snapshot_capture_seconds);
  uint64_t disk0 = tw_histogram_count(m->snapshot_disk_round_trip_seconds);
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, NULL,
                                         f.path, &snap, &err), TW_OK);
  ASSERT_EQ_U64(tw_histogram_count(m->snapshot_capture_seconds), cap0 + 1);
  ASSERT_EQ_U64(tw_histogram_count(m->snapshot_disk_round_trip_seconds),
                disk0 + 1);
  uint64_t res0 = tw_histogram_count(m->snapshot_restore_seconds);
  ASSERT(trace_on());
  tw_span_t *spawn = tw_span_begin("tensor_wasm_exec::executor::spawn_instance",
                                   "tensor-wasm-exec", TW_LEVEL_INFO);
  ASSERT(spawn);
  tw_trace_ctx pc = tw_span_context(spawn);
  tw_store_t *s = new_store(&f);
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_OK);
  tw_span_end(spawn);
  tw_trace_shutdown();
  ASSERT_EQ_INT(nseen, 2);
  ASSERT_EQ_STR(seen[0].name, "SnapshotReader::restore");
  ASSERT_EQ_STR(seen[0].target, "tensor-wasm-snapshot");
  char want[32];
  snprintf(want, sizeof want, "%llu",
           (unsigned long long)tw_snapshot_input_len(snap));
  ASSERT_EQ_STR(seen[0].input_len, want);
  ASSERT(seen[0].has_parent);
  ASSERT(memcmp(seen[0].parent, pc.span_id, 8) == 0);
  ASSERT(seen[0].status != TW_SPAN_STATUS_ERROR);
  ASSERT_EQ_U64(tw_histogram_count(m->snapshot_restore_seconds), res0 + 1);
  tw_store_free(s);
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

typedef struct fake_gpu {
  int calls;
  uint64_t handles[4];
  uint8_t first[4];
  tw_instance_t *inst;
} fake_gpu;

static tw_status fake_restore(void *ctx, tw_instance_t *inst,
                              const tw_snapshot_device_buffer *b,
                              tw_error *err) {
  (void)err;
  fake_gpu *g = ctx;
  if (g->calls < 4) {
    g->handles[g->calls] = b->handle;
    g->first[g->calls] = b->len ? b->data[0] : 0;
  }
  g->calls++;
  g->inst = inst;
  return TW_OK;
}

TEST(device_buffers_go_to_restore_to_gpu_and_fail_without_a_gpu) {
  fx f;
  tw_snapshot_error err;
  tw_snapshot_t *snap = NULL;
  uint8_t a[100], b[3] = {9, 8, 7};
  memset(a, 5, sizeof a);
  tw_snapshot_device_buffer bufs[] = {
      {.device_index = 0, .handle = 17, .data = a, .len = sizeof a},
      {.device_index = 1, .handle = 18, .data = b, .len = sizeof b}};
  tw_snapshot_capture_options o = {.device_buffers = bufs,
                                   .ndevice_buffers = 2};
  ASSERT(fx_setup(&f, state_wat));
  ASSERT_EQ_INT(tw_snapshot_capture_file(f.store, f.module, NULL, 0, &o,
                                         f.path, NULL, &err), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_open_file(f.path, f.module, &snap, &err), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_device_buffer_count(snap), 2);
  ASSERT_EQ_U64(tw_snapshot_device_buffer_at(snap, 1)->handle, 18);
  ASSERT_EQ_INT(tw_snapshot_device_buffer_at(snap, 1)->data[2], 7);
  ASSERT(!tw_snapshot_device_buffer_at(snap, 2));
  /* no GPU here: the restore fails (the caller cold-starts), and the
   * restore_to_gpu span says why */
  ASSERT(trace_on());
  tw_store_t *s = new_store(&f);
  tw_instance_t *inst = NULL;
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_UNSUPPORTED);
  tw_trace_shutdown();
  ASSERT(!inst);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_NO_GPU);
  ASSERT_CONTAINS(err.base.message, "no GPU is present");
  ASSERT_EQ_INT(nseen, 2);
  ASSERT_EQ_STR(seen[0].name, "restore_to_gpu");
  ASSERT_EQ_STR(seen[0].target, "tensor-wasm-snapshot");
  ASSERT_EQ_STR(seen[0].device, "0");
  ASSERT_EQ_STR(seen[0].input_len, "100");
  ASSERT_EQ_INT(seen[0].status, TW_SPAN_STATUS_ERROR);
  ASSERT_EQ_STR(seen[0].kind, "snapshot_no_gpu");
  ASSERT(seen[0].has_parent && memcmp(seen[0].parent, seen[1].id, 8) == 0);
  ASSERT_EQ_STR(seen[1].name, "SnapshotReader::restore");
  ASSERT_EQ_INT(seen[1].status, TW_SPAN_STATUS_ERROR);
  tw_store_free(s);
  /* with a GPU hook every buffer reaches it, one span per device */
  fake_gpu g = {0};
  tw_snapshot_gpu gpu = {fake_restore, &g};
  tw_snapshot_restore_options ro = {.gpu = &gpu};
  ASSERT(trace_on());
  s = new_store(&f);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, &ro, &inst, &err),
                TW_OK);
  tw_trace_shutdown();
  ASSERT_EQ_INT(g.calls, 2);
  ASSERT_EQ_U64(g.handles[0], 17);
  ASSERT_EQ_INT(g.first[0], 5);
  ASSERT_EQ_U64(g.handles[1], 18);
  ASSERT_EQ_INT(g.first[1], 9);
  ASSERT(g.inst == inst);
  ASSERT_EQ_INT(nseen, 3);
  ASSERT_EQ_STR(seen[1].name, "restore_to_gpu");
  ASSERT_EQ_STR(seen[1].device, "1");
  ASSERT_EQ_STR(seen[1].input_len, "3");
  ASSERT(seen[1].status != TW_SPAN_STATUS_ERROR);
  ASSERT_EQ_INT(state_check(s, inst), 0);
  tw_store_free(s);
  tw_snapshot_free(snap);
  fx_teardown(&f);
}

TEST_MAIN()
