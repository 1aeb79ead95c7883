/* Capturing a snapshot: run the initialiser, collect the instance's state,
 * write the image (snapshot_int.h has the layout).
 *
 * Only state the instance owns is captured.  Anything that lives outside
 * it (an imported memory, table or global; a host or imported function in
 * a table or global; a non-null externref) would come back wrong or
 * dangling in another process, so it is refused with a message that names
 * it, and nothing is written.  Tables the initialiser grew are refused
 * too: the engine has no public way to grow a table at restore time.
 *
 * Files are written beside their destination and renamed into place after
 * fsync, so a reader sees the old file or the whole new one.  All-zero
 * 64 KiB chunks of the memory image are left as holes: a 16 MiB memory
 * the guest barely touched costs little disk. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sha256.h"
#include "snapshot/snapshot_int.h"
#include "tensorwasm/metrics.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the initialiser ---------------------------------------------------------- */

static tw_status run_export(tw_store_t *store, tw_instance_t *inst,
                            const char *name, tw_snapshot_error *err) {
  tw_extern ext;
  if (tw_instance_export(inst, name, strlen(name), &ext) != TW_OK)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NO_INITIALIZER,
                         "initialiser \"%s\" is not exported", name);
  if (ext.kind != TW_EXTERN_FUNC || tw_func_param_count(ext.of.func) ||
      tw_func_result_count(ext.of.func))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "initialiser \"%s\" must be a function without "
                         "parameters or results", name);
  tw_error e;
  tw_error_clear(&e);
  if (tw_func_call(store, ext.of.func, NULL, 0, NULL, 0, &e) != TW_OK) {
    char what[TW__SNAP_NAME_MAX + 32];
    snprintf(what, sizeof what, "initialiser \"%s\" failed", name);
    return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_INIT_FAILED, &e, what);
  }
  return TW_OK;
}

tw_status tw_snapshot_run_initializer(tw_store_t *store, tw_instance_t *inst,
                                      const char *name, const char **chosen,
                                      tw_snapshot_error *err) {
  static const char *const defaults[] = {TW_SNAPSHOT_INIT_WIZER,
                                         TW_SNAPSHOT_INIT_REACTOR};
  if (chosen) *chosen = NULL;
  if (!store || !inst)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_run_initializer: store or instance is "
                         "NULL");
  const char *run = name;
  tw_extern ext;
  for (size_t i = 0; !run && i < 2; i++)
    if (tw_instance_export(inst, defaults[i], strlen(defaults[i]), &ext) ==
        TW_OK)
      run = defaults[i];
  if (!run) return TW_OK; /* nothing to run: data segments and start only */
  tw_status st = run_export(store, inst, run, err);
  if (st == TW_OK && chosen) *chosen = run;
  return st;
}

/* ---- collecting the state ------------------------------------------------------ */

/* A growable byte buffer; `oom` sticks. */
typedef struct sbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
} sbuf;

static uint8_t *sb_grow(sbuf *b, size_t n) {
  if (b->oom) return NULL;
  if (!b->p || b->len + n > b->cap) { /* never hand out NULL, even for 0 bytes */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return NULL;
    }
    b->p = p;
    b->cap = cap;
  }
  uint8_t *at = b->p + b->len;
  memset(at, 0, n);
  b->len += n;
  return at;
}

/* Everything but the memory bytes, which stay in the instance. */
typedef struct image {
  uint8_t header[TW__SNAP_HEADER_SIZE];
  sbuf meta;
  const tw_snapshot_device_buffer *devices;
  size_t ndevices;
  const uint8_t *memory;
  uint64_t dev_off, dev_len, mem_off, mem_len, file_size;
} image;

static tw_status check_imports(const tw_module_t *m, tw_snapshot_error *err) {
  static const char *const kinds[] = {"function", "table", "memory",
                                      "global"};
  for (size_t i = 0; i < tw_module_import_count(m); i++) {
    tw_import_desc d = tw_module_import(m, i);
    if (d.kind == TW_EXTERN_FUNC) continue;
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                         "module imports %s \"%.*s.%.*s\": its state lives "
                         "outside the instance and cannot be captured",
                         kinds[d.kind], (int)d.module.len, d.module.data,
                         (int)d.name.len, d.name.data);
  }
  return TW_OK;
}

