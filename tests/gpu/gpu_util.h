/* Helpers for the wasi:cuda tests: a "shim" guest (tests/gpu/guests/shim.wat)
 * that re-exports every wasi:cuda import, so a test calls the host
 * functions as a guest would, with the shim's memory as the caller's; an
 * argument-list builder; span capture through the trace sink; and access
 * to the fake driver's counters. */
#ifndef TW_GPU_UTIL_H
#define TW_GPU_UTIL_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cuda.h"
#include "gpu/gpu_int.h"
#include "tensorwasm/cuda.h"
#include "tensorwasm/trace.h"
#include "tensorwasm/wasm.h"

/* Guest memory layout used by the tests (the shim starts with 4 pages). */
enum {
  AT_ENTRY = 0x100,   /* entry names */
  AT_ARGV = 0x1000,   /* launch argument lists (up to 8 KiB) */
  AT_ERROR = 0x3000,  /* last_error_copy destination */
  AT_DATA = 0x4000,   /* kernel data */
  AT_PTX = 0x20000,   /* PTX text (up to 128 KiB) */
  SHIM_PAGES = 4
};

#define RESULT_TRAP INT64_MIN

static inline uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return buf;
}

typedef struct shim {
  tw_engine_t *engine;
  tw_module_t *module;
  tw_store_t *store;
  tw_instance_t *inst;
  tw_memory_t *mem;
  tw_cuda_t *cuda;
} shim;

/* Instantiates guest `name` (built into TW_BUILD_DIR/tests/gpu) with a new
 * context from `cfg`.  False (and a message) on failure. */
static inline bool shim_open_guest(shim *s, const char *name,
                                   const tw_cuda_config *cfg) {
  char path[512];
  size_t len = 0;
  tw_error err;
  memset(s, 0, sizeof *s);
  snprintf(path, sizeof path, "%s/tests/gpu/%s.wasm", TW_BUILD_DIR, name);
  uint8_t *bytes = read_all(path, &len);
  if (!bytes) {
    fprintf(stderr, "  cannot read %s\n", path);
    return false;
  }
  tw_extern imports[16];
  bool ok = tw_engine_new(NULL, &s->engine, &err) == TW_OK &&
            tw_module_new(s->engine, bytes, len, &s->module, &err) == TW_OK &&
            tw_store_new(s->engine, &s->store, &err) == TW_OK &&
            tw_cuda_new(cfg, &s->cuda, &err) == TW_OK;
  free(bytes);
  size_t n = ok ? tw_module_import_count(s->module) : 0;
  for (size_t i = 0; ok && i < n && i < 16; i++)
    ok = tw_cuda_resolve_import(s->cuda, s->store, s->module, i, &imports[i],
                                &err) == TW_OK;
  ok = ok && tw_instance_new(s->store, s->module, imports, n, &s->inst,
                             &err) == TW_OK;
  if (!ok) {
    fprintf(stderr, "  shim: %s\n", err.message);
    return false;
  }
  s->mem = tw_instance_memory(s->inst);
  return true;
}

static inline bool shim_open(shim *s, const tw_cuda_config *cfg) {
  return shim_open_guest(s, "shim", cfg);
}

/* Releases the context (if not yet) and frees the rest. */
static inline void shim_close(shim *s) {
  tw_cuda_release(s->cuda);
  tw_store_free(s->store);
  tw_module_free(s->module);
  tw_engine_free(s->engine);
  memset(s, 0, sizeof *s);
}

static inline uint8_t *shim_mem(shim *s) { return tw_memory_data(s->mem); }

static inline void shim_put(shim *s, uint32_t at, const void *p, size_t n) {
  memcpy(shim_mem(s) + at, p, n);
}

/* Calls export `name`; its i32 or i64 result sign-extended, RESULT_TRAP on
 * a trap. */
static inline int64_t shim_call(shim *s, const char *name, const tw_val *args,
                                size_t n) {
  tw_extern ex;
  tw_val res[1];
  tw_error err;
  if (tw_instance_export(s->inst, name, strlen(name), &ex) != TW_OK)
    return RESULT_TRAP;
  size_t nr = tw_func_result_count(ex.of.func);
  if (tw_func_call(s->store, ex.of.func, args, n, res, nr, &err) != TW_OK)
    return RESULT_TRAP;
  if (!nr) return 0;
  return res[0].type == TW_I64 ? res[0].of.i64 : res[0].of.i32;
}

#define I32(v) tw_val_i32((int32_t)(v))
#define I64(v) tw_val_i64((int64_t)(v))

