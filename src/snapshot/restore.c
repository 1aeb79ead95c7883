/* Restoring a snapshot: the warm-start path.
 *
 * A restore is: instantiate without initialisation, map the memory image
 * copy-on-write (one mmap, whatever the memory's size: pages are read from
 * the page cache on first touch and copied on first write, so one
 * instance's writes never reach the file or another instance), then set
 * the globals, the non-null table entries and the dropped flags the plan
 * lists.  Nothing is read from the file and nothing is hashed here.
 *
 * The plan's function indices and sizes were range-checked against the
 * file when it was opened, but only an instance can say how many functions,
 * globals, tables and segments the module has: the first restore checks
 * the plan against it (check_shape) and records that in the plan, so later
 * restores skip it.  The module is fixed for the plan's life, so the answer
 * cannot change. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "snapshot/snapshot_int.h"
#include "tensorwasm/metrics.h"
#include "tensorwasm/trace.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the first restore's check ------------------------------------------------ */

static tw_status check_globals(const tw_snapshot_t *s, tw_instance_t *inst,
                               uint32_t own_from, tw_snapshot_error *err) {
  uint32_t n = tw_instance_global_count(inst);
  uint32_t nfuncs = tw_instance_func_count(inst);
  if (s->nglobals != n)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                         "snapshot records %u globals, the module has %u",
                         s->nglobals, n);
  for (uint32_t i = 0; i < n; i++) {
    const tw__snap_global *g = &s->globals[i];
    tw_val now = tw_global_get(tw_instance_global(inst, i));
    if (g->index != i || g->type != (uint8_t)now.type)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                           "global record %u (index %u, %s) does not match "
                           "global %u (%s)", i, g->index,
                           tw_valtype_name((tw_valtype)g->type), i,
                           tw_valtype_name(now.type));
    if (g->type == TW_FUNCREF && g->value != TW__SNAP_NULL_REF &&
        (g->value < own_from || g->value >= nfuncs))
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                           "global %u refers to function %llu, not one of the "
                           "instance's own functions %u..%u", i,
                           (unsigned long long)g->value, own_from, nfuncs);
  }
  return TW_OK;
}

static tw_status check_tables(const tw_snapshot_t *s, tw_instance_t *inst,
                              uint32_t own_from, tw_snapshot_error *err) {
  uint32_t n = tw_instance_table_count(inst);
  uint32_t nfuncs = tw_instance_func_count(inst);
  if (s->ntables != n)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                         "snapshot records %u tables, the module has %u",
                         s->ntables, n);
  for (uint32_t i = 0; i < n; i++) {
    const tw__snap_table *t = &s->tables[i];
    tw_table_t *table = tw_instance_table(inst, i);
    uint32_t size = tw_table_size(table);
    tw_val first;
    if (t->index != i || t->size != size)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                           "table record %u (index %u, %u elements) does not "
                           "match table %u (%u elements)", i, t->index,
                           t->size, i, size);
    if (size && (tw_table_get(table, 0, &first, NULL) != TW_OK ||
                 (uint8_t)first.type != t->elem))
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                           "table %u holds another element type than the "
                           "snapshot records", i);
    for (uint32_t j = 0; j < t->count; j++) {
      uint32_t f = s->entries[t->first + j].func;
      if (f < own_from || f >= nfuncs)
        return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                             "table %u refers to function %u, not one of the "
                             "instance's own functions %u..%u", i, f,
                             own_from, nfuncs);
    }
  }
  return TW_OK;
}

static tw_status check_shape(const tw_snapshot_t *s, tw_instance_t *inst,
                             tw_snapshot_error *err) {
  const tw_module_t *m = s->module;
  uint32_t own_from = 0;
  for (size_t i = 0; i < tw_module_import_count(m); i++) {
    if (tw_module_import(m, i).kind != TW_EXTERN_FUNC)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                           "the module imports a table, memory or global; "
                           "snapshots hold only modules that import "
                           "functions alone");
    own_from++;
  }
  tw_status st = check_globals(s, inst, own_from, err);
  if (st == TW_OK) st = check_tables(s, inst, own_from, err);
  if (st != TW_OK) return st;
  uint32_t ndata = tw_instance_segment_count(inst, true);
  uint32_t nelem = tw_instance_segment_count(inst, false);
  if (s->ndata != ndata || s->nelem != nelem)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                         "snapshot records %u data and %u element segments, "
                         "the module has %u and %u", s->ndata, s->nelem, ndata,
                         nelem);
  tw_memory_t *mem = tw_instance_memory(inst);
  if (s->has_memory != (mem != NULL))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                         "snapshot %s a memory, the module %s",
                         s->has_memory ? "holds" : "holds no",
                         mem ? "has one" : "has none");
  if (mem && tw_memory_pages(mem) > s->mem_pages)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_INCOMPATIBLE,
                         "memory image of %u pages is smaller than the "
                         "module's minimum of %u", s->mem_pages,
                         tw_memory_pages(mem));
  return TW_OK;
}

