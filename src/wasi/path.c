/* WASI path_* functions and the sandbox they share.
 *
 * Invariant: every host path operation is relative to a directory fd the
 * guest holds, and every lookup through it is done by openat2 with
 * RESOLVE_BENEATH (plus RESOLVE_NO_MAGICLINKS), so `..` past the directory,
 * absolute paths and symlinks that lead out fail in the kernel with EXDEV,
 * which the guest sees as ENOTCAPABLE.  Operations on a final component
 * (unlink, rename, mkdir, ...) first open its parent that way and then act
 * on the last name with a *at call that does not follow symlinks; where a
 * final symlink must be followed, the target is opened beneath the
 * directory first and acted on through its fd. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wasi/wasi_int.h"

#define R(n) TW_WASI_RIGHT(TW_R_##n)
#define TW_WASI_PATH_MAX 4096

/* openat2 beneath `dfd`: the new host fd, or -1 with errno set. */
static int open_beneath(int dfd, const char *path, int flags, mode_t mode) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .mode = (flags & O_CREAT) ? mode : 0,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  for (int tries = 0;; tries++) {
    long fd = syscall(SYS_openat2, dfd, path, &how, sizeof how);
    /* EAGAIN: a concurrent rename raced the lookup; the kernel asks for a
     * retry rather than risk an escape. */
    if (fd < 0 && errno == EAGAIN && tries < 16) continue;
    return (int)fd;
  }
}

/* The sandbox's view of a failed host call. */
static uint16_t path_errno(int e) {
  return e == EXDEV ? TW_WASI_ENOTCAPABLE : tw__wasi_errno_from_host(e);
}

/* Copies the guest path at (ptr, len) into a NUL-terminated string the
 * caller frees.  Absolute paths are refused here: a guest names files only
 * relative to a directory it holds. */
static uint16_t path_load(const tw__wasi_call *c, uint32_t ptr, uint32_t len,
                          char **out) {
  const uint8_t *p = tw__wasi_mem(c, ptr, len);
  if (!p) return TW_WASI_EFAULT;
  if (len >= TW_WASI_PATH_MAX) return TW_WASI_ENAMETOOLONG;
  if (memchr(p, 0, len)) return TW_WASI_EILSEQ;
  if (len == 0) return TW_WASI_ENOENT;
  if (p[0] == '/') return TW_WASI_ENOTCAPABLE;
  char *s = malloc(len + 1);
  if (!s) return TW_WASI_ENOMEM;
  memcpy(s, p, len);
  s[len] = 0;
  *out = s;
  return TW_WASI_ESUCCESS;
}

/* A path split into an opened parent directory and its last name. */
typedef struct parent {
  char *path;  /* owned copy; `base` points into it */
  const char *base;
  bool slash;  /* the path ended in '/' */
  int fd;      /* owned O_PATH fd of the parent, or -1 */
} parent;

static void parent_close(parent *p) {
  if (p->fd >= 0) close(p->fd);
  free(p->path);
  p->fd = -1;
  p->path = NULL;
}

/* Opens the parent of guest path (ptr, len) beneath guest fd `fd`, which
 * must hold `need`. */
static uint16_t parent_open(tw__wasi_call *c, uint32_t fd, uint64_t need,
                            uint32_t ptr, uint32_t len, parent *out) {
  tw__wasi_fd *e;
  out->fd = -1;
  out->path = NULL;
  uint16_t r = tw__wasi_fd_get(c->wasi, fd, need, &e);
  if (r) return r;
  if (e->kind != TW__FD_DIR) return TW_WASI_ENOTDIR;
  if ((r = path_load(c, ptr, len, &out->path))) return r;
  char *s = out->path;
  size_t n = strlen(s);
  out->slash = false;
  while (n > 1 && s[n - 1] == '/') {
    s[--n] = 0;
    out->slash = true;
  }
  char *slash = strrchr(s, '/');
  const char *dir = ".";
  out->base = s;
  if (slash) {
    *slash = 0;
    dir = s;
    out->base = slash + 1;
  }
  /* "x/.." and "." name a directory through its own path: open that, and
   * act on "." inside it, so ".." is never a bare last name. */
  if (strcmp(out->base, "..") == 0 || strcmp(out->base, ".") == 0) {
    if (slash) *slash = '/';
    dir = s;
    out->base = ".";
  }
  out->fd = open_beneath(e->host, dir, O_PATH | O_DIRECTORY, 0);
  if (out->fd < 0) {
    r = path_errno(errno);
    parent_close(out);
    return r;
  }
  return TW_WASI_ESUCCESS;
}

