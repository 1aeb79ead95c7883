/* tw-spectest: runs WebAssembly spec scripts (.wast) against the engine.
 *
 *   tw-spectest [--verbose] [--no-fork] [--roundtrip] [FILE.wast | DIR]...
 *
 * With no path it runs every .wast in $TW_WASM_TESTSUITE, else in the
 * directory compiled in as TW_DEFAULT_TESTSUITE.  Each script is converted
 * with `wast2json` (default features, no flags) into a fresh temporary
 * directory, and its commands are executed in order in one store that is
 * made for that file alone.  Each file runs in a child process, so a crash
 * in the engine is reported as a failure of that file (with the line of the
 * command in progress) and never takes the other files down.
 *
 * Invariants: a command counts as passed only when it behaved exactly as the
 * script expects; modules in text format (assert_malformed on .wat) cannot
 * apply to a binary-only engine and are counted apart, never as passed.  A
 * missing suite or a missing wast2json is reported as SKIPPED (exit 77),
 * never as a pass.  Exit status is 0 only when nothing failed. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifndef TW_DEFAULT_TESTSUITE
#define TW_DEFAULT_TESTSUITE "../shared/wasm-testsuite/core"
#endif

enum { EXIT_SKIP = 77, FILE_TIMEOUT_S = 600, TEXT_LINES_MAX = 4096 };

/* Commands deliberately not run: (file, line, reason).  Keep it empty; an
 * entry here is a known engine gap and is printed in every summary. */
typedef struct exclusion {
  const char *file; /* basename, e.g. "memory.wast" */
  int line;
  const char *reason;
} exclusion;
static const exclusion EXCLUSIONS[] = {
    {NULL, 0, NULL} /* sentinel */
};

/* Counts for one file, in memory shared with the child that runs it. */
typedef struct file_result {
  int passed, failed, text_na, excluded;
  int line;      /* line of the command in progress */
  int finished;  /* the child got to the end normally */
  int ntext;     /* text-format lines recorded below */
  int text_lines[TEXT_LINES_MAX];
} file_result;

typedef struct named {
  char *name;
  size_t len;
  tw_instance_t *inst;
} named;

typedef struct named_list {
  named *items;
  size_t n, cap;
} named_list;

/* The built-in `spectest` module: objects made once per store. */
typedef struct spectest {
  tw_func_t *print, *print_i32, *print_i64, *print_f32, *print_f64,
      *print_i32_f32, *print_f64_f64;
  tw_global_t *global_i32, *global_i64, *global_f32, *global_f64;
  tw_table_t *table;
  tw_memory_t *memory;
} spectest;

typedef struct runner {
  const char *file;      /* basename of the .wast, for messages */
  const char *json_dir;  /* where wast2json wrote the modules */
  tw_engine_t *engine;
  tw_store_t *store;
  spectest st;
  tw_instance_t *current;
  named_list names;      /* "$name" -> instance */
  named_list registry;   /* `register ... as` name -> instance */
  file_result *res;
} runner;

static bool g_verbose;
/* --roundtrip: every module that compiles is serialised and deserialised
 * before use, so the whole suite also checks compiled-module blobs. */
static bool g_roundtrip;

/* ---- small helpers --------------------------------------------------------- */

