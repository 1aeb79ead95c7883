/* Shared helpers for the CPU benchmark programs in bench/cpu.
 *
 * Every program is one .c file built twice: natively (gcc -O2) and to
 * wasm32-wasi (clang -O2).  Each takes its workload size as argv[1] (the
 * runner, bench/run-cpu, always passes it), does deterministic work and
 * prints a result that must be byte-identical on every engine.  Only
 * fixed-width integer types are used for results (long is 32 bits on
 * wasm32), and floating point sticks to + - * / and sqrt, which IEEE 754
 * rounds the same everywhere. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* argv[1] as a positive size, or dflt when absent; exits 2 on junk. */
static inline long bench_size(int argc, char **argv, long dflt) {
  if (argc < 2) return dflt;
  char *end;
  long v = strtol(argv[1], &end, 10);
  if (*end != '\0' || v <= 0) {
    fprintf(stderr, "usage: %s [SIZE > 0]\n", argv[0]);
    exit(2);
  }
  return v;
}

/* splitmix64: small, fast, identical on every target. */
typedef struct { uint64_t s; } bench_rng;

static inline uint64_t bench_rng_next(bench_rng *r) {
  uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Uniform in [0, n) for small n (bias is irrelevant here). */
static inline uint32_t bench_rng_below(bench_rng *r, uint32_t n) {
  return (uint32_t)((bench_rng_next(r) >> 32) % n);
}

/* Allocation that cannot fail quietly. */
static inline void *bench_alloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    exit(3);
  }
  return p;
}

/* FNV-1a over bytes, for checksumming buffers. */
static inline uint64_t bench_fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= UINT64_C(0x100000001B3);
  }
  return h;
}
#define BENCH_FNV_INIT UINT64_C(0xCBF29CE484222325)

#endif
