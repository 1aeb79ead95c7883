/* Error kinds and responses: the envelope {"error":{"kind","message"}},
 * the mapping from executor errors to the API's kinds, and the small
 * encoders the handlers share (base64, UTF-8 check, clocks).
 *
 * Messages are sanitised here once: an executor error never carries its
 * instance id, a path or an engine message chain into a response; only
 * the kind's own message and, for traps, the trap's name. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_int.h"

static const struct {
  unsigned status;
  const char *kind;
} kinds[API_ERR_COUNT] = {
#define API__X(name, status, kind) {status, kind},
    API_ERROR_LIST(API__X)
#undef API__X
};

const char *api_error_kind(api_error e) {
  return e < API_ERR_COUNT ? kinds[e].kind : "internal";
}

unsigned api_error_status(api_error e) {
  return e < API_ERR_COUNT ? kinds[e].status : 500;
}

void api_fail_set(api_fail *f, api_error kind, const char *fmt, ...) {
  va_list ap;
  f->kind = kind;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
}

void api_fail_from_exec(api_fail *f, const tw_exec_error *e) {
  /* Argument and result-type messages describe the caller's own request
   * (export name, parameter types) and say nothing about the host. */
  const char *own = e->base.message[0] ? e->base.message : NULL;
  switch (e->kind) {
  case TW_EXEC_ERR_MISSING_EXPORT:
    api_fail_set(f, API_ERR_MISSING_EXPORT, "the module has no such exported function");
    return;
  case TW_EXEC_ERR_TIMEOUT:
    api_fail_set(f, API_ERR_INVOKE_TIMEOUT, "invocation exceeded its %llu ms deadline",
                 (unsigned long long)e->deadline_ms);
    return;
  case TW_EXEC_ERR_MODULE_MEMORY_TOO_LARGE:
    api_fail_set(f, API_ERR_MODULE_MEMORY_TOO_LARGE,
                 "module declares %llu bytes of memory; the limit is %llu",
                 (unsigned long long)e->requested, (unsigned long long)e->limit);
    return;
  case TW_EXEC_ERR_MODULE_TABLE_TOO_LARGE:
    api_fail_set(f, API_ERR_MODULE_TABLE_TOO_LARGE,
                 "module declares a table over the limit of %llu elements",
                 (unsigned long long)e->limit);
    return;
  case TW_EXEC_ERR_MODULE_TOO_LARGE:
    api_fail_set(f, API_ERR_MODULE_TOO_LARGE, "module is %llu bytes; the limit is %llu",
                 (unsigned long long)e->requested, (unsigned long long)e->limit);
    return;
  case TW_EXEC_ERR_CAPACITY_EXHAUSTED:
    api_fail_set(f, API_ERR_CAPACITY_EXHAUSTED, "instance capacity exhausted; retry later");
    return;
  case TW_EXEC_ERR_TENANT_CAPACITY_EXHAUSTED:
    api_fail_set(f, API_ERR_TENANT_CAPACITY_EXHAUSTED,
                 "tenant instance capacity exhausted; retry later");
    return;
  case TW_EXEC_ERR_UNSUPPORTED_RETURN_TYPE:
    api_fail_set(f, API_ERR_UNSUPPORTED_RETURN_TYPE, "%s",
                 own ? own : "the export returns a type JSON cannot carry (v128 or a reference)");
    return;
  case TW_EXEC_ERR_INVALID_ARGS:
    api_fail_set(f, API_ERR_INVALID_ARGS, "%s",
                 own ? own : "arguments do not match the export's parameter types");
    return;
  case TW_EXEC_ERR_TOO_MANY_ARGS:
    api_fail_set(f, API_ERR_TOO_MANY_ARGS, "at most %d arguments", TW_EXEC_MAX_ARGS);
    return;
  case TW_EXEC_ERR_INVALID_MODULE:
    api_fail_set(f, API_ERR_INVALID_WASM, "the stored module is not valid");
    return;
  case TW_EXEC_ERR_TRAP:
    api_fail_set(f, API_ERR_WASMTIME, "guest trapped: %s", tw_trap_message(e->base.trap));
    return;
  case TW_EXEC_ERR_FUEL_EXHAUSTED:
    api_fail_set(f, API_ERR_WASMTIME, "guest ran out of fuel");
    return;
  case TW_EXEC_ERR_CALL_DEPTH_EXCEEDED:
    api_fail_set(f, API_ERR_WASMTIME, "guest trapped: call stack exhausted");
    return;
  case TW_EXEC_ERR_ENGINE:
    api_fail_set(f, API_ERR_WASMTIME, "the module cannot run here (engine error)");
    return;
  case TW_EXEC_ERR_TERMINATED:
    api_fail_set(f, API_ERR_WASMTIME, "the instance was terminated");
    return;
  case TW_EXEC_ERR_NOT_FOUND:
    api_fail_set(f, API_ERR_INSTANCE_NOT_FOUND, "no such instance");
    return;
  default:
    api_fail_set(f, API_ERR_INTERNAL, "internal error");
    return;
  }
}

