/* TensorWasm embedding API: engine, store, modules, instances, externs.
 *
 * Object model and ownership (stated once, here):
 *
 *  - tw_engine_t   process-wide configuration and the canonical table of
 *                  function types.  Created by tw_engine_new, freed by
 *                  tw_engine_free after every module and store made from it.
 *  - tw_module_t   a decoded, validated and compiled module.  Immutable and
 *                  safe to share between threads and stores.  Reference
 *                  counted: tw_module_new returns one reference, instances
 *                  take their own, tw_module_free drops the caller's.
 *  - tw_store_t    owns every runtime object made in it: instances, host
 *                  functions, memories, tables, globals.  They all live until
 *                  tw_store_free.  A store is used by one thread at a time.
 *                  Objects of one store must not be passed to another.
 *  - tw_func_t, tw_memory_t, tw_table_t, tw_global_t, tw_instance_t are
 *                  borrowed handles into their store.
 *
 * Errors: every fallible call returns tw_status and fills the caller's
 * tw_error (see error.h).  A trap is TW_TRAP with err->trap set. */
#ifndef TENSORWASM_WASM_H
#define TENSORWASM_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_engine tw_engine_t;
typedef struct tw_module tw_module_t;
typedef struct tw_store tw_store_t;
typedef struct tw_instance tw_instance_t;
typedef struct tw_func tw_func_t;
typedef struct tw_memory tw_memory_t;
typedef struct tw_table tw_table_t;
typedef struct tw_global tw_global_t;
typedef struct tw_caller tw_caller_t;

/* Value types use their binary encoding. */
typedef enum tw_valtype {
  TW_I32 = 0x7F,
  TW_I64 = 0x7E,
  TW_F32 = 0x7D,
  TW_F64 = 0x7C,
  TW_V128 = 0x7B,
  TW_FUNCREF = 0x70,
  TW_EXTERNREF = 0x6F
} tw_valtype;

/* A typed value.  Floats travel as bit patterns so NaN payloads survive.
 * A funcref is a tw_func_t* (NULL = null); an externref is any host
 * pointer (NULL = null). */
typedef struct tw_val {
  tw_valtype type;
  union {
    int32_t i32;
    int64_t i64;
    uint32_t f32_bits;
    uint64_t f64_bits;
    tw_func_t *funcref;
    void *externref;
  } of;
} tw_val;

tw_val tw_val_i32(int32_t v);
tw_val tw_val_i64(int64_t v);
tw_val tw_val_f32(float v);
tw_val tw_val_f64(double v);
float tw_val_as_f32(tw_val v);
double tw_val_as_f64(tw_val v);
const char *tw_valtype_name(tw_valtype t); /* "i32", "funcref", ... */

/* ---- engine ------------------------------------------------------------ */

typedef struct tw_engine_config {
  uint32_t max_call_depth;     /* wasm frames per store; 0 = default 20000 */
  uint32_t max_stack_slots;    /* 64-bit value slots per store; 0 = 1 Mi */
  uint32_t max_memory_pages;   /* cap on any memory, in 64 KiB pages; 0 = 65536 */
  uint32_t max_table_elements; /* cap on any table; 0 = 10 Mi */
} tw_engine_config;

/* `config` is borrowed (copied); NULL means defaults.  *out is owned by the
 * caller. */
tw_status tw_engine_new(const tw_engine_config *config, tw_engine_t **out,
                        tw_error *err);
void tw_engine_free(tw_engine_t *engine);

/* ---- modules ----------------------------------------------------------- */

/* Decodes, validates and compiles `bytes` (borrowed; the module keeps its
 * own copy).  On failure err->offset names the byte that was rejected. */
tw_status tw_module_new(tw_engine_t *engine, const uint8_t *bytes, size_t len,
                        tw_module_t **out, tw_error *err);
/* Decode and validate only (no compilation, nothing kept). */
tw_status tw_module_validate(tw_engine_t *engine, const uint8_t *bytes,
                             size_t len, tw_error *err);
void tw_module_free(tw_module_t *module);

/* Serialises a compiled module into *out (malloc'd; the caller frees it
 * with free()).  The blob holds the original bytes and the compiled code,
 * is protected by a SHA-256 checksum, and is tied to the engine build:
 * tw_module_deserialize in any process of the same build skips
 * validation and compilation.  Blobs must come from trusted storage (the
 * checksum catches corruption, not a forger). */
tw_status tw_module_serialize(const tw_module_t *module, uint8_t **out,
                              size_t *len, tw_error *err);
/* Rebuilds a module from a blob (borrowed).  TW_MALFORMED for a corrupt
 * blob, TW_UNSUPPORTED for one made by a different engine build. */
tw_status tw_module_deserialize(tw_engine_t *engine, const uint8_t *blob,
                                size_t len, tw_module_t **out, tw_error *err);
