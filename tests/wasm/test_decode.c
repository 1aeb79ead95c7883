/* Tests of the binary decoder (src/wasm/decode.c): a module with every
 * section decodes into the right tw__module; hand-made malformed modules
 * fail with the spec's message, the right status and the offset of the
 * offending byte; truncations and byte mutations never crash. */
#include <stdint.h>

#include "test.h"
#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

/* wat2wasm --debug-names of
 *   (module
 *     (type $v (func)) (type $ii (func (param i32 i64) (result i32)))
 *     (import "env" "f" (func $imp (type $ii)))
 *     (import "env" "t" (table 1 funcref))
 *     (import "env" "m" (memory 1 2))
 *     (import "env" "g" (global i32))
 *     (func $a (type $v) (local i32 i32 f64))
 *     (func $b (type $ii) i32.const 7)
 *     (table 2 10 externref)
 *     (global $g1 (mut i32) (i32.const 42))
 *     (global $g2 funcref (ref.func $b))
 *     (export "a" (func $a)) (export "mem" (memory 0))
 *     (start $a)
 *     (elem (i32.const 0) $imp) (elem declare func $a)
 *     (data (i32.const 8) "hi") (data "xyz"))
 * with a data count section added by hand.  Offsets in the comments. */
static const uint8_t good[] = {
    HDR,
    /* 8: type */
    0x01, 0x0a, 0x02, 0x60, 0x00, 0x00, 0x60, 0x02, 0x7f, 0x7e, 0x01, 0x7f,
    /* 20: import */
    0x02, 0x26, 0x04,
    0x03, 'e', 'n', 'v', 0x01, 'f', 0x00, 0x01,
    0x03, 'e', 'n', 'v', 0x01, 't', 0x01, 0x70, 0x00, 0x01,
    0x03, 'e', 'n', 'v', 0x01, 'm', 0x02, 0x01, 0x01, 0x02,
    0x03, 'e', 'n', 'v', 0x01, 'g', 0x03, 0x7f, 0x00,
    /* 60: function */
    0x03, 0x03, 0x02, 0x00, 0x01,
    /* 65: table */
    0x04, 0x05, 0x01, 0x6f, 0x01, 0x02, 0x0a,
    /* 72: global (init 0 at 77) */
    0x06, 0x0b, 0x02, 0x7f, 0x01, 0x41, 0x2a, 0x0b, 0x70, 0x00, 0xd2, 0x02,
    0x0b,
    /* 85: export */
    0x07, 0x0b, 0x02, 0x01, 'a', 0x00, 0x01, 0x03, 'm', 'e', 'm', 0x02, 0x00,
    /* 98: start */
    0x08, 0x01, 0x01,
    /* 101: elem */
    0x09, 0x0b, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x03, 0x00, 0x01,
    0x01,
    /* 114: data count */
    0x0c, 0x01, 0x02,
    /* 117: code (body 0 code at 126, body 1 code at 129) */
    0x0a, 0x0d, 0x02, 0x06, 0x02, 0x02, 0x7f, 0x01, 0x7c, 0x0b, 0x04, 0x00,
    0x41, 0x07, 0x0b,
    /* 132: data ("hi" at 140, "xyz" at 144) */
    0x0b, 0x0d, 0x02, 0x00, 0x41, 0x08, 0x0b, 0x02, 'h', 'i', 0x01, 0x03,
    'x', 'y', 'z',
    /* 147: custom "name" (function, local and global names) */
    0x00, 0x31, 0x04, 'n', 'a', 'm', 'e',
    0x01, 0x0c, 0x03, 0x00, 0x03, 'i', 'm', 'p', 0x01, 0x01, 'a', 0x02, 0x01,
    'b',
    0x02, 0x07, 0x03, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00,
    0x04, 0x08, 0x02, 0x00, 0x01, 'v', 0x01, 0x02, 'i', 'i',
    0x07, 0x09, 0x02, 0x01, 0x02, 'g', '1', 0x02, 0x02, 'g', '2',
    /* 198 */
};

