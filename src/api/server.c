/* The gateway's HTTP side: libmicrohttpd with poll() I/O threads, the life
 * of one request, and start/stop.
 *
 * One request, on its I/O thread:
 *   first call    the Host allowlist (a refusal is not traced or counted),
 *                 trace context (http.request), CORS (preflights answered),
 *                 route, auth, tenant, rate limit, the declared body size;
 *                 anything refused is answered here, before the body is
 *                 read
 *   body calls    the body is appended up to max_body_bytes (the rest is
 *                 discarded and 413 follows); a body that takes longer than
 *                 request_timeout_ms closes the connection
 *   last call     /healthz and /metrics are answered inline; every other
 *                 route is handed to a pool (guest pool for invocations,
 *                 behind a permit; control pool for the rest) and the
 *                 connection is suspended until the worker resumes it
 *   completion    metrics, the end of http.request, free
 * So an I/O thread does bounded work per call: no guest code, no storage,
 * no JSON larger than the fixed answers.  The audit record of a request
 * (audit.c) is written just before its response is queued. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"

#define PATH_ATTR_MAX 256
#define TRACEPARENT_ATTR_MAX 64
#define STOP_DRAIN_MS 5000

/* Set by tw_api_stop under dispatch_lock; see dispatch(). */
typedef struct api_life {
  pthread_mutex_t dispatch_lock;
  atomic_bool stopping;
  atomic_long active; /* requests between first call and completion */
  int listen_fd;
} api_life;

/* The server and its life state live in one allocation. */
typedef struct api_server {
  struct tw_api api;
  api_life life;
} api_server;

static api_life *life_of(tw_api_t *api) { return &((api_server *)api)->life; }

void tw_api_config_init(tw_api_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "127.0.0.1";
}

uint16_t tw_api_port(const tw_api_t *api) { return api ? api->port : 0; }

bool tw_api_dev_mode(const tw_api_t *api) { return api && api->tokens.count == 0; }

/* ---- headers --------------------------------------------------------------------- */

typedef struct header_count {
  const char *name;
  unsigned n;
} header_count;

static enum MHD_Result count_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
  header_count *c = cls;
  (void)kind;
  (void)value;
  if (strcasecmp(key, c->name) == 0) c->n++;
  return MHD_YES;
}

static unsigned header_count_of(struct MHD_Connection *conn, const char *name) {
  header_count c = {name, 0};
  MHD_get_connection_values(conn, MHD_HEADER_KIND, count_cb, &c);
  return c.n;
}

