/* Metrics registry: exposition text of each type (exact), label escaping,
 * ordering, histogram bucket boundaries, registration rules, callback
 * gauges, the catalogue, the label helpers, and every out-of-memory path. */
#include <math.h>

#include "core/metrics_int.h"
#include "test.h"
#include "tensorwasm/metrics.h"

/* A private registry rendered into a string the caller frees. */
static char *render(tw_metric_registry_t *reg) {
  tw_metric_buf b = {0};
  if (tw_metric_registry_render(reg, &b, NULL) != TW_OK) {
    tw_metric_buf_free(&b);
    return NULL;
  }
  return b.data;
}

static tw_metric_family_t *reg_or_null(tw_metric_registry_t *reg,
                                       tw_metric_desc d) {
  tw_metric_family_t *f = NULL;
  tw_metric_register(reg, &d, &f, NULL);
  return f;
}

#define LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

TEST(counter_exposition_with_total_suffix_and_escaping) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_COUNTER, "demo_requests",
                            "Requests, with a \\ and a\nnewline.",
                            LABELS("route", "code"), NULL, 0});
  ASSERT(f);
  tw_counter_add(tw_metric_counter_with(f, "/b", "200"), 3);
  tw_counter_inc(tw_metric_counter_with(f, "a\\b\"c\nd", "500"));
  tw_counter_inc(tw_metric_counter_with(f, "/b", "200"));
  char *text = render(reg);
  ASSERT(text);
  ASSERT_EQ_STR(text,
                "# HELP demo_requests_total Requests, with a \\\\ and "
                "a\\nnewline.\n"
                "# TYPE demo_requests_total counter\n"
                "demo_requests_total{route=\"/b\",code=\"200\"} 4\n"
                "demo_requests_total{route=\"a\\\\b\\\"c\\nd\",code=\"500\"} 1\n");
  free(text);
  tw_metric_registry_free(reg);
}

TEST(gauge_set_add_sub_and_unlabelled_renders_zero) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *g = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_GAUGE, "b_in_flight", "In flight.",
                            LABELS("tenant"), NULL, 0});
  tw_metric_family_t *z = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_GAUGE, "a_idle", "Idle.", NULL, NULL, 0});
  ASSERT(g && z);
  tw_gauge_t *t1 = tw_metric_gauge_with(g, "t1");
  tw_gauge_set(t1, 10);
  tw_gauge_add(t1, 5);
  tw_gauge_sub(t1, 20);
  ASSERT_EQ_INT(tw_gauge_value(t1), -5);
  tw_gauge_set(tw_metric_gauge_with(g, "t0"), 7);
  char *text = render(reg);
  ASSERT(text);
  ASSERT_EQ_STR(text,
                "# HELP a_idle Idle.\n"
                "# TYPE a_idle gauge\n"
                "a_idle 0\n"
                "# HELP b_in_flight In flight.\n"
                "# TYPE b_in_flight gauge\n"
                "b_in_flight{tenant=\"t0\"} 7\n"
                "b_in_flight{tenant=\"t1\"} -5\n");
  free(text);
  tw_metric_registry_free(reg);
}

TEST(histogram_exposition_exact) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  static const double b[] = {0.005, 0.1, 1};
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_HISTOGRAM, "lat_seconds", "Latency.",
                            LABELS("route"), b, 3});
  ASSERT(f);
  tw_histogram_t *h = tw_metric_histogram_with(f, "/x");
  tw_histogram_observe(h, 0.001);
  tw_histogram_observe(h, 0.25);
  tw_histogram_observe(h, 0.25);
  tw_histogram_observe(h, 7);
  tw_histogram_observe(h, NAN); /* ignored */
  char *text = render(reg);
  ASSERT(text);
  ASSERT_EQ_STR(text,
                "# HELP lat_seconds Latency.\n"
                "# TYPE lat_seconds histogram\n"
                "lat_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
                "lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"
                "lat_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
                "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
                "lat_seconds_sum{route=\"/x\"} 7.501\n"
                "lat_seconds_count{route=\"/x\"} 4\n");
  ASSERT_EQ_U64(tw_histogram_count(h), 4);
  free(text);
  tw_metric_registry_free(reg);
}

