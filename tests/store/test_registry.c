/* Tests of the durable registry (include/tensorwasm/registry.h) on its
 * SQLite backend: functions with de-duplicated bytes, tenant isolation and
 * paging, the job state machine, the admission cap, concurrent claims, a
 * process killed with SIGKILL mid-work, damaged database files, retention.
 * Each test works in its own fresh directory under /tmp. */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tensorwasm/registry.h"
#include "test.h"

static const uint8_t WASM_A[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
static const char WASM_A_SHA[] =
    "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476";
static const uint8_t WASM_B[9] = {0, 'a', 's', 'm', 1, 0, 0, 0, 0};

/* ---- helpers ------------------------------------------------------------ */

static void make_dir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/tw-store-test-XXXXXX");
  if (!mkdtemp(buf)) {
    perror("mkdtemp");
    abort();
  }
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_tree(const char *dir) {
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static tw_registry_t *open_reg(const char *dir,
                               const tw_registry_options *opt) {
  tw_registry_t *reg = NULL;
  tw_error err;
  if (tw_registry_open(dir, opt, &reg, &err) != TW_OK) {
    fprintf(stderr, "  open %s: %s\n", dir, err.message);
    return NULL;
  }
  return reg;
}

/* Runs one SQL statement with an integer result directly on the file, to
 * look at what the backend stored. */
static long long sql_int(const char *dir, const char *sql) {
  char path[256];
  snprintf(path, sizeof path, "%s/registry.db", dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  long long v = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static void sql_exec(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) == SQLITE_OK)
    sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
}

static bool is_uuid_v4(const char *id) {
  if (strlen(id) != TW_UUID_LEN)
    return false;
  for (int i = 0; i < TW_UUID_LEN; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !strchr("0123456789abcdef", id[i]))
      return false;
  }
  return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

/* Enqueues a job for function fid with args "[n]"; writes its id. */
static tw_status enqueue_n(tw_registry_t *reg, const char *fid, uint64_t tenant,
                           int n, char id[TW_UUID_LEN + 1], tw_error *err) {
  char args[32];
  snprintf(args, sizeof args, "[%d]", n);
  tw_status st = tw_registry_uuid_new(id, err);
  if (st != TW_OK)
    return st;
  tw_job_spec spec = {.id = id,
                      .function_id = fid,
                      .tenant = tenant,
                      .export_name = "run",
                      .args_json = args};
  return tw_registry_job_enqueue(reg, &spec, err);
}

/* ---- functions ---------------------------------------------------------- */

TEST(functions_deploy_get_delete_dedupe) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  tw_function_info a, b, c, got;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "alpha", WASM_A, 8, &a, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "beta", WASM_A, 8, &b, &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 2, "gamma", WASM_B, 9, &c, &err),
                TW_OK);
  ASSERT(is_uuid_v4(a.id) && is_uuid_v4(b.id) && is_uuid_v4(c.id));
  ASSERT(strcmp(a.id, b.id) != 0);
  ASSERT_EQ_STR(a.sha256, WASM_A_SHA);
  ASSERT_EQ_STR(a.sha256, b.sha256);
  ASSERT(strcmp(a.sha256, c.sha256) != 0);
  /* Deployed twice, stored once. */
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM blobs"), 2);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM functions"), 3);

  /* Ids are matched in any case. */
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
  ASSERT(got.created_unix_ms > 1600000000000LL);

  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, c.id, &bytes, &len, &err),
                TW_OK);
  ASSERT_EQ_INT(len, 9);
  ASSERT(memcmp(bytes, WASM_B, 9) == 0);
  free(bytes);

  /* Deleting one user of shared bytes keeps them for the other. */
  ASSERT_EQ_INT(tw_registry_function_delete(reg, a.id, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_function_get(reg, a.id, &got, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, a.id, &bytes, &len, &err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM blobs"), 2);
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, b.id, &bytes, &len, &err),
                TW_OK);
  ASSERT(len == 8 && memcmp(bytes, WASM_A, 8) == 0);
  free(bytes);
  ASSERT_EQ_INT(tw_registry_function_delete(reg, b.id, &err), TW_OK);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM blobs"), 1);
  ASSERT_EQ_INT(tw_registry_function_delete(reg, b.id, &err), TW_NOT_FOUND);
  ASSERT_CONTAINS(err.message, "not found");

  /* Survives a reopen. */
  tw_registry_close(reg);
  reg = open_reg(dir, NULL);
  ASSERT(reg);
  ASSERT_EQ_INT(tw_registry_function_get(reg, c.id, &got, &err), TW_OK);
  ASSERT_EQ_STR(got.name, "gamma");
  ASSERT_EQ_U64(got.tenant, 2);
  tw_registry_close(reg);
  rm_tree(dir);
}

