/* NATS JetStream backend of the registry: the job queue.
 *
 * A job is a record in bucket P_JOBS (its state, the truth) plus, while it
 * is unfinished, one message "P.jobq.<id>" in the work-queue stream.
 * enqueue writes the record (create: an id is used once) and then
 * publishes the message with the job id as message id, so a publish that
 * is retried inside the de-duplication window is stored once.  claim
 * fetches a message from the durable consumer every node shares and moves
 * the record to running by compare-and-set.  complete/fail move the record
 * to its end state first and only then ack the message.
 *
 * Exactly-once effect: the message outlives the record's last change, so
 * a node that dies between the two leaves a message that comes back to
 * some node, which finds the record finished and acks it without running
 * anything.  A node that dies while running a job stops its progress
 * messages; the job comes back after one ack wait and runs again (its
 * first run recorded nothing).  The first finish to land wins; every
 * later one is refused (TW_ARG), so one outcome is ever recorded.
 *
 * Bounded redelivery: the consumer delivers a message at most
 * nats_max_deliver times.  The last delivery does not run the job but
 * fails it with a reason, so a job that keeps killing its nodes (or that
 * nobody can finish) ends failed instead of staying unfinished. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "store/nats_int.h"

#define CAS_TRIES 4
#define CLAIM_SKIPS 16   /* finished/orphan messages acked per claim call */
#define PRUNE_BATCH 1024 /* records removed per prune call */

/* ---- records ------------------------------------------------------------ */

static bool status_parse(const char *text, tw_job_status *out) {
  for (int s = TW_JOB_PENDING; s <= TW_JOB_FAILED; s++)
    if (text && strcmp(text, tw_job_status_name((tw_job_status)s)) == 0) {
      *out = (tw_job_status)s;
      return true;
    }
  return false;
}

static bool set_opt_str(json_t *o, const char *key, const char *v) {
  return !v || json_object_set_new(o, key, json_string(v)) == 0;
}

static bool set_input(json_t *o, const uint8_t *input, size_t len) {
  if (!len)
    return true;
  if (len > (size_t)INT32_MAX / 2)
    return false;
  char *b64 = malloc(4 * ((len + 2) / 3) + 1);
  if (!b64)
    return false;
  EVP_EncodeBlock((unsigned char *)b64, input, (int)len);
  bool ok = json_object_set_new(o, "input", json_string(b64)) == 0;
  free(b64);
  return ok;
}

/* The record's JSON text (malloc'ed), or NULL when out of memory.
 * Tenants are text: JSON numbers are not exact beyond 2^53. */
static char *job_encode(const tw_job *j, unsigned attempts) {
  char tenant[24];
  snprintf(tenant, sizeof tenant, "%" PRIu64, j->tenant);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id",
                        j->id, "fn", j->function_id, "tenant", tenant,
                        "status", tw_job_status_name(j->status), "args",
                        j->args_json ? j->args_json : "[]", "created",
                        (json_int_t)j->created_unix_ms, "started",
                        (json_int_t)j->started_unix_ms, "finished",
                        (json_int_t)j->finished_unix_ms, "attempts",
                        (json_int_t)attempts);
  char *text = NULL;
  if (o && set_opt_str(o, "export", j->export_name) &&
      set_opt_str(o, "result", j->result_json) &&
      set_opt_str(o, "error", j->error) &&
      set_opt_str(o, "traceparent", j->traceparent) &&
      set_input(o, j->input, j->input_len))
    text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return text;
}

static bool dup_field(json_t *o, const char *key, char **out) {
  const char *v = json_string_value(json_object_get(o, key));
  *out = v ? tw__registry_strndup(v, strlen(v)) : NULL;
  return !v || *out;
}

static bool get_input(json_t *o, tw_job *j) {
  const char *b64 = json_string_value(json_object_get(o, "input"));
  size_t n = b64 ? strlen(b64) : 0;
  if (n == 0)
    return true;
  if (n % 4 != 0 || n > (size_t)INT32_MAX)
    return false;
  if (!(j->input = malloc(n / 4 * 3)))
    return false;
  int got = EVP_DecodeBlock(j->input, (const unsigned char *)b64, (int)n);
  if (got < 0)
    return false;
  /* DecodeBlock counts the padding as zero bytes. */
  size_t pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
  j->input_len = (size_t)got - pad;
  return true;
}

