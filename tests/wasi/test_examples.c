/* The example guests (the C files in examples/, built by the project) run
 * through the CLI; calc must print exactly what its native build prints. */
#include "test.h"
#include "wasi_util.h"

#define CALC_DIR TW_SOURCE_DIR "/examples/calc"

TEST(hello) {
  cli_run r;
  const char *args[] = {"tensor-wasm", "run", EXAMPLE("hello.wasm"), NULL};
  ASSERT_EQ_INT(cli_exec(args, NULL, &r), 0);
  ASSERT_EQ_STR(r.out, "Hello from WebAssembly!\n");
  cli_run_free(&r);
}

TEST(kernel_checksum_by_main_and_by_export) {
  cli_run r;
  const char *main_args[] = {"tensor-wasm", "run", EXAMPLE("kernel.wasm"), "--", "64", NULL};
  ASSERT_EQ_INT(cli_exec(main_args, NULL, &r), 0);
  char want[64];
  ASSERT(sscanf(r.out, "n=64 checksum=%63s", want) == 1);
  cli_run_free(&r);
  const char *export_args[] = {"tensor-wasm", "run", EXAMPLE("kernel.wasm"), "--export",
                               "matmul_checksum", "--args", "[64]", NULL};
  ASSERT_EQ_INT(cli_exec(export_args, NULL, &r), 0);
  /* the export returns an i32: the same bits, printed signed */
  long long got = atoll(r.out), w = atoll(want);
  ASSERT_EQ_INT((unsigned)got, (unsigned)w);
  cli_run_free(&r);
}

/* Runs calc natively and in the sandbox on one script; both outputs and
 * exit statuses must match. */
static int same_both_ways(const char *script, int want_status, char **out) {
  char native_cmd[1024];
  snprintf(native_cmd, sizeof native_cmd, "cd %s && %s/examples/calc-native %s 2>&1",
           CALC_DIR, TW_BUILD_DIR, script);
  FILE *p = popen(native_cmd, "r");
  if (!p) return -1;
  char native[65536];
  size_t n = fread(native, 1, sizeof native - 1, p);
  native[n] = 0;
  int st = pclose(p);
  int native_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;

  char guest_script[600];
  snprintf(guest_script, sizeof guest_script, "/s/%s", script);
  const char *args[] = {"tensor-wasm", "run", EXAMPLE("calc.wasm"), "--dir-ro",
                        CALC_DIR "::/s", "--", guest_script, NULL};
  cli_run r;
  cli_exec(args, NULL, &r);
  /* the guest names the script by its guest path */
  char both[65536 + 1024];
  snprintf(both, sizeof both, "%s%s", r.out, r.err);
  char *fixed = both, *hit;
  char expect[65536];
  snprintf(expect, sizeof expect, "%s", native);
  while ((hit = strstr(fixed, "/s/"))) memmove(hit, hit + 3, strlen(hit + 3) + 1);
  int ok = native_status == want_status && r.status == want_status &&
           strcmp(expect, both) == 0;
  if (!ok)
    fprintf(stderr, "  native (%d):\n%s\n  wasm (%d):\n%s\n", native_status, expect,
            r.status, both);
  *out = strdup(expect);
  cli_run_free(&r);
  return ok ? 0 : -1;
}

TEST(calc_demo_runs_the_same_natively_and_in_wasm) {
  char *out = NULL;
  ASSERT_EQ_INT(same_both_ways("demo.calc", 0, &out), 0);
  ASSERT_CONTAINS(out, "fib(20) = 6765\n");
  ASSERT_CONTAINS(out, "25 primes below 100, the last: 97\n");
  free(out);
}

TEST(calc_programs_run_the_same) {
  char *out = NULL;
  ASSERT_EQ_INT(same_both_ways("bank.calc", 0, &out), 0);
  ASSERT_CONTAINS(out, "balance alice: 70\n");
  free(out);
  ASSERT_EQ_INT(same_both_ways("json.calc", 0, &out), 0);
  ASSERT_CONTAINS(out, "round trip: true\n");
  free(out);
}

TEST(calc_errors_are_the_same) {
  char *out = NULL;
  ASSERT_EQ_INT(same_both_ways("error.calc", 1, &out), 0);
  ASSERT_CONTAINS(out, "error.calc:4: error: division by zero\n");
  free(out);
}

TEST_MAIN()
