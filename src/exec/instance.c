/* Instance lifecycle: spawn, typed export calls, terminate, invoke.
 *
 * A record (tw__exec_rec) is reference counted: the instance table holds
 * one reference from spawn to terminate, and every call holds one while
 * it runs, so terminate can remove an instance whose call is still
 * unwinding; the store goes when the last reference does.
 *
 * The spawn span stays open for the record's life (exited on the spawning
 * thread at once, ended when the record goes), and calls and terminate
 * begin theirs with its context as explicit parent, so the seed's tree
 * (spawn_instance > call_export_with_args, terminate) holds whichever
 * threads do the work.
 *
 * Stale interrupts: tw_store_interrupt is sticky until running code sees
 * it.  When the ticker or terminate interrupts a call in the instant it
 * returns, the request outlives the call, and the instance's next call
 * would stop at once.  The call path notices (it was interrupted, yet did
 * not trap with TW_TRAP_INTERRUPTED) and withdraws the request with
 * tw_store_clear_interrupt before the next call. */
#include <stdlib.h>
#include <string.h>

#include "exec/exec_int.h"

struct tw__exec_rec {
  tw_instance_id id;
  atomic_int refs;
  pthread_mutex_t call_mu;
  atomic_bool terminated;
  tw__exec_run run;             /* store + WASI, as the ticker sees them */
  tw_instance_t *inst;
  tw_exec_module_t *module;     /* one reference */
  int profile;
  tw__exec_tenant *tenant;      /* lives as long as the executor */
  uint64_t deadline_ms, fuel;   /* per call; 0: none */
  bool stale;                   /* call_mu: a stale interrupt is pending */
  tw_span_t *span;              /* spawn_instance, open for the record's life */
  tw_trace_ctx span_ctx;
  char label[24];               /* decimal id */
  tw__exec_rec *chain;
};

/* ---- spans ------------------------------------------------------------------ */

static tw_span_t *span_begin(const char *name, const tw_trace_ctx *parent) {
  if (parent && tw_trace_ctx_is_valid(parent))
    return tw_span_begin_with_parent(name, TW_EXEC_TARGET, TW_LEVEL_INFO,
                                     parent);
  return tw_span_begin(name, TW_EXEC_TARGET, TW_LEVEL_INFO);
}

static void span_finish(tw_span_t *span, tw_status st,
                        const tw_exec_error *err) {
  if (st != TW_OK) {
    tw_span_attr_str(span, "error.kind",
                     tw_exec_error_kind_name(err ? err->kind
                                                 : TW_EXEC_ERR_INTERNAL));
    tw_span_set_status(span, TW_SPAN_STATUS_ERROR,
                       err ? err->base.message : NULL);
  }
  tw_span_end(span);
}

static tw_span_t *spawn_span(const tw_spawn_config *cfg, uint64_t wasm_bytes,
                             tw_instance_id id) {
  tw_span_t *span = tw_span_begin(TW_EXEC_SPAN_SPAWN, TW_EXEC_TARGET,
                                  TW_LEVEL_INFO);
  if (!span) return NULL;
  char buf[24];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)cfg->tenant_id);
  tw_span_attr_str(span, "tenant", buf);
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
  tw_span_attr_str(span, "instance_id", buf);
  tw_span_attr_int(span, "wasm_bytes", (int64_t)wasm_bytes);
  return span;
}

/* ---- the instance table --------------------------------------------------- */

static tw__exec_rec **bucket(tw_exec_t *exec, tw_instance_id id) {
  return &exec->table[id % TW__EXEC_BUCKETS];
}

static tw__exec_rec *rec_get(tw_exec_t *exec, tw_instance_id id) {
  pthread_mutex_lock(&exec->mu);
  tw__exec_rec *r = *bucket(exec, id);
  while (r && r->id != id) r = r->chain;
  if (r) atomic_fetch_add(&r->refs, 1);
  pthread_mutex_unlock(&exec->mu);
  return r;
}

/* Unlinks the record and releases its place in the live counts. */
static tw__exec_rec *rec_remove(tw_exec_t *exec, tw_instance_id id) {
  pthread_mutex_lock(&exec->mu);
  tw__exec_rec **pp = bucket(exec, id);
  while (*pp && (*pp)->id != id) pp = &(*pp)->chain;
  tw__exec_rec *r = *pp;
  if (r) {
    *pp = r->chain;
    exec->live--;
    r->tenant->live--;
  }
  pthread_mutex_unlock(&exec->mu);
  return r;
}

