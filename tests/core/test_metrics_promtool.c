/* The catalogue's exposition, with series of every type populated, passes
 * `promtool check metrics` (parse and lint).  promtool's path is fixed at
 * configure time (cmake/metrics.cmake); without it this program exits 77,
 * which ctest reports as SKIPPED. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "tensorwasm/metrics.h"

#ifndef TW_PROMTOOL
#define TW_PROMTOOL ""
#endif

/* Runs promtool on `text`; returns its exit status, with its output in
 * `out` (NUL-terminated, truncated to cap). */
static int promtool_check(const char *text, char *out, size_t cap) {
  char path[] = "/tmp/tw-metrics-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  int ok = write(fd, text, len) == (ssize_t)len;
  close(fd);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", TW_PROMTOOL,
           path);
  FILE *p = ok ? popen(cmd, "r") : NULL;
  size_t n = 0;
  if (p) n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int st = p ? pclose(p) : -1;
  unlink(path);
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(catalogue_passes_promtool) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metrics_std_t m;
  ASSERT_EQ_INT(tw_metrics_std_register(reg, &m, NULL), TW_OK);
  /* One series in every labelled family, with values that need escaping. */
  const char *odd = "t\\1 \"quoted\"\nline";
  tw_gauge_set(tw_metric_gauge_with(m.active_instances, odd), 2);
  tw_gauge_set(tw_metric_gauge_with(m.gpu_memory_used_bytes, odd), 1 << 20);
  tw_counter_inc(tw_metric_counter_with(m.kernel_dispatches, odd));
  tw_histogram_observe(m.kernel_latency_seconds, 3e-5);
  const char *route = tw_metrics_route_label("POST", "/functions/f1/invoke");
  tw_counter_inc(tw_metric_counter_with(m.http_requests, route, "POST", "200"));
  tw_histogram_observe(
      tw_metric_histogram_with(m.http_request_duration_seconds, route, "POST",
                               "200"),
      0.02);
  tw_gauge_add(tw_metric_gauge_with(m.http_requests_in_flight, route, "POST"),
               1);
  tw_gauge_set(tw_metric_gauge_with(m.gpu_memory_bytes_per_tenant, "T#1"), 5);
  tw_gauge_set(tw_metric_gauge_with(m.cpu_memory_bytes_per_tenant, "T#1"), 6);
  tw_histogram_observe(tw_metric_histogram_with(m.jit_emit_text_seconds,
                                                "saxpy"),
                       0.003);
  tw_counter_inc(tw_metric_counter_with(
      m.invocations, "acme", tw_metrics_outcome_label(TW_OK, TW_TRAP_NONE)));
  tw_counter_inc(tw_metric_counter_with(m.otlp_spans_dropped, "queue_full"));
  tw_histogram_observe(m.async_job_duration_seconds, 1.25);

  tw_metric_buf b = {0};
  ASSERT_EQ_INT(tw_metric_registry_render(reg, &b, NULL), TW_OK);
  if (getenv("TW_METRICS_DUMP")) fputs(b.data, stdout);

  char out[4096];
  int rc = promtool_check(b.data, out, sizeof out);
  if (rc != 0 || out[0]) TW__FAIL("promtool exit %d:\n%s", rc, out);

  /* The check can fail: a gauge named like a counter is rejected. */
  rc = promtool_check("# HELP x_total X.\n# TYPE x_total gauge\nx_total 1\n",
                      out, sizeof out);
  ASSERT(rc != 0);
  ASSERT_CONTAINS(out, "_total");
  tw_metric_buf_free(&b);
  tw_metric_registry_free(reg);
}

/* Skips loudly when promtool was not found at configure time. */
__attribute__((constructor)) static void require_promtool(void) {
  if (TW_PROMTOOL[0] && access(TW_PROMTOOL, X_OK) == 0) return;
  fprintf(stderr,
          "SKIPPED: promtool not found (install the Debian package "
          "`prometheus` and re-run cmake); the exposition format is NOT "
          "checked\n");
  exit(77);
}

TEST_MAIN()