/* SHA-256 of the module's original bytes (32 bytes written to out). */
void tw_module_hash(const tw_module_t *module, uint8_t out[32]);
/* Declared minimum of memory 0 in pages (imported or defined), 0 if none;
 * lets an embedder refuse a module before instantiating it. */
uint32_t tw_module_min_memory_pages(const tw_module_t *module);

typedef enum tw_extern_kind {
  TW_EXTERN_FUNC = 0,
  TW_EXTERN_TABLE = 1,
  TW_EXTERN_MEMORY = 2,
  TW_EXTERN_GLOBAL = 3
} tw_extern_kind;

/* Names returned here are borrowed from the module, not NUL-terminated
 * beyond `len` (they are, in fact, NUL-terminated, but may contain NULs). */
typedef struct tw_name {
  const char *data;
  size_t len;
} tw_name;

typedef struct tw_import_desc {
  tw_name module;
  tw_name name;
  tw_extern_kind kind;
} tw_import_desc;

typedef struct tw_export_desc {
  tw_name name;
  tw_extern_kind kind;
} tw_export_desc;

size_t tw_module_import_count(const tw_module_t *m);
tw_import_desc tw_module_import(const tw_module_t *m, size_t i);
size_t tw_module_export_count(const tw_module_t *m);
tw_export_desc tw_module_export(const tw_module_t *m, size_t i);
/* True when the module has a start function (instantiation runs guest
 * code, not only its data and element initialisers). */
bool tw_module_has_start(const tw_module_t *m);

/* ---- stores ------------------------------------------------------------ */

/* `engine` is borrowed and must outlive the store. */
tw_status tw_store_new(tw_engine_t *engine, tw_store_t **out, tw_error *err);
/* Frees the store and every object made in it. */
void tw_store_free(tw_store_t *store);
/* Asks running wasm code in this store to stop with TW_TRAP_INTERRUPTED at
 * its next loop back-edge or call.  Safe to call from any thread. */
void tw_store_interrupt(tw_store_t *store);
/* Withdraws an interrupt request that running code has not seen yet (one
 * that arrived as a call was returning), so the next call runs normally. */
void tw_store_clear_interrupt(tw_store_t *store);
/* Limits fuel: each loop back-edge and call costs one unit; at zero the call
 * traps with TW_TRAP_OUT_OF_FUEL.  UINT64_MAX (the default) means no limit. */
void tw_store_set_fuel(tw_store_t *store, uint64_t fuel);
uint64_t tw_store_fuel(const tw_store_t *store);

/* ---- externs ----------------------------------------------------------- */

typedef struct tw_extern {
  tw_extern_kind kind;
  union {
    tw_func_t *func;
    tw_table_t *table;
    tw_memory_t *memory;
    tw_global_t *global;
  } of;
} tw_extern;

/* ---- instances --------------------------------------------------------- */

/* Instantiates `module` in `store`.  `imports` (borrowed) gives one extern
 * per import, in the module's import order.  Runs data/element
 * initialisation and the start function.  Returns TW_UNLINKABLE when an
 * import does not match, TW_TRAP when initialisation or start traps (the
 * effects made on imported objects before the trap stay, as the spec says).
 * *out is owned by the store. */
tw_status tw_instance_new(tw_store_t *store, tw_module_t *module,
                          const tw_extern *imports, size_t nimports,
                          tw_instance_t **out, tw_error *err);

typedef struct tw_instance_options {
  /* Skip data and element initialisation and the start function: the
   * caller restores the state (a snapshot).  Active and declarative
   * segments count as dropped, as after a normal instantiation. */
  bool skip_init;
} tw_instance_options;

/* tw_instance_new with options (`opt` borrowed; NULL = defaults). */
tw_status tw_instance_new_ex(tw_store_t *store, tw_module_t *module,
                             const tw_extern *imports, size_t nimports,
                             const tw_instance_options *opt,
                             tw_instance_t **out, tw_error *err);

/* Index-space access for snapshots and debuggers (imports first, as in the
 * module).  Handles are borrowed from the store. */
uint32_t tw_instance_func_count(const tw_instance_t *inst);
tw_func_t *tw_instance_func(tw_instance_t *inst, uint32_t i);
uint32_t tw_instance_global_count(const tw_instance_t *inst);
tw_global_t *tw_instance_global(tw_instance_t *inst, uint32_t i);
uint32_t tw_instance_table_count(const tw_instance_t *inst);
tw_table_t *tw_instance_table(tw_instance_t *inst, uint32_t i);
/* Data (data = true) or element segments: count, dropped flag, drop. */
uint32_t tw_instance_segment_count(const tw_instance_t *inst, bool data);
bool tw_instance_segment_dropped(const tw_instance_t *inst, bool data,
                                 uint32_t i);
void tw_instance_segment_drop(tw_instance_t *inst, bool data, uint32_t i);