static void rec_put(tw_exec_t *exec, tw__exec_rec *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1) return;
  tw__exec_slot slot = {r->run.store, r->run.wasi, r->run.cuda, r->inst};
  tw__pool_discard(exec->pool, &slot);
  tw_exec_module_free(r->module);
  pthread_mutex_destroy(&r->call_mu);
  tw_span_end(r->span);
  free(r);
}

/* ---- spawn ----------------------------------------------------------------- */

static void unreserve(tw_exec_t *exec, tw__exec_tenant *t) {
  pthread_mutex_lock(&exec->mu);
  exec->live--;
  t->live--;
  pthread_mutex_unlock(&exec->mu);
}

/* Takes a place in the global and tenant counts, or says why not. */
static tw_status reserve(tw_exec_t *exec, tw_tenant_id tenant, uint32_t cap,
                         tw__exec_tenant **out, tw_exec_error *err) {
  tw_status st = TW_OK;
  pthread_mutex_lock(&exec->mu);
  tw__exec_tenant *t = tw__exec_tenant_locked(exec, tenant);
  if (!t) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                            "out of memory recording a tenant");
  } else if (exec->live >= exec->cfg.max_instances) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_CAPACITY_EXHAUSTED, TW_LIMIT,
                            "instance capacity exhausted: %zu live, limit %u",
                            exec->live, exec->cfg.max_instances);
    if (err) {
      err->active = exec->live;
      err->limit = exec->cfg.max_instances;
    }
  } else if (cap && t->live >= cap) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_TENANT_CAPACITY_EXHAUSTED,
                            TW_LIMIT,
                            "tenant %s instance capacity exhausted: %zu live, "
                            "limit %u", t->label, t->live, cap);
    if (err) {
      err->tenant = tenant;
      err->active = t->live;
      err->limit = cap;
    }
  } else {
    exec->live++;
    t->live++;
    *out = t;
  }
  pthread_mutex_unlock(&exec->mu);
  return st;
}

static tw_status check_memory(const tw_exec_module_t *m,
                              const tw__exec_eff *eff, tw_exec_error *err) {
  uint64_t want = (uint64_t)m->min_pages * 65536u;
  uint64_t limit = eff->max_memory_bytes / 65536u * 65536u;
  if (want <= limit) return TW_OK;
  tw__exec_set_error(err, TW_EXEC_ERR_MODULE_MEMORY_TOO_LARGE, TW_LIMIT,
                     "module declares %llu bytes of memory, limit is %llu",
                     (unsigned long long)want, (unsigned long long)limit);
  if (err) {
    err->requested = want;
    err->limit = limit;
  }
  return TW_LIMIT;
}

/* Builds the instance of `m` for cfg and enters it in the table.
 * `span` is the spawn span (ownership passes to the record on success). */
static tw_status spawn_with(tw_exec_t *exec, const tw_spawn_config *cfg,
                            tw_exec_module_t *m, bool try_pool,
                            tw_instance_id id, tw_span_t *span,
                            tw_exec_error *err) {
  tw__exec_eff eff;
  tw__exec_tenant *tenant = NULL;
  tw_module_t *mod = NULL;
  int p = 0;
  tw_status st;
  tw__exec_effective(exec, cfg, &eff);
  if ((st = check_memory(m, &eff, err)) != TW_OK ||
      (st = tw__exec_profile_get(exec, &eff, &p, err)) != TW_OK ||
      (st = tw__cache_module_for(exec->cache, m, p, &mod, err)) != TW_OK ||
      (st = reserve(exec, cfg->tenant_id, eff.tenant_max_instances, &tenant,
                    err)) != TW_OK)
    return st;
  tw__exec_rec *r = calloc(1, sizeof *r);
  if (!r) {
    unreserve(exec, tenant);
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory spawning an instance");
  }
  tw__exec_slot slot;
  if (try_pool && tw__pool_draw(exec->pool, cfg->tenant_id, m, p, &slot)) {
    r->run.store = slot.store;
    r->run.wasi = slot.wasi;
    r->run.cuda = slot.cuda;
    r->inst = slot.inst;
  } else {
    uint64_t start_ms = exec->cfg.start_deadline_ms;
    if (eff.deadline_ms && eff.deadline_ms < start_ms) start_ms = eff.deadline_ms;
    st = tw__exec_instantiate(exec, exec->profiles[p].engine, m, p, mod, cfg,
                              start_ms, &r->run, &r->inst, err);
    if (st != TW_OK) {
      free(r);
      unreserve(exec, tenant);
      return st;
    }
  }
  r->id = id;
  atomic_init(&r->refs, 1);
  atomic_init(&r->terminated, false);
  pthread_mutex_init(&r->call_mu, NULL);
  atomic_fetch_add(&m->refs, 1);
  r->module = m;
  r->profile = p;
  r->tenant = tenant;
  r->deadline_ms = eff.deadline_ms;
  r->fuel = eff.fuel;
  r->span = span;
  r->span_ctx = tw_span_context(span);
  snprintf(r->label, sizeof r->label, "%llu", (unsigned long long)id);
  pthread_mutex_lock(&exec->mu);
  r->chain = *bucket(exec, id);
  *bucket(exec, id) = r;
  pthread_mutex_unlock(&exec->mu);
  tw_counter_inc(exec->metrics->instance_spawns);
  tw_gauge_add(tenant->active_gauge, 1);
  tw_gauge_add(tw_metric_gauge_with(exec->metrics->cpu_memory_bytes_per_tenant,
                                    tenant->label),
               (int64_t)m->min_pages * 65536);
  return TW_OK;
}

