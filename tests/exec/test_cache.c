/* Module cache: memory hits, LRU eviction, the disk cache across executors
 * (a new executor stands for a restarted process), corrupt and foreign
 * files discarded and rebuilt; and the warm-instance pool, whose instances
 * never carry state from one invocation to the next. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "exec_util.h"
#include "tensorwasm/metrics.h"
#include "test.h"

static const char *wat_n(int n, char *buf, size_t cap) {
  snprintf(buf, cap,
           "(module (global $g (mut i32) (i32.const 0))"
           " (func (export \"f\") (result i32)"
           "  (global.set $g (i32.add (global.get $g) (i32.const %d)))"
           "  (global.get $g)))", n);
  return buf;
}

static uint8_t *module_n(int n, size_t *len) {
  char text[512];
  return wat_bytes(wat_n(n, text, sizeof text), len);
}

static int call_f(tw_exec_t *e, tw_exec_module_t *m, int32_t *out) {
  tw_exec_result r;
  tw_exec_error err;
  if (tw_exec_invoke(e, NULL, m, "f", NULL, 0, &r, &err) != TW_OK) return -1;
  *out = r.values[0].of.i32;
  tw_exec_result_free(&r);
  return 0;
}

TEST(second_load_is_a_hit) {
  tw_exec_t *e;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(NULL, &e, &err), TW_OK);
  size_t len;
  uint8_t *w = module_n(1, &len);
  ASSERT(w);
  const tw_metrics_std_t *ms = tw_metrics_std();
  uint64_t hit0 = tw_counter_value(ms->jit_cache_warm_hit);
  uint64_t miss0 = tw_counter_value(ms->jit_cache_cold_miss_then_insert);
  tw_exec_module_t *a, *b;
  ASSERT_EQ_INT(tw_exec_module_load(e, w, len, &a, &err), TW_OK);
  ASSERT_EQ_INT(tw_exec_module_load(e, w, len, &b, &err), TW_OK);
  ASSERT(a == b);
  tw_exec_cache_stats s;
  tw_exec_cache_stats_get(e, &s);
  ASSERT_EQ_U64(s.misses, 1);
  ASSERT_EQ_U64(s.hits, 1);
  ASSERT_EQ_INT(tw_exec_cached_module_count(e), 1);
  ASSERT_EQ_U64(tw_counter_value(ms->jit_cache_warm_hit) - hit0, 1);
  ASSERT_EQ_U64(tw_counter_value(ms->jit_cache_cold_miss_then_insert) - miss0, 1);
  /* spawn from bytes goes through the cache too */
  tw_instance_id id;
  ASSERT_EQ_INT(tw_exec_spawn_instance(e, NULL, w, len, &id, &err), TW_OK);
  tw_exec_cache_stats_get(e, &s);
  ASSERT_EQ_U64(s.hits, 2);
  uint8_t h1[32], h2[32];
  tw_exec_module_hash(a, h1);
  tw_exec_module_hash(b, h2);
  ASSERT(memcmp(h1, h2, 32) == 0);
  tw_exec_module_free(a);
  tw_exec_module_free(b);
  free(w);
  tw_exec_free(e);
}

TEST(lru_eviction_keeps_held_modules_alive) {
  tw_exec_config cfg = {.module_cache_entries = 2};
  tw_exec_t *e;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(&cfg, &e, &err), TW_OK);
  tw_exec_module_t *m[3];
  for (int i = 0; i < 3; i++) {
    size_t len;
    uint8_t *w = module_n(i + 1, &len);
    ASSERT(w);
    ASSERT_EQ_INT(tw_exec_module_load(e, w, len, &m[i], &err), TW_OK);
    free(w);
  }
  tw_exec_cache_stats s;
  tw_exec_cache_stats_get(e, &s);
  ASSERT_EQ_U64(s.evictions, 1);
  ASSERT_EQ_U64(s.entries, 2);
  int32_t v;
  ASSERT_EQ_INT(call_f(e, m[0], &v), 0); /* evicted, still usable */
  ASSERT_EQ_INT(v, 1);
  for (int i = 0; i < 3; i++) tw_exec_module_free(m[i]);
  tw_exec_free(e);
}

static int count_files(const char *dir) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c '\\.twx$') -eq 1", dir);
  return system(cmd) == 0 ? 1 : 0;
}

/* Path of the one cache file in dir. */
static int cache_file(const char *dir, char *out, size_t cap) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "ls '%s'/*.twx", dir);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  int ok = fgets(out, (int)cap, p) != NULL;
  pclose(p);
  if (!ok) return -1;
  out[strcspn(out, "\n")] = '\0';
  return 0;
}

static tw_exec_cache_stats load_in_new_exec(const char *dir, const uint8_t *w,
                                            size_t len, int32_t *result) {
  tw_exec_cache_stats s;
  memset(&s, 0xff, sizeof s);
  tw_exec_config cfg = {.cache_dir = dir};
  tw_exec_t *e;
  tw_exec_module_t *m;
  if (tw_exec_new(&cfg, &e, NULL) != TW_OK) return s;
  if (tw_exec_module_load(e, w, len, &m, NULL) == TW_OK) {
    if (call_f(e, m, result) != 0) *result = -1;
    tw_exec_module_free(m);
  }
  tw_exec_cache_stats_get(e, &s);
  tw_exec_free(e);
  return s;
}

