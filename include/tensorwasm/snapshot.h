/* TensorWasm snapshots: pre-initialised instance images and copy-on-write
 * warm starts.
 *
 * A snapshot is the state of one instance right after its initialiser ran:
 * its linear memory, its defined globals, its tables (as function
 * indices), which passive segments are dropped, and the device buffers the
 * embedder recorded for it.  docs/SNAPSHOTS.md describes the file format,
 * the guarantees and the trust model.
 *
 * Life cycle (stated once, here):
 *
 *  - Capture, once per module (deploy time): tw_snapshot_capture_file or
 *    _bytes instantiate the module, run its initialiser and write the
 *    image.  Embedders that instantiate themselves use
 *    tw_snapshot_run_initializer and tw_snapshot_write_file / _bytes.
 *  - Open, once per snapshot: tw_snapshot_open_file / _bytes read and
 *    verify everything (sizes, checksum, engine version, module hash) and
 *    build a restore plan, a tw_snapshot_t.  Nothing is re-read or
 *    re-hashed after this.
 *  - Restore, once per warm start: tw_snapshot_instantiate makes an
 *    instance without running initialisation and maps the memory image
 *    copy-on-write (each instance's writes stay private to it), then sets
 *    globals, table entries and dropped segments.
 *
 * Ownership: a tw_snapshot_t is the caller's (tw_snapshot_free).  It is
 * immutable once opened and may be used by many threads at once.  The
 * tw_module_t given to open is borrowed and must outlive the snapshot;
 * every restore instantiates that module.  Buffers the caller passes are
 * borrowed for the call unless said otherwise; buffers returned through
 * `uint8_t **out` are malloc'd and the caller frees them with free().
 *
 * Errors: every fallible call returns tw_status and fills the caller's
 * tw_snapshot_error: `kind` names which check failed (the names are stable
 * and meant for logs and HTTP error kinds), `base` carries the status and
 * a message that says what was wrong and where.  Whenever opening or
 * restoring fails, the caller cold-starts instead (tw_instance_new, then
 * tw_snapshot_run_initializer); a snapshot is only an optimisation.
 *
 * Tracing (target "tensor-wasm-snapshot"): each restore is a span
 * `SnapshotReader::restore` {input_len: the snapshot's size in bytes},
 * a child of the caller's current span (the executor's spawn_instance);
 * restoring device buffers adds `restore_to_gpu` {input_len: bytes for
 * that device, device_index} per device.  Metrics:
 * tensor_wasm_snapshot_capture_seconds (writing an image),
 * tensor_wasm_snapshot_restore_seconds (each successful restore) and
 * tensor_wasm_snapshot_disk_round_trip_seconds (writing a file and reading
 * it back to verify it); each histogram's _count is the operation count. */
#ifndef TENSORWASM_SNAPSHOT_H
#define TENSORWASM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_snapshot tw_snapshot_t;

/* Span names and target: public contract (seed span schema). */
#define TW_SNAPSHOT_TARGET "tensor-wasm-snapshot"
#define TW_SNAPSHOT_SPAN_RESTORE "SnapshotReader::restore"
#define TW_SNAPSHOT_SPAN_RESTORE_GPU "restore_to_gpu"

/* The signing key of the HTTP envelope: 32 bytes as 64 hex characters. */
#define TW_SNAPSHOT_HMAC_KEY_ENV "TENSOR_WASM_API_SNAPSHOT_HMAC_KEY"
#define TW_SNAPSHOT_KEY_BYTES 32

/* Initialisers looked for, in order, when none is named. */
#define TW_SNAPSHOT_INIT_WIZER "wizer.initialize"
#define TW_SNAPSHOT_INIT_REACTOR "_initialize"

/* ---- errors --------------------------------------------------------------- */

