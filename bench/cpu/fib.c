/* Calls and recursion: doubly recursive Fibonacci and Takeuchi's function.
 * Almost all time goes to call/return and argument passing.  fib counts its
 * calls in a global, which keeps compilers from merging the two identical
 * pure sub-calls that fib's inlined body would otherwise expose.  SIZE is n
 * of fib(n); tak runs on (n - 18, (n - 18) / 2, 0). */
#include "bench_util.h"

static uint64_t calls;

static uint32_t fib(uint32_t n) {
  calls++;
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int32_t tak(int32_t x, int32_t y, int32_t z) {
  if (y >= x) return z;
  return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y));
}

int main(int argc, char **argv) {
  uint32_t n = (uint32_t)bench_size(argc, argv, 39);
  uint32_t f = fib(n);
  printf("fib(%" PRIu32 ") = %" PRIu32 " in %" PRIu64 " calls\n", n, f, calls);
  int32_t x = n > 18 ? (int32_t)n - 18 : 1;
  printf("tak(%" PRId32 ", %" PRId32 ", 0) = %" PRId32 "\n", x, x / 2, tak(x, x / 2, 0));
  return 0;
}
