/* The pure checks of wasi:cuda (src/gpu/abi.c), which run before any driver
 * call: launch argument decoding (every tag, both caps, truncated, trailing
 * and unknown bytes, pointer bounds), block and grid limits, PTX text and
 * entry names, UTF-8, error-text truncation and code names. */
#include "gpu_util.h"
#include "test.h"

static int32_t decode(const argb *a, tw__cuda_arg *out, size_t *n) {
  char why[256];
  return tw__cuda_argv_decode(a->b, a->len, out, n, why, sizeof why);
}

TEST(argv_every_tag) {
  argb a = {.len = 0};
  argb_put(&a, TW_CUDA_ARG_I32, (uint32_t)-5, 4);
  argb_put(&a, TW_CUDA_ARG_I64, (uint64_t)-6, 8);
  argb_put(&a, TW_CUDA_ARG_F32, 0x3fc00000u, 4); /* 1.5f */
  argb_put(&a, TW_CUDA_ARG_F64, 0x400c000000000000ull, 8); /* 3.5 */
  argb_put(&a, TW_CUDA_ARG_U32, 0xfffffffeu, 4);
  argb_put(&a, TW_CUDA_ARG_U64, 0x0102030405060708ull, 8);
  argb_ptr(&a, 0x1234, 0x40);
  argb_buffer(&a, 0x7000001);
  ASSERT_EQ_INT(a.len, 5 + 9 + 5 + 9 + 5 + 9 + 9 + 9);
  tw__cuda_arg out[TW_CUDA_MAX_ARGS];
  size_t n = 0;
  ASSERT_EQ_INT(decode(&a, out, &n), TW_CUDA_OK);
  ASSERT_EQ_INT(n, 8);
  static const uint8_t tags[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t sizes[8] = {4, 8, 4, 8, 4, 8, 8, 8};
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ_INT(out[i].tag, tags[i]);
    ASSERT_EQ_INT(out[i].size, sizes[i]);
  }
  ASSERT_EQ_U64(out[0].bits, 0xfffffffbu); /* zero-extended wire bytes */
  ASSERT_EQ_U64(out[1].bits, (uint64_t)-6);
  ASSERT_EQ_U64(out[2].bits, 0x3fc00000u);
  ASSERT_EQ_U64(out[3].bits, 0x400c000000000000ull);
  ASSERT_EQ_U64(out[4].bits, 0xfffffffeu);
  ASSERT_EQ_U64(out[5].bits, 0x0102030405060708ull);
  ASSERT_EQ_INT(out[6].off, 0x1234);
  ASSERT_EQ_INT(out[6].len, 0x40);
  ASSERT_EQ_U64(out[7].bits, 0x7000001);
}

TEST(argv_little_endian_on_the_wire) {
  const uint8_t wire[] = {0x05, 0x78, 0x56, 0x34, 0x12};
  tw__cuda_arg out[1];
  size_t n;
  ASSERT_EQ_INT(tw__cuda_argv_decode(wire, 5, out, &n, NULL, 0), 0);
  ASSERT_EQ_U64(out[0].bits, 0x12345678);
}

TEST(argv_empty) {
  tw__cuda_arg out[1];
  size_t n = 99;
  ASSERT_EQ_INT(tw__cuda_argv_decode(NULL, 0, out, &n, NULL, 0), 0);
  ASSERT_EQ_INT(n, 0);
}

TEST(argv_record_cap) {
  argb a = {.len = 0};
  tw__cuda_arg out[TW_CUDA_MAX_ARGS];
  size_t n;
  for (int i = 0; i < TW_CUDA_MAX_ARGS; i++) argb_u32(&a, (uint32_t)i);
  ASSERT_EQ_INT(decode(&a, out, &n), TW_CUDA_OK);
  ASSERT_EQ_INT(n, TW_CUDA_MAX_ARGS);
  ASSERT_EQ_U64(out[127].bits, 127);
  argb_u32(&a, 128);
  char why[256] = "";
  ASSERT_EQ_INT(tw__cuda_argv_decode(a.b, a.len, out, &n, why, sizeof why),
                TW_CUDA_KERNEL_ARGS_UNSUPPORTED);
  ASSERT_CONTAINS(why, "more than 128");
}

