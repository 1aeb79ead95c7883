/* The `tensor-wasm` command line.
 *
 *   tensor-wasm version
 *   tensor-wasm validate FILE.wasm
 *   tensor-wasm run FILE.wasm [--invoke NAME] [ARGS...]
 *
 * One function per subcommand.  Exit status: 0 success, 1 any error (bad
 * usage, unreadable or rejected module, unresolved import, bad argument),
 * 2 the guest trapped.  Results go to stdout, one per line; diagnostics go
 * to stderr. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifndef TW_VERSION
#define TW_VERSION "unknown"
#endif

enum { EXIT_TRAP = 2 };

static void usage(FILE *out) {
  fputs("usage: tensor-wasm version\n"
        "       tensor-wasm validate FILE.wasm\n"
        "       tensor-wasm run FILE.wasm [--invoke NAME] [ARGS...]\n"
        "\n"
        "run: instantiates FILE with no imports and calls NAME (default\n"
        "_start, else main).  ARGS are parsed by the export's parameter\n"
        "types; results are printed one per line.\n",
        out);
}

/* Reads a whole file into a malloc'd buffer the caller frees. */
static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;
  if (!f) {
    fprintf(stderr, "tensor-wasm: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (;;) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      uint8_t *nbuf = realloc(buf, ncap);
      if (!nbuf) {
        fprintf(stderr, "tensor-wasm: %s: out of memory\n", path);
        goto fail;
      }
      buf = nbuf;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    fprintf(stderr, "tensor-wasm: %s: read error\n", path);
    goto fail;
  }
  fclose(f);
  *out = buf;
  *len = n;
  return 0;
fail:
  free(buf);
  fclose(f);
  return -1;
}

/* Prints a failed call's error ("trap: MESSAGE" plus backtrace for traps). */
static void print_error(const char *what, const tw_error *err) {
  char buf[4096];
  tw_error_format(err, buf, sizeof buf);
  if (buf[0] == '\0') snprintf(buf, sizeof buf, "%s", tw_status_message(err->status));
  if (err->status == TW_TRAP) {
    fprintf(stderr, "trap: %s\n", buf);
  } else if (err->offset != SIZE_MAX &&
             (err->status == TW_MALFORMED || err->status == TW_INVALID ||
              err->status == TW_UNSUPPORTED)) {
    fprintf(stderr, "%s: %s (at byte offset %zu)\n", what, buf, err->offset);
  } else {
    fprintf(stderr, "%s: %s\n", what, buf);
  }
}

/* Parses one command-line argument as a value of type `t`. */
static int parse_arg(const char *s, tw_valtype t, tw_val *out) {
  char *end = NULL;
  errno = 0;
  out->type = t;
  switch (t) {
  case TW_I32: {
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < INT32_MIN || v > (long long)UINT32_MAX) return -1;
    out->of.i32 = (int32_t)(uint32_t)v;
    return 0;
  }
  case TW_I64: {
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE && s[0] != '-') { /* allow the unsigned upper half */
      errno = 0;
      unsigned long long u = strtoull(s, &end, 10);
      if (errno || *end || end == s) return -1;
      out->of.i64 = (int64_t)u;
      return 0;
    }
    if (errno || *end || end == s) return -1;
    out->of.i64 = v;
    return 0;
  }
  case TW_F32: {
    float v = strtof(s, &end);
    if (*end || end == s) return -1;
    *out = tw_val_f32(v);
    return 0;
  }
  case TW_F64: {
    double v = strtod(s, &end);
    if (*end || end == s) return -1;
    *out = tw_val_f64(v);
    return 0;
  }
  case TW_FUNCREF:
  case TW_EXTERNREF:
    if (strcmp(s, "null") != 0) return -1;
    out->of.externref = NULL;
    if (t == TW_FUNCREF) out->of.funcref = NULL;
    return 0;
  default:
    return -1;
  }
}

/* Prints a float with the fewest digits that read back to the same value. */
static void print_double(double v, int max_digits, int is_f32) {
  if (isnan(v)) {
    printf("%snan\n", signbit(v) ? "-" : "");
    return;
  }
  if (isinf(v)) {
    printf("%sinf\n", v < 0 ? "-" : "");
    return;
  }
  char buf[64];
  for (int digits = 1; digits <= max_digits; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
  }
  printf("%s\n", buf);
}

static void print_result(tw_val v) {
  switch (v.type) {
  case TW_I32: printf("%" PRId32 "\n", v.of.i32); break;
  case TW_I64: printf("%" PRId64 "\n", v.of.i64); break;
  case TW_F32: print_double(tw_val_as_f32(v), 9, 1); break;
  case TW_F64: print_double(tw_val_as_f64(v), 17, 0); break;
  case TW_FUNCREF:
    if (v.of.funcref) printf("funcref:%p\n", (void *)v.of.funcref);
    else printf("null\n");
    break;
  case TW_EXTERNREF:
    if (v.of.externref) printf("externref:%p\n", v.of.externref);
    else printf("null\n");
    break;
  default: printf("<%s>\n", tw_valtype_name(v.type)); break;
  }
}

static int cmd_version(void) {
  printf("tensor-wasm %s\n", TW_VERSION);
  return 0;
}

