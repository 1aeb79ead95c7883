/* Executor benchmark: latency of spawn + call + terminate, p50 and p99,
 * for three modules (tiny, 1 MiB of data segments, 2000 functions of
 * code) in four ways:
 *
 *   cold     bytes never seen before: hash, decode, validate, compile,
 *            instantiate, call, terminate
 *   mem-hit  the same bytes again: the in-memory cache answers
 *   handle   a loaded module handle: no hashing either
 *   disk-hit a new executor (a restarted process) over the same cache
 *            directory: the module is deserialized, not compiled
 *   pooled   tw_exec_invoke with the warm pool on; iterations are paced
 *            (1 ms apart, not timed) so the pool thread can refill, and
 *            the share of draws that found a warm instance is printed
 *
 * Plus module load alone (cold compile vs disk vs memory) so the cost the
 * cache removes is visible by itself.  Modules are built here as binary,
 * so the bench needs no tools at run time.  Not a test: no assertions on
 * time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorwasm/exec.h"
#include "tensorwasm/metrics.h"

/* ---- module builder --------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void byte(buf *b, uint8_t v) { put(b, &v, 1); }
static void leb(buf *b, uint32_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    byte(b, (uint8_t)(c | (v ? 0x80 : 0)));
  } while (v);
}
static void section(buf *out, uint8_t id, const buf *body) {
  byte(out, id);
  leb(out, (uint32_t)body->n);
  put(out, body->p, body->n);
}

/* kind 0: tiny; 1: 1 MiB data segment; 2: 2000 functions.  `tag` goes in
 * a custom section so that each tag is a distinct module (cold runs). */
static uint8_t *build(int kind, uint32_t tag, size_t *len) {
  buf m = {0}, s = {0};
  put(&m, "\0asm\1\0\0\0", 8);
  /* types: 0 = () -> i32, 1 = (i32) -> i32 */
  byte(&s, 2);
  put(&s, "\x60\x00\x01\x7f", 4);
  put(&s, "\x60\x01\x7f\x01\x7f", 5);
  section(&m, 1, &s);
  uint32_t nfuncs = kind == 2 ? 2001 : 1;
  s.n = 0;
  leb(&s, nfuncs);
  byte(&s, 0);
  for (uint32_t i = 1; i < nfuncs; i++) byte(&s, 1);
  section(&m, 3, &s);
  s.n = 0;
  byte(&s, 1);
  byte(&s, 0);
  leb(&s, kind == 1 ? 17 : 1); /* memory min pages */
  section(&m, 5, &s);
  s.n = 0;
  byte(&s, 1);
  leb(&s, 3);
  put(&s, "run", 3);
  byte(&s, 0);
  byte(&s, 0);
  section(&m, 7, &s);
  s.n = 0;
  leb(&s, nfuncs);
  /* run: i32.load (i32.const 0) */
  static const uint8_t run[] = {0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x0b};
  leb(&s, sizeof run);
  put(&s, run, sizeof run);
  /* work i: a loop summing i32s with a few arithmetic ops per turn */
  static const uint8_t work[] = {
      0x01, 0x01, 0x7f,                         /* one i32 local */
      0x03, 0x40,                               /* loop */
      0x20, 0x01, 0x20, 0x00, 0x6a, 0x41, 0x03, 0x6c, 0x41, 0x07, 0x73,
      0x21, 0x01,                               /* l1 = ((l1+p)*3)^7 */
      0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, /* p = p - 1 (tee) */
      0x0d, 0x00,                               /* br_if loop */
      0x0b, 0x20, 0x01, 0x0b};                  /* end; l1; end */
  for (uint32_t i = 1; i < nfuncs; i++) {
    leb(&s, sizeof work);
    put(&s, work, sizeof work);
  }
  section(&m, 10, &s);
  if (kind == 1) {
    s.n = 0;
    byte(&s, 1);
    byte(&s, 0);
    put(&s, "\x41\x00\x0b", 3);
    uint32_t n = 1u << 20;
    leb(&s, n);
    uint8_t *data = malloc(n);
    for (uint32_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 31 + 7);
    put(&s, data, n);
    free(data);
    section(&m, 11, &s);
  }
  s.n = 0;
  byte(&s, 3);
  put(&s, "tag", 3);
  put(&s, &tag, sizeof tag);
  section(&m, 0, &s);
  free(s.p);
  *len = m.n;
  return m.p;
}

/* ---- measuring ------------------------------------------------------------ */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *module, const char *mode, uint64_t *ns, int n,
                   const char *note) {
  qsort(ns, (size_t)n, sizeof *ns, cmp_u64);
  /* nearest rank */
  uint64_t p50 = ns[(n * 50 + 99) / 100 - 1], p99 = ns[(n * 99 + 99) / 100 - 1];
  printf("%-9s %-9s %5d  p50 %10.1f us  p99 %10.1f us  %s\n", module, mode, n,
         p50 / 1e3, p99 / 1e3, note ? note : "");
}

static void die(const char *what, const tw_exec_error *err) {
  fprintf(stderr, "exec_bench: %s: %s\n", what, err->base.message);
  exit(1);
}