/* Fills *j (caller clears it) from record text; false when damaged or out
 * of memory. */
static bool job_decode(const void *data, int len, tw_job *j,
                       unsigned *attempts) {
  json_t *o = json_loadb(data, (size_t)(len > 0 ? len : 0), 0, NULL);
  const char *id = NULL, *fn = NULL, *tenant = NULL, *status = NULL;
  json_int_t created = 0, started = 0, finished = 0, tries = 0;
  memset(j, 0, sizeof *j);
  bool ok = o && json_unpack(o, "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                             "id", &id, "fn", &fn, "tenant", &tenant,
                             "status", &status, "created", &created,
                             "started", &started, "finished", &finished,
                             "attempts", &tries) == 0;
  ok = ok && status_parse(status, &j->status);
  if (ok) {
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->function_id, sizeof j->function_id, "%s", fn);
    j->tenant = strtoull(tenant, NULL, 10);
    j->created_unix_ms = created;
    j->started_unix_ms = started;
    j->finished_unix_ms = finished;
    *attempts = (unsigned)tries;
    ok = dup_field(o, "export", &j->export_name) &&
         dup_field(o, "args", &j->args_json) &&
         dup_field(o, "result", &j->result_json) &&
         dup_field(o, "error", &j->error) &&
         dup_field(o, "traceparent", &j->traceparent) && get_input(o, j);
  }
  json_decref(o);
  if (!ok)
    tw_job_clear(j);
  return ok;
}

/* Reads job `id` into *j (caller clears it) with its revision. */
static tw_status read_job(tw__nats_registry *n, const char *id, tw_job *j,
                          uint64_t *rev, unsigned *attempts, tw_error *err) {
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, n->jobs, id);
  if (s == NATS_NOT_FOUND)
    return tw__registry_error(err, TW_NOT_FOUND, "job %s not found", id);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading job", err);
  *rev = kvEntry_Revision(e);
  bool ok = job_decode(kvEntry_Value(e), kvEntry_ValueLen(e), j, attempts);
  kvEntry_Destroy(e);
  return ok ? TW_OK
            : tw__registry_error(err, TW_IO,
                                 "job record %s in bucket %s is damaged", id,
                                 n->b_jobs);
}

/* Compare-and-set of job j at revision `rev`.  *conflict is set (and
 * TW_IO returned) when someone else changed the record first. */
static tw_status write_job(tw__nats_registry *n, const tw_job *j,
                           unsigned attempts, uint64_t rev, bool *conflict,
                           tw_error *err) {
  *conflict = false;
  char *text = job_encode(j, attempts);
  if (!text)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  natsStatus s = kvStore_UpdateString(NULL, n->jobs, j->id, text, rev);
  free(text);
  if (s == NATS_OK)
    return TW_OK;
  *conflict = tw__nats_cas_conflict();
  return tw__nats_fail(n, s, "updating job", err);
}

/* Removes job `id`'s record without a marker (the bucket has no
 * consumers, so a filtered purge is safe there). */
static tw_status purge_record(tw__nats_registry *n, const char *id,
                              tw_error *err) {
  char stream[TW_NATS_NAME_MAX + 4], subj[TW_NATS_SUBJ_MAX];
  snprintf(stream, sizeof stream, "KV_%s", n->b_jobs);
  snprintf(subj, sizeof subj, "$KV.%s.%s", n->b_jobs, id);
  return tw__nats_purge_subject(n, stream, subj, err);
}

/* Adds "<finished ms> <id>" to the finish log that prune walks.  A failure
 * here only means the record is never pruned, so it is not reported. */
static void log_finished(tw__nats_registry *n, const tw_job *j) {
  char line[64];
  int len = snprintf(line, sizeof line, "%" PRId64 " %s", j->finished_unix_ms,
                     j->id);
  js_Publish(NULL, n->js, n->subj_done, line, len, NULL, NULL);
}

/* ---- enqueue ------------------------------------------------------------ */

