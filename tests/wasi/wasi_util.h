/* Helpers shared by the tests in tests/wasi: running a guest through the
 * library with a WASI context, temporary directories, running the CLI and
 * capturing its output.  Header-only (each test file is its own program). */
#ifndef TW_WASI_TEST_UTIL_H
#define TW_WASI_TEST_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tensorwasm/wasi.h"
#include "tensorwasm/wasm.h"

extern char **environ;

#define GUEST(name) TW_BUILD_DIR "/tests/wasi/" name ".wasm"
#define EXAMPLE(name) TW_BUILD_DIR "/examples/" name

/* Reads a whole file (NUL-terminated); NULL on failure. */
static inline char *slurp(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *b = malloc(cap);
  size_t n;
  while (b && (n = fread(b + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len < 2) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) { free(b); b = NULL; }
      else b = nb;
    }
  }
  fclose(f);
  if (b) b[len] = 0;
  if (len_out) *len_out = len;
  return b;
}

static inline int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

/* mkdtemp under /tmp; the caller frees the path and calls rm_tree. */
static inline char *temp_dir(void) {
  char *d = strdup("/tmp/tw-wasi-XXXXXX");
  if (d && !mkdtemp(d)) {
    free(d);
    return NULL;
  }
  return d;
}

static inline int rm_one(const char *p, const struct stat *st, int flag,
                         struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  return remove(p);
}

static inline void rm_tree(char *dir) {
  if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

/* The result of running a guest's _start through the library. */
typedef struct guest_run {
  tw_status status;   /* of the call (TW_TRAP for proc_exit too) */
  tw_error err;
  bool exited;        /* proc_exit was called */
  uint32_t code;      /* its argument */
  char *out;          /* captured stdout (malloc'd, NUL-terminated) */
  char *errout;       /* captured stderr */
} guest_run;

static inline char *copy_output(tw_wasi_t *w, uint32_t fd) {
  const uint8_t *d;
  size_t n;
  tw_wasi_output(w, fd, &d, &n);
  char *s = malloc(n + 1);
  if (s) {
    if (n) memcpy(s, d, n);
    s[n] = 0;
  }
  return s;
}

/* Runs `path` with `cfg` (stdout and stderr are captured unless the
 * config already says where they go).  Returns 0 when the guest ran
 * (whatever its outcome), -1 when it could not be set up (r->err says). */
static inline int guest_run_file(const char *path, tw_wasi_config cfg, guest_run *r) {
  memset(r, 0, sizeof *r);
  size_t len;
  char *bytes = slurp(path, &len);
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_wasi_t *wasi = NULL;
  tw_instance_t *inst = NULL;
  tw_extern imports[64], start;
  int rc = -1;
  for (int i = 1; i < 3; i++)
    if (cfg.stdio[i].kind == TW_WASI_STDIO_NULL) cfg.stdio[i].kind = TW_WASI_STDIO_BUFFER;
  if (!bytes) {
    snprintf(r->err.message, sizeof r->err.message, "cannot read %s", path);
    return -1;
  }
  if (tw_engine_new(NULL, &engine, &r->err) != TW_OK) goto done;
  if (tw_module_new(engine, (const uint8_t *)bytes, len, &module, &r->err) != TW_OK) goto done;
  if (tw_wasi_new(&cfg, &wasi, &r->err) != TW_OK) goto done;
  if (tw_store_new(engine, &store, &r->err) != TW_OK) goto done;
  if (tw_wasi_resolve_imports(wasi, store, module, imports, 64, &r->err) != TW_OK) goto done;
  if (tw_instance_new(store, module, imports, tw_module_import_count(module), &inst,
                      &r->err) != TW_OK)
    goto done;
  if (tw_instance_export(inst, "_start", 6, &start) != TW_OK) goto done;
  r->status = tw_func_call(store, start.of.func, NULL, 0, NULL, 0, &r->err);
  r->exited = tw_wasi_exited(wasi, &r->code);
  r->out = copy_output(wasi, 1);
  r->errout = copy_output(wasi, 2);
  rc = 0;
done:
  /* The context is freed first on purpose: the store's functions keep it
   * alive until tw_store_free. */
  tw_wasi_free(wasi);
  if (store) tw_store_free(store);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  free(bytes);
  return rc;
}

static inline void guest_run_free(guest_run *r) {
  free(r->out);
  free(r->errout);
}

/* Runs the CLI with argv (NULL-terminated, argv[0] ignored), stdin from
 * `in` (NULL: /dev/null).  Captures stdout and stderr; returns the exit
 * status, or -1 if it died by a signal. */
typedef struct cli_run {
  int status;
  char *out, *err;
} cli_run;

static inline int cli_exec(const char *const *args, const char *in, cli_run *r) {
  char outp[] = "/tmp/tw-cli-out-XXXXXX", errp[] = "/tmp/tw-cli-err-XXXXXX",
       inp[] = "/tmp/tw-cli-in-XXXXXX";
  int ofd = mkstemp(outp), efd = mkstemp(errp), ifd = mkstemp(inp);
  memset(r, 0, sizeof *r);
  r->status = -1;
  if (ofd < 0 || efd < 0 || ifd < 0) return -1;
  if (in && write(ifd, in, strlen(in)) != (ssize_t)strlen(in)) return -1;
  lseek(ifd, 0, SEEK_SET);
  size_t n = 0;
  while (args[n]) n++;
  char **argv = calloc(n + 2, sizeof *argv);
  argv[0] = (char *)TW_CLI_PATH;
  for (size_t i = 1; i < n; i++) argv[i] = (char *)args[i];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, ifd, 0);
  posix_spawn_file_actions_adddup2(&fa, ofd, 1);
  posix_spawn_file_actions_adddup2(&fa, efd, 2);
  pid_t pid;
  int st = 0;
  if (posix_spawn(&pid, TW_CLI_PATH, &fa, NULL, argv, environ) == 0 &&
      waitpid(pid, &st, 0) == pid)
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  posix_spawn_file_actions_destroy(&fa);
  free(argv);
  close(ofd);
  close(efd);
  close(ifd);
  r->out = slurp(outp, NULL);
  r->err = slurp(errp, NULL);
  unlink(outp);
  unlink(errp);
  unlink(inp);
  if (!r->out) r->out = strdup("");
  if (!r->err) r->err = strdup("");
  return r->status;
}

static inline void cli_run_free(cli_run *r) {
  free(r->out);
  free(r->err);
}

/* Number of lines in s (a final line without '\n' counts). */
static inline int line_count(const char *s) {
  int n = 0;
  for (const char *p = s; *p; p++)
    if (*p == '\n' || p[1] == 0) n++;
  return n;
}

#endif
