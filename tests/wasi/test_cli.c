/* The `tensor-wasm` command line, run as a separate process: results,
 * argument rules, WASI options, and every bad input with its one-line
 * error and documented exit status (docs/CLI.md). */
#include "test.h"
#include "wasi_util.h"

#define ADD TW_BUILD_DIR "/examples/add.wasm"

/* Runs the CLI; `want` is the expected exit status. */
#define RUN(r, want, ...)                                                  \
  do {                                                                     \
    const char *args_[] = {"tensor-wasm", __VA_ARGS__, NULL};              \
    cli_exec(args_, NULL, &(r));                                           \
    if ((r).status != (want))                                              \
      TW__FAIL("exit status %d, want %d; stdout: %s; stderr: %s",          \
               (r).status, (want), (r).out, (r).err);                      \
  } while (0)

/* A diagnostic is exactly one line on stderr and nothing on stdout. */
#define ASSERT_ONE_LINE_ERROR(r, text)                                     \
  do {                                                                     \
    ASSERT_CONTAINS((r).err, text);                                        \
    ASSERT_EQ_INT(line_count((r).err), 1);                                 \
    ASSERT_EQ_STR((r).out, "");                                            \
  } while (0)

TEST(version_and_help) {
  cli_run r;
  RUN(r, 0, "version");
  ASSERT_CONTAINS(r.out, "tensor-wasm ");
  cli_run_free(&r);
  RUN(r, 0, "--help");
  ASSERT_CONTAINS(r.out, "run FILE");
  cli_run_free(&r);
  RUN(r, 0, "run", "--help");
  ASSERT_CONTAINS(r.out, "--dir HOST[::GUEST]");
  ASSERT_CONTAINS(r.out, "--timeout");
  cli_run_free(&r);
  RUN(r, 0, "validate", "--help");
  ASSERT_CONTAINS(r.out, "validate FILE");
  cli_run_free(&r);
  RUN(r, 0, "version", "--help");
  cli_run_free(&r);
}

TEST(results_follow_the_original) {
  cli_run r;
  RUN(r, 0, "run", ADD, "--export", "add", "--args", "[2, 40]");
  ASSERT_EQ_STR(r.out, "42\n");
  cli_run_free(&r);
  RUN(r, 0, "run", ADD, "--invoke", "add", "2", "40"); /* the older form */
  ASSERT_EQ_STR(r.out, "42\n");
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("values"), "--export", "nothing");
  ASSERT_EQ_STR(r.out, "ok\n");
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("values"), "--export", "three", "--args", "[7, 5000000000, 2.5]");
  ASSERT_EQ_STR(r.out, "[7,5000000000,2.5]\n");
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("values"), "--export=half", "--args=[3]");
  ASSERT_EQ_STR(r.out, "1.5\n");
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("values"), "--export", "wide", "--args", "[41]");
  ASSERT_EQ_STR(r.out, "42\n"); /* an i32-range integer widens to i64 */
  cli_run_free(&r);
  RUN(r, 0, "validate", ADD);
  ASSERT_EQ_STR(r.out, "ok\n");
  cli_run_free(&r);
}

TEST(wasi_options) {
  cli_run r;
  RUN(r, 2, "run", EXAMPLE("echo.wasm"), "--env", "GREETING=hi", "--", "one", "two");
  ASSERT_CONTAINS(r.out, "argc=3\n");
  ASSERT_CONTAINS(r.out, "argv[1]=one\nargv[2]=two\n");
  ASSERT_CONTAINS(r.out, "env GREETING=hi\n");
  cli_run_free(&r);
  RUN(r, 1, "run", EXAMPLE("echo.wasm"), "word"); /* words are guest args */
  ASSERT_CONTAINS(r.out, "argv[1]=word\n");
  cli_run_free(&r);

  char *dir = temp_dir();
  ASSERT(dir);
  char in[512], out[512], spec[600];
  snprintf(in, sizeof in, "%s/in.txt", dir);
  snprintf(out, sizeof out, "%s/out.txt", dir);
  snprintf(spec, sizeof spec, "%s::/data", dir);
  ASSERT_EQ_INT(write_text(in, "copy me\n"), 0);
  RUN(r, 0, "run", EXAMPLE("copy.wasm"), "--dir", spec, "--", "/data/in.txt", "/data/out.txt");
  ASSERT_EQ_STR(r.out, "copied 8 bytes\n");
  cli_run_free(&r);
  char *copied = slurp(out, NULL);
  ASSERT(copied);
  ASSERT_EQ_STR(copied, "copy me\n");
  free(copied);
  RUN(r, 3, "run", EXAMPLE("copy.wasm"), "--dir-ro", spec, "--", "/data/in.txt", "/data/new.txt");
  ASSERT_CONTAINS(r.err, "Capabilities insufficient");
  cli_run_free(&r);
  rm_tree(dir);
}

