/* The interpreter: runs the internal code of code.h.
 *
 * One loop, direct-threaded with computed goto (a switch when
 * TW_COMPUTED_GOTO is 0).  pc, fp, the current instance and its memory base
 * live in locals; they are reloaded after anything that switches frames or
 * instances.  Wasm calls do not recurse in C: frames are records in the
 * store's frame stack, so guest recursion depth is bounded by the store's
 * limits, never by the C stack.
 *
 * Memory accesses are not bounds-checked here: linear memory is reserved
 * with a guard region (memory.c) and the fault handler turns a guard fault
 * into a trap by jumping back to tw__invoke.  Bulk operations, which can
 * span more than the guard, are checked explicitly.
 *
 * Invariant: s->exec.frame_top and s->exec.cur_func are kept current at
 * every call and return, so a trap (including one raised from the signal
 * handler, which loses the locals) can always produce a backtrace. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wasm/code.h"

/* ---- value helpers ------------------------------------------------------ */

static inline float bits_f32(uint64_t v) {
  uint32_t u = (uint32_t)v;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline double bits_f64(uint64_t v) {
  double d;
  memcpy(&d, &v, 8);
  return d;
}
static inline uint64_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

/* min/max: NaN in → NaN out; -0 < +0 (C's fmin does not promise either). */
static inline float f32_min(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return signbit(a) ? a : b;
  return a < b ? a : b;
}
static inline float f32_max(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return signbit(a) ? b : a;
  return a > b ? a : b;
}
static inline double f64_min(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return signbit(a) ? a : b;
  return a < b ? a : b;
}
static inline double f64_max(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return signbit(a) ? b : a;
  return a > b ? a : b;
}

static inline uint32_t rotl32(uint32_t a, uint32_t b) {
  b &= 31;
  return (a << b) | (a >> ((32 - b) & 31));
}
static inline uint32_t rotr32(uint32_t a, uint32_t b) {
  b &= 31;
  return (a >> b) | (a << ((32 - b) & 31));
}
static inline uint64_t rotl64(uint64_t a, uint64_t b) {
  b &= 63;
  return (a << b) | (a >> ((64 - b) & 63));
}
static inline uint64_t rotr64(uint64_t a, uint64_t b) {
  b &= 63;
  return (a >> b) | (a << ((64 - b) & 63));
}

/* Saturating truncations: NaN → 0, clamp to the target range (the lower
 * bound itself maps to minv, which is the exact result there). */
#define TW__SAT(name, FT, IT, lo, hi, minv, maxv)                            \
  static inline IT name(FT x) {                                            \
    if (x != x) return 0;                                                  \
    if (!(x > (FT)(lo))) return (IT)(minv);                                \
    if (!(x < (FT)(hi))) return (IT)(maxv);                                \
    return (IT)x;                                                          \
  }
TW__SAT(sat_f32_s32, float, int32_t, -0x1p31f, 0x1p31f, INT32_MIN, INT32_MAX)
TW__SAT(sat_f32_u32, float, uint32_t, -1.0f, 0x1p32f, 0, UINT32_MAX)
TW__SAT(sat_f64_s32, double, int32_t, -2147483649.0, 2147483648.0, INT32_MIN, INT32_MAX)
TW__SAT(sat_f64_u32, double, uint32_t, -1.0, 4294967296.0, 0, UINT32_MAX)
TW__SAT(sat_f32_s64, float, int64_t, -0x1p63f, 0x1p63f, INT64_MIN, INT64_MAX)
TW__SAT(sat_f32_u64, float, uint64_t, -1.0f, 0x1p64f, 0, UINT64_MAX)
TW__SAT(sat_f64_s64, double, int64_t, -0x1p63, 0x1p63, INT64_MIN, INT64_MAX)
TW__SAT(sat_f64_u64, double, uint64_t, -1.0, 0x1p64, 0, UINT64_MAX)
#undef TW__SAT

/* ---- execution stacks --------------------------------------------------- */

uint64_t *tw__exec_args(tw_store_t *s, tw_error *err) {
  tw__exec *e = &s->exec;
  if (TW_UNLIKELY(!e->slots)) {
    const tw_engine_config *c = &s->engine->config;
    size_t nslots = c->max_stack_slots ? c->max_stack_slots : (1u << 20);
    size_t nframes = c->max_call_depth ? c->max_call_depth : 20000;
    e->slots_bytes = nslots * sizeof(uint64_t);
    void *p = mmap(NULL, e->slots_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      tw__error_set(err, TW_NOMEM, SIZE_MAX,
                    "cannot reserve %zu bytes for the value stack",
                    e->slots_bytes);
      return NULL;
    }
    e->frames_bytes = nframes * sizeof(tw__frame);
    e->frames = malloc(e->frames_bytes);
    if (!e->frames) {
      munmap(p, e->slots_bytes);
      tw__error_set(err, TW_NOMEM, SIZE_MAX, "cannot allocate frame stack");
      return NULL;
    }
    e->slots = p;
    e->slots_end = e->slots + nslots;
    e->frames_end = e->frames + nframes;
    e->frame_top = e->frames;
  }
  return e->slot_top ? e->slot_top : e->slots;
}

void tw__exec_release(tw__exec *e) {
  if (e->slots) munmap(e->slots, e->slots_bytes);
  free(e->frames);
  memset(e, 0, sizeof *e);
}

/* ---- traps ----------------------------------------------------------------*/

static void copy_name(char *dst, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= TW_FRAME_NAME_MAX) n = TW_FRAME_NAME_MAX - 1;
  if (n) memcpy(dst, src, n);
  dst[n] = 0;
}

static void add_frame(tw_error *err, tw_func_t *f) {
  if (!f) return;
  err->frames_total++;
  if (err->frame_count >= TW_BACKTRACE_MAX) return;
  tw_frame *fr = &err->frames[err->frame_count++];
  fr->func_index = f->index;
  const char *name = NULL;
  if (f->inst) {
    const tw__module *m = &f->inst->module->m;
    if (m->func_names && f->index < m->nfuncs) name = m->func_names[f->index];
  }
  copy_name(fr->name, name);
}

/* Fills err with trap `code` and the wasm backtrace between the store's
 * current frame and `entry` (exclusive). */
static void record_trap(tw_store_t *s, tw__frame *entry, tw_trap_code code,
                        tw_error *err) {
  if (!err) return;
  if (code != TW_TRAP_HOST || err->status != TW_TRAP) tw__trap(err, code);
  err->frame_count = 0;
  err->frames_total = 0;
  add_frame(err, s->exec.cur_func);
  for (tw__frame *fr = s->exec.frame_top; fr > entry; fr--)
    add_frame(err, fr[-1].func);
}

/* A host function failed: keep its trap, or turn its error into one. */
static void host_failure(tw_status st, tw_error *err) {
  if (!err || st == TW_TRAP) return;
  char msg[TW_ERROR_MESSAGE_MAX - 64]; /* room for the prefix below */
  size_t n = strnlen(err->message, sizeof msg - 1);
  memcpy(msg, err->message, n);
  msg[n] = 0;
  tw__trap(err, TW_TRAP_HOST);
  snprintf(err->message, sizeof err->message, "host function failed: %s (%s)",
           msg[0] ? msg : tw_status_message(st), tw_status_name(st));
}

/* ---- the loop ------------------------------------------------------------ */

#if TW_COMPUTED_GOTO
#define OP(id) L_##id:
#define DISPATCH()                                                          \
  do {                                                                      \
    uint64_t h_;                                                            \
    memcpy(&h_, pc, 8);                                                     \
    goto *(void *)(uintptr_t)h_;                                            \
  } while (0)
#else
#define OP(id) case TW_IOP_##id:
#define DISPATCH() goto dispatch
#endif
#define NEXT(n)                                                             \
  do {                                                                      \
    pc += (n);                                                              \
    DISPATCH();                                                             \
  } while (0)
/* Taken branches: a backward one (or one to itself) is a loop iteration,
 * where the budget is checked (no separate op at loop heads). */