static tw_status publish_job(tw__nats_registry *n, const tw_job_spec *spec,
                             tw_error *err) {
  char subj[TW_NATS_NAME_MAX + TW_UUID_LEN + 2];
  natsMsg *m = NULL;
  jsPubAck *pa = NULL;
  jsPubOptions po;
  jsErrCode jerr = 0;
  snprintf(subj, sizeof subj, "%s.%s", n->subj_jobq, spec->id);
  natsStatus s = natsMsg_Create(&m, subj, NULL, spec->id, TW_UUID_LEN);
  /* The W3C context travels as a message header, so the node that runs
   * the job continues the submitter's trace. */
  if (s == NATS_OK && spec->traceparent)
    s = natsMsgHeader_Set(m, "traceparent", spec->traceparent);
  if (s != NATS_OK) {
    natsMsg_Destroy(m);
    return tw__nats_fail(n, s, "building job message", err);
  }
  jsPubOptions_Init(&po);
  po.MsgId = spec->id;
  po.ExpectStream = n->s_jobq;
  s = js_PublishMsg(&pa, n->js, m, &po, &jerr);
  natsMsg_Destroy(m);
  tw_status st = TW_OK;
  if (s != NATS_OK) {
    const char *e = nats_GetLastError(NULL);
    if (e && strstr(e, "maximum messages exceeded"))
      st = tw__registry_error(err, TW_LIMIT,
                              "job queue is full: %u outstanding jobs (limit "
                              "%u)",
                              n->base.opt.max_outstanding_jobs,
                              n->base.opt.max_outstanding_jobs);
    else
      st = tw__nats_fail(n, s, "queueing job", err);
  } else if (pa->Duplicate) {
    /* Our record was new, so the earlier message with this id belongs to
     * an enqueue that failed: the id cannot be trusted to run. */
    st = tw__registry_error(err, TW_ARG,
                            "job id %s was used moments ago; use a new id",
                            spec->id);
  }
  jsPubAck_Destroy(pa);
  return st;
}

tw_status tw__nt_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                             tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_job j;
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  /* A view of the spec as a pending job; nothing here is owned. */
  memset(&j, 0, sizeof j);
  snprintf(j.id, sizeof j.id, "%s", spec->id);
  snprintf(j.function_id, sizeof j.function_id, "%s", spec->function_id);
  j.tenant = spec->tenant;
  j.status = TW_JOB_PENDING;
  j.export_name = (char *)spec->export_name;
  j.args_json = (char *)spec->args_json;
  j.input = (uint8_t *)spec->input;
  j.input_len = spec->input_len;
  j.created_unix_ms = spec->created_unix_ms;
  j.traceparent = (char *)spec->traceparent;
  char *text = job_encode(&j, 0);
  if (!text)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  natsStatus s = kvStore_CreateString(NULL, n->jobs, spec->id, text);
  free(text);
  if (s != NATS_OK)
    return tw__nats_cas_conflict()
               ? tw__registry_error(err, TW_ARG, "job id %s already exists",
                                    spec->id)
               : tw__nats_fail(n, s, "storing job", err);
  if ((st = publish_job(n, spec, err)) != TW_OK)
    purge_record(n, spec->id, NULL); /* not accepted: leave no trace */
  return st;
}

/* ---- claim -------------------------------------------------------------- */

typedef enum { MSG_CLAIMED, MSG_SKIPPED } msg_outcome;

static void give_up_reason(char *out, size_t cap, uint64_t delivered,
                           unsigned attempts) {
  if (attempts)
    snprintf(out, cap,
             "abandoned: delivered %" PRIu64 " times and never finished; "
             "the node(s) running it stopped (crash or lost connection)",
             delivered);
  else
    snprintf(out, cap,
             "abandoned: delivered %" PRIu64 " times and no node could "
             "start it",
             delivered);
}

/* Moves job j (read at `rev`) to running, or on its last delivery to
 * failed.  *conflict: someone changed the record first. */
