/* `tensor-wasm serve`: the HTTP gateway over a data directory.
 *
 *   serve [--addr 127.0.0.1:8080] [--data-dir DIR] [--token T]... [--workers N]
 *         [--tenant-header-policy optional|required] [--allow-plaintext-public]
 *         [--max-inflight N] [--tenant-max-inflight N] [--deadline DURATION]
 *         [--max-outstanding-jobs N] [--job-retain-count N]
 *         [--job-retain-age DURATION] [--check-only]
 *         [--cluster nats://HOST:PORT] [--cluster-prefix P]
 *         [--cluster-ack-wait DURATION] [--cluster-max-deliver N]
 *
 * Opens the registry (SQLite, WAL, in the data directory; or, with
 * --cluster / TENSOR_WASM_NATS_URL, the NATS JetStream store shared by
 * every node of a cluster, docs/CLUSTER.md) and an executor whose on-disk
 * module cache lives in the data directory (per node), starts tracing (TENSOR_WASM_LOG, OTLP from
 * TENSOR_WASM_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT) and the gateway,
 * prints "listening on http://ADDR" and runs until SIGINT or SIGTERM.
 * Every gateway variable of the environment is honoured
 * (tw_api_config_from_env: rate limits, audit log, Host allowlist, XFCC
 * proxies, CORS, metrics token, tenant policy); flags win over it.
 * Then it stops accepting, finishes running work, leaves unclaimed jobs
 * pending in the registry, and flushes spans before it exits.
 *
 * Signals are blocked before any thread starts and taken with
 * sigtimedwait on the main thread, so no handler runs inside library code. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <nats/nats.h>

#include "cli.h"
#include "tensorwasm/api.h"
#include "tensorwasm/trace.h"

#define SERVE_MAX_TOKENS 64
#define SERVE_TOKENS_TEXT_MAX 8192
#define PUBLIC_WARN_SECONDS 60

int tw_cli_serve(int argc, char **argv);

typedef struct serve_opts {
  char host[64];
  uint16_t port;
  const char *data_dir;
  const char *tokens[SERVE_MAX_TOKENS];
  size_t ntokens;
  uint32_t workers, max_inflight, tenant_max_inflight, max_outstanding;
  uint64_t deadline_ms, retain_count;
  int64_t retain_ms;
  bool retain_count_set, retain_ms_set;
  bool require_tenant, allow_public, check_only;
  /* Cluster mode (NATS): URL NULL means SQLite. */
  const char *nats_url, *nats_prefix;
  uint64_t nats_ack_wait_ms;
  uint32_t nats_max_deliver;
} serve_opts;

static void serve_usage(FILE *out) {
  fputs("usage: tensor-wasm serve [OPTIONS]\n"
        "\n"
        "Runs the HTTP gateway (docs/API.md) until SIGINT or SIGTERM.\n"
        "\n"
        "  --addr HOST:PORT              listen address (default 127.0.0.1:8080;\n"
        "                                IPv6 as [::1]:8080)\n"
        "  --data-dir DIR                functions and jobs (default ./tensor-wasm-data)\n"
        "  --token T                     accept bearer token T, wildcard scope\n"
        "                                (repeatable; else TENSOR_WASM_API_TOKENS)\n"
        "  --workers N                   guest worker threads (default 4)\n"
        "  --max-inflight N              invocations admitted at once (default 8 x workers)\n"
        "  --tenant-max-inflight N       the same per tenant (default half of it)\n"
        "  --deadline DURATION           per invocation (default 30s)\n"
        "  --tenant-header-policy optional|required\n"
        "                                X-TensorWasm-Tenant may be absent (tenant 0)\n"
        "                                or is required (default optional, or required\n"
        "                                when TENSOR_WASM_API_REQUIRE_TENANT=1)\n"
        "  --max-outstanding-jobs N      pending + running async jobs (default 256)\n"
        "  --job-retain-count N          finished jobs kept (default 4096; 0 = no cap)\n"
        "  --job-retain-age DURATION     finished jobs kept this long (default 168h)\n"
        "  --cluster nats://HOST:PORT    share functions and jobs with the other nodes\n"
        "                                through NATS JetStream (docs/CLUSTER.md; else\n"
        "                                TENSOR_WASM_NATS_URL); the data dir then holds\n"
        "                                only this node's module cache\n"
        "  --cluster-prefix P            names of the cluster's buckets and streams\n"
        "                                (default TW, or TENSOR_WASM_NATS_PREFIX)\n"
        "  --cluster-ack-wait DURATION   a job whose node goes silent this long runs\n"
        "                                again elsewhere (default 30s)\n"
        "  --cluster-max-deliver N       deliveries of one job before it is failed\n"
        "                                (default 5, at least 2)\n"
        "  --allow-plaintext-public      allow dev mode (no tokens) on a non-loopback\n"
        "                                address (TENSOR_WASM_ALLOW_PLAINTEXT_PUBLIC)\n"
        "  -h, --help                    show this help\n"
        "\n"
        "Environment (docs/API.md): TENSOR_WASM_API_TOKENS, _METRICS_TOKEN,\n"
        "_REQUIRE_TENANT, _RATE_LIMIT_QPS, _RATE_LIMIT_BURST,\n"
        "_TENANT_RATE_LIMIT_QPS, _TENANT_RATE_LIMIT_BURST, _AUDIT_LOG (stdout),\n"
        "_TRUSTED_HOSTS, _TRUSTED_XFCC_PROXIES, _CORS_ALLOWED_ORIGINS;\n"
        "TENSOR_WASM_NATS_URL, TENSOR_WASM_NATS_PREFIX (docs/CLUSTER.md).\n",
        out);
}

