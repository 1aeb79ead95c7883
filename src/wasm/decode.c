/* The WebAssembly 2.0 binary decoder (no SIMD): bytes in, tw__module out.
 *
 * It checks what the spec calls "malformed" and leaves to validate.c what
 * it calls "invalid": index ranges, types, constant-ness of constant
 * expressions, and every function body past its locals.  Error messages
 * begin with the spec test suite's text and carry the offset of the
 * offending byte.
 *
 * Invariants kept here:
 *  - every read is bounded by the current limit: the end of the file for
 *    most sections (like the spec's decoder, we read a section and then
 *    check that it ended where its size said, so overruns get the spec's
 *    messages), the section's end for a custom section, the body's end
 *    for a function's locals; nothing reads past the end of the input;
 *  - no allocation is sized by a count from the input alone: a vector of n
 *    entries (each at least one byte) gets at most min(n, bytes left + 1)
 *    slots, so a lying count fails on the bytes before it costs memory;
 *  - every array in the module is sized when it is stored and its count
 *    says how many slots exist (zeroed), so tw__module_release can free a
 *    half-built module on any error path. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/opcodes.h"
#include "wasm/wasm_int.h"

#define MAX_FUNC_LOCALS 50000u
/* Local types are stored expanded; this caps the sum over the module so a
 * small hostile module cannot make us allocate gigabytes (50000 locals in
 * five bytes per function).  Far above any real module. */
#define MAX_MODULE_LOCALS (1u << 24)

enum { SEC_CUSTOM = 0, SEC_TYPE, SEC_IMPORT, SEC_FUNC, SEC_TABLE, SEC_MEM,
       SEC_GLOBAL, SEC_EXPORT, SEC_START, SEC_ELEM, SEC_CODE, SEC_DATA,
       SEC_DATACOUNT };

/* What running out of bytes is called at the current limit. */
enum { LIMIT_FILE, LIMIT_SECTION };

typedef struct dec {
  tw__reader r;     /* start = m->bytes, base = 0; r.end = current limit */
  tw__module *m;
  tw_error *err;
  int limit_kind;
  uint64_t total_locals;
  size_t ndefined_funcs;  /* from the function section */
  bool has_code;
  bool has_data;
  const uint8_t *sec_end;  /* end of the current section */
  const uint8_t *names_start, *names_end; /* payload of the "name" section */
} dec;

static size_t off_of(const dec *d, const uint8_t *p) {
  return (size_t)(p - d->r.start);
}
static size_t cur(const dec *d) { return off_of(d, d->r.p); }
static size_t left(const dec *d) { return (size_t)(d->r.end - d->r.p); }

static tw_status malformed(dec *d, size_t off, const char *msg) {
  return tw__error_set(d->err, TW_MALFORMED, off, "%s", msg);
}

static tw_status eos(dec *d) {
  return malformed(d, (size_t)(d->r.end - d->r.start),
                   d->limit_kind == LIMIT_FILE
                       ? "unexpected end"
                       : "unexpected end of section or function");
}

static tw_status simd(dec *d, size_t off) {
  return tw__error_set(d->err, TW_UNSUPPORTED, off,
                       "SIMD is not supported yet");
}

static tw_status nomem(dec *d) {
  return tw__error_set(d->err, TW_NOMEM, SIZE_MAX,
                       "out of memory decoding module");
}

/* A LEB reader failed at p0: say why, at the byte that made it fail. */
static tw_status leb_error(dec *d, const uint8_t *p0, unsigned bits) {
  unsigned maxb = (bits + 6) / 7;
  for (unsigned i = 0; i < maxb; i++) {
    if (p0 + i >= d->r.end) return eos(d);
    uint8_t b = p0[i];
    if (i == maxb - 1) {
      return malformed(d, off_of(d, p0 + i),
                       (b & 0x80) ? "integer representation too long"
                                  : "integer too large");
    }
    if (!(b & 0x80)) break; /* cannot happen: the reader would have succeeded */
  }
  return malformed(d, off_of(d, p0), "integer representation too long");
}

#define TRY(x)                      \
  do {                              \
    tw_status s_ = (x);             \
    if (s_ != TW_OK) return s_;     \
  } while (0)

static tw_status u8(dec *d, uint8_t *out) {
  if (!tw__read_u8(&d->r, out)) return eos(d);
  return TW_OK;
}

