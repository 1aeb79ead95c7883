/* The host functions of wasi:cuda/host@0.2.0 and of our
 * tensorwasm:cuda/buffers@0.1.0, and the binding of a module's imports to
 * them.
 *
 * Every function enters through one trampoline: read the guest's memory
 * view, apply the capability gate (-1, nothing recorded, while the context
 * is not enabled), refuse calls after release, and run the body in cuda.c
 * under the context's lock.  The contract spans (load_ptx, launch, sync)
 * are opened here so that a refused call is traced too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_int.h"
#include "tensorwasm/trace.h"

typedef enum fn_id {
  FN_LOAD_PTX,
  FN_LAUNCH,
  FN_SYNC,
  FN_LAST_ERROR_LEN,
  FN_LAST_ERROR_COPY,
  FN_MALLOC,
  FN_FREE,
  FN_MEMCPY_HTOD,
  FN_MEMCPY_DTOH
} fn_id;

/* Signatures: 'i' i32, 'I' i64. */
static const struct fn_desc {
  const char *module, *name, *params, *results;
  fn_id id;
} fns[] = {
    {TW_CUDA_MODULE, "wasi_cuda_load_ptx", "iiii", "I", FN_LOAD_PTX},
    {TW_CUDA_MODULE, "wasi_cuda_launch", "Iiiiiiiiii", "i", FN_LAUNCH},
    {TW_CUDA_MODULE, "wasi_cuda_sync", "", "i", FN_SYNC},
    {TW_CUDA_MODULE, "wasi_cuda_last_error_len", "", "i", FN_LAST_ERROR_LEN},
    {TW_CUDA_MODULE, "wasi_cuda_last_error_copy", "ii", "i",
     FN_LAST_ERROR_COPY},
    {TW_CUDA_BUFFERS_MODULE, "malloc", "I", "I", FN_MALLOC},
    {TW_CUDA_BUFFERS_MODULE, "free", "I", "i", FN_FREE},
    {TW_CUDA_BUFFERS_MODULE, "memcpy_htod", "IIii", "i", FN_MEMCPY_HTOD},
    {TW_CUDA_BUFFERS_MODULE, "memcpy_dtoh", "IIii", "i", FN_MEMCPY_DTOH},
};

typedef struct binding {
  tw_cuda_t *cuda;
  const struct fn_desc *fn;
} binding;

/* The guest's view for one call. */
typedef struct call {
  tw_cuda_t *c;
  uint8_t *mem;
  uint64_t size;
  const uint64_t *slots;
} call;

static int32_t i32_at(const call *k, int i) { return (int32_t)k->slots[i]; }
static uint32_t u32_at(const call *k, int i) { return (uint32_t)k->slots[i]; }
static int64_t i64_at(const call *k, int i) { return (int64_t)k->slots[i]; }

/* -1 when the gate is closed or the context released, else 0.  Called with
 * c->mu held. */
static int32_t gate(tw_cuda_t *c) {
  if (!atomic_load(&c->enabled)) return TW_CUDA_NOT_AVAILABLE;
  if (c->released)
    return tw__cuda_fail(c, TW_CUDA_NOT_AVAILABLE,
                         "wasi:cuda: the instance's GPU resources were "
                         "released");
  return TW_CUDA_OK;
}

static tw_span_t *span_open(const call *k, const char *name) {
  tw_span_t *s = tw_span_begin(name, TW_CUDA_TARGET, TW_LEVEL_INFO);
  tw_span_attr_str(s, "instance", k->c->instance);
  tw_span_attr_str(s, "tenant", k->c->tenant);
  return s;
}

static void span_close(const call *k, tw_span_t *s, int64_t result) {
  if (s && result < 0) {
    tw_span_attr_int(s, "code", result);
    /* A gated call records no text; say so without revealing more. */
    const char *why = atomic_load(&k->c->enabled) && k->c->last_error[0]
                          ? k->c->last_error
                          : tw_cuda_code_name((int32_t)result);
    tw_span_set_status(s, TW_SPAN_STATUS_ERROR, why);
  }
  tw_span_end(s);
}

static int64_t do_load_ptx(const call *k) {
  tw_span_t *s = span_open(k, TW_CUDA_SPAN_LOAD_PTX);
  tw_span_attr_int(s, "ptx_bytes", u32_at(k, 1));
  tw_span_attr_int(s, "entry_bytes", u32_at(k, 3));
  int64_t r = gate(k->c);
  if (!r)
    r = tw__cuda_load_ptx(k->c, k->mem, k->size, u32_at(k, 0), u32_at(k, 1),
                          u32_at(k, 2), u32_at(k, 3));
  if (r >= 0) tw_span_attr_int(s, "kernel", r);
  span_close(k, s, r);
  return r;
}

static int64_t do_launch(const call *k) {
  static const char *const dims[6] = {"grid_x",  "grid_y",  "grid_z",
                                      "block_x", "block_y", "block_z"};
  int32_t grid[3], block[3];
  tw_span_t *s = span_open(k, TW_CUDA_SPAN_LAUNCH);
  tw_span_attr_int(s, "kernel", i64_at(k, 0));
  for (int i = 0; i < 3; i++) {
    grid[i] = i32_at(k, 1 + i);
    block[i] = i32_at(k, 4 + i);
  }
  for (int i = 0; i < 6; i++)
    tw_span_attr_int(s, dims[i], i32_at(k, 1 + i));
  tw_span_attr_int(s, "shared_mem", i32_at(k, 7));
  int64_t r = gate(k->c);
  if (!r)
    r = tw__cuda_launch(k->c, k->mem, k->size, i64_at(k, 0), grid, block,
                        i32_at(k, 7), u32_at(k, 8), u32_at(k, 9));
  span_close(k, s, r);
  return r;
}

