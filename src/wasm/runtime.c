/* The embedding API's spine: engine (configuration and the canonical
 * function-type table), modules (decode → validate → intern → compile,
 * reference counted), stores (ownership of every runtime object), host
 * functions, calls from the embedder, and the caller view given to host
 * functions.
 *
 * Invariants kept here:
 *  - A canonical type id names one structural function type for the life of
 *    the engine; equal types get equal ids, so call_indirect compares ids.
 *    Entries of engine->ctypes never move (the array lives in a reserved
 *    address range that is only made accessible as it fills), so a
 *    `const tw__functype *` from tw__engine_type stays valid and may be read
 *    without the lock.
 *  - A store owns every object registered with it and frees them all (and
 *    runs host env_free callbacks) in tw_store_free, newest first.
 *  - tw_func_call allocates nothing: arguments go into the slots the
 *    interpreter hands out. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/sha256.h"
#include "wasm/wasm_int.h"

/* ---- values ------------------------------------------------------------ */

tw_val tw_val_i32(int32_t v) {
  tw_val r = {.type = TW_I32};
  r.of.i32 = v;
  return r;
}

tw_val tw_val_i64(int64_t v) {
  tw_val r = {.type = TW_I64};
  r.of.i64 = v;
  return r;
}

tw_val tw_val_f32(float v) {
  tw_val r = {.type = TW_F32};
  memcpy(&r.of.f32_bits, &v, sizeof v);
  return r;
}

tw_val tw_val_f64(double v) {
  tw_val r = {.type = TW_F64};
  memcpy(&r.of.f64_bits, &v, sizeof v);
  return r;
}

float tw_val_as_f32(tw_val v) {
  float f;
  memcpy(&f, &v.of.f32_bits, sizeof f);
  return f;
}

double tw_val_as_f64(tw_val v) {
  double d;
  memcpy(&d, &v.of.f64_bits, sizeof d);
  return d;
}

const char *tw_valtype_name(tw_valtype t) {
  switch (t) {
  case TW_I32: return "i32";
  case TW_I64: return "i64";
  case TW_F32: return "f32";
  case TW_F64: return "f64";
  case TW_V128: return "v128";
  case TW_FUNCREF: return "funcref";
  case TW_EXTERNREF: return "externref";
  }
  return "unknown";
}

/* Slot encoding (wasm.h, host functions): i32/f32 zero-extended, i64/f64
 * as bits, references as pointers. */
uint64_t tw__val_to_slot(tw_val v) {
  switch (v.type) {
  case TW_I32: return (uint32_t)v.of.i32;
  case TW_F32: return v.of.f32_bits;
  case TW_I64: return (uint64_t)v.of.i64;
  case TW_F64: return v.of.f64_bits;
  case TW_FUNCREF: return (uint64_t)(uintptr_t)v.of.funcref;
  case TW_EXTERNREF: return (uint64_t)(uintptr_t)v.of.externref;
  case TW_V128: break;
  }
  return 0;
}

tw_val tw__val_from_slot(uint8_t type, uint64_t slot) {
  tw_val v;
  memset(&v, 0, sizeof v);
  v.type = (tw_valtype)type;
  switch (type) {
  case TW_I32: v.of.i32 = (int32_t)(uint32_t)slot; break;
  case TW_F32: v.of.f32_bits = (uint32_t)slot; break;
  case TW_I64: v.of.i64 = (int64_t)slot; break;
  case TW_F64: v.of.f64_bits = slot; break;
  case TW_FUNCREF: v.of.funcref = (tw_func_t *)(uintptr_t)slot; break;
  case TW_EXTERNREF: v.of.externref = (void *)(uintptr_t)slot; break;
  default: break;
  }
  return v;
}

static bool valtype_ok(uint8_t t) {
  return t == TW_I32 || t == TW_I64 || t == TW_F32 || t == TW_F64 ||
         t == TW_FUNCREF || t == TW_EXTERNREF;
}

/* ---- engine: canonical function types ----------------------------------- */

/* At most this many distinct function types per engine (64 MiB of address
 * space reserved, none of it committed until used). */
#define TW__CTYPES_MAX (1u << 22)
/* Entries made accessible at a time: 4096 * 16 bytes = 64 KiB. */
#define TW__CTYPES_CHUNK 4096u

/* What engine->types_lock points to.  The mutex comes first, so the
 * pointer is also the pthread_mutex_t* that wasm_int.h promises. */
