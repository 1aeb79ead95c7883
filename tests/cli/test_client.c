/* The CLI's client commands against a live `serve` (a child process):
 * deploy, invoke (text and json output), metrics, bench and snapshot
 * save/restore between two servers, with
 * TENSOR_WASM_TOKEN, --tenant, the plain-http warning, the refusal of
 * user:pass@ URLs, and every documented exit status: 1 when the server
 * says no or cannot be reached, 2 when the input is refused here, 3 when
 * a server answers 404 without a TensorWasm error. */
#include <netinet/in.h>
#include <pthread.h>

#include "../api/test_ops_util.h"
#include "test.h"

typedef struct run_out {
  int status;
  char *out, *err;
} run_out;

static void run_free(run_out *r) {
  free(r->out);
  free(r->err);
  memset(r, 0, sizeof *r);
}

/* Runs the CLI with `args` (NULL-terminated) and extra environment. */
static void cli(const char *const *args, const char *const *env, run_out *r) {
  char dir[64], out[128], err[128];
  char *argv[32];
  size_t na = 0, n = 0, k = 0;
  posix_spawn_file_actions_t fa;
  pid_t pid;
  memset(r, 0, sizeof *r);
  r->status = -1;
  tu_make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(err, sizeof err, "%s/err", dir);
  argv[na++] = TW_CLI_PATH;
  for (size_t i = 0; args[i] && na < 31; i++) argv[na++] = (char *)args[i];
  argv[na] = NULL;
  while (environ[n]) n++;
  char **e = calloc(n + 16, sizeof *e);
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "TENSOR_WASM_", 12) != 0) e[k++] = environ[i];
  for (size_t i = 0; env && env[i] && k < n + 15; i++) e[k++] = (char *)env[i];
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (posix_spawn(&pid, TW_CLI_PATH, &fa, NULL, argv, e) == 0) {
    int st;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  free(e);
  r->out = ops_slurp(out);
  r->err = ops_slurp(err);
  tu_rm_tree(dir);
}

#define CLI(r, want, env, ...)                                                     \
  do {                                                                             \
    const char *args_[] = {__VA_ARGS__, NULL};                                     \
    cli(args_, env, &(r));                                                         \
    if ((r).status != (want))                                                      \
      TW__FAIL("exit %d, want %d; stdout: %s; stderr: %s", (r).status, (want),     \
               (r).out, (r).err);                                                  \
  } while (0)

static const char *const TOK[] = {"TENSOR_WASM_TOKEN=tok", NULL};
static const char *const BADTOK[] = {"TENSOR_WASM_TOKEN=nope", NULL};

static bool server(ops_proc *p) {
  const char *env[] = {"TENSOR_WASM_API_TOKENS=tok:tenant=1,2,scrape:tenant=9",
                       "TENSOR_WASM_API_METRICS_TOKEN=scrape",
                       "TENSOR_WASM_API_AUDIT_LOG=none", NULL};
  return ops_serve(p, env, NULL);
}

static char *calc_path(char *buf, size_t cap) { return (char *)tu_guest("calc", buf, cap); }

