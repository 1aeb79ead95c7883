/* WASI fd_* functions: reading and writing, seeking, metadata, directory
 * listing, preopen discovery, close and renumber.
 *
 * The three standard streams may be memory buffers, callbacks or nothing
 * rather than host fds; stream_read / stream_write handle those, every
 * other path works on the entry's host fd.  Each function checks the fd's
 * rights before touching anything. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wasi/wasi_int.h"

#define TW_WASI_IOV_MAX 1024
#define R(n) TW_WASI_RIGHT(TW_R_##n)

/* Loads `n` guest iovecs at `ptr` into host iovecs; every buffer is
 * bounds-checked.  EINVAL for too many or a total over 4 GiB. */
static uint16_t iovs_load(const tw__wasi_call *c, uint32_t ptr, uint32_t n,
                          struct iovec *out, size_t *total) {
  if (n > TW_WASI_IOV_MAX) return TW_WASI_EINVAL;
  const uint8_t *p = tw__wasi_mem(c, ptr, (uint64_t)n * 8);
  if (!p) return TW_WASI_EFAULT;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t buf = tw__wasi_get_u32(p + 8 * i), len = tw__wasi_get_u32(p + 8 * i + 4);
    uint8_t *b = tw__wasi_mem(c, buf, len);
    if (!b) return TW_WASI_EFAULT;
    out[i].iov_base = b;
    out[i].iov_len = len;
    sum += len;
  }
  if (sum > UINT32_MAX) return TW_WASI_EINVAL;
  *total = (size_t)sum;
  return TW_WASI_ESUCCESS;
}

/* Appends to a capture buffer: stores what fits under its limit. */
static uint16_t capture(tw__wasi_stream *s, const struct iovec *iov, uint32_t n,
                        size_t *done) {
  *done = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t len = iov[i].iov_len;
    if (len > s->max - s->len) len = s->max - s->len;
    if (s->len + len > s->cap) {
      size_t ncap = s->cap ? s->cap : 4096;
      while (ncap < s->len + len) ncap *= 2;
      if (ncap > s->max) ncap = s->max;
      uint8_t *nb = realloc(s->buf, ncap);
      if (!nb) return TW_WASI_ENOMEM;
      s->buf = nb;
      s->cap = ncap;
    }
    if (len) memcpy(s->buf + s->len, iov[i].iov_base, len);
    s->len += len;
    *done += len;
    if (len < iov[i].iov_len) return *done ? TW_WASI_ESUCCESS : TW_WASI_ENOSPC;
  }
  return TW_WASI_ESUCCESS;
}

static uint16_t stream_write(tw_wasi_t *w, tw__wasi_fd *e, const struct iovec *iov,
                             uint32_t n, size_t total, size_t *done) {
  tw__wasi_stream *s = &w->streams[e->stream];
  switch (s->cfg.kind) {
  case TW_WASI_STDIO_FD: break;
  case TW_WASI_STDIO_BUFFER: return capture(s, iov, n, done);
  case TW_WASI_STDIO_CALLBACK:
    for (uint32_t i = 0; i < n; i++) {
      if (iov[i].iov_len == 0) continue;
      uint16_t r = s->cfg.write(s->cfg.write_ctx, e->stream, iov[i].iov_base,
                                iov[i].iov_len);
      if (r) return r;
    }
    *done = total;
    return TW_WASI_ESUCCESS;
  default: *done = total; return TW_WASI_ESUCCESS; /* NULL: discard */
  }
  ssize_t r = writev(e->host, iov, (int)n);
  if (r < 0) return tw__wasi_errno_from_host(errno);
  *done = (size_t)r;
  return TW_WASI_ESUCCESS;
}

static uint16_t stream_read(tw_wasi_t *w, tw__wasi_fd *e, const struct iovec *iov,
                            uint32_t n, size_t *done) {
  tw__wasi_stream *s = &w->streams[e->stream];
  *done = 0;
  if (s->cfg.kind == TW_WASI_STDIO_BUFFER) {
    for (uint32_t i = 0; i < n && s->pos < s->len; i++) {
      size_t len = iov[i].iov_len;
      if (len > s->len - s->pos) len = s->len - s->pos;
      memcpy(iov[i].iov_base, s->buf + s->pos, len);
      s->pos += len;
      *done += len;
    }
    return TW_WASI_ESUCCESS;
  }
  if (s->cfg.kind != TW_WASI_STDIO_FD) return TW_WASI_ESUCCESS; /* EOF */
  if (!(e->fdflags & TW_WASI_FDFLAG_NONBLOCK)) {
    uint16_t r = tw__wasi_wait_readable(w, e->host);
    if (r) return r;
  }
  ssize_t r = readv(e->host, iov, (int)n);
  if (r < 0) return tw__wasi_errno_from_host(errno);
  *done = (size_t)r;
  return TW_WASI_ESUCCESS;
}