TEST(histogram_without_labels_and_empty_labelled_family) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  static const double b[] = {1e-5, 2.5};
  ASSERT(reg_or_null(reg, (tw_metric_desc){TW_METRIC_HISTOGRAM, "h", "H.",
                                           NULL, b, 2}));
  ASSERT(reg_or_null(reg, (tw_metric_desc){TW_METRIC_COUNTER, "i_total",
                                           "I.", LABELS("x"), NULL, 0}));
  char *text = render(reg);
  ASSERT(text);
  ASSERT_EQ_STR(text,
                "# HELP h H.\n"
                "# TYPE h histogram\n"
                "h_bucket{le=\"1e-05\"} 0\n"
                "h_bucket{le=\"2.5\"} 0\n"
                "h_bucket{le=\"+Inf\"} 0\n"
                "h_sum 0\n"
                "h_count 0\n"
                "# HELP i_total I.\n"
                "# TYPE i_total counter\n");
  free(text);
  tw_metric_registry_free(reg);
}

/* le is inclusive: a value equal to a bound is in that bucket; the next
 * representable value above it is in the next. */
TEST(histogram_bucket_boundaries_are_inclusive) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  static const double b[] = {0.1, 1, 10};
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_HISTOGRAM, "edge", "Edges.", NULL, b, 3});
  tw_histogram_t *h = tw_metric_histogram_with(f, NULL);
  ASSERT(h);
  const struct tw_histogram *m = (const struct tw_histogram *)h;
  static const struct { double v; size_t bucket; } cases[] = {
      {-1, 0}, {0, 0}, {0.1, 0}, {1, 1}, {10, 2}, {INFINITY, 3},
      {-INFINITY, 0}, {1e300, 3}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t before = atomic_load(&((struct tw_histogram *)m)->counts[cases[i].bucket]);
    tw_histogram_observe(h, cases[i].v);
    ASSERT_EQ_U64(atomic_load(&((struct tw_histogram *)m)->counts[cases[i].bucket]),
                  before + 1);
  }
  /* Just above each bound: the next bucket. */
  for (size_t i = 0; i < 3; i++) {
    uint64_t before = atomic_load(&((struct tw_histogram *)m)->counts[i + 1]);
    tw_histogram_observe(h, nextafter(b[i], INFINITY));
    ASSERT_EQ_U64(atomic_load(&((struct tw_histogram *)m)->counts[i + 1]),
                  before + 1);
  }
  tw_metric_registry_free(reg);
}

TEST(families_and_series_render_in_stable_sorted_order) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *zf = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_COUNTER, "z", "Z.", LABELS("k"), NULL, 0});
  tw_metric_family_t *af = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_COUNTER, "a", "A.", LABELS("k"), NULL, 0});
  const char *keys[] = {"m", "b", "y", "a", "bb"};
  for (size_t i = 0; i < 5; i++) {
    tw_counter_inc(tw_metric_counter_with(zf, keys[i]));
    tw_counter_inc(tw_metric_counter_with(af, keys[4 - i]));
  }
  char *first = render(reg), *second = render(reg);
  ASSERT(first && second);
  ASSERT_EQ_STR(first, second);
  const char *a = strstr(first, "a_total{k=\"a\"}");
  const char *b = strstr(first, "a_total{k=\"b\"}");
  const char *bb = strstr(first, "a_total{k=\"bb\"}");
  const char *z = strstr(first, "# HELP z_total");
  const char *zy = strstr(first, "z_total{k=\"y\"}");
  const char *zm = strstr(first, "z_total{k=\"m\"}");
  ASSERT(a && b && bb && z && zy && zm);
  ASSERT(a < b && b < bb && bb < z && zm < zy);
  free(first);
  free(second);
  tw_metric_registry_free(reg);
}

