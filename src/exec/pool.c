/* The warm-instance pool: per (tenant, module hash, limit profile), a
 * short list of instances that were instantiated in the background and
 * have never run a call, so that tw_exec_invoke's spawn is a list pop.
 *
 * Invariant: a slot on a free list has run nothing but its own start
 * function.  Used instances are never returned to a list: terminate hands
 * them here to be freed on the pool thread (their munmap and frees leave
 * the request path), and the thread instantiates a replacement from the
 * cached module, which starts from fresh zero pages.
 *
 * A key appears on its first draw (a miss) and is filled up to `per_key`
 * while the total stays under `max_warm`; when keys are full the least
 * recently drawn idle key is dropped.  A key whose instantiation fails is
 * not retried until it is drawn from again. */
#include <stdlib.h>
#include <string.h>

#include "exec/exec_int.h"

#define TRASH_MAX 32

typedef struct pool_key {
  tw_tenant_id tenant;
  uint8_t hash[32];
  int profile;
  tw_exec_module_t *module;   /* one reference */
  tw__exec_slot *slots;       /* per_key of them; nslots ready */
  uint32_t nslots;
  uint64_t last_draw;
  bool busy;                  /* the thread is instantiating for it */
  bool failed;
} pool_key;

struct tw__exec_pool {
  tw_exec_t *exec;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pool_key **keys;
  size_t nkeys, max_keys;
  uint32_t per_key, max_warm, total;
  tw__exec_slot *trash;
  size_t ntrash, cap_trash;
  uint64_t clock;
  bool stop, started;
  pthread_t thread;
};

static void slot_free(tw__exec_slot *s) {
  tw_cuda_release(s->cuda); /* every device resource, trapped or not */
  if (s->store) tw_store_free(s->store);
  tw_wasi_free(s->wasi);
  memset(s, 0, sizeof *s);
}

static void key_free(pool_key *k) {
  for (uint32_t i = 0; i < k->nslots; i++) slot_free(&k->slots[i]);
  tw_exec_module_free(k->module);
  free(k->slots);
  free(k);
}

static pool_key *key_find(tw__exec_pool *pool, tw_tenant_id tenant,
                          const uint8_t hash[32], int profile) {
  for (size_t i = 0; i < pool->nkeys; i++) {
    pool_key *k = pool->keys[i];
    if (k->tenant == tenant && k->profile == profile &&
        memcmp(k->hash, hash, 32) == 0)
      return k;
  }
  return NULL;
}

/* Drops the least recently drawn idle key to make room; mu held. */
static bool key_evict(tw__exec_pool *pool) {
  size_t victim = SIZE_MAX;
  for (size_t i = 0; i < pool->nkeys; i++) {
    if (pool->keys[i]->busy) continue;
    if (victim == SIZE_MAX ||
        pool->keys[i]->last_draw < pool->keys[victim]->last_draw)
      victim = i;
  }
  if (victim == SIZE_MAX) return false;
  pool_key *k = pool->keys[victim];
  pool->total -= k->nslots;
  tw_gauge_sub(pool->exec->metrics->pool_warm_instances, k->nslots);
  pool->keys[victim] = pool->keys[--pool->nkeys];
  key_free(k); /* frees slots under mu: rare (key churn), and bounded */
  return true;
}

static void key_add(tw__exec_pool *pool, tw_tenant_id tenant,
                    tw_exec_module_t *m, int profile) {
  if (pool->nkeys == pool->max_keys && !key_evict(pool)) return;
  pool_key *k = calloc(1, sizeof *k);
  if (!k) return;
  k->slots = calloc(pool->per_key, sizeof *k->slots);
  if (!k->slots) {
    free(k);
    return;
  }
  k->tenant = tenant;
  memcpy(k->hash, m->hash, 32);
  k->profile = profile;
  atomic_fetch_add(&m->refs, 1);
  k->module = m;
  k->last_draw = ++pool->clock;
  pool->keys[pool->nkeys++] = k;
}

