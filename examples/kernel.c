/* A compute kernel: single-precision matrix multiply C = A x B of N x N
 * matrices filled from a fixed linear congruential sequence, followed by a
 * checksum.  `kernel [N]` (default 128) prints N and the checksum, which
 * is the same on every conforming engine; `matmul_checksum` is also
 * exported for `tensor-wasm run kernel.wasm --export matmul_checksum
 * --args '[64]'`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* Sum of C's entries, each rounded to an integer, modulo 2^32: exact and
 * independent of summation order. */
#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

EXPORT("matmul_checksum") uint32_t matmul_checksum(int n) {
  if (n <= 0 || n > 1024) return 0;
  float *a = malloc(sizeof(float) * (size_t)n * (size_t)n);
  float *b = malloc(sizeof(float) * (size_t)n * (size_t)n);
  float *c = calloc((size_t)n * (size_t)n, sizeof(float));
  uint32_t seed = 42, sum = 0;
  if (!a || !b || !c) goto done;
  for (int i = 0; i < n * n; i++) a[i] = (float)(lcg(&seed) % 17) - 8.0f;
  for (int i = 0; i < n * n; i++) b[i] = (float)(lcg(&seed) % 13) - 6.0f;
  /* i-k-j order: the inner loop walks B and C rows contiguously. */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++) {
      float aik = a[i * n + k];
      for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  for (int i = 0; i < n * n; i++) sum += (uint32_t)(int32_t)c[i];
done:
  free(a);
  free(b);
  free(c);
  return sum;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 128;
  if (n <= 0 || n > 1024) {
    fprintf(stderr, "kernel: N must be 1..1024\n");
    return 1;
  }
  printf("n=%d checksum=%u\n", n, matmul_checksum(n));
  return 0;
}
