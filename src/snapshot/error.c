/* Snapshot error values: kind names and messages from the one X-macro list
 * in snapshot.h, and the engine version every snapshot is tied to. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "snapshot/snapshot_int.h"

/* Set by cmake/snapshot.cmake: the project version.  A snapshot holds
 * guest state only (no compiled code), so it is tied to the release, not
 * to the commit: rebuilding the same release keeps snapshots valid. */
#ifndef TW_SNAPSHOT_ENGINE_VERSION
#error "TW_SNAPSHOT_ENGINE_VERSION must be defined (cmake/snapshot.cmake)"
#endif

const char *tw__snap_engine_version(void) {
  return "tensorwasm/" TW_SNAPSHOT_ENGINE_VERSION;
}

static const char *const kind_names[] = {
#define TW__X(name, kind, status, msg) kind,
    TW_SNAPSHOT_ERROR_LIST(TW__X)
#undef TW__X
};

static const char *const kind_messages[] = {
#define TW__X(name, kind, status, msg) msg,
    TW_SNAPSHOT_ERROR_LIST(TW__X)
#undef TW__X
};

static const tw_status kind_status[] = {
#define TW__X(name, kind, status, msg) status,
    TW_SNAPSHOT_ERROR_LIST(TW__X)
#undef TW__X
};

const char *tw_snapshot_error_kind_name(tw_snapshot_error_kind k) {
  return (unsigned)k < TW_SNAPSHOT_ERR_COUNT ? kind_names[k] : "unknown";
}

const char *tw_snapshot_error_kind_message(tw_snapshot_error_kind k) {
  return (unsigned)k < TW_SNAPSHOT_ERR_COUNT ? kind_messages[k]
                                             : "unknown error";
}

void tw_snapshot_error_clear(tw_snapshot_error *err) {
  if (!err) return;
  err->kind = TW_SNAPSHOT_ERR_NONE;
  tw_error_clear(&err->base);
}

tw_status tw__snap_fail(tw_snapshot_error *err, tw_snapshot_error_kind kind,
                        const char *fmt, ...) {
  tw_status st = kind_status[kind];
  if (!err) return st;
  tw_snapshot_error_clear(err);
  err->kind = kind;
  err->base.status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->base.message, sizeof err->base.message, fmt, ap);
  va_end(ap);
  return st;
}

tw_status tw__snap_fail_engine(tw_snapshot_error *err,
                               tw_snapshot_error_kind kind,
                               const tw_error *cause, const char *what) {
  tw_status st = cause->status == TW_OK ? kind_status[kind] : cause->status;
  if (!err) return st;
  tw_error copy = *cause; /* cause may alias err->base */
  tw_snapshot_error_clear(err);
  err->kind = kind;
  err->base = copy;
  err->base.status = st;
  /* "what: cause", the cause cut short when both do not fit */
  char *m = err->base.message;
  size_t cap = sizeof err->base.message, n = strlen(what);
  if (n > cap - 3) n = cap - 3;
  memcpy(m, what, n);
  memcpy(m + n, ": ", 2);
  size_t rest = strnlen(copy.message, sizeof copy.message);
  if (rest > cap - n - 3) rest = cap - n - 3;
  memcpy(m + n + 2, copy.message, rest);
  m[n + 2 + rest] = 0;
  return st;
}