/* spawn from bytes + call + terminate */
static uint64_t one_bytes(tw_exec_t *e, const uint8_t *w, size_t len) {
  tw_exec_error err;
  tw_instance_id id;
  uint64_t t0 = now_ns();
  if (tw_exec_spawn_instance(e, NULL, w, len, &id, &err) != TW_OK) die("spawn", &err);
  if (tw_exec_call_export_with_args_then_terminate(e, id, "run", NULL, 0, NULL, &err) != TW_OK)
    die("call", &err);
  return now_ns() - t0;
}

static uint64_t one_handle(tw_exec_t *e, tw_exec_module_t *m) {
  tw_exec_error err;
  tw_instance_id id;
  uint64_t t0 = now_ns();
  if (tw_exec_spawn_instance_module(e, NULL, m, &id, &err) != TW_OK) die("spawn", &err);
  if (tw_exec_call_export_with_args_then_terminate(e, id, "run", NULL, 0, NULL, &err) != TW_OK)
    die("call", &err);
  return now_ns() - t0;
}

static void bench_module(int kind, const char *name, int n, const char *dir) {
  tw_exec_t *e;
  tw_exec_error err;
  tw_exec_config cfg = {.cache_dir = NULL};
  uint64_t *ns = calloc((size_t)n, sizeof *ns);
  static uint32_t tag = 1;
  size_t len;
  if (tw_exec_new(&cfg, &e, &err) != TW_OK) die("exec", &err);

  for (int i = 0; i < n; i++) {
    uint8_t *w = build(kind, tag++, &len);
    ns[i] = one_bytes(e, w, len);
    free(w);
  }
  report(name, "cold", ns, n, NULL);

  uint8_t *w = build(kind, 0, &len);
  one_bytes(e, w, len);
  for (int i = 0; i < n; i++) ns[i] = one_bytes(e, w, len);
  report(name, "mem-hit", ns, n, NULL);

  tw_exec_module_t *m;
  if (tw_exec_module_load(e, w, len, &m, &err) != TW_OK) die("load", &err);
  for (int i = 0; i < n; i++) ns[i] = one_handle(e, m);
  report(name, "handle", ns, n, NULL);
  tw_exec_module_free(m);
  tw_exec_free(e);

  /* Module load alone, and spawn after a disk hit in a "restarted" exec. */
  uint64_t *load_cold = calloc((size_t)n, sizeof *ns), *load_disk = calloc((size_t)n, sizeof *ns);
  tw_exec_config dcfg = {.cache_dir = dir};
  for (int i = 0; i < n; i++) {
    uint8_t *wi = build(kind, 1000000u + (uint32_t)i + (uint32_t)kind * 100000u, &len);
    tw_exec_t *e1, *e2;
    if (tw_exec_new(&dcfg, &e1, &err) != TW_OK) die("exec", &err);
    uint64_t t0 = now_ns();
    if (tw_exec_module_load(e1, wi, len, &m, &err) != TW_OK) die("load", &err);
    load_cold[i] = now_ns() - t0;
    tw_exec_module_free(m);
    tw_exec_free(e1);
    if (tw_exec_new(&dcfg, &e2, &err) != TW_OK) die("exec", &err);
    t0 = now_ns();
    if (tw_exec_module_load(e2, wi, len, &m, &err) != TW_OK) die("load", &err);
    load_disk[i] = now_ns() - t0;
    ns[i] = load_disk[i] + one_handle(e2, m);
    tw_exec_cache_stats st;
    tw_exec_cache_stats_get(e2, &st);
    if (st.disk_hits != 1) fprintf(stderr, "exec_bench: expected a disk hit\n");
    tw_exec_module_free(m);
    tw_exec_free(e2);
    free(wi);
  }
  report(name, "disk-hit", ns, n, "(load from cache file + spawn + call + terminate)");
  report(name, "load:cmp", load_cold, n, "(module load: compile + write cache file)");
  report(name, "load:disk", load_disk, n, "(module load: read + verify + deserialize)");
  free(load_cold);
  free(load_disk);

  /* Pooled. */
  tw_exec_config pcfg = {.pool_warm_per_module = 4};
  if (tw_exec_new(&pcfg, &e, &err) != TW_OK) die("exec", &err);
  if (tw_exec_module_load(e, w, len, &m, &err) != TW_OK) die("load", &err);
  const tw_metrics_std_t *ms = tw_metrics_std();
  tw_exec_invoke(e, NULL, m, "run", NULL, 0, NULL, &err); /* creates the key */
  usleep(20000);
  uint64_t d0 = tw_counter_value(ms->pool_draws);
  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    if (tw_exec_invoke(e, NULL, m, "run", NULL, 0, NULL, &err) != TW_OK) die("invoke", &err);
    ns[i] = now_ns() - t0;
    usleep(kind == 0 ? 1000 : 3000);
  }
  char note[64];
  snprintf(note, sizeof note, "(%llu of %d drawn warm)",
           (unsigned long long)(tw_counter_value(ms->pool_draws) - d0), n);
  report(name, "pooled", ns, n, note);
  tw_exec_module_free(m);
  tw_exec_free(e);
  free(w);
  free(ns);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200;
  if (n < 2) n = 2;
  char dir[] = "/tmp/tw-exec-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  printf("exec_bench: spawn + call + terminate, %d iterations each\n", n);
  bench_module(0, "tiny", n, dir);
  bench_module(1, "data-1MiB", n / 4 > 2 ? n / 4 : 2, dir);
  bench_module(2, "code-2k", n / 4 > 2 ? n / 4 : 2, dir);
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "exec_bench: cannot remove %s\n", dir);
  return 0;
}
