/* Error values: names and messages of statuses and traps, and the helpers
 * that fill a caller's tw_error.
 *
 * Nothing here allocates: an error must be reportable when memory is
 * exhausted.  Every helper accepts err == NULL ("status only") and returns
 * the status it recorded, so callers can write `return tw__error_set(...)`.
 * The names and messages come from the X-macro lists in error.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tensorwasm/error.h"
#include "wasm/wasm_int.h"

static const char *const status_names[] = {
#define TW__X(name, msg) #name,
    TW_STATUS_LIST(TW__X)
#undef TW__X
};

static const char *const status_messages[] = {
#define TW__X(name, msg) msg,
    TW_STATUS_LIST(TW__X)
#undef TW__X
};

static const char *const trap_messages[] = {
#define TW__X(name, msg) msg,
    TW_TRAP_LIST(TW__X)
#undef TW__X
};

const char *tw_status_name(tw_status s) {
  if ((unsigned)s >= (unsigned)TW_STATUS_COUNT) return "UNKNOWN";
  return status_names[s];
}

const char *tw_status_message(tw_status s) {
  if ((unsigned)s >= (unsigned)TW_STATUS_COUNT) return "unknown status";
  return status_messages[s];
}

const char *tw_trap_message(tw_trap_code t) {
  if ((unsigned)t >= (unsigned)TW_TRAP_COUNT) return "unknown trap";
  return trap_messages[t];
}

/* Resets everything but the (large) frame array, which frame_count
 * guards. */
static void reset(tw_error *err, tw_status status) {
  err->status = status;
  err->trap = TW_TRAP_NONE;
  err->offset = SIZE_MAX;
  err->message[0] = '\0';
  err->frame_count = 0;
  err->frames_total = 0;
}

void tw_error_clear(tw_error *err) {
  if (err) reset(err, TW_OK);
}

static tw_status vset(tw_error *err, tw_status status, const char *fmt,
                      va_list ap) {
  if (fmt)
    vsnprintf(err->message, sizeof err->message, fmt, ap);
  else
    snprintf(err->message, sizeof err->message, "%s",
             tw_status_message(status));
  return status;
}

tw_status tw__error_set(tw_error *err, tw_status status, size_t offset,
                        const char *fmt, ...) {
  if (!err) return status;
  reset(err, status);
  err->offset = offset;
  va_list ap;
  va_start(ap, fmt);
  vset(err, status, fmt, ap);
  va_end(ap);
  return status;
}

tw_status tw__trap(tw_error *err, tw_trap_code code) {
  if (!err) return TW_TRAP;
  reset(err, TW_TRAP);
  err->trap = code;
  snprintf(err->message, sizeof err->message, "%s", tw_trap_message(code));
  return TW_TRAP;
}

tw_status tw_trap_set(tw_error *err, tw_trap_code code, const char *fmt,
                      ...) {
  if (!err) return TW_TRAP;
  reset(err, TW_TRAP);
  err->trap = code;
  if (!fmt) {
    snprintf(err->message, sizeof err->message, "%s", tw_trap_message(code));
    return TW_TRAP;
  }
  va_list ap;
  va_start(ap, fmt);
  vset(err, TW_TRAP, fmt, ap);
  va_end(ap);
  return TW_TRAP;
}

/* Appends to buf[*len..cap) with snprintf semantics; once the buffer is
 * full, later appends do nothing.  buf stays NUL-terminated. */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
  if (*len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* Format:
 *   MESSAGE
 *     #0 func[12] name
 *     #1 func[3]
 *     ... 40 more frames
 * A missing message falls back to the status (or trap) message. */
char *tw_error_format(const tw_error *err, char *buf, size_t cap) {
  if (!buf || cap == 0) return buf;
  buf[0] = '\0';
  size_t len = 0;
  if (!err) {
    append(buf, cap, &len, "%s", tw_status_message(TW_OK));
    return buf;
  }
  const char *msg = err->message;
  if (msg[0] == '\0')
    msg = err->status == TW_TRAP ? tw_trap_message(err->trap)
                                 : tw_status_message(err->status);
  append(buf, cap, &len, "%.*s", TW_ERROR_MESSAGE_MAX, msg);
  if (err->status != TW_TRAP) return buf;

  uint32_t n = err->frame_count;
  if (n > TW_BACKTRACE_MAX) n = TW_BACKTRACE_MAX;
  for (uint32_t i = 0; i < n; i++) {
    const tw_frame *f = &err->frames[i];
    append(buf, cap, &len, "\n  #%u func[%u]", (unsigned)i,
           (unsigned)f->func_index);
    if (f->name[0])
      append(buf, cap, &len, " %.*s", TW_FRAME_NAME_MAX, f->name);
  }
  if (err->frames_total > n)
    append(buf, cap, &len, "\n  ... %u more frames",
           (unsigned)(err->frames_total - n));
  return buf;
}