/* Shared body of fd_read / fd_pread / fd_write / fd_pwrite. */
static uint16_t fd_io(tw__wasi_call *c, uint32_t fd, uint32_t iovs, uint32_t n,
                      bool write, bool positioned, uint64_t offset,
                      uint32_t result_ptr) {
  tw__wasi_fd *e;
  struct iovec iov[TW_WASI_IOV_MAX];
  size_t total = 0, done = 0;
  uint64_t need = (write ? R(FD_WRITE) : R(FD_READ)) | (positioned ? R(FD_SEEK) : 0);
  uint16_t r = tw__wasi_fd_get(c->wasi, fd, need, &e);
  if (r) return r;
  if (!tw__wasi_mem(c, result_ptr, 4)) return TW_WASI_EFAULT;
  if ((r = iovs_load(c, iovs, n, iov, &total))) return r;
  if (positioned && offset > (uint64_t)INT64_MAX) return TW_WASI_EINVAL;
  if (e->kind == TW__FD_DIR) return TW_WASI_EISDIR; /* not left to the fs */
  if (e->kind == TW__FD_STDIO && !positioned) {
    r = write ? stream_write(c->wasi, e, iov, n, total, &done)
              : stream_read(c->wasi, e, iov, n, &done);
    if (r) return r;
  } else if (e->host < 0) {
    return TW_WASI_ESPIPE;
  } else {
    ssize_t got;
    if (positioned)
      got = write ? pwritev(e->host, iov, (int)n, (off_t)offset)
                  : preadv(e->host, iov, (int)n, (off_t)offset);
    else
      got = write ? writev(e->host, iov, (int)n) : readv(e->host, iov, (int)n);
    if (got < 0) return tw__wasi_errno_from_host(errno);
    done = (size_t)got;
  }
  return tw__wasi_store_u32(c, result_ptr, (uint32_t)done);
}

uint16_t tw__wasi_fd_read(tw__wasi_call *c, const uint64_t *a) {
  return fd_io(c, TW_A32(0), TW_A32(1), TW_A32(2), false, false, 0, TW_A32(3));
}
uint16_t tw__wasi_fd_pread(tw__wasi_call *c, const uint64_t *a) {
  return fd_io(c, TW_A32(0), TW_A32(1), TW_A32(2), false, true, TW_A64(3), TW_A32(4));
}
uint16_t tw__wasi_fd_write(tw__wasi_call *c, const uint64_t *a) {
  return fd_io(c, TW_A32(0), TW_A32(1), TW_A32(2), true, false, 0, TW_A32(3));
}
uint16_t tw__wasi_fd_pwrite(tw__wasi_call *c, const uint64_t *a) {
  return fd_io(c, TW_A32(0), TW_A32(1), TW_A32(2), true, true, TW_A64(3), TW_A32(4));
}

/* The host fd behind `fd` for operations that need one. */
static uint16_t host_of(tw__wasi_call *c, uint32_t fd, uint64_t need, int *host) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, fd, need, &e);
  if (r) return r;
  if (e->host < 0) return e->kind == TW__FD_STDIO ? TW_WASI_ESPIPE : TW_WASI_EBADF;
  *host = e->host;
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_seek(tw__wasi_call *c, const uint64_t *a) {
  static const int whence[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  int64_t off = (int64_t)TW_A64(1);
  uint32_t wh = TW_A32(2);
  int host;
  /* Reading the position only (cur + 0) needs just the tell right. */
  uint64_t need = wh == 1 && off == 0 ? R(FD_TELL) : R(FD_SEEK);
  uint16_t r = host_of(c, TW_A32(0), need, &host);
  if (r) return r;
  if (wh > 2) return TW_WASI_EINVAL;
  if (!tw__wasi_mem(c, TW_A32(3), 8)) return TW_WASI_EFAULT;
  off_t pos = lseek(host, (off_t)off, whence[wh]);
  if (pos < 0) return tw__wasi_errno_from_host(errno);
  return tw__wasi_store_u64(c, TW_A32(3), (uint64_t)pos);
}

uint16_t tw__wasi_fd_tell(tw__wasi_call *c, const uint64_t *a) {
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_TELL), &host);
  if (r) return r;
  off_t pos = lseek(host, 0, SEEK_CUR);
  if (pos < 0) return tw__wasi_errno_from_host(errno);
  return tw__wasi_store_u64(c, TW_A32(1), (uint64_t)pos);
}

