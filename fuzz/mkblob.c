/* tw-fuzz-mkblob: writes the compiled-module blob of each module given,
 * for the `blob` target's seed corpus (scripts/fuzz --seed).
 *
 *   tw-fuzz-mkblob OUTDIR FILE.wasm...    OUTDIR/<basename>.blob each;
 *                                         modules that do not compile are
 *                                         skipped */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorwasm/wasm.h"

int main(int argc, char **argv) {
  tw_engine_t *engine;
  tw_error err;
  int made = 0;
  if (argc < 3) {
    fprintf(stderr, "usage: tw-fuzz-mkblob OUTDIR FILE.wasm...\n");
    return 2;
  }
  if (tw_engine_new(NULL, &engine, &err) != TW_OK) return 1;
  for (int i = 2; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) continue;
    static uint8_t buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tw_module_t *m;
    uint8_t *blob;
    size_t len;
    if (tw_module_new(engine, buf, n, &m, &err) != TW_OK) continue;
    if (tw_module_serialize(m, &blob, &len, &err) == TW_OK) {
      const char *b = strrchr(argv[i], '/');
      char out[4096];
      snprintf(out, sizeof out, "%s/%s.blob", argv[1], b ? b + 1 : argv[i]);
      FILE *o = fopen(out, "wb");
      if (o && fwrite(blob, 1, len, o) == len) made++;
      if (o) fclose(o);
      free(blob);
    }
    tw_module_free(m);
  }
  tw_engine_free(engine);
  printf("%d blobs\n", made);
  return 0;
}
