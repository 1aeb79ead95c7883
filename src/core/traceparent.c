/* W3C Trace Context `traceparent` parsing and formatting, and id hex.
 *
 * The header is version "-" trace-id "-" parent-id "-" trace-flags, all
 * lowercase hex.  Version 00 is exactly 55 characters.  A higher version
 * (ff is never valid) may carry more fields after the four we know, so
 * it is read by its version-00 prefix and the character after that
 * prefix must end the value or be a '-'.  All-zero ids are invalid.
 * Any failure leaves *out zeroed so that a caller which ignores the
 * result still starts a fresh root rather than joining garbage. */
#include <string.h>

#include "tensorwasm/trace.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* uppercase is malformed by the spec */
}

/* Decodes 2*n lowercase hex characters into n bytes. */
static bool hex_decode(const char *s, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool tw_traceparent_parse(const char *str, size_t len, tw_trace_ctx *out) {
  tw_trace_ctx ctx;
  uint8_t version, flags;
  memset(out, 0, sizeof *out);
  if (!str) return false;
  while (len > 0 && is_ows(str[0])) str++, len--;
  while (len > 0 && is_ows(str[len - 1])) len--;

  if (len < TW_TRACEPARENT_LEN) return false;
  if (!hex_decode(str, &version, 1) || version == 0xff) return false;
  if (version == 0x00 && len != TW_TRACEPARENT_LEN) return false;
  if (version != 0x00 && len > TW_TRACEPARENT_LEN &&
      str[TW_TRACEPARENT_LEN] != '-')
    return false;
  if (str[2] != '-' || str[35] != '-' || str[52] != '-') return false;

  memset(&ctx, 0, sizeof ctx);
  if (!hex_decode(str + 3, ctx.trace_id, 16)) return false;
  if (!hex_decode(str + 36, ctx.span_id, 8)) return false;
  if (!hex_decode(str + 53, &flags, 1)) return false;
  if (all_zero(ctx.trace_id, 16) || all_zero(ctx.span_id, 8)) return false;
  /* Level 1 defines only the sampled bit; the others are not ours to
   * forward. */
  ctx.flags = flags & TW_TRACE_FLAG_SAMPLED;
  *out = ctx;
  return true;
}

static void hex_encode(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

bool tw_trace_ctx_is_valid(const tw_trace_ctx *ctx) {
  return ctx && !all_zero(ctx->trace_id, 16) && !all_zero(ctx->span_id, 8);
}

bool tw_traceparent_format(const tw_trace_ctx *ctx,
                           char out[TW_TRACEPARENT_LEN + 1]) {
  uint8_t flags;
  out[0] = '\0';
  if (!tw_trace_ctx_is_valid(ctx)) return false;
  memcpy(out, "00-", 3);
  hex_encode(ctx->trace_id, 16, out + 3);
  out[35] = '-';
  hex_encode(ctx->span_id, 8, out + 36);
  out[52] = '-';
  flags = ctx->flags & TW_TRACE_FLAG_SAMPLED;
  hex_encode(&flags, 1, out + 53);
  return true;
}

void tw_trace_id_hex(const tw_trace_ctx *ctx, char out[33]) {
  static const uint8_t zero[16];
  hex_encode(ctx ? ctx->trace_id : zero, 16, out);
}

void tw_span_id_hex(const tw_trace_ctx *ctx, char out[17]) {
  static const uint8_t zero[8];
  hex_encode(ctx ? ctx->span_id : zero, 8, out);
}
