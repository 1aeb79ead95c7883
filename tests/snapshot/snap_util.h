/* Shared by the snapshot tests: WAT to module (wat2wasm at test time), a
 * module whose initialiser builds every kind of state a snapshot holds,
 * and checks that an instance shows that state. */
#ifndef TW_SNAP_UTIL_H
#define TW_SNAP_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensorwasm/snapshot.h"
#include "tensorwasm/wasm.h"

/* WAT text to module bytes (*out malloc'd); 0 on success. */
static inline int wat_bytes(const char *text, uint8_t **out, size_t *len) {
  char dir[] = "/tmp/tw-snap-test-XXXXXX";
  if (!mkdtemp(dir)) return -1;
  char in[64], outp[64], cmd[256];
  snprintf(in, sizeof in, "%s/m.wat", dir);
  snprintf(outp, sizeof outp, "%s/m.wasm", dir);
  FILE *f = fopen(in, "w");
  if (!f) return -1;
  fputs(text, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "wat2wasm --debug-names %s -o %s", in, outp);
  int rc = -1;
  if (system(cmd) == 0 && (f = fopen(outp, "rb"))) {
    uint8_t *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    if (buf && n) {
      *out = buf;
      *len = n;
      rc = 0;
    } else {
      free(buf);
    }
  }
  unlink(in);
  unlink(outp);
  rmdir(dir);
  return rc;
}

static inline tw_module_t *wat_module(tw_engine_t *e, const char *text) {
  uint8_t *b = NULL;
  size_t n = 0;
  tw_module_t *m = NULL;
  tw_error err;
  if (wat_bytes(text, &b, &n) != 0) return NULL;
  if (tw_module_new(e, b, n, &m, &err) != TW_OK) {
    fprintf(stderr, "  module: %s\n", err.message);
    m = NULL;
  }
  free(b);
  return m;
}

/* The initialiser writes memory (from a passive segment it then drops and
 * directly), sets three globals (one a funcref), sets a table entry, drops
 * a passive element segment.  The exports read all of it back. */
static const char *const state_wat =
    "(module\n"
    "  (memory (export \"memory\") 1 100)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (global $h (mut i64) (i64.const 0))\n"
    "  (global $c i32 (i32.const 5))\n"
    "  (global $fr (mut funcref) (ref.null func))\n"
    "  (table $tab 4 funcref)\n"
    "  (type $t (func (result i32)))\n"
    "  (func $a (type $t) (i32.const 11))\n"
    "  (func $b (type $t) (i32.const 22))\n"
    "  (elem declare func $b)\n"
    "  (elem $pe func $a)\n"
    "  (elem $keep func $a)\n"
    "  (data $d0 \"hello\")\n"
    "  (data $d1 \"world\")\n"
    "  (data (i32.const 100) \"active\")\n"
    "  (func (export \"wizer.initialize\")\n"
    "    (memory.init $d0 (i32.const 200) (i32.const 0) (i32.const 5))\n"
    "    (data.drop $d0)\n"
    "    (elem.drop $pe)\n"
    "    (global.set $g (i32.const 1234))\n"
    "    (global.set $h (i64.const 0x123456789))\n"
    "    (global.set $fr (ref.func $b))\n"
    "    (table.set $tab (i32.const 2) (ref.func $b))\n"
    "    (i32.store (i32.const 4096) (i32.const 0xdeadbeef))\n"
    "    (i32.store (i32.const 65532) (i32.const 77)))\n"
    "  (func (export \"load\") (param i32) (result i32)\n"
    "    (i32.load (local.get 0)))\n"
    "  (func (export \"load8\") (param i32) (result i32)\n"
    "    (i32.load8_u (local.get 0)))\n"
    "  (func (export \"store\") (param i32 i32)\n"
    "    (i32.store (local.get 0) (local.get 1)))\n"
    "  (func (export \"g\") (result i32) (global.get $g))\n"
    "  (func (export \"h\") (result i64) (global.get $h))\n"
    "  (func (export \"c\") (result i32) (global.get $c))\n"
    "  (func (export \"call\") (param i32) (result i32)\n"
    "    (call_indirect $tab (type $t) (local.get 0)))\n"
    "  (func (export \"fr_call\") (result i32)\n"
    "    (table.set $tab (i32.const 3) (global.get $fr))\n"
    "    (call_indirect $tab (type $t) (i32.const 3)))\n"
    "  (func (export \"init_d0\")\n"
    "    (memory.init $d0 (i32.const 0) (i32.const 0) (i32.const 1)))\n"
    "  (func (export \"init_d1\") (result i32)\n"
    "    (memory.init $d1 (i32.const 300) (i32.const 0) (i32.const 5))\n"
    "    (i32.load8_u (i32.const 300)))\n"
    "  (func (export \"init_pe\")\n"
    "    (table.init $tab $pe (i32.const 0) (i32.const 0) (i32.const 1)))\n"
    "  (func (export \"init_keep\") (result i32)\n"
    "    (table.init $tab $keep (i32.const 0) (i32.const 0) (i32.const 1))\n"
    "    (call_indirect $tab (type $t) (i32.const 0)))\n"
    "  (func (export \"grow\") (result i32) (memory.grow (i32.const 1))))\n";

