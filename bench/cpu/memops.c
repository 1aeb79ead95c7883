/* Memory copy and fill: memcpy, memmove (overlapping, both directions),
 * memset and memcmp over sizes from 3 bytes to 1 MiB at varying alignments,
 * plus a hand-written byte loop and a word loop for comparison.  SIZE is the
 * number of rounds.  Prints an FNV checksum of the buffers. */
#include <string.h>
#include "bench_util.h"

#define BUF (2u << 20)

/* Sizes are read from this table at run time so the compiler cannot turn
 * the library calls into fixed-size inline moves. */
static const uint32_t sizes[] = {3, 8, 15, 32, 61, 128, 255, 1024, 4093,
                                 16384, 65536, 262144, 1048576};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void copy_bytes(unsigned char *d, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = s[i];
}

static void fill_words(uint32_t *d, uint32_t v, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = v + (uint32_t)i;
}

int main(int argc, char **argv) {
  long rounds = bench_size(argc, argv, 250);
  unsigned char *a = bench_alloc(BUF), *b = bench_alloc(BUF);
  bench_rng r = {3};
  for (uint32_t i = 0; i < BUF; i += 8) {
    uint64_t v = bench_rng_next(&r);
    memcpy(a + i, &v, 8);
  }
  memset(b, 0, BUF);
  uint64_t moved = 0;
  uint32_t diff = 0;
  for (long round = 0; round < rounds; round++) {
    for (size_t s = 0; s < NSIZES; s++) {
      size_t n = sizes[s];
      /* repeat small sizes so each size class moves about 1 MiB */
      size_t reps = ((size_t)1 << 20) / n;
      if (reps > 4096) reps = 4096;
      for (size_t k = 0; k < reps; k++) {
        size_t off = (k * 4099 + (size_t)round * 7) % (BUF - n - 64);
        memcpy(b + off, a + ((off * 3 + 5) % (BUF - n)), n);
        memmove(b + off + 1 + k % 13, b + off, n);        /* forward overlap */
        memmove(a + off, a + off + 1 + k % 11, n);        /* backward overlap */
        memset(b + (off ^ 1) % (BUF - n), (int)(k + round), n / 2 + 1);
        diff += memcmp(a + off, b + off, n) < 0;
        moved += 4 * (uint64_t)n;
      }
    }
    copy_bytes(b, a + 17, BUF / 2);
    fill_words((uint32_t *)a, (uint32_t)round, BUF / 16);
  }
  uint64_t h = bench_fnv(BENCH_FNV_INIT, a, BUF);
  h = bench_fnv(h, b, BUF);
  printf("%ld rounds, %" PRIu64 " MiB moved, %" PRIu32 " below, checksum %016" PRIx64 "\n",
         rounds, moved >> 20, diff, h);
  free(a);
  free(b);
  return 0;
}
