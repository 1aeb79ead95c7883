/* The epoch ticker: one thread per executor, started by the first call
 * with a deadline, that advances the epoch every tick and interrupts the
 * stores whose call deadline has passed.  The
 * deadline itself is a monotonic-clock instant, so it never fires early
 * and fires at most one tick late, however the ticker is scheduled.
 *
 * Only stores that are inside a call are on the running list, so a tick
 * costs one lock and a walk over the calls in flight, not over every live
 * instance.  A store is interrupted only while its call is in flight
 * (checked under run_mu); a call that ends in the same instant may still
 * see the request afterwards, which instance.c clears before the next call
 * (tw_store_clear_interrupt).
 *
 * WASI is woken one tick after the store: a guest that is executing stops
 * at its next back-edge within that tick, so only a guest blocked in a
 * host call is still in flight then, and tw_wasi_interrupt (which is
 * permanent for the context) is not spent on calls that were about to end
 * anyway. */
#include <errno.h>
#include <time.h>

#include "exec/exec_int.h"

static void wake_expired(tw_exec_t *exec, uint64_t epoch, uint64_t now) {
  for (tw__exec_run *r = exec->running.next; r != &exec->running;
       r = r->next) {
    if (!r->deadline_ns || now < r->deadline_ns) continue;
    if (r->reason == TW__RUN_NONE) {
      r->reason = TW__RUN_DEADLINE;
      r->interrupted_epoch = epoch;
      tw_store_interrupt(r->store);
    } else if (!r->wasi_woken && epoch > r->interrupted_epoch && r->wasi) {
      r->wasi_woken = true;
      tw_wasi_interrupt(r->wasi);
      tw_cuda_interrupt(r->cuda);
    }
  }
}

static void *ticker_main(void *arg) {
  tw_exec_t *exec = arg;
  uint64_t tick_ns = (uint64_t)exec->cfg.epoch_tick_ms * 1000000u;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  pthread_mutex_lock(&exec->run_mu);
  while (!exec->ticker_stop) {
    uint64_t ns = (uint64_t)next.tv_nsec + tick_ns;
    next.tv_sec += (time_t)(ns / 1000000000u);
    next.tv_nsec = (long)(ns % 1000000000u);
    int rc = 0;
    while (!exec->ticker_stop && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&exec->ticker_cv, &exec->run_mu, &next);
    if (exec->ticker_stop) break;
    uint64_t epoch = atomic_fetch_add(&exec->epoch, 1) + 1;
    wake_expired(exec, epoch, tw__exec_now_ns());
    /* A ticker that fell behind (a loaded host) skips the ticks it missed
     * instead of firing them back to back. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > next.tv_sec ||
        (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
      next = now;
  }
  pthread_mutex_unlock(&exec->run_mu);
  return NULL;
}

tw_status tw__ticker_init(tw_exec_t *exec, tw_exec_error *err) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) ||
      pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
      pthread_cond_init(&exec->ticker_cv, &attr))
    return tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "cannot set up the epoch ticker");
  pthread_condattr_destroy(&attr);
  exec->ticker_inited = true;
  atomic_init(&exec->ticker_started, false);
  exec->running.next = exec->running.prev = &exec->running;
  return TW_OK;
}

/* The thread starts with the first call that has a deadline, so a process
 * that never sets one (`tensor-wasm run` without --timeout) does not pay
 * for it: a third of an empty program's start-up.  Every later call with
 * a deadline sees it started without taking run_mu, which tw__run_arm
 * takes next anyway. */
tw_status tw__ticker_need(tw_exec_t *exec, uint64_t deadline_ms,
                          tw_exec_error *err) {
  if (!deadline_ms ||
      atomic_load_explicit(&exec->ticker_started, memory_order_acquire))
    return TW_OK;
  tw_status st = TW_OK;
  pthread_mutex_lock(&exec->run_mu);
  if (!atomic_load_explicit(&exec->ticker_started, memory_order_relaxed)) {
    if (pthread_create(&exec->ticker, NULL, ticker_main, exec))
      st = tw__exec_set_error(err, TW_EXEC_ERR_INTERNAL, TW_NOMEM,
                              "cannot start the epoch ticker thread");
    else
      atomic_store_explicit(&exec->ticker_started, true, memory_order_release);
  }
  pthread_mutex_unlock(&exec->run_mu);
  return st;
}

void tw__ticker_stop(tw_exec_t *exec) {
  if (!exec->ticker_inited) return;
  pthread_mutex_lock(&exec->run_mu);
  exec->ticker_stop = true;
  bool started = atomic_load_explicit(&exec->ticker_started, memory_order_relaxed);
  pthread_cond_signal(&exec->ticker_cv);
  pthread_mutex_unlock(&exec->run_mu);
  if (started) pthread_join(exec->ticker, NULL);
  pthread_cond_destroy(&exec->ticker_cv);
  atomic_store(&exec->ticker_started, false);
  exec->ticker_inited = false;
}

bool tw__run_arm(tw_exec_t *exec, tw__exec_run *run, uint64_t deadline_ms) {
  uint64_t deadline_ns =
      deadline_ms ? tw__exec_now_ns() + deadline_ms * 1000000u : 0;
  pthread_mutex_lock(&exec->run_mu);
  if (run->cancelled) {
    pthread_mutex_unlock(&exec->run_mu);
    return false;
  }
  run->in_call = true;
  run->reason = TW__RUN_NONE;
  run->wasi_woken = false;
  run->deadline_ns = deadline_ns;
  run->next = exec->running.next;
  run->prev = &exec->running;
  exec->running.next->prev = run;
  exec->running.next = run;
  pthread_mutex_unlock(&exec->run_mu);
  return true;
}

void tw__run_cancel(tw_exec_t *exec, tw__exec_run *run) {
  pthread_mutex_lock(&exec->run_mu);
  run->cancelled = true;
  if (run->in_call) {
    run->reason = TW__RUN_TERMINATE;
    tw_store_interrupt(run->store);
    if (run->wasi) tw_wasi_interrupt(run->wasi);
    tw_cuda_interrupt(run->cuda);
  }
  pthread_mutex_unlock(&exec->run_mu);
}

int tw__run_disarm(tw_exec_t *exec, tw__exec_run *run) {
  pthread_mutex_lock(&exec->run_mu);
  run->prev->next = run->next;
  run->next->prev = run->prev;
  run->next = run->prev = NULL;
  run->in_call = false;
  int reason = run->reason;
  run->reason = TW__RUN_NONE;
  pthread_mutex_unlock(&exec->run_mu);
  return reason;
}