static tw_status take_job(tw__nats_registry *n, tw_job *j, uint64_t rev,
                          unsigned attempts, uint64_t delivered,
                          int64_t now_ms, bool *last, bool *conflict,
                          tw_error *err) {
  char reason[160];
  *last = delivered >= n->base.opt.nats_max_deliver;
  if (*last) {
    give_up_reason(reason, sizeof reason, delivered, attempts);
    free(j->error);
    if (!(j->error = tw__registry_strndup(reason, strlen(reason))))
      return tw__registry_error(err, TW_NOMEM, "out of memory");
    j->status = TW_JOB_FAILED;
    j->finished_unix_ms = now_ms;
    return write_job(n, j, attempts, rev, conflict, err);
  }
  j->status = TW_JOB_RUNNING;
  j->started_unix_ms = now_ms;
  return write_job(n, j, attempts + 1, rev, conflict, err);
}

/* Handles one fetched message (owned).  On MSG_CLAIMED *out is the
 * running job and the message is held; otherwise it has been settled. */
static tw_status handle_msg(tw__nats_registry *n, natsMsg *m, int64_t now_ms,
                            tw_job *out, msg_outcome *outcome, tw_error *err) {
  const char *subj = natsMsg_GetSubject(m);
  size_t plen = strlen(n->subj_jobq);
  jsMsgMetaData *md = NULL;
  tw_job j;
  uint64_t rev = 0, delivered = 1;
  unsigned attempts = 0;
  tw_status st = TW_OK;
  memset(&j, 0, sizeof j);
  *outcome = MSG_SKIPPED;
  if (strncmp(subj, n->subj_jobq, plen) != 0 || subj[plen] != '.' ||
      strlen(subj + plen + 1) != TW_UUID_LEN) {
    natsMsg_Term(m, NULL); /* not ours: never deliver it again */
    goto done;
  }
  const char *id = subj + plen + 1;
  if (natsMsg_GetMetaData(&md, m) == NATS_OK)
    delivered = md->NumDelivered;
  jsMsgMetaData_Destroy(md);
  for (int tries = 0; tries < CAS_TRIES; tries++) {
    tw_job_clear(&j);
    st = read_job(n, id, &j, &rev, &attempts, err);
    if (st == TW_NOT_FOUND) { /* its enqueue failed, or it was pruned */
      natsMsg_Term(m, NULL);
      st = TW_OK;
      goto done;
    }
    if (st != TW_OK)
      break;
    if (j.status == TW_JOB_COMPLETED || j.status == TW_JOB_FAILED) {
      /* Finished by a node that died before its ack: settle, never rerun. */
      natsMsg_Ack(m, NULL);
      goto done;
    }
    bool last = false, conflict = false;
    st = take_job(n, &j, rev, attempts, delivered, now_ms, &last, &conflict,
                  err);
    if (st == TW_OK && last) {
      log_finished(n, &j);
      natsMsg_Ack(m, NULL);
      goto done;
    }
    if (st == TW_OK) {
      tw__nats_held *h = calloc(1, sizeof *h);
      if (!h) {
        st = tw__registry_error(err, TW_NOMEM, "out of memory");
        break;
      }
      const char *tp = NULL;
      if (natsMsgHeader_Get(m, "traceparent", &tp) == NATS_OK && tp &&
          (!j.traceparent || strcmp(tp, j.traceparent) != 0)) {
        free(j.traceparent);
        j.traceparent = tw__registry_strndup(tp, strlen(tp));
      }
      snprintf(h->id, sizeof h->id, "%s", id);
      h->msg = m;
      tw__nats_hold(n, h);
      *out = j;
      *outcome = MSG_CLAIMED;
      return TW_OK;
    }
    if (!conflict)
      break;
  }
  /* Could not take it now: hand it back for another try. */
  natsMsg_Nak(m, NULL);
done:
  tw_job_clear(&j);
  natsMsg_Destroy(m);
  return st;
}

static tw_status fetch_one(tw__nats_registry *n, natsMsg **m, tw_error *err) {
  natsMsgList list = {0};
  jsErrCode jerr = 0;
  uint32_t wait = n->base.opt.nats_claim_wait_ms;
  *m = NULL;
  pthread_mutex_lock(&n->fetch_lock);
  natsStatus s = natsSubscription_Fetch(&list, n->sub, 1, wait ? wait : 1,
                                        &jerr);
  pthread_mutex_unlock(&n->fetch_lock);
  if (s == NATS_TIMEOUT) /* nothing pending */
    return TW_OK;
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "fetching a job", err);
  if (list.Count > 0) {
    *m = list.Msgs[0];
    list.Msgs[0] = NULL;
  }
  natsMsgList_Destroy(&list);
  return TW_OK;
}

