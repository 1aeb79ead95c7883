/* The CLI's client commands, as the original's:
 *
 *   deploy FILE --server URL [--name NAME]
 *   invoke ID --server URL [--export NAME] [--args JSON] [--output text|json]
 *   metrics --server URL
 *   bench FILE [--export NAME] [--n N]            (local, no server)
 *   snapshot save --function ID --output PATH --server URL
 *   snapshot restore --input PATH --server URL [--name NAME]
 *
 * plus `--tenant N` anywhere (also before the command), which sends
 * X-TensorWasm-Tenant when N is not 0.  The bearer token comes from
 * TENSOR_WASM_TOKEN.  A URL with user:pass@ is refused (the password would
 * end up in logs); sending the token over plain http to a host that is
 * not loopback is allowed but warned about, once.
 *
 * Exit statuses (cli.h): 0 ok; 1 the request failed or the server said
 * no; 2 refused here before anything was sent (usage, URL, id, --args,
 * a file that is not a module); 3 the server answered 404 without a
 * TensorWasm error envelope (it does not offer the route).
 *
 * Whatever the server sends is printed without control bytes, so a
 * hostile server cannot drive the terminal. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tensorwasm/exec.h"

#define CLIENT_TIMEOUT_S 60L
#define CLIENT_CONNECT_TIMEOUT_S 10L
#define CLIENT_MAX_RESPONSE (16u << 20) /* the original's bound */
#define CLIENT_MAX_WASM (64u << 20)     /* the server's body limit */
#define CLIENT_MAX_SNAPSHOT (256u << 20) /* the original's --max-restore-bytes cap */
/* A saved envelope is sent back as base64 in a body of at most 64 MiB. */
#define CLIENT_MAX_ENVELOPE (48u << 20)
#define BENCH_MAX_N 10000000u

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What every HTTP command shares. */
typedef struct client_ctx {
  const char *server; /* validated, without trailing '/' */
  size_t server_len;
  uint64_t tenant;
  const char *token;  /* TENSOR_WASM_TOKEN; NULL: none */
} client_ctx;

typedef struct client_resp {
  long status;
  char *body;
  size_t len;
  size_t max;     /* 0: CLIENT_MAX_RESPONSE */
  bool too_large;
} client_resp;

/* ---- URL and identity ------------------------------------------------------ */

static bool host_is_loopback(const char *h, size_t n) {
  if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 3 && strncmp(h, "::1", 3) == 0))
    return true;
  return n > 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") >= n;
}

/* http(s)://authority[/...]; no userinfo.  The message never repeats the
 * URL: it may hold a password. */
static int url_check(const char *url, bool *plain_public) {
  const char *rest;
  bool plain = false;
  if (strncmp(url, "http://", 7) == 0) rest = url + 7, plain = true;
  else if (strncmp(url, "https://", 8) == 0) rest = url + 8;
  else {
    cli_fail("--server must start with http:// or https://");
    return -1;
  }
  size_t alen = strcspn(rest, "/?#");
  if (alen == 0) {
    cli_fail("--server has no host");
    return -1;
  }
  if (memchr(rest, '@', alen)) {
    cli_fail("URLs with embedded credentials are refused; pass the token in TENSOR_WASM_TOKEN");
    return -1;
  }
  const char *h = rest, *he;
  if (*h == '[') {
    he = memchr(h, ']', alen);
    if (!he) {
      cli_fail("--server has a malformed IPv6 host");
      return -1;
    }
    h++;
  } else {
    const char *colon = memchr(h, ':', alen);
    he = colon ? colon : rest + alen;
  }
  *plain_public = plain && !host_is_loopback(h, (size_t)(he - h));
  return 0;
}

static int tenant_parse(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = v ? strtoull(v, &end, 10) : 0;
  if (!v || !*v || *v == '-' || *v == '+' || errno || *end) {
    cli_fail("--tenant needs an unsigned 64-bit integer");
    return -1;
  }
  *out = n;
  return 0;
}

