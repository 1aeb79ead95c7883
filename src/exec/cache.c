/* The module cache (the dashboards' "JIT cache"): compiled modules keyed
 * by the SHA-256 of their bytes, in memory (bounded, least recently used
 * first out) and, when a directory is configured, on disk, so that a new
 * process loads a module without validating or compiling it.
 *
 * A cache file is named by SHA-256(engine version, module hash) and holds
 *   "TWXC" | u32 format | u32 n | version[n] | u8[32] module hash |
 *   u64 blob length | blob
 * where blob is tw_module_serialize's output, which carries its own
 * SHA-256 checksum and engine build id.  Every header field is checked on
 * load, then the blob is deserialized (checksum and build id checked
 * there) and the SHA-256 of the module's bytes compared with the key; a
 * file failing any check is deleted and the module compiled again.  (A
 * second checksum over the blob here cost a third SHA-256 pass per load,
 * about 0.7 ms per MiB, and caught nothing the blob's own does not.)  Files are written
 * under a temporary name and renamed, so a reader sees a whole file or
 * none; no fsync, because a file torn by a crash fails its checksum.
 *
 * Entries are reference counted (see exec.h): the cache holds one
 * reference while an entry is in memory, so eviction never frees a module
 * that an instance or a caller still uses.  Per-profile copies of a module
 * (exec.c: one engine per limit set) are made from profile 0's compiled
 * code by a serialize/deserialize round trip, never by compiling again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha256.h"
#include "exec/exec_int.h"

#ifndef TW_EXEC_ENGINE_VERSION
#define TW_EXEC_ENGINE_VERSION "unknown"
#endif

#define FILE_MAGIC "TWXC"
#define FILE_FORMAT 1u
#define FILE_MAX (1ull << 30)
#define CACHE_BUCKETS 1024

struct tw__exec_cache {
  tw_exec_t *exec;
  pthread_mutex_t mu;
  uint32_t cap;
  char *dir;
  tw_exec_module_t *buckets[CACHE_BUCKETS];
  tw_exec_module_t *head, *tail; /* most / least recently used */
  size_t count;
  atomic_uint_fast64_t file_seq;
  tw_exec_cache_stats stats;     /* guarded by mu (entries derived) */
};

/* ---- entries ------------------------------------------------------------- */

static unsigned bucket_of(const uint8_t hash[32]) {
  return ((unsigned)hash[0] | (unsigned)hash[1] << 8) % CACHE_BUCKETS;
}

static void lru_unlink(tw__exec_cache *c, tw_exec_module_t *m) {
  if (m->lru_prev) m->lru_prev->lru_next = m->lru_next;
  else c->head = m->lru_next;
  if (m->lru_next) m->lru_next->lru_prev = m->lru_prev;
  else c->tail = m->lru_prev;
  m->lru_prev = m->lru_next = NULL;
}

static void lru_push_front(tw__exec_cache *c, tw_exec_module_t *m) {
  m->lru_prev = NULL;
  m->lru_next = c->head;
  if (c->head) c->head->lru_prev = m;
  c->head = m;
  if (!c->tail) c->tail = m;
}

static tw_exec_module_t *lookup_locked(tw__exec_cache *c,
                                       const uint8_t hash[32]) {
  for (tw_exec_module_t *m = c->buckets[bucket_of(hash)]; m; m = m->chain)
    if (memcmp(m->hash, hash, 32) == 0) return m;
  return NULL;
}

static void unchain_locked(tw__exec_cache *c, tw_exec_module_t *m) {
  tw_exec_module_t **pp = &c->buckets[bucket_of(m->hash)];
  while (*pp != m) pp = &(*pp)->chain;
  *pp = m->chain;
  m->chain = NULL;
}

void tw_exec_module_free(tw_exec_module_t *m) {
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
  for (int i = 0; i < TW__EXEC_PROFILES_MAX; i++) {
    tw_snapshot_free(m->snaps[i]); /* before the module it verified against */
    free(m->snap_paths[i]);
    if (m->mods[i]) tw_module_free(m->mods[i]);
  }
  free(m);
}

void tw_exec_module_hash(const tw_exec_module_t *m, uint8_t out[32]) {
  if (m) memcpy(out, m->hash, 32);
}