/* ---- applying the plan ---------------------------------------------------------- */

static tw_val global_value(const tw__snap_global *g, tw_instance_t *inst) {
  tw_val v;
  memset(&v, 0, sizeof v);
  v.type = (tw_valtype)g->type;
  switch (g->type) {
  case TW_I32: v.of.i32 = (int32_t)(uint32_t)g->value; break;
  case TW_F32: v.of.f32_bits = (uint32_t)g->value; break;
  case TW_I64: v.of.i64 = (int64_t)g->value; break;
  case TW_F64: v.of.f64_bits = g->value; break;
  case TW_FUNCREF:
    v.of.funcref = g->value == TW__SNAP_NULL_REF
                       ? NULL
                       : tw_instance_func(inst, (uint32_t)g->value);
    break;
  default: break; /* externref: null only (read.c) */
  }
  return v;
}

static tw_status apply_state(const tw_snapshot_t *s, tw_instance_t *inst,
                             tw_snapshot_error *err) {
  tw_error e;
  if (s->has_memory && s->mem_pages &&
      tw_memory_map_image(tw_instance_memory(inst), s->fd, s->mem_offset,
                          s->mem_pages, &e) != TW_OK)
    return tw__snap_fail_engine(err,
                                e.status == TW_LIMIT
                                    ? TW_SNAPSHOT_ERR_INCOMPATIBLE
                                    : TW_SNAPSHOT_ERR_IO,
                                &e, "mapping the memory image");
  for (uint32_t i = 0; i < s->nglobals; i++)
    if (tw_global_restore(tw_instance_global(inst, s->globals[i].index),
                          global_value(&s->globals[i], inst), &e) != TW_OK)
      return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_INCOMPATIBLE, &e,
                                  "restoring a global");
  for (uint32_t i = 0; i < s->ntables; i++) {
    const tw__snap_table *t = &s->tables[i];
    tw_table_t *table = tw_instance_table(inst, t->index);
    for (uint32_t j = 0; j < t->count; j++) {
      const tw__snap_entry *en = &s->entries[t->first + j];
      tw_val v = {.type = TW_FUNCREF,
                  .of.funcref = tw_instance_func(inst, en->func)};
      if (tw_table_set(table, en->slot, v, &e) != TW_OK)
        return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_INCOMPATIBLE, &e,
                                    "restoring a table entry");
    }
  }
  for (uint32_t i = 0; i < s->ndata; i++)
    if (s->data_dropped[i]) tw_instance_segment_drop(inst, true, i);
  for (uint32_t i = 0; i < s->nelem; i++)
    if (s->elem_dropped[i]) tw_instance_segment_drop(inst, false, i);
  return TW_OK;
}

/* ---- device buffers ------------------------------------------------------------- */

static void span_fail(tw_span_t *span, const tw_snapshot_error *err) {
  if (!span) return;
  tw_span_attr_str(span, "error.kind", tw_snapshot_error_kind_name(err->kind));
  tw_span_set_status(span, TW_SPAN_STATUS_ERROR, err->base.message);
}

/* One device's buffers, under its restore_to_gpu span. */
static tw_status restore_device(const tw_snapshot_t *s, uint32_t device,
                                tw_instance_t *inst, const tw_snapshot_gpu *gpu,
                                tw_snapshot_error *err) {
  uint64_t bytes = 0;
  uint32_t count = 0;
  for (uint32_t i = 0; i < s->ndevice; i++)
    if (s->devices[i].device_index == device) {
      bytes += s->devices[i].len;
      count++;
    }
  tw_span_t *span = tw_span_begin(TW_SNAPSHOT_SPAN_RESTORE_GPU,
                                  TW_SNAPSHOT_TARGET, TW_LEVEL_INFO);
  tw_span_attr_int(span, "input_len", (int64_t)bytes);
  tw_span_attr_int(span, "device_index", (int64_t)device);
  tw_status st = TW_OK;
  if (!gpu || !gpu->restore_buffer) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_NO_GPU,
                       "snapshot holds %u device buffers (%llu bytes) for "
                       "device %u, but no GPU is present", count,
                       (unsigned long long)bytes, device);
  }
  for (uint32_t i = 0; st == TW_OK && i < s->ndevice; i++) {
    tw_error e;
    tw_error_clear(&e);
    if (s->devices[i].device_index != device) continue;
    if (gpu->restore_buffer(gpu->ctx, inst, &s->devices[i], &e) != TW_OK)
      st = tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_GPU_FAILED, &e,
                                "restoring a device buffer");
  }
  if (st != TW_OK) span_fail(span, err);
  tw_span_end(span);
  return st;
}