static int ctx_init(client_ctx *c, const char *server) {
  bool plain_public;
  static bool warned;
  if (!server) {
    cli_fail("--server URL is required");
    return -1;
  }
  if (url_check(server, &plain_public) != 0) return -1;
  c->server = server;
  c->server_len = strlen(server);
  while (c->server_len > 0 && server[c->server_len - 1] == '/') c->server_len--;
  const char *t = getenv("TENSOR_WASM_TOKEN");
  while (t && (*t == ' ' || *t == '\t')) t++;
  c->token = t && *t ? t : NULL;
  if (c->token && strpbrk(c->token, "\r\n")) {
    cli_fail("TENSOR_WASM_TOKEN holds a line break");
    return -1;
  }
  if (c->token && plain_public && !warned) {
    warned = true;
    cli_fail("warning: sending TENSOR_WASM_TOKEN over plain http to a host that is not "
             "loopback; prefer https");
  }
  return 0;
}

/* ---- HTTP -------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *user) {
  client_resp *r = user;
  size_t add = size * n;
  if (r->len + add > (r->max ? r->max : CLIENT_MAX_RESPONSE)) {
    r->too_large = true;
    return 0;
  }
  char *b = realloc(r->body, r->len + add + 1);
  if (!b) return 0;
  memcpy(b + r->len, p, add);
  r->body = b;
  r->len += add;
  b[r->len] = '\0';
  return add;
}

/* One request to c->server + path.  -1 (printed) when no answer came. */
static int http(const client_ctx *c, const char *method, const char *path, const char *json,
                client_resp *out) {
  char *url = NULL, auth[4096], tenant[64];
  struct curl_slist *h = NULL;
  CURL *curl = curl_easy_init();
  int rc = -1;
  size_t max = out->max; /* the caller's bound survives the reset */
  memset(out, 0, sizeof *out);
  out->max = max;
  out->body = calloc(1, 1);
  if (!curl || !out->body || asprintf(&url, "%.*s%s", (int)c->server_len, c->server, path) < 0) {
    cli_fail("out of memory");
    url = NULL;
    goto done;
  }
  if (c->token) {
    if ((size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token) >= sizeof auth) {
      cli_fail("TENSOR_WASM_TOKEN is too long");
      goto done;
    }
    h = curl_slist_append(h, auth);
  }
  if (c->tenant) {
    snprintf(tenant, sizeof tenant, "X-TensorWasm-Tenant: %llu", (unsigned long long)c->tenant);
    h = curl_slist_append(h, tenant);
  }
  if (json) h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  if (json) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
  }
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* the token stays with this host */
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode cr = curl_easy_perform(curl);
  if (cr != CURLE_OK) {
    cli_fail("%s %s: %s", method, url,
             out->too_large ? "the response is larger than the client's limit"
                            : curl_easy_strerror(cr));
    goto done;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
  rc = 0;
done:
  curl_slist_free_all(h);
  if (curl) curl_easy_cleanup(curl);
  free(url);
  return rc;
}

