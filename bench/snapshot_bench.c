/* Snapshot benchmark: cold spawn (instantiate + an initialiser that fills
 * the whole memory) against warm spawn (restore from an opened snapshot),
 * for modules whose memory is 1, 16 and 256 MiB.
 *
 *   snapshot_bench [ITERATIONS_WARM] [ITERATIONS_COLD]
 *
 * A spawn is tw_store_new + the instance becoming ready to call: for cold,
 * tw_instance_new and the initialiser; for warm, tw_snapshot_instantiate
 * (skip-init instantiation, one copy-on-write mmap of the image, globals,
 * tables, dropped segments).  Also reported: the first call after a warm
 * spawn (it reads one word, so it takes one page fault from the page
 * cache) and tearing the store down.  Percentiles are nearest-rank.
 * Not a test: nothing here asserts a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorwasm/snapshot.h"
#include "tensorwasm/wasm.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_u64);
  size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  return (double)v[rank - 1] / 1000.0; /* microseconds */
}

/* The module: `pages` of memory filled by the initialiser with a value
 * that depends on every earlier word (so it cannot be skipped), a global
 * and a table entry it sets, and `get` to read a word back. */
static tw_module_t *make_module(tw_engine_t *e, uint32_t pages) {
  char wat[2048], dir[] = "/tmp/tw-bench-XXXXXX", in[64], out[64], cmd[256];
  snprintf(wat, sizeof wat,
           "(module\n"
           "  (memory (export \"memory\") %u)\n"
           "  (global $sum (mut i32) (i32.const 0))\n"
           "  (table $tab 2 funcref)\n"
           "  (type $t (func (result i32)))\n"
           "  (func $seven (type $t) (i32.const 7))\n"
           "  (elem declare func $seven)\n"
           "  (func (export \"wizer.initialize\") (local $i i32) (local $x i32)\n"
           "    (local.set $x (i32.const 1))\n"
           "    (loop $l\n"
           "      (local.set $x (i32.add (i32.mul (local.get $x)\n"
           "        (i32.const 1103515245)) (i32.const 12345)))\n"
           "      (i32.store (local.get $i) (local.get $x))\n"
           "      (local.set $i (i32.add (local.get $i) (i32.const 4)))\n"
           "      (br_if $l (i32.lt_u (local.get $i) (i32.const %u))))\n"
           "    (global.set $sum (local.get $x))\n"
           "    (table.set $tab (i32.const 1) (ref.func $seven)))\n"
           "  (func (export \"get\") (param i32) (result i32)\n"
           "    (i32.add (i32.load (local.get 0))\n"
           "      (call_indirect $tab (type $t) (i32.const 1)))))\n",
           pages, pages * 65536u);
  if (!mkdtemp(dir)) return NULL;
  snprintf(in, sizeof in, "%s/m.wat", dir);
  snprintf(out, sizeof out, "%s/m.wasm", dir);
  FILE *f = fopen(in, "w");
  if (!f) return NULL;
  fputs(wat, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "wat2wasm %s -o %s", in, out);
  tw_module_t *m = NULL;
  if (system(cmd) == 0 && (f = fopen(out, "rb"))) {
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tw_error err;
    if (tw_module_new(e, buf, n, &m, &err) != TW_OK)
      fprintf(stderr, "module: %s\n", err.message);
  }
  unlink(in);
  unlink(out);
  rmdir(dir);
  return m;
}

static tw_func_t *export_func(tw_instance_t *inst, const char *name) {
  tw_extern ext;
  if (tw_instance_export(inst, name, strlen(name), &ext) != TW_OK) return NULL;
  return ext.kind == TW_EXTERN_FUNC ? ext.of.func : NULL;
}

/* Calls get(addr); -1 on failure. */
static int64_t call_get(tw_store_t *s, tw_instance_t *inst, int32_t addr) {
  tw_val arg = tw_val_i32(addr), res;
  tw_error err;
  if (tw_func_call(s, export_func(inst, "get"), &arg, 1, &res, 1, &err) != TW_OK)
    return -1;
  return (uint32_t)res.of.i32;
}

static int run_cold(tw_engine_t *e, tw_module_t *m, size_t n, int64_t *check) {
  uint64_t *spawn = calloc(n, sizeof *spawn);
  if (!spawn) return -1;
  for (size_t i = 0; i < n; i++) {
    tw_store_t *s;
    tw_instance_t *inst;
    tw_error err;
    uint64_t t0 = now_ns();
    if (tw_store_new(e, &s, &err) != TW_OK ||
        tw_instance_new(s, m, NULL, 0, &inst, &err) != TW_OK ||
        tw_func_call(s, export_func(inst, "wizer.initialize"), NULL, 0, NULL,
                     0, &err) != TW_OK) {
      fprintf(stderr, "cold spawn: %s\n", err.message);
      free(spawn);
      return -1;
    }
    spawn[i] = now_ns() - t0;
    *check = call_get(s, inst, 4096);
    tw_store_free(s);
  }
  printf("  cold spawn     p50 %10.1f us   p99 %10.1f us   (n=%zu)\n",
         pct(spawn, n, 50), pct(spawn, n, 99), n);
  free(spawn);
  return 0;
}