TEST(exit_codes_of_guests) {
  cli_run r;
  RUN(r, 7, "run", GUEST("exit"), "--", "7");
  ASSERT_EQ_STR(r.out, "exiting with 7\n");
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("exit"), "--", "0");
  ASSERT_EQ_STR(r.out, "exiting with 0\n"); /* no "ok": _start prints only its own */
  cli_run_free(&r);
  RUN(r, 125, "run", GUEST("exit"), "--", "200");
  ASSERT_CONTAINS(r.err, "guest exit code 200 is above 125");
  ASSERT_EQ_INT(line_count(r.err), 1);
  cli_run_free(&r);
}

TEST(traps) {
  cli_run r;
  RUN(r, 134, "run", GUEST("exit"), "--", "trap");
  ASSERT_EQ_STR(r.out, "about to trap\n");
  ASSERT_CONTAINS(r.err, "trap: unreachable\n");
  ASSERT_CONTAINS(r.err, "#0 func[");
  cli_run_free(&r);
  RUN(r, 134, "run", ADD, "--invoke", "div", "1", "0");
  ASSERT_CONTAINS(r.err, "trap: integer divide by zero");
  cli_run_free(&r);
  RUN(r, 134, "run", GUEST("exit"), "--timeout", "200ms", "--", "spin");
  ASSERT_CONTAINS(r.err, "timed out after 200ms");
  ASSERT_CONTAINS(r.err, "trap: interrupted");
  cli_run_free(&r);
  RUN(r, 134, "run", GUEST("exit"), "--timeout", "200ms", "--", "sleep");
  ASSERT_CONTAINS(r.err, "timed out after 200ms");
  cli_run_free(&r);
}

TEST(bad_files_and_modules) {
  cli_run r;
  RUN(r, 1, "run", "/nonexistent/app.wasm");
  ASSERT_ONE_LINE_ERROR(r, "/nonexistent/app.wasm: No such file or directory");
  cli_run_free(&r);
  RUN(r, 1, "validate", "/nonexistent/app.wasm");
  ASSERT_ONE_LINE_ERROR(r, "No such file or directory");
  cli_run_free(&r);

  char *dir = temp_dir();
  ASSERT(dir);
  char text[512], invalid[512];
  snprintf(text, sizeof text, "%s/notes.wasm", dir);
  snprintf(invalid, sizeof invalid, "%s/invalid.wasm", dir);
  ASSERT_EQ_INT(write_text(text, "this is not WebAssembly\n"), 0);
  /* (func (result i32) i32.add): decodes, but does not validate */
  static const unsigned char bad[] = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
      0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00,
      0x6a, 0x0b};
  FILE *f = fopen(invalid, "wb");
  ASSERT(f);
  fwrite(bad, 1, sizeof bad, f);
  fclose(f);
  RUN(r, 2, "run", text);
  ASSERT_ONE_LINE_ERROR(r, "notes.wasm: ");
  ASSERT_CONTAINS(r.err, "at byte offset");
  cli_run_free(&r);
  RUN(r, 2, "validate", text);
  ASSERT_ONE_LINE_ERROR(r, "notes.wasm: ");
  cli_run_free(&r);
  RUN(r, 2, "run", invalid);
  ASSERT_ONE_LINE_ERROR(r, "invalid.wasm: ");
  ASSERT_CONTAINS(r.err, "at byte offset");
  cli_run_free(&r);
  RUN(r, 2, "validate", invalid);
  ASSERT_ONE_LINE_ERROR(r, "invalid.wasm: ");
  cli_run_free(&r);
  rm_tree(dir);

  RUN(r, 1, "run", GUEST("import_env"));
  ASSERT_ONE_LINE_ERROR(r, "\"env\" \"host_thing\": not a WASI import");
  cli_run_free(&r);
  RUN(r, 1, "run", GUEST("import_unknown"));
  ASSERT_ONE_LINE_ERROR(r, "unknown WASI preview1 function");
  cli_run_free(&r);
  RUN(r, 1, "run", GUEST("bigmem"), "--max-memory", "1MiB");
  ASSERT_EQ_INT(line_count(r.err), 1);
  cli_run_free(&r);
  RUN(r, 0, "run", GUEST("bigmem"), "--max-memory", "2MiB");
  cli_run_free(&r);
}