static tw_status u32(dec *d, uint32_t *out) {
  const uint8_t *p0 = d->r.p;
  if (tw__read_u32(&d->r, out)) return TW_OK;
  d->r.p = p0;
  return leb_error(d, p0, 32);
}

static tw_status s32(dec *d, int32_t *out) {
  const uint8_t *p0 = d->r.p;
  if (tw__read_s32(&d->r, out)) return TW_OK;
  d->r.p = p0;
  return leb_error(d, p0, 32);
}

static tw_status s33(dec *d, int64_t *out) {
  const uint8_t *p0 = d->r.p;
  if (tw__read_s33(&d->r, out)) return TW_OK;
  d->r.p = p0;
  return leb_error(d, p0, 33);
}

static tw_status s64(dec *d, int64_t *out) {
  const uint8_t *p0 = d->r.p;
  if (tw__read_s64(&d->r, out)) return TW_OK;
  d->r.p = p0;
  return leb_error(d, p0, 64);
}

static tw_status skip(dec *d, size_t n) {
  if (n > left(d)) {
    d->r.p = d->r.end;
    return eos(d);
  }
  d->r.p += n;
  return TW_OK;
}

/* A vector count: at most min(n, bytes left + 1) slots are worth having,
 * since every entry takes at least one byte. */
static size_t vec_slots(const dec *d, uint32_t n) {
  size_t l = left(d);
  return (size_t)n <= l ? (size_t)n : l + 1;
}

static void *vec_alloc(size_t nslots, size_t size) {
  return calloc(nslots ? nslots : 1, size);
}

/* ---- names --------------------------------------------------------------- */

/* The spec's UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
 * Returns n when s[0..n) is valid, else the index of the sequence that
 * is not. */
