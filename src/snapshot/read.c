/* Opening a snapshot: verify everything once, build the restore plan.
 *
 * Nothing in a snapshot is trusted.  The checks run from the cheapest to
 * the most specific: length, magic, version, declared size, checksum,
 * engine version, module hash, then every region and every record, each
 * count checked against the bytes that remain before anything is
 * allocated from it.  Only what survives goes into the plan; restores read
 * the plan and never the file's metadata again.  Function indices and
 * table sizes can only be checked against an instance: that happens on the
 * first restore (restore.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha256.h"
#include "snapshot/snapshot_int.h"

/* A bounds-checked reader over the meta region. */
typedef struct cursor {
  const uint8_t *p;
  uint64_t left;
} cursor;

static const uint8_t *take(cursor *c, uint64_t n) {
  if (n > c->left) return NULL;
  const uint8_t *p = c->p;
  c->p += n;
  c->left -= n;
  return p;
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* ---- header ---------------------------------------------------------------- */

/* Length, magic, version, declared size, checksum. */
static tw_status check_envelope(const uint8_t *buf, uint64_t len,
                                tw_snapshot_error *err) {
  if (len < 8 + 4)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_TRUNCATED,
                         "snapshot is truncated: %llu bytes, too short for "
                         "a header", (unsigned long long)len);
  if (memcmp(buf + TW__SH_MAGIC, TW__SNAP_MAGIC, 8) != 0)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_BAD_MAGIC,
                         "not a snapshot: the file does not start with the "
                         "snapshot magic");
  uint32_t version = tw__rd32(buf + TW__SH_VERSION);
  if (version != TW__SNAP_VERSION)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_VERSION,
                         "snapshot format version %u is not supported (this "
                         "engine reads version %u)", version, TW__SNAP_VERSION);
  if (len < TW__SNAP_HEADER_SIZE + TW__SNAP_SUM_SIZE)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_TRUNCATED,
                         "snapshot is truncated: %llu bytes, shorter than its "
                         "header and checksum", (unsigned long long)len);
  uint32_t hsize = tw__rd32(buf + TW__SH_HEADER_SIZE);
  if (hsize != TW__SNAP_HEADER_SIZE)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot header size %u, expected %u", hsize,
                         TW__SNAP_HEADER_SIZE);
  uint64_t fsize = tw__rd64(buf + TW__SH_FILE_SIZE);
  if (fsize > len)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_TRUNCATED,
                         "snapshot is truncated: it declares %llu bytes, "
                         "%llu are present", (unsigned long long)fsize,
                         (unsigned long long)len);
  if (fsize < len)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot declares %llu bytes but %llu are present",
                         (unsigned long long)fsize, (unsigned long long)len);
  uint8_t sum[32];
  tw__sha256(buf, (size_t)(len - TW__SNAP_SUM_SIZE), sum);
  if (!tw__digest_equal(sum, buf + len - TW__SNAP_SUM_SIZE, 32))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_CHECKSUM,
                         "snapshot checksum mismatch: the file was changed "
                         "or damaged after it was written");
  return TW_OK;
}

/* Engine version and module hash. */
static tw_status check_identity(const uint8_t *buf, tw_module_t *module,
                                tw_snapshot_error *err) {
  char want[TW__SNAP_ENGINE_LEN] = {0}, got[TW__SNAP_ENGINE_LEN + 1];
  strncpy(want, tw__snap_engine_version(), sizeof want - 1);
  if (memcmp(buf + TW__SH_ENGINE, want, TW__SNAP_ENGINE_LEN) != 0) {
    for (unsigned i = 0; i < TW__SNAP_ENGINE_LEN; i++) {
      uint8_t ch = buf[TW__SH_ENGINE + i];
      got[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : (ch ? '?' : 0);
    }
    got[TW__SNAP_ENGINE_LEN] = 0;
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ENGINE_VERSION,
                         "snapshot made by engine \"%s\", this is \"%s\"",
                         got, want);
  }
  uint8_t hash[32];
  tw_module_hash(module, hash);
  if (memcmp(hash, buf + TW__SH_MODULE_HASH, 32) != 0)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_MODULE_MISMATCH,
                         "snapshot was captured from another module (module "
                         "hash differs)");
  return TW_OK;
}

