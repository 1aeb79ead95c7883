/* The interpreter's superinstructions against the meaning of the wasm they
 * replace.  Each module is written the way clang emits the pattern (an
 * unrolled copy loop, musl's unaligned word merge, address steps), run,
 * and its results and memory compared with the same computation done in C
 * byte by byte; the compiled code is checked to hold the fused op, so a
 * change that stops fusing fails here instead of passing untested. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorwasm/wasm.h"
#include "test.h"
#include "wasm/code.h"
#include "wat_util.h"

/* ---- building the module text ------------------------------------------ */

typedef struct text {
  char *p;
  size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    if (k >= 0 && t->n + (size_t)k < t->cap) {
      t->n += (size_t)k;
      return;
    }
    t->cap = t->cap * 2 + (size_t)k + 64;
    t->p = realloc(t->p, t->cap);
    if (!t->p) abort();
  }
}

/* One element of an unrolled copy: mem[d + k] = mem[s + k], width bytes,
 * written as clang writes it (address steps by i32.add, offset 0). */
static void put_move(text *t, const char *d, const char *s, int k,
                     const char *load, const char *store) {
  if (k == 0)
    put(t, "    (%s (local.get %s) (%s (local.get %s)))\n", store, d, load, s);
  else
    put(t, "    (%s (i32.add (local.get %s) (i32.const %d))\n"
           "      (%s (i32.add (local.get %s) (i32.const %d))))\n",
        store, d, k, load, s, k);
}

/* The end state of a copy loop as one i32, for the _end variants: the
 * slots a loop done at once must leave as its last turn does. */
#define END_STATE(a, b, n)                                                  \
  "    (i32.add (i32.add (local.get " a ") (i32.mul (local.get " b ")"      \
  " (i32.const 3))) (i32.mul (local.get " n ") (i32.const 7))))\n"

/* Forward byte copy, 8 an iteration: memmove's forward path.  With
 * `end`, it returns END_STATE of d, s, n. */
static void put_fwd8(text *t, const char *name, int end) {
  put(t, "  (func (export \"%s\") (param $d i32) (param $s i32) (param $n i32)%s\n"
         "   (loop $l\n", name, end ? " (result i32)" : "");
  for (int k = 0; k < 8; k++) put_move(t, "$d", "$s", k, "i32.load8_u", "i32.store8");
  put(t, "    (local.set $d (i32.add (local.get $d) (i32.const 8)))\n"
         "    (local.set $s (i32.add (local.get $s) (i32.const 8)))\n"
         "    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 8)))))\n");
  put(t, "%s", end ? END_STATE("$d", "$s", "$n") : "  )\n");
}

/* Backward byte copy with the step at the bottom (musl memmove's
 * backward loop as clang emits it): bases d - 4 and s - 4 plus the
 * count, 4 bytes top first, then the count stepped and tested.  With
 * `end`, it returns END_STATE of the two sums and the count. */
static void put_bwd_tail4(text *t, const char *name, int end) {
  put(t, "  (func (export \"%s\") (param $d i32) (param $s i32) (param $n i32)%s\n"
         "   (local $dm i32) (local $sm i32) (local $dp i32) (local $sp i32)\n"
         "   (local.set $dm (i32.sub (local.get $d) (i32.const 4)))\n"
         "   (local.set $sm (i32.sub (local.get $s) (i32.const 4)))\n"
         "   (loop $l\n"
         "    (local.set $dp (i32.add (local.get $n) (local.get $dm)))\n"
         "    (local.set $sp (i32.add (local.get $n) (local.get $sm)))\n",
      name, end ? " (result i32)" : "");
  for (int k = 3; k >= 0; k--) put_move(t, "$dp", "$sp", k, "i32.load8_u", "i32.store8");
  put(t, "    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 4)))))\n");
  put(t, "%s", end ? END_STATE("$dp", "$sp", "$n") : "  )\n");
}