static size_t utf8_check(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return i;
    if (n - i < len) return i;
    for (size_t k = 1; k < len; k++) {
      uint8_t cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return n;
}

/* Reads a name: length, bytes, UTF-8 check.  *s points into the module. */
static tw_status name(dec *d, const uint8_t **s, uint32_t *n) {
  size_t at = cur(d);
  TRY(u32(d, n));
  if (*n > left(d)) return malformed(d, at, "length out of bounds");
  *s = d->r.p;
  size_t bad = utf8_check(*s, *n);
  if (bad != *n)
    return malformed(d, cur(d) + bad, "malformed UTF-8 encoding");
  d->r.p += *n;
  return TW_OK;
}

static char *name_dup(const uint8_t *s, uint32_t n) {
  char *c = malloc((size_t)n + 1);
  if (!c) return NULL;
  if (n) memcpy(c, s, n);
  c[n] = '\0';
  return c;
}

/* ---- types --------------------------------------------------------------- */

static tw_status valtype(dec *d, uint8_t *out) {
  size_t at = cur(d);
  TRY(u8(d, out));
  switch (*out) {
  case TW_I32: case TW_I64: case TW_F32: case TW_F64:
  case TW_FUNCREF: case TW_EXTERNREF:
    return TW_OK;
  case TW_V128:
    return simd(d, at);
  default:
    return malformed(d, at, "malformed value type");
  }
}

static tw_status reftype(dec *d, uint8_t *out) {
  size_t at = cur(d);
  TRY(u8(d, out));
  if (*out != TW_FUNCREF && *out != TW_EXTERNREF)
    return malformed(d, at, "malformed reference type");
  return TW_OK;
}

static tw_status limits(dec *d, tw__limits *l) {
  size_t at = cur(d);
  uint8_t flags;
  TRY(u8(d, &flags));
  /* the spec reads the flag as a 1-bit LEB */
  if (flags & 0x80) return malformed(d, at, "integer representation too long");
  if (flags > 1) return malformed(d, at, "integer too large");
  TRY(u32(d, &l->min));
  l->has_max = flags == 1;
  l->max = UINT32_MAX;
  if (l->has_max) TRY(u32(d, &l->max));
  return TW_OK;
}

static tw_status tabletype(dec *d, tw__tabletype *t) {
  TRY(reftype(d, &t->elem));
  return limits(d, &t->limits);
}

static tw_status globaltype(dec *d, tw__globaltype *g) {
  TRY(valtype(d, &g->type));
  size_t at = cur(d);
  uint8_t mut;
  TRY(u8(d, &mut));
  if (mut > 1) return malformed(d, at, "malformed mutability");
  g->mut = mut == 1;
  return TW_OK;
}

/* ---- constant expressions ------------------------------------------------ */

/* Skips the immediates of the 0xFC instruction whose sub-opcode is `sub`. */
static tw_status skip_fc(dec *d, uint32_t sub, size_t at) {
  uint32_t x;
  uint8_t b;
  switch (sub) {
  case TW_FC_i32_trunc_sat_f32_s: case TW_FC_i32_trunc_sat_f32_u:
  case TW_FC_i32_trunc_sat_f64_s: case TW_FC_i32_trunc_sat_f64_u:
  case TW_FC_i64_trunc_sat_f32_s: case TW_FC_i64_trunc_sat_f32_u:
  case TW_FC_i64_trunc_sat_f64_s: case TW_FC_i64_trunc_sat_f64_u:
    return TW_OK;
  case TW_FC_memory_init:
    TRY(u32(d, &x));
    return u8(d, &b);
  case TW_FC_data_drop: case TW_FC_elem_drop: case TW_FC_table_grow:
  case TW_FC_table_size: case TW_FC_table_fill:
    return u32(d, &x);
  case TW_FC_memory_copy:
    TRY(u8(d, &b));
    return u8(d, &b);
  case TW_FC_memory_fill:
    return u8(d, &b);
  case TW_FC_table_init: case TW_FC_table_copy:
    TRY(u32(d, &x));
    return u32(d, &x);
  default:
    return malformed(d, at, "illegal opcode");
  }
}

/* Skips the immediates of a non-constant, non-block instruction `op`. */
static tw_status skip_immediates(dec *d, uint8_t op, size_t at) {
  uint32_t x, n;
  uint8_t b;
  if (op >= TW_OP_i32_load && op <= TW_OP_i64_store32) {
    TRY(u32(d, &x));
    return u32(d, &x);
  }
  if (op >= TW_OP_i32_eqz && op <= TW_OP_i64_extend32_s) return TW_OK;
  switch (op) {
  case TW_OP_unreachable: case TW_OP_nop: case TW_OP_else_:
  case TW_OP_return_: case TW_OP_drop: case TW_OP_select:
  case TW_OP_ref_is_null:
    return TW_OK;
  case TW_OP_br: case TW_OP_br_if: case TW_OP_call:
  case TW_OP_local_get: case TW_OP_local_set: case TW_OP_local_tee:
  case TW_OP_global_set: case TW_OP_table_get: case TW_OP_table_set:
    return u32(d, &x);
  case TW_OP_call_indirect:
    TRY(u32(d, &x));
    return u32(d, &x);
  case TW_OP_br_table:
    TRY(u32(d, &n));
    for (uint32_t i = 0; i < n; i++) TRY(u32(d, &x));
    return u32(d, &x);
  case TW_OP_select_t:
    TRY(u32(d, &n));
    for (uint32_t i = 0; i < n; i++) TRY(valtype(d, &b));
    return TW_OK;
  case TW_OP_memory_size: case TW_OP_memory_grow:
    return u8(d, &b);
  case TW_WASM_PREFIX_FC:
    TRY(u32(d, &x));
    return skip_fc(d, x, at);
  case TW_WASM_PREFIX_SIMD:
    return simd(d, at);
  default:
    return malformed(d, at, "illegal opcode");
  }
}

/* Decodes an expression up to its final `end`.  Constant instructions are
 * recorded; anything else sets `nonconst` for the validator to reject. */
static tw_status constexpr_(dec *d, tw__constexpr *e) {
  memset(e, 0, sizeof *e);
  e->offset = cur(d);
  uint32_t depth = 0, count = 0;
  for (;;) {
    size_t at = cur(d);
    uint8_t op;
    TRY(u8(d, &op));
    if (op == TW_OP_end) {
      if (depth == 0) break;
      depth--;
      count++;
      continue;
    }
    bool first = count == 0;
    count++;
    switch (op) {
    case TW_OP_i32_const: {
      int32_t v;
      TRY(s32(d, &v));
      if (first) e->bits = (uint32_t)v;
      break;
    }
    case TW_OP_i64_const: {
      int64_t v;
      TRY(s64(d, &v));
      if (first) e->bits = (uint64_t)v;
      break;
    }
    case TW_OP_f32_const: case TW_OP_f64_const: {
      size_t n = op == TW_OP_f32_const ? 4 : 8;
      const uint8_t *p = d->r.p;
      TRY(skip(d, n));
      if (first) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
        e->bits = v;
      }
      break;
    }
    case TW_OP_ref_null: {
      uint8_t t;
      TRY(reftype(d, &t));
      if (first) e->reftype = t;
      break;
    }
    case TW_OP_ref_func: case TW_OP_global_get: {
      uint32_t x;
      TRY(u32(d, &x));
      if (first) e->index = x;
      break;
    }
    case TW_OP_block: case TW_OP_loop: case TW_OP_if_: {
      int64_t bt;
      TRY(s33(d, &bt));
      if (bt == -5) return simd(d, at + 1); /* 0x7B: v128 */
      depth++;
      e->nonconst = true;
      break;
    }
    default:
      TRY(skip_immediates(d, op, at));
      e->nonconst = true;
      break;
    }
    if (first) e->op = op;
  }
  e->ninstr = count > 255 ? 255 : (uint8_t)count;
  return TW_OK;
}

