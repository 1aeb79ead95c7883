/* Async invocation: submission (POST .../invoke-async), the dispatcher
 * that claims jobs from the registry, the job run, and GET /jobs/:id.
 *
 * The registry is the queue: a job exists once enqueue has committed,
 * runs only after claim has moved it to running, and ends in complete or
 * fail.  So a crash loses nothing accepted.  With SQLite each job is
 * handed out once and tw_registry_recover fails, at the next start, the
 * jobs that were running.  With NATS (a cluster of gateways,
 * docs/CLUSTER.md) a job whose node died is handed out again, so it may
 * run more than once, but its outcome is recorded once: a finish that
 * loses that race gets TW_ARG, which here is news (info), not an error.
 *
 * The dispatcher takes a global guest permit before it claims, so async
 * jobs and synchronous invocations share one bound, and the guest pool
 * (sized to the permits) always has room for a claimed job.  Jobs may
 * hold at most three quarters of the permits, so synchronous requests of
 * other tenants are served while one tenant floods the queue.  When the
 * store fails, the dispatcher backs off (doubling, capped) instead of
 * spinning, and says so once when it starts and once when it recovers.
 *
 * Trace hand-off: the submitting request's span context is stored with
 * the job as a W3C traceparent (both backends keep it; NATS also carries
 * it as a message header), and the run attaches it, so async_invoke.job
 * is a child of http.invoke_function_async whichever thread, process or
 * node runs it, also after a restart.  (An in-memory table keyed by job
 * id did this before; in a cluster it would keep, on the submitting node,
 * an entry for every job another node ran.)
 *
 * Storage that cannot be reached (TW_IO: the NATS server is away, a disk
 * error) is answered 503 storage_unavailable with Retry-After, never 500:
 * the request did not wait on the store (the NATS backend refuses at once
 * while disconnected), and the client should retry.  That kind is not
 * (yet) in API_ERROR_LIST, so this file writes its envelope itself. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

typedef struct job_task {
  tw_api_t *api;
  tw_job job;
} job_task;

static void publish_outstanding(tw_api_t *api) {
  uint64_t n;
  if (tw_registry_job_outstanding(api->registry, &n, NULL) == TW_OK) {
    tw_gauge_set(api->metrics->jobs_active, (int64_t)n);
    tw_gauge_set(api->metrics->async_queue_depth, (int64_t)n);
  }
}

static bool submit(tw_api_t *api, api_req *r, const api_invoke_req *q, const char *fn_id,
                        const char *job_id, const tw_trace_ctx *ctx, api_fail *f) {
  tw_job_spec spec;
  tw_error err;
  char traceparent[TW_TRACEPARENT_LEN + 1];
  memset(&spec, 0, sizeof spec);
  spec.id = job_id;
  spec.function_id = fn_id;
  spec.tenant = r->tenant;
  spec.export_name = q->export_name;
  spec.args_json = q->args_json;
  spec.input = q->input;
  spec.input_len = q->input_len;
  /* No valid context (tracing off and no inbound one): the job starts a
   * trace of its own. */
  spec.traceparent = tw_traceparent_format(ctx, traceparent) ? traceparent : NULL;
  tw_error_clear(&err);
  tw_status st = tw_registry_job_enqueue(api->registry, &spec, &err);
  if (st == TW_LIMIT) {
    api_fail_set(f, API_ERR_CAPACITY_EXHAUSTED, "too many outstanding async jobs; retry later");
    return false;
  }
  if (st != TW_OK) {
    api_fail_store(f, st, &err);
    return false;
  }
  pthread_mutex_lock(&api->jobs_lock);
  api->jobs_signal++;
  pthread_cond_signal(&api->jobs_cond);
  pthread_mutex_unlock(&api->jobs_lock);
  publish_outstanding(api);
  return true;
}

