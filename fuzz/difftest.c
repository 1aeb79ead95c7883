/* tw-difftest: our half of the differential test (scripts/difftest).
 *
 *   tw-difftest FILE.wasm...
 *
 * For each module: compile, instantiate with the binaryen fuzz harness's
 * imports ("fuzzing-support" log-* functions that print their arguments,
 * "env" setTempRet0/getTempRet0), then call every exported function in
 * export order with zero arguments, calling the export
 * "hangLimitInitializer" (when there is one) before each call as
 * binaryen's own JS wrapper does; finally print every exported global and
 * a hash of every exported memory.  scripts/difftest.mjs prints the same
 * lines from Node.js's WebAssembly; scripts/difftest compares them.
 *
 * Output, one block per module (values: i32:%08x i64:%016x f32:%08x
 * f64:%016x with NaNs printed as f32:nan / f64:nan, ref:null / ref:func /
 * ref:extern):
 *   module PATH
 *   compile error | link error | instantiate trap CAT | instantiate ok
 *   call NAME / log NAME VALUES... / result VALUES... / trap CAT
 *   global NAME VALUE / memory NAME PAGES HASH
 *   end
 * Trap categories are coarse on purpose (V8's messages are coarser than
 * the spec's): unreachable memory table indirect divzero overflow stack,
 * plus ours-only fuel and host.
 *
 * With TW_DIFFTEST_DUMP=PREFIX set, each exported memory is also written
 * to PREFIX.NAME.ours.bin (difftest.mjs writes PREFIX.NAME.node.bin), to
 * find where two memories differ. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorwasm/wasm.h"
#include "wasm/wasm_int.h"

#define CALL_FUEL 50000000u

static tw_engine_t *engine;
static int32_t temp_ret0;

static const char *trap_category(const tw_error *err) {
  switch (err->trap) {
  case TW_TRAP_UNREACHABLE: return "unreachable";
  case TW_TRAP_MEMORY_OOB: return "memory";
  case TW_TRAP_TABLE_OOB:
  case TW_TRAP_UNDEFINED_ELEMENT: return "table";
  case TW_TRAP_INDIRECT_MISMATCH:
  case TW_TRAP_UNINITIALIZED_ELEMENT: return "indirect";
  case TW_TRAP_DIV_ZERO: return "divzero";
  case TW_TRAP_INT_OVERFLOW:        /* V8 says "unrepresentable" for */
  case TW_TRAP_INVALID_CONVERSION: /* both, and for NaN alike */
    return "overflow";
  case TW_TRAP_STACK_EXHAUSTED: return "stack";
  case TW_TRAP_OUT_OF_FUEL:
  case TW_TRAP_INTERRUPTED: return "fuel";
  default: return "host";
  }
}

