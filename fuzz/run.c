/* Fuzz target `run`: decode, instantiate and run, under small limits.
 *
 * Every import is satisfied by a stub of its own type (host functions
 * that return zeros, fresh tables, memories and globals), so any valid
 * module instantiates unless its limits exceed the engine caps.  Then
 * every exported function is called once with zero arguments, each call
 * under its own fuel, in export order, in one store (later calls see
 * earlier calls' effects, as a guest's calls would).
 *
 * Limits keep one input well under a second: fuel RUN_FUEL per call (and
 * for the start function), memories capped at RUN_MAX_PAGES pages,
 * tables at RUN_MAX_ELEMS elements, RUN_MAX_DEPTH frames.
 *
 * Oracles besides the sanitizers: a call returns OK or TW_TRAP (never
 * anything else for well-typed zero arguments); a trap has a known code;
 * results have the declared types; instantiation fails only with
 * TW_LIMIT, TW_TRAP or TW_NOMEM (every import was given the right type). */
#include <string.h>

#include "fuzz.h"
#include "fuzz_engine.h"

#define RUN_FUEL 2000
#define RUN_MAX_PAGES 32
#define RUN_MAX_ELEMS 4096
#define RUN_MAX_DEPTH 1000

static tw_engine_t *engine;

static tw_status stub(tw_caller_t *caller, void *env, uint64_t *slots,
                      tw_error *err) {
  const tw__functype *t = env;
  (void)caller;
  (void)err;
  for (uint32_t i = 0; i < t->nresults; i++) slots[i] = 0;
  return TW_OK;
}

static tw_val zero_of(tw_valtype t) {
  tw_val v;
  memset(&v, 0, sizeof v);
  v.type = t;
  return v;
}

static tw_status make_import(tw_store_t *store, const tw__module *m,
                             const tw__import *imp, tw_extern *out,
                             tw_error *err) {
  out->kind = (tw_extern_kind)imp->kind;
  switch (imp->kind) {
  case TW_EXTERN_FUNC: {
    const tw__functype *t = &m->types[m->func_types[imp->index]];
    tw_valtype p[t->nparams + 1], r[t->nresults + 1];
    for (uint32_t i = 0; i < t->nparams; i++) p[i] = (tw_valtype)t->types[i];
    for (uint32_t i = 0; i < t->nresults; i++)
      r[i] = (tw_valtype)t->types[t->nparams + i];
    return tw_func_new_host(store, p, t->nparams, r, t->nresults, stub,
                            (void *)t, NULL, &out->of.func, err);
  }
  case TW_EXTERN_TABLE: {
    const tw__tabletype *t = &m->tables[imp->index];
    return tw_table_new(store, (tw_valtype)t->elem, t->limits.min,
                        t->limits.max, t->limits.has_max, &out->of.table, err);
  }
  case TW_EXTERN_MEMORY: {
    const tw__limits *l = &m->mems[imp->index];
    return tw_memory_new(store, l->min, l->max, l->has_max, &out->of.memory,
                         err);
  }
  case TW_EXTERN_GLOBAL: {
    const tw__globaltype *g = &m->globals[imp->index];
    return tw_global_new(store, zero_of((tw_valtype)g->type), g->mut,
                         &out->of.global, err);
  }
  }
  abort();
}

static void call_exports(tw_store_t *store, tw_instance_t *inst,
                         const tw__module *m) {
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *e = &m->exports[i];
    if (e->kind != TW_EXTERN_FUNC) continue;
    tw_extern ext;
    FUZZ_CHECK(tw_instance_export(inst, e->name, e->name_len, &ext) == TW_OK,
               "export %u not found by name", i);
    tw_func_t *f = ext.of.func;
    size_t np = tw_func_param_count(f), nr = tw_func_result_count(f);
    tw_val args[np + 1], res[nr + 1];
    for (size_t k = 0; k < np; k++) args[k] = zero_of(tw_func_param_type(f, k));
    tw_error err;
    tw_store_set_fuel(store, RUN_FUEL);
    tw_status st = tw_func_call(store, f, args, np, res, nr, &err);
    if (st == TW_OK) {
      for (size_t k = 0; k < nr; k++)
        FUZZ_CHECK(res[k].type == tw_func_result_type(f, k),
                   "result %zu of export %u has type %s", k, i,
                   tw_valtype_name(res[k].type));
    } else {
      FUZZ_CHECK(st == TW_TRAP || st == TW_NOMEM,
                 "export %u: status %s (%s)", i, tw_status_name(st),
                 err.message);
      if (st == TW_TRAP)
        FUZZ_CHECK(err.trap > TW_TRAP_NONE && err.trap < TW_TRAP_COUNT,
                   "bad trap code %d", (int)err.trap);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_error err;
  if (!engine) {
    tw_engine_config cfg = {.max_call_depth = RUN_MAX_DEPTH,
                            .max_stack_slots = 1u << 16,
                            .max_memory_pages = RUN_MAX_PAGES,
                            .max_table_elements = RUN_MAX_ELEMS};
    engine = fuzz_engine_new(&cfg);
  }
  tw_module_t *mod = NULL;
  if (tw_module_new(engine, data, size, &mod, &err) != TW_OK) return 0;
  const tw__module *m = &mod->m;

  tw_store_t *store = NULL;
  if (tw_store_new(engine, &store, &err) != TW_OK) abort();
  tw_extern *imports = calloc(m->nimports + 1, sizeof *imports);
  if (!imports) abort();
  for (uint32_t i = 0; i < m->nimports; i++)
    if (make_import(store, m, &m->imports[i], &imports[i], &err) != TW_OK) {
      FUZZ_CHECK(err.status == TW_LIMIT || err.status == TW_NOMEM,
                 "stub for import %u: %s", i, err.message);
      goto done;
    }

  tw_instance_t *inst = NULL;
  tw_store_set_fuel(store, RUN_FUEL);
  tw_status st = tw_instance_new(store, mod, imports, m->nimports, &inst, &err);
  if (st != TW_OK) {
    FUZZ_CHECK(st == TW_LIMIT || st == TW_TRAP || st == TW_NOMEM,
               "instantiate with matching stubs: %s (%s)", tw_status_name(st),
               err.message);
    goto done;
  }
  call_exports(store, inst, m);
done:
  free(imports);
  tw_store_free(store);
  tw_module_free(mod);
  return 0;
}
