/* WASI poll_oneoff: clock and fd subscriptions.
 *
 * Deadlines are kept on CLOCK_MONOTONIC (an absolute realtime deadline is
 * converted once, at entry).  Streams that never block (memory buffers,
 * null streams, regular files) are ready at once; host fds that can block
 * are waited for with ppoll together with the context's wake fd, so
 * tw_wasi_interrupt ends the wait with EINTR. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wasi/wasi_int.h"

#define SUB_SIZE 48
#define EVENT_SIZE 32
#define TW_WASI_POLL_MAX 4096

enum { EV_CLOCK = 0, EV_FD_READ = 1, EV_FD_WRITE = 2 };
enum { EVRW_HANGUP = 1 };

typedef struct sub {
  uint64_t userdata;
  uint8_t type;
  uint64_t deadline;  /* EV_CLOCK: monotonic ns */
  int host;           /* fd subscriptions that must be waited for, else -1 */
  bool ready;         /* an event is to be reported */
  uint16_t error;
  uint64_t nbytes;
  uint16_t flags;
} sub;

static uint64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void clock_sub(sub *s, const uint8_t *p) {
  uint32_t id = tw__wasi_get_u32(p + 16);
  uint64_t timeout = tw__wasi_get_u64(p + 24);
  bool abs = tw__wasi_get_u16(p + 40) & 1;
  uint64_t mono = now_ns(CLOCK_MONOTONIC);
  if (id > 1) { /* CPU-time clocks cannot be waited on */
    s->ready = true;
    s->error = TW_WASI_EINVAL;
    return;
  }
  if (!abs) {
    s->deadline = timeout > UINT64_MAX - mono ? UINT64_MAX : mono + timeout;
  } else if (id == 1) {
    s->deadline = timeout;
  } else {
    uint64_t real = now_ns(CLOCK_REALTIME);
    s->deadline = timeout <= real ? mono : mono + (timeout - real);
  }
}

/* Fills an fd subscription: ready now, or a host fd to wait on. */
static void fd_sub(tw_wasi_t *w, sub *s, const uint8_t *p) {
  tw__wasi_fd *e;
  uint16_t r = tw__wasi_fd_get(w, tw__wasi_get_u32(p + 16),
                               TW_WASI_RIGHT(TW_R_POLL_FD_READWRITE), &e);
  if (r) {
    s->ready = true;
    s->error = r;
    return;
  }
  if (e->kind == TW__FD_STDIO && w->streams[e->stream].cfg.kind != TW_WASI_STDIO_FD) {
    tw__wasi_stream *st = &w->streams[e->stream];
    s->ready = true;
    if (s->type == EV_FD_READ) {
      s->nbytes = st->cfg.kind == TW_WASI_STDIO_BUFFER ? st->len - st->pos : 0;
      if (s->nbytes == 0) s->flags = EVRW_HANGUP;
    }
    return;
  }
  struct stat sb;
  if (fstat(e->host, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))) {
    s->ready = true; /* files never block */
    if (s->type == EV_FD_READ && S_ISREG(sb.st_mode)) {
      off_t pos = lseek(e->host, 0, SEEK_CUR);
      s->nbytes = pos >= 0 && sb.st_size > pos ? (uint64_t)(sb.st_size - pos) : 0;
    }
    return;
  }
  s->host = e->host;
}

/* Waits for the host fds in `subs` (and the wake fd) until `deadline`
 * (monotonic ns, UINT64_MAX = none); marks the ones that became ready. */
