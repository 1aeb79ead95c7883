/* Integer and array work: for every permutation of 1..SIZE (generated in
 * lexicographic order) and for its inverse, repeatedly reverse the prefix
 * whose length is the first element until it is 1; report the largest flip
 * count and a signed checksum of all flip counts. */
#include "bench_util.h"

#define MAXN 16

/* Next permutation in lexicographic order; 0 after the last one. */
static int next_perm(int *p, int n) {
  int i = n - 2;
  while (i >= 0 && p[i] > p[i + 1]) i--;
  if (i < 0) return 0;
  int j = n - 1;
  while (p[j] < p[i]) j--;
  int t = p[i]; p[i] = p[j]; p[j] = t;
  for (int l = i + 1, r = n - 1; l < r; l++, r--) {
    t = p[l]; p[l] = p[r]; p[r] = t;
  }
  return 1;
}

static int flips(const int *p, int n) {
  int q[MAXN];
  for (int i = 0; i < n; i++) q[i] = p[i];
  int f = 0;
  for (int k = q[0]; k != 1; k = q[0]) {
    for (int l = 0, r = k - 1; l < r; l++, r--) {
      int t = q[l]; q[l] = q[r]; q[r] = t;
    }
    f++;
  }
  return f;
}

int main(int argc, char **argv) {
  int n = (int)bench_size(argc, argv, 10);
  if (n > MAXN) n = MAXN;
  int p[MAXN];
  for (int i = 0; i < n; i++) p[i] = i + 1;
  int maxf = 0;
  int64_t check = 0;
  uint64_t idx = 0;
  do {
    int inv[MAXN];
    for (int i = 0; i < n; i++) inv[p[i] - 1] = i + 1;
    int f = flips(p, n), g = flips(inv, n);
    if (f > maxf) maxf = f;
    if (g > maxf) maxf = g;
    check += (idx & 1) ? g - f : f - 2 * g;
    idx++;
  } while (next_perm(p, n));
  printf("n=%d permutations=%" PRIu64 " maxflips=%d checksum=%" PRId64 "\n",
         n, idx, maxf, check);
  return 0;
}