static int cmd_validate(int argc, char **argv) {
  if (argc != 1) {
    usage(stderr);
    return 1;
  }
  uint8_t *bytes = NULL;
  size_t len = 0;
  tw_engine_t *engine = NULL;
  tw_error err;
  int rc = 1;
  tw_error_clear(&err);
  if (read_file(argv[0], &bytes, &len) != 0) return 1;
  if (tw_engine_new(NULL, &engine, &err) != TW_OK) {
    print_error("engine", &err);
    goto done;
  }
  if (tw_module_validate(engine, bytes, len, &err) != TW_OK) {
    print_error(argv[0], &err);
    goto done;
  }
  printf("ok\n");
  rc = 0;
done:
  if (engine) tw_engine_free(engine);
  free(bytes);
  return rc;
}

/* Finds the function to call: NAME, or _start, or main. */
static int find_entry(tw_instance_t *inst, const char *name, tw_func_t **out,
                      const char **chosen) {
  static const char *const defaults[] = {"_start", "main"};
  tw_extern ext;
  for (size_t i = 0; i < (name ? 1u : 2u); i++) {
    const char *n = name ? name : defaults[i];
    if (tw_instance_export(inst, n, strlen(n), &ext) != TW_OK) continue;
    if (ext.kind != TW_EXTERN_FUNC) {
      fprintf(stderr, "tensor-wasm: export \"%s\" is not a function\n", n);
      return -1;
    }
    *out = ext.of.func;
    *chosen = n;
    return 0;
  }
  if (name)
    fprintf(stderr, "tensor-wasm: no export named \"%s\"\n", name);
  else
    fprintf(stderr, "tensor-wasm: module exports neither _start nor main; "
                    "use --invoke NAME\n");
  return -1;
}

static int cmd_run(int argc, char **argv) {
  const char *path = NULL, *name = NULL;
  char **args = calloc((size_t)argc + 1, sizeof *args);
  size_t nargs = 0;
  uint8_t *bytes = NULL;
  size_t len = 0;
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_instance_t *inst = NULL;
  tw_func_t *fn = NULL;
  tw_val *params = NULL, *results = NULL;
  tw_error err;
  int rc = 1;
  tw_error_clear(&err);
  if (!args) goto done;

  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--invoke") == 0 || strcmp(argv[i], "--export") == 0) {
      if (i + 1 >= argc) {
        usage(stderr);
        goto done;
      }
      name = argv[++i];
    } else if (!path) {
      path = argv[i];
    } else {
      args[nargs++] = argv[i];
    }
  }
  if (!path) {
    usage(stderr);
    goto done;
  }

  if (read_file(path, &bytes, &len) != 0) goto done;
  if (tw_engine_new(NULL, &engine, &err) != TW_OK) {
    print_error("engine", &err);
    goto done;
  }
  if (tw_module_new(engine, bytes, len, &module, &err) != TW_OK) {
    print_error(path, &err);
    goto done;
  }
  if (tw_module_import_count(module) > 0) {
    static const char *const kinds[] = {"func", "table", "memory", "global"};
    tw_import_desc imp = tw_module_import(module, 0);
    fprintf(stderr,
            "tensor-wasm: %s: unresolved import \"%.*s\" \"%.*s\" (%s); "
            "`run` provides no imports\n",
            path, (int)imp.module.len, imp.module.data, (int)imp.name.len,
            imp.name.data, imp.kind <= TW_EXTERN_GLOBAL ? kinds[imp.kind] : "?");
    goto done;
  }
  if (tw_store_new(engine, &store, &err) != TW_OK) {
    print_error("store", &err);
    goto done;
  }
  if (tw_instance_new(store, module, NULL, 0, &inst, &err) != TW_OK) {
    print_error(path, &err);
    rc = err.status == TW_TRAP ? EXIT_TRAP : 1;
    goto done;
  }

  const char *chosen = NULL;
  if (find_entry(inst, name, &fn, &chosen) != 0) goto done;
  size_t np = tw_func_param_count(fn), nr = tw_func_result_count(fn);
  if (nargs != np) {
    fprintf(stderr, "tensor-wasm: %s takes %zu argument%s, got %zu\n", chosen,
            np, np == 1 ? "" : "s", nargs);
    goto done;
  }
  params = calloc(np + 1, sizeof *params);
  results = calloc(nr + 1, sizeof *results);
  if (!params || !results) goto done;
  for (size_t i = 0; i < np; i++) {
    tw_valtype t = tw_func_param_type(fn, i);
    if (parse_arg(args[i], t, &params[i]) != 0) {
      fprintf(stderr, "tensor-wasm: argument %zu: \"%s\" is not a valid %s\n",
              i + 1, args[i], tw_valtype_name(t));
      goto done;
    }
  }
  if (tw_func_call(store, fn, params, np, results, nr, &err) != TW_OK) {
    print_error(chosen, &err);
    rc = err.status == TW_TRAP ? EXIT_TRAP : 1;
    goto done;
  }
  for (size_t i = 0; i < nr; i++) print_result(results[i]);
  rc = 0;
done:
  free(results);
  free(params);
  if (store) tw_store_free(store);
  if (module) tw_module_free(module);
  if (engine) tw_engine_free(engine);
  free(bytes);
  free(args);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    return cmd_version();
  if (strcmp(cmd, "validate") == 0) return cmd_validate(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "tensor-wasm: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return 1;
}