/* /proc/self/fd/N for acting on an O_PATH fd where no *at form exists. */
static void fd_path(int fd, char *buf, size_t cap) {
  snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* Opens the object a guest path names, beneath guest fd `fd`. */
static uint16_t target_open(tw__wasi_call *c, uint32_t fd, uint64_t need,
                            uint32_t lookup, uint32_t ptr, uint32_t len,
                            int flags, int *out) {
  tw__wasi_fd *e;
  char *path = NULL;
  uint16_t r = tw__wasi_fd_get(c->wasi, fd, need, &e);
  if (r) return r;
  if (e->kind != TW__FD_DIR) return TW_WASI_ENOTDIR;
  if ((r = path_load(c, ptr, len, &path))) return r;
  if (!(lookup & TW_WASI_LOOKUP_SYMLINK_FOLLOW)) flags |= O_NOFOLLOW;
  *out = open_beneath(e->host, path, flags, 0);
  r = *out < 0 ? path_errno(errno) : TW_WASI_ESUCCESS;
  free(path);
  return r;
}

uint16_t tw__wasi_path_open(tw__wasi_call *c, const uint64_t *a) {
  uint32_t dirflags = TW_A32(1), oflags = TW_A32(4), fdflags = TW_A32(7);
  uint64_t base = TW_A64(5), inh = TW_A64(6);
  tw__wasi_fd *dir, ne = {.host = -1};
  char *path = NULL;
  uint64_t need = R(PATH_OPEN);
  if (oflags & TW_WASI_O_CREAT) need |= R(PATH_CREATE_FILE);
  if (oflags & TW_WASI_O_TRUNC) need |= R(PATH_FILESTAT_SET_SIZE);
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), need, &dir);
  if (r) return r;
  if (dir->kind != TW__FD_DIR) return TW_WASI_ENOTDIR;
  if ((oflags & ~(uint32_t)0xf) || (fdflags & ~(uint32_t)0x1f)) return TW_WASI_EINVAL;
  /* A new fd gets no right its directory could not pass on. */
  if ((base & ~dir->rights_inheriting) || (inh & ~dir->rights_inheriting))
    return TW_WASI_ENOTCAPABLE;
  if (!tw__wasi_mem(c, TW_A32(8), 4)) return TW_WASI_EFAULT;
  if ((r = path_load(c, TW_A32(2), TW_A32(3), &path))) return r;

  bool rd = base & (R(FD_READ) | R(FD_READDIR));
  bool wr = base & (R(FD_WRITE) | R(FD_DATASYNC) | R(FD_ALLOCATE) |
                    R(FD_FILESTAT_SET_SIZE));
  int flags = wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY;
  if (oflags & TW_WASI_O_DIRECTORY) flags = O_RDONLY | O_DIRECTORY;
  if (oflags & TW_WASI_O_CREAT) flags |= O_CREAT;
  if (oflags & TW_WASI_O_EXCL) flags |= O_EXCL;
  if (oflags & TW_WASI_O_TRUNC) flags |= O_TRUNC;
  if (fdflags & TW_WASI_FDFLAG_APPEND) flags |= O_APPEND;
  if (fdflags & TW_WASI_FDFLAG_NONBLOCK) flags |= O_NONBLOCK;
  if (fdflags & TW_WASI_FDFLAG_DSYNC) flags |= O_DSYNC;
  if (fdflags & (TW_WASI_FDFLAG_SYNC | TW_WASI_FDFLAG_RSYNC)) flags |= O_SYNC;
  if (!(dirflags & TW_WASI_LOOKUP_SYMLINK_FOLLOW)) flags |= O_NOFOLLOW;

  int host = open_beneath(dir->host, path, flags, 0666);
  /* Guests that ask for every right still get to open a directory. */
  if (host < 0 && errno == EISDIR && !(flags & (O_CREAT | O_TRUNC)))
    host = open_beneath(dir->host, path, (flags & ~O_ACCMODE) | O_RDONLY, 0);
  if (host < 0) {
    r = path_errno(errno);
    goto done;
  }
  struct stat st;
  if (fstat(host, &st) != 0) {
    r = tw__wasi_errno_from_host(errno);
    close(host);
    goto done;
  }
  ne.kind = S_ISDIR(st.st_mode) ? TW__FD_DIR : TW__FD_FILE;
  ne.host = host;
  ne.filetype = tw__wasi_filetype(st.st_mode);
  ne.fdflags = (uint16_t)fdflags;
  ne.rights_base = base;
  ne.rights_inheriting = inh;
  uint32_t fd;
  if ((r = tw__wasi_fd_insert(c->wasi, &ne, &fd))) {
    close(host);
    goto done;
  }
  r = tw__wasi_store_u32(c, TW_A32(8), fd);