/* ---- sections ------------------------------------------------------------ */

static tw_status sec_type(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  TRY(u32(d, &n));
  size_t slots = vec_slots(d, n);
  if (!(m->types = vec_alloc(slots, sizeof *m->types))) return nomem(d);
  m->ntypes = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER: the bytes ran out first */
    size_t at = cur(d);
    uint8_t form, t;
    TRY(u8(d, &form));
    if (form & 0x80) /* the spec reads the form as a one-byte LEB */
      return malformed(d, at, "integer representation too long");
    if (form != 0x60) return malformed(d, at, "malformed functype");
    uint32_t np, nr;
    TRY(u32(d, &np));
    if (np > left(d)) return skip(d, np);
    const uint8_t *params = d->r.p;
    for (uint32_t k = 0; k < np; k++) TRY(valtype(d, &t));
    TRY(u32(d, &nr));
    if (nr > left(d)) return skip(d, nr);
    const uint8_t *results = d->r.p;
    for (uint32_t k = 0; k < nr; k++) TRY(valtype(d, &t));
    tw__functype *ft = &m->types[i];
    if (!(ft->types = malloc((size_t)np + nr + 1))) return nomem(d);
    memcpy(ft->types, params, np);
    memcpy(ft->types + np, results, nr);
    ft->nparams = np;
    ft->nresults = nr;
  }
  return TW_OK;
}

static tw_status sec_import(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  TRY(u32(d, &n));
  size_t slots = vec_slots(d, n);
  if (!(m->imports = vec_alloc(slots, sizeof *m->imports)) ||
      !(m->func_types = vec_alloc(slots, sizeof *m->func_types)) ||
      !(m->tables = vec_alloc(slots, sizeof *m->tables)) ||
      !(m->mems = vec_alloc(slots, sizeof *m->mems)) ||
      !(m->globals = vec_alloc(slots, sizeof *m->globals)))
    return nomem(d);
  m->nimports = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    tw__import *im = &m->imports[i];
    const uint8_t *s1, *s2;
    uint32_t n1, n2;
    TRY(name(d, &s1, &n1));
    TRY(name(d, &s2, &n2));
    if (!(im->module = name_dup(s1, n1)) || !(im->name = name_dup(s2, n2)))
      return nomem(d);
    im->module_len = n1;
    im->name_len = n2;
    size_t at = cur(d);
    TRY(u8(d, &im->kind));
    switch (im->kind) {
    case TW_EXTERN_FUNC:
      TRY(u32(d, &m->func_types[m->nfuncs]));
      im->index = m->nfuncs++;
      break;
    case TW_EXTERN_TABLE:
      TRY(tabletype(d, &m->tables[m->ntables]));
      im->index = m->ntables++;
      break;
    case TW_EXTERN_MEMORY:
      TRY(limits(d, &m->mems[m->nmems]));
      im->index = m->nmems++;
      break;
    case TW_EXTERN_GLOBAL:
      TRY(globaltype(d, &m->globals[m->nglobals]));
      im->index = m->nglobals++;
      break;
    default:
      return malformed(d, at, "malformed import kind");
    }
  }
  m->nfunc_imports = m->nfuncs;
  m->ntable_imports = m->ntables;
  m->nmem_imports = m->nmems;
  m->nglobal_imports = m->nglobals;
  return TW_OK;
}