bool tw_exec_module_has_export(const tw_exec_module_t *m, const char *name) {
  if (!m || !name || !m->mods[0]) return false;
  size_t len = strlen(name), n = tw_module_export_count(m->mods[0]);
  for (size_t i = 0; i < n; i++) {
    tw_export_desc d = tw_module_export(m->mods[0], i);
    if (d.kind == TW_EXTERN_FUNC && d.name.len == len &&
        memcmp(d.name.data, name, len) == 0)
      return true;
  }
  return false;
}

/* Drops least recently used entries beyond the bound; mu held.  Returns
 * them (linked through lru_next) for the caller to release unlocked. */
static tw_exec_module_t *evict_locked(tw__exec_cache *c) {
  tw_exec_module_t *out = NULL;
  while (c->count > c->cap && c->tail) {
    tw_exec_module_t *m = c->tail;
    lru_unlink(c, m);
    unchain_locked(c, m);
    m->cached = false;
    c->count--;
    c->stats.evictions++;
    tw_gauge_sub(c->exec->metrics->jit_cache_bytes, (int64_t)m->bytes);
    m->lru_next = out;
    out = m;
  }
  return out;
}

/* ---- files --------------------------------------------------------------- */


static void file_path(const tw__exec_cache *c, const uint8_t hash[32],
                      char *out, size_t cap) {
  const char *ver = TW_EXEC_ENGINE_VERSION;
  size_t vlen = strlen(ver);
  uint8_t key_in[32 + 256], key[32];
  if (vlen > 256) vlen = 256;
  memcpy(key_in, ver, vlen);
  memcpy(key_in + vlen, hash, 32);
  tw__sha256(key_in, vlen + 32, key);
  char h[65];
  tw__hex(key, 32, h);
  snprintf(out, cap, "%s/%s.twx", c->dir, h);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Writes the module's file (temp + rename).  Failure only costs the next
 * process a compile, so it is counted nowhere but in disk_writes. */
static bool file_write(tw__exec_cache *c, const uint8_t hash[32],
                       const uint8_t *blob, size_t blen) {
  const char *ver = TW_EXEC_ENGINE_VERSION;
  uint32_t vlen = (uint32_t)strlen(ver);
  size_t hlen = 4 + 4 + 4 + vlen + 32 + 8;
  uint8_t *hdr = malloc(hlen);
  char path[4096], tmp[4200];
  bool ok = false;
  int fd = -1;
  if (!hdr) return false;
  uint8_t *p = hdr;
  memcpy(p, FILE_MAGIC, 4), p += 4;
  put_u32(p, FILE_FORMAT), p += 4;
  put_u32(p, vlen), p += 4;
  memcpy(p, ver, vlen), p += vlen;
  memcpy(p, hash, 32), p += 32;
  put_u64(p, blen);
  file_path(c, hash, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%llu", path, (long)getpid(),
           (unsigned long long)atomic_fetch_add(&c->file_seq, 1));
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) goto done;
  if (!write_all(fd, hdr, hlen) || !write_all(fd, blob, blen)) goto done;
  if (close(fd) != 0) {
    fd = -1;
    goto done;
  }
  fd = -1;
  ok = rename(tmp, path) == 0;
done:
  if (fd >= 0) close(fd);
  if (!ok) unlink(tmp);
  free(hdr);
  return ok;
}

/* Reads a whole file; NULL when absent or unreadable.  *exists says
 * whether there was a file at all. */
static uint8_t *file_read(const char *path, size_t *len, bool *exists) {
  *exists = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  *exists = true;
  struct stat st;
  uint8_t *buf = NULL;
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > FILE_MAX)
    goto fail;
  buf = malloc((size_t)st.st_size);
  if (!buf) goto fail;
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) goto fail;
    got += (size_t)r;
  }
  close(fd);
  *len = got;
  return buf;
fail:
  free(buf);
  close(fd);
  return NULL;
}

/* The blob inside a cache file, after checking every header field. */
static const uint8_t *file_blob(const uint8_t *f, size_t len,
                                const uint8_t hash[32], size_t *blen) {
  const char *ver = TW_EXEC_ENGINE_VERSION;
  size_t vlen = strlen(ver);
  if (len < 12 || memcmp(f, FILE_MAGIC, 4) != 0 ||
      get_u32(f + 4) != FILE_FORMAT || get_u32(f + 8) != vlen)
    return NULL;
  size_t off = 12;
  if (len - off < vlen + 32 + 8 || memcmp(f + off, ver, vlen) != 0)
    return NULL;
  off += vlen;
  if (memcmp(f + off, hash, 32) != 0) return NULL;
  off += 32;
  uint64_t n = get_u64(f + off);
  off += 8;
  if (n != len - off) return NULL;
  *blen = (size_t)n;
  return f + off;
}