uint16_t tw__wasi_fd_close(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &e);
  if (r) return r;
  tw__wasi_fd_release(e);
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_renumber(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *from, *to;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &from);
  if (r) return r;
  if ((r = tw__wasi_fd_get(c->wasi, TW_A32(1), 0, &to))) return r;
  if (from == to) return TW_WASI_ESUCCESS;
  tw__wasi_fd_release(to);
  *to = *from;
  memset(from, 0, sizeof *from); /* moved: nothing left to release */
  from->host = -1;
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_sync(tw__wasi_call *c, const uint64_t *a) {
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_SYNC), &host);
  if (r) return r;
  return fsync(host) == 0 ? TW_WASI_ESUCCESS : tw__wasi_errno_from_host(errno);
}

uint16_t tw__wasi_fd_datasync(tw__wasi_call *c, const uint64_t *a) {
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_DATASYNC), &host);
  if (r) return r;
  return fdatasync(host) == 0 ? TW_WASI_ESUCCESS : tw__wasi_errno_from_host(errno);
}

uint16_t tw__wasi_fd_advise(tw__wasi_call *c, const uint64_t *a) {
  static const int advice[] = {POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL,
                               POSIX_FADV_RANDOM, POSIX_FADV_WILLNEED,
                               POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE};
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_ADVISE), &host);
  if (r) return r;
  uint64_t off = TW_A64(1), len = TW_A64(2);
  if (TW_A32(3) > 5 || off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
    return TW_WASI_EINVAL;
  int e = posix_fadvise(host, (off_t)off, (off_t)len, advice[TW_A32(3)]);
  return tw__wasi_errno_from_host(e);
}

uint16_t tw__wasi_fd_allocate(tw__wasi_call *c, const uint64_t *a) {
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_ALLOCATE), &host);
  if (r) return r;
  uint64_t off = TW_A64(1), len = TW_A64(2);
  if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
    return TW_WASI_EINVAL;
  return tw__wasi_errno_from_host(posix_fallocate(host, (off_t)off, (off_t)len));
}

uint16_t tw__wasi_fd_fdstat_get(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &e);
  if (r) return r;
  uint8_t *p = tw__wasi_mem(c, TW_A32(1), 24);
  if (!p) return TW_WASI_EFAULT;
  memset(p, 0, 24);
  p[0] = e->filetype;
  tw__wasi_put_u16(p + 2, e->fdflags);
  tw__wasi_put_u64(p + 8, e->rights_base);
  tw__wasi_put_u64(p + 16, e->rights_inheriting);
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_fdstat_set_flags(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint32_t flags = TW_A32(1);
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), R(FD_FDSTAT_SET_FLAGS), &e);
  if (r) return r;
  if (flags & ~(uint32_t)0x1f) return TW_WASI_EINVAL;
  /* Linux cannot change the sync flags of an open file. */
  if (flags & (TW_WASI_FDFLAG_DSYNC | TW_WASI_FDFLAG_RSYNC | TW_WASI_FDFLAG_SYNC))
    return TW_WASI_ENOTSUP;
  if (e->host >= 0 && e->kind != TW__FD_STDIO) {
    int fl = fcntl(e->host, F_GETFL);
    if (fl < 0) return tw__wasi_errno_from_host(errno);
    fl &= ~(O_APPEND | O_NONBLOCK);
    if (flags & TW_WASI_FDFLAG_APPEND) fl |= O_APPEND;
    if (flags & TW_WASI_FDFLAG_NONBLOCK) fl |= O_NONBLOCK;
    if (fcntl(e->host, F_SETFL, fl) != 0) return tw__wasi_errno_from_host(errno);
  }
  e->fdflags = (uint16_t)flags;
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_fdstat_set_rights(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint64_t base = TW_A64(1), inh = TW_A64(2);
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &e);
  if (r) return r;
  /* Rights can only be dropped, never gained. */
  if ((base & ~e->rights_base) || (inh & ~e->rights_inheriting))
    return TW_WASI_ENOTCAPABLE;
  e->rights_base = base;
  e->rights_inheriting = inh;
  return TW_WASI_ESUCCESS;
}

