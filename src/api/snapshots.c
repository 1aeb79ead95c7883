/* Gateway snapshots: deploy-time capture, which image each invocation
 * warm-starts from, and the export/import routes POST /snapshot/save and
 * POST /snapshot/restore (docs/API.md "Snapshots", docs/SNAPSHOTS.md
 * "Gateway").
 *
 * Files in the snapshot directory (stated once, here):
 *   <sha256>.snap        the image captured at deploy for a module, keyed
 *                        by the module's hash (shared by every function
 *                        deployed with those bytes)
 *   <function-id>.snap   the image a function was restored with; preferred
 *                        over its module's
 *   <function-id>.cold   sidecar: deployed with "snapshot": false, so the
 *                        function starts cold even when an image exists
 * The registry has no field for the choice; it is the sidecar plus the
 * presence of an image.  Every file is written atomically (temporary file,
 * fsync, rename).  An image is never trusted: the executor verifies it
 * when it first opens it and starts cold (running the initialiser) when it
 * is rejected.
 *
 * Capture runs the module's initialiser on the control pool with fresh
 * WASI (no arguments but "main", no environment, null stdio), bounded by
 * CAPTURE_FUEL and CAPTURE_MAX_PAGES so that a guest cannot hold a control
 * thread or the host's memory; a capture that is refused (state outside
 * the instance, a trap, the bounds) only means no snapshot, logged.
 *
 * The envelope that leaves the process is tw_snapshot_envelope_seal's:
 * HMAC-SHA256 over the tenant, the module and the image, checked in
 * constant time before anything in it is parsed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_int.h"
#include "tensorwasm/snapshot.h"
#include "tensorwasm/wasi.h"

#define SNAPSHOT_DIR_ENV "TENSOR_WASM_API_SNAPSHOT_DIR"
/* A loop back-edge or call costs one unit: about a second of a tight loop
 * on the interpreter, far beyond any initialiser we expect. */
#define CAPTURE_FUEL 2000000000ull
#define CAPTURE_MAX_PAGES 16384u /* 1 GiB of linear memory */
#define ENVELOPE_VERSION 1
#define SNAP_PATH_MAX 4096

/* ---- files ------------------------------------------------------------------ */

static bool path_of(const tw_api_t *api, const char *stem, const char *ext, char *buf,
                    size_t cap) {
  int n = snprintf(buf, cap, "%s/%s%s", api->snapshot_dir, stem, ext);
  return n > 0 && (size_t)n < cap;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* `len` bytes to `path`, atomically. */
static bool write_atomic(const char *path, const uint8_t *data, size_t len) {
  char tmp[SNAP_PATH_MAX + 16];
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) return false;
  bool ok = true;
  for (size_t off = 0; ok && off < len;) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = false;
    else off += (size_t)w;
  }
  ok = ok && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  ok = ok && rename(tmp, path) == 0;
  if (!ok) unlink(tmp);
  return ok;
}

/* The whole file into *out (malloc'd). */
static bool read_all(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n;
  bool ok = false;
  if (!f) return false;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    *out = buf;
    *len = (size_t)n;
    ok = true;
  }
  if (!ok) free(buf);
  fclose(f);
  return ok;
}

/* ---- start and stop --------------------------------------------------------- */

static tw_status start_fail(tw_error *err, tw_status st, const char *msg) {
  if (err) {
    err->status = st;
    snprintf(err->message, sizeof err->message, "%s", msg);
  }
  return st;
}

static tw_status start_dir(tw_api_t *api, tw_error *err) {
  const char *dir = api->cfg.snapshot_dir ? api->cfg.snapshot_dir : getenv(SNAPSHOT_DIR_ENV);
  api->cfg.snapshot_dir = NULL;
  if (dir && *dir) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return start_fail(err, TW_IO, "cannot create the snapshot directory");
    if (strlen(dir) > SNAP_PATH_MAX - 128)
      return start_fail(err, TW_ARG, "the snapshot directory path is too long");
    if (!(api->snapshot_dir = strdup(dir))) return start_fail(err, TW_NOMEM, "out of memory");
    return TW_OK;
  }
  const char *tmp = getenv("TMPDIR");
  char buf[SNAP_PATH_MAX];
  snprintf(buf, sizeof buf, "%s/tensor-wasm-snapshots-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(buf)) return start_fail(err, TW_IO, "cannot create a snapshot directory");
  if (!(api->snapshot_dir = strdup(buf))) {
    rmdir(buf);
    return start_fail(err, TW_NOMEM, "out of memory");
  }
  api->snapshot_dir_private = true;
  tw_event(TW_LEVEL_INFO, TW_API_TARGET,
           "no snapshot directory configured: deploy-time snapshots go to %s and are removed "
           "at shutdown",
           buf);
  return TW_OK;
}

