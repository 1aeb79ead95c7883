/* Internal structures of the wasm module, shared only inside src/wasm.
 *
 * A tw__module is what the decoder produces from bytes: every section,
 * index spaces laid out imports-first (so func_types[i] is the type of
 * function i whether imported or defined), constant expressions already
 * decoded, function bodies as ranges of the module's own copy of the bytes.
 * The validator checks it; the compiler adds `code` to each body.  After
 * that it never changes, so instances in any thread can share it.
 *
 * Runtime objects (tw_func, tw_memory, ...) are defined here too because
 * the interpreter reaches into them on its hot path. */
#ifndef TW_WASM_INT_H
#define TW_WASM_INT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/wasm.h"

#define TW_PAGE_SIZE 65536u
#define TW_MAX_PAGES 65536u

#define TW_LIKELY(x) __builtin_expect(!!(x), 1)
#define TW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- error helpers (src/core/error.c) ----------------------------------- */

/* Sets err (may be NULL) and returns status.  offset is SIZE_MAX if none. */
tw_status tw__error_set(tw_error *err, tw_status status, size_t offset,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
tw_status tw__trap(tw_error *err, tw_trap_code code);

/* ---- types ------------------------------------------------------------- */

typedef struct tw__functype {
  uint32_t nparams, nresults;
  uint8_t *types; /* nparams param types, then nresults result types */
} tw__functype;

typedef struct tw__limits {
  uint32_t min, max;
  bool has_max;
} tw__limits;

typedef struct tw__tabletype {
  uint8_t elem; /* TW_FUNCREF or TW_EXTERNREF */
  tw__limits limits;
} tw__tabletype;

typedef struct tw__globaltype {
  uint8_t type;
  bool mut;
} tw__globaltype;

/* A constant expression of Wasm 2.0: one instruction followed by `end`.
 * The decoder accepts any well-formed instruction sequence up to `end`;
 * whether it is constant and well typed is the validator's question.  When
 * ninstr == 1 and !nonconst, op/reftype/index/bits describe that one
 * instruction. */
typedef struct tw__constexpr {
  uint8_t op;      /* TW_OP_i32_const, i64_const, f32_const, f64_const,
                      ref_null, ref_func or global_get */
  uint8_t reftype; /* for ref_null */
  uint8_t ninstr;  /* instructions before the final end (saturates at 255) */
  bool nonconst;   /* contains a non-constant instruction */
  uint32_t index;  /* for ref_func / global_get */
  uint64_t bits;   /* for the const forms (f32/f64 as bit patterns) */
  size_t offset;   /* where it starts in the binary (for errors) */
} tw__constexpr;

typedef struct tw__import {
  char *module, *name; /* NUL-terminated copies (may contain NULs inside) */
  uint32_t module_len, name_len;
  uint8_t kind;        /* tw_extern_kind */
  uint32_t index;      /* index in the kind's index space */
} tw__import;

typedef struct tw__export {
  char *name;
  uint32_t name_len;
  uint8_t kind;
  uint32_t index;
} tw__export;

enum { TW__SEG_ACTIVE, TW__SEG_PASSIVE, TW__SEG_DECLARATIVE };

typedef struct tw__elem {
  uint8_t mode;
  uint8_t type;          /* TW_FUNCREF or TW_EXTERNREF */
  uint32_t table;        /* active only */
  tw__constexpr offset;  /* active only */
  uint32_t count;
  tw__constexpr *items;  /* count items: ref_func, ref_null or global_get */
} tw__elem;

typedef struct tw__data {
  uint8_t mode;
  uint32_t memory;
  tw__constexpr offset;
  const uint8_t *bytes;  /* into module->bytes */
  uint32_t len;
} tw__data;

struct tw__code; /* compiled form, private to compile.c / interp.c */

typedef struct tw__body {
  uint32_t nlocals;      /* declared locals, not counting params */
  uint8_t *local_types;  /* nlocals entries */
  const uint8_t *code;   /* expression bytes (after the locals), into bytes */
  size_t code_len;       /* up to and including the final `end` */
  size_t offset;         /* of `code` from the start of the binary */
  struct tw__code *compiled;
} tw__body;

typedef struct tw__module {
  uint8_t *bytes; /* owned copy of the binary */
  size_t len;

  uint32_t ntypes;
  tw__functype *types;
  uint32_t *type_ids; /* canonical id of each type (engine-wide), ntypes */

  uint32_t nimports;
  tw__import *imports;

  /* Index spaces, imports first. */
  uint32_t nfuncs, nfunc_imports;
  uint32_t *func_types;       /* type index per function */
  uint32_t ntables, ntable_imports;
  tw__tabletype *tables;
  uint32_t nmems, nmem_imports;
  tw__limits *mems;
  uint32_t nglobals, nglobal_imports;
  tw__globaltype *globals;
  tw__constexpr *global_inits; /* for defined globals: [i - nglobal_imports] */

  uint32_t nexports;
  tw__export *exports;

  bool has_start;
  uint32_t start;

  uint32_t nelems;
  tw__elem *elems;

  bool has_datacount;
  uint32_t datacount;
  uint32_t ndatas;
  tw__data *datas;

  tw__body *bodies; /* nfuncs - nfunc_imports */

  char **func_names; /* nfuncs entries, NULL where unnamed (name section) */
  /* functions referenced outside function bodies (for ref.func validation):
     one flag per function */
  uint8_t *func_declared;
} tw__module;

/* decode.c: fills *m from bytes (copied).  On failure frees what it
 * allocated and leaves *m zeroed. */
tw_status tw__module_decode(const uint8_t *bytes, size_t len, tw__module *m,
                            tw_error *err);
void tw__module_release(tw__module *m);

/* validate.c: the spec's validation of every section and function body. */
tw_status tw__module_validate(const tw__module *m, tw_error *err);
/* Everything but the function bodies: every index, type and segment the
 * runtime follows outside compiled code (for compiled-module blobs, whose
 * code comes checksummed from trusted storage). */
tw_status tw__module_validate_structure(const tw__module *m, tw_error *err);

/* Reads a LEB128 etc. from the body bytes; shared by validator & compiler.
 * Each returns false at end of input or on overlong encodings. */
typedef struct tw__reader {
  const uint8_t *p, *end, *start;
  size_t base; /* file offset of `start` */
} tw__reader;

bool tw__read_u32(tw__reader *r, uint32_t *out);
bool tw__read_s32(tw__reader *r, int32_t *out);
bool tw__read_s33(tw__reader *r, int64_t *out);
bool tw__read_s64(tw__reader *r, int64_t *out);
bool tw__read_u8(tw__reader *r, uint8_t *out);
static inline size_t tw__reader_offset(const tw__reader *r) {
  return r->base + (size_t)(r->p - r->start);
}

/* ---- engine ------------------------------------------------------------ */

struct tw_engine {
  tw_engine_config config;
  /* canonical function types (interned; ids index this array) */
  void *types_lock;        /* pthread_mutex_t*, opaque here */
  tw__functype *ctypes;
  uint32_t nctypes, cap_ctypes;
};

/* Interns a function type; *id is stable for the engine's life. */
tw_status tw__engine_intern_type(tw_engine_t *e, const tw__functype *t,
                                 uint32_t *id, tw_error *err);
const tw__functype *tw__engine_type(tw_engine_t *e, uint32_t id);

struct tw_module {
  tw__module m;
  tw_engine_t *engine;
  atomic_int refs;
  uint8_t hash[32]; /* SHA-256 of m.bytes, set before the module is shared */
};

/* runtime.c: a new module decoded from bytes (copied), not yet validated
 * or compiled; tw__module_abort frees one that will not be finished. */
tw_status tw__module_begin(tw_engine_t *engine, const uint8_t *bytes,
                           size_t len, tw_module_t **out, tw_error *err);
void tw__module_abort(tw_module_t *mod);
/* Interns the module's types into m.type_ids. */
tw_status tw__intern_types(tw_module_t *mod, tw_error *err);

/* compile.c: compiles every body of a validated module. */
tw_status tw__module_compile(tw_module_t *mod, tw_error *err);
void tw__code_free(struct tw__code *code);

/* ---- runtime objects ---------------------------------------------------- */

struct tw_func {
  uint32_t type_id;             /* canonical, for call_indirect */
  const tw__functype *type;     /* owned by the engine */
  tw_instance_t *inst;          /* NULL for host functions */
  struct tw__code *code;        /* NULL for host functions */
  uint32_t index;               /* in its module's function space */
  tw_host_fn host;
  void *env;
  void (*env_free)(void *);
};

struct tw_memory {
  uint8_t *base;                /* reserved region; never moves */
  uint64_t size;                /* accessible bytes = pages * 64 KiB */
  uint32_t pages;
  uint32_t max_pages;           /* effective: min(declared max, engine cap) */
  tw__limits limits;            /* as declared (for import matching) */
  size_t reserved;              /* bytes reserved (incl. guard) */
};

struct tw_table {
  void **elems;                 /* tw_func_t* or externref pointer */
  uint32_t size, capacity;
  uint32_t max;                 /* effective */
  tw__tabletype type;           /* as declared */
};

struct tw_global {
  uint64_t value;               /* slot encoding, see wasm.h host fn */
  tw__globaltype type;
};

struct tw_instance {
  tw_module_t *module;          /* holds one reference */
  tw_store_t *store;
  tw_func_t **funcs;            /* index spaces */
  tw_table_t **tables;
  tw_memory_t **mems;
  tw_global_t **globals;
  uint8_t *mem0;                /* mems[0]->base or NULL: cached for interp */
  tw_memory_t *memory0;
  uint8_t *elem_dropped;        /* per element segment */
  uint8_t *data_dropped;        /* per data segment */
};

/* A frame record of the interpreter's call stack. */
typedef struct tw__frame {
  const uint32_t *ret_pc;
  uint64_t *fp;
  tw_func_t *func;
} tw__frame;

/* Per-store execution state: the value-slot stack and the frame stack.
 * Reserved lazily on the first call. */
typedef struct tw__exec {
  uint64_t *slots, *slots_end;
  tw__frame *frames, *frames_end;
  tw__frame *frame_top;         /* next free record */
  uint64_t *slot_top;           /* first free slot while a host fn runs */
  tw_func_t *cur_func;          /* innermost running wasm function */
  size_t slots_bytes, frames_bytes;
} tw__exec;

struct tw_store {
  tw_engine_t *engine;
  tw__exec exec;
  /* Nonzero sends back-edges and calls to the slow path, so the common
   * case costs one relaxed load: bit TW__CHECK_INTERRUPT is an interrupt
   * request, TW__CHECK_FUEL says fuel is being counted. */
  atomic_uint checks;
  uint64_t fuel;                /* UINT64_MAX: unlimited */
  /* every object made in the store, freed with it */
  void **objects;
  uint8_t *object_kinds;
  size_t nobjects, cap_objects;
};

#define TW__CHECK_INTERRUPT 1u
#define TW__CHECK_FUEL 2u

struct tw_caller {
  tw_store_t *store;
  tw_instance_t *inst;
};

/* interp.c: runs `f` (wasm or host) with arguments in slots[0..nparams);
 * results are written to slots[0..nresults).  `slots` must come from
 * tw__exec_args.  Traps fill err with a backtrace.  Re-entrant: a host
 * function may call tw__invoke again on the same store. */
tw_status tw__invoke(tw_store_t *store, tw_func_t *f, uint64_t *slots,
                     tw_error *err);
/* Ensures the store's stacks exist and returns the slot array where the
 * arguments of the outermost call go (nested calls from host functions
 * use the current top). */
uint64_t *tw__exec_args(tw_store_t *store, tw_error *err);
/* Frees the stacks (called by tw_store_free). */
void tw__exec_release(tw__exec *exec);

/* memory.c: memory fault handling.  The interpreter brackets wasm
 * execution with these so that a fault in a guard region becomes a trap. */
typedef struct tw__trap_scope {
  sigjmp_buf jmp;
  struct tw__trap_scope *prev;
  volatile int active;          /* 1 while wasm code (not host code) runs */
  uint8_t *volatile mem_lo;     /* reserved range of the memory in use: */
  uint8_t *volatile mem_hi;     /* a fault outside it is a real crash */
} tw__trap_scope;
/* Thread's innermost scope; the signal handler jumps to it. */
extern _Thread_local tw__trap_scope *tw__trap_current;
void tw__signals_install(void);

/* memory.c: operations the interpreter calls out of line. */
int32_t tw__memory_grow(tw_memory_t *mem, uint32_t delta); /* -1 on failure */
int32_t tw__table_grow(tw_table_t *t, uint32_t delta, void *init);

/* ---- store bookkeeping (runtime.c, memory.c, instance.c) ------------------ */

/* Object kinds in a store: the tw_extern_kind values, plus instances. */
#define TW__OBJ_INSTANCE 4
tw_status tw__store_add(tw_store_t *store, uint8_t kind, void *obj,
                        tw_error *err);
uint64_t tw__val_to_slot(tw_val v);
tw_val tw__val_from_slot(uint8_t type, uint64_t slot);
/* Free one object (called by tw_store_free). */
void tw__memory_free(tw_memory_t *mem);
void tw__table_free(tw_table_t *t);
void tw__instance_free(tw_instance_t *inst);

#endif
