/* Bit manipulation and hashing: CRC-32 (IEEE, reflected 0xEDB88320) three
 * ways -- bit at a time, one table, and slicing-by-4 -- plus CRC-32C bit at
 * a time and a 64-bit multiply-xorshift mix.  SIZE is the number of passes
 * over a 256 KiB buffer.  Checks the "123456789" check values first. */
#include <string.h>
#include "bench_util.h"

static uint32_t tab[4][256];

static void make_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 4; t++)
      tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

static uint32_t crc_bitwise(uint32_t crc, const unsigned char *p, size_t n, uint32_t poly) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (poly & (0u - (crc & 1)));
  }
  return ~crc;
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = (crc >> 8) ^ tab[0][(crc ^ p[i]) & 0xff];
  return ~crc;
}

static uint32_t crc_slice4(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    crc ^= (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
           (uint32_t)p[i + 3] << 24;
    crc = tab[3][crc & 0xff] ^ tab[2][(crc >> 8) & 0xff] ^
          tab[1][(crc >> 16) & 0xff] ^ tab[0][crc >> 24];
  }
  for (; i < n; i++) crc = (crc >> 8) ^ tab[0][(crc ^ p[i]) & 0xff];
  return ~crc;
}

static uint64_t mix(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    h ^= v;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h = (h << 13) | (h >> 51);
  }
  return h;
}

#define BUF (256 * 1024)

int main(int argc, char **argv) {
  long passes = bench_size(argc, argv, 300);
  make_tables();
  const unsigned char *chk = (const unsigned char *)"123456789";
  int ok = crc_bitwise(0, chk, 9, 0xEDB88320u) == 0xCBF43926u &&
           crc_table(0, chk, 9) == 0xCBF43926u && crc_slice4(0, chk, 9) == 0xCBF43926u &&
           crc_bitwise(0, chk, 9, 0x82F63B78u) == 0xE3069283u;
  printf("selftest %s\n", ok ? "ok" : "FAILED");
  unsigned char *buf = bench_alloc(BUF);
  bench_rng r = {7};
  for (int i = 0; i < BUF; i += 8) {
    uint64_t v = bench_rng_next(&r);
    for (int k = 0; k < 8; k++) buf[i + k] = (unsigned char)(v >> (8 * k));
  }
  uint32_t a = 0, b = 0, c = 0, d = 0;
  uint64_t h = 0;
  for (long pass = 0; pass < passes; pass++) {
    a = crc_table(a, buf, BUF);
    b = crc_slice4(b, buf, BUF);
    if (pass % 8 == 0) c = crc_bitwise(c, buf, BUF, 0xEDB88320u);
    if (pass % 8 == 4) d = crc_bitwise(d, buf, BUF, 0x82F63B78u);
    h = mix(h, buf, BUF);
    buf[(size_t)pass * 4099 % BUF] ^= (unsigned char)a;
  }
  printf("crc32 %08" PRIx32 " slice4 %08" PRIx32 " bitwise %08" PRIx32
         " crc32c %08" PRIx32 " mix %016" PRIx64 "\n", a, b, c, d, h);
  free(buf);
  return ok ? 0 : 1;
}