tw_status api_snapshots_start(tw_api_t *api, tw_error *err) {
  const char *key = api->cfg.snapshot_hmac_key ? api->cfg.snapshot_hmac_key
                                               : getenv(TW_SNAPSHOT_HMAC_KEY_ENV);
  api->cfg.snapshot_hmac_key = NULL;
  if (key && *key) {
    tw_snapshot_error serr;
    if (tw_snapshot_key_parse(key, strlen(key), api->snapshot_key, &serr) != TW_OK)
      return start_fail(err, TW_ARG, TW_SNAPSHOT_HMAC_KEY_ENV " must be 64 hex characters");
    api->snapshot_key_set = true;
  }
  return start_dir(api, err);
}

void api_snapshots_stop(tw_api_t *api) {
  if (api->snapshot_dir && api->snapshot_dir_private) {
    DIR *d = opendir(api->snapshot_dir);
    struct dirent *e;
    char path[SNAP_PATH_MAX + 256];
    while (d && (e = readdir(d))) { /* flat: only our own files */
      if (e->d_name[0] == '.') continue;
      snprintf(path, sizeof path, "%s/%s", api->snapshot_dir, e->d_name);
      unlink(path);
    }
    if (d) closedir(d);
    rmdir(api->snapshot_dir);
  }
  free(api->snapshot_dir);
  api->snapshot_dir = NULL;
  memset(api->snapshot_key, 0, sizeof api->snapshot_key);
  api->snapshot_key_set = false;
}

/* ---- capture -------------------------------------------------------------------- */

static bool has_initializer(const tw_module_t *m) {
  size_t n = tw_module_export_count(m);
  for (size_t i = 0; i < n; i++) {
    tw_export_desc d = tw_module_export(m, i);
    if (d.kind != TW_EXTERN_FUNC) continue;
    if ((d.name.len == strlen(TW_SNAPSHOT_INIT_WIZER) &&
         memcmp(d.name.data, TW_SNAPSHOT_INIT_WIZER, d.name.len) == 0) ||
        (d.name.len == strlen(TW_SNAPSHOT_INIT_REACTOR) &&
         memcmp(d.name.data, TW_SNAPSHOT_INIT_REACTOR, d.name.len) == 0))
      return true;
  }
  return false;
}

/* One capture in its own engine and store.  `only_with_init`: nothing
 * (TW_NOT_FOUND, NO_INITIALIZER) when the module has no initialiser.
 * To `path` when given, else into *out / *len. */
static tw_status capture(const uint8_t *wasm, size_t len, bool only_with_init, const char *path,
                         uint8_t **out, size_t *out_len, tw_snapshot_error *serr) {
  tw_engine_config ecfg = {.max_memory_pages = CAPTURE_MAX_PAGES};
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_wasi_t *wasi = NULL;
  tw_extern *imports = NULL;
  tw_snapshot_t *opened = NULL;
  const char *args[] = {"main"};
  tw_wasi_config wcfg = {.args = args, .nargs = 1};
  tw_status st;
  tw_snapshot_error_clear(serr);
  serr->kind = TW_SNAPSHOT_ERR_ENGINE;
  if ((st = tw_engine_new(&ecfg, &engine, &serr->base)) != TW_OK ||
      (st = tw_module_new(engine, wasm, len, &module, &serr->base)) != TW_OK)
    goto done;
  if (only_with_init && !has_initializer(module)) {
    serr->kind = TW_SNAPSHOT_ERR_NO_INITIALIZER;
    st = TW_NOT_FOUND;
    goto done;
  }
  size_t n = tw_module_import_count(module);
  if (!(imports = calloc(n + 1, sizeof *imports))) {
    serr->kind = TW_SNAPSHOT_ERR_NOMEM;
    st = TW_NOMEM;
    goto done;
  }
  if ((st = tw_store_new(engine, &store, &serr->base)) != TW_OK ||
      (st = tw_wasi_new(&wcfg, &wasi, &serr->base)) != TW_OK ||
      (st = tw_wasi_resolve_imports(wasi, store, module, imports, n, &serr->base)) != TW_OK)
    goto done;
  tw_store_set_fuel(store, CAPTURE_FUEL);
  tw_snapshot_error_clear(serr);
  st = path ? tw_snapshot_capture_file(store, module, imports, n, NULL, path, &opened, serr)
            : tw_snapshot_capture_bytes(store, module, imports, n, NULL, out, out_len, serr);
done:
  tw_snapshot_free(opened); /* before its module */
  free(imports);
  if (store) tw_store_free(store);
  tw_wasi_free(wasi);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  return st;
}