static uint16_t wait_fds(tw_wasi_t *w, sub *subs, uint32_t n, uint64_t deadline,
                         bool ready_now) {
  struct pollfd *pf = calloc(n + 1, sizeof *pf);
  uint32_t *who = calloc(n + 1, sizeof *who);
  uint16_t r = TW_WASI_ESUCCESS;
  uint32_t np = 0;
  if (!pf || !who) {
    r = TW_WASI_ENOMEM;
    goto done;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (subs[i].type == EV_CLOCK || subs[i].host < 0) continue;
    pf[np].fd = subs[i].host;
    pf[np].events = subs[i].type == EV_FD_READ ? POLLIN : POLLOUT;
    who[np++] = i;
  }
  pf[np].fd = w->wake_fd;
  pf[np].events = POLLIN;
  struct timespec ts = {0, 0}, *tsp = &ts;
  if (!ready_now) {
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    if (deadline == UINT64_MAX) {
      tsp = NULL;
    } else if (deadline > now) {
      ts.tv_sec = (time_t)((deadline - now) / 1000000000u);
      ts.tv_nsec = (long)((deadline - now) % 1000000000u);
    }
  }
  int got = ppoll(pf, np + 1, tsp, NULL);
  if (got < 0) {
    r = errno == EINTR ? TW_WASI_EINTR : tw__wasi_errno_from_host(errno);
    goto done;
  }
  if (pf[np].revents || atomic_load(&w->interrupted)) {
    r = TW_WASI_EINTR;
    goto done;
  }
  for (uint32_t k = 0; k < np; k++) {
    sub *s = &subs[who[k]];
    if (!pf[k].revents) continue;
    s->ready = true;
    if (pf[k].revents & (POLLHUP | POLLERR)) s->flags = EVRW_HANGUP;
    int avail = 0;
    if (s->type == EV_FD_READ && ioctl(s->host, FIONREAD, &avail) == 0 && avail > 0)
      s->nbytes = (uint64_t)avail;
  }
done:
  free(pf);
  free(who);
  return r;
}

static void event_put(uint8_t *p, const sub *s) {
  memset(p, 0, EVENT_SIZE);
  tw__wasi_put_u64(p, s->userdata);
  tw__wasi_put_u16(p + 8, s->error);
  p[10] = s->type;
  if (s->type != EV_CLOCK) {
    tw__wasi_put_u64(p + 16, s->nbytes);
    tw__wasi_put_u16(p + 24, s->flags);
  }
}

uint16_t tw__wasi_poll_oneoff(tw__wasi_call *c, const uint64_t *a) {
  tw_wasi_t *w = c->wasi;
  uint32_t n = TW_A32(2);
  if (n == 0) return TW_WASI_EINVAL;
  if (n > TW_WASI_POLL_MAX) return TW_WASI_E2BIG;
  const uint8_t *in = tw__wasi_mem(c, TW_A32(0), (uint64_t)n * SUB_SIZE);
  uint8_t *out = tw__wasi_mem(c, TW_A32(1), (uint64_t)n * EVENT_SIZE);
  if (!in || !out || !tw__wasi_mem(c, TW_A32(3), 4)) return TW_WASI_EFAULT;
  if (atomic_load(&w->interrupted)) return TW_WASI_EINTR;
  sub *subs = calloc(n, sizeof *subs);
  if (!subs) return TW_WASI_ENOMEM;
  uint16_t r = TW_WASI_ESUCCESS;
  uint64_t deadline = UINT64_MAX;
  bool any_ready = false, any_wait = false;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *p = in + (size_t)i * SUB_SIZE;
    sub *s = &subs[i];
    s->userdata = tw__wasi_get_u64(p);
    s->type = p[8];
    s->host = -1;
    if (s->type == EV_CLOCK) {
      clock_sub(s, p);
      if (!s->ready && s->deadline < deadline) deadline = s->deadline;
    } else if (s->type == EV_FD_READ || s->type == EV_FD_WRITE) {
      fd_sub(w, s, p);
      any_wait |= s->host >= 0;
    } else {
      r = TW_WASI_EINVAL;
      goto done;
    }
    any_ready |= s->ready;
  }
  for (;;) {
    if (any_wait || !any_ready) {
      if ((r = wait_fds(w, subs, n, deadline, any_ready))) goto done;
    }
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    for (uint32_t i = 0; i < n; i++)
      if (subs[i].type == EV_CLOCK && !subs[i].ready && subs[i].deadline <= now)
        subs[i].ready = true;
    any_ready = false;
    for (uint32_t i = 0; i < n; i++) any_ready |= subs[i].ready;
    if (any_ready) break; /* else ppoll woke before the deadline: wait again */
  }
  uint32_t nev = 0;
  for (uint32_t i = 0; i < n; i++)
    if (subs[i].ready) event_put(out + (size_t)nev++ * EVENT_SIZE, &subs[i]);
  r = tw__wasi_store_u32(c, TW_A32(3), nev);
done:
  free(subs);
  return r;
}