static bool env_true(const char *name) {
  const char *v = getenv(name);
  return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static int parse_addr(const char *s, serve_opts *o) {
  const char *colon = strrchr(s, ':');
  size_t hl;
  uint64_t port;
  if (!colon) return -1;
  if (s[0] == '[') { /* [v6]:port */
    if (colon == s || colon[-1] != ']') return -1;
    s++;
    hl = (size_t)(colon - 1 - s);
  } else {
    hl = (size_t)(colon - s);
  }
  if (hl == 0 || hl >= sizeof o->host) return -1;
  memcpy(o->host, s, hl);
  o->host[hl] = '\0';
  char *end;
  errno = 0;
  port = strtoull(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || port > 65535) return -1;
  o->port = (uint16_t)port;
  return 0;
}

static int parse_u32(const char *flag, const char *v, uint32_t min, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = v ? strtoull(v, &end, 10) : 0;
  if (!v || errno || *end || end == v || n < min || n > UINT32_MAX || v[0] == '-') {
    cli_fail("%s needs a whole number >= %u", flag, min);
    return -1;
  }
  *out = (uint32_t)n;
  return 0;
}

static int parse_ms(const char *flag, const char *v, uint64_t *ms) {
  uint64_t ns;
  if (!v || cli_parse_duration(v, &ns) != 0 || ns < 1000000u) {
    cli_fail("%s needs a duration of at least 1ms (e.g. 500ms, 30s, 24h)", flag);
    return -1;
  }
  *ms = ns / 1000000u;
  return 0;
}

/* The value of option argv[*i] (advancing *i), or NULL with a message. */
static const char *value_of(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    cli_fail("%s needs a value", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

static int parse_one(int argc, char **argv, int *i, serve_opts *o) {
  const char *a = argv[*i], *v;
  uint32_t n32;
  uint64_t n64;
  if (strcmp(a, "--allow-plaintext-public") == 0) return o->allow_public = true, 0;
  if (strcmp(a, "--check-only") == 0) return o->check_only = true, 0;
  if (!(v = value_of(argc, argv, i))) return -1;
  if (strcmp(a, "--addr") == 0) {
    if (parse_addr(v, o) == 0) return 0;
    cli_fail("--addr needs HOST:PORT with a numeric host (e.g. 127.0.0.1:8080)");
    return -1;
  }
  if (strcmp(a, "--data-dir") == 0) return o->data_dir = v, 0;
  if (strcmp(a, "--cluster") == 0) {
    if (strncmp(v, "nats://", 7) == 0 && v[7]) return o->nats_url = v, 0;
    cli_fail("--cluster needs a NATS URL, nats://HOST:PORT[,nats://...]");
    return -1;
  }
  if (strcmp(a, "--cluster-prefix") == 0) return o->nats_prefix = v, 0;
  if (strcmp(a, "--cluster-ack-wait") == 0) {
    if (parse_ms(a, v, &n64) != 0) return -1;
    if (n64 > UINT32_MAX) {
      cli_fail("--cluster-ack-wait is too long");
      return -1;
    }
    o->nats_ack_wait_ms = n64;
    return 0;
  }
  if (strcmp(a, "--cluster-max-deliver") == 0) return parse_u32(a, v, 2, &o->nats_max_deliver);
  if (strcmp(a, "--token") == 0) {
    if (o->ntokens == SERVE_MAX_TOKENS || !*v || strpbrk(v, ",: \t")) {
      cli_fail("--token: at most %d tokens, each non-empty without ',', ':' or blanks",
               SERVE_MAX_TOKENS);
      return -1;
    }
    o->tokens[o->ntokens++] = v;
    return 0;
  }
  if (strcmp(a, "--workers") == 0) return parse_u32(a, v, 1, &o->workers);
  if (strcmp(a, "--max-inflight") == 0) return parse_u32(a, v, 1, &o->max_inflight);
  if (strcmp(a, "--tenant-max-inflight") == 0) return parse_u32(a, v, 1, &o->tenant_max_inflight);
  if (strcmp(a, "--max-outstanding-jobs") == 0) return parse_u32(a, v, 1, &o->max_outstanding);
  if (strcmp(a, "--deadline") == 0) return parse_ms(a, v, &o->deadline_ms);
  if (strcmp(a, "--job-retain-count") == 0) {
    if (parse_u32(a, v, 0, &n32) != 0) return -1;
    o->retain_count = n32;
    o->retain_count_set = true;
    return 0;
  }
  if (strcmp(a, "--job-retain-age") == 0) {
    if (parse_ms(a, v, &n64) != 0) return -1;
    o->retain_ms = (int64_t)n64;
    o->retain_ms_set = true;
    return 0;
  }
  if (strcmp(a, "--tenant-header-policy") == 0) {
    if (strcmp(v, "optional") == 0 || strcmp(v, "required") == 0) {
      o->require_tenant = strcmp(v, "required") == 0;
      return 0;
    }
    cli_fail("--tenant-header-policy is optional or required");
    return -1;
  }
  if (strcmp(a, "--cors-origin") == 0) {
    cli_fail("--cors-origin is not supported by serve (as in the original); set "
             "TENSOR_WASM_API_CORS_ALLOWED_ORIGINS");
    return -1;
  }
  cli_fail("serve: unknown option %s (see tensor-wasm serve --help)", a);
  return -1;
}

static int parse_opts(int argc, char **argv, serve_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->host, sizeof o->host, "127.0.0.1");
  o->port = 8080;
  o->data_dir = "tensor-wasm-data";
  o->require_tenant = env_true("TENSOR_WASM_API_REQUIRE_TENANT");
  o->allow_public = env_true("TENSOR_WASM_ALLOW_PLAINTEXT_PUBLIC");
  o->nats_url = getenv("TENSOR_WASM_NATS_URL");
  if (o->nats_url && !o->nats_url[0]) o->nats_url = NULL;
  o->nats_prefix = getenv("TENSOR_WASM_NATS_PREFIX");
  if (o->nats_prefix && !o->nats_prefix[0]) o->nats_prefix = NULL;
  for (int i = 0; i < argc; i++)
    if (parse_one(argc, argv, &i, o) != 0) return -1;
  if (!o->nats_url && (o->nats_ack_wait_ms || o->nats_max_deliver)) {
    cli_fail("--cluster-ack-wait and --cluster-max-deliver need --cluster");
    return -1;
  }
  return 0;
}

/* --token values as TENSOR_WASM_API_TOKENS text; NULL: read the env. */
static const char *tokens_text(const serve_opts *o, char *buf, size_t cap) {
  size_t n = 0;
  if (o->ntokens == 0) return NULL;
  buf[0] = '\0';
  for (size_t i = 0; i < o->ntokens; i++) {
    int w = snprintf(buf + n, cap - n, "%s%s:tenant=*", i ? "," : "", o->tokens[i]);
    if (w < 0 || (size_t)w >= cap - n) return NULL;
    n += (size_t)w;
  }
  return buf;
}

/* Waits for SIGINT/SIGTERM; warns every minute while dev mode is public. */
static void wait_for_stop(const sigset_t *set, bool warn_public) {
  for (;;) {
    struct timespec ts = {PUBLIC_WARN_SECONDS, 0};
    int sig = sigtimedwait(set, NULL, &ts);
    if (sig == SIGINT || sig == SIGTERM) return;
    if (sig < 0 && errno == EAGAIN && warn_public)
      tw_event(TW_LEVEL_WARN, TW_API_TARGET,
               "serving without authentication on a non-loopback address");
  }
}

static tw_status open_state(const serve_opts *o, tw_registry_t **reg, tw_exec_t **exec,
                            tw_error *err) {
  tw_registry_options ropt;
  tw_exec_config ecfg;
  tw_exec_error eerr;
  char cache[4096];
  tw_registry_options_init(&ropt);
  if (o->max_outstanding) ropt.max_outstanding_jobs = o->max_outstanding;
  if (o->retain_count_set) ropt.retain_jobs = o->retain_count;
  if (o->retain_ms_set) ropt.retain_ms = o->retain_ms;
  if (o->nats_url) {
    /* The prefix is checked by the registry (it names buckets). */
    ropt.backend = TW_REGISTRY_NATS;
    ropt.nats_url = o->nats_url;
    if (o->nats_prefix) ropt.nats_prefix = o->nats_prefix;
    if (o->nats_ack_wait_ms) ropt.nats_ack_wait_ms = (uint32_t)o->nats_ack_wait_ms;
    if (o->nats_max_deliver) ropt.nats_max_deliver = o->nats_max_deliver;
  }
  tw_status st = tw_registry_open(o->data_dir, &ropt, reg, err);
  if (st != TW_OK) return st;
  memset(&ecfg, 0, sizeof ecfg);
  snprintf(cache, sizeof cache, "%s/module-cache", o->data_dir);
  ecfg.cache_dir = cache;
  tw_exec_error_clear(&eerr);
  if ((st = tw_exec_new(&ecfg, exec, &eerr)) != TW_OK) {
    *err = eerr.base;
    tw_registry_close(*reg);
    *reg = NULL;
  }
  return st;
}

static int serve_run(const serve_opts *o, const sigset_t *set) {
  tw_registry_t *reg = NULL;
  tw_exec_t *exec = NULL;
  tw_api_t *api = NULL;
  tw_api_config cfg;
  tw_error err;
  char tokens[SERVE_TOKENS_TEXT_MAX];
  int rc = TW_EXIT_ERROR;
  tw_error_clear(&err);
  tw_api_config_init(&cfg);
  tw_api_config_from_env(&cfg);
  cfg.host = o->host;
  cfg.port = o->port;
  cfg.tokens = tokens_text(o, tokens, sizeof tokens);
  if (o->ntokens && !cfg.tokens) {
    cli_fail("--token: too many or too long");
    return TW_EXIT_INVALID;
  }
  cfg.require_tenant = o->require_tenant;
  cfg.allow_plaintext_public = o->allow_public;
  cfg.workers = o->workers;
  cfg.max_inflight = o->max_inflight;
  cfg.tenant_max_inflight = o->tenant_max_inflight;
  cfg.deadline_ms = o->deadline_ms;
  if (open_state(o, &reg, &exec, &err) != TW_OK) {
    cli_fail("%s", err.message);
    goto done;
  }
  cfg.registry = reg;
  cfg.exec = exec;
  /* deploy-time snapshots live with the node's other state, so warm
   * starts and per-function choices survive a restart */
  char snapdir[4096];
  snprintf(snapdir, sizeof snapdir, "%s/snapshots", o->data_dir);
  cfg.snapshot_dir = snapdir;
  if (tw_api_start(&cfg, &api, &err) != TW_OK) {
    cli_fail("%s", err.message);
    rc = err.status == TW_ARG ? TW_EXIT_INVALID : TW_EXIT_ERROR;
    goto done;
  }
  printf("listening on http://%s%s%s:%u\n", strchr(o->host, ':') ? "[" : "", o->host,
         strchr(o->host, ':') ? "]" : "", (unsigned)tw_api_port(api));
  fflush(stdout);
  wait_for_stop(set, tw_api_dev_mode(api) && o->allow_public);
  tw_event(TW_LEVEL_INFO, TW_API_TARGET, "shutting down");
  rc = TW_EXIT_OK;
done:
  tw_api_stop(api);
  tw_exec_free(exec);
  tw_registry_close(reg);
  /* The client library's global state (its threads, its SSL and timer
   * state) goes after the last registry; registry.h asks for this. */
  if (o->nats_url) nats_Close();
  return rc;
}

int tw_cli_serve(int argc, char **argv) {
  serve_opts o;
  sigset_t set;
  tw_trace_config tcfg;
  tw_error err;
  if (argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
    serve_usage(stdout);
    return TW_EXIT_OK;
  }
  if (parse_opts(argc, argv, &o) != 0) return TW_EXIT_INVALID;
  if (o.check_only) {
    puts("ok");
    return TW_EXIT_OK;
  }
  /* Before any thread exists, so every thread inherits the mask. */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  tw_trace_config_default(&tcfg);
  tcfg.default_filter = "warn";
  tw_error_clear(&err);
  if (tw_trace_init(&tcfg, &err) != TW_OK) {
    cli_fail("tracing: %s", err.message);
    return TW_EXIT_INVALID;
  }
  int rc = serve_run(&o, &set);
  tw_trace_shutdown(); /* flushes spans */
  return rc;
}
