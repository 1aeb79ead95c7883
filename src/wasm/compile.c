/* Compiler from validated wasm function bodies to the internal code of
 * code.h.  One pass per body, no allocation per instruction beyond the
 * growing output and stacks.
 *
 * The compile-time operand stack records, for each stack position p, the
 * slot that currently holds its value: either its home temp T(p) =
 * nlocals + p, or a local's slot (local.get pushes a reference instead of
 * copying).  Invariants:
 *  - an entry that refers to local x is copied home ("materialised") before
 *    anything writes x, and every entry is materialised at block, loop and
 *    if entry, so references never outlive straight-line code;
 *  - at a label (block end, loop head, else) the values a branch carries
 *    are in their home temps;
 *  - code emitted on a conditional path (br_if, br_table stubs) never
 *    changes the compile-time stack.
 * Constants are virtual too: a const entry costs no code until something
 * needs it in a slot; arithmetic and comparisons take it as an immediate.
 * Peepholes: when an instruction's result goes straight into local.set or
 * local.tee, its destination operand is rewritten to the local, saving the
 * copy (only when no label lies between them); an integer comparison
 * followed by br_if or if becomes one compare-and-branch instruction. */
#include <stdlib.h>
#include <string.h>

#include "wasm/code.h"

enum { CT_FUNC, CT_BLOCK, CT_LOOP, CT_IF };

typedef struct patch {
  uint32_t site;  /* word holding the offset */
  uint32_t instr; /* first word of the branching instruction */
  int32_t next;   /* next patch of the same label, -1 at the end */
} patch;

typedef struct ctrl {
  uint8_t kind;
  bool has_else;
  uint32_t base;      /* stack height below the block's params */
  uint32_t nparams, nresults;
  uint32_t loop_head; /* word index of a loop's head */
  patch else_site;    /* an if's branch to its else (or end) */
  int32_t patches;    /* forward branches to the end */
} ctrl;

#define CONST_SLOT UINT32_MAX /* stack entry holding a virtual constant */
/* Stack entry holding a virtual i32 sum vbase[p] + kval[p], not yet
 * computed: a load or store takes it as its address step (a[i + 1],
 * p->next) and everything else computes it first.  vbase is a local or
 * the entry's own home temp, so nothing above it can overwrite it. */
#define ADD_SLOT (UINT32_MAX - 1)

/* Constants that code inside a loop reads as operands live in frame
 * slots written once on entry (the pool, between the locals and the
 * temps), so the loop pays no dispatch to re-create them each turn: an
 * FNV prime or an f64 time step.  The first compile of a function finds
 * them; when it found any, a second lays them out.  Bounded so that a
 * function's entry never pays much for constants its loops may not use. */
#define POOL_MAX 16

typedef struct compiler {
  const tw__module *m;
  const tw_module_t *mod;
  uint32_t nlocals;
  uint32_t base;          /* first temp: nlocals + npool */
  uint64_t pool[POOL_MAX];
  uint32_t npool;
  bool pool_laid_out;     /* second compile: pool slots are in place */
  uint32_t *words;
  size_t n, cap;
  uint32_t *stack; /* slot per operand stack position, or CONST_SLOT */
  uint64_t *kval;  /* the constant where stack[p] == CONST_SLOT or ADD_SLOT */
  uint32_t *vbase; /* the slot where stack[p] == ADD_SLOT */
  uint32_t h, max_h, cap_stack, cap_kval, cap_vbase;
  uint32_t add_low; /* no ADD_SLOT entry below this position */
  ctrl *ctrls;
  uint32_t nctrl, cap_ctrl;
  patch *patches;
  uint32_t npatches, cap_patches;
  bool dead;
  uint32_t dead_depth;
  int64_t last_dst; /* word of the last result operand, or -1 */
  uint32_t last_dst_pos;
  /* the last instruction, when it is a fusable comparison */
  int64_t fuse_at;     /* its first word, or -1 */
  uint8_t fuse_op;     /* wasm opcode (a comparison or i32.eqz) */
  bool fuse_imm;       /* b is an immediate */
  uint32_t fuse_a, fuse_b;
  uint32_t fuse_pos;   /* stack position of its result */
  /* the last instruction emitted, for superinstructions: -1 after a label */
  int64_t last_at;
  tw__iop last_iop;
  int64_t prev_at; /* the one before it, when adjacent; else -1 */
  tw__iop prev_iop;
  int64_t prev2_at; /* and the one before that */
  tw__iop prev2_iop;
  /* the last memory move or move run, for merging the next into it */
  int64_t mv_at;
  tw__iop mv_op;
  size_t mv_end; /* c->n right after it: adjacent while c->n == mv_end */
  int64_t mv_prev_at; /* the instruction before it (adjacent: check) */
  tw__iop mv_prev_iop;
  uint8_t load_op; /* wasm opcode of the last load emitted */
  bool oom;
} compiler;

/* ---- buffers --------------------------------------------------------- */

static bool grow(void **p, uint32_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need) ncap *= 2;
  if (ncap > UINT32_MAX) return false;
  void *q = realloc(*p, ncap * elem);
  if (!q) return false;
  *p = q;
  *cap = (uint32_t)ncap;
  return true;
}

static void emit(compiler *c, uint32_t w) {
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 256;
    uint32_t *q = realloc(c->words, ncap * sizeof *q);
    if (!q) {
      c->oom = true;
      return;
    }
    c->words = q;
    c->cap = ncap;
  }
  c->words[c->n++] = w;
}

static void emit_words(compiler *c, const uint32_t *w, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) emit(c, w[i]);
}

/* Starts an instruction; returns its first word index. */
static uint32_t emit_op(compiler *c, tw__iop op) {
  uint32_t at = (uint32_t)c->n;
  uint64_t h = tw__interp_handler(op);
  emit(c, (uint32_t)h);
  emit(c, (uint32_t)(h >> 32));
  c->last_dst = -1;
  c->fuse_at = -1;
  c->prev2_at = c->prev_at;
  c->prev2_iop = c->prev_iop;
  c->prev_at = c->last_at;
  c->prev_iop = c->last_iop;
  c->last_at = at;
  c->last_iop = op;
  return at;
}

static void set_handler(compiler *c, int64_t at, tw__iop op) {
  uint64_t h = tw__interp_handler(op);
  c->words[at] = (uint32_t)h;
  c->words[at + 1] = (uint32_t)(h >> 32);
}

/* A label or a rewrite: no peephole may look back across this point. */
static void forget(compiler *c) {
  c->last_dst = -1;
  c->fuse_at = -1;
  c->last_at = -1;
  c->prev_at = -1;
  c->prev2_at = -1;
  c->mv_at = -1;
}

/* Takes back the instructions from word `at` on, which fused into the one
 * about to be emitted.  Not a label: a move run before `at` stays open. */
static void erase_from(compiler *c, int64_t at) {
  c->n = (size_t)at;
  c->last_dst = -1;
  c->fuse_at = -1;
  c->last_at = -1;
  c->prev_at = -1;
  c->prev2_at = -1;
}

/* After erase_from took back the last instruction: makes the one before
 * it (`at`, `op`, or -1) the last again, just before emit_op, so that the
 * fused op about to be emitted keeps it as its predecessor. */
static void keep_before(compiler *c, int64_t at, tw__iop op) {
  c->last_at = at;
  c->last_iop = op;
}

/* True when the last instruction is `op` and nothing follows it. */
static bool last_is(const compiler *c, tw__iop op, uint32_t len) {
  return c->last_at >= 0 && c->last_iop == op &&
         (size_t)c->last_at + len == c->n;
}

static inline uint32_t T(const compiler *c, uint32_t pos) {
  return c->base + pos;
}

/* ---- operand stack --------------------------------------------------- */

static bool stack_reserve(compiler *c, uint32_t n) {
  if (grow((void **)&c->stack, &c->cap_stack, n, sizeof(uint32_t)) &&
      grow((void **)&c->kval, &c->cap_kval, n, sizeof(uint64_t)) &&
      grow((void **)&c->vbase, &c->cap_vbase, n, sizeof(uint32_t)))
    return true;
  c->oom = true;
  return false;
}

/* Pushes an entry held in `slot` (its home temp unless given). */
static uint32_t push_slot(compiler *c, uint32_t slot) {
  if (!stack_reserve(c, c->h + 1)) return 0;
  uint32_t pos = c->h++;
  c->stack[pos] = slot;
  if (c->h > c->max_h) c->max_h = c->h;
  return slot;
}

static uint32_t push(compiler *c) { return push_slot(c, T(c, c->h)); }

static void push_const(compiler *c, uint64_t v) {
  if (!push_slot(c, CONST_SLOT) && c->oom) return;
  c->kval[c->h - 1] = v;
}

static bool is_const(const compiler *c, uint32_t pos) {
  return c->stack[pos] == CONST_SLOT;
}

static bool is_add(const compiler *c, uint32_t pos) {
  return c->stack[pos] == ADD_SLOT;
}

/* A slot's value, as opposed to a virtual constant or sum. */
static bool is_slot(const compiler *c, uint32_t pos) {
  return c->stack[pos] < ADD_SLOT;
}

/* Writes constant v into slot dst. */
static void emit_const_to(compiler *c, uint32_t dst, uint64_t v) {
  bool wide = (v >> 32) != 0;
  emit_op(c, wide ? TW_IOP_const64 : TW_IOP_const32);
  emit(c, dst);
  emit(c, (uint32_t)v);
  if (wide) emit(c, (uint32_t)(v >> 32));
}

static void materialise(compiler *c, uint32_t pos);

