/* The internal code: what compile.c produces and interp.c runs.
 *
 * A function's code is an array of 32-bit words.  Each instruction starts
 * with its handler (a label address when dispatch is computed goto, the op
 * number when it is a switch) stored in two words, followed by operands.
 * Operands are resolved at compile time: value operands are slot indices
 * relative to the frame pointer fp, immediates are inline, branch targets are
 * word offsets relative to the first word of the branching instruction.
 *
 * Frame layout: fp[0 .. nlocals) are the locals (params first); the operand
 * stack position p lives in fp[nlocals + p].  A call's arguments are the
 * caller's topmost operand slots and become the callee's fp[0 ..), so calls
 * copy nothing; results come back the same way.
 *
 * Slot encoding: i32/f32 zero-extended bit patterns, i64/f64 bit patterns,
 * references as pointers (NULL = null). */
#ifndef TW_WASM_CODE_H
#define TW_WASM_CODE_H

#include <stdio.h>

#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

#ifndef TW_COMPUTED_GOTO
#define TW_COMPUTED_GOTO 1
#endif

/* Internal operations that are not plain wasm operators: X(name, operand
 * words after the two handler words; -1 = variable).  The layout is given
 * for each. */
#define TW_IOPS_CONTROL(X)                                                   \
  X(unreachable, 0)     /* -                                                   */\
  X(copy, 2)            /* dst src                                             */\
  X(copy2, 4)           /* d1 s1 d2 s2: two copies in order                    */\
  X(const32, 2)         /* dst imm                                             */\
  X(const64, 3)         /* dst lo hi                                           */\
  X(br, 1)              /* off                                                 */\
  X(br_if, 2)           /* cond off         branch when cond != 0              */\
  X(br_unless, 2)       /* cond off         branch when cond == 0              */\
  X(br_table, -1)       /* idx n off[0..n]  off[n] is the default              */\
  X(ret, 0)             /* -                results already in fp[0..)         */\
  X(call, 2)            /* func base                                           */\
  X(call_indirect, 4)   /* typeid table base idx                               */\
  X(select, 4)          /* dst a b cond                                        */\
  X(global_get, 2)      /* dst idx                                             */\
  X(global_set, 2)      /* idx src                                             */\
  X(ref_func, 2)        /* dst idx                                             */\
  X(table_get, 3)       /* dst table idx                                       */\
  X(table_set, 3)       /* table idx val                                       */\
  X(table_size, 2)      /* dst table                                           */\
  X(table_grow, 4)      /* dst table init n                                    */\
  X(table_fill, 4)      /* table i val n                                       */\
  X(table_copy, 5)      /* dst_table src_table d s n                           */\
  X(table_init, 5)      /* table seg d s n                                     */\
  X(elem_drop, 1)       /* seg                                                 */\
  X(memory_size, 1)     /* dst                                                 */\
  X(memory_grow, 2)     /* dst delta                                           */\
  X(memory_fill, 3)     /* d val n                                             */\
  X(memory_copy, 3)     /* d s n                                               */\
  X(memory_init, 4)     /* seg d s n                                           */\
  X(data_drop, 1)       /* seg                                                 */\
  /* superinstructions, chosen by measured op-pair frequencies            */\
  X(move1, 4)           /* daddr doff saddr soff: 1-byte load feeding store   */\
  X(move2, 4)           /* the same, 2 bytes                                  */\
  X(move4, 4)           /* the same, 4 bytes                                  */\
  X(move8, 4)           /* the same, 8 bytes                                  */\
  X(move1_pa, 4)        /* d kd s ks: 1 byte from (u32)(s + ks) to (u32)(d + kd) */\
  X(move2_pa, 4)        /* the same, 2 bytes                                  */\
  X(move4_pa, 4)        /* the same, 4 bytes                                  */\
  X(move8_pa, 4)        /* the same, 8 bytes                                  */\
  X(move1_run, 6)       /* d kd s ks n step: n move1_pa in order, both k += step */\
  X(move2_run, 6)       /* the same, 2 bytes each                             */\
  X(move4_run, 6)       /* the same, 4 bytes each                             */\
  X(move8_run, 6)       /* the same, 8 bytes each                             */\
  X(i32_add_imm2, 6)    /* d1 a1 k1 d2 a2 k2: two i32.add_imm in order       */\
  X(i32_add2, 6)        /* d1 a1 b1 d2 a2 b2: two i32.add in order           */\
  X(br_i32_add_imm_nez, 4) /* d a k off: d = a + k, branch if d != 0         */\
  X(br_i32_add_imm3_nez, 10) /* d1 a1 k1 d2 a2 k2 d a k off: two adds, then   */\
                        /* br_i32_add_imm_nez (an unrolled loop's tail)     */\
  X(i32_add_shl, 4)     /* dst a b k: dst = a + (b << k)                      */\
  X(i32_or_shl_shr, 5)  /* dst a l b r: dst = (a << l) | (b >> r), unsigned   */\
  X(i32_xor_rotl_imm, 4) /* dst a x k: dst = a ^ rotl(x, k) (hash rounds)     */\
  X(i32_xor_shr_u_imm, 4) /* dst a x k: dst = a ^ (x >> k), unsigned (CRC)    */\
  X(i32_store_or_shl_shr, 7) /* p k a l b r off: i32.store at (u32)(p + k) + off */\
                        /* of (a << l) | (b >> r)                            */\
  X(i32_load_store_or_shl_shr, 11) /* dst s ks soff, then the 7 above: the   */\
                        /* load that feeds the merge (musl's unaligned copy) */\
  X(move1_run_br_add_nez, 10) /* move1_run's 6, then br_i32_add_imm_nez's 4: */\
                        /* a byte-copy loop's body and back edge             */\
  X(move1_run_br_add3_nez, 16) /* move1_run's 6, then br_i32_add_imm3_nez's  */\
  X(i32_add2_move1_run_br_add_nez, 16) /* i32_add2's 6, then the 10 above:    */\
                        /* a backward copy's address sums too               */\
  /* read-modify-write: a load, one arithmetic op on it, and a store back  */\
  /* to the same address (c[i][j] += a * b, a global counter's ++)         */\
  X(f64_add_mem, 3)     /* p x off: mem[p + off] = mem[p + off] + x (f64)   */\
  X(f64_sub_mem, 3)     /* p x off: mem[p + off] = mem[p + off] - x (f64)   */\
  X(f64_mul_mem, 3)     /* p x off: mem[p + off] = mem[p + off] * x (f64)   */\
  X(f64_muladd_mem, 4)  /* p a b off: mem[p + off] += a * b (f64, the product */\
                        /* rounded first, as the two wasm ops: no FMA)      */\
  X(f64_mulsub_mem, 4)  /* p a b off: mem[p + off] -= a * b (the same)       */\
  /* f64 arithmetic with an operand loaded just before (nbody's a - b[i]) */\
  X(f64_add_load, 4)    /* d x p off: d = x + mem[p + off] (f64)            */\
  X(f64_sub_load, 4)    /* d x p off: d = x - mem[p + off]                  */\
  X(f64_load_sub, 4)    /* d x p off: d = mem[p + off] - x                  */\
  X(f64_mul_load, 4)    /* d x p off: d = x * mem[p + off]                  */\
  X(f64_add_load_pa, 5) /* d x a k off: the same, mem at (u32)(a + k) + off */\
  X(f64_sub_load_pa, 5) /* d x a k off                                      */\
  X(f64_load_sub_pa, 5) /* d x a k off                                      */\
  X(f64_mul_load_pa, 5) /* d x a k off                                      */\
  X(i32_add_mem, 3)     /* p x off: mem[p + off] += x (i32)                  */\
  X(i64_add_mem, 3)     /* p x off: mem[p + off] += x (i64)                  */\
  X(i32_add_imm_mem, 3) /* p k off: mem[p + off] += k (i32)                  */\
  X(i64_add_imm_mem, 3) /* p k off: mem[p + off] += k (i64, k sign-extended) */\
  X(i32_add_imm_k, 2)   /* ea k: mem[ea] += k (i32), a constant address      */\
  X(i64_add_imm_k, 2)   /* ea k: mem[ea] += k (i64, k sign-extended)         */