static void unmark_u64(char *s);

/* ---- responses -------------------------------------------------------------- */

static void resp_reset(api_resp *p) {
  free(p->body);
  memset(p, 0, sizeof *p);
}

void api_resp_json(api_req *r, unsigned status, json_t *body) {
  resp_reset(&r->resp);
  r->resp.status = status;
  r->resp.ctype = "application/json";
  r->resp.body = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (r->resp.body) unmark_u64(r->resp.body);
  if (!r->resp.body) {
    /* Out of memory while encoding: a fixed body still tells the client. */
    static const char oom[] =
        "{\"error\":{\"kind\":\"internal\",\"message\":\"out of memory\"}}";
    r->resp.status = 500;
    r->resp.body = strdup(oom);
    r->resp.kind = "internal";
  }
  r->resp.len = r->resp.body ? strlen(r->resp.body) : 0;
}

void api_resp_empty(api_req *r, unsigned status) {
  resp_reset(&r->resp);
  r->resp.status = status;
}

void api_resp_fail(api_req *r, const api_fail *f) {
  json_t *body = json_pack("{s:{s:s,s:s}}", "error", "kind", api_error_kind(f->kind),
                           "message", f->message);
  api_resp_json(r, api_error_status(f->kind), body);
  if (!r->resp.kind) r->resp.kind = api_error_kind(f->kind);
  if (f->kind == API_ERR_CAPACITY_EXHAUSTED || f->kind == API_ERR_TENANT_CAPACITY_EXHAUSTED ||
      f->kind == API_ERR_STORAGE_UNAVAILABLE)
    r->resp.retry_after = 1;
}

void api_fail_store(api_fail *f, tw_status st, const tw_error *err) {
  tw_event(st == TW_IO ? TW_LEVEL_WARN : TW_LEVEL_ERROR, TW_API_TARGET, "registry: %s",
           err ? err->message : "");
  if (st == TW_IO)
    api_fail_set(f, API_ERR_STORAGE_UNAVAILABLE, "storage is unavailable; retry later");
  else
    api_fail_set(f, API_ERR_INTERNAL, "storage error");
}

void api_resp_error(api_req *r, api_error kind, const char *fmt, ...) {
  api_fail f;
  va_list ap;
  f.kind = kind;
  va_start(ap, fmt);
  vsnprintf(f.message, sizeof f.message, fmt, ap);
  va_end(ap);
  api_resp_fail(r, &f);
}

