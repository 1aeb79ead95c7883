/* Compression: an LZ77 compressor with hash chains over a 64 KiB window and
 * its decompressor, on 1 MiB of generated text-like data.  Integer work,
 * unpredictable branches and byte-granular memory traffic.  SIZE is the
 * number of compress/decompress rounds; each round perturbs the input. */
#include <string.h>
#include "bench_util.h"

#define IN (1u << 20)
#define WIN 65536u
#define HBITS 15
#define MINM 4
#define MAXM 258
#define CHAIN 32

static uint32_t hash4(const unsigned char *p) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
  return (v * 2654435761u) >> (32 - HBITS);
}

static unsigned char *put_varint(unsigned char *o, uint32_t v) {
  while (v >= 0x80) { *o++ = (unsigned char)(v | 0x80); v >>= 7; }
  *o++ = (unsigned char)v;
  return o;
}

static const unsigned char *get_varint(const unsigned char *p, uint32_t *v) {
  uint32_t x = 0;
  int s = 0;
  while (*p & 0x80) { x |= (uint32_t)(*p++ & 0x7f) << s; s += 7; }
  *v = x | (uint32_t)*p++ << s;
  return p;
}

/* Format: varint literal count L, L bytes, then (if not at the end) varint
 * match length - MINM and varint distance; repeated. */
static size_t compress(const unsigned char *in, size_t n, unsigned char *out,
                       int32_t *head, int32_t *prev) {
  for (uint32_t i = 0; i < (1u << HBITS); i++) head[i] = -1;
  unsigned char *o = out;
  size_t lit = 0, i = 0;
  while (i < n) {
    size_t best = 0, dist = 0;
    if (i + MINM <= n) {
      uint32_t h = hash4(in + i);
      int32_t cand = head[h];
      size_t maxm = n - i < MAXM ? n - i : MAXM;
      for (int c = 0; c < CHAIN && cand >= 0 && i - (size_t)cand <= WIN; c++) {
        const unsigned char *a = in + cand, *b = in + i;
        if (a[best] == b[best]) {
          size_t m = 0;
          while (m < maxm && a[m] == b[m]) m++;
          if (m > best) { best = m; dist = i - (size_t)cand; }
          if (m == maxm) break;
        }
        cand = prev[cand % WIN];
      }
      prev[i % WIN] = head[h];
      head[h] = (int32_t)i;
    }
    if (best >= MINM) {
      o = put_varint(o, (uint32_t)lit);
      memcpy(o, in + i - lit, lit);
      o += lit;
      o = put_varint(o, (uint32_t)(best - MINM));
      o = put_varint(o, (uint32_t)dist);
      /* insert the skipped positions so later matches can find them */
      for (size_t k = i + 1; k < i + best && k + MINM <= n; k++) {
        uint32_t h = hash4(in + k);
        prev[k % WIN] = head[h];
        head[h] = (int32_t)k;
      }
      i += best;
      lit = 0;
    } else {
      i++;
      lit++;
    }
  }
  o = put_varint(o, (uint32_t)lit);
  memcpy(o, in + n - lit, lit);
  return (size_t)(o + lit - out);
}

static size_t decompress(const unsigned char *in, size_t n, unsigned char *out) {
  const unsigned char *p = in, *end = in + n;
  unsigned char *o = out;
  for (;;) {
    uint32_t lit, m, d;
    p = get_varint(p, &lit);
    memcpy(o, p, lit);
    o += lit;
    p += lit;
    if (p >= end) break;
    p = get_varint(p, &m);
    p = get_varint(p, &d);
    m += MINM;
    const unsigned char *s = o - d;
    for (uint32_t k = 0; k < m; k++) o[k] = s[k]; /* may overlap: byte copy */
    o += m;
  }
  return (size_t)(o - out);
}

int main(int argc, char **argv) {
  long rounds = bench_size(argc, argv, 24);
  static const char *const words[] = {"the ", "wasm ", "module ", "runs ",
      "in ", "a ", "sandbox ", "with ", "linear ", "memory ", "and ", "traps ",
      "on ", "bad ", "access", ".\n", ", ", "function ", "table ", "import "};
  unsigned char *in = bench_alloc(IN), *out = bench_alloc(IN + IN / 8 + 64);
  unsigned char *back = bench_alloc(IN);
  int32_t *head = bench_alloc(sizeof(int32_t) << HBITS);
  int32_t *prev = bench_alloc(sizeof(int32_t) * WIN);
  bench_rng r = {5};
  size_t n = 0;
  while (n < IN) {
    const char *w = words[bench_rng_below(&r, 20)];
    size_t wl = strlen(w);
    if (bench_rng_below(&r, 8) == 0) { /* sprinkle noise */
      in[n++] = (unsigned char)('A' + bench_rng_below(&r, 26));
      continue;
    }
    if (n + wl > IN) wl = IN - n;
    memcpy(in + n, w, wl);
    n += wl;
  }
  size_t total = 0;
  int ok = 1;
  uint64_t check = BENCH_FNV_INIT;
  for (long round = 0; round < rounds; round++) {
    in[(size_t)round * 104729 % IN] ^= 0x20;
    size_t c = compress(in, IN, out, head, prev);
    size_t d = decompress(out, c, back);
    ok &= d == IN && memcmp(in, back, IN) == 0;
    total += c;
    check = bench_fnv(check, out, c);
  }
  printf("%ld rounds of %u bytes: %zu compressed bytes, round trip %s, checksum %016" PRIx64 "\n",
         rounds, IN, total, ok ? "ok" : "FAILED", check);
  free(in); free(out); free(back); free(head); free(prev);
  return ok ? 0 : 1;
}