TEST(disk_cache_survives_restart) {
  char dir[64];
  ASSERT_EQ_INT(scratch_dir(dir), 0);
  size_t len;
  uint8_t *w = module_n(5, &len);
  ASSERT(w);
  int32_t v = 0;
  tw_exec_cache_stats s = load_in_new_exec(dir, w, len, &v);
  ASSERT_EQ_U64(s.misses, 1);
  ASSERT_EQ_U64(s.disk_writes, 1);
  ASSERT_EQ_INT(v, 5);
  ASSERT(count_files(dir));
  s = load_in_new_exec(dir, w, len, &v);
  ASSERT_EQ_U64(s.misses, 0);
  ASSERT_EQ_U64(s.disk_hits, 1);
  ASSERT_EQ_U64(s.disk_rejected, 0);
  ASSERT_EQ_INT(v, 5);
  free(w);
  rm_tree(dir);
}

static int flip_byte(const char *path, long from_end) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  struct stat st;
  fstat(fd, &st);
  off_t at = st.st_size - from_end;
  uint8_t b;
  int rc = -1;
  if (pread(fd, &b, 1, at) == 1) {
    b ^= 0x5a;
    rc = pwrite(fd, &b, 1, at) == 1 ? 0 : -1;
  }
  close(fd);
  return rc;
}

TEST(corrupt_cache_file_detected_and_rebuilt) {
  char dir[64], file[256];
  ASSERT_EQ_INT(scratch_dir(dir), 0);
  size_t len;
  uint8_t *w = module_n(6, &len);
  ASSERT(w);
  int32_t v = 0;
  load_in_new_exec(dir, w, len, &v);
  ASSERT_EQ_INT(cache_file(dir, file, sizeof file), 0);
  /* A byte of the compiled code, then a header byte (the version). */
  long where[] = {3, 0};
  for (int i = 0; i < 2; i++) {
    if (i == 0) ASSERT_EQ_INT(flip_byte(file, where[i]), 0);
    else {
      int fd = open(file, O_RDWR);
      ASSERT(fd >= 0);
      ASSERT_EQ_INT(pwrite(fd, "X", 1, 13), 1); /* inside the version */
      close(fd);
    }
    v = 0;
    tw_exec_cache_stats s = load_in_new_exec(dir, w, len, &v);
    ASSERT_EQ_U64(s.disk_rejected, 1);
    ASSERT_EQ_U64(s.disk_hits, 0);
    ASSERT_EQ_U64(s.misses, 1);
    ASSERT_EQ_U64(s.disk_writes, 1);
    ASSERT_EQ_INT(v, 6);
    /* Rebuilt: the next process hits. */
    s = load_in_new_exec(dir, w, len, &v);
    ASSERT_EQ_U64(s.disk_hits, 1);
    ASSERT_EQ_U64(s.disk_rejected, 0);
  }
  /* A truncated file and a file of garbage. */
  ASSERT_EQ_INT(truncate(file, 20), 0);
  tw_exec_cache_stats s = load_in_new_exec(dir, w, len, &v);
  ASSERT_EQ_U64(s.disk_rejected, 1);
  ASSERT_EQ_U64(s.misses, 1);
  FILE *f = fopen(file, "wb");
  ASSERT(f);
  fputs("not a cache file at all", f);
  fclose(f);
  s = load_in_new_exec(dir, w, len, &v);
  ASSERT_EQ_U64(s.disk_rejected, 1);
  ASSERT_EQ_INT(v, 6);
  free(w);
  rm_tree(dir);
}

TEST(pool_instances_are_fresh_and_drawn) {
  tw_exec_config cfg = {.pool_warm_per_module = 2};
  tw_exec_t *e;
  tw_exec_error err;
  ASSERT_EQ_INT(tw_exec_new(&cfg, &e, &err), TW_OK);
  size_t len;
  uint8_t *w = module_n(3, &len);
  ASSERT(w);
  tw_exec_module_t *m;
  ASSERT_EQ_INT(tw_exec_module_load(e, w, len, &m, &err), TW_OK);
  const tw_metrics_std_t *ms = tw_metrics_std();
  uint64_t draws0 = tw_counter_value(ms->pool_draws);
  /* Each invocation sees a fresh global: state never leaks through the
   * pool.  Keep invoking until the pool thread has filled the key and a
   * draw happened (the pool fills within milliseconds; bounded at 60 s
   * for a loaded host under TSan). */
  int drawn = 0;
  for (uint64_t t0 = monotonic_ms(); !drawn && monotonic_ms() - t0 < 60000;) {
    int32_t v = 0;
    ASSERT_EQ_INT(call_f(e, m, &v), 0);
    ASSERT_EQ_INT(v, 3);
    drawn = tw_counter_value(ms->pool_draws) > draws0;
    if (!drawn) {
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
  }
  ASSERT(drawn);
  for (int i = 0; i < 20; i++) {
    int32_t v = 0;
    ASSERT_EQ_INT(call_f(e, m, &v), 0);
    ASSERT_EQ_INT(v, 3);
  }
  ASSERT_EQ_INT(tw_exec_live_count(e), 0);
  /* Caps apply to pooled instances as to any other. */
  tw_exec_limits none = {.max_instances = 1};
  ASSERT_EQ_INT(tw_exec_set_tenant_limits(e, 0, &none, &err), TW_OK);
  tw_instance_id id;
  ASSERT_EQ_INT(tw_exec_spawn_instance_module(e, NULL, m, &id, &err), TW_OK);
  tw_exec_result r;
  ASSERT_EQ_INT(tw_exec_invoke(e, NULL, m, "f", NULL, 0, &r, &err), TW_LIMIT);
  ASSERT_EQ_INT(err.kind, TW_EXEC_ERR_TENANT_CAPACITY_EXHAUSTED);
  tw_exec_module_free(m);
  free(w);
  tw_exec_free(e);
}

TEST_MAIN()