void api_handle_invoke_async(api_req *r) {
  tw_api_t *api = r->api;
  tw_span_t *span = tw_span_begin("http.invoke_function_async", TW_API_TARGET, TW_LEVEL_INFO);
  api_invoke_req q;
  tw_function_info fn;
  char job_id[TW_UUID_LEN + 1];
  tw_trace_ctx ctx;
  api_fail f;
  bool parsed = false;
  tw_span_attr_str(span, "function_id", r->match.id);
  api_span_tenant(span, r->tenant);
  /* The body is checked before a job exists: invalid_args is synchronous. */
  if (!(parsed = api_invoke_parse(r, &q, &f))) goto fail;
  if (!api_function_lookup(api, r->match.id, r->tenant, &fn, &f)) goto fail;
  if (tw_registry_uuid_new(job_id, NULL) != TW_OK) {
    api_fail_set(&f, API_ERR_INTERNAL, "cannot make a job id");
    goto fail;
  }
  tw_span_attr_str(span, "job_id", job_id);
  if (span) ctx = tw_span_context(span);
  else tw_trace_ctx_current(&ctx);
  if (!submit(api, r, &q, fn.id, job_id, &ctx, &f)) goto fail;
  api_invoke_req_free(&q);
  api_resp_json(r, 202, json_pack("{s:s}", "job_id", job_id));
  tw_span_end(span);
  return;
fail:
  if (parsed) api_invoke_req_free(&q);
  tw_span_attr_str(span, "job_id", NULL);
  tw_span_attr_str(span, "error.kind", api_error_kind(f.kind));
  api_resp_fail(r, &f);
  tw_span_end(span);
}

/* ---- running a job --------------------------------------------------------------- */

/* Records the job's end: the result (out), or the failure (*f). */
static void job_finish(tw_api_t *api, const tw_job *job, json_t *out, const api_fail *f) {
  tw_error err;
  tw_status st;
  tw_error_clear(&err);
  if (out) {
    char *text = json_dumps(out, JSON_COMPACT);
    st = text ? tw_registry_job_complete(api->registry, job->id, text, &err) : TW_NOMEM;
    free(text);
  } else {
    char reason[sizeof f->message + 64];
    snprintf(reason, sizeof reason, "%s: %s", api_error_kind(f->kind), f->message);
    st = tw_registry_job_fail(api->registry, job->id, reason, &err);
  }
  if (st == TW_ARG) {
    /* Only NATS hands a job out twice: another node, which got it after
     * this one went quiet for an ack wait, recorded its outcome first.
     * That one stands (docs/CLUSTER.md); nothing is lost. */
    tw_event(TW_LEVEL_INFO, TW_API_TARGET, "job %s: outcome already recorded elsewhere: %s",
             job->id, err.message);
  } else if (st != TW_OK) {
    /* SQLite: failed as interrupted at the next start.  NATS: handed back
     * to the queue, to run again (on any node). */
    tw_event(TW_LEVEL_ERROR, TW_API_TARGET, "job %s: cannot record its end: %s", job->id,
             err.message);
  }
  publish_outstanding(api);
}

static bool job_run(tw_api_t *api, const tw_job *job, json_t **out, api_fail *f) {
  tw_function_info fn;
  tw_val *args = NULL;
  size_t nargs = 0;
  tw_exec_error e;
  tw_exec_error_clear(&e);
  if (!api_function_lookup(api, job->function_id, job->tenant, &fn, f)) return false;
  const char *text = job->args_json ? job->args_json : "[]";
  if (tw_exec_args_from_json_text(text, strlen(text), &args, &nargs, &e) != TW_OK) {
    api_fail_from_exec(f, &e);
    return false;
  }
  bool ok = api_invoke_run(api, &fn, job->tenant, job->export_name, args, nargs, nargs,
                           job->input, job->input_len, out, f);
  free(args);
  return ok;
}

static void job_task_run(void *arg) {
  job_task *t = arg;
  tw_api_t *api = t->api;
  tw_trace_ctx ctx;
  tw_trace_scope scope;
  const char *tp = t->job.traceparent;
  /* The submitter's context, whichever node submitted; none (or a
   * malformed one, which enqueue refuses anyway): a trace of its own. */
  bool joined = tp && tw_traceparent_parse(tp, strlen(tp), &ctx);
  uint64_t start = api_mono_ns();
  json_t *out = NULL;
  api_fail f;
  tw_trace_ctx_attach(joined ? &ctx : NULL, &scope);
  tw_span_t *span = tw_span_begin("async_invoke.job", TW_API_TARGET, TW_LEVEL_INFO);
  tw_span_attr_str(span, "job_id", t->job.id);
  tw_span_attr_str(span, "function_id", t->job.function_id);
  api_span_tenant(span, t->job.tenant);
  tw_event(TW_LEVEL_INFO, TW_API_TARGET, "async job %s started", t->job.id);
  if (!job_run(api, &t->job, &out, &f)) {
    const char *kind = api_error_kind(f.kind);
    out = NULL;
    tw_span_attr_str(span, "error.kind", kind);
    tw_span_set_status(span, TW_SPAN_STATUS_ERROR, kind);
  }
  job_finish(api, &t->job, out, &f);
  tw_histogram_observe(api->metrics->async_job_duration_seconds,
                       (double)(api_mono_ns() - start) / 1e9);
  json_decref(out);
  tw_span_end(span);
  tw_trace_ctx_detach(&scope);
  api_permits_release_async(api->permits);
  tw_job_clear(&t->job);
  free(t);
}