#define BRANCH(off)                                                         \
  do {                                                                      \
    int32_t o_ = (int32_t)(off);                                            \
    if (o_ <= 0 && TW_UNLIKELY(check_budget(s))) TRAP(budget_trap(s));      \
    NEXT(o_);                                                               \
  } while (0)
#define TRAP(code)                                                          \
  do {                                                                      \
    trap = (code);                                                          \
    goto trapped;                                                           \
  } while (0)

#define SLOT(o) fp[pc[o]]
#define G_u32(o) ((uint32_t)SLOT(o))
#define G_s32(o) ((int32_t)(uint32_t)SLOT(o))
#define G_u64(o) (SLOT(o))
#define G_s64(o) ((int64_t)SLOT(o))
#define G_f32(o) bits_f32(SLOT(o))
#define G_f64(o) bits_f64(SLOT(o))
#define P_u32(o, v) (SLOT(o) = (uint32_t)(v))
#define P_s32(o, v) (SLOT(o) = (uint32_t)(int32_t)(v))
#define P_u64(o, v) (SLOT(o) = (uint64_t)(v))
#define P_s64(o, v) (SLOT(o) = (uint64_t)(int64_t)(v))
#define P_f32(o, v) (SLOT(o) = f32_bits(v))
#define P_f64(o, v) (SLOT(o) = f64_bits(v))

/* dst a: r = expr(a) */
#define UN(id, TA, TR, expr)                                                \
  OP(id) {                                                                  \
    TA##_t a = G_##TA(3);                                                   \
    P_##TR(2, expr);                                                        \
    NEXT(4);                                                                \
  }
/* dst a b: r = expr(a, b) */
#define BIN(id, TA, TR, expr)                                               \
  OP(id) {                                                                  \
    TA##_t a = G_##TA(3), b = G_##TA(4);                                    \
    P_##TR(2, expr);                                                        \
    NEXT(5);                                                                \
  }
/* dst addr offset; the _k form: dst ea */
#define LOAD(id, CT, TR, conv)                                              \
  OP(id) {                                                                  \
    CT v;                                                                   \
    memcpy(&v, mem + (uint64_t)G_u32(3) + pc[4], sizeof v);                 \
    P_##TR(2, conv v);                                                      \
    NEXT(5);                                                                \
  }                                                                         \
  OP(id##_k) {                                                              \
    CT v;                                                                   \
    memcpy(&v, mem + (uint64_t)pc[3], sizeof v);                            \
    P_##TR(2, conv v);                                                      \
    NEXT(4);                                                                \
  }                                                                         \
  OP(id##_pa) {                                                             \
    CT v;                                                                   \
    memcpy(&v, mem + (uint64_t)(uint32_t)(G_u32(3) + pc[4]) + pc[5],        \
           sizeof v);                                                       \
    P_##TR(2, conv v);                                                      \
    NEXT(6);                                                                \
  }
/* addr val offset; the _k form: val ea; the _pa form: a k val offset */
#define STORE(id, CT, TV)                                                   \
  OP(id) {                                                                  \
    CT v = (CT)G_##TV(3);                                                   \
    memcpy(mem + (uint64_t)G_u32(2) + pc[4], &v, sizeof v);                 \
    NEXT(5);                                                                \
  }                                                                         \
  OP(id##_k) {                                                              \
    CT v = (CT)G_##TV(2);                                                   \
    memcpy(mem + (uint64_t)pc[3], &v, sizeof v);                            \
    NEXT(4);                                                                \
  }                                                                         \
  OP(id##_pa) {                                                             \
    CT v = (CT)G_##TV(4);                                                   \
    memcpy(mem + (uint64_t)(uint32_t)(G_u32(2) + pc[3]) + pc[5], &v,        \
           sizeof v);                                                       \
    NEXT(6);                                                                \
  }
/* daddr doff saddr soff: a load whose value only feeds a store.  _pa:
 * d kd s ks, addresses (u32)(slot + k), the adds wrapping as the wasm they
 * replace.  _run: d kd s ks n step, n of those in order (an unrolled copy
 * loop's body), each k += step after each; a trap leaves the earlier ones
 * done, as the separate moves would. */
#define MOVE(id, CT)                                                        \
  OP(id) {                                                                  \
    CT v;                                                                   \
    memcpy(&v, mem + (uint64_t)G_u32(4) + pc[5], sizeof v);                 \
    memcpy(mem + (uint64_t)G_u32(2) + pc[3], &v, sizeof v);                 \
    NEXT(6);                                                                \
  }                                                                         \
  OP(id##_pa) {                                                             \
    CT v;                                                                   \
    memcpy(&v, mem + (uint32_t)(G_u32(4) + pc[5]), sizeof v);               \
    memcpy(mem + (uint32_t)(G_u32(2) + pc[3]), &v, sizeof v);               \
    NEXT(6);                                                                \
  }                                                                         \
  OP(id##_run) {                                                            \
    MOVE_RUN(CT, 2);                                                        \
    NEXT(8);                                                                \
  }
/* The moves of a _run op, operands d kd s ks n step from pc[o]. */
#define MOVE_RUN(CT, o)                                                     \
  do {                                                                      \
    uint32_t d_ = G_u32(o), kd_ = pc[(o) + 1], s_ = G_u32((o) + 2);         \
    uint32_t ks_ = pc[(o) + 3], n_ = pc[(o) + 4], step_ = pc[(o) + 5];      \
    if (run_as_block(mem, inst->memory0->size, d_ + kd_, s_ + ks_, n_,      \
                     sizeof(CT), step_))                                    \
      break;                                                                \
    for (; n_ > 0; n_--, kd_ += step_, ks_ += step_) {                      \
      CT v;                                                                 \
      memcpy(&v, mem + (uint32_t)(s_ + ks_), sizeof v);                     \
      memcpy(mem + (uint32_t)(d_ + kd_), &v, sizeof v);                     \
      /* one move at a time, in order: a vectorised loop (clang -O2) */     \
      /* would fault on a wide store and leave the earlier moves undone */  \
      __asm__ volatile("" ::: "memory");                                    \
    }                                                                       \
  } while (0)
/* i32_add2 with its operands from pc[o] */
#define ADD2(o)                                                             \
  do {                                                                      \
    P_u32(o, G_u32((o) + 1) + G_u32((o) + 2));                              \
    /* after the first: it may read its result */                           \
    P_u32((o) + 3, G_u32((o) + 4) + G_u32((o) + 5));                        \
  } while (0)
/* br_i32_add_imm_nez with its operands from pc[o], `len` words in all;
 * _ADD3: br_i32_add_imm3_nez's. */
#define BR_ADD_NEZ(o, len)                                                  \
  do {                                                                      \
    uint32_t d_ = G_u32((o) + 1) + pc[(o) + 2];                             \
    P_u32(o, d_);                                                           \
    if (d_) BRANCH(pc[(o) + 3]);                                            \
    NEXT(len);                                                              \
  } while (0)
#define BR_ADD3_NEZ(o, len)                                                 \
  do {                                                                      \
    P_u32(o, G_u32((o) + 1) + pc[(o) + 2]);                                 \
    P_u32((o) + 3, G_u32((o) + 4) + pc[(o) + 5]); /* in order: each may */  \
    BR_ADD_NEZ((o) + 6, len);                     /* read the one before */ \
  } while (0)
/* mem[ea] = mem[ea] OP x: the value m read at a_, EXPR of m written back;
 * `len` words in all. */
#define RMW(CT, ea, EXPR, len)                                              \
  do {                                                                      \
    uint8_t *a_ = mem + (ea);                                               \
    CT m;                                                                   \
    memcpy(&m, a_, sizeof m);                                               \
    m = (EXPR);                                                             \
    memcpy(a_, &m, sizeof m);                                               \
    NEXT(len);                                                              \
  } while (0)
/* the address of the p x off forms */
#define RMW_EA ((uint64_t)G_u32(2) + pc[4])
/* mem[p + off] = mem[p + off] OP a * b, operands p a b off: the product in
 * its own statement, so that it is rounded (never contracted into an FMA) */
