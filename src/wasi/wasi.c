/* WASI contexts: configuration, the fd table, and the binding of
 * wasi_snapshot_preview1 imports to host functions.
 *
 * Each defined host function gets a small binding (context + which WASI
 * function) as its env; the binding holds one reference on the context, so
 * the context lives as long as any store that can call into it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi/wasi_int.h"

#define TW_WASI_MAX_FDS 4096
#define TW_WASI_DEFAULT_CAPTURE ((size_t)16 << 20)

/* ---- little helpers ---------------------------------------------------- */

void tw__wasi_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
void tw__wasi_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
void tw__wasi_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
uint16_t tw__wasi_get_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
uint32_t tw__wasi_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
uint64_t tw__wasi_get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

uint16_t tw__wasi_store_u32(const tw__wasi_call *c, uint32_t ptr, uint32_t v) {
  uint8_t *p = tw__wasi_mem(c, ptr, 4);
  if (!p) return TW_WASI_EFAULT;
  tw__wasi_put_u32(p, v);
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_store_u64(const tw__wasi_call *c, uint32_t ptr, uint64_t v) {
  uint8_t *p = tw__wasi_mem(c, ptr, 8);
  if (!p) return TW_WASI_EFAULT;
  tw__wasi_put_u64(p, v);
  return TW_WASI_ESUCCESS;
}

const char *tw__wasi_errno_name(uint16_t e) {
  switch (e) {
#define TW__X(name, value) case value: return #name;
    TW_WASI_ERRNO_LIST(TW__X)
#undef TW__X
  default: return "?";
  }
}

uint16_t tw__wasi_errno_from_host(int e) {
  switch (e) {
  case 0: return TW_WASI_ESUCCESS;
  case E2BIG: return TW_WASI_E2BIG;
  case EACCES: return TW_WASI_EACCES;
  case EADDRINUSE: return TW_WASI_EADDRINUSE;
  case EADDRNOTAVAIL: return TW_WASI_EADDRNOTAVAIL;
  case EAFNOSUPPORT: return TW_WASI_EAFNOSUPPORT;
  case EAGAIN: return TW_WASI_EAGAIN;
  case EALREADY: return TW_WASI_EALREADY;
  case EBADF: return TW_WASI_EBADF;
  case EBADMSG: return TW_WASI_EBADMSG;
  case EBUSY: return TW_WASI_EBUSY;
  case ECANCELED: return TW_WASI_ECANCELED;
  case ECHILD: return TW_WASI_ECHILD;
  case ECONNABORTED: return TW_WASI_ECONNABORTED;
  case ECONNREFUSED: return TW_WASI_ECONNREFUSED;
  case ECONNRESET: return TW_WASI_ECONNRESET;
  case EDEADLK: return TW_WASI_EDEADLK;
  case EDESTADDRREQ: return TW_WASI_EDESTADDRREQ;
  case EDOM: return TW_WASI_EDOM;
  case EDQUOT: return TW_WASI_EDQUOT;
  case EEXIST: return TW_WASI_EEXIST;
  case EFAULT: return TW_WASI_EFAULT;
  case EFBIG: return TW_WASI_EFBIG;
  case EHOSTUNREACH: return TW_WASI_EHOSTUNREACH;
  case EIDRM: return TW_WASI_EIDRM;
  case EILSEQ: return TW_WASI_EILSEQ;
  case EINPROGRESS: return TW_WASI_EINPROGRESS;
  case EINTR: return TW_WASI_EINTR;
  case EINVAL: return TW_WASI_EINVAL;
  case EIO: return TW_WASI_EIO;
  case EISCONN: return TW_WASI_EISCONN;
  case EISDIR: return TW_WASI_EISDIR;
  case ELOOP: return TW_WASI_ELOOP;
  case EMFILE: return TW_WASI_EMFILE;
  case EMLINK: return TW_WASI_EMLINK;
  case EMSGSIZE: return TW_WASI_EMSGSIZE;
  case EMULTIHOP: return TW_WASI_EMULTIHOP;
  case ENAMETOOLONG: return TW_WASI_ENAMETOOLONG;
  case ENETDOWN: return TW_WASI_ENETDOWN;
  case ENETRESET: return TW_WASI_ENETRESET;
  case ENETUNREACH: return TW_WASI_ENETUNREACH;
  case ENFILE: return TW_WASI_ENFILE;
  case ENOBUFS: return TW_WASI_ENOBUFS;
  case ENODEV: return TW_WASI_ENODEV;
  case ENOENT: return TW_WASI_ENOENT;
  case ENOEXEC: return TW_WASI_ENOEXEC;
  case ENOLCK: return TW_WASI_ENOLCK;
  case ENOLINK: return TW_WASI_ENOLINK;
  case ENOMEM: return TW_WASI_ENOMEM;
  case ENOMSG: return TW_WASI_ENOMSG;
  case ENOPROTOOPT: return TW_WASI_ENOPROTOOPT;
  case ENOSPC: return TW_WASI_ENOSPC;
  case ENOSYS: return TW_WASI_ENOSYS;
  case ENOTCONN: return TW_WASI_ENOTCONN;
  case ENOTDIR: return TW_WASI_ENOTDIR;
  case ENOTEMPTY: return TW_WASI_ENOTEMPTY;
  case ENOTRECOVERABLE: return TW_WASI_ENOTRECOVERABLE;
  case ENOTSOCK: return TW_WASI_ENOTSOCK;
  case ENOTSUP: return TW_WASI_ENOTSUP;
  case ENOTTY: return TW_WASI_ENOTTY;
  case ENXIO: return TW_WASI_ENXIO;
  case EOVERFLOW: return TW_WASI_EOVERFLOW;
  case EOWNERDEAD: return TW_WASI_EOWNERDEAD;
  case EPERM: return TW_WASI_EPERM;
  case EPIPE: return TW_WASI_EPIPE;
  case EPROTO: return TW_WASI_EPROTO;
  case EPROTONOSUPPORT: return TW_WASI_EPROTONOSUPPORT;
  case EPROTOTYPE: return TW_WASI_EPROTOTYPE;
  case ERANGE: return TW_WASI_ERANGE;
  case EROFS: return TW_WASI_EROFS;
  case ESPIPE: return TW_WASI_ESPIPE;
  case ESRCH: return TW_WASI_ESRCH;
  case ESTALE: return TW_WASI_ESTALE;
  case ETIMEDOUT: return TW_WASI_ETIMEDOUT;
  case ETXTBSY: return TW_WASI_ETXTBSY;
  case EXDEV: return TW_WASI_EXDEV;
  default: return TW_WASI_EIO;
  }
}

uint8_t tw__wasi_filetype(unsigned mode) {
  switch (mode & S_IFMT) {
  case S_IFREG: return TW_WASI_FILETYPE_REGULAR_FILE;
  case S_IFDIR: return TW_WASI_FILETYPE_DIRECTORY;
  case S_IFCHR: return TW_WASI_FILETYPE_CHARACTER_DEVICE;
  case S_IFBLK: return TW_WASI_FILETYPE_BLOCK_DEVICE;
  case S_IFLNK: return TW_WASI_FILETYPE_SYMBOLIC_LINK;
  case S_IFSOCK: return TW_WASI_FILETYPE_SOCKET_STREAM;
  default: return TW_WASI_FILETYPE_UNKNOWN; /* FIFOs have no WASI type */
  }
}

uint16_t tw__wasi_wait_readable(tw_wasi_t *w, int fd) {
  struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                        {.fd = w->wake_fd, .events = POLLIN}};
  for (;;) {
    if (atomic_load(&w->interrupted)) return TW_WASI_EINTR;
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tw__wasi_errno_from_host(errno);
    if (p[1].revents) return TW_WASI_EINTR;
    return TW_WASI_ESUCCESS; /* readable, hung up or in error: read tells */
  }
}