TEST(bad_exports_and_arguments) {
  cli_run r;
  RUN(r, 2, "run", ADD, "--export", "nope");
  ASSERT_ONE_LINE_ERROR(r, "no export named \"nope\"");
  cli_run_free(&r);
  RUN(r, 2, "run", GUEST("values"));
  ASSERT_ONE_LINE_ERROR(r, "neither _start nor main");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "[1]");
  ASSERT_ONE_LINE_ERROR(r, "add takes 2 arguments, --args gives 1");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--invoke", "add", "1");
  ASSERT_ONE_LINE_ERROR(r, "add takes 2 arguments, got 1");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "[1.5, 2]");
  ASSERT_ONE_LINE_ERROR(r, "--args[0] = 1.5: add parameter 0 is i32: not an integer");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "[1, \"x\"]");
  ASSERT_ONE_LINE_ERROR(r, "--args[1] = \"x\": add parameter 1 is i32: not a number");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "[1, 3000000000]");
  ASSERT_ONE_LINE_ERROR(r, "out of i32 range");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "[1, 2");
  ASSERT_ONE_LINE_ERROR(r, "--args: not valid JSON");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export", "add", "--args", "{\"a\": 1}");
  ASSERT_ONE_LINE_ERROR(r, "expected a JSON array");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--invoke", "add", "x", "1");
  ASSERT_ONE_LINE_ERROR(r, "\"x\" is not a valid i32");
  cli_run_free(&r);
}

TEST(bad_usage) {
  cli_run r;
  RUN(r, 2, "run");
  ASSERT_ONE_LINE_ERROR(r, "no module given");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--frobnicate");
  ASSERT_ONE_LINE_ERROR(r, "unknown option --frobnicate");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--export");
  ASSERT_ONE_LINE_ERROR(r, "--export needs a value");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--max-memory", "lots");
  ASSERT_ONE_LINE_ERROR(r, "--max-memory lots");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--timeout", "soon");
  ASSERT_ONE_LINE_ERROR(r, "--timeout soon");
  cli_run_free(&r);
  RUN(r, 2, "run", ADD, "--dir", "::/x");
  ASSERT_ONE_LINE_ERROR(r, "expected HOST or HOST::GUEST");
  cli_run_free(&r);
  RUN(r, 1, "run", EXAMPLE("hello.wasm"), "--dir", "/nonexistent/dir");
  ASSERT_ONE_LINE_ERROR(r, "preopen /nonexistent/dir");
  cli_run_free(&r);
  RUN(r, 2, "validate");
  ASSERT_ONE_LINE_ERROR(r, "validate takes exactly one FILE");
  cli_run_free(&r);
  RUN(r, 2, "frobnicate");
  ASSERT_ONE_LINE_ERROR(r, "unknown command \"frobnicate\"");
  cli_run_free(&r);
  RUN(r, 3, "kernel");
  ASSERT_ONE_LINE_ERROR(r, "not available in this build");
  cli_run_free(&r);
}

TEST_MAIN()