static void put_slot(uint8_t type, uint64_t v) {
  switch (type) {
  case TW_I32: printf(" i32:%08" PRIx32, (uint32_t)v); break;
  case TW_I64: printf(" i64:%016" PRIx64, v); break;
  case TW_F32:
    if (((uint32_t)v & 0x7f800000u) == 0x7f800000u && ((uint32_t)v & 0x7fffffu))
      printf(" f32:nan");
    else
      printf(" f32:%08" PRIx32, (uint32_t)v);
    break;
  case TW_F64:
    if ((v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
        (v & 0xfffffffffffffull))
      printf(" f64:nan");
    else
      printf(" f64:%016" PRIx64, v);
    break;
  case TW_FUNCREF: printf(" ref:%s", v ? "func" : "null"); break;
  case TW_EXTERNREF: printf(" ref:%s", v ? "extern" : "null"); break;
  default: printf(" ?"); break;
  }
}

static void put_val(tw_val v) {
  switch (v.type) {
  case TW_I32: put_slot(TW_I32, (uint32_t)v.of.i32); break;
  case TW_I64: put_slot(TW_I64, (uint64_t)v.of.i64); break;
  case TW_F32: put_slot(TW_F32, v.of.f32_bits); break;
  case TW_F64: put_slot(TW_F64, v.of.f64_bits); break;
  case TW_FUNCREF: put_slot(TW_FUNCREF, v.of.funcref != NULL); break;
  case TW_EXTERNREF: put_slot(TW_EXTERNREF, v.of.externref != NULL); break;
  default: printf(" ?"); break;
  }
}

typedef struct host_env {
  const tw__import *imp;
  const tw__functype *type;
} host_env;

static tw_status log_fn(tw_caller_t *caller, void *env, uint64_t *slots,
                        tw_error *err) {
  const host_env *h = env;
  (void)caller, (void)err;
  printf("log %s", h->imp->name);
  for (uint32_t i = 0; i < h->type->nparams; i++)
    put_slot(h->type->types[i], slots[i]);
  printf("\n");
  for (uint32_t i = 0; i < h->type->nresults; i++) slots[i] = 0;
  return TW_OK;
}

static tw_status set_temp(tw_caller_t *caller, void *env, uint64_t *slots,
                          tw_error *err) {
  (void)caller, (void)env, (void)err;
  temp_ret0 = (int32_t)slots[0];
  return TW_OK;
}

static tw_status get_temp(tw_caller_t *caller, void *env, uint64_t *slots,
                          tw_error *err) {
  (void)caller, (void)env, (void)err;
  slots[0] = (uint32_t)temp_ret0;
  return TW_OK;
}

static bool is(const char *s, uint32_t len, const char *lit) {
  return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The harness's imports; false (link error) for anything else. */
static bool make_imports(tw_store_t *store, const tw__module *m,
                         tw_extern *out, host_env *envs) {
  for (uint32_t i = 0; i < m->nimports; i++) {
    const tw__import *imp = &m->imports[i];
    if (imp->kind != TW_EXTERN_FUNC) return false;
    const tw__functype *t = &m->types[m->func_types[imp->index]];
    tw_host_fn fn = NULL;
    if (is(imp->module, imp->module_len, "fuzzing-support") &&
        imp->name_len > 4 && memcmp(imp->name, "log-", 4) == 0 &&
        t->nresults == 0)
      fn = log_fn;
    else if (is(imp->module, imp->module_len, "env") &&
             is(imp->name, imp->name_len, "setTempRet0"))
      fn = set_temp;
    else if (is(imp->module, imp->module_len, "env") &&
             is(imp->name, imp->name_len, "getTempRet0"))
      fn = get_temp;
    if (!fn) return false;
    envs[i] = (host_env){imp, t};
    tw_valtype p[t->nparams + 1], r[t->nresults + 1];
    for (uint32_t k = 0; k < t->nparams; k++) p[k] = (tw_valtype)t->types[k];
    for (uint32_t k = 0; k < t->nresults; k++)
      r[k] = (tw_valtype)t->types[t->nparams + k];
    out[i].kind = TW_EXTERN_FUNC;
    tw_error err;
    if (tw_func_new_host(store, p, t->nparams, r, t->nresults, fn, &envs[i],
                         NULL, &out[i].of.func, &err) != TW_OK)
      return false;
  }
  return true;
}

static void call(tw_store_t *store, tw_func_t *f) {
  size_t np = tw_func_param_count(f), nr = tw_func_result_count(f);
  tw_val args[np + 1], res[nr + 1];
  for (size_t k = 0; k < np; k++) {
    memset(&args[k], 0, sizeof args[k]);
    args[k].type = tw_func_param_type(f, k);
  }
  tw_error err;
  tw_store_set_fuel(store, CALL_FUEL);
  if (tw_func_call(store, f, args, np, res, nr, &err) == TW_OK) {
    printf("result");
    for (size_t k = 0; k < nr; k++) put_val(res[k]);
    printf("\n");
  } else {
    printf("trap %s\n", err.status == TW_TRAP ? trap_category(&err) : "host");
  }
}

/* Two 32-bit lanes (FNV-1a and a shift-add hash), as difftest.mjs does. */
static void put_memory(const char *name, tw_memory_t *mem) {
  const uint8_t *p = tw_memory_data(mem);
  uint64_t n = tw_memory_size(mem);
  uint32_t h1 = 2166136261u, h2 = 0;
  for (uint64_t i = 0; i < n; i++) {
    h1 = (h1 ^ p[i]) * 16777619u;
    h2 = h2 * 31u + p[i];
  }
  printf("memory %s %u %08x%08x\n", name, tw_memory_pages(mem), h1, h2);
  const char *dump = getenv("TW_DIFFTEST_DUMP"); /* for reading a finding */
  if (dump) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%s.ours.bin", dump, name);
    FILE *f = fopen(path, "wb");
    if (f) {
      fwrite(p, 1, (size_t)n, f);
      fclose(f);
    }
  }
}

static void run(const char *path) {
  printf("module %s\n", path);
  temp_ret0 = 0;
  FILE *f = fopen(path, "rb");
  uint8_t *bytes = NULL;
  long len = 0;
  if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)len + 1)) &&
      fread(bytes, 1, (size_t)len, f) != (size_t)len) {
    free(bytes);
    bytes = NULL;
  }
  if (f) fclose(f);
  if (!bytes) {
    printf("read error\nend\n");
    return;
  }
  tw_error err;
  tw_module_t *mod = NULL;
  tw_store_t *store = NULL;
  tw_instance_t *inst = NULL;
  tw_extern *imports = NULL;
  host_env *envs = NULL;
  if (tw_module_new(engine, bytes, (size_t)len, &mod, &err) != TW_OK) {
    printf("compile error\n");
    fprintf(stderr, "%s: %s\n", path, err.message);
    goto done;
  }
  const tw__module *m = &mod->m;
  if (tw_store_new(engine, &store, &err) != TW_OK) abort();
  imports = calloc(m->nimports + 1, sizeof *imports);
  envs = calloc(m->nimports + 1, sizeof *envs);
  if (!imports || !envs) abort();
  if (!make_imports(store, m, imports, envs)) {
    printf("link error\n");
    goto done;
  }
  tw_store_set_fuel(store, CALL_FUEL);
  tw_status st = tw_instance_new(store, mod, imports, m->nimports, &inst, &err);
  if (st == TW_TRAP) {
    printf("instantiate trap %s\n", trap_category(&err));
    goto done;
  } else if (st != TW_OK) {
    printf("link error\n");
    fprintf(stderr, "%s: %s\n", path, err.message);
    goto done;
  }
  printf("instantiate ok\n");
  tw_extern hang;
  bool has_hang = tw_instance_export(inst, "hangLimitInitializer", 20, &hang) ==
                      TW_OK && hang.kind == TW_EXTERN_FUNC;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *e = &m->exports[i];
    tw_extern x;
    if (e->kind != TW_EXTERN_FUNC ||
        tw_instance_export(inst, e->name, e->name_len, &x) != TW_OK)
      continue;
    if (has_hang) {
      tw_store_set_fuel(store, CALL_FUEL);
      tw_func_call(store, hang.of.func, NULL, 0, NULL, 0, &err);
    }
    printf("call %s\n", e->name);
    fflush(stdout);
    call(store, x.of.func);
  }
  for (uint32_t i = 0; i < m->nexports; i++) {
    const tw__export *e = &m->exports[i];
    tw_extern x;
    if (tw_instance_export(inst, e->name, e->name_len, &x) != TW_OK) continue;
    if (x.kind == TW_EXTERN_GLOBAL) {
      printf("global %s", e->name);
      put_val(tw_global_get(x.of.global));
      printf("\n");
    } else if (x.kind == TW_EXTERN_MEMORY) {
      put_memory(e->name, x.of.memory);
    }
  }
done:
  printf("end\n");
  fflush(stdout);
  free(imports);
  free(envs);
  tw_store_free(store);
  tw_module_free(mod);
  free(bytes);
}

int main(int argc, char **argv) {
  tw_error err;
  if (argc < 2) {
    fprintf(stderr, "usage: tw-difftest FILE.wasm...\n");
    return 2;
  }
  if (tw_engine_new(NULL, &engine, &err) != TW_OK) {
    fprintf(stderr, "tw-difftest: %s\n", err.message);
    return 1;
  }
  for (int i = 1; i < argc; i++) run(argv[i]);
  tw_engine_free(engine);
  return 0;
}
