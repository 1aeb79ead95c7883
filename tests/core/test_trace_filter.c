/* The TENSOR_WASM_LOG filter: parsing directives, reporting bad ones, and
 * matching (longest target wins, '-' equals '_', bare level is the
 * default). */
#include "core/trace_int.h"
#include "test.h"

typedef struct reports {
  int n;
  char last[128];
  char why[128];
} reports;

static void collect(void *user, const char *d, size_t len, const char *why) {
  reports *r = user;
  r->n++;
  snprintf(r->last, sizeof r->last, "%.*s", (int)len, d);
  snprintf(r->why, sizeof r->why, "%s", why);
}

TEST(default_level_only) {
  unsigned bad;
  tw__filter *f = tw__filter_parse("info", NULL, NULL, &bad);
  ASSERT(f);
  ASSERT_EQ_INT(bad, 0);
  ASSERT(tw__filter_enabled(f, TW_LEVEL_INFO, "anything"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_ERROR, "anything"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_DEBUG, "anything"));
  ASSERT_EQ_INT(tw__filter_min_threshold(f), TW_LEVEL_INFO);
  tw__filter_free(f);
}

TEST(empty_is_off) {
  unsigned bad;
  tw__filter *f = tw__filter_parse("", NULL, NULL, &bad);
  ASSERT(f);
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_ERROR, "x"));
  ASSERT_EQ_INT(tw__filter_min_threshold(f), TW__LEVEL_OFF);
  tw__filter_free(f);
}

TEST(seed_example) {
  unsigned bad;
  tw__filter *f = tw__filter_parse(
      "tensor_wasm_exec=debug,wasmtime=warn,info", NULL, NULL, &bad);
  ASSERT(f);
  ASSERT_EQ_INT(bad, 0);
  /* '-' and '_' are the same, so the crate-named target matches. */
  ASSERT(tw__filter_enabled(f, TW_LEVEL_DEBUG, "tensor-wasm-exec"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_DEBUG, "tensor_wasm_exec::executor"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_TRACE, "tensor-wasm-exec"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_INFO, "wasmtime"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_WARN, "wasmtime::jit"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_INFO, "tensor-wasm-api"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_DEBUG, "tensor-wasm-api"));
  ASSERT_EQ_INT(tw__filter_min_threshold(f), TW_LEVEL_DEBUG);
  tw__filter_free(f);
}

TEST(most_specific_wins) {
  unsigned bad;
  tw__filter *f = tw__filter_parse(
      "tensor_wasm_exec::executor=trace,tensor_wasm=error,tensor_wasm_exec=warn",
      NULL, NULL, &bad);
  ASSERT(f);
  ASSERT(tw__filter_enabled(f, TW_LEVEL_TRACE, "tensor_wasm_exec::executor"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_INFO, "tensor-wasm-exec"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_WARN, "tensor-wasm-exec"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_WARN, "tensor-wasm-api"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_ERROR, "tensor-wasm-api"));
  /* No directive matches and no default: off. */
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_ERROR, "other"));
  tw__filter_free(f);
}

TEST(later_default_and_duplicate_override) {
  unsigned bad;
  tw__filter *f = tw__filter_parse("info,a=debug,warn,a=error", NULL, NULL,
                                   &bad);
  ASSERT(f);
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_INFO, "x"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_WARN, "x"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_WARN, "a"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_ERROR, "a"));
  tw__filter_free(f);
}

TEST(bare_target_enables_all_levels_and_off) {
  unsigned bad;
  tw__filter *f =
      tw__filter_parse("warn, noisy = OFF , chatty", NULL, NULL, &bad);
  ASSERT(f);
  ASSERT_EQ_INT(bad, 0);
  ASSERT(tw__filter_enabled(f, TW_LEVEL_TRACE, "chatty"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_ERROR, "noisy"));
  ASSERT(tw__filter_enabled(f, TW_LEVEL_ERROR, "quiet"));
  ASSERT(!tw__filter_enabled(f, TW_LEVEL_INFO, "quiet"));
  ASSERT_EQ_INT(tw__filter_min_threshold(f), TW_LEVEL_TRACE);
  tw__filter_free(f);
}

