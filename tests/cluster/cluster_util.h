/* Helpers for the cluster tests: one nats-server and gateway nodes, each
 * the real `tensor-wasm serve --cluster` binary in a process of its own
 * on a free loopback port, with its data directory (module cache) and its
 * log (stdout + stderr) in the test's temporary directory.
 *
 * Every child gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the test
 * even when the test aborts, and at exit every process still alive is
 * killed and reaped.  Every wait is bounded.  Without nats-server the
 * test prints SKIPPED and exits 77 (ctest: skipped, never passed). */
#ifndef TW_CLUSTER_UTIL_H
#define TW_CLUSTER_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "api/api_util.h"

#define CU_BIN TW_BUILD_DIR "/tensor-wasm"
#define CU_MAX_PROCS 16

typedef struct cu_proc {
  pid_t pid; /* 0: not running */
  int port;
  char name[16];
  char log[160];
  char base[64]; /* nodes: http://127.0.0.1:PORT */
} cu_proc;

static char cu_nats_bin[512];
static char cu_dir[64];             /* the test's temporary directory */
static cu_proc *cu_live[CU_MAX_PROCS];

static inline long cu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline bool cu_find_nats(void) {
  const char *env = getenv("TW_NATS_SERVER");
  char path[4096];
  if (env && env[0] && access(env, X_OK) == 0) {
    snprintf(cu_nats_bin, sizeof cu_nats_bin, "%s", env);
    return true;
  }
  snprintf(path, sizeof path, "%s:/usr/sbin:/usr/local/sbin:/sbin",
           getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  for (char *save = NULL, *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(cu_nats_bin, sizeof cu_nats_bin, "%s/nats-server", d);
    if (access(cu_nats_bin, X_OK) == 0) return true;
  }
  return false;
}

static inline int cu_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int port = -1;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static inline bool cu_port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

/* Processes alive, killed at exit.  So a cu_proc must outlive the test
 * that started it (tests declare theirs static): a failed ASSERT returns
 * early and leaves its nodes to the exit handler. */
static inline void cu_track(cu_proc *p) {
  for (int i = 0; i < CU_MAX_PROCS; i++)
    if (!cu_live[i] || cu_live[i] == p) {
      cu_live[i] = p;
      return;
    }
}

/* Forks `argv` with env pairs `env` ("NAME=value", NULL-terminated) added,
 * stdout and stderr appended to p->log. */
static inline bool cu_spawn(cu_proc *p, char *const argv[], const char *const *env) {
  p->pid = fork();
  if (p->pid < 0) {
    p->pid = 0;
    return false;
  }
  if (p->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
    execv(argv[0], argv);
    _exit(127);
  }
  cu_track(p);
  return true;
}

static inline void cu_untrack(cu_proc *p) {
  for (int i = 0; i < CU_MAX_PROCS; i++)
    if (cu_live[i] == p) cu_live[i] = NULL;
}

/* Stops p with `sig`, then SIGKILL after 10 s; reaps it. */
static inline void cu_stop(cu_proc *p, int sig) {
  cu_untrack(p);
  if (p->pid <= 0) return;
  kill(p->pid, sig);
  for (long end = cu_now_ms() + 10000; cu_now_ms() < end; tu_sleep_ms(10))
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
      p->pid = 0;
      return;
    }
  kill(p->pid, SIGKILL);
  waitpid(p->pid, NULL, 0);
  p->pid = 0;
}

/* ---- nats-server ---------------------------------------------------------------- */

typedef struct cu_nats {
  cu_proc p;
  char store[128];
  char url[64];
} cu_nats;

/* Starts (or restarts, same port and store) the server; waits at most
 * 10 s for it to accept connections. */
