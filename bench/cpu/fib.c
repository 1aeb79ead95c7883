/* Calls and recursion: doubly recursive Fibonacci and Takeuchi's function.
 * Almost all time goes to call/return and argument passing.  SIZE is n of
 * fib(n); tak runs on arguments scaled from it. */
#include "bench_util.h"

static uint32_t fib(uint32_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int32_t tak(int32_t x, int32_t y, int32_t z) {
  if (y >= x) return z;
  return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y));
}

int main(int argc, char **argv) {
  uint32_t n = (uint32_t)bench_size(argc, argv, 38);
  uint32_t f = fib(n);
  int32_t t = 0;
  uint32_t reps = n > 20 ? n - 20 : 1;
  for (uint32_t i = 0; i < reps; i++)
    t += tak((int32_t)(18 + i % 3), 12, 6);
  printf("fib(%" PRIu32 ") = %" PRIu32 "\n", n, f);
  printf("tak sum = %" PRId32 "\n", t);
  return 0;
}
