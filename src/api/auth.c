/* Bearer tokens and tenant scopes.
 *
 * The allowlist is kept as SHA-256 digests: every check hashes the
 * presented token once and compares its digest with every entry using
 * CRYPTO_memcmp, with no early exit, so neither the position of a match
 * nor the length of a secret shows in the time taken.
 *
 * Syntax (TENSOR_WASM_API_TOKENS): entries separated by commas; an entry
 * is `token` (wildcard scope, deprecated), `token:tenant=*` or
 * `token:tenant=ID,ID,...`.  A piece without ':' that follows a tenant
 * list continues that list, as in the original; an entry with an id that
 * is not a u64 is dropped whole.
 *
 * A token's id (audit records, rate-limit keys) is a hash of its digest
 * keyed with random bytes drawn once per process, as the original's
 * seeded SipHash: stable while the process lives, meaningless outside it,
 * and no help to anyone guessing the token from a log. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"

#define AUTH_VALUE_MAX 1024

static void digest(const char *s, size_t n, uint8_t out[32]) {
  unsigned len = 32;
  if (!EVP_Digest(s, n, out, &len, EVP_sha256(), NULL)) memset(out, 0, 32);
}

static uint8_t id_key[32];
static pthread_once_t id_key_once = PTHREAD_ONCE_INIT;

static void id_key_init(void) {
  if (RAND_bytes(id_key, sizeof id_key) != 1) digest("tensor-wasm token id", 20, id_key);
}

/* Never 0: that is the dev-mode actor.  53 bits, so that every JSON
 * reader (JavaScript's numbers, jansson's int64) reads the audit log's
 * token_id exactly; the original's u64 type still holds it. */
