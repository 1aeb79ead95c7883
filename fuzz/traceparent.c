/* Fuzz target `traceparent`: the W3C `traceparent` header parser.
 *
 * Oracles besides the sanitizers:
 *  - a refused value leaves the context all zero;
 *  - an accepted one is valid, formats to 55 characters, and parses back
 *    to the same context;
 *  - the ids it accepted are the ones written in the value (the formatted
 *    header repeats the input's trace id and parent id verbatim: only
 *    lowercase hex is accepted), and the version is never ff;
 *  - a version-00 value is exactly 55 characters once trimmed. */
#include <string.h>

#include "fuzz.h"
#include "tensorwasm/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly `size` bytes, so ASan sees any read past `len`. */
  char *s = malloc(size ? size : 1);
  if (!s) abort();
  memcpy(s, data, size);
  tw_trace_ctx ctx;
  bool ok = tw_traceparent_parse(s, size, &ctx);
  static const tw_trace_ctx zero;
  if (!ok) {
    FUZZ_CHECK(memcmp(&ctx, &zero, sizeof ctx) == 0, "refused but not zeroed");
    free(s);
    return 0;
  }
  FUZZ_CHECK(tw_trace_ctx_is_valid(&ctx), "accepted an invalid context");
  FUZZ_CHECK((ctx.flags & ~TW_TRACE_FLAG_SAMPLED) == 0, "flags %02x kept",
             ctx.flags);
  char out[TW_TRACEPARENT_LEN + 1];
  FUZZ_CHECK(tw_traceparent_format(&ctx, out), "cannot format what it parsed");
  FUZZ_CHECK(strlen(out) == TW_TRACEPARENT_LEN, "formatted length %zu",
             strlen(out));
  tw_trace_ctx back;
  FUZZ_CHECK(tw_traceparent_parse(out, strlen(out), &back) &&
                 memcmp(&back, &ctx, sizeof ctx) == 0,
             "formatted header %s does not parse back", out);

  const char *t = s;
  size_t n = size;
  while (n && (*t == ' ' || *t == '\t')) t++, n--;
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
  FUZZ_CHECK(n >= TW_TRACEPARENT_LEN, "accepted %zu characters", n);
  FUZZ_CHECK(!(t[0] == 'f' && t[1] == 'f'), "accepted version ff");
  FUZZ_CHECK(memcmp(t + 2, out + 2, 51) == 0,
             "ids differ from the input: %.55s vs %s", t, out);
  if (t[0] == '0' && t[1] == '0')
    FUZZ_CHECK(n == TW_TRACEPARENT_LEN, "version 00 with %zu characters", n);
  else
    FUZZ_CHECK(n == TW_TRACEPARENT_LEN || t[TW_TRACEPARENT_LEN] == '-',
               "future version followed by '%c'", t[TW_TRACEPARENT_LEN]);
  free(s);
  return 0;
}