/* Prefixes of `good` that are themselves well-formed modules. */
static int good_prefix_ok(size_t n) {
  return n == 8 || n == 20 || n == 60 || n == 147 || n == sizeof good;
}

TEST(decode_good_module) {
  tw__module m;
  tw_error e;
  ASSERT_EQ_INT(sizeof good, 198);
  ASSERT_EQ_INT(tw__module_decode(good, sizeof good, &m, &e), TW_OK);
  ASSERT(m.bytes != good);
  ASSERT_EQ_INT(m.len, sizeof good);

  ASSERT_EQ_INT(m.ntypes, 2);
  ASSERT_EQ_INT(m.types[0].nparams, 0);
  ASSERT_EQ_INT(m.types[0].nresults, 0);
  ASSERT_EQ_INT(m.types[1].nparams, 2);
  ASSERT_EQ_INT(m.types[1].nresults, 1);
  ASSERT_EQ_INT(m.types[1].types[0], TW_I32);
  ASSERT_EQ_INT(m.types[1].types[1], TW_I64);
  ASSERT_EQ_INT(m.types[1].types[2], TW_I32);

  ASSERT_EQ_INT(m.nimports, 4);
  ASSERT_EQ_STR(m.imports[0].module, "env");
  ASSERT_EQ_INT(m.imports[0].module_len, 3);
  ASSERT_EQ_STR(m.imports[0].name, "f");
  ASSERT_EQ_INT(m.imports[0].name_len, 1);
  ASSERT_EQ_INT(m.imports[0].kind, TW_EXTERN_FUNC);
  ASSERT_EQ_INT(m.imports[1].kind, TW_EXTERN_TABLE);
  ASSERT_EQ_INT(m.imports[2].kind, TW_EXTERN_MEMORY);
  ASSERT_EQ_INT(m.imports[3].kind, TW_EXTERN_GLOBAL);
  ASSERT_EQ_STR(m.imports[3].name, "g");
  for (int i = 0; i < 4; i++) ASSERT_EQ_INT(m.imports[i].index, 0);

  ASSERT_EQ_INT(m.nfuncs, 3);
  ASSERT_EQ_INT(m.nfunc_imports, 1);
  ASSERT_EQ_INT(m.func_types[0], 1);
  ASSERT_EQ_INT(m.func_types[1], 0);
  ASSERT_EQ_INT(m.func_types[2], 1);

  ASSERT_EQ_INT(m.ntables, 2);
  ASSERT_EQ_INT(m.ntable_imports, 1);
  ASSERT_EQ_INT(m.tables[0].elem, TW_FUNCREF);
  ASSERT_EQ_INT(m.tables[0].limits.min, 1);
  ASSERT(!m.tables[0].limits.has_max);
  ASSERT_EQ_INT(m.tables[1].elem, TW_EXTERNREF);
  ASSERT_EQ_INT(m.tables[1].limits.min, 2);
  ASSERT(m.tables[1].limits.has_max);
  ASSERT_EQ_INT(m.tables[1].limits.max, 10);

  ASSERT_EQ_INT(m.nmems, 1);
  ASSERT_EQ_INT(m.nmem_imports, 1);
  ASSERT_EQ_INT(m.mems[0].min, 1);
  ASSERT_EQ_INT(m.mems[0].max, 2);
  ASSERT(m.mems[0].has_max);

  ASSERT_EQ_INT(m.nglobals, 3);
  ASSERT_EQ_INT(m.nglobal_imports, 1);
  ASSERT_EQ_INT(m.globals[0].type, TW_I32);
  ASSERT(!m.globals[0].mut);
  ASSERT_EQ_INT(m.globals[1].type, TW_I32);
  ASSERT(m.globals[1].mut);
  ASSERT_EQ_INT(m.globals[2].type, TW_FUNCREF);
  ASSERT_EQ_INT(m.global_inits[0].op, TW_OP_i32_const);
  ASSERT_EQ_U64(m.global_inits[0].bits, 42);
  ASSERT_EQ_INT(m.global_inits[0].ninstr, 1);
  ASSERT(!m.global_inits[0].nonconst);
  ASSERT_EQ_INT(m.global_inits[0].offset, 77);
  ASSERT_EQ_INT(m.global_inits[1].op, TW_OP_ref_func);
  ASSERT_EQ_INT(m.global_inits[1].index, 2);

  ASSERT_EQ_INT(m.nexports, 2);
  ASSERT_EQ_STR(m.exports[0].name, "a");
  ASSERT_EQ_INT(m.exports[0].kind, TW_EXTERN_FUNC);
  ASSERT_EQ_INT(m.exports[0].index, 1);
  ASSERT_EQ_STR(m.exports[1].name, "mem");
  ASSERT_EQ_INT(m.exports[1].name_len, 3);
  ASSERT_EQ_INT(m.exports[1].kind, TW_EXTERN_MEMORY);

  ASSERT(m.has_start);
  ASSERT_EQ_INT(m.start, 1);

  ASSERT_EQ_INT(m.nelems, 2);
  ASSERT_EQ_INT(m.elems[0].mode, TW__SEG_ACTIVE);
  ASSERT_EQ_INT(m.elems[0].type, TW_FUNCREF);
  ASSERT_EQ_INT(m.elems[0].table, 0);
  ASSERT_EQ_INT(m.elems[0].offset.op, TW_OP_i32_const);
  ASSERT_EQ_U64(m.elems[0].offset.bits, 0);
  ASSERT_EQ_INT(m.elems[0].count, 1);
  ASSERT_EQ_INT(m.elems[0].items[0].op, TW_OP_ref_func);
  ASSERT_EQ_INT(m.elems[0].items[0].index, 0);
  ASSERT_EQ_INT(m.elems[1].mode, TW__SEG_DECLARATIVE);
  ASSERT_EQ_INT(m.elems[1].count, 1);
  ASSERT_EQ_INT(m.elems[1].items[0].index, 1);

  ASSERT(m.has_datacount);
  ASSERT_EQ_INT(m.datacount, 2);
  ASSERT_EQ_INT(m.ndatas, 2);
  ASSERT_EQ_INT(m.datas[0].mode, TW__SEG_ACTIVE);
  ASSERT_EQ_INT(m.datas[0].memory, 0);
  ASSERT_EQ_U64(m.datas[0].offset.bits, 8);
  ASSERT_EQ_INT(m.datas[0].len, 2);
  ASSERT_EQ_INT(m.datas[0].bytes - m.bytes, 140);
  ASSERT_EQ_INT(m.datas[1].mode, TW__SEG_PASSIVE);
  ASSERT_EQ_INT(m.datas[1].len, 3);
  ASSERT_EQ_INT(m.datas[1].bytes - m.bytes, 144);

  ASSERT_EQ_INT(m.bodies[0].nlocals, 3);
  ASSERT_EQ_INT(m.bodies[0].local_types[0], TW_I32);
  ASSERT_EQ_INT(m.bodies[0].local_types[1], TW_I32);
  ASSERT_EQ_INT(m.bodies[0].local_types[2], TW_F64);
  ASSERT_EQ_INT(m.bodies[0].offset, 126);
  ASSERT_EQ_INT(m.bodies[0].code_len, 1);
  ASSERT(m.bodies[0].code == m.bytes + 126);
  ASSERT_EQ_INT(m.bodies[1].nlocals, 0);
  ASSERT_EQ_INT(m.bodies[1].offset, 129);
  ASSERT_EQ_INT(m.bodies[1].code_len, 3);
  ASSERT_EQ_INT(m.bodies[1].code[0], TW_OP_i32_const);
  ASSERT(m.bodies[1].compiled == NULL);

  ASSERT(m.func_names[0] && m.func_names[1] && m.func_names[2]);
  ASSERT_EQ_STR(m.func_names[0], "imp");
  ASSERT_EQ_STR(m.func_names[1], "a");
  ASSERT_EQ_STR(m.func_names[2], "b");
  /* 0 by the active segment, 1 by export and declare, 2 by a global */
  ASSERT_EQ_INT(m.func_declared[0], 1);
  ASSERT_EQ_INT(m.func_declared[1], 1);
  ASSERT_EQ_INT(m.func_declared[2], 1);

  tw__module_release(&m);
  ASSERT(m.bytes == NULL && m.nfuncs == 0);
}

