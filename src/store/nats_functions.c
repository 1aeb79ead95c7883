/* NATS JetStream backend of the registry: functions and module bytes.
 *
 * A function is written as: a reference "r.<sha>.<id>" in P_MODULES, the
 * bytes (chunks, then the manifest that says they are complete) unless the
 * manifest is already there, the record "fn.<id>", and last the tenant
 * index entry.  So a function that get can see always has its bytes, and
 * bytes are uploaded once per distinct SHA-256 however many functions use
 * them.  Several keys are not one transaction: when a step fails the steps
 * before it are undone as far as the server lets us (see CLUSTER.md).
 *
 * Module bytes are freed with the last reference.  References are counted
 * by the server (subjects present in the bucket's stream) and removed by
 * purge, which leaves no marker, so the count is exact.  Known window: a
 * deploy of the very same bytes racing the delete of their last user can
 * find the bytes gone; function_bytes then says so (TW_IO) and a redeploy
 * restores them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/nats_int.h"

/* ---- records ------------------------------------------------------------ */

/* Tenants are u64; JSON numbers are not exact beyond 2^53, so text. */
static char *info_encode(const tw_function_info *f) {
  char tenant[24];
  snprintf(tenant, sizeof tenant, "%" PRIu64, f->tenant);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", f->id,
                        "tenant", tenant, "name", f->name, "sha256", f->sha256,
                        "size", (json_int_t)f->size, "created",
                        (json_int_t)f->created_unix_ms);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

static bool info_decode(const void *data, int len, tw_function_info *out) {
  json_t *o = json_loadb(data, (size_t)(len > 0 ? len : 0), 0, NULL);
  const char *id = NULL, *tenant = NULL, *name = NULL, *sha = NULL;
  json_int_t size = 0, created = 0;
  bool ok = o && json_unpack(o, "{s:s, s:s, s:s, s:s, s:I, s:I}", "id", &id,
                             "tenant", &tenant, "name", &name, "sha256", &sha,
                             "size", &size, "created", &created) == 0;
  if (ok) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    out->tenant = strtoull(tenant, NULL, 10);
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->sha256, sizeof out->sha256, "%s", sha);
    out->size = (uint64_t)size;
    out->created_unix_ms = created;
  }
  json_decref(o);
  return ok;
}

static void index_key(char *out, size_t cap, const tw_function_info *f) {
  snprintf(out, cap, "t.%016" PRIx64 ".%016" PRIx64 ".%s", f->tenant,
           (uint64_t)f->created_unix_ms, f->id);
}

/* "$KV.<bucket>.<key>": the subject a key is stored under. */
static void kv_subject(char *out, size_t cap, const char *bucket,
                       const char *key) {
  snprintf(out, cap, "$KV.%s.%s", bucket, key);
}

static void kv_stream(char *out, size_t cap, const char *bucket) {
  snprintf(out, cap, "KV_%s", bucket);
}

/* Reads function `id`'s record; TW_NOT_FOUND when there is none. */
static tw_status read_info(tw__nats_registry *n, const char *id,
                           tw_function_info *out, tw_error *err) {
  char key[TW_NATS_KEY_MAX];
  kvEntry *e = NULL;
  snprintf(key, sizeof key, "fn.%s", id);
  natsStatus s = kvStore_Get(&e, n->functions, key);
  if (s == NATS_NOT_FOUND)
    return tw__registry_error(err, TW_NOT_FOUND, "function %s not found", id);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading function", err);
  tw_status st = TW_OK;
  if (!info_decode(kvEntry_Value(e), kvEntry_ValueLen(e), out))
    st = tw__registry_error(err, TW_IO,
                            "function record %s in bucket %s is damaged", id,
                            n->b_functions);
  kvEntry_Destroy(e);
  return st;
}

/* ---- module bytes ------------------------------------------------------- */

static tw_status upload_bytes(tw__nats_registry *n, const tw_function_info *f,
                              const uint8_t *wasm, tw_error *err) {
  char key[TW_NATS_KEY_MAX], manifest[64];
  uint64_t chunks = (f->size + TW_NATS_CHUNK - 1) / TW_NATS_CHUNK;
  for (uint64_t i = 0; i < chunks; i++) {
    uint64_t off = i * TW_NATS_CHUNK;
    uint64_t len = f->size - off < TW_NATS_CHUNK ? f->size - off : TW_NATS_CHUNK;
    snprintf(key, sizeof key, "c.%s.%" PRIu64, f->sha256, i);
    natsStatus s = kvStore_Put(NULL, n->modules, key, wasm + off, (int)len);
    if (s != NATS_OK)
      return tw__nats_fail(n, s, "storing module bytes", err);
  }
  /* Written last: its presence says every chunk is there. */
  snprintf(key, sizeof key, "m.%s", f->sha256);
  snprintf(manifest, sizeof manifest, "%" PRIu64 " %" PRIu64, f->size, chunks);
  natsStatus s = kvStore_PutString(NULL, n->modules, key, manifest);
  return s == NATS_OK ? TW_OK
                      : tw__nats_fail(n, s, "storing module manifest", err);
}

