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
 * The run goes through the executor like every gateway invocation: its
 * ticker enforces --timeout (the guest stops at its next loop back-edge or
 * call, and a guest blocked in poll_oneoff or a read wakes up), and the
 * executor's spans describe it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tensorwasm/exec.h"
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
  const char *snapshot; /* --snapshot: start from this pre-initialised image */
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
      "  --snapshot PATH        start from this snapshot (tensor-wasm snapshot\n"
      "                         create); a rejected one means a cold start\n"
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
    } else if ((v = opt_value("--snapshot", argc, argv, &i, &bad))) {
      o->snapshot = v;
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

/* A guest's proc_exit code as our exit status. */
static int exit_status(uint32_t code) {
  if (code <= TW_EXIT_GUEST_MAX) return (int)code;
  cli_fail("guest exit code %u is above %d; exiting with %d", code,
           TW_EXIT_GUEST_MAX, TW_EXIT_GUEST_MAX);
  return TW_EXIT_GUEST_MAX;
}

/* A failed spawn or call: the message, and the documented exit status. */
static int report(const run_opts *o, const char *what, const tw_exec_error *xe) {
  char buf[4096];
  switch (xe->kind) {
    case TW_EXEC_ERR_TIMEOUT:
      fflush(stdout);
      fprintf(stderr, "tensor-wasm: %s: timed out after %s\n", o->path,
              o->timeout_text);
      fprintf(stderr, "trap: %s\n", tw_trap_message(TW_TRAP_INTERRUPTED));
      return TW_EXIT_TRAP;
    case TW_EXEC_ERR_TRAP:
    case TW_EXEC_ERR_FUEL_EXHAUSTED:
    case TW_EXEC_ERR_CALL_DEPTH_EXCEEDED:
      fflush(stdout);
      tw_error_format(&xe->base, buf, sizeof buf);
      fprintf(stderr, "trap: %s\n", buf);
      return TW_EXIT_TRAP;
    case TW_EXEC_ERR_INVALID_MODULE:
    case TW_EXEC_ERR_MODULE_TOO_LARGE:
      print_load_error(o->path, &xe->base);
      return TW_EXIT_INVALID;
    case TW_EXEC_ERR_MISSING_EXPORT:
      cli_fail("module has no export named \"%s\"", what);
      return TW_EXIT_INVALID;
    case TW_EXEC_ERR_INVALID_ARGS:
    case TW_EXEC_ERR_TOO_MANY_ARGS:
      cli_fail("%s: %s", what, xe->base.message);
      return TW_EXIT_INVALID;
    default:
      cli_fail("%s: %s", what, xe->base.message);
      return TW_EXIT_ERROR;
  }
}

/* The export to call: NAME, or _start, or main. */
static const char *entry_name(const run_opts *o, tw_exec_module_t *m) {
  if (o->export_name) return o->export_name;
  if (tw_exec_module_has_export(m, "_start")) return "_start";
  if (tw_exec_module_has_export(m, "main")) return "main";
  cli_fail("module exports neither _start nor main; name one with --export");
  return NULL;
}

/* Builds the call's arguments from --args or the WORDS; -1 on a bad one. */
static int build_args(const run_opts *o, const tw_valtype *types, size_t np,
                      const char *name, tw_val **out, size_t *n) {
  size_t nwords = o->export_name ? o->nwords : 0; /* else guest args */
  if (o->json_args)
    return cli_parse_json_args(o->json_args, types, np, name, out, n);
  if (nwords != np) {
    cli_fail("%s takes %zu argument%s, got %zu", name, np, np == 1 ? "" : "s",
             nwords);
    return -1;
  }
  tw_val *v = calloc(np + 1, sizeof *v);
  if (!v) return -1;
  for (size_t i = 0; i < np; i++) {
    if (cli_parse_word(o->words[i], types[i], &v[i]) != 0) {
      cli_fail("argument %zu of %s: \"%s\" is not a valid %s", i + 1, name,
               o->words[i], tw_valtype_name(types[i]));
      free(v);
      return -1;
    }
  }
  *out = v;
  *n = np;
  return 0;
}

/* The guest's argv: FILE, then the words (when no export was named: the
 * wasmtime habit `run app.wasm a b`), then what follows `--`. */
static size_t guest_argv(const run_opts *o, const char **argv) {
  size_t argc = 0;
  argv[argc++] = o->path;
  for (size_t i = 0; !o->export_name && i < o->nwords; i++)
    argv[argc++] = o->words[i];
  for (size_t i = 0; i < o->nguest && argc <= MAX_LIST; i++)
    argv[argc++] = o->guest_args[i];
  return argc;
}

/* Everything goes through the executor, as the gateway's invocations do:
 * the same limits, deadlines, spans and module cache. */
static int run_module(run_opts *o) {
  uint8_t *bytes = NULL;
  size_t len = 0, nargs = 0, np = 0;
  tw_exec_t *exec = NULL;
  tw_exec_module_t *module = NULL;
  tw_instance_id id = 0;
  bool spawned = false;
  tw_val *params = NULL;
  tw_valtype types[TW_EXEC_MAX_ARGS];
  tw_exec_result r = {0};
  tw_exec_error xe;
  int rc = TW_EXIT_ERROR;
  memset(&xe, 0, sizeof xe);

  if (o->export_name && o->json_args && o->nwords) {
    cli_fail("give the arguments either as words or with --args, not both");
    rc = TW_EXIT_INVALID;
    goto done;
  }
  if (cli_read_file(o->path, &bytes, &len) != 0) goto done;
  tw_exec_config ecfg = {.max_memory_bytes = o->max_memory ? o->max_memory
                                                           : 4ull << 30,
                         .max_module_bytes = len > (64u << 20) ? len : 0};
  if (tw_exec_new(&ecfg, &exec, &xe) != TW_OK) {
    cli_fail("executor: %s", xe.base.message);
    goto done;
  }
  if (tw_exec_module_load(exec, bytes, len, &module, &xe) != TW_OK) {
    rc = report(o, o->path, &xe);
    goto done;
  }
  const char *name = entry_name(o, module);
  if (!name) {
    rc = TW_EXIT_INVALID;
    goto done;
  }
  const char *argv[MAX_LIST + 1];
  tw_wasi_config wcfg = {.args = argv, .nargs = guest_argv(o, argv),
                         .env = o->env, .nenv = o->nenv, .preopens = o->dirs,
                         .npreopens = o->ndirs};
  for (int i = 0; i < 3; i++)
    wcfg.stdio[i] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_FD, .host_fd = i};
  uint64_t deadline_ms = (o->timeout_ns + 999999) / 1000000;
  tw_spawn_config scfg = {.deadline_ms = deadline_ms, .wasi = &wcfg,
                          .snapshot_path = o->snapshot};
  if (tw_exec_spawn_instance_module(exec, &scfg, module, &id, &xe) != TW_OK) {
    rc = r.exited ? exit_status(r.exit_code) : report(o, o->path, &xe);
    goto done;
  }
  spawned = true;
  if (tw_exec_export_params(exec, id, name, types, TW_EXEC_MAX_ARGS, &np,
                            &xe) != TW_OK) {
    rc = report(o, name, &xe);
    goto done;
  }
  if (np > TW_EXEC_MAX_ARGS ||
      build_args(o, types, np, name, &params, &nargs) != 0) {
    rc = TW_EXIT_INVALID;
    goto done;
  }
  spawned = false; /* the call below terminates it whatever happens */
  if (tw_exec_call_export_with_args_then_terminate(exec, id, name, params,
                                                   nargs, &r, &xe) != TW_OK) {
    rc = report(o, name, &xe);
    goto done;
  }
  if (r.exited) {
    rc = exit_status(r.exit_code);
    goto done;
  }
  if (strcmp(name, "_start") != 0) cli_print_results(stdout, r.values, r.count);
  rc = TW_EXIT_OK;
done:
  if (spawned) tw_exec_terminate(exec, id, NULL);
  tw_exec_result_free(&r);
  free(params);
  tw_exec_module_free(module);
  tw_exec_free(exec);
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