TEST(functions_bad_arguments) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  tw_function_info f;
  char name[TW_FUNCTION_NAME_MAX + 2];
  memset(name, 'n', sizeof name);
  name[TW_FUNCTION_NAME_MAX + 1] = '\0';
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, name, WASM_A, 8, &f, &err),
                TW_ARG);
  name[TW_FUNCTION_NAME_MAX] = '\0';
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, name, WASM_A, 8, &f, &err),
                TW_OK);
  ASSERT_EQ_INT(strlen(f.name), TW_FUNCTION_NAME_MAX);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "", WASM_A, 8, &f, &err),
                TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "a\nb", WASM_A, 8, &f, &err),
                TW_ARG);
  ASSERT_CONTAINS(err.message, "control");
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "x", WASM_A, 0, &f, &err),
                TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_get(reg, "not-a-uuid", &f, &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_get(reg, NULL, &f, &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_get(NULL, f.id, &f, &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_get(
                    reg, "00000000-0000-4000-8000-000000000000", &f, &err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM functions"), 1);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* Collects every page of a tenant's functions with page size `cap`. */
static size_t list_all(tw_registry_t *reg, uint64_t tenant, size_t cap,
                       tw_function_info *all, size_t max, int *pages) {
  char cursor[TW_REGISTRY_CURSOR_MAX] = "";
  size_t total = 0;
  tw_error err;
  *pages = 0;
  do {
    size_t n = 0;
    char next[TW_REGISTRY_CURSOR_MAX];
    if (total + cap > max)
      return SIZE_MAX;
    if (tw_registry_function_list(reg, tenant, cursor, all + total, cap, &n,
                                  next, &err) != TW_OK)
      return SIZE_MAX;
    total += n;
    (*pages)++;
    memcpy(cursor, next, sizeof cursor);
  } while (cursor[0]);
  return total;
}

TEST(list_tenant_isolation_and_paging) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
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
    ASSERT_EQ_STR(all[i].name, "seven");
    int seen = 0;
    for (size_t j = 0; j < 5; j++)
      seen += strcmp(all[i].id, mine[j].id) == 0;
    ASSERT_EQ_INT(seen, 1);
    for (size_t j = 0; j < i; j++)
      ASSERT(strcmp(all[i].id, all[j].id) != 0);
  }
  ASSERT_EQ_INT(list_all(reg, 8, 10, all, 32, &pages), 3);
  ASSERT_EQ_INT(pages, 1);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ_U64(all[i].tenant, 8);
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
  for (int i = 2; i < 5; i++)
    ASSERT(strcmp(all[i].id, all[0].id) != 0 &&
           strcmp(all[i].id, all[1].id) != 0);

  ASSERT_EQ_INT(
      tw_registry_function_list(reg, 7, "garbage", all, 2, &n, next, &err),
      TW_ARG);
  ASSERT_EQ_INT(tw_registry_function_list(reg, 7, NULL, all, 0, &n, next, &err),
                TW_ARG);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* ---- jobs --------------------------------------------------------------- */

TEST(job_lifecycle) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  tw_function_info f;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 5, "fn", WASM_A, 8, &f, &err),
                TW_OK);
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(id, &err), TW_OK);
  tw_job_spec spec = {.id = id,
                      .function_id = f.id,
                      .tenant = 5,
                      .export_name = "add",
                      .args_json = "[1, 2]",
                      .input = (const uint8_t *)"hello",
                      .input_len = 5};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_OK);
  /* Same id again: refused, nothing changes. */
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "already exists");

  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_PENDING);
  ASSERT_EQ_STR(tw_job_status_api_name(job.status), "pending");
  ASSERT_EQ_STR(job.function_id, f.id);
  ASSERT_EQ_U64(job.tenant, 5);
  ASSERT_EQ_STR(job.export_name, "add");
  ASSERT_EQ_STR(job.args_json, "[1, 2]");
  ASSERT(job.input_len == 5 && memcmp(job.input, "hello", 5) == 0);
  ASSERT(!job.result_json && !job.error && job.finished_unix_ms == 0);
  tw_job_clear(&job);

  bool claimed = false;
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(claimed);
  ASSERT_EQ_STR(job.id, id);
  ASSERT_EQ_INT(job.status, TW_JOB_RUNNING);
  ASSERT(job.started_unix_ms >= job.created_unix_ms);
  ASSERT_EQ_STR(tw_job_status_name(job.status), "running");
  ASSERT_EQ_STR(tw_job_status_api_name(job.status), "pending");
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(!claimed);

  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "not json", &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "{\"result\":[3]}", &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, id, "{\"result\":[4]}", &err),
                TW_ARG);
  ASSERT_CONTAINS(err.message, "completed");
  ASSERT_EQ_INT(tw_registry_job_fail(reg, id, "late", &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
  ASSERT_EQ_STR(job.result_json, "{\"result\":[3]}");
  ASSERT(job.finished_unix_ms >= job.started_unix_ms);
  ASSERT(!job.error);
  tw_job_clear(&job);

  /* A pending job may fail without running; defaults for args and input. */
  char id2[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(id2, &err), TW_OK);
  tw_job_spec spec2 = {.id = id2, .function_id = f.id, .tenant = 5};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec2, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_fail(reg, id2, "function deleted", &err),
                TW_OK);
  ASSERT_EQ_INT(tw_registry_job_get(reg, id2, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_FAILED);
  ASSERT_EQ_STR(job.error, "function deleted");
  ASSERT_EQ_STR(job.args_json, "[]");
  ASSERT(!job.export_name && !job.input && job.input_len == 0 &&
         !job.result_json);
  tw_job_clear(&job);

  const char *unknown = "00000000-0000-4000-8000-000000000001";
  ASSERT_EQ_INT(tw_registry_job_get(reg, unknown, &job, &err), TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, unknown, "1", &err),
                TW_NOT_FOUND);
  ASSERT_EQ_INT(tw_registry_job_fail(reg, unknown, "x", &err), TW_NOT_FOUND);
  spec2.args_json = "[1,";
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec2, &err), TW_ARG);
  spec2.args_json = NULL;
  spec2.id = "nope";
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec2, &err), TW_ARG);
  uint64_t out = 99;
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &out, &err), TW_OK);
  ASSERT_EQ_U64(out, 0);
  tw_registry_close(reg);
  rm_tree(dir);
}