static const char *header(struct MHD_Connection *conn, const char *name) {
  return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static const char *query(struct MHD_Connection *conn, const char *name) {
  return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- sending -------------------------------------------------------------------- */

#define CORS_METHODS "GET, POST, DELETE"
#define CORS_HEADERS "authorization, content-type, x-tensorwasm-tenant, traceparent"
#define CORS_EXPOSE "x-trace-id, x-request-id, retry-after"
#define CORS_MAX_AGE "600"

static void add_cors_headers(const api_req *r, struct MHD_Response *resp) {
  if (r->resp.preflight)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
                            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  else if (r->api->edge.norigins)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
  if (!r->cors_origin) return;
  MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
  if (r->resp.preflight) {
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", CORS_METHODS);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", CORS_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", CORS_MAX_AGE);
  } else {
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE);
  }
}

static enum MHD_Result send_resp(api_req *r) {
  api_resp *p = &r->resp;
  struct MHD_Response *resp;
  char retry[16];
  api_audit_emit(r); /* before the client can see the answer */
  if (p->body) {
    resp = MHD_create_response_from_buffer(p->len, p->body, MHD_RESPMEM_MUST_FREE);
    if (resp) p->body = NULL; /* MHD frees it now */
  } else {
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp) return MHD_NO;
  if (p->ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, p->ctype);
  MHD_add_response_header(resp, "x-request-id", r->request_id);
  MHD_add_response_header(resp, "x-trace-id", r->trace_id);
  if (p->retry_after) {
    snprintf(retry, sizeof retry, "%u", p->retry_after);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
  }
  if (p->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, p->allow);
  add_cors_headers(r, resp);
  enum MHD_Result ok = MHD_queue_response(r->conn, p->status, resp);
  MHD_destroy_response(resp);
  r->state = API_REQ_QUEUED;
  return ok;
}

static enum MHD_Result send_error(api_req *r, api_error kind, const char *msg) {
  api_resp_error(r, kind, "%s", msg);
  return send_resp(r);
}

/* ---- request birth and death ------------------------------------------------- */

static const char *span_method(const char *m) {
  static const char *const verbs[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                      "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strcmp(m, verbs[i]) == 0) return verbs[i];
  return "OTHER";
}

/* http.request {method, uri, path, version, traceparent, request_id} as a
 * child of a valid inbound traceparent, else a fresh root. */
static void req_trace(api_req *r, const char *url, const char *version) {
  const char *tp = header(r->conn, "traceparent");
  tw_trace_ctx parent;
  bool joined = tp && header_count_of(r->conn, "traceparent") == 1 &&
                tw_traceparent_parse(tp, strlen(tp), &parent);
  char path[PATH_ATTR_MAX + 1], tpattr[TRACEPARENT_ATTR_MAX + 1];
  size_t n = 0;
  for (const char *p = url; *p && n < PATH_ATTR_MAX; p++)
    if (*p != '\r' && *p != '\n') path[n++] = *p;
  path[n] = '\0';
  r->span = tw_span_begin_with_parent("http.request", TW_API_HTTP_TARGET, TW_LEVEL_INFO,
                                      joined ? &parent : NULL);
  if (r->span) {
    tw_span_set_kind(r->span, TW_SPAN_KIND_SERVER);
    tw_span_attr_str(r->span, "method", span_method(r->method));
    tw_span_attr_str(r->span, "uri", path);
    tw_span_attr_str(r->span, "path", path);
    tw_span_attr_str(r->span, "version", version);
    if (tp && strpbrk(tp, "\r\n") == NULL) {
      snprintf(tpattr, sizeof tpattr, "%s", tp);
      tw_span_attr_str(r->span, "traceparent", tpattr);
    } else {
      tw_span_attr_str(r->span, "traceparent", tp ? "<invalid>" : NULL);
    }
    tw_span_attr_str(r->span, "request_id", r->request_id);
    r->ctx = tw_span_context(r->span);
    tw_span_exit(r->span); /* handed on; ended at completion */
  } else if (joined) {
    r->ctx = parent;
  } else {
    tw_trace_ctx_new_root(&r->ctx);
  }
  tw_trace_id_hex(&r->ctx, r->trace_id);
}

static api_req *req_alloc(tw_api_t *api, struct MHD_Connection *conn, const char *method) {
  api_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->api = api;
  r->conn = conn;
  r->start_ns = api_mono_ns();
  pthread_mutex_init(&r->lock, NULL);
  snprintf(r->method, sizeof r->method, "%s", method);
  if (tw_registry_uuid_new(r->request_id, NULL) != TW_OK)
    snprintf(r->request_id, sizeof r->request_id, "unknown");
  atomic_fetch_add(&life_of(api)->active, 1);
  return r;
}

/* A request refused at the edge (Host): no span, no metric; its
 * x-trace-id is a fresh root that no span carries, so that every
 * response still has one. */
static api_req *req_new_untracked(tw_api_t *api, struct MHD_Connection *conn,
                                  const char *method) {
  api_req *r = req_alloc(api, conn, method);
  if (!r) return NULL;
  r->untracked = true;
  tw_trace_ctx_new_root(&r->ctx);
  tw_trace_id_hex(&r->ctx, r->trace_id);
  return r;
}

static api_req *req_new(tw_api_t *api, struct MHD_Connection *conn, const char *url,
                        const char *method, const char *version) {
  api_req *r = req_alloc(api, conn, method);
  if (!r) return NULL;
  r->method_label = tw_metrics_method_label(method);
  r->route_label = tw_metrics_route_label(method, url);
  r->in_flight = tw_metric_gauge_with(api->metrics->http_requests_in_flight, r->route_label,
                                      r->method_label);
  tw_gauge_add(r->in_flight, 1);
  req_trace(r, url, version);
  api_route_match(method, url, &r->match);
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  tw_api_t *api = cls;
  api_req *r = *con_cls;
  (void)conn;
  if (!r) return;
  *con_cls = NULL;
  if (r->untracked) goto done;
  double secs = (double)(api_mono_ns() - r->start_ns) / 1e9;
  if (r->resp.status) {
    char status[16];
    snprintf(status, sizeof status, "%u", r->resp.status);
    tw_counter_inc(tw_metric_counter_with(api->metrics->http_requests, r->route_label,
                                          r->method_label, status));
    tw_histogram_observe(tw_metric_histogram_with(api->metrics->http_request_duration_seconds,
                                                  r->route_label, r->method_label, status),
                         secs);
    tw_span_attr_int(r->span, "status", r->resp.status);
    if (r->resp.status >= 500)
      tw_span_set_status(r->span, TW_SPAN_STATUS_ERROR, r->resp.kind);
  }
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
    tw_span_attr_bool(r->span, "client_aborted", true);
  tw_span_end(r->span);
  tw_gauge_sub(r->in_flight, 1);
done:
  free(r->body);
  free(r->resp.body);
  pthread_mutex_destroy(&r->lock);
  free(r);
  atomic_fetch_sub(&life_of(api)->active, 1);
}

/* ---- first call: refuse early ------------------------------------------------ */

/* What the audit record needs from the connection, taken on the I/O
 * thread: the peer, and the certificate subject a trusted proxy vouches
 * for. */
static void audit_begin(api_req *r) {
  tw_api_t *api = r->api;
  r->audit_action = api->audit ? api_audit_action_of(r->match.route) : API_AUDIT_NONE;
  if (r->audit_action == API_AUDIT_NONE) return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  api_sockaddr_format(sa, r->peer, sizeof r->peer);
  const char *xfcc = header(r->conn, "X-Forwarded-Client-Cert");
  if (!xfcc) return;
  if (api_edge_peer_trusted(&api->edge, sa))
    api_xfcc_subject(xfcc, r->cert_subject, sizeof r->cert_subject);
  else
    api_edge_warn_untrusted(&api->edge, sa);
}

/* Auth, tenant, scope and rate limit for a protected route (the
 * original's bearer_auth -> audit -> tenant_scope -> rate_limit); false
 * with the error sent.  Only a caller that passed auth is audited. */
static bool check_caller(api_req *r, enum MHD_Result *out) {
  tw_api_t *api = r->api;
  api_fail f;
  if (header_count_of(r->conn, MHD_HTTP_HEADER_AUTHORIZATION) > 1) {
    *out = send_error(r, API_ERR_BAD_REQUEST, "more than one Authorization header");
    return false;
  }
  if (!tw_api_dev_mode(api) &&
      !api_auth_check(&api->tokens, header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION), &r->actor,
                      &f)) {
    api_resp_fail(r, &f);
    *out = send_resp(r);
    return false;
  }
  audit_begin(r);
  unsigned nt = header_count_of(r->conn, "X-TensorWasm-Tenant");
  const char *tv = header(r->conn, "X-TensorWasm-Tenant");
  if (nt > 1) {
    *out = send_error(r, API_ERR_DUPLICATE_TENANT_HEADER, "more than one X-TensorWasm-Tenant header");
    return false;
  }
  if (nt == 0 && api->cfg.require_tenant) {
    *out = send_error(r, API_ERR_MISSING_TENANT, "the X-TensorWasm-Tenant header is required");
    return false;
  }
  if (nt == 1 && !api_tenant_parse(tv, &r->tenant)) {
    *out = send_error(r, API_ERR_INVALID_TENANT, "X-TensorWasm-Tenant must be an unsigned 64-bit integer");
    return false;
  }
  r->tenant_known = true;
  /* Scope before any lookup: a 403 here says nothing about what exists. */
  if (!api_actor_covers(&r->actor, r->tenant)) {
    *out = send_error(r, API_ERR_TENANT_SCOPE_DENIED, "the token does not cover this tenant");
    return false;
  }
  /* Only actions spend permits (deploy, delete, invoke, invoke-async):
   * reads are cheap, bounded by the control queue, and polling GET
   * /jobs/:id is how clients are told to wait for a job. */
  const api_token *t = r->actor.token;
  uint32_t retry = api_audit_action_of(r->match.route) == API_AUDIT_NONE
                       ? 0
                       : api_limiter_admit(api->limiter, t ? t->index : api->tokens.count,
                                           t ? t->id : 0, r->tenant);
  if (retry) {
    api_resp_error(r, API_ERR_RATE_LIMITED,
                   "per-token rate limit exceeded; retry after %us", (unsigned)retry);
    r->resp.retry_after = retry;
    *out = send_resp(r);
    return false;
  }
  return true;
}

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * on a path we serve: 204, with the allow headers when the origin is
 * allowed and without them (the browser then refuses) when it is not. */
static bool is_preflight(const api_req *r) {
  return strcmp(r->method, "OPTIONS") == 0 && header(r->conn, "Origin") &&
         header(r->conn, "Access-Control-Request-Method") && r->match.allow;
}

static enum MHD_Result answer_healthz(api_req *r) {
  api_resp_json(r, 200, json_pack("{s:s}", "status", "ok"));
  return send_resp(r);
}

static enum MHD_Result answer_metrics(api_req *r) {
  tw_api_t *api = r->api;
  if (api->metrics_token) {
    api_tokens one = {0};
    api_token tok = {.wildcard = true};
    api_actor a;
    api_fail f;
    unsigned len = 32;
    EVP_Digest(api->metrics_token, strlen(api->metrics_token), tok.digest, &len, EVP_sha256(),
               NULL);
    one.items = &tok;
    one.count = 1;
    if (!api_auth_check(&one, header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION), &a, &f)) {
      api_resp_fail(r, &f);
      return send_resp(r);
    }
  }
  tw_metric_buf buf = {0};
  if (tw_metric_registry_render(tw_metric_registry_default(), &buf, NULL) != TW_OK) {
    tw_metric_buf_free(&buf);
    return send_error(r, API_ERR_INTERNAL, "cannot render metrics");
  }
  api_resp_empty(r, 200);
  r->resp.body = buf.data; /* ownership moves to the response */
  r->resp.len = buf.len;
  r->resp.ctype = TW_METRICS_CONTENT_TYPE;
  return send_resp(r);
}

