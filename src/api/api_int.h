/* What the gateway's files share: the server, one request's state, error
 * kinds, the bounded pools and permits, auth, and the handlers.
 *
 * A request (api_req) is born on an I/O thread in the first call of the
 * access handler and dies in the completion callback.  Between the two it
 * belongs to the I/O thread, except while it is handed to a pool: then the
 * worker owns it until it sets `done` under `lock`, and it never touches
 * the request after that (the I/O thread may free it as soon as the
 * connection is resumed). */
#ifndef TW_API_INT_H
#define TW_API_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tensorwasm/api.h"
#include "tensorwasm/metrics.h"
#include "tensorwasm/trace.h"
#include "tensorwasm/wasm.h"

/* ---- error kinds: X(NAME, HTTP status, kind) ----------------------------- */

#define API_ERROR_LIST(X)                                             \
  X(INVALID_JSON, 400, "invalid_json")                                \
  X(INVALID_NAME, 400, "invalid_name")                                \
  X(INVALID_BASE64, 400, "invalid_base64")                            \
  X(INVALID_WASM, 400, "invalid_wasm")                                \
  X(MISSING_EXPORT, 400, "missing_export")                            \
  X(INVALID_ARGS, 400, "invalid_args")                                \
  X(TOO_MANY_ARGS, 400, "too_many_args")                              \
  X(UNSUPPORTED_RETURN_TYPE, 400, "unsupported_return_type")          \
  X(MISSING_TENANT, 400, "missing_tenant")                            \
  X(INVALID_TENANT, 400, "invalid_tenant")                            \
  X(DUPLICATE_TENANT_HEADER, 400, "duplicate_tenant_header")          \
  X(BAD_REQUEST, 400, "bad_request")                                  \
  X(UNAUTHORIZED, 401, "unauthorized")                                \
  X(INVALID_AUTH, 401, "invalid_auth")                                \
  X(TENANT_SCOPE_DENIED, 403, "tenant_scope_denied")                  \
  X(SNAPSHOT_SIGNATURE_INVALID, 403, "snapshot_signature_invalid")    \
  X(NOT_FOUND, 404, "not_found")                                      \
  X(INSTANCE_NOT_FOUND, 404, "instance_not_found")                    \
  X(METHOD_NOT_ALLOWED, 405, "method_not_allowed")                    \
  X(BODY_TOO_LARGE, 413, "body_too_large")                            \
  X(MODULE_MEMORY_TOO_LARGE, 413, "module_memory_too_large")          \
  X(MODULE_TABLE_TOO_LARGE, 413, "module_table_too_large")            \
  X(MODULE_TOO_LARGE, 413, "module_too_large")                        \
  X(RATE_LIMITED, 429, "rate_limited")                                \
  X(TENANT_CAPACITY_EXHAUSTED, 429, "tenant_capacity_exhausted")      \
  X(WASMTIME, 500, "wasmtime")                                        \
  X(INTERNAL, 500, "internal")                                        \
  X(CAPACITY_EXHAUSTED, 503, "capacity_exhausted")                    \
  X(STORAGE_UNAVAILABLE, 503, "storage_unavailable")                  \
  X(SNAPSHOT_SIGNING_NOT_CONFIGURED, 503,                             \
    "snapshot_signing_not_configured")                                \
  X(INVOKE_TIMEOUT, 504, "invoke_timeout")

typedef enum api_error {
#define API__X(name, status, kind) API_ERR_##name,
  API_ERROR_LIST(API__X)
#undef API__X
  API_ERR_COUNT
} api_error;

const char *api_error_kind(api_error e);
unsigned api_error_status(api_error e);

/* An error as a handler reports it: kind plus a sanitised message. */
typedef struct api_fail {
  api_error kind;
  char message[TW_ERROR_MESSAGE_MAX];
} api_fail;

void api_fail_set(api_fail *f, api_error kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The executor's error as the API reports it (kind mapping, and a message
 * without instance ids or engine internals). */
void api_fail_from_exec(api_fail *f, const tw_exec_error *e);

/* ---- routes ---------------------------------------------------------------- */

