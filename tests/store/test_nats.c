/* Tests of the registry (include/tensorwasm/registry.h) on its NATS
 * JetStream backend, against a real nats-server started here on a free
 * loopback port with its store in a temporary directory.
 *
 * The SQLite behaviour tests where they apply (functions with de-duplicated
 * bytes, tenant isolation and paging, the job state machine, the admission
 * cap, retention), then what only a cluster has: two registries ("nodes")
 * on one server sharing functions and jobs, 4 threads x 2 nodes claiming
 * 200 jobs, a node killed with SIGKILL while holding jobs (a real process,
 * re-executed from this binary), a job that keeps dying until it is given
 * up, and the server restarted mid-run (calls fail fast, then work again
 * with the data still there).
 *
 * Without nats-server this prints SKIPPED and exits 77 (ctest: skipped).
 * Each test uses its own bucket/stream prefix, so tests do not see each
 * other's state on the shared server. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nats/nats.h>

#include "tensorwasm/registry.h"
#include "test.h"

static const uint8_t WASM_A[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
static const char WASM_A_SHA[] =
    "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476";
static const uint8_t WASM_B[9] = {0, 'a', 's', 'm', 1, 0, 0, 0, 0};
static const char *FID = "11111111-2222-4333-8444-555555555555";
static const char *TRACEPARENT =
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/* ---- the server ---------------------------------------------------------- */

typedef struct server {
  pid_t pid;
  int port;
  char dir[64];
  char url[64];
} server;

