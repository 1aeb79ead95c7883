/* `tensor-wasm snapshot`: capture a pre-initialised image of a module, and
 * the warm start behind `tensor-wasm run --snapshot`.
 *
 *   snapshot create FILE -o OUT [--init EXPORT] [--max-memory SIZE]
 *
 * The module gets WASI with the host's stdout and stderr (an initialiser
 * may print) and no stdin, arguments, environment or directories: what it
 * builds from those would not be there when the snapshot is restored
 * elsewhere.  `snapshot save` and `snapshot restore` talk to a server's
 * POST /snapshot/save and /snapshot/restore (client.c, through
 * cli_cmd_client, with the other client commands' token and tenant
 * handling).
 *
 * The two entry points are declared in cli.h:
 *   int cli_cmd_snapshot(int argc, char **argv);
 *   tw_status cli_snapshot_spawn(const char *path, tw_store_t *store,
 *                                tw_module_t *module,
 *                                const tw_extern *imports, size_t nimports,
 *                                tw_instance_t **out, tw_error *err); */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tensorwasm/snapshot.h"
#include "tensorwasm/wasi.h"


static void snapshot_usage(FILE *out) {
  fputs(
      "usage: tensor-wasm snapshot create FILE -o OUT [--init EXPORT]\n"
      "                                   [--max-memory SIZE]\n"
      "       tensor-wasm snapshot save|restore ... --server URL  (see\n"
      "                   tensor-wasm snapshot save --help)\n"
      "\n"
      "Instantiates FILE, runs its initialiser and writes the resulting state\n"
      "(memory, globals, tables, dropped segments) to OUT, a snapshot that\n"
      "`tensor-wasm run --snapshot OUT FILE` starts from without running the\n"
      "initialiser again.\n"
      "\n"
      "  -o, --output OUT   where to write the snapshot (replaced atomically)\n"
      "  --init EXPORT      the initialiser to run; default: wizer.initialize,\n"
      "                     else _initialize (WASI reactors), else none\n"
      "  --max-memory SIZE  cap the linear memory (e.g. 64MiB)\n"
      "  -h, --help         show this help\n"
      "\n"
      "Exit status: 0 written; 1 run-time error; 2 rejected input (usage,\n"
      "module, missing initialiser, state that cannot be captured); 134 the\n"
      "initialiser trapped.\n",
      out);
}

typedef struct create_opts {
  const char *path, *out, *init;
  uint64_t max_memory;
} create_opts;

/* "--name VALUE" or "--name=VALUE"; NULL when `argv[*i]` is not `name`. */
static const char *opt_value(const char *name, int argc, char **argv, int *i,
                             bool *bad) {
  size_t n = strlen(name);
  const char *arg = argv[*i];
  if (strncmp(arg, name, n) != 0) return NULL;
  if (arg[n] == '=') return arg + n + 1;
  if (arg[n] != 0) return NULL;
  if (*i + 1 >= argc) {
    cli_fail("%s needs a value (see tensor-wasm snapshot --help)", name);
    *bad = true;
    return NULL;
  }
  return argv[++*i];
}

/* 0, 1 for --help, -1 for a usage error (printed). */
static int parse_create(int argc, char **argv, create_opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *v, *a = argv[i];
    bool bad = false;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
    if ((v = opt_value("-o", argc, argv, &i, &bad)) ||
        (v = opt_value("--output", argc, argv, &i, &bad))) {
      o->out = v;
    } else if ((v = opt_value("--init", argc, argv, &i, &bad))) {
      o->init = v;
    } else if ((v = opt_value("--max-memory", argc, argv, &i, &bad))) {
      if (cli_parse_size(v, &o->max_memory) != 0 || o->max_memory < 65536) {
        cli_fail("--max-memory %s: expected a size of at least 64KiB", v);
        return -1;
      }
    } else if (bad) {
      return -1;
    } else if (a[0] == '-') {
      cli_fail("unknown option %s (see tensor-wasm snapshot --help)", a);
      return -1;
    } else if (!o->path) {
      o->path = a;
    } else {
      cli_fail("snapshot create takes one FILE; \"%s\" is extra", a);
      return -1;
    }
  }
  if (!o->path || !o->out) {
    cli_fail("snapshot create needs FILE and -o OUT (see tensor-wasm "
             "snapshot --help)");
    return -1;
  }
  return 0;
}