/* A funcref as a function index of `inst` itself, or NULL_REF. */
static tw_status func_index(tw_instance_t *inst, tw_func_t *f, uint64_t *out,
                            const char *where, tw_snapshot_error *err) {
  tw_instance_t *owner = NULL;
  uint32_t index = 0;
  if (!f) {
    *out = TW__SNAP_NULL_REF;
    return TW_OK;
  }
  if (!tw_func_owner(f, &owner, &index) || owner != inst)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                         "%s holds a host or imported function; only the "
                         "instance's own functions can be captured", where);
  *out = index;
  return TW_OK;
}

static tw_status collect_globals(tw_instance_t *inst, image *im,
                                 tw_snapshot_error *err) {
  uint32_t n = tw_instance_global_count(inst);
  char where[48];
  for (uint32_t i = 0; i < n; i++) {
    tw_val v = tw_global_get(tw_instance_global(inst, i));
    uint64_t bits = 0;
    snprintf(where, sizeof where, "global %u", i);
    switch (v.type) {
    case TW_I32: bits = (uint32_t)v.of.i32; break;
    case TW_I64: bits = (uint64_t)v.of.i64; break;
    case TW_F32: bits = v.of.f32_bits; break;
    case TW_F64: bits = v.of.f64_bits; break;
    case TW_FUNCREF: {
      tw_status st = func_index(inst, v.of.funcref, &bits, where, err);
      if (st != TW_OK) return st;
      break;
    }
    case TW_EXTERNREF:
      if (v.of.externref)
        return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                             "global %u holds a host reference (externref), "
                             "which cannot be captured", i);
      bits = TW__SNAP_NULL_REF;
      break;
    default:
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                           "global %u has type %s, which snapshots do not "
                           "hold", i, tw_valtype_name(v.type));
    }
    uint8_t *r = sb_grow(&im->meta, TW__SNAP_GLOBAL_REC);
    if (!r) break;
    tw__wr32(r, i);
    r[4] = (uint8_t)v.type;
    tw__wr64(r + 8, bits);
  }
  tw__wr32(im->header + TW__SH_NGLOBALS, n);
  return TW_OK;
}

static tw_status collect_table(tw_instance_t *inst, uint32_t ti, image *im,
                               tw_snapshot_error *err) {
  tw_table_t *t = tw_instance_table(inst, ti);
  uint32_t size = tw_table_size(t), count = 0;
  size_t rec = im->meta.len;
  uint8_t elem = TW_FUNCREF;
  char where[64];
  if (!sb_grow(&im->meta, TW__SNAP_TABLE_REC)) return TW_OK;
  for (uint32_t slot = 0; slot < size; slot++) {
    tw_val v;
    tw_error e;
    if (tw_table_get(t, slot, &v, &e) != TW_OK)
      return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_ENGINE, &e,
                                  "reading a table");
    elem = (uint8_t)v.type;
    if (v.type == TW_EXTERNREF) {
      if (v.of.externref)
        return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                             "table %u slot %u holds a host reference "
                             "(externref), which cannot be captured", ti,
                             slot);
      continue;
    }
    if (!v.of.funcref) continue;
    uint64_t index;
    snprintf(where, sizeof where, "table %u slot %u", ti, slot);
    tw_status st = func_index(inst, v.of.funcref, &index, where, err);
    if (st != TW_OK) return st;
    uint8_t *r = sb_grow(&im->meta, TW__SNAP_ENTRY_REC);
    if (!r) return TW_OK;
    tw__wr32(r, slot);
    tw__wr32(r + 4, (uint32_t)index);
    count++;
  }
  uint8_t *r = im->meta.p + rec;
  tw__wr32(r, ti);
  r[4] = elem;
  tw__wr32(r + 8, size);
  tw__wr32(r + 12, count);
  return TW_OK;
}