TEST(decode_empty_module) {
  static const uint8_t b[] = {HDR};
  tw__module m;
  tw_error e;
  ASSERT_EQ_INT(tw__module_decode(b, sizeof b, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.nfuncs, 0);
  ASSERT(!m.has_start && !m.has_datacount);
  tw__module_release(&m);
}

/* Decodes `b` and checks status, message prefix and offset. */
static void expect_bad(int *failed, const uint8_t *b, size_t n,
                       tw_status status, const char *prefix, size_t offset) {
  tw__module m;
  tw_error e;
  memset(&e, 0, sizeof e);
  tw_status s = tw__module_decode(b, n, &m, &e);
  if (s == TW_OK) tw__module_release(&m);
  ASSERT_EQ_STR(tw_status_name(s), tw_status_name(status));
  ASSERT_EQ_INT(e.status, status);
  if (strncmp(e.message, prefix, strlen(prefix)) != 0)
    TW__FAIL("message \"%s\" does not begin with \"%s\"", e.message, prefix);
  ASSERT_EQ_INT(e.offset, offset);
  /* the module is left zeroed */
  ASSERT(m.bytes == NULL && m.types == NULL && m.nfuncs == 0);
}

#define BAD(status, prefix, offset, ...)                                  \
  do {                                                                    \
    static const uint8_t b_[] = {__VA_ARGS__};                            \
    int f_ = 0;                                                           \
    expect_bad(&f_, b_, sizeof b_, TW_##status, prefix, offset);          \
    if (f_) TW__FAIL("that was the case at line %d", __LINE__);           \
  } while (0)

TEST(decode_bad_header) {
  int f_ = 0;
  expect_bad(&f_, (const uint8_t *)"", 0, TW_MALFORMED, "unexpected end", 0);
  if (f_) TW__FAIL("empty input");
  BAD(MALFORMED, "unexpected end", 3, 0x00, 0x61, 0x73);
  BAD(MALFORMED, "magic header not detected", 0, 0x00, 0x61, 0x73, 0x6e,
      0x01, 0x00, 0x00, 0x00);
  BAD(MALFORMED, "unexpected end", 6, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00);
  BAD(MALFORMED, "unknown binary version", 4, 0x00, 0x61, 0x73, 0x6d, 0x02,
      0x00, 0x00, 0x00);
}

TEST(decode_bad_sections) {
  /* section id 13 */
  BAD(MALFORMED, "malformed section id", 8, HDR, 0x0d, 0x00);
  /* section longer than the file */
  BAD(MALFORMED, "length out of bounds", 9, HDR, 0x01, 0x10, 0x00);
  /* one byte left over in the type section */
  BAD(MALFORMED, "section size mismatch", 14, HDR, 0x01, 0x05, 0x01, 0x60,
      0x00, 0x00, 0x00);
  /* function section before the type section */
  BAD(MALFORMED, "unexpected content after last section", 11, HDR, 0x03,
      0x01, 0x00, 0x01, 0x01, 0x00);
  /* two start sections */
  BAD(MALFORMED, "unexpected content after last section", 11, HDR, 0x08,
      0x01, 0x00, 0x08, 0x01, 0x00);
  /* data count before element: out of order */
  BAD(MALFORMED, "unexpected content after last section", 11, HDR, 0x0c,
      0x01, 0x00, 0x09, 0x01, 0x00);
  /* section size read past the end */
  BAD(MALFORMED, "unexpected end", 10, HDR, 0x01, 0x80);
}

TEST(decode_bad_leb) {
  /* type count 0 in six bytes: the fifth still continues */
  BAD(MALFORMED, "integer representation too long", 14, HDR, 0x01, 0x06,
      0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
  /* type count with bits above 32 set */
  BAD(MALFORMED, "integer too large", 14, HDR, 0x01, 0x05, 0x80, 0x80, 0x80,
      0x80, 0x70);
  /* i32.const with unused bits not a sign extension */
  BAD(MALFORMED, "integer too large", 18, HDR, 0x06, 0x0a, 0x01, 0x7f, 0x00,
      0x41, 0x80, 0x80, 0x80, 0x80, 0x70, 0x0b);
}

TEST(decode_bad_counts) {
  /* 0xffffffff types declared, none given: no allocation, no crash */
  BAD(MALFORMED, "unexpected end", 15, HDR, 0x01, 0x05, 0xff, 0xff, 0xff,
      0xff, 0x0f);
  /* the same in every vector that allocates */
  BAD(MALFORMED, "unexpected end", 15, HDR, 0x02, 0x05, 0xff, 0xff, 0xff,
      0xff, 0x0f);
  BAD(MALFORMED, "unexpected end", 15, HDR, 0x03, 0x05, 0xff, 0xff, 0xff,
      0xff, 0x0f);
  BAD(MALFORMED, "unexpected end", 15, HDR, 0x09, 0x05, 0xff, 0xff, 0xff,
      0xff, 0x0f);
  BAD(MALFORMED, "unexpected end", 15, HDR, 0x0b, 0x05, 0xff, 0xff, 0xff,
      0xff, 0x0f);
  /* a type with 0xffffffff parameters */
  BAD(MALFORMED, "unexpected end", 17, HDR, 0x01, 0x07, 0x01, 0x60, 0xff,
      0xff, 0xff, 0xff, 0x0f);
  /* a name longer than the file */
  BAD(MALFORMED, "length out of bounds", 11, HDR, 0x07, 0x05, 0x01, 0xff,
      0xff, 0xff, 0x0f);
  /* function and code section counts differ */
  BAD(MALFORMED, "function and code section have inconsistent lengths", 20,
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a,
      0x01, 0x00);
  /* function section and no code section */
  BAD(MALFORMED, "function and code section have inconsistent lengths", 18,
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00);
  /* data count 2, one data segment */
  BAD(MALFORMED, "data count and data section have inconsistent lengths", 13,
      HDR, 0x0c, 0x01, 0x02, 0x0b, 0x06, 0x01, 0x01, 0x03, 'a', 'b', 'c');
  /* data count 1, no data section */
  BAD(MALFORMED, "data count and data section have inconsistent lengths", 11,
      HDR, 0x0c, 0x01, 0x01);
}

TEST(decode_bad_utf8) {
  /* export name "\xff" */
  BAD(MALFORMED, "malformed UTF-8 encoding", 12, HDR, 0x07, 0x05, 0x01, 0x01,
      0xff, 0x00, 0x00);
  /* import module name with an overlong '/' (C0 AF) after "a" */
  BAD(MALFORMED, "malformed UTF-8 encoding", 13, HDR, 0x02, 0x08, 0x01, 0x03,
      'a', 0xc0, 0xaf, 0x00, 0x00, 0x00);
  /* custom section name: a surrogate (ED A0 80) */
  BAD(MALFORMED, "malformed UTF-8 encoding", 11, HDR, 0x00, 0x04, 0x03, 0xed,
      0xa0, 0x80);
  /* above U+10FFFF (F4 90 80 80) */
  BAD(MALFORMED, "malformed UTF-8 encoding", 11, HDR, 0x00, 0x05, 0x04, 0xf4,
      0x90, 0x80, 0x80);
}

TEST(decode_bad_kinds) {
  /* import kind 4 */
  BAD(MALFORMED, "malformed import kind", 15, HDR, 0x02, 0x06, 0x01, 0x01,
      'a', 0x01, 'b', 0x04, 0x00);
  /* export kind 4 */
  BAD(MALFORMED, "malformed export kind", 12, HDR, 0x07, 0x04, 0x01, 0x00,
      0x04, 0x00);
  /* global mutability 2 */
  BAD(MALFORMED, "malformed mutability", 12, HDR, 0x06, 0x06, 0x01, 0x7f,
      0x02, 0x41, 0x00, 0x0b);
  /* table of i32 */
  BAD(MALFORMED, "malformed reference type", 11, HDR, 0x04, 0x04, 0x01, 0x7f,
      0x00, 0x00);
  /* limits flag 2 */
  BAD(MALFORMED, "integer too large", 11, HDR, 0x05, 0x03, 0x01, 0x02, 0x00);
  /* element segment flags 8 */
  BAD(MALFORMED, "malformed elements segment kind", 11, HDR, 0x09, 0x02,
      0x01, 0x08);
  /* element kind 1 (flags 1 wants 0x00) */
  BAD(MALFORMED, "malformed elements segment kind", 12, HDR, 0x09, 0x04,
      0x01, 0x01, 0x01, 0x00);
  /* value type 0x40 as a parameter */
  BAD(MALFORMED, "malformed value type", 13, HDR, 0x01, 0x05, 0x01, 0x60,
      0x01, 0x40, 0x00);
  /* data segment flags 3 */
  BAD(MALFORMED, "malformed data segment kind", 11, HDR, 0x0b, 0x02, 0x01,
      0x03);
}

TEST(decode_simd_unsupported) {
  /* (func (param v128)) */
  BAD(UNSUPPORTED, "SIMD is not supported yet", 13, HDR, 0x01, 0x05, 0x01,
      0x60, 0x01, 0x7b, 0x00);
  /* a v128 global */
  BAD(UNSUPPORTED, "SIMD is not supported yet", 11, HDR, 0x06, 0x04, 0x01,
      0x7b, 0x00, 0x0b);
  /* an i32 global initialised by a 0xFD instruction */
  BAD(UNSUPPORTED, "SIMD is not supported yet", 13, HDR, 0x06, 0x06, 0x01,
      0x7f, 0x00, 0xfd, 0x0c, 0x0b);
  /* a v128 local */
  BAD(UNSUPPORTED, "SIMD is not supported yet", 24, HDR, 0x01, 0x04, 0x01,
      0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x01,
      0x01, 0x7b, 0x0b);
}

TEST(decode_bad_bodies) {
  /* type, function, then code: bodies in the tail */
#define FN1 HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00
  /* 0xffffffff + 0xffffffff locals: rejected before anything is allocated */
  BAD(MALFORMED, "too many locals", 23, FN1, 0x0a, 0x0f, 0x01, 0x0d, 0x02,
      0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f,
      0x0b);
  /* 50001 locals */
  BAD(MALFORMED, "too many locals", 23, FN1, 0x0a, 0x08, 0x01, 0x06, 0x01,
      0xd1, 0x86, 0x03, 0x7f, 0x0b);
  /* body without its final end, at the end of the file */
  BAD(MALFORMED, "unexpected end of section or function", 25, FN1, 0x0a,
      0x05, 0x01, 0x03, 0x00, 0x41, 0x01);
  /* body size past the end of the file */
  BAD(MALFORMED, "length out of bounds", 21, FN1, 0x0a, 0x04, 0x01, 0x09,
      0x00, 0x0b);
  /* locals run past the body */
  BAD(MALFORMED, "unexpected end of section or function", 23, FN1, 0x0a,
      0x04, 0x01, 0x01, 0x01, 0x7f, 0x0b);
#undef FN1
}

/* A global whose init is the bytes given, then end. */
static tw_status global_init(const uint8_t *init, size_t n, tw__module *m,
                             tw_error *e) {
  uint8_t b[64] = {HDR, 0x06, 0x00, 0x01, 0x7f, 0x00};
  if (n) memcpy(b + 13, init, n);
  b[13 + n] = 0x0b;
  b[9] = (uint8_t)(n + 4);
  return tw__module_decode(b, 14 + n, m, e);
}

TEST(decode_constexpr_shapes) {
  tw__module m;
  tw_error e;
  /* i32.const 1 i32.const 2 i32.add: decodes; not constant in 2.0 */
  static const uint8_t add[] = {0x41, 0x01, 0x41, 0x02, 0x6a};
  ASSERT_EQ_INT(global_init(add, sizeof add, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.global_inits[0].ninstr, 3);
  ASSERT(m.global_inits[0].nonconst);
  ASSERT_EQ_INT(m.global_inits[0].offset, 13);
  tw__module_release(&m);
  /* nothing before end: a validation error, not a decoding one */
  ASSERT_EQ_INT(global_init(NULL, 0, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.global_inits[0].ninstr, 0);
  tw__module_release(&m);
  /* block ... end inside: found its end by depth */
  static const uint8_t blk[] = {0x02, 0x40, 0x01, 0x0b, 0x41, 0x00};
  ASSERT_EQ_INT(global_init(blk, sizeof blk, &m, &e), TW_OK);
  ASSERT(m.global_inits[0].nonconst);
  tw__module_release(&m);
  /* memarg, 0xFC immediates and br_table are skipped */
  static const uint8_t ops[] = {0x41, 0x00, 0x28, 0x02, 0x00, 0xfc, 0x0a,
                                0x00, 0x00, 0x0e, 0x01, 0x00, 0x00};
  ASSERT_EQ_INT(global_init(ops, sizeof ops, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.global_inits[0].ninstr, 4);
  tw__module_release(&m);
  /* global.get 3, f64.const, ref.null extern */
  static const uint8_t gg[] = {0x23, 0x03};
  ASSERT_EQ_INT(global_init(gg, sizeof gg, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.global_inits[0].op, TW_OP_global_get);
  ASSERT_EQ_INT(m.global_inits[0].index, 3);
  tw__module_release(&m);
  static const uint8_t fc[] = {0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
  ASSERT_EQ_INT(global_init(fc, sizeof fc, &m, &e), TW_OK);
  ASSERT_EQ_U64(m.global_inits[0].bits, 0x3ff0000000000000ull);
  tw__module_release(&m);
  static const uint8_t rn[] = {0xd0, 0x6f};
  ASSERT_EQ_INT(global_init(rn, sizeof rn, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.global_inits[0].op, TW_OP_ref_null);
  ASSERT_EQ_INT(m.global_inits[0].reftype, TW_EXTERNREF);
  tw__module_release(&m);
  /* illegal opcode */
  static const uint8_t ill[] = {0xff};
  ASSERT_EQ_INT(global_init(ill, sizeof ill, &m, &e), TW_MALFORMED);
  ASSERT_CONTAINS(e.message, "illegal opcode");
  ASSERT_EQ_INT(e.offset, 13);
}

TEST(decode_all_element_encodings) {
  /* one table, one function; flags 0..7 each with one item */
  static const uint8_t b[] = {
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
      0x09, 0x35, 0x08,
      0x00, 0x41, 0x00, 0x0b, 0x01, 0x00,               /* 0 */
      0x01, 0x00, 0x01, 0x00,                           /* 1 */
      0x02, 0x00, 0x41, 0x01, 0x0b, 0x00, 0x01, 0x00,   /* 2 */
      0x03, 0x00, 0x01, 0x00,                           /* 3 */
      0x04, 0x41, 0x02, 0x0b, 0x01, 0xd2, 0x00, 0x0b,   /* 4 */
      0x05, 0x6f, 0x01, 0xd0, 0x6f, 0x0b,               /* 5 */
      0x06, 0x00, 0x41, 0x03, 0x0b, 0x70, 0x01, 0xd2, 0x00, 0x0b, /* 6 */
      0x07, 0x70, 0x01, 0xd2, 0x00, 0x0b,               /* 7 */
      0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  static const uint8_t modes[8] = {
      TW__SEG_ACTIVE, TW__SEG_PASSIVE, TW__SEG_ACTIVE, TW__SEG_DECLARATIVE,
      TW__SEG_ACTIVE, TW__SEG_PASSIVE, TW__SEG_ACTIVE, TW__SEG_DECLARATIVE};
  tw__module m;
  tw_error e;
  ASSERT_EQ_INT(tw__module_decode(b, sizeof b, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.nelems, 8);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ_INT(m.elems[i].mode, modes[i]);
    ASSERT_EQ_INT(m.elems[i].count, 1);
    ASSERT_EQ_INT(m.elems[i].type, i == 5 ? TW_EXTERNREF : TW_FUNCREF);
  }
  ASSERT_EQ_U64(m.elems[2].offset.bits, 1);
  ASSERT_EQ_U64(m.elems[6].offset.bits, 3);
  ASSERT_EQ_INT(m.elems[5].items[0].op, TW_OP_ref_null);
  ASSERT_EQ_INT(m.elems[7].items[0].op, TW_OP_ref_func);
  ASSERT_EQ_INT(m.func_declared[0], 1);
  tw__module_release(&m);
}

TEST(decode_undeclared_function) {
  /* two functions, only the second exported */
  static const uint8_t b[] = {
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00,
      0x07, 0x05, 0x01, 0x01, 'x', 0x00, 0x01,
      0x0a, 0x07, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b};
  tw__module m;
  tw_error e;
  ASSERT_EQ_INT(tw__module_decode(b, sizeof b, &m, &e), TW_OK);
  ASSERT_EQ_INT(m.func_declared[0], 0);
  ASSERT_EQ_INT(m.func_declared[1], 1);
  ASSERT(m.func_names[0] == NULL && m.func_names[1] == NULL);
  tw__module_release(&m);
}

TEST(decode_bad_name_section_ignored) {
  /* one function; a "name" section whose function map names function 5
     and then runs past its subsection */
  static const uint8_t b[] = {
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
      0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
      0x00, 0x0c, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x05, 0x02, 0x00, 0x01,
      'f', 0x05};
  tw__module m;
  tw_error e;
  ASSERT_EQ_INT(tw__module_decode(b, sizeof b, &m, &e), TW_OK);
  ASSERT(m.func_names[0] == NULL);
  tw__module_release(&m);
  /* bad UTF-8 in a function name: ignored too */
  static const uint8_t c[] = {
      HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
      0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
      0x00, 0x0b, 0x04, 'n', 'a', 'm', 'e', 0x01, 0x04, 0x01, 0x00, 0x01,
      0xff};
  ASSERT_EQ_INT(tw__module_decode(c, sizeof c, &m, &e), TW_OK);
  ASSERT(m.func_names[0] == NULL);
  tw__module_release(&m);
}

TEST(decode_truncated_everywhere) {
  for (size_t n = 0; n < sizeof good; n++) {
    tw__module m;
    tw_error e;
    memset(&e, 0, sizeof e);
    uint8_t *copy = malloc(n ? n : 1); /* so ASan sees reads past n */
    memcpy(copy, good, n);
    tw_status s = tw__module_decode(copy, n, &m, &e);
    free(copy);
    if (s == TW_OK) {
      tw__module_release(&m);
      if (!good_prefix_ok(n)) TW__FAIL("prefix of %zu bytes decoded", n);
    } else {
      if (good_prefix_ok(n)) TW__FAIL("prefix of %zu bytes failed", n);
      ASSERT_EQ_INT(s, TW_MALFORMED);
      ASSERT(e.offset <= n);
    }
  }
}

TEST(decode_mutations_never_crash) {
  static const uint8_t vals[] = {0x00, 0x01, 0x0b, 0x40, 0x60, 0x7f,
                                 0x80, 0xff};
  uint8_t copy[sizeof good];
  for (size_t i = 0; i < sizeof good; i++) {
    for (size_t v = 0; v < sizeof vals; v++) {
      memcpy(copy, good, sizeof good);
      copy[i] = vals[v];
      tw__module m;
      tw_error e;
      if (tw__module_decode(copy, sizeof copy, &m, &e) == TW_OK)
        tw__module_release(&m);
      else
        ASSERT(e.offset <= sizeof copy);
    }
  }
}

TEST_MAIN()
