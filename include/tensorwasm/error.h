/* TensorWasm error values.
 *
 * Every fallible function returns a tw_status and, when it is not TW_OK,
 * fills the tw_error the caller passed in (the caller owns it; it may live
 * on the stack; NULL is accepted and means "status only").  Nothing here
 * allocates, so errors can be reported when memory is exhausted.
 *
 * One X-macro list gives each status and each trap its name and message. */
#ifndef TENSORWASM_ERROR_H
#define TENSORWASM_ERROR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_STATUS_LIST(X)                                            \
  X(OK, "ok")                                                        \
  X(NOMEM, "out of memory")                                          \
  X(MALFORMED, "malformed module")                                   \
  X(INVALID, "invalid module")                                       \
  X(UNSUPPORTED, "unsupported feature")                              \
  X(UNLINKABLE, "unlinkable")                                        \
  X(TRAP, "trap")                                                    \
  X(ARG, "invalid argument")                                         \
  X(NOT_FOUND, "not found")                                          \
  X(LIMIT, "limit exceeded")                                         \
  X(IO, "i/o error")

typedef enum tw_status {
#define TW__X(name, msg) TW_##name,
  TW_STATUS_LIST(TW__X)
#undef TW__X
  TW_STATUS_COUNT
} tw_status;

/* Trap codes.  The messages are the ones the WebAssembly spec tests use. */
#define TW_TRAP_LIST(X)                                              \
  X(NONE, "no trap")                                                 \
  X(UNREACHABLE, "unreachable")                                      \
  X(MEMORY_OOB, "out of bounds memory access")                       \
  X(TABLE_OOB, "out of bounds table access")                         \
  X(INT_OVERFLOW, "integer overflow")                                \
  X(DIV_ZERO, "integer divide by zero")                              \
  X(INVALID_CONVERSION, "invalid conversion to integer")             \
  X(INDIRECT_MISMATCH, "indirect call type mismatch")                \
  X(UNDEFINED_ELEMENT, "undefined element")                          \
  X(UNINITIALIZED_ELEMENT, "uninitialized element")                  \
  X(STACK_EXHAUSTED, "call stack exhausted")                         \
  X(INTERRUPTED, "interrupted")                                      \
  X(OUT_OF_FUEL, "all fuel consumed")                                \
  X(HOST, "host function failed")

typedef enum tw_trap_code {
#define TW__X(name, msg) TW_TRAP_##name,
  TW_TRAP_LIST(TW__X)
#undef TW__X
  TW_TRAP_COUNT
} tw_trap_code;

#define TW_ERROR_MESSAGE_MAX 256
#define TW_BACKTRACE_MAX 16
#define TW_FRAME_NAME_MAX 64

/* One wasm frame of a trap's backtrace, innermost first. */
typedef struct tw_frame {
  uint32_t func_index;               /* index in its module's function space */
  char name[TW_FRAME_NAME_MAX];      /* from the `name` section, or "" */
} tw_frame;

/* A plain value the caller owns.  `offset` is the byte offset in the
 * module binary for TW_MALFORMED / TW_INVALID / TW_UNSUPPORTED, else
 * SIZE_MAX.  `trap` and the backtrace are set when status is TW_TRAP. */
typedef struct tw_error {
  tw_status status;
  tw_trap_code trap;
  size_t offset;
  char message[TW_ERROR_MESSAGE_MAX];
  uint32_t frame_count;              /* frames recorded (<= TW_BACKTRACE_MAX) */
  uint32_t frames_total;             /* frames that were on the stack */
  tw_frame frames[TW_BACKTRACE_MAX];
} tw_error;

const char *tw_status_name(tw_status s);     /* "MALFORMED" */
const char *tw_status_message(tw_status s);  /* "malformed module" */
const char *tw_trap_message(tw_trap_code t); /* "integer divide by zero" */

/* Resets `err` to TW_OK with an empty message.  `err` may be NULL. */
void tw_error_clear(tw_error *err);

/* Writes "MESSAGE" plus, for traps, the backtrace into buf (always
 * NUL-terminated, truncated to cap).  Returns buf. */
char *tw_error_format(const tw_error *err, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
