/* WASI preview1 internals shared by the files of src/wasi.
 *
 * A context owns a table of guest file descriptors.  Each entry is one of:
 * a standard stream (fds 0-2 until closed or renumbered), a host file, or a
 * host directory (a preopen carries the name the guest sees).  Every host
 * fd in the table is owned by the table (O_CLOEXEC), except a borrowed
 * stdio host fd.
 *
 * Every WASI function is a `tw__wasi_impl`: it reads its arguments from the
 * slots, uses guest memory only through tw__wasi_mem (which bounds-checks
 * every pointer+length against the memory's current size) and returns a
 * WASI errno, which the trampoline in wasi.c stores as the i32 result. */
#ifndef TW_WASI_INT_H
#define TW_WASI_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>

#include "tensorwasm/wasi.h"

/* WASI errno values, numbered as in the preview1 witx. */
#define TW_WASI_ERRNO_LIST(X)                                                  \
  X(SUCCESS, 0) X(2BIG, 1) X(ACCES, 2) X(ADDRINUSE, 3) X(ADDRNOTAVAIL, 4)      \
  X(AFNOSUPPORT, 5) X(AGAIN, 6) X(ALREADY, 7) X(BADF, 8) X(BADMSG, 9)          \
  X(BUSY, 10) X(CANCELED, 11) X(CHILD, 12) X(CONNABORTED, 13)                 \
  X(CONNREFUSED, 14) X(CONNRESET, 15) X(DEADLK, 16) X(DESTADDRREQ, 17)        \
  X(DOM, 18) X(DQUOT, 19) X(EXIST, 20) X(FAULT, 21) X(FBIG, 22)               \
  X(HOSTUNREACH, 23) X(IDRM, 24) X(ILSEQ, 25) X(INPROGRESS, 26) X(INTR, 27)   \
  X(INVAL, 28) X(IO, 29) X(ISCONN, 30) X(ISDIR, 31) X(LOOP, 32) X(MFILE, 33)  \
  X(MLINK, 34) X(MSGSIZE, 35) X(MULTIHOP, 36) X(NAMETOOLONG, 37)              \
  X(NETDOWN, 38) X(NETRESET, 39) X(NETUNREACH, 40) X(NFILE, 41)               \
  X(NOBUFS, 42) X(NODEV, 43) X(NOENT, 44) X(NOEXEC, 45) X(NOLCK, 46)          \
  X(NOLINK, 47) X(NOMEM, 48) X(NOMSG, 49) X(NOPROTOOPT, 50) X(NOSPC, 51)      \
  X(NOSYS, 52) X(NOTCONN, 53) X(NOTDIR, 54) X(NOTEMPTY, 55)                   \
  X(NOTRECOVERABLE, 56) X(NOTSOCK, 57) X(NOTSUP, 58) X(NOTTY, 59)             \
  X(NXIO, 60) X(OVERFLOW, 61) X(OWNERDEAD, 62) X(PERM, 63) X(PIPE, 64)        \
  X(PROTO, 65) X(PROTONOSUPPORT, 66) X(PROTOTYPE, 67) X(RANGE, 68)            \
  X(ROFS, 69) X(SPIPE, 70) X(SRCH, 71) X(STALE, 72) X(TIMEDOUT, 73)           \
  X(TXTBSY, 74) X(XDEV, 75) X(NOTCAPABLE, 76)

enum {
#define TW__X(name, value) TW_WASI_E##name = value,
  TW_WASI_ERRNO_LIST(TW__X)
#undef TW__X
};

/* Maps a host errno to its WASI errno (EIO for the ones WASI lacks). */
uint16_t tw__wasi_errno_from_host(int host_errno);
const char *tw__wasi_errno_name(uint16_t e); /* "NOENT"; "?" if unknown */

/* filetype */
enum {
  TW_WASI_FILETYPE_UNKNOWN = 0,
  TW_WASI_FILETYPE_BLOCK_DEVICE = 1,
  TW_WASI_FILETYPE_CHARACTER_DEVICE = 2,
  TW_WASI_FILETYPE_DIRECTORY = 3,
  TW_WASI_FILETYPE_REGULAR_FILE = 4,
  TW_WASI_FILETYPE_SOCKET_DGRAM = 5,
  TW_WASI_FILETYPE_SOCKET_STREAM = 6,
  TW_WASI_FILETYPE_SYMBOLIC_LINK = 7
};

