/* tw-gpu-run: runs a WASI guest with wasi:cuda linked, the way an embedder
 * does (one tw_cuda_t per instance, imports resolved by WASI first and
 * wasi:cuda second, released when the guest is done).
 *
 *   tw-gpu-run [--no-gpu] [--tenant N] GUEST.wasm [ARGS...]
 *
 * --no-gpu runs without the capability: every wasi:cuda call returns -1,
 * as for a tenant that is not granted the GPU.  The guest's stdout and
 * stderr are this process's; the exit status is the guest's proc_exit code
 * (0 when it returns from _start), 70 when it traps, 64 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorwasm/cuda.h"
#include "tensorwasm/wasi.h"
#include "tensorwasm/wasm.h"

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n ? n : 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
    }
    *len = (size_t)n;
  }
  fclose(f);
  return buf;
}

static int usage(void) {
  fprintf(stderr, "usage: tw-gpu-run [--no-gpu] [--tenant N] GUEST.wasm "
                  "[ARGS...]\n");
  return 64;
}

int main(int argc, char **argv) {
  bool gpu = true;
  uint64_t tenant = 0;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--no-gpu") == 0) gpu = false;
    else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
      tenant = strtoull(argv[++i], NULL, 10);
    else return usage();
  }
  if (i >= argc) return usage();
  const char *path = argv[i];

  int rc = 70;
  tw_error err;
  tw_error_clear(&err);
  tw_engine_t *engine = NULL;
  tw_module_t *module = NULL;
  tw_store_t *store = NULL;
  tw_wasi_t *wasi = NULL;
  tw_cuda_t *cuda = NULL;
  tw_extern *imports = NULL;
  size_t len = 0;
  uint8_t *bytes = read_file(path, &len);
  if (!bytes) {
    fprintf(stderr, "tw-gpu-run: cannot read %s\n", path);
    return 66;
  }

  tw_wasi_config wc = {.args = (const char *const *)&argv[i],
                       .nargs = (size_t)(argc - i),
                       .stdio = {{.kind = TW_WASI_STDIO_FD, .host_fd = 0},
                                 {.kind = TW_WASI_STDIO_FD, .host_fd = 1},
                                 {.kind = TW_WASI_STDIO_FD, .host_fd = 2}}};
  tw_cuda_config cc = {.enabled = gpu, .tenant_id = tenant, .instance_id = 1};
  tw_status s;
  if ((s = tw_engine_new(NULL, &engine, &err)) ||
      (s = tw_module_new(engine, bytes, len, &module, &err)) ||
      (s = tw_store_new(engine, &store, &err)) ||
      (s = tw_wasi_new(&wc, &wasi, &err)) ||
      (s = tw_cuda_new(&cc, &cuda, &err)))
    goto fail;
  size_t n = tw_module_import_count(module);
  imports = calloc(n ? n : 1, sizeof *imports);
  if (!imports) {
    s = TW_NOMEM;
    snprintf(err.message, sizeof err.message, "out of memory");
    goto fail;
  }
  for (size_t k = 0; k < n; k++) {
    s = tw_wasi_resolve_import(wasi, store, module, k, &imports[k], &err);
    if (s == TW_NOT_FOUND)
      s = tw_cuda_resolve_import(cuda, store, module, k, &imports[k], &err);
    if (s) goto fail;
  }
  tw_instance_t *inst = NULL;
  tw_extern start;
  if ((s = tw_instance_new(store, module, imports, n, &inst, &err)) ||
      (s = tw_instance_export(inst, "_start", 6, &start)))
    goto fail;
  s = tw_func_call(store, start.of.func, NULL, 0, NULL, 0, &err);
  uint32_t code = 0;
  if (tw_wasi_exited(wasi, &code)) rc = (int)code;
  else if (s == TW_OK) rc = 0;
  else goto fail;
  goto done;
fail:
  if (s == TW_NOT_FOUND) snprintf(err.message, sizeof err.message,
                                  "no _start export");
  {
    char msg[1024];
    fprintf(stderr, "tw-gpu-run: %s\n", tw_error_format(&err, msg, sizeof msg));
  }
done:
  tw_cuda_release(cuda); /* device resources go with the instance */
  tw_store_free(store);
  tw_wasi_free(wasi);
  tw_module_free(module);
  tw_engine_free(engine);
  free(imports);
  free(bytes);
  return rc;
}
