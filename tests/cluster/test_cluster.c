/* A cluster of gateways on NATS JetStream (issue 13, docs/CLUSTER.md),
 * end to end: one nats-server and `tensor-wasm serve --cluster` nodes, each
 * a process of its own on loopback.
 *
 *  - three_nodes_share: a function deployed through A is invocable
 *    through B and C at once; jobs submitted to A read the same through
 *    every node; jobs submitted to A complete after A is killed (B and C
 *    run them, A's claimed ones after one ack wait).
 *  - kill_node_mid_run: kill -9 of a node while it runs jobs: every
 *    accepted job ends completed or failed, at least one job of the dead
 *    node ran again on the survivor, each outcome is the job's own result
 *    (so none is duplicated or swapped) and is recorded once (it does not
 *    change after further ack waits).
 *  - nats_restart: while the server is away, store requests are answered
 *    503 storage_unavailable within a bound, the dispatchers back off
 *    (CPU stays low), and after the restart requests and jobs work again.
 *
 * Each test has its own bucket/stream prefix on the one server.  Without
 * nats-server this prints SKIPPED and exits 77. */
#include "cluster_util.h"
#include "test.h"

static cu_nats g_nats;

__attribute__((constructor)) static void setup(void) {
  cu_setup();
  if (!cu_nats_start(&g_nats)) exit(1);
}

static cu_node_opts opts(const char *prefix) {
  cu_node_opts o;
  memset(&o, 0, sizeof o);
  o.prefix = prefix;
  return o;
}

static long invoke_sync(const cu_proc *node, const char *fn, const char *body, char **out) {
  char url[1024];
  tu_resp r;
  snprintf(url, sizeof url, "%s/functions/%s/invoke", node->base, fn);
  tu_http_json("POST", url, NULL, body, &r);
  long st = r.status;
  *out = r.body;
  r.body = NULL;
  tu_resp_free(&r);
  return st;
}

/* ---- deploy via A, invoke via B and C, jobs of A finish without A ----------------- */

#define SHARE_JOBS 12

TEST(three_nodes_share) {
  static cu_proc a, b, c;
  cu_node_opts o = opts("SHARE");
  char fn[64], jobs[2 * SHARE_JOBS][64], *out = NULL;
  ASSERT(cu_node_start(&a, "a", &g_nats, &o));
  ASSERT(cu_node_start(&b, "b", &g_nats, &o));
  ASSERT(cu_node_start(&c, "c", &g_nats, &o));
  ASSERT(tu_deploy(a.base, "calc", NULL, NULL, fn));

  /* At once, on the other nodes (they fill their module caches here). */
  ASSERT_EQ_INT(invoke_sync(&b, fn, "{\"export\":\"add\",\"args\":[2,40]}", &out), 200);
  ASSERT_CONTAINS(out, "\"result\":[42]");
  free(out);
  ASSERT_EQ_INT(invoke_sync(&c, fn, "{\"export\":\"add\",\"args\":[1,2]}", &out), 200);
  ASSERT_CONTAINS(out, "\"result\":[3]");
  free(out);

  /* Jobs through A read the same through every node. */
  for (int i = 0; i < SHARE_JOBS; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%d,1000]", i);
    ASSERT_EQ_INT(cu_submit(&a, fn, "add", args, jobs[i], NULL), 202);
  }
  ASSERT(cu_wait_finished(&c, jobs, SHARE_JOBS, 30000));
  for (int i = 0; i < SHARE_JOBS; i++) {
    char *ba, *bb, *bc, want[48];
    ASSERT_EQ_INT(cu_job(&a, jobs[i], &ba), 200);
    ASSERT_EQ_INT(cu_job(&b, jobs[i], &bb), 200);
    ASSERT_EQ_INT(cu_job(&c, jobs[i], &bc), 200);
    snprintf(want, sizeof want, "\"result\":[%d]", 1000 + i);
    bool same = strcmp(ba, bb) == 0 && strcmp(bb, bc) == 0 && strstr(ba, want) &&
                strstr(ba, "\"status\":\"completed\"");
    if (!same) fprintf(stderr, "  A: %s\n  B: %s\n  C: %s\n", ba, bb, bc);
    free(ba), free(bb), free(bc);
    ASSERT(same);
  }

  /* Submitted to A, then A dies at once (kill -9): B and C run them all,
   * including any A had claimed (back after one ack wait). */
  for (int i = SHARE_JOBS; i < 2 * SHARE_JOBS; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%d,2000]", i);
    ASSERT_EQ_INT(cu_submit(&a, fn, "add", args, jobs[i], NULL), 202);
  }
  cu_stop(&a, SIGKILL);
  ASSERT(cu_wait_finished(&b, jobs + SHARE_JOBS, SHARE_JOBS, 30000));
  int elsewhere = 0;
  for (int i = SHARE_JOBS; i < 2 * SHARE_JOBS; i++)
    elsewhere += cu_log_started(&b, jobs[i]) || cu_log_started(&c, jobs[i]);
  ASSERT(elsewhere >= 1); /* B and C did run A's jobs */
  for (int i = SHARE_JOBS; i < 2 * SHARE_JOBS; i++) {
    char *bb, *bc, want[48];
    ASSERT_EQ_INT(cu_job(&b, jobs[i], &bb), 200);
    ASSERT_EQ_INT(cu_job(&c, jobs[i], &bc), 200);
    snprintf(want, sizeof want, "\"result\":[%d]", 2000 + i);
    bool same = strcmp(bb, bc) == 0 && strstr(bb, want);
    if (!same) fprintf(stderr, "  B: %s\n  C: %s\n", bb, bc);
    free(bb), free(bc);
    ASSERT(same);
  }
  /* A unknown job is 404 on every node, not a storage error. */
  ASSERT_EQ_INT(cu_job(&b, "00000000-0000-4000-8000-000000000000", &out), 404);
  free(out);
  cu_stop(&b, SIGTERM);
  cu_stop(&c, SIGTERM);
}