TEST(admission_cap) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_options opt;
  tw_registry_options_init(&opt);
  ASSERT_EQ_INT(opt.max_outstanding_jobs, 256);
  opt.max_outstanding_jobs = 3;
  tw_registry_t *reg = open_reg(dir, &opt);
  ASSERT(reg);
  tw_error err;
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char ids[5][TW_UUID_LEN + 1];
  for (int i = 0; i < 3; i++)
    ASSERT_EQ_INT(enqueue_n(reg, fid, 1, i, ids[i], &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 3, ids[3], &err), TW_LIMIT);
  ASSERT_CONTAINS(err.message, "limit 3");
  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(reg, ids[3], &job, &err), TW_NOT_FOUND);

  /* Running jobs still count. */
  bool claimed = false;
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(claimed);
  uint64_t n = 0;
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 3);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 3, ids[3], &err), TW_LIMIT);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, job.id, "\"ok\"", &err), TW_OK);
  tw_job_clear(&job);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 3, ids[3], &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 4, ids[4], &err), TW_LIMIT);
  tw_registry_close(reg);
  rm_tree(dir);

  /* The default cap is 256. */
  make_dir(dir, sizeof dir);
  reg = open_reg(dir, NULL);
  ASSERT(reg);
  char id[TW_UUID_LEN + 1];
  for (int i = 0; i < 256; i++)
    ASSERT_EQ_INT(enqueue_n(reg, fid, 1, i, id, &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 256, id, &err), TW_LIMIT);
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 256);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* ---- concurrent claims -------------------------------------------------- */

#define CLAIM_JOBS 200
#define CLAIM_THREADS 4

typedef struct claim_ctx {
  tw_registry_t *reg;
  atomic_int *claims; /* per job index: times claimed */
  atomic_int errors;
  int mine; /* jobs this thread claimed */
} claim_ctx;