/* X(NAME, kind string, status, message). */
#define TW_SNAPSHOT_ERROR_LIST(X)                                            \
  X(NONE, "ok", TW_OK, "ok")                                                 \
  X(ARG, "snapshot_invalid_argument", TW_ARG, "invalid argument")            \
  X(NOMEM, "snapshot_out_of_memory", TW_NOMEM, "out of memory")              \
  X(IO, "snapshot_io", TW_IO, "cannot read or write the snapshot")           \
  X(TRUNCATED, "snapshot_truncated", TW_MALFORMED, "snapshot is truncated")  \
  X(BAD_MAGIC, "snapshot_bad_magic", TW_MALFORMED, "not a snapshot")         \
  X(VERSION, "snapshot_version", TW_UNSUPPORTED,                             \
    "unsupported snapshot format version")                                   \
  X(CHECKSUM, "snapshot_checksum", TW_MALFORMED,                             \
    "snapshot checksum mismatch")                                            \
  X(ENGINE_VERSION, "snapshot_engine_version", TW_UNSUPPORTED,               \
    "snapshot made by another engine version")                               \
  X(MODULE_MISMATCH, "snapshot_module_mismatch", TW_INVALID,                 \
    "snapshot belongs to another module")                                    \
  X(LAYOUT, "snapshot_layout", TW_MALFORMED,                                 \
    "snapshot sizes or offsets are invalid")                                 \
  X(UNALIGNED, "snapshot_unaligned", TW_MALFORMED,                           \
    "memory image is not page-aligned")                                      \
  X(INCOMPATIBLE, "snapshot_incompatible", TW_INVALID,                       \
    "snapshot does not fit the module's instance")                           \
  X(UNSUPPORTED, "snapshot_unsupported", TW_UNSUPPORTED,                     \
    "instance state cannot be captured")                                     \
  X(NO_INITIALIZER, "snapshot_no_initializer", TW_NOT_FOUND,                 \
    "initialiser export not found")                                          \
  X(INIT_FAILED, "snapshot_init_failed", TW_TRAP, "initialiser failed")      \
  X(ENGINE, "snapshot_engine", TW_UNLINKABLE, "engine refused the instance") \
  X(NO_GPU, "snapshot_no_gpu", TW_UNSUPPORTED,                               \
    "device buffers cannot be restored without a GPU")                       \
  X(GPU_FAILED, "snapshot_gpu_failed", TW_IO,                                \
    "restoring a device buffer failed")                                      \
  X(SIGNING_NOT_CONFIGURED, "snapshot_signing_not_configured",               \
    TW_UNSUPPORTED, "snapshot signing key is not configured")                \
  X(KEY_INVALID, "snapshot_key_invalid", TW_ARG,                             \
    "snapshot signing key is not 64 hex characters")                         \
  X(SIGNATURE_INVALID, "snapshot_signature_invalid", TW_MALFORMED,           \
    "snapshot signature is invalid")                                         \
  X(TENANT_MISMATCH, "tenant_scope_denied", TW_ARG,                          \
    "snapshot belongs to another tenant")

typedef enum tw_snapshot_error_kind {
#define TW__X(name, kind, status, msg) TW_SNAPSHOT_ERR_##name,
  TW_SNAPSHOT_ERROR_LIST(TW__X)
#undef TW__X
  TW_SNAPSHOT_ERR_COUNT
} tw_snapshot_error_kind;

/* A plain value the caller owns (NULL accepted: status only).  `base`
 * holds the status of `kind` (or, for ENGINE, NOMEM and INIT_FAILED, the
 * engine's own status, trap code and backtrace) and the message. */
typedef struct tw_snapshot_error {
  tw_snapshot_error_kind kind;
  tw_error base;
} tw_snapshot_error;

const char *tw_snapshot_error_kind_name(tw_snapshot_error_kind k);
const char *tw_snapshot_error_kind_message(tw_snapshot_error_kind k);
void tw_snapshot_error_clear(tw_snapshot_error *err);

/* ---- device buffers ------------------------------------------------------- */

/* One device buffer of an instance, as wasi:cuda names it to the guest.
 * In capture options the data is borrowed for the call; returned by a
 * snapshot it is borrowed from the snapshot. */
typedef struct tw_snapshot_device_buffer {
  uint32_t device_index; /* CUDA device ordinal */
  uint64_t handle;       /* the guest-visible buffer handle */
  const uint8_t *data;   /* the buffer's bytes (downloaded by the embedder) */
  uint64_t len;
} tw_snapshot_device_buffer;

/* The GPU side of a restore, supplied by whoever owns the instance's
 * wasi:cuda context.  `restore_buffer` recreates one buffer for `inst`
 * (allocate, upload, bind the handle); any status but TW_OK fails the
 * restore.  `ctx` is borrowed for the restore call. */
typedef struct tw_snapshot_gpu {
  tw_status (*restore_buffer)(void *ctx, tw_instance_t *inst,
                              const tw_snapshot_device_buffer *buf,
                              tw_error *err);
  void *ctx;
} tw_snapshot_gpu;

/* ---- capture -------------------------------------------------------------- */