typedef enum api_route {
  API_ROUTE_NONE,       /* no such path: 404 */
  API_ROUTE_HEALTHZ,    /* GET  /healthz */
  API_ROUTE_METRICS,    /* GET  /metrics */
  API_ROUTE_FN_CREATE,  /* POST /functions */
  API_ROUTE_FN_LIST,    /* GET  /functions */
  API_ROUTE_FN_GET,     /* GET  /functions/:id */
  API_ROUTE_FN_DELETE,  /* DELETE /functions/:id */
  API_ROUTE_INVOKE,     /* POST /functions/:id/invoke */
  API_ROUTE_INVOKE_ASYNC, /* POST /functions/:id/invoke-async */
  API_ROUTE_JOB_GET,    /* GET  /jobs/:id */
  API_ROUTE_SNAPSHOT_SAVE,    /* POST /snapshot/save */
  API_ROUTE_SNAPSHOT_RESTORE  /* POST /snapshot/restore */
} api_route;

#define API_ID_MAX 64 /* longest path parameter kept; longer is 404 */

typedef struct api_match {
  api_route route;
  bool method_ok;       /* false: the path exists, the method does not */
  const char *allow;    /* the methods the path serves (Allow header) */
  bool is_protected;    /* auth + tenant apply */
  char id[API_ID_MAX + 1];
} api_match;

/* Matches `path` (no query string) served with `method`. */
void api_route_match(const char *method, const char *path, api_match *out);

/* ---- auth ------------------------------------------------------------------- */

typedef struct api_token {
  uint8_t digest[32]; /* SHA-256 of the token: compared in constant time */
  uint64_t id;        /* token_id in logs and rate limits: a keyed hash,
                         stable for the process only, never 0 (dev) */
  size_t index;       /* position in api_tokens.items */
  bool wildcard;
  uint64_t *tenants;  /* sorted; when !wildcard */
  size_t ntenants;
} api_token;

typedef struct api_tokens {
  api_token *items;
  size_t count;
  size_t bare;    /* entries without a scope (deprecated form) */
  size_t dropped; /* malformed entries skipped */
} api_tokens;

/* Parses TENSOR_WASM_API_TOKENS syntax.  Malformed entries are skipped
 * (counted in `dropped`).  TW_NOMEM only. */
tw_status api_tokens_parse(const char *text, api_tokens *out, tw_error *err);
void api_tokens_free(api_tokens *t);

/* Who is asking, once auth has passed. */
typedef struct api_actor {
  const api_token *token; /* NULL in dev mode: wildcard */
} api_actor;

bool api_actor_covers(const api_actor *a, uint64_t tenant);

/* Checks one Authorization value against the list (every entry is
 * compared, no early exit).  NULL value: missing. */
bool api_auth_check(const api_tokens *t, const char *value, api_actor *out,
                    api_fail *f);
/* Parses an X-TensorWasm-Tenant value: a u64 in decimal. */
bool api_tenant_parse(const char *value, uint64_t *out);

/* ---- rate limits (ratelimit.c) ------------------------------------------- */

typedef struct api_limiter api_limiter;

/* Two layers: per token (`ntokens` + 1 buckets, the last for dev mode)
 * and per (token, tenant) in a fixed-size table.  `clock` NULL:
 * CLOCK_MONOTONIC.  *out NULL (and TW_OK) when both layers are off. */
tw_status api_limiter_new(const tw_api_rate *token, const tw_api_rate *tenant,
                          size_t ntokens, uint64_t (*clock)(void *), void *clock_ctx,
                          api_limiter **out, tw_error *err);
void api_limiter_free(api_limiter *l);
/* 0: admitted, one permit spent from each layer that is on.  Otherwise
 * the Retry-After in seconds (>= 1) and nothing is spent.  `token_index`
 * is api_token.index, or ntokens in dev mode (token_id 0). */
uint32_t api_limiter_admit(api_limiter *l, size_t token_index, uint64_t token_id,
                           uint64_t tenant);

/* ---- edge (edge.c) ------------------------------------------------------------ */

typedef struct api_cidr {
  int family;        /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  unsigned prefix;
} api_cidr;

#define API_WARNED_PEERS 32

typedef struct api_edge {
  char **hosts;          /* lowercased */
  size_t nhosts;
  bool hosts_have_port;  /* some entry names a port: no default-port strip */
  api_cidr *proxies;
  size_t nproxies;
  char **origins;
  size_t norigins;
  bool ready;            /* api_edge_init ran (warn_lock exists) */
  pthread_mutex_t warn_lock; /* warned peers (XFCC from an untrusted peer) */
  uint8_t warned[API_WARNED_PEERS][16];
  size_t nwarned;
} api_edge;