TEST(same_label_set_gives_same_handle) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_COUNTER, "c", "C.", LABELS("x", "y"),
                            NULL, 0});
  tw_counter_t *c1 = tw_metric_counter_with(f, "ab", "c");
  tw_counter_t *c2 = tw_metric_counter_with(f, "a", "bc");
  ASSERT(c1 && c2 && c1 != c2);
  ASSERT(tw_metric_counter_with(f, "ab", "c") == c1);
  /* Many series: chains get long, lookups still find each one. */
  tw_counter_t *many[300];
  char key[16];
  for (int i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "k%d", i);
    many[i] = tw_metric_counter_with(f, key, "v");
    ASSERT(many[i]);
  }
  for (int i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "k%d", i);
    ASSERT(tw_metric_counter_with(f, key, "v") == many[i]);
  }
  tw_metric_registry_free(reg);
}

TEST(registration_rules) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_error err;
  tw_metric_family_t *f = NULL, *g = NULL;
  tw_metric_desc d = {TW_METRIC_COUNTER, "x", "X.", LABELS("a"), NULL, 0};
  ASSERT_EQ_INT(tw_metric_register(reg, &d, &f, &err), TW_OK);
  /* "x" and "x_total" are the same counter. */
  d.name = "x_total";
  ASSERT_EQ_INT(tw_metric_register(reg, &d, &g, &err), TW_OK);
  ASSERT(f == g);
  /* Same name, other shape. */
  d.labels = LABELS("b");
  ASSERT_EQ_INT(tw_metric_register(reg, &d, &g, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "already registered");
  ASSERT(g == NULL);
  d = (tw_metric_desc){TW_METRIC_GAUGE, "x_total", "X.", LABELS("a"), NULL, 0};
  ASSERT_EQ_INT(tw_metric_register(reg, &d, &g, &err), TW_ARG);

  const tw_metric_desc bad[] = {
      {TW_METRIC_GAUGE, "1abc", "H.", NULL, NULL, 0},
      {TW_METRIC_GAUGE, "a-b", "H.", NULL, NULL, 0},
      {TW_METRIC_GAUGE, NULL, "H.", NULL, NULL, 0},
      {TW_METRIC_GAUGE, "ok", "", NULL, NULL, 0},
      {TW_METRIC_GAUGE, "ok", NULL, NULL, NULL, 0},
      {TW_METRIC_GAUGE, "ok", "H.", (const char *const[]){"__x", NULL}, NULL, 0},
      {TW_METRIC_GAUGE, "ok", "H.", (const char *const[]){"a b", NULL}, NULL, 0},
      {TW_METRIC_GAUGE, "ok", "H.", (const char *const[]){"a", "a", NULL}, NULL, 0},
      {TW_METRIC_HISTOGRAM, "ok", "H.", (const char *const[]){"le", NULL}, NULL, 0},
      {TW_METRIC_HISTOGRAM, "ok", "H.", NULL, (const double[]){1, 1}, 2},
      {TW_METRIC_HISTOGRAM, "ok", "H.", NULL, (const double[]){2, 1}, 2},
      {TW_METRIC_HISTOGRAM, "ok", "H.", NULL, (const double[]){1, INFINITY}, 2},
      {TW_METRIC_HISTOGRAM, "ok", "H.", NULL, (const double[]){NAN}, 1},
      {(tw_metric_type)7, "ok", "H.", NULL, NULL, 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    g = (tw_metric_family_t *)1;
    if (tw_metric_register(reg, &bad[i], &g, &err) != TW_ARG)
      TW__FAIL("bad desc %zu was accepted", i);
    ASSERT(g == NULL);
  }
  const char *nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};
  d = (tw_metric_desc){TW_METRIC_GAUGE, "wide", "W.", nine, NULL, 0};
  ASSERT_EQ_INT(tw_metric_register(reg, &d, &g, &err), TW_ARG);
  tw_metric_registry_free(reg);
}