static char g_nats_server[512];
static server g_srv;        /* shared by most tests */
static server *g_live[4];   /* killed at exit, whatever happens */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static bool find_server(void) {
  const char *env = getenv("TW_NATS_SERVER");
  if (env && env[0] && access(env, X_OK) == 0) {
    snprintf(g_nats_server, sizeof g_nats_server, "%s", env);
    return true;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s:/usr/sbin:/usr/local/sbin:/sbin",
           getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  for (char *save = NULL, *d = strtok_r(path, ":", &save); d;
       d = strtok_r(NULL, ":", &save)) {
    snprintf(g_nats_server, sizeof g_nats_server, "%s/nats-server", d);
    if (access(g_nats_server, X_OK) == 0)
      return true;
  }
  return false;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* Starts nats-server on s->port with its store in s->dir; waits (at most
 * 10 s) until it accepts connections. */
static bool server_start(server *s) {
  char sd[96], log[96], port[16];
  snprintf(sd, sizeof sd, "%s/store", s->dir);
  snprintf(log, sizeof log, "%s/server.log", s->dir);
  snprintf(port, sizeof port, "%d", s->port);
  s->pid = fork();
  if (s->pid < 0)
    return false;
  if (s->pid == 0) {
    /* Dies with the test even when the test aborts (no atexit then). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(g_nats_server, "nats-server", "-js", "-sd", sd, "-p", port, "-a",
          "127.0.0.1", (char *)NULL);
    _exit(127);
  }
  for (long end = now_ms() + 10000; now_ms() < end; sleep_ms(20)) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return false;
    }
    if (port_open(s->port))
      return true;
  }
  return false;
}

static void server_stop(server *s, int sig) {
  if (s->pid <= 0)
    return;
  kill(s->pid, sig);
  for (long end = now_ms() + 5000; now_ms() < end; sleep_ms(10))
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static bool server_new(server *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/tw-nats-test-XXXXXX");
  if (!mkdtemp(s->dir) || (s->port = free_port()) < 0)
    return false;
  snprintf(s->url, sizeof s->url, "nats://127.0.0.1:%d", s->port);
  for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
    if (!g_live[i]) {
      g_live[i] = s;
      break;
    }
  return server_start(s);
}

static void server_free(server *s) {
  server_stop(s, SIGTERM);
  nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
    if (g_live[i] == s)
      g_live[i] = NULL;
}

static void at_exit(void) {
  for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
    if (g_live[i])
      server_free(g_live[i]);
  nats_Close(); /* the client library's global state */
}

static void crash_child(void);

/* Runs before main: the crash child (this binary re-executed), or the
 * skip check, then the shared server. */
__attribute__((constructor)) static void setup(void) {
  if (getenv("TW_NATS_CRASH_CHILD"))
    crash_child(); /* never returns */
  if (!find_server()) {
    printf("SKIPPED: nats-server not found (PATH, /usr/sbin, "
           "$TW_NATS_SERVER); install the nats-server package to run the "
           "NATS registry tests\n");
    fflush(stdout);
    exit(77);
  }
  signal(SIGPIPE, SIG_IGN);
  atexit(at_exit);
  if (!server_new(&g_srv)) {
    fprintf(stderr, "cannot start %s (see %s/server.log)\n", g_nats_server,
            g_srv.dir);
    exit(1);
  }
}

/* ---- helpers ------------------------------------------------------------- */

static int g_prefix_seq;

/* Options for a node of cluster `prefix` on server s. */
static tw_registry_options node_opts(const server *s, const char *prefix) {
  tw_registry_options o;
  tw_registry_options_init(&o);
  o.backend = TW_REGISTRY_NATS;
  o.nats_url = s->url;
  o.nats_prefix = prefix;
  o.nats_claim_wait_ms = 50;
  return o;
}

static void new_prefix(char *out, size_t cap) {
  snprintf(out, cap, "T%d_%d", (int)getpid(), ++g_prefix_seq);
}

static tw_registry_t *open_node(const tw_registry_options *o) {
  tw_registry_t *reg = NULL;
  tw_error err;
  if (tw_registry_open("/tmp", o, &reg, &err) != TW_OK) {
    fprintf(stderr, "  open %s: %s\n", o->nats_url, err.message);
    return NULL;
  }
  return reg;
}

/* A raw client, to look at what the backend stored. */
typedef struct raw {
  natsConnection *nc;
  jsCtx *js;
} raw;

static bool raw_open(raw *r, const server *s) {
  memset(r, 0, sizeof *r);
  return natsConnection_ConnectTo(&r->nc, s->url) == NATS_OK &&
         natsConnection_JetStream(&r->js, r->nc, NULL) == NATS_OK;
}

static void raw_close(raw *r) {
  jsCtx_Destroy(r->js);
  natsConnection_Destroy(r->nc);
}

/* How many distinct subjects of stream `stream` match `filter`. */
static long subjects(raw *r, const char *stream, const char *filter) {
  jsOptions o;
  jsStreamInfo *si = NULL;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = filter;
  if (js_GetStreamInfo(&si, r->js, stream, &o, NULL) != NATS_OK)
    return -1;
  long n = si->State.Subjects ? si->State.Subjects->Count : 0;
  jsStreamInfo_Destroy(si);
  return n;
}

static long chunk_blobs(raw *r, const char *prefix) {
  char stream[64], filter[96];
  snprintf(stream, sizeof stream, "KV_%s_MODULES", prefix);
  snprintf(filter, sizeof filter, "$KV.%s_MODULES.m.*", prefix);
  return subjects(r, stream, filter);
}

static tw_status enqueue_n(tw_registry_t *reg, uint64_t tenant, int n,
                           char id[TW_UUID_LEN + 1], tw_error *err) {
  char args[32];
  snprintf(args, sizeof args, "[%d]", n);
  tw_status st = tw_registry_uuid_new(id, err);
  if (st != TW_OK)
    return st;
  tw_job_spec spec = {.id = id,
                      .function_id = FID,
                      .tenant = tenant,
                      .export_name = "run",
                      .args_json = args,
                      .traceparent = TRACEPARENT};
  return tw_registry_job_enqueue(reg, &spec, err);
}

/* Claims with retries for up to `ms` (jobs may take a moment to come). */
static bool claim_within(tw_registry_t *reg, tw_job *job, long ms) {
  tw_error err;
  for (long end = now_ms() + ms; now_ms() < end;) {
    bool claimed = false;
    if (tw_registry_job_claim(reg, job, &claimed, &err) == TW_OK && claimed)
      return true;
  }
  return false;
}

/* ---- functions ----------------------------------------------------------- */

TEST(functions_deploy_get_delete_dedupe) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  raw r;
  ASSERT(raw_open(&r, &g_srv));
  tw_error err;
  tw_function_info a, b, c, got;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "alpha", WASM_A, 8, &a, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "beta", WASM_A, 8, &b, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 2, "gamma", WASM_B, 9, &c, &err),
                TW_OK);
  ASSERT_EQ_STR(a.sha256, WASM_A_SHA);
  ASSERT_EQ_STR(a.sha256, b.sha256);
  ASSERT(strcmp(a.id, b.id) != 0);
  ASSERT_EQ_INT(chunk_blobs(&r, p), 2); /* deployed twice, stored once */

  char upper[TW_UUID_LEN + 1];
  for (int i = 0; i <= TW_UUID_LEN; i++)
    upper[i] =
        (char)(a.id[i] >= 'a' && a.id[i] <= 'f' ? a.id[i] - 32 : a.id[i]);
  ASSERT_EQ_INT(tw_registry_function_get(reg, upper, &got, &err), TW_OK);
  ASSERT_EQ_STR(got.id, a.id);
  ASSERT_EQ_STR(got.name, "alpha");
  ASSERT_EQ_U64(got.tenant, 1);
  ASSERT_EQ_U64(got.size, 8);
  ASSERT_EQ_STR(got.sha256, WASM_A_SHA);
  ASSERT_EQ_INT(got.created_unix_ms, a.created_unix_ms);

  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, c.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == 9 && memcmp(bytes, WASM_B, 9) == 0);
  free(bytes);

  ASSERT_EQ_INT(tw_registry_function_delete(reg, a.id, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_function_get(reg, a.id, &got, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, a.id, &bytes, &len, &err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(chunk_blobs(&r, p), 2); /* b still uses them */
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, b.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == 8 && memcmp(bytes, WASM_A, 8) == 0);
  free(bytes);
  ASSERT_EQ_INT(tw_registry_function_delete(reg, b.id, &err), TW_OK);
  ASSERT_EQ_INT(chunk_blobs(&r, p), 1);
  ASSERT_EQ_INT(tw_registry_function_delete(reg, b.id, &err), TW_NOT_FOUND);
  ASSERT_CONTAINS(err.message, "not found");
  ASSERT_EQ_INT(tw_registry_function_get(
                    reg, "00000000-0000-4000-8000-000000000000", &got, &err),
                TW_NOT_FOUND);

  /* A module larger than one chunk round-trips byte for byte. */
  size_t big_len = 700 * 1024 + 13;
  uint8_t *big = malloc(big_len);
  ASSERT(big);
  for (size_t i = 0; i < big_len; i++)
    big[i] = (uint8_t)(i * 2654435761u >> 13);
  tw_function_info f;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 3, "big", big, big_len, &f, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, f.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == big_len && memcmp(bytes, big, big_len) == 0);
  free(bytes);
  free(big);

  /* Survives closing every registry. */
  tw_registry_close(reg);
  reg = open_node(&o);
  ASSERT(reg);
  ASSERT_EQ_INT(tw_registry_function_get(reg, c.id, &got, &err), TW_OK);
  ASSERT_EQ_STR(got.name, "gamma");
  ASSERT_EQ_U64(got.tenant, 2);
  tw_registry_close(reg);
  raw_close(&r);
}