TEST(argv_byte_cap) {
  static uint8_t big[TW_CUDA_MAX_ARGV_BYTES + 1];
  tw__cuda_arg out[TW_CUDA_MAX_ARGS];
  size_t n;
  char why[256] = "";
  /* Over 4 KiB is refused before a byte is read, whatever the bytes. */
  memset(big, 0xEE, sizeof big);
  ASSERT_EQ_INT(tw__cuda_argv_decode(big, sizeof big, out, &n, why,
                                     sizeof why),
                TW_CUDA_KERNEL_ARGS_UNSUPPORTED);
  ASSERT_CONTAINS(why, "4097 bytes");
  /* Well-formed records within 4 KiB pass the byte cap and hit the record
   * cap instead. */
  for (size_t i = 0; i + 5 <= TW_CUDA_MAX_ARGV_BYTES; i += 5) big[i] = 0x01;
  ASSERT_EQ_INT(tw__cuda_argv_decode(big, 4095, out, &n, NULL, 0),
                TW_CUDA_KERNEL_ARGS_UNSUPPORTED);
}

TEST(argv_truncated_every_tag) {
  static const uint8_t wire[8] = {4, 8, 4, 8, 4, 8, 8, 8};
  for (uint8_t tag = 1; tag <= 8; tag++)
    for (int have = 0; have < wire[tag - 1]; have++) {
      argb a = {.len = 0};
      argb_u32(&a, 7); /* a whole record first */
      a.b[a.len++] = tag;
      for (int i = 0; i < have; i++) a.b[a.len++] = 0xAA;
      tw__cuda_arg out[TW_CUDA_MAX_ARGS];
      size_t n;
      char why[256] = "";
      if (tw__cuda_argv_decode(a.b, a.len, out, &n, why, sizeof why) !=
          TW_CUDA_INVALID_ARGS)
        TW__FAIL("tag %u with %d value bytes not refused", tag, have);
      ASSERT_CONTAINS(why, "truncated");
    }
}

TEST(argv_trailing_bytes) {
  argb a = {.len = 0};
  argb_ptr(&a, 0, 4);
  a.b[a.len++] = 0x02; /* an i64 with no value */
  tw__cuda_arg out[TW_CUDA_MAX_ARGS];
  size_t n;
  ASSERT_EQ_INT(decode(&a, out, &n), TW_CUDA_INVALID_ARGS);
  a.len--;
  a.b[a.len++] = 0x00; /* a stray zero byte */
  ASSERT_EQ_INT(decode(&a, out, &n), TW_CUDA_INVALID_ARGS);
}

TEST(argv_unknown_tags) {
  static const uint8_t bad[] = {0x00, 0x09, 0x10, 0x7f, 0x80, 0xff};
  for (size_t i = 0; i < sizeof bad; i++) {
    uint8_t wire[9] = {bad[i]};
    tw__cuda_arg out[1];
    size_t n;
    char why[256] = "";
    ASSERT_EQ_INT(tw__cuda_argv_decode(wire, 9, out, &n, why, sizeof why),
                  TW_CUDA_INVALID_ARGS);
    ASSERT_CONTAINS(why, "unknown tag");
  }
}

TEST(argv_pointer_bounds) {
  tw__cuda_arg a[1] = {{.tag = TW_CUDA_ARG_PTR, .size = 8}};
  const uint64_t size = 65536;
  a[0].off = 65536 - 16;
  a[0].len = 16;
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, size, NULL, 0), 0);
  a[0].len = 17;
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, size, NULL, 0),
                TW_CUDA_INVALID_POINTER);
  a[0].off = 65536;
  a[0].len = 0; /* empty range at the end: allowed */
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, size, NULL, 0), 0);
  a[0].off = 65537;
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, size, NULL, 0),
                TW_CUDA_INVALID_POINTER);
  a[0].off = 0xFFFFFFFFu; /* no 32-bit wrap-around */
  a[0].len = 0xFFFFFFFFu;
  char why[256] = "";
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, size, why, sizeof why),
                TW_CUDA_INVALID_POINTER);
  ASSERT_CONTAINS(why, "outside linear memory");
  /* No memory at all: only the empty range at 0. */
  a[0].off = 0;
  a[0].len = 0;
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, 0, NULL, 0), 0);
  a[0].len = 1;
  ASSERT_EQ_INT(tw__cuda_argv_check_ptrs(a, 1, 0, NULL, 0),
                TW_CUDA_INVALID_POINTER);
}

