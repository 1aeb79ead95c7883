/* Bad snapshots: each is rejected with its own kind and a message that
 * says what is wrong, and a cold start (instantiate + initialiser) still
 * gives the right state afterwards.  Corruptions that must get past the
 * checksum to reach a later check recompute it, as a forger would. */
#include <fcntl.h>
#include <openssl/sha.h>

#include "snap_util.h"
#include "snapshot/snapshot_int.h"
#include "test.h"

typedef struct fx {
  tw_engine_t *engine;
  tw_module_t *module;
  uint8_t *bytes; /* a good snapshot */
  size_t len;
} fx;

static int fx_setup(fx *f) {
  memset(f, 0, sizeof *f);
  tw_error e;
  tw_snapshot_error err;
  tw_store_t *s = NULL;
  if (tw_engine_new(NULL, &f->engine, &e) != TW_OK) return 0;
  if (!(f->module = wat_module(f->engine, state_wat))) return 0;
  if (tw_store_new(f->engine, &s, &e) != TW_OK) return 0;
  tw_status st = tw_snapshot_capture_bytes(s, f->module, NULL, 0, NULL,
                                           &f->bytes, &f->len, &err);
  tw_store_free(s);
  return st == TW_OK;
}

static void fx_teardown(fx *f) {
  free(f->bytes);
  if (f->module) tw_module_free(f->module);
  if (f->engine) tw_engine_free(f->engine);
}

static uint8_t *copy(const fx *f) {
  uint8_t *b = malloc(f->len);
  if (b) memcpy(b, f->bytes, f->len);
  return b;
}

static void reseal(uint8_t *b, size_t len) {
  SHA256(b, len - TW__SNAP_SUM_SIZE, b + len - TW__SNAP_SUM_SIZE);
}

/* What the caller does when a snapshot is rejected: 0 when the cold start
 * shows the initialiser's state. */
static int cold_start(const fx *f) {
  tw_store_t *s = NULL;
  tw_instance_t *inst = NULL;
  tw_error e;
  tw_snapshot_error err;
  int rc = -1;
  if (tw_store_new(f->engine, &s, &e) != TW_OK) return -1;
  if (tw_instance_new(s, f->module, NULL, 0, &inst, &e) == TW_OK &&
      tw_snapshot_run_initializer(s, inst, NULL, NULL, &err) == TW_OK)
    rc = state_check(s, inst);
  tw_store_free(s);
  return rc;
}

/* Opens `b` and expects `kind` with `text` in the message, then checks
 * that a cold start works.  Returns 0 or a line to report. */
static int expect_reject(const fx *f, const uint8_t *b, size_t len,
                         tw_snapshot_error_kind kind, const char *text) {
  tw_snapshot_t *snap = (tw_snapshot_t *)1;
  tw_snapshot_error err;
  tw_status st = tw_snapshot_open_bytes(b, len, f->module, &snap, &err);
  if (st == TW_OK) {
    fprintf(stderr, "  accepted a bad snapshot (wanted %s)\n",
            tw_snapshot_error_kind_name(kind));
    tw_snapshot_free(snap);
    return __LINE__;
  }
  if (snap != NULL || err.kind != kind || st != err.base.status ||
      !strstr(err.base.message, text)) {
    fprintf(stderr, "  got %s \"%s\", wanted %s containing \"%s\"\n",
            tw_snapshot_error_kind_name(err.kind), err.base.message,
            tw_snapshot_error_kind_name(kind), text);
    return __LINE__;
  }
  return cold_start(f) == 0 ? 0 : __LINE__;
}

TEST(the_good_snapshot_opens) {
  fx f;
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  ASSERT_EQ_INT(tw_snapshot_open_bytes(f.bytes, f.len, f.module, &snap, &err),
                TW_OK);
  tw_snapshot_free(snap);
  ASSERT_EQ_INT(cold_start(&f), 0);
  fx_teardown(&f);
}