TEST(lookups_check_count_and_type) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_COUNTER, "c", "C.", LABELS("x", "y"),
                            NULL, 0});
  tw_error err;
  tw_counter_t *c = (tw_counter_t *)1;
  ASSERT_EQ_INT(tw_metric_counter_get(f, LABELS("only"), &c, &err), TW_ARG);
  ASSERT(c == NULL);
  ASSERT_CONTAINS(err.message, "takes 2 label values, got 1");
  ASSERT(tw_metric_counter_with(f, "1", "2", "3") == NULL);
  ASSERT(tw_metric_counter_with(f, NULL) == NULL);
  ASSERT(tw_metric_gauge_with(f, "1", "2") == NULL);
  ASSERT(tw_metric_histogram_with(f, "1", "2") == NULL);
  ASSERT(tw_metric_counter_with(NULL, "1") == NULL);
  /* NULL handles are ignored by every update and read. */
  tw_counter_inc(NULL);
  tw_counter_add(NULL, 5);
  tw_gauge_set(NULL, 1);
  tw_gauge_add(NULL, 1);
  tw_gauge_sub(NULL, 1);
  tw_histogram_observe(NULL, 1);
  ASSERT_EQ_U64(tw_counter_value(NULL), 0);
  ASSERT_EQ_INT(tw_gauge_value(NULL), 0);
  ASSERT_EQ_U64(tw_histogram_count(NULL), 0);
  ASSERT_EQ_INT(tw_gauge_bind(NULL, NULL, NULL, &err), TW_ARG);
  tw_metric_registry_free(reg);
}

static double answer(void *ctx) { return *(const double *)ctx; }

TEST(callback_gauge_is_read_at_scrape_time) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metric_family_t *f = reg_or_null(
      reg, (tw_metric_desc){TW_METRIC_GAUGE, "pool_size", "Pool.",
                            LABELS("pool"), NULL, 0});
  tw_gauge_t *g = tw_metric_gauge_with(f, "warm");
  tw_gauge_set(g, 99);
  double value = 1.5;
  ASSERT_EQ_INT(tw_gauge_bind(g, answer, &value, NULL), TW_OK);
  char *t1 = render(reg);
  value = 42;
  char *t2 = render(reg);
  value = INFINITY;
  char *t3 = render(reg);
  ASSERT_EQ_INT(tw_gauge_bind(g, NULL, NULL, NULL), TW_OK);
  char *t4 = render(reg);
  ASSERT(t1 && t2 && t3 && t4);
  ASSERT_CONTAINS(t1, "pool_size{pool=\"warm\"} 1.5\n");
  ASSERT_CONTAINS(t2, "pool_size{pool=\"warm\"} 42\n");
  ASSERT_CONTAINS(t3, "pool_size{pool=\"warm\"} +Inf\n");
  ASSERT_CONTAINS(t4, "pool_size{pool=\"warm\"} 99\n");
  free(t1);
  free(t2);
  free(t3);
  free(t4);
  tw_metric_registry_free(reg);
}

TEST(format_double_round_trips) {
  char buf[32];
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0.1), "0.1");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 1e-5), "1e-05");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 2.5), "2.5");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 10), "10");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0), "0");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0.0001), "0.0001");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 123456), "123456");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 1e6), "1e+06");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 1234567.5), "1.2345675e+06");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 100.25), "100.25");
  ASSERT_EQ_STR(tw__metric_format_double(buf, -3), "-3");
  /* bucket bounds as Go's FormatFloat(v, 'g', -1, 64) writes them */
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0.005), "0.005");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0.025), "0.025");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 2.5e7), "2.5e+07");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 1.5e-5), "1.5e-05");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 999999), "999999");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 1048576), "1.048576e+06");
  ASSERT_EQ_STR(tw__metric_format_double(buf, 0.1 + 0.2), "0.30000000000000004");
  ASSERT_EQ_STR(tw__metric_format_double(buf, -0.0), "-0");
  ASSERT_EQ_STR(tw__metric_format_double(buf, NAN), "NaN");
  ASSERT_EQ_STR(tw__metric_format_double(buf, -INFINITY), "-Inf");
  double third = 1.0 / 3.0;
  ASSERT(strtod(tw__metric_format_double(buf, third), NULL) == third);
}