void tw__wasi_filestat_put(uint8_t *p, const struct stat *st) {
  memset(p, 0, 64);
  tw__wasi_put_u64(p + 0, (uint64_t)st->st_dev);
  tw__wasi_put_u64(p + 8, (uint64_t)st->st_ino);
  p[16] = tw__wasi_filetype(st->st_mode);
  tw__wasi_put_u64(p + 24, (uint64_t)st->st_nlink);
  tw__wasi_put_u64(p + 32, (uint64_t)st->st_size);
  tw__wasi_put_u64(p + 40, (uint64_t)st->st_atim.tv_sec * 1000000000u +
                               (uint64_t)st->st_atim.tv_nsec);
  tw__wasi_put_u64(p + 48, (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                               (uint64_t)st->st_mtim.tv_nsec);
  tw__wasi_put_u64(p + 56, (uint64_t)st->st_ctim.tv_sec * 1000000000u +
                               (uint64_t)st->st_ctim.tv_nsec);
}

uint16_t tw__wasi_fd_filestat_get(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), R(FD_FILESTAT_GET), &e);
  if (r) return r;
  uint8_t *p = tw__wasi_mem(c, TW_A32(1), 64);
  if (!p) return TW_WASI_EFAULT;
  struct stat st;
  if (e->host < 0) { /* a memory or null stream: a bare character device */
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFCHR;
    st.st_nlink = 1;
  } else if (fstat(e->host, &st) != 0) {
    return tw__wasi_errno_from_host(errno);
  }
  tw__wasi_filestat_put(p, &st);
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_filestat_set_size(tw__wasi_call *c, const uint64_t *a) {
  int host;
  uint16_t r = host_of(c, TW_A32(0), R(FD_FILESTAT_SET_SIZE), &host);
  if (r) return r;
  if (TW_A64(1) > (uint64_t)INT64_MAX) return TW_WASI_EINVAL;
  return ftruncate(host, (off_t)TW_A64(1)) == 0 ? TW_WASI_ESUCCESS
                                                : tw__wasi_errno_from_host(errno);
}

uint16_t tw__wasi_times(uint64_t atim, uint64_t mtim, uint32_t flags,
                        struct timespec ts[2]) {
  if (flags & ~(uint32_t)0xf) return TW_WASI_EINVAL;
  if ((flags & TW_WASI_FST_ATIM) && (flags & TW_WASI_FST_ATIM_NOW)) return TW_WASI_EINVAL;
  if ((flags & TW_WASI_FST_MTIM) && (flags & TW_WASI_FST_MTIM_NOW)) return TW_WASI_EINVAL;
  uint64_t t[2] = {atim, mtim};
  uint32_t set[2] = {TW_WASI_FST_ATIM, TW_WASI_FST_MTIM};
  uint32_t now[2] = {TW_WASI_FST_ATIM_NOW, TW_WASI_FST_MTIM_NOW};
  for (int i = 0; i < 2; i++) {
    if (flags & now[i]) {
      ts[i].tv_sec = 0;
      ts[i].tv_nsec = UTIME_NOW;
    } else if (flags & set[i]) {
      ts[i].tv_sec = (time_t)(t[i] / 1000000000u);
      ts[i].tv_nsec = (long)(t[i] % 1000000000u);
    } else {
      ts[i].tv_sec = 0;
      ts[i].tv_nsec = UTIME_OMIT;
    }
  }
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_filestat_set_times(tw__wasi_call *c, const uint64_t *a) {
  int host;
  struct timespec ts[2];
  uint16_t r = host_of(c, TW_A32(0), R(FD_FILESTAT_SET_TIMES), &host);
  if (r) return r;
  if ((r = tw__wasi_times(TW_A64(1), TW_A64(2), TW_A32(3), ts))) return r;
  return futimens(host, ts) == 0 ? TW_WASI_ESUCCESS : tw__wasi_errno_from_host(errno);
}

uint16_t tw__wasi_fd_prestat_get(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &e);
  if (r) return r;
  if (!e->preopen) return TW_WASI_EBADF;
  uint8_t *p = tw__wasi_mem(c, TW_A32(1), 8);
  if (!p) return TW_WASI_EFAULT;
  memset(p, 0, 8); /* tag 0: a directory */
  tw__wasi_put_u32(p + 4, (uint32_t)strlen(e->preopen));
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_prestat_dir_name(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), 0, &e);
  if (r) return r;
  if (!e->preopen) return TW_WASI_EBADF;
  size_t len = strlen(e->preopen);
  if (TW_A32(2) < len) return TW_WASI_ENAMETOOLONG;
  uint8_t *p = tw__wasi_mem(c, TW_A32(1), len);
  if (!p) return TW_WASI_EFAULT;
  memcpy(p, e->preopen, len);
  return TW_WASI_ESUCCESS;
}