/* fdflags, oflags, lookupflags, fstflags, whence */
enum {
  TW_WASI_FDFLAG_APPEND = 1, TW_WASI_FDFLAG_DSYNC = 2,
  TW_WASI_FDFLAG_NONBLOCK = 4, TW_WASI_FDFLAG_RSYNC = 8,
  TW_WASI_FDFLAG_SYNC = 16
};
enum {
  TW_WASI_O_CREAT = 1, TW_WASI_O_DIRECTORY = 2, TW_WASI_O_EXCL = 4,
  TW_WASI_O_TRUNC = 8
};
enum { TW_WASI_LOOKUP_SYMLINK_FOLLOW = 1 };
enum {
  TW_WASI_FST_ATIM = 1, TW_WASI_FST_ATIM_NOW = 2, TW_WASI_FST_MTIM = 4,
  TW_WASI_FST_MTIM_NOW = 8
};

/* rights */
#define TW_WASI_RIGHT(n) ((uint64_t)1 << (n))
enum {
  TW_R_FD_DATASYNC = 0, TW_R_FD_READ, TW_R_FD_SEEK, TW_R_FD_FDSTAT_SET_FLAGS,
  TW_R_FD_SYNC, TW_R_FD_TELL, TW_R_FD_WRITE, TW_R_FD_ADVISE, TW_R_FD_ALLOCATE,
  TW_R_PATH_CREATE_DIRECTORY, TW_R_PATH_CREATE_FILE, TW_R_PATH_LINK_SOURCE,
  TW_R_PATH_LINK_TARGET, TW_R_PATH_OPEN, TW_R_FD_READDIR, TW_R_PATH_READLINK,
  TW_R_PATH_RENAME_SOURCE, TW_R_PATH_RENAME_TARGET, TW_R_PATH_FILESTAT_GET,
  TW_R_PATH_FILESTAT_SET_SIZE, TW_R_PATH_FILESTAT_SET_TIMES,
  TW_R_FD_FILESTAT_GET, TW_R_FD_FILESTAT_SET_SIZE, TW_R_FD_FILESTAT_SET_TIMES,
  TW_R_PATH_SYMLINK, TW_R_PATH_REMOVE_DIRECTORY, TW_R_PATH_UNLINK_FILE,
  TW_R_POLL_FD_READWRITE, TW_R_SOCK_SHUTDOWN, TW_R_SOCK_ACCEPT, TW_R_COUNT
};
#define TW_WASI_RIGHTS_ALL (TW_WASI_RIGHT(TW_R_COUNT) - 1)
/* Rights that change something on disk: a read-only preopen lacks them. */
#define TW_WASI_RIGHTS_WRITE                                                   \
  (TW_WASI_RIGHT(TW_R_FD_DATASYNC) | TW_WASI_RIGHT(TW_R_FD_WRITE) |            \
   TW_WASI_RIGHT(TW_R_FD_ALLOCATE) | TW_WASI_RIGHT(TW_R_FD_SYNC) |             \
   TW_WASI_RIGHT(TW_R_PATH_CREATE_DIRECTORY) |                                 \
   TW_WASI_RIGHT(TW_R_PATH_CREATE_FILE) |                                      \
   TW_WASI_RIGHT(TW_R_PATH_LINK_SOURCE) |                                      \
   TW_WASI_RIGHT(TW_R_PATH_LINK_TARGET) |                                      \
   TW_WASI_RIGHT(TW_R_PATH_RENAME_SOURCE) |                                    \
   TW_WASI_RIGHT(TW_R_PATH_RENAME_TARGET) |                                    \
   TW_WASI_RIGHT(TW_R_PATH_FILESTAT_SET_SIZE) |                                \
   TW_WASI_RIGHT(TW_R_PATH_FILESTAT_SET_TIMES) |                               \
   TW_WASI_RIGHT(TW_R_FD_FILESTAT_SET_SIZE) |                                  \
   TW_WASI_RIGHT(TW_R_FD_FILESTAT_SET_TIMES) |                                 \
   TW_WASI_RIGHT(TW_R_PATH_SYMLINK) |                                          \
   TW_WASI_RIGHT(TW_R_PATH_REMOVE_DIRECTORY) |                                 \
   TW_WASI_RIGHT(TW_R_PATH_UNLINK_FILE))