TEST(truncated_snapshots_are_rejected) {
  fx f;
  ASSERT(fx_setup(&f));
  size_t cuts[] = {0, 5, 11, 100, 191, 300, f.len / 2, f.len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
    ASSERT_EQ_INT(expect_reject(&f, f.bytes, cuts[i], TW_SNAPSHOT_ERR_TRUNCATED,
                                "truncated"), 0);
  fx_teardown(&f);
}

TEST(truncated_file_is_rejected) {
  fx f;
  char path[] = "/tmp/tw-snap-trunc-XXXXXX";
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  ASSERT(write(fd, f.bytes, f.len - 4096) == (ssize_t)(f.len - 4096));
  close(fd);
  ASSERT_EQ_INT(tw_snapshot_open_file(path, f.module, &snap, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_TRUNCATED);
  ASSERT_CONTAINS(err.base.message, "declares");
  ASSERT(!snap);
  fd = open(path, O_WRONLY | O_TRUNC);
  close(fd);
  ASSERT_EQ_INT(tw_snapshot_open_file(path, f.module, &snap, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_TRUNCATED);
  unlink(path);
  ASSERT_EQ_INT(tw_snapshot_open_file(path, f.module, &snap, &err), TW_IO);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_IO);
  ASSERT_EQ_INT(cold_start(&f), 0);
  fx_teardown(&f);
}

TEST(wrong_magic_version_and_engine_are_rejected) {
  fx f;
  ASSERT(fx_setup(&f));
  uint8_t *b = copy(&f);
  ASSERT(b);
  b[0] = 'X';
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_BAD_MAGIC,
                              "not a snapshot"), 0);
  memcpy(b, f.bytes, f.len);
  tw__wr32(b + TW__SH_VERSION, 2);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_VERSION,
                              "format version 2 is not supported"), 0);
  memcpy(b, f.bytes, f.len);
  memcpy(b + TW__SH_ENGINE, "tensorwasm/9.9.9", 16);
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_ENGINE_VERSION,
                              "made by engine \"tensorwasm/9.9.9\""), 0);
  free(b);
  fx_teardown(&f);
}

TEST(checksum_mismatch_is_rejected) {
  fx f;
  ASSERT(fx_setup(&f));
  uint8_t *b = copy(&f);
  ASSERT(b);
  /* one bit of the memory image, of the meta region, of the sum itself */
  size_t at[] = {tw__rd64(f.bytes + TW__SH_MEMORY_OFF) + 4096,
                 TW__SNAP_HEADER_SIZE + 1, f.len - 1};
  for (size_t i = 0; i < 3; i++) {
    memcpy(b, f.bytes, f.len);
    b[at[i]] ^= 0x10;
    ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_CHECKSUM,
                                "checksum mismatch"), 0);
  }
  free(b);
  fx_teardown(&f);
}

TEST(another_module_is_rejected) {
  fx f;
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  tw_module_t *other = wat_module(f.engine, "(module (memory 1))");
  ASSERT(other);
  ASSERT_EQ_INT(tw_snapshot_open_bytes(f.bytes, f.len, other, &snap, &err),
                TW_INVALID);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_MODULE_MISMATCH);
  ASSERT_CONTAINS(err.base.message, "another module");
  tw_module_free(other);
  ASSERT_EQ_INT(cold_start(&f), 0);
  fx_teardown(&f);
}

TEST(wrong_sizes_are_rejected) {
  fx f;
  ASSERT(fx_setup(&f));
  uint8_t *b = copy(&f);
  ASSERT(b);
  /* memory page count that disagrees with the image */
  tw__wr32(b + TW__SH_MEMORY_PAGES, 2);
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_LAYOUT,
                              "2 pages need 131072"), 0);
  /* a count far beyond what the meta region holds */
  memcpy(b, f.bytes, f.len);
  tw__wr32(b + TW__SH_NGLOBALS, 0x10000000);
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_LAYOUT,
                              "more than its meta region holds"), 0);
  /* regions that overlap */
  memcpy(b, f.bytes, f.len);
  tw__wr64(b + TW__SH_META_LEN, tw__rd64(f.bytes + TW__SH_META_LEN) + 64);
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_LAYOUT,
                              "regions are out of place"), 0);
  /* a declared size smaller than the file: trailing bytes */
  uint8_t *longer = malloc(f.len + 8);
  ASSERT(longer);
  memcpy(longer, f.bytes, f.len);
  memset(longer + f.len, 0, 8);
  ASSERT_EQ_INT(expect_reject(&f, longer, f.len + 8, TW_SNAPSHOT_ERR_LAYOUT,
                              "declares"), 0);
  free(longer);
  /* a table entry beyond its table: the first table record sits after the
   * globals (4 of them in state_wat) */
  memcpy(b, f.bytes, f.len);
  size_t trec = TW__SNAP_HEADER_SIZE + 4 * TW__SNAP_GLOBAL_REC;
  ASSERT_EQ_INT(tw__rd32(b + trec + 12), 1); /* one entry: slot 2 */
  tw__wr32(b + trec + TW__SNAP_TABLE_REC, 4);
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_LAYOUT,
                              "out of range or out of order"), 0);
  /* a segment flag that is not 0 or 1 (after the table's 8-byte entry) */
  memcpy(b, f.bytes, f.len);
  b[trec + TW__SNAP_TABLE_REC + TW__SNAP_ENTRY_REC] = 7;
  reseal(b, f.len);
  ASSERT_EQ_INT(expect_reject(&f, b, f.len, TW_SNAPSHOT_ERR_LAYOUT,
                              "not 0 or 1"), 0);
  free(b);
  fx_teardown(&f);
}

