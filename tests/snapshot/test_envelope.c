/* The signed envelope: round trip (and a restore on "another machine": a
 * fresh engine built from the module inside), wrong key, changed bytes,
 * another tenant, missing and malformed keys, each with its own kind. */
#include "snap_util.h"
#include "test.h"

static const char *const key_hex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

typedef struct fx {
  uint8_t key[32];
  uint8_t *module;
  size_t module_len;
  uint8_t *snap;
  size_t snap_len;
} fx;

static int fx_setup(fx *f) {
  tw_engine_t *e = NULL;
  tw_module_t *m = NULL;
  tw_store_t *s = NULL;
  tw_error err;
  tw_snapshot_error serr;
  int ok = 0;
  memset(f, 0, sizeof *f);
  if (tw_snapshot_key_parse(key_hex, 64, f->key, &serr) != TW_OK) return 0;
  if (wat_bytes(state_wat, &f->module, &f->module_len) != 0) return 0;
  if (tw_engine_new(NULL, &e, &err) == TW_OK &&
      tw_module_new(e, f->module, f->module_len, &m, &err) == TW_OK &&
      tw_store_new(e, &s, &err) == TW_OK)
    ok = tw_snapshot_capture_bytes(s, m, NULL, 0, NULL, &f->snap, &f->snap_len,
                                   &serr) == TW_OK;
  if (s) tw_store_free(s);
  if (m) tw_module_free(m);
  if (e) tw_engine_free(e);
  return ok;
}

static void fx_teardown(fx *f) {
  free(f->module);
  free(f->snap);
}

static int seal(fx *f, uint64_t tenant, uint8_t **out, size_t *len) {
  tw_snapshot_envelope in = {tenant, f->module, f->module_len, f->snap,
                             f->snap_len};
  tw_snapshot_error err;
  return tw_snapshot_envelope_seal(f->key, &in, out, len, &err) == TW_OK;
}

TEST(round_trip_restores_on_a_fresh_engine) {
  fx f;
  uint8_t *env = NULL;
  size_t len = 0;
  tw_snapshot_envelope out;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  ASSERT(seal(&f, 42, &env, &len));
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, len, 42, &out, &err),
                TW_OK);
  ASSERT_EQ_U64(out.tenant_id, 42);
  ASSERT_EQ_U64(out.module_len, f.module_len);
  ASSERT_EQ_U64(out.snapshot_len, f.snap_len);
  ASSERT(memcmp(out.snapshot, f.snap, f.snap_len) == 0);
  /* the importing side has only the envelope */
  tw_engine_t *e = NULL;
  tw_module_t *m = NULL;
  tw_store_t *s = NULL;
  tw_snapshot_t *snap = NULL;
  tw_instance_t *inst = NULL;
  tw_error te;
  ASSERT_EQ_INT(tw_engine_new(NULL, &e, &te), TW_OK);
  ASSERT_EQ_INT(tw_module_new(e, out.module, out.module_len, &m, &te), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_open_bytes(out.snapshot, out.snapshot_len, m,
                                       &snap, &err), TW_OK);
  free(env); /* nothing borrowed from it is needed any more */
  ASSERT_EQ_INT(tw_store_new(e, &s, &te), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_instantiate(snap, s, NULL, 0, NULL, &inst, &err),
                TW_OK);
  ASSERT_EQ_INT(state_check(s, inst), 0);
  tw_store_free(s);
  tw_snapshot_free(snap);
  tw_module_free(m);
  tw_engine_free(e);
  fx_teardown(&f);
}

TEST(wrong_key_tampered_byte_and_short_blob_are_signature_invalid) {
  fx f;
  uint8_t *env = NULL, other[32];
  size_t len = 0;
  tw_snapshot_envelope out;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  ASSERT(seal(&f, 7, &env, &len));
  memcpy(other, f.key, 32);
  other[31] ^= 1;
  ASSERT_EQ_INT(tw_snapshot_envelope_open(other, env, len, 7, &out, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNATURE_INVALID);
  ASSERT_EQ_STR(tw_snapshot_error_kind_name(err.kind),
                "snapshot_signature_invalid");
  /* a changed byte anywhere: magic, tenant, lengths, module, snapshot, MAC */
  size_t at[] = {0, 8, 16, 24, 40, 32 + f.module_len + 300, len - 1};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    env[at[i]] ^= 0x01;
    ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, len, 7, &out, &err),
                  TW_MALFORMED);
    ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNATURE_INVALID);
    env[at[i]] ^= 0x01;
  }
  /* cut short, or nothing at all */
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, len - 1, 7, &out, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNATURE_INVALID);
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, 10, 7, &out, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, NULL, 0, 7, &out, &err),
                TW_MALFORMED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNATURE_INVALID);
  /* untouched, it still opens */
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, len, 7, &out, &err),
                TW_OK);
  free(env);
  fx_teardown(&f);
}

