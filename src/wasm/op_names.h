/* Names of the internal ops, for profiling output and debugging. */
#ifndef TW_WASM_OP_NAMES_H
#define TW_WASM_OP_NAMES_H

#include "wasm/code.h"

static inline const char *tw__iop_name(int op) {
  static const char *const names[TW_IOP_COUNT] = {
#define TW__NM(id) [TW_IOP_##id] = #id,
#define TW__NM2(id, n) TW__NM(id)
#define TW__W(byte, id, text, kind, a, b, r, al) TW__IOP_IF_##kind(TW__NM, id)
#define TW__C(id, t, op, inv, swp)                                          \
  TW__NM(br_##id) TW__NM(br_##id##_imm) TW__NM(id##_imm) TW__NM(br_##id##_step) \
      TW__NM(br_##id##_imm_step)
#define TW__A(id, t, expr, comm) TW__NM(id##_imm)
      TW_IOPS_CONTROL(TW__NM2) TW_WASM_OPS(TW__W) TW_WASM_FC_OPS(TW__W)
          TW_FUSE_CMPS(TW__C) TW_FUSE_ARITH(TW__A)
#define TW__WK(byte, id, text, kind, a, b, r, al) TW__IOPK_IF_##kind(TW__NM, id)
              TW_WASM_OPS(TW__WK)
#define TW__WP(byte, id, text, kind, a, b, r, al) TW__IOPPA_IF_##kind(TW__NM, id)
                  TW_WASM_OPS(TW__WP)
#undef TW__WP
#undef TW__WK
#undef TW__A
#undef TW__C
#undef TW__W
#undef TW__NM2
#undef TW__NM
  };
  return op >= 0 && op < TW_IOP_COUNT && names[op] ? names[op] : "?";
}

#endif