static tw_status spawn_module(tw_exec_t *exec, const tw_spawn_config *cfg,
                              tw_exec_module_t *m, const uint8_t *wasm,
                              size_t len, bool try_pool, tw_instance_id *id,
                              tw_exec_error *err) {
  static const tw_spawn_config zero;
  tw_exec_error_clear(err);
  if (!exec || !id || (!m && !wasm))
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "spawn_instance: NULL argument");
  if (!cfg) cfg = &zero;
  tw_instance_id nid = atomic_fetch_add(&exec->next_id, 1);
  tw_span_t *span = spawn_span(cfg, m ? m->wasm_len : len, nid);
  tw_exec_module_t *loaded = NULL;
  tw_status st = TW_OK;
  if (!m) {
    st = tw_exec_module_load(exec, wasm, len, &loaded, err);
    m = loaded;
  }
  if (st == TW_OK) st = spawn_with(exec, cfg, m, try_pool, nid, span, err);
  tw_exec_module_free(loaded);
  if (st != TW_OK) {
    span_finish(span, st, err);
    return st;
  }
  tw_span_exit(span); /* open for the instance's life; not current here */
  *id = nid;
  return TW_OK;
}

tw_status tw_exec_spawn_instance(tw_exec_t *exec, const tw_spawn_config *cfg,
                                 const uint8_t *wasm, size_t len,
                                 tw_instance_id *id, tw_exec_error *err) {
  if (!wasm) len = 0;
  return spawn_module(exec, cfg, NULL, wasm ? wasm : (const uint8_t *)"", len,
                      false, id, err);
}

tw_status tw_exec_spawn_instance_module(tw_exec_t *exec,
                                        const tw_spawn_config *cfg,
                                        tw_exec_module_t *module,
                                        tw_instance_id *id,
                                        tw_exec_error *err) {
  if (!module)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "spawn_instance: module is NULL");
  return spawn_module(exec, cfg, module, NULL, 0, false, id, err);
}

/* ---- calls -------------------------------------------------------------------- */

static tw_status find_func(tw__exec_rec *r, const char *name, tw_func_t **out,
                           tw_exec_error *err) {
  tw_extern ext;
  if (!name || tw_instance_export(r->inst, name, strlen(name), &ext) != TW_OK ||
      ext.kind != TW_EXTERN_FUNC)
    return tw__exec_set_error(err, TW_EXEC_ERR_MISSING_EXPORT, TW_NOT_FOUND,
                              "no exported function \"%s\"",
                              name ? name : "(null)");
  *out = ext.of.func;
  return TW_OK;
}

/* Arguments against the signature: same count, same types, no conversion. */
static tw_status check_signature(const tw_func_t *f, const char *name,
                                 const tw_val *args, size_t nargs,
                                 tw_exec_error *err) {
  size_t np = tw_func_param_count(f), nr = tw_func_result_count(f);
  if (nargs != np)
    return tw__exec_set_error(err, TW_EXEC_ERR_INVALID_ARGS, TW_ARG,
                              "%s takes %zu argument%s, got %zu", name, np,
                              np == 1 ? "" : "s", nargs);
  for (size_t i = 0; i < np; i++) {
    tw_valtype want = tw_func_param_type(f, i);
    if (args[i].type != want)
      return tw__exec_set_error(err, TW_EXEC_ERR_INVALID_ARGS, TW_ARG,
                                "args[%zu] of %s: expected %s, got %s", i,
                                name, tw_valtype_name(want),
                                tw_valtype_name(args[i].type));
  }
  for (size_t i = 0; i < nr; i++) {
    if (tw_func_result_type(f, i) == TW_V128)
      return tw__exec_set_error(err, TW_EXEC_ERR_UNSUPPORTED_RETURN_TYPE,
                                TW_UNSUPPORTED,
                                "%s returns v128, which cannot be returned",
                                name);
  }
  return TW_OK;
}