/* Integer comparisons that fuse with a following branch or take a
 * constant operand.  X(id, type, C operator, inverse id, swapped id):
 * inverse negates the result (for `if`, which branches when false);
 * swapped exchanges the operands (for a constant on the left).
 * Generated ops: br_<id> (a b off), br_<id>_imm (a imm off), <id>_imm
 * (dst a imm), and br_<id>_step / br_<id>_imm_step (d s k, then br_<id>'s
 * or br_<id>_imm's operands): d = s + k (i32) before the compare and
 * branch, a loop's counter stepped and tested.  Float comparisons are left out: NaN makes them
 * non-invertible. */
#define TW_FUSE_CMPS(X)                                                     \
  X(i32_eq, u32, ==, i32_ne, i32_eq)                                        \
  X(i32_ne, u32, !=, i32_eq, i32_ne)                                        \
  X(i32_lt_s, s32, <, i32_ge_s, i32_gt_s)                                   \
  X(i32_lt_u, u32, <, i32_ge_u, i32_gt_u)                                   \
  X(i32_gt_s, s32, >, i32_le_s, i32_lt_s)                                   \
  X(i32_gt_u, u32, >, i32_le_u, i32_lt_u)                                   \
  X(i32_le_s, s32, <=, i32_gt_s, i32_ge_s)                                  \
  X(i32_le_u, u32, <=, i32_gt_u, i32_ge_u)                                  \
  X(i32_ge_s, s32, >=, i32_lt_s, i32_le_s)                                  \
  X(i32_ge_u, u32, >=, i32_lt_u, i32_le_u)                                  \
  X(i64_eq, u64, ==, i64_ne, i64_eq)                                        \
  X(i64_ne, u64, !=, i64_eq, i64_ne)                                        \
  X(i64_lt_s, s64, <, i64_ge_s, i64_gt_s)                                   \
  X(i64_lt_u, u64, <, i64_ge_u, i64_gt_u)                                   \
  X(i64_gt_s, s64, >, i64_le_s, i64_lt_s)                                   \
  X(i64_gt_u, u64, >, i64_le_u, i64_lt_u)                                   \
  X(i64_le_s, s64, <=, i64_gt_s, i64_ge_s)                                  \
  X(i64_le_u, u64, <=, i64_gt_u, i64_ge_u)                                  \
  X(i64_ge_s, s64, >=, i64_lt_s, i64_le_s)                                  \
  X(i64_ge_u, u64, >=, i64_lt_u, i64_le_u)