static int64_t do_sync(const call *k) {
  tw_span_t *s = span_open(k, TW_CUDA_SPAN_SYNC);
  int64_t r = gate(k->c);
  if (!r) r = tw__cuda_sync(k->c);
  span_close(k, s, r);
  return r;
}

/* last_error_len/copy answer after release too: the text is plain memory. */
static int64_t do_last_error(const call *k, bool copy) {
  tw_cuda_t *c = k->c;
  if (!atomic_load(&c->enabled)) return TW_CUDA_NOT_AVAILABLE;
  if (!copy) return (int64_t)c->last_error_len;
  uint32_t dst = u32_at(k, 0), cap = u32_at(k, 1);
  if (!cap || !c->last_error_len) return 0;
  uint32_t n = cap < c->last_error_len ? cap : (uint32_t)c->last_error_len;
  if ((uint64_t)dst + n > k->size) return TW_CUDA_INVALID_POINTER;
  memcpy(k->mem + dst, c->last_error, n);
  return n;
}

static int64_t do_buffers(const call *k, fn_id id) {
  int64_t r = gate(k->c);
  if (r) return r;
  switch (id) {
  case FN_MALLOC: return tw__cuda_buffer_alloc(k->c, i64_at(k, 0));
  case FN_FREE: return tw__cuda_buffer_free(k->c, i64_at(k, 0));
  default:
    return tw__cuda_buffer_copy(k->c, k->mem, k->size, i64_at(k, 0),
                                i64_at(k, 1), u32_at(k, 2), u32_at(k, 3),
                                id == FN_MEMCPY_HTOD);
  }
}

static tw_status trampoline(tw_caller_t *caller, void *env, uint64_t *slots,
                            tw_error *err) {
  (void)err; /* guest errors are results, never traps */
  binding *b = env;
  tw_memory_t *m = tw_caller_memory(caller);
  call k = {.c = b->cuda,
            .mem = m ? tw_memory_data(m) : NULL,
            .size = m ? tw_memory_size(m) : 0,
            .slots = slots};
  int64_t r;
  pthread_mutex_lock(&k.c->mu);
  switch (b->fn->id) {
  case FN_LOAD_PTX: r = do_load_ptx(&k); break;
  case FN_LAUNCH: r = do_launch(&k); break;
  case FN_SYNC: r = do_sync(&k); break;
  case FN_LAST_ERROR_LEN: r = do_last_error(&k, false); break;
  case FN_LAST_ERROR_COPY: r = do_last_error(&k, true); break;
  default: r = do_buffers(&k, b->fn->id); break;
  }
  pthread_mutex_unlock(&k.c->mu);
  slots[0] = b->fn->results[0] == 'I' ? (uint64_t)r
                                      : (uint64_t)(uint32_t)(int32_t)r;
  return TW_OK;
}

/* ---- binding imports -------------------------------------------------------- */

static void binding_free(void *env) {
  binding *b = env;
  tw__cuda_unref(b->cuda);
  free(b);
}

static bool name_is(tw_name n, const char *s) {
  return n.len == strlen(s) && memcmp(n.data, s, n.len) == 0;
}

static tw_status refuse(tw_error *err, tw_status st, tw_import_desc d,
                        const char *why) {
  if (err) {
    tw_error_clear(err);
    err->status = st;
    snprintf(err->message, sizeof err->message, "import \"%.*s\" \"%.*s\": %s",
             (int)(d.module.len > 64 ? 64 : d.module.len), d.module.data,
             (int)(d.name.len > 64 ? 64 : d.name.len), d.name.data, why);
  }
  return st;
}

tw_status tw_cuda_resolve_import(tw_cuda_t *cuda, tw_store_t *store,
                                 const tw_module_t *module, size_t index,
                                 tw_extern *out, tw_error *err) {
  tw_import_desc d = tw_module_import(module, index);
  if (!name_is(d.module, TW_CUDA_MODULE) &&
      !name_is(d.module, TW_CUDA_BUFFERS_MODULE))
    return refuse(err, TW_NOT_FOUND, d,
                  "not a wasi:cuda import (" TW_CUDA_MODULE " and "
                  TW_CUDA_BUFFERS_MODULE " are provided)");
  const struct fn_desc *f = NULL;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0] && !f; i++)
    if (name_is(d.module, fns[i].module) && name_is(d.name, fns[i].name))
      f = &fns[i];
  if (!f) return refuse(err, TW_UNLINKABLE, d, "unknown wasi:cuda function");
  if (d.kind != TW_EXTERN_FUNC)
    return refuse(err, TW_UNLINKABLE, d, "wasi:cuda provides functions only");
  tw_valtype params[10], results[1];
  size_t np = strlen(f->params), nr = strlen(f->results);
  for (size_t i = 0; i < np; i++)
    params[i] = f->params[i] == 'I' ? TW_I64 : TW_I32;
  for (size_t i = 0; i < nr; i++)
    results[i] = f->results[i] == 'I' ? TW_I64 : TW_I32;
  binding *b = malloc(sizeof *b);
  if (!b) return refuse(err, TW_NOMEM, d, "out of memory");
  b->cuda = cuda;
  b->fn = f;
  atomic_fetch_add(&cuda->refs, 1);
  tw_func_t *fn = NULL;
  tw_status s = tw_func_new_host(store, params, np, results, nr, trampoline, b,
                                 binding_free, &fn, err);
  if (s != TW_OK) {
    binding_free(b);
    return s;
  }
  out->kind = TW_EXTERN_FUNC;
  out->of.func = fn;
  return TW_OK;
}