TEST(damaged_module_bytes_are_refused) {
  char p[32], key[128];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  tw_error err;
  tw_function_info f;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "fn", WASM_A, 8, &f, &err),
                TW_OK);
  /* Flip the bytes behind the registry's back. */
  raw r;
  ASSERT(raw_open(&r, &g_srv));
  kvStore *kv = NULL;
  char bucket[64];
  snprintf(bucket, sizeof bucket, "%s_MODULES", p);
  ASSERT_EQ_INT(js_KeyValue(&kv, r.js, bucket), NATS_OK);
  snprintf(key, sizeof key, "c.%s.0", f.sha256);
  ASSERT_EQ_INT(kvStore_Put(NULL, kv, key, "\0asm\1\0\0\1", 8), NATS_OK);
  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, f.id, &bytes, &len, &err),
                TW_IO);
  ASSERT_CONTAINS(err.message, "SHA-256 mismatch");
  ASSERT(bytes == NULL);
  kvStore_Destroy(kv);
  raw_close(&r);
  tw_registry_close(reg);
}

static size_t list_all(tw_registry_t *reg, uint64_t tenant, size_t cap,
                       tw_function_info *all, size_t max, int *pages) {
  char cursor[TW_REGISTRY_CURSOR_MAX] = "";
  size_t total = 0;
  tw_error err;
  *pages = 0;
  do {
    size_t n = 0;
    char next[TW_REGISTRY_CURSOR_MAX];
    if (total + cap > max ||
        tw_registry_function_list(reg, tenant, cursor, all + total, cap, &n,
                                  next, &err) != TW_OK)
      return SIZE_MAX;
    total += n;
    (*pages)++;
    memcpy(cursor, next, sizeof cursor);
  } while (cursor[0]);
  return total;
}

TEST(list_tenant_isolation_and_paging) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  tw_error err;
  tw_function_info f, mine[5], all[32];
  for (int i = 0; i < 5; i++)
    ASSERT_EQ_INT(
        tw_registry_function_put(reg, 7, "seven", WASM_A, 8, &mine[i], &err),
        TW_OK);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ_INT(
        tw_registry_function_put(reg, 8, "eight", WASM_B, 9, &f, &err), TW_OK);
  ASSERT_EQ_INT(
      tw_registry_function_put(reg, UINT64_MAX, "max", WASM_A, 8, &f, &err),
      TW_OK);
  int pages = 0;
  size_t n = list_all(reg, 7, 2, all, 32, &pages);
  ASSERT_EQ_INT(n, 5);
  ASSERT_EQ_INT(pages, 3);
  for (size_t i = 0; i < n; i++) {
    ASSERT_EQ_U64(all[i].tenant, 7);
    int seen = 0;
    for (size_t j = 0; j < 5; j++)
      seen += strcmp(all[i].id, mine[j].id) == 0;
    ASSERT_EQ_INT(seen, 1);
    if (i > 0) /* oldest first */
      ASSERT(all[i - 1].created_unix_ms < all[i].created_unix_ms ||
             (all[i - 1].created_unix_ms == all[i].created_unix_ms &&
              strcmp(all[i - 1].id, all[i].id) < 0));
  }
  ASSERT_EQ_INT(list_all(reg, 8, 10, all, 32, &pages), 3);
  ASSERT_EQ_INT(pages, 1);
  ASSERT_EQ_INT(list_all(reg, UINT64_MAX, 1, all, 32, &pages), 1);
  ASSERT_EQ_U64(all[0].tenant, UINT64_MAX);
  ASSERT_EQ_INT(list_all(reg, 9, 4, all, 32, &pages), 0);

  /* A cursor stays valid when the item it names is deleted meanwhile. */
  char next[TW_REGISTRY_CURSOR_MAX];
  ASSERT_EQ_INT(tw_registry_function_list(reg, 7, NULL, all, 2, &n, next, &err),
                TW_OK);
  ASSERT(n == 2 && next[0]);
  ASSERT_EQ_INT(tw_registry_function_delete(reg, all[1].id, &err), TW_OK);
  ASSERT_EQ_INT(
      tw_registry_function_list(reg, 7, next, all + 2, 10, &n, next, &err),
      TW_OK);
  ASSERT_EQ_INT(n, 3);
  ASSERT_EQ_STR(next, "");
  ASSERT_EQ_INT(list_all(reg, 7, 10, all, 32, &pages), 4);
  ASSERT_EQ_INT(
      tw_registry_function_list(reg, 7, "garbage", all, 2, &n, next, &err),
      TW_ARG);
  tw_registry_close(reg);
}