/* ---- the fd table ------------------------------------------------------ */

uint16_t tw__wasi_fd_get(tw_wasi_t *w, uint32_t fd, uint64_t need,
                         tw__wasi_fd **out) {
  if (fd >= w->nfds || w->fds[fd].kind == TW__FD_FREE) return TW_WASI_EBADF;
  tw__wasi_fd *e = &w->fds[fd];
  if ((e->rights_base & need) != need) return TW_WASI_ENOTCAPABLE;
  *out = e;
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_fd_insert(tw_wasi_t *w, const tw__wasi_fd *e, uint32_t *fd) {
  uint32_t i = 0;
  while (i < w->nfds && w->fds[i].kind != TW__FD_FREE) i++;
  if (i == w->nfds) {
    if (w->nfds >= TW_WASI_MAX_FDS) return TW_WASI_ENFILE;
    uint32_t ncap = w->nfds ? w->nfds * 2 : 8;
    if (ncap > TW_WASI_MAX_FDS) ncap = TW_WASI_MAX_FDS;
    tw__wasi_fd *nfds = realloc(w->fds, ncap * sizeof *nfds);
    if (!nfds) return TW_WASI_ENOMEM;
    memset(nfds + w->nfds, 0, (ncap - w->nfds) * sizeof *nfds);
    w->fds = nfds;
    w->nfds = ncap;
  }
  w->fds[i] = *e;
  *fd = i;
  return TW_WASI_ESUCCESS;
}

void tw__wasi_fd_release(tw__wasi_fd *e) {
  if (e->dir) closedir(e->dir); /* owns a dup of e->host */
  if (e->host >= 0 && e->kind != TW__FD_STDIO) close(e->host);
  free(e->preopen);
  memset(e, 0, sizeof *e);
  e->host = -1;
}

/* ---- creation ---------------------------------------------------------- */

static char **copy_strings(const char *const *src, size_t n, size_t *bytes) {
  char **dst = calloc(n + 1, sizeof *dst);
  if (!dst) return NULL;
  *bytes = 0;
  for (size_t i = 0; i < n; i++) {
    dst[i] = strdup(src[i] ? src[i] : "");
    if (!dst[i]) {
      for (size_t j = 0; j < i; j++) free(dst[j]);
      free(dst);
      return NULL;
    }
    *bytes += strlen(dst[i]) + 1;
  }
  return dst;
}

static tw_status err_set(tw_error *err, tw_status s, const char *fmt,
                         const char *a, const char *b) {
  if (err) {
    tw_error_clear(err);
    err->status = s;
    snprintf(err->message, sizeof err->message, fmt, a, b);
  }
  return s;
}

/* Sets up stream i and its fd-table entry. */
static tw_status stdio_init(tw_wasi_t *w, uint32_t i, const tw_wasi_stdio *cfg,
                            tw_error *err) {
  static const char *const names[] = {"stdin", "stdout", "stderr"};
  tw__wasi_stream *s = &w->streams[i];
  tw__wasi_fd *e = &w->fds[i];
  s->cfg = *cfg;
  e->kind = TW__FD_STDIO;
  e->host = -1;
  e->stream = i;
  e->filetype = TW_WASI_FILETYPE_CHARACTER_DEVICE;
  uint64_t io = i == 0 ? TW_WASI_RIGHT(TW_R_FD_READ) : TW_WASI_RIGHT(TW_R_FD_WRITE);
  e->rights_base = io | TW_WASI_RIGHT(TW_R_POLL_FD_READWRITE) |
                   TW_WASI_RIGHT(TW_R_FD_FDSTAT_SET_FLAGS) |
                   TW_WASI_RIGHT(TW_R_FD_FILESTAT_GET);
  switch (cfg->kind) {
  case TW_WASI_STDIO_NULL:
    return TW_OK;
  case TW_WASI_STDIO_FD: {
    struct stat st;
    if (fstat(cfg->host_fd, &st) != 0)
      return err_set(err, TW_ARG, "wasi %s: host fd is not open (%s)", names[i],
                     strerror(errno));
    e->filetype = tw__wasi_filetype(st.st_mode);
    e->host = cfg->host_fd;
    if (S_ISREG(st.st_mode))
      e->rights_base |= TW_WASI_RIGHT(TW_R_FD_SEEK) | TW_WASI_RIGHT(TW_R_FD_TELL);
    return TW_OK;
  }
  case TW_WASI_STDIO_BUFFER:
    if (i == 0) {
      s->buf = malloc(cfg->len ? cfg->len : 1);
      if (!s->buf) return err_set(err, TW_NOMEM, "wasi %s: %s", names[i], "out of memory");
      if (cfg->len) memcpy(s->buf, cfg->data, cfg->len);
      s->len = cfg->len;
    } else {
      s->max = cfg->capture_max ? cfg->capture_max : TW_WASI_DEFAULT_CAPTURE;
    }
    return TW_OK;
  case TW_WASI_STDIO_CALLBACK:
    if (i == 0 || !cfg->write)
      return err_set(err, TW_ARG, "wasi %s: %s", names[i],
                     i == 0 ? "a callback stream must be stdout or stderr"
                            : "callback stream without a write function");
    return TW_OK;
  }
  return err_set(err, TW_ARG, "wasi %s: %s", names[i], "unknown stream kind");
}

static tw_status preopen_init(tw_wasi_t *w, const tw_wasi_preopen *p,
                              tw_error *err) {
  if (!p->host_path)
    return err_set(err, TW_ARG, "wasi preopen: %s%s", "no host path", "");
  const char *guest = p->guest_path ? p->guest_path : p->host_path;
  int fd = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    tw_status s = errno == ENOENT ? TW_NOT_FOUND : TW_ARG;
    return err_set(err, s, "preopen %s: %s", p->host_path, strerror(errno));
  }
  tw__wasi_fd e = {.kind = TW__FD_DIR, .host = fd,
                   .filetype = TW_WASI_FILETYPE_DIRECTORY};
  e.rights_inheriting = TW_WASI_RIGHTS_ALL;
  if (p->read_only) e.rights_inheriting &= ~TW_WASI_RIGHTS_WRITE;
  e.rights_base = e.rights_inheriting &
                  ~(TW_WASI_RIGHT(TW_R_FD_READ) | TW_WASI_RIGHT(TW_R_FD_WRITE) |
                    TW_WASI_RIGHT(TW_R_FD_SEEK) | TW_WASI_RIGHT(TW_R_FD_TELL) |
                    TW_WASI_RIGHT(TW_R_FD_ALLOCATE) |
                    TW_WASI_RIGHT(TW_R_FD_FILESTAT_SET_SIZE));
  e.preopen = strdup(guest);
  uint32_t slot;
  if (!e.preopen || tw__wasi_fd_insert(w, &e, &slot) != TW_WASI_ESUCCESS) {
    tw__wasi_fd_release(&e);
    return err_set(err, TW_NOMEM, "preopen %s: %s", p->host_path, "out of memory");
  }
  return TW_OK;
}