static void collect_segments(tw_instance_t *inst, image *im) {
  for (int data = 1; data >= 0; data--) {
    uint32_t n = tw_instance_segment_count(inst, data);
    uint8_t *f = sb_grow(&im->meta, n);
    if (!f) return;
    for (uint32_t i = 0; i < n; i++)
      f[i] = tw_instance_segment_dropped(inst, data, i) ? 1 : 0;
    tw__wr32(im->header + (data ? TW__SH_NDATA : TW__SH_NELEM), n);
  }
}

static tw_status collect_devices(const tw_snapshot_capture_options *opt,
                                 image *im, tw_snapshot_error *err) {
  size_t n = opt ? opt->ndevice_buffers : 0;
  if (n > UINT32_MAX || (n && !opt->device_buffers))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "device buffer list is malformed");
  uint64_t off = 0;
  for (size_t i = 0; i < n; i++) {
    const tw_snapshot_device_buffer *b = &opt->device_buffers[i];
    if (b->len && !b->data)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                           "device buffer %zu has no data", i);
    uint8_t *r = sb_grow(&im->meta, TW__SNAP_DEVICE_REC);
    if (!r) return TW_OK;
    tw__wr32(r, b->device_index);
    tw__wr64(r + 8, b->handle);
    tw__wr64(r + 16, off);
    tw__wr64(r + 24, b->len);
    off += b->len;
  }
  im->devices = n ? opt->device_buffers : NULL;
  im->ndevices = n;
  im->dev_len = off;
  tw__wr32(im->header + TW__SH_NDEVICE, (uint32_t)n);
  return TW_OK;
}

/* The engine cannot grow a table at restore, so a table the initialiser
 * grew cannot come back: compare with a fresh instance made in the same
 * store from the same imports (they are all functions: check_imports). */
static tw_status check_tables_not_grown(tw_store_t *store,
                                        tw_instance_t *inst,
                                        tw_snapshot_error *err) {
  tw_module_t *m = tw_instance_module(inst);
  uint32_t ntables = tw_instance_table_count(inst);
  if (!ntables) return TW_OK;
  size_t n = tw_module_import_count(m);
  tw_extern *imports = calloc(n + 1, sizeof *imports);
  if (!imports)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory checking tables");
  for (size_t i = 0; i < n; i++)
    imports[i] = (tw_extern){.kind = TW_EXTERN_FUNC,
                             .of.func = tw_instance_func(inst, (uint32_t)i)};
  tw_instance_options o = {.skip_init = true};
  tw_instance_t *fresh = NULL;
  tw_error e;
  tw_status st = tw_instance_new_ex(store, m, imports, n, &o, &fresh, &e);
  free(imports);
  if (st != TW_OK)
    return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_ENGINE, &e,
                                "instantiating for the table check");
  for (uint32_t i = 0; i < ntables; i++) {
    uint32_t was = tw_table_size(tw_instance_table(fresh, i));
    uint32_t now = tw_table_size(tw_instance_table(inst, i));
    if (was != now)
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_UNSUPPORTED,
                           "table %u grew during initialisation (%u -> %u "
                           "elements); restoring a grown table is not "
                           "supported", i, was, now);
  }
  return TW_OK;
}