/* Grows an index-space array from `have` imported entries to `have + n`. */
static tw_status grow(dec *d, void **arr, size_t have, size_t n, size_t size) {
  void *p = realloc(*arr, (have + n ? have + n : 1) * size);
  if (!p) return nomem(d);
  memset((char *)p + have * size, 0, n * size);
  *arr = p;
  return TW_OK;
}

/* Reads a vector count for a section of definitions and grows the index
 * space: returns the slots (<= count) in *slots. */
static tw_status defs(dec *d, void **arr, uint32_t have, size_t size,
                      uint32_t *count, size_t *slots) {
  TRY(u32(d, count));
  *slots = vec_slots(d, *count);
  if ((uint64_t)have + *slots > UINT32_MAX) return eos(d);
  return grow(d, arr, have, *slots, size);
}

static tw_status sec_func(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  size_t slots;
  TRY(defs(d, (void **)&m->func_types, m->nfuncs, sizeof *m->func_types, &n,
           &slots));
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    TRY(u32(d, &m->func_types[m->nfuncs]));
    m->nfuncs++;
  }
  d->ndefined_funcs = n;
  return TW_OK;
}

static tw_status sec_table(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  size_t slots;
  TRY(defs(d, (void **)&m->tables, m->ntables, sizeof *m->tables, &n, &slots));
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    TRY(tabletype(d, &m->tables[m->ntables]));
    m->ntables++;
  }
  return TW_OK;
}

static tw_status sec_mem(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  size_t slots;
  TRY(defs(d, (void **)&m->mems, m->nmems, sizeof *m->mems, &n, &slots));
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    TRY(limits(d, &m->mems[m->nmems]));
    m->nmems++;
  }
  return TW_OK;
}

static tw_status sec_global(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  size_t slots;
  TRY(defs(d, (void **)&m->globals, m->nglobals, sizeof *m->globals, &n,
           &slots));
  if (!(m->global_inits = vec_alloc(slots, sizeof *m->global_inits)))
    return nomem(d);
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    TRY(globaltype(d, &m->globals[m->nglobals]));
    TRY(constexpr_(d, &m->global_inits[i]));
    m->nglobals++;
  }
  return TW_OK;
}

static tw_status sec_export(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  TRY(u32(d, &n));
  size_t slots = vec_slots(d, n);
  if (!(m->exports = vec_alloc(slots, sizeof *m->exports))) return nomem(d);
  m->nexports = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    tw__export *ex = &m->exports[i];
    const uint8_t *s;
    TRY(name(d, &s, &ex->name_len));
    if (!(ex->name = name_dup(s, ex->name_len))) return nomem(d);
    size_t at = cur(d);
    TRY(u8(d, &ex->kind));
    if (ex->kind > TW_EXTERN_GLOBAL)
      return malformed(d, at, "malformed export kind");
    TRY(u32(d, &ex->index));
  }
  return TW_OK;
}

static tw_status sec_start(dec *d) {
  d->m->has_start = true;
  return u32(d, &d->m->start);
}

/* Element items: function indices (`exprs` false) or expressions. */
static tw_status elem_items(dec *d, tw__elem *el, bool exprs) {
  uint32_t n;
  TRY(u32(d, &n));
  size_t slots = vec_slots(d, n);
  if (!(el->items = vec_alloc(slots, sizeof *el->items))) return nomem(d);
  el->count = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    tw__constexpr *e = &el->items[i];
    if (exprs) {
      TRY(constexpr_(d, e));
    } else {
      e->offset = cur(d);
      TRY(u32(d, &e->index));
      e->op = TW_OP_ref_func;
      e->ninstr = 1;
    }
  }
  return TW_OK;
}

static tw_status elemkind(dec *d) {
  size_t at = cur(d);
  uint8_t k;
  TRY(u8(d, &k));
  if (k != 0x00) return malformed(d, at, "malformed elements segment kind");
  return TW_OK;
}

