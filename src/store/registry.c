/* The registry front: public entry points of include/tensorwasm/registry.h.
 *
 * Everything a backend should not have to repeat lives here: argument
 * checks, lowercasing of ids, JSON checks of job texts, random ids, SHA-256
 * of module bytes and timestamps.  Then the call goes through the backend's
 * vtable (store_int.h).  Invariant: a backend only ever sees a valid,
 * lowercase UUID, a valid name, and JSON text that parses. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/nats_int.h"
#include "store/store_int.h"
#include "tensorwasm/trace.h"

/* ---- helpers shared by the module ------------------------------------- */

tw_status tw__registry_error(tw_error *err, tw_status status, const char *fmt,
                             ...) {
  if (!err)
    return status;
  tw_error_clear(err);
  err->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return status;
}

int64_t tw__registry_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *tw__registry_strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* ---- argument checks --------------------------------------------------- */

/* Copies a UUID in canonical 8-4-4-4-12 form to out, lowercased. */
static tw_status uuid_normalize(const char *id, char out[TW_UUID_LEN + 1],
                                const char *what, tw_error *err) {
  if (!id)
    return tw__registry_error(err, TW_ARG, "%s is missing", what);
  size_t i = 0;
  for (; i < TW_UUID_LEN && id[i]; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    unsigned char c = (unsigned char)id[i];
    if (dash ? c != '-' : !isxdigit(c))
      break;
    out[i] = (char)tolower(c);
  }
  if (i != TW_UUID_LEN || id[i] != '\0')
    return tw__registry_error(err, TW_ARG, "%s is not a UUID", what);
  out[TW_UUID_LEN] = '\0';
  return TW_OK;
}

static tw_status check_name(const char *name, tw_error *err) {
  if (!name)
    return tw__registry_error(err, TW_ARG, "function name is missing");
  size_t n = strnlen(name, TW_FUNCTION_NAME_MAX + 1);
  if (n == 0 || n > TW_FUNCTION_NAME_MAX)
    return tw__registry_error(err, TW_ARG, "function name must be 1..%d bytes",
                              TW_FUNCTION_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f)
      return tw__registry_error(err, TW_ARG,
                                "function name has a control byte at %zu", i);
  }
  return TW_OK;
}

/* Job texts are embedded verbatim in HTTP responses later, so only text
 * that parses as JSON is let in. */
static tw_status check_json(const char *text, const char *what, tw_error *err) {
  if (!text)
    return tw__registry_error(err, TW_ARG, "%s is missing", what);
  json_error_t jerr;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!v)
    return tw__registry_error(err, TW_ARG, "%s is not JSON: %s at %d", what,
                              jerr.text, jerr.position);
  json_decref(v);
  return TW_OK;
}

static tw_status check_reg(const tw_registry_t *reg, tw_error *err) {
  return reg ? TW_OK : tw__registry_error(err, TW_ARG, "registry is NULL");
}

/* ---- open / close ------------------------------------------------------ */

void tw_registry_options_init(tw_registry_options *opt) {
  if (!opt)
    return;
  memset(opt, 0, sizeof *opt);
  opt->backend = TW_REGISTRY_SQLITE;
  opt->max_outstanding_jobs = TW_REGISTRY_DEFAULT_MAX_OUTSTANDING;
  opt->busy_timeout_ms = TW_REGISTRY_DEFAULT_BUSY_TIMEOUT_MS;
  opt->retain_jobs = TW_REGISTRY_DEFAULT_RETAIN_JOBS;
  opt->retain_ms = TW_REGISTRY_DEFAULT_RETAIN_MS;
  opt->nats_prefix = TW_REGISTRY_DEFAULT_NATS_PREFIX;
  opt->nats_timeout_ms = TW_REGISTRY_DEFAULT_NATS_TIMEOUT_MS;
  opt->nats_ack_wait_ms = TW_REGISTRY_DEFAULT_NATS_ACK_WAIT_MS;
  opt->nats_max_deliver = TW_REGISTRY_DEFAULT_NATS_MAX_DELIVER;
  opt->nats_dedup_window_ms = TW_REGISTRY_DEFAULT_NATS_DEDUP_WINDOW_MS;
  opt->nats_claim_wait_ms = TW_REGISTRY_DEFAULT_NATS_CLAIM_WAIT_MS;
  opt->nats_replicas = 1;
}

/* mkdir -p with mode 0700: the directory holds every tenant's modules. */
static tw_status make_dirs(const char *dir, tw_error *err) {
  size_t n = strlen(dir);
  char *path = tw__registry_strndup(dir, n);
  if (!path)
    return tw__registry_error(err, TW_NOMEM, "out of memory");
  tw_status st = TW_OK;
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    char saved = path[i];
    path[i] = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
      st = tw__registry_error(err, TW_IO, "cannot create %s: %s", path,
                              strerror(errno));
      goto done;
    }
    path[i] = saved;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    st = tw__registry_error(err, TW_IO, "%s is not a directory", dir);
done:
  free(path);
  return st;
}