static enum MHD_Result on_first_call(api_req *r) {
  tw_api_t *api = r->api;
  enum MHD_Result out = MHD_YES;
  if (life_of(api)->stopping)
    return send_error(r, API_ERR_CAPACITY_EXHAUSTED, "the server is shutting down");
  const char *origin = header(r->conn, "Origin");
  if (api_edge_origin_ok(&api->edge, origin)) r->cors_origin = origin;
  if (is_preflight(r)) {
    api_resp_empty(r, 204);
    r->resp.preflight = true;
    return send_resp(r);
  }
  if (r->match.route == API_ROUTE_NONE) {
    if (r->match.allow) {
      api_resp_error(r, API_ERR_METHOD_NOT_ALLOWED, "method not allowed here");
      r->resp.allow = r->match.allow;
      return send_resp(r);
    }
    return send_error(r, API_ERR_NOT_FOUND, "no such route");
  }
  if (r->match.is_protected && !check_caller(r, &out)) return out;
  if (r->match.route == API_ROUTE_HEALTHZ) return answer_healthz(r);
  if (r->match.route == API_ROUTE_METRICS) return answer_metrics(r);
  const char *cl = header(r->conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl && strtoull(cl, NULL, 10) > api->cfg.max_body_bytes)
    return send_error(r, API_ERR_BODY_TOO_LARGE, "request body exceeds the limit");
  r->ctype_in = header(r->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
  r->query_name = query(r->conn, "name");
  r->query_cursor = query(r->conn, "cursor");
  r->query_limit = query(r->conn, "limit");
  r->query_export = query(r->conn, "export");
  r->query_args = query(r->conn, "args");
  r->query_snapshot = query(r->conn, "snapshot");
  return MHD_YES;
}

/* ---- body ---------------------------------------------------------------------------- */

static enum MHD_Result on_body(api_req *r, const char *data, size_t n) {
  tw_api_t *api = r->api;
  /* A slow client does not hold a connection past the request timeout. */
  if (api_mono_ns() - r->start_ns > api->cfg.request_timeout_ms * 1000000u) return MHD_NO;
  if (r->body_too_large) return MHD_YES;
  if (n > api->cfg.max_body_bytes - r->body_len) {
    r->body_too_large = true;
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    return MHD_YES;
  }
  if (r->body_len + n > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 4096;
    while (cap < r->body_len + n) cap *= 2;
    if (cap > api->cfg.max_body_bytes) cap = api->cfg.max_body_bytes;
    uint8_t *b = realloc(r->body, cap);
    if (!b) return MHD_NO;
    r->body = b;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, data, n);
  r->body_len += n;
  return MHD_YES;
}

/* ---- hand-off -------------------------------------------------------------------- */

typedef void (*api_handler)(api_req *r);

static api_handler handler_of(api_route route) {
  switch (route) {
  case API_ROUTE_FN_CREATE: return api_handle_fn_create;
  case API_ROUTE_FN_LIST: return api_handle_fn_list;
  case API_ROUTE_FN_GET: return api_handle_fn_get;
  case API_ROUTE_FN_DELETE: return api_handle_fn_delete;
  case API_ROUTE_INVOKE: return api_handle_invoke;
  case API_ROUTE_INVOKE_ASYNC: return api_handle_invoke_async;
  case API_ROUTE_JOB_GET: return api_handle_job_get;
  case API_ROUTE_SNAPSHOT_SAVE: return api_handle_snapshot_save;
  case API_ROUTE_SNAPSHOT_RESTORE: return api_handle_snapshot_restore;
  default: return NULL;
  }
}

/* Runs on a pool thread: the handler under the request's trace, then the
 * hand-back.  After `done` is set the request is not touched again. */
static void run_task(void *arg) {
  api_req *r = arg;
  tw_api_t *api = r->api;
  tw_trace_scope scope;
  tw_trace_ctx_attach(&r->ctx, &scope);
  handler_of(r->match.route)(r);
  api_audit_emit(r); /* on this worker, not the I/O thread */
  tw_trace_ctx_detach(&scope);
  if (r->has_permit) api_permits_release(api->permits, r->tenant, true);
  pthread_mutex_lock(&r->lock);
  struct MHD_Connection *conn = r->conn;
  bool resume = r->suspended;
  r->done = true;
  pthread_mutex_unlock(&r->lock);
  if (resume) MHD_resume_connection(conn);
}

static enum MHD_Result dispatch(api_req *r) {
  tw_api_t *api = r->api;
  api_life *life = life_of(api);
  bool guest = r->match.route == API_ROUTE_INVOKE;
  bool queued = false;
  api_error refusal = API_ERR_CAPACITY_EXHAUSTED;
  const char *why = "the server is shutting down";
  pthread_mutex_lock(&life->dispatch_lock);
  if (life->stopping) goto refused;
  if (guest) {
    api_permit p = api_permits_try(api->permits, r->tenant);
    if (p != API_PERMIT_OK) {
      refusal = p == API_PERMIT_TENANT_FULL ? API_ERR_TENANT_CAPACITY_EXHAUSTED
                                            : API_ERR_CAPACITY_EXHAUSTED;
      why = p == API_PERMIT_TENANT_FULL ? "too many invocations in flight for this tenant; retry later"
                                        : "too many invocations in flight; retry later";
      goto refused;
    }
    r->has_permit = true;
  }
  r->state = API_REQ_HANDED;
  queued = api_pool_submit(guest ? api->guest : api->control, run_task, r);
  if (!queued) {
    r->state = API_REQ_HEADERS;
    if (r->has_permit) api_permits_release(api->permits, r->tenant, true);
    r->has_permit = false;
    why = "the server is busy; retry later";
    goto refused;
  }
  pthread_mutex_unlock(&life->dispatch_lock);
  /* The worker may already be done; otherwise suspend until it resumes. */
  pthread_mutex_lock(&r->lock);
  bool done = r->done;
  if (!done) {
    MHD_suspend_connection(r->conn);
    r->suspended = true;
  }
  pthread_mutex_unlock(&r->lock);
  return done ? send_resp(r) : MHD_YES;
refused:
  pthread_mutex_unlock(&life->dispatch_lock);
  return send_error(r, refusal, why);
}

static enum MHD_Result on_last_call(api_req *r) {
  if (r->state == API_REQ_HANDED) return send_resp(r); /* resumed */
  if (r->body_too_large)
    return send_error(r, API_ERR_BODY_TOO_LARGE, "request body exceeds the limit");
  return dispatch(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  api_req *r = *con_cls;
  tw_api_t *api = cls;
  if (!r && api->edge.nhosts &&
      !api_edge_host_ok(&api->edge, header(conn, MHD_HTTP_HEADER_HOST),
                              header_count_of(conn, MHD_HTTP_HEADER_HOST))) {
    r = req_new_untracked(api, conn, method);
    if (!r) return MHD_NO;
    *con_cls = r;
    return send_error(r, API_ERR_BAD_REQUEST, "the Host header is not in the allowlist");
  }
  if (!r) {
    r = req_new(cls, conn, url, method, version);
    if (!r) return MHD_NO;
    *con_cls = r;
    return on_first_call(r);
  }
  if (r->state == API_REQ_QUEUED) { /* answered early: drop the body */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    enum MHD_Result ok = on_body(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return ok;
  }
  return on_last_call(r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char buf[256];
  (void)cls;
  vsnprintf(buf, sizeof buf, fmt, ap);
  buf[strcspn(buf, "\n")] = '\0';
  tw_event(TW_LEVEL_DEBUG, TW_API_TARGET, "libmicrohttpd: %s", buf);
}

/* ---- start and stop ---------------------------------------------------------------- */

static bool is_loopback(const char *host) {
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

static tw_status fail(tw_error *err, tw_status st, const char *msg) {
  if (err) {
    err->status = st;
    snprintf(err->message, sizeof err->message, "%s", msg);
  }
  return st;
}

static void config_defaults(tw_api_config *c) {
  if (!c->host) c->host = "127.0.0.1";
  if (!c->io_threads) c->io_threads = 2;
  if (!c->workers) c->workers = 4;
  if (!c->max_inflight) c->max_inflight = 8 * c->workers;
  if (!c->tenant_max_inflight) c->tenant_max_inflight = c->max_inflight / 2;
  if (!c->tenant_max_inflight) c->tenant_max_inflight = 1;
  if (!c->control_queue) c->control_queue = 256;
  if (!c->max_body_bytes) c->max_body_bytes = TW_API_DEFAULT_MAX_BODY_BYTES;
  if (!c->deadline_ms) c->deadline_ms = TW_API_DEFAULT_DEADLINE_MS;
  if (!c->max_connections) c->max_connections = 1024;
  if (!c->idle_timeout_s) c->idle_timeout_s = 30;
  if (!c->request_timeout_ms) c->request_timeout_ms = 30000;
  if (!c->header_bytes) c->header_bytes = 32 * 1024;
  if (!c->prune_interval_ms) c->prune_interval_ms = 60000;
}

/* Frees whatever start got to; the daemon is already stopped. */
static void api_free(api_server *s) {
  tw_api_t *api = &s->api;
  api_pool_free(api->control);
  api_pool_free(api->guest);
  api_permits_free(api->permits);
  if (api->engine) tw_engine_free(api->engine);
  api_limiter_free(api->limiter);
  api_audit_close(api->audit);
  api_snapshots_stop(api);
  api_edge_free(&api->edge);
  api_tokens_free(&api->tokens);
  if (s->life.listen_fd >= 0) close(s->life.listen_fd);
  pthread_mutex_destroy(&s->life.dispatch_lock);
  pthread_mutex_destroy(&api->validate_lock);
  pthread_mutex_destroy(&api->jobs_lock);
  pthread_cond_destroy(&api->jobs_cond);
  free(api->metrics_token);
  free(api->host);
  free(s);
}

static tw_status parse_tokens(tw_api_t *api, tw_error *err) {
  const char *text = api->cfg.tokens ? api->cfg.tokens : getenv("TENSOR_WASM_API_TOKENS");
  tw_status st = api_tokens_parse(text, &api->tokens, err);
  if (st != TW_OK) return st;
  if (api->tokens.bare)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "%zu token(s) without a scope: they get wildcard scope; write "
             "`token:tenant=*` (the bare form is deprecated)",
             api->tokens.bare);
  if (api->tokens.dropped)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "%zu malformed token entr%s skipped",
             api->tokens.dropped, api->tokens.dropped == 1 ? "y" : "ies");
  const char *mt = api->cfg.metrics_token ? api->cfg.metrics_token
                                          : getenv("TENSOR_WASM_API_METRICS_TOKEN");
  if (mt && *mt && !(api->metrics_token = strdup(mt))) return fail(err, TW_NOMEM, "out of memory");
  api->cfg.tokens = NULL;
  api->cfg.metrics_token = NULL;
  return TW_OK;
}

/* Rate limits, audit log and edge lists; the warnings an operator
 * should see once. */
static tw_status start_ops(tw_api_t *api, tw_error *err) {
  tw_status st;
  if ((st = api_edge_init(&api->edge, &api->cfg, err)) != TW_OK) return st;
  if ((st = api_limiter_new(&api->cfg.token_rate, &api->cfg.tenant_rate, api->tokens.count,
                            api->cfg.rate_clock, api->cfg.rate_clock_ctx, &api->limiter, err)) !=
      TW_OK)
    return st;
  if ((st = api_audit_open(api->cfg.audit_log, &api->audit, err)) != TW_OK) return st;
  if (!tw_api_dev_mode(api) && api->edge.nhosts == 0)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "API tokens are set but TENSOR_WASM_API_TRUSTED_HOSTS is not: any Host header is "
             "accepted");
  if (!tw_api_dev_mode(api) && !api->metrics_token)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "TENSOR_WASM_API_METRICS_TOKEN is not set: /metrics is open to every caller");
  api->cfg.audit_log = api->cfg.trusted_hosts = NULL;
  api->cfg.trusted_xfcc_proxies = api->cfg.cors_allowed_origins = NULL;
  return TW_OK;
}

static tw_status start_daemon(api_server *s, tw_error *err) {
  tw_api_t *api = &s->api;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  /* poll(), not epoll: libmicrohttpd 0.9.75 (Debian 12) aborts the process
   * now and then when MHD_quiesce_daemon() (tw_api_stop, step 2) races an
   * I/O thread in epoll mode: both remove the listening socket from the
   * epoll set without a lock, and whichever loses gets ENOENT and calls
   * MHD_PANIC.  In poll mode quiescing only wakes the threads.  Each I/O
   * thread polls its share of max_connections (512 each by default), a
   * cost the load bench (bench/load/run) does not show. */
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, api->host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(api->cfg.port);
  } else if (inet_pton(AF_INET6, api->host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(api->cfg.port);
    flags |= MHD_USE_IPv6;
  } else {
    return fail(err, TW_ARG, "host must be a numeric IPv4 or IPv6 address");
  }
  api->daemon = MHD_start_daemon(
      flags, api->cfg.port, NULL, NULL, on_access, api, MHD_OPTION_SOCK_ADDR, &ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)api->cfg.io_threads, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)api->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)api->cfg.per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)api->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)api->cfg.header_bytes, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
  if (!api->daemon) return fail(err, TW_IO, "cannot listen on the address (in use, or not ours)");
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
  api->port = info ? info->port : api->cfg.port;
  return TW_OK;
}

