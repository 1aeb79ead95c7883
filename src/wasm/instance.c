/* Instantiation: import matching, index spaces, defined objects, element
 * and data segment initialisation, the start function; and export lookup.
 *
 * An instance is one allocation: the struct, then its four index spaces
 * (arrays of pointers, imports first), then the tw_func and tw_global
 * objects of the functions and globals the module defines, then the
 * dropped flags of its segments.  Its tables and memories are separate
 * store objects (made with tw_table_new / tw_memory_new) because they can
 * be exported and outlive nothing: everything lives until tw_store_free.
 *
 * Order follows the spec: match every import before creating anything;
 * then tables, memories, globals; then active element segments and active
 * data segments in order, each bounds-checked before it writes; then the
 * start function.  A trap leaves the writes made so far (possibly into
 * imported tables and memories) in place. */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

/* ---- import matching ---------------------------------------------------- */

static const char *kind_name(unsigned kind) {
  switch (kind) {
  case TW_EXTERN_FUNC: return "func";
  case TW_EXTERN_TABLE: return "table";
  case TW_EXTERN_MEMORY: return "memory";
  case TW_EXTERN_GLOBAL: return "global";
  }
  return "unknown extern";
}

/* Appends text to buf[*len..cap), keeping it NUL-terminated. */
static void put(char *buf, size_t cap, size_t *len, const char *text) {
  while (*text && *len + 1 < cap) buf[(*len)++] = *text++;
  buf[*len] = '\0';
}

/* "(i32 i64) -> (f32)", truncated to cap. */
static const char *functype_str(const tw__functype *t, char *buf,
                                size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  put(buf, cap, &len, "(");
  for (uint32_t i = 0; i < t->nparams + t->nresults; i++) {
    if (i == t->nparams) put(buf, cap, &len, ") -> (");
    else if (i) put(buf, cap, &len, " ");
    put(buf, cap, &len, tw_valtype_name((tw_valtype)t->types[i]));
  }
  if (t->nresults == 0) put(buf, cap, &len, ") -> (");
  put(buf, cap, &len, ")");
  return buf;
}

static void limits_str(char *buf, size_t cap, uint32_t min,
                       const tw__limits *l) {
  if (l->has_max)
    snprintf(buf, cap, "{min %u, max %u}", min, l->max);
  else
    snprintf(buf, cap, "{min %u, no max}", min);
}

/* The spec's limits subtyping: the import's current size is at least the
 * declared minimum, and if a maximum is declared the import has one no
 * larger. */
static bool limits_match(uint32_t have_min, const tw__limits *have,
                         const tw__limits *want) {
  if (have_min < want->min) return false;
  if (want->has_max && (!have->has_max || have->max > want->max)) return false;
  return true;
}

#define IMPORT_FMT "import %u (%.*s.%.*s): "
#define IMPORT_ARGS(i, im)                                                   \
  (unsigned)(i), (int)(im)->module_len, (im)->module, (int)(im)->name_len,   \
      (im)->name

static tw_status match_func(const tw_module_t *mod, uint32_t i,
                            const tw__import *im, const tw_func_t *f,
                            tw_error *err) {
  const tw__module *m = &mod->m;
  uint32_t tidx = m->func_types[im->index];
  if (f->type_id == m->type_ids[tidx]) return TW_OK;
  char want[128], have[128];
  return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                       IMPORT_FMT "incompatible import type: expected func %s, "
                       "got func %s", IMPORT_ARGS(i, im),
                       functype_str(&m->types[tidx], want, sizeof want),
                       functype_str(f->type, have, sizeof have));
}

static tw_status match_table(const tw__module *m, uint32_t i,
                             const tw__import *im, const tw_table_t *t,
                             tw_error *err) {
  const tw__tabletype *want = &m->tables[im->index];
  char ws[64], hs[64];
  if (t->type.elem != want->elem)
    return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                         IMPORT_FMT "incompatible import type: expected a %s "
                         "table, got a %s table", IMPORT_ARGS(i, im),
                         tw_valtype_name((tw_valtype)want->elem),
                         tw_valtype_name((tw_valtype)t->type.elem));
  if (limits_match(t->size, &t->type.limits, &want->limits)) return TW_OK;
  limits_str(ws, sizeof ws, want->limits.min, &want->limits);
  limits_str(hs, sizeof hs, t->size, &t->type.limits);
  return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                       IMPORT_FMT "incompatible import type: expected table "
                       "limits %s, got %s", IMPORT_ARGS(i, im), ws, hs);
}