tw_status api_edge_init(api_edge *e, const tw_api_config *cfg, tw_error *err);
void api_edge_free(api_edge *e);
/* The Host header (NULL: absent; `count` of them) against the allowlist;
 * true when there is no allowlist. */
bool api_edge_host_ok(const api_edge *e, const char *host, unsigned count);
bool api_edge_origin_ok(const api_edge *e, const char *origin);
/* Parses "a.b.c.d", "v6", "addr/prefix" into *out. */
bool api_cidr_parse(const char *text, api_cidr *out);
/* Is the peer (a sockaddr) inside one of the trusted proxies? */
bool api_edge_peer_trusted(const api_edge *e, const struct sockaddr *sa);
/* Reports (once per peer, up to API_WARNED_PEERS peers) an XFCC header
 * from a peer that is not trusted. */
void api_edge_warn_untrusted(api_edge *e, const struct sockaddr *sa);
/* The first Subject="..." of an X-Forwarded-Client-Cert value: quotes
 * removed, \" unescaped, only printable ASCII kept, at most cap-1 bytes.
 * False when there is none. */
bool api_xfcc_subject(const char *xfcc, char *out, size_t cap);
/* "ip:port" or "[ip6]:port"; "" when unknown. */
void api_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap);

/* ---- audit log (audit.c) ----------------------------------------------------- */

typedef struct api_audit api_audit;

/* Opens the sink named by `spec` (tw_api_config.audit_log); *out NULL
 * when the log is off.  A file that cannot be opened falls back to
 * stdout with a warning; only TW_NOMEM fails. */
tw_status api_audit_open(const char *spec, api_audit **out, tw_error *err);
void api_audit_close(api_audit *a);

typedef enum api_audit_action {
  API_AUDIT_NONE,
  API_AUDIT_CREATE_FUNCTION,
  API_AUDIT_DELETE_FUNCTION,
  API_AUDIT_INVOKE_FUNCTION,
  API_AUDIT_INVOKE_FUNCTION_ASYNC
} api_audit_action;

api_audit_action api_audit_action_of(api_route route);

/* ---- bounded pools and permits -------------------------------------------- */

typedef void (*api_task_fn)(void *arg);

typedef struct api_pool api_pool;

/* `threads` workers over a ring of `capacity` tasks. */
tw_status api_pool_new(const char *name, uint32_t threads, uint32_t capacity,
                       api_pool **out, tw_error *err);
/* False when the queue is full (nothing queued). */
bool api_pool_submit(api_pool *p, api_task_fn fn, void *arg);
/* Runs what is queued, then joins the workers and frees the pool. */
void api_pool_free(api_pool *p);

typedef enum api_permit {
  API_PERMIT_OK,
  API_PERMIT_GLOBAL_FULL,
  API_PERMIT_TENANT_FULL
} api_permit;

typedef struct api_permits api_permits;

tw_status api_permits_new(uint32_t global, uint32_t per_tenant,
                          api_permits **out, tw_error *err);
void api_permits_free(api_permits *p);
/* Non-blocking: a global and a tenant permit, or neither. */
api_permit api_permits_try(api_permits *p, uint64_t tenant);
/* Blocking for a global permit only (async jobs, which may hold at most
 * three quarters of them); false once `stop` is set by
 * api_permits_wake_all.  Released with api_permits_release_async. */
bool api_permits_wait_global(api_permits *p);
void api_permits_release_async(api_permits *p);
void api_permits_release(api_permits *p, uint64_t tenant, bool with_tenant);
void api_permits_wake_all(api_permits *p); /* stop waiting for good */

/* ---- the server ----------------------------------------------------------- */

/* Trace contexts of submitted jobs, handed from the submitting request to
 * the job that runs it (in memory: a job recovered after a restart starts
 * a fresh trace). */

struct tw_api {
  tw_api_config cfg;           /* pointers below are owned copies */
  char *host;
  uint16_t port;
  struct MHD_Daemon *daemon;
  api_tokens tokens;
  char *metrics_token;         /* NULL: open */
  api_limiter *limiter;        /* NULL: no rate limits */
  api_audit *audit;            /* NULL: no audit log */
  api_edge edge;
  tw_registry_t *registry;     /* borrowed */
  tw_exec_t *exec;             /* borrowed */
  tw_engine_t *engine;         /* deploy-time validation */
  pthread_mutex_t validate_lock;
  api_pool *guest;
  api_pool *control;
  api_permits *permits;
  const tw_metrics_std_t *metrics;

