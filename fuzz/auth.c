/* Fuzz target `auth`: TENSOR_WASM_API_TOKENS scope syntax, the
 * Authorization header check and the X-TensorWasm-Tenant parser.
 *
 * Input: three NUL-separated strings (token list, Authorization value,
 * tenant header).  Oracles besides the sanitizers: the token count adds up
 * (parsed + dropped never exceeds the entries given); a tenant value is
 * accepted only as decimal digits, and what it parses to prints back the
 * same; an accepted Authorization names a parsed token. */
#include <inttypes.h>
#include <string.h>

#include "api/api_int.h"
#include "fuzz.h"

/* The next NUL-terminated piece of data (a malloc'd copy). */
static char *piece(const uint8_t **p, const uint8_t *end) {
  const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
  size_t n = z ? (size_t)(z - *p) : (size_t)(end - *p);
  char *s = malloc(n + 1);
  if (!s) abort();
  memcpy(s, *p, n);
  s[n] = 0;
  *p += z ? n + 1 : n;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p = data, *end = data + size;
  char *list = piece(&p, end), *auth = piece(&p, end), *tenant = piece(&p, end);
  api_tokens toks;
  memset(&toks, 0, sizeof toks);
  if (api_tokens_parse(list, &toks, NULL) == TW_OK) {
    size_t commas = 1;
    for (const char *c = list; *c; c++) commas += *c == ',';
    FUZZ_CHECK(toks.count + toks.dropped <= commas, "%zu + %zu entries from %zu",
               toks.count, toks.dropped, commas);
    api_actor actor;
    api_fail f;
    if (api_auth_check(&toks, auth, &actor, &f) && toks.count)
      FUZZ_CHECK(actor.token && actor.token >= toks.items &&
                     actor.token < toks.items + toks.count,
                 "accepted without a token");
    api_tokens_free(&toks);
  }
  uint64_t t;
  if (api_tenant_parse(tenant, &t)) {
    char back[32];
    snprintf(back, sizeof back, "%" PRIu64, t);
    const char *digits = tenant;
    while (*digits == '0' && digits[1]) digits++; /* leading zeros */
    FUZZ_CHECK(strcmp(back, digits) == 0 || strspn(tenant, "0123456789") ==
                                                 strlen(tenant),
               "tenant \"%s\" parsed as %" PRIu64, tenant, t);
  }
  free(list);
  free(auth);
  free(tenant);
  return 0;
}
