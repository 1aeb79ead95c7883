/* `tensor-wasm run`: load a module, give it WASI, call one export.
 *
 *   run FILE [--export NAME | --invoke NAME] [--args JSON] [--dir HOST[::GUEST]]
 *       [--dir-ro HOST[::GUEST]] [--env K=V | --env K] [--max-memory SIZE]
 *       [--timeout DURATION] [WORDS...] [-- GUEST-ARGS...]
 *
 * WORDS after FILE are the export's arguments when an export was named
 * (the older `--invoke NAME 1 2` form) and guest arguments otherwise (the
 * wasmtime habit: `run app.wasm a b`).  The guest's argv[0] is FILE.
 *
 * A deadline is a watchdog thread that, when it fires, interrupts the
 * store (the guest stops at its next loop back-edge or call) and the WASI
 * context (a guest blocked in poll_oneoff or a read wakes up). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tensorwasm/wasi.h"

#define MAX_LIST 256

typedef struct run_opts {
  const char *path;
  const char *export_name;
  const char *json_args;
  const char *words[MAX_LIST];
  size_t nwords;
  const char *guest_args[MAX_LIST];
  size_t nguest;
  tw_wasi_preopen dirs[MAX_LIST];
  size_t ndirs;
  char *dir_buf[MAX_LIST]; /* owned copies the preopens point into */
  const char *env[MAX_LIST];
  size_t nenv;
  char *env_buf[MAX_LIST];
  uint64_t max_memory; /* bytes; 0 = engine default */
  uint64_t timeout_ns; /* 0 = none */
  const char *timeout_text;
} run_opts;

static void run_usage(FILE *out) {
  fputs(
      "usage: tensor-wasm run FILE [OPTIONS] [WORDS...] [-- GUEST-ARGS...]\n"
      "\n"
      "Runs a WebAssembly module with WASI preview1.  With no --export, the\n"
      "WASI command entry _start runs if the module has it, else main.\n"
      "\n"
      "  --export NAME          call this export (no fallback)\n"
      "  --invoke NAME          the same; WORDS are then its arguments\n"
      "  --args JSON            arguments as a JSON array, e.g. [2, 40]\n"
      "  --dir HOST[::GUEST]    let the guest see directory HOST as GUEST\n"
      "  --dir-ro HOST[::GUEST] the same, read-only\n"
      "  --env NAME=VALUE       set a guest environment variable\n"
      "  --env NAME             pass the host's NAME through\n"
      "  --max-memory SIZE      cap each linear memory (e.g. 64MiB)\n"
      "  --timeout DURATION     stop the guest after this long (e.g. 500ms, 2s)\n"
      "  -h, --help             show this help\n"
      "\n"
      "Results: \"ok\" for none, the value for one, a JSON array for several;\n"
      "a WASI command's _start prints only what the guest writes.\n"
      "Exit status: the guest's proc_exit code; 134 on a trap or timeout;\n"
      "1 run-time error; 2 rejected input (usage, module, export, arguments).\n",
      out);
}

static void opts_free(run_opts *o) {
  for (size_t i = 0; i < o->ndirs; i++) free(o->dir_buf[i]);
  for (size_t i = 0; i < o->nenv; i++) free(o->env_buf[i]);
}

static int add_dir(run_opts *o, const char *spec, bool read_only) {
  if (o->ndirs == MAX_LIST) {
    cli_fail("too many --dir options (at most %d)", MAX_LIST);
    return -1;
  }
  char *copy = strdup(spec);
  if (!copy) return -1;
  o->dir_buf[o->ndirs] = copy;
  char *sep = strstr(copy, "::");
  const char *guest = copy;
  if (sep) {
    *sep = 0;
    guest = sep + 2;
  }
  if (!*copy || !*guest) {
    cli_fail("--dir %s: expected HOST or HOST::GUEST", spec);
    free(copy);
    return -1;
  }
  o->dirs[o->ndirs++] = (tw_wasi_preopen){copy, guest, read_only};
  return 0;
}