#define RMW_PRODUCT(OP)                                                     \
  do {                                                                      \
    double p_ = G_f64(3) * G_f64(4);                                        \
    RMW(double, (uint64_t)G_u32(2) + pc[5], m OP p_, 6);                    \
  } while (0)
/* d = EXPR of x (a slot) and m, the f64 at ea; `len` words in all */
#define ARITH_LOAD(ea, EXPR, len)                                           \
  do {                                                                      \
    double m, x = G_f64(3);                                                 \
    memcpy(&m, mem + (ea), 8);                                              \
    P_f64(2, EXPR);                                                         \
    NEXT(len);                                                              \
  } while (0)
#define ARITH_LOAD_EA ((uint64_t)G_u32(4) + pc[5])
#define ARITH_LOAD_PA_EA ((uint64_t)(uint32_t)(G_u32(4) + pc[5]) + pc[6])
/* i32.store at (u32)(p + k) + off of (a << l) | (b >> r), operands p k a l
 * b r off from pc[o], `len` words in all. */
#define STORE_FUNNEL(o, len)                                                \
  do {                                                                      \
    uint32_t v_ = (G_u32((o) + 2) << (pc[(o) + 3] & 31)) |                  \
                  (G_u32((o) + 4) >> (pc[(o) + 5] & 31));                   \
    memcpy(mem + (uint64_t)(uint32_t)(G_u32(o) + pc[(o) + 1]) + pc[(o) + 6], \
           &v_, 4);                                                         \
    NEXT(len);                                                              \
  } while (0)
/* checked float → int truncation */
#define TRUNC(id, TA, TR, lo_ok, hi)                                        \
  OP(id) {                                                                  \
    TA##_t a = G_##TA(3);                                                   \
    if (a != a) TRAP(TW_TRAP_INVALID_CONVERSION);                           \
    if (!(lo_ok && a < (hi))) TRAP(TW_TRAP_INT_OVERFLOW);                   \
    P_##TR(2, (TR##_t)a);                                                   \
    NEXT(4);                                                                \
  }

typedef uint32_t u32_t;
typedef int32_t s32_t;
typedef uint64_t u64_t;
typedef int64_t s64_t;
typedef float f32_t;
typedef double f64_t;

#if TW_COMPUTED_GOTO
static const void *const *handler_table; /* computed goto label addresses */
#endif

/* Enters the callee: pushes a frame record, checks the limits, zeroes the
 * declared locals.  Used by call and call_indirect. */
#define ENTER(callee, nfp)                                                   \
  do {                                                                      \
    tw_func_t *cf_ = (callee);                                              \
    uint64_t *nfp_ = (nfp);                                                 \
    if (TW_UNLIKELY(!cf_->code)) {                                          \
      st = call_host(s, cf_, nfp_, inst, scope, err);                       \
      if (TW_UNLIKELY(st != TW_OK)) {                                       \
        host_failure(st, err);                                              \
        TRAP(TW_TRAP_HOST);                                                 \
      }                                                                     \
      DISPATCH();                                                           \
    }                                                                       \
    const tw__code *cd_ = cf_->code;                                        \
    if (TW_UNLIKELY(ft >= frames_end ||                                     \
                    nfp_ + cd_->frame_size > slots_end))                    \
      TRAP(TW_TRAP_STACK_EXHAUSTED);                                        \
    if (TW_UNLIKELY(check_budget(s))) TRAP(budget_trap(s));                 \
    ft->ret_pc = pc;                                                        \
    ft->fp = fp;                                                            \
    ft->func = cur;                                                         \
    s->exec.frame_top = ++ft;                                               \
    s->exec.cur_func = cur = cf_;                                           \
    fp = nfp_;                                                              \
    for (uint32_t i_ = cd_->nparams; i_ < cd_->nlocals; i_++) fp[i_] = 0;   \
    if (cf_->inst != inst) SWITCH_INSTANCE(cf_->inst);                      \
    pc = cd_->words;                                                        \
    DISPATCH();                                                             \
  } while (0)

#define SWITCH_INSTANCE(i)                                                  \
  do {                                                                      \
    inst = (i);                                                             \
    mem = inst->mem0;                                                       \
    scope->mem_lo = mem;                                                    \
    scope->mem_hi = mem ? mem + inst->memory0->reserved : NULL;             \
  } while (0)

/* Interrupt and fuel, checked at calls and backward branches (every loop
 * iteration takes one): one relaxed load in the common case. */
static int budget_slow(tw_store_t *s) {
  unsigned checks = atomic_load_explicit(&s->checks, memory_order_relaxed);
  if (checks & TW__CHECK_INTERRUPT) return 1;
  if (checks & TW__CHECK_FUEL) {
    if (s->fuel == 0) return 1;
    s->fuel--;
  }
  return 0;
}
static inline int check_budget(tw_store_t *s) {
  if (TW_LIKELY(!atomic_load_explicit(&s->checks, memory_order_relaxed)))
    return 0;
  return budget_slow(s);
}
static tw_trap_code budget_trap(tw_store_t *s) {
  if (atomic_load_explicit(&s->checks, memory_order_relaxed) &
      TW__CHECK_INTERRUPT) {
    atomic_fetch_and(&s->checks, ~TW__CHECK_INTERRUPT);
    return TW_TRAP_INTERRUPTED;
  }
  return TW_TRAP_OUT_OF_FUEL;
}

static tw_status call_host(tw_store_t *s, tw_func_t *f, uint64_t *args,
                           tw_instance_t *inst, tw__trap_scope *scope,
                           tw_error *err) {
  uint32_t n = f->type->nparams > f->type->nresults ? f->type->nparams
                                                      : f->type->nresults;
  if (args + n > s->exec.slots_end)
    return tw__trap(err, TW_TRAP_STACK_EXHAUSTED);
  uint64_t *saved_top = s->exec.slot_top;
  s->exec.slot_top = args + n;
  tw_caller_t caller = {s, inst};
  scope->active = 0;
  tw_status st = f->host(&caller, f->env, args, err);
  scope->active = 1;
  tw__trap_current = scope; /* a nested invoke restored its own scope */
  s->exec.slot_top = saved_top;
  return st;
}

#if TW_OP_STATS
/* Profiling build (switch dispatch only): counts ops and op pairs executed
 * and prints the top ones at exit, to choose fusions by measurement. */
#include "wasm/op_names.h"
static _Thread_local int op_prev = -1;
static uint64_t op_count[TW_IOP_COUNT];
static uint64_t op_pairs[TW_IOP_COUNT][TW_IOP_COUNT];

typedef struct op_row {
  uint64_t n;
  int a, b;
} op_row;

static int row_cmp(const void *x, const void *y) {
  uint64_t a = ((const op_row *)x)->n, b = ((const op_row *)y)->n;
  return a < b ? 1 : a > b ? -1 : 0;
}

static void op_stats_dump(void) {
  static op_row rows[TW_IOP_COUNT * 4];
  uint64_t total = 0;
  for (int i = 0; i < TW_IOP_COUNT; i++) total += op_count[i];
  if (!total) return;
  size_t n = 0;
  for (int i = 0; i < TW_IOP_COUNT; i++)
    if (op_count[i]) rows[n++] = (op_row){op_count[i], i, -1};
  qsort(rows, n, sizeof *rows, row_cmp);
  fprintf(stderr, "-- ops executed: %llu\n", (unsigned long long)total);
  for (size_t i = 0; i < n && i < 25; i++)
    fprintf(stderr, "%6.2f%%  %s\n", 100.0 * rows[i].n / total,
            tw__iop_name(rows[i].a));
  n = 0;
  for (int a = 0; a < TW_IOP_COUNT; a++)
    for (int b = 0; b < TW_IOP_COUNT; b++) {
      if (!op_pairs[a][b]) continue;
      op_row r = {op_pairs[a][b], a, b};
      if (n < sizeof rows / sizeof *rows) {
        rows[n++] = r;
      } else {
        qsort(rows, n, sizeof *rows, row_cmp);
        if (r.n > rows[n - 1].n) rows[n - 1] = r;
      }
    }
  qsort(rows, n, sizeof *rows, row_cmp);
  fprintf(stderr, "-- pairs\n");
  for (size_t i = 0; i < n && i < 25; i++)
    fprintf(stderr, "%6.2f%%  %s -> %s\n", 100.0 * rows[i].n / total,
            tw__iop_name(rows[i].a), tw__iop_name(rows[i].b));
}

