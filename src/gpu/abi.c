/* Pure checks of what a guest hands to wasi:cuda, done before any driver
 * call so that every host (GPU, fake driver, no driver) answers bad input
 * with the same code: launch argument decoding, dimensions, PTX text,
 * entry names, and the truncation of recorded error text.
 *
 * The launch argument list is packed little-endian (tag byte, value) pairs,
 * no padding; the wire sizes and caps are the original's (docs/WASI_CUDA.md
 * has the table). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gpu/gpu_int.h"

static const struct {
  const char *name;
  int32_t value;
} code_names[] = {
    {"Ok", 0},
#define TW__X(name, value, wire) {wire, value},
    TW_CUDA_CODE_LIST(TW__X)
#undef TW__X
};

const char *tw_cuda_code_name(int32_t code) {
  for (size_t i = 0; i < sizeof code_names / sizeof code_names[0]; i++)
    if (code_names[i].value == code) return code_names[i].name;
  return "Unknown";
}

static int32_t why_fail(int32_t code, char *why, size_t cap, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static int32_t why_fail(int32_t code, char *why, size_t cap, const char *fmt,
                        ...) {
  if (why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* ---- launch arguments -------------------------------------------------- */

/* Value bytes after the tag (0: unknown tag) and bytes the kernel gets. */
static void tag_sizes(uint8_t tag, uint8_t *wire, uint8_t *param) {
  switch (tag) {
  case TW_CUDA_ARG_I32:
  case TW_CUDA_ARG_F32:
  case TW_CUDA_ARG_U32: *wire = 4; *param = 4; return;
  case TW_CUDA_ARG_I64:
  case TW_CUDA_ARG_F64:
  case TW_CUDA_ARG_U64:
  case TW_CUDA_ARG_PTR:
  case TW_CUDA_ARG_BUFFER: *wire = 8; *param = 8; return;
  default: *wire = 0; *param = 0; return;
  }
}

static uint64_t load_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int32_t tw__cuda_argv_decode(const uint8_t *p, size_t len, tw__cuda_arg *out,
                             size_t *n, char *why, size_t cap) {
  *n = 0;
  if (len > TW_CUDA_MAX_ARGV_BYTES)
    return why_fail(TW_CUDA_KERNEL_ARGS_UNSUPPORTED, why, cap,
                    "launch: argument list is %zu bytes (at most %d)", len,
                    TW_CUDA_MAX_ARGV_BYTES);
  size_t i = 0, count = 0;
  while (i < len) {
    uint8_t wire, param;
    tag_sizes(p[i], &wire, &param);
    if (!wire)
      return why_fail(TW_CUDA_INVALID_ARGS, why, cap,
                      "launch: argument %zu has unknown tag 0x%02x at byte %zu",
                      count, p[i], i);
    if (len - i - 1 < wire)
      return why_fail(TW_CUDA_INVALID_ARGS, why, cap,
                      "launch: argument %zu (tag 0x%02x) truncated: %zu trailing "
                      "byte%s after the last whole record, %u needed",
                      count, p[i], len - i, len - i == 1 ? "" : "s",
                      (unsigned)wire + 1);
    if (count == TW_CUDA_MAX_ARGS)
      return why_fail(TW_CUDA_KERNEL_ARGS_UNSUPPORTED, why, cap,
                      "launch: more than %d arguments", TW_CUDA_MAX_ARGS);
    tw__cuda_arg *a = &out[count++];
    a->tag = p[i];
    a->size = param;
    a->bits = load_le(p + i + 1, wire);
    a->off = a->len = 0;
    if (a->tag == TW_CUDA_ARG_PTR) {
      a->off = (uint32_t)a->bits;
      a->len = (uint32_t)(a->bits >> 32);
    }
    i += 1 + wire;
  }
  *n = count;
  return TW_CUDA_OK;
}

int32_t tw__cuda_argv_check_ptrs(const tw__cuda_arg *args, size_t n,
                                 uint64_t mem_size, char *why, size_t cap) {
  for (size_t i = 0; i < n; i++) {
    if (args[i].tag != TW_CUDA_ARG_PTR) continue;
    if ((uint64_t)args[i].off + args[i].len > mem_size)
      return why_fail(TW_CUDA_INVALID_POINTER, why, cap,
                      "launch: argument %zu: range [%u, %llu) is outside "
                      "linear memory (%llu bytes)",
                      i, args[i].off,
                      (unsigned long long)args[i].off + args[i].len,
                      (unsigned long long)mem_size);
  }
  return TW_CUDA_OK;
}

/* ---- dimensions -------------------------------------------------------- */