tw_status tw_wasi_new(const tw_wasi_config *config, tw_wasi_t **out,
                      tw_error *err) {
  static const tw_wasi_config none;
  const tw_wasi_config *cfg = config ? config : &none;
  tw_status s = TW_NOMEM;
  tw_wasi_t *w = calloc(1, sizeof *w);
  if (!w) goto fail_nomem;
  atomic_init(&w->refs, 1);
  atomic_init(&w->interrupted, false);
  w->wake_fd = -1;
  w->args = copy_strings(cfg->args, cfg->nargs, &w->args_bytes);
  w->env = copy_strings(cfg->env, cfg->nenv, &w->env_bytes);
  if (!w->args || !w->env) goto fail_nomem;
  w->nargs = cfg->nargs;
  w->nenv = cfg->nenv;
  w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->wake_fd < 0) {
    s = err_set(err, TW_IO, "wasi: eventfd: %s%s", strerror(errno), "");
    goto fail;
  }
  w->fds = calloc(8, sizeof *w->fds);
  if (!w->fds) goto fail_nomem;
  w->nfds = 8;
  for (uint32_t i = 0; i < w->nfds; i++) w->fds[i].host = -1;
  for (uint32_t i = 0; i < 3; i++)
    if ((s = stdio_init(w, i, &cfg->stdio[i], err)) != TW_OK) goto fail;
  for (size_t i = 0; i < cfg->npreopens; i++)
    if ((s = preopen_init(w, &cfg->preopens[i], err)) != TW_OK) goto fail;
  *out = w;
  return TW_OK;
