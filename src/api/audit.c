/* The audit log: one JSON line per state-changing action (deploy, delete,
 * invoke, invoke-async) by a caller that passed auth, in the original's
 * record shape (docs/API.md "Audit log").  A 401 writes nothing; every
 * later refusal (400 tenant errors, 403, 413, 429, 503) and every handler
 * outcome writes one.
 *
 * A record is written before its response is sent, on the thread that
 * produced the response (a pool worker, or the I/O thread for refusals),
 * with one write(2) of the whole line under the sink's lock: records never
 * interleave, and a client that has its answer knows the record is with
 * the kernel (the "flushed per record" of the original).  A sink that
 * blocks therefore slows the gateway rather than losing records; that is
 * the trade an audit log makes.
 *
 * The line is formatted by hand, not with jansson, because token ids and
 * tenant ids are full u64 values; the only strings that can carry
 * arbitrary bytes (the certificate subject) are escaped here. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api_int.h"

#define AUDIT_TARGET "tensor_wasm_api::audit"

struct api_audit {
  pthread_mutex_t lock;
  int fd;
  bool owned;   /* a file we opened (closed at the end) */
  bool mirror;  /* stdout: also an info event on AUDIT_TARGET */
};

static tw_status audit_new(int fd, bool owned, api_audit **out, tw_error *err) {
  api_audit *a = calloc(1, sizeof *a);
  if (!a) {
    if (owned) close(fd);
    if (err) {
      err->status = TW_NOMEM;
      snprintf(err->message, sizeof err->message, "out of memory (audit log)");
    }
    return TW_NOMEM;
  }
  pthread_mutex_init(&a->lock, NULL);
  a->fd = fd;
  a->owned = owned;
  a->mirror = !owned;
  *out = a;
  return TW_OK;
}

tw_status api_audit_open(const char *spec, api_audit **out, tw_error *err) {
  *out = NULL;
  if (!spec || !*spec || strcasecmp(spec, "none") == 0) return TW_OK;
  if (strcasecmp(spec, "stdout") == 0) return audit_new(STDOUT_FILENO, false, out, err);
  if (strncmp(spec, "file:", 5) == 0) {
    const char *path = spec + 5;
    if (!*path) {
      tw_event(TW_LEVEL_WARN, AUDIT_TARGET,
               "TENSOR_WASM_API_AUDIT_LOG=file: names no path; writing the audit log to stdout");
      return audit_new(STDOUT_FILENO, false, out, err);
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) return audit_new(fd, true, out, err);
    tw_event(TW_LEVEL_WARN, AUDIT_TARGET,
             "cannot open audit log file %s (%s); writing the audit log to stdout", path,
             strerror(errno));
    return audit_new(STDOUT_FILENO, false, out, err);
  }
  tw_event(TW_LEVEL_WARN, AUDIT_TARGET,
           "TENSOR_WASM_API_AUDIT_LOG=%s is not none, stdout or file:/path; writing the audit "
           "log to stdout",
           spec);
  return audit_new(STDOUT_FILENO, false, out, err);
}

void api_audit_close(api_audit *a) {
  if (!a) return;
  if (a->owned) close(a->fd);
  pthread_mutex_destroy(&a->lock);
  free(a);
}

api_audit_action api_audit_action_of(api_route route) {
  switch (route) {
  case API_ROUTE_FN_CREATE: return API_AUDIT_CREATE_FUNCTION;
  case API_ROUTE_FN_DELETE: return API_AUDIT_DELETE_FUNCTION;
  case API_ROUTE_INVOKE: return API_AUDIT_INVOKE_FUNCTION;
  case API_ROUTE_INVOKE_ASYNC: return API_AUDIT_INVOKE_FUNCTION_ASYNC;
  default: return API_AUDIT_NONE;
  }
}

static const char *action_name(api_audit_action a) {
  switch (a) {
  case API_AUDIT_CREATE_FUNCTION: return "create_function";
  case API_AUDIT_DELETE_FUNCTION: return "delete_function";
  case API_AUDIT_INVOKE_FUNCTION: return "invoke_function";
  case API_AUDIT_INVOKE_FUNCTION_ASYNC: return "invoke_function_async";
  default: return "unknown";
  }
}

