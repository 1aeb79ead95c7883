/* Cost per span, as seen by the thread that makes it.
 *
 *   trace_bench [ITERATIONS]
 *
 * Each configuration runs begin + 3 attributes (string, int, bool) + end
 * in a loop and prints nanoseconds per span:
 *   disabled       the filter rejects the span (NULL handle, no-op calls)
 *   enabled        span recorded, no output, no exporter
 *   fmt            plus a human-readable close line per span to /dev/null
 *   otlp           plus the batch exporter: grpc to $TENSOR_WASM_OTLP_ENDPOINT
 *                  (default: a closed loopback port, so the network side
 *                  fails fast and the caller's enqueue cost is what shows)
 * The otlp line also reports how many spans were exported or dropped;
 * a drop (queue full) is cheaper than a queued span, so read the counts
 * with the time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensorwasm/trace.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void one_span(long i) {
  tw_span_t *s = tw_span_begin("tensor_wasm_exec::executor::call_export_with_args",
                               "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_span_attr_str(s, "instance", "i_99");
  tw_span_attr_int(s, "args_len", i);
  tw_span_attr_bool(s, "ok", true);
  tw_span_end(s);
}

static double run(long n) {
  double t0 = now_s();
  for (long i = 0; i < n; i++) one_span(i);
  return (now_s() - t0) * 1e9 / (double)n;
}

static int setup(const char *filter, bool fmt, const char *endpoint,
                 FILE *devnull) {
  tw_trace_config cfg;
  tw_error err;
  tw_trace_config_default(&cfg);
  cfg.filter = filter;
  cfg.fmt = fmt;
  cfg.fmt_span_close = fmt;
  cfg.fmt_out = devnull;
  cfg.otlp_endpoint = endpoint ? endpoint : "";
  cfg.otlp_protocol = "grpc";
  cfg.queue_capacity = 65536;
  cfg.max_retries = UINT32_MAX;
  if (tw_trace_init(&cfg, &err) != TW_OK) {
    fprintf(stderr, "trace_bench: %s\n", err.message);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  const char *endpoint = getenv("TENSOR_WASM_OTLP_ENDPOINT");
  FILE *devnull = fopen("/dev/null", "w");
  tw_trace_stats st;
  if (n <= 0 || !devnull) {
    fprintf(stderr, "usage: trace_bench [ITERATIONS > 0]\n");
    return 1;
  }
  if (!endpoint || !endpoint[0]) endpoint = "http://127.0.0.1:9";

  if (setup("warn", false, NULL, devnull)) return 1;
  run(n / 10); /* warm up */
  printf("disabled   %8.1f ns/span\n", run(n));
  tw_trace_shutdown();

  if (setup("info", false, NULL, devnull)) return 1;
  printf("enabled    %8.1f ns/span\n", run(n));
  tw_trace_shutdown();

  if (setup("info", true, NULL, devnull)) return 1;
  printf("fmt        %8.1f ns/span\n", run(n / 4));
  tw_trace_shutdown();

  if (setup("info", false, endpoint, devnull)) return 1;
  double otlp = run(n / 4);
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  printf("otlp       %8.1f ns/span  (%s: %llu exported, %llu dropped: "
         "%llu queue full, %llu export failed)\n",
         otlp, endpoint, (unsigned long long)st.spans_exported,
         (unsigned long long)st.spans_dropped,
         (unsigned long long)st.dropped_queue_full,
         (unsigned long long)st.dropped_export_failed);
  fclose(devnull);
  return 0;
}