fail_nomem:
  s = err_set(err, TW_NOMEM, "wasi: %s%s", "out of memory", "");
fail:
  tw_wasi_free(w);
  return s;
}

static void wasi_destroy(tw_wasi_t *w) {
  for (size_t i = 0; w->args && i < w->nargs; i++) free(w->args[i]);
  for (size_t i = 0; w->env && i < w->nenv; i++) free(w->env[i]);
  free(w->args);
  free(w->env);
  for (uint32_t i = 0; i < w->nfds; i++)
    if (w->fds[i].kind != TW__FD_FREE) tw__wasi_fd_release(&w->fds[i]);
  free(w->fds);
  for (int i = 0; i < 3; i++) free(w->streams[i].buf);
  if (w->wake_fd >= 0) close(w->wake_fd);
  free(w);
}

void tw_wasi_free(tw_wasi_t *w) {
  if (w && atomic_fetch_sub(&w->refs, 1) == 1) wasi_destroy(w);
}

bool tw_wasi_exited(const tw_wasi_t *w, uint32_t *code) {
  if (w->exited && code) *code = w->exit_code;
  return w->exited;
}

void tw_wasi_output(const tw_wasi_t *w, uint32_t fd, const uint8_t **data,
                    size_t *len) {
  *data = NULL;
  *len = 0;
  if (fd != 1 && fd != 2) return;
  const tw__wasi_stream *s = &w->streams[fd];
  if (s->cfg.kind != TW_WASI_STDIO_BUFFER) return;
  *data = s->buf;
  *len = s->len;
}