/* The regions: meta, device data, memory, checksum, in order, no overlap,
 * memory sized by its page count and aligned for mmap. */
static tw_status check_regions(const uint8_t *buf, uint64_t len,
                               tw_snapshot_error *err) {
  uint64_t meta_off = tw__rd64(buf + TW__SH_META_OFF);
  uint64_t meta_len = tw__rd64(buf + TW__SH_META_LEN);
  uint64_t dev_off = tw__rd64(buf + TW__SH_DEVICE_OFF);
  uint64_t dev_len = tw__rd64(buf + TW__SH_DEVICE_LEN);
  uint64_t mem_off = tw__rd64(buf + TW__SH_MEMORY_OFF);
  uint64_t mem_len = tw__rd64(buf + TW__SH_MEMORY_LEN);
  uint32_t pages = tw__rd32(buf + TW__SH_MEMORY_PAGES);
  uint32_t flags = tw__rd32(buf + TW__SH_FLAGS);
  uint64_t end = len - TW__SNAP_SUM_SIZE;
  if (flags & ~TW__SNAP_HAS_MEMORY)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot header has unknown flags 0x%x", flags);
  if (!all_zero(buf + TW__SH_RESERVED, TW__SNAP_HEADER_SIZE - TW__SH_RESERVED))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot header's reserved bytes are not zero");
  if (meta_off != TW__SNAP_HEADER_SIZE || meta_len > end - meta_off ||
      dev_off < meta_off + meta_len || dev_off > end ||
      dev_len > end - dev_off || mem_off < dev_off + dev_len ||
      mem_off > end || mem_len != end - mem_off)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot regions are out of place (meta %llu+%llu, "
                         "device %llu+%llu, memory %llu+%llu, file %llu)",
                         (unsigned long long)meta_off,
                         (unsigned long long)meta_len,
                         (unsigned long long)dev_off,
                         (unsigned long long)dev_len,
                         (unsigned long long)mem_off,
                         (unsigned long long)mem_len, (unsigned long long)len);
  if (!(flags & TW__SNAP_HAS_MEMORY) && pages)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot has no memory but records %u pages", pages);
  if (pages > 65536u || mem_len != (uint64_t)pages * TW__SNAP_PAGE)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "memory image is %llu bytes, %u pages need %llu",
                         (unsigned long long)mem_len, pages,
                         (unsigned long long)pages * TW__SNAP_PAGE);
  long psz = sysconf(_SC_PAGESIZE);
  if (pages && (psz <= 0 || mem_off % (uint64_t)psz))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNALIGNED,
                         "memory image at offset %llu is not aligned to the "
                         "%ld-byte page size, so it cannot be mapped",
                         (unsigned long long)mem_off, psz);
  return TW_OK;
}

/* ---- meta records ------------------------------------------------------------ */

static bool valtype_known(uint8_t t) {
  return t == TW_I32 || t == TW_I64 || t == TW_F32 || t == TW_F64 ||
         t == TW_FUNCREF || t == TW_EXTERNREF;
}

static tw_status parse_globals(tw_snapshot_t *s, cursor *c, uint32_t n,
                               tw_snapshot_error *err) {
  if ((uint64_t)n * TW__SNAP_GLOBAL_REC > c->left)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot records %u globals, more than its meta "
                         "region holds", n);
  s->globals = calloc(n + 1u, sizeof *s->globals);
  if (!s->globals)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory planning %u globals", n);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *r = take(c, TW__SNAP_GLOBAL_REC);
    tw__snap_global *g = &s->globals[i];
    g->index = tw__rd32(r);
    g->type = r[4];
    g->value = tw__rd64(r + 8);
    bool narrow = g->type == TW_I32 || g->type == TW_F32;
    bool ref = g->type == TW_FUNCREF || g->type == TW_EXTERNREF;
    if (!valtype_known(g->type) || !all_zero(r + 5, 3) ||
        (narrow && g->value > UINT32_MAX) ||
        (g->type == TW_FUNCREF && g->value != TW__SNAP_NULL_REF &&
         g->value > UINT32_MAX) ||
        (g->type == TW_EXTERNREF && g->value != TW__SNAP_NULL_REF) ||
        (ref && g->value == UINT32_MAX))
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                           "global record %u (index %u) is malformed", i,
                           g->index);
  }
  s->nglobals = n;
  return TW_OK;
}