static int32_t dims(int32_t gx, int32_t gy, int32_t gz, int32_t bx,
                    int32_t by, int32_t bz) {
  const int32_t g[3] = {gx, gy, gz}, b[3] = {bx, by, bz};
  return tw__cuda_check_dims(g, b, NULL, 0);
}

TEST(dimensions) {
  ASSERT_EQ_INT(dims(1, 1, 1, 1, 1, 1), 0);
  ASSERT_EQ_INT(dims(INT32_MAX, INT32_MAX, INT32_MAX, 1024, 1, 1), 0);
  ASSERT_EQ_INT(dims(1, 1, 1, 32, 32, 1), 0);
  ASSERT_EQ_INT(dims(1, 1, 1, 1, 1, 1024), 0);
  for (int axis = 0; axis < 3; axis++) {
    int32_t bad[3] = {0, -1, INT32_MIN};
    for (int k = 0; k < 3; k++) {
      int32_t g[3] = {1, 1, 1}, b[3] = {1, 1, 1};
      g[axis] = bad[k];
      ASSERT_EQ_INT(tw__cuda_check_dims(g, b, NULL, 0),
                    TW_CUDA_INVALID_DIMENSIONS);
      g[axis] = 1;
      b[axis] = bad[k];
      ASSERT_EQ_INT(tw__cuda_check_dims(g, b, NULL, 0),
                    TW_CUDA_INVALID_DIMENSIONS);
      b[axis] = 1025;
      ASSERT_EQ_INT(tw__cuda_check_dims(g, b, NULL, 0),
                    TW_CUDA_INVALID_DIMENSIONS);
    }
  }
  char why[256] = "";
  const int32_t g[3] = {1, 1, 1}, b[3] = {32, 32, 2};
  ASSERT_EQ_INT(tw__cuda_check_dims(g, b, why, sizeof why),
                TW_CUDA_INVALID_DIMENSIONS);
  ASSERT_CONTAINS(why, "2048 threads");
  /* A product that would overflow 32 bits is still caught. */
  ASSERT_EQ_INT(dims(1, 1, 1, 1024, 1024, 1024), TW_CUDA_INVALID_DIMENSIONS);
}

static int32_t ptx(const char *text, size_t len) {
  size_t tl;
  return tw__cuda_check_ptx((const uint8_t *)text, len, &tl, NULL, 0);
}

TEST(ptx_text) {
  const char good[] = ".version 7.0\n.target sm_75\n.entry k() { ret; }\n";
  size_t tl = 0;
  ASSERT_EQ_INT(ptx(good, sizeof good - 1), 0);
  /* One final NUL (a C string's) is accepted and not part of the text. */
  ASSERT_EQ_INT(tw__cuda_check_ptx((const uint8_t *)good, sizeof good, &tl,
                                   NULL, 0), 0);
  ASSERT_EQ_INT(tl, sizeof good - 1);
  ASSERT_EQ_INT(ptx("", 0), TW_CUDA_MALFORMED_PTX);
  ASSERT_EQ_INT(ptx("\0", 1), TW_CUDA_MALFORMED_PTX);
  char nul[sizeof good];
  memcpy(nul, good, sizeof good);
  nul[5] = 0;
  ASSERT_EQ_INT(ptx(nul, sizeof good - 1), TW_CUDA_MALFORMED_PTX);
  char bad[sizeof good];
  memcpy(bad, good, sizeof good);
  bad[3] = (char)0xC0; /* not UTF-8 */
  ASSERT_EQ_INT(ptx(bad, sizeof good - 1), TW_CUDA_MALFORMED_PTX);
  char why[256] = "";
  const char *missing[3] = {".target sm_75\n.entry k()",
                            ".version 7.0\n.entry k()",
                            ".version 7.0\n.target sm_75\n"};
  const char *directive[3] = {".version", ".target", ".entry"};
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ_INT(tw__cuda_check_ptx((const uint8_t *)missing[i],
                                     strlen(missing[i]), &tl, why, sizeof why),
                  TW_CUDA_MALFORMED_PTX);
    ASSERT_CONTAINS(why, directive[i]);
  }
}