void tw_wasi_interrupt(tw_wasi_t *w) {
  uint64_t one = 1;
  atomic_store(&w->interrupted, true);
  ssize_t n = write(w->wake_fd, &one, sizeof one);
  (void)n; /* a full eventfd already wakes every poller */
}

/* ---- binding imports --------------------------------------------------- */

typedef struct tw__wasi_func {
  const char *name;
  const char *params, *results;
  tw__wasi_impl impl;
} tw__wasi_func;

static const tw__wasi_func wasi_funcs[] = {
#define TW__X(name, params, results) {#name, params, results, tw__wasi_##name},
    TW__WASI_FUNCS(TW__X)
#undef TW__X
};

typedef struct tw__wasi_binding {
  tw_wasi_t *wasi;
  const tw__wasi_func *func;
} tw__wasi_binding;

static void binding_free(void *env) {
  tw__wasi_binding *b = env;
  tw_wasi_free(b->wasi);
  free(b);
}

/* Every WASI function enters here: set up the memory view, run the
 * implementation, store its errno; proc_exit turns into a trap. */
static tw_status trampoline(tw_caller_t *caller, void *env, uint64_t *slots,
                            tw_error *err) {
  tw__wasi_binding *b = env;
  tw_memory_t *mem = tw_caller_memory(caller);
  tw__wasi_call c = {.wasi = b->wasi,
                     .mem = mem ? tw_memory_data(mem) : NULL,
                     .mem_size = mem ? tw_memory_size(mem) : 0};
  uint16_t e = b->func->impl(&c, slots);
  if (c.exit)
    return tw_trap_set(err, TW_TRAP_HOST, TW_WASI_EXIT_PREFIX "%u)",
                       b->wasi->exit_code);
  if (b->func->results[0]) slots[0] = e;
  return TW_OK;
}

