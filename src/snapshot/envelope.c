/* The signed envelope that carries a snapshot between machines (the
 * gateway's /snapshot/save and /snapshot/restore).
 *
 * Layout (little-endian):
 *   "TWSE" | u32 version | u64 tenant_id | u64 module_len | u64 snapshot_len
 *   | module bytes | snapshot bytes | HMAC-SHA256(key, everything before)
 *
 * The MAC is checked, in constant time, before a single field is read, so
 * a forger learns nothing from which check failed: a wrong key, a changed
 * byte, a short or unsigned blob all give SIGNATURE_INVALID.  Only then is
 * the layout parsed and the tenant compared: the tenant id is inside the
 * signed part, so one tenant cannot relabel another's snapshot. */
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "snapshot/snapshot_int.h"

#define ENV_MAGIC "TWSE"
#define ENV_VERSION 1u
#define ENV_HEAD 32u
#define ENV_MAC 32u

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

tw_status tw_snapshot_key_parse(const char *hex, size_t len,
                                uint8_t key[TW_SNAPSHOT_KEY_BYTES],
                                tw_snapshot_error *err) {
  if (!hex || !len)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED,
                         "no snapshot signing key: set %s to 64 hex "
                         "characters", TW_SNAPSHOT_HMAC_KEY_ENV);
  if (!key || len != 2 * TW_SNAPSHOT_KEY_BYTES)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_KEY_INVALID,
                         "snapshot signing key has %zu characters; it must "
                         "be exactly 64 hex characters (32 bytes)", len);
  for (size_t i = 0; i < TW_SNAPSHOT_KEY_BYTES; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      explicit_bzero(key, TW_SNAPSHOT_KEY_BYTES);
      return tw__snap_fail(err, TW_SNAPSHOT_ERR_KEY_INVALID,
                           "snapshot signing key has a non-hex character at "
                           "position %zu", 2 * i + (hi < 0 ? 0 : 1));
    }
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  return TW_OK;
}

tw_status tw_snapshot_key_from_env(uint8_t key[TW_SNAPSHOT_KEY_BYTES],
                                   tw_snapshot_error *err) {
  const char *v = getenv(TW_SNAPSHOT_HMAC_KEY_ENV);
  return tw_snapshot_key_parse(v, v ? strlen(v) : 0, key, err);
}

static void mac(const uint8_t *key, const uint8_t *p, size_t n,
                uint8_t out[ENV_MAC]) {
  tw__hmac_sha256(key, TW_SNAPSHOT_KEY_BYTES, p, n, out);
}

tw_status tw_snapshot_envelope_seal(const uint8_t *key,
                                    const tw_snapshot_envelope *in,
                                    uint8_t **out, size_t *len,
                                    tw_snapshot_error *err) {
  if (!key)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED,
                         "cannot sign the snapshot: no signing key is "
                         "configured (%s)", TW_SNAPSHOT_HMAC_KEY_ENV);
  if (!in || !out || !len || (in->module_len && !in->module) ||
      (in->snapshot_len && !in->snapshot))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_envelope_seal: missing argument");
  *out = NULL;
  *len = 0;
  size_t body = ENV_HEAD + in->module_len;
  if (body < in->module_len || body + in->snapshot_len < body ||
      body + in->snapshot_len + ENV_MAC < ENV_MAC)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG, "envelope is too large");
  body += in->snapshot_len;
  uint8_t *b = malloc(body + ENV_MAC);
  if (!b)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_NOMEM,
                         "out of memory for a %zu-byte envelope",
                         body + ENV_MAC);
  memcpy(b, ENV_MAGIC, 4);
  tw__wr32(b + 4, ENV_VERSION);
  tw__wr64(b + 8, in->tenant_id);
  tw__wr64(b + 16, in->module_len);
  tw__wr64(b + 24, in->snapshot_len);
  if (in->module_len) memcpy(b + ENV_HEAD, in->module, in->module_len);
  if (in->snapshot_len)
    memcpy(b + ENV_HEAD + in->module_len, in->snapshot, in->snapshot_len);
  mac(key, b, body, b + body);
  *out = b;
  *len = body + ENV_MAC;
  return TW_OK;
}

tw_status tw_snapshot_envelope_open(const uint8_t *key, const uint8_t *bytes,
                                    size_t len, uint64_t tenant_id,
                                    tw_snapshot_envelope *out,
                                    tw_snapshot_error *err) {
  if (!key)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED,
                         "cannot verify the snapshot: no signing key is "
                         "configured (%s)", TW_SNAPSHOT_HMAC_KEY_ENV);
  if (!out || (!bytes && len))
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_ARG,
                         "tw_snapshot_envelope_open: missing argument");
  memset(out, 0, sizeof *out);
  uint8_t want[ENV_MAC];
  bool valid = len >= ENV_HEAD + ENV_MAC;
  if (valid) {
    mac(key, bytes, len - ENV_MAC, want);
    valid = tw__digest_equal(want, bytes + len - ENV_MAC, ENV_MAC);
  }
  if (!valid)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_SIGNATURE_INVALID,
                         "snapshot signature is invalid (wrong key, changed "
                         "or unsigned data)");
  /* Signed by a holder of the key from here on; still checked. */
  uint64_t mlen = tw__rd64(bytes + 16), slen = tw__rd64(bytes + 24);
  uint64_t room = len - ENV_HEAD - ENV_MAC;
  if (memcmp(bytes, ENV_MAGIC, 4) != 0 || tw__rd32(bytes + 4) != ENV_VERSION ||
      mlen > room || slen != room - mlen)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_SIGNATURE_INVALID,
                         "signed snapshot envelope is malformed (unknown "
                         "version or inconsistent lengths)");
  uint64_t tenant = tw__rd64(bytes + 8);
  if (tenant != tenant_id)
    return tw__snap_fail(err, TW_SNAPSHOT_ERR_TENANT_MISMATCH,
                         "snapshot belongs to another tenant");
  out->tenant_id = tenant;
  out->module = mlen ? bytes + ENV_HEAD : NULL;
  out->module_len = (size_t)mlen;
  out->snapshot = bytes + ENV_HEAD + mlen;
  out->snapshot_len = (size_t)slen;
  return TW_OK;
}