typedef struct tw__typetab {
  pthread_mutex_t lock;
  uint32_t *buckets;     /* id + 1, 0 = empty; linear probing */
  uint32_t mask;         /* bucket count - 1 (a power of two) */
  uint32_t committed;    /* ctypes entries that are accessible */
} tw__typetab;

static uint32_t type_hash(const tw__functype *t) {
  uint32_t h = 2166136261u; /* FNV-1a */
  uint32_t n = t->nparams + t->nresults;
  h = (h ^ t->nparams) * 16777619u;
  h = (h ^ t->nresults) * 16777619u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ t->types[i]) * 16777619u;
  return h;
}

static bool type_equal(const tw__functype *a, const tw__functype *b) {
  if (a->nparams != b->nparams || a->nresults != b->nresults) return false;
  size_t n = (size_t)a->nparams + a->nresults;
  return n == 0 || memcmp(a->types, b->types, n) == 0;
}

/* Doubles the bucket array.  Called with the lock held. */
static bool buckets_grow(tw_engine_t *e, tw__typetab *tab) {
  uint32_t nb = (tab->mask + 1) * 2;
  uint32_t *b = calloc(nb, sizeof *b);
  if (!b) return false;
  for (uint32_t id = 0; id < e->nctypes; id++) {
    uint32_t i = type_hash(&e->ctypes[id]) & (nb - 1);
    while (b[i]) i = (i + 1) & (nb - 1);
    b[i] = id + 1;
  }
  free(tab->buckets);
  tab->buckets = b;
  tab->mask = nb - 1;
  return true;
}

/* Adds t as entry e->nctypes; *slot is the empty bucket the lookup ended
 * on.  Called with the lock held. */
static tw_status type_insert(tw_engine_t *e, tw__typetab *tab,
                             const tw__functype *t, uint32_t hash,
                             uint32_t slot, uint32_t *id, tw_error *err) {
  if (e->nctypes >= e->cap_ctypes)
    return tw__error_set(err, TW_LIMIT, SIZE_MAX,
                         "engine holds %u distinct function types, the most "
                         "it can", e->cap_ctypes);
  if ((uint64_t)(e->nctypes + 1) * 2 > (uint64_t)tab->mask + 1) {
    if (!buckets_grow(e, tab)) goto nomem;
    slot = hash & tab->mask;
    while (tab->buckets[slot]) slot = (slot + 1) & tab->mask;
  }
  if (e->nctypes == tab->committed) {
    size_t bytes = TW__CTYPES_CHUNK * sizeof(tw__functype);
    if (mprotect(e->ctypes + tab->committed, bytes, PROT_READ | PROT_WRITE))
      goto nomem;
    tab->committed += TW__CTYPES_CHUNK;
  }
  size_t n = (size_t)t->nparams + t->nresults;
  uint8_t *types = malloc(n ? n : 1);
  if (!types) goto nomem;
  if (n) memcpy(types, t->types, n);
  e->ctypes[e->nctypes] =
      (tw__functype){.nparams = t->nparams, .nresults = t->nresults,
                     .types = types};
  tab->buckets[slot] = e->nctypes + 1;
  *id = e->nctypes++;
  return TW_OK;
nomem:
  return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                       "out of memory interning a function type");
}

tw_status tw__engine_intern_type(tw_engine_t *e, const tw__functype *t,
                                 uint32_t *id, tw_error *err) {
  tw__typetab *tab = e->types_lock;
  uint32_t h = type_hash(t);
  tw_status st = TW_OK;
  pthread_mutex_lock(&tab->lock);
  uint32_t i = h & tab->mask;
  for (; tab->buckets[i]; i = (i + 1) & tab->mask) {
    uint32_t cand = tab->buckets[i] - 1;
    if (type_equal(&e->ctypes[cand], t)) {
      *id = cand;
      goto out;
    }
  }
  st = type_insert(e, tab, t, h, i, id, err);
out:
  pthread_mutex_unlock(&tab->lock);
  return st;
}

const tw__functype *tw__engine_type(tw_engine_t *e, uint32_t id) {
  /* No lock: an id is only known after its entry was written under the
   * lock, and entries never move or change. */
  if (id >= e->cap_ctypes) return NULL;
  return &e->ctypes[id];
}

