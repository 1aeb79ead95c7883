/* Integer and array work: sieve of Eratosthenes over a byte array, run SIZE
 * times over limits that vary slightly so no run can be skipped.  Prints the
 * prime count and a checksum of the primes of the last pass. */
#include <string.h>
#include "bench_util.h"

#define LIMIT 4000000u

int main(int argc, char **argv) {
  uint32_t reps = (uint32_t)bench_size(argc, argv, 30);
  unsigned char *comp = bench_alloc(LIMIT + 1);
  uint64_t total = 0, sum = 0;
  uint32_t count = 0;
  for (uint32_t r = 0; r < reps; r++) {
    uint32_t lim = LIMIT - (r % 7) * 1000;
    memset(comp, 0, lim + 1);
    for (uint32_t i = 2; (uint64_t)i * i <= lim; i++)
      if (!comp[i])
        for (uint32_t j = i * i; j <= lim; j += i) comp[j] = 1;
    count = 0;
    sum = 0;
    for (uint32_t i = 2; i <= lim; i++)
      if (!comp[i]) {
        count++;
        sum = sum * 31 + i;
      }
    total += count;
  }
  printf("primes <= %u: %" PRIu32 "\n", LIMIT - ((reps - 1) % 7) * 1000, count);
  printf("total %" PRIu64 " checksum %016" PRIx64 "\n", total, sum);
  free(comp);
  return 0;
}
