/* Unit tests for the validator (src/wasm/validate.c).
 *
 * Valid modules exercise multi-value blocks, br_table, block parameters,
 * the polymorphic stack after unreachable/br/return, references, tables and
 * bulk memory.  Invalid ones check the status, the spec's message prefix and,
 * for function bodies, the byte offset of the rejected instruction.  Module
 * bytes were produced by `wat2wasm` (with --no-check for invalid ones; the
 * source text is listed above validate_module_level) or are built by hand
 * with body_module(). */
#include <stdbool.h>
#include <string.h>

#include "test.h"
#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

/* Decodes and validates; the decoder must accept every input here. */
static tw_status check(const uint8_t *bytes, size_t len, tw_error *err,
                       bool *decoded) {
  tw__module m;
  memset(&m, 0, sizeof m);
  memset(err, 0, sizeof *err);
  tw_status st = tw__module_decode(bytes, len, &m, err);
  *decoded = st == TW_OK;
  if (st != TW_OK) return st;
  st = tw__module_validate(&m, err);
  tw__module_release(&m);
  return st;
}

#define EXPECT_OK(bytes, len)                                           \
  do {                                                                  \
    tw_error e_;                                                        \
    bool d_;                                                            \
    tw_status s_ = check((bytes), (len), &e_, &d_);                     \
    if (s_ != TW_OK) TW__FAIL("expected OK, got %s: %s",                \
                              tw_status_name(s_), e_.message);          \
  } while (0)

/* Status, message prefix and (unless SIZE_MAX) offset. */
#define EXPECT_ERR(bytes, len, want_st, prefix, off)                     \
  do {                                                                  \
    tw_error e_;                                                        \
    bool d_;                                                            \
    tw_status s_ = check((bytes), (len), &e_, &d_);                     \
    ASSERT(d_);                                                         \
    if (s_ != (want_st)) TW__FAIL("expected %s, got %s: %s",             \
                                 tw_status_name(want_st),                \
                                 tw_status_name(s_), e_.message);       \
    if (strncmp(e_.message, (prefix), strlen(prefix)) != 0)             \
      TW__FAIL("message \"%s\" does not begin with \"%s\"", e_.message, \
               (prefix));                                               \
    ASSERT_EQ_INT(e_.status, (want_st));                                 \
    if ((size_t)(off) != SIZE_MAX) ASSERT_EQ_U64(e_.offset, (off));     \
  } while (0)

/* ---- hand-built single-function modules ---------------------------------- */

typedef struct wbuf {
  uint8_t b[1024];
  size_t n;
  size_t code_at; /* file offset of the body's first instruction */
} wbuf;