static tw_status ensure_bytes(tw__nats_registry *n, const tw_function_info *f,
                              const uint8_t *wasm, tw_error *err) {
  char key[TW_NATS_KEY_MAX];
  kvEntry *e = NULL;
  snprintf(key, sizeof key, "m.%s", f->sha256);
  natsStatus s = kvStore_Get(&e, n->modules, key);
  kvEntry_Destroy(e);
  if (s == NATS_OK)
    return TW_OK; /* stored once already */
  if (s != NATS_NOT_FOUND)
    return tw__nats_fail(n, s, "reading module manifest", err);
  return upload_bytes(n, f, wasm, err);
}

static tw_status drop_ref(tw__nats_registry *n, const char *sha,
                          const char *id, tw_error *err) {
  char stream[TW_NATS_NAME_MAX + 4], key[TW_NATS_KEY_MAX],
      subj[TW_NATS_SUBJ_MAX];
  kv_stream(stream, sizeof stream, n->b_modules);
  snprintf(key, sizeof key, "r.%s.%s", sha, id);
  kv_subject(subj, sizeof subj, n->b_modules, key);
  return tw__nats_purge_subject(n, stream, subj, err);
}

/* Frees the bytes of `sha` when no reference to them is left. */
static tw_status collect_bytes(tw__nats_registry *n, const char *sha,
                               tw_error *err) {
  char stream[TW_NATS_NAME_MAX + 4], key[TW_NATS_KEY_MAX],
      subj[TW_NATS_SUBJ_MAX];
  kv_stream(stream, sizeof stream, n->b_modules);
  snprintf(key, sizeof key, "r.%s.*", sha);
  kv_subject(subj, sizeof subj, n->b_modules, key);
  jsOptions o;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = subj;
  natsStatus s = js_GetStreamInfo(&si, n->js, stream, &o, &jerr);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "counting module references", err);
  bool used = si->State.Subjects && si->State.Subjects->Count > 0;
  jsStreamInfo_Destroy(si);
  if (used)
    return TW_OK;
  /* Manifest first: a reader never sees a manifest without its chunks. */
  snprintf(key, sizeof key, "m.%s", sha);
  kv_subject(subj, sizeof subj, n->b_modules, key);
  tw_status st = tw__nats_purge_subject(n, stream, subj, err);
  if (st != TW_OK)
    return st;
  snprintf(key, sizeof key, "c.%s.*", sha);
  kv_subject(subj, sizeof subj, n->b_modules, key);
  return tw__nats_purge_subject(n, stream, subj, err);
}

/* ---- operations --------------------------------------------------------- */

tw_status tw__nt_function_put(tw_registry_t *reg, const tw_function_info *info,
                              const uint8_t *wasm, tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  char key[TW_NATS_KEY_MAX];
  char *text = NULL;
  bool ref = false, record = false;
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  if (!(text = info_encode(info))) {
    st = tw__registry_error(err, TW_NOMEM, "out of memory");
    goto fail;
  }
  /* The reference goes first, so a concurrent delete of another user of
   * the same bytes sees it and keeps them. */
  snprintf(key, sizeof key, "r.%s.%s", info->sha256, info->id);
  natsStatus s = kvStore_PutString(NULL, n->modules, key, "1");
  if (s != NATS_OK) {
    st = tw__nats_fail(n, s, "storing module reference", err);
    goto fail;
  }
  ref = true;
  if ((st = ensure_bytes(n, info, wasm, err)) != TW_OK)
    goto fail;
  snprintf(key, sizeof key, "fn.%s", info->id);
  if ((s = kvStore_CreateString(NULL, n->functions, key, text)) != NATS_OK) {
    st = tw__nats_fail(n, s, "storing function", err);
    goto fail;
  }
  record = true;
  index_key(key, sizeof key, info);
  if ((s = kvStore_PutString(NULL, n->functions, key, text)) != NATS_OK) {
    st = tw__nats_fail(n, s, "storing function index", err);
    goto fail;
  }
  free(text);
  return TW_OK;
fail:
  /* Best effort: the server may be the reason we are here. */
  if (record) {
    snprintf(key, sizeof key, "fn.%s", info->id);
    kvStore_Delete(n->functions, key);
  }
  if (ref && drop_ref(n, info->sha256, info->id, NULL) == TW_OK)
    collect_bytes(n, info->sha256, NULL);
  free(text);
  return st;
}

