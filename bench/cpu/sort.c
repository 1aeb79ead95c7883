/* Integer and array work: sort SIZE pseudo-random 32-bit keys three ways
 * (quicksort with median-of-three and insertion sort for short runs,
 * bottom-up merge sort, heap sort), check the three agree and are ordered,
 * and print a position-weighted checksum. */
#include <string.h>
#include "bench_util.h"

static void insertion(uint32_t *a, long lo, long hi) {
  for (long i = lo + 1; i <= hi; i++) {
    uint32_t v = a[i];
    long j = i - 1;
    while (j >= lo && a[j] > v) { a[j + 1] = a[j]; j--; }
    a[j + 1] = v;
  }
}

static void swap(uint32_t *a, long i, long j) {
  uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
}

static void quick(uint32_t *a, long lo, long hi) {
  while (hi - lo > 16) {
    long mid = lo + (hi - lo) / 2;
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    uint32_t pivot = a[mid];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { swap(a, i, j); i++; j--; }
    }
    /* recurse into the smaller side, loop on the larger: O(log n) stack */
    if (j - lo < hi - i) { quick(a, lo, j); lo = i; }
    else { quick(a, i, hi); hi = j; }
  }
  insertion(a, lo, hi);
}

static void merge_sort(uint32_t *a, uint32_t *tmp, long n) {
  for (long w = 1; w < n; w *= 2) {
    for (long lo = 0; lo < n; lo += 2 * w) {
      long mid = lo + w < n ? lo + w : n;
      long hi = lo + 2 * w < n ? lo + 2 * w : n;
      long i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    uint32_t *t = a; a = tmp; tmp = t;
  }
  /* after an odd number of passes the result sits in the scratch buffer */
  long passes = 0;
  for (long w = 1; w < n; w *= 2) passes++;
  if (passes & 1) memcpy(tmp, a, sizeof(uint32_t) * (size_t)n);
}

static void sift(uint32_t *a, long i, long n) {
  uint32_t v = a[i];
  for (;;) {
    long c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && a[c + 1] > a[c]) c++;
    if (a[c] <= v) break;
    a[i] = a[c];
    i = c;
  }
  a[i] = v;
}

static void heap_sort(uint32_t *a, long n) {
  for (long i = n / 2 - 1; i >= 0; i--) sift(a, i, n);
  for (long end = n - 1; end > 0; end--) {
    swap(a, 0, end);
    sift(a, 0, end);
  }
}

int main(int argc, char **argv) {
  long n = bench_size(argc, argv, 1500000);
  size_t bytes = sizeof(uint32_t) * (size_t)n;
  uint32_t *orig = bench_alloc(bytes), *a = bench_alloc(bytes);
  uint32_t *b = bench_alloc(bytes), *c = bench_alloc(bytes);
  uint32_t *tmp = bench_alloc(bytes);
  bench_rng r = {42};
  for (long i = 0; i < n; i++) orig[i] = (uint32_t)(bench_rng_next(&r) >> 32);
  memcpy(a, orig, bytes);
  memcpy(b, orig, bytes);
  memcpy(c, orig, bytes);
  quick(a, 0, n - 1);
  merge_sort(b, tmp, n);
  heap_sort(c, n);
  int ok = memcmp(a, b, bytes) == 0 && memcmp(a, c, bytes) == 0;
  for (long i = 1; i < n; i++) ok &= a[i - 1] <= a[i];
  uint64_t check = 0;
  for (long i = 0; i < n; i++) check = check * 1000003u + a[i] + (uint64_t)i;
  printf("n=%ld sorted=%s min=%" PRIu32 " median=%" PRIu32 " max=%" PRIu32
         " checksum=%016" PRIx64 "\n", n, ok ? "yes" : "NO", a[0], a[n / 2],
         a[n - 1], check);
  free(orig); free(a); free(b); free(c); free(tmp);
  return ok ? 0 : 1;
}