tw_status tw_api_start(const tw_api_config *cfg, tw_api_t **out, tw_error *err) {
  tw_status st;
  if (!cfg || !cfg->registry || !cfg->exec || !out)
    return fail(err, TW_ARG, "the config needs a registry and an executor");
  api_server *s = calloc(1, sizeof *s);
  if (!s) return fail(err, TW_NOMEM, "out of memory");
  tw_api_t *api = &s->api;
  s->life.listen_fd = -1;
  pthread_mutex_init(&s->life.dispatch_lock, NULL);
  pthread_mutex_init(&api->validate_lock, NULL);
  pthread_mutex_init(&api->jobs_lock, NULL);
  pthread_cond_init(&api->jobs_cond, NULL);
  api->cfg = *cfg;
  config_defaults(&api->cfg);
  api->registry = cfg->registry;
  api->exec = cfg->exec;
  api->metrics = tw_metrics_std();
  if (!(api->host = strdup(api->cfg.host))) {
    st = fail(err, TW_NOMEM, "out of memory");
    goto fail;
  }
  api->cfg.host = NULL;
  if ((st = parse_tokens(api, err)) != TW_OK) goto fail;
  if (tw_api_dev_mode(api) && !is_loopback(api->host) && !api->cfg.allow_plaintext_public) {
    st = fail(err, TW_ARG,
              "refusing dev mode (no tokens) on a non-loopback address; set tokens or allow "
              "plaintext public explicitly");
    goto fail;
  }
  if (tw_api_dev_mode(api))
    tw_event(TW_LEVEL_WARN, TW_API_TARGET, "no API tokens configured: dev mode, no auth");
  if ((st = start_ops(api, err)) != TW_OK) goto fail;
  if ((st = api_snapshots_start(api, err)) != TW_OK) goto fail;
  if ((st = tw_engine_new(NULL, &api->engine, err)) != TW_OK) goto fail;
  if ((st = api_permits_new(api->cfg.max_inflight, api->cfg.tenant_max_inflight, &api->permits,
                            err)) != TW_OK ||
      (st = api_pool_new("tw-guest", api->cfg.workers, api->cfg.max_inflight, &api->guest,
                         err)) != TW_OK ||
      (st = api_pool_new("tw-control", 2, api->cfg.control_queue, &api->control, err)) != TW_OK)
    goto fail;
  if ((st = api_jobs_start(api, err)) != TW_OK) goto fail;
  if ((st = start_daemon(s, err)) != TW_OK) {
    api_jobs_stop(api);
    goto fail;
  }
  *out = api;
  return TW_OK;
fail:
  api_free(s);
  return st;
}

void tw_api_stop(tw_api_t *api) {
  if (!api) return;
  api_server *s = (api_server *)api;
  /* 1. No new hand-offs: from here on dispatch() refuses. */
  pthread_mutex_lock(&s->life.dispatch_lock);
  s->life.stopping = true;
  pthread_mutex_unlock(&s->life.dispatch_lock);
  /* 2. No new connections. */
  s->life.listen_fd = (int)MHD_quiesce_daemon(api->daemon);
  /* 3. No new job claims; unclaimed jobs stay pending in the registry. */
  api_jobs_stop(api);
  /* 4. Finish what was handed to the pools (bounded by the deadline). */
  api_pool_free(api->control);
  api->control = NULL;
  api_pool_free(api->guest);
  api->guest = NULL;
  /* 5. Let the resumed requests send their answers, within a bound. */
  for (int i = 0; i < STOP_DRAIN_MS / 10 && atomic_load(&s->life.active) > 0; i++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  MHD_stop_daemon(api->daemon);
  api_free(s);
}
