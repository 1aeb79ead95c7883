/* tw_trace_init / tw_trace_shutdown: assembles the tracing pipeline from
 * the configuration and the environment, the filter and fmt output of
 * core, and the OTLP batch exporter of this folder.
 *
 * Precedence, per setting: explicit config value, then environment, then
 * default.  Malformed environment values are reported on stderr and
 * ignored (tracing must never stop the process from starting); malformed
 * explicit values are the caller's bug and return TW_ARG. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "otlp/otlp_int.h"

static tw__otlp_exporter *g_exporter;

static const char *const GRPC_PATH =
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

void tw_trace_config_default(tw_trace_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->fmt = true;
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

static bool parse_protocol(const char *s, tw__otlp_protocol *out) {
  if (strcmp(s, "grpc") == 0) *out = TW__OTLP_GRPC;
  else if (strcmp(s, "http/protobuf") == 0) *out = TW__OTLP_HTTP_PROTOBUF;
  else return false;
  return true;
}

/* "http://host:port[/path]" or https; the authority must be non-empty. */
static bool endpoint_ok(const char *url) {
  const char *rest;
  if (strncasecmp(url, "http://", 7) == 0) rest = url + 7;
  else if (strncasecmp(url, "https://", 8) == 0) rest = url + 8;
  else return false;
  if (!rest[0] || rest[0] == '/') return false;
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= ' ') return false;
  return true;
}

/* The request URL: gRPC goes to the service path on the endpoint's
 * authority; http/protobuf appends /v1/traces to the endpoint (the OTLP
 * rule for the signal-independent endpoint variable).  malloc'd. */
static char *request_url(const char *endpoint, tw__otlp_protocol proto) {
  size_t len = strlen(endpoint), n;
  char *url;
  if (proto == TW__OTLP_GRPC) {
    const char *auth = strstr(endpoint, "://") + 3;
    const char *slash = strchr(auth, '/');
    if (slash) len = (size_t)(slash - endpoint);
  }
  while (len > 0 && endpoint[len - 1] == '/') len--;
  n = len + strlen(GRPC_PATH) + 1;
  if (!(url = malloc(n))) return NULL;
  snprintf(url, n, "%.*s%s", (int)len, endpoint,
           proto == TW__OTLP_GRPC ? GRPC_PATH : "/v1/traces");
  return url;
}

static uint32_t or_default(uint32_t v, uint32_t def) { return v ? v : def; }

/* Resolves the OTLP settings.  *endpoint stays NULL when export is off. */
static tw_status resolve_otlp(const tw_trace_config *c, const char **endpoint,
                              tw__otlp_protocol *proto, const char **service,
                              tw_error *err) {
  const char *p;
  *endpoint = c->otlp_endpoint;
  if (*endpoint && !endpoint_ok(*endpoint) && (*endpoint)[0])
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "OTLP endpoint \"%s\" is not an http:// or "
                         "https:// URL", *endpoint);
  if (!*endpoint) {
    const char *name = "TENSOR_WASM_OTLP_ENDPOINT";
    *endpoint = env(name);
    if (!*endpoint) *endpoint = env(name = "OTEL_EXPORTER_OTLP_ENDPOINT");
    if (*endpoint && !endpoint_ok(*endpoint)) {
      fprintf(stderr, "tensor-wasm: ignoring %s=\"%s\": not an http:// or "
              "https:// URL; OTLP export is off\n", name, *endpoint);
      *endpoint = NULL;
    }
  }
  if (*endpoint && !(*endpoint)[0]) *endpoint = NULL;

  *proto = TW__OTLP_GRPC;
  if (c->otlp_protocol) {
    if (!parse_protocol(c->otlp_protocol, proto))
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "OTLP protocol \"%s\" is not grpc or "
                           "http/protobuf", c->otlp_protocol);
  } else if ((p = env("OTEL_EXPORTER_OTLP_PROTOCOL")) &&
             !parse_protocol(p, proto) && *endpoint) {
    fprintf(stderr, "tensor-wasm: ignoring OTEL_EXPORTER_OTLP_PROTOCOL="
            "\"%s\" (supported: grpc, http/protobuf); using grpc\n", p);
  }

  *service = c->service_name ? c->service_name : env("OTEL_SERVICE_NAME");
  if (!*service) *service = "tensor-wasm";
  return TW_OK;
}

/* default_filter + "," + user directives, malloc'd. */
static char *filter_spec(const tw_trace_config *c, const char **origin) {
  const char *def = c->default_filter ? c->default_filter : "info";
  const char *user = c->filter;
  size_t n;
  char *spec;
  *origin = "filter";
  if (!user && (user = env("TENSOR_WASM_LOG"))) *origin = "TENSOR_WASM_LOG";
  if (!user) user = "";
  n = strlen(def) + strlen(user) + 2;
  if (!(spec = malloc(n))) return NULL;
  snprintf(spec, n, "%s,%s", def, user);
  return spec;
}

tw_status tw_trace_init(const tw_trace_config *cfg, tw_error *err) {
  tw_trace_config defaults;
  tw__trace_setup setup;
  tw__otlp_options opt;
  tw__otlp_exporter *exp = NULL;
  const char *endpoint = NULL, *service = NULL;
  tw__otlp_protocol proto = TW__OTLP_GRPC;
  char *spec = NULL, *url = NULL;
  tw_status st;

  if (!cfg) {
    tw_trace_config_default(&defaults);
    cfg = &defaults;
  }
  if (tw__trace_installed())
    return tw__error_set(err, TW_ARG, SIZE_MAX, "tracing already initialised");
  st = resolve_otlp(cfg, &endpoint, &proto, &service, err);
  if (st != TW_OK) goto done;

  memset(&setup, 0, sizeof setup);
  st = tw__error_set(err, TW_NOMEM, SIZE_MAX, NULL);
  if (!(spec = filter_spec(cfg, &setup.filter_origin))) goto done;
  if (endpoint) {
    if (!(url = request_url(endpoint, proto))) goto done;
    opt.url = url;
    opt.protocol = proto;
    opt.service_name = service;
    opt.queue_capacity = or_default(cfg->queue_capacity, 2048);
    opt.batch_size = or_default(cfg->batch_size, 512);
    if (opt.batch_size > opt.queue_capacity) opt.batch_size = opt.queue_capacity;
    opt.flush_interval_ms = or_default(cfg->flush_interval_ms, 1000);
    opt.export_timeout_ms = or_default(cfg->export_timeout_ms, 5000);
    opt.max_retries = cfg->max_retries == UINT32_MAX ? 0
                                                     : or_default(cfg->max_retries, 3);
    opt.shutdown_timeout_ms = or_default(cfg->shutdown_timeout_ms, 3000);
    st = tw__otlp_exporter_start(&opt, &exp, err);
    if (st != TW_OK) goto done;
    setup.processor.on_end = tw__otlp_exporter_on_end;
    setup.processor.self = exp;
  }
  setup.filter = spec;
  setup.fmt = cfg->fmt;
  setup.fmt_span_close = cfg->fmt_span_close;
  setup.fmt_out = cfg->fmt_out;
  setup.sink = cfg->sink;
  setup.sink_user = cfg->sink_user;
  st = tw__trace_install(&setup, err);
  if (st != TW_OK) goto done;
  g_exporter = exp;
  exp = NULL;
  tw_error_clear(err);

done:
  tw__otlp_exporter_stop(exp);
  free(spec);
  free(url);
  return st;
}

void tw_trace_shutdown(void) {
  tw__trace_uninstall();
  tw__otlp_exporter_stop(g_exporter);
  g_exporter = NULL;
}