static void put(wbuf *w, const uint8_t *p, size_t n) {
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void put1(wbuf *w, uint8_t x) { w->b[w->n++] = x; }
static void section(wbuf *w, uint8_t id, const uint8_t *p, size_t n) {
  put1(w, id);
  put1(w, (uint8_t)n); /* every section here is < 128 bytes */
  put(w, p, n);
}

enum { WITH_MEM = 1, WITH_DATACOUNT = 2, WITH_TABLE = 4 };

/* One function of type `ft` (its encoding, starting with 0x60) whose body
 * is `code` with no locals; optional memory, table and one passive data
 * segment announced by a datacount section. */
static wbuf body_module(const uint8_t *ft, size_t ftn, int flags,
                        const uint8_t *code, size_t n) {
  wbuf w = {.n = 0};
  static const uint8_t hdr[] = {0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0};
  put(&w, hdr, sizeof hdr);
  uint8_t types[64] = {1};
  memcpy(types + 1, ft, ftn);
  section(&w, 1, types, ftn + 1);
  section(&w, 3, (const uint8_t[]){1, 0}, 2);
  if (flags & WITH_TABLE) section(&w, 4, (const uint8_t[]){1, 0x70, 0, 1}, 4);
  if (flags & WITH_MEM) section(&w, 5, (const uint8_t[]){1, 0, 1}, 3);
  if (flags & WITH_DATACOUNT) section(&w, 12, (const uint8_t[]){1}, 1);
  put1(&w, 10);
  put1(&w, (uint8_t)(n + 3));
  put1(&w, 1);
  put1(&w, (uint8_t)(n + 1));
  put1(&w, 0); /* no locals */
  w.code_at = w.n;
  put(&w, code, n);
  if (flags & WITH_DATACOUNT) section(&w, 11, (const uint8_t[]){1, 1, 0}, 3);
  return w;
}

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define FT_V BYTES(0x60, 0, 0)               /* [] -> [] */
#define FT_I BYTES(0x60, 0, 1, 0x7F)         /* [] -> [i32] */
#define FT_I_I BYTES(0x60, 1, 0x7F, 1, 0x7F) /* [i32] -> [i32] */
#define FT_II_I BYTES(0x60, 2, 0x7F, 0x7F, 1, 0x7F) /* [i32 i32] -> [i32] */

#define BODY_OK(ft, flags, ...)                                         \
  do {                                                                  \
    wbuf w_ = body_module(ft, flags, BYTES(__VA_ARGS__));               \
    EXPECT_OK(w_.b, w_.n);                                              \
  } while (0)

/* `at` is the offset of the rejected instruction within the body. */
#define BODY_ERR(want_st, prefix, at, ft, flags, ...)                    \
  do {                                                                  \
    wbuf w_ = body_module(ft, flags, BYTES(__VA_ARGS__));               \
    EXPECT_ERR(w_.b, w_.n, want_st, prefix, w_.code_at + (at));          \
  } while (0)

/* ---- valid modules ---------------------------------------------------------- */

/* valid.wat: multi-value blocks and br_table, loop/if with parameters, the
 * polymorphic stack, references, tables, bulk memory. */
static const uint8_t k_valid[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x25, 0x07, 0x60,
   0x00, 0x02, 0x7f, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x02, 0x7f, 0x7f, 0x60,
   0x01, 0x7f, 0x02, 0x7f, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00,
   0x01, 0x7f, 0x60, 0x00, 0x01, 0x7c, 0x60, 0x01, 0x6f, 0x01, 0x7f, 0x03,
   0x07, 0x06, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x04, 0x07, 0x02, 0x70,
   0x00, 0x02, 0x6f, 0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06,
   0x01, 0x7e, 0x01, 0x42, 0x07, 0x0b, 0x07, 0x08, 0x01, 0x04, 0x70, 0x69,
   0x63, 0x6b, 0x00, 0x01, 0x09, 0x09, 0x02, 0x03, 0x00, 0x01, 0x00, 0x01,
   0x00, 0x01, 0x00, 0x0c, 0x01, 0x01, 0x0a, 0xe8, 0x01, 0x06, 0x06, 0x00,
   0x20, 0x01, 0x20, 0x00, 0x0b, 0x15, 0x00, 0x02, 0x00, 0x02, 0x00, 0x41,
   0x01, 0x41, 0x02, 0x20, 0x00, 0x0e, 0x02, 0x01, 0x00, 0x01, 0x0b, 0x10,
   0x00, 0x0b, 0x0b, 0x1f, 0x00, 0x20, 0x00, 0x03, 0x03, 0x41, 0x01, 0x6b,
   0x22, 0x00, 0x20, 0x00, 0x0d, 0x00, 0x0b, 0x41, 0x05, 0x20, 0x00, 0x04,
   0x03, 0x41, 0x01, 0x6a, 0x05, 0x41, 0x02, 0x6c, 0x0b, 0x6a, 0x0b, 0x12,
   0x00, 0x02, 0x7f, 0x00, 0x6a, 0x0c, 0x00, 0x0b, 0x1a, 0x00, 0x1b, 0x1a,
   0x00, 0x0e, 0x01, 0x00, 0x00, 0x0b, 0x0e, 0x00, 0x44, 0x00, 0x00, 0x00,
   0x00, 0x00, 0x00, 0xf0, 0x3f, 0x0f, 0x45, 0x1a, 0x0b, 0x86, 0x01, 0x00,
   0x41, 0x00, 0x20, 0x00, 0x26, 0x01, 0xd2, 0x00, 0x41, 0x01, 0xfc, 0x0f,
   0x00, 0x1a, 0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0c, 0x01, 0x00,
   0xfc, 0x0d, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x01, 0xfc, 0x0e, 0x00,
   0x00, 0x41, 0x00, 0xd0, 0x70, 0x41, 0x01, 0xfc, 0x11, 0x00, 0x41, 0x00,
   0x41, 0x00, 0x41, 0x05, 0xfc, 0x08, 0x00, 0x00, 0xfc, 0x09, 0x00, 0x41,
   0x00, 0x41, 0x01, 0x41, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x41, 0x00, 0x41,
   0x01, 0x41, 0x02, 0xfc, 0x0b, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
   0x00, 0x0c, 0x40, 0xfc, 0x06, 0xc4, 0x24, 0x00, 0x20, 0x00, 0xd0, 0x6f,
   0x41, 0x01, 0x1c, 0x01, 0x6f, 0x1a, 0x41, 0x00, 0x11, 0x00, 0x00, 0x1a,
   0x1a, 0x20, 0x00, 0xd1, 0xfc, 0x10, 0x01, 0x6a, 0x1a, 0x41, 0x00, 0x3f,
   0x00, 0x40, 0x00, 0x3a, 0x00, 0x03, 0x41, 0x00, 0x35, 0x02, 0x00, 0xa7,
   0x0b, 0x0b, 0x08, 0x01, 0x01, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f
};

TEST(validate_valid_module) { EXPECT_OK(k_valid, sizeof k_valid); }

TEST(validate_valid_bodies) {
  /* block [] -> [i32 i32] via a type index needs a second type: use the
   * function's own type [i32 i32] -> [i32] as a block type instead */
  BODY_OK(FT_II_I, 0, 0x20, 0, 0x20, 1, 0x02, 0x00, 0x6A, 0x0B, 0x0B);
  /* br_table with one i32 on every target */
  BODY_OK(FT_I, 0, 0x02, 0x7F, 0x41, 7, 0x41, 0, 0x0E, 1, 0, 1, 0x0B, 0x0B);
  /* unreachable makes the stack polymorphic: i32.add with no operands */
  BODY_OK(FT_I, 0, 0x00, 0x6A, 0x0B);
  /* ...and Unknown matches both select operands */
  BODY_OK(FT_I, 0, 0x00, 0x1B, 0x0B);
  /* if without else whose parameters are its results ([i32] -> [i32]) */
  BODY_OK(FT_I_I, 0, 0x20, 0, 0x41, 1, 0x04, 0x00, 0x0B, 0x0B);
  /* memory.size / grow with a memory, i64.load with natural alignment */
  BODY_OK(FT_I, WITH_MEM, 0x3F, 0, 0x40, 0, 0x29, 3, 0, 0xA7, 0x0B);
  /* memory.init and data.drop with a datacount section */
  BODY_OK(FT_V, WITH_MEM | WITH_DATACOUNT, 0x41, 0, 0x41, 0, 0x41, 0, 0xFC,
          8, 0, 0, 0xFC, 9, 0, 0x0B);
}

/* ---- invalid function bodies ------------------------------------------------ */

TEST(validate_type_mismatch) {
  /* i32.add of an f64: rejected at the add (offset 11) */
  BODY_ERR(TW_INVALID, "type mismatch", 11, FT_I, 0, 0x41, 1, 0x44, 0, 0, 0,
           0, 0, 0, 0, 0, 0x6A, 0x0B);
  /* a value left over at the function's end */
  BODY_ERR(TW_INVALID, "type mismatch", 4, FT_V, 0, 0x41, 1, 0x41, 2, 0x0B);
  /* even after unreachable, a known i64 does not feed i32.add */
  BODY_ERR(TW_INVALID, "type mismatch", 3, FT_I, 0, 0x00, 0x42, 0, 0x6A,
           0x0B);
  /* if without else must have equal parameters and results */
  BODY_ERR(TW_INVALID, "type mismatch", 6, FT_I, 0, 0x41, 1, 0x04, 0x7F,
           0x41, 2, 0x0B, 0x0B);
  /* br_table targets of different arity */
  BODY_ERR(TW_INVALID, "type mismatch", 6, FT_V, 0, 0x02, 0x7F, 0x41, 0,
           0x41, 0, 0x0E, 1, 0, 1, 0x0B, 0x1A, 0x0B);
  /* untyped select of references */
  BODY_ERR(TW_INVALID, "type mismatch", 6, FT_V, 0, 0xD0, 0x70, 0xD0, 0x70,
           0x41, 1, 0x1B, 0x1A, 0x0B);
}

TEST(validate_unknown_indices) {
  BODY_ERR(TW_INVALID, "unknown local", 0, FT_I, 0, 0x20, 5, 0x0B);
  BODY_ERR(TW_INVALID, "unknown label", 0, FT_V, 0, 0x0C, 1, 0x0B);
  BODY_ERR(TW_INVALID, "unknown function", 0, FT_V, 0, 0x10, 9, 0x0B);
  BODY_ERR(TW_INVALID, "unknown global", 0, FT_I, 0, 0x23, 0, 0x0B);
  BODY_ERR(TW_INVALID, "unknown memory", 2, FT_I, 0, 0x41, 0, 0x28, 2, 0,
           0x0B);
  BODY_ERR(TW_INVALID, "unknown table", 2, FT_V, 0, 0x41, 0, 0x11, 0, 0,
           0x0B);
  BODY_ERR(TW_INVALID, "unknown type", 0, FT_V, WITH_TABLE, 0x02, 0x05,
           0x0B, 0x0B);
  BODY_ERR(TW_INVALID, "unknown data segment", 6, FT_V,
           WITH_MEM | WITH_DATACOUNT, 0x41, 0, 0x41, 0, 0x41, 0, 0xFC, 8,
           1, 0, 0x0B);
  BODY_ERR(TW_INVALID, "unknown elem segment", 0, FT_V, WITH_TABLE, 0xFC,
           13, 0, 0x0B);
}

TEST(validate_memory_and_select_rules) {
  /* i32.load with alignment 2**3 */
  BODY_ERR(TW_INVALID, "alignment must not be larger than natural", 2, FT_I,
           WITH_MEM, 0x41, 0, 0x28, 3, 0, 0x0B);
  /* select with two result types */
  BODY_ERR(TW_INVALID, "invalid result arity", 6, FT_I, 0, 0x41, 1, 0x41, 1,
           0x41, 1, 0x1C, 2, 0x7F, 0x7F, 0x0B);
}

TEST(validate_malformed_bodies) {
  /* memory.size's reserved byte must be 0 (checked before the memory) */
  BODY_ERR(TW_MALFORMED, "zero byte expected", 1, FT_I, 0, 0x3F, 1, 0x0B);
  BODY_ERR(TW_MALFORMED, "illegal opcode", 0, FT_V, 0, 0x06, 0x0B);
  BODY_ERR(TW_MALFORMED, "illegal opcode", 0, FT_V, 0, 0xFC, 18, 0x0B);
  /* memory.init without a datacount section */
  BODY_ERR(TW_MALFORMED, "data count section required", 6, FT_V, WITH_MEM,
           0x41, 0, 0x41, 0, 0x41, 0, 0xFC, 8, 0, 0, 0x0B);
  /* the body ends before its final end */
  BODY_ERR(TW_MALFORMED, "unexpected end", 3, FT_V, 0, 0x02, 0x40,
           0x0B);
  /* bytes after the final end */
  BODY_ERR(TW_MALFORMED, "section size mismatch", 1, FT_V, 0, 0x0B, 0x0B);
  /* else outside an if */
  BODY_ERR(TW_MALFORMED, "END opcode expected", 0, FT_V, 0, 0x05, 0x0B);
  /* a typing error early yields to a malformed encoding later */
  BODY_ERR(TW_MALFORMED, "illegal opcode", 2, FT_V, 0, 0x6A, 0x1A, 0x06,
           0x0B);
}

TEST(validate_simd_unsupported) {
  BODY_ERR(TW_UNSUPPORTED, "SIMD is not supported yet", 0, FT_V, 0, 0xFD,
           12, 0x0B);
}

/* ---- invalid module-level structure ----------------------------------------- */

static const uint8_t k_dup_export[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x09, 0x02, 0x01, 0x61,
   0x00, 0x00, 0x01, 0x61, 0x00, 0x01, 0x0a, 0x07, 0x02, 0x02, 0x00, 0x0b,
   0x02, 0x00, 0x0b
};
static const uint8_t k_two_mems[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x05, 0x02, 0x00,
   0x01, 0x00, 0x01
};
static const uint8_t k_start_type[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
   0x01, 0x7f, 0x00, 0x03, 0x02, 0x01, 0x00, 0x08, 0x01, 0x00, 0x0a, 0x04,
   0x01, 0x02, 0x00, 0x0b
};
static const uint8_t k_mem_big[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x05, 0x01, 0x00,
   0x81, 0x80, 0x04
};
static const uint8_t k_mem_minmax[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01,
   0x02, 0x01
};
static const uint8_t k_global_unknown[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x06, 0x0b, 0x02, 0x7f,
   0x00, 0x41, 0x00, 0x0b, 0x7f, 0x00, 0x23, 0x00, 0x0b
};
static const uint8_t k_global_mut_init[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x08, 0x01, 0x01,
   0x6d, 0x01, 0x67, 0x03, 0x7f, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x23,
   0x00, 0x0b
};
static const uint8_t k_global_immut[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x41,
   0x00, 0x0b, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x01, 0x24, 0x00, 0x0b
};
static const uint8_t k_undeclared_ref[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x0a, 0x0a, 0x02, 0x02, 0x00,
   0x0b, 0x05, 0x00, 0xd2, 0x00, 0x1a, 0x0b
};
static const uint8_t k_elem_table_type[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x04, 0x04, 0x01, 0x6f, 0x00, 0x01,
   0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a, 0x04, 0x01,
   0x02, 0x00, 0x0b
};
static const uint8_t k_call_indirect_ext[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x04, 0x04, 0x01, 0x6f, 0x00, 0x01,
   0x0a, 0x09, 0x01, 0x07, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b
};
static const uint8_t k_br_table_arity[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x13, 0x01, 0x11, 0x00, 0x02,
   0x7f, 0x02, 0x40, 0x41, 0x00, 0x41, 0x00, 0x0e, 0x01, 0x00, 0x01, 0x0b,
   0x0b, 0x1a, 0x0b
};
static const uint8_t k_data_no_mem[] = {
   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x07, 0x01, 0x00,
   0x41, 0x00, 0x0b, 0x01, 0x78
};

/* Source of each k_X above (wat2wasm --no-check):
 *   dup_export        (func (export "a")) (func (export "a"))
 *   two_mems          (memory 1) (memory 1)
 *   start_type        (func $s (param i32)) (start $s)
 *   mem_big           (memory 65537)
 *   mem_minmax        (memory 2 1)
 *   global_unknown    (global i32 (i32.const 0)) (global i32 (global.get 0))
 *   global_mut_init   imported (mut i32) read by a global's init
 *   global_immut      global.set of an immutable global
 *   undeclared_ref    ref.func of a function no segment or export declares
 *   elem_table_type   funcref segment for an externref table
 *   call_indirect_ext call_indirect through an externref table
 *   br_table_arity    br_table 0 1 where the labels' arities differ
 *   data_no_mem       an active data segment without a memory */
#define MOD_ERR(arr, prefix) \
  EXPECT_ERR(arr, sizeof arr, TW_INVALID, prefix, SIZE_MAX)

TEST(validate_module_level) {
  MOD_ERR(k_dup_export, "duplicate export name");
  MOD_ERR(k_two_mems, "multiple memories");
  MOD_ERR(k_start_type, "start function");
  MOD_ERR(k_mem_big, "memory size must be at most 65536 pages (4GiB)");
  MOD_ERR(k_mem_minmax, "size minimum must not be greater than maximum");
  MOD_ERR(k_global_unknown, "unknown global");
  MOD_ERR(k_global_mut_init, "constant expression required");
  MOD_ERR(k_global_immut, "global is immutable");
  MOD_ERR(k_undeclared_ref, "undeclared function reference");
  MOD_ERR(k_elem_table_type, "type mismatch");
  MOD_ERR(k_call_indirect_ext, "type mismatch");
  MOD_ERR(k_br_table_arity, "type mismatch");
  MOD_ERR(k_data_no_mem, "unknown memory");
}

TEST(validate_null_error_and_reuse) {
  /* err may be NULL; validating twice gives the same answer */
  tw__module m;
  memset(&m, 0, sizeof m);
  ASSERT_EQ_INT(tw__module_decode(k_valid, sizeof k_valid, &m, NULL), TW_OK);
  ASSERT_EQ_INT(tw__module_validate(&m, NULL), TW_OK);
  ASSERT_EQ_INT(tw__module_validate(&m, NULL), TW_OK);
  tw__module_release(&m);
  memset(&m, 0, sizeof m);
  ASSERT_EQ_INT(tw__module_decode(k_dup_export, sizeof k_dup_export, &m, NULL),
                TW_OK);
  ASSERT_EQ_INT(tw__module_validate(&m, NULL), TW_INVALID);
  tw__module_release(&m);
}

TEST_MAIN()