/* Integer arithmetic with a constant right operand: <id>_imm (dst a imm).
 * X(id, type, expression of a and the immediate b, commutative).  i64
 * immediates are sign-extended 32-bit values. */
#define TW_FUSE_ARITH(X)                                                    \
  X(i32_add, u32, a + b, 1)                                                 \
  X(i32_mul, u32, a * b, 1)                                                 \
  X(i32_and, u32, a & b, 1)                                                 \
  X(i32_or, u32, a | b, 1)                                                  \
  X(i32_xor, u32, a ^ b, 1)                                                 \
  X(i32_shl, u32, a << (b & 31), 0)                                         \
  X(i32_shr_s, s32, a >> (b & 31), 0)                                       \
  X(i32_shr_u, u32, a >> (b & 31), 0)                                       \
  X(i32_rotl, u32, rotl32(a, b), 0)                                         \
  X(i32_rotr, u32, rotr32(a, b), 0)                                         \
  X(i64_add, u64, a + b, 1)                                                 \
  X(i64_mul, u64, a * b, 1)                                                 \
  X(i64_and, u64, a & b, 1)                                                 \
  X(i64_or, u64, a | b, 1)                                                  \
  X(i64_xor, u64, a ^ b, 1)                                                 \
  X(i64_shl, u64, a << (b & 63), 0)                                         \
  X(i64_shr_s, s64, a >> (b & 63), 0)                                       \
  X(i64_shr_u, u64, a >> (b & 63), 0)                                       \
  X(i64_rotl, u64, rotl64(a, b), 0)                                         \
  X(i64_rotr, u64, rotr64(a, b), 0)

