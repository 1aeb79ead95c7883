/* WASI through the library: compiled C guests exercise every preview1
 * function and check their own results (the C files in tests/wasi/guests print "ok"
 * or "FAIL" per step and exit with their failure count); these tests run
 * them and check the log, the exit codes and what changed on the host. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "test.h"
#include "wasi_util.h"

/* Prints the failed steps of a guest's log to stderr (for the ctest log). */
static void show_failures(const char *out) {
  const char *p = out;
  while ((p = strstr(p, "FAIL "))) {
    const char *e = strchr(p, '\n');
    fprintf(stderr, "  guest: %.*s\n", (int)(e ? e - p : (long)strlen(p)), p);
    p = e ? e : p + strlen(p);
  }
}

TEST(files_and_directories) {
  char *dir = temp_dir();
  ASSERT(dir);
  tw_wasi_preopen pre = {dir, "/sandbox", false};
  const char *args[] = {"fs"};
  tw_wasi_config cfg = {.args = args, .nargs = 1, .preopens = &pre, .npreopens = 1};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("fs"), cfg, &r), 0);
  show_failures(r.out);
  ASSERT_CONTAINS(r.out, "ok readdir_small_buffer_same\n");
  ASSERT_CONTAINS(r.out, "ok symlink\n");
  ASSERT_CONTAINS(r.out, "ok efault_iovs\n");
  ASSERT_CONTAINS(r.out, "done 0 failures\n");
  ASSERT(!strstr(r.out, "FAIL"));
  ASSERT_EQ_INT(r.status, TW_OK); /* main returned 0: no proc_exit */
  ASSERT(!r.exited);
  /* what the guest left behind, seen from the host */
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/f.txt", dir);
  ASSERT_EQ_INT(stat(path, &st), 0);
  ASSERT_EQ_INT(st.st_size, 101);
  ASSERT_EQ_INT(st.st_atim.tv_sec, 1000);
  snprintf(path, sizeof path, "%s/d", dir);
  ASSERT(stat(path, &st) != 0 && errno == ENOENT);
  guest_run_free(&r);
  rm_tree(dir);
}

TEST(args_env_clocks_random_poll_stdin) {
  const char *args[] = {"misc", "alpha", "beta"};
  const char *env[] = {"K1=v1", "K2=v2"};
  const char *input = "line one\nline two\n";
  tw_wasi_config cfg = {.args = args, .nargs = 3, .env = env, .nenv = 2};
  cfg.stdio[0] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_BUFFER,
                                 .data = (const uint8_t *)input, .len = strlen(input)};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("misc"), cfg, &r), 0);
  show_failures(r.out);
  ASSERT_CONTAINS(r.out, "ok poll_clock_waited\n");
  ASSERT_CONTAINS(r.out, "ok proc_raise\n");
  ASSERT_CONTAINS(r.out, "done 0 failures\nline one\nline two\n");
  ASSERT(!strstr(r.out, "FAIL"));
  ASSERT_EQ_INT(r.status, TW_OK);
  guest_run_free(&r);
}

TEST(proc_exit_code_and_trap_message) {
  const char *args[] = {"exit", "42"};
  tw_wasi_config cfg = {.args = args, .nargs = 2};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("exit"), cfg, &r), 0);
  ASSERT_EQ_INT(r.status, TW_TRAP);
  ASSERT_EQ_INT(r.err.trap, TW_TRAP_HOST);
  ASSERT_CONTAINS(r.err.message, TW_WASI_EXIT_PREFIX "42)");
  ASSERT(r.exited);
  ASSERT_EQ_INT(r.code, 42);
  ASSERT_EQ_STR(r.out, "exiting with 42\n");
  guest_run_free(&r);
}

TEST(guest_trap_is_not_an_exit) {
  const char *args[] = {"exit", "trap"};
  tw_wasi_config cfg = {.args = args, .nargs = 2};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("exit"), cfg, &r), 0);
  ASSERT_EQ_INT(r.status, TW_TRAP);
  ASSERT_EQ_INT(r.err.trap, TW_TRAP_UNREACHABLE);
  ASSERT(!r.exited);
  ASSERT(r.err.frame_count > 0);
  guest_run_free(&r);
}