/* ---- the dispatcher ---------------------------------------------------------------- */

static void prune(tw_api_t *api) {
  uint64_t deleted = 0;
  tw_error err;
  tw_error_clear(&err);
  if (tw_registry_job_prune(api->registry, 0, &deleted, &err) != TW_OK)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "job retention pass failed: %s", err.message);
  else if (deleted)
    tw_event(TW_LEVEL_INFO, TW_API_TARGET, "job retention: %llu finished job(s) removed",
             (unsigned long long)deleted);
  api->last_prune_ms = api_now_ms();
}

/* Waits for a submit or `ms`; false once stopping. */
static bool wait_signal(tw_api_t *api, uint64_t seen, unsigned ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&api->jobs_lock);
  while (!api->jobs_stop && api->jobs_signal == seen)
    if (pthread_cond_timedwait(&api->jobs_cond, &api->jobs_lock, &ts) != 0) break;
  bool go = !api->jobs_stop;
  pthread_mutex_unlock(&api->jobs_lock);
  return go;
}

static bool stopping(tw_api_t *api, uint64_t *signal) {
  pthread_mutex_lock(&api->jobs_lock);
  bool stop = api->jobs_stop;
  *signal = api->jobs_signal;
  pthread_mutex_unlock(&api->jobs_lock);
  return stop;
}

typedef enum claim_res { CLAIM_GOT, CLAIM_NONE, CLAIM_ERROR } claim_res;

/* One claim attempt holding a permit; the permit is released unless a job
 * was handed on.  On CLAIM_ERROR `err` says why. */
static claim_res claim_one(tw_api_t *api, tw_error *err) {
  job_task *t = calloc(1, sizeof *t);
  bool claimed = false;
  claim_res res = CLAIM_NONE;
  tw_error_clear(err);
  if (!t) goto none;
  t->api = api;
  if (tw_registry_job_claim(api->registry, &t->job, &claimed, err) != TW_OK) {
    res = CLAIM_ERROR;
    goto none;
  }
  if (!claimed) goto none;
  if (!api_pool_submit(api->guest, job_task_run, t)) {
    /* Cannot happen while the ring is sized to the permits; never leave
     * a claimed job running with nobody on it. */
    tw_registry_job_fail(api->registry, t->job.id, "internal: no worker slot", NULL);
    tw_job_clear(&t->job);
    goto none;
  }
  return CLAIM_GOT;
none:
  free(t);
  api_permits_release_async(api->permits);
  return res;
}

/* Backoff after failed claims: from BACKOFF_MIN_MS doubling to
 * BACKOFF_MAX_MS, so an unreachable store costs a claim a few times a
 * second at first and one every two seconds after, and the dispatcher
 * picks up within two seconds of the store coming back. */
#define BACKOFF_MIN_MS 50u
#define BACKOFF_MAX_MS 2000u
/* An empty claim that took this long was itself the wait for work: the
 * NATS backend long-polls (nats_claim_wait_ms, 100 ms by default) for jobs
 * that any node may submit, so sleeping after it would only add latency.
 * SQLite answers an empty claim in microseconds. */
#define CLAIM_BLOCKED_NS (20u * 1000000u)
/* Otherwise sleep until a submit, or this long (jobs left pending by
 * another path). */
#define IDLE_WAIT_MS 1000u