static void resp_free(client_resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* Control bytes out (newline and tab stay), in place. */
static void sanitise(char *s) {
  char *o = s;
  for (; *s; s++)
    if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') *o++ = *s;
  *o = '\0';
}

/* A non-2xx answer as an exit status (printed). */
static int fail_status(const client_resp *r) {
  json_error_t jerr;
  json_t *doc = json_loadb(r->body, r->len, 0, &jerr);
  json_t *e = json_object_get(doc, "error");
  const char *kind = json_string_value(json_object_get(e, "kind"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  int rc = TW_EXIT_ERROR;
  if (kind && msg) {
    char *k = strdup(kind), *m = strdup(msg);
    if (k && m) {
      sanitise(k), sanitise(m);
      for (char *p = m; *p; p++) if (*p == '\n' || *p == '\t') *p = ' ';
      cli_fail("server returned %ld (%s): %s", r->status, k, m);
    }
    free(k);
    free(m);
  } else if (r->status == 404) {
    cli_fail("the server does not offer this route (404 without a TensorWasm error)");
    rc = TW_EXIT_NOT_EXPOSED;
  } else {
    char text[201];
    snprintf(text, sizeof text, "%s", r->body);
    sanitise(text);
    for (char *p = text; *p; p++) if (*p == '\n' || *p == '\t') *p = ' ';
    cli_fail("server returned %ld%s%s", r->status, text[0] ? ": " : " with an empty body", text);
  }
  json_decref(doc);
  return rc;
}

/* Base64 of len bytes, NUL-terminated (malloc'd; NULL when out of memory). */
static char *b64_encode(const uint8_t *p, size_t len) {
  char *b64 = malloc((len + 2) / 3 * 4 + 1);
  if (b64) EVP_EncodeBlock((unsigned char *)b64, p, (int)len);
  return b64;
}

/* POSTs doc to path and prints the string member `field` of the 2xx
 * answer (the id of what the server made); the exit status. */
static int post_print_id(const client_ctx *c, const char *path,
                         const json_t *doc, const char *field) {
  client_resp r = {0};
  json_t *reply = NULL;
  char *body = json_dumps(doc, JSON_COMPACT), *safe = NULL;
  int rc = TW_EXIT_ERROR;
  if (!body) {
    cli_fail("out of memory");
    return rc;
  }
  if (http(c, "POST", path, body, &r) != 0) goto done;
  if (r.status < 200 || r.status > 299) {
    rc = fail_status(&r);
    goto done;
  }
  json_error_t jerr;
  reply = json_loadb(r.body, r.len, 0, &jerr);
  const char *id = json_string_value(json_object_get(reply, field));
  if (!id) {
    cli_fail("the server's answer has no \"%s\"", field);
  } else if (!(safe = strdup(id))) {
    cli_fail("out of memory");
  } else {
    sanitise(safe);
    printf("%s\n", safe);
    rc = TW_EXIT_OK;
  }
done:
  free(safe);
  resp_free(&r);
  json_decref(reply);
  free(body);
  return rc;
}

/* ---- options ---------------------------------------------------------------- */

typedef struct client_opts {
  const char *pos;       /* FILE or ID */
  const char *server, *name, *export_name, *args, *output, *n;
  const char *function_id, *input; /* snapshot save / restore */
  uint64_t tenant;
  bool help;
} client_opts;

static bool key_is(const char *a, size_t klen, const char *name) {
  return strlen(name) == klen && strncmp(a, name, klen) == 0;
}

/* "--name VALUE" / "--name=VALUE" among `allowed` (a NULL-terminated
 * list); -1 (printed) on anything else. */
static int opts_parse(const char *cmd, int argc, char **argv, const char *const *allowed,
                      client_opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      o->help = true;
      return 0;
    }
    if (strncmp(a, "--", 2) != 0) {
      if (o->pos) {
        cli_fail("%s: unexpected argument \"%s\" (see tensor-wasm %s --help)", cmd, a, cmd);
        return -1;
      }
      o->pos = a;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t klen = eq ? (size_t)(eq - a) : strlen(a);
    const char *v = eq ? eq + 1 : NULL;
    const char **slot = NULL;
    bool known = false;
    for (size_t k = 0; allowed[k]; k++) known = known || key_is(a, klen, allowed[k]);
    if (!known) {
      cli_fail("%s: unknown option %.*s (see tensor-wasm %s --help)", cmd, (int)klen, a, cmd);
      return -1;
    }
    if (!v) {
      if (i + 1 >= argc) {
        cli_fail("%.*s needs a value", (int)klen, a);
        return -1;
      }
      v = argv[++i];
    }
    if (key_is(a, klen, "--tenant")) {
      if (tenant_parse(v, &o->tenant) != 0) return -1;
      continue;
    }
    if (key_is(a, klen, "--server")) slot = &o->server;
    else if (key_is(a, klen, "--name")) slot = &o->name;
    else if (key_is(a, klen, "--export")) slot = &o->export_name;
    else if (key_is(a, klen, "--args")) slot = &o->args;
    else if (key_is(a, klen, "--output")) slot = &o->output;
    else if (key_is(a, klen, "--function") || key_is(a, klen, "--instance"))
      slot = &o->function_id;
    else if (key_is(a, klen, "--input")) slot = &o->input;
    else slot = &o->n;
    *slot = v;
  }
  return 0;
}

/* ---- deploy ------------------------------------------------------------------- */

static const char deploy_help[] =
    "usage: tensor-wasm deploy FILE --server URL [--name NAME] [--tenant N]\n"
    "\n"
    "Uploads FILE (a module, at most 64 MiB) to POST /functions and prints the\n"
    "new function id.  NAME defaults to FILE's name without its extension.\n"
    "The bearer token is TENSOR_WASM_TOKEN.\n";

/* FILE's name without directories and its last extension. */
static char *file_stem(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  return strndup(base, n);
}

static int read_module(const char *path, uint8_t **bytes, size_t *len) {
  struct stat st;
  if (stat(path, &st) != 0) {
    cli_fail("%s: %s", path, strerror(errno));
    return TW_EXIT_ERROR;
  }
  if (!S_ISREG(st.st_mode)) {
    cli_fail("%s is not a regular file", path);
    return TW_EXIT_INVALID;
  }
  if ((uint64_t)st.st_size > CLIENT_MAX_WASM) {
    cli_fail("%s is %lld bytes; the limit is 64 MiB", path, (long long)st.st_size);
    return TW_EXIT_INVALID;
  }
  return cli_read_file(path, bytes, len) == 0 ? TW_EXIT_OK : TW_EXIT_ERROR;
}

static int cmd_deploy(const client_opts *o, const client_ctx *c) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  char *stem = NULL, *b64 = NULL;
  json_t *doc = NULL;
  int rc;
  if ((rc = read_module(o->pos, &bytes, &len)) != TW_EXIT_OK) goto done;
  rc = TW_EXIT_ERROR;
  const char *name = o->name ? o->name : (stem = file_stem(o->pos));
  if (!name || !name[strspn(name, " \t")]) {
    cli_fail("--name must not be empty");
    rc = TW_EXIT_INVALID;
    goto done;
  }
  if (!(b64 = b64_encode(bytes, len)) ||
      !(doc = json_pack("{s:s,s:s}", "name", name, "wasm_b64", b64))) {
    cli_fail("out of memory");
    goto done;
  }
  rc = post_print_id(c, "/functions", doc, "id");
done:
  json_decref(doc);
  free(b64);
  free(stem);
  free(bytes);
  return rc;
}

/* ---- invoke ------------------------------------------------------------------- */

static const char invoke_help[] =
    "usage: tensor-wasm invoke ID --server URL [--export NAME] [--args JSON]\n"
    "                          [--output text|json] [--tenant N]\n"
    "\n"
    "Calls POST /functions/ID/invoke with {\"export\": NAME, \"args\": JSON}.\n"
    "NAME defaults to _start and is always sent, so the server does not fall\n"
    "back to main.  ID is letters, digits, '.', '_' and '-'.  --output text\n"
    "(default) prints the server's answer as indented JSON; json prints\n"
    "{\"id\", \"export\", \"response\"} on one line.\n";

static int id_check(const char *id) {
  if (!id || !*id) {
    cli_fail("invoke needs a function ID (see tensor-wasm invoke --help)");
    return -1;
  }
  if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0) {
    cli_fail("ID must not be . or ..");
    return -1;
  }
  for (const char *p = id; *p; p++) {
    char ch = *p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-';
    if (!ok) {
      cli_fail("ID holds a character other than letters, digits, '.', '_' and '-'");
      return -1;
    }
  }
  return 0;
}