TEST(another_tenants_snapshot_is_refused) {
  fx f;
  uint8_t *env = NULL;
  size_t len = 0;
  tw_snapshot_envelope out;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  ASSERT(seal(&f, 1, &env, &len));
  ASSERT_EQ_INT(tw_snapshot_envelope_open(f.key, env, len, 2, &out, &err),
                TW_ARG);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_TENANT_MISMATCH);
  ASSERT_EQ_STR(tw_snapshot_error_kind_name(err.kind), "tenant_scope_denied");
  ASSERT_CONTAINS(err.base.message, "another tenant");
  ASSERT(out.snapshot == NULL);
  free(env);
  fx_teardown(&f);
}

TEST(missing_and_malformed_keys_have_their_own_kinds) {
  fx f;
  uint8_t key[32], *env = NULL;
  size_t len = 0;
  tw_snapshot_envelope out;
  tw_snapshot_error err;
  ASSERT(fx_setup(&f));
  unsetenv(TW_SNAPSHOT_HMAC_KEY_ENV);
  ASSERT_EQ_INT(tw_snapshot_key_from_env(key, &err), TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED);
  ASSERT_EQ_STR(tw_snapshot_error_kind_name(err.kind),
                "snapshot_signing_not_configured");
  setenv(TW_SNAPSHOT_HMAC_KEY_ENV, "", 1);
  ASSERT_EQ_INT(tw_snapshot_key_from_env(key, &err), TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED);
  /* sealing or opening without a key */
  tw_snapshot_envelope in = {1, NULL, 0, f.snap, f.snap_len};
  ASSERT_EQ_INT(tw_snapshot_envelope_seal(NULL, &in, &env, &len, &err),
                TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED);
  ASSERT_EQ_INT(tw_snapshot_envelope_open(NULL, f.snap, f.snap_len, 1, &out,
                                          &err), TW_UNSUPPORTED);
  ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_SIGNING_NOT_CONFIGURED);
  /* malformed: short, long, not hex */
  const char *bad[] = {"abcd", "000102030405060708090a0b0c0d0e0f101112131415"
                               "161718191a1b1c1d1e1f00",
                       "000102030405060708090a0b0c0d0e0f101112131415161718"
                       "191a1b1c1d1e1g"};
  for (size_t i = 0; i < 3; i++) {
    setenv(TW_SNAPSHOT_HMAC_KEY_ENV, bad[i], 1);
    ASSERT_EQ_INT(tw_snapshot_key_from_env(key, &err), TW_ARG);
    ASSERT_EQ_INT(err.kind, TW_SNAPSHOT_ERR_KEY_INVALID);
  }
  setenv(TW_SNAPSHOT_HMAC_KEY_ENV, key_hex, 1);
  ASSERT_EQ_INT(tw_snapshot_key_from_env(key, &err), TW_OK);
  ASSERT(memcmp(key, f.key, 32) == 0);
  ASSERT_EQ_INT(key[31], 0x1f);
  unsetenv(TW_SNAPSHOT_HMAC_KEY_ENV);
  /* without a module the envelope still round-trips */
  ASSERT_EQ_INT(tw_snapshot_envelope_seal(key, &in, &env, &len, &err), TW_OK);
  ASSERT_EQ_INT(tw_snapshot_envelope_open(key, env, len, 1, &out, &err), TW_OK);
  ASSERT(out.module == NULL && out.module_len == 0);
  ASSERT_EQ_U64(out.snapshot_len, f.snap_len);
  free(env);
  fx_teardown(&f);
}

TEST_MAIN()
