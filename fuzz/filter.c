/* Fuzz target `filter`: TENSOR_WASM_LOG filter directives
 * (`target=level,...,level`), through the parser tracing itself uses
 * (tw__filter_parse in src/core/trace_filter.c).
 *
 * The input is the directive string (cut at its first NUL).  Oracles
 * besides the sanitizers:
 *  - every reported bad directive lies inside the input and has a reason;
 *    the count of reports equals *bad;
 *  - thresholds are levels or off; nothing is enabled below the minimum
 *    threshold; tw__filter_enabled agrees with tw__filter_threshold;
 *  - '-' and '_' in a target are interchangeable. */
#include <string.h>

#include "core/trace_int.h"
#include "fuzz.h"

typedef struct report_ctx {
  const char *spec;
  size_t len;
  unsigned count;
} report_ctx;

static void report(void *user, const char *d, size_t len, const char *why) {
  report_ctx *r = user;
  FUZZ_CHECK(d >= r->spec && d + len <= r->spec + r->len,
             "reported directive outside the input");
  FUZZ_CHECK(why && *why, "report without a reason");
  volatile unsigned sum = 0;
  for (size_t i = 0; i < len; i++) sum += (unsigned char)d[i];
  (void)sum;
  r->count++;
}

static void check_target(const tw__filter *f, const char *target) {
  int th = tw__filter_threshold(f, target);
  FUZZ_CHECK(th >= TW_LEVEL_TRACE && th <= TW__LEVEL_OFF, "threshold %d", th);
  FUZZ_CHECK(th >= tw__filter_min_threshold(f), "threshold %d below min %d",
             th, tw__filter_min_threshold(f));
  for (int l = TW_LEVEL_TRACE; l <= TW_LEVEL_ERROR; l++)
    FUZZ_CHECK(tw__filter_enabled(f, (tw_level)l, target) == (l >= th),
               "level %d target %s: enabled disagrees with threshold %d", l,
               target, th);
  char swapped[256];
  size_t n = strlen(target);
  if (n >= sizeof swapped) return;
  for (size_t i = 0; i <= n; i++)
    swapped[i] = target[i] == '-' ? '_' : target[i] == '_' ? '-' : target[i];
  FUZZ_CHECK(tw__filter_threshold(f, swapped) == th,
             "'%s' and '%s' differ", target, swapped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  if (!spec) abort();
  memcpy(spec, data, size);
  spec[size] = 0;
  report_ctx r = {spec, strlen(spec), 0};
  unsigned bad = 0;
  tw__filter *f = tw__filter_parse(spec, report, &r, &bad);
  if (!f) {
    free(spec);
    return 0; /* out of memory */
  }
  FUZZ_CHECK(bad == r.count, "*bad %u, reports %u", bad, r.count);

  static const char *const targets[] = {
      "", "tensor-wasm-exec", "tensor_wasm_api", "tensor-wasm-wasi-gpu",
      "tower-http", "tower_http::trace", "a", "a::b", "tensor-wasm-exec::x"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
    check_target(f, targets[i]);
  /* Also every target named in the input: the text before each '='. */
  for (const char *p = spec; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    char t[128];
    size_t tl = eq ? (size_t)(eq - p) : len;
    if (tl < sizeof t) {
      memcpy(t, p, tl);
      t[tl] = 0;
      check_target(f, t);
    }
    if (!end) break;
    p = end + 1;
  }
  tw__filter_free(f);
  free(spec);
  return 0;
}
