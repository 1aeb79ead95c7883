/* TensorWasm HTTP gateway: the function service of the original design
 * (routes, bodies, auth, tenants, error envelope, job model) on
 * libmicrohttpd, over the durable registry and the executor.
 * docs/API.md is the user-facing description.
 *
 * Threads (stated once, here):
 *  - libmicrohttpd's internal I/O threads (epoll) parse requests, check
 *    auth and tenants, answer /healthz and /metrics and refuse what cannot
 *    be admitted.  They never run guest code and never touch storage:
 *    everything else is handed to a bounded pool and the connection is
 *    suspended until the pool resumes it.
 *  - A guest pool of `workers` threads runs invocations, synchronous and
 *    asynchronous; a small control pool runs deploys, deletes, lookups and
 *    job submission (SQLite commits fsync).  Both queues are bounded: a
 *    request that cannot be admitted is answered at once (429/503 with
 *    Retry-After), never queued without bound.
 *  - One dispatcher thread claims async jobs from the registry when a
 *    guest permit is free and hands them to the guest pool.
 *
 * Ownership: tw_api_start borrows the registry and the executor named in
 * the config until tw_api_stop has returned; the caller creates them
 * before and frees them after.  Every other pointer in the config is
 * borrowed for the tw_api_start call only (copied).
 *
 * Durability: tw_api_start runs tw_registry_recover (jobs that were
 * running when a previous process died are failed with a reason, never
 * re-run) and prunes finished jobs before it accepts requests; pending jobs
 * then run.  tw_api_stop stops accepting, lets running work finish
 * (bounded by the invoke deadline) and leaves unclaimed jobs pending in
 * the registry for the next start.
 *
 * Errors are values (error.h): TW_ARG for a bad configuration (including
 * dev mode on a non-loopback address without allow_plaintext_public),
 * TW_IO when the address cannot be bound, TW_NOMEM. */
#ifndef TENSORWASM_API_H
#define TENSORWASM_API_H

#include <stdbool.h>
#include <stdint.h>

#include "tensorwasm/error.h"
#include "tensorwasm/exec.h"
#include "tensorwasm/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Span target of the gateway's own spans; `http.request` uses the
 * original's "tower-http" (seed span schema). */
#define TW_API_TARGET "tensor-wasm-api"
#define TW_API_HTTP_TARGET "tower-http"

#define TW_API_DEFAULT_MAX_BODY_BYTES (64u * 1024 * 1024)
#define TW_API_DEFAULT_DEADLINE_MS 30000u

typedef struct tw_api tw_api_t;

/* One token bucket: up to `burst` requests at once, refilled at `qps`
 * per second (lazily, when a request arrives).  burst 0: the layer is
 * off; qps 0 with a burst: a one-shot allowance that never refills. */
typedef struct tw_api_rate {
  double qps;
  uint32_t burst;
} tw_api_rate;