static tw_status restore_to_gpu(const tw_snapshot_t *s, tw_instance_t *inst,
                                const tw_snapshot_gpu *gpu,
                                tw_snapshot_error *err) {
  for (uint32_t i = 0; i < s->ndevice; i++) {
    uint32_t dev = s->devices[i].device_index;
    bool seen = false;
    for (uint32_t j = 0; j < i && !seen; j++)
      seen = s->devices[j].device_index == dev;
    if (seen) continue;
    tw_status st = restore_device(s, dev, inst, gpu, err);
    if (st != TW_OK) return st;
  }
  return TW_OK;
}

/* ---- the warm start ---------------------------------------------------------------- */

static tw_status restore(const tw_snapshot_t *s, tw_store_t *store,
                         const tw_extern *imports, size_t nimports,
                         const tw_snapshot_restore_options *opt,
                         tw_instance_t **out, tw_snapshot_error *err) {
  tw_snapshot_t *plan = (tw_snapshot_t *)s; /* only shape_checked changes */
  tw_instance_options o = {.skip_init = true};
  tw_instance_t *inst = NULL;
  tw_error e;
  if (tw_instance_new_ex(store, s->module, imports, nimports, &o, &inst, &e) !=
      TW_OK)
    return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_ENGINE, &e,
                                "cannot instantiate the snapshot's module");
  tw_status st = TW_OK;
  if (!atomic_load_explicit(&plan->shape_checked, memory_order_acquire)) {
    st = check_shape(s, inst, err);
    if (st != TW_OK) return st;
    atomic_store_explicit(&plan->shape_checked, true, memory_order_release);
  }
  st = apply_state(s, inst, err);
  if (st == TW_OK && s->ndevice)
    st = restore_to_gpu(s, inst, opt ? opt->gpu : NULL, err);
  if (st == TW_OK) *out = inst;
  return st;
}

tw_status tw_snapshot_instantiate(const tw_snapshot_t *snap, tw_store_t *store,
                                  const tw_extern *imports, size_t nimports,
                                  const tw_snapshot_restore_options *opt,
                                  tw_instance_t **out, tw_snapshot_error *err) {
  tw_snapshot_error local; /* the span records why even when err is NULL */
  if (!err) err = &local;
  if (out) *out = NULL;
  if (!snap || !store || !out)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_instantiate: snapshot, store or out is "
                         "NULL");
  uint64_t t0 = now_ns();
  tw_span_t *span = tw_span_begin(TW_SNAPSHOT_SPAN_RESTORE, TW_SNAPSHOT_TARGET,
                                  TW_LEVEL_INFO);
  tw_span_attr_int(span, "input_len", (int64_t)snap->input_len);
  tw_status st = restore(snap, store, imports, nimports, opt, out, err);
  if (st == TW_OK)
    tw_histogram_observe(tw_metrics_std()->snapshot_restore_seconds,
                         (double)(now_ns() - t0) * 1e-9);
  else
    span_fail(span, err);
  tw_span_end(span);
  return st;
}

tw_status tw_snapshot_instantiate_or_cold(const tw_snapshot_t *snap,
                                          tw_store_t *store,
                                          tw_module_t *module,
                                          const tw_extern *imports,
                                          size_t nimports,
                                          tw_instance_t **out, bool *warm,
                                          tw_snapshot_error *why,
                                          tw_error *err) {
  tw_snapshot_error local;
  if (!why) why = &local;
  if (warm) *warm = false;
  if (snap && tw_snapshot_instantiate(snap, store, imports, nimports, NULL,
                                      out, why) == TW_OK) {
    if (warm) *warm = true;
    return TW_OK;
  }
  tw_status st = tw_instance_new(store, module, imports, nimports, out, err);
  if (st != TW_OK) return st;
  tw_snapshot_error init;
  st = tw_snapshot_run_initializer(store, *out, NULL, NULL, &init);
  if (st != TW_OK && err) *err = init.base;
  return st;
}