static int add_env(run_opts *o, const char *spec) {
  if (o->nenv == MAX_LIST) {
    cli_fail("too many --env options (at most %d)", MAX_LIST);
    return -1;
  }
  char *kv;
  if (!*spec || spec[0] == '=') {
    cli_fail("--env %s: expected NAME=VALUE or NAME", spec);
    return -1;
  }
  if (strchr(spec, '=')) {
    kv = strdup(spec);
  } else { /* NAME alone: the host's value, if it has one */
    const char *v = getenv(spec);
    if (!v) return 0;
    kv = malloc(strlen(spec) + strlen(v) + 2);
    if (kv) sprintf(kv, "%s=%s", spec, v);
  }
  if (!kv) return -1;
  o->env_buf[o->nenv] = kv;
  o->env[o->nenv++] = kv;
  return 0;
}

/* "--name VALUE" or "--name=VALUE": the value, or NULL if `arg` is not
 * this option.  Sets *bad when the value is missing. */
static const char *opt_value(const char *name, int argc, char **argv, int *i,
                             bool *bad) {
  size_t n = strlen(name);
  const char *arg = argv[*i];
  if (strncmp(arg, name, n) != 0) return NULL;
  if (arg[n] == '=') return arg + n + 1;
  if (arg[n] != 0) return NULL;
  if (*i + 1 >= argc) {
    cli_fail("%s needs a value (see tensor-wasm run --help)", name);
    *bad = true;
    return NULL;
  }
  return argv[++*i];
}

static int push(const char **list, size_t *n, const char *s) {
  if (*n == MAX_LIST) {
    cli_fail("too many arguments (at most %d)", MAX_LIST);
    return -1;
  }
  list[(*n)++] = s;
  return 0;
}

/* Returns 0, 1 for --help, -1 for a usage error (already printed). */
static int parse_opts(int argc, char **argv, run_opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *v, *a = argv[i];
    bool bad = false;
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++)
        if (push(o->guest_args, &o->nguest, argv[i]) != 0) return -1;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
    if ((v = opt_value("--export", argc, argv, &i, &bad)) ||
        (v = opt_value("--invoke", argc, argv, &i, &bad))) {
      o->export_name = v;
    } else if ((v = opt_value("--args", argc, argv, &i, &bad))) {
      o->json_args = v;
    } else if ((v = opt_value("--dir-ro", argc, argv, &i, &bad))) {
      if (add_dir(o, v, true) != 0) return -1;
    } else if ((v = opt_value("--dir", argc, argv, &i, &bad))) {
      if (add_dir(o, v, false) != 0) return -1;
    } else if ((v = opt_value("--env", argc, argv, &i, &bad))) {
      if (add_env(o, v) != 0) return -1;
    } else if ((v = opt_value("--max-memory", argc, argv, &i, &bad))) {
      if (cli_parse_size(v, &o->max_memory) != 0 || o->max_memory < 65536) {
        cli_fail("--max-memory %s: expected a size of at least 64KiB, "
                 "such as 65536, 64KiB, 16MiB or 1GiB", v);
        return -1;
      }
    } else if ((v = opt_value("--timeout", argc, argv, &i, &bad))) {
      if (cli_parse_duration(v, &o->timeout_ns) != 0) {
        cli_fail("--timeout %s: expected a duration such as 500ms, 2s or 1m", v);
        return -1;
      }
      o->timeout_text = v;
    } else if (bad) {
      return -1;
    } else if (strncmp(a, "--", 2) == 0) { /* "-5" stays a word */
      cli_fail("unknown option %s (see tensor-wasm run --help)", a);
      return -1;
    } else if (!o->path) {
      o->path = a;
    } else if (push(o->words, &o->nwords, a) != 0) {
      return -1;
    }
    if (bad) return -1;
  }
  if (!o->path) {
    cli_fail("run: no module given (see tensor-wasm run --help)");
    return -1;
  }
  return 0;
}

/* ---- watchdog ---------------------------------------------------------- */

typedef struct watchdog {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done, fired, started;
  uint64_t ns;
  tw_store_t *store;
  tw_wasi_t *wasi;
} watchdog;

static void *watchdog_main(void *arg) {
  watchdog *w = arg;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += (time_t)(w->ns / 1000000000u);
  until.tv_nsec += (long)(w->ns % 1000000000u);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&w->lock);
  while (!w->done) {
    if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT) {
      w->fired = true;
      tw_store_interrupt(w->store);
      tw_wasi_interrupt(w->wasi);
      break;
    }
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static int watchdog_start(watchdog *w, uint64_t ns, tw_store_t *store,
                          tw_wasi_t *wasi) {
  pthread_condattr_t attr;
  memset(w, 0, sizeof *w);
  w->ns = ns;
  w->store = store;
  w->wasi = wasi;
  pthread_mutex_init(&w->lock, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cond, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
    cli_fail("--timeout: cannot start the timer thread");
    return -1;
  }
  w->started = true;
  return 0;
}