TEST(render_appends_and_restores_on_failure) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  ASSERT(reg_or_null(reg, (tw_metric_desc){TW_METRIC_GAUGE, "g", "G.", NULL,
                                           NULL, 0}));
  tw_metric_buf b = {0};
  ASSERT_EQ_INT(tw_metric_registry_render(reg, &b, NULL), TW_OK);
  size_t one = b.len;
  ASSERT_EQ_INT(tw_metric_registry_render(reg, &b, NULL), TW_OK);
  ASSERT_EQ_INT(b.len, 2 * one);
  ASSERT_EQ_INT(strlen(b.data), b.len);
  /* Force growth to fail mid-render: the buffer keeps its old contents. */
  for (int i = 0; i < 200; i++) {
    char name[16];
    snprintf(name, sizeof name, "g%03d", i);
    ASSERT(reg_or_null(reg, (tw_metric_desc){TW_METRIC_GAUGE, name,
                                             "A rather long help text.", NULL,
                                             NULL, 0}));
  }
  tw__metrics_fail_alloc(0);
  tw_error err;
  ASSERT_EQ_INT(tw_metric_registry_render(reg, &b, &err), TW_NOMEM);
  tw__metrics_fail_alloc(-1);
  ASSERT_EQ_INT(b.len, 2 * one);
  ASSERT_EQ_INT(strlen(b.data), b.len);
  tw_metric_buf_free(&b);
  ASSERT(b.data == NULL);
  tw_metric_registry_free(reg);
}

/* The catalogue registers every metric; twice is harmless. */
TEST(catalogue_registers_every_metric) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metrics_std_t m, again;
  tw_error err;
  ASSERT_EQ_INT(tw_metrics_std_register(reg, &m, &err), TW_OK);
  ASSERT_EQ_INT(tw_metrics_std_register(reg, &again, &err), TW_OK);
  ASSERT(memcmp(&m, &again, sizeof m) == 0);
  /* No field left NULL, except functions_registered, which is not
   * exposed (no registry can count its functions yet). */
  const size_t unexposed = offsetof(tw_metrics_std_t, functions_registered);
  for (size_t i = 0; i < sizeof m / sizeof(void *); i++) {
    void *field;
    memcpy(&field, (const char *)&m + i * sizeof field, sizeof field);
    if (i * sizeof field == unexposed) {
      if (field) TW__FAIL("functions_registered is exposed");
    } else if (!field) {
      TW__FAIL("catalogue field %zu is NULL", i);
    }
  }

  tw_counter_inc(tw_metric_counter_with(m.http_requests,
                                        tw_metrics_route_label("GET", "/healthz"),
                                        "GET", "200"));
  tw_histogram_observe(tw_metric_histogram_with(
                           m.http_request_duration_seconds, "/healthz", "GET",
                           "200"),
                       0.0004);
  tw_counter_inc(tw_metric_counter_with(
      m.invocations, "acme", tw_metrics_outcome_label(TW_TRAP, TW_TRAP_DIV_ZERO)));
  tw_histogram_observe(m.kernel_latency_seconds, 0.00001);
  char *text = render(reg);
  ASSERT(text);
  static const char *const expect[] = {
      "# TYPE tensor_wasm_active_instances gauge\n",
      "# TYPE tensor_wasm_gpu_memory_used_bytes gauge\n",
      "# TYPE tensor_wasm_kernel_dispatches_total counter\n",
      "tensor_wasm_kernel_latency_seconds_bucket{le=\"1e-05\"} 1\n",
      "tensor_wasm_kernel_latency_seconds_bucket{le=\"10\"} 1\n",
      "tensor_wasm_instance_spawns_total 0\n",
      "tensor_wasm_instance_terminations_total 0\n",
      "tensor_wasm_offload_success_total 0\n",
      "tensor_wasm_offload_fallback_total 0\n",
      "tensor_wasm_http_requests_total{route=\"/healthz\",method=\"GET\","
      "status=\"200\"} 1\n",
      "tensor_wasm_http_request_duration_seconds_bucket{route=\"/healthz\","
      "method=\"GET\",status=\"200\",le=\"0.001\"} 1\n",
      "# TYPE tensor_wasm_http_requests_in_flight gauge\n",
      "tensor_wasm_build_info{version=\"",
      "tensor_wasm_jobs_active 0\n",
      "# TYPE tensor_wasm_gpu_memory_bytes_per_tenant gauge\n",
      "# TYPE tensor_wasm_cpu_memory_bytes_per_tenant gauge\n",
      "tensor_wasm_streaming_chunks_emitted_total 0\n",
      "tensor_wasm_snapshot_capture_seconds_count 0\n",
      "tensor_wasm_snapshot_restore_seconds_count 0\n",
      "tensor_wasm_snapshot_disk_round_trip_seconds_count 0\n",
      "tensor_wasm_jit_cache_warm_hit_total 0\n",
      "tensor_wasm_jit_cache_cold_miss_then_insert_total 0\n",
      "# TYPE tensor_wasm_jit_emit_text_seconds histogram\n",
      "tensor_wasm_jit_cache_bytes 0\n",
      "tensor_wasm_jit_cache_verify_skipped_total 0\n",
      "tensor_wasm_backpressure_permits_used 0\n",
      "tensor_wasm_backpressure_permits_available 0\n",
      "tensor_wasm_pool_warm_instances 0\n",
      "tensor_wasm_pool_draws_total 0\n",
      "tensor_wasm_pool_reset_failed_total 0\n",
      "tensor_wasm_isolation_violations_total 0\n",
      "tensor_wasm_functions_total 0\n",
      "tensor_wasm_jit_emit_text_seconds_count{blueprint=\"none\"} 0\n",
      "tensor_wasm_otlp_spans_dropped_total{reason=\"export_failed\"} 0\n",
      "tensor_wasm_otlp_spans_dropped_total{reason=\"queue_full\"} 0\n",
      "tensor_wasm_invocations_total{tenant=\"acme\",outcome=\"trap_div_zero\"} 1\n",
      "tensor_wasm_otlp_spans_exported_total 0\n",
      "# TYPE tensor_wasm_otlp_spans_dropped_total counter\n",
      "tensor_wasm_async_queue_depth 0\n",
      "tensor_wasm_async_job_duration_seconds_bucket{le=\"300\"} 0\n",
      "process_resident_memory_bytes ",
      "process_open_fds ",
      "tensor_wasm_uptime_seconds ",
  };
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
    ASSERT_CONTAINS(text, expect[i]);
  /* The kernel histogram has the original's 14 bounds, the HTTP one 12. */
  size_t kernel = 0, http = 0;
  for (const char *p = text; (p = strstr(p, "tensor_wasm_kernel_latency_seconds_bucket{")); p++)
    kernel++;
  for (const char *p = text; (p = strstr(p, "tensor_wasm_http_request_duration_seconds_bucket{")); p++)
    http++;
  ASSERT_EQ_INT(kernel, 15);
  ASSERT_EQ_INT(http, 13);
  free(text);
  tw_metric_registry_free(reg);
}

