/* Crash test of the gateway process (`serve`, built from src/cli/serve.c):
 * submit M async jobs, kill -9 the server while jobs are running, restart
 * it on the same data directory, and check that every accepted job ends
 * completed or failed (the ones that were running: "interrupted"), that
 * none is lost, that none runs twice (each job's start is logged once
 * over both processes), and that deployed functions are still there.
 * Finally SIGTERM stops the second server gracefully (exit status 0). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "api_util.h"
#include "test.h"

extern char **environ;

#define M 12
/* About a second per job on the interpreter, so the kill lands mid-run. */
#define JOB_BODY "{\"export\":\"count\",\"args\":[40000000]}"

typedef struct server_proc {
  pid_t pid;
  char base[64];
  char log[256];
} server_proc;

/* The environment for the server: ours, minus what would change its
 * behaviour (tokens, OTLP), plus TENSOR_WASM_LOG=info for the job log. */
static char **server_env(void) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 2, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], "TENSOR_WASM_", 12) == 0 || strncmp(environ[i], "OTEL_", 5) == 0)
      continue;
    env[k++] = environ[i];
  }
  env[k++] = "TENSOR_WASM_LOG=info";
  env[k] = NULL;
  return env;
}

static bool server_start(server_proc *p, const char *dir, int run) {
  int out[2];
  char line[256];
  size_t n = 0;
  posix_spawn_file_actions_t fa;
  snprintf(p->log, sizeof p->log, "%s/serve-%d.log", dir, run);
  char *argv[] = {TW_SERVE_PATH, "--addr", "127.0.0.1:0", "--data-dir", (char *)dir,
                  "--workers", "2", NULL};
  char **env = server_env();
  if (pipe(out) != 0) return false;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, 2, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&p->pid, TW_SERVE_PATH, &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  close(out[1]);
  if (rc != 0) {
    fprintf(stderr, "  cannot start %s: %s\n", TW_SERVE_PATH, strerror(rc));
    close(out[0]);
    return false;
  }
  /* "listening on http://127.0.0.1:PORT"; EOF means it died. */
  while (n + 1 < sizeof line && read(out[0], line + n, 1) == 1 && line[n] != '\n') n++;
  line[n] = '\0';
  close(out[0]);
  if (strncmp(line, "listening on ", 13) != 0) {
    fprintf(stderr, "  server said \"%s\"\n", line);
    return false;
  }
  snprintf(p->base, sizeof p->base, "%.63s", line + 13);
  return true;
}

/* How many times the logs say job `id` started. */
static int starts_in(const char *log, const char *id) {
  char needle[96], *line = NULL;
  size_t cap = 0;
  int n = 0;
  FILE *f = fopen(log, "r");
  if (!f) return 0;
  snprintf(needle, sizeof needle, "async job %s started", id);
  while (getline(&line, &cap, f) > 0) n += strstr(line, needle) != NULL;
  free(line);
  fclose(f);
  return n;
}

static int all_starts(const char *log, char jobs[M][64]) {
  int n = 0;
  for (int i = 0; i < M; i++) n += starts_in(log, jobs[i]);
  return n;
}

/* The final record of a job (bounded wait), or NULL. */
static json_t *final_record(const char *base, const char *job) {
  char url[1024];
  snprintf(url, sizeof url, "%s/jobs/%s", base, job);
  for (int i = 0; i < 1200; i++) {
    tu_resp r;
    json_error_t jerr;
    tu_http("GET", url, NULL, NULL, 0, &r);
    json_t *doc = r.status == 200 ? json_loads(r.body, 0, &jerr) : NULL;
    tu_resp_free(&r);
    const char *st = json_string_value(json_object_get(doc, "status"));
    if (st && strcmp(st, "pending") != 0) return doc;
    json_decref(doc);
    tu_sleep_ms(50);
  }
  return NULL;
}