/* Plain wasm operators keep their names.  NUM: dst a [b].  LOAD: dst addr
 * offset.  STORE: addr val offset. */
#define TW__IOP_IF_NUM(X, id) X(id)
#define TW__IOP_IF_LOAD(X, id) X(id)
#define TW__IOP_IF_STORE(X, id) X(id)
#define TW__IOP_IF_CTRL(X, id)
/* Memory ops with a constant effective address: <id>_k.  LOAD: dst ea.
 * STORE: val ea. */
#define TW__IOPK_IF_NUM(X, id)
#define TW__IOPK_IF_LOAD(X, id) X(id##_k)
#define TW__IOPK_IF_STORE(X, id) X(id##_k)
#define TW__IOPK_IF_CTRL(X, id)
/* Memory ops whose address is a constant step from a slot (a[i - 1],
 * p->back): ea = (u32)(a + k) + offset — the add wraps at 32 bits as the
 * wasm it replaces.  LOAD: <id>_pa dst a k offset.  STORE: a k val offset. */
#define TW__IOPPA_IF_NUM(X, id)
#define TW__IOPPA_IF_LOAD(X, id) X(id##_pa)
#define TW__IOPPA_IF_STORE(X, id) X(id##_pa)
#define TW__IOPPA_IF_CTRL(X, id)

typedef enum tw__iop {
#define TW__E(id) TW_IOP_##id,
#define TW__E2(id, n) TW_IOP_##id,
#define TW__W(byte, id, text, kind, a, b, r, al) TW__IOP_IF_##kind(TW__E, id)
#define TW__WK(byte, id, text, kind, a, b, r, al) TW__IOPK_IF_##kind(TW__E, id)
#define TW__WP(byte, id, text, kind, a, b, r, al) TW__IOPPA_IF_##kind(TW__E, id)
#define TW__C(id, t, op, inv, swp) TW_IOP_br_##id, TW_IOP_br_##id##_imm, \
                                  TW_IOP_##id##_imm, TW_IOP_br_##id##_step, \
                                  TW_IOP_br_##id##_imm_step,
#define TW__A(id, t, expr, comm) TW_IOP_##id##_imm,
  TW_IOPS_CONTROL(TW__E2)
  TW_WASM_OPS(TW__W)
  TW_WASM_FC_OPS(TW__W)
  TW_FUSE_CMPS(TW__C)
  TW_FUSE_ARITH(TW__A)
  TW_WASM_OPS(TW__WK)
  TW_WASM_OPS(TW__WP)
#undef TW__A
#undef TW__C
#undef TW__WP
#undef TW__WK
#undef TW__W
#undef TW__E2
#undef TW__E
  TW_IOP_COUNT
} tw__iop;

/* Words of the instruction at pc whose op is `op` (handler included). */
uint32_t tw__iop_length(tw__iop op, const uint32_t *pc);


typedef struct tw__code {
  uint32_t *words;
  size_t nwords;
  uint32_t nparams, nresults;
  uint32_t nlocals;     /* params + declared locals */
  uint32_t frame_size;  /* slots the frame needs: locals + max stack */
} tw__code;

/* Prints a compiled function, one instruction a line (for debugging:
 * TW_DUMP_CODE=<function index> makes the compiler call it). */
void tw__code_dump(FILE *out, const tw__code *code);

/* The handler word pair for op (label address or op number). */
uint64_t tw__interp_handler(tw__iop op);

#endif