static void *claimer(void *arg) {
  claim_ctx *ctx = arg;
  for (;;) {
    tw_job job = {0};
    bool claimed = false;
    tw_error err;
    if (tw_registry_job_claim(ctx->reg, &job, &claimed, &err) != TW_OK) {
      atomic_fetch_add(&ctx->errors, 1);
      return NULL;
    }
    if (!claimed)
      return NULL;
    int n = -1;
    if (sscanf(job.args_json, "[%d]", &n) != 1 || n < 0 || n >= CLAIM_JOBS ||
        tw_registry_job_complete(ctx->reg, job.id, job.args_json, &err) !=
            TW_OK)
      atomic_fetch_add(&ctx->errors, 1);
    else
      atomic_fetch_add(&ctx->claims[n], 1);
    ctx->mine++;
    tw_job_clear(&job);
  }
}

TEST(concurrent_claim_each_job_once) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char id[TW_UUID_LEN + 1];
  for (int i = 0; i < CLAIM_JOBS; i++)
    ASSERT_EQ_INT(enqueue_n(reg, fid, 3, i, id, &err), TW_OK);

  static atomic_int claims[CLAIM_JOBS];
  for (int i = 0; i < CLAIM_JOBS; i++)
    atomic_init(&claims[i], 0);
  claim_ctx ctx[CLAIM_THREADS];
  pthread_t th[CLAIM_THREADS];
  for (int t = 0; t < CLAIM_THREADS; t++) {
    ctx[t] = (claim_ctx){.reg = reg, .claims = claims, .mine = 0};
    atomic_init(&ctx[t].errors, 0);
    ASSERT_EQ_INT(pthread_create(&th[t], NULL, claimer, &ctx[t]), 0);
  }
  int total = 0, busy_threads = 0;
  for (int t = 0; t < CLAIM_THREADS; t++) {
    pthread_join(th[t], NULL);
    ASSERT_EQ_INT(atomic_load(&ctx[t].errors), 0);
    total += ctx[t].mine;
    busy_threads += ctx[t].mine > 0;
  }
  ASSERT_EQ_INT(total, CLAIM_JOBS);
  for (int i = 0; i < CLAIM_JOBS; i++)
    ASSERT_EQ_INT(atomic_load(&claims[i]), 1);
  fprintf(stderr, "  claims per thread: %d %d %d %d\n", ctx[0].mine,
          ctx[1].mine, ctx[2].mine, ctx[3].mine);
  ASSERT(busy_threads >= 2);
  ASSERT_EQ_INT(
      sql_int(dir, "SELECT count(*) FROM jobs WHERE status = 'completed'"),
      CLAIM_JOBS);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* ---- crash recovery ----------------------------------------------------- */

