/* The job's `traceparent` field (added with the NATS backend, issue 13) on
 * the SQLite backend: stored and handed back by get and claim, checked on
 * the way in, and added to existing databases by schema migration 1 -> 2
 * without touching their jobs.  (The NATS side of the same field is in
 * test_nats.c, where it travels as a message header between nodes.) */
#include <ftw.h>
#include <sqlite3.h>
#include <unistd.h>

#include "tensorwasm/registry.h"
#include "test.h"

static const char *FID = "11111111-2222-4333-8444-555555555555";
static const char *TP =
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

static void make_dir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/tw-store-tp-XXXXXX");
  if (!mkdtemp(buf))
    abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_tree(const char *dir) {
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

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

TEST(sqlite_stores_and_returns_traceparent) {
  char dir[64];
  make_dir(dir, sizeof dir);
  tw_registry_t *reg = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_OK);
  char a[TW_UUID_LEN + 1], b[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(a, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_uuid_new(b, &err), TW_OK);
  tw_job_spec spec = {.id = a, .function_id = FID, .tenant = 1,
                      .traceparent = TP};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_OK);
  spec.id = b;
  spec.traceparent = NULL;
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_OK);

  tw_job job = {0};
  ASSERT_EQ_INT(tw_registry_job_get(reg, a, &job, &err), TW_OK);
  ASSERT_EQ_STR(job.traceparent, TP);
  tw_job_clear(&job);
  ASSERT(job.traceparent == NULL); /* cleared */
  bool claimed = false;
  ASSERT_EQ_INT(tw_registry_job_claim(reg, &job, &claimed, &err), TW_OK);
  ASSERT(claimed);
  ASSERT_EQ_STR(job.id, a);
  ASSERT_EQ_STR(job.traceparent, TP);
  tw_job_clear(&job);
  ASSERT_EQ_INT(tw_registry_job_get(reg, b, &job, &err), TW_OK);
  ASSERT(job.traceparent == NULL);
  tw_job_clear(&job);

  /* Malformed values never get in. */
  char c[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(c, &err), TW_OK);
  spec.id = c;
  const char *bad[] = {
      "", "garbage",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra-bytes",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    spec.traceparent = bad[i];
    ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_ARG);
    ASSERT_CONTAINS(err.message, "traceparent");
  }
  ASSERT_EQ_INT(tw_registry_job_get(reg, c, &job, &err), TW_NOT_FOUND);
  tw_registry_close(reg);
  rm_tree(dir);
}

/* A database as version 1 of the schema wrote it, with one job. */
static bool write_v1(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/registry.db", dir);
  sqlite3 *db = NULL;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(
        db,
        "CREATE TABLE blobs(sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,"
        "  bytes BLOB NOT NULL);"
        "CREATE TABLE functions(id TEXT PRIMARY KEY, tenant INTEGER NOT NULL,"
        "  name TEXT NOT NULL, sha256 TEXT NOT NULL REFERENCES blobs(sha256),"
        "  created_unix_ms INTEGER NOT NULL);"
        "CREATE INDEX functions_by_tenant"
        "  ON functions(tenant, created_unix_ms, id);"
        "CREATE INDEX functions_by_blob ON functions(sha256);"
        "CREATE TABLE jobs(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  id TEXT NOT NULL UNIQUE, function_id TEXT NOT NULL,"
        "  tenant INTEGER NOT NULL, status TEXT NOT NULL"
        "    CHECK (status IN ('pending','running','completed','failed')),"
        "  export TEXT, args TEXT NOT NULL, input BLOB, result TEXT,"
        "  error TEXT, created_unix_ms INTEGER NOT NULL,"
        "  started_unix_ms INTEGER, finished_unix_ms INTEGER);"
        "CREATE INDEX jobs_by_status ON jobs(status, seq);"
        "CREATE INDEX jobs_finished ON jobs(finished_unix_ms, seq)"
        "  WHERE status IN ('completed','failed');"
        "INSERT INTO jobs(id, function_id, tenant, status, args,"
        "  created_unix_ms) VALUES('aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',"
        "  '11111111-2222-4333-8444-555555555555', 3, 'pending', '[1]', 5);"
        "PRAGMA application_id = 1415017009; PRAGMA user_version = 1;",
        NULL, NULL, NULL);
  sqlite3_close(db);
  return rc == SQLITE_OK;
}

TEST(sqlite_migration_adds_traceparent_keeping_jobs) {
  char dir[64];
  make_dir(dir, sizeof dir);
  ASSERT(write_v1(dir));
  tw_registry_t *reg = NULL;
  tw_error err;
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_OK);
  ASSERT_EQ_INT(sql_int(dir, "PRAGMA user_version"), 2);
  tw_job job = {0};
  const char *old = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  ASSERT_EQ_INT(tw_registry_job_get(reg, old, &job, &err), TW_OK);
  ASSERT_EQ_INT(job.status, TW_JOB_PENDING);
  ASSERT_EQ_STR(job.args_json, "[1]");
  ASSERT_EQ_U64(job.tenant, 3);
  ASSERT(job.traceparent == NULL);
  tw_job_clear(&job);
  char id[TW_UUID_LEN + 1];
  ASSERT_EQ_INT(tw_registry_uuid_new(id, &err), TW_OK);
  tw_job_spec spec = {.id = id, .function_id = FID, .tenant = 3,
                      .traceparent = TP};
  ASSERT_EQ_INT(tw_registry_job_enqueue(reg, &spec, &err), TW_OK);
  tw_registry_close(reg);
  /* Reopening a current database migrates nothing. */
  ASSERT_EQ_INT(tw_registry_open(dir, NULL, &reg, &err), TW_OK);
  ASSERT_EQ_INT(tw_registry_job_get(reg, id, &job, &err), TW_OK);
  ASSERT_EQ_STR(job.traceparent, TP);
  tw_job_clear(&job);
  tw_registry_close(reg);
  ASSERT_EQ_INT(sql_int(dir, "SELECT count(*) FROM jobs"), 2);
  rm_tree(dir);
}

TEST_MAIN()
