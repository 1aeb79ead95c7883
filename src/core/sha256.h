/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the checksums and
 * keys of the engine's own files: module cache entries, serialized
 * modules, snapshots and signed snapshot envelopes.
 *
 * Ours rather than libcrypto's because `tensor-wasm run` hashes every
 * module it loads, and loading and initialising libcrypto cost that
 * command more than the rest of its start-up (issue #11).  Digests are
 * the standard ones: files written with libcrypto's SHA256() read back
 * unchanged.  On x86-64 CPUs with the SHA extensions the block function
 * uses them (about as fast as libcrypto's); elsewhere it is portable C.
 *
 * Internal to the library (tw__ names); no allocation, no failure. */
#ifndef TW_CORE_SHA256_H
#define TW_CORE_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW__SHA256_BYTES 32
#define TW__SHA256_BLOCK 64

/* A running hash.  Plain data: copy it to fork a hash, no cleanup. */
typedef struct tw__sha256_ctx {
  uint32_t h[8];
  uint64_t total;                /* bytes hashed so far */
  uint8_t buf[TW__SHA256_BLOCK]; /* the incomplete block */
  size_t nbuf;                   /* bytes in buf, < TW__SHA256_BLOCK */
} tw__sha256_ctx;

void tw__sha256_init(tw__sha256_ctx *c);
/* Hashes n bytes at p (p may be NULL when n is 0). */
void tw__sha256_update(tw__sha256_ctx *c, const void *p, size_t n);
/* Writes the digest to out; c must be initialised again before reuse. */
void tw__sha256_final(tw__sha256_ctx *c, uint8_t out[TW__SHA256_BYTES]);

/* Writes n bytes as 2n lowercase hex digits and a NUL to out (digests as
 * file names and in messages). */
void tw__hex(const uint8_t *b, size_t n, char *out);

/* The digest of n bytes at p, in one call. */
void tw__sha256(const uint8_t *p, size_t n, uint8_t out[32]);

/* HMAC-SHA256(key, message) (RFC 2104 with SHA-256, as in RFC 4231). */
void tw__hmac_sha256(const uint8_t *key, size_t klen, const uint8_t *p,
                     size_t n, uint8_t out[TW__SHA256_BYTES]);

/* Lets the block function use the CPU's SHA instructions (allow, the
 * default) or not, and returns whether it now does.  For the tests, which
 * check both block functions on the same inputs. */
bool tw__sha256_hw(bool allow);

/* Whether n bytes at a and b are equal, in a time that depends on n only:
 * for comparing a MAC or checksum an attacker may have chosen. */
bool tw__digest_equal(const void *a, const void *b, size_t n);

#endif