static char *module_text(void) {
  text t = {0};
  put(&t, "(module (memory (export \"mem\") 1)\n");
  put_fwd8(&t, "fwd8", 0);
  put_fwd8(&t, "fwd8_end", 1);
  /* backward byte copy, 4 or 8 an iteration from the top: memmove's
   * other way */
  for (int g = 4; g <= 8; g += 4) {
    put(&t, "  (func (export \"bwd%d\") (param $d i32) (param $s i32) (param $n i32)\n"
            "   (local $dp i32) (local $sp i32)\n"
            "   (loop $l\n"
            "    (local.set $n (i32.sub (local.get $n) (i32.const %d)))\n"
            "    (local.set $dp (i32.add (local.get $d) (local.get $n)))\n"
            "    (local.set $sp (i32.add (local.get $s) (local.get $n)))\n", g, g);
    for (int k = g - 1; k >= 0; k--) put_move(&t, "$dp", "$sp", k, "i32.load8_u", "i32.store8");
    put(&t, "    (br_if $l (local.get $n))))\n");
  }
  put_bwd_tail4(&t, "bwd_tail4", 0);
  put_bwd_tail4(&t, "bwd_tail4_end", 1);
  /* musl memcpy's unaligned loop (source one byte past a word): each
   * word loaded once, each stored word merged from two */
  put(&t, "  (func (export \"merge\") (param $d i32) (param $s i32) (param $n i32)\n"
          "   (local $w i32) (local $x i32)\n"
          "   (local.set $w (i32.load (local.get $s)))\n"
          "   (loop $l\n"
          "    (i32.store (local.get $d)\n"
          "     (i32.or (i32.shl (local.tee $x (i32.load (i32.add (local.get $s) (i32.const 4))))\n"
          "                      (i32.const 24))\n"
          "             (i32.shr_u (local.get $w) (i32.const 8))))\n"
          "    (i32.store (i32.add (local.get $d) (i32.const 4))\n"
          "     (i32.or (i32.shl (local.tee $w (i32.load (i32.add (local.get $s) (i32.const 8))))\n"
          "                      (i32.const 24))\n"
          "             (i32.shr_u (local.get $x) (i32.const 8))))\n"
          "    (local.set $d (i32.add (local.get $d) (i32.const 8)))\n"
          "    (local.set $s (i32.add (local.get $s) (i32.const 8)))\n"
          "    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 8))))))\n");
  /* word copy, 16 bytes an iteration, any alignment */
  put(&t, "  (func (export \"words\") (param $d i32) (param $s i32) (param $n i32)\n"
          "   (loop $l\n");
  for (int k = 0; k < 16; k += 4) put_move(&t, "$d", "$s", k, "i32.load", "i32.store");
  put(&t, "    (local.set $d (i32.add (local.get $d) (i32.const 16)))\n"
          "    (local.set $s (i32.add (local.get $s) (i32.const 16)))\n"
          "    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 16))))))\n");
  /* steps 1..4 off both bases: wraps at 4 GiB like the adds it replaces */
  put(&t, "  (func (export \"wrap_copy\") (param $d i32) (param $s i32)\n");
  for (int k = 1; k <= 4; k++) put_move(&t, "$d", "$s", k, "i32.load8_u", "i32.store8");
  put(&t, "  )\n");
  put(&t,
      /* musl memcpy's unaligned merge, both operand orders, and counts
       * that wasm takes modulo 32 */
      "  (func (export \"funnel\") (param $a i32) (param $b i32) (result i32)\n"
      "    (i32.or (i32.shl (local.get $a) (i32.const 8))\n"
      "            (i32.shr_u (local.get $b) (i32.const 24))))\n"
      "  (func (export \"funnel_rev\") (param $a i32) (param $b i32) (result i32)\n"
      "    (i32.or (i32.shr_u (local.get $b) (i32.const 16))\n"
      "            (i32.shl (local.get $a) (i32.const 16))))\n"
      "  (func (export \"funnel_big\") (param $a i32) (param $b i32) (result i32)\n"
      "    (i32.or (i32.shl (local.get $a) (i32.const 40))\n"
      "            (i32.shr_u (local.get $b) (i32.const 33))))\n"
      "  (func (export \"store_funnel\") (param $p i32) (param $a i32) (param $b i32)\n"
      "    (i32.store (i32.add (local.get $p) (i32.const 4))\n"
      "      (i32.or (i32.shl (local.get $a) (i32.const 8))\n"
      "              (i32.shr_u (local.get $b) (i32.const 24))))\n"
      "    (i32.store offset=8 (local.get $p)\n"
      "      (i32.or (i32.shr_u (local.get $b) (i32.const 16))\n"
      "              (i32.shl (local.get $a) (i32.const 16)))))\n"
      /* address steps kept virtual until a load or store takes them */
      "  (func (export \"base_changes\") (param $p i32) (result i32)\n"
      "    local.get $p  i32.const 4  i32.add\n"
      "    i32.const 100  local.set $p\n"
      "    i32.load)\n"
      "  (func (export \"base_tee\") (param $p i32) (result i32)\n"
      "    local.get $p  i32.const 4  i32.add\n"
      "    i32.const 200  local.tee $p  drop\n"
      "    i32.load)\n"
      "  (func (export \"chain\") (param $p i32) (result i32)\n"
      "    (i32.load (i32.add (i32.sub (i32.add (local.get $p) (i32.const 5))\n"
      "                                (i32.const 1)) (i32.const -8))))\n"
      "  (func (export \"wrap_store\") (param $p i32) (param $v i32)\n"
      "    (i32.store (i32.add (local.get $p) (i32.const 8)) (local.get $v)))\n"
      "  (func (export \"wrap_load\") (param $p i32) (result i32)\n"
      "    (i32.load offset=4 (i32.add (local.get $p) (i32.const 8))))\n"
          "  (func (export \"field_at\") (param $p i32) (param $i i32) (result i32)\n"
      "    (i32.load (i32.add (i32.add (local.get $p) (i32.const 8))\n"
      "                       (i32.shl (local.get $i) (i32.const 2)))))\n"
      "  (func $id (param i32) (result i32) (local.get 0))\n"
      "  (func (export \"as_arg\") (param $p i32) (result i32)\n"
      "    (call $id (i32.add (local.get $p) (i32.const 7))))\n"
      "  (func (export \"as_branch_value\") (param $p i32) (result i32)\n"
      "    (block (result i32) (br 0 (i32.add (local.get $p) (i32.const 3)))))\n"
      "  (func (export \"as_select\") (param $p i32) (param $c i32) (result i32)\n"
      "    (select (i32.add (local.get $p) (i32.const 1))\n"
      "            (i32.add (local.get $p) (i32.const 2)) (local.get $c)))\n"
      "  (func (export \"temp_base\") (param $x i32) (param $y i32) (result i32)\n"
      "    (i32.load (i32.add (i32.mul (local.get $x) (local.get $y)) (i32.const 4))))\n"
      "  (func (export \"deep\") (param $p i32) (result i32) (local $q i32)\n"
      "    local.get $p  i32.const 16  i32.add\n"
      "    local.get $p  i32.const 99  i32.store\n"
      "    i32.const 5  local.set $q\n"
      "    local.get $q  i32.add)\n"
      /* comparisons negated by i32.eqz, as values and as conditions */
      "  (func (export \"not_eq_k\") (param $x i32) (result i32)\n"
      "    (if (result i32) (i32.eqz (i32.eq (local.get $x) (i32.const 252)))\n"
      "      (then (i32.const 1)) (else (i32.const 0))))\n"
      "  (func (export \"not_lt_s\") (param $x i32) (param $y i32) (result i32)\n"
      "    (i32.eqz (i32.lt_s (local.get $x) (local.get $y))))\n"
      "  (func (export \"not_ge_u_br\") (param $x i32) (param $y i32) (result i32)\n"
      "    (block $out (br_if $out (i32.eqz (i32.ge_u (local.get $x) (local.get $y))))\n"
      "      (return (i32.const 7)))\n"
      "    (i32.const 9))\n"
      "  (func (export \"not_not\") (param $x i32) (result i32)\n"
      "    (i32.eqz (i32.eqz (i32.gt_s (local.get $x) (i32.const -3)))))\n"
      "  (func (export \"not_i64\") (param $x i32) (result i32)\n"
      "    (i32.eqz (i64.le_u (i64.extend_i32_u (local.get $x)) (i64.const 10))))\n"
      /* a loop rotating its variables: the copies at its end pair up */
      "  (func (export \"rotate\") (param $n i32) (result i32)\n"
      "    (local $a i32) (local $b i32) (local $c i32) (local $t i32)\n"
      "    (local.set $a (i32.const 1)) (local.set $b (i32.const 2))\n"
      "    (local.set $c (i32.const 3))\n"
      "    (loop $l\n"
      "      (local.set $t (i32.add (local.get $a) (local.get $n)))\n"
      "      (local.set $a (local.get $b))\n"
      "      (local.set $b (local.get $c))\n"
      "      (local.set $c (local.get $t))\n"
      "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
      "    (i32.add (i32.mul (local.get $a) (i32.const 10000))\n"
      "      (i32.add (i32.mul (local.get $b) (i32.const 100)) (local.get $c))))\n"
      /* results computed straight into the return slot, by producers
       * that read that slot (param 0) themselves */
      "  (func (export \"ret_sub\") (param $a i32) (param $b i32) (result i32)\n"
      "    (i32.sub (local.get $b) (local.get $a)))\n"
      "  (func (export \"ret_steps\") (param $a i32) (param $b i32) (result i32)\n"
      "    (local.set $b (i32.add (local.get $a) (i32.const 3)))\n"
      "    (i32.add (local.get $b) (i32.const 5)))\n"
      "  (func (export \"ret_early\") (param $a i32) (param $b i32) (result i32)\n"
      "    (if (i32.lt_s (local.get $a) (local.get $b))\n"
      "      (then (return (i32.mul (local.get $a) (local.get $b)))))\n"
      "    (select (local.get $b) (local.get $a) (i32.and (local.get $a) (i32.const 1))))\n"
      /* counters stepped, then compared with a slot or a constant */
      "  (func (export \"sum_to\") (param $n i32) (result i32) (local $i i32) (local $s i32)\n"
      "    (loop $l\n"
      "      (local.set $s (i32.add (local.get $s) (local.get $i)))\n"
      "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
      "      (br_if $l (i32.ne (local.get $i) (local.get $n))))\n"
      "    (i32.add (i32.mul (local.get $s) (i32.const 1000)) (local.get $i)))\n"
      "  (func (export \"down_s\") (param $i i32) (result i32) (local $k i32)\n"
      "    (loop $l\n"
      "      (local.set $k (i32.or (i32.shl (local.get $k) (i32.const 1)) (i32.const 1)))\n"
      "      (local.set $i (i32.add (local.get $i) (i32.const -3)))\n"
      "      (br_if $l (i32.gt_s (local.get $i) (i32.const -10))))\n"
      "    (i32.add (i32.mul (local.get $k) (i32.const 1000)) (local.get $i)))\n"
      /* constants read in loops: FNV-1a's 64-bit prime, an f64 step, and
       * more distinct ones than the pool holds */
      "  (func (export \"fnv\") (param $p i32) (param $n i32) (result i64) (local $h i64)\n"
      "    (local.set $h (i64.const 0xcbf29ce484222325))\n"
      "    (block $done\n"
      "      (br_if $done (i32.eqz (local.get $n)))\n"
      "      (loop $l\n"
      "        (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load8_u (local.get $p)))\n"
      "                               (i64.const 0x100000001b3)))\n"
      "        (local.set $p (i32.add (local.get $p) (i32.const 1)))\n"
      "        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))\n"
      "    (local.get $h))\n"
      "  (func (export \"f64_steps\") (param $n i32) (result f64) (local $x f64)\n"
      "    (loop $l\n"
      "      (local.set $x (f64.add (f64.mul (local.get $x) (f64.const 0.5)) (f64.const 0.01)))\n"
      "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
      "    (f64.add (local.get $x) (f64.const 0.01)))\n"
      "  (func (export \"many_consts\") (param $n i32) (result i64) (local $h i64)\n"
      "    (loop $l\n"
      "      (local.set $h (i64.add (local.get $h) (i64.const 0x100000001)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x200000005)) (i64.const 2)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x300000007)) (i64.const 3)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x400000009)) (i64.const 4)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x50000000b)) (i64.const 5)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x60000000d)) (i64.const 6)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x70000000f)) (i64.const 7)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x800000011)) (i64.const 8)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x900000013)) (i64.const 9)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xa00000015)) (i64.const 10)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xb00000017)) (i64.const 11)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xc00000019)) (i64.const 12)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xd0000001b)) (i64.const 13)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xe0000001d)) (i64.const 14)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0xf0000001f)) (i64.const 15)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x1000000021)) (i64.const 16)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x1100000023)) (i64.const 17)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x1200000025)) (i64.const 18)))\n"
      "      (local.set $h (i64.xor (i64.mul (local.get $h) (i64.const 0x1300000027)) (i64.const 19)))\n"
      "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
      "    (local.get $h))\n"
      /* read-modify-write: fused when a load, one op on it and a store
       * back to the same address are adjacent, kept apart otherwise */
      "  (func (export \"axpy\") (param $c i32) (param $b i32) (param $n i32) (param $a f64)\n"
      "    (loop $l\n"
      "      (f64.store (local.get $c) (f64.add (f64.mul (local.get $a) (f64.load (local.get $b)))\n"
      "                                          (f64.load (local.get $c))))\n"
      "      (local.set $c (i32.add (local.get $c) (i32.const 8)))\n"
      "      (local.set $b (i32.add (local.get $b) (i32.const 8)))\n"
      "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))\n"
      "  (func (export \"scale_acc\") (param $c i32) (param $n i32) (param $a f64) (param $b f64)\n"
      "    (loop $l\n"
      "      (f64.store (local.get $c) (f64.add (f64.mul (local.get $a) (local.get $b))\n"
      "                                          (f64.load (local.get $c))))\n"
      "      (local.set $c (i32.add (local.get $c) (i32.const 8)))\n"
      "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))\n"
      "  (func (export \"mulsub\") (param $p i32) (param $a f64) (param $b f64)\n"
      "    (f64.store (local.get $p) (f64.sub (f64.load (local.get $p))\n"
      "                                       (f64.mul (local.get $a) (local.get $b)))))\n"
      "  (func (export \"muladd_first\") (param $p i32) (param $a f64) (param $b f64)\n"
      "    (f64.store (local.get $p) (f64.add (f64.load (local.get $p))\n"
      "                                       (f64.mul (local.get $a) (local.get $b)))))\n"
      "  (func (export \"mulsub_rev\") (param $p i32) (param $a f64) (param $b f64)\n"
      "    (f64.store (local.get $p) (f64.sub (f64.mul (local.get $a) (local.get $b))\n"
      "                                       (f64.load (local.get $p)))))\n"
      /* f64 arithmetic with a loaded operand, either side, both address forms */
      "  (func (export \"fadd_l\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.add (local.get $x) (f64.load (local.get $p))))\n"
      "  (func (export \"fadd_r\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.add (f64.load offset=8 (local.get $p)) (local.get $x)))\n"
      "  (func (export \"fsub_r\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.sub (local.get $x) (f64.load (local.get $p))))\n"
      "  (func (export \"fsub_l\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.sub (f64.load (local.get $p)) (local.get $x)))\n"
      "  (func (export \"fmul_pa\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.mul (local.get $x) (f64.load (i32.add (local.get $p) (i32.const -8)))))\n"
      "  (func (export \"fsub_pa_l\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.sub (f64.load offset=8 (i32.add (local.get $p) (i32.const 8))) (local.get $x)))\n"
      "  (func (export \"fsub_pa_r\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.sub (local.get $x) (f64.load (i32.add (local.get $p) (i32.const 16)))))\n"
      "  (func (export \"fsqrt_load\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.sqrt (f64.load (local.get $p))))\n"
      "  (func (export \"fadd_pa\") (param $p i32) (param $x f64) (result f64)\n"
      "    (f64.add (f64.load (i32.add (local.get $p) (i32.const 24))) (local.get $x)))\n"
      "  (func (export \"rmw_add\") (param $p i32) (param $x f64)\n"
      "    (f64.store (local.get $p) (f64.add (local.get $x) (f64.load (local.get $p)))))\n"
      "  (func (export \"rmw_sub\") (param $p i32) (param $x f64)\n"
      "    (f64.store offset=8 (local.get $p) (f64.sub (f64.load offset=8 (local.get $p)) (local.get $x))))\n"
      "  (func (export \"rmw_rsub\") (param $p i32) (param $x f64)\n"
      "    (f64.store (local.get $p) (f64.sub (local.get $x) (f64.load (local.get $p)))))\n"
      "  (func (export \"rmw_mul\") (param $p i32) (param $x f64)\n"
      "    (f64.store (local.get $p) (f64.mul (f64.load (local.get $p)) (local.get $x))))\n"
      "  (func (export \"count32\")\n"
      "    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 7))))\n"
      "  (func (export \"count64\")\n"
      "    (i64.store (i32.const 72) (i64.add (i64.load (i32.const 72)) (i64.const -1))))\n"
      "  (func (export \"bump32\") (param $p i32)\n"
      "    (i32.store offset=4 (local.get $p) (i32.add (i32.load offset=4 (local.get $p)) (i32.const -3))))\n"
      "  (func (export \"bump64\") (param $p i32)\n"
      "    (i64.store (local.get $p) (i64.add (i64.load (local.get $p)) (i64.const 5))))\n"
      "  (func (export \"addto32\") (param $p i32) (param $x i32)\n"
      "    (i32.store (local.get $p) (i32.add (local.get $x) (i32.load (local.get $p)))))\n"
      "  (func (export \"addto64\") (param $p i32) (param $x i64)\n"
      "    (i64.store (local.get $p) (i64.add (i64.load (local.get $p)) (local.get $x))))\n"
      "  (func (export \"other_addr\") (param $p i32) (param $q i32) (param $x f64)\n"
      "    (f64.store (local.get $q) (f64.add (f64.load (local.get $p)) (local.get $x))))\n"
      "  (func (export \"kept_load\") (param $p i32) (param $x f64) (result f64) (local $m f64)\n"
      "    (f64.store (local.get $p) (f64.add (local.tee $m (f64.load (local.get $p))) (local.get $x)))\n"
      "    (local.get $m))\n"
      /* xor with a rotated or shifted value: SHA-256's Sigma1, CRC */
      "  (func (export \"sigma1\") (param $x i32) (param $y i32) (result i32)\n"
      "    (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 26))\n"
      "                      (i32.rotl (local.get $x) (i32.const 21)))\n"
      "             (i32.rotl (local.get $x) (i32.const 7))))\n"
      "  (func (export \"xor_shr_left\") (param $x i32) (param $y i32) (result i32)\n"
      "    (i32.xor (i32.shr_u (local.get $x) (i32.const 3)) (local.get $y)))\n"
      "  (func (export \"xor_shr_right\") (param $x i32) (param $y i32) (result i32)\n"
      "    (i32.xor (local.get $y) (i32.shr_u (local.get $x) (i32.const 35))))\n"
      "  (func (export \"xor_rotl_self\") (param $x i32) (param $y i32) (result i32)\n"
      "    (local.set $x (i32.xor (local.get $x) (i32.rotl (local.get $x) (local.get $y))))\n"
      "    (i32.xor (i32.rotl (local.get $x) (i32.const 1)) (local.get $x)))\n"
      "  (func (export \"self_step\") (param $p i32) (result i32)\n"
      "    local.get $p  i32.const 1  i32.add  local.set $p\n"
      "    local.get $p  i32.const 1  i32.add  local.tee $p\n"
      "    local.get $p  i32.add)\n"
      ")\n");
  return t.p;
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct fix {
  env v;
  tw_module_t *m;
  tw_instance_t *inst;
  uint8_t *mem;
  char *code; /* every compiled body, printed */
} fix;

static int fix_open(fix *f) {
  memset(f, 0, sizeof *f);
  if (!setup(&f->v, NULL)) return 0;
  char *src = module_text();
  f->m = wat(f->v.engine, src, &f->v.err);
  free(src);
  if (!f->m) return 0;
  if (tw_instance_new(f->v.store, f->m, NULL, 0, &f->inst, &f->v.err) != TW_OK)
    return 0;
  f->mem = tw_memory_data(tw_instance_memory(f->inst));
  size_t len = 0;
  FILE *out = open_memstream(&f->code, &len);
  if (!out) return 0;
  const tw__module *m = &f->m->m;
  for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++)
    tw__code_dump(out, m->bodies[i].compiled);
  fclose(out);
  return 1;
}