tw_status tw_engine_new(const tw_engine_config *config, tw_engine_t **out,
                        tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_engine_new: out is NULL");
  *out = NULL;
  tw_engine_t *e = calloc(1, sizeof *e);
  tw__typetab *tab = calloc(1, sizeof *tab);
  bool locked_init = false;
  if (!e || !tab) goto nomem;
  if (config) e->config = *config;
  if (!e->config.max_call_depth) e->config.max_call_depth = 20000;
  if (!e->config.max_stack_slots) e->config.max_stack_slots = 1u << 20;
  if (!e->config.max_memory_pages ||
      e->config.max_memory_pages > TW_MAX_PAGES)
    e->config.max_memory_pages = TW_MAX_PAGES;
  if (!e->config.max_table_elements)
    e->config.max_table_elements = 10u << 20;

  if (pthread_mutex_init(&tab->lock, NULL)) goto nomem;
  locked_init = true;
  tab->mask = 63;
  tab->buckets = calloc(tab->mask + 1, sizeof *tab->buckets);
  if (!tab->buckets) goto nomem;
  void *ct = mmap(NULL, (size_t)TW__CTYPES_MAX * sizeof(tw__functype),
                  PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                  0);
  if (ct == MAP_FAILED) goto nomem;
  e->ctypes = ct;
  e->cap_ctypes = TW__CTYPES_MAX;
  e->types_lock = tab;

  tw__signals_install();
  *out = e;
  return TW_OK;
nomem:
  if (tab) {
    free(tab->buckets);
    if (locked_init) pthread_mutex_destroy(&tab->lock);
  }
  free(tab);
  free(e);
  return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                       "out of memory creating the engine");
}

void tw_engine_free(tw_engine_t *e) {
  if (!e) return;
  tw__typetab *tab = e->types_lock;
  for (uint32_t i = 0; i < e->nctypes; i++) free(e->ctypes[i].types);
  munmap(e->ctypes, (size_t)e->cap_ctypes * sizeof(tw__functype));
  free(tab->buckets);
  pthread_mutex_destroy(&tab->lock);
  free(tab);
  free(e);
}

/* ---- modules ------------------------------------------------------------ */

static void module_destroy(tw_module_t *mod) {
  tw__module *m = &mod->m;
  if (m->bodies) {
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
      if (m->bodies[i].compiled) tw__code_free(m->bodies[i].compiled);
      m->bodies[i].compiled = NULL;
    }
  }
  tw__module_release(m);
  free(mod);
}

tw_status tw__intern_types(tw_module_t *mod, tw_error *err) {
  tw__module *m = &mod->m;
  if (m->ntypes == 0) return TW_OK;
  if (!m->type_ids) {
    m->type_ids = calloc(m->ntypes, sizeof *m->type_ids);
    if (!m->type_ids)
      return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                           "out of memory for %u type ids", m->ntypes);
  }
  for (uint32_t i = 0; i < m->ntypes; i++) {
    tw_status st =
        tw__engine_intern_type(mod->engine, &m->types[i], &m->type_ids[i], err);
    if (st != TW_OK) return st;
  }
  return TW_OK;
}

tw_status tw__module_begin(tw_engine_t *engine, const uint8_t *bytes,
                           size_t len, tw_module_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_module_new: out is NULL");
  *out = NULL;
  if (!engine || (!bytes && len))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_module_new: engine or bytes is NULL");
  tw_module_t *mod = calloc(1, sizeof *mod);
  if (!mod)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory creating a module");
  mod->engine = engine;
  atomic_init(&mod->refs, 1);
  tw_status st = tw__module_decode(bytes, len, &mod->m, err);
  if (st != TW_OK) {
    free(mod); /* decode left mod->m zeroed */
    return st;
  }
  *out = mod;
  return TW_OK;
}

void tw__module_abort(tw_module_t *mod) { module_destroy(mod); }

tw_status tw_module_new(tw_engine_t *engine, const uint8_t *bytes, size_t len,
                        tw_module_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_module_new: out is NULL");
  *out = NULL;
  tw_module_t *mod;
  tw_status st = tw__module_begin(engine, bytes, len, &mod, err);
  if (st != TW_OK) return st;
  st = tw__module_validate(&mod->m, err);
  if (st == TW_OK) st = tw__intern_types(mod, err);
  if (st == TW_OK) st = tw__module_compile(mod, err);
  if (st == TW_OK) tw__sha256(mod->m.bytes, mod->m.len, mod->hash);
  if (st != TW_OK) {
    module_destroy(mod);
    return st;
  }
  *out = mod;
  return TW_OK;
}

tw_status tw_module_validate(tw_engine_t *engine, const uint8_t *bytes,
                             size_t len, tw_error *err) {
  if (!engine || (!bytes && len))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_module_validate: engine or bytes is NULL");
  tw__module m;
  memset(&m, 0, sizeof m);
  tw_status st = tw__module_decode(bytes, len, &m, err);
  if (st != TW_OK) return st;
  st = tw__module_validate(&m, err);
  tw__module_release(&m);
  return st;
}