static inline int64_t cu_load(shim *s, uint32_t ptx, uint32_t ptx_len,
                              uint32_t entry, uint32_t entry_len) {
  tw_val a[4] = {I32(ptx), I32(ptx_len), I32(entry), I32(entry_len)};
  return shim_call(s, "load_ptx", a, 4);
}

/* Puts `ptx` at AT_PTX and `entry` at AT_ENTRY and loads them. */
static inline int64_t cu_load_text(shim *s, const char *ptx, size_t ptx_len,
                                   const char *entry) {
  shim_put(s, AT_PTX, ptx, ptx_len);
  shim_put(s, AT_ENTRY, entry, strlen(entry));
  return cu_load(s, AT_PTX, (uint32_t)ptx_len, AT_ENTRY,
                 (uint32_t)strlen(entry));
}

static inline int64_t cu_launch(shim *s, int64_t k, int32_t gx, int32_t gy,
                                int32_t gz, int32_t bx, int32_t by, int32_t bz,
                                int32_t shmem, uint32_t argp, uint32_t argl) {
  tw_val a[10] = {I64(k),  I32(gx), I32(gy),    I32(gz),  I32(bx),
                  I32(by), I32(bz), I32(shmem), I32(argp), I32(argl)};
  return shim_call(s, "launch", a, 10);
}

static inline int64_t cu_sync(shim *s) { return shim_call(s, "sync", NULL, 0); }
static inline int64_t cu_error_len(shim *s) {
  return shim_call(s, "error_len", NULL, 0);
}
static inline int64_t cu_error_copy(shim *s, uint32_t dst, uint32_t len) {
  tw_val a[2] = {I32(dst), I32(len)};
  return shim_call(s, "error_copy", a, 2);
}
static inline int64_t cu_malloc(shim *s, int64_t bytes) {
  tw_val a[1] = {I64(bytes)};
  return shim_call(s, "malloc", a, 1);
}
static inline int64_t cu_free(shim *s, int64_t h) {
  tw_val a[1] = {I64(h)};
  return shim_call(s, "free", a, 1);
}
static inline int64_t cu_copy(shim *s, bool htod, int64_t h, int64_t off,
                              uint32_t ptr, uint32_t len) {
  tw_val a[4] = {I64(h), I64(off), I32(ptr), I32(len)};
  return shim_call(s, htod ? "htod" : "dtoh", a, 4);
}

/* The guest's view of the last error, read through last_error_copy. */
static inline const char *cu_error_text(shim *s) {
  static char buf[1024];
  int64_t n = cu_error_copy(s, AT_ERROR, 1000);
  if (n < 0) n = 0;
  memcpy(buf, shim_mem(s) + AT_ERROR, (size_t)n);
  buf[n] = 0;
  return buf;
}

/* ---- launch argument lists ---------------------------------------------------- */

typedef struct argb {
  uint8_t b[8192];
  uint32_t len;
} argb;

static inline void argb_put(argb *a, uint8_t tag, uint64_t v, int nbytes) {
  a->b[a->len++] = tag;
  for (int i = 0; i < nbytes; i++) a->b[a->len++] = (uint8_t)(v >> (8 * i));
}
static inline void argb_ptr(argb *a, uint32_t off, uint32_t len) {
  argb_put(a, TW_CUDA_ARG_PTR, (uint64_t)len << 32 | off, 8);
}
static inline void argb_u32(argb *a, uint32_t v) {
  argb_put(a, TW_CUDA_ARG_U32, v, 4);
}
static inline void argb_buffer(argb *a, int64_t h) {
  argb_put(a, TW_CUDA_ARG_BUFFER, (uint64_t)h, 8);
}

/* Writes the list at AT_ARGV and launches. */
static inline int64_t cu_launch_args(shim *s, int64_t k, int32_t gx,
                                     int32_t gy, int32_t bx, int32_t by,
                                     const argb *a) {
  shim_put(s, AT_ARGV, a->b, a->len);
  return cu_launch(s, k, gx, gy, 1, bx, by, 1, 0, AT_ARGV, a->len);
}

/* ---- PTX ------------------------------------------------------------------------ */

/* examples/gpu/kernels.ptx (vec_add, matmul), read once. */
static inline const char *kernels_ptx(size_t *len) {
  static uint8_t *text;
  static size_t n;
  if (!text) text = read_all(TW_SOURCE_DIR "/examples/gpu/kernels.ptx", &n);
  *len = n;
  return (const char *)text;
}

/* A small PTX module with one empty entry `name` (for the fake driver). */
static inline size_t tiny_ptx(char *buf, size_t cap, const char *name) {
  return (size_t)snprintf(buf, cap,
                          ".version 7.0\n.target sm_75\n.address_size 64\n"
                          ".visible .entry %s()\n{\n\tret;\n}\n",
                          name);
}