/* ---- jobs ---------------------------------------------------------------- */

TEST(job_lifecycle) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  tw_error err;
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(id, &err), TW_OK);
  uint8_t input[300];
  for (size_t i = 0; i < sizeof input; i++)
    input[i] = (uint8_t)(i * 7);
  tw_job_spec spec = {.id = id,
                      .function_id = FID,
                      .tenant = UINT64_MAX,
                      .export_name = "add",
                      .args_json = "[1, 2]",
                      .input = input,
                      .input_len = sizeof input,
                      .traceparent = TRACEPARENT};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "already exists");
  uint64_t out = 0;
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &out, &err), TW_OK);
  ASSERT_EQ_U64(out, 1); /* the duplicate was not queued */

  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_PENDING);
  ASSERT_EQ_STR(job.function_id, FID);
  ASSERT_EQ_U64(job.tenant, UINT64_MAX);
  ASSERT_EQ_STR(job.export_name, "add");
  ASSERT_EQ_STR(job.args_json, "[1, 2]");
  ASSERT(job.input_len == sizeof input &&
         memcmp(job.input, input, sizeof input) == 0);
  ASSERT_EQ_STR(job.traceparent, TRACEPARENT);
  ASSERT(!job.result_json && !job.error && job.finished_unix_ms == 0);
  tw_job_clear(&job);

  ASSERT(claim_within(reg, &job, 2000));
  ASSERT_EQ_STR(job.id, id);
  ASSERT_EQ_INT(job.status, TW_JOB_RUNNING);
  ASSERT(job.started_unix_ms >= job.created_unix_ms);
  ASSERT_EQ_STR(job.traceparent, TRACEPARENT);
  tw_job_clear(&job);
  bool claimed = true;
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(!claimed);

  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "{\"result\":[3]}", &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "{\"result\":[4]}", &err),
                TW_ARG);
  ASSERT_CONTAINS(err.message, "completed");
  ASSERT_EQ_INT(tw_registry_job_fail(reg, id, "late", &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
  ASSERT_EQ_STR(job.result_json, "{\"result\":[3]}");
  ASSERT(job.finished_unix_ms >= job.started_unix_ms && !job.error);
  tw_job_clear(&job);

  /* A pending job may fail without running; its queue slot is freed. */
  char id2[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(id2, &err), TW_OK);
  tw_job_spec spec2 = {.id = id2, .function_id = FID, .tenant = 5};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec2, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_fail(reg, id2, "function deleted", &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_job_get(reg, id2, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_FAILED);
  ASSERT_EQ_STR(job.error, "function deleted");
  ASSERT_EQ_STR(job.args_json, "[]");
  ASSERT(!job.export_name && !job.input && !job.traceparent);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &out, &err), TW_OK);
  ASSERT_EQ_U64(out, 0);
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(!claimed);

  const char *unknown = "00000000-0000-4000-8000-000000000001";
  ASSERT_EQ_INT(tw_registry_job_get(reg, unknown, &job, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, unknown, "1", &err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_job_fail(reg, unknown, "x", &err), TW_NOT_FOUND);
  spec2.traceparent = "00-zz-01";
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec2, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "traceparent");
  uint64_t interrupted = 99;
  ASSERT_EQ_INT(tw_registry_recover(reg, &interrupted, &err), TW_OK);
  ASSERT_EQ_U64(interrupted, 0);
  tw_registry_close(reg);
}