static void fix_close(fix *f) {
  free(f->code);
  tw_module_free(f->m);
  teardown(&f->v);
}

static tw_status call(fix *f, const char *name, const int32_t *args, size_t n,
                      int32_t *result) {
  tw_val a[4], r;
  for (size_t i = 0; i < n; i++) a[i] = tw_val_i32(args[i]);
  tw_status st = tw_func_call(f->v.store, func(f->inst, name), a, n, &r,
                              result ? 1 : 0, &f->v.err);
  if (result && st == TW_OK) *result = r.of.i32;
  return st;
}

static void fill_pattern(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + 3);
}

/* The reference: the copy as the wasm does it, one element after another. */
static void ref_copy(uint8_t *mem, uint32_t d, uint32_t s, uint32_t n,
                     int width) {
  for (uint32_t i = 0; i < n; i += (uint32_t)width) {
    uint8_t v[4];
    memcpy(v, mem + s + i, (size_t)width);
    memcpy(mem + d + i, v, (size_t)width);
  }
}

static uint8_t ref[65536];

/* Runs copy `name` on a patterned memory and on the reference; 1 if the
 * whole memory agrees.  With `result`, the copy returns one i32 there. */
static int copy_run(fix *f, const char *name, uint32_t d, uint32_t s,
                    uint32_t n, int width, int group, int32_t *result) {
  fill_pattern(f->mem, 65536);
  fill_pattern(ref, sizeof ref);
  int32_t args[3] = {(int32_t)d, (int32_t)s, (int32_t)n};
  if (call(f, name, args, 3, result) != TW_OK) return 0;
  if (group) {
    /* bwdG copies G-byte groups from the top down, each group top byte
     * first: mirror it byte by byte */
    uint32_t gs = (uint32_t)group;
    for (uint32_t g = n; g >= gs; g -= gs)
      for (uint32_t k = gs; k-- > 0;) ref[d + g - gs + k] = ref[s + g - gs + k];
  } else {
    ref_copy(ref, d, s, n, width);
  }
  return memcmp(f->mem, ref, sizeof ref) == 0;
}