TEST(bad_directives_reported_and_skipped) {
  static const struct {
    const char *spec, *bad, *why;
  } cases[] = {
      {"info,a=loud", "a=loud", "unknown level"},
      {"info,=debug", "=debug", "empty target"},
      {"info,a=b=c", "a=b=c", "more than one '='"},
      {"info,a b=debug", "a b=debug", "bad character in target"},
      {"info,a[span]=debug", "a[span]=debug",
       "span and field filters are not supported"},
      {"info,[{x=1}]", "[{x=1}]", "span and field filters are not supported"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    reports r = {0};
    unsigned bad;
    tw__filter *f = tw__filter_parse(cases[i].spec, collect, &r, &bad);
    ASSERT(f);
    ASSERT_EQ_INT(bad, 1);
    ASSERT_EQ_INT(r.n, 1);
    ASSERT_EQ_STR(r.last, cases[i].bad);
    ASSERT_EQ_STR(r.why, cases[i].why);
    /* The good part still applies. */
    ASSERT(tw__filter_enabled(f, TW_LEVEL_INFO, "a"));
    ASSERT(!tw__filter_enabled(f, TW_LEVEL_DEBUG, "a"));
    tw__filter_free(f);
  }
}

TEST(empty_directives_ignored_silently) {
  reports r = {0};
  unsigned bad;
  tw__filter *f = tw__filter_parse(",, ,debug,", collect, &r, &bad);
  ASSERT(f);
  ASSERT_EQ_INT(bad, 0);
  ASSERT_EQ_INT(r.n, 0);
  ASSERT(tw__filter_enabled(f, TW_LEVEL_DEBUG, "x"));
  tw__filter_free(f);
}

TEST(level_names) {
  ASSERT_EQ_INT(tw__level_parse("trace", 5), TW_LEVEL_TRACE);
  ASSERT_EQ_INT(tw__level_parse("DEBUG", 5), TW_LEVEL_DEBUG);
  ASSERT_EQ_INT(tw__level_parse("Info", 4), TW_LEVEL_INFO);
  ASSERT_EQ_INT(tw__level_parse("warn", 4), TW_LEVEL_WARN);
  ASSERT_EQ_INT(tw__level_parse("warning", 7), TW_LEVEL_WARN);
  ASSERT_EQ_INT(tw__level_parse("error", 5), TW_LEVEL_ERROR);
  ASSERT_EQ_INT(tw__level_parse("off", 3), TW__LEVEL_OFF);
  ASSERT_EQ_INT(tw__level_parse("inf", 3), -1);
  ASSERT_EQ_INT(tw__level_parse("infos", 5), -1);
  ASSERT_EQ_STR(tw_level_name(TW_LEVEL_WARN), "WARN");
}

/* Through the public API: TENSOR_WASM_LOG is read at init, a bad
 * directive is counted and never fatal, and the default is info. */
TEST(env_variable_at_init) {
  tw_trace_config cfg;
  tw_trace_stats st;
  tw_error err;
  FILE *devnull = fopen("/dev/null", "w");
  ASSERT(devnull);
  setenv("TENSOR_WASM_LOG", "tensor_wasm_exec=debug,bogus=loud", 1);
  unsetenv("TENSOR_WASM_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  tw_trace_config_default(&cfg);
  cfg.fmt_out = devnull;
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.filter_errors, 1);
  ASSERT(tw_trace_enabled(TW_LEVEL_DEBUG, "tensor-wasm-exec"));
  ASSERT(tw_trace_enabled(TW_LEVEL_INFO, "tensor-wasm-api"));
  ASSERT(!tw_trace_enabled(TW_LEVEL_DEBUG, "tensor-wasm-api"));
  ASSERT(!tw_trace_enabled(TW_LEVEL_DEBUG, "bogus"));
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_ARG);
  tw_trace_shutdown();
  ASSERT(!tw_trace_enabled(TW_LEVEL_ERROR, "tensor-wasm-api"));

  /* Unset: info.  An explicit filter beats the environment. */
  unsetenv("TENSOR_WASM_LOG");
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  ASSERT(tw_trace_enabled(TW_LEVEL_INFO, "x"));
  ASSERT(!tw_trace_enabled(TW_LEVEL_DEBUG, "x"));
  tw_trace_shutdown();
  setenv("TENSOR_WASM_LOG", "error", 1);
  cfg.filter = "x=trace";
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  ASSERT(tw_trace_enabled(TW_LEVEL_TRACE, "x"));
  ASSERT(tw_trace_enabled(TW_LEVEL_INFO, "y"));
  tw_trace_shutdown();
  unsetenv("TENSOR_WASM_LOG");
  fclose(devnull);
}

TEST_MAIN()