/* The module from its cache file, or NULL (a bad file is deleted). */
static tw_module_t *disk_load(tw__exec_cache *c, tw_engine_t *engine,
                              const uint8_t hash[32], size_t *bytes) {
  char path[4096];
  size_t len = 0, blen = 0;
  bool exists;
  tw_module_t *mod = NULL;
  file_path(c, hash, path, sizeof path);
  uint8_t *f = file_read(path, &len, &exists);
  if (!exists) return NULL;
  const uint8_t *blob = f ? file_blob(f, len, hash, &blen) : NULL;
  uint8_t got[32];
  if (blob && tw_module_deserialize(engine, blob, blen, &mod, NULL) == TW_OK) {
    tw_module_hash(mod, got);
    if (memcmp(got, hash, 32) != 0) {
      tw_module_free(mod);
      mod = NULL;
    }
  }
  free(f);
  if (!mod) {
    unlink(path);
    pthread_mutex_lock(&c->mu);
    c->stats.disk_rejected++;
    pthread_mutex_unlock(&c->mu);
    return NULL;
  }
  *bytes = blen;
  return mod;
}

/* ---- the cache ------------------------------------------------------------- */

tw_status tw__cache_new(tw_exec_t *exec, uint32_t entries, const char *dir,
                        tw__exec_cache **out, tw_exec_error *err) {
  tw__exec_cache *c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->exec = exec;
  c->cap = entries;
  atomic_init(&c->file_seq, 0);
  if (dir) {
    if (!(c->dir = strdup(dir))) goto nomem;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      free(c->dir);
      free(c);
      return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_IO,
                                "module cache directory %s: %s", dir,
                                strerror(e));
    }
  }
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return TW_OK;
nomem:
  if (c) free(c->dir);
  free(c);
  return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                            "out of memory creating the module cache");
}

void tw__cache_free(tw__exec_cache *c) {
  if (!c) return;
  tw_exec_module_t *m = c->head;
  while (m) {
    tw_exec_module_t *next = m->lru_next;
    m->cached = false;
    tw_gauge_sub(c->exec->metrics->jit_cache_bytes, (int64_t)m->bytes);
    tw_exec_module_free(m);
    m = next;
  }
  pthread_mutex_destroy(&c->mu);
  free(c->dir);
  free(c);
}

void tw__cache_stats(tw__exec_cache *c, tw_exec_cache_stats *out) {
  pthread_mutex_lock(&c->mu);
  *out = c->stats;
  out->entries = c->count;
  pthread_mutex_unlock(&c->mu);
}

void tw_exec_cache_stats_get(tw_exec_t *exec, tw_exec_cache_stats *out) {
  memset(out, 0, sizeof *out);
  if (exec) tw__cache_stats(exec->cache, out);
}

size_t tw_exec_cached_module_count(tw_exec_t *exec) {
  tw_exec_cache_stats s;
  tw_exec_cache_stats_get(exec, &s);
  return (size_t)s.entries;
}

/* Compiles (or reads from disk) the module of `bytes` for profile 0. */
static tw_status build(tw__exec_cache *c, const uint8_t *bytes, size_t len,
                       const uint8_t hash[32], tw_exec_module_t **out,
                       tw_exec_error *err) {
  tw_engine_t *engine = c->exec->profiles[0].engine;
  size_t stored = len;
  tw_error e;
  bool from_disk = false;
  tw_module_t *mod = c->dir ? disk_load(c, engine, hash, &stored) : NULL;
  if (mod) {
    from_disk = true;
  } else if (tw_module_new(engine, bytes, len, &mod, &e) != TW_OK) {
    return tw__exec_from_engine(
        err, e.status == TW_NOMEM ? TW_EXEC_ERR_INTERNAL : TW_EXEC_ERR_INVALID_MODULE,
        &e);
  } else if (c->dir) {
    uint8_t *blob = NULL;
    size_t blen = 0;
    if (tw_module_serialize(mod, &blob, &blen, NULL) == TW_OK &&
        file_write(c, hash, blob, blen)) {
      stored = blen;
      pthread_mutex_lock(&c->mu);
      c->stats.disk_writes++;
      pthread_mutex_unlock(&c->mu);
    }
    free(blob);
  }
  tw_exec_module_t *m = calloc(1, sizeof *m);
  if (!m) {
    tw_module_free(mod);
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "out of memory caching a module");
  }
  atomic_init(&m->refs, 1);
  memcpy(m->hash, hash, 32);
  m->wasm_len = len;
  m->bytes = stored;
  m->min_pages = tw_module_min_memory_pages(mod);
  m->mods[0] = mod;
  pthread_mutex_lock(&c->mu);
  if (from_disk) c->stats.disk_hits++;
  else c->stats.misses++;
  pthread_mutex_unlock(&c->mu);
  if (from_disk) tw_counter_inc(c->exec->metrics->jit_cache_warm_hit);
  else tw_counter_inc(c->exec->metrics->jit_cache_cold_miss_then_insert);
  *out = m;
  return TW_OK;
}