/* Every byte but [A-Za-z0-9] as %XX (the original's NON_ALPHANUMERIC). */
static void pct_encode(const char *s, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (alnum) {
      *out++ = (char)ch;
    } else {
      *out++ = '%';
      *out++ = hex[ch >> 4];
      *out++ = hex[ch & 15];
    }
  }
  *out = '\0';
}

static int print_invoke(const client_opts *o, const char *export_name, const client_resp *r) {
  json_error_t jerr;
  json_t *doc = json_loadb(r->body, r->len, 0, &jerr);
  char *text = NULL;
  if (o->output && strcmp(o->output, "json") == 0) {
    json_t *response = doc ? json_incref(doc) : json_stringn(r->body, r->len);
    json_t *env = json_pack("{s:s,s:s,s:o}", "id", o->pos, "export", export_name, "response",
                            response);
    text = env ? json_dumps(env, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(env);
  } else {
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : strdup(r->body);
    if (text) sanitise(text);
  }
  json_decref(doc);
  if (!text) {
    cli_fail("out of memory");
    return TW_EXIT_ERROR;
  }
  printf("%s\n", text);
  free(text);
  return TW_EXIT_OK;
}

static int cmd_invoke(const client_opts *o, const client_ctx *c) {
  const char *export_name = o->export_name ? o->export_name : "_start";
  json_t *args = NULL, *doc = NULL;
  char *body = NULL, path[512];
  client_resp r = {0};
  int rc = TW_EXIT_INVALID;
  if (id_check(o->pos) != 0) return TW_EXIT_INVALID;
  if (strlen(o->pos) > 128) {
    cli_fail("ID is longer than 128 bytes");
    return TW_EXIT_INVALID;
  }
  if (o->output && strcmp(o->output, "text") != 0 && strcmp(o->output, "json") != 0) {
    cli_fail("--output is text or json");
    return TW_EXIT_INVALID;
  }
  if (o->args) {
    json_error_t jerr;
    args = json_loads(o->args, 0, &jerr);
    if (!args) {
      cli_fail("--args is not valid JSON: %s", jerr.text);
      goto done;
    }
    if (!json_is_array(args)) {
      cli_fail("--args must be a JSON array");
      goto done;
    }
  }
  rc = TW_EXIT_ERROR;
  doc = json_pack("{s:s,s:o}", "export", export_name, "args",
                  args ? json_incref(args) : json_array());
  if (!doc || !(body = json_dumps(doc, JSON_COMPACT))) {
    cli_fail("out of memory");
    goto done;
  }
  char enc[3 * 128 + 1];
  pct_encode(o->pos, enc);
  snprintf(path, sizeof path, "/functions/%s/invoke", enc);
  if (http(c, "POST", path, body, &r) != 0) goto done;
  rc = r.status >= 200 && r.status <= 299 ? print_invoke(o, export_name, &r) : fail_status(&r);
done:
  resp_free(&r);
  json_decref(doc);
  json_decref(args);
  free(body);
  return rc;
}

/* ---- metrics ------------------------------------------------------------------- */

static const char metrics_help[] =
    "usage: tensor-wasm metrics --server URL\n"
    "\n"
    "Prints the server's GET /metrics (Prometheus text).  When the server\n"
    "gates it, TENSOR_WASM_TOKEN must hold TENSOR_WASM_API_METRICS_TOKEN.\n";

static int cmd_metrics(const client_opts *o, const client_ctx *c) {
  client_resp r = {0};
  int rc = TW_EXIT_ERROR;
  if (o->pos) {
    cli_fail("metrics takes no arguments (see tensor-wasm metrics --help)");
    return TW_EXIT_INVALID;
  }
  if (http(c, "GET", "/metrics", NULL, &r) != 0) goto done;
  if (r.status < 200 || r.status > 299) {
    rc = fail_status(&r);
    goto done;
  }
  sanitise(r.body);
  fputs(r.body, stdout);
  rc = TW_EXIT_OK;
done:
  resp_free(&r);
  return rc;
}

/* ---- bench ------------------------------------------------------------------------ */

static const char bench_help[] =
    "usage: tensor-wasm bench FILE [--export NAME] [--n N]\n"
    "\n"
    "Runs FILE locally N times (default 100) through the executor, a fresh\n"
    "instance per iteration (spawn + call NAME, default main, without\n"
    "arguments + terminate), and prints the P50/P95/P99/max latency\n"
    "(nearest rank).\n";

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: the ceil(q * n)-th smallest. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double q) {
  size_t rank = (size_t)ceil(q * (double)n);
  size_t idx = rank ? rank - 1 : 0;
  return sorted[idx < n ? idx : n - 1];
}