static tw_status sec_elem(dec *d) {
  tw__module *m = d->m;
  uint32_t n;
  TRY(u32(d, &n));
  size_t slots = vec_slots(d, n);
  if (!(m->elems = vec_alloc(slots, sizeof *m->elems))) return nomem(d);
  m->nelems = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    tw__elem *el = &m->elems[i];
    size_t at = cur(d);
    uint32_t flags;
    TRY(u32(d, &flags));
    if (flags > 7) return malformed(d, at, "malformed elements segment kind");
    /* bit 0: passive or declarative; bit 1: explicit table index (active)
       or declarative (passive); bit 2: items are expressions */
    bool exprs = flags & 4;
    el->type = TW_FUNCREF;
    if (flags & 1) {
      el->mode = (flags & 2) ? TW__SEG_DECLARATIVE : TW__SEG_PASSIVE;
    } else {
      el->mode = TW__SEG_ACTIVE;
      if (flags & 2) TRY(u32(d, &el->table));
      TRY(constexpr_(d, &el->offset));
    }
    if (flags & 3) {
      if (exprs) TRY(reftype(d, &el->type));
      else TRY(elemkind(d));
    }
    TRY(elem_items(d, el, exprs));
  }
  return TW_OK;
}

static tw_status sec_datacount(dec *d) {
  d->m->has_datacount = true;
  return u32(d, &d->m->datacount);
}

/* Reads one body's locals (two passes: check and count, then expand) and
 * records its code range. */
static tw_status body(dec *d, tw__body *b, const uint8_t *body_end) {
  const uint8_t *file_end = d->r.end;
  d->r.end = body_end;
  uint32_t ngroups;
  TRY(u32(d, &ngroups));
  const uint8_t *groups = d->r.p;
  uint64_t total = 0;
  for (uint32_t g = 0; g < ngroups; g++) {
    size_t at = cur(d);
    uint32_t cnt;
    uint8_t t;
    TRY(u32(d, &cnt));
    total += cnt;
    if (total > MAX_FUNC_LOCALS) return malformed(d, at, "too many locals");
    TRY(valtype(d, &t));
  }
  d->total_locals += total;
  if (d->total_locals > MAX_MODULE_LOCALS)
    return tw__error_set(d->err, TW_LIMIT, off_of(d, groups),
                         "too many locals in module (more than %u)",
                         MAX_MODULE_LOCALS);
  if (!(b->local_types = malloc(total ? (size_t)total : 1))) return nomem(d);
  b->nlocals = (uint32_t)total;
  d->r.p = groups;
  size_t k = 0;
  for (uint32_t g = 0; g < ngroups; g++) {
    uint32_t cnt;
    uint8_t t;
    (void)u32(d, &cnt); /* read successfully above */
    (void)u8(d, &t);
    memset(b->local_types + k, t, cnt);
    k += cnt;
  }
  b->code = d->r.p;
  b->code_len = (size_t)(body_end - d->r.p);
  b->offset = cur(d);
  d->r.p = body_end;
  d->r.end = file_end;
  if (b->code_len == 0 || body_end[-1] != TW_OP_end) {
    /* The spec's decoder reads on past a body without its final `end`:
       into nothing at the end of the file, into the next section (whose
       size then is wrong), or into the next body (which does not start
       with `end`).  Say what it says. */
    size_t at = off_of(d, body_end);
    if (at == d->m->len)
      return malformed(d, at, "unexpected end of section or function");
    if (body_end >= d->sec_end)
      return malformed(d, at, "section size mismatch");
    return malformed(d, at, "END opcode expected");
  }
  return TW_OK;
}

static tw_status sec_code(dec *d) {
  tw__module *m = d->m;
  size_t at = cur(d);
  uint32_t n;
  TRY(u32(d, &n));
  d->has_code = true;
  if (n != d->ndefined_funcs)
    return malformed(d, at,
                     "function and code section have inconsistent lengths");
  if (!(m->bodies = vec_alloc(n, sizeof *m->bodies))) return nomem(d);
  for (uint32_t i = 0; i < n; i++) {
    size_t sat = cur(d);
    uint32_t size;
    TRY(u32(d, &size));
    if (size > left(d)) return malformed(d, sat, "length out of bounds");
    TRY(body(d, &m->bodies[i], d->r.p + size));
  }
  return TW_OK;
}

