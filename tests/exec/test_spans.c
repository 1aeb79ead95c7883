/* Executor spans, captured through the trace API's sink: names, target and
 * attributes as the seed's schema gives them, call and terminate as
 * children of spawn_instance (across threads too), and the deprecated
 * wrappers firing the new call span name. */
#include <pthread.h>

#include "exec_util.h"
#include "tensorwasm/trace.h"
#include "test.h"

enum { MAX_REC = 128 };

typedef struct rec {
  char name[96], target[64];
  tw_trace_ctx ctx;
  bool has_parent;
  uint8_t parent[8];
  char tenant[32], instance_id[32], wasm_bytes[32], instance[32], export_[32],
      args_len[32];
  tw_span_status status;
} rec;

static struct {
  pthread_mutex_t lock;
  rec r[MAX_REC];
  int n;
} got = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void attr(const tw_span_t *s, const char *k, char *buf) {
  if (!tw_span_attr_get(s, k, buf, 32)) snprintf(buf, 32, "<absent>");
}

static void sink(const tw_span_t *s, void *user) {
  (void)user;
  pthread_mutex_lock(&got.lock);
  if (got.n < MAX_REC) {
    rec *r = &got.r[got.n++];
    snprintf(r->name, sizeof r->name, "%s", tw_span_name(s));
    snprintf(r->target, sizeof r->target, "%s", tw_span_target(s));
    r->ctx = tw_span_context(s);
    r->has_parent = tw_span_parent_id(s, r->parent);
    attr(s, "tenant", r->tenant);
    attr(s, "instance_id", r->instance_id);
    attr(s, "wasm_bytes", r->wasm_bytes);
    attr(s, "instance", r->instance);
    attr(s, "export", r->export_);
    attr(s, "args_len", r->args_len);
    r->status = tw_span_get_status(s);
  }
  pthread_mutex_unlock(&got.lock);
}

static int count(const char *name) {
  int n = 0;
  for (int i = 0; i < got.n; i++) n += strcmp(got.r[i].name, name) == 0;
  return n;
}

static const rec *find(const char *name, int nth) {
  for (int i = 0; i < got.n; i++)
    if (strcmp(got.r[i].name, name) == 0 && nth-- == 0) return &got.r[i];
  return NULL;
}

static bool child_of(const rec *c, const rec *p) {
  return c->has_parent && memcmp(c->parent, p->ctx.span_id, 8) == 0 &&
         memcmp(c->ctx.trace_id, p->ctx.trace_id, 16) == 0;
}

static int trace_start(void) {
  got.n = 0;
  tw_trace_config cfg;
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt = false;
  cfg.otlp_endpoint = "";
  cfg.sink = sink;
  return tw_trace_init(&cfg, NULL) == TW_OK;
}

static const char *wat = "(module (func (export \"f\") (param i32) (result i32) (local.get 0))"
                         " (func (export \"g\")))";

typedef struct job {
  tw_exec_t *e;
  tw_instance_id id;
  tw_status st;
} job;

static void *call_thread(void *arg) {
  job *j = arg;
  tw_val v = tw_val_i32(1);
  j->st = tw_exec_call_export_with_args(j->e, j->id, "f", &v, 1, NULL, NULL);
  return NULL;
}

