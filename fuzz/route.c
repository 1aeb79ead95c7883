/* Fuzz target `route`: the gateway's routing layer (method + path to a
 * route, its id and whether it is protected).
 *
 * Input: method and path, NUL-separated.  Oracles: a matched id fits its
 * buffer and appears in the path; the match is deterministic. */
#include <string.h>

#include "api/api_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *z = memchr(data, 0, size);
  size_t mlen = z ? (size_t)(z - data) : 0;
  char *method = malloc(mlen + 1), *path = malloc(size - mlen + 1);
  if (!method || !path) abort();
  memcpy(method, data, mlen);
  method[mlen] = 0;
  size_t plen = z ? size - mlen - 1 : size;
  memcpy(path, z ? z + 1 : data, plen);
  path[plen] = 0;
  api_match a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  api_route_match(method, path, &a);
  api_route_match(method, path, &b);
  FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "two matches of %s %s differ", method, path);
  FUZZ_CHECK(strlen(a.id) <= API_ID_MAX, "id longer than its buffer");
  if (a.id[0]) FUZZ_CHECK(strstr(path, a.id) != NULL, "id %s not in %s", a.id, path);
  free(method);
  free(path);
  return 0;
}