static tw_valtype sig_type(char c) { return c == 'I' ? TW_I64 : TW_I32; }

static const tw__wasi_func *func_find(tw_name name) {
  for (size_t i = 0; i < sizeof wasi_funcs / sizeof wasi_funcs[0]; i++)
    if (strlen(wasi_funcs[i].name) == name.len &&
        memcmp(wasi_funcs[i].name, name.data, name.len) == 0)
      return &wasi_funcs[i];
  return NULL;
}

static tw_status unlinkable(tw_error *err, tw_import_desc d, const char *why) {
  if (err) {
    tw_error_clear(err);
    err->status = TW_UNLINKABLE;
    snprintf(err->message, sizeof err->message, "import \"%.*s\" \"%.*s\": %s",
             (int)(d.module.len > 64 ? 64 : d.module.len), d.module.data,
             (int)(d.name.len > 64 ? 64 : d.name.len), d.name.data, why);
  }
  return TW_UNLINKABLE;
}

tw_status tw_wasi_resolve_import(tw_wasi_t *wasi, tw_store_t *store,
                                 const tw_module_t *module, size_t index,
                                 tw_extern *out, tw_error *err) {
  tw_import_desc d = tw_module_import(module, index);
  if (d.module.len != strlen(TW_WASI_MODULE) ||
      memcmp(d.module.data, TW_WASI_MODULE, d.module.len) != 0) {
    if (err) {
      unlinkable(err, d, "not a WASI import (only " TW_WASI_MODULE " is provided)");
      err->status = TW_NOT_FOUND;
    }
    return TW_NOT_FOUND;
  }
  const tw__wasi_func *f = func_find(d.name);
  if (!f) return unlinkable(err, d, "unknown WASI preview1 function");
  if (d.kind != TW_EXTERN_FUNC)
    return unlinkable(err, d, "WASI exports functions only");
  tw_valtype params[16], results[1];
  size_t np = strlen(f->params), nr = strlen(f->results);
  for (size_t i = 0; i < np; i++) params[i] = sig_type(f->params[i]);
  for (size_t i = 0; i < nr; i++) results[i] = sig_type(f->results[i]);
  tw__wasi_binding *b = malloc(sizeof *b);
  if (!b) return err_set(err, TW_NOMEM, "wasi: %s%s", "out of memory", "");
  b->wasi = wasi;
  b->func = f;
  atomic_fetch_add(&wasi->refs, 1);
  tw_func_t *fn = NULL;
  tw_status s = tw_func_new_host(store, params, np, results, nr, trampoline, b,
                                 binding_free, &fn, err);
  if (s != TW_OK) {
    binding_free(b);
    return s;
  }
  out->kind = TW_EXTERN_FUNC;
  out->of.func = fn;
  return TW_OK;
}

tw_status tw_wasi_resolve_imports(tw_wasi_t *wasi, tw_store_t *store,
                                  const tw_module_t *module, tw_extern *out,
                                  size_t cap, tw_error *err) {
  size_t n = tw_module_import_count(module);
  if (cap < n)
    return err_set(err, TW_ARG, "wasi: %s%s",
                   "import array smaller than the module's import count", "");
  for (size_t i = 0; i < n; i++) {
    tw_status s = tw_wasi_resolve_import(wasi, store, module, i, &out[i], err);
    if (s == TW_NOT_FOUND) {
      if (err) err->status = TW_UNLINKABLE;
      return TW_UNLINKABLE;
    }
    if (s != TW_OK) return s;
  }
  return TW_OK;
}