static void fmt_dur(uint64_t ns, char *out, size_t cap) {
  if (ns < 1000) snprintf(out, cap, "%llu ns", (unsigned long long)ns);
  else if (ns < 1000000) snprintf(out, cap, "%.2f us", (double)ns / 1e3);
  else if (ns < 1000000000) snprintf(out, cap, "%.2f ms", (double)ns / 1e6);
  else snprintf(out, cap, "%.2f s", (double)ns / 1e9);
}

static void bench_table(FILE *out, const char *export_name, uint64_t *ns, size_t n) {
  char p[4][32];
  const double qs[3] = {0.50, 0.95, 0.99};
  qsort(ns, n, sizeof *ns, cmp_u64);
  for (int i = 0; i < 3; i++) fmt_dur(percentile(ns, n, qs[i]), p[i], sizeof p[i]);
  fmt_dur(ns[n - 1], p[3], sizeof p[3]);
  fprintf(out, "bench: export=`%s` iterations=%zu\n", export_name, n);
  fputs("+-----------+--------------+\n| percentile|       latency|\n"
        "+-----------+--------------+\n", out);
  fprintf(out, "| P50       | %12s |\n| P95       | %12s |\n", p[0], p[1]);
  fprintf(out, "| P99       | %12s |\n| max       | %12s |\n", p[2], p[3]);
  fputs("+-----------+--------------+\n", out);
}

