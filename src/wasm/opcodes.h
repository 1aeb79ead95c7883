/* The WebAssembly 2.0 opcode list (without SIMD): one X-macro from which the
 * decoder, validator and compiler take names, encodings and operand types.
 *
 * X(byte, ident, "text", kind, in1, in2, out, align)
 *   kind:  CTRL    control and other special forms (handled by hand)
 *          NUM     plain operator: pops in2 (if any) then in1, pushes out
 *          LOAD    memarg; pops i32 address, pushes out; align = log2 natural
 *          STORE   memarg; pops in2 value then i32 address
 *   in1/in2/out: I32 I64 F32 F64 or NONE.
 * The 0xFC-prefixed list uses the LEB-encoded sub-opcode as `byte`. */
#ifndef TW_WASM_OPCODES_H
#define TW_WASM_OPCODES_H

#define TW_WASM_OPS(X)                                                      \
  X(0x00, unreachable, "unreachable", CTRL, NONE, NONE, NONE, 0)            \
  X(0x01, nop, "nop", CTRL, NONE, NONE, NONE, 0)                            \
  X(0x02, block, "block", CTRL, NONE, NONE, NONE, 0)                        \
  X(0x03, loop, "loop", CTRL, NONE, NONE, NONE, 0)                          \
  X(0x04, if_, "if", CTRL, NONE, NONE, NONE, 0)                             \
  X(0x05, else_, "else", CTRL, NONE, NONE, NONE, 0)                         \
  X(0x0B, end, "end", CTRL, NONE, NONE, NONE, 0)                            \
  X(0x0C, br, "br", CTRL, NONE, NONE, NONE, 0)                              \
  X(0x0D, br_if, "br_if", CTRL, NONE, NONE, NONE, 0)                        \
  X(0x0E, br_table, "br_table", CTRL, NONE, NONE, NONE, 0)                  \
  X(0x0F, return_, "return", CTRL, NONE, NONE, NONE, 0)                     \
  X(0x10, call, "call", CTRL, NONE, NONE, NONE, 0)                          \
  X(0x11, call_indirect, "call_indirect", CTRL, NONE, NONE, NONE, 0)        \
  X(0x1A, drop, "drop", CTRL, NONE, NONE, NONE, 0)                          \
  X(0x1B, select, "select", CTRL, NONE, NONE, NONE, 0)                      \
  X(0x1C, select_t, "select", CTRL, NONE, NONE, NONE, 0)                    \
  X(0x20, local_get, "local.get", CTRL, NONE, NONE, NONE, 0)                \
  X(0x21, local_set, "local.set", CTRL, NONE, NONE, NONE, 0)                \
  X(0x22, local_tee, "local.tee", CTRL, NONE, NONE, NONE, 0)                \
  X(0x23, global_get, "global.get", CTRL, NONE, NONE, NONE, 0)              \
  X(0x24, global_set, "global.set", CTRL, NONE, NONE, NONE, 0)              \
  X(0x25, table_get, "table.get", CTRL, NONE, NONE, NONE, 0)                \
  X(0x26, table_set, "table.set", CTRL, NONE, NONE, NONE, 0)                \
  X(0x28, i32_load, "i32.load", LOAD, I32, NONE, I32, 2)                    \
  X(0x29, i64_load, "i64.load", LOAD, I32, NONE, I64, 3)                    \
  X(0x2A, f32_load, "f32.load", LOAD, I32, NONE, F32, 2)                    \
  X(0x2B, f64_load, "f64.load", LOAD, I32, NONE, F64, 3)                    \
  X(0x2C, i32_load8_s, "i32.load8_s", LOAD, I32, NONE, I32, 0)              \
  X(0x2D, i32_load8_u, "i32.load8_u", LOAD, I32, NONE, I32, 0)              \
  X(0x2E, i32_load16_s, "i32.load16_s", LOAD, I32, NONE, I32, 1)            \
  X(0x2F, i32_load16_u, "i32.load16_u", LOAD, I32, NONE, I32, 1)            \
  X(0x30, i64_load8_s, "i64.load8_s", LOAD, I32, NONE, I64, 0)              \
  X(0x31, i64_load8_u, "i64.load8_u", LOAD, I32, NONE, I64, 0)              \
  X(0x32, i64_load16_s, "i64.load16_s", LOAD, I32, NONE, I64, 1)            \
  X(0x33, i64_load16_u, "i64.load16_u", LOAD, I32, NONE, I64, 1)            \
  X(0x34, i64_load32_s, "i64.load32_s", LOAD, I32, NONE, I64, 2)            \
  X(0x35, i64_load32_u, "i64.load32_u", LOAD, I32, NONE, I64, 2)            \
  X(0x36, i32_store, "i32.store", STORE, I32, I32, NONE, 2)                 \
  X(0x37, i64_store, "i64.store", STORE, I32, I64, NONE, 3)                 \
  X(0x38, f32_store, "f32.store", STORE, I32, F32, NONE, 2)                 \
  X(0x39, f64_store, "f64.store", STORE, I32, F64, NONE, 3)                 \
  X(0x3A, i32_store8, "i32.store8", STORE, I32, I32, NONE, 0)               \
  X(0x3B, i32_store16, "i32.store16", STORE, I32, I32, NONE, 1)             \
  X(0x3C, i64_store8, "i64.store8", STORE, I32, I64, NONE, 0)               \
  X(0x3D, i64_store16, "i64.store16", STORE, I32, I64, NONE, 1)             \
  X(0x3E, i64_store32, "i64.store32", STORE, I32, I64, NONE, 2)             \
  X(0x3F, memory_size, "memory.size", CTRL, NONE, NONE, NONE, 0)            \
  X(0x40, memory_grow, "memory.grow", CTRL, NONE, NONE, NONE, 0)            \
  X(0x41, i32_const, "i32.const", CTRL, NONE, NONE, NONE, 0)                \
  X(0x42, i64_const, "i64.const", CTRL, NONE, NONE, NONE, 0)                \
  X(0x43, f32_const, "f32.const", CTRL, NONE, NONE, NONE, 0)                \
  X(0x44, f64_const, "f64.const", CTRL, NONE, NONE, NONE, 0)                \
  X(0x45, i32_eqz, "i32.eqz", NUM, I32, NONE, I32, 0)                       \
  X(0x46, i32_eq, "i32.eq", NUM, I32, I32, I32, 0)                          \
  X(0x47, i32_ne, "i32.ne", NUM, I32, I32, I32, 0)                          \
  X(0x48, i32_lt_s, "i32.lt_s", NUM, I32, I32, I32, 0)                      \
  X(0x49, i32_lt_u, "i32.lt_u", NUM, I32, I32, I32, 0)                      \
  X(0x4A, i32_gt_s, "i32.gt_s", NUM, I32, I32, I32, 0)                      \
  X(0x4B, i32_gt_u, "i32.gt_u", NUM, I32, I32, I32, 0)                      \
  X(0x4C, i32_le_s, "i32.le_s", NUM, I32, I32, I32, 0)                      \
  X(0x4D, i32_le_u, "i32.le_u", NUM, I32, I32, I32, 0)                      \
  X(0x4E, i32_ge_s, "i32.ge_s", NUM, I32, I32, I32, 0)                      \
  X(0x4F, i32_ge_u, "i32.ge_u", NUM, I32, I32, I32, 0)                      \
  X(0x50, i64_eqz, "i64.eqz", NUM, I64, NONE, I32, 0)                       \
  X(0x51, i64_eq, "i64.eq", NUM, I64, I64, I32, 0)                          \
  X(0x52, i64_ne, "i64.ne", NUM, I64, I64, I32, 0)                          \
  X(0x53, i64_lt_s, "i64.lt_s", NUM, I64, I64, I32, 0)                      \
  X(0x54, i64_lt_u, "i64.lt_u", NUM, I64, I64, I32, 0)                      \
  X(0x55, i64_gt_s, "i64.gt_s", NUM, I64, I64, I32, 0)                      \
  X(0x56, i64_gt_u, "i64.gt_u", NUM, I64, I64, I32, 0)                      \
  X(0x57, i64_le_s, "i64.le_s", NUM, I64, I64, I32, 0)                      \
  X(0x58, i64_le_u, "i64.le_u", NUM, I64, I64, I32, 0)                      \
  X(0x59, i64_ge_s, "i64.ge_s", NUM, I64, I64, I32, 0)                      \
  X(0x5A, i64_ge_u, "i64.ge_u", NUM, I64, I64, I32, 0)                      \
  X(0x5B, f32_eq, "f32.eq", NUM, F32, F32, I32, 0)                          \
  X(0x5C, f32_ne, "f32.ne", NUM, F32, F32, I32, 0)                          \
  X(0x5D, f32_lt, "f32.lt", NUM, F32, F32, I32, 0)                          \
  X(0x5E, f32_gt, "f32.gt", NUM, F32, F32, I32, 0)                          \
  X(0x5F, f32_le, "f32.le", NUM, F32, F32, I32, 0)                          \
  X(0x60, f32_ge, "f32.ge", NUM, F32, F32, I32, 0)                          \
  X(0x61, f64_eq, "f64.eq", NUM, F64, F64, I32, 0)                          \
  X(0x62, f64_ne, "f64.ne", NUM, F64, F64, I32, 0)                          \
  X(0x63, f64_lt, "f64.lt", NUM, F64, F64, I32, 0)                          \
  X(0x64, f64_gt, "f64.gt", NUM, F64, F64, I32, 0)                          \
  X(0x65, f64_le, "f64.le", NUM, F64, F64, I32, 0)                          \
  X(0x66, f64_ge, "f64.ge", NUM, F64, F64, I32, 0)                          \
  X(0x67, i32_clz, "i32.clz", NUM, I32, NONE, I32, 0)                       \
  X(0x68, i32_ctz, "i32.ctz", NUM, I32, NONE, I32, 0)                       \
  X(0x69, i32_popcnt, "i32.popcnt", NUM, I32, NONE, I32, 0)                 \
  X(0x6A, i32_add, "i32.add", NUM, I32, I32, I32, 0)                        \
  X(0x6B, i32_sub, "i32.sub", NUM, I32, I32, I32, 0)                        \
  X(0x6C, i32_mul, "i32.mul", NUM, I32, I32, I32, 0)                        \
  X(0x6D, i32_div_s, "i32.div_s", NUM, I32, I32, I32, 0)                    \
  X(0x6E, i32_div_u, "i32.div_u", NUM, I32, I32, I32, 0)                    \
  X(0x6F, i32_rem_s, "i32.rem_s", NUM, I32, I32, I32, 0)                    \
  X(0x70, i32_rem_u, "i32.rem_u", NUM, I32, I32, I32, 0)                    \
  X(0x71, i32_and, "i32.and", NUM, I32, I32, I32, 0)                        \
  X(0x72, i32_or, "i32.or", NUM, I32, I32, I32, 0)                          \
  X(0x73, i32_xor, "i32.xor", NUM, I32, I32, I32, 0)                        \
  X(0x74, i32_shl, "i32.shl", NUM, I32, I32, I32, 0)                        \
  X(0x75, i32_shr_s, "i32.shr_s", NUM, I32, I32, I32, 0)                    \
  X(0x76, i32_shr_u, "i32.shr_u", NUM, I32, I32, I32, 0)                    \
  X(0x77, i32_rotl, "i32.rotl", NUM, I32, I32, I32, 0)                      \
  X(0x78, i32_rotr, "i32.rotr", NUM, I32, I32, I32, 0)                      \
  X(0x79, i64_clz, "i64.clz", NUM, I64, NONE, I64, 0)                       \
  X(0x7A, i64_ctz, "i64.ctz", NUM, I64, NONE, I64, 0)                       \
  X(0x7B, i64_popcnt, "i64.popcnt", NUM, I64, NONE, I64, 0)                 \
  X(0x7C, i64_add, "i64.add", NUM, I64, I64, I64, 0)                        \
  X(0x7D, i64_sub, "i64.sub", NUM, I64, I64, I64, 0)                        \
  X(0x7E, i64_mul, "i64.mul", NUM, I64, I64, I64, 0)                        \
  X(0x7F, i64_div_s, "i64.div_s", NUM, I64, I64, I64, 0)                    \
  X(0x80, i64_div_u, "i64.div_u", NUM, I64, I64, I64, 0)                    \
  X(0x81, i64_rem_s, "i64.rem_s", NUM, I64, I64, I64, 0)                    \
  X(0x82, i64_rem_u, "i64.rem_u", NUM, I64, I64, I64, 0)                    \
  X(0x83, i64_and, "i64.and", NUM, I64, I64, I64, 0)                        \
  X(0x84, i64_or, "i64.or", NUM, I64, I64, I64, 0)                          \
  X(0x85, i64_xor, "i64.xor", NUM, I64, I64, I64, 0)                        \
  X(0x86, i64_shl, "i64.shl", NUM, I64, I64, I64, 0)                        \
  X(0x87, i64_shr_s, "i64.shr_s", NUM, I64, I64, I64, 0)                    \
  X(0x88, i64_shr_u, "i64.shr_u", NUM, I64, I64, I64, 0)                    \
  X(0x89, i64_rotl, "i64.rotl", NUM, I64, I64, I64, 0)                      \
  X(0x8A, i64_rotr, "i64.rotr", NUM, I64, I64, I64, 0)                      \
  X(0x8B, f32_abs, "f32.abs", NUM, F32, NONE, F32, 0)                       \
  X(0x8C, f32_neg, "f32.neg", NUM, F32, NONE, F32, 0)                       \
  X(0x8D, f32_ceil, "f32.ceil", NUM, F32, NONE, F32, 0)                     \
  X(0x8E, f32_floor, "f32.floor", NUM, F32, NONE, F32, 0)                   \
  X(0x8F, f32_trunc, "f32.trunc", NUM, F32, NONE, F32, 0)                   \
  X(0x90, f32_nearest, "f32.nearest", NUM, F32, NONE, F32, 0)               \
  X(0x91, f32_sqrt, "f32.sqrt", NUM, F32, NONE, F32, 0)                     \
  X(0x92, f32_add, "f32.add", NUM, F32, F32, F32, 0)                        \
  X(0x93, f32_sub, "f32.sub", NUM, F32, F32, F32, 0)                        \
  X(0x94, f32_mul, "f32.mul", NUM, F32, F32, F32, 0)                        \
  X(0x95, f32_div, "f32.div", NUM, F32, F32, F32, 0)                        \
  X(0x96, f32_min, "f32.min", NUM, F32, F32, F32, 0)                        \
  X(0x97, f32_max, "f32.max", NUM, F32, F32, F32, 0)                        \
  X(0x98, f32_copysign, "f32.copysign", NUM, F32, F32, F32, 0)              \
  X(0x99, f64_abs, "f64.abs", NUM, F64, NONE, F64, 0)                       \
  X(0x9A, f64_neg, "f64.neg", NUM, F64, NONE, F64, 0)                       \
  X(0x9B, f64_ceil, "f64.ceil", NUM, F64, NONE, F64, 0)                     \
  X(0x9C, f64_floor, "f64.floor", NUM, F64, NONE, F64, 0)                   \
  X(0x9D, f64_trunc, "f64.trunc", NUM, F64, NONE, F64, 0)                   \
  X(0x9E, f64_nearest, "f64.nearest", NUM, F64, NONE, F64, 0)               \
  X(0x9F, f64_sqrt, "f64.sqrt", NUM, F64, NONE, F64, 0)                     \
  X(0xA0, f64_add, "f64.add", NUM, F64, F64, F64, 0)                        \
  X(0xA1, f64_sub, "f64.sub", NUM, F64, F64, F64, 0)                        \
  X(0xA2, f64_mul, "f64.mul", NUM, F64, F64, F64, 0)                        \
  X(0xA3, f64_div, "f64.div", NUM, F64, F64, F64, 0)                        \
  X(0xA4, f64_min, "f64.min", NUM, F64, F64, F64, 0)                        \
  X(0xA5, f64_max, "f64.max", NUM, F64, F64, F64, 0)                        \
  X(0xA6, f64_copysign, "f64.copysign", NUM, F64, F64, F64, 0)              \
  X(0xA7, i32_wrap_i64, "i32.wrap_i64", NUM, I64, NONE, I32, 0)             \
  X(0xA8, i32_trunc_f32_s, "i32.trunc_f32_s", NUM, F32, NONE, I32, 0)       \
  X(0xA9, i32_trunc_f32_u, "i32.trunc_f32_u", NUM, F32, NONE, I32, 0)       \
  X(0xAA, i32_trunc_f64_s, "i32.trunc_f64_s", NUM, F64, NONE, I32, 0)       \
  X(0xAB, i32_trunc_f64_u, "i32.trunc_f64_u", NUM, F64, NONE, I32, 0)       \
  X(0xAC, i64_extend_i32_s, "i64.extend_i32_s", NUM, I32, NONE, I64, 0)     \
  X(0xAD, i64_extend_i32_u, "i64.extend_i32_u", NUM, I32, NONE, I64, 0)     \
  X(0xAE, i64_trunc_f32_s, "i64.trunc_f32_s", NUM, F32, NONE, I64, 0)       \
  X(0xAF, i64_trunc_f32_u, "i64.trunc_f32_u", NUM, F32, NONE, I64, 0)       \
  X(0xB0, i64_trunc_f64_s, "i64.trunc_f64_s", NUM, F64, NONE, I64, 0)       \
  X(0xB1, i64_trunc_f64_u, "i64.trunc_f64_u", NUM, F64, NONE, I64, 0)       \
  X(0xB2, f32_convert_i32_s, "f32.convert_i32_s", NUM, I32, NONE, F32, 0)   \
  X(0xB3, f32_convert_i32_u, "f32.convert_i32_u", NUM, I32, NONE, F32, 0)   \
  X(0xB4, f32_convert_i64_s, "f32.convert_i64_s", NUM, I64, NONE, F32, 0)   \
  X(0xB5, f32_convert_i64_u, "f32.convert_i64_u", NUM, I64, NONE, F32, 0)   \
  X(0xB6, f32_demote_f64, "f32.demote_f64", NUM, F64, NONE, F32, 0)         \
  X(0xB7, f64_convert_i32_s, "f64.convert_i32_s", NUM, I32, NONE, F64, 0)   \
  X(0xB8, f64_convert_i32_u, "f64.convert_i32_u", NUM, I32, NONE, F64, 0)   \
  X(0xB9, f64_convert_i64_s, "f64.convert_i64_s", NUM, I64, NONE, F64, 0)   \
  X(0xBA, f64_convert_i64_u, "f64.convert_i64_u", NUM, I64, NONE, F64, 0)   \
  X(0xBB, f64_promote_f32, "f64.promote_f32", NUM, F32, NONE, F64, 0)       \
  X(0xBC, i32_reinterpret_f32, "i32.reinterpret_f32", NUM, F32, NONE, I32, 0) \
  X(0xBD, i64_reinterpret_f64, "i64.reinterpret_f64", NUM, F64, NONE, I64, 0) \
  X(0xBE, f32_reinterpret_i32, "f32.reinterpret_i32", NUM, I32, NONE, F32, 0) \
  X(0xBF, f64_reinterpret_i64, "f64.reinterpret_i64", NUM, I64, NONE, F64, 0) \
  X(0xC0, i32_extend8_s, "i32.extend8_s", NUM, I32, NONE, I32, 0)           \
  X(0xC1, i32_extend16_s, "i32.extend16_s", NUM, I32, NONE, I32, 0)         \
  X(0xC2, i64_extend8_s, "i64.extend8_s", NUM, I64, NONE, I64, 0)           \
  X(0xC3, i64_extend16_s, "i64.extend16_s", NUM, I64, NONE, I64, 0)         \
  X(0xC4, i64_extend32_s, "i64.extend32_s", NUM, I64, NONE, I64, 0)         \
  X(0xD0, ref_null, "ref.null", CTRL, NONE, NONE, NONE, 0)                  \
  X(0xD1, ref_is_null, "ref.is_null", CTRL, NONE, NONE, NONE, 0)            \
  X(0xD2, ref_func, "ref.func", CTRL, NONE, NONE, NONE, 0)