/* ---- base64 -------------------------------------------------------------------- */

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool api_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len) {
  if (len % 4 != 0) return false;
  size_t pad = 0;
  if (len >= 1 && in[len - 1] == '=') pad++;
  if (len >= 2 && in[len - 2] == '=') pad++;
  size_t n = len / 4 * 3 - pad;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return false;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    bool last = i + 4 == len;
    for (int k = 0; k < 4; k++) {
      v[k] = b64_value((unsigned char)in[i + k]);
      /* '=' only as the last one or two characters of the last quad. */
      if (v[k] < 0 && !(last && in[i + k] == '=' && k >= 4 - (int)pad)) goto bad;
    }
    uint32_t w = (uint32_t)(v[0] << 18) | (uint32_t)(v[1] << 12) |
                 (uint32_t)((v[2] < 0 ? 0 : v[2]) << 6) | (uint32_t)(v[3] < 0 ? 0 : v[3]);
    /* Canonical form: bits under the padding must be zero. */
    if (last && pad == 2 && (w & 0xFFFF) != 0) goto bad;
    if (last && pad == 1 && (w & 0xFF) != 0) goto bad;
    buf[o++] = (uint8_t)(w >> 16);
    if (o < n) buf[o++] = (uint8_t)(w >> 8);
    if (o < n) buf[o++] = (uint8_t)w;
  }
  *out = buf;
  *out_len = n;
  return true;
bad:
  free(buf);
  return false;
}

char *api_base64_encode(const uint8_t *in, size_t len) {
  size_t n = (len + 2) / 3 * 4;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  /* EVP_EncodeBlock takes an int length; the bodies here are <= 64 MiB. */
  EVP_EncodeBlock((unsigned char *)out, in, (int)len);
  out[n] = '\0';
  return out;
}

bool api_utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= len) return false; /* truncated sequence */
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    /* Overlong forms, surrogates, and beyond U+10FFFF. */
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += n + 1;
  }
  return true;
}

int64_t api_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t api_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void api_job_error_split(const char *text, char *kind, size_t kcap, const char **message) {
  const char *sep = text ? strstr(text, ": ") : NULL;
  size_t n = sep ? (size_t)(sep - text) : 0;
  bool ok = n > 0 && n < kcap;
  for (size_t i = 0; ok && i < n; i++)
    ok = (text[i] >= 'a' && text[i] <= 'z') || text[i] == '_';
  if (ok) {
    memcpy(kind, text, n);
    kind[n] = '\0';
    *message = sep + 2;
  } else {
    snprintf(kind, kcap, "%s", "internal");
    *message = text ? text : "";
  }
}

/* ---- JSON helpers -------------------------------------------------------------- */

#define U64_MARK "\001u64:"
#define U64_KEY_MARK "\"tenant_id\":\"\\u0001u64:"

json_t *api_json_u64(uint64_t v) {
  char buf[32];
  if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
  snprintf(buf, sizeof buf, U64_MARK "%llu", (unsigned long long)v);
  return json_string(buf);
}

/* Rewrites "tenant_id":"\u0001u64:N" as "tenant_id":N in place.  A string
 * value cannot forge the key: its quotes would be escaped. */
static void unmark_u64(char *s) {
  char *p;
  while ((p = strstr(s, U64_KEY_MARK)) != NULL) {
    char *val = p + strlen("\"tenant_id\":");
    char *digits = p + strlen(U64_KEY_MARK);
    char *end = strchr(digits, '"');
    if (!end) return;
    size_t nd = (size_t)(end - digits);
    memmove(val, digits, nd);
    memmove(val + nd, end + 1, strlen(end + 1) + 1);
    s = val + nd;
  }
}

json_t *api_function_json(const tw_function_info *fn) {
  return json_pack("{s:s,s:o,s:s,s:I,s:s,s:I}", "id", fn->id, "tenant_id",
                   api_json_u64(fn->tenant), "name", fn->name, "created_unix_ms",
                   (json_int_t)fn->created_unix_ms, "sha256", fn->sha256, "size_bytes",
                   (json_int_t)fn->size);
}

bool api_ctype_is(const char *ctype, const char *type) {
  if (!ctype) return false;
  while (*ctype == ' ' || *ctype == '\t') ctype++;
  size_t n = strlen(type);
  if (strncasecmp(ctype, type, n) != 0) return false;
  char c = ctype[n];
  return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

void api_span_tenant(tw_span_t *span, uint64_t tenant) {
  char t[24];
  if (!span) return;
  snprintf(t, sizeof t, "%llu", (unsigned long long)tenant);
  tw_span_attr_str(span, "tenant", t);
}