/* Table entries are sparse and sorted by slot, so each is in range and
 * set once. */
static tw_status parse_entries(tw_snapshot_t *s, cursor *c,
                               tw__snap_table *t, uint32_t *cap,
                               tw_snapshot_error *err) {
  if ((uint64_t)t->count * TW__SNAP_ENTRY_REC > c->left || t->count > t->size ||
      (uint64_t)s->nentries + t->count > UINT32_MAX / 2)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "table %u records %u entries for %u slots, or more "
                         "than its meta region holds", t->index, t->count,
                         t->size);
  if (t->elem == TW_EXTERNREF && t->count)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "externref table %u records non-null entries",
                         t->index);
  if ((uint64_t)s->nentries + t->count > *cap) {
    uint64_t want = ((uint64_t)s->nentries + t->count) * 2;
    tw__snap_entry *e = realloc(s->entries, (size_t)want * sizeof *e);
    if (!e)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                           "out of memory planning table %u", t->index);
    s->entries = e;
    *cap = (uint32_t)want;
  }
  t->first = s->nentries;
  for (uint32_t j = 0; j < t->count; j++) {
    const uint8_t *r = take(c, TW__SNAP_ENTRY_REC);
    tw__snap_entry *e = &s->entries[s->nentries++];
    e->slot = tw__rd32(r);
    e->func = tw__rd32(r + 4);
    if (e->slot >= t->size || (j && e->slot <= e[-1].slot) ||
        e->func == UINT32_MAX)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                           "table %u entry %u (slot %u) is out of range or "
                           "out of order", t->index, j, e->slot);
  }
  return TW_OK;
}

static tw_status parse_tables(tw_snapshot_t *s, cursor *c, uint32_t n,
                              tw_snapshot_error *err) {
  if ((uint64_t)n * TW__SNAP_TABLE_REC > c->left)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot records %u tables, more than its meta "
                         "region holds", n);
  s->tables = calloc(n + 1u, sizeof *s->tables);
  if (!s->tables)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory planning %u tables", n);
  uint32_t cap = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *r = take(c, TW__SNAP_TABLE_REC);
    tw__snap_table *t = &s->tables[i];
    t->index = tw__rd32(r);
    t->elem = r[4];
    t->size = tw__rd32(r + 8);
    t->count = tw__rd32(r + 12);
    if ((t->elem != TW_FUNCREF && t->elem != TW_EXTERNREF) ||
        !all_zero(r + 5, 3))
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                           "table record %u (index %u) is malformed", i,
                           t->index);
    tw_status st = parse_entries(s, c, t, &cap, err);
    if (st != TW_OK) return st;
  }
  s->ntables = n;
  return TW_OK;
}

static tw_status parse_segments(tw_snapshot_t *s, cursor *c, uint32_t ndata,
                                uint32_t nelem, tw_snapshot_error *err) {
  const uint8_t *d = take(c, ndata), *e = d ? take(c, nelem) : NULL;
  if (!d || !e)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot records %u data and %u element segments, "
                         "more than its meta region holds", ndata, nelem);
  s->data_dropped = malloc((size_t)ndata + nelem + 1);
  if (!s->data_dropped)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory planning segments");
  memcpy(s->data_dropped, d, ndata);
  memcpy(s->data_dropped + ndata, e, nelem);
  s->elem_dropped = s->data_dropped + ndata;
  for (uint64_t i = 0; i < (uint64_t)ndata + nelem; i++)
    if (s->data_dropped[i] > 1)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                           "segment flag %llu is %u, not 0 or 1",
                           (unsigned long long)i, s->data_dropped[i]);
  s->ndata = ndata;
  s->nelem = nelem;
  return TW_OK;
}