done:
  free(path);
  return r;
}

uint16_t tw__wasi_path_create_directory(tw__wasi_call *c, const uint64_t *a) {
  parent p;
  uint16_t r = parent_open(c, TW_A32(0), R(PATH_CREATE_DIRECTORY), TW_A32(1),
                           TW_A32(2), &p);
  if (r) return r;
  if (mkdirat(p.fd, p.base, 0777) != 0) r = path_errno(errno);
  parent_close(&p);
  return r;
}

uint16_t tw__wasi_path_remove_directory(tw__wasi_call *c, const uint64_t *a) {
  parent p;
  uint16_t r = parent_open(c, TW_A32(0), R(PATH_REMOVE_DIRECTORY), TW_A32(1),
                           TW_A32(2), &p);
  if (r) return r;
  if (unlinkat(p.fd, p.base, AT_REMOVEDIR) != 0) r = path_errno(errno);
  parent_close(&p);
  return r;
}

uint16_t tw__wasi_path_unlink_file(tw__wasi_call *c, const uint64_t *a) {
  parent p;
  struct stat st;
  uint16_t r = parent_open(c, TW_A32(0), R(PATH_UNLINK_FILE), TW_A32(1),
                           TW_A32(2), &p);
  if (r) return r;
  if (p.slash) { /* "name/" names a directory, never a file */
    r = fstatat(p.fd, p.base, &st, AT_SYMLINK_NOFOLLOW) != 0 ? path_errno(errno)
        : S_ISDIR(st.st_mode) ? TW_WASI_EISDIR : TW_WASI_ENOTDIR;
  } else if (unlinkat(p.fd, p.base, 0) != 0) {
    r = path_errno(errno);
  }
  parent_close(&p);
  return r;
}

uint16_t tw__wasi_path_rename(tw__wasi_call *c, const uint64_t *a) {
  parent from, to;
  uint16_t r = parent_open(c, TW_A32(0), R(PATH_RENAME_SOURCE), TW_A32(1),
                           TW_A32(2), &from);
  if (r) return r;
  r = parent_open(c, TW_A32(3), R(PATH_RENAME_TARGET), TW_A32(4), TW_A32(5), &to);
  if (r == 0) {
    if (renameat(from.fd, from.base, to.fd, to.base) != 0) r = path_errno(errno);
    parent_close(&to);
  }
  parent_close(&from);
  return r;
}

uint16_t tw__wasi_path_symlink(tw__wasi_call *c, const uint64_t *a) {
  char *target = NULL;
  parent p;
  /* A link's text is not resolved now, but an absolute one could never be
   * followed inside the sandbox: refuse it up front. */
  uint16_t r = path_load(c, TW_A32(0), TW_A32(1), &target);
  if (r) return r;
  r = parent_open(c, TW_A32(2), R(PATH_SYMLINK), TW_A32(3), TW_A32(4), &p);
  if (r == 0) {
    if (symlinkat(target, p.fd, p.base) != 0) r = path_errno(errno);
    parent_close(&p);
  }
  free(target);
  return r;
}