TEST(recover_fails_running_keeps_pending) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char a[TW_UUID_LEN + 1], b[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 0, a, &err), TW_OK);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 1, b, &err), TW_OK);
  tw_job job = {0};
  bool claimed = false;
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(claimed);
  ASSERT_EQ_STR(job.id, a); /* oldest first */
  tw_job_clear(&job);
  tw_registry_close(reg);

  reg = open_reg(dir, NULL);
  ASSERT(reg);
  uint64_t n = 0;
  ASSERT_EQ_INT(tw_registry_recover(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 1);
  ASSERT_EQ_INT(tw_registry_job_get(reg, a, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_FAILED);
  ASSERT_EQ_STR(job.error, TW_JOB_INTERRUPTED_REASON);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_get(reg, b, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_PENDING);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_complete(reg, a, "1", &err), TW_ARG);
  ASSERT_EQ_INT(tw_registry_recover(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 0);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* The child reports each operation on the pipe only after the call has
 * returned TW_OK, so every reported operation was committed. */
static void crash_child(const char *dir, int fd) {
  tw_registry_options opt;
  tw_registry_options_init(&opt);
  opt.max_outstanding_jobs = 1000000;
  tw_registry_t *reg = NULL;
  tw_error err;
  if (tw_registry_open(dir, &opt, &reg, &err) != TW_OK)
    _exit(2);
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char line[64], id[TW_UUID_LEN + 1];
  for (int i = 0; i < 200000; i++) {
    if (enqueue_n(reg, fid, 1, i, id, &err) != TW_OK)
      _exit(3);
    int len = snprintf(line, sizeof line, "E %s\n", id);
    if (write(fd, line, (size_t)len) != len)
      _exit(4);
    if (i % 3 != 0)
      continue;
    tw_job job = {0};
    bool claimed = false;
    if (tw_registry_job_claim(reg, &job, &claimed, &err) != TW_OK || !claimed)
      _exit(5);
    len = snprintf(line, sizeof line, "C %s\n", job.id);
    if (write(fd, line, (size_t)len) != len)
      _exit(4);
    if (i % 6 == 0) {
      if (tw_registry_job_complete(reg, job.id, job.args_json, &err) != TW_OK)
        _exit(6);
      len = snprintf(line, sizeof line, "D %s\n", job.id);
      if (write(fd, line, (size_t)len) != len)
        _exit(4);
    }
    tw_job_clear(&job);
  }
  _exit(7); /* the parent should have killed us long before */
}

#define CRASH_MAX 4096

typedef struct crash_log {
  char ids[CRASH_MAX][TW_UUID_LEN + 1];
  char kind[CRASH_MAX]; /* strongest report: 'E' < 'C' < 'D' */
  int n;
} crash_log;

static int kind_rank(char kind) { return kind == 'D' ? 2 : kind == 'C'; }

static void log_add(crash_log *log, char kind, const char *id) {
  for (int i = 0; i < log->n; i++)
    if (strcmp(log->ids[i], id) == 0) {
      if (kind_rank(kind) > kind_rank(log->kind[i]))
        log->kind[i] = kind;
      return;
    }
  if (log->n == CRASH_MAX)
    return;
  snprintf(log->ids[log->n], TW_UUID_LEN + 1, "%.36s", id);
  log->kind[log->n++] = kind;
}

/* Reads "K id" lines from fd into log; stops after `stop_after` lines
 * (0 = at end of file). */
static int read_log(int fd, crash_log *log, int stop_after) {
  static char buf[64];
  static size_t have = 0;
  int lines = 0;
  for (;;) {
    char *nl = memchr(buf, '\n', have);
    if (nl) {
      *nl = '\0';
      if (nl - buf == 2 + TW_UUID_LEN)
        log_add(log, buf[0], buf + 2);
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, nl + 1, have - used);
      have -= used;
      if (++lines == stop_after)
        return lines;
      continue;
    }
    ssize_t r = read(fd, buf + have, sizeof buf - have);
    if (r <= 0)
      return lines;
    have += (size_t)r;
  }
}

TEST(crash_recovery_after_sigkill) {
  char dir[64];
  make_dir(dir, sizeof dir);
  int p[2];
  ASSERT_EQ_INT(pipe(p), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    crash_child(dir, p[1]);
  }
  close(p[1]);
  static crash_log log;
  memset(&log, 0, sizeof log);
  /* Kill it mid-way, while it is busy committing. */
  int lines = read_log(p[0], &log, 300);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  read_log(p[0], &log, 0); /* what it reported before dying */
  close(p[0]);
  ASSERT_EQ_INT(lines, 300);
  ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  uint64_t interrupted = 0;
  ASSERT_EQ_INT(tw_registry_recover(reg, &interrupted, &err), TW_OK);
  ASSERT_EQ_INT(
      sql_int(dir, "SELECT count(*) FROM jobs WHERE status = 'running'"), 0);

  /* Every reported job is there, in a state its report allows.  The one
   * operation in flight at the kill may have committed without being
   * reported, so one surprise of each kind is allowed. */
  int claimed_unfinished = 0, surprise_done = 0, surprise_claim = 0;
  for (int i = 0; i < log.n; i++) {
    tw_job job = {0};
    ASSERT_EQ_INT(tw_registry_job_get(reg, log.ids[i], &job, &err), TW_OK);
    bool interrupted_fail = job.status == TW_JOB_FAILED && job.error &&
                            strcmp(job.error, TW_JOB_INTERRUPTED_REASON) == 0;
    if (log.kind[i] == 'D') {
      ASSERT_EQ_INT(job.status, TW_JOB_COMPLETED);
      ASSERT_EQ_STR(job.result_json, job.args_json);
    } else if (log.kind[i] == 'C') {
      claimed_unfinished++;
      if (job.status == TW_JOB_COMPLETED)
        surprise_done++;
      else
        ASSERT(interrupted_fail);
    } else if (job.status != TW_JOB_PENDING) {
      ASSERT(interrupted_fail);
      surprise_claim++;
    }
    tw_job_clear(&job);
  }
  ASSERT(surprise_done <= 1 && surprise_claim <= 1);
  ASSERT(interrupted >= (uint64_t)(claimed_unfinished - surprise_done));
  ASSERT(interrupted <= (uint64_t)(claimed_unfinished + surprise_claim + 1));

  /* The rest of the queue is pending and runs now; nothing reported as
   * claimed before the crash is handed out again. */
  int rerun = 0, pending_left = 0;
  for (;;) {
    tw_job job = {0};
    bool claimed = false;
    ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
    if (!claimed)
      break;
    pending_left++;
    for (int i = 0; i < log.n; i++)
      if (log.kind[i] != 'E' && strcmp(log.ids[i], job.id) == 0)
        rerun++;
    ASSERT_EQ_INT(tw_registry_job_complete(reg, job.id, "1", &err), TW_OK);
    tw_job_clear(&job);
  }
  ASSERT_EQ_INT(rerun, 0);
  ASSERT(pending_left > 0);
  fprintf(stderr,
          "  crash: %d jobs reported, %d claimed unfinished, %" PRIu64
          " interrupted, %d pending resumed\n",
          log.n, claimed_unfinished, interrupted, pending_left);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* ---- damaged files ------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t len,
                       long offset) {
  FILE *f = fopen(path, offset < 0 ? "wb" : "r+b");
  if (!f)
    return;
  if (offset > 0)
    fseek(f, offset, SEEK_SET);
  fwrite(data, 1, len, f);
  fclose(f);
}

TEST(corrupt_database_is_a_clear_error) {
  char dir[64], path[128];
  tw_registry_t *reg = NULL;
  tw_error err;
  static char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (char)("garbage!"[i % 8]);

  /* Not a database at all. */
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  write_file(path, junk, sizeof junk, -1);
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_IO);
  ASSERT(reg == NULL);
  ASSERT_CONTAINS(err.message, "corrupt or not a registry database");
  ASSERT_CONTAINS(err.message, path);
  rm_tree(dir);

  /* A registry whose schema page is damaged. */
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_function_info f;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "fn", WASM_A, 8, &f, &err),
                TW_OK);
  tw_registry_close(reg); /* checkpoints: everything is in the main file */
  reg = NULL;
  write_file(path, junk, 4096 - 100, 100);
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_IO);
  ASSERT(reg == NULL);
  ASSERT_CONTAINS(err.message, "corrupt");
  rm_tree(dir);

  /* Some other application's SQLite database. */
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  sql_exec(path,
           "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES('mine')");
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_IO);
  ASSERT_CONTAINS(err.message, "not a registry database");
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema"), 1);
  rm_tree(dir);

  /* Written by a newer schema. */
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_registry_close(reg);
  reg = NULL;
  sql_exec(path, "PRAGMA user_version = 99");
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_UNSUPPORTED);
  ASSERT_CONTAINS(err.message, "schema version 99");
  rm_tree(dir);

  /* The data directory is a file. */
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/file", dir);
  write_file(path, "x", 1, -1);
  ASSERT_EQ_INT(tw_registry_open(path, NULL, &reg, &err), TW_IO);
  ASSERT_CONTAINS(err.message, "not a directory");
  rm_tree(dir);
}