/* ---- spans ----------------------------------------------------------------------- */

enum { MAX_SPANS = 256 };

typedef struct span_rec {
  char name[64], target[64];
  tw_trace_ctx ctx;
  bool has_parent;
  uint8_t parent[8];
  tw_span_status status;
  char attrs[20][2][48]; /* key, value */
  int nattrs;
} span_rec;

static struct {
  pthread_mutex_t lock;
  span_rec r[MAX_SPANS];
  int n;
} spans = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const span_keys[] = {
    "instance", "tenant", "ptx_bytes", "entry_bytes", "kernel", "grid_x",
    "grid_y", "grid_z", "block_x", "block_y", "block_z", "shared_mem",
    "code"};

static inline void span_sink(const tw_span_t *s, void *user) {
  (void)user;
  pthread_mutex_lock(&spans.lock);
  if (spans.n < MAX_SPANS) {
    span_rec *r = &spans.r[spans.n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", tw_span_name(s));
    snprintf(r->target, sizeof r->target, "%s", tw_span_target(s));
    r->ctx = tw_span_context(s);
    r->has_parent = tw_span_parent_id(s, r->parent);
    r->status = tw_span_get_status(s);
    for (size_t i = 0; i < sizeof span_keys / sizeof span_keys[0]; i++)
      if (tw_span_attr_get(s, span_keys[i], r->attrs[r->nattrs][1], 48))
        snprintf(r->attrs[r->nattrs++][0], 48, "%s", span_keys[i]);
  }
  pthread_mutex_unlock(&spans.lock);
}

static inline bool spans_start(void) {
  spans.n = 0;
  tw_trace_config cfg;
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt = false;
  cfg.otlp_endpoint = "";
  cfg.sink = span_sink;
  return tw_trace_init(&cfg, NULL) == TW_OK;
}

static inline const span_rec *span_find(const char *name, int nth) {
  for (int i = 0; i < spans.n; i++)
    if (strcmp(spans.r[i].name, name) == 0 && nth-- == 0) return &spans.r[i];
  return NULL;
}

static inline int span_count(const char *name) {
  int n = 0;
  for (int i = 0; i < spans.n; i++) n += strcmp(spans.r[i].name, name) == 0;
  return n;
}

/* An attribute's value, "<absent>" when missing. */
static inline const char *span_attr(const span_rec *r, const char *key) {
  for (int i = 0; r && i < r->nattrs; i++)
    if (strcmp(r->attrs[i][0], key) == 0) return r->attrs[i][1];
  return "<absent>";
}

static inline bool span_child_of(const span_rec *c, const span_rec *p) {
  return c && p && c->has_parent &&
         memcmp(c->parent, p->ctx.span_id, 8) == 0 &&
         memcmp(c->ctx.trace_id, p->ctx.trace_id, 16) == 0;
}

/* ---- metrics ----------------------------------------------------------------------- */

static inline uint64_t dispatches_of(const char *tenant) {
  return tw_counter_value(
      tw_metric_counter_with(tw_metrics_std()->kernel_dispatches, tenant));
}
static inline int64_t gpu_bytes_of(const char *tenant) {
  return tw_gauge_value(
      tw_metric_gauge_with(tw_metrics_std()->gpu_memory_used_bytes, tenant));
}
static inline int64_t gpu_bytes_per_tenant(const char *tenant) {
  return tw_gauge_value(tw_metric_gauge_with(
      tw_metrics_std()->gpu_memory_bytes_per_tenant, tenant));
}

/* ---- the fake driver -------------------------------------------------------------- */

/* Points the runtime at the fake driver (before its first use) and returns
 * the driver's counters. */
static inline fake_cuda_counters *fake(void) {
  static fake_cuda_counters *c;
  if (!c) {
    setenv(TW_CUDA_LIBRARY_ENV, TW_FAKE_CUDA_PATH, 0);
    void *h = dlopen(getenv(TW_CUDA_LIBRARY_ENV), RTLD_NOW);
    if (!h) return NULL;
    fake_cuda_counters_fn get =
        (fake_cuda_counters_fn)dlsym(h, "fake_cuda_counters_get");
    c = get ? get() : NULL;
  }
  return c;
}

static inline void *fake_sym(const char *name) {
  void *h = dlopen(getenv(TW_CUDA_LIBRARY_ENV), RTLD_NOW | RTLD_NOLOAD);
  return h ? dlsym(h, name) : NULL;
}

#endif
