/* LEB128 readers shared by the decoder, validator and compiler.
 *
 * Each reader consumes a complete, minimal-length-bounded encoding or
 * returns false without a partial result: false at end of input, when the
 * encoding is longer than ceil(N/7) bytes, or when unused bits of the last
 * byte are not a sign (or zero) extension.  Callers turn false into a
 * "malformed" error at tw__reader_offset(). */
#include "wasm/wasm_int.h"

static bool read_uleb(tw__reader *r, unsigned bits, uint64_t *out) {
  uint64_t result = 0;
  unsigned shift = 0;
  unsigned max_bytes = (bits + 6) / 7;
  for (unsigned i = 0; i < max_bytes; i++) {
    if (r->p >= r->end) return false;
    uint8_t b = *r->p++;
    if (i == max_bytes - 1) {
      /* last byte: no continuation, and bits above `bits` must be zero */
      unsigned used = bits - shift;
      if (b & 0x80) return false;
      if (used < 7 && (b >> used) != 0) return false;
    }
    result |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = result;
      return true;
    }
    shift += 7;
  }
  return false;
}

static bool read_sleb(tw__reader *r, unsigned bits, int64_t *out) {
  uint64_t result = 0;
  unsigned shift = 0;
  unsigned max_bytes = (bits + 6) / 7;
  for (unsigned i = 0; i < max_bytes; i++) {
    if (r->p >= r->end) return false;
    uint8_t b = *r->p++;
    if (i == max_bytes - 1) {
      if (b & 0x80) return false;
      /* the unused high bits must all equal the sign bit of the value */
      unsigned used = bits - shift; /* 1..7 value bits in this byte */
      if (used < 7) {
        int sign = (b >> (used - 1)) & 1;
        uint8_t rest = (uint8_t)((b & 0x7F) >> used);
        uint8_t want = sign ? (uint8_t)(0x7F >> used) : 0;
        if (rest != want) return false;
      }
    }
    result |= (uint64_t)(b & 0x7F) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 64 && (b & 0x40)) result |= ~(uint64_t)0 << shift;
      *out = (int64_t)result;
      return true;
    }
  }
  return false;
}

bool tw__read_u8(tw__reader *r, uint8_t *out) {
  if (r->p >= r->end) return false;
  *out = *r->p++;
  return true;
}

bool tw__read_u32(tw__reader *r, uint32_t *out) {
  uint64_t v;
  if (!read_uleb(r, 32, &v)) return false;
  *out = (uint32_t)v;
  return true;
}

bool tw__read_s32(tw__reader *r, int32_t *out) {
  int64_t v;
  if (!read_sleb(r, 32, &v)) return false;
  *out = (int32_t)v;
  return true;
}

bool tw__read_s33(tw__reader *r, int64_t *out) {
  return read_sleb(r, 33, out);
}

bool tw__read_s64(tw__reader *r, int64_t *out) {
  return read_sleb(r, 64, out);
}