static void lay_out(image *im, tw_instance_t *inst, const char *name) {
  uint8_t *h = im->header;
  tw_memory_t *mem = tw_instance_memory(inst);
  uint32_t pages = mem ? tw_memory_pages(mem) : 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  im->memory = mem ? tw_memory_data(mem) : NULL;
  im->dev_off = TW__SNAP_HEADER_SIZE + im->meta.len;
  im->mem_len = (uint64_t)pages * TW__SNAP_PAGE;
  im->mem_off = im->dev_off + im->dev_len;
  if (pages) /* mmap wants a page-aligned offset; 64 KiB suits every host */
    im->mem_off = (im->mem_off + TW__SNAP_ALIGN - 1) / TW__SNAP_ALIGN *
                  TW__SNAP_ALIGN;
  im->file_size = im->mem_off + im->mem_len + TW__SNAP_SUM_SIZE;
  memcpy(h + TW__SH_MAGIC, TW__SNAP_MAGIC, 8);
  tw__wr32(h + TW__SH_VERSION, TW__SNAP_VERSION);
  tw__wr32(h + TW__SH_HEADER_SIZE, TW__SNAP_HEADER_SIZE);
  tw__wr64(h + TW__SH_FILE_SIZE, im->file_size);
  tw_module_hash(tw_instance_module(inst), h + TW__SH_MODULE_HASH);
  strncpy((char *)h + TW__SH_ENGINE, tw__snap_engine_version(),
          TW__SNAP_ENGINE_LEN - 1);
  tw__wr64(h + TW__SH_CREATED_MS,
           (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
  tw__wr32(h + TW__SH_MEMORY_PAGES, pages);
  tw__wr32(h + TW__SH_FLAGS, mem ? TW__SNAP_HAS_MEMORY : 0);
  tw__wr32(h + TW__SH_NTABLES, tw_instance_table_count(inst));
  tw__wr32(h + TW__SH_NAME_LEN, (uint32_t)strlen(name));
  tw__wr64(h + TW__SH_META_OFF, TW__SNAP_HEADER_SIZE);
  tw__wr64(h + TW__SH_META_LEN, im->meta.len);
  tw__wr64(h + TW__SH_DEVICE_OFF, im->dev_off);
  tw__wr64(h + TW__SH_DEVICE_LEN, im->dev_len);
  tw__wr64(h + TW__SH_MEMORY_OFF, im->mem_off);
  tw__wr64(h + TW__SH_MEMORY_LEN, im->mem_len);
}

/* Fills `im` from the instance, or says what cannot be captured. */
static tw_status collect(tw_store_t *store, tw_instance_t *inst,
                         const tw_snapshot_capture_options *opt, image *im,
                         tw_snapshot_error *err) {
  const char *name = opt && opt->init_name ? opt->init_name : "";
  size_t name_len = strlen(name);
  memset(im, 0, sizeof *im);
  if (!store || !inst)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "snapshot capture: store or instance is NULL");
  if (name_len > TW__SNAP_NAME_MAX)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "initialiser name is longer than %u bytes",
                         TW__SNAP_NAME_MAX);
  tw_status st = check_imports(tw_instance_module(inst), err);
  if (st == TW_OK) st = collect_globals(inst, im, err);
  for (uint32_t i = 0; st == TW_OK && i < tw_instance_table_count(inst); i++)
    st = collect_table(inst, i, im, err);
  if (st == TW_OK) {
    collect_segments(inst, im);
    st = collect_devices(opt, im, err);
  }
  if (st == TW_OK) {
    uint8_t *p = sb_grow(&im->meta, name_len);
    if (p) memcpy(p, name, name_len);
  }
  if (st == TW_OK && im->meta.oom)
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                       "out of memory collecting the instance's state");
  if (st == TW_OK) st = check_tables_not_grown(store, inst, err);
  if (st != TW_OK) {
    free(im->meta.p);
    im->meta.p = NULL;
    return st;
  }
  lay_out(im, inst, name);
  return TW_OK;
}

/* ---- output ------------------------------------------------------------------------ */