/* Fill with tw_api_config_init, then change what you need. */
typedef struct tw_api_config {
  const char *host;  /* numeric IPv4 or IPv6 address; default "127.0.0.1" */
  uint16_t port;     /* 0: the kernel picks one (tw_api_port says which) */

  /* Token allowlist in the syntax of TENSOR_WASM_API_TOKENS
   * (`tok`, `tok:tenant=*`, `tok:tenant=1,2`, comma-separated).  NULL:
   * read $TENSOR_WASM_API_TOKENS.  No valid entry: dev mode (no auth,
   * wildcard scope), which a non-loopback host refuses unless
   * allow_plaintext_public is set. */
  const char *tokens;
  bool allow_plaintext_public;
  bool require_tenant;        /* absent X-TensorWasm-Tenant: 400 */
  const char *metrics_token;  /* bearer gate on /metrics; NULL:
                                 $TENSOR_WASM_API_METRICS_TOKEN; "": open */

  uint32_t io_threads;        /* libmicrohttpd I/O threads; 0: 2 */
  uint32_t workers;           /* guest pool threads; 0: 4 */
  uint32_t max_inflight;      /* invocations admitted at once (running or
                                 queued), all tenants; 0: 8 x workers */
  uint32_t tenant_max_inflight; /* the same per tenant; 0: max_inflight/2
                                   (at least 1) */
  uint32_t control_queue;     /* control requests queued; 0: 256 */

  uint64_t max_body_bytes;    /* 0: 64 MiB */
  uint64_t deadline_ms;       /* per invocation; 0: 30 s */
  uint32_t max_connections;   /* 0: 1024 */
  uint32_t per_ip_connections; /* 0: no per-address limit */
  uint32_t idle_timeout_s;    /* idle connection closed; 0: 30 */
  uint64_t request_timeout_ms; /* a request body must arrive within this;
                                  0: 30 s */
  uint32_t header_bytes;      /* request line + headers; 0: 32 KiB */

  uint64_t prune_interval_ms; /* job retention pass; 0: 60 s */

  /* Rate limits on protected routes, checked after auth and tenant scope
   * (so a 401 or 403 spends nothing); a request must pass both layers, and
   * a refused one spends nothing: 429 rate_limited with Retry-After.
   * tw_api_config_init leaves both off; tw_api_config_from_env sets them
   * as the original's server did (docs/API.md "Rate limits"). */
  tw_api_rate token_rate;     /* per token (dev mode: one shared bucket) */
  tw_api_rate tenant_rate;    /* per (token, tenant) */
  /* The limiter's monotonic clock in nanoseconds, for tests; NULL:
   * CLOCK_MONOTONIC.  Called on I/O threads with rate_clock_ctx. */
  uint64_t (*rate_clock)(void *ctx);
  void *rate_clock_ctx;

  /* Audit log of state-changing actions, one JSON line each, written
   * before the response is sent: NULL, "" or "none": off; "stdout";
   * "file:/path" (appended, created 0600).  An unknown value or a file
   * that cannot be opened is reported (warn) and falls back to stdout. */
  const char *audit_log;
  /* Edge (docs/API.md "Edge"), each comma-separated; NULL or "": off.
   *  trusted_hosts: Host allowlist (400 bad_request otherwise, before the
   *    request is traced or counted);
   *  trusted_xfcc_proxies: IPs / CIDRs whose X-Forwarded-Client-Cert
   *    subject goes into the audit log (NULL: trust no peer);
   *  cors_allowed_origins: origins a browser may call from. */
  const char *trusted_hosts;
  const char *trusted_xfcc_proxies;
  const char *cors_allowed_origins;

  /* Snapshots (docs/SNAPSHOTS.md "Gateway").  snapshot_dir: where
   * deploy-time images and their sidecars live (created if missing; a
   * server entry point names <data dir>/snapshots); NULL:
   * $TENSOR_WASM_API_SNAPSHOT_DIR, else a private directory under $TMPDIR
   * that tw_api_stop removes (warm starts then end with the process).
   * snapshot_hmac_key: the signing key of POST /snapshot/save and
   * /snapshot/restore, 64 hex characters; NULL:
   * $TENSOR_WASM_API_SNAPSHOT_HMAC_KEY; "" or unset: those routes answer
   * 503 snapshot_signing_not_configured; malformed: tw_api_start fails
   * with TW_ARG. */
  const char *snapshot_dir;
  const char *snapshot_hmac_key;

  tw_registry_t *registry;    /* required; borrowed (see above) */
  tw_exec_t *exec;            /* required; borrowed (see above) */
} tw_api_config;

void tw_api_config_init(tw_api_config *cfg);

/* Fills the rest of `cfg` from the environment as a server entry point
 * does (`tensor-wasm serve`): TENSOR_WASM_API_REQUIRE_TENANT,
 * _RATE_LIMIT_QPS / _BURST (per-token layer: off when both are unset or
 * either is 0 or malformed; one alone gets 100 qps / burst 200 for the
 * other), _TENANT_RATE_LIMIT_QPS / _BURST (ours: the per-(token, tenant)
 * layer, on at 10 qps / burst 20 when unset, as the original's code),
 * _AUDIT_LOG (unset: stdout), _TRUSTED_HOSTS, _TRUSTED_XFCC_PROXIES,
 * _CORS_ALLOWED_ORIGINS.  Tokens and the metrics token stay NULL, which
 * tw_api_start reads from the environment itself.  The strings point into
 * the environment: borrowed until tw_api_start returns.  Malformed values
 * are reported (warn) and fall back as documented. */
void tw_api_config_from_env(tw_api_config *cfg);

/* Validates the config, recovers the registry, binds and starts serving.
 * On TW_OK *out is a running server the caller owns (tw_api_stop). */
tw_status tw_api_start(const tw_api_config *cfg, tw_api_t **out,
                       tw_error *err);

/* The bound port (the kernel's choice when the config said 0). */
uint16_t tw_api_port(const tw_api_t *api);

/* True when no token is configured (dev mode). */
bool tw_api_dev_mode(const tw_api_t *api);

/* Graceful stop: stops accepting, finishes queued and running work,
 * leaves unclaimed jobs pending, joins every thread and frees the server.
 * NULL is accepted. */
void tw_api_stop(tw_api_t *api);

#ifdef __cplusplus
}
#endif
#endif