static tw_status sec_data(dec *d) {
  tw__module *m = d->m;
  size_t at = cur(d);
  uint32_t n;
  TRY(u32(d, &n));
  d->has_data = true;
  if (m->has_datacount && n != m->datacount)
    return malformed(d, at,
                     "data count and data section have inconsistent lengths");
  size_t slots = vec_slots(d, n);
  if (!(m->datas = vec_alloc(slots, sizeof *m->datas))) return nomem(d);
  m->ndatas = (uint32_t)slots;
  for (uint32_t i = 0; i < n; i++) {
    if (i >= slots) return eos(d); /* NEVER */
    tw__data *ds = &m->datas[i];
    size_t fat = cur(d);
    uint32_t flags;
    TRY(u32(d, &flags));
    if (flags > 2) return malformed(d, fat, "malformed data segment kind");
    ds->mode = flags == 1 ? TW__SEG_PASSIVE : TW__SEG_ACTIVE;
    if (flags == 2) TRY(u32(d, &ds->memory));
    if (flags != 1) TRY(constexpr_(d, &ds->offset));
    TRY(u32(d, &ds->len));
    ds->bytes = d->r.p;
    TRY(skip(d, ds->len));
  }
  return TW_OK;
}

static tw_status sec_custom(dec *d) {
  const uint8_t *s;
  uint32_t n;
  /* unlike other sections, the spec reads a custom one within its size */
  const uint8_t *file_end = d->r.end;
  d->r.end = d->sec_end;
  TRY(name(d, &s, &n));
  d->r.end = file_end;
  if (n == 4 && memcmp(s, "name", 4) == 0 && !d->names_start) {
    d->names_start = d->r.p;
    d->names_end = d->sec_end;
  }
  d->r.p = d->sec_end;
  return TW_OK;
}

/* ---- the name section (best effort: any problem drops it) --------------- */

static bool names_func(tw__module *m, tw__reader *r) {
  uint32_t n, prev = 0;
  if (!tw__read_u32(r, &n)) return false;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t idx, len;
    if (!tw__read_u32(r, &idx) || !tw__read_u32(r, &len)) return false;
    if (idx >= m->nfuncs || (i > 0 && idx <= prev)) return false;
    if (len > (size_t)(r->end - r->p) || utf8_check(r->p, len) != len)
      return false;
    if (!(m->func_names[idx] = name_dup(r->p, len))) return false;
    r->p += len;
    prev = idx;
  }
  return r->p == r->end;
}

static void names_section(dec *d) {
  tw__module *m = d->m;
  if (!d->names_start || !m->func_names) return;
  tw__reader r = {d->names_start, d->names_end, d->names_start, 0};
  int last = -1;
  bool ok = true;
  while (ok && r.p < r.end) {
    uint8_t id;
    uint32_t size;
    if (!tw__read_u8(&r, &id) || !tw__read_u32(&r, &size) ||
        size > (size_t)(r.end - r.p) || (int)id <= last) {
      ok = false;
      break;
    }
    last = id;
    if (id == 1) {
      tw__reader sub = {r.p, r.p + size, r.p, 0};
      ok = names_func(m, &sub);
    }
    r.p += size;
  }
  if (!ok) {
    for (uint32_t i = 0; i < m->nfuncs; i++) {
      free(m->func_names[i]);
      m->func_names[i] = NULL;
    }
  }
}

/* ---- the module ---------------------------------------------------------- */

/* Section ids in the order they must appear (datacount sits before code). */
static int section_rank(uint8_t id) {
  static const int rank[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10};
  return rank[id];
}

static tw_status section(dec *d, uint8_t id) {
  switch (id) {
  case SEC_CUSTOM: return sec_custom(d);
  case SEC_TYPE: return sec_type(d);
  case SEC_IMPORT: return sec_import(d);
  case SEC_FUNC: return sec_func(d);
  case SEC_TABLE: return sec_table(d);
  case SEC_MEM: return sec_mem(d);
  case SEC_GLOBAL: return sec_global(d);
  case SEC_EXPORT: return sec_export(d);
  case SEC_START: return sec_start(d);
  case SEC_ELEM: return sec_elem(d);
  case SEC_CODE: return sec_code(d);
  case SEC_DATA: return sec_data(d);
  case SEC_DATACOUNT: return sec_datacount(d);
  default: return TW_OK; /* NEVER: checked by the caller */
  }
}

static void mark(tw__module *m, const tw__constexpr *e) {
  if (e->op == TW_OP_ref_func && e->ninstr >= 1 && e->index < m->nfuncs)
    m->func_declared[e->index] = 1;
}

/* The spec's C.refs: functions named by ref.func outside function bodies
 * (only the first instruction of each expression is recorded; an
 * expression of more than one is invalid anyway) or exported. */