static inline bool cu_nats_start(cu_nats *n) {
  char port[16];
  if (!n->p.port) {
    n->p.port = cu_free_port();
    snprintf(n->p.name, sizeof n->p.name, "nats");
    snprintf(n->p.log, sizeof n->p.log, "%s/nats.log", cu_dir);
    snprintf(n->store, sizeof n->store, "%s/nats-store", cu_dir);
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->p.port);
  }
  snprintf(port, sizeof port, "%d", n->p.port);
  char *argv[] = {cu_nats_bin, "-js", "-sd", n->store, "-p", port, "-a", "127.0.0.1", NULL};
  if (!cu_spawn(&n->p, argv, NULL)) return false;
  for (long end = cu_now_ms() + 10000; cu_now_ms() < end; tu_sleep_ms(20)) {
    if (waitpid(n->p.pid, NULL, WNOHANG) == n->p.pid) {
      n->p.pid = 0;
      fprintf(stderr, "  nats-server exited (see %s)\n", n->p.log);
      return false;
    }
    if (cu_port_open(n->p.port)) return true;
  }
  fprintf(stderr, "  nats-server did not listen within 10 s (see %s)\n", n->p.log);
  return false;
}

/* ---- gateway nodes ------------------------------------------------------------------- */

typedef struct cu_node_opts {
  const char *prefix;        /* cluster prefix: one per test */
  const char *ack_wait;      /* --cluster-ack-wait; NULL: 2s */
  const char *workers;       /* NULL: 2 */
  const char *extra_env[6];  /* more NAME=value pairs, NULL-terminated */
} cu_node_opts;

/* Starts node `name` of cluster o->prefix on nats `n`; waits (at most
 * 20 s) until /healthz answers 200. */
static inline bool cu_node_start(cu_proc *p, const char *name, const cu_nats *n,
                                 const cu_node_opts *o) {
  char addr[32], data[128], url[96];
  memset(p, 0, sizeof *p);
  p->port = cu_free_port();
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->log, sizeof p->log, "%s/%s-%s.log", cu_dir, o->prefix, name);
  snprintf(data, sizeof data, "%s/%s-%s", cu_dir, o->prefix, name);
  snprintf(addr, sizeof addr, "127.0.0.1:%d", p->port);
  snprintf(p->base, sizeof p->base, "http://%s", addr);
  char *argv[] = {CU_BIN, "serve", "--cluster", (char *)n->url, "--cluster-prefix",
                  (char *)o->prefix, "--cluster-ack-wait", (char *)(o->ack_wait ? o->ack_wait : "2s"),
                  "--addr", addr, "--data-dir", data, "--workers",
                  (char *)(o->workers ? o->workers : "2"), "--deadline", "20s", NULL};
  /* Dev mode on loopback; no audit lines in the log; no rate limit
   * (the tests submit in bursts); events at info ("async job ... started"). */
  const char *env[16] = {"TENSOR_WASM_API_TOKENS=", "TENSOR_WASM_API_AUDIT_LOG=none",
                         "TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS=100000",
                         "TENSOR_WASM_API_TENANT_RATE_LIMIT_BURST=100000",
                         "TENSOR_WASM_NATS_URL=", "TENSOR_WASM_LOG=info"};
  size_t k = 6;
  for (size_t i = 0; i < 6 && o->extra_env[i]; i++) env[k++] = o->extra_env[i];
  env[k] = NULL;
  (void)url;
  if (!cu_spawn(p, argv, env)) return false;
  snprintf(url, sizeof url, "%s/healthz", p->base);
  for (long end = cu_now_ms() + 20000; cu_now_ms() < end; tu_sleep_ms(50)) {
    tu_resp r;
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
      p->pid = 0;
      fprintf(stderr, "  node %s exited (see %s)\n", name, p->log);
      return false;
    }
    if (!cu_port_open(p->port)) continue;
    tu_http("GET", url, NULL, NULL, 0, &r);
    long st = r.status;
    tu_resp_free(&r);
    if (st == 200) return true;
  }
  fprintf(stderr, "  node %s not healthy within 20 s (see %s)\n", name, p->log);
  return false;
}