static int copy_agrees(fix *f, const char *name, uint32_t d, uint32_t s,
                       uint32_t n, int width, int group) {
  return copy_run(f, name, d, s, n, width, group, NULL);
}

/* ---- tests -------------------------------------------------------------- */

TEST(unrolled_copy_loops_become_move_runs) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "move1_run");
  ASSERT_CONTAINS(f.code, "move4_run");
  ASSERT_CONTAINS(f.code, "i32_add2");
  ASSERT_CONTAINS(f.code, "br_i32_add_imm3_nez"); /* the loops' tails */
  fix_close(&f);
}

TEST(forward_byte_runs_keep_overlap_meaning) {
  fix f;
  ASSERT(fix_open(&f));
  /* disjoint, then overlapping by 1, 3 and 7 bytes both ways: a forward
   * byte loop with d > s smears the first bytes, which memmove would not */
  ASSERT(copy_agrees(&f, "fwd8", 1000, 5000, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1001, 1000, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1003, 1000, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1007, 1000, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1000, 1001, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1000, 1007, 4096, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1000, 1013, 64, 1, 0));
  ASSERT(copy_agrees(&f, "fwd8", 1013, 1000, 64, 1, 0));
  fix_close(&f);
}

TEST(backward_byte_runs_keep_overlap_meaning) {
  fix f;
  ASSERT(fix_open(&f));
  /* disjoint, and overlapping by less and more than a run both ways;
   * bwd8's runs are 8 bytes, the size done as one block when safe */
  static const char *fn[2] = {"bwd4", "bwd8"};
  for (int i = 0; i < 2; i++) {
    int g = 4 * (i + 1);
    ASSERT(copy_agrees(&f, fn[i], 3000, 100, 64, 1, g));
    ASSERT(copy_agrees(&f, fn[i], 1001, 1000, 64, 1, g));
    ASSERT(copy_agrees(&f, fn[i], 1002, 1000, 64, 1, g));
    ASSERT(copy_agrees(&f, fn[i], 1000, 1003, 64, 1, g));
    ASSERT(copy_agrees(&f, fn[i], 1000, 1013, 64, 1, g));
    ASSERT(copy_agrees(&f, fn[i], 1013, 1000, 64, 1, g));
  }
  fix_close(&f);
}

/* A byte-copy loop's body and back edge are one op; a loop stepped at
 * the top keeps them apart (bwd4 and bwd8 above, the other shape). */
TEST(byte_copy_loops_run_as_one_op) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "move1_run_br_add3_nez"); /* fwd8 */
  ASSERT_CONTAINS(f.code, "i32_add2_move1_run_br_add_nez"); /* bwd_tail4 */
  ASSERT(copy_agrees(&f, "bwd_tail4", 3000, 100, 64, 1, 4));
  ASSERT(copy_agrees(&f, "bwd_tail4", 1001, 1000, 64, 1, 4));
  ASSERT(copy_agrees(&f, "bwd_tail4", 1000, 1003, 64, 1, 4));
  ASSERT(copy_agrees(&f, "bwd_tail4", 1000, 1013, 4096, 1, 4));
  ASSERT(copy_agrees(&f, "bwd_tail4", 1013, 1000, 64, 1, 4));
  /* n = 6 from s = 0: the second group starts at s + 2 - 4, so its
   * source addresses are 1, 0, then (u32)-1, which traps: the group's
   * first two bytes are moved, nothing else */
  fill_pattern(f.mem, 65536);
  int32_t args[3] = {1000, 0, 6};
  ASSERT_EQ_INT(call(&f, "bwd_tail4", args, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  fill_pattern(ref, sizeof ref);
  for (int k = 3; k >= 0; k--) ref[1002 + k] = ref[2 + k];
  ref[1001] = ref[1];
  ref[1000] = ref[0];
  ASSERT_EQ_INT(memcmp(f.mem, ref, sizeof ref), 0);
  fix_close(&f);
}

/* The load feeding a merged store travels with it: same bytes, and a load
 * past the end traps before its store. */
TEST(unaligned_merge_loads_with_its_store) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "i32_load_store_or_shl_shr");
  static const uint32_t cases[][3] = {{4000, 100, 64}, {8, 1000, 4096}, {20000, 12, 8}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fill_pattern(f.mem, 65536);
    fill_pattern(ref, sizeof ref);
    int32_t args[3] = {(int32_t)cases[i][0], (int32_t)cases[i][1], (int32_t)cases[i][2]};
    ASSERT_EQ_INT(call(&f, "merge", args, 3, NULL), TW_OK);
    ref_copy(ref, cases[i][0], cases[i][1] + 1, cases[i][2], 1);
    ASSERT_EQ_INT(memcmp(f.mem, ref, sizeof ref), 0);
  }
  /* s + 8 of the second iteration is the end of memory: the first
   * iteration's 8 bytes and the second's first word are stored, then the
   * load of its second word traps */
  fill_pattern(f.mem, 65536);
  fill_pattern(ref, sizeof ref);
  int32_t args[3] = {100, 65536 - 16, 64};
  ASSERT_EQ_INT(call(&f, "merge", args, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  ref_copy(ref, 100, 65536 - 15, 12, 1);
  ASSERT_EQ_INT(memcmp(f.mem, ref, sizeof ref), 0);
  fix_close(&f);
}

TEST(word_runs_unaligned_and_overlapping) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT(copy_agrees(&f, "words", 2000, 6001, 256, 4, 0));
  ASSERT(copy_agrees(&f, "words", 2002, 2000, 256, 4, 0));
  ASSERT(copy_agrees(&f, "words", 2000, 2005, 256, 4, 0));
  fix_close(&f);
}