typedef struct chunks {
  char text[256];
  size_t len;
  int calls;
} chunks;

static uint16_t collect(void *ctx, uint32_t fd, const uint8_t *data, size_t len) {
  chunks *c = ctx;
  c->calls++;
  if (fd != 1) return 8; /* EBADF: only stdout is expected here */
  if (len > sizeof c->text - 1 - c->len) len = sizeof c->text - 1 - c->len;
  memcpy(c->text + c->len, data, len);
  c->len += len;
  return 0;
}

TEST(stdout_callback) {
  const char *args[] = {"exit", "3"};
  chunks c = {{0}, 0, 0};
  tw_wasi_config cfg = {.args = args, .nargs = 2};
  cfg.stdio[1] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_CALLBACK, .write = collect,
                                 .write_ctx = &c};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("exit"), cfg, &r), 0);
  ASSERT_EQ_INT(r.code, 3);
  ASSERT(c.calls >= 1);
  ASSERT_EQ_STR(c.text, "exiting with 3\n");
  ASSERT_EQ_STR(r.out, ""); /* nothing captured: the callback had it */
  guest_run_free(&r);
}

TEST(capture_limit_keeps_what_fits) {
  const char *args[] = {"exit", "4"};
  tw_wasi_config cfg = {.args = args, .nargs = 2};
  cfg.stdio[1] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_BUFFER, .capture_max = 8};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("exit"), cfg, &r), 0);
  ASSERT_EQ_INT(r.code, 4);
  ASSERT_EQ_STR(r.out, "exiting ");
  guest_run_free(&r);
}

TEST(null_stdio_by_default) {
  tw_wasi_t *w = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_wasi_new(NULL, &w, &err), TW_OK);
  const uint8_t *d;
  size_t n;
  tw_wasi_output(w, 1, &d, &n);
  ASSERT_EQ_INT(n, 0);
  ASSERT(!tw_wasi_exited(w, NULL));
  tw_wasi_free(w);
}

TEST(bad_configs_are_refused) {
  tw_wasi_t *w = NULL;
  tw_error err;
  tw_wasi_preopen missing = {"/nonexistent/tw-dir", "/x", false};
  tw_wasi_config cfg = {.preopens = &missing, .npreopens = 1};
  ASSERT_EQ_INT(tw_wasi_new(&cfg, &w, &err), TW_NOT_FOUND);
  ASSERT_CONTAINS(err.message, "/nonexistent/tw-dir");
  tw_wasi_preopen file = {"/etc/hostname", NULL, false};
  if (access("/etc/hostname", F_OK) == 0) {
    cfg.preopens = &file;
    ASSERT_EQ_INT(tw_wasi_new(&cfg, &w, &err), TW_ARG);
    ASSERT_CONTAINS(err.message, "Not a directory");
  }
  tw_wasi_config cb = {0};
  cb.stdio[0] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_CALLBACK, .write = collect};
  ASSERT_EQ_INT(tw_wasi_new(&cb, &w, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "stdin");
  tw_wasi_config nofn = {0};
  nofn.stdio[1] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_CALLBACK};
  ASSERT_EQ_INT(tw_wasi_new(&nofn, &w, &err), TW_ARG);
  tw_wasi_config badfd = {0};
  badfd.stdio[2] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_FD, .host_fd = 987};
  ASSERT_EQ_INT(tw_wasi_new(&badfd, &w, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "stderr");
}

/* Loads a test module; NULL on failure. */
static tw_module_t *load(tw_engine_t *e, const char *path) {
  size_t len;
  char *bytes = slurp(path, &len);
  tw_module_t *m = NULL;
  tw_error err;
  if (bytes) tw_module_new(e, (const uint8_t *)bytes, len, &m, &err);
  free(bytes);
  return m;
}

