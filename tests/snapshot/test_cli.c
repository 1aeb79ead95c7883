/* `tensor-wasm snapshot create` and the warm start behind
 * `run --snapshot`, linked in directly (cmake/snapshot.cmake adds
 * src/cli/snapshot.c to this test). */
#include <sys/stat.h>

#include "cli.h"
#include "snap_util.h"
#include "tensorwasm/wasi.h"
#include "test.h"


typedef struct fx {
  char dir[64], wasm[96], out[96];
} fx;

static int write_file(const char *path, const uint8_t *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(b, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static int fx_setup(fx *f, const char *wat) {
  uint8_t *b = NULL;
  size_t n = 0;
  snprintf(f->dir, sizeof f->dir, "/tmp/tw-snap-cli-XXXXXX");
  if (!mkdtemp(f->dir)) return 0;
  snprintf(f->wasm, sizeof f->wasm, "%s/m.wasm", f->dir);
  snprintf(f->out, sizeof f->out, "%s/m.snap", f->dir);
  if (wat_bytes(wat, &b, &n) != 0) return 0;
  int rc = write_file(f->wasm, b, n);
  free(b);
  return rc == 0;
}

static void fx_teardown(fx *f) {
  unlink(f->wasm);
  unlink(f->out);
  rmdir(f->dir);
}

static int cli(int argc, const char *const *argv) {
  return cli_cmd_snapshot(argc, (char **)argv);
}

/* Loads f->wasm and spawns as `run --snapshot` does (warm, or cold with
 * the initialiser when the snapshot is rejected); 0 when the state is the
 * initialiser's. */
static tw_status spawn(const char *path, tw_store_t *s, tw_module_t *m,
                       tw_instance_t **inst, tw_error *err) {
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error why;
  tw_snapshot_open_file(path, m, &snap, &why); /* NULL when rejected */
  tw_status st =
      tw_snapshot_instantiate_or_cold(snap, s, m, NULL, 0, inst, NULL, &why, err);
  tw_snapshot_free(snap);
  return st;
}

static int spawn_and_check(fx *f) {
  uint8_t *b = NULL;
  size_t n = 0;
  tw_engine_t *e = NULL;
  tw_module_t *m = NULL;
  tw_store_t *s = NULL;
  tw_instance_t *inst = NULL;
  tw_error err;
  int rc = -1;
  if (cli_read_file(f->wasm, &b, &n) != 0) return -1;
  if (tw_engine_new(NULL, &e, &err) == TW_OK &&
      tw_module_new(e, b, n, &m, &err) == TW_OK &&
      tw_store_new(e, &s, &err) == TW_OK &&
      spawn(f->out, s, m, &inst, &err) == TW_OK)
    rc = state_check(s, inst);
  if (s) tw_store_free(s);
  if (m) tw_module_free(m);
  if (e) tw_engine_free(e);
  free(b);
  return rc;
}

TEST(create_then_warm_start) {
  fx f;
  ASSERT(fx_setup(&f, state_wat));
  const char *argv[] = {"create", f.wasm, "-o", f.out};
  ASSERT_EQ_INT(cli(4, argv), TW_EXIT_OK);
  struct stat sb;
  ASSERT(stat(f.out, &sb) == 0 && sb.st_size > 65536);
  ASSERT_EQ_INT(spawn_and_check(&f), 0);
  fx_teardown(&f);
}

TEST(a_rejected_snapshot_falls_back_to_a_cold_start) {
  fx f;
  ASSERT(fx_setup(&f, state_wat));
  const char *argv[] = {"create", f.wasm, "--output", f.out, "--init",
                        "wizer.initialize"};
  ASSERT_EQ_INT(cli(6, argv), TW_EXIT_OK);
  /* damage it: the checksum no longer matches */
  FILE *fp = fopen(f.out, "r+b");
  ASSERT(fp);
  ASSERT(fseek(fp, 65536 + 4096, SEEK_SET) == 0 && fputc(0x55, fp) != EOF);
  fclose(fp);
  ASSERT_EQ_INT(spawn_and_check(&f), 0);
  /* and with no file at all */
  unlink(f.out);
  ASSERT_EQ_INT(spawn_and_check(&f), 0);
  fx_teardown(&f);
}

TEST(usage_errors_missing_initialiser_trap_and_server_commands) {
  fx f;
  ASSERT(fx_setup(&f, "(module (func (export \"boom\") unreachable))"));
  const char *no_out[] = {"create", f.wasm};
  ASSERT_EQ_INT(cli(2, no_out), TW_EXIT_INVALID);
  const char *unknown[] = {"create", f.wasm, "-o", f.out, "--bogus"};
  ASSERT_EQ_INT(cli(5, unknown), TW_EXIT_INVALID);
  const char *missing[] = {"create", f.wasm, "-o", f.out, "--init", "nope"};
  ASSERT_EQ_INT(cli(6, missing), TW_EXIT_INVALID);
  const char *trap[] = {"create", f.wasm, "-o", f.out, "--init", "boom"};
  ASSERT_EQ_INT(cli(6, trap), TW_EXIT_TRAP);
  struct stat sb;
  ASSERT(stat(f.out, &sb) != 0); /* nothing was written */
  const char *save[] = {"save", "--instance", "1"};
  ASSERT_EQ_INT(cli(3, save), TW_EXIT_INVALID); /* a client command now: no --server */
  const char *what[] = {"frobnicate"};
  ASSERT_EQ_INT(cli(1, what), TW_EXIT_INVALID);
  const char *help[] = {"create", "--help"};
  ASSERT_EQ_INT(cli(2, help), TW_EXIT_OK);
  fx_teardown(&f);
}

TEST(unreadable_module_is_a_runtime_error) {
  const char *argv[] = {"create", "/nonexistent/m.wasm", "-o", "/tmp/x.snap"};
  ASSERT_EQ_INT(cli(4, argv), TW_EXIT_ERROR);
}

TEST_MAIN()