static void *dispatcher_main(void *arg) {
  tw_api_t *api = arg;
  uint64_t signal;
  unsigned backoff = 0; /* ms; 0: claims are working */
  tw_error err;
  pthread_setname_np(pthread_self(), "tw-jobs");
  for (;;) {
    if (stopping(api, &signal)) break;
    if ((uint64_t)(api_now_ms() - api->last_prune_ms) >= api->cfg.prune_interval_ms) prune(api);
    if (!api_permits_wait_global(api->permits)) break;
    if (stopping(api, &signal)) {
      api_permits_release_async(api->permits);
      break;
    }
    uint64_t t0 = api_mono_ns();
    claim_res res = claim_one(api, &err);
    unsigned wait = 0;
    if (res == CLAIM_ERROR) {
      if (!backoff)
        tw_event(TW_LEVEL_WARN, TW_API_TARGET,
                 "job claims failing, backing off (up to %u ms): %s", BACKOFF_MAX_MS,
                 err.message);
      backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                        : BACKOFF_MIN_MS;
      wait = backoff;
    } else {
      if (backoff) tw_event(TW_LEVEL_INFO, TW_API_TARGET, "job claims working again");
      backoff = 0;
      if (res == CLAIM_NONE && api_mono_ns() - t0 < CLAIM_BLOCKED_NS) wait = IDLE_WAIT_MS;
    }
    if (wait && !wait_signal(api, signal, wait)) break;
  }
  return NULL;
}

tw_status api_jobs_start(tw_api_t *api, tw_error *err) {
  uint64_t interrupted = 0;
  tw_status st = tw_registry_recover(api->registry, &interrupted, err);
  if (st != TW_OK) return st;
  if (interrupted)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "%llu job(s) were running when the previous process stopped; failed as interrupted",
             (unsigned long long)interrupted);
  prune(api);
  publish_outstanding(api);
  if (pthread_create(&api->dispatcher, NULL, dispatcher_main, api) != 0) {
    if (err) {
      err->status = TW_IO;
      snprintf(err->message, sizeof err->message, "cannot start the job dispatcher");
    }
    return TW_IO;
  }
  api->dispatcher_started = true;
  return TW_OK;
}

void api_jobs_stop(tw_api_t *api) {
  if (!api->dispatcher_started) return;
  pthread_mutex_lock(&api->jobs_lock);
  api->jobs_stop = true;
  pthread_cond_broadcast(&api->jobs_cond);
  pthread_mutex_unlock(&api->jobs_lock);
  api_permits_wake_all(api->permits);
  pthread_join(api->dispatcher, NULL);
  api->dispatcher_started = false;
}

/* ---- GET /jobs/:id ------------------------------------------------------------------ */

static json_t *job_result(const tw_job *job) {
  if (job->status == TW_JOB_COMPLETED && job->result_json) {
    json_error_t jerr;
    json_t *v = json_loads(job->result_json, 0, &jerr);
    return v ? v : json_null();
  }
  if (job->status == TW_JOB_FAILED) {
    char kind[64];
    const char *msg;
    api_job_error_split(job->error, kind, sizeof kind, &msg);
    return json_pack("{s:s,s:s}", "kind", kind, "message", msg);
  }
  return NULL;
}

void api_handle_job_get(api_req *r) {
  tw_span_t *span = tw_span_begin("http.get_job", TW_API_TARGET, TW_LEVEL_INFO);
  tw_job job;
  tw_error err;
  memset(&job, 0, sizeof job);
  tw_error_clear(&err);
  tw_span_attr_str(span, "job_id", r->match.id);
  api_span_tenant(span, r->tenant);
  tw_status st = tw_registry_job_get(r->api->registry, r->match.id, &job, &err);
  if (st == TW_NOT_FOUND || st == TW_ARG) { /* TW_ARG: not a UUID, so no job */
    api_resp_error(r, API_ERR_NOT_FOUND, "no such job");
  } else if (st != TW_OK) {
    api_fail f;
    api_fail_store(&f, st, &err);
    api_resp_fail(r, &f);
  } else if (job.tenant != r->tenant) {
    api_resp_error(r, API_ERR_TENANT_SCOPE_DENIED, "the job belongs to another tenant");
  } else {
    json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:I}", "id", job.id, "function_id",
                          job.function_id, "tenant_id", api_json_u64(job.tenant), "status",
                          tw_job_status_api_name(job.status), "created_unix_ms",
                          (json_int_t)job.created_unix_ms);
    json_t *res = job_result(&job);
    if (o && res) json_object_set_new(o, "result", res);
    if (o && job.finished_unix_ms)
      json_object_set_new(o, "finished_unix_ms", json_integer(job.finished_unix_ms));
    api_resp_json(r, 200, o);
  }
  if (r->resp.kind) tw_span_attr_str(span, "error.kind", r->resp.kind);
  tw_job_clear(&job);
  tw_span_end(span);
}