static void op_stats_note(tw__iop op) {
  static int registered;
  if (!registered) {
    registered = 1;
    atexit(op_stats_dump);
  }
  op_count[op]++;
  if (op_prev >= 0) op_pairs[op_prev][op]++;
  op_prev = (int)op;
}
#endif

static int segment_oob(uint64_t start, uint64_t n, uint64_t size) {
  return start + n > size;
}

/* Where a run of n moves of `width` bytes, steps of `step` from first
 * moves at d and s, lies as two blocks (*lo_d, *lo_s; `bytes` long), when
 * it can be done as one block move without being told apart from its
 * moves one by one: steps of exactly the width, every byte in bounds (else
 * the moves run one by one and trap where the wasm would), and no move
 * reading what an earlier one of the run wrote. */
static inline bool run_span(uint64_t size, uint32_t d, uint32_t s,
                            uint64_t bytes, uint32_t width, uint32_t step,
                            uint64_t *lo_d, uint64_t *lo_s) {
  *lo_d = d, *lo_s = s;
  if (step == 0u - width) { /* downwards: the block starts at the last move */
    *lo_d = (uint64_t)d + width - bytes;
    *lo_s = (uint64_t)s + width - bytes;
    if ((uint64_t)d + width < bytes || (uint64_t)s + width < bytes ||
        (*lo_d < *lo_s && *lo_d + bytes > *lo_s))
      return false;
  } else if (step != width || (*lo_d > *lo_s && *lo_s + bytes > *lo_d)) {
    return false;
  }
  return *lo_d + bytes <= size && *lo_s + bytes <= size;
}

/* A move run of 4..16 bytes done as two overlapping words, both read
 * before either is written, when run_span allows.  False: nothing was
 * done. */
static inline bool run_as_block(uint8_t *mem, uint64_t size, uint32_t d,
                                uint32_t s, uint32_t n, uint32_t width,
                                uint32_t step) {
  uint64_t bytes = (uint64_t)n * width, lo_d, lo_s;
  if (bytes < 4 || bytes > 16 ||
      !run_span(size, d, s, bytes, width, step, &lo_d, &lo_s))
    return false;
  uint8_t *d8 = mem + lo_d;
  const uint8_t *s8 = mem + lo_s;
  if (bytes >= 8) {
    uint64_t a, b;
    memcpy(&a, s8, 8);
    memcpy(&b, s8 + bytes - 8, 8);
    memcpy(d8, &a, 8);
    memcpy(d8 + bytes - 8, &b, 8);
  } else {
    uint32_t a, b;
    memcpy(&a, s8, 4);
    memcpy(&b, s8 + bytes - 4, 4);
    memcpy(d8, &a, 4);
    memcpy(d8 + bytes - 4, &b, 4);
  }
  return true;
}

/* ---- byte-copy loops at once ---------------------------------------------
 * A loop whose whole body is one byte-run op branching to itself (wasi-libc's
 * memmove byte loops, unrolled by clang) moves one contiguous run of bytes
 * over all its turns.  When the slots play the roles that make that true,
 * the turns are counted from the counter, and run_span allows, the loop is
 * one memmove and the slots are set as its last turn leaves them.  Not with
 * fuel metering or a pending interrupt, which count turns: the turns then
 * run one by one.  False: nothing was done. */

/* Turns until `c += kc` first reaches zero, or 0 when that is not a plain
 * count down (c0 is 0, or not a multiple of the step). */
static inline uint64_t loop_turns(uint32_t c0, uint32_t kc) {
  uint32_t m = 0u - kc;
  if (c0 == 0 || m == 0 || c0 % m != 0) return 0;
  return c0 / m;
}

/* The run's T turns of n bytes as one memmove, when run_span allows. */
static inline bool move_turns(uint8_t *mem, uint64_t size, uint32_t d,
                              uint32_t s, uint64_t turns, uint32_t n,
                              uint32_t step) {
  uint64_t lo_d, lo_s, bytes = turns * n;
  if (!run_span(size, d, s, bytes, 1, step, &lo_d, &lo_s)) return false;
  memmove(mem + lo_d, mem + lo_s, bytes);
  return true;
}

/* move1_run_br_add3_nez: D kd S ks n step | x1 a1 k1 x2 a2 k2 | c ca kc off
 * (from pc[2]); both bases bumped by the run's length, a counter stepped
 * down to zero. */
static bool copy_loop_bumped(uint64_t *fp, const uint32_t *pc, uint8_t *mem,
                             uint64_t size) {
  const uint32_t *w = pc + 2;
  uint32_t D = w[0], S = w[2], n = w[4], step = w[5], c = w[12];
  uint32_t len = n * step;
  if (w[15] != 0 || w[6] != w[7] || w[9] != w[10] || w[12] != w[13] ||
      D == S || c == D || c == S || (step != 1 && step != 0u - 1))
    return false;
  uint32_t kD, kS;
  if (w[6] == D && w[9] == S) kD = w[8], kS = w[11];
  else if (w[6] == S && w[9] == D) kD = w[11], kS = w[8];
  else return false;
  uint64_t turns = loop_turns((uint32_t)fp[c], w[14]);
  if (kD != len || kS != len || !turns) return false;
  uint32_t d0 = (uint32_t)fp[D], s0 = (uint32_t)fp[S];
  if (!move_turns(mem, size, d0 + w[1], s0 + w[3], turns, n, step))
    return false;
  fp[D] = (uint32_t)(d0 + turns * len);
  fp[S] = (uint32_t)(s0 + turns * len);
  fp[c] = 0;
  return true;
}

/* The base that slot x is the sum of with counter c (x = a + b, one of
 * them c), or UINT32_MAX. */
static inline uint32_t indexed_base(uint32_t a, uint32_t b, uint32_t c) {
  return a == c ? b : b == c ? a : UINT32_MAX;
}

/* i32_add2_move1_run_br_add_nez: x1 a1 b1 x2 a2 b2 | D kd S ks n step |
 * c ca kc off (from pc[2]); the bases are sums of fixed slots and the
 * counter, which steps by the run's length. */
static bool copy_loop_indexed(uint64_t *fp, const uint32_t *pc, uint8_t *mem,
                              uint64_t size) {
  const uint32_t *w = pc + 2;
  if (w[15] != 0) return false; /* not a loop on itself: the common case */
  uint32_t x1 = w[0], x2 = w[3], D = w[6], S = w[8], n = w[10];
  uint32_t step = w[11], c = w[12], kc = w[14];
  uint32_t b1 = indexed_base(w[1], w[2], c), b2 = indexed_base(w[4], w[5], c);
  if (w[13] != c || x1 == x2 || !((D == x1 && S == x2) ||
      (D == x2 && S == x1)) || c == x1 || c == x2 ||
      (step != 1 && step != 0u - 1) || kc != n * step ||
      b1 == UINT32_MAX || b2 == UINT32_MAX || b1 == x1 || b1 == x2 ||
      b2 == x1 || b2 == x2 || b1 == c || b2 == c)
    return false;
  uint32_t c0 = (uint32_t)fp[c];
  uint64_t turns = loop_turns(c0, kc);
  if (!turns) return false;
  uint32_t B1 = (uint32_t)fp[b1], B2 = (uint32_t)fp[b2];
  uint32_t d0 = (D == x1 ? B1 : B2) + c0, s0 = (D == x1 ? B2 : B1) + c0;
  if (!move_turns(mem, size, d0 + w[7], s0 + w[9], turns, n, step))
    return false;
  fp[x1] = (uint32_t)(B1 - kc); /* the last turn's sums: the counter at */
  fp[x2] = (uint32_t)(B2 - kc); /* its start was -kc */
  fp[c] = 0;
  return true;
}

