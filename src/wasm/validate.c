/* Validation of a decoded module against the WebAssembly 2.0 rules (MVP,
 * sign extension, saturating truncation, multi-value, bulk memory and
 * reference types; SIMD is reported as unsupported).
 *
 * Module-level checks follow the order of the reference interpreter
 * (valid.ml): imports and function types, globals, tables, memories, element
 * and data segments, bodies, start, exports, and "multiple memories" last.
 * Constant expressions see only the imported globals, as 2.0 specifies.
 *
 * Function bodies are checked with the spec appendix's algorithm: a value
 * stack of types and a control stack of frames.  Invariants:
 *   - vals[ctrls[i].height ..] are the operands pushed inside frame i; a pop
 *     below the innermost frame's height is an error unless that frame is
 *     unreachable, in which case it yields VT_UNKNOWN (the spec's Unknown),
 *     which matches every type;
 *   - ctrls[0] is the function's own frame; its `end` ends the body, which
 *     must then be exhausted.
 * Both stacks grow geometrically and are reused for every body, so checking
 * allocates nothing per instruction.  Immediates are read before any typing
 * check of the same instruction, so malformed encodings win over type errors
 * as they do in the spec's decode-then-validate order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

/* ---- operator table from the X-macro list ------------------------------- */

enum { K_ILLEGAL = 0, K_CTRL, K_NUM, K_LOAD, K_STORE };

#define VT_UNKNOWN 0x00 /* the spec's Unknown: only ever on the type stack */
#define T_NONE 0
#define T_I32 TW_I32
#define T_I64 TW_I64
#define T_F32 TW_F32
#define T_F64 TW_F64

typedef struct opinfo {
  uint8_t kind, in1, in2, out, align;
} opinfo;

