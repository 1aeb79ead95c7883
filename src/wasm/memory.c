/* Linear memories, tables, globals, and the fault handler that turns an
 * access into a memory's guard region into a wasm trap.
 *
 * Memory invariant: each memory reserves TW__MEM_RESERVE bytes of address
 * space (PROT_NONE, nothing committed) at a base that never moves.  Only
 * [base, base + pages * 64 KiB) is readable and writable.  A wasm address
 * is a u32 plus a u32 static offset plus an access of at most 16 bytes, so
 * every access the interpreter can form lands inside the reservation: an
 * out-of-bounds one hits PROT_NONE pages and faults, and the handler below
 * turns that fault into a trap when it lies in the memory of the running
 * wasm code.  Growing only changes protections, so new pages read as zero
 * and existing pointers stay valid.
 *
 * Tables are plain arrays of pointers (tw_func_t* or externref), grown by
 * realloc: the interpreter reloads `elems` after anything that can grow. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasm/wasm_int.h"

/* 8 GiB covers u32 address + u32 offset; 64 KiB more covers the access
 * width (and keeps the reservation a whole number of wasm pages). */
#define TW__MEM_RESERVE ((size_t)8 << 30 | (size_t)TW_PAGE_SIZE)

/* ---- fault handling ----------------------------------------------------- */

_Thread_local tw__trap_scope *tw__trap_current;

static struct sigaction old_segv, old_bus;
static pthread_once_t signals_once = PTHREAD_ONCE_INIT;

/* Hands a fault that is not ours to whoever handled it before us.  A
 * function handler is called directly (so it keeps seeing later faults
 * too); a default or ignored disposition is restored and we return, so the
 * faulting instruction runs again and the process dies as it would have
 * without us.  A real crash is never swallowed. */
static void chain(int sig, siginfo_t *info, void *ctx) {
  const struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction) {
      old->sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
}

static void on_fault(int sig, siginfo_t *info, void *ctx) {
  tw__trap_scope *scope = tw__trap_current;
  if (scope && scope->active) {
    uint8_t *addr = info->si_addr;
    if (addr >= scope->mem_lo && addr < scope->mem_hi) {
      siglongjmp(scope->jmp, 1);
    }
  }
  chain(sig, info, ctx);
}

static void install_once(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
}

void tw__signals_install(void) { pthread_once(&signals_once, install_once); }

/* ---- memories ----------------------------------------------------------- */

tw_status tw_memory_new(tw_store_t *store, uint32_t min, uint32_t max,
                        bool has_max, tw_memory_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_memory_new: out is NULL");
  *out = NULL;
  if (!store)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_memory_new: store is NULL");
  if (has_max && min > max)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "memory minimum %u pages exceeds its maximum %u", min,
                         max);
  if (min > TW_MAX_PAGES || (has_max && max > TW_MAX_PAGES))
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "memory size must be at most %u pages (4 GiB)",
                         TW_MAX_PAGES);
  uint32_t cap = store->engine->config.max_memory_pages;
  if (min > cap)
    return tw__error_set(err, TW_LIMIT, SIZE_MAX,
                         "memory of %u pages exceeds the engine's limit of %u "
                         "pages", min, cap);
  tw_memory_t *mem = calloc(1, sizeof *mem);
  if (!mem) goto nomem;
  void *base = mmap(NULL, TW__MEM_RESERVE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    free(mem);
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "cannot reserve %zu bytes of address space for a "
                         "memory", TW__MEM_RESERVE);
  }
  mem->base = base;
  mem->reserved = TW__MEM_RESERVE;
  mem->limits = (tw__limits){.min = min, .max = has_max ? max : UINT32_MAX,
                             .has_max = has_max};
  mem->max_pages = has_max && max < cap ? max : cap;
  uint64_t bytes = (uint64_t)min * TW_PAGE_SIZE;
  if (bytes && mprotect(base, bytes, PROT_READ | PROT_WRITE)) {
    tw__memory_free(mem);
    goto nomem;
  }
  mem->pages = min;
  mem->size = bytes;
  tw_status st = tw__store_add(store, TW_EXTERN_MEMORY, mem, err);
  if (st != TW_OK) {
    tw__memory_free(mem);
    return st;
  }
  *out = mem;
  return TW_OK;
nomem:
  return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                       "out of memory creating a memory of %u pages", min);
}

void tw__memory_free(tw_memory_t *mem) {
  if (!mem) return;
  if (mem->base) munmap(mem->base, mem->reserved);
  free(mem);
}

