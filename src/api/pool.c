/* Bounded worker pools and invocation permits.
 *
 * A pool is a fixed ring of tasks and a fixed set of threads: submit never
 * blocks and never grows anything; when the ring is full it says so and
 * the caller answers the client.  The guest pool's ring is as large as the
 * number of global permits, so a caller holding a permit always finds a
 * slot.
 *
 * Permits bound invocations admitted at once (running or queued): one
 * global count and one count per tenant.  A tenant entry exists only while
 * the tenant holds permits, so the table never holds more entries than
 * there are global permits. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

typedef struct api_task {
  api_task_fn fn;
  void *arg;
} api_task;

struct api_pool {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  api_task *ring;
  uint32_t cap, head, count;
  bool stop;
  pthread_t *threads;
  uint32_t nthreads;
  char name[16];
};

static void *pool_main(void *arg) {
  api_pool *p = arg;
  pthread_setname_np(pthread_self(), p->name);
  for (;;) {
    pthread_mutex_lock(&p->lock);
    while (p->count == 0 && !p->stop) pthread_cond_wait(&p->cond, &p->lock);
    if (p->count == 0) { /* stopping and drained */
      pthread_mutex_unlock(&p->lock);
      return NULL;
    }
    api_task t = p->ring[p->head];
    p->head = (p->head + 1) % p->cap;
    p->count--;
    pthread_mutex_unlock(&p->lock);
    t.fn(t.arg);
  }
}

tw_status api_pool_new(const char *name, uint32_t threads, uint32_t capacity, api_pool **out,
                       tw_error *err) {
  api_pool *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  snprintf(p->name, sizeof p->name, "%s", name);
  p->cap = capacity ? capacity : 1;
  p->ring = calloc(p->cap, sizeof *p->ring);
  p->threads = calloc(threads ? threads : 1, sizeof *p->threads);
  if (!p->ring || !p->threads) goto nomem;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  for (; p->nthreads < threads; p->nthreads++) {
    if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0) {
      api_pool_free(p);
      if (err) {
        err->status = TW_IO;
        snprintf(err->message, sizeof err->message, "cannot start %s threads", name);
      }
      return TW_IO;
    }
  }
  *out = p;
  return TW_OK;
nomem:
  if (p) {
    free(p->ring);
    free(p->threads);
    free(p);
  }
  if (err) {
    err->status = TW_NOMEM;
    snprintf(err->message, sizeof err->message, "out of memory");
  }
  return TW_NOMEM;
}

bool api_pool_submit(api_pool *p, api_task_fn fn, void *arg) {
  bool ok = false;
  pthread_mutex_lock(&p->lock);
  if (p->count < p->cap && !p->stop) {
    p->ring[(p->head + p->count) % p->cap] = (api_task){fn, arg};
    p->count++;
    pthread_cond_signal(&p->cond);
    ok = true;
  }
  pthread_mutex_unlock(&p->lock);
  return ok;
}

void api_pool_free(api_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  for (uint32_t i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->cond);
  free(p->ring);
  free(p->threads);
  free(p);
}

/* ---- permits -------------------------------------------------------------------- */

typedef struct tenant_use {
  uint64_t tenant;
  uint32_t used;
} tenant_use;

struct api_permits {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  uint32_t global, used, per_tenant;
  /* Async jobs may hold at most async_max of the global permits: the rest
   * stay for synchronous invocations, so a tenant flooding the job queue
   * cannot starve other tenants' requests (per-tenant limits cannot apply
   * to a shared queue that hands out jobs in order). */
  uint32_t async_used, async_max;
  tenant_use *tenants; /* `ntenants` live entries, capacity `global` */
  uint32_t ntenants;
  bool stop;
  tw_gauge_t *g_used, *g_avail;
};

static void publish(api_permits *p) {
  tw_gauge_set(p->g_used, p->used);
  tw_gauge_set(p->g_avail, (int64_t)p->global - p->used);
}

tw_status api_permits_new(uint32_t global, uint32_t per_tenant, api_permits **out,
                          tw_error *err) {
  api_permits *p = calloc(1, sizeof *p);
  if (p) p->tenants = calloc(global ? global : 1, sizeof *p->tenants);
  if (!p || !p->tenants) {
    free(p);
    if (err) {
      err->status = TW_NOMEM;
      snprintf(err->message, sizeof err->message, "out of memory");
    }
    return TW_NOMEM;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  p->global = global;
  p->per_tenant = per_tenant;
  p->async_max = global > 1 ? global - (global / 4 ? global / 4 : 1) : global;
  p->g_used = tw_metrics_std()->backpressure_permits_used;
  p->g_avail = tw_metrics_std()->backpressure_permits_available;
  publish(p);
  *out = p;
  return TW_OK;
}

void api_permits_free(api_permits *p) {
  if (!p) return;
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->cond);
  free(p->tenants);
  free(p);
}

static tenant_use *find_tenant(api_permits *p, uint64_t tenant) {
  for (uint32_t i = 0; i < p->ntenants; i++)
    if (p->tenants[i].tenant == tenant) return &p->tenants[i];
  return NULL;
}

api_permit api_permits_try(api_permits *p, uint64_t tenant) {
  api_permit r = API_PERMIT_OK;
  pthread_mutex_lock(&p->lock);
  tenant_use *t = find_tenant(p, tenant);
  if (p->used >= p->global) {
    r = API_PERMIT_GLOBAL_FULL;
  } else if (t && t->used >= p->per_tenant) {
    r = API_PERMIT_TENANT_FULL;
  } else {
    if (!t) { /* used < global, so a free entry exists */
      t = &p->tenants[p->ntenants++];
      t->tenant = tenant;
      t->used = 0;
    }
    t->used++;
    p->used++;
    publish(p);
  }
  pthread_mutex_unlock(&p->lock);
  return r;
}

bool api_permits_wait_global(api_permits *p) {
  bool ok;
  pthread_mutex_lock(&p->lock);
  while ((p->used >= p->global || p->async_used >= p->async_max) && !p->stop)
    pthread_cond_wait(&p->cond, &p->lock);
  ok = !p->stop;
  if (ok) {
    p->used++;
    p->async_used++;
    publish(p);
  }
  pthread_mutex_unlock(&p->lock);
  return ok;
}

void api_permits_release_async(api_permits *p) {
  pthread_mutex_lock(&p->lock);
  p->async_used--;
  pthread_mutex_unlock(&p->lock);
  api_permits_release(p, 0, false);
}

void api_permits_release(api_permits *p, uint64_t tenant, bool with_tenant) {
  pthread_mutex_lock(&p->lock);
  if (with_tenant) {
    tenant_use *t = find_tenant(p, tenant);
    if (t && --t->used == 0) *t = p->tenants[--p->ntenants];
  }
  p->used--;
  publish(p);
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
}

void api_permits_wake_all(api_permits *p) {
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
}
