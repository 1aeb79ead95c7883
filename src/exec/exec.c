/* The executor object: configuration, error values, limit profiles,
 * tenants, and building one instance (store + WASI + instance).
 *
 * Limit profiles exist because memory, table and call-depth caps are
 * engine settings in wasm.h: each distinct triple gets its own engine,
 * created on first use and kept for the executor's life (at most
 * TW__EXEC_PROFILES_MAX of them; profile 0 is the executor's own). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "exec/exec_int.h"

#define DEFAULT_MEMORY (256ull << 20)
#define DEFAULT_MODULE (64ull << 20)

/* ---- errors --------------------------------------------------------------- */

static const char *const kind_names[] = {
#define TW__X(name, kind, msg) kind,
    TW_EXEC_ERROR_LIST(TW__X)
#undef TW__X
};
static const char *const kind_messages[] = {
#define TW__X(name, kind, msg) msg,
    TW_EXEC_ERROR_LIST(TW__X)
#undef TW__X
};

const char *tw_exec_error_kind_name(tw_exec_error_kind k) {
  return (unsigned)k < TW_EXEC_ERR_COUNT ? kind_names[k] : "internal";
}

const char *tw_exec_error_kind_message(tw_exec_error_kind k) {
  return (unsigned)k < TW_EXEC_ERR_COUNT ? kind_messages[k] : "internal error";
}

void tw_exec_error_clear(tw_exec_error *err) {
  if (!err) return;
  memset(err, 0, sizeof *err);
  tw_error_clear(&err->base);
}

tw_status tw__exec_set_error(tw_exec_error *err, tw_exec_error_kind kind,
                             tw_status status, const char *fmt, ...) {
  if (!err) return status;
  tw_exec_error_clear(err);
  err->kind = kind;
  err->base.status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->base.message, sizeof err->base.message, fmt, ap);
  va_end(ap);
  return status;
}

tw_status tw__exec_from_engine(tw_exec_error *err, tw_exec_error_kind kind,
                               const tw_error *e) {
  if (!err) return e->status;
  tw_exec_error_clear(err);
  err->kind = kind;
  err->base = *e;
  return e->status;
}

uint64_t tw__exec_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- tenants and limits ------------------------------------------------- */

tw__exec_tenant *tw__exec_tenant_locked(tw_exec_t *exec, tw_tenant_id id) {
  tw__exec_tenant **head = &exec->tenants[id % TW__EXEC_TENANT_BUCKETS];
  for (tw__exec_tenant *t = *head; t; t = t->next)
    if (t->id == id) return t;
  tw__exec_tenant *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->id = id;
  snprintf(t->label, sizeof t->label, "%llu", (unsigned long long)id);
  t->active_gauge = tw_metric_gauge_with(exec->metrics->active_instances,
                                         t->label);
  tw_metrics_std_tenant_init(exec->metrics, t->label);
  t->next = *head;
  *head = t;
  return t;
}

tw_status tw_exec_set_tenant_limits(tw_exec_t *exec, tw_tenant_id tenant,
                                    const tw_exec_limits *limits,
                                    tw_exec_error *err) {
  if (!exec)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "tw_exec_set_tenant_limits: exec is NULL");
  pthread_mutex_lock(&exec->mu);
  tw__exec_tenant *t = tw__exec_tenant_locked(exec, tenant);
  if (t) {
    t->has_limits = limits != NULL;
    if (limits) t->limits = *limits;
  }
  pthread_mutex_unlock(&exec->mu);
  if (!t)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory recording tenant limits");
  return TW_OK;
}

/* The smaller of two limits where 0 means "none / inherit". */
static uint64_t narrow(uint64_t outer, uint64_t inner) {
  if (!inner) return outer;
  if (!outer) return inner;
  return inner < outer ? inner : outer;
}

static void apply(tw__exec_eff *e, const tw_exec_limits *l) {
  e->max_memory_bytes = narrow(e->max_memory_bytes, l->max_memory_bytes);
  e->max_table_elements =
      (uint32_t)narrow(e->max_table_elements, l->max_table_elements);
  e->max_call_depth = (uint32_t)narrow(e->max_call_depth, l->max_call_depth);
  e->deadline_ms = narrow(e->deadline_ms, l->deadline_ms);
  e->fuel = narrow(e->fuel, l->fuel);
}