  /* async jobs */
  pthread_t dispatcher;
  bool dispatcher_started;
  pthread_mutex_t jobs_lock;
  pthread_cond_t jobs_cond;
  bool jobs_stop;
  uint64_t jobs_signal;        /* bumped on every submit */
  int64_t last_prune_ms;

  /* snapshots (snapshots.c) */
  char *snapshot_dir;          /* owned; NULL: warm starts are off */
  bool snapshot_dir_private;   /* made by us: removed at stop */
  bool snapshot_key_set;
  uint8_t snapshot_key[32];
};

/* A response being built. */
typedef struct api_resp {
  unsigned status;
  char *body;          /* malloc'd; NULL for none */
  size_t len;
  const char *ctype;   /* static */
  unsigned retry_after; /* seconds; 0: no header */
  const char *allow;   /* static; NULL: no header */
  const char *kind;    /* error kind (static) for logs and spans; NULL: ok */
  bool preflight;      /* a CORS preflight answer */
} api_resp;

typedef enum api_state {
  API_REQ_HEADERS,   /* first call done, reading the body */
  API_REQ_QUEUED,    /* response queued */
  API_REQ_HANDED     /* with a pool */
} api_state;

typedef struct api_req {
  tw_api_t *api;
  struct MHD_Connection *conn;
  api_state state;
  api_match match;
  char method[16];
  const char *method_label; /* static */
  const char *route_label;  /* static */
  uint64_t start_ns;
  char request_id[TW_UUID_LEN + 1];
  tw_trace_ctx ctx;       /* http.request's context (or the trace joined) */
  char trace_id[33];
  tw_span_t *span;        /* http.request; exited on its I/O thread */
  tw_gauge_t *in_flight;

  api_actor actor;
  uint64_t tenant;
  const char *ctype_in;   /* request Content-Type (MHD-owned) */
  const char *query_name; /* ?name= (MHD-owned) */
  const char *query_cursor;
  const char *query_limit;
  const char *query_export;
  const char *query_args;
  const char *query_snapshot; /* ?snapshot= of a raw deploy */

  uint8_t *body;
  size_t body_len, body_cap;
  bool body_too_large;

  bool untracked;          /* refused at the edge: no span, no metrics */
  const char *cors_origin; /* an allowed Origin (MHD-owned); NULL: none */

  /* Audit (an audited route whose caller passed auth). */
  api_audit_action audit_action;
  bool audit_done;         /* the record is written */
  bool tenant_known;       /* r->tenant came from a valid header or default */
  char peer[64];           /* "ip:port" */
  char cert_subject[257];  /* from a trusted proxy's XFCC; "" none */
  char created_id[TW_UUID_LEN + 1]; /* the new function of a deploy */

  bool has_permit;         /* a guest permit is held */
  pthread_mutex_t lock;    /* done / suspended across the hand-off */
  bool done, suspended;
  api_resp resp;
} api_req;

/* Response builders (replace what was there). */
void api_resp_json(api_req *r, unsigned status, json_t *body); /* steals */
void api_resp_empty(api_req *r, unsigned status);
void api_resp_fail(api_req *r, const api_fail *f);
void api_resp_error(api_req *r, api_error kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the request's audit record once (a no-op when the log is off,
 * the route is not audited or the record is written).  Called before the
 * response is sent, on the thread that produced it. */
void api_audit_emit(api_req *r);

/* The guest pool's task for invoke routes and the control pool's for the
 * rest; each fills r->resp. */
void api_handle_fn_create(api_req *r);
void api_handle_fn_list(api_req *r);
void api_handle_fn_get(api_req *r);
void api_handle_fn_delete(api_req *r);
void api_handle_invoke(api_req *r);
void api_handle_invoke_async(api_req *r);
void api_handle_job_get(api_req *r);
void api_handle_snapshot_save(api_req *r);
void api_handle_snapshot_restore(api_req *r);

/* Looks up function `id` for `tenant`: NOT_FOUND or TENANT_SCOPE_DENIED
 * (owner differs) into f. */
/* A failed registry call as the client sees it: TW_IO (the store cannot be
 * reached: a NATS outage, a disk error) is 503 storage_unavailable with
 * Retry-After; anything else 500 internal.  Logs the store's message, which
 * the client never sees. */
void api_fail_store(api_fail *f, tw_status st, const tw_error *err);

bool api_function_lookup(tw_api_t *api, const char *id, uint64_t tenant,
                         tw_function_info *out, api_fail *f);