/* Looks up an export by name; TW_NOT_FOUND if absent. */
tw_status tw_instance_export(tw_instance_t *inst, const char *name,
                             size_t name_len, tw_extern *out);
/* The first exported memory, or the memory at index 0; NULL if none. */
tw_memory_t *tw_instance_memory(tw_instance_t *inst);
tw_module_t *tw_instance_module(tw_instance_t *inst);

/* ---- functions --------------------------------------------------------- */

/* Host functions read their arguments from slots[0..nparams) and write
 * their results to slots[0..nresults) (the same array).  A slot holds an
 * i32 or f32 bit pattern in its low 32 bits, an i64 or f64 bit pattern, or
 * a reference as a pointer.  To trap, fill err (tw_trap_set) and return
 * TW_TRAP; any other non-OK status becomes a TW_TRAP_HOST trap. */
typedef tw_status (*tw_host_fn)(tw_caller_t *caller, void *env,
                                uint64_t *slots, tw_error *err);

/* `params`/`results` are borrowed (copied).  `env` is borrowed until the
 * store is freed; `env_free`, if not NULL, is called on it then. */
tw_status tw_func_new_host(tw_store_t *store, const tw_valtype *params,
                           size_t nparams, const tw_valtype *results,
                           size_t nresults, tw_host_fn fn, void *env,
                           void (*env_free)(void *), tw_func_t **out,
                           tw_error *err);

/* For a wasm function: its instance and index there; false for a host
 * function. */
bool tw_func_owner(const tw_func_t *f, tw_instance_t **inst, uint32_t *index);

size_t tw_func_param_count(const tw_func_t *f);
size_t tw_func_result_count(const tw_func_t *f);
tw_valtype tw_func_param_type(const tw_func_t *f, size_t i);
tw_valtype tw_func_result_type(const tw_func_t *f, size_t i);

/* Calls `f`.  args (borrowed) must match the parameter types; results
 * (written) must have room for every result.  TW_ARG on a type or count
 * mismatch; TW_TRAP with a backtrace when the callee traps. */
tw_status tw_func_call(tw_store_t *store, tw_func_t *f, const tw_val *args,
                       size_t nargs, tw_val *results, size_t nresults,
                       tw_error *err);

/* Inside a host function: the calling instance's memory 0 (or NULL), its
 * store, and its instance (NULL when called from the embedder). */
tw_memory_t *tw_caller_memory(tw_caller_t *caller);
tw_store_t *tw_caller_store(tw_caller_t *caller);
tw_instance_t *tw_caller_instance(tw_caller_t *caller);

/* Fills err as a trap with `code` and a printf-style message. */
tw_status tw_trap_set(tw_error *err, tw_trap_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- memories, tables, globals ----------------------------------------- */

/* Limits are in pages (memories) or elements (tables); max UINT32_MAX with
 * has_max false means none. *out is owned by the store. */
tw_status tw_memory_new(tw_store_t *store, uint32_t min, uint32_t max,
                        bool has_max, tw_memory_t **out, tw_error *err);
/* Replaces the memory's contents with `pages` pages of file `fd` (borrowed)
 * from `offset` (a multiple of the system page size), mapped copy-on-write:
 * writes stay private to this memory, the file never changes.  The memory
 * becomes `pages` long.  TW_IO when the file is too short or mmap fails. */
tw_status tw_memory_map_image(tw_memory_t *mem, int fd, uint64_t offset,
                              uint32_t pages, tw_error *err);
/* Base address: stable for the life of the memory (it never moves). */
uint8_t *tw_memory_data(tw_memory_t *mem);
uint64_t tw_memory_size(const tw_memory_t *mem); /* bytes */
uint32_t tw_memory_pages(const tw_memory_t *mem);
/* Grows by delta pages; *old_pages gets the previous size.  TW_LIMIT when
 * the maximum or the engine cap would be exceeded. */
tw_status tw_memory_grow(tw_memory_t *mem, uint32_t delta,
                         uint32_t *old_pages, tw_error *err);

tw_status tw_table_new(tw_store_t *store, tw_valtype elem, uint32_t min,
                       uint32_t max, bool has_max, tw_table_t **out,
                       tw_error *err);
uint32_t tw_table_size(const tw_table_t *t);
tw_status tw_table_get(const tw_table_t *t, uint32_t i, tw_val *out,
                       tw_error *err);
tw_status tw_table_set(tw_table_t *t, uint32_t i, tw_val v, tw_error *err);

tw_status tw_global_new(tw_store_t *store, tw_val init, bool mutable_,
                        tw_global_t **out, tw_error *err);
tw_val tw_global_get(const tw_global_t *g);
tw_status tw_global_set(tw_global_t *g, tw_val v, tw_error *err);
/* Sets a global whatever its mutability (restoring a snapshot); the type
 * must match. */
tw_status tw_global_restore(tw_global_t *g, tw_val v, tw_error *err);

#ifdef __cplusplus
}
#endif
#endif
