/* Internal interface of the store module, shared only inside src/store.
 *
 * registry.c is the front: it checks and normalises arguments (names,
 * UUIDs to lowercase, JSON text), makes ids, hashes and timestamps, and
 * then calls the backend through the vtable below.  So every backend gets
 * arguments that are already valid and values that are already decided,
 * and only has to store and fetch them atomically.  A backend implements
 * each operation with the semantics the public header states (including
 * which status each failure returns); nothing else about it leaks out. */
#ifndef TW_STORE_INT_H
#define TW_STORE_INT_H

#include <stdarg.h>

#include "tensorwasm/registry.h"

typedef struct tw__registry_ops {
  const char *name;
  void (*close)(tw_registry_t *reg);

  /* `info` is complete (id, sha256, size, created): store it and `wasm`. */
  tw_status (*function_put)(tw_registry_t *reg, const tw_function_info *info,
                            const uint8_t *wasm, tw_error *err);
  tw_status (*function_get)(tw_registry_t *reg, const char *id,
                            tw_function_info *out, tw_error *err);
  tw_status (*function_bytes)(tw_registry_t *reg, const char *id,
                              uint8_t **bytes, size_t *len, tw_error *err);
  tw_status (*function_list)(tw_registry_t *reg, uint64_t tenant,
                             const char *cursor, tw_function_info *items,
                             size_t cap, size_t *count, char *next_cursor,
                             tw_error *err);
  tw_status (*function_delete)(tw_registry_t *reg, const char *id,
                               tw_error *err);

  /* spec is complete: args_json set, created_unix_ms set, ids lowercase. */
  tw_status (*job_enqueue)(tw_registry_t *reg, const tw_job_spec *spec,
                           tw_error *err);
  tw_status (*job_claim)(tw_registry_t *reg, int64_t now_ms, tw_job *out,
                         bool *claimed, tw_error *err);
  /* Moves a job in one of `from` (a bit set of 1u << tw_job_status) to
   * `to` (COMPLETED with text = result, or FAILED with text = reason). */
  tw_status (*job_finish)(tw_registry_t *reg, const char *id, unsigned from,
                          tw_job_status to, const char *text, int64_t now_ms,
                          tw_error *err);
  tw_status (*job_get)(tw_registry_t *reg, const char *id, tw_job *out,
                       tw_error *err);
  tw_status (*recover)(tw_registry_t *reg, int64_t now_ms, uint64_t *count,
                       tw_error *err);
  /* Deletes finished jobs that finished before `older_than` (when
   * use_age), then all but the `keep` newest (when keep_all is false). */
  tw_status (*job_prune)(tw_registry_t *reg, bool use_age, int64_t older_than,
                         bool keep_all, uint64_t keep, uint64_t *deleted,
                         tw_error *err);
  tw_status (*job_outstanding)(tw_registry_t *reg, uint64_t *count,
                               tw_error *err);
} tw__registry_ops;

/* Every backend's registry struct begins with this one. */
struct tw_registry {
  const tw__registry_ops *ops;
  tw_registry_options opt;
};

/* The SQLite backend.  data_dir exists; opt is complete. */
tw_status tw__sqlite_registry_open(const char *data_dir,
                                   const tw_registry_options *opt,
                                   tw_registry_t **out, tw_error *err);

/* Sets err (may be NULL) to `status` with a printf-style message and
 * returns status.  Uses only error.h's public fields, so the store does not
 * depend on any other module's private headers. */
tw_status tw__registry_error(tw_error *err, tw_status status, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* Lowercase hex SHA-256 of data[0..len). */
tw_status tw__registry_sha256_hex(const uint8_t *data, size_t len,
                                  char out[TW_SHA256_HEX_LEN + 1],
                                  tw_error *err);

/* Milliseconds since the Unix epoch (wall clock). */
int64_t tw__registry_now_ms(void);

/* Duplicates n bytes into a new NUL-terminated heap string (NULL on OOM). */
char *tw__registry_strndup(const char *s, size_t n);

#endif