uint16_t tw__wasi_path_readlink(tw__wasi_call *c, const uint64_t *a) {
  parent p;
  char buf[TW_WASI_PATH_MAX];
  uint32_t cap = TW_A32(4);
  uint8_t *out = tw__wasi_mem(c, TW_A32(3), cap);
  if (!out || !tw__wasi_mem(c, TW_A32(5), 4)) return TW_WASI_EFAULT;
  uint16_t r = parent_open(c, TW_A32(0), R(PATH_READLINK), TW_A32(1), TW_A32(2), &p);
  if (r) return r;
  ssize_t n = readlinkat(p.fd, p.base, buf, sizeof buf);
  if (n < 0) {
    r = path_errno(errno);
  } else {
    if ((size_t)n > cap) n = cap; /* truncated, as readlink(2) does */
    memcpy(out, buf, (size_t)n);
    r = tw__wasi_store_u32(c, TW_A32(5), (uint32_t)n);
  }
  parent_close(&p);
  return r;
}

uint16_t tw__wasi_path_link(tw__wasi_call *c, const uint64_t *a) {
  parent to;
  int src = -1;
  char proc[64];
  uint16_t r = target_open(c, TW_A32(0), R(PATH_LINK_SOURCE), TW_A32(1), TW_A32(2),
                           TW_A32(3), O_PATH, &src);
  if (r) return r;
  r = parent_open(c, TW_A32(4), R(PATH_LINK_TARGET), TW_A32(5), TW_A32(6), &to);
  if (r == 0) {
    /* Link the already-resolved source through its fd, so a symlink in the
     * source path cannot reach outside. */
    fd_path(src, proc, sizeof proc);
    if (linkat(AT_FDCWD, proc, to.fd, to.base, AT_SYMLINK_FOLLOW) != 0)
      r = path_errno(errno);
    parent_close(&to);
  }
  close(src);
  return r;
}

uint16_t tw__wasi_path_filestat_get(tw__wasi_call *c, const uint64_t *a) {
  int fd;
  struct stat st;
  uint8_t *p = tw__wasi_mem(c, TW_A32(4), 64);
  if (!p) return TW_WASI_EFAULT;
  uint16_t r = target_open(c, TW_A32(0), R(PATH_FILESTAT_GET), TW_A32(1), TW_A32(2),
                           TW_A32(3), O_PATH, &fd);
  if (r) return r;
  if (fstat(fd, &st) != 0) r = tw__wasi_errno_from_host(errno);
  else tw__wasi_filestat_put(p, &st);
  close(fd);
  return r;
}

uint16_t tw__wasi_path_filestat_set_times(tw__wasi_call *c, const uint64_t *a) {
  struct timespec ts[2];
  uint16_t r = tw__wasi_times(TW_A64(4), TW_A64(5), TW_A32(6), ts);
  if (r) return r;
  if (!(TW_A32(1) & TW_WASI_LOOKUP_SYMLINK_FOLLOW)) {
    parent p;
    r = parent_open(c, TW_A32(0), R(PATH_FILESTAT_SET_TIMES), TW_A32(2), TW_A32(3), &p);
    if (r) return r;
    if (utimensat(p.fd, p.base, ts, AT_SYMLINK_NOFOLLOW) != 0) r = path_errno(errno);
    parent_close(&p);
    return r;
  }
  int fd;
  char proc[64];
  r = target_open(c, TW_A32(0), R(PATH_FILESTAT_SET_TIMES), TW_A32(1), TW_A32(2),
                  TW_A32(3), O_PATH, &fd);
  if (r) return r;
  fd_path(fd, proc, sizeof proc);
  if (utimensat(AT_FDCWD, proc, ts, 0) != 0) r = tw__wasi_errno_from_host(errno);
  close(fd);
  return r;
}