void tw_module_free(tw_module_t *mod) {
  if (!mod) return;
  if (atomic_fetch_sub_explicit(&mod->refs, 1, memory_order_acq_rel) == 1)
    module_destroy(mod);
}

size_t tw_module_import_count(const tw_module_t *mod) {
  return mod ? mod->m.nimports : 0;
}

tw_import_desc tw_module_import(const tw_module_t *mod, size_t i) {
  tw_import_desc d;
  memset(&d, 0, sizeof d);
  if (!mod || i >= mod->m.nimports) return d;
  const tw__import *im = &mod->m.imports[i];
  d.module = (tw_name){im->module, im->module_len};
  d.name = (tw_name){im->name, im->name_len};
  d.kind = (tw_extern_kind)im->kind;
  return d;
}

bool tw_module_has_start(const tw_module_t *mod) {
  return mod && mod->m.has_start;
}

size_t tw_module_export_count(const tw_module_t *mod) {
  return mod ? mod->m.nexports : 0;
}

tw_export_desc tw_module_export(const tw_module_t *mod, size_t i) {
  tw_export_desc d;
  memset(&d, 0, sizeof d);
  if (!mod || i >= mod->m.nexports) return d;
  const tw__export *ex = &mod->m.exports[i];
  d.name = (tw_name){ex->name, ex->name_len};
  d.kind = (tw_extern_kind)ex->kind;
  return d;
}

/* ---- stores ------------------------------------------------------------- */

tw_status tw_store_new(tw_engine_t *engine, tw_store_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_store_new: out is NULL");
  *out = NULL;
  if (!engine)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_store_new: engine is NULL");
  tw_store_t *s = calloc(1, sizeof *s);
  if (!s)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory creating a store");
  s->engine = engine;
  atomic_init(&s->checks, 0);
  s->fuel = UINT64_MAX;
  *out = s;
  return TW_OK;
}

tw_status tw__store_add(tw_store_t *s, uint8_t kind, void *obj,
                        tw_error *err) {
  if (s->nobjects == s->cap_objects) {
    size_t cap = s->cap_objects ? s->cap_objects * 2 : 16;
    void **objs = realloc(s->objects, cap * sizeof *objs);
    if (!objs) goto nomem;
    s->objects = objs;
    uint8_t *kinds = realloc(s->object_kinds, cap);
    if (!kinds) goto nomem; /* objects grew; cap_objects still says old */
    s->object_kinds = kinds;
    s->cap_objects = cap;
  }
  s->objects[s->nobjects] = obj;
  s->object_kinds[s->nobjects] = kind;
  s->nobjects++;
  return TW_OK;
nomem:
  return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                       "out of memory registering an object in the store");
}

void tw_store_free(tw_store_t *s) {
  if (!s) return;
  for (size_t i = s->nobjects; i-- > 0;) {
    void *obj = s->objects[i];
    switch (s->object_kinds[i]) {
    case TW_EXTERN_FUNC: {
      tw_func_t *f = obj;
      if (f->env_free) f->env_free(f->env);
      free(f);
      break;
    }
    case TW_EXTERN_TABLE: tw__table_free(obj); break;
    case TW_EXTERN_MEMORY: tw__memory_free(obj); break;
    case TW_EXTERN_GLOBAL: free(obj); break;
    case TW__OBJ_INSTANCE: tw__instance_free(obj); break;
    default: break;
    }
  }
  tw__exec_release(&s->exec);
  free(s->objects);
  free(s->object_kinds);
  free(s);
}

void tw_store_clear_interrupt(tw_store_t *s) {
  if (s) atomic_fetch_and(&s->checks, ~TW__CHECK_INTERRUPT);
}

void tw_store_interrupt(tw_store_t *s) {
  if (s) atomic_fetch_or(&s->checks, TW__CHECK_INTERRUPT);
}

void tw_store_set_fuel(tw_store_t *s, uint64_t fuel) {
  if (!s) return;
  s->fuel = fuel;
  if (fuel == UINT64_MAX)
    atomic_fetch_and(&s->checks, ~TW__CHECK_FUEL);
  else
    atomic_fetch_or(&s->checks, TW__CHECK_FUEL);
}

uint64_t tw_store_fuel(const tw_store_t *s) { return s ? s->fuel : 0; }

/* ---- functions ---------------------------------------------------------- */