tw_status tw_snapshot_write_bytes(tw_store_t *store, tw_instance_t *inst,
                                  const tw_snapshot_capture_options *opt,
                                  uint8_t **out, size_t *len,
                                  tw_snapshot_error *err) {
  double t0 = now_s();
  image im;
  if (!out || !len)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_write_bytes: out or len is NULL");
  *out = NULL;
  *len = 0;
  tw_status st = collect(store, inst, opt, &im, err);
  if (st != TW_OK) return st;
  uint8_t *b = calloc(1, (size_t)im.file_size);
  if (!b) {
    free(im.meta.p);
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory for a %llu-byte snapshot",
                         (unsigned long long)im.file_size);
  }
  memcpy(b, im.header, TW__SNAP_HEADER_SIZE);
  memcpy(b + TW__SNAP_HEADER_SIZE, im.meta.p, im.meta.len);
  uint64_t at = im.dev_off;
  for (size_t i = 0; i < im.ndevices; i++) {
    if (im.devices[i].len) memcpy(b + at, im.devices[i].data, im.devices[i].len);
    at += im.devices[i].len;
  }
  if (im.mem_len) memcpy(b + im.mem_off, im.memory, (size_t)im.mem_len);
  tw__sha256(b, (size_t)(im.file_size - TW__SNAP_SUM_SIZE),
             b + im.file_size - TW__SNAP_SUM_SIZE);
  free(im.meta.p);
  *out = b;
  *len = (size_t)im.file_size;
  tw_histogram_observe(tw_metrics_std()->snapshot_capture_seconds,
                       now_s() - t0);
  return TW_OK;
}

/* A file being written: its descriptor and the running checksum (not
 * updated once final). */
typedef struct wfile {
  int fd;
  bool summing;
  tw__sha256_ctx sum;
} wfile;

static int put_at(wfile *w, const uint8_t *p, uint64_t n, uint64_t off,
                  bool hole_if_zero) {
  if (w->summing) tw__sha256_update(&w->sum, p, (size_t)n);
  static const uint8_t zeros[TW__SNAP_PAGE];
  if (hole_if_zero && n <= sizeof zeros && memcmp(p, zeros, (size_t)n) == 0)
    return 0;
  for (uint64_t done = 0; done < n;) {
    ssize_t k = pwrite(w->fd, p + done, (size_t)(n - done), (off_t)(off + done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    done += (uint64_t)k;
  }
  return 0;
}

static int put_image(wfile *w, const image *im) {
  static const uint8_t zeros[TW__SNAP_PAGE];
  if (put_at(w, im->header, TW__SNAP_HEADER_SIZE, 0, false) ||
      put_at(w, im->meta.p, im->meta.len, TW__SNAP_HEADER_SIZE, false))
    return -1;
  uint64_t at = im->dev_off;
  for (size_t i = 0; i < im->ndevices; i++) {
    if (put_at(w, im->devices[i].data, im->devices[i].len, at, false)) return -1;
    at += im->devices[i].len;
  }
  while (at < im->mem_off) { /* padding: left as a hole */
    uint64_t n = im->mem_off - at;
    if (n > TW__SNAP_PAGE) n = TW__SNAP_PAGE;
    if (put_at(w, zeros, n, at, true)) return -1;
    at += n;
  }
  for (uint64_t off = 0; off < im->mem_len; off += TW__SNAP_PAGE)
    if (put_at(w, im->memory + off, TW__SNAP_PAGE, im->mem_off + off, true))
      return -1;
  uint8_t sum[TW__SHA256_BYTES];
  tw__sha256_final(&w->sum, sum);
  w->summing = false;
  /* the holes at the end need the file to reach its full size */
  return put_at(w, sum, sizeof sum, im->file_size - TW__SNAP_SUM_SIZE, false);
}

/* Writes `im` to a temporary file beside `path`, syncs it and renames it
 * into place, then syncs the directory. */
static tw_status write_atomically(const image *im, const char *path,
                                  tw_snapshot_error *err) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16), *dir = strdup(path);
  wfile w = {.fd = -1, .summing = true};
  tw_status st = TW_OK;
  bool created = false;
  if (!tmp || !dir) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                       "out of memory writing a snapshot");
    goto done;
  }
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  w.fd = mkostemp(tmp, O_CLOEXEC);
  created = w.fd >= 0;
  if (w.fd < 0) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_IO, "cannot create %s: %s", tmp,
                       strerror(errno));
    goto done;
  }
  tw__sha256_init(&w.sum);
  if (put_image(&w, im) != 0 || fsync(w.fd) != 0) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_IO, "cannot write %s: %s", tmp,
                       strerror(errno));
    goto done;
  }
  int rc = close(w.fd);
  w.fd = -1;
  if (rc != 0 || rename(tmp, path) != 0) {
    st = tw__snap_fail(err, TW_SNAPSHOT_ERR_IO, "cannot put %s in place: %s",
                       path, strerror(errno));
    goto done;
  }
  created = false; /* it is `path` now */
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* makes the rename durable; best effort */
    fsync(dfd);
    close(dfd);
  }