static const opinfo k_ops[256] = {
#define TW__X(byte, id, text, kind, a, b, r, al) \
  [byte] = {K_##kind, T_##a, T_##b, T_##r, al},
    TW_WASM_OPS(TW__X)
#undef TW__X
};

static const char *const k_op_names[256] = {
#define TW__X(byte, id, text, kind, a, b, r, al) [byte] = text,
    TW_WASM_OPS(TW__X)
#undef TW__X
};

static const opinfo k_fc_ops[TW_FC_COUNT] = {
#define TW__X(byte, id, text, kind, a, b, r, al) \
  [byte] = {K_##kind, T_##a, T_##b, T_##r, al},
    TW_WASM_FC_OPS(TW__X)
#undef TW__X
};

static const char *const k_fc_names[TW_FC_COUNT] = {
#define TW__X(byte, id, text, kind, a, b, r, al) [byte] = text,
    TW_WASM_FC_OPS(TW__X)
#undef TW__X
};

/* k_self[t] == t for every value type: a one-element type sequence that
 * lives outside the (reallocated) control stack. */
static const uint8_t k_self[256] = {
    [TW_I32] = TW_I32,         [TW_I64] = TW_I64,
    [TW_F32] = TW_F32,         [TW_F64] = TW_F64,
    [TW_FUNCREF] = TW_FUNCREF, [TW_EXTERNREF] = TW_EXTERNREF,
};

static bool is_valtype(uint8_t t) {
  return t == TW_I32 || t == TW_I64 || t == TW_F32 || t == TW_F64 ||
         t == TW_FUNCREF || t == TW_EXTERNREF;
}
static bool is_reftype(uint8_t t) {
  return t == TW_FUNCREF || t == TW_EXTERNREF;
}

static const char *vt_name(uint8_t t) {
  switch (t) {
  case TW_I32: return "i32";
  case TW_I64: return "i64";
  case TW_F32: return "f32";
  case TW_F64: return "f64";
  case TW_V128: return "v128";
  case TW_FUNCREF: return "funcref";
  case TW_EXTERNREF: return "externref";
  case VT_UNKNOWN: return "a value";
  default: return "?";
  }
}

/* ---- validator state ------------------------------------------------------ */

typedef struct ctrl {
  const uint8_t *params, *results; /* into the module's types or k_self */
  uint32_t nparams, nresults;
  size_t height;                   /* value stack size at entry */
  uint8_t op;                      /* block, loop, if_, else_ */
  bool unreachable;
} ctrl;

typedef struct vctx {
  const tw__module *m;
  tw_error *err;
  uint8_t *vals;
  size_t nvals, cap_vals;
  ctrl *ctrls;
  size_t nctrls, cap_ctrls;
  uint32_t func;  /* function being checked; UINT32_MAX outside bodies */
  unsigned opc;   /* opcode being checked (0xFC00 | sub for prefixed) */
} vctx;

#define NO_FUNC UINT32_MAX
#define NO_OFFSET SIZE_MAX

static const char *op_name(unsigned opc) {
  if (opc >= 0xFC00) {
    unsigned sub = opc - 0xFC00;
    return sub < TW_FC_COUNT && k_fc_names[sub] ? k_fc_names[sub] : "0xfc op";
  }
  return k_op_names[opc & 0xFF] ? k_op_names[opc & 0xFF] : "opcode";
}

/* Fills v->err: the spec's message first, then where it happened.  Debug
 * builds add the validator line that rejected (like SQLITE_CORRUPT_BKPT). */
__attribute__((format(printf, 5, 6))) static tw_status
verr(const vctx *v, tw_status st, size_t off, int line, const char *fmt, ...) {
  char msg[TW_ERROR_MESSAGE_MAX], where[96] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = 0;
  if (v->func != NO_FUNC)
    n += (size_t)snprintf(where, sizeof where, " in function %u", v->func);
  if (off != NO_OFFSET && n < sizeof where)
    snprintf(where + n, sizeof where - n, " at offset 0x%zx", off);
#ifndef NDEBUG
  return tw__error_set(v->err, st, off, "%s%s [validate.c:%d]", msg, where,
                       line);
#else
  (void)line;
  return tw__error_set(v->err, st, off, "%s%s", msg, where);
#endif
}

#define FAIL(st, off, ...) verr(v, TW_##st, (off), __LINE__, __VA_ARGS__)

/* Runs a status expression; returns its status from the caller if not OK. */
#define TRY(expr)                             \
  do {                                        \
    tw_status try_st_ = (expr);               \
    if (TW_UNLIKELY(try_st_ != TW_OK)) return try_st_; \
  } while (0)

/* ---- reading immediates ---------------------------------------------------- */

/* Explains why a LEB128 of `bits` bits at `at` did not read. */
static tw_status leb_error(const vctx *v, const tw__reader *r,
                           const uint8_t *at, unsigned bits) {
  size_t off = r->base + (size_t)(at - r->start);
  unsigned max = (bits + 6) / 7;
  for (unsigned i = 0; i < max; i++) {
    if (at + i >= r->end)
      return FAIL(MALFORMED, off, "unexpected end of section or function");
    if (!(at[i] & 0x80))
      return FAIL(MALFORMED, off, "integer too large");
  }
  return FAIL(MALFORMED, off, "integer representation too long");
}

static tw_status rd_u32(const vctx *v, tw__reader *r, uint32_t *out) {
  const uint8_t *at = r->p;
  if (TW_LIKELY(tw__read_u32(r, out))) return TW_OK;
  return leb_error(v, r, at, 32);
}

static tw_status rd_u8(const vctx *v, tw__reader *r, uint8_t *out) {
  if (TW_LIKELY(tw__read_u8(r, out))) return TW_OK;
  return FAIL(MALFORMED, tw__reader_offset(r),
              "unexpected end of section or function");
}

static tw_status rd_zero(const vctx *v, tw__reader *r) {
  size_t off = tw__reader_offset(r);
  uint8_t b;
  TRY(rd_u8(v, r, &b));
  if (b != 0) return FAIL(MALFORMED, off, "zero byte expected");
  return TW_OK;
}

static tw_status skip_bytes(const vctx *v, tw__reader *r, size_t n) {
  if ((size_t)(r->end - r->p) < n)
    return FAIL(MALFORMED, tw__reader_offset(r),
                "unexpected end of section or function");
  r->p += n;
  return TW_OK;
}

/* ---- the type and control stacks ------------------------------------------ */

static tw_status grow_vals(vctx *v, size_t n) {
  size_t cap = v->cap_vals ? v->cap_vals : 256;
  while (cap - v->nvals < n) {
    if (cap > SIZE_MAX / 2) return FAIL(NOMEM, NO_OFFSET, "out of memory");
    cap *= 2;
  }
  uint8_t *p = realloc(v->vals, cap);
  if (!p) return FAIL(NOMEM, NO_OFFSET, "out of memory");
  v->vals = p;
  v->cap_vals = cap;
  return TW_OK;
}

static inline tw_status reserve_vals(vctx *v, size_t n) {
  if (TW_LIKELY(v->cap_vals - v->nvals >= n)) return TW_OK;
  return grow_vals(v, n);
}

/* Callers reserve first; every instruction reserves one slot up front. */
static inline void push(vctx *v, uint8_t t) { v->vals[v->nvals++] = t; }

static tw_status push_vals(vctx *v, const uint8_t *ts, uint32_t n) {
  TRY(reserve_vals(v, n));
  if (n) memcpy(v->vals + v->nvals, ts, n);
  v->nvals += n;
  return TW_OK;
}

static tw_status mismatch(const vctx *v, size_t off, uint8_t expect,
                          const char *got) {
  return FAIL(INVALID, off, "type mismatch: %s expects %s but the stack has %s",
              op_name(v->opc), vt_name(expect), got);
}

static tw_status pop_slow(vctx *v, size_t off, uint8_t expect, uint8_t *out) {
  ctrl *c = &v->ctrls[v->nctrls - 1];
  if (v->nvals == c->height) {
    if (c->unreachable) {
      if (out) *out = VT_UNKNOWN;
      return TW_OK;
    }
    return mismatch(v, off, expect, "nothing");
  }
  uint8_t actual = v->vals[--v->nvals];
  if (actual != expect && actual != VT_UNKNOWN && expect != VT_UNKNOWN)
    return mismatch(v, off, expect, vt_name(actual));
  if (out) *out = actual;
  return TW_OK;
}

/* Pops one operand of type `expect` (VT_UNKNOWN: any); *out (may be NULL)
 * gets the actual type. */
static inline tw_status pop(vctx *v, size_t off, uint8_t expect,
                            uint8_t *out) {
  const ctrl *c = &v->ctrls[v->nctrls - 1];
  if (TW_LIKELY(v->nvals > c->height)) {
    uint8_t actual = v->vals[v->nvals - 1];
    if (TW_LIKELY(actual == expect)) {
      v->nvals--;
      if (out) *out = actual;
      return TW_OK;
    }
  }
  return pop_slow(v, off, expect, out);
}

static tw_status pop_vals(vctx *v, size_t off, const uint8_t *ts, uint32_t n) {
  for (uint32_t i = n; i-- > 0;) TRY(pop(v, off, ts[i], NULL));
  return TW_OK;
}

/* pop_vals then push back what was popped, as br_table does per target.  In
 * place: an unreachable frame's missing operands stay virtual, and popping
 * them again yields Unknown just as materialised Unknowns would. */
static tw_status peek_vals(vctx *v, size_t off, const uint8_t *ts,
                           uint32_t n) {
  const ctrl *c = &v->ctrls[v->nctrls - 1];
  size_t avail = v->nvals - c->height;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t expect = ts[n - 1 - i];
    if (i >= avail) {
      if (c->unreachable) break;
      return mismatch(v, off, expect, "nothing");
    }
    uint8_t actual = v->vals[v->nvals - 1 - i];
    if (actual != expect && actual != VT_UNKNOWN)
      return mismatch(v, off, expect, vt_name(actual));
  }
  return TW_OK;
}

static tw_status push_ctrl(vctx *v, uint8_t op, const uint8_t *params,
                           uint32_t np, const uint8_t *results,
                           uint32_t nr) {
  if (v->nctrls == v->cap_ctrls) {
    size_t cap = v->cap_ctrls ? v->cap_ctrls * 2 : 32;
    if (cap > SIZE_MAX / sizeof(ctrl))
      return FAIL(NOMEM, NO_OFFSET, "out of memory");
    ctrl *p = realloc(v->ctrls, cap * sizeof(ctrl));
    if (!p) return FAIL(NOMEM, NO_OFFSET, "out of memory");
    v->ctrls = p;
    v->cap_ctrls = cap;
  }
  v->ctrls[v->nctrls++] = (ctrl){params, results, np,    nr,
                                 v->nvals, op,     false};
  return push_vals(v, params, np);
}

static tw_status pop_ctrl(vctx *v, size_t off, ctrl *out) {
  const ctrl *c = &v->ctrls[v->nctrls - 1];
  TRY(pop_vals(v, off, c->results, c->nresults));
  if (v->nvals != c->height)
    return FAIL(INVALID, off,
                "type mismatch: %zu value(s) left on the stack at the end of "
                "a block",
                v->nvals - c->height);
  *out = *c;
  v->nctrls--;
  return TW_OK;
}

static void set_unreachable(vctx *v) {
  ctrl *c = &v->ctrls[v->nctrls - 1];
  v->nvals = c->height;
  c->unreachable = true;
}

static void label_types(const ctrl *c, const uint8_t **ts, uint32_t *n) {
  if (c->op == TW_OP_loop) {
    *ts = c->params;
    *n = c->nparams;
  } else {
    *ts = c->results;
    *n = c->nresults;
  }
}

static tw_status get_label(const vctx *v, size_t off, uint32_t depth,
                           const ctrl **out) {
  if (depth >= v->nctrls)
    return FAIL(INVALID, off, "unknown label %u", depth);
  *out = &v->ctrls[v->nctrls - 1 - depth];
  return TW_OK;
}

/* ---- instruction groups ---------------------------------------------------- */

typedef struct blocktype {
  const uint8_t *params, *results;
  uint32_t np, nr;
} blocktype;

static tw_status read_blocktype(const vctx *v, tw__reader *r, size_t op_off,
                                blocktype *bt) {
  size_t off = tw__reader_offset(r);
  *bt = (blocktype){NULL, NULL, 0, 0};
  if (r->p >= r->end)
    return FAIL(MALFORMED, off, "unexpected end of section or function");
  uint8_t b = *r->p;
  if (b == 0x40) {
    r->p++;
    return TW_OK;
  }
  if (is_valtype(b)) {
    r->p++;
    bt->results = &k_self[b];
    bt->nr = 1;
    return TW_OK;
  }
  if (b == TW_V128)
    return FAIL(UNSUPPORTED, off, "SIMD is not supported yet");
  int64_t x;
  const uint8_t *at = r->p;
  if (!tw__read_s33(r, &x)) return leb_error(v, r, at, 33);
  if (x < 0) return FAIL(MALFORMED, off, "malformed value type");
  if ((uint64_t)x >= v->m->ntypes)
    return FAIL(INVALID, op_off, "unknown type %lld", (long long)x);
  const tw__functype *ft = &v->m->types[x];
  bt->params = ft->types;
  bt->np = ft->nparams;
  bt->results = ft->types + ft->nparams;
  bt->nr = ft->nresults;
  return TW_OK;
}

static bool same_types(const uint8_t *a, uint32_t na, const uint8_t *b,
                       uint32_t nb) {
  return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static tw_status check_br_table(vctx *v, tw__reader *r, size_t off) {
  uint32_t n, depth, deflt = 0;
  TRY(rd_u32(v, r, &n));
  tw__reader labels = *r;
  for (uint64_t i = 0; i <= n; i++) TRY(rd_u32(v, r, &deflt));
  TRY(pop(v, off, TW_I32, NULL));
  const ctrl *d = NULL;
  const uint8_t *dts, *ts;
  uint32_t dn, tn;
  TRY(get_label(v, off, deflt, &d));
  label_types(d, &dts, &dn);
  for (uint32_t i = 0; i < n; i++) {
    const ctrl *c = NULL;
    TRY(rd_u32(v, &labels, &depth));
    TRY(get_label(v, off, depth, &c));
    label_types(c, &ts, &tn);
    if (tn != dn)
      return FAIL(INVALID, off,
                  "type mismatch: br_table target %u has %u value(s), the "
                  "default has %u",
                  depth, tn, dn);
    TRY(peek_vals(v, off, ts, tn));
  }
  TRY(pop_vals(v, off, dts, dn));
  set_unreachable(v);
  return TW_OK;
}

static tw_status check_call_indirect(vctx *v, tw__reader *r, size_t off) {
  const tw__module *m = v->m;
  uint32_t ti, tab;
  TRY(rd_u32(v, r, &ti));
  TRY(rd_u32(v, r, &tab));
  if (tab >= m->ntables) return FAIL(INVALID, off, "unknown table %u", tab);
  if (ti >= m->ntypes) return FAIL(INVALID, off, "unknown type %u", ti);
  if (m->tables[tab].elem != TW_FUNCREF)
    return FAIL(INVALID, off,
                "type mismatch: call_indirect needs a table of funcref");
  const tw__functype *ft = &m->types[ti];
  TRY(pop(v, off, TW_I32, NULL));
  TRY(pop_vals(v, off, ft->types, ft->nparams));
  return push_vals(v, ft->types + ft->nparams, ft->nresults);
}

static tw_status check_select(vctx *v, tw__reader *r, size_t off,
                              uint8_t op) {
  uint8_t t1, t2;
  if (op == TW_OP_select_t) {
    uint32_t n;
    uint8_t t = 0;
    TRY(rd_u32(v, r, &n));
    for (uint32_t i = 0; i < n; i++) {
      size_t toff = tw__reader_offset(r);
      TRY(rd_u8(v, r, &t));
      if (t == TW_V128)
        return FAIL(UNSUPPORTED, toff, "SIMD is not supported yet");
      if (!is_valtype(t)) return FAIL(MALFORMED, toff, "malformed value type");
    }
    if (n != 1) return FAIL(INVALID, off, "invalid result arity");
    TRY(pop(v, off, TW_I32, NULL));
    TRY(pop(v, off, t, NULL));
    TRY(pop(v, off, t, NULL));
    push(v, t);
    return TW_OK;
  }
  TRY(pop(v, off, TW_I32, NULL));
  TRY(pop(v, off, VT_UNKNOWN, &t1));
  TRY(pop(v, off, VT_UNKNOWN, &t2));
  if (is_reftype(t1) || is_reftype(t2))
    return FAIL(INVALID, off,
                "type mismatch: select without a type needs numeric operands");
  if (t1 != t2 && t1 != VT_UNKNOWN && t2 != VT_UNKNOWN)
    return FAIL(INVALID, off, "type mismatch: select operands %s and %s",
                vt_name(t2), vt_name(t1));
  push(v, t1 == VT_UNKNOWN ? t2 : t1);
  return TW_OK;
}

/* Structured control, branches, calls, parametric ops. */
static tw_status check_control(vctx *v, tw__reader *r, size_t off,
                               uint8_t op) {
  const tw__module *m = v->m;
  blocktype bt;
  ctrl f;
  const ctrl *c = NULL;
  const uint8_t *ts;
  uint32_t n, x;
  switch (op) {
  case TW_OP_unreachable:
    set_unreachable(v);
    return TW_OK;
  case TW_OP_nop:
    return TW_OK;
  case TW_OP_block:
  case TW_OP_loop:
    TRY(read_blocktype(v, r, off, &bt));
    TRY(pop_vals(v, off, bt.params, bt.np));
    return push_ctrl(v, op, bt.params, bt.np, bt.results, bt.nr);
  case TW_OP_if_:
    TRY(read_blocktype(v, r, off, &bt));
    TRY(pop(v, off, TW_I32, NULL));
    TRY(pop_vals(v, off, bt.params, bt.np));
    return push_ctrl(v, op, bt.params, bt.np, bt.results, bt.nr);
  case TW_OP_else_:
    if (v->ctrls[v->nctrls - 1].op != TW_OP_if_ || v->nctrls == 1)
      return FAIL(MALFORMED, off, "END opcode expected (else without if)");
    TRY(pop_ctrl(v, off, &f));
    return push_ctrl(v, TW_OP_else_, f.params, f.nparams, f.results,
                     f.nresults);
  case TW_OP_end:
    TRY(pop_ctrl(v, off, &f));
    if (f.op == TW_OP_if_ &&
        !same_types(f.params, f.nparams, f.results, f.nresults))
      return FAIL(INVALID, off,
                  "type mismatch: if without else must return its "
                  "parameters");
    if (v->nctrls == 0) return TW_OK; /* the function's own end */
    return push_vals(v, f.results, f.nresults);
  case TW_OP_br:
  case TW_OP_br_if:
    TRY(rd_u32(v, r, &x));
    if (op == TW_OP_br_if) TRY(pop(v, off, TW_I32, NULL));
    TRY(get_label(v, off, x, &c));
    label_types(c, &ts, &n);
    TRY(pop_vals(v, off, ts, n));
    if (op == TW_OP_br_if) return push_vals(v, ts, n);
    set_unreachable(v);
    return TW_OK;
  case TW_OP_br_table:
    return check_br_table(v, r, off);
  case TW_OP_return_:
    TRY(pop_vals(v, off, v->ctrls[0].results, v->ctrls[0].nresults));
    set_unreachable(v);
    return TW_OK;
  case TW_OP_call: {
    TRY(rd_u32(v, r, &x));
    if (x >= m->nfuncs) return FAIL(INVALID, off, "unknown function %u", x);
    const tw__functype *ft = &m->types[m->func_types[x]];
    TRY(pop_vals(v, off, ft->types, ft->nparams));
    return push_vals(v, ft->types + ft->nparams, ft->nresults);
  }
  case TW_OP_call_indirect:
    return check_call_indirect(v, r, off);
  case TW_OP_drop:
    return pop(v, off, VT_UNKNOWN, NULL);
  case TW_OP_select:
  case TW_OP_select_t:
    return check_select(v, r, off, op);
  default:
    break;
  }
  return FAIL(MALFORMED, off, "illegal opcode 0x%02x", op);
}

static tw_status need_memory(const vctx *v, size_t off) {
  if (v->m->nmems == 0) return FAIL(INVALID, off, "unknown memory 0");
  return TW_OK;
}

static tw_status need_table(const vctx *v, size_t off, uint32_t x) {
  if (x >= v->m->ntables) return FAIL(INVALID, off, "unknown table %u", x);
  return TW_OK;
}

static tw_status need_datacount(const vctx *v, size_t off) {
  if (!v->m->has_datacount)
    return FAIL(MALFORMED, off, "data count section required");
  return TW_OK;
}

static tw_status need_data(const vctx *v, size_t off, uint32_t x) {
  if (x >= v->m->datacount)
    return FAIL(INVALID, off, "unknown data segment %u", x);
  return TW_OK;
}

static tw_status need_elem(const vctx *v, size_t off, uint32_t x) {
  if (x >= v->m->nelems)
    return FAIL(INVALID, off, "unknown elem segment %u", x);
  return TW_OK;
}

static tw_status pop_i32s(vctx *v, size_t off, int k) {
  for (int i = 0; i < k; i++) TRY(pop(v, off, TW_I32, NULL));
  return TW_OK;
}

/* The 0xFC prefix: saturating truncation, bulk memory, table ops. */
static tw_status check_fc(vctx *v, tw__reader *r, size_t off) {
  const tw__module *m = v->m;
  uint32_t sub, x, y;
  uint8_t t;
  TRY(rd_u32(v, r, &sub));
  v->opc = 0xFC00u | (sub < TW_FC_COUNT ? sub : 0xFFu);
  if (sub >= TW_FC_COUNT)
    return FAIL(MALFORMED, off, "illegal opcode 0xfc %u", sub);
  const opinfo *oi = &k_fc_ops[sub];
  if (oi->kind == K_NUM) {
    TRY(pop(v, off, oi->in1, NULL));
    push(v, oi->out);
    return TW_OK;
  }
  switch (sub) {
  case TW_FC_memory_init:
    TRY(rd_u32(v, r, &x));
    TRY(rd_zero(v, r));
    TRY(need_datacount(v, off)); /* malformedness first */
    TRY(need_memory(v, off));
    TRY(need_data(v, off, x));
    return pop_i32s(v, off, 3);
  case TW_FC_data_drop:
    TRY(rd_u32(v, r, &x));
    TRY(need_datacount(v, off));
    return need_data(v, off, x);
  case TW_FC_memory_copy:
    TRY(rd_zero(v, r));
    TRY(rd_zero(v, r));
    TRY(need_memory(v, off));
    return pop_i32s(v, off, 3);
  case TW_FC_memory_fill:
    TRY(rd_zero(v, r));
    TRY(need_memory(v, off));
    return pop_i32s(v, off, 3);
  case TW_FC_table_init:
    TRY(rd_u32(v, r, &x));
    TRY(rd_u32(v, r, &y));
    TRY(need_table(v, off, y));
    TRY(need_elem(v, off, x));
    if (m->elems[x].type != m->tables[y].elem)
      return FAIL(INVALID, off, "type mismatch: table.init of %s into %s",
                  vt_name(m->elems[x].type), vt_name(m->tables[y].elem));
    return pop_i32s(v, off, 3);
  case TW_FC_elem_drop:
    TRY(rd_u32(v, r, &x));
    return need_elem(v, off, x);
  case TW_FC_table_copy:
    TRY(rd_u32(v, r, &x));
    TRY(rd_u32(v, r, &y));
    TRY(need_table(v, off, x));
    TRY(need_table(v, off, y));
    if (m->tables[x].elem != m->tables[y].elem)
      return FAIL(INVALID, off, "type mismatch: table.copy from %s to %s",
                  vt_name(m->tables[y].elem), vt_name(m->tables[x].elem));
    return pop_i32s(v, off, 3);
  case TW_FC_table_grow:
    TRY(rd_u32(v, r, &x));
    TRY(need_table(v, off, x));
    t = m->tables[x].elem;
    TRY(pop(v, off, TW_I32, NULL));
    TRY(pop(v, off, t, NULL));
    push(v, TW_I32);
    return TW_OK;
  case TW_FC_table_size:
    TRY(rd_u32(v, r, &x));
    TRY(need_table(v, off, x));
    push(v, TW_I32);
    return TW_OK;
  case TW_FC_table_fill:
    TRY(rd_u32(v, r, &x));
    TRY(need_table(v, off, x));
    t = m->tables[x].elem;
    TRY(pop(v, off, TW_I32, NULL));
    TRY(pop(v, off, t, NULL));
    return pop(v, off, TW_I32, NULL);
  default:
    return FAIL(MALFORMED, off, "illegal opcode 0xfc %u", sub);
  }
}

static tw_status local_type(const vctx *v, const tw__functype *ft,
                            const tw__body *b, size_t off, uint32_t x,
                            uint8_t *t) {
  if (x < ft->nparams) {
    *t = ft->types[x];
    return TW_OK;
  }
  if ((uint64_t)x - ft->nparams < b->nlocals) {
    *t = b->local_types[x - ft->nparams];
    return TW_OK;
  }
  return FAIL(INVALID, off, "unknown local %u", x);
}

/* Variables, tables, memory size/grow, constants and references. */
static tw_status check_access(vctx *v, tw__reader *r, size_t off, uint8_t op,
                              const tw__functype *ft, const tw__body *b) {
  const tw__module *m = v->m;
  const uint8_t *at = r->p; /* first immediate */
  uint32_t x;
  uint8_t t;
  int32_t i32;
  int64_t i64;
  switch (op) {
  case TW_OP_local_get:
  case TW_OP_local_set:
  case TW_OP_local_tee:
    TRY(rd_u32(v, r, &x));
    TRY(local_type(v, ft, b, off, x, &t));
    if (op != TW_OP_local_get) TRY(pop(v, off, t, NULL));
    if (op != TW_OP_local_set) push(v, t);
    return TW_OK;
  case TW_OP_global_get:
  case TW_OP_global_set:
    TRY(rd_u32(v, r, &x));
    if (x >= m->nglobals) return FAIL(INVALID, off, "unknown global %u", x);
    t = m->globals[x].type;
    if (op == TW_OP_global_get) {
      push(v, t);
      return TW_OK;
    }
    if (!m->globals[x].mut)
      return FAIL(INVALID, off, "global is immutable: global %u", x);
    return pop(v, off, t, NULL);
  case TW_OP_table_get:
  case TW_OP_table_set:
    TRY(rd_u32(v, r, &x));
    TRY(need_table(v, off, x));
    t = m->tables[x].elem;
    if (op == TW_OP_table_set) TRY(pop(v, off, t, NULL));
    TRY(pop(v, off, TW_I32, NULL));
    if (op == TW_OP_table_get) push(v, t);
    return TW_OK;
  case TW_OP_memory_size:
  case TW_OP_memory_grow:
    TRY(rd_zero(v, r));
    TRY(need_memory(v, off));
    if (op == TW_OP_memory_grow) TRY(pop(v, off, TW_I32, NULL));
    push(v, TW_I32);
    return TW_OK;
  case TW_OP_i32_const:
    if (!tw__read_s32(r, &i32)) return leb_error(v, r, at, 32);
    push(v, TW_I32);
    return TW_OK;
  case TW_OP_i64_const:
    if (!tw__read_s64(r, &i64)) return leb_error(v, r, at, 64);
    push(v, TW_I64);
    return TW_OK;
  case TW_OP_f32_const:
    TRY(skip_bytes(v, r, 4));
    push(v, TW_F32);
    return TW_OK;
  case TW_OP_f64_const:
    TRY(skip_bytes(v, r, 8));
    push(v, TW_F64);
    return TW_OK;
  case TW_OP_ref_null: {
    size_t toff = tw__reader_offset(r);
    TRY(rd_u8(v, r, &t));
    if (t == TW_V128) return FAIL(UNSUPPORTED, toff, "SIMD is not supported yet");
    if (!is_reftype(t))
      return FAIL(MALFORMED, toff, "malformed reference type");
    push(v, t);
    return TW_OK;
  }
  case TW_OP_ref_is_null:
    TRY(pop(v, off, VT_UNKNOWN, &t));
    if (t != VT_UNKNOWN && !is_reftype(t))
      return mismatch(v, off, TW_FUNCREF, vt_name(t));
    push(v, TW_I32);
    return TW_OK;
  case TW_OP_ref_func:
    TRY(rd_u32(v, r, &x));
    if (x >= m->nfuncs) return FAIL(INVALID, off, "unknown function %u", x);
    if (!m->func_declared || !m->func_declared[x])
      return FAIL(INVALID, off, "undeclared function reference %u", x);
    push(v, TW_FUNCREF);
    return TW_OK;
  default:
    return check_control(v, r, off, op);
  }
}

static tw_status check_memarg(vctx *v, tw__reader *r, size_t off,
                              const opinfo *oi) {
  uint32_t align, offset;
  TRY(rd_u32(v, r, &align));
  TRY(rd_u32(v, r, &offset));
  TRY(need_memory(v, off));
  if (align > oi->align)
    return FAIL(INVALID, off,
                "alignment must not be larger than natural: %s with 2**%u",
                op_name(v->opc), align);
  return TW_OK;
}

static tw_status check_body(vctx *v, uint32_t fi) {
  const tw__module *m = v->m;
  const tw__body *b = &m->bodies[fi - m->nfunc_imports];
  const tw__functype *ft = &m->types[m->func_types[fi]];
  tw__reader r = {b->code, b->code + b->code_len, b->code, b->offset};
  v->func = fi;
  v->nvals = 0;
  v->nctrls = 0;
  for (uint32_t i = 0; i < b->nlocals; i++)
    if (b->local_types[i] == TW_V128)
      return FAIL(UNSUPPORTED, b->offset, "SIMD is not supported yet");
  TRY(push_ctrl(v, TW_OP_block, NULL, 0, ft->types + ft->nparams,
                ft->nresults));
  while (v->nctrls > 0) {
    if (TW_UNLIKELY(r.p >= r.end)) /* an inner block is still open */
      return FAIL(MALFORMED, tw__reader_offset(&r),
                  "unexpected end of section or function");
    size_t off = tw__reader_offset(&r);
    uint8_t op = *r.p++;
    const opinfo *oi = &k_ops[op];
    v->opc = op;
    TRY(reserve_vals(v, 1)); /* every single push below has its slot */
    switch (oi->kind) {
    case K_NUM:
      /* The common case inline: most bodies are mostly numeric ops. */
      if (oi->in2) TRY(pop(v, off, oi->in2, NULL));
      TRY(pop(v, off, oi->in1, NULL));
      push(v, oi->out);
      break;
    case K_LOAD:
      TRY(check_memarg(v, &r, off, oi));
      TRY(pop(v, off, TW_I32, NULL));
      push(v, oi->out);
      break;
    case K_STORE:
      TRY(check_memarg(v, &r, off, oi));
      TRY(pop(v, off, oi->in2, NULL));
      TRY(pop(v, off, TW_I32, NULL));
      break;
    case K_CTRL:
      TRY(check_access(v, &r, off, op, ft, b));
      break;
    default:
      if (op == TW_WASM_PREFIX_FC) {
        TRY(check_fc(v, &r, off));
        break;
      }
      if (op == TW_WASM_PREFIX_SIMD)
        return FAIL(UNSUPPORTED, off, "SIMD is not supported yet");
      return FAIL(MALFORMED, off, "illegal opcode 0x%02x", op);
    }
  }
  if (r.p != r.end)
    return FAIL(MALFORMED, tw__reader_offset(&r),
                "section size mismatch: bytes after the function's end");
  return TW_OK;
}

/* ---- decoding alone ----------------------------------------------------------- */

/* Reads one body's instructions without typing them and reports only what
 * the spec's decoder rejects.  The spec decodes a whole module before it
 * validates anything, so after a typing error this finds the malformed
 * encoding that must win over it (e.g. a br_table whose count is too small
 * makes later bytes decode as nonsense). */
static tw_status scan_body(const vctx *v, const tw__body *b) {
  tw__reader rr = {b->code, b->code + b->code_len, b->code, b->offset};
  tw__reader *r = &rr;
  size_t depth = 1;
  uint32_t x, n;
  int32_t i32;
  int64_t i64;
  uint8_t t;
  while (depth > 0) {
    size_t off = tw__reader_offset(r);
    if (r->p >= r->end)
      return FAIL(MALFORMED, off, "unexpected end of section or function");
    const uint8_t *at = r->p + 1;
    uint8_t op = *r->p++;
    switch (op) {
    case TW_OP_block:
    case TW_OP_loop:
    case TW_OP_if_:
      if (r->p >= r->end) return FAIL(MALFORMED, off, "END opcode expected");
      if (*r->p == 0x40 || is_valtype(*r->p) || *r->p == TW_V128) {
        r->p++;
      } else {
        if (!tw__read_s33(r, &i64)) return leb_error(v, r, at, 33);
        if (i64 < 0) return FAIL(MALFORMED, off, "malformed value type");
      }
      depth++;
      break;
    case TW_OP_end: depth--; break;
    case TW_OP_br: case TW_OP_br_if: case TW_OP_call:
    case TW_OP_local_get: case TW_OP_local_set: case TW_OP_local_tee:
    case TW_OP_global_get: case TW_OP_global_set:
    case TW_OP_table_get: case TW_OP_table_set: case TW_OP_ref_func:
      TRY(rd_u32(v, r, &x));
      break;
    case TW_OP_br_table:
      TRY(rd_u32(v, r, &n));
      for (uint64_t i = 0; i <= n; i++) TRY(rd_u32(v, r, &x));
      break;
    case TW_OP_call_indirect:
      TRY(rd_u32(v, r, &x));
      TRY(rd_u32(v, r, &x));
      break;
    case TW_OP_select_t:
      TRY(rd_u32(v, r, &n));
      for (uint32_t i = 0; i < n; i++) {
        TRY(rd_u8(v, r, &t));
        if (!is_valtype(t) && t != TW_V128)
          return FAIL(MALFORMED, off, "malformed value type");
      }
      break;
    case TW_OP_memory_size: case TW_OP_memory_grow: TRY(rd_zero(v, r)); break;
    case TW_OP_i32_const:
      if (!tw__read_s32(r, &i32)) return leb_error(v, r, at, 32);
      break;
    case TW_OP_i64_const:
      if (!tw__read_s64(r, &i64)) return leb_error(v, r, at, 64);
      break;
    case TW_OP_f32_const: TRY(skip_bytes(v, r, 4)); break;
    case TW_OP_f64_const: TRY(skip_bytes(v, r, 8)); break;
    case TW_OP_ref_null:
      TRY(rd_u8(v, r, &t));
      if (!is_reftype(t)) return FAIL(MALFORMED, off, "malformed reference type");
      break;
    case TW_WASM_PREFIX_FC:
      TRY(rd_u32(v, r, &x));
      if (x >= TW_FC_COUNT) return FAIL(MALFORMED, off, "illegal opcode 0xfc %u", x);
      if (x == TW_FC_memory_init || x == TW_FC_data_drop) {
        TRY(rd_u32(v, r, &n));
        TRY(need_datacount(v, off));
        if (x == TW_FC_memory_init) TRY(rd_zero(v, r));
      } else if (x == TW_FC_memory_copy) {
        TRY(rd_zero(v, r));
        TRY(rd_zero(v, r));
      } else if (x == TW_FC_memory_fill) {
        TRY(rd_zero(v, r));
      } else if (x == TW_FC_table_init || x == TW_FC_table_copy) {
        TRY(rd_u32(v, r, &n));
        TRY(rd_u32(v, r, &n));
      } else if (x >= TW_FC_elem_drop) {
        TRY(rd_u32(v, r, &n));
      }
      break;
    case TW_WASM_PREFIX_SIMD:
      return TW_OK; /* cannot read further; the typing error stands */
    default:
      if (k_ops[op].kind == K_LOAD || k_ops[op].kind == K_STORE) {
        TRY(rd_u32(v, r, &x));
        TRY(rd_u32(v, r, &x));
      } else if (k_ops[op].kind == K_ILLEGAL) {
        return FAIL(MALFORMED, off, "illegal opcode 0x%02x", op);
      }
      break;
    }
  }
  if (r->p != r->end)
    return FAIL(MALFORMED, tw__reader_offset(r),
                "section size mismatch: bytes after the function's end");
  return TW_OK;
}

/* ---- module-level checks ---------------------------------------------------- */

/* A constant expression of type `want`, seeing only imported globals. */
static tw_status check_const(const vctx *v, const tw__constexpr *e,
                             uint8_t want) {
  const tw__module *m = v->m;
  uint8_t t;
  if (e->nonconst)
    return FAIL(INVALID, e->offset, "constant expression required");
  if (e->ninstr != 1)
    return FAIL(INVALID, e->offset,
                "type mismatch: a constant expression has %u instructions, "
                "not 1",
                (unsigned)e->ninstr);
  switch (e->op) {
  case TW_OP_i32_const: t = TW_I32; break;
  case TW_OP_i64_const: t = TW_I64; break;
  case TW_OP_f32_const: t = TW_F32; break;
  case TW_OP_f64_const: t = TW_F64; break;
  case TW_OP_ref_null: t = e->reftype; break;
  case TW_OP_ref_func:
    if (e->index >= m->nfuncs)
      return FAIL(INVALID, e->offset, "unknown function %u", e->index);
    t = TW_FUNCREF;
    break;
  case TW_OP_global_get:
    if (e->index >= m->nglobal_imports)
      return FAIL(INVALID, e->offset, "unknown global %u", e->index);
    if (m->globals[e->index].mut)
      return FAIL(INVALID, e->offset,
                  "constant expression required: global %u is mutable",
                  e->index);
    t = m->globals[e->index].type;
    break;
  default:
    return FAIL(INVALID, e->offset, "constant expression required");
  }
  if (t == TW_V128)
    return FAIL(UNSUPPORTED, e->offset, "SIMD is not supported yet");
  if (t != want)
    return FAIL(INVALID, e->offset,
                "type mismatch: constant expression of type %s where %s is "
                "expected",
                vt_name(t), vt_name(want));
  return TW_OK;
}

static tw_status check_limits(const vctx *v, const tw__limits *l,
                              uint64_t range, const char *range_msg) {
  if (l->min > range || (l->has_max && l->max > range))
    return FAIL(INVALID, NO_OFFSET, "%s", range_msg);
  if (l->has_max && l->min > l->max)
    return FAIL(INVALID, NO_OFFSET,
                "size minimum must not be greater than maximum (%u > %u)",
                l->min, l->max);
  return TW_OK;
}

static tw_status check_types(const vctx *v) {
  const tw__module *m = v->m;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const tw__functype *ft = &m->types[i];
    for (uint64_t k = 0; k < (uint64_t)ft->nparams + ft->nresults; k++)
      if (ft->types[k] == TW_V128)
        return FAIL(UNSUPPORTED, NO_OFFSET, "SIMD is not supported yet");
  }
  for (uint32_t i = 0; i < m->nglobals; i++)
    if (m->globals[i].type == TW_V128)
      return FAIL(UNSUPPORTED, NO_OFFSET, "SIMD is not supported yet");
  for (uint32_t i = 0; i < m->nfuncs; i++)
    if (m->func_types[i] >= m->ntypes)
      return FAIL(INVALID, NO_OFFSET, "unknown type %u (function %u)",
                  m->func_types[i], i);
  return TW_OK;
}

static tw_status check_segments(const vctx *v) {
  const tw__module *m = v->m;
  for (uint32_t i = 0; i < m->nglobals - m->nglobal_imports; i++)
    TRY(check_const(v, &m->global_inits[i],
                    m->globals[m->nglobal_imports + i].type));
  for (uint32_t i = 0; i < m->ntables; i++)
    TRY(check_limits(v, &m->tables[i].limits, UINT32_MAX, "table size"));
  for (uint32_t i = 0; i < m->nmems; i++)
    TRY(check_limits(v, &m->mems[i], TW_MAX_PAGES,
                     "memory size must be at most 65536 pages (4GiB)"));
  for (uint32_t i = 0; i < m->nelems; i++) {
    const tw__elem *e = &m->elems[i];
    for (uint32_t k = 0; k < e->count; k++)
      TRY(check_const(v, &e->items[k], e->type));
    if (e->mode != TW__SEG_ACTIVE) continue;
    if (e->table >= m->ntables)
      return FAIL(INVALID, e->offset.offset, "unknown table %u", e->table);
    if (m->tables[e->table].elem != e->type)
      return FAIL(INVALID, e->offset.offset,
                  "type mismatch: element segment %u of %s for a table of %s",
                  i, vt_name(e->type), vt_name(m->tables[e->table].elem));
    TRY(check_const(v, &e->offset, TW_I32));
  }
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const tw__data *d = &m->datas[i];
    if (d->mode != TW__SEG_ACTIVE) continue;
    if (d->memory >= m->nmems)
      return FAIL(INVALID, d->offset.offset, "unknown memory %u", d->memory);
    TRY(check_const(v, &d->offset, TW_I32));
  }
  return TW_OK;
}