bool api_snapshot_deploy(tw_api_t *api, const tw_function_info *fn, const uint8_t *wasm,
                         size_t len, int want, bool *warm, api_fail *f) {
  char path[SNAP_PATH_MAX];
  *warm = false;
  if (!api->snapshot_dir) return true;
  if (want == 0) {
    if (!path_of(api, fn->id, ".cold", path, sizeof path) ||
        !write_atomic(path, (const uint8_t *)"", 0)) {
      tw_event(TW_LEVEL_ERROR, TW_API_TARGET, "cannot record the snapshot choice in %s",
               api->snapshot_dir);
      api_fail_set(f, API_ERR_INTERNAL, "storage error");
      return false;
    }
    return true;
  }
  if (!path_of(api, fn->sha256, ".snap", path, sizeof path)) return true;
  if (exists(path)) { /* the same bytes were captured before */
    *warm = true;
    return true;
  }
  tw_snapshot_error serr;
  tw_status st = capture(wasm, len, want < 0, path, NULL, NULL, &serr);
  if (st == TW_OK) {
    *warm = true;
  } else if (serr.kind != TW_SNAPSHOT_ERR_NO_INITIALIZER || want > 0) {
    char msg[1024];
    tw_error_format(&serr.base, msg, sizeof msg);
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "function %s: no snapshot (%s: %s); it starts cold",
             fn->id, tw_snapshot_error_kind_name(serr.kind), msg);
  }
  return true;
}

const char *api_snapshot_path(tw_api_t *api, const tw_function_info *fn, char *buf,
                              size_t cap) {
  if (!api->snapshot_dir) return NULL;
  if (path_of(api, fn->id, ".cold", buf, cap) && exists(buf)) return NULL;
  if (path_of(api, fn->id, ".snap", buf, cap) && exists(buf)) return buf;
  if (path_of(api, fn->sha256, ".snap", buf, cap) && exists(buf)) return buf;
  return NULL;
}

void api_snapshot_forget(tw_api_t *api, const char *fn_id) {
  char path[SNAP_PATH_MAX];
  if (!api->snapshot_dir) return;
  if (path_of(api, fn_id, ".cold", path, sizeof path)) unlink(path);
  if (path_of(api, fn_id, ".snap", path, sizeof path)) unlink(path);
}

/* ---- routes ------------------------------------------------------------------------ */

static void fail_from_snapshot(api_fail *f, const tw_snapshot_error *e) {
  switch (e->kind) {
  case TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED:
    api_fail_set(f, API_ERR_SNAPSHOT_SIGNING_NOT_CONFIGURED,
                 "snapshot signing is not configured (" TW_SNAPSHOT_HMAC_KEY_ENV ")");
    return;
  case TW_SNAPSHOT_ERR_SIGNATURE_INVALID: /* one answer for every cause */
    api_fail_set(f, API_ERR_SNAPSHOT_SIGNATURE_INVALID, "snapshot signature is invalid");
    return;
  case TW_SNAPSHOT_ERR_TENANT_MISMATCH:
    api_fail_set(f, API_ERR_TENANT_SCOPE_DENIED, "the snapshot belongs to another tenant");
    return;
  case TW_SNAPSHOT_ERR_NOMEM:
    api_fail_set(f, API_ERR_INTERNAL, "out of memory");
    return;
  default:
    api_fail_set(f, API_ERR_BAD_REQUEST, "snapshot rejected: %s (%s)",
                 tw_snapshot_error_kind_message(e->kind), tw_snapshot_error_kind_name(e->kind));
    return;
  }
}

/* The body as a JSON object, or INVALID_JSON. */
static json_t *body_object(const api_req *r, api_fail *f) {
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)r->body, r->body_len, 0, &jerr);
  if (!doc || !json_is_object(doc)) {
    json_decref(doc);
    api_fail_set(f, API_ERR_INVALID_JSON, "the body must be a JSON object");
    return NULL;
  }
  return doc;
}

static bool key_ready(const tw_api_t *api, api_fail *f) {
  if (api->snapshot_key_set) return true;
  tw_snapshot_error e = {.kind = TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED};
  fail_from_snapshot(f, &e);
  return false;
}

