/* SHA-256 and HMAC-SHA256 (src/core/sha256.c) against published vectors:
 * NIST's SHA-256 examples ("", "abc", the 448- and 896-bit messages, one
 * million 'a's) and RFC 4231's HMAC-SHA256 test cases 1-4, 6 and 7.
 * Every hash vector runs with both block functions (SHA-NI where the CPU
 * has it, and portable C) and with the input fed in uneven pieces. */
#include <stdbool.h>

#include "core/sha256.h"
#include "test.h"


/* Hex of SHA-256(msg), hashed in one call (piece 0) or in pieces of
 * `piece` bytes through init/update/final. */
static void digest_hex(const void *msg, size_t n, size_t piece, char out[65]) {
  uint8_t d[TW__SHA256_BYTES];
  if (!piece) {
    tw__sha256(msg, n, d);
  } else {
    tw__sha256_ctx c;
    const uint8_t *p = msg;
    tw__sha256_init(&c);
    for (size_t off = 0; off < n; off += piece)
      tw__sha256_update(&c, p + off, n - off < piece ? n - off : piece);
    tw__sha256_final(&c, d);
  }
  tw__hex(d, sizeof d, out);
}

/* SHA-256(msg) must be `want` with each block function (the SHA-NI one
 * first, where the CPU has it) and each way of feeding the input: one
 * call, or init/update/final in pieces of 1, 3, 63, 64, 65 and 1000
 * bytes.  On a mismatch, says which in `why`. */
static bool digest_ok(const void *msg, size_t n, const char *want,
                      char why[160]) {
  static const size_t pieces[] = {0, 1, 3, 63, 64, 65, 1000};
  char got[65];
  bool ok = true;
  for (int r = 0; r < 2 && ok; r++) {
    bool hw = tw__sha256_hw(r == 0);
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0] && ok; k++) {
      digest_hex(msg, n, pieces[k], got);
      if (strcmp(got, want) != 0) {
        snprintf(why, 160, "%s block function, pieces of %zu: %s",
                 hw ? "SHA-NI" : "portable", pieces[k], got);
        ok = false;
      }
    }
  }
  tw__sha256_hw(true);
  return ok;
}

TEST(nist_vectors) {
  static const struct {
    const char *msg, *digest;
  } v[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      /* 896 bits: the length no longer fits the last block's padding. */
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
  };
  char why[160];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (!digest_ok(v[i].msg, strlen(v[i].msg), v[i].digest, why))
      TW__FAIL("\"%.20s\"...: %s, expected %s", v[i].msg, why, v[i].digest);
}

TEST(million_a) {
  static const char want[] =
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  size_t n = 1000000;
  char *msg = malloc(n), why[160];
  ASSERT(msg != NULL);
  memset(msg, 'a', n);
  bool ok = digest_ok(msg, n, want, why);
  free(msg);
  if (!ok) TW__FAIL("%s, expected %s", why, want);
}

/* Every length from 0 to 300 (each padding case around the block edges):
 * both block functions agree. */
TEST(block_functions_agree) {
  uint8_t msg[300];
  char one[65], other[65];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 131 + 7);
  for (size_t n = 0; n <= sizeof msg; n++) {
    tw__sha256_hw(true);
    digest_hex(msg, n, 0, one);
    tw__sha256_hw(false);
    digest_hex(msg, n, 7, other);
    tw__sha256_hw(true);
    if (strcmp(one, other) != 0) TW__FAIL("length %zu: %s != %s", n, one, other);
  }
}

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = strlen(s) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(s + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
  return n;
}

TEST(rfc4231_hmac) {
  static const struct {
    const char *key_hex, *data, *mac;
    size_t key_repeat; /* key_hex is one byte repeated this often, if > 0 */
  } cases[] = {
      {"0b", "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 20},
      {"4a656665", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 0},
      {"aa", NULL, /* 50 bytes of 0xdd */
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 20},
      {"0102030405060708090a0b0c0d0e0f10111213141516171819", NULL, /* 0xcd */
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 0},
      {"aa", "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 131},
      {"aa",
       "This is a test using a larger than block-size key and a larger than "
       "block-size data. The key needs to be hashed before being used by the "
       "HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 131},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t key[131], data[50], mac[TW__SHA256_BYTES];
    size_t klen = unhex(cases[i].key_hex, key);
    if (cases[i].key_repeat) {
      memset(key, key[0], cases[i].key_repeat);
      klen = cases[i].key_repeat;
    }
    const void *msg = cases[i].data;
    size_t n = msg ? strlen(cases[i].data) : sizeof data;
    if (!msg) {
      memset(data, i == 2 ? 0xdd : 0xcd, sizeof data);
      msg = data;
    }
    char got[65];
    tw__hmac_sha256(key, klen, msg, n, mac);
    tw__hex(mac, sizeof mac, got);
    ASSERT_EQ_STR(got, cases[i].mac);
  }
}

TEST(digest_equal) {
  uint8_t a[32] = {0}, b[32] = {0};
  ASSERT(tw__digest_equal(a, b, sizeof a));
  ASSERT(tw__digest_equal(a, b, 0));
  b[31] = 1;
  ASSERT(!tw__digest_equal(a, b, sizeof a));
  b[31] = 0, b[0] = 0x80;
  ASSERT(!tw__digest_equal(a, b, sizeof a));
}

TEST_MAIN()