tw_status tw_func_new_host(tw_store_t *store, const tw_valtype *params,
                           size_t nparams, const tw_valtype *results,
                           size_t nresults, tw_host_fn fn, void *env,
                           void (*env_free)(void *), tw_func_t **out,
                           tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_func_new_host: out is NULL");
  *out = NULL;
  if (!store || !fn || (nparams && !params) || (nresults && !results))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_func_new_host: store, fn, params or results is "
                         "NULL");
  if (nparams > 1000 || nresults > 1000)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "host function with %zu params and %zu results: at "
                         "most 1000 of each", nparams, nresults);
  uint8_t types[2000];
  for (size_t i = 0; i < nparams + nresults; i++) {
    tw_valtype t = i < nparams ? params[i] : results[i - nparams];
    if (!valtype_ok((uint8_t)t))
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "host function %s %zu: type 0x%02x is not a "
                           "supported value type",
                           i < nparams ? "param" : "result",
                           i < nparams ? i : i - nparams, (unsigned)t);
    types[i] = (uint8_t)t;
  }
  tw__functype ft = {.nparams = (uint32_t)nparams,
                     .nresults = (uint32_t)nresults, .types = types};
  uint32_t id;
  tw_status st = tw__engine_intern_type(store->engine, &ft, &id, err);
  if (st != TW_OK) return st;
  tw_func_t *f = calloc(1, sizeof *f);
  if (!f)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory creating a host function");
  f->type_id = id;
  f->type = tw__engine_type(store->engine, id);
  f->host = fn;
  f->env = env;
  st = tw__store_add(store, TW_EXTERN_FUNC, f, err);
  if (st != TW_OK) {
    free(f); /* env stays the caller's: env_free is not run */
    return st;
  }
  f->env_free = env_free;
  *out = f;
  return TW_OK;
}

size_t tw_func_param_count(const tw_func_t *f) {
  return f ? f->type->nparams : 0;
}

size_t tw_func_result_count(const tw_func_t *f) {
  return f ? f->type->nresults : 0;
}

tw_valtype tw_func_param_type(const tw_func_t *f, size_t i) {
  if (!f || i >= f->type->nparams) return (tw_valtype)0;
  return (tw_valtype)f->type->types[i];
}

tw_valtype tw_func_result_type(const tw_func_t *f, size_t i) {
  if (!f || i >= f->type->nresults) return (tw_valtype)0;
  return (tw_valtype)f->type->types[f->type->nparams + i];
}

tw_status tw_func_call(tw_store_t *store, tw_func_t *f, const tw_val *args,
                       size_t nargs, tw_val *results, size_t nresults,
                       tw_error *err) {
  tw_error local;
  if (!err) err = &local;
  if (!store || !f)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_func_call: store or function is NULL");
  if (f->inst && f->inst->store != store)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_func_call: the function belongs to another store");
  const tw__functype *t = f->type;
  if (nargs != t->nparams)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "function takes %u argument%s, got %zu", t->nparams,
                         t->nparams == 1 ? "" : "s", nargs);
  if (nargs && !args)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_func_call: args is NULL");
  for (size_t i = 0; i < nargs; i++) {
    if ((uint8_t)args[i].type != t->types[i])
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "argument %zu: expected %s, got %s", i,
                           tw_valtype_name((tw_valtype)t->types[i]),
                           tw_valtype_name(args[i].type));
  }
  if (nresults < t->nresults || (t->nresults && !results))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "function returns %u result%s, results has room for "
                         "%zu", t->nresults, t->nresults == 1 ? "" : "s",
                         results ? nresults : 0);
  uint64_t *slots = tw__exec_args(store, err);
  if (!slots) return err->status != TW_OK ? err->status : TW_NOMEM;
  for (size_t i = 0; i < nargs; i++) slots[i] = tw__val_to_slot(args[i]);
  tw_status st = tw__invoke(store, f, slots, err);
  if (st != TW_OK) return st;
  const uint8_t *rt = t->types + t->nparams;
  for (uint32_t i = 0; i < t->nresults; i++)
    results[i] = tw__val_from_slot(rt[i], slots[i]);
  return TW_OK;
}

/* ---- the caller, inside host functions ---------------------------------- */

tw_memory_t *tw_caller_memory(tw_caller_t *caller) {
  return caller && caller->inst ? caller->inst->memory0 : NULL;
}

tw_store_t *tw_caller_store(tw_caller_t *caller) {
  return caller ? caller->store : NULL;
}

tw_instance_t *tw_caller_instance(tw_caller_t *caller) {
  return caller ? caller->inst : NULL;
}
