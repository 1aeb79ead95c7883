/* NATS JetStream backend of the registry: the connection, the buckets,
 * streams and durable consumer it needs (created when missing, shared
 * settings brought to this node's values), error mapping, the table of
 * claimed messages and the progress thread that keeps them claimed.
 *
 * Failing fast: the client reconnects by itself (forever, every 250 ms),
 * and every operation first asks whether the connection is up; when it is
 * not, the call fails at once with TW_IO.  A call that starts just before
 * the server goes away waits at most nats_timeout_ms.  So a gateway thread
 * never waits on an absent server for longer than one timeout. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/nats_int.h"

#define RECONNECT_WAIT_MS 250
#define DURABLE "workers"

/* ---- errors ------------------------------------------------------------- */

tw_status tw__nats_ready(tw__nats_registry *n, tw_error *err) {
  natsConnStatus cs = natsConnection_Status(n->nc);
  if (cs == NATS_CONN_STATUS_CONNECTED)
    return TW_OK;
  return tw__registry_error(err, TW_IO,
                            "NATS server %s unreachable (%s); the registry "
                            "reconnects by itself, try again later",
                            n->url,
                            cs == NATS_CONN_STATUS_CLOSED ? "connection closed"
                                                          : "reconnecting");
}

tw_status tw__nats_fail(tw__nats_registry *n, natsStatus s, const char *what,
                        tw_error *err) {
  switch (s) {
  case NATS_NO_MEMORY:
    return tw__registry_error(err, TW_NOMEM, "%s: out of memory", what);
  case NATS_MAX_PAYLOAD:
    return tw__registry_error(err, TW_LIMIT,
                              "%s: value larger than the NATS server accepts "
                              "(max_payload)",
                              what);
  case NATS_TIMEOUT:
    return tw__registry_error(err, TW_IO,
                              "%s: NATS server %s did not answer within %u ms",
                              what, n->url, n->base.opt.nats_timeout_ms);
  case NATS_CONNECTION_CLOSED:
  case NATS_CONNECTION_DISCONNECTED:
  case NATS_NO_SERVER:
  case NATS_STALE_CONNECTION:
  case NATS_NO_RESPONDERS:
    return tw__registry_error(err, TW_IO, "%s: NATS server %s unreachable (%s)",
                              what, n->url, natsStatus_GetText(s));
  default: {
    const char *detail = nats_GetLastError(NULL);
    return tw__registry_error(err, TW_IO, "%s: NATS: %s", what,
                              detail && detail[0] ? detail
                                                  : natsStatus_GetText(s));
  }
  }
}

bool tw__nats_cas_conflict(void) {
  const char *e = nats_GetLastError(NULL);
  return e && strstr(e, "wrong last sequence") != NULL;
}

tw_status tw__nats_purge_subject(tw__nats_registry *n, const char *stream,
                                 const char *subject, tw_error *err) {
  jsOptions o;
  jsErrCode jerr = 0;
  jsOptions_Init(&o);
  o.Stream.Purge.Subject = subject;
  natsStatus s = js_PurgeStream(n->js, stream, &o, &jerr);
  return s == NATS_OK ? TW_OK : tw__nats_fail(n, s, "purging", err);
}

/* ---- claimed messages ----------------------------------------------------- */

void tw__nats_hold(tw__nats_registry *n, tw__nats_held *h) {
  pthread_mutex_lock(&n->held_lock);
  h->next = n->held;
  n->held = h;
  pthread_mutex_unlock(&n->held_lock);
}

tw__nats_held *tw__nats_unhold(tw__nats_registry *n, const char *id) {
  tw__nats_held *found = NULL;
  pthread_mutex_lock(&n->held_lock);
  for (tw__nats_held **pp = &n->held; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->id, id) == 0) {
      found = *pp;
      *pp = found->next;
      break;
    }
  pthread_mutex_unlock(&n->held_lock);
  return found;
}

/* Every ack_wait/3 tells the server that each job we hold is still being
 * worked on, which restarts its ack-wait clock without counting a
 * delivery.  When this process dies the messages stop, and the jobs come
 * back to the queue after one ack wait. */