TEST(span_tree_and_attributes) {
  ASSERT(trace_start());
  tw_exec_t *e;
  ASSERT_EQ_INT(tw_exec_new(NULL, &e, NULL), TW_OK);
  size_t len;
  uint8_t *w = wat_bytes(wat, &len);
  ASSERT(w);
  tw_spawn_config sc = {.tenant_id = 42};
  tw_instance_id id;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, &sc, w, len, &id, NULL), TW_OK);
  /* A call on another thread still joins the spawn span. */
  job j = {e, id, TW_ARG};
  pthread_t t;
  ASSERT_EQ_INT(pthread_create(&t, NULL, call_thread, &j), 0);
  pthread_join(t, NULL);
  ASSERT_EQ_INT(j.st, TW_OK);
  ASSERT_EQ_INT(tw_exec_terminate(e, id, NULL), TW_OK);
  tw_exec_free(e);
  tw_trace_shutdown();
  free(w);

  const rec *spawn = find(TW_EXEC_SPAN_SPAWN, 0), *call = find(TW_EXEC_SPAN_CALL, 0),
            *term = find(TW_EXEC_SPAN_TERMINATE, 0);
  ASSERT(spawn && call && term);
  ASSERT_EQ_STR(spawn->name, "tensor_wasm_exec::executor::spawn_instance");
  ASSERT_EQ_STR(call->name, "tensor_wasm_exec::executor::call_export_with_args");
  ASSERT_EQ_STR(term->name, "tensor_wasm_exec::executor::terminate");
  ASSERT_EQ_STR(spawn->target, "tensor-wasm-exec");
  ASSERT_EQ_STR(call->target, "tensor-wasm-exec");
  ASSERT_EQ_STR(term->target, "tensor-wasm-exec");
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)id);
  ASSERT_EQ_STR(spawn->tenant, "42");
  ASSERT_EQ_STR(spawn->instance_id, idtext);
  char lentext[32];
  snprintf(lentext, sizeof lentext, "%zu", len);
  ASSERT_EQ_STR(spawn->wasm_bytes, lentext);
  ASSERT_EQ_STR(call->instance, idtext);
  ASSERT_EQ_STR(call->export_, "f");
  ASSERT_EQ_STR(call->args_len, "1");
  ASSERT_EQ_STR(term->instance, idtext);
  ASSERT(child_of(call, spawn));
  ASSERT(child_of(term, spawn));
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(deprecated_wrappers_fire_new_span_name) {
  ASSERT(trace_start());
  tw_exec_t *e;
  ASSERT_EQ_INT(tw_exec_new(NULL, &e, NULL), TW_OK);
  size_t len;
  uint8_t *w = wat_bytes(wat, &len);
  ASSERT(w);
  tw_instance_id id;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, NULL, w, len, &id, NULL), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export(e, id, "g", NULL), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export_then_terminate(e, id, "g", NULL), TW_OK);
  tw_exec_free(e);
  tw_trace_shutdown();
  free(w);
  ASSERT_EQ_INT(count(TW_EXEC_SPAN_CALL), 2);
  ASSERT_EQ_INT(count("tensor_wasm_exec::executor::call_export"), 0);
  ASSERT_EQ_INT(count(TW_EXEC_SPAN_TERMINATE), 1);
  const rec *c = find(TW_EXEC_SPAN_CALL, 0);
  ASSERT_EQ_STR(c->args_len, "0");
  ASSERT_EQ_STR(c->export_, "g");
  ASSERT(child_of(c, find(TW_EXEC_SPAN_SPAWN, 0)));
}
#pragma GCC diagnostic pop

TEST(unknown_instance_and_missing_values) {
  ASSERT(trace_start());
  tw_exec_t *e;
  ASSERT_EQ_INT(tw_exec_new(NULL, &e, NULL), TW_OK);
  ASSERT_EQ_INT(tw_exec_call_export_with_args(e, 999, NULL, NULL, 0, NULL, NULL), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_exec_terminate(e, 999, NULL), TW_NOT_FOUND);
  tw_exec_free(e);
  tw_trace_shutdown();
  const rec *c = find(TW_EXEC_SPAN_CALL, 0), *t = find(TW_EXEC_SPAN_TERMINATE, 0);
  ASSERT(c && t);
  ASSERT_EQ_STR(c->instance, "999");
  ASSERT_EQ_STR(c->export_, "unknown");
  ASSERT_EQ_INT(c->status, TW_SPAN_STATUS_ERROR);
  ASSERT_EQ_INT(t->status, TW_SPAN_STATUS_ERROR);
}

TEST_MAIN()