int32_t tw__cuda_check_dims(const int32_t grid[3], const int32_t block[3],
                            char *why, size_t cap) {
  static const char axis[3] = {'x', 'y', 'z'};
  for (int i = 0; i < 3; i++)
    if (block[i] < 1 || block[i] > TW_CUDA_MAX_BLOCK_THREADS)
      return why_fail(TW_CUDA_INVALID_DIMENSIONS, why, cap,
                      "launch: block_%c is %d (must be 1..%d)", axis[i],
                      block[i], TW_CUDA_MAX_BLOCK_THREADS);
  int64_t threads = (int64_t)block[0] * block[1] * block[2];
  if (threads > TW_CUDA_MAX_BLOCK_THREADS)
    return why_fail(TW_CUDA_INVALID_DIMENSIONS, why, cap,
                    "launch: block is %d x %d x %d = %lld threads (at most %d)",
                    block[0], block[1], block[2], (long long)threads,
                    TW_CUDA_MAX_BLOCK_THREADS);
  /* An i32 is at most 2^31-1, so only the lower bound can be broken. */
  for (int i = 0; i < 3; i++)
    if (grid[i] < 1)
      return why_fail(TW_CUDA_INVALID_DIMENSIONS, why, cap,
                      "launch: grid_%c is %d (must be 1..%u)", axis[i],
                      grid[i], TW_CUDA_MAX_GRID_DIM);
  return TW_CUDA_OK;
}

/* ---- text ------------------------------------------------------------------ */

bool tw__cuda_utf8_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    size_t need;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
    else return false;
    if (len - i - 1 < need) return false;
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF. */
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += need + 1;
  }
  return true;
}

static bool contains(const uint8_t *p, size_t len, const char *needle) {
  size_t n = strlen(needle);
  if (n > len) return false;
  for (size_t i = 0; i + n <= len; i++)
    if (p[i] == (uint8_t)needle[0] && memcmp(p + i, needle, n) == 0)
      return true;
  return false;
}

int32_t tw__cuda_check_ptx(const uint8_t *p, size_t len, size_t *text_len,
                           char *why, size_t cap) {
  if (len && p[len - 1] == 0) len--; /* a C string's terminator */
  *text_len = len;
  if (!len)
    return why_fail(TW_CUDA_MALFORMED_PTX, why, cap, "load_ptx: PTX is empty");
  if (memchr(p, 0, len))
    return why_fail(TW_CUDA_MALFORMED_PTX, why, cap,
                    "load_ptx: PTX has a NUL byte at offset %zu",
                    (size_t)((const uint8_t *)memchr(p, 0, len) - p));
  if (!tw__cuda_utf8_valid(p, len))
    return why_fail(TW_CUDA_MALFORMED_PTX, why, cap,
                    "load_ptx: PTX is not valid UTF-8");
  static const char *const directives[] = {".version", ".target", ".entry"};
  for (size_t i = 0; i < 3; i++)
    if (!contains(p, len, directives[i]))
      return why_fail(TW_CUDA_MALFORMED_PTX, why, cap,
                      "load_ptx: PTX lacks the %s directive", directives[i]);
  return TW_CUDA_OK;
}

int32_t tw__cuda_check_entry(const uint8_t *p, size_t len, char *why,
                             size_t cap) {
  if (len > TW_CUDA_MAX_ENTRY_BYTES)
    return why_fail(TW_CUDA_QUOTA_EXCEEDED, why, cap,
                    "load_ptx: entry name is %zu bytes (at most %d)", len,
                    TW_CUDA_MAX_ENTRY_BYTES);
  if (!len)
    return why_fail(TW_CUDA_INVALID_ARGS, why, cap,
                    "load_ptx: entry name is empty");
  if (memchr(p, 0, len))
    return why_fail(TW_CUDA_INVALID_ARGS, why, cap,
                    "load_ptx: entry name contains a NUL byte");
  if (!tw__cuda_utf8_valid(p, len))
    return why_fail(TW_CUDA_INVALID_ARGS, why, cap,
                    "load_ptx: entry name is not valid UTF-8");
  return TW_CUDA_OK;
}

size_t tw__cuda_error_truncate(char *dst, const char *msg) {
  size_t len = strlen(msg);
  if (len <= TW_CUDA_MAX_ERROR_BYTES) {
    memcpy(dst, msg, len + 1);
    return len;
  }
  /* Back up to the start of a UTF-8 sequence so no character is split. */
  size_t cut = TW_CUDA_MAX_ERROR_BYTES;
  while (cut > 0 && ((uint8_t)msg[cut] & 0xC0) == 0x80) cut--;
  memcpy(dst, msg, cut);
  memcpy(dst + cut, "\xE2\x80\xA6", 4); /* "…" and the NUL */
  return cut + 3;
}