done:
  if (w.fd >= 0) close(w.fd);
  if (created) unlink(tmp);
  free(tmp);
  free(dir);
  return st;
}

tw_status tw_snapshot_write_file(tw_store_t *store, tw_instance_t *inst,
                                 const tw_snapshot_capture_options *opt,
                                 const char *path, tw_snapshot_t **opened,
                                 tw_snapshot_error *err) {
  const tw_metrics_std_t *metrics = tw_metrics_std();
  double t0 = now_s();
  image im;
  if (opened) *opened = NULL;
  if (!path)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_write_file: path is NULL");
  tw_status st = collect(store, inst, opt, &im, err);
  if (st != TW_OK) return st;
  double t1 = now_s();
  st = write_atomically(&im, path, err);
  free(im.meta.p);
  if (st != TW_OK) return st;
  double t2 = now_s();
  tw_histogram_observe(metrics->snapshot_capture_seconds, t2 - t0);
  /* read it back: what a later open will see is what was meant */
  tw_snapshot_t *snap = NULL;
  st = tw_snapshot_open_file(path, tw_instance_module(inst), &snap, err);
  if (st != TW_OK) return st;
  tw_histogram_observe(metrics->snapshot_disk_round_trip_seconds,
                       now_s() - t1);
  if (opened)
    *opened = snap;
  else
    tw_snapshot_free(snap);
  return TW_OK;
}

/* ---- capture: instantiate, initialise, write -------------------------------------- */

static tw_status instantiate_and_init(tw_store_t *store, tw_module_t *module,
                                      const tw_extern *imports,
                                      size_t nimports,
                                      const tw_snapshot_capture_options *opt,
                                      tw_instance_t **inst,
                                      tw_snapshot_capture_options *rec,
                                      tw_snapshot_error *err) {
  tw_error e;
  tw_error_clear(&e);
  *rec = opt ? *opt : (tw_snapshot_capture_options){0};
  if (tw_instance_new(store, module, imports, nimports, inst, &e) != TW_OK)
    return tw__snap_fail_engine(err, TW_SNAPSHOT_ERR_ENGINE, &e,
                                "cannot instantiate the module to capture");
  const char *chosen = NULL;
  tw_status st = tw_snapshot_run_initializer(store, *inst, rec->init_name,
                                             &chosen, err);
  rec->init_name = chosen;
  return st;
}

tw_status tw_snapshot_capture_file(tw_store_t *store, tw_module_t *module,
                                   const tw_extern *imports, size_t nimports,
                                   const tw_snapshot_capture_options *opt,
                                   const char *path, tw_snapshot_t **opened,
                                   tw_snapshot_error *err) {
  tw_instance_t *inst = NULL;
  tw_snapshot_capture_options rec;
  if (opened) *opened = NULL;
  tw_status st = instantiate_and_init(store, module, imports, nimports, opt,
                                      &inst, &rec, err);
  if (st != TW_OK) return st;
  return tw_snapshot_write_file(store, inst, &rec, path, opened, err);
}

tw_status tw_snapshot_capture_bytes(tw_store_t *store, tw_module_t *module,
                                    const tw_extern *imports, size_t nimports,
                                    const tw_snapshot_capture_options *opt,
                                    uint8_t **out, size_t *len,
                                    tw_snapshot_error *err) {
  tw_instance_t *inst = NULL;
  tw_snapshot_capture_options rec;
  if (out) *out = NULL;
  if (len) *len = 0;
  tw_status st = instantiate_and_init(store, module, imports, nimports, opt,
                                      &inst, &rec, err);
  if (st != TW_OK) return st;
  return tw_snapshot_write_bytes(store, inst, &rec, out, len, err);
}
