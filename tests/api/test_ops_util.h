/* Helpers for the operations tests (rate limits, audit, edge, the CLI
 * client): `serve` as a child process with a chosen environment, its
 * stdout and stderr in files, and an HTTP call that keeps every response
 * header.  Every wait has a bound on its count. */
#ifndef TW_TEST_OPS_UTIL_H
#define TW_TEST_OPS_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "api_util.h"

extern char **environ;

typedef struct ops_proc {
  pid_t pid;
  char dir[64];
  char base[64];     /* http://127.0.0.1:PORT */
  char out[128];     /* stdout file (the listening line, stdout audit) */
  char err[128];     /* stderr file */
} ops_proc;

/* Reads a whole file (NUL-terminated, malloc'd); "" when missing. */
static inline char *ops_slurp(const char *path) {
  size_t len = 0;
  uint8_t *b = tu_read_file(path, &len);
  char *s = malloc(len + 1);
  if (s && b) memcpy(s, b, len);
  if (s) s[b ? len : 0] = '\0';
  free(b);
  return s;
}

/* Starts `serve` (TW_SERVE_PATH) on an ephemeral loopback port over a
 * fresh directory.  `env` are extra NAME=VALUE entries (NULL-terminated,
 * may be NULL) on top of ours minus every TENSOR_WASM_* and OTEL_*; `args`
 * extra serve arguments.  False when it did not say "listening on". */
static inline bool ops_serve(ops_proc *p, const char *const *env, const char *const *args) {
  char *argv[32];
  size_t na = 0, n = 0, k = 0;
  posix_spawn_file_actions_t fa;
  memset(p, 0, sizeof *p);
  tu_make_dir(p->dir, sizeof p->dir);
  snprintf(p->out, sizeof p->out, "%s/stdout", p->dir);
  snprintf(p->err, sizeof p->err, "%s/stderr", p->dir);
  argv[na++] = TW_SERVE_PATH;
  argv[na++] = "--addr";
  argv[na++] = "127.0.0.1:0";
  argv[na++] = "--data-dir";
  argv[na++] = p->dir;
  for (size_t i = 0; args && args[i] && na < 30; i++) argv[na++] = (char *)args[i];
  argv[na] = NULL;
  while (environ[n]) n++;
  char **e = calloc(n + 32, sizeof *e);
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "TENSOR_WASM_", 12) != 0 && strncmp(environ[i], "OTEL_", 5) != 0)
      e[k++] = environ[i];
  for (size_t i = 0; env && env[i] && k < n + 31; i++) e[k++] = (char *)env[i];
  e[k] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&p->pid, TW_SERVE_PATH, &fa, NULL, argv, e);
  posix_spawn_file_actions_destroy(&fa);
  free(e);
  if (rc != 0) {
    p->pid = 0;
    return false;
  }
  for (int i = 0; i < 1000; i++) { /* at most ~10 s */
    char *out = ops_slurp(p->out);
    char *nl = out ? strchr(out, '\n') : NULL;
    if (nl && strncmp(out, "listening on ", 13) == 0) {
      *nl = '\0';
      snprintf(p->base, sizeof p->base, "%.63s", out + 13);
      free(out);
      return true;
    }
    free(out);
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
      p->pid = 0;
      return false;
    }
    tu_sleep_ms(10);
  }
  return false;
}

/* SIGTERM, wait; the exit status (-1 when it did not exit normally). */
static inline int ops_stop(ops_proc *p) {
  int st = 0;
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  waitpid(p->pid, &st, 0);
  p->pid = 0;
  if (WIFSIGNALED(st)) { /* a crash: say which, with what it printed */
    char *err = ops_slurp(p->err);
    fprintf(stderr, "  serve ended by signal %d; its stderr:\n%s\n", WTERMSIG(st), err ? err : "");
    free(err);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void ops_cleanup(ops_proc *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
  }
  if (p->dir[0]) tu_rm_tree(p->dir);
  memset(p, 0, sizeof *p);
}

/* ---- HTTP with every header ------------------------------------------------ */

typedef struct ops_resp {
  long status;
  char *body;
  size_t len;
  char headers[4096]; /* "name: value\n" lines, names lowercased */
  size_t hlen;
} ops_resp;

static inline size_t ops_body_cb(char *p, size_t size, size_t n, void *user) {
  ops_resp *r = user;
  size_t add = size * n;
  char *b = realloc(r->body, r->len + add + 1);
  if (!b) return 0;
  memcpy(b + r->len, p, add);
  r->body = b;
  r->len += add;
  b[r->len] = '\0';
  return add;
}

static inline size_t ops_header_cb(char *p, size_t size, size_t n, void *user) {
  ops_resp *r = user;
  size_t len = size * n, colon = 0;
  while (colon < len && p[colon] != ':') colon++;
  for (size_t i = 0; i < len && r->hlen + 1 < sizeof r->headers; i++) {
    char c = p[i];
    if (c == '\r') continue;
    if (i < colon && c >= 'A' && c <= 'Z') c = (char)(c + 32);
    r->headers[r->hlen++] = c;
  }
  r->headers[r->hlen] = '\0';
  return len;
}

/* The value of response header `name` (lowercase), "" when absent. */
static inline const char *ops_header(const ops_resp *r, const char *name, char *buf, size_t cap) {
  char needle[128];
  snprintf(needle, sizeof needle, "\n%s: ", name);
  const char *p = strstr(r->headers, needle);
  buf[0] = '\0';
  if (!p) return buf;
  p += strlen(needle);
  size_t n = strcspn(p, "\n");
  snprintf(buf, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), p);
  return buf;
}

static inline void ops_http(const char *method, const char *url, const char *const *headers,
                            const char *body, ops_resp *out) {
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  memset(out, 0, sizeof *out);
  out->body = calloc(1, 1);
  out->headers[0] = '\n';
  out->hlen = 1;
  if (!c) return;
  for (size_t i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
  h = curl_slist_append(h, "Expect:");
  if (body) h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ops_body_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ops_header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static inline void ops_resp_free(ops_resp *r) {
  free(r->body);
  r->body = NULL;
}

/* The error kind of a body, "" when none. */
static inline const char *ops_kind(const ops_resp *r, char *buf, size_t cap) {
  tu_resp t = {.body = r->body};
  return tu_kind(&t, buf, cap);
}

/* Lines of `text` that contain `needle`. */
static inline int ops_count_lines(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    if (line && strstr(line, needle)) n++;
    free(line);
    p = nl ? nl + 1 : NULL;
  }
  return n;
}

#endif