uint8_t *tw_memory_data(tw_memory_t *mem) { return mem ? mem->base : NULL; }
uint64_t tw_memory_size(const tw_memory_t *mem) { return mem ? mem->size : 0; }
uint32_t tw_memory_pages(const tw_memory_t *mem) {
  return mem ? mem->pages : 0;
}

/* TW_OK, TW_LIMIT (over the maximum) or TW_NOMEM (mprotect refused). */
static tw_status memory_grow(tw_memory_t *mem, uint32_t delta) {
  if ((uint64_t)mem->pages + delta > mem->max_pages) return TW_LIMIT;
  if (delta == 0) return TW_OK;
  uint64_t add = (uint64_t)delta * TW_PAGE_SIZE;
  if (mprotect(mem->base + mem->size, add, PROT_READ | PROT_WRITE))
    return TW_NOMEM;
  mem->pages += delta;
  mem->size += add;
  return TW_OK;
}

int32_t tw__memory_grow(tw_memory_t *mem, uint32_t delta) {
  uint32_t old = mem->pages;
  return memory_grow(mem, delta) == TW_OK ? (int32_t)old : -1;
}

tw_status tw_memory_grow(tw_memory_t *mem, uint32_t delta,
                         uint32_t *old_pages, tw_error *err) {
  if (!mem)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_memory_grow: mem is NULL");
  uint32_t old = mem->pages;
  tw_status st = memory_grow(mem, delta);
  if (st == TW_LIMIT)
    return tw__error_set(err, TW_LIMIT, SIZE_MAX,
                         "cannot grow memory from %u by %u pages: the maximum "
                         "is %u", old, delta, mem->max_pages);
  if (st != TW_OK)
    return tw__error_set(err, st, SIZE_MAX,
                         "cannot grow memory from %u by %u pages: out of "
                         "memory", old, delta);
  if (old_pages) *old_pages = old;
  return TW_OK;
}

/* The file region becomes the memory's pages by a MAP_FIXED private mapping
 * over the start of the reservation; the rest of the reservation stays as
 * it was (inaccessible beyond the new size), so growth still works. */
tw_status tw_memory_map_image(tw_memory_t *mem, int fd, uint64_t offset,
                              uint32_t pages, tw_error *err) {
  if (!mem || fd < 0)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_memory_map_image: bad memory or fd");
  long psz = sysconf(_SC_PAGESIZE);
  if (psz <= 0 || offset % (uint64_t)psz)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "memory image offset %llu is not page-aligned",
                         (unsigned long long)offset);
  if (pages > mem->max_pages)
    return tw__error_set(err, TW_LIMIT, SIZE_MAX,
                         "memory image of %u pages exceeds the maximum of %u",
                         pages, mem->max_pages);
  uint64_t bytes = (uint64_t)pages * TW_PAGE_SIZE;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < offset + bytes)
    return tw__error_set(err, TW_IO, SIZE_MAX,
                         "memory image file too short for %u pages at %llu",
                         pages, (unsigned long long)offset);
  if (bytes && mmap(mem->base, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_FIXED, fd, (off_t)offset) == MAP_FAILED)
    return tw__error_set(err, TW_IO, SIZE_MAX,
                         "cannot map the memory image: %s", strerror(errno));
  if (mem->size > bytes) {
    /* a shorter image: what lay beyond it goes back to the reservation */
    if (mmap(mem->base + bytes, mem->size - bytes, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
             0) == MAP_FAILED)
      return tw__error_set(err, TW_IO, SIZE_MAX,
                           "cannot release memory beyond the image: %s",
                           strerror(errno));
  }
  mem->pages = pages;
  mem->size = bytes;
  return TW_OK;
}

/* ---- tables ------------------------------------------------------------- */

tw_status tw_table_new(tw_store_t *store, tw_valtype elem, uint32_t min,
                       uint32_t max, bool has_max, tw_table_t **out,
                       tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_table_new: out is NULL");
  *out = NULL;
  if (!store)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_table_new: store is NULL");
  if (elem != TW_FUNCREF && elem != TW_EXTERNREF)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "table element type must be funcref or externref, "
                         "got %s", tw_valtype_name(elem));
  if (has_max && min > max)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "table minimum %u exceeds its maximum %u", min, max);
  uint32_t cap = store->engine->config.max_table_elements;
  if (min > cap)
    return tw__error_set(err, TW_LIMIT, SIZE_MAX,
                         "table of %u elements exceeds the engine's limit of "
                         "%u", min, cap);
  tw_table_t *t = calloc(1, sizeof *t);
  if (!t) goto nomem;
  if (min) {
    t->elems = calloc(min, sizeof *t->elems);
    if (!t->elems) {
      free(t);
      goto nomem;
    }
  }
  t->size = t->capacity = min;
  t->max = has_max && max < cap ? max : cap;
  t->type = (tw__tabletype){
      .elem = (uint8_t)elem,
      .limits = {.min = min, .max = has_max ? max : UINT32_MAX,
                 .has_max = has_max}};
  tw_status st = tw__store_add(store, TW_EXTERN_TABLE, t, err);
  if (st != TW_OK) {
    tw__table_free(t);
    return st;
  }
  *out = t;
  return TW_OK;