void tw__exec_effective(tw_exec_t *exec, const tw_spawn_config *cfg,
                        tw__exec_eff *out) {
  memset(out, 0, sizeof *out);
  out->max_memory_bytes = exec->cfg.max_memory_bytes;
  out->max_table_elements = exec->cfg.max_table_elements;
  out->max_call_depth = exec->cfg.max_call_depth;
  out->tenant_max_instances = exec->cfg.max_instances_per_tenant;
  pthread_mutex_lock(&exec->mu);
  tw__exec_tenant *t = tw__exec_tenant_locked(exec, cfg->tenant_id);
  if (t && t->has_limits) {
    apply(out, &t->limits);
    out->tenant_max_instances = (uint32_t)narrow(out->tenant_max_instances,
                                                 t->limits.max_instances);
  }
  pthread_mutex_unlock(&exec->mu);
  if (cfg->limits) apply(out, cfg->limits);
  out->deadline_ms = narrow(out->deadline_ms, cfg->deadline_ms);
  out->fuel = narrow(out->fuel, cfg->fuel);
}

tw_status tw__exec_profile_get(tw_exec_t *exec, const tw__exec_eff *eff,
                               int *out, tw_exec_error *err) {
  uint64_t pages64 = eff->max_memory_bytes / 65536u;
  uint32_t pages = pages64 > 65536u ? 65536u : (uint32_t)pages64;
  tw_status st = TW_OK;
  pthread_mutex_lock(&exec->mu);
  for (int i = 0; i < exec->nprofiles; i++) {
    tw__exec_profile *p = &exec->profiles[i];
    if (p->memory_pages == pages && p->table_elements == eff->max_table_elements &&
        p->call_depth == eff->max_call_depth) {
      *out = i;
      goto done;
    }
  }
  if (exec->nprofiles == TW__EXEC_PROFILES_MAX) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_LIMIT,
                            "more than %d distinct limit sets in use",
                            TW__EXEC_PROFILES_MAX);
    goto done;
  }
  tw__exec_profile *p = &exec->profiles[exec->nprofiles];
  tw_engine_config ec = {.max_call_depth = eff->max_call_depth,
                         .max_memory_pages = pages ? pages : 1,
                         .max_table_elements = eff->max_table_elements};
  tw_error e;
  if (tw_engine_new(&ec, &p->engine, &e) != TW_OK) {
    st = tw__exec_from_engine(err, TW_EXEC_ERR_INTERNAL, &e);
    goto done;
  }
  p->memory_pages = pages;
  p->table_elements = eff->max_table_elements;
  p->call_depth = eff->max_call_depth;
  *out = exec->nprofiles++;
done:
  pthread_mutex_unlock(&exec->mu);
  return st;
}

/* ---- building an instance -------------------------------------------------- */

static tw_status make_wasi(const tw_spawn_config *cfg, tw_wasi_t **out,
                           tw_error *e) {
  if (cfg->wasi) return tw_wasi_new(cfg->wasi, out, e);
  static const char *const default_argv[] = {"main"};
  tw_wasi_config wc = {
      .args = cfg->argv ? cfg->argv : default_argv,
      .nargs = cfg->argv ? cfg->nargv : 1,
      .env = cfg->env,
      .nenv = cfg->env ? cfg->nenv : 0,
  };
  if (cfg->input_len)
    wc.stdio[0] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_BUFFER,
                                  .data = cfg->input, .len = cfg->input_len};
  wc.stdio[1] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_BUFFER};
  wc.stdio[2] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_BUFFER};
  return tw_wasi_new(&wc, out, e);
}

/* Instantiation errors into executor kinds.  Memory has been checked
 * before, so a limit here is a table over the cap. */