typedef enum tw__wasi_fd_kind {
  TW__FD_FREE = 0,
  TW__FD_STDIO, /* one of the three configured streams */
  TW__FD_FILE,  /* a host file (or device) */
  TW__FD_DIR    /* a host directory; `preopen` set for preopens */
} tw__wasi_fd_kind;

/* State of one configured standard stream. */
typedef struct tw__wasi_stream {
  tw_wasi_stdio cfg;
  uint8_t *buf; /* stdin bytes (owned copy) or captured output */
  size_t len;
  size_t pos;   /* stdin read position */
  size_t cap;
  size_t max;   /* capture limit */
} tw__wasi_stream;

typedef struct tw__wasi_fd {
  tw__wasi_fd_kind kind;
  int host;            /* owned host fd (FILE, DIR); -1 for STDIO */
  uint32_t stream;     /* STDIO: index into tw_wasi.streams */
  uint8_t filetype;
  uint16_t fdflags;
  uint64_t rights_base, rights_inheriting;
  char *preopen;       /* guest name of a preopen (owned) or NULL */
  DIR *dir;            /* readdir stream (owned), opened on first use */
  uint64_t dir_pos;    /* index of the entry `dir` returns next */
} tw__wasi_fd;

struct tw_wasi {
  atomic_uint refs;
  char **args;
  size_t nargs, args_bytes;
  char **env;
  size_t nenv, env_bytes;
  tw__wasi_stream streams[3];
  tw__wasi_fd *fds;
  uint32_t nfds; /* entries allocated */
  bool exited;
  uint32_t exit_code;
  int wake_fd;   /* eventfd that tw_wasi_interrupt signals */
  atomic_bool interrupted;
};

/* One call's view of guest memory. */
typedef struct tw__wasi_call {
  tw_wasi_t *wasi;
  uint8_t *mem;
  uint64_t mem_size;
  bool exit;       /* set by proc_exit */
} tw__wasi_call;

/* Guest memory at [ptr, ptr+len), or NULL when any byte is outside. */
static inline uint8_t *tw__wasi_mem(const tw__wasi_call *c, uint32_t ptr,
                                    uint64_t len) {
  if (!c->mem || (uint64_t)ptr + len > c->mem_size) return NULL;
  return c->mem + ptr;
}

/* Little-endian stores and loads into guest memory (already checked). */
void tw__wasi_put_u16(uint8_t *p, uint16_t v);
void tw__wasi_put_u32(uint8_t *p, uint32_t v);
void tw__wasi_put_u64(uint8_t *p, uint64_t v);
uint16_t tw__wasi_get_u16(const uint8_t *p);
uint32_t tw__wasi_get_u32(const uint8_t *p);
uint64_t tw__wasi_get_u64(const uint8_t *p);
/* Stores a u32 / u64 result at a guest pointer: SUCCESS or FAULT. */
uint16_t tw__wasi_store_u32(const tw__wasi_call *c, uint32_t ptr, uint32_t v);
uint16_t tw__wasi_store_u64(const tw__wasi_call *c, uint32_t ptr, uint64_t v);

/* The open fd `fd` that holds every right in `need`: BADF when not open,
 * NOTCAPABLE when a right is missing. */
uint16_t tw__wasi_fd_get(tw_wasi_t *w, uint32_t fd, uint64_t need,
                         tw__wasi_fd **out);
