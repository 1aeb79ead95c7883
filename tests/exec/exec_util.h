/* Shared helpers of the executor tests: WAT text to module bytes (with
 * wat2wasm, as tests/wasm does) and a scratch directory. */
#ifndef TW_EXEC_UTIL_H
#define TW_EXEC_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorwasm/exec.h"

/* Monotonic milliseconds, for bounds on how long something may take. */
static inline uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Converts WAT text into malloc'd module bytes; NULL on failure. */
static inline uint8_t *wat_bytes(const char *text, size_t *len) {
  char dir[] = "/tmp/tw-exec-XXXXXX";
  if (!mkdtemp(dir)) return NULL;
  char in[64], out[64], cmd[256];
  snprintf(in, sizeof in, "%s/m.wat", dir);
  snprintf(out, sizeof out, "%s/m.wasm", dir);
  FILE *f = fopen(in, "w");
  uint8_t *buf = NULL;
  if (!f) goto done;
  fputs(text, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "wat2wasm --enable-all %s -o %s", in, out);
  if (system(cmd) != 0 || !(f = fopen(out, "rb"))) goto done;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = (size_t)n;
done:
  unlink(in);
  unlink(out);
  rmdir(dir);
  return buf;
}

/* A fresh empty directory under /tmp (path written to out). */
static inline int scratch_dir(char out[64]) {
  snprintf(out, 64, "/tmp/tw-exec-cache-XXXXXX");
  return mkdtemp(out) ? 0 : -1;
}

static inline void rm_tree(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