TEST(trap_inside_a_run_leaves_earlier_moves_done) {
  fix f;
  ASSERT(fix_open(&f));
  fill_pattern(f.mem, 65536);
  memset(f.mem + 65528, 0, 8);
  /* 4 bytes fit below the end of memory, the 5th traps */
  int32_t args[3] = {65532, 0, 8};
  ASSERT_EQ_INT(call(&f, "fwd8", args, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  for (int i = 0; i < 4; i++) ASSERT_EQ_INT(f.mem[65532 + i], f.mem[i]);
  ASSERT_EQ_INT(f.mem[65531], 0); /* nothing before the destination */
  /* the instance still runs */
  ASSERT(copy_agrees(&f, "fwd8", 1000, 5000, 8, 1, 0));
  /* downwards from the top of a group at d = -1: bytes 2, 1, 0, then
   * address 2^32 - 1 traps */
  fill_pattern(f.mem, 65536);
  memset(f.mem, 0, 4);
  int32_t down[3] = {-1, 100, 4};
  ASSERT_EQ_INT(call(&f, "bwd4", down, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(f.mem[i], f.mem[101 + i]);
  ASSERT_EQ_INT(f.mem[3], 0);
  fix_close(&f);
}

TEST(address_steps_wrap_at_4_gib) {
  fix f;
  ASSERT(fix_open(&f));
  fill_pattern(f.mem, 65536);
  /* s = -1: steps 1..4 read bytes 0..3, not bytes past 4 GiB */
  int32_t args[2] = {5000, -1};
  ASSERT_EQ_INT(call(&f, "wrap_copy", args, 2, NULL), TW_OK);
  for (int i = 0; i < 4; i++) ASSERT_EQ_INT(f.mem[5001 + i], f.mem[i]);
  /* a store and a load 8 past -8 reach address 0 */
  int32_t st[2] = {-8, 0x12345678}, r = 0;
  ASSERT_EQ_INT(call(&f, "wrap_store", st, 2, NULL), TW_OK);
  uint32_t w;
  memcpy(&w, f.mem, 4);
  ASSERT_EQ_U64(w, 0x12345678u);
  memcpy(f.mem + 4, "\x11\x22\x33\x44", 4);
  int32_t p = -8;
  ASSERT_EQ_INT(call(&f, "wrap_load", &p, 1, &r), TW_OK); /* (-8 + 8) + 4 */
  ASSERT_EQ_U64((uint32_t)r, 0x44332211u);
  /* but the static offset is not wrapped: (u32)(p + 8) + 4 past the end */
  p = 65536 - 8 - 2;
  ASSERT_EQ_INT(call(&f, "wrap_load", &p, 1, &r), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  ASSERT_CONTAINS(f.code, "i32_store_pa");
  fix_close(&f);
}

TEST(funnel_shift_matches_the_three_ops) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "i32_or_shl_shr");
  static const uint32_t vals[] = {0, 1, 0x80000000u, 0xdeadbeefu, 0x01020304u,
                                  0xffffffffu};
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
    for (size_t j = 0; j < sizeof vals / sizeof *vals; j++) {
      uint32_t a = vals[i], b = vals[j];
      int32_t args[2] = {(int32_t)a, (int32_t)b}, r;
      ASSERT_EQ_INT(call(&f, "funnel", args, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, (a << 8) | (b >> 24));
      ASSERT_EQ_INT(call(&f, "funnel_rev", args, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, (b >> 16) | (a << 16));
      ASSERT_EQ_INT(call(&f, "funnel_big", args, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, (a << (40 & 31)) | (b >> (33 & 31)));
    }
  /* the same, stored: at p + 4 (wrapping) and at p + offset 8 */
  ASSERT_CONTAINS(f.code, "i32_store_or_shl_shr");
  uint32_t a = 0xa1b2c3d4u, b = 0x11223344u, w;
  int32_t args[3] = {-4, (int32_t)a, (int32_t)b};
  memset(f.mem, 0, 16);
  /* p = -4: the first store wraps to address 0, the second (offset 8,
   * not wrapped) lands past 4 GiB and traps after it */
  ASSERT_EQ_INT(call(&f, "store_funnel", args, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  memcpy(&w, f.mem, 4);
  ASSERT_EQ_U64(w, (a << 8) | (b >> 24));
  args[0] = 100;
  ASSERT_EQ_INT(call(&f, "store_funnel", args, 3, NULL), TW_OK);
  memcpy(&w, f.mem + 104, 4);
  ASSERT_EQ_U64(w, (a << 8) | (b >> 24));
  memcpy(&w, f.mem + 108, 4);
  ASSERT_EQ_U64(w, (b >> 16) | (a << 16));
  args[0] = 65536 - 5; /* p + 4 in bounds minus one byte: traps */
  ASSERT_EQ_INT(call(&f, "store_funnel", args, 3, NULL), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  fix_close(&f);
}

TEST(virtual_address_sums_keep_wasm_order) {
  fix f;
  ASSERT(fix_open(&f));
  memset(f.mem, 0, 65536);
  for (uint32_t a = 0; a < 512; a += 4) memcpy(f.mem + a, &a, 4);
  int32_t r = 0, p = 40;
  /* the local the sum is based on changes before the load takes it */
  ASSERT_EQ_INT(call(&f, "base_changes", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 44);
  ASSERT_EQ_INT(call(&f, "base_tee", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 44);
  p = 48; /* ((48 + 5) - 1) - 8 */
  ASSERT_EQ_INT(call(&f, "chain", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 44);
  /* sums used as values, not addresses */
  p = 10;
  ASSERT_EQ_INT(call(&f, "as_arg", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 17);
  ASSERT_EQ_INT(call(&f, "as_branch_value", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 13);
  int32_t sel[2] = {10, 1};
  ASSERT_EQ_INT(call(&f, "as_select", sel, 2, &r), TW_OK);
  ASSERT_EQ_INT(r, 11);
  sel[1] = 0;
  ASSERT_EQ_INT(call(&f, "as_select", sel, 2, &r), TW_OK);
  ASSERT_EQ_INT(r, 12);
  /* a sum based on a computed value (its own temp) */
  int32_t xy[2] = {6, 10}; /* 6 * 10 + 4 */
  ASSERT_EQ_INT(call(&f, "temp_base", xy, 2, &r), TW_OK);
  ASSERT_EQ_INT(r, 64);
  /* a sum below a store and a local.set of another local */
  p = 200;
  ASSERT_EQ_INT(call(&f, "deep", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 221);
  uint32_t w;
  memcpy(&w, f.mem + 200, 4);
  ASSERT_EQ_U64(w, 99);
  /* p->field[i]: (p + 8) + (i << 2), the step folded into the load; p = -8
   * wraps to element i of address 0 */
  ASSERT_CONTAINS(f.code, "i32_add_shl");
  int32_t pi[2] = {100, 3};
  ASSERT_EQ_INT(call(&f, "field_at", pi, 2, &r), TW_OK);
  ASSERT_EQ_INT(r, 120);
  pi[0] = -8, pi[1] = 5;
  ASSERT_EQ_INT(call(&f, "field_at", pi, 2, &r), TW_OK);
  ASSERT_EQ_INT(r, 20);
  /* p = p + 1; p = p + 1 (tee); p + p */
  p = 5;
  ASSERT_EQ_INT(call(&f, "self_step", &p, 1, &r), TW_OK);
  ASSERT_EQ_INT(r, 14);
  fix_close(&f);
}

TEST(eqz_of_a_comparison_is_the_negated_comparison) {
  fix f;
  ASSERT(fix_open(&f));
  /* every i32.eqz in the module follows a comparison: none is left */
  ASSERT(!strstr(f.code, "i32_eqz"));
  static const int32_t vals[] = {-5, -3, -2, 0, 1, 10, 11, 252, 253,
                                 INT32_MIN, INT32_MAX};
  size_t nv = sizeof vals / sizeof *vals;
  for (size_t i = 0; i < nv; i++) {
    int32_t x = vals[i], r;
    ASSERT_EQ_INT(call(&f, "not_eq_k", &x, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, x != 252);
    ASSERT_EQ_INT(call(&f, "not_not", &x, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, x > -3);
    ASSERT_EQ_INT(call(&f, "not_i64", &x, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, !((uint64_t)(uint32_t)x <= 10));
    for (size_t j = 0; j < nv; j++) {
      int32_t xy[2] = {x, vals[j]};
      ASSERT_EQ_INT(call(&f, "not_lt_s", xy, 2, &r), TW_OK);
      ASSERT_EQ_INT(r, !(x < vals[j]));
      ASSERT_EQ_INT(call(&f, "not_ge_u_br", xy, 2, &r), TW_OK);
      ASSERT_EQ_INT(r, (uint32_t)x >= (uint32_t)vals[j] ? 7 : 9);
    }
  }
  fix_close(&f);
}

TEST(copies_in_a_row_pair_up_in_order) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "copy2");
  for (int32_t n = 1; n <= 7; n++) {
    int32_t a = 1, b = 2, c = 3, r;
    for (int32_t k = n; k > 0; k--) {
      int32_t t = a + k;
      a = b, b = c, c = t;
    }
    ASSERT_EQ_INT(call(&f, "rotate", &n, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, a * 10000 + b * 100 + c);
  }
  fix_close(&f);
}

/* The step before a compare-and-branch joins it: the compare sees the
 * stepped counter, and so does the code after the loop. */
TEST(stepped_counters_fuse_with_their_branch) {
  fix f;
  ASSERT(fix_open(&f));
  ASSERT_CONTAINS(f.code, "br_i32_ne_step");
  ASSERT_CONTAINS(f.code, "br_i32_gt_s_imm_step");
  static const int32_t ns[] = {1, 2, 5, 100};
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
    int32_t n = ns[i], r;
    ASSERT_EQ_INT(call(&f, "sum_to", &n, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, n * (n - 1) / 2 * 1000 + n);
  }
  /* signed: from 5 down by 3 while > -10: 2 -1 -4 -7 -10, five turns
   * (k = 0b11111); from -20 or -9, one */
  static const int32_t starts[][3] = {{5, 31, -10}, {-20, 1, -23}, {-9, 1, -12}};
  for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
    int32_t a = starts[i][0], r;
    ASSERT_EQ_INT(call(&f, "down_s", &a, 1, &r), TW_OK);
    ASSERT_EQ_INT(r, starts[i][1] * 1000 + starts[i][2]);
  }
  fix_close(&f);
}

TEST(results_computed_into_the_return_slot) {
  fix f;
  ASSERT(fix_open(&f));
  static const int32_t vals[] = {-7, -1, 0, 1, 2, 3, 1000, INT32_MAX};
  size_t nv = sizeof vals / sizeof *vals;
  for (size_t i = 0; i < nv; i++)
    for (size_t j = 0; j < nv; j++) {
      int32_t a = vals[i], b = vals[j], ab[2] = {a, b}, r;
      ASSERT_EQ_INT(call(&f, "ret_sub", ab, 2, &r), TW_OK);
      ASSERT_EQ_INT(r, (int32_t)((uint32_t)b - (uint32_t)a));
      ASSERT_EQ_INT(call(&f, "ret_steps", ab, 2, &r), TW_OK);
      ASSERT_EQ_INT(r, (int32_t)((uint32_t)a + 8));
      ASSERT_EQ_INT(call(&f, "ret_early", ab, 2, &r), TW_OK);
      ASSERT_EQ_INT(r, a < b ? (int32_t)((uint32_t)a * (uint32_t)b)
                             : ((a & 1) ? b : a));
    }
  fix_close(&f);
}

/* The compiled code of export `name`, printed (caller frees). */
static char *dump_of(fix *f, const char *name) {
  const tw__module *m = &f->m->m;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *e = &m->exports[i];
    if (e->kind != 0 || strlen(name) != e->name_len ||
        memcmp(e->name, name, e->name_len) != 0)
      continue;
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    if (!fp) return NULL;
    tw__code_dump(fp, m->bodies[e->index - m->nfunc_imports].compiled);
    fclose(fp);
    return out;
  }
  return NULL;
}

/* Occurrences of `what` in printed code. */
static size_t count_of(const char *code, const char *what) {
  size_t n = 0;
  for (const char *p = code; (p = strstr(p, what)); p++) n++;
  return n;
}

/* How many instructions in a row, from the first, are `op` (the line
 * after the "params" header onwards). */
static size_t leading(const char *code, const char *op) {
  size_t n = 0;
  for (const char *line = strchr(code, '\n'); line && line[1]; n++) {
    const char *end = strchr(line + 1, '\n'), *hit = strstr(line + 1, op);
    if (!hit || (end && hit > end)) break;
    line = end;
  }
  return n;
}

/* 1 when every const64 of the printed code comes before its first branch:
 * the loop reads its wide constants from the pool, written on entry. */
static int consts_before_branches(const char *code) {
  const char *k = NULL, *b = NULL;
  for (const char *p = code; (p = strstr(p, "const64")); p++) k = p;
  b = strstr(code, "  br");
  return k && b && k < b;
}

static tw_val call1(fix *f, const char *name, tw_val *args, size_t n) {
  tw_val r;
  memset(&r, 0, sizeof r);
  if (tw_func_call(f->v.store, func(f->inst, name), args, n, &r, 1,
                   &f->v.err) != TW_OK)
    r.of.i64 = -1;
  return r;
}

TEST(loop_constants_come_from_the_pool) {
  fix f;
  ASSERT(fix_open(&f));
  char *code = dump_of(&f, "fnv");
  ASSERT(code != NULL);
  ASSERT(consts_before_branches(code));
  free(code);
  code = dump_of(&f, "f64_steps");
  ASSERT(code != NULL);
  ASSERT(consts_before_branches(code));
  free(code);
  fill_pattern(f.mem, 65536);
  static const int32_t lens[] = {0, 1, 7, 4096};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    uint64_t h = 0xcbf29ce484222325u;
    for (int32_t j = 0; j < lens[i]; j++) h = (h ^ f.mem[100 + j]) * 0x100000001b3u;
    tw_val a[2] = {tw_val_i32(100), tw_val_i32(lens[i])};
    ASSERT_EQ_U64((uint64_t)call1(&f, "fnv", a, 2).of.i64, h);
  }
  for (int32_t n = 1; n <= 9; n += 4) {
    double x = 0;
    for (int32_t j = 0; j < n; j++) x = x * 0.5 + 0.01;
    tw_val a = tw_val_i32(n);
    ASSERT(tw_val_as_f64(call1(&f, "f64_steps", &a, 1)) == x + 0.01);
  }
  /* 19 wide constants in one loop (the small ones are immediates): the
   * first 16 pooled on entry, 3 created where they are used, all with
   * their values */
  code = dump_of(&f, "many_consts");
  ASSERT(code != NULL);
  ASSERT_EQ_INT(count_of(code, "const64"), 19);
  ASSERT_EQ_INT(leading(code, "const64"), 16);
  free(code);
  for (int32_t n = 1; n <= 3; n++) {
    uint64_t h = 0;
    for (int32_t j = 0; j < n; j++) {
      h += 0x100000001u;
      for (uint64_t k = 2; k < 20; k++) h = (h * ((k << 32) | (2 * k + 1))) ^ k;
    }
    tw_val a = tw_val_i32(n);
    ASSERT_EQ_U64((uint64_t)call1(&f, "many_consts", &a, 1).of.i64, h);
  }
  fix_close(&f);
}

/* A byte-copy loop that is one op branching to itself runs as one memmove
 * when nothing can tell: same memory, same end state of its slots, as the
 * turns one by one (which fuel metering forces, since it counts turns);
 * overlaps that a memmove would not reproduce keep the turns. */
TEST(copy_loops_done_at_once_end_as_turn_by_turn) {
  fix f;
  ASSERT(fix_open(&f));
  static const struct {
    const char *name;
    uint32_t d, s, n;
    int group;
  } cases[] = {
      {"fwd8_end", 3000, 100, 4096, 0},     /* disjoint: at once */
      {"fwd8_end", 1000, 1005, 64, 0},      /* reads ahead of writes: at once */
      {"fwd8_end", 1005, 1000, 64, 0},      /* smears: turn by turn */
      {"fwd8_end", 65536 - 64, 0, 64, 0},   /* up to the last byte */
      {"bwd_tail4_end", 3000, 100, 4096, 4},
      {"bwd_tail4_end", 1001, 1000, 64, 4}, /* from the top: at once */
      {"bwd_tail4_end", 1000, 1003, 64, 4}, /* smears downwards */
      {"bwd_tail4_end", 4, 8, 4, 4},
  };
  for (int fuel = 0; fuel < 2; fuel++) {
    tw_store_set_fuel(f.v.store, fuel ? 1000000 : UINT64_MAX);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      uint32_t d = cases[i].d, s = cases[i].s, n = cases[i].n;
      int32_t end = 0;
      ASSERT(copy_run(&f, cases[i].name, d, s, n, 1, cases[i].group, &end));
      /* fwd8 ends with d and s past the bytes and n 0; bwd_tail4 with the
       * sums of its last turn, the bases themselves */
      uint32_t want = cases[i].group ? d + 3 * s : (d + n) + 3 * (s + n);
      ASSERT_EQ_U64((uint32_t)end, want);
    }
    if (fuel) /* one unit a back edge: n / 8 - 1 and n / 4 - 1 a call */
      ASSERT_EQ_U64(1000000 - tw_store_fuel(f.v.store),
                    (4096 / 8 - 1) + 7 + 7 + 7 + (4096 / 4 - 1) + 15 + 15 + 0);
  }
  /* past the end: the turns run and trap where the wasm would, the bytes
   * below the end moved */
  fill_pattern(f.mem, 65536);
  int32_t args[3] = {65536 - 60, 0, 64}, r;
  ASSERT_EQ_INT(call(&f, "fwd8_end", args, 3, &r), TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  for (int i = 0; i < 60; i++) ASSERT_EQ_INT(f.mem[65536 - 60 + i], (uint8_t)(i * 7 + 3));
  fix_close(&f);
}

static double mem_f64(fix *f, uint32_t a) {
  double v;
  memcpy(&v, f->mem + a, 8);
  return v;
}

static void set_f64(fix *f, uint32_t a, double v) { memcpy(f->mem + a, &v, 8); }

static tw_status call_v(fix *f, const char *name, tw_val *args, size_t n) {
  return tw_func_call(f->v.store, func(f->inst, name), args, n, NULL, 0,
                      &f->v.err);
}

/* Read-modify-write fused into one op computes what the three ops did,
 * wraps as they did, traps before writing, and leaves the shapes it must
 * not fuse (x - mem, another address, a loaded value kept) alone. */
TEST(read_modify_write_of_memory_is_one_op) {
  fix f;
  ASSERT(fix_open(&f));
  static const char *fused[] = {"f64_add_mem", "f64_sub_mem", "f64_mul_mem", "f64_muladd_mem",
                                "f64_mulsub_mem",
                                "i32_add_mem", "i64_add_mem", "i32_add_imm_mem",
                                "i64_add_imm_mem", "i32_add_imm_k", "i64_add_imm_k"};
  for (size_t i = 0; i < sizeof fused / sizeof *fused; i++) ASSERT_CONTAINS(f.code, fused[i]);
  char *code = dump_of(&f, "rmw_rsub");
  ASSERT(code && !strstr(code, "_mem"));
  free(code);
  code = dump_of(&f, "other_addr");
  ASSERT(code && !strstr(code, "_mem"));
  free(code);
  /* c[i] += a * b[i] over 100 doubles */
  for (uint32_t i = 0; i < 100; i++) {
    set_f64(&f, 1024 + 8 * i, 0.25 * i - 3);
    set_f64(&f, 4096 + 8 * i, 1.0 / (i + 1));
  }
  tw_val ax[4] = {tw_val_i32(1024), tw_val_i32(4096), tw_val_i32(100), tw_val_f64(1.5)};
  ASSERT_EQ_INT(call_v(&f, "axpy", ax, 4), TW_OK);
  for (uint32_t i = 0; i < 100; i++) {
    volatile double prod = 1.5 * (1.0 / (i + 1));
    ASSERT(mem_f64(&f, 1024 + 8 * i) == prod + (0.25 * i - 3));
  }
  code = dump_of(&f, "axpy"); /* b[i] joins the product, c[i] the add */
  ASSERT(code && strstr(code, "f64_mul_load") && strstr(code, "f64_add_mem"));
  free(code);
  code = dump_of(&f, "scale_acc");
  ASSERT(code && strstr(code, "f64_muladd_mem"));
  free(code);
  /* the product rounds before the add, as two wasm ops do: (1 + 2^-30) *
   * (1 - 2^-30) is 1 - 2^-60, 1.0 once rounded, so -1 + it is 0 (a fused
   * multiply-add would leave -2^-60) */
  set_f64(&f, 1024, -1.0);
  set_f64(&f, 1032, 2.0);
  tw_val one[4] = {tw_val_i32(1024), tw_val_i32(2), tw_val_f64(1.0 + 0x1p-30),
                   tw_val_f64(1.0 - 0x1p-30)};
  ASSERT_EQ_INT(call_v(&f, "scale_acc", one, 4), TW_OK);
  ASSERT(mem_f64(&f, 1024) == 0.0);
  ASSERT(mem_f64(&f, 1032) == 3.0);
  /* the load first (v -= d * mag): the same ops, sub too; the product
   * minus memory stays apart */
  code = dump_of(&f, "mulsub");
  ASSERT(code && strstr(code, "f64_mulsub_mem"));
  free(code);
  code = dump_of(&f, "muladd_first");
  ASSERT(code && strstr(code, "f64_muladd_mem"));
  free(code);
  tw_val ab[3] = {tw_val_i32(1040), tw_val_f64(1.0 + 0x1p-30), tw_val_f64(1.0 - 0x1p-30)};
  set_f64(&f, 1040, 1.0);
  ASSERT_EQ_INT(call_v(&f, "mulsub", ab, 3), TW_OK);
  ASSERT(mem_f64(&f, 1040) == 0.0);
  set_f64(&f, 1040, -1.0);
  ASSERT_EQ_INT(call_v(&f, "muladd_first", ab, 3), TW_OK);
  ASSERT(mem_f64(&f, 1040) == 0.0);
  tw_val cd[3] = {tw_val_i32(1040), tw_val_f64(3.0), tw_val_f64(0.5)};
  set_f64(&f, 1040, 2.0);
  ASSERT_EQ_INT(call_v(&f, "mulsub_rev", cd, 3), TW_OK);
  ASSERT(mem_f64(&f, 1040) == 3.0 * 0.5 - 2.0);
  ASSERT_EQ_INT(call_v(&f, "mulsub", cd, 3), TW_OK);
  ASSERT(mem_f64(&f, 1040) == (3.0 * 0.5 - 2.0) - 1.5);
  set_f64(&f, 200, 1.5);
  tw_val ad[2] = {tw_val_i32(200), tw_val_f64(0.25)};
  ASSERT_EQ_INT(call_v(&f, "rmw_add", ad, 2), TW_OK);
  ASSERT(mem_f64(&f, 200) == 1.75);
  set_f64(&f, 208, 10.0);
  tw_val px[2] = {tw_val_i32(200), tw_val_f64(2.5)};
  ASSERT_EQ_INT(call_v(&f, "rmw_sub", px, 2), TW_OK); /* offset 8: at 208 */
  ASSERT(mem_f64(&f, 208) == 7.5);
  px[0] = tw_val_i32(208);
  ASSERT_EQ_INT(call_v(&f, "rmw_rsub", px, 2), TW_OK);
  ASSERT(mem_f64(&f, 208) == 2.5 - 7.5);
  ASSERT_EQ_INT(call_v(&f, "rmw_mul", px, 2), TW_OK);
  ASSERT(mem_f64(&f, 208) == -5.0 * 2.5);
  /* counters at constant addresses wrap at their width */
  uint32_t c32 = 0xfffffffcu;
  uint64_t c64 = 1;
  memcpy(f.mem + 64, &c32, 4);
  memcpy(f.mem + 72, &c64, 8);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ_INT(call_v(&f, "count32", NULL, 0), TW_OK);
    ASSERT_EQ_INT(call_v(&f, "count64", NULL, 0), TW_OK);
  }
  memcpy(&c32, f.mem + 64, 4);
  memcpy(&c64, f.mem + 72, 8);
  ASSERT_EQ_U64(c32, 0xfffffffcu + 21u);
  ASSERT_EQ_U64(c64, (uint64_t)1 - 3);
  /* through a pointer, with an offset; added slots either side */
  uint32_t v32 = 2;
  uint64_t v64 = UINT64_MAX - 1;
  memcpy(f.mem + 304, &v32, 4);
  memcpy(f.mem + 400, &v64, 8);
  tw_val p1 = tw_val_i32(300), p2 = tw_val_i32(400);
  ASSERT_EQ_INT(call_v(&f, "bump32", &p1, 1), TW_OK);
  ASSERT_EQ_INT(call_v(&f, "bump64", &p2, 1), TW_OK);
  tw_val a32[2] = {tw_val_i32(304), tw_val_i32(40)}, a64[2] = {tw_val_i32(400), tw_val_i64(-7)};
  ASSERT_EQ_INT(call_v(&f, "addto32", a32, 2), TW_OK);
  ASSERT_EQ_INT(call_v(&f, "addto64", a64, 2), TW_OK);
  memcpy(&v32, f.mem + 304, 4);
  memcpy(&v64, f.mem + 400, 8);
  ASSERT_EQ_U64(v32, 2u - 3u + 40u);
  ASSERT_EQ_U64(v64, UINT64_MAX - 1 + 5 - 7);
  /* not fused: another address, a loaded value kept in a local */
  set_f64(&f, 500, 1.25);
  tw_val oa[3] = {tw_val_i32(500), tw_val_i32(600), tw_val_f64(2.0)};
  ASSERT_EQ_INT(call_v(&f, "other_addr", oa, 3), TW_OK);
  ASSERT(mem_f64(&f, 600) == 3.25 && mem_f64(&f, 500) == 1.25);
  tw_val kl[2] = {tw_val_i32(500), tw_val_f64(1.0)};
  ASSERT(tw_val_as_f64(call1(&f, "kept_load", kl, 2)) == 1.25);
  ASSERT(mem_f64(&f, 500) == 2.25);
  /* out of bounds: a trap, and nothing written */
  tw_val oob = tw_val_i32(65536 - 6);
  f.mem[65534] = 0x5a;
  f.mem[65535] = 0xa5;
  ASSERT_EQ_INT(call_v(&f, "bump32", &oob, 1), TW_TRAP); /* offset 4: 65534..65537 */
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  ASSERT_EQ_INT(f.mem[65534], 0x5a);
  ASSERT_EQ_INT(f.mem[65535], 0xa5);
  tw_val oob2[2] = {tw_val_i32(65532), tw_val_f64(1.0)};
  ASSERT_EQ_INT(call_v(&f, "rmw_mul", oob2, 2), TW_TRAP);
  fix_close(&f);
}

static uint32_t rotl(uint32_t x, unsigned k) {
  k &= 31;
  return k ? (x << k) | (x >> (32 - k)) : x;
}

/* i32.xor of a value rotated or shifted right by a constant is one op,
 * whichever side the shifted value is on; shift counts mask to 5 bits. */
TEST(xor_of_a_shifted_value_is_one_op) {
  fix f;
  ASSERT(fix_open(&f));
  char *code = dump_of(&f, "sigma1");
  ASSERT(code != NULL);
  ASSERT_EQ_INT(count_of(code, "i32_xor_rotl_imm"), 2);
  ASSERT(strstr(code, "i32_xor ") == NULL);
  free(code);
  ASSERT_CONTAINS(f.code, "i32_xor_shr_u_imm");
  static const uint32_t xs[] = {0, 1, 0x80000000u, 0xdeadbeefu, 0x12345678u, UINT32_MAX};
  for (size_t i = 0; i < sizeof xs / sizeof *xs; i++)
    for (size_t j = 0; j < sizeof xs / sizeof *xs; j++) {
      uint32_t x = xs[i], y = xs[j];
      int32_t ab[2] = {(int32_t)x, (int32_t)y}, r;
      ASSERT_EQ_INT(call(&f, "sigma1", ab, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, rotl(x, 26) ^ rotl(x, 21) ^ rotl(x, 7));
      ASSERT_EQ_INT(call(&f, "xor_shr_left", ab, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, (x >> 3) ^ y);
      ASSERT_EQ_INT(call(&f, "xor_shr_right", ab, 2, &r), TW_OK);
      ASSERT_EQ_U64((uint32_t)r, y ^ (x >> 3));
      ASSERT_EQ_INT(call(&f, "xor_rotl_self", ab, 2, &r), TW_OK);
      uint32_t z = x ^ rotl(x, y);
      ASSERT_EQ_U64((uint32_t)r, rotl(z, 1) ^ z);
    }
  fix_close(&f);
}

/* f64 add, sub and mul with an operand loaded just before are one op that
 * loads: either side, a slot address or a step from one, and a load that
 * traps still traps. */
TEST(f64_arithmetic_takes_a_loaded_operand) {
  fix f;
  ASSERT(fix_open(&f));
  static const char *joined[] = {"f64_add_load", "f64_sub_load", "f64_load_sub",
                                 "f64_mul_load_pa", "f64_load_sub_pa",
                                 "f64_sub_load_pa", "f64_add_load_pa"};
  for (size_t i = 0; i < sizeof joined / sizeof *joined; i++)
    ASSERT_CONTAINS(f.code, joined[i]);
  for (uint32_t i = 0; i < 8; i++) set_f64(&f, 800 + 8 * i, 1.0 + i * 0.5);
  tw_val a[2] = {tw_val_i32(808), tw_val_f64(10.0)};
  double m0 = mem_f64(&f, 808), m8 = mem_f64(&f, 816), m16 = mem_f64(&f, 824),
         m24 = mem_f64(&f, 832), mm8 = mem_f64(&f, 800);
  ASSERT(tw_val_as_f64(call1(&f, "fadd_l", a, 2)) == 10.0 + m0);
  ASSERT(tw_val_as_f64(call1(&f, "fadd_r", a, 2)) == m8 + 10.0);
  ASSERT(tw_val_as_f64(call1(&f, "fsub_r", a, 2)) == 10.0 - m0);
  ASSERT(tw_val_as_f64(call1(&f, "fsub_l", a, 2)) == m0 - 10.0);
  ASSERT(tw_val_as_f64(call1(&f, "fmul_pa", a, 2)) == 10.0 * mm8);
  ASSERT(tw_val_as_f64(call1(&f, "fsub_pa_l", a, 2)) == m16 - 10.0);
  ASSERT(tw_val_as_f64(call1(&f, "fsub_pa_r", a, 2)) == 10.0 - m16);
  ASSERT(tw_val_as_f64(call1(&f, "fadd_pa", a, 2)) == m24 + 10.0);
  /* a unary op on a loaded value alone on the stack: nothing to join */
  set_f64(&f, 808, 6.25);
  ASSERT(tw_val_as_f64(call1(&f, "fsqrt_load", a, 2)) == 2.5);
  /* p - 8 wraps below 0 to 2^32 - 4: out of bounds */
  tw_val w[2] = {tw_val_i32(4), tw_val_f64(1.0)}, r;
  ASSERT_EQ_INT(tw_func_call(f.v.store, func(f.inst, "fmul_pa"), w, 2, &r, 1, &f.v.err),
                TW_TRAP);
  ASSERT_EQ_INT(f.v.err.trap, TW_TRAP_MEMORY_OOB);
  tw_val e[2] = {tw_val_i32(65536 - 4), tw_val_f64(1.0)};
  ASSERT_EQ_INT(tw_func_call(f.v.store, func(f.inst, "fsub_l"), e, 2, &r, 1, &f.v.err),
                TW_TRAP);
  fix_close(&f);
}

TEST_MAIN()