/* 0xFC prefix: saturating truncation, bulk memory, table operations. */
#define TW_WASM_FC_OPS(X)                                                   \
  X(0, i32_trunc_sat_f32_s, "i32.trunc_sat_f32_s", NUM, F32, NONE, I32, 0)  \
  X(1, i32_trunc_sat_f32_u, "i32.trunc_sat_f32_u", NUM, F32, NONE, I32, 0)  \
  X(2, i32_trunc_sat_f64_s, "i32.trunc_sat_f64_s", NUM, F64, NONE, I32, 0)  \
  X(3, i32_trunc_sat_f64_u, "i32.trunc_sat_f64_u", NUM, F64, NONE, I32, 0)  \
  X(4, i64_trunc_sat_f32_s, "i64.trunc_sat_f32_s", NUM, F32, NONE, I64, 0)  \
  X(5, i64_trunc_sat_f32_u, "i64.trunc_sat_f32_u", NUM, F32, NONE, I64, 0)  \
  X(6, i64_trunc_sat_f64_s, "i64.trunc_sat_f64_s", NUM, F64, NONE, I64, 0)  \
  X(7, i64_trunc_sat_f64_u, "i64.trunc_sat_f64_u", NUM, F64, NONE, I64, 0)  \
  X(8, memory_init, "memory.init", CTRL, NONE, NONE, NONE, 0)               \
  X(9, data_drop, "data.drop", CTRL, NONE, NONE, NONE, 0)                   \
  X(10, memory_copy, "memory.copy", CTRL, NONE, NONE, NONE, 0)              \
  X(11, memory_fill, "memory.fill", CTRL, NONE, NONE, NONE, 0)              \
  X(12, table_init, "table.init", CTRL, NONE, NONE, NONE, 0)                \
  X(13, elem_drop, "elem.drop", CTRL, NONE, NONE, NONE, 0)                  \
  X(14, table_copy, "table.copy", CTRL, NONE, NONE, NONE, 0)                \
  X(15, table_grow, "table.grow", CTRL, NONE, NONE, NONE, 0)                \
  X(16, table_size, "table.size", CTRL, NONE, NONE, NONE, 0)                \
  X(17, table_fill, "table.fill", CTRL, NONE, NONE, NONE, 0)

#define TW_WASM_PREFIX_FC 0xFC
#define TW_WASM_PREFIX_SIMD 0xFD

enum {
#define TW__X(byte, id, text, kind, a, b, r, al) TW_OP_##id = byte,
  TW_WASM_OPS(TW__X)
#undef TW__X
};

enum {
#define TW__X(byte, id, text, kind, a, b, r, al) TW_FC_##id = byte,
  TW_WASM_FC_OPS(TW__X)
#undef TW__X
  TW_FC_COUNT
};

#endif