TEST(damaged_module_bytes_are_refused) {
  char dir[64], path[128];
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  tw_registry_t *reg = open_reg(dir, NULL);
  ASSERT(reg);
  tw_error err;
  tw_function_info f;
  ASSERT_EQ_INT(tw_registry_function_put(reg, 1, "fn", WASM_A, 8, &f, &err),
                TW_OK);
  /* Flip the bytes behind the registry's back (another connection). */
  sql_exec(path, "UPDATE blobs SET bytes = x'0061736d01000001'");
  uint8_t *bytes = NULL;
  size_t len = 0;
  ASSERT_EQ_INT(tw_registry_function_bytes(reg, f.id, &bytes, &len, &err),
                TW_IO);
  ASSERT_CONTAINS(err.message, "SHA-256 mismatch");
  ASSERT(bytes == NULL);
  tw_registry_close(reg);
  rm_tree(dir);
}

TEST(data_directory_is_exclusive) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *a = open_reg(dir, NULL), *b = NULL;
  ASSERT(a);
  tw_error err;
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &b, &err), TW_IO);
  ASSERT_CONTAINS(err.message, "in use by another registry");
  ASSERT(b == NULL);
  tw_registry_close(a);
  b = open_reg(dir, NULL);
  ASSERT(b);
  tw_registry_close(b);
  rm_tree(dir);
}