tw_status tw_registry_open(const char *data_dir, const tw_registry_options *opt,
                           tw_registry_t **out, tw_error *err) {
  if (!data_dir || !data_dir[0] || !out)
    return tw__registry_error(err, TW_ARG,
                              "data directory and output required");
  tw_registry_options o;
  if (opt)
    o = *opt;
  else
    tw_registry_options_init(&o);
  if (o.max_outstanding_jobs == 0)
    return tw__registry_error(err, TW_ARG, "max_outstanding_jobs must be >= 1");
  if (o.retain_ms < 0)
    return tw__registry_error(err, TW_ARG, "retain_ms must be >= 0");
  tw_status st = make_dirs(data_dir, err);
  if (st != TW_OK)
    return st;
  switch (o.backend) {
  case TW_REGISTRY_SQLITE:
    return tw__sqlite_registry_open(data_dir, &o, out, err);
  case TW_REGISTRY_NATS:
    return tw__nats_registry_open(&o, out, err);
  }
  return tw__registry_error(err, TW_UNSUPPORTED, "unknown registry backend %d",
                            (int)o.backend);
}

void tw_registry_close(tw_registry_t *reg) {
  if (reg)
    reg->ops->close(reg);
}

tw_status tw_registry_uuid_new(char out[TW_UUID_LEN + 1], tw_error *err) {
  unsigned char b[16];
  if (!out)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  if (RAND_bytes(b, sizeof b) != 1)
    return tw__registry_error(err, TW_IO, "random source failed");
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  snprintf(out, TW_UUID_LEN + 1,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
           "%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
  return TW_OK;
}

/* ---- functions --------------------------------------------------------- */

tw_status tw__registry_sha256_hex(const uint8_t *data, size_t len,
                                  char out[TW_SHA256_HEX_LEN + 1],
                                  tw_error *err) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
      mdlen != sizeof md)
    return tw__registry_error(err, TW_IO, "SHA-256 failed");
  for (size_t i = 0; i < sizeof md; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return TW_OK;
}

tw_status tw_registry_function_put(tw_registry_t *reg, uint64_t tenant,
                                   const char *name, const uint8_t *wasm,
                                   size_t len, tw_function_info *out,
                                   tw_error *err) {
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!out)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  if (!wasm || len == 0)
    return tw__registry_error(err, TW_ARG, "module bytes are empty");
  if ((st = check_name(name, err)) != TW_OK)
    return st;
  tw_function_info info;
  memset(&info, 0, sizeof info);
  info.tenant = tenant;
  snprintf(info.name, sizeof info.name, "%s", name);
  info.size = len;
  info.created_unix_ms = tw__registry_now_ms();
  if ((st = tw_registry_uuid_new(info.id, err)) != TW_OK)
    return st;
  if ((st = tw__registry_sha256_hex(wasm, len, info.sha256, err)) != TW_OK)
    return st;
  if ((st = reg->ops->function_put(reg, &info, wasm, err)) != TW_OK)
    return st;
  *out = info;
  return TW_OK;
}

tw_status tw_registry_function_get(tw_registry_t *reg, const char *id,
                                   tw_function_info *out, tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!out)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  if ((st = uuid_normalize(id, key, "function id", err)) != TW_OK)
    return st;
  return reg->ops->function_get(reg, key, out, err);
}

tw_status tw_registry_function_bytes(tw_registry_t *reg, const char *id,
                                     uint8_t **bytes, size_t *len,
                                     tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!bytes || !len)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  if ((st = uuid_normalize(id, key, "function id", err)) != TW_OK)
    return st;
  return reg->ops->function_bytes(reg, key, bytes, len, err);
}

tw_status tw_registry_function_list(tw_registry_t *reg, uint64_t tenant,
                                    const char *cursor, tw_function_info *items,
                                    size_t cap, size_t *count,
                                    char next_cursor[TW_REGISTRY_CURSOR_MAX],
                                    tw_error *err) {
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!items || !count || !next_cursor || cap == 0)
    return tw__registry_error(err, TW_ARG,
                              "list needs items, cap >= 1 and outputs");
  if (cursor &&
      strnlen(cursor, TW_REGISTRY_CURSOR_MAX) >= TW_REGISTRY_CURSOR_MAX)
    return tw__registry_error(err, TW_ARG, "list cursor is malformed");
  return reg->ops->function_list(reg, tenant,
                                 cursor && cursor[0] ? cursor : NULL, items,
                                 cap, count, next_cursor, err);
}

tw_status tw_registry_function_delete(tw_registry_t *reg, const char *id,
                                      tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if ((st = uuid_normalize(id, key, "function id", err)) != TW_OK)
    return st;
  return reg->ops->function_delete(reg, key, err);
}

/* ---- jobs -------------------------------------------------------------- */

const char *tw_job_status_name(tw_job_status s) {
  switch (s) {
  case TW_JOB_PENDING: return "pending";
  case TW_JOB_RUNNING: return "running";
  case TW_JOB_COMPLETED: return "completed";
  case TW_JOB_FAILED: return "failed";
  }
  return "unknown";
}