static int exit_for(const tw_snapshot_error *err) {
  switch (err->kind) {
  case TW_SNAPSHOT_ERR_INIT_FAILED: return TW_EXIT_TRAP;
  case TW_SNAPSHOT_ERR_NO_INITIALIZER:
  case TW_SNAPSHOT_ERR_UNSUPPORTED:
  case TW_SNAPSHOT_ERR_ARG: return TW_EXIT_INVALID;
  case TW_SNAPSHOT_ERR_ENGINE:
    return err->base.status == TW_TRAP ? TW_EXIT_TRAP : TW_EXIT_ERROR;
  default: return TW_EXIT_ERROR;
  }
}

static tw_status make_wasi(const char *path, tw_wasi_t **out, tw_error *err) {
  const char *args[] = {path};
  tw_wasi_config cfg = {.args = args, .nargs = 1};
  for (int i = 1; i < 3; i++)
    cfg.stdio[i] = (tw_wasi_stdio){.kind = TW_WASI_STDIO_FD, .host_fd = i};
  return tw_wasi_new(&cfg, out, err);
}

static int create(const create_opts *o) {
  uint8_t *bytes = NULL;
  size_t len = 0, n = 0;
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_wasi_t *wasi = NULL;
  tw_extern *imports = NULL;
  tw_snapshot_t *snap = NULL;
  tw_error err;
  tw_snapshot_error serr;
  int rc = TW_EXIT_ERROR;
  tw_error_clear(&err);
  if (cli_read_file(o->path, &bytes, &len) != 0) goto done;
  tw_engine_config ecfg = {0};
  if (o->max_memory) {
    uint64_t pages = o->max_memory / 65536;
    ecfg.max_memory_pages = pages > 65536 ? 65536 : (uint32_t)pages;
  }
  if (tw_engine_new(&ecfg, &engine, &err) != TW_OK ||
      tw_store_new(engine, &store, &err) != TW_OK) {
    cli_fail("engine: %s", err.message);
    goto done;
  }
  if (tw_module_new(engine, bytes, len, &module, &err) != TW_OK) {
    cli_fail("%s: %s", o->path, err.message);
    rc = err.status == TW_NOMEM ? TW_EXIT_ERROR : TW_EXIT_INVALID;
    goto done;
  }
  n = tw_module_import_count(module);
  if (!(imports = calloc(n + 1, sizeof *imports))) goto done;
  if (make_wasi(o->path, &wasi, &err) != TW_OK ||
      tw_wasi_resolve_imports(wasi, store, module, imports, n, &err) != TW_OK) {
    cli_fail("%s: %s", o->path, err.message);
    goto done;
  }
  tw_snapshot_capture_options copt = {.init_name = o->init};
  if (tw_snapshot_capture_file(store, module, imports, n, &copt, o->out, &snap,
                               &serr) != TW_OK) {
    char buf[4096];
    tw_error_format(&serr.base, buf, sizeof buf);
    cli_fail("%s: cannot snapshot: %s", o->path, buf);
    rc = exit_for(&serr);
    goto done;
  }
  const char *init = tw_snapshot_initializer(snap);
  printf("%s: %llu bytes, %u memory pages, initialiser %s\n", o->out,
         (unsigned long long)tw_snapshot_input_len(snap),
         tw_snapshot_memory_pages(snap), *init ? init : "(none)");
  rc = TW_EXIT_OK;
done:
  tw_snapshot_free(snap);
  free(imports);
  if (store) tw_store_free(store);
  tw_wasi_free(wasi);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  free(bytes);
  return rc;
}

int cli_cmd_snapshot(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
    snapshot_usage(argc < 1 ? stderr : stdout);
    return argc < 1 ? TW_EXIT_INVALID : TW_EXIT_OK;
  }
  if (strcmp(argv[0], "save") == 0 || strcmp(argv[0], "restore") == 0) {
    /* The client takes them as the two words "snapshot save|restore". */
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) {
      cli_fail("out of memory");
      return TW_EXIT_ERROR;
    }
    args[0] = (char *)"snapshot";
    memcpy(args + 1, argv, (size_t)argc * sizeof *args);
    int rc = cli_cmd_client(argc + 1, args);
    free(args);
    return rc;
  }
  if (strcmp(argv[0], "create") != 0) {
    cli_fail("unknown snapshot command \"%s\" (see tensor-wasm snapshot "
             "--help)", argv[0]);
    return TW_EXIT_INVALID;
  }
  create_opts o = {0};
  int p = parse_create(argc - 1, argv + 1, &o);
  if (p == 1) {
    snapshot_usage(stdout);
    return TW_EXIT_OK;
  }
  return p < 0 ? TW_EXIT_INVALID : create(&o);
}