nomem:
  return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                       "out of memory creating a table of %u elements", min);
}

void tw__table_free(tw_table_t *t) {
  if (!t) return;
  free(t->elems);
  free(t);
}

int32_t tw__table_grow(tw_table_t *t, uint32_t delta, void *init) {
  uint32_t old = t->size;
  if ((uint64_t)old + delta > t->max) return -1;
  uint32_t want = old + delta;
  if (want > t->capacity) {
    uint64_t cap = (uint64_t)t->capacity * 2;
    if (cap < want) cap = want;
    if (cap > t->max) cap = t->max;
    void **e = realloc(t->elems, (size_t)cap * sizeof *e);
    if (!e) return -1;
    t->elems = e;
    t->capacity = (uint32_t)cap;
  }
  for (uint32_t i = old; i < want; i++) t->elems[i] = init;
  t->size = want;
  return (int32_t)old;
}

uint32_t tw_table_size(const tw_table_t *t) { return t ? t->size : 0; }

tw_status tw_table_get(const tw_table_t *t, uint32_t i, tw_val *out,
                       tw_error *err) {
  if (!t || !out)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_table_get: table or out is NULL");
  if (i >= t->size) return tw__trap(err, TW_TRAP_TABLE_OOB);
  *out = tw__val_from_slot(t->type.elem, (uint64_t)(uintptr_t)t->elems[i]);
  return TW_OK;
}

tw_status tw_table_set(tw_table_t *t, uint32_t i, tw_val v, tw_error *err) {
  if (!t)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_table_set: table is NULL");
  if ((uint8_t)v.type != t->type.elem)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "table holds %s, got a %s value",
                         tw_valtype_name((tw_valtype)t->type.elem),
                         tw_valtype_name(v.type));
  if (i >= t->size) return tw__trap(err, TW_TRAP_TABLE_OOB);
  t->elems[i] = (void *)(uintptr_t)tw__val_to_slot(v);
  return TW_OK;
}

/* ---- globals ------------------------------------------------------------ */

tw_status tw_global_new(tw_store_t *store, tw_val init, bool mutable_,
                        tw_global_t **out, tw_error *err) {
  if (!out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_global_new: out is NULL");
  *out = NULL;
  if (!store)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_global_new: store is NULL");
  switch (init.type) {
  case TW_I32: case TW_I64: case TW_F32: case TW_F64:
  case TW_FUNCREF: case TW_EXTERNREF:
    break;
  default:
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "global of type %s is not supported",
                         tw_valtype_name(init.type));
  }
  tw_global_t *g = calloc(1, sizeof *g);
  if (!g)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory creating a global");
  g->type = (tw__globaltype){.type = (uint8_t)init.type, .mut = mutable_};
  g->value = tw__val_to_slot(init);
  tw_status st = tw__store_add(store, TW_EXTERN_GLOBAL, g, err);
  if (st != TW_OK) {
    free(g);
    return st;
  }
  *out = g;
  return TW_OK;
}

tw_val tw_global_get(const tw_global_t *g) {
  if (!g) return tw__val_from_slot(0, 0);
  return tw__val_from_slot(g->type.type, g->value);
}

tw_status tw_global_set(tw_global_t *g, tw_val v, tw_error *err) {
  if (g && !g->type.mut)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "cannot set an immutable global");
  return tw_global_restore(g, v, err);
}

tw_status tw_global_restore(tw_global_t *g, tw_val v, tw_error *err) {
  if (!g)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tw_global_set: global is NULL");
  if ((uint8_t)v.type != g->type.type)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "global holds %s, got a %s value",
                         tw_valtype_name((tw_valtype)g->type.type),
                         tw_valtype_name(v.type));
  g->value = tw__val_to_slot(v);
  return TW_OK;
}