/* ---- kill -9 of a node while it runs jobs --------------------------------------- */

#define KILL_JOBS 8

/* Loop count for `count` that takes about `target_ms` on this build. */
static long calibrate(const cu_proc *node, const char *fn, long target_ms) {
  long n = 2000000;
  for (int round = 0; round < 6; round++) {
    char body[96], *out = NULL;
    snprintf(body, sizeof body, "{\"export\":\"count\",\"args\":[%ld]}", n);
    long t0 = cu_now_ms();
    long st = invoke_sync(node, fn, body, &out);
    long took = cu_now_ms() - t0;
    free(out);
    if (st != 200) return -1;
    if (took >= 50) return n * target_ms / took;
    n *= 8;
  }
  return n;
}

TEST(kill_node_mid_run) {
  static cu_proc b, c;
  cu_node_opts o = opts("KILL");
  char fn[64], jobs[KILL_JOBS][64], *before[KILL_JOBS], *after[KILL_JOBS];
  long base;
  memset(before, 0, sizeof before);
  ASSERT(cu_node_start(&b, "b", &g_nats, &o));
  ASSERT(cu_node_start(&c, "c", &g_nats, &o));
  ASSERT(tu_deploy(b.base, "calc", NULL, NULL, fn));
  ASSERT((base = calibrate(&b, fn, 700)) > 0);

  for (int i = 0; i < KILL_JOBS; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%ld]", base + i);
    ASSERT_EQ_INT(cu_submit(&b, fn, "count", args, jobs[i], NULL), 202);
  }
  /* Kill C as soon as it has started a job (each runs ~700 ms). */
  int victim = -1;
  for (long end = cu_now_ms() + 20000; victim < 0 && cu_now_ms() < end; tu_sleep_ms(10))
    for (int i = 0; i < KILL_JOBS && victim < 0; i++)
      if (cu_log_started(&c, jobs[i])) victim = i;
  ASSERT(victim >= 0);
  cu_stop(&c, SIGKILL);

  ASSERT(cu_wait_finished(&b, jobs, KILL_JOBS, 60000));
  int rerun = 0;
  for (int i = 0; i < KILL_JOBS; i++) {
    char want[48], st[32];
    ASSERT_EQ_INT(cu_job(&b, jobs[i], &before[i]), 200);
    cu_job_status(before[i], st, sizeof st);
    snprintf(want, sizeof want, "\"result\":[%ld]", base + i);
    if (strcmp(st, "completed") == 0 && !strstr(before[i], want))
      TW__FAIL("job %d: %s (expected its own result %s)", i, before[i], want);
    if (strcmp(st, "completed") != 0 && strcmp(st, "failed") != 0)
      TW__FAIL("job %d unfinished: %s", i, before[i]);
    rerun += cu_log_started(&c, jobs[i]) && cu_log_started(&b, jobs[i]);
  }
  /* The killed node's job ran again on B: redelivery happened. */
  ASSERT(rerun >= 1);
  ASSERT(cu_log_started(&b, jobs[victim]));
  /* Recorded once: two more ack waits change nothing. */
  tu_sleep_ms(4500);
  for (int i = 0; i < KILL_JOBS; i++) {
    ASSERT_EQ_INT(cu_job(&b, jobs[i], &after[i]), 200);
    bool same = strcmp(before[i], after[i]) == 0;
    if (!same) fprintf(stderr, "  job %d changed:\n  %s\n  %s\n", i, before[i], after[i]);
    free(after[i]);
    ASSERT(same);
  }
  for (int i = 0; i < KILL_JOBS; i++) free(before[i]);
  cu_stop(&b, SIGTERM);
}