TEST(entry_names) {
  char name[300];
  memset(name, 'k', sizeof name);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)name, 256, NULL, 0), 0);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)name, 257, NULL, 0),
                TW_CUDA_QUOTA_EXCEEDED);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)name, 0, NULL, 0),
                TW_CUDA_INVALID_ARGS);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)"a\0b", 3, NULL, 0),
                TW_CUDA_INVALID_ARGS);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)"a\xff", 2, NULL, 0),
                TW_CUDA_INVALID_ARGS);
  ASSERT_EQ_INT(tw__cuda_check_entry((const uint8_t *)"k\xc3\xa9", 3, NULL, 0),
                0);
}

TEST(utf8) {
  struct { const char *s; bool ok; } cases[] = {
      {"plain", true},
      {"\xc3\xa9", true},                /* é */
      {"\xe2\x80\xa6", true},            /* … */
      {"\xf0\x9f\x98\x80", true},        /* U+1F600 */
      {"\xc0\xaf", false},               /* overlong '/' */
      {"\xe0\x80\xaf", false},           /* overlong */
      {"\xed\xa0\x80", false},           /* surrogate */
      {"\xf4\x90\x80\x80", false},       /* past U+10FFFF */
      {"\xe2\x80", false},               /* truncated */
      {"\x80", false},                   /* lone continuation */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (tw__cuda_utf8_valid((const uint8_t *)cases[i].s,
                            strlen(cases[i].s)) != cases[i].ok)
      TW__FAIL("case %zu", i);
}

TEST(error_truncation) {
  char msg[700], out[TW_CUDA_MAX_ERROR_BYTES + 4];
  memset(msg, 'x', 600);
  msg[600] = 0;
  ASSERT_EQ_INT(tw__cuda_error_truncate(out, msg), 512 + 3);
  ASSERT_EQ_INT(strlen(out), 515);
  ASSERT_EQ_STR(out + 512, "\xe2\x80\xa6");
  /* A two-byte character across the cut is dropped whole. */
  memset(msg, 'y', 511);
  memcpy(msg + 511, "\xc3\xa9zzz", 6);
  ASSERT_EQ_INT(tw__cuda_error_truncate(out, msg), 511 + 3);
  ASSERT(tw__cuda_utf8_valid((const uint8_t *)out, strlen(out)));
  /* Exactly 512 bytes: kept as is. */
  memset(msg, 'z', 512);
  msg[512] = 0;
  ASSERT_EQ_INT(tw__cuda_error_truncate(out, msg), 512);
  ASSERT_EQ_STR(out, msg);
}

TEST(code_names) {
  ASSERT_EQ_STR(tw_cuda_code_name(0), "Ok");
  ASSERT_EQ_STR(tw_cuda_code_name(-1), "NotAvailable");
  ASSERT_EQ_STR(tw_cuda_code_name(-2), "InvalidPointer");
  ASSERT_EQ_STR(tw_cuda_code_name(-3), "InvalidKernel");
  ASSERT_EQ_STR(tw_cuda_code_name(-4), "MalformedPtx");
  ASSERT_EQ_STR(tw_cuda_code_name(-5), "LaunchFailed");
  ASSERT_EQ_STR(tw_cuda_code_name(-6), "QuotaExceeded");
  ASSERT_EQ_STR(tw_cuda_code_name(-7), "Internal");
  ASSERT_EQ_STR(tw_cuda_code_name(-8), "InvalidDimensions");
  ASSERT_EQ_STR(tw_cuda_code_name(-9), "InvalidArgs");
  ASSERT_EQ_STR(tw_cuda_code_name(-10), "KernelArgsUnsupported");
  ASSERT_EQ_STR(tw_cuda_code_name(-11), "Unknown");
}

TEST_MAIN()