static tw_status match_memory(const tw__module *m, uint32_t i,
                              const tw__import *im, const tw_memory_t *mem,
                              tw_error *err) {
  const tw__limits *want = &m->mems[im->index];
  if (limits_match(mem->pages, &mem->limits, want)) return TW_OK;
  char ws[64], hs[64];
  limits_str(ws, sizeof ws, want->min, want);
  limits_str(hs, sizeof hs, mem->pages, &mem->limits);
  return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                       IMPORT_FMT "incompatible import type: expected memory "
                       "limits %s (pages), got %s", IMPORT_ARGS(i, im), ws,
                       hs);
}

static tw_status match_global(const tw__module *m, uint32_t i,
                              const tw__import *im, const tw_global_t *g,
                              tw_error *err) {
  const tw__globaltype *want = &m->globals[im->index];
  if (g->type.type == want->type && g->type.mut == want->mut) return TW_OK;
  return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                       IMPORT_FMT "incompatible import type: expected %s%s "
                       "global, got %s%s global", IMPORT_ARGS(i, im),
                       want->mut ? "mutable " : "",
                       tw_valtype_name((tw_valtype)want->type),
                       g->type.mut ? "mutable " : "",
                       tw_valtype_name((tw_valtype)g->type.type));
}

static tw_status match_import(const tw_module_t *mod, uint32_t i,
                              const tw_extern *ext, tw_error *err) {
  const tw__module *m = &mod->m;
  const tw__import *im = &m->imports[i];
  const void *obj = ext->of.func; /* every member is a pointer */
  if ((unsigned)ext->kind != im->kind)
    return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                         IMPORT_FMT "incompatible import type: expected %s, "
                         "got %s", IMPORT_ARGS(i, im), kind_name(im->kind),
                         kind_name(ext->kind));
  if (!obj)
    return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                         IMPORT_FMT "unknown import: no %s was given",
                         IMPORT_ARGS(i, im), kind_name(im->kind));
  switch (im->kind) {
  case TW_EXTERN_FUNC: return match_func(mod, i, im, ext->of.func, err);
  case TW_EXTERN_TABLE: return match_table(m, i, im, ext->of.table, err);
  case TW_EXTERN_MEMORY: return match_memory(m, i, im, ext->of.memory, err);
  case TW_EXTERN_GLOBAL: return match_global(m, i, im, ext->of.global, err);
  }
  return tw__error_set(err, TW_UNLINKABLE, SIZE_MAX,
                       IMPORT_FMT "unknown import kind %u", IMPORT_ARGS(i, im),
                       (unsigned)im->kind);
}

/* ---- allocation ----------------------------------------------------------- */

/* Reserves n items of `size` bytes aligned to `align` at *off; returns
 * where they start. */
static size_t take(size_t *off, size_t n, size_t size, size_t align) {
  size_t at = (*off + align - 1) & ~(align - 1);
  *off = at + n * size;
  return at;
}