tw_status tw__nt_job_claim(tw_registry_t *reg, int64_t now_ms, tw_job *out,
                           bool *claimed, tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  /* Outputs are written only on TW_OK. */
  for (int i = 0; i < CLAIM_SKIPS; i++) {
    natsMsg *m = NULL;
    msg_outcome outcome;
    if ((st = fetch_one(n, &m, err)) != TW_OK)
      return st;
    if (!m)
      break;
    if ((st = handle_msg(n, m, now_ms, out, &outcome, err)) != TW_OK)
      return st;
    if (outcome == MSG_CLAIMED) {
      *claimed = true;
      return TW_OK;
    }
  }
  *claimed = false;
  return TW_OK;
}

/* ---- finish ------------------------------------------------------------- */

/* Removes the queue message of a job this registry does not hold (a
 * pending job failed, or a job whose holder died): its slot under the cap
 * is free at once instead of when it comes back. */
static void drop_queue_message(tw__nats_registry *n, const char *id) {
  char subj[TW_NATS_NAME_MAX + TW_UUID_LEN + 2];
  natsMsg *m = NULL;
  snprintf(subj, sizeof subj, "%s.%s", n->subj_jobq, id);
  if (js_GetLastMsg(&m, n->js, n->s_jobq, subj, NULL, NULL) == NATS_OK)
    js_DeleteMsg(n->js, n->s_jobq, natsMsg_GetSequence(m), NULL, NULL);
  natsMsg_Destroy(m);
}

/* After the record is final: ack what we hold, or remove the message. */
static void settle(tw__nats_registry *n, const char *id) {
  tw__nats_held *h = tw__nats_unhold(n, id);
  if (!h) {
    drop_queue_message(n, id);
    return;
  }
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = n->base.opt.nats_timeout_ms;
  /* If this ack is lost the message comes back, and claim acks it on
   * seeing the finished record. */
  natsMsg_AckSync(h->msg, &o, NULL);
  natsMsg_Destroy(h->msg);
  free(h);
}

/* The result could not be stored: stop vouching for the job so it goes
 * back to the queue (at once if the nak reaches the server, else after
 * one ack wait) and runs again. */
static void release(tw__nats_registry *n, const char *id) {
  tw__nats_held *h = tw__nats_unhold(n, id);
  if (!h)
    return;
  natsMsg_Nak(h->msg, NULL);
  natsMsg_Destroy(h->msg);
  free(h);
}

static tw_status set_outcome(tw_job *j, tw_job_status to, const char *text,
                             int64_t now_ms, tw_error *err) {
  char **field = to == TW_JOB_COMPLETED ? &j->result_json : &j->error;
  free(*field);
  if (!(*field = tw__registry_strndup(text, strlen(text))))
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  j->status = to;
  j->finished_unix_ms = now_ms;
  return TW_OK;
}

tw_status tw__nt_job_finish(tw_registry_t *reg, const char *id, unsigned from,
                            tw_job_status to, const char *text, int64_t now_ms,
                            tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  tw_job j;
  uint64_t rev = 0;
  unsigned attempts = 0;
  bool conflict = true;
  memset(&j, 0, sizeof j);
  tw_status st = tw__nats_ready(n, err);
  for (int tries = 0; st == TW_OK && conflict && tries < CAS_TRIES; tries++) {
    tw_job_clear(&j);
    if ((st = read_job(n, id, &j, &rev, &attempts, err)) != TW_OK)
      break;
    if (!(from & (1u << j.status))) {
      st = tw__registry_error(err, TW_ARG, "job %s is %s; it cannot become %s",
                              id, tw_job_status_name(j.status),
                              tw_job_status_name(to));
      break;
    }
    if ((st = set_outcome(&j, to, text, now_ms, err)) != TW_OK)
      break;
    st = write_job(n, &j, attempts, rev, &conflict, err);
  }
  if (st == TW_OK) {
    settle(n, id); /* result stored, THEN ack */
    log_finished(n, &j);
  } else if ((st == TW_ARG && j.status != TW_JOB_PENDING &&
              j.status != TW_JOB_RUNNING) ||
             st == TW_NOT_FOUND) {
    settle(n, id); /* finished elsewhere, or gone: nothing left to run */
  } else if (st != TW_ARG) {
    release(n, id);
  }
  tw_job_clear(&j);
  return st;
}

