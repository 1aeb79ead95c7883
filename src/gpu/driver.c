/* The CUDA driver API, reached through dlopen so that nothing about CUDA is
 * needed at build time and a host without a driver runs everything else.
 *
 * Invariants: the library is opened at most once per process, by the first
 * caller, under `load_mu`; its outcome (entry points or the reason it is
 * unusable) never changes afterwards, so later callers read it without the
 * lock once `load_state` says it is settled.  A device's primary context is
 * retained once, under `dev_mu`, and never released (instances come and go;
 * re-creating a context costs tens of milliseconds). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_int.h"

#define TW__CUDA_MAX_DEVICES 64

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int load_state; /* 0: not tried, 1: usable, -1: unusable */
static tw__cu_api api;
static char load_why[TW__CUDA_WHY_MAX];

static pthread_mutex_t dev_mu = PTHREAD_MUTEX_INITIALIZER;
static tw__cuda_device *devices[TW__CUDA_MAX_DEVICES];
static char dev_why[TW__CUDA_MAX_DEVICES][TW__CUDA_WHY_MAX];
static int device_count = -1;

static void why_set(char *why, size_t cap, const char *msg) {
  if (why && cap) snprintf(why, cap, "%s", msg);
}

void tw__cuda_result_text(const tw__cu_api *cu, int result, char *buf,
                          size_t cap) {
  const char *name = NULL, *text = NULL;
  if (cu && cu->GetErrorName(result, &name) != TW__CU_SUCCESS) name = NULL;
  if (cu && cu->GetErrorString(result, &text) != TW__CU_SUCCESS) text = NULL;
  if (name)
    snprintf(buf, cap, "%s (%s)", name, text ? text : "no description");
  else
    snprintf(buf, cap, "CUresult %d", result);
}

/* Opens the library and resolves every entry point; fills load_why on
 * failure.  Called once, under load_mu. */
static bool load(const char *library) {
  const char *path = library;
  if (!path || !*path) path = getenv(TW_CUDA_LIBRARY_ENV);
  if (!path || !*path) path = TW_CUDA_DEFAULT_LIBRARY;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(load_why, sizeof load_why,
             "CUDA driver not available: cannot load %s: %s", path,
             e ? e : "unknown error");
    return false;
  }
  void *sym;
#define TW__X(field, symbol, required)                                      \
  sym = dlsym(h, symbol);                                                   \
  memcpy(&api.field, &sym, sizeof sym);                                     \
  if (!sym && required) {                                                   \
    snprintf(load_why, sizeof load_why,                                     \
             "CUDA driver not available: %s lacks %s (driver too old?)",    \
             path, symbol);                                                 \
    goto fail;                                                              \
  }
  TW__CU_SYMBOLS(TW__X)
#undef TW__X
  int r = api.Init(0);
  if (r != TW__CU_SUCCESS) {
    char text[160];
    tw__cuda_result_text(&api, r, text, sizeof text);
    snprintf(load_why, sizeof load_why,
             "CUDA driver not available: cuInit failed: %s", text);
    goto fail;
  }
  return true; /* the handle stays open for the life of the process */
fail:
  memset(&api, 0, sizeof api);
  dlclose(h);
  return false;
}

const tw__cu_api *tw__cuda_driver(const char *library, char *why, size_t cap) {
  int st = atomic_load(&load_state);
  if (st == 0) {
    pthread_mutex_lock(&load_mu);
    st = atomic_load(&load_state);
    if (st == 0) {
      st = load(library) ? 1 : -1;
      atomic_store(&load_state, st);
    }
    pthread_mutex_unlock(&load_mu);
  }
  if (st > 0) return &api;
  why_set(why, cap, load_why);
  return NULL;
}

/* Retains the primary context of `ordinal`; fills dev_why on failure.
 * Called under dev_mu. */