static tw_status parse_devices(tw_snapshot_t *s, cursor *c, uint32_t n,
                               const uint8_t *dev, uint64_t dev_len,
                               tw_snapshot_error *err) {
  if ((uint64_t)n * TW__SNAP_DEVICE_REC > c->left)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "snapshot records %u device buffers, more than its "
                         "meta region holds", n);
  s->devices = calloc(n + 1u, sizeof *s->devices);
  s->device_data = malloc((size_t)dev_len + 1);
  if (!s->devices || !s->device_data)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory planning %u device buffers "
                         "(%llu bytes)", n, (unsigned long long)dev_len);
  memcpy(s->device_data, dev, (size_t)dev_len);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *r = take(c, TW__SNAP_DEVICE_REC);
    uint64_t off = tw__rd64(r + 16), len = tw__rd64(r + 24);
    if (tw__rd32(r + 4) != 0 || off > dev_len || len > dev_len - off)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                           "device buffer %u (%llu bytes at %llu) lies outside "
                           "the device region of %llu bytes", i,
                           (unsigned long long)len, (unsigned long long)off,
                           (unsigned long long)dev_len);
    s->devices[i] = (tw_snapshot_device_buffer){
        .device_index = tw__rd32(r), .handle = tw__rd64(r + 8),
        .data = s->device_data + off, .len = len};
  }
  s->ndevice = n;
  return TW_OK;
}

static tw_status parse_name(tw_snapshot_t *s, cursor *c, uint32_t n,
                            tw_snapshot_error *err) {
  const uint8_t *p = n <= TW__SNAP_NAME_MAX ? take(c, n) : NULL;
  if (!p || memchr(p, 0, n))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                         "initialiser name of %u bytes is malformed or does "
                         "not fit", n);
  memcpy(s->init_name, p, n);
  s->init_name[n] = 0;
  return TW_OK;
}

static tw_status parse_meta(tw_snapshot_t *s, const uint8_t *buf,
                            tw_snapshot_error *err) {
  cursor c = {buf + TW__SNAP_HEADER_SIZE, tw__rd64(buf + TW__SH_META_LEN)};
  uint64_t dev_off = tw__rd64(buf + TW__SH_DEVICE_OFF);
  tw_status st = parse_globals(s, &c, tw__rd32(buf + TW__SH_NGLOBALS), err);
  if (st == TW_OK) st = parse_tables(s, &c, tw__rd32(buf + TW__SH_NTABLES), err);
  if (st == TW_OK)
    st = parse_segments(s, &c, tw__rd32(buf + TW__SH_NDATA),
                        tw__rd32(buf + TW__SH_NELEM), err);
  if (st == TW_OK)
    st = parse_devices(s, &c, tw__rd32(buf + TW__SH_NDEVICE), buf + dev_off,
                       tw__rd64(buf + TW__SH_DEVICE_LEN), err);
  if (st == TW_OK) st = parse_name(s, &c, tw__rd32(buf + TW__SH_NAME_LEN), err);
  if (st == TW_OK && c.left)
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_LAYOUT,
                       "snapshot meta region has %llu unused bytes",
                       (unsigned long long)c.left);
  return st;
}

/* ---- the plan ------------------------------------------------------------------ */

void tw_snapshot_free(tw_snapshot_t *s) {
  if (!s) return;
  if (s->fd >= 0) close(s->fd);
  free(s->globals);
  free(s->tables);
  free(s->entries);
  free(s->data_dropped);
  free(s->devices);
  free(s->device_data);
  free(s);
}

tw_status tw__snap_parse(const uint8_t *buf, uint64_t len,
                         tw_module_t *module, tw_snapshot_t **out,
                         tw_snapshot_error *err) {
  *out = NULL;
  tw_status st = check_envelope(buf, len, err);
  if (st == TW_OK) st = check_identity(buf, module, err);
  if (st == TW_OK) st = check_regions(buf, len, err);
  if (st != TW_OK) return st;
  tw_snapshot_t *s = calloc(1, sizeof *s);
  if (!s)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory planning a snapshot");
  s->fd = -1;
  s->module = module;
  s->input_len = len;
  s->created_ms = tw__rd64(buf + TW__SH_CREATED_MS);
  s->has_memory = tw__rd32(buf + TW__SH_FLAGS) & TW__SNAP_HAS_MEMORY;
  s->mem_pages = tw__rd32(buf + TW__SH_MEMORY_PAGES);
  s->mem_offset = tw__rd64(buf + TW__SH_MEMORY_OFF);
  memcpy(s->module_hash, buf + TW__SH_MODULE_HASH, 32);
  atomic_init(&s->shape_checked, false);
  st = parse_meta(s, buf, err);
  if (st != TW_OK) {
    tw_snapshot_free(s);
    return st;
  }
  *out = s;
  return TW_OK;
}