static void declared_funcs(tw__module *m) {
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == TW_EXTERN_FUNC && m->exports[i].index < m->nfuncs)
      m->func_declared[m->exports[i].index] = 1;
  for (uint32_t i = 0; i < m->nelems; i++)
    for (uint32_t k = 0; k < m->elems[i].count; k++)
      mark(m, &m->elems[i].items[k]);
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
    mark(m, &m->global_inits[i - m->nglobal_imports]);
}

static tw_status decode(dec *d) {
  tw__module *m = d->m;
  static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6D};
  static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
  if (m->len < 4) return malformed(d, m->len, "unexpected end");
  if (memcmp(m->bytes, magic, 4) != 0)
    return malformed(d, 0, "magic header not detected");
  if (m->len < 8) return malformed(d, m->len, "unexpected end");
  if (memcmp(m->bytes + 4, version, 4) != 0)
    return malformed(d, 4, "unknown binary version");
  d->r.p += 8;
  int last = 0;
  while (d->r.p < d->r.end) {
    size_t at = cur(d);
    uint8_t id = *d->r.p++;
    if (id > SEC_DATACOUNT) return malformed(d, at, "malformed section id");
    uint32_t size;
    TRY(u32(d, &size));
    if (size > left(d)) return malformed(d, at + 1, "length out of bounds");
    if (id != SEC_CUSTOM) {
      if (section_rank(id) <= last)
        return malformed(d, at, "unexpected content after last section");
      last = section_rank(id);
    }
    d->sec_end = d->r.p + size;
    d->limit_kind = LIMIT_SECTION;
    TRY(section(d, id));
    if (d->r.p != d->sec_end)
      return malformed(d, off_of(d, d->r.p < d->sec_end ? d->r.p : d->sec_end),
                       "section size mismatch");
    d->limit_kind = LIMIT_FILE;
  }
  if (!d->has_code && d->ndefined_funcs != 0)
    return malformed(d, m->len,
                     "function and code section have inconsistent lengths");
  if (!d->has_data && m->has_datacount && m->datacount != 0)
    return malformed(d, m->len,
                     "data count and data section have inconsistent lengths");
  size_t nf = m->nfuncs ? m->nfuncs : 1;
  if (!(m->func_declared = calloc(nf, 1)) ||
      !(m->func_names = calloc(nf, sizeof *m->func_names)))
    return nomem(d);
  declared_funcs(m);
  names_section(d);
  return TW_OK;
}

tw_status tw__module_decode(const uint8_t *bytes, size_t len, tw__module *m,
                            tw_error *err) {
  memset(m, 0, sizeof *m);
  if (!bytes && len) return tw__error_set(err, TW_ARG, SIZE_MAX, "no bytes");
  if (!(m->bytes = malloc(len ? len : 1)))
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory copying module");
  if (len) memcpy(m->bytes, bytes, len);
  m->len = len;
  dec d = {0};
  d.r.p = d.r.start = m->bytes;
  d.r.end = m->bytes + len;
  d.r.base = 0;
  d.m = m;
  d.err = err;
  d.limit_kind = LIMIT_FILE;
  tw_status s = decode(&d);
  if (s != TW_OK) tw__module_release(m);
  return s;
}

void tw__module_release(tw__module *m) {
  if (!m) return;
  if (m->types)
    for (uint32_t i = 0; i < m->ntypes; i++) free(m->types[i].types);
  free(m->types);
  free(m->type_ids);
  if (m->imports)
    for (uint32_t i = 0; i < m->nimports; i++) {
      free(m->imports[i].module);
      free(m->imports[i].name);
    }
  free(m->imports);
  free(m->func_types);
  free(m->tables);
  free(m->mems);
  free(m->globals);
  free(m->global_inits);
  if (m->exports)
    for (uint32_t i = 0; i < m->nexports; i++) free(m->exports[i].name);
  free(m->exports);
  if (m->elems)
    for (uint32_t i = 0; i < m->nelems; i++) free(m->elems[i].items);
  free(m->elems);
  free(m->datas);
  if (m->bodies)
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++)
      free(m->bodies[i].local_types);
  free(m->bodies);
  if (m->func_names)
    for (uint32_t i = 0; i < m->nfuncs; i++) free(m->func_names[i]);
  free(m->func_names);
  free(m->func_declared);
  free(m->bytes);
  memset(m, 0, sizeof *m);
}
