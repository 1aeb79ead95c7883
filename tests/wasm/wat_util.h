/* Helpers shared by the engine tests: WAT text to a module (wat2wasm at
 * test time), a fresh engine and store, instantiation, export lookup.
 * Static functions: each test file is its own executable. */
#ifndef TW_TEST_WAT_UTIL_H
#define TW_TEST_WAT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensorwasm/wasm.h"

/* Converts WAT text to a module; NULL (with a message) on failure. */
static inline tw_module_t *wat(tw_engine_t *e, const char *text, tw_error *err) {
  char dir[] = "/tmp/tw-test-XXXXXX";
  if (!mkdtemp(dir)) return NULL;
  char in[64], out[64], cmd[256];
  snprintf(in, sizeof in, "%s/m.wat", dir);
  snprintf(out, sizeof out, "%s/m.wasm", dir);
  FILE *f = fopen(in, "w");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "wat2wasm --debug-names --enable-all %s -o %s", in,
           out);
  tw_module_t *m = NULL;
  if (system(cmd) == 0 && (f = fopen(out, "rb"))) {
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (tw_module_new(e, buf, n, &m, err) != TW_OK) m = NULL;
  }
  unlink(in);
  unlink(out);
  rmdir(dir);
  return m;
}

typedef struct env {
  tw_engine_t *engine;
  tw_store_t *store;
  tw_error err;
} env;

static inline int setup(env *v, const tw_engine_config *cfg) {
  memset(v, 0, sizeof *v);
  if (tw_engine_new(cfg, &v->engine, &v->err) != TW_OK) return 0;
  return tw_store_new(v->engine, &v->store, &v->err) == TW_OK;
}

static inline void teardown(env *v) {
  tw_store_free(v->store);
  tw_engine_free(v->engine);
}

static inline tw_instance_t *inst_of(env *v, const char *text, const tw_extern *imp,
                              size_t nimp) {
  tw_module_t *m = wat(v->engine, text, &v->err);
  if (!m) return NULL;
  tw_instance_t *i = NULL;
  tw_status st = tw_instance_new(v->store, m, imp, nimp, &i, &v->err);
  tw_module_free(m);
  return st == TW_OK ? i : NULL;
}

static inline tw_func_t *func(tw_instance_t *i, const char *name) {
  tw_extern x;
  if (tw_instance_export(i, name, strlen(name), &x) != TW_OK) return NULL;
  return x.kind == TW_EXTERN_FUNC ? x.of.func : NULL;
}

#endif