/* Copies bytes [from, end) of a captured stream into *data. */
static void take_output(tw_wasi_t *wasi, uint32_t fd, size_t from,
                        uint8_t **data, size_t *len) {
  const uint8_t *p;
  size_t n;
  if (!wasi) return;
  tw_wasi_output(wasi, fd, &p, &n);
  if (n < from) from = 0; /* the capture was reset: all of it is new */
  if (n == from) return;
  *data = malloc(n - from);
  if (!*data) return;
  memcpy(*data, p + from, n - from);
  *len = n - from;
}

static size_t output_len(tw_wasi_t *wasi, uint32_t fd) {
  const uint8_t *p;
  size_t n = 0;
  if (wasi) tw_wasi_output(wasi, fd, &p, &n);
  return n;
}

/* How a finished call maps onto the executor's error kinds. */
static tw_status call_outcome(tw__exec_rec *r, tw_status st, const tw_error *e,
                              int reason, bool was_exited, uint64_t elapsed_ns,
                              tw_exec_result *out, tw_exec_error *err) {
  uint32_t code;
  if (st == TW_TRAP && e->trap == TW_TRAP_HOST && !was_exited && r->run.wasi &&
      tw_wasi_exited(r->run.wasi, &code)) {
    out->exited = true;
    out->exit_code = code;
    return TW_OK;
  }
  /* A deadline that fired while the call ran is a timeout even when the
   * guest then returned normally: woken from a blocking WASI call (EINTR),
   * it never reached a loop or call where the interrupt traps. */
  if (st == TW_OK && reason != TW__RUN_DEADLINE) return TW_OK;
  if (reason == TW__RUN_TERMINATE) {
    tw__exec_from_engine(err, TW_EXEC_ERR_TERMINATED, e);
    if (err) {
      err->instance = r->id;
      snprintf(err->base.message, sizeof err->base.message,
               "instance %s was terminated during the call", r->label);
    }
    return st;
  }
  if (reason == TW__RUN_DEADLINE) {
    st = TW_TRAP;
    tw__exec_from_engine(err, TW_EXEC_ERR_TIMEOUT, e);
    if (err) {
      err->base.status = TW_TRAP;
      err->base.trap = TW_TRAP_INTERRUPTED;
      err->instance = r->id;
      err->elapsed_ms = elapsed_ns / 1000000u;
      err->deadline_ms = r->deadline_ms;
      snprintf(err->base.message, sizeof err->base.message,
               "instance %s timed out after %llu ms (deadline %llu ms)",
               r->label, (unsigned long long)err->elapsed_ms,
               (unsigned long long)r->deadline_ms);
    }
    return st;
  }
  tw_exec_error_kind kind = TW_EXEC_ERR_ENGINE;
  if (st == TW_TRAP) {
    kind = e->trap == TW_TRAP_OUT_OF_FUEL       ? TW_EXEC_ERR_FUEL_EXHAUSTED
           : e->trap == TW_TRAP_STACK_EXHAUSTED ? TW_EXEC_ERR_CALL_DEPTH_EXCEEDED
                                                : TW_EXEC_ERR_TRAP;
  } else if (st == TW_NOMEM) {
    kind = TW_EXEC_ERR_INTERNAL;
  }
  return tw__exec_from_engine(err, kind, e);
}