TEST(deploy_invoke_and_their_failures) {
  ops_proc p;
  run_out r;
  char calc[512], id[64];
  ASSERT(server(&p));
  calc_path(calc, sizeof calc);
  CLI(r, 0, TOK, "deploy", calc, "--server", p.base, "--tenant", "1");
  ASSERT_EQ_INT(strlen(r.out), 37); /* a UUID and a newline */
  snprintf(id, sizeof id, "%.36s", r.out);
  ASSERT_EQ_STR(r.err, "");
  run_free(&r);
  /* text: the server's answer, indented */
  CLI(r, 0, TOK, "invoke", id, "--server", p.base, "--tenant", "1", "--export", "add", "--args",
      "[2, 40]");
  ASSERT_CONTAINS(r.out, "\"function_id\": \"");
  ASSERT_CONTAINS(r.out, "\"result\": [\n    42\n  ]");
  run_free(&r);
  /* json: one line {id, export, response}; --tenant before the command */
  CLI(r, 0, TOK, "--tenant", "1", "invoke", id, "--server", p.base, "--export=add",
      "--args=[1,2]", "--output", "json");
  char want[256];
  snprintf(want, sizeof want, "{\"id\":\"%s\",\"export\":\"add\",\"response\":{", id);
  ASSERT(strncmp(r.out, want, strlen(want)) == 0);
  ASSERT_CONTAINS(r.out, "\"result\":[3]}}\n");
  ASSERT_EQ_INT(ops_count_lines(r.out, "\""), 1);
  run_free(&r);
  /* The export defaults to _start and is always sent: no fallback. */
  CLI(r, 1, TOK, "invoke", id, "--server", p.base, "--tenant", "1");
  ASSERT_CONTAINS(r.err, "server returned 400 (missing_export)");
  ASSERT_EQ_STR(r.out, "");
  run_free(&r);
  /* The server says no: exit 1 with its kind. */
  CLI(r, 1, TOK, "invoke", id, "--server", p.base, "--tenant", "2", "--export", "add", "--args",
      "[1,1]");
  ASSERT_CONTAINS(r.err, "server returned 403 (tenant_scope_denied)");
  run_free(&r);
  CLI(r, 1, TOK, "invoke", id, "--server", p.base, "--tenant", "5");
  ASSERT_CONTAINS(r.err, "403 (tenant_scope_denied)"); /* outside the token's scope */
  run_free(&r);
  CLI(r, 1, BADTOK, "invoke", id, "--server", p.base, "--tenant", "1");
  ASSERT_CONTAINS(r.err, "server returned 401 (unauthorized)");
  run_free(&r);
  CLI(r, 1, NULL, "deploy", calc, "--server", p.base);
  ASSERT_CONTAINS(r.err, "401 (unauthorized)");
  run_free(&r);
  CLI(r, 1, TOK, "invoke", "no-such-function", "--server", p.base, "--tenant", "1");
  ASSERT_CONTAINS(r.err, "server returned 404 (not_found)");
  run_free(&r);
  CLI(r, 1, TOK, "deploy", TW_SOURCE_DIR "/README.md", "--server", p.base, "--tenant", "1");
  ASSERT_CONTAINS(r.err, "400 (invalid_wasm)");
  run_free(&r);
  CLI(r, 0, TOK, "deploy", calc, "--server", p.base, "--name", "my calc", "--tenant", "1");
  run_free(&r);
  /* Refused here (2), before anything is sent. */
  CLI(r, 2, TOK, "invoke", "a/b", "--server", p.base);
  ASSERT_CONTAINS(r.err, "ID holds a character");
  run_free(&r);
  CLI(r, 2, TOK, "invoke", "..", "--server", p.base);
  run_free(&r);
  CLI(r, 2, TOK, "invoke", id, "--server", p.base, "--args", "{\"a\":1}");
  ASSERT_CONTAINS(r.err, "--args must be a JSON array");
  run_free(&r);
  CLI(r, 2, TOK, "invoke", id, "--server", p.base, "--args", "[1,");
  ASSERT_CONTAINS(r.err, "--args is not valid JSON");
  run_free(&r);
  CLI(r, 2, TOK, "invoke", id, "--server", p.base, "--output", "yaml");
  run_free(&r);
  CLI(r, 2, TOK, "invoke", id);
  ASSERT_CONTAINS(r.err, "--server URL is required");
  run_free(&r);
  CLI(r, 2, TOK, "deploy", calc, "--server", "ftp://127.0.0.1/");
  ASSERT_CONTAINS(r.err, "must start with http:// or https://");
  run_free(&r);
  CLI(r, 2, TOK, "deploy", calc, "--server", "http://user:hunter2@127.0.0.1:1/");
  ASSERT_CONTAINS(r.err, "embedded credentials");
  ASSERT(strstr(r.err, "hunter2") == NULL); /* the password is not repeated */
  run_free(&r);
  CLI(r, 2, TOK, "deploy", "/tmp", "--server", p.base);
  ASSERT_CONTAINS(r.err, "is not a regular file");
  run_free(&r);
  CLI(r, 1, TOK, "deploy", "/nonexistent.wasm", "--server", p.base);
  run_free(&r);
  CLI(r, 2, TOK, "deploy", calc, "--server", p.base, "--tenant", "-1");
  ASSERT_CONTAINS(r.err, "--tenant needs");
  run_free(&r);
  CLI(r, 2, TOK, "deploy", calc, "--server", p.base, "--frobnicate", "1");
  run_free(&r);
  CLI(r, 0, NULL, "invoke", "--help");
  ASSERT_CONTAINS(r.out, "--output text|json");
  run_free(&r);
  ASSERT_EQ_INT(ops_stop(&p), 0);
  ops_cleanup(&p);
}