static tw__cuda_device *device_init(const tw__cu_api *cu, int ordinal) {
  char text[160], *why = dev_why[ordinal];
  int dev = 0;
  void *ctx = NULL;
  int r = cu->DeviceGet(&dev, ordinal);
  if (r == TW__CU_SUCCESS) r = cu->DevicePrimaryCtxRetain(&ctx, dev);
  if (r != TW__CU_SUCCESS) {
    tw__cuda_result_text(cu, r, text, 160);
    snprintf(why, TW__CUDA_WHY_MAX, "CUDA device %d cannot be opened: %s",
             ordinal, text);
    return NULL;
  }
  tw__cuda_device *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(why, TW__CUDA_WHY_MAX, "out of memory opening CUDA device %d",
             ordinal);
    return NULL; /* the retained context is kept; a retry retains again */
  }
  d->ordinal = ordinal;
  d->ctx = ctx;
  return d;
}

tw__cuda_device *tw__cuda_device_open(const tw__cu_api *cu, int ordinal,
                                      char *why, size_t cap) {
  tw__cuda_device *d = NULL;
  if (ordinal >= 0 && ordinal < TW__CUDA_MAX_DEVICES)
    d = __atomic_load_n(&devices[ordinal], __ATOMIC_ACQUIRE);
  if (!d) {
    pthread_mutex_lock(&dev_mu);
    if (device_count < 0) {
      int n = 0;
      int r = cu->DeviceGetCount(&n);
      device_count = r == TW__CU_SUCCESS ? n : 0;
    }
    if (ordinal < 0 || ordinal >= device_count ||
        ordinal >= TW__CUDA_MAX_DEVICES) {
      pthread_mutex_unlock(&dev_mu);
      if (why && cap)
        snprintf(why, cap, "CUDA device %d not present (%d device%s)",
                 ordinal, device_count, device_count == 1 ? "" : "s");
      return NULL;
    }
    d = devices[ordinal];
    if (!d) {
      d = device_init(cu, ordinal);
      if (d) __atomic_store_n(&devices[ordinal], d, __ATOMIC_RELEASE);
      else why_set(why, cap, dev_why[ordinal]);
    }
    pthread_mutex_unlock(&dev_mu);
    if (!d) return NULL;
  }
  if (atomic_load(&d->lost)) {
    if (why && cap)
      snprintf(why, cap, "CUDA device %d unusable until restart: %s", ordinal,
               d->lost_why);
    return NULL;
  }
  /* The context is per thread; executor threads vary between calls. */
  int r = cu->CtxSetCurrent(d->ctx);
  if (r != TW__CU_SUCCESS) {
    char text[160];
    tw__cuda_result_text(cu, r, text, sizeof text);
    if (why && cap)
      snprintf(why, cap, "CUDA device %d: cuCtxSetCurrent failed: %s",
               ordinal, text);
    return NULL;
  }
  return d;
}

bool tw__cuda_check_sticky(const tw__cu_api *cu, tw__cuda_device *dev,
                           int result) {
  switch (result) {
  case TW__CU_ERROR_ILLEGAL_ADDRESS:
  case TW__CU_ERROR_LAUNCH_TIMEOUT:
  case TW__CU_ERROR_HARDWARE_STACK_ERROR:
  case TW__CU_ERROR_ILLEGAL_INSTRUCTION:
  case TW__CU_ERROR_MISALIGNED_ADDRESS:
  case TW__CU_ERROR_INVALID_ADDRESS_SPACE:
  case TW__CU_ERROR_INVALID_PC:
  case TW__CU_ERROR_LAUNCH_FAILED:
    break;
  default:
    return false;
  }
  if (dev) {
    /* The text is written before `lost` is set, so a reader that sees
     * `lost` sees the whole text. */
    pthread_mutex_lock(&dev_mu);
    if (!atomic_load(&dev->lost)) {
      tw__cuda_result_text(cu, result, dev->lost_why, sizeof dev->lost_why);
      atomic_store(&dev->lost, true);
    }
    pthread_mutex_unlock(&dev_mu);
  }
  return true;
}