static void *progress_main(void *arg) {
  tw__nats_registry *n = arg;
  uint32_t every = n->base.opt.nats_ack_wait_ms / 3;
  if (every < 20)
    every = 20;
  pthread_mutex_lock(&n->held_lock);
  while (!n->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += every / 1000;
    ts.tv_nsec += (long)(every % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (!n->stopping && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&n->held_cond, &n->held_lock, &ts);
    if (n->stopping)
      break;
    /* Fire-and-forget publishes: they do not block on the server. */
    for (tw__nats_held *h = n->held; h; h = h->next)
      natsMsg_InProgress(h->msg, NULL);
  }
  pthread_mutex_unlock(&n->held_lock);
  return NULL;
}

/* ---- setup ------------------------------------------------------------- */

static tw_status check_options(const tw_registry_options *o, tw_error *err) {
  if (!o->nats_url || !o->nats_url[0])
    return tw__registry_error(err, TW_ARG,
                              "the NATS backend needs nats_url "
                              "(nats://HOST:PORT)");
  const char *p = o->nats_prefix;
  size_t len = p ? strlen(p) : 0;
  if (len == 0 || len > TW_NATS_PREFIX_MAX ||
      strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789_-") != len)
    return tw__registry_error(err, TW_ARG,
                              "nats_prefix must be 1..%d of [A-Za-z0-9_-]",
                              TW_NATS_PREFIX_MAX);
  if (o->nats_timeout_ms == 0 || o->nats_ack_wait_ms < 100 ||
      o->nats_dedup_window_ms == 0)
    return tw__registry_error(err, TW_ARG,
                              "nats_timeout_ms and nats_dedup_window_ms must "
                              "be >= 1 and nats_ack_wait_ms >= 100");
  if (o->nats_max_deliver < 2)
    return tw__registry_error(err, TW_ARG, "nats_max_deliver must be >= 2");
  if (o->nats_replicas < 1 || o->nats_replicas > 5)
    return tw__registry_error(err, TW_ARG, "nats_replicas must be 1..5");
  return TW_OK;
}

static void make_names(tw__nats_registry *n, const char *p) {
  snprintf(n->b_functions, sizeof n->b_functions, "%s_FUNCTIONS", p);
  snprintf(n->b_modules, sizeof n->b_modules, "%s_MODULES", p);
  snprintf(n->b_jobs, sizeof n->b_jobs, "%s_JOBS", p);
  snprintf(n->s_jobq, sizeof n->s_jobq, "%s_JOBQ", p);
  snprintf(n->s_done, sizeof n->s_done, "%s_JOBS_DONE", p);
  snprintf(n->subj_jobq, sizeof n->subj_jobq, "%s.jobq", p);
  snprintf(n->subj_done, sizeof n->subj_done, "%s.jobsdone", p);
}

static tw_status connect_server(tw__nats_registry *n, tw_error *err) {
  const tw_registry_options *o = &n->base.opt;
  natsStatus s = natsOptions_Create(&n->nopts);
  if (s == NATS_OK)
    s = natsOptions_SetURL(n->nopts, o->nats_url);
  if (s == NATS_OK)
    s = natsOptions_SetName(n->nopts, "tensor-wasm registry");
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(n->nopts, o->nats_timeout_ms);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(n->nopts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait(n->nopts, RECONNECT_WAIT_MS);
  /* A server that stops answering without closing the socket is noticed
   * after two missed pings. */
  if (s == NATS_OK)
    s = natsOptions_SetPingInterval(n->nopts, 5000);
  if (s == NATS_OK)
    s = natsOptions_SetMaxPingsOut(n->nopts, 2);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "setting up the NATS client", err);
  s = natsConnection_Connect(&n->nc, n->nopts);
  if (s != NATS_OK)
    return tw__registry_error(err, TW_IO, "cannot connect to NATS at %s: %s",
                              n->url, natsStatus_GetText(s));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o->nats_timeout_ms;
  s = natsConnection_JetStream(&n->js, n->nc, &jo);
  return s == NATS_OK ? TW_OK : tw__nats_fail(n, s, "JetStream context", err);
}

/* Binds bucket `name`, creating it when missing (History 1: only the
 * latest value of a key is kept). */
static tw_status open_bucket(tw__nats_registry *n, const char *name,
                             kvStore **out, tw_error *err) {
  natsStatus s = js_KeyValue(out, n->js, name);
  if (s == NATS_OK)
    return TW_OK;
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = name;
  kc.History = 1;
  kc.StorageType = js_FileStorage;
  kc.Replicas = (int)n->base.opt.nats_replicas;
  s = js_CreateKeyValue(out, n->js, &kc);
  if (s != NATS_OK) /* another node may have created it meanwhile */
    s = js_KeyValue(out, n->js, name);
  if (s != NATS_OK) {
    char what[TW_NATS_NAME_MAX + 32];
    snprintf(what, sizeof what, "opening KV bucket %s", name);
    return tw__nats_fail(n, s, what, err);
  }
  return TW_OK;
}

/* Adds the stream, or when it exists with other settings, updates it to
 * ours (the last node to start decides the shared settings). */
static tw_status ensure_stream(tw__nats_registry *n, jsStreamConfig *sc,
                               tw_error *err) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_AddStream(&si, n->js, sc, NULL, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr)
    s = js_UpdateStream(&si, n->js, sc, NULL, &jerr);
  jsStreamInfo_Destroy(si);
  if (s != NATS_OK) {
    char what[TW_NATS_NAME_MAX + 32];
    snprintf(what, sizeof what, "setting up stream %s", sc->Name);
    return tw__nats_fail(n, s, what, err);
  }
  return TW_OK;
}

static tw_status ensure_streams(tw__nats_registry *n, tw_error *err) {
  const tw_registry_options *o = &n->base.opt;
  char subj[TW_NATS_NAME_MAX + 4];
  snprintf(subj, sizeof subj, "%s.*", n->subj_jobq);
  const char *jobq_subjects[] = {subj};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = n->s_jobq;
  sc.Subjects = jobq_subjects;
  sc.SubjectsLen = 1;
  sc.Retention = js_WorkQueuePolicy;
  /* The admission cap, enforced by the server: a publish beyond it is
   * refused, so the cap holds exactly however many nodes enqueue. */
  sc.MaxMsgs = o->max_outstanding_jobs;
  sc.Discard = js_DiscardNew;
  sc.Storage = js_FileStorage;
  sc.Replicas = o->nats_replicas;
  sc.Duplicates = (int64_t)o->nats_dedup_window_ms * 1000000;
  tw_status st = ensure_stream(n, &sc, err);
  if (st != TW_OK)
    return st;
  const char *done_subjects[] = {n->subj_done};
  jsStreamConfig_Init(&sc);
  sc.Name = n->s_done;
  sc.Subjects = done_subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = o->nats_replicas;
  return ensure_stream(n, &sc, err);
}

static tw_status ensure_consumer(tw__nats_registry *n, tw_error *err) {
  const tw_registry_options *o = &n->base.opt;
  jsConsumerConfig cc;
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  jsConsumerConfig_Init(&cc);
  cc.Durable = DURABLE;
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = (int64_t)o->nats_ack_wait_ms * 1000000;
  cc.MaxDeliver = o->nats_max_deliver;
  /* Claimed jobs are bounded by the stream's cap already. */
  cc.MaxAckPending = -1;
  natsStatus s = js_AddConsumer(&ci, n->js, n->s_jobq, &cc, NULL, &jerr);
  if (s != NATS_OK) { /* exists with other settings: take ours */
    jsConsumerInfo_Destroy(ci);
    ci = NULL;
    s = js_UpdateConsumer(&ci, n->js, n->s_jobq, &cc, NULL, &jerr);
  }
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "setting up the job consumer", err);
  char subj[TW_NATS_NAME_MAX + 4];
  snprintf(subj, sizeof subj, "%s.*", n->subj_jobq);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = n->s_jobq;
  so.Consumer = DURABLE;
  s = js_PullSubscribe(&n->sub, n->js, subj, DURABLE, NULL, &so, &jerr);
  return s == NATS_OK ? TW_OK
                      : tw__nats_fail(n, s, "subscribing to the job queue", err);
}