/* The image of `fn` to export: the one its invocations use (verified
 * against the module first), else a fresh capture. */
static bool image_of(tw_api_t *api, const tw_function_info *fn, const uint8_t *wasm, size_t len,
                     uint8_t **out, size_t *out_len, api_fail *f) {
  char path[SNAP_PATH_MAX];
  tw_snapshot_error serr;
  const char *p = NULL;
  if (api->snapshot_dir) {
    if (path_of(api, fn->id, ".snap", path, sizeof path) && exists(path)) p = path;
    else if (path_of(api, fn->sha256, ".snap", path, sizeof path) && exists(path)) p = path;
  }
  if (p && read_all(p, out, out_len)) {
    tw_engine_t *engine = NULL;
    tw_module_t *module = NULL;
    tw_snapshot_t *snap = NULL;
    tw_error err;
    bool ok = tw_engine_new(NULL, &engine, &err) == TW_OK &&
              tw_module_new(engine, wasm, len, &module, &err) == TW_OK &&
              tw_snapshot_open_bytes(*out, *out_len, module, &snap, &serr) == TW_OK;
    tw_snapshot_free(snap);
    if (module) tw_module_free(module);
    if (engine) tw_engine_free(engine);
    if (ok) return true;
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "snapshot %s does not verify; capturing afresh", p);
    free(*out);
    *out = NULL;
  }
  if (capture(wasm, len, false, NULL, out, out_len, &serr) != TW_OK) {
    char msg[1024];
    tw_error_format(&serr.base, msg, sizeof msg);
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "function %s: capture refused (%s: %s)", fn->id,
             tw_snapshot_error_kind_name(serr.kind), msg);
    fail_from_snapshot(f, &serr);
    return false;
  }
  return true;
}

/* {"function_id"} -> {"function_id", "snapshot_b64", "signed": true} */
void api_handle_snapshot_save(api_req *r) {
  tw_api_t *api = r->api;
  tw_span_t *span = tw_span_begin("http.snapshot_save", TW_API_TARGET, TW_LEVEL_INFO);
  tw_function_info fn;
  json_t *doc = NULL;
  uint8_t *wasm = NULL, *image = NULL, *sealed = NULL;
  size_t wasm_len = 0, image_len = 0, sealed_len = 0;
  char *b64 = NULL;
  tw_error err;
  tw_snapshot_error serr;
  api_fail f;
  api_span_tenant(span, r->tenant);
  if (!key_ready(api, &f) || !(doc = body_object(r, &f))) goto fail;
  json_t *id = json_object_get(doc, "function_id");
  if (!json_is_string(id)) {
    api_fail_set(&f, API_ERR_INVALID_JSON, "\"function_id\" must be a string");
    goto fail;
  }
  tw_span_attr_str(span, "function_id", json_string_value(id));
  if (!api_function_lookup(api, json_string_value(id), r->tenant, &fn, &f)) goto fail;
  tw_error_clear(&err);
  tw_status st = tw_registry_function_bytes(api->registry, fn.id, &wasm, &wasm_len, &err);
  if (st != TW_OK) {
    if (st == TW_NOT_FOUND) {
      api_fail_set(&f, API_ERR_NOT_FOUND, "no such function");
    } else {
      api_fail_store(&f, st, &err);
    }
    goto fail;
  }
  if (!image_of(api, &fn, wasm, wasm_len, &image, &image_len, &f)) goto fail;
  tw_snapshot_envelope env = {.tenant_id = fn.tenant, .module = wasm, .module_len = wasm_len,
                              .snapshot = image, .snapshot_len = image_len};
  if (tw_snapshot_envelope_seal(api->snapshot_key, &env, &sealed, &sealed_len, &serr) != TW_OK) {
    fail_from_snapshot(&f, &serr);
    goto fail;
  }
  if (!(b64 = api_base64_encode(sealed, sealed_len))) {
    api_fail_set(&f, API_ERR_INTERNAL, "out of memory");
    goto fail;
  }
  api_resp_json(r, 200, json_pack("{s:s,s:s,s:b}", "function_id", fn.id, "snapshot_b64", b64,
                                   "signed", 1));
  goto done;
fail:
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
done:
  free(b64);
  free(sealed);
  free(image);
  free(wasm);
  json_decref(doc);
  tw_span_end(span);
}