TEST(locked_database_times_out) {
  char dir[64], path[128];
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/registry.db", dir);
  tw_registry_options opt;
  tw_registry_options_init(&opt);
  opt.busy_timeout_ms = 200;
  tw_registry_t *reg = open_reg(dir, &opt);
  ASSERT(reg);
  /* Another writer holds the write lock. */
  sqlite3 *other = NULL;
  ASSERT_EQ_INT(sqlite3_open(path, &other), SQLITE_OK);
  ASSERT_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                SQLITE_OK);
  tw_error err;
  char id[TW_UUID_LEN + 1];
  const char *fid = "11111111-2222-4333-8444-555555555555";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 0, id, &err), TW_IO);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ASSERT_CONTAINS(err.message, "locked");
  long ms =
      (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  ASSERT(ms >= 150);
  ASSERT_EQ_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  ASSERT_EQ_INT(enqueue_n(reg, fid, 1, 0, id, &err), TW_OK);
  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  tw_job_clear(&job);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* ---- retention ---------------------------------------------------------- */

TEST(retention_prune) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_options opt;
  tw_registry_options_init(&opt);
  opt.retain_jobs = 3;
  opt.retain_ms = 60 * 1000;
  tw_registry_t *reg = open_reg(dir, &opt);
  ASSERT(reg);
  tw_error err;
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char ids[9][TW_UUID_LEN + 1];
  for (int i = 0; i < 9; i++)
    ASSERT_EQ_INT(enqueue_n(reg, fid, 1, i, ids[i], &err), TW_OK);
  /* Jobs 0..5 finish (in order; 5 fails), 6 runs, 7 and 8 wait. */
  for (int i = 0; i < 7; i++) {
    tw_job job = {0};
    bool claimed = false;
    ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
    ASSERT(claimed);
    ASSERT_EQ_STR(job.id, ids[i]);
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
    tw_status st = tw_registry_job_get(reg, ids[i], &job, &err);
    ASSERT_EQ_INT(st, i < 3 ? TW_NOT_FOUND : TW_OK);
    tw_job_clear(&job);
  }
  ASSERT_EQ_INT(tw_registry_job_prune(reg, 0, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 0);

  /* Two minutes later the rest of the finished jobs are too old; the
   * running and pending ones stay whatever their age. */
  ASSERT_EQ_INT(tw_registry_job_prune(reg, 0, NULL, &err), TW_OK);
  int64_t later = 0;
  ASSERT_EQ_INT(tw_registry_job_get(reg, ids[5], &job, &err), TW_OK);
  later = job.finished_unix_ms + 2 * 60 * 1000;
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_prune(reg, later, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 3);
  for (int i = 0; i < 9; i++) {
    tw_status st = tw_registry_job_get(reg, ids[i], &job, &err);
    ASSERT_EQ_INT(st, i < 6 ? TW_NOT_FOUND : TW_OK);
    tw_job_clear(&job);
  }
  uint64_t n = 0;
  ASSERT_EQ_INT(tw_registry_job_outstanding(reg, &n, &err), TW_OK);
  ASSERT_EQ_U64(n, 3);
  tw_registry_close(reg);
  rm_tree(dir);
}

TEST(retention_disabled_keeps_everything) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_options opt;
  tw_registry_options_init(&opt);
  opt.retain_jobs = 0;
  opt.retain_ms = 0;
  tw_registry_t *reg = open_reg(dir, &opt);
  ASSERT(reg);
  tw_error err;
  const char *fid = "11111111-2222-4333-8444-555555555555";
  char id[TW_UUID_LEN + 1];
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ_INT(enqueue_n(reg, fid, 1, i, id, &err), TW_OK);
    ASSERT_EQ_INT(tw_registry_job_fail(reg, id, "x", &err), TW_OK);
  }
  uint64_t deleted = 99;
  ASSERT_EQ_INT(tw_registry_job_prune(reg, INT64_MAX, &deleted, &err), TW_OK);
  ASSERT_EQ_U64(deleted, 0);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM jobs"), 4);
  tw_registry_close(reg);
  rm_tree(dir);
}

TEST_MAIN()