static tw_instance_t *instance_alloc(const tw__module *m, tw_func_t **own_funcs,
                                     tw_global_t **own_globals) {
  size_t off = sizeof(tw_instance_t);
  size_t a_funcs = take(&off, m->nfuncs, sizeof(tw_func_t *),
                        alignof(tw_func_t *));
  size_t a_tables = take(&off, m->ntables, sizeof(tw_table_t *),
                         alignof(tw_table_t *));
  size_t a_mems = take(&off, m->nmems, sizeof(tw_memory_t *),
                       alignof(tw_memory_t *));
  size_t a_globals = take(&off, m->nglobals, sizeof(tw_global_t *),
                          alignof(tw_global_t *));
  size_t a_ofuncs = take(&off, m->nfuncs - m->nfunc_imports, sizeof(tw_func_t),
                         alignof(tw_func_t));
  size_t a_oglobals = take(&off, m->nglobals - m->nglobal_imports,
                           sizeof(tw_global_t), alignof(tw_global_t));
  size_t a_edrop = take(&off, m->nelems, 1, 1);
  size_t a_ddrop = take(&off, m->ndatas, 1, 1);
  uint8_t *p = calloc(1, off);
  if (!p) return NULL;
  tw_instance_t *inst = (tw_instance_t *)p;
  inst->funcs = (tw_func_t **)(p + a_funcs);
  inst->tables = (tw_table_t **)(p + a_tables);
  inst->mems = (tw_memory_t **)(p + a_mems);
  inst->globals = (tw_global_t **)(p + a_globals);
  inst->elem_dropped = p + a_edrop;
  inst->data_dropped = p + a_ddrop;
  *own_funcs = (tw_func_t *)(p + a_ofuncs);
  *own_globals = (tw_global_t *)(p + a_oglobals);
  return inst;
}

void tw__instance_free(tw_instance_t *inst) {
  if (!inst) return;
  tw_module_free(inst->module);
  free(inst);
}

/* ---- building ------------------------------------------------------------- */

/* Value of a constant expression in slot encoding.  The validator checked
 * indices and types; global.get reads globals already initialised. */
static uint64_t eval_const(const tw_instance_t *inst, const tw__constexpr *ce) {
  switch (ce->op) {
  case TW_OP_i32_const:
  case TW_OP_f32_const: return (uint32_t)ce->bits;
  case TW_OP_i64_const:
  case TW_OP_f64_const: return ce->bits;
  case TW_OP_ref_null: return 0;
  case TW_OP_ref_func: return (uint64_t)(uintptr_t)inst->funcs[ce->index];
  case TW_OP_global_get: return inst->globals[ce->index]->value;
  }
  return 0;
}

static void link_imports(tw_instance_t *inst, const tw_extern *imports) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->nimports; i++) {
    const tw__import *im = &m->imports[i];
    switch (im->kind) {
    case TW_EXTERN_FUNC: inst->funcs[im->index] = imports[i].of.func; break;
    case TW_EXTERN_TABLE: inst->tables[im->index] = imports[i].of.table; break;
    case TW_EXTERN_MEMORY: inst->mems[im->index] = imports[i].of.memory; break;
    case TW_EXTERN_GLOBAL:
      inst->globals[im->index] = imports[i].of.global;
      break;
    }
  }
}

static void make_funcs(tw_instance_t *inst, tw_func_t *own) {
  tw_module_t *mod = inst->module;
  const tw__module *m = &mod->m;
  for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
    tw_func_t *f = &own[i - m->nfunc_imports];
    f->type_id = m->type_ids[m->func_types[i]];
    f->type = tw__engine_type(mod->engine, f->type_id);
    f->inst = inst;
    f->code = m->bodies[i - m->nfunc_imports].compiled;
    f->index = i;
    inst->funcs[i] = f;
  }
}

static tw_status make_tables_memories(tw_instance_t *inst, tw_error *err) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
    const tw__tabletype *tt = &m->tables[i];
    tw_status st = tw_table_new(inst->store, (tw_valtype)tt->elem,
                                tt->limits.min, tt->limits.max,
                                tt->limits.has_max, &inst->tables[i], err);
    if (st != TW_OK) return st;
  }
  for (uint32_t i = m->nmem_imports; i < m->nmems; i++) {
    const tw__limits *l = &m->mems[i];
    tw_status st = tw_memory_new(inst->store, l->min, l->max, l->has_max,
                                 &inst->mems[i], err);
    if (st != TW_OK) return st;
  }
  if (m->nmems) {
    inst->memory0 = inst->mems[0];
    inst->mem0 = inst->mems[0]->base;
  }
  return TW_OK;
}

static void make_globals(tw_instance_t *inst, tw_global_t *own) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
    tw_global_t *g = &own[i - m->nglobal_imports];
    g->type = m->globals[i];
    g->value = eval_const(inst, &m->global_inits[i - m->nglobal_imports]);
    inst->globals[i] = g;
  }
}

