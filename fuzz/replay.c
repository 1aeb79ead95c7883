/* Replay driver: feeds files to a fuzz target's LLVMFuzzerTestOneInput
 * without libFuzzer, so any compiler builds it and ctest runs it.
 *
 *   fuzz-replay-TARGET PATH...     each PATH a file or a directory (its
 *                                  regular files, sorted, not recursive)
 *
 * Prints one line per directory and a total; a crash or a failed oracle
 * aborts (the file being run is printed first, on stderr).  A missing
 * directory is not an error: a target may have no regression inputs yet. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) return -1;
  /* An exact-size copy, so ASan builds see reads past the input. */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) return -1;
  memcpy(exact, buf, n);
  free(buf);
  fprintf(stderr, "replay: %s\n", path);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) {
      printf("%s: no such directory (0 inputs)\n", dir);
      return 0;
    }
    fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
      if (!nn) return -1;
      names = nn;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    if (!(names[n] = malloc(len))) return -1;
    snprintf(names[n++], len, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  int rc = 0;
  size_t ran = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(names[i]) != 0) rc = -1;
      ran++;
    }
    free(names[i]);
  }
  free(names);
  printf("%s: %zu inputs\n", dir, ran);
  *count += ran;
  return rc;
}

int main(int argc, char **argv) {
  size_t total = 0;
  int rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(argv[i]) != 0) rc = 1;
      total++;
    } else if (run_dir(argv[i], &total) != 0) {
      rc = 1;
    }
  }
  printf("replayed %zu inputs\n", total);
  return rc;
}