/* Stops the watchdog; true if it had fired. */
static bool watchdog_stop(watchdog *w) {
  if (!w->started) return false;
  pthread_mutex_lock(&w->lock);
  w->done = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->cond);
  pthread_mutex_destroy(&w->lock);
  w->started = false;
  return w->fired;
}

/* ---- running ----------------------------------------------------------- */

/* Prints why a module was rejected, with the byte offset when known. */
static void print_load_error(const char *path, const tw_error *err) {
  char buf[512];
  tw_error_format(err, buf, sizeof buf);
  if (err->offset != SIZE_MAX)
    cli_fail("%s: %s (at byte offset %zu)", path, buf, err->offset);
  else
    cli_fail("%s: %s", path, buf);
}

/* After a trap: the guest's exit code if it called proc_exit, else the
 * trap's message and backtrace and TW_EXIT_TRAP. */
static int finish_trap(tw_wasi_t *wasi, const tw_error *err, bool timed_out,
                       const run_opts *o) {
  uint32_t code;
  if (tw_wasi_exited(wasi, &code)) {
    if (code <= TW_EXIT_GUEST_MAX) return (int)code;
    cli_fail("guest exit code %u is above %d; exiting with %d",
             code, TW_EXIT_GUEST_MAX, TW_EXIT_GUEST_MAX);
    return TW_EXIT_GUEST_MAX;
  }
  char buf[4096];
  tw_error_format(err, buf, sizeof buf);
  if (timed_out)
    fprintf(stderr, "tensor-wasm: %s: timed out after %s\n", o->path, o->timeout_text);
  fprintf(stderr, "trap: %s\n", buf);
  return TW_EXIT_TRAP;
}

/* Finds NAME, or _start, or main. */
static int find_entry(tw_instance_t *inst, const char *name, tw_func_t **out,
                      const char **chosen) {
  static const char *const defaults[] = {"_start", "main"};
  tw_extern ext;
  for (size_t i = 0; i < (name ? 1u : 2u); i++) {
    const char *n = name ? name : defaults[i];
    if (tw_instance_export(inst, n, strlen(n), &ext) != TW_OK) continue;
    if (ext.kind != TW_EXTERN_FUNC) {
      cli_fail("export \"%s\" is not a function", n);
      return -1;
    }
    *out = ext.of.func;
    *chosen = n;
    return 0;
  }
  if (name)
    cli_fail("module has no export named \"%s\"", name);
  else
    cli_fail("module exports neither _start nor main; name one with --export");
  return -1;
}

/* Builds the call's arguments from --args or the WORDS; -1 on a bad one. */
static int build_args(const run_opts *o, tw_func_t *fn, const char *name,
                      tw_val **out, size_t *n) {
  size_t np = tw_func_param_count(fn);
  size_t nwords = o->export_name ? o->nwords : 0; /* else guest args */
  if (o->json_args) return cli_parse_json_args(o->json_args, fn, name, out, n);
  if (nwords != np) {
    cli_fail("%s takes %zu argument%s, got %zu", name, np, np == 1 ? "" : "s",
             nwords);
    return -1;
  }
  tw_val *v = calloc(np + 1, sizeof *v);
  if (!v) return -1;
  for (size_t i = 0; i < np; i++) {
    tw_valtype t = tw_func_param_type(fn, i);
    if (cli_parse_word(o->words[i], t, &v[i]) != 0) {
      cli_fail("argument %zu of %s: \"%s\" is not a valid %s", i + 1, name,
               o->words[i], tw_valtype_name(t));
      free(v);
      return -1;
    }
  }
  *out = v;
  *n = np;
  return 0;
}

static tw_status make_wasi(const run_opts *o, tw_wasi_t **out, tw_error *err) {
  const char *argv[MAX_LIST + 1];
  size_t argc = 0;
  argv[argc++] = o->path;
  bool words_are_guest = !o->export_name; /* wasmtime's `run app.wasm a b` */
  for (size_t i = 0; words_are_guest && i < o->nwords; i++) argv[argc++] = o->words[i];
  for (size_t i = 0; i < o->nguest && argc <= MAX_LIST; i++) argv[argc++] = o->guest_args[i];
  tw_wasi_config cfg = {.args = argv, .nargs = argc, .env = o->env,
                        .nenv = o->nenv, .preopens = o->dirs,
                        .npreopens = o->ndirs};
  for (int i = 0; i < 3; i++)
    cfg.stdio[i] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_FD, .host_fd = i};
  return tw_wasi_new(&cfg, out, err);
}