/* ---- the rest ----------------------------------------------------------- */

tw_status tw__nt_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                         tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  uint64_t rev = 0;
  unsigned attempts = 0;
  tw_status st = tw__nats_ready(n, err);
  return st != TW_OK ? st : read_job(n, id, out, &rev, &attempts, err);
}

tw_status tw__nt_recover(tw_registry_t *reg, int64_t now_ms, uint64_t *count,
                         tw_error *err) {
  /* Nothing to do: a running job may belong to a live node, and one whose
   * node died comes back by redelivery after an ack wait. */
  (void)reg, (void)now_ms, (void)err;
  *count = 0;
  return TW_OK;
}

tw_status tw__nt_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                 tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  jsStreamInfo *si = NULL;
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  natsStatus s = js_GetStreamInfo(&si, n->js, n->s_jobq, NULL, NULL);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading job queue state", err);
  *count = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  return TW_OK;
}

/* Reads finish-log entry `seq`: *found false when it is gone (another
 * node pruned it meanwhile). */
static tw_status read_log(tw__nats_registry *n, uint64_t seq, bool *found,
                          int64_t *finished, char id[TW_UUID_LEN + 1],
                          tw_error *err) {
  natsMsg *m = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetMsg(&m, n->js, n->s_done, seq, NULL, &jerr);
  *found = false;
  if (s == NATS_NOT_FOUND)
    return TW_OK;
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading the finish log", err);
  char line[80];
  int len = natsMsg_GetDataLength(m);
  snprintf(line, sizeof line, "%.*s", len > 79 ? 79 : len, natsMsg_GetData(m));
  natsMsg_Destroy(m);
  long long fin = 0;
  char idbuf[64];
  if (sscanf(line, "%lld %63s", &fin, idbuf) == 2 &&
      strlen(idbuf) == TW_UUID_LEN) {
    *finished = fin;
    memcpy(id, idbuf, TW_UUID_LEN + 1);
    *found = true;
  }
  return TW_OK;
}

tw_status tw__nt_job_prune(tw_registry_t *reg, bool use_age, int64_t older_than,
                           bool keep_all, uint64_t keep, uint64_t *deleted,
                           tw_error *err) {
  tw__nats_registry *n = tw__nt(reg);
  jsStreamInfo *si = NULL;
  uint64_t gone = 0, upto = 0;
  tw_status st = tw__nats_ready(n, err);
  if (st != TW_OK)
    return st;
  natsStatus s = js_GetStreamInfo(&si, n->js, n->s_done, NULL, NULL);
  if (s != NATS_OK)
    return tw__nats_fail(n, s, "reading the finish log", err);
  uint64_t msgs = si->State.Msgs, seq = si->State.FirstSeq,
           last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  uint64_t excess = keep_all || msgs <= keep ? 0 : msgs - keep;
  /* Oldest finished first; stop at the first one to keep. */
  for (; msgs && seq <= last && gone < PRUNE_BATCH; seq++) {
    bool found = false;
    int64_t fin = 0;
    char id[TW_UUID_LEN + 1];
    if ((st = read_log(n, seq, &found, &fin, id, err)) != TW_OK)
      break;
    if (found) {
      if (!(excess > 0 || (use_age && fin < older_than)))
        break;
      if ((st = purge_record(n, id, err)) != TW_OK)
        break;
      excess -= excess > 0;
      gone++;
    }
    upto = seq + 1;
  }
  if (upto) { /* drop the log entries up to (not including) upto */
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Sequence = upto;
    s = js_PurgeStream(n->js, n->s_done, &o, NULL);
    if (s != NATS_OK && st == TW_OK)
      st = tw__nats_fail(n, s, "trimming the finish log", err);
  }
  *deleted = gone;
  return st;
}