tw_status tw_snapshot_open_file(const char *path, tw_module_t *module,
                                tw_snapshot_t **out, tw_snapshot_error *err) {
  if (!out || !path || !module)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_open_file: path, module or out is NULL");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_IO, "cannot open snapshot %s: %s",
                         path, strerror(errno));
  struct stat sb;
  tw_status st;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_IO,
                       "snapshot %s is not a readable regular file", path);
    goto fail;
  }
  if (sb.st_size == 0) { /* mmap refuses empty files; the checks do not */
    st = tw__snap_parse((const uint8_t *)"", 0, module, out, err);
    goto fail;
  }
  void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_IO, "cannot map snapshot %s: %s",
                       path, strerror(errno));
    goto fail;
  }
  madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
  st = tw__snap_parse(map, (uint64_t)sb.st_size, module, out, err);
  munmap(map, (size_t)sb.st_size);
  if (st != TW_OK) goto fail;
  (*out)->fd = fd;
  return TW_OK;
fail:
  close(fd);
  return st;
}

/* Copies the memory image into a sealed anonymous file that restores map.
 * All-zero 64 KiB chunks are left as holes (they read as zero). */
static tw_status image_to_memfd(tw_snapshot_t *s, const uint8_t *image,
                                tw_snapshot_error *err) {
  uint64_t bytes = (uint64_t)s->mem_pages * TW__SNAP_PAGE;
  int fd = memfd_create("tw-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_IO,
                         "cannot create a memory file for the image: %s",
                         strerror(errno));
  if (ftruncate(fd, (off_t)bytes) != 0) goto io;
  for (uint64_t off = 0; off < bytes; off += TW__SNAP_PAGE) {
    if (all_zero(image + off, TW__SNAP_PAGE)) continue;
    for (uint64_t done = 0; done < TW__SNAP_PAGE;) {
      ssize_t n = pwrite(fd, image + off + done, TW__SNAP_PAGE - done,
                         (off_t)(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) goto io;
      done += (uint64_t)n;
    }
  }
  if (fcntl(fd, F_ADD_SEALS,
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    goto io;
  s->fd = fd;
  s->mem_offset = 0;
  return TW_OK;
io:;
  int e = errno;
  close(fd);
  return tw__snap_fail(err, TW_SNAPSHOT_ERR_IO,
                       "cannot write the memory image (%llu bytes) to a "
                       "memory file: %s", (unsigned long long)bytes,
                       strerror(e));
}

tw_status tw_snapshot_open_bytes(const uint8_t *bytes, size_t len,
                                 tw_module_t *module, tw_snapshot_t **out,
                                 tw_snapshot_error *err) {
  if (!out || (!bytes && len) || !module)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_open_bytes: bytes, module or out is "
                         "NULL");
  *out = NULL;
  tw_snapshot_t *s = NULL;
  tw_status st = tw__snap_parse(bytes ? bytes : (const uint8_t *)"", len,
                                module, &s, err);
  if (st != TW_OK) return st;
  if (s->has_memory && s->mem_pages) {
    st = image_to_memfd(s, bytes + s->mem_offset, err);
    if (st != TW_OK) {
      tw_snapshot_free(s);
      return st;
    }
  }
  *out = s;
  return TW_OK;
}

/* ---- accessors ----------------------------------------------------------------- */

tw_module_t *tw_snapshot_module(const tw_snapshot_t *s) {
  return s ? s->module : NULL;
}
uint64_t tw_snapshot_input_len(const tw_snapshot_t *s) {
  return s ? s->input_len : 0;
}
uint32_t tw_snapshot_memory_pages(const tw_snapshot_t *s) {
  return s ? s->mem_pages : 0;
}
const char *tw_snapshot_initializer(const tw_snapshot_t *s) {
  return s ? s->init_name : "";
}
uint64_t tw_snapshot_created_unix_ms(const tw_snapshot_t *s) {
  return s ? s->created_ms : 0;
}
size_t tw_snapshot_device_buffer_count(const tw_snapshot_t *s) {
  return s ? s->ndevice : 0;
}
const tw_snapshot_device_buffer *tw_snapshot_device_buffer_at(
    const tw_snapshot_t *s, size_t i) {
  return s && i < s->ndevice ? &s->devices[i] : NULL;
}