/* ---- close ------------------------------------------------------------- */

/* Jobs claimed here and not finished go back to the queue now (nak),
 * rather than after an ack wait: this node will not finish them. */
static void release_held(tw__nats_registry *n) {
  tw__nats_held *h = n->held;
  n->held = NULL;
  while (h) {
    tw__nats_held *next = h->next;
    natsMsg_Nak(h->msg, NULL);
    natsMsg_Destroy(h->msg);
    free(h);
    h = next;
  }
  if (n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED)
    natsConnection_FlushTimeout(n->nc, n->base.opt.nats_timeout_ms);
}

static void nt_close(tw_registry_t *reg) {
  tw__nats_registry *n = tw__nt(reg);
  if (n->beat_started) {
    pthread_mutex_lock(&n->held_lock);
    n->stopping = true;
    pthread_cond_broadcast(&n->held_cond);
    pthread_mutex_unlock(&n->held_lock);
    pthread_join(n->beat, NULL);
  }
  release_held(n);
  /* Destroy, not unsubscribe: the durable consumer belongs to the
   * cluster and must outlive this node. */
  natsSubscription_Destroy(n->sub);
  kvStore_Destroy(n->functions);
  kvStore_Destroy(n->modules);
  kvStore_Destroy(n->jobs);
  jsCtx_Destroy(n->js);
  natsConnection_Destroy(n->nc);
  natsOptions_Destroy(n->nopts);
  pthread_cond_destroy(&n->held_cond);
  pthread_mutex_destroy(&n->held_lock);
  pthread_mutex_destroy(&n->fetch_lock);
  free(n->url);
  free(n);
}