tw_status tw__nt_function_get(tw_registry_t *reg, const char *id,
                              tw_function_info *out, tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_status st = tw__nats_ready(n, err);
  return st != TW_OK ? st : read_info(n, id, out, err);
}

/* Reads the manifest "<size> <chunks>" of `sha`. */
static tw_status read_manifest(tw__nats_registry *n, const char *id,
                               const char *sha, uint64_t *size,
                               uint64_t *chunks, tw_error *err) {
  char key[TW_NATS_KEY_MAX], text[64];
  kvEntry *e = NULL;
  snprintf(key, sizeof key, "m.%s", sha);
  natsStatus s = kvStore_Get(&e, n->modules, key);
  if (s == NATS_NOT_FOUND)
    return tw__registry_error(err, TW_IO,
                              "module bytes of function %s are missing from "
                              "bucket %s; deploy it again",
                              id, n->b_modules);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading module manifest", err);
  int len = kvEntry_ValueLen(e);
  snprintf(text, sizeof text, "%.*s", len > 63 ? 63 : len,
           (const char *)kvEntry_Value(e));
  kvEntry_Destroy(e);
  if (sscanf(text, "%" SCNu64 " %" SCNu64, size, chunks) != 2 ||
      *chunks != (*size + TW_NATS_CHUNK - 1) / TW_NATS_CHUNK)
    return tw__registry_error(err, TW_IO, "module manifest of %s is damaged",
                              sha);
  return TW_OK;
}

static tw_status read_chunks(tw__nats_registry *n, const char *sha,
                             uint64_t size, uint64_t chunks, uint8_t *buf,
                             tw_error *err) {
  char key[TW_NATS_KEY_MAX];
  for (uint64_t i = 0; i < chunks; i++) {
    kvEntry *e = NULL;
    snprintf(key, sizeof key, "c.%s.%" PRIu64, sha, i);
    natsStatus s = kvStore_Get(&e, n->modules, key);
    if (s == NATS_NOT_FOUND)
      return tw__registry_error(err, TW_IO, "module bytes of %s are missing",
                                sha);
    if (s != NATS_OK)
      return tw__nats_fail(n, s, "reading module bytes", err);
    uint64_t off = i * TW_NATS_CHUNK;
    uint64_t want = size - off < TW_NATS_CHUNK ? size - off : TW_NATS_CHUNK;
    bool fits = (uint64_t)kvEntry_ValueLen(e) == want;
    if (fits)
      memcpy(buf + off, kvEntry_Value(e), want);
    kvEntry_Destroy(e);
    if (!fits)
      return tw__registry_error(err, TW_IO,
                                "module bytes of %s are corrupt (chunk size)",
                                sha);
  }
  return TW_OK;
}

tw_status tw__nt_function_bytes(tw_registry_t *reg, const char *id,
                                uint8_t **bytes, size_t *len, tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_function_info f;
  uint64_t size = 0, chunks = 0;
  uint8_t *buf = NULL;
  char got[TW_SHA256_HEX_LEN + 1];
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  if ((st = read_info(n, id, &f, err)) != TW_OK)
    return st;
  if ((st = read_manifest(n, id, f.sha256, &size, &chunks, err)) != TW_OK)
    return st;
  if (size != f.size || size == 0 || size > SIZE_MAX)
    return tw__registry_error(err, TW_IO,
                              "module bytes of function %s are corrupt (size)",
                              id);
  if (!(buf = malloc((size_t)size)))
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  if ((st = read_chunks(n, f.sha256, size, chunks, buf, err)) != TW_OK)
    goto fail;
  /* Damaged bytes are never handed to the engine. */
  if ((st = tw__registry_sha256_hex(buf, (size_t)size, got, err)) != TW_OK)
    goto fail;
  if (strcmp(got, f.sha256) != 0) {
    st = tw__registry_error(err, TW_IO,
                            "module bytes of function %s are corrupt "
                            "(SHA-256 mismatch)",
                            id);
    goto fail;
  }
  *bytes = buf;
  *len = (size_t)size;
  return TW_OK;
fail:
  free(buf);
  return st;
}

/* ---- listing ------------------------------------------------------------ */

typedef struct listed {
  char key[TW_NATS_KEY_MAX];
  tw_function_info info;
} listed;

static int listed_cmp(const void *a, const void *b) {
  return strcmp(((const listed *)a)->key, ((const listed *)b)->key);
}