/* ---- HTTP shorthands ------------------------------------------------------------------- */

/* POST .../invoke-async {"export": exp, "args": args}; the job id in
 * `job` on 202.  Returns the status. */
static inline long cu_submit(const cu_proc *node, const char *fn, const char *exp,
                             const char *args, char job[64], char trace_id[64]) {
  char url[1024], body[256];
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", node->base, fn);
  snprintf(body, sizeof body, "{\"export\":\"%s\",\"args\":%s}", exp, args);
  tu_http_json("POST", url, NULL, body, &r);
  job[0] = '\0';
  if (r.status == 202) tu_str(&r, "job_id", job, 64);
  if (trace_id) snprintf(trace_id, 64, "%s", r.trace_id);
  long st = r.status;
  tu_resp_free(&r);
  return st;
}

/* GET /jobs/ID on node: the status code and (caller frees) the body. */
static inline long cu_job(const cu_proc *node, const char *job, char **body) {
  char url[1024];
  tu_resp r;
  snprintf(url, sizeof url, "%s/jobs/%s", node->base, job);
  tu_http("GET", url, NULL, NULL, 0, &r);
  long st = r.status;
  *body = r.body;
  r.body = NULL;
  tu_resp_free(&r);
  return st;
}

/* The "status" of a GET /jobs body ("" when none). */
static inline const char *cu_job_status(const char *body, char *buf, size_t cap) {
  tu_resp r = {.body = (char *)body};
  return tu_str(&r, "status", buf, cap);
}

/* Waits (bounded by ms) until every job reads completed or failed on
 * node; true then. */
static inline bool cu_wait_finished(const cu_proc *node, char (*jobs)[64], int n, long ms) {
  for (long end = cu_now_ms() + ms; cu_now_ms() < end; tu_sleep_ms(100)) {
    int done = 0;
    for (int i = 0; i < n; i++) {
      char *body, st[32];
      if (cu_job(node, jobs[i], &body) == 200) {
        cu_job_status(body, st, sizeof st);
        done += strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0;
      }
      free(body);
    }
    if (done == n) return true;
  }
  return false;
}

/* Whole text of a file (caller frees); "" when it cannot be read. */
static inline char *cu_slurp(const char *path) {
  size_t len = 0;
  uint8_t *b = tu_read_file(path, &len);
  if (!b) return calloc(1, 1);
  b[len] = '\0';
  return (char *)b;
}

/* Lines "async job ID started" in a node's log: does it name `job`? */
static inline bool cu_log_started(const cu_proc *p, const char *job) {
  char needle[640];
  char *text = cu_slurp(p->log);
  snprintf(needle, sizeof needle, "async job %s started", job);
  bool hit = strstr(text, needle) != NULL;
  free(text);
  return hit;
}

/* ---- setup and teardown -------------------------------------------------------------- */

static inline void cu_at_exit(void) {
  for (int i = 0; i < CU_MAX_PROCS; i++)
    if (cu_live[i]) cu_stop(cu_live[i], SIGKILL);
  if (cu_dir[0] && !getenv("TW_CLUSTER_KEEP")) tu_rm_tree(cu_dir);
  curl_global_cleanup();
}

/* Skip check, temporary directory, exit handler. */
static inline void cu_setup(void) {
  if (!cu_find_nats()) {
    printf("SKIPPED: nats-server not found (PATH, /usr/sbin, $TW_NATS_SERVER); "
           "install the nats-server package to run the cluster tests\n");
    fflush(stdout);
    exit(77);
  }
  if (access(CU_BIN, X_OK) != 0) {
    fprintf(stderr, "%s is missing: build the tensor-wasm target\n", CU_BIN);
    exit(1);
  }
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  snprintf(cu_dir, sizeof cu_dir, "/tmp/tw-cluster-test-XXXXXX");
  if (!mkdtemp(cu_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(cu_at_exit);
}

#endif
