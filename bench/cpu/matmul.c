/* Floating point: dense double matrix multiply C = A * B (i-k-j order, so
 * the inner loop streams rows), SIZE x SIZE, then C = C * B once more.
 * Entries are small multiples of 1/8, so every product and partial sum is
 * exact and the result does not depend on evaluation order. */
#include <string.h>
#include "bench_util.h"

static void mul(const double *a, const double *b, double *c, int n) {
  memset(c, 0, sizeof(double) * (size_t)n * (size_t)n);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++) {
      double aik = a[i * n + k];
      const double *brow = b + k * n;
      double *crow = c + i * n;
      for (int j = 0; j < n; j++) crow[j] += aik * brow[j];
    }
}

int main(int argc, char **argv) {
  int n = (int)bench_size(argc, argv, 700);
  size_t nn = (size_t)n * (size_t)n;
  double *a = bench_alloc(sizeof(double) * nn);
  double *b = bench_alloc(sizeof(double) * nn);
  double *c = bench_alloc(sizeof(double) * nn);
  double *d = bench_alloc(sizeof(double) * nn);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      a[i * n + j] = (double)((i * 7 + j * 3) % 11 - 5) / 8.0;
      b[i * n + j] = (double)((i * 5 + j * 13) % 9 - 4) / 8.0;
    }
  mul(a, b, c, n);
  mul(c, b, d, n);
  double sum = 0, trace = 0;
  for (size_t i = 0; i < nn; i++) sum += d[i] * (double)(i % 5 + 1);
  for (int i = 0; i < n; i++) trace += d[i * n + i];
  printf("n=%d sum=%.6f trace=%.6f c[1][2]=%.6f\n", n, sum, trace, c[1 * n + 2]);
  free(a); free(b); free(c); free(d);
  return 0;
}