static inline tw_func_t *ufunc(tw_instance_t *inst, const char *name) {
  tw_extern ext;
  if (tw_instance_export(inst, name, strlen(name), &ext) != TW_OK ||
      ext.kind != TW_EXTERN_FUNC)
    return NULL;
  return ext.of.func;
}

/* Calls an export with up to two i32 arguments; returns the status and
 * writes the single result (if any) to *res. */
static inline tw_status ucall(tw_store_t *s, tw_instance_t *inst,
                              const char *name, int nargs, int32_t a,
                              int32_t b, tw_val *res, tw_error *err) {
  tw_func_t *f = ufunc(inst, name);
  tw_val args[2] = {tw_val_i32(a), tw_val_i32(b)};
  tw_val r[1] = {tw_val_i32(0)};
  if (!f) return TW_NOT_FOUND;
  size_t nr = tw_func_result_count(f);
  tw_status st = tw_func_call(s, f, args, (size_t)nargs, r, nr, err);
  if (st == TW_OK && nr && res) *res = r[0];
  return st;
}

static inline int64_t ui32(tw_store_t *s, tw_instance_t *inst,
                           const char *name, int nargs, int32_t a) {
  tw_val r = tw_val_i32(0);
  tw_error err;
  if (ucall(s, inst, name, nargs, a, 0, &r, &err) != TW_OK) return -1;
  return (int64_t)(uint32_t)r.of.i32;
}

/* 0 when `inst` shows every effect of state_wat's initialiser; else the
 * number of the first check that failed (printed). */
static inline int state_check(tw_store_t *s, tw_instance_t *inst) {
  tw_val r = tw_val_i64(0);
  tw_error err;
  int n = 0;
#define CHECK(c)                                                        \
  do {                                                                  \
    n++;                                                                \
    if (!(c)) {                                                         \
      fprintf(stderr, "  state check %d failed: %s\n", n, #c);          \
      return n;                                                         \
    }                                                                   \
  } while (0)
  CHECK(ui32(s, inst, "load", 1, 4096) == 0xdeadbeefu);
  CHECK(ui32(s, inst, "load", 1, 65532) == 77);
  CHECK(ui32(s, inst, "load8", 1, 200) == 'h');
  CHECK(ui32(s, inst, "load8", 1, 204) == 'o');
  CHECK(ui32(s, inst, "load8", 1, 100) == 'a');
  CHECK(ui32(s, inst, "load8", 1, 105) == 'e');
  CHECK(ui32(s, inst, "g", 0, 0) == 1234);
  CHECK(ui32(s, inst, "c", 0, 0) == 5);
  CHECK(ucall(s, inst, "h", 0, 0, 0, &r, &err) == TW_OK &&
        r.of.i64 == 0x123456789LL);
  CHECK(ui32(s, inst, "call", 1, 2) == 22);
  /* slot 1 was never set: still null */
  CHECK(ucall(s, inst, "call", 1, 1, 0, &r, &err) == TW_TRAP &&
        err.trap == TW_TRAP_UNINITIALIZED_ELEMENT);
  CHECK(ui32(s, inst, "fr_call", 0, 0) == 22);
  /* dropped passive segments stay dropped, kept ones stay usable */
  CHECK(ucall(s, inst, "init_d0", 0, 0, 0, &r, &err) == TW_TRAP &&
        err.trap == TW_TRAP_MEMORY_OOB);
  CHECK(ui32(s, inst, "init_d1", 0, 0) == 'w');
  CHECK(ucall(s, inst, "init_pe", 0, 0, 0, &r, &err) == TW_TRAP &&
        err.trap == TW_TRAP_TABLE_OOB);
  CHECK(ui32(s, inst, "init_keep", 0, 0) == 11);
  CHECK(tw_memory_pages(tw_instance_memory(inst)) == 1);
#undef CHECK
  return 0;
}

#endif