static bool in_loop(const compiler *c) {
  for (uint32_t i = c->nctrl; i-- > 0;)
    if (c->ctrls[i].kind == CT_LOOP) return true;
  return false;
}

/* The pool slot holding constant v, or CONST_SLOT when it has none (yet):
 * the first compile records the constants read in loops.  Once laid out,
 * a pooled constant is read from the pool outside loops too. */
static uint32_t pool_slot(compiler *c, uint64_t v) {
  for (uint32_t i = 0; i < c->npool; i++)
    if (c->pool[i] == v) return c->pool_laid_out ? c->nlocals + i : CONST_SLOT;
  if (!c->pool_laid_out && c->npool < POOL_MAX && in_loop(c))
    c->pool[c->npool++] = v;
  return CONST_SLOT;
}

/* Pops the top entry as a slot (a virtual one is first put in its temp,
 * a constant comes from the pool when it is there). */
static uint32_t pop(compiler *c) {
  uint32_t top = c->h - 1;
  if (is_const(c, top)) {
    uint32_t s = pool_slot(c, c->kval[top]);
    if (s != CONST_SLOT) {
      c->h--;
      return s;
    }
  }
  if (!is_slot(c, top)) materialise(c, top);
  return c->stack[--c->h];
}

/* Emits a result operand for the value about to be pushed, remembering it
 * for the local.set peephole. */
static void emit_dst(compiler *c) {
  uint32_t dst = push(c);
  c->last_dst = (int64_t)c->n;
  c->last_dst_pos = c->h - 1;
  emit(c, dst);
}

/* dst = a + k (i32).  Right after another such add it joins it: pointer
 * and counter bumps take one dispatch. */
static void emit_add_imm(compiler *c, uint32_t dst, uint32_t a, uint32_t k) {
  if (last_is(c, TW_IOP_i32_add_imm, 5)) {
    set_handler(c, c->last_at, TW_IOP_i32_add_imm2);
    c->last_iop = TW_IOP_i32_add_imm2;
  } else {
    emit_op(c, TW_IOP_i32_add_imm);
  }
  c->last_dst = (int64_t)c->n;
  emit(c, dst);
  emit(c, a);
  emit(c, k);
}

/* dst = src.  Right after another copy it joins it: the shuffles of loop
 * variables at a loop's end (a, b, c = b, c, a + ...) take half the
 * dispatches. */
static void emit_copy(compiler *c, uint32_t dst, uint32_t src) {
  if (last_is(c, TW_IOP_copy, 4)) {
    set_handler(c, c->last_at, TW_IOP_copy2);
    c->last_iop = TW_IOP_copy2;
  } else {
    emit_op(c, TW_IOP_copy);
  }
  emit(c, dst);
  emit(c, src);
}

/* Copies entry `pos`'s value into slot dst (no stack change). */
static void emit_move(compiler *c, uint32_t dst, uint32_t pos) {
  if (is_const(c, pos)) {
    emit_const_to(c, dst, c->kval[pos]);
  } else if (is_add(c, pos)) {
    emit_add_imm(c, dst, c->vbase[pos], (uint32_t)c->kval[pos]);
    c->last_dst_pos = pos;
  } else if (c->stack[pos] != dst) {
    emit_copy(c, dst, c->stack[pos]);
  }
}

static void materialise(compiler *c, uint32_t pos) {
  if (c->stack[pos] == T(c, pos)) return;
  emit_move(c, T(c, pos), pos);
  c->stack[pos] = T(c, pos);
}

static void materialise_from(compiler *c, uint32_t from) {
  for (uint32_t p = from; p < c->h; p++) materialise(c, p);
}

static void materialise_local(compiler *c, uint32_t local, uint32_t below) {
  for (uint32_t p = 0; p < below; p++)
    if (c->stack[p] == local || (is_add(c, p) && c->vbase[p] == local))
      materialise(c, p);
}

/* Pushes the virtual sum a + k, or computes it at once when a is a temp
 * that a later push could overwrite. */
static void push_add(compiler *c, uint32_t a, uint32_t k) {
  uint32_t home = T(c, c->h);
  if (a >= c->base && a != home) {
    emit_add_imm(c, home, a, k);
    push(c);
    c->last_dst_pos = c->h - 1;
    return;
  }
  if (!push_slot(c, ADD_SLOT) && c->oom) return;
  c->vbase[c->h - 1] = a;
  c->kval[c->h - 1] = k;
  if (c->h - 1 < c->add_low) c->add_low = c->h - 1;
  c->last_dst = -1;
  c->fuse_at = -1;
}

/* Computes every virtual sum on the stack: before any instruction other
 * than those that know them (a local.set could change a base, a branch
 * or call reads its operands as slots). */
static void settle_adds(compiler *c) {
  for (uint32_t p = c->add_low; p < c->h; p++)
    if (is_add(c, p)) materialise(c, p);
  c->add_low = UINT32_MAX;
}

/* ---- labels ---------------------------------------------------------- */

static void add_patch(compiler *c, int32_t *list, uint32_t site,
                      uint32_t instr) {
  if (!grow((void **)&c->patches, &c->cap_patches, c->npatches + 1,
            sizeof(patch))) {
    c->oom = true;
    return;
  }
  c->patches[c->npatches] = (patch){site, instr, *list};
  *list = (int32_t)c->npatches++;
}

/* Binds a branch to the current position, which becomes a label: no
 * peephole may reach back across it. */
static void bind(compiler *c, patch p) {
  if (!c->oom) c->words[p.site] = (uint32_t)((int64_t)c->n - p.instr);
  forget(c);
}

static void bind_list(compiler *c, int32_t list) {
  for (int32_t i = list; i >= 0; i = c->patches[i].next)
    bind(c, c->patches[i]);
  forget(c); /* a label: the previous result may arrive by branch */
}

static ctrl *label(compiler *c, uint32_t depth) {
  return &c->ctrls[c->nctrl - 1 - depth];
}

/* Copies the top n values to fp[0..n) and returns.  Order is safe: temp
 * sources are never below their destination, and locals below n that a
 * copy could clobber are first saved in their free home temps. */