/* Every live index entry of `tenant`, sorted by key, i.e. (created, id). */
static tw_status collect_tenant(tw__nats_registry *n, uint64_t tenant,
                                listed **out, size_t *count, tw_error *err) {
  char filter[64];
  kvWatcher *w = NULL;
  kvWatchOptions wo;
  listed *all = NULL;
  size_t len = 0, cap = 0;
  snprintf(filter, sizeof filter, "t.%016" PRIx64 ".>", tenant);
  kvWatchOptions_Init(&wo);
  wo.IgnoreDeletes = true;
  natsStatus s = kvStore_Watch(&w, n->functions, filter, &wo);
  tw_status st = TW_OK;
  if (s != NATS_OK) {
    st = tw__nats_fail(n, s, "listing functions", err);
    goto done;
  }
  /* The watcher hands out the current entries, then NULL. */
  for (;;) {
    kvEntry *e = NULL;
    s = kvWatcher_Next(&e, w, n->base.opt.nats_timeout_ms);
    if (s != NATS_OK) {
      st = tw__nats_fail(n, s, "listing functions", err);
      goto done;
    }
    if (!e)
      break;
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      listed *p = realloc(all, ncap * sizeof *p);
      if (!p) {
        kvEntry_Destroy(e);
        st = tw__registry_error(err, TW_NOMEM, "out of memory");
        goto done;
      }
      all = p;
      cap = ncap;
    }
    snprintf(all[len].key, sizeof all[len].key, "%s", kvEntry_Key(e));
    bool ok = info_decode(kvEntry_Value(e), kvEntry_ValueLen(e),
                          &all[len].info);
    kvEntry_Destroy(e);
    if (ok)
      len++;
  }
  if (len > 1)
    qsort(all, len, sizeof *all, listed_cmp);
done:
  kvWatcher_Destroy(w);
  if (st != TW_OK) {
    free(all);
    return st;
  }
  *out = all;
  *count = len;
  return TW_OK;
}

/* Cursor text: "<created_unix_ms>.<id>" of the last item of a page, as
 * the SQLite backend writes it; here it becomes the key suffix to skip to. */
static bool cursor_suffix(const char *cursor, char *out, size_t cap) {
  char *end = NULL;
  long long c = strtoll(cursor, &end, 10);
  if (end == cursor || *end != '.' || strlen(end + 1) != TW_UUID_LEN ||
      strspn(end + 1, "0123456789abcdef-") != TW_UUID_LEN)
    return false;
  snprintf(out, cap, "%016" PRIx64 ".%s", (uint64_t)c, end + 1);
  return true;
}

tw_status tw__nt_function_list(tw_registry_t *reg, uint64_t tenant,
                               const char *cursor, tw_function_info *items,
                               size_t cap, size_t *count, char *next_cursor,
                               tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  char after[TW_NATS_KEY_MAX] = "";
  listed *all = NULL;
  size_t total = 0, i = 0, got = 0;
  if (cursor && !cursor_suffix(cursor, after, sizeof after))
    return tw__registry_error(err, TW_ARG, "list cursor is malformed");
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  if ((st = collect_tenant(n, tenant, &all, &total, err)) != TW_OK)
    return st;
  /* Keys are "t.<16 hex>.<suffix>": compare from the suffix on. */
  const size_t skip = 2 + 16 + 1;
  if (cursor)
    while (i < total && strcmp(all[i].key + skip, after) <= 0)
      i++;
  for (; i < total && got < cap; i++)
    items[got++] = all[i].info;
  next_cursor[0] = '\0';
  if (i < total)
    snprintf(next_cursor, TW_REGISTRY_CURSOR_MAX, "%" PRId64 ".%s",
             items[got - 1].created_unix_ms, items[got - 1].id);
  *count = got;
  free(all);
  return TW_OK;
}

tw_status tw__nt_function_delete(tw_registry_t *reg, const char *id,
                                 tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_function_info f;
  char key[TW_NATS_KEY_MAX];
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  if ((st = read_info(n, id, &f, err)) != TW_OK)
    return st;
  /* The record first: once it is gone the function is gone for every
   * node; the rest is cleanup that a retry cannot reach, so it goes on
   * even when one step fails, and the first failure is reported. */
  snprintf(key, sizeof key, "fn.%s", id);
  natsStatus s = kvStore_Delete(n->functions, key);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "deleting function", err);
  index_key(key, sizeof key, &f);
  s = kvStore_Delete(n->functions, key);
  if (s != NATS_OK)
    st = tw__nats_fail(n, s, "deleting function index", err);
  tw_status st2 = drop_ref(n, f.sha256, id, st == TW_OK ? err : NULL);
  if (st2 == TW_OK)
    st2 = collect_bytes(n, f.sha256, st == TW_OK ? err : NULL);
  return st != TW_OK ? st : st2;
}