static uint64_t token_id_of(const uint8_t d[32]) {
  uint8_t buf[64], h[32];
  uint64_t id = 0;
  pthread_once(&id_key_once, id_key_init);
  memcpy(buf, id_key, 32);
  memcpy(buf + 32, d, 32);
  digest((const char *)buf, sizeof buf, h);
  for (int i = 0; i < 8; i++) id = id << 8 | h[i];
  id &= (UINT64_C(1) << 53) - 1;
  return id ? id : 1;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Trims blanks in place; returns the start. */
static char *trim(char *s) {
  while (is_blank(*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && is_blank(s[n - 1])) s[--n] = '\0';
  return s;
}

bool api_tenant_parse(const char *value, uint64_t *out) {
  uint64_t v = 0;
  if (!value || !*value) return false;
  for (const char *p = value; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static bool token_ok(const char *t) {
  if (!*t) return false;
  for (const unsigned char *p = (const unsigned char *)t; *p; p++)
    if (*p <= ' ' || *p == 0x7f) return false;
  return true;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The entry being built while pieces are read. */
typedef struct entry_acc {
  bool open;      /* a tenant list that may continue */
  bool bad;
  api_token tok;
} entry_acc;

static tw_status add_tenant(entry_acc *e, const char *id) {
  uint64_t v;
  if (!api_tenant_parse(id, &v)) {
    e->bad = true;
    return TW_OK;
  }
  uint64_t *n = realloc(e->tok.tenants, (e->tok.ntenants + 1) * sizeof *n);
  if (!n) return TW_NOMEM;
  e->tok.tenants = n;
  n[e->tok.ntenants++] = v;
  return TW_OK;
}

static tw_status flush_entry(entry_acc *e, api_tokens *out) {
  if (!e->open && !e->tok.wildcard && !e->tok.tenants) return TW_OK; /* none */
  if (e->bad) {
    free(e->tok.tenants);
    out->dropped++;
  } else {
    api_token *n = realloc(out->items, (out->count + 1) * sizeof *n);
    if (!n) {
      free(e->tok.tenants);
      memset(e, 0, sizeof *e);
      return TW_NOMEM;
    }
    if (e->tok.tenants)
      qsort(e->tok.tenants, e->tok.ntenants, sizeof *e->tok.tenants, cmp_u64);
    out->items = n;
    e->tok.id = token_id_of(e->tok.digest);
    e->tok.index = out->count;
    n[out->count++] = e->tok;
  }
  memset(e, 0, sizeof *e);
  return TW_OK;
}

/* One comma-separated piece. */
static tw_status parse_piece(char *piece, entry_acc *e, api_tokens *out) {
  char *colon = strchr(piece, ':');
  tw_status st;
  if (!colon && e->open) return add_tenant(e, piece);
  if ((st = flush_entry(e, out)) != TW_OK) return st;
  if (!colon) { /* a bare token: wildcard, deprecated */
    if (!token_ok(piece)) {
      out->dropped++;
      return TW_OK;
    }
    digest(piece, strlen(piece), e->tok.digest);
    e->tok.wildcard = true;
    out->bare++;
    return flush_entry(e, out);
  }
  *colon = '\0';
  char *tok = trim(piece), *scope = trim(colon + 1);
  digest(tok, strlen(tok), e->tok.digest);
  e->bad = !token_ok(tok);
  if (strncmp(scope, "tenant=", 7) != 0) {
    e->bad = true;
    e->tok.wildcard = true; /* so that flush sees an entry and drops it */
    return flush_entry(e, out);
  }
  scope = trim(scope + 7);
  if (strcmp(scope, "*") == 0) {
    e->tok.wildcard = true;
    return flush_entry(e, out);
  }
  e->open = true;
  return add_tenant(e, scope);
}

tw_status api_tokens_parse(const char *text, api_tokens *out, tw_error *err) {
  memset(out, 0, sizeof *out);
  if (!text || !*text) return TW_OK;
  char *copy = strdup(text);
  entry_acc e;
  tw_status st = TW_NOMEM;
  memset(&e, 0, sizeof e);
  if (!copy) goto fail;
  for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    char *piece = trim(p);
    if (!*piece) continue;
    if ((st = parse_piece(piece, &e, out)) != TW_OK) goto fail;
  }
  if ((st = flush_entry(&e, out)) != TW_OK) goto fail;
  free(copy);
  return TW_OK;
fail:
  free(copy);
  free(e.tok.tenants);
  api_tokens_free(out);
  if (err) {
    err->status = st;
    snprintf(err->message, sizeof err->message, "out of memory parsing tokens");
  }
  return st;
}

void api_tokens_free(api_tokens *t) {
  for (size_t i = 0; i < t->count; i++) free(t->items[i].tenants);
  free(t->items);
  memset(t, 0, sizeof *t);
}

bool api_actor_covers(const api_actor *a, uint64_t tenant) {
  if (!a->token || a->token->wildcard) return true;
  return bsearch(&tenant, a->token->tenants, a->token->ntenants, sizeof tenant, cmp_u64) != NULL;
}

bool api_auth_check(const api_tokens *t, const char *value, api_actor *out, api_fail *f) {
  if (!value) {
    api_fail_set(f, API_ERR_UNAUTHORIZED, "missing bearer token");
    return false;
  }
  size_t n = strlen(value);
  if (n > AUTH_VALUE_MAX) {
    api_fail_set(f, API_ERR_INVALID_AUTH, "authorization header is too long");
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      api_fail_set(f, API_ERR_INVALID_AUTH, "authorization header holds control bytes");
      return false;
    }
  }
  if (n < 7 || strncasecmp(value, "bearer", 6) != 0 || !is_blank(value[6])) {
    api_fail_set(f, API_ERR_UNAUTHORIZED, "expected a bearer token");
    return false;
  }
  const char *tok = value + 7;
  while (is_blank(*tok)) tok++;
  size_t len = strlen(tok);
  while (len > 0 && is_blank(tok[len - 1])) len--;
  if (len == 0) {
    api_fail_set(f, API_ERR_INVALID_AUTH, "empty bearer token");
    return false;
  }
  uint8_t d[32];
  digest(tok, len, d);
  size_t found = SIZE_MAX;
  for (size_t i = 0; i < t->count; i++) {
    /* Select without branching on the comparison. */
    size_t eq = (size_t)(CRYPTO_memcmp(d, t->items[i].digest, 32) == 0);
    size_t mask = (size_t)0 - eq;
    found = (found & ~mask) | (i & mask);
  }
  if (found == SIZE_MAX) {
    api_fail_set(f, API_ERR_UNAUTHORIZED, "unknown bearer token");
    return false;
  }
  out->token = &t->items[found];
  return true;
}