tw_status tw_exec_module_load(tw_exec_t *exec, const uint8_t *bytes,
                              size_t len, tw_exec_module_t **out,
                              tw_exec_error *err) {
  tw_exec_error_clear(err);
  if (!exec || !out || (!bytes && len))
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_ARG,
                              "module_load: NULL argument");
  *out = NULL;
  if (len > exec->cfg.max_module_bytes) {
    tw__exec_set_error(err, TW_EXEC_ERR_MODULE_TOO_LARGE, TW_LIMIT,
                       "module of %zu bytes exceeds the limit of %llu", len,
                       (unsigned long long)exec->cfg.max_module_bytes);
    if (err) {
      err->requested = len;
      err->limit = exec->cfg.max_module_bytes;
    }
    return TW_LIMIT;
  }
  tw__exec_cache *c = exec->cache;
  uint8_t hash[32];
  tw__sha256(bytes, len, hash);
  pthread_mutex_lock(&c->mu);
  tw_exec_module_t *m = lookup_locked(c, hash);
  if (m) {
    lru_unlink(c, m);
    lru_push_front(c, m);
    atomic_fetch_add(&m->refs, 1);
    c->stats.hits++;
  }
  pthread_mutex_unlock(&c->mu);
  if (m) {
    tw_counter_inc(exec->metrics->jit_cache_warm_hit);
    tw_counter_inc(exec->metrics->jit_cache_verify_skipped);
    *out = m;
    return TW_OK;
  }
  tw_exec_module_t *fresh;
  tw_status st = build(c, bytes, len, hash, &fresh, err);
  if (st != TW_OK) return st;
  /* Another thread may have built the same module meanwhile: keep one. */
  pthread_mutex_lock(&c->mu);
  tw_exec_module_t *evicted = NULL;
  if ((m = lookup_locked(c, hash))) {
    atomic_fetch_add(&m->refs, 1);
  } else {
    m = fresh;
    fresh = NULL;
    atomic_fetch_add(&m->refs, 1); /* the cache's */
    m->cached = true;
    m->chain = c->buckets[bucket_of(hash)];
    c->buckets[bucket_of(hash)] = m;
    lru_push_front(c, m);
    c->count++;
    tw_gauge_add(exec->metrics->jit_cache_bytes, (int64_t)m->bytes);
    evicted = evict_locked(c);
  }
  pthread_mutex_unlock(&c->mu);
  tw_exec_module_free(fresh);
  while (evicted) {
    tw_exec_module_t *next = evicted->lru_next;
    evicted->lru_next = NULL;
    tw_exec_module_free(evicted);
    evicted = next;
  }
  *out = m;
  return TW_OK;
}

tw_status tw__cache_module_for(tw__exec_cache *c, tw_exec_module_t *m, int p,
                               tw_module_t **out, tw_exec_error *err) {
  pthread_mutex_lock(&c->mu);
  tw_module_t *mod = m->mods[p];
  pthread_mutex_unlock(&c->mu);
  if (mod) {
    *out = mod;
    return TW_OK;
  }
  /* Another engine: the compiled code travels as a blob. */
  uint8_t *blob = NULL;
  size_t blen = 0;
  tw_error e;
  tw_status st = tw_module_serialize(m->mods[0], &blob, &blen, &e);
  if (st == TW_OK)
    st = tw_module_deserialize(c->exec->profiles[p].engine, blob, blen, &mod, &e);
  free(blob);
  if (st != TW_OK) return tw__exec_from_engine(err, TW_EXEC_ERR_INTERNAL, &e);
  pthread_mutex_lock(&c->mu);
  if (m->mods[p]) {
    tw_module_free(mod);
  } else {
    m->mods[p] = mod;
  }
  *out = m->mods[p];
  pthread_mutex_unlock(&c->mu);
  return TW_OK;
}
