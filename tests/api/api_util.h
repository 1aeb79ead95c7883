/* Helpers for the gateway tests: a server on an ephemeral loopback port
 * over a fresh data directory, an HTTP client (libcurl) that returns the
 * status, body and the headers the tests look at, and guest modules.
 * Every request has a time bound (CURLOPT_TIMEOUT), and every wait loop a
 * bound on its count. */
#ifndef TW_API_TEST_UTIL_H
#define TW_API_TEST_UTIL_H

#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tensorwasm/api.h"
#include "tensorwasm/exec.h"
#include "tensorwasm/registry.h"

#define HTTP_TIMEOUT_S 60L

/* ---- data directories ------------------------------------------------------- */

static inline void tu_make_dir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/tw-api-test-XXXXXX");
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    abort();
  }
}

static inline int tu_rm_entry(const char *path, const struct stat *sb, int flag,
                              struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static inline void tu_rm_tree(const char *dir) {
  nftw(dir, tu_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- a server in this process ------------------------------------------------ */

typedef struct tu_server {
  char dir[64];
  tw_registry_t *reg;
  tw_exec_t *exec;
  tw_api_t *api;
  char base[64]; /* http://127.0.0.1:PORT */
} tu_server;

/* Starts a server over a fresh directory (or `dir` when it is not NULL);
 * `cfg` may be NULL (defaults, dev mode) and its registry/exec fields are
 * filled here; `ecfg` NULL is the executor's defaults.  False (with a
 * message) on error. */
static inline bool tu_start_with(tu_server *s, tw_api_config *cfg,
                                 const tw_registry_options *ropt,
                                 const tw_exec_config *ecfg, const char *dir) {
  tw_api_config local;
  tw_error err;
  tw_exec_error eerr;
  memset(s, 0, sizeof *s);
  if (dir) snprintf(s->dir, sizeof s->dir, "%s", dir);
  else tu_make_dir(s->dir, sizeof s->dir);
  if (!cfg) {
    tw_api_config_init(&local);
    local.tokens = "";
    cfg = &local;
  }
  if (tw_registry_open(s->dir, ropt, &s->reg, &err) != TW_OK) {
    fprintf(stderr, "  registry: %s\n", err.message);
    return false;
  }
  tw_exec_error_clear(&eerr);
  if (tw_exec_new(ecfg, &s->exec, &eerr) != TW_OK) {
    fprintf(stderr, "  exec: %s\n", eerr.base.message);
    return false;
  }
  cfg->registry = s->reg;
  cfg->exec = s->exec;
  if (tw_api_start(cfg, &s->api, &err) != TW_OK) {
    fprintf(stderr, "  api: %s\n", err.message);
    return false;
  }
  snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", (unsigned)tw_api_port(s->api));
  return true;
}

static inline bool tu_start(tu_server *s, tw_api_config *cfg,
                            const tw_registry_options *ropt) {
  return tu_start_with(s, cfg, ropt, NULL, NULL);
}

/* Stops the server; keeps its directory when `keep` (for a restart). */
static inline void tu_stop_keep(tu_server *s, bool keep) {
  tw_api_stop(s->api);
  tw_exec_free(s->exec);
  tw_registry_close(s->reg);
  if (!keep) tu_rm_tree(s->dir);
  memset(s, 0, sizeof *s);
}

static inline void tu_stop(tu_server *s) { tu_stop_keep(s, false); }

/* ---- HTTP ------------------------------------------------------------------------ */

typedef struct tu_resp {
  long status;
  char *body;         /* NUL-terminated, malloc'd */
  size_t len;
  char trace_id[64];  /* x-trace-id, "" when absent */
  char request_id[64];
  char retry_after[16];
  char allow[64];
  char ctype[128];
} tu_resp;

static inline void tu_resp_free(tu_resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static inline size_t tu_body_cb(char *p, size_t size, size_t n, void *user) {
  tu_resp *r = user;
  size_t add = size * n;
  char *b = realloc(r->body, r->len + add + 1);
  if (!b) return 0;
  memcpy(b + r->len, p, add);
  r->body = b;
  r->len += add;
  b[r->len] = '\0';
  return add;
}

static inline void tu_copy_header(const char *line, size_t n, const char *name, char *out,
                                  size_t cap) {
  size_t k = strlen(name);
  if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':') return;
  const char *v = line + k + 1;
  const char *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  size_t len = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
  memcpy(out, v, len);
  out[len] = '\0';
}

static inline size_t tu_header_cb(char *p, size_t size, size_t n, void *user) {
  tu_resp *r = user;
  size_t len = size * n;
  tu_copy_header(p, len, "x-trace-id", r->trace_id, sizeof r->trace_id);
  tu_copy_header(p, len, "x-request-id", r->request_id, sizeof r->request_id);
  tu_copy_header(p, len, "retry-after", r->retry_after, sizeof r->retry_after);
  tu_copy_header(p, len, "allow", r->allow, sizeof r->allow);
  tu_copy_header(p, len, "content-type", r->ctype, sizeof r->ctype);
  return len;
}

/* One request.  `headers` is NULL-terminated ("Name: value" lines) or
 * NULL; body may be NULL.  *out is filled (status 0 when the request did
 * not complete). */
static inline void tu_http(const char *method, const char *url, const char *const *headers,
                           const void *body, size_t body_len, tu_resp *out) {
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  memset(out, 0, sizeof *out);
  out->body = calloc(1, 1);
  if (!c) return;
  for (size_t i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
  /* No "Expect: 100-continue" round trip. */
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_body_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tu_header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static inline void tu_http_json(const char *method, const char *url, const char *const *extra,
                                const char *json, tu_resp *out) {
  const char *hs[16];
  size_t n = 0;
  for (size_t i = 0; extra && extra[i] && n < 14; i++) hs[n++] = extra[i];
  hs[n++] = "Content-Type: application/json";
  hs[n] = NULL;
  tu_http(method, url, hs, json, json ? strlen(json) : 0, out);
}

/* The "kind" of an error envelope, "" when the body is not one. */
static inline const char *tu_kind(const tu_resp *r, char *buf, size_t cap) {
  json_error_t jerr;
  json_t *doc = json_loads(r->body ? r->body : "", JSON_ALLOW_NUL, &jerr);
  const char *k = json_string_value(json_object_get(json_object_get(doc, "error"), "kind"));
  snprintf(buf, cap, "%s", k ? k : "");
  json_decref(doc);
  return buf;
}

/* A string member of the JSON body, "" when absent. */
static inline const char *tu_str(const tu_resp *r, const char *key, char *buf, size_t cap) {
  json_error_t jerr;
  json_t *doc = json_loads(r->body ? r->body : "", JSON_ALLOW_NUL, &jerr);
  const char *v = json_string_value(json_object_get(doc, key));
  snprintf(buf, cap, "%s", v ? v : "");
  json_decref(doc);
  return buf;
}

/* ---- guests ------------------------------------------------------------------------ */

static inline uint8_t *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    *len = (size_t)n;
  } else {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static inline char *tu_b64(const uint8_t *in, size_t len) {
  char *out = malloc((len + 2) / 3 * 4 + 1);
  if (out) EVP_EncodeBlock((unsigned char *)out, in, (int)len);
  return out;
}

/* Path of a test guest built by cmake/api.cmake. */
static inline const char *tu_guest(const char *name, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/tests/api/%s.wasm", TW_BUILD_DIR, name);
  return buf;
}

/* Deploys guest `name` as tenant header `tenant_hdr` (NULL: none) with
 * auth header `auth` (NULL: none); writes the id.  False on failure. */
static inline bool tu_deploy(const char *base, const char *name, const char *auth,
                             const char *tenant_hdr, char id[64]) {
  char path[512], url[1024];
  size_t len;
  uint8_t *wasm = tu_read_file(tu_guest(name, path, sizeof path), &len);
  if (!wasm) {
    fprintf(stderr, "  cannot read %s\n", path);
    return false;
  }
  char *b64 = tu_b64(wasm, len);
  free(wasm);
  json_t *doc = json_pack("{s:s,s:s}", "name", name, "wasm_b64", b64);
  char *text = json_dumps(doc, 0);
  const char *hs[3] = {auth, NULL, NULL};
  if (!auth) hs[0] = tenant_hdr;
  else hs[1] = tenant_hdr;
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions", base);
  tu_http_json("POST", url, hs, text, &r);
  bool ok = r.status == 200;
  if (ok) tu_str(&r, "id", id, 64);
  else fprintf(stderr, "  deploy %s: %ld %s\n", name, r.status, r.body);
  tu_resp_free(&r);
  free(text);
  json_decref(doc);
  free(b64);
  return ok && id[0];
}

static inline void tu_sleep_ms(long ms) {
  nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

#endif