static int cmp_export_names(const void *a, const void *b) {
  const tw__export *x = *(const tw__export *const *)a;
  const tw__export *y = *(const tw__export *const *)b;
  if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
  return x->name_len ? memcmp(x->name, y->name, x->name_len) : 0;
}

static tw_status check_exports(const vctx *v) {
  const tw__module *m = v->m;
  static const char *const kinds[] = {"function", "table", "memory",
                                      "global"};
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *e = &m->exports[i];
    if (e->kind > TW_EXTERN_GLOBAL)
      return FAIL(MALFORMED, NO_OFFSET, "malformed export kind");
    uint32_t n = e->kind == TW_EXTERN_FUNC    ? m->nfuncs
                 : e->kind == TW_EXTERN_TABLE ? m->ntables
                 : e->kind == TW_EXTERN_MEMORY ? m->nmems
                                               : m->nglobals;
    if (e->index >= n)
      return FAIL(INVALID, NO_OFFSET, "unknown %s %u", kinds[e->kind],
                  e->index);
  }
  if (m->nexports < 2) return TW_OK;
  const tw__export **sorted = malloc(m->nexports * sizeof *sorted);
  if (!sorted) return FAIL(NOMEM, NO_OFFSET, "out of memory");
  for (uint32_t i = 0; i < m->nexports; i++) sorted[i] = &m->exports[i];
  qsort(sorted, m->nexports, sizeof *sorted, cmp_export_names);
  tw_status st = TW_OK;
  for (uint32_t i = 1; i < m->nexports && st == TW_OK; i++)
    if (cmp_export_names(&sorted[i - 1], &sorted[i]) == 0)
      st = FAIL(INVALID, NO_OFFSET, "duplicate export name \"%.*s\"",
                (int)(sorted[i]->name_len > 64 ? 64 : sorted[i]->name_len),
                sorted[i]->name);
  free(sorted);
  return st;
}