bool tw__pool_draw(tw__exec_pool *pool, tw_tenant_id tenant,
                   tw_exec_module_t *m, int profile, tw__exec_slot *out) {
  if (!pool) return false;
  bool got = false;
  pthread_mutex_lock(&pool->mu);
  pool_key *k = key_find(pool, tenant, m->hash, profile);
  if (!k) {
    key_add(pool, tenant, m, profile);
  } else {
    k->last_draw = ++pool->clock;
    k->failed = false;
    if (k->nslots) {
      *out = k->slots[--k->nslots];
      pool->total--;
      got = true;
    }
  }
  pthread_cond_signal(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  if (got) {
    tw_gauge_sub(pool->exec->metrics->pool_warm_instances, 1);
    tw_counter_inc(pool->exec->metrics->pool_draws);
  }
  return got;
}

void tw__pool_discard(tw__exec_pool *pool, tw__exec_slot *slot) {
  if (!pool) {
    slot_free(slot);
    return;
  }
  pthread_mutex_lock(&pool->mu);
  /* Each slot holds a memory reservation (8 GiB of address space): when
   * the pool thread falls behind, the caller frees its own slot rather
   * than let garbage pile up address space. */
  if (pool->ntrash >= TRASH_MAX) {
    pthread_mutex_unlock(&pool->mu);
    slot_free(slot);
    return;
  }
  if (pool->ntrash == pool->cap_trash) {
    size_t cap = pool->cap_trash ? pool->cap_trash * 2 : 64;
    tw__exec_slot *t = realloc(pool->trash, cap * sizeof *t);
    if (!t) {
      pthread_mutex_unlock(&pool->mu);
      slot_free(slot); /* no room to defer it: free it here */
      return;
    }
    pool->trash = t;
    pool->cap_trash = cap;
  }
  pool->trash[pool->ntrash++] = *slot;
  pthread_cond_signal(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
}

/* A key that wants another slot, marked busy; mu held. */
static pool_key *key_to_fill(tw__exec_pool *pool) {
  if (pool->total >= pool->max_warm) return NULL;
  for (size_t i = 0; i < pool->nkeys; i++) {
    pool_key *k = pool->keys[i];
    if (!k->busy && !k->failed && k->nslots < pool->per_key) {
      k->busy = true;
      return k;
    }
  }
  return NULL;
}

/* Instantiates one slot for k (mu not held; k is pinned by busy). */
static bool fill_one(tw__exec_pool *pool, pool_key *k, tw__exec_slot *out) {
  tw_exec_t *exec = pool->exec;
  tw_module_t *mod;
  tw__exec_run run;
  tw_spawn_config cfg = {.tenant_id = k->tenant};
  memset(&run, 0, sizeof run);
  if (tw__cache_module_for(exec->cache, k->module, k->profile, &mod, NULL) !=
          TW_OK ||
      tw__exec_instantiate(exec, exec->profiles[k->profile].engine, NULL, 0,
                           mod, &cfg,
                           exec->cfg.start_deadline_ms, &run, &out->inst,
                           NULL) != TW_OK)
    return false;
  out->store = run.store;
  out->wasi = run.wasi;
  return true;
}

static void *pool_main(void *arg) {
  tw__exec_pool *pool = arg;
  pthread_mutex_lock(&pool->mu);
  while (!pool->stop) {
    if (pool->ntrash) {
      tw__exec_slot *trash = pool->trash;
      size_t n = pool->ntrash;
      pool->trash = NULL;
      pool->ntrash = pool->cap_trash = 0;
      pthread_mutex_unlock(&pool->mu);
      for (size_t i = 0; i < n; i++) slot_free(&trash[i]);
      free(trash);
      pthread_mutex_lock(&pool->mu);
      continue;
    }
    pool_key *k = key_to_fill(pool);
    if (!k) {
      pthread_cond_wait(&pool->cv, &pool->mu);
      continue;
    }
    pthread_mutex_unlock(&pool->mu);
    tw__exec_slot slot = {0};
    bool ok = fill_one(pool, k, &slot);
    pthread_mutex_lock(&pool->mu);
    k->busy = false;
    if (!ok) {
      k->failed = true;
      tw_counter_inc(pool->exec->metrics->pool_reset_failed);
    } else if (k->nslots < pool->per_key && pool->total < pool->max_warm) {
      k->slots[k->nslots++] = slot;
      pool->total++;
      tw_gauge_add(pool->exec->metrics->pool_warm_instances, 1);
    } else {
      pthread_mutex_unlock(&pool->mu);
      slot_free(&slot);
      pthread_mutex_lock(&pool->mu);
    }
  }
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

tw_status tw__pool_new(tw_exec_t *exec, uint32_t per_key, uint32_t max_warm,
                       tw__exec_pool **out, tw_exec_error *err) {
  tw__exec_pool *pool = calloc(1, sizeof *pool);
  if (!pool) goto nomem;
  pool->exec = exec;
  pool->per_key = per_key;
  pool->max_warm = max_warm;
  /* Room for twice the keys that could be full at once, so that keys
   * drawn from recently but not yet filled are not evicted at once. */
  pool->max_keys = 2 * (max_warm / per_key + 1);
  pool->keys = calloc(pool->max_keys, sizeof *pool->keys);
  if (!pool->keys) goto nomem;
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->cv, NULL);
  if (pthread_create(&pool->thread, NULL, pool_main, pool)) {
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->keys);
    free(pool);
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "cannot start the instance pool thread");
  }
  pool->started = true;
  *out = pool;
  return TW_OK;
nomem:
  if (pool) free(pool->keys);
  free(pool);
  return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                            "out of memory creating the instance pool");
}

void tw__pool_free(tw__exec_pool *pool) {
  if (!pool) return;
  pthread_mutex_lock(&pool->mu);
  pool->stop = true;
  pthread_cond_signal(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  pthread_join(pool->thread, NULL);
  for (size_t i = 0; i < pool->ntrash; i++) slot_free(&pool->trash[i]);
  for (size_t i = 0; i < pool->nkeys; i++) key_free(pool->keys[i]);
  tw_gauge_sub(pool->exec->metrics->pool_warm_instances, pool->total);
  free(pool->trash);
  free(pool->keys);
  pthread_cond_destroy(&pool->cv);
  pthread_mutex_destroy(&pool->mu);
  free(pool);
}