/* ---- the line ------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)n;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* A JSON string of printable ASCII (the subject was reduced to it). */
static void sb_string(sbuf *b, const char *s) {
  sb_printf(b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') sb_printf(b, "\\%c", *s);
    else if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) sb_printf(b, "\\u%04x", (unsigned char)*s);
    else sb_printf(b, "%c", *s);
  }
  sb_printf(b, "\"");
}

static bool is_uuid(const char *s) {
  if (strlen(s) != TW_UUID_LEN) return false;
  for (int i = 0; i < TW_UUID_LEN; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

static void actor_json(sbuf *b, const api_actor *a) {
  if (!a->token) {
    sb_printf(b, "{\"kind\":\"dev\",\"token_id\":null,\"scope\":{\"kind\":\"dev\"}}");
    return;
  }
  sb_printf(b, "{\"kind\":\"bearer\",\"token_id\":%llu,\"scope\":",
            (unsigned long long)a->token->id);
  if (a->token->wildcard) {
    sb_printf(b, "{\"kind\":\"wildcard\"}}");
    return;
  }
  sb_printf(b, "{\"kind\":\"tenant_set\",\"tenants\":[");
  for (size_t i = 0; i < a->token->ntenants; i++)
    sb_printf(b, "%s%llu", i ? "," : "", (unsigned long long)a->token->tenants[i]);
  sb_printf(b, "]}}");
}

static void record_json(sbuf *b, const api_req *r) {
  const char *fid = r->created_id[0] ? r->created_id : is_uuid(r->match.id) ? r->match.id : NULL;
  uint64_t latency_ms = (api_mono_ns() - r->start_ns) / 1000000u;
  sb_printf(b, "{\"ts_unix_ms\":%lld,\"request_id\":\"%s\",\"actor\":", (long long)api_now_ms(),
            r->request_id);
  actor_json(b, &r->actor);
  sb_printf(b, ",\"action\":\"%s\",\"resource\":{", action_name(r->audit_action));
  if (fid) sb_printf(b, "\"function_id\":\"%s\"", fid);
  if (r->tenant_known)
    sb_printf(b, "%s\"tenant_id\":%llu", fid ? "," : "", (unsigned long long)r->tenant);
  sb_printf(b, "},\"outcome\":{\"status_code\":%u", r->resp.status);
  if (r->resp.status >= 400 && r->resp.kind) sb_printf(b, ",\"error_kind\":\"%s\"", r->resp.kind);
  sb_printf(b, "},\"latency_ms\":%llu,\"peer_addr\":", (unsigned long long)latency_ms);
  if (r->peer[0]) sb_string(b, r->peer);
  else sb_printf(b, "null");
  sb_printf(b, ",\"client_cert_subject\":");
  if (r->cert_subject[0]) sb_string(b, r->cert_subject);
  else sb_printf(b, "null");
  sb_printf(b, "}\n");
}

static void write_all(api_audit *a, const char *p, size_t n) {
  pthread_mutex_lock(&a->lock);
  while (n > 0) {
    ssize_t w = write(a->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      pthread_mutex_unlock(&a->lock);
      tw_event(TW_LEVEL_ERROR, AUDIT_TARGET, "cannot write an audit record: %s",
               w < 0 ? strerror(errno) : "short write");
      return;
    }
    p += w;
    n -= (size_t)w;
  }
  pthread_mutex_unlock(&a->lock);
}

void api_audit_emit(api_req *r) {
  api_audit *a = r->api->audit;
  if (!a || r->audit_action == API_AUDIT_NONE || r->audit_done || r->resp.status == 0) return;
  r->audit_done = true;
  sbuf b = {.p = malloc(512), .cap = 512};
  if (!b.p) b.oom = true;
  record_json(&b, r);
  if (b.oom) {
    tw_event(TW_LEVEL_ERROR, AUDIT_TARGET, "out of memory writing audit record for request %s",
             r->request_id);
  } else {
    write_all(a, b.p, b.len);
    if (a->mirror) tw_event(TW_LEVEL_INFO, AUDIT_TARGET, "audit %.*s", (int)b.len - 1, b.p);
  }
  free(b.p);
}