TEST(imports_that_cannot_be_resolved) {
  tw_engine_t *e;
  tw_store_t *s;
  tw_wasi_t *w;
  tw_error err;
  tw_extern ext[4];
  ASSERT_EQ_INT(tw_engine_new(NULL, &e, &err), TW_OK);
  ASSERT_EQ_INT(tw_store_new(e, &s, &err), TW_OK);
  ASSERT_EQ_INT(tw_wasi_new(NULL, &w, &err), TW_OK);

  tw_module_t *env = load(e, GUEST("import_env"));
  ASSERT(env);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w, s, env, ext, 4, &err), TW_UNLINKABLE);
  ASSERT_CONTAINS(err.message, "\"env\" \"host_thing\"");
  ASSERT_CONTAINS(err.message, "not a WASI import");
  ASSERT_EQ_INT(tw_wasi_resolve_import(w, s, env, 0, ext, &err), TW_NOT_FOUND);

  tw_module_t *unknown = load(e, GUEST("import_unknown"));
  ASSERT(unknown);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w, s, unknown, ext, 4, &err), TW_UNLINKABLE);
  ASSERT_CONTAINS(err.message, "no_such_function");
  ASSERT_CONTAINS(err.message, "unknown WASI preview1 function");

  tw_module_t *badtype = load(e, GUEST("import_badtype"));
  ASSERT(badtype);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w, s, badtype, ext, 4, &err), TW_OK);
  tw_instance_t *inst;
  ASSERT_EQ_INT(tw_instance_new(s, badtype, ext, 1, &inst, &err), TW_UNLINKABLE);
  ASSERT_CONTAINS(err.message, "incompatible import type");

  ASSERT_EQ_INT(tw_wasi_resolve_imports(w, s, unknown, ext, 0, &err), TW_ARG);
  tw_module_free(env);
  tw_module_free(unknown);
  tw_module_free(badtype);
  tw_store_free(s); /* the context outlives the store here: the other order */
  tw_wasi_free(w);
  tw_engine_free(e);
}

typedef struct stopper {
  tw_store_t *store;
  tw_wasi_t *wasi;
} stopper;

static void *stop_soon(void *arg) {
  stopper *st = arg;
  struct timespec ts = {0, 100 * 1000 * 1000};
  nanosleep(&ts, NULL);
  tw_store_interrupt(st->store);
  tw_wasi_interrupt(st->wasi);
  return NULL;
}

/* A guest sleeping in poll_oneoff for a minute is woken by
 * tw_wasi_interrupt and stopped by the store interrupt. */
TEST(interrupt_wakes_a_sleeping_guest) {
  tw_engine_t *e;
  tw_store_t *s;
  tw_wasi_t *w;
  tw_error err;
  tw_extern ext[16], start;
  tw_instance_t *inst;
  const char *args[] = {"exit", "sleep"};
  tw_wasi_config cfg = {.args = args, .nargs = 2};
  ASSERT_EQ_INT(tw_engine_new(NULL, &e, &err), TW_OK);
  ASSERT_EQ_INT(tw_store_new(e, &s, &err), TW_OK);
  ASSERT_EQ_INT(tw_wasi_new(&cfg, &w, &err), TW_OK);
  tw_module_t *m = load(e, GUEST("exit"));
  ASSERT(m);
  ASSERT(tw_module_import_count(m) <= 16);
  ASSERT_EQ_INT(tw_wasi_resolve_imports(w, s, m, ext, 16, &err), TW_OK);
  ASSERT_EQ_INT(tw_instance_new(s, m, ext, tw_module_import_count(m), &inst, &err), TW_OK);
  ASSERT_EQ_INT(tw_instance_export(inst, "_start", 6, &start), TW_OK);
  stopper st = {s, w};
  pthread_t t;
  ASSERT_EQ_INT(pthread_create(&t, NULL, stop_soon, &st), 0);
  tw_status status = tw_func_call(s, start.of.func, NULL, 0, NULL, 0, &err);
  pthread_join(t, NULL);
  ASSERT_EQ_INT(status, TW_TRAP);
  ASSERT_EQ_INT(err.trap, TW_TRAP_INTERRUPTED);
  ASSERT(!tw_wasi_exited(w, NULL));
  tw_wasi_free(w);
  tw_store_free(s);
  tw_module_free(m);
  tw_engine_free(e);
}

TEST_MAIN()