static int run_module(run_opts *o) {
  uint8_t *bytes = NULL;
  size_t len = 0, nimports = 0, nargs = 0;
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_wasi_t *wasi = NULL;
  tw_instance_t *inst = NULL;
  tw_extern *imports = NULL;
  tw_func_t *fn = NULL;
  tw_val *params = NULL, *results = NULL;
  watchdog dog = {.started = false};
  const char *chosen = NULL;
  tw_error err;
  int rc = TW_EXIT_ERROR;
  tw_error_clear(&err);

  if (o->export_name && o->json_args && o->nwords) {
    cli_fail("give the arguments either as words or with --args, not both");
    rc = TW_EXIT_INVALID;
    goto done;
  }
  if (cli_read_file(o->path, &bytes, &len) != 0) goto done;
  tw_engine_config ecfg = {0};
  if (o->max_memory) {
    uint64_t pages = o->max_memory / 65536;
    ecfg.max_memory_pages = pages > 65536 ? 65536 : (uint32_t)pages;
  }
  if (tw_engine_new(&ecfg, &engine, &err) != TW_OK) {
    cli_fail("engine: %s", err.message);
    goto done;
  }
  if (tw_module_new(engine, bytes, len, &module, &err) != TW_OK) {
    print_load_error(o->path, &err);
    rc = err.status == TW_NOMEM ? TW_EXIT_ERROR : TW_EXIT_INVALID;
    goto done;
  }
  if (make_wasi(o, &wasi, &err) != TW_OK) {
    cli_fail("%s", err.message);
    goto done;
  }
  if (tw_store_new(engine, &store, &err) != TW_OK) {
    cli_fail("store: %s", err.message);
    goto done;
  }
  nimports = tw_module_import_count(module);
  imports = calloc(nimports + 1, sizeof *imports);
  if (!imports) goto done;
  if (tw_wasi_resolve_imports(wasi, store, module, imports, nimports, &err) != TW_OK) {
    cli_fail("%s: %s", o->path, err.message);
    goto done;
  }
  if (o->timeout_ns && watchdog_start(&dog, o->timeout_ns, store, wasi) != 0) goto done;
  if (tw_instance_new(store, module, imports, nimports, &inst, &err) != TW_OK) {
    bool timed_out = watchdog_stop(&dog);
    if (err.status == TW_TRAP) rc = finish_trap(wasi, &err, timed_out, o);
    else cli_fail("%s: %s", o->path, err.message);
    goto done;
  }
  if (find_entry(inst, o->export_name, &fn, &chosen) != 0 ||
      build_args(o, fn, chosen, &params, &nargs) != 0) {
    rc = TW_EXIT_INVALID;
    goto done;
  }
  size_t nr = tw_func_result_count(fn);
  results = calloc(nr + 1, sizeof *results);
  if (!results) goto done;
  tw_status s = tw_func_call(store, fn, params, nargs, results, nr, &err);
  bool timed_out = watchdog_stop(&dog);
  if (s == TW_TRAP) {
    fflush(stdout);
    rc = finish_trap(wasi, &err, timed_out, o);
    goto done;
  }
  if (s != TW_OK) {
    cli_fail("%s: %s", chosen, err.message);
    goto done;
  }
  if (strcmp(chosen, "_start") != 0) cli_print_results(stdout, results, nr);
  rc = TW_EXIT_OK;
done:
  watchdog_stop(&dog);
  free(results);
  free(params);
  free(imports);
  if (store) tw_store_free(store);
  tw_wasi_free(wasi);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  free(bytes);
  return rc;
}

int cli_cmd_run(int argc, char **argv) {
  run_opts *o = calloc(1, sizeof *o);
  if (!o) {
    cli_fail("out of memory");
    return TW_EXIT_ERROR;
  }
  int rc, p = parse_opts(argc, argv, o);
  if (p == 1) {
    run_usage(stdout);
    rc = TW_EXIT_OK;
  } else if (p < 0) {
    rc = TW_EXIT_INVALID;
  } else {
    rc = run_module(o);
  }
  opts_free(o);
  free(o);
  return rc;
}