static tw_status init_elems(tw_instance_t *inst, tw_error *err) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->nelems; i++) {
    const tw__elem *seg = &m->elems[i];
    if (seg->mode == TW__SEG_DECLARATIVE) inst->elem_dropped[i] = 1;
    if (seg->mode != TW__SEG_ACTIVE) continue;
    tw_table_t *t = inst->tables[seg->table];
    uint32_t off = (uint32_t)eval_const(inst, &seg->offset);
    if ((uint64_t)off + seg->count > t->size)
      return tw_trap_set(err, TW_TRAP_TABLE_OOB,
                         "%s (element segment %u: %u elements at %u, table "
                         "size %u)", tw_trap_message(TW_TRAP_TABLE_OOB), i,
                         seg->count, off, t->size);
    for (uint32_t j = 0; j < seg->count; j++)
      t->elems[off + j] = (void *)(uintptr_t)eval_const(inst, &seg->items[j]);
    inst->elem_dropped[i] = 1;
  }
  return TW_OK;
}

static tw_status init_datas(tw_instance_t *inst, tw_error *err) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const tw__data *seg = &m->datas[i];
    if (seg->mode != TW__SEG_ACTIVE) continue;
    tw_memory_t *mem = inst->mems[seg->memory];
    uint32_t off = (uint32_t)eval_const(inst, &seg->offset);
    if ((uint64_t)off + seg->len > mem->size)
      return tw_trap_set(err, TW_TRAP_MEMORY_OOB,
                         "%s (data segment %u: %u bytes at %u, memory size "
                         "%llu)", tw_trap_message(TW_TRAP_MEMORY_OOB), i,
                         seg->len, off, (unsigned long long)mem->size);
    if (seg->len) memcpy(mem->base + off, seg->bytes, seg->len);
    inst->data_dropped[i] = 1;
  }
  return TW_OK;
}

static tw_status run_start(tw_instance_t *inst, tw_error *err) {
  const tw__module *m = &inst->module->m;
  if (!m->has_start) return TW_OK;
  tw_error local;
  if (!err) err = &local;
  uint64_t *slots = tw__exec_args(inst->store, err);
  if (!slots) return err->status != TW_OK ? err->status : TW_NOMEM;
  return tw__invoke(inst->store, inst->funcs[m->start], slots, err);
}

/* skip_init: mark segments as a completed initialisation would leave them
 * (active and declarative dropped), writing nothing. */
static void mark_initialised(tw_instance_t *inst) {
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->nelems; i++)
    if (m->elems[i].mode != TW__SEG_PASSIVE) inst->elem_dropped[i] = 1;
  for (uint32_t i = 0; i < m->ndatas; i++)
    if (m->datas[i].mode == TW__SEG_ACTIVE) inst->data_dropped[i] = 1;
}

tw_status tw_instance_new(tw_store_t *store, tw_module_t *module,
                          const tw_extern *imports, size_t nimports,
                          tw_instance_t **out, tw_error *err) {
  return tw_instance_new_ex(store, module, imports, nimports, NULL, out, err);
}

tw_status tw_instance_new_ex(tw_store_t *store, tw_module_t *module,
                             const tw_extern *imports, size_t nimports,
                             const tw_instance_options *opt,
                             tw_instance_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_instance_new: out is NULL");
  *out = NULL;
  if (!store || !module)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_instance_new: store or module is NULL");
  const tw__module *m = &module->m;
  if (nimports != m->nimports || (nimports && !imports))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "module has %u imports, %zu were given", m->nimports,
                         imports ? nimports : 0);
  for (uint32_t i = 0; i < m->nimports; i++) {
    tw_status st = match_import(module, i, &imports[i], err);
    if (st != TW_OK) return st;
  }

  tw_func_t *own_funcs;
  tw_global_t *own_globals;
  tw_instance_t *inst = instance_alloc(m, &own_funcs, &own_globals);
  if (!inst)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory creating an instance");
  atomic_fetch_add_explicit(&module->refs, 1, memory_order_relaxed);
  inst->module = module;
  inst->store = store;
  tw_status st = tw__store_add(store, TW__OBJ_INSTANCE, inst, err);
  if (st != TW_OK) {
    tw__instance_free(inst);
    return st;
  }
  /* From here on the store owns inst: a failure leaves it there. */
  link_imports(inst, imports);
  make_funcs(inst, own_funcs);
  st = make_tables_memories(inst, err);
  if (st != TW_OK) return st;
  make_globals(inst, own_globals);
  if (opt && opt->skip_init) {
    mark_initialised(inst);
  } else {
    st = init_elems(inst, err);
    if (st == TW_OK) st = init_datas(inst, err);
    if (st == TW_OK) st = run_start(inst, err);
    if (st != TW_OK) return st;
  }
  *out = inst;
  return TW_OK;
}