typedef struct tw_snapshot_capture_options {
  /* capture_*: the export to run as the initialiser; NULL: the default
   * rule (tw_snapshot_run_initializer).  write_*: the export that was run,
   * recorded in the snapshot; NULL: none. */
  const char *init_name;
  /* Device buffers to record (wasi:cuda's; none when NULL/0). */
  const tw_snapshot_device_buffer *device_buffers;
  size_t ndevice_buffers;
} tw_snapshot_capture_options;

/* Runs the initialiser of `inst` (in `store`): `name` if given (it must be
 * an exported function without parameters or results: NO_INITIALIZER /
 * ARG), else `wizer.initialize`, else `_initialize` (WASI reactors), else
 * nothing.  *chosen (optional output) gets the export run, borrowed from
 * the caller or static, NULL when none ran.  INIT_FAILED (base: the trap)
 * when it traps. */
tw_status tw_snapshot_run_initializer(tw_store_t *store, tw_instance_t *inst,
                                      const char *name, const char **chosen,
                                      tw_snapshot_error *err);

/* Writes the state of `inst` (an instance of `store`, initialised and not
 * yet used otherwise) to `path`, atomically: a temporary file in the same
 * directory, fsync, rename.  `opt` NULL: no initialiser recorded, no
 * device buffers.  UNSUPPORTED (nothing written) when the state lives
 * outside the instance: an imported memory, table or global, a
 * table or global holding a host or imported function or a non-null
 * externref, or a table the initialiser grew.  The file is then read back
 * and verified; *opened (optional) gets it as an open snapshot bound to
 * the instance's module. */
tw_status tw_snapshot_write_file(tw_store_t *store, tw_instance_t *inst,
                                 const tw_snapshot_capture_options *opt,
                                 const char *path, tw_snapshot_t **opened,
                                 tw_snapshot_error *err);
/* The same into memory: *out (malloc'd) and *len. */
tw_status tw_snapshot_write_bytes(tw_store_t *store, tw_instance_t *inst,
                                  const tw_snapshot_capture_options *opt,
                                  uint8_t **out, size_t *len,
                                  tw_snapshot_error *err);

/* Instantiate `module` in `store` with `imports` (borrowed; one per
 * import, as tw_instance_new), run the initialiser (opt->init_name or the
 * default rule), then write_file / write_bytes.  The instance stays in the
 * store (freed with it).  ENGINE when instantiation fails. */
tw_status tw_snapshot_capture_file(tw_store_t *store, tw_module_t *module,
                                   const tw_extern *imports, size_t nimports,
                                   const tw_snapshot_capture_options *opt,
                                   const char *path, tw_snapshot_t **opened,
                                   tw_snapshot_error *err);
tw_status tw_snapshot_capture_bytes(tw_store_t *store, tw_module_t *module,
                                    const tw_extern *imports, size_t nimports,
                                    const tw_snapshot_capture_options *opt,
                                    uint8_t **out, size_t *len,
                                    tw_snapshot_error *err);

/* ---- open and restore ----------------------------------------------------- */

/* Reads, verifies and plans the snapshot at `path` for `module` (borrowed;
 * must outlive the snapshot).  Checks, in order: length (TRUNCATED), magic
 * (BAD_MAGIC), format version (VERSION), declared size (TRUNCATED /
 * LAYOUT), SHA-256 checksum (CHECKSUM), engine version (ENGINE_VERSION),
 * module hash (MODULE_MISMATCH), every count, offset and size
 * (LAYOUT), the memory image's alignment (UNALIGNED).  The file is kept
 * open; its memory image is mapped from it by each restore, so it must not
 * be changed in place while open (replacing it by rename is safe).
 * *out is the caller's. */
tw_status tw_snapshot_open_file(const char *path, tw_module_t *module,
                                tw_snapshot_t **out, tw_snapshot_error *err);
/* The same for bytes in memory (borrowed for the call: the memory image
 * is copied into a sealed anonymous file, the rest into the plan). */
tw_status tw_snapshot_open_bytes(const uint8_t *bytes, size_t len,
                                 tw_module_t *module, tw_snapshot_t **out,
                                 tw_snapshot_error *err);
/* NULL is accepted.  Instances restored from it stay valid. */
void tw_snapshot_free(tw_snapshot_t *snap);

typedef struct tw_snapshot_restore_options {
  /* NULL: no GPU here; a snapshot with device buffers then fails with
   * NO_GPU (after its restore_to_gpu span records why). */
  const tw_snapshot_gpu *gpu;
} tw_snapshot_restore_options;