/* Submits M jobs to server `a` and kills it -9 once three have started. */
static void run_and_kill(int *failed, server_proc *a, char fn[64], char jobs[M][64]) {
  char url[1024];
  tu_resp r;
  int status = 0;
  ASSERT(tu_deploy(a->base, "calc", NULL, NULL, fn));
  snprintf(url, sizeof url, "%s/functions/%s/invoke-async", a->base, fn);
  for (int i = 0; i < M; i++) {
    tu_http_json("POST", url, NULL, JOB_BODY, &r);
    ASSERT_EQ_INT(r.status, 202);
    tu_str(&r, "job_id", jobs[i], 64);
    tu_resp_free(&r);
  }
  /* Kill once three jobs have started: with two workers the first has
   * finished and two are running. */
  int started = 0;
  for (int i = 0; i < 3000 && started < 3; i++) {
    started = all_starts(a->log, jobs);
    if (started < 3) tu_sleep_ms(10);
  }
  ASSERT(started >= 3);
  kill(a->pid, SIGKILL);
  waitpid(a->pid, &status, 0);
  a->pid = 0;
  ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT(all_starts(a->log, jobs) < M); /* the kill was mid-run: some never started */
}

/* After the restart on server `b`: every job's end, and the function. */
static void check_restart(int *failed, const server_proc *a, const server_proc *b,
                          const char *fn, char jobs[M][64]) {
  char url[1024];
  tu_resp r;
  int completed = 0, interrupted = 0;
  for (int i = 0; i < M; i++) {
    json_t *rec = final_record(b->base, jobs[i]);
    ASSERT(rec != NULL); /* none lost */
    const char *st = json_string_value(json_object_get(rec, "status"));
    json_t *res = json_object_get(rec, "result");
    int runs = starts_in(a->log, jobs[i]) + starts_in(b->log, jobs[i]);
    ASSERT(runs <= 1); /* none twice */
    if (strcmp(st, "completed") == 0) {
      completed++;
      ASSERT_EQ_INT(runs, 1);
      ASSERT_EQ_INT(json_integer_value(json_array_get(json_object_get(res, "result"), 0)),
                    40000000);
    } else {
      ASSERT_EQ_STR(st, "failed");
      ASSERT_EQ_STR(json_string_value(json_object_get(res, "kind")), "interrupted");
      /* It was claimed (running) at the kill, and was not re-run.  Its
       * start line may be missing: the kill can fall between the claim's
       * commit and the log line. */
      ASSERT_EQ_INT(starts_in(b->log, jobs[i]), 0);
      interrupted++;
    }
    json_decref(rec);
  }
  ASSERT_EQ_INT(completed + interrupted, M);
  ASSERT(interrupted >= 1);
  ASSERT(completed >= 1);
  /* The function survived and still runs. */
  snprintf(url, sizeof url, "%s/functions/%s/invoke", b->base, fn);
  tu_http_json("POST", url, NULL, "{\"export\":\"add\",\"args\":[2,40]}", &r);
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_CONTAINS(r.body, "[42]");
  tu_resp_free(&r);
}

TEST(kill_9_mid_run_loses_nothing_runs_nothing_twice) {
  char dir[64], fn[64] = "", jobs[M][64];
  server_proc a, b;
  int status = 0;
  memset(jobs, 0, sizeof jobs);
  tu_make_dir(dir, sizeof dir);
  ASSERT(server_start(&a, dir, 1));
  run_and_kill(failed, &a, fn, jobs);
  if (a.pid > 0) { /* an assertion failed before the kill */
    kill(a.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
  }
  ASSERT(!*failed);
  ASSERT(server_start(&b, dir, 2));
  check_restart(failed, &a, &b, fn, jobs);
  /* Whatever the checks said, the second server stops; gracefully: 0. */
  kill(b.pid, SIGTERM);
  waitpid(b.pid, &status, 0);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ_INT(WEXITSTATUS(status), 0);
  tu_rm_tree(dir);
}

TEST_MAIN()