/* Deploy-time validation of module bytes (functions.c): INVALID_WASM or
 * INTERNAL into f. */
bool api_module_validate(tw_api_t *api, const uint8_t *wasm, size_t len,
                         api_fail *f);

/* ---- snapshots (snapshots.c) ---------------------------------------------- */

/* The snapshot directory and the signing key from the config (or the
 * environment); TW_ARG for a malformed key, TW_IO when the directory
 * cannot be made.  api_snapshots_stop frees them (and removes a private
 * directory).  Both are safe on a half-started server. */
tw_status api_snapshots_start(tw_api_t *api, tw_error *err);
void api_snapshots_stop(tw_api_t *api);
/* After a deploy stored `fn` (bytes `wasm`, borrowed): want < 0 is the
 * default (a snapshot when the module has an initialiser), 0 no, 1 yes.
 * Records the choice and captures the image if none exists yet; a capture
 * that is refused is logged and leaves the function cold.  *warm says
 * whether invocations will warm-start.  False (f set) only when the
 * choice cannot be recorded. */
bool api_snapshot_deploy(tw_api_t *api, const tw_function_info *fn,
                         const uint8_t *wasm, size_t len, int want,
                         bool *warm, api_fail *f);
/* The image an invocation of `fn` starts from, written into buf; NULL
 * when it starts cold (opted out, no image, snapshots off). */
const char *api_snapshot_path(tw_api_t *api, const tw_function_info *fn,
                              char *buf, size_t cap);
/* Removes a deleted function's own image and sidecar (module images stay:
 * other functions may share them). */
void api_snapshot_forget(tw_api_t *api, const char *fn_id);

/* ---- invocation (shared by sync and async) ------------------------------ */

typedef struct api_invoke_req {
  char *export_name; /* NULL: _start, else main */
  char *args_json;   /* JSON array text ("[]" when none) */
  tw_val *args;
  size_t nargs;
  const uint8_t *input; /* the guest's stdin: r->body or input_owned */
  size_t input_len;
  uint8_t *input_owned;
} api_invoke_req;

void api_invoke_req_free(api_invoke_req *q);
/* Parses an invoke body by Content-Type: application/json is
 * {"export"?, "args"?, "input"?, "input_b64"?}; application/octet-stream
 * is the guest's stdin with export/args from the query; anything else (or
 * an empty body) is {}. */
bool api_invoke_parse(const api_req *r, api_invoke_req *q, api_fail *f);
/* Runs the function (span invoke.run) and builds the result object
 * {"function_id", "result", "stdout"?, ...} in *out. */
bool api_invoke_run(tw_api_t *api, const tw_function_info *fn,
                    uint64_t tenant, const char *export_name,
                    const tw_val *args, size_t nargs, size_t args_len_attr,
                    const uint8_t *input, size_t input_len, json_t **out,
                    api_fail *f);

/* ---- async jobs -------------------------------------------------------------- */

tw_status api_jobs_start(tw_api_t *api, tw_error *err);
void api_jobs_stop(tw_api_t *api);   /* stop claiming, join the dispatcher */

/* ---- helpers ------------------------------------------------------------------- */

/* A u64 as JSON: an integer, exact even above INT64_MAX (written through a
 * marker that api_resp_json turns into the bare number; only for values
 * of the keys "tenant_id"). */
json_t *api_json_u64(uint64_t v);
/* {"id","tenant_id","name","created_unix_ms","sha256","size_bytes"} */
json_t *api_function_json(const tw_function_info *fn);
/* Does the Content-Type's media type equal `type` (case-insensitive)? */
bool api_ctype_is(const char *ctype, const char *type);
/* The `tenant` attribute, in decimal (as the executor writes it). */
void api_span_tenant(tw_span_t *span, uint64_t tenant);

/* Strict standard base64 (padding required, no whitespace); *out is
 * malloc'd (free()); false when malformed. */
bool api_base64_decode(const char *in, size_t len, uint8_t **out,
                       size_t *out_len);
/* malloc'd, NUL-terminated. */
char *api_base64_encode(const uint8_t *in, size_t len);
bool api_utf8_valid(const uint8_t *s, size_t len);
int64_t api_now_ms(void);
uint64_t api_mono_ns(void);
/* Canonical job failure text "kind: message" and its parse. */
void api_job_error_split(const char *text, char *kind, size_t kcap,
                         const char **message);

#endif