TEST(metrics_with_and_without_the_token) {
  ops_proc p;
  run_out r;
  ASSERT(server(&p));
  const char *scrape[] = {"TENSOR_WASM_TOKEN=scrape", NULL};
  CLI(r, 0, scrape, "metrics", "--server", p.base);
  ASSERT_CONTAINS(r.out, "# TYPE tensor_wasm_http_requests_total counter");
  run_free(&r);
  CLI(r, 1, TOK, "metrics", "--server", p.base);
  ASSERT_CONTAINS(r.err, "server returned 401");
  run_free(&r);
  CLI(r, 2, TOK, "metrics", "extra", "--server", p.base);
  run_free(&r);
  ops_cleanup(&p);
}

/* A server that answers every request with a bare 404 (no TensorWasm
 * envelope): the CLI's exit 3. */
typedef struct bare404 {
  int fd;
  uint16_t port;
} bare404;

static void *bare404_main(void *arg) {
  bare404 *b = arg;
  for (int served = 0; served < 4; served++) { /* bounded: the test makes 2 requests */
    int c = accept(b->fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[4096];
    ssize_t n = read(c, buf, sizeof buf); /* headers of a small GET fit */
    (void)n;
    static const char resp[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
                                "Connection: close\r\n\r\nnot found";
    ssize_t w = write(c, resp, sizeof resp - 1);
    (void)w;
    close(c);
  }
  return NULL;
}

TEST(a_404_without_an_envelope_is_exit_3_and_an_unreachable_server_exit_1) {
  bare404 b;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  pthread_t th;
  run_out r;
  char base[64], id[] = "abc";
  b.fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(b.fd >= 0);
  ASSERT(bind(b.fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(b.fd, 4) == 0);
  ASSERT(getsockname(b.fd, (struct sockaddr *)&a, &len) == 0);
  b.port = ntohs(a.sin_port);
  pthread_create(&th, NULL, bare404_main, &b);
  snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)b.port);
  CLI(r, 3, NULL, "metrics", "--server", base);
  ASSERT_CONTAINS(r.err, "does not offer this route");
  run_free(&r);
  CLI(r, 3, NULL, "invoke", id, "--server", base);
  run_free(&r);
  shutdown(b.fd, SHUT_RDWR);
  close(b.fd);
  pthread_join(th, NULL);
  /* Nobody listens there any more. */
  CLI(r, 1, NULL, "metrics", "--server", base);
  ASSERT_CONTAINS(r.err, "GET ");
  run_free(&r);
}

TEST(plain_http_token_warning_only_off_loopback) {
  run_out r;
  /* 0.0.0.0 is not a loopback name; connecting to it fails at once. */
  CLI(r, 1, TOK, "metrics", "--server", "http://0.0.0.0:1");
  ASSERT_CONTAINS(r.err, "warning: sending TENSOR_WASM_TOKEN over plain http");
  run_free(&r);
  CLI(r, 1, TOK, "metrics", "--server", "http://127.0.0.1:1");
  ASSERT(strstr(r.err, "warning") == NULL);
  run_free(&r);
  CLI(r, 1, TOK, "metrics", "--server", "http://localhost:1/");
  ASSERT(strstr(r.err, "warning") == NULL);
  run_free(&r);
  CLI(r, 1, NULL, "metrics", "--server", "http://0.0.0.0:1");
  ASSERT(strstr(r.err, "warning") == NULL); /* no token, nothing to leak */
  run_free(&r);
}

TEST(bench_prints_nearest_rank_percentiles) {
  run_out r;
  char calc[512];
  calc_path(calc, sizeof calc);
  CLI(r, 0, NULL, "bench", calc, "--export", "none", "--n", "25");
  ASSERT_CONTAINS(r.out, "bench: export=`none` iterations=25\n");
  ASSERT_CONTAINS(r.out, "| P50       | ");
  ASSERT_CONTAINS(r.out, "| P95       | ");
  ASSERT_CONTAINS(r.out, "| P99       | ");
  ASSERT_CONTAINS(r.out, "| max       | ");
  ASSERT_EQ_INT(ops_count_lines(r.out, "+-----------+--------------+"), 3);
  run_free(&r);
  CLI(r, 2, NULL, "bench", calc, "--export", "none", "--n", "0");
  ASSERT_CONTAINS(r.err, "--n needs");
  run_free(&r);
  CLI(r, 2, NULL, "bench", calc, "--export", "nosuch", "--n", "2");
  run_free(&r);
  CLI(r, 2, NULL, "bench", calc, "--export", "add", "--n", "2"); /* needs arguments */
  run_free(&r);
  CLI(r, 2, NULL, "bench", TW_SOURCE_DIR "/README.md", "--export", "none");
  run_free(&r);
  CLI(r, 2, NULL, "bench");
  run_free(&r);
}

#define SNAP_KEY "TENSOR_WASM_API_SNAPSHOT_HMAC_KEY=" \
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* `snapshot save` on one server, `snapshot restore` on another with the
 * same key: the restored function answers as the original (its
 * initialiser's state); another tenant, a changed byte and bad usage are
 * refused with the documented exit statuses. */
TEST(snapshot_save_and_restore_between_servers) {
  const char *env[] = {"TENSOR_WASM_API_TOKENS=tok:tenant=1,2", "TENSOR_WASM_API_AUDIT_LOG=none",
                       SNAP_KEY, NULL};
  ops_proc a, b;
  run_out r;
  char wasm[512], id[64], fid[64], file[128], dir[64];
  ASSERT(ops_serve(&a, env, NULL));
  ASSERT(ops_serve(&b, env, NULL));
  tu_make_dir(dir, sizeof dir);
  snprintf(file, sizeof file, "%s/fn.snap", dir);
  tu_guest("initcount", wasm, sizeof wasm);
  CLI(r, 0, TOK, "deploy", wasm, "--server", a.base, "--tenant", "1");
  snprintf(id, sizeof id, "%.36s", r.out);
  run_free(&r);
  CLI(r, 0, TOK, "snapshot", "save", "--function", id, "--output", file, "--server", a.base,
      "--tenant", "1");
  ASSERT_CONTAINS(r.out, "bytes, signed");
  run_free(&r);
  CLI(r, 0, TOK, "--tenant", "1", "snapshot", "restore", "--input", file, "--server", b.base);
  ASSERT_EQ_INT(strlen(r.out), 37);
  snprintf(fid, sizeof fid, "%.36s", r.out);
  run_free(&r);
  CLI(r, 0, TOK, "invoke", fid, "--server", b.base, "--tenant", "1", "--export", "state");
  ASSERT_CONTAINS(r.out, "\"result\": [\n    4249\n  ]");
  run_free(&r);
  /* Another tenant's snapshot. */
  CLI(r, 1, TOK, "snapshot", "restore", "--input", file, "--server", b.base, "--tenant", "2");
  ASSERT_CONTAINS(r.err, "server returned 403 (tenant_scope_denied)");
  run_free(&r);
  /* One changed byte. */
  size_t len = 0;
  uint8_t *bytes = tu_read_file(file, &len);
  ASSERT(bytes && len > 100);
  bytes[len / 2] ^= 0x40;
  FILE *f = fopen(file, "wb");
  ASSERT(f);
  ASSERT_EQ_INT(fwrite(bytes, 1, len, f), len);
  fclose(f);
  free(bytes);
  CLI(r, 1, TOK, "snapshot", "restore", "--input", file, "--server", b.base, "--tenant", "1");
  ASSERT_CONTAINS(r.err, "server returned 403 (snapshot_signature_invalid)");
  run_free(&r);
  /* Usage: refused here, nothing sent. */
  CLI(r, 2, TOK, "snapshot", "save", "--function", id, "--server", a.base);
  ASSERT_CONTAINS(r.err, "--output");
  run_free(&r);
  CLI(r, 2, TOK, "snapshot", "restore", "--input", file, "--server", b.base, "--bogus", "1");
  run_free(&r);
  CLI(r, 0, NULL, "snapshot", "save", "--help");
  ASSERT_CONTAINS(r.out, "snapshot save --function ID --output PATH --server URL");
  run_free(&r);
  unlink(file);
  rmdir(dir);
  ops_stop(&a);
  ops_stop(&b);
}

TEST_MAIN()