/* The call proper; r->call_mu is held. */
static tw_status call_locked(tw_exec_t *exec, tw__exec_rec *r,
                             const char *name, const tw_val *args,
                             size_t nargs, tw_exec_result *out,
                             tw_exec_error *err) {
  tw_func_t *f;
  tw_error e;
  tw_status st;
  if ((st = find_func(r, name, &f, err)) != TW_OK ||
      (st = check_signature(f, name, args, nargs, err)) != TW_OK)
    return st;
  if (r->stale) {
    tw_store_clear_interrupt(r->run.store);
    r->stale = false;
  }
  size_t nr = tw_func_result_count(f);
  tw_val *results = calloc(nr + 1, sizeof *results);
  if (!results)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory for a call's results");
  tw_store_set_fuel(r->run.store, r->fuel ? r->fuel : UINT64_MAX);
  size_t out0 = output_len(r->run.wasi, 1), err0 = output_len(r->run.wasi, 2);
  bool was_exited = r->run.wasi && tw_wasi_exited(r->run.wasi, NULL);
  tw_error_clear(&e);
  if ((st = tw__ticker_need(exec, r->deadline_ms, err)) != TW_OK) {
    free(results);
    return st;
  }
  uint64_t t0 = tw__exec_now_ns();
  if (!tw__run_arm(exec, &r->run, r->deadline_ms)) {
    free(results);
    tw__exec_set_error(err, TW_EXEC_ERR_TERMINATED, TW_NOT_FOUND,
                       "instance %s was terminated", r->label);
    if (err) err->instance = r->id;
    return TW_NOT_FOUND;
  }
  st = tw_func_call(r->run.store, f, args, nargs, results, nr, &e);
  int reason = tw__run_disarm(exec, &r->run);
  uint64_t elapsed = tw__exec_now_ns() - t0;
  if (reason != TW__RUN_NONE && !(st == TW_TRAP && e.trap == TW_TRAP_INTERRUPTED))
    r->stale = true;
  st = call_outcome(r, st, &e, reason, was_exited, elapsed, out, err);
  if (st != TW_OK) {
    free(results);
    return st;
  }
  if (!out->exited) {
    out->values = results;
    out->count = nr;
  } else {
    free(results);
  }
  take_output(r->run.wasi, 1, out0, &out->stdout_data, &out->stdout_len);
  take_output(r->run.wasi, 2, err0, &out->stderr_data, &out->stderr_len);
  return TW_OK;
}

tw_status tw_exec_call_export_with_args(tw_exec_t *exec, tw_instance_id id,
                                        const char *export_name,
                                        const tw_val *args, size_t nargs,
                                        tw_exec_result *out,
                                        tw_exec_error *err) {
  tw_exec_result scratch;
  tw_exec_error_clear(err);
  if (!out) out = &scratch;
  memset(out, 0, sizeof *out);
  if (!exec || (nargs && !args))
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "call_export_with_args: NULL argument");
  tw__exec_rec *r = rec_get(exec, id);
  tw_span_t *span = span_begin(TW_EXEC_SPAN_CALL, r ? &r->span_ctx : NULL);
  char label[24];
  snprintf(label, sizeof label, "%llu", (unsigned long long)id);
  tw_span_attr_str(span, "instance", label);
  tw_span_attr_str(span, "export", export_name);
  tw_span_attr_int(span, "args_len", (int64_t)nargs);
  tw_status st;
  if (!r) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_NOT_FOUND, TW_NOT_FOUND,
                            "no instance %s", label);
    if (err) err->instance = id;
    span_finish(span, st, err);
    return st;
  }
  pthread_mutex_lock(&r->call_mu);
  if (atomic_load(&r->terminated)) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_TERMINATED, TW_NOT_FOUND,
                            "instance %s was terminated", label);
    if (err) err->instance = id;
  } else {
    st = call_locked(exec, r, export_name, args, nargs, out, err);
  }
  pthread_mutex_unlock(&r->call_mu);
  if (out == &scratch) tw_exec_result_free(out);
  span_finish(span, st, err);
  rec_put(exec, r);
  return st;
}

/* ---- terminate ------------------------------------------------------------- */

tw_status tw_exec_terminate(tw_exec_t *exec, tw_instance_id id,
                            tw_exec_error *err) {
  tw_exec_error_clear(err);
  if (!exec)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "terminate: exec is NULL");
  tw__exec_rec *r = rec_remove(exec, id);
  tw_span_t *span = span_begin(TW_EXEC_SPAN_TERMINATE, r ? &r->span_ctx : NULL);
  char label[24];
  snprintf(label, sizeof label, "%llu", (unsigned long long)id);
  tw_span_attr_str(span, "instance", label);
  if (!r) {
    tw_status st = tw__exec_set_error(err, TW_EXEC_ERR_NOT_FOUND, TW_NOT_FOUND,
                                      "no instance %s", label);
    if (err) err->instance = id;
    span_finish(span, st, err);
    return st;
  }
  atomic_store(&r->terminated, true);
  tw__run_cancel(exec, &r->run);
  tw_counter_inc(exec->metrics->instance_terminations);
  tw_gauge_sub(r->tenant->active_gauge, 1);
  tw_gauge_sub(tw_metric_gauge_with(exec->metrics->cpu_memory_bytes_per_tenant,
                                    r->tenant->label),
               (int64_t)r->module->min_pages * 65536);
  span_finish(span, TW_OK, NULL);
  rec_put(exec, r);
  return TW_OK;
}