static int run_warm(tw_engine_t *e, const tw_snapshot_t *snap, size_t n,
                    int64_t want) {
  uint64_t *spawn = calloc(n, sizeof *spawn), *first = calloc(n, sizeof *first),
           *down = calloc(n, sizeof *down);
  int rc = -1;
  if (!spawn || !first || !down) goto done;
  for (size_t i = 0; i < n; i++) {
    tw_store_t *s;
    tw_instance_t *inst;
    tw_error err;
    tw_snapshot_error serr;
    uint64_t t0 = now_ns();
    if (tw_store_new(e, &s, &err) != TW_OK) goto done;
    if (tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &serr) != TW_OK) {
      fprintf(stderr, "warm spawn: %s\n", serr.base.message);
      tw_store_free(s);
      goto done;
    }
    uint64_t t1 = now_ns();
    int64_t got = call_get(s, inst, 4096);
    uint64_t t2 = now_ns();
    tw_store_free(s);
    down[i] = now_ns() - t2;
    spawn[i] = t1 - t0;
    first[i] = t2 - t1;
    if (got != want) {
      fprintf(stderr, "warm instance read %lld, cold %lld\n", (long long)got,
              (long long)want);
      goto done;
    }
  }
  printf("  warm spawn     p50 %10.1f us   p99 %10.1f us   (n=%zu)\n",
         pct(spawn, n, 50), pct(spawn, n, 99), n);
  printf("  first call     p50 %10.1f us   p99 %10.1f us\n", pct(first, n, 50),
         pct(first, n, 99));
  printf("  store teardown p50 %10.1f us   p99 %10.1f us\n", pct(down, n, 50),
         pct(down, n, 99));
  rc = 0;
done:
  free(spawn);
  free(first);
  free(down);
  return rc;
}

static int bench_size(tw_engine_t *e, uint32_t pages, size_t nwarm,
                      size_t ncold) {
  char path[] = "/tmp/tw-bench-snap-XXXXXX";
  int fd = mkstemp(path);
  tw_module_t *m = make_module(e, pages);
  tw_store_t *s = NULL;
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error serr;
  tw_error err;
  int64_t check = -1;
  int rc = -1;
  if (fd >= 0) close(fd);
  if (!m || tw_store_new(e, &s, &err) != TW_OK) goto done;
  uint64_t t0 = now_ns();
  if (tw_snapshot_capture_file(s, m, NULL, 0, NULL, path, &snap, &serr) !=
      TW_OK) {
    fprintf(stderr, "capture: %s\n", serr.base.message);
    goto done;
  }
  uint64_t t1 = now_ns();
  tw_snapshot_free(snap);
  snap = NULL;
  uint64_t t2 = now_ns();
  if (tw_snapshot_open_file(path, m, &snap, &serr) != TW_OK) {
    fprintf(stderr, "open: %s\n", serr.base.message);
    goto done;
  }
  uint64_t t3 = now_ns();
  printf("memory %u MiB (snapshot %llu bytes): capture+verify %.1f ms, "
         "open+verify %.1f ms\n", pages / 16,
         (unsigned long long)tw_snapshot_input_len(snap), (t1 - t0) / 1e6,
         (t3 - t2) / 1e6);
  if (run_cold(e, m, ncold, &check) != 0) goto done;
  rc = run_warm(e, snap, nwarm, check);
done:
  tw_snapshot_free(snap);
  if (s) tw_store_free(s);
  if (m) tw_module_free(m);
  unlink(path);
  return rc;
}

int main(int argc, char **argv) {
  size_t nwarm = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
  size_t ncold = argc > 2 ? strtoul(argv[2], NULL, 10) : 40;
  tw_engine_t *e;
  tw_error err;
  if (!nwarm || !ncold) {
    fprintf(stderr, "usage: snapshot_bench [ITERATIONS_WARM] [ITERATIONS_COLD]\n");
    return 2;
  }
  if (tw_engine_new(NULL, &e, &err) != TW_OK) {
    fprintf(stderr, "engine: %s\n", err.message);
    return 1;
  }
  static const uint32_t sizes[] = {16, 256, 4096}; /* pages: 1, 16, 256 MiB */
  int rc = 0;
  for (size_t i = 0; i < 3 && rc == 0; i++)
    rc = bench_size(e, sizes[i], nwarm, sizes[i] > 256 ? ncold / 4 + 1 : ncold);
  tw_engine_free(e);
  return rc ? 1 : 0;
}