__attribute__((noinline)) static tw_status run(tw_store_t *s, tw_func_t *f,
                                               uint64_t *args,
                                               tw__trap_scope *scope,
                                               tw_error *err) {
#if TW_COMPUTED_GOTO
  static const void *const labels[TW_IOP_COUNT] = {
#define TW__L(id) [TW_IOP_##id] = &&L_##id,
#define TW__W(byte, id, text, kind, a, b, r, al) TW__IOP_IF_##kind(TW__L, id)
#define TW__C(id, t, op, inv, swp)                                          \
  TW__L(br_##id) TW__L(br_##id##_imm) TW__L(id##_imm) TW__L(br_##id##_step) \
  TW__L(br_##id##_imm_step)
#define TW__A(id, t, expr, comm) TW__L(id##_imm)
#define TW__L2(id, n) TW__L(id)
      TW_IOPS_CONTROL(TW__L2) TW_WASM_OPS(TW__W) TW_WASM_FC_OPS(TW__W)
      TW_FUSE_CMPS(TW__C) TW_FUSE_ARITH(TW__A)
#define TW__WK(byte, id, text, kind, a, b, r, al) TW__IOPK_IF_##kind(TW__L, id)
#define TW__WP(byte, id, text, kind, a, b, r, al) TW__IOPPA_IF_##kind(TW__L, id)
      TW_WASM_OPS(TW__WK) TW_WASM_OPS(TW__WP)
#undef TW__WP
#undef TW__WK
#undef TW__A
#undef TW__C
#undef TW__W
#undef TW__L2
#undef TW__L
  };
  if (TW_UNLIKELY(!s)) {
    handler_table = labels;
    return TW_OK;
  }
#endif
  tw__frame *const entry = s->exec.frame_top;
  tw__frame *ft = entry;
  tw__frame *const frames_end = s->exec.frames_end;
  uint64_t *const slots_end = s->exec.slots_end;
  tw_func_t *cur = f;
  uint64_t *fp = args;
  tw_instance_t *inst = NULL;
  uint8_t *mem = NULL;
  const uint32_t *pc;
  tw_trap_code trap = TW_TRAP_NONE;
  uint32_t trap_index = 0; /* table index for element traps */
  tw_status st;

  if (fp + f->code->frame_size > slots_end) {
    trap = TW_TRAP_STACK_EXHAUSTED;
    goto trapped;
  }
  s->exec.cur_func = f;
  SWITCH_INSTANCE(f->inst);
  for (uint32_t i = f->code->nparams; i < f->code->nlocals; i++) fp[i] = 0;
  pc = f->code->words;
  scope->active = 1;
#if TW_COMPUTED_GOTO
  DISPATCH();
#else
dispatch : {
  uint64_t op_;
  memcpy(&op_, pc, 8);
#if TW_OP_STATS
  op_stats_note((tw__iop)op_);
#endif
  switch ((tw__iop)op_) {
#endif

  OP(unreachable) TRAP(TW_TRAP_UNREACHABLE);
  OP(copy) {
    SLOT(2) = SLOT(3);
    NEXT(4);
  }
  OP(copy2) {
    SLOT(2) = SLOT(3);
    SLOT(4) = SLOT(5); /* after the first: it may read its result */
    NEXT(6);
  }
  OP(const32) {
    SLOT(2) = pc[3];
    NEXT(4);
  }
  OP(const64) {
    SLOT(2) = (uint64_t)pc[3] | ((uint64_t)pc[4] << 32);
    NEXT(5);
  }
  OP(br) BRANCH(pc[2]);
  OP(br_if) {
    if (G_u32(2)) BRANCH(pc[3]);
    NEXT(4);
  }
  OP(br_unless) {
    if (!G_u32(2)) BRANCH(pc[3]);
    NEXT(4);
  }
  OP(br_table) {
    uint32_t i = G_u32(2), n = pc[3];
    if (i > n) i = n;
    BRANCH(pc[4 + i]);
  }
  OP(ret) {
    if (ft == entry) {
      scope->active = 0;
      return TW_OK;
    }
    ft--;
    s->exec.frame_top = ft;
    pc = ft->ret_pc;
    fp = ft->fp;
    s->exec.cur_func = cur = ft->func;
    if (cur->inst != inst) SWITCH_INSTANCE(cur->inst);
    DISPATCH();
  }
  OP(call) {
    tw_func_t *callee = inst->funcs[pc[2]];
    uint64_t *nfp = fp + pc[3];
    pc += 4;
    ENTER(callee, nfp);
  }
  OP(call_indirect) {
    tw_table_t *t = inst->tables[pc[3]];
    uint32_t i = G_u32(5);
    trap_index = i;
    if (TW_UNLIKELY(i >= t->size)) TRAP(TW_TRAP_UNDEFINED_ELEMENT);
    tw_func_t *callee = t->elems[i];
    if (TW_UNLIKELY(!callee)) TRAP(TW_TRAP_UNINITIALIZED_ELEMENT);
    if (TW_UNLIKELY(callee->type_id != pc[2]))
      TRAP(TW_TRAP_INDIRECT_MISMATCH);
    uint64_t *nfp = fp + pc[4];
    pc += 6;
    ENTER(callee, nfp);
  }
  OP(select) {
    uint64_t a = SLOT(3), b = SLOT(4);
    SLOT(2) = G_u32(5) ? a : b;
    NEXT(6);
  }
  OP(global_get) {
    SLOT(2) = inst->globals[pc[3]]->value;
    NEXT(4);
  }
  OP(global_set) {
    inst->globals[pc[2]]->value = SLOT(3);
    NEXT(4);
  }
  OP(ref_func) {
    SLOT(2) = (uint64_t)(uintptr_t)inst->funcs[pc[3]];
    NEXT(4);
  }
  OP(table_get) {
    tw_table_t *t = inst->tables[pc[3]];
    uint32_t i = G_u32(4);
    if (i >= t->size) TRAP(TW_TRAP_TABLE_OOB);
    SLOT(2) = (uint64_t)(uintptr_t)t->elems[i];
    NEXT(5);
  }
  OP(table_set) {
    tw_table_t *t = inst->tables[pc[2]];
    uint32_t i = G_u32(3);
    if (i >= t->size) TRAP(TW_TRAP_TABLE_OOB);
    t->elems[i] = (void *)(uintptr_t)SLOT(4);
    NEXT(5);
  }
  OP(table_size) {
    SLOT(2) = inst->tables[pc[3]]->size;
    NEXT(4);
  }
  OP(table_grow) {
    void *init = (void *)(uintptr_t)SLOT(4);
    uint32_t n = G_u32(5);
    P_s32(2, tw__table_grow(inst->tables[pc[3]], n, init));
    NEXT(6);
  }
  OP(table_fill) {
    tw_table_t *t = inst->tables[pc[2]];
    uint32_t i = G_u32(3), n = G_u32(5);
    void *v = (void *)(uintptr_t)SLOT(4);
    if (segment_oob(i, n, t->size)) TRAP(TW_TRAP_TABLE_OOB);
    for (uint32_t k = 0; k < n; k++) t->elems[i + k] = v;
    NEXT(6);
  }
  OP(table_copy) {
    tw_table_t *td = inst->tables[pc[2]], *ts = inst->tables[pc[3]];
    uint32_t d = G_u32(4), sidx = G_u32(5), n = G_u32(6);
    if (segment_oob(d, n, td->size) || segment_oob(sidx, n, ts->size))
      TRAP(TW_TRAP_TABLE_OOB);
    memmove(td->elems + d, ts->elems + sidx, (size_t)n * sizeof(void *));
    NEXT(7);
  }
  OP(table_init) {
    tw_table_t *t = inst->tables[pc[2]];
    uint32_t seg = pc[3];
    uint32_t d = G_u32(4), sidx = G_u32(5), n = G_u32(6);
    const tw__elem *e = &inst->module->m.elems[seg];
    uint32_t len = inst->elem_dropped[seg] ? 0 : e->count;
    if (segment_oob(sidx, n, len) || segment_oob(d, n, t->size))
      TRAP(TW_TRAP_TABLE_OOB);
    for (uint32_t k = 0; k < n; k++) {
      const tw__constexpr *it = &e->items[sidx + k];
      void *v = NULL;
      if (it->op == TW_OP_ref_func)
        v = inst->funcs[it->index];
      else if (it->op == TW_OP_global_get)
        v = (void *)(uintptr_t)inst->globals[it->index]->value;
      t->elems[d + k] = v;
    }
    NEXT(7);
  }
  OP(elem_drop) {
    inst->elem_dropped[pc[2]] = 1;
    NEXT(3);
  }
  OP(memory_size) {
    SLOT(2) = inst->memory0->pages;
    NEXT(3);
  }
  OP(memory_grow) {
    P_s32(2, tw__memory_grow(inst->memory0, G_u32(3)));
    NEXT(4);
  }
  OP(memory_fill) {
    uint32_t d = G_u32(2), n = G_u32(4);
    uint8_t v = (uint8_t)SLOT(3);
    if (segment_oob(d, n, inst->memory0->size)) TRAP(TW_TRAP_MEMORY_OOB);
    memset(mem + d, v, n);
    NEXT(5);
  }
  OP(memory_copy) {
    uint32_t d = G_u32(2), sa = G_u32(3), n = G_u32(4);
    uint64_t size = inst->memory0->size;
    if (segment_oob(d, n, size) || segment_oob(sa, n, size))
      TRAP(TW_TRAP_MEMORY_OOB);
    memmove(mem + d, mem + sa, n);
    NEXT(5);
  }
  OP(memory_init) {
    uint32_t seg = pc[2];
    uint32_t d = G_u32(3), sa = G_u32(4), n = G_u32(5);
    const tw__data *ds = &inst->module->m.datas[seg];
    uint32_t len = inst->data_dropped[seg] ? 0 : ds->len;
    if (segment_oob(sa, n, len) || segment_oob(d, n, inst->memory0->size))
      TRAP(TW_TRAP_MEMORY_OOB);
    if (n) memcpy(mem + d, ds->bytes + sa, n);
    NEXT(6);
  }
  OP(data_drop) {
    inst->data_dropped[pc[2]] = 1;
    NEXT(3);
  }

  /* ---- memory ---- */
  LOAD(i32_load, uint32_t, u32, )
  LOAD(i64_load, uint64_t, u64, )
  LOAD(f32_load, uint32_t, u32, )
  LOAD(f64_load, uint64_t, u64, )
  LOAD(i32_load8_s, int8_t, s32, (int32_t))
  LOAD(i32_load8_u, uint8_t, u32, (uint32_t))
  LOAD(i32_load16_s, int16_t, s32, (int32_t))
  LOAD(i32_load16_u, uint16_t, u32, (uint32_t))
  LOAD(i64_load8_s, int8_t, s64, (int64_t))
  LOAD(i64_load8_u, uint8_t, u64, (uint64_t))
  LOAD(i64_load16_s, int16_t, s64, (int64_t))
  LOAD(i64_load16_u, uint16_t, u64, (uint64_t))
  LOAD(i64_load32_s, int32_t, s64, (int64_t))
  LOAD(i64_load32_u, uint32_t, u64, (uint64_t))
  STORE(i32_store, uint32_t, u32)
  STORE(i64_store, uint64_t, u64)
  STORE(f32_store, uint32_t, u32)
  STORE(f64_store, uint64_t, u64)
  STORE(i32_store8, uint8_t, u32)
  STORE(i32_store16, uint16_t, u32)
  STORE(i64_store8, uint8_t, u64)
  STORE(i64_store16, uint16_t, u64)
  STORE(i64_store32, uint32_t, u64)

  /* ---- i32 ---- */
  UN(i32_eqz, u32, u32, a == 0)
  BIN(i32_eq, u32, u32, a == b)
  BIN(i32_ne, u32, u32, a != b)
  BIN(i32_lt_s, s32, u32, a < b)
  BIN(i32_lt_u, u32, u32, a < b)
  BIN(i32_gt_s, s32, u32, a > b)
  BIN(i32_gt_u, u32, u32, a > b)
  BIN(i32_le_s, s32, u32, a <= b)
  BIN(i32_le_u, u32, u32, a <= b)
  BIN(i32_ge_s, s32, u32, a >= b)
  BIN(i32_ge_u, u32, u32, a >= b)
  UN(i32_clz, u32, u32, a ? __builtin_clz(a) : 32)
  UN(i32_ctz, u32, u32, a ? __builtin_ctz(a) : 32)
  UN(i32_popcnt, u32, u32, __builtin_popcount(a))
  BIN(i32_add, u32, u32, a + b)
  BIN(i32_sub, u32, u32, a - b)
  BIN(i32_mul, u32, u32, a * b)
  OP(i32_div_s) {
    int32_t a = G_s32(3), b = G_s32(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    if (TW_UNLIKELY(a == INT32_MIN && b == -1)) TRAP(TW_TRAP_INT_OVERFLOW);
    P_s32(2, a / b);
    NEXT(5);
  }
  OP(i32_div_u) {
    uint32_t a = G_u32(3), b = G_u32(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_u32(2, a / b);
    NEXT(5);
  }
  OP(i32_rem_s) {
    int32_t a = G_s32(3), b = G_s32(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_s32(2, b == -1 ? 0 : a % b);
    NEXT(5);
  }
  OP(i32_rem_u) {
    uint32_t a = G_u32(3), b = G_u32(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_u32(2, a % b);
    NEXT(5);
  }
  BIN(i32_and, u32, u32, a & b)
  BIN(i32_or, u32, u32, a | b)
  BIN(i32_xor, u32, u32, a ^ b)
  BIN(i32_shl, u32, u32, a << (b & 31))
  BIN(i32_shr_s, s32, s32, a >> (b & 31))
  BIN(i32_shr_u, u32, u32, a >> (b & 31))
  BIN(i32_rotl, u32, u32, rotl32(a, b))
  BIN(i32_rotr, u32, u32, rotr32(a, b))

  /* ---- i64 ---- */
  UN(i64_eqz, u64, u32, a == 0)
  BIN(i64_eq, u64, u32, a == b)
  BIN(i64_ne, u64, u32, a != b)
  BIN(i64_lt_s, s64, u32, a < b)
  BIN(i64_lt_u, u64, u32, a < b)
  BIN(i64_gt_s, s64, u32, a > b)
  BIN(i64_gt_u, u64, u32, a > b)
  BIN(i64_le_s, s64, u32, a <= b)
  BIN(i64_le_u, u64, u32, a <= b)
  BIN(i64_ge_s, s64, u32, a >= b)
  BIN(i64_ge_u, u64, u32, a >= b)
  UN(i64_clz, u64, u64, a ? __builtin_clzll(a) : 64)
  UN(i64_ctz, u64, u64, a ? __builtin_ctzll(a) : 64)
  UN(i64_popcnt, u64, u64, __builtin_popcountll(a))
  BIN(i64_add, u64, u64, a + b)
  BIN(i64_sub, u64, u64, a - b)
  BIN(i64_mul, u64, u64, a * b)
  OP(i64_div_s) {
    int64_t a = G_s64(3), b = G_s64(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    if (TW_UNLIKELY(a == INT64_MIN && b == -1)) TRAP(TW_TRAP_INT_OVERFLOW);
    P_s64(2, a / b);
    NEXT(5);
  }
  OP(i64_div_u) {
    uint64_t a = G_u64(3), b = G_u64(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_u64(2, a / b);
    NEXT(5);
  }
  OP(i64_rem_s) {
    int64_t a = G_s64(3), b = G_s64(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_s64(2, b == -1 ? 0 : a % b);
    NEXT(5);
  }
  OP(i64_rem_u) {
    uint64_t a = G_u64(3), b = G_u64(4);
    if (TW_UNLIKELY(b == 0)) TRAP(TW_TRAP_DIV_ZERO);
    P_u64(2, a % b);
    NEXT(5);
  }
  BIN(i64_and, u64, u64, a & b)
  BIN(i64_or, u64, u64, a | b)
  BIN(i64_xor, u64, u64, a ^ b)
  BIN(i64_shl, u64, u64, a << (b & 63))
  BIN(i64_shr_s, s64, s64, a >> (b & 63))
  BIN(i64_shr_u, u64, u64, a >> (b & 63))
  BIN(i64_rotl, u64, u64, rotl64(a, b))
  BIN(i64_rotr, u64, u64, rotr64(a, b))

  /* ---- f32 ---- */
  BIN(f32_eq, f32, u32, a == b)
  BIN(f32_ne, f32, u32, a != b)
  BIN(f32_lt, f32, u32, a < b)
  BIN(f32_gt, f32, u32, a > b)
  BIN(f32_le, f32, u32, a <= b)
  BIN(f32_ge, f32, u32, a >= b)
  /* abs, neg and copysign are bit operations: they must not touch NaNs. */
  UN(f32_abs, u32, u32, a & 0x7FFFFFFFu)
  UN(f32_neg, u32, u32, a ^ 0x80000000u)
  /* libm passes signalling NaNs through unchanged; wasm wants them quiet */
  UN(f32_ceil, f32, f32, a != a ? a + a : ceilf(a))
  UN(f32_floor, f32, f32, a != a ? a + a : floorf(a))
  UN(f32_trunc, f32, f32, a != a ? a + a : truncf(a))
  UN(f32_nearest, f32, f32, nearbyintf(a))
  UN(f32_sqrt, f32, f32, sqrtf(a))
  BIN(f32_add, f32, f32, a + b)
  BIN(f32_sub, f32, f32, a - b)
  BIN(f32_mul, f32, f32, a * b)
  BIN(f32_div, f32, f32, a / b)
  BIN(f32_min, f32, f32, f32_min(a, b))
  BIN(f32_max, f32, f32, f32_max(a, b))
  BIN(f32_copysign, u32, u32, (a & 0x7FFFFFFFu) | (b & 0x80000000u))

  /* ---- f64 ---- */
  BIN(f64_eq, f64, u32, a == b)
  BIN(f64_ne, f64, u32, a != b)
  BIN(f64_lt, f64, u32, a < b)
  BIN(f64_gt, f64, u32, a > b)
  BIN(f64_le, f64, u32, a <= b)
  BIN(f64_ge, f64, u32, a >= b)
  UN(f64_abs, u64, u64, a & 0x7FFFFFFFFFFFFFFFull)
  UN(f64_neg, u64, u64, a ^ 0x8000000000000000ull)
  UN(f64_ceil, f64, f64, a != a ? a + a : ceil(a))
  UN(f64_floor, f64, f64, a != a ? a + a : floor(a))
  UN(f64_trunc, f64, f64, a != a ? a + a : trunc(a))
  UN(f64_nearest, f64, f64, nearbyint(a))
  UN(f64_sqrt, f64, f64, sqrt(a))
  BIN(f64_add, f64, f64, a + b)
  BIN(f64_sub, f64, f64, a - b)
  BIN(f64_mul, f64, f64, a * b)
  BIN(f64_div, f64, f64, a / b)
  BIN(f64_min, f64, f64, f64_min(a, b))
  BIN(f64_max, f64, f64, f64_max(a, b))
  BIN(f64_copysign, u64, u64,
      (a & 0x7FFFFFFFFFFFFFFFull) | (b & 0x8000000000000000ull))

  /* ---- conversions ---- */
  UN(i32_wrap_i64, u64, u32, (uint32_t)a)
  TRUNC(i32_trunc_f32_s, f32, s32, a >= -0x1p31f, 0x1p31f)
  TRUNC(i32_trunc_f32_u, f32, u32, a > -1.0f, 0x1p32f)
  TRUNC(i32_trunc_f64_s, f64, s32, a > -2147483649.0, 2147483648.0)
  TRUNC(i32_trunc_f64_u, f64, u32, a > -1.0, 4294967296.0)
  UN(i64_extend_i32_s, s32, s64, (int64_t)a)
  UN(i64_extend_i32_u, u32, u64, (uint64_t)a)
  TRUNC(i64_trunc_f32_s, f32, s64, a >= -0x1p63f, 0x1p63f)
  TRUNC(i64_trunc_f32_u, f32, u64, a > -1.0f, 0x1p64f)
  TRUNC(i64_trunc_f64_s, f64, s64, a >= -0x1p63, 0x1p63)
  TRUNC(i64_trunc_f64_u, f64, u64, a > -1.0, 0x1p64)
  UN(f32_convert_i32_s, s32, f32, (float)a)
  UN(f32_convert_i32_u, u32, f32, (float)a)
  UN(f32_convert_i64_s, s64, f32, (float)a)
  UN(f32_convert_i64_u, u64, f32, (float)a)
  UN(f32_demote_f64, f64, f32, (float)a)
  UN(f64_convert_i32_s, s32, f64, (double)a)
  UN(f64_convert_i32_u, u32, f64, (double)a)
  UN(f64_convert_i64_s, s64, f64, (double)a)
  UN(f64_convert_i64_u, u64, f64, (double)a)
  UN(f64_promote_f32, f32, f64, (double)a)
  UN(i32_reinterpret_f32, u32, u32, a)
  UN(i64_reinterpret_f64, u64, u64, a)
  UN(f32_reinterpret_i32, u32, u32, a)
  UN(f64_reinterpret_i64, u64, u64, a)
  UN(i32_extend8_s, u32, s32, (int8_t)a)
  UN(i32_extend16_s, u32, s32, (int16_t)a)
  UN(i64_extend8_s, u64, s64, (int8_t)a)
  UN(i64_extend16_s, u64, s64, (int16_t)a)
  UN(i64_extend32_s, u64, s64, (int32_t)a)
  UN(i32_trunc_sat_f32_s, f32, s32, sat_f32_s32(a))
  UN(i32_trunc_sat_f32_u, f32, u32, sat_f32_u32(a))
  UN(i32_trunc_sat_f64_s, f64, s32, sat_f64_s32(a))
  UN(i32_trunc_sat_f64_u, f64, u32, sat_f64_u32(a))
  UN(i64_trunc_sat_f32_s, f32, s64, sat_f32_s64(a))
  UN(i64_trunc_sat_f32_u, f32, u64, sat_f32_u64(a))
  UN(i64_trunc_sat_f64_s, f64, s64, sat_f64_s64(a))
  UN(i64_trunc_sat_f64_u, f64, u64, sat_f64_u64(a))

  /* ---- fused forms (see code.h) ---- */
  MOVE(move1, uint8_t)
  MOVE(move2, uint16_t)
  MOVE(move4, uint32_t)
  MOVE(move8, uint64_t)
  OP(i32_add_imm2) {
    P_u32(2, G_u32(3) + pc[4]);
    P_u32(5, G_u32(6) + pc[7]); /* after the first: it may read its result */
    NEXT(8);
  }
  OP(i32_add2) {
    ADD2(2);
    NEXT(8);
  }
  OP(br_i32_add_imm_nez) BR_ADD_NEZ(2, 6);
  OP(br_i32_add_imm3_nez) BR_ADD3_NEZ(2, 12);
  OP(move1_run_br_add_nez) {
    MOVE_RUN(uint8_t, 2);
    BR_ADD_NEZ(8, 12);
  }
  OP(move1_run_br_add3_nez) {
    if (!atomic_load_explicit(&s->checks, memory_order_relaxed) &&
        copy_loop_bumped(fp, pc, mem, inst->memory0->size))
      NEXT(18);
    MOVE_RUN(uint8_t, 2);
    BR_ADD3_NEZ(8, 18);
  }
  OP(i32_add2_move1_run_br_add_nez) {
    if (!atomic_load_explicit(&s->checks, memory_order_relaxed) &&
        copy_loop_indexed(fp, pc, mem, inst->memory0->size))
      NEXT(18);
    ADD2(2);
    MOVE_RUN(uint8_t, 8);
    BR_ADD_NEZ(14, 18);
  }
  OP(f64_add_mem) RMW(double, RMW_EA, m + G_f64(3), 5);
  OP(f64_sub_mem) RMW(double, RMW_EA, m - G_f64(3), 5);
  OP(f64_mul_mem) RMW(double, RMW_EA, m * G_f64(3), 5);
  OP(f64_muladd_mem) RMW_PRODUCT(+);
  OP(f64_mulsub_mem) RMW_PRODUCT(-);
  OP(f64_add_load) ARITH_LOAD(ARITH_LOAD_EA, x + m, 6);
  OP(f64_sub_load) ARITH_LOAD(ARITH_LOAD_EA, x - m, 6);
  OP(f64_load_sub) ARITH_LOAD(ARITH_LOAD_EA, m - x, 6);
  OP(f64_mul_load) ARITH_LOAD(ARITH_LOAD_EA, x * m, 6);
  OP(f64_add_load_pa) ARITH_LOAD(ARITH_LOAD_PA_EA, x + m, 7);
  OP(f64_sub_load_pa) ARITH_LOAD(ARITH_LOAD_PA_EA, x - m, 7);
  OP(f64_load_sub_pa) ARITH_LOAD(ARITH_LOAD_PA_EA, m - x, 7);
  OP(f64_mul_load_pa) ARITH_LOAD(ARITH_LOAD_PA_EA, x * m, 7);
  OP(i32_add_mem) RMW(uint32_t, RMW_EA, m + G_u32(3), 5);
  OP(i64_add_mem) RMW(uint64_t, RMW_EA, m + G_u64(3), 5);
  OP(i32_add_imm_mem) RMW(uint32_t, RMW_EA, m + pc[3], 5);
  OP(i64_add_imm_mem) RMW(uint64_t, RMW_EA, m + (uint64_t)(int64_t)(int32_t)pc[3], 5);
  OP(i32_add_imm_k) RMW(uint32_t, (uint64_t)pc[2], m + pc[3], 4);
  OP(i64_add_imm_k) RMW(uint64_t, (uint64_t)pc[2], m + (uint64_t)(int64_t)(int32_t)pc[3], 4);
  OP(i32_add_shl) {
    P_u32(2, G_u32(3) + (G_u32(4) << (pc[5] & 31)));
    NEXT(6);
  }
  OP(i32_or_shl_shr) {
    P_u32(2, (G_u32(3) << (pc[4] & 31)) | (G_u32(5) >> (pc[6] & 31)));
    NEXT(7);
  }
  OP(i32_xor_rotl_imm) {
    P_u32(2, G_u32(3) ^ rotl32(G_u32(4), pc[5]));
    NEXT(6);
  }
  OP(i32_xor_shr_u_imm) {
    P_u32(2, G_u32(3) ^ (G_u32(4) >> (pc[5] & 31)));
    NEXT(6);
  }
  OP(i32_store_or_shl_shr) STORE_FUNNEL(2, 9);
  OP(i32_load_store_or_shl_shr) {
    uint32_t w;
    memcpy(&w, mem + (uint64_t)(uint32_t)(G_u32(3) + pc[4]) + pc[5], 4);
    P_u32(2, w); /* before the merge, which may read it */
    STORE_FUNNEL(6, 13);
  }
#define TW__C(id, T, op, inv, swp)                                          \
  OP(br_##id) {                                                             \
    if (G_##T(2) op G_##T(3)) BRANCH(pc[4]);                                \
    NEXT(5);                                                                \
  }                                                                         \
  OP(br_##id##_imm) {                                                       \
    if (G_##T(2) op (T##_t)(int32_t)pc[3]) BRANCH(pc[4]);                   \
    NEXT(5);                                                                \
  }                                                                         \
  OP(id##_imm) {                                                            \
    P_u32(2, G_##T(3) op (T##_t)(int32_t)pc[4]);                            \
    NEXT(5);                                                                \
  }                                                                         \
  OP(br_##id##_step) {                                                      \
    P_u32(2, G_u32(3) + pc[4]);                                             \
    if (G_##T(5) op G_##T(6)) BRANCH(pc[7]);                                \
    NEXT(8);                                                                \
  }                                                                         \
  OP(br_##id##_imm_step) {                                                  \
    P_u32(2, G_u32(3) + pc[4]);                                             \
    if (G_##T(5) op (T##_t)(int32_t)pc[6]) BRANCH(pc[7]);                   \
    NEXT(8);                                                                \
  }
  TW_FUSE_CMPS(TW__C)
#undef TW__C
#define TW__A(id, T, expr, comm)                                            \
  OP(id##_imm) {                                                            \
    T##_t a = G_##T(3), b = (T##_t)(int32_t)pc[4];                          \
    P_##T(2, expr);                                                         \
    NEXT(5);                                                                \
  }
  TW_FUSE_ARITH(TW__A)
#undef TW__A

#if !TW_COMPUTED_GOTO
  default:
    abort();
  }
}
#endif

trapped:
  scope->active = 0;
  record_trap(s, entry, trap, err);
  if (trap == TW_TRAP_UNDEFINED_ELEMENT || trap == TW_TRAP_UNINITIALIZED_ELEMENT)
    snprintf(err->message, sizeof err->message, "%s %u", tw_trap_message(trap),
             trap_index);
  s->exec.frame_top = entry;
  return TW_TRAP;
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;
static void handlers_init(void) { run(NULL, NULL, NULL, NULL, NULL); }

uint64_t tw__interp_handler(tw__iop op) {
#if TW_COMPUTED_GOTO
  pthread_once(&handlers_once, handlers_init);
  return (uint64_t)(uintptr_t)handler_table[op];
#else
  (void)handlers_once;
  (void)handlers_init;
  return (uint64_t)op;
#endif
}

static tw_status invoke(tw_store_t *s, tw_func_t *f, uint64_t *slots,
                        tw_error *err);

tw_status tw__invoke(tw_store_t *s, tw_func_t *f, uint64_t *slots,
                     tw_error *err) {
  tw_error scratch;
  if (!err) err = &scratch; /* host functions may always write an error */
  tw_error_clear(err);
  return invoke(s, f, slots, err);
}

static tw_status invoke(tw_store_t *s, tw_func_t *f, uint64_t *slots,
                        tw_error *const err) {
  tw__exec *e = &s->exec;
  if (!f->code) {
    tw_caller_t caller = {s, NULL};
    uint64_t *saved = e->slot_top;
    uint32_t n = f->type->nparams > f->type->nresults ? f->type->nparams
                                                        : f->type->nresults;
    e->slot_top = slots + n;
    tw_status st = f->host(&caller, f->env, slots, err);
    e->slot_top = saved;
    if (st != TW_OK) host_failure(st, err);
    return st == TW_OK ? TW_OK : TW_TRAP;
  }
  tw__trap_scope scope;
  scope.prev = tw__trap_current;
  scope.active = 0;
  scope.mem_lo = scope.mem_hi = NULL;
  tw__frame *volatile entry = e->frame_top;
  tw_func_t *volatile saved_cur = e->cur_func;
  tw_status st;
  tw__trap_current = &scope;
  if (sigsetjmp(scope.jmp, 0) == 0) {
    st = run(s, f, slots, &scope, err);
  } else {
    /* A guard-region fault in wasm code: run()'s frame is gone, but the
     * store's frame records are current (see the file comment). */
    scope.active = 0;
    record_trap(s, entry, TW_TRAP_MEMORY_OOB, err);
    st = TW_TRAP;
  }
  tw__trap_current = scope.prev;
  e->frame_top = entry;
  e->cur_func = saved_cur;
  return st;
}