/* ---- open -------------------------------------------------------------- */

static const tw__registry_ops nats_ops = {
    .name = "nats",
    .close = nt_close,
    .function_put = tw__nt_function_put,
    .function_get = tw__nt_function_get,
    .function_bytes = tw__nt_function_bytes,
    .function_list = tw__nt_function_list,
    .function_delete = tw__nt_function_delete,
    .job_enqueue = tw__nt_job_enqueue,
    .job_claim = tw__nt_job_claim,
    .job_finish = tw__nt_job_finish,
    .job_get = tw__nt_job_get,
    .recover = tw__nt_recover,
    .job_prune = tw__nt_job_prune,
    .job_outstanding = tw__nt_job_outstanding,
};

tw_status tw__nats_registry_open(const tw_registry_options *opt,
                                 tw_registry_t **out, tw_error *err) {
  tw_status st = check_options(opt, err);
  if (st != TW_OK)
    return st;
  tw__nats_registry *n = calloc(1, sizeof *n);
  if (!n)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  n->base.ops = &nats_ops;
  n->base.opt = *opt;
  /* The strings were borrowed for this call only. */
  n->base.opt.nats_url = NULL;
  n->base.opt.nats_prefix = NULL;
  pthread_mutex_init(&n->fetch_lock, NULL);
  pthread_mutex_init(&n->held_lock, NULL);
  pthread_cond_init(&n->held_cond, NULL);
  make_names(n, opt->nats_prefix);
  if (!(n->url = tw__registry_strndup(opt->nats_url, strlen(opt->nats_url)))) {
    st = tw__registry_error(err, TW_NOMEM, "out of memory");
    goto fail;
  }
  n->base.opt.nats_url = n->url;
  if ((st = connect_server(n, err)) != TW_OK)
    goto fail;
  if ((st = open_bucket(n, n->b_functions, &n->functions, err)) != TW_OK ||
      (st = open_bucket(n, n->b_modules, &n->modules, err)) != TW_OK ||
      (st = open_bucket(n, n->b_jobs, &n->jobs, err)) != TW_OK)
    goto fail;
  if ((st = ensure_streams(n, err)) != TW_OK)
    goto fail;
  if ((st = ensure_consumer(n, err)) != TW_OK)
    goto fail;
  if (pthread_create(&n->beat, NULL, progress_main, n) != 0) {
    st = tw__registry_error(err, TW_IO, "cannot start the job progress thread");
    goto fail;
  }
  n->beat_started = true;
  *out = &n->base;
  return TW_OK;
fail:
  nt_close(&n->base);
  return st;
}