static void emit_return(compiler *c) {
  uint32_t n = c->ctrls[0].nresults, top = c->h - 1;
  if (n == 1 && c->last_dst >= 0 && c->last_dst_pos == top &&
      c->stack[top] == T(c, top)) {
    /* the result was just computed: compute it into fp[0] (nothing runs
     * after the return that could read the slot it overwrites) */
    c->words[c->last_dst] = 0;
    c->stack[top] = 0;
  }
  uint32_t src[16], *srcs = src;
  if (n > 16) {
    srcs = malloc(n * sizeof *srcs);
    if (!srcs) {
      c->oom = true;
      return;
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t pos = c->h - n + i, s = c->stack[pos];
    if (s < n && s != T(c, pos) && n > 1) {
      emit_copy(c, T(c, pos), s);
      s = T(c, pos);
    }
    srcs[i] = s;
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t pos = c->h - n + i;
    if (srcs[i] == CONST_SLOT) {
      emit_const_to(c, i, c->kval[pos]);
    } else if (srcs[i] != i) {
      emit_copy(c, i, srcs[i]);
    }
  }
  if (srcs != src) free(srcs);
  emit_op(c, TW_IOP_ret);
}

static uint32_t label_arity(const ctrl *l) {
  return l->kind == CT_LOOP ? l->nparams : l->nresults;
}

static bool branch_needs_copies(const compiler *c, const ctrl *l) {
  if (l->kind == CT_FUNC) return true;
  uint32_t n = label_arity(l);
  for (uint32_t i = 0; i < n; i++)
    if (c->stack[c->h - n + i] != T(c, l->base + i)) return true;
  return false;
}

/* Emits a branching op, its operands, then its target (backward, or
 * patched when the label is bound). */
static void emit_jump(compiler *c, ctrl *l, tw__iop op, const uint32_t *ops,
                      uint32_t nops) {
  uint32_t at = emit_op(c, op);
  emit_words(c, ops, nops);
  if (l->kind == CT_LOOP) {
    emit(c, (uint32_t)((int64_t)l->loop_head - at));
  } else {
    add_patch(c, &l->patches, (uint32_t)c->n, at);
    emit(c, 0);
  }
}

/* Unconditional branch to label `depth`, with its value copies. */
static void emit_branch(compiler *c, uint32_t depth) {
  ctrl *l = label(c, depth);
  if (l->kind == CT_FUNC) {
    emit_return(c);
    return;
  }
  uint32_t n = label_arity(l);
  for (uint32_t i = 0; i < n; i++)
    emit_move(c, T(c, l->base + i), c->h - n + i);
  emit_jump(c, l, TW_IOP_br, NULL, 0);
}

/* ---- instructions ------------------------------------------------------- */

typedef struct blocktype {
  uint32_t nparams, nresults;
} blocktype;

static blocktype read_blocktype(compiler *c, tw__reader *r) {
  int64_t v = 0;
  tw__read_s33(r, &v);
  if (v == -64) return (blocktype){0, 0};
  if (v < 0) return (blocktype){0, 1};
  const tw__functype *t = &c->m->types[v];
  return (blocktype){t->nparams, t->nresults};
}

static void push_ctrl(compiler *c, uint8_t kind, blocktype bt) {
  if (!grow((void **)&c->ctrls, &c->cap_ctrl, c->nctrl + 1, sizeof(ctrl))) {
    c->oom = true;
    return;
  }
  ctrl *l = &c->ctrls[c->nctrl++];
  memset(l, 0, sizeof *l);
  l->kind = kind;
  l->base = c->h - bt.nparams;
  l->nparams = bt.nparams;
  l->nresults = bt.nresults;
  l->patches = -1;
}

/* ---- comparison fusion and immediates --------------------------------- */

typedef struct cmp_info {
  bool ok;
  uint8_t swapped;      /* wasm opcode with the operands exchanged */
  uint8_t inverse;      /* wasm opcode of the negated comparison */
  uint16_t value, br, br_imm, imm, inv_br, inv_br_imm, br_step, br_imm_step;
} cmp_info;
#define TW__C(id, t, op, inv, swp)                                          \
  [TW_OP_##id] = {true, TW_OP_##swp, TW_OP_##inv, TW_IOP_##id,              \
                  TW_IOP_br_##id, TW_IOP_br_##id##_imm, TW_IOP_##id##_imm,  \
                  TW_IOP_br_##inv, TW_IOP_br_##inv##_imm,                   \
                  TW_IOP_br_##id##_step, TW_IOP_br_##id##_imm_step},
static const cmp_info cmps[256] = {TW_FUSE_CMPS(TW__C)};
#undef TW__C

typedef struct arith_info {
  bool ok, commutative;
  uint16_t imm;
} arith_info;
#define TW__A(id, t, expr, comm) [TW_OP_##id] = {true, comm, TW_IOP_##id##_imm},
static const arith_info ariths[256] = {TW_FUSE_ARITH(TW__A)};
#undef TW__A

static bool is_i64_op(uint8_t op) {
  return (op >= TW_OP_i64_eq && op <= TW_OP_i64_ge_u) ||
         (op >= TW_OP_i64_add && op <= TW_OP_i64_rotr);
}

static void note_fusable(compiler *c, uint32_t at, uint8_t op, bool imm,
                         uint32_t a, uint32_t b) {
  c->fuse_at = at;
  c->fuse_op = op;
  c->fuse_imm = imm;
  c->fuse_a = a;
  c->fuse_b = b;
  c->fuse_pos = c->h - 1;
}

/* Binary integer op with one constant operand: emit the _imm form.
 * Returns false (and emits nothing) when no form applies. */
static bool try_imm(compiler *c, uint8_t op) {
  uint32_t pb = c->h - 1, pa = c->h - 2;
  const cmp_info *ci = &cmps[op];
  const arith_info *ai = &ariths[op];
  bool sub = op == TW_OP_i32_sub || op == TW_OP_i64_sub;
  uint32_t kpos, other;
  uint16_t iop;
  uint8_t eff = op; /* the comparison actually computed */
  if (is_const(c, pb) && !is_const(c, pa)) {
    kpos = pb, other = pa;
    iop = ci->ok ? ci->imm : ai->ok ? ai->imm : sub ? ariths[op - 1].imm : 0;
  } else if (is_const(c, pa) && !is_const(c, pb)) {
    kpos = pa, other = pb;
    if (ci->ok) eff = ci->swapped;
    iop = ci->ok ? cmps[eff].imm : (ai->ok && ai->commutative) ? ai->imm : 0;
  } else {
    return false;
  }
  if (!iop) return false;
  uint64_t k = c->kval[kpos];
  if (sub && kpos == pb) k = is_i64_op(op) ? (uint64_t)0 - k : (uint32_t)(0u - (uint32_t)k);
  if (is_i64_op(op) && (int64_t)k != (int64_t)(int32_t)(uint32_t)k) return false;
  if (iop == TW_IOP_i32_add_imm) {
    uint32_t a = c->stack[other];
    if (is_add(c, other)) { /* (a + k1) + k2 */
      a = c->vbase[other];
      k += c->kval[other];
    }
    c->h -= 2;
    push_add(c, a, (uint32_t)k);
    return true;
  }
  if (is_add(c, other)) materialise(c, other);
  uint32_t a = c->stack[other];
  c->h -= 2;
  uint32_t at = emit_op(c, iop);
  emit_dst(c);
  emit(c, a);
  emit(c, (uint32_t)k);
  if (ci->ok) note_fusable(c, at, eff, true, a, (uint32_t)k);
  return true;
}

/* i32.add whose operand is the i32.shl_imm just emitted: a + (b << k). */
static bool try_add_shl(compiler *c) {
  if (!last_is(c, TW_IOP_i32_shl_imm, 5)) return false;
  uint32_t shl_dst = c->words[c->last_at + 2];
  uint32_t pb = c->h - 1, pa = c->h - 2, other;
  if (c->stack[pb] == shl_dst && shl_dst == T(c, pb) && !is_const(c, pa))
    other = pa;
  else if (c->stack[pa] == shl_dst && shl_dst == T(c, pa) && !is_const(c, pb))
    other = pb;
  else
    return false;
  uint32_t b = c->words[c->last_at + 3], k = c->words[c->last_at + 4];
  uint32_t a = c->stack[other], step = 0;
  if (is_add(c, other)) { /* (p + step) + (i << k): p->field[i] */
    a = c->vbase[other];
    step = (uint32_t)c->kval[other];
  }
  c->n = (size_t)c->last_at;
  forget(c);
  c->h -= 2;
  emit_op(c, TW_IOP_i32_add_shl);
  emit_dst(c);
  emit(c, a);
  emit(c, b);
  emit(c, k);
  if (step) { /* the step stays virtual: a load or store takes it */
    uint32_t top = c->h - 1;
    c->stack[top] = ADD_SLOT;
    c->vbase[top] = T(c, top);
    c->kval[top] = step;
    if (top < c->add_low) c->add_low = top;
    c->last_dst = -1;
  }
  return true;
}

/* Takes back the code from word `from` on and the two operands on top of
 * the stack, and emits `op` with a result operand then ops[0..n): a binary
 * op fused with what computed its operands.  The instruction before
 * `from` (keep_at, keep_iop) stays the predecessor, for the next fusion. */
static void fuse_binary(compiler *c, int64_t from, int64_t keep_at,
                        tw__iop keep_iop, tw__iop op, const uint32_t *ops,
                        uint32_t n) {
  erase_from(c, from);
  c->h -= 2;
  keep_before(c, keep_at, keep_iop);
  emit_op(c, op);
  emit_dst(c);
  emit_words(c, ops, n);
}

/* The shift-immediate at word `at`, when it wrote stack position pos's
 * home temp: its source and count. */
static bool shift_into(const compiler *c, int64_t at, tw__iop op, tw__iop want,
                       uint32_t pos, uint32_t *src, uint32_t *k) {
  if (at < 0 || op != want || c->stack[pos] != T(c, pos) ||
      c->words[at + 2] != T(c, pos))
    return false;
  *src = c->words[at + 3];
  *k = c->words[at + 4];
  return true;
}

/* i32.or of a shift left and a logical shift right by constants, just
 * computed in either order: one funnel op (unaligned word merges in
 * memcpy, bit-stream readers, hand-written rotates). */
static bool try_or_shifts(compiler *c) {
  uint32_t top = c->h - 1, a, l, b, r;
  if (!last_is(c, c->last_iop, 5) || c->prev_at < 0 ||
      (size_t)c->prev_at + 5 != (size_t)c->last_at)
    return false;
  bool shl_first =
      shift_into(c, c->prev_at, c->prev_iop, TW_IOP_i32_shl_imm, top - 1, &a, &l) &&
      shift_into(c, c->last_at, c->last_iop, TW_IOP_i32_shr_u_imm, top, &b, &r);
  if (!shl_first &&
      !(shift_into(c, c->prev_at, c->prev_iop, TW_IOP_i32_shr_u_imm, top - 1, &b, &r) &&
        shift_into(c, c->last_at, c->last_iop, TW_IOP_i32_shl_imm, top, &a, &l)))
    return false;
  if (c->words[c->last_at + 3] == T(c, top - 1))
    return false; /* the second read the first's result: keep the order */
  /* the one before, e.g. the load of a shifted word, for try_store_funnel */
  uint32_t ops[4] = {a, l, b, r};
  fuse_binary(c, c->prev_at, c->prev2_at, c->prev2_iop, TW_IOP_i32_or_shl_shr,
              ops, 4);
  return true;
}

/* i32.xor with a value rotated or shifted right by a constant just
 * before: one op (the sigma functions of SHA-2, CRC and hash mixing
 * steps).  Either operand may be the shifted one. */
static bool try_xor_shifted(compiler *c) {
  static const struct {
    tw__iop shift, fused;
  } forms[] = {{TW_IOP_i32_rotl_imm, TW_IOP_i32_xor_rotl_imm},
               {TW_IOP_i32_shr_u_imm, TW_IOP_i32_xor_shr_u_imm}};
  uint32_t top = c->h - 1, x, k;
  if (!last_is(c, c->last_iop, 5) || !is_slot(c, top - 1) || !is_slot(c, top))
    return false;
  for (size_t i = 0; i < sizeof forms / sizeof *forms * 2; i++) {
    uint32_t pos = top - (uint32_t)(i & 1); /* the shifted one: b, then a */
    if (!shift_into(c, c->last_at, c->last_iop, forms[i / 2].shift, pos, &x, &k))
      continue;
    uint32_t ops[3] = {c->stack[pos == top ? top - 1 : top], x, k};
    fuse_binary(c, c->last_at, c->prev_at, c->prev_iop, forms[i / 2].fused,
                ops, 3);
    return true;
  }
  return false;
}

static bool fusable_cond(const compiler *c) {
  uint32_t top = c->h - 1;
  return c->fuse_at >= 0 && c->fuse_pos == top && c->stack[top] == T(c, top);
}

/* i32.eqz of the comparison just computed: the negated comparison instead
 * (`if (!(a == b))`), which still fuses with a branch after it. */
static bool try_negate_cond(compiler *c) {
  if (!fusable_cond(c) || c->fuse_op == TW_OP_i32_eqz) return false;
  uint8_t inv = cmps[c->fuse_op].inverse;
  tw__iop op = (tw__iop)(c->fuse_imm ? cmps[inv].imm : cmps[inv].value);
  set_handler(c, c->fuse_at, op);
  if (c->last_at == c->fuse_at) c->last_iop = op;
  c->fuse_op = inv;
  return true;
}

/* Takes back the comparison that computed the condition on top and returns
 * the compare-and-branch op (branching when the comparison is true, or
 * false when `negate`), with its operands in ops[], count in *nops. */
static tw__iop take_fused_cond(compiler *c, bool negate, uint32_t ops[2],
                               uint32_t *nops) {
  c->n = (size_t)c->fuse_at;
  forget(c);
  c->h--;
  ops[0] = c->fuse_a;
  ops[1] = c->fuse_b;
  if (c->fuse_op == TW_OP_i32_eqz) {
    *nops = 1;
    return negate ? TW_IOP_br_if : TW_IOP_br_unless;
  }
  *nops = 2;
  const cmp_info *ci = &cmps[c->fuse_op];
  if (negate) return c->fuse_imm ? ci->inv_br_imm : ci->inv_br;
  return c->fuse_imm ? ci->br_imm : ci->br;
}

static void do_block(compiler *c, tw__reader *r, uint8_t op) {
  blocktype bt = read_blocktype(c, r);
  uint32_t cond[2] = {0, 0}, ncond = 1;
  tw__iop if_op = TW_IOP_br_unless;
  if (op == TW_OP_if_) {
    if (fusable_cond(c))
      if_op = take_fused_cond(c, true, cond, &ncond);
    else
      cond[0] = pop(c);
  }
  materialise_from(c, 0);
  push_ctrl(c, op == TW_OP_block ? CT_BLOCK : op == TW_OP_loop ? CT_LOOP
                                                                : CT_IF,
            bt);
  if (c->oom) return;
  ctrl *l = label(c, 0);
  if (op == TW_OP_loop) {
    l->loop_head = (uint32_t)c->n; /* a label: no peephole across it */
    forget(c);
  } else if (op == TW_OP_if_) {
    uint32_t at = emit_op(c, if_op);
    emit_words(c, cond, ncond);
    l->else_site = (patch){(uint32_t)c->n, at, -1};
    emit(c, 0);
  }
}

static void reset_stack(compiler *c, uint32_t h) {
  if (!stack_reserve(c, h)) return;
  c->h = h;
  if (h > c->max_h) c->max_h = h;
  for (uint32_t p = 0; p < h; p++) c->stack[p] = T(c, p);
}

static void do_else(compiler *c) {
  ctrl *l = label(c, 0);
  if (!c->dead) {
    materialise_from(c, l->base);
    emit_jump(c, l, TW_IOP_br, NULL, 0);
  }
  bind(c, l->else_site);
  l->has_else = true;
  c->last_dst = -1;
  reset_stack(c, l->base + l->nparams);
  c->dead = false;
}

/* Returns true at the end of the function. */
static bool do_end(compiler *c) {
  ctrl *l = label(c, 0);
  if (l->kind == CT_FUNC) {
    if (!c->dead) emit_return(c);
    return true;
  }
  if (!c->dead) materialise_from(c, l->base);
  if (l->kind == CT_IF && !l->has_else) bind(c, l->else_site);
  bind_list(c, l->patches);
  reset_stack(c, l->base + l->nresults);
  c->nctrl--;
  c->dead = false;
  return false;
}

static void do_br_if(compiler *c, uint32_t depth) {
  ctrl *l = label(c, depth);
  c->h--; /* the values a branch carries sit below the condition */
  bool copies = branch_needs_copies(c, l);
  c->h++;
  if (!copies && fusable_cond(c)) {
    /* a counter stepped just before the comparison (i++; i != n): the
     * step goes into the compare-and-branch */
    uint32_t ops[5], nops;
    int64_t step_at = c->prev_at;
    bool step = step_at >= 0 && c->prev_iop == TW_IOP_i32_add_imm &&
                step_at + 5 == c->fuse_at && c->fuse_op != TW_OP_i32_eqz;
    if (step) memcpy(ops, c->words + step_at + 2, 3 * sizeof *ops); /* d s k */
    bool imm = c->fuse_imm;
    const cmp_info *ci = &cmps[c->fuse_op];
    tw__iop op = take_fused_cond(c, false, ops + (step ? 3 : 0), &nops);
    if (step) {
      c->n = (size_t)step_at;
      op = imm ? ci->br_imm_step : ci->br_step;
      nops += 3;
    }
    emit_jump(c, l, op, ops, nops);
    return;
  }
  if (!copies && last_is(c, TW_IOP_i32_add_imm, 5) &&
      c->words[c->last_at + 2] == c->stack[c->h - 1]) {
    /* a counter stepped and tested for zero: one dispatch, with the two
     * pointer bumps before it when there are (an unrolled loop's tail) */
    uint32_t ops[15], nops = 3, nrun = 0, nadd = 0;
    int64_t from = c->last_at;
    if (c->prev_at >= 0 && c->prev_iop == TW_IOP_i32_add_imm2 &&
        c->prev_at + 8 == c->last_at) {
      from = c->prev_at;
      nops = 9;
    }
    /* and a byte run just before: a copy loop's whole body in one op,
     * with the two address sums before it when there are */
    if (c->mv_at >= 0 && c->mv_op == TW_IOP_move1_run && c->mv_end == (size_t)from) {
      nrun = 6;
      from = c->mv_at;
      if (nops == 3 && c->mv_prev_at >= 0 && c->mv_prev_iop == TW_IOP_i32_add2 &&
          c->mv_prev_at + 8 == c->mv_at)
        from = c->mv_prev_at, nadd = 6;
    }
    /* operands in instruction order: [add2] [run] [add_imm2] add_imm */
    memcpy(ops, c->words + from + 2, nadd * sizeof *ops);
    memcpy(ops + nadd, c->words + c->mv_at + 2, nrun * sizeof *ops);
    if (nops == 9) /* the add_imm2 just before the add_imm */
      memcpy(ops + nadd + nrun, c->words + c->last_at - 6, 6 * sizeof *ops);
    memcpy(ops + nadd + nrun + nops - 3, c->words + c->last_at + 2, 3 * sizeof *ops);
    c->n = (size_t)from;
    forget(c);
    c->h--;
    static const tw__iop fused[3][2] = {
        {TW_IOP_br_i32_add_imm_nez, TW_IOP_br_i32_add_imm3_nez},
        {TW_IOP_move1_run_br_add_nez, TW_IOP_move1_run_br_add3_nez},
        {TW_IOP_i32_add2_move1_run_br_add_nez, TW_IOP_COUNT}};
    emit_jump(c, l, fused[(nrun + nadd) / 6][nops == 9], ops, nadd + nrun + nops);
    return;
  }
  uint32_t cond = pop(c);
  if (!copies) {
    emit_jump(c, l, TW_IOP_br_if, &cond, 1);
    return;
  }
  uint32_t at = emit_op(c, TW_IOP_br_unless);
  emit(c, cond);
  patch skip = {(uint32_t)c->n, at, -1};
  emit(c, 0);
  emit_branch(c, depth);
  bind(c, skip);
  c->last_dst = -1;
}

static void do_br_table(compiler *c, tw__reader *r) {
  uint32_t n = 0;
  tw__read_u32(r, &n);
  uint32_t idx = pop(c);
  uint32_t at = emit_op(c, TW_IOP_br_table);
  emit(c, idx);
  emit(c, n);
  size_t first = c->n;
  for (uint32_t i = 0; i <= n; i++) emit(c, 0);
  /* entries: direct to the label when no copies are needed, else to a stub
   * after the table that copies and branches */
  for (uint32_t i = 0; i <= n && !c->oom; i++) {
    uint32_t depth = 0;
    tw__read_u32(r, &depth);
    ctrl *l = label(c, depth);
    if (branch_needs_copies(c, l)) {
      c->words[first + i] = (uint32_t)((int64_t)c->n - at);
      emit_branch(c, depth);
    } else if (l->kind == CT_LOOP) {
      c->words[first + i] = (uint32_t)((int64_t)l->loop_head - at);
    } else {
      add_patch(c, &l->patches, (uint32_t)(first + i), at);
    }
  }
}

/* call: x is the function; call_indirect: x is the table.  Arguments go
 * home first: they become the callee's locals. */
static void do_call(compiler *c, uint32_t typeidx, bool indirect,
                    uint32_t x) {
  const tw__functype *t = &c->m->types[typeidx];
  uint32_t idx = indirect ? pop(c) : 0;
  materialise_from(c, c->h - t->nparams);
  uint32_t base = T(c, c->h - t->nparams);
  if (indirect) {
    emit_op(c, TW_IOP_call_indirect);
    emit(c, c->m->type_ids[typeidx]);
    emit(c, x);
    emit(c, base);
    emit(c, idx);
  } else {
    emit_op(c, TW_IOP_call);
    emit(c, x);
    emit(c, base);
  }
  c->h -= t->nparams;
  for (uint32_t i = 0; i < t->nresults; i++) push(c);
}

static void do_local_set(compiler *c, uint32_t x, bool tee) {
  uint32_t top = c->h - 1;
  materialise_local(c, x, top);
  if (c->stack[top] == T(c, top) && c->last_dst >= 0 &&
      c->last_dst_pos == top) {
    c->words[c->last_dst] = x; /* the producer writes the local directly */
  } else {
    emit_move(c, x, top);
  }
  c->last_dst = -1;
  c->fuse_at = -1;
  if (tee && !is_const(c, top))
    c->stack[top] = x;
  else if (!tee)
    c->h--;
}

/* Operator tables generated from the opcode list. */
enum { K_CTRL, K_NUM, K_LOAD, K_STORE };
typedef struct op_info {
  uint8_t kind, binary;
  uint16_t iop;
} op_info;
#define TW__K_CTRL K_CTRL
#define TW__K_NUM K_NUM
#define TW__K_LOAD K_LOAD
#define TW__K_STORE K_STORE
#define TW__B_NONE 0
#define TW__B_I32 1
#define TW__B_I64 1
#define TW__B_F32 1
#define TW__B_F64 1
#define TW__V_CTRL(id) 0
#define TW__V_NUM(id) TW_IOP_##id
#define TW__V_LOAD(id) TW_IOP_##id
#define TW__V_STORE(id) TW_IOP_##id
#define TW__I(byte, id, text, kind, a, b, r, al)                            \
  [byte] = {TW__K_##kind, TW__B_##b, TW__V_##kind(id)},
static const op_info ops[256] = {TW_WASM_OPS(TW__I)};
#define TW__KV_NUM(id) 0
#define TW__KV_CTRL(id) 0
#define TW__KV_LOAD(id) TW_IOP_##id##_k
#define TW__KV_STORE(id) TW_IOP_##id##_k
#define TW__K(byte, id, text, kind, a, b, r, al) [byte] = TW__KV_##kind(id),
static const uint16_t k_ops[256] = {TW_WASM_OPS(TW__K)};
#undef TW__K
#define TW__PV_NUM(id) 0
#define TW__PV_CTRL(id) 0
#define TW__PV_STORE(id) TW_IOP_##id##_pa
#define TW__PV_LOAD(id) TW_IOP_##id##_pa
#define TW__P(byte, id, text, kind, a, b, r, al) [byte] = TW__PV_##kind(id),
static const uint16_t pa_ops[256] = {TW_WASM_OPS(TW__P)};
#undef TW__P
/* access width of each load and store: its natural alignment */
#define TW__WD(byte, id, text, kind, a, b, r, al) [byte] = 1u << al,
static const uint8_t mem_width[256] = {TW_WASM_OPS(TW__WD)};
#undef TW__WD
static const op_info fc_ops[TW_FC_COUNT] = {TW_WASM_FC_OPS(TW__I)};
#undef TW__I

/* A constant address folds into the offset when the sum stays below 4 GiB
 * (the _k forms take one 32-bit effective address). */
static bool const_address(const compiler *c, uint32_t pos, uint32_t offset,
                          uint32_t *ea) {
  if (!is_const(c, pos)) return false;
  uint64_t sum = (uint64_t)(uint32_t)c->kval[pos] + offset;
  if (sum > UINT32_MAX) return false;
  *ea = (uint32_t)sum;
  return true;
}

static void do_load(compiler *c, op_info info, uint8_t wop, uint32_t offset) {
  uint32_t ea, top = c->h - 1;
  c->load_op = wop;
  if (const_address(c, top, offset, &ea)) {
    c->h--;
    emit_op(c, k_ops[wop]);
    emit_dst(c);
    emit(c, ea);
    return;
  }
  if (is_add(c, top)) {
    /* the address is a step from a slot: the add goes into the load */
    uint32_t a = c->vbase[top], k = (uint32_t)c->kval[top];
    c->h--;
    emit_op(c, pa_ops[wop]);
    emit_dst(c);
    emit(c, a);
    emit(c, k);
    emit(c, offset);
    return;
  }
  uint32_t addr = pop(c);
  emit_op(c, info.iop);
  emit_dst(c);
  emit(c, addr);
  emit(c, offset);
}

/* One element of a copy: width bytes from (u32)(s + ks) to (u32)(d + kd). */
typedef struct move_elem {
  uint32_t d, kd, s, ks;
} move_elem;

static const tw__iop moves[9] = {[1] = TW_IOP_move1, [2] = TW_IOP_move2,
                                 [4] = TW_IOP_move4, [8] = TW_IOP_move8};
static const tw__iop moves_pa[9] = {[1] = TW_IOP_move1_pa,
                                    [2] = TW_IOP_move2_pa,
                                    [4] = TW_IOP_move4_pa,
                                    [8] = TW_IOP_move8_pa};
static const tw__iop moves_run[9] = {[1] = TW_IOP_move1_run,
                                     [2] = TW_IOP_move2_run,
                                     [4] = TW_IOP_move4_run,
                                     [8] = TW_IOP_move8_run};

/* Appends e to the move or run just before it when e continues it with the
 * same slots and a constant step (unrolled byte and word copy loops): the
 * moves stay in their order, so overlapping copies keep their meaning. */
static bool extend_move_run(compiler *c, uint32_t width, move_elem e) {
  if (c->mv_at < 0 || c->mv_end != c->n) return false;
  uint32_t *w = c->words + c->mv_at;
  tw__iop op = c->mv_op;
  if (w[2] != e.d || w[4] != e.s) return false;
  if (op == moves_run[width]) {
    uint32_t n = w[6], step = w[7];
    if (n == UINT32_MAX || e.kd != w[3] + n * step || e.ks != w[5] + n * step)
      return false;
    w[6] = n + 1;
    return true;
  }
  bool single = op == moves_pa[width] || (op == moves[width] && !w[3] && !w[5]);
  uint32_t step = e.kd - w[3];
  if (!single || e.ks - w[5] != step) return false;
  set_handler(c, c->mv_at, moves_run[width]);
  c->mv_op = moves_run[width];
  emit(c, 2);
  emit(c, step);
  c->mv_end = c->n;
  return true;
}

/* A store of the value the previous load produced, same width: one move
 * (byte and word copy loops).  An address step feeding the load or the
 * store folds in, and consecutive moves merge into a run. */
static bool try_move(compiler *c, uint8_t wop, uint32_t offset) {
  uint32_t top = c->h - 1;
  int64_t at = c->last_at;
  if (at < 0 || is_const(c, top - 1) || c->stack[top] != T(c, top) ||
      mem_width[c->load_op] != mem_width[wop])
    return false;
  uint32_t width = mem_width[wop];
  bool pa = c->last_iop == pa_ops[c->load_op];
  if (!(pa && (size_t)at + 6 == c->n) &&
      !(c->last_iop == ops[c->load_op].iop && (size_t)at + 5 == c->n))
    return false;
  if (c->words[at + 2] != T(c, top)) return false;
  uint32_t s = c->words[at + 3], ks = pa ? c->words[at + 4] : 0;
  uint32_t soff = c->words[at + (pa ? 5 : 4)];
  if (soff || offset) {
    if (pa) return false; /* (u32)(s + ks) + soff: no form for it */
    erase_from(c, at);
    c->h--;
    uint32_t daddr = pop(c);
    emit_op(c, moves[width]);
    emit(c, daddr);
    emit(c, offset);
    emit(c, s);
    emit(c, soff);
    return true;
  }
  /* the destination: a slot, or a step from one */
  move_elem e = {c->stack[top - 1], 0, s, ks};
  if (is_add(c, top - 1)) {
    e.d = c->vbase[top - 1];
    e.kd = (uint32_t)c->kval[top - 1];
  }
  int64_t before_at = c->prev_at; /* e.g. the address sums of a loop */
  tw__iop before_iop = c->prev_iop;
  erase_from(c, at);
  c->h -= 2;
  if (extend_move_run(c, width, e)) return true;
  c->mv_op = e.kd || e.ks ? moves_pa[width] : moves[width];
  keep_before(c, before_at, before_iop);
  c->mv_at = (int64_t)emit_op(c, c->mv_op);
  c->mv_prev_at = c->prev_at;
  c->mv_prev_iop = c->prev_iop;
  emit(c, e.d);
  emit(c, e.kd);
  emit(c, e.s);
  emit(c, e.ks);
  c->mv_end = c->n;
  return true;
}

/* An i32.store of the funnel shift just computed (musl memcpy's unaligned
 * loop: each word is merged from two loads and stored): one op. */
static bool try_store_funnel(compiler *c, uint8_t wop, uint32_t offset) {
  uint32_t top = c->h - 1;
  if (wop != TW_OP_i32_store || !last_is(c, TW_IOP_i32_or_shl_shr, 7) ||
      c->stack[top] != T(c, top) || c->words[c->last_at + 2] != T(c, top) ||
      is_const(c, top - 1))
    return false;
  uint32_t f[4], load[4];
  memcpy(f, c->words + c->last_at + 3, sizeof f); /* a l b r */
  /* the load just before that feeds the merge goes into the same op */
  bool with_load = c->prev_at >= 0 && c->prev_iop == TW_IOP_i32_load_pa &&
                   c->prev_at + 6 == c->last_at;
  if (with_load) memcpy(load, c->words + c->prev_at + 2, sizeof load);
  erase_from(c, with_load ? c->prev_at : c->last_at);
  c->h--;
  uint32_t base, k = 0;
  if (is_add(c, top - 1)) {
    base = c->vbase[top - 1];
    k = (uint32_t)c->kval[top - 1];
    c->h--;
  } else {
    base = pop(c);
  }
  if (with_load) {
    emit_op(c, TW_IOP_i32_load_store_or_shl_shr);
    emit_words(c, load, 4);
  } else {
    emit_op(c, TW_IOP_i32_store_or_shl_shr);
  }
  emit(c, base);
  emit(c, k);
  emit_words(c, f, 4);
  emit(c, offset);
  return true;
}

/* Read-modify-write forms: `arith` on what `load` (or load_k) loaded,
 * stored back by wasm store `store`. */
typedef struct rmw_info {
  tw__iop arith;
  uint8_t store;
  tw__iop load, load_k;
  tw__iop mem, k; /* the fused op for a slot address, a constant one */
  bool comm, imm; /* either operand may be the loaded one; b is an immediate */
} rmw_info;

/* `op` on a value of type t loaded and stored back as t */
#define RMW(t, op, k, comm, imm)                                            \
  {TW_IOP_##t##_##op, TW_OP_##t##_store, TW_IOP_##t##_load,                 \
   TW_IOP_##t##_load_k, TW_IOP_##t##_##op##_mem, k, comm, imm}
static const rmw_info rmws[] = {
    RMW(f64, add, TW_IOP_COUNT, true, false),
    RMW(f64, sub, TW_IOP_COUNT, false, false),
    RMW(f64, mul, TW_IOP_COUNT, true, false),
    RMW(i32, add, TW_IOP_COUNT, true, false),
    RMW(i64, add, TW_IOP_COUNT, true, false),
    RMW(i32, add_imm, TW_IOP_i32_add_imm_k, false, true),
    RMW(i64, add_imm, TW_IOP_i64_add_imm_k, false, true),
};
#undef RMW

/* lat when the instruction there (op) is r's load or load_k and ends at
 * `end`; else -1. */
static int64_t rmw_load(const rmw_info *r, tw__iop op, int64_t lat,
                        int64_t end, bool *k_form) {
  *k_form = op == r->load_k && lat + 4 == end;
  if (lat < 0 || !(*k_form || (op == r->load && lat + 5 == end))) return -1;
  return lat;
}

static const rmw_info *rmw_find(tw__iop arith, uint8_t wop) {
  for (size_t i = 0; i < sizeof rmws / sizeof *rmws; i++)
    if (rmws[i].arith == arith && rmws[i].store == wop) return &rmws[i];
  return NULL;
}

/* Takes back the code from word `from` on and the store's two operands,
 * and emits `op` with ops[0..n): a store fused with what computed its
 * value. */
static void fuse_store(compiler *c, int64_t from, tw__iop op,
                       const uint32_t *ops, uint32_t n) {
  erase_from(c, from);
  c->h -= 2;
  emit_op(c, op);
  emit_words(c, ops, n);
}

/* mem[p + off] += a * b: x, the value added to memory, is the product of
 * the f64_mul at mul_at, which ends where the rest (from `next`) begins;
 * t is the slot the load wrote (UINT32_MAX when the load is joined to the
 * add).  Emits the fused op in place of all. */
static bool try_muladd(compiler *c, int64_t mul_at, tw__iop mul_op,
                       int64_t next, uint32_t x, uint32_t p, uint32_t t,
                       uint32_t offset) {
  const uint32_t *w = c->words;
  if (mul_at < 0 || mul_op != TW_IOP_f64_mul || mul_at + 5 != next ||
      w[mul_at + 2] != x || x < c->base || x == p || x == t)
    return false;
  uint32_t ops[4] = {p, w[mul_at + 3], w[mul_at + 4], offset};
  fuse_store(c, mul_at, TW_IOP_f64_muladd_mem, ops, 4);
  return true;
}

/* mem[p + off] = mem[p + off] +/- a * b written as load, multiply, add or
 * subtract, store (the load first: nbody's v -= d * mag): one op.  The
 * product must not read the loaded value. */
static bool try_rmw_mul_between(compiler *c, uint8_t wop, uint32_t offset) {
  uint32_t top = c->h - 1;
  int64_t at = c->last_at, mul_at = c->prev_at, lat = c->prev2_at;
  const uint32_t *w = c->words;
  bool sub = c->last_iop == TW_IOP_f64_sub;
  if (wop != TW_OP_f64_store || (!sub && c->last_iop != TW_IOP_f64_add) ||
      !last_is(c, c->last_iop, 5) || c->last_dst != at + 2 ||
      c->stack[top] != T(c, top) || w[at + 2] != T(c, top) ||
      mul_at < 0 || c->prev_iop != TW_IOP_f64_mul || mul_at + 5 != at ||
      lat < 0 || c->prev2_iop != TW_IOP_f64_load || lat + 5 != mul_at ||
      !is_slot(c, top - 1))
    return false;
  uint32_t t = w[lat + 2], p = w[lat + 3], x = w[mul_at + 2];
  uint32_t ma = w[mul_at + 3], mb = w[mul_at + 4], a = w[at + 3], b = w[at + 4];
  bool in_order = a == t && b == x, swapped = !sub && a == x && b == t;
  if (t < c->base || x < c->base || x == t || ma == t || mb == t ||
      !(in_order || swapped))
    return false;
  if (c->stack[top - 1] != p || w[lat + 4] != offset || p == t || p == x ||
      p == T(c, top))
    return false;
  uint32_t ops[4] = {p, ma, mb, offset};
  fuse_store(c, lat, sub ? TW_IOP_f64_mulsub_mem : TW_IOP_f64_muladd_mem, ops,
             4);
  return true;
}

/* A store of what an f64 op joined with its load (try_arith_load)
 * computed, back to the address it loaded from: mem OP= x. */
static bool try_rmw_joined(compiler *c, uint8_t wop, uint32_t offset) {
  static const struct {
    tw__iop joined, mem;
  } forms[] = {{TW_IOP_f64_add_load, TW_IOP_f64_add_mem},
               {TW_IOP_f64_mul_load, TW_IOP_f64_mul_mem},
               {TW_IOP_f64_load_sub, TW_IOP_f64_sub_mem}};
  uint32_t top = c->h - 1;
  int64_t at = c->last_at;
  const uint32_t *w = c->words;
  if (wop != TW_OP_f64_store || !last_is(c, c->last_iop, 6) ||
      c->last_dst != at + 2 || c->stack[top] != T(c, top) ||
      w[at + 2] != T(c, top) || !is_slot(c, top - 1))
    return false;
  uint32_t x = w[at + 3], p = w[at + 4];
  if (c->stack[top - 1] != p || w[at + 5] != offset || p == T(c, top))
    return false;
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    if (forms[i].joined != c->last_iop) continue;
    if (forms[i].joined == TW_IOP_f64_add_load &&
        try_muladd(c, c->prev_at, c->prev_iop, at, x, p, UINT32_MAX, offset))
      return true;
    uint32_t ops[3] = {p, x, offset};
    fuse_store(c, at, forms[i].mem, ops, 3);
    return true;
  }
  return false;
}

/* mem[a] = mem[a] OP x: a load, one arithmetic op on the loaded value and
 * a store of its result to the same address, the three adjacent, become
 * one op (c[i][j] += a * b; a global counter's ++).  The loaded value and
 * the result are temps that nothing reads afterwards.  An i32 add of a
 * constant is still virtual here (the load is the last instruction). */
static bool try_rmw(compiler *c, uint8_t wop, uint32_t offset) {
  uint32_t top = c->h - 1, x;
  const uint32_t *w = c->words;
  const rmw_info *r = NULL;
  int64_t lat;
  bool k_form;
  if (is_add(c, top)) {
    r = rmw_find(TW_IOP_i32_add_imm, wop);
    if (!r || (lat = rmw_load(r, c->last_iop, c->last_at, (int64_t)c->n,
                              &k_form)) < 0 ||
        c->vbase[top] != w[lat + 2])
      return false;
    x = (uint32_t)c->kval[top];
  } else {
    int64_t at = c->last_at;
    if (at < 0 || (size_t)at + 5 != c->n || c->last_dst != at + 2 ||
        c->stack[top] != T(c, top) || w[at + 2] != T(c, top))
      return false;
    r = rmw_find(c->last_iop, wop);
    if (!r || (lat = rmw_load(r, c->prev_iop, c->prev_at, at, &k_form)) < 0)
      return false;
    uint32_t t = w[lat + 2], a = w[at + 3], b = w[at + 4];
    if (a == t && (r->imm || b != t))
      x = b;
    else if (r->comm && b == t && a != t)
      x = a;
    else
      return false;
  }
  uint32_t t = w[lat + 2], ea = 0, p = 0;
  if (t < c->base) return false; /* loaded into a local, which stays */
  if (k_form) {
    if (r->k == TW_IOP_COUNT || !const_address(c, top - 1, offset, &ea) ||
        ea != w[lat + 3])
      return false;
  } else {
    p = w[lat + 3];
    if (!is_slot(c, top - 1) || c->stack[top - 1] != p ||
        w[lat + 4] != offset || p == t || p == T(c, top))
      return false;
  }
  if (!k_form && r->arith == TW_IOP_f64_add &&
      try_muladd(c, c->prev2_at, c->prev2_iop, lat, x, p, t, offset))
    return true;
  uint32_t ops[3] = {k_form ? ea : p, x, offset};
  fuse_store(c, lat, k_form ? r->k : r->mem, ops, k_form ? 2 : 3);
  return true;
}

static void do_store(compiler *c, op_info info, uint8_t wop,
                     uint32_t offset) {
  if (try_rmw(c, wop, offset) || try_rmw_joined(c, wop, offset) ||
      try_rmw_mul_between(c, wop, offset))
    return;
  if (try_move(c, wop, offset)) return;
  if (try_store_funnel(c, wop, offset)) return;
  uint32_t v = pop(c), ea, top = c->h - 1;
  if (const_address(c, top, offset, &ea)) {
    c->h--;
    emit_op(c, k_ops[wop]);
    emit(c, v);
    emit(c, ea);
    return;
  }
  if (is_add(c, top)) {
    c->h--;
    emit_op(c, pa_ops[wop]);
    emit(c, c->vbase[top]);
    emit(c, (uint32_t)c->kval[top]);
    emit(c, v);
    emit(c, offset);
    return;
  }
  uint32_t addr = pop(c);
  emit_op(c, info.iop);
  emit(c, addr);
  emit(c, v);
  emit(c, offset);
}

/* f64 add, sub or mul with an operand loaded just before: one op that
 * loads and computes.  The loaded value is a temp nothing else reads. */
static bool try_arith_load(compiler *c, uint8_t wop) {
  static const struct {
    uint8_t wop;
    tw__iop right[2], left[2]; /* load on the right (x OP m), left (m OP x); */
  } forms[] = {                /* [0] slot address, [1] a step from a slot */
      {TW_OP_f64_add, {TW_IOP_f64_add_load, TW_IOP_f64_add_load_pa},
       {TW_IOP_f64_add_load, TW_IOP_f64_add_load_pa}},
      {TW_OP_f64_mul, {TW_IOP_f64_mul_load, TW_IOP_f64_mul_load_pa},
       {TW_IOP_f64_mul_load, TW_IOP_f64_mul_load_pa}},
      {TW_OP_f64_sub, {TW_IOP_f64_sub_load, TW_IOP_f64_sub_load_pa},
       {TW_IOP_f64_load_sub, TW_IOP_f64_load_sub_pa}}};
  if (wop != TW_OP_f64_add && wop != TW_OP_f64_sub && wop != TW_OP_f64_mul)
    return false;
  uint32_t top = c->h - 1;
  bool pa = last_is(c, TW_IOP_f64_load_pa, 6);
  if (!pa && !last_is(c, TW_IOP_f64_load, 5)) return false;
  if (!is_slot(c, top) || !is_slot(c, top - 1)) return false;
  uint32_t t = c->words[c->last_at + 2];
  bool right = c->stack[top] == t && t == T(c, top);
  if (!right && !(c->stack[top - 1] == t && t == T(c, top - 1))) return false;
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    if (forms[i].wop != wop) continue;
    /* x, then the load's address operands (p off, or a k off) */
    uint32_t ops[4] = {c->stack[right ? top - 1 : top]};
    memcpy(ops + 1, c->words + c->last_at + 3, (pa ? 3 : 2) * sizeof *ops);
    /* a product just before stays the predecessor, for try_rmw_joined */
    fuse_binary(c, c->last_at, c->prev_at, c->prev_iop,
                right ? forms[i].right[pa] : forms[i].left[pa], ops, pa ? 4 : 3);
    return true;
  }
  return false;
}

/* wop: the wasm opcode for the one-byte table, or -1 (0xFC ops). */
static void do_plain(compiler *c, tw__reader *r, op_info info, int wop) {
  if (info.kind == K_NUM) {
    if (wop >= 0 && info.binary && try_imm(c, (uint8_t)wop)) return;
    if (wop == TW_OP_i32_add && try_add_shl(c)) return;
    if (wop == TW_OP_i32_or && try_or_shifts(c)) return;
    if (wop == TW_OP_i32_xor && try_xor_shifted(c)) return;
    if (wop == TW_OP_i32_eqz && try_negate_cond(c)) return;
    if (wop >= 0 && try_arith_load(c, (uint8_t)wop)) return;
    uint32_t b = info.binary ? pop(c) : 0, a = pop(c);
    if (wop == TW_OP_i32_add && last_is(c, TW_IOP_i32_add, 5)) {
      /* two address sums in a row (base + index for a copy): one dispatch */
      set_handler(c, c->last_at, TW_IOP_i32_add2);
      c->last_iop = TW_IOP_i32_add2;
      emit_dst(c);
      emit(c, a);
      emit(c, b);
      return;
    }
    uint32_t at = emit_op(c, info.iop);
    emit_dst(c);
    emit(c, a);
    if (info.binary) emit(c, b);
    if (wop >= 0 && (cmps[wop].ok || wop == TW_OP_i32_eqz))
      note_fusable(c, at, (uint8_t)wop, false, a, b);
    return;
  }
  uint32_t align = 0, offset = 0;
  tw__read_u32(r, &align);
  tw__read_u32(r, &offset);
  if (info.kind == K_LOAD)
    do_load(c, info, (uint8_t)wop, offset);
  else
    do_store(c, info, (uint8_t)wop, offset);
}

/* Pops n operands into out[] in push order. */
static void pop_n(compiler *c, uint32_t *out, uint32_t n) {
  for (uint32_t i = n; i-- > 0;) out[i] = pop(c);
}

/* Emits op with `imm` immediates then n popped operands; with_dst puts a
 * result operand first. */
static void emit_generic(compiler *c, tw__iop op, bool with_dst,
                         const uint32_t *imm, uint32_t nimm, uint32_t n) {
  uint32_t v[4];
  pop_n(c, v, n);
  emit_op(c, op);
  if (with_dst) emit_dst(c);
  for (uint32_t i = 0; i < nimm; i++) emit(c, imm[i]);
  for (uint32_t i = 0; i < n; i++) emit(c, v[i]);
}

static void do_fc(compiler *c, tw__reader *r) {
  uint32_t sub = 0, a = 0, b = 0;
  uint8_t zero;
  tw__read_u32(r, &sub);
  if (sub < TW_FC_COUNT && fc_ops[sub].kind == K_NUM) {
    do_plain(c, r, fc_ops[sub], -1);
    return;
  }
  switch (sub) {
    case TW_FC_memory_init:
      tw__read_u32(r, &a);
      tw__read_u8(r, &zero);
      emit_generic(c, TW_IOP_memory_init, false, &a, 1, 3);
      break;
    case TW_FC_data_drop:
      tw__read_u32(r, &a);
      emit_generic(c, TW_IOP_data_drop, false, &a, 1, 0);
      break;
    case TW_FC_memory_copy:
      tw__read_u8(r, &zero);
      tw__read_u8(r, &zero);
      emit_generic(c, TW_IOP_memory_copy, false, NULL, 0, 3);
      break;
    case TW_FC_memory_fill:
      tw__read_u8(r, &zero);
      emit_generic(c, TW_IOP_memory_fill, false, NULL, 0, 3);
      break;
    case TW_FC_table_init: {
      tw__read_u32(r, &a); /* segment */
      tw__read_u32(r, &b); /* table */
      uint32_t imm[2] = {b, a};
      emit_generic(c, TW_IOP_table_init, false, imm, 2, 3);
      break;
    }
    case TW_FC_elem_drop:
      tw__read_u32(r, &a);
      emit_generic(c, TW_IOP_elem_drop, false, &a, 1, 0);
      break;
    case TW_FC_table_copy: {
      tw__read_u32(r, &a);
      tw__read_u32(r, &b);
      uint32_t imm[2] = {a, b};
      emit_generic(c, TW_IOP_table_copy, false, imm, 2, 3);
      break;
    }
    case TW_FC_table_grow:
      tw__read_u32(r, &a);
      emit_generic(c, TW_IOP_table_grow, true, &a, 1, 2);
      break;
    case TW_FC_table_size:
      tw__read_u32(r, &a);
      emit_generic(c, TW_IOP_table_size, true, &a, 1, 0);
      break;
    case TW_FC_table_fill:
      tw__read_u32(r, &a);
      emit_generic(c, TW_IOP_table_fill, false, &a, 1, 3);
      break;
  }
}


static uint64_t read_bytes_le(tw__reader *r, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n && r->p < r->end; i++)
    v |= (uint64_t)*r->p++ << (8 * i);
  return v;
}

/* Skips an instruction's immediates in unreachable code. */
static void skip_immediates(compiler *c, tw__reader *r, uint8_t op) {
  uint32_t n = 0, x;
  int64_t v;
  uint8_t b;
  switch (op) {
    case TW_OP_br: case TW_OP_br_if: case TW_OP_call: case TW_OP_local_get:
    case TW_OP_local_set: case TW_OP_local_tee: case TW_OP_global_get:
    case TW_OP_global_set: case TW_OP_table_get: case TW_OP_table_set:
    case TW_OP_ref_func:
      tw__read_u32(r, &x);
      break;
    case TW_OP_br_table:
      tw__read_u32(r, &n);
      for (uint32_t i = 0; i <= n; i++) tw__read_u32(r, &x);
      break;
    case TW_OP_call_indirect:
      tw__read_u32(r, &x);
      tw__read_u32(r, &x);
      break;
    case TW_OP_memory_size: case TW_OP_memory_grow: case TW_OP_ref_null:
      tw__read_u8(r, &b);
      break;
    case TW_OP_i32_const: tw__read_s32(r, (int32_t *)&x); break;
    case TW_OP_i64_const: tw__read_s64(r, &v); break;
    case TW_OP_f32_const: read_bytes_le(r, 4); break;
    case TW_OP_f64_const: read_bytes_le(r, 8); break;
    case TW_OP_select_t:
      tw__read_u32(r, &n);
      for (uint32_t i = 0; i < n; i++) tw__read_u8(r, &b);
      break;
    case TW_WASM_PREFIX_FC: {
      uint32_t sub = 0;
      tw__read_u32(r, &sub);
      switch (sub) {
        case TW_FC_memory_init: tw__read_u32(r, &x); tw__read_u8(r, &b); break;
        case TW_FC_memory_copy: tw__read_u8(r, &b); tw__read_u8(r, &b); break;
        case TW_FC_memory_fill: tw__read_u8(r, &b); break;
        case TW_FC_table_init: case TW_FC_table_copy:
          tw__read_u32(r, &x); tw__read_u32(r, &x); break;
        case TW_FC_data_drop: case TW_FC_elem_drop: case TW_FC_table_grow:
        case TW_FC_table_size: case TW_FC_table_fill:
          tw__read_u32(r, &x); break;
        default: break;
      }
      break;
    }
    default:
      if (ops[op].kind == K_LOAD || ops[op].kind == K_STORE) {
        tw__read_u32(r, &x);
        tw__read_u32(r, &x);
      }
      break;
  }
  (void)c;
}

/* Unreachable code: track nesting only, emit nothing.  Returns true at the
 * end of the function. */
static bool dead_instr(compiler *c, tw__reader *r, uint8_t op) {
  switch (op) {
    case TW_OP_block: case TW_OP_loop: case TW_OP_if_:
      read_blocktype(c, r);
      c->dead_depth++;
      return false;
    case TW_OP_else_:
      if (c->dead_depth == 0) do_else(c);
      return false;
    case TW_OP_end:
      if (c->dead_depth == 0) return do_end(c);
      c->dead_depth--;
      return false;
    default:
      skip_immediates(c, r, op);
      return false;
  }
}

/* Operators that leave virtual sums below their operands alone: pushes,
 * local.set/tee (which compute the sums based on the local they change),
 * and plain numeric and memory operators (they read operands by pop(),
 * which computes a sum, or fold one in). */
static bool keeps_adds(uint8_t op) {
  switch (op) {
    case TW_OP_local_get: case TW_OP_i32_const: case TW_OP_i64_const:
    case TW_OP_f32_const: case TW_OP_f64_const:
    case TW_OP_local_set: case TW_OP_local_tee: /* materialise_local */
      return true;
    case TW_WASM_PREFIX_FC:
      return false;
    default:
      return ops[op].kind != K_CTRL;
  }
}

/* Compiles one live instruction; returns true at the end of the function. */
static bool live_instr(compiler *c, tw__reader *r, uint8_t op) {
  uint32_t x = 0, y = 0;
  if (c->add_low < c->h && !keeps_adds(op)) settle_adds(c);
  switch (op) {
    case TW_OP_unreachable:
      emit_op(c, TW_IOP_unreachable);
      c->dead = true;
      return false;
    case TW_OP_nop: return false;
    case TW_OP_block: case TW_OP_loop: case TW_OP_if_:
      do_block(c, r, op);
      return false;
    case TW_OP_else_: do_else(c); return false;
    case TW_OP_end: return do_end(c);
    case TW_OP_br:
      tw__read_u32(r, &x);
      emit_branch(c, x);
      c->dead = true;
      return false;
    case TW_OP_br_if:
      tw__read_u32(r, &x);
      do_br_if(c, x);
      return false;
    case TW_OP_br_table:
      do_br_table(c, r);
      c->dead = true;
      return false;
    case TW_OP_return_:
      emit_return(c);
      c->dead = true;
      return false;
    case TW_OP_call:
      tw__read_u32(r, &x);
      do_call(c, c->m->func_types[x], false, x);
      return false;
    case TW_OP_call_indirect:
      tw__read_u32(r, &x);
      tw__read_u32(r, &y);
      do_call(c, x, true, y);
      return false;
    case TW_OP_drop: c->h--; return false; /* nothing virtual needs computing */
    case TW_OP_select_t:
      tw__read_u32(r, &x);
      for (uint32_t i = 0; i < x; i++) tw__read_u8(r, (uint8_t *)&y);
      /* fall through */
    case TW_OP_select: {
      uint32_t v[3];
      pop_n(c, v, 3);
      emit_op(c, TW_IOP_select);
      emit_dst(c);
      emit(c, v[0]);
      emit(c, v[1]);
      emit(c, v[2]);
      return false;
    }
    case TW_OP_local_get:
      tw__read_u32(r, &x);
      push_slot(c, x);
      return false;
    case TW_OP_local_set: case TW_OP_local_tee:
      tw__read_u32(r, &x);
      do_local_set(c, x, op == TW_OP_local_tee);
      return false;
    case TW_OP_global_get:
      tw__read_u32(r, &x);
      emit_op(c, TW_IOP_global_get);
      emit_dst(c);
      emit(c, x);
      return false;
    case TW_OP_global_set:
      tw__read_u32(r, &x);
      emit_generic(c, TW_IOP_global_set, false, &x, 1, 1);
      return false;
    case TW_OP_table_get:
      tw__read_u32(r, &x);
      emit_generic(c, TW_IOP_table_get, true, &x, 1, 1);
      return false;
    case TW_OP_table_set:
      tw__read_u32(r, &x);
      emit_generic(c, TW_IOP_table_set, false, &x, 1, 2);
      return false;
    case TW_OP_memory_size:
      tw__read_u8(r, (uint8_t *)&x);
      emit_generic(c, TW_IOP_memory_size, true, NULL, 0, 0);
      return false;
    case TW_OP_memory_grow:
      tw__read_u8(r, (uint8_t *)&x);
      emit_generic(c, TW_IOP_memory_grow, true, NULL, 0, 1);
      return false;
    case TW_OP_i32_const: {
      int32_t v = 0;
      tw__read_s32(r, &v);
      push_const(c, (uint32_t)v);
      return false;
    }
    case TW_OP_i64_const: {
      int64_t v = 0;
      tw__read_s64(r, &v);
      push_const(c, (uint64_t)v);
      return false;
    }
    case TW_OP_f32_const: push_const(c, read_bytes_le(r, 4)); return false;
    case TW_OP_f64_const: push_const(c, read_bytes_le(r, 8)); return false;
    case TW_OP_ref_null:
      tw__read_u8(r, (uint8_t *)&x);
      push_const(c, 0);
      return false;
    case TW_OP_ref_is_null:
      emit_generic(c, TW_IOP_i64_eqz, true, NULL, 0, 1);
      return false;
    case TW_OP_ref_func:
      tw__read_u32(r, &x);
      emit_op(c, TW_IOP_ref_func);
      emit_dst(c);
      emit(c, x);
      return false;
    case TW_WASM_PREFIX_FC: do_fc(c, r); return false;
    default:
      do_plain(c, r, ops[op], op);
      return false;
  }
}

/* One compile of a body into c->words; false when out of memory. */
static bool compile_pass(compiler *c, const tw__body *body,
                         const tw__functype *type) {
  c->base = c->nlocals + (c->pool_laid_out ? c->npool : 0);
  c->n = 0;
  c->h = c->max_h = 0;
  c->nctrl = 0;
  c->npatches = 0;
  c->dead = false;
  c->dead_depth = 0;
  c->add_low = UINT32_MAX;
  forget(c);
  c->oom = false;
  if (c->pool_laid_out) {
    for (uint32_t i = 0; i < c->npool; i++)
      emit_const_to(c, c->nlocals + i, c->pool[i]);
    forget(c);
  }
  push_ctrl(c, CT_FUNC, (blocktype){0, type->nresults});
  tw__reader r = {body->code, body->code + body->code_len, body->code,
                  body->offset};
  bool done = false;
  while (!done && !c->oom && r.p < r.end) {
    uint8_t op = *r.p++;
    done = c->dead ? dead_instr(c, &r, op) : live_instr(c, &r, op);
  }
  return !c->oom;
}

static tw_status compile_body(compiler *c, const tw__body *body,
                              const tw__functype *type, tw__code **out,
                              tw_error *err) {
  c->nlocals = type->nparams + body->nlocals;
  c->npool = 0;
  c->pool_laid_out = false;
  bool ok = compile_pass(c, body, type);
  if (ok && c->npool) {
    c->pool_laid_out = true;
    ok = compile_pass(c, body, type);
  }
  tw__code *code = ok ? calloc(1, sizeof *code) : NULL;
  if (!code)
    return tw__error_set(err, TW_NOMEM, body->offset,
                         "out of memory compiling function");
  code->words = malloc((c->n ? c->n : 1) * sizeof(uint32_t));
  if (!code->words) {
    free(code);
    return tw__error_set(err, TW_NOMEM, body->offset,
                         "out of memory compiling function");
  }
  memcpy(code->words, c->words, c->n * sizeof(uint32_t));
  code->nwords = c->n;
  code->nparams = type->nparams;
  code->nresults = type->nresults;
  code->nlocals = c->nlocals;
  /* results may exceed params+locals+stack when a function has none */
  uint32_t fs = c->base + c->max_h;
  code->frame_size = (fs > type->nresults ? fs : type->nresults) + 1;
  *out = code;
  return TW_OK;
}

tw_status tw__module_compile(tw_module_t *mod, tw_error *err) {
  tw__module *m = &mod->m;
  compiler c;
  memset(&c, 0, sizeof c);
  c.m = m;
  c.mod = mod;
  tw_status st = TW_OK;
  uint32_t ndefined = m->nfuncs - m->nfunc_imports;
  const char *dump = getenv("TW_DUMP_CODE");
  for (uint32_t i = 0; i < ndefined && st == TW_OK; i++) {
    const tw__functype *t = &m->types[m->func_types[m->nfunc_imports + i]];
    st = compile_body(&c, &m->bodies[i], t, &m->bodies[i].compiled, err);
    if (st == TW_OK && dump && (uint32_t)atoi(dump) == m->nfunc_imports + i) {
      fprintf(stderr, "func %u:\n", m->nfunc_imports + i);
      tw__code_dump(stderr, m->bodies[i].compiled);
    }
  }
  free(c.words);
  free(c.stack);
  free(c.kval);
  free(c.vbase);
  free(c.ctrls);
  free(c.patches);
  return st;
}

void tw__code_free(struct tw__code *code) {
  if (!code) return;
  free(code->words);
  free(code);
}