/* ---- index spaces --------------------------------------------------------- */

uint32_t tw_instance_func_count(const tw_instance_t *inst) {
  return inst ? inst->module->m.nfuncs : 0;
}
tw_func_t *tw_instance_func(tw_instance_t *inst, uint32_t i) {
  return inst && i < inst->module->m.nfuncs ? inst->funcs[i] : NULL;
}
uint32_t tw_instance_global_count(const tw_instance_t *inst) {
  return inst ? inst->module->m.nglobals : 0;
}
tw_global_t *tw_instance_global(tw_instance_t *inst, uint32_t i) {
  return inst && i < inst->module->m.nglobals ? inst->globals[i] : NULL;
}
uint32_t tw_instance_table_count(const tw_instance_t *inst) {
  return inst ? inst->module->m.ntables : 0;
}
tw_table_t *tw_instance_table(tw_instance_t *inst, uint32_t i) {
  return inst && i < inst->module->m.ntables ? inst->tables[i] : NULL;
}

uint32_t tw_instance_segment_count(const tw_instance_t *inst, bool data) {
  if (!inst) return 0;
  return data ? inst->module->m.ndatas : inst->module->m.nelems;
}
bool tw_instance_segment_dropped(const tw_instance_t *inst, bool data,
                                 uint32_t i) {
  if (i >= tw_instance_segment_count(inst, data)) return false;
  return (data ? inst->data_dropped : inst->elem_dropped)[i] != 0;
}
void tw_instance_segment_drop(tw_instance_t *inst, bool data, uint32_t i) {
  if (i >= tw_instance_segment_count(inst, data)) return;
  (data ? inst->data_dropped : inst->elem_dropped)[i] = 1;
}

bool tw_func_owner(const tw_func_t *f, tw_instance_t **inst,
                   uint32_t *index) {
  if (!f || !f->inst) return false;
  if (inst) *inst = f->inst;
  if (index) *index = f->index;
  return true;
}

/* ---- exports ---------------------------------------------------------- */

/* Linear search: modules export few names and callers look each up once
 * (the executor keeps the handles). */
tw_status tw_instance_export(tw_instance_t *inst, const char *name,
                             size_t name_len, tw_extern *out) {
  if (!inst || !out || (!name && name_len)) return TW_ARG;
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *ex = &m->exports[i];
    if (ex->name_len != name_len || memcmp(ex->name, name, name_len) != 0)
      continue;
    out->kind = (tw_extern_kind)ex->kind;
    switch (ex->kind) {
    case TW_EXTERN_FUNC: out->of.func = inst->funcs[ex->index]; break;
    case TW_EXTERN_TABLE: out->of.table = inst->tables[ex->index]; break;
    case TW_EXTERN_MEMORY: out->of.memory = inst->mems[ex->index]; break;
    case TW_EXTERN_GLOBAL: out->of.global = inst->globals[ex->index]; break;
    }
    return TW_OK;
  }
  return TW_NOT_FOUND;
}

tw_memory_t *tw_instance_memory(tw_instance_t *inst) {
  if (!inst) return NULL;
  const tw__module *m = &inst->module->m;
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == TW_EXTERN_MEMORY)
      return inst->mems[m->exports[i].index];
  return m->nmems ? inst->mems[0] : NULL;
}

tw_module_t *tw_instance_module(tw_instance_t *inst) {
  return inst ? inst->module : NULL;
}