static tw_status instantiate_error(tw_exec_error *err, const tw_error *e,
                                   int reason, uint64_t deadline_ms,
                                   uint64_t elapsed_ns) {
  if (e->status == TW_TRAP && e->trap == TW_TRAP_INTERRUPTED &&
      reason == TW__RUN_DEADLINE) {
    tw__exec_set_error(err, TW_EXEC_ERR_TIMEOUT, TW_TRAP,
                       "start function ran past its %llu ms deadline",
                       (unsigned long long)deadline_ms);
    if (err) {
      err->base.trap = TW_TRAP_INTERRUPTED;
      err->elapsed_ms = elapsed_ns / 1000000u;
      err->deadline_ms = deadline_ms;
    }
    return TW_TRAP;
  }
  tw_exec_error_kind kind = TW_EXEC_ERR_ENGINE;
  if (e->status == TW_LIMIT) kind = TW_EXEC_ERR_MODULE_TABLE_TOO_LARGE;
  else if (e->status == TW_TRAP) kind = TW_EXEC_ERR_TRAP;
  else if (e->status == TW_NOMEM) kind = TW_EXEC_ERR_INTERNAL;
  return tw__exec_from_engine(err, kind, e);
}

/* WASI first; what it does not know may be wasi:cuda (its context made on
 * first need, the capability as the spawn config grants); anything else
 * is refused by name. */
static tw_status resolve_imports(const tw_spawn_config *cfg,
                                 tw__exec_run *run, tw_module_t *mod,
                                 tw_extern *imports, size_t n, tw_error *e) {
  for (size_t i = 0; i < n; i++) {
    tw_status st =
        tw_wasi_resolve_import(run->wasi, run->store, mod, i, &imports[i], e);
    if (st != TW_NOT_FOUND) {
      if (st != TW_OK) return st;
      continue;
    }
    if (!run->cuda) {
      tw_cuda_config cc = {.enabled = cfg->gpu, .tenant_id = cfg->tenant_id};
      if ((st = tw_cuda_new(&cc, &run->cuda, e)) != TW_OK) return st;
    }
    st = tw_cuda_resolve_import(run->cuda, run->store, mod, i, &imports[i], e);
    if (st != TW_NOT_FOUND) {
      if (st != TW_OK) return st;
      continue;
    }
    tw_import_desc d = tw_module_import(mod, i);
    tw_error_clear(e);
    e->status = TW_UNLINKABLE;
    snprintf(e->message, sizeof e->message,
             "import %zu \"%.*s\" \"%.*s\": not a WASI import (nor wasi:cuda)",
             i, (int)(d.module.len > 64 ? 64 : d.module.len), d.module.data,
             (int)(d.name.len > 64 ? 64 : d.name.len), d.name.data);
    return TW_UNLINKABLE;
  }
  return TW_OK;
}

/* The snapshot plan of module xm for profile p from `path`, opened (and
 * verified) on first use and kept with the module; NULL when it is
 * rejected, with the reason in *why. */
static tw_snapshot_t *snapshot_plan(tw_exec_t *exec, tw_exec_module_t *xm,
                                    int p, tw_module_t *mod, const char *path,
                                    tw_snapshot_error *why) {
  pthread_mutex_lock(&exec->mu);
  tw_snapshot_t *plan = NULL;
  if (xm->snaps[p] && strcmp(xm->snap_paths[p], path) == 0) {
    plan = xm->snaps[p];
  } else if (tw_snapshot_open_file(path, mod, &plan, why) == TW_OK) {
    char *copy = strdup(path);
    if (copy) { /* keep it for the next spawn; else use it once */
      tw_snapshot_free(xm->snaps[p]);
      free(xm->snap_paths[p]);
      xm->snaps[p] = plan;
      xm->snap_paths[p] = copy;
    }
  }
  pthread_mutex_unlock(&exec->mu);
  return plan;
}

/* Warm start from the snapshot, else a cold start that runs the
 * initialiser (so the instance is in the same state either way). */