/* Moves the memory image 8 bytes further (a forger's valid-looking file
 * whose image cannot be mapped). */
TEST(unaligned_memory_offset_is_rejected) {
  fx f;
  ASSERT(fx_setup(&f));
  size_t mem_off = tw__rd64(f.bytes + TW__SH_MEMORY_OFF);
  size_t len = f.len + 8;
  uint8_t *b = calloc(1, len);
  ASSERT(b);
  memcpy(b, f.bytes, mem_off);
  memcpy(b + mem_off + 8, f.bytes + mem_off, f.len - mem_off);
  tw__wr64(b + TW__SH_MEMORY_OFF, mem_off + 8);
  tw__wr64(b + TW__SH_FILE_SIZE, len);
  reseal(b, len);
  ASSERT_EQ_INT(expect_reject(&f, b, len, TW_SNAPSHOT_ERR_UNALIGNED,
                              "is not aligned"), 0);
  free(b);
  fx_teardown(&f);
}

/* A forged but well-formed snapshot whose function index does not exist
 * in the module: caught by the first restore, before it is used. */
TEST(function_index_outside_the_module_is_rejected_at_restore) {
  fx f;
  tw_snapshot_t *snap = NULL;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  uint8_t *b = copy(&f);
  ASSERT(b);
  size_t trec = TW__SNAP_HEADER_SIZE + 4 * TW__SNAP_GLOBAL_REC;
  tw__wr32(b + trec + TW__SNAP_TABLE_REC + 4, 999);
  reseal(b, f.len);
  ASSERT_EQ_INT(tw_snapshot_open_bytes(b, f.len, f.module, &snap, &err), TW_OK);
  tw_store_t *s = NULL;
  tw_instance_t *inst = NULL;
  tw_error e;
  ASSERT_EQ_INT(tw_store_new(f.engine, &s, &e), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_INVALID);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_INCOMPATIBLE);
  ASSERT_CONTAINS(err.base.message, "refers to function 999");
  ASSERT(!inst);
  /* the caller cold-starts in the same store */
  ASSERT_EQ_INT(tw_instance_new(s, f.module, NULL, 0, &inst, &e), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_run_initializer(s, inst, NULL, NULL, &err), TW_OK);
  ASSERT_EQ_INT(state_check(s, inst), 0);
  tw_store_free(s);
  tw_snapshot_free(snap);
  free(b);
  fx_teardown(&f);
}

/* Every single-byte change to the header and meta region, resealed so it
 * reaches the structural checks: each is rejected at open or restore, or
 * (for the few bytes that only carry data, such as the creation time or a
 * global's value) restores without harm.  Run under the sanitizers this
 * is the hostile-input test. */
TEST(every_header_and_meta_byte_flip_is_handled) {
  fx f;
  ASSERT(fx_setup(&f));
  uint8_t *b = copy(&f);
  ASSERT(b);
  size_t end = TW__SNAP_HEADER_SIZE + tw__rd64(f.bytes + TW__SH_META_LEN);
  int rejected = 0, accepted = 0;
  for (size_t i = 0; i < end; i++) {
    memcpy(b, f.bytes, f.len);
    b[i] ^= 0xA5;
    reseal(b, f.len);
    tw_snapshot_t *snap = NULL;
    tw_snapshot_error err;
    if (tw_snapshot_open_bytes(b, f.len, f.module, &snap, &err) != TW_OK) {
      ASSERT(err.kind != TW_SNAPSHOT_ERR_NONE && err.base.message[0]);
      rejected++;
      continue;
    }
    tw_store_t *s = NULL;
    tw_instance_t *inst = NULL;
    tw_error e;
    ASSERT_EQ_INT(tw_store_new(f.engine, &s, &e), TW_OK);
    if (tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err) == TW_OK)
      accepted++;
    else
      rejected++;
    tw_store_free(s);
    tw_snapshot_free(snap);
  }
  ASSERT(rejected > (int)end / 2);
  ASSERT(accepted > 0);
  free(b);
  fx_teardown(&f);
}

TEST_MAIN()