/* A tenant's series exist at zero once the executor has seen it, so its
 * GPU panels read 0 on a machine without a GPU; a second call changes
 * nothing, and NULL arguments are ignored. */
TEST(tenant_series_start_at_zero) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metrics_std_t m;
  ASSERT_EQ_INT(tw_metrics_std_register(reg, &m, NULL), TW_OK);
  char *before = render(reg);
  ASSERT(before);
  ASSERT(!strstr(before, "tenant=\"42\""));
  ASSERT(!strstr(before, "tenant_id=\"42\""));
  free(before);
  tw_metrics_std_tenant_init(&m, "42");
  tw_gauge_add(tw_metric_gauge_with(m.active_instances, "42"), 3);
  tw_metrics_std_tenant_init(&m, "42");
  tw_metrics_std_tenant_init(&m, NULL);
  tw_metrics_std_tenant_init(NULL, "42");
  char *text = render(reg);
  ASSERT(text);
  static const char *const expect[] = {
      "tensor_wasm_active_instances{tenant=\"42\"} 3\n",
      "tensor_wasm_gpu_memory_used_bytes{tenant=\"42\"} 0\n",
      "tensor_wasm_kernel_dispatches_total{tenant=\"42\"} 0\n",
      "tensor_wasm_gpu_memory_bytes_per_tenant{tenant_id=\"42\"} 0\n",
      "tensor_wasm_cpu_memory_bytes_per_tenant{tenant_id=\"42\"} 0\n",
  };
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
    ASSERT_CONTAINS(text, expect[i]);
  free(text);
  tw_metric_registry_free(reg);
}