static uint8_t dirent_type(int dfd, const struct dirent *d) {
  switch (d->d_type) {
  case DT_REG: return TW_WASI_FILETYPE_REGULAR_FILE;
  case DT_DIR: return TW_WASI_FILETYPE_DIRECTORY;
  case DT_LNK: return TW_WASI_FILETYPE_SYMBOLIC_LINK;
  case DT_CHR: return TW_WASI_FILETYPE_CHARACTER_DEVICE;
  case DT_BLK: return TW_WASI_FILETYPE_BLOCK_DEVICE;
  case DT_SOCK: return TW_WASI_FILETYPE_SOCKET_STREAM;
  case DT_FIFO: return TW_WASI_FILETYPE_UNKNOWN;
  default: {
    struct stat st;
    if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      return TW_WASI_FILETYPE_UNKNOWN;
    return tw__wasi_filetype(st.st_mode);
  }
  }
}

/* Positions e->dir so that the next readdir returns entry `cookie`. */
static uint16_t dir_seek(tw__wasi_fd *e, uint64_t cookie) {
  if (!e->dir) {
    int dup_fd = fcntl(e->host, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return tw__wasi_errno_from_host(errno);
    e->dir = fdopendir(dup_fd);
    if (!e->dir) {
      int saved = errno;
      close(dup_fd);
      return tw__wasi_errno_from_host(saved);
    }
    e->dir_pos = 0;
  }
  if (cookie != e->dir_pos) {
    rewinddir(e->dir);
    e->dir_pos = 0;
    while (e->dir_pos < cookie) {
      errno = 0;
      if (!readdir(e->dir)) return errno ? tw__wasi_errno_from_host(errno) : 0;
      e->dir_pos++;
    }
  }
  return TW_WASI_ESUCCESS;
}

/* Entries are 24-byte headers followed by the name; the last one is cut at
 * the end of the buffer, which tells the guest to ask again with a bigger
 * buffer or from that entry's cookie. */
uint16_t tw__wasi_fd_readdir(tw__wasi_call *c, const uint64_t *a) {
  tw__wasi_fd *e;
  uint32_t len = TW_A32(2);
  uint16_t r = tw__wasi_fd_get(c->wasi, TW_A32(0), R(FD_READDIR), &e);
  if (r) return r;
  if (e->kind != TW__FD_DIR) return TW_WASI_ENOTDIR;
  uint8_t *buf = tw__wasi_mem(c, TW_A32(1), len);
  if (!buf || !tw__wasi_mem(c, TW_A32(4), 4)) return TW_WASI_EFAULT;
  if ((r = dir_seek(e, TW_A64(3)))) return r;
  uint32_t used = 0;
  while (used < len) {
    errno = 0;
    struct dirent *d = readdir(e->dir);
    if (!d) {
      if (errno) return tw__wasi_errno_from_host(errno);
      break;
    }
    e->dir_pos++;
    size_t namlen = strlen(d->d_name);
    uint8_t ent[24] = {0};
    tw__wasi_put_u64(ent, e->dir_pos);
    tw__wasi_put_u64(ent + 8, (uint64_t)d->d_ino);
    tw__wasi_put_u32(ent + 16, (uint32_t)namlen);
    ent[20] = dirent_type(dirfd(e->dir), d);
    uint32_t n = len - used < 24 ? len - used : 24;
    memcpy(buf + used, ent, n);
    used += n;
    n = len - used < namlen ? len - used : (uint32_t)namlen;
    memcpy(buf + used, d->d_name, n);
    used += n;
  }
  return tw__wasi_store_u32(c, TW_A32(4), used);
}