static int bench_error(const char *what, size_t iter, const tw_exec_error *xe) {
  cli_fail("%s (iteration %zu): %s", what, iter, xe->base.message);
  switch (xe->kind) {
  case TW_EXEC_ERR_INVALID_MODULE:
  case TW_EXEC_ERR_MODULE_TOO_LARGE:
  case TW_EXEC_ERR_MISSING_EXPORT:
  case TW_EXEC_ERR_INVALID_ARGS:
    return TW_EXIT_INVALID;
  case TW_EXEC_ERR_TRAP:
  case TW_EXEC_ERR_FUEL_EXHAUSTED:
  case TW_EXEC_ERR_CALL_DEPTH_EXCEEDED:
    return TW_EXIT_TRAP;
  default:
    return TW_EXIT_ERROR;
  }
}

static int cmd_bench(const client_opts *o) {
  const char *export_name = o->export_name ? o->export_name : "main";
  unsigned long long n = 100;
  uint8_t *bytes = NULL;
  size_t len = 0;
  uint64_t *ns = NULL;
  tw_exec_t *exec = NULL;
  tw_exec_error xe;
  int rc;
  tw_exec_error_clear(&xe);
  if (!o->pos) {
    cli_fail("bench needs a FILE (see tensor-wasm bench --help)");
    return TW_EXIT_INVALID;
  }
  if (o->n) {
    char *end;
    errno = 0;
    n = strtoull(o->n, &end, 10);
    if (errno || *end || end == o->n || o->n[0] == '-' || n < 1 || n > BENCH_MAX_N) {
      cli_fail("--n needs a whole number from 1 to %u", BENCH_MAX_N);
      return TW_EXIT_INVALID;
    }
  }
  if ((rc = read_module(o->pos, &bytes, &len)) != TW_EXIT_OK) goto done;
  rc = TW_EXIT_ERROR;
  if (!(ns = malloc((size_t)n * sizeof *ns))) {
    cli_fail("out of memory");
    goto done;
  }
  tw_exec_config ecfg = {.max_module_bytes = len > (64u << 20) ? len : 0};
  if (tw_exec_new(&ecfg, &exec, &xe) != TW_OK) {
    cli_fail("executor: %s", xe.base.message);
    goto done;
  }
  tw_spawn_config scfg = {.tenant_id = 1};
  for (size_t i = 0; i < n; i++) {
    tw_instance_id id;
    tw_exec_result res = {0};
    uint64_t t0 = mono_ns();
    if (tw_exec_spawn_instance(exec, &scfg, bytes, len, &id, &xe) != TW_OK) {
      rc = bench_error("spawn", i, &xe);
      goto done;
    }
    tw_status st = tw_exec_call_export_with_args_then_terminate(exec, id, export_name, NULL, 0,
                                                                &res, &xe);
    ns[i] = mono_ns() - t0;
    tw_exec_result_free(&res);
    if (st != TW_OK) {
      rc = bench_error(export_name, i, &xe);
      goto done;
    }
  }
  bench_table(stdout, export_name, ns, (size_t)n);
  rc = TW_EXIT_OK;
done:
  tw_exec_free(exec);
  free(ns);
  free(bytes);
  return rc;
}

/* ---- snapshot save / restore --------------------------------------------------- */