const char *tw_job_status_api_name(tw_job_status s) {
  return s == TW_JOB_RUNNING ? "pending" : tw_job_status_name(s);
}

void tw_job_clear(tw_job *job) {
  if (!job)
    return;
  free(job->export_name);
  free(job->args_json);
  free(job->input);
  free(job->result_json);
  free(job->error);
  free(job->traceparent);
  memset(job, 0, sizeof *job);
}

tw_status tw_registry_job_enqueue(tw_registry_t *reg, const tw_job_spec *spec,
                                  tw_error *err) {
  char id[TW_UUID_LEN + 1], fid[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!spec)
    return tw__registry_error(err, TW_ARG, "job spec is NULL");
  if ((st = uuid_normalize(spec->id, id, "job id", err)) != TW_OK)
    return st;
  if ((st = uuid_normalize(spec->function_id, fid, "function id", err)) !=
      TW_OK)
    return st;
  if (!spec->input && spec->input_len)
    return tw__registry_error(err, TW_ARG, "job input is NULL");
  if (spec->export_name && !spec->export_name[0])
    return tw__registry_error(err, TW_ARG, "export name is empty");
  /* Stored as given and handed to a worker later, maybe on another node:
   * only a well-formed value goes in. */
  tw_trace_ctx tctx;
  if (spec->traceparent &&
      (strnlen(spec->traceparent, TW_TRACEPARENT_LEN + 1) > TW_TRACEPARENT_LEN ||
       !tw_traceparent_parse(spec->traceparent, strlen(spec->traceparent),
                             &tctx)))
    return tw__registry_error(err, TW_ARG, "job traceparent is malformed");
  tw_job_spec s = *spec;
  s.id = id;
  s.function_id = fid;
  if (!s.args_json)
    s.args_json = "[]";
  if ((st = check_json(s.args_json, "job args", err)) != TW_OK)
    return st;
  if (s.created_unix_ms == 0)
    s.created_unix_ms = tw__registry_now_ms();
  return reg->ops->job_enqueue(reg, &s, err);
}

tw_status tw_registry_job_claim(tw_registry_t *reg, tw_job *out, bool *claimed,
                                tw_error *err) {
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!out || !claimed)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  return reg->ops->job_claim(reg, tw__registry_now_ms(), out, claimed, err);
}

tw_status tw_registry_job_complete(tw_registry_t *reg, const char *id,
                                   const char *result_json, tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if ((st = uuid_normalize(id, key, "job id", err)) != TW_OK)
    return st;
  if ((st = check_json(result_json, "job result", err)) != TW_OK)
    return st;
  return reg->ops->job_finish(reg, key, 1u << TW_JOB_RUNNING, TW_JOB_COMPLETED,
                              result_json, tw__registry_now_ms(), err);
}

tw_status tw_registry_job_fail(tw_registry_t *reg, const char *id,
                               const char *reason, tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if ((st = uuid_normalize(id, key, "job id", err)) != TW_OK)
    return st;
  if (!reason || !reason[0])
    return tw__registry_error(err, TW_ARG, "failure reason is empty");
  return reg->ops->job_finish(
      reg, key, 1u << TW_JOB_PENDING | 1u << TW_JOB_RUNNING, TW_JOB_FAILED,
      reason, tw__registry_now_ms(), err);
}

tw_status tw_registry_job_get(tw_registry_t *reg, const char *id, tw_job *out,
                              tw_error *err) {
  char key[TW_UUID_LEN + 1];
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!out)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  if ((st = uuid_normalize(id, key, "job id", err)) != TW_OK)
    return st;
  return reg->ops->job_get(reg, key, out, err);
}

tw_status tw_registry_recover(tw_registry_t *reg, uint64_t *interrupted,
                              tw_error *err) {
  uint64_t n = 0;
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  st = reg->ops->recover(reg, tw__registry_now_ms(), &n, err);
  if (st == TW_OK && interrupted)
    *interrupted = n;
  return st;
}

tw_status tw_registry_job_prune(tw_registry_t *reg, int64_t now_unix_ms,
                                uint64_t *deleted, tw_error *err) {
  uint64_t n = 0;
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (now_unix_ms == 0)
    now_unix_ms = tw__registry_now_ms();
  const tw_registry_options *o = &reg->opt;
  bool use_age = o->retain_ms > 0;
  int64_t older_than = use_age && now_unix_ms > INT64_MIN + o->retain_ms
                           ? now_unix_ms - o->retain_ms
                           : INT64_MIN;
  st = reg->ops->job_prune(reg, use_age, older_than, o->retain_jobs == 0,
                           o->retain_jobs, &n, err);
  if (st == TW_OK && deleted)
    *deleted = n;
  return st;
}

tw_status tw_registry_job_outstanding(tw_registry_t *reg, uint64_t *count,
                                      tw_error *err) {
  tw_status st = check_reg(reg, err);
  if (st != TW_OK)
    return st;
  if (!count)
    return tw__registry_error(err, TW_ARG, "output is NULL");
  return reg->ops->job_outstanding(reg, count, err);
}