void tw__exec_terminate_all(tw_exec_t *exec) {
  for (;;) {
    tw_instance_id id = 0;
    pthread_mutex_lock(&exec->mu);
    for (size_t b = 0; b < TW__EXEC_BUCKETS && !id; b++)
      if (exec->table[b]) id = exec->table[b]->id;
    pthread_mutex_unlock(&exec->mu);
    if (!id) return;
    tw_exec_terminate(exec, id, NULL);
  }
}

tw_status tw_exec_call_export_with_args_then_terminate(
    tw_exec_t *exec, tw_instance_id id, const char *export_name,
    const tw_val *args, size_t nargs, tw_exec_result *out,
    tw_exec_error *err) {
  tw_status st = tw_exec_call_export_with_args(exec, id, export_name, args,
                                               nargs, out, err);
  tw_exec_error terr;
  tw_status tst = tw_exec_terminate(exec, id, &terr);
  if (st == TW_OK && tst != TW_OK) {
    if (err) *err = terr;
    tw_exec_result_free(out);
    return tst;
  }
  return st;
}

tw_status tw_exec_call_export(tw_exec_t *exec, tw_instance_id id,
                              const char *export_name, tw_exec_error *err) {
  return tw_exec_call_export_with_args(exec, id, export_name, NULL, 0, NULL,
                                       err);
}

tw_status tw_exec_call_export_then_terminate(tw_exec_t *exec,
                                             tw_instance_id id,
                                             const char *export_name,
                                             tw_exec_error *err) {
  return tw_exec_call_export_with_args_then_terminate(exec, id, export_name,
                                                      NULL, 0, NULL, err);
}

tw_status tw_exec_export_params(tw_exec_t *exec, tw_instance_id id,
                                const char *export_name, tw_valtype *types,
                                size_t cap, size_t *n, tw_exec_error *err) {
  tw_exec_error_clear(err);
  tw__exec_rec *r = exec ? rec_get(exec, id) : NULL;
  if (!r)
    return tw__exec_set_error(err, TW_EXEC_ERR_NOT_FOUND, TW_NOT_FOUND,
                              "no instance %llu", (unsigned long long)id);
  tw_func_t *f;
  tw_status st = find_func(r, export_name, &f, err);
  if (st == TW_OK) {
    size_t np = tw_func_param_count(f);
    for (size_t i = 0; i < np && i < cap; i++)
      types[i] = tw_func_param_type(f, i);
    if (n) *n = np;
  }
  rec_put(exec, r);
  return st;
}

/* ---- invoke -------------------------------------------------------------------- */

tw_status tw_exec_invoke(tw_exec_t *exec, const tw_spawn_config *cfg,
                         tw_exec_module_t *module, const char *export_name,
                         const tw_val *args, size_t nargs,
                         tw_exec_result *out, tw_exec_error *err) {
  static const tw_spawn_config zero;
  if (!cfg) cfg = &zero;
  if (!module)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "invoke: module is NULL");
  if (!export_name)
    export_name = tw_exec_module_has_export(module, "_start") ? "_start" : "main";
  if (!args && !nargs) {
    args = cfg->args;
    nargs = cfg->args ? cfg->nargs : 0;
  }
  bool poolable = exec && exec->pool && !cfg->gpu && !cfg->input_len &&
                  !cfg->argv &&
                  !cfg->env && !cfg->wasi;
  tw_instance_id id;
  tw_status st = spawn_module(exec, cfg, module, NULL, 0, poolable, &id, err);
  if (st != TW_OK) {
    if (out) memset(out, 0, sizeof *out);
    return st;
  }
  return tw_exec_call_export_with_args_then_terminate(exec, id, export_name,
                                                      args, nargs, out, err);
}

void tw_exec_result_free(tw_exec_result *r) {
  if (!r) return;
  free(r->values);
  free(r->stdout_data);
  free(r->stderr_data);
  memset(r, 0, sizeof *r);
}