static const char snapshot_help[] =
    "usage: tensor-wasm snapshot save --function ID --output PATH --server URL\n"
    "                                 [--tenant N]\n"
    "       tensor-wasm snapshot restore --input PATH --server URL [--name NAME]\n"
    "                                    [--tenant N]\n"
    "\n"
    "save calls POST /snapshot/save and writes the signed envelope (the\n"
    "function's module and its initialised state, under the server's\n"
    "HMAC-SHA256 key) to PATH, replaced atomically.  --instance is accepted\n"
    "for --function.  restore sends PATH to POST /snapshot/restore, which\n"
    "checks the signature and the tenant and registers the module as a new\n"
    "function of the caller's tenant; it prints the new function's id.  The\n"
    "key stays on the servers (TENSOR_WASM_API_SNAPSHOT_HMAC_KEY, the same on\n"
    "both); nothing is signed or verified here.\n";

/* `len` bytes to `path` through a temporary file in the same directory. */
static int write_atomic(const char *path, const uint8_t *data, size_t len) {
  char *tmp = NULL;
  if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
    cli_fail("out of memory");
    return -1;
  }
  int fd = mkstemp(tmp);
  bool ok = fd >= 0;
  for (size_t off = 0; ok && off < len;) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = false;
    else off += (size_t)w;
  }
  ok = ok && fsync(fd) == 0;
  if (fd >= 0) ok = close(fd) == 0 && ok;
  ok = ok && rename(tmp, path) == 0;
  if (!ok) {
    cli_fail("%s: %s", path, strerror(errno));
    if (fd >= 0) unlink(tmp);
  }
  free(tmp);
  return ok ? 0 : -1;
}

static int cmd_snapshot_save(const client_opts *o, const client_ctx *c) {
  client_resp r = {.max = CLIENT_MAX_SNAPSHOT};
  json_t *doc = NULL, *reply = NULL;
  char *body = NULL;
  uint8_t *raw = NULL;
  int rc = TW_EXIT_ERROR;
  if (!o->function_id || !o->output || o->pos) {
    cli_fail("snapshot save needs --function ID and --output PATH (see tensor-wasm snapshot "
             "--help)");
    return TW_EXIT_INVALID;
  }
  if (id_check(o->function_id) != 0) return TW_EXIT_INVALID;
  doc = json_pack("{s:s}", "function_id", o->function_id);
  if (!doc || !(body = json_dumps(doc, JSON_COMPACT))) goto oom;
  if (http(c, "POST", "/snapshot/save", body, &r) != 0) goto done;
  if (r.status < 200 || r.status > 299) {
    rc = fail_status(&r);
    goto done;
  }
  json_error_t jerr;
  reply = json_loadb(r.body, r.len, 0, &jerr);
  json_t *b = json_object_get(reply, "snapshot_b64");
  size_t blen = json_string_length(b);
  if (!json_is_string(b) || blen == 0 || blen % 4 != 0) {
    cli_fail("the server's answer has no \"snapshot_b64\"");
    goto done;
  }
  if (!(raw = malloc(blen / 4 * 3))) goto oom;
  int n = EVP_DecodeBlock(raw, (const unsigned char *)json_string_value(b), (int)blen);
  if (n < 0) {
    cli_fail("the server's \"snapshot_b64\" is not base64");
    goto done;
  }
  const char *v = json_string_value(b);
  size_t len = (size_t)n - (v[blen - 1] == '=') - (v[blen - 2] == '=');
  if (write_atomic(o->output, raw, len) != 0) goto done;
  printf("%s: %zu bytes, signed\n", o->output, len);
  rc = TW_EXIT_OK;
  goto done;
oom:
  cli_fail("out of memory");
done:
  resp_free(&r);
  json_decref(reply);
  json_decref(doc);
  free(body);
  free(raw);
  return rc;
}

static int cmd_snapshot_restore(const client_opts *o, const client_ctx *c) {
  json_t *doc = NULL;
  char *b64 = NULL;
  uint8_t *raw = NULL;
  size_t len = 0;
  struct stat st;
  int rc = TW_EXIT_ERROR;
  if (!o->input || o->pos) {
    cli_fail("snapshot restore needs --input PATH (see tensor-wasm snapshot --help)");
    return TW_EXIT_INVALID;
  }
  if (stat(o->input, &st) == 0 && (uint64_t)st.st_size > CLIENT_MAX_ENVELOPE) {
    cli_fail("%s: larger than %u MiB", o->input, CLIENT_MAX_ENVELOPE >> 20);
    return TW_EXIT_INVALID;
  }
  if (cli_read_file(o->input, &raw, &len) != 0) return TW_EXIT_ERROR;
  if (len == 0) {
    cli_fail("%s: empty file", o->input);
    rc = TW_EXIT_INVALID;
    goto done;
  }
  if (!(b64 = b64_encode(raw, len)) ||
      !(doc = json_pack("{s:s}", "snapshot_b64", b64)) ||
      (o->name && json_object_set_new(doc, "name", json_string(o->name)) != 0)) {
    cli_fail("out of memory");
    goto done;
  }
  rc = post_print_id(c, "/snapshot/restore", doc, "function_id");
done:
  json_decref(doc);
  free(b64);
  free(raw);
  return rc;
}