/* Verifies the image against the module (fully, as the executor will). */
static bool image_verify(const tw_snapshot_envelope *env, api_fail *f) {
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error serr;
  tw_error err;
  bool ok = false;
  tw_snapshot_error_clear(&serr);
  if (tw_engine_new(NULL, &engine, &err) != TW_OK ||
      tw_module_new(engine, env->module, env->module_len, &module, &err) != TW_OK)
    api_fail_set(f, API_ERR_INVALID_WASM, "the snapshot's module does not compile");
  else if (tw_snapshot_open_bytes(env->snapshot, env->snapshot_len, module, &snap, &serr) !=
           TW_OK)
    fail_from_snapshot(f, &serr);
  else
    ok = true;
  tw_snapshot_free(snap);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  return ok;
}

/* {"snapshot_b64", "name"?} -> {"tenant_id", "function_id", "instance_id",
 * "total_uncompressed_bytes", "version"} */
void api_handle_snapshot_restore(api_req *r) {
  tw_api_t *api = r->api;
  tw_span_t *span = tw_span_begin("http.snapshot_restore", TW_API_TARGET, TW_LEVEL_INFO);
  json_t *doc = NULL;
  uint8_t *blob = NULL;
  size_t blob_len = 0;
  tw_snapshot_envelope env;
  tw_function_info fn;
  tw_snapshot_error serr;
  tw_error err;
  api_fail f;
  char path[SNAP_PATH_MAX];
  api_span_tenant(span, r->tenant);
  if (!key_ready(api, &f) || !(doc = body_object(r, &f))) goto fail;
  json_t *b = json_object_get(doc, "snapshot_b64"), *n = json_object_get(doc, "name");
  if (!json_is_string(b) || (n && !json_is_null(n) && !json_is_string(n))) {
    api_fail_set(&f, API_ERR_INVALID_JSON,
                 "\"snapshot_b64\" must be a string (and \"name\", if given)");
    goto fail;
  }
  if (!api_base64_decode(json_string_value(b), json_string_length(b), &blob, &blob_len)) {
    api_fail_set(&f, API_ERR_INVALID_BASE64, "\"snapshot_b64\" is not standard padded base64");
    goto fail;
  }
  /* The MAC first: nothing in the blob is looked at before it passes. */
  if (tw_snapshot_envelope_open(api->snapshot_key, blob, blob_len, r->tenant, &env, &serr) !=
      TW_OK) {
    fail_from_snapshot(&f, &serr);
    goto fail;
  }
  if (env.module_len == 0) {
    api_fail_set(&f, API_ERR_BAD_REQUEST, "the snapshot carries no module");
    goto fail;
  }
  if (!api_module_validate(api, env.module, env.module_len, &f) || !image_verify(&env, &f))
    goto fail;
  const char *name = json_is_string(n) ? json_string_value(n) : "restored";
  tw_error_clear(&err);
  tw_status st = tw_registry_function_put(api->registry, r->tenant, name, env.module,
                                          env.module_len, &fn, &err);
  if (st == TW_ARG) {
    api_fail_set(&f, API_ERR_INVALID_NAME,
                 "the name must be 1 to %d bytes of UTF-8 without control characters",
                 TW_FUNCTION_NAME_MAX);
    goto fail;
  }
  if (st != TW_OK) {
    api_fail_store(&f, st, &err);
    goto fail;
  }
  if (!api->snapshot_dir || !path_of(api, fn.id, ".snap", path, sizeof path) ||
      !write_atomic(path, env.snapshot, env.snapshot_len)) {
    tw_event(TW_LEVEL_ERROR, TW_API_TARGET, "cannot store the restored snapshot of %s", fn.id);
    tw_error_clear(&err);
    if (tw_registry_function_delete(api->registry, fn.id, &err) != TW_OK)
      tw_event(TW_LEVEL_ERROR, TW_API_TARGET, "registry: %s", err.message);
    api_fail_set(&f, API_ERR_INTERNAL, "storage error");
    goto fail;
  }
  tw_counter_inc(api->metrics->functions);
  tw_span_attr_str(span, "function_id", fn.id);
  api_resp_json(r, 200,
                json_pack("{s:o,s:s,s:s,s:I,s:i}", "tenant_id", api_json_u64(r->tenant),
                          "function_id", fn.id, "instance_id", fn.id,
                          "total_uncompressed_bytes",
                          (json_int_t)(env.module_len + env.snapshot_len), "version",
                          ENVELOPE_VERSION));
  goto done;
fail:
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
done:
  free(blob);
  json_decref(doc);
  tw_span_end(span);
}