/* ---- NATS restarted mid-run --------------------------------------------------------- */

/* utime + stime of a process, in clock ticks. */
static long cpu_ticks(pid_t pid) {
  char path[64], buf[1024];
  unsigned long ut = 0, stime = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
    return -1;
  return (long)(ut + stime);
}

/* One request during the outage: answered within 1.5 s, 503
 * storage_unavailable with Retry-After. */
static bool outage_answer(const char *method, const char *url, const char *body) {
  tu_resp r;
  char kind[64];
  long t0 = cu_now_ms();
  tu_http_json(method, url, NULL, body, &r);
  long took = cu_now_ms() - t0;
  tu_kind(&r, kind, sizeof kind);
  bool ok = r.status == 503 && strcmp(kind, "storage_unavailable") == 0 &&
            strcmp(r.retry_after, "1") == 0 && took < 1500;
  if (!ok)
    fprintf(stderr, "  %s %s during the outage: %ld %s (Retry-After \"%s\") in %ld ms\n", method,
            url, r.status, r.body, r.retry_after, took);
  tu_resp_free(&r);
  return ok;
}

TEST(nats_restart) {
  static cu_proc a, b;
  cu_node_opts o = opts("RESTART");
  char fn[64], job[1][64], url[256];
  ASSERT(cu_node_start(&a, "a", &g_nats, &o));
  ASSERT(cu_node_start(&b, "b", &g_nats, &o));
  ASSERT(tu_deploy(a.base, "calc", NULL, NULL, fn));
  ASSERT_EQ_INT(cu_submit(&a, fn, "add", "[1,1]", job[0], NULL), 202);
  ASSERT(cu_wait_finished(&b, job, 1, 20000));

  cu_stop(&g_nats.p, SIGTERM);
  tu_sleep_ms(300); /* the clients notice the lost connection */
  long cpu0 = cpu_ticks(b.pid), t0 = cu_now_ms();
  for (int round = 0; round < 4; round++) {
    const cu_proc *n = round % 2 ? &b : &a;
    snprintf(url, sizeof url, "%s/jobs/%s", n->base, job[0]);
    ASSERT(outage_answer("GET", url, NULL));
    snprintf(url, sizeof url, "%s/functions/%s/invoke-async", n->base, fn);
    ASSERT(outage_answer("POST", url, "{\"export\":\"add\",\"args\":[1,2]}"));
    /* every route that needs the store says the same */
    snprintf(url, sizeof url, "%s/functions/%s/invoke", n->base, fn);
    ASSERT(outage_answer("POST", url, "{\"export\":\"add\",\"args\":[1,2]}"));
    snprintf(url, sizeof url, "%s/functions/%s", n->base, fn);
    ASSERT(outage_answer("GET", url, NULL));
    tu_sleep_ms(500);
  }
  /* The dispatchers back off instead of spinning: B used well under half
   * a core while the server was away. */
  long cpu1 = cpu_ticks(b.pid), wall = cu_now_ms() - t0;
  long hz = sysconf(_SC_CLK_TCK);
  ASSERT(cpu0 >= 0 && cpu1 >= 0);
  if ((cpu1 - cpu0) * 1000 / hz * 4 > wall)
    TW__FAIL("node used %ld ms of CPU in %ld ms of outage", (cpu1 - cpu0) * 1000 / hz, wall);

  ASSERT(cu_nats_start(&g_nats));
  /* Reconnect (the client retries every 250 ms), then carry on. */
  long st = 0;
  char job2[1][64];
  for (long end = cu_now_ms() + 20000; st != 202 && cu_now_ms() < end; tu_sleep_ms(100))
    st = cu_submit(&b, fn, "add", "[20,22]", job2[0], NULL);
  ASSERT_EQ_INT(st, 202);
  ASSERT(cu_wait_finished(&a, job2, 1, 20000));
  char *body;
  ASSERT_EQ_INT(cu_job(&a, job2[0], &body), 200);
  bool ok = strstr(body, "\"result\":[42]") != NULL;
  if (!ok) fprintf(stderr, "  after restart: %s\n", body);
  free(body);
  ASSERT(ok);
  /* The job from before the outage is still there. */
  ASSERT_EQ_INT(cu_job(&b, job[0], &body), 200);
  ok = strstr(body, "\"status\":\"completed\"") != NULL;
  free(body);
  ASSERT(ok);
  cu_stop(&a, SIGTERM);
  cu_stop(&b, SIGTERM);
}

TEST_MAIN()