static tw_status instantiate_from_snapshot(tw_exec_t *exec,
                                           tw_exec_module_t *xm, int p,
                                           tw_module_t *mod, const char *path,
                                           tw__exec_run *run,
                                           const tw_extern *imports,
                                           size_t nimports,
                                           tw_instance_t **inst, tw_error *e) {
  tw_snapshot_error why;
  memset(&why, 0, sizeof why);
  bool warm = false;
  tw_snapshot_t *plan = snapshot_plan(exec, xm, p, mod, path, &why);
  tw_status st = tw_snapshot_instantiate_or_cold(
      plan, run->store, mod, imports, nimports, inst, &warm, &why, e);
  if (plan && plan != xm->snaps[p]) tw_snapshot_free(plan); /* not kept */
  tw_span_attr_bool(tw_span_current(), "snapshot_restored", warm);
  if (!warm) {
    tw_span_attr_str(tw_span_current(), "snapshot_rejected", why.base.message);
    tw_event(TW_LEVEL_WARN, TW_EXEC_TARGET,
             "snapshot %s not used (%s); started cold", path,
             why.base.message);
  }
  return st;
}

tw_status tw__exec_instantiate(tw_exec_t *exec, tw_engine_t *engine,
                               tw_exec_module_t *xm, int p,
                               tw_module_t *mod, const tw_spawn_config *cfg,
                               uint64_t start_deadline_ms, tw__exec_run *run,
                               tw_instance_t **inst, tw_exec_error *err) {
  tw_error e;
  tw_extern *imports = NULL;
  tw_status st;
  size_t nimports = tw_module_import_count(mod);
  tw_error_clear(&e);
  if ((st = tw_store_new(engine, &run->store, &e)) != TW_OK) {
    st = tw__exec_from_engine(err, TW_EXEC_ERR_INTERNAL, &e);
    goto fail;
  }
  if (nimports) {
    imports = calloc(nimports, sizeof *imports);
    if (!imports) {
      st = tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory linking a module");
      goto fail;
    }
    if ((st = make_wasi(cfg, &run->wasi, &e)) != TW_OK ||
        (st = resolve_imports(cfg, run, mod, imports, nimports, &e)) !=
            TW_OK) {
      st = tw__exec_from_engine(err, TW_EXEC_ERR_ENGINE, &e);
      goto fail;
    }
  }
  /* Only a start function (or a restore) runs guest code here: without
   * one (a WASI command, most libraries) a deadline has nothing to stop. */
  bool from_snapshot = xm && cfg->snapshot_path;
  uint64_t arm_ms =
      from_snapshot || tw_module_has_start(mod) ? start_deadline_ms : 0;
  if ((st = tw__ticker_need(exec, arm_ms, err)) != TW_OK) goto fail;
  uint64_t t0 = tw__exec_now_ns();
  (void)tw__run_arm(exec, run, arm_ms); /* not cancellable yet */
  if (from_snapshot)
    st = instantiate_from_snapshot(exec, xm, p, mod, cfg->snapshot_path, run,
                                   imports, nimports, inst, &e);
  else
    st = tw_instance_new(run->store, mod, imports, nimports, inst, &e);
  int reason = tw__run_disarm(exec, run);
  if (st != TW_OK) {
    st = instantiate_error(err, &e, reason, start_deadline_ms,
                           tw__exec_now_ns() - t0);
    goto fail;
  }
  /* An interrupt that raced with the end of the start function would
   * stop this instance's first call: such an instance is not handed out. */
  if (reason != TW__RUN_NONE) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_TIMEOUT, TW_TRAP,
                            "start function reached its %llu ms deadline",
                            (unsigned long long)start_deadline_ms);
    if (err) err->deadline_ms = start_deadline_ms;
    goto fail;
  }
  free(imports);
  return TW_OK;
fail:
  free(imports);
  tw_cuda_release(run->cuda);
  if (run->store) tw_store_free(run->store);
  tw_wasi_free(run->wasi);
  run->store = NULL;
  run->wasi = NULL;
  run->cuda = NULL;
  *inst = NULL;
  return st;
}

/* ---- executor ------------------------------------------------------------ */

static void fill_defaults(tw_exec_config *c) {
  if (!c->max_memory_bytes) c->max_memory_bytes = DEFAULT_MEMORY;
  if (c->max_memory_bytes > (4ull << 30)) c->max_memory_bytes = 4ull << 30;
  if (!c->max_module_bytes) c->max_module_bytes = DEFAULT_MODULE;
  if (!c->module_cache_entries) c->module_cache_entries = 1024;
  if (!c->max_instances) c->max_instances = 10000;
  if (!c->epoch_tick_ms) c->epoch_tick_ms = 10;
  if (!c->max_table_elements) c->max_table_elements = 1u << 20;
  if (!c->max_call_depth) c->max_call_depth = 20000;
  if (!c->pool_max_warm) c->pool_max_warm = 256;
  if (!c->start_deadline_ms) c->start_deadline_ms = 30000;
}