/* Scrape-time process gauges read real, plausible values. */
TEST(process_gauges_read_proc) {
  tw_metric_registry_t *reg;
  ASSERT_EQ_INT(tw_metric_registry_new(&reg, NULL), TW_OK);
  tw_metrics_std_t m;
  ASSERT_EQ_INT(tw_metrics_std_register(reg, &m, NULL), TW_OK);
  FILE *extra = fopen("/proc/self/statm", "r"); /* one more fd */
  ASSERT(extra);
  char *text = render(reg);
  fclose(extra);
  ASSERT(text);
  double rss = 0, fds = 0, up = -1;
  const char *p = strstr(text, "\nprocess_resident_memory_bytes ");
  ASSERT(p && sscanf(p, "\nprocess_resident_memory_bytes %lf", &rss) == 1);
  p = strstr(text, "\nprocess_open_fds ");
  ASSERT(p && sscanf(p, "\nprocess_open_fds %lf", &fds) == 1);
  p = strstr(text, "\ntensor_wasm_uptime_seconds ");
  ASSERT(p && sscanf(p, "\ntensor_wasm_uptime_seconds %lf", &up) == 1);
  ASSERT(rss > 100 * 1024);  /* a C test binary is well above 100 KiB */
  ASSERT(fds >= 4);          /* stdin, stdout, stderr, `extra` */
  ASSERT(up >= 0 && up < 3600);
  free(text);
  tw_metric_registry_free(reg);
}

TEST(default_catalogue_is_shared) {
  const tw_metrics_std_t *a = tw_metrics_std(), *b = tw_metrics_std();
  ASSERT(a == b && a->instance_spawns);
  uint64_t before = tw_counter_value(a->instance_spawns);
  tw_counter_inc(a->instance_spawns);
  ASSERT_EQ_U64(tw_counter_value(a->instance_spawns), before + 1);
  tw_metric_buf buf = {0};
  ASSERT_EQ_INT(tw_metric_registry_render(tw_metric_registry_default(), &buf,
                                          NULL),
                TW_OK);
  ASSERT_CONTAINS(buf.data, "tensor_wasm_build_info{version=\"");
  tw_metric_buf_free(&buf);
  tw_metric_registry_free(tw_metric_registry_default()); /* ignored */
  ASSERT(tw_metrics_std()->instance_spawns == a->instance_spawns);
}