static void set_err(tw_error *err, tw_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(tw_error *err, tw_status s, const char *fmt, ...) {
  va_list ap;
  tw_error_clear(err);
  err->status = s;
  err->offset = SIZE_MAX;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

/* The message of an error, falling back to the status or trap text. */
static const char *err_text(const tw_error *err) {
  if (err->message[0]) return err->message;
  if (err->status == TW_TRAP) return tw_trap_message(err->trap);
  return tw_status_message(err->status);
}

static const char *basename_of(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return -1;
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

static const char *jstr(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static void fail(runner *r, int line, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(runner *r, int line, const char *cmd, const char *fmt, ...) {
  va_list ap;
  r->res->failed++;
  printf("%s:%d: %s: ", r->file, line, cmd);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static bool named_add(named_list *l, const char *name, size_t len,
                      tw_instance_t *inst) {
  for (size_t i = 0; i < l->n; i++)
    if (l->items[i].len == len && memcmp(l->items[i].name, name, len) == 0) {
      l->items[i].inst = inst; /* a later definition shadows */
      return true;
    }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    named *items = realloc(l->items, cap * sizeof *items);
    if (!items) return false;
    l->items = items;
    l->cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return false;
  memcpy(copy, name, len);
  copy[len] = '\0';
  l->items[l->n++] = (named){copy, len, inst};
  return true;
}

static tw_instance_t *named_find(const named_list *l, const char *name,
                                 size_t len) {
  for (size_t i = 0; i < l->n; i++)
    if (l->items[i].len == len && memcmp(l->items[i].name, name, len) == 0)
      return l->items[i].inst;
  return NULL;
}

static void named_free(named_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->items[i].name);
  free(l->items);
  *l = (named_list){0};
}

/* ---- values ---------------------------------------------------------------- */

/* A spec externref N is the host pointer N+1 (so that N = 0 is not null). */
static void *externref_of(unsigned long long n) { return (void *)(uintptr_t)(n + 1); }

static bool valtype_of(const char *s, tw_valtype *out) {
  static const struct { const char *name; tw_valtype t; } types[] = {
      {"i32", TW_I32}, {"i64", TW_I64}, {"f32", TW_F32}, {"f64", TW_F64},
      {"v128", TW_V128}, {"funcref", TW_FUNCREF}, {"externref", TW_EXTERNREF}};
  for (size_t i = 0; s && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(s, types[i].name) == 0) {
      *out = types[i].t;
      return true;
    }
  return false;
}

static bool parse_u64(const char *s, unsigned long long *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  *out = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0';
}

/* Parses an argument value; on failure writes why. */
static bool parse_arg(const json_t *jv, tw_val *out, char *why, size_t cap) {
  const char *type = jstr(jv, "type");
  const char *value = json_string_value(json_object_get(jv, "value"));
  unsigned long long u = 0;
  tw_valtype t;
  if (!valtype_of(type, &t)) {
    snprintf(why, cap, "unknown value type %s", type ? type : "(none)");
    return false;
  }
  out->type = t;
  bool is_null = value && strcmp(value, "null") == 0;
  switch (t) {
  case TW_I32: case TW_I64: case TW_F32: case TW_F64:
    if (!parse_u64(value, &u)) break;
    if (t == TW_I32) out->of.i32 = (int32_t)(uint32_t)u;
    else if (t == TW_I64) out->of.i64 = (int64_t)u;
    else if (t == TW_F32) out->of.f32_bits = (uint32_t)u;
    else out->of.f64_bits = (uint64_t)u;
    return true;
  case TW_EXTERNREF:
    if (is_null) { out->of.externref = NULL; return true; }
    if (!parse_u64(value, &u)) break;
    out->of.externref = externref_of(u);
    return true;
  case TW_FUNCREF:
    if (is_null) { out->of.funcref = NULL; return true; }
    snprintf(why, cap, "a non-null funcref argument cannot be made by the runner");
    return false;
  default:
    snprintf(why, cap, "%s values cannot pass through the embedding API", type);
    return false;
  }
  snprintf(why, cap, "bad %s value \"%s\"", type, value ? value : "(none)");
  return false;
}

static void fmt_val(tw_val v, char *buf, size_t cap) {
  switch (v.type) {
  case TW_I32:
    snprintf(buf, cap, "i32:%" PRId32 " (0x%08" PRIx32 ")", v.of.i32, (uint32_t)v.of.i32);
    break;
  case TW_I64:
    snprintf(buf, cap, "i64:%" PRId64 " (0x%016" PRIx64 ")", v.of.i64, (uint64_t)v.of.i64);
    break;
  case TW_F32:
    snprintf(buf, cap, "f32:%.9g (0x%08" PRIx32 ")", (double)tw_val_as_f32(v), v.of.f32_bits);
    break;
  case TW_F64:
    snprintf(buf, cap, "f64:%.17g (0x%016" PRIx64 ")", tw_val_as_f64(v), v.of.f64_bits);
    break;
  case TW_FUNCREF:
    snprintf(buf, cap, v.of.funcref ? "funcref:non-null" : "funcref:null");
    break;
  case TW_EXTERNREF:
    if (!v.of.externref) snprintf(buf, cap, "externref:null");
    else snprintf(buf, cap, "externref:%" PRIuPTR, (uintptr_t)v.of.externref - 1);
    break;
  default:
    snprintf(buf, cap, "%s:?", tw_valtype_name(v.type));
    break;
  }
}

static void fmt_vals(const tw_val *v, size_t n, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, cap, "[");
  for (size_t i = 0; i < n && used < cap; i++) {
    char one[96];
    fmt_val(v[i], one, sizeof one);
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", one);
  }
  if (used < cap) snprintf(buf + used, cap - used, "]");
}

static void fmt_expected(const json_t *exp, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "[");
  size_t i;
  json_t *e;
  json_array_foreach(exp, i, e) {
    if (used >= cap) break;
    const char *value = json_string_value(json_object_get(e, "value"));
    const char *type = jstr(e, "type");
    used += (size_t)snprintf(buf + used, cap - used, "%s%s:%s", i ? ", " : "",
                             type ? type : "?", value ? value : "?");
  }
  if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Does `got` match the expected JSON value (including nan:canonical and
 * nan:arithmetic patterns)? */
static bool value_matches(const json_t *exp, tw_val got) {
  const char *value = json_string_value(json_object_get(exp, "value"));
  unsigned long long u = 0;
  tw_valtype t;
  if (!valtype_of(jstr(exp, "type"), &t) || t != got.type || !value) return false;
  switch (t) {
  case TW_F32:
    if (strcmp(value, "nan:canonical") == 0)
      return (got.of.f32_bits & 0x7fffffffu) == 0x7fc00000u;
    if (strcmp(value, "nan:arithmetic") == 0)
      return (got.of.f32_bits & 0x7fc00000u) == 0x7fc00000u;
    return parse_u64(value, &u) && got.of.f32_bits == (uint32_t)u;
  case TW_F64:
    if (strcmp(value, "nan:canonical") == 0)
      return (got.of.f64_bits & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
    if (strcmp(value, "nan:arithmetic") == 0)
      return (got.of.f64_bits & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
    return parse_u64(value, &u) && got.of.f64_bits == (uint64_t)u;
  case TW_I32:
    return parse_u64(value, &u) && (uint32_t)got.of.i32 == (uint32_t)u;
  case TW_I64:
    return parse_u64(value, &u) && (uint64_t)got.of.i64 == (uint64_t)u;
  case TW_FUNCREF: /* a non-null expectation means "some function" */
    return strcmp(value, "null") == 0 ? got.of.funcref == NULL : got.of.funcref != NULL;
  case TW_EXTERNREF:
    if (strcmp(value, "null") == 0) return got.of.externref == NULL;
    return parse_u64(value, &u) && got.of.externref == externref_of(u);
  default:
    return false;
  }
}

/* ---- the spectest module -------------------------------------------------- */

typedef struct print_sig {
  const char *name;
  size_t nparams;
  tw_valtype params[2];
} print_sig;

static const print_sig PRINT_SIGS[] = {
    {"print", 0, {0}},
    {"print_i32", 1, {TW_I32}},
    {"print_i64", 1, {TW_I64}},
    {"print_f32", 1, {TW_F32}},
    {"print_f64", 1, {TW_F64}},
    {"print_i32_f32", 2, {TW_I32, TW_F32}},
    {"print_f64_f64", 2, {TW_F64, TW_F64}},
};

static tw_status spectest_print(tw_caller_t *caller, void *env, uint64_t *slots,
                                tw_error *err) {
  const print_sig *sig = env;
  (void)caller;
  (void)err;
  if (!g_verbose) return TW_OK;
  printf("  spectest.%s(", sig->name);
  for (size_t i = 0; i < sig->nparams; i++) {
    tw_val v = {.type = sig->params[i]};
    if (v.type == TW_I32 || v.type == TW_F32) v.of.f32_bits = (uint32_t)slots[i];
    else v.of.f64_bits = slots[i];
    char buf[96];
    fmt_val(v, buf, sizeof buf);
    printf("%s%s", i ? ", " : "", buf);
  }
  printf(")\n");
  return TW_OK;
}

static tw_status spectest_init(runner *r, tw_error *err) {
  spectest *st = &r->st;
  tw_func_t **funcs[] = {&st->print, &st->print_i32, &st->print_i64,
                         &st->print_f32, &st->print_f64, &st->print_i32_f32,
                         &st->print_f64_f64};
  tw_status s = TW_OK;
  for (size_t i = 0; i < sizeof funcs / sizeof funcs[0] && s == TW_OK; i++)
    s = tw_func_new_host(r->store, PRINT_SIGS[i].params, PRINT_SIGS[i].nparams,
                         NULL, 0, spectest_print, (void *)&PRINT_SIGS[i], NULL,
                         funcs[i], err);
  if (s == TW_OK) s = tw_global_new(r->store, tw_val_i32(666), false, &st->global_i32, err);
  if (s == TW_OK) s = tw_global_new(r->store, tw_val_i64(666), false, &st->global_i64, err);
  if (s == TW_OK) s = tw_global_new(r->store, tw_val_f32(666.6f), false, &st->global_f32, err);
  if (s == TW_OK) s = tw_global_new(r->store, tw_val_f64(666.6), false, &st->global_f64, err);
  if (s == TW_OK) s = tw_table_new(r->store, TW_FUNCREF, 10, 20, true, &st->table, err);
  if (s == TW_OK) s = tw_memory_new(r->store, 1, 2, true, &st->memory, err);
  return s;
}

static bool spectest_lookup(const spectest *st, const char *field, size_t len,
                            tw_extern *out) {
  const struct { const char *name; tw_extern_kind kind; void *obj; } exports[] = {
      {"print", TW_EXTERN_FUNC, st->print},
      {"print_i32", TW_EXTERN_FUNC, st->print_i32},
      {"print_i64", TW_EXTERN_FUNC, st->print_i64},
      {"print_f32", TW_EXTERN_FUNC, st->print_f32},
      {"print_f64", TW_EXTERN_FUNC, st->print_f64},
      {"print_i32_f32", TW_EXTERN_FUNC, st->print_i32_f32},
      {"print_f64_f64", TW_EXTERN_FUNC, st->print_f64_f64},
      {"global_i32", TW_EXTERN_GLOBAL, st->global_i32},
      {"global_i64", TW_EXTERN_GLOBAL, st->global_i64},
      {"global_f32", TW_EXTERN_GLOBAL, st->global_f32},
      {"global_f64", TW_EXTERN_GLOBAL, st->global_f64},
      {"table", TW_EXTERN_TABLE, st->table},
      {"memory", TW_EXTERN_MEMORY, st->memory},
  };
  for (size_t i = 0; i < sizeof exports / sizeof exports[0]; i++) {
    if (strlen(exports[i].name) != len || memcmp(exports[i].name, field, len) != 0)
      continue;
    out->kind = exports[i].kind;
    switch (exports[i].kind) {
    case TW_EXTERN_FUNC: out->of.func = exports[i].obj; break;
    case TW_EXTERN_GLOBAL: out->of.global = exports[i].obj; break;
    case TW_EXTERN_TABLE: out->of.table = exports[i].obj; break;
    case TW_EXTERN_MEMORY: out->of.memory = exports[i].obj; break;
    }
    return true;
  }
  return false;
}

/* ---- modules --------------------------------------------------------------- */

static tw_status load_module(runner *r, const char *filename, tw_module_t **out,
                             tw_error *err) {
  char path[4096];
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (!filename) {
    set_err(err, TW_ARG, "command names no module file");
    return TW_ARG;
  }
  snprintf(path, sizeof path, "%s/%s", r->json_dir, filename);
  if (read_file(path, &bytes, &len) != 0) {
    set_err(err, TW_IO, "cannot read %s", path);
    return TW_IO;
  }
  tw_error_clear(err);
  tw_status s = tw_module_new(r->engine, bytes, len, out, err);
  free(bytes);
  if (s == TW_OK && g_roundtrip) {
    uint8_t *blob = NULL;
    size_t blen = 0;
    tw_module_t *copy = NULL;
    s = tw_module_serialize(*out, &blob, &blen, err);
    if (s == TW_OK) s = tw_module_deserialize(r->engine, blob, blen, &copy, err);
    free(blob);
    tw_module_free(*out);
    *out = copy;
  }
  return s;
}

/* Resolves the imports from the registry and `spectest`, then instantiates.
 * An import that names nothing known is TW_UNLINKABLE ("unknown import"). */
static tw_status instantiate(runner *r, tw_module_t *m, tw_instance_t **out,
                             tw_error *err) {
  size_t n = tw_module_import_count(m);
  tw_extern *imports = calloc(n + 1, sizeof *imports);
  tw_status s = TW_OK;
  if (!imports) {
    set_err(err, TW_NOMEM, "out of memory");
    return TW_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    tw_import_desc imp = tw_module_import(m, i);
    tw_instance_t *from = named_find(&r->registry, imp.module.data, imp.module.len);
    bool found = false;
    if (from)
      found = tw_instance_export(from, imp.name.data, imp.name.len, &imports[i]) == TW_OK;
    else if (imp.module.len == 8 && memcmp(imp.module.data, "spectest", 8) == 0)
      found = spectest_lookup(&r->st, imp.name.data, imp.name.len, &imports[i]);
    if (!found) {
      set_err(err, TW_UNLINKABLE, "unknown import \"%.*s\" \"%.*s\"",
              (int)imp.module.len, imp.module.data, (int)imp.name.len,
              imp.name.data);
      s = TW_UNLINKABLE;
      goto done;
    }
  }
  tw_error_clear(err);
  s = tw_instance_new(r->store, m, imports, n, out, err);
done:
  free(imports);
  return s;
}

/* ---- actions --------------------------------------------------------------- */

/* Runs an invoke/get action.  Returns false (with why) when the runner could
 * not perform it; otherwise true with the engine's status in err->status
 * and, on TW_OK, the results (malloc'd, caller frees). */
static bool run_action(runner *r, const json_t *action, tw_val **results,
                       size_t *nresults, tw_error *err, char *why, size_t cap) {
  const char *type = jstr(action, "type");
  const char *modname = jstr(action, "module");
  const json_t *jfield = json_object_get(action, "field");
  tw_instance_t *inst = r->current;
  tw_extern ext;
  *results = NULL;
  *nresults = 0;
  tw_error_clear(err);
  if (modname) inst = named_find(&r->names, modname, strlen(modname));
  if (!inst) {
    snprintf(why, cap, "no module %s to act on", modname ? modname : "(current)");
    return false;
  }
  if (!json_is_string(jfield) || !type) {
    snprintf(why, cap, "malformed action");
    return false;
  }
  const char *field = json_string_value(jfield);
  size_t flen = json_string_length(jfield);
  if (tw_instance_export(inst, field, flen, &ext) != TW_OK) {
    snprintf(why, cap, "no export \"%s\"", field);
    return false;
  }

  if (strcmp(type, "get") == 0) {
    if (ext.kind != TW_EXTERN_GLOBAL) {
      snprintf(why, cap, "export \"%s\" is not a global", field);
      return false;
    }
    *results = malloc(sizeof **results);
    if (!*results) {
      snprintf(why, cap, "out of memory");
      return false;
    }
    (*results)[0] = tw_global_get(ext.of.global);
    *nresults = 1;
    err->status = TW_OK;
    return true;
  }
  if (strcmp(type, "invoke") != 0) {
    snprintf(why, cap, "unknown action type %s", type);
    return false;
  }
  if (ext.kind != TW_EXTERN_FUNC) {
    snprintf(why, cap, "export \"%s\" is not a function", field);
    return false;
  }

  const json_t *jargs = json_object_get(action, "args");
  size_t nargs = json_array_size(jargs);
  size_t nr = tw_func_result_count(ext.of.func);
  tw_val *args = calloc(nargs + 1, sizeof *args);
  tw_val *res = calloc(nr + 1, sizeof *res);
  if (!args || !res) {
    snprintf(why, cap, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < nargs; i++)
    if (!parse_arg(json_array_get(jargs, i), &args[i], why, cap)) goto fail;
  for (size_t i = 0; i < nr; i++) res[i].type = tw_func_result_type(ext.of.func, i);
  tw_func_call(r->store, ext.of.func, args, nargs, res, nr, err);
  free(args);
  *results = res;
  *nresults = nr;
  return true;
fail:
  free(args);
  free(res);
  return false;
}

/* ---- commands -------------------------------------------------------------- */

static const char *got_text(const tw_error *err, char *buf, size_t cap) {
  snprintf(buf, cap, "%s (%s)", tw_status_name(err->status), err_text(err));
  return buf;
}

static void cmd_module(runner *r, const json_t *cmd, int line) {
  tw_module_t *m = NULL;
  tw_instance_t *inst = NULL;
  tw_error err;
  char got[512];
  const char *name = jstr(cmd, "name");
  r->current = NULL; /* a module that fails leaves no current module */
  if (load_module(r, jstr(cmd, "filename"), &m, &err) != TW_OK) {
    fail(r, line, "module", "expected a valid module, got %s at offset %zu",
         got_text(&err, got, sizeof got), err.offset);
    return;
  }
  tw_status s = instantiate(r, m, &inst, &err);
  tw_module_free(m);
  if (s != TW_OK) {
    fail(r, line, "module", "expected instantiation, got %s",
         got_text(&err, got, sizeof got));
    return;
  }
  r->current = inst;
  if (name && !named_add(&r->names, name, strlen(name), inst)) {
    fail(r, line, "module", "runner out of memory");
    return;
  }
  r->res->passed++;
}

static void cmd_register(runner *r, const json_t *cmd, int line) {
  const char *name = jstr(cmd, "name");
  const json_t *as = json_object_get(cmd, "as");
  tw_instance_t *inst = name ? named_find(&r->names, name, strlen(name)) : r->current;
  if (!inst || !json_is_string(as)) {
    fail(r, line, "register", "no module %s to register", name ? name : "(current)");
    return;
  }
  if (!named_add(&r->registry, json_string_value(as), json_string_length(as), inst)) {
    fail(r, line, "register", "runner out of memory");
    return;
  }
  r->res->passed++;
}

/* action, assert_return, assert_trap (on an action), assert_exhaustion. */
static void cmd_action(runner *r, const json_t *cmd, const char *type, int line) {
  const json_t *action = json_object_get(cmd, "action");
  const json_t *expected = json_object_get(cmd, "expected");
  const char *text = jstr(cmd, "text");
  const char *field = jstr(action, "field");
  bool want_trap = strcmp(type, "assert_trap") == 0 ||
                   strcmp(type, "assert_exhaustion") == 0;
  tw_val *results = NULL;
  size_t nres = 0;
  tw_error err;
  char why[512], got[1024], exp[1024];

  if (!run_action(r, action, &results, &nres, &err, why, sizeof why)) {
    fail(r, line, type, "\"%s\": %s", field ? field : "?", why);
    return;
  }
  if (want_trap) {
    if (err.status != TW_TRAP) {
      if (err.status == TW_OK) fmt_vals(results, nres, got, sizeof got);
      else got_text(&err, got, sizeof got);
      fail(r, line, type, "\"%s\": expected trap \"%s\", got %s", field, text ? text : "",
           got);
    } else if (text && strncmp(err_text(&err), text, strlen(text)) != 0) {
      fail(r, line, type, "\"%s\": expected trap \"%s\", got trap \"%s\"", field, text,
           err_text(&err));
    } else {
      r->res->passed++;
    }
    goto done;
  }
  if (err.status != TW_OK) {
    fail(r, line, type, "\"%s\": expected success, got %s", field,
         got_text(&err, got, sizeof got));
    goto done;
  }
  if (strcmp(type, "assert_return") == 0) {
    bool ok = json_array_size(expected) == nres;
    for (size_t i = 0; ok && i < nres; i++)
      ok = value_matches(json_array_get(expected, i), results[i]);
    if (!ok) {
      fmt_expected(expected, exp, sizeof exp);
      fmt_vals(results, nres, got, sizeof got);
      fail(r, line, type, "\"%s\": expected %s, got %s", field, exp, got);
      goto done;
    }
  }
  r->res->passed++;
done:
  free(results);
}

/* The module-rejecting assertions, and assert_trap on a module. */
static void cmd_assert_module(runner *r, const json_t *cmd, const char *type,
                              int line) {
  const char *text = jstr(cmd, "text");
  const char *mtype = jstr(cmd, "module_type");
  bool malformed = strcmp(type, "assert_malformed") == 0;
  bool invalid = strcmp(type, "assert_invalid") == 0;
  bool unlinkable = strcmp(type, "assert_unlinkable") == 0;
  tw_module_t *m = NULL;
  tw_instance_t *inst = NULL;
  tw_error err;
  char got[512];

  if (mtype && strcmp(mtype, "text") == 0) {
    r->res->text_na++;
    if (r->res->ntext < TEXT_LINES_MAX) r->res->text_lines[r->res->ntext++] = line;
    return;
  }
  tw_status s = load_module(r, jstr(cmd, "filename"), &m, &err);
  if (malformed || invalid) {
    if (s == TW_OK) {
      tw_module_free(m);
      fail(r, line, type, "expected rejection \"%s\", but the module was accepted",
           text ? text : "");
    } else if (s != TW_MALFORMED && s != TW_INVALID) {
      fail(r, line, type, "expected rejection \"%s\", got %s", text ? text : "",
           got_text(&err, got, sizeof got));
    } else {
      r->res->passed++;
      bool class_ok = s == (malformed ? TW_MALFORMED : TW_INVALID);
      bool text_ok = text && strstr(err.message, text) != NULL;
      if (g_verbose && (!class_ok || !text_ok))
        printf("%s:%d: %s: note: expected \"%s\", ours %s at offset %zu\n", r->file,
               line, type, text ? text : "", got_text(&err, got, sizeof got),
               err.offset);
    }
    return;
  }

  if (s != TW_OK) {
    fail(r, line, type, "expected the module to load, got %s at offset %zu",
         got_text(&err, got, sizeof got), err.offset);
    return;
  }
  s = instantiate(r, m, &inst, &err);
  tw_module_free(m);
  tw_status want = unlinkable ? TW_UNLINKABLE : TW_TRAP;
  if (s != want) {
    fail(r, line, type, "expected %s \"%s\", got %s", tw_status_name(want),
         text ? text : "", s == TW_OK ? "OK (instantiated)" : got_text(&err, got, sizeof got));
  } else if (want == TW_TRAP && text && strncmp(err_text(&err), text, strlen(text)) != 0) {
    fail(r, line, type, "expected trap \"%s\", got trap \"%s\"", text, err_text(&err));
  } else {
    r->res->passed++;
    if (g_verbose && unlinkable && text && !strstr(err.message, text))
      printf("%s:%d: %s: note: expected \"%s\", ours \"%s\"\n", r->file, line, type,
             text, err.message);
  }
}

static const exclusion *excluded(const char *file, int line) {
  for (const exclusion *e = EXCLUSIONS; e->file; e++)
    if (e->line == line && strcmp(e->file, file) == 0) return e;
  return NULL;
}

static void run_command(runner *r, const json_t *cmd) {
  const char *type = jstr(cmd, "type");
  int line = (int)json_integer_value(json_object_get(cmd, "line"));
  r->res->line = line;
  if (!type) {
    fail(r, line, "?", "command without a type");
    return;
  }
  if (excluded(r->file, line)) {
    r->res->excluded++;
    return;
  }
  if (strcmp(type, "module") == 0) {
    cmd_module(r, cmd, line);
  } else if (strcmp(type, "register") == 0) {
    cmd_register(r, cmd, line);
  } else if (strcmp(type, "action") == 0 || strcmp(type, "assert_return") == 0 ||
             strcmp(type, "assert_exhaustion") == 0 ||
             (strcmp(type, "assert_trap") == 0 && json_object_get(cmd, "action"))) {
    cmd_action(r, cmd, type, line);
  } else if (strcmp(type, "assert_trap") == 0 || strcmp(type, "assert_invalid") == 0 ||
             strcmp(type, "assert_malformed") == 0 ||
             strcmp(type, "assert_unlinkable") == 0 ||
             strcmp(type, "assert_uninstantiable") == 0) {
    cmd_assert_module(r, cmd, type, line);
  } else {
    fail(r, line, type, "unknown command type");
  }
}

/* ---- one file -------------------------------------------------------------- */

/* Runs `wast2json wast -o json`, its output and errors going to log. */
static int wast2json(const char *wast, const char *json, const char *log) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    FILE *f = freopen(log, "w", stderr);
    if (f && dup2(fileno(f), STDOUT_FILENO) < 0) _exit(126);
    execlp("wast2json", "wast2json", wast, "-o", json, (char *)NULL);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void print_log(const char *path) {
  FILE *f = fopen(path, "r");
  char buf[512];
  if (!f) return;
  while (fgets(buf, sizeof buf, f)) printf("    %s", buf);
  fclose(f);
}

/* Converts and runs one script, filling res.  Runs in the child. */
static void run_file(const char *wast, const char *tmpdir, file_result *res) {
  char json_path[4096], log_path[4096], stem[256];
  const char *base = basename_of(wast);
  runner r = {.file = base, .json_dir = tmpdir, .res = res};
  json_t *root = NULL;
  json_error_t jerr;
  tw_error err;

  snprintf(stem, sizeof stem, "%s", base);
  char *dot = strrchr(stem, '.');
  if (dot) *dot = '\0';
  snprintf(json_path, sizeof json_path, "%s/%s.json", tmpdir, stem);
  snprintf(log_path, sizeof log_path, "%s/wast2json.log", tmpdir);

  int rc = wast2json(wast, json_path, log_path);
  if (rc != 0) {
    res->failed++;
    printf("%s: wast2json failed (exit %d):\n", base, rc);
    print_log(log_path);
    goto done;
  }
  root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
  if (!root) {
    res->failed++;
    printf("%s: cannot parse %s:%d: %s\n", base, json_path, jerr.line, jerr.text);
    goto done;
  }
  tw_error_clear(&err);
  if (tw_engine_new(NULL, &r.engine, &err) != TW_OK ||
      tw_store_new(r.engine, &r.store, &err) != TW_OK ||
      spectest_init(&r, &err) != TW_OK) {
    res->failed++;
    printf("%s: cannot set up the engine: %s: %s\n", base,
           tw_status_name(err.status), err_text(&err));
    goto done;
  }

  size_t i;
  json_t *cmd;
  json_array_foreach(json_object_get(root, "commands"), i, cmd) run_command(&r, cmd);

  if (res->ntext > 0) {
    printf("%s: text-format n/a at line%s", base, res->ntext > 1 ? "s" : "");
    for (int k = 0; k < res->ntext; k++) printf(" %d", res->text_lines[k]);
    printf("\n");
  }
done:
  if (r.store) tw_store_free(r.store);
  if (r.engine) tw_engine_free(r.engine);
  named_free(&r.names);
  named_free(&r.registry);
  json_decref(root);
  res->finished = 1;
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[4096];
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
      unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* Runs one file in a child process (unless no_fork) and prints its line. */
static void run_one(const char *wast, bool no_fork, file_result *res) {
  const char *tmp = getenv("TMPDIR");
  char tmpdir[4096];
  memset(res, 0, sizeof *res);
  snprintf(tmpdir, sizeof tmpdir, "%s/tw-spectest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(tmpdir)) {
    res->failed++;
    printf("%s: mkdtemp: %s\n", basename_of(wast), strerror(errno));
    return;
  }
  if (no_fork) {
    run_file(wast, tmpdir, res);
  } else {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(FILE_TIMEOUT_S);
      run_file(wast, tmpdir, res);
      exit(0); /* exit, not _exit: lets LeakSanitizer check the child */
    }
    int status = 0;
    if (pid < 0) {
      printf("%s: fork: %s\n", basename_of(wast), strerror(errno));
    } else {
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    }
    if (pid > 0 && res->finished && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      res->failed++; /* e.g. a leak reported by LeakSanitizer at exit */
      printf("%s: FAILED: the runner exited with status %d after the last command\n",
             basename_of(wast), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else if (pid < 0 || !res->finished) {
      res->failed++;
      if (pid > 0 && WIFSIGNALED(status))
        printf("%s:%d: CRASHED: killed by signal %d (%s) during this command\n",
               basename_of(wast), res->line, WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? "timeout" : strsignal(WTERMSIG(status)));
      else if (pid > 0)
        printf("%s:%d: CRASHED: exited with status %d during this command\n",
               basename_of(wast), res->line,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
  }
  remove_dir(tmpdir);
  printf("%s: %d passed, %d failed, %d text-format n/a\n", basename_of(wast),
         res->passed, res->failed, res->text_na);
}

/* ---- main ------------------------------------------------------------------ */

static bool on_path(const char *prog) {
  const char *path = getenv("PATH");
  char buf[4096];
  while (path && *path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? path : ".", prog);
    if (access(buf, X_OK) == 0) return true;
    path = colon ? colon + 1 : NULL;
  }
  return false;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends every .wast of dir (sorted) to files. */
static int list_dir(const char *dir, char ***files, size_t *n) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t first = *n;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".wast") != 0) continue;
    char **grown = realloc(*files, (*n + 1) * sizeof **files);
    char *path = malloc(strlen(dir) + len + 2);
    if (!grown || !path) {
      free(path);
      if (grown) *files = grown;
      closedir(d);
      return -1;
    }
    *files = grown;
    sprintf(path, "%s/%s", dir, e->d_name);
    (*files)[(*n)++] = path;
  }
  closedir(d);
  qsort(*files + first, *n - first, sizeof **files, cmp_str);
  return 0;
}

static int skip(const char *fmt, const char *arg) {
  fprintf(stderr, "SKIPPED: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  return EXIT_SKIP;
}

int main(int argc, char **argv) {
  bool no_fork = false;
  char **files = NULL;
  size_t nfiles = 0;
  const char **paths = calloc((size_t)argc + 1, sizeof *paths);
  size_t npaths = 0;
  int rc = 1;

  setvbuf(stdout, NULL, _IOLBF, 0); /* keep output in order if a child dies */
  if (!paths) return 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
      g_verbose = true;
    } else if (strcmp(argv[i], "--no-fork") == 0) {
      no_fork = true;
    } else if (strcmp(argv[i], "--roundtrip") == 0) {
      g_roundtrip = true;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: tw-spectest [--verbose] [--no-fork] [--roundtrip] "
                      "[FILE.wast | DIR]...\n");
      goto out;
    } else {
      paths[npaths++] = argv[i];
    }
  }
  if (npaths == 0) {
    const char *env = getenv("TW_WASM_TESTSUITE");
    paths[npaths++] = env && *env ? env : TW_DEFAULT_TESTSUITE;
  }

  for (size_t i = 0; i < npaths; i++) {
    struct stat st;
    if (stat(paths[i], &st) != 0) {
      rc = skip("%s does not exist (set TW_WASM_TESTSUITE to the spec suite's core/)",
                paths[i]);
      goto out;
    }
    if (S_ISDIR(st.st_mode)) {
      if (list_dir(paths[i], &files, &nfiles) != 0) {
        fprintf(stderr, "tw-spectest: cannot list %s\n", paths[i]);
        goto out;
      }
    } else {
      char **grown = realloc(files, (nfiles + 1) * sizeof *files);
      if (!grown) goto out;
      files = grown;
      files[nfiles++] = strdup(paths[i]);
    }
  }
  if (nfiles == 0) {
    rc = skip("no .wast files in %s", paths[0]);
    goto out;
  }
  if (!on_path("wast2json")) {
    rc = skip("%s not found on PATH (install wabt: scripts/bootstrap)", "wast2json");
    goto out;
  }

  file_result *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED) {
    perror("tw-spectest: mmap");
    goto out;
  }
  long passed = 0, failed = 0, text_na = 0, nexcluded = 0;
  char *text_summary = NULL;
  size_t text_len = 0;
  for (size_t i = 0; i < nfiles; i++) {
    run_one(files[i], no_fork, res);
    passed += res->passed;
    failed += res->failed;
    text_na += res->text_na;
    nexcluded += res->excluded;
    if (res->text_na > 0) {
      char line[512];
      int len = snprintf(line, sizeof line, "  %s: %d\n", basename_of(files[i]),
                         res->text_na);
      char *grown = realloc(text_summary, text_len + (size_t)len + 1);
      if (grown) {
        text_summary = grown;
        memcpy(text_summary + text_len, line, (size_t)len + 1);
        text_len += (size_t)len;
      }
    }
  }
  munmap(res, sizeof *res);

  printf("\n");
  if (EXCLUSIONS[0].file) {
    printf("exclusions (%ld commands skipped):\n", nexcluded);
    for (const exclusion *e = EXCLUSIONS; e->file; e++)
      printf("  %s:%d: %s\n", e->file, e->line, e->reason);
  } else {
    printf("exclusions: none\n");
  }
  printf("%ld text-format (not applicable to a binary engine)\n", text_na);
  if (text_summary) printf("%s", text_summary);
  free(text_summary);
  printf("%ld passed, %ld failed\n", passed, failed);
  rc = failed ? 1 : 0;
out:
  for (size_t i = 0; i < nfiles; i++) free(files[i]);
  free(files);
  free(paths);
  return rc;
}
