/* Minimal test harness: TEST(name) registers a test; typed ASSERT_* print
 * both sides on failure.  main() comes from TEST_MAIN() in one file; it runs
 * every test (or those named on the command line) and prints
 * "N passed, N failed". */
#ifndef TW_TEST_H
#define TW_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tw_test_fn)(int *failed);
typedef struct tw_test_case { const char *name; tw_test_fn fn; } tw_test_case;

#define TW_TEST_MAX 512
extern tw_test_case tw_tests[TW_TEST_MAX];
extern int tw_ntests;

#define TEST(name)                                                        \
  static void test_##name(int *failed);                                   \
  __attribute__((constructor)) static void register_##name(void) {        \
    if (tw_ntests < TW_TEST_MAX) tw_tests[tw_ntests++] =                  \
        (tw_test_case){#name, test_##name};                               \
  }                                                                       \
  static void test_##name(int *failed)

#define TW__FAIL(...)                                                     \
  do {                                                                    \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                     \
    fprintf(stderr, __VA_ARGS__);                                         \
    fputc('\n', stderr);                                                  \
    *failed = 1;                                                          \
    return;                                                               \
  } while (0)

#define ASSERT(c) do { if (!(c)) TW__FAIL("assertion failed: %s", #c); } while (0)
#define ASSERT_EQ_INT(a, b)                                               \
  do {                                                                    \
    long long a_ = (long long)(a), b_ = (long long)(b);                   \
    if (a_ != b_) TW__FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);     \
  } while (0)
#define ASSERT_EQ_U64(a, b)                                               \
  do {                                                                    \
    uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                      \
    if (a_ != b_) TW__FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a,   \
                           #b, a_, b_);                                   \
  } while (0)
#define ASSERT_EQ_STR(a, b)                                               \
  do {                                                                    \
    const char *a_ = (a), *b_ = (b);                                      \
    if (strcmp(a_, b_) != 0) TW__FAIL("%s == %s: \"%s\" != \"%s\"", #a,   \
                                      #b, a_, b_);                        \
  } while (0)
#define ASSERT_CONTAINS(hay, needle)                                      \
  do {                                                                    \
    const char *h_ = (hay), *n_ = (needle);                               \
    if (!strstr(h_, n_)) TW__FAIL("\"%s\" does not contain \"%s\"", h_, n_); \
  } while (0)

#define TEST_MAIN()                                                       \
  tw_test_case tw_tests[TW_TEST_MAX];                                     \
  int tw_ntests;                                                          \
  int main(int argc, char **argv) {                                       \
    int passed = 0, nfailed = 0;                                          \
    for (int i = 0; i < tw_ntests; i++) {                                 \
      int want = argc < 2;                                                \
      for (int j = 1; j < argc; j++)                                      \
        if (strcmp(argv[j], tw_tests[i].name) == 0) want = 1;             \
      if (!want) continue;                                                \
      int failed = 0;                                                     \
      tw_tests[i].fn(&failed);                                            \
      printf("%s %s\n", failed ? "FAIL" : "ok  ", tw_tests[i].name);      \
      if (failed) nfailed++; else passed++;                               \
    }                                                                     \
    printf("%d passed, %d failed\n", passed, nfailed);                    \
    return nfailed ? 1 : 0;                                               \
  }

#endif