/* A warm start: instantiates the snapshot's module in `store` with
 * `imports` (borrowed, as tw_instance_new) without data or element
 * initialisation or the start function, maps the memory image
 * copy-on-write, and restores globals, table entries, dropped segments and
 * device buffers.  The first restore of a snapshot also checks that its
 * globals, tables and segments fit the instance (INCOMPATIBLE otherwise);
 * later ones skip that.  `opt` NULL: no GPU.  *out is owned by the store.
 * On failure the store may hold a half-restored instance that nothing
 * reaches (freed with the store); a cold start in the same store is fine. */
tw_status tw_snapshot_instantiate(const tw_snapshot_t *snap, tw_store_t *store,
                                  const tw_extern *imports, size_t nimports,
                                  const tw_snapshot_restore_options *opt,
                                  tw_instance_t **out, tw_snapshot_error *err);

/* Warm start from `snap` when one is given and it restores, else a cold
 * start (tw_instance_new, then the initialiser) so the instance is in the
 * same state either way.  *warm (optional) says which happened; `why`
 * (optional) gets the reason a snapshot was not used.  Errors of the cold
 * start (a trap in the initialiser) come back in `err`. */
tw_status tw_snapshot_instantiate_or_cold(const tw_snapshot_t *snap,
                                          tw_store_t *store,
                                          tw_module_t *module,
                                          const tw_extern *imports,
                                          size_t nimports,
                                          tw_instance_t **out, bool *warm,
                                          tw_snapshot_error *why,
                                          tw_error *err);

/* What an open snapshot holds. */
tw_module_t *tw_snapshot_module(const tw_snapshot_t *snap);
uint64_t tw_snapshot_input_len(const tw_snapshot_t *snap); /* bytes */
uint32_t tw_snapshot_memory_pages(const tw_snapshot_t *snap);
/* The initialiser recorded at capture; "" when none.  Borrowed. */
const char *tw_snapshot_initializer(const tw_snapshot_t *snap);
uint64_t tw_snapshot_created_unix_ms(const tw_snapshot_t *snap);
size_t tw_snapshot_device_buffer_count(const tw_snapshot_t *snap);
/* Borrowed from the snapshot; NULL when i is out of range. */
const tw_snapshot_device_buffer *tw_snapshot_device_buffer_at(
    const tw_snapshot_t *snap, size_t i);

/* ---- the signed envelope (export / import over HTTP) ---------------------- */

/* What travels between machines: a snapshot, optionally the module it
 * belongs to, and the tenant it belongs to, under one HMAC-SHA256. */
typedef struct tw_snapshot_envelope {
  uint64_t tenant_id;
  const uint8_t *module;   /* may be NULL with module_len 0 */
  size_t module_len;
  const uint8_t *snapshot;
  size_t snapshot_len;
} tw_snapshot_envelope;

/* Reads $TENSOR_WASM_API_SNAPSHOT_HMAC_KEY into key: unset or empty:
 * SIGNING_NOT_CONFIGURED (the API's 503 snapshot_signing_not_configured);
 * not exactly 64 hex characters: KEY_INVALID. */
tw_status tw_snapshot_key_from_env(uint8_t key[TW_SNAPSHOT_KEY_BYTES],
                                   tw_snapshot_error *err);
/* The same for a string of `len` characters (borrowed). */
tw_status tw_snapshot_key_parse(const char *hex, size_t len,
                                uint8_t key[TW_SNAPSHOT_KEY_BYTES],
                                tw_snapshot_error *err);

/* Signs `in` (its buffers borrowed for the call) with `key` (32 bytes;
 * NULL: SIGNING_NOT_CONFIGURED) into *out (malloc'd) and *len. */
tw_status tw_snapshot_envelope_seal(const uint8_t *key,
                                    const tw_snapshot_envelope *in,
                                    uint8_t **out, size_t *len,
                                    tw_snapshot_error *err);
/* Verifies the signature over all of `bytes` in constant time before
 * looking at anything else (SIGNATURE_INVALID for a wrong key, a changed
 * byte, a short or malformed envelope alike), then parses it and refuses
 * another tenant's (TENANT_MISMATCH).  key NULL: SIGNING_NOT_CONFIGURED.
 * out's pointers borrow from `bytes`.  The snapshot inside is verified
 * again, fully, when opened. */
tw_status tw_snapshot_envelope_open(const uint8_t *key, const uint8_t *bytes,
                                    size_t len, uint64_t tenant_id,
                                    tw_snapshot_envelope *out,
                                    tw_snapshot_error *err);

#ifdef __cplusplus
}
#endif
#endif
