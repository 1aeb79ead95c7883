/* W3C traceparent parsing and formatting: the valid form, every kind of
 * malformed input, and higher versions. */
#include "tensorwasm/trace.h"
#include "test.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define VALID "00-" TID "-" SID "-01"

static bool parse(const char *s, tw_trace_ctx *out) {
  return tw_traceparent_parse(s, strlen(s), out);
}

static bool is_zero(const tw_trace_ctx *c) {
  static const tw_trace_ctx z;
  return memcmp(c, &z, sizeof z) == 0;
}

TEST(valid_round_trip) {
  tw_trace_ctx c;
  char out[TW_TRACEPARENT_LEN + 1], hex[33], shex[17];
  ASSERT(parse(VALID, &c));
  ASSERT_EQ_INT(c.trace_id[0], 0x4b);
  ASSERT_EQ_INT(c.trace_id[15], 0x36);
  ASSERT_EQ_INT(c.span_id[0], 0x00);
  ASSERT_EQ_INT(c.span_id[7], 0xb7);
  ASSERT_EQ_INT(c.flags, TW_TRACE_FLAG_SAMPLED);
  tw_trace_id_hex(&c, hex);
  ASSERT_EQ_STR(hex, TID);
  tw_span_id_hex(&c, shex);
  ASSERT_EQ_STR(shex, SID);
  ASSERT(tw_traceparent_format(&c, out));
  ASSERT_EQ_STR(out, VALID);
}

TEST(valid_not_sampled_and_unknown_flags) {
  tw_trace_ctx c;
  char out[TW_TRACEPARENT_LEN + 1];
  ASSERT(parse("00-" TID "-" SID "-00", &c));
  ASSERT_EQ_INT(c.flags, 0);
  /* Bits other than sampled are accepted but not kept or forwarded. */
  ASSERT(parse("00-" TID "-" SID "-ff", &c));
  ASSERT_EQ_INT(c.flags, TW_TRACE_FLAG_SAMPLED);
  ASSERT(tw_traceparent_format(&c, out));
  ASSERT_EQ_STR(out, VALID);
  ASSERT(parse("00-" TID "-" SID "-02", &c));
  ASSERT_EQ_INT(c.flags, 0);
}

TEST(surrounding_whitespace_ignored) {
  tw_trace_ctx c;
  ASSERT(parse(" \t" VALID "  ", &c));
  ASSERT_EQ_INT(c.flags, 1);
}

TEST(length_not_nul_terminated) {
  tw_trace_ctx c;
  char buf[80];
  snprintf(buf, sizeof buf, "%sTRAILING", VALID);
  ASSERT(tw_traceparent_parse(buf, TW_TRACEPARENT_LEN, &c));
  ASSERT(!tw_traceparent_parse(buf, strlen(buf), &c));
}

/* Each of these must be rejected, leaving the output zeroed. */
static const char *const malformed[] = {
    "",
    "00",
    "garbage",
    /* uppercase hex in each field */
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01",
    "00-" TID "-00F067AA0BA902B7-01",
    "00-" TID "-" SID "-0A",
    "0A-" TID "-" SID "-01",
    /* all-zero ids */
    "00-00000000000000000000000000000000-" SID "-01",
    "00-" TID "-0000000000000000-01",
    /* version ff is forbidden */
    "ff-" TID "-" SID "-01",
    /* non-hex characters */
    "00-4bf92f3577b34da6a3ce929d0e0e473g-" SID "-01",
    "00-" TID "-00f067aa0ba902bz-01",
    "00-" TID "-" SID "-0x",
    "zz-" TID "-" SID "-01",
    /* wrong separators */
    "00_" TID "-" SID "-01",
    "00-" TID "_" SID "-01",
    "00-" TID "-" SID "_01",
    /* wrong field lengths (total length kept or changed) */
    "00-" TID "0-" SID "01",
    "00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-01",
    "00-" TID "-" SID "-1",
    "00-" TID "-00f067aa0ba902b-01",
    "0-" TID "-" SID "-01",
    /* version 00 must be exactly 55 characters */
    VALID "-",
    VALID "-extra",
    VALID "0",
    /* a higher version still needs the dash after the flags */
    "01-" TID "-" SID "-01x",
    "cc-" TID "-" SID "-01.what",
    /* higher version shorter than 55 */
    "01-" TID "-" SID "-1",
};

TEST(malformed_rejected) {
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    tw_trace_ctx c;
    memset(&c, 0xAA, sizeof c);
    if (parse(malformed[i], &c))
      TW__FAIL("accepted malformed traceparent \"%s\"", malformed[i]);
    if (!is_zero(&c))
      TW__FAIL("output not zeroed for \"%s\"", malformed[i]);
  }
}

TEST(null_input) {
  tw_trace_ctx c;
  ASSERT(!tw_traceparent_parse(NULL, 0, &c));
  ASSERT(is_zero(&c));
}

TEST(embedded_nul_rejected) {
  tw_trace_ctx c;
  char buf[TW_TRACEPARENT_LEN + 1];
  memcpy(buf, VALID, sizeof buf);
  buf[20] = '\0';
  ASSERT(!tw_traceparent_parse(buf, TW_TRACEPARENT_LEN, &c));
}

TEST(future_version) {
  tw_trace_ctx c;
  char out[TW_TRACEPARENT_LEN + 1];
  /* Exactly 55 characters. */
  ASSERT(parse("01-" TID "-" SID "-01", &c));
  ASSERT_EQ_INT(c.flags, 1);
  /* Longer, with the fields a later version might add after a dash. */
  ASSERT(parse("cc-" TID "-" SID "-01-what-the-future-will-be-like", &c));
  ASSERT_EQ_INT(c.flags, 1);
  ASSERT(parse("fe-" TID "-" SID "-00-x", &c));
  ASSERT_EQ_INT(c.flags, 0);
  /* We answer in the version we speak. */
  ASSERT(parse("cc-" TID "-" SID "-01-z", &c));
  ASSERT(tw_traceparent_format(&c, out));
  ASSERT_EQ_STR(out, VALID);
}

TEST(format_invalid_ctx) {
  tw_trace_ctx c;
  char out[TW_TRACEPARENT_LEN + 1] = "x";
  memset(&c, 0, sizeof c);
  ASSERT(!tw_traceparent_format(&c, out));
  ASSERT_EQ_STR(out, "");
  ASSERT(!tw_trace_ctx_is_valid(&c));
  ASSERT(!tw_trace_ctx_is_valid(NULL));
}

TEST(new_root_ids_random_and_valid) {
  tw_trace_ctx a, b;
  tw_trace_ctx_new_root(&a);
  tw_trace_ctx_new_root(&b);
  ASSERT(tw_trace_ctx_is_valid(&a));
  ASSERT(tw_trace_ctx_is_valid(&b));
  ASSERT(memcmp(a.trace_id, b.trace_id, 16) != 0);
  ASSERT(memcmp(a.span_id, b.span_id, 8) != 0);
  ASSERT_EQ_INT(a.flags, TW_TRACE_FLAG_SAMPLED);
}

TEST_MAIN()