static tw_status check_module(vctx *v, bool bodies) {
  const tw__module *m = v->m;
  TRY(check_types(v));
  TRY(check_segments(v));
  for (uint32_t i = m->nfunc_imports; bodies && i < m->nfuncs; i++)
    TRY(check_body(v, i));
  v->func = NO_FUNC;
  if (m->has_start) {
    if (m->start >= m->nfuncs)
      return FAIL(INVALID, NO_OFFSET, "unknown function %u", m->start);
    const tw__functype *ft = &m->types[m->func_types[m->start]];
    if (ft->nparams || ft->nresults)
      return FAIL(INVALID, NO_OFFSET,
                  "start function must have type [] -> [] (function %u)",
                  m->start);
  }
  TRY(check_exports(v));
  if (m->nmems > 1) return FAIL(INVALID, NO_OFFSET, "multiple memories");
  return TW_OK;
}

tw_status tw__module_validate_structure(const tw__module *m, tw_error *err) {
  vctx v = {.m = m, .err = err, .func = NO_FUNC};
  tw_status st = check_module(&v, false);
  free(v.vals);
  free(v.ctrls);
  return st;
}

tw_status tw__module_validate(const tw__module *m, tw_error *err) {
  vctx v = {.m = m, .err = err, .func = NO_FUNC};
  tw_status st = check_module(&v, true);
  /* A typing error yields to a malformed body anywhere in the module. */
  for (uint32_t i = m->nfunc_imports; st == TW_INVALID && i < m->nfuncs; i++) {
    v.func = i;
    if (scan_body(&v, &m->bodies[i - m->nfunc_imports]) == TW_MALFORMED)
      st = TW_MALFORMED;
  }
  free(v.vals);
  free(v.ctrls);
  return st;
}