/* ---- dispatch ------------------------------------------------------------------- */

int cli_cmd_client(int argc, char **argv) {
  static const char *const http_opts[] = {"--server", "--tenant", "--name", "--export",
                                          "--args", "--output", NULL};
  static const char *const bench_opts[] = {"--export", "--n", "--tenant", NULL};
  static const char *const save_opts[] = {"--server", "--tenant", "--function", "--instance",
                                          "--output", NULL};
  static const char *const restore_opts[] = {"--server", "--tenant", "--input", "--name", NULL};
  client_opts o;
  client_ctx c;
  memset(&o, 0, sizeof o);
  memset(&c, 0, sizeof c);
  /* A global --tenant before the command. */
  while (argc > 0 && strncmp(argv[0], "--tenant", 8) == 0) {
    const char *v = argv[0][8] == '=' ? argv[0] + 9 : argc > 1 ? argv[1] : NULL;
    if (tenant_parse(v, &o.tenant) != 0) return TW_EXIT_INVALID;
    int used = argv[0][8] == '=' ? 1 : 2;
    argc -= used, argv += used;
  }
  /* `snapshot save|restore` arrive here from snapshot.c as two words. */
  bool snap = argc >= 2 && strcmp(argv[0], "snapshot") == 0 &&
              (strcmp(argv[1], "save") == 0 || strcmp(argv[1], "restore") == 0);
  if (argc < 1 || (!snap && !cli_is_client_command(argv[0]))) {
    cli_fail("--tenant must be followed by deploy, invoke, metrics, bench or snapshot "
             "save|restore");
    return TW_EXIT_INVALID;
  }
  if (snap) argc--, argv++; /* "save" or "restore" is the command now */
  const char *cmd = argv[0];
  bool bench = strcmp(cmd, "bench") == 0;
  bool save = snap && strcmp(cmd, "save") == 0, restore = snap && !save;
  const char *help = snap ? snapshot_help
                     : bench ? bench_help
                     : strcmp(cmd, "deploy") == 0 ? deploy_help
                     : strcmp(cmd, "invoke") == 0 ? invoke_help
                                                  : metrics_help;
  const char *const *allowed = save ? save_opts : restore ? restore_opts
                               : bench ? bench_opts : http_opts;
  if (opts_parse(snap ? "snapshot" : cmd, argc - 1, argv + 1, allowed, &o) != 0)
    return TW_EXIT_INVALID;
  if (o.help) {
    fputs(help, stdout);
    return TW_EXIT_OK;
  }
  if (bench) return cmd_bench(&o);
  bool deploy = strcmp(cmd, "deploy") == 0, invoke = !snap && strcmp(cmd, "invoke") == 0;
  if (!snap && ((o.name && !deploy) || ((o.export_name || o.args || o.output) && !invoke))) {
    cli_fail("%s: an option of another command was given (see tensor-wasm %s --help)", cmd, cmd);
    return TW_EXIT_INVALID;
  }
  if (deploy && !o.pos) {
    cli_fail("deploy needs a FILE (see tensor-wasm deploy --help)");
    return TW_EXIT_INVALID;
  }
  if (ctx_init(&c, o.server) != 0) return TW_EXIT_INVALID;
  c.tenant = o.tenant;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = save      ? cmd_snapshot_save(&o, &c)
           : restore ? cmd_snapshot_restore(&o, &c)
           : deploy  ? cmd_deploy(&o, &c)
           : invoke  ? cmd_invoke(&o, &c)
                     : cmd_metrics(&o, &c);
  curl_global_cleanup();
  return rc;
}