TEST(route_labels_follow_the_allowlist) {
  static const struct { const char *m, *p, *want; } cases[] = {
      {"GET", "/healthz", "/healthz"},
      {"HEAD", "/healthz", "/healthz"},
      {"GET", "/metrics", "/metrics"},
      {"POST", "/functions", "/functions"},
      {"DELETE", "/functions/0b6e-42", "/functions/:id"},
      {"POST", "/functions/abc/invoke", "/functions/:id/invoke"},
      {"POST", "/functions/abc/invoke?x=1", "/functions/:id/invoke"},
      {"POST", "/functions/abc/invoke-async", "/functions/:id/invoke-async"},
      {"POST", "/functions/abc/invoke-stream", "/functions/:id/invoke-stream"},
      {"GET", "/jobs/j1", "/jobs/:id"},
      {"POST", "/v1/completions", "/v1/completions"},
      {"POST", "/v1/chat/completions", "/v1/chat/completions"},
      {"GET", "/kernels", "/kernels"},
      {"POST", "/kernels", "/kernels"},
      {"GET", "/kernels/saxpy/1.0.0", "/kernels/:name/:version"},
      /* not routes, or not for that method */
      {"GET", "/functions", "unknown"},
      {"GET", "/functions/abc/invoke", "unknown"},
      {"POST", "/snapshot/save", "unknown"},
      {"POST", "/snapshot/restore", "unknown"},
      {"GET", "/functions//invoke", "unknown"},
      {"DELETE", "/functions/", "unknown"},
      {"GET", "/healthz/", "unknown"},
      {"GET", "/jobs/a/b", "unknown"},
      {"GET", "/kernels/x", "unknown"},
      {"GET", "", "unknown"},
      {"GET", "/", "unknown"},
      {NULL, "/healthz", "unknown"},
      {"GET", NULL, "unknown"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = tw_metrics_route_label(cases[i].m, cases[i].p);
    if (strcmp(got, cases[i].want) != 0)
      TW__FAIL("%s %s -> %s, want %s", cases[i].m ? cases[i].m : "(null)",
               cases[i].p ? cases[i].p : "(null)", got, cases[i].want);
  }
}

TEST(method_and_outcome_labels) {
  ASSERT_EQ_STR(tw_metrics_method_label("DELETE"), "DELETE");
  ASSERT_EQ_STR(tw_metrics_method_label("get"), "other");
  ASSERT_EQ_STR(tw_metrics_method_label("BREW"), "other");
  ASSERT_EQ_STR(tw_metrics_method_label(NULL), "other");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_OK, TW_TRAP_NONE), "ok");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_LIMIT, TW_TRAP_NONE), "limit");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, TW_TRAP_INTERRUPTED),
                "timeout");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, TW_TRAP_UNREACHABLE),
                "trap_unreachable");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, TW_TRAP_MEMORY_OOB),
                "trap_memory_oob");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, TW_TRAP_OUT_OF_FUEL),
                "trap_out_of_fuel");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, TW_TRAP_NONE), "error");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_TRAP, (tw_trap_code)999), "error");
  ASSERT_EQ_STR(tw_metrics_outcome_label(TW_NOMEM, TW_TRAP_NONE), "error");
  /* Every trap kind has its own valid label value. */
  for (int t = TW_TRAP_NONE + 1; t < TW_TRAP_COUNT; t++) {
    const char *l = tw_metrics_outcome_label(TW_TRAP, (tw_trap_code)t);
    ASSERT(strncmp(l, "trap_", 5) == 0 || strcmp(l, "timeout") == 0);
    for (const char *p = l; *p; p++)
      ASSERT((*p >= 'a' && *p <= 'z') || *p == '_');
  }
}

/* Fail the nth allocation for every n until the whole sequence succeeds:
 * each failure is a clean TW_NOMEM and leaks nothing (ASan checks). */
TEST(every_allocation_failure_is_reported) {
  int completed = 0, failures = 0;
  for (long n = 0; n < 10000 && !completed; n++) {
    tw_metric_registry_t *reg = NULL;
    tw__metrics_fail_alloc(n);
    tw_status st = tw_metric_registry_new(&reg, NULL);
    tw_metrics_std_t m;
    if (st == TW_OK) st = tw_metrics_std_register(reg, &m, NULL);
    tw_counter_t *c = NULL;
    if (st == TW_OK)
      st = tw_metric_counter_get(m.invocations, LABELS("t", "ok"), &c, NULL);
    tw_metric_buf b = {0};
    if (st == TW_OK) st = tw_metric_registry_render(reg, &b, NULL);
    tw__metrics_fail_alloc(-1);
    if (st != TW_OK && st != TW_NOMEM) TW__FAIL("n=%ld: status %d", n, st);
    failures += st == TW_NOMEM;
    if (st == TW_OK) {
      completed = 1;
      ASSERT_CONTAINS(b.data, "tensor_wasm_invocations_total{tenant=\"t\"");
    }
    /* A failed step leaves a usable registry: retry without failures. */
    if (reg && st == TW_NOMEM) {
      ASSERT_EQ_INT(tw_metrics_std_register(reg, &m, NULL), TW_OK);
      ASSERT(tw_metric_counter_with(m.invocations, "t", "ok"));
    }
    tw_metric_buf_free(&b);
    tw_metric_registry_free(reg);
  }
  ASSERT(completed);
  /* Registry, ~40 families with their names, help, labels and series, a
   * new series and the render buffer: well over 100 allocations. */
  ASSERT(failures > 100);
}

TEST_MAIN()
