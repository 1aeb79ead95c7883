/* TensorWasm WASI preview1: the `wasi_snapshot_preview1` import module.
 *
 * A tw_wasi_t is one guest's view of the world: its argv, its environment,
 * its three standard streams and the host directories it may see (its
 * preopens).  It holds no global state, so separate contexts may be used
 * from separate threads; one context is used by one thread at a time (the
 * thread running the store its functions were defined in).
 *
 * Typical use:
 *
 *   tw_wasi_new(&config, &wasi, &err);
 *   tw_wasi_resolve_imports(wasi, store, module, imports, n, &err);
 *   tw_instance_new(store, module, imports, n, &inst, &err);
 *   status = tw_func_call(store, start, NULL, 0, NULL, 0, &err);
 *   if (tw_wasi_exited(wasi, &code)) ... the guest called proc_exit(code)
 *   tw_wasi_free(wasi);               (any time; see ownership below)
 *
 * Ownership: everything a config points to is borrowed during tw_wasi_new
 * and copied.  A context is reference counted: tw_wasi_new returns the
 * caller's reference; every host function defined from it holds another,
 * dropped when its store is freed.  So tw_wasi_free may come before or
 * after tw_store_free.  Host directory and stdio file descriptors given in
 * the config are borrowed (dup'ed for preopens, used as-is for stdio) and
 * never closed by the context.
 *
 * Sandbox: a guest reaches the file system only through its preopens.  Path
 * resolution never leaves a preopen: `..` past its root, absolute paths and
 * symlinks that point outside are refused with ENOTCAPABLE; read-only
 * preopens refuse every change below them with ENOTCAPABLE.
 *
 * Errors returned to the guest are WASI errno values (the witx numbering);
 * they are not tw_status values.  proc_exit stops the guest with a
 * TW_TRAP_HOST trap whose message starts with TW_WASI_EXIT_PREFIX. */
#ifndef TENSORWASM_WASI_H
#define TENSORWASM_WASI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_wasi tw_wasi_t;

/* The import module name every function here is defined under. */
#define TW_WASI_MODULE "wasi_snapshot_preview1"
/* A proc_exit trap's message: "wasi proc_exit(CODE)". */
#define TW_WASI_EXIT_PREFIX "wasi proc_exit("

/* One host directory the guest may open paths under. */
typedef struct tw_wasi_preopen {
  const char *host_path;  /* borrowed; must name a directory */
  const char *guest_path; /* borrowed; the name the guest sees; NULL = host_path */
  bool read_only;         /* refuse creating, writing, renaming, removing */
} tw_wasi_preopen;

/* Where one standard stream goes.  The zero value is TW_WASI_STDIO_NULL:
 * a multi-tenant embedder must opt in before a guest reaches host fds. */
typedef enum tw_wasi_stdio_kind {
  TW_WASI_STDIO_NULL = 0, /* reads see end of file; writes are discarded */
  TW_WASI_STDIO_FD,       /* a host fd (e.g. 0, 1, 2), borrowed, not closed */
  TW_WASI_STDIO_BUFFER,   /* stdin: the bytes given; stdout/stderr: captured */
  TW_WASI_STDIO_CALLBACK  /* stdout/stderr: each write goes to `write` */
} tw_wasi_stdio_kind;

/* Called for each guest write to a TW_WASI_STDIO_CALLBACK stream (fd is 1
 * or 2).  `data` is borrowed for the call.  Returns 0, or a WASI errno that
 * the guest's write then fails with. */
typedef uint16_t (*tw_wasi_write_fn)(void *ctx, uint32_t fd,
                                     const uint8_t *data, size_t len);

typedef struct tw_wasi_stdio {
  tw_wasi_stdio_kind kind;
  int host_fd;           /* TW_WASI_STDIO_FD */
  const uint8_t *data;   /* TW_WASI_STDIO_BUFFER on stdin: copied */
  size_t len;
  size_t capture_max;    /* TW_WASI_STDIO_BUFFER on stdout/stderr: bytes
                            kept at most (0 = 16 MiB); past it, a write
                            stores what fits and fails with ENOSPC */
  tw_wasi_write_fn write; /* TW_WASI_STDIO_CALLBACK */
  void *write_ctx;        /* borrowed until the context is freed */
} tw_wasi_stdio;

typedef struct tw_wasi_config {
  const char *const *args;   /* argv, argv[0] included; borrowed, copied */
  size_t nargs;
  const char *const *env;    /* "NAME=VALUE" strings; borrowed, copied */
  size_t nenv;
  const tw_wasi_preopen *preopens; /* fds 3, 4, ... in this order */
  size_t npreopens;
  tw_wasi_stdio stdio[3];    /* [0] stdin, [1] stdout, [2] stderr */
} tw_wasi_config;

/* Copies `config` (borrowed; NULL means no args, env, preopens, null
 * stdio) and opens every preopen.  A preopen that is missing or not a
 * directory fails with TW_NOT_FOUND / TW_ARG and its path in the message.
 * *out holds the caller's reference. */
tw_status tw_wasi_new(const tw_wasi_config *config, tw_wasi_t **out,
                      tw_error *err);
/* Drops the caller's reference; the context goes when the last store using
 * it has been freed.  NULL is accepted. */
void tw_wasi_free(tw_wasi_t *wasi);

/* Defines the WASI host function for every import of `module` (borrowed)
 * and writes it to out[i], in import order; `cap` must be at least
 * tw_module_import_count(module).  The functions are made in `store`
 * (borrowed).  Fails with TW_UNLINKABLE naming the first import that is not
 * a wasi_snapshot_preview1 function or names an unknown WASI function.  An
 * import whose declared type differs from the WASI signature is refused
 * later, by tw_instance_new (TW_UNLINKABLE, "incompatible import type"). */
tw_status tw_wasi_resolve_imports(tw_wasi_t *wasi, tw_store_t *store,
                                  const tw_module_t *module, tw_extern *out,
                                  size_t cap, tw_error *err);
/* The same for one import, for embedders that mix WASI with other import
 * modules: TW_NOT_FOUND (and `out` untouched) when import `index` is not
 * from wasi_snapshot_preview1, so the caller can resolve it elsewhere;
 * TW_UNLINKABLE when it is but cannot be provided. */
tw_status tw_wasi_resolve_import(tw_wasi_t *wasi, tw_store_t *store,
                                 const tw_module_t *module, size_t index,
                                 tw_extern *out, tw_error *err);

/* True once the guest has called proc_exit; *code (optional output) gets
 * its argument. */
bool tw_wasi_exited(const tw_wasi_t *wasi, uint32_t *code);

/* Captured bytes of a TW_WASI_STDIO_BUFFER stdout (fd 1) or stderr (fd 2).
 * *data is borrowed until the next guest call or tw_wasi_free; an empty or
 * non-buffer stream gives len 0. */
void tw_wasi_output(const tw_wasi_t *wasi, uint32_t fd, const uint8_t **data,
                    size_t *len);

/* Wakes a guest blocked in poll_oneoff or in a read of a host stdin; that
 * call and every later blocking call return EINTR at once.  Pair it with
 * tw_store_interrupt to stop a guest on a deadline.  Safe from any thread. */
void tw_wasi_interrupt(tw_wasi_t *wasi);

#ifdef __cplusplus
}
#endif
#endif
