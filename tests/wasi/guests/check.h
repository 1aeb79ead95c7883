/* Shared by the WASI test guests: each check prints "ok NAME" or
 * "FAIL NAME: got X, want Y"; a guest's exit status is its failure count,
 * so the host-side test sees both the log and a summary. */
#ifndef TW_GUEST_CHECK_H
#define TW_GUEST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

static int failures;

#define CHECK_EQ(name, got, want)                                          \
  do {                                                                     \
    long long g_ = (long long)(got), w_ = (long long)(want);               \
    if (g_ == w_) {                                                        \
      printf("ok %s\n", name);                                             \
    } else {                                                               \
      printf("FAIL %s: got %lld, want %lld\n", name, g_, w_);              \
      failures++;                                                          \
    }                                                                      \
  } while (0)

#define CHECK_STR(name, got, want)                                         \
  do {                                                                     \
    const char *g_ = (got), *w_ = (want);                                  \
    if (strcmp(g_, w_) == 0) {                                             \
      printf("ok %s\n", name);                                             \
    } else {                                                               \
      printf("FAIL %s: got \"%s\", want \"%s\"\n", name, g_, w_);          \
      failures++;                                                          \
    }                                                                      \
  } while (0)

#define CHECK(name, cond) CHECK_EQ(name, !!(cond), 1)

/* Raw imports, for arguments wasi-libc's wrappers would not pass (bad
 * pointers) or functions it no longer declares. */
#define RAW_IMPORT(name)                                                   \
  __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
RAW_IMPORT("fd_write") int raw_fd_write(int fd, int iovs, int n, int nwritten);
RAW_IMPORT("path_open") int raw_path_open(int fd, int dirflags, int path,
                                          int path_len, int oflags,
                                          long long base, long long inh,
                                          int fdflags, int out);
RAW_IMPORT("proc_raise") int raw_proc_raise(int sig);
RAW_IMPORT("args_sizes_get") int raw_args_sizes_get(int argc, int size);
RAW_IMPORT("random_get") int raw_random_get(int buf, int len);

#define ALL_RIGHTS ((__wasi_rights_t)0x3fffffff)

/* Opens `path` under dir fd `dir`; returns the errno, the fd in *fd. */
static inline __wasi_errno_t open_at(__wasi_fd_t dir, const char *path,
                                     __wasi_oflags_t oflags,
                                     __wasi_rights_t rights,
                                     __wasi_fd_t *fd) {
  return __wasi_path_open(dir, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, oflags,
                          rights, rights, 0, fd);
}

#endif
