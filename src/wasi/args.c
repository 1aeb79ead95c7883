/* WASI args and environ, clocks, random_get, proc_exit / proc_raise,
 * sched_yield and the sock_* functions.
 *
 * Sockets: a context never hands a guest a socket (preview1 has no way to
 * make one, and preopened sockets are not offered), so sock_* answer EBADF
 * for a closed fd and ENOTSOCK for any open one, as the spec allows. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "wasi/wasi_int.h"

/* Writes `n` NUL-terminated strings as a pointer array at `ptrs` and their
 * bytes at `buf` (the layout args_get and environ_get share). */
static uint16_t strings_get(tw__wasi_call *c, char *const *s, size_t n,
                            size_t bytes, uint32_t ptrs, uint32_t buf) {
  uint8_t *p = tw__wasi_mem(c, ptrs, (uint64_t)n * 4);
  uint8_t *b = tw__wasi_mem(c, buf, bytes);
  if (!p || !b) return TW_WASI_EFAULT;
  uint32_t off = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(s[i]) + 1;
    tw__wasi_put_u32(p + 4 * i, buf + off);
    memcpy(b + off, s[i], len);
    off += (uint32_t)len;
  }
  return TW_WASI_ESUCCESS;
}

static uint16_t sizes_get(tw__wasi_call *c, size_t n, size_t bytes,
                          uint32_t count_ptr, uint32_t size_ptr) {
  if (n > UINT32_MAX || bytes > UINT32_MAX) return TW_WASI_EOVERFLOW;
  uint16_t e = tw__wasi_store_u32(c, count_ptr, (uint32_t)n);
  return e ? e : tw__wasi_store_u32(c, size_ptr, (uint32_t)bytes);
}

uint16_t tw__wasi_args_get(tw__wasi_call *c, const uint64_t *a) {
  tw_wasi_t *w = c->wasi;
  return strings_get(c, w->args, w->nargs, w->args_bytes, TW_A32(0), TW_A32(1));
}

uint16_t tw__wasi_args_sizes_get(tw__wasi_call *c, const uint64_t *a) {
  return sizes_get(c, c->wasi->nargs, c->wasi->args_bytes, TW_A32(0), TW_A32(1));
}

uint16_t tw__wasi_environ_get(tw__wasi_call *c, const uint64_t *a) {
  tw_wasi_t *w = c->wasi;
  return strings_get(c, w->env, w->nenv, w->env_bytes, TW_A32(0), TW_A32(1));
}

uint16_t tw__wasi_environ_sizes_get(tw__wasi_call *c, const uint64_t *a) {
  return sizes_get(c, c->wasi->nenv, c->wasi->env_bytes, TW_A32(0), TW_A32(1));
}

/* WASI clock ids 0..3 in witx order. */
static int host_clock(uint32_t id, clockid_t *out) {
  static const clockid_t map[] = {CLOCK_REALTIME, CLOCK_MONOTONIC,
                                  CLOCK_PROCESS_CPUTIME_ID,
                                  CLOCK_THREAD_CPUTIME_ID};
  if (id >= sizeof map / sizeof map[0]) return -1;
  *out = map[id];
  return 0;
}

uint16_t tw__wasi_clock_res_get(tw__wasi_call *c, const uint64_t *a) {
  clockid_t id;
  struct timespec ts;
  if (host_clock(TW_A32(0), &id) != 0) return TW_WASI_EINVAL;
  if (clock_getres(id, &ts) != 0) return tw__wasi_errno_from_host(errno);
  return tw__wasi_store_u64(c, TW_A32(1),
                            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint16_t tw__wasi_clock_time_get(tw__wasi_call *c, const uint64_t *a) {
  clockid_t id;
  struct timespec ts;
  if (host_clock(TW_A32(0), &id) != 0) return TW_WASI_EINVAL;
  if (clock_gettime(id, &ts) != 0) return tw__wasi_errno_from_host(errno);
  return tw__wasi_store_u64(c, TW_A32(2),
                            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint16_t tw__wasi_random_get(tw__wasi_call *c, const uint64_t *a) {
  uint32_t len = TW_A32(1);
  uint8_t *p = tw__wasi_mem(c, TW_A32(0), len);
  if (!p) return TW_WASI_EFAULT;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return tw__wasi_errno_from_host(errno);
    p += n;
    len -= (uint32_t)n;
  }
  return TW_WASI_ESUCCESS;
}

uint16_t tw__wasi_proc_exit(tw__wasi_call *c, const uint64_t *a) {
  c->wasi->exited = true;
  c->wasi->exit_code = TW_A32(0);
  c->exit = true;
  return TW_WASI_ESUCCESS;
}

/* Signals are not delivered to guests: preview1 leaves raise unsupported. */
uint16_t tw__wasi_proc_raise(tw__wasi_call *c, const uint64_t *a) {
  (void)c;
  (void)a;
  return TW_WASI_ENOSYS;
}

uint16_t tw__wasi_sched_yield(tw__wasi_call *c, const uint64_t *a) {
  (void)c;
  (void)a;
  sched_yield();
  return TW_WASI_ESUCCESS;
}

static uint16_t not_a_socket(tw__wasi_call *c, uint32_t fd) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(c->wasi, fd, 0, &e);
  return r ? r : TW_WASI_ENOTSOCK;
}

uint16_t tw__wasi_sock_accept(tw__wasi_call *c, const uint64_t *a) {
  return not_a_socket(c, TW_A32(0));
}
uint16_t tw__wasi_sock_recv(tw__wasi_call *c, const uint64_t *a) {
  return not_a_socket(c, TW_A32(0));
}
uint16_t tw__wasi_sock_send(tw__wasi_call *c, const uint64_t *a) {
  return not_a_socket(c, TW_A32(0));
}
uint16_t tw__wasi_sock_shutdown(tw__wasi_call *c, const uint64_t *a) {
  return not_a_socket(c, TW_A32(0));
}