/* Puts `e` (moved) into the lowest free slot; NFILE when the table is full. */
uint16_t tw__wasi_fd_insert(tw_wasi_t *w, const tw__wasi_fd *e, uint32_t *fd);
/* Releases what an entry owns and marks it free. */
void tw__wasi_fd_release(tw__wasi_fd *e);
/* Host file type to WASI filetype (st_mode bits). */
uint8_t tw__wasi_filetype(unsigned mode);
/* Writes a 64-byte WASI filestat for `st` (a struct stat *) at p. */
struct stat;
void tw__wasi_filestat_put(uint8_t *p, const struct stat *st);
/* Converts fd_filestat_set_times arguments to utimensat's two timespecs:
 * EINVAL when both a time and its _NOW flag are set, or unknown flags. */
struct timespec;
uint16_t tw__wasi_times(uint64_t atim, uint64_t mtim, uint32_t flags,
                        struct timespec ts[2]);
/* Waits until host fd `fd` is readable, or EINTR after tw_wasi_interrupt. */
uint16_t tw__wasi_wait_readable(tw_wasi_t *w, int fd);

typedef uint16_t (*tw__wasi_impl)(tw__wasi_call *c, const uint64_t *a);

#define TW__WASI_FUNCS(X)                                                     \
  /* name                    params   results */                              \
  X(args_get, "ii", "i")                                                      \
  X(args_sizes_get, "ii", "i")                                                \
  X(environ_get, "ii", "i")                                                   \
  X(environ_sizes_get, "ii", "i")                                             \
  X(clock_res_get, "ii", "i")                                                 \
  X(clock_time_get, "iIi", "i")                                               \
  X(fd_advise, "iIIi", "i")                                                   \
  X(fd_allocate, "iII", "i")                                                  \
  X(fd_close, "i", "i")                                                       \
  X(fd_datasync, "i", "i")                                                    \
  X(fd_fdstat_get, "ii", "i")                                                 \
  X(fd_fdstat_set_flags, "ii", "i")                                           \
  X(fd_fdstat_set_rights, "iII", "i")                                         \
  X(fd_filestat_get, "ii", "i")                                               \
  X(fd_filestat_set_size, "iI", "i")                                          \
  X(fd_filestat_set_times, "iIIi", "i")                                       \
  X(fd_pread, "iiiIi", "i")                                                   \
  X(fd_prestat_get, "ii", "i")                                                \
  X(fd_prestat_dir_name, "iii", "i")                                          \
  X(fd_pwrite, "iiiIi", "i")                                                  \
  X(fd_read, "iiii", "i")                                                     \
  X(fd_readdir, "iiiIi", "i")                                                 \
  X(fd_renumber, "ii", "i")                                                   \
  X(fd_seek, "iIii", "i")                                                     \
  X(fd_sync, "i", "i")                                                        \
  X(fd_tell, "ii", "i")                                                       \
  X(fd_write, "iiii", "i")                                                    \
  X(path_create_directory, "iii", "i")                                        \
  X(path_filestat_get, "iiiii", "i")                                          \
  X(path_filestat_set_times, "iiiiIIi", "i")                                  \
  X(path_link, "iiiiiii", "i")                                                \
  X(path_open, "iiiiiIIii", "i")                                              \
  X(path_readlink, "iiiiii", "i")                                             \
  X(path_remove_directory, "iii", "i")                                        \
  X(path_rename, "iiiiii", "i")                                               \
  X(path_symlink, "iiiii", "i")                                               \
  X(path_unlink_file, "iii", "i")                                             \
  X(poll_oneoff, "iiii", "i")                                                 \
  X(proc_exit, "i", "")                                                       \
  X(proc_raise, "i", "i")                                                     \
  X(sched_yield, "", "i")                                                     \
  X(random_get, "ii", "i")                                                    \
  X(sock_accept, "iii", "i")                                                  \
  X(sock_recv, "iiiiii", "i")                                                 \
  X(sock_send, "iiiii", "i")                                                  \
  X(sock_shutdown, "ii", "i")

#define TW__X(name, params, results)                                          \
  uint16_t tw__wasi_##name(tw__wasi_call *c, const uint64_t *a);
TW__WASI_FUNCS(TW__X)
#undef TW__X

/* Argument helpers: slot i as a u32 / u64. */
#define TW_A32(i) ((uint32_t)a[i])
#define TW_A64(i) ((uint64_t)a[i])

#endif