tw_status tw_exec_new(const tw_exec_config *config, tw_exec_t **out,
                      tw_exec_error *err) {
  tw_exec_error_clear(err);
  if (!out)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "tw_exec_new: out is NULL");
  *out = NULL;
  tw_exec_t *exec = calloc(1, sizeof *exec);
  tw_status st;
  if (!exec)
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory creating an executor");
  if (config) exec->cfg = *config;
  fill_defaults(&exec->cfg);
  exec->cfg.cache_dir = NULL;
  pthread_mutex_init(&exec->mu, NULL);
  pthread_mutex_init(&exec->run_mu, NULL);
  atomic_init(&exec->next_id, 1);
  atomic_init(&exec->epoch, 0);
  exec->running.next = exec->running.prev = &exec->running;
  exec->metrics = tw_metrics_std();
  if (config && config->cache_dir && !(exec->cache_dir = strdup(config->cache_dir))) {
    st = tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                            "out of memory creating an executor");
    goto fail;
  }
  tw__exec_eff base = {.max_memory_bytes = exec->cfg.max_memory_bytes,
                       .max_table_elements = exec->cfg.max_table_elements,
                       .max_call_depth = exec->cfg.max_call_depth};
  int p0;
  if ((st = tw__exec_profile_get(exec, &base, &p0, err)) != TW_OK) goto fail;
  if ((st = tw__cache_new(exec, exec->cfg.module_cache_entries,
                          exec->cache_dir, &exec->cache, err)) != TW_OK)
    goto fail;
  if ((st = tw__ticker_init(exec, err)) != TW_OK) goto fail;
  if (exec->cfg.pool_warm_per_module &&
      (st = tw__pool_new(exec, exec->cfg.pool_warm_per_module,
                         exec->cfg.pool_max_warm, &exec->pool, err)) != TW_OK)
    goto fail;
  *out = exec;
  return TW_OK;
fail:
  tw_exec_free(exec);
  return st;
}

size_t tw_exec_live_count(tw_exec_t *exec) {
  if (!exec) return 0;
  pthread_mutex_lock(&exec->mu);
  size_t n = exec->live;
  pthread_mutex_unlock(&exec->mu);
  return n;
}

size_t tw_exec_tenant_live_count(tw_exec_t *exec, tw_tenant_id tenant) {
  if (!exec) return 0;
  size_t n = 0;
  pthread_mutex_lock(&exec->mu);
  for (tw__exec_tenant *t = exec->tenants[tenant % TW__EXEC_TENANT_BUCKETS]; t;
       t = t->next)
    if (t->id == tenant) n = t->live;
  pthread_mutex_unlock(&exec->mu);
  return n;
}

uint64_t tw_exec_epoch(const tw_exec_t *exec) {
  return exec ? atomic_load(&((tw_exec_t *)exec)->epoch) : 0;
}

void tw_exec_free(tw_exec_t *exec) {
  if (!exec) return;
  tw__exec_terminate_all(exec);
  /* The pool goes first: its thread instantiates into the profiles'
   * engines and frees slots that hold modules from the cache. */
  tw__pool_free(exec->pool);
  tw__ticker_stop(exec);
  tw__cache_free(exec->cache);
  for (int i = 0; i < exec->nprofiles; i++) {
    tw_engine_free(exec->profiles[i].engine);
  }
  for (size_t b = 0; b < TW__EXEC_TENANT_BUCKETS; b++) {
    for (tw__exec_tenant *t = exec->tenants[b], *next; t; t = next) {
      next = t->next;
      free(t);
    }
  }
  pthread_mutex_destroy(&exec->run_mu);
  pthread_mutex_destroy(&exec->mu);
  free(exec->cache_dir);
  free(exec);
}