TEST(admission_cap_is_cluster_wide) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.max_outstanding_jobs = 3;
  tw_registry_t *a = open_node(&o), *b = open_node(&o);
  ASSERT(a && b);
  tw_error err;
  char ids[5][TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(a, 1, 0, ids[0], &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(b, 1, 1, ids[1], &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(a, 1, 2, ids[2], &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(b, 1, 3, ids[3], &err), TW_LIMIT);
  ASSERT_CONTAINS(err.message, "limit 3");
  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(a, ids[3], &job, &err), TW_NOT_FOUND);

  /* Running jobs still count. */
  ASSERT(claim_within(a, &job, 2000));
  uint64_t n = 0;
  ASSERT_EQ_INT(tw_registry_job_outstanding(b, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 3);
  ASSERT_EQ_INT(enqueue_n(a, 1, 3, ids[3], &err), TW_LIMIT);
  /* Finishing frees a slot, on every node. */
  ASSERT_EQ_INT(tw_registry_job_complete(a, job.id, "0", &err), TW_OK);
  tw_job_clear(&job);
  ASSERT_EQ_INT(enqueue_n(b, 1, 4, ids[4], &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_outstanding(a, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 3);
  tw_registry_close(a);
  tw_registry_close(b);
}

TEST(retention_prune) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.retain_jobs = 3;
  o.retain_ms = 60 * 1000;
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  tw_error err;
  char ids[9][TW_UUID_LEN + 1];
  for (int i = 0; i < 9; i++)
    ASSERT_EQ_INT(enqueue_n(reg, 1, i, ids[i], &err), TW_OK);
  /* Jobs 0..5 finish in order (5 fails), 6 runs, 7 and 8 wait. */
  for (int i = 0; i < 7; i++) {
    tw_job job = {0};
    ASSERT(claim_within(reg, &job, 2000));
    ASSERT_EQ_STR(job.id, ids[i]); /* one consumer: queue order */
    if (i < 5)
      ASSERT_EQ_INT(tw_registry_job_complete(reg, job.id, "0", &err), TW_OK);
    if (i == 5)
      ASSERT_EQ_INT(tw_registry_job_fail(reg, job.id, "boom", &err), TW_OK);
    tw_job_clear(&job);
  }
  uint64_t deleted = 0;
  ASSERT_EQ_INT(tw_registry_job_prune(reg, 0, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 3);
  tw_job job = {0};
  for (int i = 0; i < 9; i++) {
    ASSERT_EQ_INT(tw_registry_job_get(reg, ids[i], &job, &err),
                  i < 3 ? TW_NOT_FOUND : TW_OK);
    tw_job_clear(&job);
  }
  ASSERT_EQ_INT(tw_registry_job_prune(reg, 0, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 0);
  ASSERT_EQ_INT(tw_registry_job_get(reg, ids[5], &job, &err), TW_OK);
  int64_t later = job.finished_unix_ms + 2 * 60 * 1000;
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_prune(reg, later, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 3);
  for (int i = 0; i < 9; i++) {
    ASSERT_EQ_INT(tw_registry_job_get(reg, ids[i], &job, &err),
                  i < 6 ? TW_NOT_FOUND : TW_OK);
    tw_job_clear(&job);
  }
  uint64_t n = 0;
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 3);
  tw_registry_close(reg);
}

/* ---- two nodes ------------------------------------------------------------ */

TEST(two_nodes_share_functions_and_jobs) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  tw_registry_t *a = open_node(&o), *b = open_node(&o);
  ASSERT(a && b);
  tw_error err;
  tw_function_info f, got, items[4];
  ASSERT_EQ_INT(tw_registry_function_put(a, 4, "shared", WASM_B, 9, &f, &err),
                TW_OK);
  /* Visible through the other node at once: no sleep, no retry. */
  ASSERT_EQ_INT(tw_registry_function_get(b, f.id, &got, &err), TW_OK);
  ASSERT_EQ_STR(got.name, "shared");
  uint8_t *bytes = NULL;
  size_t len = 0, n = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(b, f.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == 9 && memcmp(bytes, WASM_B, 9) == 0);
  free(bytes);
  char next[TW_REGISTRY_CURSOR_MAX];
  ASSERT_EQ_INT(tw_registry_function_list(b, 4, NULL, items, 4, &n, next, &err),
                TW_OK);
  ASSERT(n == 1 && strcmp(items[0].id, f.id) == 0);

  /* Submitted to A, run by B, answered the same by both; the trace
   * context arrives with it. */
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(a, 4, 42, id, &err), TW_OK);
  tw_job job = {0};
  ASSERT(claim_within(b, &job, 2000));
  ASSERT_EQ_STR(job.id, id);
  ASSERT_EQ_STR(job.args_json, "[42]");
  ASSERT_EQ_STR(job.traceparent, TRACEPARENT);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_get(a, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_RUNNING);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_complete(b, id, "[42]", &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_get(a, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
  ASSERT_EQ_STR(job.result_json, "[42]");
  tw_job_clear(&job);

  /* Deleted through B: gone for A. */
  ASSERT_EQ_INT(tw_registry_function_delete(b, f.id, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_function_get(a, f.id, &got, &err), TW_NOT_FOUND);
  tw_registry_close(a);
  tw_registry_close(b);
}

#define MANY 200

typedef struct claim_ctx {
  tw_registry_t *reg;
  char (*ids)[TW_UUID_LEN + 1];
  atomic_int *claims;    /* per job */
  atomic_int *completes; /* per job: successful completes */
  atomic_int *done;      /* total completed */
  atomic_int errors;
} claim_ctx;

static int job_index(char (*ids)[TW_UUID_LEN + 1], const char *id) {
  for (int i = 0; i < MANY; i++)
    if (strcmp(ids[i], id) == 0)
      return i;
  return -1;
}

static void *claimer(void *arg) {
  claim_ctx *c = arg;
  long end = now_ms() + 60000;
  while (atomic_load(c->done) < MANY && now_ms() < end) {
    tw_job job = {0};
    bool claimed = false;
    tw_error err;
    if (tw_registry_job_claim(c->reg, &job, &claimed, &err) != TW_OK) {
      atomic_fetch_add(&c->errors, 1);
      continue;
    }
    if (!claimed)
      continue;
    int i = job_index(c->ids, job.id);
    if (i < 0) {
      atomic_fetch_add(&c->errors, 1);
    } else {
      atomic_fetch_add(&c->claims[i], 1);
      if (tw_registry_job_complete(c->reg, job.id, job.args_json, &err) ==
          TW_OK) {
        atomic_fetch_add(&c->completes[i], 1);
        atomic_fetch_add(c->done, 1);
      }
    }
    tw_job_clear(&job);
  }
  return NULL;
}

TEST(four_threads_on_two_nodes_finish_each_job_once) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.max_outstanding_jobs = 1000;
  tw_registry_t *nodes[2] = {open_node(&o), open_node(&o)};
  ASSERT(nodes[0] && nodes[1]);
  tw_error err;
  static char ids[MANY][TW_UUID_LEN + 1];
  static atomic_int claims[MANY], completes[MANY];
  atomic_int done = 0;
  for (int i = 0; i < MANY; i++) {
    atomic_init(&claims[i], 0);
    atomic_init(&completes[i], 0);
    ASSERT_EQ_INT(enqueue_n(nodes[i % 2], 1, i, ids[i], &err), TW_OK);
  }
  claim_ctx ctx[2];
  pthread_t th[8];
  for (int k = 0; k < 2; k++) {
    ctx[k] = (claim_ctx){.reg = nodes[k],
                         .ids = ids,
                         .claims = claims,
                         .completes = completes,
                         .done = &done};
    atomic_init(&ctx[k].errors, 0);
  }
  for (int t = 0; t < 8; t++)
    ASSERT_EQ_INT(pthread_create(&th[t], NULL, claimer, &ctx[t % 2]), 0);
  for (int t = 0; t < 8; t++)
    pthread_join(th[t], NULL);
  ASSERT_EQ_INT(atomic_load(&done), MANY);
  ASSERT_EQ_INT(atomic_load(&ctx[0].errors) + atomic_load(&ctx[1].errors), 0);
  for (int i = 0; i < MANY; i++) {
    ASSERT_EQ_INT(atomic_load(&claims[i]), 1);
    ASSERT_EQ_INT(atomic_load(&completes[i]), 1);
    tw_job job = {0};
    ASSERT_EQ_INT(tw_registry_job_get(nodes[i % 2], ids[i], &job, &err),
                  TW_OK);
    ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
    ASSERT_EQ_STR(job.result_json, job.args_json);
    tw_job_clear(&job);
  }
  uint64_t n = 99;
  ASSERT_EQ_INT(tw_registry_job_outstanding(nodes[0], &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 0);
  tw_registry_close(nodes[0]);
  tw_registry_close(nodes[1]);
}

TEST(a_live_node_keeps_a_long_job) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.nats_ack_wait_ms = 300;
  tw_registry_t *a = open_node(&o), *b = open_node(&o);
  ASSERT(a && b);
  tw_error err;
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(a, 1, 0, id, &err), TW_OK);
  tw_job job = {0};
  ASSERT(claim_within(a, &job, 2000));
  tw_job_clear(&job);
  /* Runs for more than three ack waits: A's progress messages keep it
   * from being handed to B. */
  ASSERT(!claim_within(b, &job, 1200));
  ASSERT_EQ_INT(tw_registry_job_complete(a, id, "1", &err), TW_OK);
  uint64_t n = 99;
  ASSERT_EQ_INT(tw_registry_job_outstanding(b, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 0);
  tw_registry_close(a);
  tw_registry_close(b);
}

/* ---- a node dies ------------------------------------------------------------ */

#define CRASH_ACK_WAIT_MS 1000
#define CRASH_CLAIMS 5

/* The crash child: this binary re-executed with TW_NATS_CRASH_CHILD set
 * ("URL PREFIX").  It claims CRASH_CLAIMS jobs, records the first one as
 * completed straight in the bucket (as if it died between storing the
 * result and the ack), reports the ids on stdout, and kills itself: no
 * ack, no nak, the socket closed by the kernel. */
static void crash_child(void) {
  char url[64], prefix[64];
  if (sscanf(getenv("TW_NATS_CRASH_CHILD"), "%63s %63s", url, prefix) != 2)
    _exit(2);
  server s = {0};
  snprintf(s.url, sizeof s.url, "%s", url);
  tw_registry_options o = node_opts(&s, prefix);
  o.nats_ack_wait_ms = CRASH_ACK_WAIT_MS;
  tw_registry_t *reg = open_node(&o);
  if (!reg)
    _exit(3);
  for (int i = 0; i < CRASH_CLAIMS; i++) {
    tw_job job = {0};
    if (!claim_within(reg, &job, 5000))
      _exit(4);
    if (i == 0) {
      raw r;
      kvStore *kv = NULL;
      kvEntry *e = NULL;
      char bucket[96];
      snprintf(bucket, sizeof bucket, "%s_JOBS", prefix);
      if (!raw_open(&r, &s) || js_KeyValue(&kv, r.js, bucket) != NATS_OK ||
          kvStore_Get(&e, kv, job.id) != NATS_OK)
        _exit(5);
      json_t *rec = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e),
                               0, NULL);
      if (!rec || json_object_set_new(rec, "status", json_string("completed")) ||
          json_object_set_new(rec, "result", json_string("[\"stored\"]")))
        _exit(6);
      char *text = json_dumps(rec, JSON_COMPACT);
      if (!text || kvStore_UpdateString(NULL, kv, job.id, text,
                                        kvEntry_Revision(e)) != NATS_OK)
        _exit(7);
    }
    printf("%s\n", job.id);
    fflush(stdout);
    tw_job_clear(&job);
  }
  raise(SIGKILL);
  _exit(8);
}

TEST(killed_node_jobs_come_back_and_finish_once) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.nats_ack_wait_ms = CRASH_ACK_WAIT_MS;
  tw_registry_t *b = open_node(&o);
  ASSERT(b);
  tw_error err;
  char ids[8][TW_UUID_LEN + 1];
  for (int i = 0; i < 8; i++)
    ASSERT_EQ_INT(enqueue_n(b, 1, i, ids[i], &err), TW_OK);

  int pfd[2];
  ASSERT_EQ_INT(pipe(pfd), 0);
  char env[160];
  snprintf(env, sizeof env, "%s %s", g_srv.url, p);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    setenv("TW_NATS_CRASH_CHILD", env, 1);
    execl("/proc/self/exe", "test_nats", (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  char buf[CRASH_CLAIMS * (TW_UUID_LEN + 1) + 1] = "";
  size_t have = 0;
  ssize_t r;
  while (have < sizeof buf - 1 &&
         (r = read(pfd[0], buf + have, sizeof buf - 1 - have)) > 0)
    have += (size_t)r;
  close(pfd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  long killed_at = now_ms();
  ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ_INT(have, CRASH_CLAIMS * (TW_UUID_LEN + 1));
  char held[CRASH_CLAIMS][TW_UUID_LEN + 1];
  for (int i = 0; i < CRASH_CLAIMS; i++)
    snprintf(held[i], sizeof held[i], "%.36s", buf + i * (TW_UUID_LEN + 1));

  /* The 3 jobs the child never took run at once; the 4 it held and did
   * not finish come back after the ack wait; the one whose outcome it
   * stored is never handed out again. */
  int seen[8] = {0}, late = 0;
  for (int got = 0; got < 7;) {
    tw_job job = {0};
    ASSERT(claim_within(b, &job, 10000));
    int i = -1;
    for (int k = 0; k < 8; k++)
      if (strcmp(ids[k], job.id) == 0)
        i = k;
    ASSERT(i >= 0);
    ASSERT(strcmp(job.id, held[0]) != 0);
    seen[i]++;
    for (int k = 1; k < CRASH_CLAIMS; k++)
      if (strcmp(held[k], job.id) == 0) {
        late++;
        ASSERT(now_ms() - killed_at >= CRASH_ACK_WAIT_MS / 2);
      }
    ASSERT_EQ_INT(tw_registry_job_complete(b, job.id, job.args_json, &err),
                  TW_OK);
    tw_job_clear(&job);
    got++;
  }
  ASSERT_EQ_INT(late, CRASH_CLAIMS - 1);
  tw_job job = {0};
  bool claimed = true;
  sleep_ms(CRASH_ACK_WAIT_MS + 300);
  ASSERT_EQ_INT(tw_registry_job_claim(b, &job, &claimed, &err), TW_OK);
  ASSERT(!claimed);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ_INT(tw_registry_job_get(b, ids[i], &job, &err), TW_OK);
    if (strcmp(ids[i], held[0]) == 0) {
      ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
      ASSERT_EQ_STR(job.result_json, "[\"stored\"]");
      ASSERT_EQ_INT(seen[i], 0);
    } else {
      ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
      ASSERT_EQ_INT(seen[i], 1);
    }
    tw_job_clear(&job);
  }
  uint64_t n = 99;
  ASSERT_EQ_INT(tw_registry_job_outstanding(b, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 0);
  tw_registry_close(b);
}

TEST(a_job_that_keeps_dying_is_given_up) {
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&g_srv, p);
  o.nats_max_deliver = 3;
  tw_registry_t *a = open_node(&o);
  ASSERT(a);
  tw_error err;
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(a, 1, 0, id, &err), TW_OK);
  /* Runs twice, each time on a node that goes away before finishing
   * (close hands its jobs back at once). */
  for (int run = 0; run < 2; run++) {
    tw_registry_t *node = open_node(&o);
    ASSERT(node);
    tw_job job = {0};
    ASSERT(claim_within(node, &job, 3000));
    ASSERT_EQ_STR(job.id, id);
    tw_job_clear(&job);
    tw_registry_close(node);
  }
  /* The third delivery is the last: not run, failed with a reason. */
  tw_job job = {0};
  ASSERT(!claim_within(a, &job, 1500));
  ASSERT_EQ_INT(tw_registry_job_get(a, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_FAILED);
  ASSERT_CONTAINS(job.error, "abandoned: delivered 3 times");
  tw_job_clear(&job);
  uint64_t n = 99;
  ASSERT_EQ_INT(tw_registry_job_outstanding(a, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 0);
  tw_registry_close(a);
}

/* ---- the server goes away ---------------------------------------------------- */

TEST(server_restart_fails_fast_then_recovers) {
  static server s;
  ASSERT(server_new(&s));
  char p[32];
  new_prefix(p, sizeof p);
  tw_registry_options o = node_opts(&s, p);
  o.nats_timeout_ms = 1000;
  tw_registry_t *reg = open_node(&o);
  ASSERT(reg);
  tw_error err;
  tw_function_info f, got;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "keep", WASM_A, 8, &f, &err),
                TW_OK);
  char id[TW_UUID_LEN + 1], id2[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(reg, 1, 7, id, &err), TW_OK);

  server_stop(&s, SIGKILL);
  /* Once the client has noticed (at most a few hundred ms), every call
   * fails at once, with TW_IO and a message that says why. */
  long end = now_ms() + 5000;
  while (now_ms() < end &&
         tw_registry_function_get(reg, f.id, &got, &err) == TW_OK)
    sleep_ms(20);
  ASSERT(now_ms() < end);
  tw_job job = {0};
  bool claimed = false;
  uint64_t n = 0;
  size_t count = 0;
  char next[TW_REGISTRY_CURSOR_MAX];
  for (int k = 0; k < 6; k++) {
    long t0 = now_ms();
    tw_status st;
    switch (k) {
    case 0: st = tw_registry_function_get(reg, f.id, &got, &err); break;
    case 1: st = enqueue_n(reg, 1, 8, id2, &err); break;
    case 2: st = tw_registry_job_claim(reg, &job, &claimed, &err); break;
    case 3: st = tw_registry_job_outstanding(reg, &n, &err); break;
    case 4:
      st = tw_registry_function_list(reg, 1, NULL, &got, 1, &count, next, &err);
      break;
    default: st = tw_registry_job_complete(reg, id, "1", &err); break;
    }
    ASSERT_EQ_INT(st, TW_IO);
    ASSERT_CONTAINS(err.message, "unreachable");
    ASSERT_CONTAINS(err.message, s.url);
    ASSERT(now_ms() - t0 < 100);
  }

  /* Same port, same store: the client reconnects by itself. */
  ASSERT(server_start(&s));
  end = now_ms() + 15000;
  while (now_ms() < end &&
         tw_registry_function_get(reg, f.id, &got, &err) != TW_OK)
    sleep_ms(50);
  ASSERT_EQ_INT(tw_registry_function_get(reg, f.id, &got, &err), TW_OK);
  ASSERT_EQ_STR(got.name, "keep");
  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, f.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == 8 && memcmp(bytes, WASM_A, 8) == 0);
  free(bytes);
  ASSERT(claim_within(reg, &job, 5000));
  ASSERT_EQ_STR(job.id, id); /* the job accepted before the outage */
  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "[7]", &err), TW_OK);
  tw_job_clear(&job);
  ASSERT_EQ_INT(enqueue_n(reg, 1, 9, id2, &err), TW_OK);
  ASSERT(claim_within(reg, &job, 5000));
  ASSERT_EQ_STR(job.id, id2);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, id2, "[9]", &err), TW_OK);
  tw_job_clear(&job);
  tw_registry_close(reg);
  server_free(&s);
}

TEST(open_errors_are_clear) {
  tw_registry_options o;
  tw_registry_options_init(&o);
  o.backend = TW_REGISTRY_NATS;
  tw_registry_t *reg = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_registry_open("/tmp", &o, &reg, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "nats_url");
  char url[64];
  snprintf(url, sizeof url, "nats://127.0.0.1:%d", free_port());
  o.nats_url = url;
  o.nats_timeout_ms = 500;
  long t0 = now_ms();
  ASSERT_EQ_INT(tw_registry_open("/tmp", &o, &reg, &err), TW_IO);
  ASSERT(now_ms() - t0 < 3000);
  ASSERT_CONTAINS(err.message, url);
  ASSERT(reg == NULL);
  o.nats_url = g_srv.url;
  o.nats_prefix = "bad.prefix";
  ASSERT_EQ_INT(tw_registry_open("/tmp", &o, &reg, &err), TW_ARG);
  o.nats_prefix = "OK";
  o.nats_max_deliver = 1;
  ASSERT_EQ_INT(tw_registry_open("/tmp", &o, &reg, &err), TW_ARG);
}

TEST_MAIN()
